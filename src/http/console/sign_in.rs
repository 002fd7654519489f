//! Signing in and out. The sign-in form answers the same whatever address
//! is typed, and the letter, when there is one, is written after the answer
//! has gone: neither the page nor its timing says whether an address is
//! known. The link in the letter opens a page with one button, and only that
//! button's post uses the link up: a mail scanner that fetches links does
//! not spend it.

use std::collections::HashMap;

use axum::Form;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::context;

use super::{
    Console, FORM_COOKIE, SESSION_COOKIE, Signed, cookie_value, error_page, forbidden, same_token,
    signed_in,
};
use crate::domain::{ActorRole, IdSource};
use crate::http::PageState;
use crate::http::peer::Peer;
use crate::service::console::{NewSession, SignInAsk};

/// A page with a form shown before sign-in, and the cookie its token is
/// checked against.
pub(super) fn with_form_cookie(
    console: &Console,
    ids: &dyn IdSource,
    name: &str,
    ctx: impl Fn(&str) -> minijinja::Value,
) -> Response {
    let token = crate::domain::reply_link::mint(ids).token;
    let mut response = console.render(name, StatusCode::OK, ctx(&token));
    response
        .headers_mut()
        .append(header::SET_COOKIE, console.cookie(FORM_COOKIE, token, None));
    response
}

/// Whether a form shown before sign-in came back with its cookie's token.
pub(super) fn form_checked(headers: &HeaderMap, form: &HashMap<String, String>) -> bool {
    let posted = form.get("form_token").map_or("", String::as_str);
    cookie_value(headers, FORM_COOKIE).is_some_and(|c| same_token(&c, posted))
}

/// `GET /console/login`: the address form and, where the connection showed
/// a client certificate, the button that signs in with it (or why it cannot).
pub async fn login_form(
    State(state): State<PageState>,
    ConnectInfo(peer): ConnectInfo<Peer>,
) -> Response {
    let certificate = super::certificate::offer(&state.console, &peer);
    with_form_cookie(&state.console, state.whistle.ids(), "login.html", |token| {
        context! { form_token => token, certificate => &certificate }
    })
}

/// Whether a client may ask to sign in again now (`sign_ins_per_ip_per_hour`);
/// the answer to give when not.
pub(super) fn over_ip_allowance(console: &Console, peer: &Peer) -> Option<Response> {
    let limiter = console.per_ip.as_ref()?;
    if limiter.check_key(&peer.addr.ip()).is_ok() {
        return None;
    }
    let mut response = console.message(
        StatusCode::TOO_MANY_REQUESTS,
        "请求过于频繁",
        "登录请求过于频繁，请稍后再试。",
        None,
    );
    let (name, value) = crate::http::guard::retry_after(60);
    response.headers_mut().insert(name, value);
    Some(response)
}

/// The answer to a session just begun: its cookie, the form cookie spent,
/// and the person's home page.
pub(super) fn started(console: &Console, session: NewSession, role: &ActorRole) -> Response {
    // A department's people start at its requests; others at cases.
    let home = match role {
        ActorRole::Department(_) => "/console/requests",
        _ => "/console/cases",
    };
    let mut response = Redirect::to(home).into_response();
    let lifetime = cookie::time::Duration::seconds(console.policy.lifetime.num_seconds());
    let headers = response.headers_mut();
    headers.append(
        header::SET_COOKIE,
        console.cookie(SESSION_COOKIE, session.token, Some(lifetime)),
    );
    headers.append(
        header::SET_COOKIE,
        console.cookie(
            FORM_COOKIE,
            String::new(),
            Some(cookie::time::Duration::ZERO),
        ),
    );
    response
}

/// `POST /console/login`: mails a sign-in link if the address is listed.
pub async fn ask(
    State(state): State<PageState>,
    ConnectInfo(peer): ConnectInfo<Peer>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let console = &state.console;
    if !form_checked(&headers, &form) {
        return forbidden(console, None);
    }
    if let Some(refused) = over_ip_allowance(console, &peer) {
        return refused;
    }
    let email = form.get("email").map_or("", |e| e.trim());
    // Every address typed counts against its allowance, listed or not, so
    // that the limit says nothing either.
    let allowed = console
        .per_address
        .as_ref()
        .is_none_or(|l| l.check_key(&email.to_lowercase()).is_ok());
    match console.people.by_email(email) {
        Some(person) if allowed => {
            let org = state.whistle.organisation();
            let acting_for = match &person.role {
                ActorRole::Office(code) => org
                    .office(code)
                    .map_or_else(|| code.clone(), |o| o.name.clone()),
                ActorRole::Department(code)
                | ActorRole::LinkHolder {
                    department: code, ..
                } => org
                    .department(code)
                    .map_or_else(|| code.clone(), |d| d.name.clone()),
                ActorRole::Supervisor | ActorRole::System => "督办".to_owned(),
            };
            let ask = SignInAsk {
                email: person.email.clone(),
                principal: person.principal.clone(),
                acting_for,
                base: console.base.clone(),
            };
            let whistle = state.whistle.clone();
            tokio::spawn(async move {
                if let Err(e) = whistle.ask_sign_in(ask).await {
                    tracing::error!(error = ?anyhow::Error::from(e), "writing a sign-in letter");
                }
            });
        }
        Some(_) => tracing::info!("sign-in letters to one address over its allowance"),
        None => {}
    }
    with_form_cookie(console, state.whistle.ids(), "login.html", |token| {
        context! { form_token => token, sent => true }
    })
}

/// `GET /console/sign-in/{token}`: the button that uses the link.
pub async fn confirm(State(state): State<PageState>, Path(token): Path<String>) -> Response {
    with_form_cookie(
        &state.console,
        state.whistle.ids(),
        "sign_in.html",
        |form_token| {
            context! { form_token => form_token, token => &token }
        },
    )
}

/// `POST /console/sign-in`: uses the link and starts a session.
pub async fn redeem(
    State(state): State<PageState>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let console = &state.console;
    if !form_checked(&headers, &form) {
        return forbidden(console, None);
    }
    let token = form.get("token").map_or("", String::as_str);
    match state.whistle.sign_in(token).await {
        Ok(Some(session)) => {
            tracing::info!(principal = %session.principal, "signed in to the console");
            match console.people.by_email(&session.email) {
                Some(person) => {
                    let role = person.role.clone();
                    started(console, session, &role)
                }
                // Taken off its principal since the letter went: the next
                // page would send the person back here anyway.
                None => Redirect::to("/console/login").into_response(),
            }
        }
        Ok(None) => console.message(
            StatusCode::FORBIDDEN,
            "登录链接无效",
            "此登录链接无效、已使用或已过期（有效期15分钟，仅可使用一次）。请重新申请登录。",
            None,
        ),
        Err(e) => error_page(&state, e, None),
    }
}

/// `POST /console/logout`.
pub async fn sign_out(
    State(state): State<PageState>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let console = &state.console;
    let signed = match signed_in(&state, &headers).await {
        Ok(signed) => signed,
        Err(response) => return response,
    };
    if !same_token(&signed.csrf, form.get("csrf").map_or("", String::as_str)) {
        return forbidden(console, Some(&signed));
    }
    if let Err(e) = state.whistle.sign_out(&signed.token).await {
        return error_page(&state, e, Some(&signed));
    }
    let mut response = Redirect::to("/console/login").into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        console.cookie(
            SESSION_COOKIE,
            String::new(),
            Some(cookie::time::Duration::ZERO),
        ),
    );
    response
}

/// `GET /console/sessions`: the person's sessions, this one marked, each of
/// the others with a button that ends it.
pub async fn sessions(
    State(state): State<PageState>,
    headers: HeaderMap,
    Query(shown): Query<HashMap<String, String>>,
) -> Response {
    let signed = match signed_in(&state, &headers).await {
        Ok(signed) => signed,
        Err(response) => return response,
    };
    let notice =
        (shown.get("done").map(String::as_str) == Some("revoked")).then_some("该登录已结束。");
    render_sessions(&state, &signed, notice).await
}

async fn render_sessions(state: &PageState, signed: &Signed, notice: Option<&str>) -> Response {
    let console = &state.console;
    let listed = match state
        .whistle
        .sessions_of(&signed.person.email, console.policy)
        .await
    {
        Ok(listed) => listed,
        Err(e) => return error_page(state, e, Some(signed)),
    };
    let tz = state.whistle.organisation().calendar.tz();
    let mine = crate::domain::reply_link::digest(&signed.token);
    let rows: Vec<minijinja::Value> = listed
        .iter()
        .map(|s| {
            context! {
                id => &s.digest,
                current => s.digest == mine,
                created_at => s.created_at.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string(),
                last_seen_at => s.last_seen_at.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string(),
            }
        })
        .collect();
    console.render(
        "sessions.html",
        StatusCode::OK,
        context! {
            who => signed.view(),
            sessions => rows,
            notice => notice.map(|text| context! { class => "ok", text => text }),
        },
    )
}

/// `POST /console/sessions/revoke`: ends another of the person's sessions.
pub async fn revoke(
    State(state): State<PageState>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let console = &state.console;
    let signed = match signed_in(&state, &headers).await {
        Ok(signed) => signed,
        Err(response) => return response,
    };
    if !same_token(&signed.csrf, form.get("csrf").map_or("", String::as_str)) {
        return forbidden(console, Some(&signed));
    }
    let id = form.get("session").map_or("", |s| s.trim());
    match state.whistle.revoke_session(&signed.person.email, id).await {
        Ok(true) => Redirect::to("/console/sessions?done=revoked").into_response(),
        Ok(false) => console.message(
            StatusCode::NOT_FOUND,
            "未找到",
            "没有这个登录，或它已经结束。",
            Some(&signed),
        ),
        Err(e) => error_page(&state, e, Some(&signed)),
    }
}
