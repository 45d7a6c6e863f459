//! The DA node: verifies, stores, signs and serves its custody columns.
//!
//! [`start`] opens the store, starts libp2p (serving the three protocols), the chain
//! registration loop, the sampling of other quorums, the sampling lottery, the retention
//! pruner and the HTTP `/health` + `/metrics` port.

mod ledger;
mod lottery;
mod service;
mod store;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use alloy::providers::Provider as _;

use axum::Router;
use axum::routing::get;
use libp2p::Multiaddr;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use zg_node_kit::{Health, Supervisor, TaskFailure};
use zg_primitives::{Kzg, epoch_registration_message};

use crate::chain::{ChainClient, ChainConfig};
use crate::error::{ChainClientError, NetError, StoreError};
use crate::keys::NodeKeys;
use crate::metrics::{NodeMetrics, result};
use crate::net::{NetConfig, Network};

pub use ledger::{DepositLedger, MAX_DISPERSERS, Payment};
pub use service::{NodeService, StoreLimits};
pub use store::NodeStore;

/// Wraps the node's request handler before the network serves it: a layer of
/// middleware over the store / sample / header protocols (admission, tracing, or the
/// misbehaviour of a fault test's node).
pub type HandlerLayer =
    Arc<dyn Fn(Arc<NodeService>) -> Arc<dyn crate::net::InboundHandler> + Send + Sync>;

/// DA node settings.
#[derive(Clone, Debug)]
pub struct NodeConfig {
    /// Directory of the RocksDB store.
    pub datadir: PathBuf,
    /// The node's keys.
    pub keys: NodeKeys,
    /// Chain access.
    pub chain: ChainConfig,
    /// libp2p settings (listen addresses, limits).
    pub net: NetConfig,
    /// The socket published on chain; the first listen address when `None`.
    pub external_addr: Option<Multiaddr>,
    /// Store requests processed at once; more are refused as over capacity.
    pub max_concurrent_stores: usize,
    /// Largest payload (bytes) the node stores and signs for.
    pub max_payload: usize,
    /// Epochs back from the current one the node still signs for (the entrance module
    /// refuses older certificates, so a signature for them could never be anchored).
    pub signing_window_epochs: u64,
    /// How long payloads are kept.
    pub retention: Duration,
    /// How often retention runs.
    pub prune_interval: Duration,
    /// How often registration (signer, socket, next epoch) is rechecked besides at
    /// every new epoch.
    pub registration_interval: Duration,
    /// How often the registrar looks for a new head (it registers for the next epoch as
    /// soon as one opens).
    pub head_poll: Duration,
    /// Stake (wei) bonded when registering as a signer; `None`: the module's `minStake`.
    pub stake: Option<alloy::primitives::U256>,
    /// Sample the other quorums' anchors (results at `/sampling/v1/…` on the HTTP port).
    pub sample_other_quorums: bool,
    /// Settings of that sampling.
    pub sampling: zg_sampler::SamplerConfig,
    /// Take part in the chain's sampling lottery (submit winning cells).
    pub sample_lottery: bool,
    /// How often the lottery checks for a new round.
    pub lottery_interval: Duration,
    /// Most wins submitted per round.
    pub lottery_max_per_round: usize,
    /// The HTTP server's limits (hosts, concurrency, time per request).
    pub http: zg_node_kit::HttpLimits,
}

impl NodeConfig {
    /// Defaults for everything but the directory, keys and chain.
    pub fn new(datadir: PathBuf, keys: NodeKeys, chain: ChainConfig) -> Self {
        Self {
            datadir,
            keys,
            chain,
            net: NetConfig::default(),
            external_addr: None,
            max_concurrent_stores: 16,
            max_payload: zg_primitives::DEFAULT_MAX_PAYLOAD,
            signing_window_epochs: 2,
            retention: Duration::from_secs(14 * 24 * 3600),
            prune_interval: Duration::from_secs(600),
            registration_interval: Duration::from_secs(5),
            head_poll: DEFAULT_HEAD_POLL,
            stake: None,
            sample_other_quorums: true,
            sampling: zg_sampler::SamplerConfig::default(),
            sample_lottery: true,
            lottery_interval: Duration::from_secs(2),
            lottery_max_per_round: 4,
            http: zg_node_kit::HttpLimits::default(),
        }
    }
}

/// Why a node could not start.
pub type NodeError = zg_da_client::StartError;

/// A running DA node.
#[derive(Debug)]
pub struct RunningNode {
    /// The request handler (store, chain client).
    pub service: Arc<NodeService>,
    /// The libp2p handle.
    pub network: Network,
    /// The socket published on chain.
    pub socket: String,
    /// Where `/health` and `/metrics` listen.
    pub http_addr: SocketAddr,
    /// The node's sampling of the other quorums' anchors, if enabled.
    pub sampling: Option<zg_sampler::LightClient>,
    tasks: Supervisor,
}

impl RunningNode {
    /// Stops in order: the network (no new requests), the background loops and HTTP,
    /// then flushes the store.
    pub async fn shutdown(self) -> Result<(), StoreError> {
        self.tasks.shutdown().await;
        self.service.store().flush()
    }

    /// Resolves when the node is cancelled (by its owner, or by a failed task).
    pub async fn cancelled(&self) {
        self.tasks.token().cancelled().await
    }

    /// Green until a background task fails.
    pub fn health(&self) -> Health {
        self.tasks.health()
    }

    /// Resolves when a background task failed (the node then stops itself).
    pub fn failed(&self) -> impl std::future::Future<Output = TaskFailure> + Send + 'static {
        self.tasks.failed()
    }
}

/// Starts a DA node. Registration is attempted once before returning (errors are
/// logged and retried by the loop).
pub async fn start(
    config: NodeConfig,
    http: TcpListener,
    cancel: CancellationToken,
) -> Result<RunningNode, NodeError> {
    start_with(config, http, cancel, None).await
}

/// [`start`] with the request handler wrapped by `layer` before the network serves it.
pub async fn start_with(
    config: NodeConfig,
    http: TcpListener,
    cancel: CancellationToken,
    layer: Option<HandlerLayer>,
) -> Result<RunningNode, NodeError> {
    let kzg = Kzg::mainnet();
    let store = NodeStore::open(&config.datadir)?;
    let chain = ChainClient::connect(config.chain.clone(), Some(config.keys.eth.clone())).await?;
    let metrics = NodeMetrics::new();
    metrics.payloads.set(store.payload_count() as i64);
    let service = NodeService::new(
        store,
        chain.clone(),
        kzg,
        config.keys.clone(),
        StoreLimits {
            max_concurrent: config.max_concurrent_stores,
            max_payload: config.max_payload,
            signing_window_epochs: config.signing_window_epochs,
        },
        metrics.clone(),
    );
    // What this node signed for and may not have been paid yet, before it serves.
    let current = chain.recent_epoch().await?;
    let oldest = current.saturating_sub(config.signing_window_epochs);
    let store = service.store().clone();
    let signed = tokio::task::spawn_blocking(move || store.reservations(oldest))
        .await
        .map_err(|e| NodeError::State(format!("restoring reservations: {e}")))??;
    service.ledger().restore(signed);
    let service = Arc::new(service);
    let handler: Arc<dyn crate::net::InboundHandler> = match &layer {
        Some(wrap) => wrap(service.clone()),
        None => service.clone(),
    };
    let (network, net_task) = Network::start(
        config.keys.p2p.clone(),
        config.net.clone(),
        Some(handler),
        cancel.child_token(),
    )
    .await?;
    let mut tasks = Supervisor::new(cancel.clone());
    tasks.spawn("node network", async move {
        let _ = net_task.await;
    });
    let socket = match &config.external_addr {
        Some(a) => {
            let a = a.clone();
            match a.iter().last() {
                Some(libp2p::multiaddr::Protocol::P2p(_)) => a.to_string(),
                _ => a
                    .with(libp2p::multiaddr::Protocol::P2p(network.peer_id()))
                    .to_string(),
            }
        }
        None => network
            .listen_addrs()
            .first()
            .map(|a| a.to_string())
            .ok_or_else(|| NetError::Setup("no listen address to publish".into()))?,
    };
    let http_addr = http.local_addr()?;

    // Sampling of the other quorums' anchors, from the head at the first start on.
    let sampling = if config.sample_other_quorums {
        let mut sc = zg_sampler::ClientConfig::new(config.datadir.join("sampler"));
        sc.start_block = {
            use alloy::providers::Provider;
            chain.provider().get_block_number().await.unwrap_or(0)
        };
        sc.skip_quorums_of = Some(config.keys.address());
        sc.concurrency = 2;
        let sampler =
            zg_sampler::Sampler::new(network.clone(), chain.clone(), kzg, config.sampling.clone());
        let client = zg_sampler::LightClient::open(sc, sampler, chain.clone())
            .map_err(|e| NodeError::State(format!("sampler: {e}")))?;
        tasks.spawn("node sampler", client.clone().run(cancel.child_token()));
        Some(client)
    } else {
        None
    };
    let epoch_blocks = chain
        .signer_params()
        .await
        .map_err(|e| NodeError::State(format!("signers module parameters: {e}")))?
        .epochBlocks;
    let reg = Registrar {
        chain,
        keys: config.keys.clone(),
        socket: socket.clone(),
        metrics: metrics.clone(),
        epoch_blocks,
        stake: config.stake,
    };
    reg.check_epoch_length(config.head_poll).await;
    match reg.head().await {
        Ok(head) => {
            if let Err(e) = reg.register_once(head).await {
                tracing::warn!(target: "zg_da::node", error = %e, "registration not complete yet");
            }
        }
        Err(e) => {
            tracing::warn!(target: "zg_da::node", error = %e, "registration not complete yet")
        }
    }
    tasks.spawn(
        "node registration",
        reg.run(
            config.head_poll,
            config.registration_interval,
            cancel.child_token(),
        ),
    );
    if config.sample_lottery {
        let lottery = lottery::Lottery {
            service: service.clone(),
            max_per_round: config.lottery_max_per_round,
        };
        tasks.spawn(
            "node lottery",
            lottery.run(config.lottery_interval, cancel.child_token()),
        );
    }
    tasks.spawn(
        "node retention",
        prune_loop(
            service.clone(),
            config.retention,
            config.prune_interval,
            cancel.child_token(),
        ),
    );
    let health = tasks.health();
    let app = Router::new()
        .route("/metrics", get(move || async move { metrics.render() }))
        .route(
            "/health",
            get({
                let service = service.clone();
                let socket = socket.clone();
                move || async move {
                    let (status, body) = health.report(serde_json::json!({
                        "role": "node",
                        "address": service.address(),
                        "socket": socket,
                        "payloads": service.store().payload_count(),
                    }));
                    (status, axum::Json(body))
                }
            }),
        );
    let app = match &sampling {
        Some(client) => app.nest(
            "/sampling",
            zg_sampler::api::router(client.clone(), cancel.child_token()),
        ),
        None => app,
    };
    tasks.spawn_http("node http", http, app, config.http.clone());
    tracing::info!(target: "zg_da::node", address = %config.keys.address(), %socket, %http_addr, "DA node started");
    Ok(RunningNode {
        service,
        network,
        socket,
        http_addr,
        sampling,
        tasks,
    })
}

/// Keeps the node's on-chain registration current. It follows new heads (one
/// `eth_blockNumber` per `head_poll`) and registers for the next epoch as soon as an
/// epoch opens, so it keeps up with epochs of a few seconds; signer and socket are
/// rechecked every `interval` as well.
struct Registrar {
    chain: ChainClient,
    keys: NodeKeys,
    socket: String,
    metrics: Arc<NodeMetrics>,
    /// Blocks per epoch (the signers module's parameter).
    epoch_blocks: u64,
    /// Stake bonded at registration (`None`: the module's minimum).
    stake: Option<alloy::primitives::U256>,
}

/// How often the registrar looks for a new head.
pub const DEFAULT_HEAD_POLL: Duration = Duration::from_millis(250);

/// The shortest epoch a node can follow with `head_poll`: it must see the epoch open,
/// sign and have its registration mined (a few block times) before the epoch ends.
pub fn min_epoch_duration(head_poll: Duration) -> Duration {
    (head_poll * 8).max(Duration::from_secs(2))
}

impl Registrar {
    /// Registers what is missing, given the newest block `head`.
    async fn register_once(&self, head: u64) -> Result<(), ChainClientError> {
        let me = self.keys.address();
        let chain_id = self.chain.chain_id();
        match self.chain.signer(me).await? {
            None => {
                let pop = self.keys.bls.proof_of_possession(chain_id, me);
                let stake = match self.stake {
                    Some(s) => s,
                    None => self.chain.stake_params().await?.minStake,
                };
                self.chain
                    .register_signer(
                        self.socket.clone(),
                        &self.keys.bls_public_key(),
                        pop.as_bytes(),
                        stake,
                    )
                    .await?;
                self.metrics
                    .registrations
                    .get_or_create(&result("signer"))
                    .inc();
                tracing::info!(target: "zg_da::node", %me, socket = %self.socket, %stake, "registered as signer");
            }
            Some(d) if d.socket != self.socket => {
                self.chain.update_socket(self.socket.clone()).await?;
                self.metrics
                    .registrations
                    .get_or_create(&result("socket"))
                    .inc();
                tracing::info!(target: "zg_da::node", socket = %self.socket, "socket updated");
            }
            Some(_) => {}
        }
        // The registration executes in a later block than `head`: name the epoch after
        // that block's, and leave an epoch's last block alone (a transaction sent then
        // may land in the next epoch, where the signed epoch would be the wrong one).
        let e = self.epoch_blocks.max(1);
        let pending = head + 1;
        if e > 2 && pending % e == e - 1 {
            return Ok(());
        }
        let next = pending / e + 1;
        if !self.chain.registered_for_epoch(me, next).await? {
            let sig = self
                .keys
                .bls
                .sign(&epoch_registration_message(chain_id, me, next));
            self.chain.register_next_epoch(sig.as_bytes()).await?;
            self.metrics
                .registrations
                .get_or_create(&result("epoch"))
                .inc();
            tracing::info!(target: "zg_da::node", epoch = next, head, "registered for epoch");
        }
        Ok(())
    }

    async fn head(&self) -> Result<u64, ChainClientError> {
        self.chain
            .provider()
            .get_block_number()
            .await
            .map_err(|e| ChainClientError::Unavailable(e.to_string()))
    }

    /// Warns when epochs are too short for this node to follow (measured from the last
    /// blocks' timestamps); the estimated epoch duration, if the chain has blocks.
    async fn check_epoch_length(&self, head_poll: Duration) -> Option<Duration> {
        let head = self.head().await.ok()?;
        let span = head.min(32);
        if span == 0 {
            return None;
        }
        let time = |n: u64| async move {
            self.chain
                .provider()
                .get_block_by_number(n.into())
                .await
                .ok()
                .flatten()
                .map(|b| b.header.timestamp)
        };
        let (t1, t0) = (time(head).await?, time(head - span).await?);
        // Chains that mine on demand give blocks the same second: count a second per
        // block at least, the interval such a chain mines at when idle.
        let per_block =
            Duration::from_secs_f64((t1.saturating_sub(t0) as f64 / span as f64).max(0.5));
        let epoch = per_block * u32::try_from(self.epoch_blocks).unwrap_or(u32::MAX);
        let min = min_epoch_duration(head_poll);
        if epoch < min {
            tracing::warn!(
                target: "zg_da::node",
                epoch_blocks = self.epoch_blocks,
                block_interval_ms = per_block.as_millis() as u64,
                epoch_ms = epoch.as_millis() as u64,
                min_ms = min.as_millis() as u64,
                "epochs are shorter than this node can follow: it may miss registrations; \
                 use longer epochs (--da.epoch-blocks) or a shorter --registration.head-poll-ms"
            );
        }
        Some(epoch)
    }

    /// Refreshes the stake, unclaimed-rewards, ejection and drought gauges.
    async fn update_earnings(&self) {
        let me = self.keys.address();
        let gwei = |v: alloy::primitives::U256| {
            let g = v / alloy::primitives::U256::from(1_000_000_000u64);
            u64::try_from(g).map(|g| g as f64).unwrap_or(f64::MAX)
        };
        match self.chain.stake_of(me).await {
            Ok(s) => {
                self.metrics.stake_gwei.set(gwei(s.bonded));
            }
            Err(e) => tracing::debug!(target: "zg_da::node", error = %e, "stake not read"),
        }
        match self.chain.rewards_of(me).await {
            Ok(r) => {
                self.metrics.rewards_gwei.set(gwei(r));
            }
            Err(e) => tracing::debug!(target: "zg_da::node", error = %e, "rewards not read"),
        }
        match self.chain.ejected_until(me).await {
            Ok(u) => {
                let before = self.metrics.ejected_until_epoch.get();
                let u = i64::try_from(u).unwrap_or(i64::MAX);
                if u > before {
                    tracing::warn!(
                        target: "zg_da::node",
                        until_epoch = u,
                        "this signer was ejected by the sampling lottery (its quorum kept \
                         winning on payloads it signed while it never did): check that it \
                         keeps its columns"
                    );
                }
                self.metrics.ejected_until_epoch.set(u);
            }
            Err(e) => tracing::debug!(target: "zg_da::node", error = %e, "ejection not read"),
        }
        match self.chain.drought_of(me).await {
            Ok(d) => {
                self.metrics.drought.set(d.saturating_to::<i64>());
            }
            Err(e) => tracing::debug!(target: "zg_da::node", error = %e, "drought not read"),
        }
    }

    async fn run(self, head_poll: Duration, interval: Duration, cancel: CancellationToken) {
        let mut last: Option<(u64, Instant)> = None;
        loop {
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tokio::time::sleep(head_poll) => {}
            }
            let head = match self.head().await {
                Ok(h) => h,
                Err(e) => {
                    tracing::debug!(target: "zg_da::node", error = %e, "no head");
                    continue;
                }
            };
            let epoch = (head + 1) / self.epoch_blocks.max(1);
            let due = match last {
                Some((done, at)) => done != epoch || at.elapsed() >= interval,
                None => true,
            };
            if !due {
                continue;
            }
            match self.register_once(head).await {
                Ok(()) => {
                    last = Some((epoch, Instant::now()));
                    self.update_earnings().await;
                }
                Err(e) => {
                    tracing::warn!(target: "zg_da::node", error = %e, "registration check failed")
                }
            }
        }
    }
}

async fn prune_loop(
    service: Arc<NodeService>,
    retention: Duration,
    interval: Duration,
    cancel: CancellationToken,
) {
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(interval) => {}
        }
        let cutoff = service::now().saturating_sub(retention.as_secs());
        let store = service.store().clone();
        match tokio::task::spawn_blocking(move || store.prune(cutoff)).await {
            Ok(Ok(n)) if n > 0 => {
                service.metrics().pruned.inc_by(n as u64);
                service.metrics().payloads.dec_by(n as i64);
                tracing::info!(target: "zg_da::node", pruned = n, "retention");
            }
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::error!(target: "zg_da::node", error = %e, "pruning failed"),
            Err(e) => tracing::error!(target: "zg_da::node", error = %e, "pruning task failed"),
        }
    }
}
