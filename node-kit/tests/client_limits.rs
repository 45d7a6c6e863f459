//! Per-client limits on a real server: an untrusted client address gets its burst and is
//! then refused with 429 (after being held), a batch costing more than its burst is
//! refused as a JSON-RPC error, other clients are unaffected, and trusted (loopback)
//! clients are never limited. Clients connect from other loopback addresses
//! (127.0.0.2, 127.0.0.3), which stand for remote hosts.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket};
use zg_node_kit::jsonrpc::{RpcError, RpcLimits, RpcService, serve};

struct Echo;

impl RpcService for Echo {
    async fn call(&self, _method: &str, params: Vec<Value>) -> Result<Value, RpcError> {
        Ok(Value::Array(params))
    }
    fn health(&self) -> Result<Value, RpcError> {
        Ok(json!("ok"))
    }
    fn metrics(&self) -> String {
        String::new()
    }
}

/// One request from `from`; the status and body of the answer.
async fn post(server: SocketAddr, from: &str, body: &str) -> (u16, String) {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(format!("{from}:0").parse().unwrap()).unwrap();
    let mut s = socket.connect(server).await.unwrap();
    let req = format!(
        "POST / HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    let status = out[9..12].parse().unwrap();
    let body = out.split("\r\n\r\n").nth(1).unwrap_or("").to_string();
    (status, body)
}

#[tokio::test]
async fn untrusted_clients_are_rate_limited_and_trusted_ones_are_not() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut limits = RpcLimits::new(1 << 20);
    limits.http.clients.rate = 5;
    limits.http.clients.burst = 10;
    limits.http.clients.max_delay = Duration::from_millis(100);
    tokio::spawn(
        async move { serve(listener, Arc::new(Echo), &limits, std::future::pending()).await },
    );
    let call = r#"{"jsonrpc":"2.0","id":1,"method":"echo","params":[1]}"#;

    // The burst, then a refusal that was held for the delay first.
    for i in 0..10 {
        assert_eq!(post(addr, "127.0.0.2", call).await.0, 200, "request {i}");
    }
    let t = Instant::now();
    let (status, body) = post(addr, "127.0.0.2", call).await;
    assert_eq!(status, 429, "{body}");
    assert!(body.contains("rate_limited"), "{body}");
    assert!(
        t.elapsed() >= Duration::from_millis(90),
        "{:?}",
        t.elapsed()
    );

    // Another client has its own bucket; a batch costing more than it is refused
    // without running.
    let batch = format!("[{}]", [call; 11].join(","));
    let (status, body) = post(addr, "127.0.0.3", &batch).await;
    assert_eq!(status, 200);
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["error"]["code"], -32005, "{body}");
    assert_eq!(post(addr, "127.0.0.3", call).await.0, 200);

    // The node's own sidecars on 127.0.0.1 are trusted: never limited.
    for i in 0..50 {
        assert_eq!(
            post(addr, "127.0.0.1", call).await.0,
            200,
            "trusted request {i}"
        );
    }
    let (status, body) = post(addr, "127.0.0.1", &batch).await;
    assert_eq!(status, 200);
    assert_eq!(
        serde_json::from_str::<Value>(&body)
            .unwrap()
            .as_array()
            .unwrap()
            .len(),
        11
    );

    // A limited client recovers at its rate.
    tokio::time::sleep(Duration::from_millis(450)).await;
    assert_eq!(post(addr, "127.0.0.2", call).await.0, 200);
}
