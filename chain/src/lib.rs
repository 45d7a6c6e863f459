#![doc = include_str!("../README.md")]

pub mod config;
pub mod consensus;
pub mod contracts;
pub mod error;
pub mod executor;
pub mod mempool;
pub mod metrics;
pub mod modules;
pub mod node;
pub mod rpc;
pub mod state;
pub mod store;
pub mod trie;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use zg_node_kit::{Supervisor, TaskFailure};

pub use config::{
    ComputeParams, DEV_ACCOUNT_0, DEV_MNEMONIC, DaParams, Genesis, NodeConfig, StorageParams,
    dev_account, dev_accounts,
};
pub use error::ChainError;
pub use node::Node;
pub use rpc::{EthApi, RpcError};

/// A running chain: node, block producer and JSON-RPC server.
#[derive(Debug)]
pub struct RunningChain {
    /// The node handle.
    pub node: Node,
    /// Where JSON-RPC listens.
    pub rpc_addr: SocketAddr,
    tasks: Supervisor,
}

impl RunningChain {
    /// `http://addr` of the JSON-RPC server.
    pub fn rpc_url(&self) -> String {
        format!("http://{}", self.rpc_addr)
    }

    /// Stops in order: the RPC server (no new requests), then block production, then the
    /// store is flushed.
    pub async fn shutdown(self) -> Result<(), ChainError> {
        self.tasks.shutdown().await;
        self.node.shutdown()
    }

    /// Resolves when the node stops by itself (a fatal error) or is cancelled.
    pub async fn cancelled(&self) {
        self.tasks.token().cancelled().await
    }

    /// Resolves when a task (block production, the RPC server) failed; the node then
    /// stops itself.
    pub fn failed(&self) -> impl std::future::Future<Output = TaskFailure> + Send + 'static {
        self.tasks.failed()
    }
}

/// Opens the node at `datadir` and starts block production and JSON-RPC on `listener`.
/// Everything stops when `cancel` is cancelled (or [`RunningChain::shutdown`]).
pub async fn start(
    datadir: &Path,
    config: NodeConfig,
    listener: TcpListener,
    cancel: CancellationToken,
) -> Result<RunningChain, ChainError> {
    let limits = config.rpc.server.clone();
    let ws = config.rpc.ws.clone();
    let rpc_addr = listener
        .local_addr()
        .map_err(|e| ChainError::Config(e.to_string()))?;
    if config.dev && !rpc_addr.ip().is_loopback() {
        return Err(ChainError::Config(format!(
            "the development methods (--dev) are served on loopback only, not on {rpc_addr}"
        )));
    }
    if config.dev && config.genesis.consensus.is_some() {
        return Err(ChainError::Config(
            "the development methods (--dev) bend a single producer's chain; a validator network has none".into(),
        ));
    }
    let node = Node::open(datadir, config)?;
    let api = Arc::new(EthApi::new(node.clone()));
    let mut tasks = Supervisor::new(cancel.clone());
    let server_cancel = cancel.child_token();
    tasks.spawn_fallible(
        "chain rpc",
        rpc::serve(listener, api, limits, ws, async move {
            server_cancel.cancelled().await
        }),
    );
    match node.genesis().consensus.clone() {
        None => tasks.spawn_fallible(
            "chain block production",
            node.clone().run_miner(cancel.child_token()),
        ),
        Some(genesis) => {
            let set = genesis
                .decode()
                .map_err(|e| ChainError::Config(e.to_string()))?;
            let Some(v) = node.config().validator.clone() else {
                if node.config().follow.is_empty() {
                    return Err(ChainError::Config(
                        "genesis names a validator set: give this node its validator key (--consensus.key), or validators to follow as a full node (--consensus.follow URL)".into(),
                    ));
                }
                let verifier =
                    zg_finality::FinalityVerifier::from_genesis(node.chain_id(), &genesis)
                        .map_err(|e| ChainError::Config(e.to_string()))?;
                tasks.spawn_fallible(
                    "chain follower",
                    consensus::follow(
                        node.clone(),
                        verifier,
                        consensus::FollowConfig {
                            upstreams: node.config().follow.clone(),
                            poll: node
                                .config()
                                .block_time
                                .max(std::time::Duration::from_millis(100)),
                        },
                        cancel.child_token(),
                    ),
                );
                tracing::info!(target: "zg_chain", %rpc_addr, chain_id = node.chain_id(), head = node.head().header.number, "full node started");
                return Ok(RunningChain {
                    node,
                    rpc_addr,
                    tasks,
                });
            };
            let mut peers = Vec::with_capacity(set.addresses.len());
            for (identity, address) in &set.addresses {
                let hex_id = zg_finality::identity_hex(identity);
                let address = v
                    .peers
                    .iter()
                    .find(|(id, _)| id.trim_start_matches("0x") == hex_id)
                    .map_or(address.as_str(), |(_, a)| a.as_str());
                peers.push((identity.clone(), consensus::resolve(address)?));
            }
            for (id, _) in &v.peers {
                if !set
                    .addresses
                    .iter()
                    .any(|(k, _)| zg_finality::identity_hex(k) == id.trim_start_matches("0x"))
                {
                    return Err(ChainError::Config(format!(
                        "--consensus.peer: {id} is not a validator"
                    )));
                }
            }
            let me = v.key.public();
            let listen = match v.listen {
                Some(a) => a,
                None => peers
                    .iter()
                    .find(|(k, _)| *k == me)
                    .map(|(_, a)| *a)
                    .ok_or_else(|| {
                        ChainError::Config(format!(
                            "the validator key {me} is not in the genesis validator set"
                        ))
                    })?,
            };
            let handle = consensus::start(
                node.clone(),
                consensus::ValidatorConfig {
                    key: v.key,
                    set,
                    peers,
                    listen,
                    dir: datadir.join("consensus"),
                    block_time: node.config().block_time,
                    timeouts: v.timeouts,
                    proposal_layer: v.proposal_layer,
                },
            )?;
            tasks.spawn_fallible("chain consensus", handle.run_until(cancel.child_token()));
        }
    }
    tracing::info!(target: "zg_chain", %rpc_addr, chain_id = node.chain_id(), head = node.head().header.number, "chain node started");
    Ok(RunningChain {
        node,
        rpc_addr,
        tasks,
    })
}
