//! Erasure coding across storage nodes: any k of n serve and rebuild every file; a node
//! that comes back empty is repaired from the others.

use std::time::Duration;

use zg_storage::{Downloader, NodeClient, SEGMENT_SIZE, UploadOptions};
use zg_testkit::storage::Stack;

use crate::random;

async fn wait_finalized(c: &NodeClient, seq: u64) {
    for _ in 0..500 {
        if c.file_info_by_seq(seq)
            .await
            .unwrap()
            .is_some_and(|i| i.finalized)
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{}: submission {seq} not finalized", c.url());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_k_of_n_nodes_serve_every_file_and_an_empty_node_is_repaired() {
    // 4 nodes, k = 2: each keeps half a segment's worth per segment (2× overhead, not 4×)
    let mut stack = Stack::cluster(4, 2).await;
    let data = random(5 * SEGMENT_SIZE + 12_345);
    let small = random(700);
    // upload to one member only, as a client of 0G's SDK does; it spreads the shards
    let up = zg_storage::Uploader::new(
        vec![stack.client(0)],
        &stack.chain.rpc_url(),
        zg_testkit::storage::dev_signer(0),
        zg_primitives::abi::FLOW_ADDRESS,
    )
    .unwrap();
    let r = up.upload(&data, &UploadOptions::default()).await.unwrap();
    let r_small = up.upload(&small, &UploadOptions::default()).await.unwrap();
    for i in 0..4 {
        wait_finalized(&stack.client(i), r.seq).await;
        wait_finalized(&stack.client(i), r_small.seq).await;
    }
    // each member stores one shard per segment: half of each segment
    let stored: usize = (0..6u64)
        .map(|i| {
            stack.nodes[1]
                .as_ref()
                .unwrap()
                .store()
                .segment(r.seq, i)
                .unwrap()
                .unwrap()
                .data
                .len()
        })
        .sum();
    // (the last segment is 12 345 bytes rounded up to 49 chunks)
    assert_eq!(stored, (5 * SEGMENT_SIZE + 49 * 256) / 2);

    // every pair of surviving nodes serves both files, byte-identical
    for (a, b) in [(0, 1), (2, 3), (1, 3), (0, 2)] {
        let down: Vec<usize> = (0..4).filter(|i| *i != a && *i != b).collect();
        for &d in &down {
            stack.stop_node(d).await;
        }
        for via in [a, b] {
            let dl = Downloader::new(vec![stack.client(via)]);
            assert!(
                dl.download(r.root).await.unwrap() == data,
                "via {via} with {down:?} down"
            );
            assert!(dl.download(r_small.root).await.unwrap() == small);
        }
        for &d in &down {
            stack.restart_node(d).await;
        }
    }

    // a member that comes back empty catches up with the chain and repairs its shards
    stack.wipe_node(3).await;
    wait_finalized(&stack.client(3), r.seq).await;
    wait_finalized(&stack.client(3), r_small.seq).await;
    // with 3 and one other as the only members up, reads still work
    stack.stop_node(0).await;
    stack.stop_node(1).await;
    let dl = Downloader::new(vec![stack.client(3)]);
    assert!(dl.download(r.root).await.unwrap() == data);
    assert!(dl.download(r_small.root).await.unwrap() == small);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_calls_need_the_token() {
    let stack = Stack::cluster(2, 1).await;
    let c = stack.client(0);
    let r: Result<serde_json::Value, _> = c
        .request("zgs_getShard", serde_json::json!(["wrong", 0, 0]))
        .await;
    match r {
        Err(zg_storage::ClientError::Refused {
            code: -32602,
            message,
            ..
        }) => {
            assert_eq!(message, "Invalid params: token")
        }
        other => panic!("{other:?}"),
    }
    let r = c.put_shards("wrong", 0, &[]).await;
    assert!(
        matches!(
            r,
            Err(zg_storage::ClientError::Refused { code: -32602, .. })
        ),
        "{r:?}"
    );
}
