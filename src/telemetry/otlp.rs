//! Traces by OpenTelemetry (OTLP), when `[telemetry] otlp_endpoint` is set.
//! The `tracing` spans the code already opens become OpenTelemetry spans
//! (tracing-opentelemetry); a W3C `traceparent` from a caller continues the
//! caller's trace; what a transaction leaves for later delivery (a letter, a
//! webhook event) keeps the `traceparent` of the span that wrote it, so the
//! delivery joins the same trace. While it is off, no layer is installed and
//! every function here returns at its first line.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context as _;
use opentelemetry::propagation::{Extractor, TextMapPropagator};
use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use opentelemetry_otlp::{SpanExporter, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};
use tracing::Span;
use tracing_opentelemetry::{OpenTelemetryLayer, OpenTelemetrySpanExt};

use crate::settings::{OtlpProtocol, TelemetrySettings};

/// Set once, when the exporter is installed.
static ON: AtomicBool = AtomicBool::new(false);

/// The header a letter carries its trace id in.
pub const TRACE_ID_HEADER: &str = "X-Whistle-Trace-Id";

fn on() -> bool {
    ON.load(Ordering::Relaxed)
}

/// Whether spans are exported: a span that only a trace wants (a
/// transaction's) is not opened otherwise.
pub fn exporting() -> bool {
    on()
}

/// The tracer provider and the layer that feeds it, or `None` when no
/// endpoint is configured. Must run inside the Tokio runtime: the gRPC
/// exporter's channel lives there.
pub(super) fn layer<S>(
    settings: &TelemetrySettings,
) -> anyhow::Result<Option<(OpenTelemetryLayer<S, SdkTracer>, SdkTracerProvider)>>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    let Some(endpoint) = settings.otlp_endpoint.as_deref().filter(|e| !e.is_empty()) else {
        return Ok(None);
    };
    let exporter = match settings.otlp_protocol {
        OtlpProtocol::Grpc => SpanExporter::builder()
            .with_tonic()
            .with_endpoint(endpoint)
            .build(),
        OtlpProtocol::Http => SpanExporter::builder()
            .with_http()
            .with_endpoint(http_endpoint(endpoint))
            .build(),
    }
    .with_context(|| format!("telemetry.otlp_endpoint {endpoint}"))?;
    // The batch's schedule and size follow the OTEL_BSP_* variables.
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(
            Resource::builder()
                .with_service_name(settings.service_name.clone())
                .build(),
        )
        .build();
    let layer = tracing_opentelemetry::layer().with_tracer(provider.tracer("whistle"));
    ON.store(true, Ordering::Relaxed);
    Ok(Some((layer, provider)))
}

/// OTLP/HTTP takes the signal's own URL: `/v1/traces` is added to an endpoint
/// given as a bare origin, as the OTLP specification does for the generic one.
fn http_endpoint(endpoint: &str) -> String {
    let trimmed = endpoint.trim_end_matches('/');
    let after_scheme = trimmed.split_once("://").map_or(trimmed, |(_, rest)| rest);
    if after_scheme.contains('/') {
        endpoint.to_owned()
    } else {
        format!("{trimmed}/v1/traces")
    }
}

/// Targets whose spans are the export's own work (the exporter's HTTP/2 and
/// HTTP clients): traced, they would feed the exporter its own calls.
pub(super) fn exported(target: &str) -> bool {
    const OWN: [&str; 6] = ["h2", "hyper", "tonic", "tower", "reqwest", "opentelemetry"];
    !OWN.iter().any(|own| {
        target
            .strip_prefix(own)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with("::") || rest.starts_with('_'))
    })
}

/// Headers or gRPC metadata, read by the propagator.
struct Headers<'a>(&'a http::HeaderMap);

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(http::HeaderName::as_str).collect()
    }
}

/// Makes `span` (a request's first span) a child of the caller's span when
/// the request carries a W3C `traceparent`.
pub fn continue_trace(span: &Span, headers: &http::HeaderMap) {
    if !on() || !headers.contains_key("traceparent") {
        return;
    }
    let parent = TraceContextPropagator::new().extract(&Headers(headers));
    let _ = span.set_parent(parent);
}

/// The W3C `traceparent` of the current span, to be stored with what it
/// writes for later delivery; `None` while tracing is off.
pub fn traceparent() -> Option<String> {
    if !on() {
        return None;
    }
    let context = Span::current().context();
    if !context.span().span_context().is_valid() {
        return None;
    }
    let mut carrier = HashMap::new();
    TraceContextPropagator::new().inject_context(&context, &mut carrier);
    carrier.remove("traceparent")
}

/// Makes `span` (a delivery's) a child of the span that wrote what it
/// delivers, by the `traceparent` stored with it.
pub fn follow(span: &Span, traceparent: Option<&str>) {
    let Some(traceparent) = traceparent.filter(|_| on()) else {
        return;
    };
    let carrier = HashMap::from([("traceparent".to_owned(), traceparent.to_owned())]);
    let parent = TraceContextPropagator::new().extract(&carrier);
    let _ = span.set_parent(parent);
}

/// The trace id of a W3C `traceparent` (`00-<trace id>-<span id>-<flags>`).
pub fn trace_id(traceparent: &str) -> Option<&str> {
    let id = traceparent.split('-').nth(1)?;
    (id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit())).then_some(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_http_endpoint_without_a_path_gets_the_traces_path() {
        assert_eq!(http_endpoint("http://c:4318"), "http://c:4318/v1/traces");
        assert_eq!(http_endpoint("http://c:4318/"), "http://c:4318/v1/traces");
        assert_eq!(
            http_endpoint("https://c/otlp/v1/traces"),
            "https://c/otlp/v1/traces"
        );
    }

    #[test]
    fn the_exporters_own_spans_are_not_exported() {
        assert!(!exported("h2::proto"));
        assert!(!exported("hyper_util::client"));
        assert!(!exported("tonic"));
        assert!(exported("whistle::workers::outbox"));
        assert!(exported("hypertext"));
    }

    #[test]
    fn the_trace_id_is_the_second_part_of_a_traceparent() {
        assert_eq!(
            trace_id("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
            Some("4bf92f3577b34da6a3ce929d0e0e4736")
        );
        assert_eq!(trace_id("00-xyz-00f067aa0ba902b7-01"), None);
    }
}
