//! Finality on loopback: the time from `eth_sendRawTransaction` at one node to the block
//! holding the transaction being final and committed there, and transfers finalized per
//! second, for a single dev producer (automine: the baseline), one validator and four
//! validators (commonware simplex, blocks as fast as consensus allows: `--block-time
//! 0`), and `submitVerifiedCommitRoots` anchors per second on each. Every node runs in
//! this process on the machine's cores. Writes JSON to stdout
//! and to `target/bench/finality.json`.
//!
//! `cargo bench -p zg-chain --bench finality`

use std::path::Path;
use std::time::{Duration, Instant};

use alloy_primitives::{Address, B256, U256, keccak256};
use alloy_signer_local::PrivateKeySigner;
use serde_json::json;
use tokio_util::sync::CancellationToken;
use zg_chain::config::ValidatorSettings;
use zg_chain::consensus::{Timeouts, deal_validators};
use zg_chain::{Genesis, NodeConfig, RunningChain, dev_accounts};

mod common;

use common::anchors::sign;
const LATENCY_SAMPLES: usize = 100;
const PER_SENDER: u64 = 300;
/// Long enough that the anchor run stays in one epoch.
const EPOCH_BLOCKS: u64 = 1_000;

fn transfer(s: &PrivateKeySigner, nonce: u64) -> Vec<u8> {
    sign(
        s,
        nonce,
        Address::repeat_byte(0x77),
        U256::from(1),
        vec![],
        21_000,
    )
}

fn percentile(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

fn base_config(genesis: Genesis) -> NodeConfig {
    NodeConfig {
        genesis,
        block_time: Duration::ZERO,
        pool: zg_chain::mempool::PoolLimits {
            max: 100_000,
            per_sender: 1_000,
            max_nonce_gap: 1_000,
            ..Default::default()
        },
        ..NodeConfig::default()
    }
}

async fn start(dir: &Path, config: NodeConfig) -> RunningChain {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    zg_chain::start(dir, config, listener, CancellationToken::new())
        .await
        .unwrap()
}

/// Starts `validators` validators (0: one dev producer); returns them, node 0 first.
async fn network(root: &Path, validators: usize) -> Vec<RunningChain> {
    let root = root.join(format!("net-{validators}"));
    let mut genesis = Genesis::default();
    genesis.da.epoch_blocks = EPOCH_BLOCKS;
    if validators == 0 {
        return vec![start(&root.join("solo"), base_config(genesis)).await];
    }
    let addresses: Vec<String> = (0..validators)
        .map(|_| {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().to_string()
        })
        .collect();
    let (set, keys) = deal_validators(&addresses).unwrap();
    genesis.consensus = Some(set);
    let mut out = Vec::new();
    for (i, key) in keys.into_iter().enumerate() {
        let mut config = base_config(genesis.clone());
        config.validator = Some(ValidatorSettings {
            key,
            listen: None,
            peers: Vec::new(),
            timeouts: Timeouts {
                leader: Duration::from_secs(1),
                certification: Duration::from_secs(2),
                retry: Duration::from_secs(1),
            },
            proposal_layer: None,
        });
        out.push(start(&root.join(format!("v{i}")), config).await);
    }
    out
}

async fn committed(chain: &RunningChain, hash: &B256) {
    let store = chain.node.store();
    let mut heads = chain.node.subscribe_head();
    while store.tx_location(hash).unwrap().is_none() {
        let _ = tokio::time::timeout(Duration::from_millis(50), heads.changed()).await;
    }
}

async fn measure(root: &Path, validators: usize) -> serde_json::Value {
    let chains = network(root, validators).await;
    let node = chains[0].node.clone();
    // Warm up: wait for a few blocks (validators connect and finalize).
    let warm = dev_accounts(1)[0].clone();
    for n in 0..3 {
        let raw = transfer(&warm, n);
        node.submit_raw(&raw).unwrap();
        committed(&chains[0], &keccak256(&raw)).await;
    }
    // Latency: one transfer at a time, sent to node 0, until it is final there.
    let mut lat = Vec::new();
    for n in 3..3 + LATENCY_SAMPLES as u64 {
        let raw = transfer(&warm, n);
        let t = Instant::now();
        node.submit_raw(&raw).unwrap();
        committed(&chains[0], &keccak256(&raw)).await;
        lat.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let (p50, p99) = (percentile(&mut lat, 0.5), percentile(&mut lat, 0.99));
    // Throughput: 9 senders × PER_SENDER transfers at once, until all are final.
    let senders: Vec<PrivateKeySigner> = dev_accounts(10)[1..].to_vec();
    let raws: Vec<Vec<u8>> = (0..PER_SENDER)
        .flat_map(|n| senders.iter().map(move |s| transfer(s, n)))
        .collect();
    let head_before = node.head().header.number;
    let t = Instant::now();
    for r in &raws {
        node.submit_raw(r).unwrap();
    }
    for r in raws.iter().rev().take(senders.len()) {
        committed(&chains[0], &keccak256(r)).await;
    }
    let took = t.elapsed().as_secs_f64();
    let blocks = node.head().header.number - head_before;
    // Anchors: submitVerifiedCommitRoots, sent to node 0, until final there.
    let anchors = common::anchors::measure(&node, &dev_accounts(10), EPOCH_BLOCKS, || async {
        while node.pool_len() > 0 {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    })
    .await;
    for c in chains {
        c.shutdown().await.unwrap();
    }
    json!({
        "validators": validators,
        "finality_ms": { "p50": p50, "p99": p99 },
        "transfers": raws.len(),
        "transfers_per_second": raws.len() as f64 / took,
        "blocks": blocks,
        "anchors": anchors,
    })
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let root = std::env::temp_dir().join(format!("zg-chain-finality-{}", std::process::id()));
    let solo = measure(&root, 0).await;
    let one = measure(&root, 1).await;
    let four = measure(&root, 4).await;
    let _ = std::fs::remove_dir_all(&root);
    let tps = |v: &serde_json::Value| v["transfers_per_second"].as_f64().unwrap();
    let anchors = |v: &serde_json::Value| v["anchors"]["one_per_tx_per_second"].as_f64().unwrap();
    let out = json!({
        "cores": std::thread::available_parallelism().map_or(1, |n| n.get()),
        "profile": if cfg!(debug_assertions) { "dev" } else { "release" },
        "single_producer": solo,
        "one_validator": one,
        "four_validators": four,
        "four_vs_single_transfers": tps(&four) / tps(&solo),
        "four_vs_single_anchors": anchors(&four) / anchors(&solo),
    });
    let text = serde_json::to_string_pretty(&out).unwrap();
    println!("{text}");
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("finality.json"), text).unwrap();
}
