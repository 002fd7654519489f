//! What the supervisor's pages share (a post's token, a refusal shown beside
//! the form, the names of offices and departments), and the supervisor's
//! case page: any office's case, with VerifyCase's answer in plain words, the
//! reads of the resident's unmasked details, the asks waiting on it and the
//! override close (OverrideClose), all through the same use cases as gRPC.
//! Whoever may not supervise hears that the case does not exist, as
//! VerifyCase answers them.

use std::collections::HashMap;

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::{Value, context};
use serde::Serialize;

use super::view::CaseView;
use super::{Signed, error_page, forbidden, same_token, signed_in};
use crate::domain::audit_chain::ChainReport;
use crate::domain::{DomainError, Organisation, PersonalReadFilter, ReasonText};
use crate::http::PageState;
use crate::http::view::when;
use crate::service::{Error, OverrideCloseCase, PageRequest};

/// Reads of a case's resident listed on its page, newest first.
const READS_SHOWN: u32 = 100;

/// A form's field, or nothing.
pub(super) fn field<'a>(form: &'a HashMap<String, String>, name: &str) -> &'a str {
    form.get(name).map_or("", String::as_str)
}

/// Signs the post in and checks its CSRF token.
pub(super) async fn posted(
    state: &PageState,
    headers: &HeaderMap,
    form: &HashMap<String, String>,
) -> Result<Signed, Response> {
    let signed = signed_in(state, headers).await?;
    if !same_token(&signed.csrf, field(form, "csrf")) {
        return Err(forbidden(&state.console, Some(&signed)));
    }
    Ok(signed)
}

/// A refusal the person can act on, in words beside the form; `None` when
/// the refusal is for the error page (not found, not allowed, a fault).
pub(super) fn correctable(error: &Error, fields: fn(&str) -> &str) -> Option<(StatusCode, String)> {
    match error {
        Error::Refused(DomainError::Invalid(violations)) => Some((
            StatusCode::UNPROCESSABLE_ENTITY,
            violations
                .iter()
                .map(|v| format!("{}：{}", fields(&v.field), v.description_zh()))
                .collect::<Vec<_>>()
                .join("；"),
        )),
        Error::Refused(DomainError::WrongState(message) | DomainError::AlreadyExists(message)) => {
            Some((StatusCode::CONFLICT, message.zh.clone()))
        }
        _ => None,
    }
}

/// How the supervisor's forms name their fields.
pub(super) fn field_zh(field: &str) -> &str {
    match field {
        "reason" => "理由",
        "reassign_to_department" | "department" => "改派部门",
        "decision" => "审批结果",
        "resolution" => "处理方式",
        "from" | "to" => "统计时段",
        "office" => "街道",
        other => other,
    }
}

/// A notice at the top of a page.
pub(super) fn notice(class: &str, text: impl Into<String>) -> Value {
    context! { class => class, text => text.into() }
}

pub(super) fn office_name(org: &Organisation, code: &str) -> String {
    org.office(code)
        .map_or_else(|| code.to_owned(), |o| o.name.clone())
}

pub(super) fn department_name(org: &Organisation, code: &str) -> String {
    org.department(code)
        .map_or_else(|| code.to_owned(), |d| d.name.clone())
}

/// What a filter offers: `(code, name)`, by code.
pub(super) type Choices = Vec<(String, String)>;

/// Every office and every department, for the filters.
pub(super) fn choices(org: &Organisation) -> (Choices, Choices) {
    let offices = org
        .offices
        .iter()
        .map(|(code, o)| (code.clone(), o.name.clone()))
        .collect();
    let departments = org
        .departments
        .iter()
        .map(|(code, d)| (code.clone(), d.name.clone()))
        .collect();
    (offices, departments)
}

/// A filter's value: `None` when empty or not one of `known`.
pub(super) fn chosen(value: &str, known: &[(String, String)]) -> Option<String> {
    let value = value.trim();
    known
        .iter()
        .any(|(code, _)| code == value)
        .then(|| value.to_owned())
}

/// VerifyCase's answer as a supervisor reads it.
#[derive(Debug, Serialize)]
struct ChainView {
    holds: bool,
    checked: u64,
    head: String,
    /// Where and why the chain breaks, in a sentence.
    problem: String,
}

impl ChainView {
    fn of(report: &ChainReport) -> Self {
        Self {
            holds: report.holds(),
            checked: report.checked,
            head: report.head.clone(),
            problem: report
                .first_break
                .as_ref()
                .map(|b| format!("第{}条事件（{}）{}", b.seq, b.kind, b.problem.zh()))
                .unwrap_or_default(),
        }
    }
}

#[derive(Debug, Serialize)]
struct ReadView {
    at: String,
    reader: String,
    via: String,
}

/// A pending extension on the case page, with its form.
#[derive(Debug, Serialize)]
pub(super) struct PendingExtension {
    pub id: String,
    pub request_id: String,
    pub department: String,
    pub reference: String,
    pub asked_by: String,
    pub asked_at: String,
    pub old_due_at: String,
    pub new_due_at: String,
    pub reason: String,
}

/// A pending return (退单), with its form.
#[derive(Debug, Serialize)]
pub(super) struct PendingReturn {
    pub request_id: String,
    pub department_code: String,
    pub department: String,
    pub reference: String,
    pub asked_by: String,
    pub asked_at: String,
    pub reason: String,
}

/// The asks of `request` waiting for a ruling.
pub(super) fn pending_of(
    request: &crate::domain::DepartmentRequest,
    org: &Organisation,
) -> (Vec<PendingExtension>, Option<PendingReturn>) {
    use crate::domain::{ExtensionStatus, ReturnStatus};
    let tz = org.calendar.tz();
    let department = department_name(org, &request.department);
    let extensions = request
        .extensions
        .iter()
        .filter(|x| x.status == ExtensionStatus::Pending)
        .map(|x| PendingExtension {
            id: x.id.clone(),
            request_id: request.id.clone(),
            department: department.clone(),
            reference: request.reference.as_str().to_owned(),
            asked_by: x.asked_by.clone(),
            asked_at: when(x.asked_at, tz),
            old_due_at: when(x.old_due_at, tz),
            new_due_at: when(x.new_due_at, tz),
            reason: x.reason.clone(),
        })
        .collect();
    let ret = request
        .return_ask
        .as_ref()
        .filter(|r| r.status == ReturnStatus::Pending)
        .map(|r| PendingReturn {
            request_id: request.id.clone(),
            department_code: request.department.clone(),
            department: department.clone(),
            reference: request.reference.as_str().to_owned(),
            asked_by: r.asked_by.clone(),
            asked_at: when(r.asked_at, tz),
            reason: r.reason.clone(),
        });
    (extensions, ret)
}

#[derive(Debug, serde::Deserialize)]
pub struct Shown {
    done: Option<String>,
}

/// `GET /console/supervise/{case_id}`.
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
    let done = shown.done.as_deref().and_then(|done| match done {
        "close" => Some("已强制办结，理由已记入办理记录。"),
        "extension" => Some("延期审批已记录。"),
        "return" => Some("退单决定已记录。"),
        _ => None,
    });
    render(
        &state,
        &signed,
        case_id.trim(),
        done.map(|text| notice("ok", text)),
        StatusCode::OK,
    )
    .await
}

/// The case page for a supervisor, with `notice` on top.
pub(super) async fn render(
    state: &PageState,
    signed: &Signed,
    case_id: &str,
    notice: Option<Value>,
    status: StatusCode,
) -> Response {
    let actor = signed.actor();
    let whistle = &state.whistle;
    // VerifyCase first: it answers NotFound to whoever may not supervise, so
    // the page shows nothing of the case to them.
    let report = match whistle.verify_case(&actor, case_id).await {
        Ok(report) => report,
        Err(e) => return error_page(state, e, Some(signed)),
    };
    let case = match whistle.get_case(&actor, case_id).await {
        Ok(case) => case,
        Err(e) => return error_page(state, e, Some(signed)),
    };
    let filter = PersonalReadFilter {
        case_id: Some(case.id.clone()),
        ..PersonalReadFilter::default()
    };
    let reads = match whistle
        .list_personal_reads(&actor, filter, PageRequest::first(READS_SHOWN))
        .await
    {
        Ok(page) => page,
        Err(e) => return error_page(state, e, Some(signed)),
    };
    let org = whistle.organisation();
    let tz = org.calendar.tz();
    let reads: Vec<ReadView> = reads
        .items
        .iter()
        .map(|r| ReadView {
            at: when(r.at, tz),
            reader: r.actor.clone(),
            via: r.via.clone(),
        })
        .collect();
    let (mut extensions, mut returns) = (Vec::new(), Vec::new());
    for request in &case.requests {
        let (x, r) = pending_of(request, &org);
        extensions.extend(x);
        returns.extend(r);
    }
    let (_, departments) = choices(&org);
    let closed = case.status == crate::domain::CaseStatus::Closed;
    let override_close = case.closed_by_override.as_ref().map(|o| {
        context! { by => &o.by, at => when(o.at, tz), reason => &o.reason }
    });
    let view = CaseView::of(&case, &org, whistle.now(), tz);
    state.console.render(
        "supervise.html",
        status,
        context! {
            who => signed.view(),
            case => view,
            chain => ChainView::of(&report),
            reads => reads,
            extensions => extensions,
            returns => returns,
            departments => departments,
            closed => closed,
            override_close => override_close,
            notice => notice,
        },
    )
}

/// `POST /console/supervise/{case_id}/close`: closes the case by override,
/// with the reason on the timeline beside the principal and the person.
pub async fn close(
    State(state): State<PageState>,
    headers: HeaderMap,
    Path(case_id): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let signed = match posted(&state, &headers, &form).await {
        Ok(signed) => signed,
        Err(response) => return response,
    };
    let case_id = case_id.trim();
    let result = match ReasonText::parse("reason", field(&form, "reason")) {
        Ok(reason) => {
            let command = OverrideCloseCase {
                case_id: case_id.to_owned(),
                reason,
            };
            state.whistle.override_close(&signed.actor(), command).await
        }
        Err(violation) => Err(DomainError::from(violation).into()),
    };
    match result {
        Ok(case) => {
            Redirect::to(&format!("/console/supervise/{}?done=close", case.id)).into_response()
        }
        Err(e) => match correctable(&e, field_zh) {
            Some((status, text)) => {
                render(
                    &state,
                    &signed,
                    case_id,
                    Some(notice("error", text)),
                    status,
                )
                .await
            }
            None => error_page(&state, e, Some(&signed)),
        },
    }
}
