//! The compute modules: 0G's ledger and inference-serving ABI, money flow, two-step
//! refunds, EIP-712 settlement with per-item statuses, and every refusal.

use std::time::Duration;

use alloy::primitives::{Address, B256, Bytes, U256};
use alloy::providers::{DynProvider, Provider};
use alloy::signers::SignerSync;
use alloy::signers::local::PrivateKeySigner;
use alloy::sol_types::{SolCall, SolEvent, SolInterface};
use zg_primitives::abi::{
    IInferenceServing as S, ILedgerManager as L, INFERENCE_SERVICE_NAME, LEDGER_ADDRESS,
    SERVING_ADDRESS, tee_settlement_digest,
};

use crate::da_modules::{call, send};
use crate::helpers::*;

const NAME: &str = INFERENCE_SERVICE_NAME;

fn ether(n: u64) -> U256 {
    U256::from(n) * U256::from(10u64).pow(U256::from(18))
}

fn milli(n: u64) -> U256 {
    U256::from(n) * U256::from(10u64).pow(U256::from(15))
}

async fn ok(
    p: &DynProvider,
    to: Address,
    data: Vec<u8>,
    value: U256,
) -> alloy::rpc::types::TransactionReceipt {
    let r = send(p, to, data, value)
        .await
        .expect("transaction accepted");
    assert!(r.status());
    r
}

async fn ledger_err(p: &DynProvider, data: Vec<u8>, value: U256) -> L::ILedgerManagerErrors {
    let e = send(p, LEDGER_ADDRESS, data, value)
        .await
        .expect_err("reverts");
    L::ILedgerManagerErrors::abi_decode(&e).unwrap()
}

async fn serving_err(p: &DynProvider, data: Vec<u8>, value: U256) -> S::IInferenceServingErrors {
    let e = send(p, SERVING_ADDRESS, data, value)
        .await
        .expect_err("reverts");
    S::IInferenceServingErrors::abi_decode(&e).unwrap()
}

fn params(tee: Address, price_in: u64, price_out: u64) -> S::ServiceParams {
    S::ServiceParams {
        serviceType: "chatbot".into(),
        url: "http://127.0.0.1:1".into(),
        model: "echo-1".into(),
        verifiability: "TeeML".into(),
        inputPrice: U256::from(price_in),
        outputPrice: U256::from(price_out),
        additionalInfo: "{}".into(),
        teeSignerAddress: tee,
    }
}

fn settlement(
    chain_id: u64,
    tee: &PrivateKeySigner,
    user: Address,
    provider: Address,
    fee: U256,
    nonce: u64,
) -> S::TEESettlementData {
    let requests_hash = B256::repeat_byte(nonce as u8);
    let digest = tee_settlement_digest(
        chain_id,
        SERVING_ADDRESS,
        requests_hash,
        U256::from(nonce),
        provider,
        user,
        fee,
    );
    S::TEESettlementData {
        user,
        provider,
        totalFee: fee,
        requestsHash: requests_hash,
        nonce: U256::from(nonce),
        signature: Bytes::from(tee.sign_hash_sync(&digest).unwrap().as_bytes().to_vec()),
    }
}

async fn account(p: &DynProvider, user: Address, provider: Address) -> S::Account {
    call(p, SERVING_ADDRESS, S::getAccountCall { user, provider }).await
}

fn results(r: &alloy::rpc::types::TransactionReceipt) -> Vec<(Address, u8, U256)> {
    r.inner
        .logs()
        .iter()
        .filter(|l| l.address() == SERVING_ADDRESS)
        .filter_map(|l| S::TEESettlementResult::decode_log_data(l.data()).ok())
        .map(|e| (e.user, e.status, e.unsettledAmount))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compute_ledger_serving_settlement_and_refunds() {
    let dir = TempDir::new("compute");
    let mut genesis = dev_genesis();
    genesis.compute.lock_time = 2;
    let chain_id = genesis.chain_id;
    let owner_addr = genesis.compute.owner;
    let chain = start(&dir, genesis, Duration::ZERO).await;
    let url = chain.rpc_url();
    let owner = provider(&url, signer(0));
    assert_eq!(owner_addr, signer(0).address());
    let prov_key = signer(1);
    let prov = provider(&url, prov_key.clone());
    let user_key = signer(2);
    let user = provider(&url, user_key.clone());
    let (p_addr, u_addr) = (prov_key.address(), user_key.address());
    let tee = PrivateKeySigner::random();

    // 0G's constants and service registry, read from the chain.
    let min_bal: U256 = call(&user, LEDGER_ADDRESS, L::MIN_ACCOUNT_BALANCECall {}).await;
    assert_eq!(min_bal, milli(100));
    let info = call(
        &user,
        LEDGER_ADDRESS,
        L::getServiceInfoCall {
            serviceAddress: SERVING_ADDRESS,
        },
    )
    .await;
    assert_eq!(info.fullName, NAME);
    assert_eq!(
        call(&user, SERVING_ADDRESS, S::lockTimeCall {}).await,
        U256::from(2)
    );

    // Provider: stake too small, then registered; an update may not add stake.
    let add = |p: S::ServiceParams| S::addOrUpdateServiceCall { params: p }.abi_encode();
    assert!(matches!(
        serving_err(&prov, add(params(tee.address(), 1, 2)), ether(1)).await,
        S::IInferenceServingErrors::InsufficientStake(_)
    ));
    let before = prov.get_balance(p_addr).await.unwrap();
    ok(
        &prov,
        SERVING_ADDRESS,
        add(params(tee.address(), 1_000, 2_000)),
        ether(100),
    )
    .await;
    assert!(prov.get_balance(p_addr).await.unwrap() < before - ether(99));
    assert!(matches!(
        serving_err(&prov, add(params(tee.address(), 1, 2)), ether(1)).await,
        S::IInferenceServingErrors::CannotAddStakeWhenUpdating(_)
    ));
    let svc = call(
        &user,
        SERVING_ADDRESS,
        S::getServiceCall { provider: p_addr },
    )
    .await;
    assert_eq!(
        (
            svc.model.as_str(),
            svc.inputPrice,
            svc.teeSignerAcknowledged
        ),
        ("echo-1", U256::from(1_000), false)
    );
    let all = call(
        &user,
        SERVING_ADDRESS,
        S::getAllServicesCall {
            offset: U256::ZERO,
            limit: U256::ZERO,
        },
    )
    .await;
    assert_eq!((all.services.len(), all.total), (1, U256::from(1)));

    // Only the owner acknowledges the TEE signer.
    let ack = S::acknowledgeTEESignerByOwnerCall { provider: p_addr }.abi_encode();
    assert!(matches!(
        serving_err(&user, ack.clone(), U256::ZERO).await,
        S::IInferenceServingErrors::CallerNotOwner(_)
    ));

    // User: a ledger below the minimum is refused; then 10 ether; a second addLedger
    // is refused; deposits add.
    let add_ledger = L::addLedgerCall {
        additionalInfo: "hi".into(),
    }
    .abi_encode();
    assert!(matches!(
        ledger_err(&user, add_ledger.clone(), milli(1)).await,
        L::ILedgerManagerErrors::MinimumDepositRequired(_)
    ));
    ok(&user, LEDGER_ADDRESS, add_ledger.clone(), ether(10)).await;
    assert!(matches!(
        ledger_err(&user, add_ledger, ether(1)).await,
        L::ILedgerManagerErrors::LedgerExists(_)
    ));
    ok(
        &user,
        LEDGER_ADDRESS,
        L::depositFundCall {}.abi_encode(),
        ether(2),
    )
    .await;
    let ledger = call(&user, LEDGER_ADDRESS, L::getLedgerCall { user: u_addr }).await;
    assert_eq!(
        (ledger.availableBalance, ledger.totalBalance),
        (ether(12), ether(12))
    );
    assert_eq!(ledger.additionalInfo, "hi");

    // Transfers: unknown service, below the minimum, more than available; then 5 ether.
    let transfer = |amount: U256, name: &str| {
        L::transferFundCall {
            provider: p_addr,
            serviceName: name.into(),
            amount,
        }
        .abi_encode()
    };
    assert!(matches!(
        ledger_err(&user, transfer(ether(1), "nope"), U256::ZERO).await,
        L::ILedgerManagerErrors::ServiceNotFound(_)
    ));
    assert!(matches!(
        ledger_err(&user, transfer(U256::from(1), NAME), U256::ZERO).await,
        L::ILedgerManagerErrors::MinimumDepositRequired(_)
    ));
    assert!(matches!(
        ledger_err(&user, transfer(ether(13), NAME), U256::ZERO).await,
        L::ILedgerManagerErrors::InsufficientAvailableBalance(_)
    ));
    ok(&user, LEDGER_ADDRESS, transfer(ether(5), NAME), U256::ZERO).await;
    let acct = account(&user, u_addr, p_addr).await;
    assert_eq!(
        (
            acct.balance,
            acct.acknowledged,
            acct.additionalInfo.as_str()
        ),
        (ether(5), true, "hi")
    );
    let ledger = call(&user, LEDGER_ADDRESS, L::getLedgerCall { user: u_addr }).await;
    assert_eq!(
        (ledger.availableBalance, ledger.totalBalance),
        (ether(7), ether(12))
    );
    let provs = call(
        &user,
        LEDGER_ADDRESS,
        L::getLedgerProvidersCall {
            user: u_addr,
            serviceName: NAME.into(),
        },
    )
    .await;
    assert_eq!(provs, vec![p_addr]);

    // Settlement before the owner acknowledged the signer: NO_TEE_SIGNER, nothing paid,
    // the batch does not revert.
    let settle = |items: Vec<S::TEESettlementData>| {
        S::settleFeesWithTEECall { settlements: items }.abi_encode()
    };
    // One item: the user's `fee` to the provider, signed by the acknowledged signer.
    let settle_user = |fee: U256, nonce: u64| {
        settle(vec![settlement(chain_id, &tee, u_addr, p_addr, fee, nonce)])
    };
    let r = ok(
        &prov,
        SERVING_ADDRESS,
        settle_user(ether(1), 10),
        U256::ZERO,
    )
    .await;
    assert_eq!(results(&r), vec![(u_addr, 3, ether(1))]);
    ok(&owner, SERVING_ADDRESS, ack, U256::ZERO).await;
    assert!(
        call(
            &user,
            SERVING_ADDRESS,
            S::getServiceCall { provider: p_addr }
        )
        .await
        .teeSignerAcknowledged
    );

    // A batch: success, provider mismatch, wrong signer, a stale nonce; the preview
    // says the same without changing anything.
    let other_tee = PrivateKeySigner::random();
    let batch = vec![
        settlement(chain_id, &tee, u_addr, p_addr, ether(1), 20),
        settlement(
            chain_id,
            &tee,
            u_addr,
            Address::repeat_byte(9),
            ether(1),
            21,
        ),
        settlement(chain_id, &other_tee, u_addr, p_addr, ether(1), 22),
        settlement(chain_id, &tee, u_addr, p_addr, ether(1), 15),
    ];
    let preview = call(
        &prov,
        SERVING_ADDRESS,
        S::previewSettlementResultsCall {
            settlements: batch.clone(),
        },
    )
    .await;
    assert_eq!(preview.failureReasons, vec![2, 5]);
    let prov_before = prov.get_balance(p_addr).await.unwrap();
    let r = ok(&prov, SERVING_ADDRESS, settle(batch), U256::ZERO).await;
    assert_eq!(
        results(&r).iter().map(|x| x.1).collect::<Vec<_>>(),
        vec![0, 2, 5, 4]
    );
    let gas = gas_cost(&r);
    assert_eq!(
        prov.get_balance(p_addr).await.unwrap(),
        prov_before + ether(1) - gas
    );
    let acct = account(&user, u_addr, p_addr).await;
    assert_eq!((acct.balance, acct.nonce), (ether(4), U256::from(20)));
    let ledger = call(&user, LEDGER_ADDRESS, L::getLedgerCall { user: u_addr }).await;
    assert_eq!(
        (ledger.availableBalance, ledger.totalBalance),
        (ether(7), ether(11))
    );
    // Replaying the settled item: INVALID_NONCE, nothing paid.
    let replay = settlement(chain_id, &tee, u_addr, p_addr, ether(1), 20);
    let r = ok(&prov, SERVING_ADDRESS, settle(vec![replay]), U256::ZERO).await;
    assert_eq!(results(&r), vec![(u_addr, 4, ether(1))]);
    // Batch limits revert.
    assert!(matches!(
        serving_err(&prov, settle(vec![]), U256::ZERO).await,
        S::IInferenceServingErrors::NoSettlementsProvided(_)
    ));

    // Two-step refund: the first retrieve queues 4 ether, the second (once blocks are `lockTime` later)
    // releases it to the ledger; refund pays the wallet.
    let retrieve = L::retrieveFundCall {
        providers: vec![p_addr],
        serviceName: NAME.into(),
    }
    .abi_encode();
    ok(&user, LEDGER_ADDRESS, retrieve.clone(), U256::ZERO).await;
    let acct = account(&user, u_addr, p_addr).await;
    assert_eq!((acct.pendingRefund, acct.refunds.len()), (ether(4), 1));
    // Still locked: nothing released yet.
    ok(&user, LEDGER_ADDRESS, retrieve.clone(), U256::ZERO).await;
    let ledger = call(&user, LEDGER_ADDRESS, L::getLedgerCall { user: u_addr }).await;
    assert_eq!(ledger.availableBalance, ether(7));

    // A settlement larger than what is free consumes the pending refund: PARTIAL when it
    // exceeds the whole balance.
    let r = ok(
        &prov,
        SERVING_ADDRESS,
        settle_user(ether(5), 30),
        U256::ZERO,
    )
    .await;
    assert_eq!(results(&r), vec![(u_addr, 1, ether(1))]);
    let acct = account(&user, u_addr, p_addr).await;
    assert_eq!(
        (acct.balance, acct.pendingRefund, acct.refunds.len()),
        (U256::ZERO, U256::ZERO, 0)
    );

    // Top up 2 ether, retrieve, wait out the lock, retrieve again: back in the ledger.
    ok(&user, LEDGER_ADDRESS, transfer(ether(2), NAME), U256::ZERO).await;
    ok(&user, LEDGER_ADDRESS, retrieve.clone(), U256::ZERO).await;
    // Blocks carry max(now, parent + 1) as their time: three more blocks pass the lock.
    for _ in 0..3 {
        ok(&owner, owner_addr, Vec::new(), U256::ZERO).await;
    }
    ok(&user, LEDGER_ADDRESS, retrieve.clone(), U256::ZERO).await;
    let ledger = call(&user, LEDGER_ADDRESS, L::getLedgerCall { user: u_addr }).await;
    assert_eq!(
        (ledger.availableBalance, ledger.totalBalance),
        (ether(7), ether(7))
    );
    let acct = account(&user, u_addr, p_addr).await;
    assert_eq!(acct.balance, U256::ZERO);

    // A persistent token revoked now stays revoked through the account's deletion.
    ok(
        &user,
        SERVING_ADDRESS,
        S::revokeTokenCall {
            provider: p_addr,
            tokenId: 7,
        }
        .abi_encode(),
        U256::ZERO,
    )
    .await;

    // Refunds to the wallet: leaving less than the minimum is refused; everything is
    // fine and deletes the ledger; deleteLedger then says it does not exist.
    assert!(matches!(
        ledger_err(
            &user,
            L::refundCall {
                amount: ether(7) - U256::from(1)
            }
            .abi_encode(),
            U256::ZERO
        )
        .await,
        L::ILedgerManagerErrors::MinimumDepositRequired(_)
    ));
    assert!(matches!(
        ledger_err(
            &user,
            L::refundCall { amount: ether(8) }.abi_encode(),
            U256::ZERO
        )
        .await,
        L::ILedgerManagerErrors::InsufficientBalance(_)
    ));
    let wallet = user.get_balance(u_addr).await.unwrap();
    let r = ok(
        &user,
        LEDGER_ADDRESS,
        L::refundCall { amount: ether(7) }.abi_encode(),
        U256::ZERO,
    )
    .await;
    let gas = gas_cost(&r);
    assert_eq!(
        user.get_balance(u_addr).await.unwrap(),
        wallet + ether(7) - gas
    );
    assert!(matches!(
        ledger_err(&user, L::deleteLedgerCall {}.abi_encode(), U256::ZERO).await,
        L::ILedgerManagerErrors::LedgerNotExists(_)
    ));
    // The sub-account is gone, but its nonce survives re-creation (no settlement replay).
    assert!(
        !call(
            &user,
            SERVING_ADDRESS,
            S::accountExistsCall {
                user: u_addr,
                provider: p_addr
            }
        )
        .await
    );
    ok(
        &user,
        LEDGER_ADDRESS,
        L::depositFundCall {}.abi_encode(),
        ether(3),
    )
    .await;
    ok(&user, LEDGER_ADDRESS, transfer(ether(2), NAME), U256::ZERO).await;
    let acct = account(&user, u_addr, p_addr).await;
    assert_eq!((acct.balance, acct.nonce), (ether(2), U256::from(30)));
    assert!(acct.revokedBitmap.bit(7), "a revoked token stays revoked");

    // The module holds exactly what the books say.
    let ledger_bal = user.get_balance(LEDGER_ADDRESS).await.unwrap();
    let serving_bal = user.get_balance(SERVING_ADDRESS).await.unwrap();
    assert_eq!(ledger_bal, ether(1));
    assert_eq!(serving_bal, ether(2) + ether(100));

    // Session-token revocation: one token, then all (generation + 1).
    ok(
        &user,
        SERVING_ADDRESS,
        S::revokeTokenCall {
            provider: p_addr,
            tokenId: 3,
        }
        .abi_encode(),
        U256::ZERO,
    )
    .await;
    assert!(
        call(
            &user,
            SERVING_ADDRESS,
            S::isTokenRevokedCall {
                user: u_addr,
                provider: p_addr,
                tokenId: 3
            }
        )
        .await
    );
    ok(
        &user,
        SERVING_ADDRESS,
        S::revokeAllTokensCall { provider: p_addr }.abi_encode(),
        U256::ZERO,
    )
    .await;
    let acct = account(&user, u_addr, p_addr).await;
    assert_eq!(
        (acct.generation, acct.revokedBitmap),
        (U256::from(1), U256::ZERO)
    );

    // A user cannot un-acknowledge with money in the account; direct deposits are
    // refused; a model change resets the signer acknowledgement.
    assert!(matches!(
        serving_err(
            &user,
            S::acknowledgeTEESignerCall {
                provider: p_addr,
                acknowledged: false
            }
            .abi_encode(),
            U256::ZERO
        )
        .await,
        S::IInferenceServingErrors::CannotRevokeWithNonZeroBalance(_)
    ));
    assert!(
        send(&user, SERVING_ADDRESS, Vec::new(), ether(1))
            .await
            .is_err()
    );
    assert!(
        send(&user, LEDGER_ADDRESS, Vec::new(), ether(1))
            .await
            .is_err()
    );
    let mut changed = params(tee.address(), 1_000, 2_000);
    changed.model = "echo-2".into();
    ok(&prov, SERVING_ADDRESS, add(changed), U256::ZERO).await;
    assert!(
        !call(
            &user,
            SERVING_ADDRESS,
            S::getServiceCall { provider: p_addr }
        )
        .await
        .teeSignerAcknowledged
    );

    // Removing the service returns the stake.
    let before = prov.get_balance(p_addr).await.unwrap();
    let r = ok(
        &prov,
        SERVING_ADDRESS,
        S::removeServiceCall {}.abi_encode(),
        U256::ZERO,
    )
    .await;
    let gas = gas_cost(&r);
    assert_eq!(
        prov.get_balance(p_addr).await.unwrap(),
        before + ether(100) - gas
    );
    assert!(matches!(
        serving_err(&prov, S::removeServiceCall {}.abi_encode(), U256::ZERO).await,
        S::IInferenceServingErrors::ServiceNotExist(_)
    ));
}
