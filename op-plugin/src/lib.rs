#![doc = include_str!("../README.md")]

pub mod error;
pub mod frames;
pub mod metrics;
pub mod plugin;
pub mod server;
pub mod store;
pub mod upstream;

use std::net::SocketAddr;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use zg_da_server::disperser::StartError as DisperserStartError;
use zg_da_server::{
    ChainClient, ChainClientError, ChainConfig, DisperserConfig, NetConfig, NetError, Retriever,
    RunningDisperser, StoreError,
};
use zg_primitives::Kzg;

pub use error::PluginError;
pub use frames::{Frame, FrameError, encode_frames, parse_frames};
pub use metrics::PluginMetrics;
pub use plugin::{DEFAULT_MAX_BLOB_SIZE, Plugin, PluginConfig, Source};
pub use server::router;
pub use store::PluginStore;
pub use upstream::{Dispersal, RemoteDisperser};

/// Where the plugin gets certificates from.
#[derive(Clone, Debug)]
#[allow(clippy::large_enum_variant)] // built once per process
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
    /// A disperser in this process (its own HTTP API listens on a loopback port).
    Embedded(Box<DisperserConfig>),
}

/// Why the plugin could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Store failure.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Network failure.
    #[error(transparent)]
    Net(#[from] NetError),
    /// Chain failure.
    #[error(transparent)]
    Chain(#[from] ChainClientError),
    /// The embedded disperser did not start.
    #[error("embedded disperser: {0}")]
    Disperser(#[from] DisperserStartError),
    /// Listener failure.
    #[error("http: {0}")]
    Http(#[from] std::io::Error),
}

/// A running plugin.
#[derive(Debug)]
pub struct RunningPlugin {
    /// The core.
    pub plugin: Plugin,
    /// Where the alt-DA API listens.
    pub addr: SocketAddr,
    /// The embedded disperser, if any.
    pub disperser: Option<RunningDisperser>,
    cancel: CancellationToken,
    http: JoinHandle<()>,
    net: Option<JoinHandle<()>>,
}

impl RunningPlugin {
    /// `http://addr`, what op-batcher's and op-node's `--altda.da-server` take.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops in order: the HTTP API (in-flight requests finish), the network, the
    /// embedded disperser, then flushes the store.
    pub async fn shutdown(self) -> Result<(), PluginError> {
        self.cancel.cancel();
        let _ = self.http.await;
        if let Some(net) = self.net {
            let _ = net.await;
        }
        if let Some(d) = self.disperser {
            d.shutdown().await?;
        }
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
    let (dispersal, retriever, chain, disperser, net) = match upstream {
        UpstreamConfig::Remote {
            url,
            token,
            chain,
            net,
        } => {
            let chain = ChainClient::connect(chain, None).await?;
            let keypair = libp2p::identity::Keypair::generate_ed25519();
            let (network, task) =
                zg_da_server::Network::start(keypair, net, None, cancel.child_token()).await?;
            let retriever = Retriever::new(network, chain.clone(), Kzg::mainnet());
            (
                Dispersal::Remote(RemoteDisperser::new(url, token)),
                retriever,
                chain,
                None,
                Some(task),
            )
        }
        UpstreamConfig::Embedded(dc) => {
            let api = TcpListener::bind("127.0.0.1:0").await?;
            let running = zg_da_server::disperser::start(*dc, api, cancel.child_token()).await?;
            tracing::info!(target: "zg_op_plugin", api = %running.http_addr, "embedded disperser started");
            let d = running.disperser.clone();
            (
                Dispersal::Embedded(d.clone()),
                d.retriever().clone(),
                d.chain().clone(),
                Some(running),
                None,
            )
        }
    };
    let plugin = Plugin::new(config, store, dispersal, retriever, chain);
    let app = router(plugin.clone());
    let shutdown = cancel.clone();
    let http = tokio::spawn(async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(shutdown.cancelled_owned())
            .await;
        if let Err(e) = served {
            tracing::error!(target: "zg_op_plugin", error = %e, "http server failed");
        }
    });
    tracing::info!(target: "zg_op_plugin", %addr, "op-plugin listening");
    Ok(RunningPlugin {
        plugin,
        addr,
        disperser,
        cancel,
        http,
        net,
    })
}
