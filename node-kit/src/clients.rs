//! Per-client admission: every server gives each untrusted client address a bucket of
//! cost units that refills at a steady rate (a token bucket, as nginx's `limit_req` or a
//! hosted RPC provider's "compute units"). A request costs one unit at the door; a
//! handler charges more for what it really cost (a JSON-RPC batch per call, a heavy
//! call per millisecond of blocking work), which may leave the bucket in debt that the
//! client's next requests wait out.
//!
//! - A request that fits within `max_delay` waits for its units (a client slightly over
//!   its rate is smoothed, not failed). One that does not is answered 429
//!   `rate_limited` with `Retry-After`, after being held for `max_delay` (a tarpit: a
//!   client looping on refusals gets one answer per `max_delay` per connection, not a
//!   spin). At most [`MAX_DELAYED`] requests wait or are held at once; beyond that,
//!   refusals are immediate.
//! - Clients are keyed by IPv4 address, or by IPv6 /64 (one subscriber's prefix).
//!   [`MAX_CLIENTS`] buckets are kept; the least recently used go first (an evicted
//!   bucket was refilling anyway).
//! - Trusted networks (default: the loopback addresses `127.0.0.1` and `::1`, where a
//!   node's own sidecars connect from) are not metered and get the separate lanes
//!   servers keep for them (the chain's heavy-call lane, say). Operators add their
//!   sidecars' networks with `--http.trusted`.

use std::net::{IpAddr, Ipv6Addr};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use ipnet::IpNet;
use parking_lot::Mutex;
use tokio::sync::Semaphore;

/// Default units per second an untrusted client earns.
pub const DEFAULT_CLIENT_RATE: u32 = 100;
/// Default units an untrusted client may spend at once (the bucket's size).
pub const DEFAULT_CLIENT_BURST: u32 = 1_000;
/// Default longest wait for units before a request is refused.
pub const DEFAULT_CLIENT_MAX_DELAY: Duration = Duration::from_secs(1);
/// Most requests waiting for units (or held before a refusal) at once, per server.
pub const MAX_DELAYED: usize = 1_024;
/// Most client buckets kept per server.
pub const MAX_CLIENTS: usize = 100_000;
/// Most debt a bucket carries, in seconds of its rate: one expensive call cannot bar
/// a client for longer than this.
const MAX_DEBT_SECS: f64 = 60.0;

/// The networks trusted by default: loopback's own addresses.
pub fn default_trusted() -> Vec<IpNet> {
    ["127.0.0.1/32", "::1/128"]
        .iter()
        .map(|s| s.parse().expect("valid network"))
        .collect()
}

/// Per-client limits of one server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientLimits {
    /// Units per second each untrusted client earns; 0 turns metering off.
    pub rate: u32,
    /// The bucket's size: the most units spent at once (a batch costing more is
    /// refused outright).
    pub burst: u32,
    /// Longest wait for units before a refusal.
    pub max_delay: Duration,
    /// Networks whose clients are not metered.
    pub trusted: Vec<IpNet>,
}

impl Default for ClientLimits {
    fn default() -> Self {
        Self {
            rate: DEFAULT_CLIENT_RATE,
            burst: DEFAULT_CLIENT_BURST,
            max_delay: DEFAULT_CLIENT_MAX_DELAY,
            trusted: default_trusted(),
        }
    }
}

/// Why a client's request was not admitted.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum Throttled {
    /// The client is over its rate: retry after the given time.
    #[error("rate limited: retry in {0:?}")]
    Rate(Duration),
    /// One request costs more than the client's whole bucket: split it.
    #[error("request costs {cost} units, more than the {burst} a client may spend at once")]
    TooCostly {
        /// The request's cost.
        cost: u64,
        /// The client's burst.
        burst: u64,
    },
}

impl Throttled {
    /// Seconds a client should wait before retrying (for `Retry-After`).
    pub fn retry_after_secs(&self) -> u64 {
        match self {
            Self::Rate(d) => d.as_secs_f64().ceil().max(1.0) as u64,
            Self::TooCostly { .. } => 1,
        }
    }
}

#[derive(Debug)]
struct Bucket {
    level: f64,
    at: Instant,
}

/// The buckets of one server's clients.
#[derive(Debug)]
pub struct Meters {
    limits: ClientLimits,
    buckets: quick_cache::sync::Cache<IpAddr, Arc<Mutex<Bucket>>>,
    delayed: Arc<Semaphore>,
}

impl Meters {
    /// Meters for `limits`.
    pub fn new(limits: ClientLimits) -> Arc<Self> {
        Arc::new(Self {
            limits,
            buckets: quick_cache::sync::Cache::new(MAX_CLIENTS),
            delayed: Arc::new(Semaphore::new(MAX_DELAYED)),
        })
    }

    /// The meter of a client at `addr` (unmetered when trusted or metering is off).
    pub fn meter(self: &Arc<Self>, addr: IpAddr) -> ClientMeter {
        let addr = canonical(addr);
        if self.limits.rate == 0 || self.limits.trusted.iter().any(|n| n.contains(&addr)) {
            return ClientMeter::trusted();
        }
        ClientMeter {
            inner: Some((self.clone(), key(addr))),
        }
    }

    fn bucket(&self, key: IpAddr) -> Arc<Mutex<Bucket>> {
        let burst = f64::from(self.limits.burst);
        self.buckets
            .get_or_insert_with(&key, || {
                Ok::<_, std::convert::Infallible>(Arc::new(Mutex::new(Bucket {
                    level: burst,
                    at: Instant::now(),
                })))
            })
            .unwrap_or_else(|e| match e {})
    }

    fn refill(&self, b: &mut Bucket) {
        let now = Instant::now();
        let earned = now.duration_since(b.at).as_secs_f64() * f64::from(self.limits.rate);
        b.level = (b.level + earned).min(f64::from(self.limits.burst));
        b.at = now;
    }
}

/// An IPv4-mapped IPv6 address as the IPv4 address it is.
fn canonical(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(addr, IpAddr::V4),
        v4 => v4,
    }
}

/// The bucket key: an IPv4 address, or an IPv6 address's /64.
fn key(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(v6) => {
            let s = v6.segments();
            IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
        v4 => v4,
    }
}

tokio::task_local! {
    static CURRENT: ClientMeter;
}

/// The meter of the client a request came from. Cheap to clone.
#[derive(Clone, Debug)]
pub struct ClientMeter {
    inner: Option<(Arc<Meters>, IpAddr)>,
}

impl ClientMeter {
    /// A meter that never limits (a trusted client).
    pub fn trusted() -> Self {
        Self { inner: None }
    }

    /// The meter of the request this task serves ([`ClientMeter::scope`]); trusted
    /// outside one (a request not from the network).
    pub fn current() -> Self {
        CURRENT
            .try_with(Clone::clone)
            .unwrap_or_else(|_| Self::trusted())
    }

    /// Runs `f` with this meter as [`ClientMeter::current`].
    pub async fn scope<F: Future>(self, f: F) -> F::Output {
        CURRENT.scope(self, f).await
    }

    /// Whether the client is trusted (not metered).
    pub fn is_trusted(&self) -> bool {
        self.inner.is_none()
    }

    /// Takes `cost` units, waiting for them up to the limit's `max_delay`.
    pub async fn admit(&self, cost: u64) -> Result<(), Throttled> {
        let Some((m, key)) = &self.inner else {
            return Ok(());
        };
        let burst = u64::from(m.limits.burst);
        if cost > burst {
            return Err(Throttled::TooCostly { cost, burst });
        }
        let bucket = m.bucket(*key);
        let deadline = Instant::now() + m.limits.max_delay;
        loop {
            let wait = {
                let mut b = bucket.lock();
                m.refill(&mut b);
                if b.level >= cost as f64 {
                    b.level -= cost as f64;
                    return Ok(());
                }
                Duration::from_secs_f64((cost as f64 - b.level) / f64::from(m.limits.rate))
            };
            let Ok(_held) = m.delayed.clone().try_acquire_owned() else {
                return Err(Throttled::Rate(wait));
            };
            if Instant::now() + wait > deadline {
                // Held, then refused: a client looping on refusals is slowed too.
                tokio::time::sleep_until(deadline).await;
                return Err(Throttled::Rate(wait.saturating_sub(m.limits.max_delay)));
            }
            tokio::time::sleep(wait).await;
        }
    }

    /// Charges `cost` more units for work already done; the bucket may go into debt
    /// (at most 60 s of the rate), which the client's next requests wait
    /// out.
    pub fn charge(&self, cost: u64) {
        let Some((m, key)) = &self.inner else {
            return;
        };
        let bucket = m.bucket(*key);
        let mut b = bucket.lock();
        m.refill(&mut b);
        let floor = -MAX_DEBT_SECS * f64::from(m.limits.rate);
        b.level = (b.level - cost as f64).max(floor);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meters(rate: u32, burst: u32, delay_ms: u64) -> Arc<Meters> {
        Meters::new(ClientLimits {
            rate,
            burst,
            max_delay: Duration::from_millis(delay_ms),
            trusted: default_trusted(),
        })
    }

    #[tokio::test(start_paused = true)]
    async fn a_client_gets_its_burst_then_its_rate() {
        let m = meters(10, 20, 1_000);
        let c = m.meter("192.0.2.1".parse().unwrap());
        for _ in 0..20 {
            c.admit(1).await.unwrap();
        }
        // The 21st waits 100 ms for one unit (within the delay): admitted, later.
        let t = tokio::time::Instant::now();
        c.admit(1).await.unwrap();
        assert!(
            t.elapsed() >= Duration::from_millis(90),
            "{:?}",
            t.elapsed()
        );
        // 50 units now: 5 s away, beyond the 1 s delay: held 1 s, then refused.
        let t = tokio::time::Instant::now();
        assert!(matches!(c.admit(20).await, Err(Throttled::Rate(_))));
        assert!(t.elapsed() >= Duration::from_millis(999));
        // Another client is not affected.
        m.meter("192.0.2.2".parse().unwrap())
            .admit(20)
            .await
            .unwrap();
        // One request costing more than the bucket never fits.
        assert_eq!(
            c.admit(21).await,
            Err(Throttled::TooCostly {
                cost: 21,
                burst: 20
            })
        );
    }

    #[tokio::test(start_paused = true)]
    async fn debt_is_waited_out_and_bounded() {
        let m = meters(100, 100, 500);
        let c = m.meter("198.51.100.7".parse().unwrap());
        c.admit(1).await.unwrap();
        c.charge(1_000_000); // a very expensive call: debt capped at 60 s of rate
        assert!(matches!(c.admit(1).await, Err(Throttled::Rate(_))));
        tokio::time::sleep(Duration::from_secs(61)).await;
        c.admit(1).await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn trusted_and_unmetered_clients_are_free() {
        let m = meters(1, 1, 0);
        for a in ["127.0.0.1", "::1", "::ffff:127.0.0.1"] {
            let c = m.meter(a.parse().unwrap());
            assert!(c.is_trusted(), "{a}");
            for _ in 0..100 {
                c.admit(1).await.unwrap();
            }
        }
        // Other loopback addresses are not trusted by default.
        assert!(!m.meter("127.0.0.2".parse().unwrap()).is_trusted());
        let off = meters(0, 1, 0);
        assert!(off.meter("192.0.2.1".parse().unwrap()).is_trusted());
        assert!(ClientMeter::current().is_trusted(), "outside a request");
    }

    #[test]
    fn ipv6_clients_share_their_64() {
        let a = key("2001:db8:1:2:aaaa::1".parse().unwrap());
        let b = key("2001:db8:1:2:bbbb::9".parse().unwrap());
        let c = key("2001:db8:1:3::1".parse().unwrap());
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(key("192.0.2.1".parse().unwrap()).to_string(), "192.0.2.1");
    }
}
