//! The alert mailer: follows the alerts and writes the supervisors' letters
//! through the outbox, one per alert as it is raised (`alert_mail.mode =
//! "each"`) or a daily digest at `alert_mail.digest_time` ("digest"). It is a
//! job with a cursor in the database (`Whistle::mail_alerts`), so every alert is
//! mailed once across restarts and instances.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::clock::Clock;
use crate::service::{AlertMailMode, AlertMailPolicy, Whistle};

/// How long the mailer waits after a failure before it tries again.
const AFTER_FAILURE: Duration = Duration::from_secs(5);

#[derive(Debug, Clone)]
pub struct AlertMailer {
    whistle: Whistle,
    clock: Arc<dyn Clock>,
    policy: AlertMailPolicy,
    /// The longest it sleeps: how soon it sees alerts other instances raised.
    idle: Duration,
    /// Mailing each alert, it also looks again this often in real time: on
    /// PostgreSQL a read of the alerts passes over rows committed after a
    /// transaction that is still running (so that none is ever skipped for
    /// good), and no commit of this instance may come to wake it for them.
    poll: Duration,
}

impl AlertMailer {
    pub fn new(
        whistle: Whistle,
        clock: Arc<dyn Clock>,
        policy: AlertMailPolicy,
        idle: Duration,
        poll: Duration,
    ) -> Self {
        Self {
            whistle,
            clock,
            policy,
            idle,
            poll,
        }
    }

    /// Mails until the token fires.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut feed = self.whistle.feed();
        loop {
            if shutdown.is_cancelled() {
                break;
            }
            let now = self.clock.now();
            let idle_until =
                now + chrono::Duration::from_std(self.idle).unwrap_or(chrono::Duration::MAX);
            feed.borrow_and_update();
            // A moment already come (more to mail, a digest waiting for late
            // alerts) or a failure: again after a pause in real time, which
            // passes whatever the service's clock does.
            let (wake_at, pause) = match self.whistle.mail_alerts(&self.policy, now).await {
                Ok(Some(next)) if next <= now => (idle_until, Some(self.poll)),
                Ok(next) => (next.map_or(idle_until, |next| next.min(idle_until)), None),
                Err(error) => {
                    tracing::warn!(error = %crate::telemetry::error_chain(&error), "alert mail not written; trying again");
                    (idle_until, Some(AFTER_FAILURE))
                }
            };
            let each = self.policy.mode == AlertMailMode::Each;
            let pause = pause.or(each.then_some(self.poll));
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = feed.changed(), if each => {}
                _ = tokio::time::sleep(pause.unwrap_or_default()), if pause.is_some() => {}
                _ = self.clock.sleep_until(wake_at) => {}
            }
        }
    }
}
