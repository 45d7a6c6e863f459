//! A 120 KB op-plugin put at concurrency 1, from the request to the certificate whose
//! anchor is in a finalized block, on the devnet with four validators (blocks as fast as
//! consensus allows) against the devnet's single dev producer with 1 s blocks (the
//! default) in the same run. Writes `target/bench/finality_put.json`.
//!
//! `cargo bench -p zg-integration --bench finality_put`

use std::time::{Duration, Instant};

use alloy::transports::http::reqwest;
use serde_json::json;
use zg_integration::{Devnet, DevnetConfig};
use zg_testkit::{TempDir, percentile, write_bench_report};

const PUTS: u64 = 20;

/// A 120 KB batch, distinct per `i`.
fn batch(i: u64) -> Vec<u8> {
    zg_integration::demo::numbered_batch(i, 120_000)
}

async fn puts(validators: usize, block_time: Duration) -> serde_json::Value {
    let dir = TempDir::new("finality-put");
    let mut config = DevnetConfig::ephemeral(dir.0.clone());
    config.validators = validators;
    config.block_time = block_time;
    // Long epochs: the DA nodes register once per epoch (issue 20 makes them follow
    // short ones).
    config.epoch_blocks = 5_000;
    let devnet = Devnet::start(config).await.unwrap();
    let http = reqwest::Client::new();
    let plugin = devnet.plugin.url();
    let head0 = devnet.chain.node.head().header.number;
    let started = Instant::now();
    let mut lat = Vec::new();
    for i in 0..PUTS {
        let t = Instant::now();
        let r = http
            .post(format!("{plugin}/put"))
            .header("Content-Type", "application/octet-stream")
            .body(batch(i))
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.status().as_u16(),
            200,
            "put {i}: {}",
            r.text().await.unwrap_or_default()
        );
        lat.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let blocks = devnet.chain.node.head().header.number - head0;
    let interval = started.elapsed().as_secs_f64() * 1e3 / blocks.max(1) as f64;
    // The disperser's stage histograms: mean milliseconds per put.
    let metrics = http
        .get(format!("http://{}/metrics", devnet.disperser.http_addr))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mean_ms = |name: &str| {
        let value = |suffix: &str| {
            metrics
                .lines()
                .find_map(|l| l.strip_prefix(&format!("zg_da_disperser_{name}_seconds_{suffix} ")))
                .and_then(|v| v.trim().parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        value("sum") * 1e3 / value("count").max(1.0)
    };
    let (encode, certify, anchor) = (mean_ms("encode"), mean_ms("certify"), mean_ms("anchor"));
    let put_mean = lat.iter().sum::<f64>() / lat.len() as f64;
    devnet.shutdown().await.unwrap();
    json!({
        "validators": validators,
        "block_time_ms": block_time.as_millis() as u64,
        "puts": PUTS,
        "put_ms": { "p50": percentile(&mut lat, 0.5), "p99": percentile(&mut lat, 0.99) },
        "block_interval_ms": interval,
        "stages_mean_ms": {
            "encode": encode,
            "store_and_aggregate": certify,
            "anchor_to_final_receipt": anchor,
            "rest": put_mean - encode - certify - anchor,
            "put": put_mean,
        },
    })
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let solo = puts(0, Duration::from_secs(1)).await;
    let four = puts(4, Duration::ZERO).await;
    let report = json!({
        "single_producer_1s_blocks": solo,
        "four_validators": four,
        "target_p50_ms": 500,
    });
    println!("{}", serde_json::to_string_pretty(&report).unwrap());
    write_bench_report("finality_put", &report);
}
