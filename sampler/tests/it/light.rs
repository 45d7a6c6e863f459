//! The verifying light client (`zg_da_client::LightChain`) against a one-validator chain
//! with BFT finality, through a JSON-RPC proxy that forges what a light client is told:
//! finality certificates, headers, storage proofs, and an anchor that does not exist.
//! A forged answer is never believed, and the lying endpoint is named.

use std::sync::atomic::Ordering;
use std::time::Duration;

use alloy_primitives::{B256, U256};
use serde_json::{Value, json};
use zg_da_client::{AnchorLayout, LightChain, LightError};
use zg_testkit::da::{Cluster, ClusterOptions, payload};
use zg_testkit::proxy::{Forge, forging_proxy};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn forged_certificates_headers_proofs_and_anchors_are_never_believed() {
    let cluster = Cluster::start(ClusterOptions {
        validator: true,
        ..ClusterOptions::default()
    })
    .await;
    cluster.enter_epoch_one().await;
    let cert = cluster
        .put_ok(payload(20_000, 7))
        .await
        .certificate
        .unwrap();
    let honest = cluster.chain.rpc_url();
    let genesis = cluster.chain.node.genesis().clone();
    let consensus = genesis.consensus.clone().unwrap();
    let (liar, forge) = forging_proxy(honest.clone()).await;
    let entrance = cluster.modules.entrance;
    let absent = B256::repeat_byte(0x5a);

    // Through the proxy alone, while it is honest: everything verifies.
    let alone = LightChain::new(genesis.chain_id, &consensus, std::slice::from_ref(&liar)).unwrap();
    let head = alone.finalized().await.unwrap();
    let at = |h: &zg_da_client::VerifiedHeader| h.clone();
    let anchored = alone
        .anchored_at(
            &at(&head),
            entrance,
            AnchorLayout::Precompile,
            &cert.data_root,
            cert.epoch,
            cert.quorum_id,
        )
        .await
        .unwrap();
    assert!(
        anchored.is_some_and(|b| b <= head.number),
        "{anchored:?} at {head:?}; exists: {:?}, record {:?}",
        cluster.chain_client().await.commitment_exists(&cert).await,
        cert
    );
    assert_eq!(
        alone
            .anchored_at(
                &head,
                entrance,
                AnchorLayout::Precompile,
                &absent,
                cert.epoch,
                cert.quorum_id
            )
            .await
            .unwrap(),
        None
    );
    assert_eq!(alone.lies().1, 0);

    // Each forgery, through the liar alone: refused and recorded; the verified head
    // never moves to what the liar says.
    for f in [Forge::Certificate, Forge::Header] {
        forge.store(f as u8, Ordering::Relaxed);
        tokio::time::sleep(Duration::from_millis(300)).await;
        let before = alone.lies().1;
        let h = alone.finalized().await.unwrap();
        assert_eq!(h, alone.head().unwrap());
        assert!(h.number >= head.number);
        assert_eq!(alone.lies().1, before + 1, "{f:?} was not caught");
        let (lies, _) = alone.lies();
        assert_eq!(lies.last().unwrap().endpoint, liar, "{lies:?}");
    }
    for f in [Forge::Proof, Forge::Anchor] {
        forge.store(f as u8, Ordering::Relaxed);
        let before = alone.lies().1;
        let r = alone
            .anchored_at(
                &head,
                entrance,
                AnchorLayout::Precompile,
                &absent,
                cert.epoch,
                cert.quorum_id,
            )
            .await;
        assert!(matches!(r, Err(LightError::Unavailable(_))), "{f:?}: {r:?}");
        assert_eq!(alone.lies().1, before + 1, "{f:?} was not caught");
    }

    // The liar first, an honest endpoint second: answers come from the honest one, and
    // the liar is named.
    forge.store(Forge::Anchor as u8, Ordering::Relaxed);
    let both = LightChain::new(genesis.chain_id, &consensus, &[liar.clone(), honest]).unwrap();
    let head = both.finalized().await.unwrap();
    assert_eq!(
        both.anchored_at(
            &head,
            entrance,
            AnchorLayout::Precompile,
            &absent,
            cert.epoch,
            cert.quorum_id
        )
        .await
        .unwrap(),
        None
    );
    forge.store(Forge::Certificate as u8, Ordering::Relaxed);
    let newer = both.finalized().await.unwrap();
    assert!(newer.number >= head.number);
    let (lies, total) = both.lies();
    assert_eq!(total, 2, "{lies:?}");
    assert!(lies.iter().all(|l| l.endpoint == liar));
    let value = both
        .storage(
            &newer,
            entrance,
            AnchorLayout::Precompile.slot(&cert.data_root, cert.epoch, cert.quorum_id),
        )
        .await
        .unwrap();
    assert!(value > U256::ZERO);
    cluster.shutdown().await;
}

/// The sampler, verifying, follows the chain through an endpoint that invents an anchor
/// event: the real payload is sampled and available, the invented one is never
/// reported, and the status names the endpoint.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_verifying_sampler_never_reports_an_invented_anchor() {
    let cluster = Cluster::start(ClusterOptions {
        validator: true,
        ..ClusterOptions::default()
    })
    .await;
    cluster.enter_epoch_one().await;
    let cert = cluster
        .put_ok(payload(30_000, 8))
        .await
        .certificate
        .unwrap();
    let (liar, forge) = forging_proxy(cluster.chain.rpc_url()).await;
    forge.store(Forge::Log as u8, Ordering::Relaxed);
    let dir = zg_testkit::da::TempDir::new("sampler-verify");
    let mut config = zg_sampler::ClientConfig::new(dir.0.clone());
    config.poll_interval = Duration::from_millis(100);
    config.verify = Some(zg_sampler::VerifyConfig {
        validators: cluster.chain.node.genesis().consensus.clone().unwrap(),
        endpoints: Vec::new(),
        layout: AnchorLayout::Precompile,
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sampler = zg_sampler::start(
        zg_da_client::ChainConfig::new(liar.clone()),
        zg_da_client::NetConfig {
            request_timeout: Duration::from_secs(10),
            ..zg_da_client::NetConfig::default()
        },
        zg_sampler::SamplerConfig {
            timeout: Duration::from_secs(10),
            ..zg_sampler::SamplerConfig::default()
        },
        config,
        listener,
        tokio_util::sync::CancellationToken::new(),
    )
    .await
    .unwrap();
    let r = crate::final_result(&sampler, &cert.data_root).await;
    assert_eq!(r.status, zg_sampler::Availability::Available, "{r:?}");
    let invented = B256::repeat_byte(0x5a);
    assert!(sampler.client.availability(&invented).is_empty());
    let status: Value =
        alloy::transports::http::reqwest::get(format!("{}/v1/status", sampler.url()))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    let v = &status["verification"];
    assert!(v["lies_total"].as_u64().unwrap() >= 1, "{status}");
    assert_eq!(v["recent_lies"][0]["endpoint"], json!(liar), "{status}");
    assert!(
        v["recent_lies"][0]["what"]
            .as_str()
            .unwrap()
            .contains("anchor event"),
        "{status}"
    );
    assert!(v["verified_head"]["number"].as_u64().unwrap() >= r.block.unwrap());
    sampler.shutdown().await;
    cluster.shutdown().await;
}

/// The portable `DAEntrance.sol` keeps anchors in `_anchoredAt` (storage slot 1): the
/// light client proves them there, as on the precompile.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn anchors_of_the_portable_contracts_are_proved() {
    let cluster = Cluster::start(ClusterOptions {
        validator: true,
        contracts: true,
        ..ClusterOptions::default()
    })
    .await;
    cluster.enter_epoch_one().await;
    let cert = cluster
        .put_ok(payload(10_000, 9))
        .await
        .certificate
        .unwrap();
    let genesis = cluster.chain.node.genesis().clone();
    let light = LightChain::new(
        genesis.chain_id,
        genesis.consensus.as_ref().unwrap(),
        &[cluster.chain.rpc_url()],
    )
    .unwrap();
    let head = light.finalized().await.unwrap();
    let entrance = cluster.modules.entrance;
    let at = light
        .anchored_at(
            &head,
            entrance,
            AnchorLayout::Solidity,
            &cert.data_root,
            cert.epoch,
            cert.quorum_id,
        )
        .await
        .unwrap();
    assert!(at.is_some_and(|b| b <= head.number), "{at:?} at {head:?}");
    // The precompile's layout finds nothing there.
    assert_eq!(
        light
            .anchored_at(
                &head,
                entrance,
                AnchorLayout::Precompile,
                &cert.data_root,
                cert.epoch,
                cert.quorum_id
            )
            .await
            .unwrap(),
        None
    );
    cluster.shutdown().await;
}
