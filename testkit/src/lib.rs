#![doc = include_str!("../README.md")]

pub mod byzantine;
pub mod compute;
pub mod config;
pub mod da;
pub mod fakes;
pub mod hardhat;
pub mod proxy;
pub mod python;
pub mod storage;

use std::future::Future;
use std::time::{Duration, Instant};

use alloy::signers::local::PrivateKeySigner;
use alloy::transports::http::reqwest;

pub use fakes::{FakeChain, FakeCluster, FakeNetwork, FakeNode, Faults, encoded_payload, kzg};
/// A fresh temporary directory, removed on drop.
pub use zg_node_kit::TempDir;

/// Logs to stderr as `RUST_LOG` says (nothing by default); a second call is a no-op.
pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .try_init();
}

/// Dev account `i` of the bundled chain's genesis.
pub fn dev_signer(i: u32) -> PrivateKeySigner {
    zg_chain::dev_account(i)
}

/// A provider signing as `who` at `url`, with simple nonce management (the pending count
/// each time: a cached manager also counts transactions whose gas estimation failed,
/// leaving nonce gaps that tests provoke on purpose).
pub fn provider_for(url: &str, who: PrivateKeySigner) -> alloy::providers::DynProvider {
    use alloy::providers::{Provider, ProviderBuilder};
    ProviderBuilder::default()
        .with_gas_estimation()
        .with_simple_nonce_management()
        .fetch_chain_id()
        .wallet(alloy::network::EthereumWallet::from(who))
        .connect_http(url.parse().expect("an http URL"))
        .erased()
}

/// Deterministic pseudo-random bytes.
pub fn payload(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Polls `check` every `every` until it yields `Some`, or panics with `what` after
/// `timeout`.
pub async fn eventually<T, F, Fut>(
    what: &str,
    timeout: Duration,
    every: Duration,
    mut check: F,
) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?}: {what}"
        );
        tokio::time::sleep(every).await;
    }
}

/// The `p` quantile (0 ≤ p ≤ 1, nearest rank) of `samples`, which it sorts.
pub fn percentile(samples: &mut [f64], p: f64) -> f64 {
    samples.sort_by(|a, b| a.total_cmp(b));
    let i = ((samples.len() as f64 - 1.0) * p).round() as usize;
    samples[i]
}

/// Prints a benchmark report and writes it to `target/bench/{name}.json` of the
/// workspace, adding the machine's core count to an object report.
pub fn write_bench_report(name: &str, report: &serde_json::Value) {
    let mut report = report.clone();
    if let Some(o) = report.as_object_mut() {
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0);
        o.insert("cores".into(), serde_json::json!(cores));
    }
    let text = serde_json::to_string_pretty(&report).expect("a JSON value serializes");
    println!("{text}");
    let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench");
    let _ = std::fs::create_dir_all(&out);
    let _ = std::fs::write(out.join(format!("{name}.json")), text);
}

/// `GET url`, the body as text (panics on a transport failure: tests and benches only).
pub async fn get_text(http: &reqwest::Client, url: impl reqwest::IntoUrl) -> String {
    http.get(url)
        .send()
        .await
        .expect("GET request")
        .text()
        .await
        .expect("response body")
}

/// `GET url`, the body as JSON (panics on a transport or decoding failure).
pub async fn get_json<T: serde::de::DeserializeOwned>(
    http: &reqwest::Client,
    url: impl reqwest::IntoUrl,
) -> T {
    http.get(url)
        .send()
        .await
        .expect("GET request")
        .json()
        .await
        .expect("a JSON body")
}

/// A bench binary's multi-threaded runtime, and whether `ZG_BENCH_QUICK` asks for a
/// short run (CI's smoke run of the benches).
pub fn bench_runtime() -> (tokio::runtime::Runtime, bool) {
    let quick = std::env::var("ZG_BENCH_QUICK").is_ok();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    (rt, quick)
}
