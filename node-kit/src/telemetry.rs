//! OpenTelemetry traces, exported over OTLP/HTTP (protobuf) when `--otlp.endpoint` is
//! set, and the W3C trace context that carries one trace across processes.
//!
//! Only spans with the target [`TRACE_TARGET`] are exported (at INFO and up): the stages
//! of a put (op-plugin → disperser → each DA node's store → aggregation → anchoring),
//! not every log line's span. The context travels as a `traceparent` string: an HTTP
//! header from the op-plugin to the disperser, a field of the store request's prelude
//! from the disperser to each DA node ([`traceparent`], [`set_parent`]).

use std::collections::HashMap;

use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::Layer;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// The target of the spans that are exported.
pub const TRACE_TARGET: &str = "zg::trace";

/// The longest `traceparent` accepted from a peer (the W3C form is 55 characters).
pub const MAX_TRACEPARENT: usize = 128;

/// Where traces go.
#[derive(Clone, Debug)]
pub struct OtlpConfig {
    /// The collector's base URL (`http://host:4318`); spans are posted to
    /// `{endpoint}/v1/traces`.
    pub endpoint: String,
    /// `service.name` of this process's spans.
    pub service: String,
}

/// Keeps the exporter alive; flushes the spans still queued when dropped.
#[derive(Debug, Default)]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Exports what is queued now.
    pub fn flush(&self) {
        if let Some(p) = &self.provider {
            let _ = p.force_flush();
        }
    }
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        if let Some(p) = self.provider.take() {
            let _ = p.force_flush();
            let _ = p.shutdown();
        }
    }
}

/// Installs the global subscriber: log lines filtered by `RUST_LOG` (else
/// `default_filter`), text or JSON, and with `otlp` the trace spans exported. A second
/// call installs nothing (and exports nothing).
pub fn init(format: &str, default_filter: &str, otlp: Option<&OtlpConfig>) -> Telemetry {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| default_filter.into());
    let fmt: Box<dyn Layer<tracing_subscriber::Registry> + Send + Sync> = if format == "json" {
        Box::new(tracing_subscriber::fmt::layer().json().with_filter(filter))
    } else {
        Box::new(tracing_subscriber::fmt::layer().with_filter(filter))
    };
    let mut layers = vec![fmt];
    let mut telemetry = Telemetry::default();
    if let Some(o) = otlp {
        match provider(o) {
            Ok(p) => {
                let tracer = p.tracer("zg-da");
                let only_traces = tracing_subscriber::filter::Targets::new()
                    .with_target(TRACE_TARGET, tracing::Level::INFO);
                layers.push(Box::new(
                    tracing_opentelemetry::layer()
                        .with_tracer(tracer)
                        .with_filter(only_traces),
                ));
                opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
                telemetry.provider = Some(p);
            }
            Err(e) => eprintln!("OTLP export to {} disabled: {e}", o.endpoint),
        }
    }
    if tracing_subscriber::registry()
        .with(layers)
        .try_init()
        .is_err()
    {
        return Telemetry::default();
    }
    telemetry
}

fn provider(o: &OtlpConfig) -> Result<SdkTracerProvider, String> {
    let endpoint = format!("{}/v1/traces", o.endpoint.trim_end_matches('/'));
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_endpoint(endpoint)
        .build()
        .map_err(|e| e.to_string())?;
    let resource = opentelemetry_sdk::Resource::builder()
        .with_service_name(o.service.clone())
        .build();
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource)
        .build())
}

/// The W3C `traceparent` of the current span (`None` when it is not part of an exported
/// trace).
pub fn traceparent() -> Option<String> {
    let cx = tracing::Span::current().context();
    let mut carrier: HashMap<String, String> = HashMap::new();
    TraceContextPropagator::new().inject_context(&cx, &mut carrier);
    carrier.remove("traceparent")
}

/// Makes `span` a child of the remote span `traceparent` names (ignored when malformed
/// or longer than [`MAX_TRACEPARENT`]).
pub fn set_parent(span: &tracing::Span, traceparent: Option<&str>) {
    let Some(tp) = traceparent.filter(|t| t.len() <= MAX_TRACEPARENT) else {
        return;
    };
    let mut carrier: HashMap<String, String> = HashMap::new();
    carrier.insert("traceparent".into(), tp.to_string());
    let cx = TraceContextPropagator::new().extract(&carrier);
    let _ = span.set_parent(cx);
}
