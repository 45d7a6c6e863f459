//! The KV layer's replay driver: reads submissions in flow order from the log layer
//! (the node's API: its store, or segments rebuilt from the cluster) and replays them
//! into the KV state.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::api::StorageApi;
use crate::error::NodeError;
use crate::kv::Kv;
use crate::types::stream_ids;

/// What one replay step did.
enum Step {
    /// Submission replayed or skipped; go on.
    Done,
    /// Not ready (not synced, not finalized, data not readable): wait.
    Wait,
}

async fn step(api: &StorageApi, kv: &Kv) -> Result<Step, NodeError> {
    // A reorg removed submissions from the log: undo what they did here first.
    let rewinds = api.store().rewinds()?;
    let applied = kv.state.rewinds_applied()?;
    if let Some(first) = rewinds.iter().filter(|r| r.0 >= applied).map(|r| r.1).min() {
        let total = rewinds.last().map_or(0, |r| r.0 + 1);
        tracing::warn!(target: "zg_storage::kv", from_seq = first, "chain reorg: rolling the KV state back");
        tokio::task::block_in_place(|| kv.state.rollback(first, total))?;
    }
    let seq = kv.state.next_seq()?;
    let Some(tx) = api.store().tx(seq)? else {
        return Ok(Step::Wait);
    };
    let ids = stream_ids(&tx.tags);
    if !kv.holds(&ids) {
        kv.state.commit(seq, None, &[], &[], &[])?;
        return Ok(Step::Done);
    }
    let mut allowed = false;
    for id in &ids {
        if kv.state.can_write(tx.sender, id, seq)? {
            allowed = true;
            break;
        }
    }
    if !allowed {
        kv.state
            .commit(seq, Some("SenderNoWritePermission"), &[], &[], &[])?;
        return Ok(Step::Done);
    }
    if !tx.finalized {
        return Ok(Step::Wait);
    }
    let mut data = Vec::with_capacity(tx.size as usize);
    for i in 0..tx.segments() {
        match api.read_segment(&tx, i).await? {
            Some(seg) => data.extend_from_slice(&seg),
            None => return Ok(Step::Wait),
        }
    }
    let out = tokio::task::block_in_place(|| kv.replay(&tx, &ids, &data))?;
    tracing::debug!(target: "zg_storage::kv", seq, result = %out.result, "replayed");
    kv.state.commit(
        seq,
        Some(&out.result),
        &out.writes,
        &out.acls,
        &out.new_streams,
    )?;
    Ok(Step::Done)
}

/// Replays submissions in flow order until `cancel`; waits `poll` when the next one is
/// not ready. A store failure stops the node.
pub(crate) async fn replay_loop(
    api: Arc<StorageApi>,
    kv: Arc<Kv>,
    poll: Duration,
    cancel: CancellationToken,
) -> Result<(), crate::error::StoreError> {
    loop {
        let wait = match step(&api, &kv).await {
            Ok(Step::Done) => Duration::ZERO,
            Ok(Step::Wait) => poll,
            Err(NodeError::Store(e)) => {
                tracing::error!(target: "zg_storage::kv", error = %e, "store failed; stopping");
                return Err(e);
            }
            Err(e) => {
                tracing::warn!(target: "zg_storage::kv", error = %e, "replay step failed; retrying");
                poll
            }
        };
        if wait.is_zero() {
            if cancel.is_cancelled() {
                return Ok(());
            }
            tokio::task::yield_now().await;
            continue;
        }
        tokio::select! {
            _ = cancel.cancelled() => return Ok(()),
            _ = tokio::time::sleep(wait) => {}
        }
    }
}
