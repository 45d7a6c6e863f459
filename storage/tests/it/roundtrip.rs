//! Upload and download through the flow module and a storage node.

use alloy::providers::{Provider, ProviderBuilder};
use alloy_primitives::U256;
use zg_primitives::abi::FLOW_ADDRESS;
use zg_storage::{Downloader, SEGMENT_SIZE, UploadOptions};
use zg_testkit::storage::Stack;

use crate::{pattern, random, root_of};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_round_trip_byte_identical() {
    let stack = Stack::dev(1).await;
    let up = stack.uploader(0);
    let down = Downloader::new(vec![stack.client(0)]);
    let provider = ProviderBuilder::new().connect_http(stack.chain.rpc_url().parse().unwrap());
    let mut last_seq = None;
    for size in [
        1,
        SEGMENT_SIZE - 1,
        SEGMENT_SIZE,
        SEGMENT_SIZE + 1,
        10 * 1024 * 1024,
    ] {
        let data = random(size);
        let before = provider.get_balance(FLOW_ADDRESS).await.unwrap();
        let r = up.upload(&data, &UploadOptions::default()).await.unwrap();
        assert_eq!(r.root, root_of(&data), "size {size}");
        if let Some(prev) = last_seq {
            assert_eq!(r.seq, prev + 1);
        }
        last_seq = Some(r.seq);
        // the fee went to the flow module
        let after = provider.get_balance(FLOW_ADDRESS).await.unwrap();
        assert_eq!(after - before, r.fee);
        assert!(r.fee > U256::ZERO);
        let info = stack.client(0).file_info(r.root).await.unwrap().unwrap();
        assert!(info.finalized);
        assert_eq!(info.tx.size, size as u64);
        assert_eq!(info.tx.seq, r.seq);
        assert_eq!(info.uploaded_seg_num, size.div_ceil(SEGMENT_SIZE) as u64);
        let back = down.download(r.root).await.unwrap();
        assert!(back == data, "size {size}: download differs");
        // the SDK's download path: chunk ranges by tx seq, the tail trimmed
        let chunks = size.div_ceil(256) as u64;
        let mut via_ranges = Vec::new();
        let mut start = 0;
        while start < chunks {
            let end = (start + 1024).min(chunks);
            via_ranges.extend(
                stack
                    .client(0)
                    .download_chunks(r.seq, start, end)
                    .await
                    .unwrap()
                    .unwrap(),
            );
            start = end;
        }
        via_ranges.truncate(size);
        assert!(via_ranges == data, "size {size}: ranged download differs");
    }
    // the flow placed the files after one another
    let status = stack.client(0).status().await.unwrap();
    assert_eq!(status.next_tx_seq, 5);
    assert_eq!(status.network_identity.flow_address, FLOW_ADDRESS);
    assert_eq!(status.network_identity.chain_id, 31337);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resubmitted_file_is_finalized_at_once() {
    let stack = Stack::dev(1).await;
    let up = stack.uploader(0);
    let data = pattern(3 * SEGMENT_SIZE + 100);
    let first = up.upload(&data, &UploadOptions::default()).await.unwrap();
    // 0G's SDK submits again even when the file exists; the node shares the data.
    let second = up.upload(&data, &UploadOptions::default()).await.unwrap();
    assert_eq!(second.root, first.root);
    assert_eq!(second.seq, first.seq + 1);
    let info = stack
        .client(0)
        .file_info_by_seq(second.seq)
        .await
        .unwrap()
        .unwrap();
    assert!(info.finalized);
    let seg = stack
        .client(0)
        .download_with_proof(second.seq, 3)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(seg.data.len(), 256);
    let back = Downloader::new(vec![stack.client(0)])
        .download(first.root)
        .await
        .unwrap();
    assert!(back == data);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_each_hold_the_file() {
    let mut stack = Stack::dev(2).await;
    let data = random(2 * SEGMENT_SIZE + 7);
    let r = stack
        .uploader(1)
        .upload(&data, &UploadOptions::default())
        .await
        .unwrap();
    stack.stop_node(0).await;
    // node 1 alone serves it; the downloader skips the node that is down
    let back = Downloader::new(vec![stack.client(0), stack.client(1)])
        .download(r.root)
        .await
        .unwrap();
    assert!(back == data);
}
