//! The validator network on commonware's deterministic runtime and simulated p2p: whole
//! nodes behind the real engine wiring, links with WAN latencies and loss. The 50-validator
//! figures come from `benches/simulation.rs`; these runs are small enough for CI.

use std::time::Duration;

use zg_chain::consensus::{SimConfig, Timeouts, simulate};

use crate::helpers::TempDir;

fn small(validators: usize, byzantine: usize) -> SimConfig {
    SimConfig {
        validators,
        latency: (Duration::from_millis(50), Duration::from_millis(200)),
        jitter: 0.1,
        loss: 0.01,
        duration: Duration::from_secs(10),
        tx_rate: 20,
        senders: 10,
        block_time: Duration::ZERO,
        timeouts: Timeouts::default(),
        seed: 7,
        byzantine,
    }
}

#[test]
fn seven_validators_at_wan_latencies_finalize_every_transfer() {
    let dir = TempDir::new("zg-sim");
    let report = simulate(&dir.0, &small(7, 0)).unwrap();
    eprintln!("{report:?}");
    assert!(report.agreed, "validators finalized different blocks");
    assert_eq!(report.txs_final, report.txs_sent, "every transfer is final");
    assert!(report.finalized_height >= 10, "{report:?}");
    // Three network hops at 50–200 ms each bound finality from below; a transfer also
    // waits for the block it lands in.
    assert!(report.finality_p50_ms >= 150.0, "{report:?}");
    assert!(report.finality_p99_ms < 10_000.0, "{report:?}");
}

#[test]
fn a_byzantine_validator_flooding_malformed_messages_is_blocked_and_the_rest_finalize() {
    let dir = TempDir::new("zg-sim-byz");
    let report = simulate(&dir.0, &small(4, 1)).unwrap();
    eprintln!("{report:?}");
    assert!(report.junk_sent > 1_000, "{report:?}");
    assert!(report.agreed, "validators finalized different blocks");
    assert_eq!(report.txs_final, report.txs_sent, "every transfer is final");
    // Every honest validator blocked the Byzantine one.
    assert_eq!(report.blocks_of_byzantine, 3, "{report:?}");
}
