//! The `0x…1005` ledger module (`LedgerManager`): a user's ledger (deposit, `available`
//! and `total`), its providers and the move of funds into and out of sub-accounts.

use alloy_primitives::{Address, Bytes, U256};
use alloy_sol_types::SolEvent;
use revm::context::ContextTr;
use zg_primitives::abi::{
    ILedgerManager as L, INFERENCE_SERVICE_NAME, LEDGER_ADDRESS, SERVING_ADDRESS,
};

use super::accounts::{
    account_exists, add_account, aget, aput, balance_updated, cancel_refunds, delete_account,
    process_refund, request_refund_all,
};
use super::{MAX_ADDITIONAL_INFO, done, emit, get, get_str, lslot, ok, put, put_str};
use crate::modules::{Call, Exit, addr_word, decode_call, slot, word_addr};

const MAX_PROVIDERS_PER_SERVICE: u64 = 50;
const MAX_PROVIDERS_PER_BATCH: usize = 20;

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

pub(super) fn balances<CTX: ContextTr>(
    call: &mut Call<'_, CTX>,
    user: &Address,
) -> Result<(U256, U256), Exit> {
    Ok((
        get(call, LEDGER_ADDRESS, lslot("avail", user))?,
        get(call, LEDGER_ADDRESS, lslot("total", user))?,
    ))
}

pub(super) fn set_balances<CTX: ContextTr>(
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

pub(crate) fn dispatch_ledger<CTX: ContextTr>(
    call: &mut Call<'_, CTX>,
    input: &[u8],
) -> Result<Bytes, Exit> {
    use L::ILedgerManagerCalls as C;
    if input.is_empty() {
        return Err(Exit::error(L::DirectDepositsDisabled {}));
    }
    let decoded = decode_call(call, input, |c| {
        matches!(
            c,
            C::addLedger(_) | C::depositFund(_) | C::depositFundFor(_)
        )
    })?;
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
