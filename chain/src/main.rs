//! `zg-chain`: the bundled EVM chain node.

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use eyre::WrapErr;
use tokio_util::sync::CancellationToken;
use zg_chain::{Genesis, NodeConfig};
use zg_primitives::runtime::{init_tracing, shutdown_signal};

/// The bundled EVM chain node with the DA modules.
#[derive(Debug, Parser)]
#[command(name = "zg-chain", version, about)]
struct Args {
    /// Data directory (created if missing).
    #[arg(
        long = "datadir",
        env = "ZG_CHAIN_DATADIR",
        default_value = "./data/chain"
    )]
    datadir: PathBuf,
    /// JSON-RPC listen address.
    #[arg(
        long = "http.addr",
        env = "ZG_CHAIN_HTTP_ADDR",
        default_value = "127.0.0.1:8545"
    )]
    http_addr: String,
    /// Block interval in seconds (fractions allowed); 0 mines each transaction at once.
    #[arg(
        long = "block-time",
        env = "ZG_CHAIN_BLOCK_TIME",
        default_value_t = 1.0
    )]
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
    /// Log format: text or json.
    #[arg(long = "log.format", env = "ZG_LOG_FORMAT", default_value = "text")]
    log_format: String,
}

#[tokio::main]
async fn main() -> eyre::Result<()> {
    let args = Args::parse();
    init_tracing(&args.log_format);
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
    let config = NodeConfig {
        genesis,
        block_time: Duration::from_secs_f64(args.block_time),
        max_request_bytes: args.max_body,
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
    tokio::select! {
        _ = shutdown_signal() => tracing::info!("shutting down"),
        _ = chain.cancelled() => tracing::error!("node stopped"),
    }
    chain.shutdown().await?;
    Ok(())
}
