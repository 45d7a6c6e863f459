//! Prometheus metrics of the node.

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

/// The node's metrics and their registry.
pub struct Metrics {
    registry: Registry,
    /// Head block number.
    pub head: Gauge,
    /// Pending transactions.
    pub pool: Gauge,
    /// Blocks produced.
    pub blocks: Counter,
    /// Transactions included.
    pub txs: Counter,
    /// Time to build and commit a block.
    pub block_seconds: Histogram,
    /// Heavy calls refused because every heavy-call place stayed busy.
    pub rpc_refused: Counter,
    /// Transactions dropped because their execution panicked or broke an invariant.
    pub poisoned: Counter,
    /// Highest block consensus has finalized (validator networks).
    pub finalized_tip: Gauge,
    /// Rounds in which a followed upstream served data that did not verify.
    pub follow_refused: Counter,
    rpc: Family<RpcLabels, Counter<u64, AtomicU64>>,
    rpc_seconds: Histogram,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("zg_chain");
        let head = Gauge::default();
        let pool = Gauge::default();
        let blocks = Counter::default();
        let txs = Counter::default();
        let block_seconds = Histogram::new(exponential_buckets(0.001, 2.0, 14));
        let rpc = Family::<RpcLabels, Counter<u64, AtomicU64>>::default();
        let rpc_seconds = Histogram::new(exponential_buckets(0.0001, 2.0, 16));
        let rpc_refused = Counter::default();
        let poisoned = Counter::default();
        let finalized_tip = Gauge::default();
        let follow_refused = Counter::default();
        registry.register(
            "follow_refused",
            "Rounds in which a followed validator served a certificate or block that did not verify",
            follow_refused.clone(),
        );
        registry.register(
            "finalized_tip",
            "Highest block the validator network has finalized (it may not be committed here yet)",
            finalized_tip.clone(),
        );
        registry.register(
            "poisoned_transactions",
            "Transactions dropped because their execution panicked or broke an invariant",
            poisoned.clone(),
        );
        registry.register(
            "rpc_heavy_refused",
            "Heavy JSON-RPC calls refused while the node was busy",
            rpc_refused.clone(),
        );
        registry.register("head_block", "Number of the head block", head.clone());
        registry.register("pool_transactions", "Pending transactions", pool.clone());
        registry.register("blocks", "Blocks produced", blocks.clone());
        registry.register(
            "transactions",
            "Transactions included in blocks",
            txs.clone(),
        );
        registry.register(
            "block_build_seconds",
            "Time to build and commit a block",
            block_seconds.clone(),
        );
        registry.register(
            "rpc_requests",
            "JSON-RPC requests by method and outcome",
            rpc.clone(),
        );
        registry.register(
            "rpc_request_seconds",
            "JSON-RPC request latency",
            rpc_seconds.clone(),
        );
        Self {
            registry,
            head,
            pool,
            blocks,
            txs,
            block_seconds,
            rpc_refused,
            poisoned,
            finalized_tip,
            follow_refused,
            rpc,
            rpc_seconds,
        }
    }
}

impl Metrics {
    /// Records one JSON-RPC request; `known` is whether the node serves `method` (unknown
    /// method names are folded into one label).
    pub fn observe_rpc(&self, method: &str, known: bool, ok: bool, took: Duration) {
        let method = if known {
            method.to_string()
        } else {
            "unknown".into()
        };
        self.rpc
            .get_or_create(&RpcLabels {
                method,
                outcome: if ok { "ok" } else { "error" },
            })
            .inc();
        self.rpc_seconds.observe(took.as_secs_f64());
    }

    /// The OpenMetrics text exposition.
    pub fn encode(&self) -> String {
        zg_node_kit::encode_registry(&self.registry)
    }
}
