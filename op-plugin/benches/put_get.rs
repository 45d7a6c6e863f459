//! op-plugin put and get latency for 120 KB frames (op-batcher's default size) at
//! concurrency 1, 8 and 32, against a chain with 1 s blocks, eight DA nodes and a
//! disperser on loopback, all in this process. Gets are measured twice: from a plugin
//! without cache (real DA retrieval, columns over libp2p, verified) and from the cache.
//! Writes `target/bench/op-plugin.json`.
//!
//! `cargo bench -p zg-op-plugin --bench put_get` (`ZG_BENCH_QUICK=1` for fewer rounds).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use alloy::transports::http::reqwest;
use serde_json::json;
use tokio_util::sync::CancellationToken;
use zg_da_server::{ChainConfig, NetConfig};
use zg_op_plugin::{PluginConfig, RunningPlugin, UpstreamConfig, single_frame};
use zg_testkit::da::{Cluster, ClusterOptions, TempDir, payload, percentile, write_bench_report};

const FRAME_BYTES: usize = 120_000;
const BLOCK_TIME: Duration = Duration::from_secs(1);

async fn plugin(cluster: &Cluster, dir: &TempDir, cache_bytes: u64) -> RunningPlugin {
    let mut config = PluginConfig::new(dir.0.clone());
    config.cache_bytes = cache_bytes;
    config.put_timeout = Duration::from_secs(600);
    let upstream = UpstreamConfig::Remote {
        url: format!("http://{}", cluster.disperser.as_ref().unwrap().http_addr),
        token: None,
        chain: ChainConfig::new(cluster.chain.rpc_url()),
        net: NetConfig::default(),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    zg_op_plugin::start(config, upstream, listener, CancellationToken::new())
        .await
        .unwrap()
}

fn frame(seed: u64) -> Vec<u8> {
    let data = payload(FRAME_BYTES - 24, seed);
    let mut id = [0u8; 16];
    id[..8].copy_from_slice(&seed.to_be_bytes());
    single_frame(id, &data, false)
}

/// Runs `requests` in `concurrency` workers; latencies in ms and wall time.
async fn run<F, Fut>(requests: Vec<u64>, concurrency: usize, f: F) -> (Vec<f64>, Duration)
where
    F: Fn(u64) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let requests = Arc::new(requests);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (requests, next, f) = (requests.clone(), next.clone(), f.clone());
            tokio::spawn(async move {
                let mut lat = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(&r) = requests.get(i) else { break };
                    let t = Instant::now();
                    f(r).await;
                    lat.push(t.elapsed().as_secs_f64() * 1e3);
                }
                lat
            })
        })
        .collect();
    let mut all = Vec::new();
    for w in workers {
        all.extend(w.await.unwrap());
    }
    (all, started.elapsed())
}

fn summary(mut lat: Vec<f64>, wall: Duration) -> serde_json::Value {
    let n = lat.len();
    json!({
        "p50_ms": percentile(&mut lat, 0.5),
        "p99_ms": percentile(&mut lat, 0.99),
        "requests": n,
        "per_sec": n as f64 / wall.as_secs_f64(),
    })
}

fn main() {
    let (rt, quick) = zg_testkit::bench_runtime();
    rt.block_on(async move {
        let cluster = Cluster::start(ClusterOptions {
            block_time: Some(BLOCK_TIME),
            ..ClusterOptions::default()
        })
        .await;
        let put_dir = TempDir::new("bench-put");
        let putter = plugin(&cluster, &put_dir, 1 << 30).await;
        let get_dir = TempDir::new("bench-get");
        let getter = plugin(&cluster, &get_dir, 0).await;
        let http = reqwest::Client::new();
        let mut report = serde_json::Map::new();
        let mut seed = 1u64;
        for concurrency in [1usize, 8, 32] {
            let rounds = if quick {
                concurrency * 2
            } else {
                (concurrency * 4).max(20)
            };
            let seeds: Vec<u64> = (seed..seed + rounds as u64).collect();
            seed += rounds as u64;
            let put_url = format!("{}/put", putter.url());
            let commitments = Arc::new(parking_lot::Mutex::new(Vec::new()));
            let (h, c) = (http.clone(), commitments.clone());
            let (lat, wall) = run(seeds, concurrency, move |s| {
                let (h, c, url) = (h.clone(), c.clone(), put_url.clone());
                async move {
                    let resp = h
                        .post(url)
                        .header("Content-Type", "application/octet-stream")
                        .body(frame(s))
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(resp.status(), 200);
                    let body = resp.bytes().await.unwrap().to_vec();
                    c.lock().push(body);
                }
            })
            .await;
            let put = summary(lat, wall);
            let commitments: Vec<Vec<u8>> = commitments.lock().clone();
            let mut gets = serde_json::Map::new();
            for (name, target) in [("get_retrieval", &getter), ("get_cache", &putter)] {
                let base = target.url();
                let comms = Arc::new(commitments.clone());
                let h = http.clone();
                let idx: Vec<u64> = (0..comms.len() as u64).collect();
                let (lat, wall) = run(idx, concurrency, move |i| {
                    let (h, comms, base) = (h.clone(), comms.clone(), base.clone());
                    async move {
                        let url = format!("{base}/get/0x{}", hex::encode(&comms[i as usize]));
                        let resp = h.get(url).send().await.unwrap();
                        assert_eq!(resp.status(), 200);
                        assert_eq!(resp.bytes().await.unwrap().len(), FRAME_BYTES);
                    }
                })
                .await;
                gets.insert(name.into(), summary(lat, wall));
            }
            let p50 = put["p50_ms"].as_f64().unwrap();
            report.insert(
                format!("concurrency_{concurrency}"),
                json!({
                    "put": put,
                    "get_retrieval": gets["get_retrieval"],
                    "get_cache": gets["get_cache"],
                    "put_p50_in_block_times": p50 / BLOCK_TIME.as_millis() as f64,
                }),
            );
        }
        report.insert("frame_bytes".into(), json!(FRAME_BYTES));
        report.insert("block_time_ms".into(), json!(BLOCK_TIME.as_millis() as u64));
        report.insert("da_nodes".into(), json!(zg_testkit::da::NODES));
        write_bench_report("op-plugin", &serde_json::Value::Object(report));
        getter.shutdown().await.unwrap();
        putter.shutdown().await.unwrap();
        cluster.shutdown().await;
    });
}
