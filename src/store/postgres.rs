//! The PostgreSQL backend, for production with several instances sharing one
//! database. Commands run at READ COMMITTED and take the case's row lock first
//! (`SELECT … FOR UPDATE`), so two commands on one case run one after the other;
//! reference counters are rows locked by their UPSERT until commit, which keeps
//! numbers gapless across instances. Reads run in a REPEATABLE READ, READ ONLY
//! transaction so that the several queries of one answer see one snapshot.

use std::str::FromStr;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, Postgres, QueryBuilder};

use super::backend::{Backend, Db};
use super::sql::{case_columns, event_columns, returning_mail};
use super::{PoolOptions, StoreError};

impl Backend for Postgres {
    const BEGIN_WRITE: &'static str = "BEGIN";
    const BEGIN_READ: &'static str = "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY";
    const SELECT_CASE_FOR_WRITE: &'static str = concat!(
        "SELECT ",
        case_columns!(),
        " FROM cases WHERE id = $1 FOR UPDATE"
    );
    /// SKIP LOCKED: another worker is claiming those rows; take the next ones.
    /// A row claimed meanwhile is checked again once its claim commits, and
    /// is leased by then.
    const CLAIM_MAIL: &'static str = concat!(
        "UPDATE outbox SET claimed_by = $1, lease_until = $4, attempts = attempts + 1 \
         WHERE id IN (SELECT id FROM outbox \
         WHERE status = 'PENDING' AND next_attempt_at <= $2 \
         AND (lease_until IS NULL OR lease_until <= $3) ORDER BY next_attempt_at, id LIMIT $5 \
         FOR UPDATE SKIP LOCKED) RETURNING ",
        returning_mail!()
    );
    const SELECT_NEXT_MAIL_DUE: &'static str = "SELECT next_attempt_at FROM outbox \
         WHERE status = 'PENDING' AND claimed_by IS NULL ORDER BY next_attempt_at LIMIT 1";
    const SELECT_CASE_FOR_WATCH: &'static str = concat!(
        "SELECT ",
        case_columns!(),
        " FROM cases WHERE id = $1 FOR UPDATE SKIP LOCKED"
    );
    const SELECT_EVENTS_OF_CASE: &'static str = concat!(
        "SELECT ",
        event_columns!(),
        ", feed_id FROM events WHERE case_id = $1 ORDER BY seq"
    );
    const RETURNING_EVENT_IDS: &'static str = " RETURNING seq, feed_id";
    const EVENT_ID: &'static str = "feed_id";
    const SELECT_JOB: &'static str =
        "SELECT cursor, next_run_at FROM jobs WHERE name = $1 FOR UPDATE SKIP LOCKED";
    const ALERTS_NOT_YET_READABLE: &'static str = "SELECT COUNT(*) FROM (SELECT 1 FROM alerts \
         WHERE tx >= pg_snapshot_xmin(pg_current_snapshot())::text::bigint LIMIT 1) late";
    const LOCK_PROBLEM: Option<&'static str> =
        Some("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))");
    const ONE_CALL: bool = false;

    /// SQLSTATE classes: 08 connection exceptions, 57P0x shutdowns, 53300 too many
    /// connections are the server's state, worth a retry elsewhere or later; 40001
    /// serialization failure, 40P01 deadlock and 55P03 lock timeout are lost races.
    fn map_err(e: sqlx::Error) -> StoreError {
        match &e {
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::WorkerCrashed => StoreError::Unavailable(e),
            sqlx::Error::Database(db) => match db.code().as_deref() {
                Some("40001" | "40P01" | "55P03") => StoreError::Contention(e),
                Some(code)
                    if code.starts_with("08") || code.starts_with("57P0") || code == "53300" =>
                {
                    StoreError::Unavailable(e)
                }
                _ => StoreError::Database(e),
            },
            _ => StoreError::Database(e),
        }
    }

    fn rows_affected(done: &Self::QueryResult) -> u64 {
        done.rows_affected()
    }

    /// One array parameter, whatever the number of values.
    fn push_in(qb: &mut QueryBuilder<Postgres>, column: &str, values: &[String]) {
        qb.push(column)
            .push(" = ANY(")
            .push_bind(values.to_vec())
            .push(")");
    }

    /// Ids come from a sequence in insert order, and a transaction that took a
    /// lower id may commit after one that took a higher: rows are read in the
    /// order of their writing transactions' ids, and only from transactions
    /// older than every transaction still running, which can no longer change.
    fn push_feed_after(
        qb: &mut QueryBuilder<Postgres>,
        table: &str,
        alias: &str,
        id: &str,
        after: i64,
    ) {
        qb.push(format!(
            "({alias}.tx, {alias}.{id}) > (COALESCE((SELECT tx FROM {table} WHERE {id} = "
        ))
        .push_bind(after)
        .push("), 0), ")
        .push_bind(after)
        .push(format!(
            ") AND {alias}.tx < pg_snapshot_xmin(pg_current_snapshot())::text::bigint"
        ));
    }

    fn push_feed_order(qb: &mut QueryBuilder<Postgres>, alias: &str, id: &str, descending: bool) {
        let way = if descending { " DESC" } else { "" };
        qb.push(format!(" ORDER BY {alias}.tx{way}, {alias}.{id}{way}"));
    }
}

/// Connects to a PostgreSQL database; one pool serves reads and writes.
pub async fn connect(url: &str, options: &PoolOptions) -> Result<Db<Postgres>, StoreError> {
    let connect = PgConnectOptions::from_str(url).map_err(Postgres::map_err)?;
    // One connection first, outside the pool: the pool retries until its
    // timeout and then says only "pool timed out", where this says at once why
    // (refused, authentication failed, no such database).
    connect
        .connect()
        .await
        .map_err(Postgres::map_err)?
        .close()
        .await
        .map_err(Postgres::map_err)?;
    let pool = PgPoolOptions::new()
        .max_connections(options.max_connections.max(1))
        .acquire_timeout(options.acquire_timeout)
        .connect_with(connect)
        .await
        .map_err(Postgres::map_err)?;
    Ok(Db::new(pool.clone(), pool))
}
