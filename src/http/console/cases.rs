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
use super::{Signed, chosen, error_page, forbidden, same_token, signed_in};
use crate::domain::{
    CaseFilter, CaseOrder, CaseStatus, CaseText, Comment, DomainError, FieldViolation,
    ReviewDecision, Verdict, Violations, VisitMethod,
};
use crate::http::PageState;
use crate::service::{Error, PageRequest, RecordFeedback, ReviewReply};

/// Cases per page of the list.
const PAGE_SIZE: u32 = 20;

#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    status: String,
    #[serde(default)]
    community: String,
    #[serde(default)]
    category: String,
    #[serde(default)]
    department: String,
    #[serde(default)]
    overdue: String,
    #[serde(default)]
    q: String,
    #[serde(default)]
    order: String,
    #[serde(default)]
    after: String,
}

impl ListQuery {
    /// The query string that shows the same list again (without its page).
    fn again(&self) -> String {
        let pairs = [
            ("status", self.status.trim()),
            ("community", self.community.trim()),
            ("category", self.category.trim()),
            ("department", self.department.trim()),
            ("overdue", self.overdue.trim()),
            ("q", self.q.trim()),
            ("order", self.order.trim()),
        ];
        pairs
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| format!("{k}={}", utf8_percent_encode(v, NON_ALPHANUMERIC)))
            .collect::<Vec<_>>()
            .join("&")
    }
}

/// `GET /console/cases`: the office's cases (a supervisor's: every office's),
/// filtered, sorted and paged as ListCases does it.
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
    let order = CaseOrder::parse(query.order.trim()).unwrap_or_default();
    let page = PageRequest::from_query(PAGE_SIZE, &query.after);
    let listed = match CaseText::parse("q", &query.q) {
        Ok(text) => {
            let filter = CaseFilter {
                status,
                community: chosen(&query.community),
                category: chosen(&query.category),
                department: chosen(&query.department),
                overdue: !query.overdue.trim().is_empty(),
                text,
                order,
                ..CaseFilter::default()
            };
            state
                .whistle
                .list_cases(&signed.actor(), filter, page)
                .await
        }
        Err(violation) => Err(DomainError::from(violation).into()),
    };
    let (page, problem) = match listed {
        Ok(page) => (Some(page), None),
        Err(Error::Refused(DomainError::Invalid(violations))) => (
            None,
            Some(
                violations
                    .iter()
                    .map(|v| {
                        let field = if v.field == "page_token" {
                            "翻页"
                        } else {
                            "搜索"
                        };
                        format!("{field}：{}", v.description_zh())
                    })
                    .collect::<Vec<_>>()
                    .join("；"),
            ),
        ),
        Err(e) => return error_page(&state, e, Some(&signed)),
    };
    let org = state.whistle.organisation();
    let tz = org.calendar.tz();
    let now = state.whistle.now();
    let rows: Vec<CaseRow> = page
        .as_ref()
        .map(|p| {
            p.items
                .iter()
                .map(|c| CaseRow::of(c, &org, now, tz))
                .collect()
        })
        .unwrap_or_default();
    let again = query.again();
    let next = page.and_then(|p| p.next).map(|token| {
        let sep = if again.is_empty() { "" } else { "&" };
        format!(
            "/console/cases?{again}{sep}after={}",
            utf8_percent_encode(&token, NON_ALPHANUMERIC)
        )
    });
    let statuses: Vec<(&str, &str)> = CaseStatus::ALL
        .iter()
        .map(|s| (s.as_str(), s.zh()))
        .collect();
    let orders: Vec<(&str, &str)> = CaseOrder::ALL
        .iter()
        .map(|o| (o.as_str(), o.zh()))
        .collect();
    let categories: Vec<(&str, &str)> = org
        .categories
        .values()
        .map(|c| (c.code.as_str(), c.name.as_str()))
        .collect();
    let departments: Vec<(&str, &str)> = org
        .departments
        .values()
        .map(|d| (d.code.as_str(), d.name.as_str()))
        .collect();
    // An office picks among its own communities; others among every office's.
    let mut communities: Vec<&str> = match &signed.person.role {
        crate::domain::ActorRole::Office(code) => org
            .office(code)
            .map(|o| o.communities.iter().map(String::as_str).collect())
            .unwrap_or_default(),
        _ => org
            .offices
            .values()
            .flat_map(|o| o.communities.iter().map(String::as_str))
            .collect(),
    };
    communities.sort_unstable();
    communities.dedup();
    state.console.render(
        "cases.html",
        if problem.is_some() {
            StatusCode::UNPROCESSABLE_ENTITY
        } else {
            StatusCode::OK
        },
        context! {
            who => signed.view(),
            cases => rows,
            statuses => statuses,
            orders => orders,
            categories => categories,
            departments => departments,
            communities => communities,
            chosen => context! {
                status => status.map_or("", CaseStatus::as_str),
                community => query.community.trim(),
                category => query.category.trim(),
                department => query.department.trim(),
                overdue => !query.overdue.trim().is_empty(),
                q => query.q.trim(),
                order => order.as_str(),
            },
            next => next,
            first => (!query.after.trim().is_empty()).then(|| format!("/console/cases?{again}")),
            notice => problem.map(|text| context! { class => "error", text => text }),
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
        "escalated" => Some("诉求已提交，已向部门发函。"),
        "feedback" => Some("回访结果已记录。"),
        "unlinked" => Some("已拆分为独立案件，并已向部门发函。"),
        "linked" => Some("案件已并入，原案件的函已撤回。"),
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
    let methods: Vec<(&str, &str)> = VisitMethod::ALL
        .iter()
        .map(|m| (m.as_str(), m.zh()))
        .collect();
    // The office whose case it is, and supervisors, see whether its timeline
    // is still the one written.
    let chain = if matches!(
        signed.person.role,
        crate::domain::ActorRole::Supervisor | crate::domain::ActorRole::Office(_)
    ) {
        match state.whistle.chain_status(&signed.actor(), &case.id).await {
            Ok(report) => Some(match &report.first_break {
                None => context! {
                    intact => true,
                    text => format!("完整：{}条记录均未被改动。", report.checked),
                },
                Some(at) => context! {
                    intact => false,
                    text => format!("记录链断裂：自第{}条记录起与写入时不符，已告警。", at.seq),
                },
            }),
            Err(e) => return error_page(state, e, Some(signed)),
        }
    } else {
        None
    };
    state.console.render(
        "case.html",
        status,
        context! {
            who => signed.view(),
            case => view,
            verdicts => verdicts,
            methods => methods,
            chain => chain,
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
        "method" => "回访方式",
        "decision" => "审核结果",
        "petition_id" => "诉求人",
        "duplicate_case_id" => "并入案件",
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
    let mut violations = Violations::new();
    let verdict = Verdict::parse(field("verdict"));
    if verdict.is_none() {
        violations.push(FieldViolation::new("verdict", "choose a verdict").zh("请选择回访结果"));
    }
    // The console always asks how the visit was made.
    let method = VisitMethod::parse(field("method"));
    if method.is_none() {
        violations.push(
            FieldViolation::new("method", "choose phone or visit").zh("请选择电话回访或上门回访"),
        );
    }
    let comment = violations.check(Comment::parse("comment", field("comment")));
    let result = match (verdict, method, comment) {
        (Some(verdict), Some(method), Some(comment)) if violations.is_empty() => {
            let petition_id = field("petition_id").trim();
            let command = RecordFeedback {
                case_id: case_id.trim().to_owned(),
                petition_id: (!petition_id.is_empty()).then(|| petition_id.to_owned()),
                verdict,
                method: Some(method),
                comment,
                reissue_request_ids: Vec::new(),
            };
            state
                .whistle
                .record_feedback(&signed.actor(), command)
                .await
        }
        _ => Err(violations.into_error().into()),
    };
    answer(&state, &signed, &case_id, "feedback", result).await
}

/// `GET /console/cases/{case_id}/files/{attachment_id}`: a file of one of the
/// case's replies, through the use case GetAttachment calls, always as a
/// download with the type its bytes have.
pub async fn file(
    State(state): State<PageState>,
    headers: HeaderMap,
    Path((case_id, attachment_id)): Path<(String, String)>,
) -> Response {
    let signed = match signed_in(&state, &headers).await {
        Ok(signed) => signed,
        Err(response) => return response,
    };
    let (of_case, file) = match state
        .whistle
        .attachment(&signed.actor(), attachment_id.trim())
        .await
    {
        Ok(found) => found,
        Err(e) => return error_page(&state, e, Some(&signed)),
    };
    // A file is served under its own case's address only.
    if of_case != case_id.trim() {
        return error_page(
            &state,
            crate::service::not_found("attachment", &attachment_id),
            Some(&signed),
        );
    }
    use crate::domain::attachment::{served_type, shown_name};
    let content_type = served_type(&file.content).to_owned();
    crate::http::page::download(&shown_name(&file.filename), &content_type, file.content)
}

/// `POST /console/cases/{case_id}/unlink`: splits a resident off into a case
/// of their own, as UnlinkResident; the browser goes to the new case.
pub async fn unlink(
    State(state): State<PageState>,
    headers: HeaderMap,
    Path(case_id): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let signed = match posted(&state, &headers, &form).await {
        Ok(signed) => signed,
        Err(response) => return response,
    };
    let petition_id = form.get("petition_id").map_or("", String::as_str).trim();
    let result = state
        .whistle
        .unlink_resident(&signed.actor(), case_id.trim(), petition_id)
        .await;
    answer(&state, &signed, &case_id, "unlinked", result).await
}

/// `POST /console/cases/{case_id}/link`: joins another case of the same
/// problem into this one, as LinkCases.
pub async fn link(
    State(state): State<PageState>,
    headers: HeaderMap,
    Path(case_id): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let signed = match posted(&state, &headers, &form).await {
        Ok(signed) => signed,
        Err(response) => return response,
    };
    let other = form
        .get("duplicate_case_id")
        .map_or("", String::as_str)
        .trim();
    let result = state
        .whistle
        .link_cases(&signed.actor(), case_id.trim(), other)
        .await;
    answer(&state, &signed, &case_id, "linked", result).await
}
