#![doc = include_str!("../README.md")]

pub mod error;
pub mod frames;
pub mod metrics;
pub mod plugin;
pub mod replicas;
pub mod server;
pub mod store;

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
pub use zg_da_client::StartError;
use zg_da_client::{
    ChainClient, ChainConfig, Disperse, NetConfig, Network, RemoteDisperser, Retriever,
};
use zg_node_kit::{Health, Supervisor, TaskFailure};
use zg_primitives::Kzg;

pub use error::PluginError;
pub use frames::{Frame, FrameError, encode_frames, parse_frames, single_frame};
pub use metrics::PluginMetrics;
pub use plugin::{DEFAULT_MAX_BLOB_SIZE, Plugin, PluginConfig, Source};
pub use replicas::{ReplicaConfig, SharedMappings};
pub use server::router;
pub use store::PluginStore;

/// Where the plugin gets certificates from, and how it reads payloads back.
#[derive(Clone, Debug)]
pub enum UpstreamConfig {
    /// A disperser reached over HTTP; gets retrieve from the DA nodes directly over
    /// libp2p (they do not depend on the disperser being up).
    Remote {
        /// Disperser API base URL.
        url: String,
        /// Bearer token for the disperser API.
        token: Option<String>,
        /// Chain access (quorums, `commitmentExists`).
        chain: ChainConfig,
        /// libp2p client settings for retrieval.
        net: NetConfig,
    },
    /// A certificate source in this process (a disperser embedded by the composing
    /// binary or test, say), with the retrieval and chain clients to read through.
    Local {
        /// The certificate source.
        disperser: Arc<dyn Disperse>,
        /// Verified retrieval from the DA nodes.
        retriever: Retriever,
        /// Chain access (`commitmentExists`).
        chain: ChainClient,
    },
}

/// A running plugin.
#[derive(Debug)]
pub struct RunningPlugin {
    /// The core.
    pub plugin: Plugin,
    /// Where the alt-DA API listens.
    pub addr: SocketAddr,
    tasks: Supervisor,
}

impl RunningPlugin {
    /// `http://addr`, what op-batcher's and op-node's `--altda.da-server` take.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Green until a background task (the HTTP server, the network) fails.
    pub fn health(&self) -> Health {
        self.tasks.health()
    }

    /// Resolves when a background task failed (the plugin then stops itself).
    pub fn failed(&self) -> impl std::future::Future<Output = TaskFailure> + Send + 'static {
        self.tasks.failed()
    }

    /// Stops in order: the HTTP API (in-flight requests finish), the network, then
    /// flushes the store.
    pub async fn shutdown(self) -> Result<(), PluginError> {
        self.tasks.shutdown().await;
        self.plugin.flush()
    }
}

/// Starts the plugin on `listener`: opens the store, connects the upstream and serves
/// until `cancel` (or [`RunningPlugin::shutdown`]).
pub async fn start(
    config: PluginConfig,
    upstream: UpstreamConfig,
    listener: TcpListener,
    cancel: CancellationToken,
) -> Result<RunningPlugin, StartError> {
    let addr = listener.local_addr()?;
    let store = PluginStore::open(&config.datadir.join("plugin"), config.cache_bytes)?;
    let mut tasks = Supervisor::new(cancel.clone());
    let (dispersal, retriever, chain, net) = match upstream {
        UpstreamConfig::Remote {
            url,
            token,
            chain,
            net,
        } => {
            let chain = ChainClient::connect(chain, None).await?;
            let keypair = libp2p::identity::Keypair::generate_ed25519();
            let (network, task) = Network::start(keypair, net, None, cancel.child_token()).await?;
            let retriever = Retriever::new(network, chain.clone(), Kzg::mainnet());
            let remote: Arc<dyn Disperse> = Arc::new(RemoteDisperser::new(url, token));
            (remote, retriever, chain, Some(task))
        }
        UpstreamConfig::Local {
            disperser,
            retriever,
            chain,
        } => (disperser, retriever, chain, None),
    };
    let limits = config.http.clone();
    let plugin = Plugin::new(config, store, dispersal, retriever, chain, tasks.health())
        .map_err(|e| StartError::Config(e.to_string()))?;
    let app = router(plugin.clone());
    tasks.spawn_http("op-plugin http", listener, app, limits);
    if let Some(net) = net {
        tasks.spawn("op-plugin network", async move {
            let _ = net.await;
        });
    }
    tracing::info!(target: "zg_op_plugin", %addr, "op-plugin listening");
    Ok(RunningPlugin {
        plugin,
        addr,
        tasks,
    })
}
