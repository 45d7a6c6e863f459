//! Every rejection path: 4xx with a message, nothing forwarded upstream, nothing charged.

use alloy::signers::local::PrivateKeySigner;
use alloy::transports::http::reqwest;
use alloy_primitives::U256;
use alloy_sol_types::SolCall;
use serde_json::json;
use zg_compute::SessionToken;
use zg_primitives::abi::{IInferenceServing as S, SERVING_ADDRESS};
use zg_testkit::compute::*;

use crate::{api_key, chat, hello};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_forward_and_charge_nothing() {
    let stack = Stack::new().await;
    let dir = TempDir::new("reject");
    let mut config = stack.config(dir.0.clone());
    config.max_body_bytes = 64 * 1024;
    let broker = stack.broker(config).await;
    let url = broker.url();
    let provider = broker.provider();
    let (user, up) = stack.user(3, 10, ether(2)).await;
    let key = api_key(&user, provider, 0);
    let stats = stack.upstream_stats.clone();

    let refused = |status: u16, body: &serde_json::Value, want: u16, text: &str| {
        assert_eq!(status, want, "{body}");
        let msg = body["error"].as_str().unwrap_or_default();
        assert!(msg.contains(text), "{msg:?} should mention {text:?}");
    };

    // The owner has not acknowledged the TEE signer yet: 503, nothing forwarded.
    let (s, b, _) = chat(&url, Some(&key), hello("hi")).await;
    refused(s, &b, 503, "TEE signer");
    stack.acknowledge().await;

    // Tokens: none, not app-sk, garbage, signed by another key, for another provider,
    // expired, future generation.
    let (s, b, _) = chat(&url, None, hello("hi")).await;
    refused(s, &b, 401, "missing Authorization");
    let (s, b, _) = chat(&url, Some("sk-openai-style"), hello("hi")).await;
    refused(s, &b, 401, "app-sk-");
    let (s, b, _) = chat(&url, Some("app-sk-%%%"), hello("hi")).await;
    refused(s, &b, 401, "base64");
    let mallory = PrivateKeySigner::random();
    let mut forged = SessionToken::ephemeral(user.address(), provider, 0, 60_000);
    let (s, b, _) = chat(&url, Some(&forged.api_key(&mallory)), hello("hi")).await;
    refused(s, &b, 401, "not the token's address");
    let other = api_key(&user, stack.owner_address(), 0);
    let (s, b, _) = chat(&url, Some(&other), hello("hi")).await;
    refused(s, &b, 401, "for provider");
    forged.timestamp -= 3_600_000;
    forged.expires_at = forged.timestamp + 1_000;
    let (s, b, _) = chat(&url, Some(&forged.api_key(&user)), hello("hi")).await;
    refused(s, &b, 401, "expired");
    let (s, b, _) = chat(&url, Some(&api_key(&user, provider, 7)), hello("hi")).await;
    refused(s, &b, 401, "future generation");

    // A user without a sub-account: 402.
    let (stranger, _) = stack.user(4, 1, U256::ZERO).await;
    let (s, b, _) = chat(&url, Some(&api_key(&stranger, provider, 0)), hello("hi")).await;
    refused(s, &b, 402, "no sub-account");

    // Request shape: not JSON, not an object, too large, unknown route, wrong method.
    let raw = |path: &str, body: Vec<u8>| {
        reqwest::Client::new()
            .post(format!("{url}{path}"))
            .bearer_auth(&key)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let r = raw("/v1/proxy/chat/completions", b"{nope".to_vec())
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("not JSON"));
    let r = raw("/v1/proxy/chat/completions", b"[1,2]".to_vec())
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = raw(
        "/v1/proxy/chat/completions",
        br#"{"messages":[],"stream":"true"}"#.to_vec(),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("stream must be a boolean"));
    let r = raw("/v1/proxy/chat/completions", vec![b' '; 100 * 1024])
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    assert!(r.text().await.unwrap().contains("maximum allowed size"));
    let r = raw("/v1/proxy/fine-tuning/jobs", b"{}".to_vec())
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = reqwest::Client::new()
        .get(format!("{url}/v1/proxy/chat/completions"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);

    assert_eq!(stats.requests(), 0, "nothing reached the upstream");
    assert!(
        broker.store().pending().unwrap().is_empty(),
        "nothing charged"
    );

    // An upstream error is passed through and not charged.
    let (s, b, _) = chat(&url, Some(&key), json!({"model": "fail", "messages": []})).await;
    assert_eq!(s, 503, "{b}");
    assert_eq!(stats.requests(), 1);
    assert!(broker.store().pending().unwrap().is_empty());

    // Served once; then the user revokes every token: the old key is refused.
    let (s, _, _) = chat(&url, Some(&key), hello("hi")).await;
    assert_eq!(s, 200);
    send(
        &up,
        SERVING_ADDRESS,
        S::revokeAllTokensCall { provider }.abi_encode(),
        U256::ZERO,
    )
    .await
    .unwrap();
    let (s, b, _) = chat(&url, Some(&key), hello("hi")).await;
    refused(s, &b, 401, "revoked");
    // A persistent token revoked by id.
    let mut persistent = SessionToken::ephemeral(user.address(), provider, 1, 0);
    persistent.token_id = 9;
    persistent.expires_at = 0;
    let (s, _, _) = chat(&url, Some(&persistent.api_key(&user)), hello("hi")).await;
    assert_eq!(s, 200);
    send(
        &up,
        SERVING_ADDRESS,
        S::revokeTokenCall {
            provider,
            tokenId: 9,
        }
        .abi_encode(),
        U256::ZERO,
    )
    .await
    .unwrap();
    let (s, b, _) = chat(&url, Some(&persistent.api_key(&user)), hello("hi")).await;
    refused(s, &b, 401, "revoked");
    let served = stats.requests();
    let pending = broker.store().pending().unwrap().len();
    assert_eq!(pending, 2);

    // Insufficient balance: a sub-account that cannot keep the reserve free.
    let (poor, poor_p) = stack.user(5, 1, ether(1) / U256::from(100)).await;
    let poor_key = api_key(&poor, provider, 0);
    let dir2 = TempDir::new("reject2");
    let mut config = stack.config(dir2.0.clone());
    config.register = None;
    config.min_locked_balance = ether(1);
    config.max_user_concurrency = 0;
    let strict = stack.broker(config).await;
    let (s, b, _) = chat(&strict.url(), Some(&poor_key), hello("hi")).await;
    refused(s, &b, 402, "insufficient balance");
    // A user who can pay but has every request slot in use: 429.
    let current = api_key(&user, provider, 1);
    let (s, b, _) = chat(&strict.url(), Some(&current), hello("hi")).await;
    refused(s, &b, 429, "in progress");
    // Queued refunds do not count as locked: after retrieveFund even the lenient
    // broker refuses the user.
    let retrieve = zg_primitives::abi::ILedgerManager::retrieveFundCall {
        providers: vec![provider],
        serviceName: zg_primitives::abi::INFERENCE_SERVICE_NAME.into(),
    }
    .abi_encode();
    send(
        &poor_p,
        zg_primitives::abi::LEDGER_ADDRESS,
        retrieve,
        U256::ZERO,
    )
    .await
    .unwrap();
    let (s, b, _) = chat(&url, Some(&poor_key), hello("hi")).await;
    refused(s, &b, 402, "insufficient balance");
    assert_eq!(stats.requests(), served);
    assert_eq!(broker.store().pending().unwrap().len(), pending);
    strict.shutdown().await;
    broker.shutdown().await;
}
