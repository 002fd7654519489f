//! The figures (统计): the rates, satisfaction, weighted score and ranking
//! per department and per office for a week, a month or a range of days,
//! from the same use case as GetStatistics, with two charts drawn as SVG:
//! the rates per department, and the weekly trend of the whole scope over
//! the eight ISO weeks ending with the scope's last day.

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use chrono::{Datelike, Duration, NaiveDate};
use minijinja::context;
use serde::{Deserialize, Serialize};

use super::supervisor::{choices, chosen, correctable, field_zh, notice};
use super::svg::{self, RATES};
use super::{error_page, signed_in};
use crate::domain::ledger::LedgerRange;
use crate::domain::statistics::{
    CommunityFigures, OfficeFigures, Rate, RequestFigures, Scope, Score, Statistics,
};
use crate::domain::{DomainError, FieldViolation, Violations};
use crate::http::PageState;
use crate::http::view::when;

/// Weeks the trend chart shows.
const TREND_WEEKS: i64 = 8;

#[derive(Debug, Deserialize)]
pub struct FiguresQuery {
    /// `week`, `month` or `range`.
    #[serde(default)]
    period: String,
    /// A day of the week or month shown (`YYYY-MM-DD`); today when empty.
    #[serde(default)]
    date: String,
    /// The range's first and last days.
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    office: String,
}

#[derive(Debug, Serialize)]
struct Row {
    rank: String,
    name: String,
    /// 交办件数 (a department) or 案件数 (an office).
    count: u32,
    overdue_now: u32,
    response: String,
    on_time: String,
    resolution: String,
    satisfaction: String,
    /// The residents behind the cases: more than the cases where duplicates joined.
    residents: u32,
    resident_satisfaction: String,
    points: String,
    note: String,
}

/// A community's line, or a zone's or a collector's under it, of the
/// community evaluation.
#[derive(Serialize)]
struct CommunityRow {
    office: String,
    /// The community, `community · zone` for a zone within it, and
    /// `community · zone · collector` for a collector of the zone.
    name: String,
    zone: bool,
    cases: u32,
    residents: u32,
    closed: u32,
    satisfaction: String,
    resident_satisfaction: String,
    rejected_replies: u32,
    overdue_steps: u32,
    unsatisfied: u32,
    difficulty_points: String,
    additions: String,
    deductions: String,
    points: String,
}

fn community_row(c: &CommunityFigures) -> CommunityRow {
    CommunityRow {
        office: c.office_name.clone(),
        name: [Some(&c.community), c.zone.as_ref(), c.collector.as_ref()]
            .into_iter()
            .flatten()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join(" · "),
        zone: c.zone.is_some() || c.collector.is_some(),
        cases: c.cases,
        residents: c.residents,
        closed: c.closed,
        satisfaction: percent(c.satisfaction),
        resident_satisfaction: percent(c.resident_satisfaction),
        rejected_replies: c.rejected_replies,
        overdue_steps: c.overdue_steps,
        unsatisfied: c.unsatisfied,
        difficulty_points: format!("{:.1}", c.difficulty_points),
        additions: format!("+{:.1}", c.additions),
        deductions: format!("-{:.1}", c.deductions),
        points: format!("{:.1}", c.points()),
    }
}

fn percent(rate: Rate) -> String {
    rate.value()
        .map_or_else(|| "—".to_owned(), |v| format!("{:.1}%", v * 100.0))
}

/// `satisfaction` per case, then per resident.
fn row(
    name: &str,
    count: u32,
    residents: u32,
    f: &RequestFigures,
    [satisfaction, resident_satisfaction]: [Rate; 2],
    score: &Score,
) -> Row {
    Row {
        rank: score.rank.map(|r| r.to_string()).unwrap_or_default(),
        name: name.to_owned(),
        count,
        overdue_now: f.overdue_now,
        response: percent(f.response),
        on_time: percent(f.on_time_reply),
        resolution: percent(f.resolution),
        satisfaction: percent(satisfaction),
        residents,
        resident_satisfaction: percent(resident_satisfaction),
        points: score
            .points
            .map_or_else(|| "—".to_owned(), |p| format!("{p:.1}")),
        note: if score.too_few_to_rank {
            "样本不足，不参与排名".to_owned()
        } else {
            String::new()
        },
    }
}

fn day(field: &str, value: &str) -> Result<NaiveDate, FieldViolation> {
    NaiveDate::parse_from_str(value.trim(), "%Y-%m-%d").map_err(|_| {
        FieldViolation::new(field, "must be a date, YYYY-MM-DD").zh("请填写日期（年-月-日）")
    })
}

/// The period asked for, as the code the form keeps and the range of days.
fn period(
    query: &FiguresQuery,
    today: NaiveDate,
    tz: chrono_tz::Tz,
) -> Result<(&'static str, LedgerRange), DomainError> {
    let invalid =
        |field: &str| DomainError::from(FieldViolation::new(field, "is not a day").zh("日期无效"));
    match query.period.trim() {
        "range" => {
            let mut v = Violations::new();
            let from = v.check(day("from", &query.from));
            let to = v.check(day("to", &query.to));
            let (Some(from), Some(to)) = (from, to) else {
                return Err(v.into_error());
            };
            // Both days whole: from the first's midnight to the one after the last.
            let start = LedgerRange::days(from, from, tz).ok_or_else(|| invalid("from"))?;
            let end = LedgerRange::days(to, to, tz).ok_or_else(|| invalid("to"))?;
            Ok(("range", LedgerRange::parse(Ok(start.from), Ok(end.to))?))
        }
        "month" => {
            let date = day("date", &query.date).unwrap_or(today);
            let first = date.with_day(1).ok_or_else(|| invalid("date"))?;
            let next = first
                .checked_add_months(chrono::Months::new(1))
                .ok_or_else(|| invalid("date"))?;
            let range = LedgerRange::days(first, next - Duration::days(1), tz)
                .ok_or_else(|| invalid("date"))?;
            Ok(("month", range))
        }
        _ => {
            let date = day("date", &query.date).unwrap_or(today);
            let week = date.iso_week();
            let range = LedgerRange::iso_week(week.year(), week.week(), tz)
                .ok_or_else(|| invalid("date"))?;
            Ok(("week", range))
        }
    }
}

/// `GET /console/figures`.
pub async fn show(
    State(state): State<PageState>,
    headers: HeaderMap,
    Query(query): Query<FiguresQuery>,
) -> Response {
    let signed = match signed_in(&state, &headers).await {
        Ok(signed) => signed,
        Err(response) => return response,
    };
    let actor = signed.actor();
    let whistle = &state.whistle;
    let org = whistle.organisation();
    let tz = org.calendar.tz();
    let now = whistle.now();
    let today = now.with_timezone(&tz).date_naive();
    let (offices, _) = choices(&org);
    let office = chosen(&query.office, &offices);
    let base = context! {
        who => signed.view(),
        offices => offices,
        office => office.clone().unwrap_or_default(),
        date => query.date.trim(),
        from => query.from.trim(),
        to => query.to.trim(),
    };
    let (code, range) = match period(&query, today, tz) {
        Ok(period) => period,
        Err(refusal) => {
            let error = crate::service::Error::Refused(refusal);
            return match correctable(&error, field_zh) {
                Some((status, text)) => state.console.render(
                    "figures.html",
                    status,
                    context! { period => "range", notice => notice("error", text), ..base },
                ),
                None => error_page(&state, error, Some(&signed)),
            };
        }
    };
    let figures = match whistle
        .statistics(&actor, Scope::of(range, office.clone()))
        .await
    {
        Ok(figures) => figures,
        Err(e) => return error_page(&state, e, Some(&signed)),
    };
    // The weeks of the trend: the eight ending with the one holding the
    // scope's last day.
    let last = (range.to - Duration::milliseconds(1))
        .with_timezone(&tz)
        .date_naive();
    let mut weeks = Vec::new();
    for back in (0..TREND_WEEKS).rev() {
        let week = (last - Duration::weeks(back)).iso_week();
        let Some(range) = LedgerRange::iso_week(week.year(), week.week(), tz) else {
            continue;
        };
        match whistle
            .statistics(&actor, Scope::of(range, office.clone()))
            .await
        {
            Ok(figures) => weeks.push((format!("W{:02}", week.week()), figures)),
            Err(e) => return error_page(&state, e, Some(&signed)),
        }
    }
    let charts = charts(&figures, &weeks);
    let departments: Vec<Row> = figures
        .departments
        .iter()
        .map(|d| {
            row(
                &d.name,
                d.requests.requests,
                d.residents,
                &d.requests,
                [d.satisfaction, d.resident_satisfaction],
                &d.score,
            )
        })
        .collect();
    let office = |o: &OfficeFigures| {
        row(
            &o.name,
            o.cases,
            o.residents,
            &o.requests,
            [o.satisfaction, o.resident_satisfaction],
            &o.score,
        )
    };
    let mut office_rows: Vec<Row> = figures.offices.iter().map(office).collect();
    office_rows.push(office(&figures.total));
    let community_rows: Vec<CommunityRow> = figures.communities.iter().map(community_row).collect();
    state.console.render(
        "figures.html",
        StatusCode::OK,
        context! {
            period => code,
            label => range.label(tz),
            computed_at => when(figures.computed_at, tz),
            department_rows => departments,
            office_rows => office_rows,
            community_rows => community_rows,
            by_department => charts.0,
            trend => charts.1,
            ..base
        },
    )
}

/// The bars per department and the weekly trend lines, as SVG.
fn charts(figures: &Statistics, weeks: &[(String, Statistics)]) -> (String, String) {
    let rates = |f: &RequestFigures, satisfaction: Rate| {
        vec![
            f.response.value(),
            f.resolution.value(),
            satisfaction.value(),
        ]
    };
    let labels: Vec<String> = figures.departments.iter().map(|d| d.name.clone()).collect();
    let values: Vec<Vec<Option<f64>>> = figures
        .departments
        .iter()
        .map(|d| rates(&d.requests, d.satisfaction))
        .collect();
    let bars = svg::bars("chart-departments", "各部门三率", &labels, &RATES, &values);
    let week_labels: Vec<String> = weeks.iter().map(|(label, _)| label.clone()).collect();
    let per_week: Vec<Vec<Option<f64>>> = weeks
        .iter()
        .map(|(_, f)| rates(&f.total.requests, f.total.satisfaction))
        .collect();
    let by_series: Vec<Vec<Option<f64>>> = (0..RATES.len())
        .map(|j| per_week.iter().map(|w| w[j]).collect())
        .collect();
    let lines = svg::lines(
        "chart-trend",
        "近8周三率走势",
        &week_labels,
        &RATES,
        &by_series,
    );
    (bars, lines)
}
