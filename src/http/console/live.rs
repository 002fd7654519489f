//! The board, live: a Server-Sent Events stream that says `changed` whenever
//! something that can move the board has committed, and the one small script
//! (served from the binary, no inline script) that fetches the board again
//! when told. Without the script the board is a plain page.
//!
//! A stream wakes when this instance commits events or alerts (the same
//! wake-up the gRPC streams hear) and, to hear of other instances' commits,
//! when the feeds' head has moved at its poll; it also says `changed` once a
//! minute, since time alone moves a request toward overdue. Streams are
//! counted: past `MAX_STREAMS` a board stays a plain page (503), and every
//! stream ends when the listener shuts down.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::Stream;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use super::{error_page, signed_in};
use crate::http::PageState;

/// Live boards one instance serves at once.
const MAX_STREAMS: usize = 64;
/// How often a stream asks whether another instance committed something.
const POLL: Duration = Duration::from_secs(5);
/// How often a board is refreshed though nothing committed.
const TICK: Duration = Duration::from_secs(60);

const SCRIPT: &str = include_str!("../../../templates/console/console-live.js");

/// The live streams' allowance and their end.
#[derive(Debug)]
pub struct Live {
    slots: Arc<Semaphore>,
    shutdown: CancellationToken,
}

impl Default for Live {
    fn default() -> Self {
        Self {
            slots: Arc::new(Semaphore::new(MAX_STREAMS)),
            shutdown: CancellationToken::new(),
        }
    }
}

impl Live {
    pub fn ends_with(&mut self, shutdown: CancellationToken) {
        self.shutdown = shutdown;
    }
}

/// `GET /static/console-live.js`.
pub async fn script() -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        SCRIPT,
    )
        .into_response()
}

/// `GET /console/board/live`: `changed` events for a supervisor's board.
pub async fn board(State(state): State<PageState>, headers: HeaderMap) -> Response {
    let signed = match signed_in(&state, &headers).await {
        Ok(signed) => signed,
        Err(response) => return response,
    };
    let mut wakes = match state.whistle.watch_board(&signed.actor()) {
        Ok(wakes) => wakes,
        Err(e) => return error_page(&state, e, Some(&signed)),
    };
    let live = &state.console.live;
    let Ok(slot) = live.slots.clone().try_acquire_owned() else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "实时刷新暂不可用，请手动刷新页面。",
        )
            .into_response();
    };
    let shutdown = live.shutdown.clone();
    let whistle = state.whistle.clone();
    let stream = async_stream(move |tx| async move {
        let _slot = slot;
        let mut head = whistle.feed_head().await.ok();
        let mut poll = tokio::time::interval(POLL);
        let mut tick = tokio::time::interval(TICK);
        // Both fire at once at first; the page was just rendered.
        poll.tick().await;
        tick.tick().await;
        loop {
            let changed = tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tx.closed() => return,
                woke = wakes.changed() => {
                    if woke.is_err() {
                        return;
                    }
                    true
                }
                _ = poll.tick() => {
                    let now = whistle.feed_head().await.ok();
                    let moved = now.is_some() && now != head;
                    head = now.or(head);
                    moved
                }
                _ = tick.tick() => true,
            };
            // A browser drops an event without data: say what changed.
            if changed
                && tx
                    .send(Event::default().event("changed").data("board"))
                    .await
                    .is_err()
            {
                return;
            }
        }
    });
    Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response()
}

/// A stream of what `produce` sends, ending when it returns or the reader
/// goes away.
fn async_stream<F, Fut>(produce: F) -> impl Stream<Item = Result<Event, Infallible>>
where
    F: FnOnce(tokio::sync::mpsc::Sender<Event>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    tokio::spawn(produce(tx));
    futures::StreamExt::map(tokio_stream::wrappers::ReceiverStream::new(rx), Ok)
}
