//! The reply page: what department staff open from the link in their letter,
//! on a phone or a desktop, with no login and no JavaScript. It is a door like
//! `grpc/`: it reads forms into the reply use cases' types, calls them, and
//! turns their one error into a page; no rule of the lifecycle lives here.
//!
//! - `page`: the routes and what each answers;
//! - `view`: a `Desk` as the template reads it (deadlines in words, labels in
//!   Chinese);
//! - `guard`: what every response passes through — security headers, rate
//!   limits per client address and per link, and an access log that never
//!   shows the link's token;
//! - `console`: the console (工作台) for people without a system of their
//!   own, signed in by a mailed link or a client certificate, on the same
//!   listener;
//! - `peer`: the client of a connection, its address and the certificate it
//!   showed at the TLS handshake.

pub mod console;
mod guard;
mod page;
pub mod peer;
mod view;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::middleware;
use axum::routing::{get, post};
use axum::serve::Listener;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower_http::timeout::TimeoutLayer;

use crate::service::Whistle;
use crate::settings::HttpSettings;

/// Room for the reply form's text fields and multipart framing on top of its
/// files, which the reply policy bounds.
const FORM_OVERHEAD_BYTES: usize = 1024 * 1024;

/// What every handler shares.
#[derive(Clone)]
struct PageState {
    whistle: Whistle,
    pages: Arc<page::Pages>,
    console: Arc<console::Console>,
}

/// Serves the reply page on `listener` until `shutdown` fires, then lets
/// requests in flight finish.
pub async fn serve(
    listener: TcpListener,
    whistle: Whistle,
    settings: HttpSettings,
    console: console::Console,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    serve_on(listener, whistle, settings, console, shutdown).await
}

/// As `serve`, over TLS (`http.tls`).
pub async fn serve_tls(
    listener: crate::tls::TlsListener,
    whistle: Whistle,
    settings: HttpSettings,
    console: console::Console,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    serve_on(listener, whistle, settings, console, shutdown).await
}

async fn serve_on<L>(
    listener: L,
    whistle: Whistle,
    settings: HttpSettings,
    console: console::Console,
    shutdown: CancellationToken,
) -> anyhow::Result<()>
where
    L: Listener<Addr = SocketAddr>,
    peer::Peer: for<'a> axum::extract::connect_info::Connected<axum::serve::IncomingStream<'a, L>>,
{
    let mut console = console;
    console.ends_with(shutdown.clone());
    let console = Arc::new(console);
    let guard = guard::Guard::new(&settings).with_console(console.clone());
    let sweeping = tokio::spawn(guard.clone().sweep_until(shutdown.clone()));
    let app = router(whistle, guard, console, &settings)?;
    let served = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<peer::Peer>(),
    )
    .with_graceful_shutdown(shutdown.clone().cancelled_owned())
    .await;
    shutdown.cancel();
    let _ = sweeping.await;
    served?;
    Ok(())
}

fn router(
    whistle: Whistle,
    guard: guard::Guard,
    console: Arc<console::Console>,
    settings: &HttpSettings,
) -> anyhow::Result<Router> {
    let body_limit = whistle.reply_policy().max_attachment_bytes + FORM_OVERHEAD_BYTES;
    let state = PageState {
        pages: Arc::new(page::Pages::new()?),
        whistle,
        console,
    };
    // A zero timeout in the settings would cut off every request; treat it as
    // the default instead.
    let timeout = Duration::from_secs(settings.request_timeout_secs.max(1));
    Ok(Router::new()
        .route("/r/{token}", get(page::show))
        .route("/r/{token}/ack", post(page::acknowledge))
        .route("/r/{token}/progress", post(page::progress))
        .route("/r/{token}/reply", post(page::reply))
        .route("/r/{token}/extension", post(page::extension))
        .route("/r/{token}/return", post(page::return_request))
        .route("/r/{token}/files/{attachment_id}", get(page::file))
        .route("/static/page.css", get(page::stylesheet))
        .route("/healthz", get(|| async { "ok" }))
        .merge(console::routes())
        .fallback(page::no_such_page)
        .layer(DefaultBodyLimit::max(body_limit))
        .with_state(state)
        // Outermost last: the log sees every answer, the headers reach 429s and
        // timeouts too.
        .layer(middleware::from_fn_with_state(guard, guard::limit))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            timeout,
        ))
        .layer(middleware::from_fn(guard::headers))
        .layer(middleware::from_fn(guard::access_log)))
}
