//! Broker overhead and settlement throughput, on loopback against the echo upstream
//! and a real chain. Writes `target/bench/compute.json`.
//!
//! `cargo bench -p zg-compute --bench proxy` (`ZG_BENCH_QUICK=1`: fewer requests).
//!
//! - Chat completions straight to the upstream vs through the broker (session token
//!   check, one chain read, metering, a synced RocksDB record), at concurrency 1 and
//!   16: requests per second and latency percentiles.
//! - One settlement transaction of 50 users (50 EIP-712 signatures by the broker, 50
//!   recoveries in the serving module): wall time from `settle_now` to the receipt.

use std::time::{Duration, Instant};

use alloy::signers::local::PrivateKeySigner;
use alloy::transports::http::reqwest;
use alloy_primitives::U256;
use alloy_sol_types::SolCall;
use serde_json::{Value, json};
use zg_compute::SessionToken;
use zg_primitives::abi::{ILedgerManager as L, INFERENCE_SERVICE_NAME, LEDGER_ADDRESS};
use zg_testkit::compute::*;

fn body() -> Value {
    json!({"messages": [{"role": "user", "content": "measure the broker overhead please"}]})
}

async fn load(url: String, key: Option<String>, total: usize, concurrency: usize) -> Value {
    let http = reqwest::Client::new();
    let t = Instant::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (http, url, key) = (http.clone(), url.clone(), key.clone());
            tokio::spawn(async move {
                let mut lat = Vec::new();
                for _ in 0..total / concurrency {
                    let s = Instant::now();
                    let mut req = http.post(&url).json(&body());
                    if let Some(k) = &key {
                        req = req.bearer_auth(k);
                    }
                    let r = req.send().await.unwrap();
                    assert!(r.status().is_success(), "{}", r.status());
                    r.bytes().await.unwrap();
                    lat.push(s.elapsed());
                }
                lat
            })
        })
        .collect();
    let mut lat: Vec<Duration> = Vec::new();
    for w in workers {
        lat.extend(w.await.unwrap());
    }
    let secs = t.elapsed().as_secs_f64();
    lat.sort();
    let pct =
        |p: f64| lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)].as_secs_f64() * 1e3;
    json!({
        "requests": lat.len(),
        "concurrency": concurrency,
        "requests_per_s": lat.len() as f64 / secs,
        "p50_ms": pct(0.5),
        "p99_ms": pct(0.99),
    })
}

fn main() {
    let quick = std::env::var_os("ZG_BENCH_QUICK").is_some();
    let total = if quick { 200 } else { 2_000 };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let report = rt.block_on(async {
        let stack = Stack::new().await;
        let dir = TempDir::new("bench");
        let mut config = stack.config(dir.0.clone());
        // One user drives all the load here.
        config.max_user_concurrency = 64;
        let broker = stack.broker(config).await;
        stack.acknowledge().await;
        let (user, _) = stack.user(3, 1_000, ether(500)).await;
        let key =
            SessionToken::ephemeral(user.address(), broker.provider(), 0, 3_600_000).api_key(&user);
        let direct = format!("{}/chat/completions", stack.upstream);
        let proxied = format!("{}/v1/proxy/chat/completions", broker.url());
        // Warm up both paths.
        load(direct.clone(), None, 20, 1).await;
        load(proxied.clone(), Some(key.clone()), 20, 1).await;
        let mut runs = Vec::new();
        for c in [1, 16] {
            let d = load(direct.clone(), None, total, c).await;
            let p = load(proxied.clone(), Some(key.clone()), total, c).await;
            let overhead = p["p50_ms"].as_f64().unwrap() - d["p50_ms"].as_f64().unwrap();
            runs.push(
                json!({"concurrency": c, "direct": d, "broker": p, "p50_overhead_ms": overhead}),
            );
        }
        broker.settle_now().await.unwrap();

        // 50 users with one billed request each, settled in one transaction.
        let funder = provider_for(&stack.rpc(), dev_signer(4));
        let mut users = Vec::new();
        for _ in 0..50 {
            let k = PrivateKeySigner::random();
            send(&funder, k.address(), Vec::new(), ether(2))
                .await
                .unwrap();
            let p = provider_for(&stack.rpc(), k.clone());
            let add = L::addLedgerCall {
                additionalInfo: String::new(),
            }
            .abi_encode();
            send(&p, LEDGER_ADDRESS, add, ether(1)).await.unwrap();
            let t = L::transferFundCall {
                provider: broker.provider(),
                serviceName: INFERENCE_SERVICE_NAME.into(),
                amount: ether(1) / U256::from(2),
            };
            send(&p, LEDGER_ADDRESS, t.abi_encode(), U256::ZERO)
                .await
                .unwrap();
            users.push(k);
        }
        for k in &users {
            let key =
                SessionToken::ephemeral(k.address(), broker.provider(), 0, 3_600_000).api_key(k);
            load(proxied.clone(), Some(key), 1, 1).await;
        }
        let t = Instant::now();
        let r = broker.settle_now().await.unwrap();
        let settle = t.elapsed().as_secs_f64();
        assert_eq!(r.items, 50);
        assert!(r.statuses.iter().all(|s| s.1 == 0));
        broker.shutdown().await;
        json!({
            "chat": runs,
            "settlement_50_users_s": settle,
            "settlement_items_per_s": 50.0 / settle,
        })
    });
    let mut report = report;
    report["cores"] = json!(
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0)
    );
    let text = serde_json::to_string_pretty(&report).unwrap();
    println!("{text}");
    let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench");
    let _ = std::fs::create_dir_all(&out);
    let _ = std::fs::write(out.join("compute.json"), text);
}
