//! `zg-sampler`: the data-availability light client.

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use eyre::WrapErr;
use tokio_util::sync::CancellationToken;
use zg_da_client::{ChainArgs, NetConfig};
use zg_node_kit::{HttpArgs, LogArgs, until_shutdown};
use zg_sampler::{ClientConfig, SamplerConfig};

/// Data-availability sampling light client of the zg-da stack.
#[derive(Debug, Parser)]
#[command(name = "zg-sampler", version, about)]
struct Cli {
    #[command(flatten)]
    chain: ChainArgs,
    /// Blocks an anchor must be buried under before it is sampled.
    #[arg(long = "chain.confirmations", env = "ZG_SAMPLER_CONFIRMATIONS", default_value_t = 0)]
    confirmations: u64,
    /// First block to follow when there is no checkpoint.
    #[arg(long = "chain.start-block", env = "ZG_SAMPLER_START_BLOCK", default_value_t = 0)]
    start_block: u64,
    /// API listen address.
    #[arg(long = "http.addr", env = "ZG_SAMPLER_HTTP_ADDR", default_value = "127.0.0.1:3300")]
    http_addr: String,
    /// Directory of the checkpoint and results.
    #[arg(long = "datadir", env = "ZG_SAMPLER_DATADIR", default_value = "./data/sampler")]
    datadir: PathBuf,
    /// Columns sampled per payload (raised to what the target needs).
    #[arg(long = "samples", env = "ZG_SAMPLER_SAMPLES", default_value_t = 16)]
    samples: usize,
    /// Confidence at which a payload is available.
    #[arg(long = "target", env = "ZG_SAMPLER_TARGET", default_value_t = 0.9999)]
    target: f64,
    /// Payloads sampled at once.
    #[arg(long = "concurrency", env = "ZG_SAMPLER_CONCURRENCY", default_value_t = 4)]
    concurrency: usize,
    /// Seconds allowed per sample request.
    #[arg(long = "p2p.request-timeout", env = "ZG_SAMPLER_P2P_TIMEOUT", default_value_t = 10)]
    timeout: u64,
    /// Results kept in memory.
    #[arg(long = "max-results", env = "ZG_SAMPLER_MAX_RESULTS", default_value_t = 100_000)]
    max_results: usize,
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
    let _telemetry = cli.log.init("zg-sampler");
    // A light client only verifies: no prover tables (≈ 100 MB less, faster start).
    zg_primitives::Kzg::init_mainnet(zg_primitives::Precompute::None);
    if !(cli.target > 0.0 && cli.target < 1.0) {
        eyre::bail!("--target must be between 0 and 1");
    }
    let sampler = SamplerConfig {
        samples: cli.samples.clamp(1, 128),
        target: cli.target,
        timeout: Duration::from_secs(cli.timeout.max(1)),
        ..SamplerConfig::default()
    };
    let mut config = ClientConfig::new(cli.datadir.clone());
    config.http = cli.http.limits();
    config.confirmations = cli.confirmations;
    config.start_block = cli.start_block;
    config.concurrency = cli.concurrency.max(1);
    config.max_results = cli.max_results.max(1);
    config.verify = cli.verify.config()?;
    let http = tokio::net::TcpListener::bind(&cli.http_addr)
        .await
        .wrap_err_with(|| format!("binding {}", cli.http_addr))?;
    let net = NetConfig {
        request_timeout: Duration::from_secs(cli.timeout.max(1)),
        ..NetConfig::default()
    };
    let running = zg_sampler::start(
        cli.chain.config(),
        net,
        sampler,
        config,
        http,
        CancellationToken::new(),
    )
    .await?;
    println!("zg-sampler listening on {}", running.url());
    let outcome = until_shutdown(running.failed()).await;
    tracing::info!("shutting down");
    running.shutdown().await;
    Ok(outcome?)
}
