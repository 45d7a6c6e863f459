//! Archiving throughput against its baseline in the same run, and fallback read latency.
//!
//! A chain, eight DA nodes, a disperser and a storage node on loopback, in this process.
//! - **Baseline**: what archiving must do at least, done directly: for each of N 1 MiB
//!   payloads, verified retrieval from the DA nodes (`Retriever::retrieve`) and an upload
//!   to the storage node (`Uploader::upload`: submission, segments with proofs,
//!   finalized), four payloads at a time (the archiver's default concurrency).
//! - **Archiver**: N other 1 MiB payloads anchored the same way, the archiver started on
//!   their first block; the time until every one is in its index.
//! - **Reads**: the archive's `GET /v1/payloads/{root}` (cold: downloaded from the
//!   storage node with proofs), and an op-plugin's get of a payload the DA nodes pruned
//!   (every node's retention run), read from the archive and checked against the
//!   data_root.
//!
//! Writes `target/bench/archiver.json`. `cargo bench -p zg-archiver --bench archive`
//! (`ZG_BENCH_QUICK=1` for fewer payloads).

use std::time::{Duration, Instant};

use alloy::providers::Provider;
use alloy::signers::local::PrivateKeySigner;
use alloy::transports::http::reqwest;
use futures::StreamExt;
use serde_json::json;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use zg_archiver::ArchiverConfig;
use zg_da_client::{NetConfig, Retriever};
use zg_op_plugin::{PluginConfig, UpstreamConfig};
use zg_primitives::Certificate;
use zg_primitives::Kzg;
use zg_storage::{NodeClient, UploadOptions, Uploader};
use zg_testkit::da::{
    Cluster, ClusterOptions, TempDir, client_network, dev_signer, payload, percentile,
    write_bench_report,
};

const PAYLOAD: usize = 1 << 20;
const ARCHIVER: u32 = 20;
const BASELINE: u32 = 21;
const CONCURRENCY: usize = 4;

async fn anchor(cluster: &Cluster, n: usize, seed: u64) -> Vec<(Certificate, Vec<u8>)> {
    let mut out = Vec::new();
    for i in 0..n {
        let p = payload(PAYLOAD, seed + i as u64);
        let rec = cluster.put_ok(p.clone()).await;
        out.push((rec.certificate.expect("anchored"), p));
    }
    out
}

fn mib_s(bytes: usize, t: Duration) -> f64 {
    bytes as f64 / (1 << 20) as f64 / t.as_secs_f64()
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let quick = std::env::var_os("ZG_BENCH_QUICK").is_some();
    let n = if quick { 4 } else { 16 };
    let signers: Vec<PrivateKeySigner> = [ARCHIVER, BASELINE].map(dev_signer).to_vec();
    let cluster = Cluster::start(ClusterOptions {
        genesis: Some(zg_testkit::da::fund(
            signers.iter().map(|s| s.address()).collect(),
        )),
        ..ClusterOptions::default()
    })
    .await;
    let rpc = cluster.chain.rpc_url();
    let (storage, _storage_dir) = zg_testkit::storage::start_node(&rpc, Vec::new()).await;

    // Baseline: retrieve + upload, directly.
    let set_a = anchor(&cluster, n, 1_000).await;
    let (network, _net) = client_network().await;
    let retriever = Retriever::new(network, cluster.chain_client().await, Kzg::mainnet());
    let uploader = Uploader::new(
        vec![NodeClient::new(&storage.rpc_url()).unwrap()],
        &rpc,
        signers[1].clone(),
        zg_primitives::abi::FLOW_ADDRESS,
    )
    .unwrap();
    let started = Instant::now();
    let results: Vec<()> = futures::stream::iter(set_a.iter())
        .map(|(cert, p)| {
            let (retriever, uploader) = (retriever.clone(), uploader.clone());
            async move {
                let got = retriever.retrieve(cert).await.unwrap();
                assert_eq!(&got.payload, p);
                uploader
                    .upload(&got.payload, &UploadOptions::default())
                    .await
                    .unwrap();
            }
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    assert_eq!(results.len(), n);
    let baseline = started.elapsed();

    // The archiver, from the first block of the second set.
    let from = cluster
        .chain_client()
        .await
        .provider()
        .get_block_number()
        .await
        .unwrap()
        + 1;
    let set_b = anchor(&cluster, n, 2_000).await;
    let dir = TempDir::new("bench-archiver");
    let mut config = ArchiverConfig::new(dir.0.clone(), vec![storage.rpc_url()]);
    config.from_block = Some(from);
    config.poll_interval = Duration::from_millis(50);
    config.concurrency = CONCURRENCY;
    let started = Instant::now();
    let archiver = zg_archiver::start(
        config,
        cluster.chain_config(),
        signers[0].clone(),
        NetConfig::default(),
        None,
        TcpListener::bind("127.0.0.1:0").await.unwrap(),
        CancellationToken::new(),
    )
    .await
    .unwrap();
    while set_b
        .iter()
        .any(|(c, _)| !archiver.archiver.index().contains(&c.data_root).unwrap())
    {
        assert!(
            started.elapsed() < Duration::from_secs(900),
            "archiving stalled"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let archived = started.elapsed();

    // Reads from the archive (cold), then through an op-plugin with the DA nodes gone.
    let http = reqwest::Client::new();
    let mut archive_ms = Vec::new();
    for (c, p) in &set_b {
        let t = Instant::now();
        let got = http
            .get(format!("{}/v1/payloads/{}", archiver.url(), c.data_root))
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        archive_ms.push(t.elapsed().as_secs_f64() * 1e3);
        assert_eq!(got.as_ref(), p.as_slice());
    }
    // The retention window passes on every node: each prunes everything it holds.
    for i in 0..zg_testkit::da::NODES {
        cluster.node(i).service.store().prune(u64::MAX).unwrap();
    }
    let plugin_dir = TempDir::new("bench-archiver-plugin");
    let mut pc = PluginConfig::new(plugin_dir.0.clone());
    pc.archives = vec![archiver.url()];
    pc.get_timeout = Duration::from_secs(20);
    let plugin = zg_op_plugin::start(
        pc,
        UpstreamConfig::Remote {
            url: format!("http://{}", cluster.disperser.as_ref().unwrap().http_addr),
            token: None,
            chain: cluster.chain_config(),
            net: NetConfig {
                request_timeout: Duration::from_secs(5),
                ..NetConfig::default()
            },
        },
        TcpListener::bind("127.0.0.1:0").await.unwrap(),
        CancellationToken::new(),
    )
    .await
    .unwrap();
    let mut fallback_ms = Vec::new();
    for (c, p) in &set_b {
        let commitment = zg_primitives::AltDaCommitment::Generic(*c).to_hex();
        let t = Instant::now();
        let r = http
            .get(format!("{}/get/{commitment}", plugin.url()))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let got = r.bytes().await.unwrap();
        fallback_ms.push(t.elapsed().as_secs_f64() * 1e3);
        assert_eq!(got.as_ref(), p.as_slice());
    }
    let bytes = n * PAYLOAD;
    let (base, arch) = (mib_s(bytes, baseline), mib_s(bytes, archived));
    write_bench_report(
        "archiver",
        &json!({
            "bench": "archiver",
            "profile": if cfg!(debug_assertions) { "dev" } else { "release" },
            "payloads": n,
            "payload_bytes": PAYLOAD,
            "concurrency": CONCURRENCY,
            "baseline_retrieve_upload_mib_s": base,
            "archiver_mib_s": arch,
            "ratio": arch / base,
            "archive_get_ms_p50": percentile(&mut archive_ms.clone(), 0.5),
            "archive_get_ms_p95": percentile(&mut archive_ms, 0.95),
            "fallback_get_ms_p50": percentile(&mut fallback_ms.clone(), 0.5),
            "fallback_get_ms_p95": percentile(&mut fallback_ms, 0.95),
        }),
    );
    plugin.shutdown().await.unwrap();
    archiver.shutdown().await.unwrap();
    storage.shutdown().await.unwrap();
}
