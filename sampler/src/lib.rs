#![doc = include_str!("../README.md")]

pub mod api;
pub mod client;
pub mod confidence;
pub mod draw;
pub mod metrics;
pub mod sampler;

use std::net::SocketAddr;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use zg_da_client::{ChainClient, ChainConfig, NetConfig, Network};
use zg_node_kit::{Health, Supervisor, TaskFailure};
use zg_primitives::Kzg;

pub use client::{
    ClientConfig, ClientError, Counts, LightClient, MemberHealth, QuorumHealth, quorum_health,
    throughput,
};
pub use confidence::{binomial, confidence, samples_needed};
pub use draw::{draw, draw_columns};
pub use metrics::SamplerMetrics;
pub use sampler::{Availability, MemberSamples, SampleReport, Sampler, SamplerConfig};
pub use zg_da_client::{AnchorLayout, VerifyConfig};

pub use zg_da_client::StartError;

/// A running light client.
#[derive(Debug)]
pub struct RunningSampler {
    /// Its state and results.
    pub client: LightClient,
    /// Where the API listens.
    pub http_addr: SocketAddr,
    tasks: Supervisor,
}

impl RunningSampler {
    /// `http://addr`.
    pub fn url(&self) -> String {
        format!("http://{}", self.http_addr)
    }

    /// Green until a background task fails.
    pub fn health(&self) -> Health {
        self.tasks.health()
    }

    /// Resolves when a background task failed (the light client then stops itself).
    pub fn failed(&self) -> impl std::future::Future<Output = TaskFailure> + Send + 'static {
        self.tasks.failed()
    }

    /// Stops the API, the follower (an unfinished range is resampled at the next start)
    /// and the network.
    pub async fn shutdown(self) {
        self.tasks.shutdown().await;
    }
}

/// Starts a light client: a libp2p client, the chain follower and the API on `http`.
pub async fn start(
    chain: ChainConfig,
    net: NetConfig,
    sampler: SamplerConfig,
    config: ClientConfig,
    http: TcpListener,
    cancel: CancellationToken,
) -> Result<RunningSampler, StartError> {
    let http_addr = http.local_addr()?;
    let chain = ChainClient::connect(chain, None).await?;
    let keypair = libp2p::identity::Keypair::generate_ed25519();
    let (network, net_task) = Network::start(keypair, net, None, cancel.child_token()).await?;
    let sampler = Sampler::new(network, chain.clone(), Kzg::mainnet(), sampler);
    let limits = config.http.clone();
    let client =
        LightClient::open(config, sampler, chain).map_err(|e| StartError::State(e.to_string()))?;
    let mut tasks = Supervisor::new(cancel.clone());
    let app = api::router_with_health(client.clone(), cancel.clone(), tasks.health());
    tasks.spawn_http("sampler http", http, app, limits);
    tasks.spawn("sampler follower", client.clone().run(cancel.child_token()));
    tasks.spawn("sampler network", async move {
        let _ = net_task.await;
    });
    Ok(RunningSampler {
        client,
        http_addr,
        tasks,
    })
}
