//! The broker's durable state (RocksDB): the metered requests not yet settled, and the
//! last settlement nonce. Every record is synced before the response that it bills
//! reaches the client, so a restart loses no fee the broker served.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use alloy_primitives::{Address, U256};
use rocksdb::{DB, IteratorMode, WriteBatch};
use serde::{Deserialize, Serialize};
use zg_node_kit::db::{self, durable};

use crate::error::BrokerError;

const REQUESTS: &str = "requests";
const META: &str = "meta";
const NEXT_ID: &[u8] = b"next_id";
const LAST_NONCE: &[u8] = b"last_nonce";
const IN_FLIGHT: &[u8] = b"in_flight";

/// A signed settlement item sent (or about to be sent) to the chain, kept until its
/// outcome is known, so a broker that crashes mid-settlement resends exactly the same
/// items (same nonces: the chain accepts each at most once) instead of signing new ones.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InFlight {
    /// Who pays.
    pub user: Address,
    /// The requests it settles.
    pub ids: Vec<u64>,
    /// Their total fee.
    pub total_fee: U256,
    /// keccak256 over the requests (0G's layout).
    pub requests_hash: alloy_primitives::B256,
    /// Its settlement nonce.
    pub nonce: u64,
    /// The TEE signer's EIP-712 signature.
    pub signature: alloy_primitives::Bytes,
    /// The transaction that carries it, once sent.
    #[serde(default)]
    pub tx: Option<alloy_primitives::B256>,
}

/// One billed request (or a carried-over remainder of a partial settlement).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    /// Store key; also the request's public id (the `ZG-Res-Key` header).
    pub id: u64,
    /// Who pays.
    pub user: Address,
    /// Prompt tokens metered.
    pub input_tokens: u64,
    /// Completion tokens metered.
    pub output_tokens: u64,
    /// `inputPrice × input_tokens`, wei.
    pub input_fee: U256,
    /// `outputPrice × output_tokens`, wei.
    pub output_fee: U256,
    /// Total, wei.
    pub fee: U256,
    /// When it was served, ms since the epoch.
    pub created_ms: u64,
}

/// The store. Cheap to clone.
///
/// Records are written concurrently (RocksDB groups concurrent synced writes into one
/// fsync); what each user owes is kept in memory beside them, rebuilt at open.
#[derive(Clone, Debug)]
pub struct Store {
    db: Arc<DB>,
    lock: Arc<parking_lot::Mutex<()>>,
    next_id: Arc<AtomicU64>,
    owed: Arc<parking_lot::Mutex<HashMap<Address, U256>>>,
    rows: Arc<AtomicU64>,
}

impl Store {
    /// Opens (or creates) the store in `path`.
    pub fn open(path: &Path) -> Result<Self, BrokerError> {
        let db = db::open_with(path, &[REQUESTS, META], rocksdb::DBCompressionType::None)?;
        let mut s = Self {
            db,
            lock: Arc::default(),
            next_id: Arc::default(),
            owed: Arc::default(),
            rows: Arc::default(),
        };
        let mut last = s.meta_u64(NEXT_ID)?;
        let mut owed: HashMap<Address, U256> = HashMap::new();
        let pending = s.pending()?;
        s.rows.store(pending.len() as u64, Ordering::SeqCst);
        for r in pending {
            last = last.max(r.id);
            *owed.entry(r.user).or_default() += r.fee;
        }
        s.next_id = Arc::new(AtomicU64::new(last));
        s.owed = Arc::new(parking_lot::Mutex::new(owed));
        Ok(s)
    }

    fn cf(&self, name: &str) -> &rocksdb::ColumnFamily {
        db::cf(&self.db, name)
    }

    fn meta_u64(&self, key: &[u8]) -> Result<u64, BrokerError> {
        Ok(self
            .db
            .get_cf(self.cf(META), key)?
            .and_then(|v| <[u8; 8]>::try_from(v.as_slice()).ok())
            .map(u64::from_be_bytes)
            .unwrap_or(0))
    }

    /// Records a served request (synced); fills in its id.
    pub fn record(&self, mut r: Request) -> Result<Request, BrokerError> {
        // Ids only grow: a restart resumes after the highest row and the high-water mark
        // `settle` writes (rows it deleted), so `NEXT_ID` is not written here, where
        // concurrent records could write it out of order.
        let id = self.next_id.fetch_add(1, Ordering::SeqCst) + 1;
        r.id = id;
        // Owed before the row exists, so a settlement that removes the row right after
        // always finds the amount to take off.
        *self.owed.lock().entry(r.user).or_default() += r.fee;
        self.rows.fetch_add(1, Ordering::SeqCst);
        let written = self.db.put_cf_opt(
            self.cf(REQUESTS),
            id.to_be_bytes(),
            serde_json::to_vec(&r).expect("request JSON"),
            &durable(),
        );
        if let Err(e) = written {
            let mut owed = self.owed.lock();
            let v = owed.entry(r.user).or_default();
            *v = v.saturating_sub(r.fee);
            self.rows.fetch_sub(1, Ordering::SeqCst);
            return Err(e.into());
        }
        Ok(r)
    }

    /// Every unsettled request, oldest first.
    pub fn pending(&self) -> Result<Vec<Request>, BrokerError> {
        let mut out = Vec::new();
        for item in self.db.iterator_cf(self.cf(REQUESTS), IteratorMode::Start) {
            let (_, v) = item?;
            out.push(serde_json::from_slice(&v).map_err(|e| BrokerError::Store(e.to_string()))?);
        }
        Ok(out)
    }

    /// How many unsettled requests there are (without reading them).
    pub fn pending_count(&self) -> u64 {
        self.rows.load(Ordering::SeqCst)
    }

    /// Unsettled requests grouped by user.
    pub fn pending_by_user(&self) -> Result<BTreeMap<Address, Vec<Request>>, BrokerError> {
        let mut by: BTreeMap<Address, Vec<Request>> = BTreeMap::new();
        for r in self.pending()? {
            by.entry(r.user).or_default().push(r);
        }
        Ok(by)
    }

    /// What `user` owes and is not settled yet.
    pub fn unsettled(&self, user: &Address) -> Result<U256, BrokerError> {
        Ok(self.owed.lock().get(user).copied().unwrap_or_default())
    }

    /// Removes settled requests and records what a partial settlement left over, in one
    /// synced write; the leftover only while some of the requests were still there.
    pub fn settle(&self, ids: &[u64], carry: Option<Request>) -> Result<(), BrokerError> {
        let _g = self.lock.lock();
        let mut removed: Vec<(Address, U256)> = Vec::new();
        let mut b = WriteBatch::default();
        for id in ids {
            if let Some(v) = self.db.get_cf(self.cf(REQUESTS), id.to_be_bytes())? {
                let r: Request =
                    serde_json::from_slice(&v).map_err(|e| BrokerError::Store(e.to_string()))?;
                removed.push((r.user, r.fee));
            }
            b.delete_cf(self.cf(REQUESTS), id.to_be_bytes());
        }
        // Nothing left of these requests: they were processed before (a resent
        // outcome); do not carry their remainder twice.
        let carry = carry.filter(|_| !removed.is_empty());
        let carry = carry.map(|mut r| {
            r.id = self.next_id.fetch_add(1, Ordering::SeqCst) + 1;
            b.put_cf(
                self.cf(REQUESTS),
                r.id.to_be_bytes(),
                serde_json::to_vec(&r).expect("request JSON"),
            );
            r
        });
        // The high-water mark, so ids are never reused once their rows are gone.
        b.put_cf(
            self.cf(META),
            NEXT_ID,
            self.next_id.load(Ordering::SeqCst).to_be_bytes(),
        );
        self.db.write_opt(b, &durable())?;
        self.rows.fetch_sub(removed.len() as u64, Ordering::SeqCst);
        if carry.is_some() {
            self.rows.fetch_add(1, Ordering::SeqCst);
        }
        let mut owed = self.owed.lock();
        for (user, fee) in removed {
            let e = owed.entry(user).or_default();
            *e = e.saturating_sub(fee);
        }
        if let Some(r) = carry {
            *owed.entry(r.user).or_default() += r.fee;
        }
        owed.retain(|_, v| !v.is_zero());
        Ok(())
    }

    /// The settlement batch whose outcome is not recorded yet.
    pub fn in_flight(&self) -> Result<Option<Vec<InFlight>>, BrokerError> {
        self.db
            .get_cf(self.cf(META), IN_FLIGHT)?
            .map(|v| serde_json::from_slice(&v).map_err(|e| BrokerError::Store(e.to_string())))
            .transpose()
    }

    /// Records (or, with `None`, clears) the batch in flight; synced.
    pub fn set_in_flight(&self, batch: Option<&[InFlight]>) -> Result<(), BrokerError> {
        match batch {
            Some(b) => self.db.put_cf_opt(
                self.cf(META),
                IN_FLIGHT,
                serde_json::to_vec(b).expect("batch JSON"),
                &durable(),
            )?,
            None => self
                .db
                .delete_cf_opt(self.cf(META), IN_FLIGHT, &durable())?,
        }
        Ok(())
    }

    /// A settlement nonce above every one used before (and above `floor`), persisted
    /// before it is used.
    pub fn next_nonce(&self, floor: u64) -> Result<u64, BrokerError> {
        let _g = self.lock.lock();
        let n = (self.meta_u64(LAST_NONCE)? + 1).max(floor);
        self.db
            .put_cf_opt(self.cf(META), LAST_NONCE, n.to_be_bytes(), &durable())?;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_survive_reopen_and_settle_removes() {
        let dir = std::env::temp_dir().join(format!("zg-compute-store-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let user = Address::repeat_byte(1);
        let req = |fee: u64| Request {
            id: 0,
            user,
            input_tokens: 1,
            output_tokens: 2,
            input_fee: U256::ZERO,
            output_fee: U256::from(fee),
            fee: U256::from(fee),
            created_ms: 0,
        };
        {
            let s = Store::open(&dir).unwrap();
            assert_eq!(s.record(req(5)).unwrap().id, 1);
            assert_eq!(s.record(req(7)).unwrap().id, 2);
            assert_eq!(s.next_nonce(10).unwrap(), 10);
            assert_eq!(s.next_nonce(3).unwrap(), 11);
        }
        let s = Store::open(&dir).unwrap();
        assert_eq!(s.unsettled(&user).unwrap(), U256::from(12));
        assert_eq!(s.next_nonce(0).unwrap(), 12);
        s.settle(&[1, 2], Some(req(3))).unwrap();
        let left = s.pending().unwrap();
        assert_eq!((left.len(), left[0].id, left[0].fee), (1, 3, U256::from(3)));
        assert_eq!(s.pending_count(), 1);
        drop(s);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
