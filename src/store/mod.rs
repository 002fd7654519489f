//! Persistence: the only place with SQL. Two backends, SQLite (the embedded
//! default, one file under ./data) and PostgreSQL (production, several
//! instances), behind one `Backend` trait that carries only what really differs
//! between them: how a write transaction begins and locks a case, how a list of
//! values is bound, which errors mean "unavailable" or "lost a race". The
//! repositories are written once over it, one per aggregate: `cases` (cases,
//! their requests and timelines), `outbox` (letters to send), `alerts`, `feeds`
//! (what the live streams read), `jobs` (cursors of the periodic work),
//! `links` (reply links, the page's form keys, attachments, inbound mail),
//! `chain` (the timelines' hash chain), `audit` (personal-data reads),
//! `residents` (who raised each case), `channels` (messages to group
//! robots), `webhooks` (endpoints' cursors), `console` (sign-ins and
//! sessions) and `figures` (the statistics' kept parts). `Store` answers
//! reads and short writes whole; `WriteTx` (`write_tx.rs`) is the
//! transaction a command runs in. Both backends are held to the same test
//! suite (`suite.rs`).
//!
//! The store knows nothing of the rules and calls nothing above it. A command
//! begins a `WriteTx`, loads the whole case under its lock, lets the domain change
//! it, and hands back the changed case with the letters the change causes; the
//! store writes the difference and the letters and the caller commits. Two
//! racing commands on one case therefore run one after the other, and the second
//! sees the first one's result. Reference numbers are drawn last, just before
//! commit, so an office's counter row is held as briefly as possible.

use chrono::{DateTime, Utc};

use crate::domain::{
    AlertFilter, AskFilter, Assigned, Case, CaseFilter, DomainError, OverdueFilter, Page,
    PageRequest, RaisedAlert, RequestFilter,
};

mod alerts;
mod audit;
mod backend;
mod backup;
mod batch;
mod cases;
mod chain;
mod diff;
mod feeds;
mod figures;
mod jobs;
pub(crate) mod links;
mod lists;
mod outbox;
mod paging;
pub mod postgres;
mod residents;
mod rows;
mod sql;
pub mod sqlite;
#[cfg(test)]
mod suite;
#[cfg(any(test, feature = "test-support"))]
pub mod testing;

/// The outbox's letters, as the store persists them.
pub use crate::domain::outbox::{
    Attempt, Delivery, Lease, LetterKind, MailStatus, OutboxSummary, OutgoingMail, QueuedMail,
    Rendered,
};
pub use crate::domain::{PersonalRead, PersonalReadFilter};
pub use backend::{Backend, Db};
pub use backup::BackupOutcome;
pub use channels::{ChannelBacklog, ClaimedMessage, PostOutcome, Queued, Spell};
pub use feeds::{EventScope, FedEvent, FeedHead};
pub use figures::{FIGURES_PAGE, FiguresScope, KeptFigures};
pub use jobs::Job;
pub use links::{FormKey, InboundRecord, StoredAttachment, StoredLink, message_key};
pub use webhooks::{ClaimedEndpoint, EndpointState, WebhookFailure};

/// The result of inserting a case under an office's petition id.
#[derive(Debug)]
pub enum Inserted {
    Created,
    /// The office already escalated this petition id; here is that case as it is
    /// now. Nothing was written.
    Existing(Box<Case>),
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A rule refused the change (passed through from the domain), an unknown id,
    /// or a malformed page cursor (`DomainError::Invalid` naming `page_token`).
    #[error(transparent)]
    Domain(#[from] DomainError),
    /// The database cannot be reached or has no free connection: worth a retry.
    #[error("database unavailable")]
    Unavailable(#[source] sqlx::Error),
    /// Lost a race that the database resolved by aborting us (deadlock, busy
    /// beyond the timeout, serialization failure): worth a retry.
    #[error("concurrent change, try again")]
    Contention(#[source] sqlx::Error),
    #[error("database error")]
    Database(#[source] sqlx::Error),
    /// The database URL names no backend this build knows.
    #[error("{0}")]
    Config(String),
    #[error("migration failed")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A backup that was not made: the target exists, or the backend's own
    /// tools make backups.
    #[error("{0}")]
    BackupRefused(String),
    /// A file operation of a backup failed; the message names the file.
    #[error("{context}")]
    BackupFile {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

#[derive(Debug, Clone)]
pub struct PoolOptions {
    pub max_connections: u32,
    /// How long a command waits for a free connection before `Unavailable`.
    pub acquire_timeout: std::time::Duration,
}

impl Default for PoolOptions {
    fn default() -> Self {
        Self {
            max_connections: 10,
            acquire_timeout: std::time::Duration::from_secs(5),
        }
    }
}

/// The store: cheap to clone (the pools are shared), one per process.
#[derive(Debug, Clone)]
pub enum Store {
    Sqlite(Db<sqlx::Sqlite>),
    Postgres(Db<sqlx::Postgres>),
}

/// Runs the same generic code on whichever backend `$on` holds.
macro_rules! dispatch {
    ($on:expr, $db:ident => $body:expr) => {
        match $on {
            Self::Sqlite($db) => $body,
            Self::Postgres($db) => $body,
        }
    };
}

/// Opens the store a database URL names: `sqlite:` (the file and its folder are
/// created) or `postgres:`/`postgresql:`. Does not migrate.
pub async fn connect(url: &str, options: &PoolOptions) -> Result<Store, StoreError> {
    if url.starts_with("sqlite:") {
        Ok(Store::Sqlite(sqlite::connect(url, options).await?))
    } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        Ok(Store::Postgres(postgres::connect(url, options).await?))
    } else {
        Err(StoreError::Config(
            "database.url must start with sqlite: or postgres:".into(),
        ))
    }
}

/// As `connect`, but a SQLite file must exist already (nothing is created):
/// for tools that read an existing database, such as `whistle backup`.
pub async fn connect_existing(url: &str, options: &PoolOptions) -> Result<Store, StoreError> {
    if url.starts_with("sqlite:") {
        Ok(Store::Sqlite(sqlite::connect_existing(url, options).await?))
    } else {
        connect(url, options).await
    }
}

/// Idle and in-use connections of pools given as (size, idle). While a
/// connection is being taken or returned, sqlx may report an idle count that
/// wrapped below zero (near `usize::MAX`) or exceeds the pool's size: each
/// pool's idle count is clamped to its size, and the sums saturate, so that a
/// gauge reads a count a moment off rather than panicking (debug builds) or
/// showing four billion (release).
fn connection_counts(pools: impl IntoIterator<Item = (u32, usize)>) -> (u32, u32) {
    pools
        .into_iter()
        .fold((0u32, 0u32), |(idle, busy), (size, reported_idle)| {
            let pool_idle = u32::try_from(reported_idle).unwrap_or(u32::MAX).min(size);
            (
                idle.saturating_add(pool_idle),
                busy.saturating_add(size - pool_idle),
            )
        })
}

/// Whether values a caller gave can match anything stored. Nothing stored
/// holds a NUL (every text is refused one on the way in), and PostgreSQL
/// refuses one even as a parameter while SQLite compares it: asked with one,
/// both backends find nothing, without asking the database.
fn matchable<'a>(values: impl IntoIterator<Item = Option<&'a str>>) -> bool {
    values.into_iter().flatten().all(|v| !v.contains('\0'))
}

fn nothing<T>() -> Page<T> {
    Page {
        items: Vec::new(),
        next: None,
        cursors: Vec::new(),
    }
}

/// Runs `$body` in a read transaction of whichever backend `$on` holds: the
/// several statements of one answer see one snapshot.
macro_rules! read {
    ($on:expr, $tx:ident => $body:expr) => {
        dispatch!($on, db => {
            let mut $tx = db.begin_read().await?;
            let result = $body;
            $tx.rollback().await?;
            Ok(result)
        })
    };
}

/// Runs `$body` in a write transaction of whichever backend `$on` holds and
/// commits it.
macro_rules! write {
    ($on:expr, $tx:ident => $body:expr) => {
        dispatch!($on, db => {
            let mut $tx = db.begin_write().await?;
            let result = $body;
            $tx.commit().await?;
            Ok(result)
        })
    };
}

// Declared after the macros, which they use.
mod channels;
mod console;
mod webhooks;
mod write_tx;
pub use console::{ListedSession, SignInFor, SignedInBy, StoredSession};
pub use write_tx::WriteTx;

impl Store {
    /// Applies the embedded migrations of this backend.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        match self {
            Self::Sqlite(db) => sqlx::migrate!("migrations/sqlite").run(&db.writer).await?,
            Self::Postgres(db) => {
                sqlx::migrate!("migrations/postgres")
                    .run(&db.writer)
                    .await?
            }
        }
        self.chain_unchained().await
    }

    /// Begins a write transaction. On SQLite it already holds the write lock.
    pub async fn begin(&self) -> Result<WriteTx, StoreError> {
        Ok(match self {
            Self::Sqlite(db) => WriteTx::Sqlite(db.begin_write().await?),
            Self::Postgres(db) => WriteTx::Postgres(db.begin_write().await?),
        })
    }

    /// The whole case: requests with every reply, the timeline, the last feedback.
    pub async fn get_case(&self, case_id: &str) -> Result<Option<Case>, StoreError> {
        if !matchable([Some(case_id)]) {
            return Ok(None);
        }
        read!(self, tx => tx.get_case(case_id).await?)
    }

    /// The case that holds a request, read whole.
    pub async fn case_of_request(&self, request_id: &str) -> Result<Option<Case>, StoreError> {
        if !matchable([Some(request_id)]) {
            return Ok(None);
        }
        read!(self, tx => match tx.case_id_for_request(request_id).await? {
            Some(case_id) => tx.get_case(&case_id).await?,
            None => None,
        })
    }

    /// The ledger, newest case first; each case with its requests (and their
    /// replies) but without its timeline.
    /// `now` decides what is overdue.
    pub async fn list_cases(
        &self,
        filter: &CaseFilter,
        page: &PageRequest,
        now: DateTime<Utc>,
    ) -> Result<Page<Case>, StoreError> {
        if !matchable([
            filter.office.as_deref(),
            filter.category.as_deref(),
            filter.community.as_deref(),
            filter.zone.as_deref(),
            filter.collector.as_deref(),
            filter.department.as_deref(),
        ]) {
            return Ok(nothing());
        }
        read!(self, tx => tx.list_cases(filter, page, now).await?)
    }

    /// A page of `list_cases`, each case with its timeline: what the
    /// progress list (进展通报) words its latest steps from.
    pub async fn list_cases_with_timelines(
        &self,
        filter: &CaseFilter,
        page: &PageRequest,
        now: DateTime<Utc>,
    ) -> Result<Page<Case>, StoreError> {
        if !matchable([
            filter.office.as_deref(),
            filter.community.as_deref(),
            filter.zone.as_deref(),
        ]) {
            return Ok(nothing());
        }
        read!(self, tx => {
            let mut page = tx.list_cases(filter, page, now).await?;
            tx.fill_timelines(&mut page.items).await?;
            page
        })
    }

    /// Every case escalated in `[from, to)`, of `office` or of all offices,
    /// oldest first, whole, in one snapshot: the ledger (台账) and the figures.
    pub async fn cases_escalated(
        &self,
        office: Option<&str>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<Case>, StoreError> {
        if !matchable([office]) {
            return Ok(Vec::new());
        }
        read!(self, tx => tx.cases_escalated(office, from, to).await?)
    }

    /// The cases of a figures' scope that have no kept part that holds,
    /// oldest first.
    pub async fn figures_missing(
        &self,
        scope: &FiguresScope<'_>,
    ) -> Result<Vec<String>, StoreError> {
        if !matchable([scope.office, scope.department, Some(scope.fingerprint)]) {
            return Ok(Vec::new());
        }
        read!(self, tx => tx.figures_missing(scope).await?)
    }

    /// A page (`FIGURES_PAGE` rows) of the cases of a figures' scope after
    /// `after`, in escalation order: id, escalation moment (ms) and the kept
    /// part if one holds. A shorter page is the last.
    pub async fn figures_page(
        &self,
        scope: &FiguresScope<'_>,
        after: Option<(i64, &str)>,
    ) -> Result<Vec<(String, i64, Option<Vec<u8>>)>, StoreError> {
        if !matchable([scope.office, scope.department, Some(scope.fingerprint)]) {
            return Ok(Vec::new());
        }
        read!(self, tx => tx.figures_page(scope, after).await?)
    }

    /// Up to `limit` cases escalated in `[from, to)`, of `office` or of all,
    /// after `after` (the escalation moment in ms and id of the last case of
    /// the page before), oldest first, with their requests and replies but
    /// not their timelines: the ledger, page by page.
    pub async fn ledger_page(
        &self,
        office: Option<&str>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        after: Option<(i64, &str)>,
        limit: u32,
    ) -> Result<Vec<Case>, StoreError> {
        if !matchable([office, after.map(|(_, id)| id)]) {
            return Ok(Vec::new());
        }
        read!(self, tx => {
            let ids: Vec<String> = tx
                .escalated_ids_page(office, from, to, after, i64::from(limit.max(1)))
                .await?
                .into_iter()
                .map(|(id, _)| id)
                .collect();
            tx.cases_by_ids(&ids, false).await?
        })
    }

    /// The cases of `ids`, whole, in that order; unknown ids left out.
    pub async fn cases_by_ids(&self, ids: &[String]) -> Result<Vec<Case>, StoreError> {
        let ids: Vec<String> = ids
            .iter()
            .filter(|id| matchable([Some(id.as_str())]))
            .cloned()
            .collect();
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        read!(self, tx => tx.cases_by_ids(&ids, true).await?)
    }

    /// Keeps cases' settled parts in the figures under `fingerprint`.
    pub async fn keep_figures(
        &self,
        fingerprint: &str,
        kept: &[KeptFigures],
    ) -> Result<(), StoreError> {
        if kept.is_empty() {
            return Ok(());
        }
        write!(self, tx => tx.keep_figures(fingerprint, kept).await?)
    }

    /// Requests with their case's facts, the earliest reply deadline first; `now`
    /// decides what is overdue.
    pub async fn list_requests(
        &self,
        filter: &RequestFilter,
        page: &PageRequest,
        now: DateTime<Utc>,
    ) -> Result<Page<Assigned>, StoreError> {
        if !matchable([filter.department.as_deref(), filter.category.as_deref()]) {
            return Ok(nothing());
        }
        read!(self, tx => tx.list_requests(filter, page, now).await?)
    }

    /// Requests past a deadline at `now`, with their case's facts, most overdue
    /// first.
    pub async fn list_overdue(
        &self,
        filter: &OverdueFilter,
        page: &PageRequest,
        now: DateTime<Utc>,
    ) -> Result<Page<Assigned>, StoreError> {
        if !matchable([filter.office.as_deref(), filter.department.as_deref()]) {
            return Ok(nothing());
        }
        read!(self, tx => tx.list_overdue(filter, page, now).await?)
    }

    /// Requests whose clock stands still for a ruling on their department's
    /// ask, in open cases, with their case's facts, the longest waiting first.
    pub async fn list_open_asks(
        &self,
        filter: &AskFilter,
        page: &PageRequest,
    ) -> Result<Page<Assigned>, StoreError> {
        if !matchable([filter.office.as_deref(), filter.department.as_deref()]) {
            return Ok(nothing());
        }
        read!(self, tx => tx.list_open_asks(filter, page).await?)
    }

    /// Cases the watch must look at by `now`, the longest waiting first.
    pub async fn due_for_watch(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<String>, StoreError> {
        read!(self, tx => tx.due_for_watch(now, limit).await?)
    }

    /// When the watch must next look at any request, if ever.
    pub async fn next_watch_due(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        read!(self, tx => tx.next_watch_due().await?)
    }

    /// Alerts, newest first.
    pub async fn list_alerts(
        &self,
        filter: &AlertFilter,
        page: &PageRequest,
    ) -> Result<Page<RaisedAlert>, StoreError> {
        if !matchable([
            filter.office.as_deref(),
            filter.department.as_deref(),
            filter.case_id.as_deref(),
        ]) {
            return Ok(nothing());
        }
        read!(self, tx => tx.list_alerts(filter, page).await?)
    }

    /// Alerts after the alert `after` (0: from the first), in the order they
    /// became visible; a stream reads them with this.
    pub async fn alerts_after(
        &self,
        after: i64,
        min_level: u8,
        limit: u32,
    ) -> Result<Vec<RaisedAlert>, StoreError> {
        read!(self, tx => tx.alerts_after(after, min_level, limit).await?)
    }

    pub async fn alert_exists(&self, id: i64) -> Result<bool, StoreError> {
        read!(self, tx => tx.alert_exists(id).await?)
    }

    /// Events of `scope` after the event `after` (0: from the first), in commit
    /// order; a stream reads them with this.
    pub async fn events_after(
        &self,
        scope: &EventScope,
        after: i64,
        limit: u32,
    ) -> Result<Vec<FedEvent>, StoreError> {
        read!(self, tx => tx.events_after(scope, after, limit).await?)
    }

    pub async fn event_exists(&self, id: i64) -> Result<bool, StoreError> {
        read!(self, tx => tx.event_exists(id).await?)
    }

    /// The traceparent kept with an event (an alert, with `alert`), for the
    /// webhook that carries it.
    pub async fn traceparent_of(&self, alert: bool, id: i64) -> Result<Option<String>, StoreError> {
        read!(self, tx => tx.traceparent_of(alert, id).await?)
    }

    /// Where the feeds stand; what the live streams' one poller compares.
    pub async fn feed_head(&self) -> Result<FeedHead, StoreError> {
        read!(self, tx => tx.feed_head().await?)
    }

    /// Claims for `worker` up to `limit` letters due at `now` that no lease
    /// holds, oldest first, each with one more attempt counted, under a new
    /// `lease`. A claimed letter goes again when its lease ends, unless its
    /// outcome was recorded: a worker that dies loses nothing. The claim
    /// commits at once; the letters are then delivered outside any
    /// transaction.
    pub async fn claim_mail(
        &self,
        worker: &str,
        now: DateTime<Utc>,
        lease: Lease,
        limit: u32,
    ) -> Result<Vec<QueuedMail>, StoreError> {
        dispatch!(self, db => {
            let mut tx = db.begin_write().await?;
            let claimed = tx.claim_mail(worker, now, lease, limit).await?;
            tx.commit().await?;
            Ok(claimed)
        })
    }

    /// Keeps `worker`'s claim on the letters it is still delivering until
    /// `until`; how many of them it still holds.
    pub async fn extend_lease(
        &self,
        worker: &str,
        ids: &[String],
        until: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        dispatch!(self, db => {
            let mut tx = db.begin_write().await?;
            let held = tx.extend_lease(worker, ids, until).await?;
            tx.commit().await?;
            Ok(held)
        })
    }

    /// Records the outcomes of a batch `worker` delivered, and the alerts they
    /// raise, in one transaction. A letter `worker` no longer holds (its lease
    /// ran out and another worker claimed it) is not recorded, nor its alert;
    /// how many were.
    pub async fn record_deliveries(
        &self,
        worker: &str,
        attempts: &[(QueuedMail, Attempt)],
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        if attempts.is_empty() {
            return Ok(0);
        }
        dispatch!(self, db => {
            let mut tx = db.begin_write().await?;
            let mut recorded = 0;
            let mut alerts = Vec::new();
            for (mail, attempt) in attempts {
                if tx.record_delivery(worker, mail, attempt, now).await? {
                    recorded += 1;
                    alerts.extend(attempt.alert.iter().cloned());
                }
            }
            if !alerts.is_empty() {
                tx.raise_alerts(&alerts).await?;
            }
            tx.commit().await?;
            Ok(recorded)
        })
    }

    /// When the next pending letter is due, if any is pending.
    pub async fn next_mail_due(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        read!(self, tx => tx.next_mail_due().await?)
    }

    /// How many letters are pending and failed, and the oldest pending one's age.
    pub async fn outbox_summary(&self) -> Result<OutboxSummary, StoreError> {
        read!(self, tx => tx.outbox_summary().await?)
    }

    /// The outbox, newest first, optionally one status.
    pub async fn list_mail(
        &self,
        status: Option<MailStatus>,
        page: &PageRequest,
    ) -> Result<Page<QueuedMail>, StoreError> {
        read!(self, tx => tx.list_mail(status, page).await?)
    }

    /// Makes every pending letter put off by a failed attempt due at `now`
    /// (the mail server is back); how many.
    pub async fn requeue_deferred_mail(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        dispatch!(self, db => {
            let mut tx = db.begin_write().await?;
            let n = tx.requeue_deferred_mail(now).await?;
            tx.commit().await?;
            Ok(n)
        })
    }

    /// Puts a failed letter back in the queue, due at `now`, with fresh attempts.
    /// A letter that is not failed is `WrongState`; an unknown one `NotFound`.
    pub async fn retry_mail(&self, id: &str, now: DateTime<Utc>) -> Result<QueuedMail, StoreError> {
        dispatch!(self, db => {
            let mut tx = db.begin_write().await?;
            match tx.retry_mail(id, now).await {
                Ok(mail) => {
                    tx.commit().await?;
                    Ok(mail)
                }
                Err(e) => {
                    tx.rollback().await?;
                    Err(e)
                }
            }
        })
    }

    /// Refreshes PostgreSQL's planner statistics after a bulk load. Without
    /// them (autovacuum off, or not yet round) the planner takes a thousand
    /// case ids for half the table, and reads of cases by id scan every
    /// event: seconds a read where the index takes milliseconds. SQLite's
    /// planner prefers the indexes without statistics, so it is left as it is.
    pub async fn analyze(&self) -> Result<(), StoreError> {
        match self {
            Self::Sqlite(_) => Ok(()),
            Self::Postgres(db) => sqlx::query("ANALYZE")
                .execute(&db.writer)
                .await
                .map(|_| ())
                .map_err(backend::map_any_err),
        }
    }

    /// Whether the database answers at all: a trivial query through the
    /// readers' pool, within its acquire timeout.
    pub async fn ping(&self) -> Result<(), StoreError> {
        dispatch!(self, db => sqlx::query("SELECT 1")
            .execute(&db.reader)
            .await
            .map(|_| ())
            .map_err(backend::map_any_err))
    }

    /// Connections open in the pools (readers' and writers' together): idle,
    /// and in use.
    pub fn pool_connections(&self) -> (u32, u32) {
        match self {
            Self::Sqlite(db) => connection_counts([
                (db.reader.size(), db.reader.num_idle()),
                (db.writer.size(), db.writer.num_idle()),
            ]),
            // One pool serves reads and writes: counted once.
            Self::Postgres(db) => connection_counts([(db.writer.size(), db.writer.num_idle())]),
        }
    }

    /// Closes the pools, waiting for connections in use to be returned.
    pub async fn close(&self) {
        dispatch!(self, db => db.close().await)
    }
}

impl Store {
    /// The request a reply link answers, by the link's digest.
    pub async fn reply_link(&self, digest: &str) -> Result<Option<StoredLink>, StoreError> {
        if !matchable([Some(digest)]) {
            return Ok(None);
        }
        read!(self, tx => tx.reply_link(digest).await?)
    }

    /// A reply attachment with its bytes.
    pub async fn attachment(&self, id: &str) -> Result<Option<StoredAttachment>, StoreError> {
        if !matchable([Some(id)]) {
            return Ok(None);
        }
        read!(self, tx => tx.attachment(id).await?)
    }

    /// Records that `actor` was shown these cases' residents unmasked, through
    /// `via`; committed before the answer goes out.
    pub async fn record_personal_reads(
        &self,
        actor: &str,
        via: &str,
        case_ids: &[String],
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        tx.record_personal_reads(actor, via, case_ids, at).await?;
        tx.commit().await
    }

    /// Who read a case's resident unmasked, oldest first.
    pub async fn personal_reads_of_case(
        &self,
        case_id: &str,
    ) -> Result<Vec<PersonalRead>, StoreError> {
        read!(self, tx => tx.personal_reads_of_case(case_id).await?)
    }

    /// Every e-mail taken for a request's reply addresses, oldest first.
    pub async fn inbound_of_request(
        &self,
        request_id: &str,
    ) -> Result<Vec<InboundRecord>, StoreError> {
        read!(self, tx => tx.inbound_of_request(request_id).await?)
    }
}

/// The hash chain over the timelines (`chain`) and the record of personal-data
/// reads, for the people who review the service.
impl Store {
    /// The one-time back-fill of the hash chain: chains, in batches of
    /// cases, every event written before the chain existed, and records that
    /// it ran. Nothing once it has run: from then on an event without a hash
    /// is a break, which the chain must go on naming rather than vouch for.
    async fn chain_unchained(&self) -> Result<(), StoreError> {
        let pending = dispatch!(self, db => {
            let mut tx = db.begin_read().await?;
            let pending = tx.backfill_pending().await?;
            tx.rollback().await?;
            pending
        });
        if !pending {
            return Ok(());
        }
        let (mut cases, mut events) = (0, 0);
        loop {
            let (taken, chained) = dispatch!(self, db => {
                let mut tx = db.begin_write().await?;
                let taken = tx.chain_some_cases().await?;
                tx.commit().await?;
                taken
            });
            if taken == 0 {
                break;
            }
            cases += taken;
            events += chained;
        }
        // The moment of an operator's action, not of the service's rules:
        // the wall clock, as the migrations' own record has.
        let at = Utc::now().timestamp_millis();
        dispatch!(self, db => {
            let mut tx = db.begin_write().await?;
            tx.backfill_done(at, events).await?;
            tx.commit().await?;
        });
        if events > 0 {
            tracing::warn!(
                cases,
                events,
                "chained the events written before the hash chain, once: from now on an event \
                 without a hash is reported as a break"
            );
        }
        Ok(())
    }

    /// Raises the level-2 alert for a case whose chain `report` found broken
    /// (once per break: the alert's key names it); nothing when it holds.
    /// Whether an alert was written.
    pub async fn raise_chain_alert(
        &self,
        case_id: &str,
        report: &crate::domain::audit_chain::ChainReport,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let Some(found) = &report.first_break else {
            return Ok(false);
        };
        dispatch!(self, db => {
            let mut tx = db.begin_write().await?;
            let raised = tx.raise_chain_alert(case_id, found, at).await?;
            tx.commit().await?;
            Ok(raised)
        })
    }

    /// Recomputes a case's hash chain; `None` when there is no such case.
    pub async fn verify_case(
        &self,
        case_id: &str,
    ) -> Result<Option<crate::domain::audit_chain::ChainReport>, StoreError> {
        if !matchable([Some(case_id)]) {
            return Ok(None);
        }
        read!(self, tx => tx.verify_case(case_id).await?)
    }

    /// Recomputes the hash chains of the cases `ids`, in their order; cases
    /// not there are left out.
    pub async fn verify_cases(
        &self,
        ids: &[String],
    ) -> Result<Vec<(String, crate::domain::audit_chain::ChainReport)>, StoreError> {
        read!(self, tx => tx.verify_cases(ids).await?)
    }

    /// Up to `limit` case ids after `after` (none: from the first), in id order.
    pub async fn case_ids_after(
        &self,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<String>, StoreError> {
        read!(self, tx => tx.case_ids_after(after, limit).await?)
    }

    /// Reads of residents' unmasked details, newest first.
    pub async fn list_personal_reads(
        &self,
        filter: &PersonalReadFilter,
        page: &PageRequest,
    ) -> Result<Page<PersonalRead>, StoreError> {
        if !matchable([filter.case_id.as_deref(), filter.reader.as_deref()]) {
            return Ok(nothing());
        }
        read!(self, tx => tx.list_personal_reads(filter, page).await?)
    }
}

#[cfg(test)]
mod pool_tests {
    use super::connection_counts;

    #[test]
    fn a_wrapped_or_oversized_idle_count_is_clamped_not_added_into_an_overflow() {
        assert_eq!(connection_counts([(5, 2), (1, 1)]), (3, 3));
        // sqlx, for a moment, reports an idle count that wrapped below zero.
        assert_eq!(
            connection_counts([(5, usize::MAX), (1, usize::MAX)]),
            (6, 0)
        );
        assert_eq!(connection_counts([(5, 9), (1, 0)]), (5, 1));
        assert_eq!(
            connection_counts([(u32::MAX, 0), (u32::MAX, 0)]),
            (0, u32::MAX)
        );
        assert_eq!(connection_counts([]), (0, 0));
    }
}
