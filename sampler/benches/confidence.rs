//! Time from anchor to 99.99 % confidence for 120 KB, 1 MiB and 16 MiB payloads (8 DA
//! nodes, chain and disperser on loopback in this process), and the verification cost
//! of one sample (a whole column: one cell per blob) against the raw library's
//! `verify_cell_kzg_proof_batch` on the same cells. Writes `target/bench/sampler.json`.
//!
//! `cargo bench -p zg-sampler --bench confidence` (`ZG_BENCH_QUICK=1` for fewer rounds).

use std::time::{Duration, Instant};

use serde_json::json;
use tokio_util::sync::CancellationToken;
use zg_da_client::{ChainConfig, NetConfig};
use zg_primitives::{Kzg, encode, verify_columns};
use zg_sampler::{Availability, ClientConfig, SamplerConfig};
use zg_testkit::da::{Cluster, ClusterOptions, TempDir, payload, percentile, write_bench_report};

fn main() {
    let (rt, quick) = zg_testkit::bench_runtime();
    rt.block_on(async move {
        let kzg = Kzg::mainnet();
        let raw = rust_eth_kzg::DASContext::new(
            &rust_eth_kzg::TrustedSetup::default(),
            rust_eth_kzg::UsePrecomp::No,
        );
        let cluster = Cluster::start(ClusterOptions::default()).await;
        let dir = TempDir::new("bench-sampler");
        let mut config = ClientConfig::new(dir.0.clone());
        config.poll_interval = Duration::from_millis(20);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let sampler = zg_sampler::start(
            ChainConfig::new(cluster.chain.rpc_url()),
            NetConfig::default(),
            SamplerConfig::default(),
            config,
            listener,
            CancellationToken::new(),
        )
        .await
        .unwrap();
        let sizes: [(&str, usize, usize); 3] = if quick {
            [
                ("120KB", 120_000, 3),
                ("1MiB", 1 << 20, 2),
                ("16MiB", 16 << 20, 1),
            ]
        } else {
            [
                ("120KB", 120_000, 10),
                ("1MiB", 1 << 20, 6),
                ("16MiB", 16 << 20, 2),
            ]
        };
        let mut report = serde_json::Map::new();
        let mut seed = 1000u64;
        for (name, size, rounds) in sizes {
            let mut to_confidence = Vec::new();
            let mut sampling = Vec::new();
            for _ in 0..rounds {
                seed += 1;
                let rec = cluster.put_ok(payload(size, seed)).await;
                let anchored_ms = rec.updated_at_ms;
                let root = rec.certificate.unwrap().data_root;
                let deadline = Instant::now() + Duration::from_secs(120);
                let r = loop {
                    if let Some(r) = sampler.client.availability(&root).last()
                        && matches!(
                            r.status,
                            Availability::Available | Availability::Unavailable
                        )
                    {
                        break r.clone();
                    }
                    assert!(Instant::now() < deadline, "no verdict for {root}");
                    tokio::time::sleep(Duration::from_millis(5)).await;
                };
                assert_eq!(r.status, Availability::Available);
                to_confidence.push(r.finished_at_ms.saturating_sub(anchored_ms) as f64);
                sampling.push(r.duration_ms as f64);
            }

            // Verification cost of one sample (one column of every blob).
            let data = payload(size, 7);
            let encoded = encode(kzg, &data, 16 << 20).unwrap();
            let column = encoded.column(5);
            let iters = 20;
            let t = Instant::now();
            for _ in 0..iters {
                verify_columns(kzg, &encoded.header, std::slice::from_ref(&column)).unwrap();
            }
            let ours_ms = t.elapsed().as_secs_f64() * 1e3 / iters as f64;
            let commitments: Vec<&[u8; 48]> =
                encoded.header.commitments.iter().map(|c| &c.0).collect();
            let indices = vec![5u64; column.cells.len()];
            let t = Instant::now();
            for _ in 0..iters {
                raw.verify_cell_kzg_proof_batch(
                    commitments.clone(),
                    &indices,
                    column.cells.iter().map(|c| &*c.0).collect(),
                    column.proofs.iter().map(|p| &p.0).collect(),
                )
                .unwrap();
            }
            let raw_ms = t.elapsed().as_secs_f64() * 1e3 / iters as f64;
            report.insert(
                name.into(),
                json!({
                    "payload_bytes": size,
                    "blobs": encoded.header.commitments.len(),
                    "anchor_to_confidence_ms": {
                        "p50": percentile(&mut to_confidence.clone(), 0.5),
                        "max": percentile(&mut to_confidence, 1.0),
                        "rounds": rounds,
                    },
                    "sampling_ms": {
                        "p50": percentile(&mut sampling.clone(), 0.5),
                        "max": percentile(&mut sampling, 1.0),
                    },
                    "verify_one_sample_ms": ours_ms,
                    "raw_verify_cell_kzg_proof_batch_ms": raw_ms,
                    "verify_vs_raw": ours_ms / raw_ms,
                }),
            );
        }
        report.insert(
            "samples_per_payload".into(),
            json!(SamplerConfig::default().draws()),
        );
        report.insert(
            "target_confidence".into(),
            json!(SamplerConfig::default().target),
        );
        write_bench_report("sampler", &serde_json::Value::Object(report));
        sampler.shutdown().await;
        cluster.shutdown().await;
    });
}
