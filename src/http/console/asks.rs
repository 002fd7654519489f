//! The asks waiting for a supervisor's ruling: extensions (延期) and returns
//! (退单), each with its form, ruled through DecideExtension and
//! ResolveReturn as over gRPC. A ruling made answers `303 See Other` back to
//! where it was made: the list, or the case page (`from`).

use std::collections::HashMap;

use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::{Value, context};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Deserialize;

use super::supervisor::{
    PendingExtension, PendingReturn, choices, chosen, correctable, field, field_zh, notice,
    office_name, pending_of, posted,
};
use super::{Signed, error_page, signed_in};
use crate::domain::{AskFilter, DomainError, ExtensionDecision, ReasonText, Resolution};
use crate::http::PageState;
use crate::service::{DecideExtension, Error, PageRequest, ResolveReturn};

/// What a path segment keeps as it is: an id's letters, digits and dashes.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_');

/// Requests with asks per page.
const PAGE_SIZE: u32 = 50;

#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    office: String,
    #[serde(default)]
    department: String,
    #[serde(default)]
    after: String,
    done: Option<String>,
}

/// `GET /console/asks`.
pub async fn list(
    State(state): State<PageState>,
    headers: HeaderMap,
    Query(query): Query<ListQuery>,
) -> Response {
    let signed = match signed_in(&state, &headers).await {
        Ok(signed) => signed,
        Err(response) => return response,
    };
    let done = query.done.as_deref().and_then(|done| match done {
        "extension" => Some("延期审批已记录。"),
        "return" => Some("退单决定已记录。"),
        _ => None,
    });
    render(
        &state,
        &signed,
        &query,
        done.map(|text| notice("ok", text)),
        StatusCode::OK,
    )
    .await
}

async fn render(
    state: &PageState,
    signed: &Signed,
    query: &ListQuery,
    notice: Option<Value>,
    status: StatusCode,
) -> Response {
    let org = state.whistle.organisation();
    let (offices, departments) = choices(&org);
    let filter = AskFilter {
        office: chosen(&query.office, &offices),
        department: chosen(&query.department, &departments),
    };
    let page = PageRequest::from_query(PAGE_SIZE, &query.after);
    let page = match state
        .whistle
        .list_open_asks(&signed.actor(), filter.clone(), page)
        .await
    {
        Ok(page) => page,
        Err(e) => return error_page(state, e, Some(signed)),
    };
    let mut extensions: Vec<(PendingExtension, Value)> = Vec::new();
    let mut returns: Vec<(PendingReturn, Value)> = Vec::new();
    for assigned in &page.items {
        let case = context! {
            id => &assigned.case.id,
            title => &assigned.case.title,
            office => office_name(&org, &assigned.case.office),
        };
        let (x, r) = pending_of(&assigned.request, &org);
        extensions.extend(x.into_iter().map(|x| (x, case.clone())));
        returns.extend(r.into_iter().map(|r| (r, case.clone())));
    }
    let extensions: Vec<Value> = extensions
        .into_iter()
        .map(|(x, case)| context! { ask => x, case => case })
        .collect();
    let returns: Vec<Value> = returns
        .into_iter()
        .map(|(r, case)| context! { ask => r, case => case })
        .collect();
    let office = filter.office.unwrap_or_default();
    let department = filter.department.unwrap_or_default();
    let next = page.next.map(|token| {
        format!(
            "/console/asks?office={}&department={}&after={}",
            utf8_percent_encode(&office, NON_ALPHANUMERIC),
            utf8_percent_encode(&department, NON_ALPHANUMERIC),
            utf8_percent_encode(&token, NON_ALPHANUMERIC)
        )
    });
    state.console.render(
        "asks.html",
        status,
        context! {
            who => signed.view(),
            extensions => extensions,
            returns => returns,
            offices => offices,
            departments => departments,
            office => office,
            department => department,
            next => next,
            notice => notice,
        },
    )
}

/// Where a ruling made on `form` answers: back to the case page it was made
/// on, or to the list.
async fn answered(
    state: &PageState,
    signed: &Signed,
    form: &HashMap<String, String>,
    done: &str,
    result: Result<(), Error>,
) -> Response {
    let from = field(form, "from").trim();
    let error = match result {
        Ok(()) if from.is_empty() => {
            return Redirect::to(&format!("/console/asks?done={done}")).into_response();
        }
        Ok(()) => {
            return Redirect::to(&format!(
                "/console/supervise/{}?done={done}",
                utf8_percent_encode(from, SEGMENT)
            ))
            .into_response();
        }
        Err(e) => e,
    };
    match correctable(&error, field_zh) {
        Some((status, text)) if from.is_empty() => {
            render(
                state,
                signed,
                &ListQuery::default(),
                Some(notice("error", text)),
                status,
            )
            .await
        }
        Some((status, text)) => {
            super::supervisor::render(state, signed, from, Some(notice("error", text)), status)
                .await
        }
        None => error_page(state, error, Some(signed)),
    }
}

/// `POST /console/asks/extension`: approve (with an optional comment) or
/// deny (with a reason) an extension, as DecideExtension.
pub async fn decide_extension(
    State(state): State<PageState>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let signed = match posted(&state, &headers, &form).await {
        Ok(signed) => signed,
        Err(response) => return response,
    };
    let decision = match field(&form, "decision") {
        "approve" | "deny" => ExtensionDecision::parse(
            field(&form, "decision") == "approve",
            field(&form, "reason"),
        )
        .map_err(|v| Error::from(DomainError::from(v))),
        _ => Err(
            DomainError::invalid("decision", "must be approve or deny", "请选择批准或不批准")
                .into(),
        ),
    };
    let result = match decision {
        Ok(decision) => {
            let command = DecideExtension {
                extension_id: field(&form, "extension_id").trim().to_owned(),
                decision,
            };
            state
                .whistle
                .decide_extension(&signed.actor(), command)
                .await
                .map(|_| ())
        }
        Err(e) => Err(e),
    };
    answered(&state, &signed, &form, "extension", result).await
}

/// `POST /console/asks/return`: reassign a returned request to another
/// department, or send it back to its own, with a reason, as ResolveReturn.
pub async fn resolve_return(
    State(state): State<PageState>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let signed = match posted(&state, &headers, &form).await {
        Ok(signed) => signed,
        Err(response) => return response,
    };
    let resolution = match field(&form, "resolution") {
        "send_back" => Ok(Resolution::SendBack),
        "reassign" => match crate::domain::text::code(
            "reassign_to_department",
            field(&form, "department"),
            true,
        ) {
            Ok(code) => Ok(Resolution::Reassign(code)),
            Err(v) => Err(Error::from(DomainError::from(v))),
        },
        _ => Err(DomainError::invalid(
            "resolution",
            "must be reassign or send_back",
            "请选择改派或退回原部门",
        )
        .into()),
    };
    let result = match (
        resolution,
        ReasonText::parse("reason", field(&form, "reason")),
    ) {
        (Ok(resolution), Ok(reason)) => {
            let command = ResolveReturn {
                request_id: field(&form, "request_id").trim().to_owned(),
                resolution,
                reason,
            };
            state
                .whistle
                .resolve_return(&signed.actor(), command)
                .await
                .map(|_| ())
        }
        (Err(e), _) => Err(e),
        (_, Err(v)) => Err(DomainError::from(v).into()),
    };
    answered(&state, &signed, &form, "return", result).await
}
