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
use commonware_p2p::{Address, AddressableManager, Receiver as _, Recipients, Sender as _};
use commonware_parallel::Sequential;
use commonware_runtime::buffer::paged::CacheRef;
use commonware_runtime::{Quota, Runner as _, Spawner, Supervisor as _};
use commonware_storage::archive::immutable;
use commonware_stream::cups::{self, Cups};
use commonware_stream::sake::{self, Sake};
use commonware_utils::Acknowledgement;
use commonware_utils::ordered::{Map, Quorum as _};
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
mod channel {
    pub(super) const VOTES: u64 = 0;
    pub(super) const CERTIFICATES: u64 = 1;
    pub(super) const RESOLVER: u64 = 2;
    pub(super) const BLOCKS: u64 = 3;
    pub(super) const BACKFILL: u64 = 4;
    pub(super) const TXS: u64 = 5;
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
    let scheme = Scheme::signer(
        &ns,
        config.set.identities.clone(),
        config.set.polynomial.clone(),
        config.key.share.clone(),
    )
    .ok_or_else(|| {
        ChainError::Config("the validator's share does not match the genesis polynomial".into())
    })?;
    let limits = BlockLimits::default();

    // Authenticated p2p among the validators (encrypted, identities from genesis).
    let max_message = commonware_consensus::marshal::max_payload_size::<Standard<ZgBlock>, Scheme>(
        config.set.identities.len() as u32,
        &limits,
    ) as u32
        + 64 * 1024;
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
        max_message,
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
    let quota = Quota::per_second(std::num::NonZeroU32::new(10_000).expect("non-zero"));
    let votes = network.register(channel::VOTES, quota);
    let certificates = network.register(channel::CERTIFICATES, quota);
    let resolver = network.register(channel::RESOLVER, quota);
    let blocks = network.register(channel::BLOCKS, quota);
    let backfill = network.register(channel::BACKFILL, quota);
    let (mut tx_out, mut tx_in) = network.register(
        channel::TXS,
        Quota::per_second(std::num::NonZeroU32::new(2_000).expect("non-zero")),
    );
    network.start();

    // Marshal: block broadcast, backfill, finalized-block archives, ordered delivery.
    let page_cache = CacheRef::new(NonZeroU16::new(4096).expect("non-zero"), nz(1024));
    let prefix = "marshal".to_string();
    let marshal_resolver = marshal_resolver::init(
        context.child("marshal_resolver"),
        marshal_resolver::Config {
            public_key: me.clone(),
            peer_provider: oracle.clone(),
            blocker: oracle.clone(),
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
            peer_provider: oracle.clone(),
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
    let app = ChainApp::new(
        node.clone(),
        config.block_time,
        config.proposal_layer.clone(),
    );
    let inline = Inline::new(context.child("application"), app, marshal.clone(), epocher);
    let t = config.timeouts;
    let engine = simplex::Engine::new(
        context.child("simplex"),
        simplex::config::Config {
            scheme,
            elector: Random::<Sha256>::new(RandomVersion::V1),
            blocker: oracle.clone(),
            automaton: inline.clone(),
            relay: inline.clone(),
            reporter: inline,
            strategy: Sequential,
            partition: "simplex".into(),
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
    context.child("tx_gossip_in").spawn(move |_| async move {
        while let Ok((peer, raw)) = tx_in.recv().await {
            let bytes: Vec<u8> = raw.as_ref().to_vec();
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
                    context
                        .child("commit")
                        .shared(true)
                        .spawn(move |_| async move { committing.commit_finalized(&inner) })
                        .await
                        .map_err(|e| ChainError::Storage(format!("commit task: {e}")))??;
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
    tracing::info!(target: "zg_chain::consensus", identity = %me, listen = %config.listen, validators = config.set.identities.len(), "consensus started");
    tokio::select! {
        _ = stop => Ok(()),
        r = committer => r.map_err(|e| ChainError::Storage(format!("committer: {e}")))?,
    }
}
