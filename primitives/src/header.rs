//! Blob header, `data_root` and Merkle inclusion proofs of blob commitments.
//!
//! `data_root = keccak256(0x00 ‖ payload_len u32 BE ‖ merkle_root)`, where `merkle_root`
//! is the keccak binary Merkle root over leaves `keccak256(C_i)`, padded with zero leaves
//! to a power of two; an inner node is `keccak256(left ‖ right)`.

use alloy_primitives::{B256, keccak256};
use serde::{Deserialize, Serialize};

use crate::codec::blob_count;
use crate::constants::PAYLOAD_VERSION;
use crate::kzg::KzgCommitment;

/// The header of an encoded payload: everything needed to verify its cells.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobHeader {
    /// Payload codec version (0).
    pub version: u8,
    /// Payload length in bytes.
    pub payload_len: u32,
    /// Number of blobs, `ceil((5 + payload_len) / 126976)`.
    pub blob_count: u32,
    /// One KZG commitment per blob.
    pub commitments: Vec<KzgCommitment>,
}

/// A header that is inconsistent with itself or with a claimed `data_root`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    /// Unknown codec version.
    #[error("unknown header version {0}")]
    UnknownVersion(u8),
    /// Zero-length payload.
    #[error("payload length is zero")]
    ZeroLength,
    /// `blob_count` does not follow from `payload_len`.
    #[error("blob_count {got} does not match payload length {payload_len} (needs {expected})")]
    BlobCount {
        /// Declared payload length.
        payload_len: u32,
        /// Blobs the length needs.
        expected: usize,
        /// Declared blob count.
        got: u32,
    },
    /// Number of commitments differs from `blob_count`.
    #[error("{got} commitments for {expected} blobs")]
    CommitmentCount {
        /// Blobs declared.
        expected: u32,
        /// Commitments given.
        got: usize,
    },
    /// The header hashes to another data_root.
    #[error("header data_root {computed} does not match {expected}")]
    DataRootMismatch {
        /// The data_root the header was expected to have.
        expected: B256,
        /// The data_root it has.
        computed: B256,
    },
}

impl BlobHeader {
    /// Builds the header of a payload from its blob commitments.
    pub fn new(payload_len: u32, commitments: Vec<KzgCommitment>) -> Self {
        Self {
            version: PAYLOAD_VERSION,
            payload_len,
            blob_count: commitments.len() as u32,
            commitments,
        }
    }

    /// Checks the header is self-consistent.
    pub fn validate(&self) -> Result<(), HeaderError> {
        if self.version != PAYLOAD_VERSION {
            return Err(HeaderError::UnknownVersion(self.version));
        }
        if self.payload_len == 0 {
            return Err(HeaderError::ZeroLength);
        }
        let expected = blob_count(self.payload_len as usize);
        if self.blob_count as usize != expected {
            return Err(HeaderError::BlobCount {
                payload_len: self.payload_len,
                expected,
                got: self.blob_count,
            });
        }
        if self.commitments.len() != expected {
            return Err(HeaderError::CommitmentCount {
                expected: self.blob_count,
                got: self.commitments.len(),
            });
        }
        Ok(())
    }

    /// Merkle root over `keccak256(C_i)`.
    pub fn merkle_root(&self) -> B256 {
        merkle_root(&self.leaves())
    }

    /// The payload's identity: `keccak256(0x00 ‖ payload_len ‖ merkle_root)`.
    pub fn data_root(&self) -> B256 {
        data_root(self.payload_len, self.merkle_root())
    }

    /// Validates the header and checks it hashes to `expected`.
    pub fn verify(&self, expected: &B256) -> Result<(), HeaderError> {
        self.validate()?;
        let computed = self.data_root();
        if computed != *expected {
            return Err(HeaderError::DataRootMismatch {
                expected: *expected,
                computed,
            });
        }
        Ok(())
    }

    /// Inclusion proof of commitment `index` in the Merkle root; `None` if out of range.
    pub fn inclusion_proof(&self, index: usize) -> Option<MerkleProof> {
        (index < self.commitments.len()).then(|| MerkleProof::build(&self.leaves(), index))
    }

    fn leaves(&self) -> Vec<B256> {
        self.commitments.iter().map(commitment_leaf).collect()
    }
}

/// Merkle leaf of a commitment: `keccak256(C_i)`.
pub fn commitment_leaf(c: &KzgCommitment) -> B256 {
    keccak256(c.0)
}

/// `keccak256(0x00 ‖ payload_len u32 BE ‖ merkle_root)`.
pub fn data_root(payload_len: u32, merkle_root: B256) -> B256 {
    let mut buf = [0u8; 1 + 4 + 32];
    buf[0] = PAYLOAD_VERSION;
    buf[1..5].copy_from_slice(&payload_len.to_be_bytes());
    buf[5..].copy_from_slice(merkle_root.as_slice());
    keccak256(buf)
}

fn hash_pair(a: &B256, b: &B256) -> B256 {
    let mut buf = [0u8; 64];
    buf[..32].copy_from_slice(a.as_slice());
    buf[32..].copy_from_slice(b.as_slice());
    keccak256(buf)
}

/// Keccak binary Merkle root over `leaves`, zero-padded to a power of two. One leaf is its
/// own root; no leaves give the zero hash.
pub fn merkle_root(leaves: &[B256]) -> B256 {
    if leaves.is_empty() {
        return B256::ZERO;
    }
    let mut level: Vec<B256> = leaves.to_vec();
    level.resize(leaves.len().next_power_of_two(), B256::ZERO);
    while level.len() > 1 {
        level = level
            .chunks_exact(2)
            .map(|p| hash_pair(&p[0], &p[1]))
            .collect();
    }
    level[0]
}

/// Merkle path of one leaf, siblings from the bottom up.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MerkleProof {
    /// Leaf index.
    pub index: u32,
    /// Sibling hashes, leaf level first.
    pub siblings: Vec<B256>,
}

impl MerkleProof {
    fn build(leaves: &[B256], index: usize) -> Self {
        let mut level: Vec<B256> = leaves.to_vec();
        level.resize(leaves.len().next_power_of_two(), B256::ZERO);
        let mut siblings = Vec::new();
        let mut i = index;
        while level.len() > 1 {
            siblings.push(level[i ^ 1]);
            level = level
                .chunks_exact(2)
                .map(|p| hash_pair(&p[0], &p[1]))
                .collect();
            i /= 2;
        }
        Self {
            index: index as u32,
            siblings,
        }
    }

    /// The root this path leads to from `leaf`; `None` if the index does not fit the depth.
    pub fn root_from(&self, leaf: B256) -> Option<B256> {
        if self.siblings.len() < 32 && (self.index as u64) >> self.siblings.len() != 0 {
            return None;
        }
        let mut acc = leaf;
        for (depth, s) in self.siblings.iter().enumerate() {
            acc = if (self.index >> depth) & 1 == 0 {
                hash_pair(&acc, s)
            } else {
                hash_pair(s, &acc)
            };
        }
        Some(acc)
    }

    /// Checks that commitment `c` is blob `self.index` of the payload with `data_root`.
    pub fn verify_commitment(&self, c: &KzgCommitment, payload_len: u32, root: &B256) -> bool {
        self.root_from(commitment_leaf(c))
            .is_some_and(|m| data_root(payload_len, m) == *root)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(n: usize) -> BlobHeader {
        let commitments = (0..n).map(|i| KzgCommitment([i as u8 + 1; 48])).collect();
        BlobHeader::new((n as u32 - 1) * 126_976 + 1, commitments)
    }

    #[test]
    fn roots_by_hand() {
        let h = header(1);
        assert_eq!(h.merkle_root(), keccak256([1u8; 48]));
        let h = header(3);
        let l: Vec<B256> = h.commitments.iter().map(commitment_leaf).collect();
        let expected = hash_pair(&hash_pair(&l[0], &l[1]), &hash_pair(&l[2], &B256::ZERO));
        assert_eq!(h.merkle_root(), expected);
        let mut pre = vec![0u8];
        pre.extend_from_slice(&h.payload_len.to_be_bytes());
        pre.extend_from_slice(expected.as_slice());
        assert_eq!(h.data_root(), keccak256(pre));
    }

    #[test]
    fn proofs_verify_and_reject() {
        for n in [1, 2, 3, 5, 8, 133] {
            let h = header(n);
            h.validate().unwrap();
            let root = h.data_root();
            for i in 0..n {
                let p = h.inclusion_proof(i).unwrap();
                assert!(p.verify_commitment(&h.commitments[i], h.payload_len, &root));
                assert!(!p.verify_commitment(&KzgCommitment([0xEE; 48]), h.payload_len, &root));
                assert!(!p.verify_commitment(&h.commitments[i], h.payload_len + 1, &root));
                let mut wrong = p.clone();
                wrong.index ^= 1;
                if n > 1 {
                    assert!(!wrong.verify_commitment(&h.commitments[i], h.payload_len, &root));
                }
            }
            assert!(h.inclusion_proof(n).is_none());
        }
        let p = MerkleProof {
            index: 4,
            siblings: vec![B256::ZERO; 2],
        };
        assert_eq!(p.root_from(B256::ZERO), None);
    }

    #[test]
    fn validation() {
        let mut h = header(2);
        h.verify(&h.data_root()).unwrap();
        assert!(matches!(
            h.verify(&B256::ZERO),
            Err(HeaderError::DataRootMismatch { .. })
        ));
        h.blob_count = 3;
        assert!(matches!(h.validate(), Err(HeaderError::BlobCount { .. })));
        let mut h = header(2);
        h.commitments.pop();
        assert!(matches!(
            h.validate(),
            Err(HeaderError::CommitmentCount { .. })
        ));
        let mut h = header(1);
        h.version = 1;
        assert_eq!(h.validate(), Err(HeaderError::UnknownVersion(1)));
        let mut h = header(1);
        h.payload_len = 0;
        assert_eq!(h.validate(), Err(HeaderError::ZeroLength));
    }
}
