//! What every request and answer of the reply page passes through: the
//! security headers, the rate limits, and the access log.
//!
//! The link's token is the only key to a request, and it sits in the URL; so
//! the log line shows the path with the token cut out, no answer tells another
//! site where it came from (`Referrer-Policy`), and nothing is cached on the
//! way (`Cache-Control`).

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::settings::HttpSettings;

/// The page needs nothing but its own stylesheet and images: no script, no
/// frame, forms only back to itself.
const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; \
                   frame-ancestors 'none'; base-uri 'none'";

/// A page marked `Scripted` may also run the scripts served from this origin
/// and read from it (the console's live board): still no inline script.
const CSP_SCRIPTED: &str = "default-src 'none'; style-src 'self'; img-src 'self'; \
                            script-src 'self'; connect-src 'self'; form-action 'self'; \
                            frame-ancestors 'none'; base-uri 'none'";

/// Put in a response's extensions by a handler whose page loads a script of
/// this origin.
#[derive(Debug, Clone, Copy)]
pub struct Scripted;

/// Per-client-address and per-link allowances; `None` when a limit is off (0).
#[derive(Clone)]
pub struct Guard {
    per_ip: Option<Arc<DefaultKeyedRateLimiter<IpAddr>>>,
    /// Keyed by the token as given: only well-formed ones are counted, so junk
    /// paths cannot grow the table (the per-address limit covers them).
    per_link: Option<Arc<DefaultKeyedRateLimiter<String>>>,
    /// The console's sign-in allowances, swept with these.
    console: Option<Arc<super::console::Console>>,
}

impl Guard {
    pub fn new(settings: &HttpSettings) -> Self {
        fn limiter<K: Clone + Eq + std::hash::Hash>(
            per_minute: u32,
        ) -> Option<Arc<DefaultKeyedRateLimiter<K>>> {
            NonZeroU32::new(per_minute)
                .map(|n| Arc::new(DefaultKeyedRateLimiter::keyed(Quota::per_minute(n))))
        }
        Self {
            per_ip: limiter(settings.rate_limit_per_ip_per_minute),
            per_link: limiter(settings.rate_limit_per_link_per_minute),
            console: None,
        }
    }

    pub fn with_console(mut self, console: Arc<super::console::Console>) -> Self {
        self.console = Some(console);
        self
    }

    /// Forgets clients and links that have been quiet for a while, once a
    /// minute, so the tables hold only who is active.
    pub async fn sweep_until(self, shutdown: CancellationToken) {
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(Duration::from_secs(60)) => {}
            }
            if let Some(l) = &self.per_ip {
                l.retain_recent();
                l.shrink_to_fit();
            }
            if let Some(l) = &self.per_link {
                l.retain_recent();
                l.shrink_to_fit();
            }
            if let Some(console) = &self.console {
                console.sweep();
            }
        }
    }

    /// How long the caller must wait, when over either allowance.
    fn admit(&self, ip: Option<IpAddr>, token: Option<&str>) -> Result<(), Duration> {
        let now = DefaultClock::default().now();
        if let (Some(limiter), Some(ip)) = (&self.per_ip, ip) {
            limiter
                .check_key(&ip)
                .map_err(|not_until| not_until.wait_time_from(now))?;
        }
        if let (Some(limiter), Some(token)) = (&self.per_link, token) {
            limiter
                .check_key(&token.to_owned())
                .map_err(|not_until| not_until.wait_time_from(now))?;
        }
        Ok(())
    }
}

/// The token of a `/r/{token}…` path, if the path has one that could be a link.
fn token_of(path: &str) -> Option<&str> {
    let rest = path.strip_prefix("/r/")?;
    let token = rest.split('/').next()?;
    crate::domain::reply_link::well_formed(token).then_some(token)
}

/// The path as it may be logged: whatever follows `/r/` up to the next slash
/// (the token, or what was sent in its place) becomes `…`, and so does a
/// console sign-in link's token.
pub fn redacted(path: &str) -> String {
    if path.starts_with("/console/sign-in/") {
        return "/console/sign-in/…".to_owned();
    }
    match path.strip_prefix("/r/") {
        Some(rest) => match rest.split_once('/') {
            Some((_, tail)) => format!("/r/…/{tail}"),
            None => "/r/…".to_owned(),
        },
        None => path.to_owned(),
    }
}

/// Refuses a client or a link over its allowance with 429 and `Retry-After`.
/// The client is the connecting address: behind a reverse proxy that is the
/// proxy, and the per-link limit still holds each link to its own allowance
/// (a forwarded-for header is not trusted, anyone can write one).
pub async fn limit(State(guard): State<Guard>, request: Request, next: Next) -> Response {
    let path = request.uri().path();
    if path == "/healthz" {
        return next.run(request).await;
    }
    let ip = request
        .extensions()
        .get::<ConnectInfo<super::peer::Peer>>()
        .map(|ConnectInfo(peer)| peer.addr.ip());
    match guard.admit(ip, token_of(path)) {
        Ok(()) => next.run(request).await,
        Err(wait) => {
            let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            (
                StatusCode::TOO_MANY_REQUESTS,
                [
                    (header::RETRY_AFTER, seconds.max(1).to_string()),
                    (header::CONTENT_TYPE, "text/plain; charset=utf-8".to_owned()),
                ],
                format!("请求过于频繁，请在 {} 秒后重试。\n", seconds.max(1)),
            )
                .into_response()
        }
    }
}

/// Puts the security headers on every answer, whatever produced it.
pub async fn headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let csp = if response.extensions().get::<Scripted>().is_some() {
        CSP_SCRIPTED
    } else {
        CSP
    };
    let headers = response.headers_mut();
    let set = [
        (header::CONTENT_SECURITY_POLICY, csp),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::CACHE_CONTROL, "no-store"),
    ];
    for (name, value) in set {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

/// One INFO line per request: method, path without the token, status, time;
/// and the request's `http` span, the child of a caller's `traceparent`.
/// The query is left out too; the page's own (`?done=`) says nothing useful.
pub async fn access_log(request: Request<Body>, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let path = redacted(request.uri().path());
    let span =
        tracing::info_span!(target: crate::telemetry::TRACE_ONLY, "http", %method, path = %path);
    crate::telemetry::continue_trace(&span, request.headers());
    let response = next.run(request).instrument(span).await;
    tracing::info!(
        target: "whistle::http::access",
        %method,
        path,
        status = response.status().as_u16(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "page request"
    );
    response
}

/// `Retry-After`, for the pages that ask the caller to come back.
pub fn retry_after(seconds: u64) -> (HeaderName, HeaderValue) {
    (header::RETRY_AFTER, HeaderValue::from(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_logged_path_never_holds_the_token() {
        let token = "0123456789abcdef0123456789abcdef01234567";
        assert_eq!(redacted(&format!("/r/{token}")), "/r/…");
        assert_eq!(redacted(&format!("/r/{token}/reply")), "/r/…/reply");
        assert_eq!(redacted(&format!("/r/{token}/files/abc")), "/r/…/files/abc");
        assert_eq!(redacted("/r/not-a-token/ack"), "/r/…/ack");
        assert_eq!(redacted("/healthz"), "/healthz");
        assert_eq!(
            redacted(&format!("/console/sign-in/{token}")),
            "/console/sign-in/…"
        );
        assert_eq!(redacted("/console/cases"), "/console/cases");
    }

    #[test]
    fn only_well_formed_tokens_count_against_a_link() {
        let token = "0123456789abcdef0123456789abcdef01234567";
        assert_eq!(token_of(&format!("/r/{token}/ack")), Some(token));
        assert_eq!(token_of("/r/junk/ack"), None);
        assert_eq!(token_of("/static/page.css"), None);
    }
}
