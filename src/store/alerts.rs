//! The alert repository: alerts as the changes that caused them wrote them
//! (`insert_alerts`, in the change's transaction), listed for supervisors and read in order by the
//! live streams (`feeds`). Written once over `Backend`.

use sqlx::{Database, Encode, Executor, FromRow, IntoArguments, QueryBuilder, Type};

use crate::domain::{Alert, AlertFilter, Page, PageRequest, RaisedAlert};

use super::StoreError;
use super::backend::{Backend, Tx};
use super::rows::{AlertRow, millis};
use super::sql::{alert_columns, bind_alert};

impl<DB> Tx<DB>
where
    DB: Backend,
    DB::Arguments: IntoArguments<DB> + Default,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'t> String: Encode<'t, DB> + Type<DB>,
    for<'t> i32: Encode<'t, DB> + Type<DB>,
    for<'t> i64: Encode<'t, DB> + Type<DB>,
    for<'r> AlertRow: FromRow<'r, DB::Row>,
    for<'r> (i64,): FromRow<'r, DB::Row>,
{
    /// Alerts, newest first.
    pub(super) async fn list_alerts(
        &mut self,
        filter: &AlertFilter,
        page: &PageRequest,
    ) -> Result<Page<RaisedAlert>, StoreError> {
        let mut qb = QueryBuilder::<DB>::new(concat!(
            "SELECT id, ",
            alert_columns!(),
            " FROM alerts WHERE level >= "
        ));
        qb.push_bind(i32::from(filter.min_level));
        if let Some(kind) = filter.kind {
            qb.push(" AND kind = ").push_bind(kind.as_str().to_owned());
        }
        if let Some(office) = &filter.office {
            qb.push(" AND office = ").push_bind(office.clone());
        }
        if let Some(department) = &filter.department {
            qb.push(" AND department = ").push_bind(department.clone());
        }
        if let Some(case_id) = &filter.case_id {
            qb.push(" AND case_id = ").push_bind(case_id.clone());
        }
        if let Some(since) = filter.since {
            qb.push(" AND raised_at >= ").push_bind(millis(since));
        }
        let (rows, next, cursors) = self
            .newest_first(qb, "alerts", page, |a: &AlertRow| a.id)
            .await?;
        Ok(Page {
            items: rows
                .into_iter()
                .map(AlertRow::into_alert)
                .collect::<Result<_, _>>()?,
            next,
            cursors,
        })
    }

    /// Up to `limit` alerts of at least `min_level` after the alert `after` (0:
    /// from the first), in the order they became visible.
    pub(super) async fn alerts_after(
        &mut self,
        after: i64,
        min_level: u8,
        limit: u32,
    ) -> Result<Vec<RaisedAlert>, StoreError> {
        let mut qb = QueryBuilder::<DB>::new(concat!(
            "SELECT id, ",
            alert_columns!(),
            " FROM alerts a WHERE "
        ));
        DB::push_feed_after(&mut qb, "alerts", "a", "id", after);
        qb.push(" AND a.level >= ").push_bind(i32::from(min_level));
        DB::push_feed_order(&mut qb, "a", "id", false);
        qb.push(" LIMIT ").push_bind(i64::from(limit.max(1)));
        let rows: Vec<AlertRow> = qb
            .build_query_as()
            .fetch_all(&mut *self.0)
            .await
            .map_err(DB::map_err)?;
        rows.into_iter().map(AlertRow::into_alert).collect()
    }

    /// The last alert of the feed already readable (0: none yet): where a new
    /// reader of the feed starts when it wants only what comes next.
    pub(super) async fn last_alert_id(&mut self) -> Result<i64, StoreError> {
        self.last_in_feed("alerts", "id").await
    }

    /// Whether an alert is committed but a reader of the feed cannot read it
    /// yet, because a transaction older than its own still runs.
    pub(super) async fn alerts_not_yet_readable(&mut self) -> Result<bool, StoreError> {
        let (late,): (i64,) = sqlx::query_as::<DB, (i64,)>(DB::ALERTS_NOT_YET_READABLE)
            .fetch_one(&mut *self.0)
            .await
            .map_err(DB::map_err)?;
        Ok(late > 0)
    }

    /// Whether an alert with this id exists: a stream may only resume after one.
    pub(super) async fn alert_exists(&mut self, id: i64) -> Result<bool, StoreError> {
        let found: Option<i64> =
            sqlx::query_scalar::<DB, i64>("SELECT id FROM alerts WHERE id = $1")
                .bind(id)
                .fetch_optional(&mut *self.0)
                .await
                .map_err(DB::map_err)?;
        Ok(found.is_some())
    }
}

/// Inserts the alerts a change raised; one already raised (its key taken) is
/// left as it is.
pub(super) async fn insert_alerts<DB>(
    conn: &mut DB::Connection,
    alerts: &[Alert],
) -> Result<(), StoreError>
where
    DB: Backend,
    DB::Arguments: IntoArguments<DB> + Default,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'t> String: Encode<'t, DB> + Type<DB>,
    for<'t> Option<String>: Encode<'t, DB> + Type<DB>,
    for<'t> i32: Encode<'t, DB> + Type<DB>,
    for<'t> i64: Encode<'t, DB> + Type<DB>,
    for<'t> Option<i64>: Encode<'t, DB> + Type<DB>,
{
    if alerts.is_empty() {
        return Ok(());
    }
    let mut q = QueryBuilder::<DB>::new("");
    push_alerts(&mut q, alerts);
    q.build().execute(&mut *conn).await.map_err(DB::map_err)?;
    Ok(())
}

/// The INSERT of `alerts` (not none), each raised once: one already raised
/// is left as it is.
pub(super) fn push_alerts<DB>(q: &mut QueryBuilder<DB>, alerts: &[Alert])
where
    DB: Database,
    for<'t> String: Encode<'t, DB> + Type<DB>,
    for<'t> Option<String>: Encode<'t, DB> + Type<DB>,
    for<'t> i32: Encode<'t, DB> + Type<DB>,
    for<'t> i64: Encode<'t, DB> + Type<DB>,
    for<'t> Option<i64>: Encode<'t, DB> + Type<DB>,
{
    let rows: Vec<AlertRow> = alerts.iter().map(AlertRow::of).collect();
    q.push(concat!(
        "INSERT INTO alerts (",
        alert_columns!(),
        ", traceparent) "
    ));
    let traceparent = crate::telemetry::traceparent();
    q.push_values(&rows, |mut b, a| {
        bind_alert!(b, a, push_bind);
        b.push_bind(traceparent.clone());
    });
    q.push(" ON CONFLICT (key) DO NOTHING");
}
