//! The event feed behind the live streams: a street office's case events and
//! a department's issued requests, read in the order their transactions
//! committed (`Backend::push_feed_after`), so a stream that resumes after the
//! last event it saw misses nothing and sees nothing twice.

use sqlx::{Encode, Executor, FromRow, IntoArguments, QueryBuilder, Type};

use crate::domain::Event;

use super::StoreError;
use super::backend::{Backend, Tx};
use super::rows::EventRow;
use super::sql::event_columns;

/// Whose events a stream carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventScope {
    /// Every event of the office's cases.
    Office(String),
    /// The issuing of each request (and each new round) to the department.
    IssuedTo(String),
}

/// The last position each feed can read (0: none yet).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FeedHead {
    pub event: i64,
    pub alert: i64,
}

/// An event with the case it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FedEvent {
    pub case_id: String,
    pub event: Event,
}

impl<DB> Tx<DB>
where
    DB: Backend,
    DB::Arguments: IntoArguments<DB> + Default,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'t> String: Encode<'t, DB> + Type<DB>,
    for<'t> i64: Encode<'t, DB> + Type<DB>,
    for<'r> EventRow: FromRow<'r, DB::Row>,
    for<'r> (i64,): FromRow<'r, DB::Row>,
    for<'r> (Option<String>,): FromRow<'r, DB::Row>,
{
    /// Up to `limit` events of `scope` after the event `after` (0: from the
    /// first), in commit order.
    pub(super) async fn events_after(
        &mut self,
        scope: &EventScope,
        after: i64,
        limit: u32,
    ) -> Result<Vec<FedEvent>, StoreError> {
        let mut qb = QueryBuilder::<DB>::new(format!(
            "SELECT {}, {} AS feed_id FROM events e WHERE ",
            event_columns!(),
            DB::EVENT_ID
        ));
        DB::push_feed_after(&mut qb, "events", "e", DB::EVENT_ID, after);
        match scope {
            EventScope::Office(office) => {
                qb.push(
                    " AND EXISTS (SELECT 1 FROM cases c WHERE c.id = e.case_id AND c.office = ",
                )
                .push_bind(office.clone())
                .push(")");
            }
            EventScope::IssuedTo(department) => {
                qb.push(
                    " AND e.kind = 'REQUEST_ISSUED' AND EXISTS (SELECT 1 FROM requests r \
                     WHERE r.id = e.request_id AND r.department = ",
                )
                .push_bind(department.clone())
                .push(")");
            }
        }
        DB::push_feed_order(&mut qb, "e", DB::EVENT_ID, false);
        qb.push(" LIMIT ").push_bind(i64::from(limit.max(1)));
        let rows: Vec<EventRow> = qb
            .build_query_as()
            .fetch_all(&mut *self.0)
            .await
            .map_err(DB::map_err)?;
        rows.into_iter()
            .map(|row| {
                let case_id = row.case_id.clone();
                Ok(FedEvent {
                    case_id,
                    event: row.into_event()?,
                })
            })
            .collect()
    }

    /// Whether an event with this stream position exists.
    pub(super) async fn event_exists(&mut self, id: i64) -> Result<bool, StoreError> {
        // EVENT_ID is one of two fixed column names, never input.
        let found: Option<i64> = sqlx::query_scalar::<DB, i64>(sqlx::AssertSqlSafe(format!(
            "SELECT {0} FROM events WHERE {0} = $1",
            DB::EVENT_ID
        )))
        .bind(id)
        .fetch_optional(&mut *self.0)
        .await
        .map_err(DB::map_err)?;
        Ok(found.is_some())
    }

    /// The W3C traceparent the change that wrote an event (or, with
    /// `alert`, an alert) kept with it; `None` when traces were off.
    pub(super) async fn traceparent_of(
        &mut self,
        alert: bool,
        id: i64,
    ) -> Result<Option<String>, StoreError> {
        // Fixed column names, never input.
        let sql = if alert {
            "SELECT traceparent FROM alerts WHERE id = $1".to_owned()
        } else {
            format!(
                "SELECT traceparent FROM events WHERE {0} = $1",
                DB::EVENT_ID
            )
        };
        let found: Option<Option<String>> =
            sqlx::query_scalar::<DB, Option<String>>(sqlx::AssertSqlSafe(sql))
                .bind(id)
                .fetch_optional(&mut *self.0)
                .await
                .map_err(DB::map_err)?;
        Ok(found.flatten())
    }
}

impl<DB> Tx<DB>
where
    DB: Backend,
    DB::Arguments: IntoArguments<DB> + Default,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'t> i64: Encode<'t, DB> + Type<DB>,
    for<'r> (i64,): FromRow<'r, DB::Row>,
{
    /// The last row of `table` (its position in column `id`) the feed can
    /// already read, 0 when none. Not the highest id: on PostgreSQL a row
    /// committed later by an older transaction sorts before that one in the
    /// feed, and a reader starting after it would never read the row.
    pub(super) async fn last_in_feed(&mut self, table: &str, id: &str) -> Result<i64, StoreError> {
        let mut qb = QueryBuilder::<DB>::new(format!("SELECT f.{id} FROM {table} f WHERE "));
        DB::push_feed_after(&mut qb, table, "f", id, 0);
        DB::push_feed_order(&mut qb, "f", id, true);
        qb.push(" LIMIT 1");
        let last: Option<(i64,)> = qb
            .build_query_as()
            .fetch_optional(&mut *self.0)
            .await
            .map_err(DB::map_err)?;
        Ok(last.map_or(0, |(id,)| id))
    }

    /// Where the feeds stand: the last readable event and alert. A change of
    /// either means a live stream may have something new to read.
    pub(super) async fn feed_head(&mut self) -> Result<FeedHead, StoreError> {
        Ok(FeedHead {
            event: self.last_in_feed("events", DB::EVENT_ID).await?,
            alert: self.last_in_feed("alerts", "id").await?,
        })
    }
}
