//! A validator network past this machine: `N` validators, each a whole [`Node`] (RocksDB,
//! revm, the mempool) behind the same engine wiring as a real validator, on commonware's
//! deterministic runtime and simulated p2p, whose links have a latency, a jitter and a
//! loss rate. Time is simulated: a 50-validator network at WAN latencies runs on two
//! cores, and each validator's execution (building, re-executing and committing blocks)
//! is charged to the simulated clock at the wall-clock time it took, as if every
//! validator had a machine of its own.
//!
//! A load of signed transfers is sent at a fixed rate, each to one validator (which
//! gossips it); validator 0 observes when each is final. What is measured is the same
//! as on loopback (`benches/finality.rs`): transaction → final, and transfers/s.

use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use alloy_consensus::{SignableTransaction, TxEip1559, TxEnvelope};
use alloy_eips::eip2718::Encodable2718;
use alloy_primitives::{Address, B256, Bytes, TxKind, U256};
use alloy_signer::SignerSync;
use alloy_signer_local::PrivateKeySigner;
use commonware_p2p::Recipients;
use commonware_p2p::simulated;
use commonware_runtime::{Clock, Runner as _, Spawner, Supervisor as _, deterministic};
use commonware_utils::Probability;
use rand::{Rng, SeedableRng};

use super::Timeouts;
use super::block::BlockLimits;
use super::engine::{Channels, EngineParams, channel, max_message, wire};
use super::keys::{Identity, deal_validators};
use crate::{ChainError, Genesis, Node, NodeConfig};

/// A simulated network and its load.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// Validators.
    pub validators: usize,
    /// One-way latency of a link: each pair of validators gets a mean drawn uniformly
    /// from this range (both directions alike).
    pub latency: (Duration, Duration),
    /// Standard deviation of a message's latency, as a fraction of its link's mean.
    pub jitter: f64,
    /// Probability that a message is lost.
    pub loss: f64,
    /// Simulated time the load is sent for.
    pub duration: Duration,
    /// Transfers sent per simulated second.
    pub tx_rate: u32,
    /// Accounts the transfers come from.
    pub senders: usize,
    /// Least time between blocks (zero: as fast as consensus allows).
    pub block_time: Duration,
    /// View timeouts.
    pub timeouts: Timeouts,
    /// Seed of the runtime's scheduler and of the link latencies.
    pub seed: u64,
    /// How many of the validators (the last ones) are Byzantine: instead of running a
    /// node they flood every consensus channel with malformed messages.
    pub byzantine: usize,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            validators: 50,
            latency: (Duration::from_millis(50), Duration::from_millis(200)),
            jitter: 0.1,
            loss: 0.01,
            duration: Duration::from_secs(60),
            tx_rate: 100,
            senders: 50,
            block_time: Duration::ZERO,
            timeouts: Timeouts::default(),
            seed: 1,
            byzantine: 0,
        }
    }
}

/// What a simulation measured (times are simulated unless named wall).
#[derive(Clone, Debug, serde::Serialize)]
pub struct SimReport {
    /// Validators.
    pub validators: usize,
    /// Height finalized at validator 0 when the simulation ended.
    pub finalized_height: u64,
    /// Simulated seconds from the first transfer to the end.
    pub simulated_seconds: f64,
    /// Wall-clock seconds the simulation took.
    pub wall_seconds: f64,
    /// Transfers sent.
    pub txs_sent: usize,
    /// Transfers final at validator 0.
    pub txs_final: usize,
    /// Transfer sent → final at validator 0, median (ms).
    pub finality_p50_ms: f64,
    /// Transfer sent → final at validator 0, 99th percentile (ms).
    pub finality_p99_ms: f64,
    /// Median time between finalized blocks at validator 0 (ms).
    pub block_interval_p50_ms: f64,
    /// Transfers final per simulated second over the load.
    pub txs_per_second: f64,
    /// Every validator holds the same block at every height they all reached.
    pub agreed: bool,
    /// The lowest head among the honest validators at the end.
    pub lowest_head: u64,
    /// Byzantine validators.
    pub byzantine: usize,
    /// Malformed messages the Byzantine validators sent.
    pub junk_sent: u64,
    /// (honest, Byzantine) pairs where the honest validator blocked the Byzantine one.
    pub blocks_of_byzantine: usize,
}

fn transfer(chain_id: u64, signer: &PrivateKeySigner, nonce: u64) -> Result<Vec<u8>, ChainError> {
    let tx = TxEip1559 {
        chain_id,
        nonce,
        gas_limit: 21_000,
        max_fee_per_gas: 100_000_000_000,
        max_priority_fee_per_gas: 1_000_000_000,
        to: TxKind::Call(Address::repeat_byte(0x77)),
        value: U256::from(1),
        access_list: Default::default(),
        input: Bytes::new(),
    };
    let sig = signer
        .sign_hash_sync(&tx.signature_hash())
        .map_err(|e| ChainError::Config(format!("signing a transfer: {e}")))?;
    Ok(TxEnvelope::Eip1559(tx.into_signed(sig)).encoded_2718())
}

fn percentile(v: &mut [f64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

fn millis_between(from: SystemTime, to: SystemTime) -> f64 {
    to.duration_since(from).unwrap_or_default().as_secs_f64() * 1e3
}

fn nz(n: usize) -> NonZeroUsize {
    NonZeroUsize::new(n).unwrap_or(NonZeroUsize::MIN)
}

/// Runs a simulation with the nodes' data under `dir` (which should be empty).
pub fn simulate(dir: &Path, config: &SimConfig) -> Result<SimReport, ChainError> {
    let n = config.validators;
    if config.byzantine >= n {
        return Err(ChainError::Config(
            "at least one validator must be honest".into(),
        ));
    }
    let honest = n - config.byzantine;
    let addresses: Vec<String> = (0..n)
        .map(|i| format!("10.0.{}.{}:30303", i / 250, i % 250 + 1))
        .collect();
    let (consensus, keys) = deal_validators(&addresses)?;
    let set = consensus
        .decode()
        .map_err(|e| ChainError::Config(e.to_string()))?;
    let mut seeded = rand::rngs::StdRng::seed_from_u64(config.seed);
    let senders: Vec<PrivateKeySigner> = (0..config.senders.max(1))
        .map(|_| PrivateKeySigner::random())
        .collect();
    let mut genesis = Genesis {
        consensus: Some(consensus),
        ..Genesis::default()
    };
    genesis.da.epoch_blocks = 1_000_000;
    let balance = U256::from(10u64).pow(U256::from(24));
    for s in &senders {
        genesis.alloc.insert(s.address(), balance);
    }
    let total = (config.duration.as_secs_f64() * f64::from(config.tx_rate)) as usize;
    let per_sender = total.div_ceil(senders.len()) as u64;
    let mut load = Vec::with_capacity(total);
    for nonce in 0..per_sender {
        for (i, s) in senders.iter().enumerate() {
            if load.len() < total {
                load.push((i % honest, transfer(genesis.chain_id, s, nonce)?));
            }
        }
    }
    let mut nodes = Vec::with_capacity(honest);
    for i in 0..honest {
        let node_config = NodeConfig {
            genesis: genesis.clone(),
            block_time: config.block_time,
            pool: crate::mempool::PoolLimits {
                max: total.max(1_000) * 2,
                per_sender: per_sender as usize + 16,
                max_nonce_gap: per_sender + 16,
                ..Default::default()
            },
            ..NodeConfig::default()
        };
        nodes.push(Node::open(&dir.join(format!("v{i}")), node_config)?);
    }
    let mut links = Vec::new();
    let (lo, hi) = config.latency;
    for a in 0..n {
        for b in a + 1..n {
            let mean = if hi > lo {
                Duration::from_micros(
                    seeded.random_range(lo.as_micros() as u64..=hi.as_micros() as u64),
                )
            } else {
                lo
            };
            links.push((a, b, mean));
        }
    }
    let success = Probability::from_f64(1.0 - config.loss.clamp(0.0, 1.0))
        .ok_or_else(|| ChainError::Config(format!("loss {} is not a probability", config.loss)))?;
    let identities: Vec<Identity> = keys.iter().map(|k| k.public()).collect();
    let limits = BlockLimits::default();
    let wall = Instant::now();
    let runner = deterministic::Runner::new(
        deterministic::Config::new()
            .with_seed(config.seed)
            .with_timeout(None),
    );
    let config = config.clone();
    runner.start(|context| async move {
        let (network, oracle) = simulated::Network::new_with_peers(
            context.child("network"),
            simulated::Config {
                max_size: max_message(n, &limits),
                max_peers_per_set: nz(n),
                disconnect_on_block: true,
                tracked_peer_sets: nz(1),
            },
            identities.clone(),
        )
        .await;
        network.start();
        for (a, b, mean) in links {
            let link = simulated::Link {
                latency: mean,
                jitter: mean.mul_f64(config.jitter),
                success_rate: success,
            };
            for (from, to) in [(a, b), (b, a)] {
                oracle
                    .add_link(
                        identities[from].clone(),
                        identities[to].clone(),
                        link.clone(),
                    )
                    .await
                    .map_err(|e| ChainError::Config(format!("linking validators: {e}")))?;
            }
        }
        let mut committers = Vec::with_capacity(n);
        let junk_sent = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        for (i, key) in keys.into_iter().enumerate() {
            let control = oracle.control(key.public());
            let register = |channel: u64, quota| {
                let control = control.clone();
                async move {
                    control
                        .register(channel, quota)
                        .await
                        .map_err(|e| ChainError::Config(format!("registering a channel: {e}")))
                }
            };
            let quota = channel::quota();
            let channels = Channels {
                votes: register(channel::VOTES, quota).await?,
                certificates: register(channel::CERTIFICATES, quota).await?,
                resolver: register(channel::RESOLVER, quota).await?,
                blocks: register(channel::BLOCKS, quota).await?,
                backfill: register(channel::BACKFILL, quota).await?,
                txs: register(channel::TXS, channel::tx_quota()).await?,
            };
            if i >= honest {
                spam(
                    &context,
                    channels,
                    junk_sent.clone(),
                    config.seed ^ i as u64,
                );
                continue;
            }
            let params = EngineParams {
                key,
                set: set.clone(),
                block_time: config.block_time,
                timeouts: config.timeouts,
                proposal_layer: None,
                charge_cpu: true,
                partition_prefix: format!("v{i}_"),
            };
            committers.push(
                wire(
                    context.child("validator").with_attribute("index", i),
                    nodes[i].clone(),
                    params,
                    channels,
                    oracle.manager(),
                    control,
                )
                .await?,
            );
        }

        // Validator 0 watches its finalized blocks for the transfers.
        let observer = nodes[0].clone();
        let mut heads = observer.subscribe_head();
        let mut sent_at: HashMap<B256, SystemTime> = HashMap::with_capacity(load.len());
        let mut latencies = Vec::with_capacity(load.len());
        let mut commits = Vec::new();
        let mut seen = observer.head().header.number;
        let interval = Duration::from_secs_f64(1.0 / f64::from(config.tx_rate.max(1)));
        let started = context.current();
        let mut next_send = started;
        let mut pending = load.into_iter();
        let txs_sent = pending.len();
        let drain = config.timeouts.certification * 8 + Duration::from_secs(10);
        let load_end = started + config.duration;
        let mut last_final = started;
        loop {
            let now = context.current();
            while now >= next_send {
                let Some((to, raw)) = pending.next() else {
                    break;
                };
                let hash = alloy_primitives::keccak256(&raw);
                sent_at.insert(hash, now);
                if let Err(e) = nodes[to].submit_raw(&raw) {
                    tracing::warn!(target: "zg_chain::sim", error = %e, "a transfer was refused");
                }
                next_send += interval;
            }
            let head = observer.head().header.number;
            for number in seen + 1..=head {
                commits.push(now);
                for tx in observer.store().block_txs(number)? {
                    if let Some(at) = sent_at.remove(tx.tx_hash()) {
                        latencies.push(millis_between(at, now));
                        last_final = now;
                    }
                }
            }
            seen = head;
            let done_sending = pending.len() == 0;
            if done_sending && (sent_at.is_empty() || now >= load_end + drain) {
                break;
            }
            // Wake for the next send or the next block, whichever comes first.
            let wait = if done_sending {
                Duration::from_millis(50)
            } else {
                next_send
                    .duration_since(now)
                    .unwrap_or_default()
                    .min(Duration::from_millis(50))
            };
            let changed = Box::pin(heads.changed());
            let timeout = Box::pin(context.sleep(wait.max(Duration::from_millis(1))));
            let _ = futures::future::select(changed, timeout).await;
        }
        let txs_final = latencies.len();
        let simulated = millis_between(started, context.current()) / 1e3;
        let busy =
            millis_between(started, last_final.max(started + Duration::from_millis(1))) / 1e3;
        let mut intervals: Vec<f64> = commits
            .windows(2)
            .map(|w| millis_between(w[0], w[1]))
            .collect();
        let blocks_of_byzantine = oracle
            .blocked()
            .await
            .map_err(|e| ChainError::Config(format!("reading the simulated network: {e}")))?
            .into_iter()
            .filter(|(from, to)| {
                let index = |k: &Identity| identities.iter().position(|x| x == k);
                index(from).is_some_and(|f| f < honest) && index(to).is_some_and(|t| t >= honest)
            })
            .count();
        let heads: Vec<u64> = nodes.iter().map(|node| node.head().header.number).collect();
        let lowest = heads.iter().copied().min().unwrap_or(0);
        let mut agreed = true;
        for number in 1..=lowest {
            let first = nodes[0].store().header(number)?.map(|h| h.hash_slow());
            for node in &nodes[1..] {
                if node.store().header(number)?.map(|h| h.hash_slow()) != first {
                    agreed = false;
                }
            }
        }
        for committer in committers {
            committer.abort();
        }
        Ok(SimReport {
            validators: n,
            finalized_height: observer.head().header.number,
            simulated_seconds: simulated,
            wall_seconds: wall.elapsed().as_secs_f64(),
            txs_sent,
            txs_final,
            finality_p50_ms: percentile(&mut latencies.clone(), 0.5),
            finality_p99_ms: percentile(&mut latencies, 0.99),
            block_interval_p50_ms: percentile(&mut intervals, 0.5),
            txs_per_second: txs_final as f64 / busy,
            agreed,
            lowest_head: lowest,
            byzantine: config.byzantine,
            junk_sent: junk_sent.load(std::sync::atomic::Ordering::Relaxed),
            blocks_of_byzantine,
        })
    })
}

/// A Byzantine validator: floods each of its channels with malformed messages (random
/// bytes of random lengths up to 16 KiB, every 20 ms) and drains what it receives.
fn spam<S, R>(
    context: &deterministic::Context,
    channels: Channels<S, R>,
    sent: std::sync::Arc<std::sync::atomic::AtomicU64>,
    seed: u64,
) where
    S: commonware_p2p::Sender<PublicKey = Identity>,
    R: commonware_p2p::Receiver<PublicKey = Identity>,
{
    let Channels {
        votes,
        certificates,
        resolver,
        blocks,
        backfill,
        txs,
    } = channels;
    for (k, (mut sender, mut receiver)) in [votes, certificates, resolver, blocks, backfill, txs]
        .into_iter()
        .enumerate()
    {
        let sent = sent.clone();
        let mut rng =
            rand::rngs::StdRng::seed_from_u64(seed.wrapping_mul(31).wrapping_add(k as u64));
        context.child("byzantine").spawn(move |context| async move {
            loop {
                let len = rng.random_range(1..=16 * 1024);
                let junk: Vec<u8> = (0..len).map(|_| rng.random()).collect();
                let _ = sender.send(Recipients::All, junk, false);
                sent.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                context.sleep(Duration::from_millis(20)).await;
            }
        });
        context
            .child("byzantine_drain")
            .spawn(move |_| async move { while receiver.recv().await.is_ok() {} });
    }
}
