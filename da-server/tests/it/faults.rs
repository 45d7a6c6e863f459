use zg_testkit::byzantine::Faults;

use zg_testkit::da::{Cluster, ClusterOptions, payload};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_down_certify_four_down_recover() {
    let mut cluster = Cluster::start(ClusterOptions::default()).await;
    cluster.stop_node(0).await;
    cluster.stop_node(1).await;
    let data = payload(300_000, 7);
    let rec = cluster.put_ok(data.clone()).await;
    assert_eq!(rec.signers, Some((6, 6)));
    let root = rec.data_root.unwrap();

    cluster.stop_node(2).await;
    cluster.stop_node(3).await;
    let (status, headers, body) = cluster.get_data(&root).await;
    assert_eq!(status, 200);
    assert_eq!(headers["x-zg-recovered"], "true");
    assert!(body == data);

    // With 4 of 8 down no quorum reaches t = 6: the put fails with 503 and a reason.
    let (status, body) = cluster.put(payload(1000, 8)).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["status"], "failed");
    assert!(
        body["reason"]
            .as_str()
            .unwrap()
            .contains("of the 6 signatures needed"),
        "{body}"
    );
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn byzantine_nodes_are_dropped_and_reported() {
    let options = ClusterOptions {
        faults: vec![
            (
                0,
                Faults {
                    corrupt_cells: true,
                    ..Faults::default()
                },
            ),
            (
                1,
                Faults {
                    garbage_signature: true,
                    ..Faults::default()
                },
            ),
            (
                2,
                Faults {
                    forget_columns: true,
                    ..Faults::default()
                },
            ),
        ],
        ..ClusterOptions::default()
    };
    let cluster = Cluster::start(options).await;
    let data = payload(400_000, 9);
    let rec = cluster.put_ok(data.clone()).await;
    // Node 1's signature does not verify and is left out of the aggregate.
    assert_eq!(rec.signers, Some((7, 6)));
    let root = rec.data_root.unwrap();
    // A retrieval stops as soon as 64 columns verified; answers still on their way are
    // checked afterwards, so both bad nodes end up reported (header or metrics).
    let (status, _, body) = cluster.get_data(&root).await;
    assert_eq!(status, 200);
    assert!(body == data);
    let mut reported = String::new();
    for _ in 0..100 {
        reported = zg_testkit::get_text(&cluster.http, cluster.api("/metrics"))
            .await
            .to_lowercase();
        if [0, 2].iter().all(|&i| {
            reported.contains(&format!(
                "reported_nodes_total{{node=\"{}\"}}",
                cluster.node_keys[i].address().to_string().to_lowercase()
            ))
        }) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    for i in [0, 2] {
        let a = cluster.node_keys[i].address().to_string().to_lowercase();
        assert!(
            reported.contains(&format!("reported_nodes_total{{node=\"{a}\"}}")),
            "node {i} not reported: {reported}"
        );
    }
    let a1 = cluster.node_keys[1].address().to_string().to_lowercase();
    assert!(!reported.contains(&format!("reported_nodes_total{{node=\"{a1}\"}}")));
    let metrics = zg_testkit::get_text(&cluster.http, cluster.api("/metrics")).await;
    assert!(
        metrics
            .to_lowercase()
            .contains(&format!("member=\"{a1}\",reason=\"bad_signature\"")),
        "{metrics}"
    );
    cluster.shutdown().await;
}
