//! The plugin's RocksDB store.
//!
//! - `puts`: `keccak256(body)` → certificate (48 bytes). Written with a synced WAL before
//!   a put is answered, so an acknowledged commitment survives a crash. It serves keccak
//!   gets and makes puts idempotent: the same body again is answered from here, with no
//!   second dispersal and no second fee.
//! - `cache`: certificate → payload, and `cache_order`: sequence (u64 BE) → certificate ‖
//!   length (u64 BE). A bounded FIFO of recent payloads (put or retrieved), so gets of
//!   recent data skip DA retrieval. Not synced: losing it costs a retrieval, nothing else.

use std::collections::VecDeque;
use std::path::Path;
use std::sync::Arc;

use alloy_primitives::B256;
use parking_lot::Mutex;
use rocksdb::{DB, IteratorMode, WriteBatch};
use zg_node_kit::{StoreError, db};
use zg_primitives::Certificate;

const PUTS: &str = "puts";
const CACHE: &str = "cache";
const CACHE_ORDER: &str = "cache_order";

/// The plugin's persistent state. Cheap to clone.
#[derive(Clone)]
pub struct PluginStore {
    db: Arc<DB>,
    cache_limit: u64,
    fifo: Arc<Mutex<Fifo>>,
}

#[derive(Default)]
struct Fifo {
    next_seq: u64,
    bytes: u64,
    entries: VecDeque<(u64, [u8; 48], u64)>,
}

impl std::fmt::Debug for PluginStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let fifo = self.fifo.lock();
        f.debug_struct("PluginStore")
            .field("path", &self.db.path())
            .field("cache_entries", &fifo.entries.len())
            .field("cache_bytes", &fifo.bytes)
            .field("cache_limit", &self.cache_limit)
            .finish()
    }
}

fn corrupt(key: &[u8], reason: &str) -> StoreError {
    StoreError::Corrupt {
        key: zg_primitives::to_hex(key),
        reason: reason.into(),
    }
}

fn cert_of(bytes: &[u8]) -> Result<Certificate, StoreError> {
    let b: &[u8; 48] = bytes
        .try_into()
        .map_err(|_| corrupt(bytes, "certificate is not 48 bytes"))?;
    Ok(Certificate::from_bytes(b))
}

impl PluginStore {
    /// Opens (or creates) the store; the payload cache keeps at most `cache_limit` bytes.
    pub fn open(path: &Path, cache_limit: u64) -> Result<Self, StoreError> {
        let db = db::open(path, &[PUTS, CACHE, CACHE_ORDER])?;
        let mut fifo = Fifo::default();
        for item in db.iterator_cf(db::cf(&db, CACHE_ORDER), IteratorMode::Start) {
            let (k, v) = item?;
            let seq = u64::from_be_bytes(
                k.as_ref()
                    .try_into()
                    .map_err(|_| corrupt(&k, "cache sequence is not 8 bytes"))?,
            );
            if v.len() != 56 {
                return Err(corrupt(&k, "cache order entry is not 56 bytes"));
            }
            let cert: [u8; 48] = v[..48].try_into().expect("48 bytes");
            let len = u64::from_be_bytes(v[48..].try_into().expect("8 bytes"));
            fifo.bytes += len;
            fifo.next_seq = seq + 1;
            fifo.entries.push_back((seq, cert, len));
        }
        let store = Self {
            db,
            cache_limit,
            fifo: Arc::new(Mutex::new(fifo)),
        };
        store.evict()?;
        Ok(store)
    }

    /// The certificate a body with this keccak256 was certified under.
    pub fn put_of(&self, keccak: &B256) -> Result<Option<Certificate>, StoreError> {
        self.db
            .get_pinned_cf(db::cf(&self.db, PUTS), keccak)?
            .map(|v| cert_of(&v))
            .transpose()
    }

    /// Records (durably) that the body with this keccak256 is certified under `cert`.
    pub fn record_put(&self, keccak: &B256, cert: &Certificate) -> Result<(), StoreError> {
        let mut batch = WriteBatch::default();
        batch.put_cf(db::cf(&self.db, PUTS), keccak, cert.to_bytes());
        self.db.write_opt(batch, &db::durable())?;
        Ok(())
    }

    /// A cached payload.
    pub fn cached(&self, cert: &Certificate) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.db.get_cf(db::cf(&self.db, CACHE), cert.to_bytes())?)
    }

    /// Caches a payload, evicting the oldest entries beyond the size limit. Payloads over
    /// the whole limit are not cached.
    pub fn cache(&self, cert: &Certificate, payload: &[u8]) -> Result<(), StoreError> {
        let len = payload.len() as u64;
        if len > self.cache_limit {
            return Ok(());
        }
        let key = cert.to_bytes();
        if self
            .db
            .get_pinned_cf(db::cf(&self.db, CACHE), key)?
            .is_some()
        {
            return Ok(());
        }
        {
            let mut fifo = self.fifo.lock();
            let seq = fifo.next_seq;
            let mut order = [0u8; 56];
            order[..48].copy_from_slice(&key);
            order[48..].copy_from_slice(&len.to_be_bytes());
            let mut batch = WriteBatch::default();
            batch.put_cf(db::cf(&self.db, CACHE), key, payload);
            batch.put_cf(db::cf(&self.db, CACHE_ORDER), seq.to_be_bytes(), order);
            self.db.write(batch)?;
            fifo.next_seq += 1;
            fifo.bytes += len;
            fifo.entries.push_back((seq, key, len));
        }
        self.evict()
    }

    /// Bytes and entries held by the payload cache.
    pub fn cache_usage(&self) -> (u64, usize) {
        let fifo = self.fifo.lock();
        (fifo.bytes, fifo.entries.len())
    }

    fn evict(&self) -> Result<(), StoreError> {
        let mut fifo = self.fifo.lock();
        if fifo.bytes <= self.cache_limit {
            return Ok(());
        }
        let mut batch = WriteBatch::default();
        while fifo.bytes > self.cache_limit {
            let Some((seq, key, len)) = fifo.entries.pop_front() else {
                break;
            };
            batch.delete_cf(db::cf(&self.db, CACHE), key);
            batch.delete_cf(db::cf(&self.db, CACHE_ORDER), seq.to_be_bytes());
            fifo.bytes -= len;
        }
        self.db.write(batch)?;
        Ok(())
    }

    /// Flushes memtables to disk (at shutdown).
    pub fn flush(&self) -> Result<(), StoreError> {
        self.db.flush_cf(db::cf(&self.db, PUTS))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cert(i: u8) -> Certificate {
        Certificate {
            epoch: 1,
            quorum_id: 0,
            data_root: B256::repeat_byte(i),
        }
    }

    fn tmp(tag: &str) -> std::path::PathBuf {
        let p = std::env::temp_dir().join(format!(
            "zg-op-plugin-store-{tag}-{}-{:?}",
            std::process::id(),
            std::time::SystemTime::now()
        ));
        std::fs::create_dir_all(&p).unwrap();
        p
    }

    #[test]
    fn puts_survive_reopen_and_cache_is_bounded() {
        let dir = tmp("bounded");
        {
            let s = PluginStore::open(&dir, 250).unwrap();
            s.record_put(&B256::repeat_byte(9), &cert(1)).unwrap();
            for i in 0..5u8 {
                s.cache(&cert(i), &[i; 100]).unwrap();
            }
            // 250 bytes hold the last two 100-byte payloads.
            assert_eq!(s.cache_usage(), (200, 2));
            assert_eq!(s.cached(&cert(0)).unwrap(), None);
            assert_eq!(s.cached(&cert(4)).unwrap(), Some(vec![4; 100]));
            // Over the whole limit: not cached, nothing evicted.
            s.cache(&cert(7), &[7; 300]).unwrap();
            assert_eq!(s.cache_usage(), (200, 2));
        }
        let s = PluginStore::open(&dir, 150).unwrap();
        assert_eq!(s.put_of(&B256::repeat_byte(9)).unwrap(), Some(cert(1)));
        assert_eq!(s.put_of(&B256::repeat_byte(8)).unwrap(), None);
        // A smaller limit on reopen evicts the oldest.
        assert_eq!(s.cache_usage(), (100, 1));
        assert_eq!(s.cached(&cert(3)).unwrap(), None);
        assert_eq!(s.cached(&cert(4)).unwrap(), Some(vec![4; 100]));
        s.cache(&cert(5), &[5; 10]).unwrap();
        assert_eq!(s.cache_usage(), (110, 2));
        drop(s);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
