//! The storage node on an EVM chain nobody here wrote: Hardhat's node (hardfork
//! `prague`) running the portable `Flow.sol`, the node told `--chain.finality 2`. The
//! test replaces blocks the node already applied (a reorg deeper than the rule, by
//! `evm_snapshot` / `evm_revert`), with another submission at the same index on the new
//! chain: the node rewinds, the KV state forgets what the dropped submission wrote and
//! replays the new one, and it matches the chain that won.
//!
//! Skipped with a notice where Node.js is absent (see `zg_testkit::hardhat`).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use alloy_primitives::{B256, U256};
use serde_json::json;
use tokio_util::sync::CancellationToken;
use zg_node_kit::FinalityRule;
use zg_storage::kv::{StreamData, ValueSegment, Write};
use zg_storage::types::to_base64;
use zg_storage::{NodeClient, NodeConfig, UploadOptions, Uploader};
use zg_testkit::TempDir;
use zg_testkit::hardhat::Hardhat;
use zg_testkit::storage::dev_signer;

const S: B256 = B256::repeat_byte(0x5e);

fn writes(kv: &[(&str, &str)]) -> StreamData {
    StreamData {
        version: 0,
        writes: kv
            .iter()
            .map(|(k, v)| Write {
                stream: S,
                key: k.as_bytes().to_vec(),
                value: v.as_bytes().to_vec(),
            })
            .collect(),
        ..Default::default()
    }
}

/// Uploads `sd` as dev account 3 through a fresh uploader (a fresh nonce after a
/// reorg); its seq.
async fn put(
    hh: &Hardhat,
    node: &NodeClient,
    flow: alloy_primitives::Address,
    sd: &StreamData,
) -> u64 {
    let up = Uploader::new(vec![node.clone()], hh.url(), dev_signer(3), flow).unwrap();
    let opts = UploadOptions {
        tags: sd.tags(),
        timeout: Duration::from_secs(60),
        ..UploadOptions::default()
    };
    up.upload(&sd.encode().unwrap(), &opts).await.unwrap().seq
}

async fn value(c: &NodeClient, key: &str) -> Vec<u8> {
    let v: ValueSegment = c
        .request(
            "kv_getValue",
            json!([S, to_base64(key.as_bytes()), 0, 262144, null]),
        )
        .await
        .unwrap();
    v.data
}

async fn result(c: &NodeClient, seq: u64) -> Option<String> {
    c.request("kv_getTransactionResult", json!([seq]))
        .await
        .unwrap()
}

/// Waits until `key` reads `want` (the replay caught up).
async fn until_value(c: &NodeClient, key: &str, want: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while value(c, key).await != want.as_bytes() {
        assert!(Instant::now() < deadline, "{key} never read {want}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kv_state_follows_the_chain_that_won_a_reorg() {
    zg_testkit::init_tracing();
    let Some(hh) = Hardhat::start().await else {
        return;
    };
    let hh = Arc::new(hh);
    let flow = hh.deploy_flow(U256::from(1_000_000_000u64)).await;
    let dir = TempDir::new("hh-storage");
    let config = NodeConfig {
        chain_rpc: hh.url().to_string(),
        flow,
        poll_interval: Duration::from_millis(20),
        finality: FinalityRule::Confirmations(2),
        kv_streams: vec![S],
        ..NodeConfig::default()
    };
    let node = zg_storage::start(
        &dir.0,
        config,
        tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
        CancellationToken::new(),
    )
    .await
    .unwrap();
    let c = NodeClient::new(&node.rpc_url()).unwrap();

    // A block every 50 ms while `mining`: the confirmations submissions wait for.
    let mining = Arc::new(AtomicBool::new(true));
    let stop = CancellationToken::new();
    {
        let (hh, mining, stop) = (hh.clone(), mining.clone(), stop.clone());
        tokio::spawn(async move {
            while !stop.is_cancelled() {
                if mining.load(Ordering::SeqCst) {
                    hh.mine(1).await;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        });
    }

    // W1 (a = 1) is final and replayed.
    assert_eq!(put(&hh, &c, flow, &writes(&[("a", "1")])).await, 0);
    until_value(&c, "a", "1").await;

    // W2 (a = 2, b = 2) is submitted, confirmed past the rule and replayed ...
    let snapshot = hh.snapshot().await;
    assert_eq!(
        put(&hh, &c, flow, &writes(&[("a", "2"), ("b", "2")])).await,
        1
    );
    until_value(&c, "a", "2").await;
    assert_eq!(value(&c, "b").await, b"2");
    hh.mine(3).await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    // ... then a reorg deeper than the rule replaces its blocks.
    mining.store(false, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(200)).await;
    hh.revert(snapshot).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    let metrics = format!("{}/metrics", node.rpc_url());
    loop {
        let text = reqwest_text(&metrics).await;
        let rewound = text
            .lines()
            .find_map(|l| l.strip_prefix("zg_storage_rewound_submissions_total "))
            .and_then(|v| v.trim().parse::<f64>().ok())
            .unwrap_or(0.0);
        if rewound >= 1.0 {
            break;
        }
        assert!(Instant::now() < deadline, "the node never rewound: {text}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The KV state is back to W1's.
    until_value(&c, "a", "1").await;
    assert!(
        value(&c, "b").await.is_empty(),
        "b was written by the dropped W2"
    );
    assert_eq!(result(&c, 1).await, None);

    // The new chain's submission 1 is W3 (c = 3): replayed in W2's place.
    mining.store(true, Ordering::SeqCst);
    assert_eq!(put(&hh, &c, flow, &writes(&[("c", "3")])).await, 1);
    until_value(&c, "c", "3").await;
    assert_eq!(value(&c, "a").await, b"1");
    assert!(value(&c, "b").await.is_empty());
    assert_eq!(result(&c, 1).await.as_deref(), Some("Commit"));

    stop.cancel();
    node.shutdown().await.unwrap();
}

async fn reqwest_text(url: &str) -> String {
    alloy::transports::http::reqwest::get(url)
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}
