//! Traces by OTLP: a collector in the test (opentelemetry-proto's trace
//! service on tonic) receives the trace of an escalation whose root is the
//! office system's `traceparent`, with the spans of the call, the use case,
//! the transaction, the letter and the webhook; the letter carries the trace
//! id and the webhook the traceparent of the escalation. The
//! binary runs as its own process, as deployed: the subscriber it installs is
//! global.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::trace::v1::Span;
use tokio_stream::wrappers::TcpListenerStream;

use crate::helpers::*;
use crate::smtp::Receiver;

scenarios!(an_office_systems_traceparent_is_the_root_of_the_escalations_trace,);

/// Every span exported to it.
#[derive(Clone, Default)]
struct Collector(Arc<Mutex<Vec<Span>>>);

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let spans = request
            .into_inner()
            .resource_spans
            .into_iter()
            .flat_map(|r| r.scope_spans)
            .flat_map(|s| s.spans);
        self.0.lock().unwrap().extend(spans);
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

impl Collector {
    /// Listens on a free port; answers its address.
    async fn start(&self) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let service = TraceServiceServer::new(self.clone());
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming(TcpListenerStream::new(listener)),
        );
        format!("http://{addr}")
    }

    /// The spans of `trace_id` received so far.
    fn of(&self, trace_id: &[u8]) -> Vec<Span> {
        let spans = self.0.lock().unwrap();
        spans
            .iter()
            .filter(|s| s.trace_id == trace_id)
            .cloned()
            .collect()
    }

    /// Waits until spans named each of `names` arrived in `trace_id`.
    async fn wait_for(&self, trace_id: &[u8], names: &[&str]) -> Vec<Span> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let spans = self.of(trace_id);
            if names.iter().all(|n| spans.iter().any(|s| s.name == *n)) {
                return spans;
            }
            assert!(
                Instant::now() < deadline,
                "spans {names:?} not all received; got {:?}",
                spans.iter().map(|s| &s.name).collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// The `traceparent` header of each webhook post.
#[derive(Clone, Default)]
struct Hooks(Arc<Mutex<Vec<String>>>);

impl Hooks {
    async fn start(&self) -> String {
        let hooks = self.clone();
        let app = axum::Router::new().route(
            "/",
            axum::routing::post(move |headers: http::HeaderMap| async move {
                let traceparent = headers
                    .get("traceparent")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_owned();
                hooks.0.lock().unwrap().push(traceparent);
                http::StatusCode::NO_CONTENT
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        format!("http://{addr}/")
    }
}

fn hex_id(bytes: usize) -> String {
    (0..bytes)
        .map(|_| format!("{:02x}", fastrand::u8(..)))
        .collect()
}

async fn an_office_systems_traceparent_is_the_root_of_the_escalations_trace(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let Some(database_url) = fresh_database(backend, dir.path()).await else {
        return;
    };
    let collector = Collector::default();
    let endpoint = collector.start().await;
    let receiver = Receiver::start();
    let mut env = receiver.settings();
    env.push(("WHISTLE__TELEMETRY__OTLP_ENDPOINT", endpoint));
    env.push(("WHISTLE__TELEMETRY__OTLP_PROTOCOL", "grpc".into()));
    // Batches leave every 100 ms rather than every 5 s.
    env.push(("OTEL_BSP_SCHEDULE_DELAY", "100".into()));
    let hooks = Hooks::default();
    let config = dir.path().join("whistle.toml");
    std::fs::write(
        &config,
        format!(
            "[channels.office-system]\nkind = \"webhook\"\nurl = \"{}\"\n\
             secret = \"whsec_q6Nc1kTqGq0sLQJ4x1d0Kx3UVmT5k1bq9dMvJ1m0w8E=\"\n\
             to = [\"principal:cuiping-office\"]\n",
            hooks.start().await
        ),
    )
    .unwrap();
    let (_server, addr) = start_binary_with_args(
        &database_url,
        dir.path(),
        &env,
        &["--config", config.to_str().unwrap()],
    )
    .await;
    // The webhook hears what comes after it opened.
    tokio::time::sleep(Duration::from_millis(500)).await;

    let trace_id = hex_id(16);
    let caller_span = hex_id(8);
    let mut request = tonic::Request::new(property_certificate("TRACE-1"));
    request.metadata_mut().insert(
        "traceparent",
        format!("00-{trace_id}-{caller_span}-01").parse().unwrap(),
    );
    cases_at(&addr, OFFICE_KEY)
        .escalate_petition(request)
        .await
        .expect("escalated");

    let letters = receiver.wait_for(1).await;
    let carried: Vec<String> = letters
        .iter()
        .filter_map(|l| {
            l.parsed()
                .header("X-Whistle-Trace-Id")
                .and_then(|h| h.as_text())
                .map(str::to_owned)
        })
        .collect();
    assert!(
        !carried.is_empty() && carried.iter().all(|id| *id == trace_id),
        "every letter carries the trace id {trace_id}: {carried:?}"
    );

    let deadline = Instant::now() + Duration::from_secs(20);
    let posted = loop {
        let posted = hooks.0.lock().unwrap().clone();
        if !posted.is_empty() {
            break posted;
        }
        assert!(Instant::now() < deadline, "no webhook posted");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    for traceparent in &posted {
        assert_eq!(
            traceparent.split('-').nth(1),
            Some(trace_id.as_str()),
            "the webhook carries the escalation's trace: {traceparent}"
        );
    }

    let trace = hex::decode(&trace_id).unwrap();
    let spans = collector
        .wait_for(
            &trace,
            &["rpc", "escalate", "db.transaction", "letter", "webhook"],
        )
        .await;
    let rpc = spans.iter().find(|s| s.name == "rpc").unwrap();
    assert_eq!(
        hex::encode(&rpc.parent_span_id),
        caller_span,
        "the call's span is the child of the caller's"
    );
    let by_id = |id: &[u8]| spans.iter().find(|s| s.span_id == id);
    // Every span of the trace leads up, through spans of whistle's, to the
    // caller's: the letter's too, sent later by the outbox.
    for span in &spans {
        let mut at = span;
        while let Some(parent) = by_id(&at.parent_span_id) {
            at = parent;
        }
        assert_eq!(
            hex::encode(&at.parent_span_id),
            caller_span,
            "span {} leads up to the caller's span",
            span.name
        );
    }
}
