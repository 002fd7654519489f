//! The use cases: one method per thing a caller can do, each one transaction.
//! Each takes a command already parsed into domain types, asks the access
//! policy whether the caller may, lets the domain decide, plans the letters the
//! change causes, and hands case and letters to the store to commit together.
//! Answers are cut to what the caller may see. Transports call nothing else.

mod error;

use std::sync::Arc;

use chrono::{DateTime, Datelike, Utc};
use tokio::sync::{Notify, watch};
use tracing::instrument;

use crate::clock::Clock;
use crate::domain::access::{self, Action};
use crate::domain::effects::{self, Effect};
pub use crate::domain::organisation::OrgCell;
use crate::domain::{Actor, ActorRole, Case, Comment, DomainError, Organisation, PetitionInput};
use crate::domain::{Petition, RaisedAlert, ReplyText, ReviewDecision, Verdict, alert};
use crate::mail::letter::Letters;
use crate::store::{EventScope, FedEvent, Inserted, Store, WriteTx};

pub use crate::domain::{
    AlertFilter, Assigned, CaseFilter, OverdueFilter, Page, PageRequest, RequestFilter,
};
pub use error::{Error, Result, not_found};

/// Who is woken when a change commits: the outbox worker when it wrote
/// letters, the deadline watch when it moved a deadline, and the live streams
/// of this instance whenever it wrote events or alerts. Other instances'
/// workers and streams find the change at their next poll.
#[derive(Debug, Clone)]
pub struct Wakes {
    pub mail: Arc<Notify>,
    pub watch: Arc<Notify>,
    /// Bumped after every commit that wrote events or alerts.
    pub feed: Arc<watch::Sender<u64>>,
}

impl Default for Wakes {
    fn default() -> Self {
        Self {
            mail: Arc::new(Notify::new()),
            watch: Arc::new(Notify::new()),
            feed: Arc::new(watch::Sender::new(0)),
        }
    }
}

impl Wakes {
    fn after_commit(&self, letters: bool) {
        if letters {
            self.mail.notify_one();
        }
        self.watch.notify_one();
        self.feed.send_modify(|n| *n = n.wrapping_add(1));
    }
}

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

/// The street office's review of a reply.
#[derive(Debug, Clone)]
pub struct ReviewReply {
    pub request_id: String,
    pub decision: ReviewDecision,
}

/// The resident's verdict after the follow-up visit.
#[derive(Debug, Clone)]
pub struct RecordFeedback {
    pub case_id: String,
    pub verdict: Verdict,
    pub comment: Comment,
    /// Requests to issue again on an unsatisfied verdict; empty means all.
    pub reissue_request_ids: Vec<String>,
}

/// A department's answer to a request.
#[derive(Debug, Clone)]
pub struct SubmitReply {
    pub request_id: String,
    pub text: ReplyText,
}

#[derive(Debug, Clone)]
pub struct Whistle {
    store: Store,
    org: OrgCell,
    clock: Arc<dyn Clock>,
    letters: Arc<Letters>,
    wakes: Wakes,
}

impl Whistle {
    pub fn new(
        store: Store,
        org: OrgCell,
        clock: Arc<dyn Clock>,
        letters: Arc<Letters>,
        wakes: Wakes,
    ) -> Self {
        Self {
            store,
            org,
            clock,
            letters,
            wakes,
        }
    }

    pub fn organisation(&self) -> Arc<Organisation> {
        self.org.current()
    }

    /// The moment answers are computed for (what is overdue, and by how much).
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// Wakes up the live streams of this instance after a commit.
    pub fn feed(&self) -> watch::Receiver<u64> {
        self.wakes.feed.subscribe()
    }

    /// Years that matter now (this one and the next) that the calendar does
    /// not know the State Council's holidays for.
    pub fn calendar_coverage(&self) -> CalendarCoverage {
        let org = self.org.current();
        let year = self.clock.now().with_timezone(&org.calendar.tz()).year();
        CalendarCoverage {
            uncovered_years: org.calendar.uncovered_years(year, year + 1),
        }
    }

    /// Logs the deadlines of a change that fall in a year the calendar does
    /// not cover: they count only weekends and the fixed-date holidays.
    fn warn_uncovered(&self, case: &Case) {
        let org = self.org.current();
        let tz = org.calendar.tz();
        for r in &case.requests {
            for due in [r.ack_due_at, r.reply_due_at] {
                let year = due.with_timezone(&tz).year();
                if !org.calendar.covers(year) {
                    tracing::warn!(
                        case_id = %case.id, request_id = %r.id, year,
                        "a deadline falls in a year with no State Council calendar; only weekends \
                         and the fixed-date holidays count (add calendar/{year}.toml)"
                    );
                }
            }
        }
    }

    /// Opens a case, or returns the one this office already opened for the same
    /// petition. The same petition id with different content is refused rather
    /// than silently answered with the old case.
    #[instrument(skip_all, fields(petition_id = %input.petition_id, case_id), err(level = "debug"))]
    pub async fn escalate(&self, actor: &Actor, input: PetitionInput) -> Result<Case> {
        let org = self.org.current();
        access::permit(actor, Action::Escalate)?;
        let ActorRole::Office(office_code) = &actor.role else {
            unreachable!("the access policy lets only offices escalate");
        };
        let office = org.office(office_code).ok_or_else(|| {
            DomainError::denied(
                format!("office {office_code} is not configured"),
                format!("街道 {office_code} 未配置"),
            )
        })?;
        let (petition, route) = Petition::admit(&input, office, &org)?;
        let now = self.clock.now();
        let mut case = Case::open(petition, office, route, &org, actor, now, &mut new_id);
        case.rewatch(&org.watch, &org.calendar, now);
        // Planned before the transaction: a new case's letters need nothing it
        // reads, and the office's counter is not held while they are made.
        let mail = self
            .letters
            .plan(&org, &case, &effects::of_change(None, &case))
            .map_err(|e| Error::Internal(e.into()))?;
        let mut tx = self.store.begin().await?;
        let case = match tx.insert_case(&mut case, &mail).await? {
            Inserted::Created => {
                tx.commit().await?;
                self.wakes.after_commit(!mail.is_empty());
                self.warn_uncovered(&case);
                case
            }
            Inserted::Existing(existing) => {
                tx.rollback().await?;
                if existing.fingerprint != case.fingerprint {
                    return Err(DomainError::AlreadyExists(crate::domain::error::Message::new(
                        format!(
                            "petition {} was already escalated as case {} with different content",
                            existing.petition_id, existing.id
                        ),
                        format!(
                            "诉求编号 {} 已作为案件 {} 提交过，内容与本次不同",
                            existing.petition_id, existing.id
                        ),
                    ))
                    .into());
                }
                *existing
            }
        };
        tracing::Span::current().record("case_id", case.id.as_str());
        Ok(case)
    }

    #[instrument(skip_all, fields(case_id = %case_id), err(level = "debug"))]
    pub async fn get_case(&self, actor: &Actor, case_id: &str) -> Result<Case> {
        access::permit(actor, Action::ReadCases)?;
        match self.store.get_case(case_id).await? {
            Some(case) if access::sees_case(actor, &case) => Ok(self.as_seen(actor, case)),
            _ => Err(not_found("case", case_id)),
        }
    }

    /// Offices list their own ledger; supervisors may list any office's.
    pub async fn list_cases(
        &self,
        actor: &Actor,
        mut filter: CaseFilter,
        page: PageRequest,
    ) -> Result<Page<Case>> {
        access::permit(actor, Action::ReadCases)?;
        if let ActorRole::Office(code) = &actor.role {
            filter.office = Some(code.clone());
        }
        let mut page = self
            .store
            .list_cases(&filter, &page, self.clock.now())
            .await?;
        page.items = page
            .items
            .into_iter()
            .map(|case| self.as_seen(actor, case))
            .collect();
        Ok(page)
    }

    /// Departments list their own requests; supervisors any department's.
    pub async fn list_requests(
        &self,
        actor: &Actor,
        mut filter: RequestFilter,
        page: PageRequest,
    ) -> Result<Page<Assigned>> {
        let org = self.org.current();
        access::permit(actor, Action::ReadRequests)?;
        if let ActorRole::Department(code) = &actor.role {
            filter.department = Some(code.clone());
        }
        let mut page = self
            .store
            .list_requests(&filter, &page, self.clock.now())
            .await?;
        let view = access::phone_view(&actor.role, &org);
        for assigned in &mut page.items {
            assigned.case.resident = assigned.case.resident.as_seen(view);
        }
        Ok(page)
    }

    #[instrument(skip_all, fields(request_id = %request_id, case_id), err(level = "debug"))]
    pub async fn get_request(&self, actor: &Actor, request_id: &str) -> Result<Assigned> {
        access::permit(actor, Action::ReadRequests)?;
        let case = self
            .store
            .case_of_request(request_id)
            .await?
            .ok_or_else(|| not_found("request", request_id))?;
        tracing::Span::current().record("case_id", case.id.as_str());
        let index = access::authorize_request(actor, Action::ReadRequests, &case, request_id)?;
        Ok(self.assigned(actor, case, index))
    }

    /// 签收.
    #[instrument(skip_all, fields(request_id = %request_id, case_id), err(level = "debug"))]
    pub async fn acknowledge(&self, actor: &Actor, request_id: &str) -> Result<Assigned> {
        access::permit(actor, Action::Acknowledge)?;
        let now = self.clock.now();
        self.change_request(actor, request_id, |case| {
            case.acknowledge(actor, request_id, now)
        })
        .await
    }

    /// 答复.
    #[instrument(skip_all, fields(request_id = %command.request_id, case_id), err(level = "debug"))]
    pub async fn submit_reply(&self, actor: &Actor, command: SubmitReply) -> Result<Assigned> {
        access::permit(actor, Action::Reply)?;
        let now = self.clock.now();
        let SubmitReply { request_id, text } = command;
        self.change_request(actor, &request_id, |case| {
            case.submit_reply(actor, &request_id, text, now)
        })
        .await
    }

    #[instrument(skip_all, fields(request_id = %command.request_id, case_id), err(level = "debug"))]
    pub async fn review_reply(&self, actor: &Actor, command: ReviewReply) -> Result<Case> {
        let org = self.org.current();
        access::permit(actor, Action::ReviewReply)?;
        let now = self.clock.now();
        let org = &*org;
        let ReviewReply {
            request_id,
            decision,
        } = command;
        let mut tx = self.store.begin().await?;
        let case_id = self.case_of(&mut tx, &request_id).await?;
        let case = self
            .commit_change(tx, &case_id, |case| {
                case.review_reply(actor, &request_id, decision, org, now)
            })
            .await
            .map_err(|e| hide_case_behind_request(e, &request_id))?;
        Ok(self.as_seen(actor, case))
    }

    #[instrument(skip_all, fields(case_id = %command.case_id), err(level = "debug"))]
    pub async fn record_feedback(&self, actor: &Actor, command: RecordFeedback) -> Result<Case> {
        let org = self.org.current();
        access::permit(actor, Action::RecordFeedback)?;
        let now = self.clock.now();
        let org = &*org;
        let RecordFeedback {
            case_id,
            verdict,
            comment,
            reissue_request_ids,
        } = command;
        let tx = self.store.begin().await?;
        let case = self
            .commit_change(tx, &case_id, |case| {
                case.record_feedback(actor, verdict, comment, &reissue_request_ids, org, now)
            })
            .await?;
        Ok(self.as_seen(actor, case))
    }

    /// The case holding a request, found inside the command's transaction.
    async fn case_of(&self, tx: &mut WriteTx, request_id: &str) -> Result<String> {
        let case_id = tx
            .case_id_for_request(request_id)
            .await?
            .ok_or_else(|| not_found("request", request_id))?;
        tracing::Span::current().record("case_id", case_id.as_str());
        Ok(case_id)
    }

    /// A department's command on one of its requests; answers with that request.
    async fn change_request(
        &self,
        actor: &Actor,
        request_id: &str,
        change: impl FnOnce(&mut Case) -> std::result::Result<(), DomainError>,
    ) -> Result<Assigned> {
        let mut tx = self.store.begin().await?;
        let case_id = self.case_of(&mut tx, request_id).await?;
        let case = self
            .commit_change(tx, &case_id, change)
            .await
            .map_err(|e| hide_case_behind_request(e, request_id))?;
        let index = access::authorize_request(actor, Action::ReadRequests, &case, request_id)?;
        Ok(self.assigned(actor, case, index))
    }

    /// Loads the case under its lock in `tx`, applies `change`, and commits the
    /// difference with the letters it causes; rolls back on a refusal.
    async fn commit_change(
        &self,
        mut tx: WriteTx,
        case_id: &str,
        change: impl FnOnce(&mut Case) -> std::result::Result<(), DomainError>,
    ) -> Result<Case> {
        let org = self.org.current();
        let Some(before) = tx.lock_case(case_id).await? else {
            tx.rollback().await?;
            return Err(not_found("case", case_id));
        };
        let mut after = before.clone();
        if let Err(refused) = change(&mut after) {
            tx.rollback().await?;
            return Err(refused.into());
        }
        let now = self.clock.now();
        after.rewatch(&org.watch, &org.calendar, now);
        let effects = effects::of_change(Some(&before), &after);
        self.save(tx, &before, &mut after, &effects).await?;
        if after.requests.len() > before.requests.len()
            || after
                .requests
                .iter()
                .zip(&before.requests)
                .any(|(a, b)| a.round != b.round)
        {
            self.warn_uncovered(&after);
        }
        Ok(after)
    }

    /// Writes a change with the letters and alerts its effects cause, commits,
    /// and wakes whoever acts on them.
    async fn save(
        &self,
        mut tx: WriteTx,
        before: &Case,
        after: &mut Case,
        effects: &[Effect],
    ) -> Result<()> {
        let org = self.org.current();
        let mail = self
            .letters
            .plan(&org, after, effects)
            .map_err(|e| Error::Internal(e.into()))?;
        let alerts = alert::for_effects(&org, after, effects);
        tx.update_case(before, after, &mail, &alerts).await?;
        tx.commit().await?;
        self.wakes.after_commit(!mail.is_empty());
        Ok(())
    }

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
        let done = after.watch(&org.watch, &org.calendar, now);
        let effects: Vec<Effect> = done
            .into_iter()
            .map(|(request_id, watched)| Effect::of_watched(&after, &request_id, watched, now))
            .collect();
        for effect in &effects {
            tracing::info!(?effect, "deadline watch");
        }
        self.save(tx, &before, &mut after, &effects).await?;
        Ok(true)
    }

    /// Writes the alert letters due at `now` (one per new alert, or the day's
    /// digest), once across instances, and says when to come back; `None`
    /// when only a new alert can make more work. Nothing when no supervisor
    /// receives alert mail.
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

    /// The cases the watch must look at by `now`, at most `limit`.
    pub async fn due_for_watch(&self, now: DateTime<Utc>, limit: u32) -> Result<Vec<String>> {
        Ok(self.store.due_for_watch(now, limit).await?)
    }

    /// When the watch must next look at anything.
    pub async fn next_watch_due(&self) -> Result<Option<DateTime<Utc>>> {
        Ok(self.store.next_watch_due().await?)
    }

    /// Requests past a deadline now, most overdue first.
    pub async fn list_overdue(
        &self,
        actor: &Actor,
        filter: OverdueFilter,
        page: PageRequest,
    ) -> Result<Page<Assigned>> {
        access::permit(actor, Action::Supervise)?;
        Ok(self
            .store
            .list_overdue(&filter, &page, self.clock.now())
            .await?)
    }

    /// Alerts, newest first.
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

    /// Up to `limit` of the office's case events after `after`, in commit order.
    pub async fn case_events_after(
        &self,
        actor: &Actor,
        after: i64,
        limit: u32,
    ) -> Result<Vec<FedEvent>> {
        access::permit(actor, Action::WatchCaseEvents)?;
        let ActorRole::Office(office) = &actor.role else {
            unreachable!("the access policy lets only offices watch case events");
        };
        self.check_event(after).await?;
        Ok(self
            .store
            .events_after(&EventScope::Office(office.clone()), after, limit)
            .await?)
    }

    /// Up to `limit` requests issued to the department (new ones and new
    /// rounds) after the event `after`, each with the id of its issuing event
    /// and as the department sees it now.
    pub async fn issued_after(
        &self,
        actor: &Actor,
        after: i64,
        limit: u32,
    ) -> Result<Vec<(i64, Assigned)>> {
        access::permit(actor, Action::WatchAssigned)?;
        let ActorRole::Department(department) = &actor.role else {
            unreachable!("the access policy lets only departments watch their requests");
        };
        self.check_event(after).await?;
        let scope = EventScope::IssuedTo(department.clone());
        let mut out = Vec::new();
        for fed in self.store.events_after(&scope, after, limit).await? {
            let (Some(id), Some(request_id)) = (fed.event.id, fed.event.request_id.as_deref())
            else {
                continue;
            };
            if let Some(case) = self.store.get_case(&fed.case_id).await?
                && let Ok(index) =
                    access::authorize_request(actor, Action::ReadRequests, &case, request_id)
            {
                out.push((id, self.assigned(actor, case, index)));
            }
        }
        Ok(out)
    }

    async fn check_event(&self, after: i64) -> Result<()> {
        if after != 0 && !self.store.event_exists(after).await? {
            return Err(DomainError::invalid(
                "after_event_id",
                format!("no event {after}"),
                format!("没有编号为 {after} 的事件"),
            )
            .into());
        }
        Ok(())
    }

    /// The case as this caller may read it (the resident's phone masked where
    /// the access policy says so).
    fn as_seen(&self, actor: &Actor, mut case: Case) -> Case {
        let org = self.org.current();
        case.resident = case.resident.as_seen(access::phone_view(&actor.role, &org));
        case
    }

    fn assigned(&self, actor: &Actor, case: Case, index: usize) -> Assigned {
        Assigned::of(self.as_seen(actor, case), index)
    }
}

/// A caller who named a request hears about that request, not about a case it
/// never asked for.
fn hide_case_behind_request(e: Error, request_id: &str) -> Error {
    match e {
        Error::Refused(DomainError::NotFound { what: "case", .. }) => {
            not_found("request", request_id)
        }
        other => other,
    }
}

/// Time-ordered ids: lists page by id and come out in creation order.
fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}
