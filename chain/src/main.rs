//! `zg-chain`: the bundled EVM chain node.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};
use eyre::WrapErr;
use tokio_util::sync::CancellationToken;
use zg_chain::mempool::PoolLimits;
use zg_chain::{Genesis, NodeConfig};
use zg_node_kit::HttpArgs;
use zg_node_kit::LogArgs;
use zg_node_kit::until_shutdown;

/// The bundled EVM chain node with the DA modules.
#[derive(Debug, Parser)]
#[command(name = "zg-chain", version, about)]
struct Args {
    #[command(subcommand)]
    command: Option<Command>,
    /// Data directory (created if missing).
    #[arg(long = "datadir", env = "ZG_CHAIN_DATADIR", default_value = "./data/chain")]
    datadir: PathBuf,
    /// JSON-RPC listen address.
    #[arg(long = "http.addr", env = "ZG_CHAIN_HTTP_ADDR", default_value = "127.0.0.1:8545")]
    http_addr: String,
    /// Block interval in seconds (fractions allowed); 0 mines each transaction at once.
    #[arg(long = "block-time", env = "ZG_CHAIN_BLOCK_TIME", default_value_t = 1.0)]
    block_time: f64,
    /// Genesis file (JSON); the built-in dev genesis when absent.
    #[arg(long = "genesis", env = "ZG_CHAIN_GENESIS")]
    genesis: Option<PathBuf>,
    /// Chain id (overrides the genesis file).
    #[arg(long = "chain-id", env = "ZG_CHAIN_ID")]
    chain_id: Option<u64>,
    /// Blocks per DA epoch (overrides the genesis file).
    #[arg(long = "da.epoch-blocks", env = "ZG_CHAIN_DA_EPOCH_BLOCKS")]
    epoch_blocks: Option<u64>,
    /// Members per DA quorum (overrides the genesis file).
    #[arg(long = "da.quorum-size", env = "ZG_CHAIN_DA_QUORUM_SIZE")]
    quorum_size: Option<u64>,
    /// Signatures needed per DA quorum (overrides the genesis file).
    #[arg(long = "da.threshold", env = "ZG_CHAIN_DA_THRESHOLD")]
    threshold: Option<u64>,
    /// Blocks per DA sampling round (overrides the genesis file).
    #[arg(long = "da.sample-period", env = "ZG_CHAIN_DA_SAMPLE_PERIOD")]
    sample_period: Option<u64>,
    /// Largest JSON-RPC request body in bytes.
    #[arg(long = "http.max-body", env = "ZG_CHAIN_HTTP_MAX_BODY", default_value_t = 10 * 1024 * 1024)]
    max_body: usize,
    /// Serve the development methods `evm_mine` and `anvil_mine` (loopback binds only).
    #[arg(long = "dev", env = "ZG_CHAIN_DEV")]
    dev: bool,
    /// Most gas one eth_call / eth_estimateGas execution may use.
    #[arg(long = "rpc.gas-cap", env = "ZG_CHAIN_RPC_GAS_CAP", default_value_t = 50_000_000)]
    gas_cap: u64,
    /// Seconds one heavy call (EVM execution, log scan) may run or wait for a place.
    #[arg(long = "rpc.evm-timeout", env = "ZG_CHAIN_RPC_EVM_TIMEOUT", default_value_t = 5.0)]
    evm_timeout: f64,
    /// Heavy calls run at once (default: the number of cores).
    #[arg(long = "rpc.max-heavy", env = "ZG_CHAIN_RPC_MAX_HEAVY")]
    max_heavy: Option<usize>,
    /// Blocks behind the head whose state is served (eth_getBalance, eth_call,
    /// eth_getProof, … at an older block).
    #[arg(long = "rpc.state-history", env = "ZG_CHAIN_RPC_STATE_HISTORY", default_value_t = zg_chain::config::DEFAULT_STATE_HISTORY)]
    state_history: u64,
    /// Calls per JSON-RPC batch.
    #[arg(long = "rpc.max-batch", env = "ZG_CHAIN_RPC_MAX_BATCH", default_value_t = zg_node_kit::jsonrpc::MAX_BATCH)]
    max_batch: usize,
    /// Bytes of one batch's response; the calls after it answer -32005.
    #[arg(
        long = "rpc.batch-response-max-size",
        env = "ZG_CHAIN_RPC_BATCH_RESPONSE_MAX_SIZE",
        default_value_t = zg_node_kit::jsonrpc::MAX_BATCH_RESPONSE_BYTES
    )]
    max_batch_response: usize,
    /// Seconds one JSON-RPC request (a whole batch) may take.
    #[arg(
        long = "rpc.request-timeout",
        env = "ZG_CHAIN_RPC_REQUEST_TIMEOUT",
        default_value_t = 10.0
    )]
    request_timeout: f64,
    /// Pending transactions at most; when full, a better-paying one evicts the cheapest.
    #[arg(long = "txpool.max", env = "ZG_CHAIN_TXPOOL_MAX", default_value_t = PoolLimits::default().max)]
    pool_max: usize,
    /// Pending transactions per sender at most.
    #[arg(long = "txpool.per-sender", env = "ZG_CHAIN_TXPOOL_PER_SENDER", default_value_t = PoolLimits::default().per_sender)]
    pool_per_sender: usize,
    /// How far ahead of its sender's nonce a pending transaction's nonce may be.
    #[arg(long = "txpool.max-nonce-gap", env = "ZG_CHAIN_TXPOOL_MAX_NONCE_GAP", default_value_t = PoolLimits::default().max_nonce_gap)]
    pool_max_nonce_gap: u64,
    /// Seconds a sender may send nothing new before its pending transactions are dropped.
    #[arg(long = "txpool.lifetime", env = "ZG_CHAIN_TXPOOL_LIFETIME", default_value_t = PoolLimits::default().lifetime.as_secs())]
    pool_lifetime: u64,
    /// Beneficiary of the blocks this node produces (priority fees).
    #[arg(long = "coinbase", env = "ZG_CHAIN_COINBASE")]
    coinbase: Option<alloy::primitives::Address>,
    /// This validator's key file (`zg-chain keygen` writes them); needed when genesis
    /// names a validator set.
    #[arg(long = "consensus.key", env = "ZG_CHAIN_CONSENSUS_KEY")]
    consensus_key: Option<PathBuf>,
    /// Consensus p2p listen address (default: this validator's address in genesis).
    #[arg(long = "consensus.listen", env = "ZG_CHAIN_CONSENSUS_LISTEN")]
    consensus_listen: Option<std::net::SocketAddr>,
    /// `IDENTITY=HOST:PORT`: reach a validator at another address than genesis says
    /// (repeatable, or comma-separated in the environment).
    #[arg(long = "consensus.peer", env = "ZG_CHAIN_CONSENSUS_PEERS", value_delimiter = ',')]
    consensus_peers: Vec<String>,
    /// Run as a full node of a validator network: follow these validators' JSON-RPC
    /// URLs (comma-separated), verifying every finality certificate and re-executing.
    #[arg(
        long = "consensus.follow",
        env = "ZG_CHAIN_CONSENSUS_FOLLOW",
        value_delimiter = ',',
        conflicts_with = "consensus_key"
    )]
    follow: Vec<String>,
    /// Seconds a view waits for its leader's proposal before voting to skip it.
    #[arg(
        long = "consensus.leader-timeout",
        env = "ZG_CHAIN_CONSENSUS_LEADER_TIMEOUT",
        default_value_t = 2.0
    )]
    leader_timeout: f64,
    /// Seconds a view waits for its proposal to be notarized.
    #[arg(
        long = "consensus.certification-timeout",
        env = "ZG_CHAIN_CONSENSUS_CERTIFICATION_TIMEOUT",
        default_value_t = 4.0
    )]
    certification_timeout: f64,
    #[command(flatten)]
    http: HttpArgs,
    #[command(flatten)]
    log: LogArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Deploy the DA modules as Solidity contracts to any EVM chain with the EIP-2537
    /// precompiles and print their addresses (JSON, then the DA components' flags).
    Deploy(DeployArgs),
    /// Deal keys for a validator network: one key file per validator (identity key and
    /// threshold share, mode 0600) and a genesis naming the validator set.
    Keygen(KeygenArgs),
}

#[derive(Debug, clap::Args)]
struct KeygenArgs {
    /// Each validator's consensus p2p address (`host:port`), one per validator.
    #[arg(long = "address", required = true, num_args = 1.., value_delimiter = ',')]
    addresses: Vec<String>,
    /// Genesis to add the validator set to (the built-in dev genesis when absent).
    #[arg(long = "genesis")]
    genesis: Option<PathBuf>,
    /// Directory to write `genesis.json` and `validator-<i>.key` into (created).
    #[arg(long = "out")]
    out: PathBuf,
}

fn keygen(args: KeygenArgs) -> eyre::Result<()> {
    let mut genesis = match &args.genesis {
        Some(p) => serde_json::from_slice::<Genesis>(
            &std::fs::read(p).wrap_err_with(|| format!("reading {}", p.display()))?,
        )
        .wrap_err("parsing the genesis file")?,
        None => Genesis::default(),
    };
    let (set, keys) = zg_chain::consensus::deal_validators(&args.addresses)?;
    std::fs::create_dir_all(&args.out)
        .wrap_err_with(|| format!("creating {}", args.out.display()))?;
    for (i, key) in keys.iter().enumerate() {
        let path = args.out.join(format!("validator-{i}.key"));
        key.save(&path)?;
        println!(
            "{} validator {i} {} at {}",
            path.display(),
            key.public(),
            args.addresses[i]
        );
    }
    genesis.consensus = Some(set);
    let path = args.out.join("genesis.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&genesis)?)
        .wrap_err_with(|| format!("writing {}", path.display()))?;
    println!("{}", path.display());
    Ok(())
}

#[derive(Debug, clap::Args)]
struct DeployArgs {
    /// JSON-RPC URL of the target chain.
    #[arg(long = "rpc", env = "ZG_DEPLOY_RPC")]
    rpc: String,
    /// File holding the deployer's private key (hex); it pays for three creations.
    #[arg(long = "key", env = "ZG_DEPLOY_KEY", conflicts_with = "dev_account")]
    key: Option<PathBuf>,
    /// Deploy from account N of the dev mnemonic (the bundled chain's funded accounts).
    #[arg(long = "dev-account", env = "ZG_DEPLOY_DEV_ACCOUNT")]
    dev_account: Option<u32>,
    /// Blocks per DA epoch.
    #[arg(long = "da.epoch-blocks", env = "ZG_DEPLOY_DA_EPOCH_BLOCKS")]
    epoch_blocks: Option<u64>,
    /// Members per DA quorum.
    #[arg(long = "da.quorum-size", env = "ZG_DEPLOY_DA_QUORUM_SIZE")]
    quorum_size: Option<u64>,
    /// Signatures needed per DA quorum.
    #[arg(long = "da.threshold", env = "ZG_DEPLOY_DA_THRESHOLD")]
    threshold: Option<u64>,
    /// Most quorums per epoch.
    #[arg(long = "da.max-quorums", env = "ZG_DEPLOY_DA_MAX_QUORUMS")]
    max_quorums: Option<u64>,
    /// Fee per blob in wei.
    #[arg(long = "da.blob-fee", env = "ZG_DEPLOY_DA_BLOB_FEE")]
    blob_fee: Option<alloy::primitives::U256>,
    /// Blocks per sampling round (at most 256: seeds are block hashes).
    #[arg(long = "da.sample-period", env = "ZG_DEPLOY_DA_SAMPLE_PERIOD")]
    sample_period: Option<u64>,
    /// Also deploy 0G Storage's flow (`Flow.sol`, its own market) at this price in wei
    /// per 256-byte sector, for storage nodes and 0G's SDKs on that chain.
    #[arg(long = "storage.price-per-sector", env = "ZG_DEPLOY_STORAGE_PRICE_PER_SECTOR")]
    storage_price: Option<alloy::primitives::U256>,
    /// Seconds to wait for each creation's receipt.
    #[arg(long = "receipt-timeout", env = "ZG_DEPLOY_RECEIPT_TIMEOUT", default_value_t = 120)]
    receipt_timeout: u64,
}

async fn deploy(args: DeployArgs) -> eyre::Result<()> {
    use alloy::providers::{Provider, ProviderBuilder};
    use alloy::signers::local::PrivateKeySigner;
    let signer = match (&args.key, args.dev_account) {
        (Some(path), _) => {
            let text = std::fs::read_to_string(path)
                .wrap_err_with(|| format!("reading {}", path.display()))?;
            text.trim()
                .parse::<PrivateKeySigner>()
                .wrap_err("the key file must hold a hex private key")?
        }
        (None, Some(i)) => zg_chain::dev_account(i),
        (None, None) => eyre::bail!("give --key FILE or --dev-account N"),
    };
    let mut da = zg_chain::DaParams::default();
    let set = |v: Option<u64>, to: &mut u64| {
        if let Some(v) = v {
            *to = v;
        }
    };
    set(args.epoch_blocks, &mut da.epoch_blocks);
    set(args.quorum_size, &mut da.quorum_size);
    set(args.threshold, &mut da.quorum_threshold);
    set(args.max_quorums, &mut da.max_quorums);
    set(args.sample_period, &mut da.sample_period);
    if let Some(fee) = args.blob_fee {
        da.blob_fee = fee;
    }
    if da.sample_period == 0 || da.sample_period > 256 {
        eyre::bail!("--da.sample-period must be within 1..=256");
    }
    let deployer = signer.address();
    let provider = ProviderBuilder::new()
        .wallet(alloy::network::EthereumWallet::from(signer))
        .connect_http(args.rpc.parse().wrap_err("--rpc is not a URL")?)
        .erased();
    let chain_id = provider
        .get_chain_id()
        .await
        .wrap_err("reaching the chain")?;
    eprintln!("deploying the DA modules to chain {chain_id} from {deployer}");
    let m = zg_chain::contracts::deploy(&provider, &da, Duration::from_secs(args.receipt_timeout))
        .await?;
    println!("{}", serde_json::to_string(&m)?);
    println!(
        "--chain.signers-address {} --chain.entrance-address {} --chain.sampling-address {}",
        m.signers, m.entrance, m.sampling
    );
    if let Some(price) = args.storage_price {
        let flow = zg_chain::contracts::deploy_flow(
            &provider,
            price,
            Duration::from_secs(args.receipt_timeout),
        )
        .await?;
        println!("{}", serde_json::json!({ "flow": flow }));
        println!("--chain.flow-address {flow}");
    }
    Ok(())
}

#[tokio::main]
async fn main() -> eyre::Result<()> {
    let args = zg_node_kit::config::parse::<Args>();
    let _telemetry = args.log.init("zg-chain");
    match args.command {
        Some(Command::Deploy(d)) => return deploy(d).await,
        Some(Command::Keygen(k)) => return keygen(k),
        None => {}
    }
    let mut genesis = match &args.genesis {
        Some(p) => serde_json::from_slice::<Genesis>(
            &std::fs::read(p).wrap_err_with(|| format!("reading {}", p.display()))?,
        )
        .wrap_err("parsing the genesis file")?,
        None => Genesis::default(),
    };
    if let Some(id) = args.chain_id {
        genesis.chain_id = id;
    }
    if let Some(v) = args.epoch_blocks {
        genesis.da.epoch_blocks = v;
    }
    if let Some(v) = args.quorum_size {
        genesis.da.quorum_size = v;
    }
    if let Some(v) = args.threshold {
        genesis.da.quorum_threshold = v;
    }
    if let Some(v) = args.sample_period {
        genesis.da.sample_period = v;
    }
    if !(args.block_time.is_finite() && args.block_time >= 0.0) {
        eyre::bail!("--block-time must be a non-negative number of seconds");
    }
    let seconds = |v: f64, flag: &str| -> eyre::Result<Duration> {
        if !(v.is_finite() && v > 0.0) {
            eyre::bail!("{flag} must be a positive number of seconds");
        }
        Ok(Duration::from_secs_f64(v))
    };
    let mut rpc = zg_chain::config::RpcConfig {
        gas_cap: args.gas_cap,
        evm_timeout: seconds(args.evm_timeout, "--rpc.evm-timeout")?,
        state_history: args.state_history,
        ..Default::default()
    };
    if let Some(n) = args.max_heavy {
        rpc.max_heavy = n.max(1);
    }
    rpc.server = zg_node_kit::jsonrpc::RpcLimits {
        max_body: args.max_body,
        max_batch: args.max_batch.max(1),
        call_timeout: seconds(args.request_timeout, "--rpc.request-timeout")?,
        max_batch_response: args.max_batch_response.max(1),
        http: args.http.limits(),
    };
    let validator = match &args.consensus_key {
        None => None,
        Some(path) => {
            let mut peers = Vec::new();
            for p in &args.consensus_peers {
                let (id, addr) = p.split_once('=').ok_or_else(|| {
                    eyre::eyre!("--consensus.peer takes IDENTITY=HOST:PORT, not {p}")
                })?;
                peers.push((id.to_owned(), addr.to_owned()));
            }
            Some(zg_chain::config::ValidatorSettings {
                key: zg_chain::consensus::ValidatorKey::load(path)?,
                listen: args.consensus_listen,
                peers,
                timeouts: zg_chain::consensus::Timeouts {
                    leader: seconds(args.leader_timeout, "--consensus.leader-timeout")?,
                    certification: seconds(
                        args.certification_timeout,
                        "--consensus.certification-timeout",
                    )?,
                    ..Default::default()
                },
                proposal_layer: None,
            })
        }
    };
    let config = NodeConfig {
        coinbase: args.coinbase.unwrap_or_default(),
        validator,
        follow: args.follow.clone(),
        genesis,
        block_time: Duration::from_secs_f64(args.block_time),
        dev: args.dev,
        rpc,
        pool: PoolLimits {
            max: args.pool_max.max(1),
            per_sender: args.pool_per_sender.max(1),
            max_nonce_gap: args.pool_max_nonce_gap,
            lifetime: Duration::from_secs(args.pool_lifetime.max(1)),
        },
        ..NodeConfig::default()
    };
    let listener = tokio::net::TcpListener::bind(&args.http_addr)
        .await
        .wrap_err_with(|| format!("binding {}", args.http_addr))?;
    // The sampling module verifies KZG cell proofs: load the trusted setup (verification
    // only, no prover tables) off the startup path.
    std::thread::spawn(|| zg_primitives::Kzg::init_mainnet(zg_primitives::Precompute::None));
    let cancel = CancellationToken::new();
    let chain = zg_chain::start(&args.datadir, config, listener, cancel.clone()).await?;
    println!("zg-chain listening on {}", chain.rpc_url());
    let outcome = until_shutdown(chain.failed()).await;
    tracing::info!("shutting down");
    chain.shutdown().await?;
    outcome.wrap_err("zg-chain stopped")?;
    Ok(())
}
