//! Integration tests of zg-compute: a real chain, the echo upstream and brokers on
//! loopback ports, driven as 0G's SDK and the OpenAI clients drive them.

mod config;
mod crash;
mod flow;
mod rejections;
mod restart;
mod sdk;

use alloy::signers::local::PrivateKeySigner;
use alloy::transports::http::reqwest;
use alloy_primitives::Address;
use serde_json::{Value, json};
use zg_compute::SessionToken;

/// A session-token API key for `user` at `provider`.
pub(crate) fn api_key(user: &PrivateKeySigner, provider: Address, generation: u64) -> String {
    SessionToken::ephemeral(user.address(), provider, generation, 3_600_000).api_key(user)
}

/// POSTs a chat completion; returns status and body (JSON or raw text as a string).
pub(crate) async fn chat(
    broker: &str,
    key: Option<&str>,
    body: Value,
) -> (u16, Value, reqwest::header::HeaderMap) {
    let mut req = reqwest::Client::new()
        .post(format!("{broker}/v1/proxy/chat/completions"))
        .json(&body);
    if let Some(k) = key {
        req = req.bearer_auth(k);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap();
    let v = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, v, headers)
}

/// GETs the SDK's unsettled-fee route of `user` with the session `key`.
pub(crate) async fn unsettled_fee(broker: &str, key: &str, user: Address) -> reqwest::Response {
    reqwest::Client::new()
        .get(format!("{broker}/v1/user/{user}/unsettledfee"))
        .bearer_auth(key)
        .send()
        .await
        .unwrap()
}

pub(crate) fn hello(words: &str) -> Value {
    json!({"model": zg_compute::upstream::ECHO_MODEL, "messages": [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": words},
    ]})
}
