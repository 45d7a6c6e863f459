//! Crash safety: the storage node as its own OS process, SIGKILLed mid-upload. What it
//! acknowledged is there after the restart; the upload then completes.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use zg_storage::{FileMerkle, NodeClient, SEGMENT_SIZE};
use zg_testkit::storage::{Stack, TempDir};

use crate::{download_from, random, segments};

/// A node process, SIGKILLed when dropped (also when the test fails).
struct Proc(Child);

impl Proc {
    fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

fn spawn(dir: &TempDir, port: u16, chain: &str) -> Proc {
    Proc(
        Command::new(env!("CARGO_BIN_EXE_zg-storage"))
            .args([
                "node",
                "--datadir",
                dir.0.to_str().unwrap(),
                "--rpc.addr",
                &format!("127.0.0.1:{port}"),
                "--chain.rpc",
                chain,
                "--chain.poll-ms",
                "20",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting zg-storage"),
    )
}

async fn ready(c: &NodeClient) {
    for _ in 0..500 {
        if c.status().await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("zg-storage did not come up");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_keeps_every_acknowledged_segment() {
    // the chain in this process, no storage node of the stack's own
    let stack = Stack::dev(0).await;
    let dir = TempDir::new("crash");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let chain = stack.chain.rpc_url();
    let mut child = spawn(&dir, port, &chain);
    let c = NodeClient::new(&format!("http://127.0.0.1:{port}")).unwrap();
    ready(&c).await;

    let data = random(8 * SEGMENT_SIZE + 3);
    let m = FileMerkle::new(&data).unwrap();
    let up = zg_storage::Uploader::new(
        vec![c.clone()],
        &chain,
        zg_testkit::storage::dev_signer(4),
        zg_primitives::abi::FLOW_ADDRESS,
    )
    .unwrap();
    let (seq, _, _) = up.submit(&m, &[]).await.unwrap();
    while c.file_info_by_seq(seq).await.unwrap().is_none() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // five segments acknowledged, one call at a time
    for i in 0..5 {
        c.upload_segments(&segments(&data, &m, i..i + 1), seq)
            .await
            .unwrap();
    }
    child.kill(); // SIGKILL: no shutdown, no flush

    let mut child = spawn(&dir, port, &chain);
    ready(&c).await;
    let info = c.file_info_by_seq(seq).await.unwrap().unwrap();
    assert_eq!(
        info.uploaded_seg_num, 5,
        "every acknowledged segment survived"
    );
    c.upload_segments(&segments(&data, &m, 5..9), seq)
        .await
        .unwrap();
    assert!(c.file_info_by_seq(seq).await.unwrap().unwrap().finalized);
    assert!(download_from(&c, &m).await == data);

    // killed again after finalizing: still complete
    child.kill();
    let _child = spawn(&dir, port, &chain);
    ready(&c).await;
    assert!(download_from(&c, &m).await == data);
}
