//! Persistence: the only place with SQL. One trait, two backends: SQLite (the
//! embedded default, one file under ./data) and PostgreSQL (production, several
//! instances). Both are held to the same test suite (`suite.rs`).
//!
//! The store knows nothing of the rules. A command loads the whole case (the
//! aggregate) inside a transaction that holds its lock, lets the domain change it,
//! and writes back what changed (new requests with freshly drawn reference numbers,
//! changed requests, new replies, new timeline events, the case row) before it
//! commits. Two racing commands on one case therefore run one after the other, and
//! the second sees the first one's result.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::sync::Arc;

use crate::domain::{Case, CaseStatus, DepartmentRequest, DomainError, RequestStatus};

mod common;
mod exec;
pub mod postgres;
pub mod sqlite;
#[cfg(test)]
mod suite;
pub mod testing;

/// The result of inserting a case under an office's petition id.
#[derive(Debug)]
pub enum Inserted {
    Created(Case),
    /// The office already escalated this petition id; here is that case as it is
    /// now. The caller compares fingerprints to tell a retry from a conflict.
    Existing(Case),
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CaseFilter {
    /// Only this office's cases (always set for office callers).
    pub office: Option<String>,
    pub status: Option<CaseStatus>,
    pub category: Option<String>,
    pub community: Option<String>,
    /// Only cases holding a reply (a request in `REPLIED`) not yet reviewed.
    pub awaiting_review: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestFilter {
    /// Only this department's requests (always set for department callers).
    pub department: Option<String>,
    pub status: Option<RequestStatus>,
    /// The category of the request's case.
    pub category: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    /// Already clamped by the caller to 1..=500.
    pub size: u32,
    /// The `next` cursor of the previous page; its format belongs to the store.
    pub after: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Present when there may be more items.
    pub next: Option<String>,
}

/// A request together with the facts of its case, as a department sees it. The
/// case's `requests` and `events` are left empty.
#[derive(Debug, Clone)]
pub struct Assigned {
    pub request: DepartmentRequest,
    pub case: Case,
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
    /// The letters of a change could not be made; nothing was written.
    #[error("preparing the letters of a change")]
    Effects(#[source] anyhow::Error),
    #[error("migration failed")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// A letter the outbox will deliver, written in the same transaction as the
/// change that caused it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingMail {
    pub id: String,
    pub case_id: String,
    pub request_id: Option<String>,
    /// What caused it (`request_issued`, later reminders and notices).
    pub kind: String,
    /// With angle brackets, as in the header: resending keeps it.
    pub message_id: String,
    /// Envelope sender and recipients.
    pub sender: String,
    pub recipients: Vec<String>,
    pub subject: String,
    /// The whole RFC 5322 message, exactly as it will be sent.
    pub raw: Vec<u8>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MailStatus {
    /// Waiting for its first attempt or for its next retry.
    Pending,
    Sent,
    /// Refused for good, or out of attempts: an operator decides.
    Failed,
}

impl MailStatus {
    pub const ALL: [MailStatus; 3] = [Self::Pending, Self::Sent, Self::Failed];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
            Self::Sent => "SENT",
            Self::Failed => "FAILED",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|v| v.as_str().eq_ignore_ascii_case(s))
    }
}

/// A letter in the outbox, with its delivery record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedMail {
    pub mail: OutgoingMail,
    pub status: MailStatus,
    /// Attempts made so far.
    pub attempts: u32,
    pub next_attempt_at: DateTime<Utc>,
    /// The last failure as the transport described it; empty when none.
    pub last_error: String,
    pub sent_at: Option<DateTime<Utc>>,
}

/// What became of one delivery attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    Sent,
    Retry { at: DateTime<Utc>, error: String },
    Failed { error: String },
}

/// Sends one letter and says how it went; the store records the outcome in the
/// transaction that holds the letter.
pub type Deliver<'a> =
    dyn FnMut(QueuedMail) -> futures::future::BoxFuture<'a, Delivery> + Send + 'a;

/// The letters a change causes, computed from the case before (None for a new
/// case) and after it, once reference numbers are drawn and before commit.
pub type Effects<'a> =
    dyn Fn(Option<&Case>, &Case) -> anyhow::Result<Vec<OutgoingMail>> + Send + Sync + 'a;

/// The change a command makes to a loaded case. It may be called more than once
/// if the store retries after contention, always on a freshly loaded case.
pub type Change<'a> = dyn FnMut(&mut Case) -> Result<(), DomainError> + Send + 'a;

#[async_trait]
pub trait Store: Send + Sync + std::fmt::Debug {
    /// Applies the embedded migrations of this backend.
    async fn migrate(&self) -> Result<(), StoreError>;

    /// Inserts a newly opened case with its requests and events, drawing each
    /// request's reference number, and the letters `effects` makes of it, in one
    /// transaction. If the office already has a case under the same petition id,
    /// nothing is written and that case is returned.
    async fn insert_case(&self, case: Case, effects: &Effects<'_>) -> Result<Inserted, StoreError>;

    /// The whole case: requests with every reply, the timeline, the last feedback.
    async fn get_case(&self, case_id: &str) -> Result<Option<Case>, StoreError>;

    async fn case_id_for_request(&self, request_id: &str) -> Result<Option<String>, StoreError>;

    /// Loads the case under its lock, applies `change`, persists the difference
    /// and the letters `effects` makes of it, and commits, all in one transaction.
    /// Returns the case as committed. A missing case is `DomainError::NotFound`.
    async fn update_case(
        &self,
        case_id: &str,
        change: &mut Change<'_>,
        effects: &Effects<'_>,
    ) -> Result<Case, StoreError>;

    /// The ledger, newest case first; each case with its requests (and their
    /// replies) but without its timeline.
    async fn list_cases(
        &self,
        filter: &CaseFilter,
        page: &PageRequest,
    ) -> Result<Page<Case>, StoreError>;

    /// Requests with their case's facts, the earliest reply deadline first.
    async fn list_requests(
        &self,
        filter: &RequestFilter,
        page: &PageRequest,
    ) -> Result<Page<Assigned>, StoreError>;

    /// Takes the oldest letter due at `now`, hands it to `deliver` and records the
    /// outcome. On PostgreSQL the letter stays row-locked (`FOR UPDATE SKIP
    /// LOCKED`) while it is delivered, so concurrent workers take different
    /// letters; SQLite serves one instance and one worker. `None` when nothing is due.
    async fn deliver_next(
        &self,
        now: DateTime<Utc>,
        deliver: &mut Deliver<'_>,
    ) -> Result<Option<(QueuedMail, Delivery)>, StoreError>;

    /// The outbox, newest first, optionally one status.
    async fn list_mail(
        &self,
        status: Option<MailStatus>,
        page: &PageRequest,
    ) -> Result<Page<QueuedMail>, StoreError>;

    /// Puts a failed letter back in the queue, due at `now`, with fresh attempts.
    /// A letter that is not failed is `WrongState`; an unknown one `NotFound`.
    async fn retry_mail(&self, id: &str, now: DateTime<Utc>) -> Result<QueuedMail, StoreError>;

    /// Closes the pool, waiting for connections in use to be returned.
    async fn close(&self);
}

pub type DynStore = Arc<dyn Store>;

/// For changes that cause no letters (and for tests of the store itself).
pub fn no_mail(_: Option<&Case>, _: &Case) -> anyhow::Result<Vec<OutgoingMail>> {
    Ok(Vec::new())
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

/// Opens the store a database URL names: `sqlite:` (the file and its folder are
/// created) or `postgres:`/`postgresql:`. Does not migrate.
pub async fn connect(url: &str, options: &PoolOptions) -> Result<DynStore, StoreError> {
    if url.starts_with("sqlite:") {
        Ok(Arc::new(sqlite::SqliteStore::connect(url, options).await?))
    } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        Ok(Arc::new(postgres::PgStore::connect(url, options).await?))
    } else {
        Err(StoreError::Domain(DomainError::invalid(
            "database.url",
            "must start with sqlite: or postgres:",
        )))
    }
}
