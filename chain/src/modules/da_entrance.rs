//! `0x…1001` DA entrance: disperser deposits, blob fees and anchoring of certified
//! commitments.
//!
//! Storage: `deposit(addr)`, `anchor(dataRoot, epoch, quorum)` = the block anchored at
//! with the signers' bitmap above it (`zg_primitives::abi::AnchorRecord`), `fees.collected`, `reward(addr)` (earned, unclaimed), `reward.pool`.
//!
//! Each anchored payload's fee is split: `poolShareBps` of it to the sampling reward pool
//! (which pays `sampleReward` per lottery win), the rest equally among the signers whose
//! bits are set, the first `rest mod signers` of them in bitmap order one wei more, so
//! nothing is lost to rounding. Rewards are pulled with `claimRewards`.

use alloy_primitives::{Address, Bytes, U256};
use alloy_sol_types::{SolCall, SolEvent};
use revm::context::ContextTr;
use zg_primitives::abi::{AnchorRecord, IDAEntrance};
use zg_primitives::{BlsError, BlsSignature, attestation_message, verify_quorum_aggregate};

use super::da_signers::epoch_of;
use super::{Call, Exit, decode_call, ensure_formed, gas, quorum_members, seat_pubkey, slot};

/// Most blobs one commitment may declare (a 4 GiB payload).
const MAX_BLOB_COUNT: u64 = 1 << 16;

fn deposit_slot(a: &Address) -> U256 {
    slot("deposit", &[a.as_slice()])
}
/// The anchor record's slot (one definition, shared with light clients that prove it).
pub(super) fn anchor_slot(root: &[u8], epoch: u64, quorum: u64) -> U256 {
    let mut r = [0u8; 32];
    r.copy_from_slice(root);
    U256::from_be_bytes(zg_primitives::abi::entrance_anchor_slot(&r, epoch, quorum).0)
}
fn fees_slot() -> U256 {
    slot("fees.collected", &[])
}
/// Rewards earned and not claimed by `a` (fee shares and lottery wins).
pub(super) fn reward_slot(a: &Address) -> U256 {
    slot("reward", &[a.as_slice()])
}
/// The sampling reward pool.
pub(super) fn pool_slot() -> U256 {
    slot("reward.pool", &[])
}

pub(super) fn dispatch<CTX: ContextTr>(
    call: &mut Call<'_, CTX>,
    input: &[u8],
) -> Result<Bytes, Exit> {
    use IDAEntrance::IDAEntranceCalls as C;
    // Only `deposit` takes value; anything else sent with value reverts (and the EVM rolls
    // the transfer back).
    let decoded = decode_call(call, input, |c| {
        matches!(c, C::deposit(_) | C::fundRewardPool(_))
    })?;
    match decoded {
        C::deposit(_) => {
            call.require_mutable()?;
            if call.value.is_zero() {
                return Err(Exit::error(IDAEntrance::ZeroAmount {}));
            }
            let who = call.caller;
            let bal = call.sload(deposit_slot(&who))?;
            call.sstore(deposit_slot(&who), bal + call.value)?;
            call.log(
                IDAEntrance::Deposited {
                    account: who,
                    amount: call.value,
                }
                .encode_log_data(),
            )?;
            Ok(Bytes::new())
        }
        C::withdraw(c) => {
            call.require_mutable()?;
            if c.amount.is_zero() {
                return Err(Exit::error(IDAEntrance::ZeroAmount {}));
            }
            let who = call.caller;
            let bal = call.sload(deposit_slot(&who))?;
            if bal < c.amount {
                return Err(Exit::error(IDAEntrance::InsufficientDeposit {
                    balance: bal,
                    required: c.amount,
                }));
            }
            call.sstore(deposit_slot(&who), bal - c.amount)?;
            if !call.transfer_out(who, c.amount)? {
                return Err(Exit::Fatal(
                    "entrance module holds less than its deposits".into(),
                ));
            }
            call.log(
                IDAEntrance::Withdrawn {
                    account: who,
                    amount: c.amount,
                }
                .encode_log_data(),
            )?;
            Ok(Bytes::new())
        }
        C::balanceOf(c) => {
            let bal = call.sload(deposit_slot(&c.account))?;
            Ok(IDAEntrance::balanceOfCall::abi_encode_returns(&bal).into())
        }
        C::blobFee(_) => {
            Ok(IDAEntrance::blobFeeCall::abi_encode_returns(&call.genesis.da.blob_fee).into())
        }
        C::commitmentExists(c) => {
            let exists = match (u64::try_from(c.epoch), u64::try_from(c.quorumId)) {
                (Ok(e), Ok(q)) => !call
                    .sload(anchor_slot(c.dataRoot.as_slice(), e, q))?
                    .is_zero(),
                _ => false,
            };
            Ok(IDAEntrance::commitmentExistsCall::abi_encode_returns(&exists).into())
        }
        C::claimRewards(_) => {
            call.require_mutable()?;
            let me = call.caller;
            let amount = call.sload(reward_slot(&me))?;
            if amount.is_zero() {
                return Err(Exit::error(IDAEntrance::NothingToClaim {}));
            }
            call.sstore(reward_slot(&me), U256::ZERO)?;
            if !call.transfer_out(me, amount)? {
                return Err(Exit::Fatal(
                    "entrance module holds less than its rewards".into(),
                ));
            }
            call.log(
                IDAEntrance::RewardsClaimed {
                    account: me,
                    amount,
                }
                .encode_log_data(),
            )?;
            Ok(Bytes::new())
        }
        C::rewardsOf(c) => {
            let r = call.sload(reward_slot(&c.account))?;
            Ok(IDAEntrance::rewardsOfCall::abi_encode_returns(&r).into())
        }
        C::rewardPool(_) => {
            let r = call.sload(pool_slot())?;
            Ok(IDAEntrance::rewardPoolCall::abi_encode_returns(&r).into())
        }
        C::fundRewardPool(_) => {
            call.require_mutable()?;
            if call.value.is_zero() {
                return Err(Exit::error(IDAEntrance::ZeroAmount {}));
            }
            let pool = call.sload(pool_slot())?;
            call.sstore(pool_slot(), pool + call.value)?;
            call.log(
                IDAEntrance::RewardPoolFunded {
                    from: call.caller,
                    amount: call.value,
                }
                .encode_log_data(),
            )?;
            Ok(Bytes::new())
        }
        C::rewardParams(_) => {
            let da = &call.genesis.da;
            Ok(IDAEntrance::rewardParamsCall::abi_encode_returns(
                &IDAEntrance::rewardParamsReturn {
                    poolShareBps: U256::from(da.pool_share_bps),
                    sampleReward: da.sample_reward,
                },
            )
            .into())
        }
        C::submitVerifiedCommitRoots(c) => {
            call.require_mutable()?;
            for s in c.submissions {
                submit_one(call, s)?;
            }
            Ok(Bytes::new())
        }
    }
}

fn submit_one<CTX: ContextTr>(
    call: &mut Call<'_, CTX>,
    s: IDAEntrance::CommitRootSubmission,
) -> Result<(), Exit> {
    let unknown = || {
        Exit::error(IDAEntrance::UnknownQuorum {
            epoch: s.epoch,
            quorumId: s.quorumId,
        })
    };
    let (Ok(epoch), Ok(quorum)) = (u64::try_from(s.epoch), u64::try_from(s.quorumId)) else {
        return Err(unknown());
    };
    let blob_count = u64::try_from(s.blobCount)
        .ok()
        .filter(|&b| (1..=MAX_BLOB_COUNT).contains(&b));
    let Some(blob_count) = blob_count else {
        return Err(Exit::error(IDAEntrance::InvalidBlobCount {}));
    };
    let anchor = anchor_slot(s.dataRoot.as_slice(), epoch, quorum);
    if !call.sload(anchor)?.is_zero() {
        return Ok(()); // already anchored: idempotent, no event, no fee
    }
    // A quorum of an epoch that left the window no longer vouches for custody: its
    // members may have stopped storing, and they refuse to sign for it themselves.
    let current = epoch_of(call);
    if epoch.saturating_add(call.genesis.da.anchor_window_epochs) < current {
        return Err(Exit::error(IDAEntrance::StaleEpoch {
            epoch: s.epoch,
            current: U256::from(current),
        }));
    }
    // The first anchor of an epoch nobody formed forms it (stored once; later anchors
    // read `quorumSize` seats whatever the number of registrants).
    ensure_formed(call, epoch)?;
    let members = quorum_members(call, epoch, quorum)?.ok_or_else(unknown)?;
    let mut keys = Vec::with_capacity(members.len());
    for m in &members {
        keys.push(seat_pubkey(call, m)?);
    }
    let threshold = call.genesis.da.quorum_threshold as usize;
    call.charge(gas::BLS_VERIFY + gas::BLS_AGGREGATE_KEY * members.len() as u64)?;
    let sig = BlsSignature::try_from(s.aggregateSignature.as_ref())
        .map_err(|_| Exit::error(IDAEntrance::InvalidAggregateSignature {}))?;
    let msg = attestation_message(
        call.chain_id(),
        s.dataRoot,
        epoch,
        quorum,
        blob_count as u32,
    );
    verify_quorum_aggregate(&keys, &s.signersBitmap, &sig, &msg, threshold).map_err(
        |e| match e {
            BlsError::BadBitmap(_) => Exit::error(IDAEntrance::InvalidSignerBitmap {}),
            BlsError::BelowThreshold { signers, threshold } => {
                Exit::error(IDAEntrance::BelowThreshold {
                    signers: U256::from(signers),
                    threshold: U256::from(threshold),
                })
            }
            _ => Exit::error(IDAEntrance::InvalidAggregateSignature {}),
        },
    )?;
    let fee = call.genesis.da.blob_fee * U256::from(blob_count);
    let payer = call.caller;
    let bal = call.sload(deposit_slot(&payer))?;
    if bal < fee {
        return Err(Exit::error(IDAEntrance::InsufficientDeposit {
            balance: bal,
            required: fee,
        }));
    }
    call.sstore(deposit_slot(&payer), bal - fee)?;
    let collected = call.sload(fees_slot())?;
    call.sstore(fees_slot(), collected + fee)?;
    // The fee: a share to the sampling pool, the rest to the signers, to the last wei.
    let seats = zg_primitives::bitmap_members(&s.signersBitmap, members.len())
        .map_err(|_| Exit::error(IDAEntrance::InvalidSignerBitmap {}))?;
    let record = AnchorRecord {
        block: call.block_number().max(1),
        signers: seats
            .iter()
            .fold(U256::ZERO, |b, &i| b | (U256::from(1) << i)),
    };
    call.sstore(anchor, record.to_word())?;
    let signed: Vec<Address> = seats.into_iter().map(|i| members[i]).collect();
    let to_pool = fee * U256::from(call.genesis.da.pool_share_bps) / U256::from(10_000u64);
    let rest = fee - to_pool;
    let k = U256::from(signed.len());
    let (per, remainder) = (rest / k, (rest % k).saturating_to::<usize>());
    for (i, m) in signed.iter().enumerate() {
        let share = per + U256::from(u8::from(i < remainder));
        let slot = reward_slot(m);
        let earned = call.sload(slot)?;
        call.sstore(slot, earned + share)?;
    }
    if !to_pool.is_zero() {
        let pool = call.sload(pool_slot())?;
        call.sstore(pool_slot(), pool + to_pool)?;
    }
    call.log(
        IDAEntrance::ErasureCommitmentVerified {
            dataRoot: s.dataRoot,
            epoch: s.epoch,
            quorumId: s.quorumId,
        }
        .encode_log_data(),
    )?;
    call.log(
        IDAEntrance::BlobFeeCharged {
            payer,
            dataRoot: s.dataRoot,
            amount: fee,
        }
        .encode_log_data(),
    )?;
    call.log(
        IDAEntrance::FeeSplit {
            dataRoot: s.dataRoot,
            signers: k,
            perSigner: per,
            toPool: to_pool,
        }
        .encode_log_data(),
    )?;
    Ok(())
}
