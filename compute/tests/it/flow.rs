//! The whole user flow: ledger, transfer, requests (plain, streamed, embeddings),
//! settlement on chain, refund back to the wallet.

use alloy::providers::Provider;
use alloy::transports::http::reqwest;
use alloy_primitives::U256;
use alloy_sol_types::SolCall;
use serde_json::json;
use zg_primitives::abi::{ILedgerManager as L, INFERENCE_SERVICE_NAME, LEDGER_ADDRESS};
use zg_testkit::compute::*;

use crate::{api_key, chat, hello, unsettled_fee};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_flow_request_settle_refund() {
    let stack = Stack::new().await;
    let dir = TempDir::new("flow");
    let broker = stack.broker(stack.config(dir.0.clone())).await;
    let url = broker.url();
    let provider = broker.provider();
    stack.acknowledge().await;
    let (user, up) = stack.user(3, 10, ether(2)).await;
    let key = api_key(&user, provider, 0);

    // The service as clients discover it.
    let svc: serde_json::Value = reqwest::get(format!("{url}/v1/service"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(svc["model"], zg_compute::upstream::ECHO_MODEL);
    assert_eq!(svc["teeSignerAcknowledged"], true);

    // A chat completion: "be brief" + "hello there world" = 5 prompt tokens, the answer
    // "echo: hello there world" 4 completion tokens.
    let (status, body, headers) = chat(&url, Some(&key), hello("hello there world")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["choices"][0]["message"]["content"],
        "echo: hello there world"
    );
    assert_eq!(body["usage"]["prompt_tokens"], 5);
    assert!(headers.get("zg-res-key").is_some());
    let fee1 = U256::from(5 * INPUT_PRICE + 4 * OUTPUT_PRICE);
    assert_eq!(broker.store().unsettled(&user.address()).unwrap(), fee1);

    // The same route under /v1/proxy/v1/…, streamed: the broker forces a usage chunk.
    let resp = reqwest::Client::new()
        .post(format!("{url}/v1/proxy/v1/chat/completions"))
        .bearer_auth(&key)
        // `stream_options: null` must not switch the usage report off.
        .json(&json!({"messages": [{"role": "user", "content": "one two"}], "stream": true, "stream_options": null}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let sse = resp.text().await.unwrap();
    assert!(
        sse.contains("\"usage\"") && sse.trim_end().ends_with("data: [DONE]"),
        "{sse}"
    );
    let fee2 = U256::from(2 * INPUT_PRICE + 3 * OUTPUT_PRICE);
    // Billing happens when the stream ends: wait for the record.
    for _ in 0..100 {
        if broker.store().unsettled(&user.address()).unwrap() == fee1 + fee2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(
        broker.store().unsettled(&user.address()).unwrap(),
        fee1 + fee2
    );

    // Embeddings: prompt tokens only.
    let resp = reqwest::Client::new()
        .post(format!("{url}/v1/proxy/embeddings"))
        .bearer_auth(&key)
        .json(&json!({"input": ["a b c"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let fee3 = U256::from(3 * INPUT_PRICE);
    let total = fee1 + fee2 + fee3;

    // The SDK's unsettled-fee route, for this user only.
    let fee: serde_json::Value = unsettled_fee(&url, &key, user.address())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(fee["unsettledFee"], total.to_string());
    let other = unsettled_fee(&url, &key, provider).await;
    assert_eq!(other.status(), 401);

    // Settlement: one item for the user, paid to the provider.
    let before = up.get_balance(provider).await.unwrap();
    let report = broker.settle_now().await.unwrap();
    assert_eq!(report.statuses, vec![(user.address(), 0)]);
    assert_eq!(report.settled, total);
    // Paid the fees, less the settlement transaction's gas.
    let after = up.get_balance(provider).await.unwrap();
    assert!(after > before + total - ether(1) / U256::from(100) && after < before + total);
    let acct = stack.account(user.address()).await;
    assert_eq!(acct.balance, ether(2) - total);
    assert!(acct.nonce > U256::ZERO);
    assert!(broker.store().pending().unwrap().is_empty());
    // Nothing left: the next round sends nothing.
    assert_eq!(broker.settle_now().await.unwrap().items, 0);

    // Refund: retrieve (queues), wait out the lock in blocks, retrieve (releases), then
    // the ledger pays the wallet.
    let retrieve = L::retrieveFundCall {
        providers: vec![provider],
        serviceName: INFERENCE_SERVICE_NAME.into(),
    }
    .abi_encode();
    send(&up, LEDGER_ADDRESS, retrieve.clone(), U256::ZERO)
        .await
        .unwrap();
    for _ in 0..3 {
        send(&up, user.address(), Vec::new(), U256::ZERO)
            .await
            .unwrap();
    }
    send(&up, LEDGER_ADDRESS, retrieve, U256::ZERO)
        .await
        .unwrap();
    let ledger = view(
        &up,
        LEDGER_ADDRESS,
        L::getLedgerCall {
            user: user.address(),
        },
    )
    .await;
    assert_eq!(ledger.availableBalance, ether(10) - total);
    assert_eq!(ledger.totalBalance, ether(10) - total);
    send(
        &up,
        LEDGER_ADDRESS,
        L::refundCall {
            amount: ledger.availableBalance,
        }
        .abi_encode(),
        U256::ZERO,
    )
    .await
    .unwrap();
    assert!(
        view(
            &up,
            LEDGER_ADDRESS,
            L::getLedgerProvidersCall {
                user: user.address(),
                serviceName: INFERENCE_SERVICE_NAME.into()
            }
        )
        .await
        .is_empty()
    );

    // Prometheus metrics are served.
    let m = reqwest::get(format!("{url}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        m.contains("zg_compute_settlements_total{status=\"success\"} 1"),
        "{m}"
    );
    broker.shutdown().await;
}
