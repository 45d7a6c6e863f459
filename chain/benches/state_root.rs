//! Block production time against state size: the same blocks (200 transfers to new
//! accounts, from 10 senders) on a chain whose genesis holds 10k and then 1M accounts.
//! The incremental trie must keep the block time flat (within 2×); the baseline, measured
//! in the same run, is the from-scratch state root over the whole state that every block
//! used to cost. Writes JSON to stdout and to `target/bench/chain_state.json`.
//!
//! `cargo bench -p zg-chain --bench state_root` (`ZG_BENCH_STATE_SIZES=10000,100000` to
//! choose the sizes).

use std::time::{Duration, Instant};

use alloy_consensus::{SignableTransaction, TxEip1559, TxEnvelope};
use alloy_eips::eip2718::Encodable2718;
use alloy_primitives::{Address, Bytes, TxKind, U256, keccak256};
use alloy_signer::SignerSync;
use alloy_signer_local::PrivateKeySigner;
use serde_json::json;
use zg_chain::{Genesis, Node, NodeConfig, dev_accounts};
use zg_testkit::percentile;

const CHAIN: u64 = 31337;
const SENDERS: u32 = 10;
const TXS_PER_SENDER: u64 = 20;
const BLOCKS: u64 = 40;

fn transfer(s: &PrivateKeySigner, nonce: u64, to: Address) -> Vec<u8> {
    let tx = TxEip1559 {
        chain_id: CHAIN,
        nonce,
        gas_limit: 21_000,
        max_fee_per_gas: 100_000_000_000,
        max_priority_fee_per_gas: 1_000_000_000,
        to: TxKind::Call(to),
        value: U256::from(1),
        access_list: Default::default(),
        input: Bytes::new(),
    };
    let sig = s.sign_hash_sync(&tx.signature_hash()).unwrap();
    TxEnvelope::Eip1559(tx.into_signed(sig)).encoded_2718()
}

async fn measure(accounts: usize) -> serde_json::Value {
    let dir = std::env::temp_dir().join(format!(
        "zg-chain-state-bench-{}-{accounts}",
        std::process::id()
    ));
    let senders = dev_accounts(SENDERS);
    let mut genesis = Genesis {
        chain_id: CHAIN,
        ..Genesis::default()
    };
    for i in 0..accounts as u64 {
        let a = Address::from_slice(&keccak256(i.to_be_bytes())[12..]);
        genesis.alloc.insert(a, U256::from(1_000_000_000u64));
    }
    let config = NodeConfig {
        genesis,
        block_time: Duration::from_secs(3600),
        ..NodeConfig::default()
    };
    let t = Instant::now();
    let node = Node::open(&dir, config.clone()).unwrap();
    let genesis_s = t.elapsed().as_secs_f64();
    // A long-running node holds its state in compacted files, not in the memtables of a
    // bulk load still being compacted.
    node.store().compact().unwrap();
    drop(node);
    // Reopened as a restarted node would be (which also warms the top of the trie).
    let node = Node::open(&dir, config).unwrap();

    let mut block_ms = Vec::new();
    for b in 0..BLOCKS {
        for (k, s) in senders.iter().enumerate() {
            for j in 0..TXS_PER_SENDER {
                let fresh = keccak256(
                    [
                        &b.to_be_bytes()[..],
                        &(k as u64).to_be_bytes(),
                        &j.to_be_bytes(),
                        b"new",
                    ]
                    .concat(),
                );
                node.submit_raw(&transfer(
                    s,
                    b * TXS_PER_SENDER + j,
                    Address::from_slice(&fresh[12..]),
                ))
                .unwrap();
            }
        }
        let t = Instant::now();
        node.mine_one().await.unwrap();
        block_ms.push(t.elapsed().as_secs_f64() * 1e3);
        assert_eq!(node.pool_len(), 0, "every transfer fits in one block");
    }
    let head = node.head().header;
    let mut full_ms = Vec::new();
    for _ in 0..3 {
        let t = Instant::now();
        let root = node.store().state_root_full().unwrap();
        full_ms.push(t.elapsed().as_secs_f64() * 1e3);
        assert_eq!(
            root, head.state_root,
            "the incremental root is the full root"
        );
    }
    drop(node);
    let _ = std::fs::remove_dir_all(&dir);
    let out = json!({
        "accounts": accounts,
        "genesis_s": genesis_s,
        "txs_per_block": SENDERS as u64 * TXS_PER_SENDER,
        "blocks": BLOCKS,
        "block_ms_p50": percentile(&mut block_ms, 0.5),
        "block_ms_max": percentile(&mut block_ms, 1.0),
        "full_root_ms": percentile(&mut full_ms, 0.5),
    });
    eprintln!("{out}");
    out
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let sizes: Vec<usize> = std::env::var("ZG_BENCH_STATE_SIZES")
        .ok()
        .map(|s| s.split(',').map(|x| x.trim().parse().unwrap()).collect())
        .unwrap_or_else(|| vec![10_000, 1_000_000]);
    let mut runs = Vec::new();
    for &n in &sizes {
        runs.push(measure(n).await);
    }
    let p50 = |r: &serde_json::Value| r["block_ms_p50"].as_f64().unwrap();
    let full = |r: &serde_json::Value| r["full_root_ms"].as_f64().unwrap();
    let (first, last) = (&runs[0], &runs[runs.len() - 1]);
    let out = json!({
        "profile": if cfg!(debug_assertions) { "dev" } else { "release" },
        "sizes": runs,
        "block_time_growth": p50(last) / p50(first),
        "full_root_growth": full(last) / full(first),
        "full_root_over_block_at_largest": full(last) / p50(last),
    });
    zg_testkit::write_bench_report("chain_state", &out);
}
