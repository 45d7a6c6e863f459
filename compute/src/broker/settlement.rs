//! Settlement: unsettled requests are batched per user, signed by the TEE key (0G's
//! EIP-712 settlement) and sent to the serving contract; each item's outcome is read
//! back from the receipt, and a batch whose outcome was not recorded is resent as
//! signed.

use std::sync::Arc;
use std::time::Duration;

use alloy::signers::SignerSync;
use alloy_primitives::{Bytes as AbiBytes, U256, keccak256};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};
use zg_primitives::abi::{IInferenceServing as S, tee_settlement_digest};

use super::{Inner, SETTLEMENT_BATCH, SettleReport, now_ms};
use crate::chain::Mined;
use crate::error::BrokerError;
use crate::store::{InFlight, Request as Billed};

pub(super) async fn settle_loop(inner: Arc<Inner>, cancel: CancellationToken) {
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(inner.config.settle_interval) => {}
            _ = inner.settle_now.notified() => {}
        }
        match settle_once(&inner).await {
            Ok(r) if r.items > 0 => {
                info!(target: "zg_compute", items = r.items, settled = %r.settled, "settled")
            }
            Ok(_) => {}
            Err(e) => {
                warn!(target: "zg_compute", error = %e, "settlement round failed; retrying later")
            }
        }
    }
}

/// 0G's `requestsHash`: keccak256 over each request's id, user, fee, input and output
/// fee as text, concatenated.
fn requests_hash(reqs: &[Billed]) -> alloy_primitives::B256 {
    let mut buf = Vec::new();
    for r in reqs {
        buf.extend_from_slice(r.id.to_string().as_bytes());
        buf.extend_from_slice(r.user.to_string().as_bytes());
        buf.extend_from_slice(r.fee.to_string().as_bytes());
        buf.extend_from_slice(r.input_fee.to_string().as_bytes());
        buf.extend_from_slice(r.output_fee.to_string().as_bytes());
    }
    keccak256(buf)
}

fn new_batch(inner: &Inner) -> Result<Vec<InFlight>, BrokerError> {
    let provider = inner.chain.address;
    let floor = (now_ms() / 1000).saturating_mul(10_000_000);
    let mut out = Vec::new();
    for (user, reqs) in inner.store.pending_by_user()? {
        let total: U256 = reqs.iter().map(|r| r.fee).sum();
        let ids: Vec<u64> = reqs.iter().map(|r| r.id).collect();
        let hash = requests_hash(&reqs);
        let nonce = inner.store.next_nonce(floor)?;
        let digest = tee_settlement_digest(
            inner.chain.chain_id,
            inner.chain.serving,
            hash,
            U256::from(nonce),
            provider,
            user,
            total,
        );
        let sig = inner
            .config
            .tee_key
            .sign_hash_sync(&digest)
            .map_err(|e| BrokerError::Store(format!("signing: {e}")))?;
        out.push(InFlight {
            user,
            ids,
            total_fee: total,
            requests_hash: hash,
            nonce,
            signature: AbiBytes::from(sig.as_bytes().to_vec()),
            tx: None,
        });
    }
    Ok(out)
}

pub(super) async fn settle_once(inner: &Inner) -> Result<SettleReport, BrokerError> {
    let _one = inner.settling.lock().await;
    // A batch whose outcome was not recorded (a crash, the chain down) is resent as it
    // was signed: each item lands at most once.
    let (batch, resent) = match inner.store.in_flight()? {
        Some(b) => (b, true),
        None => {
            let b = new_batch(inner)?;
            if b.is_empty() {
                return Ok(SettleReport::default());
            }
            inner.store.set_in_flight(Some(&b))?;
            (b, false)
        }
    };
    let provider = inner.chain.address;
    let mut report = SettleReport::default();
    let mut batch = batch;
    while !batch.is_empty() {
        let n = batch.len().min(SETTLEMENT_BATCH);
        let items: Vec<S::TEESettlementData> = batch[..n]
            .iter()
            .map(|f| S::TEESettlementData {
                user: f.user,
                provider,
                totalFee: f.total_fee,
                requestsHash: f.requests_hash,
                nonce: U256::from(f.nonce),
                signature: f.signature.clone(),
            })
            .collect();
        // A chunk sent before (its transaction recorded) is read back from its receipt;
        // one never sent, or never mined, is sent (again, as signed).
        let mut results = None;
        if let Some(hash) = batch[0].tx {
            results = inner
                .chain
                .settlement_results(hash, Duration::from_secs(30))
                .await?;
        }
        let mined = match results {
            Some(r) => r,
            None => {
                let hash = inner.chain.send_settlement(items).await?;
                for f in &mut batch[..n] {
                    f.tx = Some(hash);
                }
                inner.store.set_in_flight(Some(&batch))?;
                inner
                    .chain
                    .settlement_results(hash, Duration::from_secs(120))
                    .await?
                    .ok_or_else(|| {
                        BrokerError::Unavailable(format!("settlement {hash} not mined yet"))
                    })?
            }
        };
        let results = match mined {
            Mined::Results(r) => r,
            Mined::Reverted => {
                // Nothing of this chunk (nor of the chunks after it, never sent) was
                // settled: the batch is dropped and its requests, still pending, go into
                // the next batch with fresh nonces and signatures.
                let hash = batch[0].tx.unwrap_or_default();
                inner.store.set_in_flight(None)?;
                inner.metrics.settlement_reverted();
                warn!(target: "zg_compute", %hash, items = n, "settlement reverted; its requests go in the next batch");
                return Err(BrokerError::Unavailable(format!(
                    "settlement {hash} reverted; its requests stay pending"
                )));
            }
        };
        if results.len() != n {
            return Err(BrokerError::Unavailable(format!(
                "settlement receipt has {} results for {n} items",
                results.len()
            )));
        }
        for (f, (user, status, unsettled)) in batch[..n].iter().zip(results) {
            report.items += 1;
            report.statuses.push((user, status));
            inner.metrics.settlement(status);
            match status {
                0 => {
                    report.settled += f.total_fee;
                    inner.store.settle(&f.ids, None)?;
                }
                1 => {
                    // The sub-account paid what it had; the rest stays owed (recorded
                    // once: `settle` adds it only while the requests are still there).
                    report.settled += f.total_fee - unsettled;
                    let carry = Billed {
                        id: 0,
                        user,
                        input_tokens: 0,
                        output_tokens: 0,
                        input_fee: U256::ZERO,
                        output_fee: unsettled,
                        fee: unsettled,
                        created_ms: now_ms(),
                    };
                    inner.store.settle(&f.ids, Some(carry))?;
                }
                4 => {
                    let on_chain = inner
                        .chain
                        .account(user)
                        .await?
                        .map(|a| a.nonce.saturating_to::<u64>())
                        .unwrap_or(0);
                    if resent && on_chain >= f.nonce {
                        // This very item landed in a transaction whose hash was not
                        // recorded (a crash between sending and recording it).
                        report.settled += f.total_fee;
                        inner.store.settle(&f.ids, None)?;
                    } else {
                        // Someone used higher nonces: move past them, retry later.
                        inner.store.next_nonce(on_chain + 1)?;
                        warn!(target: "zg_compute", %user, "settlement nonce was stale");
                    }
                }
                s => {
                    warn!(target: "zg_compute", %user, status = s, "settlement refused; requests kept");
                }
            }
        }
        batch.drain(..n);
        inner
            .store
            .set_in_flight((!batch.is_empty()).then_some(batch.as_slice()))?;
    }
    inner.store.set_in_flight(None)?;
    inner.metrics.pending(inner.store.pending_count());
    Ok(report)
}
