//! `eth_getProof` (EIP-1186) through alloy against a running node: account and storage
//! proofs at the head and at older blocks verify against each block's state root with
//! alloy-trie's verifier; absent accounts and slots get exclusion proofs.

use std::time::Duration;

use alloy::eips::BlockId;
use alloy::network::TransactionBuilder;
use alloy::primitives::{Address, B256, U256, keccak256};
use alloy::providers::Provider;
use alloy::rpc::types::{EIP1186AccountProofResponse, TransactionRequest};
use alloy_rlp::Encodable;
use alloy_trie::proof::verify_proof;
use alloy_trie::{Nibbles, TrieAccount};

use crate::basics::deploy_counter;
use crate::helpers::*;

/// Checks `r` against `state_root`: the account (or its absence) and every slot.
fn verify(r: &EIP1186AccountProofResponse, state_root: B256, exists: bool) {
    let account = TrieAccount {
        nonce: r.nonce,
        balance: r.balance,
        storage_root: r.storage_hash,
        code_hash: r.code_hash,
    };
    let expected = exists.then(|| {
        let mut rlp = Vec::new();
        account.encode(&mut rlp);
        rlp
    });
    verify_proof(
        state_root,
        Nibbles::unpack(keccak256(r.address)),
        expected,
        &r.account_proof,
    )
    .unwrap();
    for s in &r.storage_proof {
        let expected = (!s.value.is_zero()).then(|| {
            let mut rlp = Vec::new();
            s.value.encode(&mut rlp);
            rlp
        });
        verify_proof(
            r.storage_hash,
            Nibbles::unpack(keccak256(s.key.as_b256())),
            expected,
            &s.proof,
        )
        .unwrap();
    }
}

#[tokio::test]
async fn proofs_verify_against_each_blocks_state_root() {
    let dir = TempDir::new("proofs");
    let chain = start(&dir, dev_genesis(), Duration::ZERO).await;
    let p = provider(&chain.rpc_url(), signer(0));
    let counter = deploy_counter(&p, 41).await;
    let before = p.get_block_number().await.unwrap();
    let tx = TransactionRequest::default().with_to(counter).with_input(
        alloy::sol_types::SolCall::abi_encode(&crate::basics::ICounter::addCall {
            v: U256::from(1),
        }),
    );
    assert!(mined(&p, tx).await.status());
    let after = p.get_block_number().await.unwrap();
    let slots = vec![B256::ZERO, B256::with_last_byte(1), B256::with_last_byte(9)];
    for (n, count) in [(before, 41u64), (after, 42)] {
        let block = p.get_block_by_number(n.into()).await.unwrap().unwrap();
        let r = p
            .get_proof(counter, slots.clone())
            .block_id(BlockId::number(n))
            .await
            .unwrap();
        verify(&r, block.header.state_root, true);
        assert_eq!(
            r.storage_proof[0].value,
            U256::from(count),
            "count at block {n}"
        );
        assert!(!r.storage_proof[1].value.is_zero(), "the owner");
        assert!(r.storage_proof[2].value.is_zero(), "an empty slot");
        // An account that does not exist: an exclusion proof.
        let nobody = p
            .get_proof(Address::repeat_byte(0xee), vec![])
            .block_id(BlockId::number(n))
            .await
            .unwrap();
        verify(&nobody, block.header.state_root, false);
        assert!(nobody.balance.is_zero());
    }
    // A block that does not exist, and too many keys.
    let err = p
        .get_proof(counter, vec![])
        .block_id(BlockId::number(after + 100))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("header not found"), "{err}");
    let err = p
        .get_proof(counter, vec![B256::ZERO; 1025])
        .await
        .unwrap_err();
    assert_eq!(err.as_error_resp().unwrap().code, -32602, "{err}");
    chain.shutdown().await.unwrap();
}

/// State queries at an older block read that block's state (from its trie), for the
/// last `--rpc.state-history` (128) blocks; older ones are refused with a clear error.
#[tokio::test]
async fn state_at_recent_blocks_and_a_clear_error_beyond() {
    let dir = TempDir::new("history");
    let chain = start(&dir, dev_genesis(), Duration::ZERO).await;
    let alice = signer(0);
    let p = provider(&chain.rpc_url(), alice.clone());
    let counter = deploy_counter(&p, 41).await;
    let before = p.get_block_number().await.unwrap();
    let balance_before = p.get_balance(alice.address()).await.unwrap();
    let add = |v: u64| {
        TransactionRequest::default().with_to(counter).with_input(
            alloy::sol_types::SolCall::abi_encode(&crate::basics::ICounter::addCall {
                v: U256::from(v),
            }),
        )
    };
    assert!(mined(&p, add(1)).await.status());
    let c = crate::basics::ICounter::new(counter, &p);
    let at = |n: u64| BlockId::number(n);
    assert_eq!(
        p.get_storage_at(counter, U256::ZERO)
            .block_id(at(before))
            .await
            .unwrap(),
        U256::from(41)
    );
    assert_eq!(
        p.get_storage_at(counter, U256::ZERO).await.unwrap(),
        U256::from(42)
    );
    assert_eq!(
        c.count().block(at(before)).call().await.unwrap(),
        U256::from(41)
    );
    assert_eq!(c.count().call().await.unwrap(), U256::from(42));
    assert_eq!(
        p.get_balance(alice.address())
            .block_id(at(before))
            .await
            .unwrap(),
        balance_before
    );
    assert!(p.get_balance(alice.address()).await.unwrap() < balance_before);
    let nonce_then = p
        .get_transaction_count(alice.address())
        .block_id(at(before))
        .await
        .unwrap();
    assert_eq!(
        p.get_transaction_count(alice.address()).await.unwrap(),
        nonce_then + 1
    );
    assert!(
        !p.get_code_at(counter)
            .block_id(at(before))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        p.get_code_at(counter)
            .block_id(at(before - 1))
            .await
            .unwrap()
            .is_empty(),
        "not yet deployed"
    );
    // An estimate at the older block runs there: adding 1000 fits, as it does now.
    p.estimate_gas(add(1000)).block(at(before)).await.unwrap();

    // 130 blocks later the deployment block has left the window.
    p.raw_request::<_, String>("anvil_mine".into(), ("0x82",))
        .await
        .unwrap();
    let err = p
        .get_storage_at(counter, U256::ZERO)
        .block_id(at(before))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("last 128 blocks"), "{err}");
    let err = p
        .get_proof(counter, vec![])
        .block_id(at(before))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("last 128 blocks"), "{err}");
    chain.shutdown().await.unwrap();
}
