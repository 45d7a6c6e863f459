use std::time::Duration;

use alloy::eips::BlockNumberOrTag;
use alloy::network::TransactionBuilder;
use alloy::primitives::{Address, B256, Bytes, U256, address};
use alloy::providers::Provider;
use alloy::rpc::types::{Filter, TransactionRequest};
use alloy::sol_types::{SolCall, SolError, SolValue};

use crate::helpers::*;

alloy::sol! {
    #[sol(rpc)]
    #[derive(Debug)]
    interface ICounter {
        event Incremented(address indexed by, uint256 newValue, bytes32 indexed tag);
        error TooLarge(uint256 value, uint256 max);
        function count() external view returns (uint256);
        function owner() external view returns (address);
        function increment(bytes32 tag) external returns (uint256);
        function add(uint256 v) external;
        function mustBeOwner() external view;
        function burn(uint256 rounds) external;
        function callModule(address m, bytes calldata data) external returns (bytes memory);
    }
}

fn counter_code(start: u64) -> Bytes {
    let hex = include_str!("contracts/Counter.bin").trim();
    let mut code = hex::decode(hex).unwrap();
    code.extend_from_slice(&U256::from(start).abi_encode());
    code.into()
}

pub(crate) async fn deploy_counter(p: &alloy::providers::DynProvider, start: u64) -> Address {
    let tx = TransactionRequest::default().with_deploy_code(counter_code(start));
    let receipt = mined(p, tx).await;
    assert!(receipt.status());
    receipt.contract_address.unwrap()
}

#[tokio::test]
async fn transfers_blocks_and_fees() {
    let dir = TempDir::new("basics");
    let chain = start(&dir, dev_genesis(), Duration::ZERO).await;
    let url = chain.rpc_url();
    let alice = signer(0);
    let p = provider(&url, alice.clone());

    assert_eq!(p.get_chain_id().await.unwrap(), 31337);
    // The standard dev accounts, funded.
    assert_eq!(
        alice.address(),
        address!("0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266")
    );
    let ten_k = U256::from(10_000u64) * U256::from(10u64).pow(U256::from(18));
    assert_eq!(p.get_balance(alice.address()).await.unwrap(), ten_k);

    let bob = Address::repeat_byte(0xb0);
    let tx = TransactionRequest::default()
        .with_to(bob)
        .with_value(U256::from(12345));
    let receipt = mined(&p, tx).await;
    assert!(receipt.status());
    assert_eq!(receipt.gas_used, 21_000);
    assert_eq!(p.get_balance(bob).await.unwrap(), U256::from(12345));
    assert_eq!(p.get_transaction_count(alice.address()).await.unwrap(), 1);
    let fee = gas_cost(&receipt);
    assert_eq!(
        p.get_balance(alice.address()).await.unwrap(),
        ten_k - U256::from(12345) - fee
    );

    // The block carries it, with real roots.
    let n = receipt.block_number.unwrap();
    let block = p
        .get_block_by_number(BlockNumberOrTag::Number(n))
        .full()
        .await
        .unwrap()
        .unwrap();
    assert_eq!(block.transactions.len(), 1);
    assert_eq!(block.header.hash, receipt.block_hash.unwrap());
    assert_ne!(
        block.header.transactions_root,
        alloy::consensus::EMPTY_ROOT_HASH
    );
    assert_ne!(
        block.header.receipts_root,
        alloy::consensus::EMPTY_ROOT_HASH
    );
    let by_hash = p
        .get_block_by_hash(block.header.hash)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(by_hash.header.number, n);
    let parent = p
        .get_block_by_number(BlockNumberOrTag::Number(n - 1))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(block.header.parent_hash, parent.header.hash);
    assert_ne!(block.header.state_root, parent.header.state_root);
    let tx = p
        .get_transaction_by_hash(receipt.transaction_hash)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(tx.block_number, Some(n));
    assert!(
        p.get_transaction_by_hash(B256::repeat_byte(9))
            .await
            .unwrap()
            .is_none()
    );

    // Legacy and EIP-2930 transactions work too.
    let legacy = TransactionRequest::default()
        .with_to(bob)
        .with_value(U256::from(1))
        .with_gas_price(2_000_000_000);
    assert!(mined(&p, legacy).await.status());
    let al = TransactionRequest::default()
        .with_to(bob)
        .with_value(U256::from(1))
        .with_gas_price(2_000_000_000)
        .with_access_list(Default::default());
    assert!(mined(&p, al).await.status());

    let history = p
        .get_fee_history(4, BlockNumberOrTag::Latest, &[25.0, 75.0])
        .await
        .unwrap();
    assert_eq!(history.base_fee_per_gas.len(), 5);
    assert!(p.get_gas_price().await.unwrap() > 0);
    chain.shutdown().await.unwrap();
}

#[tokio::test]
async fn contracts_reverts_logs_and_estimates() {
    let dir = TempDir::new("contracts");
    let chain = start(&dir, dev_genesis(), Duration::ZERO).await;
    let url = chain.rpc_url();
    let alice = signer(0);
    let p = provider(&url, alice.clone());
    let addr = deploy_counter(&p, 7).await;
    assert!(!p.get_code_at(addr).await.unwrap().is_empty());
    let c = ICounter::new(addr, &p);
    assert_eq!(c.count().call().await.unwrap(), U256::from(7));
    assert_eq!(c.owner().call().await.unwrap(), alice.address());

    let tag = B256::repeat_byte(0x42);
    let r = c
        .increment(tag)
        .send()
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    assert!(r.status());
    assert_eq!(c.count().call().await.unwrap(), U256::from(8));
    let log = r.decoded_log::<ICounter::Incremented>().unwrap();
    assert_eq!(log.by, alice.address());
    assert_eq!(log.newValue, U256::from(8));

    // Storage is visible through eth_getStorageAt.
    assert_eq!(
        p.get_storage_at(addr, U256::ZERO).await.unwrap(),
        U256::from(8)
    );

    // Logs by address and topic, and by block range.
    for _ in 0..3 {
        c.increment(B256::repeat_byte(1))
            .send()
            .await
            .unwrap()
            .get_receipt()
            .await
            .unwrap();
    }
    let all = p
        .get_logs(&Filter::new().address(addr).from_block(0))
        .await
        .unwrap();
    assert_eq!(all.len(), 4);
    let tagged = p
        .get_logs(&Filter::new().address(addr).from_block(0).topic2(tag))
        .await
        .unwrap();
    assert_eq!(tagged.len(), 1);
    let none = p
        .get_logs(&Filter::new().address(Address::repeat_byte(3)).from_block(0))
        .await
        .unwrap();
    assert!(none.is_empty());
    let by_hash = p
        .get_logs(&Filter::new().at_block_hash(r.block_hash.unwrap()))
        .await
        .unwrap();
    assert_eq!(by_hash.len(), 1);

    // Custom error revert: eth_call returns code 3 with the error data.
    let err = c.add(U256::from(5000)).call().await.unwrap_err();
    let resp = error_resp(&err);
    assert_eq!(resp.code, 3);
    let data: Bytes = serde_json::from_str(resp.data.as_ref().unwrap().get()).unwrap();
    let decoded = ICounter::TooLarge::abi_decode(&data).unwrap();
    assert_eq!(decoded.value, U256::from(5000));

    // require() reason.
    let bob = provider(&url, signer(1));
    let err = ICounter::new(addr, &bob)
        .mustBeOwner()
        .call()
        .await
        .unwrap_err();
    let resp = error_resp(&err);
    assert_eq!(resp.code, 3);
    assert!(resp.message.contains("not the owner"), "{}", resp.message);

    // A reverted transaction is mined with status 0 (explicit gas skips estimation).
    let r = c
        .add(U256::from(5000))
        .gas(100_000)
        .send()
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    assert!(!r.status());
    assert_eq!(c.count().call().await.unwrap(), U256::from(11));

    // estimateGas: enough to succeed, not wildly more.
    let call = ICounter::burnCall {
        rounds: U256::from(200),
    };
    let req = TransactionRequest::default()
        .with_from(alice.address())
        .with_to(addr)
        .with_input(call.abi_encode());
    let est = p.estimate_gas(req.clone()).await.unwrap();
    let r = mined(&p, req.clone().with_gas_limit(est)).await;
    assert!(r.status());
    assert!(
        est < r.gas_used * 12 / 10,
        "estimate {est} vs used {}",
        r.gas_used
    );
    let r = mined(&p, req.with_gas_limit(est / 2)).await;
    assert!(!r.status(), "half the estimate runs out of gas");

    // A contract calling a module (precompile) from inside the EVM.
    let data = zg_primitives::abi::IDASigners::epochNumberCall {}.abi_encode();
    let out = c
        .callModule(zg_primitives::abi::DA_SIGNERS_ADDRESS, data.into())
        .call()
        .await
        .unwrap();
    assert_eq!(out.len(), 32);
    chain.shutdown().await.unwrap();
}

#[tokio::test]
async fn timed_blocks_and_mempool_ordering() {
    let dir = TempDir::new("timed");
    let chain = start(&dir, dev_genesis(), Duration::from_millis(300)).await;
    let url = chain.rpc_url();
    let p = provider(&url, signer(2));
    let start_n = p.get_block_number().await.unwrap();
    wait_block(&p, start_n + 3).await; // empty blocks keep coming
    // Several pending nonces from one sender land in order.
    let who = signer(2).address();
    let mut pending = Vec::new();
    for i in 0..5u64 {
        let tx = TransactionRequest::default()
            .with_to(Address::repeat_byte(7))
            .with_value(U256::from(i + 1))
            .with_nonce(i)
            .with_gas_limit(21_000)
            .with_max_fee_per_gas(10_000_000_000)
            .with_max_priority_fee_per_gas(1_000_000_000);
        pending.push(p.send_transaction(tx).await.unwrap());
    }
    for pt in pending {
        assert!(pt.get_receipt().await.unwrap().status());
    }
    assert_eq!(p.get_transaction_count(who).await.unwrap(), 5);
    assert_eq!(
        p.get_balance(Address::repeat_byte(7)).await.unwrap(),
        U256::from(15)
    );
    chain.shutdown().await.unwrap();
}
