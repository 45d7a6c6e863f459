//! Prometheus metrics under `zg_sampler_`.

use std::sync::Arc;

use parking_lot::Mutex;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::sampler::{Availability, SampleReport};

use zg_node_kit::Labels;

/// Metrics of a light client (or of a DA node's sampler).
#[derive(Debug)]
pub struct SamplerMetrics {
    registry: Mutex<Registry>,
    /// Payloads sampled, by final status.
    pub payloads: Family<Labels, Counter>,
    /// Column samples, by result (`ok`, `failed`).
    pub samples: Family<Labels, Counter>,
    /// Seconds to sample a payload.
    pub sample_seconds: Histogram,
    /// Misbehaviour reports about quorum members.
    pub misbehaving: Counter,
    /// Chain head last seen.
    pub head: Gauge,
    /// Next block to follow.
    pub checkpoint: Gauge,
    /// Newest header whose finality certificate verified.
    pub verified_head: Gauge,
    /// Anchor events the finalized state does not hold (a lying endpoint).
    pub forged_anchors: Counter,
}

impl SamplerMetrics {
    /// Registers every metric.
    pub fn new() -> Arc<Self> {
        let m = Self {
            registry: Mutex::new(Registry::with_prefix("zg_sampler")),
            payloads: Family::default(),
            samples: Family::default(),
            sample_seconds: Histogram::new(exponential_buckets(0.005, 2.0, 14)),
            misbehaving: Counter::default(),
            head: Gauge::default(),
            checkpoint: Gauge::default(),
            verified_head: Gauge::default(),
            forged_anchors: Counter::default(),
        };
        {
            let mut r = m.registry.lock();
            r.register("payloads", "Payloads sampled by status", m.payloads.clone());
            r.register("samples", "Column samples by result", m.samples.clone());
            r.register(
                "sample_seconds",
                "Seconds to sample a payload",
                m.sample_seconds.clone(),
            );
            r.register(
                "misbehaving",
                "Reports of quorum members serving invalid data",
                m.misbehaving.clone(),
            );
            r.register("head", "Chain head last seen", m.head.clone());
            r.register("checkpoint", "Next block to follow", m.checkpoint.clone());
            r.register(
                "verified_head",
                "Newest header whose finality certificate verified",
                m.verified_head.clone(),
            );
            r.register(
                "forged_anchors",
                "Anchor events the finalized state does not hold",
                m.forged_anchors.clone(),
            );
        }
        Arc::new(m)
    }

    /// Records a finished sampling.
    pub fn observe(&self, r: &SampleReport) {
        let status = match r.status {
            Availability::Available => "available",
            Availability::Unavailable => "unavailable",
            Availability::Pending => "pending",
            Availability::Sampling => "sampling",
        };
        self.payloads
            .get_or_create(&vec![("status", status.into())])
            .inc();
        self.samples
            .get_or_create(&vec![("result", "ok".into())])
            .inc_by(r.samples_ok as u64);
        self.samples
            .get_or_create(&vec![("result", "failed".into())])
            .inc_by(r.samples_failed as u64);
        self.misbehaving.inc_by(r.misbehaving.len() as u64);
        self.sample_seconds.observe(r.duration_ms as f64 / 1e3);
    }

    /// The OpenMetrics text.
    pub fn render(&self) -> Result<String, std::fmt::Error> {
        Ok(zg_node_kit::encode_registry(&self.registry.lock()))
    }

    /// The OpenMetrics text as the answer of `/metrics`.
    pub fn response(&self) -> axum::response::Response {
        zg_node_kit::render_registry(&self.registry.lock())
    }
}
