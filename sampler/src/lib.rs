#![doc = include_str!("../README.md")]

pub mod api;
pub mod client;
pub mod confidence;
pub mod draw;
pub mod metrics;
pub mod sampler;

use std::net::SocketAddr;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use zg_da_client::{ChainClient, ChainClientError, ChainConfig, NetConfig, NetError, Network};
use zg_primitives::Kzg;

pub use client::{ClientConfig, ClientError, Counts, LightClient};
pub use confidence::{binomial, confidence, samples_needed};
pub use draw::{draw, draw_columns};
pub use metrics::SamplerMetrics;
pub use sampler::{Availability, SampleReport, Sampler, SamplerConfig};

/// Why the light client could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Chain access.
    #[error(transparent)]
    Chain(#[from] ChainClientError),
    /// libp2p.
    #[error(transparent)]
    Net(#[from] NetError),
    /// Checkpoint or results.
    #[error(transparent)]
    State(#[from] ClientError),
    /// HTTP listener.
    #[error("http: {0}")]
    Http(#[from] std::io::Error),
}

/// A running light client.
#[derive(Debug)]
pub struct RunningSampler {
    /// Its state and results.
    pub client: LightClient,
    /// Where the API listens.
    pub http_addr: SocketAddr,
    cancel: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
}

impl RunningSampler {
    /// `http://addr`.
    pub fn url(&self) -> String {
        format!("http://{}", self.http_addr)
    }

    /// Stops the API, the follower (an unfinished range is resampled at the next start)
    /// and the network.
    pub async fn shutdown(self) {
        self.cancel.cancel();
        for t in self.tasks {
            let _ = t.await;
        }
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
    let client = LightClient::open(config, sampler, chain)?;
    let follower = tokio::spawn(client.clone().run(cancel.child_token()));
    let app = api::router(client.clone(), cancel.clone());
    let stop = cancel.clone();
    let server = tokio::spawn(async move {
        if let Err(e) = axum::serve(http, app)
            .with_graceful_shutdown(stop.cancelled_owned())
            .await
        {
            tracing::error!(target: "zg_sampler", error = %e, "http server failed");
        }
    });
    Ok(RunningSampler {
        client,
        http_addr,
        cancel,
        tasks: vec![server, follower, net_task],
    })
}
