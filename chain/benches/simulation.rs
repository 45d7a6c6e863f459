//! The validator network past this machine: whole nodes behind the real engine wiring
//! on commonware's deterministic runtime and simulated p2p (`zg_chain::consensus::sim`),
//! each validator's execution charged to the simulated clock at the time it took here.
//!
//! Scenarios, all measured in this run: the baselines of 1 and 4 validators on 1 ms
//! links (a LAN), then 4 and 50 validators on WAN links (one-way latency 50–200 ms per pair,
//! jitter 10 %, 1 % of messages lost). For each, a latency load (10 transfers/s: transfer
//! sent → final at validator 0) and a saturating load (transfers finalized per simulated
//! second). Writes JSON to stdout and to `target/bench/simulation.json`.
//!
//! `cargo bench -p zg-chain --bench simulation`

use std::path::Path;
use std::time::Duration;

use serde_json::json;
use zg_chain::consensus::{SimConfig, SimReport, simulate};

/// Transfers per second of the latency run.
const LATENCY_LOAD: u32 = 10;
/// Transfers per second offered in the throughput run.
const SATURATING_LOAD: u32 = 3_000;

fn run(root: &Path, name: &str, config: SimConfig) -> SimReport {
    let dir = root.join(name);
    let report = simulate(&dir, &config).expect("simulation");
    let _ = std::fs::remove_dir_all(&dir);
    eprintln!("{name}: {report:?}");
    assert!(
        report.agreed,
        "{name}: validators finalized different blocks"
    );
    report
}

fn scenario(root: &Path, name: &str, validators: usize, wan: bool) -> serde_json::Value {
    let base = SimConfig {
        validators,
        senders: 100,
        ..SimConfig::default()
    };
    let base = if wan {
        base
    } else {
        SimConfig {
            latency: (Duration::from_millis(1), Duration::from_millis(1)),
            loss: 0.0,
            ..base
        }
    };
    let latency = run(
        root,
        &format!("{name}-latency"),
        SimConfig {
            duration: Duration::from_secs(30),
            tx_rate: LATENCY_LOAD,
            ..base.clone()
        },
    );
    let load = run(
        root,
        &format!("{name}-load"),
        SimConfig {
            duration: Duration::from_secs(10),
            tx_rate: SATURATING_LOAD,
            ..base
        },
    );
    json!({
        "validators": validators,
        "links": if wan { "50–200 ms one-way, 10 % jitter, 1 % loss" } else { "1 ms, no loss" },
        "finality_ms": { "p50": latency.finality_p50_ms, "p99": latency.finality_p99_ms },
        "block_interval_ms_p50": latency.block_interval_p50_ms,
        "transfers_per_second": load.txs_per_second,
        "transfers_final": format!("{}/{}", load.txs_final, load.txs_sent),
        "finality_under_load_ms": { "p50": load.finality_p50_ms, "p99": load.finality_p99_ms },
        "wall_seconds": latency.wall_seconds + load.wall_seconds,
    })
}

fn main() {
    let root = std::env::temp_dir().join(format!("zg-chain-sim-{}", std::process::id()));
    let lan1 = scenario(&root, "lan1", 1, false);
    let lan4 = scenario(&root, "lan4", 4, false);
    let wan4 = scenario(&root, "wan4", 4, true);
    let wan50 = scenario(&root, "wan50", 50, true);
    let _ = std::fs::remove_dir_all(&root);
    let tps = |v: &serde_json::Value| v["transfers_per_second"].as_f64().unwrap();
    let p50 = |v: &serde_json::Value| v["finality_ms"]["p50"].as_f64().unwrap();
    let out = json!({
        "cores": std::thread::available_parallelism().map_or(1, |n| n.get()),
        "profile": if cfg!(debug_assertions) { "dev" } else { "release" },
        "latency_load_tps": LATENCY_LOAD,
        "saturating_load_tps": SATURATING_LOAD,
        "lan_1": lan1,
        "lan_4": lan4,
        "wan_4": wan4,
        "lan4_vs_lan1_transfers": tps(&lan4) / tps(&lan1),
        "wan_50": wan50,
        "wan50_vs_lan4_finality_p50": p50(&wan50) / p50(&lan4),
        "wan50_vs_lan4_transfers": tps(&wan50) / tps(&lan4),
    });
    let text = serde_json::to_string_pretty(&out).unwrap();
    println!("{text}");
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("simulation.json"), text).unwrap();
}
