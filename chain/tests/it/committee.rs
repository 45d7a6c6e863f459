//! Stake, registration lists and quorum formation: the staking paths on both
//! implementations (one transcript), the seed, a Sybil without stake, and anchoring gas
//! that does not grow with the number of registrants.

use std::time::{Duration, Instant};

use alloy::consensus::{SignableTransaction, TxEip1559, TxEnvelope};
use alloy::eips::eip2718::Encodable2718;
use alloy::primitives::{Address, B256, Bytes, TxKind, U256, keccak256};
use alloy::providers::{DynProvider, Provider};
use alloy::signers::SignerSync;
use alloy::signers::local::PrivateKeySigner;
use alloy::sol_types::{SolCall, SolInterface};

use zg_primitives::abi::{DA_ENTRANCE_ADDRESS, DA_SIGNERS_ADDRESS, IDAEntrance, IDASigners};
use zg_primitives::{
    BlsSecretKey, BlsSignature, aggregate_signatures, attestation_message,
    epoch_registration_message, signer_bitmap,
};

use crate::da_modules::{
    CHAIN, DaSigner, STAKE, call, register, register_next_epoch, send, start_da, submission,
};
use crate::helpers::*;

fn signer_err(data: &Bytes) -> IDASigners::IDASignersErrors {
    IDASigners::IDASignersErrors::abi_decode(data).unwrap()
}

async fn mine(p: &DynProvider, blocks: u64) {
    p.raw_request::<_, String>("anvil_mine".into(), (format!("{blocks:#x}"),))
        .await
        .unwrap();
}

async fn mine_to(p: &DynProvider, block: u64) {
    let head = p.get_block_number().await.unwrap();
    if block > head {
        mine(p, block - head).await;
    }
}

async fn epoch_now(p: &DynProvider) -> u64 {
    call(p, signers_addr(), IDASigners::epochNumberCall {})
        .await
        .to::<u64>()
}

/// Every staking path, refusals included, gives the same transcript on the precompiles
/// and on the Solidity contracts.
#[tokio::test]
async fn staking_identical_on_precompiles_and_contracts() {
    let precompiles = run_suite(staking(Impl::Precompiles)).await;
    let contracts = run_suite(staking(Impl::Contracts)).await;
    assert!(precompiles.len() > 40, "{precompiles:?}");
    for (i, (a, b)) in precompiles.iter().zip(&contracts).enumerate() {
        assert_eq!(a, b, "entry {i} differs");
    }
    assert_eq!(precompiles.len(), contracts.len());
}

async fn staking(imp: Impl) {
    const E: u64 = 40;
    let dir = TempDir::new("stake");
    let mut genesis = dev_genesis();
    genesis.da.epoch_blocks = E;
    genesis.da.sample_window_epochs = 1;
    genesis.da.unbonding_epochs = 3;
    genesis.da.max_ballots = 4;
    genesis.da.max_registrants = 8;
    let (chain, url, signers) = start_da(&dir, genesis, imp).await;
    let funder = provider(&url, signer(0));

    // Registering needs the minimum stake.
    let s0 = &signers[0];
    let detail = |s: &DaSigner| IDASigners::registerSignerCall {
        signer: IDASigners::SignerDetail {
            signer: s.eth.address(),
            socket: "/ip4/127.0.0.1/tcp/1".into(),
            pubkey: Bytes::copy_from_slice(&s.bls.public_key().0),
        },
        pop: Bytes::copy_from_slice(&s.bls.proof_of_possession(CHAIN, s.eth.address()).0),
    };
    let e = send(
        &s0.p,
        signers_addr(),
        detail(s0).abi_encode(),
        STAKE - U256::from(1),
    )
    .await
    .unwrap_err();
    match signer_err(&e) {
        IDASigners::IDASignersErrors::InsufficientStake(x) => {
            assert_eq!((x.stake, x.required), (STAKE - U256::from(1), STAKE))
        }
        other => panic!("{other:?}"),
    }
    for s in &signers {
        register(s, "/ip4/127.0.0.1/tcp/1").await.unwrap();
    }
    let params = call(&funder, signers_addr(), IDASigners::stakeParamsCall {}).await;
    assert_eq!(
        (
            params.minStake,
            params.maxBallots,
            params.unbondingEpochs,
            params.maxRegistrants
        ),
        (STAKE, 4, 3, 8)
    );
    let stake_of = |a: Address| IDASigners::stakeOfCall { account: a };
    let weight_of = |a: Address| IDASigners::ballotWeightCall { account: a };
    let s1 = &signers[1];
    let st = call(&funder, signers_addr(), stake_of(s1.eth.address())).await;
    assert_eq!((st.bonded, st.unbonding), (STAKE, U256::ZERO));
    assert_eq!(
        call(&funder, signers_addr(), weight_of(s1.eth.address())).await,
        U256::from(1)
    );

    // More stake, more ballots, up to the cap; zero value and non-signers are refused,
    // and so is value sent to a function that takes none.
    send(
        &s1.p,
        signers_addr(),
        IDASigners::addStakeCall {}.abi_encode(),
        STAKE * U256::from(2),
    )
    .await
    .unwrap();
    assert_eq!(
        call(&funder, signers_addr(), weight_of(s1.eth.address())).await,
        U256::from(3)
    );
    send(
        &s1.p,
        signers_addr(),
        IDASigners::addStakeCall {}.abi_encode(),
        STAKE * U256::from(5),
    )
    .await
    .unwrap();
    assert_eq!(
        call(&funder, signers_addr(), weight_of(s1.eth.address())).await,
        U256::from(4)
    );
    let e = send(
        &s1.p,
        signers_addr(),
        IDASigners::addStakeCall {}.abi_encode(),
        U256::ZERO,
    )
    .await
    .unwrap_err();
    assert!(matches!(
        signer_err(&e),
        IDASigners::IDASignersErrors::ZeroAmount(_)
    ));
    let outsider = provider(&url, signer(9));
    let e = send(
        &outsider,
        signers_addr(),
        IDASigners::addStakeCall {}.abi_encode(),
        STAKE,
    )
    .await
    .unwrap_err();
    assert!(matches!(
        signer_err(&e),
        IDASigners::IDASignersErrors::NotASigner(_)
    ));
    let e = send(
        &s1.p,
        signers_addr(),
        IDASigners::updateSocketCall { socket: "x".into() }.abi_encode(),
        U256::from(1),
    )
    .await
    .unwrap_err();
    assert!(e.is_empty(), "a non-payable function reverts without data");

    // Unbonding: not more than is bonded, and never below the minimum unless to zero.
    let unbond = |amount: U256| IDASigners::unbondCall { amount }.abi_encode();
    let s2 = &signers[2];
    let e = send(
        &s2.p,
        signers_addr(),
        unbond(STAKE * U256::from(2)),
        U256::ZERO,
    )
    .await
    .unwrap_err();
    assert!(matches!(
        signer_err(&e),
        IDASigners::IDASignersErrors::InsufficientStake(_)
    ));
    let e = send(
        &s1.p,
        signers_addr(),
        unbond(STAKE * U256::from(8) - U256::from(1)),
        U256::ZERO,
    )
    .await
    .unwrap_err();
    match signer_err(&e) {
        IDASigners::IDASignersErrors::InsufficientStake(x) => {
            assert_eq!((x.stake, x.required), (U256::from(1), STAKE))
        }
        other => panic!("{other:?}"),
    }
    let e = send(&s1.p, signers_addr(), unbond(U256::ZERO), U256::ZERO)
        .await
        .unwrap_err();
    assert!(matches!(
        signer_err(&e),
        IDASigners::IDASignersErrors::ZeroAmount(_)
    ));
    send(&s2.p, signers_addr(), unbond(STAKE), U256::ZERO)
        .await
        .unwrap();
    let unbonded_at = epoch_now(&funder).await;
    let st = call(&funder, signers_addr(), stake_of(s2.eth.address())).await;
    assert_eq!(
        (st.bonded, st.unbonding, st.releaseEpoch),
        (U256::ZERO, STAKE, U256::from(unbonded_at + 3))
    );
    // Without bonded stake there is no registering for an epoch.
    let e = register_next_epoch(s2).await.unwrap_err();
    match signer_err(&e) {
        IDASigners::IDASignersErrors::InsufficientStake(x) => {
            assert_eq!((x.stake, x.required), (U256::ZERO, STAKE))
        }
        other => panic!("{other:?}"),
    }
    let withdraw = IDASigners::withdrawStakeCall {}.abi_encode();
    let e = send(&s2.p, signers_addr(), withdraw.clone(), U256::ZERO)
        .await
        .unwrap_err();
    assert!(matches!(
        signer_err(&e),
        IDASigners::IDASignersErrors::StillBonded(_)
    ));
    let e = send(&s1.p, signers_addr(), withdraw.clone(), U256::ZERO)
        .await
        .unwrap_err();
    assert!(matches!(
        signer_err(&e),
        IDASigners::IDASignersErrors::NothingToWithdraw(_)
    ));

    // A full registration list (8 kept): equals are refused, a heavier one displaces
    // the latest of the lightest.
    mine_to(&funder, (epoch_now(&funder).await + 1) * E).await;
    let next = epoch_now(&funder).await + 1;
    let rest: Vec<&DaSigner> = signers
        .iter()
        .filter(|s| s.eth.address() != s2.eth.address())
        .collect();
    for s in &rest {
        register_next_epoch(s).await.unwrap();
    }
    let extra_key = PrivateKeySigner::from_bytes(&keccak256("extra signer")).unwrap();
    send(&funder, extra_key.address(), vec![], STAKE * U256::from(10))
        .await
        .unwrap();
    let extra = DaSigner {
        p: provider(&url, extra_key.clone()),
        eth: extra_key,
        bls: BlsSecretKey::from_ikm(&[77; 32]).unwrap(),
    };
    register(&extra, "/ip4/127.0.0.1/tcp/2").await.unwrap();
    // s2 comes back with stake: the list now has 7 + s2 = 8.
    send(
        &s2.p,
        signers_addr(),
        IDASigners::addStakeCall {}.abi_encode(),
        STAKE,
    )
    .await
    .unwrap();
    register_next_epoch(s2).await.unwrap();
    let e = register_next_epoch(&extra).await.unwrap_err();
    match signer_err(&e) {
        IDASigners::IDASignersErrors::RegistrationFull(x) => {
            assert_eq!((x.weight, x.lightest), (U256::from(1), U256::from(1)))
        }
        other => panic!("{other:?}"),
    }
    send(
        &extra.p,
        signers_addr(),
        IDASigners::addStakeCall {}.abi_encode(),
        STAKE,
    )
    .await
    .unwrap();
    register_next_epoch(&extra).await.unwrap();
    let registered = |a: Address| IDASigners::registeredForEpochCall {
        account: a,
        epoch: U256::from(next),
    };
    assert!(
        !call(&funder, signers_addr(), registered(s2.eth.address())).await,
        "s2 was displaced"
    );
    assert!(call(&funder, signers_addr(), registered(extra.eth.address())).await);
    assert_eq!(
        call(
            &funder,
            signers_addr(),
            IDASigners::registrantCountCall {
                epoch: U256::from(next)
            }
        )
        .await,
        U256::from(8)
    );

    // Formation: not while registration is open; then from the closing block's hash.
    let form = |e: u64| {
        IDASigners::formQuorumsCall {
            epoch: U256::from(e),
        }
        .abi_encode()
    };
    let e = send(&funder, signers_addr(), form(next), U256::ZERO)
        .await
        .unwrap_err();
    assert!(matches!(
        signer_err(&e),
        IDASigners::IDASignersErrors::SeedUnavailable(_)
    ));
    mine_to(&funder, next * E + 2).await;
    let seed = funder
        .get_block_by_number((next * E - 1).into())
        .await
        .unwrap()
        .unwrap()
        .header
        .hash;
    alias(seed, "<seed>");
    send(&funder, signers_addr(), form(next), U256::ZERO)
        .await
        .unwrap();
    assert_eq!(
        call(
            &funder,
            signers_addr(),
            IDASigners::epochSeedCall {
                epoch: U256::from(next)
            }
        )
        .await,
        seed
    );
    // Forming again does nothing.
    let r = send(&funder, signers_addr(), form(next), U256::ZERO)
        .await
        .unwrap();
    assert!(r.inner.logs().is_empty());

    // Released stake is paid out.
    mine_to(&funder, (unbonded_at + 3) * E).await;
    let before = s2.p.get_balance(s2.eth.address()).await.unwrap();
    let r = send(&s2.p, signers_addr(), withdraw.clone(), U256::ZERO)
        .await
        .unwrap();
    assert_eq!(
        s2.p.get_balance(s2.eth.address()).await.unwrap(),
        before + STAKE - gas_cost(&r)
    );
    let e = send(&s2.p, signers_addr(), withdraw, U256::ZERO)
        .await
        .unwrap_err();
    assert!(matches!(
        signer_err(&e),
        IDASigners::IDASignersErrors::NothingToWithdraw(_)
    ));

    // An epoch whose registrants nobody formed within 256 blocks has no quorums.
    let late = epoch_now(&funder).await + 1;
    for s in rest.iter().copied().chain([&extra]) {
        register_next_epoch(s).await.unwrap();
    }
    mine_to(&funder, late * E + 300).await;
    assert_eq!(
        call(
            &funder,
            signers_addr(),
            IDASigners::quorumCountCall {
                epoch: U256::from(late)
            }
        )
        .await,
        U256::ZERO
    );
    let e = send(&funder, signers_addr(), form(late), U256::ZERO)
        .await
        .unwrap_err();
    assert!(matches!(
        signer_err(&e),
        IDASigners::IDASignersErrors::SeedUnavailable(_)
    ));
    chain.shutdown().await.unwrap();
}

/// A Sybil's registrations without stake are all refused, so it holds no seat.
#[tokio::test]
async fn sybil_without_stake_holds_no_seat() {
    let dir = TempDir::new("sybil");
    let mut genesis = dev_genesis();
    genesis.da.epoch_blocks = 1_000;
    let sybils: Vec<PrivateKeySigner> = (0..100u64)
        .map(|i| PrivateKeySigner::from_bytes(&keccak256(format!("sybil {i}"))).unwrap())
        .collect();
    for s in &sybils {
        genesis.alloc.insert(s.address(), STAKE);
    }
    let (chain, url, _signers) = start_da(&dir, genesis, Impl::Precompiles).await;
    let p = provider(&url, signer(0));
    let mut refused = 0;
    for (i, s) in sybils.iter().enumerate() {
        let bls = BlsSecretKey::from_ikm(&keccak256(format!("sybil bls {i}")).0).unwrap();
        let c = IDASigners::registerSignerCall {
            signer: IDASigners::SignerDetail {
                signer: s.address(),
                socket: "/ip4/127.0.0.1/tcp/1".into(),
                pubkey: Bytes::copy_from_slice(&bls.public_key().0),
            },
            pop: Bytes::copy_from_slice(&bls.proof_of_possession(CHAIN, s.address()).0),
        };
        let e = send(
            &provider(&url, s.clone()),
            DA_SIGNERS_ADDRESS,
            c.abi_encode(),
            U256::ZERO,
        )
        .await
        .unwrap_err();
        assert!(matches!(
            signer_err(&e),
            IDASigners::IDASignersErrors::InsufficientStake(_)
        ));
        refused += 1;
    }
    assert_eq!(refused, 100);
    for s in &sybils {
        let is = call(
            &p,
            DA_SIGNERS_ADDRESS,
            IDASigners::isSignerCall {
                account: s.address(),
            },
        )
        .await;
        assert!(!is);
    }
    chain.shutdown().await.unwrap();
}

/// One registrant of the load test: its account and BLS key.
struct Registrant {
    eth: PrivateKeySigner,
    bls: BlsSecretKey,
}

fn raw_call(
    from: &PrivateKeySigner,
    nonce: u64,
    to: Address,
    value: U256,
    input: Vec<u8>,
) -> Bytes {
    let t = TxEip1559 {
        chain_id: CHAIN,
        nonce,
        gas_limit: 2_000_000,
        max_fee_per_gas: 100_000_000_000,
        max_priority_fee_per_gas: 1_000_000_000,
        to: TxKind::Call(to),
        value,
        access_list: Default::default(),
        input: input.into(),
    };
    let sig = from.sign_hash_sync(&t.signature_hash()).unwrap();
    TxEnvelope::Eip1559(t.into_signed(sig))
        .encoded_2718()
        .into()
}

/// Sends raw transactions (one per registrant) and waits until all are mined.
async fn send_all(p: &DynProvider, txs: Vec<Bytes>) {
    let mut last = B256::ZERO;
    for chunk in txs.chunks(256) {
        let sends = chunk.iter().map(|t| p.send_raw_transaction(t));
        for r in futures::future::join_all(sends).await {
            last = *r.unwrap().tx_hash();
        }
    }
    let deadline = Instant::now() + Duration::from_secs(300);
    while p.get_transaction_receipt(last).await.unwrap().is_none() {
        assert!(Instant::now() < deadline, "transactions not mined");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // And every other one (mined, reverted or not).
    for t in &txs {
        let h = keccak256(t);
        while p.get_transaction_receipt(h).await.unwrap().is_none() {
            assert!(Instant::now() < deadline, "transactions not mined");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Registers `regs` as signers (the `i`-th of them, numbered from `from`, bonds
/// `1 + i % 4` ether).
async fn register_signers(p: &DynProvider, regs: &[Registrant], from: usize) {
    let txs = regs
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let c = IDASigners::registerSignerCall {
                signer: IDASigners::SignerDetail {
                    signer: r.eth.address(),
                    socket: "/ip4/127.0.0.1/tcp/1".into(),
                    pubkey: Bytes::copy_from_slice(&r.bls.public_key().0),
                },
                pop: Bytes::copy_from_slice(&r.bls.proof_of_possession(CHAIN, r.eth.address()).0),
            };
            let stake = STAKE * U256::from(1 + (from + i) % 4);
            raw_call(&r.eth, 0, DA_SIGNERS_ADDRESS, stake, c.abi_encode())
        })
        .collect();
    send_all(p, txs).await;
}

/// Registers `regs` for the next epoch, mines into it, forms its quorums and anchors two
/// certificates of quorum 0 signed by 6 of 8; the second anchor's gas (the first pays
/// for slots it is the first to write) and the number of registrants kept.
async fn epoch_with(p: &DynProvider, regs: &[Registrant], epoch_blocks: u64) -> (u64, u64) {
    let head = p.get_block_number().await.unwrap();
    let next = head / epoch_blocks + 1;
    let mut txs = Vec::with_capacity(regs.len());
    for r in regs {
        let nonce = p.get_transaction_count(r.eth.address()).await.unwrap();
        let sig = r
            .bls
            .sign(&epoch_registration_message(CHAIN, r.eth.address(), next));
        let c = IDASigners::registerNextEpochCall {
            signature: Bytes::copy_from_slice(&sig.0),
        };
        txs.push(raw_call(
            &r.eth,
            nonce,
            DA_SIGNERS_ADDRESS,
            U256::ZERO,
            c.abi_encode(),
        ));
    }
    send_all(p, txs).await;
    assert_eq!(
        p.get_block_number().await.unwrap() / epoch_blocks + 1,
        next,
        "registration spilled into the next epoch"
    );
    let kept: U256 = call(
        p,
        DA_SIGNERS_ADDRESS,
        IDASigners::registrantCountCall {
            epoch: U256::from(next),
        },
    )
    .await;
    mine_to(p, next * epoch_blocks).await;
    send(
        p,
        DA_SIGNERS_ADDRESS,
        IDASigners::formQuorumsCall {
            epoch: U256::from(next),
        }
        .abi_encode(),
        U256::ZERO,
    )
    .await
    .unwrap();
    let members = call(
        p,
        DA_SIGNERS_ADDRESS,
        IDASigners::getQuorumCall {
            epoch: U256::from(next),
            quorumId: U256::ZERO,
        },
    )
    .await;
    let seed = p
        .get_block_by_number((next * epoch_blocks - 1).into())
        .await
        .unwrap()
        .unwrap()
        .header
        .hash;
    assert_eq!(
        call(
            p,
            DA_SIGNERS_ADDRESS,
            IDASigners::epochSeedCall {
                epoch: U256::from(next)
            }
        )
        .await,
        seed,
        "the seed is the hash of the block that closed registration"
    );
    let mut gas = 0;
    for k in 0..2 {
        let root = keccak256(format!("payload {k} of epoch {next}"));
        let msg = attestation_message(CHAIN, root, next, 0, 2);
        let who = [0usize, 1, 2, 4, 5, 7];
        let sigs: Vec<BlsSignature> = who
            .iter()
            .map(|&i| {
                regs.iter()
                    .find(|r| r.eth.address() == members[i])
                    .unwrap()
                    .bls
                    .sign(&msg)
            })
            .collect();
        let r = send(
            p,
            DA_ENTRANCE_ADDRESS,
            submission(
                root,
                next,
                0,
                2,
                signer_bitmap(8, who).unwrap(),
                aggregate_signatures(&sigs).unwrap(),
            )
            .abi_encode(),
            U256::ZERO,
        )
        .await
        .unwrap();
        assert!(r.status());
        // The second anchor: the first also pays for the first writes of its signers'
        // reward slots.
        assert!(k == 0 || r.gas_used < 300_000, "{}", r.gas_used);
        // Execution gas: the calldata's price varies with the signature's zero bytes.
        let tx = p
            .get_transaction_by_hash(r.transaction_hash)
            .await
            .unwrap()
            .unwrap();
        let input = alloy::consensus::Transaction::input(tx.inner.inner());
        let calldata: u64 = input.iter().map(|&b| if b == 0 { 4 } else { 16 }).sum();
        gas = r.gas_used - calldata;
    }
    (gas, kept.to::<u64>())
}

/// Anchoring reads the stored quorum: 5 000 registrants for an epoch cost the anchor
/// the same gas as 100, under 300 000; the list keeps the heaviest `maxRegistrants`.
#[tokio::test]
async fn anchoring_gas_does_not_grow_with_registrants() {
    const MANY: usize = 5_000;
    const EPOCH: u64 = 2_000;
    let dir = TempDir::new("registrants");
    let mut genesis = dev_genesis();
    genesis.da.epoch_blocks = EPOCH;
    let regs: Vec<Registrant> = (0..MANY)
        .map(|i| Registrant {
            eth: PrivateKeySigner::from_bytes(&keccak256(format!("registrant {i}"))).unwrap(),
            bls: BlsSecretKey::from_ikm(&keccak256(format!("registrant bls {i}")).0).unwrap(),
        })
        .collect();
    for r in &regs {
        genesis
            .alloc
            .insert(r.eth.address(), STAKE * U256::from(10));
    }
    let max_registrants = genesis.da.max_registrants;
    // Blocks every 100 ms with room for a thousand registrations each, so 10 000
    // registration transactions take a few blocks rather than one block apiece.
    genesis.gas_limit = 1_000_000_000;
    let chain = start(&dir, genesis, Duration::from_millis(100)).await;
    let p = provider(&chain.rpc_url(), signer(0));
    send(
        &p,
        DA_ENTRANCE_ADDRESS,
        IDAEntrance::depositCall {}.abi_encode(),
        STAKE,
    )
    .await
    .unwrap();
    let t = Instant::now();
    register_signers(&p, &regs[..100], 0).await;
    let (few_gas, few_kept) = epoch_with(&p, &regs[..100], EPOCH).await;
    let few = t.elapsed();
    register_signers(&p, &regs[100..], 100).await;
    let (many_gas, many_kept) = epoch_with(&p, &regs, EPOCH).await;
    eprintln!(
        "anchoring gas: {few_gas} with 100 registrants ({few:?}), {many_gas} with {MANY} ({:?})",
        t.elapsed()
    );
    assert_eq!(few_kept, 100);
    assert_eq!(many_kept, max_registrants);
    assert_eq!(few_gas, many_gas);
    assert!(many_gas < 300_000, "{many_gas}");
    chain.shutdown().await.unwrap();
}

/// The fees of 100 anchored payloads are paid to their signers to the wei (and to the
/// pool, when it takes a share), identically on both implementations; claims pay out.
#[tokio::test]
async fn fees_are_paid_exactly_to_their_signers() {
    for share in [0u64, 1_234] {
        let precompiles = run_suite(fee_split(Impl::Precompiles, share)).await;
        let contracts = run_suite(fee_split(Impl::Contracts, share)).await;
        assert!(precompiles.len() > 100, "{}", precompiles.len());
        for (i, (a, b)) in precompiles.iter().zip(&contracts).enumerate() {
            assert_eq!(a, b, "entry {i} differs (pool share {share})");
        }
        assert_eq!(precompiles.len(), contracts.len());
    }
}

async fn fee_split(imp: Impl, pool_share_bps: u64) {
    const E: u64 = 20;
    let dir = TempDir::new("fees");
    let mut genesis = dev_genesis();
    genesis.da.epoch_blocks = E;
    genesis.da.pool_share_bps = pool_share_bps;
    // A fee per blob no signer count divides evenly.
    genesis.da.blob_fee = U256::from(1_000_000_007u64);
    let blob_fee = genesis.da.blob_fee;
    let (chain, url, signers) = start_da(&dir, genesis, imp).await;
    let funder = provider(&url, signer(0));
    for s in &signers {
        register(s, "/ip4/127.0.0.1/tcp/1").await.unwrap();
    }
    mine_to(&funder, (epoch_now(&funder).await + 1) * E).await;
    for s in &signers {
        register_next_epoch(s).await.unwrap();
    }
    let epoch = epoch_now(&funder).await + 1;
    mine_to(&funder, epoch * E).await;
    // Which member holds which seat depends on the seed (a block hash of each chain):
    // the transcript names members by seat.
    let seed = funder
        .get_block_by_number((epoch * E - 1).into())
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
            epoch: U256::from(epoch),
            quorumId: U256::ZERO,
        },
    )
    .await;
    recording(true);
    for (k, m) in members.iter().enumerate() {
        alias(m, &format!("<member {k}>"));
    }
    let sk = |a: &Address| {
        signers
            .iter()
            .find(|s| s.eth.address() == *a)
            .unwrap()
            .bls
            .clone()
    };
    let disperser = provider(&url, signer(9));
    send(
        &disperser,
        entrance_addr(),
        IDAEntrance::depositCall {}.abi_encode(),
        STAKE,
    )
    .await
    .unwrap();

    // 100 payloads, ten per transaction, each signed by 6, 7 or 8 members.
    let mut expected = std::collections::HashMap::<Address, U256>::new();
    let (mut fees, mut pool) = (U256::ZERO, U256::ZERO);
    for batch in 0..10u64 {
        let mut subs = Vec::new();
        for j in 0..10u64 {
            let n = batch * 10 + j;
            let root = keccak256(format!("fee payload {n}"));
            let blobs = 1 + n % 5;
            let who: Vec<usize> = (0..8).filter(|i| (n + *i as u64) % 8 >= n % 3).collect();
            let msg = attestation_message(CHAIN, root, epoch, 0, blobs as u32);
            let sigs: Vec<BlsSignature> = who.iter().map(|&i| sk(&members[i]).sign(&msg)).collect();
            subs.push(
                submission(
                    root,
                    epoch,
                    0,
                    blobs,
                    signer_bitmap(8, who.iter().copied()).unwrap(),
                    aggregate_signatures(&sigs).unwrap(),
                )
                .submissions
                .remove(0),
            );
            // What each signer should get, computed here independently.
            let fee = blob_fee * U256::from(blobs);
            let to_pool = fee * U256::from(pool_share_bps) / U256::from(10_000u64);
            let rest = fee - to_pool;
            let k = U256::from(who.len());
            for (idx, &i) in who.iter().enumerate() {
                let extra = if U256::from(idx) < rest % k {
                    U256::from(1)
                } else {
                    U256::ZERO
                };
                *expected.entry(members[i]).or_default() += rest / k + extra;
            }
            fees += fee;
            pool += to_pool;
        }
        let c = IDAEntrance::submitVerifiedCommitRootsCall { submissions: subs };
        let r = send(&disperser, entrance_addr(), c.abi_encode(), U256::ZERO)
            .await
            .unwrap();
        assert!(r.status());
    }
    let mut paid = U256::ZERO;
    for m in &members {
        let got = call(
            &funder,
            entrance_addr(),
            IDAEntrance::rewardsOfCall { account: *m },
        )
        .await;
        assert_eq!(
            got,
            expected.get(m).copied().unwrap_or_default(),
            "rewards of {m}"
        );
        paid += got;
    }
    assert_eq!(
        call(&funder, entrance_addr(), IDAEntrance::rewardPoolCall {}).await,
        pool
    );
    assert_eq!(paid + pool, fees, "no wei lost to rounding");
    if pool_share_bps == 0 {
        assert_eq!(paid, fees);
    }
    // Claims pay out what was earned, once.
    for m in &members {
        let s = signers.iter().find(|s| s.eth.address() == *m).unwrap();
        let earned = call(
            &funder,
            entrance_addr(),
            IDAEntrance::rewardsOfCall {
                account: s.eth.address(),
            },
        )
        .await;
        let before = s.p.get_balance(s.eth.address()).await.unwrap();
        let r = send(
            &s.p,
            entrance_addr(),
            IDAEntrance::claimRewardsCall {}.abi_encode(),
            U256::ZERO,
        )
        .await
        .unwrap();
        assert_eq!(
            s.p.get_balance(s.eth.address()).await.unwrap(),
            before + earned - gas_cost(&r)
        );
        let e = send(
            &s.p,
            entrance_addr(),
            IDAEntrance::claimRewardsCall {}.abi_encode(),
            U256::ZERO,
        )
        .await
        .unwrap_err();
        assert!(matches!(
            IDAEntrance::IDAEntranceErrors::abi_decode(&e).unwrap(),
            IDAEntrance::IDAEntranceErrors::NothingToClaim(_)
        ));
    }
    chain.shutdown().await.unwrap();
}
