//! The storage harness: a real chain and storage nodes on loopback ports.
#![allow(missing_docs)]

use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use zg_chain::{Genesis, RunningChain};

use zg_storage::{NodeClient, NodeConfig, StorageNode, Uploader};

pub use crate::{TempDir, dev_signer};

/// A chain (one block per transaction unless `block_time` is set) and storage nodes.
#[derive(Debug)]
pub struct Stack {
    pub chain: RunningChain,
    pub nodes: Vec<Option<StorageNode>>,
    pub node_dirs: Vec<TempDir>,
    pub node_addrs: Vec<std::net::SocketAddr>,
    /// Data shards when the nodes form an erasure-coded cluster.
    pub cluster_k: Option<usize>,
    /// KV streams the nodes replay.
    pub kv_streams: Vec<alloy_primitives::B256>,
    _chain_dir: TempDir,
}

/// The test cluster's token.
pub const CLUSTER_TOKEN: &str = "test-cluster-token";

/// Node settings for tests: fast polling.
pub fn test_node_config(chain_rpc: &str) -> NodeConfig {
    NodeConfig {
        chain_rpc: chain_rpc.to_string(),
        poll_interval: Duration::from_millis(20),
        ..NodeConfig::default()
    }
}

/// A storage node following the chain at `rpc` and replaying `kv_streams`, on a loopback
/// port, with its directory (removed when dropped).
pub async fn start_node(
    rpc: &str,
    kv_streams: Vec<alloy_primitives::B256>,
) -> (StorageNode, TempDir) {
    let dir = TempDir::new("storage-node");
    let mut config = test_node_config(rpc);
    config.kv_streams = kv_streams;
    let node = zg_storage::start(
        &dir.0,
        config,
        TcpListener::bind("127.0.0.1:0").await.unwrap(),
        CancellationToken::new(),
    )
    .await
    .unwrap();
    (node, dir)
}

impl Stack {
    /// A chain with `genesis` and `nodes` storage nodes.
    pub async fn start(nodes: usize, genesis: Genesis, block_time: Duration) -> Self {
        Self::start_with(nodes, None, Vec::new(), genesis, block_time).await
    }

    /// `nodes` storage nodes forming a `(k, nodes − k)` erasure-coded cluster.
    pub async fn cluster(nodes: usize, k: usize) -> Self {
        Self::start_with(
            nodes,
            Some(k),
            Vec::new(),
            Genesis::default(),
            Duration::ZERO,
        )
        .await
    }

    /// One storage node replaying KV `streams`.
    pub async fn kv(streams: Vec<alloy_primitives::B256>) -> Self {
        Self::start_with(1, None, streams, Genesis::default(), Duration::ZERO).await
    }

    async fn start_with(
        nodes: usize,
        cluster_k: Option<usize>,
        kv_streams: Vec<alloy_primitives::B256>,
        genesis: Genesis,
        block_time: Duration,
    ) -> Self {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
        let chain_dir = TempDir::new("chain");
        let config = zg_chain::NodeConfig {
            genesis,
            block_time,
            ..zg_chain::NodeConfig::default()
        };
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let chain = zg_chain::start(&chain_dir.0, config, listener, CancellationToken::new())
            .await
            .unwrap();
        let mut stack = Self {
            chain,
            nodes: Vec::new(),
            node_dirs: Vec::new(),
            node_addrs: Vec::new(),
            cluster_k,
            kv_streams,
            _chain_dir: chain_dir,
        };
        let mut listeners = Vec::new();
        for i in 0..nodes {
            stack.node_dirs.push(TempDir::new(&format!("node{i}")));
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            stack.node_addrs.push(listener.local_addr().unwrap());
            listeners.push(listener);
        }
        for (i, listener) in listeners.into_iter().enumerate() {
            let node = stack.start_node_on(i, listener).await;
            stack.nodes.push(Some(node));
        }
        stack
    }

    /// A chain with the default genesis, one block per transaction.
    pub async fn dev(nodes: usize) -> Self {
        Self::start(nodes, Genesis::default(), Duration::ZERO).await
    }

    async fn start_node_on(&self, i: usize, listener: TcpListener) -> StorageNode {
        let mut config = test_node_config(&self.chain.rpc_url());
        config.kv_streams = self.kv_streams.clone();
        config.cluster = self.cluster_k.map(|k| zg_storage::ClusterConfig {
            members: (0..self.node_addrs.len())
                .map(|j| self.node_url(j))
                .collect(),
            me: i,
            k,
            token: CLUSTER_TOKEN.into(),
            repair_interval: Duration::from_millis(200),
        });
        zg_storage::start(
            &self.node_dirs[i].0,
            config,
            listener,
            CancellationToken::new(),
        )
        .await
        .unwrap()
    }

    /// Stops node `i` (its data stays).
    pub async fn stop_node(&mut self, i: usize) {
        if let Some(n) = self.nodes[i].take() {
            n.shutdown().await.unwrap();
        }
    }

    /// Restarts node `i` on its address and data.
    pub async fn restart_node(&mut self, i: usize) {
        self.stop_node(i).await;
        let listener = TcpListener::bind(self.node_addrs[i]).await.unwrap();
        self.nodes[i] = Some(self.start_node_on(i, listener).await);
    }

    /// Restarts node `i` on its address with an empty data directory.
    pub async fn wipe_node(&mut self, i: usize) {
        self.stop_node(i).await;
        let _ = std::fs::remove_dir_all(&self.node_dirs[i].0);
        std::fs::create_dir_all(&self.node_dirs[i].0).unwrap();
        let listener = TcpListener::bind(self.node_addrs[i]).await.unwrap();
        self.nodes[i] = Some(self.start_node_on(i, listener).await);
    }

    /// Node `i`'s URL.
    pub fn node_url(&self, i: usize) -> String {
        format!("http://{}", self.node_addrs[i])
    }

    /// A client of node `i`.
    pub fn client(&self, i: usize) -> NodeClient {
        NodeClient::new(&self.node_url(i)).unwrap()
    }

    /// An uploader to every node, paying from dev account `account`.
    pub fn uploader(&self, account: u32) -> Uploader {
        let nodes = (0..self.node_addrs.len()).map(|i| self.client(i)).collect();
        Uploader::new(
            nodes,
            &self.chain.rpc_url(),
            dev_signer(account),
            zg_primitives::abi::FLOW_ADDRESS,
        )
        .unwrap()
    }
}
