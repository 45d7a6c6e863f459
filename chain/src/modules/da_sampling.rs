//! `0x…1002` DA sampling: a PoDAS-style lottery over the cells DA nodes keep.
//!
//! Rounds: round `r` spans blocks `[r·period, (r+1)·period)`; its seed is
//! `keccak256(blockhash(max(r·period, 1) − 1) ‖ r)`, known from the round's first block on.
//! A stored cell `(dataRoot, column, blobIndex)` wins round `r` when
//! `sample_quality(seed, dataRoot, column, blobIndex) ≤ target(r)`. Its custodian (the
//! member `column mod n` of the anchoring quorum) submits the cell with its KZG proof and
//! the commitment's Merkle path; the module checks everything natively and records the win.
//!
//! Eligible anchors: anchored before the round's first block (so the seed cannot be
//! chosen after the data) and of an epoch no older than `sampleWindowEpochs`.
//!
//! Target adjustment: when a round is first touched by a submission, the target of the
//! previous touched round `p` (with `w` wins, wanted `k`) moves to `T·k/w`, clamped to
//! `[T/2, 2T]` (`2T` when `w = 0`), then doubles for every round in between that saw no
//! submission at all. Views compute the same value without storing it.
//!
//! Each win is paid `sampleReward` from the entrance module's reward pool while the pool
//! holds it (`SampleRewarded`), credited to the custodian's `rewardsOf`.
//!
//! Ejection: a win on a payload resets its custodian's drought and adds one to the
//! drought of every other member whose bit is set in the anchor's signer bitmap (it
//! signed, so it holds its columns). A signer whose drought reaches `ejectAfterWins` is
//! ejected (`da_signers::eject`): an honest member of a quorum of `n` gets each such win
//! with probability at least `1/n`, so it goes `T` wins without one with probability at
//! most `(1 − 1/n)^T` (docs/sampler.md). Signers already ejected are not counted.
//!
//! Storage: `sample.last` = last touched round + 1 (0 = none), `sample.target` its
//! target, `sample.wins(r)`, `sample.winsOf(addr)`,
//! `sample.done(r, root, epoch, quorum, column, blob)` = 1, `sample.drought(addr)` =
//! the drought + 1 once counted (so a reset rewrites a non-zero word).

use alloy_primitives::{Address, B256, Bytes, U256, keccak256};
use alloy_sol_types::{SolCall, SolEvent};
use revm::context::ContextTr;
use zg_primitives::abi::{AnchorRecord, DA_ENTRANCE_ADDRESS, IDASampling};
use zg_primitives::{
    BYTES_PER_CELL, CELLS_PER_EXT_BLOB, Cell, CellCheck, Kzg, KzgCommitment, KzgProof, MerkleProof,
    blob_count, sample_quality,
};

use super::da_entrance::{anchor_slot, pool_slot, reward_slot};
use super::da_signers::{eject, ejected_for, epoch_of};
use super::{Call, Exit, decode_call, gas, quorum_members, slot, word};

fn last_slot() -> U256 {
    slot("sample.last", &[])
}
fn target_slot() -> U256 {
    slot("sample.target", &[])
}
fn wins_slot(round: u64) -> U256 {
    slot("sample.wins", &[&word(round)])
}
fn wins_of_slot(a: &Address) -> U256 {
    slot("sample.winsOf", &[a.as_slice()])
}
fn drought_slot(a: &Address) -> U256 {
    slot("sample.drought", &[a.as_slice()])
}
fn done_slot(round: u64, r: &IDASampling::SampleResponse, epoch: u64, quorum: u64) -> U256 {
    slot(
        "sample.done",
        &[
            &word(round),
            r.dataRoot.as_slice(),
            &word(epoch),
            &word(quorum),
            &word(u64::from(r.column)),
            &word(u64::from(r.blobIndex)),
        ],
    )
}

/// One round as the views report it.
struct Round {
    number: u64,
    seed: B256,
    target: U256,
    start_block: u64,
}

fn round_of<CTX: ContextTr>(call: &mut Call<'_, CTX>) -> Result<Round, Exit> {
    let period = call.genesis.da.sample_period;
    let number = call.block_number() / period;
    let start_block = number * period;
    let seed_block = start_block.max(1) - 1;
    let hash = call.block_hash(seed_block)?;
    let mut pre = [0u8; 64];
    pre[..32].copy_from_slice(hash.as_slice());
    pre[32..].copy_from_slice(&word(number));
    let seed = keccak256(pre);
    let (target, _) = target_for(call, number)?;
    Ok(Round {
        number,
        seed,
        target,
        start_block,
    })
}

/// The target of `round` and whether the stored state must be rolled forward to it.
fn target_for<CTX: ContextTr>(call: &mut Call<'_, CTX>, round: u64) -> Result<(U256, bool), Exit> {
    let last = call.sload(last_slot())?.saturating_to::<u64>();
    if last == 0 {
        return Ok((call.genesis.da.sample_initial_target, true));
    }
    let last = last - 1;
    let target = call.sload(target_slot())?;
    if last == round {
        return Ok((target, false));
    }
    let wins = call.sload(wins_slot(last))?.saturating_to::<u64>();
    Ok((
        adjust(
            target,
            wins,
            call.genesis.da.sample_target_wins,
            round - last,
        ),
        true,
    ))
}

/// The target `rounds` rounds after one with target `target` and `wins` wins.
pub(crate) fn adjust(target: U256, wins: u64, wanted: u64, rounds: u64) -> U256 {
    let (lo, hi) = (target / U256::from(2), target.saturating_mul(U256::from(2)));
    let mut next = if wins == 0 {
        hi
    } else {
        (target / U256::from(wins))
            .saturating_mul(U256::from(wanted))
            .clamp(lo, hi)
    };
    // Rounds without any submission: each doubles (256 doublings saturate any target).
    for _ in 1..rounds.min(257) {
        next = next.saturating_mul(U256::from(2));
    }
    next.max(U256::from(1))
}

pub(super) fn dispatch<CTX: ContextTr>(
    call: &mut Call<'_, CTX>,
    input: &[u8],
) -> Result<Bytes, Exit> {
    use IDASampling::IDASamplingCalls as C;
    let decoded = decode_call(call, input, |_: &C| false)?;
    let da = &call.genesis.da;
    match decoded {
        C::currentRound(_) => {
            let r = round_of(call)?;
            Ok(IDASampling::currentRoundCall::abi_encode_returns(
                &IDASampling::currentRoundReturn {
                    round: U256::from(r.number),
                    seed: r.seed,
                    target: r.target,
                    startBlock: U256::from(r.start_block),
                },
            )
            .into())
        }
        C::samplePeriod(_) => Ok(
            IDASampling::samplePeriodCall::abi_encode_returns(&U256::from(da.sample_period)).into(),
        ),
        C::sampleParams(_) => Ok(IDASampling::sampleParamsCall::abi_encode_returns(
            &IDASampling::sampleParamsReturn {
                period: U256::from(da.sample_period),
                windowEpochs: U256::from(da.sample_window_epochs),
                targetWins: U256::from(da.sample_target_wins),
                maxWins: U256::from(da.sample_max_wins),
            },
        )
        .into()),
        C::winsOf(c) => {
            let w = call.sload(wins_of_slot(&c.custodian))?;
            Ok(IDASampling::winsOfCall::abi_encode_returns(&w).into())
        }
        C::droughtOf(c) => {
            let d = call
                .sload(drought_slot(&c.signer))?
                .saturating_sub(U256::from(1));
            Ok(IDASampling::droughtOfCall::abi_encode_returns(&d).into())
        }
        C::ejectionParams(_) => Ok(IDASampling::ejectionParamsCall::abi_encode_returns(
            &IDASampling::ejectionParamsReturn {
                afterWins: U256::from(da.eject_after_wins),
                epochs: U256::from(da.eject_epochs),
                slashBps: U256::from(da.eject_slash_bps),
            },
        )
        .into()),
        C::roundWins(c) => {
            let w = match u64::try_from(c.round) {
                Ok(r) => call.sload(wins_slot(r))?,
                Err(_) => U256::ZERO,
            };
            Ok(IDASampling::roundWinsCall::abi_encode_returns(&w).into())
        }
        C::submitSamplingResponse(c) => {
            call.require_mutable()?;
            submit(call, c.response)?;
            Ok(Bytes::new())
        }
    }
}

fn submit<CTX: ContextTr>(
    call: &mut Call<'_, CTX>,
    r: IDASampling::SampleResponse,
) -> Result<(), Exit> {
    let round = round_of(call)?;
    if r.round != U256::from(round.number) {
        return Err(Exit::error(IDASampling::StaleRound {
            round: r.round,
            current: U256::from(round.number),
        }));
    }
    // Roll the stored round state forward to this round.
    let (target, roll) = target_for(call, round.number)?;
    if roll {
        call.sstore(last_slot(), U256::from(round.number + 1))?;
        call.sstore(target_slot(), target)?;
    }
    let wins = call.sload(wins_slot(round.number))?;
    if wins >= U256::from(call.genesis.da.sample_max_wins) {
        return Err(Exit::error(IDASampling::RoundFull { round: r.round }));
    }
    let not_anchored = || {
        Exit::error(IDASampling::NotAnchored {
            dataRoot: r.dataRoot,
            epoch: r.epoch,
            quorumId: r.quorumId,
        })
    };
    let (Ok(epoch), Ok(quorum)) = (u64::try_from(r.epoch), u64::try_from(r.quorumId)) else {
        return Err(not_anchored());
    };
    let Some(anchor) = AnchorRecord::from_word(call.sload_at(
        DA_ENTRANCE_ADDRESS,
        anchor_slot(r.dataRoot.as_slice(), epoch, quorum),
    )?) else {
        return Err(not_anchored());
    };
    let anchored_at = anchor.block;
    let current_epoch = epoch_of(call);
    if anchored_at >= round.start_block
        || epoch.saturating_add(call.genesis.da.sample_window_epochs) < current_epoch
    {
        return Err(Exit::error(IDASampling::NotEligible {
            dataRoot: r.dataRoot,
            epoch: r.epoch,
            quorumId: r.quorumId,
        }));
    }
    if usize::from(r.column) >= CELLS_PER_EXT_BLOB {
        return Err(Exit::error(IDASampling::InvalidSampleProof {}));
    }
    let members = quorum_members(call, epoch, quorum)?
        .ok_or_else(|| Exit::Fatal(format!("anchored quorum {epoch}/{quorum} has no members")))?;
    let custodian = members[usize::from(r.column) % members.len()];
    if call.caller != custodian {
        return Err(Exit::error(IDASampling::WrongCustodian {
            expected: custodian,
        }));
    }
    let quality = sample_quality(round.seed, r.dataRoot, r.column, r.blobIndex);
    if quality > target {
        return Err(Exit::error(IDASampling::QualityAboveTarget {
            quality,
            target,
        }));
    }
    let done = done_slot(round.number, &r, epoch, quorum);
    if !call.sload(done)?.is_zero() {
        return Err(Exit::error(IDASampling::DuplicateSample {}));
    }
    // The commitment is blob `blobIndex` of the payload behind the data_root.
    let blobs = blob_count(r.payloadLen as usize);
    let depth = blobs.next_power_of_two().trailing_zeros() as usize;
    let commitment = KzgCommitment::try_from(r.commitment.as_ref()).ok();
    let included = commitment.as_ref().is_some_and(|c| {
        (r.blobIndex as usize) < blobs
            && r.merkleProof.len() == depth
            && MerkleProof {
                index: r.blobIndex,
                siblings: r.merkleProof.clone(),
            }
            .verify_commitment(c, r.payloadLen, &r.dataRoot)
    });
    let Some(commitment) = commitment.filter(|_| included) else {
        return Err(Exit::error(IDASampling::InvalidInclusionProof {}));
    };
    // The cell against the commitment.
    call.charge(gas::KZG_CELL_VERIFY)?;
    let (Ok(cell), Ok(proof)) = (
        Cell::try_from(r.cell.as_ref()),
        KzgProof::try_from(r.proof.as_ref()),
    ) else {
        return Err(Exit::error(IDASampling::InvalidSampleProof {}));
    };
    debug_assert_eq!(cell.as_bytes().len(), BYTES_PER_CELL);
    let check = CellCheck {
        commitment: &commitment,
        column: r.column,
        cell: &cell,
        proof: &proof,
    };
    if Kzg::mainnet().verify_cells(&[check]).is_err() {
        return Err(Exit::error(IDASampling::InvalidSampleProof {}));
    }
    call.sstore(done, U256::from(1))?;
    call.sstore(wins_slot(round.number), wins + U256::from(1))?;
    let of = call.sload(wins_of_slot(&custodian))?;
    call.sstore(wins_of_slot(&custodian), of + U256::from(1))?;
    call.log(
        IDASampling::SampleWin {
            round: r.round,
            custodian,
            dataRoot: r.dataRoot,
            epoch: r.epoch,
            quorumId: r.quorumId,
            column: r.column,
            blobIndex: r.blobIndex,
            quality,
        }
        .encode_log_data(),
    )?;
    // The win's reward, from the entrance module's pool while it holds it.
    let pool = call.sload_at(DA_ENTRANCE_ADDRESS, pool_slot())?;
    let reward = call.genesis.da.sample_reward.min(pool);
    if !reward.is_zero() {
        call.sstore_at(DA_ENTRANCE_ADDRESS, pool_slot(), pool - reward)?;
        let slot = reward_slot(&custodian);
        let earned = call.sload_at(DA_ENTRANCE_ADDRESS, slot)?;
        call.sstore_at(DA_ENTRANCE_ADDRESS, slot, earned + reward)?;
        call.log(
            IDASampling::SampleRewarded {
                round: r.round,
                custodian,
                amount: reward,
            }
            .encode_log_data(),
        )?;
    }
    count_droughts(call, &members, custodian, anchor.signers)
}

/// The ejection counters after a win of `custodian` on a payload `signers` signed.
fn count_droughts<CTX: ContextTr>(
    call: &mut Call<'_, CTX>,
    members: &[Address],
    custodian: Address,
    signers: U256,
) -> Result<(), Exit> {
    call.sstore(drought_slot(&custodian), U256::from(1))?;
    let next = epoch_of(call) + 1;
    let after = U256::from(call.genesis.da.eject_after_wins);
    for (k, m) in members.iter().enumerate() {
        if *m == custodian || !signers.bit(k) || ejected_for(call, m, next)? {
            continue;
        }
        let drought = call.sload(drought_slot(m))?.max(U256::from(1));
        if drought >= after {
            call.sstore(drought_slot(m), U256::from(1))?;
            eject(call, m, pool_slot())?;
        } else {
            call.sstore(drought_slot(m), drought + U256::from(1))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_moves_toward_the_wanted_wins() {
        let t = U256::from(1_000_000u64);
        // As many wins as wanted: unchanged.
        assert_eq!(adjust(t, 8, 8, 1), t);
        // Twice as many: halved; ten times: still only halved.
        assert_eq!(adjust(t, 16, 8, 1), t / U256::from(2));
        assert_eq!(adjust(t, 80, 8, 1), t / U256::from(2));
        // Half as many: doubled; none: doubled.
        assert_eq!(adjust(t, 4, 8, 1), t * U256::from(2));
        assert_eq!(adjust(t, 0, 8, 1), t * U256::from(2));
        // In between: proportional.
        assert_eq!(adjust(t, 10, 8, 1), U256::from(800_000u64));
        // Two empty rounds in between: two more doublings.
        assert_eq!(adjust(t, 8, 8, 3), t * U256::from(4));
        // Saturates instead of overflowing, and never reaches zero.
        assert_eq!(adjust(U256::MAX, 0, 8, 1_000_000), U256::MAX);
        assert_eq!(adjust(U256::from(1), 1000, 8, 1), U256::from(1));
    }
}
