//! The SQL of the case and request lists, built in one place: only fixed
//! fragments are pushed, and every caller-supplied value goes through
//! `push_bind`.

use sqlx::{Database, Encode, QueryBuilder, Type};

use crate::domain::{CaseFilter, CaseOrder, RequestFilter};

use super::paging::*;
use super::rows::millis;
use super::sql::{case_columns, request_columns};

/// A page of cases matching `filter`, after the cursor `after`.
pub(super) fn case_page_query<DB>(
    filter: &CaseFilter,
    after: Option<CaseCursor>,
    size: u32,
    now: i64,
) -> QueryBuilder<DB>
where
    DB: Database,
    DB::Arguments: Default,
    for<'t> String: Encode<'t, DB> + Type<DB>,
    for<'t> i64: Encode<'t, DB> + Type<DB>,
{
    let mut qb = QueryBuilder::new(concat!(
        "SELECT ",
        case_columns!(),
        " FROM cases c WHERE TRUE"
    ));
    if let Some(office) = &filter.office {
        qb.push(" AND office = ").push_bind(office.clone());
    }
    if let Some(status) = filter.status {
        qb.push(" AND status = ")
            .push_bind(status.as_str().to_owned());
    }
    if let Some(category) = &filter.category {
        qb.push(" AND category = ").push_bind(category.clone());
    }
    if let Some(community) = &filter.community {
        qb.push(" AND community = ").push_bind(community.clone());
    }
    if let Some(zone) = &filter.zone {
        qb.push(" AND zone = ").push_bind(zone.clone());
    }
    if let Some(collector) = &filter.collector {
        qb.push(" AND collector = ").push_bind(collector.clone());
    }
    if filter.closed_by_override {
        qb.push(" AND override_at IS NOT NULL");
    }
    if filter.awaiting_review {
        qb.push(" AND EXISTS (SELECT 1 FROM requests r WHERE r.case_id = c.id AND r.status = 'REPLIED')");
    }
    if filter.overdue {
        qb.push(" AND EXISTS (SELECT 1 FROM requests r WHERE r.case_id = c.id AND ");
        push_overdue(&mut qb, "r", now);
        qb.push(")");
    }
    if let Some(department) = &filter.department {
        qb.push(" AND EXISTS (SELECT 1 FROM requests r WHERE r.case_id = c.id AND r.department = ")
            .push_bind(department.clone())
            .push(")");
    }
    if let Some(text) = &filter.text {
        // Both backends lower ASCII alike; Chinese has no case to fold.
        qb.push(" AND (");
        for (i, column) in ["petition_id", "title", "description", "address"]
            .into_iter()
            .enumerate()
        {
            if i > 0 {
                qb.push(" OR ");
            }
            qb.push("LOWER(")
                .push(column)
                .push(") LIKE ")
                .push_bind(text.like_pattern())
                .push(" ESCAPE '\\'");
        }
        qb.push(")");
    }
    if let Some(at) = filter.open_at {
        let at = millis(at);
        // Closing is a case's last change, so a case closed by `at` was last
        // updated by then; one updated later may have closed later.
        qb.push(" AND created_at < ")
            .push_bind(at)
            .push(" AND (status <> 'CLOSED' OR updated_at >= ")
            .push_bind(at)
            .push(")");
    }
    // Ids are UUIDv7: in the order cases were escalated.
    match (filter.order, after) {
        (CaseOrder::Newest, Some(CaseCursor::Id(id))) => {
            qb.push(" AND id < ").push_bind(id);
        }
        (CaseOrder::Oldest, Some(CaseCursor::Id(id))) => {
            qb.push(" AND id > ").push_bind(id);
        }
        (CaseOrder::Updated, Some(CaseCursor::Updated(at, id))) => {
            qb.push(" AND (updated_at < ")
                .push_bind(at)
                .push(" OR (updated_at = ")
                .push_bind(at)
                .push(" AND id < ")
                .push_bind(id)
                .push("))");
        }
        _ => {}
    }
    qb.push(match filter.order {
        CaseOrder::Newest => " ORDER BY id DESC LIMIT ",
        CaseOrder::Oldest => " ORDER BY id LIMIT ",
        CaseOrder::Updated => " ORDER BY updated_at DESC, id DESC LIMIT ",
    })
    .push_bind(i64::from(size.max(1)) + 1);
    qb
}

pub(super) fn request_page_query<DB>(
    filter: &RequestFilter,
    after: Option<(i64, String)>,
    size: u32,
    now: i64,
) -> QueryBuilder<DB>
where
    DB: Database,
    DB::Arguments: Default,
    for<'t> String: Encode<'t, DB> + Type<DB>,
    for<'t> i64: Encode<'t, DB> + Type<DB>,
{
    let mut qb = QueryBuilder::new(concat!(
        "SELECT ",
        request_columns!(),
        " FROM requests WHERE TRUE"
    ));
    if let Some(department) = &filter.department {
        qb.push(" AND department = ").push_bind(department.clone());
    }
    if let Some(status) = filter.status {
        qb.push(" AND status = ")
            .push_bind(status.as_str().to_owned());
    }
    if let Some(category) = &filter.category {
        qb.push(
            " AND EXISTS (SELECT 1 FROM cases c WHERE c.id = requests.case_id AND c.category = ",
        )
        .push_bind(category.clone())
        .push(")");
    }
    if filter.overdue {
        qb.push(" AND ");
        push_overdue(&mut qb, "requests", now);
    }
    if filter.open {
        qb.push(
            " AND status NOT IN ('ACCEPTED', 'RETURNED') AND EXISTS (SELECT 1 FROM cases c \
             WHERE c.id = requests.case_id AND c.status <> 'CLOSED')",
        );
    }
    if let Some((due, id)) = after {
        qb.push(" AND (reply_due_at, id) > (")
            .push_bind(due)
            .push(", ")
            .push_bind(id)
            .push(")");
    }
    qb.push(" ORDER BY reply_due_at, id LIMIT ")
        .push_bind(i64::from(size.max(1)) + 1);
    qb
}

/// "Request `r` is past a deadline at `now` with its step not taken": the
/// store's spelling of `DepartmentRequest::overdue`.
pub(super) fn push_overdue<DB>(qb: &mut QueryBuilder<DB>, r: &str, now: i64)
where
    DB: Database,
    for<'t> i64: Encode<'t, DB> + Type<DB>,
{
    // A request whose clock is paused for a supervisor's ruling is not overdue.
    qb.push(format!(
        "({r}.paused_since IS NULL AND (({r}.status = 'ISSUED' AND {r}.ack_due_at <= "
    ))
    .push_bind(now)
    .push(format!(
        ") OR ({r}.status IN ('ISSUED', 'ACKNOWLEDGED') AND {r}.reply_due_at <= "
    ))
    .push_bind(now)
    .push(")))");
}
