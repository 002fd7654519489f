//! The progress list (进展通报) in the console: what an office tells the
//! residents still waiting on its visit day, for a day, a community or a
//! zone, as a page to print and as the workbook; supervisors read any
//! office's, without the residents. The same use case as ListProgressReport.

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use chrono::NaiveDate;
use minijinja::context;
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Deserialize;

use super::{chosen, error_page, signed_in};
use crate::domain::ledger::LedgerFormat;
use crate::domain::{DomainError, FieldViolation};
use crate::http::PageState;
use crate::service::PageRequest;
use crate::service::progress::ProgressQuery;

/// Cases per page: a community's list prints on a few sheets.
const PAGE_SIZE: u32 = 100;

#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    date: String,
    #[serde(default)]
    community: String,
    #[serde(default)]
    zone: String,
    #[serde(default)]
    office: String,
    #[serde(default)]
    after: String,
}

impl ListQuery {
    fn progress(&self) -> Result<ProgressQuery, DomainError> {
        let day = match self.date.trim() {
            "" => None,
            day => Some(NaiveDate::parse_from_str(day, "%Y-%m-%d").map_err(|_| {
                DomainError::from(
                    FieldViolation::new("date", "must be a day as YYYY-MM-DD")
                        .zh("日期格式应为 YYYY-MM-DD"),
                )
            })?),
        };
        Ok(ProgressQuery {
            office: chosen(&self.office),
            community: chosen(&self.community),
            zone: chosen(&self.zone),
            day,
        })
    }

    /// The query string of the same list (without its page).
    fn again(&self) -> String {
        [
            ("date", self.date.trim()),
            ("community", self.community.trim()),
            ("zone", self.zone.trim()),
            ("office", self.office.trim()),
        ]
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| format!("{k}={}", utf8_percent_encode(v, NON_ALPHANUMERIC)))
        .collect::<Vec<_>>()
        .join("&")
    }
}

/// `GET /console/progress`: a page of the list.
pub async fn show(
    State(state): State<PageState>,
    headers: HeaderMap,
    Query(query): Query<ListQuery>,
) -> Response {
    let signed = match signed_in(&state, &headers).await {
        Ok(signed) => signed,
        Err(response) => return response,
    };
    let org = state.whistle.organisation();
    let supervisor = matches!(signed.actor().role, crate::domain::ActorRole::Supervisor);
    let mut query = query;
    if supervisor && query.office.trim().is_empty() {
        // A supervisor opens on the first office, and picks another.
        query.office = org.offices.keys().next().cloned().unwrap_or_default();
    }
    let progress = match query.progress() {
        Ok(progress) => progress,
        Err(e) => return error_page(&state, e.into(), Some(&signed)),
    };
    let page = PageRequest::from_query(PAGE_SIZE, &query.after);
    let report = match state
        .whistle
        .progress_report(&signed.actor(), progress, page)
        .await
    {
        Ok(report) => report,
        Err(e) => return error_page(&state, e, Some(&signed)),
    };
    let tz = org.calendar.tz();
    let date = |t: chrono::DateTime<chrono::Utc>| t.with_timezone(&tz).format("%m-%d").to_string();
    let entries: Vec<_> = report
        .entries
        .iter()
        .map(|e| {
            context! {
                case_id => &e.case_id,
                petition_id => &e.petition_id,
                title => &e.title,
                community => &e.community,
                zone => &e.zone,
                escalated => date(e.escalated_at),
                residents => e.residents.iter().map(|r| context! {
                    name => &r.name,
                    phone => r.phone.as_str(),
                }).collect::<Vec<_>>(),
                next => e.next.zh(),
                requests => e.requests.iter().map(|r| context! {
                    department => &r.department_name,
                    reference => &r.reference,
                    latest => r.latest.as_ref().map(|s| s.text.as_str()),
                    latest_at => r.latest.as_ref().map(|s| date(s.at)),
                    new => r.latest.as_ref().is_some_and(|s| s.new),
                    next => &r.next_step,
                }).collect::<Vec<_>>(),
            }
        })
        .collect();
    let office_name = org
        .office(&report.office)
        .map_or_else(|| report.office.clone(), |o| o.name.clone());
    let communities: Vec<&str> = org
        .office(&report.office)
        .map(|o| o.communities.iter().map(String::as_str).collect())
        .unwrap_or_default();
    let again = query.again();
    let sep = if again.is_empty() { "" } else { "&" };
    let next = report.next.as_ref().map(|token| {
        format!(
            "/console/progress?{again}{sep}after={}",
            utf8_percent_encode(token, NON_ALPHANUMERIC)
        )
    });
    state.console.render(
        "progress.html",
        StatusCode::OK,
        context! {
            who => signed.view(),
            office => office_name,
            office_code => &report.office,
            day => report.day.day.format("%Y-%m-%d").to_string(),
            community => query.community.trim(),
            zone => query.zone.trim(),
            communities,
            offices => supervisor.then(|| org
                .offices
                .iter()
                .map(|(code, o)| (code.as_str(), o.name.as_str()))
                .collect::<Vec<_>>()),
            entries,
            next,
            download => format!("/console/progress.xlsx?{again}"),
        },
    )
}

/// `GET /console/progress.xlsx`: the whole list as a workbook.
pub async fn download(
    State(state): State<PageState>,
    headers: HeaderMap,
    Query(query): Query<ListQuery>,
) -> Response {
    let signed = match signed_in(&state, &headers).await {
        Ok(signed) => signed,
        Err(response) => return response,
    };
    let progress = match query.progress() {
        Ok(progress) => progress,
        Err(e) => return error_page(&state, e.into(), Some(&signed)),
    };
    match state
        .whistle
        .progress_workbook(&signed.actor(), progress)
        .await
    {
        Ok(file) => crate::http::page::download(
            &file.file_name,
            LedgerFormat::Xlsx.content_type(),
            file.content,
        ),
        Err(e) => error_page(&state, e, Some(&signed)),
    }
}
