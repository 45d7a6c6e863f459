//! Crash safety: unsettled fees survive a broker restart, and a settlement that landed
//! before the broker recorded its outcome is not charged twice.

use alloy::providers::Provider;
use alloy::signers::SignerSync;
use alloy::signers::local::PrivateKeySigner;
use alloy_primitives::{Address, B256, Bytes, U256};
use alloy_sol_types::SolCall;
use zg_compute::{InFlight, Store};
use zg_primitives::abi::{IInferenceServing as S, SERVING_ADDRESS, tee_settlement_digest};
use zg_testkit::compute::*;

use crate::{api_key, chat, hello};

/// The stack's TEE key's signature of a settlement of `fee` from `user` to `provider`
/// under `nonce` and `hash`, as the broker signs one.
fn tee_signature(
    stack: &Stack,
    chain_id: u64,
    provider: Address,
    user: &PrivateKeySigner,
    fee: U256,
    hash: B256,
    nonce: u64,
) -> Bytes {
    let digest = tee_settlement_digest(
        chain_id,
        SERVING_ADDRESS,
        hash,
        U256::from(nonce),
        provider,
        user.address(),
        fee,
    );
    let sig = stack.tee_key.sign_hash_sync(&digest).unwrap();
    sig.as_bytes().to_vec().into()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_keeps_unsettled_fees_and_settles_once() {
    let stack = Stack::new().await;
    let dir = TempDir::new("restart");
    let broker = stack.broker(stack.config(dir.0.clone())).await;
    let provider = broker.provider();
    stack.acknowledge().await;
    let (user, up) = stack.user(3, 10, ether(2)).await;
    let key = api_key(&user, provider, 0);
    for i in 0..3 {
        let (s, b, _) = chat(&broker.url(), Some(&key), hello(&format!("request {i}"))).await;
        assert_eq!(s, 200, "{b}");
    }
    let owed = broker.store().unsettled(&user.address()).unwrap();
    assert!(owed > U256::ZERO);
    broker.shutdown().await;

    // Restart on the same store: the fees are there and settle.
    let broker = stack.broker(stack.config(dir.0.clone())).await;
    assert_eq!(broker.store().unsettled(&user.address()).unwrap(), owed);
    let report = broker.settle_now().await.unwrap();
    assert_eq!((report.settled, report.statuses.len()), (owed, 1));
    assert_eq!(stack.account(user.address()).await.balance, ether(2) - owed);

    // More requests; then a settlement lands on chain but the broker dies before it
    // records the outcome (simulated: the signed batch is sent by hand and left in
    // flight in the store).
    for i in 0..2 {
        let (s, _, _) = chat(&broker.url(), Some(&key), hello(&format!("again {i}"))).await;
        assert_eq!(s, 200);
    }
    let pending = broker.store().pending().unwrap();
    let owed2: U256 = pending.iter().map(|r| r.fee).sum();
    broker.shutdown().await;
    let store = Store::open(&dir.0.join("db")).unwrap();
    let chain_id = up.get_chain_id().await.unwrap();
    let nonce = store.next_nonce(0).unwrap();
    let hash = B256::repeat_byte(0x42);
    let sig = tee_signature(&stack, chain_id, provider, &user, owed2, hash, nonce);
    let item = InFlight {
        user: user.address(),
        ids: pending.iter().map(|r| r.id).collect(),
        total_fee: owed2,
        requests_hash: hash,
        nonce,
        signature: sig,
        tx: None,
    };
    store
        .set_in_flight(Some(std::slice::from_ref(&item)))
        .unwrap();
    drop(store);
    let prov = provider_for(&stack.rpc(), stack.provider_key.clone());
    send(
        &prov,
        SERVING_ADDRESS,
        S::settleFeesWithTEECall {
            settlements: vec![S::TEESettlementData {
                user: user.address(),
                provider,
                totalFee: owed2,
                requestsHash: hash,
                nonce: U256::from(nonce),
                signature: item.signature.clone(),
            }],
        }
        .abi_encode(),
        U256::ZERO,
    )
    .await
    .unwrap();
    let balance = stack.account(user.address()).await.balance;
    assert_eq!(balance, ether(2) - owed - owed2);

    // The restarted broker resends the batch as signed: the chain refuses the nonce,
    // the broker sees it landed, clears the requests, and nobody pays twice.
    let broker = stack.broker(stack.config(dir.0.clone())).await;
    let report = broker.settle_now().await.unwrap();
    assert_eq!(report.statuses, vec![(user.address(), 4)]);
    assert_eq!(report.settled, owed2);
    assert!(broker.store().pending().unwrap().is_empty());
    assert!(broker.store().in_flight().unwrap().is_none());
    assert_eq!(stack.account(user.address()).await.balance, balance);

    // Once more, with the transaction's hash recorded before the crash, and a fee larger
    // than the sub-account holds: the restarted broker reads the outcome from the receipt
    // (PARTIAL) and keeps the unpaid rest owed, once.
    let (s, _, _) = chat(&broker.url(), Some(&key), hello("partial")).await;
    assert_eq!(s, 200);
    let pending = broker.store().pending().unwrap();
    broker.shutdown().await;
    let store = Store::open(&dir.0.join("db")).unwrap();
    let nonce = store.next_nonce(0).unwrap();
    let big = ether(5);
    let sig = tee_signature(&stack, chain_id, provider, &user, big, hash, nonce);
    let call = S::settleFeesWithTEECall {
        settlements: vec![S::TEESettlementData {
            user: user.address(),
            provider,
            totalFee: big,
            requestsHash: hash,
            nonce: U256::from(nonce),
            signature: sig.clone(),
        }],
    };
    let tx = alloy::rpc::types::TransactionRequest::default()
        .to(SERVING_ADDRESS)
        .input(call.abi_encode().into());
    let sent = prov
        .send_transaction(tx)
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    assert!(sent.status());
    let item = InFlight {
        user: user.address(),
        ids: pending.iter().map(|r| r.id).collect(),
        total_fee: big,
        requests_hash: hash,
        nonce,
        signature: sig,
        tx: Some(sent.transaction_hash),
    };
    store
        .set_in_flight(Some(std::slice::from_ref(&item)))
        .unwrap();
    drop(store);
    let broker = stack.broker(stack.config(dir.0.clone())).await;
    let report = broker.settle_now().await.unwrap();
    assert_eq!(report.statuses, vec![(user.address(), 1)]);
    assert_eq!(report.settled, balance);
    assert_eq!(
        broker.store().unsettled(&user.address()).unwrap(),
        big - balance
    );
    assert!(broker.store().in_flight().unwrap().is_none());
    assert_eq!(stack.account(user.address()).await.balance, U256::ZERO);
    // The owed rest blocks the user until topped up.
    let (s, b, _) = chat(&broker.url(), Some(&key), hello("blocked")).await;
    assert_eq!(s, 402, "{b}");
    broker.shutdown().await;
}

/// A settlement transaction that reverts as a whole (here: the broker recorded the hash
/// of a reverted transaction) is detected: the batch is dropped, its requests stay
/// pending, and the next round settles them with fresh nonces, rather than settlement
/// stopping for good on the same receipt.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reverted_settlement_is_detected_and_retried() {
    use alloy::network::TransactionBuilder;
    use alloy::rpc::types::TransactionRequest;
    let stack = Stack::new().await;
    let dir = TempDir::new("reverted");
    let broker = stack.broker(stack.config(dir.0.clone())).await;
    let provider = broker.provider();
    stack.acknowledge().await;
    let (user, _) = stack.user(3, 10, ether(2)).await;
    let key = api_key(&user, provider, 0);
    for i in 0..2 {
        let (s, b, _) = chat(&broker.url(), Some(&key), hello(&format!("request {i}"))).await;
        assert_eq!(s, 200, "{b}");
    }
    let pending = broker.store().pending().unwrap();
    let owed: U256 = pending.iter().map(|r| r.fee).sum();
    broker.shutdown().await;

    // A transaction to the serving module that reverts (an unknown selector, sent with
    // a fixed gas limit so it is mined), recorded as the in-flight batch's.
    let prov = provider_for(&stack.rpc(), stack.provider_key.clone());
    let receipt = prov
        .send_transaction(
            TransactionRequest::default()
                .with_to(SERVING_ADDRESS)
                .with_input(Bytes::from_static(&[0xde, 0xad, 0xbe, 0xef]))
                .with_gas_limit(200_000),
        )
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    assert!(!receipt.status(), "the transaction reverted");
    let store = Store::open(&dir.0.join("db")).unwrap();
    let item = InFlight {
        user: user.address(),
        ids: pending.iter().map(|r| r.id).collect(),
        total_fee: owed,
        requests_hash: B256::repeat_byte(0x43),
        nonce: store.next_nonce(0).unwrap(),
        signature: Bytes::from(vec![0u8; 65]),
        tx: Some(receipt.transaction_hash),
    };
    store
        .set_in_flight(Some(std::slice::from_ref(&item)))
        .unwrap();
    drop(store);

    let broker = stack.broker(stack.config(dir.0.clone())).await;
    let first = broker.settle_now().await;
    assert!(
        matches!(&first, Err(e) if e.to_string().contains("reverted")),
        "{first:?}"
    );
    assert!(
        broker.store().in_flight().unwrap().is_none(),
        "batch dropped"
    );
    assert_eq!(
        broker.store().pending().unwrap().len(),
        pending.len(),
        "requests kept"
    );
    let report = broker.settle_now().await.unwrap();
    assert_eq!(
        (report.settled, report.statuses.clone()),
        (owed, vec![(user.address(), 0)])
    );
    assert!(broker.store().pending().unwrap().is_empty());
    assert_eq!(stack.account(user.address()).await.balance, ether(2) - owed);
}
