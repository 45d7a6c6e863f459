//! Admission of a proxied request: the session token, the user's on-chain sub-account
//! and balance, the service's TEE signer, and a cap on a user's requests in progress.

use std::sync::Arc;
use std::time::{Duration, Instant};

use alloy_primitives::{Address, U256};
use axum::http::{HeaderMap, header};
use zg_primitives::abi::IInferenceServing as S;

use super::Inner;
use crate::error::BrokerError;
use crate::token::{check_revocation, verify};

/// One of a user's concurrent request slots, released on drop.
pub(super) struct UserSlot {
    inner: Arc<Inner>,
    user: Address,
}

impl UserSlot {
    pub(super) fn take(inner: &Arc<Inner>, user: Address) -> Result<Self, BrokerError> {
        let mut busy = inner.busy.lock();
        let n = busy.entry(user).or_default();
        if *n >= inner.config.max_user_concurrency {
            return Err(BrokerError::TooMany(format!(
                "{} requests of this user are in progress; wait for one to finish",
                *n
            )));
        }
        *n += 1;
        Ok(Self {
            inner: inner.clone(),
            user,
        })
    }
}

impl Drop for UserSlot {
    fn drop(&mut self) {
        let mut busy = self.inner.busy.lock();
        if let Some(n) = busy.get_mut(&self.user) {
            *n -= 1;
            if *n == 0 {
                busy.remove(&self.user);
            }
        }
    }
}

pub(super) fn auth_header(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
}

/// The service as registered on chain, cached for 2 s (`fresh` forces a read).
pub(super) async fn current_service(inner: &Inner, fresh: bool) -> Result<S::Service, BrokerError> {
    if !fresh
        && let Some((s, at)) = inner.service.lock().clone()
        && at.elapsed() < Duration::from_secs(2)
    {
        return Ok(s);
    }
    let s = inner.chain.service().await?.ok_or_else(|| {
        BrokerError::Unavailable("this provider's service is not registered on chain".into())
    })?;
    *inner.service.lock() = Some((s.clone(), Instant::now()));
    Ok(s)
}

fn ether(wei: U256) -> String {
    let e = U256::from(10u64).pow(U256::from(18));
    let frac = (wei % e).to_string();
    format!("{}.{:0>18}", wei / e, frac)
        .trim_end_matches('0')
        .trim_end_matches('.')
        .to_string()
}

/// Admits a billed request: a valid session token whose user has a sub-account with
/// this provider that acknowledged its TEE signer and keeps enough free beyond its
/// unsettled fees, for a service whose TEE signer is acknowledged on chain. Returns the
/// user and the service.
pub(super) async fn admit(
    inner: &Inner,
    headers: &HeaderMap,
) -> Result<(Address, S::Service), BrokerError> {
    let provider = inner.chain.address;
    let token = verify(auth_header(headers), provider)?;
    let user = token.token.address;
    let account = inner.chain.account(user).await?.ok_or_else(|| {
        BrokerError::Payment(format!(
            "user {user} has no sub-account with provider {provider}: create one with the \
             ledger's transferFund(provider, \"inference-v1.0\", amount)"
        ))
    })?;
    check_revocation(
        &token.token,
        account.generation.saturating_to(),
        account.revokedBitmap,
    )?;
    if !account.acknowledged {
        return Err(BrokerError::InvalidInput(
            "user has not acknowledged the provider's TEE signer (acknowledgeTEESigner)".into(),
        ));
    }
    let mut service = current_service(inner, false).await?;
    if !service.teeSignerAcknowledged {
        // Acknowledgement may have just landed: look again before refusing.
        service = current_service(inner, true).await?;
    }
    if !service.teeSignerAcknowledged {
        return Err(BrokerError::Unavailable(
            "the service's TEE signer is not acknowledged on chain yet".into(),
        ));
    }
    let locked = account.balance.saturating_sub(account.pendingRefund);
    let unsettled = inner.store.unsettled(&user)?;
    let need = unsettled.saturating_add(inner.config.min_locked_balance);
    if locked < need {
        return Err(BrokerError::Payment(format!(
            "insufficient balance: your locked balance is {} 0G, but the required minimum is \
             {} 0G (minimum reserve {} 0G + unsettled fees {} 0G); add funds with the \
             ledger's transferFund to provider {provider}",
            ether(locked),
            ether(need),
            ether(inner.config.min_locked_balance),
            ether(unsettled),
        )));
    }
    Ok((user, service))
}
