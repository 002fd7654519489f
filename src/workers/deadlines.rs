//! The deadline watch worker: sleeps until the next moment any request needs
//! looking at (or until a change of this instance sets a deadline before
//! that, or `watch.idle_secs` for changes of other instances), then looks at every case
//! due by then through the `watch_case` use case, which sends the reminders and
//! raises the alerts in the case's own transaction. Several instances may watch
//! one PostgreSQL: a case another holds is skipped and looked at again next
//! time, and an alert is raised once whoever raises it. After downtime the
//! first scan catches up with everything that fell due meanwhile.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;

use crate::clock::Clock;
use crate::service::{Result, WatchBell, Whistle};

/// How long the watch waits after a failed scan before it tries again.
const AFTER_FAILURE: Duration = Duration::from_secs(5);

/// How soon it looks again at cases it could not look at (held by a command
/// or another instance, or failing): soon, but not in a tight loop.
const AFTER_SKIPPED: Duration = Duration::from_millis(500);

/// What the watch waits for before it scans again.
enum Wait {
    /// The service's clock reaching the next moment something is due.
    Until(DateTime<Utc>),
    /// A pause in real time, after a failure or cases it could not look at.
    Pause(Duration),
}

/// What one scan did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Scanned {
    pub looked: usize,
    /// Due cases it could not look at this time: another transaction held
    /// them, or looking failed (logged).
    pub skipped: usize,
}

#[derive(Debug, Clone)]
pub struct DeadlineWatch {
    whistle: Whistle,
    clock: Arc<dyn Clock>,
    /// Cases looked at per query.
    batch: u32,
    /// The longest it sleeps when nothing is due.
    idle: Duration,
    /// Rung by this instance's changes that set a deadline before the
    /// watch's next look.
    wake: Arc<WatchBell>,
}

impl DeadlineWatch {
    pub fn new(
        whistle: Whistle,
        clock: Arc<dyn Clock>,
        batch: u32,
        idle: Duration,
        wake: Arc<WatchBell>,
    ) -> Self {
        Self {
            whistle,
            clock,
            batch: batch.max(1),
            idle,
            wake,
        }
    }

    /// Looks at every case due by now. Each case is looked at once per scan,
    /// so one that stays due (held by a command, or failing) cannot keep the
    /// scan going, and one that fails is logged and does not keep the others
    /// from being looked at.
    pub async fn scan(&self) -> Result<Scanned> {
        let now = self.clock.now();
        self.wake.scanning(now);
        let mut seen = HashSet::new();
        let mut scanned = Scanned::default();
        loop {
            let due = self.whistle.due_for_watch(now, self.batch).await?;
            let fresh: Vec<_> = due
                .iter()
                .filter(|id| !seen.contains(*id))
                .cloned()
                .collect();
            if fresh.is_empty() {
                break;
            }
            for case_id in fresh {
                match self.whistle.watch_case(&case_id, now).await {
                    Ok(true) => scanned.looked += 1,
                    Ok(false) => scanned.skipped += 1,
                    Err(error) => {
                        scanned.skipped += 1;
                        tracing::warn!(case_id = %case_id, error = %crate::telemetry::error_chain(&error), "deadline watch could not look at a case; trying again soon");
                    }
                }
                seen.insert(case_id);
            }
            if (due.len() as u32) < self.batch {
                break;
            }
        }
        Ok(scanned)
    }

    fn idle_until(&self) -> DateTime<Utc> {
        self.clock.now() + chrono::Duration::from_std(self.idle).unwrap_or(chrono::Duration::MAX)
    }

    /// Watches until the token fires; a case being looked at is finished first.
    pub async fn run(self, shutdown: CancellationToken) {
        tracing::debug!("deadline watch started");
        loop {
            if shutdown.is_cancelled() {
                break;
            }
            let wait = match self.scan().await {
                Ok(scanned) => {
                    if scanned.looked > 0 {
                        tracing::debug!(looked = scanned.looked, "deadline watch scanned");
                    }
                    if scanned.skipped > 0 {
                        // What it could not look at is still due: again soon,
                        // not at once. Soon in real time: the holder lets go
                        // in real time whatever the service's clock says.
                        Wait::Pause(AFTER_SKIPPED)
                    } else {
                        match self.whistle.next_watch_due().await {
                            Ok(Some(at)) => Wait::Until(at.min(self.idle_until())),
                            Ok(None) => Wait::Until(self.idle_until()),
                            Err(error) => {
                                tracing::warn!(error = %crate::telemetry::error_chain(&error), "deadline watch could not read the schedule");
                                Wait::Pause(AFTER_FAILURE)
                            }
                        }
                    }
                }
                Err(error) => {
                    tracing::warn!(error = %crate::telemetry::error_chain(&error), "deadline watch scan failed; trying again");
                    Wait::Pause(AFTER_FAILURE)
                }
            };
            let wait = match wait {
                Wait::Until(at) => Wait::Until(self.wake.plan(at)),
                Wait::Pause(pause) => {
                    self.wake.pausing();
                    Wait::Pause(pause)
                }
            };
            let waited = async {
                match wait {
                    Wait::Until(at) => self.clock.sleep_until(at).await,
                    Wait::Pause(pause) => tokio::time::sleep(pause).await,
                }
            };
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = self.wake.rung() => {}
                _ = waited => {}
            }
        }
        tracing::debug!("deadline watch stopped");
    }
}
