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
//!
//! Layout: `ledger` (the `0x…1005` module), `accounts` (sub-accounts and their
//! refunds), `services` (provider registrations), `settlement` (TEE-signed fee
//! settlement) and `serving` (the `0x…1006` module's dispatch).

mod accounts;
mod ledger;
mod services;
mod serving;
mod settlement;

use alloy_primitives::{Address, Bytes, LogData, U256};
use alloy_sol_types::SolCall;
use revm::context::ContextTr;

use super::{Call, Exit, slot};

pub(super) use ledger::dispatch_ledger;
pub(super) use serving::dispatch_serving;

/// Longest `additionalInfo` of a ledger or a service.
const MAX_ADDITIONAL_INFO: usize = 4096;

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
