#![doc = include_str!("../README.md")]

pub mod archiver;
pub mod error;
pub mod index;
pub mod metrics;
pub mod secondary;
pub mod server;

use std::net::SocketAddr;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use zg_da_client::{ChainClient, ChainConfig, NetConfig, Network, Retriever};
use zg_node_kit::{Health, Supervisor, TaskFailure};
use zg_primitives::Kzg;

pub use archiver::{Archiver, ArchiverConfig, FollowStatus, ReadSource};
pub use error::ArchiverError;
pub use index::{ArchiveIndex, Entry, Pending};
pub use metrics::ArchiverMetrics;
pub use secondary::{Secondary, SecondaryConfig};
pub use server::{RangeRequest, parse_range, router};

/// A running archiver: the follower, the network and the HTTP API.
#[derive(Debug)]
pub struct RunningArchiver {
    /// The core.
    pub archiver: Archiver,
    /// Where the API listens.
    pub addr: SocketAddr,
    tasks: Supervisor,
}

impl RunningArchiver {
    /// `http://addr`, what op-plugin's `--archive.url` takes.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Green until a background task failed.
    pub fn health(&self) -> Health {
        self.tasks.health()
    }

    /// Resolves when a background task failed.
    pub fn failed(&self) -> impl std::future::Future<Output = TaskFailure> + Send + 'static {
        self.tasks.failed()
    }

    /// Stops in order: the HTTP API, the follower, the network; then flushes the index.
    pub async fn shutdown(self) -> Result<(), ArchiverError> {
        self.tasks.shutdown().await;
        Ok(self.archiver.index().flush()?)
    }
}

/// Starts the archiver on `listener`: opens the index, connects the chain (paying from
/// `signer`) and the DA network, and follows until `cancel`.
pub async fn start(
    config: ArchiverConfig,
    chain: ChainConfig,
    signer: alloy::signers::local::PrivateKeySigner,
    net: NetConfig,
    secondary: Option<SecondaryConfig>,
    listener: TcpListener,
    cancel: CancellationToken,
) -> Result<RunningArchiver, ArchiverError> {
    let addr = listener
        .local_addr()
        .map_err(|e| ArchiverError::Config(e.to_string()))?;
    let index = ArchiveIndex::open(&config.datadir.join("index"))?;
    let secondary = secondary.as_ref().map(Secondary::open).transpose()?;
    let chain = ChainClient::connect(chain, Some(signer))
        .await
        .map_err(|e| ArchiverError::Unavailable(format!("chain: {e}")))?;
    let mut tasks = Supervisor::new(cancel.clone());
    let keypair = libp2p::identity::Keypair::generate_ed25519();
    let (network, net_task) = Network::start(keypair, net, None, cancel.child_token())
        .await
        .map_err(|e| ArchiverError::Config(format!("network: {e}")))?;
    let retriever = Retriever::new(network, chain.clone(), Kzg::mainnet());
    let limits = config.http.clone();
    let archiver = Archiver::new(config, index, chain, retriever, secondary)?;
    tasks.spawn("archiver network", async move {
        let _ = net_task.await;
    });
    let follower = archiver.clone();
    let token = cancel.child_token();
    tasks.spawn(
        "archiver follower",
        async move { follower.run(token).await },
    );
    let app = router(archiver.clone(), tasks.health());
    tasks.spawn_http("archiver http", listener, app, limits);
    tracing::info!(target: "zg_archiver", %addr, account = %archiver.account(), "archiver listening");
    Ok(RunningArchiver {
        archiver,
        addr,
        tasks,
    })
}
