//! Provider services of the serving module: registration (with a stake), update,
//! removal and the owner's acknowledgement of a provider's TEE signer.

use alloy_primitives::{Address, U256};
use alloy_sol_types::SolEvent;
use revm::context::ContextTr;
use zg_primitives::abi::{IInferenceServing as S, SERVING_ADDRESS};

use super::{MAX_ADDITIONAL_INFO, emit, flag, get, get_str, put, put_str, sslot};
use crate::modules::{Call, Exit, addr_word, slot, word_addr};

pub(super) fn service_exists<CTX: ContextTr>(
    call: &mut Call<'_, CTX>,
    p: &Address,
) -> Result<bool, Exit> {
    Ok(!get(call, SERVING_ADDRESS, sslot("idx", p))?.is_zero())
}

pub(super) fn service<CTX: ContextTr>(
    call: &mut Call<'_, CTX>,
    p: &Address,
) -> Result<S::Service, Exit> {
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

pub(super) fn service_count<CTX: ContextTr>(call: &mut Call<'_, CTX>) -> Result<u64, Exit> {
    Ok(get(call, SERVING_ADDRESS, slot("svc.n", &[]))?.saturating_to())
}

pub(super) fn service_at(i: u64) -> U256 {
    slot("svc.at", &[&i.to_be_bytes()])
}

pub(super) fn add_or_update_service<CTX: ContextTr>(
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

pub(super) fn remove_service<CTX: ContextTr>(call: &mut Call<'_, CTX>) -> Result<(), Exit> {
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

pub(super) fn set_signer_ack<CTX: ContextTr>(
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
