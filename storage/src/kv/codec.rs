//! 0G's KV stream-data encoding (big-endian throughout):
//!
//! ```text
//! u64 version
//! u32 reads   { [32] stream ‖ u24 key_len ‖ key }
//! u32 writes  { [32] stream ‖ u24 key_len ‖ key ‖ u64 value_len }, then the values
//! u32 acls    { u8 op ‖ [32] stream ‖ [u24 key_len ‖ key]? ‖ [20] account? }
//! ```
//!
//! Keys are 1 .. 2²⁴−1 bytes, sets at most 65536 entries, an empty value deletes; the
//! submission's tags are `STREAM_DOMAIN ‖ stream ids` of the writes and ACL ops.

use alloy_primitives::{Address, B256};

use crate::types::STREAM_DOMAIN;

/// Most entries one set may hold.
pub const MAX_SET: usize = 1 << 16;
/// Longest key.
pub const MAX_KEY: usize = (1 << 24) - 1;

/// Access-control operations (0G's codes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum AclOp {
    /// Grant `account` the admin role.
    GrantAdmin = 0x00,
    /// The sender gives up its admin role.
    RenounceAdmin = 0x01,
    /// Make `key` special (only admins and its special writers may write it).
    SetKeyToSpecial = 0x10,
    /// Make `key` normal again.
    SetKeyToNormal = 0x11,
    /// Grant `account` the stream writer role.
    GrantWriter = 0x20,
    /// Revoke `account`'s stream writer role.
    RevokeWriter = 0x21,
    /// The sender gives up its stream writer role.
    RenounceWriter = 0x22,
    /// Grant `account` writing `key`.
    GrantSpecialWriter = 0x30,
    /// Revoke `account`'s writing `key`.
    RevokeSpecialWriter = 0x31,
    /// The sender gives up writing `key`.
    RenounceSpecialWriter = 0x32,
}

impl AclOp {
    /// The op of a code.
    pub fn from_code(c: u8) -> Option<Self> {
        use AclOp::*;
        Some(match c {
            0x00 => GrantAdmin,
            0x01 => RenounceAdmin,
            0x10 => SetKeyToSpecial,
            0x11 => SetKeyToNormal,
            0x20 => GrantWriter,
            0x21 => RevokeWriter,
            0x22 => RenounceWriter,
            0x30 => GrantSpecialWriter,
            0x31 => RevokeSpecialWriter,
            0x32 => RenounceSpecialWriter,
            _ => return None,
        })
    }

    /// Whether the op names a key.
    pub fn has_key(self) -> bool {
        matches!(self as u8, 0x10 | 0x11 | 0x30 | 0x31 | 0x32)
    }

    /// Whether the op names an account (renounce ops act on the sender).
    pub fn has_account(self) -> bool {
        matches!(self as u8, 0x00 | 0x20 | 0x21 | 0x30 | 0x31)
    }

    /// 0G's name of the op (in result strings).
    pub fn name(self) -> &'static str {
        use AclOp::*;
        match self {
            GrantAdmin => "GRANT_ADMIN_ROLE",
            RenounceAdmin => "RENOUNCE_ADMIN_ROLE",
            SetKeyToSpecial => "SET_KEY_TO_SPECIAL",
            SetKeyToNormal => "SET_KEY_TO_NORMAL",
            GrantWriter => "GRANT_WRITER_ROLE",
            RevokeWriter => "REVOKE_WRITER_ROLE",
            RenounceWriter => "RENOUNCE_WRITER_ROLE",
            GrantSpecialWriter => "GRANT_SPECIAL_WRITER_ROLE",
            RevokeSpecialWriter => "REVOKE_SPECIAL_WRITER_ROLE",
            RenounceSpecialWriter => "RENOUNCE_SPECIAL_WRITER_ROLE",
        }
    }
}

/// One access-control operation as encoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AclEntry {
    /// The op.
    pub op: AclOp,
    /// The stream.
    pub stream: B256,
    /// The key (empty when the op has none).
    pub key: Vec<u8>,
    /// The account (zero when the op has none).
    pub account: Address,
}

/// One write as encoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Write {
    /// The stream.
    pub stream: B256,
    /// The key.
    pub key: Vec<u8>,
    /// The value (empty: delete).
    pub value: Vec<u8>,
}

/// A decoded KV transaction.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StreamData {
    /// The version the reads and writes were based on (`u64::MAX`: no check).
    pub version: u64,
    /// Keys read.
    pub reads: Vec<(B256, Vec<u8>)>,
    /// Keys written.
    pub writes: Vec<Write>,
    /// Access-control operations.
    pub acls: Vec<AclEntry>,
}

/// Why stream data does not parse (0G's `ParseError`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Truncated, an empty key, or an unknown op.
    #[error("Invalid stream data")]
    InvalidData,
    /// A set over 65536 entries.
    #[error("Stream read/write/access_control list too long")]
    ListTooLong,
}

/// Why stream data cannot be encoded.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// A key is empty or over 2²⁴−1 bytes.
    #[error("key of {0} bytes (must be 1 ..= 16777215)")]
    Key(usize),
    /// A set over 65536 entries.
    #[error("set of {0} entries (at most 65536)")]
    Set(usize),
}

struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], ParseError> {
        let end = self.pos.checked_add(n).ok_or(ParseError::InvalidData)?;
        let s = self
            .data
            .get(self.pos..end)
            .ok_or(ParseError::InvalidData)?;
        self.pos = end;
        Ok(s)
    }
    fn u64(&mut self) -> Result<u64, ParseError> {
        Ok(u64::from_be_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }
    fn u32(&mut self) -> Result<u32, ParseError> {
        Ok(u32::from_be_bytes(
            self.take(4)?.try_into().expect("4 bytes"),
        ))
    }
    fn set_len(&mut self) -> Result<usize, ParseError> {
        let n = self.u32()? as usize;
        if n > MAX_SET {
            return Err(ParseError::ListTooLong);
        }
        Ok(n)
    }
    fn stream(&mut self) -> Result<B256, ParseError> {
        Ok(B256::from_slice(self.take(32)?))
    }
    fn key(&mut self) -> Result<Vec<u8>, ParseError> {
        let l = self.take(3)?;
        let n = (l[0] as usize) << 16 | (l[1] as usize) << 8 | l[2] as usize;
        if n == 0 {
            return Err(ParseError::InvalidData);
        }
        Ok(self.take(n)?.to_vec())
    }
}

impl StreamData {
    /// Decodes stream data; trailing bytes are ignored (0G reads the zero-padded file).
    pub fn decode(data: &[u8]) -> Result<Self, ParseError> {
        let mut r = Reader { data, pos: 0 };
        let version = r.u64()?;
        let n = r.set_len()?;
        let mut reads = Vec::with_capacity(n.min(1024));
        for _ in 0..n {
            reads.push((r.stream()?, r.key()?));
        }
        let n = r.set_len()?;
        let mut metas = Vec::with_capacity(n.min(1024));
        for _ in 0..n {
            let stream = r.stream()?;
            let key = r.key()?;
            let len = usize::try_from(r.u64()?).map_err(|_| ParseError::InvalidData)?;
            metas.push((stream, key, len));
        }
        let mut writes = Vec::with_capacity(metas.len());
        for (stream, key, len) in metas {
            writes.push(Write {
                stream,
                key,
                value: r.take(len)?.to_vec(),
            });
        }
        let n = r.set_len()?;
        let mut acls = Vec::with_capacity(n.min(1024));
        for _ in 0..n {
            let op = AclOp::from_code(r.take(1)?[0]).ok_or(ParseError::InvalidData)?;
            let stream = r.stream()?;
            let key = if op.has_key() { r.key()? } else { Vec::new() };
            let account = if op.has_account() {
                Address::from_slice(r.take(20)?)
            } else {
                Address::ZERO
            };
            acls.push(AclEntry {
                op,
                stream,
                key,
                account,
            });
        }
        Ok(Self {
            version,
            reads,
            writes,
            acls,
        })
    }

    /// Encodes as 0G's clients do.
    pub fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        fn key(out: &mut Vec<u8>, k: &[u8]) -> Result<(), EncodeError> {
            if k.is_empty() || k.len() > MAX_KEY {
                return Err(EncodeError::Key(k.len()));
            }
            out.extend_from_slice(&(k.len() as u32).to_be_bytes()[1..]);
            out.extend_from_slice(k);
            Ok(())
        }
        fn set(out: &mut Vec<u8>, n: usize) -> Result<(), EncodeError> {
            if n > MAX_SET {
                return Err(EncodeError::Set(n));
            }
            out.extend_from_slice(&(n as u32).to_be_bytes());
            Ok(())
        }
        let mut out = Vec::new();
        out.extend_from_slice(&self.version.to_be_bytes());
        set(&mut out, self.reads.len())?;
        for (s, k) in &self.reads {
            out.extend_from_slice(s.as_slice());
            key(&mut out, k)?;
        }
        set(&mut out, self.writes.len())?;
        for w in &self.writes {
            out.extend_from_slice(w.stream.as_slice());
            key(&mut out, &w.key)?;
            out.extend_from_slice(&(w.value.len() as u64).to_be_bytes());
        }
        for w in &self.writes {
            out.extend_from_slice(&w.value);
        }
        set(&mut out, self.acls.len())?;
        for a in &self.acls {
            out.push(a.op as u8);
            out.extend_from_slice(a.stream.as_slice());
            if a.op.has_key() {
                key(&mut out, &a.key)?;
            }
            if a.op.has_account() {
                out.extend_from_slice(a.account.as_slice());
            }
        }
        Ok(out)
    }

    /// The submission tags: `STREAM_DOMAIN ‖` the distinct stream ids of the writes and
    /// ACL ops, sorted.
    pub fn tags(&self) -> Vec<u8> {
        let mut ids: Vec<B256> = self
            .writes
            .iter()
            .map(|w| w.stream)
            .chain(self.acls.iter().map(|a| a.stream))
            .collect();
        ids.sort();
        ids.dedup();
        let mut out = STREAM_DOMAIN.to_vec();
        for id in ids {
            out.extend_from_slice(id.as_slice());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::U256;

    fn h(i: u64) -> B256 {
        B256::from(U256::from(i))
    }
    fn a(i: u64) -> Address {
        Address::from_word(B256::from(U256::from(i)))
    }
    fn k(n: usize) -> Vec<u8> {
        vec![b'A'; n]
    }

    /// 0G's Go client `kv/kv_test.go::TestKVBuilder`: its inputs and expected bytes.
    #[test]
    fn matches_the_go_clients_vector() {
        let mut sd = StreamData {
            version: 10,
            ..Default::default()
        };
        for i in 1..=10 {
            sd.reads.push((h(i), k(i as usize)));
        }
        for i in 0..20u64 {
            sd.writes.push(Write {
                stream: h(10 + i + 1),
                key: k((10 + i + 1) as usize),
                value: vec![65 + i as u8; i as usize],
            });
        }
        use AclOp::*;
        let acl = |op, s: u64, key: Vec<u8>, account: Address| AclEntry {
            op,
            stream: h(s),
            key,
            account,
        };
        sd.acls = vec![
            acl(GrantAdmin, 31, vec![], a(10000001)),
            acl(RenounceAdmin, 32, vec![], Address::ZERO),
            acl(SetKeyToNormal, 33, k(31), Address::ZERO),
            acl(SetKeyToSpecial, 34, k(32), Address::ZERO),
            acl(GrantWriter, 35, vec![], a(10000002)),
            acl(RevokeWriter, 36, vec![], a(10000003)),
            acl(RenounceWriter, 37, vec![], Address::ZERO),
            acl(GrantSpecialWriter, 38, k(33), a(10000004)),
            acl(RevokeSpecialWriter, 39, k(34), a(10000005)),
            acl(RenounceSpecialWriter, 40, k(35), Address::ZERO),
        ];
        let bytes = sd.encode().unwrap();
        let want =
            alloy_primitives::hex::decode(include_str!("../../tests/kv/go-vector-data.hex").trim())
                .unwrap();
        assert_eq!(bytes.len(), 2495);
        assert_eq!(bytes, want);
        let tags =
            alloy_primitives::hex::decode(include_str!("../../tests/kv/go-vector-tags.hex").trim())
                .unwrap();
        assert_eq!(sd.tags(), tags);
        assert_eq!(StreamData::decode(&bytes).unwrap(), sd);
    }

    #[test]
    fn bad_data_does_not_parse() {
        let sd = StreamData {
            version: 1,
            reads: vec![],
            writes: vec![Write {
                stream: h(1),
                key: b"k".to_vec(),
                value: b"v".to_vec(),
            }],
            acls: vec![],
        };
        let bytes = sd.encode().unwrap();
        for cut in 0..bytes.len() - 4 {
            assert_eq!(
                StreamData::decode(&bytes[..cut]),
                Err(ParseError::InvalidData),
                "cut {cut}"
            );
        }
        // trailing zero padding is fine (an empty ACL set)
        let mut padded = bytes.clone();
        padded.extend_from_slice(&[0u8; 100]);
        assert_eq!(StreamData::decode(&padded).unwrap(), sd);
        // an empty key, a set too long, an unknown op
        let mut empty_key = 1u64.to_be_bytes().to_vec();
        empty_key.extend_from_slice(&1u32.to_be_bytes());
        empty_key.extend_from_slice(&[0u8; 32]);
        empty_key.extend_from_slice(&[0, 0, 0]);
        assert_eq!(StreamData::decode(&empty_key), Err(ParseError::InvalidData));
        let mut long = 1u64.to_be_bytes().to_vec();
        long.extend_from_slice(&(MAX_SET as u32 + 1).to_be_bytes());
        assert_eq!(StreamData::decode(&long), Err(ParseError::ListTooLong));
        let mut op = 1u64.to_be_bytes().to_vec();
        op.extend_from_slice(&[0; 8]);
        op.extend_from_slice(&1u32.to_be_bytes());
        op.push(0x40);
        op.extend_from_slice(&[0; 32]);
        assert_eq!(StreamData::decode(&op), Err(ParseError::InvalidData));
        assert!(matches!(
            StreamData {
                reads: vec![(h(1), vec![])],
                ..Default::default()
            }
            .encode(),
            Err(EncodeError::Key(0))
        ));
    }
}
