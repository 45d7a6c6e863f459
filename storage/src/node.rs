//! A running storage node: store, chain follower and JSON-RPC server.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use alloy::providers::{Provider, ProviderBuilder};
use alloy_primitives::Address;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use zg_node_kit::{Supervisor, TaskFailure};
use zg_primitives::abi::FLOW_ADDRESS;

use crate::api::{ApiLimits, StorageApi};
use crate::cluster::{Cluster, ClusterConfig};
use crate::error::StoreError;
use crate::metrics::Metrics;
use crate::store::Store;
use crate::sync::{SyncConfig, SyncState, follow};

/// Storage node settings. Defaults live here.
#[derive(Clone, Debug)]
pub struct NodeConfig {
    /// Chain JSON-RPC endpoint.
    pub chain_rpc: String,
    /// The flow contract (the bundled chain's module by default).
    pub flow: Address,
    /// Pause between chain polls when caught up.
    pub poll_interval: Duration,
    /// Which blocks count as final (only those are followed).
    pub finality: zg_node_kit::FinalityRule,
    /// Most blocks per `eth_getLogs`.
    pub max_logs_range: u64,
    /// Largest JSON-RPC request body.
    pub max_request_bytes: usize,
    /// API limits.
    pub limits: ApiLimits,
    /// Erasure-coded cluster membership (none: this node keeps whole segments).
    pub cluster: Option<ClusterConfig>,
    /// KV streams to replay (empty: no KV layer).
    pub kv_streams: Vec<alloy_primitives::B256>,
    /// The HTTP server's limits (hosts, concurrency, time per request).
    pub http: zg_node_kit::HttpLimits,
}

impl Default for NodeConfig {
    fn default() -> Self {
        Self {
            chain_rpc: "http://127.0.0.1:8545".into(),
            flow: FLOW_ADDRESS,
            poll_interval: Duration::from_millis(500),
            finality: zg_node_kit::FinalityRule::Finalized,
            max_logs_range: 5_000,
            // 64 segments of 256 KiB in base64, plus JSON.
            max_request_bytes: 24 * 1024 * 1024,
            limits: ApiLimits::default(),
            cluster: None,
            kv_streams: Vec::new(),
            http: zg_node_kit::HttpLimits::default(),
        }
    }
}

/// Why the node could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The store did not open.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A setting is unusable.
    #[error("config: {0}")]
    Config(String),
}

/// A running storage node.
#[derive(Debug)]
pub struct StorageNode {
    /// Where JSON-RPC listens.
    pub rpc_addr: SocketAddr,
    store: Store,
    tasks: Supervisor,
}

impl StorageNode {
    /// `http://addr` of the JSON-RPC server.
    pub fn rpc_url(&self) -> String {
        format!("http://{}", self.rpc_addr)
    }

    /// Resolves when a task (the follower, the server, replay or repair) failed; the
    /// node then stops itself.
    pub fn failed(&self) -> impl std::future::Future<Output = TaskFailure> + Send + 'static {
        self.tasks.failed()
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Resolves when the node is cancelled (or stopped by a store failure).
    pub async fn cancelled(&self) {
        self.tasks.token().cancelled().await
    }

    /// Stops in order: the RPC server, the follower, then the store is flushed.
    pub async fn shutdown(self) -> Result<(), StoreError> {
        self.tasks.shutdown().await;
        self.store.flush()
    }
}

/// Opens the store at `datadir`, follows the chain and serves JSON-RPC on `listener`
/// until `cancel`.
pub async fn start(
    datadir: &Path,
    config: NodeConfig,
    listener: TcpListener,
    cancel: CancellationToken,
) -> Result<StorageNode, StartError> {
    let url = config
        .chain_rpc
        .parse()
        .map_err(|e| StartError::Config(format!("chain rpc {}: {e}", config.chain_rpc)))?;
    std::fs::create_dir_all(datadir)
        .map_err(|e| StartError::Config(format!("datadir {}: {e}", datadir.display())))?;
    let store = Store::open(&datadir.join("db"))?;
    let rpc_addr = listener
        .local_addr()
        .map_err(|e| StartError::Config(e.to_string()))?;
    let provider = ProviderBuilder::default().connect_http(url).erased();
    let metrics = Arc::new(Metrics::new());
    let state = Arc::new(SyncState::default());
    let mut tasks = Supervisor::new(cancel.clone());
    let follower = follow(
        store.clone(),
        provider,
        SyncConfig {
            flow: config.flow,
            poll_interval: config.poll_interval,
            max_range: config.max_logs_range,
            finality: config.finality,
        },
        state.clone(),
        metrics.clone(),
        cancel.child_token(),
    );
    let cluster = config
        .cluster
        .clone()
        .map(Cluster::new)
        .transpose()
        .map_err(StartError::Config)?;
    let kv = if config.kv_streams.is_empty() {
        None
    } else {
        let st = crate::kv::KvState::open(&datadir.join("kv"))?;
        Some(Arc::new(crate::kv::Kv::new(
            st,
            config.kv_streams.iter().copied(),
        )))
    };
    let api = Arc::new(StorageApi::new(
        store.clone(),
        config.flow,
        state,
        metrics,
        config.limits.clone(),
        cluster,
        kv.clone(),
    ));
    let rpc_limits = zg_node_kit::jsonrpc::RpcLimits {
        call_timeout: Duration::from_secs(60),
        ..zg_node_kit::jsonrpc::RpcLimits::new(config.max_request_bytes)
    };
    let app = zg_node_kit::jsonrpc::router(api.clone(), &rpc_limits).merge(
        crate::api::binary_router(api.clone(), config.max_request_bytes),
    );
    tasks.spawn_http("storage rpc", listener, app, config.http.clone());
    if let Some(kv) = kv {
        tasks.spawn_fallible(
            "storage kv replay",
            crate::replay::replay_loop(api.clone(), kv, config.poll_interval, cancel.child_token()),
        );
    }
    if let Some(c) = config.cluster.as_ref() {
        tasks.spawn_fallible(
            "storage repair",
            repair_loop(api.clone(), c.repair_interval, cancel.child_token()),
        );
    }
    tasks.spawn_fallible("storage follower", follower);
    tracing::info!(target: "zg_storage", %rpc_addr, flow = %config.flow, chain = %config.chain_rpc, "storage node started");
    Ok(StorageNode {
        rpc_addr,
        store,
        tasks,
    })
}

/// Repairs this member's missing shards from the cluster every `interval`.
async fn repair_loop(
    api: Arc<StorageApi>,
    interval: Duration,
    cancel: CancellationToken,
) -> Result<(), StoreError> {
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return Ok(()),
            _ = tokio::time::sleep(interval) => {}
        }
        match api.repair_pass(256).await {
            Ok(_) => {}
            Err(crate::error::NodeError::Store(e)) => {
                tracing::error!(target: "zg_storage::cluster", error = %e, "store failed; stopping");
                return Err(e);
            }
            Err(e) => {
                tracing::warn!(target: "zg_storage::cluster", error = %e, "repair pass failed")
            }
        }
    }
}
