//! Prometheus plumbing: the OpenMetrics text of a `prometheus-client` registry, as a
//! string or as the HTTP answer of `/metrics`, and label helpers with bounded values.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::text::encode;
use prometheus_client::registry::Registry;

/// The `Content-Type` of the OpenMetrics text format.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// A label set: fixed names, values from a small closed set (never request input).
pub type Labels = Vec<(&'static str, String)>;

/// One `result` label.
pub fn result(v: impl Into<String>) -> Labels {
    vec![("result", v.into())]
}

/// The registry in the OpenMetrics text format (an empty string if a collector
/// failed, which `prometheus-client`'s own metrics never do).
pub fn encode_registry(registry: &Registry) -> String {
    let mut out = String::new();
    if encode(&mut out, registry).is_err() {
        out.clear();
    }
    out
}

/// Renders a registry in the OpenMetrics text format as an HTTP response.
pub fn render_registry(registry: &Registry) -> Response {
    let mut body = String::new();
    match encode(&mut body, registry) {
        Ok(()) => ([(header::CONTENT_TYPE, CONTENT_TYPE)], body).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use prometheus_client::metrics::counter::Counter;
    use prometheus_client::metrics::family::Family;

    use super::*;

    #[test]
    fn renders_labelled_counters() {
        let mut r = Registry::with_prefix("zg_test");
        let f = Family::<Labels, Counter>::default();
        r.register("requests", "Requests", f.clone());
        f.get_or_create(&result("ok")).inc();
        let text = encode_registry(&r);
        assert!(
            text.contains("zg_test_requests_total{result=\"ok\"} 1"),
            "{text}"
        );
        assert!(text.ends_with("# EOF\n"));
    }
}
