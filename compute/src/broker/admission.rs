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

/// How long "this user has no sub-account" is believed without asking the chain
/// (short: a user who just funded one must not wait long).
const ABSENT_TTL: Duration = Duration::from_secs(2);
/// Users remembered per map at most (oldest forgotten first).
const GATE_CAPACITY: usize = 10_000;
/// Chain lookups per second for users not seen with a sub-account (and the burst).
const NEW_USER_LOOKUPS_PER_SEC: f64 = 20.0;
const NEW_USER_BURST: f64 = 50.0;

/// Keeps session tokens signed by random keys from costing a chain call each: users
/// known to have no sub-account are refused from memory for [`ABSENT_TTL`], and lookups
/// of users never seen with one share a small rate (429 beyond it). Users with a
/// sub-account are looked up on every request (their balance must be current).
#[derive(Debug)]
pub(super) struct AccountGate {
    known: parking_lot::Mutex<std::collections::HashMap<Address, Instant>>,
    absent: parking_lot::Mutex<std::collections::HashMap<Address, Instant>>,
    bucket: parking_lot::Mutex<(f64, Instant)>,
}

impl Default for AccountGate {
    fn default() -> Self {
        Self {
            known: Default::default(),
            absent: Default::default(),
            bucket: parking_lot::Mutex::new((NEW_USER_BURST, Instant::now())),
        }
    }
}

/// What the gate says before a lookup.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Gate {
    /// Ask the chain.
    Lookup,
    /// Known to have no sub-account (recently): refuse without a lookup.
    Absent,
    /// An unknown user over the new-user lookup rate: 429.
    Busy,
}

impl AccountGate {
    pub(super) fn check(&self, user: Address, now: Instant) -> Gate {
        if let Some(at) = self.absent.lock().get(&user)
            && now.saturating_duration_since(*at) < ABSENT_TTL
        {
            return Gate::Absent;
        }
        if self.known.lock().contains_key(&user) {
            return Gate::Lookup;
        }
        let mut b = self.bucket.lock();
        let refill = now.saturating_duration_since(b.1).as_secs_f64() * NEW_USER_LOOKUPS_PER_SEC;
        *b = ((b.0 + refill).min(NEW_USER_BURST), now);
        if b.0 >= 1.0 {
            b.0 -= 1.0;
            Gate::Lookup
        } else {
            Gate::Busy
        }
    }

    pub(super) fn record(&self, user: Address, exists: bool, now: Instant) {
        let (add, drop) = if exists {
            (&self.known, &self.absent)
        } else {
            (&self.absent, &self.known)
        };
        drop.lock().remove(&user);
        let mut m = add.lock();
        if m.len() >= GATE_CAPACITY {
            // Forget the older half.
            let mut ages: Vec<Instant> = m.values().copied().collect();
            ages.sort_unstable();
            let cut = ages[ages.len() / 2];
            m.retain(|_, at| *at > cut);
        }
        m.insert(user, now);
    }
}

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
    let no_account = || {
        BrokerError::Payment(format!(
            "user {user} has no sub-account with provider {provider}: create one with the \
             ledger's transferFund(provider, \"inference-v1.0\", amount)"
        ))
    };
    match inner.accounts.check(user, Instant::now()) {
        Gate::Lookup => {}
        Gate::Absent => return Err(no_account()),
        Gate::Busy => {
            return Err(BrokerError::TooMany(
                "too many requests from new users right now; retry shortly".into(),
            ));
        }
    }
    let account = inner.chain.account(user).await?;
    inner
        .accounts
        .record(user, account.is_some(), Instant::now());
    let account = account.ok_or_else(no_account)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_users_cost_a_bounded_number_of_lookups() {
        let gate = AccountGate::default();
        let now = Instant::now();
        // A burst of random keys: 50 lookups, then 429s without a chain call.
        let looked: usize = (0..1000u32)
            .map(|i| {
                let user = Address::left_padding_from(&i.to_be_bytes());
                gate.check(user, now) == Gate::Lookup
            })
            .filter(|x| *x)
            .count();
        assert_eq!(looked, NEW_USER_BURST as usize);
        // A second later, 20 more.
        let later = now + Duration::from_secs(1);
        let looked = (1000..2000u32)
            .filter(|i| {
                gate.check(Address::left_padding_from(&i.to_be_bytes()), later) == Gate::Lookup
            })
            .count();
        assert_eq!(looked, NEW_USER_LOOKUPS_PER_SEC as usize);
    }

    #[test]
    fn absent_users_are_refused_from_memory_and_known_ones_always_pass() {
        let gate = AccountGate::default();
        let now = Instant::now();
        let (nobody, user) = (Address::repeat_byte(1), Address::repeat_byte(2));
        gate.record(nobody, false, now);
        gate.record(user, true, now);
        assert_eq!(gate.check(nobody, now), Gate::Absent);
        assert_eq!(gate.check(nobody, now + ABSENT_TTL), Gate::Lookup);
        // Known users are not rate-limited with the new ones.
        *gate.bucket.lock() = (0.0, now);
        assert_eq!(gate.check(user, now), Gate::Lookup);
        assert_eq!(gate.check(Address::repeat_byte(3), now), Gate::Busy);
        // A user who funds an account is known from then on.
        gate.record(nobody, true, now);
        assert_eq!(gate.check(nobody, now), Gate::Lookup);
    }

    #[test]
    fn the_gate_stays_bounded() {
        let gate = AccountGate::default();
        let now = Instant::now();
        for i in 0..(GATE_CAPACITY as u32 * 3) {
            let at = now + Duration::from_millis(u64::from(i));
            gate.record(Address::left_padding_from(&i.to_be_bytes()), false, at);
        }
        assert!(gate.absent.lock().len() <= GATE_CAPACITY);
    }
}
