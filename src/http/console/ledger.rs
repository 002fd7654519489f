//! A week's ledger (台账): the office's cases escalated in an ISO week, one
//! row per department request, as a table, and as the workbook
//! ExportLedger writes (the same use case, the same file). Supervisors see
//! every office's, or one office's.

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use chrono::{Datelike, Duration};
use minijinja::context;
use serde::Deserialize;

use super::{error_page, signed_in};
use crate::domain::ledger::{COLUMNS, LedgerFormat, LedgerRange};
use crate::domain::{DomainError, FieldViolation};
use crate::http::PageState;
use crate::service::ledger::ExportLedger;

#[derive(Debug, Deserialize)]
pub struct WeekQuery {
    #[serde(default)]
    week: String,
    #[serde(default)]
    office: String,
}

/// An ISO week as the page names it, `2026-W04`.
fn parse_week(value: &str) -> Option<(i32, u32)> {
    let (year, week) = value.trim().split_once("-W")?;
    let year: i32 = year.parse().ok()?;
    let week: u32 = week.parse().ok()?;
    ((1000..=9999).contains(&year)).then_some((year, week))
}

/// The week asked for (this week when none), its label, and the weeks
/// before and after it.
struct Week {
    range: LedgerRange,
    label: String,
    before: String,
    after: String,
}

fn week(state: &PageState, asked: &str) -> Result<Week, DomainError> {
    let org = state.whistle.organisation();
    let tz = org.calendar.tz();
    let (year, number) = if asked.trim().is_empty() {
        let iso = state.whistle.now().with_timezone(&tz).iso_week();
        (iso.year(), iso.week())
    } else {
        parse_week(asked).ok_or_else(|| {
            DomainError::from(
                FieldViolation::new("week", "must be an ISO week such as 2026-W04")
                    .zh("应为形如 2026-W04 的周次"),
            )
        })?
    };
    let range = LedgerRange::iso_week(year, number, tz).ok_or_else(|| {
        DomainError::from(
            FieldViolation::new("week", format!("{year} has no week {number}"))
                .zh(format!("{year}年没有第{number}周")),
        )
    })?;
    let name = |at: chrono::DateTime<chrono::Utc>| {
        let iso = at.with_timezone(&tz).iso_week();
        format!("{}-W{:02}", iso.year(), iso.week())
    };
    let last_day = (range.to - Duration::days(1)).with_timezone(&tz);
    Ok(Week {
        label: format!(
            "{}（{} 至 {}）",
            name(range.from),
            range.from.with_timezone(&tz).format("%Y-%m-%d"),
            last_day.format("%Y-%m-%d")
        ),
        before: name(range.from - Duration::days(7)),
        after: name(range.to),
        range,
    })
}

fn office_asked(query: &WeekQuery) -> Option<String> {
    let office = query.office.trim();
    (!office.is_empty()).then(|| office.to_owned())
}

/// `GET /console/ledger`: the week's ledger as a table.
pub async fn show(
    State(state): State<PageState>,
    headers: HeaderMap,
    Query(query): Query<WeekQuery>,
) -> Response {
    let signed = match signed_in(&state, &headers).await {
        Ok(signed) => signed,
        Err(response) => return response,
    };
    let week = match week(&state, &query.week) {
        Ok(week) => week,
        Err(e) => return error_page(&state, e.into(), Some(&signed)),
    };
    let ledger = match state
        .whistle
        .ledger(&signed.actor(), week.range, office_asked(&query))
        .await
    {
        Ok(ledger) => ledger,
        Err(e) => return error_page(&state, e, Some(&signed)),
    };
    let org = state.whistle.organisation();
    let rows: Vec<Vec<String>> = ledger
        .rows
        .iter()
        .map(|row| row.iter().map(|v| v.text()).collect())
        .collect();
    let office = ledger.office.as_deref().map(|code| {
        org.office(code)
            .map_or_else(|| code.to_owned(), |o| o.name.clone())
    });
    let current = format!(
        "{}-W{:02}",
        week.range
            .from
            .with_timezone(&org.calendar.tz())
            .iso_week()
            .year(),
        week.range
            .from
            .with_timezone(&org.calendar.tz())
            .iso_week()
            .week()
    );
    let with_office = match office_asked(&query) {
        Some(code) => format!(
            "&office={}",
            percent_encoding::utf8_percent_encode(&code, percent_encoding::NON_ALPHANUMERIC)
        ),
        None => String::new(),
    };
    state.console.render(
        "ledger.html",
        StatusCode::OK,
        context! {
            who => signed.view(),
            office => office.unwrap_or_else(|| "全部街道".to_owned()),
            week => week.label,
            before => format!("/console/ledger?week={}{with_office}", week.before),
            after => format!("/console/ledger?week={}{with_office}", week.after),
            download => format!("/console/ledger.xlsx?week={current}{with_office}"),
            columns => COLUMNS.iter().map(|(name, _)| *name).collect::<Vec<_>>(),
            rows => rows,
            cases => ledger.cases,
            figures => ledger.figures.iter().map(|t| context! {
                name => &t.name,
                headers => &t.headers,
                rows => t.rows.iter().map(|r| r.iter().map(|c| c.display()).collect::<Vec<_>>()).collect::<Vec<_>>(),
            }).collect::<Vec<_>>(),
        },
    )
}

/// `GET /console/ledger.xlsx`: the week's ledger as ExportLedger writes it.
pub async fn download(
    State(state): State<PageState>,
    headers: HeaderMap,
    Query(query): Query<WeekQuery>,
) -> Response {
    let signed = match signed_in(&state, &headers).await {
        Ok(signed) => signed,
        Err(response) => return response,
    };
    let week = match week(&state, &query.week) {
        Ok(week) => week,
        Err(e) => return error_page(&state, e.into(), Some(&signed)),
    };
    let command = ExportLedger {
        range: week.range,
        office: office_asked(&query),
        format: LedgerFormat::Xlsx,
    };
    match state.whistle.export_ledger(&signed.actor(), command).await {
        Ok(file) => crate::http::page::download(&file.file_name, file.content_type, file.content),
        Err(e) => error_page(&state, e, Some(&signed)),
    }
}
