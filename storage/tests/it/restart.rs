//! What a node acknowledged survives a restart; a node that was down catches up.

use std::time::Duration;

use zg_storage::{Downloader, FileMerkle, SEGMENT_SIZE, UploadOptions};
use zg_testkit::storage::Stack;

use crate::{random, segments};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_segments_survive_a_restart() {
    let mut stack = Stack::dev(1).await;
    let up = stack.uploader(0);
    let done = random(2 * SEGMENT_SIZE + 5);
    let first = up.upload(&done, &UploadOptions::default()).await.unwrap();

    let partial = random(6 * SEGMENT_SIZE);
    let m = FileMerkle::new(&partial).unwrap();
    let (seq, _, _) = up.submit(&m, &[]).await.unwrap();
    let c = stack.client(0);
    while c.file_info_by_seq(seq).await.unwrap().is_none() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    c.upload_segments(&segments(&partial, &m, 0..3), seq)
        .await
        .unwrap();

    stack.restart_node(0).await;
    let c = stack.client(0);
    let info = c.file_info_by_seq(seq).await.unwrap().unwrap();
    assert_eq!(info.uploaded_seg_num, 3);
    assert!(!info.finalized);
    // re-sending an acknowledged segment is harmless
    c.upload_segments(&segments(&partial, &m, 2..6), seq)
        .await
        .unwrap();
    let info = c.file_info_by_seq(seq).await.unwrap().unwrap();
    assert_eq!(info.uploaded_seg_num, 6);
    assert!(info.finalized);

    stack.restart_node(0).await;
    let down = Downloader::new(vec![stack.client(0)]);
    assert!(down.download(first.root).await.unwrap() == done);
    assert!(down.download(m.root()).await.unwrap() == partial);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_was_down_catches_up() {
    let mut stack = Stack::dev(1).await;
    let up = stack.uploader(2);
    stack.stop_node(0).await;
    let data = random(SEGMENT_SIZE / 2);
    let m = FileMerkle::new(&data).unwrap();
    let (seq, _, _) = up.submit(&m, &[]).await.unwrap();
    stack.restart_node(0).await;
    let c = stack.client(0);
    let mut seen = None;
    for _ in 0..500 {
        seen = c.file_info_by_seq(seq).await.unwrap();
        if seen.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(seen.unwrap().tx.data_merkle_root, m.root());
    c.upload_segments(&segments(&data, &m, 0..1), seq)
        .await
        .unwrap();
    assert!(Downloader::new(vec![c]).download(m.root()).await.unwrap() == data);
}
