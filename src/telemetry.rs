//! Tracing set-up: human-readable lines by default, JSON for log collectors,
//! and traces by OTLP when an endpoint is configured (`otlp`).
//! `RUST_LOG` overrides the configured filter. Colours only for a person at a
//! terminal: escape codes in a file or a collector are noise, and `NO_COLOR`
//! turns them off there too.
//!
//! The JSON lines come from a formatter of our own. tracing-subscriber's writes
//! every value that is not a number, a bool or a string as the text of its
//! `Debug`, so a list of recipients becomes the string `"[\"a@…\"]"`; its
//! structured values (the `valuable` support) need the unstable
//! `--cfg tracing_unstable` compiler flag in every build. The one structured
//! value whistle logs is a list of strings, and stable `tracing` lets exactly
//! one kind of typed value through to a formatter: an error, as a
//! `&dyn Error` that can be downcast. So [`list`] records a list as such a
//! value, this formatter writes it as a JSON array, and any other formatter
//! shows it as text.

use std::fmt;
use std::io::IsTerminal;

use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::filter::filter_fn;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::layer::{Layer as _, SubscriberExt as _};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt as _;

use crate::settings::{LogFormat, LogSettings, TelemetrySettings};

mod otlp;

pub use otlp::{TRACE_ID_HEADER, continue_trace, exporting, follow, trace_id, traceparent};

/// What must outlive the subscriber: the OTLP exporter's provider, flushed by
/// [`Telemetry::shutdown`] so the last spans leave before the process ends.
#[derive(Debug, Default)]
pub struct Telemetry {
    provider: Option<opentelemetry_sdk::trace::SdkTracerProvider>,
}

impl Telemetry {
    /// Exports what is still batched and stops the exporter.
    pub fn shutdown(self) {
        if let Some(provider) = self.provider
            && let Err(error) = provider.shutdown()
        {
            tracing::warn!(%error, "the last traces were not exported");
        }
    }
}

/// The target of spans that exist for traces alone (a page request, a
/// transaction, a delivery): the log lines leave them out, and while no
/// exporter is installed no layer wants them, so they are never opened.
pub const TRACE_ONLY: &str = "whistle::trace";

fn logged(metadata: &tracing::Metadata<'_>) -> bool {
    metadata.target() != TRACE_ONLY
}

/// Installs the global subscriber, with the OTLP exporter when `telemetry`
/// names an endpoint. A second call (tests starting several apps in one
/// process) keeps the first one.
pub fn init(settings: &LogSettings, telemetry: &TelemetrySettings) -> anyhow::Result<Telemetry> {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&settings.filter));
    let colour = std::io::stdout().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let (otel, provider) = match otlp::layer(telemetry)? {
        Some((layer, provider)) => (
            Some(layer.with_filter(filter_fn(|m| otlp::exported(m.target())))),
            Some(provider),
        ),
        None => (None, None),
    };
    let pretty = (settings.format == LogFormat::Pretty).then(|| {
        tracing_subscriber::fmt::layer()
            .with_target(false)
            .with_ansi(colour)
            .with_filter(filter_fn(logged))
    });
    let json = (settings.format == LogFormat::Json).then(|| {
        tracing_subscriber::fmt::layer()
            .with_ansi(false)
            .fmt_fields(JsonFields)
            .event_format(JsonLines)
            .with_filter(filter_fn(logged))
    });
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(pretty)
        .with(json)
        .with(otel)
        .try_init();
    Ok(Telemetry { provider })
}

/// A list for one log field, `to = telemetry::list(&mail.recipients)`: an
/// array in JSON logs, `["a", "b"]` in the pretty ones.
pub fn list<T: ToString>(
    items: impl IntoIterator<Item = T>,
) -> Box<dyn std::error::Error + Send + Sync> {
    Box::new(List(items.into_iter().map(|i| i.to_string()).collect()))
}

/// Not an error: the `Error` impl is the way through `tracing` (module doc).
#[derive(Debug)]
struct List(Vec<String>);

impl fmt::Display for List {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(&self.0).finish()
    }
}

impl std::error::Error for List {}

/// An error with its causes, `outer: inner: innermost`, for one log field.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut out = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        out.push_str(": ");
        out.push_str(&e.to_string());
        source = e.source();
    }
    out
}

/// Collects fields as JSON values, in the order they were recorded.
struct JsonVisitor<'a>(&'a mut Vec<(&'static str, Value)>);

impl JsonVisitor<'_> {
    fn put(&mut self, field: &Field, value: Value) {
        let name = field.name();
        // Bridged `log` records carry their metadata as `log.*` fields; the
        // level is already on the line.
        if name.starts_with("log.") {
            return;
        }
        self.0
            .push((name.strip_prefix("r#").unwrap_or(name), value));
    }
}

impl Visit for JsonVisitor<'_> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.put(field, value.into());
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, value.into());
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, value.into());
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, value.into());
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, value.into());
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        let value = match value.downcast_ref::<List>() {
            Some(list) => list.0.clone().into(),
            None => value.to_string().into(),
        };
        self.put(field, value);
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.put(field, format!("{value:?}").into());
    }
}

/// Writes key–value pairs as one JSON object, keeping their order.
struct Object<'a>(&'a [(&'a str, Value)]);

impl Serialize for Object<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (key, value) in self.0 {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

/// Span fields as a JSON object, kept with the span until its events print.
struct JsonFields;

impl<'w> FormatFields<'w> for JsonFields {
    fn format_fields<R: RecordFields>(&self, mut writer: Writer<'w>, fields: R) -> fmt::Result {
        let mut values = Vec::new();
        fields.record(&mut JsonVisitor(&mut values));
        let text = serde_json::to_string(&Object(&values)).map_err(|_| fmt::Error)?;
        writer.write_str(&text)
    }

    /// Fields recorded after the span began join the object rather than
    /// following it, which would not be JSON.
    fn add_fields(
        &self,
        current: &'w mut FormattedFields<Self>,
        fields: &tracing::span::Record<'_>,
    ) -> fmt::Result {
        let mut object: Map<String, Value> = if current.fields.is_empty() {
            Map::new()
        } else {
            serde_json::from_str(&current.fields).map_err(|_| fmt::Error)?
        };
        let mut values = Vec::new();
        fields.record(&mut JsonVisitor(&mut values));
        for (key, value) in values {
            object.insert(key.to_owned(), value);
        }
        current.fields = serde_json::to_string(&object).map_err(|_| fmt::Error)?;
        Ok(())
    }
}

/// One JSON object per event, with the keys tracing-subscriber's flattened
/// JSON has (`timestamp`, `level`, the event's fields, `span`, `spans`), so
/// collectors see the same shape.
struct JsonLines;

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'w> FormatFields<'w> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut timestamp = String::new();
        SystemTime.format_time(&mut Writer::new(&mut timestamp))?;
        let mut line = vec![
            ("timestamp", Value::from(timestamp)),
            ("level", Value::from(event.metadata().level().as_str())),
        ];
        event.record(&mut JsonVisitor(&mut line));
        if let Some(scope) = ctx.event_scope() {
            let spans: Vec<Value> = scope
                .from_root()
                .map(|span| {
                    let mut object = span
                        .extensions()
                        .get::<FormattedFields<N>>()
                        .and_then(|f| serde_json::from_str::<Map<String, Value>>(f).ok())
                        .unwrap_or_default();
                    object.insert("name".to_owned(), span.name().into());
                    Value::Object(object)
                })
                .collect();
            if let Some(current) = spans.last() {
                line.push(("span", current.clone()));
            }
            line.push(("spans", spans.into()));
        }
        let text = serde_json::to_string(&Object(&line)).map_err(|_| fmt::Error)?;
        writeln!(writer, "{text}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn json_lines(log: impl FnOnce()) -> Vec<Value> {
        let out = Captured::default();
        let writer = out.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .fmt_fields(JsonFields)
            .event_format(JsonLines)
            .finish();
        tracing::subscriber::with_default(subscriber, log);
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        text.lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect()
    }

    #[test]
    fn lists_are_json_arrays_and_other_values_keep_their_type() {
        let recipients = vec!["a@x.example".to_owned(), "王@y.example".to_owned()];
        let lines = json_lines(|| {
            let span =
                tracing::info_span!("rpc", method = "GetCase", case_id = tracing::field::Empty);
            let _entered = span.enter();
            span.record("case_id", "c-1");
            tracing::info!(to = list(&recipients), attempts = 3_u32, state = ?Some(1), "letter sent");
        });
        let line = &lines[0];
        assert_eq!(
            line["to"],
            serde_json::json!(["a@x.example", "王@y.example"])
        );
        assert_eq!(line["attempts"], 3);
        assert_eq!(line["state"], "Some(1)");
        assert_eq!(line["message"], "letter sent");
        assert_eq!(line["level"], "INFO");
        assert!(line["timestamp"].is_string());
        assert_eq!(
            line["span"],
            serde_json::json!({"name": "rpc", "method": "GetCase", "case_id": "c-1"})
        );
        assert_eq!(line["spans"].as_array().unwrap().len(), 1);
    }

    #[test]
    fn a_list_reads_like_its_debug_elsewhere() {
        assert_eq!(
            list(["a@x.example", "b@y.example"]).to_string(),
            r#"["a@x.example", "b@y.example"]"#
        );
    }
}
