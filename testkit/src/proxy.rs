//! A JSON-RPC proxy in front of a chain endpoint that forges, on demand, what a light
//! client is told: finality certificates, headers, storage proofs, anchor values and
//! anchor events. What the trust-minimised clients are tested against.
#![allow(missing_docs)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

use alloy::transports::http::reqwest;
use axum::extract::State;
use serde_json::{Value, json};

/// What the proxy forges.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u8)]
pub enum Forge {
    Nothing = 0,
    Certificate = 1,
    Header = 2,
    Proof = 3,
    /// Claims every slot holds 1 (anchored at block 1), keeping the honest proof.
    Anchor = 4,
    /// Adds, to every answer of `eth_getLogs` with logs, a copy of the first with
    /// another data root: an anchor event that never happened.
    Log = 5,
}

#[derive(Clone)]
struct Proxy {
    upstream: String,
    forge: Arc<AtomicU8>,
    http: reqwest::Client,
}

async fn relay(State(p): State<Proxy>, body: axum::body::Bytes) -> axum::Json<Value> {
    let request: Value = serde_json::from_slice(&body).unwrap();
    let method = request["method"].as_str().unwrap_or_default().to_owned();
    let mut answer: Value = p
        .http
        .post(&p.upstream)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let forge = p.forge.load(Ordering::Relaxed);
    let flip = |s: &str| -> String {
        // Flip the last hex digit.
        let mut c: Vec<char> = s.chars().collect();
        let last = c.len() - 1;
        c[last] = if c[last] == '0' { '1' } else { '0' };
        c.into_iter().collect()
    };
    let result = &mut answer["result"];
    match (forge, method.as_str()) {
        (1, "zg_getFinalityCertificate") if result.is_object() => {
            let cert = result["certificate"].as_str().unwrap().to_owned();
            result["certificate"] = json!(flip(&cert));
        }
        (2, "debug_getRawHeader") if result.is_string() => {
            let raw = result.as_str().unwrap().to_owned();
            *result = json!(flip(&raw));
        }
        (3, "eth_getProof") => {
            let node = result["storageProof"][0]["proof"][0]
                .as_str()
                .unwrap()
                .to_owned();
            result["storageProof"][0]["proof"][0] = json!(flip(&node));
        }
        (4, "eth_getProof") => {
            result["storageProof"][0]["value"] = json!("0x1");
        }
        (5, "eth_getLogs") if result.as_array().is_some_and(|a| !a.is_empty()) => {
            let mut fake = result[0].clone();
            let data = fake["data"].as_str().unwrap().to_owned();
            fake["data"] = json!(format!("0x{}{}", "5a".repeat(32), &data[66..]));
            fake["logIndex"] = json!("0x3e7");
            result.as_array_mut().unwrap().push(fake);
        }
        _ => {}
    }
    axum::Json(answer)
}

/// A proxy in front of `upstream`; returns its URL and its forging switch.
pub async fn forging_proxy(upstream: String) -> (String, Arc<AtomicU8>) {
    let forge = Arc::new(AtomicU8::new(Forge::Nothing as u8));
    let state = Proxy {
        upstream,
        forge: forge.clone(),
        http: reqwest::Client::new(),
    };
    let app = axum::Router::new()
        .route("/", axum::routing::post(relay))
        .with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, forge)
}
