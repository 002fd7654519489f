//! The overdue board (逾期看板): requests past a deadline or close to one,
//! grouped by the alert level the deadline watch has reached, filterable by
//! level, department and office, read through ListOverdue's use case. A plain
//! page that works without a script; where one runs (`live`), it is fetched
//! again whenever something changes.

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use minijinja::context;
use serde::{Deserialize, Serialize};

use super::signed_in;
use super::supervisor::{choices, chosen, department_name, office_name};
use crate::domain::watch::Due;
use crate::domain::{Assigned, OverdueFilter};
use crate::http::PageState;
use crate::http::guard::Scripted;
use crate::http::view::running;
use crate::service::PageRequest;

/// The most urgent requests shown; more are said to be there.
const SHOWN: u32 = PageRequest::MAX;

/// How far ahead "close to overdue" looks, in hours, as the filter offers it.
const HORIZONS: [(&str, i64, &str); 3] = [
    ("0", 0, "仅已超期"),
    ("24", 24, "含24小时内到期"),
    ("72", 72, "含3天内到期"),
];

/// The alert levels, most serious first: the group each request falls in.
const LEVELS: [(u8, &str); 3] = [
    (2, "二级报警（区督办）"),
    (1, "一级报警（街道）"),
    (0, "临期或尚未报警"),
];

#[derive(Debug, Deserialize)]
pub struct BoardQuery {
    #[serde(default)]
    level: String,
    #[serde(default)]
    office: String,
    #[serde(default)]
    department: String,
    #[serde(default = "default_horizon")]
    within: String,
}

fn default_horizon() -> String {
    "24".into()
}

#[derive(Debug, Serialize)]
struct Row {
    case_id: String,
    title: String,
    office: String,
    department: String,
    reference: String,
    round: u32,
    /// `签收` or `答复`.
    step: &'static str,
    due_at: String,
    state: String,
    class: &'static str,
}

#[derive(Debug, Serialize)]
struct Group {
    level: u8,
    label: &'static str,
    rows: Vec<Row>,
}

/// The deadline a request is on the board for, and the alert level the watch
/// has raised for it (0: none yet).
fn concern(
    assigned: &Assigned,
    now: chrono::DateTime<chrono::Utc>,
) -> Option<(Due, chrono::DateTime<chrono::Utc>, u8)> {
    let request = &assigned.request;
    let (due, due_at) = match request.overdue(now) {
        Some(overdue) => (overdue.due, overdue.due_at),
        None => request.open_deadlines().min_by_key(|(_, at)| *at)?,
    };
    let level = request.watch.step(due).alerted.map_or(0, |slot| slot.level);
    Some((due, due_at, level))
}

/// `GET /console/board`.
pub async fn show(
    State(state): State<PageState>,
    headers: HeaderMap,
    Query(query): Query<BoardQuery>,
) -> Response {
    let signed = match signed_in(&state, &headers).await {
        Ok(signed) => signed,
        Err(response) => return response,
    };
    let org = state.whistle.organisation();
    let (offices, departments) = choices(&org);
    let (within, hours) = HORIZONS
        .iter()
        .find(|(code, _, _)| *code == query.within.trim())
        .map_or(("0", 0), |(code, hours, _)| (*code, *hours));
    let filter = OverdueFilter {
        office: chosen(&query.office, &offices),
        department: chosen(&query.department, &departments),
        within: (hours > 0).then(|| chrono::Duration::hours(hours)),
    };
    let level: Option<u8> = query.level.trim().parse().ok().filter(|l| *l <= 2);
    let page = match state
        .whistle
        .list_overdue(&signed.actor(), filter.clone(), PageRequest::first(SHOWN))
        .await
    {
        Ok(page) => page,
        Err(e) => return super::error_page(&state, e, Some(&signed)),
    };
    let now = state.whistle.now();
    let tz = org.calendar.tz();
    let mut groups: Vec<Group> = LEVELS
        .iter()
        .filter(|(l, _)| level.is_none_or(|wanted| wanted == *l))
        .map(|(level, label)| Group {
            level: *level,
            label,
            rows: Vec::new(),
        })
        .collect();
    let mut shown = 0usize;
    for assigned in &page.items {
        let Some((due, due_at, at_level)) = concern(assigned, now) else {
            continue;
        };
        let Some(group) = groups.iter_mut().find(|g| g.level == at_level.min(2)) else {
            continue;
        };
        let standing = running(due_at, now, tz);
        group.rows.push(Row {
            case_id: assigned.case.id.clone(),
            title: assigned.case.title.clone(),
            office: office_name(&org, &assigned.case.office),
            department: department_name(&org, &assigned.request.department),
            reference: assigned.request.reference.as_str().to_owned(),
            round: assigned.request.round,
            step: due.zh(),
            due_at: standing.at,
            state: standing.state,
            class: standing.class,
        });
        shown += 1;
    }
    let horizons: Vec<(&str, &str)> = HORIZONS.iter().map(|(c, _, n)| (*c, *n)).collect();
    let levels: Vec<(u8, &str)> = LEVELS.to_vec();
    let mut response = state.console.render(
        "board.html",
        StatusCode::OK,
        context! {
            who => signed.view(),
            groups => groups,
            shown => shown,
            more => page.next.is_some(),
            limit => SHOWN,
            offices => offices,
            departments => departments,
            office => filter.office.unwrap_or_default(),
            department => filter.department.unwrap_or_default(),
            level => level.map(|l| l.to_string()).unwrap_or_default(),
            within => within,
            horizons => horizons,
            levels => levels,
            at => crate::http::view::when(now, tz),
        },
    );
    response.extensions_mut().insert(Scripted);
    response
}
