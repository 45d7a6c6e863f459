use std::time::{Duration, Instant};

use zg_da_server::testing::{Cluster, ClusterOptions, payload};
use zg_sampler::Availability;

/// With two quorums of four, the nodes of the quorum that did not certify a payload
/// sample it and report it available (in their API too); the certifying members skip it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nodes_sample_the_other_quorums() {
    let cluster = Cluster::start(ClusterOptions {
        quorum: Some((4, 3)),
        ..ClusterOptions::default()
    })
    .await;
    let chain = cluster.chain_client().await;
    assert_eq!(chain.quorum_count(1).await.unwrap(), 2);
    let rec = cluster.put_ok(payload(150_000, 3)).await;
    let cert = rec.certificate.unwrap();
    let quorum = chain
        .quorum(cert.epoch, cert.quorum_id)
        .await
        .unwrap()
        .unwrap();
    let (members, others): (Vec<usize>, Vec<usize>) =
        (0..8).partition(|&i| quorum.member(cluster.node_keys[i].address()).is_some());
    assert_eq!((members.len(), others.len()), (4, 4));
    let deadline = Instant::now() + Duration::from_secs(60);
    for &i in &others {
        let sampling = cluster.node(i).sampling.as_ref().unwrap();
        loop {
            let r = sampling.availability(&cert.data_root);
            if let Some(r) = r.last()
                && r.status == Availability::Available
            {
                assert_eq!(r.samples_ok, 16);
                break;
            }
            assert!(Instant::now() < deadline, "node {i} never sampled {cert:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    // Over HTTP as well.
    let url = format!(
        "http://{}/sampling/v1/availability/{}",
        cluster.node(others[0]).http_addr,
        cert.data_root
    );
    let v: serde_json::Value = cluster
        .http
        .get(url)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["latest"]["status"], "available", "{v}");
    // Members skip their own quorum's data.
    for &i in &members {
        let sampling = cluster.node(i).sampling.as_ref().unwrap();
        assert!(sampling.availability(&cert.data_root).is_empty());
    }
    cluster.shutdown().await;
}
