//! Sub-accounts of the serving module: a (user, provider) balance funded from the
//! user's ledger, its queued refunds, acknowledgement and token revocation state.

use alloy_primitives::{Address, U256};
use alloy_sol_types::SolEvent;
use revm::context::ContextTr;
use zg_primitives::abi::{IInferenceServing as S, LEDGER_ADDRESS, SERVING_ADDRESS};

use super::{aslot, emit, get, get_str, put, put_str, rslot};
use crate::modules::{Call, Exit};

const MAX_REFUNDS: u64 = 5;

pub(super) fn account_exists<CTX: ContextTr>(
    call: &mut Call<'_, CTX>,
    user: &Address,
    provider: &Address,
) -> Result<bool, Exit> {
    Ok(!get(call, SERVING_ADDRESS, aslot("exists", user, provider))?.is_zero())
}

pub(super) fn aget<CTX: ContextTr>(
    call: &mut Call<'_, CTX>,
    f: &str,
    user: &Address,
    provider: &Address,
) -> Result<U256, Exit> {
    get(call, SERVING_ADDRESS, aslot(f, user, provider))
}

pub(super) fn aput<CTX: ContextTr>(
    call: &mut Call<'_, CTX>,
    f: &str,
    user: &Address,
    provider: &Address,
    v: U256,
) -> Result<(), Exit> {
    put(call, SERVING_ADDRESS, aslot(f, user, provider), v)
}

/// Active refunds, oldest first: (index, amount, createdAt).
fn refunds<CTX: ContextTr>(
    call: &mut Call<'_, CTX>,
    user: &Address,
    provider: &Address,
) -> Result<Vec<(U256, U256, U256)>, Exit> {
    let n = aget(call, "rn", user, provider)?.saturating_to::<u64>();
    (0..n)
        .map(|i| {
            Ok((
                get(call, SERVING_ADDRESS, rslot("idx", user, provider, i))?,
                get(call, SERVING_ADDRESS, rslot("amt", user, provider, i))?,
                get(call, SERVING_ADDRESS, rslot("at", user, provider, i))?,
            ))
        })
        .collect()
}

fn set_refunds<CTX: ContextTr>(
    call: &mut Call<'_, CTX>,
    user: &Address,
    provider: &Address,
    list: &[(U256, U256, U256)],
) -> Result<(), Exit> {
    let old = aget(call, "rn", user, provider)?.saturating_to::<u64>();
    for (i, (idx, amt, at)) in list.iter().enumerate() {
        let i = i as u64;
        put(call, SERVING_ADDRESS, rslot("idx", user, provider, i), *idx)?;
        put(call, SERVING_ADDRESS, rslot("amt", user, provider, i), *amt)?;
        put(call, SERVING_ADDRESS, rslot("at", user, provider, i), *at)?;
    }
    for i in list.len() as u64..old {
        for f in ["idx", "amt", "at"] {
            put(
                call,
                SERVING_ADDRESS,
                rslot(f, user, provider, i),
                U256::ZERO,
            )?;
        }
    }
    aput(call, "rn", user, provider, U256::from(list.len()))
}

/// Takes `amount` off the newest refunds first (a top-up or a settlement cancelling
/// queued refunds); returns how much was taken.
pub(super) fn cancel_refunds<CTX: ContextTr>(
    call: &mut Call<'_, CTX>,
    user: &Address,
    provider: &Address,
    mut amount: U256,
) -> Result<U256, Exit> {
    let mut list = refunds(call, user, provider)?;
    let mut taken = U256::ZERO;
    while amount > U256::ZERO {
        let Some(last) = list.last_mut() else { break };
        let t = last.1.min(amount);
        last.1 -= t;
        amount -= t;
        taken += t;
        if last.1.is_zero() {
            list.pop();
        }
    }
    set_refunds(call, user, provider, &list)?;
    let pend = aget(call, "pend", user, provider)?;
    aput(call, "pend", user, provider, pend.saturating_sub(taken))?;
    Ok(taken)
}

pub(super) fn balance_updated<CTX: ContextTr>(
    call: &mut Call<'_, CTX>,
    user: &Address,
    provider: &Address,
) -> Result<(), Exit> {
    let amount = aget(call, "bal", user, provider)?;
    let pending = aget(call, "pend", user, provider)?;
    emit(
        call,
        SERVING_ADDRESS,
        S::BalanceUpdated {
            user: *user,
            provider: *provider,
            amount,
            pendingRefund: pending,
        }
        .encode_log_data(),
    )
}

pub(super) fn add_account<CTX: ContextTr>(
    call: &mut Call<'_, CTX>,
    user: &Address,
    provider: &Address,
    info: &str,
    value: U256,
) -> Result<(), Exit> {
    if provider.is_zero() {
        return Err(Exit::error(S::InvalidAddress { addr: *provider }));
    }
    if user == provider {
        return Err(Exit::error(S::ProviderCannotBeUser {}));
    }
    aput(call, "exists", user, provider, U256::from(1))?;
    aput(call, "bal", user, provider, value)?;
    aput(call, "pend", user, provider, U256::ZERO)?;
    aput(call, "ack", user, provider, U256::from(1))?;
    put_str(call, SERVING_ADDRESS, aslot("info", user, provider), info)?;
    balance_updated(call, user, provider)
}

pub(super) fn delete_account<CTX: ContextTr>(
    call: &mut Call<'_, CTX>,
    user: &Address,
    provider: &Address,
) -> Result<(), Exit> {
    let refunded = aget(call, "bal", user, provider)?;
    if !refunded.is_zero() && !call.transfer(SERVING_ADDRESS, LEDGER_ADDRESS, refunded)? {
        return Err(Exit::Fatal("serving module short of funds".into()));
    }
    set_refunds(call, user, provider, &[])?;
    // The nonce, the token generation and the revoked-token bitmap stay: neither old
    // settlements nor revoked tokens come back when the account is created again.
    for f in ["exists", "bal", "pend", "ack"] {
        aput(call, f, user, provider, U256::ZERO)?;
    }
    put_str(call, SERVING_ADDRESS, aslot("info", user, provider), "")?;
    emit(
        call,
        SERVING_ADDRESS,
        S::AccountDeleted {
            user: *user,
            provider: *provider,
            refundedAmount: refunded,
        }
        .encode_log_data(),
    )
}

/// Queues the account's free balance as a refund.
pub(super) fn request_refund_all<CTX: ContextTr>(
    call: &mut Call<'_, CTX>,
    user: &Address,
    provider: &Address,
) -> Result<(), Exit> {
    let bal = aget(call, "bal", user, provider)?;
    let pend = aget(call, "pend", user, provider)?;
    let amount = bal.saturating_sub(pend);
    if amount.is_zero() {
        return Ok(());
    }
    let mut list = refunds(call, user, provider)?;
    if list.len() as u64 >= MAX_REFUNDS {
        return Err(Exit::error(S::TooManyRefunds {
            user: *user,
            provider: *provider,
        }));
    }
    let index = aget(call, "ridx", user, provider)?;
    let now = U256::from(call.timestamp());
    list.push((index, amount, now));
    set_refunds(call, user, provider, &list)?;
    aput(call, "ridx", user, provider, index + U256::from(1))?;
    aput(call, "pend", user, provider, pend + amount)?;
    emit(
        call,
        SERVING_ADDRESS,
        S::RefundRequested {
            user: *user,
            provider: *provider,
            index,
            timestamp: now,
        }
        .encode_log_data(),
    )
}

/// Releases the refunds whose lock time has passed to the ledger; returns the amount.
pub(super) fn process_refund<CTX: ContextTr>(
    call: &mut Call<'_, CTX>,
    user: &Address,
    provider: &Address,
) -> Result<U256, Exit> {
    let now = call.timestamp();
    let lock = call.genesis.compute.lock_time;
    let list = refunds(call, user, provider)?;
    let (due, keep): (Vec<_>, Vec<_>) = list
        .into_iter()
        .partition(|(_, _, at)| at.saturating_to::<u64>().saturating_add(lock) <= now);
    let total: U256 = due.iter().map(|r| r.1).sum();
    if total.is_zero() {
        return Ok(total);
    }
    set_refunds(call, user, provider, &keep)?;
    let bal = aget(call, "bal", user, provider)?;
    let pend = aget(call, "pend", user, provider)?;
    aput(call, "bal", user, provider, bal.saturating_sub(total))?;
    aput(call, "pend", user, provider, pend.saturating_sub(total))?;
    if !call.transfer(SERVING_ADDRESS, LEDGER_ADDRESS, total)? {
        return Err(Exit::Fatal("serving module short of funds".into()));
    }
    balance_updated(call, user, provider)?;
    Ok(total)
}

pub(super) fn account<CTX: ContextTr>(
    call: &mut Call<'_, CTX>,
    user: &Address,
    provider: &Address,
) -> Result<S::Account, Exit> {
    if !account_exists(call, user, provider)? {
        return Err(Exit::error(S::AccountNotExists {
            user: *user,
            provider: *provider,
        }));
    }
    let refunds: Vec<S::Refund> = refunds(call, user, provider)?
        .into_iter()
        .map(|(index, amount, created)| S::Refund {
            index,
            amount,
            createdAt: created,
            processed: false,
        })
        .collect();
    Ok(S::Account {
        user: *user,
        provider: *provider,
        nonce: aget(call, "nonce", user, provider)?,
        balance: aget(call, "bal", user, provider)?,
        pendingRefund: aget(call, "pend", user, provider)?,
        validRefundsLength: U256::from(refunds.len()),
        refunds,
        additionalInfo: get_str(call, SERVING_ADDRESS, aslot("info", user, provider))?,
        acknowledged: !aget(call, "ack", user, provider)?.is_zero(),
        generation: aget(call, "gen", user, provider)?,
        revokedBitmap: aget(call, "bitmap", user, provider)?,
    })
}
