//! An office's cases: the list, the case page, and the two things it does
//! there, reviewing a reply (ReviewReply) and recording the resident's
//! verdict (RecordFeedback), through the same use cases as gRPC. A post that
//! changed something answers `303 See Other` back to the case page.

use std::collections::HashMap;

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::context;
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Deserialize;

use super::view::{CaseRow, CaseView};
use super::{Signed, error_page, forbidden, same_token, signed_in};
use crate::domain::{CaseFilter, CaseStatus, Comment, DomainError, ReviewDecision, Verdict};
use crate::http::PageState;
use crate::service::{Error, PageRequest, RecordFeedback, ReviewReply};

/// Cases per page of the list.
const PAGE_SIZE: u32 = 20;

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    status: String,
    #[serde(default)]
    after: String,
}

/// `GET /console/cases`: the office's cases, newest last, by status, paged.
pub async fn list(
    State(state): State<PageState>,
    headers: HeaderMap,
    Query(query): Query<ListQuery>,
) -> Response {
    let signed = match signed_in(&state, &headers).await {
        Ok(signed) => signed,
        Err(response) => return response,
    };
    let status = CaseStatus::parse(query.status.trim());
    let filter = CaseFilter {
        status,
        ..CaseFilter::default()
    };
    let after = query.after.trim();
    let page = PageRequest {
        size: PAGE_SIZE,
        after: (!after.is_empty()).then(|| after.to_owned()),
    };
    let page = match state
        .whistle
        .list_cases(&signed.actor(), filter, page)
        .await
    {
        Ok(page) => page,
        Err(e) => return error_page(&state, e, Some(&signed)),
    };
    let org = state.whistle.organisation();
    let tz = org.calendar.tz();
    let rows: Vec<CaseRow> = page
        .items
        .iter()
        .map(|c| CaseRow::of(c, &org, tz))
        .collect();
    let status_code = status.map_or("", CaseStatus::as_str);
    let next = page.next.map(|token| {
        format!(
            "/console/cases?status={status_code}&after={}",
            utf8_percent_encode(&token, NON_ALPHANUMERIC)
        )
    });
    let statuses: Vec<(&str, &str)> = CaseStatus::ALL
        .iter()
        .map(|s| (s.as_str(), s.zh()))
        .collect();
    state.console.render(
        "cases.html",
        StatusCode::OK,
        context! {
            who => signed.view(),
            cases => rows,
            status => status_code,
            statuses => statuses,
            next => next,
            first => !after.is_empty(),
        },
    )
}

#[derive(Debug, Deserialize)]
pub struct Shown {
    done: Option<String>,
}

/// `GET /console/cases/{case_id}`.
pub async fn show(
    State(state): State<PageState>,
    headers: HeaderMap,
    Path(case_id): Path<String>,
    Query(shown): Query<Shown>,
) -> Response {
    let signed = match signed_in(&state, &headers).await {
        Ok(signed) => signed,
        Err(response) => return response,
    };
    let notice = shown.done.as_deref().and_then(|done| match done {
        "review" => Some("审核结果已记录。"),
        "feedback" => Some("回访结果已记录。"),
        _ => None,
    });
    render_case(
        &state,
        &signed,
        &case_id,
        notice.map(|n| ("ok", n.to_owned())),
        StatusCode::OK,
    )
    .await
}

async fn render_case(
    state: &PageState,
    signed: &Signed,
    case_id: &str,
    notice: Option<(&str, String)>,
    status: StatusCode,
) -> Response {
    let case = match state
        .whistle
        .get_case(&signed.actor(), case_id.trim())
        .await
    {
        Ok(case) => case,
        Err(e) => return error_page(state, e, Some(signed)),
    };
    let org = state.whistle.organisation();
    let view = CaseView::of(&case, &org, state.whistle.now(), org.calendar.tz());
    let verdicts: Vec<(&str, &str)> = Verdict::ALL
        .iter()
        .map(|v| {
            (
                v.as_str(),
                match v {
                    Verdict::Satisfied => "满意",
                    Verdict::BasicallySatisfied => "基本满意",
                    Verdict::Unsatisfied => "不满意（重新办理）",
                },
            )
        })
        .collect();
    state.console.render(
        "case.html",
        status,
        context! {
            who => signed.view(),
            case => view,
            verdicts => verdicts,
            notice => notice.map(|(class, text)| context! { class => class, text => text }),
        },
    )
}

/// Signs the post in and checks its CSRF token.
async fn posted(
    state: &PageState,
    headers: &HeaderMap,
    form: &HashMap<String, String>,
) -> Result<Signed, Response> {
    let signed = signed_in(state, headers).await?;
    if !same_token(&signed.csrf, form.get("csrf").map_or("", String::as_str)) {
        return Err(forbidden(&state.console, Some(&signed)));
    }
    Ok(signed)
}

/// What a post answers: back to the case when it worked, the case page with
/// the refusal when the office can act on it, an error page otherwise.
async fn answer(
    state: &PageState,
    signed: &Signed,
    case_id: &str,
    done: &str,
    result: Result<crate::domain::Case, Error>,
) -> Response {
    let refusal = match result {
        Ok(case) => {
            return Redirect::to(&format!("/console/cases/{}?done={done}", case.id))
                .into_response();
        }
        Err(Error::Refused(refusal)) => refusal,
        Err(other) => return error_page(state, other, Some(signed)),
    };
    let (status, text) = match &refusal {
        DomainError::Invalid(violations) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            violations
                .iter()
                .map(|v| format!("{}：{}", field_zh(&v.field), v.description_zh()))
                .collect::<Vec<_>>()
                .join("；"),
        ),
        DomainError::WrongState(message) | DomainError::AlreadyExists(message) => {
            (StatusCode::CONFLICT, message.zh.clone())
        }
        _ => return error_page(state, Error::Refused(refusal), Some(signed)),
    };
    render_case(state, signed, case_id, Some(("error", text)), status).await
}

fn field_zh(field: &str) -> &str {
    match field {
        "reason" => "理由",
        "comment" => "群众意见",
        "verdict" => "回访结果",
        "decision" => "审核结果",
        other => other,
    }
}

/// `POST /console/cases/{case_id}/review`: accept a reply, or reject it with
/// a reason (the request goes out again, as ReviewReply does).
pub async fn review(
    State(state): State<PageState>,
    headers: HeaderMap,
    Path(case_id): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let signed = match posted(&state, &headers, &form).await {
        Ok(signed) => signed,
        Err(response) => return response,
    };
    let field = |name: &str| form.get(name).map_or("", String::as_str);
    let result = match field("decision") {
        "accept" | "reject" => {
            match ReviewDecision::parse(field("decision") == "accept", field("reason")) {
                Ok(decision) => {
                    let command = ReviewReply {
                        request_id: field("request_id").trim().to_owned(),
                        decision,
                    };
                    state.whistle.review_reply(&signed.actor(), command).await
                }
                Err(violation) => Err(DomainError::from(violation).into()),
            }
        }
        _ => Err(
            DomainError::invalid("decision", "must be accept or reject", "请选择采纳或退回").into(),
        ),
    };
    answer(&state, &signed, &case_id, "review", result).await
}

/// `POST /console/cases/{case_id}/feedback`: the resident's verdict after the
/// follow-up visit (回访), as RecordFeedback; an unsatisfied one re-issues
/// every request.
pub async fn feedback(
    State(state): State<PageState>,
    headers: HeaderMap,
    Path(case_id): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let signed = match posted(&state, &headers, &form).await {
        Ok(signed) => signed,
        Err(response) => return response,
    };
    let field = |name: &str| form.get(name).map_or("", String::as_str);
    let result = match (
        Verdict::parse(field("verdict")),
        Comment::parse("comment", field("comment")),
    ) {
        (Some(verdict), Ok(comment)) => {
            let command = RecordFeedback {
                case_id: case_id.trim().to_owned(),
                verdict,
                comment,
                reissue_request_ids: Vec::new(),
            };
            state
                .whistle
                .record_feedback(&signed.actor(), command)
                .await
        }
        (None, _) => {
            Err(DomainError::invalid("verdict", "choose a verdict", "请选择回访结果").into())
        }
        (_, Err(violation)) => Err(DomainError::from(violation).into()),
    };
    answer(&state, &signed, &case_id, "feedback", result).await
}
