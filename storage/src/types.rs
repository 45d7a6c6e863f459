//! The JSON shapes of 0G's storage node API (serde camelCase, as 0G's node emits them).

use alloy_primitives::{Address, B256, U256};
use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::merkle::FileProof;

/// The tag prefix of a KV stream submission: `sha256("STREAM")`.
pub const STREAM_DOMAIN: [u8; 32] = [
    0xdf, 0x2f, 0xf3, 0xbb, 0x0a, 0xf3, 0x6c, 0x63, 0x84, 0xe6, 0x20, 0x65, 0x52, 0xa4, 0xed, 0x80,
    0x7f, 0x6f, 0x6a, 0x26, 0xe7, 0xd0, 0xaa, 0x6b, 0xff, 0x77, 0x2d, 0xdc, 0x9d, 0x43, 0x07, 0xaa,
];

/// The stream ids a submission's tags name (`STREAM_DOMAIN ‖ id…`), empty for a plain
/// file.
pub fn stream_ids(tags: &[u8]) -> Vec<B256> {
    match tags.strip_prefix(&STREAM_DOMAIN[..]) {
        Some(rest) if rest.len() % 32 == 0 => rest.chunks(32).map(B256::from_slice).collect(),
        _ => Vec::new(),
    }
}

/// A submitted file as the node knows it (0G's `Transaction`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Transaction {
    /// KV stream ids from the tags.
    pub stream_ids: Vec<U256>,
    /// Inline data (always empty here; serialized as a JSON array of numbers).
    pub data: Vec<u8>,
    /// The file root.
    pub data_merkle_root: B256,
    /// Submission nodes as `[height + 1, root]`.
    pub merkle_nodes: Vec<(u64, B256)>,
    /// First flow entry.
    pub start_entry_index: u64,
    /// File size in bytes.
    pub size: u64,
    /// Submission index.
    pub seq: u64,
}

/// 0G's `FileInfo`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FileInfo {
    /// The submission.
    pub tx: Transaction,
    /// Every segment is stored.
    pub finalized: bool,
    /// Segments were cached before the submission was seen (never, here).
    pub is_cached: bool,
    /// Segments stored so far.
    pub uploaded_seg_num: u64,
    /// The data was pruned (never, here).
    #[serde(default)]
    pub pruned: bool,
}

/// A segment with its proof against the file root (0G's `SegmentWithProof`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SegmentWithProof {
    /// The file root.
    pub root: B256,
    /// The segment's bytes (whole chunks), standard base64 on the wire.
    #[serde(with = "base64_bytes")]
    pub data: Vec<u8>,
    /// File-relative segment index.
    pub index: u64,
    /// Proof of the segment's root against `root`.
    pub proof: FileProof,
    /// File size in bytes.
    pub file_size: u64,
}

/// Version of the p2p protocol reported in the status.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProtocolVersion {
    /// Major.
    pub major: u8,
    /// Minor.
    pub minor: u8,
    /// Build.
    pub build: u8,
}

/// Which chain and flow contract the node follows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NetworkIdentity {
    /// Chain id.
    pub chain_id: u64,
    /// Flow contract address.
    pub flow_address: Address,
    /// p2p protocol version.
    pub p2p_protocol_version: ProtocolVersion,
}

/// 0G's `Status`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    /// Connected peers.
    pub connected_peers: u64,
    /// Last chain block whose submissions are applied.
    pub log_sync_height: u64,
    /// Its hash.
    pub log_sync_block: B256,
    /// The next submission index expected.
    pub next_tx_seq: u64,
    /// The chain and flow.
    pub network_identity: NetworkIdentity,
}

/// 0G's shard configuration: this node holds segments with
/// `segment_index % num_shard == shard_id`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShardConfig {
    /// This node's shard.
    pub shard_id: u64,
    /// Shards (a power of two).
    pub num_shard: u64,
}

/// Standard base64 (with padding) for byte strings.
pub mod base64_bytes {
    use super::*;

    /// Serializes as base64.
    pub fn serialize<S: serde::Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(v))
    }

    /// Deserializes from base64.
    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        base64::engine::general_purpose::STANDARD
            .decode(s.as_bytes())
            .map_err(serde::de::Error::custom)
    }
}

/// Encodes bytes as standard base64.
pub fn to_base64(v: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(v)
}

/// Decodes standard base64.
pub fn from_base64(s: &str) -> Result<Vec<u8>, base64::DecodeError> {
    base64::engine::general_purpose::STANDARD.decode(s.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_domain_is_sha256_of_stream() {
        // 0G's KV tags: sha256("STREAM") ‖ ids
        let mut tags = STREAM_DOMAIN.to_vec();
        tags.extend_from_slice(&[7u8; 32]);
        assert_eq!(stream_ids(&tags), vec![B256::repeat_byte(7)]);
        assert!(stream_ids(&[]).is_empty());
        assert!(stream_ids(&tags[..40]).is_empty());
    }

    #[test]
    fn segment_json_shape() {
        let s = SegmentWithProof {
            root: B256::repeat_byte(1),
            data: vec![0, 1, 2],
            index: 0,
            proof: FileProof {
                lemma: vec![B256::repeat_byte(1)],
                path: vec![],
            },
            file_size: 3,
        };
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(v["data"], "AAEC");
        assert_eq!(v["fileSize"], 3);
        assert_eq!(serde_json::from_value::<SegmentWithProof>(v).unwrap(), s);
    }
}

/// One shard of one segment, as members exchange it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShardItem {
    /// Segment index in the file.
    pub index: u64,
    /// The segment's root (its leaf in the file tree).
    pub leaf: B256,
    /// Proof of `leaf` against the file root (absent when the sender lacks leaves).
    pub proof: Option<FileProof>,
    /// The segment's length in bytes.
    pub seg_len: u32,
    /// The shard's position.
    pub position: u16,
    /// keccak256 of every shard of the segment, by position.
    pub manifest: Vec<B256>,
    /// The shard's bytes (base64 on the wire).
    #[serde(with = "base64_bytes")]
    pub data: Vec<u8>,
}

/// A checked segment: index, bytes, leaf (segment root) and proof.
pub type CheckedSegment = (u64, Vec<u8>, B256, FileProof);
