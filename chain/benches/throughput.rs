//! Chain throughput: transfers per second into blocks, `submitVerifiedCommitRoots` per
//! second with an 8-member quorum, and `eth_call` latency. Writes JSON to stdout and to
//! `target/bench/chain.json`.
//!
//! `cargo bench -p zg-chain --bench throughput`

use std::time::{Duration, Instant};

use alloy_primitives::{Address, Bytes, U256};
use alloy_sol_types::SolCall;
use serde_json::json;
use zg_chain::{EthApi, Genesis, Node, NodeConfig, dev_accounts};
use zg_primitives::abi::{DA_ENTRANCE_ADDRESS, IDAEntrance};

mod common;

use common::anchors::sign;

async fn drain(node: &Node) -> (u64, Duration) {
    let start = Instant::now();
    let mut blocks = 0;
    while node.pool_len() > 0 {
        node.mine_one().await.unwrap();
        blocks += 1;
    }
    (blocks, start.elapsed())
}

fn percentile(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let dir = std::env::temp_dir().join(format!("zg-chain-bench-{}", std::process::id()));
    let mut genesis = Genesis::default();
    genesis.da.epoch_blocks = 1_000;
    let config = NodeConfig {
        genesis,
        block_time: Duration::from_secs(3600),
        pool: zg_chain::mempool::PoolLimits {
            max: 100_000,
            per_sender: 1_000,
            max_nonce_gap: 1_000,
            ..Default::default()
        },
        ..NodeConfig::default()
    };
    let node = Node::open(&dir, config).unwrap();
    let accounts = dev_accounts(10);

    // 1. Transfers: 10 senders × 1000 transactions.
    let per_sender = 1_000u64;
    let raw: Vec<Vec<u8>> = (0..per_sender)
        .flat_map(|n| accounts.iter().map(move |a| (a.clone(), n)))
        .map(|(a, n)| {
            sign(
                &a,
                n,
                Address::repeat_byte(0x77),
                U256::from(1),
                vec![],
                21_000,
            )
        })
        .collect();
    let t = Instant::now();
    for r in &raw {
        node.submit_raw(r).unwrap();
    }
    let admit = t.elapsed();
    let (blocks, took) = drain(&node).await;
    let transfers = raw.len() as f64;
    let transfer_tps = transfers / took.as_secs_f64();
    let admit_tps = transfers / admit.as_secs_f64();

    // 2. eth_call latency (a module view and a balance read through the RPC layer).
    let api = EthApi::new(node.clone());
    let call = json!([{ "to": DA_ENTRANCE_ADDRESS, "data": Bytes::from(IDAEntrance::blobFeeCall {}.abi_encode()) }, "latest"]);
    let mut lat = Vec::new();
    for _ in 0..2_000 {
        let t = Instant::now();
        api.call("eth_call", call.as_array().unwrap().clone())
            .await
            .unwrap();
        lat.push(t.elapsed().as_secs_f64() * 1e6);
    }
    let (call_p50, call_p99) = (percentile(&mut lat, 0.5), percentile(&mut lat, 0.99));

    // 3. submitVerifiedCommitRoots with an 8-member quorum.
    let anchors = common::anchors::measure(&node, &accounts, 1_000, || async {
        drain(&node).await;
    })
    .await;

    let report = json!({
        "transfers": { "count": transfers, "blocks": blocks, "included_per_second": transfer_tps, "admitted_per_second": admit_tps },
        "eth_call_us": { "p50": call_p50, "p99": call_p99, "samples": 2000 },
        "submit_verified_commit_roots": anchors
    });
    println!("{}", serde_json::to_string_pretty(&report).unwrap());
    let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench");
    let _ = std::fs::create_dir_all(&out);
    let _ = std::fs::write(
        out.join("chain.json"),
        serde_json::to_string_pretty(&report).unwrap(),
    );
    node.shutdown().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
