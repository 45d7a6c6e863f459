//! Polling filters, as geth keeps them: `eth_newFilter`, `eth_newBlockFilter`,
//! `eth_getFilterChanges`, `eth_getFilterLogs`, `eth_uninstallFilter`.
//!
//! Filters live in memory (a restart forgets them, as in geth). Each is removed after
//! [`FILTER_TIMEOUT`] without a poll, and at most [`MAX_FILTERS`] exist at once (then
//! `-32005`). One poll reports at most [`MAX_POLL_BLOCKS`] blocks; a client that polls
//! late gets the rest on its next polls. Filter ids are random 128-bit quantities, so
//! one client cannot guess another's.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use alloy_primitives::U128;
use alloy_rpc_types_eth::Filter;
use parking_lot::Mutex;

use super::{RpcError, codes};

/// Most filters installed at once.
pub(crate) const MAX_FILTERS: usize = 4096;
/// A filter not polled for this long is removed (geth's 5 minutes).
pub(crate) const FILTER_TIMEOUT: Duration = Duration::from_secs(300);
/// Most blocks one `eth_getFilterChanges` covers.
pub(crate) const MAX_POLL_BLOCKS: u64 = 1024;

/// What a filter reports.
#[derive(Clone, Debug)]
pub(crate) enum Kind {
    /// Hashes of new blocks.
    Blocks,
    /// Logs of new blocks matching the filter.
    Logs(Box<Filter>),
}

#[derive(Debug)]
struct Installed {
    kind: Kind,
    /// The next block to report.
    next: u64,
    polled: Instant,
}

/// The installed filters of a node.
#[derive(Debug, Default)]
pub(crate) struct Filters {
    map: Mutex<HashMap<U128, Installed>>,
}

fn not_found() -> RpcError {
    RpcError::server("filter not found")
}

impl Filters {
    /// Installs a filter reporting from block `next` on; its id.
    pub(crate) fn install(&self, kind: Kind, next: u64) -> Result<U128, RpcError> {
        let mut map = self.map.lock();
        if map.len() >= MAX_FILTERS {
            map.retain(|_, f| f.polled.elapsed() < FILTER_TIMEOUT);
            if map.len() >= MAX_FILTERS {
                return Err(RpcError::new(
                    codes::LIMIT_EXCEEDED,
                    format!("{MAX_FILTERS} filters installed; uninstall some or retry later"),
                ));
            }
        }
        let id = loop {
            let id = U128::from(rand::random::<u128>());
            if !map.contains_key(&id) {
                break id;
            }
        };
        map.insert(
            id,
            Installed {
                kind,
                next,
                polled: Instant::now(),
            },
        );
        Ok(id)
    }

    /// A filter's kind and next block, marking it polled.
    pub(crate) fn poll(&self, id: U128) -> Result<(Kind, u64), RpcError> {
        let mut map = self.map.lock();
        match map.get_mut(&id) {
            Some(f) if f.polled.elapsed() < FILTER_TIMEOUT => {
                f.polled = Instant::now();
                Ok((f.kind.clone(), f.next))
            }
            Some(_) => {
                map.remove(&id);
                Err(not_found())
            }
            None => Err(not_found()),
        }
    }

    /// Records that a filter reported every block before `next`.
    pub(crate) fn advance(&self, id: U128, next: u64) {
        if let Some(f) = self.map.lock().get_mut(&id) {
            f.next = f.next.max(next);
        }
    }

    /// Removes a filter; whether it existed.
    pub(crate) fn uninstall(&self, id: U128) -> bool {
        self.map.lock().remove(&id).is_some()
    }

    #[cfg(test)]
    fn expire_all(&self) {
        for f in self.map.lock().values_mut() {
            f.polled = Instant::now() - FILTER_TIMEOUT;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_are_capped_expire_and_uninstall() {
        let f = Filters::default();
        let a = f.install(Kind::Blocks, 5).unwrap();
        let (_, next) = f.poll(a).unwrap();
        assert_eq!(next, 5);
        f.advance(a, 9);
        assert_eq!(f.poll(a).unwrap().1, 9);
        assert!(f.uninstall(a));
        assert!(!f.uninstall(a));
        assert!(f.poll(a).is_err());
        for _ in 0..MAX_FILTERS {
            f.install(Kind::Blocks, 0).unwrap();
        }
        let e = f.install(Kind::Blocks, 0).unwrap_err();
        assert_eq!(e.code, codes::LIMIT_EXCEEDED);
        // Unpolled for the timeout: gone, and their places free again.
        f.expire_all();
        let b = f.install(Kind::Blocks, 0).unwrap();
        assert!(f.poll(b).is_ok());
        assert_eq!(f.map.lock().len(), 1);
    }
}
