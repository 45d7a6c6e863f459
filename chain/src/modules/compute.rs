//! `0x…1005` compute ledger and `0x…1006` inference serving: 0G's serving market
//! (`LedgerManager`, `InferenceServing`) with its ABI (`zg_primitives::abi::
//! ILedgerManager`, `IInferenceServing`), so 0G's SDK flows and any Ethereum client
//! drive it unchanged.
//!
//! Money flow, as in 0G: a user's deposit stays in the ledger module (`available`);
//! `transferFund` moves part of it into a (user, provider) sub-account held by the
//! serving module; settlement pays providers out of sub-accounts (and lowers the
//! ledger's `total`); `retrieveFund` is two-step: it queues the sub-account's free
//! balance as a refund and, `lockTime` seconds later, releases it back to the ledger's
//! `available`, from where `refund` pays the wallet. A provider settles by sending
//! EIP-712 settlement data signed by its TEE signer (acknowledged by the owner); every
//! item gets a status and an event, none reverts the batch.
//!
//! Storage: ledger fields under `ledger.*` (module `0x…1005`); services under `svc.*`
//! and sub-accounts under `acct.*` (module `0x…1006`); refunds as a per-account list of
//! the active ones (oldest first). `deleteAccount` keeps an account's nonce and token
//! generation and revoked-token bitmap, so old settlements and revoked session tokens
//! stay dead when it is re-created.

use alloy_primitives::{Address, B256, Bytes, LogData, Signature, U256};
use alloy_sol_types::{SolCall, SolEvent, SolInterface};
use revm::context::ContextTr;
use zg_primitives::abi::{
    IInferenceServing as S, ILedgerManager as L, INFERENCE_SERVICE_NAME, LEDGER_ADDRESS,
    SERVING_ADDRESS, tee_settlement_digest,
};

use super::{Call, Exit, addr_word, gas, slot, word_addr};

const MAX_ADDITIONAL_INFO: usize = 4096;
const MAX_PROVIDERS_PER_SERVICE: u64 = 50;
const MAX_PROVIDERS_PER_BATCH: usize = 20;
const MAX_REFUNDS: u64 = 5;
const MAX_SETTLEMENTS: usize = 50;
const PAGE: u64 = 50;

/// Settlement statuses (0G's `SettlementStatus`).
mod status {
    pub(super) const SUCCESS: u8 = 0;
    pub(super) const PARTIAL: u8 = 1;
    pub(super) const PROVIDER_MISMATCH: u8 = 2;
    pub(super) const NO_TEE_SIGNER: u8 = 3;
    pub(super) const INVALID_NONCE: u8 = 4;
    pub(super) const INVALID_SIGNATURE: u8 = 5;
}

fn lslot(field: &str, user: &Address) -> U256 {
    slot(&format!("ledger.{field}"), &[user.as_slice()])
}
fn sslot(field: &str, provider: &Address) -> U256 {
    slot(&format!("svc.{field}"), &[provider.as_slice()])
}
fn aslot(field: &str, user: &Address, provider: &Address) -> U256 {
    slot(
        &format!("acct.{field}"),
        &[user.as_slice(), provider.as_slice()],
    )
}
fn rslot(field: &str, user: &Address, provider: &Address, i: u64) -> U256 {
    slot(
        &format!("acct.refund.{field}"),
        &[user.as_slice(), provider.as_slice(), &i.to_be_bytes()],
    )
}

/// Runs `f` with module `at` as the call's storage and log owner.
fn within<'a, CTX: ContextTr, R>(
    call: &mut Call<'a, CTX>,
    at: Address,
    f: impl FnOnce(&mut Call<'a, CTX>) -> Result<R, Exit>,
) -> Result<R, Exit> {
    let prev = call.me;
    if at != prev {
        call.load(at)?;
    }
    call.me = at;
    let r = f(call);
    call.me = prev;
    r
}

fn get<CTX: ContextTr>(call: &mut Call<'_, CTX>, at: Address, s: U256) -> Result<U256, Exit> {
    call.sload_at(at, s)
}

fn put<CTX: ContextTr>(
    call: &mut Call<'_, CTX>,
    at: Address,
    s: U256,
    v: U256,
) -> Result<(), Exit> {
    within(call, at, |c| c.sstore(s, v))
}

fn get_str<CTX: ContextTr>(call: &mut Call<'_, CTX>, at: Address, s: U256) -> Result<String, Exit> {
    let b = call.load_bytes_at(at, s)?;
    Ok(String::from_utf8_lossy(&b).into_owned())
}

fn put_str<CTX: ContextTr>(
    call: &mut Call<'_, CTX>,
    at: Address,
    s: U256,
    v: &str,
) -> Result<(), Exit> {
    within(call, at, |c| c.store_bytes(s, v.as_bytes()))
}

fn emit<CTX: ContextTr>(call: &mut Call<'_, CTX>, at: Address, log: LogData) -> Result<(), Exit> {
    within(call, at, |c| c.log(log))
}

fn flag(b: bool) -> U256 {
    U256::from(b as u8)
}

fn ok<C: SolCall>(ret: &C::Return) -> Result<Bytes, Exit> {
    Ok(C::abi_encode_returns(ret).into())
}

fn done() -> Result<Bytes, Exit> {
    Ok(Bytes::new())
}

// ---------------------------------------------------------------- ledger state

fn ledger_exists<CTX: ContextTr>(call: &mut Call<'_, CTX>, user: &Address) -> Result<bool, Exit> {
    Ok(!get(call, LEDGER_ADDRESS, lslot("exists", user))?.is_zero())
}

fn require_ledger<CTX: ContextTr>(call: &mut Call<'_, CTX>, user: &Address) -> Result<(), Exit> {
    if ledger_exists(call, user)? {
        Ok(())
    } else {
        Err(Exit::error(L::LedgerNotExists { user: *user }))
    }
}

fn balances<CTX: ContextTr>(
    call: &mut Call<'_, CTX>,
    user: &Address,
) -> Result<(U256, U256), Exit> {
    Ok((
        get(call, LEDGER_ADDRESS, lslot("avail", user))?,
        get(call, LEDGER_ADDRESS, lslot("total", user))?,
    ))
}

fn set_balances<CTX: ContextTr>(
    call: &mut Call<'_, CTX>,
    user: &Address,
    avail: U256,
    total: U256,
) -> Result<(), Exit> {
    put(call, LEDGER_ADDRESS, lslot("avail", user), avail)?;
    put(call, LEDGER_ADDRESS, lslot("total", user), total)
}

fn check_info(info: &str) -> Result<(), Exit> {
    if info.len() > MAX_ADDITIONAL_INFO {
        return Err(Exit::error(L::AdditionalInfoTooLong {
            length: U256::from(info.len()),
            max: U256::from(MAX_ADDITIONAL_INFO),
        }));
    }
    Ok(())
}

fn create_ledger<CTX: ContextTr>(
    call: &mut Call<'_, CTX>,
    user: &Address,
    amount: U256,
    info: &str,
) -> Result<(), Exit> {
    let min = call.genesis.compute.min_account_balance;
    if amount < min {
        return Err(Exit::error(L::MinimumDepositRequired {
            provided: amount,
            required: min,
        }));
    }
    check_info(info)?;
    put(call, LEDGER_ADDRESS, lslot("exists", user), U256::from(1))?;
    set_balances(call, user, amount, amount)?;
    put_str(call, LEDGER_ADDRESS, lslot("info", user), info)
}

fn deposit_for<CTX: ContextTr>(call: &mut Call<'_, CTX>, user: Address) -> Result<(), Exit> {
    call.require_mutable()?;
    let value = call.value;
    if value.is_zero() {
        return Err(Exit::error(L::ZeroAmountNotAllowed {}));
    }
    if !ledger_exists(call, &user)? {
        return create_ledger(call, &user, value, "");
    }
    let (avail, total) = balances(call, &user)?;
    set_balances(call, &user, avail + value, total + value)
}

fn providers<CTX: ContextTr>(
    call: &mut Call<'_, CTX>,
    user: &Address,
) -> Result<Vec<Address>, Exit> {
    let n = get(call, LEDGER_ADDRESS, lslot("pn", user))?.saturating_to::<u64>();
    (0..n)
        .map(|i| {
            let s = slot("ledger.pat", &[user.as_slice(), &i.to_be_bytes()]);
            get(call, LEDGER_ADDRESS, s).map(word_addr)
        })
        .collect()
}

fn add_provider<CTX: ContextTr>(
    call: &mut Call<'_, CTX>,
    user: &Address,
    provider: &Address,
) -> Result<(), Exit> {
    let idx = slot("ledger.pidx", &[user.as_slice(), provider.as_slice()]);
    if !get(call, LEDGER_ADDRESS, idx)?.is_zero() {
        return Ok(());
    }
    let n = get(call, LEDGER_ADDRESS, lslot("pn", user))?.saturating_to::<u64>();
    if n >= MAX_PROVIDERS_PER_SERVICE {
        return Err(Exit::error(L::TooManyProvidersForService {
            current: U256::from(n),
            max: U256::from(MAX_PROVIDERS_PER_SERVICE),
        }));
    }
    let at = slot("ledger.pat", &[user.as_slice(), &n.to_be_bytes()]);
    put(call, LEDGER_ADDRESS, at, addr_word(provider))?;
    put(call, LEDGER_ADDRESS, idx, U256::from(n + 1))?;
    put(call, LEDGER_ADDRESS, lslot("pn", user), U256::from(n + 1))
}

/// Deletes the ledger and its sub-accounts (once its total reached zero).
fn delete_ledger<CTX: ContextTr>(call: &mut Call<'_, CTX>, user: &Address) -> Result<(), Exit> {
    for p in providers(call, user)? {
        delete_account(call, user, &p)?;
        let idx = slot("ledger.pidx", &[user.as_slice(), p.as_slice()]);
        put(call, LEDGER_ADDRESS, idx, U256::ZERO)?;
    }
    let n = get(call, LEDGER_ADDRESS, lslot("pn", user))?.saturating_to::<u64>();
    for i in 0..n {
        let at = slot("ledger.pat", &[user.as_slice(), &i.to_be_bytes()]);
        put(call, LEDGER_ADDRESS, at, U256::ZERO)?;
    }
    put(call, LEDGER_ADDRESS, lslot("pn", user), U256::ZERO)?;
    put(call, LEDGER_ADDRESS, lslot("exists", user), U256::ZERO)?;
    set_balances(call, user, U256::ZERO, U256::ZERO)?;
    put_str(call, LEDGER_ADDRESS, lslot("info", user), "")
}

fn service_info() -> L::ServiceInfo {
    L::ServiceInfo {
        serviceAddress: SERVING_ADDRESS,
        serviceContract: SERVING_ADDRESS,
        serviceType: "inference".into(),
        version: "v1.0".into(),
        fullName: INFERENCE_SERVICE_NAME.into(),
        description: "AI inference serving (the bundled chain's module)".into(),
        isRecommended: true,
        registeredAt: U256::ZERO,
    }
}

fn require_service_name(name: &str) -> Result<(), Exit> {
    if name == INFERENCE_SERVICE_NAME {
        Ok(())
    } else {
        Err(Exit::error(L::ServiceNotFound {
            service: Address::ZERO,
        }))
    }
}

// ---------------------------------------------------------------- sub-accounts

fn account_exists<CTX: ContextTr>(
    call: &mut Call<'_, CTX>,
    user: &Address,
    provider: &Address,
) -> Result<bool, Exit> {
    Ok(!get(call, SERVING_ADDRESS, aslot("exists", user, provider))?.is_zero())
}

fn aget<CTX: ContextTr>(
    call: &mut Call<'_, CTX>,
    f: &str,
    user: &Address,
    provider: &Address,
) -> Result<U256, Exit> {
    get(call, SERVING_ADDRESS, aslot(f, user, provider))
}

fn aput<CTX: ContextTr>(
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
fn cancel_refunds<CTX: ContextTr>(
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

fn balance_updated<CTX: ContextTr>(
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

fn add_account<CTX: ContextTr>(
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

fn delete_account<CTX: ContextTr>(
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
fn request_refund_all<CTX: ContextTr>(
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
fn process_refund<CTX: ContextTr>(
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

fn account<CTX: ContextTr>(
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

// ---------------------------------------------------------------- services

fn service_exists<CTX: ContextTr>(call: &mut Call<'_, CTX>, p: &Address) -> Result<bool, Exit> {
    Ok(!get(call, SERVING_ADDRESS, sslot("idx", p))?.is_zero())
}

fn service<CTX: ContextTr>(call: &mut Call<'_, CTX>, p: &Address) -> Result<S::Service, Exit> {
    if !service_exists(call, p)? {
        return Err(Exit::error(S::ServiceNotExist { provider: *p }));
    }
    let at = SERVING_ADDRESS;
    Ok(S::Service {
        provider: *p,
        serviceType: get_str(call, at, sslot("type", p))?,
        url: get_str(call, at, sslot("url", p))?,
        inputPrice: get(call, at, sslot("in", p))?,
        outputPrice: get(call, at, sslot("out", p))?,
        updatedAt: get(call, at, sslot("updated", p))?,
        model: get_str(call, at, sslot("model", p))?,
        verifiability: get_str(call, at, sslot("verif", p))?,
        additionalInfo: get_str(call, at, sslot("info", p))?,
        teeSignerAddress: word_addr(get(call, at, sslot("signer", p))?),
        teeSignerAcknowledged: !get(call, at, sslot("ack", p))?.is_zero(),
    })
}

fn service_count<CTX: ContextTr>(call: &mut Call<'_, CTX>) -> Result<u64, Exit> {
    Ok(get(call, SERVING_ADDRESS, slot("svc.n", &[]))?.saturating_to())
}

fn service_at(i: u64) -> U256 {
    slot("svc.at", &[&i.to_be_bytes()])
}

fn add_or_update_service<CTX: ContextTr>(
    call: &mut Call<'_, CTX>,
    p: S::ServiceParams,
) -> Result<(), Exit> {
    call.require_mutable()?;
    let provider = call.caller;
    if p.additionalInfo.len() > MAX_ADDITIONAL_INFO {
        return Err(Exit::error(S::AdditionalInfoTooLong {}));
    }
    let at = SERVING_ADDRESS;
    let exists = service_exists(call, &provider)?;
    let mut keep_ack = false;
    if exists {
        if !call.value.is_zero() {
            return Err(Exit::error(S::CannotAddStakeWhenUpdating {}));
        }
        let old = service(call, &provider)?;
        keep_ack = old.teeSignerAcknowledged
            && old.serviceType == p.serviceType
            && old.model == p.model
            && old.verifiability == p.verifiability
            && old.teeSignerAddress == p.teeSignerAddress
            && old.additionalInfo == p.additionalInfo;
    } else {
        let min = call.genesis.compute.min_provider_stake;
        if call.value < min {
            return Err(Exit::error(S::InsufficientStake {
                provided: call.value,
                required: min,
            }));
        }
        let n = service_count(call)?;
        put(call, at, service_at(n), addr_word(&provider))?;
        put(call, at, sslot("idx", &provider), U256::from(n + 1))?;
        put(call, at, slot("svc.n", &[]), U256::from(n + 1))?;
        put(call, at, sslot("stake", &provider), call.value)?;
        let amount = call.value;
        emit(
            call,
            at,
            S::ProviderStaked { provider, amount }.encode_log_data(),
        )?;
    }
    let now = U256::from(call.timestamp());
    put_str(call, at, sslot("type", &provider), &p.serviceType)?;
    put_str(call, at, sslot("url", &provider), &p.url)?;
    put_str(call, at, sslot("model", &provider), &p.model)?;
    put_str(call, at, sslot("verif", &provider), &p.verifiability)?;
    put_str(call, at, sslot("info", &provider), &p.additionalInfo)?;
    put(call, at, sslot("in", &provider), p.inputPrice)?;
    put(call, at, sslot("out", &provider), p.outputPrice)?;
    put(call, at, sslot("updated", &provider), now)?;
    put(
        call,
        at,
        sslot("signer", &provider),
        addr_word(&p.teeSignerAddress),
    )?;
    put(call, at, sslot("ack", &provider), flag(keep_ack))?;
    emit(
        call,
        at,
        S::ServiceUpdated {
            service: provider,
            serviceType: p.serviceType,
            url: p.url,
            inputPrice: p.inputPrice,
            outputPrice: p.outputPrice,
            updatedAt: now,
            model: p.model,
            verifiability: p.verifiability,
        }
        .encode_log_data(),
    )
}

fn remove_service<CTX: ContextTr>(call: &mut Call<'_, CTX>) -> Result<(), Exit> {
    call.require_mutable()?;
    let provider = call.caller;
    let at = SERVING_ADDRESS;
    let idx = get(call, at, sslot("idx", &provider))?.saturating_to::<u64>();
    if idx == 0 {
        return Err(Exit::error(S::ServiceNotExist { provider }));
    }
    // Swap-remove from the list.
    let n = service_count(call)?;
    let last = word_addr(get(call, at, service_at(n - 1))?);
    put(call, at, service_at(idx - 1), addr_word(&last))?;
    put(call, at, sslot("idx", &last), U256::from(idx))?;
    put(call, at, service_at(n - 1), U256::ZERO)?;
    put(call, at, slot("svc.n", &[]), U256::from(n - 1))?;
    put(call, at, sslot("idx", &provider), U256::ZERO)?;
    let stake = get(call, at, sslot("stake", &provider))?;
    for f in ["stake", "in", "out", "updated", "signer", "ack"] {
        put(call, at, sslot(f, &provider), U256::ZERO)?;
    }
    for f in ["type", "url", "model", "verif", "info"] {
        put_str(call, at, sslot(f, &provider), "")?;
    }
    if !stake.is_zero() && !call.transfer(SERVING_ADDRESS, provider, stake)? {
        return Err(Exit::error(S::TransferFailed {}));
    }
    emit(
        call,
        at,
        S::ProviderStakeReturned {
            provider,
            amount: stake,
        }
        .encode_log_data(),
    )?;
    emit(
        call,
        at,
        S::ServiceRemoved { service: provider }.encode_log_data(),
    )
}

fn set_signer_ack<CTX: ContextTr>(
    call: &mut Call<'_, CTX>,
    provider: Address,
    acknowledged: bool,
) -> Result<(), Exit> {
    call.require_mutable()?;
    if call.caller != call.genesis.compute.owner {
        return Err(Exit::error(S::CallerNotOwner {
            caller: call.caller,
        }));
    }
    let svc = service(call, &provider)?;
    if acknowledged && svc.teeSignerAddress.is_zero() {
        return Err(Exit::error(S::InvalidAddress {
            addr: Address::ZERO,
        }));
    }
    put(
        call,
        SERVING_ADDRESS,
        sslot("ack", &provider),
        flag(acknowledged),
    )?;
    emit(
        call,
        SERVING_ADDRESS,
        S::ProviderTEESignerAcknowledged {
            provider,
            teeSignerAddress: svc.teeSignerAddress,
            acknowledged,
        }
        .encode_log_data(),
    )
}

// ---------------------------------------------------------------- settlement

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

// ---------------------------------------------------------------- dispatch

pub(super) fn dispatch_ledger<CTX: ContextTr>(
    call: &mut Call<'_, CTX>,
    input: &[u8],
) -> Result<Bytes, Exit> {
    use L::ILedgerManagerCalls as C;
    if input.is_empty() {
        return Err(Exit::error(L::DirectDepositsDisabled {}));
    }
    let Ok(decoded) = C::abi_decode(input) else {
        return Err(Exit::Revert(Bytes::new()));
    };
    let payable = matches!(
        decoded,
        C::addLedger(_) | C::depositFund(_) | C::depositFundFor(_)
    );
    if !call.value.is_zero() && !payable {
        return Err(Exit::Revert(Bytes::new()));
    }
    let user = call.caller;
    match decoded {
        C::MIN_ACCOUNT_BALANCE(_) => {
            ok::<L::MIN_ACCOUNT_BALANCECall>(&call.genesis.compute.min_account_balance)
        }
        C::MIN_TRANSFER_AMOUNT(_) => {
            ok::<L::MIN_TRANSFER_AMOUNTCall>(&call.genesis.compute.min_transfer_amount)
        }
        C::addLedger(c) => {
            call.require_mutable()?;
            if ledger_exists(call, &user)? {
                return Err(Exit::error(L::LedgerExists { user }));
            }
            let value = call.value;
            create_ledger(call, &user, value, &c.additionalInfo)?;
            ok::<L::addLedgerCall>(&L::addLedgerReturn {
                _0: value,
                _1: U256::ZERO,
            })
        }
        C::depositFund(_) => deposit_for(call, user).and_then(|()| done()),
        C::depositFundFor(c) => {
            if c.recipient.is_zero() {
                return Err(Exit::error(L::ZeroAddressNotAllowed {}));
            }
            deposit_for(call, c.recipient).and_then(|()| done())
        }
        C::updateAdditionalInfo(c) => {
            call.require_mutable()?;
            require_ledger(call, &user)?;
            check_info(&c.additionalInfo)?;
            put_str(
                call,
                LEDGER_ADDRESS,
                lslot("info", &user),
                &c.additionalInfo,
            )?;
            emit(
                call,
                LEDGER_ADDRESS,
                L::LedgerInfoUpdated {
                    user,
                    additionalInfo: c.additionalInfo,
                }
                .encode_log_data(),
            )?;
            done()
        }
        C::refund(c) => {
            call.require_mutable()?;
            require_ledger(call, &user)?;
            let (avail, total) = balances(call, &user)?;
            if avail < c.amount {
                return Err(Exit::error(L::InsufficientBalance { user }));
            }
            let rest = avail - c.amount;
            let min = call.genesis.compute.min_account_balance;
            if !rest.is_zero() && rest < min {
                return Err(Exit::error(L::MinimumDepositRequired {
                    provided: rest,
                    required: min,
                }));
            }
            let total = total - c.amount;
            set_balances(call, &user, rest, total)?;
            if total.is_zero() {
                delete_ledger(call, &user)?;
            }
            if !c.amount.is_zero() && !call.transfer(LEDGER_ADDRESS, user, c.amount)? {
                return Err(Exit::error(L::TransferFailed {}));
            }
            done()
        }
        C::transferFund(c) => {
            call.require_mutable()?;
            require_service_name(&c.serviceName)?;
            require_ledger(call, &user)?;
            let provider = c.provider;
            let payload_cancel;
            let fresh;
            if account_exists(call, &user, &provider)? {
                let pending = aget(call, "pend", &user, &provider)?;
                payload_cancel = c.amount.min(pending);
                fresh = false;
            } else {
                let min = call.genesis.compute.min_transfer_amount;
                if c.amount < min {
                    return Err(Exit::error(L::MinimumDepositRequired {
                        provided: c.amount,
                        required: min,
                    }));
                }
                payload_cancel = U256::ZERO;
                fresh = true;
            }
            let amount = c.amount - payload_cancel;
            let (avail, total) = balances(call, &user)?;
            if avail < amount {
                return Err(Exit::error(L::InsufficientAvailableBalance {
                    available: avail,
                    required: amount,
                }));
            }
            if fresh {
                let info = get_str(call, LEDGER_ADDRESS, lslot("info", &user))?;
                add_account(call, &user, &provider, &info, amount)?;
                add_provider(call, &user, &provider)?;
            } else {
                cancel_refunds(call, &user, &provider, payload_cancel)?;
                let bal = aget(call, "bal", &user, &provider)?;
                aput(call, "bal", &user, &provider, bal + amount)?;
                aput(call, "ack", &user, &provider, U256::from(1))?;
                balance_updated(call, &user, &provider)?;
            }
            set_balances(call, &user, avail - amount, total)?;
            if !amount.is_zero() && !call.transfer(LEDGER_ADDRESS, SERVING_ADDRESS, amount)? {
                return Err(Exit::Fatal("ledger module short of funds".into()));
            }
            done()
        }
        C::retrieveFund(c) => {
            call.require_mutable()?;
            require_service_name(&c.serviceName)?;
            require_ledger(call, &user)?;
            if c.providers.len() > MAX_PROVIDERS_PER_BATCH {
                return Err(Exit::error(L::TooManyProviders {
                    count: U256::from(c.providers.len()),
                    max: U256::from(MAX_PROVIDERS_PER_BATCH),
                }));
            }
            let mut released = U256::ZERO;
            for p in &c.providers {
                if !account_exists(call, &user, p)? {
                    continue;
                }
                released += process_refund(call, &user, p)?;
                request_refund_all(call, &user, p)?;
            }
            let (avail, total) = balances(call, &user)?;
            set_balances(call, &user, avail + released, total)?;
            done()
        }
        C::deleteLedger(_) => {
            call.require_mutable()?;
            require_ledger(call, &user)?;
            let (_, total) = balances(call, &user)?;
            if !total.is_zero() {
                return Err(Exit::error(L::MustWithdrawAllFundsFirst {
                    totalBalance: total,
                }));
            }
            delete_ledger(call, &user)?;
            done()
        }
        C::getLedger(c) => {
            require_ledger(call, &c.user)?;
            let (avail, total) = balances(call, &c.user)?;
            let info = get_str(call, LEDGER_ADDRESS, lslot("info", &c.user))?;
            ok::<L::getLedgerCall>(&L::Ledger {
                user: c.user,
                availableBalance: avail,
                totalBalance: total,
                additionalInfo: info,
            })
        }
        C::getLedgerProviders(c) => {
            let list = if c.serviceName == INFERENCE_SERVICE_NAME {
                providers(call, &c.user)?
            } else {
                Vec::new()
            };
            ok::<L::getLedgerProvidersCall>(&list)
        }
        C::getServiceInfo(c) => {
            if c.serviceAddress != SERVING_ADDRESS {
                return Err(Exit::error(L::ServiceNotFound {
                    service: c.serviceAddress,
                }));
            }
            ok::<L::getServiceInfoCall>(&service_info())
        }
        C::getServiceAddressByName(c) => {
            let a = if c.serviceName == INFERENCE_SERVICE_NAME {
                SERVING_ADDRESS
            } else {
                Address::ZERO
            };
            ok::<L::getServiceAddressByNameCall>(&a)
        }
        C::getAllActiveServices(_) => ok::<L::getAllActiveServicesCall>(&vec![service_info()]),
    }
}

pub(super) fn dispatch_serving<CTX: ContextTr>(
    call: &mut Call<'_, CTX>,
    input: &[u8],
) -> Result<Bytes, Exit> {
    use S::IInferenceServingCalls as C;
    if input.is_empty() {
        return Err(Exit::error(S::DirectDepositsDisabled {}));
    }
    let Ok(decoded) = C::abi_decode(input) else {
        return Err(Exit::Revert(Bytes::new()));
    };
    if !call.value.is_zero() && !matches!(decoded, C::addOrUpdateService(_)) {
        return Err(Exit::Revert(Bytes::new()));
    }
    let me = call.caller;
    match decoded {
        C::lockTime(_) => ok::<S::lockTimeCall>(&U256::from(call.genesis.compute.lock_time)),
        C::ledgerAddress(_) => ok::<S::ledgerAddressCall>(&LEDGER_ADDRESS),
        C::owner(_) => ok::<S::ownerCall>(&call.genesis.compute.owner),
        C::addOrUpdateService(c) => add_or_update_service(call, c.params).and_then(|()| done()),
        C::removeService(_) => remove_service(call).and_then(|()| done()),
        C::getService(c) => {
            let s = service(call, &c.provider)?;
            ok::<S::getServiceCall>(&s)
        }
        C::getAllServices(c) => {
            let limit = if c.limit.is_zero() {
                PAGE
            } else {
                c.limit.saturating_to()
            };
            if limit > PAGE {
                return Err(Exit::error(S::LimitTooLarge {
                    limit: c.limit,
                    max: U256::from(PAGE),
                }));
            }
            let total = service_count(call)?;
            let from = c.offset.saturating_to::<u64>().min(total);
            let to = from.saturating_add(limit).min(total);
            let mut services = Vec::new();
            for i in from..to {
                let p = word_addr(get(call, SERVING_ADDRESS, service_at(i))?);
                services.push(service(call, &p)?);
            }
            ok::<S::getAllServicesCall>(&S::getAllServicesReturn {
                services,
                total: U256::from(total),
            })
        }
        C::serviceExists(c) => {
            let e = service_exists(call, &c.provider)?;
            ok::<S::serviceExistsCall>(&e)
        }
        C::acknowledgeTEESignerByOwner(c) => {
            set_signer_ack(call, c.provider, true).and_then(|()| done())
        }
        C::revokeTEESignerAcknowledgement(c) => {
            set_signer_ack(call, c.provider, false).and_then(|()| done())
        }
        C::acknowledgeTEESigner(c) => {
            call.require_mutable()?;
            let a = account(call, &me, &c.provider)?;
            if !c.acknowledged && !a.balance.is_zero() {
                return Err(Exit::error(S::CannotRevokeWithNonZeroBalance {
                    user: me,
                    provider: c.provider,
                    balance: a.balance,
                }));
            }
            aput(call, "ack", &me, &c.provider, flag(c.acknowledged))?;
            done()
        }
        C::getAccount(c) => {
            let a = account(call, &c.user, &c.provider)?;
            ok::<S::getAccountCall>(&a)
        }
        C::accountExists(c) => {
            let e = account_exists(call, &c.user, &c.provider)?;
            ok::<S::accountExistsCall>(&e)
        }
        C::getPendingRefund(c) => {
            let p = aget(call, "pend", &c.user, &c.provider)?;
            ok::<S::getPendingRefundCall>(&p)
        }
        C::revokeToken(c) => revoke(call, c.provider, &[c.tokenId]),
        C::revokeTokens(c) => revoke(call, c.provider, &c.tokenIds),
        C::revokeAllTokens(c) => {
            call.require_mutable()?;
            account(call, &me, &c.provider)?;
            let generation = aget(call, "gen", &me, &c.provider)? + U256::from(1);
            aput(call, "gen", &me, &c.provider, generation)?;
            aput(call, "bitmap", &me, &c.provider, U256::ZERO)?;
            emit(
                call,
                SERVING_ADDRESS,
                S::AllTokensRevoked {
                    user: me,
                    provider: c.provider,
                    newGeneration: generation,
                }
                .encode_log_data(),
            )?;
            done()
        }
        C::isTokenRevoked(c) => {
            let bits = aget(call, "bitmap", &c.user, &c.provider)?;
            ok::<S::isTokenRevokedCall>(&bits.bit(c.tokenId as usize))
        }
        C::settleFeesWithTEE(c) => {
            call.require_mutable()?;
            check_batch(c.settlements.len())?;
            let mut statuses = Vec::with_capacity(c.settlements.len());
            let mut paid = U256::ZERO;
            for s in &c.settlements {
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
            if !paid.is_zero() && !call.transfer(SERVING_ADDRESS, me, paid)? {
                return Err(Exit::error(S::TransferFailed {}));
            }
            ok::<S::settleFeesWithTEECall>(&statuses)
        }
        C::previewSettlementResults(c) => {
            check_batch(c.settlements.len())?;
            let mut out = S::previewSettlementResultsReturn {
                failedUsers: Vec::new(),
                failureReasons: Vec::new(),
                partialUsers: Vec::new(),
                partialAmounts: Vec::new(),
            };
            for s in &c.settlements {
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
    }
}

fn revoke<CTX: ContextTr>(
    call: &mut Call<'_, CTX>,
    provider: Address,
    ids: &[u8],
) -> Result<Bytes, Exit> {
    call.require_mutable()?;
    let user = call.caller;
    account(call, &user, &provider)?;
    let mut bits = aget(call, "bitmap", &user, &provider)?;
    for &id in ids {
        bits.set_bit(id as usize, true);
    }
    aput(call, "bitmap", &user, &provider, bits)?;
    let log = if let [id] = ids {
        S::TokenRevoked {
            user,
            provider,
            tokenId: *id,
        }
        .encode_log_data()
    } else {
        S::TokensRevoked {
            user,
            provider,
            tokenIds: ids.to_vec(),
        }
        .encode_log_data()
    };
    emit(call, SERVING_ADDRESS, log)?;
    done()
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
