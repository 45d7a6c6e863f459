//! The `0x…1006` inference serving module (`InferenceServing`): its dispatch over
//! services, sub-accounts, session-token revocation and settlement.

use alloy_primitives::{Address, Bytes, U256};
use alloy_sol_types::SolEvent;
use revm::context::ContextTr;
use zg_primitives::abi::{IInferenceServing as S, LEDGER_ADDRESS, SERVING_ADDRESS};

use super::accounts::{account, account_exists, aget, aput};
use super::services::{
    add_or_update_service, remove_service, service, service_at, service_count, service_exists,
    set_signer_ack,
};
use super::settlement::{preview, settle_fees};
use super::{done, emit, flag, get, ok};
use crate::modules::{Call, Exit, decode_call, word_addr};

const PAGE: u64 = 50;

pub(crate) fn dispatch_serving<CTX: ContextTr>(
    call: &mut Call<'_, CTX>,
    input: &[u8],
) -> Result<Bytes, Exit> {
    use S::IInferenceServingCalls as C;
    if input.is_empty() {
        return Err(Exit::error(S::DirectDepositsDisabled {}));
    }
    let decoded = decode_call(call, input, |c| matches!(c, C::addOrUpdateService(_)))?;
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
        C::settleFeesWithTEE(c) => settle_fees(call, &c.settlements),
        C::previewSettlementResults(c) => preview(call, &c.settlements),
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
