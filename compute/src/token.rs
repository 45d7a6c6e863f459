//! 0G's session tokens: `Authorization: Bearer app-sk-<base64(rawJSON "|" 0xSignature)>`,
//! where the signature is `personal_sign(keccak256(rawJSON))` by the user's key and the
//! JSON names the user, the provider, an expiry and the account's token generation.
//!
//! A token is a bearer credential reused for many requests until it expires (the
//! OpenAI client sends the same API key every time). What stops its replay elsewhere:
//! it names one provider, it expires (ephemeral tokens within 24 h), and the user can
//! revoke it on chain (one persistent token by id, or all by bumping the generation).

use alloy::signers::SignerSync;
use alloy::signers::local::PrivateKeySigner;
use alloy_primitives::{Address, Signature, keccak256};
use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::error::BrokerError;

/// `tokenId` of an ephemeral (non-revocable by id, at most 24 h) token.
pub const EPHEMERAL_TOKEN_ID: u8 = 255;
/// Longest life of an ephemeral token, ms.
pub const MAX_EPHEMERAL_MS: u64 = 24 * 3600 * 1000;
/// How far in the future a token's `timestamp` may lie (clock skew), ms.
pub const MAX_CLOCK_SKEW_MS: u64 = 5 * 60 * 1000;
const PREFIX: &str = "app-sk-";

/// The signed JSON, field names as 0G's SDK writes them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionToken {
    /// The user (the signer).
    pub address: Address,
    /// The provider the token is for.
    pub provider: Address,
    /// Issue time, ms since the epoch.
    pub timestamp: u64,
    /// Expiry, ms since the epoch (0: never, persistent tokens only).
    pub expires_at: u64,
    /// Makes each token unique.
    pub nonce: String,
    /// The account's token generation when issued (`revokeAllTokens` bumps it).
    pub generation: u64,
    /// 0–254: a persistent API key revocable by id; 255: ephemeral.
    pub token_id: u8,
}

/// A parsed, signature-checked token.
#[derive(Clone, Debug)]
pub struct VerifiedToken {
    /// Its fields.
    pub token: SessionToken,
    /// The exact signed JSON.
    pub raw: String,
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl SessionToken {
    /// An ephemeral token for `provider`, valid for `ttl_ms` from now.
    pub fn ephemeral(user: Address, provider: Address, generation: u64, ttl_ms: u64) -> Self {
        let now = now_ms();
        Self {
            address: user,
            provider,
            timestamp: now,
            expires_at: now + ttl_ms,
            nonce: hex::encode(keccak256(format!("{user}{now}{}", std::process::id())).0)[..32]
                .to_string(),
            generation,
            token_id: EPHEMERAL_TOKEN_ID,
        }
    }

    /// The API key (`app-sk-…`) for this token, signed by `key` (the client side, as
    /// 0G's SDK does it).
    pub fn api_key(&self, key: &PrivateKeySigner) -> String {
        let raw = serde_json::to_string(self).expect("token JSON");
        sign_raw(&raw, key)
    }
}

/// Signs an exact JSON text as a session token's API key.
pub fn sign_raw(raw: &str, key: &PrivateKeySigner) -> String {
    let sig = key
        .sign_message_sync(keccak256(raw.as_bytes()).as_slice())
        .expect("secp256k1 signing");
    let body = format!("{raw}|0x{}", hex::encode(sig.as_bytes()));
    format!(
        "{PREFIX}{}",
        base64::engine::general_purpose::STANDARD.encode(body)
    )
}

fn bad(msg: impl Into<String>) -> BrokerError {
    BrokerError::Unauthorized(msg.into())
}

/// Parses an `Authorization` header value and checks the token's signature, provider
/// binding and expiry (not its on-chain revocation: see [`check_revocation`]).
pub fn verify(header: Option<&str>, provider: Address) -> Result<VerifiedToken, BrokerError> {
    let header = header.ok_or_else(|| bad("missing Authorization header"))?;
    let key = header
        .strip_prefix("Bearer ")
        .ok_or_else(|| bad("Authorization is not a Bearer token"))?
        .trim();
    let b64 = key
        .strip_prefix(PREFIX)
        .ok_or_else(|| bad("API key is not an app-sk- session token"))?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map_err(|_| bad("session token is not valid base64"))?;
    let decoded = String::from_utf8(decoded).map_err(|_| bad("session token is not UTF-8"))?;
    let (raw, sig) = decoded
        .rsplit_once('|')
        .ok_or_else(|| bad("session token has no signature"))?;
    let token: SessionToken =
        serde_json::from_str(raw).map_err(|e| bad(format!("session token JSON: {e}")))?;
    if token.provider != provider {
        return Err(bad(format!(
            "session token is for provider {}, this is {provider}",
            token.provider
        )));
    }
    let now = now_ms();
    if token.token_id == EPHEMERAL_TOKEN_ID
        && (token.expires_at == 0
            || token.expires_at.saturating_sub(token.timestamp) > MAX_EPHEMERAL_MS)
    {
        return Err(bad("ephemeral session token must expire within 24 h"));
    }
    if token.expires_at != 0 && now > token.expires_at {
        return Err(bad("session token expired"));
    }
    if token.timestamp > now + MAX_CLOCK_SKEW_MS {
        return Err(bad("session token issued in the future"));
    }
    let sig_bytes = sig
        .strip_prefix("0x")
        .and_then(|h| hex::decode(h).ok())
        .filter(|b| b.len() == 65)
        .ok_or_else(|| bad("session signature must be 0x-prefixed 65-byte hex"))?;
    let sig = Signature::from_raw(&sig_bytes).map_err(|_| bad("malformed session signature"))?;
    let signer = sig
        .recover_address_from_msg(keccak256(raw.as_bytes()).as_slice())
        .map_err(|_| bad("session signature does not recover"))?;
    if signer != token.address {
        return Err(bad("session signature is not the token's address"));
    }
    Ok(VerifiedToken {
        token,
        raw: raw.to_string(),
    })
}

/// Checks a token against the account's on-chain `generation` and `revokedBitmap`.
pub fn check_revocation(
    token: &SessionToken,
    generation: u64,
    revoked_bitmap: alloy_primitives::U256,
) -> Result<(), BrokerError> {
    if token.generation < generation {
        return Err(bad("session token has been revoked (generation expired)"));
    }
    if token.generation > generation {
        return Err(bad("invalid session token (future generation)"));
    }
    if token.token_id != EPHEMERAL_TOKEN_ID && revoked_bitmap.bit(token.token_id as usize) {
        return Err(bad("session token has been revoked"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bearer(key: &str) -> String {
        format!("Bearer {key}")
    }

    #[test]
    fn round_trip_and_refusals() {
        let user = PrivateKeySigner::random();
        let provider = Address::repeat_byte(7);
        let t = SessionToken::ephemeral(user.address(), provider, 0, 60_000);
        let key = t.api_key(&user);
        let v = verify(Some(&bearer(&key)), provider).unwrap();
        assert_eq!(v.token, t);

        // another provider, no header, not app-sk, garbage
        assert!(verify(Some(&bearer(&key)), Address::repeat_byte(8)).is_err());
        assert!(verify(None, provider).is_err());
        assert!(verify(Some("Bearer sk-123"), provider).is_err());
        assert!(verify(Some("Bearer app-sk-!!!"), provider).is_err());

        // signed by someone else
        let mallory = PrivateKeySigner::random();
        assert!(verify(Some(&bearer(&t.api_key(&mallory))), provider).is_err());

        // a tampered body no longer matches its signature
        let raw = serde_json::to_string(&t).unwrap();
        let signed = sign_raw(&raw, &user);
        let body = String::from_utf8(
            base64::engine::general_purpose::STANDARD
                .decode(signed.strip_prefix(PREFIX).unwrap())
                .unwrap(),
        )
        .unwrap();
        let tampered = body.replace("\"generation\":0", "\"generation\":1");
        let forged = format!(
            "{PREFIX}{}",
            base64::engine::general_purpose::STANDARD.encode(tampered)
        );
        assert!(verify(Some(&bearer(&forged)), provider).is_err());

        // expired; too long for an ephemeral token; from the future
        let mut old = t.clone();
        old.timestamp -= 120_000;
        old.expires_at = old.timestamp + 1_000;
        assert!(verify(Some(&bearer(&old.api_key(&user))), provider).is_err());
        let mut long = t.clone();
        long.expires_at = long.timestamp + MAX_EPHEMERAL_MS + 1;
        assert!(verify(Some(&bearer(&long.api_key(&user))), provider).is_err());
        let mut future = t.clone();
        future.timestamp += MAX_CLOCK_SKEW_MS + 60_000;
        future.expires_at = future.timestamp + 1_000;
        assert!(verify(Some(&bearer(&future.api_key(&user))), provider).is_err());

        // revocation
        assert!(check_revocation(&t, 0, Default::default()).is_ok());
        assert!(check_revocation(&t, 1, Default::default()).is_err());
        let mut persistent = t.clone();
        persistent.token_id = 3;
        let mut bits = alloy_primitives::U256::ZERO;
        bits.set_bit(3, true);
        assert!(check_revocation(&persistent, 0, bits).is_err());
        assert!(check_revocation(&t, 0, bits).is_ok());
    }

    mod fuzz {
        use proptest::prelude::*;

        use super::super::*;

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(256))]

            /// Any header text: a typed refusal or a token, never a panic.
            #[test]
            fn headers_never_panic(s in "(Bearer )?(app-sk-)?[A-Za-z0-9+/=|{}\":,]{0,400}") {
                let _ = verify(Some(&s), Address::repeat_byte(7));
            }

            /// A valid key with bytes flipped in its base64 body or its decoded JSON:
            /// refused (the signature no longer matches) or, at most, the same token.
            #[test]
            fn mutated_keys_are_refused(
                flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
                in_json in any::<bool>(),
            ) {
                let user = PrivateKeySigner::from_bytes(&alloy_primitives::B256::repeat_byte(3)).unwrap();
                let provider = Address::repeat_byte(7);
                let t = SessionToken::ephemeral(user.address(), provider, 0, 60_000);
                let key = t.api_key(&user);
                let mutated = if in_json {
                    let body = base64::engine::general_purpose::STANDARD
                        .decode(key.strip_prefix(PREFIX).unwrap())
                        .unwrap();
                    let mut body = body;
                    for (i, v) in &flips {
                        let i = i.index(body.len());
                        body[i] ^= v;
                    }
                    format!("{PREFIX}{}", base64::engine::general_purpose::STANDARD.encode(body))
                } else {
                    let mut b = key.into_bytes();
                    for (i, v) in &flips {
                        let i = PREFIX.len() + i.index(b.len() - PREFIX.len());
                        b[i] ^= v;
                    }
                    String::from_utf8_lossy(&b).into_owned()
                };
                if let Ok(v) = verify(Some(&format!("Bearer {mutated}")), provider) {
                    prop_assert_eq!(v.token, t);
                }
            }
        }
    }
}
