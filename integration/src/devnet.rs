//! The devnet: chain, DA nodes, disperser and op-plugin in one process.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use alloy::providers::Provider;
use alloy::signers::local::PrivateKeySigner;
use alloy_primitives::U256;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use zg_archiver::{ArchiverConfig, RunningArchiver};
use zg_chain::{Genesis, NodeConfig as ChainNodeConfig, RunningChain};
use zg_da_server::{
    ChainClient, ChainConfig, DisperserConfig, ModuleAddresses, NetConfig, NodeConfig, NodeKeys,
    RunningDisperser, RunningNode,
};
use zg_op_plugin::{PluginConfig, RunningPlugin, UpstreamConfig};
use zg_sampler::{ClientConfig, RunningSampler, SamplerConfig};

/// How long the devnet waits for a setup transaction's receipt.
const RECEIPT_TIMEOUT: Duration = Duration::from_secs(60);
/// Dev account (index in the dev mnemonic) of the disperser.
pub const DISPERSER_ACCOUNT: u32 = 9;
/// Dev account of the compute provider (its broker registers the devnet's service).
pub const COMPUTE_PROVIDER_ACCOUNT: u32 = 7;
/// Dev account of the compute modules' owner (acknowledges TEE signers; the genesis
/// default).
pub const COMPUTE_OWNER_ACCOUNT: u32 = 0;
/// Dev account of the archiver (pays the flow for archived payloads).
pub const ARCHIVER_ACCOUNT: u32 = 5;
/// Dev account of DA node 0; node `i` uses `FIRST_NODE_ACCOUNT + i`.
pub const FIRST_NODE_ACCOUNT: u32 = 10;
/// Deposit the disperser keeps in the DA entrance module (wei).
const DEPOSIT: u128 = 100 * 10u128.pow(18);
/// The KV stream the devnet's storage node replays: `keccak256("zg-devnet/kv")`.
pub fn kv_stream() -> alloy_primitives::B256 {
    zg_primitives::keccak256(b"zg-devnet/kv")
}
/// Seed mixed into node keys (BLS and libp2p keys derive from it and the account).
const KEY_SEED: &[u8] = b"zg-devnet";

/// What to start.
#[derive(Clone, Debug)]
pub struct DevnetConfig {
    /// Where every component keeps its state (`chain/`, `node-<i>/`, `disperser/`,
    /// `op-plugin/`).
    pub datadir: PathBuf,
    /// DA nodes (the quorum size).
    pub nodes: usize,
    /// Signatures needed to anchor (default: recovery from any quorum subset that signed
    /// plus two Byzantine members, capped at `nodes`).
    pub threshold: Option<usize>,
    /// Chain block time.
    pub block_time: Duration,
    /// Blocks per epoch.
    pub epoch_blocks: u64,
    /// Anchor through the Solidity module contracts (deployed on the chain at first
    /// start) instead of the bundled precompiles.
    pub contracts: bool,
    /// Chain JSON-RPC listen address.
    pub chain_addr: SocketAddr,
    /// Disperser API listen address.
    pub disperser_addr: SocketAddr,
    /// op-plugin listen address.
    pub plugin_addr: SocketAddr,
    /// Light-client (sampler) API listen address.
    pub sampler_addr: SocketAddr,
    /// Storage node JSON-RPC listen address (0G's `zgs_*` and `kv_*`).
    pub storage_addr: SocketAddr,
    /// Compute broker listen address (OpenAI-compatible, under `/v1/proxy`).
    pub compute_addr: SocketAddr,
    /// The broker's OpenAI-compatible upstream (`…/v1`); none: the bundled
    /// deterministic echo server.
    pub compute_upstream: Option<String>,
    /// Chain validators (BFT finality); 0: one dev block producer (automine-capable,
    /// `anvil_mine`). Validator 0 serves JSON-RPC on `chain_addr`.
    pub validators: usize,
    /// Run the archiver (anchored payloads into the storage node; the op-plugin reads
    /// from it once the DA nodes pruned a payload).
    pub archiver: bool,
    /// Archive API listen address.
    pub archiver_addr: SocketAddr,
    /// How long DA nodes keep payloads (default: the nodes' 14 days).
    pub da_retention: Option<Duration>,
}

impl DevnetConfig {
    /// The OP conventions: chain on 8545, disperser on 51001, op-plugin on 3100; 8 nodes.
    pub fn new(datadir: PathBuf) -> Self {
        Self {
            datadir,
            nodes: 8,
            threshold: None,
            block_time: Duration::from_secs(1),
            epoch_blocks: 100,
            contracts: false,
            chain_addr: ([127, 0, 0, 1], 8545).into(),
            disperser_addr: ([127, 0, 0, 1], 51001).into(),
            plugin_addr: ([127, 0, 0, 1], 3100).into(),
            sampler_addr: ([127, 0, 0, 1], 3300).into(),
            storage_addr: ([127, 0, 0, 1], 5678).into(),
            compute_addr: ([127, 0, 0, 1], 3080).into(),
            compute_upstream: None,
            validators: 0,
            archiver: true,
            archiver_addr: ([127, 0, 0, 1], 3200).into(),
            da_retention: None,
        }
    }

    /// Every listener on an ephemeral port (tests).
    pub fn ephemeral(datadir: PathBuf) -> Self {
        let any: SocketAddr = ([127, 0, 0, 1], 0).into();
        Self {
            chain_addr: any,
            disperser_addr: any,
            plugin_addr: any,
            sampler_addr: any,
            storage_addr: any,
            compute_addr: any,
            archiver_addr: any,
            archiver: false,
            ..Self::new(datadir)
        }
    }

    /// The threshold in effect.
    pub fn threshold(&self) -> Result<usize, DevnetError> {
        let t = match self.threshold {
            Some(t) => t,
            None => zg_primitives::min_threshold(self.nodes, 2)
                .or_else(|| zg_primitives::recovery_nodes(self.nodes))
                .ok_or_else(|| {
                    DevnetError::Config(format!(
                        "{} nodes cannot hold 64 distinct columns in any subset",
                        self.nodes
                    ))
                })?,
        };
        let least = zg_primitives::recovery_nodes(self.nodes).unwrap_or(usize::MAX);
        if t < least || t > self.nodes {
            return Err(DevnetError::Config(format!(
                "threshold {t} must be between {least} (enough signers to recover) and {} nodes",
                self.nodes
            )));
        }
        Ok(t)
    }
}

/// Why the devnet could not start or stop.
#[derive(Debug, thiserror::Error)]
pub enum DevnetError {
    /// Bad settings.
    #[error("config: {0}")]
    Config(String),
    /// A component failed to start.
    #[error("{component}: {reason}")]
    Start {
        /// Which one.
        component: String,
        /// Why.
        reason: String,
    },
    /// A component failed to stop cleanly.
    #[error("stopping {component}: {reason}")]
    Stop {
        /// Which one.
        component: String,
        /// Why.
        reason: String,
    },
}

pub(crate) fn stop_err(component: &str) -> impl FnOnce(String) -> DevnetError {
    let component = component.to_string();
    move |reason| DevnetError::Stop { component, reason }
}

pub(crate) fn start_err(component: impl Into<String>) -> impl FnOnce(String) -> DevnetError {
    let component = component.into();
    move |reason| DevnetError::Start { component, reason }
}

/// The derived parts of a devnet: accounts, keys and every component's settings. The
/// in-process [`Devnet`] and the one-process-per-component stack
/// (the fault tests' process stack) build their components from the same plan.
#[derive(Clone, Debug)]
pub struct Plan {
    /// The settings.
    pub config: DevnetConfig,
    /// Signatures needed to anchor.
    pub threshold: usize,
    node_accounts: Vec<PrivateKeySigner>,
    disperser_account: PrivateKeySigner,
    archiver_account: PrivateKeySigner,
    deployer: PrivateKeySigner,
    compute_provider: PrivateKeySigner,
    compute_owner: PrivateKeySigner,
    /// The validator set and keys (with `validators`), dealt once per datadir.
    validator_set: Option<(
        zg_chain::consensus::ConsensusGenesis,
        Vec<zg_chain::consensus::ValidatorKey>,
    )>,
}

/// Deals the devnet's validator keys on its first start (consensus p2p on free loopback
/// ports) and reads them back on later ones, from `datadir/validators/`.
fn validator_set(
    datadir: &std::path::Path,
    n: usize,
) -> Result<
    (
        zg_chain::consensus::ConsensusGenesis,
        Vec<zg_chain::consensus::ValidatorKey>,
    ),
    DevnetError,
> {
    let dir = datadir.join("validators");
    let set_path = dir.join("set.json");
    let err = |e: String| DevnetError::Config(format!("validator keys in {}: {e}", dir.display()));
    if !set_path.exists() {
        let addresses: Vec<String> = (0..n)
            .map(|_| {
                std::net::TcpListener::bind("127.0.0.1:0")
                    .and_then(|l| l.local_addr())
                    .map(|a| a.to_string())
                    .map_err(|e| err(e.to_string()))
            })
            .collect::<Result<_, _>>()?;
        let (set, keys) =
            zg_chain::consensus::deal_validators(&addresses).map_err(|e| err(e.to_string()))?;
        std::fs::create_dir_all(&dir).map_err(|e| err(e.to_string()))?;
        for (i, k) in keys.iter().enumerate() {
            k.save(&dir.join(format!("validator-{i}.key")))
                .map_err(|e| err(e.to_string()))?;
        }
        let json = serde_json::to_vec_pretty(&set).map_err(|e| err(e.to_string()))?;
        zg_node_kit::secret::write_secret(&set_path, &json).map_err(|e| err(e.to_string()))?;
    }
    let set: zg_chain::consensus::ConsensusGenesis =
        serde_json::from_slice(&std::fs::read(&set_path).map_err(|e| err(e.to_string()))?)
            .map_err(|e| err(e.to_string()))?;
    if set.validators.len() != n {
        return Err(err(format!(
            "the datadir's network has {} validators, not {n}",
            set.validators.len()
        )));
    }
    let keys = (0..n)
        .map(|i| zg_chain::consensus::ValidatorKey::load(&dir.join(format!("validator-{i}.key"))))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| err(e.to_string()))?;
    Ok((set, keys))
}

impl Plan {
    /// Derives accounts and checks the settings.
    pub fn new(config: DevnetConfig) -> Result<Self, DevnetError> {
        let threshold = config.threshold()?;
        // Only the accounts the devnet uses (each derivation runs PBKDF2).
        let dev = zg_chain::dev_account;
        let node_accounts = (0..config.nodes as u32)
            .map(|i| dev(FIRST_NODE_ACCOUNT + i))
            .collect();
        let disperser_account = dev(DISPERSER_ACCOUNT);
        let archiver_account = dev(ARCHIVER_ACCOUNT);
        let compute_provider = dev(COMPUTE_PROVIDER_ACCOUNT);
        let compute_owner = dev(COMPUTE_OWNER_ACCOUNT);
        // The module contracts' deployer: its own account, so its first three nonces (and
        // so the contract addresses) are the deployments'.
        let deployer =
            PrivateKeySigner::from_bytes(&zg_primitives::keccak256(b"zg-devnet/module-deployer"))
                .expect("valid key");
        let validator_set = match config.validators {
            0 => None,
            n => Some(validator_set(&config.datadir, n)?),
        };
        Ok(Self {
            validator_set,
            config,
            threshold,
            node_accounts,
            disperser_account,
            archiver_account,
            deployer,
            compute_provider,
            compute_owner,
        })
    }

    /// The light client's verification (with validators): the genesis set as its
    /// checkpoint, anchors proved in the precompile's or the contract's layout.
    pub fn light_client(&self) -> Option<zg_sampler::VerifyConfig> {
        let (set, _) = self.validator_set.as_ref()?;
        Some(zg_sampler::VerifyConfig {
            validators: set.clone(),
            endpoints: Vec::new(),
            layout: if self.config.contracts {
                zg_sampler::AnchorLayout::Solidity
            } else {
                zg_sampler::AnchorLayout::Precompile
            },
        })
    }

    /// Where the DA modules live: the precompiles, or (with `contracts`) the addresses
    /// the deployer's first three creations get.
    pub fn modules(&self) -> ModuleAddresses {
        if !self.config.contracts {
            return ChainConfig::new("http://unused").modules;
        }
        let d = self.deployer.address();
        ModuleAddresses {
            signers: d.create(0),
            entrance: d.create(1),
            sampling: d.create(2),
        }
    }

    /// The chain endpoint and module addresses every component uses.
    pub fn chain(&self, rpc: &str) -> ChainConfig {
        let mut c = ChainConfig::new(rpc);
        c.modules = self.modules();
        c
    }

    /// With `contracts`: deploys the module contracts unless the chain has them already
    /// (a restarted devnet keeps its chain). Call before anything registers.
    pub async fn deploy_modules(&self, rpc: &str) -> Result<(), DevnetError> {
        if !self.config.contracts {
            return Ok(());
        }
        let err = start_err("module contracts");
        let url = rpc
            .parse()
            .map_err(|e| start_err("module contracts")(format!("{e}")))?;
        let provider = alloy::providers::ProviderBuilder::new()
            .wallet(alloy::network::EthereumWallet::from(self.deployer.clone()))
            .connect_http(url)
            .erased();
        let want = self.modules();
        let code = provider
            .get_code_at(want.sampling)
            .await
            .map_err(|e| start_err("module contracts")(e.to_string()))?;
        if !code.is_empty() {
            return Ok(());
        }
        let genesis = self.chain_config().genesis;
        let got = zg_chain::contracts::deploy(&provider, &genesis.da, Duration::from_secs(60))
            .await
            .map_err(|e| start_err("module contracts")(e.to_string()))?;
        if (got.signers, got.entrance, got.sampling) != (want.signers, want.entrance, want.sampling)
        {
            return Err(err(format!(
                "deployed at {got:?}, expected {want:?} (the deployer's nonce was not 0)"
            )));
        }
        tracing::info!(target: "zg_devnet", ?got, "deployed the DA module contracts");
        Ok(())
    }

    /// The chain's settings: the dev genesis plus the node accounts, quorum size and
    /// threshold (validator 0's with `validators`).
    pub fn chain_config(&self) -> ChainNodeConfig {
        self.validator_config(0)
    }

    /// Validator `i`'s settings (the single dev producer's when there are no validators).
    pub fn validator_config(&self, i: usize) -> ChainNodeConfig {
        let mut genesis = Genesis::default();
        let balance = *genesis.alloc.values().next().expect("dev alloc");
        for a in &self.node_accounts {
            genesis.alloc.insert(a.address(), balance);
        }
        if self.config.contracts {
            genesis.alloc.insert(self.deployer.address(), balance);
        }
        genesis.da.epoch_blocks = self.config.epoch_blocks;
        genesis.da.quorum_size = self.config.nodes as u64;
        genesis.da.quorum_threshold = self.threshold as u64;
        let validator = self.validator_set.as_ref().map(|(set, keys)| {
            genesis.consensus = Some(set.clone());
            zg_chain::config::ValidatorSettings {
                key: keys[i].clone(),
                listen: None,
                peers: Vec::new(),
                timeouts: zg_chain::consensus::Timeouts::default(),
                proposal_layer: None,
            }
        });
        ChainNodeConfig {
            genesis,
            block_time: self.config.block_time,
            // A single producer: the devnet moves epochs along with `anvil_mine` (it
            // binds loopback only). Validators wait for the epoch instead.
            dev: validator.is_none(),
            validator,
            ..ChainNodeConfig::default()
        }
    }

    /// The chain's directory (validator 0's).
    pub fn chain_dir(&self) -> PathBuf {
        self.validator_dir(0)
    }

    /// Validator `i`'s directory.
    pub fn validator_dir(&self, i: usize) -> PathBuf {
        match i {
            0 => self.config.datadir.join("chain"),
            i => self.config.datadir.join(format!("chain-{i}")),
        }
    }

    /// The keys of node `i`.
    pub fn node_keys(&self, i: usize) -> NodeKeys {
        NodeKeys::from_eth_key(self.node_accounts[i].clone(), KEY_SEED)
    }

    /// Settings of node `i` against the chain at `rpc`, listening for libp2p on TCP
    /// `p2p_port` of loopback (0: any).
    pub fn node_config(&self, i: usize, rpc: &str, p2p_port: u16) -> NodeConfig {
        let mut nc = NodeConfig::new(
            self.config.datadir.join(format!("node-{i}")),
            self.node_keys(i),
            self.chain(rpc),
        );
        nc.net = NetConfig {
            listen: vec![
                format!("/ip4/127.0.0.1/tcp/{p2p_port}")
                    .parse()
                    .expect("multiaddr"),
            ],
            ..NetConfig::default()
        };
        nc.registration_interval = Duration::from_secs(1);
        if let Some(r) = self.config.da_retention {
            nc.retention = r;
            nc.prune_interval = nc
                .prune_interval
                .min((r / 2).max(Duration::from_millis(200)));
        }
        nc
    }

    /// The disperser's settings.
    pub fn disperser_config(&self, rpc: &str) -> DisperserConfig {
        DisperserConfig::new(
            self.config.datadir.join("disperser"),
            self.disperser_account.clone(),
            self.chain(rpc),
        )
    }

    /// The op-plugin's settings in `datadir`, in front of the disperser at `disperser`.
    /// Reads fall back to the archives at `archives` (base URLs).
    pub fn plugin_config(
        &self,
        datadir: PathBuf,
        disperser: String,
        rpc: &str,
        archives: Vec<String>,
    ) -> (PluginConfig, UpstreamConfig) {
        let upstream = UpstreamConfig::Remote {
            url: disperser,
            token: None,
            chain: self.chain(rpc),
            net: NetConfig::default(),
        };
        let mut pc = PluginConfig::new(datadir);
        pc.archives = archives;
        (pc, upstream)
    }

    /// The archiver's settings (index in `archiver/`), uploading to `storage`.
    pub fn archiver_config(&self, storage: String) -> ArchiverConfig {
        let mut ac = ArchiverConfig::new(self.config.datadir.join("archiver"), vec![storage]);
        ac.poll_interval = Duration::from_millis(250);
        if let Some(r) = self.config.da_retention {
            ac.retention = r;
            ac.lag_margin = r / 4;
        }
        // A devnet chain starts now: follow it from its first block.
        ac.from_block = Some(0);
        ac
    }

    /// Starts the archiver on `listener`, paying from [`ARCHIVER_ACCOUNT`].
    pub async fn start_archiver(
        &self,
        rpc: &str,
        storage: String,
        listener: TcpListener,
    ) -> Result<RunningArchiver, DevnetError> {
        zg_archiver::start(
            self.archiver_config(storage),
            self.chain(rpc),
            self.archiver_account.clone(),
            NetConfig::default(),
            None,
            listener,
            CancellationToken::new(),
        )
        .await
        .map_err(|e| start_err("archiver")(e.to_string()))
    }

    /// Starts the chain (validator 0) serving JSON-RPC on `listener`.
    pub async fn start_chain(&self, listener: TcpListener) -> Result<RunningChain, DevnetError> {
        self.start_validator(0, listener).await
    }

    /// Starts validator `i` serving JSON-RPC on `listener`.
    pub async fn start_validator(
        &self,
        i: usize,
        listener: TcpListener,
    ) -> Result<RunningChain, DevnetError> {
        zg_chain::start(
            &self.validator_dir(i),
            self.validator_config(i),
            listener,
            CancellationToken::new(),
        )
        .await
        .map_err(|e| start_err(format!("chain validator {i}"))(e.to_string()))
    }

    /// Starts DA node `i` with `nc` (from [`Plan::node_config`]), HTTP on `http`.
    pub async fn start_node(
        &self,
        nc: NodeConfig,
        i: usize,
        http: TcpListener,
    ) -> Result<RunningNode, DevnetError> {
        self.start_node_with(nc, i, http, None).await
    }

    /// [`Plan::start_node`] with the node's request handler wrapped by `layer`.
    pub async fn start_node_with(
        &self,
        nc: NodeConfig,
        i: usize,
        http: TcpListener,
        layer: Option<zg_da_server::node::HandlerLayer>,
    ) -> Result<RunningNode, DevnetError> {
        zg_da_server::node::start_with(nc, http, CancellationToken::new(), layer)
            .await
            .map_err(|e| start_err(format!("node {i}"))(e.to_string()))
    }

    /// Starts the disperser, API on `listener`.
    pub async fn start_disperser(
        &self,
        rpc: &str,
        listener: TcpListener,
    ) -> Result<RunningDisperser, DevnetError> {
        zg_da_server::disperser::start(
            self.disperser_config(rpc),
            listener,
            CancellationToken::new(),
        )
        .await
        .map_err(|e| start_err("disperser")(e.to_string()))
    }

    /// Starts an op-plugin keeping its state in `datadir`, in front of `disperser`.
    pub async fn start_plugin(
        &self,
        datadir: PathBuf,
        disperser: String,
        rpc: &str,
        archives: Vec<String>,
        listener: TcpListener,
    ) -> Result<RunningPlugin, DevnetError> {
        let (pc, upstream) = self.plugin_config(datadir, disperser, rpc, archives);
        zg_op_plugin::start(pc, upstream, listener, CancellationToken::new())
            .await
            .map_err(|e| start_err("op-plugin")(e.to_string()))
    }

    /// Starts the storage node (state in `storage/`) on `addr`, replaying [`kv_stream`].
    pub async fn start_storage(
        &self,
        rpc: &str,
        addr: SocketAddr,
    ) -> Result<zg_storage::StorageNode, DevnetError> {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|e| start_err("storage")(format!("binding {addr}: {e}")))?;
        let config = zg_storage::NodeConfig {
            chain_rpc: rpc.to_string(),
            poll_interval: Duration::from_millis(100),
            kv_streams: vec![kv_stream()],
            ..zg_storage::NodeConfig::default()
        };
        zg_storage::start(
            &self.config.datadir.join("storage"),
            config,
            listener,
            CancellationToken::new(),
        )
        .await
        .map_err(|e| start_err("storage")(e.to_string()))
    }

    /// Starts the compute broker (state in `compute/`) on `addr` in front of `upstream`:
    /// it registers (or updates) the devnet's service, whose TEE signer the owner then
    /// acknowledges, and settles every 2 s.
    pub async fn start_compute(
        &self,
        rpc: &str,
        addr: SocketAddr,
        upstream: String,
    ) -> Result<zg_compute::Broker, DevnetError> {
        let err = |reason: String| DevnetError::Start {
            component: "compute".into(),
            reason,
        };
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|e| err(format!("binding {addr}: {e}")))?;
        let url = format!(
            "http://{}",
            listener.local_addr().map_err(|e| err(e.to_string()))?
        );
        // A fixed settlement key, so a restarted devnet keeps its acknowledged signer.
        let tee = PrivateKeySigner::from_bytes(&zg_primitives::keccak256(b"zg-devnet/compute-tee"))
            .expect("valid key");
        let mut c = zg_compute::BrokerConfig::new(
            self.config.datadir.join("compute"),
            rpc.to_string(),
            self.compute_provider.clone(),
            tee,
            upstream,
        );
        c.settle_interval = Duration::from_secs(2);
        let ether = U256::from(10u64).pow(U256::from(18));
        c.register = Some(zg_compute::ServiceSpec {
            service_type: "chatbot".into(),
            url,
            model: zg_compute::upstream::ECHO_MODEL.into(),
            verifiability: "TeeML".into(),
            input_price: U256::from(1_000_000_000_000u64),
            output_price: U256::from(2_000_000_000_000u64),
            additional_info: "{}".into(),
            stake: ether * U256::from(100),
        });
        let broker = zg_compute::start(c, listener, CancellationToken::new())
            .await
            .map_err(|e| err(e.to_string()))?;
        let owner = alloy::providers::ProviderBuilder::new()
            .wallet(alloy::network::EthereumWallet::from(
                self.compute_owner.clone(),
            ))
            .connect_http(rpc.parse().map_err(|e| err(format!("{rpc}: {e}")))?);
        use zg_primitives::abi::{IInferenceServing as S, SERVING_ADDRESS};
        let svc = S::getServiceCall {
            provider: broker.provider(),
        };
        let acked = zg_node_kit::tx::call(&owner, SERVING_ADDRESS, &svc)
            .await
            .map(|s| s.teeSignerAcknowledged)
            .unwrap_or(false);
        if !acked {
            let ack = S::acknowledgeTEESignerByOwnerCall {
                provider: broker.provider(),
            };
            zg_node_kit::tx::send_call(
                &owner,
                self.compute_owner.address(),
                SERVING_ADDRESS,
                &ack,
                U256::ZERO,
                RECEIPT_TIMEOUT,
            )
            .await
            .map_err(|e| err(format!("acknowledging the TEE signer: {e}")))?;
        }
        Ok(broker)
    }

    /// Funds the disperser's deposit and makes sure the current epoch has a quorum (once
    /// every node registered). Safe to repeat.
    pub async fn prepare_chain(&self, rpc: &str) -> Result<(), DevnetError> {
        let payer = ChainClient::connect(self.chain(rpc), Some(self.disperser_account.clone()))
            .await
            .map_err(|e| start_err("deposit")(e.to_string()))?;
        let have = payer
            .deposit_of(payer.account().expect("signer"))
            .await
            .map_err(|e| start_err("deposit")(e.to_string()))?;
        if have < U256::from(DEPOSIT / 2) {
            payer
                .deposit(U256::from(DEPOSIT) - have)
                .await
                .map_err(|e| start_err("deposit")(e.to_string()))?;
        }
        let nodes: Vec<_> = self.node_accounts.iter().map(|a| a.address()).collect();
        form_quorum(
            &payer,
            &nodes,
            self.config.epoch_blocks,
            self.config.validators == 0,
        )
        .await
    }
}

/// A running devnet.
#[derive(Debug)]
pub struct Devnet {
    /// The chain (validator 0 with `validators`).
    pub chain: RunningChain,
    /// Validators 1 … n − 1.
    pub validators: Vec<RunningChain>,
    /// The DA nodes.
    pub nodes: Vec<RunningNode>,
    /// The disperser.
    pub disperser: RunningDisperser,
    /// The op-plugin.
    pub plugin: RunningPlugin,
    /// The light client sampling every anchor.
    pub sampler: RunningSampler,
    /// The storage node (log and KV layers), replaying [`KV_STREAM`].
    pub storage: zg_storage::StorageNode,
    /// The archiver (with [`DevnetConfig::archiver`]).
    pub archiver: Option<RunningArchiver>,
    /// The compute provider broker.
    pub compute: zg_compute::Broker,
    /// The broker's upstream (`…/v1`).
    pub compute_upstream: String,
    upstream_cancel: CancellationToken,
    /// Where the DA modules live.
    pub modules: ModuleAddresses,
    /// The settings it runs with.
    pub config: DevnetConfig,
}

impl Devnet {
    /// Starts every component, forms the first epoch's quorum if there is none, and
    /// returns once the op-plugin can certify.
    pub async fn start(config: DevnetConfig) -> Result<Self, DevnetError> {
        let plan = Plan::new(config.clone())?;
        std::fs::create_dir_all(&config.datadir)
            .map_err(|e| start_err("datadir")(e.to_string()))?;
        let listener = TcpListener::bind(config.chain_addr)
            .await
            .map_err(|e| start_err("chain")(format!("binding {}: {e}", config.chain_addr)))?;
        let chain = plan.start_chain(listener).await?;
        let mut validators = Vec::new();
        for i in 1..config.validators {
            let listener = TcpListener::bind("127.0.0.1:0")
                .await
                .map_err(|e| start_err(format!("chain validator {i}"))(e.to_string()))?;
            validators.push(plan.start_validator(i, listener).await?);
        }
        let rpc = chain.rpc_url();
        plan.deploy_modules(&rpc).await?;

        // DA nodes, started together (each registers on chain before it returns).
        let starts = (0..config.nodes).map(|i| {
            let (plan, nc) = (&plan, plan.node_config(i, &rpc, 0));
            async move {
                let http = TcpListener::bind("127.0.0.1:0")
                    .await
                    .map_err(|e| start_err(format!("node {i}"))(e.to_string()))?;
                plan.start_node(nc, i, http).await
            }
        });
        let mut nodes = Vec::with_capacity(config.nodes);
        for started in futures::future::join_all(starts).await {
            nodes.push(started?);
        }
        plan.prepare_chain(&rpc).await?;

        let http = TcpListener::bind(config.disperser_addr)
            .await
            .map_err(|e| {
                start_err("disperser")(format!("binding {}: {e}", config.disperser_addr))
            })?;
        let disperser = plan.start_disperser(&rpc, http).await?;

        let storage = plan.start_storage(&rpc, config.storage_addr).await?;
        let archiver = if config.archiver {
            let listener = TcpListener::bind(config.archiver_addr).await.map_err(|e| {
                start_err("archiver")(format!("binding {}: {e}", config.archiver_addr))
            })?;
            Some(
                plan.start_archiver(&rpc, storage.rpc_url(), listener)
                    .await?,
            )
        } else {
            None
        };
        let listener = TcpListener::bind(config.plugin_addr)
            .await
            .map_err(|e| start_err("op-plugin")(format!("binding {}: {e}", config.plugin_addr)))?;
        let plugin = plan
            .start_plugin(
                config.datadir.clone(),
                format!("http://{}", disperser.http_addr),
                &rpc,
                archiver.iter().map(RunningArchiver::url).collect(),
                listener,
            )
            .await?;

        let mut sc = ClientConfig::new(config.datadir.join("sampler"));
        sc.poll_interval = Duration::from_millis(250);
        // On a validator network the light client trusts no RPC: it follows finalized
        // headers by certificate from the genesis set and proves every anchor.
        sc.verify = plan.light_client();
        let listener = TcpListener::bind(config.sampler_addr)
            .await
            .map_err(|e| start_err("sampler")(format!("binding {}: {e}", config.sampler_addr)))?;
        let sampler = zg_sampler::start(
            plan.chain(&rpc),
            NetConfig::default(),
            SamplerConfig::default(),
            sc,
            listener,
            CancellationToken::new(),
        )
        .await
        .map_err(|e| start_err("sampler")(e.to_string()))?;
        let upstream_cancel = CancellationToken::new();
        let compute_upstream = match &config.compute_upstream {
            Some(u) => u.clone(),
            None => {
                zg_compute::upstream::spawn_echo(upstream_cancel.clone())
                    .await
                    .map_err(|e| start_err("compute upstream")(e.to_string()))?
                    .0
            }
        };
        let compute = plan
            .start_compute(&rpc, config.compute_addr, compute_upstream.clone())
            .await?;
        Ok(Self {
            compute,
            compute_upstream,
            upstream_cancel,
            chain,
            validators,
            nodes,
            disperser,
            plugin,
            sampler,
            storage,
            archiver,
            modules: plan.modules(),
            config,
        })
    }

    /// Writes one configuration file per component of this devnet into `dir`, with the
    /// genesis and the components' dev keys (plaintext key files, mode 0600: these are
    /// the dev mnemonic's well-known accounts), as templates an operator copies to real
    /// hosts and edits: each names this devnet's addresses and data directories.
    /// Returns the files written (`chain.toml`, `node-<i>.toml`, `disperser.toml`,
    /// `op-plugin.toml`, `sampler.toml`, `genesis.json`, `keys/…`).
    pub fn write_configs(&self, dir: &std::path::Path) -> Result<Vec<PathBuf>, DevnetError> {
        let err = |e: String| start_err("configs")(format!("{}: {e}", dir.display()));
        let plan = Plan::new(self.config.clone())?;
        std::fs::create_dir_all(dir.join("keys")).map_err(|e| err(e.to_string()))?;
        let mut written = Vec::new();
        let mut write = |name: &str, text: String| -> Result<(), DevnetError> {
            let path = dir.join(name);
            std::fs::write(&path, text).map_err(|e| err(e.to_string()))?;
            written.push(path);
            Ok(())
        };
        let q = |s: &str| toml::Value::String(s.to_owned()).to_string();
        let host = |url: &str| {
            url.split("://")
                .nth(1)
                .unwrap_or(url)
                .trim_end_matches('/')
                .to_owned()
        };
        let data = |sub: &str| self.config.datadir.join(sub).display().to_string();
        let rpc = self.chain.rpc_url();
        // The chain's module addresses, when they are contracts.
        let modules = if self.config.contracts {
            format!(
                "signers-address = {}\nentrance-address = {}\nsampling-address = {}\n",
                q(&self.modules.signers.to_string()),
                q(&self.modules.entrance.to_string()),
                q(&self.modules.sampling.to_string())
            )
        } else {
            String::new()
        };
        let chain_table = format!("[chain]\nrpc = {}\n{modules}", q(&rpc));
        let genesis = serde_json::to_string_pretty(&plan.chain_config().genesis)
            .map_err(|e| err(e.to_string()))?;
        write("genesis.json", genesis)?;
        let genesis_path = dir.join("genesis.json").display().to_string();
        write(
            "chain.toml",
            format!(
                "# The devnet's chain (`zg-chain --config chain.toml`).{}\n\
                 datadir = {}\ngenesis = {}\nblock-time = \"{}\"\ndev = {}\n\n[http]\naddr = {}\n",
                if self.config.validators > 0 {
                    " Validators also need `consensus.key` (`zg-chain keygen`)."
                } else {
                    ""
                },
                q(&data("chain")),
                q(&genesis_path),
                self.config.block_time.as_secs_f64(),
                self.config.validators == 0,
                q(&host(&rpc)),
            ),
        )?;
        let key_file = |name: &str, keys: &NodeKeys| -> Result<String, DevnetError> {
            let path = dir.join("keys").join(name);
            if !path.exists() {
                keys.write(&path).map_err(|e| err(e.to_string()))?;
            }
            Ok(path.display().to_string())
        };
        for (i, node) in self.nodes.iter().enumerate() {
            let key = key_file(&format!("node-{i}.key"), &plan.node_keys(i))?;
            write(
                &format!("node-{i}.toml"),
                format!(
                    "# DA node {i} (`zg-da-server node --config node-{i}.toml`).\n\
                     datadir = {}\nkey = {}\n\n{chain_table}\n[p2p]\nlisten = [{}]\n\n\
                     [http]\naddr = {}\n",
                    q(&data(&format!("node-{i}"))),
                    q(&key),
                    q(node.socket.split("/p2p/").next().unwrap_or(&node.socket)),
                    q(&node.http_addr.to_string()),
                ),
            )?;
        }
        let disperser_keys = NodeKeys::from_eth_key(plan.disperser_account.clone(), KEY_SEED);
        let key = key_file("disperser.key", &disperser_keys)?;
        write(
            "disperser.toml",
            format!(
                "# The disperser (`zg-da-server disperser --config disperser.toml`).\n\
                 datadir = {}\nkey = {}\n\n{chain_table}\n[http]\naddr = {}\n",
                q(&data("disperser")),
                q(&key),
                q(&self.disperser.http_addr.to_string()),
            ),
        )?;
        write(
            "op-plugin.toml",
            format!(
                "# The op-plugin (`zg-op-plugin --config op-plugin.toml`).\n\
                 addr = {}\ndatadir = {}\n\n[disperser]\nurl = {}\n\n{chain_table}",
                q(&host(&self.plugin.url())),
                q(&data("op-plugin")),
                q(&format!("http://{}", self.disperser.http_addr)),
            ),
        )?;
        write(
            "sampler.toml",
            format!(
                "# The light client (`zg-sampler --config sampler.toml`).\n\
                 datadir = {}\n\n{chain_table}\n[http]\naddr = {}\n",
                q(&data("sampler")),
                q(&self.sampler.http_addr.to_string()),
            ),
        )?;
        Ok(written)
    }

    /// What the demo talks to.
    pub fn demo_endpoints(&self) -> crate::DemoEndpoints {
        crate::DemoEndpoints {
            plugin: self.plugin.url(),
            disperser: format!("http://{}", self.disperser.http_addr),
            sampler: self.sampler.url(),
            chain: self.chain.rpc_url(),
            storage: self.storage.rpc_url(),
            compute: self.compute.url(),
            archiver: self.archiver.as_ref().map(RunningArchiver::url),
        }
    }

    /// `(name, address)` of every endpoint, in start order.
    pub fn endpoints(&self) -> Vec<(String, String)> {
        let mut v = vec![
            ("chain.rpc".to_string(), self.chain.rpc_url()),
            (
                "disperser".to_string(),
                format!("http://{}", self.disperser.http_addr),
            ),
            ("op-plugin".to_string(), self.plugin.url()),
            ("sampler".to_string(), self.sampler.url()),
            (
                "status page".to_string(),
                format!("{}/", self.sampler.url()),
            ),
            ("storage".to_string(), self.storage.rpc_url()),
            (
                "storage.flow".to_string(),
                zg_primitives::abi::FLOW_ADDRESS.to_string(),
            ),
            ("storage.kv-stream".to_string(), kv_stream().to_string()),
            ("compute".to_string(), self.compute.url()),
            (
                "compute.provider".to_string(),
                self.compute.provider().to_string(),
            ),
            (
                "compute.upstream".to_string(),
                self.compute_upstream.clone(),
            ),
        ];
        if let Some(a) = &self.archiver {
            v.push(("archiver".to_string(), a.url()));
        }
        if self.config.contracts {
            v.push(("module.signers".into(), self.modules.signers.to_string()));
            v.push(("module.entrance".into(), self.modules.entrance.to_string()));
            v.push(("module.sampling".into(), self.modules.sampling.to_string()));
        }
        for (i, c) in self.validators.iter().enumerate() {
            v.push((format!("chain.validator.{}", i + 1), c.rpc_url()));
        }
        for (i, n) in self.nodes.iter().enumerate() {
            v.push((format!("node.{i}.p2p"), n.socket.clone()));
            v.push((format!("node.{i}.http"), format!("http://{}", n.http_addr)));
        }
        v
    }

    /// Stops in order: compute broker and its upstream, archiver, storage node, sampler,
    /// op-plugin, disperser, DA nodes, chain.
    pub async fn shutdown(self) -> Result<(), DevnetError> {
        self.compute.shutdown().await;
        self.upstream_cancel.cancel();
        if let Some(a) = self.archiver {
            a.shutdown()
                .await
                .map_err(|e| stop_err("archiver")(e.to_string()))?;
        }
        self.storage
            .shutdown()
            .await
            .map_err(|e| stop_err("storage")(e.to_string()))?;
        self.sampler.shutdown().await;
        self.plugin
            .shutdown()
            .await
            .map_err(|e| stop_err("op-plugin")(e.to_string()))?;
        self.disperser
            .shutdown()
            .await
            .map_err(|e| stop_err("disperser")(e.to_string()))?;
        for (i, n) in self.nodes.into_iter().enumerate() {
            n.shutdown()
                .await
                .map_err(|e| stop_err(&format!("node {i}"))(e.to_string()))?;
        }
        for (i, c) in self.validators.into_iter().enumerate() {
            c.shutdown()
                .await
                .map_err(|e| stop_err(&format!("chain validator {}", i + 1))(e.to_string()))?;
        }
        self.chain
            .shutdown()
            .await
            .map_err(|e| stop_err("chain")(e.to_string()))
    }
}

/// Makes sure the current epoch has a quorum: waits until every node registered for the
/// next epoch, then mines to its first block (a dev chain only; a restarted devnet whose
/// epoch already has a quorum skips this).
async fn form_quorum(
    chain: &ChainClient,
    nodes: &[alloy_primitives::Address],
    epoch_blocks: u64,
    dev: bool,
) -> Result<(), DevnetError> {
    let err = start_err("quorum");
    let epoch = chain.epoch().await.map_err(|e| err(e.to_string()))?;
    if chain.quorum_count(epoch).await.unwrap_or(0) > 0 {
        return Ok(());
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    for &address in nodes {
        loop {
            match chain.registered_for_epoch(address, epoch + 1).await {
                Ok(true) => break,
                _ if Instant::now() > deadline => {
                    return Err(start_err("quorum")(format!(
                        "node {address} did not register for epoch {} within 60 s",
                        epoch + 1
                    )));
                }
                _ => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
    }
    let head = chain
        .provider()
        .get_block_number()
        .await
        .map_err(|e| start_err("quorum")(e.to_string()))?;
    let to_boundary = epoch_blocks - head % epoch_blocks;
    if dev {
        let _: serde_json::Value = chain
            .provider()
            .raw_request("anvil_mine".into(), (U256::from(to_boundary),))
            .await
            .map_err(|e| start_err("quorum")(format!("anvil_mine: {e}")))?;
    } else {
        // Validators: nobody bends the chain; wait for the epoch to begin.
        let boundary = head + to_boundary;
        let deadline = Instant::now() + Duration::from_secs(600);
        loop {
            let now = chain
                .provider()
                .get_block_number()
                .await
                .map_err(|e| start_err("quorum")(e.to_string()))?;
            if now >= boundary {
                break;
            }
            if Instant::now() > deadline {
                return Err(start_err("quorum")(format!(
                    "the chain did not reach block {boundary}"
                )));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    let now = chain
        .epoch()
        .await
        .map_err(|e| start_err("quorum")(e.to_string()))?;
    match chain.quorum_count(now).await {
        Ok(n) if n > 0 => Ok(()),
        other => Err(start_err("quorum")(format!(
            "epoch {now} formed no quorum ({other:?})"
        ))),
    }
}
