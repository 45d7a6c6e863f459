#![doc = include_str!("../README.md")]

pub mod config;
pub mod contracts;
pub mod error;
pub mod executor;
pub mod mempool;
pub mod metrics;
pub mod modules;
pub mod node;
pub mod rpc;
pub mod store;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

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
    cancel: CancellationToken,
    miner: JoinHandle<()>,
    server: JoinHandle<std::io::Result<()>>,
}

impl RunningChain {
    /// `http://addr` of the JSON-RPC server.
    pub fn rpc_url(&self) -> String {
        format!("http://{}", self.rpc_addr)
    }

    /// Stops in order: the RPC server (no new requests), then block production, then the
    /// store is flushed.
    pub async fn shutdown(self) -> Result<(), ChainError> {
        self.cancel.cancel();
        let _ = self.server.await;
        let _ = self.miner.await;
        self.node.shutdown()
    }

    /// Resolves when the node stops by itself (a fatal error) or is cancelled.
    pub async fn cancelled(&self) {
        self.cancel.cancelled().await
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
    let max_body = config.max_request_bytes;
    let node = Node::open(datadir, config)?;
    let rpc_addr = listener
        .local_addr()
        .map_err(|e| ChainError::Config(e.to_string()))?;
    let api = Arc::new(EthApi::new(node.clone()));
    let miner = tokio::spawn(node.clone().run_miner(cancel.child_token()));
    let server_cancel = cancel.clone();
    let server = tokio::spawn(rpc::serve(listener, api, max_body, async move {
        server_cancel.cancelled().await
    }));
    tracing::info!(target: "zg_chain", %rpc_addr, chain_id = node.chain_id(), head = node.head().header.number, "chain node started");
    Ok(RunningChain {
        node,
        rpc_addr,
        cancel,
        miner,
        server,
    })
}
