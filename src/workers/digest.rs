//! The weekly digest's worker: sleeps on the application's clock until the
//! next digest moment, then lets `Whistle::send_digests` write the letters
//! (once across instances, through the outbox). A test moves the clock to
//! the moment and the letters go out, with no sleeping.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::clock::Clock;
use crate::service::{DigestPolicy, Whistle};

#[derive(Debug, Clone)]
pub struct DigestMailer {
    whistle: Whistle,
    clock: Arc<dyn Clock>,
    policy: DigestPolicy,
    /// The longest it sleeps: how soon it sees that another instance moved
    /// the schedule, or that the organisation's time zone changed.
    idle: Duration,
}

impl DigestMailer {
    pub fn new(
        whistle: Whistle,
        clock: Arc<dyn Clock>,
        policy: DigestPolicy,
        idle: Duration,
    ) -> Self {
        Self {
            whistle,
            clock,
            policy,
            idle,
        }
    }

    /// Writes digests until the token fires.
    pub async fn run(self, shutdown: CancellationToken) {
        loop {
            if shutdown.is_cancelled() {
                break;
            }
            let now = self.clock.now();
            let idle_until =
                now + chrono::Duration::from_std(self.idle).unwrap_or(chrono::Duration::MAX);
            let wake_at = match self.whistle.send_digests(&self.policy, now).await {
                Ok(next) => next.map_or(idle_until, |next| next.min(idle_until)),
                Err(error) => {
                    tracing::warn!(error = %crate::telemetry::error_chain(&error), "weekly digest not written; trying again");
                    now + chrono::Duration::seconds(30)
                }
            };
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = self.clock.sleep_until(wake_at) => {}
            }
        }
    }
}
