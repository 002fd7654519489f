//! A period's reads: the cases escalated in it, whole, for the ledger and
//! the digest; and the kept parts of the figures (`case_figures`): each case's settled part
//! in the supervision figures (`domain::statistics::CaseFigures`, encoded),
//! so a period's figures read one small row per case instead of replaying
//! every timeline. A part holds only for the case as it was when it was
//! computed (`case_updated_at`: every change of a case records an event,
//! which moves `updated_at`) and under the calendar and policy it was
//! computed with (`fingerprint`); anything else is read as missing and
//! computed again. Written once over `Backend`.

use chrono::{DateTime, Utc};
use sqlx::{Encode, Executor, FromRow, IntoArguments, QueryBuilder, Type};

use crate::domain::Case;

use super::StoreError;
use super::backend::{Backend, Tx};
use super::residents::residents_by_case;
use super::rows::*;
use super::sql::*;

/// Which cases a figures' read covers: escalated in `[from, to)`, of one
/// office if named, holding a request of one department if named.
#[derive(Debug, Clone)]
pub struct FiguresScope<'a> {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub office: Option<&'a str>,
    pub department: Option<&'a str>,
    /// Parts kept under another fingerprint are stale.
    pub fingerprint: &'a str,
    /// Parts settled after this moment are not used (a clock moved back).
    pub now: DateTime<Utc>,
}

/// A settled part to keep.
#[derive(Debug, Clone)]
pub struct KeptFigures {
    pub case_id: String,
    pub case_updated_at: DateTime<Utc>,
    pub settled_at: DateTime<Utc>,
    pub figures: Vec<u8>,
}

/// Rows a page of the ordered read holds.
pub const FIGURES_PAGE: i64 = 20_000;

fn push_scope<DB: Backend>(qb: &mut QueryBuilder<DB>, scope: &FiguresScope<'_>)
where
    for<'t> i64: Encode<'t, DB> + Type<DB>,
    for<'t> String: Encode<'t, DB> + Type<DB>,
{
    qb.push(" c.created_at >= ")
        .push_bind(millis(scope.from))
        .push(" AND c.created_at < ")
        .push_bind(millis(scope.to));
    if let Some(office) = scope.office {
        qb.push(" AND c.office = ").push_bind(office.to_owned());
    }
    if let Some(department) = scope.department {
        qb.push(" AND c.id IN (SELECT case_id FROM requests WHERE department = ")
            .push_bind(department.to_owned())
            .push(")");
    }
}

/// The join that finds a case's part, if it holds.
fn push_join<DB: Backend>(qb: &mut QueryBuilder<DB>, scope: &FiguresScope<'_>)
where
    for<'t> i64: Encode<'t, DB> + Type<DB>,
    for<'t> String: Encode<'t, DB> + Type<DB>,
{
    qb.push(
        " FROM cases c LEFT JOIN case_figures f ON f.case_id = c.id \
         AND f.case_updated_at = c.updated_at AND f.fingerprint = ",
    )
    .push_bind(scope.fingerprint.to_owned())
    .push(" AND f.settled_at <= ")
    .push_bind(millis(scope.now))
    .push(" WHERE");
}

impl<DB> Tx<DB>
where
    DB: Backend,
    DB::Arguments: IntoArguments<DB> + Default,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'t> String: Encode<'t, DB> + Type<DB>,
    for<'t> i64: Encode<'t, DB> + Type<DB>,
    for<'t> Vec<u8>: Encode<'t, DB> + Type<DB>,
    for<'r> (String,): FromRow<'r, DB::Row>,
    for<'r> (String, i64, Option<Vec<u8>>): FromRow<'r, DB::Row>,
    for<'r> (String, i64): FromRow<'r, DB::Row>,
    for<'r> CaseRow: FromRow<'r, DB::Row>,
    for<'r> RequestRow: FromRow<'r, DB::Row>,
    for<'r> ReplyRow: FromRow<'r, DB::Row>,
    for<'r> EventRow: FromRow<'r, DB::Row>,
    for<'r> ResidentRow: FromRow<'r, DB::Row>,
{
    /// The cases in scope with no part that holds, oldest first.
    pub(super) async fn figures_missing(
        &mut self,
        scope: &FiguresScope<'_>,
    ) -> Result<Vec<String>, StoreError> {
        let mut qb = QueryBuilder::<DB>::new("SELECT c.id");
        push_join(&mut qb, scope);
        push_scope(&mut qb, scope);
        qb.push(" AND f.case_id IS NULL ORDER BY c.created_at, c.id");
        qb.build_query_scalar::<String>()
            .fetch_all(&mut *self.0)
            .await
            .map_err(DB::map_err)
    }

    /// Up to `FIGURES_PAGE` cases in scope after `after` (escalation moment
    /// and id), in escalation order, each with its part if one holds.
    pub(super) async fn figures_page(
        &mut self,
        scope: &FiguresScope<'_>,
        after: Option<(i64, &str)>,
    ) -> Result<Vec<(String, i64, Option<Vec<u8>>)>, StoreError> {
        let mut qb = QueryBuilder::<DB>::new("SELECT c.id, c.created_at, f.figures");
        push_join(&mut qb, scope);
        push_scope(&mut qb, scope);
        if let Some((at, id)) = after {
            qb.push(" AND (c.created_at > ")
                .push_bind(at)
                .push(" OR (c.created_at = ")
                .push_bind(at)
                .push(" AND c.id > ")
                .push_bind(id.to_owned())
                .push("))");
        }
        qb.push(" ORDER BY c.created_at, c.id LIMIT ")
            .push_bind(FIGURES_PAGE);
        qb.build_query_as::<(String, i64, Option<Vec<u8>>)>()
            .fetch_all(&mut *self.0)
            .await
            .map_err(DB::map_err)
    }

    /// Up to `limit` ids of the cases escalated in `[from, to)` (of `office`
    /// if named) after `after` (escalation moment in ms and id), in
    /// escalation order, with their escalation moments: how the ledger walks
    /// a period page by page.
    pub(super) async fn escalated_ids_page(
        &mut self,
        office: Option<&str>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        after: Option<(i64, &str)>,
        limit: i64,
    ) -> Result<Vec<(String, i64)>, StoreError> {
        let mut qb = QueryBuilder::<DB>::new(
            "SELECT c.id, c.created_at FROM cases c WHERE c.created_at >= ",
        );
        qb.push_bind(millis(from))
            .push(" AND c.created_at < ")
            .push_bind(millis(to));
        if let Some(office) = office {
            qb.push(" AND c.office = ").push_bind(office.to_owned());
        }
        if let Some((at, id)) = after {
            qb.push(" AND (c.created_at > ")
                .push_bind(at)
                .push(" OR (c.created_at = ")
                .push_bind(at)
                .push(" AND c.id > ")
                .push_bind(id.to_owned())
                .push("))");
        }
        qb.push(" ORDER BY c.created_at, c.id LIMIT ")
            .push_bind(limit);
        qb.build_query_as::<(String, i64)>()
            .fetch_all(&mut *self.0)
            .await
            .map_err(DB::map_err)
    }

    /// Every case escalated in `[from, to)`, of one office or of all, oldest
    /// first, whole: requests, replies and timeline. What the ledger (台账)
    /// lists and the figures are computed over. The requests, replies and
    /// events are read by the same condition rather than by a list of ids, so
    /// a year of a city's cases binds three values and costs four queries.
    pub(super) async fn cases_escalated(
        &mut self,
        office: Option<&str>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<Case>, StoreError> {
        let conn = &mut *self.0;
        // Each query: its head, the period's condition on cases, its tail.
        let scoped = |head: String, tail: &str| {
            let mut qb = QueryBuilder::<DB>::new(head);
            qb.push(" created_at >= ")
                .push_bind(millis(from))
                .push(" AND created_at < ")
                .push_bind(millis(to));
            if let Some(office) = office {
                qb.push(" AND office = ").push_bind(office.to_owned());
            }
            qb.push(tail);
            qb
        };
        let rows = scoped(
            concat!("SELECT ", case_columns!(), " FROM cases WHERE").into(),
            " ORDER BY created_at, id",
        )
        .build_query_as::<CaseRow>()
        .fetch_all(&mut *conn)
        .await
        .map_err(DB::map_err)?;
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let requests = scoped(
            concat!(
                "SELECT ",
                request_columns!(),
                " FROM requests WHERE case_id IN (SELECT id FROM cases WHERE"
            )
            .into(),
            ") ORDER BY case_id, position",
        )
        .build_query_as::<RequestRow>()
        .fetch_all(&mut *conn)
        .await
        .map_err(DB::map_err)?;
        let replies = scoped(
            concat!(
                "SELECT ",
                reply_columns!(),
                " FROM replies WHERE request_id IN (SELECT r.id FROM requests r JOIN cases c ON c.id = r.case_id WHERE"
            )
            .into(),
            ") ORDER BY request_id, round",
        )
        .build_query_as::<ReplyRow>()
        .fetch_all(&mut *conn)
        .await
        .map_err(DB::map_err)?;
        let events = scoped(
            format!(
                "SELECT {}, {} AS feed_id FROM events WHERE case_id IN (SELECT id FROM cases WHERE",
                event_columns!(),
                DB::EVENT_ID
            ),
            ") ORDER BY case_id, seq",
        )
        .build_query_as::<EventRow>()
        .fetch_all(&mut *conn)
        .await
        .map_err(DB::map_err)?;
        // Residents, so that figures can count everyone who raised a problem.
        let mut residents = residents_by_case(
            scoped(
                concat!(
                    "SELECT ",
                    resident_columns!(),
                    " FROM residents WHERE case_id IN (SELECT id FROM cases WHERE"
                )
                .into(),
                ") ORDER BY case_id, seq",
            )
            .build_query_as::<ResidentRow>()
            .fetch_all(&mut *conn)
            .await
            .map_err(DB::map_err)?,
        )?;
        let mut cases = assemble_page(rows, requests, replies)?;
        for case in &mut cases {
            case.residents = residents.remove(&case.id).unwrap_or_default();
        }
        let mut by_case: std::collections::HashMap<String, Vec<_>> = Default::default();
        for row in events {
            by_case
                .entry(row.case_id.clone())
                .or_default()
                .push(row.into_event()?);
        }
        for case in &mut cases {
            case.events = by_case.remove(&case.id).unwrap_or_default();
        }
        Ok(cases)
    }

    /// Keeps settled parts, replacing what was kept for those cases.
    pub(super) async fn keep_figures(
        &mut self,
        fingerprint: &str,
        kept: &[KeptFigures],
    ) -> Result<(), StoreError> {
        for chunk in kept.chunks(IDS_AT_ONCE) {
            let mut qb = QueryBuilder::<DB>::new(
                "INSERT INTO case_figures (case_id, case_updated_at, fingerprint, settled_at, figures) ",
            );
            qb.push_values(chunk, |mut b, k| {
                b.push_bind(k.case_id.clone())
                    .push_bind(millis(k.case_updated_at))
                    .push_bind(fingerprint.to_owned())
                    .push_bind(millis(k.settled_at))
                    .push_bind(k.figures.clone());
            });
            qb.push(
                " ON CONFLICT (case_id) DO UPDATE SET case_updated_at = excluded.case_updated_at, \
                 fingerprint = excluded.fingerprint, settled_at = excluded.settled_at, \
                 figures = excluded.figures",
            );
            qb.build()
                .execute(&mut *self.0)
                .await
                .map_err(DB::map_err)?;
        }
        Ok(())
    }
}
