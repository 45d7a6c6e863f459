//! The disperser's pipeline over the test kit's in-memory chain and column network
//! (`zg_testkit::fakes`): real KZG, BLS, journal and HTTP API, no chain process and no
//! libp2p, so each case takes well under a second. The real-process cases in the other
//! modules stay the top of the pyramid.

use std::time::{Duration, Instant};

use alloy::transports::http::reqwest;
use alloy_primitives::{Bytes, U256};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use zg_da_client::disperse::{Disperse, DisperseFailure, FailureKind};
use zg_da_client::{ChainClientError, ChainConfig};
use zg_da_server::disperser::{RunningDisperser, start_with};
use zg_da_server::{BlobStatus, DisperserConfig};
use zg_node_kit::TempDir;
use zg_primitives::signer_bitmap;
use zg_testkit::fakes::{FakeChain, FakeCluster, FakeNetwork, Faults};
use zg_testkit::payload;

type FakeDisperser = RunningDisperser<FakeNetwork, FakeChain>;

fn config(cluster: &FakeCluster, dir: &TempDir) -> DisperserConfig {
    let mut c = DisperserConfig::new(
        dir.0.clone(),
        cluster.disperser.clone(),
        // Not used: the chain is the cluster's fake.
        ChainConfig::new("http://unused.invalid"),
    );
    c.signature_grace = Duration::from_millis(50);
    c.store_attempts = 2;
    c.chain_grace = Duration::from_secs(5);
    c
}

async fn start(cluster: &FakeCluster, config: DisperserConfig) -> FakeDisperser {
    let http = TcpListener::bind("127.0.0.1:0").await.unwrap();
    start_with(
        config,
        cluster.chain.clone(),
        cluster.network.clone(),
        http,
        CancellationToken::new(),
    )
    .await
    .unwrap()
}

fn deadline() -> Instant {
    Instant::now() + Duration::from_secs(60)
}

/// Waits for request `id` and expects it confirmed.
async fn confirmed(d: &FakeDisperser, id: alloy_primitives::B256) -> zg_da_server::BlobRecord {
    let done = d.disperser.wait(id, Duration::from_secs(30)).await.unwrap();
    assert_eq!(done.status, BlobStatus::Confirmed, "{done:?}");
    done
}

/// Disperses `payload(len, seed)` and expects a failure.
async fn refused(d: &FakeDisperser, len: usize, seed: u64) -> DisperseFailure {
    d.disperser
        .disperse(Bytes::from(payload(len, seed)), deadline())
        .await
        .unwrap_err()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fake_pipeline_certifies_anchors_and_serves() {
    let cluster = FakeCluster::new(4, 3);
    let dir = TempDir::new("pipeline-ok");
    let d = start(&cluster, config(&cluster, &dir)).await;
    let data = payload(100_000, 1);
    let cert = d
        .disperser
        .disperse(Bytes::from(data.clone()), deadline())
        .await
        .unwrap();
    assert_eq!((cert.epoch, cert.quorum_id), (1, 0));
    let anchored = cluster.chain.anchored();
    assert_eq!(anchored.len(), 1, "one anchoring transaction");
    assert_eq!(anchored[0].dataRoot, cert.data_root);
    for node in &cluster.nodes {
        assert_eq!(node.store_requests(), 1, "each member got its columns once");
        assert!(!node.held_columns(&cert.data_root).is_empty());
    }
    let got = d.disperser.retriever().retrieve(&cert).await.unwrap();
    assert_eq!(got.payload, data);
    // The same payload again is the same request: no second dispersal.
    let again = d
        .disperser
        .disperse(Bytes::from(data), deadline())
        .await
        .unwrap();
    assert_eq!(again, cert);
    assert_eq!(cluster.node(0).store_requests(), 1);
    // The HTTP API runs over the same core.
    let url = format!("http://{}/v1/blobs/{}/data", d.http_addr, cert.data_root);
    let resp = reqwest::get(url).await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(resp.bytes().await.unwrap().len(), 100_000);
    d.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fake_pipeline_leaves_out_offline_and_lying_members() {
    let cluster = FakeCluster::new(5, 3);
    cluster.set_faults(1, Faults::offline());
    cluster.set_faults(
        3,
        Faults {
            garbage_signature: true,
            ..Faults::default()
        },
    );
    let dir = TempDir::new("pipeline-bad-members");
    let mut config = config(&cluster, &dir);
    // One attempt, so the offline member's failure is in before the grace period ends.
    config.store_attempts = 1;
    let d = start(&cluster, config).await;
    let cert = d
        .disperser
        .disperse(Bytes::from(payload(50_000, 2)), deadline())
        .await
        .unwrap();
    let anchored = cluster.chain.anchored();
    assert_eq!(
        anchored[0].signersBitmap.to_vec(),
        signer_bitmap(5, [0, 2, 4]).unwrap(),
        "only the honest members' signatures are aggregated"
    );
    let rec = d
        .disperser
        .status(keccak(&payload(50_000, 2)))
        .await
        .unwrap();
    assert_eq!(rec.unwrap().signers, Some((3, 3)));
    let metrics = d.disperser.metrics().encode();
    assert!(metrics.contains("reason=\"unreachable\""), "{metrics}");
    assert!(metrics.contains("reason=\"bad_signature\""), "{metrics}");
    assert_eq!(cert.data_root, anchored[0].dataRoot);
    d.shutdown().await.unwrap();
}

fn keccak(data: &[u8]) -> alloy_primitives::B256 {
    alloy_primitives::keccak256(data)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fake_pipeline_below_threshold_fails_as_retry_later() {
    let cluster = FakeCluster::new(4, 3);
    cluster.set_faults(0, Faults::offline());
    cluster.set_faults(2, Faults::offline());
    let dir = TempDir::new("pipeline-no-quorum");
    let d = start(&cluster, config(&cluster, &dir)).await;
    let err = refused(&d, 10_000, 3).await;
    assert_eq!(err.kind, FailureKind::RetryLater, "{err:?}");
    assert!(err.message.contains("2 of the 3 signatures"), "{err:?}");
    assert!(cluster.chain.anchored().is_empty(), "nothing anchored");
    let rec = d
        .disperser
        .status(keccak(&payload(10_000, 3)))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(rec.status, BlobStatus::Failed);
    assert_eq!(rec.failure, Some(FailureKind::RetryLater));
    // Members back: the same payload is retried and certified.
    cluster.set_faults(0, Faults::default());
    d.disperser
        .disperse(Bytes::from(payload(10_000, 3)), deadline())
        .await
        .unwrap();
    assert_eq!(cluster.chain.anchored().len(), 1);
    d.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fake_pipeline_without_deposit_is_refused_by_every_member() {
    let cluster = FakeCluster::new(4, 3);
    cluster
        .chain
        .set_deposit(cluster.disperser.address(), U256::ZERO);
    let dir = TempDir::new("pipeline-no-deposit");
    let d = start(&cluster, config(&cluster, &dir)).await;
    let err = refused(&d, 10_000, 4).await;
    assert!(err.message.contains("0 of the 3 signatures"), "{err:?}");
    let metrics = d.disperser.metrics().encode();
    assert!(metrics.contains("reason=\"no_deposit\""), "{metrics}");
    // A refusal that cannot change is not retried.
    assert_eq!(cluster.node(0).store_requests(), 1);
    d.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fake_pipeline_rides_out_a_chain_outage() {
    let cluster = FakeCluster::new(4, 3);
    let dir = TempDir::new("pipeline-outage");
    let d = start(&cluster, config(&cluster, &dir)).await;
    cluster
        .chain
        .set_outage(Some(ChainClientError::Unavailable("restarting".into())));
    let record = d.disperser.submit(payload(20_000, 5)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(600)).await;
    let waiting = d.disperser.status(record.id).await.unwrap().unwrap();
    assert!(!waiting.status.is_terminal(), "{waiting:?}");
    cluster.chain.set_outage(None);
    confirmed(&d, record.id).await;
    d.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fake_pipeline_resumes_after_restart_from_the_journal() {
    let cluster = FakeCluster::new(4, 3);
    for i in 0..4 {
        cluster.set_faults(i, Faults::slow(Duration::from_secs(30)));
    }
    let dir = TempDir::new("pipeline-restart");
    let d = start(&cluster, config(&cluster, &dir)).await;
    let data = payload(30_000, 6);
    let record = d.disperser.submit(data.clone()).await.unwrap();
    zg_testkit::eventually(
        "dispersing",
        Duration::from_secs(20),
        Duration::from_millis(5),
        || {
            let d = d.disperser.clone();
            async move {
                let s = d.status(record.id).await.unwrap().unwrap().status;
                (s == BlobStatus::Dispersing).then_some(())
            }
        },
    )
    .await;
    // Stopped mid-dispersal: the payload exists only in the journal now.
    d.shutdown().await.unwrap();
    for i in 0..4 {
        cluster.set_faults(i, Faults::default());
    }
    let d = start(&cluster, config(&cluster, &dir)).await;
    let done = confirmed(&d, record.id).await;
    let cert = done.certificate.unwrap();
    let got = d.disperser.retriever().retrieve(&cert).await.unwrap();
    assert_eq!(got.payload, data);
    assert_eq!(cluster.chain.anchored().len(), 1);
    d.shutdown().await.unwrap();
}

/// The chain moves three epochs on while a signed request waits for its anchoring
/// transaction: the entrance module refuses the anchor as stale, and the disperser
/// certifies the payload again in the current epoch's quorum instead of failing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fake_pipeline_recertifies_an_anchor_refused_as_stale() {
    let cluster = FakeCluster::new(4, 3);
    cluster.chain.set_anchor_window(Some(2));
    cluster.chain.set_method_outage(
        "submit_commit_roots",
        Some(ChainClientError::Unavailable("sequencer down".into())),
    );
    let dir = TempDir::new("pipeline-stale");
    let mut c = config(&cluster, &dir);
    c.chain_grace = Duration::from_secs(30);
    c.anchor_attempts = 1_000;
    let d = start(&cluster, c).await;
    let data = payload(25_000, 7);
    let record = d.disperser.submit(data.clone()).await.unwrap();
    zg_testkit::eventually(
        "signed, waiting to anchor",
        Duration::from_secs(20),
        Duration::from_millis(5),
        || {
            let d = d.disperser.clone();
            async move {
                let r = d.status(record.id).await.unwrap().unwrap();
                (r.status == BlobStatus::Anchoring && r.pending_anchor.is_some()).then_some(())
            }
        },
    )
    .await;
    // Epoch 4: the same nodes form its quorum; epoch 1's is out of the window.
    let members = cluster.quorum.members.clone();
    let fresh = cluster.chain.add_quorum(4, 3, members);
    cluster.chain.set_epoch(4);
    cluster.chain.set_method_outage("submit_commit_roots", None);
    let done = confirmed(&d, record.id).await;
    let cert = done.certificate.unwrap();
    assert_eq!((cert.epoch, cert.quorum_id), (fresh.epoch, fresh.quorum_id));
    let anchored = cluster.chain.anchored();
    assert_eq!(anchored.len(), 1, "only the fresh certificate is anchored");
    assert_eq!(anchored[0].epoch, U256::from(4));
    let got = d.disperser.retriever().retrieve(&cert).await.unwrap();
    assert_eq!(got.payload, data);
    d.shutdown().await.unwrap();
}

/// The anchoring worker's finality rule, on the fake chain: a request is confirmed only
/// once its anchor is final; a reorg that drops the anchor before that is answered by
/// anchoring the same submission again, and the request is confirmed after that one
/// is final.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fake_pipeline_confirms_only_final_anchors_and_reanchors_after_a_reorg() {
    let cluster = FakeCluster::new(4, 3);
    cluster.chain.hold_finality(true);
    let dir = TempDir::new("pipeline-reorg");
    let d = start(&cluster, config(&cluster, &dir)).await;
    let record = d.disperser.submit(payload(30_000, 9)).await.unwrap();
    // Anchored, not final: the request waits.
    let until = Instant::now() + Duration::from_secs(30);
    while cluster.chain.anchored().is_empty() {
        assert!(Instant::now() < until, "never anchored");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(400)).await;
    let waiting = d.disperser.status(record.id).await.unwrap().unwrap();
    assert!(!waiting.status.is_terminal(), "{waiting:?}");
    let first_txs = cluster.chain.calls("submit_commit_roots");
    // A reorg drops the anchor and its transaction: the worker anchors again.
    assert_eq!(cluster.chain.reorg(), 1);
    let until = Instant::now() + Duration::from_secs(30);
    while cluster.chain.anchored().is_empty() {
        assert!(Instant::now() < until, "never anchored again");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(cluster.chain.calls("submit_commit_roots") > first_txs);
    let still = d.disperser.status(record.id).await.unwrap().unwrap();
    assert!(!still.status.is_terminal(), "{still:?}");
    // Final now: confirmed, with the data root anchored once.
    cluster.chain.finalize();
    let done = confirmed(&d, record.id).await;
    let anchored = cluster.chain.anchored();
    assert_eq!(anchored.len(), 1);
    assert_eq!(Some(anchored[0].dataRoot), done.data_root);
    let text = reqwest::get(format!("http://{}/metrics", d.http_addr))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains("zg_da_disperser_reanchored_total 1"),
        "{text}"
    );
    d.shutdown().await.unwrap();
}
