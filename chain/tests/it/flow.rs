//! The storage flow and market modules: 0G's ABI, placement, fees and refusals.

use std::time::Duration;

use alloy::primitives::{Address, B256, Bytes, U256};
use alloy::providers::Provider;
use alloy::sol_types::{SolCall, SolError, SolEvent};
use zg_primitives::abi::{FLOW_ADDRESS, IFlow, IMarket, MARKET_ADDRESS};

use crate::da_modules::{call, send};
use crate::helpers::*;

fn submission(length: u64, heights: &[u64]) -> IFlow::Submission {
    IFlow::Submission {
        length: U256::from(length),
        tags: Bytes::from_static(b"tag"),
        nodes: heights
            .iter()
            .map(|&h| IFlow::SubmissionNode {
                root: B256::repeat_byte(h as u8 + 1),
                height: U256::from(h),
            })
            .collect(),
    }
}

fn submit_events(r: &alloy::rpc::types::TransactionReceipt, flow: Address) -> Vec<IFlow::Submit> {
    r.inner
        .logs()
        .iter()
        .filter(|l| l.address() == flow)
        .map(|l| IFlow::Submit::decode_log_data(l.data()).unwrap())
        .collect()
}

/// The same suite against the bundled chain's flow and market precompiles and against
/// the portable `Flow.sol`: every assertion holds for both, and both produce the same
/// transcript (return data, revert data, event topics and data).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flow_identical_on_the_precompile_and_the_contract() {
    let precompile = run_suite(flow_places_charges_and_refuses_as_0g(false)).await;
    let contract = run_suite(flow_places_charges_and_refuses_as_0g(true)).await;
    assert!(precompile.len() > 15, "{precompile:?}");
    for (i, (a, b)) in precompile.iter().zip(&contract).enumerate() {
        assert_eq!(a, b, "entry {i} differs");
    }
    assert_eq!(precompile.len(), contract.len());
}

/// A view that stays out of the transcript (the two implementations' addresses differ).
async fn address_view<C: SolCall<Return = Address>>(
    p: &alloy::providers::DynProvider,
    to: Address,
    c: C,
) -> Address {
    let tx = alloy::rpc::types::TransactionRequest::default()
        .to(to)
        .input(Bytes::from(c.abi_encode()).into());
    C::abi_decode_returns(&p.call(tx).await.unwrap()).unwrap()
}

async fn flow_places_charges_and_refuses_as_0g(contract: bool) {
    let dir = TempDir::new("flow");
    let genesis = dev_genesis();
    let price = genesis.storage.price_per_sector;
    let chain = start(&dir, genesis, Duration::ZERO).await;
    let url = chain.rpc_url();
    let who = signer(1);
    let p = provider(&url, who.clone());
    // The contract is its own market.
    let (flow, market) = if contract {
        let a = zg_chain::contracts::deploy_flow(
            &provider(&url, signer(0)),
            price,
            Duration::from_secs(30),
        )
        .await
        .unwrap();
        (a, a)
    } else {
        (FLOW_ADDRESS, MARKET_ADDRESS)
    };

    // views
    assert_eq!(address_view(&p, flow, IFlow::marketCall {}).await, market);
    assert_eq!(
        call(&p, market, IMarket::pricePerSectorCall {}).await,
        price
    );
    assert_eq!(address_view(&p, market, IMarket::flowCall {}).await, flow);
    assert_eq!(
        call(&p, flow, IFlow::numSubmissionsCall {}).await,
        U256::ZERO
    );
    assert_eq!(
        call(&p, flow, IFlow::treeCall {}).await.currentLength,
        U256::from(1)
    );

    // a 768-byte file: 3 sectors, placed after the reserved entry 0
    let s = submission(768, &[1, 0]);
    let fee = price * U256::from(3);
    let r = send(
        &p,
        flow,
        IFlow::submit_0Call {
            submission: s.clone(),
        }
        .abi_encode(),
        fee,
    )
    .await
    .unwrap();
    assert!(r.status());
    let ev = submit_events(&r, flow);
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0].sender, who.address());
    assert_eq!(ev[0].submissionIndex, U256::ZERO);
    assert_eq!(ev[0].startPos, U256::from(2));
    assert_eq!(ev[0].length, U256::from(3));
    assert_eq!(ev[0].submission, s);
    let mut roots = Vec::new();
    for n in &s.nodes {
        roots.extend_from_slice(n.root.as_slice());
    }
    assert_eq!(ev[0].identity, alloy::primitives::keccak256(&roots));
    assert_eq!(p.get_balance(flow).await.unwrap(), fee);

    // 0G's newer ABI, naming the submitter; a multi-segment file starts on a segment
    // boundary. Only the caller may name itself: naming another account (to act as a
    // KV stream's admin or writer, say) reverts.
    let s2 = submission(262_145, &[10, 7]);
    let other = Address::repeat_byte(0x42);
    let err = send(
        &p,
        flow,
        IFlow::submit_1Call {
            submission: IFlow::SubmitterSubmission {
                data: s2.clone(),
                submitter: other,
            },
        }
        .abi_encode(),
        price * U256::from(1152),
    )
    .await
    .unwrap_err();
    assert_eq!(
        err,
        Bytes::from(
            IFlow::NotSubmitter {
                submitter: other,
                caller: who.address()
            }
            .abi_encode()
        )
    );
    let submitter = who.address();
    let r = send(
        &p,
        flow,
        IFlow::submit_1Call {
            submission: IFlow::SubmitterSubmission {
                data: s2.clone(),
                submitter,
            },
        }
        .abi_encode(),
        price * U256::from(1152),
    )
    .await
    .unwrap();
    let ev = submit_events(&r, flow);
    assert_eq!(ev[0].sender, submitter);
    assert_eq!(ev[0].submissionIndex, U256::from(1));
    assert_eq!(ev[0].startPos, U256::from(1024));
    assert_eq!(
        call(&p, flow, IFlow::treeCall {}).await.currentLength,
        U256::from(1024 + 1152)
    );

    // a batch: two files, one fee
    let r = send(
        &p,
        flow,
        IFlow::batchSubmitCall {
            submissions: vec![submission(1, &[0]), submission(1000, &[2])],
        }
        .abi_encode(),
        price * U256::from(5),
    )
    .await
    .unwrap();
    let ev = submit_events(&r, flow);
    assert_eq!(
        ev.iter()
            .map(|e| e.submissionIndex.to::<u64>())
            .collect::<Vec<_>>(),
        vec![2, 3]
    );
    assert_eq!(
        call(&p, flow, IFlow::numSubmissionsCall {}).await,
        U256::from(4)
    );

    // refusals: fee short, invalid submissions, zero submitter, value to a view
    let err = send(
        &p,
        flow,
        IFlow::submit_0Call {
            submission: submission(768, &[1, 0]),
        }
        .abi_encode(),
        fee - U256::from(1),
    )
    .await
    .unwrap_err();
    assert_eq!(
        err,
        Bytes::from(
            IFlow::NotEnoughFee {
                price,
                amount: U256::from(3),
                paid: fee - U256::from(1),
            }
            .abi_encode()
        )
    );
    let invalid = Bytes::from(IFlow::InvalidSubmission {}.abi_encode());
    for bad in [
        submission(0, &[0]),
        submission(257, &[0]),
        submission(768, &[0, 1]),
        submission(100, &[]),
        submission(1, &[64]),
        submission(1 << 20, &[12, 8]),
    ] {
        let err = send(
            &p,
            flow,
            IFlow::submit_0Call { submission: bad }.abi_encode(),
            price * U256::from(1u64 << 13),
        )
        .await
        .unwrap_err();
        assert_eq!(err, invalid);
    }
    let err = send(
        &p,
        flow,
        IFlow::submit_1Call {
            submission: IFlow::SubmitterSubmission {
                data: submission(1, &[0]),
                submitter: Address::ZERO,
            },
        }
        .abi_encode(),
        price,
    )
    .await
    .unwrap_err();
    assert_eq!(err, invalid);
    assert!(
        send(
            &p,
            market,
            IMarket::pricePerSectorCall {}.abi_encode(),
            U256::from(1)
        )
        .await
        .is_err()
    );
    assert!(send(&p, flow, vec![1, 2, 3], U256::ZERO).await.is_err());
    // nothing of the refused calls was recorded
    assert_eq!(
        call(&p, flow, IFlow::numSubmissionsCall {}).await,
        U256::from(4)
    );
    chain.shutdown().await.unwrap();
}
