//! The archiver's RocksDB: what is archived where, how far the chain has been followed,
//! and the journal that makes a flow submission happen at most once.
//!
//! Column families:
//! - `payloads`: `data_root` → [`Entry`] (JSON).
//! - `pending`: `data_root` → [`Pending`] (JSON): a submission about to be sent, with the
//!   nonce it is pinned to, written before the transaction leaves.
//! - `missed`: `data_root` → reason: anchors whose payload was gone from the DA nodes
//!   before the archiver reached them (anchored before the retention window).
//! - `meta`: `cursor` → the last block whose anchors are all archived (u64 BE).
//!
//! Every write is synced: an acknowledged entry survives SIGKILL and power loss.

use std::path::Path;
use std::sync::Arc;

use alloy_primitives::B256;
use rocksdb::DB;
use serde::{Deserialize, Serialize};
use zg_node_kit::StoreError;
use zg_node_kit::db::{cf, durable};

const PAYLOADS: &str = "payloads";
const PENDING: &str = "pending";
const MISSED: &str = "missed";
const META: &str = "meta";
const CURSOR: &[u8] = b"cursor";

/// One archived payload.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// The payload's DA identity.
    pub data_root: B256,
    /// Its file's root in zg-storage (0G's file Merkle root).
    pub storage_root: B256,
    /// The flow submission holding it.
    pub seq: u64,
    /// Payload length in bytes.
    pub size: u64,
    /// The anchor's epoch.
    pub epoch: u64,
    /// The anchor's quorum.
    pub quorum_id: u64,
    /// The block of the anchor.
    pub block: u64,
    /// Unix seconds of the anchor's block.
    pub anchored_at: u64,
    /// Unix seconds when the archive finished.
    pub archived_at: u64,
}

/// A flow submission journalled before it is sent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pending {
    /// The file's root.
    pub storage_root: B256,
    /// The submission's identity in the flow's `Submit` event (keccak of its node roots).
    pub identity: B256,
    /// The nonce the transaction is pinned to.
    pub nonce: u64,
    /// The chain head when it was journalled (where to look for the `Submit`).
    pub from_block: u64,
}

/// The archiver's index. Cheap to clone.
#[derive(Clone)]
pub struct ArchiveIndex {
    db: Arc<DB>,
}

impl std::fmt::Debug for ArchiveIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArchiveIndex").finish_non_exhaustive()
    }
}

fn corrupt(key: &[u8], e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt {
        key: alloy_primitives::hex::encode(key),
        reason: e.to_string(),
    }
}

impl ArchiveIndex {
    /// Opens (or creates) the index at `path`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let db = zg_node_kit::db::open(path, &[PAYLOADS, PENDING, MISSED, META])?;
        Ok(Self { db })
    }

    fn get_json<T: for<'de> Deserialize<'de>>(
        &self,
        family: &str,
        key: &[u8],
    ) -> Result<Option<T>, StoreError> {
        match self.db.get_cf(cf(&self.db, family), key)? {
            None => Ok(None),
            Some(v) => serde_json::from_slice(&v)
                .map(Some)
                .map_err(|e| corrupt(key, e)),
        }
    }

    /// The archived payload `data_root`.
    pub fn entry(&self, data_root: &B256) -> Result<Option<Entry>, StoreError> {
        self.get_json(PAYLOADS, data_root.as_slice())
    }

    /// Whether `data_root` is archived.
    pub fn contains(&self, data_root: &B256) -> Result<bool, StoreError> {
        Ok(self
            .db
            .get_pinned_cf(cf(&self.db, PAYLOADS), data_root.as_slice())?
            .is_some())
    }

    /// Records an archived payload and clears its journal entry, atomically.
    pub fn put_entry(&self, e: &Entry) -> Result<(), StoreError> {
        let mut batch = rocksdb::WriteBatch::default();
        let v = serde_json::to_vec(e).map_err(|err| corrupt(e.data_root.as_slice(), err))?;
        batch.put_cf(cf(&self.db, PAYLOADS), e.data_root.as_slice(), v);
        batch.delete_cf(cf(&self.db, PENDING), e.data_root.as_slice());
        self.db.write_opt(batch, &durable())?;
        Ok(())
    }

    /// The journalled submission of `data_root`.
    pub fn pending(&self, data_root: &B256) -> Result<Option<Pending>, StoreError> {
        self.get_json(PENDING, data_root.as_slice())
    }

    /// Journals a submission before it is sent.
    pub fn put_pending(&self, data_root: &B256, p: &Pending) -> Result<(), StoreError> {
        let v = serde_json::to_vec(p).map_err(|e| corrupt(data_root.as_slice(), e))?;
        self.db
            .put_cf_opt(cf(&self.db, PENDING), data_root.as_slice(), v, &durable())?;
        Ok(())
    }

    /// Records a payload that could not be archived any more, and why.
    pub fn put_missed(&self, data_root: &B256, reason: &str) -> Result<(), StoreError> {
        self.db.put_cf_opt(
            cf(&self.db, MISSED),
            data_root.as_slice(),
            reason.as_bytes(),
            &durable(),
        )?;
        Ok(())
    }

    /// Why `data_root` was missed, if it was.
    pub fn missed(&self, data_root: &B256) -> Result<Option<String>, StoreError> {
        Ok(self
            .db
            .get_cf(cf(&self.db, MISSED), data_root.as_slice())?
            .map(|v| String::from_utf8_lossy(&v).into_owned()))
    }

    /// The last block whose anchors are all archived (`None` before the first pass).
    pub fn cursor(&self) -> Result<Option<u64>, StoreError> {
        match self.db.get_cf(cf(&self.db, META), CURSOR)? {
            None => Ok(None),
            Some(v) => {
                let b: [u8; 8] = v
                    .as_slice()
                    .try_into()
                    .map_err(|_| corrupt(CURSOR, format!("{} bytes, expected 8", v.len())))?;
                Ok(Some(u64::from_be_bytes(b)))
            }
        }
    }

    /// Moves the cursor.
    pub fn set_cursor(&self, block: u64) -> Result<(), StoreError> {
        self.db
            .put_cf_opt(cf(&self.db, META), CURSOR, block.to_be_bytes(), &durable())?;
        Ok(())
    }

    /// Counts of archived, journalled and missed payloads (a scan: for status pages).
    pub fn counts(&self) -> (u64, u64, u64) {
        let count = |family: &str| {
            self.db
                .iterator_cf(cf(&self.db, family), rocksdb::IteratorMode::Start)
                .count() as u64
        };
        (count(PAYLOADS), count(PENDING), count(MISSED))
    }

    /// The newest `limit` archived entries by anchor block (a scan: for status pages).
    pub fn recent(&self, limit: usize) -> Vec<Entry> {
        let mut all: Vec<Entry> = self
            .db
            .iterator_cf(cf(&self.db, PAYLOADS), rocksdb::IteratorMode::Start)
            .filter_map(Result::ok)
            .filter_map(|(_, v)| serde_json::from_slice(&v).ok())
            .collect();
        all.sort_by_key(|e: &Entry| std::cmp::Reverse(e.block));
        all.truncate(limit);
        all
    }

    /// Flushes memtables (at shutdown).
    pub fn flush(&self) -> Result<(), StoreError> {
        Ok(self.db.flush()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(i: u8) -> Entry {
        Entry {
            data_root: B256::repeat_byte(i),
            storage_root: B256::repeat_byte(i ^ 0xff),
            seq: u64::from(i),
            size: 1000,
            epoch: 1,
            quorum_id: 0,
            block: u64::from(i) * 10,
            anchored_at: 5,
            archived_at: 6,
        }
    }

    #[test]
    fn entries_pending_cursor_survive_reopen() {
        let dir = zg_node_kit::TempDir::new("archive-index");
        {
            let idx = ArchiveIndex::open(&dir.0).unwrap();
            assert_eq!(idx.cursor().unwrap(), None);
            let p = Pending {
                storage_root: B256::repeat_byte(9),
                identity: B256::repeat_byte(8),
                nonce: 4,
                from_block: 77,
            };
            idx.put_pending(&B256::repeat_byte(1), &p).unwrap();
            idx.put_pending(&B256::repeat_byte(2), &p).unwrap();
            idx.put_entry(&entry(1)).unwrap();
            idx.put_missed(&B256::repeat_byte(3), "pruned").unwrap();
            idx.set_cursor(42).unwrap();
        }
        let idx = ArchiveIndex::open(&dir.0).unwrap();
        assert_eq!(idx.cursor().unwrap(), Some(42));
        assert_eq!(idx.entry(&B256::repeat_byte(1)).unwrap(), Some(entry(1)));
        assert!(idx.contains(&B256::repeat_byte(1)).unwrap());
        // Recording the entry cleared its journal; the other one stays.
        assert_eq!(idx.pending(&B256::repeat_byte(1)).unwrap(), None);
        assert_eq!(
            idx.pending(&B256::repeat_byte(2)).unwrap().unwrap().nonce,
            4
        );
        assert_eq!(
            idx.missed(&B256::repeat_byte(3)).unwrap().as_deref(),
            Some("pruned")
        );
        assert_eq!(idx.counts(), (1, 1, 1));
        idx.put_entry(&entry(7)).unwrap();
        let recent = idx.recent(1);
        assert_eq!(recent, vec![entry(7)]);
    }
}
