//! End-to-end dispersal and retrieval with a chain, eight DA nodes and a disperser on
//! loopback, all in this process (so they share the machine's cores, as a one-host
//! devnet does). Writes `target/bench/da-server.json`.
//!
//! `cargo bench -p zg-da-server --bench dispersal` (`ZG_BENCH_QUICK=1` for fewer rounds).
//!
//! Reports, per payload size: the raw encode throughput of `zg_primitives::encode` in
//! the same run, put latency p50/p99 (one request at a time), put throughput (several
//! requests in flight), and get latency with all nodes up and with four of eight down.

use std::time::{Duration, Instant};

use serde_json::json;
use zg_da_server::{BlobStatus, Disperser};
use zg_primitives::{CellCheck, Certificate, Kzg, encode};
use zg_testkit::da::{Cluster, ClusterOptions, payload, percentile, write_bench_report};

async fn put(d: &Disperser, data: Vec<u8>) -> Certificate {
    let rec = d.submit(data).await.unwrap();
    let rec = d.wait(rec.id, Duration::from_secs(600)).await.unwrap();
    assert_eq!(rec.status, BlobStatus::Confirmed, "{rec:?}");
    rec.certificate.unwrap()
}

fn main() {
    let (rt, quick) = zg_testkit::bench_runtime();
    rt.block_on(async move {
        let kzg = Kzg::mainnet();
        let mut cluster = Cluster::start(ClusterOptions::default()).await;
        let d = cluster.disperser.as_ref().unwrap().disperser.clone();
        let sizes: [(&str, usize, usize); 3] = if quick {
            [("120KB", 120_000, 4), ("1MiB", 1 << 20, 3), ("16MiB", 16 << 20, 1)]
        } else {
            [("120KB", 120_000, 20), ("1MiB", 1 << 20, 10), ("16MiB", 16 << 20, 3)]
        };
        let mut seed = 1u64;
        let mut report = serde_json::Map::new();
        let mut certs: Vec<(&str, usize, Vec<Certificate>)> = Vec::new();
        for (name, size, rounds) in sizes {
            // Raw encode throughput, same process, same moment.
            let data = payload(size, 999);
            let t = Instant::now();
            for _ in 0..rounds.min(5) {
                std::hint::black_box(encode(kzg, &data, 16 << 20).unwrap());
            }
            let encode_mbps = (size * rounds.min(5)) as f64 / t.elapsed().as_secs_f64() / 1e6;
            // The raw library on the same blobs: commitment, then cells and proofs, blob
            // after blob (rust-eth-kzg parallelises inside each call).
            let blobs = zg_primitives::encode_payload(&data, 16 << 20).unwrap();
            let t = Instant::now();
            for _ in 0..rounds.min(5) {
                for b in &blobs {
                    std::hint::black_box(kzg.commit(b).unwrap());
                    std::hint::black_box(kzg.compute_cells_and_proofs(b).unwrap());
                }
            }
            let raw_encode_mbps =
                (size * rounds.min(5)) as f64 / t.elapsed().as_secs_f64() / 1e6;
            // Least work a trustless get does: verify 64 columns (all up), or recover
            // every blob from the 64 columns of nodes 4..7 (four down).
            let enc = encode(kzg, &data, 16 << 20).unwrap();
            let t = Instant::now();
            let checks: Vec<CellCheck<'_>> = (0..64u16)
                .flat_map(|j| {
                    enc.blobs
                        .iter()
                        .zip(&enc.header.commitments)
                        .map(move |(b, c)| CellCheck {
                            commitment: c,
                            column: j,
                            cell: &b.cells[j as usize],
                            proof: &b.proofs[j as usize],
                        })
                })
                .collect();
            kzg.verify_cells(&checks).unwrap();
            let raw_verify_ms = t.elapsed().as_secs_f64() * 1e3;
            let t = Instant::now();
            for b in &enc.blobs {
                let cells: Vec<(u16, &zg_primitives::Cell)> = (0..128u16)
                    .filter(|j| j % 8 >= 4)
                    .map(|j| (j, &b.cells[j as usize]))
                    .collect();
                std::hint::black_box(kzg.recover_blob(&cells).unwrap());
            }
            let raw_recover_ms = raw_verify_ms + t.elapsed().as_secs_f64() * 1e3;

            // Latency: one at a time.
            let mut lat = Vec::new();
            let mut these = Vec::new();
            for _ in 0..rounds {
                seed += 1;
                let p = payload(size, seed);
                let t = Instant::now();
                these.push(put(&d, p).await);
                lat.push(t.elapsed().as_secs_f64() * 1e3);
            }
            // Throughput: several in flight.
            let concurrent = rounds.clamp(2, 8);
            let batch: Vec<Vec<u8>> = (0..concurrent)
                .map(|_| {
                    seed += 1;
                    payload(size, seed)
                })
                .collect();
            let t = Instant::now();
            let done = futures::future::join_all(batch.into_iter().map(|p| put(&d, p))).await;
            let put_mbps = (size * concurrent) as f64 / t.elapsed().as_secs_f64() / 1e6;
            these.extend(done);
            let entry = json!({
                "payload_bytes": size,
                "encode_mb_per_s": encode_mbps,
                "raw_encode_mb_per_s": raw_encode_mbps,
                "encode_vs_raw": encode_mbps / raw_encode_mbps,
                "raw_verify_64_columns_ms": raw_verify_ms,
                "raw_recover_from_64_columns_ms": raw_recover_ms,
                "put_ms": { "p50": percentile(&mut lat.clone(), 0.5), "p99": percentile(&mut lat, 0.99), "samples": rounds },
                "put_mb_per_s": put_mbps,
                "put_in_flight": concurrent,
                "put_vs_encode": put_mbps / encode_mbps,
            });
            println!("{name}: {entry}");
            report.insert(name.to_string(), entry);
            certs.push((name, rounds, these));
        }
        // Get latency, all up, then with four of eight down.
        for phase in ["all_up", "four_down"] {
            if phase == "four_down" {
                for i in 0..4 {
                    cluster.stop_node(i).await;
                }
            }
            for (name, rounds, cs) in &certs {
                let mut lat = Vec::new();
                for c in cs.iter().take(*rounds) {
                    let t = Instant::now();
                    let r = d.retriever().retrieve(c).await.unwrap();
                    lat.push(t.elapsed().as_secs_f64() * 1e3);
                    assert_eq!(r.recovered, phase == "four_down");
                }
                let entry = report.get_mut(*name).unwrap().as_object_mut().unwrap();
                entry.insert(
                    format!("get_ms_{phase}"),
                    json!({ "p50": percentile(&mut lat.clone(), 0.5), "p99": percentile(&mut lat, 0.99) }),
                );
            }
        }
        for (_, e) in report.iter_mut() {
            let e = e.as_object_mut().unwrap();
            let ratio = e["get_ms_four_down"]["p50"].as_f64().unwrap()
                / e["get_ms_all_up"]["p50"].as_f64().unwrap();
            e.insert("get_four_down_vs_all_up".into(), json!(ratio));
            let up = e["get_ms_all_up"]["p50"].as_f64().unwrap()
                / e["raw_verify_64_columns_ms"].as_f64().unwrap();
            let down = e["get_ms_four_down"]["p50"].as_f64().unwrap()
                / e["raw_recover_from_64_columns_ms"].as_f64().unwrap();
            e.insert("get_all_up_vs_raw_verify".into(), json!(up));
            e.insert("get_four_down_vs_raw_recover".into(), json!(down));
        }
        let report = serde_json::Value::Object(report);
        write_bench_report("da-server", &report);
        cluster.shutdown().await;
    });
}
