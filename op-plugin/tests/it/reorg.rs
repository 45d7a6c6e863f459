//! The DA stack on an EVM chain nobody here wrote: Hardhat's node (hardfork `prague`)
//! running the portable DA contracts, every component told `--chain.finality 3` (three
//! confirmations). The test forces a reorg with `evm_snapshot` / `evm_revert` around an
//! anchoring block, then lets new blocks come:
//! - a certificate returned before the reorg (final by the rule) is never lost;
//! - the anchor the reorg dropped is anchored again (same data_root) before the put
//!   answers, and only once it has its confirmations on the new chain;
//! - the op-plugin serves both, checking each anchor in the final state.
//!
//! Skipped with a notice where Node.js is absent (see `zg_testkit::hardhat`).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use alloy::providers::Provider;
use alloy::rpc::types::Filter;
use alloy::sol_types::SolEvent;
use alloy_primitives::{B256, U256, keccak256};
use tokio_util::sync::CancellationToken;
use zg_da_server::NodeKeys;
use zg_da_server::{ChainClient, ChainConfig};
use zg_node_kit::FinalityRule;
use zg_op_plugin::{PluginConfig, UpstreamConfig};
use zg_primitives::abi::IDAEntrance;
use zg_testkit::da::{DISPERSER_ACCOUNT, NODES, TempDir, disperser_config, node_config};
use zg_testkit::dev_signer;
use zg_testkit::hardhat::Hardhat;

use crate::{OpClient, batch, metric};

const EPOCH_BLOCKS: u64 = 400;
const CONFIRMATIONS: u64 = 3;

/// Mines a block every 100 ms while `on` (the confirmations anchors wait for).
fn miner(hh: Arc<Hardhat>, on: Arc<AtomicBool>, stop: CancellationToken) {
    tokio::spawn(async move {
        while !stop.is_cancelled() {
            if on.load(Ordering::SeqCst) {
                hh.mine(1).await;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
}

async fn anchor_logs(hh: &Hardhat, entrance: alloy_primitives::Address, from: u64) -> Vec<B256> {
    hh.provider()
        .get_logs(
            &Filter::new()
                .address(entrance)
                .event_signature(IDAEntrance::ErasureCommitmentVerified::SIGNATURE_HASH)
                .from_block(from),
        )
        .await
        .unwrap()
        .iter()
        .map(|l| {
            IDAEntrance::ErasureCommitmentVerified::decode_log(&l.inner)
                .unwrap()
                .dataRoot
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn anchors_survive_a_reorg_on_hardhat() {
    zg_testkit::init_tracing();
    let Some(hh) = Hardhat::start().await else {
        return;
    };
    let hh = Arc::new(hh);
    let modules = hh
        .deploy_da_modules(|da| da.epoch_blocks = EPOCH_BLOCKS)
        .await;
    let mut chain = ChainConfig::new(hh.url());
    chain.modules = modules;
    chain.finality = FinalityRule::Confirmations(CONFIRMATIONS);

    // Eight DA nodes and the disperser's deposit, then epoch 1 (its quorum formed).
    let dirs: Vec<TempDir> = (0..NODES)
        .map(|i| TempDir::new(&format!("hh{i}")))
        .collect();
    let keys: Vec<NodeKeys> = (0..NODES as u32)
        .map(|i| NodeKeys::from_eth_key(dev_signer(i + 1), b"zg-da-test"))
        .collect();
    let mut nodes = Vec::new();
    for i in 0..NODES {
        let c = node_config(dirs[i].0.clone(), keys[i].clone(), chain.clone(), i, false);
        let http = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        nodes.push(
            zg_da_server::node::start_with(c, http, CancellationToken::new(), None)
                .await
                .unwrap(),
        );
    }
    let payer = ChainClient::connect(chain.clone(), Some(dev_signer(DISPERSER_ACCOUNT)))
        .await
        .unwrap();
    payer.deposit(U256::from(10u128.pow(19))).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    for k in &keys {
        while !payer.registered_for_epoch(k.address(), 1).await.unwrap() {
            assert!(Instant::now() < deadline, "nodes registered for epoch 1");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    hh.mine(EPOCH_BLOCKS - hh.head().await).await;
    assert_eq!(payer.epoch().await.unwrap(), 1);

    let disperser_dir = TempDir::new("hh-disperser");
    let mut dc = disperser_config(disperser_dir.0.clone(), chain.clone());
    dc.finality_timeout = Duration::from_secs(120);
    let disperser = zg_da_server::disperser::start(
        dc,
        tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
        CancellationToken::new(),
    )
    .await
    .unwrap();
    let plugin_dir = TempDir::new("hh-plugin");
    let mut pc = PluginConfig::new(plugin_dir.0.clone());
    pc.put_timeout = Duration::from_secs(150);
    // Gets must prove the anchor, not read it from the put's cache.
    pc.cache_bytes = 0;
    let plugin = zg_op_plugin::start(
        pc,
        UpstreamConfig::Remote {
            url: format!("http://{}", disperser.http_addr),
            token: None,
            chain: chain.clone(),
            net: zg_da_server::NetConfig {
                request_timeout: Duration::from_secs(20),
                ..Default::default()
            },
        },
        tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
        CancellationToken::new(),
    )
    .await
    .unwrap();
    let op = Arc::new(OpClient::new(&plugin));

    let mining = Arc::new(AtomicBool::new(true));
    let stop = CancellationToken::new();
    miner(hh.clone(), mining.clone(), stop.clone());

    // A: anchored and final (three confirmations) before the reorg.
    let a = batch(50_000, 1);
    let put_a = op.put_generic(&a).await;
    assert_eq!(
        put_a.status,
        200,
        "{}",
        String::from_utf8_lossy(&put_a.body)
    );
    let commitment_a = put_a.body.clone();

    // B: the chain stops, the anchoring block of B is mined, then the chain is rewound
    // to before it and goes on without it.
    mining.store(false, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let fork_head = hh.head().await;
    let snapshot = hh.snapshot().await;
    let b = batch(50_000, 2);
    let put_b = {
        let (op, b) = (op.clone(), b.clone());
        tokio::spawn(async move { op.put_generic(&b).await })
    };
    let deadline = Instant::now() + Duration::from_secs(90);
    let dropped = loop {
        let logs = anchor_logs(&hh, modules.entrance, fork_head + 1).await;
        if let Some(root) = logs.first() {
            break *root;
        }
        assert!(Instant::now() < deadline, "B was never anchored");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    // Not final yet (no confirmations): the put has not answered.
    assert!(!put_b.is_finished(), "answered before its anchor was final");
    hh.revert(snapshot).await;
    assert_eq!(hh.head().await, fork_head);
    assert!(
        anchor_logs(&hh, modules.entrance, fork_head + 1)
            .await
            .is_empty(),
        "the reorg dropped B's anchor"
    );
    mining.store(true, Ordering::SeqCst);
    let put_b = put_b.await.unwrap();
    assert_eq!(
        put_b.status,
        200,
        "{}",
        String::from_utf8_lossy(&put_b.body)
    );

    // B was anchored again on the new chain, with the same data_root, and has its
    // confirmations there; A is still anchored.
    let again = anchor_logs(&hh, modules.entrance, fork_head + 1).await;
    assert!(again.contains(&dropped), "B anchored again: {again:?}");
    let record: serde_json::Value = reqwest_json(&format!(
        "http://{}/v1/blobs/{}",
        disperser.http_addr,
        keccak256(&b)
    ))
    .await;
    let tx: B256 = record["tx_hash"].as_str().unwrap().parse().unwrap();
    let receipt = hh
        .provider()
        .get_transaction_receipt(tx)
        .await
        .unwrap()
        .expect("the anchoring transaction on the new chain");
    let at = receipt.block_number.unwrap();
    assert!(hh.head().await >= at + CONFIRMATIONS);
    let text = reqwest_text(&format!("http://{}/metrics", disperser.http_addr)).await;
    assert!(
        metric(&text, "zg_da_disperser_reanchored_total") >= 1.0,
        "{text}"
    );
    let all = anchor_logs(&hh, modules.entrance, 0).await;
    assert_eq!(
        all.len(),
        2,
        "A once, B once (on the chain that won): {all:?}"
    );

    // The plugin serves both, checking each anchor in the final state.
    for (commitment, data) in [(commitment_a, &a), (put_b.body.clone(), &b)] {
        let got = op.get(&commitment).await;
        assert_eq!(got.status, 200, "{}", String::from_utf8_lossy(&got.body));
        assert_eq!(&got.body, data);
    }

    stop.cancel();
    plugin.shutdown().await.unwrap();
    disperser.shutdown().await.unwrap();
    for n in nodes {
        n.shutdown().await.unwrap();
    }
}

async fn reqwest_json(url: &str) -> serde_json::Value {
    alloy::transports::http::reqwest::get(url)
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn reqwest_text(url: &str) -> String {
    alloy::transports::http::reqwest::get(url)
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}
