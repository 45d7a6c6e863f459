//! The DA node's store: headers, custody columns and the attestations it gave, in
//! RocksDB. A store request is persisted in one synced write batch before it is signed.
//!
//! Column families:
//! - `headers`: `data_root` → CBOR `{header, stored_at}`;
//! - `columns`: `data_root ‖ column (u16 BE)` → per blob `cell (2048) ‖ proof (48)`;
//! - `attestations`: `data_root ‖ epoch (u64 BE) ‖ quorum (u64 BE)` → BLS signature (96);
//! - `expiry`: `stored_at (u64 BE, unix s) ‖ data_root` → empty (retention index).

use std::path::Path;
use std::sync::Arc;

use alloy_primitives::{Address, B256, U256};
use rocksdb::{DB, Direction, IteratorMode, WriteBatch};
use serde::{Deserialize, Serialize};
use zg_primitives::{
    BYTES_PER_CELL, BlobHeader, BlsSignature, Cell, Certificate, Column, KzgProof,
};

use crate::error::StoreError;
use zg_node_kit::db;

const HEADERS: &str = "headers";
const COLUMNS: &str = "columns";
const ATTESTATIONS: &str = "attestations";
const EXPIRY: &str = "expiry";
const PROOF_LEN: usize = 48;

#[derive(Serialize, Deserialize)]
struct StoredHeader {
    header: BlobHeader,
    stored_at: u64,
}

/// The DA node's persistent store. Cheap to clone.
#[derive(Clone)]
pub struct NodeStore {
    db: Arc<DB>,
}

impl std::fmt::Debug for NodeStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeStore")
            .field("path", &self.db.path())
            .finish()
    }
}

fn column_key(root: &B256, index: u16) -> [u8; 34] {
    let mut k = [0u8; 34];
    k[..32].copy_from_slice(root.as_slice());
    k[32..].copy_from_slice(&index.to_be_bytes());
    k
}

fn attestation_key(root: &B256, epoch: u64, quorum: u64) -> [u8; 48] {
    let mut k = [0u8; 48];
    k[..32].copy_from_slice(root.as_slice());
    k[32..40].copy_from_slice(&epoch.to_be_bytes());
    k[40..].copy_from_slice(&quorum.to_be_bytes());
    k
}

fn expiry_key(stored_at: u64, root: &B256) -> [u8; 40] {
    let mut k = [0u8; 40];
    k[..8].copy_from_slice(&stored_at.to_be_bytes());
    k[8..].copy_from_slice(root.as_slice());
    k
}

fn encode_column(c: &Column) -> Vec<u8> {
    let mut out = Vec::with_capacity(c.cells.len() * (BYTES_PER_CELL + PROOF_LEN));
    for (cell, proof) in c.cells.iter().zip(&c.proofs) {
        out.extend_from_slice(cell.as_bytes());
        out.extend_from_slice(proof.as_bytes());
    }
    out
}

fn decode_column(index: u16, bytes: &[u8]) -> Option<Column> {
    let unit = BYTES_PER_CELL + PROOF_LEN;
    if !bytes.len().is_multiple_of(unit) {
        return None;
    }
    let mut cells = Vec::with_capacity(bytes.len() / unit);
    let mut proofs = Vec::with_capacity(bytes.len() / unit);
    for chunk in bytes.chunks_exact(unit) {
        cells.push(Cell::try_from(&chunk[..BYTES_PER_CELL]).ok()?);
        proofs.push(KzgProof::try_from(&chunk[BYTES_PER_CELL..]).ok()?);
    }
    Some(Column {
        index,
        cells,
        proofs,
    })
}

impl NodeStore {
    /// Opens (or creates) the store at `path`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        Ok(Self {
            db: db::open(path, &[HEADERS, COLUMNS, ATTESTATIONS, EXPIRY])?,
        })
    }

    /// The signature already given for `(data_root, epoch, quorum)`, if any.
    pub fn attestation(
        &self,
        root: &B256,
        epoch: u64,
        quorum: u64,
    ) -> Result<Option<BlsSignature>, StoreError> {
        let v = self.db.get_cf(
            db::cf(&self.db, ATTESTATIONS),
            attestation_key(root, epoch, quorum),
        )?;
        // The value is the signature, then (since deposit accounting) the payer and fee.
        v.map(|b| {
            BlsSignature::try_from(&b[..b.len().min(96)]).map_err(|e| StoreError::Corrupt {
                key: format!("attestation {root}"),
                reason: e.to_string(),
            })
        })
        .transpose()
    }

    /// Persists header, columns and the attestation given for `cert`, in one synced batch;
    /// with the disperser and the fee reserved against its deposit (`payer`), so a
    /// restarted node accounts what it signed for ([`NodeStore::reservations`]).
    pub fn put(
        &self,
        cert: &Certificate,
        header: &BlobHeader,
        columns: &[Column],
        signature: &BlsSignature,
        payer: Option<(Address, U256)>,
        now: u64,
    ) -> Result<(), StoreError> {
        let (root, epoch, quorum) = (&cert.data_root, cert.epoch, cert.quorum_id);
        let mut batch = WriteBatch::default();
        if self.header(root)?.is_none() {
            let mut h = Vec::new();
            ciborium::into_writer(
                &StoredHeader {
                    header: header.clone(),
                    stored_at: now,
                },
                &mut h,
            )
            .map_err(|e| StoreError::Db(e.to_string()))?;
            batch.put_cf(db::cf(&self.db, HEADERS), root, h);
            batch.put_cf(db::cf(&self.db, EXPIRY), expiry_key(now, root), []);
        }
        let cols = db::cf(&self.db, COLUMNS);
        for c in columns {
            batch.put_cf(cols, column_key(root, c.index), encode_column(c));
        }
        let mut value = signature.as_bytes().to_vec();
        if let Some((disperser, fee)) = payer {
            value.extend_from_slice(disperser.as_slice());
            value.extend_from_slice(&fee.to_be_bytes::<32>());
        }
        batch.put_cf(
            db::cf(&self.db, ATTESTATIONS),
            attestation_key(root, epoch, quorum),
            value,
        );
        self.db.write_opt(batch, &db::durable())?;
        Ok(())
    }

    fn stored_header(&self, root: &B256) -> Result<Option<StoredHeader>, StoreError> {
        let Some(bytes) = self.db.get_cf(db::cf(&self.db, HEADERS), root)? else {
            return Ok(None);
        };
        ciborium::from_reader(bytes.as_slice())
            .map(Some)
            .map_err(|e| StoreError::Corrupt {
                key: format!("header {root}"),
                reason: e.to_string(),
            })
    }

    /// The header of `data_root`.
    pub fn header(&self, root: &B256) -> Result<Option<BlobHeader>, StoreError> {
        Ok(self.stored_header(root)?.map(|s| s.header))
    }

    /// Column `index` of `data_root`.
    pub fn column(&self, root: &B256, index: u16) -> Result<Option<Column>, StoreError> {
        let Some(bytes) = self
            .db
            .get_cf(db::cf(&self.db, COLUMNS), column_key(root, index))?
        else {
            return Ok(None);
        };
        decode_column(index, &bytes)
            .map(Some)
            .ok_or_else(|| StoreError::Corrupt {
                key: format!("column {root}/{index}"),
                reason: format!("{} bytes", bytes.len()),
            })
    }

    /// Every certificate this node signed for with `epoch >= min_epoch`, in key order.
    pub fn attested(&self, min_epoch: u64) -> Result<Vec<Certificate>, StoreError> {
        let mut out = Vec::new();
        for item in self
            .db
            .iterator_cf(db::cf(&self.db, ATTESTATIONS), IteratorMode::Start)
        {
            let (key, _) = item?;
            if key.len() != 48 {
                return Err(StoreError::Corrupt {
                    key: hex::encode(&key),
                    reason: "attestation key length".into(),
                });
            }
            let epoch = u64::from_be_bytes(key[32..40].try_into().expect("8 bytes"));
            if epoch >= min_epoch {
                out.push(Certificate {
                    data_root: B256::from_slice(&key[..32]),
                    epoch,
                    quorum_id: u64::from_be_bytes(key[40..48].try_into().expect("8 bytes")),
                });
            }
        }
        Ok(out)
    }

    /// Every attestation with `epoch >= min_epoch` that records its payer: the
    /// certificate, the disperser and the fee reserved against its deposit.
    pub fn reservations(
        &self,
        min_epoch: u64,
    ) -> Result<Vec<(Certificate, Address, U256)>, StoreError> {
        let mut out = Vec::new();
        for item in self
            .db
            .iterator_cf(db::cf(&self.db, ATTESTATIONS), IteratorMode::Start)
        {
            let (key, value) = item?;
            if key.len() != 48 {
                return Err(StoreError::Corrupt {
                    key: hex::encode(&key),
                    reason: "attestation key length".into(),
                });
            }
            let epoch = u64::from_be_bytes(key[32..40].try_into().expect("8 bytes"));
            if epoch < min_epoch || value.len() != 96 + 20 + 32 {
                continue; // out of the window, or written before payers were recorded
            }
            out.push((
                Certificate {
                    data_root: B256::from_slice(&key[..32]),
                    epoch,
                    quorum_id: u64::from_be_bytes(key[40..48].try_into().expect("8 bytes")),
                },
                Address::from_slice(&value[96..116]),
                U256::from_be_slice(&value[116..148]),
            ));
        }
        Ok(out)
    }

    /// Deletes every payload stored before `cutoff` (unix seconds); returns how many.
    pub fn prune(&self, cutoff: u64) -> Result<usize, StoreError> {
        let expiry = db::cf(&self.db, EXPIRY);
        let mut pruned = 0;
        let mut batch = WriteBatch::default();
        for item in self
            .db
            .iterator_cf(expiry, IteratorMode::From(&[], Direction::Forward))
        {
            let (key, _) = item?;
            let stored_at = u64::from_be_bytes(key[..8].try_into().expect("expiry key"));
            if stored_at >= cutoff {
                break;
            }
            let root = B256::from_slice(&key[8..40]);
            batch.delete_cf(expiry, &key);
            batch.delete_cf(db::cf(&self.db, HEADERS), root);
            batch.delete_range_cf(
                db::cf(&self.db, COLUMNS),
                column_key(&root, 0),
                column_key(&root, u16::MAX),
            );
            batch.delete_range_cf(
                db::cf(&self.db, ATTESTATIONS),
                attestation_key(&root, 0, 0),
                attestation_key(&root, u64::MAX, u64::MAX),
            );
            pruned += 1;
        }
        if pruned > 0 {
            self.db.write_opt(batch, &db::durable())?;
        }
        Ok(pruned)
    }

    /// Removes a payload's columns, keeping its header and attestations: the node
    /// then serves nothing of it and wins no sampling round with it, though it signed.
    /// (Retention uses [`NodeStore::prune`]; this serves operators freeing the cells of
    /// one payload, and fault tests modelling a node that throws its columns away.)
    pub fn drop_columns(&self, root: &B256) -> Result<(), StoreError> {
        let mut batch = WriteBatch::default();
        batch.delete_range_cf(
            db::cf(&self.db, COLUMNS),
            column_key(root, 0),
            column_key(root, u16::MAX),
        );
        self.db.write_opt(batch, &db::durable())?;
        Ok(())
    }

    /// Number of payloads held.
    pub fn payload_count(&self) -> usize {
        self.db
            .iterator_cf(db::cf(&self.db, HEADERS), IteratorMode::Start)
            .count()
    }

    /// Flushes memtables (shutdown).
    pub fn flush(&self) -> Result<(), StoreError> {
        for cf in [HEADERS, COLUMNS, ATTESTATIONS, EXPIRY] {
            self.db.flush_cf(db::cf(&self.db, cf))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_codec_round_trip() {
        let c = Column {
            index: 7,
            cells: vec![Cell(Box::new([3u8; BYTES_PER_CELL])); 2],
            proofs: vec![KzgProof([9u8; 48]); 2],
        };
        assert_eq!(decode_column(7, &encode_column(&c)), Some(c));
        assert_eq!(decode_column(7, &[0u8; 10]), None);
    }

    #[test]
    fn retention_prunes_old_payloads_only() {
        let dir = std::env::temp_dir().join(format!("zg-node-store-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let store = NodeStore::open(&dir).unwrap();
        let header = BlobHeader::new(10, vec![zg_primitives::KzgCommitment([1u8; 48])]);
        let column = Column {
            index: 3,
            cells: vec![Cell(Box::new([5u8; BYTES_PER_CELL]))],
            proofs: vec![KzgProof([6u8; 48])],
        };
        let sig = BlsSignature([7u8; 96]);
        let old = Certificate {
            epoch: 1,
            quorum_id: 0,
            data_root: B256::repeat_byte(1),
        };
        let new = Certificate {
            epoch: 1,
            quorum_id: 0,
            data_root: B256::repeat_byte(2),
        };
        store
            .put(
                &old,
                &header,
                std::slice::from_ref(&column),
                &sig,
                None,
                100,
            )
            .unwrap();
        store
            .put(
                &new,
                &header,
                std::slice::from_ref(&column),
                &sig,
                None,
                200,
            )
            .unwrap();
        // A repeat for another quorum keeps the first storage time.
        let again = Certificate {
            quorum_id: 1,
            ..old
        };
        store
            .put(
                &again,
                &header,
                std::slice::from_ref(&column),
                &sig,
                None,
                300,
            )
            .unwrap();
        assert_eq!(store.payload_count(), 2);
        assert_eq!(store.attested(0).unwrap().len(), 3);
        assert_eq!(store.attested(2).unwrap(), vec![]);
        assert_eq!(store.prune(150).unwrap(), 1);
        assert_eq!(store.header(&old.data_root).unwrap(), None);
        assert_eq!(store.column(&old.data_root, 3).unwrap(), None);
        assert_eq!(store.attestation(&old.data_root, 1, 0).unwrap(), None);
        assert_eq!(store.attestation(&old.data_root, 1, 1).unwrap(), None);
        assert_eq!(store.column(&new.data_root, 3).unwrap(), Some(column));
        assert_eq!(store.attestation(&new.data_root, 1, 0).unwrap(), Some(sig));
        assert_eq!(store.prune(150).unwrap(), 0);
        drop(store);
        // Reopened, the data is still there.
        let store = NodeStore::open(&dir).unwrap();
        assert_eq!(store.payload_count(), 1);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
