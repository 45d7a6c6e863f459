//! Retrieval over in-memory fakes (zg-testkit): real KZG, no chain process, no libp2p.
//! Each test takes milliseconds once the shared payload is encoded.
#![allow(missing_docs)]

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use zg_da_client::{ChainClientError, NodeReport, RetrieveError};
use zg_primitives::{Certificate, EncodedPayload, custody_columns};
use zg_testkit::{FakeCluster, Faults, encoded_payload, payload};

/// One blob: the cells are computed once for the whole binary.
const LEN: usize = 1000;
const SEED: u64 = 7;

fn setup() -> (FakeCluster, std::sync::Arc<EncodedPayload>, Certificate) {
    let cluster = FakeCluster::new(8, 6);
    let encoded = encoded_payload(LEN, SEED);
    let cert = cluster.place(&encoded);
    (cluster, encoded, cert)
}

fn reported(reports: &[NodeReport], cluster: &FakeCluster, i: usize) -> Vec<NodeReport> {
    let a = cluster.member(i).address;
    reports.iter().filter(|r| r.address == a).cloned().collect()
}

/// The quorum positions of the members reported.
fn reported_members(reports: &[NodeReport], cluster: &FakeCluster) -> BTreeSet<usize> {
    reports
        .iter()
        .map(|r| cluster.quorum.member(r.address).expect("a member").index)
        .collect()
}

/// Every report a retrieval makes reaches its sink: those of the retrieval itself when it
/// finishes, those about answers that arrive later (stragglers written off by the hedge)
/// when they arrive. Collects them until `done` holds (or fails after 5 s).
async fn sink_until(
    rx: &mut tokio::sync::mpsc::UnboundedReceiver<NodeReport>,
    mut got: Vec<NodeReport>,
    done: impl Fn(&[NodeReport]) -> bool,
) -> Vec<NodeReport> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !done(&got) {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(r)) => got.push(r),
            _ => panic!("reports so far: {got:?}"),
        }
    }
    got
}

#[tokio::test]
async fn all_up_systematic_columns_without_recovery() {
    let (cluster, encoded, cert) = setup();
    let got = cluster.retriever().retrieve(&cert).await.unwrap();
    assert_eq!(got.payload, payload(LEN, SEED));
    assert_eq!(got.header, encoded.header);
    assert!(!got.recovered);
    assert!(got.reports.is_empty(), "{:?}", got.reports);
    // Each member was asked once, for its systematic columns only.
    for node in &cluster.nodes {
        assert_eq!(node.sample_requests(), 1);
    }
}

/// A straggler's columns are asked of the other members once the hedge deadline passes:
/// the payload comes back long before the slow member would have answered, recovered
/// from other columns, and the slow member is not reported (it did not fail).
#[tokio::test]
async fn hedging_around_a_slow_member() {
    let (cluster, _, cert) = setup();
    cluster.set_faults(2, Faults::slow(Duration::from_secs(10)));
    let started = Instant::now();
    let got = cluster.retriever().retrieve(&cert).await.unwrap();
    let took = started.elapsed();
    assert!(took < Duration::from_secs(2), "took {took:?}");
    assert_eq!(got.payload, payload(LEN, SEED));
    assert!(got.recovered, "column 2 of the slow member was replaced");
    assert!(got.reports.is_empty(), "{:?}", got.reports);
    // The others were asked a second time, for parity columns.
    let asked_twice = (0..8)
        .filter(|&i| i != 2 && cluster.node(i).sample_requests() >= 2)
        .count();
    assert!(asked_twice >= 1);
}

/// Offline members are reported (not as misbehaving: unreachable is no proof), from the
/// header phase or the column phase or both, and their columns fetched from the others; a
/// member whose connection fails only after a while is replaced too.
#[tokio::test]
async fn failover_from_offline_members() {
    let (cluster, _, cert) = setup();
    cluster.set_faults(0, Faults::offline());
    cluster.set_faults(
        5,
        Faults {
            offline: true,
            delay: Duration::from_millis(30),
            ..Faults::default()
        },
    );
    let got = cluster.retriever().retrieve(&cert).await.unwrap();
    assert_eq!(got.payload, payload(LEN, SEED));
    assert!(got.recovered);
    assert_eq!(
        reported_members(&got.reports, &cluster),
        BTreeSet::from([0, 5]),
        "{:?}",
        got.reports
    );
    for r in &got.reports {
        assert!(!r.misbehaved, "{r:?}");
        assert!(r.problem.contains("offline"), "{r:?}");
    }
    assert_eq!(
        reported(&got.reports, &cluster, 5)[0].socket,
        cluster.member(5).socket
    );
    // Their columns were asked once, then of others.
    assert_eq!(cluster.node(0).sample_requests(), 1);
    assert_eq!(cluster.node(5).sample_requests(), 1);
}

/// Exactly half the columns (members 4..8 hold 64 of 128) recover the payload.
#[tokio::test]
async fn recovery_from_half_the_columns() {
    let (cluster, _, cert) = setup();
    for i in 0..4 {
        cluster.set_faults(i, Faults::offline());
    }
    let held: usize = (4..8).map(|i| custody_columns(i, 8).len()).sum();
    assert_eq!(held, 64);
    let got = cluster.retriever().retrieve(&cert).await.unwrap();
    assert_eq!(got.payload, payload(LEN, SEED));
    assert!(got.recovered);
    assert_eq!(
        reported_members(&got.reports, &cluster),
        BTreeSet::from([0, 1, 2, 3])
    );
    assert!(got.reports.iter().all(|r| !r.misbehaved));
    // Every live member served all 16 of its columns: systematic, then parity.
    for i in 4..8 {
        assert_eq!(cluster.node(i).sample_requests(), 2);
    }
}

/// Members serving corrupted cells, or empty columns they claim to hold, are reported
/// as misbehaving and never asked again; the payload is still exact. One corrupted
/// column among good ones: the good ones are kept, the member is still reported.
#[tokio::test]
async fn byzantine_members_are_reported_as_misbehaving() {
    let (cluster, _, cert) = setup();
    cluster.set_faults(3, Faults::corrupt());
    cluster.set_faults(
        6,
        Faults {
            corrupt_columns: vec![14],
            ..Faults::default()
        },
    );
    cluster.set_faults(
        1,
        Faults {
            forget_columns: true,
            ..Faults::default()
        },
    );
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let got = cluster
        .retriever()
        .with_report_sink(tx)
        .retrieve(&cert)
        .await
        .unwrap();
    assert_eq!(got.payload, payload(LEN, SEED));
    assert!(got.recovered);
    // A Byzantine answer that takes longer to check than the hedge allows is reported
    // after the retrieval: the sink sees every report.
    let all = sink_until(&mut rx, Vec::new(), |r| {
        reported_members(r, &cluster) == BTreeSet::from([1, 3, 6])
    })
    .await;
    assert!(all.iter().all(|r| r.misbehaved), "{all:?}");
    assert!(
        reported_members(&got.reports, &cluster).is_subset(&BTreeSet::from([1, 3, 6])),
        "{:?}",
        got.reports
    );
    for i in [1, 3, 6] {
        assert_eq!(reported(&all, &cluster, i).len(), 1, "member {i}: {all:?}");
        assert_eq!(cluster.node(i).sample_requests(), 1, "asked again");
    }
    let six = &reported(&all, &cluster, 6)[0];
    assert!(six.problem.starts_with("column 14:"), "{six:?}");
    assert!(
        !six.problem.contains("column 22"),
        "only column 14 is bad: {six:?}"
    );
}

/// A header that does not hash to the data_root is refused and its server reported as
/// misbehaving; the next member's header is used.
#[tokio::test]
async fn a_lying_header_is_rejected_and_reported() {
    let (cluster, encoded, cert) = setup();
    // The liar answers first; everyone else a little later.
    for i in 0..8 {
        cluster.set_faults(i, Faults::slow(Duration::from_millis(20)));
    }
    cluster.set_faults(
        4,
        Faults {
            bad_header: true,
            ..Faults::default()
        },
    );
    let (header, reports) = cluster.retriever().header(&cert).await.unwrap();
    assert_eq!(header, encoded.header);
    let r = reported(&reports, &cluster, 4);
    assert_eq!(r.len(), 1, "{reports:?}");
    assert!(
        r[0].misbehaved && r[0].problem.starts_with("bad header"),
        "{r:?}"
    );
}

/// Misbehaviour discovered after the retrieval finished (a slow Byzantine member) still
/// reaches the report sink.
#[tokio::test]
async fn late_misbehaviour_reaches_the_report_sink() {
    let (cluster, _, cert) = setup();
    cluster.set_faults(
        3,
        Faults {
            corrupt_cells: true,
            delay: Duration::from_millis(300),
            ..Faults::default()
        },
    );
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let retriever = cluster.retriever().with_report_sink(tx);
    let got = retriever.retrieve(&cert).await.unwrap();
    assert_eq!(got.payload, payload(LEN, SEED));
    assert!(got.reports.is_empty(), "{:?}", got.reports);
    let late = tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .expect("late report")
        .unwrap();
    assert_eq!(late.address, cluster.member(3).address);
    assert!(late.misbehaved, "{late:?}");
}

/// Fewer than 64 columns reachable: the right error, with the count.
#[tokio::test]
async fn not_enough_columns() {
    let (cluster, _, cert) = setup();
    for i in 0..5 {
        cluster.set_faults(i, Faults::offline());
    }
    match cluster.retriever().retrieve(&cert).await {
        Err(RetrieveError::NotEnoughColumns { got }) => assert_eq!(got, 48),
        other => panic!("expected NotEnoughColumns, got {other:?}"),
    }
    // Withholding members (refusing to serve) count the same.
    let (cluster, _, cert) = setup();
    for i in 0..5 {
        cluster.set_faults(i, Faults::withholding());
    }
    match cluster.retriever().retrieve(&cert).await {
        Err(RetrieveError::NotEnoughColumns { got }) => assert_eq!(got, 48),
        other => panic!("expected NotEnoughColumns, got {other:?}"),
    }
}

/// Unknown quorum, unknown payload, unreachable chain: each its own error.
#[tokio::test]
async fn unknown_quorum_unknown_payload_and_chain_outage() {
    let (cluster, _, cert) = setup();
    let retriever = cluster.retriever();
    let wrong_quorum = Certificate {
        quorum_id: 9,
        ..cert
    };
    let e = retriever.retrieve(&wrong_quorum).await.unwrap_err();
    assert!(
        matches!(
            e,
            RetrieveError::UnknownQuorum {
                epoch: 1,
                quorum_id: 9
            }
        ),
        "{e:?}"
    );
    assert!(e.is_not_found());

    let unknown = Certificate {
        data_root: alloy_primitives::B256::repeat_byte(9),
        ..cert
    };
    let e = retriever.retrieve(&unknown).await.unwrap_err();
    assert!(matches!(e, RetrieveError::HeaderUnavailable(_)), "{e:?}");
    assert!(e.is_not_found());

    cluster
        .chain
        .set_outage(Some(ChainClientError::Unavailable("fake outage".into())));
    let e = retriever.retrieve(&cert).await.unwrap_err();
    assert!(
        matches!(e, RetrieveError::Chain(ChainClientError::Unavailable(_))),
        "{e:?}"
    );
    assert!(!e.is_not_found());
    cluster.chain.set_outage(None);
    assert!(retriever.retrieve(&cert).await.is_ok());
}

/// Every member unreachable is an outage, not missing data (op-node reads 404 as
/// "missing"): only when more members than `n - threshold` say they do not hold a
/// payload is it unknown.
#[tokio::test]
async fn an_outage_of_the_members_is_not_missing_data() {
    let (cluster, _, cert) = setup();
    let retriever = cluster.retriever();
    let n = cluster.nodes.len();
    for i in 0..n {
        cluster.set_faults(i, Faults::offline());
    }
    let e = retriever.retrieve(&cert).await.unwrap_err();
    assert!(
        matches!(e, RetrieveError::MembersUnavailable { not_found: 0, .. }),
        "{e:?}"
    );
    assert!(!e.is_not_found());
    // An unknown payload while just as many members are down as could hold it: still
    // "unavailable"; with one more member answering "not found": unknown.
    for i in 0..n {
        cluster.set_faults(i, Faults::default());
    }
    let unknown = Certificate {
        data_root: alloy_primitives::B256::repeat_byte(9),
        ..cert
    };
    let threshold = cluster.quorum.threshold;
    for i in 0..threshold {
        cluster.set_faults(i, Faults::offline());
    }
    let e = retriever.retrieve(&unknown).await.unwrap_err();
    assert!(!e.is_not_found(), "{e:?}");
    cluster.set_faults(threshold - 1, Faults::default());
    let e = retriever.retrieve(&unknown).await.unwrap_err();
    assert!(e.is_not_found(), "{e:?}");
}

/// A payload dispersed through the fake nodes' store protocol (KZG-checked, BLS-signed,
/// anchored with a verified aggregate) comes back exactly.
#[tokio::test]
async fn dispersed_through_the_store_protocol_then_retrieved() {
    let cluster = FakeCluster::new(8, 6);
    let encoded = encoded_payload(LEN, SEED);
    let cert = cluster.disperse(&encoded).await.unwrap();
    assert_eq!(cert, cluster.certificate(&encoded));
    assert_eq!(cluster.chain.anchored().len(), 1);
    let got = cluster.retriever().retrieve(&cert).await.unwrap();
    assert_eq!(got.payload, payload(LEN, SEED));
    assert!(!got.recovered);
}
