//! Integration tests of zg-sampler against a real chain, eight DA nodes and a disperser
//! on loopback.
#![allow(missing_docs)]

use std::time::{Duration, Instant};

use alloy::transports::http::reqwest;
use alloy_primitives::B256;
use tokio_util::sync::CancellationToken;
use zg_da_client::{ChainConfig, NetConfig};
use zg_primitives::{Certificate, custody_columns};
use zg_sampler::{Availability, ClientConfig, RunningSampler, SampleReport, SamplerConfig};
use zg_testkit::byzantine::Faults;
use zg_testkit::da::{Cluster, ClusterOptions, TempDir, payload};

mod config;
mod light;
mod status_page;

async fn start_sampler(cluster: &Cluster, dir: &TempDir) -> RunningSampler {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut config = ClientConfig::new(dir.0.clone());
    config.poll_interval = Duration::from_millis(100);
    zg_sampler::start(
        ChainConfig::new(cluster.chain.rpc_url()),
        NetConfig {
            request_timeout: Duration::from_secs(10),
            ..NetConfig::default()
        },
        SamplerConfig {
            timeout: Duration::from_secs(10),
            ..SamplerConfig::default()
        },
        config,
        listener,
        CancellationToken::new(),
    )
    .await
    .unwrap()
}

/// Waits until the sampler has a final result for `root`.
async fn final_result(s: &RunningSampler, root: &B256) -> SampleReport {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Some(r) = s.client.availability(root).last()
            && matches!(
                r.status,
                Availability::Available | Availability::Unavailable
            )
        {
            return r.clone();
        }
        assert!(Instant::now() < deadline, "no result for {root}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn cert_of(rec: &zg_da_server::BlobRecord) -> Certificate {
    rec.certificate.unwrap()
}

/// All nodes up: every anchor reaches the target; the API reports it; a restart resumes
/// from the checkpoint without sampling again.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn all_up_every_anchor_available_and_restart_resumes() {
    let cluster = Cluster::start(ClusterOptions::default()).await;
    let dir = TempDir::new("sampler");
    let sampler = start_sampler(&cluster, &dir).await;
    let http = reqwest::Client::new();
    // Server-sent events: subscribe before the anchors land.
    let mut events = http
        .get(format!("{}/v1/events", sampler.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(events.status(), 200);

    let mut certs = Vec::new();
    for (i, len) in [1000usize, 120_000, 300_000].into_iter().enumerate() {
        certs.push(cert_of(&cluster.put_ok(payload(len, 70 + i as u64)).await));
    }
    for c in &certs {
        let r = final_result(&sampler, &c.data_root).await;
        assert_eq!(r.status, Availability::Available, "{r:?}");
        assert!(r.confidence >= 0.9999);
        assert_eq!((r.samples_ok, r.samples_failed), (16, 0));
        assert_eq!(r.columns.len(), 16);
        assert!(r.misbehaving.is_empty());
    }
    let mut seen = String::new();
    while !seen.contains("\"available\"") {
        let chunk = tokio::time::timeout(Duration::from_secs(30), events.chunk())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(seen.contains("event: result"), "{seen}");

    // The API.
    let get = |path: String| {
        let http = http.clone();
        let url = format!("{}{path}", sampler.url());
        async move {
            let r = http.get(url).send().await.unwrap();
            (
                r.status().as_u16(),
                r.json::<serde_json::Value>().await.unwrap(),
            )
        }
    };
    let (s, v) = get(format!("/v1/availability/{}", certs[1].data_root)).await;
    assert_eq!(s, 200);
    assert_eq!(v["latest"]["status"], "available");
    let block = v["latest"]["block"].as_u64().unwrap();
    let (s, v) = get(format!("/v1/blocks/{block}")).await;
    assert_eq!(s, 200);
    assert!(
        v["anchors"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["certificate"]["data_root"] == certs[1].data_root.to_string()),
        "{v}"
    );
    assert_eq!(v["followed"], true);
    let (s, v) = get("/v1/status".into()).await;
    assert_eq!(s, 200);
    assert_eq!(v["counts"]["available"], 3, "{v}");
    assert_eq!(
        get(format!("/v1/availability/{}", B256::repeat_byte(7)))
            .await
            .0,
        404
    );
    assert_eq!(get("/v1/availability/0x1234".into()).await.0, 400);
    assert_eq!(get("/v1/blocks/nope".into()).await.0, 400);
    let metrics = zg_testkit::get_text(&http, format!("{}/metrics", sampler.url())).await;
    assert!(
        metrics.contains("zg_sampler_payloads_total{status=\"available\"} 3"),
        "{metrics}"
    );

    // Restart: same checkpoint, same results, nothing sampled again.
    let checkpoint = sampler.client.checkpoint();
    let before = sampler.client.availability(&certs[0].data_root);
    sampler.shutdown().await;
    let sampler = start_sampler(&cluster, &dir).await;
    assert!(sampler.client.checkpoint() >= checkpoint);
    assert_eq!(sampler.client.availability(&certs[0].data_root), before);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let metrics = sampler.client.metrics().render().unwrap();
    assert!(
        !metrics.contains("zg_sampler_payloads_total"),
        "resampled: {metrics}"
    );
    // A new anchor after the restart is sampled.
    let c = cert_of(&cluster.put_ok(payload(5000, 80)).await);
    assert_eq!(
        final_result(&sampler, &c.data_root).await.status,
        Availability::Available
    );
    sampler.shutdown().await;
    cluster.shutdown().await;
}

/// Withholding: with 5 of 8 nodes down (80 of 128 columns gone) the payload is
/// unavailable and never reported available; a node serving corrupted cells fails
/// verification and is reported.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn withheld_columns_and_corrupt_cells_are_caught() {
    let options = ClusterOptions {
        faults: vec![(
            7,
            Faults {
                corrupt_cells: true,
                ..Faults::default()
            },
        )],
        ..ClusterOptions::default()
    };
    let mut cluster = Cluster::start(options).await;
    let cert = cert_of(&cluster.put_ok(payload(200_000, 90)).await);

    let dir = TempDir::new("sampler-faults");
    let sampler = start_sampler(&cluster, &dir).await;
    // Three columns of node 7's custody fail and it is reported; three of its
    // neighbour's verify. (Custody follows the member's place in the quorum.)
    let quorum = cluster.quorum(cert.epoch, cert.quorum_id).await;
    let bad = quorum
        .members
        .iter()
        .position(|m| m.address == cluster.node_keys[7].address())
        .unwrap();
    let mut columns: Vec<u16> = custody_columns(bad, 8)[..3].to_vec();
    columns.extend_from_slice(&custody_columns((bad + 1) % 8, 8)[..3]);
    columns.sort();
    let r = sampler
        .client
        .sampler()
        .sample_columns(&cert, columns)
        .await;
    assert_eq!((r.samples_ok, r.samples_failed), (3, 3), "{r:?}");
    assert_eq!(r.status, Availability::Unavailable);
    assert_eq!(r.misbehaving, vec![cluster.node_keys[7].address()]);
    assert!(
        r.failures.iter().all(|f| f.contains("does not verify")),
        "{r:?}"
    );
    sampler.shutdown().await;

    // Withhold: stop five nodes, then let a fresh light client follow from genesis.
    for i in 0..5 {
        cluster.stop_node(i).await;
    }
    let dir = TempDir::new("sampler-withheld");
    let sampler = start_sampler(&cluster, &dir).await;
    let r = final_result(&sampler, &cert.data_root).await;
    assert_eq!(r.status, Availability::Unavailable, "{r:?}");
    assert!(r.samples_failed > 0);
    assert!(r.confidence < 0.9999);
    sampler.shutdown().await;
    cluster.shutdown().await;
}
