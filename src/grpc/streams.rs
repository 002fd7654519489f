//! Live, resumable server streams (WatchAlerts, WatchCaseEvents,
//! WatchAssignedRequests). Each stream first replays what the client missed
//! after the position it gives, then goes live. Positions come from the store's
//! feed, read in commit order, so a client that reconnects with the last id it
//! received misses nothing and sees nothing twice.
//!
//! An idle stream costs nothing: it is a parked task that reads again only
//! when woken. One poller per instance (`Streams`) wakes every stream when this
//! instance commits something (`Whistle::feed`) and when the feeds' head moved
//! for another reason (another instance committed, or on PostgreSQL an older
//! transaction ended and made rows readable); it asks for that head once per
//! `poll`, for all streams at once, and not at all while none is open. Woken
//! streams read a few at a time, so a commit that wakes many of them does not
//! take every database connection from the other calls.
//!
//! Each stream is bounded: at most `buffer` items wait for a slow reader, and a
//! reader that takes none of them for `stall` is cut off with
//! `RESOURCE_EXHAUSTED` naming the position to resume from, instead of being
//! buffered without limit. A principal may hold at most `per_principal`
//! streams and the instance at most `total`; one more is refused with
//! `RESOURCE_EXHAUSTED` naming the limit, and a stream's slot is free again as
//! soon as it ends. Streams end with `UNAVAILABLE` when the service shuts down,
//! so that it never waits for a client to hang up.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, Once};
use std::time::Duration;

use futures::{Stream, StreamExt};
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::time::MissedTickBehavior;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use tonic::{Code, Status};
use tonic_types::ErrorDetails;

use super::convert;
use super::status::{domain_status, localized, to_status};
use crate::domain::Actor;
use crate::service::{self, Whistle};

/// What every stream answers with.
pub type Feed<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

/// How streams behave; from `grpc.stream_*` settings.
#[derive(Debug, Clone, Copy)]
pub struct StreamLimits {
    /// Items at most waiting for a reader.
    pub buffer: usize,
    /// How long a reader may take none of them before it is cut off.
    pub stall: Duration,
    /// How often the instance looks for what other instances committed.
    pub poll: Duration,
    /// Items read per query.
    pub batch: u32,
    /// Streams one principal may hold open at once.
    pub per_principal: usize,
    /// Streams this instance serves at once.
    pub total: usize,
}

/// Woken streams reading at once; the others wait their turn rather than
/// hold a connection each.
const READS_AT_ONCE: usize = 4;

/// The live streams of this instance: their limits, who holds how many, and
/// the one wake-up they share. Cloned into each service.
#[derive(Clone)]
pub struct Streams {
    inner: Arc<Inner>,
}

struct Inner {
    whistle: Whistle,
    limits: StreamLimits,
    shutdown: CancellationToken,
    slots: Arc<Slots>,
    /// Bumped by the poller whenever the streams may have something to read.
    wake: watch::Sender<u64>,
    reads: Arc<Semaphore>,
    poller: Once,
}

impl std::fmt::Debug for Streams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Streams")
            .field("limits", &self.inner.limits)
            .finish_non_exhaustive()
    }
}

impl Streams {
    /// Streams over `whistle`'s feeds, ended when `shutdown` fires.
    pub fn new(whistle: Whistle, limits: StreamLimits, shutdown: CancellationToken) -> Self {
        Self {
            inner: Arc::new(Inner {
                whistle,
                limits,
                shutdown,
                slots: Arc::new(Slots::new(limits.per_principal, limits.total)),
                wake: watch::Sender::new(0),
                reads: Arc::new(Semaphore::new(READS_AT_ONCE)),
                poller: Once::new(),
            }),
        }
    }

    /// Opens `actor`'s stream after the position `position` names (its field
    /// and value): `read(whistle, actor, after, limit)` reads the items after
    /// a position, with their positions, in order. What the caller may not
    /// watch, an unknown position and a limit reached are refused here as a
    /// status, not mid-stream.
    pub async fn open<T, R, Fut>(
        &self,
        actor: Actor,
        position: (&str, u64),
        read: R,
    ) -> Result<Feed<T>, Status>
    where
        T: Send + 'static,
        R: Fn(Whistle, Actor, i64, u32) -> Fut + Send + 'static,
        Fut: Future<Output = service::Result<Vec<(i64, T)>>> + Send + 'static,
    {
        let inner = &self.inner;
        let after =
            convert::position(position.0, position.1).map_err(|v| domain_status(v.into()))?;
        read(inner.whistle.clone(), actor.clone(), after, 1)
            .await
            .map_err(to_status)?;
        let slot = inner.slots.take(&actor.name)?;
        self.start_poller();
        let (whistle, batch) = (inner.whistle.clone(), inner.limits.batch);
        let fetch = move |after| {
            let reading = read(whistle.clone(), actor.clone(), after, batch);
            async move { reading.await.map_err(to_status) }
        };
        let shared = Shared {
            limits: inner.limits,
            wake: inner.wake.subscribe(),
            shutdown: inner.shutdown.clone(),
            reads: inner.reads.clone(),
        };
        Ok(feed(shared, after, fetch, slot))
    }

    /// Starts the instance's one poller with its first stream.
    fn start_poller(&self) {
        let inner = self.inner.clone();
        self.inner.poller.call_once(move || {
            tokio::spawn(poll(inner));
        });
    }
}

/// Wakes the streams on this instance's commits, and when the feeds' head
/// moved for any other reason; reads the head only while a stream is open.
async fn poll(inner: Arc<Inner>) {
    let mut commits = inner.whistle.feed();
    let mut ticks = tokio::time::interval(inner.limits.poll);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut head = None;
    let wake = || inner.wake.send_modify(|n| *n = n.wrapping_add(1));
    loop {
        tokio::select! {
            _ = inner.shutdown.cancelled() => return,
            changed = commits.changed() => {
                if changed.is_err() {
                    return;
                }
                wake();
            }
            _ = ticks.tick() => {
                if inner.wake.receiver_count() == 0 {
                    head = None;
                    continue;
                }
                match inner.whistle.feed_head().await {
                    Ok(now) if head != Some(now) => {
                        head = Some(now);
                        wake();
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "live streams: cannot read the feeds' head"),
                }
            }
        }
    }
}

/// Open streams per principal and in all.
struct Slots {
    per_principal: usize,
    total: usize,
    held: Mutex<Held>,
}

#[derive(Default)]
struct Held {
    total: usize,
    by_principal: HashMap<String, usize>,
}

/// One open stream's place; given back when the stream ends.
struct Slot {
    slots: Arc<Slots>,
    principal: String,
}

impl Slots {
    fn new(per_principal: usize, total: usize) -> Self {
        Self {
            per_principal: per_principal.max(1),
            total: total.max(1),
            held: Mutex::default(),
        }
    }

    fn take(self: &Arc<Self>, principal: &str) -> Result<Slot, Status> {
        let mut held = self.held.lock().expect("not poisoned");
        let mine = held.by_principal.get(principal).copied().unwrap_or(0);
        if mine >= self.per_principal {
            return Err(exhausted(
                "grpc.stream_max_per_principal",
                self.per_principal,
                format!(
                    "{principal} already holds {mine} live streams, the most \
                     grpc.stream_max_per_principal allows; end one first"
                ),
                format!(
                    "{principal} 已打开 {mine} 个实时流，达到 grpc.stream_max_per_principal 的上限；请先关闭一个"
                ),
            ));
        }
        if held.total >= self.total {
            let total = held.total;
            return Err(exhausted(
                "grpc.stream_max_total",
                self.total,
                format!(
                    "this instance already serves {total} live streams, the most \
                     grpc.stream_max_total allows; try again later or elsewhere"
                ),
                format!(
                    "本实例已有 {total} 个实时流，达到 grpc.stream_max_total 的上限；请稍后或换一个实例重试"
                ),
            ));
        }
        held.total += 1;
        *held.by_principal.entry(principal.to_owned()).or_default() += 1;
        Ok(Slot {
            slots: self.clone(),
            principal: principal.to_owned(),
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut held = self.slots.held.lock().expect("not poisoned");
        held.total -= 1;
        if let Some(mine) = held.by_principal.get_mut(&self.principal) {
            *mine -= 1;
            if *mine == 0 {
                held.by_principal.remove(&self.principal);
            }
        }
    }
}

/// RESOURCE_EXHAUSTED for a limit, named as a quota the caller ran into.
fn exhausted(setting: &str, limit: usize, en: String, zh: String) -> Status {
    let mut details = ErrorDetails::new();
    details.add_quota_failure_violation(setting, format!("at most {limit} live streams"));
    localized(Code::ResourceExhausted, en, zh, details)
}

/// What every stream of an instance shares.
struct Shared {
    limits: StreamLimits,
    wake: watch::Receiver<u64>,
    shutdown: CancellationToken,
    reads: Arc<Semaphore>,
}

/// A stream of the items `fetch` reads after each position, starting after
/// `after`. `fetch(position)` returns items with their positions, in order.
/// `slot` is held until the stream ends.
fn feed<T, F, Fut>(shared: Shared, mut after: i64, mut fetch: F, slot: Slot) -> Feed<T>
where
    T: Send + 'static,
    F: FnMut(i64) -> Fut + Send + 'static,
    Fut: Future<Output = Result<Vec<(i64, T)>, Status>> + Send,
{
    let Shared {
        limits,
        mut wake,
        shutdown,
        reads,
    } = shared;
    let (tx, rx) = mpsc::channel(limits.buffer.max(1));
    // How the stream ended when the reader could not be told through the
    // (full) channel; said after the items already in it.
    let ending: Arc<Mutex<Option<Status>>> = Arc::default();
    let end = ending.clone();
    tokio::spawn(async move {
        let _slot = slot;
        loop {
            // Marked seen before reading, so a commit during the read wakes us.
            wake.borrow_and_update();
            let read = async {
                let _turn = reads.acquire().await;
                fetch(after).await
            };
            let batch = match read.await {
                Ok(batch) => batch,
                Err(status) => {
                    let _ = tx.send(Err(status)).await;
                    return;
                }
            };
            let more = batch.len() as u32 >= limits.batch.max(1);
            for (position, item) in batch {
                // A stopping service neither waits out a slow reader's stall
                // nor feeds it the backlog: once the token fires, nothing more
                // goes into the buffer.
                let sent = tokio::select! {
                    biased;
                    _ = shutdown.cancelled() => {
                        *end.lock().expect("not poisoned") = Some(shutting_down(after));
                        return;
                    }
                    sent = tx.send_timeout(Ok(item), limits.stall) => sent,
                };
                match sent {
                    Ok(()) => after = position,
                    Err(mpsc::error::SendTimeoutError::Timeout(_)) => {
                        tracing::info!(after, "stream reader too slow; cut off");
                        *end.lock().expect("not poisoned") = Some(Status::resource_exhausted(
                            format!(
                                "the stream fell {} items behind for {} s; reconnect after id {after}",
                                limits.buffer,
                                limits.stall.as_secs()
                            ),
                        ));
                        return;
                    }
                    Err(mpsc::error::SendTimeoutError::Closed(_)) => return,
                }
            }
            if more {
                continue;
            }
            let stopping = tokio::select! {
                _ = shutdown.cancelled() => true,
                _ = tx.closed() => return,
                // The poller is gone only when the service stops.
                changed = wake.changed() => changed.is_err(),
            };
            if stopping {
                let status = shutting_down(after);
                if tx.try_send(Err(status.clone())).is_err() {
                    *end.lock().expect("not poisoned") = Some(status);
                }
                return;
            }
        }
    });
    let tail = futures::stream::once(async move { ending.lock().expect("not poisoned").take() })
        .filter_map(|ending| async move { ending.map(Err) });
    Box::pin(ReceiverStream::new(rx).chain(tail))
}

/// How a stream ends when the service stops: the client reconnects (to
/// another instance, or this one once it is back) after `after`.
fn shutting_down(after: i64) -> Status {
    Status::unavailable(format!(
        "the service is shutting down; reconnect after id {after}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn limits() -> StreamLimits {
        StreamLimits {
            buffer: 4,
            stall: Duration::from_millis(200),
            poll: Duration::from_millis(20),
            batch: 3,
            per_principal: 2,
            total: 3,
        }
    }

    /// What a stream shares with the others, and the sender that wakes it.
    fn shared(limits: StreamLimits, shutdown: CancellationToken) -> (watch::Sender<u64>, Shared) {
        let (publisher, wake) = watch::channel(0);
        let shared = Shared {
            limits,
            wake,
            shutdown,
            reads: Arc::new(Semaphore::new(READS_AT_ONCE)),
        };
        (publisher, shared)
    }

    fn slot() -> Slot {
        Arc::new(Slots::new(1, 1)).take("someone").unwrap()
    }

    type Read = futures::future::Ready<Result<Vec<(i64, i64)>, Status>>;

    /// Positions 1..=n, read three at a time.
    fn numbers(n: i64) -> impl FnMut(i64) -> Read {
        move |after| {
            let items = (after + 1..=n).take(3).map(|p| (p, p)).collect();
            futures::future::ready(Ok(items))
        }
    }

    #[tokio::test]
    async fn a_stream_replays_from_its_position_in_order() {
        let (_publisher, shared) = shared(limits(), CancellationToken::new());
        let mut stream = feed(shared, 2, numbers(8), slot());
        let mut got = Vec::new();
        for _ in 0..6 {
            got.push(stream.next().await.unwrap().unwrap());
        }
        assert_eq!(got, [3, 4, 5, 6, 7, 8]);
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_stream_reads_again_only_when_woken() {
        let (publisher, shared) = shared(limits(), CancellationToken::new());
        let reads = Arc::new(AtomicUsize::new(0));
        let counted = reads.clone();
        let mut stream = feed(
            shared,
            0,
            move |_| {
                counted.fetch_add(1, Ordering::SeqCst);
                futures::future::ready(Ok::<Vec<(i64, i64)>, Status>(Vec::new()))
            },
            slot(),
        );
        // An hour idle (on the paused clock): no timer of its own reads again.
        tokio::time::sleep(Duration::from_secs(3600)).await;
        assert_eq!(reads.load(Ordering::SeqCst), 1);
        publisher.send_modify(|n| *n += 1);
        tokio::time::sleep(Duration::from_millis(1)).await;
        assert_eq!(reads.load(Ordering::SeqCst), 2, "a wake reads once");
        drop(publisher);
        let ending = stream.next().await.unwrap().unwrap_err();
        assert_eq!(ending.code(), Code::Unavailable);
    }

    #[tokio::test]
    async fn a_reader_that_stops_reading_is_cut_off_after_what_it_was_sent() {
        let (_publisher, shared) = shared(limits(), CancellationToken::new());
        let mut stream = feed(shared, 0, numbers(1000), slot());
        tokio::time::sleep(Duration::from_millis(600)).await;
        let mut got = Vec::new();
        let ending = loop {
            match stream.next().await {
                Some(Ok(n)) => got.push(n),
                Some(Err(status)) => break status,
                None => panic!("the stream ended without saying why"),
            }
        };
        assert_eq!(got, [1, 2, 3, 4], "only the buffer was held for it");
        assert_eq!(ending.code(), Code::ResourceExhausted);
        assert!(
            ending.message().contains("after id 4"),
            "{}",
            ending.message()
        );
        assert!(stream.next().await.is_none());
    }

    #[tokio::test]
    async fn shutting_down_ends_a_stream_waiting_for_its_reader_at_once() {
        let shutdown = CancellationToken::new();
        let limits = StreamLimits {
            stall: Duration::from_secs(30),
            ..limits()
        };
        let (_publisher, shared) = shared(limits, shutdown.clone());
        let mut stream = feed(shared, 0, numbers(1000), slot());
        // The buffer fills; the stream waits for its reader.
        tokio::time::sleep(Duration::from_millis(100)).await;
        shutdown.cancel();
        let mut got = Vec::new();
        let ending = tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                match stream.next().await {
                    Some(Ok(n)) => got.push(n),
                    Some(Err(status)) => break status,
                    None => panic!("the stream ended without saying why"),
                }
            }
        })
        .await
        .expect("not after the stall: at once");
        assert_eq!(got, [1, 2, 3, 4], "the buffer, not the backlog");
        assert_eq!(ending.code(), Code::Unavailable);
        assert!(
            ending.message().contains("after id 4"),
            "{}",
            ending.message()
        );
    }

    #[tokio::test]
    async fn shutting_down_ends_a_live_stream() {
        let shutdown = CancellationToken::new();
        let (_publisher, shared) = shared(limits(), shutdown.clone());
        let mut stream = feed(shared, 0, numbers(1), slot());
        assert_eq!(stream.next().await.unwrap().unwrap(), 1);
        shutdown.cancel();
        let ending = stream.next().await.unwrap().unwrap_err();
        assert_eq!(ending.code(), Code::Unavailable);
        assert!(ending.message().contains("after id 1"));
    }

    #[test]
    fn a_principal_over_its_limit_is_refused_naming_it_until_a_stream_ends() {
        let slots = Arc::new(Slots::new(2, 10));
        let first = slots.take("office").unwrap();
        let _second = slots.take("office").unwrap();
        let refused = slots.take("office").err().expect("a third is refused");
        assert_eq!(refused.code(), Code::ResourceExhausted);
        assert!(
            refused.message().contains("grpc.stream_max_per_principal"),
            "{}",
            refused.message()
        );
        let _other = slots
            .take("housing")
            .expect("another principal has its own");
        drop(first);
        slots.take("office").expect("the freed slot is taken again");
    }

    #[test]
    fn the_instance_over_its_limit_is_refused_naming_it_until_a_stream_ends() {
        let slots = Arc::new(Slots::new(5, 2));
        let first = slots.take("office").unwrap();
        let _second = slots.take("housing").unwrap();
        let refused = slots.take("land").err().expect("a third is refused");
        assert_eq!(refused.code(), Code::ResourceExhausted);
        assert!(
            refused.message().contains("grpc.stream_max_total"),
            "{}",
            refused.message()
        );
        drop(first);
        slots.take("land").expect("the freed slot is taken again");
    }
}
