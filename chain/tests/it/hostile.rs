//! Hostile input against the JSON-RPC API (issue 17): each request here once took the
//! node down or bent its state without permission; now each gets a clear refusal and
//! the node keeps producing blocks.

use std::time::{Duration, Instant};

use alloy::network::TransactionBuilder;
use alloy::primitives::Bytes;
use alloy::providers::Provider;
use alloy::rpc::types::TransactionRequest;
use alloy::transports::http::reqwest;
use serde_json::json;
use tokio_util::sync::CancellationToken;
use zg_chain::NodeConfig;
use zg_chain::config::RpcConfig;

use crate::helpers::*;

fn code(v: &serde_json::Value) -> Option<i64> {
    v["error"]["code"].as_i64()
}

async fn start_with(dir: &TempDir, config: NodeConfig, bind: &str) -> zg_chain::RunningChain {
    let listener = tokio::net::TcpListener::bind(bind).await.unwrap();
    zg_chain::start(&dir.0, config, listener, CancellationToken::new())
        .await
        .unwrap()
}

/// The dev genesis, a block per transaction, every other setting the default.
fn automine() -> NodeConfig {
    NodeConfig {
        genesis: dev_genesis(),
        block_time: Duration::ZERO,
        ..NodeConfig::default()
    }
}

/// One ~2 MB `eth_feeHistory` with 1,000,000 reward percentiles drove a fresh node to
/// 24 GB; now anything over 100 percentiles is refused before any work.
#[tokio::test]
async fn fee_history_percentiles_are_capped() {
    let dir = TempDir::new("hostile-fee");
    let config = automine();
    let chain = start_with(&dir, config, "127.0.0.1:0").await;
    let url = chain.rpc_url();
    let million: Vec<f64> = (0..1_000_000).map(|i| i as f64 / 10_000.0).collect();
    let body = json!({"jsonrpc":"2.0","id":1,"method":"eth_feeHistory","params":["0x400","latest",million]});
    let body = body.to_string();
    assert!(body.len() > 1_000_000);
    let (_, r) = raw_rpc(&url, body).await;
    assert_eq!(code(&r), Some(-32602), "{r}");
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap()
            .contains("at most 100")
    );
    let ok: Vec<f64> = (0..100).map(|i| i as f64).collect();
    let (_, r) = raw_rpc(
        &url,
        json!({"jsonrpc":"2.0","id":1,"method":"eth_feeHistory","params":["0x4","latest",ok]})
            .to_string(),
    )
    .await;
    assert!(r["result"]["reward"].is_array(), "{r}");
    chain.shutdown().await.unwrap();
}

/// `anvil_mine` and `evm_mine` answered anyone; now they exist only with `dev`, and
/// `dev` refuses a non-loopback bind.
#[tokio::test]
async fn dev_methods_are_opt_in_and_loopback_only() {
    let dir = TempDir::new("hostile-dev");
    let config = automine();
    let chain = start_with(&dir, config.clone(), "127.0.0.1:0").await;
    for method in ["anvil_mine", "evm_mine"] {
        let (_, r) = raw_rpc(
            &chain.rpc_url(),
            json!({"jsonrpc":"2.0","id":1,"method":method,"params":["0x5"]}).to_string(),
        )
        .await;
        assert_eq!(code(&r), Some(-32601), "{method}: {r}");
    }
    let p = provider(&chain.rpc_url(), signer(0));
    assert_eq!(p.get_block_number().await.unwrap(), 0, "nothing was mined");
    chain.shutdown().await.unwrap();

    let dir = TempDir::new("hostile-dev-exposed");
    let listener = tokio::net::TcpListener::bind("0.0.0.0:0").await.unwrap();
    let dev = NodeConfig {
        dev: true,
        ..config
    };
    let err = zg_chain::start(&dir.0, dev, listener, CancellationToken::new())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("loopback"), "{err}");
}

/// Runtime code that jumps to itself until the gas runs out.
const SPIN: [u8; 4] = [0x5b, 0x60, 0x00, 0x56];

/// Deploys [`SPIN`]; its address.
async fn deploy_spinner(url: &str) -> alloy::primitives::Address {
    let p = provider(url, signer(0));
    // PUSH4 code, PUSH1 0, MSTORE, PUSH1 4, PUSH1 28, RETURN.
    let mut init = vec![0x63];
    init.extend_from_slice(&SPIN);
    init.extend_from_slice(&[0x60, 0x00, 0x52, 0x60, 0x04, 0x60, 0x1c, 0xf3]);
    let tx = TransactionRequest::default().with_deploy_code(Bytes::from(init));
    mined(&p, tx).await.contract_address.unwrap()
}

/// 1,000 estimates that each burn the whole gas cap: they queue for the node's heavy
/// places, the ones that wait too long are refused (`-32005`), and blocks keep coming
/// on time meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_estimates_do_not_stall_block_production() {
    let dir = TempDir::new("hostile-estimates");
    let block_time = Duration::from_millis(250);
    let config = NodeConfig {
        genesis: dev_genesis(),
        block_time,
        rpc: RpcConfig {
            evm_timeout: Duration::from_secs(2),
            ..RpcConfig::default()
        },
        ..NodeConfig::default()
    };
    let chain = start_with(&dir, config, "127.0.0.1:0").await;
    let url = chain.rpc_url();
    let spinner = deploy_spinner(&url).await;
    let call = json!({"to": spinner, "gas": "0x1c9c380"});
    // 100 connections, each a batch of 10 estimates.
    let http = reqwest::Client::new();
    let started = Instant::now();
    let mut attackers = tokio::task::JoinSet::new();
    for _ in 0..100 {
        let (http, url) = (http.clone(), url.clone());
        let batch: Vec<_> = (0..10)
            .map(|i| json!({"jsonrpc":"2.0","id":i,"method":"eth_estimateGas","params":[call]}))
            .collect();
        attackers.spawn(async move {
            let r = http
                .post(&url)
                .header("content-type", "application/json")
                .body(serde_json::Value::Array(batch).to_string())
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            (status, r.text().await.unwrap())
        });
    }
    // Watch the head while they run.
    let p = provider(&url, signer(1));
    let mut last = (Instant::now(), p.get_block_number().await.unwrap());
    let mut worst_gap = Duration::ZERO;
    while !attackers.is_empty() || started.elapsed() < Duration::from_secs(3) {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let head = p.get_block_number().await.unwrap();
        if head != last.1 {
            worst_gap = worst_gap.max(last.0.elapsed());
            last = (Instant::now(), head);
        }
        while let Some(done) = attackers.try_join_next() {
            let (status, body) = done.unwrap();
            assert!(status == 200 || status == 503, "{status} {body}");
            if status == 200 {
                let answers: Vec<serde_json::Value> = serde_json::from_str(&body).unwrap();
                for a in answers {
                    // Every estimate is refused one way or another: the call never ends
                    // (out of gas), it ran out of time, or it never got a place.
                    assert!(matches!(code(&a), Some(-32000 | -32002 | -32005)), "{a}");
                }
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the attack should end"
        );
    }
    worst_gap = worst_gap.max(last.0.elapsed());
    assert!(
        worst_gap < block_time * 4,
        "blocks stalled for {worst_gap:?} under the attack (block time {block_time:?})"
    );
    // And an honest transaction still goes through at once.
    let to = signer(2).address();
    let r = mined(
        &p,
        TransactionRequest::default()
            .to(to)
            .value(alloy::primitives::U256::from(1)),
    )
    .await;
    assert!(r.status());
    chain.shutdown().await.unwrap();
}

/// A batch shares one time budget: the calls past it are answered `-32005` without
/// being run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_shares_one_time_budget() {
    let dir = TempDir::new("hostile-batch");
    let mut rpc = RpcConfig {
        evm_timeout: Duration::from_secs(5),
        ..RpcConfig::default()
    };
    rpc.server.call_timeout = Duration::from_millis(1500);
    let config = NodeConfig { rpc, ..automine() };
    let chain = start_with(&dir, config, "127.0.0.1:0").await;
    let url = chain.rpc_url();
    let spinner = deploy_spinner(&url).await;
    let call = json!({"to": spinner, "gas": "0x1c9c380"});
    let batch: Vec<_> = (0..1000)
        .map(|i| json!({"jsonrpc":"2.0","id":i,"method":"eth_call","params":[call]}))
        .collect();
    let started = Instant::now();
    let (status, r) = raw_rpc(&url, serde_json::Value::Array(batch).to_string()).await;
    assert_eq!(status, 200);
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
    let answers = r.as_array().unwrap();
    assert_eq!(answers.len(), 1000);
    assert_eq!(code(&answers[999]), Some(-32005), "{}", answers[999]);
    chain.shutdown().await.unwrap();
}

/// A page on another site, or a DNS name re-pointed at 127.0.0.1, cannot drive the
/// node's loopback RPC.
#[tokio::test]
async fn cross_site_and_rebinding_requests_are_refused() {
    let dir = TempDir::new("hostile-csrf");
    let config = NodeConfig {
        dev: true,
        ..automine()
    };
    let chain = start_with(&dir, config, "127.0.0.1:0").await;
    let url = chain.rpc_url();
    let mine = r#"{"jsonrpc":"2.0","id":1,"method":"evm_mine","params":[]}"#;
    let http = reqwest::Client::new();
    let send = |headers: Vec<(&'static str, &'static str)>| {
        let mut req = http.post(&url).body(mine);
        for (k, v) in headers {
            req = req.header(k, v);
        }
        async move { req.send().await.unwrap().status().as_u16() }
    };
    let json_ct = ("content-type", "application/json");
    assert_eq!(
        send(vec![json_ct, ("host", "evil.example:8545")]).await,
        421
    );
    assert_eq!(
        send(vec![json_ct, ("origin", "https://evil.example")]).await,
        403
    );
    assert_eq!(
        send(vec![json_ct, ("sec-fetch-site", "cross-site")]).await,
        403
    );
    assert_eq!(send(vec![("content-type", "text/plain")]).await, 415);
    assert_eq!(
        send(vec![("content-type", "application/x-www-form-urlencoded")]).await,
        415
    );
    let p = provider(&url, signer(0));
    assert_eq!(p.get_block_number().await.unwrap(), 0, "nothing was mined");
    assert_eq!(send(vec![json_ct, ("host", "localhost")]).await, 200);
    assert_eq!(p.get_block_number().await.unwrap(), 1);
    chain.shutdown().await.unwrap();
}

fn signed_transfer(who: u32, nonce: u64) -> String {
    let raw = crate::helpers::raw_transfer(who, nonce);
    json!({"jsonrpc":"2.0","id":1,"method":"eth_sendRawTransaction","params":[Bytes::from(raw)]})
        .to_string()
}

/// One account floods the pool with transactions that can never run (nonce 0 is
/// missing): it gets 64 places at most, and another account's transaction is still
/// mined at once, also after a restart that reloads the journaled flood.
#[tokio::test]
async fn a_gapped_flood_does_not_block_other_senders_even_after_restart() {
    let dir = TempDir::new("hostile-pool");
    let config = automine();
    let chain = start_with(&dir, config.clone(), "127.0.0.1:0").await;
    let url = chain.rpc_url();
    let mut accepted = 0;
    for nonce in 1..=200 {
        let (_, r) = raw_rpc(&url, signed_transfer(3, nonce)).await;
        if r["result"].is_string() {
            accepted += 1;
        } else {
            assert_eq!(code(&r), Some(-32000), "{r}");
        }
    }
    assert_eq!(accepted, 64, "the per-sender limit");
    let (_, r) = raw_rpc(&url, signed_transfer(3, 500)).await;
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap()
            .contains("nonce too high"),
        "{r}"
    );
    let p = provider(&url, signer(4));
    let honest = TransactionRequest::default()
        .to(signer(5).address())
        .value(alloy::primitives::U256::from(7));
    assert!(mined(&p, honest.clone()).await.status());
    chain.shutdown().await.unwrap();

    let chain = start_with(&dir, config, "127.0.0.1:0").await;
    let url = chain.rpc_url();
    let p = provider(&url, signer(4));
    assert!(mined(&p, honest).await.status());
    // The flood is still bounded after the restart.
    let (_, r) = raw_rpc(&url, signed_transfer(3, 65)).await;
    assert_eq!(code(&r), Some(-32000), "{r}");
    chain.shutdown().await.unwrap();
}
