//! One access-log line per RPC, at INFO: the method, the caller and the case
//! (recorded on the call's `rpc` span by the handler), the status code and how
//! long the answer took. Health checks and reflection, which load balancers and
//! tools make all day, are logged at DEBUG. A server stream is logged when it
//! opens; how it ends is the stream's own business.
//!
//! The `rpc` span is the call's span in a trace; a caller's `traceparent`
//! metadata makes it the child of the caller's span.
//!
//! The same numbers feed the metrics: `whistle_rpc_requests_total` by method
//! and code, `whistle_rpc_duration_seconds` by method.
//!
//! It also corrects one answer of tonic's: a request whose bytes are not the
//! message they should be is the caller's mistake, `INVALID_ARGUMENT`, not the
//! `INTERNAL` the protobuf codec answers (which a caller reads as ours, and
//! retries).

use std::task::{Context, Poll};
use std::time::Instant;

use futures::future::BoxFuture;
use tonic::Code;
use tonic::body::Body;
use tower::{Layer, Service};
use tracing::Instrument;
use tracing::field::Empty;

#[derive(Debug, Clone, Copy, Default)]
pub struct AccessLogLayer;

impl<S> Layer<S> for AccessLogLayer {
    type Service = AccessLog<S>;

    fn layer(&self, inner: S) -> AccessLog<S> {
        AccessLog { inner }
    }
}

#[derive(Debug, Clone)]
pub struct AccessLog<S> {
    inner: S,
}

/// The status of an answer: in the headers of an error answered at once
/// ("trailers only"), absent from those of a success.
fn code(response: &http::Response<Body>) -> Code {
    response
        .headers()
        .get("grpc-status")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<i32>().ok())
        .map_or(Code::Ok, Code::from_i32)
}

/// What prost says of bytes that do not decode, as tonic percent-encodes it
/// into `grpc-message`.
const UNDECODABLE: &str = "failed%20to%20decode%20Protobuf%20message";

/// Turns the codec's INTERNAL for an undecodable request into INVALID_ARGUMENT.
fn correct_decode_error(response: &mut http::Response<Body>) {
    let undecodable = code(response) == Code::Internal
        && response
            .headers()
            .get("grpc-message")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|m| m.starts_with(UNDECODABLE));
    if undecodable {
        response.headers_mut().insert(
            "grpc-status",
            http::HeaderValue::from(Code::InvalidArgument as i32),
        );
    }
}

/// Counts the answer and its latency. A path no service knows (UNIMPLEMENTED)
/// is counted as `unknown`, so that made-up paths cannot grow the label set.
fn record(method: &str, code: Code, seconds: f64) {
    let method = if code == Code::Unimplemented {
        "unknown".to_owned()
    } else {
        method.to_owned()
    };
    ::metrics::counter!(
        crate::metrics::RPC_REQUESTS,
        "method" => method.clone(),
        "code" => crate::metrics::code_label(code),
    )
    .increment(1);
    ::metrics::histogram!(crate::metrics::RPC_DURATION, "method" => method).record(seconds);
}

impl<S> Service<http::Request<Body>> for AccessLog<S>
where
    S: Service<http::Request<Body>, Response = http::Response<Body>>,
    S::Future: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        let path = request.uri().path();
        let method = path.rsplit_once('.').map_or(path, |(_, m)| m).to_owned();
        let routine = path.starts_with("/grpc.");
        let span = tracing::info_span!("rpc", method = %method, caller = Empty, case_id = Empty);
        crate::telemetry::continue_trace(&span, request.headers());
        let started = Instant::now();
        let call = span.in_scope(|| self.inner.call(request));
        Box::pin(
            async move {
                let mut answer = call.await;
                if let Ok(response) = &mut answer {
                    correct_decode_error(response);
                    let code = code(response);
                    let elapsed = started.elapsed().as_secs_f64();
                    record(&method, code, elapsed);
                    let latency_ms = elapsed * 1000.0;
                    if routine {
                        tracing::debug!(?code, latency_ms, "rpc answered");
                    } else {
                        tracing::info!(?code, latency_ms, "rpc answered");
                    }
                }
                answer
            }
            .instrument(span),
        )
    }
}
