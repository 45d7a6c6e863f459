//! The DA cluster harness: a chain, eight DA nodes (any of them Byzantine) and a
//! disperser on loopback ports, in this process.
#![allow(missing_docs)]

use std::time::Duration;

use zg_da_server::{
    AccessConfig, BlobRecord, ChainClient, ChainConfig, DisperserConfig, NetConfig, Network,
    NodeConfig, NodeKeys, RunningDisperser, RunningNode,
};

pub use crate::byzantine::Faults;
pub use crate::{TempDir, dev_signer, init_tracing, payload, percentile, write_bench_report};
use alloy::providers::Provider;
use alloy::transports::http::reqwest;
use alloy_primitives::U256;
use tokio_util::sync::CancellationToken;
use zg_chain::{Genesis, NodeConfig as ChainNodeConfig, RunningChain};

/// Blocks per epoch in tests: large enough that no test crosses an epoch by accident.
pub const EPOCH_BLOCKS: u64 = 200;

/// A change to the test chain's genesis.
pub type GenesisTweak = std::sync::Arc<dyn Fn(&mut Genesis) + Send + Sync>;

/// A genesis tweak funding `accounts` with 10 000 ether each (for tests whose extra
/// actors need accounts of their own: the cluster's nodes, disperser and deployer use
/// dev accounts 0 … 9).
pub fn fund(accounts: Vec<alloy_primitives::Address>) -> GenesisTweak {
    std::sync::Arc::new(move |g: &mut Genesis| {
        for a in &accounts {
            g.alloc
                .insert(*a, alloy_primitives::U256::from(10u128.pow(22)));
        }
    })
}

/// What a cluster looks like.
#[derive(Clone, Default)]
pub struct ClusterOptions {
    /// Faults per node index.
    pub faults: Vec<(usize, Faults)>,
    /// Disperser tweaks.
    pub access: Option<AccessConfig>,
    pub max_payload: Option<usize>,
    /// Leave the chain in epoch 0 (no quorum yet).
    pub stay_in_epoch_zero: bool,
    /// Nodes the test runs itself (as child processes); not started here.
    pub external_nodes: Vec<usize>,
    /// Block time of the chain (default: a block per transaction batch, no timer).
    pub block_time: Option<Duration>,
    /// Quorum size and threshold (default 8 and 6: one quorum of all nodes).
    pub quorum: Option<(u64, u64)>,
    /// Nodes take part in the sampling lottery (off by default: with a block per
    /// transaction, lottery submissions would move the chain on by themselves).
    pub lottery: bool,
    /// Changes to the chain's genesis.
    pub genesis: Option<GenesisTweak>,
    /// Anchor through the Solidity module contracts (deployed on the chain at start)
    /// instead of the bundled precompiles.
    pub contracts: bool,
    /// Run the chain as a one-validator network (BFT finality, certificates) instead of
    /// the dev producer; blocks come every `block_time` (default 50 ms) and epoch one is
    /// reached by waiting, not by `anvil_mine`.
    pub validator: bool,
}

pub struct Cluster {
    pub chain: RunningChain,
    /// Where the DA modules live (the precompiles, or the deployed contracts).
    pub modules: zg_da_client::ModuleAddresses,
    _chain_dir: TempDir,
    pub nodes: Vec<Option<RunningNode>>,
    pub node_dirs: Vec<TempDir>,
    pub node_keys: Vec<NodeKeys>,
    pub node_faults: Vec<Faults>,
    pub disperser: Option<RunningDisperser>,
    pub disperser_dir: TempDir,
    pub options: ClusterOptions,
    pub http: reqwest::Client,
}

pub const NODES: usize = 8;
/// Dev account of the disperser.
pub const DISPERSER_ACCOUNT: u32 = 9;

impl Cluster {
    pub async fn start(options: ClusterOptions) -> Self {
        init_tracing();
        let chain_dir = TempDir::new("chain");
        let mut genesis = Genesis::default();
        genesis.da.epoch_blocks = EPOCH_BLOCKS;
        if let Some((size, threshold)) = options.quorum {
            genesis.da.quorum_size = size;
            genesis.da.quorum_threshold = threshold;
        }
        if let Some(tweak) = &options.genesis {
            tweak(&mut genesis);
        }
        let validator = if options.validator {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let (set, mut keys) =
                zg_chain::consensus::deal_validators(&[format!("127.0.0.1:{port}")]).unwrap();
            genesis.consensus = Some(set);
            Some(zg_chain::config::ValidatorSettings {
                key: keys.remove(0),
                listen: None,
                peers: Vec::new(),
                timeouts: zg_chain::consensus::Timeouts::default(),
                proposal_layer: None,
            })
        } else {
            None
        };
        let da = genesis.da.clone();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let config = ChainNodeConfig {
            genesis,
            block_time: options.block_time.unwrap_or(if options.validator {
                Duration::from_millis(50)
            } else {
                Duration::ZERO
            }),
            dev: !options.validator,
            validator,
            ..ChainNodeConfig::default()
        };
        let chain = zg_chain::start(&chain_dir.0, config, listener, CancellationToken::new())
            .await
            .unwrap();
        let mut modules = ChainConfig::new(chain.rpc_url()).modules;
        if options.contracts {
            let deployer = alloy::providers::ProviderBuilder::new()
                .wallet(alloy::network::EthereumWallet::from(dev_signer(0)))
                .connect_http(chain.rpc_url().parse().unwrap())
                .erased();
            let m = zg_chain::contracts::deploy(&deployer, &da, Duration::from_secs(60))
                .await
                .unwrap();
            modules = zg_da_client::ModuleAddresses {
                signers: m.signers,
                entrance: m.entrance,
                sampling: m.sampling,
            };
        }
        let node_keys: Vec<NodeKeys> = (0..NODES as u32)
            .map(|i| NodeKeys::from_eth_key(dev_signer(i + 1), b"zg-da-test"))
            .collect();
        let mut node_faults = vec![Faults::default(); NODES];
        for (i, f) in &options.faults {
            node_faults[*i] = f.clone();
        }
        let mut cluster = Self {
            chain,
            modules,
            _chain_dir: chain_dir,
            nodes: (0..NODES).map(|_| None).collect(),
            node_dirs: (0..NODES)
                .map(|i| TempDir::new(&format!("node{i}")))
                .collect(),
            node_keys,
            node_faults,
            disperser: None,
            disperser_dir: TempDir::new("disperser"),
            options: options.clone(),
            http: reqwest::Client::new(),
        };
        let own: Vec<usize> = (0..NODES)
            .filter(|i| !options.external_nodes.contains(i))
            .collect();
        let starts = own
            .iter()
            .map(|&i| (cluster.node_config(i), cluster.node_layer(i)));
        let started = futures::future::join_all(starts.map(|(c, layer)| async move {
            let http = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            zg_da_server::node::start_with(c, http, CancellationToken::new(), layer)
                .await
                .unwrap()
        }))
        .await;
        for (i, n) in own.into_iter().zip(started) {
            cluster.nodes[i] = Some(n);
        }
        // The disperser's deposit.
        let payer =
            ChainClient::connect(cluster.chain_config(), Some(dev_signer(DISPERSER_ACCOUNT)))
                .await
                .unwrap();
        payer
            .deposit(U256::from(10u128 * 10u128.pow(18)))
            .await
            .unwrap();
        if !options.stay_in_epoch_zero {
            cluster.enter_epoch_one().await;
        }
        cluster.start_disperser().await;
        cluster
    }

    /// Mines to the first block of epoch 1, whose quorum is the eight nodes.
    pub async fn enter_epoch_one(&self) {
        let client = self.chain_client().await;
        for i in 0..NODES {
            let a = self.node_keys[i].address();
            assert!(
                client.registered_for_epoch(a, 1).await.unwrap(),
                "node {i} registered for epoch 1"
            );
        }
        let head = client.provider().get_block_number().await.unwrap();
        let n = EPOCH_BLOCKS.saturating_sub(head);
        if self.options.validator {
            // Validators agree every block: wait for them.
            while client.provider().get_block_number().await.unwrap() < EPOCH_BLOCKS {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        } else {
            let _: serde_json::Value = client
                .provider()
                .raw_request("anvil_mine".into(), (U256::from(n),))
                .await
                .unwrap();
        }
        assert_eq!(client.epoch().await.unwrap(), 1);
        assert!(client.quorum_count(1).await.unwrap() >= 1);
    }

    /// The chain's endpoint and module addresses, as every component gets them.
    pub fn chain_config(&self) -> ChainConfig {
        let mut c = ChainConfig::new(self.chain.rpc_url());
        c.modules = self.modules;
        c
    }

    pub async fn chain_client(&self) -> ChainClient {
        ChainClient::connect(self.chain_config(), None)
            .await
            .unwrap()
    }

    pub fn node_config(&self, i: usize) -> NodeConfig {
        node_config(
            self.node_dirs[i].0.clone(),
            self.node_keys[i].clone(),
            self.chain_config(),
            i,
            self.options.lottery,
        )
    }

    /// The misbehaviour of node `i`, as a layer over its handler (none if honest).
    pub fn node_layer(&self, i: usize) -> Option<zg_da_server::node::HandlerLayer> {
        self.node_faults[i].layer(&self.node_keys[i])
    }

    pub async fn start_node(&mut self, i: usize) {
        assert!(self.nodes[i].is_none());
        let http = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let node = zg_da_server::node::start_with(
            self.node_config(i),
            http,
            CancellationToken::new(),
            self.node_layer(i),
        )
        .await
        .unwrap();
        self.nodes[i] = Some(node);
    }

    pub async fn stop_node(&mut self, i: usize) {
        let n = self.nodes[i].take().expect("node running");
        n.shutdown().await.unwrap();
    }

    pub fn disperser_config(&self) -> DisperserConfig {
        let mut c = disperser_config(self.disperser_dir.0.clone(), self.chain_config());
        if let Some(a) = &self.options.access {
            c.access = a.clone();
        }
        if let Some(m) = self.options.max_payload {
            c.max_payload = m;
        }
        c
    }

    pub async fn start_disperser(&mut self) {
        assert!(self.disperser.is_none());
        let http = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let d =
            zg_da_server::disperser::start(self.disperser_config(), http, CancellationToken::new())
                .await
                .unwrap();
        self.disperser = Some(d);
    }

    pub async fn stop_disperser(&mut self) {
        self.disperser.take().unwrap().shutdown().await.unwrap();
    }

    pub fn api(&self, path: &str) -> String {
        format!(
            "http://{}{path}",
            self.disperser
                .as_ref()
                .expect("disperser running")
                .http_addr
        )
    }

    /// `POST /v1/blobs?wait=true`; status and body.
    pub async fn put(&self, payload: Vec<u8>) -> (u16, serde_json::Value) {
        let resp = self
            .http
            .post(self.api("/v1/blobs?wait=true"))
            .body(payload)
            .timeout(Duration::from_secs(180))
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap())
    }

    /// A confirmed put's record.
    pub async fn put_ok(&self, payload: Vec<u8>) -> BlobRecord {
        let (status, body) = self.put(payload).await;
        assert_eq!(status, 200, "{body}");
        serde_json::from_value(body).unwrap()
    }

    /// `GET /v1/blobs/{root}/data`: status, headers, body.
    pub async fn get_data(
        &self,
        root: &alloy_primitives::B256,
    ) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
        let resp = self
            .http
            .get(self.api(&format!("/v1/blobs/{root}/data")))
            .timeout(Duration::from_secs(120))
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        (status, headers, resp.bytes().await.unwrap().to_vec())
    }

    pub fn node(&self, i: usize) -> &RunningNode {
        self.nodes[i].as_ref().expect("node running")
    }

    pub async fn shutdown(mut self) {
        if let Some(d) = self.disperser.take() {
            d.shutdown().await.unwrap();
        }
        for n in self.nodes.iter_mut() {
            if let Some(n) = n.take() {
                n.shutdown().await.unwrap();
            }
        }
        self.chain.shutdown().await.unwrap();
    }
}

/// Settings of test DA node `i` (dev account `i + 1`): loopback libp2p (odd nodes QUIC,
/// even ones TCP), fast registration polling.
pub fn node_config(
    dir: std::path::PathBuf,
    keys: NodeKeys,
    chain: ChainConfig,
    i: usize,
    lottery: bool,
) -> NodeConfig {
    let mut c = NodeConfig::new(dir, keys, chain);
    let listen = if i % 2 == 1 {
        "/ip4/127.0.0.1/udp/0/quic-v1"
    } else {
        "/ip4/127.0.0.1/tcp/0"
    };
    c.net = NetConfig {
        listen: vec![listen.parse().unwrap()],
        request_timeout: Duration::from_secs(20),
        ..NetConfig::default()
    };
    c.registration_interval = Duration::from_millis(500);
    c.sample_lottery = lottery;
    c.lottery_interval = Duration::from_millis(200);
    c
}

/// Settings of the test disperser (dev account [`DISPERSER_ACCOUNT`]).
pub fn disperser_config(dir: std::path::PathBuf, chain: ChainConfig) -> DisperserConfig {
    let mut c = DisperserConfig::new(dir, dev_signer(DISPERSER_ACCOUNT), chain);
    c.net.request_timeout = Duration::from_secs(20);
    c.store_attempts = 2;
    c.wait_timeout = Duration::from_secs(120);
    c
}

/// A libp2p client (fresh identity, default settings, serving nothing) for asking DA
/// nodes directly; keep the task handle alive while it is used.
pub async fn client_network() -> (Network, tokio::task::JoinHandle<()>) {
    Network::start(
        libp2p::identity::Keypair::generate_ed25519(),
        NetConfig::default(),
        None,
        CancellationToken::new(),
    )
    .await
    .expect("a libp2p client starts")
}

/// Every log of `event` emitted by `address` since genesis.
pub async fn logs_of(
    provider: &impl Provider,
    address: alloy_primitives::Address,
    event: alloy_primitives::B256,
) -> Vec<alloy::rpc::types::Log> {
    provider
        .get_logs(
            &alloy::rpc::types::Filter::new()
                .address(address)
                .event_signature(event)
                .from_block(0),
        )
        .await
        .expect("eth_getLogs")
}

impl Cluster {
    /// Quorum `quorum_id` of `epoch`, as the chain has it.
    pub async fn quorum(&self, epoch: u64, quorum_id: u64) -> std::sync::Arc<zg_da_client::Quorum> {
        self.chain_client()
            .await
            .quorum(epoch, quorum_id)
            .await
            .expect("quorum lookup")
            .expect("the quorum exists")
    }
}
