//! Quorum choice and dispersal to one quorum: which quorums of the current (or previous)
//! epoch a payload may go to and in which order, sending each member its custody
//! columns, verifying the members' BLS signatures and aggregating them once the
//! threshold is met.

use std::sync::Arc;
use std::time::{Duration, Instant};

use alloy::signers::SignerSync;
use alloy_primitives::{B256, Bytes};
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use tracing::Instrument;
use zg_primitives::{
    BlsSignature, EncodedPayload, StoreRefusal, StoreRequest, StoreResponse, aggregate_signatures,
    attestation_message, custody_columns, signer_bitmap,
};

use super::{Disperser, PendingAnchor};
use crate::chain::{Quorum, QuorumMember};
use crate::error::{DisperseError, NetError};
use crate::net::Frame;
use zg_da_client::{ColumnNetwork, DaChain};

/// The order in which a payload tries `n` quorums: payloads spread over the quorums by
/// the last byte of their data_root, the others follow if one falls short.
pub(super) fn quorum_order(data_root: &B256, n: usize) -> impl Iterator<Item = usize> {
    let start = if n == 0 {
        0
    } else {
        data_root[31] as usize % n
    };
    (0..n).map(move |k| (start + k) % n)
}

impl<N: ColumnNetwork, C: DaChain> Disperser<N, C> {
    /// Whether some quorum of the current (or previous) epoch exists.
    pub async fn has_quorum(&self) -> Result<bool, DisperseError> {
        Ok(!self.candidate_quorums().await?.is_empty())
    }

    /// The quorums to try, waiting out an unreachable chain for up to `chain_grace`.
    async fn candidate_quorums(&self) -> Result<Vec<Arc<Quorum>>, DisperseError> {
        let deadline = Instant::now() + self.inner.config.chain_grace;
        let mut delay = Duration::from_millis(250);
        loop {
            match self.current_quorums().await {
                Err(DisperseError::Chain(e)) if e.is_retryable() && Instant::now() < deadline => {
                    tracing::warn!(target: "zg_da::disperser", error = %e, "chain unreachable; retrying");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(4));
                }
                other => return other,
            }
        }
    }

    async fn current_quorums(&self) -> Result<Vec<Arc<Quorum>>, DisperseError> {
        let chain = &self.inner.chain;
        let epoch = chain.epoch().await?;
        let mut qs = chain.quorums(epoch).await?;
        if qs.is_empty() && epoch > 0 {
            qs = chain.quorums(epoch - 1).await?;
        }
        Ok(qs)
    }

    /// Disperses `encoded` to the first quorum (in [`quorum_order`]) that reaches its
    /// threshold: the pending anchor, the signatures gathered and the threshold.
    pub(super) async fn certify(
        &self,
        encoded: Arc<EncodedPayload>,
    ) -> Result<(PendingAnchor, usize, usize), DisperseError> {
        let quorums = self.candidate_quorums().await?;
        if quorums.is_empty() {
            return Err(DisperseError::NoQuorum(
                "no quorum in the current or previous epoch".into(),
            ));
        }
        let mut failures = Vec::new();
        for k in quorum_order(&encoded.data_root, quorums.len()) {
            let q = &quorums[k];
            match self.disperse_to(q, &encoded).await {
                Ok(s) => return Ok(s),
                Err(e) => {
                    failures.push(format!("quorum {} of epoch {}: {e}", q.quorum_id, q.epoch))
                }
            }
        }
        Err(DisperseError::NoQuorum(failures.join("; ")))
    }

    /// Sends each member its columns and gathers verified signatures; returns the
    /// aggregate once at least the threshold signed.
    async fn disperse_to(
        &self,
        quorum: &Quorum,
        encoded: &Arc<EncodedPayload>,
    ) -> Result<(PendingAnchor, usize, usize), String> {
        let chain_id = self.inner.chain.chain_id();
        let n = quorum.members.len();
        let digest = zg_primitives::wire::store_request_digest(
            chain_id,
            encoded.data_root,
            quorum.epoch,
            quorum.quorum_id,
            encoded.header.blob_count,
        );
        let auth = self
            .inner
            .signer
            .sign_hash_sync(&digest)
            .map_err(|e| format!("signing the store request: {e}"))?;
        let auth = Bytes::from(auth.as_bytes().to_vec());
        let message = attestation_message(
            chain_id,
            encoded.data_root,
            quorum.epoch,
            quorum.quorum_id,
            encoded.header.blob_count,
        );
        let mut pending: FuturesUnordered<_> = quorum
            .members
            .iter()
            .map(|m| {
                let mut req = StoreRequest {
                    chain_id,
                    epoch: quorum.epoch,
                    quorum_id: quorum.quorum_id,
                    data_root: encoded.data_root,
                    header: encoded.header.clone(),
                    columns: encoded.columns(&custody_columns(m.index, n)),
                    disperser_signature: auth.to_vec(),
                    traceparent: None,
                };
                let span = tracing::info_span!(
                    target: zg_node_kit::TRACE_TARGET,
                    "disperser.store",
                    member = m.index,
                    node = %m.address,
                    result = tracing::field::Empty,
                );
                async move {
                    // The node's span becomes this one's child.
                    req.traceparent = zg_node_kit::traceparent();
                    let outcome = self.store_with_retries(m, req, &message).await;
                    let current = tracing::Span::current();
                    current.record(
                        "result",
                        outcome.as_ref().map_or_else(|f| f.kind, |_| "signed"),
                    );
                    (m, outcome)
                }
                .instrument(span)
            })
            .collect();
        let mut good: Vec<(usize, BlsSignature)> = Vec::new();
        let mut grace: Option<tokio::time::Instant> = None;
        loop {
            let next = match grace {
                Some(deadline) => match tokio::time::timeout_at(deadline, pending.next()).await {
                    Ok(n) => n,
                    Err(_) => break,
                },
                None => pending.next().await,
            };
            let Some((m, outcome)) = next else { break };
            match outcome {
                Ok(sig) => good.push((m.index, sig)),
                Err(reason) => {
                    self.inner
                        .metrics
                        .bad_signers
                        .get_or_create(&vec![
                            ("member", m.address.to_string()),
                            ("reason", reason.kind.to_string()),
                        ])
                        .inc();
                    tracing::warn!(target: "zg_da::disperser", member = %m.address, reason = %reason.detail, "member did not sign");
                }
            }
            if good.len() >= quorum.threshold && grace.is_none() {
                grace = Some(tokio::time::Instant::now() + self.inner.config.signature_grace);
            }
        }
        if good.len() < quorum.threshold || good.is_empty() {
            return Err(format!(
                "{} of the {} signatures needed",
                good.len(),
                quorum.threshold
            ));
        }
        good.sort_by_key(|(i, _)| *i);
        let bitmap = signer_bitmap(n, good.iter().map(|(i, _)| *i)).map_err(|e| e.to_string())?;
        let sigs: Vec<BlsSignature> = good.iter().map(|(_, s)| *s).collect();
        let aggregate = {
            let _stage = tracing::info_span!(
                target: zg_node_kit::TRACE_TARGET,
                "disperser.aggregate",
                signers = sigs.len(),
                threshold = quorum.threshold,
            )
            .entered();
            aggregate_signatures(&sigs).map_err(|e| e.to_string())?
        };
        Ok((
            PendingAnchor {
                epoch: quorum.epoch,
                quorum_id: quorum.quorum_id,
                blob_count: encoded.header.blob_count,
                signers_bitmap: Bytes::from(bitmap),
                aggregate_signature: Bytes::copy_from_slice(aggregate.as_bytes()),
            },
            good.len(),
            quorum.threshold,
        ))
    }

    async fn store_with_retries(
        &self,
        m: &QuorumMember,
        req: StoreRequest,
        message: &B256,
    ) -> Result<BlsSignature, MemberFailure> {
        let Some(pk) = m.pubkey else {
            return Err(MemberFailure::new(
                "bad_pubkey",
                "registered key is invalid",
            ));
        };
        let attempts = self.inner.config.store_attempts.max(1);
        let mut last = MemberFailure::new("unreachable", "not tried");
        for attempt in 0..attempts {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(200 << attempt.min(4))).await;
            }
            match self
                .inner
                .network
                .store(&m.socket, Frame::Msg(req.clone()))
                .await
            {
                Ok(Frame::Msg(StoreResponse::Signed { signature })) => {
                    return match zg_primitives::bls::verify(&pk, message, &signature) {
                        Ok(()) => Ok(signature),
                        Err(e) => Err(MemberFailure::new("bad_signature", e.to_string())),
                    };
                }
                Ok(Frame::Msg(StoreResponse::Refused(r))) => {
                    let retry = r.is_retryable();
                    last = MemberFailure::new(refusal_label(&r), r.to_string());
                    if !retry {
                        return Err(last);
                    }
                }
                Ok(_) => return Err(MemberFailure::new("garbage", "undecodable response")),
                Err(NetError::BadAddress(a)) => {
                    return Err(MemberFailure::new("bad_socket", a));
                }
                Err(e) => last = MemberFailure::new("unreachable", e.to_string()),
            }
        }
        Err(last)
    }
}

struct MemberFailure {
    kind: &'static str,
    detail: String,
}

impl MemberFailure {
    fn new(kind: &'static str, detail: impl Into<String>) -> Self {
        Self {
            kind,
            detail: detail.into(),
        }
    }
}

fn refusal_label(r: &StoreRefusal) -> &'static str {
    match r {
        StoreRefusal::NoDeposit { .. } => "no_deposit",
        StoreRefusal::OverCapacity(_) => "over_capacity",
        StoreRefusal::UnknownQuorum { .. } => "unknown_quorum",
        StoreRefusal::Internal(_) => "internal",
        _ => "refused",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_spread_over_quorums_and_try_every_one() {
        let root = B256::with_last_byte(7);
        assert_eq!(quorum_order(&root, 3).collect::<Vec<_>>(), vec![1, 2, 0]);
        assert_eq!(quorum_order(&root, 1).collect::<Vec<_>>(), vec![0]);
        assert_eq!(quorum_order(&root, 0).count(), 0);
        let other = B256::with_last_byte(8);
        assert_eq!(quorum_order(&other, 3).next(), Some(2));
    }
}
