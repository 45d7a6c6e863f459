//! The node's side of the chain's sampling lottery (`0x…1002`, PoDAS-style): once per
//! round, find the stored cells of this node's custody that win the round's seed and
//! target, and submit the best of them with their KZG proofs and Merkle paths. A win on
//! chain shows the node still holds what it signed for.
//!
//! Each candidate is checked with `eth_call` first (anchored? anchored before the round?
//! round full?), so refusals cost no gas.

use std::sync::Arc;
use std::time::Duration;

use alloy_primitives::{Bytes, U256};
use tokio_util::sync::CancellationToken;
use zg_primitives::abi::IDASampling;
use zg_primitives::{CELLS_PER_EXT_BLOB, Certificate, sample_quality};

use super::NodeService;
use crate::chain::SampleRound;
use crate::error::{ChainClientError, StoreError};
use crate::metrics::result;

/// A stored cell that wins a round.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Candidate {
    pub(crate) cert: Certificate,
    pub(crate) column: u16,
    pub(crate) blob: u32,
    pub(crate) quality: U256,
}

#[derive(Debug, thiserror::Error)]
enum LotteryError {
    #[error(transparent)]
    Chain(#[from] ChainClientError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("task: {0}")]
    Task(String),
}

/// The per-round scanner and submitter.
pub(crate) struct Lottery {
    pub(crate) service: Arc<NodeService>,
    /// Most wins submitted per round.
    pub(crate) max_per_round: usize,
}

impl Lottery {
    pub(crate) async fn run(self, interval: Duration, cancel: CancellationToken) {
        let mut last: Option<u64> = None;
        loop {
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tokio::time::sleep(interval) => {}
            }
            match self.tick(last).await {
                Ok(round) => last = round.or(last),
                Err(e) => {
                    tracing::warn!(target: "zg_da::node::lottery", error = %e, "sampling round scan failed")
                }
            }
        }
    }

    /// Scans and submits for the current round unless `last` was it; returns the round
    /// handled.
    async fn tick(&self, last: Option<u64>) -> Result<Option<u64>, LotteryError> {
        let chain = self.service.chain();
        let round = chain.sample_round().await?;
        if last == Some(round.round) {
            return Ok(None);
        }
        let window: u64 = chain.sample_params().await?.windowEpochs.saturating_to();
        let min_epoch = chain.epoch().await?.saturating_sub(window);
        let store = self.service.store().clone();
        let certs = tokio::task::spawn_blocking(move || store.attested(min_epoch))
            .await
            .map_err(|e| LotteryError::Task(e.to_string()))??;
        // Our custody index in each certificate's quorum.
        let me = self.service.address();
        let mut custody = Vec::with_capacity(certs.len());
        for cert in certs {
            if let Some(q) = chain.quorum(cert.epoch, cert.quorum_id).await?
                && let Some(m) = q.member(me)
            {
                custody.push((cert, m.index, q.members.len()));
            }
        }
        let store = self.service.store().clone();
        let limit = self.max_per_round * 4;
        let candidates = tokio::task::spawn_blocking(move || scan(&store, &custody, &round, limit))
            .await
            .map_err(|e| LotteryError::Task(e.to_string()))??;
        let metrics = self.service.metrics();
        metrics.sample_round.set(round.round as i64);
        let mut submitted = 0;
        for c in candidates {
            if submitted == self.max_per_round {
                break;
            }
            let store = self.service.store().clone();
            let cc = c.clone();
            let Some(response) =
                tokio::task::spawn_blocking(move || build_response(&store, round.round, &cc))
                    .await
                    .map_err(|e| LotteryError::Task(e.to_string()))??
            else {
                continue;
            };
            match chain.check_sampling_response(&response).await {
                Ok(()) => {}
                Err(ChainClientError::Reverted(why)) => {
                    tracing::debug!(target: "zg_da::node::lottery", root = %c.cert.data_root, column = c.column, blob = c.blob, %why, "candidate refused");
                    metrics.sample_wins.get_or_create(&result("refused")).inc();
                    continue;
                }
                Err(e) => return Err(e.into()),
            }
            match chain.submit_sampling_response(response).await {
                Ok(tx) => {
                    submitted += 1;
                    metrics.sample_wins.get_or_create(&result("accepted")).inc();
                    tracing::info!(target: "zg_da::node::lottery", round = round.round, root = %c.cert.data_root, column = c.column, blob = c.blob, %tx, "sampling win recorded");
                }
                Err(ChainClientError::Reverted(why)) => {
                    metrics.sample_wins.get_or_create(&result("reverted")).inc();
                    tracing::warn!(target: "zg_da::node::lottery", %why, "sampling win reverted");
                }
                Err(e) => return Err(e.into()),
            }
        }
        Ok(Some(round.round))
    }
}

/// The winning cells of this node's custody, best (lowest quality) first, at most `limit`.
pub(crate) fn scan(
    store: &super::NodeStore,
    custody: &[(Certificate, usize, usize)],
    round: &SampleRound,
    limit: usize,
) -> Result<Vec<Candidate>, StoreError> {
    let mut out = Vec::new();
    for (cert, index, n) in custody {
        let Some(header) = store.header(&cert.data_root)? else {
            continue; // pruned
        };
        let blobs = header.commitments.len() as u32;
        for column in (*index..CELLS_PER_EXT_BLOB).step_by((*n).max(1)) {
            let column = column as u16;
            for blob in 0..blobs {
                let quality = sample_quality(round.seed, cert.data_root, column, blob);
                if quality <= round.target {
                    out.push(Candidate {
                        cert: *cert,
                        column,
                        blob,
                        quality,
                    });
                }
            }
        }
    }
    out.sort_by_key(|c| c.quality);
    out.truncate(limit);
    Ok(out)
}

/// The on-chain response for a candidate, from the store (`None` if no longer held).
fn build_response(
    store: &super::NodeStore,
    round: u64,
    c: &Candidate,
) -> Result<Option<IDASampling::SampleResponse>, StoreError> {
    let root = &c.cert.data_root;
    let (Some(header), Some(column)) = (store.header(root)?, store.column(root, c.column)?) else {
        return Ok(None);
    };
    let b = c.blob as usize;
    let (Some(proof), Some(cell), Some(cell_proof)) = (
        header.inclusion_proof(b),
        column.cells.get(b),
        column.proofs.get(b),
    ) else {
        return Ok(None);
    };
    Ok(Some(IDASampling::SampleResponse {
        round: U256::from(round),
        epoch: U256::from(c.cert.epoch),
        quorumId: U256::from(c.cert.quorum_id),
        dataRoot: *root,
        payloadLen: header.payload_len,
        blobIndex: c.blob,
        column: c.column,
        merkleProof: proof.siblings,
        commitment: Bytes::copy_from_slice(&header.commitments[b].0),
        cell: Bytes::copy_from_slice(cell.as_bytes()),
        proof: Bytes::copy_from_slice(&cell_proof.0),
    }))
}
