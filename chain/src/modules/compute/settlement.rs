//! Fee settlement: a provider's batch of EIP-712 settlements signed by its TEE signer,
//! each checked (provider, acknowledgement, nonce, signature) and paid out of the
//! user's sub-account.

use alloy_primitives::{Address, B256, Bytes, Signature, U256};
use alloy_sol_types::SolEvent;
use revm::context::ContextTr;
use zg_primitives::abi::{
    IInferenceServing as S, ILedgerManager as L, LEDGER_ADDRESS, SERVING_ADDRESS,
    tee_settlement_digest,
};

use super::accounts::{account_exists, aget, aput, balance_updated, cancel_refunds};
use super::ledger::{balances, set_balances};
use super::services::service_exists;
use super::{emit, get, ok, sslot};
use crate::modules::{Call, Exit, gas, word_addr};

const MAX_SETTLEMENTS: usize = 50;

/// Settlement statuses (0G's `SettlementStatus`).
mod status {
    pub(super) const SUCCESS: u8 = 0;
    pub(super) const PARTIAL: u8 = 1;
    pub(super) const PROVIDER_MISMATCH: u8 = 2;
    pub(super) const NO_TEE_SIGNER: u8 = 3;
    pub(super) const INVALID_NONCE: u8 = 4;
    pub(super) const INVALID_SIGNATURE: u8 = 5;
}

/// A low-s, v ∈ {27, 28} signature's signer (OpenZeppelin's `tryRecover`).
fn recover(digest: &B256, sig: &[u8]) -> Option<Address> {
    if sig.len() != 65 || !matches!(sig[64], 27 | 28) {
        return None;
    }
    let sig = Signature::from_raw(sig).ok()?;
    if sig.normalize_s().is_some() {
        return None;
    }
    sig.recover_address_from_prehash(digest).ok()
}

/// One settlement item: its status, the unsettled amount and what was paid. With
/// `dry`, nothing is written (the preview).
fn settle_one<CTX: ContextTr>(
    call: &mut Call<'_, CTX>,
    s: &S::TEESettlementData,
    dry: bool,
) -> Result<(u8, U256, U256), Exit> {
    let provider = call.caller;
    let fail = |st: u8| Ok((st, s.totalFee, U256::ZERO));
    if s.provider != provider {
        return fail(status::PROVIDER_MISMATCH);
    }
    if !account_exists(call, &s.user, &provider)? {
        return fail(status::INVALID_SIGNATURE);
    }
    if !service_exists(call, &provider)? {
        return fail(status::PROVIDER_MISMATCH);
    }
    let signer = word_addr(get(call, SERVING_ADDRESS, sslot("signer", &provider))?);
    let svc_ack = !get(call, SERVING_ADDRESS, sslot("ack", &provider))?.is_zero();
    let acct_ack = !aget(call, "ack", &s.user, &provider)?.is_zero();
    if !acct_ack || !svc_ack || signer.is_zero() {
        return fail(status::NO_TEE_SIGNER);
    }
    if aget(call, "nonce", &s.user, &provider)? >= s.nonce {
        return fail(status::INVALID_NONCE);
    }
    call.charge(gas::ECRECOVER)?;
    let digest = tee_settlement_digest(
        call.chain_id(),
        SERVING_ADDRESS,
        s.requestsHash,
        s.nonce,
        provider,
        s.user,
        s.totalFee,
    );
    if recover(&digest, &s.signature) != Some(signer) {
        return fail(status::INVALID_SIGNATURE);
    }
    let bal = aget(call, "bal", &s.user, &provider)?;
    let pay = s.totalFee.min(bal);
    let (st, unsettled) = if s.totalFee > bal {
        (status::PARTIAL, s.totalFee - bal)
    } else {
        (status::SUCCESS, U256::ZERO)
    };
    if dry {
        return Ok((st, unsettled, pay));
    }
    aput(call, "nonce", &s.user, &provider, s.nonce)?;
    if !pay.is_zero() {
        let pend = aget(call, "pend", &s.user, &provider)?;
        let free = bal - pend.min(bal);
        if pay > free {
            cancel_refunds(call, &s.user, &provider, pay - free)?;
        }
        aput(call, "bal", &s.user, &provider, bal - pay)?;
        let (avail, total) = balances(call, &s.user)?;
        set_balances(call, &s.user, avail, total.saturating_sub(pay))?;
        emit(
            call,
            LEDGER_ADDRESS,
            L::FundSpent {
                user: s.user,
                service: SERVING_ADDRESS,
                amount: pay,
            }
            .encode_log_data(),
        )?;
        balance_updated(call, &s.user, &provider)?;
    }
    Ok((st, unsettled, pay))
}

fn check_batch(n: usize) -> Result<(), Exit> {
    if n == 0 {
        return Err(Exit::error(S::NoSettlementsProvided {}));
    }
    if n > MAX_SETTLEMENTS {
        return Err(Exit::error(S::TooManySettlements {
            count: U256::from(n),
            max: U256::from(MAX_SETTLEMENTS),
        }));
    }
    Ok(())
}

/// `settleFeesWithTEE`: settles every item (each gets a status and an event; none
/// reverts the batch) and pays the provider what was settled.
pub(super) fn settle_fees<CTX: ContextTr>(
    call: &mut Call<'_, CTX>,
    settlements: &[S::TEESettlementData],
) -> Result<Bytes, Exit> {
    let provider = call.caller;
    call.require_mutable()?;
    check_batch(settlements.len())?;
    let mut statuses = Vec::with_capacity(settlements.len());
    let mut paid = U256::ZERO;
    for s in settlements {
        let (st, unsettled, pay) = settle_one(call, s, false)?;
        paid += pay;
        statuses.push(st);
        emit(
            call,
            SERVING_ADDRESS,
            S::TEESettlementResult {
                user: s.user,
                status: st,
                unsettledAmount: unsettled,
            }
            .encode_log_data(),
        )?;
    }
    if !paid.is_zero() && !call.transfer(SERVING_ADDRESS, provider, paid)? {
        return Err(Exit::error(S::TransferFailed {}));
    }
    ok::<S::settleFeesWithTEECall>(&statuses)
}

/// `previewSettlementResults`: what settling would do, writing nothing.
pub(super) fn preview<CTX: ContextTr>(
    call: &mut Call<'_, CTX>,
    settlements: &[S::TEESettlementData],
) -> Result<Bytes, Exit> {
    check_batch(settlements.len())?;
    let mut out = S::previewSettlementResultsReturn {
        failedUsers: Vec::new(),
        failureReasons: Vec::new(),
        partialUsers: Vec::new(),
        partialAmounts: Vec::new(),
    };
    for s in settlements {
        let (st, unsettled, _) = settle_one(call, s, true)?;
        match st {
            status::SUCCESS => {}
            status::PARTIAL => {
                out.partialUsers.push(s.user);
                out.partialAmounts.push(unsettled);
            }
            _ => {
                out.failedUsers.push(s.user);
                out.failureReasons.push(st);
            }
        }
    }
    ok::<S::previewSettlementResultsCall>(&out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::keccak256;
    use alloy_signer::SignerSync;
    use alloy_signer_local::PrivateKeySigner;

    #[test]
    fn recover_accepts_low_s_27_28_only() {
        let key = PrivateKeySigner::random();
        let digest = keccak256(b"settlement");
        let sig = key.sign_hash_sync(&digest).unwrap();
        let mut raw = sig.as_bytes().to_vec();
        assert!(matches!(raw[64], 27 | 28));
        assert_eq!(recover(&digest, &raw), Some(key.address()));
        // v as 0/1 is not accepted (OpenZeppelin's ECDSA)
        raw[64] -= 27;
        assert_eq!(recover(&digest, &raw), None);
        // the high-s twin of a valid signature is refused
        let n = U256::from_str_radix(
            "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141",
            16,
        )
        .unwrap();
        let s = U256::from_be_slice(&raw[32..64]);
        let mut twin = raw.clone();
        twin[32..64].copy_from_slice(&(n - s).to_be_bytes::<32>());
        twin[64] = if sig.v() { 27 } else { 28 };
        assert_eq!(recover(&digest, &twin), None);
        assert_eq!(recover(&digest, &raw[..64]), None);
    }
}
