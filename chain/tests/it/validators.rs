//! A validator network in one process: four validators, each with its own consensus
//! thread and p2p on loopback, agreeing blocks with commonware's simplex. A transaction
//! sent to any validator is finalized on all with a finality certificate; with one
//! validator stopped blocks keep finalizing, with two of four they stop, and the
//! stopped ones catch up when restarted.

use std::time::{Duration, Instant};

use alloy::primitives::{Address, U256};
use alloy::providers::Provider;
use alloy::rpc::types::TransactionRequest;
use tokio_util::sync::CancellationToken;
use zg_chain::config::ValidatorSettings;
use zg_chain::consensus::{ProposalLayer, Timeouts, ValidatorKey, deal_validators};
use zg_chain::{Genesis, NodeConfig, RunningChain};

use crate::helpers::{TempDir, dev_genesis, provider, raw_rpc, signer};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Validator {
    dir: TempDir,
    key: ValidatorKey,
    chain: Option<RunningChain>,
}

async fn start_validator(dir: &TempDir, genesis: &Genesis, key: &ValidatorKey) -> RunningChain {
    start_validator_with(dir, genesis, key, Duration::from_millis(200)).await
}

async fn start_validator_with(
    dir: &TempDir,
    genesis: &Genesis,
    key: &ValidatorKey,
    block_time: Duration,
) -> RunningChain {
    start_validator_layered(dir, genesis, key, block_time, None, Address::ZERO).await
}

async fn start_validator_layered(
    dir: &TempDir,
    genesis: &Genesis,
    key: &ValidatorKey,
    block_time: Duration,
    proposal_layer: Option<ProposalLayer>,
    coinbase: Address,
) -> RunningChain {
    let config = NodeConfig {
        genesis: genesis.clone(),
        block_time,
        coinbase,
        // State of any block (the full-node test compares proofs while blocks go on).
        rpc: zg_chain::config::RpcConfig {
            state_history: u64::MAX,
            ..Default::default()
        },
        validator: Some(ValidatorSettings {
            key: key.clone(),
            listen: None,
            peers: Vec::new(),
            timeouts: Timeouts {
                leader: Duration::from_secs(1),
                certification: Duration::from_secs(2),
                retry: Duration::from_secs(1),
            },
            proposal_layer,
        }),
        ..NodeConfig::default()
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    zg_chain::start(&dir.0, config, listener, CancellationToken::new())
        .await
        .unwrap()
}

async fn network(n: usize) -> (Genesis, Vec<Validator>) {
    network_with(n, Duration::from_millis(200)).await
}

async fn network_with(n: usize, block_time: Duration) -> (Genesis, Vec<Validator>) {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let addresses: Vec<String> = (0..n)
        .map(|_| format!("127.0.0.1:{}", free_port()))
        .collect();
    let (set, keys) = deal_validators(&addresses).unwrap();
    let mut genesis = dev_genesis();
    genesis.consensus = Some(set);
    let mut out = Vec::new();
    for key in keys {
        let dir = TempDir::new("validator");
        let chain = start_validator_with(&dir, &genesis, &key, block_time).await;
        out.push(Validator {
            dir,
            key,
            chain: Some(chain),
        });
    }
    (genesis, out)
}

fn head(v: &Validator) -> u64 {
    v.chain.as_ref().unwrap().node.head().header.number
}

async fn wait_for(what: &str, limit: Duration, mut ok: impl FnMut() -> bool) {
    let started = Instant::now();
    while !ok() {
        assert!(started.elapsed() < limit, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_validators_finalize_agree_and_survive_one_failure() {
    let (genesis, mut vals) = network(4).await;
    wait_for(
        "three finalized blocks everywhere",
        Duration::from_secs(60),
        || vals.iter().all(|v| head(v) >= 3),
    )
    .await;

    // A transfer sent to validator 1 reaches whoever proposes, and is final on all.
    let url1 = vals[1].chain.as_ref().unwrap().rpc_url();
    let p = provider(&url1, signer(0));
    let to = signer(5).address();
    let sent = p
        .send_transaction(
            TransactionRequest::default()
                .to(to)
                .value(U256::from(12345)),
        )
        .await
        .unwrap();
    let receipt = tokio::time::timeout(Duration::from_secs(60), sent.get_receipt())
        .await
        .expect("transfer finalized in time")
        .unwrap();
    assert!(receipt.status());
    let at = receipt.block_number.unwrap();
    wait_for(
        "the transfer's block everywhere",
        Duration::from_secs(30),
        || vals.iter().all(|v| head(v) >= at),
    )
    .await;
    let hashes: Vec<_> = vals
        .iter()
        .map(|v| {
            v.chain
                .as_ref()
                .unwrap()
                .node
                .store()
                .header(at)
                .unwrap()
                .unwrap()
                .hash_slow()
        })
        .collect();
    assert!(
        hashes.windows(2).all(|w| w[0] == w[1]),
        "validators disagree: {hashes:?}"
    );
    for v in &vals {
        let url = v.chain.as_ref().unwrap().rpc_url();
        let balance = provider(&url, signer(0)).get_balance(to).await.unwrap();
        assert!(balance >= U256::from(12345));
        // Every validator serves a certificate that finalizes the block.
        let (status, body) = raw_rpc(
            &url,
            format!(r#"{{"jsonrpc":"2.0","id":1,"method":"zg_getFinalityCertificate","params":["{at:#x}"]}}"#),
        )
        .await;
        assert_eq!(status, 200);
        let r = &body["result"];
        assert_eq!(r["hash"], serde_json::json!(hashes[0]), "{body}");
        // It verifies against the genesis group key and names the certified block;
        // a flipped byte, another chain's key or another block are refused.
        let verifier = zg_finality::FinalityVerifier::from_genesis(
            genesis.chain_id,
            genesis.consensus.as_ref().unwrap(),
        )
        .unwrap();
        let cert = alloy::hex::decode(r["certificate"].as_str().unwrap()).unwrap();
        let certified_hash: alloy::primitives::B256 =
            serde_json::from_value(r["certifiedHash"].clone()).unwrap();
        let finalized = verifier.verify_block(&cert, certified_hash).unwrap();
        assert!(finalized.view > 0);
        let mut flipped = cert.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        assert!(verifier.verify(&flipped).is_err());
        let other_chain = zg_finality::FinalityVerifier::from_genesis(
            genesis.chain_id + 1,
            genesis.consensus.as_ref().unwrap(),
        )
        .unwrap();
        assert!(matches!(
            other_chain.verify(&cert),
            Err(zg_finality::FinalityError::BadSignature)
        ));
        assert!(matches!(
            verifier.verify_block(&cert, alloy::primitives::B256::repeat_byte(7)),
            Err(zg_finality::FinalityError::WrongBlock { .. })
        ));
        let certified = u64::from_str_radix(
            r["certifiedNumber"]
                .as_str()
                .unwrap()
                .trim_start_matches("0x"),
            16,
        )
        .unwrap();
        assert!(certified >= at);
        assert!(r["certificate"].as_str().unwrap().len() > 2);
    }
    // finalized and safe are the head: every committed block is final.
    let (_, body) = raw_rpc(
        &url1,
        r#"{"jsonrpc":"2.0","id":1,"method":"eth_getBlockByNumber","params":["finalized",false]}"#,
    )
    .await;
    assert!(body["result"]["number"].is_string());

    // One of four stopped: the rest keep finalizing.
    vals[3].chain.take().unwrap().shutdown().await.unwrap();
    let before = head(&vals[0]);
    wait_for(
        "progress with three of four",
        Duration::from_secs(60),
        || vals[..3].iter().all(|v| head(v) >= before + 3),
    )
    .await;

    // Two of four stopped: below the quorum (3), nothing is finalized.
    vals[2].chain.take().unwrap().shutdown().await.unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let stalled = head(&vals[0]);
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(head(&vals[0]) <= stalled + 1, "finalized without a quorum");

    // Restarted, both catch up and finality resumes.
    for i in [2, 3] {
        let chain = start_validator(&vals[i].dir, &genesis, &vals[i].key).await;
        vals[i].chain = Some(chain);
    }
    let resumed = head(&vals[0]);
    wait_for(
        "finality to resume with all four",
        Duration::from_secs(90),
        || vals.iter().all(|v| head(v) >= resumed + 3),
    )
    .await;
    for v in &mut vals {
        v.chain.take().unwrap().shutdown().await.unwrap();
    }
}

/// A validator votes only for a block whose re-execution reproduces its header: a
/// proposal with another state root, receipts root, gas figure or transaction set is
/// refused before it could be notarized.
#[tokio::test]
async fn a_proposal_that_lies_about_its_execution_is_refused() {
    let dir = TempDir::new("verify");
    let chain = crate::helpers::start(&dir, dev_genesis(), Duration::from_secs(3600)).await;
    let node = chain.node.clone();
    node.submit_raw(&crate::helpers::raw_transfer(0, 0))
        .unwrap();
    let head = node.head();
    let block = node
        .propose_block(head.hash)
        .unwrap()
        .expect("head is the parent");
    assert_eq!(block.txs.len(), 1);
    // Honest: accepted.
    assert_eq!(node.verify_block(&block).unwrap(), Some(Ok(())));
    let tampered = |f: &dyn Fn(&mut alloy::consensus::Header)| {
        let mut h = block.header.clone();
        f(&mut h);
        zg_chain::consensus::ZgBlock::new(h, block.txs.clone())
    };
    for (what, bad) in [
        (
            "state root",
            tampered(&|h| h.state_root = alloy::primitives::B256::repeat_byte(1)),
        ),
        (
            "receipts root",
            tampered(&|h| h.receipts_root = alloy::primitives::B256::repeat_byte(2)),
        ),
        ("gas used", tampered(&|h| h.gas_used += 1)),
        ("base fee", tampered(&|h| h.base_fee_per_gas = Some(1))),
        (
            "timestamp",
            tampered(&|h| h.timestamp = head.header.timestamp),
        ),
        ("extra data", tampered(&|h| h.extra_data = vec![1].into())),
    ] {
        let verdict = node.verify_block(&bad).unwrap();
        assert!(matches!(verdict, Some(Err(_))), "{what}: {verdict:?}");
    }
    // Transactions other than the header commits to.
    let no_txs = zg_chain::consensus::ZgBlock::new(block.header.clone(), Vec::new());
    assert!(matches!(node.verify_block(&no_txs).unwrap(), Some(Err(_))));
    // A block on another parent waits (None), it is not judged.
    let orphan = tampered(&|h| h.parent_hash = alloy::primitives::B256::repeat_byte(3));
    assert_eq!(node.verify_block(&orphan).unwrap(), None);
    // The honest block commits.
    node.commit_finalized(&block).unwrap();
    assert_eq!(node.head().hash, block.hash());
    chain.shutdown().await.unwrap();
}

/// A reverse proxy to `upstream` that corrupts every finality certificate it relays
/// (one flipped byte): a lying RPC endpoint.
async fn lying_proxy(upstream: String) -> String {
    use axum::routing::post;
    let client = alloy::transports::http::reqwest::Client::new();
    let app = axum::Router::new().route(
        "/",
        post(move |body: String| {
            let client = client.clone();
            let upstream = upstream.clone();
            async move {
                let resp = client
                    .post(&upstream)
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await
                    .unwrap();
                let mut v: serde_json::Value = resp.json().await.unwrap();
                if let Some(cert) = v["result"]["certificate"].as_str() {
                    let mut raw = alloy::hex::decode(cert).unwrap();
                    raw[20] ^= 0x40;
                    v["result"]["certificate"] =
                        serde_json::json!(alloy::primitives::Bytes::from(raw));
                }
                axum::Json(v)
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

async fn rpc(url: &str, method: &str, params: serde_json::Value) -> serde_json::Value {
    let body = serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
    let (status, v) = raw_rpc(url, body.to_string()).await;
    assert_eq!(status, 200, "{method}: {v}");
    assert!(v.get("error").is_none(), "{method}: {v}");
    v["result"].clone()
}

/// A full node started after the validators have made hundreds of blocks syncs to the
/// head from their JSON-RPC, verifying every certificate and re-executing every block,
/// skips an endpoint that forges certificates, and then serves the same blocks, proofs
/// and logs as a validator; a transaction sent to it reaches the validators.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_node_started_late_syncs_verifies_and_serves_the_same() {
    let (genesis, mut vals) = network_with(4, Duration::ZERO).await;
    let url0 = vals[0].chain.as_ref().unwrap().rpc_url();
    // A contract creation whose constructor logs (LOG0 of one word), for logs to compare.
    let p = provider(&url0, signer(1));
    let init = alloy::primitives::Bytes::from_static(&[
        0x60, 0x2a, 0x60, 0x00, 0x52, 0x60, 0x20, 0x60, 0x00, 0xa0, 0x00,
    ]);
    let created = p
        .send_transaction(TransactionRequest {
            to: Some(alloy::primitives::TxKind::Create),
            input: init.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    assert_eq!(created.inner.logs().len(), 1);
    let target = 1_000;
    wait_for(
        "the validators to pass the target height",
        Duration::from_secs(240),
        || head(&vals[0]) >= target,
    )
    .await;

    let liar = lying_proxy(url0.clone()).await;
    let dir = TempDir::new("full-node");
    let config = NodeConfig {
        genesis: genesis.clone(),
        block_time: Duration::from_millis(100),
        follow: vec![liar, vals[1].chain.as_ref().unwrap().rpc_url()],
        ..NodeConfig::default()
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let full = zg_chain::start(&dir.0, config, listener, CancellationToken::new())
        .await
        .unwrap();
    let goal = head(&vals[0]);
    let started = Instant::now();
    wait_for("the full node to sync", Duration::from_secs(240), || {
        full.node.head().header.number >= goal
    })
    .await;
    eprintln!("full node synced {goal} blocks in {:?}", started.elapsed());
    assert!(
        full.node.metrics().follow_refused.get() > 0,
        "the forging endpoint went unnoticed"
    );

    let furl = full.rpc_url();
    for n in [1, created.block_number.unwrap(), goal / 2, goal] {
        let tag = format!("{n:#x}");
        assert_eq!(
            rpc(
                &furl,
                "eth_getBlockByNumber",
                serde_json::json!([tag, true])
            )
            .await,
            rpc(
                &url0,
                "eth_getBlockByNumber",
                serde_json::json!([tag, true])
            )
            .await,
            "block {n}"
        );
    }
    // State at a recent block both serve (the validators keep going).
    let recent = full.node.head().header.number;
    let at = format!("{recent:#x}");
    let proof_params = serde_json::json!([signer(1).address(), ["0x0"], at]);
    assert_eq!(
        rpc(&furl, "eth_getProof", proof_params.clone()).await,
        rpc(&url0, "eth_getProof", proof_params).await
    );
    let logs_params = serde_json::json!([{"fromBlock": "0x0", "toBlock": at}]);
    let logs = rpc(&furl, "eth_getLogs", logs_params.clone()).await;
    assert_eq!(logs.as_array().unwrap().len(), 1);
    assert_eq!(logs, rpc(&url0, "eth_getLogs", logs_params).await);

    // A transaction sent to the full node is forwarded and finalized.
    let fp = provider(&furl, signer(2));
    let sent = fp
        .send_transaction(
            TransactionRequest::default()
                .to(signer(6).address())
                .value(U256::from(9)),
        )
        .await
        .unwrap();
    let receipt = tokio::time::timeout(Duration::from_secs(60), sent.get_receipt())
        .await
        .expect("forwarded transaction finalized")
        .unwrap();
    assert!(receipt.status());

    full.shutdown().await.unwrap();
    for v in &mut vals {
        v.chain.take().unwrap().shutdown().await.unwrap();
    }
}

/// A validator that lies about the state root of every block it proposes: none of its
/// blocks is ever finalized (the others re-execute and refuse to vote), its views time
/// out and the honest leaders' blocks are finalized instead.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proposer_lying_about_the_state_root_never_gets_a_block_finalized() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let addresses: Vec<String> = (0..4)
        .map(|_| format!("127.0.0.1:{}", free_port()))
        .collect();
    let (set, keys) = deal_validators(&addresses).unwrap();
    let mut genesis = dev_genesis();
    genesis.consensus = Some(set);
    let liar = Address::repeat_byte(0xbb);
    let lies = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = lies.clone();
    let lie = ProposalLayer(std::sync::Arc::new(
        move |block: zg_chain::consensus::ZgBlock| {
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let mut header = block.header.clone();
            header.state_root = alloy::primitives::B256::repeat_byte(0x66);
            zg_chain::consensus::ZgBlock::new(header, block.txs)
        },
    ));
    let mut chains = Vec::new();
    let mut dirs = Vec::new();
    for (i, key) in keys.iter().enumerate() {
        let dir = TempDir::new("byzantine");
        let (layer, coinbase) = if i == 0 {
            (Some(lie.clone()), liar)
        } else {
            (None, Address::repeat_byte(i as u8))
        };
        chains.push(
            start_validator_layered(
                &dir,
                &genesis,
                key,
                Duration::from_millis(50),
                layer,
                coinbase,
            )
            .await,
        );
        dirs.push(dir);
    }
    let target = 20;
    let started = Instant::now();
    while chains.iter().any(|c| c.node.head().header.number < target) {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "no progress past the liar"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let store = chains[1].node.store();
    let mut proposers = std::collections::BTreeSet::new();
    for n in 1..=target {
        let h = store.header(n).unwrap().unwrap();
        assert_ne!(
            h.beneficiary, liar,
            "block {n} from the lying proposer was finalized"
        );
        proposers.insert(h.beneficiary);
        for c in &chains {
            assert_eq!(
                c.node.store().header(n).unwrap().unwrap(),
                h,
                "validators disagree at {n}"
            );
        }
    }
    assert!(
        proposers.len() >= 2,
        "the honest validators share the proposals: {proposers:?}"
    );
    assert!(
        lies.load(std::sync::atomic::Ordering::SeqCst) > 0,
        "the liar never led a view: the test proved nothing"
    );
    for c in chains {
        c.shutdown().await.unwrap();
    }
}
