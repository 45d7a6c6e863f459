//! The storage node's RocksDB store: submissions learnt from the chain, segments, and the
//! chain-follow cursor. Every acknowledged write is synced before it is acknowledged.
//!
//! Column families:
//! - `tx`: `seq (u64 BE)` → [`TxRecord`] (CBOR);
//! - `root`: `root ‖ seq` → empty (the submissions of a root, in order);
//! - `seg`: `seq ‖ index (u64 BE)` → this node's [`ShardRecord`] of the segment (the
//!   whole segment without a cluster);
//! - `leaf`: `seq ‖ index` → the segment's root (its leaf in the file tree);
//! - `pending`: `seq` → empty while the submission is not finalized here;
//! - `meta`: `cursor` → [`SyncCursor`] (CBOR).

use std::path::Path;
use std::sync::Arc;

use alloy_primitives::{Address, B256};
use parking_lot::Mutex;
use rocksdb::{DB, Direction, IteratorMode, WriteBatch};
use serde::{Deserialize, Serialize};
use zg_node_kit::confirm::Checkpoints;
use zg_node_kit::db::{self, durable};

use crate::error::StoreError;
use crate::merkle::FileLayout;
use crate::types::{FileInfo, ShardItem, Transaction, stream_ids};

const CF_TX: &str = "tx";
const CF_ROOT: &str = "root";
const CF_SEG: &str = "seg";
const CF_LEAF: &str = "leaf";
const CF_PENDING: &str = "pending";
const CF_META: &str = "meta";
const CFS: [&str; 6] = [CF_TX, CF_ROOT, CF_SEG, CF_LEAF, CF_PENDING, CF_META];
const CURSOR: &[u8] = b"cursor";
const CHECKPOINTS: &[u8] = b"checkpoints";
/// `rewind ‖ generation` → the first submission seq a rewind removed.
const REWIND: &[u8] = b"rewind/";

/// A submission as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxRecord {
    /// Submission index.
    pub seq: u64,
    /// File root (right fold of the nodes).
    pub root: B256,
    /// File size in bytes.
    pub size: u64,
    /// First flow entry.
    pub start_entry: u64,
    /// Submission nodes `(height, root)`.
    pub nodes: Vec<(u32, B256)>,
    /// Submission tags.
    pub tags: Vec<u8>,
    /// Who submitted.
    pub sender: Address,
    /// Block of the `Submit` event.
    pub block: u64,
    /// Segments stored.
    pub uploaded: u64,
    /// Every segment is stored.
    pub finalized: bool,
    /// Whose segments hold the data: this submission, or an earlier finalized one of the
    /// same root.
    pub data_seq: u64,
}

impl TxRecord {
    /// The file's layout.
    pub fn layout(&self) -> FileLayout {
        FileLayout { size: self.size }
    }

    /// Segments of the file.
    pub fn segments(&self) -> u64 {
        self.layout().segments()
    }

    /// 0G's `FileInfo`.
    pub fn file_info(&self) -> FileInfo {
        FileInfo {
            tx: Transaction {
                stream_ids: stream_ids(&self.tags)
                    .into_iter()
                    .map(|b| alloy_primitives::U256::from_be_bytes(b.0))
                    .collect(),
                data: Vec::new(),
                data_merkle_root: self.root,
                merkle_nodes: self
                    .nodes
                    .iter()
                    .map(|(h, r)| (u64::from(*h) + 1, *r))
                    .collect(),
                start_entry_index: self.start_entry,
                size: self.size,
                seq: self.seq,
            },
            finalized: self.finalized,
            is_cached: false,
            uploaded_seg_num: self.uploaded,
            pruned: false,
        }
    }
}

/// What a node holds of one segment: its shard (the whole segment without a cluster),
/// the segment's length, and the hashes of all its shards.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardRecord {
    /// The segment's length in bytes.
    pub seg_len: u32,
    /// This shard's position among the segment's shards.
    pub position: u16,
    /// keccak256 of every shard by position (empty without a cluster).
    pub manifest: Vec<B256>,
    /// The shard's bytes.
    #[serde(with = "serde_bytes")]
    pub data: Vec<u8>,
}

impl ShardItem {
    /// The record a member stores.
    pub fn record(&self) -> ShardRecord {
        ShardRecord {
            seg_len: self.seg_len,
            position: self.position,
            manifest: self.manifest.clone(),
            data: self.data.clone(),
        }
    }
}

/// How far the node has followed the chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncCursor {
    /// Last block whose submissions are applied.
    pub block: u64,
    /// Its hash.
    pub hash: B256,
    /// Next submission index expected.
    pub next_seq: u64,
}

/// What a segment upload did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PutOutcome {
    /// Segments newly stored.
    pub stored: usize,
    /// The submission after the write.
    pub tx: TxRecord,
}

/// The store. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    db: Arc<DB>,
    write: Arc<Mutex<()>>,
}

fn seq_key(seq: u64) -> [u8; 8] {
    seq.to_be_bytes()
}

fn seg_key(seq: u64, index: u64) -> [u8; 16] {
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(&seq.to_be_bytes());
    k[8..].copy_from_slice(&index.to_be_bytes());
    k
}

fn root_key(root: &B256, seq: u64) -> [u8; 40] {
    let mut k = [0u8; 40];
    k[..32].copy_from_slice(root.as_slice());
    k[32..].copy_from_slice(&seq.to_be_bytes());
    k
}

fn encode<T: Serialize>(v: &T) -> Vec<u8> {
    let mut out = Vec::new();
    ciborium::into_writer(v, &mut out).expect("CBOR encoding to a Vec");
    out
}

fn decode<T: for<'de> Deserialize<'de>>(key: &str, bytes: &[u8]) -> Result<T, StoreError> {
    ciborium::from_reader(bytes).map_err(|e| StoreError::Corrupt {
        key: key.to_string(),
        reason: e.to_string(),
    })
}

impl Store {
    /// Opens (or creates) the store at `path`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let db = db::open_with(path, &CFS, rocksdb::DBCompressionType::None)?;
        Ok(Self {
            db,
            write: Arc::new(Mutex::new(())),
        })
    }

    fn cf(&self, name: &str) -> &rocksdb::ColumnFamily {
        db::cf(&self.db, name)
    }

    /// The submission `seq`.
    pub fn tx(&self, seq: u64) -> Result<Option<TxRecord>, StoreError> {
        match self.db.get_cf(self.cf(CF_TX), seq_key(seq))? {
            Some(v) => decode(&format!("tx/{seq}"), &v).map(Some),
            None => Ok(None),
        }
    }

    /// The submissions of `root`, oldest first.
    pub fn txs_of_root(&self, root: &B256) -> Result<Vec<u64>, StoreError> {
        let mut out = Vec::new();
        let iter = self.db.iterator_cf(
            self.cf(CF_ROOT),
            IteratorMode::From(root.as_slice(), Direction::Forward),
        );
        for item in iter {
            let (k, _) = item?;
            if !k.starts_with(root.as_slice()) || k.len() != 40 {
                break;
            }
            out.push(u64::from_be_bytes(k[32..].try_into().expect("8 bytes")));
        }
        Ok(out)
    }

    /// The submission of `root` a `FileInfo` request means (0G's choice): the first
    /// finalized one, else the first.
    pub fn tx_of_root(&self, root: &B256) -> Result<Option<TxRecord>, StoreError> {
        let mut first = None;
        for seq in self.txs_of_root(root)? {
            if let Some(tx) = self.tx(seq)? {
                if tx.finalized {
                    return Ok(Some(tx));
                }
                first.get_or_insert(tx);
            }
        }
        Ok(first)
    }

    /// A finalized submission of the same file: the same root and the same size (a root
    /// alone does not fix the size, as trailing zero bytes do not change it).
    pub fn finalized_copy(&self, root: &B256, size: u64) -> Result<Option<TxRecord>, StoreError> {
        for seq in self.txs_of_root(root)? {
            if let Some(tx) = self.tx(seq)?.filter(|t| t.finalized && t.size == size) {
                return Ok(Some(tx));
            }
        }
        Ok(None)
    }

    /// The chain-follow cursor.
    pub fn cursor(&self) -> Result<Option<SyncCursor>, StoreError> {
        match self.db.get_cf(self.cf(CF_META), CURSOR)? {
            Some(v) => decode("meta/cursor", &v).map(Some),
            None => Ok(None),
        }
    }

    /// The blocks the follower applied (to find where a reorg forked).
    pub fn checkpoints(&self) -> Result<Checkpoints, StoreError> {
        match self.db.get_cf(self.cf(CF_META), CHECKPOINTS)? {
            Some(v) => decode("meta/checkpoints", &v),
            None => Ok(Checkpoints::default()),
        }
    }

    /// The rewinds so far, oldest first: `(generation, first seq removed)`.
    pub fn rewinds(&self) -> Result<Vec<(u64, u64)>, StoreError> {
        let mut out = Vec::new();
        let iter = self.db.iterator_cf(
            self.cf(CF_META),
            IteratorMode::From(REWIND, Direction::Forward),
        );
        for item in iter {
            let (k, v) = item?;
            if !k.starts_with(REWIND) {
                break;
            }
            let g = k[REWIND.len()..].try_into().ok().map(u64::from_be_bytes);
            let s = v.as_ref().try_into().ok().map(u64::from_be_bytes);
            match (g, s) {
                (Some(g), Some(s)) => out.push((g, s)),
                _ => {
                    return Err(StoreError::Corrupt {
                        key: "meta/rewind".into(),
                        reason: "not two big-endian u64".into(),
                    });
                }
            }
        }
        Ok(out)
    }

    /// Undoes every submission of the blocks above `fork` (a reorg replaced them): their
    /// records, root index entries and segments go, the cursor moves back to `fork` and
    /// a rewind marker (for the KV layer) is written, in one synced write. The number
    /// of submissions removed.
    pub fn rewind(&self, fork: u64, fork_hash: B256) -> Result<u64, StoreError> {
        let _w = self.write.lock();
        let Some(cursor) = self.cursor()? else {
            return Ok(0);
        };
        let mut batch = WriteBatch::default();
        let mut first = cursor.next_seq;
        while first > 0 {
            let Some(tx) = self.tx(first - 1)? else { break };
            if tx.block <= fork {
                break;
            }
            first -= 1;
            batch.delete_cf(self.cf(CF_TX), seq_key(tx.seq));
            batch.delete_cf(self.cf(CF_ROOT), root_key(&tx.root, tx.seq));
            batch.delete_cf(self.cf(CF_PENDING), seq_key(tx.seq));
        }
        let removed = cursor.next_seq - first;
        // Segments are stored under their own seq: everything from `first` on goes.
        let (lo, hi) = (seg_key(first, 0), seg_key(u64::MAX, u64::MAX));
        batch.delete_range_cf(self.cf(CF_SEG), lo, hi);
        batch.delete_range_cf(self.cf(CF_LEAF), lo, hi);
        let mut checkpoints = self.checkpoints()?;
        checkpoints.truncate_above(fork);
        batch.put_cf(self.cf(CF_META), CHECKPOINTS, encode(&checkpoints));
        batch.put_cf(
            self.cf(CF_META),
            CURSOR,
            encode(&SyncCursor {
                block: fork,
                hash: fork_hash,
                next_seq: first,
            }),
        );
        let generation = self.rewinds()?.last().map_or(0, |r| r.0 + 1);
        let mut key = REWIND.to_vec();
        key.extend_from_slice(&generation.to_be_bytes());
        batch.put_cf(self.cf(CF_META), key, first.to_be_bytes());
        self.db.write_opt(batch, &durable())?;
        Ok(removed)
    }

    /// Applies the submissions of the blocks up to `cursor.block` and moves the cursor,
    /// atomically. A submission of a file already finalized (same root and size) is
    /// finalized at once and shares that data.
    pub fn apply_submissions(
        &self,
        txs: Vec<TxRecord>,
        cursor: SyncCursor,
    ) -> Result<(), StoreError> {
        let _w = self.write.lock();
        let mut batch = WriteBatch::default();
        let mut finalized_roots: Vec<(B256, TxRecord)> = Vec::new();
        for mut tx in txs {
            let earlier = match finalized_roots
                .iter()
                .find(|(r, t)| *r == tx.root && t.size == tx.size)
            {
                Some((_, t)) => Some(t.clone()),
                None => self.finalized_copy(&tx.root, tx.size)?,
            };
            if let Some(done) = earlier {
                tx.finalized = true;
                tx.uploaded = tx.segments();
                tx.data_seq = done.data_seq;
                finalized_roots.push((tx.root, tx.clone()));
            }
            batch.put_cf(self.cf(CF_TX), seq_key(tx.seq), encode(&tx));
            batch.put_cf(self.cf(CF_ROOT), root_key(&tx.root, tx.seq), []);
            if !tx.finalized {
                batch.put_cf(self.cf(CF_PENDING), seq_key(tx.seq), []);
            }
        }
        batch.put_cf(self.cf(CF_META), CURSOR, encode(&cursor));
        let mut checkpoints = self.checkpoints()?;
        checkpoints.push(cursor.block, cursor.hash);
        batch.put_cf(self.cf(CF_META), CHECKPOINTS, encode(&checkpoints));
        self.db.write_opt(batch, &durable())?;
        Ok(())
    }

    /// Whether segment `index` of submission `seq` is stored.
    pub fn has_segment(&self, seq: u64, index: u64) -> Result<bool, StoreError> {
        Ok(self
            .db
            .get_pinned_cf(self.cf(CF_SEG), seg_key(seq, index))?
            .is_some())
    }

    /// Stores checked shards of submission `seq`'s segments (skipping those already
    /// stored), counts them and finalizes the submission when it is complete; synced
    /// before it returns. `None` when the submission is unknown.
    pub fn put_segments(
        &self,
        seq: u64,
        segments: Vec<(u64, B256, ShardRecord)>,
    ) -> Result<Option<PutOutcome>, StoreError> {
        let _w = self.write.lock();
        let Some(mut tx) = self.tx(seq)? else {
            return Ok(None);
        };
        let mut batch = WriteBatch::default();
        let mut stored = 0;
        let mut seen = std::collections::HashSet::new();
        if !tx.finalized {
            for (index, leaf, data) in segments {
                if !seen.insert(index) || self.has_segment(seq, index)? {
                    continue;
                }
                batch.put_cf(self.cf(CF_SEG), seg_key(seq, index), encode(&data));
                batch.put_cf(self.cf(CF_LEAF), seg_key(seq, index), leaf.as_slice());
                stored += 1;
            }
        }
        if stored > 0 {
            tx.uploaded += stored as u64;
            tx.finalized = tx.uploaded >= tx.segments();
            batch.put_cf(self.cf(CF_TX), seq_key(seq), encode(&tx));
            if tx.finalized {
                batch.delete_cf(self.cf(CF_PENDING), seq_key(seq));
                // Other submissions of the same file (root and size) share the data
                // (0G copies it).
                for other in self.txs_of_root(&tx.root)? {
                    if other == seq {
                        continue;
                    }
                    if let Some(mut o) = self
                        .tx(other)?
                        .filter(|o| !o.finalized && o.size == tx.size)
                    {
                        o.finalized = true;
                        o.uploaded = o.segments();
                        o.data_seq = seq;
                        batch.put_cf(self.cf(CF_TX), seq_key(other), encode(&o));
                        batch.delete_cf(self.cf(CF_PENDING), seq_key(other));
                    }
                }
            }
            self.db.write_opt(batch, &durable())?;
        }
        Ok(Some(PutOutcome { stored, tx }))
    }

    /// This node's record of segment `index` of the data of submission `data_seq`.
    pub fn segment(&self, data_seq: u64, index: u64) -> Result<Option<ShardRecord>, StoreError> {
        match self.db.get_cf(self.cf(CF_SEG), seg_key(data_seq, index))? {
            Some(v) => decode(&format!("seg/{data_seq}/{index}"), &v).map(Some),
            None => Ok(None),
        }
    }

    /// The leaf (segment root) of segment `index` of submission `data_seq`'s data.
    pub fn leaf(&self, data_seq: u64, index: u64) -> Result<Option<B256>, StoreError> {
        match self
            .db
            .get_pinned_cf(self.cf(CF_LEAF), seg_key(data_seq, index))?
        {
            Some(v) if v.len() == 32 => Ok(Some(B256::from_slice(&v))),
            Some(_) => Err(StoreError::Corrupt {
                key: format!("leaf/{data_seq}/{index}"),
                reason: "not 32 bytes".into(),
            }),
            None => Ok(None),
        }
    }

    /// The leaves of segments `0..count` of submission `data_seq`'s data, if all are
    /// stored.
    pub fn leaves(&self, data_seq: u64, count: u64) -> Result<Option<Vec<B256>>, StoreError> {
        let keys: Vec<[u8; 16]> = (0..count).map(|i| seg_key(data_seq, i)).collect();
        let cf = self.cf(CF_LEAF);
        let mut out = Vec::with_capacity(count as usize);
        for (i, v) in self
            .db
            .batched_multi_get_cf(cf, keys.iter(), true)
            .into_iter()
            .enumerate()
        {
            match v? {
                Some(v) if v.len() == 32 => out.push(B256::from_slice(&v)),
                Some(_) => {
                    return Err(StoreError::Corrupt {
                        key: format!("leaf/{data_seq}/{i}"),
                        reason: "not 32 bytes".into(),
                    });
                }
                None => return Ok(None),
            }
        }
        Ok(Some(out))
    }

    /// Submissions not finalized here, oldest first (at most `limit`).
    pub fn pending(&self, limit: usize) -> Result<Vec<u64>, StoreError> {
        let mut out = Vec::new();
        for item in self
            .db
            .iterator_cf(self.cf(CF_PENDING), IteratorMode::Start)
        {
            let (k, _) = item?;
            if out.len() >= limit {
                break;
            }
            out.push(u64::from_be_bytes(k[..8].try_into().map_err(|_| {
                StoreError::Corrupt {
                    key: "pending".into(),
                    reason: "short key".into(),
                }
            })?));
        }
        Ok(out)
    }

    /// Flushes memtables (at shutdown; the WAL already holds every acknowledged write).
    pub fn flush(&self) -> Result<(), StoreError> {
        for cf in CFS {
            self.db.flush_cf(self.cf(cf))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(seq: u64, block: u64, root: u8) -> TxRecord {
        TxRecord {
            seq,
            root: B256::repeat_byte(root),
            size: 100,
            start_entry: 1 + seq,
            nodes: vec![(0, B256::repeat_byte(root))],
            tags: Vec::new(),
            sender: Address::ZERO,
            block,
            uploaded: 0,
            finalized: false,
            data_seq: seq,
        }
    }

    fn cursor(block: u64, next_seq: u64) -> SyncCursor {
        SyncCursor {
            block,
            hash: B256::with_last_byte(block as u8),
            next_seq,
        }
    }

    #[test]
    fn a_rewind_undoes_exactly_the_blocks_above_the_fork() {
        let dir = zg_node_kit::TempDir::new("store-rewind");
        let store = Store::open(&dir.0).unwrap();
        store
            .apply_submissions(vec![record(0, 3, 1), record(1, 5, 2)], cursor(5, 2))
            .unwrap();
        store
            .apply_submissions(vec![record(2, 7, 3), record(3, 9, 5)], cursor(10, 4))
            .unwrap();
        let seg = ShardRecord {
            seg_len: 100,
            position: 0,
            manifest: Vec::new(),
            data: vec![7; 100],
        };
        store
            .put_segments(1, vec![(0, B256::repeat_byte(9), seg.clone())])
            .unwrap();
        store
            .put_segments(3, vec![(0, B256::repeat_byte(9), seg)])
            .unwrap();
        assert_eq!(
            store
                .checkpoints()
                .unwrap()
                .newest_first()
                .collect::<Vec<_>>(),
            vec![(10, cursor(10, 0).hash), (5, cursor(5, 0).hash)]
        );
        assert!(store.rewinds().unwrap().is_empty());

        // Blocks 6.. were replaced: submissions 2 and 3 go, with their index and data.
        let fork = cursor(5, 2);
        assert_eq!(store.rewind(5, fork.hash).unwrap(), 2);
        assert_eq!(store.cursor().unwrap(), Some(fork));
        assert!(store.tx(2).unwrap().is_none() && store.tx(3).unwrap().is_none());
        assert_eq!(store.txs_of_root(&B256::repeat_byte(1)).unwrap(), vec![0]);
        assert!(store.txs_of_root(&B256::repeat_byte(3)).unwrap().is_empty());
        assert!(store.txs_of_root(&B256::repeat_byte(5)).unwrap().is_empty());
        assert!(!store.has_segment(3, 0).unwrap());
        assert!(store.has_segment(1, 0).unwrap(), "below the fork: kept");
        assert_eq!(store.pending(10).unwrap(), vec![0]);
        assert_eq!(store.rewinds().unwrap(), vec![(0, 2)]);
        assert_eq!(store.checkpoints().unwrap().last(), Some((5, fork.hash)));

        // The new chain's submissions reuse the indexes; a second rewind is numbered on.
        store
            .apply_submissions(vec![record(2, 6, 4)], cursor(8, 3))
            .unwrap();
        assert_eq!(store.tx(2).unwrap().unwrap().root, B256::repeat_byte(4));
        assert_eq!(store.rewind(3, B256::ZERO).unwrap(), 2);
        assert_eq!(store.rewinds().unwrap(), vec![(0, 2), (1, 1)]);
        assert_eq!(store.cursor().unwrap().unwrap().next_seq, 1);
    }
}
