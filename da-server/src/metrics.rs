//! Prometheus metrics of both roles, rendered at `/metrics`.

use std::sync::Arc;

use axum::response::Response;
use parking_lot::Mutex;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

pub use zg_node_kit::metrics::{Labels, render_registry, result};

/// Metrics of a DA node.
#[derive(Debug)]
pub struct NodeMetrics {
    registry: Mutex<Registry>,
    /// Store requests by result (`signed`, `repeat`, or the refusal kind).
    pub store_requests: Family<Labels, Counter>,
    /// Sample requests by result.
    pub sample_requests: Family<Labels, Counter>,
    /// Header requests by result.
    pub header_requests: Family<Labels, Counter>,
    /// Seconds from receiving a store request to signing it.
    pub store_seconds: Histogram,
    /// Bytes of cells and proofs persisted.
    pub stored_bytes: Counter,
    /// Payloads removed by retention.
    pub pruned: Counter,
    /// Registration transactions sent, by kind.
    pub registrations: Family<Labels, Counter>,
    /// Payloads held.
    pub payloads: Gauge,
    /// Sampling-round wins submitted on chain, by result (`accepted`, or the refusal).
    pub sample_wins: Family<Labels, Counter>,
    /// Last sampling round this node scanned its store for.
    pub sample_round: Gauge,
    /// The signer's bonded stake, in gwei.
    pub stake_gwei: Gauge<f64, std::sync::atomic::AtomicU64>,
    /// Rewards earned and not yet claimed (fee shares and lottery wins), in gwei.
    pub rewards_gwei: Gauge<f64, std::sync::atomic::AtomicU64>,
    /// The last epoch the signer may not register for after an ejection (0: never).
    pub ejected_until_epoch: Gauge,
    /// Wins of its quorums' other custodians on payloads it signed since its own last
    /// win (the sampling module's ejection counter).
    pub drought: Gauge,
}

impl NodeMetrics {
    /// Registers every metric under `zg_da_node_`.
    pub fn new() -> Arc<Self> {
        let m = Self {
            registry: Mutex::new(Registry::with_prefix("zg_da_node")),
            store_requests: Family::default(),
            sample_requests: Family::default(),
            header_requests: Family::default(),
            store_seconds: Histogram::new(exponential_buckets(0.005, 2.0, 14)),
            stored_bytes: Counter::default(),
            pruned: Counter::default(),
            registrations: Family::default(),
            payloads: Gauge::default(),
            sample_wins: Family::default(),
            sample_round: Gauge::default(),
            stake_gwei: Gauge::default(),
            rewards_gwei: Gauge::default(),
            ejected_until_epoch: Gauge::default(),
            drought: Gauge::default(),
        };
        {
            let mut r = m.registry.lock();
            r.register(
                "store_requests",
                "Store requests by result",
                m.store_requests.clone(),
            );
            r.register(
                "sample_requests",
                "Sample requests by result",
                m.sample_requests.clone(),
            );
            r.register(
                "header_requests",
                "Header requests by result",
                m.header_requests.clone(),
            );
            r.register(
                "store_seconds",
                "Store request latency",
                m.store_seconds.clone(),
            );
            r.register(
                "stored_bytes",
                "Cell and proof bytes persisted",
                m.stored_bytes.clone(),
            );
            r.register(
                "pruned_payloads",
                "Payloads removed by retention",
                m.pruned.clone(),
            );
            r.register(
                "registrations",
                "Registration transactions sent",
                m.registrations.clone(),
            );
            r.register("payloads", "Payloads held", m.payloads.clone());
            r.register(
                "sample_wins",
                "Sampling-round wins submitted on chain, by result",
                m.sample_wins.clone(),
            );
            r.register(
                "sample_round",
                "Last sampling round scanned",
                m.sample_round.clone(),
            );
            r.register(
                "stake_gwei",
                "Bonded stake of the signer, in gwei",
                m.stake_gwei.clone(),
            );
            r.register(
                "rewards_gwei",
                "Rewards earned and not claimed, in gwei",
                m.rewards_gwei.clone(),
            );
            r.register(
                "ejected_until_epoch",
                "Last epoch the signer may not register for after an ejection (0: never)",
                m.ejected_until_epoch.clone(),
            );
            r.register(
                "drought",
                "Others' lottery wins on payloads this signer signed since its own last win",
                m.drought.clone(),
            );
        }
        Arc::new(m)
    }

    /// The text exposition.
    pub fn render(&self) -> Response {
        render_registry(&self.registry.lock())
    }
}

/// Metrics of a disperser.
#[derive(Debug)]
pub struct DisperserMetrics {
    registry: Mutex<Registry>,
    /// Blob requests accepted.
    pub requests: Counter,
    /// Requests finished, by result (`confirmed`, `failed`).
    pub finished: Family<Labels, Counter>,
    /// Seconds from acceptance to confirmation.
    pub put_seconds: Histogram,
    /// Seconds spent encoding.
    pub encode_seconds: Histogram,
    /// Seconds from sending the members their columns to an aggregate signature over
    /// the threshold (store and aggregate).
    pub certify_seconds: Histogram,
    /// Seconds from handing a certified submission to the anchorer to its transaction's
    /// receipt (inclusion; on a validator network, in a finalized block).
    pub anchor_seconds: Histogram,
    /// Signatures dropped or refusals, by member and reason.
    pub bad_signers: Family<Labels, Counter>,
    /// Anchoring transactions sent and the submissions they carried.
    pub anchor_txs: Counter,
    /// Submissions anchored (final by the chain's rule).
    pub anchored: Counter,
    /// Submissions anchored again after a reorg dropped their transaction.
    pub reanchored: Counter,
    /// Retrievals by result.
    pub retrievals: Family<Labels, Counter>,
    /// Misbehaving nodes reported by retrieval.
    pub reported_nodes: Family<Labels, Counter>,
    /// Requests refused by access control, by reason.
    pub access_denied: Family<Labels, Counter>,
    /// Requests in the pipeline.
    pub in_flight: Gauge,
}

impl DisperserMetrics {
    /// Registers every metric under `zg_da_disperser_`.
    pub fn new() -> Arc<Self> {
        let m = Self {
            registry: Mutex::new(Registry::with_prefix("zg_da_disperser")),
            requests: Counter::default(),
            finished: Family::default(),
            put_seconds: Histogram::new(exponential_buckets(0.01, 2.0, 14)),
            encode_seconds: Histogram::new(exponential_buckets(0.005, 2.0, 14)),
            certify_seconds: Histogram::new(exponential_buckets(0.005, 2.0, 14)),
            anchor_seconds: Histogram::new(exponential_buckets(0.005, 2.0, 14)),
            bad_signers: Family::default(),
            anchor_txs: Counter::default(),
            anchored: Counter::default(),
            reanchored: Counter::default(),
            retrievals: Family::default(),
            reported_nodes: Family::default(),
            access_denied: Family::default(),
            in_flight: Gauge::default(),
        };
        {
            let mut r = m.registry.lock();
            r.register("requests", "Blob requests accepted", m.requests.clone());
            r.register(
                "finished",
                "Requests finished by result",
                m.finished.clone(),
            );
            r.register(
                "put_seconds",
                "Acceptance to confirmation",
                m.put_seconds.clone(),
            );
            r.register("encode_seconds", "Encoding time", m.encode_seconds.clone());
            r.register(
                "certify_seconds",
                "Columns sent to the quorum until enough signatures are aggregated",
                m.certify_seconds.clone(),
            );
            r.register(
                "anchor_seconds",
                "A certified submission handed to the anchorer until its anchor is final",
                m.anchor_seconds.clone(),
            );
            r.register(
                "bad_signers",
                "Members whose answer was dropped",
                m.bad_signers.clone(),
            );
            r.register("anchor_txs", "Anchoring transactions", m.anchor_txs.clone());
            r.register(
                "anchored",
                "Submissions anchored (final)",
                m.anchored.clone(),
            );
            r.register(
                "reanchored",
                "Submissions anchored again after a reorg dropped their transaction",
                m.reanchored.clone(),
            );
            r.register("retrievals", "Retrievals by result", m.retrievals.clone());
            r.register(
                "reported_nodes",
                "Nodes reported by retrieval",
                m.reported_nodes.clone(),
            );
            r.register(
                "access_denied",
                "Requests refused by access control",
                m.access_denied.clone(),
            );
            r.register("in_flight", "Requests in the pipeline", m.in_flight.clone());
        }
        Arc::new(m)
    }

    /// The text exposition as a string.
    pub fn encode(&self) -> String {
        zg_node_kit::metrics::encode_registry(&self.registry.lock())
    }

    /// The text exposition.
    pub fn render(&self) -> Response {
        render_registry(&self.registry.lock())
    }
}
