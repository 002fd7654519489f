//! The outbox worker: renders and delivers the letters that committed
//! transactions wrote, one at a time. Temporary failures are retried with exponential backoff and
//! jitter up to a limit; permanent ones are marked failed with the server's
//! answer and left for an operator (`whistle outbox`). A letter is marked sent
//! only after the transport accepted it, so a crash in between sends it again
//! (same Message-ID) rather than never.
//!
//! On PostgreSQL each letter is held under its row lock (`FOR UPDATE SKIP
//! LOCKED`) while it is being sent, so several instances share the outbox
//! without sending a letter twice.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::letters::Letters;
use super::transport::{SendError, Transport};
use crate::clock::Clock;
use crate::domain::organisation::OrgCell;
use crate::domain::{Alert, Organisation, alert};
use crate::settings::RetrySettings;
use crate::store::{Attempt, Delivery, QueuedMail, Store, StoreError};

#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
}

impl From<RetrySettings> for RetryPolicy {
    fn from(s: RetrySettings) -> Self {
        Self {
            max_attempts: s.max_attempts.max(1),
            initial_backoff: Duration::from_secs(s.initial_backoff_secs),
            max_backoff: Duration::from_secs(s.max_backoff_secs),
        }
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

    /// What to record after an attempt that ended with `result`.
    pub fn outcome(
        &self,
        mail: &QueuedMail,
        result: Result<(), SendError>,
        now: DateTime<Utc>,
    ) -> Delivery {
        match result {
            Ok(()) => Delivery::Sent,
            Err(SendError::Permanent(error)) => Delivery::Failed { error },
            Err(SendError::Temporary(error)) => {
                let failures = mail.attempts + 1;
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

#[derive(Debug, Clone)]
pub struct MailWorker {
    store: Store,
    /// For the alert a letter given up raises.
    org: OrgCell,
    letters: Arc<Letters>,
    transport: Transport,
    retry: RetryPolicy,
    clock: Arc<dyn Clock>,
    /// The longest an idle worker sleeps: how soon it notices letters written by
    /// other instances or requeued by `whistle outbox retry`.
    idle: Duration,
    /// Rung by this instance after it commits a letter, so delivery starts at once.
    wake: Arc<Notify>,
}

impl MailWorker {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        store: Store,
        org: OrgCell,
        letters: Arc<Letters>,
        transport: Transport,
        retry: RetryPolicy,
        clock: Arc<dyn Clock>,
        idle: Duration,
        wake: Arc<Notify>,
    ) -> Self {
        Self {
            store,
            org,
            letters,
            transport,
            retry,
            clock,
            idle,
            wake,
        }
    }

    /// Delivers at most one due letter, rendering it first if this is its first
    /// attempt; returns what happened to it, or `None` when nothing is due.
    pub async fn deliver_one(&self) -> Result<Option<(QueuedMail, Attempt)>, StoreError> {
        let now = self.clock.now();
        let (letters, transport, retry) = (&self.letters, &self.transport, self.retry);
        let org = self.org.current();
        let (store, org) = (&self.store, &*org);
        let delivered = self
            .store
            .deliver_next(now, &mut |mail: QueuedMail| {
                Box::pin(async move {
                    let rendered = if mail.raw.is_empty() {
                        match letters.render(&mail) {
                            Ok(rendered) => Some(rendered),
                            // A letter that cannot be made now never will be.
                            Err(e) => {
                                let error = crate::telemetry::error_chain(&e);
                                let alert = failure_alert(store, org, &mail, &error, now).await;
                                return Attempt {
                                    outcome: Delivery::Failed { error },
                                    rendered: None,
                                    alert,
                                };
                            }
                        }
                    } else {
                        None
                    };
                    let raw = rendered.as_ref().map_or(&mail.raw, |r| &r.raw);
                    let result = transport
                        .send(&mail.mail.sender, &mail.mail.recipients, raw, &mail.mail.id)
                        .await;
                    let outcome = retry.outcome(&mail, result, now);
                    let alert = match &outcome {
                        Delivery::Failed { error } => {
                            failure_alert(store, org, &mail, error, now).await
                        }
                        _ => None,
                    };
                    Attempt {
                        outcome,
                        rendered,
                        alert,
                    }
                })
            })
            .await?;
        if let Some((mail, attempt)) = &delivered {
            let m = &mail.mail;
            match &attempt.outcome {
                Delivery::Sent => {
                    tracing::info!(mail_id = %m.id, case_id = m.case_id.as_deref().unwrap_or(""), message_id = %m.message_id, to = crate::telemetry::list(&m.recipients), "letter sent")
                }
                Delivery::Retry { at, error } => {
                    tracing::warn!(mail_id = %m.id, case_id = m.case_id.as_deref().unwrap_or(""), attempts = mail.attempts + 1, retry_at = %at, %error, "letter not sent; will retry")
                }
                Delivery::Failed { error } => {
                    tracing::error!(mail_id = %m.id, case_id = m.case_id.as_deref().unwrap_or(""), to = crate::telemetry::list(&m.recipients), %error, "letter failed for good; see `whistle outbox list --status failed`")
                }
            }
        }
        Ok(delivered)
    }

    /// Delivers until the token fires. A letter being sent is finished first.
    /// Between letters it sleeps until the next one is due (or a change of this
    /// instance wakes it, or `idle` passes), so an empty outbox costs nothing.
    pub async fn run(self, shutdown: CancellationToken) {
        tracing::debug!(transport = ?self.transport, "outbox worker started");
        loop {
            if shutdown.is_cancelled() {
                break;
            }
            let wake_at = match self.deliver_one().await {
                Ok(Some(_)) => continue,
                Ok(None) => {
                    let idle_until = self.clock.now()
                        + chrono::Duration::from_std(self.idle).unwrap_or(chrono::Duration::MAX);
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
                    self.clock.now()
                        + chrono::Duration::from_std(self.idle).unwrap_or(chrono::Duration::MAX)
                }
            };
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = self.wake.notified() => {}
                _ = self.clock.sleep_until(wake_at) => {}
            }
        }
        tracing::debug!("outbox worker stopped");
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

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 5,
            initial_backoff: Duration::from_secs(30),
            max_backoff: Duration::from_secs(600),
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
