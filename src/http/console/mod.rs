//! The console (工作台) at `/console/`: street-office staff without a system
//! of their own work their cases in a browser, through the same use cases as
//! gRPC. It shares the reply page's listener, templates engine and security
//! headers; it needs no script and loads nothing from elsewhere.
//!
//! - signing in: a person listed under a principal asks for a one-time link
//!   by mail (`sign_in`); following it starts a server-side session held by
//!   an HttpOnly, SameSite=Strict cookie (Secure under TLS). Where the
//!   listener asks for client certificates (`http.tls.client_ca_file`), one
//!   that maps to a principal as on gRPC starts the same session with one
//!   button (`certificate`);
//! - every form carries the session's CSRF token (before a session, the
//!   token of a cookie set with the form: double submit);
//! - `cases`: an office's cases (filtered, sorted, paged) and the case page,
//!   where it reviews replies, downloads their files and records the
//!   resident's verdict; `petition_form`: a new petition, refused field by
//!   field; `ledger`: a week's ledger as a table and as the workbook;
//!   `department`: a department's open requests, each opening its reply page;
//! - for supervisors (`supervisor` shares what their pages need): the overdue
//!   `board`, refreshed `live` by Server-Sent Events where a script runs; the
//!   `alerts`; the `asks` waiting for a ruling; the `figures` with charts
//!   drawn as SVG (`svg`); any case with its chain verified, the reads of its
//!   resident's details and the override close (`supervisor`).

mod alerts;
mod asks;
mod board;
mod cases;
mod certificate;
mod department;
mod figures;
mod import;
mod ledger;
mod live;
pub mod people;
mod petition_form;
mod progress;
mod sign_in;
mod supervisor;
mod svg;
mod view;

use std::net::IpAddr;
use std::num::NonZeroU32;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use cookie::{Cookie, SameSite};
use governor::{DefaultKeyedRateLimiter, Quota};
use minijinja::{Environment, Value, context};

use super::PageState;
use crate::domain::Actor;
use crate::service::console::{SessionPolicy, SignedInBy};
use crate::settings::ConsoleSettings;
use crate::tls::principals::CertPrincipals;
pub use people::People;

/// The session's cookie.
const SESSION_COOKIE: &str = "whistle_console";
/// The cookie a form shown before sign-in is checked against.
const FORM_COOKIE: &str = "whistle_console_form";

const TEMPLATES: &[(&str, &str)] = &[
    (
        "base.html",
        include_str!("../../../templates/console/base.html"),
    ),
    (
        "login.html",
        include_str!("../../../templates/console/login.html"),
    ),
    (
        "sign_in.html",
        include_str!("../../../templates/console/sign_in.html"),
    ),
    (
        "cases.html",
        include_str!("../../../templates/console/cases.html"),
    ),
    (
        "case.html",
        include_str!("../../../templates/console/case.html"),
    ),
    (
        "message.html",
        include_str!("../../../templates/console/message.html"),
    ),
    (
        "sessions.html",
        include_str!("../../../templates/console/sessions.html"),
    ),
    (
        "petition.html",
        include_str!("../../../templates/console/petition.html"),
    ),
    (
        "ledger.html",
        include_str!("../../../templates/console/ledger.html"),
    ),
    (
        "import.html",
        include_str!("../../../templates/console/import.html"),
    ),
    (
        "progress.html",
        include_str!("../../../templates/console/progress.html"),
    ),
    (
        "requests.html",
        include_str!("../../../templates/console/requests.html"),
    ),
    (
        "board.html",
        include_str!("../../../templates/console/board.html"),
    ),
    (
        "alerts.html",
        include_str!("../../../templates/console/alerts.html"),
    ),
    (
        "asks.html",
        include_str!("../../../templates/console/asks.html"),
    ),
    (
        "figures.html",
        include_str!("../../../templates/console/figures.html"),
    ),
    (
        "extension_form.html",
        include_str!("../../../templates/console/extension_form.html"),
    ),
    (
        "return_form.html",
        include_str!("../../../templates/console/return_form.html"),
    ),
    (
        "supervise.html",
        include_str!("../../../templates/console/supervise.html"),
    ),
];

/// Ten years: longer than any session needs to last.
const MAX_MINUTES: u64 = 10 * 366 * 24 * 60;

/// What the console's handlers share beyond the reply page's state.
pub struct Console {
    templates: Environment<'static>,
    people: People,
    /// Who a client certificate signs in as; `None` when the listener asks
    /// for none.
    certificates: Option<CertPrincipals>,
    /// Where links in sign-in letters point: the page's public base URL.
    base: String,
    /// Cookies are `Secure` when the listener speaks TLS.
    secure: bool,
    policy: SessionPolicy,
    per_address: Option<DefaultKeyedRateLimiter<String>>,
    per_ip: Option<DefaultKeyedRateLimiter<IpAddr>>,
    /// The live boards' connections, ended when the listener shuts down.
    live: live::Live,
    /// How an uploaded visit sheet's headers are read (`[import]`); none:
    /// no upload.
    sheet_columns: Option<crate::visit_sheet::SheetColumns>,
}

impl Console {
    pub fn new(
        people: People,
        certificates: Option<CertPrincipals>,
        base: String,
        secure: bool,
        settings: &ConsoleSettings,
    ) -> anyhow::Result<Self> {
        let mut templates = Environment::new();
        templates.set_auto_escape_callback(|_| minijinja::AutoEscape::Html);
        for (name, source) in TEMPLATES {
            templates.add_template(name, source)?;
        }
        fn limiter<K: Clone + Eq + std::hash::Hash>(
            per_hour: u32,
        ) -> Option<DefaultKeyedRateLimiter<K>> {
            NonZeroU32::new(per_hour).map(|n| DefaultKeyedRateLimiter::keyed(Quota::per_hour(n)))
        }
        Ok(Self {
            templates,
            people,
            certificates,
            base: base.trim_end_matches('/').to_owned(),
            secure,
            // Zero would end every session at once, and a huge value would
            // overflow the arithmetic of times: both are held to sane bounds.
            policy: SessionPolicy {
                idle: chrono::Duration::minutes(
                    settings.idle_timeout_minutes.clamp(1, MAX_MINUTES) as i64,
                ),
                lifetime: chrono::Duration::minutes(
                    settings.lifetime_hours.clamp(1, MAX_MINUTES / 60) as i64 * 60,
                ),
            },
            per_address: limiter(settings.sign_ins_per_address_per_hour),
            per_ip: limiter(settings.sign_ins_per_ip_per_hour),
            live: live::Live::default(),
            sheet_columns: None,
        })
    }

    /// Offices may upload their visit sheet, read with these headers.
    pub fn with_visit_sheet(mut self, columns: crate::visit_sheet::SheetColumns) -> Self {
        self.sheet_columns = Some(columns);
        self
    }

    /// Live boards end when `shutdown` fires, so that the listener's graceful
    /// shutdown does not wait for browsers that never hang up.
    pub fn ends_with(&mut self, shutdown: tokio_util::sync::CancellationToken) {
        self.live.ends_with(shutdown);
    }

    /// Forgets quiet addresses and clients (called with the guard's sweep).
    pub fn sweep(&self) {
        if let Some(l) = &self.per_address {
            l.retain_recent();
            l.shrink_to_fit();
        }
        if let Some(l) = &self.per_ip {
            l.retain_recent();
            l.shrink_to_fit();
        }
    }

    fn render(&self, name: &str, status: StatusCode, ctx: Value) -> Response {
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
                tracing::error!(error = ?e, template = name, "rendering the console");
                (StatusCode::INTERNAL_SERVER_ERROR, "服务内部错误").into_response()
            }
        }
    }

    fn message(
        &self,
        status: StatusCode,
        title: &str,
        text: &str,
        who: Option<&Signed>,
    ) -> Response {
        self.render(
            "message.html",
            status,
            context! { title => title, text => text, who => who.map(Signed::view) },
        )
    }

    fn cookie(
        &self,
        name: &'static str,
        value: String,
        max_age: Option<cookie::time::Duration>,
    ) -> HeaderValue {
        let mut c = Cookie::build((name, value))
            .path("/console")
            .http_only(true)
            .same_site(SameSite::Strict)
            .secure(self.secure);
        if let Some(age) = max_age {
            c = c.max_age(age);
        }
        HeaderValue::from_str(&c.build().to_string()).unwrap_or(HeaderValue::from_static(""))
    }
}

/// The console's routes, under `/console`.
pub(super) fn routes() -> Router<PageState> {
    Router::new()
        .route("/console", get(home))
        .route("/console/", get(home))
        .route(
            "/console/login",
            get(sign_in::login_form).post(sign_in::ask),
        )
        .route("/console/sign-in/{token}", get(sign_in::confirm))
        .route("/console/sign-in", post(sign_in::redeem))
        .route("/console/certificate", post(certificate::sign_in))
        .route("/console/logout", post(sign_in::sign_out))
        .route("/console/sessions", get(sign_in::sessions))
        .route("/console/sessions/revoke", post(sign_in::revoke))
        .route("/console/cases", get(cases::list))
        .route(
            "/console/cases/new",
            get(petition_form::form).post(petition_form::escalate),
        )
        .route("/console/cases/{case_id}", get(cases::show))
        .route(
            "/console/cases/{case_id}/files/{attachment_id}",
            get(cases::file),
        )
        .route("/console/ledger", get(ledger::show))
        .route("/console/ledger.xlsx", get(ledger::download))
        .route("/console/progress", get(progress::show))
        .route("/console/import", get(import::form).post(import::upload))
        .route("/console/progress.xlsx", get(progress::download))
        .route("/console/requests", get(department::list))
        .route(
            "/console/requests/{request_id}/open",
            post(department::open),
        )
        .route("/console/cases/{case_id}/review", post(cases::review))
        .route("/console/cases/{case_id}/feedback", post(cases::feedback))
        .route("/console/cases/{case_id}/unlink", post(cases::unlink))
        .route("/console/cases/{case_id}/link", post(cases::link))
        .route("/static/console.css", get(stylesheet))
        .route("/console/board", get(board::show))
        .route("/console/board/live", get(live::board))
        .route("/static/console-live.js", get(live::script))
        .route("/console/alerts", get(alerts::list))
        .route("/console/asks", get(asks::list))
        .route("/console/asks/extension", post(asks::decide_extension))
        .route("/console/asks/return", post(asks::resolve_return))
        .route("/console/figures", get(figures::show))
        .route("/console/supervise/{case_id}", get(supervisor::show))
        .route(
            "/console/supervise/{case_id}/close",
            post(supervisor::close),
        )
}

const STYLESHEET: &str = include_str!("../../../templates/console/console.css");

async fn stylesheet() -> Response {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        STYLESHEET,
    )
        .into_response()
}

/// `GET /console/`: the cases when signed in, else the sign-in form.
async fn home(State(state): State<PageState>, headers: HeaderMap) -> Response {
    match signed_in(&state, &headers).await {
        Ok(signed) => Redirect::to(signed.home()).into_response(),
        Err(response) => response,
    }
}

/// A person signed in, and what their forms must carry.
#[derive(Debug, Clone)]
pub(super) struct Signed {
    pub person: people::Person,
    pub csrf: String,
    /// The cookie's token, to end the session with.
    token: String,
}

impl Signed {
    pub fn actor(&self) -> Actor {
        self.person.actor()
    }

    /// Where the console opens: a department's requests, others' cases.
    fn home(&self) -> &'static str {
        match self.person.role {
            crate::domain::ActorRole::Department(_) => "/console/requests",
            _ => "/console/cases",
        }
    }

    fn view(&self) -> Value {
        context! {
            email => &self.person.email,
            principal => &self.person.principal,
            csrf => &self.csrf,
            // Only offices review replies and record verdicts; others are
            // shown no forms they would be refused.
            office => matches!(self.person.role, crate::domain::ActorRole::Office(_)),
            department => matches!(self.person.role, crate::domain::ActorRole::Department(_)),
            // The supervisor's screens in the navigation.
            supervisor => matches!(self.person.role, crate::domain::ActorRole::Supervisor),
        }
    }
}

/// A cookie's value, by name, from the request's `Cookie` headers.
fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == name)
        .map(|c| c.value().to_owned())
}

/// The session the request's cookie names, while it lasts and while its
/// address (or, for a certificate's session, some certificate name) still
/// belongs to its principal; otherwise the answer to give: to the sign-in
/// form.
async fn signed_in(state: &PageState, headers: &HeaderMap) -> Result<Signed, Response> {
    let console = &state.console;
    let to_login = || Redirect::to("/console/login").into_response();
    let Some(token) = cookie_value(headers, SESSION_COOKIE) else {
        return Err(to_login());
    };
    let session = match state.whistle.session(&token, console.policy).await {
        Ok(Some(session)) => session,
        Ok(None) => return Err(to_login()),
        Err(e) => return Err(error_page(state, e, None)),
    };
    // Settings are the word on who acts for whom: an address taken off its
    // principal, or moved to another, signs in no more; nor does a
    // certificate's session once its principal maps no certificate.
    let person = match session.via {
        SignedInBy::Mail => console
            .people
            .by_email(&session.email)
            .filter(|person| person.principal == session.principal)
            .cloned(),
        SignedInBy::Certificate => console
            .certificates
            .as_ref()
            .and_then(|c| c.principal(&session.principal))
            .map(|actor| people::Person {
                email: session.email.clone(),
                principal: actor.name.clone(),
                role: actor.role.clone(),
            }),
    };
    match person {
        Some(person) => Ok(Signed {
            person,
            csrf: session.csrf,
            token,
        }),
        None => Err(to_login()),
    }
}

/// A field of a list's form as a filter value: none when left empty.
fn chosen(value: &str) -> Option<String> {
    let value = value.trim();
    (!value.is_empty()).then(|| value.to_owned())
}

/// Whether two tokens are equal, in time that does not depend on where they
/// differ.
fn same_token(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && !a.is_empty()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// A form posted without the token of its session (or of its form cookie).
fn forbidden(console: &Console, who: Option<&Signed>) -> Response {
    console.message(
        StatusCode::FORBIDDEN,
        "无法提交",
        "页面已过期或来源不明，请返回上一页刷新后重新提交。",
        who,
    )
}

/// A use case's error as a page.
fn error_page(state: &PageState, error: crate::service::Error, who: Option<&Signed>) -> Response {
    use crate::domain::DomainError;
    use crate::service::Error;
    let console = &state.console;
    match error {
        Error::Refused(DomainError::NotFound { .. }) => console.message(
            StatusCode::NOT_FOUND,
            "未找到",
            "没有这个案件，或您无权查看。",
            who,
        ),
        Error::Refused(DomainError::PermissionDenied(message)) => {
            console.message(StatusCode::FORBIDDEN, "无权操作", &message.zh, who)
        }
        Error::Refused(DomainError::Inconsistent(_)) | Error::Internal(_) => {
            tracing::error!(error = ?anyhow::Error::from(error), "console");
            console.message(
                StatusCode::INTERNAL_SERVER_ERROR,
                "服务内部错误",
                "服务暂时出错，已记录。请稍后重试。",
                who,
            )
        }
        Error::Refused(refusal) => {
            console.message(StatusCode::CONFLICT, "无法办理", &refusal.zh(), who)
        }
        Error::Unavailable(_) | Error::Contention(_) => {
            tracing::warn!(error = ?anyhow::Error::from(error), "console unavailable");
            let mut response = console.message(
                StatusCode::SERVICE_UNAVAILABLE,
                "服务繁忙",
                "服务暂时繁忙，请稍后刷新页面重试。",
                who,
            );
            let (name, value) = super::guard::retry_after(5);
            response.headers_mut().insert(name, value);
            response
        }
    }
}
