//! The KV layer's JSON-RPC queries: 0G's `kv_*` methods, parameters and shapes (stream
//! ids as hex, keys and data as standard base64, `version` optional meaning latest).

use alloy_primitives::{Address, B256};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use zg_node_kit::jsonrpc::{RpcError, ok, opt_param, param};

use super::Kv;
use crate::error::NodeError;
use crate::types::{base64_bytes, from_base64};

/// Longest value slice one query returns (0G's default).
pub const MAX_QUERY_LEN: u64 = 256 * 1024;

/// The KV methods served.
pub const KV_METHODS: &[&str] = &[
    "kv_getStatus",
    "kv_getValue",
    "kv_getNext",
    "kv_getPrev",
    "kv_getFirst",
    "kv_getLast",
    "kv_getTransactionResult",
    "kv_getHoldingStreamIds",
    "kv_hasWritePermission",
    "kv_isAdmin",
    "kv_IsAdmin",
    "kv_isSpecialKey",
    "kv_isWriterOfKey",
    "kv_isWriterOfStream",
];

/// A value slice (0G's `ValueSegment`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValueSegment {
    /// The version (seq) that wrote it; 0 if never written.
    pub version: u64,
    /// `[startIndex, startIndex + len)` of the value.
    #[serde(with = "base64_bytes")]
    pub data: Vec<u8>,
    /// The whole value's length.
    pub size: u64,
}

/// A key and value slice (0G's `KeyValueSegment`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyValueSegment {
    /// The version (seq) that wrote it.
    pub version: u64,
    /// The key.
    #[serde(with = "base64_bytes")]
    pub key: Vec<u8>,
    /// `[startIndex, startIndex + len)` of the value.
    #[serde(with = "base64_bytes")]
    pub data: Vec<u8>,
    /// The whole value's length.
    pub size: u64,
}

fn key_param(p: &[Value], i: usize) -> Result<Vec<u8>, RpcError> {
    let s: String = param(p, i, "key")?;
    let key = from_base64(&s).map_err(|e| NodeError::invalid("key", format!("not base64: {e}")))?;
    if key.is_empty() {
        return Err(NodeError::invalid("key", "key is empty").into());
    }
    Ok(key)
}

fn slice(value: &[u8], start: u64, len: u64) -> Result<Vec<u8>, RpcError> {
    if len > MAX_QUERY_LEN {
        return Err(NodeError::invalid("len", "query length too large").into());
    }
    let size = value.len() as u64;
    if start > size {
        return Err(
            NodeError::invalid("start_index", "start index is greater than value length").into(),
        );
    }
    let end = start.saturating_add(len).min(size);
    Ok(value[start as usize..end as usize].to_vec())
}

fn version(p: &[Value], i: usize) -> Result<u64, RpcError> {
    Ok(opt_param::<u64>(p, i, "version")?.unwrap_or(u64::MAX))
}

fn kv_segment(
    found: Option<(Vec<u8>, u64, Vec<u8>)>,
    start: u64,
    len: u64,
) -> Result<Value, RpcError> {
    match found {
        Some((key, version, value)) => ok(KeyValueSegment {
            version,
            data: slice(&value, start, len)?,
            size: value.len() as u64,
            key,
        }),
        None => Ok(Value::Null),
    }
}

impl Kv {
    /// Answers one `kv_*` call.
    pub fn query(&self, method: &str, p: &[Value]) -> Result<Value, RpcError> {
        let st = &self.state;
        let store = |e: crate::error::StoreError| RpcError::from(NodeError::from(e));
        match method {
            "kv_getStatus" => ok(true),
            "kv_getValue" => {
                let stream: B256 = param(p, 0, "stream_id")?;
                let key = key_param(p, 1)?;
                let start: u64 = param(p, 2, "start_index")?;
                let len: u64 = param(p, 3, "len")?;
                let v = version(p, 4)?;
                let (ver, value) = match st.value(&stream, &key, v).map_err(store)? {
                    Some((ver, Some(value))) => (ver, value),
                    Some((ver, None)) => (ver, Vec::new()),
                    None => (0, Vec::new()),
                };
                ok(ValueSegment {
                    version: ver,
                    data: slice(&value, start, len)?,
                    size: value.len() as u64,
                })
            }
            "kv_getNext" | "kv_getPrev" => {
                let stream: B256 = param(p, 0, "stream_id")?;
                let key = key_param(p, 1)?;
                let start: u64 = param(p, 2, "start_index")?;
                let len: u64 = param(p, 3, "len")?;
                let inclusive: bool = param(p, 4, "inclusive")?;
                let v = version(p, 5)?;
                let found = if method == "kv_getNext" {
                    st.next(&stream, Some(&key), inclusive, v)
                } else {
                    st.prev(&stream, Some(&key), inclusive, v)
                }
                .map_err(store)?;
                kv_segment(found, start, len)
            }
            "kv_getFirst" | "kv_getLast" => {
                let stream: B256 = param(p, 0, "stream_id")?;
                let start: u64 = param(p, 1, "start_index")?;
                let len: u64 = param(p, 2, "len")?;
                let v = version(p, 3)?;
                let found = if method == "kv_getFirst" {
                    st.next(&stream, None, true, v)
                } else {
                    st.prev(&stream, None, true, v)
                }
                .map_err(store)?;
                kv_segment(found, start, len)
            }
            "kv_getTransactionResult" => {
                // 0G's TS SDK sends the seq as a string
                let seq: u64 = match p.first() {
                    Some(Value::String(s)) => s
                        .parse()
                        .map_err(|_| NodeError::invalid("tx_seq", "not a number"))?,
                    _ => param(p, 0, "tx_seq")?,
                };
                ok(st.result(seq).map_err(store)?)
            }
            "kv_getHoldingStreamIds" => ok(self.streams.iter().collect::<Vec<_>>()),
            "kv_hasWritePermission" | "kv_isWriterOfKey" => {
                let account: Address = param(p, 0, "account")?;
                let stream: B256 = param(p, 1, "stream_id")?;
                let key = key_param(p, 2)?;
                let v = version(p, 3)?;
                ok(if method == "kv_hasWritePermission" {
                    st.has_write_permission(account, &stream, &key, v)
                } else {
                    st.is_writer_of_key(account, &stream, &key, v)
                }
                .map_err(store)?)
            }
            "kv_isAdmin" | "kv_IsAdmin" | "kv_isWriterOfStream" => {
                let account: Address = param(p, 0, "account")?;
                let stream: B256 = param(p, 1, "stream_id")?;
                let v = version(p, 2)?;
                ok(if method == "kv_isWriterOfStream" {
                    st.is_writer_of_stream(account, &stream, v)
                } else {
                    st.is_admin(account, &stream, v)
                }
                .map_err(store)?)
            }
            "kv_isSpecialKey" => {
                let stream: B256 = param(p, 0, "stream_id")?;
                let key = key_param(p, 1)?;
                let v = version(p, 2)?;
                ok(st.is_special_key(&stream, &key, v).map_err(store)?)
            }
            _ => Err(RpcError::method_not_found(method)),
        }
    }
}
