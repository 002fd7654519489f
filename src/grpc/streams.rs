//! Live, resumable server streams (WatchAlerts, WatchCaseEvents,
//! WatchAssignedRequests). Each stream first replays what the client missed
//! after the position it gives, then goes live: it reads again whenever this
//! instance commits something (`Whistle::feed`) and at least every poll
//! interval (for what other instances commit). Positions come from the store's
//! feed, read in commit order, so a client that reconnects with the last id it
//! received misses nothing and sees nothing twice.
//!
//! Each stream is bounded: at most `buffer` items wait for a slow reader, and a
//! reader that takes none of them for `stall` is cut off with
//! `RESOURCE_EXHAUSTED` naming the position to resume from, instead of being
//! buffered without limit. Streams end with `UNAVAILABLE` when the service shuts
//! down, so that it never waits for a client to hang up.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{Stream, StreamExt};
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use tonic::Status;

/// What every stream answers with.
pub type Feed<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

/// How streams behave; from `grpc.stream_*` settings.
#[derive(Debug, Clone, Copy)]
pub struct StreamLimits {
    /// Items at most waiting for a reader.
    pub buffer: usize,
    /// How long a reader may take none of them before it is cut off.
    pub stall: Duration,
    /// The longest a live stream waits before reading again.
    pub poll: Duration,
    /// Items read per query.
    pub batch: u32,
}

/// A stream of the items `fetch` reads after each position, starting after
/// `after`. `fetch(position)` returns items with their positions, in order.
pub fn feed<T, F, Fut>(
    limits: StreamLimits,
    mut wake: watch::Receiver<u64>,
    shutdown: CancellationToken,
    mut after: i64,
    mut fetch: F,
) -> Feed<T>
where
    T: Send + 'static,
    F: FnMut(i64) -> Fut + Send + 'static,
    Fut: Future<Output = Result<Vec<(i64, T)>, Status>> + Send,
{
    let (tx, rx) = mpsc::channel(limits.buffer.max(1));
    // How the stream ended when the reader could not be told through the
    // (full) channel; said after the items already in it.
    let ending: Arc<Mutex<Option<Status>>> = Arc::default();
    let end = ending.clone();
    tokio::spawn(async move {
        loop {
            // Marked seen before reading, so a commit during the read wakes us.
            wake.borrow_and_update();
            let batch = match fetch(after).await {
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
            tokio::select! {
                _ = shutdown.cancelled() => {
                    let status = shutting_down(after);
                    if tx.try_send(Err(status.clone())).is_err() {
                        *end.lock().expect("not poisoned") = Some(status);
                    }
                    return;
                }
                _ = tx.closed() => return,
                changed = wake.changed() => {
                    // This instance is stopping its publisher: fall back on polling.
                    if changed.is_err() {
                        tokio::time::sleep(limits.poll).await;
                    }
                }
                _ = tokio::time::sleep(limits.poll) => {}
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

    fn limits() -> StreamLimits {
        StreamLimits {
            buffer: 4,
            stall: Duration::from_millis(200),
            poll: Duration::from_millis(20),
            batch: 3,
        }
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
        let (_publisher, wake) = watch::channel(0);
        let mut stream = feed(limits(), wake, CancellationToken::new(), 2, numbers(8));
        let mut got = Vec::new();
        for _ in 0..6 {
            got.push(stream.next().await.unwrap().unwrap());
        }
        assert_eq!(got, [3, 4, 5, 6, 7, 8]);
    }

    #[tokio::test]
    async fn a_reader_that_stops_reading_is_cut_off_after_what_it_was_sent() {
        let (_publisher, wake) = watch::channel(0);
        let mut stream = feed(limits(), wake, CancellationToken::new(), 0, numbers(1000));
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
        assert_eq!(ending.code(), tonic::Code::ResourceExhausted);
        assert!(
            ending.message().contains("after id 4"),
            "{}",
            ending.message()
        );
        assert!(stream.next().await.is_none());
    }

    #[tokio::test]
    async fn shutting_down_ends_a_stream_waiting_for_its_reader_at_once() {
        let (_publisher, wake) = watch::channel(0);
        let shutdown = CancellationToken::new();
        let limits = StreamLimits {
            stall: Duration::from_secs(30),
            ..limits()
        };
        let mut stream = feed(limits, wake, shutdown.clone(), 0, numbers(1000));
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
        assert_eq!(ending.code(), tonic::Code::Unavailable);
        assert!(
            ending.message().contains("after id 4"),
            "{}",
            ending.message()
        );
    }

    #[tokio::test]
    async fn shutting_down_ends_a_live_stream() {
        let (_publisher, wake) = watch::channel(0);
        let shutdown = CancellationToken::new();
        let mut stream = feed(limits(), wake, shutdown.clone(), 0, numbers(1));
        assert_eq!(stream.next().await.unwrap().unwrap(), 1);
        shutdown.cancel();
        let ending = stream.next().await.unwrap().unwrap_err();
        assert_eq!(ending.code(), tonic::Code::Unavailable);
        assert!(ending.message().contains("after id 1"));
    }
}
