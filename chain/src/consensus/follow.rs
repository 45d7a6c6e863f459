//! A full node: follows a validator network without being a validator. It fetches
//! finalized blocks and their finality certificates from validators' JSON-RPC, checks
//! each certificate against the genesis group key and the parent-hash chain from its
//! own head to the certified block, re-executes every block (the state root must match),
//! and serves JSON-RPC like a validator. Transactions its clients send are forwarded to
//! the upstreams. An upstream that serves a certificate or block that does not verify
//! is reported and skipped.

use std::time::Duration;

use alloy_primitives::{B256, Bytes};
use commonware_codec::{Copying, Decode};
use serde::Deserialize;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use zg_finality::FinalityVerifier;
use zg_node_kit::Upstream;

use super::block::{BlockLimits, ZgBlock};
use crate::{ChainError, Node};

/// Most blocks fetched per round.
const MAX_BATCH: u64 = 256;
/// Largest answer read from an upstream (a block is at most 8 MiB encoded, twice that
/// in hex).
const MAX_ANSWER_BYTES: usize = 20 * 1024 * 1024;
/// Time one upstream request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Where and how often a full node follows.
#[derive(Clone, Debug)]
pub struct FollowConfig {
    /// Validators' JSON-RPC URLs (tried in turn).
    pub upstreams: Vec<String>,
    /// Pause when the node is at the upstream's finalized head.
    pub poll: Duration,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CertificateAnswer {
    certified_number: alloy_primitives::U64,
    certified_hash: B256,
    certificate: Bytes,
}

/// Why one round against one upstream failed.
enum Round {
    /// Nothing new.
    Idle,
    /// Blocks committed.
    Advanced,
    /// The upstream answered something that does not verify (it lies or is broken).
    Lied(String),
    /// The upstream could not be reached or answered an error.
    Unreachable(String),
}

fn upstream(url: &str) -> Result<Upstream, ChainError> {
    Upstream::new(url, MAX_ANSWER_BYTES, REQUEST_TIMEOUT)
        .map_err(|e| ChainError::Config(format!("--consensus.follow {e}")))
}

/// Follows until `cancel`; fails only when a verified block does not execute here.
pub async fn follow(
    node: Node,
    verifier: FinalityVerifier,
    config: FollowConfig,
    cancel: CancellationToken,
) -> Result<(), ChainError> {
    if config.upstreams.is_empty() {
        return Err(ChainError::Config(
            "a full node needs --consensus.follow URL".into(),
        ));
    }
    let upstreams = config
        .upstreams
        .iter()
        .map(|u| upstream(u).map(|p| (u.clone(), p)))
        .collect::<Result<Vec<_>, _>>()?;
    // Transactions sent here go to the validators.
    let (tx, mut rx) = mpsc::unbounded_channel::<Vec<u8>>();
    node.set_gossip(tx);
    let forward = upstreams.clone();
    let forwarding = tokio::spawn(async move {
        while let Some(raw) = rx.recv().await {
            let params = serde_json::json!([Bytes::from(raw)]);
            for (url, p) in &forward {
                match p
                    .call::<B256>("eth_sendRawTransaction", params.clone())
                    .await
                {
                    Ok(_) => break,
                    Err(e) => {
                        tracing::debug!(target: "zg_chain::follow", %url, error = %e, "forwarding a transaction failed")
                    }
                }
            }
        }
    });
    let mut at = 0usize;
    let result = loop {
        let (url, upstream) = &upstreams[at % upstreams.len()];
        let round = tokio::select! {
            () = cancel.cancelled() => break Ok(()),
            r = step(&node, &verifier, upstream) => r,
        };
        match round {
            Ok(Round::Advanced) => continue,
            Ok(Round::Idle) => {}
            Ok(Round::Lied(why)) => {
                node.metrics().follow_refused.inc();
                tracing::warn!(target: "zg_chain::follow", %url, %why, "an upstream served data that does not verify; trying the next");
                at += 1;
            }
            Ok(Round::Unreachable(why)) => {
                tracing::debug!(target: "zg_chain::follow", %url, %why, "upstream unavailable");
                at += 1;
            }
            Err(e) => break Err(e),
        }
        tokio::select! {
            () = cancel.cancelled() => break Ok(()),
            () = tokio::time::sleep(config.poll) => {}
        }
    };
    forwarding.abort();
    result
}

async fn step(
    node: &Node,
    verifier: &FinalityVerifier,
    upstream: &Upstream,
) -> Result<Round, ChainError> {
    let head = node.head();
    let next = head.header.number + 1;
    let answer: Option<CertificateAnswer> = match upstream
        .call(
            "zg_getFinalityCertificate",
            serde_json::json!([format!("{next:#x}")]),
        )
        .await
    {
        Ok(a) => a,
        Err(e) => return Ok(Round::Unreachable(e.to_string())),
    };
    let Some(answer) = answer else {
        return Ok(Round::Idle);
    };
    let certified_number = answer.certified_number.to::<u64>();
    if certified_number < next {
        return Ok(Round::Lied(format!(
            "a certificate for {certified_number} below {next}"
        )));
    }
    let finalized = match verifier.verify_block(&answer.certificate, answer.certified_hash) {
        Ok(f) => f,
        Err(e) => {
            return Ok(Round::Lied(format!(
                "certificate for block {certified_number}: {e}"
            )));
        }
    };
    // Fetch the blocks from the head to the certified one (or a batch of them: their
    // parent hashes chain back to our head, so each is final once the last is).
    let last = certified_number.min(head.header.number + MAX_BATCH);
    let mut blocks = Vec::with_capacity((last - head.header.number) as usize);
    for n in next..=last {
        let raw: Option<Bytes> = match upstream
            .call("zg_getRawBlock", serde_json::json!([format!("{n:#x}")]))
            .await
        {
            Ok(r) => r,
            Err(e) => return Ok(Round::Unreachable(e.to_string())),
        };
        let Some(raw) = raw else {
            return Ok(Round::Lied(format!(
                "no block {n} below its certified {certified_number}"
            )));
        };
        let block = match ZgBlock::decode_cfg(Copying(&raw), &BlockLimits::default()) {
            Ok(b) => b,
            Err(e) => return Ok(Round::Lied(format!("block {n}: {e}"))),
        };
        if block.header.number != n || !block.transactions_match() {
            return Ok(Round::Lied(format!(
                "block {n} is not a well-formed block {n}"
            )));
        }
        blocks.push(block);
    }
    // Parent links from our head.
    let mut parent = head.hash;
    for b in &blocks {
        if b.header.parent_hash != parent {
            return Ok(Round::Lied(format!(
                "block {} does not extend {parent}",
                b.header.number
            )));
        }
        parent = b.hash();
    }
    if last == certified_number && parent != finalized.block {
        return Ok(Round::Lied(format!(
            "block {last} is not the certified {}",
            finalized.block
        )));
    }
    if last < certified_number {
        // The batch ends below the certified block: it is final only if the rest of
        // the chain up to the certified block links to it; fetch and check the headers.
        let mut child = finalized.block;
        for n in (last + 1..=certified_number).rev() {
            let raw: Option<Bytes> = match upstream
                .call("zg_getRawBlock", serde_json::json!([format!("{n:#x}")]))
                .await
            {
                Ok(r) => r,
                Err(e) => return Ok(Round::Unreachable(e.to_string())),
            };
            let Some(block) =
                raw.and_then(|r| ZgBlock::decode_cfg(Copying(&r), &BlockLimits::default()).ok())
            else {
                return Ok(Round::Lied(format!("block {n} missing or malformed")));
            };
            if block.hash() != child {
                return Ok(Round::Lied(format!(
                    "block {n} is not on the certified chain"
                )));
            }
            child = block.header.parent_hash;
        }
        if child != parent {
            return Ok(Round::Lied(
                "the certified chain does not pass through the batch".into(),
            ));
        }
    }
    let committing = node.clone();
    let count = blocks.len();
    tokio::task::spawn_blocking(move || {
        for b in &blocks {
            committing.commit_finalized(b)?;
        }
        Ok::<(), ChainError>(())
    })
    .await
    .map_err(|e| ChainError::Storage(format!("commit task: {e}")))??;
    if last == certified_number {
        node.store()
            .put_finality(certified_number, &answer.certificate)?;
    }
    node.metrics().finalized_tip.set(certified_number as i64);
    tracing::debug!(target: "zg_chain::follow", blocks = count, head = last, "followed");
    Ok(Round::Advanced)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An upstream that answers more than the cap, or too slowly, is an error, not an
    /// allocation or a hang.
    #[tokio::test]
    async fn an_oversized_or_slow_answer_is_refused() {
        use axum::routing::post;
        let app = axum::Router::new()
            .route(
                "/",
                post(|| async {
                    let mut big = String::from(r#"{"jsonrpc":"2.0","id":1,"result":""#);
                    big.push_str(&"ab".repeat(MAX_ANSWER_BYTES / 2 + 1024));
                    big.push_str(r#""}"#);
                    big
                }),
            )
            .route(
                "/slow",
                post(|| async {
                    tokio::time::sleep(REQUEST_TIMEOUT + Duration::from_secs(5)).await;
                    "{}"
                }),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let u = upstream(&format!("http://{addr}/")).unwrap();
        let err = u
            .call::<Bytes>("zg_getRawBlock", serde_json::json!(["0x1"]))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("answer over"), "{err}");
        let slow = upstream(&format!("http://{addr}/slow")).unwrap();
        let started = std::time::Instant::now();
        assert!(
            slow.call::<Bytes>("zg_getRawBlock", serde_json::json!(["0x1"]))
                .await
                .is_err()
        );
        assert!(started.elapsed() < REQUEST_TIMEOUT + Duration::from_secs(2));
    }
}
