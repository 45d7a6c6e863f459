//! `zg-archiver`: keeps DA payloads retrievable after the DA window (point op-plugin's
//! `--archive.url` at it).

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use eyre::WrapErr;
use tokio_util::sync::CancellationToken;
use zg_archiver::{ArchiverConfig, SecondaryConfig};
use zg_da_client::{ChainArgs, NetConfig};
use zg_node_kit::{HttpArgs, LogArgs, until_shutdown};

/// Archiver of the zg-da stack: anchored payloads into zg-storage, served by data_root.
#[derive(Debug, Parser)]
#[command(name = "zg-archiver", version, about)]
struct Cli {
    /// Listen address of the archive API.
    #[arg(long = "addr", env = "ZG_ARCHIVER_ADDR", default_value = "127.0.0.1:3200")]
    addr: String,
    /// Directory of the index.
    #[arg(long = "datadir", env = "ZG_ARCHIVER_DATADIR", default_value = "./data/archiver")]
    datadir: PathBuf,
    /// Storage nodes to upload to and read from (comma-separated JSON-RPC URLs).
    #[arg(
        long = "storage.url",
        env = "ZG_ARCHIVER_STORAGE_URL",
        value_delimiter = ',',
        required = true
    )]
    storage: Vec<String>,
    /// The paying account's key: a Web3 Secret Storage file (password from
    /// `--key.password-file` or `ZG_KEY_PASSWORD`) or a file with a hex private key.
    #[arg(long = "key.file", env = "ZG_ARCHIVER_KEY_FILE")]
    key_file: PathBuf,
    /// A file whose first line is the keystore password.
    #[arg(long = "key.password-file", env = "ZG_KEY_PASSWORD_FILE")]
    password_file: Option<PathBuf>,
    #[command(flatten)]
    chain: ChainArgs,
    /// The DA nodes' retention window in seconds: the first start backfills this far
    /// back, and older anchors whose payload is gone are recorded as missed.
    #[arg(long = "da.retention", env = "ZG_ARCHIVER_DA_RETENTION", default_value_t = 14 * 24 * 3600)]
    retention: u64,
    /// Seconds of safety margin: `/health` turns 503 once the lag exceeds retention
    /// minus this.
    #[arg(long = "lag.margin", env = "ZG_ARCHIVER_LAG_MARGIN", default_value_t = 24 * 3600)]
    lag_margin: u64,
    /// First block to follow on first start (default: the first block inside the
    /// retention window).
    #[arg(long = "from-block", env = "ZG_ARCHIVER_FROM_BLOCK")]
    from_block: Option<u64>,
    /// Payloads archived at once.
    #[arg(long = "concurrency", env = "ZG_ARCHIVER_CONCURRENCY", default_value_t = 4)]
    concurrency: usize,
    /// Milliseconds between polls of the final head once caught up.
    #[arg(long = "poll.interval-ms", env = "ZG_ARCHIVER_POLL_INTERVAL_MS", default_value_t = 1000)]
    poll_ms: u64,
    /// Seconds per payload retrieval from the DA nodes.
    #[arg(long = "retrieve.timeout", env = "ZG_ARCHIVER_RETRIEVE_TIMEOUT", default_value_t = 60)]
    retrieve_timeout: u64,
    /// Per-request libp2p timeout in seconds.
    #[arg(
        long = "p2p.request-timeout",
        env = "ZG_ARCHIVER_P2P_REQUEST_TIMEOUT",
        default_value_t = 30
    )]
    p2p_timeout: u64,
    /// Bytes of recently read payloads kept in memory (range requests).
    #[arg(long = "cache.bytes", env = "ZG_ARCHIVER_CACHE_BYTES", default_value_t = 64 << 20)]
    cache_bytes: usize,
    /// Object-store secondary written through after each upload: `s3://bucket[/prefix]`
    /// (credentials from `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY`) or
    /// `file:///dir`.
    #[arg(long = "secondary.url", env = "ZG_ARCHIVER_SECONDARY_URL")]
    secondary_url: Option<String>,
    /// S3-compatible endpoint of the secondary (MinIO, R2, a local server).
    #[arg(long = "secondary.endpoint", env = "ZG_ARCHIVER_SECONDARY_ENDPOINT")]
    secondary_endpoint: Option<String>,
    /// Allow plain HTTP to the secondary's endpoint.
    #[arg(long = "secondary.allow-http", env = "ZG_ARCHIVER_SECONDARY_ALLOW_HTTP")]
    secondary_allow_http: bool,
    /// Region of the secondary's bucket (default `AWS_REGION`, else us-east-1).
    #[arg(long = "secondary.region", env = "ZG_ARCHIVER_SECONDARY_REGION")]
    secondary_region: Option<String>,
    #[command(flatten)]
    log: LogArgs,
    #[command(flatten)]
    http: HttpArgs,
}

#[tokio::main]
async fn main() -> eyre::Result<()> {
    let cli = zg_node_kit::config::parse::<Cli>();
    let _telemetry = cli.log.init("zg-archiver");
    let signer = zg_node_kit::read_eth_key(&cli.key_file, cli.password_file.as_deref())?;
    let mut config = ArchiverConfig::new(cli.datadir.clone(), cli.storage.clone());
    config.retention = Duration::from_secs(cli.retention);
    config.lag_margin = Duration::from_secs(cli.lag_margin);
    config.from_block = cli.from_block;
    config.concurrency = cli.concurrency.max(1);
    config.poll_interval = Duration::from_millis(cli.poll_ms.max(10));
    config.retrieve_timeout = Duration::from_secs(cli.retrieve_timeout.max(1));
    config.cache_bytes = cli.cache_bytes;
    config.http = cli.http.limits();
    let net = NetConfig {
        request_timeout: Duration::from_secs(cli.p2p_timeout.max(1)),
        ..NetConfig::default()
    };
    let secondary = cli.secondary_url.clone().map(|url| SecondaryConfig {
        url,
        endpoint: cli.secondary_endpoint.clone(),
        allow_http: cli.secondary_allow_http,
        region: cli.secondary_region.clone(),
        credentials: None,
    });
    let listener = tokio::net::TcpListener::bind(&cli.addr)
        .await
        .wrap_err_with(|| format!("binding {}", cli.addr))?;
    let running = zg_archiver::start(
        config,
        cli.chain.config(),
        signer,
        net,
        secondary,
        listener,
        CancellationToken::new(),
    )
    .await?;
    println!("zg-archiver listening on {}", running.url());
    let outcome = until_shutdown(running.failed()).await;
    tracing::info!("shutting down");
    running.shutdown().await?;
    outcome?;
    Ok(())
}
