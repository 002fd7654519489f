//! The use cases: one method per thing a caller can do, each one transaction.
//! Each takes a command already parsed into domain types, asks the access
//! policy whether the caller may, lets the domain decide, plans the letters and
//! alerts from the effects the domain answers, and hands case, letters and
//! alerts to the store to commit together. Answers are cut to what the caller may see. Transports call
//! nothing else.
//!
//! `Whistle` is one type whose methods live by caller: `cases` (street
//! offices), `requests` (departments), `replies` (holders of a reply link, on
//! the page or by mail), `decisions` (asks and supervisors' rulings),
//! `supervision` (supervisors, alert mail), `statistics` (the figures),
//! `ledger` (the ledger's files), `digest` (the weekly digest), `watching`
//! (the deadline watch), `operator` (the command line's principal); `error` is
//! the one error they all return. What they share (the transaction of a
//! change, the view of a caller) is here. The access policy is asked once per
//! command (`domain::access::permit`), and its permit goes with the command
//! into the domain, in the command's context (`domain::Ctx`) where it takes
//! one; a case reached through a request or an extension the caller named is
//! hidden as what it named (`Error::hidden_behind`).

mod cases;
pub mod console;
mod decisions;
mod digest;
mod error;
pub mod intake;
pub mod ledger;
pub mod operator;
pub mod progress;
mod replies;
mod requests;
mod residents;
pub mod statistics;
mod supervision;
mod watching;
pub mod webhooks;

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, Datelike, Utc};
use tokio::sync::{Notify, watch};

use crate::clock::Clock;
use crate::domain::access;
use crate::domain::alert;
use crate::domain::effects::Effect;
pub use crate::domain::organisation::OrgCell;
use crate::domain::{Actor, Case, Ctx, DomainError, IdSource, Organisation, OsIds};
use crate::mail::Letters;
use crate::store::{OutgoingMail, Store, WriteTx};

pub use crate::domain::{
    AlertFilter, AskFilter, Assigned, CaseFilter, OverdueFilter, Page, PageRequest, PersonalRead,
    PersonalReadFilter, RequestFilter,
};
pub use cases::{RecordFeedback, ReviewReply};
pub use decisions::{AskExtension, AskReturn, DecideExtension, OverrideCloseCase, ResolveReturn};
pub use digest::DigestPolicy;
pub use error::{Error, Result, not_found};
pub use replies::{
    Desk, DeskAction, DeskReply, MailAnswer, MailKind, MailOutcome, NewAttachment, Posted,
    ReplyPolicy,
};
pub use requests::{NoteProgress, SubmitReply};
pub use supervision::{AlertMailMode, AlertMailPolicy, CalendarCoverage};

/// Who is woken when a change commits: the outbox worker when it wrote
/// letters, the deadline watch when it set a deadline before the watch's next
/// look, and the live streams of this instance whenever it wrote events or
/// alerts. Other instances' workers and streams find the change at their
/// next poll.
#[derive(Debug, Clone)]
pub struct Wakes {
    pub mail: Arc<Notify>,
    pub watch: Arc<WatchBell>,
    /// Bumped after every commit that wrote events or alerts.
    pub feed: Arc<watch::Sender<u64>>,
}

impl Default for Wakes {
    fn default() -> Self {
        Self {
            mail: Arc::new(Notify::new()),
            watch: Arc::new(WatchBell::default()),
            feed: Arc::new(watch::Sender::new(0)),
        }
    }
}

impl Wakes {
    /// After a commit that wrote `cases` as they are now.
    fn after_commit<'a>(&self, letters: bool, cases: impl IntoIterator<Item = &'a Case>) {
        if letters {
            self.mail.notify_one();
        }
        let next = cases
            .into_iter()
            .flat_map(|case| case.requests.iter())
            .filter_map(|request| request.watch.next_at)
            .min();
        if let Some(next) = next {
            self.watch.deadline_set(next);
        }
        self.feed.send_modify(|n| *n = n.wrapping_add(1));
    }
}

/// How changes tell this instance's deadline watch about the deadlines they
/// set. Rung only for a deadline before the moment the watch sleeps until:
/// a new case's first deadline is hours away, and a watch rung by every
/// escalation scanned the database twice per escalation under load. A
/// deadline set while the watch plans (after it read when the next one is
/// due, before it went to sleep) is kept as the earliest seen, and the watch
/// sleeps no longer than that.
#[derive(Debug)]
pub struct WatchBell {
    bell: Notify,
    /// Milliseconds of the moment the watch sleeps until; while it scans,
    /// the scan's moment (what falls due by then is rung for); `i64::MAX`
    /// while it pauses in real time or before it started (every deadline
    /// rings).
    planned: AtomicI64,
    /// The earliest deadline set since the watch last planned, in
    /// milliseconds; `i64::MAX` when none.
    earliest: AtomicI64,
}

impl Default for WatchBell {
    fn default() -> Self {
        Self {
            bell: Notify::new(),
            planned: AtomicI64::new(i64::MAX),
            earliest: AtomicI64::new(i64::MAX),
        }
    }
}

impl WatchBell {
    /// A committed change set a request's next look for `at`.
    pub fn deadline_set(&self, at: DateTime<Utc>) {
        let at = at.timestamp_millis();
        // Kept first, then compared: a watch that plans in between either
        // finds it kept or has already published its plan.
        self.earliest.fetch_min(at, Ordering::SeqCst);
        if at <= self.planned.load(Ordering::SeqCst) {
            self.bell.notify_one();
        }
    }

    /// The watch scans what is due at `now`.
    pub fn scanning(&self, now: DateTime<Utc>) {
        self.planned.store(now.timestamp_millis(), Ordering::SeqCst);
    }

    /// The watch, having read that the next look is due at `at`, sleeps
    /// until the moment this answers: `at`, or a deadline set meanwhile.
    pub fn plan(&self, at: DateTime<Utc>) -> DateTime<Utc> {
        self.planned.store(at.timestamp_millis(), Ordering::SeqCst);
        let earliest = self.earliest.swap(i64::MAX, Ordering::SeqCst);
        DateTime::from_timestamp_millis(earliest).map_or(at, |e| e.min(at))
    }

    /// The watch pauses in real time: every deadline set rings it.
    pub fn pausing(&self) {
        self.planned.store(i64::MAX, Ordering::SeqCst);
    }

    /// Waits until rung.
    pub async fn rung(&self) {
        self.bell.notified().await;
    }
}

#[derive(Debug, Clone)]
pub struct Whistle {
    store: Store,
    org: OrgCell,
    clock: Arc<dyn Clock>,
    letters: Arc<Letters>,
    wakes: Wakes,
    /// What the reply page and reply mail accept as attachments.
    replies: Arc<ReplyPolicy>,
    /// Where new ids and secrets come from.
    ids: Arc<dyn IdSource>,
    /// The group robots that get the weekly digest's summary.
    digest_channels: Arc<crate::channels::digest::DigestChannels>,
    /// Open cases' shingles, kept for the comparison of new petitions.
    shingles: Arc<intake::KeptShingles>,
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
            replies: Arc::new(ReplyPolicy::default()),
            ids: Arc::new(OsIds),
            digest_channels: Arc::new(Default::default()),
            shingles: Arc::new(Default::default()),
        }
    }

    /// Where new ids and secrets come from: the operating system's random
    /// source unless told otherwise.
    pub fn with_ids(mut self, ids: Arc<dyn IdSource>) -> Self {
        self.ids = ids;
        self
    }

    /// Where new ids and secrets come from, for the doors' own tokens (a
    /// form's cookie).
    pub fn ids(&self) -> &dyn IdSource {
        &*self.ids
    }

    pub fn with_digest_channels(
        mut self,
        channels: crate::channels::digest::DigestChannels,
    ) -> Self {
        self.digest_channels = Arc::new(channels);
        self
    }

    pub fn with_reply_policy(mut self, policy: ReplyPolicy) -> Self {
        self.replies = Arc::new(policy);
        self
    }

    pub fn reply_policy(&self) -> &ReplyPolicy {
        &self.replies
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

    /// Where the feeds stand, committed by any instance: what this instance's
    /// live streams poll for (one read for all of them) to hear of other
    /// instances' changes.
    pub async fn feed_head(&self) -> Result<crate::store::FeedHead> {
        Ok(self.store.feed_head().await?)
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

    /// Loads the case under its lock in `tx`, applies `change`, and commits the
    /// difference with the letters and alerts of the effects `change` answers;
    /// rolls back on a refusal.
    async fn commit_change(
        &self,
        tx: WriteTx,
        case_id: &str,
        change: impl FnOnce(&mut Case) -> Caused,
    ) -> Result<Case> {
        self.commit_change_with(tx, case_id, change, |_| Ok(Vec::new()))
            .await
    }

    /// As `commit_change`, with letters beyond those its effects cause (a
    /// receipt to whoever mailed the change), planned from the changed case.
    async fn commit_change_with(
        &self,
        mut tx: WriteTx,
        case_id: &str,
        change: impl FnOnce(&mut Case) -> Caused,
        also: impl FnOnce(&Case) -> Result<Vec<OutgoingMail>>,
    ) -> Result<Case> {
        let org = self.org.current();
        let Some(before) = tx.lock_case(case_id).await? else {
            tx.rollback().await?;
            return Err(not_found("case", case_id));
        };
        let mut after = before.clone();
        let effects = match change(&mut after) {
            Ok(effects) => effects,
            Err(refused) => {
                tx.rollback().await?;
                return Err(refused.into());
            }
        };
        let now = self.clock.now();
        after.rewatch(&org.watch, &org.calendar, now);
        let extra = also(&after)?;
        self.save(tx, &before, &mut after, &effects, extra).await?;
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
        extra: Vec<OutgoingMail>,
    ) -> Result<()> {
        let letters = self
            .write_change(&mut tx, before, after, effects, extra)
            .await?;
        tx.commit().await?;
        self.wakes.after_commit(letters, [&*after]);
        Ok(())
    }

    /// Writes a change with the letters and alerts its effects cause, for
    /// the caller to commit with whatever else its command changes; whether
    /// it wrote letters.
    async fn write_change(
        &self,
        tx: &mut WriteTx,
        before: &Case,
        after: &mut Case,
        effects: &[Effect],
        extra: Vec<OutgoingMail>,
    ) -> Result<bool> {
        let org = self.org.current();
        let mut mail = self
            .letters
            .plan(&org, after, effects)
            .map_err(|e| Error::Internal(e.into()))?;
        mail.extend(extra);
        let alerts = alert::for_effects(&org, after, effects);
        tx.update_case(before, after, &mail, &alerts).await?;
        self.note_letter_reads(tx, after, &mail).await?;
        Ok(!mail.is_empty())
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
        let view = access::phone_view(&actor.role, &org);
        case.resident = case.resident.as_seen(view);
        for r in &mut case.residents {
            r.resident = r.resident.as_seen(view);
        }
        case
    }

    fn assigned(&self, actor: &Actor, case: Case, index: usize) -> Assigned {
        Assigned::of(self.as_seen(actor, case), index)
    }

    /// Records that `actor` is about to be shown these cases' residents
    /// unmasked, when the access policy says such reads are recorded. The
    /// record commits before the answer goes out: no record, no answer.
    async fn note_personal_reads<'a>(
        &self,
        actor: &Actor,
        via: &str,
        case_ids: impl IntoIterator<Item = &'a str>,
    ) -> Result<()> {
        let org = self.org.current();
        if !access::records_personal_reads(&actor.role, &org) {
            return Ok(());
        }
        let mut ids: Vec<String> = case_ids.into_iter().map(str::to_owned).collect();
        ids.sort();
        ids.dedup();
        if ids.is_empty() {
            return Ok(());
        }
        self.store
            .record_personal_reads(&actor.name, via, &ids, self.clock.now())
            .await?;
        Ok(())
    }
}

impl Whistle {
    /// Records, in the transaction that writes them, the request letters that
    /// show their department the resident unmasked (`domain::disclosure`).
    async fn note_letter_reads(
        &self,
        tx: &mut WriteTx,
        case: &Case,
        mail: &[OutgoingMail],
    ) -> Result<()> {
        let org = self.org.current();
        let issued = mail
            .iter()
            .filter(|m| m.kind == crate::store::LetterKind::RequestIssued)
            .filter_map(|m| m.request_id.as_deref());
        let ids = [case.id.clone()];
        for reader in crate::domain::disclosure::letter_readers(&org, case, issued) {
            tx.record_personal_reads(
                &reader,
                crate::domain::disclosure::BY_LETTER,
                &ids,
                self.clock.now(),
            )
            .await?;
        }
        Ok(())
    }
}

/// What a command of the domain answers: the effects it caused, or why it
/// was refused.
type Caused = std::result::Result<Vec<Effect>, DomainError>;

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use chrono::TimeZone;

    use super::*;

    fn at(hour: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 2, hour, 0, 0).unwrap()
    }

    /// Whether the bell rang, without waiting for it.
    async fn rang(bell: &WatchBell) -> bool {
        tokio::time::timeout(Duration::from_millis(20), bell.rung())
            .await
            .is_ok()
    }

    #[tokio::test]
    async fn the_watch_is_rung_only_for_a_deadline_before_its_next_look() {
        let bell = WatchBell::default();
        // Before it first planned, every deadline rings.
        bell.deadline_set(at(20));
        assert!(rang(&bell).await);

        // Asleep until 12:00: a deadline at 15:00 does not wake it, one at
        // 11:00 does.
        assert_eq!(bell.plan(at(12)), at(12));
        bell.deadline_set(at(15));
        assert!(!rang(&bell).await);
        bell.deadline_set(at(11));
        assert!(rang(&bell).await);

        // While it scans at 09:00, only what is due by then rings; what is
        // set meanwhile is remembered when it plans next.
        bell.scanning(at(9));
        bell.deadline_set(at(10));
        assert!(!rang(&bell).await);
        assert_eq!(bell.plan(at(12)), at(10), "set while it scanned");
        bell.scanning(at(13));
        bell.deadline_set(at(8));
        assert!(rang(&bell).await);

        // Pausing in real time, every deadline rings again.
        bell.pausing();
        bell.deadline_set(at(23));
        assert!(rang(&bell).await);
    }
}
