//! The SQLite backend: one database file (WAL), the embedded default. SQLite lets
//! one writer in at a time, so every write goes through a pool of exactly one
//! connection and starts with `BEGIN IMMEDIATE`: writers queue in the pool instead
//! of meeting "database is locked", and the write lock taken at `BEGIN` is the
//! case's lock for `update_case`. Reads use a separate pool and a read transaction,
//! so a case is always read whole from one snapshot.

use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteSynchronous,
};
use sqlx::{QueryBuilder, Sqlite, Transaction};

use super::common::*;
use super::exec;
use super::*;

/// Oldest due first. `INDEXED BY` because without statistics SQLite plans this on
/// the status index and sorts every pending letter, bodies included, on each
/// delivery: 40 ms with a backlog of thousands instead of a few microseconds.
const SELECT_DUE_MAIL: &str = concat!(
    "SELECT ",
    mail_columns!(),
    " FROM outbox INDEXED BY outbox_due WHERE status = 'PENDING' AND next_attempt_at <= $1 \
     ORDER BY next_attempt_at, id LIMIT 1"
);

#[derive(Debug)]
pub struct SqliteStore {
    writer: SqlitePool,
    reader: SqlitePool,
    /// One delivery at a time: a letter is read without a lock, so two workers of
    /// this process must not pick the same one.
    delivering: tokio::sync::Mutex<()>,
}

/// Busy and locked (primary codes 5 and 6, whatever the extended code) mean another
/// connection, perhaps another process, held the file longer than the timeout.
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

impl SqliteStore {
    pub async fn connect(url: &str, options: &PoolOptions) -> Result<Self, StoreError> {
        let connect = SqliteConnectOptions::from_str(url)
            .map_err(map_err)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        if let Some(dir) = connect.get_filename().parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir)
                .map_err(|e| StoreError::Unavailable(sqlx::Error::Io(e)))?;
        }
        // The writer opens (and so creates) the file before any reader looks for it.
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(options.acquire_timeout)
            .connect_with(connect.clone())
            .await
            .map_err(map_err)?;
        let reader = SqlitePoolOptions::new()
            .max_connections(options.max_connections.max(1))
            .acquire_timeout(options.acquire_timeout)
            .connect_with(connect)
            .await
            .map_err(map_err)?;
        Ok(Self {
            writer,
            reader,
            delivering: tokio::sync::Mutex::new(()),
        })
    }

    async fn begin_write(&self) -> Result<Transaction<'static, Sqlite>, StoreError> {
        self.writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(map_err)
    }

    async fn begin_read(&self) -> Result<Transaction<'static, Sqlite>, StoreError> {
        self.reader.begin().await.map_err(map_err)
    }
}

/// `(…, …)` of binds for an `IN`; SQLite has no array parameters.
fn push_in_list(qb: &mut QueryBuilder<Sqlite>, values: &[String]) {
    qb.push("(");
    let mut list = qb.separated(", ");
    for v in values {
        list.push_bind(v.clone());
    }
    qb.push(")");
}

async fn requests_and_replies_of_cases(
    conn: &mut SqliteConnection,
    case_ids: &[String],
) -> Result<(Vec<RequestRow>, Vec<ReplyRow>), StoreError> {
    if case_ids.is_empty() {
        return Ok((Vec::new(), Vec::new()));
    }
    let mut qb = QueryBuilder::<Sqlite>::new(concat!(
        "SELECT ",
        request_columns!(),
        " FROM requests WHERE case_id IN "
    ));
    push_in_list(&mut qb, case_ids);
    qb.push(" ORDER BY case_id, position");
    let requests = qb
        .build_query_as::<RequestRow>()
        .fetch_all(&mut *conn)
        .await
        .map_err(map_err)?;
    let mut qb = QueryBuilder::<Sqlite>::new(concat!(replies_joined!(), "WHERE r.case_id IN "));
    push_in_list(&mut qb, case_ids);
    qb.push(" ORDER BY p.request_id, p.round");
    let replies = qb
        .build_query_as::<ReplyRow>()
        .fetch_all(&mut *conn)
        .await
        .map_err(map_err)?;
    Ok((requests, replies))
}

#[async_trait]
impl Store for SqliteStore {
    async fn migrate(&self) -> Result<(), StoreError> {
        sqlx::migrate!("migrations/sqlite")
            .run(&self.writer)
            .await?;
        Ok(())
    }

    async fn insert_case(&self, case: Case, effects: &Effects<'_>) -> Result<Inserted, StoreError> {
        exec::insert_case(self.begin_write().await?, case, effects, map_err).await
    }

    async fn get_case(&self, case_id: &str) -> Result<Option<Case>, StoreError> {
        let mut tx = self.begin_read().await?;
        let case = exec::get::<Sqlite>(&mut tx, SELECT_CASE, case_id, map_err).await?;
        tx.rollback().await.map_err(map_err)?;
        Ok(case)
    }

    async fn case_id_for_request(&self, request_id: &str) -> Result<Option<String>, StoreError> {
        sqlx::query_scalar(SELECT_CASE_ID_OF_REQUEST)
            .bind(request_id)
            .fetch_optional(&self.reader)
            .await
            .map_err(map_err)
    }

    async fn update_case(
        &self,
        case_id: &str,
        change: &mut Change<'_>,
        effects: &Effects<'_>,
    ) -> Result<Case, StoreError> {
        // BEGIN IMMEDIATE has taken the write lock: nobody changes the case until commit.
        let tx = self.begin_write().await?;
        exec::update_case(tx, SELECT_CASE, case_id, change, effects, map_err).await
    }

    async fn list_cases(
        &self,
        filter: &CaseFilter,
        page: &PageRequest,
    ) -> Result<Page<Case>, StoreError> {
        let after = case_cursor(page.after.as_deref())?;
        let mut tx = self.begin_read().await?;
        let rows = case_page_query::<Sqlite>(filter, after, page.size)
            .build_query_as::<CaseRow>()
            .fetch_all(&mut *tx)
            .await
            .map_err(map_err)?;
        let (rows, next) = split_page(rows, page.size, next_case_cursor);
        let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
        let (requests, replies) = requests_and_replies_of_cases(&mut tx, &ids).await?;
        tx.rollback().await.map_err(map_err)?;
        Ok(Page {
            items: assemble_page(rows, requests, replies)?,
            next,
        })
    }

    async fn list_requests(
        &self,
        filter: &RequestFilter,
        page: &PageRequest,
    ) -> Result<Page<Assigned>, StoreError> {
        let after = request_cursor(page.after.as_deref())?;
        let mut tx = self.begin_read().await?;
        let rows = request_page_query::<Sqlite>(filter, after, page.size)
            .build_query_as::<RequestRow>()
            .fetch_all(&mut *tx)
            .await
            .map_err(map_err)?;
        let (rows, next) = split_page(rows, page.size, next_request_cursor);
        let (cases, replies) = if rows.is_empty() {
            (Vec::new(), Vec::new())
        } else {
            let mut case_ids: Vec<String> = rows.iter().map(|r| r.case_id.clone()).collect();
            case_ids.sort();
            case_ids.dedup();
            let mut qb = QueryBuilder::<Sqlite>::new(concat!(
                "SELECT ",
                case_columns!(),
                " FROM cases WHERE id IN "
            ));
            push_in_list(&mut qb, &case_ids);
            let cases = qb
                .build_query_as::<CaseRow>()
                .fetch_all(&mut *tx)
                .await
                .map_err(map_err)?;
            let request_ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
            let mut qb = QueryBuilder::<Sqlite>::new(concat!(
                "SELECT ",
                reply_columns!(),
                " FROM replies WHERE request_id IN "
            ));
            push_in_list(&mut qb, &request_ids);
            qb.push(" ORDER BY request_id, round");
            let replies = qb
                .build_query_as::<ReplyRow>()
                .fetch_all(&mut *tx)
                .await
                .map_err(map_err)?;
            (cases, replies)
        };
        tx.rollback().await.map_err(map_err)?;
        Ok(Page {
            items: assemble_assigned(rows, cases, replies)?,
            next,
        })
    }

    /// One instance per SQLite file: the letter is read without a lock (holding the
    /// write lock through an SMTP conversation would stall every command), workers
    /// of this process take turns, and the outcome is recorded only if the letter
    /// is still pending.
    async fn deliver_next(
        &self,
        now: DateTime<Utc>,
        deliver: &mut Deliver<'_>,
    ) -> Result<Option<(QueuedMail, Delivery)>, StoreError> {
        let _turn = self.delivering.lock().await;
        let row = sqlx::query_as::<_, MailRow>(SELECT_DUE_MAIL)
            .bind(millis(now))
            .fetch_optional(&self.reader)
            .await
            .map_err(map_err)?;
        let Some(row) = row else { return Ok(None) };
        let mail = row.into_queued()?;
        let outcome = deliver(mail.clone()).await;
        let mut tx = self.begin_write().await?;
        exec::record_delivery::<Sqlite>(&mut tx, &mail, &outcome, now, map_err).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(Some((mail, outcome)))
    }

    async fn list_mail(
        &self,
        status: Option<MailStatus>,
        page: &PageRequest,
    ) -> Result<Page<QueuedMail>, StoreError> {
        let mut conn = self.reader.acquire().await.map_err(map_err)?;
        exec::list_mail::<Sqlite>(&mut conn, status, page, map_err).await
    }

    async fn retry_mail(&self, id: &str, now: DateTime<Utc>) -> Result<QueuedMail, StoreError> {
        exec::retry_mail(self.begin_write().await?, id, now, map_err).await
    }

    async fn close(&self) {
        self.writer.close().await;
        self.reader.close().await;
    }
}
