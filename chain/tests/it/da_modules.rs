use std::time::Duration;

use alloy::network::TransactionBuilder;
use alloy::primitives::{Address, B256, Bytes, U256};
use alloy::providers::{DynProvider, Provider};
use alloy::rpc::types::TransactionRequest;
use alloy::signers::local::PrivateKeySigner;
use alloy::sol_types::{SolCall, SolEvent, SolInterface};
use zg_chain::{Genesis, RunningChain};
use zg_primitives::abi::{IDAEntrance, IDASigners};
use zg_primitives::{
    BlsSecretKey, BlsSignature, aggregate_signatures, attestation_message,
    epoch_registration_message, signer_bitmap,
};

use crate::helpers::*;

pub(crate) const CHAIN: u64 = 31337;

pub(crate) fn revert_data(err: alloy::contract::Error) -> Bytes {
    let resp = error_resp(&err);
    assert_eq!(resp.code, 3, "{resp:?}");
    serde_json::from_str(resp.data.as_ref().unwrap().get()).unwrap()
}

pub(crate) async fn send(
    p: &DynProvider,
    to: Address,
    data: Vec<u8>,
    value: U256,
) -> Result<alloy::rpc::types::TransactionReceipt, Bytes> {
    let tx = TransactionRequest::default()
        .with_to(to)
        .with_input(data)
        .with_value(value);
    match p.send_transaction(tx).await {
        Ok(pending) => {
            let r = pending.get_receipt().await.unwrap();
            for l in r.inner.logs() {
                record(format!("log {:?} {}", l.topics(), l.data().data));
            }
            Ok(r)
        }
        Err(e) => {
            let data = revert_data(alloy::contract::Error::TransportError(e));
            record(format!("revert {data}"));
            Err(data)
        }
    }
}

pub(crate) async fn call<C: SolCall>(p: &DynProvider, to: Address, c: C) -> C::Return {
    let tx = TransactionRequest::default()
        .with_to(to)
        .with_input(c.abi_encode());
    let out = p.call(tx).await.unwrap();
    record(format!("{} -> {out}", C::SIGNATURE));
    C::abi_decode_returns(&out).unwrap()
}

fn signer_err(data: &Bytes) -> IDASigners::IDASignersErrors {
    IDASigners::IDASignersErrors::abi_decode(data).unwrap()
}

fn entrance_err(data: &Bytes) -> IDAEntrance::IDAEntranceErrors {
    IDAEntrance::IDAEntranceErrors::abi_decode(data).unwrap()
}

/// Sends a call to the entrance module that must be refused; returns the decoded error.
async fn entrance_rejects<C: SolCall>(p: &DynProvider, c: C) -> IDAEntrance::IDAEntranceErrors {
    let e = send(p, entrance_addr(), c.abi_encode(), U256::ZERO)
        .await
        .unwrap_err();
    entrance_err(&e)
}

/// `registerSigner` sent by `from` naming `signer`, with raw key and proof bytes, that
/// must be refused; the decoded error.
async fn refused_registration(
    from: &DaSigner,
    signer: Address,
    pubkey: &[u8],
    pop: &[u8],
) -> IDASigners::IDASignersErrors {
    let c = IDASigners::registerSignerCall {
        signer: IDASigners::SignerDetail {
            signer,
            socket: "s".into(),
            pubkey: Bytes::copy_from_slice(pubkey),
        },
        pop: Bytes::copy_from_slice(pop),
    };
    let e = send(&from.p, signers_addr(), c.abi_encode(), U256::ZERO)
        .await
        .unwrap_err();
    signer_err(&e)
}

pub(crate) struct DaSigner {
    pub(crate) eth: PrivateKeySigner,
    pub(crate) bls: BlsSecretKey,
    pub(crate) p: DynProvider,
}

/// Starts an automining chain with `genesis` and the DA modules of `imp`, and makes the
/// eight DA signers (dev accounts 1 to 8, each with its own BLS key). Returns the chain,
/// its URL and the signers.
pub(crate) async fn start_da(
    dir: &TempDir,
    genesis: Genesis,
    imp: Impl,
) -> (RunningChain, String, Vec<DaSigner>) {
    let da = genesis.da.clone();
    let chain = start(dir, genesis, Duration::ZERO).await;
    let url = chain.rpc_url();
    use_impl(imp, &url, &da).await;
    let signers = (1..=8)
        .map(|i| {
            let eth = signer(i);
            DaSigner {
                p: provider(&url, eth.clone()),
                eth,
                bls: BlsSecretKey::from_ikm(&[i as u8; 32]).unwrap(),
            }
        })
        .collect();
    (chain, url, signers)
}

pub(crate) async fn register(s: &DaSigner, socket: &str) -> Result<(), Bytes> {
    let detail = IDASigners::SignerDetail {
        signer: s.eth.address(),
        socket: socket.into(),
        pubkey: Bytes::copy_from_slice(&s.bls.public_key().0),
    };
    let pop = s.bls.proof_of_possession(CHAIN, s.eth.address());
    let c = IDASigners::registerSignerCall {
        signer: detail,
        pop: Bytes::copy_from_slice(&pop.0),
    };
    send(&s.p, signers_addr(), c.abi_encode(), STAKE)
        .await
        .map(|r| assert!(r.status()))
}

/// The stake every test signer bonds (the default `minStake`, one ballot).
pub(crate) const STAKE: U256 = U256::from_limbs([1_000_000_000_000_000_000, 0, 0, 0]);

pub(crate) async fn register_next_epoch(s: &DaSigner) -> Result<(), Bytes> {
    let epoch: U256 = call(&s.p, signers_addr(), IDASigners::epochNumberCall {}).await;
    let msg = epoch_registration_message(CHAIN, s.eth.address(), epoch.to::<u64>() + 1);
    let sig = s.bls.sign(&msg);
    let c = IDASigners::registerNextEpochCall {
        signature: Bytes::copy_from_slice(&sig.0),
    };
    send(&s.p, signers_addr(), c.abi_encode(), U256::ZERO)
        .await
        .map(|r| assert!(r.status()))
}

pub(crate) fn submission(
    root: B256,
    epoch: u64,
    quorum: u64,
    blobs: u64,
    bitmap: Vec<u8>,
    sig: BlsSignature,
) -> IDAEntrance::submitVerifiedCommitRootsCall {
    IDAEntrance::submitVerifiedCommitRootsCall {
        submissions: vec![IDAEntrance::CommitRootSubmission {
            dataRoot: root,
            epoch: U256::from(epoch),
            quorumId: U256::from(quorum),
            blobCount: U256::from(blobs),
            signersBitmap: bitmap.into(),
            aggregateSignature: Bytes::copy_from_slice(&sig.0),
        }],
    }
}

/// The same suite against the precompiles and against the Solidity contracts: every
/// assertion holds for both, and both produce the same transcript (every call's return
/// data, every revert's data, every event's topics and data).
#[tokio::test]
async fn signers_and_entrance_identical_on_precompiles_and_contracts() {
    let precompiles = run_suite(signers_epochs_quorums_and_anchoring(Impl::Precompiles)).await;
    let contracts = run_suite(signers_epochs_quorums_and_anchoring(Impl::Contracts)).await;
    assert!(precompiles.len() > 50, "{precompiles:?}");
    for (i, (a, b)) in precompiles.iter().zip(&contracts).enumerate() {
        assert_eq!(a, b, "entry {i} differs");
    }
    assert_eq!(precompiles.len(), contracts.len());
}

async fn signers_epochs_quorums_and_anchoring(imp: Impl) {
    let dir = TempDir::new("da");
    let mut genesis = dev_genesis();
    genesis.da.epoch_blocks = 40;
    let blob_fee = genesis.da.blob_fee;
    let (chain, url, signers) = start_da(&dir, genesis, imp).await;

    // Registration, with every refusal path.
    for (i, s) in signers.iter().enumerate() {
        register(s, &format!("/ip4/127.0.0.1/tcp/{}", 9000 + i))
            .await
            .unwrap();
    }
    let again = register(&signers[0], "x").await.unwrap_err();
    assert!(matches!(
        signer_err(&again),
        IDASigners::IDASignersErrors::SignerAlreadyRegistered(_)
    ));
    // A bad proof of possession (signed for another address).
    let outsider = PrivateKeySigner::from_bytes(&alloy::primitives::keccak256("outsider")).unwrap();
    let funder = provider(&url, signer(0));
    send(
        &funder,
        outsider.address(),
        vec![],
        U256::from(10u64).pow(U256::from(19)),
    )
    .await
    .unwrap();
    let o = DaSigner {
        p: provider(&url, outsider.clone()),
        eth: outsider.clone(),
        bls: BlsSecretKey::from_ikm(&[99; 32]).unwrap(),
    };
    let bad_pop = o.bls.proof_of_possession(CHAIN, signers[0].eth.address());
    assert!(matches!(
        refused_registration(&o, outsider.address(), &o.bls.public_key().0, &bad_pop.0).await,
        IDASigners::IDASignersErrors::InvalidProofOfPossession(_)
    ));
    // Someone else's key: cannot prove possession for their own address.
    let stolen = signers[1].bls.public_key();
    assert!(matches!(
        refused_registration(
            &o,
            outsider.address(),
            &stolen.0,
            &o.bls.proof_of_possession(CHAIN, outsider.address()).0
        )
        .await,
        IDASigners::IDASignersErrors::InvalidProofOfPossession(_)
    ));
    // The key's owner re-using it under a second address: refused as a duplicate key.
    let dup = DaSigner {
        p: o.p.clone(),
        eth: outsider.clone(),
        bls: signers[1].bls.clone(),
    };
    let e = register(&dup, "s").await.unwrap_err();
    assert!(matches!(
        signer_err(&e),
        IDASigners::IDASignersErrors::PublicKeyInUse(_)
    ));
    // Registering on someone's behalf.
    assert!(matches!(
        refused_registration(
            &o,
            signers[2].eth.address(),
            &o.bls.public_key().0,
            &o.bls.proof_of_possession(CHAIN, signers[2].eth.address()).0
        )
        .await,
        IDASigners::IDASignersErrors::SignerMismatch(_)
    ));
    // A malformed key.
    assert!(matches!(
        refused_registration(&o, outsider.address(), &[1u8; 48], &[0u8; 96]).await,
        IDASigners::IDASignersErrors::InvalidPublicKey(_)
    ));

    // A rogue key pk_o − pk_victim: with it registered, the outsider alone could sign for
    // itself and the victim together (their keys sum to pk_o). Nobody knows its secret, so
    // no proof of possession can be made for it.
    let mut neg_victim = signers[1].bls.public_key();
    neg_victim.0[0] ^= 0x20; // compressed −P: the same x, the other y
    let rogue = zg_primitives::aggregate_public_keys(&[o.bls.public_key(), neg_victim]).unwrap();
    assert!(matches!(
        refused_registration(
            &o,
            outsider.address(),
            &rogue.0,
            &o.bls.proof_of_possession(CHAIN, outsider.address()).0
        )
        .await,
        IDASigners::IDASignersErrors::InvalidProofOfPossession(_)
    ));
    // A key that is not a curve point, and a proof that is not one.
    let mut off_curve = o.bls.public_key();
    off_curve.0[47] ^= 1;
    assert!(matches!(
        refused_registration(
            &o,
            outsider.address(),
            &off_curve.0,
            &o.bls.proof_of_possession(CHAIN, outsider.address()).0
        )
        .await,
        IDASigners::IDASignersErrors::InvalidPublicKey(_)
    ));
    let mut bad_pop = o.bls.proof_of_possession(CHAIN, outsider.address());
    bad_pop.0[95] ^= 1;
    assert!(matches!(
        refused_registration(&o, outsider.address(), &o.bls.public_key().0, &bad_pop.0).await,
        IDASigners::IDASignersErrors::InvalidProofOfPossession(_)
    ));

    // Socket updates.
    let c = IDASigners::updateSocketCall {
        socket: "/ip4/127.0.0.1/tcp/1234".into(),
    };
    send(&signers[0].p, signers_addr(), c.abi_encode(), U256::ZERO)
        .await
        .unwrap();
    let details = call(
        &funder,
        signers_addr(),
        IDASigners::getSignerCall {
            accounts: vec![signers[0].eth.address()],
        },
    )
    .await;
    assert_eq!(details[0].socket, "/ip4/127.0.0.1/tcp/1234");
    assert_eq!(details[0].pubkey.as_ref(), &signers[0].bls.public_key().0);
    assert!(
        call(
            &funder,
            signers_addr(),
            IDASigners::isSignerCall {
                account: signers[3].eth.address()
            }
        )
        .await
    );
    assert!(
        !call(
            &funder,
            signers_addr(),
            IDASigners::isSignerCall {
                account: outsider.address()
            }
        )
        .await
    );

    // Epoch registration.
    let epoch: U256 = call(&funder, signers_addr(), IDASigners::epochNumberCall {}).await;
    let next = epoch.to::<u64>() + 1;
    for s in &signers {
        register_next_epoch(s).await.unwrap();
    }
    let e = register_next_epoch(&signers[0]).await.unwrap_err();
    assert!(matches!(
        signer_err(&e),
        IDASigners::IDASignersErrors::AlreadyRegisteredForEpoch(_)
    ));
    let wrong = signers[1].bls.sign(&epoch_registration_message(
        CHAIN,
        signers[1].eth.address(),
        next + 5,
    ));
    let c = IDASigners::registerNextEpochCall {
        signature: Bytes::copy_from_slice(&wrong.0),
    };
    let e = send(&signers[1].p, signers_addr(), c.abi_encode(), U256::ZERO)
        .await
        .unwrap_err();
    assert!(matches!(
        signer_err(&e),
        IDASigners::IDASignersErrors::AlreadyRegisteredForEpoch(_)
            | IDASigners::IDASignersErrors::InvalidEpochSignature(_)
    ));
    // Not formed until the epoch starts.
    assert_eq!(
        call(
            &funder,
            signers_addr(),
            IDASigners::quorumCountCall {
                epoch: U256::from(next)
            }
        )
        .await,
        U256::ZERO
    );

    // Mine into the next epoch.
    let target = next * 40;
    let head = funder.get_block_number().await.unwrap();
    funder
        .raw_request::<_, String>("anvil_mine".into(), (format!("{:#x}", target - head),))
        .await
        .unwrap();
    let now: U256 = call(&funder, signers_addr(), IDASigners::epochNumberCall {}).await;
    assert_eq!(now.to::<u64>(), next);
    assert_eq!(
        call(
            &funder,
            signers_addr(),
            IDASigners::quorumCountCall {
                epoch: U256::from(next)
            }
        )
        .await,
        U256::from(1)
    );
    // Which member holds which seat depends on the seed, a block hash of each chain.
    let seed = funder
        .get_block_by_number((next * 40 - 1).into())
        .await
        .unwrap()
        .unwrap()
        .header
        .hash;
    alias(seed, "<seed>");
    recording(false);
    let members = call(
        &funder,
        signers_addr(),
        IDASigners::getQuorumCall {
            epoch: U256::from(next),
            quorumId: U256::ZERO,
        },
    )
    .await;
    recording(true);
    assert_eq!(members.len(), 8);
    let mut expected = members.clone();
    expected.sort();
    let mut all: Vec<Address> = signers.iter().map(|s| s.eth.address()).collect();
    all.sort();
    assert_eq!(
        expected, all,
        "the quorum is exactly the registered signers"
    );
    // Ordered by ballot, from the hash of the block that closed registration.
    let registrants: Vec<(Address, u64)> = signers.iter().map(|s| (s.eth.address(), 1)).collect();
    assert_eq!(
        members,
        zg_primitives::form_quorums(seed, next, &registrants, 8, 16)
    );
    record("getQuorum == form_quorums(seed)".into());
    assert_eq!(
        call(
            &funder,
            signers_addr(),
            IDASigners::quorumThresholdCall {
                epoch: U256::from(next),
                quorumId: U256::ZERO
            }
        )
        .await,
        U256::from(6)
    );
    let e = funder
        .call(
            TransactionRequest::default()
                .with_to(signers_addr())
                .with_input(
                    IDASigners::getQuorumCall {
                        epoch: U256::from(next),
                        quorumId: U256::from(1),
                    }
                    .abi_encode(),
                ),
        )
        .await
        .unwrap_err();
    assert_eq!(e.as_error_resp().unwrap().code, 3);

    // Deposits.
    let disperser = provider(&url, signer(9));
    let d_addr = signer(9).address();
    let one_eth = U256::from(10u64).pow(U256::from(18));
    let r = send(
        &disperser,
        entrance_addr(),
        IDAEntrance::depositCall {}.abi_encode(),
        one_eth,
    )
    .await
    .unwrap();
    assert!(r.status());
    assert_eq!(
        call(
            &funder,
            entrance_addr(),
            IDAEntrance::balanceOfCall { account: d_addr }
        )
        .await,
        one_eth
    );
    assert!(matches!(
        entrance_rejects(&disperser, IDAEntrance::depositCall {}).await,
        IDAEntrance::IDAEntranceErrors::ZeroAmount(_)
    ));

    // Sign an attestation with 6 of 8 members (1 and 5 missing).
    let root = B256::repeat_byte(0xDA);
    let blobs = 3u64;
    let msg = attestation_message(CHAIN, root, next, 0, blobs as u32);
    let sk_of = |a: &Address| {
        signers
            .iter()
            .find(|s| s.eth.address() == *a)
            .unwrap()
            .bls
            .clone()
    };
    let who = [0usize, 2, 3, 4, 6, 7];
    let sigs: Vec<BlsSignature> = who.iter().map(|&i| sk_of(&members[i]).sign(&msg)).collect();
    let agg = aggregate_signatures(&sigs).unwrap();
    let bitmap = signer_bitmap(8, who).unwrap();

    // Refusals first: nothing may be stored by any of them.
    let forged_bitmap = signer_bitmap(8, [1, 2, 3, 4, 6, 7]).unwrap();
    assert!(matches!(
        entrance_rejects(
            &disperser,
            submission(root, next, 0, blobs, forged_bitmap, agg)
        )
        .await,
        IDAEntrance::IDAEntranceErrors::InvalidAggregateSignature(_)
    ));
    let five = aggregate_signatures(&sigs[..5]).unwrap();
    let e = send(
        &disperser,
        entrance_addr(),
        submission(
            root,
            next,
            0,
            blobs,
            signer_bitmap(8, who[..5].iter().copied()).unwrap(),
            five,
        )
        .abi_encode(),
        U256::ZERO,
    )
    .await
    .unwrap_err();
    match entrance_err(&e) {
        IDAEntrance::IDAEntranceErrors::BelowThreshold(b) => {
            assert_eq!((b.signers, b.threshold), (U256::from(5), U256::from(6)))
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        entrance_rejects(
            &disperser,
            submission(root, next, 0, blobs, vec![0xff, 0], agg)
        )
        .await,
        IDAEntrance::IDAEntranceErrors::InvalidSignerBitmap(_)
    ));
    assert!(matches!(
        entrance_rejects(
            &disperser,
            submission(root, next, 1, blobs, bitmap.clone(), agg)
        )
        .await,
        IDAEntrance::IDAEntranceErrors::UnknownQuorum(_)
    ));
    assert!(
        matches!(
            entrance_rejects(
                &disperser,
                submission(root, next, 0, blobs + 1, bitmap.clone(), agg)
            )
            .await,
            IDAEntrance::IDAEntranceErrors::InvalidAggregateSignature(_)
        ),
        "the blob count is signed"
    );
    // A signature that is not a G2 point, and a valid one of another message.
    let mut garbled = agg;
    garbled.0[95] ^= 1;
    assert!(matches!(
        entrance_rejects(
            &disperser,
            submission(root, next, 0, blobs, bitmap.clone(), garbled)
        )
        .await,
        IDAEntrance::IDAEntranceErrors::InvalidAggregateSignature(_)
    ));
    let other_msg = attestation_message(CHAIN, B256::repeat_byte(1), next, 0, blobs as u32);
    let other: Vec<BlsSignature> = who
        .iter()
        .map(|&i| sk_of(&members[i]).sign(&other_msg))
        .collect();
    assert!(matches!(
        entrance_rejects(
            &disperser,
            submission(
                root,
                next,
                0,
                blobs,
                bitmap.clone(),
                aggregate_signatures(&other).unwrap()
            )
        )
        .await,
        IDAEntrance::IDAEntranceErrors::InvalidAggregateSignature(_)
    ));
    assert!(matches!(
        entrance_rejects(
            &disperser,
            submission(root, next, 0, 0, bitmap.clone(), agg)
        )
        .await,
        IDAEntrance::IDAEntranceErrors::InvalidBlobCount(_)
    ));
    // A valid certificate, but the submitter has no deposit.
    assert!(matches!(
        entrance_rejects(
            &funder,
            submission(root, next, 0, blobs, bitmap.clone(), agg)
        )
        .await,
        IDAEntrance::IDAEntranceErrors::InsufficientDeposit(_)
    ));
    // Mined anyway (explicit gas): status 0 and nothing stored.
    let tx = TransactionRequest::default()
        .with_to(entrance_addr())
        .with_input(
            submission(
                root,
                next,
                0,
                blobs,
                signer_bitmap(8, [1, 2, 3, 4, 6, 7]).unwrap(),
                agg,
            )
            .abi_encode(),
        )
        .with_gas_limit(1_000_000);
    let r = mined(&disperser, tx).await;
    assert!(!r.status());
    let exists = IDAEntrance::commitmentExistsCall {
        dataRoot: root,
        epoch: U256::from(next),
        quorumId: U256::ZERO,
    };
    assert!(!call(&funder, entrance_addr(), exists.clone()).await);

    // The valid submission anchors, emits 0G's event and charges the fee.
    let r = send(
        &disperser,
        entrance_addr(),
        submission(root, next, 0, blobs, bitmap.clone(), agg).abi_encode(),
        U256::ZERO,
    )
    .await
    .unwrap();
    assert!(r.status());
    let ev = r
        .inner
        .logs()
        .iter()
        .find_map(|l| IDAEntrance::ErasureCommitmentVerified::decode_log(&l.inner).ok())
        .unwrap();
    assert_eq!(
        (ev.dataRoot, ev.epoch, ev.quorumId),
        (root, U256::from(next), U256::ZERO)
    );
    assert!(call(&funder, entrance_addr(), exists.clone()).await);
    let after = one_eth - blob_fee * U256::from(blobs);
    assert_eq!(
        call(
            &funder,
            entrance_addr(),
            IDAEntrance::balanceOfCall { account: d_addr }
        )
        .await,
        after
    );
    // Resubmitting is idempotent: no event, no fee.
    let r = send(
        &disperser,
        entrance_addr(),
        submission(root, next, 0, blobs, bitmap, agg).abi_encode(),
        U256::ZERO,
    )
    .await
    .unwrap();
    assert!(r.status());
    assert!(r.inner.logs().is_empty());
    assert_eq!(
        call(
            &funder,
            entrance_addr(),
            IDAEntrance::balanceOfCall { account: d_addr }
        )
        .await,
        after
    );

    // Withdrawals.
    let before = disperser.get_balance(d_addr).await.unwrap();
    let r = send(
        &disperser,
        entrance_addr(),
        IDAEntrance::withdrawCall { amount: after }.abi_encode(),
        U256::ZERO,
    )
    .await
    .unwrap();
    let gas = gas_cost(&r);
    assert_eq!(
        disperser.get_balance(d_addr).await.unwrap(),
        before + after - gas
    );
    assert!(matches!(
        entrance_rejects(
            &disperser,
            IDAEntrance::withdrawCall {
                amount: U256::from(1),
            }
        )
        .await,
        IDAEntrance::IDAEntranceErrors::InsufficientDeposit(_)
    ));
    // Value sent to a non-payable function reverts.
    let e = send(
        &disperser,
        entrance_addr(),
        IDAEntrance::blobFeeCall {}.abi_encode(),
        U256::from(1),
    )
    .await
    .unwrap_err();
    assert!(e.is_empty(), "a non-payable function reverts without data");

    // Three epochs later the quorum has left the two-epoch anchor window: a certificate
    // its members signed is refused, while the anchored one stays (and re-submitting it
    // stays a no-op).
    let target = (next + 3) * 40;
    let head = funder.get_block_number().await.unwrap();
    funder
        .raw_request::<_, String>("anvil_mine".into(), (format!("{:#x}", target - head),))
        .await
        .unwrap();
    let late_root = B256::repeat_byte(0x1A);
    let late_msg = attestation_message(CHAIN, late_root, next, 0, 1);
    let late: Vec<BlsSignature> = who
        .iter()
        .map(|&i| sk_of(&members[i]).sign(&late_msg))
        .collect();
    let late_bitmap = signer_bitmap(8, who).unwrap();
    match entrance_rejects(
        &disperser,
        submission(
            late_root,
            next,
            0,
            1,
            late_bitmap.clone(),
            aggregate_signatures(&late).unwrap(),
        ),
    )
    .await
    {
        IDAEntrance::IDAEntranceErrors::StaleEpoch(s) => {
            assert_eq!(
                (s.epoch, s.current),
                (U256::from(next), U256::from(next + 3))
            )
        }
        other => panic!("{other:?}"),
    }
    let r = send(
        &disperser,
        entrance_addr(),
        submission(root, next, 0, blobs, late_bitmap, agg).abi_encode(),
        U256::ZERO,
    )
    .await
    .unwrap();
    assert!(r.status() && r.inner.logs().is_empty());
    assert!(call(&funder, entrance_addr(), exists).await);
    chain.shutdown().await.unwrap();
}
