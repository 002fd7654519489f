//! Jobs: work that runs on a schedule or follows a feed, done once however
//! many instances run it. A job's row says how far it has read (`cursor`) and
//! when it runs next; a worker claims the row for the length of its
//! transaction (PostgreSQL: `FOR UPDATE SKIP LOCKED`, so another instance moves
//! on instead of waiting), writes what the job produced, and moves the row on
//! in the same commit.

use chrono::{DateTime, Utc};
use sqlx::{Encode, Executor, FromRow, IntoArguments, QueryBuilder, Type};

use super::backend::{Backend, Tx};
use super::rows::{MailRow, millis};
use super::sql::{bind_mail, mail_columns};
use super::{OutgoingMail, StoreError};

/// Where a job has got to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Job {
    /// The last id of its feed it has dealt with (0: none yet).
    pub cursor: i64,
    /// When it must run next; `None` before its first run.
    pub next_run_at: Option<DateTime<Utc>>,
}

impl<DB> Tx<DB>
where
    DB: Backend,
    DB::Arguments: IntoArguments<DB> + Default,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'t> &'t str: Encode<'t, DB> + Type<DB>,
    for<'t> &'t String: Encode<'t, DB> + Type<DB>,
    for<'t> &'t Option<String>: Encode<'t, DB> + Type<DB>,
    for<'t> &'t Vec<u8>: Encode<'t, DB> + Type<DB>,
    for<'t> i32: Encode<'t, DB> + Type<DB>,
    for<'t> i64: Encode<'t, DB> + Type<DB>,
    for<'t> Option<i64>: Encode<'t, DB> + Type<DB>,
    for<'r> (i64, Option<i64>): FromRow<'r, DB::Row>,
{
    /// The job's row, held until this transaction ends; `None` while another
    /// transaction holds it.
    pub(super) async fn claim_job(&mut self, name: &str) -> Result<Option<Job>, StoreError> {
        sqlx::query::<DB>(
            "INSERT INTO jobs (name, cursor) VALUES ($1, 0) ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .execute(&mut *self.0)
        .await
        .map_err(DB::map_err)?;
        let row: Option<(i64, Option<i64>)> =
            sqlx::query_as::<DB, (i64, Option<i64>)>(DB::SELECT_JOB)
                .bind(name)
                .fetch_optional(&mut *self.0)
                .await
                .map_err(DB::map_err)?;
        Ok(row.map(|(cursor, next)| Job {
            cursor,
            next_run_at: next.and_then(DateTime::from_timestamp_millis),
        }))
    }

    pub(super) async fn finish_job(&mut self, name: &str, job: &Job) -> Result<(), StoreError> {
        sqlx::query::<DB>("UPDATE jobs SET cursor = $2, next_run_at = $3 WHERE name = $1")
            .bind(name)
            .bind(job.cursor)
            .bind(job.next_run_at.map(millis))
            .execute(&mut *self.0)
            .await
            .map_err(DB::map_err)?;
        Ok(())
    }

    /// Letters a job wrote, delivered by the outbox like any other.
    pub(super) async fn queue_mail(&mut self, mail: &[OutgoingMail]) -> Result<(), StoreError> {
        if mail.is_empty() {
            return Ok(());
        }
        let rows: Vec<MailRow> = mail.iter().map(MailRow::new).collect();
        let mut q = QueryBuilder::<DB>::new(concat!("INSERT INTO outbox (", mail_columns!(), ") "));
        q.push_values(&rows, |mut b, m| {
            bind_mail!(b, m, push_bind);
        });
        q.build().execute(&mut *self.0).await.map_err(DB::map_err)?;
        Ok(())
    }
}
