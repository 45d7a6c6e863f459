//! Availability certificates and OP Stack alt-DA commitments.
//!
//! Generic commitment (what `POST /put` returns, raw bytes):
//! `0x01 ‖ 0x47 ‖ epoch (u64 LE) ‖ quorum_id (u64 LE) ‖ data_root (32)`, 50 bytes.
//! Keccak commitment: `0x00 ‖ keccak256(body)`, 33 bytes.

use alloy_primitives::B256;
use serde::{Deserialize, Serialize};

/// Type byte of a keccak256 commitment.
pub const KECCAK_COMMITMENT_TYPE: u8 = 0x00;
/// Type byte of a generic (DA-layer defined) commitment.
pub const GENERIC_COMMITMENT_TYPE: u8 = 0x01;
/// 0G's DA-layer byte inside a generic commitment.
pub const ZG_DA_LAYER_BYTE: u8 = 0x47;
/// Length of an encoded generic commitment.
pub const GENERIC_COMMITMENT_LEN: usize = 2 + 8 + 8 + 32;
/// Length of an encoded keccak commitment.
pub const KECCAK_COMMITMENT_LEN: usize = 1 + 32;

/// Proof that a quorum certified a payload: `(epoch, quorum_id, data_root)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Certificate {
    /// Epoch of the signing quorum.
    pub epoch: u64,
    /// Quorum within the epoch.
    pub quorum_id: u64,
    /// Identity of the payload.
    pub data_root: B256,
}

/// An OP alt-DA commitment as op-node and op-batcher see it (after the L1 tx's own
/// version byte).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AltDaCommitment {
    /// `0x00 ‖ keccak256(data)`.
    Keccak(B256),
    /// `0x01 ‖ 0x47 ‖ certificate`.
    Generic(Certificate),
}

/// A commitment that is not well formed. All cases are bad input (HTTP 400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommitmentError {
    /// No bytes.
    #[error("empty commitment")]
    Empty,
    /// Hex text without the `0x` prefix.
    #[error("commitment hex must start with 0x")]
    MissingPrefix,
    /// Not hex.
    #[error("invalid hex in commitment: {0}")]
    BadHex(String),
    /// Type byte neither 0x00 nor 0x01.
    #[error("unknown commitment type 0x{0:02x}")]
    UnknownType(u8),
    /// A generic commitment of another DA layer.
    #[error("generic commitment for DA layer 0x{0:02x}, expected 0x47")]
    WrongDaLayer(u8),
    /// Wrong length for its type.
    #[error("{kind} commitment must be {expected} bytes, got {got}")]
    WrongLength {
        /// "keccak" or "generic".
        kind: &'static str,
        /// Required length.
        expected: usize,
        /// Length given.
        got: usize,
    },
}

impl Certificate {
    /// The 48-byte payload of a generic commitment: `epoch LE ‖ quorum LE ‖ data_root`.
    pub fn to_bytes(&self) -> [u8; 48] {
        let mut out = [0u8; 48];
        out[..8].copy_from_slice(&self.epoch.to_le_bytes());
        out[8..16].copy_from_slice(&self.quorum_id.to_le_bytes());
        out[16..].copy_from_slice(self.data_root.as_slice());
        out
    }

    /// Parses [`Certificate::to_bytes`].
    pub fn from_bytes(b: &[u8; 48]) -> Self {
        Self {
            epoch: u64::from_le_bytes(b[..8].try_into().expect("8 bytes")),
            quorum_id: u64::from_le_bytes(b[8..16].try_into().expect("8 bytes")),
            data_root: B256::from_slice(&b[16..]),
        }
    }
}

impl AltDaCommitment {
    /// Raw bytes, starting at the type byte.
    pub fn to_bytes(&self) -> Vec<u8> {
        match self {
            Self::Keccak(h) => {
                let mut v = Vec::with_capacity(KECCAK_COMMITMENT_LEN);
                v.push(KECCAK_COMMITMENT_TYPE);
                v.extend_from_slice(h.as_slice());
                v
            }
            Self::Generic(c) => {
                let mut v = Vec::with_capacity(GENERIC_COMMITMENT_LEN);
                v.push(GENERIC_COMMITMENT_TYPE);
                v.push(ZG_DA_LAYER_BYTE);
                v.extend_from_slice(&c.to_bytes());
                v
            }
        }
    }

    /// `0x`-prefixed hex of [`to_bytes`](Self::to_bytes), as in `GET /get/0x…`.
    pub fn to_hex(&self) -> String {
        crate::bytes::to_hex(&self.to_bytes())
    }

    /// Parses raw bytes strictly: known type, 0G's DA byte, exact length.
    pub fn from_bytes(b: &[u8]) -> Result<Self, CommitmentError> {
        let (&ty, rest) = b.split_first().ok_or(CommitmentError::Empty)?;
        match ty {
            KECCAK_COMMITMENT_TYPE => {
                let h: [u8; 32] = rest.try_into().map_err(|_| CommitmentError::WrongLength {
                    kind: "keccak",
                    expected: KECCAK_COMMITMENT_LEN,
                    got: b.len(),
                })?;
                Ok(Self::Keccak(B256::from(h)))
            }
            GENERIC_COMMITMENT_TYPE => {
                let (&layer, body) = rest.split_first().ok_or(CommitmentError::WrongLength {
                    kind: "generic",
                    expected: GENERIC_COMMITMENT_LEN,
                    got: b.len(),
                })?;
                if layer != ZG_DA_LAYER_BYTE {
                    return Err(CommitmentError::WrongDaLayer(layer));
                }
                let body: &[u8; 48] =
                    body.try_into().map_err(|_| CommitmentError::WrongLength {
                        kind: "generic",
                        expected: GENERIC_COMMITMENT_LEN,
                        got: b.len(),
                    })?;
                Ok(Self::Generic(Certificate::from_bytes(body)))
            }
            other => Err(CommitmentError::UnknownType(other)),
        }
    }

    /// Parses `0x`-prefixed hex (the form in `/get/0x…` and `/put/0x…` paths).
    pub fn from_hex(s: &str) -> Result<Self, CommitmentError> {
        let digits = s.strip_prefix("0x").ok_or(CommitmentError::MissingPrefix)?;
        if digits.is_empty() {
            return Err(CommitmentError::Empty);
        }
        let raw = hex::decode(digits).map_err(|e| CommitmentError::BadHex(e.to_string()))?;
        Self::from_bytes(&raw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generic_layout() {
        let c = Certificate {
            epoch: 1,
            quorum_id: 2,
            data_root: B256::repeat_byte(0xAA),
        };
        let b = AltDaCommitment::Generic(c).to_bytes();
        assert_eq!(b.len(), 50);
        assert_eq!(&b[..2], &[0x01, 0x47]);
        assert_eq!(&b[2..10], &[1, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(&b[10..18], &[2, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(&b[18..], &[0xAA; 32]);
        assert_eq!(
            AltDaCommitment::from_bytes(&b).unwrap(),
            AltDaCommitment::Generic(c)
        );
    }

    #[test]
    fn rejections() {
        use CommitmentError::*;
        assert_eq!(AltDaCommitment::from_bytes(&[]), Err(Empty));
        assert_eq!(AltDaCommitment::from_bytes(&[2, 0]), Err(UnknownType(2)));
        assert_eq!(
            AltDaCommitment::from_bytes(&[1]).unwrap_err(),
            WrongLength {
                kind: "generic",
                expected: 50,
                got: 1
            }
        );
        assert_eq!(
            AltDaCommitment::from_bytes(&[1, 0x0c, 0]),
            Err(WrongDaLayer(0x0c))
        );
        assert!(matches!(
            AltDaCommitment::from_bytes(&[1, 0x47, 0]),
            Err(WrongLength { .. })
        ));
        assert!(matches!(
            AltDaCommitment::from_bytes(&[0; 34]),
            Err(WrongLength { kind: "keccak", .. })
        ));
        assert_eq!(AltDaCommitment::from_hex("00aa"), Err(MissingPrefix));
        assert_eq!(AltDaCommitment::from_hex("0x"), Err(Empty));
        assert!(matches!(AltDaCommitment::from_hex("0xzz"), Err(BadHex(_))));
        assert!(matches!(AltDaCommitment::from_hex("0x0"), Err(BadHex(_))));
    }
}
