//! Wiring of the consensus engine: commonware's simplex (BFT agreement with BLS12-381
//! threshold certificates), marshal (block dissemination, backfill, ordered delivery of
//! finalized blocks) and authenticated p2p among the genesis validators. It runs on its
//! own thread with commonware's tokio runtime; the node is shared with the JSON-RPC side.

use std::net::SocketAddr;
use std::num::{NonZeroU16, NonZeroU64, NonZeroUsize};
use std::path::PathBuf;
use std::time::Duration;

use commonware_codec::Encode;
use commonware_consensus::marshal::core::Actor;
use commonware_consensus::marshal::resolver::p2p as marshal_resolver;
use commonware_consensus::marshal::standard::{Inline, Standard};
use commonware_consensus::marshal::{Config as MarshalConfig, Start, Update};
use commonware_consensus::simplex;
use commonware_consensus::simplex::config::{Floor, ForwardPolicy, SkipBudget, SkipPolicy};
use commonware_consensus::simplex::elector::{Random, RandomVersion};
use commonware_consensus::types::{Epoch, FixedEpocher, Height, ViewDelta};
use commonware_cryptography::certificate::ConstantProvider;
use commonware_cryptography::sha256::Sha256;
use commonware_cryptography::{ChaCha20Poly1305, Digested};
use commonware_p2p::authenticated::lookup;
use commonware_p2p::{Address, AddressableManager, Recipients};
use commonware_parallel::Sequential;
use commonware_runtime::buffer::paged::CacheRef;
use commonware_runtime::{
    Clock, Handle, Metrics, Quota, Runner as _, Spawner, Storage, Supervisor as _,
};
use commonware_storage::archive::immutable;
use commonware_stream::cups::{self, Cups};
use commonware_stream::sake::{self, Sake};
use commonware_utils::Acknowledgement;
use commonware_utils::ordered::{Map, Quorum as _};
use rand_core::CryptoRng;
use tokio::sync::{mpsc, oneshot};

use super::app::{ChainApp, Finalized};
use super::block::{BlockLimits, ZgBlock, digest_of};
use super::keys::{Identity, Scheme, ValidatorKey, ValidatorSet, namespace};
use crate::{ChainError, Node};

/// Consensus settings of a validator.
#[derive(Clone, Debug)]
pub struct ValidatorConfig {
    /// Its keys.
    pub key: ValidatorKey,
    /// The genesis validator set.
    pub set: ValidatorSet,
    /// Where each validator's consensus p2p is reached.
    pub peers: Vec<(Identity, SocketAddr)>,
    /// Where its consensus p2p listens.
    pub listen: SocketAddr,
    /// Where the engine keeps its journals and archives.
    pub dir: PathBuf,
    /// Least time between a block and its child.
    pub block_time: Duration,
    /// Timeouts of a view.
    pub timeouts: Timeouts,
    /// Rewrites own proposals (fault tests).
    pub proposal_layer: Option<super::ProposalLayer>,
}

/// How long a view waits before voting to skip it.
#[derive(Clone, Copy, Debug)]
pub struct Timeouts {
    /// For the leader's proposal.
    pub leader: Duration,
    /// For the proposal to be notarized and certified.
    pub certification: Duration,
    /// Between re-broadcasts of a vote to skip.
    pub retry: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            leader: Duration::from_secs(2),
            certification: Duration::from_secs(4),
            retry: Duration::from_secs(2),
        }
    }
}

/// Channels of the consensus p2p network.
pub(crate) mod channel {
    pub(crate) const VOTES: u64 = 0;
    pub(crate) const CERTIFICATES: u64 = 1;
    pub(crate) const RESOLVER: u64 = 2;
    pub(crate) const BLOCKS: u64 = 3;
    pub(crate) const BACKFILL: u64 = 4;
    pub(crate) const TXS: u64 = 5;

    /// Messages per second a peer may send on a consensus channel.
    pub(crate) fn quota() -> commonware_runtime::Quota {
        commonware_runtime::Quota::per_second(std::num::NonZeroU32::new(10_000).expect("non-zero"))
    }

    /// Transactions per second a peer may gossip.
    pub(crate) fn tx_quota() -> commonware_runtime::Quota {
        commonware_runtime::Quota::per_second(std::num::NonZeroU32::new(2_000).expect("non-zero"))
    }
}

/// Blocks per consensus epoch: one epoch (the validator set is fixed in genesis).
const EPOCH_BLOCKS: u64 = u64::MAX / 4;
const MAILBOX: usize = 1024;
/// Largest transaction gossiped (the JSON-RPC body limit bounds what a client sends).
const MAX_GOSSIP_TX: usize = 256 * 1024;

/// A running consensus engine.
#[derive(Debug)]
pub struct ConsensusHandle {
    stop: Option<oneshot::Sender<()>>,
    done: Option<oneshot::Receiver<Result<(), ChainError>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ConsensusHandle {
    /// Resolves when the engine stops: `Err` if it failed.
    pub async fn run_until(
        mut self,
        cancel: tokio_util::sync::CancellationToken,
    ) -> Result<(), ChainError> {
        let done = self.done.take().expect("awaited once");
        let result = tokio::select! {
            r = done => r.unwrap_or_else(|_| Err(ChainError::Storage("the consensus thread ended".into()))),
            () = cancel.cancelled() => Ok(()),
        };
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
        result
    }
}

/// Starts the engine for `node` on its own thread.
pub fn start(node: Node, config: ValidatorConfig) -> Result<ConsensusHandle, ChainError> {
    std::fs::create_dir_all(&config.dir)
        .map_err(|e| ChainError::Config(format!("{}: {e}", config.dir.display())))?;
    if config.set.identities.index(&config.key.public()).is_none() {
        return Err(ChainError::Config(format!(
            "the validator key {} is not in the genesis validator set",
            config.key.public()
        )));
    }
    let (stop_tx, stop_rx) = oneshot::channel();
    let (done_tx, done_rx) = oneshot::channel();
    let runtime = commonware_runtime::tokio::Config::new()
        .with_worker_threads(2)
        .with_storage_directory(config.dir.clone())
        .with_catch_panics(false);
    let thread = std::thread::Builder::new()
        .name("zg-consensus".into())
        .spawn(move || {
            let runner = commonware_runtime::tokio::Runner::new(runtime);
            let result =
                runner.start(|context| async move { run(context, node, config, stop_rx).await });
            let _ = done_tx.send(result);
        })
        .map_err(|e| ChainError::Config(format!("starting the consensus thread: {e}")))?;
    Ok(ConsensusHandle {
        stop: Some(stop_tx),
        done: Some(done_rx),
        thread: Some(thread),
    })
}

fn archive_config<C: Clone>(
    prefix: &str,
    name: &str,
    page_cache: &CacheRef,
    codec_config: C,
) -> immutable::Config<C> {
    let p = |what: &str| format!("{prefix}-{name}-{what}");
    immutable::Config {
        metadata_partition: p("metadata"),
        freezer_table_partition: p("freezer-table"),
        freezer_table_initial_size: 65_536,
        freezer_table_resize_frequency: 4,
        freezer_table_resize_chunk_size: 16_384,
        freezer_key_partition: p("freezer-key"),
        freezer_key_page_cache: page_cache.clone(),
        freezer_value_partition: p("freezer-value"),
        freezer_value_target_size: 1 << 30,
        freezer_value_compression: None,
        ordinal_partition: p("ordinal"),
        items_per_section: NonZeroU64::new(4096).expect("non-zero"),
        codec_config,
        replay_buffer: NonZeroUsize::new(1 << 20).expect("non-zero"),
        freezer_key_write_buffer: NonZeroUsize::new(1 << 20).expect("non-zero"),
        freezer_value_write_buffer: NonZeroUsize::new(1 << 20).expect("non-zero"),
        ordinal_write_buffer: NonZeroUsize::new(1 << 20).expect("non-zero"),
    }
}

fn nz(n: usize) -> NonZeroUsize {
    NonZeroUsize::new(n).expect("non-zero")
}

async fn run(
    context: commonware_runtime::tokio::Context,
    node: Node,
    config: ValidatorConfig,
    stop: oneshot::Receiver<()>,
) -> Result<(), ChainError> {
    let me = config.key.public();
    let ns = namespace(node.chain_id());
    let limits = BlockLimits::default();

    // Authenticated p2p among the validators (encrypted, identities from genesis).
    let handshake = Cups::<_, ChaCha20Poly1305>::new(
        Sake {
            signer: config.key.identity.clone(),
            synchrony_bound: Duration::from_secs(5),
            max_handshake_age: Duration::from_secs(10),
            version: sake::Version::V1,
        },
        cups::Version::V1,
    );
    let mut p2p = lookup::Config::recommended(
        handshake,
        &ns,
        config.listen,
        nz(config.set.identities.len() + 1),
        max_message(config.set.identities.len(), &limits),
        nz(MAILBOX),
    );
    p2p.allow_private_ips = true;
    p2p.peer_connection_cooldown = Duration::from_secs(1);
    p2p.dial_frequency = Duration::from_millis(500);
    p2p.allowed_handshake_rate_per_ip =
        Quota::per_second(std::num::NonZeroU32::new(16).expect("non-zero"));
    let (mut network, mut oracle) = lookup::Network::new(context.child("network"), p2p);
    let peers: Map<Identity, Address> = config
        .peers
        .iter()
        .map(|(k, a)| (k.clone(), Address::Symmetric(*a)))
        .collect::<Vec<_>>()
        .try_into()
        .map_err(|_| ChainError::Config("duplicate validator identity".into()))?;
    oracle.track(0, peers);
    let quota = channel::quota();
    let channels = Channels {
        votes: network.register(channel::VOTES, quota),
        certificates: network.register(channel::CERTIFICATES, quota),
        resolver: network.register(channel::RESOLVER, quota),
        blocks: network.register(channel::BLOCKS, quota),
        backfill: network.register(channel::BACKFILL, quota),
        txs: network.register(channel::TXS, channel::tx_quota()),
    };
    network.start();
    let params = EngineParams {
        key: config.key.clone(),
        set: config.set.clone(),
        block_time: config.block_time,
        timeouts: config.timeouts,
        proposal_layer: config.proposal_layer.clone(),
        charge_cpu: false,
        partition_prefix: String::new(),
    };
    let committer = wire(context, node, params, channels, oracle.clone(), oracle).await?;
    tracing::info!(target: "zg_chain::consensus", identity = %me, listen = %config.listen, validators = config.set.identities.len(), "consensus started");
    tokio::select! {
        _ = stop => Ok(()),
        r = committer => r.map_err(|e| ChainError::Storage(format!("committer: {e}")))?,
    }
}

/// Largest consensus p2p message: a block at `limits` with its certificates, and room.
pub(crate) fn max_message(validators: usize, limits: &BlockLimits) -> u32 {
    commonware_consensus::marshal::max_payload_size::<Standard<ZgBlock>, Scheme>(
        validators as u32,
        limits,
    ) as u32
        + 64 * 1024
}

/// A sending and a receiving half of one p2p channel.
pub(crate) type Duplex<S, R> = (S, R);

/// The p2p channels the engine runs on (authenticated TCP for real validators, the
/// simulated network in [`super::sim`]).
pub(crate) struct Channels<S, R> {
    pub(crate) votes: Duplex<S, R>,
    pub(crate) certificates: Duplex<S, R>,
    pub(crate) resolver: Duplex<S, R>,
    pub(crate) blocks: Duplex<S, R>,
    pub(crate) backfill: Duplex<S, R>,
    pub(crate) txs: Duplex<S, R>,
}

/// What the engine needs to know of its validator, apart from the network.
#[derive(Clone)]
pub(crate) struct EngineParams {
    pub(crate) key: ValidatorKey,
    pub(crate) set: ValidatorSet,
    pub(crate) block_time: Duration,
    pub(crate) timeouts: Timeouts,
    pub(crate) proposal_layer: Option<super::ProposalLayer>,
    /// Charge execution's wall-clock time to the runtime's clock (simulations).
    pub(crate) charge_cpu: bool,
    /// Prefix of the engine's storage partitions (empty for a validator's own
    /// directory; distinct per validator when a simulation shares one storage).
    pub(crate) partition_prefix: String,
}

/// Wires simplex, marshal, block broadcast, transaction gossip and the committer of
/// `node` onto `channels`, on any commonware runtime. Returns the committer's task,
/// which ends only on a failure to commit.
pub(crate) async fn wire<E, S, R, P, B>(
    context: E,
    node: Node,
    params: EngineParams,
    channels: Channels<S, R>,
    peers: P,
    blocker: B,
) -> Result<Handle<Result<(), ChainError>>, ChainError>
where
    E: Clock + CryptoRng + Spawner + Storage + Metrics,
    S: commonware_p2p::Sender<PublicKey = Identity>,
    R: commonware_p2p::Receiver<PublicKey = Identity>,
    P: commonware_p2p::Provider<PublicKey = Identity>,
    B: commonware_p2p::Blocker<PublicKey = Identity>,
{
    let me = params.key.public();
    let ns = namespace(node.chain_id());
    let scheme = Scheme::signer(
        &ns,
        params.set.identities.clone(),
        params.set.polynomial.clone(),
        params.key.share.clone(),
    )
    .ok_or_else(|| {
        ChainError::Config("the validator's share does not match the genesis polynomial".into())
    })?;
    let limits = BlockLimits::default();
    let Channels {
        votes,
        certificates,
        resolver,
        blocks,
        backfill,
        txs: (mut tx_out, mut tx_in),
    } = channels;

    // Marshal: block broadcast, backfill, finalized-block archives, ordered delivery.
    let page_cache = CacheRef::new(NonZeroU16::new(4096).expect("non-zero"), nz(1024));
    let prefix = format!("{}marshal", params.partition_prefix);
    let marshal_resolver = marshal_resolver::init(
        context.child("marshal_resolver"),
        marshal_resolver::Config {
            public_key: me.clone(),
            peer_provider: peers.clone(),
            blocker: blocker.clone(),
            mailbox_size: nz(MAILBOX),
            fetch_timeout: commonware_utils::NonZeroDuration::new(Duration::from_secs(2))
                .expect("non-zero"),
            fetch_retry_delay: Duration::from_millis(200),
            priority_requests: false,
            priority_responses: false,
        },
        backfill,
    );
    let (broadcast, buffer) = commonware_broadcast::buffered::Engine::new(
        context.child("broadcast"),
        commonware_broadcast::buffered::Config {
            public_key: me.clone(),
            mailbox_size: nz(MAILBOX),
            deque_size: 10,
            priority: false,
            codec_config: limits,
            peer_provider: peers.clone(),
            strategy: Sequential,
        },
    );
    broadcast.start(blocks);
    let finalizations = immutable::Archive::init(
        context.child("finalizations_by_height"),
        archive_config(&prefix, "finalizations", &page_cache, ()),
    )
    .await
    .map_err(|e| ChainError::Storage(format!("consensus finalizations archive: {e}")))?;
    let finalized_blocks = immutable::Archive::init(
        context.child("finalized_blocks"),
        archive_config(&prefix, "blocks", &page_cache, limits),
    )
    .await
    .map_err(|e| ChainError::Storage(format!("consensus blocks archive: {e}")))?;
    let genesis = {
        let store = node.store();
        let header = store
            .header(0)?
            .ok_or_else(|| ChainError::Corrupt("no genesis block".into()))?;
        ZgBlock::new(header, Vec::new())
    };
    let genesis_digest = digest_of(genesis.hash());
    let epocher = FixedEpocher::new(NonZeroU64::new(EPOCH_BLOCKS).expect("non-zero"));
    let (actor, marshal, _floor) = Actor::init(
        context.child("marshal"),
        finalizations,
        finalized_blocks,
        MarshalConfig {
            provider: ConstantProvider::new(scheme.clone()),
            epocher: epocher.clone(),
            start: Start::Genesis(Digested::precomputed(genesis, genesis_digest)),
            partition_prefix: prefix.clone(),
            mailbox_size: nz(MAILBOX),
            view_retention: ViewDelta::new(64),
            prunable_items_per_section: NonZeroU64::new(64).expect("non-zero"),
            page_cache: page_cache.clone(),
            replay_buffer: nz(1 << 20),
            key_write_buffer: nz(1 << 20),
            value_write_buffer: nz(1 << 20),
            block_codec_config: limits,
            max_repair: nz(32),
            max_pending_acks: nz(16),
            strategy: Sequential,
        },
    )
    .await;
    let (finalized, mut updates) = Finalized::channel();
    actor.start(finalized, buffer, marshal_resolver);

    // Simplex over the application, wrapped for inline verification.
    let mut app = ChainApp::new(
        node.clone(),
        params.block_time,
        params.proposal_layer.clone(),
    );
    if params.charge_cpu {
        app = app.charging_cpu();
    }
    let charge_cpu = params.charge_cpu;
    let inline = Inline::new(context.child("application"), app, marshal.clone(), epocher);
    let t = params.timeouts;
    let engine = simplex::Engine::new(
        context.child("simplex"),
        simplex::config::Config {
            scheme,
            elector: Random::<Sha256>::new(RandomVersion::V1),
            blocker: blocker.clone(),
            automaton: inline.clone(),
            relay: inline.clone(),
            reporter: inline,
            strategy: Sequential,
            partition: format!("{}simplex", params.partition_prefix),
            mailbox_size: nz(MAILBOX),
            epoch: Epoch::zero(),
            floor: Floor::Genesis(genesis_digest),
            replay_buffer: nz(1 << 20),
            write_buffer: nz(1 << 20),
            page_cache,
            leader_timeout: t.leader,
            certification_timeout: t.certification,
            timeout_retry: t.retry,
            view_retention: ViewDelta::new(64),
            skip: SkipPolicy::Enabled {
                timeout: t.certification * 2,
                budget: SkipBudget::Participants,
            },
            fetch_timeout: commonware_utils::NonZeroDuration::new(Duration::from_secs(1))
                .expect("non-zero"),
            fetch_retry_delay: Duration::from_millis(200),
            forward: ForwardPolicy::Disabled,
            track_historical_votes: false,
        },
    );
    engine.start(votes, certificates, resolver);

    // Transaction gossip: what this node's clients send reaches every validator.
    let (gossip_tx, mut gossip_rx) = mpsc::unbounded_channel::<Vec<u8>>();
    node.set_gossip(gossip_tx);
    context.child("tx_gossip_out").spawn(move |_| async move {
        while let Some(raw) = gossip_rx.recv().await {
            if raw.len() <= MAX_GOSSIP_TX {
                tx_out.send(Recipients::All, raw, false);
            }
        }
    });
    let gossip_node = node.clone();
    let mut gossip_blocker = blocker.clone();
    context.child("tx_gossip_in").spawn(move |_| async move {
        while let Ok((peer, raw)) = tx_in.recv().await {
            let bytes: Vec<u8> = raw.as_ref().to_vec();
            // A validator gossips only transactions its own pool admitted: bytes that
            // are not a transaction at all are a protocol violation, not a stale nonce.
            if bytes.len() > MAX_GOSSIP_TX
                || <alloy_consensus::TxEnvelope as alloy_eips::eip2718::Decodable2718>::decode_2718(
                    &mut bytes.as_slice(),
                )
                .is_err()
            {
                tracing::warn!(target: "zg_chain::consensus", %peer, len = bytes.len(), "blocking a peer that gossiped a malformed transaction");
                gossip_blocker.block(peer);
                continue;
            }
            if let Err(e) = gossip_node.submit_gossiped(&bytes) {
                tracing::trace!(target: "zg_chain::consensus", %peer, error = %e, "gossiped transaction not admitted");
            }
        }
    });

    // Commit finalized blocks in order, with their certificates.
    let commit_node = node.clone();
    let committer = context.child("committer").spawn(move |context| async move {
        while let Some(update) = updates.recv().await {
            match update {
                Update::Tip(_, height, _) => {
                    commit_node.metrics().finalized_tip.set(height.get() as i64);
                }
                Update::Block(block, ack) => {
                    let n = block.inner().header.number;
                    let inner = block.inner_shared();
                    let committing = commit_node.clone();
                    let started = std::time::Instant::now();
                    context
                        .child("commit")
                        .shared(true)
                        .spawn(move |_| async move { committing.commit_finalized(&inner) })
                        .await
                        .map_err(|e| ChainError::Storage(format!("commit task: {e}")))??;
                    if charge_cpu {
                        context.sleep(started.elapsed()).await;
                    }
                    if let Some(finalization) = marshal.get_finalization(Height::new(n)).await {
                        commit_node.store().put_finality(n, &finalization.encode())?;
                    }
                    ack.acknowledge();
                    tracing::debug!(target: "zg_chain::consensus", number = n, "finalized block committed");
                }
            }
        }
        Ok::<(), ChainError>(())
    });
    tracing::debug!(target: "zg_chain::consensus", identity = %me, "engine wired");
    Ok(committer)
}
