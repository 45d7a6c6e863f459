use std::time::Duration;

use zg_testkit::da::{Cluster, ClusterOptions, TempDir};

use crate::{OpClient, batch, start_plugin, start_plugin_at};

/// When the DA layer cannot certify, puts answer 503 (a batcher with failover then posts
/// to L1), never 500; gets of certified data keep working.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn quorum_down_gives_503() {
    let mut cluster = Cluster::start(ClusterOptions::default()).await;
    let dir = TempDir::new("plugin-503");
    let plugin = start_plugin(&cluster, &dir, |c| c.put_timeout = Duration::from_secs(90)).await;
    let client = OpClient::new(&plugin);
    let data = batch(40_000, 31);
    let put = client.put_generic(&data).await;
    assert_eq!(put.status, 200);

    // Three of eight down: six signatures (the threshold) are out of reach.
    for i in [0, 2, 4] {
        cluster.stop_node(i).await;
    }
    let refused = client.put_generic(&batch(40_000, 32)).await;
    assert_eq!(
        refused.status,
        503,
        "{}",
        String::from_utf8_lossy(&refused.body)
    );
    assert!(
        refused.message().contains("signatures"),
        "{}",
        refused.message()
    );

    // A fresh plugin still retrieves the earlier payload from the five left.
    let dir_b = TempDir::new("plugin-503-b");
    let other = start_plugin(&cluster, &dir_b, |_| {}).await;
    let got = OpClient::new(&other).get(&put.body).await;
    assert_eq!(got.status, 200, "{}", String::from_utf8_lossy(&got.body));
    assert!(got.body == data);
    other.shutdown().await.unwrap();

    // The disperser itself down: 503 too.
    cluster.stop_disperser().await;
    let refused = client.put_generic(&batch(1000, 33)).await;
    assert_eq!(refused.status, 503);
    assert!(
        refused.message().contains("unreachable"),
        "{}",
        refused.message()
    );
    // Gets do not need the disperser.
    assert_eq!(client.get(&put.body).await.status, 200);
    plugin.shutdown().await.unwrap();

    // A put timeout shorter than certification: 503, not a hang.
    cluster.start_disperser().await;
    for i in [0, 2, 4] {
        cluster.start_node(i).await;
    }
    let dir_c = TempDir::new("plugin-503-c");
    let hasty = start_plugin(&cluster, &dir_c, |c| {
        c.put_timeout = Duration::from_millis(1)
    })
    .await;
    let a = OpClient::new(&hasty).put_generic(&batch(200_000, 34)).await;
    assert_eq!(a.status, 503, "{}", String::from_utf8_lossy(&a.body));
    assert!(a.message().contains("timeout"), "{}", a.message());
    hasty.shutdown().await.unwrap();

    // Nothing listening at the disperser URL at all.
    let dir_d = TempDir::new("plugin-503-d");
    let orphan = start_plugin_at(&cluster, &dir_d, "http://127.0.0.1:9".into(), |_| {}).await;
    assert_eq!(
        OpClient::new(&orphan)
            .put_generic(&data[..100])
            .await
            .status,
        503
    );
    orphan.shutdown().await.unwrap();
    cluster.shutdown().await;
}
