//! The alerts, newest first, filtered by kind, level, office, department and
//! since when, through ListAlerts' use case; each links to its case.

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use chrono::NaiveDate;
use minijinja::context;
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde::{Deserialize, Serialize};

use super::supervisor::{choices, chosen, department_name, office_name};
use super::{error_page, signed_in};
use crate::domain::AlertFilter;
use crate::domain::alert::AlertKind;
use crate::domain::ledger::LedgerRange;
use crate::http::PageState;
use crate::http::view::when;
use crate::service::PageRequest;

const PAGE_SIZE: u32 = 50;

#[derive(Debug, Deserialize)]
pub struct AlertQuery {
    #[serde(default)]
    kind: String,
    #[serde(default)]
    level: String,
    #[serde(default)]
    office: String,
    #[serde(default)]
    department: String,
    /// `YYYY-MM-DD`: raised on that day or later.
    #[serde(default)]
    since: String,
    #[serde(default)]
    after: String,
}

#[derive(Debug, Serialize)]
struct Row {
    id: i64,
    raised_at: String,
    level: u8,
    kind: &'static str,
    summary: String,
    office: String,
    department: String,
    reference: String,
    case_id: String,
}

/// `GET /console/alerts`.
pub async fn list(
    State(state): State<PageState>,
    headers: HeaderMap,
    Query(query): Query<AlertQuery>,
) -> Response {
    let signed = match signed_in(&state, &headers).await {
        Ok(signed) => signed,
        Err(response) => return response,
    };
    let org = state.whistle.organisation();
    let tz = org.calendar.tz();
    let (offices, departments) = choices(&org);
    let kind = AlertKind::parse(query.kind.trim());
    let level: u8 = query
        .level
        .trim()
        .parse()
        .ok()
        .filter(|l| *l <= 2)
        .unwrap_or(0);
    let since_day = NaiveDate::parse_from_str(query.since.trim(), "%Y-%m-%d").ok();
    let filter = AlertFilter {
        kind,
        min_level: level,
        office: chosen(&query.office, &offices),
        department: chosen(&query.department, &departments),
        case_id: None,
        since: since_day.and_then(|day| LedgerRange::days(day, day, tz).map(|r| r.from)),
    };
    let page = PageRequest::from_query(PAGE_SIZE, &query.after);
    let page = match state
        .whistle
        .list_alerts(&signed.actor(), filter.clone(), page)
        .await
    {
        Ok(page) => page,
        Err(e) => return error_page(&state, e, Some(&signed)),
    };
    let rows: Vec<Row> = page
        .items
        .iter()
        .map(|raised| {
            let a = &raised.alert;
            Row {
                id: raised.id,
                raised_at: when(a.raised_at, tz),
                level: a.level,
                kind: a.kind.zh(),
                summary: a.summary.clone(),
                office: a
                    .office
                    .as_deref()
                    .map(|o| office_name(&org, o))
                    .unwrap_or_default(),
                department: a
                    .department
                    .as_deref()
                    .map(|d| department_name(&org, d))
                    .unwrap_or_default(),
                reference: a.reference.clone().unwrap_or_default(),
                case_id: a.case_id.clone().unwrap_or_default(),
            }
        })
        .collect();
    let kind_code = kind.map_or("", AlertKind::as_str);
    let office = filter.office.unwrap_or_default();
    let department = filter.department.unwrap_or_default();
    let since = since_day.map(|d| d.to_string()).unwrap_or_default();
    let query_string = format!(
        "kind={kind_code}&level={level}&office={}&department={}&since={since}",
        utf8_percent_encode(&office, NON_ALPHANUMERIC),
        utf8_percent_encode(&department, NON_ALPHANUMERIC),
    );
    let next = page.next.map(|token| {
        format!(
            "/console/alerts?{query_string}&after={}",
            utf8_percent_encode(&token, NON_ALPHANUMERIC)
        )
    });
    let kinds: Vec<(&str, &str)> = AlertKind::ALL
        .iter()
        .map(|k| (k.as_str(), k.zh()))
        .collect();
    state.console.render(
        "alerts.html",
        StatusCode::OK,
        context! {
            who => signed.view(),
            alerts => rows,
            kinds => kinds,
            kind => kind_code,
            level => level,
            offices => offices,
            departments => departments,
            office => office,
            department => department,
            since => since,
            next => next,
            first => (!query.after.trim().is_empty()).then(|| format!("/console/alerts?{query_string}")),
        },
    )
}
