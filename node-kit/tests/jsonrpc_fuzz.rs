//! Property-based fuzzing of the JSON-RPC server's request handling: arbitrary bodies,
//! and mutated valid single and batch requests, get an HTTP answer (a JSON-RPC error
//! object for anything that is not a valid call), never a panic or a hang.
//! `PROPTEST_CASES=20000` for a longer run.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, header};
use proptest::prelude::*;
use serde_json::{Value, json};
use tower::ServiceExt;
use zg_node_kit::jsonrpc::{RpcError, RpcLimits, RpcService, router};

/// Echoes its parameters; refuses `fail`.
struct Echo;

impl RpcService for Echo {
    async fn call(&self, method: &str, params: Vec<Value>) -> Result<Value, RpcError> {
        match method {
            "fail" => Err(RpcError::invalid_params("no")),
            _ => Ok(Value::Array(params)),
        }
    }
    fn health(&self) -> Result<Value, RpcError> {
        Ok(json!("ok"))
    }
    fn metrics(&self) -> String {
        String::new()
    }
}

fn post(body: Vec<u8>) -> Request<Body> {
    Request::post("/")
        .header(header::HOST, "localhost")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body))
        .unwrap()
}

fn answer(body: Vec<u8>) -> (u16, Vec<u8>) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let app = router(Arc::new(Echo), &RpcLimits::new(1 << 20));
        let resp = tokio::time::timeout(std::time::Duration::from_secs(5), app.oneshot(post(body)))
            .await
            .expect("answered in time")
            .unwrap();
        let status = resp.status().as_u16();
        let bytes = axum::body::to_bytes(resp.into_body(), 1 << 24)
            .await
            .unwrap();
        (status, bytes.to_vec())
    })
}

const VALID: &str = r#"[{"jsonrpc":"2.0","id":1,"method":"echo","params":[1,"a",{"b":[]}]},{"jsonrpc":"2.0","id":"x","method":"fail","params":[]}]"#;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_bodies_get_an_answer(b in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let (status, body) = answer(b);
        prop_assert!(status < 500, "status {status}");
        if status == 200 && !body.is_empty() {
            prop_assert!(serde_json::from_slice::<Value>(&body).is_ok());
        }
    }

    #[test]
    fn json_shaped_bodies_get_json_rpc_answers(s in r#"[\[\]{}":,0-9a-z\.\- ]{0,400}"#) {
        let (status, _) = answer(s.into_bytes());
        prop_assert!(status < 500, "status {status}");
    }

    #[test]
    fn mutated_batches_get_json_rpc_answers(
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
    ) {
        let mut b = VALID.as_bytes().to_vec();
        for (i, v) in flips {
            let i = i.index(b.len());
            b[i] ^= v;
        }
        let (status, body) = answer(b);
        prop_assert!(status < 500, "status {status}");
        if status == 200 && !body.is_empty() {
            let v: Value = serde_json::from_slice(&body).unwrap();
            prop_assert!(v.is_object() || v.is_array());
        }
    }
}

/// A batch whose answers outgrow the response budget: the calls after it answer
/// `-32005` without running.
#[tokio::test]
async fn a_batch_response_is_bounded() {
    let limits = RpcLimits {
        max_batch_response: 2_500_000,
        ..RpcLimits::new(32 << 20)
    };
    let app = router(Arc::new(Echo), &limits);
    let big = "x".repeat(1_000_000);
    let batch: Vec<Value> = (0..10)
        .map(|i| json!({"jsonrpc":"2.0","id":i,"method":"echo","params":[big]}))
        .collect();
    let resp = app
        .oneshot(post(serde_json::to_vec(&batch).unwrap()))
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let body = axum::body::to_bytes(resp.into_body(), 64 << 20)
        .await
        .unwrap();
    let out: Vec<Value> = serde_json::from_slice(&body).unwrap();
    assert_eq!(out.len(), 10);
    let answered = out.iter().filter(|v| v.get("result").is_some()).count();
    assert_eq!(answered, 3, "1 MB each until over 2.5 MB");
    for v in &out[3..] {
        assert_eq!(v["error"]["code"], -32005);
    }
    assert!(body.len() < 4_000_000);
}
