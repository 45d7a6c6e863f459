//! The polling filter API through alloy, as dapps and indexers use it: block filters,
//! log filters, `eth_getFilterLogs`, uninstalling.

use std::time::Duration;

use alloy::network::TransactionBuilder;
use alloy::primitives::{B256, U256};
use alloy::providers::Provider;
use alloy::rpc::types::{Filter, Log, TransactionRequest};
use alloy::sol_types::{SolCall, SolEvent};

use crate::basics::{ICounter, deploy_counter};
use crate::helpers::*;

#[tokio::test]
async fn block_and_log_filters_report_each_change_once() {
    let dir = TempDir::new("filters");
    let chain = start(&dir, dev_genesis(), Duration::ZERO).await;
    let p = provider(&chain.rpc_url(), signer(0));
    let counter = deploy_counter(&p, 0).await;

    let blocks = p.new_block_filter().await.unwrap();
    let logs = p
        .new_filter(
            &Filter::new()
                .address(counter)
                .event_signature(ICounter::Incremented::SIGNATURE_HASH),
        )
        .await
        .unwrap();
    assert!(
        p.get_filter_changes::<B256>(blocks)
            .await
            .unwrap()
            .is_empty()
    );

    let increment = |tag: u8| {
        TransactionRequest::default().with_to(counter).with_input(
            ICounter::incrementCall {
                tag: B256::repeat_byte(tag),
            }
            .abi_encode(),
        )
    };
    let first = mined(&p, increment(1)).await.block_number.unwrap();
    let second = mined(&p, increment(2)).await.block_number.unwrap();
    // A transfer: a block with no matching log.
    mined(
        &p,
        TransactionRequest::default()
            .with_to(signer(1).address())
            .with_value(U256::from(1)),
    )
    .await;

    let hashes = p.get_filter_changes::<B256>(blocks).await.unwrap();
    assert_eq!(hashes.len(), 3, "{hashes:?}");
    let b = p.get_block_by_number(first.into()).await.unwrap().unwrap();
    assert_eq!(hashes[0], b.header.hash);
    assert!(
        p.get_filter_changes::<B256>(blocks)
            .await
            .unwrap()
            .is_empty(),
        "reported once"
    );

    let got = p.get_filter_changes::<Log>(logs).await.unwrap();
    assert_eq!(
        got.iter()
            .map(|l| l.block_number.unwrap())
            .collect::<Vec<_>>(),
        vec![first, second]
    );
    let ev = ICounter::Incremented::decode_log(&got[1].inner).unwrap();
    assert_eq!(ev.newValue, U256::from(2));
    assert!(
        p.get_filter_changes::<Log>(logs).await.unwrap().is_empty(),
        "reported once"
    );

    // Uninstalled: gone.
    assert!(p.uninstall_filter(blocks).await.unwrap());
    assert!(!p.uninstall_filter(blocks).await.unwrap());
    let err = p.get_filter_changes::<B256>(blocks).await.unwrap_err();
    assert!(err.to_string().contains("filter not found"), "{err}");
    // A filter id nobody installed.
    let err = p
        .get_filter_changes::<B256>(U256::from(12345))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("filter not found"), "{err}");
    chain.shutdown().await.unwrap();
}
