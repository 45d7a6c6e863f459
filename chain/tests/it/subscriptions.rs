//! JSON-RPC over WebSocket on the HTTP port: `eth_subscribe` to `newHeads`, `logs` and
//! `newPendingTransactions` as a client library does it (raw frames), plain calls over
//! the socket, the caps on subscriptions and connections, and a cross-site upgrade
//! refused.

use std::time::Duration;

use alloy::providers::Provider;
use alloy::rpc::types::TransactionRequest;
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::helpers::{TempDir, dev_genesis, provider, signer};

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(url: &str) -> Ws {
    let ws = url.replacen("http://", "ws://", 1);
    tokio_tungstenite::connect_async(ws).await.unwrap().0
}

async fn send(ws: &mut Ws, v: Value) {
    ws.send(Message::Text(v.to_string().into())).await.unwrap();
}

async fn next_json(ws: &mut Ws) -> Value {
    loop {
        let m = tokio::time::timeout(Duration::from_secs(20), ws.next())
            .await
            .expect("a message in time")
            .expect("the socket open")
            .unwrap();
        if let Message::Text(t) = m {
            return serde_json::from_str(&t).unwrap();
        }
    }
}

/// The answer with `id`, notifications before it kept in `notes`.
async fn answer(ws: &mut Ws, id: u64, notes: &mut Vec<Value>) -> Value {
    loop {
        let v = next_json(ws).await;
        if v["id"] == json!(id) {
            return v;
        }
        notes.push(v);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriptions_over_websocket() {
    let dir = TempDir::new("ws");
    let chain = crate::helpers::start(&dir, dev_genesis(), Duration::ZERO).await;
    let url = chain.rpc_url();
    let mut ws = connect(&url).await;
    let mut notes = Vec::new();

    // A plain call over the socket.
    send(
        &mut ws,
        json!({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}),
    )
    .await;
    assert_eq!(
        answer(&mut ws, 1, &mut notes).await["result"],
        json!("0x7a69")
    );

    send(
        &mut ws,
        json!({"jsonrpc": "2.0", "id": 2, "method": "eth_subscribe", "params": ["newHeads"]}),
    )
    .await;
    let heads = answer(&mut ws, 2, &mut notes).await["result"]
        .as_str()
        .unwrap()
        .to_owned();
    send(&mut ws, json!({"jsonrpc": "2.0", "id": 3, "method": "eth_subscribe", "params": ["newPendingTransactions"]})).await;
    let pending = answer(&mut ws, 3, &mut notes).await["result"]
        .as_str()
        .unwrap()
        .to_owned();
    // Logs of contracts this one will create: the creator's first nonce's address.
    let created = signer(1).address().create(0);
    send(&mut ws, json!({"jsonrpc": "2.0", "id": 4, "method": "eth_subscribe", "params": ["logs", {"address": created}]})).await;
    let logs = answer(&mut ws, 4, &mut notes).await["result"]
        .as_str()
        .unwrap()
        .to_owned();
    send(
        &mut ws,
        json!({"jsonrpc": "2.0", "id": 5, "method": "eth_subscribe", "params": ["nope"]}),
    )
    .await;
    assert_eq!(
        answer(&mut ws, 5, &mut notes).await["error"]["code"],
        json!(-32602)
    );

    // A contract creation whose constructor logs one word.
    let p = provider(&url, signer(1));
    let init = alloy::primitives::Bytes::from_static(&[
        0x60, 0x2a, 0x60, 0x00, 0x52, 0x60, 0x20, 0x60, 0x00, 0xa0, 0x00,
    ]);
    let receipt = p
        .send_transaction(TransactionRequest {
            to: Some(alloy::primitives::TxKind::Create),
            input: init.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    let block = receipt.block_number.unwrap();
    let (mut saw_pending, mut saw_head, mut saw_log) = (false, false, false);
    while !(saw_pending && saw_head && saw_log) {
        let v = match notes.pop() {
            Some(v) => v,
            None => next_json(&mut ws).await,
        };
        assert_eq!(v["method"], json!("eth_subscription"), "{v}");
        let sub = v["params"]["subscription"].as_str().unwrap();
        let r = &v["params"]["result"];
        if sub == pending && *r == json!(receipt.transaction_hash) {
            saw_pending = true;
        } else if sub == heads && r["number"] == json!(format!("{block:#x}")) {
            assert_eq!(r["hash"], json!(receipt.block_hash.unwrap()));
            saw_head = true;
        } else if sub == logs {
            assert_eq!(r["address"], json!(created));
            assert_eq!(r["blockNumber"], json!(format!("{block:#x}")));
            saw_log = true;
        }
    }

    // Unsubscribe: true once, then false.
    send(
        &mut ws,
        json!({"jsonrpc": "2.0", "id": 6, "method": "eth_unsubscribe", "params": [heads]}),
    )
    .await;
    assert_eq!(
        answer(&mut ws, 6, &mut Vec::new()).await["result"],
        json!(true)
    );
    send(
        &mut ws,
        json!({"jsonrpc": "2.0", "id": 7, "method": "eth_unsubscribe", "params": [heads]}),
    )
    .await;
    assert_eq!(
        answer(&mut ws, 7, &mut Vec::new()).await["result"],
        json!(false)
    );

    // At most 64 subscriptions per connection (two are open).
    for i in 0..62u64 {
        send(&mut ws, json!({"jsonrpc": "2.0", "id": 100 + i, "method": "eth_subscribe", "params": ["newPendingTransactions"]})).await;
        assert!(answer(&mut ws, 100 + i, &mut Vec::new()).await["result"].is_string());
    }
    send(
        &mut ws,
        json!({"jsonrpc": "2.0", "id": 999, "method": "eth_subscribe", "params": ["newHeads"]}),
    )
    .await;
    assert_eq!(
        answer(&mut ws, 999, &mut Vec::new()).await["error"]["code"],
        json!(-32005)
    );

    // A web page on another site cannot open a socket to the node.
    let mut req = url
        .replacen("http://", "ws://", 1)
        .into_client_request()
        .unwrap();
    req.headers_mut()
        .insert("origin", "https://evil.example".parse().unwrap());
    let refused = tokio_tungstenite::connect_async(req).await.unwrap_err();
    assert!(refused.to_string().contains("403"), "{refused}");
    drop(ws);
    chain.shutdown().await.unwrap();
}

/// A subscriber that stops reading is cut off (its connection closed) once its queue is
/// full, rather than buffered without bound; the node keeps serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_subscriber_is_cut_off() {
    let dir = TempDir::new("ws-slow");
    let chain = crate::helpers::start(&dir, dev_genesis(), Duration::from_secs(3600)).await;
    let url = chain.rpc_url();
    let mut ws = connect(&url).await;
    let subs = 60u64;
    for i in 0..subs {
        send(
            &mut ws,
            json!({"jsonrpc": "2.0", "id": i, "method": "eth_subscribe", "params": ["newHeads"]}),
        )
        .await;
        assert!(answer(&mut ws, i, &mut Vec::new()).await["result"].is_string());
    }
    // 500 blocks at once: 30 000 notifications (about 30 MB) the client does not read.
    let blocks = 500u64;
    let (status, body) = crate::helpers::raw_rpc(
        &url,
        json!({"jsonrpc": "2.0", "id": 1, "method": "anvil_mine", "params": [blocks]}).to_string(),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    tokio::time::sleep(Duration::from_secs(3)).await;
    // Now read: the stream ends (closed by the node) before everything arrived.
    let mut got = 0u64;
    let ended = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(m) = ws.next().await {
            match m {
                Ok(Message::Text(_)) => got += 1,
                Ok(Message::Close(_)) | Err(_) => break,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(
        ended.is_ok(),
        "the slow subscriber was not cut off ({got} notes read)"
    );
    assert!(
        got < subs * blocks,
        "every notification was buffered: {got}"
    );
    // The node still serves, over HTTP and a new socket.
    let mut again = connect(&url).await;
    send(
        &mut again,
        json!({"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber", "params": []}),
    )
    .await;
    assert_eq!(
        answer(&mut again, 1, &mut Vec::new()).await["result"],
        json!(format!("{blocks:#x}"))
    );
    chain.shutdown().await.unwrap();
}

/// WebSocket connections beyond the cap are refused before the upgrade (503); a closed
/// one frees its place.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_connections_are_capped() {
    let dir = TempDir::new("ws-cap");
    let config = zg_chain::NodeConfig {
        genesis: dev_genesis(),
        block_time: Duration::from_secs(3600),
        rpc: zg_chain::config::RpcConfig {
            ws: zg_node_kit::pubsub::WsLimits {
                max_connections: 2,
                ..Default::default()
            },
            ..Default::default()
        },
        ..zg_chain::NodeConfig::default()
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let chain = zg_chain::start(
        &dir.0,
        config,
        listener,
        tokio_util::sync::CancellationToken::new(),
    )
    .await
    .unwrap();
    let url = chain.rpc_url();
    let a = connect(&url).await;
    let _b = connect(&url).await;
    let ws = url.replacen("http://", "ws://", 1);
    let refused = tokio_tungstenite::connect_async(ws.clone())
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("503"), "{refused}");
    drop(a);
    let mut third = None;
    for _ in 0..50 {
        if let Ok((c, _)) = tokio_tungstenite::connect_async(ws.clone()).await {
            third = Some(c);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(third.is_some(), "a closed connection's place was not freed");
    chain.shutdown().await.unwrap();
}
