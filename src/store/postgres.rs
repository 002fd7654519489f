//! The PostgreSQL backend, for production with several instances sharing one
//! database. Commands run at READ COMMITTED and take the case's row lock first
//! (`SELECT … FOR UPDATE`), so two commands on one case run one after the other;
//! reference counters are rows locked by their UPSERT until commit, which keeps
//! numbers gapless across instances. Reads run in a REPEATABLE READ, READ ONLY
//! transaction so that the several queries of one answer see one snapshot.
//!
//! The statements, row shapes and diffing are shared with SQLite (`sqlite::common`);
//! what is here is only what PostgreSQL does differently: locking, arrays, errors.

use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::{Postgres, Transaction};

use super::common::*;
use super::exec;
use super::*;

#[derive(Debug)]
pub struct PgStore {
    pool: PgPool,
}

const SELECT_CASE_FOR_UPDATE: &str = concat!(
    "SELECT ",
    case_columns!(),
    " FROM cases WHERE id = $1 FOR UPDATE"
);
const SELECT_REQUESTS_OF_CASES: &str = concat!(
    "SELECT ",
    request_columns!(),
    " FROM requests WHERE case_id = ANY($1) ORDER BY case_id, position"
);
const SELECT_REPLIES_OF_CASES: &str = concat!(
    replies_joined!(),
    "WHERE r.case_id = ANY($1) ORDER BY p.request_id, p.round"
);
/// SKIP LOCKED: another instance is sending that letter; take the next one.
const SELECT_DUE_MAIL_LOCKED: &str = concat!(
    "SELECT ",
    mail_columns!(),
    " FROM outbox WHERE status = 'PENDING' AND next_attempt_at <= $1 ORDER BY next_attempt_at, id LIMIT 1 FOR UPDATE SKIP LOCKED"
);
const SELECT_CASES: &str = concat!("SELECT ", case_columns!(), " FROM cases WHERE id = ANY($1)");
const SELECT_REPLIES_OF_REQUESTS: &str = concat!(
    "SELECT ",
    reply_columns!(),
    " FROM replies WHERE request_id = ANY($1) ORDER BY request_id, round"
);

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
            Some(code) if code.starts_with("08") || code.starts_with("57P0") || code == "53300" => {
                StoreError::Unavailable(e)
            }
            _ => StoreError::Database(e),
        },
        _ => StoreError::Database(e),
    }
}

impl PgStore {
    pub async fn connect(url: &str, options: &PoolOptions) -> Result<Self, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections.max(1))
            .acquire_timeout(options.acquire_timeout)
            .connect(url)
            .await
            .map_err(map_err)?;
        Ok(Self { pool })
    }

    async fn begin_write(&self) -> Result<Transaction<'static, Postgres>, StoreError> {
        self.pool.begin().await.map_err(map_err)
    }

    async fn begin_read(&self) -> Result<Transaction<'static, Postgres>, StoreError> {
        self.pool
            .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .await
            .map_err(map_err)
    }
}

#[async_trait]
impl Store for PgStore {
    async fn migrate(&self) -> Result<(), StoreError> {
        sqlx::migrate!("migrations/postgres")
            .run(&self.pool)
            .await?;
        Ok(())
    }

    async fn insert_case(&self, case: Case, effects: &Effects<'_>) -> Result<Inserted, StoreError> {
        exec::insert_case(self.begin_write().await?, case, effects, map_err).await
    }

    async fn get_case(&self, case_id: &str) -> Result<Option<Case>, StoreError> {
        let mut tx = self.begin_read().await?;
        let case = exec::get::<Postgres>(&mut tx, SELECT_CASE, case_id, map_err).await?;
        tx.rollback().await.map_err(map_err)?;
        Ok(case)
    }

    async fn case_id_for_request(&self, request_id: &str) -> Result<Option<String>, StoreError> {
        sqlx::query_scalar(SELECT_CASE_ID_OF_REQUEST)
            .bind(request_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(map_err)
    }

    async fn update_case(
        &self,
        case_id: &str,
        change: &mut Change<'_>,
        effects: &Effects<'_>,
    ) -> Result<Case, StoreError> {
        // FOR UPDATE holds the case's row until commit: racing commands queue.
        let tx = self.begin_write().await?;
        exec::update_case(
            tx,
            SELECT_CASE_FOR_UPDATE,
            case_id,
            change,
            effects,
            map_err,
        )
        .await
    }

    async fn list_cases(
        &self,
        filter: &CaseFilter,
        page: &PageRequest,
    ) -> Result<Page<Case>, StoreError> {
        let after = case_cursor(page.after.as_deref())?;
        let mut tx = self.begin_read().await?;
        let rows = case_page_query::<Postgres>(filter, after, page.size)
            .build_query_as::<CaseRow>()
            .fetch_all(&mut *tx)
            .await
            .map_err(map_err)?;
        let (rows, next) = split_page(rows, page.size, next_case_cursor);
        let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
        let requests = sqlx::query_as::<_, RequestRow>(SELECT_REQUESTS_OF_CASES)
            .bind(&ids)
            .fetch_all(&mut *tx)
            .await
            .map_err(map_err)?;
        let replies = sqlx::query_as::<_, ReplyRow>(SELECT_REPLIES_OF_CASES)
            .bind(&ids)
            .fetch_all(&mut *tx)
            .await
            .map_err(map_err)?;
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
        let rows = request_page_query::<Postgres>(filter, after, page.size)
            .build_query_as::<RequestRow>()
            .fetch_all(&mut *tx)
            .await
            .map_err(map_err)?;
        let (rows, next) = split_page(rows, page.size, next_request_cursor);
        let mut case_ids: Vec<String> = rows.iter().map(|r| r.case_id.clone()).collect();
        case_ids.sort();
        case_ids.dedup();
        let request_ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
        let cases = sqlx::query_as::<_, CaseRow>(SELECT_CASES)
            .bind(&case_ids)
            .fetch_all(&mut *tx)
            .await
            .map_err(map_err)?;
        let replies = sqlx::query_as::<_, ReplyRow>(SELECT_REPLIES_OF_REQUESTS)
            .bind(&request_ids)
            .fetch_all(&mut *tx)
            .await
            .map_err(map_err)?;
        tx.rollback().await.map_err(map_err)?;
        Ok(Page {
            items: assemble_assigned(rows, cases, replies)?,
            next,
        })
    }

    /// The letter's row lock is held while it is sent, so other instances skip it;
    /// if this one dies mid-send the lock goes with its connection and the letter is
    /// sent again, with the same Message-ID.
    async fn deliver_next(
        &self,
        now: DateTime<Utc>,
        deliver: &mut Deliver<'_>,
    ) -> Result<Option<(QueuedMail, Delivery)>, StoreError> {
        let mut tx = self.begin_write().await?;
        let row = sqlx::query_as::<_, MailRow>(SELECT_DUE_MAIL_LOCKED)
            .bind(millis(now))
            .fetch_optional(&mut *tx)
            .await
            .map_err(map_err)?;
        let Some(row) = row else {
            tx.rollback().await.map_err(map_err)?;
            return Ok(None);
        };
        let mail = row.into_queued()?;
        let outcome = deliver(mail.clone()).await;
        exec::record_delivery::<Postgres>(&mut tx, &mail, &outcome, now, map_err).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(Some((mail, outcome)))
    }

    async fn list_mail(
        &self,
        status: Option<MailStatus>,
        page: &PageRequest,
    ) -> Result<Page<QueuedMail>, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(map_err)?;
        exec::list_mail::<Postgres>(&mut conn, status, page, map_err).await
    }

    async fn retry_mail(&self, id: &str, now: DateTime<Utc>) -> Result<QueuedMail, StoreError> {
        exec::retry_mail(self.begin_write().await?, id, now, map_err).await
    }

    async fn close(&self) {
        self.pool.close().await;
    }
}
