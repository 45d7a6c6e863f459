//! The chain follower: reads the flow's `Submit` events of final blocks (by the chain's
//! finality rule) in block order and records each submission, with the cursor moved in
//! the same atomic write, so a restart resumes exactly where it stopped. The blocks it
//! applied are kept as checkpoints; if a reorg deeper than the rule replaces one, the
//! follower rewinds to the newest checkpoint still canonical (the KV layer rolls back
//! with it) and follows the new chain.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use alloy::providers::{DynProvider, Provider};
use alloy::rpc::types::Filter;
use alloy_primitives::{Address, B256};
use alloy_sol_types::SolEvent;
use tokio_util::sync::CancellationToken;
use zg_node_kit::FinalityRule;
use zg_node_kit::confirm::{Fork, canonical_hash, final_head, find_fork};
use zg_primitives::abi::IFlow;

use crate::error::{ChainError, StoreError};
use crate::merkle::nodes_root;
use crate::metrics::Metrics;
use crate::store::{Store, SyncCursor, TxRecord};

/// What the follower reads and how often.
#[derive(Clone, Debug)]
pub struct SyncConfig {
    /// The flow contract.
    pub flow: Address,
    /// Pause between polls when caught up.
    pub poll_interval: Duration,
    /// Most blocks one `eth_getLogs` asks for.
    pub max_range: u64,
    /// Which blocks are final: only those are followed.
    pub finality: FinalityRule,
}

/// Shared view of the follower's progress.
#[derive(Debug, Default)]
pub struct SyncState {
    /// Chain id (0 until the chain answered once).
    pub chain_id: AtomicU64,
}

#[derive(Debug, thiserror::Error)]
enum StepError {
    #[error(transparent)]
    Chain(#[from] ChainError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn rpc<E: std::fmt::Display>(e: E) -> ChainError {
    ChainError::Rpc(e.to_string())
}

/// The record of one `Submit` log (`None` when it is not a well-formed submission).
pub fn submission_record(log: &alloy::rpc::types::Log) -> Option<TxRecord> {
    let ev = IFlow::Submit::decode_log_data(log.data()).ok()?;
    let s = &ev.submission;
    let nodes: Vec<(u32, B256)> = s
        .nodes
        .iter()
        .map(|n| u32::try_from(n.height).ok().map(|h| (h, n.root)))
        .collect::<Option<_>>()?;
    let roots: Vec<B256> = nodes.iter().map(|n| n.1).collect();
    let seq = u64::try_from(ev.submissionIndex).ok()?;
    Some(TxRecord {
        seq,
        root: nodes_root(&roots)?,
        size: u64::try_from(s.length).ok().filter(|&l| l > 0)?,
        start_entry: u64::try_from(ev.startPos).ok()?,
        nodes,
        tags: s.tags.to_vec(),
        sender: ev.sender,
        block: log.block_number?,
        uploaded: 0,
        finalized: false,
        data_seq: seq,
    })
}

async fn step(
    store: &Store,
    provider: &DynProvider,
    config: &SyncConfig,
    state: &SyncState,
    metrics: &Metrics,
) -> Result<bool, StepError> {
    if state.chain_id.load(Ordering::Relaxed) == 0 {
        let id = provider.get_chain_id().await.map_err(rpc)?;
        state.chain_id.store(id, Ordering::Relaxed);
    }
    let Some(fin) = final_head(provider, config.finality).await.map_err(rpc)? else {
        return Ok(false);
    };
    let mut cursor = store.cursor()?;
    if let Some(c) = cursor
        && canonical_hash(provider, c.block).await.map_err(rpc)? != Some(c.hash)
    {
        // A reorg replaced blocks already applied (deeper than the finality rule):
        // undo them back to the newest block still canonical.
        match find_fork(provider, &store.checkpoints()?)
            .await
            .map_err(rpc)?
        {
            Fork::None => {}
            Fork::At(block, hash) => {
                let removed = store.rewind(block, hash)?;
                metrics.rewound(removed);
                tracing::warn!(target: "zg_storage::sync", from = c.block, to = block, removed, "chain reorg: rewound");
                cursor = store.cursor()?;
            }
            Fork::Deeper => {
                return Err(ChainError::Rpc(format!(
                    "block {} ({}) was replaced and no checkpoint is canonical any more: \
                     the reorg is deeper than {} follower steps; resync the node",
                    c.block,
                    c.hash,
                    zg_node_kit::confirm::CHECKPOINTS
                ))
                .into());
            }
        }
    }
    let from = cursor.map_or(0, |c| c.block + 1);
    if from > fin.number {
        return Ok(false);
    }
    let to = fin.number.min(from + config.max_range.max(1) - 1);
    let filter = Filter::new()
        .address(config.flow)
        .event_signature(IFlow::Submit::SIGNATURE_HASH)
        .from_block(from)
        .to_block(to);
    // The logs belong to the chain ending in `to`'s block when its hash is the same
    // before and after they are read.
    let hash = canonical_hash(provider, to)
        .await
        .map_err(rpc)?
        .ok_or_else(|| ChainError::Rpc(format!("block {to} not found")))?;
    let logs = provider.get_logs(&filter).await.map_err(rpc)?;
    if canonical_hash(provider, to).await.map_err(rpc)? != Some(hash) {
        return Ok(true);
    }
    let mut next_seq = cursor.map_or(0, |c| c.next_seq);
    let mut txs = Vec::with_capacity(logs.len());
    for log in &logs {
        match submission_record(log) {
            Some(tx) => {
                if tx.seq != next_seq {
                    tracing::warn!(target: "zg_storage::sync", seq = tx.seq, expected = next_seq, "submission index out of order");
                }
                next_seq = next_seq.max(tx.seq + 1);
                tracing::debug!(target: "zg_storage::sync", seq = tx.seq, root = %tx.root, size = tx.size, "submission");
                txs.push(tx);
            }
            None => {
                tracing::warn!(target: "zg_storage::sync", tx = ?log.transaction_hash, "undecodable Submit log skipped")
            }
        }
    }
    let n = txs.len();
    store.apply_submissions(
        txs,
        SyncCursor {
            block: to,
            hash,
            next_seq,
        },
    )?;
    metrics.synced(to, next_seq, n);
    Ok(to < fin.number)
}

/// Follows the chain until `cancel`; chain errors are logged and retried, a store
/// failure ends the follower with that error (its supervisor then stops the node).
pub async fn follow(
    store: Store,
    provider: DynProvider,
    config: SyncConfig,
    state: Arc<SyncState>,
    metrics: Arc<Metrics>,
    cancel: CancellationToken,
) -> Result<(), crate::error::StoreError> {
    let mut failing = false;
    loop {
        let wait = match step(&store, &provider, &config, &state, &metrics).await {
            Ok(more) => {
                if failing {
                    tracing::info!(target: "zg_storage::sync", "chain reachable again");
                    failing = false;
                }
                if more {
                    Duration::ZERO
                } else {
                    config.poll_interval
                }
            }
            Err(StepError::Chain(e)) => {
                if !failing {
                    tracing::warn!(target: "zg_storage::sync", error = %e, "chain unavailable; retrying");
                    failing = true;
                }
                config.poll_interval.max(Duration::from_millis(500))
            }
            Err(StepError::Store(e)) => {
                tracing::error!(target: "zg_storage::sync", error = %e, "store failed; stopping");
                return Err(e);
            }
        };
        tokio::select! {
            _ = cancel.cancelled() => return Ok(()),
            _ = tokio::time::sleep(wait) => {}
        }
    }
}
