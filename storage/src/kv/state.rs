//! The KV state in its own RocksDB: versioned values, access-control records, replay
//! results and progress. Every query takes a version `v` and sees the latest record at
//! or below it (a record's version is the submission seq that wrote it).
//!
//! Keys (column family `data`): `stream ‖ esc(key) ‖ 00 00 ‖ version`, where `esc`
//! doubles 0x00 as `00 FF`, so keys sort byte-wise (shorter first) as 0G's node sorts
//! them; the value is `01 ‖ bytes`, or `00` for a delete. Column family `acl`:
//! - `00 ‖ stream ‖ account ‖ version` → 0x00 / 0x01 (admin);
//! - `10 ‖ stream ‖ len ‖ key ‖ version` → 0x10 / 0x11 (special key);
//! - `20 ‖ stream ‖ account ‖ version` → 0x20 / 0x21 / 0x22 (stream writer);
//! - `30 ‖ stream ‖ account ‖ len ‖ key ‖ version` → 0x30 / 0x31 / 0x32 (key writer);
//! - `F0 ‖ stream ‖ version` → empty (the stream exists).

use std::path::Path;
use std::sync::Arc;

use alloy_primitives::{Address, B256};
use rocksdb::{DB, Direction, IteratorMode, WriteBatch};
use zg_node_kit::db;

use crate::error::StoreError;

const CF_DATA: &str = "data";
const CF_ACL: &str = "acl";
const CF_TX: &str = "tx";
const CF_META: &str = "meta";
const NEXT: &[u8] = b"next";
/// The log layer's rewind generation this state has applied (see [`KvState::rollback`]).
const REWOUND: &[u8] = b"rewound";

fn esc_key(stream: &B256, key: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(32 + key.len() + 4);
    out.extend_from_slice(stream.as_slice());
    for &b in key {
        out.push(b);
        if b == 0 {
            out.push(0xff);
        }
    }
    out.extend_from_slice(&[0, 0]);
    out
}

/// Splits a data key after the stream into `(key, version)`.
fn parse_data_key(k: &[u8]) -> Option<(Vec<u8>, u64)> {
    let rest = k.get(32..)?;
    let mut key = Vec::new();
    let mut i = 0;
    while i + 1 < rest.len() {
        match (rest[i], rest[i + 1]) {
            (0, 0) => {
                let v = rest.get(i + 2..i + 10)?;
                return Some((key, u64::from_be_bytes(v.try_into().ok()?)));
            }
            (0, 0xff) => {
                key.push(0);
                i += 2;
            }
            (b, _) => {
                key.push(b);
                i += 1;
            }
        }
    }
    None
}

fn lp(key: &[u8]) -> Vec<u8> {
    let mut out = (key.len() as u32).to_be_bytes().to_vec();
    out.extend_from_slice(key);
    out
}

/// An access-control row to write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AclRow {
    /// The op code.
    pub op: u8,
    /// The stream.
    pub stream: B256,
    /// The key (empty when the op has none).
    pub key: Vec<u8>,
    /// The account the op is about.
    pub account: Address,
}

impl AclRow {
    fn prefix(&self) -> Vec<u8> {
        let cat = self.op & 0xf0;
        let mut p = vec![cat];
        p.extend_from_slice(self.stream.as_slice());
        match cat {
            0x00 | 0x20 => p.extend_from_slice(self.account.as_slice()),
            0x10 => p.extend_from_slice(&lp(&self.key)),
            _ => {
                p.extend_from_slice(self.account.as_slice());
                p.extend_from_slice(&lp(&self.key));
            }
        }
        p
    }
}

/// A value as stored: its version and bytes (`None`: deleted).
pub type Versioned = (u64, Option<Vec<u8>>);

/// A live entry found by iteration: key, version, value.
pub type Entry = (Vec<u8>, u64, Vec<u8>);

/// The KV state. Cheap to clone.
#[derive(Clone, Debug)]
pub struct KvState {
    db: Arc<DB>,
}

impl KvState {
    /// Opens (or creates) the state at `path`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        Ok(Self {
            db: db::open_with(
                path,
                &[CF_DATA, CF_ACL, CF_TX, CF_META],
                rocksdb::DBCompressionType::None,
            )?,
        })
    }

    fn cf(&self, name: &str) -> &rocksdb::ColumnFamily {
        db::cf(&self.db, name)
    }

    /// The next submission seq to replay.
    pub fn next_seq(&self) -> Result<u64, StoreError> {
        Ok(self
            .db
            .get_cf(self.cf(CF_META), NEXT)?
            .and_then(|v| v.try_into().ok().map(u64::from_be_bytes))
            .unwrap_or(0))
    }

    /// How many of the log layer's rewinds this state has applied.
    pub fn rewinds_applied(&self) -> Result<u64, StoreError> {
        Ok(self
            .db
            .get_cf(self.cf(CF_META), REWOUND)?
            .and_then(|v| v.try_into().ok().map(u64::from_be_bytes))
            .unwrap_or(0))
    }

    /// Undoes the replay of every submission from `seq` on (a reorg removed them from
    /// the log): every row they wrote and every result, and records that the log's
    /// rewinds up to `rewinds` are applied, in one synced write. A scan of the whole
    /// state: reorgs past the finality rule are rare.
    pub fn rollback(&self, seq: u64, rewinds: u64) -> Result<(), StoreError> {
        let mut b = WriteBatch::default();
        for cf in [CF_DATA, CF_ACL] {
            for item in self.db.iterator_cf(self.cf(cf), IteratorMode::Start) {
                let (k, _) = item?;
                let version = k
                    .len()
                    .checked_sub(8)
                    .map(|at| u64::from_be_bytes(k[at..].try_into().expect("8 bytes")));
                if version.is_some_and(|v| v >= seq) {
                    b.delete_cf(self.cf(cf), k);
                }
            }
        }
        b.delete_range_cf(self.cf(CF_TX), seq.to_be_bytes(), u64::MAX.to_be_bytes());
        b.delete_cf(self.cf(CF_TX), u64::MAX.to_be_bytes());
        if self.next_seq()? > seq {
            b.put_cf(self.cf(CF_META), NEXT, seq.to_be_bytes());
        }
        b.put_cf(self.cf(CF_META), REWOUND, rewinds.to_be_bytes());
        self.db.write_opt(b, &db::durable())?;
        Ok(())
    }

    /// The replay result of submission `seq`, if it was replayed (not skipped).
    pub fn result(&self, seq: u64) -> Result<Option<String>, StoreError> {
        Ok(self
            .db
            .get_cf(self.cf(CF_TX), seq.to_be_bytes())?
            .map(|v| String::from_utf8_lossy(&v).into_owned()))
    }

    /// Records submission `seq`'s outcome and its rows (only a commit has rows), and
    /// moves the replay past it, in one synced write. `None` skips it without a result.
    pub fn commit(
        &self,
        seq: u64,
        result: Option<&str>,
        writes: &[(B256, Vec<u8>, Vec<u8>)],
        acls: &[AclRow],
        new_streams: &[B256],
    ) -> Result<(), StoreError> {
        let mut b = WriteBatch::default();
        let ver = seq.to_be_bytes();
        for (stream, key, value) in writes {
            let mut k = esc_key(stream, key);
            k.extend_from_slice(&ver);
            let mut v = Vec::with_capacity(value.len() + 1);
            v.push(if value.is_empty() { 0 } else { 1 });
            v.extend_from_slice(value);
            b.put_cf(self.cf(CF_DATA), k, v);
        }
        for row in acls {
            let mut k = row.prefix();
            k.extend_from_slice(&ver);
            b.put_cf(self.cf(CF_ACL), k, [row.op]);
        }
        for s in new_streams {
            let mut k = vec![0xf0];
            k.extend_from_slice(s.as_slice());
            k.extend_from_slice(&ver);
            b.put_cf(self.cf(CF_ACL), k, []);
        }
        if let Some(r) = result {
            b.put_cf(self.cf(CF_TX), ver, r.as_bytes());
        }
        b.put_cf(self.cf(CF_META), NEXT, (seq + 1).to_be_bytes());
        self.db.write_opt(b, &db::durable())?;
        Ok(())
    }

    /// The latest record under `prefix ‖ version` with version ≤ `v`.
    fn latest(
        &self,
        cf: &str,
        prefix: &[u8],
        v: u64,
    ) -> Result<Option<(u64, Vec<u8>)>, StoreError> {
        let mut seek = prefix.to_vec();
        seek.extend_from_slice(&v.to_be_bytes());
        let mut it = self.db.raw_iterator_cf(self.cf(cf));
        it.seek_for_prev(&seek);
        if it.valid()
            && let (Some(k), Some(val)) = (it.key(), it.value())
            && k.len() == prefix.len() + 8
            && k.starts_with(prefix)
        {
            let ver = u64::from_be_bytes(k[prefix.len()..].try_into().expect("8 bytes"));
            return Ok(Some((ver, val.to_vec())));
        }
        it.status()?;
        Ok(None)
    }

    /// The value of `key` at version `v`: `None` if never written.
    pub fn value(
        &self,
        stream: &B256,
        key: &[u8],
        v: u64,
    ) -> Result<Option<Versioned>, StoreError> {
        Ok(self
            .latest(CF_DATA, &esc_key(stream, key), v)?
            .map(|(ver, val)| (ver, decode_value(&val))))
    }

    /// The version of the latest write of `key` at or below `v` (0 if never written).
    pub fn latest_version(&self, stream: &B256, key: &[u8], v: u64) -> Result<u64, StoreError> {
        Ok(self.value(stream, key, v)?.map_or(0, |(ver, _)| ver))
    }

    /// The first live (not deleted) key after `key` (or at it, `inclusive`) at version
    /// `v`; `key = None` starts at the stream's first key.
    pub fn next(
        &self,
        stream: &B256,
        key: Option<&[u8]>,
        inclusive: bool,
        v: u64,
    ) -> Result<Option<Entry>, StoreError> {
        let start = match key {
            Some(k) => esc_key(stream, k),
            None => stream.to_vec(),
        };
        let iter = self.db.iterator_cf(
            self.cf(CF_DATA),
            IteratorMode::From(&start, Direction::Forward),
        );
        let mut current: Option<(Vec<u8>, Option<Versioned>)> = None;
        for item in iter {
            let (k, val) = item?;
            if !k.starts_with(stream.as_slice()) {
                break;
            }
            let Some((kk, ver)) = parse_data_key(&k) else {
                continue;
            };
            if !inclusive && key == Some(kk.as_slice()) {
                continue;
            }
            if current.as_ref().is_some_and(|(c, _)| *c != kk)
                && let Some(found) = finish(current.take())
            {
                return Ok(Some(found));
            }
            let entry = current.get_or_insert((kk, None));
            if ver <= v {
                entry.1 = Some((ver, decode_value(&val)));
            }
        }
        Ok(finish(current))
    }

    /// The last live key before `key` (or at it, `inclusive`) at version `v`; `key =
    /// None` starts at the stream's last key.
    pub fn prev(
        &self,
        stream: &B256,
        key: Option<&[u8]>,
        inclusive: bool,
        v: u64,
    ) -> Result<Option<Entry>, StoreError> {
        let start = match key {
            Some(k) => {
                let mut s = esc_key(stream, k);
                if inclusive {
                    s.extend_from_slice(&[0xff; 8]);
                }
                s
            }
            None => next_prefix(stream),
        };
        let mut it = self.db.raw_iterator_cf(self.cf(CF_DATA));
        if start.is_empty() {
            it.seek_to_last();
        } else {
            it.seek_for_prev(&start);
        }
        // Backward, a key's versions come newest first: its first version ≤ v decides.
        let mut decided: Option<Vec<u8>> = None;
        while it.valid() {
            let (Some(k), Some(val)) = (it.key(), it.value()) else {
                break;
            };
            if !k.starts_with(stream.as_slice()) {
                break;
            }
            if let Some((kk, ver)) = parse_data_key(k) {
                let skip = (!inclusive && key == Some(kk.as_slice()))
                    || decided.as_deref() == Some(kk.as_slice());
                if !skip && ver <= v {
                    if let Some(data) = decode_value(val) {
                        return Ok(Some((kk, ver, data)));
                    }
                    decided = Some(kk); // deleted at v: look further back
                }
            }
            it.prev();
        }
        it.status()?;
        Ok(None)
    }

    fn acl_op(&self, row: &AclRow, v: u64) -> Result<Option<u8>, StoreError> {
        Ok(self
            .latest(CF_ACL, &row.prefix(), v)?
            .and_then(|(_, val)| val.first().copied()))
    }

    /// No access-control record of `stream` at or below `v`.
    pub fn is_new_stream(&self, stream: &B256, v: u64) -> Result<bool, StoreError> {
        let mut p = vec![0xf0];
        p.extend_from_slice(stream.as_slice());
        let mut it = self.db.raw_iterator_cf(self.cf(CF_ACL));
        it.seek(&p);
        if it.valid()
            && let Some(k) = it.key()
            && k.len() == p.len() + 8
            && k.starts_with(&p)
        {
            let ver = u64::from_be_bytes(k[p.len()..].try_into().expect("8 bytes"));
            return Ok(ver > v);
        }
        it.status()?;
        Ok(true)
    }

    fn role(
        &self,
        op: u8,
        stream: &B256,
        key: &[u8],
        account: Address,
        v: u64,
    ) -> Result<bool, StoreError> {
        let row = AclRow {
            op,
            stream: *stream,
            key: key.to_vec(),
            account,
        };
        Ok(self.acl_op(&row, v)? == Some(op))
    }

    /// `account` is an admin of `stream` at `v`.
    pub fn is_admin(&self, account: Address, stream: &B256, v: u64) -> Result<bool, StoreError> {
        self.role(0x00, stream, &[], account, v)
    }

    /// `key` of `stream` is special at `v`.
    pub fn is_special_key(&self, stream: &B256, key: &[u8], v: u64) -> Result<bool, StoreError> {
        self.role(0x10, stream, key, Address::ZERO, v)
    }

    /// `account` may write `stream`'s normal keys at `v`.
    pub fn is_writer_of_stream(
        &self,
        account: Address,
        stream: &B256,
        v: u64,
    ) -> Result<bool, StoreError> {
        self.role(0x20, stream, &[], account, v)
    }

    /// `account` may write `stream`'s special `key` at `v`.
    pub fn is_writer_of_key(
        &self,
        account: Address,
        stream: &B256,
        key: &[u8],
        v: u64,
    ) -> Result<bool, StoreError> {
        self.role(0x30, stream, key, account, v)
    }

    /// `account` holds at least one special-writer grant in `stream` at `v`.
    pub fn has_special_grant(
        &self,
        account: Address,
        stream: &B256,
        v: u64,
    ) -> Result<bool, StoreError> {
        let mut p = vec![0x30];
        p.extend_from_slice(stream.as_slice());
        p.extend_from_slice(account.as_slice());
        // Per key (versions ascending), the op of its latest record at or below v.
        let mut cur_sub: Option<Vec<u8>> = None;
        let mut cur_op: Option<u8> = None;
        for item in self
            .db
            .iterator_cf(self.cf(CF_ACL), IteratorMode::From(&p, Direction::Forward))
        {
            let (k, val) = item?;
            if !k.starts_with(&p) || k.len() < p.len() + 8 {
                break;
            }
            let (sub, ver) = k[p.len()..].split_at(k.len() - p.len() - 8);
            let ver = u64::from_be_bytes(ver.try_into().expect("8 bytes"));
            if cur_sub.as_deref() != Some(sub) {
                if cur_op == Some(0x30) {
                    return Ok(true);
                }
                cur_sub = Some(sub.to_vec());
                cur_op = None;
            }
            if ver <= v {
                cur_op = val.first().copied();
            }
        }
        Ok(cur_op == Some(0x30))
    }

    /// 0G's `has_write_permission`: a new stream, an admin, or (for a special key) its
    /// special writer, (for a normal key) a stream writer.
    pub fn has_write_permission(
        &self,
        account: Address,
        stream: &B256,
        key: &[u8],
        v: u64,
    ) -> Result<bool, StoreError> {
        if self.is_new_stream(stream, v)? || self.is_admin(account, stream, v)? {
            return Ok(true);
        }
        if self.is_special_key(stream, key, v)? {
            self.is_writer_of_key(account, stream, key, v)
        } else {
            self.is_writer_of_stream(account, stream, v)
        }
    }

    /// 0G's `can_write`: the sender may write something in `stream`.
    pub fn can_write(&self, account: Address, stream: &B256, v: u64) -> Result<bool, StoreError> {
        Ok(self.is_new_stream(stream, v)?
            || self.is_admin(account, stream, v)?
            || self.is_writer_of_stream(account, stream, v)?
            || self.has_special_grant(account, stream, v)?)
    }
}

/// The smallest byte string above every key of `stream` (empty: none, seek to last).
fn next_prefix(stream: &B256) -> Vec<u8> {
    let mut p = stream.to_vec();
    while let Some(last) = p.pop() {
        if last < 0xff {
            p.push(last + 1);
            return p;
        }
    }
    p
}

fn decode_value(v: &[u8]) -> Option<Vec<u8>> {
    match v.first() {
        Some(1) => Some(v[1..].to_vec()),
        _ => None,
    }
}

fn finish(current: Option<(Vec<u8>, Option<Versioned>)>) -> Option<Entry> {
    match current {
        Some((k, Some((ver, Some(data))))) => Some((k, ver, data)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rollback_undoes_every_row_and_result_from_its_seq_on() {
        let dir = zg_node_kit::TempDir::new("kv-rollback");
        let state = KvState::open(&dir.0).unwrap();
        let s = B256::repeat_byte(1);
        let admin = Address::repeat_byte(2);
        let row = |op| AclRow {
            op,
            stream: s,
            key: Vec::new(),
            account: admin,
        };
        state
            .commit(
                0,
                Some("Commit"),
                &[(s, b"k".to_vec(), b"v0".to_vec())],
                &[row(0x00)],
                &[s],
            )
            .unwrap();
        state.commit(1, None, &[], &[], &[]).unwrap();
        state
            .commit(
                2,
                Some("Commit"),
                &[
                    (s, b"k".to_vec(), b"v2".to_vec()),
                    (s, b"j".to_vec(), b"x".to_vec()),
                ],
                &[row(0x20)],
                &[],
            )
            .unwrap();
        assert_eq!(
            state.value(&s, b"k", u64::MAX).unwrap().unwrap().1,
            Some(b"v2".to_vec())
        );
        assert!(state.is_writer_of_stream(admin, &s, u64::MAX).unwrap());
        assert!(state.is_admin(admin, &s, u64::MAX).unwrap());
        state.rollback(2, 1).unwrap();
        assert_eq!(state.next_seq().unwrap(), 2);
        assert_eq!(state.rewinds_applied().unwrap(), 1);
        assert_eq!(state.result(2).unwrap(), None);
        assert_eq!(state.result(0).unwrap().as_deref(), Some("Commit"));
        assert_eq!(
            state.value(&s, b"k", u64::MAX).unwrap().unwrap().1,
            Some(b"v0".to_vec())
        );
        assert!(state.value(&s, b"j", u64::MAX).unwrap().is_none());
        assert!(state.is_admin(admin, &s, u64::MAX).unwrap());
        assert!(!state.is_writer_of_stream(admin, &s, u64::MAX).unwrap());
        // A rollback above what was replayed moves nothing back.
        state.rollback(5, 2).unwrap();
        assert_eq!(state.next_seq().unwrap(), 2);
    }

    #[test]
    fn escaped_keys_sort_bytewise_shorter_first() {
        let s = B256::repeat_byte(1);
        let keys: Vec<&[u8]> = vec![
            b"",
            b"\x00",
            b"\x00\x00",
            b"\x00\x01",
            b"a",
            b"a\x00",
            b"ab",
            b"b",
        ];
        let mut enc: Vec<Vec<u8>> = keys.iter().map(|k| esc_key(&s, k)).collect();
        let sorted = enc.clone();
        enc.sort();
        assert_eq!(enc, sorted);
        for k in keys {
            let mut e = esc_key(&s, k);
            e.extend_from_slice(&7u64.to_be_bytes());
            assert_eq!(parse_data_key(&e), Some((k.to_vec(), 7)));
        }
    }
}
