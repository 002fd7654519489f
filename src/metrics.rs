//! Prometheus metrics and the probes of an orchestrator, on their own small
//! HTTP server (`metrics.listen`): `GET /metrics` in the Prometheus text
//! format, `GET /livez` (200 while the process runs) and `GET /readyz` (200
//! only while the gRPC health is SERVING: the database answers and the
//! service is not stopping).
//!
//! The code records through the `metrics` facade wherever a thing happens (the
//! access log counts RPCs, the authenticator refusals); the outbox and pool
//! gauges are read every few seconds by `refresh`, through the use case that
//! reads them (`Whistle::gauges`), in a task that is started again if it
//! panics. One recorder serves the
//! whole process: tests start several applications in one binary, and a
//! second global recorder cannot be installed, so each application shares it
//! (their counters add up, which a test that looks for a series does not mind).

use std::future::Future;
use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::service::Whistle;

pub const RPC_REQUESTS: &str = "whistle_rpc_requests_total";
pub const RPC_DURATION: &str = "whistle_rpc_duration_seconds";
pub const RATE_LIMITED: &str = "whistle_rate_limited_total";
pub const AUTH_FAILURES: &str = "whistle_auth_failures_total";
pub const OUTBOX_PENDING: &str = "whistle_outbox_pending";
pub const OUTBOX_FAILED: &str = "whistle_outbox_failed";
pub const OUTBOX_OLDEST_PENDING_AGE: &str = "whistle_outbox_oldest_pending_age_seconds";
pub const MAIL_SERVER_UP: &str = "whistle_mail_server_up";
pub const DB_POOL_CONNECTIONS: &str = "whistle_db_pool_connections";
pub const CHANNEL_POSTS: &str = "whistle_channel_posts_total";
pub const CHANNEL_FAILING: &str = "whistle_channel_consecutive_failures";
pub const CHANNEL_PENDING: &str = "whistle_channel_pending";
pub const CHANNEL_FAILED: &str = "whistle_channel_failed";
pub const WEBHOOK_DELIVERIES: &str = "whistle_webhook_deliveries_total";
pub const WEBHOOK_PAUSED: &str = "whistle_webhook_paused";
pub const DB_WRITE_WAIT: &str = "whistle_db_write_wait_seconds";
pub const DB_WRITE_HELD: &str = "whistle_db_write_held_seconds";

/// Buckets of the RPC latency histogram, in seconds: most answers take
/// milliseconds; the call timeout is 30 s by default.
const RPC_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Buckets of the write transaction's wait and hold, in seconds: on SQLite
/// one write holds the only writer for about a millisecond, and a queue of
/// writers waits for tens of them.
const DB_WRITE_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

/// The process's recorder, installed globally the first time it is asked for.
pub fn handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Full(RPC_DURATION.into()), RPC_BUCKETS)
                .expect("the RPC buckets are not empty")
                .set_buckets_for_metric(
                    Matcher::Prefix("whistle_db_write_".into()),
                    DB_WRITE_BUCKETS,
                )
                .expect("the write buckets are not empty")
                .build_recorder();
            let handle = recorder.handle();
            if ::metrics::set_global_recorder(recorder).is_err() {
                // Another recorder came first (an embedding program's): ours
                // then renders only what is recorded into it, which is nothing.
                tracing::warn!("a metrics recorder was installed already; /metrics stays empty");
            }
            describe();
            handle
        })
        .clone()
}

fn describe() {
    use ::metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        RPC_REQUESTS,
        "RPCs answered, by method and gRPC status code"
    );
    describe_histogram!(
        RPC_DURATION,
        Unit::Seconds,
        "How long RPCs took to answer, by method"
    );
    describe_counter!(
        RATE_LIMITED,
        "Calls refused because their principal was over its rate limit"
    );
    describe_counter!(
        AUTH_FAILURES,
        "Calls with a missing, malformed or unknown key"
    );
    describe_gauge!(OUTBOX_PENDING, "Letters waiting to be delivered");
    describe_gauge!(
        OUTBOX_FAILED,
        "Letters that failed for good (retried only by an operator)"
    );
    describe_gauge!(
        OUTBOX_OLDEST_PENDING_AGE,
        Unit::Seconds,
        "Age of the oldest letter waiting to be delivered (0: none waits)"
    );
    describe_gauge!(
        MAIL_SERVER_UP,
        "1 while the mail server answers, 0 while delivery waits for it to come back"
    );
    describe_counter!(
        CHANNEL_POSTS,
        "Posts to group robots, by channel and outcome (sent, retry, rate_limited, failed)"
    );
    describe_gauge!(
        CHANNEL_FAILING,
        "Posts to a group robot or a webhook that failed in a row since its last success, by channel"
    );
    describe_counter!(
        WEBHOOK_DELIVERIES,
        "Events posted to webhook endpoints, by channel and outcome (delivered, failed, gone)"
    );
    describe_gauge!(
        WEBHOOK_PAUSED,
        "1 while a webhook endpoint is paused after repeated failure (resume: whistle webhooks resume)"
    );
    describe_gauge!(
        CHANNEL_PENDING,
        "Alerts waiting to be posted to a group robot, by channel"
    );
    describe_gauge!(
        CHANNEL_FAILED,
        "Alerts a group robot never received (given up), by channel"
    );
    describe_histogram!(
        DB_WRITE_WAIT,
        Unit::Seconds,
        "How long a write transaction waited to begin: for SQLite's one writer, or for a pooled PostgreSQL connection"
    );
    describe_histogram!(
        DB_WRITE_HELD,
        Unit::Seconds,
        "How long a write transaction ran, from its begin to its commit or rollback (on SQLite, the only writer is held that long)"
    );
    describe_gauge!(
        DB_POOL_CONNECTIONS,
        "Database connections open, idle or in use"
    );
}

/// Whether the service takes calls: what the gRPC health says, shared with
/// `/readyz`.
pub type Ready = Arc<AtomicBool>;

#[derive(Clone)]
struct Probe {
    handle: PrometheusHandle,
    ready: Ready,
}

/// Serves `/metrics`, `/livez` and `/readyz` on `listener` until `shutdown`.
/// `handle` comes from `handle()`, called before the first RPC is answered so
/// that the recorder is there to count it.
pub async fn serve(
    listener: TcpListener,
    handle: PrometheusHandle,
    ready: Ready,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let app = Router::new()
        .route("/metrics", get(render))
        .route("/livez", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .with_state(Probe { handle, ready });
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
}

async fn render(State(probe): State<Probe>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        probe.handle.render(),
    )
}

async fn readyz(State(probe): State<Probe>) -> (StatusCode, &'static str) {
    if probe.ready.load(Ordering::Relaxed) {
        (StatusCode::OK, "ready\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready\n")
    }
}

/// Reads the outbox and the pools into their gauges every `every`, until
/// `shutdown`. A failed read is logged and the gauges keep their last values
/// (the health watch already says when the database is away). The reading
/// runs in a task of its own that is started again when it panics: a bug in
/// one reading must not leave `/metrics` without its gauges for the life of
/// the process.
pub async fn refresh(whistle: Whistle, every: Duration, shutdown: CancellationToken) {
    let stop = shutdown.clone();
    supervise("the metrics refresh", every, shutdown, move || {
        refresh_until(whistle.clone(), every, stop.clone())
    })
    .await
}

async fn refresh_until(whistle: Whistle, every: Duration, shutdown: CancellationToken) {
    let handle = handle();
    loop {
        refresh_once(&whistle).await;
        handle.run_upkeep();
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
    }
}

/// Runs the task `start` makes until it ends, which it does at `shutdown`;
/// one that panics is logged and, after `pause`, started again.
async fn supervise<F, Fut>(
    what: &'static str,
    pause: Duration,
    shutdown: CancellationToken,
    start: F,
) where
    F: Fn() -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    loop {
        match tokio::spawn(start()).await {
            Ok(()) => return,
            Err(e) if e.is_panic() => {
                let panic = e.into_panic();
                let message = panic
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                tracing::error!(task = what, panic = %message, "a background task panicked; starting it again");
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(pause) => {}
                }
            }
            // Cancelled: the runtime is going away.
            Err(_) => return,
        }
    }
}

/// One look at the outbox and the pools.
pub async fn refresh_once(whistle: &Whistle) {
    let gauges = whistle.gauges().await;
    ::metrics::gauge!(DB_POOL_CONNECTIONS, "state" => "idle")
        .set(f64::from(gauges.idle_connections));
    ::metrics::gauge!(DB_POOL_CONNECTIONS, "state" => "in_use")
        .set(f64::from(gauges.busy_connections));
    if let Some(outbox) = gauges.outbox {
        ::metrics::gauge!(OUTBOX_PENDING).set(outbox.pending as f64);
        ::metrics::gauge!(OUTBOX_FAILED).set(outbox.failed as f64);
        ::metrics::gauge!(OUTBOX_OLDEST_PENDING_AGE).set(outbox.oldest_pending_secs);
    }
}

/// A gRPC status code as the gRPC specification spells it: `OK`,
/// `INVALID_ARGUMENT`, `RESOURCE_EXHAUSTED`.
pub fn code_label(code: tonic::Code) -> &'static str {
    use tonic::Code::*;
    match code {
        Ok => "OK",
        Cancelled => "CANCELLED",
        Unknown => "UNKNOWN",
        InvalidArgument => "INVALID_ARGUMENT",
        DeadlineExceeded => "DEADLINE_EXCEEDED",
        NotFound => "NOT_FOUND",
        AlreadyExists => "ALREADY_EXISTS",
        PermissionDenied => "PERMISSION_DENIED",
        ResourceExhausted => "RESOURCE_EXHAUSTED",
        FailedPrecondition => "FAILED_PRECONDITION",
        Aborted => "ABORTED",
        OutOfRange => "OUT_OF_RANGE",
        Unimplemented => "UNIMPLEMENTED",
        Internal => "INTERNAL",
        Unavailable => "UNAVAILABLE",
        DataLoss => "DATA_LOSS",
        Unauthenticated => "UNAUTHENTICATED",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// On a paused clock: the pause between a panic and the new start passes
    /// without waiting.
    #[tokio::test(start_paused = true)]
    async fn a_task_that_panics_is_started_again_until_shutdown() {
        use std::sync::atomic::AtomicUsize;
        let starts = Arc::new(AtomicUsize::new(0));
        let shutdown = CancellationToken::new();
        let (counted, stop) = (starts.clone(), shutdown.clone());
        let supervised = tokio::spawn(supervise(
            "a test task",
            Duration::from_secs(5),
            shutdown.clone(),
            move || {
                let start = counted.fetch_add(1, Ordering::SeqCst);
                let stop = stop.clone();
                async move {
                    if start < 2 {
                        panic!("attempt to add with overflow");
                    }
                    stop.cancelled().await
                }
            },
        ));
        tokio::time::sleep(Duration::from_secs(4)).await;
        assert_eq!(starts.load(Ordering::SeqCst), 1, "not before the pause");
        tokio::time::sleep(Duration::from_secs(7)).await;
        assert_eq!(starts.load(Ordering::SeqCst), 3, "started again twice");
        assert!(!supervised.is_finished());
        shutdown.cancel();
        supervised.await.unwrap();
        assert_eq!(
            starts.load(Ordering::SeqCst),
            3,
            "a task that ends is not started again"
        );
    }

    #[test]
    fn codes_are_spelt_as_in_the_grpc_spec() {
        assert_eq!(code_label(tonic::Code::Ok), "OK");
        assert_eq!(code_label(tonic::Code::InvalidArgument), "INVALID_ARGUMENT");
        assert_eq!(code_label(tonic::Code::NotFound), "NOT_FOUND");
        assert_eq!(code_label(tonic::Code::Unauthenticated), "UNAUTHENTICATED");
    }
}
