//! Webhook endpoints: how far along its feed each endpoint has been
//! delivered. The feed (events, or alerts) is the queue; an endpoint's row
//! holds its cursor, its run of failures and whether it is paused. A worker
//! claims an active, due endpoint for a lease (`claim_webhook`), posts the
//! events after its cursor one at a time outside any transaction, and moves
//! the cursor after each one the endpoint took (`webhook_delivered`), so a
//! worker that dies sends the last event again (at least once, same id) and
//! never skips one. Written once over `Backend`.

use chrono::{DateTime, Utc};
use sqlx::{Encode, Executor, FromRow, IntoArguments, Type};

use super::backend::{Backend, Tx};
use super::rows::millis;
use super::{Store, StoreError};

/// An endpoint claimed for delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClaimedEndpoint {
    /// The last event (or alert) it took.
    pub cursor: i64,
    /// Failed attempts in a row before this claim.
    pub failures: u32,
}

/// An endpoint as the operator reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointState {
    pub name: String,
    pub cursor: i64,
    pub paused: bool,
    pub failures: u32,
    pub next_attempt_at: DateTime<Utc>,
    pub last_error: Option<String>,
    pub delivered_at: Option<DateTime<Utc>>,
}

/// What a failed attempt leaves the endpoint as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebhookFailure {
    /// Tried again at this moment.
    Retry { at: DateTime<Utc>, error: String },
    /// Paused until an operator resumes it.
    Pause { error: String },
}

#[derive(Debug, FromRow)]
pub struct EndpointRow {
    name: String,
    cursor: i64,
    status: String,
    failures: i32,
    next_attempt_at: i64,
    last_error: Option<String>,
    delivered_at: Option<i64>,
}

impl EndpointRow {
    fn into_state(self) -> EndpointState {
        EndpointState {
            name: self.name,
            cursor: self.cursor,
            paused: self.status == "PAUSED",
            failures: u32::try_from(self.failures).unwrap_or(0),
            next_attempt_at: DateTime::from_timestamp_millis(self.next_attempt_at)
                .unwrap_or_default(),
            last_error: self.last_error,
            delivered_at: self.delivered_at.and_then(DateTime::from_timestamp_millis),
        }
    }
}

impl<DB> Tx<DB>
where
    DB: Backend,
    DB::Arguments: IntoArguments<DB> + Default,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'t> String: Encode<'t, DB> + Type<DB>,
    for<'t> i64: Encode<'t, DB> + Type<DB>,
    for<'t> i32: Encode<'t, DB> + Type<DB>,
    for<'r> (i64, i32): FromRow<'r, DB::Row>,
    for<'r> EndpointRow: FromRow<'r, DB::Row>,
{
    async fn open_webhook(
        &mut self,
        name: &str,
        cursor: i64,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query::<DB>(
            "INSERT INTO webhook_endpoints (name, cursor, next_attempt_at, created_at) \
             VALUES ($1, $2, $3, $3) ON CONFLICT (name) DO NOTHING",
        )
        .bind(name.to_owned())
        .bind(cursor)
        .bind(millis(now))
        .execute(&mut *self.0)
        .await
        .map_err(DB::map_err)?;
        Ok(())
    }

    /// The update names the moment it read the row as due, so of two
    /// workers racing for it only one takes it (as `claim_channel_messages`).
    async fn claim_webhook(
        &mut self,
        name: &str,
        worker: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Option<ClaimedEndpoint>, StoreError> {
        let row: Option<(i64, i32)> = sqlx::query_as::<DB, (i64, i32)>(
            "UPDATE webhook_endpoints SET claimed_by = $2, next_attempt_at = $4 \
             WHERE name = $1 AND status = 'ACTIVE' AND next_attempt_at <= $3 \
             RETURNING cursor, failures",
        )
        .bind(name.to_owned())
        .bind(worker.to_owned())
        .bind(millis(now))
        .bind(millis(until))
        .fetch_optional(&mut *self.0)
        .await
        .map_err(DB::map_err)?;
        Ok(row.map(|(cursor, failures)| ClaimedEndpoint {
            cursor,
            failures: u32::try_from(failures).unwrap_or(0),
        }))
    }

    async fn webhook_delivered(
        &mut self,
        name: &str,
        worker: &str,
        cursor: i64,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query::<DB>(
            "UPDATE webhook_endpoints SET cursor = $3, failures = 0, last_error = NULL, \
             delivered_at = $4 WHERE name = $1 AND claimed_by = $2",
        )
        .bind(name.to_owned())
        .bind(worker.to_owned())
        .bind(cursor)
        .bind(millis(now))
        .execute(&mut *self.0)
        .await
        .map_err(DB::map_err)?;
        Ok(DB::rows_affected(&done) == 1)
    }

    async fn release_webhook(
        &mut self,
        name: &str,
        worker: &str,
        failure: Option<&WebhookFailure>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let (status, at, error, failed) = match failure {
            None => ("ACTIVE", now, None, 0),
            Some(WebhookFailure::Retry { at, error }) => ("ACTIVE", *at, Some(error.clone()), 1),
            Some(WebhookFailure::Pause { error }) => ("PAUSED", now, Some(error.clone()), 1),
        };
        let mut q = sqlx::QueryBuilder::<DB>::new(
            "UPDATE webhook_endpoints SET claimed_by = NULL, status = ",
        );
        q.push_bind(status.to_owned())
            .push(", next_attempt_at = ")
            .push_bind(millis(at))
            .push(", failures = failures + ")
            .push_bind(failed);
        if let Some(error) = error {
            q.push(", last_error = ").push_bind(error);
        }
        q.push(" WHERE name = ")
            .push_bind(name.to_owned())
            .push(" AND claimed_by = ")
            .push_bind(worker.to_owned());
        q.build().execute(&mut *self.0).await.map_err(DB::map_err)?;
        Ok(())
    }

    async fn webhook_endpoints(&mut self) -> Result<Vec<EndpointState>, StoreError> {
        let rows: Vec<EndpointRow> = sqlx::query_as::<DB, EndpointRow>(
            "SELECT name, cursor, status, failures, next_attempt_at, last_error, delivered_at \
             FROM webhook_endpoints ORDER BY name",
        )
        .fetch_all(&mut *self.0)
        .await
        .map_err(DB::map_err)?;
        Ok(rows.into_iter().map(EndpointRow::into_state).collect())
    }

    /// Due at once (0), by whichever instance's clock looks next: the
    /// command line that resumes it need not share the service's clock.
    async fn resume_webhook(&mut self, name: &str) -> Result<bool, StoreError> {
        let done = sqlx::query::<DB>(
            "UPDATE webhook_endpoints SET status = 'ACTIVE', failures = 0, claimed_by = NULL, \
             next_attempt_at = 0 WHERE name = $1 AND status = 'PAUSED'",
        )
        .bind(name.to_owned())
        .execute(&mut *self.0)
        .await
        .map_err(DB::map_err)?;
        Ok(DB::rows_affected(&done) == 1)
    }
}

impl Store {
    /// Makes the endpoint's row, its cursor at `cursor`, unless it has one.
    pub async fn open_webhook(
        &self,
        name: &str,
        cursor: i64,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        write!(self, tx => tx.open_webhook(name, cursor, now).await?)
    }

    /// Claims the endpoint for `worker` until `until` if it is active and
    /// due at `now`; `None` when it is not, or another worker holds it.
    pub async fn claim_webhook(
        &self,
        name: &str,
        worker: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Option<ClaimedEndpoint>, StoreError> {
        write!(self, tx => tx.claim_webhook(name, worker, now, until).await?)
    }

    /// The endpoint took everything up to `cursor`; false when `worker`
    /// holds the claim no more (its lease ran out and another took it).
    pub async fn webhook_delivered(
        &self,
        name: &str,
        worker: &str,
        cursor: i64,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        write!(self, tx => tx.webhook_delivered(name, worker, cursor, now).await?)
    }

    /// Ends `worker`'s claim: due again at `now` when nothing failed, or as
    /// the failure says.
    pub async fn release_webhook(
        &self,
        name: &str,
        worker: &str,
        failure: Option<&WebhookFailure>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        write!(self, tx => tx.release_webhook(name, worker, failure, now).await?)
    }

    /// Every endpoint that has a row, by name.
    pub async fn webhook_endpoints(&self) -> Result<Vec<EndpointState>, StoreError> {
        match self {
            Store::Sqlite(db) => {
                let mut tx = db.begin_read().await?;
                let endpoints = tx.webhook_endpoints().await?;
                tx.rollback().await?;
                Ok(endpoints)
            }
            Store::Postgres(db) => {
                let mut tx = db.begin_read().await?;
                let endpoints = tx.webhook_endpoints().await?;
                tx.rollback().await?;
                Ok(endpoints)
            }
        }
    }

    /// A paused endpoint active again, due at once, from its cursor; false
    /// when it was not paused.
    pub async fn resume_webhook(&self, name: &str) -> Result<bool, StoreError> {
        write!(self, tx => tx.resume_webhook(name).await?)
    }
}
