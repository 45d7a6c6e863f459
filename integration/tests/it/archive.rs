//! Batches outlive the DA window, every component in its own process: batches put
//! through the op-plugin are archived into the storage node by the archiver (SIGKILLed
//! mid-backfill and restarted: each payload submitted to the flow exactly once), the DA
//! nodes prune them after their (short) retention, and a fresh op-plugin reads them from
//! the archive, verified against the certificate's data_root; an archive serving
//! altered bytes is refused.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use alloy::primitives::B256;
use alloy::providers::ProviderBuilder;
use alloy::sol_types::SolEvent;
use alloy::transports::http::reqwest;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use zg_integration::DevnetConfig;
use zg_integration::demo::batcher_body;
use zg_primitives::AltDaCommitment;
use zg_primitives::abi::{FLOW_ADDRESS, IFlow};

use crate::{ProcessStack, TempDir};

/// The DA nodes' retention in this test.
const RETENTION: Duration = Duration::from_secs(45);

async fn get(http: &reqwest::Client, plugin: &str, commitment: &[u8]) -> (u16, Vec<u8>) {
    let r = http
        .get(format!("{plugin}/get/0x{}", hex::encode(commitment)))
        .timeout(Duration::from_secs(120))
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.bytes().await.unwrap().to_vec())
}

async fn status(http: &reqwest::Client, archiver: &str) -> serde_json::Value {
    match http.get(format!("{archiver}/v1/status")).send().await {
        Ok(r) => r.json().await.unwrap_or_default(),
        Err(_) => serde_json::Value::Null,
    }
}

async fn wait_archived(http: &reqwest::Client, archiver: &str, n: u64, within: Duration) -> u64 {
    let deadline = Instant::now() + within;
    loop {
        let s = status(http, archiver).await;
        let got = s["archived"].as_u64().unwrap_or(0);
        if got >= n {
            return got;
        }
        assert!(
            Instant::now() < deadline,
            "{got} of {n} archived within {within:?}: {s}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A counter's value in a Prometheus text exposition (0 when absent).
fn counter(metrics: &str, series: &str) -> f64 {
    metrics
        .lines()
        .find(|l| l.starts_with(series))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
        .unwrap_or(0.0)
}

/// An archive that lies: serves each payload with one byte flipped.
async fn lying_archive(bodies: HashMap<B256, Vec<u8>>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let bodies = Arc::new(bodies);
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let bodies = bodies.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let Ok(n) = sock.read(&mut buf).await else {
                    return;
                };
                let head = String::from_utf8_lossy(&buf[..n]).to_string();
                let path = head.split_whitespace().nth(1).unwrap_or_default();
                let root = path.rsplit('/').next().unwrap_or_default();
                let body = root
                    .parse::<B256>()
                    .ok()
                    .and_then(|r| bodies.get(&r).cloned());
                let reply = match body {
                    Some(mut b) => {
                        let mid = b.len() / 2;
                        b[mid] ^= 0x01;
                        let mut r = format!(
                            "HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                            b.len()
                        )
                        .into_bytes();
                        r.extend_from_slice(&b);
                        r
                    }
                    None => {
                        b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                            .to_vec()
                    }
                };
                let _ = sock.write_all(&reply).await;
                let _ = sock.shutdown().await;
            });
        }
    });
    format!("http://{addr}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_outlive_the_da_window() {
    let dir = TempDir::new("it-archive");
    let mut config = DevnetConfig::ephemeral(dir.0.clone());
    config.block_time = Duration::from_millis(500);
    config.nodes = 4;
    config.da_retention = Some(RETENTION);
    let mut stack = ProcessStack::start(env!("CARGO_BIN_EXE_zg-devnet"), config, &[])
        .await
        .unwrap();
    stack.start_storage().unwrap();
    let http = reqwest::Client::new();
    let plugin = stack.plugin_url();

    // Batches of several sizes, one spanning several blobs.
    let first_put = Instant::now();
    let mut batches = Vec::new();
    for n in [1_000usize, 20_000, 300_000, 700_000, 50_000, 3_000] {
        let body = batcher_body(n);
        let c = crate::faults::plugin_put(&http, &plugin, &body).await;
        let AltDaCommitment::Generic(cert) = AltDaCommitment::from_bytes(&c).unwrap() else {
            panic!("a generic commitment");
        };
        batches.push((c, cert, body));
    }
    let n = batches.len() as u64;

    // The archiver backfills from the chain's first block; SIGKILLed mid-backfill and
    // restarted, it finishes without archiving anything twice.
    stack.start_archiver().unwrap();
    let archiver = stack.archiver_url();
    let account: alloy::primitives::Address = stack
        .archiver
        .as_ref()
        .unwrap()
        .endpoint("account")
        .parse()
        .unwrap();
    let before_kill = wait_archived(&http, &archiver, 2, Duration::from_secs(90)).await;
    stack.archiver.take().unwrap().kill();
    assert!(
        before_kill < n,
        "killed mid-backfill ({before_kill} of {n} archived)"
    );
    stack.start_archiver().unwrap();
    wait_archived(&http, &archiver, n, Duration::from_secs(120)).await;
    let archived_at = first_put.elapsed();
    assert!(
        archived_at < RETENTION,
        "archived {archived_at:?} after the first put, past the DA retention"
    );
    let p = ProviderBuilder::new().connect_http(stack.rpc.parse().unwrap());
    let submits = zg_testkit::da::logs_of(&p, FLOW_ADDRESS, IFlow::Submit::SIGNATURE_HASH).await;
    let ours: Vec<B256> = submits
        .iter()
        .filter_map(|l| IFlow::Submit::decode_log(&l.inner).ok())
        .filter(|e| e.sender == account)
        .map(|e| e.identity)
        .collect();
    let distinct: HashSet<B256> = ours.iter().copied().collect();
    assert_eq!(
        ours.len() as u64,
        n,
        "one flow submission per payload: {ours:?}"
    );
    assert_eq!(distinct.len() as u64, n);

    // The archive serves each payload by data_root, and ranges of it.
    for (_, cert, body) in &batches {
        let r = http
            .get(format!("{archiver}/v1/payloads/{}", cert.data_root))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.bytes().await.unwrap().as_ref(), body.as_slice());
    }
    let (_, cert, body) = &batches[3];
    let r = http
        .get(format!("{archiver}/v1/payloads/{}", cert.data_root))
        .header("Range", "bytes=100000-100099")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 206);
    assert_eq!(
        r.headers()["content-range"].to_str().unwrap(),
        format!("bytes 100000-100099/{}", body.len())
    );
    assert_eq!(r.bytes().await.unwrap().as_ref(), &body[100_000..100_100]);
    let r = http
        .get(format!("{archiver}/v1/payloads/{}", cert.data_root))
        .header("Range", format!("bytes={}-", body.len()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 416);
    let r = http
        .get(format!("{archiver}/v1/payloads/0x{}", "00".repeat(32)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = http.get(format!("{archiver}/health")).send().await.unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());

    // The DA window passes: every node prunes them, and a fresh op-plugin without an
    // archive can no longer serve them.
    let deadline = Instant::now() + RETENTION + Duration::from_secs(60);
    loop {
        let mut pruned = Vec::new();
        for node in stack.nodes.iter().flatten() {
            let m = http
                .get(format!("{}/metrics", node.endpoint("http")))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            pruned.push(counter(&m, "zg_da_node_pruned_payloads_total"));
        }
        if pruned.iter().all(|&p| p >= n as f64) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "payloads pruned per node {pruned:?}, {n} expected, past the retention"
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let bare = stack.spawn_plugin(dir.0.join("bare"), 0).unwrap();
    let bare_url = bare.endpoint("http");
    for (c, _, _) in &batches {
        let (status, body) = get(&http, &bare_url, c).await;
        assert_ne!(status, 200, "the DA nodes pruned it");
        assert!(
            status == 404 || status == 503,
            "{status} {}",
            String::from_utf8_lossy(&body)
        );
    }
    drop(bare);

    // A fresh op-plugin reading a lying archive first, then the real one: every batch
    // byte-identical, each lie refused and counted.
    let liar = lying_archive(
        batches
            .iter()
            .map(|(_, c, b)| (c.data_root, b.clone()))
            .collect(),
    )
    .await;
    let reader = stack
        .spawn_plugin_with(dir.0.join("reader"), 0, &[liar.clone(), archiver.clone()])
        .unwrap();
    let reader_url = reader.endpoint("http");
    let started = Instant::now();
    for (c, _, body) in &batches {
        let (status, got) = get(&http, &reader_url, c).await;
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&got));
        assert_eq!(&got, body, "byte-identical from the archive");
    }
    println!(
        "fallback reads of {n} pruned batches: {:.0} ms each",
        started.elapsed().as_secs_f64() * 1e3 / n as f64
    );
    let metrics = http
        .get(format!("{reader_url}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(
        counter(
            &metrics,
            "zg_op_plugin_archive_reads_total{result=\"refused\"}"
        ),
        n as f64,
        "{metrics}"
    );
    assert_eq!(
        counter(&metrics, "zg_op_plugin_gets_total{result=\"archive\"}"),
        n as f64
    );

    // Only the liar: refused, 503.
    let gullible = stack
        .spawn_plugin_with(dir.0.join("gullible"), 0, std::slice::from_ref(&liar))
        .unwrap();
    let (status, body) = get(&http, &gullible.endpoint("http"), &batches[0].0).await;
    assert_eq!(status, 503, "{}", String::from_utf8_lossy(&body));
    assert!(String::from_utf8_lossy(&body).contains("refused"));
    drop(gullible);
    drop(reader);
    assert!(stack.shutdown(), "every process exits cleanly");
}
