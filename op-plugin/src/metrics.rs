//! Prometheus metrics, rendered at `/metrics` under the `zg_op_plugin_` prefix.

use std::sync::Arc;

use axum::response::Response;
use parking_lot::Mutex;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use zg_node_kit::metrics::{Labels, render_registry};

type HistogramFamily = Family<Labels, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    // 1 ms … ~33 s.
    Histogram::new(exponential_buckets(0.001, 2.0, 16))
}

/// Metrics of the plugin.
#[derive(Debug)]
pub struct PluginMetrics {
    registry: Mutex<Registry>,
    /// HTTP requests by route, method and status.
    pub requests: Family<Labels, Counter>,
    /// HTTP request latency by route and status.
    pub request_seconds: HistogramFamily,
    /// Put bodies by kind (`frames`: valid derivation data, `other`).
    pub bodies: Family<Labels, Counter>,
    /// Frames seen in put bodies.
    pub frames: Counter,
    /// Bytes of frame data seen.
    pub frame_bytes: Counter,
    /// Channels seen for the first time.
    pub channels: Counter,
    /// Frames that close a channel.
    pub channels_closed: Counter,
    /// Puts by result (`dispersed`, `duplicate`, `failed`).
    pub puts: Family<Labels, Counter>,
    /// Gets by source (`cache`, `systematic`, `recovered`, `failed`).
    pub gets: Family<Labels, Counter>,
    /// Bytes in the payload cache.
    pub cache_bytes: Gauge,
    /// Payloads in the payload cache.
    pub cache_entries: Gauge,
    /// Archive reads by result (`ok`, `refused`: bytes that do not re-derive the
    /// certificate's data_root, `failed`).
    pub archive_reads: Family<Labels, Counter>,
}

impl PluginMetrics {
    /// Registers every metric.
    pub fn new() -> Arc<Self> {
        let m = Self {
            registry: Mutex::new(Registry::with_prefix("zg_op_plugin")),
            requests: Family::default(),
            request_seconds: Family::new_with_constructor(latency_histogram),
            bodies: Family::default(),
            frames: Counter::default(),
            frame_bytes: Counter::default(),
            channels: Counter::default(),
            channels_closed: Counter::default(),
            puts: Family::default(),
            gets: Family::default(),
            cache_bytes: Gauge::default(),
            cache_entries: Gauge::default(),
            archive_reads: Family::default(),
        };
        {
            let mut r = m.registry.lock();
            r.register(
                "requests",
                "HTTP requests by route, method and status",
                m.requests.clone(),
            );
            r.register(
                "request_seconds",
                "HTTP request latency by route and status",
                m.request_seconds.clone(),
            );
            r.register(
                "bodies",
                "Put bodies by kind (frames or other)",
                m.bodies.clone(),
            );
            r.register("frames", "Frames in put bodies", m.frames.clone());
            r.register(
                "frame_bytes",
                "Frame data bytes in put bodies",
                m.frame_bytes.clone(),
            );
            r.register("channels", "Channels first seen", m.channels.clone());
            r.register(
                "channels_closed",
                "Frames closing a channel",
                m.channels_closed.clone(),
            );
            r.register("puts", "Puts by result", m.puts.clone());
            r.register("gets", "Gets by source or failure", m.gets.clone());
            r.register(
                "cache_bytes",
                "Bytes in the payload cache",
                m.cache_bytes.clone(),
            );
            r.register(
                "cache_entries",
                "Payloads in the payload cache",
                m.cache_entries.clone(),
            );
            r.register(
                "archive_reads",
                "Archive reads by result (ok, refused: wrong data_root, failed)",
                m.archive_reads.clone(),
            );
        }
        Arc::new(m)
    }

    /// The OpenMetrics text response.
    pub fn render(&self) -> Response {
        render_registry(&self.registry.lock())
    }
}
