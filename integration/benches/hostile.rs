//! The devnet under the hostile suite: block interval, 120 KB put latency through the
//! op-plugin, and the process's resident memory, idle and then while hostile clients
//! hammer every surface (expensive JSON-RPC calls, oversized fee-history requests,
//! gapped transaction floods, malformed and cross-site HTTP requests to every server),
//! each from its own address, standing for a remote host (the attackers run in this
//! process, on the same cores as the devnet).
//! Targets (issue 17): block interval kept, put p50 within 1.5× of idle, memory within
//! 2× of idle. Writes JSON to stdout and to `target/bench/hostile.json`.
//!
//! `cargo bench -p zg-integration --bench hostile`

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use alloy::consensus::{SignableTransaction, TxEip1559, TxEnvelope};
use alloy::eips::eip2718::Encodable2718;
use alloy::providers::{Provider, ProviderBuilder};
use alloy::signers::SignerSync;
use alloy::transports::http::reqwest;
use alloy_primitives::{Address, Bytes, TxKind, U256};
use serde_json::{Value, json};
use zg_integration::{Devnet, DevnetConfig};
use zg_testkit::{TempDir, percentile, write_bench_report};

/// Resident memory of this process (every devnet component runs in it), in MiB.
fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// A 120 KB batch, distinct per `i`.
fn batch(i: u64) -> Vec<u8> {
    zg_integration::demo::numbered_batch(i, 120_000)
}

/// Put latencies (ms) of `n` sequential 120 KB puts, and the block interval (ms, from
/// header timestamps' arrival) observed meanwhile.
async fn measure(
    http: &reqwest::Client,
    plugin: &str,
    rpc: &str,
    first: u64,
    n: u64,
) -> (Vec<f64>, f64) {
    let provider = ProviderBuilder::new().connect_http(rpc.parse().unwrap());
    let start_block = provider.get_block_number().await.unwrap();
    let started = Instant::now();
    let mut lat = Vec::new();
    for i in first..first + n {
        let t = Instant::now();
        let r = http
            .post(format!("{plugin}/put"))
            .header("Content-Type", "application/octet-stream")
            .body(batch(i))
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        assert_eq!(
            status,
            200,
            "put {i}: {}",
            r.text().await.unwrap_or_default()
        );
        lat.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let blocks = provider.get_block_number().await.unwrap() - start_block;
    let interval = started.elapsed().as_secs_f64() * 1e3 / blocks.max(1) as f64;
    (lat, interval)
}

/// One hostile client: loops over its attack until `stop`, counting requests.
async fn hostile(
    kind: usize,
    devnet_urls: Arc<Vec<String>>,
    stop: Arc<AtomicBool>,
    sent: Arc<AtomicU64>,
) {
    // Each attacker connects from its own loopback address (127.0.0.2 on), standing for
    // a remote host: the devnet's own components connect from 127.0.0.1, which the
    // servers trust by default (`--http.trusted`).
    let from = std::net::Ipv4Addr::new(127, 0, 0, 2 + kind as u8);
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .local_address(std::net::IpAddr::V4(from))
        .build()
        .unwrap();
    let rpc = devnet_urls[0].clone();
    let flooder = zg_chain::dev_account(9);
    let mut nonce = 1_000u64;
    while !stop.load(Ordering::Relaxed) {
        let req = match kind % 6 {
            // Expensive estimates (a 50M-gas loop is the cap).
            0 => http.post(&rpc).json(&json!({"jsonrpc":"2.0","id":1,"method":"eth_estimateGas","params":[{"data":"0x5b600056","gas":"0x2faf080"}]})),
            // Oversized fee history (refused: 100 percentiles at most).
            1 => http.post(&rpc).json(&json!({"jsonrpc":"2.0","id":1,"method":"eth_feeHistory","params":["0x400","latest", (0..1000).map(|i| i as f64 / 10.0).collect::<Vec<_>>()]})),
            // Gapped transactions from one account (bounded per sender and by gap).
            2 => {
                nonce += 1;
                let tx = TxEip1559 {
                    chain_id: 31337,
                    nonce,
                    gas_limit: 21_000,
                    max_fee_per_gas: 10_000_000_000,
                    max_priority_fee_per_gas: 1_000_000_000,
                    to: TxKind::Call(Address::repeat_byte(1)),
                    value: U256::from(1),
                    access_list: Default::default(),
                    input: Bytes::new(),
                };
                let sig = flooder.sign_hash_sync(&tx.signature_hash()).unwrap();
                let raw = TxEnvelope::Eip1559(tx.into_signed(sig)).encoded_2718();
                http.post(&rpc).json(&json!({"jsonrpc":"2.0","id":1,"method":"eth_sendRawTransaction","params":[Bytes::from(raw)]}))
            }
            // A batch of 1000 log scans.
            3 => http.post(&rpc).json(&Value::Array((0..1000).map(|i| json!({"jsonrpc":"2.0","id":i,"method":"eth_getLogs","params":[{"fromBlock":"0x0","toBlock":"latest"}]})).collect())),
            // Cross-site form posts and rebinding hosts to every HTTP server.
            4 => {
                let url = &devnet_urls[1 + (nonce as usize % (devnet_urls.len() - 1))];
                nonce += 1;
                http.post(url)
                    .header("Host", "evil.example")
                    .header("Content-Type", "text/plain")
                    .body("x".repeat(4096))
            }
            // Malformed bodies to every HTTP server.
            _ => {
                let url = &devnet_urls[1 + (nonce as usize % (devnet_urls.len() - 1))];
                nonce += 1;
                http.post(format!("{url}/v1/blobs"))
                    .header("Content-Type", "application/json")
                    .body(vec![0xff; 64 * 1024])
            }
        };
        let _ = req.send().await;
        sent.fetch_add(1, Ordering::Relaxed);
    }
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    zg_testkit::init_tracing();
    const PUTS: u64 = 20;
    const HOSTILE_CLIENTS: usize = 24;
    let dir = TempDir::new("hostile-bench");
    let config = DevnetConfig::ephemeral(dir.0.clone());
    let devnet = Devnet::start(config).await.unwrap();
    let plugin = devnet.plugin.url();
    let rpc = devnet.chain.rpc_url();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()
        .unwrap();
    // Warm up, then idle figures.
    measure(&http, &plugin, &rpc, 0, 3).await;
    let idle_rss = rss_mib();
    let (mut idle_lat, idle_interval) = measure(&http, &plugin, &rpc, 100, PUTS).await;
    let idle_rss = idle_rss.max(rss_mib());

    // The hostile suite, then the same measurements.
    let mut urls = vec![rpc.clone()];
    for (name, url) in devnet.endpoints() {
        if url.starts_with("http")
            && !["chain.rpc", "compute.upstream", "status page"].contains(&name.as_str())
        {
            urls.push(url);
        }
    }
    let urls = Arc::new(urls);
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    // `ZG_HOSTILE_KINDS=0,3` runs only those attacks (to attribute a cost); all by default.
    let kinds: Option<Vec<usize>> = std::env::var("ZG_HOSTILE_KINDS")
        .ok()
        .map(|v| v.split(',').filter_map(|k| k.trim().parse().ok()).collect());
    let attackers: Vec<_> = (0..HOSTILE_CLIENTS)
        .filter(|k| kinds.as_ref().is_none_or(|ks| ks.contains(&(k % 6))))
        .map(|k| tokio::spawn(hostile(k, urls.clone(), stop.clone(), sent.clone())))
        .collect();
    let peak = Arc::new(AtomicU64::new(0));
    let sampler = {
        let (stop, peak) = (stop.clone(), peak.clone());
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                peak.fetch_max(rss_mib() as u64, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };
    tokio::time::sleep(Duration::from_secs(2)).await;
    let hostile_started = Instant::now();
    let (mut busy_lat, busy_interval) = measure(&http, &plugin, &rpc, 200, PUTS).await;
    let hostile_secs = hostile_started.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    for a in attackers {
        let _ = a.await;
    }
    let _ = sampler.await;
    let busy_rss = (peak.load(Ordering::Relaxed) as f64).max(rss_mib());
    let hostile_requests = sent.load(Ordering::Relaxed);
    devnet.shutdown().await.unwrap();

    let (idle_p50, busy_p50) = (
        percentile(&mut idle_lat, 0.5),
        percentile(&mut busy_lat, 0.5),
    );
    let report = json!({
        "block_time_ms": devnet_block_time_ms(),
        "puts": PUTS,
        "hostile_clients": HOSTILE_CLIENTS,
        "hostile_requests_per_second": hostile_requests as f64 / hostile_secs.max(1e-9),
        "idle": { "put_p50_ms": idle_p50, "put_p99_ms": percentile(&mut idle_lat, 0.99), "block_interval_ms": idle_interval, "rss_mib": idle_rss },
        "hostile": { "put_p50_ms": busy_p50, "put_p99_ms": percentile(&mut busy_lat, 0.99), "block_interval_ms": busy_interval, "rss_mib": busy_rss },
        "put_p50_ratio": busy_p50 / idle_p50,
        "block_interval_ratio": busy_interval / idle_interval,
        "rss_ratio": busy_rss / idle_rss,
    });
    write_bench_report("hostile", &report);
}

/// The devnet's configured block time.
fn devnet_block_time_ms() -> f64 {
    DevnetConfig::ephemeral(std::env::temp_dir())
        .block_time
        .as_secs_f64()
        * 1e3
}
