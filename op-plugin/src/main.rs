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
    /// Archives (zg-archiver base URLs, comma-separated) read in order when the DA nodes
    /// cannot serve a payload; their bytes must re-derive the certificate's data_root.
    #[arg(long = "archive.url", env = "ZG_OP_PLUGIN_ARCHIVE_URL", value_delimiter = ',')]
    archives: Vec<String>,
    /// Seconds per archive read.
    #[arg(long = "archive.timeout", env = "ZG_OP_PLUGIN_ARCHIVE_TIMEOUT", default_value_t = 30)]
    archive_timeout: u64,
    /// Share keccak-mode mappings with other replicas through this zg-storage KV stream
    /// (a 32-byte id; needs `--replicas.kv-url`).
    #[arg(long = "replicas.stream", env = "ZG_OP_PLUGIN_REPLICAS_STREAM")]
    replicas_stream: Option<alloy_primitives::B256>,
    /// The storage node replaying the stream (JSON-RPC URL; writes are uploaded to it).
    #[arg(long = "replicas.kv-url", env = "ZG_OP_PLUGIN_REPLICAS_KV_URL")]
    replicas_kv_url: Option<String>,
    /// The key writing mappings and paying their flow fees (a Web3 keystore, password from
    /// `--key.password-file` or `ZG_KEY_PASSWORD`, or a hex key file); without it the
    /// replica only reads the stream.
    #[arg(long = "replicas.key-file", env = "ZG_OP_PLUGIN_REPLICAS_KEY_FILE")]
    replicas_key: Option<PathBuf>,
    /// A file whose first line is the keystore password.
    #[arg(long = "key.password-file", env = "ZG_KEY_PASSWORD_FILE")]
    password_file: Option<PathBuf>,
    /// Seconds a mapping's write may take (submission, upload, replay).
    #[arg(
        long = "replicas.write-timeout",
        env = "ZG_OP_PLUGIN_REPLICAS_WRITE_TIMEOUT",
        default_value_t = 60
    )]
    replicas_write_timeout: u64,
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
    let _telemetry = cli.log.init("zg-op-plugin");
    let mut config = PluginConfig::new(cli.datadir.clone());
    config.http = cli.http.limits();
    config.max_blob_size = cli.max_blob_size;
    config.put_timeout = Duration::from_secs(cli.put_timeout);
    config.get_timeout = Duration::from_secs(cli.get_timeout);
    config.cache_bytes = cli.cache_bytes;
    config.verify_on_read = cli.verify_on_read;
    config.strict_frames = cli.strict_frames;
    config.verify = cli.verify.config()?;
    config.archives = cli.archives.clone();
    config.archive_timeout = Duration::from_secs(cli.archive_timeout.max(1));
    config.replicas = match (cli.replicas_stream, &cli.replicas_kv_url) {
        (Some(stream), Some(kv_url)) => Some(zg_op_plugin::ReplicaConfig {
            stream,
            kv_url: kv_url.clone(),
            writer: cli
                .replicas_key
                .as_ref()
                .map(|k| zg_node_kit::read_eth_key(k, cli.password_file.as_deref()))
                .transpose()?,
            chain_rpc: cli.chain.config().rpc_url,
            write_timeout: Duration::from_secs(cli.replicas_write_timeout.max(1)),
        }),
        (None, None) => None,
        _ => eyre::bail!("--replicas.stream and --replicas.kv-url go together"),
    };
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
