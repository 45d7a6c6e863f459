//! `zg-compute-broker`: the compute provider broker, the deterministic echo upstream,
//! and a session-token (API key) tool.

use std::path::{Path, PathBuf};
use std::time::Duration;

use alloy::signers::local::PrivateKeySigner;
use alloy_primitives::{Address, U256};
use clap::{Parser, Subcommand};
use eyre::WrapErr;
use tokio_util::sync::CancellationToken;
use zg_compute::{BrokerConfig, ServiceSpec, SessionToken};
use zg_node_kit::runtime::shutdown_signal;
use zg_node_kit::{ChainRpcArgs, HttpArgs, LogArgs};
use zg_primitives::abi::SERVING_ADDRESS;

/// 0G-compatible compute provider broker.
#[derive(Debug, Parser)]
#[command(name = "zg-compute-broker", version, about)]
struct Cli {
    #[command(flatten)]
    log: LogArgs,
    #[command(flatten)]
    http: HttpArgs,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Run the broker.
    Serve(Box<ServeArgs>),
    /// Run the deterministic OpenAI-compatible echo upstream.
    EchoUpstream {
        /// Listen address.
        #[arg(long = "addr", env = "ZG_ECHO_ADDR", default_value = "127.0.0.1:8000")]
        addr: String,
    },
    /// Print an `app-sk-…` API key (an ephemeral session token) for a user.
    ApiKey {
        /// The user's private key (hex).
        #[arg(long = "key", env = "ZG_COMPUTE_USER_KEY")]
        key: String,
        /// The provider address.
        #[arg(long = "provider", env = "ZG_COMPUTE_PROVIDER")]
        provider: Address,
        /// The account's token generation (`getAccount(user, provider).generation`).
        #[arg(long = "generation", default_value_t = 0)]
        generation: u64,
        /// Validity in seconds (at most 86400).
        #[arg(long = "ttl", default_value_t = 86_400)]
        ttl: u64,
    },
}

#[derive(Debug, clap::Args)]
struct ServeArgs {
    /// Listen address.
    #[arg(long = "addr", env = "ZG_COMPUTE_ADDR", default_value = "127.0.0.1:3080")]
    addr: String,
    /// Store directory.
    #[arg(long = "datadir", env = "ZG_COMPUTE_DATADIR", default_value = "./data/compute-broker")]
    datadir: PathBuf,
    #[command(flatten)]
    chain: ChainRpcArgs,
    /// The inference-serving contract (the bundled chain's module by default).
    #[arg(long = "serving.address", env = "ZG_COMPUTE_SERVING_ADDRESS", default_value_t = SERVING_ADDRESS)]
    serving: Address,
    /// The provider account's private key (hex).
    #[arg(long = "provider.key", env = "ZG_COMPUTE_PROVIDER_KEY")]
    provider_key: String,
    /// The settlement signer's private key (hex); default: one generated once and kept
    /// in `<datadir>/tee.key`.
    #[arg(long = "tee.key", env = "ZG_COMPUTE_TEE_KEY")]
    tee_key: Option<String>,
    /// OpenAI-compatible upstream base URL, including `/v1`.
    #[arg(
        long = "upstream.url",
        env = "ZG_COMPUTE_UPSTREAM_URL",
        default_value = "http://127.0.0.1:8000/v1"
    )]
    upstream_url: String,
    /// Bearer key for the upstream.
    #[arg(long = "upstream.key", env = "ZG_COMPUTE_UPSTREAM_KEY")]
    upstream_key: Option<String>,
    /// Upstream timeout, seconds.
    #[arg(long = "upstream.timeout", env = "ZG_COMPUTE_UPSTREAM_TIMEOUT", default_value_t = 600)]
    upstream_timeout: u64,
    /// Wei a sub-account must keep free beyond its unsettled fees.
    #[arg(
        long = "min-locked-balance",
        env = "ZG_COMPUTE_MIN_LOCKED_BALANCE",
        default_value = "1000000000000000"
    )]
    min_locked_balance: U256,
    /// Seconds between settlement rounds.
    #[arg(long = "settle.interval", env = "ZG_COMPUTE_SETTLE_INTERVAL", default_value_t = 300.0)]
    settle_interval: f64,
    /// Wei of unsettled fees that trigger an immediate settlement of a user.
    #[arg(
        long = "settle.threshold",
        env = "ZG_COMPUTE_SETTLE_THRESHOLD",
        default_value = "1000000000000000000"
    )]
    settle_threshold: U256,
    /// Requests one user may have in progress at once (429 above).
    #[arg(
        long = "max-user-concurrency",
        env = "ZG_COMPUTE_MAX_USER_CONCURRENCY",
        default_value_t = 5
    )]
    max_user_concurrency: usize,
    /// Largest request body, bytes (413 above).
    #[arg(long = "max-body-bytes", env = "ZG_COMPUTE_MAX_BODY_BYTES", default_value_t = 32 * 1024 * 1024)]
    max_body_bytes: usize,
    /// Register (or update) the service on chain at start.
    #[arg(long = "service.register", env = "ZG_COMPUTE_SERVICE_REGISTER")]
    register: bool,
    /// Public URL of this broker (default: http://<addr>).
    #[arg(long = "service.url", env = "ZG_COMPUTE_SERVICE_URL")]
    service_url: Option<String>,
    /// Model name.
    #[arg(long = "service.model", env = "ZG_COMPUTE_SERVICE_MODEL", default_value = zg_compute::upstream::ECHO_MODEL)]
    model: String,
    /// Service type.
    #[arg(long = "service.type", env = "ZG_COMPUTE_SERVICE_TYPE", default_value = "chatbot")]
    service_type: String,
    /// Verifiability (`TeeML` or `standard`).
    #[arg(
        long = "service.verifiability",
        env = "ZG_COMPUTE_SERVICE_VERIFIABILITY",
        default_value = "TeeML"
    )]
    verifiability: String,
    /// Wei per prompt token.
    #[arg(
        long = "service.input-price",
        env = "ZG_COMPUTE_SERVICE_INPUT_PRICE",
        default_value = "1000000000"
    )]
    input_price: U256,
    /// Wei per completion token.
    #[arg(
        long = "service.output-price",
        env = "ZG_COMPUTE_SERVICE_OUTPUT_PRICE",
        default_value = "2000000000"
    )]
    output_price: U256,
    /// Stake paid on first registration, wei.
    #[arg(
        long = "service.stake",
        env = "ZG_COMPUTE_SERVICE_STAKE",
        default_value = "100000000000000000000"
    )]
    stake: U256,
}

fn parse_key(hex_key: &str) -> eyre::Result<PrivateKeySigner> {
    hex_key
        .trim()
        .parse::<PrivateKeySigner>()
        .wrap_err("not a hex secp256k1 private key")
}

/// The settlement key kept in `path` (mode 0600, refused when others can read it),
/// created atomically on first use.
fn tee_key_file(path: &Path) -> eyre::Result<PrivateKeySigner> {
    if path.exists() {
        let bytes = zg_node_kit::read_secret(path)?;
        return parse_key(&String::from_utf8_lossy(&bytes));
    }
    let k = PrivateKeySigner::random();
    zg_node_kit::write_secret(path, hex::encode(k.to_bytes()).as_bytes())?;
    Ok(k)
}

#[tokio::main]
async fn main() -> eyre::Result<()> {
    let cli = zg_node_kit::config::parse::<Cli>();
    let _telemetry = cli.log.init("zg-compute-broker");
    match cli.cmd {
        Cmd::EchoUpstream { addr } => {
            let listener = tokio::net::TcpListener::bind(&addr)
                .await
                .wrap_err_with(|| format!("binding {addr}"))?;
            println!(
                "echo upstream listening on http://{}/v1",
                listener.local_addr()?
            );
            zg_compute::upstream::serve_echo(listener, shutdown_signal()).await?;
        }
        Cmd::ApiKey {
            key,
            provider,
            generation,
            ttl,
        } => {
            let key = parse_key(&key)?;
            let t = SessionToken::ephemeral(
                key.address(),
                provider,
                generation,
                ttl.min(86_400) * 1000,
            );
            println!("{}", t.api_key(&key));
        }
        Cmd::Serve(a) => {
            std::fs::create_dir_all(&a.datadir)
                .wrap_err_with(|| format!("creating {}", a.datadir.display()))?;
            let provider_key = parse_key(&a.provider_key)?;
            let tee_key = match &a.tee_key {
                Some(k) => parse_key(k)?,
                None => tee_key_file(&a.datadir.join("tee.key"))?,
            };
            let listener = tokio::net::TcpListener::bind(&a.addr)
                .await
                .wrap_err_with(|| format!("binding {}", a.addr))?;
            let url = a
                .service_url
                .clone()
                .unwrap_or_else(|| format!("http://{}", listener.local_addr().expect("bound")));
            let mut c = BrokerConfig::new(
                a.datadir.clone(),
                a.chain.chain_rpc.clone(),
                provider_key,
                tee_key,
                a.upstream_url.clone(),
            );
            c.serving = a.serving;
            c.http = cli.http.limits();
            c.upstream_key = a.upstream_key.clone();
            c.upstream_timeout = Duration::from_secs(a.upstream_timeout);
            c.min_locked_balance = a.min_locked_balance;
            c.settle_interval = Duration::from_secs_f64(a.settle_interval.max(0.1));
            c.settle_threshold = a.settle_threshold;
            c.max_user_concurrency = a.max_user_concurrency;
            c.max_body_bytes = a.max_body_bytes;
            if a.register {
                c.register = Some(ServiceSpec {
                    service_type: a.service_type.clone(),
                    url,
                    model: a.model.clone(),
                    verifiability: a.verifiability.clone(),
                    input_price: a.input_price,
                    output_price: a.output_price,
                    additional_info: "{}".into(),
                    stake: a.stake,
                });
            }
            let broker = zg_compute::start(c, listener, CancellationToken::new()).await?;
            println!(
                "zg-compute-broker listening on {} (provider {})",
                broker.url(),
                broker.provider()
            );
            let outcome = zg_node_kit::until_shutdown(broker.failed()).await;
            tracing::info!("shutting down");
            broker.shutdown().await;
            outcome.wrap_err("zg-compute-broker stopped")?;
        }
    }
    Ok(())
}
