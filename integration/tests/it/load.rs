use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use alloy::transports::http::reqwest;
use zg_integration::{Devnet, DevnetConfig};

use crate::TempDir;

/// 1000 puts of 120 KB from 32 concurrent clients through the op-plugin: every put
/// certified (no 500, no 503), every commitment distinct, every payload read back
/// byte-identical, and the chain holds every anchor.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousand_puts_from_32_clients() {
    const PUTS: usize = 1000;
    const CLIENTS: usize = 32;
    let dir = TempDir::new("load");
    let mut config = DevnetConfig::ephemeral(dir.0.clone());
    config.block_time = Duration::from_millis(250);
    let devnet = Devnet::start(config).await.unwrap();
    let plugin = devnet.plugin.url();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(600))
        .build()
        .unwrap();
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (http, plugin, next) = (http.clone(), plugin.clone(), next.clone());
            tokio::spawn(async move {
                let mut done = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= PUTS {
                        break;
                    }
                    let body = body(i);
                    let r = http
                        .post(format!("{plugin}/put"))
                        .header("Content-Type", "application/octet-stream")
                        .body(body)
                        .send()
                        .await
                        .unwrap();
                    let status = r.status().as_u16();
                    let c = r.bytes().await.unwrap().to_vec();
                    assert_eq!(status, 200, "put {i}: {}", String::from_utf8_lossy(&c));
                    done.push((i, c));
                }
                done
            })
        })
        .collect();
    let mut commitments = Vec::with_capacity(PUTS);
    for w in workers {
        commitments.extend(w.await.unwrap());
    }
    let elapsed = started.elapsed();
    assert_eq!(commitments.len(), PUTS, "none lost");
    let distinct: HashSet<&Vec<u8>> = commitments.iter().map(|(_, c)| c).collect();
    assert_eq!(distinct.len(), PUTS, "none duplicated");
    eprintln!(
        "{PUTS} puts from {CLIENTS} clients in {:.1} s ({:.1}/s)",
        elapsed.as_secs_f64(),
        PUTS as f64 / elapsed.as_secs_f64()
    );
    let chain = devnet.disperser.disperser.chain().clone();
    for (i, c) in &commitments {
        let r = http
            .get(format!("{plugin}/get/0x{}", hex::encode(c)))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert!(r.bytes().await.unwrap().to_vec() == body(*i), "payload {i}");
        let zg_primitives::AltDaCommitment::Generic(cert) =
            zg_primitives::AltDaCommitment::from_bytes(c).unwrap()
        else {
            panic!("generic commitment expected");
        };
        assert!(chain.commitment_exists(&cert).await.unwrap(), "anchor {i}");
    }
    let metrics = zg_testkit::get_text(&http, format!("{plugin}/metrics")).await;
    assert!(!metrics.contains("status=\"500\""), "{metrics}");
    assert!(!metrics.contains("status=\"503\""), "{metrics}");
    devnet.shutdown().await.unwrap();
}

/// Batch `i`: 120,000 bytes (`0x00 ‖ frame`), distinct per `i`.
fn body(i: usize) -> Vec<u8> {
    let mut data = vec![0u8; 120_000 - 24];
    let mut x = (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    for b in data.iter_mut() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = x as u8;
    }
    let mut id = [0u8; 16];
    id[..8].copy_from_slice(&(i as u64).to_be_bytes());
    zg_op_plugin::encode_frames(&[zg_op_plugin::Frame {
        channel_id: id,
        number: 0,
        data: &data,
        is_last: true,
    }])
}
