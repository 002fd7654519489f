//! What differs between SQLite and PostgreSQL, and nothing else: how write and
//! read transactions begin, the statements that lock (a case for a change, a
//! batch of due letters for delivery), how a list of values is bound, how a
//! write's inserts are sent together (`ONE_CALL`), and which errors
//! mean "unavailable" or "lost a race". The repositories (`cases`, `outbox`) are
//! written once over this trait; `Store` picks the backend at run time.

use std::time::Instant;

use sqlx::{Database, Pool, QueryBuilder, Transaction};

use super::StoreError;

pub trait Backend: Database {
    /// How a write transaction begins. SQLite takes the write lock at once
    /// (`BEGIN IMMEDIATE`), so writers queue instead of failing mid-way. Its
    /// foreign keys are checked at commit: new requests are inserted last
    /// (after their numbers are drawn), so the rows that point at them come
    /// first. PostgreSQL's constraints are declared deferred instead.
    const BEGIN_WRITE: &'static str;
    /// A read that spans several statements sees one snapshot.
    const BEGIN_READ: &'static str;
    /// Loads a case row for a change and holds it until the transaction ends
    /// (`FOR UPDATE`); on SQLite the write lock taken at `BEGIN` is the lock.
    const SELECT_CASE_FOR_WRITE: &'static str;
    /// Claims up to `$5` letters, oldest first, for worker `$1`: due at `$2`
    /// and held by no lease at `$3`, leased until `$4`, an attempt counted. Returns them whole, with
    /// their references. Two workers never claim one letter: PostgreSQL skips
    /// the rows another claim holds (`FOR UPDATE SKIP LOCKED`); SQLite has one
    /// writer, and the claim is a single statement.
    const CLAIM_MAIL: &'static str;
    /// When the next pending letter nobody holds is due, read by index.
    const SELECT_NEXT_MAIL_DUE: &'static str;
    /// Loads a case row for the watch, skipping it (no row) while another
    /// transaction holds it: the watch comes back to it at its next look.
    const SELECT_CASE_FOR_WATCH: &'static str;
    /// A case's timeline with each event's stream position (`feed_id`).
    const SELECT_EVENTS_OF_CASE: &'static str;
    /// Appended to the INSERT of events: returns each event's `seq` and its
    /// stream position.
    const RETURNING_EVENT_IDS: &'static str;
    /// The column that holds an event's stream position.
    const EVENT_ID: &'static str;
    /// A job's row, held for the transaction; skipped while another holds it.
    const SELECT_JOB: &'static str;
    /// A count (0 or 1) of alerts committed but not yet readable in feed order: a
    /// transaction that began earlier, anywhere on the server, still runs.
    const ALERTS_NOT_YET_READABLE: &'static str;
    /// Holds one problem (`$1`: its office, category and community) for the
    /// transaction, so that two petitions of it arriving at once are compared
    /// one after the other and the second joins the first's case. PostgreSQL
    /// takes a transaction-level advisory lock on the key's hash (a collision
    /// only queues two unrelated problems); SQLite's one writer already
    /// queues them.
    const LOCK_PROBLEM: Option<&'static str>;
    /// Whether a write sends its inserts together, as one call of several
    /// statements (`batch::Inserts`). SQLite binds arguments in order
    /// across the statements of a call, and each call is a round trip to
    /// the connection's own thread while the one writer is held; PostgreSQL
    /// prepares one statement per call.
    const ONE_CALL: bool;

    fn map_err(e: sqlx::Error) -> StoreError;

    /// How many rows a statement changed (each backend's result has its own type).
    fn rows_affected(done: &Self::QueryResult) -> u64;

    /// Appends `column` matching any of `values` (`IN (…)` or `= ANY($n)`).
    fn push_in(qb: &mut QueryBuilder<Self>, column: &str, values: &[String]);

    /// Appends "the rows of `table` (as `alias`) after the row whose `id` is
    /// `after`, in the order their transactions committed, none of them from a
    /// transaction still running", and the matching ORDER BY must follow from
    /// `push_feed_order`. A stream that reads this way never skips a row that
    /// commits late.
    fn push_feed_after(qb: &mut QueryBuilder<Self>, table: &str, alias: &str, id: &str, after: i64);

    /// Feed order, or its reverse (`descending`) to find the feed's last row.
    fn push_feed_order(qb: &mut QueryBuilder<Self>, alias: &str, id: &str, descending: bool);
}

/// A connection-level error as the store reports it, whatever the backend:
/// what `ping` meets is a pool that cannot connect.
pub(super) fn map_any_err(e: sqlx::Error) -> StoreError {
    match e {
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
            StoreError::Unavailable(e)
        }
        other => StoreError::Database(other),
    }
}

/// One backend's pools. PostgreSQL uses one pool for both; SQLite writes
/// through exactly one connection and reads through the others.
pub struct Db<DB: Database> {
    pub(super) writer: Pool<DB>,
    pub(super) reader: Pool<DB>,
}

impl<DB: Database> Clone for Db<DB> {
    fn clone(&self) -> Self {
        Self {
            writer: self.writer.clone(),
            reader: self.reader.clone(),
        }
    }
}

impl<DB: Database> std::fmt::Debug for Db<DB> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Db<{}>", DB::NAME)
    }
}

impl<DB: Backend> Db<DB> {
    pub(super) fn new(writer: Pool<DB>, reader: Pool<DB>) -> Self {
        Self { writer, reader }
    }

    /// A write transaction's span runs from the wait for the lock to the
    /// commit or the rollback, when the transaction is dropped.
    pub(super) async fn begin_write(&self) -> Result<Tx<DB>, StoreError> {
        let span = if crate::telemetry::exporting() {
            tracing::info_span!(target: crate::telemetry::TRACE_ONLY, "db.transaction", db.system = DB::NAME)
        } else {
            tracing::Span::none()
        };
        let asked = Instant::now();
        let tx = self
            .writer
            .begin_with(DB::BEGIN_WRITE)
            .await
            .map_err(DB::map_err)?;
        let begun = Instant::now();
        ::metrics::histogram!(crate::metrics::DB_WRITE_WAIT)
            .record(begun.duration_since(asked).as_secs_f64());
        Ok(Tx(tx, span, Some(Held(begun))))
    }

    pub(super) async fn begin_read(&self) -> Result<Tx<DB>, StoreError> {
        self.reader
            .begin_with(DB::BEGIN_READ)
            .await
            .map(|tx| Tx(tx, tracing::Span::none(), None))
            .map_err(DB::map_err)
    }

    pub(super) async fn close(&self) {
        self.writer.close().await;
        self.reader.close().await;
    }
}

/// A transaction on one backend; the repositories add their statements to it.
pub struct Tx<DB: Database>(
    pub(super) Transaction<'static, DB>,
    /// The transaction's span in a trace (none for reads).
    #[expect(dead_code, reason = "held, not read: its drop ends the span")]
    tracing::Span,
    /// For a write, when it began: its drop, after the commit or the
    /// rollback, records how long the writer was held.
    #[expect(dead_code, reason = "held, not read: its drop records the hold")]
    Option<Held>,
);

/// The moment a write transaction began; dropped with the transaction.
pub(super) struct Held(Instant);

impl Drop for Held {
    fn drop(&mut self) {
        ::metrics::histogram!(crate::metrics::DB_WRITE_HELD).record(self.0.elapsed().as_secs_f64());
    }
}

impl<DB: Database> std::fmt::Debug for Tx<DB> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Tx<{}>", DB::NAME)
    }
}

impl<DB: Backend> Tx<DB> {
    pub(super) async fn commit(self) -> Result<(), StoreError> {
        self.0.commit().await.map_err(DB::map_err)
    }

    pub(super) async fn rollback(self) -> Result<(), StoreError> {
        self.0.rollback().await.map_err(DB::map_err)
    }
}
