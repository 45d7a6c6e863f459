//! The disperser's journal in RocksDB: every accepted request and its payload are
//! persisted (synced) before the request is acknowledged, and every status change is
//! recorded, so a restart resumes each unfinished request where it can.
//!
//! Column families: `requests` (`id` → JSON [`BlobRecord`]), `payloads` (`id` → payload,
//! deleted once confirmed), `roots` (`data_root` → `id`).

use std::path::Path;
use std::sync::Arc;

use alloy_primitives::{B256, Bytes, U256};
use rocksdb::{DB, IteratorMode, WriteBatch};
use serde::{Deserialize, Serialize};
use zg_primitives::abi::IDAEntrance::CommitRootSubmission;
use zg_primitives::{AltDaCommitment, Certificate};

use crate::db;
use crate::error::StoreError;

const REQUESTS: &str = "requests";
const PAYLOADS: &str = "payloads";
const ROOTS: &str = "roots";

/// Where a request is in the pipeline.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BlobStatus {
    /// Journaled, waiting for a worker.
    Queued,
    /// Being erasure-coded.
    Encoding,
    /// Columns are being sent to a quorum.
    Dispersing,
    /// Signatures aggregated; the anchoring transaction is pending.
    Anchoring,
    /// Anchored on chain; the certificate is final.
    Confirmed,
    /// Gave up; see `reason`.
    Failed,
}

impl BlobStatus {
    /// Whether the request is finished.
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Confirmed | Self::Failed)
    }
}

/// A signed submission waiting to be anchored (persisted so a restart goes straight to
/// anchoring).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingAnchor {
    /// Epoch.
    pub epoch: u64,
    /// Quorum.
    pub quorum_id: u64,
    /// Blobs.
    pub blob_count: u32,
    /// Signer bitmap over the ordered quorum.
    pub signers_bitmap: Bytes,
    /// Aggregate BLS signature.
    pub aggregate_signature: Bytes,
}

/// A request's journal record, also the API's status document.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobRecord {
    /// Request id: `keccak256(payload)`.
    pub id: B256,
    /// Pipeline status.
    pub status: BlobStatus,
    /// Payload size in bytes.
    pub size: u64,
    /// Unix milliseconds when accepted.
    pub created_at_ms: u64,
    /// Unix milliseconds of the last change.
    pub updated_at_ms: u64,
    /// The payload's data_root, once encoded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_root: Option<B256>,
    /// Number of blobs, once encoded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blob_count: Option<u32>,
    /// Signatures gathered / needed, once dispersed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signers: Option<(usize, usize)>,
    /// The submission being anchored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_anchor: Option<PendingAnchor>,
    /// The certificate, once anchored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate: Option<Certificate>,
    /// The OP alt-DA generic commitment of the certificate, hex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commitment: Option<String>,
    /// The anchoring transaction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tx_hash: Option<B256>,
    /// Why it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Whether the failure means no quorum could certify (HTTP 503).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub no_quorum: bool,
    /// Whether the failure means the DA layer cannot certify for now (no quorum reached
    /// its threshold, or the chain did not anchor): HTTP 503, worth a later retry or a
    /// failover, never a sign of bad input.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unavailable: bool,
}

impl BlobRecord {
    /// A freshly accepted request.
    pub fn new(id: B256, size: u64, now_ms: u64) -> Self {
        Self {
            id,
            status: BlobStatus::Queued,
            size,
            created_at_ms: now_ms,
            updated_at_ms: now_ms,
            data_root: None,
            blob_count: None,
            signers: None,
            pending_anchor: None,
            certificate: None,
            commitment: None,
            tx_hash: None,
            reason: None,
            no_quorum: false,
            unavailable: false,
        }
    }

    /// Marks the record confirmed with `cert`.
    pub fn confirm(&mut self, cert: Certificate, tx_hash: Option<B256>) {
        self.status = BlobStatus::Confirmed;
        self.certificate = Some(cert);
        self.commitment = Some(zg_primitives::to_hex(
            &AltDaCommitment::Generic(cert).to_bytes(),
        ));
        self.tx_hash = tx_hash;
        self.pending_anchor = None;
        self.reason = None;
    }

    /// The chain submission of a pending anchor.
    pub fn submission(&self) -> Option<CommitRootSubmission> {
        let p = self.pending_anchor.as_ref()?;
        Some(CommitRootSubmission {
            dataRoot: self.data_root?,
            epoch: U256::from(p.epoch),
            quorumId: U256::from(p.quorum_id),
            blobCount: U256::from(p.blob_count),
            signersBitmap: p.signers_bitmap.clone(),
            aggregateSignature: p.aggregate_signature.clone(),
        })
    }
}

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
