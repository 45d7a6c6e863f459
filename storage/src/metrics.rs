//! Prometheus metrics of the storage node (`GET /metrics`).

use std::sync::atomic::AtomicU64;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RpcLabels {
    method: String,
    outcome: &'static str,
}

/// The node's metrics.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    rpc: Family<RpcLabels, Counter>,
    rpc_seconds: Histogram,
    segments: Counter,
    bytes: Counter,
    finalized: Counter,
    submissions: Counter,
    rewound: Counter,
    sync_height: Gauge<u64, AtomicU64>,
    next_seq: Gauge<u64, AtomicU64>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A new registry with every metric.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("zg_storage");
        let rpc = Family::<RpcLabels, Counter>::default();
        registry.register(
            "rpc_requests",
            "JSON-RPC calls by method and outcome",
            rpc.clone(),
        );
        let rpc_seconds = Histogram::new(exponential_buckets(0.0001, 4.0, 10));
        registry.register("rpc_seconds", "JSON-RPC call latency", rpc_seconds.clone());
        let segments = Counter::default();
        registry.register("segments_stored", "Segments stored", segments.clone());
        let bytes = Counter::default();
        registry.register("bytes_stored", "Segment bytes stored", bytes.clone());
        let finalized = Counter::default();
        registry.register(
            "files_finalized",
            "Files completed by uploads",
            finalized.clone(),
        );
        let submissions = Counter::default();
        registry.register("submissions", "Submit events applied", submissions.clone());
        let rewound = Counter::default();
        registry.register(
            "rewound_submissions",
            "Submissions undone because a chain reorg replaced their blocks",
            rewound.clone(),
        );
        let sync_height = Gauge::<u64, AtomicU64>::default();
        registry.register(
            "sync_height",
            "Last chain block applied",
            sync_height.clone(),
        );
        let next_seq = Gauge::<u64, AtomicU64>::default();
        registry.register(
            "next_tx_seq",
            "Next submission index expected",
            next_seq.clone(),
        );
        Self {
            registry,
            rpc,
            rpc_seconds,
            segments,
            bytes,
            finalized,
            submissions,
            rewound,
            sync_height,
            next_seq,
        }
    }

    /// One answered call; unknown methods are counted as `unknown`.
    pub fn observe_rpc(&self, method: &str, known: bool, ok: bool, took: Duration) {
        self.rpc
            .get_or_create(&RpcLabels {
                method: if known {
                    method.to_string()
                } else {
                    "unknown".into()
                },
                outcome: if ok { "ok" } else { "error" },
            })
            .inc();
        self.rpc_seconds.observe(took.as_secs_f64());
    }

    /// Segments newly stored.
    pub fn stored(&self, segments: usize, bytes: usize, finalized: bool) {
        self.segments.inc_by(segments as u64);
        self.bytes.inc_by(bytes as u64);
        if finalized {
            self.finalized.inc();
        }
    }

    /// A reorg undid `submissions` submissions.
    pub fn rewound(&self, submissions: u64) {
        self.rewound.inc_by(submissions);
    }

    /// The follower applied blocks up to `height`.
    pub fn synced(&self, height: u64, next_seq: u64, submissions: usize) {
        self.sync_height.set(height);
        self.next_seq.set(next_seq);
        self.submissions.inc_by(submissions as u64);
    }

    /// The OpenMetrics text exposition.
    pub fn encode(&self) -> String {
        zg_node_kit::encode_registry(&self.registry)
    }
}
