//! The anchoring worker: one transaction at a time, carrying every submission that
//! queued up while the previous one was pending (batching under load, no added delay
//! when idle). A batch that reverts is retried one submission per transaction, so one
//! bad submission cannot sink the others.
//!
//! A job is answered only once its commitment is in the newest *final* state (the
//! chain's finality rule: the `finalized` tag, or N confirmations); a reorg that drops
//! the anchoring transaction before that is answered by anchoring again.

use std::sync::Arc;
use std::time::{Duration, Instant};

use alloy_primitives::B256;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use zg_primitives::Certificate;
use zg_primitives::abi::IDAEntrance::CommitRootSubmission;

use crate::error::ChainClientError;
use crate::metrics::DisperserMetrics;
use zg_da_client::{DaChain, TxStatus};

/// One submission to anchor.
pub(super) struct Job {
    pub(super) submission: CommitRootSubmission,
    pub(super) cert: Certificate,
    /// The anchoring transaction's hash once the commitment exists on chain.
    pub(super) reply: oneshot::Sender<Result<Option<B256>, ChainClientError>>,
}

pub(super) async fn run<C: DaChain>(
    chain: C,
    mut rx: mpsc::Receiver<Job>,
    settings: AnchorSettings,
    metrics: Arc<DisperserMetrics>,
    cancel: CancellationToken,
) {
    // Each submitted batch waits for finality in its own task, so the next batch is not
    // held up by the confirmations of the previous one.
    let mut confirming = JoinSet::new();
    loop {
        while confirming.try_join_next().is_some() {}
        let first = tokio::select! {
            _ = cancel.cancelled() => break,
            j = rx.recv() => match j { Some(j) => j, None => break },
        };
        let mut batch = vec![first];
        while batch.len() < settings.max_batch.max(1) {
            match rx.try_recv() {
                Ok(j) => batch.push(j),
                Err(_) => break,
            }
        }
        tokio::select! {
            _ = cancel.cancelled() => break,
            _ = anchor_batch(&chain, batch, &settings, &metrics, &mut confirming) => {}
        }
    }
    confirming.abort_all();
}

/// The anchoring worker's settings.
#[derive(Clone, Copy, Debug)]
pub(super) struct AnchorSettings {
    /// Submissions per transaction at most.
    pub(super) max_batch: usize,
    /// How long an anchor may take to become final before the job fails (retryably).
    pub(super) finality_timeout: Duration,
}

async fn anchor_batch<C: DaChain>(
    chain: &C,
    batch: Vec<Job>,
    settings: &AnchorSettings,
    metrics: &Arc<DisperserMetrics>,
    confirming: &mut JoinSet<()>,
) {
    let subs: Vec<CommitRootSubmission> = batch.iter().map(|j| j.submission.clone()).collect();
    metrics.anchor_txs.inc();
    let t = std::time::Instant::now();
    let size = subs.len();
    let mut confirm_each = |job: Job, hash: B256| {
        let (chain, metrics, timeout) = (chain.clone(), metrics.clone(), settings.finality_timeout);
        confirming.spawn(async move {
            let r = confirm(&chain, &job, hash, timeout, &metrics).await;
            if r.is_ok() {
                metrics.anchored.inc();
            }
            let _ = job.reply.send(r);
        });
    };
    match chain.submit_commit_roots(subs).await {
        Ok(hash) => {
            tracing::debug!(target: "zg_da::anchor", size, ms = t.elapsed().as_millis() as u64, tx = %hash, "anchoring transaction mined");
            for job in batch {
                confirm_each(job, hash);
            }
        }
        Err(e @ (ChainClientError::Reverted(_) | ChainClientError::StaleEpoch { .. }))
            if batch.len() > 1 =>
        {
            tracing::warn!(target: "zg_da::anchor", error = %e, size = batch.len(), "batch reverted; anchoring one by one");
            for job in batch {
                metrics.anchor_txs.inc();
                match chain
                    .submit_commit_roots(vec![job.submission.clone()])
                    .await
                {
                    Ok(hash) => confirm_each(job, hash),
                    Err(e) => {
                        let _ = job.reply.send(Err(e));
                    }
                }
            }
        }
        Err(e) => {
            tracing::warn!(target: "zg_da::anchor", error = %e, "anchoring failed");
            for job in batch {
                let _ = job.reply.send(Err(e.clone()));
            }
        }
    }
}

/// How often an anchor's finality is checked.
const FINALITY_POLL: Duration = Duration::from_millis(100);
/// Re-anchorings of one submission (each after a reorg dropped the previous
/// transaction) before its job fails.
const MAX_REANCHORS: u32 = 8;

/// Waits until the commitment is in the newest final state (by the chain's finality
/// rule), re-anchoring the same submission whenever a reorg dropped the transaction
/// that anchored it; the hash of the transaction that anchored it.
async fn confirm<C: DaChain>(
    chain: &C,
    job: &Job,
    mut hash: B256,
    timeout: Duration,
    metrics: &DisperserMetrics,
) -> Result<Option<B256>, ChainClientError> {
    let cert = &job.cert;
    let deadline = Instant::now() + timeout;
    let mut just_sent = true;
    let mut reanchors = 0;
    loop {
        if chain.commitment_final(cert).await? {
            return Ok(Some(hash));
        }
        if !chain.commitment_exists(cert).await? {
            match chain.transaction_status(hash).await? {
                TxStatus::Mined if just_sent => {
                    return Err(ChainClientError::Reverted(format!(
                        "transaction {hash} succeeded but {} of epoch {} quorum {} is not anchored",
                        cert.data_root, cert.epoch, cert.quorum_id
                    )));
                }
                TxStatus::Unknown => {
                    // A reorg dropped the anchoring transaction: anchor the same data
                    // root again before answering.
                    if reanchors == MAX_REANCHORS {
                        return Err(ChainClientError::Timeout(format!(
                            "{} of epoch {} quorum {} dropped by {MAX_REANCHORS} reorgs",
                            cert.data_root, cert.epoch, cert.quorum_id
                        )));
                    }
                    reanchors += 1;
                    metrics.reanchored.inc();
                    tracing::warn!(target: "zg_da::anchor", tx = %hash, data_root = %cert.data_root, "anchor dropped by a reorg; anchoring again");
                    hash = chain
                        .submit_commit_roots(vec![job.submission.clone()])
                        .await?;
                    just_sent = true;
                    continue;
                }
                TxStatus::Mined | TxStatus::Pending => {}
            }
        }
        just_sent = false;
        if Instant::now() >= deadline {
            return Err(ChainClientError::Timeout(format!(
                "{} of epoch {} quorum {} not final within {timeout:?}",
                cert.data_root, cert.epoch, cert.quorum_id
            )));
        }
        tokio::time::sleep(FINALITY_POLL).await;
    }
}
