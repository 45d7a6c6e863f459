//! Sampling over in-memory fakes (zg-testkit): real KZG, no chain process, no libp2p.
//! Each test takes milliseconds once the shared payload is encoded.
#![allow(missing_docs)]

use std::time::Duration;

use zg_primitives::{Certificate, custody_columns};
use zg_sampler::{Availability, Sampler, SamplerConfig, confidence};
use zg_testkit::{FakeChain, FakeCluster, FakeNetwork, Faults, encoded_payload};

fn setup() -> (FakeCluster, Certificate) {
    let cluster = FakeCluster::new(8, 6);
    let cert = cluster.place(&encoded_payload(1000, 11));
    (cluster, cert)
}

fn sampler(cluster: &FakeCluster, config: SamplerConfig) -> Sampler<FakeNetwork, FakeChain> {
    Sampler::new(
        cluster.network.clone(),
        cluster.chain.clone(),
        cluster.kzg(),
        config,
    )
}

/// Columns 0..16: two from every member (`k` and `k + 8`).
fn two_per_member() -> Vec<u16> {
    (0..16).collect()
}

/// A healthy quorum: freshly drawn columns all verify and the confidence target is met.
#[tokio::test]
async fn a_healthy_quorum_reaches_the_confidence_target() {
    let (cluster, cert) = setup();
    let s = sampler(&cluster, SamplerConfig::default());
    let r = s.sample(&cert).await;
    assert_eq!(r.status, Availability::Available, "{r:?}");
    assert!(r.confidence >= 0.9999, "{r:?}");
    assert_eq!((r.samples_ok, r.samples_failed), (16, 0));
    assert_eq!(r.columns.len(), 16);
    assert!(r.failures.is_empty() && r.misbehaving.is_empty(), "{r:?}");
    assert_eq!(r.certificate, cert);
    // A higher target draws more columns.
    let s = sampler(
        &cluster,
        SamplerConfig {
            target: 0.999_999_9,
            ..SamplerConfig::default()
        },
    );
    let r = s.sample(&cert).await;
    assert_eq!(r.status, Availability::Available, "{r:?}");
    assert!(r.columns.len() > 16 && r.samples_ok == r.columns.len());
}

/// A member serving corrupted cells: its columns fail verification and it is named as
/// misbehaving; its neighbour's columns verify.
#[tokio::test]
async fn corrupt_cells_are_caught_and_the_member_named() {
    let (cluster, cert) = setup();
    cluster.set_faults(7, Faults::corrupt());
    let mut columns: Vec<u16> = custody_columns(7, 8)[..3].to_vec();
    columns.extend_from_slice(&custody_columns(0, 8)[..3]);
    columns.sort();
    let r = sampler(&cluster, SamplerConfig::default())
        .sample_columns(&cert, columns)
        .await;
    assert_eq!((r.samples_ok, r.samples_failed), (3, 3), "{r:?}");
    assert_eq!(r.status, Availability::Unavailable);
    assert_eq!(r.misbehaving, vec![cluster.member(7).address]);
    assert!(
        r.failures.iter().all(|f| f.contains("does not verify")),
        "{r:?}"
    );
    assert!((r.confidence - confidence(3, 6)).abs() < 1e-12);
}

/// Withheld columns: five of eight members refuse to serve. Every refused column fails,
/// naming its custodian; the payload is unavailable. A refusal proves nothing, so no
/// member is called misbehaving.
#[tokio::test]
async fn withheld_columns_are_caught_and_the_members_named() {
    let (cluster, cert) = setup();
    for i in 0..5 {
        cluster.set_faults(i, Faults::withholding());
    }
    let r = sampler(&cluster, SamplerConfig::default())
        .sample_columns(&cert, two_per_member())
        .await;
    assert_eq!((r.samples_ok, r.samples_failed), (6, 10), "{r:?}");
    assert_eq!(r.status, Availability::Unavailable);
    assert!(r.confidence < 0.9999);
    assert!((r.confidence - confidence(6, 16)).abs() < 1e-12);
    assert!(r.misbehaving.is_empty(), "{r:?}");
    assert_eq!(r.failures.len(), 10);
    for i in 0..5 {
        let who = cluster.member(i).address.to_string();
        let named = r.failures.iter().filter(|f| f.contains(&who)).count();
        assert_eq!(named, 2, "member {i}: {r:?}");
    }
    assert!(r.failures.iter().all(|f| f.contains("refused")), "{r:?}");
}

/// A member that claims its columns but serves empty ones is caught by verification and
/// named as misbehaving.
#[tokio::test]
async fn columns_claimed_but_not_held_are_misbehaviour() {
    let (cluster, cert) = setup();
    cluster.set_faults(
        3,
        Faults {
            forget_columns: true,
            ..Faults::default()
        },
    );
    let r = sampler(&cluster, SamplerConfig::default())
        .sample_columns(&cert, two_per_member())
        .await;
    assert_eq!((r.samples_ok, r.samples_failed), (14, 2), "{r:?}");
    assert_eq!(r.status, Availability::Unavailable);
    assert_eq!(r.misbehaving, vec![cluster.member(3).address]);
}

/// Unreachable and too-slow members: their columns fail (after the retries and the
/// per-request timeout), nobody is called misbehaving.
#[tokio::test]
async fn offline_and_slow_members_fail_their_samples() {
    let (cluster, cert) = setup();
    cluster.set_faults(1, Faults::offline());
    cluster.set_faults(2, Faults::slow(Duration::from_secs(10)));
    let config = SamplerConfig {
        attempts: 1,
        timeout: Duration::from_millis(100),
        ..SamplerConfig::default()
    };
    let r = sampler(&cluster, config)
        .sample_columns(&cert, two_per_member())
        .await;
    assert_eq!((r.samples_ok, r.samples_failed), (12, 4), "{r:?}");
    assert_eq!(r.status, Availability::Unavailable);
    assert!(r.misbehaving.is_empty(), "{r:?}");
    for (member, why) in [(2, "timed out"), (1, "offline")] {
        let who = cluster.member(member).address.to_string();
        assert!(
            r.failures
                .iter()
                .any(|f| f.contains(&who) && f.contains(why)),
            "{r:?}"
        );
    }
}

/// No quorum, no header: unavailable with the reason.
#[tokio::test]
async fn unknown_quorum_or_payload_is_unavailable() {
    let (cluster, cert) = setup();
    let s = sampler(&cluster, SamplerConfig::default());
    let r = s
        .sample(&Certificate {
            quorum_id: 3,
            ..cert
        })
        .await;
    assert_eq!(r.status, Availability::Unavailable);
    assert!(r.failures[0].contains("does not exist"), "{r:?}");
    let r = s
        .sample(&Certificate {
            data_root: alloy_primitives::B256::repeat_byte(1),
            ..cert
        })
        .await;
    assert_eq!(r.status, Availability::Unavailable);
    assert!(r.failures[0].starts_with("header:"), "{r:?}");
    assert_eq!(r.samples_ok, 0);
}
