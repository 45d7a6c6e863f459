//! A plugin that verifies the chain (`--verify.genesis`): anchors are proved against a
//! finalized header whose finality certificate verified, through an endpoint that lies
//! on demand. A certificate nobody anchored is never served, whatever the endpoint
//! claims, and the endpoint is named.

use std::sync::atomic::Ordering;

use alloy_primitives::B256;
use zg_da_client::{AnchorLayout, VerifyConfig};
use zg_primitives::AltDaCommitment;
use zg_testkit::da::{Cluster, ClusterOptions, TempDir};
use zg_testkit::proxy::{Forge, forging_proxy};

use crate::{OpClient, batch, start_plugin};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_verifying_plugin_proves_anchors_and_never_serves_a_forged_one() {
    let cluster = Cluster::start(ClusterOptions {
        validator: true,
        ..ClusterOptions::default()
    })
    .await;
    cluster.enter_epoch_one().await;
    let (proxy, forge) = forging_proxy(cluster.chain.rpc_url()).await;
    let verify = VerifyConfig {
        validators: cluster.chain.node.genesis().consensus.clone().unwrap(),
        endpoints: vec![proxy.clone()],
        layout: AnchorLayout::Precompile,
    };
    let dir = TempDir::new("plugin-verify-put");
    let putter = start_plugin(&cluster, &dir, |c| c.verify = Some(verify.clone())).await;
    let data = batch(50_000, 3);
    let put = OpClient::new(&putter).put_generic(&data).await;
    assert_eq!(put.status, 200, "{}", String::from_utf8_lossy(&put.body));
    let AltDaCommitment::Generic(cert) = AltDaCommitment::from_bytes(&put.body).unwrap() else {
        panic!("generic commitment expected");
    };

    // A fresh plugin proves the anchor and retrieves from the DA nodes.
    let dir2 = TempDir::new("plugin-verify-get");
    let reader = start_plugin(&cluster, &dir2, |c| c.verify = Some(verify.clone())).await;
    let client = OpClient::new(&reader);
    let got = client.get(&put.body).await;
    assert_eq!(got.status, 200, "{}", String::from_utf8_lossy(&got.body));
    assert!(got.body == data);

    // A certificate for data nobody anchored: not found while the endpoint is honest…
    let forged = AltDaCommitment::Generic(zg_primitives::Certificate {
        data_root: B256::repeat_byte(0x5a),
        ..cert
    })
    .to_bytes();
    assert_eq!(client.get(&forged).await.status, 404);
    // …and never served when it claims the anchor exists: its proof does not verify.
    forge.store(Forge::Anchor as u8, Ordering::Relaxed);
    let refused = client.get(&forged).await;
    assert_eq!(
        refused.status,
        503,
        "{}",
        String::from_utf8_lossy(&refused.body)
    );
    let health: serde_json::Value =
        alloy::transports::http::reqwest::get(format!("{}/health", reader.url()))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    let v = &health["verification"];
    assert!(v["lies_total"].as_u64().unwrap() >= 1, "{health}");
    assert_eq!(v["recent_lies"][0]["endpoint"], serde_json::json!(proxy));
    reader.shutdown().await.unwrap();
    putter.shutdown().await.unwrap();
    cluster.shutdown().await;
}
