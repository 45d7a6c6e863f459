use std::process::{Child, Command, Stdio};
use std::time::Duration;

use alloy::eips::BlockNumberOrTag;
use alloy::network::TransactionBuilder;
use alloy::primitives::{Address, U256};
use alloy::providers::Provider;
use alloy::rpc::types::TransactionRequest;

use crate::helpers::*;

/// Starts the real binary; returns the child and its RPC URL.
fn spawn(dir: &TempDir, block_time: &str) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_zg-chain"))
        .args([
            "--datadir",
            dir.0.to_str().unwrap(),
            "--http.addr",
            "127.0.0.1:0",
            "--block-time",
            block_time,
        ])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let url = crate::helpers::listening_url(&mut child);
    (child, url)
}

#[tokio::test]
async fn kill_9_resumes_same_head_state_and_pending_txs() {
    let dir = TempDir::new("kill9");
    let (mut child, url) = spawn(&dir, "0.2");
    let p = provider(&url, signer(3));
    let to = Address::repeat_byte(0x33);
    for i in 1..=3u64 {
        let tx = TransactionRequest::default()
            .with_to(to)
            .with_value(U256::from(i));
        assert!(mined(&p, tx).await.status());
    }
    let n = p.get_block_number().await.unwrap();
    let block = p
        .get_block_by_number(BlockNumberOrTag::Number(n))
        .await
        .unwrap()
        .unwrap();
    let balance = p.get_balance(signer(3).address()).await.unwrap();
    child.kill().unwrap(); // SIGKILL: no shutdown path runs
    child.wait().unwrap();

    // Restart without block production: the same chain, the same state.
    let (mut child, url) = spawn(&dir, "3600");
    let p = provider(&url, signer(3));
    let head = p.get_block_number().await.unwrap();
    assert!(head >= n);
    let same = p
        .get_block_by_number(BlockNumberOrTag::Number(n))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(same.header.hash, block.header.hash);
    assert_eq!(p.get_balance(to).await.unwrap(), U256::from(6));
    assert_eq!(p.get_balance(signer(3).address()).await.unwrap(), balance);

    // An acknowledged pending transaction survives a crash.
    let tx = TransactionRequest::default()
        .with_to(to)
        .with_value(U256::from(100))
        .with_gas_limit(21_000)
        .with_max_fee_per_gas(50_000_000_000)
        .with_max_priority_fee_per_gas(1_000_000_000);
    let pending = p.send_transaction(tx).await.unwrap();
    let hash = *pending.tx_hash();
    assert!(
        p.get_transaction_by_hash(hash)
            .await
            .unwrap()
            .unwrap()
            .block_number
            .is_none()
    );
    child.kill().unwrap();
    child.wait().unwrap();

    let (mut child, url) = spawn(&dir, "0.2");
    let p = provider(&url, signer(3));
    let mut mined = None;
    for _ in 0..100 {
        if let Some(r) = p.get_transaction_receipt(hash).await.unwrap() {
            mined = Some(r);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(mined.expect("journaled tx mined after restart").status());
    assert_eq!(p.get_balance(to).await.unwrap(), U256::from(106));
    child.kill().unwrap();
    child.wait().unwrap();
}

#[tokio::test]
async fn graceful_restart_in_process() {
    let dir = TempDir::new("restart");
    let chain = start(&dir, dev_genesis(), Duration::ZERO).await;
    let p = provider(&chain.rpc_url(), signer(4));
    let tx = TransactionRequest::default()
        .with_to(Address::repeat_byte(0x44))
        .with_value(U256::from(5));
    let r = mined(&p, tx).await;
    let head = chain.node.head();
    chain.shutdown().await.unwrap();
    let chain = start(&dir, dev_genesis(), Duration::ZERO).await;
    assert_eq!(chain.node.head().hash, head.hash);
    let p = provider(&chain.rpc_url(), signer(4));
    assert_eq!(
        p.get_transaction_receipt(r.transaction_hash)
            .await
            .unwrap()
            .unwrap()
            .block_hash,
        r.block_hash
    );
    chain.shutdown().await.unwrap();
    // Another genesis on the same datadir is refused.
    let mut other = dev_genesis();
    other.chain_id = 7;
    let config = zg_chain::NodeConfig {
        genesis: other,
        ..Default::default()
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let err = zg_chain::start(&dir.0, config, listener, Default::default())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("another genesis"), "{err}");
}
