use std::time::Duration;

use alloy::consensus::SignableTransaction;
use alloy::network::{TransactionBuilder, TxSigner};
use alloy::primitives::{Address, U256};
use alloy::providers::Provider;
use alloy::rpc::types::TransactionRequest;
use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn malformed_requests_get_json_rpc_errors() {
    let dir = TempDir::new("bad");
    let chain = start(&dir, dev_genesis(), Duration::ZERO).await;
    let url = chain.rpc_url();
    let code = |v: &serde_json::Value| v["error"]["code"].as_i64();
    let message = |v: &serde_json::Value| v["error"]["message"].as_str().unwrap().to_string();

    // Each request and the error code it gets.
    for (body, want) in [
        ("{not json", -32700),
        (r#"{"jsonrpc":"2.0","id":1}"#, -32600),
        (r#"{"jsonrpc":"1.0","id":1,"method":"eth_chainId"}"#, -32600),
        (
            r#"{"jsonrpc":"2.0","id":1,"method":"eth_nope","params":[]}"#,
            -32601,
        ),
        (
            r#"{"jsonrpc":"2.0","id":1,"method":"eth_getBalance","params":["0x12"]}"#,
            -32602,
        ),
        (
            r#"{"jsonrpc":"2.0","id":1,"method":"eth_getBalance","params":{}}"#,
            -32602,
        ),
        (
            r#"{"jsonrpc":"2.0","id":1,"method":"eth_getBlockByNumber","params":["0xzz", false]}"#,
            -32602,
        ),
        (
            r#"{"jsonrpc":"2.0","id":1,"method":"eth_sendRawTransaction","params":["0xdeadbeef"]}"#,
            -32602,
        ),
    ] {
        let (_, r) = raw_rpc(&url, body).await;
        assert_eq!(code(&r), Some(want), "{body}");
    }
    let (_, r) = raw_rpc(
        &url,
        r#"{"jsonrpc":"2.0","id":1,"method":"anvil_mine","params":["0x6"]}"#,
    )
    .await;
    assert_eq!(r["result"], json!("0x6"));
    for (body, want) in [
        (
            r#"{"jsonrpc":"2.0","id":1,"method":"eth_getLogs","params":[{"fromBlock":"0x5","toBlock":"0x1"}]}"#,
            -32602,
        ),
        (
            r#"{"jsonrpc":"2.0","id":1,"method":"eth_getLogs","params":[{"blockHash":"0x1111111111111111111111111111111111111111111111111111111111111111"}]}"#,
            -32000,
        ),
        (
            r#"{"jsonrpc":"2.0","id":1,"method":"anvil_mine","params":["0xfffff"]}"#,
            -32602,
        ),
    ] {
        let (_, r) = raw_rpc(&url, body).await;
        assert_eq!(code(&r), Some(want), "{body}");
    }
    // Batches, including an empty one and a mixed one.
    let (_, r) = raw_rpc(&url, "[]").await;
    assert_eq!(code(&r), Some(-32600));
    let (_, r) = raw_rpc(&url, r#"[{"jsonrpc":"2.0","id":1,"method":"eth_chainId"},{"jsonrpc":"2.0","id":2,"method":"bogus"}, 5]"#).await;
    let arr = r.as_array().unwrap();
    assert_eq!(arr.len(), 3);
    assert_eq!(arr[0]["result"], json!("0x7a69"));
    assert_eq!(code(&arr[1]), Some(-32601));
    assert_eq!(code(&arr[2]), Some(-32600));
    // Oversized body: refused before parsing.
    let big = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":["{}"]}}"#,
        "a".repeat(2 * 1024 * 1024)
    );
    let (status, _) = raw_rpc(&url, big).await;
    assert_eq!(status, 413);
    // Historical state is refused with a message, not wrong data.
    let (_, r) = raw_rpc(&url, r#"{"jsonrpc":"2.0","id":1,"method":"eth_getBalance","params":["0x0000000000000000000000000000000000000000","0x999999"]}"#).await;
    assert_eq!(code(&r), Some(-32000));

    // Transaction rejections (-32000) with geth's messages.
    let alice = signer(5);
    let p = provider(&url, alice.clone());
    let base = || {
        TransactionRequest::default()
            .with_to(Address::repeat_byte(1))
            .with_chain_id(31337)
            .with_max_fee_per_gas(10_000_000_000)
            .with_max_priority_fee_per_gas(1_000_000_000)
    };
    let send_raw = |tx: TransactionRequest| {
        let alice = alice.clone();
        let url = url.clone();
        async move {
            let mut typed = tx.build_typed_tx().unwrap();
            let sig = alice.sign_transaction(&mut typed).await.unwrap();
            let env: alloy::consensus::TxEnvelope = typed.into_signed(sig).into();
            let raw = alloy::eips::Encodable2718::encoded_2718(&env);
            raw_rpc(&url, json!({"jsonrpc":"2.0","id":1,"method":"eth_sendRawTransaction","params":[alloy::primitives::hex::encode_prefixed(raw)]}).to_string()).await.1
        }
    };
    let r = send_raw(base().with_nonce(0).with_gas_limit(20_000)).await;
    assert!(message(&r).contains("intrinsic gas too low"), "{r}");
    let r = send_raw(
        base()
            .with_nonce(0)
            .with_gas_limit(21_000)
            .with_value(U256::MAX / U256::from(2)),
    )
    .await;
    assert!(message(&r).contains("insufficient funds"), "{r}");
    let r = send_raw(base().with_nonce(0).with_gas_limit(40_000_000)).await;
    assert!(message(&r).contains("exceeds block gas limit"), "{r}");
    let r = send_raw(base().with_nonce(0).with_gas_limit(21_000).with_chain_id(1)).await;
    assert!(message(&r).contains("invalid chain id"), "{r}");
    let ok = send_raw(base().with_nonce(0).with_gas_limit(21_000)).await;
    assert!(ok["result"].is_string(), "{ok}");
    let dup = send_raw(base().with_nonce(0).with_gas_limit(21_000)).await;
    assert_eq!(code(&dup), Some(-32000));
    // Wait for it, then reuse the nonce.
    let hash: alloy::primitives::B256 = serde_json::from_value(ok["result"].clone()).unwrap();
    for _ in 0..100 {
        if p.get_transaction_receipt(hash).await.unwrap().is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let r = send_raw(
        base()
            .with_nonce(0)
            .with_gas_limit(21_000)
            .with_value(U256::from(9)),
    )
    .await;
    assert!(message(&r).contains("nonce too low"), "{r}");

    // Health and metrics.
    let client = alloy::transports::http::reqwest::Client::new();
    let h = client.get(format!("{url}/health")).send().await.unwrap();
    assert_eq!(h.status().as_u16(), 200);
    let m = client
        .get(format!("{url}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(m.contains("zg_chain_head_block"), "{m}");
    assert!(m.contains("zg_chain_rpc_requests_total"));
    chain.shutdown().await.unwrap();
}
