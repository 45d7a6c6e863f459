//! The disperser's journal in RocksDB: every accepted request and its payload are
//! persisted (synced) before the request is acknowledged, and each state a restart
//! resumes from is recorded once (signed and waiting for its anchor, confirmed, failed);
//! the transient encoding and dispersing states live in memory only, so a restart
//! resumes each unfinished request where it can at one synced write per state.
//!
//! Column families: `requests` (`id` → JSON [`BlobRecord`]), `payloads` (`id` → payload,
//! deleted once confirmed), `roots` (`data_root` → `id`).

use std::path::Path;
use std::sync::Arc;

use alloy_primitives::B256;
use rocksdb::{DB, IteratorMode, WriteBatch};
pub use zg_da_client::disperse::{BlobRecord, BlobStatus, PendingAnchor};
use zg_node_kit::db;

use crate::error::StoreError;

const REQUESTS: &str = "requests";
const PAYLOADS: &str = "payloads";
const ROOTS: &str = "roots";

/// The disperser's journal. Cheap to clone.
#[derive(Clone)]
pub struct Journal {
    db: Arc<DB>,
}

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Journal")
            .field("path", &self.db.path())
            .finish()
    }
}

fn corrupt(key: &B256, e: impl ToString) -> StoreError {
    StoreError::Corrupt {
        key: key.to_string(),
        reason: e.to_string(),
    }
}

impl Journal {
    /// Opens (or creates) the journal.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        Ok(Self {
            db: db::open(path, &[REQUESTS, PAYLOADS, ROOTS])?,
        })
    }

    /// Persists a new request and its payload (synced).
    pub fn accept(&self, record: &BlobRecord, payload: &[u8]) -> Result<(), StoreError> {
        let mut batch = WriteBatch::default();
        batch.put_cf(
            db::cf(&self.db, REQUESTS),
            record.id,
            serde_json::to_vec(record).expect("record serializes"),
        );
        batch.put_cf(db::cf(&self.db, PAYLOADS), record.id, payload);
        self.db.write_opt(batch, &db::durable())?;
        Ok(())
    }

    /// Records a status change (synced); a confirmed record's payload is dropped.
    pub fn update(&self, record: &BlobRecord) -> Result<(), StoreError> {
        let mut batch = WriteBatch::default();
        batch.put_cf(
            db::cf(&self.db, REQUESTS),
            record.id,
            serde_json::to_vec(record).expect("record serializes"),
        );
        if let Some(root) = record.data_root {
            batch.put_cf(db::cf(&self.db, ROOTS), root, record.id);
        }
        if record.status == BlobStatus::Confirmed {
            batch.delete_cf(db::cf(&self.db, PAYLOADS), record.id);
        }
        self.db.write_opt(batch, &db::durable())?;
        Ok(())
    }

    /// A request's record.
    pub fn get(&self, id: &B256) -> Result<Option<BlobRecord>, StoreError> {
        self.db
            .get_cf(db::cf(&self.db, REQUESTS), id)?
            .map(|b| serde_json::from_slice(&b).map_err(|e| corrupt(id, e)))
            .transpose()
    }

    /// The payload of an unfinished request.
    pub fn payload(&self, id: &B256) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.db.get_cf(db::cf(&self.db, PAYLOADS), id)?)
    }

    /// The request that produced `data_root`.
    pub fn by_root(&self, root: &B256) -> Result<Option<BlobRecord>, StoreError> {
        match self.db.get_cf(db::cf(&self.db, ROOTS), root)? {
            Some(id) if id.len() == 32 => self.get(&B256::from_slice(&id)),
            Some(_) => Err(corrupt(root, "bad id")),
            None => Ok(None),
        }
    }

    /// Every unfinished request (to resume after a restart).
    pub fn unfinished(&self) -> Result<Vec<BlobRecord>, StoreError> {
        let mut out = Vec::new();
        for item in self
            .db
            .iterator_cf(db::cf(&self.db, REQUESTS), IteratorMode::Start)
        {
            let (k, v) = item?;
            let r: BlobRecord =
                serde_json::from_slice(&v).map_err(|e| corrupt(&B256::from_slice(&k), e))?;
            if !r.status.is_terminal() {
                out.push(r);
            }
        }
        Ok(out)
    }

    /// Flushes memtables (shutdown).
    pub fn flush(&self) -> Result<(), StoreError> {
        for cf in [REQUESTS, PAYLOADS, ROOTS] {
            self.db.flush_cf(db::cf(&self.db, cf))?;
        }
        Ok(())
    }
}
