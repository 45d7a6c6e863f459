use zg_testkit::da::{Cluster, ClusterOptions, TempDir};

use crate::{OpClient, batch, keccak_commitment, metric, start_plugin};

/// What the plugin acknowledged survives a restart: keccak mappings (served by DA
/// retrieval when the cache is gone) and idempotence of earlier puts.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn restart_keeps_keccak_mappings() {
    let cluster = Cluster::start(ClusterOptions::default()).await;
    let dir = TempDir::new("plugin-restart");
    let plugin = start_plugin(&cluster, &dir, |_| {}).await;
    let client = OpClient::new(&plugin);
    let kdata = batch(90_000, 41);
    assert_eq!(client.put_keccak(&kdata).await.status, 200);
    let gdata = batch(10_000, 42);
    let generic = client.put_generic(&gdata).await;
    assert_eq!(generic.status, 200);
    plugin.shutdown().await.unwrap();

    // Restart with the cache disabled: the mapping alone must lead to the data.
    let plugin = start_plugin(&cluster, &dir, |c| c.cache_bytes = 0).await;
    let client = OpClient::new(&plugin);
    let got = client.get(&keccak_commitment(&kdata)).await;
    assert_eq!(got.status, 200, "{}", String::from_utf8_lossy(&got.body));
    assert_ne!(got.headers["x-zg-source"], "cache");
    assert!(got.body == kdata);
    // Re-puts after the restart are duplicates: the same commitment, no dispersal.
    let again = client.put_generic(&gdata).await;
    assert_eq!(again.body, generic.body);
    assert_eq!(client.put_keccak(&kdata).await.status, 200);
    let text = String::from_utf8(client.get_path("/metrics").await.body).unwrap();
    assert_eq!(
        metric(&text, "zg_op_plugin_puts_total{result=\"duplicate\"}"),
        2.0,
        "{text}"
    );
    assert_eq!(
        metric(&text, "zg_op_plugin_puts_total{result=\"dispersed\"}"),
        0.0
    );
    plugin.shutdown().await.unwrap();
    cluster.shutdown().await;
}
