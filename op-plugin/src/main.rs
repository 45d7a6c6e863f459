//! `zg-op-plugin`: the OP Stack alt-DA server (point op-batcher's and op-node's
//! `--altda.da-server` at it).

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use eyre::WrapErr;
use tokio_util::sync::CancellationToken;
use zg_da_client::{ChainArgs, NetConfig};
use zg_node_kit::{HttpArgs, LogArgs, until_shutdown};
use zg_op_plugin::{DEFAULT_MAX_BLOB_SIZE, PluginConfig, UpstreamConfig};

/// OP Stack alt-DA server of the zg-da stack.
#[derive(Debug, Parser)]
#[command(name = "zg-op-plugin", version, about)]
struct Cli {
    /// Listen address of the alt-DA API (the OP convention is port 3100).
    #[arg(long = "addr", env = "ZG_OP_PLUGIN_ADDR", default_value = "127.0.0.1:3100")]
    addr: String,
    /// Directory of the plugin's store (keccak mappings, payload cache).
    #[arg(long = "datadir", env = "ZG_OP_PLUGIN_DATADIR", default_value = "./data/op-plugin")]
    datadir: PathBuf,
    /// Disperser API URL.
    #[arg(
        long = "disperser.url",
        env = "ZG_OP_PLUGIN_DISPERSER_URL",
        default_value = "http://127.0.0.1:51001"
    )]
    disperser_url: String,
    /// Bearer token for the disperser API.
    #[arg(long = "disperser.token", env = "ZG_OP_PLUGIN_DISPERSER_TOKEN")]
    disperser_token: Option<String>,
    #[command(flatten)]
    chain: ChainArgs,
    /// Seconds a put waits for its certificate before answering 503.
    #[arg(long = "put.timeout", env = "ZG_OP_PLUGIN_PUT_TIMEOUT", default_value_t = 120)]
    put_timeout: u64,
    /// Seconds a get may spend on DA retrieval before answering 503.
    #[arg(long = "get.timeout", env = "ZG_OP_PLUGIN_GET_TIMEOUT", default_value_t = 60)]
    get_timeout: u64,
    /// Per-request libp2p timeout in seconds (retrieval from DA nodes).
    #[arg(
        long = "p2p.request-timeout",
        env = "ZG_OP_PLUGIN_P2P_REQUEST_TIMEOUT",
        default_value_t = 30
    )]
    p2p_timeout: u64,
    /// Bytes of recent payloads cached for gets.
    #[arg(long = "cache.bytes", env = "ZG_OP_PLUGIN_CACHE_BYTES", default_value_t = 512 * 1024 * 1024)]
    cache_bytes: u64,
    /// Largest put body in bytes (413 above).
    #[arg(long = "max-blob-size", env = "ZG_OP_PLUGIN_MAX_BLOB_SIZE", default_value_t = DEFAULT_MAX_BLOB_SIZE)]
    max_blob_size: usize,
    /// Check that generic commitments are anchored on chain before serving them.
    #[arg(
        long = "verify-on-read",
        env = "ZG_OP_PLUGIN_VERIFY_ON_READ",
        default_value_t = true,
        action = clap::ArgAction::Set
    )]
    verify_on_read: bool,
    /// Refuse put bodies that are not OP derivation data (version 0 frames) with 400.
    #[arg(long = "strict-frames", env = "ZG_OP_PLUGIN_STRICT_FRAMES")]
    strict_frames: bool,
    #[command(flatten)]
    verify: zg_da_client::VerifyArgs,
    #[command(flatten)]
    log: LogArgs,
    #[command(flatten)]
    http: HttpArgs,
}

#[tokio::main]
async fn main() -> eyre::Result<()> {
    let cli = zg_node_kit::config::parse::<Cli>();
    cli.log.init();
    let mut config = PluginConfig::new(cli.datadir.clone());
    config.http = cli.http.limits();
    config.max_blob_size = cli.max_blob_size;
    config.put_timeout = Duration::from_secs(cli.put_timeout);
    config.get_timeout = Duration::from_secs(cli.get_timeout);
    config.cache_bytes = cli.cache_bytes;
    config.verify_on_read = cli.verify_on_read;
    config.strict_frames = cli.strict_frames;
    config.verify = cli.verify.config()?;
    let chain = cli.chain.config();
    let net = NetConfig {
        request_timeout: Duration::from_secs(cli.p2p_timeout),
        ..NetConfig::default()
    };
    let upstream = UpstreamConfig::Remote {
        url: cli.disperser_url.clone(),
        token: cli.disperser_token.clone(),
        chain,
        net,
    };
    let listener = tokio::net::TcpListener::bind(&cli.addr)
        .await
        .wrap_err_with(|| format!("binding {}", cli.addr))?;
    let running = zg_op_plugin::start(config, upstream, listener, CancellationToken::new()).await?;
    println!("zg-op-plugin listening on {}", running.url());
    let outcome = until_shutdown(running.failed()).await;
    tracing::info!("shutting down");
    running.shutdown().await?;
    outcome?;
    Ok(())
}
