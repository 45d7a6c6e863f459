//! `zg-storage`: the storage node, and upload/download from the command line.

use std::path::PathBuf;
use std::time::Duration;

use alloy::signers::local::PrivateKeySigner;
use alloy_primitives::{Address, B256};
use clap::{Args, Parser, Subcommand};
use eyre::WrapErr;
use tokio_util::sync::CancellationToken;
use zg_node_kit::{ChainRpcArgs, HttpArgs, LogArgs};
use zg_primitives::abi::FLOW_ADDRESS;
use zg_storage::{
    ApiLimits, ClusterConfig, Downloader, NodeClient, NodeConfig, UploadOptions, Uploader,
};

/// 0G-Storage-compatible storage node of the zg-da stack.
#[derive(Debug, Parser)]
#[command(name = "zg-storage", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    log: LogArgs,
    #[command(flatten)]
    http: HttpArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a storage node: follow the flow, accept proven segments, serve files.
    Node(NodeArgs),
    /// Submit a file to the flow and upload it to storage nodes; prints its root.
    Upload {
        /// The file.
        #[arg(long = "file", env = "ZG_STORAGE_FILE")]
        file: PathBuf,
        /// A file holding the sender's hex private key.
        #[arg(long = "key", env = "ZG_STORAGE_KEY")]
        key: PathBuf,
        #[command(flatten)]
        remote: RemoteArgs,
    },
    /// Download a file by root, checking every segment's proof.
    Download {
        /// The file root.
        #[arg(long = "root", env = "ZG_STORAGE_ROOT")]
        root: B256,
        /// Where to write it.
        #[arg(long = "out", env = "ZG_STORAGE_OUT")]
        out: PathBuf,
        #[command(flatten)]
        remote: RemoteArgs,
    },
}

#[derive(Debug, Args)]
struct ChainArgs {
    #[command(flatten)]
    rpc: ChainRpcArgs,
    /// The flow contract.
    #[arg(long = "chain.flow-address", env = "ZG_STORAGE_FLOW_ADDRESS", default_value_t = FLOW_ADDRESS)]
    flow: Address,
}

#[derive(Debug, Args)]
struct RemoteArgs {
    /// Storage node JSON-RPC endpoints (comma-separated).
    #[arg(
        long = "nodes",
        env = "ZG_STORAGE_NODES",
        value_delimiter = ',',
        default_value = "http://127.0.0.1:5678"
    )]
    nodes: Vec<String>,
    #[command(flatten)]
    chain: ChainArgs,
}

#[derive(Debug, Args)]
struct NodeArgs {
    /// Data directory (RocksDB).
    #[arg(long = "datadir", env = "ZG_STORAGE_DATADIR", default_value = "./data/storage")]
    datadir: PathBuf,
    /// JSON-RPC listen address (0G's default port is 5678).
    #[arg(long = "rpc.addr", env = "ZG_STORAGE_RPC_ADDR", default_value = "127.0.0.1:5678")]
    rpc_addr: String,
    /// Largest JSON-RPC request body in bytes.
    #[arg(long = "rpc.max-request-bytes", env = "ZG_STORAGE_RPC_MAX_REQUEST_BYTES", default_value_t = NodeConfig::default().max_request_bytes)]
    max_request_bytes: usize,
    /// Most segments per upload call.
    #[arg(long = "rpc.max-segments", env = "ZG_STORAGE_RPC_MAX_SEGMENTS", default_value_t = ApiLimits::default().max_segments_per_upload)]
    max_segments: usize,
    #[command(flatten)]
    chain: ChainArgs,
    /// Milliseconds between chain polls when caught up.
    #[arg(long = "chain.poll-ms", env = "ZG_STORAGE_CHAIN_POLL_MS", default_value_t = 500)]
    poll_ms: u64,
    /// Erasure-coded cluster: every member's JSON-RPC URL in shard order, this node
    /// included (comma-separated; empty: no cluster, whole segments).
    #[arg(long = "cluster.members", env = "ZG_STORAGE_CLUSTER_MEMBERS", value_delimiter = ',')]
    cluster_members: Vec<String>,
    /// This node's position in `--cluster.members`.
    #[arg(long = "cluster.index", env = "ZG_STORAGE_CLUSTER_INDEX", default_value_t = 0)]
    cluster_index: usize,
    /// Data shards: any this many members rebuild every file.
    #[arg(long = "cluster.k", env = "ZG_STORAGE_CLUSTER_K", default_value_t = 2)]
    cluster_k: usize,
    /// Shared secret of cluster calls.
    #[arg(long = "cluster.token", env = "ZG_STORAGE_CLUSTER_TOKEN", default_value = "")]
    cluster_token: String,
    /// KV streams to replay (comma-separated 0x-hex ids; empty: no KV layer).
    #[arg(long = "kv.streams", env = "ZG_STORAGE_KV_STREAMS", value_delimiter = ',')]
    kv_streams: Vec<B256>,
    /// Milliseconds between repair passes.
    #[arg(
        long = "cluster.repair-ms",
        env = "ZG_STORAGE_CLUSTER_REPAIR_MS",
        default_value_t = 5000
    )]
    cluster_repair_ms: u64,
}

fn read_key(path: &PathBuf) -> eyre::Result<PrivateKeySigner> {
    let text =
        std::fs::read_to_string(path).wrap_err_with(|| format!("reading {}", path.display()))?;
    text.trim()
        .parse()
        .map_err(|e| eyre::eyre!("{}: not a hex private key: {e}", path.display()))
}

fn clients(nodes: &[String]) -> eyre::Result<Vec<NodeClient>> {
    nodes
        .iter()
        .map(|u| NodeClient::new(u).map_err(|e| eyre::eyre!("{e}")))
        .collect()
}

#[tokio::main]
async fn main() -> eyre::Result<()> {
    let cli = zg_node_kit::config::parse::<Cli>();
    let _telemetry = cli.log.init("zg-storage");
    match cli.command {
        Command::Node(a) => {
            let listener = tokio::net::TcpListener::bind(&a.rpc_addr)
                .await
                .wrap_err_with(|| format!("binding {}", a.rpc_addr))?;
            let config = NodeConfig {
                chain_rpc: a.chain.rpc.chain_rpc,
                flow: a.chain.flow,
                poll_interval: Duration::from_millis(a.poll_ms),
                finality: a.chain.rpc.finality,
                max_request_bytes: a.max_request_bytes,
                limits: ApiLimits {
                    max_segments_per_upload: a.max_segments,
                    ..ApiLimits::default()
                },
                kv_streams: a.kv_streams,
                http: cli.http.limits(),
                cluster: (!a.cluster_members.is_empty()).then(|| ClusterConfig {
                    members: a.cluster_members,
                    me: a.cluster_index,
                    k: a.cluster_k,
                    token: a.cluster_token,
                    repair_interval: Duration::from_millis(a.cluster_repair_ms),
                }),
                ..NodeConfig::default()
            };
            let cancel = CancellationToken::new();
            let node = zg_storage::start(&a.datadir, config, listener, cancel.clone()).await?;
            println!("zg-storage node on {}", node.rpc_url());
            let outcome = zg_node_kit::until_shutdown(node.failed()).await;
            tracing::info!(target: "zg_storage", "shutting down");
            node.shutdown().await?;
            outcome.wrap_err("zg-storage stopped")?;
        }
        Command::Upload { file, key, remote } => {
            let data =
                std::fs::read(&file).wrap_err_with(|| format!("reading {}", file.display()))?;
            let up = Uploader::new(
                clients(&remote.nodes)?,
                &remote.chain.rpc.chain_rpc,
                read_key(&key)?,
                remote.chain.flow,
            )?;
            let r = up.upload(&data, &UploadOptions::default()).await?;
            println!(
                "{}",
                serde_json::json!({"root": r.root, "txSeq": r.seq, "txHash": r.tx_hash, "fee": r.fee.to_string()})
            );
        }
        Command::Download { root, out, remote } => {
            // The file's size and submission come from the chain, not from a node.
            let data = Downloader::new(clients(&remote.nodes)?)
                .with_chain(&remote.chain.rpc.chain_rpc, remote.chain.flow)?
                .download(root)
                .await?;
            std::fs::write(&out, &data).wrap_err_with(|| format!("writing {}", out.display()))?;
            println!("{} bytes to {}", data.len(), out.display());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser};

    #[test]
    fn flags_parse() {
        super::Cli::command().debug_assert();
        let cli = super::Cli::try_parse_from([
            "zg-storage",
            "node",
            "--cluster.members",
            "http://a:1,http://b:2",
            "--cluster.index",
            "1",
            "--kv.streams",
            "0x5151515151515151515151515151515151515151515151515151515151515151",
        ])
        .unwrap();
        let super::Command::Node(a) = cli.command else {
            panic!("not the node command")
        };
        assert_eq!(a.cluster_members.len(), 2);
        assert_eq!(a.kv_streams.len(), 1);
        assert!(super::Cli::try_parse_from(["zg-storage", "download", "--root", "zz"]).is_err());
    }
}
