//! API access control. The disperser spends its own deposit, so its API is private:
//! it binds to loopback by default, and once tokens are configured every request needs
//! `Authorization: Bearer <token>`. Each client has a request rate limit (token bucket)
//! and an hourly byte quota; both answer 429 with a message when exceeded. Without
//! tokens, each client address is its own client (one local process flooding the API
//! does not use up the rollup's share), and at most 10 000 are tracked.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use parking_lot::Mutex;

/// A client allowed to use the API.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientToken {
    /// Name used in logs and metrics.
    pub name: String,
    /// The bearer token.
    pub token: String,
}

impl std::fmt::Debug for ClientToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientToken")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl std::str::FromStr for ClientToken {
    type Err = String;
    /// `name:token`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (name, token) = s
            .split_once(':')
            .ok_or_else(|| "expected name:token".to_string())?;
        if name.is_empty() || token.len() < 16 {
            return Err(
                "client name must be non-empty and the token at least 16 characters".into(),
            );
        }
        Ok(Self {
            name: name.to_string(),
            token: token.to_string(),
        })
    }
}

/// Access settings.
#[derive(Clone, Debug)]
pub struct AccessConfig {
    /// Allowed clients; empty = no authentication (loopback only unless `allow_open`).
    pub tokens: Vec<ClientToken>,
    /// Sustained requests per second per client.
    pub rate_per_sec: f64,
    /// Requests a client may burst.
    pub burst: u32,
    /// Payload bytes per client per hour.
    pub quota_bytes_per_hour: u64,
    /// Serve on a non-loopback address without tokens (not recommended).
    pub allow_open: bool,
}

impl Default for AccessConfig {
    fn default() -> Self {
        Self {
            tokens: Vec::new(),
            rate_per_sec: 50.0,
            burst: 100,
            quota_bytes_per_hour: 16 * 1024 * 1024 * 1024,
            allow_open: false,
        }
    }
}

impl AccessConfig {
    /// Refuses an exposed API without tokens.
    pub fn check_exposure(&self, addr: &SocketAddr) -> Result<(), String> {
        if !addr.ip().is_loopback() && self.tokens.is_empty() && !self.allow_open {
            return Err(format!(
                "the API would listen on {addr} without authentication: configure client tokens (--auth.token name:token) or bind to loopback"
            ));
        }
        Ok(())
    }
}

/// Most clients tracked at once (addresses, without tokens); idle ones are forgotten
/// first, and beyond that new clients are refused until some go idle.
pub(super) const MAX_CLIENTS: usize = 10_000;

struct ClientState {
    tokens: f64,
    refilled: Instant,
    window_start: Instant,
    window_bytes: u64,
}

/// A refused request: HTTP status and message.
#[derive(Debug)]
pub(super) struct Denied {
    pub(super) status: u16,
    pub(super) reason: &'static str,
    pub(super) message: String,
}

/// Per-process access state.
pub(super) struct Access {
    config: AccessConfig,
    clients: Mutex<HashMap<String, ClientState>>,
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl Access {
    pub(super) fn new(config: AccessConfig) -> Self {
        Self {
            config,
            clients: Mutex::new(HashMap::new()),
        }
    }

    /// Identifies the client and applies its rate limit.
    pub(super) fn authorize(
        &self,
        headers: &HeaderMap,
        peer: Option<IpAddr>,
    ) -> Result<String, Denied> {
        let client = if self.config.tokens.is_empty() {
            peer.map_or_else(|| "local".to_string(), |ip| format!("local {ip}"))
        } else {
            let presented = headers
                .get(axum::http::header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
                .ok_or(Denied {
                    status: 401,
                    reason: "unauthenticated",
                    message: "missing bearer token (Authorization: Bearer <token>)".into(),
                })?;
            self.config
                .tokens
                .iter()
                .find(|t| constant_time_eq(t.token.as_bytes(), presented.trim().as_bytes()))
                .map(|t| t.name.clone())
                .ok_or(Denied {
                    status: 401,
                    reason: "bad_token",
                    message: "unknown bearer token".into(),
                })?
        };
        let mut clients = self.clients.lock();
        let now = Instant::now();
        let burst = f64::from(self.config.burst.max(1));
        if clients.len() >= MAX_CLIENTS && !clients.contains_key(&client) {
            // Forget the clients idle for an hour (their bucket is full and their quota
            // window over); refuse newcomers while every place is in use.
            clients.retain(|_, s| now.duration_since(s.refilled) < Duration::from_secs(3600));
            if clients.len() >= MAX_CLIENTS {
                return Err(Denied {
                    status: 429,
                    reason: "rate_limited",
                    message: "too many clients; retry later".into(),
                });
            }
        }
        let state = clients.entry(client.clone()).or_insert(ClientState {
            tokens: burst,
            refilled: now,
            window_start: now,
            window_bytes: 0,
        });
        let elapsed = now.duration_since(state.refilled).as_secs_f64();
        state.tokens = (state.tokens + elapsed * self.config.rate_per_sec).min(burst);
        state.refilled = now;
        if state.tokens < 1.0 {
            return Err(Denied {
                status: 429,
                reason: "rate_limited",
                message: format!(
                    "rate limit of {} requests/s (burst {}) exceeded for client {client}",
                    self.config.rate_per_sec, self.config.burst
                ),
            });
        }
        state.tokens -= 1.0;
        Ok(client)
    }

    /// Charges `bytes` against the client's hourly quota.
    pub(super) fn charge(&self, client: &str, bytes: u64) -> Result<(), Denied> {
        let mut clients = self.clients.lock();
        let Some(state) = clients.get_mut(client) else {
            return Ok(());
        };
        let now = Instant::now();
        if now.duration_since(state.window_start) >= Duration::from_secs(3600) {
            state.window_start = now;
            state.window_bytes = 0;
        }
        if state.window_bytes + bytes > self.config.quota_bytes_per_hour {
            return Err(Denied {
                status: 429,
                reason: "quota_exceeded",
                message: format!(
                    "quota of {} bytes per hour exceeded for client {client} ({} used)",
                    self.config.quota_bytes_per_hour, state.window_bytes
                ),
            });
        }
        state.window_bytes += bytes;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bearer(t: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            axum::http::header::AUTHORIZATION,
            format!("Bearer {t}").parse().unwrap(),
        );
        h
    }

    #[test]
    fn tokens_rate_and_quota() {
        let access = Access::new(AccessConfig {
            tokens: vec!["rollup:0123456789abcdef".parse().unwrap()],
            rate_per_sec: 0.001,
            burst: 2,
            quota_bytes_per_hour: 100,
            allow_open: false,
        });
        assert_eq!(
            access
                .authorize(&HeaderMap::new(), None)
                .unwrap_err()
                .status,
            401
        );
        assert_eq!(
            access.authorize(&bearer("nope"), None).unwrap_err().status,
            401
        );
        assert_eq!(
            access.authorize(&bearer("0123456789abcdef"), None).unwrap(),
            "rollup"
        );
        access.charge("rollup", 60).unwrap();
        assert_eq!(access.charge("rollup", 60).unwrap_err().status, 429);
        access.authorize(&bearer("0123456789abcdef"), None).unwrap();
        let denied = access
            .authorize(&bearer("0123456789abcdef"), None)
            .unwrap_err();
        assert_eq!((denied.status, denied.reason), (429, "rate_limited"));
    }

    #[test]
    fn without_tokens_each_address_is_a_client() {
        let access = Access::new(AccessConfig {
            rate_per_sec: 0.001,
            burst: 1,
            ..AccessConfig::default()
        });
        let a = Some("127.0.0.1".parse().unwrap());
        let b = Some("127.0.0.2".parse().unwrap());
        access.authorize(&HeaderMap::new(), b).unwrap();
        assert_eq!(
            access.authorize(&HeaderMap::new(), b).unwrap_err().status,
            429
        );
        // The flood from b does not use up a's share.
        assert_eq!(
            access.authorize(&HeaderMap::new(), a).unwrap(),
            "local 127.0.0.1"
        );
    }

    #[test]
    fn exposure_needs_tokens() {
        let open = AccessConfig::default();
        assert!(open.check_exposure(&"127.0.0.1:1".parse().unwrap()).is_ok());
        assert!(open.check_exposure(&"0.0.0.0:1".parse().unwrap()).is_err());
        assert!("x:short".parse::<ClientToken>().is_err());
    }
}
