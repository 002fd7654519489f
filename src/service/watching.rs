//! The deadline watch's use cases: which cases are due, and one look at one
//! case in its own transaction.

use chrono::{DateTime, Utc};
use tracing::instrument;

use super::*;

impl Whistle {
    /// The deadline watch's look at one case at `now`: sends the reminders and
    /// raises the alerts that are due, and schedules the next look. A case
    /// another transaction holds is skipped (`Ok(false)`); the watch comes back
    /// to it. Returns whether it looked.
    #[instrument(skip_all, fields(case_id = %case_id), err(level = "warn"))]
    pub async fn watch_case(&self, case_id: &str, now: DateTime<Utc>) -> Result<bool> {
        let org = self.org.current();
        let mut tx = self.store.begin().await?;
        let Some(before) = tx.lock_case_for_watch(case_id).await? else {
            tx.rollback().await?;
            return Ok(false);
        };
        let mut after = before.clone();
        let effects = after.watch(&org.watch, &org.calendar, now);
        for effect in &effects {
            tracing::info!(?effect, "deadline watch");
        }
        self.save(tx, &before, &mut after, &effects, Vec::new())
            .await?;
        Ok(true)
    }

    /// The cases the watch must look at by `now`, at most `limit`.
    pub async fn due_for_watch(&self, now: DateTime<Utc>, limit: u32) -> Result<Vec<String>> {
        Ok(self.store.due_for_watch(now, limit).await?)
    }

    /// When the watch must next look at anything.
    pub async fn next_watch_due(&self) -> Result<Option<DateTime<Utc>>> {
        Ok(self.store.next_watch_due().await?)
    }
}
