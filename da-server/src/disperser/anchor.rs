//! The anchoring worker: one transaction at a time, carrying every submission that
//! queued up while the previous one was pending (batching under load, no added delay
//! when idle). A batch that reverts is retried one submission per transaction, so one
//! bad submission cannot sink the others.

use std::sync::Arc;

use alloy_primitives::B256;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use zg_primitives::Certificate;
use zg_primitives::abi::IDAEntrance::CommitRootSubmission;

use crate::error::ChainClientError;
use crate::metrics::DisperserMetrics;
use zg_da_client::DaChain;

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
    max_batch: usize,
    metrics: Arc<DisperserMetrics>,
    cancel: CancellationToken,
) {
    loop {
        let first = tokio::select! {
            _ = cancel.cancelled() => return,
            j = rx.recv() => match j { Some(j) => j, None => return },
        };
        let mut batch = vec![first];
        while batch.len() < max_batch.max(1) {
            match rx.try_recv() {
                Ok(j) => batch.push(j),
                Err(_) => break,
            }
        }
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = anchor_batch(&chain, batch, &metrics) => {}
        }
    }
}

async fn anchor_batch<C: DaChain>(chain: &C, batch: Vec<Job>, metrics: &DisperserMetrics) {
    let subs: Vec<CommitRootSubmission> = batch.iter().map(|j| j.submission.clone()).collect();
    metrics.anchor_txs.inc();
    let t = std::time::Instant::now();
    let size = subs.len();
    match chain.submit_commit_roots(subs).await {
        Ok(hash) => {
            tracing::debug!(target: "zg_da::anchor", size, ms = t.elapsed().as_millis() as u64, tx = %hash, "anchoring transaction mined");
            for job in batch {
                let r = confirm(chain, &job.cert, Some(hash)).await;
                if r.is_ok() {
                    metrics.anchored.inc();
                }
                let _ = job.reply.send(r);
            }
        }
        Err(e @ (ChainClientError::Reverted(_) | ChainClientError::StaleEpoch { .. }))
            if batch.len() > 1 =>
        {
            tracing::warn!(target: "zg_da::anchor", error = %e, size = batch.len(), "batch reverted; anchoring one by one");
            for job in batch {
                metrics.anchor_txs.inc();
                let r = match chain
                    .submit_commit_roots(vec![job.submission.clone()])
                    .await
                {
                    Ok(hash) => confirm(chain, &job.cert, Some(hash)).await,
                    Err(e) => Err(e),
                };
                if r.is_ok() {
                    metrics.anchored.inc();
                }
                let _ = job.reply.send(r);
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

async fn confirm<C: DaChain>(
    chain: &C,
    cert: &Certificate,
    hash: Option<B256>,
) -> Result<Option<B256>, ChainClientError> {
    if chain.commitment_exists(cert).await? {
        Ok(hash)
    } else {
        Err(ChainClientError::Reverted(format!(
            "transaction succeeded but {} of epoch {} quorum {} is not anchored",
            cert.data_root, cert.epoch, cert.quorum_id
        )))
    }
}
