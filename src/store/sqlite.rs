//! The SQLite backend: one database file (WAL), the embedded default. SQLite lets
//! one writer in at a time, so every write goes through a pool of exactly one
//! connection and starts with `BEGIN IMMEDIATE`: writers queue in the pool instead
//! of meeting "database is locked", and the write lock taken at `BEGIN` is the
//! case's lock. Reads use a separate pool and a read transaction, so a case is
//! always read whole from one snapshot. One instance per file.

use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{QueryBuilder, Sqlite};

use super::backend::{Backend, Db};
use super::sql::{SELECT_CASE, event_columns, returning_mail};
use super::{PoolOptions, StoreError};

impl Backend for Sqlite {
    /// Foreign keys are checked at commit in every write (the pragma lasts
    /// until the transaction ends): new requests are inserted last, after
    /// their numbers are drawn, so the rows that point at them arrive first.
    /// Said with the BEGIN, it costs the writer no round trip of its own.
    const BEGIN_WRITE: &'static str = "BEGIN IMMEDIATE; PRAGMA defer_foreign_keys = ON";
    const BEGIN_READ: &'static str = "BEGIN";
    const SELECT_CASE_FOR_WRITE: &'static str = SELECT_CASE;
    /// `INDEXED BY` because without statistics SQLite plans this on the status
    /// index and sorts every pending letter, bodies included, on each claim:
    /// 40 ms with a backlog of thousands instead of a few microseconds. One
    /// statement under the single writer's lock: no other claim sees the
    /// letters due in between.
    const CLAIM_MAIL: &'static str = concat!(
        "UPDATE outbox SET claimed_by = $1, lease_until = $4, attempts = attempts + 1 \
         WHERE id IN (SELECT id FROM outbox INDEXED BY outbox_due \
         WHERE status = 'PENDING' AND next_attempt_at <= $2 \
         AND (lease_until IS NULL OR lease_until <= $3) ORDER BY next_attempt_at, id LIMIT $5) \
         RETURNING ",
        returning_mail!()
    );
    const SELECT_NEXT_MAIL_DUE: &'static str = "SELECT next_attempt_at FROM outbox INDEXED BY outbox_due \
         WHERE status = 'PENDING' AND claimed_by IS NULL ORDER BY next_attempt_at LIMIT 1";
    const SELECT_CASE_FOR_WATCH: &'static str = SELECT_CASE;
    const SELECT_EVENTS_OF_CASE: &'static str = concat!(
        "SELECT ",
        event_columns!(),
        ", rowid AS feed_id FROM events WHERE case_id = $1 ORDER BY seq"
    );
    const RETURNING_EVENT_IDS: &'static str = " RETURNING seq, rowid";
    /// One writer at a time: rowids grow in commit order.
    const EVENT_ID: &'static str = "rowid";
    /// The write lock taken at BEGIN already keeps the job to one worker.
    const SELECT_JOB: &'static str = "SELECT cursor, next_run_at FROM jobs WHERE name = $1";
    /// One writer at a time: a committed alert is readable at once.
    const ALERTS_NOT_YET_READABLE: &'static str = "SELECT 0";
    const LOCK_PROBLEM: Option<&'static str> = None;
    const ONE_CALL: bool = true;

    /// Busy and locked (primary codes 5 and 6, whatever the extended code) mean
    /// another connection, perhaps another process, held the file longer than the
    /// timeout.
    fn map_err(e: sqlx::Error) -> StoreError {
        match &e {
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::WorkerCrashed => StoreError::Unavailable(e),
            sqlx::Error::Database(db) => {
                let code = db.code().and_then(|c| c.parse::<i32>().ok()).unwrap_or(0);
                match code & 0xff {
                    5 | 6 => StoreError::Contention(e),
                    // SQLITE_CANTOPEN, SQLITE_FULL, SQLITE_IOERR: the file, not the query.
                    14 | 13 | 10 => StoreError::Unavailable(e),
                    _ => StoreError::Database(e),
                }
            }
            _ => StoreError::Database(e),
        }
    }

    fn rows_affected(done: &Self::QueryResult) -> u64 {
        done.rows_affected()
    }

    /// SQLite has no array parameters: one bind per value.
    fn push_in(qb: &mut QueryBuilder<Sqlite>, column: &str, values: &[String]) {
        qb.push(column).push(" IN (");
        let mut list = qb.separated(", ");
        for v in values {
            list.push_bind(v.clone());
        }
        qb.push(")");
    }

    /// Rows are written one transaction at a time, so ids grow in commit order.
    fn push_feed_after(
        qb: &mut QueryBuilder<Sqlite>,
        _table: &str,
        alias: &str,
        id: &str,
        after: i64,
    ) {
        qb.push(format!("{alias}.{id} > ")).push_bind(after);
    }

    fn push_feed_order(qb: &mut QueryBuilder<Sqlite>, alias: &str, id: &str, descending: bool) {
        let way = if descending { " DESC" } else { "" };
        qb.push(format!(" ORDER BY {alias}.{id}{way}"));
    }
}

/// Opens (creating the file and its folder) a SQLite database.
pub async fn connect(url: &str, options: &PoolOptions) -> Result<Db<Sqlite>, StoreError> {
    open(url, options, true).await
}

/// Opens a SQLite database that must exist already: a backup of a mistyped
/// path would otherwise be a copy of an empty database it just created.
pub async fn connect_existing(url: &str, options: &PoolOptions) -> Result<Db<Sqlite>, StoreError> {
    open(url, options, false).await
}

async fn open(url: &str, options: &PoolOptions, create: bool) -> Result<Db<Sqlite>, StoreError> {
    let connect = SqliteConnectOptions::from_str(url)
        .map_err(Sqlite::map_err)?
        .create_if_missing(create)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(10));
    let file = connect.get_filename();
    if !create && !file.exists() {
        return Err(StoreError::Config(format!(
            "there is no database file {}",
            file.display()
        )));
    }
    if let Some(dir) = file.parent()
        && !dir.as_os_str().is_empty()
    {
        std::fs::create_dir_all(dir).map_err(|e| StoreError::Unavailable(sqlx::Error::Io(e)))?;
    }
    // The writer opens (and so creates) the file before any reader looks for it.
    // No ping before each use: the connections are in this process, and a
    // ping is a round trip to the connection's thread while the one writer
    // is held.
    let writer = SqlitePoolOptions::new()
        .test_before_acquire(false)
        .max_connections(1)
        .acquire_timeout(options.acquire_timeout)
        .connect_with(connect.clone())
        .await
        .map_err(Sqlite::map_err)?;
    let reader = SqlitePoolOptions::new()
        .test_before_acquire(false)
        .max_connections(options.max_connections.max(1))
        .acquire_timeout(options.acquire_timeout)
        .connect_with(connect)
        .await
        .map_err(Sqlite::map_err)?;
    Ok(Db::new(writer, reader))
}
