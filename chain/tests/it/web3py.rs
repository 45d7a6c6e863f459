//! web3.py, unmodified, over WebSocket: `newHeads` and `logs` subscriptions, and an
//! `eth_getProof` verified in Python against the finalized block's state root. Needs
//! python3 and PyPI (the test kit's venv); skipped with a notice without python3 unless
//! `ZG_REQUIRE_PY_SDK=1`.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::helpers::{TempDir, dev_genesis, signer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web3py_subscribes_over_websocket_and_verifies_a_proof() {
    let Some(py) = tokio::task::spawn_blocking(zg_testkit::python::venv_python)
        .await
        .unwrap()
    else {
        return;
    };
    let dir = TempDir::new("web3py");
    let chain = crate::helpers::start(&dir, dev_genesis(), Duration::from_millis(200)).await;
    let ws = chain.rpc_url().replacen("http://", "ws://", 1);
    let key = format!("0x{}", alloy::hex::encode(signer(3).to_bytes()));
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/py/subscribe.py");
    let out = tokio::task::spawn_blocking(move || {
        Command::new(py)
            .arg(script)
            .env("ZG_WS", ws)
            .env("ZG_KEY", key)
            .output()
            .expect("running python")
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "subscribe.py failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let seen: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(seen["nonce"], serde_json::json!(1), "{seen}");
    assert!(!seen["heads"].as_array().unwrap().is_empty());
    chain.shutdown().await.unwrap();
}
