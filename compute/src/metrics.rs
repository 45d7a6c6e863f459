//! Prometheus metrics of the broker (`GET /metrics`, prefix `zg_compute`).

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::meter::Usage;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: String,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabels {
    status: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    kind: &'static str,
}

/// The broker's metrics.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    seconds: Histogram,
    tokens: Family<KindLabels, Counter>,
    settlements: Family<StatusLabels, Counter>,
    pending: Gauge<u64, AtomicU64>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A registry with every metric.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("zg_compute");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "requests",
            "Proxy requests by route and outcome",
            requests.clone(),
        );
        let seconds = Histogram::new(exponential_buckets(0.001, 2.0, 16));
        registry.register("request_seconds", "Proxy request latency", seconds.clone());
        let tokens = Family::<KindLabels, Counter>::default();
        registry.register(
            "tokens",
            "Metered tokens (prompt, completion)",
            tokens.clone(),
        );
        let settlements = Family::<StatusLabels, Counter>::default();
        registry.register(
            "settlements",
            "Settlement items by on-chain status",
            settlements.clone(),
        );
        let pending = Gauge::<u64, AtomicU64>::default();
        registry.register(
            "unsettled_requests",
            "Billed requests not settled yet",
            pending.clone(),
        );
        Self {
            registry,
            requests,
            seconds,
            tokens,
            settlements,
            pending,
        }
    }

    pub(crate) fn request(&self, route: &str, outcome: &'static str, seconds: f64) {
        self.requests
            .get_or_create(&RequestLabels {
                route: route.to_string(),
                outcome,
            })
            .inc();
        self.seconds.observe(seconds);
    }

    pub(crate) fn tokens(&self, u: Usage) {
        self.tokens
            .get_or_create(&KindLabels { kind: "prompt" })
            .inc_by(u.prompt_tokens);
        self.tokens
            .get_or_create(&KindLabels { kind: "completion" })
            .inc_by(u.completion_tokens);
    }

    /// A settlement transaction that reverted as a whole.
    pub(crate) fn settlement_reverted(&self) {
        self.settlements
            .get_or_create(&StatusLabels { status: "reverted" })
            .inc();
    }

    pub(crate) fn settlement(&self, status: u8) {
        let status = match status {
            0 => "success",
            1 => "partial",
            2 => "provider_mismatch",
            3 => "no_tee_signer",
            4 => "invalid_nonce",
            _ => "invalid_signature",
        };
        self.settlements
            .get_or_create(&StatusLabels { status })
            .inc();
    }

    pub(crate) fn pending(&self, n: u64) {
        self.pending.set(n);
    }

    /// The text exposition.
    pub fn encode(&self) -> String {
        zg_node_kit::encode_registry(&self.registry)
    }
}
