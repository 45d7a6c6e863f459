//! Replicas share keccak-mode mappings through a zg-storage KV stream: a keccak put
//! through replica A is served by replica B, which has its own empty datadir, and a
//! mapping forged in the stream is not served.

use std::time::Duration;

use alloy::signers::local::PrivateKeySigner;
use alloy_primitives::{B256, keccak256};
use zg_op_plugin::{ReplicaConfig, SharedMappings};
use zg_testkit::da::{Cluster, ClusterOptions, TempDir, dev_signer};

use crate::{OpClient, batch, keccak_commitment, start_plugin};

const STREAM: B256 = B256::repeat_byte(0x0c);
/// The writing replica's account (the cluster uses dev accounts 0 … 9).
const WRITER: u32 = 21;

fn replica(kv_url: &str, rpc: &str, writer: Option<PrivateKeySigner>) -> ReplicaConfig {
    ReplicaConfig {
        stream: STREAM,
        kv_url: kv_url.to_string(),
        writer,
        chain_rpc: rpc.to_string(),
        write_timeout: Duration::from_secs(60),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_keccak_put_through_one_replica_is_served_by_another() {
    let writer = dev_signer(WRITER);
    let cluster = Cluster::start(ClusterOptions {
        genesis: Some(zg_testkit::da::fund(vec![writer.address()])),
        ..ClusterOptions::default()
    })
    .await;
    let rpc = cluster.chain.rpc_url();
    let (kv, _kv_dir) = zg_testkit::storage::start_node(&rpc, vec![STREAM]).await;
    let kv_url = kv.rpc_url();

    let dir_a = TempDir::new("replica-a");
    let a = start_plugin(&cluster, &dir_a, |c| {
        c.replicas = Some(replica(&kv_url, &rpc, Some(writer.clone())));
    })
    .await;
    let dir_b = TempDir::new("replica-b");
    let b = start_plugin(&cluster, &dir_b, |c| {
        c.replicas = Some(replica(&kv_url, &rpc, None));
    })
    .await;

    let data = batch(70_000, 7);
    let put = OpClient::new(&a).put_keccak(&data).await;
    assert_eq!(put.status, 200, "{}", String::from_utf8_lossy(&put.body));
    let got = OpClient::new(&b).get(&keccak_commitment(&data)).await;
    assert_eq!(got.status, 200, "{}", String::from_utf8_lossy(&got.body));
    assert!(got.body == data, "byte-identical through the other replica");
    // B remembered the mapping once the payload verified.
    assert!(
        b.plugin
            .store()
            .put_of(&keccak256(&data))
            .unwrap()
            .is_some()
    );

    // A mapping forged in the stream (a writer pointing a hash at another payload) is
    // refused by a replica that looks it up, and not remembered.
    let other = batch(30_000, 8);
    let put = OpClient::new(&a).put_keccak(&other).await;
    assert_eq!(put.status, 200);
    let other_cert = a
        .plugin
        .store()
        .put_of(&keccak256(&other))
        .unwrap()
        .unwrap();
    let forged = batch(40_000, 9);
    let shared = SharedMappings::new(replica(&kv_url, &rpc, Some(writer))).unwrap();
    shared.put(&keccak256(&forged), &other_cert).await.unwrap();
    let c_dir = TempDir::new("replica-c");
    let c = start_plugin(&cluster, &c_dir, |c| {
        c.replicas = Some(replica(&kv_url, &rpc, None));
    })
    .await;
    let got = OpClient::new(&c).get(&keccak_commitment(&forged)).await;
    assert_ne!(got.status, 200, "a forged mapping is not served");
    assert!(
        c.plugin
            .store()
            .put_of(&keccak256(&forged))
            .unwrap()
            .is_none()
    );
    // An unknown hash is a 404.
    let got = OpClient::new(&b)
        .get(&keccak_commitment(&batch(10, 10)))
        .await;
    assert_eq!(got.status, 404);

    for p in [a, b, c] {
        p.shutdown().await.unwrap();
    }
    kv.shutdown().await.unwrap();
    cluster.shutdown().await;
}
