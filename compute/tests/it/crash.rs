//! The broker binary SIGKILLed right after answering: the fees it billed are there when
//! it comes back, and they settle.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use alloy_primitives::U256;
use zg_testkit::compute::*;

use crate::{api_key, chat, hello, unsettled_fee};

fn spawn(stack: &Stack, datadir: &std::path::Path, addr: &str) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_zg-compute-broker"))
        .args(["serve", "--addr", addr, "--datadir"])
        .arg(datadir)
        .args([
            "--chain.rpc",
            &stack.rpc(),
            "--upstream.url",
            &stack.upstream,
        ])
        .args([
            "--provider.key",
            &hex::encode(stack.provider_key.to_bytes()),
        ])
        .args(["--tee.key", &hex::encode(stack.tee_key.to_bytes())])
        .args(["--service.register", "--settle.interval", "3600"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let out = child.stdout.take().unwrap();
    // Logs share stdout: read it all (a full pipe would stall the broker), pass on the
    // ready line.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if let Some(rest) = line.strip_prefix("zg-compute-broker listening on ") {
                let _ = tx.send(
                    rest.split_whitespace()
                        .next()
                        .unwrap_or_default()
                        .to_string(),
                );
            }
        }
    });
    let url = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("the broker's ready line");
    (child, url)
}

async fn unsettled(url: &str, key: &str, user: alloy_primitives::Address) -> U256 {
    let v: serde_json::Value = unsettled_fee(url, key, user).await.json().await.unwrap();
    v["unsettledFee"].as_str().unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkilled_broker_keeps_what_it_billed() {
    let stack = Stack::new().await;
    let dir = TempDir::new("crash");
    let (mut child, url) = spawn(&stack, &dir.0, "127.0.0.1:0");
    stack.acknowledge().await;
    let (user, _) = stack.user(3, 10, ether(2)).await;
    let key = api_key(&user, stack.provider_key.address(), 0);
    for i in 0..5 {
        let (s, b, _) = chat(&url, Some(&key), hello(&format!("crash test {i}"))).await;
        assert_eq!(s, 200, "{b}");
    }
    let owed = unsettled(&url, &key, user.address()).await;
    assert!(owed > U256::ZERO);
    // SIGKILL: no shutdown path runs.
    child.kill().unwrap();
    child.wait().unwrap();

    let (mut child, url) = spawn(&stack, &dir.0, "127.0.0.1:0");
    assert_eq!(unsettled(&url, &key, user.address()).await, owed);
    // The restarted broker settles them through the library on the same store.
    child.kill().unwrap();
    child.wait().unwrap();
    let mut config = stack.config(dir.0.clone());
    config.register = None;
    let broker = stack.broker(config).await;
    let report = broker.settle_now().await.unwrap();
    assert_eq!(report.settled, owed);
    assert_eq!(stack.account(user.address()).await.balance, ether(2) - owed);
    broker.shutdown().await;
}
