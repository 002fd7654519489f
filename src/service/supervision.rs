//! What supervisors read (what is overdue, the alerts, live), and the alert
//! letters they receive by e-mail.

use chrono::{DateTime, Datelike, Utc};

use super::*;
use crate::domain::access::{self, Action};
use crate::domain::{Actor, DomainError, RaisedAlert};

/// How alerts reach supervisors by e-mail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertMailMode {
    /// A letter for every alert as it is raised.
    Each,
    /// One letter a day with every alert since the last.
    Digest,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AlertMailPolicy {
    pub mode: AlertMailMode,
    /// Local time of the daily digest.
    pub digest_at: chrono::NaiveTime,
    pub min_level: u8,
}

/// The job that mails alerts: its cursor is the last alert mailed.
const ALERT_MAIL_JOB: &str = "alert_mail";

/// Alerts read per letter run; a digest gathers up to this many pages.
const ALERT_MAIL_PAGE: u32 = 500;
const DIGEST_PAGES: usize = 20;

/// The longest a digest waits past its time for alerts that are committed
/// but not yet readable (a long transaction elsewhere on the server).
const DIGEST_WAITS_FOR_LATE_ALERTS: chrono::Duration = chrono::Duration::minutes(10);

/// Which years of the working calendar are not the State Council's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CalendarCoverage {
    pub uncovered_years: Vec<i32>,
}

impl CalendarCoverage {
    pub fn complete(&self) -> bool {
        self.uncovered_years.is_empty()
    }
}

impl Whistle {
    /// Years that matter now (this one and the next) that the calendar does
    /// not know the State Council's holidays for.
    pub fn calendar_coverage(&self) -> CalendarCoverage {
        let org = self.org.current();
        let year = self.clock.now().with_timezone(&org.calendar.tz()).year();
        CalendarCoverage {
            uncovered_years: org.calendar.uncovered_years(year, year + 1),
        }
    }

    /// Requests past a deadline now, most overdue first.
    #[tracing::instrument(skip_all)]
    pub async fn list_overdue(
        &self,
        actor: &Actor,
        filter: OverdueFilter,
        page: PageRequest,
    ) -> Result<Page<Assigned>> {
        access::permit(actor, Action::Supervise)?;
        let page = self
            .store
            .list_overdue(&filter, &page, self.clock.now())
            .await?;
        self.note_personal_reads(
            actor,
            "ListOverdue",
            page.items.iter().map(|a| a.case.id.as_str()),
        )
        .await?;
        Ok(page)
    }

    /// What a supervisor's live board follows: a wake-up after every commit
    /// of this instance that wrote events or alerts. Other instances'
    /// commits show in `feed_head`.
    pub fn watch_board(&self, actor: &Actor) -> Result<watch::Receiver<u64>> {
        access::permit(actor, Action::Supervise)?;
        Ok(self.wakes.feed.subscribe())
    }

    /// Alerts, newest first.
    #[tracing::instrument(skip_all)]
    pub async fn list_alerts(
        &self,
        actor: &Actor,
        filter: AlertFilter,
        page: PageRequest,
    ) -> Result<Page<RaisedAlert>> {
        access::permit(actor, Action::Supervise)?;
        Ok(self.store.list_alerts(&filter, &page).await?)
    }

    /// Up to `limit` alerts of at least `min_level` after `after` (0: from the
    /// first), in the order they became visible. A stream resumes after an
    /// alert that exists, or from the start.
    #[tracing::instrument(skip_all)]
    pub async fn alerts_after(
        &self,
        actor: &Actor,
        after: i64,
        min_level: u8,
        limit: u32,
    ) -> Result<Vec<RaisedAlert>> {
        access::permit(actor, Action::Supervise)?;
        if after != 0 && !self.store.alert_exists(after).await? {
            return Err(DomainError::invalid(
                "after_alert_id",
                format!("no alert {after}"),
                format!("没有编号为 {after} 的提醒"),
            )
            .into());
        }
        Ok(self.store.alerts_after(after, min_level, limit).await?)
    }

    /// Writes the alert letters due at `now` (one per new alert, or the day's
    /// digest), once across instances, and says when to come back; `None`
    /// when only a new alert can make more work. Nothing when no supervisor
    /// receives alert mail.
    #[tracing::instrument(skip_all)]
    pub async fn mail_alerts(
        &self,
        policy: &AlertMailPolicy,
        now: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>> {
        if !self.letters.mails_alerts() {
            return Ok(None);
        }
        let org = self.org.current();
        let tz = org.calendar.tz();
        let next_digest = || {
            let local = now.with_timezone(&tz);
            let today = local.date_naive().and_time(policy.digest_at);
            let at = if today > local.naive_local() {
                today
            } else {
                today + chrono::Days::new(1)
            };
            at.and_local_timezone(tz)
                .earliest()
                .map_or(now + chrono::Duration::days(1), |t| t.with_timezone(&Utc))
        };
        let mut tx = self.store.begin().await?;
        let Some(mut job) = tx.claim_job(ALERT_MAIL_JOB).await? else {
            // Another instance is mailing them now.
            tx.rollback().await?;
            return Ok(Some(now + chrono::Duration::seconds(30)));
        };
        let mut mail = Vec::new();
        let come_back = match (job.next_run_at, policy.mode) {
            // The first run starts from the alerts still to come.
            (None, mode) => {
                job.cursor = tx.last_alert_id().await?;
                let next = match mode {
                    AlertMailMode::Each => now,
                    AlertMailMode::Digest => next_digest(),
                };
                job.next_run_at = Some(next);
                Some(next)
            }
            (Some(_), AlertMailMode::Each) => {
                let alerts = tx
                    .alerts_after(job.cursor, policy.min_level, ALERT_MAIL_PAGE)
                    .await?;
                for alert in &alerts {
                    mail.extend(
                        self.letters
                            .plan_alert(&org, alert)
                            .map_err(|e| Error::Internal(e.into()))?,
                    );
                }
                let full = alerts.len() as u32 == ALERT_MAIL_PAGE;
                if let Some(last) = alerts.last() {
                    job.cursor = last.id;
                }
                job.next_run_at = Some(now);
                full.then_some(now)
            }
            (Some(due), AlertMailMode::Digest) if now < due => {
                tx.rollback().await?;
                return Ok(Some(due));
            }
            // Alerts committed behind a transaction still running elsewhere
            // are not readable yet: the digest waits a little for them rather
            // than leave them to tomorrow's.
            (Some(due), AlertMailMode::Digest)
                if now < due + DIGEST_WAITS_FOR_LATE_ALERTS
                    && tx.alerts_not_yet_readable().await? =>
            {
                tx.rollback().await?;
                return Ok(Some(now));
            }
            (Some(_), AlertMailMode::Digest) => {
                let mut alerts = Vec::new();
                for _ in 0..DIGEST_PAGES {
                    let page = tx
                        .alerts_after(job.cursor, policy.min_level, ALERT_MAIL_PAGE)
                        .await?;
                    if let Some(last) = page.last() {
                        job.cursor = last.id;
                    }
                    let done = (page.len() as u32) < ALERT_MAIL_PAGE;
                    alerts.extend(page);
                    if done {
                        break;
                    }
                }
                mail.extend(
                    self.letters
                        .plan_digest(&org, &alerts, now)
                        .map_err(|e| Error::Internal(e.into()))?,
                );
                let next = next_digest();
                job.next_run_at = Some(next);
                Some(next)
            }
        };
        tx.queue_mail(&mail).await?;
        tx.finish_job(ALERT_MAIL_JOB, &job).await?;
        tx.commit().await?;
        if !mail.is_empty() {
            self.wakes.mail.notify_one();
        }
        Ok(come_back)
    }
}

/// The evidence the discipline commission reviews: whether a case's timeline
/// is still the one written, and who was shown residents' unmasked details.
impl Whistle {
    /// Recomputes a case's hash chain. Other callers hear `NotFound`, as for
    /// a case that does not exist: whether a case's timeline was tampered with
    /// is no business of theirs, nor is the existence of the case.
    #[tracing::instrument(skip_all, fields(case_id = %case_id), err(level = "debug"))]
    pub async fn verify_case(
        &self,
        actor: &Actor,
        case_id: &str,
    ) -> Result<crate::domain::audit_chain::ChainReport> {
        if access::permit(actor, Action::Supervise).is_err() {
            return Err(not_found("case", case_id));
        }
        self.check_chain(case_id).await
    }

    /// Whether the timeline of a case the caller may read is still the one
    /// written: the office's case page shows it, as VerifyCase shows it to
    /// supervisors. A break found this way raises the same alert.
    #[tracing::instrument(skip_all)]
    pub async fn chain_status(
        &self,
        actor: &Actor,
        case_id: &str,
    ) -> Result<crate::domain::audit_chain::ChainReport> {
        let permit = access::permit(actor, Action::ReadCases)?;
        match self.store.get_case(case_id).await? {
            Some(case) if permit.sees(&case) => self.check_chain(case_id).await,
            _ => Err(not_found("case", case_id)),
        }
    }

    async fn check_chain(&self, case_id: &str) -> Result<crate::domain::audit_chain::ChainReport> {
        let report = self
            .store
            .verify_case(case_id)
            .await?
            .ok_or_else(|| not_found("case", case_id))?;
        if self
            .store
            .raise_chain_alert(case_id, &report, self.clock.now())
            .await?
        {
            self.wakes.after_commit(false, []);
        }
        Ok(report)
    }

    /// Reads of residents' unmasked details, newest first. Listing them is not
    /// itself recorded: the list names cases, readers and times, never a
    /// resident's details.
    #[tracing::instrument(skip_all)]
    pub async fn list_personal_reads(
        &self,
        actor: &Actor,
        filter: PersonalReadFilter,
        page: PageRequest,
    ) -> Result<Page<PersonalRead>> {
        access::permit(actor, Action::Supervise)?;
        Ok(self.store.list_personal_reads(&filter, &page).await?)
    }
}
