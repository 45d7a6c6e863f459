//! The DA sampling module (`0x…1002`): every accept and revert path of
//! `submitSamplingResponse`, the round views and the target adjustment, against real
//! anchors of a real encoded payload.

use alloy::primitives::{Address, B256, Bytes, U256};
use alloy::providers::{DynProvider, Provider};
use alloy::sol_types::{SolCall, SolEvent, SolInterface};
use zg_primitives::abi::{IDAEntrance, IDASampling, IDASigners};
use zg_primitives::{
    BlsSignature, EncodedPayload, Kzg, aggregate_signatures, attestation_message, encode,
    sample_quality, signer_bitmap,
};

use crate::da_modules::*;
use crate::helpers::*;

const PERIOD: u64 = 16;
const EPOCH_BLOCKS: u64 = 40;
const WINDOW: u64 = 1;
const MAX_WINS: u64 = 3;

type SErr = IDASampling::IDASamplingErrors;

async fn mine_to_next_round(p: &DynProvider) -> u64 {
    // Automine: the head becomes the round's first block, later transactions land in it.
    let head = p.get_block_number().await.unwrap();
    let start = (head / PERIOD + 1) * PERIOD;
    mine_to(p, start).await;
    start
}

struct Round {
    number: U256,
    seed: B256,
    target: U256,
}

async fn current_round(p: &DynProvider) -> Round {
    let r = call(p, sampling_addr(), IDASampling::currentRoundCall {}).await;
    Round {
        number: r.round,
        seed: r.seed,
        target: r.target,
    }
}

struct Anchored {
    encoded: EncodedPayload,
    payload_len: u32,
    epoch: u64,
}

impl Anchored {
    fn response(&self, round: U256, column: u16, blob: u32) -> IDASampling::SampleResponse {
        let header = &self.encoded.header;
        let b = blob.min(header.commitments.len() as u32 - 1) as usize;
        let ext = &self.encoded.blobs[b];
        let c = usize::from(column) % 128;
        IDASampling::SampleResponse {
            round,
            epoch: U256::from(self.epoch),
            quorumId: U256::ZERO,
            dataRoot: self.encoded.data_root,
            payloadLen: self.payload_len,
            blobIndex: blob,
            column,
            merkleProof: header.inclusion_proof(b).unwrap().siblings,
            commitment: Bytes::copy_from_slice(&header.commitments[b].0),
            cell: Bytes::copy_from_slice(ext.cells[c].as_bytes()),
            proof: Bytes::copy_from_slice(&ext.proofs[c].0),
        }
    }

    /// Cells of blobs `blobs` that win (or lose) against `round`.
    fn cells(&self, round: &Round, wins: bool, blobs: std::ops::Range<u32>) -> Vec<(u16, u32)> {
        let mut out = Vec::new();
        for blob in blobs {
            for column in 0..128u16 {
                let q = sample_quality(round.seed, self.encoded.data_root, column, blob);
                if (q <= round.target) == wins {
                    out.push((column, blob));
                }
            }
        }
        out
    }
}

async fn round_wins(p: &DynProvider, round: U256) -> U256 {
    call(p, sampling_addr(), IDASampling::roundWinsCall { round }).await
}

async fn submit(s: &DaSigner, r: IDASampling::SampleResponse) -> Result<(), SErr> {
    let c = IDASampling::submitSamplingResponseCall { response: r };
    match send(&s.p, sampling_addr(), c.abi_encode(), U256::ZERO).await {
        Ok(receipt) => {
            assert!(receipt.status());
            Ok(())
        }
        Err(data) => Err(SErr::abi_decode(&data).expect("a sampling module error")),
    }
}

async fn anchor(
    disperser: &DynProvider,
    signers: &[DaSigner],
    members: &[Address],
    epoch: u64,
    payload: &[u8],
) -> Anchored {
    anchor_signed(
        disperser,
        signers,
        members,
        epoch,
        payload,
        &[0, 1, 2, 3, 4, 5, 6, 7],
    )
    .await
}

/// Anchors `payload` signed by the quorum seats `seats` only.
async fn anchor_signed(
    disperser: &DynProvider,
    signers: &[DaSigner],
    members: &[Address],
    epoch: u64,
    payload: &[u8],
    seats: &[usize],
) -> Anchored {
    let encoded = encode(Kzg::mainnet(), payload, 1 << 24).unwrap();
    let blobs = encoded.header.commitments.len() as u64;
    let msg = attestation_message(CHAIN, encoded.data_root, epoch, 0, blobs as u32);
    let sigs: Vec<BlsSignature> = seats
        .iter()
        .map(|&k| {
            let s = signers
                .iter()
                .find(|s| s.eth.address() == members[k])
                .unwrap();
            s.bls.sign(&msg)
        })
        .collect();
    let agg = aggregate_signatures(&sigs).unwrap();
    let bitmap = signer_bitmap(8, seats.iter().copied()).unwrap();
    let r = send(
        disperser,
        entrance_addr(),
        submission(encoded.data_root, epoch, 0, blobs, bitmap, agg).abi_encode(),
        U256::ZERO,
    )
    .await
    .unwrap();
    assert!(r.status());
    Anchored {
        encoded,
        payload_len: payload.len() as u32,
        epoch,
    }
}

#[tokio::test]
async fn sampling_on_precompiles() {
    run_suite(sampling_rounds_accept_and_revert_paths(Impl::Precompiles)).await;
}

#[tokio::test]
async fn sampling_on_contracts() {
    run_suite(sampling_rounds_accept_and_revert_paths(Impl::Contracts)).await;
}

async fn sampling_rounds_accept_and_revert_paths(imp: Impl) {
    let dir = TempDir::new("sampling");
    let mut genesis = dev_genesis();
    genesis.da.epoch_blocks = EPOCH_BLOCKS;
    genesis.da.sample_period = PERIOD;
    genesis.da.sample_window_epochs = WINDOW;
    genesis.da.sample_max_wins = MAX_WINS;
    genesis.da.sample_target_wins = 8;
    // Half of all cells win the first round, so every path is easy to reach.
    let initial = U256::MAX >> 1;
    genesis.da.sample_initial_target = initial;
    let (chain, url, signers) = start_da(&dir, genesis, imp).await;
    let by_addr = |a: Address| signers.iter().find(|s| s.eth.address() == a).unwrap();
    let funder = provider(&url, signer(0));
    let p = call(&funder, sampling_addr(), IDASampling::sampleParamsCall {}).await;
    assert_eq!(
        (p.period, p.windowEpochs, p.targetWins, p.maxWins),
        (
            U256::from(PERIOD),
            U256::from(WINDOW),
            U256::from(8),
            U256::from(MAX_WINS)
        )
    );

    // A quorum, a deposit, and a two-blob payload anchored.
    for (i, s) in signers.iter().enumerate() {
        register(s, &format!("/ip4/127.0.0.1/tcp/{}", 9000 + i))
            .await
            .unwrap();
        register_next_epoch(s).await.unwrap();
    }
    let epoch: U256 = call(&funder, signers_addr(), IDASigners::epochNumberCall {}).await;
    let epoch = epoch.to::<u64>() + 1;
    mine_to(&funder, epoch * EPOCH_BLOCKS).await;
    let members = call(
        &funder,
        signers_addr(),
        IDASigners::getQuorumCall {
            epoch: U256::from(epoch),
            quorumId: U256::ZERO,
        },
    )
    .await;
    let custodian = |column: u16| by_addr(members[usize::from(column) % 8]);
    let other = |column: u16| by_addr(members[(usize::from(column) + 1) % 8]);
    let disperser = provider(&url, signer(9));
    send(
        &disperser,
        entrance_addr(),
        IDAEntrance::depositCall {}.abi_encode(),
        U256::from(10u64).pow(U256::from(18)),
    )
    .await
    .unwrap();
    let payload: Vec<u8> = (0..130_000u32).map(|i| (i * 7 + 3) as u8).collect();
    let a = anchor(&disperser, &signers, &members, epoch, &payload).await;
    assert_eq!(a.encoded.header.commitments.len(), 2);

    // Next round: A is eligible.
    mine_to_next_round(&funder).await;
    let round = current_round(&funder).await;
    assert_eq!(round.target, initial);
    assert_ne!(round.seed, B256::ZERO);
    let winners = a.cells(&round, true, 0..2);
    let losers = a.cells(&round, false, 0..2);
    assert!(winners.len() > 20 && losers.len() > 20, "about half win");
    let (wc, wb) = winners[0];

    // Refusals, each leaving nothing behind.
    let mut r = a.response(round.number, wc, wb);
    r.dataRoot = B256::repeat_byte(0x42);
    assert!(matches!(
        submit(custodian(wc), r).await,
        Err(SErr::NotAnchored(_))
    ));
    let stale = round.number - U256::from(1);
    match submit(custodian(wc), a.response(stale, wc, wb)).await {
        Err(SErr::StaleRound(e)) => assert_eq!((e.round, e.current), (stale, round.number)),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        submit(
            custodian(wc),
            a.response(round.number + U256::from(1), wc, wb)
        )
        .await,
        Err(SErr::StaleRound(_))
    ));
    match submit(other(wc), a.response(round.number, wc, wb)).await {
        Err(SErr::WrongCustodian(e)) => assert_eq!(e.expected, custodian(wc).eth.address()),
        other => panic!("{other:?}"),
    }
    let (lc, lb) = losers[0];
    match submit(custodian(lc), a.response(round.number, lc, lb)).await {
        Err(SErr::QualityAboveTarget(e)) => {
            assert!(e.quality > e.target);
            assert_eq!(e.target, initial);
        }
        other => panic!("{other:?}"),
    }
    // The inclusion proof: wrong commitment, wrong length, wrong path, blob out of range.
    let mut r = a.response(round.number, wc, wb);
    r.commitment = Bytes::copy_from_slice(&a.encoded.header.commitments[1 - wb as usize].0);
    assert!(matches!(
        submit(custodian(wc), r).await,
        Err(SErr::InvalidInclusionProof(_))
    ));
    let mut r = a.response(round.number, wc, wb);
    r.payloadLen += 1;
    assert!(matches!(
        submit(custodian(wc), r).await,
        Err(SErr::InvalidInclusionProof(_))
    ));
    let mut r = a.response(round.number, wc, wb);
    r.merkleProof.push(B256::ZERO);
    assert!(matches!(
        submit(custodian(wc), r).await,
        Err(SErr::InvalidInclusionProof(_))
    ));
    let mut r = a.response(round.number, wc, wb);
    r.commitment = Bytes::from(vec![0u8; 47]);
    assert!(matches!(
        submit(custodian(wc), r).await,
        Err(SErr::InvalidInclusionProof(_))
    ));
    let (oc, ob) = a.cells(&round, true, 2..40)[0];
    assert!(matches!(
        submit(custodian(oc), a.response(round.number, oc, ob)).await,
        Err(SErr::InvalidInclusionProof(_))
    ));
    // The KZG proof: a flipped cell byte, another cell's proof, a column out of range.
    let mut r = a.response(round.number, wc, wb);
    let mut cell = r.cell.to_vec();
    cell[100] ^= 1;
    r.cell = cell.into();
    assert!(matches!(
        submit(custodian(wc), r).await,
        Err(SErr::InvalidSampleProof(_))
    ));
    let mut r = a.response(round.number, wc, wb);
    r.proof = a.response(round.number, wc + 1, wb).proof;
    assert!(matches!(
        submit(custodian(wc), r).await,
        Err(SErr::InvalidSampleProof(_))
    ));
    let mut r = a.response(round.number, wc, wb);
    r.cell = Bytes::from(vec![0u8; 100]);
    assert!(matches!(
        submit(custodian(wc), r).await,
        Err(SErr::InvalidSampleProof(_))
    ));
    let r = a.response(round.number, 128 + wc, wb);
    assert!(matches!(
        submit(custodian(wc), r).await,
        Err(SErr::InvalidSampleProof(_))
    ));
    assert_eq!(round_wins(&funder, round.number).await, U256::ZERO);

    // Wins are paid from the entrance module's reward pool, funded by a share of every
    // fee and by anyone who adds to it.
    let pool = || call(&funder, entrance_addr(), IDAEntrance::rewardPoolCall {});
    let earned_by_members = || async {
        let mut sum = U256::ZERO;
        for m in &members {
            sum += call(
                &funder,
                entrance_addr(),
                IDAEntrance::rewardsOfCall { account: *m },
            )
            .await;
        }
        sum
    };
    let params = call(&funder, entrance_addr(), IDAEntrance::rewardParamsCall {}).await;
    let reward = params.sampleReward;
    let e = send(
        &funder,
        entrance_addr(),
        IDAEntrance::fundRewardPoolCall {}.abi_encode(),
        U256::ZERO,
    )
    .await
    .unwrap_err();
    assert!(matches!(
        IDAEntrance::IDAEntranceErrors::abi_decode(&e).unwrap(),
        IDAEntrance::IDAEntranceErrors::ZeroAmount(_)
    ));
    send(
        &funder,
        entrance_addr(),
        IDAEntrance::fundRewardPoolCall {}.abi_encode(),
        reward * U256::from(3),
    )
    .await
    .unwrap();
    assert!(
        pool().await > reward * U256::from(3),
        "the anchor's fee share is in the pool"
    );

    // The winner is accepted once: event, counters.
    let winner = custodian(wc);
    let c = IDASampling::submitSamplingResponseCall {
        response: a.response(round.number, wc, wb),
    };
    let receipt = send(&winner.p, sampling_addr(), c.abi_encode(), U256::ZERO)
        .await
        .unwrap();
    let ev = receipt
        .inner
        .logs()
        .iter()
        .find_map(|l| IDASampling::SampleWin::decode_log(&l.inner).ok())
        .expect("SampleWin");
    // A KZG cell check, a Merkle path, a dozen slots and the first drought word of each
    // of the eight signers (later wins rewrite them for 5 000 each): well under a
    // block's budget.
    eprintln!("submitSamplingResponse gas used: {}", receipt.gas_used);
    let most = match imp {
        Impl::Precompiles => 600_000,
        Impl::Contracts => 2_000_000,
    };
    assert!(receipt.gas_used > 80_000 && receipt.gas_used < most);
    assert_eq!(ev.custodian, winner.eth.address());
    assert_eq!((ev.round, ev.dataRoot), (round.number, a.encoded.data_root));
    assert_eq!((ev.column, ev.blobIndex), (wc, wb));
    assert_eq!(
        ev.quality,
        sample_quality(round.seed, a.encoded.data_root, wc, wb)
    );
    let paid = receipt
        .inner
        .logs()
        .iter()
        .find_map(|l| IDASampling::SampleRewarded::decode_log(&l.inner).ok())
        .expect("SampleRewarded");
    assert_eq!(
        (paid.custodian, paid.amount),
        (winner.eth.address(), reward)
    );
    assert!(matches!(
        submit(winner, a.response(round.number, wc, wb)).await,
        Err(SErr::DuplicateSample(_))
    ));
    // Value is refused (not payable).
    let e = send(&winner.p, sampling_addr(), c.abi_encode(), U256::from(1))
        .await
        .unwrap_err();
    assert!(e.is_empty(), "a non-payable function reverts without data");

    // A payload anchored during the round cannot win it (the seed was already known).
    let payload_b: Vec<u8> = (0..1000u32).map(|i| (i * 13) as u8).collect();
    let b = anchor(&disperser, &signers, &members, epoch, &payload_b).await;
    let (bc, bb) = b.cells(&round, true, 0..1)[0];
    assert!(matches!(
        submit(custodian(bc), b.response(round.number, bc, bb)).await,
        Err(SErr::NotEligible(_))
    ));

    // Up to the round's cap, then RoundFull.
    let pool_before = pool().await;
    let earned_before = earned_by_members().await;
    for &(c, bl) in &winners[1..MAX_WINS as usize] {
        submit(custodian(c), a.response(round.number, c, bl))
            .await
            .unwrap();
    }
    let (fc, fb) = winners[MAX_WINS as usize];
    assert!(matches!(
        submit(custodian(fc), a.response(round.number, fc, fb)).await,
        Err(SErr::RoundFull(_))
    ));
    assert_eq!(
        round_wins(&funder, round.number).await,
        U256::from(MAX_WINS)
    );
    let mut total = U256::ZERO;
    for m in &members {
        total += call(
            &funder,
            sampling_addr(),
            IDASampling::winsOfCall { custodian: *m },
        )
        .await;
    }
    assert_eq!(total, U256::from(MAX_WINS));
    // Each win took `sampleReward` from the pool while it lasted, and the members'
    // rewards grew by exactly what the pool lost.
    let mut left = pool_before;
    for _ in 1..MAX_WINS {
        left -= reward.min(left);
    }
    assert_eq!(pool().await, left);
    assert_eq!(
        earned_by_members().await - earned_before,
        pool_before - left
    );

    // Next round: 3 wins of the 8 wanted → the target rises (clamped to 2×); B is eligible.
    mine_to_next_round(&funder).await;
    let round2 = current_round(&funder).await;
    assert_eq!(round2.number, round.number + U256::from(1));
    assert_ne!(round2.seed, round.seed);
    assert_eq!(round2.target, initial * U256::from(2));
    let (bc, bb) = b.cells(&round2, true, 0..1)[0];
    submit(custodian(bc), b.response(round2.number, bc, bb))
        .await
        .unwrap();
    // The last round's answer is now stale.
    assert!(matches!(
        submit(custodian(wc), a.response(round.number, wc, wb)).await,
        Err(SErr::StaleRound(_))
    ));

    // Out of the window: A's epoch is more than WINDOW epochs old.
    mine_to(&funder, (epoch + WINDOW + 1) * EPOCH_BLOCKS).await;
    mine_to_next_round(&funder).await;
    let round3 = current_round(&funder).await;
    let (xc, xb) = a.cells(&round3, true, 0..2)[0];
    assert!(matches!(
        submit(custodian(xc), a.response(round3.number, xc, xb)).await,
        Err(SErr::NotEligible(_))
    ));
    chain.shutdown().await.unwrap();
}

#[tokio::test]
async fn ejection_on_precompiles() {
    run_suite(ejection(Impl::Precompiles)).await;
}

#[tokio::test]
async fn ejection_on_contracts() {
    run_suite(ejection(Impl::Contracts)).await;
}

/// The ejection rule: every win on a payload adds one to the drought of each other
/// signer of it and resets the winner's; a signer whose drought reaches `ejectAfterWins`
/// is ejected (no registration for `ejectEpochs` epochs, out of the next epoch's
/// formation, `ejectSlashBps` of its stake to the reward pool); a member that did not
/// sign a payload is not counted on its wins.
async fn ejection(imp: Impl) {
    const E: u64 = 64;
    const AFTER: u64 = 8;
    let dir = TempDir::new("eject");
    let mut genesis = dev_genesis();
    genesis.da.epoch_blocks = E;
    genesis.da.sample_period = PERIOD;
    genesis.da.sample_window_epochs = WINDOW;
    genesis.da.sample_max_wins = 64;
    genesis.da.sample_initial_target = U256::MAX >> 1;
    genesis.da.eject_after_wins = AFTER;
    genesis.da.eject_epochs = 2;
    genesis.da.eject_slash_bps = 1_000;
    let (chain, url, mut signers) = start_da(&dir, genesis, imp).await;
    // A ninth signer, so that the next epoch still fills a quorum without the ejected one.
    signers.push(DaSigner {
        eth: signer(0),
        bls: zg_primitives::BlsSecretKey::from_ikm(&[0x30; 32]).unwrap(),
        p: provider(&url, signer(0)),
    });
    let funder = signers[8].p.clone();
    let by_addr = |a: Address| signers.iter().find(|s| s.eth.address() == a).unwrap();
    let ep = call(&funder, sampling_addr(), IDASampling::ejectionParamsCall {}).await;
    assert_eq!(
        (ep.afterWins, ep.epochs, ep.slashBps),
        (U256::from(AFTER), U256::from(2), U256::from(1_000))
    );
    for (i, s) in signers.iter().enumerate() {
        register(s, &format!("/ip4/127.0.0.1/tcp/{}", 9000 + i))
            .await
            .unwrap();
        register_next_epoch(s).await.unwrap();
    }
    let epoch: U256 = call(&funder, signers_addr(), IDASigners::epochNumberCall {}).await;
    let epoch = epoch.to::<u64>() + 1;
    mine_to(&funder, epoch * E).await;
    // Everyone registers for the epoch after as well (forming this one's quorums).
    for s in &signers {
        register_next_epoch(s).await.unwrap();
    }
    let members = call(
        &funder,
        signers_addr(),
        IDASigners::getQuorumCall {
            epoch: U256::from(epoch),
            quorumId: U256::ZERO,
        },
    )
    .await;
    let (x, z) = (members[0], members[1]);
    let disperser = provider(&url, signer(9));
    send(
        &disperser,
        entrance_addr(),
        IDAEntrance::depositCall {}.abi_encode(),
        U256::from(10u64).pow(U256::from(18)),
    )
    .await
    .unwrap();
    // A: signed by all eight; B: by all but seat 1 (z).
    let pa: Vec<u8> = (0..5_000u32).map(|i| (i * 7 + 3) as u8).collect();
    let pb: Vec<u8> = (0..5_000u32).map(|i| (i * 11 + 5) as u8).collect();
    let a = anchor(&disperser, &signers, &members, epoch, &pa).await;
    let b = anchor_signed(
        &disperser,
        &signers,
        &members,
        epoch,
        &pb,
        &[0, 2, 3, 4, 5, 6, 7],
    )
    .await;
    let start = mine_to_next_round(&funder).await;
    assert!(
        start + 8 < (epoch + 1) * E,
        "the round lies inside the epoch"
    );
    let round = current_round(&funder).await;
    // Winning cells held by neither x (seat 0) nor z (seat 1), one seat each.
    let pick = |p: &Anchored, seat: u16, nth: usize| {
        p.cells(&round, true, 0..1)
            .into_iter()
            .filter(|(c, _)| c % 8 == seat)
            .nth(nth)
            .expect("a winning cell of that seat")
    };
    let drought = |who: Address| {
        let p = funder.clone();
        async move {
            call(
                &p,
                sampling_addr(),
                IDASampling::droughtOfCall { signer: who },
            )
            .await
        }
    };
    let win = |p: &Anchored, seat: u16, nth: usize| {
        let (c, bl) = pick(p, seat, nth);
        let r = p.response(round.number, c, bl);
        let who = by_addr(members[usize::from(seat)]);
        let c = IDASampling::submitSamplingResponseCall { response: r };
        async move {
            send(&who.p, sampling_addr(), c.abi_encode(), U256::ZERO)
                .await
                .unwrap()
        }
    };
    assert_eq!(drought(x).await, U256::ZERO);
    win(&a, 2, 0).await;
    assert_eq!(drought(x).await, U256::from(1));
    assert_eq!(drought(z).await, U256::from(1));
    assert_eq!(drought(members[2]).await, U256::ZERO, "the winner's resets");
    // A win on B: z did not sign it, so it is not counted against z.
    win(&b, 3, 0).await;
    assert_eq!(drought(x).await, U256::from(2));
    assert_eq!(drought(z).await, U256::from(1));
    assert_eq!(drought(members[2]).await, U256::from(1));
    // Every seat but x's wins in turn (z last); x's drought climbs to one short of AFTER.
    for seat in [4, 5, 6, 7, 1] {
        win(&a, seat, 0).await;
    }
    assert_eq!(drought(x).await, U256::from(AFTER - 1));
    assert_eq!(drought(z).await, U256::ZERO);
    // The eighth win on payloads x signed without one of its own: x is ejected.
    let stake = |who: Address| {
        let p = funder.clone();
        async move {
            call(&p, signers_addr(), IDASigners::stakeOfCall { account: who })
                .await
                .bonded
        }
    };
    let pool = || call(&funder, entrance_addr(), IDAEntrance::rewardPoolCall {});
    let pool_before = pool().await;
    let receipt = win(&a, 2, 1).await;
    let logs = receipt.inner.logs();
    let ejected: Vec<_> = logs
        .iter()
        .filter_map(|l| IDASigners::SignerEjected::decode_log(&l.inner).ok())
        .collect();
    let slashed = STAKE / U256::from(10);
    assert_eq!(ejected.len(), 1, "only x");
    assert_eq!(
        (ejected[0].signer, ejected[0].untilEpoch, ejected[0].slashed),
        (x, U256::from(epoch + 2), slashed)
    );
    let funded = logs
        .iter()
        .find_map(|l| IDAEntrance::RewardPoolFunded::decode_log(&l.inner).ok())
        .expect("RewardPoolFunded");
    assert_eq!((funded.from, funded.amount), (sampling_addr(), slashed));
    let paid = logs
        .iter()
        .find_map(|l| IDASampling::SampleRewarded::decode_log(&l.inner).ok())
        .map(|r| r.amount)
        .unwrap_or_default();
    assert_eq!(pool().await, pool_before - paid + slashed);
    assert_eq!(stake(x).await, STAKE - slashed);
    assert_eq!(drought(x).await, U256::ZERO);
    assert_eq!(drought(z).await, U256::from(1));
    let until = call(
        &funder,
        signers_addr(),
        IDASigners::ejectedUntilCall { account: x },
    )
    .await;
    assert_eq!(until, U256::from(epoch + 2));
    // Out of the next epoch's registrants, and refused there.
    let registered = call(
        &funder,
        signers_addr(),
        IDASigners::registeredForEpochCall {
            account: x,
            epoch: U256::from(epoch + 1),
        },
    )
    .await;
    assert!(!registered);
    match refused(by_addr(x)).await {
        IDASigners::IDASignersErrors::Ejected(e) => {
            assert_eq!((e.signer, e.untilEpoch), (x, U256::from(epoch + 2)))
        }
        other => panic!("{other:?}"),
    }
    // Already ejected: later wins do not count against x again.
    win(&a, 3, 0).await;
    assert_eq!(drought(x).await, U256::ZERO);
    assert_eq!(drought(z).await, U256::from(2));
    // The next epoch's quorum is formed from the eight others.
    mine_to(&funder, (epoch + 1) * E).await;
    let next = call(
        &funder,
        signers_addr(),
        IDASigners::getQuorumCall {
            epoch: U256::from(epoch + 1),
            quorumId: U256::ZERO,
        },
    )
    .await;
    assert_eq!(next.len(), 8);
    assert!(!next.contains(&x), "the ejected signer holds no seat");
    assert!(matches!(
        refused(by_addr(x)).await,
        IDASigners::IDASignersErrors::Ejected(_)
    ));
    // After the ban: back with its stake topped up to the minimum.
    mine_to(&funder, (epoch + 2) * E).await;
    assert!(matches!(
        refused(by_addr(x)).await,
        IDASigners::IDASignersErrors::InsufficientStake(_)
    ));
    send(
        &by_addr(x).p,
        signers_addr(),
        IDASigners::addStakeCall {}.abi_encode(),
        slashed,
    )
    .await
    .unwrap();
    register_next_epoch(by_addr(x)).await.unwrap();
    chain.shutdown().await.unwrap();
}

/// The error `registerNextEpoch` of `s` reverts with.
async fn refused(s: &DaSigner) -> IDASigners::IDASignersErrors {
    let e = register_next_epoch(s).await.unwrap_err();
    IDASigners::IDASignersErrors::abi_decode(&e).unwrap()
}
