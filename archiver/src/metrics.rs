//! Prometheus metrics, rendered at `/metrics` under the `zg_archiver_` prefix.

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

/// Metrics of the archiver.
#[derive(Debug)]
pub struct ArchiverMetrics {
    registry: Mutex<Registry>,
    /// Payloads archived.
    pub archived: Counter,
    /// Payload bytes archived.
    pub archived_bytes: Counter,
    /// Anchors whose payload was gone from the DA nodes before it was archived.
    pub missed: Counter,
    /// Archive attempts that failed (retried).
    pub failures: Family<Labels, Counter>,
    /// Seconds behind the chain: age of the oldest anchor block not yet archived (0 when
    /// caught up).
    pub lag_seconds: Gauge,
    /// The lag past which payloads are pruned before they are archived (retention
    /// minus margin).
    pub max_lag_seconds: Gauge,
    /// The next block to follow.
    pub next_block: Gauge,
    /// The chain's final block.
    pub final_block: Gauge,
    /// Wei paid to the flow for archived payloads.
    pub fees_gwei: Counter,
    /// Seconds per archive stage (`retrieve`, `submit`, `upload`, `secondary`).
    pub stage_seconds: HistogramFamily,
    /// Reads by source (`cache`, `storage`, `secondary`) and failures.
    pub reads: Family<Labels, Counter>,
    /// HTTP requests by route and status.
    pub requests: Family<Labels, Counter>,
}

impl ArchiverMetrics {
    /// Registers every metric.
    pub fn new() -> Arc<Self> {
        let m = Self {
            registry: Mutex::new(Registry::with_prefix("zg_archiver")),
            archived: Counter::default(),
            archived_bytes: Counter::default(),
            missed: Counter::default(),
            failures: Family::default(),
            lag_seconds: Gauge::default(),
            max_lag_seconds: Gauge::default(),
            next_block: Gauge::default(),
            final_block: Gauge::default(),
            fees_gwei: Counter::default(),
            stage_seconds: Family::new_with_constructor(latency_histogram),
            reads: Family::default(),
            requests: Family::default(),
        };
        {
            let mut r = m.registry.lock();
            r.register("archived", "Payloads archived", m.archived.clone());
            r.register(
                "archived_bytes",
                "Payload bytes archived",
                m.archived_bytes.clone(),
            );
            r.register(
                "missed",
                "Anchors whose payload was pruned from the DA nodes before it was archived",
                m.missed.clone(),
            );
            r.register(
                "failures",
                "Archive attempts that failed, by stage (retried)",
                m.failures.clone(),
            );
            r.register(
                "lag_seconds",
                "Age of the oldest anchor block not yet archived (0: caught up)",
                m.lag_seconds.clone(),
            );
            r.register(
                "max_lag_seconds",
                "The lag past which payloads are pruned before they are archived",
                m.max_lag_seconds.clone(),
            );
            r.register("next_block", "Next block to follow", m.next_block.clone());
            r.register(
                "final_block",
                "The chain's final block",
                m.final_block.clone(),
            );
            r.register(
                "fees_gwei",
                "Flow fees paid for archived payloads, in gwei",
                m.fees_gwei.clone(),
            );
            r.register(
                "stage_seconds",
                "Seconds per archive stage",
                m.stage_seconds.clone(),
            );
            r.register(
                "reads",
                "Payload reads by source or failure",
                m.reads.clone(),
            );
            r.register(
                "requests",
                "HTTP requests by route and status",
                m.requests.clone(),
            );
        }
        Arc::new(m)
    }

    /// Observes one stage's duration.
    pub fn stage(&self, stage: &'static str, seconds: f64) {
        self.stage_seconds
            .get_or_create(&vec![("stage", stage.to_string())])
            .observe(seconds);
    }

    /// The OpenMetrics text response.
    pub fn render(&self) -> Response {
        render_registry(&self.registry.lock())
    }
}
