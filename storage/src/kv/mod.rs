//! The KV layer: streams of versioned key-value writes carried as log-layer files (0G's
//! encoding, tagged `STREAM_DOMAIN ‖ stream ids`), replayed in flow order into a
//! queryable state with 0G's rules: optimistic concurrency (a key written after the
//! version a transaction read is a `VersionConfliction`), writer and admin
//! permissions, access-control operations, exact result strings, and `kv_*` queries.
//!
//! A node replays the streams it is configured with; a submission tagged with any other
//! stream is skipped without a result, as 0G's KV node does.

pub mod codec;
pub mod rpc;
pub mod state;

use std::collections::{BTreeSet, HashMap, HashSet};

use alloy_primitives::{Address, B256};

pub use codec::{AclEntry, AclOp, ParseError, StreamData, Write};
pub use rpc::{KV_METHODS, KeyValueSegment, ValueSegment};
pub use state::{AclRow, KvState};

use crate::error::StoreError;
use crate::store::TxRecord;

/// A replay outcome: the result string and, for a commit, what it writes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// 0G's result string (`Commit`, `VersionConfliction`, …).
    pub result: String,
    /// `(stream, key, value)` written (empty value: delete).
    pub writes: Vec<(B256, Vec<u8>, Vec<u8>)>,
    /// Access-control rows written.
    pub acls: Vec<AclRow>,
    /// Streams this transaction creates.
    pub new_streams: Vec<B256>,
}

impl Outcome {
    fn fail(result: impl Into<String>) -> Self {
        Self {
            result: result.into(),
            ..Self::default()
        }
    }
}

fn hex_of(b: &[u8]) -> String {
    format!("0x{}", alloy_primitives::hex::encode(b))
}

/// 0G's key in messages: `NONE`, the UTF-8 text cut to 32 characters, or `UNKNOWN`.
fn truncated_key(key: &[u8]) -> String {
    if key.is_empty() {
        return "NONE".into();
    }
    match std::str::from_utf8(key) {
        Ok(s) => s.chars().take(32).collect(),
        Err(_) => "UNKNOWN".into(),
    }
}

/// The KV layer of a node: its state and the streams it replays.
#[derive(Debug)]
pub struct Kv {
    /// The state.
    pub state: KvState,
    /// The streams replayed.
    pub streams: BTreeSet<B256>,
}

impl Kv {
    /// A KV layer over `state` replaying `streams`.
    pub fn new(state: KvState, streams: impl IntoIterator<Item = B256>) -> Self {
        Self {
            state,
            streams: streams.into_iter().collect(),
        }
    }

    /// Whether submission `tx` is one this node replays (tagged, every stream held).
    pub fn holds(&self, ids: &[B256]) -> bool {
        !ids.is_empty() && ids.iter().all(|i| self.streams.contains(i))
    }

    /// Replays one submission's data (`tx.seq` in order) against the state before it.
    pub fn replay(&self, tx: &TxRecord, ids: &[B256], data: &[u8]) -> Result<Outcome, StoreError> {
        let st = &self.state;
        let seq = tx.seq;
        let sender = tx.sender;
        let tags: HashSet<B256> = ids.iter().copied().collect();
        let sd = match StreamData::decode(data) {
            Ok(sd) => sd,
            Err(e) => return Ok(Outcome::fail(format!("DataParseError: {e}"))),
        };
        // reads: held streams, versions not moved past the one read
        for (stream, key) in &sd.reads {
            if !self.streams.contains(stream) {
                return Ok(Outcome::fail("TagsMismatch"));
            }
            if st.latest_version(stream, key, seq)? > sd.version {
                return Ok(Outcome::fail("VersionConfliction"));
            }
        }
        // writes: the last write of a key wins
        let mut order: Vec<(B256, Vec<u8>)> = Vec::new();
        let mut last: HashMap<(B256, Vec<u8>), Vec<u8>> = HashMap::new();
        for w in sd.writes {
            let k = (w.stream, w.key);
            if last.insert(k.clone(), w.value).is_none() {
                order.push(k);
            }
        }
        let mut writes = Vec::with_capacity(order.len());
        for k in order {
            let (stream, key) = &k;
            if !tags.contains(stream) {
                return Ok(Outcome::fail("TagsMismatch"));
            }
            if st.latest_version(stream, key, seq)? > sd.version {
                return Ok(Outcome::fail("VersionConfliction"));
            }
            if !st.has_write_permission(sender, stream, key, seq)? {
                return Ok(Outcome::fail(format!(
                    "WritePermissionDenied: stream: {}, key: {}",
                    hex_of(stream.as_slice()),
                    truncated_key(key)
                )));
            }
            let value = last.remove(&k).unwrap_or_default();
            writes.push((k.0, k.1, value));
        }
        // access control: the first transaction on a stream makes its sender admin
        let mut admin_of: HashSet<B256> = HashSet::new();
        let mut new_streams = Vec::new();
        let mut rows: Vec<AclRow> = Vec::new();
        let mut index: HashMap<(u8, B256, Vec<u8>, Address), usize> = HashMap::new();
        let mut put = |rows: &mut Vec<AclRow>, row: AclRow, overwrite: bool| {
            let k = (row.op & 0xf0, row.stream, row.key.clone(), row.account);
            match index.get(&k) {
                Some(&i) if overwrite => rows[i] = row,
                Some(_) => {}
                None => {
                    index.insert(k, rows.len());
                    rows.push(row);
                }
            }
        };
        for id in ids {
            if st.is_new_stream(id, seq)? {
                if !new_streams.contains(id) {
                    new_streams.push(*id);
                }
                put(
                    &mut rows,
                    AclRow {
                        op: AclOp::GrantAdmin as u8,
                        stream: *id,
                        key: Vec::new(),
                        account: sender,
                    },
                    false,
                );
                admin_of.insert(*id);
            } else if st.is_admin(sender, id, seq)? {
                admin_of.insert(*id);
            }
        }
        let implicit = rows.len();
        for a in &sd.acls {
            let account = if a.op.has_account() {
                a.account
            } else if matches!(
                a.op,
                AclOp::RenounceAdmin | AclOp::RenounceWriter | AclOp::RenounceSpecialWriter
            ) {
                sender
            } else {
                Address::ZERO
            };
            let row = AclRow {
                op: a.op as u8,
                stream: a.stream,
                key: a.key.clone(),
                account,
            };
            if a.op == AclOp::GrantAdmin {
                // granting yourself admin is ignored; the first grant to an account wins
                if account != sender {
                    put(&mut rows, row, false);
                }
            } else {
                put(&mut rows, row, true);
            }
        }
        for (i, row) in rows.iter().enumerate() {
            if i < implicit && row.op == AclOp::GrantAdmin as u8 {
                continue; // the implicit grant needs no permission
            }
            if !tags.contains(&row.stream) {
                return Ok(Outcome::fail("TagsMismatch"));
            }
            let admin = admin_of.contains(&row.stream);
            let allowed = match row.op {
                0x00 | 0x10 | 0x11 | 0x21 | 0x31 => admin,
                0x20 => admin || st.is_writer_of_stream(sender, &row.stream, seq)?,
                0x30 => admin || st.is_writer_of_key(sender, &row.stream, &row.key, seq)?,
                _ => true, // renounce ops act on the sender
            };
            if !allowed {
                let name = AclOp::from_code(row.op).map_or("UNKNOWN", |o| o.name());
                return Ok(Outcome::fail(format!(
                    "AccessControlPermissionDenied: operation: {name}, stream: {}, key: {}, account: {}",
                    hex_of(row.stream.as_slice()),
                    truncated_key(&row.key),
                    hex_of(row.account.as_slice())
                )));
            }
        }
        Ok(Outcome {
            result: "Commit".into(),
            writes,
            acls: rows,
            new_streams,
        })
    }
}
