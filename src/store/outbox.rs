//! The outbox repository: letters written by the transactions that caused
//! them, claimed in batches by the delivery workers for a lease, their
//! outcomes recorded in one write, and kept afterwards as the record of what
//! each department was sent. It neither renders nor sends. Written once over
//! `Backend`.

use chrono::{DateTime, Utc};
use sqlx::{Encode, Executor, FromRow, IntoArguments, QueryBuilder, Type};

use crate::domain::{DomainError, Page, PageRequest};

use super::backend::{Backend, Tx};
use super::paging::{mail_cursor, next_mail_cursor, split_page};
use super::rows::{MailRow, delivery_columns, millis};
use super::sql::{
    LIST_MAIL, OUTBOX_SUMMARY, RECORD_DELIVERY, REQUEUE_DEFERRED_MAIL, RETRY_MAIL, SELECT_MAIL,
};
use super::{Attempt, Lease, MailStatus, OutboxSummary, QueuedMail, StoreError};

impl<DB> Tx<DB>
where
    DB: Backend,
    DB::Arguments: IntoArguments<DB>,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'t> &'t str: Encode<'t, DB> + Type<DB>,
    for<'t> &'t String: Encode<'t, DB> + Type<DB>,
    for<'t> Option<&'t str>: Encode<'t, DB> + Type<DB>,
    for<'t> Option<String>: Encode<'t, DB> + Type<DB>,
    for<'t> String: Encode<'t, DB> + Type<DB>,
    for<'t> Option<Vec<u8>>: Encode<'t, DB> + Type<DB>,
    for<'t> i64: Encode<'t, DB> + Type<DB>,
    for<'t> Option<i64>: Encode<'t, DB> + Type<DB>,
    for<'r> MailRow: FromRow<'r, DB::Row>,
    for<'r> (String,): FromRow<'r, DB::Row>,
    for<'r> (i64,): FromRow<'r, DB::Row>,
    for<'r> (i64, i64, Option<i64>): FromRow<'r, DB::Row>,
{
    /// Claims up to `limit` letters due at `now` and not leased at
    /// `lease.at` for `worker`, leased until `lease.until`; oldest first.
    pub(super) async fn claim_mail(
        &mut self,
        worker: &str,
        now: DateTime<Utc>,
        lease: Lease,
        limit: u32,
    ) -> Result<Vec<QueuedMail>, StoreError> {
        let rows = sqlx::query_as::<DB, MailRow>(DB::CLAIM_MAIL)
            .bind(worker)
            .bind(millis(now))
            .bind(millis(lease.at))
            .bind(millis(lease.until))
            .bind(i64::from(limit.max(1)))
            .fetch_all(&mut *self.0)
            .await
            .map_err(DB::map_err)?;
        let mut claimed = rows
            .into_iter()
            .map(MailRow::into_queued)
            .collect::<Result<Vec<_>, _>>()?;
        // RETURNING keeps no order.
        claimed.sort_by(|a, b| a.mail.id.cmp(&b.mail.id));
        Ok(claimed)
    }

    /// Moves the end of `worker`'s lease on these letters to `until`; those
    /// it no longer holds are left alone. How many it still holds.
    pub(super) async fn extend_lease(
        &mut self,
        worker: &str,
        ids: &[String],
        until: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        if ids.is_empty() {
            return Ok(0);
        }
        let mut qb = QueryBuilder::<DB>::new("UPDATE outbox SET lease_until = ");
        qb.push_bind(millis(until))
            .push(" WHERE status = 'PENDING' AND claimed_by = ")
            .push_bind(worker.to_owned())
            .push(" AND ");
        DB::push_in(&mut qb, "id", ids);
        let done = qb
            .build()
            .execute(&mut *self.0)
            .await
            .map_err(DB::map_err)?;
        Ok(DB::rows_affected(&done))
    }

    pub(super) async fn next_mail_due(&mut self) -> Result<Option<DateTime<Utc>>, StoreError> {
        let at: Option<i64> = sqlx::query_scalar::<DB, i64>(DB::SELECT_NEXT_MAIL_DUE)
            .fetch_optional(&mut *self.0)
            .await
            .map_err(DB::map_err)?;
        Ok(at.and_then(DateTime::from_timestamp_millis))
    }

    /// Records how a delivery attempt went, if `worker` still holds the
    /// letter and it is still pending; whether it did.
    pub(super) async fn record_delivery(
        &mut self,
        worker: &str,
        mail: &QueuedMail,
        attempt: &Attempt,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let (status, next_at, error, sent_at) = delivery_columns(mail, &attempt.outcome, now);
        let rendered = attempt.rendered.as_ref();
        let done = sqlx::query::<DB>(RECORD_DELIVERY)
            .bind(&mail.mail.id)
            .bind(status)
            .bind(next_at)
            .bind(error)
            .bind(sent_at)
            .bind(rendered.map(|r| r.subject.clone()))
            .bind(rendered.map(|r| r.raw.clone()))
            .bind(worker)
            .execute(&mut *self.0)
            .await
            .map_err(DB::map_err)?;
        Ok(DB::rows_affected(&done) > 0)
    }

    async fn mail_by_id(&mut self, id: &str) -> Result<Option<QueuedMail>, StoreError> {
        sqlx::query_as::<DB, MailRow>(SELECT_MAIL)
            .bind(id)
            .fetch_optional(&mut *self.0)
            .await
            .map_err(DB::map_err)?
            .map(MailRow::into_queued)
            .transpose()
    }

    pub(super) async fn outbox_summary(&mut self) -> Result<OutboxSummary, StoreError> {
        let (pending, failed, oldest): (i64, i64, Option<i64>) =
            sqlx::query_as::<DB, (i64, i64, Option<i64>)>(OUTBOX_SUMMARY)
                .fetch_one(&mut *self.0)
                .await
                .map_err(DB::map_err)?;
        Ok(OutboxSummary {
            pending: pending.max(0) as u64,
            failed: failed.max(0) as u64,
            oldest_pending: oldest.and_then(DateTime::from_timestamp_millis),
        })
    }

    /// One page of the outbox, newest first.
    pub(super) async fn list_mail(
        &mut self,
        status: Option<MailStatus>,
        page: &PageRequest,
    ) -> Result<Page<QueuedMail>, StoreError> {
        let after = mail_cursor(page.after.as_deref())?;
        let rows = sqlx::query_as::<DB, MailRow>(LIST_MAIL)
            .bind(status.map(MailStatus::as_str))
            .bind(after)
            .bind(i64::from(page.size.max(1)) + 1)
            .fetch_all(&mut *self.0)
            .await
            .map_err(DB::map_err)?;
        let (rows, next, cursors) = split_page(rows, page.size, next_mail_cursor);
        Ok(Page {
            items: rows
                .into_iter()
                .map(MailRow::into_queued)
                .collect::<Result<_, _>>()?,
            next,
            cursors,
        })
    }

    /// Makes every letter put off by a failed attempt due at `now`; how many.
    pub(super) async fn requeue_deferred_mail(
        &mut self,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let done = sqlx::query::<DB>(REQUEUE_DEFERRED_MAIL)
            .bind(millis(now))
            .execute(&mut *self.0)
            .await
            .map_err(DB::map_err)?;
        Ok(DB::rows_affected(&done))
    }

    /// Puts a failed letter back in the queue. The caller commits on success
    /// and rolls back otherwise.
    pub(super) async fn retry_mail(
        &mut self,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<QueuedMail, StoreError> {
        let requeued: Option<String> = sqlx::query_scalar::<DB, String>(RETRY_MAIL)
            .bind(id)
            .bind(millis(now))
            .fetch_optional(&mut *self.0)
            .await
            .map_err(DB::map_err)?;
        let mail = self.mail_by_id(id).await?.ok_or_else(|| {
            StoreError::Domain(DomainError::NotFound {
                what: "mail",
                id: id.to_owned(),
            })
        })?;
        if requeued.is_none() {
            return Err(DomainError::wrong_state(
                format!(
                    "mail is {} and only FAILED mail can be retried",
                    mail.status.as_str()
                ),
                format!(
                    "函件当前为 {}，只有投递失败（FAILED）的函件可以重发",
                    mail.status.as_str()
                ),
            )
            .into());
        }
        Ok(mail)
    }
}
