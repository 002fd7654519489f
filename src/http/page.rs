//! The routes of the reply page and what each answers.
//!
//! A form posts with the one-time key its rendering carried; a post that
//! changed something answers `303 See Other` back to the page with `?done=`
//! (Post/Redirect/Get), so reloading the page never posts again. A refused
//! post shows the page again with the refusal in Chinese, beside the field it
//! names, keeping what the clerk typed.

use std::collections::BTreeMap;
use std::collections::HashMap;

use axum::Form;
use axum::extract::multipart::{Multipart, MultipartError};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use minijinja::{Environment, context};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde::{Deserialize, Serialize};

use super::PageState;
use super::guard::retry_after;
use super::view::{DeskView, PolicyView};
use crate::domain::{
    DocumentNumber, DomainError, FieldViolation, ProgressText, ReasonText, ReplierName,
    ReplierPhone, ReplyText, Violations,
};
use crate::service::{Desk, DeskAction, DeskReply, Error, NewAttachment, Posted};

const TEMPLATES: &[(&str, &str)] = &[
    ("desk.html", include_str!("../../templates/page/desk.html")),
    (
        "error.html",
        include_str!("../../templates/page/error.html"),
    ),
];

/// Served at `/static/page.css`: the CSP lets in styles from the page's own
/// origin only, so the stylesheet is a file of ours rather than inline CSS.
const STYLESHEET: &str = include_str!("../../templates/page/page.css");

/// What a form key the service does not know means to the clerk.
const EXPIRED: &str = "页面已过期，请刷新后重新提交";

/// The page templates, parsed once.
pub struct Pages {
    templates: Environment<'static>,
}

impl Pages {
    pub fn new() -> anyhow::Result<Self> {
        let mut templates = Environment::new();
        // Everything a template prints is escaped: the case's texts come from
        // residents and offices, the replies from whoever holds a link.
        templates.set_auto_escape_callback(|_| minijinja::AutoEscape::Html);
        for (name, source) in TEMPLATES {
            templates.add_template(name, source)?;
        }
        Ok(Self { templates })
    }

    fn render(&self, name: &str, status: StatusCode, ctx: minijinja::Value) -> Response {
        match self
            .templates
            .get_template(name)
            .and_then(|t| t.render(ctx))
        {
            Ok(html) => (
                status,
                [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
                html,
            )
                .into_response(),
            Err(e) => {
                tracing::error!(error = ?e, template = name, "rendering the reply page");
                (StatusCode::INTERNAL_SERVER_ERROR, "服务内部错误").into_response()
            }
        }
    }

    /// A page that is only a message: an unknown link, an outage, a bug.
    fn message(&self, status: StatusCode, title: &str, text: &str) -> Response {
        self.render(
            "error.html",
            status,
            context! { title => title, text => text },
        )
    }
}

/// A banner above the page.
#[derive(Debug, Serialize)]
struct Notice {
    /// `ok`, `info` or `error`.
    class: &'static str,
    text: String,
}

/// What the clerk typed into the form that was refused, shown again with the
/// refusals beside their fields.
#[derive(Debug, Default, Serialize)]
struct Refused {
    /// `progress`, `reply`, `extension` or `return`.
    form: &'static str,
    values: HashMap<String, String>,
    /// Field → its refusals, in Chinese.
    errors: BTreeMap<String, Vec<String>>,
}

#[derive(Debug, Deserialize)]
pub struct Shown {
    done: Option<String>,
}

/// `GET /r/{token}`: the request, its deadlines and history, and the forms
/// its state allows.
pub async fn show(
    State(state): State<PageState>,
    Path(token): Path<String>,
    Query(shown): Query<Shown>,
) -> Response {
    let notice = shown.done.as_deref().and_then(|done| {
        let text = match done {
            "ack" => "已签收。请在答复期限前提交答复。",
            "progress" => "阶段性答复已提交，街道可在案件记录中看到。",
            "reply" => "答复已提交，等待街道审核。",
            "extension" => "延期申请已提交，等待督办部门审批；审批前办理计时暂停。",
            "return" => "退单申请已提交，等待督办部门决定；决定前办理计时暂停。",
            "repeat" => "此表单已经提交过，本次未重复记录。",
            _ => return None,
        };
        let class = if done == "repeat" { "info" } else { "ok" };
        Some(Notice {
            class,
            text: text.to_owned(),
        })
    });
    match state.whistle.open_desk(&token).await {
        Ok(desk) => render_desk(&state, &token, &desk, notice, None, StatusCode::OK).await,
        Err(e) => error_page(&state, e),
    }
}

/// `POST /r/{token}/ack`: 签收.
pub async fn acknowledge(
    State(state): State<PageState>,
    Path(token): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let key = form.get("form_key").map_or("", String::as_str);
    let posted = state
        .whistle
        .post_desk(&token, key, DeskAction::Acknowledge)
        .await;
    answer_post(&state, &token, posted, "ack", None).await
}

/// `POST /r/{token}/progress`: 阶段性答复.
pub async fn progress(
    State(state): State<PageState>,
    Path(token): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let key = form.get("form_key").cloned().unwrap_or_default();
    let text = form.get("text").map_or("", String::as_str);
    let posted = match ProgressText::parse("text", text) {
        Ok(note) => {
            state
                .whistle
                .post_desk(&token, &key, DeskAction::Progress(note))
                .await
        }
        Err(violation) => Err(DomainError::from(violation).into()),
    };
    answer_post(&state, &token, posted, "progress", Some(form)).await
}

/// `POST /r/{token}/extension`: 申请延期.
pub async fn extension(
    State(state): State<PageState>,
    Path(token): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let field = |name: &str| form.get(name).map_or("", String::as_str);
    let tz = state.whistle.organisation().calendar.tz();
    let mut checks = Violations::new();
    let new_reply_due_at =
        checks.check(local_due("new_reply_due_at", field("new_reply_due_at"), tz));
    let reason = checks.check(ReasonText::parse("reason", field("reason")));
    let posted = match (new_reply_due_at, reason) {
        (Some(new_reply_due_at), Some(reason)) if checks.is_empty() => {
            let action = DeskAction::Extension {
                new_reply_due_at,
                reason,
            };
            state
                .whistle
                .post_desk(&token, field("form_key"), action)
                .await
        }
        _ => Err(checks.into_error().into()),
    };
    answer_post(&state, &token, posted, "extension", Some(form)).await
}

/// `POST /r/{token}/return`: 申请退单.
pub async fn return_request(
    State(state): State<PageState>,
    Path(token): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let key = form.get("form_key").cloned().unwrap_or_default();
    let reason = form.get("reason").map_or("", String::as_str);
    let posted = match ReasonText::parse("reason", reason) {
        Ok(reason) => {
            state
                .whistle
                .post_desk(&token, &key, DeskAction::Return { reason })
                .await
        }
        Err(violation) => Err(DomainError::from(violation).into()),
    };
    answer_post(&state, &token, posted, "return", Some(form)).await
}

/// A deadline as the clerk enters it, in the calendar's time zone: a
/// `datetime-local` value (`2026-12-04T17:30`, seconds allowed), or a date
/// alone (`2026-12-04`), which means the end of that day, as a letter's
/// "12月4日前" does.
fn local_due(field: &str, value: &str, tz: Tz) -> Result<DateTime<Utc>, FieldViolation> {
    let value = value.trim();
    let invalid = || {
        FieldViolation::new(
            field,
            "must be a date and time such as 2026-12-04T17:30, or a date such as 2026-12-04",
        )
        .zh("请填写日期和时间（如 2026-12-04 17:30），或只填日期（表示当日24时）")
    };
    let local = if let Ok(day) = NaiveDate::parse_from_str(value, "%Y-%m-%d") {
        day.succ_opt().ok_or_else(invalid)?.and_time(NaiveTime::MIN)
    } else {
        ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"]
            .iter()
            .find_map(|f| NaiveDateTime::parse_from_str(value, f).ok())
            .ok_or_else(invalid)?
    };
    // A time a clock change skips is no time; one it repeats is read as the
    // earlier of the two.
    tz.from_local_datetime(&local)
        .earliest()
        .map(|at| at.with_timezone(&Utc))
        .ok_or_else(invalid)
}

/// The reply form as posted: its text fields and its files.
struct ReplyForm {
    fields: HashMap<String, String>,
    files: Vec<NewAttachment>,
}

async fn read_reply_form(mut multipart: Multipart) -> Result<ReplyForm, MultipartError> {
    let mut form = ReplyForm {
        fields: HashMap::new(),
        files: Vec::new(),
    };
    while let Some(field) = multipart.next_field().await? {
        let name = field.name().unwrap_or_default().to_owned();
        if name == "attachments" {
            let filename = field.file_name().unwrap_or_default().to_owned();
            let content_type = field.content_type().unwrap_or_default().to_owned();
            let bytes = field.bytes().await?;
            // A file input left empty still sends a part, with no name and
            // no bytes.
            if filename.is_empty() && bytes.is_empty() {
                continue;
            }
            form.files.push(NewAttachment {
                filename,
                content_type,
                bytes: bytes.to_vec(),
            });
        } else {
            let value = field.text().await?;
            form.fields.insert(name, value);
        }
    }
    Ok(form)
}

/// `POST /r/{token}/reply`: 答复, with files.
pub async fn reply(
    State(state): State<PageState>,
    Path(token): Path<String>,
    multipart: Multipart,
) -> Response {
    let form = match read_reply_form(multipart).await {
        Ok(form) => form,
        Err(e) => {
            let status = e.status();
            let text = if status == StatusCode::PAYLOAD_TOO_LARGE {
                format!(
                    "提交的内容过大：附件合计不得超过{}。请返回上一页，减少附件后重新提交。",
                    PolicyView::of(state.whistle.reply_policy()).max_size
                )
            } else {
                "提交的表单无法读取，请返回上一页重新提交。".to_owned()
            };
            tracing::debug!(error = %e, "reading the reply form");
            return state.pages.message(status, "无法提交", &text);
        }
    };
    let field = |name: &str| form.fields.get(name).map_or("", String::as_str);
    let mut checks = Violations::new();
    let text = checks.check(ReplyText::parse("text", field("text")));
    let document_number = checks.check(DocumentNumber::parse(
        "document_number",
        field("document_number"),
    ));
    let replier_name = checks.check(ReplierName::parse("replier_name", field("replier_name")));
    let replier_phone = checks.check(ReplierPhone::parse("replier_phone", field("replier_phone")));
    let posted = match (text, document_number, replier_name, replier_phone) {
        (Some(text), Some(document_number), Some(replier_name), Some(replier_phone))
            if checks.is_empty() =>
        {
            let reply = DeskReply {
                text,
                document_number,
                replier_name,
                replier_phone,
                attachments: form.files,
            };
            state
                .whistle
                .post_desk(&token, field("form_key"), DeskAction::Reply(reply))
                .await
        }
        _ => Err(checks.into_error().into()),
    };
    answer_post(&state, &token, posted, "reply", Some(form.fields)).await
}

/// What a post answers: back to the page when it worked, the page again with
/// the refusal when it did not.
async fn answer_post(
    state: &PageState,
    token: &str,
    posted: Result<(Posted, Desk), Error>,
    done: &str,
    typed: Option<HashMap<String, String>>,
) -> Response {
    let refusal = match posted {
        Ok((Posted::Done, _)) => {
            return Redirect::to(&format!("/r/{token}?done={done}")).into_response();
        }
        Ok((Posted::Repeated, _)) => {
            return Redirect::to(&format!("/r/{token}?done=repeat")).into_response();
        }
        Err(Error::Refused(refusal)) => refusal,
        Err(other) => return error_page(state, other),
    };
    let (status, notice, refused) = match refusal {
        DomainError::Invalid(violations) if violations.iter().any(|v| v.field == "form_key") => {
            (StatusCode::FORBIDDEN, EXPIRED.to_owned(), None)
        }
        DomainError::Invalid(violations) => {
            let form = match done {
                "progress" => "progress",
                "extension" => "extension",
                "return" => "return",
                _ => "reply",
            };
            let refused = refused_form(form, typed.unwrap_or_default(), &violations);
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                "提交的内容有误，请按提示修改后重新提交。".to_owned(),
                Some(refused),
            )
        }
        DomainError::WrongState(message) => (StatusCode::CONFLICT, message.zh, None),
        DomainError::AlreadyExists(message) => (StatusCode::CONFLICT, message.zh, None),
        DomainError::PermissionDenied(message) => (StatusCode::FORBIDDEN, message.zh, None),
        e @ DomainError::NotFound { .. } => return error_page(state, Error::Refused(e)),
        e @ DomainError::Inconsistent(_) => return error_page(state, Error::Refused(e)),
    };
    // The page again, as it stands now, with a fresh key for the next try.
    match state.whistle.open_desk(token).await {
        Ok(desk) => {
            let notice = Notice {
                class: "error",
                text: notice,
            };
            render_desk(state, token, &desk, Some(notice), refused, status).await
        }
        Err(e) => error_page(state, e),
    }
}

fn refused_form(
    form: &'static str,
    values: HashMap<String, String>,
    violations: &[FieldViolation],
) -> Refused {
    let mut errors: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for v in violations {
        errors
            .entry(v.field.clone())
            .or_default()
            .push(v.description_zh().to_owned());
    }
    Refused {
        form,
        values: values
            .into_iter()
            .filter(|(name, _)| name != "form_key")
            .collect(),
        errors,
    }
}

async fn render_desk(
    state: &PageState,
    token: &str,
    desk: &Desk,
    notice: Option<Notice>,
    refused: Option<Refused>,
    status: StatusCode,
) -> Response {
    let policy = state.whistle.reply_policy();
    let tz = state.whistle.organisation().calendar.tz();
    let view = DeskView::of(desk, policy, tz);
    // An ended link shows no forms, so it needs no key.
    let form_key = if view.ended.is_none() {
        match state.whistle.issue_form_key(token).await {
            Ok(key) => key,
            Err(e) => return error_page(state, e),
        }
    } else {
        String::new()
    };
    state.pages.render(
        "desk.html",
        status,
        context! {
            view => view,
            token => token,
            form_key => form_key,
            notice => notice,
            refused => refused.unwrap_or_default(),
        },
    )
}

/// `GET /r/{token}/files/{attachment_id}`: a file of a reply, always as a
/// download, with the type its bytes have (documents and images; anything
/// else, HTML or script in disguise among it, is `application/octet-stream`)
/// and a name without paths, controls or reordering characters.
pub async fn file(
    State(state): State<PageState>,
    Path((token, attachment_id)): Path<(String, String)>,
) -> Response {
    let file = match state.whistle.desk_attachment(&token, &attachment_id).await {
        Ok(file) => file,
        Err(e) => return error_page(&state, e),
    };
    let content_type = crate::domain::attachment::served_type(&file.content).to_owned();
    let filename = crate::domain::attachment::shown_name(&file.filename);
    download(&filename, &content_type, file.content)
}

/// A file to save, never to show inline: the reply page's attachments and
/// the console's (and its ledger).
pub(super) fn download(filename: &str, content_type: &str, content: Vec<u8>) -> Response {
    // The plain `filename=` is for clients that ignore `filename*=`: ASCII
    // only, and no quote or backslash to break out of the quotes.
    let fallback: String = filename
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let disposition = format!(
        "attachment; filename=\"{fallback}\"; filename*=UTF-8''{}",
        utf8_percent_encode(filename, NON_ALPHANUMERIC)
    );
    let mut response = content.into_response();
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CONTENT_TYPE, content_type.to_owned()),
        (header::CONTENT_DISPOSITION, disposition),
    ] {
        match HeaderValue::from_str(&value) {
            Ok(value) => {
                headers.insert(name, value);
            }
            Err(_) => {
                headers.insert(name, HeaderValue::from_static("application/octet-stream"));
            }
        }
    }
    response
}

/// `GET /static/page.css`.
pub async fn stylesheet() -> Response {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        STYLESHEET,
    )
        .into_response()
}

/// Any other path: the same answer as an unknown link.
pub async fn no_such_page(State(state): State<PageState>) -> Response {
    link_not_found(&state)
}

fn link_not_found(state: &PageState) -> Response {
    state.pages.message(
        StatusCode::NOT_FOUND,
        "链接无效",
        "此链接无效或已不存在。请核对函件中的链接是否完整；如有疑问，请联系发函的街道办事处。",
    )
}

/// A use case's error as a page. The token is never part of it: an unknown
/// link gets the same answer as any other path.
fn error_page(state: &PageState, error: Error) -> Response {
    match error {
        Error::Refused(DomainError::NotFound { .. }) => link_not_found(state),
        Error::Refused(DomainError::Inconsistent(_)) | Error::Internal(_) => {
            tracing::error!(error = ?anyhow::Error::from(error), "reply page");
            state.pages.message(
                StatusCode::INTERNAL_SERVER_ERROR,
                "服务内部错误",
                "服务暂时出错，已记录。请稍后重试；如仍无法提交，请联系发函的街道办事处。",
            )
        }
        Error::Refused(refusal) => {
            state
                .pages
                .message(StatusCode::CONFLICT, "无法办理", &refusal.zh())
        }
        Error::Unavailable(_) | Error::Contention(_) => {
            tracing::warn!(error = ?anyhow::Error::from(error), "reply page unavailable");
            let mut response = state.pages.message(
                StatusCode::SERVICE_UNAVAILABLE,
                "服务繁忙",
                "服务暂时繁忙，请稍后刷新页面重试。",
            );
            let (name, value) = retry_after(5);
            response.headers_mut().insert(name, value);
            response
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deadline_is_read_in_the_calendars_time_zone() {
        let tz = chrono_tz::Asia::Shanghai;
        let at = |y, m, d, h, min| {
            tz.with_ymd_and_hms(y, m, d, h, min, 0)
                .unwrap()
                .with_timezone(&Utc)
        };
        let due = |v: &str| local_due("new_reply_due_at", v, tz);
        assert_eq!(due("2026-12-04T17:30"), Ok(at(2026, 12, 4, 17, 30)));
        assert_eq!(due("2026-12-04T17:30:00"), Ok(at(2026, 12, 4, 17, 30)));
        assert_eq!(due(" 2026-12-04 17:30 "), Ok(at(2026, 12, 4, 17, 30)));
        // A date alone is the end of that day.
        assert_eq!(due("2026-12-04"), Ok(at(2026, 12, 5, 0, 0)));
        for wrong in ["", "12/04/2026", "2026-13-01", "2026-12-04T25:00", "明天"] {
            let refused = due(wrong).unwrap_err();
            assert_eq!(refused.field, "new_reply_due_at", "{wrong}");
            assert!(refused.description_zh().contains("日期"), "{wrong}");
        }
    }

    #[test]
    fn a_time_a_clock_change_skips_is_refused() {
        let tz = chrono_tz::Europe::Berlin;
        assert!(local_due("new_reply_due_at", "2026-03-29T02:30", tz).is_err());
        assert!(local_due("new_reply_due_at", "2026-10-25T02:30", tz).is_ok());
    }
}
