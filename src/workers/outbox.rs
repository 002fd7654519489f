//! The outbox worker: delivers the letters that committed transactions wrote
//! (to departments, the alert mail, the digests: they all go through the
//! outbox). The outbox is a job queue in the application's own database, as
//! River and Oban keep theirs: a worker claims a batch of due letters for a
//! lease, renders and delivers them concurrently outside any transaction,
//! and records the batch's outcomes in one write. While it delivers it renews
//! its lease; a worker that dies lets its letters go when the lease ends, and
//! the next claim sends them again, with the same Message-ID. Several workers
//! and instances share the outbox, and no letter is claimed twice while its
//! lease holds.
//!
//! Temporary failures are retried with exponential backoff and jitter up to a
//! limit; permanent ones are marked failed with the server's answer and left
//! for an operator (`whistle outbox`). A mail server that does not answer at
//! all is an outage, not a fault of each letter: the instance's workers stop
//! claiming (so letters keep their attempts, however long it lasts), try the
//! server again after a second, doubling up to `reconnect_max_secs`, and when
//! it answers make every letter put off due at once, so the backlog goes out
//! as fast as the server takes it rather than each letter waiting out its own
//! backoff. A letter is marked sent only after the
//! transport accepted it, so a crash in between sends it again rather than
//! never.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures::StreamExt;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::clock::Clock;
use crate::domain::organisation::OrgCell;
use crate::domain::outbox::{Attempt, Delivery, Lease, QueuedMail};
use crate::domain::{Alert, Organisation, alert};
use crate::mail::Letters;
use crate::mail::transport::{SendError, Transport};
use crate::settings::{MailSettings, RetrySettings};
use crate::store::{Store, StoreError};

#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    /// The longest wait between two tries of a mail server that is down.
    pub reconnect_max: Duration,
}

impl From<RetrySettings> for RetryPolicy {
    fn from(s: RetrySettings) -> Self {
        Self {
            max_attempts: s.max_attempts.max(1),
            initial_backoff: Duration::from_secs(s.initial_backoff_secs),
            max_backoff: Duration::from_secs(s.max_backoff_secs),
            reconnect_max: Duration::from_secs(s.reconnect_max_secs.max(1)),
        }
    }
}

/// The first wait before a mail server that stopped answering is tried again.
const RECONNECT_FIRST: Duration = Duration::from_secs(1);

/// A mail server that stopped answering, as this instance's workers share it.
#[derive(Debug, Clone, Copy)]
struct Outage {
    since: Instant,
    /// When it is tried next, and the wait after that try if it fails.
    next_try: Instant,
    wait: Duration,
}

/// Whether the mail server answers, shared by an instance's workers so that
/// one of them notices for all.
#[derive(Debug, Default)]
struct ServerState(Mutex<Option<Outage>>);

impl ServerState {
    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Outage>> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Records that the server did not answer; whether this began an outage.
    fn down(&self, now: Instant) -> bool {
        let mut state = self.lock();
        if state.is_some() {
            return false;
        }
        *state = Some(Outage {
            since: now,
            next_try: now + RECONNECT_FIRST,
            wait: RECONNECT_FIRST,
        });
        ::metrics::gauge!(crate::metrics::MAIL_SERVER_UP).set(0.0);
        true
    }

    /// During an outage, when the server is to be tried next.
    fn next_try(&self) -> Option<Instant> {
        self.lock().map(|o| o.next_try)
    }

    /// Takes the turn to try the server if it is due, moving the next try on
    /// (doubling the wait up to `max`) so that the other workers wait for
    /// this one's answer instead of trying too.
    fn take_try(&self, now: Instant, max: Duration) -> bool {
        match &mut *self.lock() {
            Some(o) if o.next_try <= now => {
                o.wait = (o.wait * 2).min(max);
                o.next_try = now + o.wait;
                true
            }
            _ => false,
        }
    }

    /// The server answered: how long it was gone, if it was.
    fn up(&self, now: Instant) -> Option<Duration> {
        let ended = self.lock().take();
        ::metrics::gauge!(crate::metrics::MAIL_SERVER_UP).set(1.0);
        ended.map(|o| now.saturating_duration_since(o.since))
    }
}

impl RetryPolicy {
    /// The wait after the `failures`-th failure: doubling from the initial backoff
    /// up to the maximum, then a random point in its upper half, so that letters
    /// that failed together do not all come back together.
    pub fn backoff(&self, failures: u32, jitter: f64) -> Duration {
        let doubled = self
            .initial_backoff
            .saturating_mul(2u32.saturating_pow(failures.saturating_sub(1)));
        let capped = doubled.min(self.max_backoff);
        capped.mul_f64(0.5 + 0.5 * jitter.clamp(0.0, 1.0))
    }

    /// What to record after an attempt that ended with `result`. The claim
    /// counted the attempt already: `mail.attempts` includes this one.
    pub fn outcome(
        &self,
        mail: &QueuedMail,
        result: Result<(), SendError>,
        now: DateTime<Utc>,
    ) -> Delivery {
        match result {
            Ok(()) => Delivery::Sent,
            Err(SendError::Permanent(error)) => Delivery::Failed { error },
            Err(SendError::Temporary(error) | SendError::Unreachable(error)) => {
                let failures = mail.attempts.max(1);
                if failures >= self.max_attempts {
                    Delivery::Failed {
                        error: format!("gave up after {failures} attempts: {error}"),
                    }
                } else {
                    let wait = self.backoff(failures, fastrand::f64());
                    Delivery::Retry {
                        at: now + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::MAX),
                        error,
                    }
                }
            }
        }
    }
}

/// How the outbox is worked, from `[mail]`.
#[derive(Debug, Clone, Copy)]
pub struct OutboxPolicy {
    pub retry: RetryPolicy,
    /// Letters claimed at once.
    pub batch: u32,
    /// How long a claim holds before it is renewed.
    pub lease: Duration,
    /// Letters of a batch handed to the transport at once.
    pub concurrency: usize,
    /// The longest an idle worker sleeps: how soon it notices letters written
    /// by other instances or requeued by `whistle outbox retry`.
    pub idle: Duration,
}

impl From<&MailSettings> for OutboxPolicy {
    fn from(s: &MailSettings) -> Self {
        Self {
            retry: RetryPolicy::from(s.retry),
            batch: s.batch.max(1),
            lease: Duration::from_secs(s.lease_secs.max(1)),
            concurrency: s.connections.max(1) as usize,
            idle: Duration::from_millis(s.poll_interval_ms.max(10)),
        }
    }
}

#[derive(Debug, Clone)]
pub struct OutboxWorker {
    store: Store,
    /// For the alert a letter given up raises.
    org: OrgCell,
    letters: Arc<Letters>,
    transport: Transport,
    policy: OutboxPolicy,
    clock: Arc<dyn Clock>,
    /// Who holds this worker's claims: unique across workers and instances.
    name: String,
    /// Rung by this instance after it commits a letter, so delivery starts at once.
    wake: Arc<Notify>,
    /// Whether the mail server answers, as this instance's workers last saw.
    server: Arc<ServerState>,
}

impl OutboxWorker {
    pub fn new(
        store: Store,
        org: OrgCell,
        letters: Arc<Letters>,
        transport: Transport,
        policy: OutboxPolicy,
        clock: Arc<dyn Clock>,
        wake: Arc<Notify>,
    ) -> Self {
        Self {
            store,
            org,
            letters,
            transport,
            policy,
            clock,
            name: uuid::Uuid::now_v7().to_string(),
            wake,
            server: Arc::default(),
        }
    }

    /// The same worker under another name: one more worker sharing the
    /// transport.
    pub fn another(&self) -> Self {
        Self {
            name: uuid::Uuid::now_v7().to_string(),
            ..self.clone()
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// A lease from now. Leases run in real time whatever the service's
    /// clock says: they tell whether a worker is alive, and a test that moves
    /// the clock must not make a live worker's letters look abandoned.
    fn lease(&self) -> Lease {
        let at = Utc::now();
        let until =
            at + chrono::Duration::from_std(self.policy.lease).unwrap_or(chrono::Duration::MAX);
        Lease { at, until }
    }

    /// Claims a batch of due letters and leaves them undelivered, as a worker
    /// that dies just after its claim does.
    pub async fn claim(&self) -> Result<Vec<QueuedMail>, StoreError> {
        self.store
            .claim_mail(
                &self.name,
                self.clock.now(),
                self.lease(),
                self.policy.batch,
            )
            .await
    }

    /// Claims a batch of due letters, delivers it and records the outcomes;
    /// returns what happened to each letter (empty when nothing was due).
    pub async fn deliver_batch(&self) -> Result<Vec<(QueuedMail, Attempt)>, StoreError> {
        let claimed = self.claim().await?;
        if claimed.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<String> = claimed.iter().map(|m| m.mail.id.clone()).collect();
        let org = self.org.current();
        let deliveries = futures::stream::iter(claimed)
            .map(|mail| {
                let span = tracing::info_span!(target: crate::telemetry::TRACE_ONLY, "letter", mail_id = %mail.mail.id, kind = mail.mail.kind.as_str());
                crate::telemetry::follow(&span, mail.traceparent.as_deref());
                self.attempt(mail, &org).instrument(span)
            })
            .buffer_unordered(self.policy.concurrency)
            .collect::<Vec<_>>();
        let outcomes = self.renewing(&ids, deliveries).await;
        let recorded = self
            .store
            .record_deliveries(&self.name, &outcomes, self.clock.now())
            .await?;
        if recorded < outcomes.len() {
            tracing::warn!(
                lost = outcomes.len() - recorded,
                "the lease on some letters ran out while they were delivered and another worker took them; they may arrive twice"
            );
        }
        for (mail, attempt) in &outcomes {
            log(mail, attempt);
        }
        Ok(outcomes)
    }

    /// Waits for `work` while renewing the lease on `ids` at a third of its
    /// length, so that a slow mail server cannot make a live worker's letters
    /// look abandoned.
    async fn renewing<T>(&self, ids: &[String], work: impl Future<Output = T>) -> T {
        let mut work = std::pin::pin!(work);
        let every = self.policy.lease / 3;
        loop {
            tokio::select! {
                done = &mut work => return done,
                _ = tokio::time::sleep(every) => {
                    let until = self.lease().until;
                    if let Err(error) = self.store.extend_lease(&self.name, ids, until).await {
                        tracing::warn!(error = %crate::telemetry::error_chain(&error), "could not renew the lease on letters being delivered");
                    }
                }
            }
        }
    }

    /// Renders a letter if this is its first attempt, and hands it over.
    async fn attempt(&self, mail: QueuedMail, org: &Organisation) -> (QueuedMail, Attempt) {
        let now = self.clock.now();
        let rendered = if mail.raw.is_empty() {
            match self.letters.render(&mail) {
                Ok(rendered) => Some(rendered),
                // A letter that cannot be made now never will be.
                Err(e) => {
                    let error = crate::telemetry::error_chain(&e);
                    let alert = failure_alert(&self.store, org, &mail, &error, now).await;
                    let attempt = Attempt {
                        outcome: Delivery::Failed { error },
                        rendered: None,
                        alert,
                    };
                    return (mail, attempt);
                }
            }
        } else {
            None
        };
        let raw = rendered.as_ref().map_or(&mail.raw, |r| &r.raw);
        let result = self
            .transport
            .send(&mail.mail.sender, &mail.mail.recipients, raw, &mail.mail.id)
            .await;
        if let Err(SendError::Unreachable(error)) = &result
            && self.server.down(Instant::now())
        {
            tracing::warn!(%error, "the mail server does not answer; delivery waits until it does");
        }
        let now = self.clock.now();
        let outcome = self.policy.retry.outcome(&mail, result, now);
        let alert = match &outcome {
            Delivery::Failed { error } => failure_alert(&self.store, org, &mail, error, now).await,
            _ => None,
        };
        let attempt = Attempt {
            outcome,
            rendered,
            alert,
        };
        (mail, attempt)
    }

    /// Delivers until the token fires; a batch being delivered is finished
    /// and recorded first. Between batches it sleeps until the next letter is
    /// due (or a change of this instance wakes it, or `idle` passes: letters
    /// of other instances, and of a worker whose lease ran out), so an empty
    /// outbox costs nothing.
    pub async fn run(self, shutdown: CancellationToken) {
        tracing::debug!(worker = %self.name, transport = ?self.transport, "outbox worker started");
        let idle = chrono::Duration::from_std(self.policy.idle).unwrap_or(chrono::Duration::MAX);
        loop {
            if shutdown.is_cancelled() {
                break;
            }
            if let Some(next_try) = self.server.next_try() {
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    // Another worker of this instance found the server back.
                    _ = self.wake.notified() => {}
                    _ = tokio::time::sleep_until(next_try.into()) => {}
                }
                self.try_server().await;
                continue;
            }
            let wake_at = match self.deliver_batch().await {
                Ok(batch) if !batch.is_empty() => continue,
                Ok(_) => {
                    let idle_until = self.clock.now() + idle;
                    match self.store.next_mail_due().await {
                        Ok(Some(due)) => due.min(idle_until),
                        Ok(None) => idle_until,
                        Err(error) => {
                            tracing::warn!(error = %crate::telemetry::error_chain(&error), "outbox worker could not read the outbox");
                            idle_until
                        }
                    }
                }
                Err(error) => {
                    tracing::warn!(error = %crate::telemetry::error_chain(&error), "outbox worker could not read the outbox");
                    self.clock.now() + idle
                }
            };
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = self.wake.notified() => {}
                _ = self.clock.sleep_until(wake_at) => {}
            }
        }
        tracing::debug!(worker = %self.name, "outbox worker stopped");
    }
}

impl OutboxWorker {
    /// During an outage, tries the mail server if it is this worker's turn;
    /// when it answers, the letters put off are due at once.
    async fn try_server(&self) {
        if !self
            .server
            .take_try(Instant::now(), self.policy.retry.reconnect_max)
        {
            return;
        }
        if let Err(error) = self.transport.probe().await {
            tracing::debug!(%error, "the mail server still does not answer");
            return;
        }
        let Some(gone) = self.server.up(Instant::now()) else {
            return;
        };
        match self.store.requeue_deferred_mail(self.clock.now()).await {
            Ok(due) => {
                tracing::info!(
                    after_secs = gone.as_secs(),
                    letters = due,
                    "the mail server answers again; the letters put off are due now"
                )
            }
            // They go at their own retry times instead.
            Err(error) => {
                tracing::warn!(error = %crate::telemetry::error_chain(&error), "the mail server answers again, but the letters put off could not be made due")
            }
        }
        self.wake.notify_waiters();
    }
}

fn log(mail: &QueuedMail, attempt: &Attempt) {
    let m = &mail.mail;
    let case_id = m.case_id.as_deref().unwrap_or("");
    match &attempt.outcome {
        Delivery::Sent => {
            tracing::info!(mail_id = %m.id, case_id, message_id = %m.message_id, to = crate::telemetry::list(&m.recipients), "letter sent")
        }
        Delivery::Retry { at, error } => {
            tracing::warn!(mail_id = %m.id, case_id, attempts = mail.attempts, retry_at = %at, %error, "letter not sent; will retry")
        }
        Delivery::Failed { error } => {
            tracing::error!(mail_id = %m.id, case_id, to = crate::telemetry::list(&m.recipients), %error, "letter failed for good; see `whistle outbox list --status failed`")
        }
    }
}

/// The alert a letter given up raises, with its case's facts; none if the
/// case cannot be read now (the letter is marked failed all the same, and
/// `whistle outbox list --status failed` shows it).
async fn failure_alert(
    store: &Store,
    org: &Organisation,
    mail: &QueuedMail,
    error: &str,
    now: DateTime<Utc>,
) -> Option<Alert> {
    let m = &mail.mail;
    // A letter about no single case (a digest to supervisors) raises none.
    let case_id = m.case_id.as_deref()?;
    match store.get_case(case_id).await {
        Ok(Some(case)) => Some(alert::letter_failed(
            org,
            &case,
            m.request_id.as_deref(),
            &m.id,
            error,
            now,
        )),
        Ok(None) => None,
        Err(e) => {
            tracing::warn!(mail_id = %m.id, error = %crate::telemetry::error_chain(&e), "no alert for a failed letter: its case could not be read");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_outage_is_tried_by_one_worker_at_a_time_ever_less_often_and_ends_once() {
        let state = ServerState::default();
        let t0 = Instant::now();
        let max = Duration::from_secs(15);
        assert!(state.next_try().is_none() && state.up(t0).is_none());
        assert!(state.down(t0), "the first failure begins the outage");
        assert!(!state.down(t0), "later ones are the same outage");
        assert_eq!(state.next_try(), Some(t0 + RECONNECT_FIRST));
        assert!(!state.take_try(t0, max), "not before its time");
        let mut at = t0 + RECONNECT_FIRST;
        let mut waits = Vec::new();
        for _ in 0..6 {
            assert!(state.take_try(at, max));
            assert!(!state.take_try(at, max), "one worker tries, the rest wait");
            let next = state.next_try().unwrap();
            waits.push((next - at).as_secs());
            at = next;
        }
        assert_eq!(waits, [2, 4, 8, 15, 15, 15]);
        assert_eq!(
            state.up(at + Duration::from_secs(1)),
            Some(at + Duration::from_secs(1) - t0)
        );
        assert!(state.next_try().is_none() && state.up(at).is_none());
    }

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 5,
            initial_backoff: Duration::from_secs(30),
            max_backoff: Duration::from_secs(600),
            reconnect_max: Duration::from_secs(15),
        }
    }

    #[test]
    fn backoff_doubles_up_to_the_cap_with_jitter_in_the_upper_half() {
        let p = policy();
        assert_eq!(p.backoff(1, 1.0), Duration::from_secs(30));
        assert_eq!(p.backoff(2, 1.0), Duration::from_secs(60));
        assert_eq!(p.backoff(3, 1.0), Duration::from_secs(120));
        assert_eq!(p.backoff(10, 1.0), Duration::from_secs(600));
        assert_eq!(p.backoff(1, 0.0), Duration::from_secs(15));
        assert_eq!(p.backoff(100, 0.0), Duration::from_secs(300));
    }
}
