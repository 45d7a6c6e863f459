//! The stock Python clients against our chain and broker: web3.py creates the ledger
//! and funds the provider sub-account through 0G's ABI, the `openai` package chats
//! through the broker with a 0G session token (plain and streamed) and gets a 401 for a
//! bad key; then the broker settles what it metered.
//! Needs python3 and PyPI (the test kit's venv, `testkit/py/.venv`, from its pinned
//! `requirements.txt`): without python3 the test says so and passes, unless
//! `ZG_REQUIRE_PY_SDK=1` (CI sets it where python3 is installed).

use std::path::{Path, PathBuf};
use std::process::Command;

use alloy_primitives::U256;
use tokio::net::TcpListener;
use zg_testkit::compute::*;

fn sdk_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sdk")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_web3_and_openai_clients_work_unmodified() {
    let Some(py) = tokio::task::spawn_blocking(zg_testkit::python::venv_python)
        .await
        .unwrap()
    else {
        return;
    };
    let stack = Stack::new().await;
    let dir = TempDir::new("sdk");
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let mut config = stack.config(dir.0.clone());
    if let Some(spec) = config.register.as_mut() {
        spec.url = url.clone();
    }
    let broker = zg_compute::start(config, listener, stack.cancel.child_token())
        .await
        .unwrap();
    stack.acknowledge().await;
    let user = dev_signer(6);

    let (rpc, provider) = (stack.rpc(), broker.provider());
    let out = tokio::task::spawn_blocking(move || {
        Command::new(py)
            .arg("flow.py")
            .current_dir(sdk_dir())
            .env("ZG_RPC", rpc)
            .env("ZG_PROVIDER", provider.to_string())
            .env("ZG_USER_KEY", format!("0x{}", hex::encode(user.to_bytes())))
            .output()
            .expect("running python")
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "flow.py failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let seen: serde_json::Value =
        serde_json::from_slice(out.stdout.trim_ascii()).expect("flow.py prints JSON");
    assert_eq!(seen["service"], "inference-v1.0");
    assert_eq!(seen["content"], "echo: hello from python");
    assert_eq!(seen["prompt_tokens"], 3);
    assert_eq!(seen["streamed"], "echo: stream me");
    assert_eq!(seen["refused"], 401);

    // What the broker metered for those two requests, settled on chain.
    let user = dev_signer(6).address();
    let fee = U256::from(3 * INPUT_PRICE + 4 * OUTPUT_PRICE + 2 * INPUT_PRICE + 3 * OUTPUT_PRICE);
    for _ in 0..100 {
        if broker.store().unsettled(&user).unwrap() == fee {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(broker.store().unsettled(&user).unwrap(), fee);
    let report = broker.settle_now().await.unwrap();
    assert_eq!(report.settled, fee);
    assert_eq!(stack.account(user).await.balance, ether(2) - fee);
    broker.shutdown().await;
}
