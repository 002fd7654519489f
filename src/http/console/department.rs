//! A department's open requests across every case, soonest deadline first,
//! with what is overdue, through the use case ListAssignedRequests calls.
//! Each opens that request's reply page, where the clerk acts: the console
//! makes a link for it (letters' links are stored only as digests, so there
//! is none to look up) and sends the browser there.

use std::collections::HashMap;

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::context;
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde::{Deserialize, Serialize};

use super::super::view::{Due, met, running, when};
use super::{error_page, forbidden, same_token, signed_in};
use crate::domain::RequestFilter;
use crate::http::PageState;
use crate::service::PageRequest;

/// Requests per page.
const PAGE_SIZE: u32 = 30;

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    overdue: String,
    #[serde(default)]
    after: String,
}

#[derive(Debug, Serialize)]
struct Row {
    id: String,
    reference: String,
    title: String,
    office: String,
    community: String,
    role: &'static str,
    status: &'static str,
    round: u32,
    ack: Due,
    reply: Due,
    overdue: bool,
    issued_at: String,
}

/// `GET /console/requests`: the department's open requests.
pub async fn list(
    State(state): State<PageState>,
    headers: HeaderMap,
    Query(query): Query<ListQuery>,
) -> Response {
    let signed = match signed_in(&state, &headers).await {
        Ok(signed) => signed,
        Err(response) => return response,
    };
    let overdue = !query.overdue.trim().is_empty();
    let filter = RequestFilter {
        open: true,
        overdue,
        ..RequestFilter::default()
    };
    let page = PageRequest::from_query(PAGE_SIZE, &query.after);
    let page = match state
        .whistle
        .list_requests(&signed.actor(), filter, page)
        .await
    {
        Ok(page) => page,
        Err(e) => return error_page(&state, e, Some(&signed)),
    };
    let org = state.whistle.organisation();
    let tz = org.calendar.tz();
    let now = state.whistle.now();
    let rows: Vec<Row> = page
        .items
        .iter()
        .map(|a| {
            let r = &a.request;
            Row {
                id: r.id.clone(),
                reference: r.reference.as_str().to_owned(),
                title: a.case.title.clone(),
                office: org
                    .office(&a.case.office)
                    .map_or_else(|| a.case.office.clone(), |o| o.name.clone()),
                community: a.case.community.clone(),
                role: r.role.zh(),
                status: r.status.zh(),
                round: r.round,
                ack: match r.acknowledged_at {
                    Some(at) => met(r.ack_due_at, at, "签收", tz),
                    None => running(r.ack_due_at, now, tz),
                },
                reply: match r.current_reply() {
                    Some(answer) => met(r.reply_due_at, answer.replied_at, "答复", tz),
                    None => running(r.reply_due_at, now, tz),
                },
                overdue: r.overdue(now).is_some(),
                issued_at: when(r.issued_at, tz),
            }
        })
        .collect();
    let again = if overdue { "overdue=1&" } else { "" };
    let next = page.next.map(|token| {
        format!(
            "/console/requests?{again}after={}",
            utf8_percent_encode(&token, NON_ALPHANUMERIC)
        )
    });
    state.console.render(
        "requests.html",
        StatusCode::OK,
        context! {
            who => signed.view(),
            requests => rows,
            overdue => overdue,
            overdue_count => page.items.iter().filter(|a| a.request.overdue(now).is_some()).count(),
            next => next,
            first => (!query.after.trim().is_empty()).then(|| format!("/console/requests?{}", again.trim_end_matches('&'))),
        },
    )
}

/// `POST /console/requests/{request_id}/open`: to the request's reply page.
pub async fn open(
    State(state): State<PageState>,
    headers: HeaderMap,
    Path(request_id): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let signed = match signed_in(&state, &headers).await {
        Ok(signed) => signed,
        Err(response) => return response,
    };
    if !same_token(&signed.csrf, form.get("csrf").map_or("", String::as_str)) {
        return forbidden(&state.console, Some(&signed));
    }
    match state
        .whistle
        .open_reply_page(&signed.actor(), request_id.trim())
        .await
    {
        Ok(token) => Redirect::to(&format!("/r/{token}")).into_response(),
        Err(e) => error_page(&state, e, Some(&signed)),
    }
}
