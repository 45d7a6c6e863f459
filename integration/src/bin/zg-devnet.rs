//! `zg-devnet`: the whole stack on loopback in one command.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};
use zg_integration::{Component, Devnet, DevnetConfig, Plan, run_component, run_demo};
use zg_node_kit::LogArgs;
use zg_node_kit::runtime::{TempDir, shutdown_signal};

/// The zg-da devnet: chain, DA nodes, disperser and op-plugin on loopback.
#[derive(Debug, Parser)]
#[command(name = "zg-devnet", version, about)]
struct Cli {
    /// State directory (kept across runs); default: a fresh temporary directory removed
    /// at exit.
    #[arg(long = "datadir", env = "ZG_DEVNET_DATADIR")]
    datadir: Option<PathBuf>,
    /// DA nodes (the quorum size).
    #[arg(long = "nodes", env = "ZG_DEVNET_NODES", default_value_t = 8)]
    nodes: usize,
    /// Signatures needed to anchor (default: recovery set + 2).
    #[arg(long = "threshold", env = "ZG_DEVNET_THRESHOLD")]
    threshold: Option<usize>,
    /// Chain block time in seconds.
    #[arg(long = "block-time", env = "ZG_DEVNET_BLOCK_TIME", default_value_t = 1.0)]
    block_time: f64,
    /// Blocks per epoch.
    #[arg(long = "epoch-blocks", env = "ZG_DEVNET_EPOCH_BLOCKS", default_value_t = 100)]
    epoch_blocks: u64,
    /// Chain JSON-RPC address.
    #[arg(long = "chain.addr", env = "ZG_DEVNET_CHAIN_ADDR", default_value = "127.0.0.1:8545")]
    chain_addr: String,
    /// Disperser API address.
    #[arg(
        long = "disperser.addr",
        env = "ZG_DEVNET_DISPERSER_ADDR",
        default_value = "127.0.0.1:51001"
    )]
    disperser_addr: String,
    /// op-plugin address (op-batcher's and op-node's `--altda.da-server`).
    #[arg(long = "plugin.addr", env = "ZG_DEVNET_PLUGIN_ADDR", default_value = "127.0.0.1:3100")]
    plugin_addr: String,
    /// Anchor through the DA modules as Solidity contracts (deployed on the chain at the
    /// first start) instead of the bundled precompiles.
    #[arg(long = "contracts", env = "ZG_DEVNET_CONTRACTS")]
    contracts: bool,
    /// Once ready, put a batch through the op-plugin and get it back, and print a report.
    #[arg(long = "demo", env = "ZG_DEVNET_DEMO")]
    demo: bool,
    /// Light-client (sampler) API address.
    #[arg(long = "sampler.addr", env = "ZG_DEVNET_SAMPLER_ADDR", default_value = "127.0.0.1:3300")]
    sampler_addr: String,
    /// Storage node JSON-RPC address (0G's `zgs_*` and `kv_*`; 0G's default port).
    #[arg(long = "storage.addr", env = "ZG_DEVNET_STORAGE_ADDR", default_value = "127.0.0.1:5678")]
    storage_addr: String,
    /// Archive API address (the archiver keeps anchored payloads in the storage node).
    #[arg(
        long = "archiver.addr",
        env = "ZG_DEVNET_ARCHIVER_ADDR",
        default_value = "127.0.0.1:3200"
    )]
    archiver_addr: String,
    /// Run the archiver (the op-plugin's reads fall back to it).
    #[arg(
        long = "archiver",
        env = "ZG_DEVNET_ARCHIVER",
        default_value_t = true,
        action = clap::ArgAction::Set
    )]
    archiver: bool,
    /// Compute broker address (OpenAI-compatible API under `/v1/proxy`).
    #[arg(long = "compute.addr", env = "ZG_DEVNET_COMPUTE_ADDR", default_value = "127.0.0.1:3080")]
    compute_addr: String,
    /// OpenAI-compatible upstream of the broker (`…/v1`; default: the bundled
    /// deterministic echo server).
    #[arg(long = "compute.upstream", env = "ZG_DEVNET_COMPUTE_UPSTREAM")]
    compute_upstream: Option<String>,
    /// Write a configuration file per component (with the genesis and the dev keys) into
    /// this directory once started: templates to copy to real hosts.
    #[arg(long = "configs.out", env = "ZG_DEVNET_CONFIGS_OUT")]
    configs_out: Option<PathBuf>,
    /// Exit after the demo instead of serving until Ctrl-C.
    #[arg(long = "exit-after-demo", env = "ZG_DEVNET_EXIT_AFTER_DEMO")]
    exit_after_demo: bool,
    /// Chain validators agreeing blocks with BFT finality (validator 0 serves
    /// `--chain.addr`); 0 runs one dev block producer.
    #[arg(long = "validators", env = "ZG_DEVNET_VALIDATORS", default_value_t = 0)]
    validators: usize,
    #[command(flatten)]
    log: LogArgs,
    #[command(subcommand)]
    command: Option<Cmd>,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Run one component of the devnet as its own process (the fault tests use this);
    /// needs `--datadir` and the same top-level flags for every component.
    #[command(hide = true)]
    Component {
        /// chain, node, disperser, plugin, storage, archiver or compute.
        kind: String,
        /// Chain JSON-RPC URL (all but the chain).
        #[arg(long = "rpc")]
        rpc: Option<String>,
        /// Listen address of the component's HTTP server.
        #[arg(long = "addr", default_value = "127.0.0.1:0")]
        addr: std::net::SocketAddr,
        /// Node index.
        #[arg(long = "index", default_value_t = 0)]
        index: usize,
        /// Node libp2p TCP port.
        #[arg(long = "p2p-port", default_value_t = 0)]
        p2p_port: u16,
        /// op-plugin state directory.
        #[arg(long = "plugin-datadir")]
        plugin_datadir: Option<PathBuf>,
        /// op-plugin's disperser URL.
        #[arg(long = "disperser-url")]
        disperser_url: Option<String>,
        /// op-plugin's archives (comma-separated).
        #[arg(long = "archive-url", value_delimiter = ',')]
        archive_url: Vec<String>,
        /// The archiver's storage node URL.
        #[arg(long = "storage-url")]
        storage_url: Option<String>,
        /// DA node retention in seconds (default: the nodes' 14 days).
        #[arg(long = "da-retention")]
        da_retention: Option<u64>,
    },
}

#[tokio::main]
async fn main() -> eyre::Result<()> {
    let cli = zg_node_kit::config::parse::<Cli>();
    // The devnet prints its own summary; components log warnings and up unless RUST_LOG
    // says otherwise.
    let service = match &cli.command {
        Some(Cmd::Component { kind, index, .. }) if kind == "node" => format!("da-node-{index}"),
        Some(Cmd::Component { kind, .. }) => kind.clone(),
        None => "zg-devnet".into(),
    };
    let _telemetry = cli.log.init_with(&service, "warn,libp2p_kad=error");
    if !(cli.block_time.is_finite() && cli.block_time > 0.0) {
        eyre::bail!("--block-time must be a positive number of seconds");
    }
    if let Some(Cmd::Component {
        kind,
        rpc,
        addr,
        index,
        p2p_port,
        plugin_datadir,
        disperser_url,
        archive_url,
        storage_url,
        da_retention,
    }) = cli.command
    {
        let Some(datadir) = cli.datadir else {
            eyre::bail!("component: --datadir is required");
        };
        let mut config = DevnetConfig::new(datadir.clone());
        config.nodes = cli.nodes;
        config.threshold = cli.threshold;
        config.block_time = Duration::from_secs_f64(cli.block_time);
        config.epoch_blocks = cli.epoch_blocks.max(2);
        config.contracts = cli.contracts;
        config.validators = cli.validators;
        config.da_retention = da_retention.map(Duration::from_secs);
        let component = match kind.as_str() {
            "chain" => Component::Chain { index },
            "node" => Component::Node { index, p2p_port },
            "disperser" => Component::Disperser,
            "storage" => Component::Storage,
            "compute" => Component::Compute {
                upstream: cli.compute_upstream.clone(),
            },
            "plugin" => Component::Plugin {
                datadir: plugin_datadir.unwrap_or_else(|| datadir.join("op-plugin")),
                disperser: disperser_url
                    .ok_or_else(|| eyre::eyre!("plugin: --disperser-url is required"))?,
                archives: archive_url,
            },
            "archiver" => Component::Archiver {
                storage: storage_url
                    .ok_or_else(|| eyre::eyre!("archiver: --storage-url is required"))?,
            },
            other => eyre::bail!("unknown component {other:?}"),
        };
        if let Component::Node { index, .. } = component
            && index >= config.nodes
        {
            eyre::bail!("node index {index} out of range (--nodes {})", config.nodes);
        }
        run_component(Plan::new(config)?, component, rpc, addr).await?;
        return Ok(());
    }
    let (datadir, _temp) = match &cli.datadir {
        Some(d) => (d.clone(), None),
        None => {
            let d = std::env::temp_dir().join(format!("zg-devnet-{}", std::process::id()));
            (d.clone(), Some(TempDir(d)))
        }
    };
    let mut config = DevnetConfig::new(datadir.clone());
    config.nodes = cli.nodes;
    config.threshold = cli.threshold;
    config.block_time = Duration::from_secs_f64(cli.block_time);
    config.epoch_blocks = cli.epoch_blocks.max(2);
    config.contracts = cli.contracts;
    config.chain_addr = cli.chain_addr.parse()?;
    config.disperser_addr = cli.disperser_addr.parse()?;
    config.plugin_addr = cli.plugin_addr.parse()?;
    config.sampler_addr = cli.sampler_addr.parse()?;
    config.storage_addr = cli.storage_addr.parse()?;
    config.compute_addr = cli.compute_addr.parse()?;
    config.compute_upstream = cli.compute_upstream.clone();
    config.validators = cli.validators;
    config.archiver = cli.archiver;
    config.archiver_addr = cli.archiver_addr.parse()?;
    let threshold = config.threshold()?;
    println!(
        "zg-devnet: starting {} DA nodes (threshold {threshold}) in {}",
        config.nodes,
        datadir.display()
    );
    let devnet = Devnet::start(config).await?;
    for (name, addr) in devnet.endpoints() {
        println!("  {name:<16} {addr}");
    }
    if let Some(dir) = &cli.configs_out {
        let files = devnet.write_configs(dir)?;
        println!(
            "  {:<16} {} files in {}",
            "configs",
            files.len(),
            dir.display()
        );
    }
    println!("zg-devnet ready");
    let mut failed = None;
    if cli.demo {
        let endpoints = devnet.demo_endpoints();
        match run_demo(&endpoints, |line| println!("{line}")).await {
            Ok(r) => {
                println!("demo ok");
                println!(
                    "  batch {} bytes · put {:.2} s · get {:.0} ms (cached) / {:.0} ms (from DA nodes) · keccak put {:.2} s · keccak get {:.0} ms",
                    r.batch_bytes,
                    r.put.as_secs_f64(),
                    r.get.as_secs_f64() * 1e3,
                    r.cold_get.as_secs_f64() * 1e3,
                    r.keccak_put.as_secs_f64(),
                    r.keccak_get.as_secs_f64() * 1e3
                );
                println!(
                    "  light client: available at confidence {:.6}, {:.2} s after the put",
                    r.confidence,
                    r.to_confidence.as_secs_f64()
                );
                println!(
                    "  L1 calldata op-batcher posts: 0x01{}",
                    &r.commitment.to_hex()[2..]
                );
                println!(
                    "  storage: 1 MiB file {} · upload {:.2} s · verified download {:.0} ms",
                    r.storage_root,
                    r.storage_put.as_secs_f64(),
                    r.storage_get.as_secs_f64() * 1e3
                );
                if let Some(a) = r.archived {
                    println!(
                        "  archive: the batch in zg-storage, served by data_root {:.2} s after its put",
                        a.as_secs_f64()
                    );
                }
                println!(
                    "  compute: {:?} · {} wei · answered in {:.0} ms · settled on chain {:.2} s later",
                    r.compute_reply,
                    r.compute_fee,
                    r.compute_call.as_secs_f64() * 1e3,
                    r.compute_settled.as_secs_f64()
                );
            }
            Err(e) => {
                println!("demo failed: {e}");
                failed = Some(e);
            }
        }
    }
    if !(cli.demo && cli.exit_after_demo) {
        shutdown_signal().await;
    }
    println!("zg-devnet: shutting down");
    devnet.shutdown().await?;
    println!("zg-devnet: stopped");
    match failed {
        Some(e) => Err(e.into()),
        None => Ok(()),
    }
}
