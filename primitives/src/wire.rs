//! Messages of the libp2p request-response protocols between disperser, DA nodes and
//! samplers (carried by libp2p's CBOR codec).

use alloy_primitives::{Address, B256, Signature, U256};
use serde::{Deserialize, Serialize};

use crate::bls::BlsSignature;
use crate::constants::STORE_REQUEST_DOMAIN;
use crate::encoding::Column;
use crate::header::BlobHeader;

/// Disperser → DA node: store these columns and sign.
///
/// A request is written as a 4-byte big-endian length, its [`StorePrelude`] (CBOR), then
/// its columns (CBOR): a node checks the prelude (chain, header, disperser signature,
/// epoch, quorum membership) before it reads a byte of the columns, and then reads at
/// most [`columns_wire_bound`] of them.
pub const STORE_PROTOCOL: &str = "/zg/da/store/2";
/// Largest store-request prelude: a header of 65 536 blobs' commitments fits.
pub const MAX_STORE_PRELUDE_BYTES: u32 = 4 * 1024 * 1024;
/// Anyone → DA node: serve these columns.
pub const SAMPLE_PROTOCOL: &str = "/zg/da/sample/1";
/// Anyone → DA node: serve the blob header of a data_root.
pub const HEADER_PROTOCOL: &str = "/zg/da/header/1";

/// Largest number of columns one sample request may ask for.
pub const MAX_SAMPLE_COLUMNS: usize = 128;

/// `keccak256(abi.encode("zg-da/store/v1", chain_id, data_root, epoch, quorum_id,
/// blob_count))`: what the disperser signs (secp256k1, its deposit account) to authorise a
/// store request and the fee it implies.
pub fn store_request_digest(
    chain_id: u64,
    data_root: B256,
    epoch: u64,
    quorum_id: u64,
    blob_count: u32,
) -> B256 {
    crate::bls::payload_digest(
        STORE_REQUEST_DOMAIN,
        chain_id,
        data_root,
        epoch,
        quorum_id,
        blob_count,
    )
}

/// `/zg/da/store/2` request (in memory; on the wire a [`StorePrelude`] then the
/// columns).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoreRequest {
    /// Chain the certificate is for.
    pub chain_id: u64,
    /// Epoch of the quorum.
    pub epoch: u64,
    /// Quorum within the epoch.
    pub quorum_id: u64,
    /// The payload's identity; must equal `header.data_root()`.
    pub data_root: B256,
    /// The blob header.
    pub header: BlobHeader,
    /// Exactly the receiving member's custody columns.
    pub columns: Vec<Column>,
    /// The disperser's secp256k1 signature (65 bytes, r ‖ s ‖ v) over
    /// [`store_request_digest`].
    #[serde(with = "serde_bytes")]
    pub disperser_signature: Vec<u8>,
    /// The W3C `traceparent` of the disperser's span for this request, so the node's
    /// spans join the put's trace (absent when the disperser exports no traces; not
    /// signed, and a node only uses it to label its spans).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<String>,
}

/// A store request without its columns: everything a node checks before reading them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StorePrelude {
    /// Chain the certificate is for.
    pub chain_id: u64,
    /// Epoch of the quorum.
    pub epoch: u64,
    /// Quorum within the epoch.
    pub quorum_id: u64,
    /// The payload's identity; must equal `header.data_root()`.
    pub data_root: B256,
    /// The blob header.
    pub header: BlobHeader,
    /// The disperser's secp256k1 signature (65 bytes, r ‖ s ‖ v) over
    /// [`store_request_digest`].
    #[serde(with = "serde_bytes")]
    pub disperser_signature: Vec<u8>,
    /// The W3C `traceparent` of the disperser's span for this request, so the node's
    /// spans join the put's trace (absent when the disperser exports no traces; not
    /// signed, and a node only uses it to label its spans).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<String>,
}

impl StorePrelude {
    /// The digest the disperser signed.
    pub fn digest(&self) -> B256 {
        store_request_digest(
            self.chain_id,
            self.data_root,
            self.epoch,
            self.quorum_id,
            self.header.blob_count,
        )
    }

    /// The checks a node makes before any chain look-up (see
    /// [`StoreRequest::check_origin`]); the disperser.
    pub fn check_origin(&self, chain_id: u64) -> Result<Address, StoreRefusal> {
        origin(
            chain_id,
            self.chain_id,
            &self.header,
            &self.data_root,
            &self.disperser_signature,
            &self.digest(),
        )
    }
}

/// At most how many bytes the CBOR of `columns` columns of `blob_count` cells and proofs
/// takes (a cell is a 2 048-byte string, a proof a 48-byte one, plus CBOR's framing).
pub fn columns_wire_bound(columns: usize, blob_count: u32) -> u64 {
    16 + columns as u64 * (64 + u64::from(blob_count) * 2_112)
}

fn recover(signature: &[u8], digest: &B256) -> Result<Address, DisperserSignatureError> {
    let raw: &[u8; 65] = signature
        .try_into()
        .map_err(|_| DisperserSignatureError(format!("{} bytes, expected 65", signature.len())))?;
    let sig = Signature::from_raw_array(raw).map_err(|e| DisperserSignatureError(e.to_string()))?;
    sig.recover_address_from_prehash(digest)
        .map_err(|e| DisperserSignatureError(e.to_string()))
}

fn origin(
    expected_chain: u64,
    chain_id: u64,
    header: &BlobHeader,
    data_root: &B256,
    signature: &[u8],
    digest: &B256,
) -> Result<Address, StoreRefusal> {
    if chain_id != expected_chain {
        return Err(StoreRefusal::WrongChain {
            expected: expected_chain,
            got: chain_id,
        });
    }
    header
        .verify(data_root)
        .map_err(|e| StoreRefusal::HeaderMismatch(e.to_string()))?;
    recover(signature, digest).map_err(|e| StoreRefusal::BadSignature(e.to_string()))
}

/// A request's authorising signature is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid disperser signature: {0}")]
pub struct DisperserSignatureError(pub String);

impl StoreRequest {
    /// The digest the disperser signed.
    pub fn digest(&self) -> B256 {
        store_request_digest(
            self.chain_id,
            self.data_root,
            self.epoch,
            self.quorum_id,
            self.header.blob_count,
        )
    }

    /// The disperser's address, recovered from its signature.
    pub fn recover_disperser(&self) -> Result<Address, DisperserSignatureError> {
        recover(&self.disperser_signature, &self.digest())
    }

    /// The checks a node makes before any chain look-up: the request is for `chain_id`,
    /// its header derives its data_root, and the disperser signed it; the disperser.
    pub fn check_origin(&self, chain_id: u64) -> Result<Address, StoreRefusal> {
        origin(
            chain_id,
            self.chain_id,
            &self.header,
            &self.data_root,
            &self.disperser_signature,
            &self.digest(),
        )
    }

    /// The request as its prelude and its columns (how it travels).
    pub fn into_parts(self) -> (StorePrelude, Vec<Column>) {
        (
            StorePrelude {
                chain_id: self.chain_id,
                epoch: self.epoch,
                quorum_id: self.quorum_id,
                data_root: self.data_root,
                header: self.header,
                disperser_signature: self.disperser_signature,
                traceparent: self.traceparent,
            },
            self.columns,
        )
    }

    /// The request made of a prelude and columns.
    pub fn from_parts(p: StorePrelude, columns: Vec<Column>) -> Self {
        Self {
            chain_id: p.chain_id,
            epoch: p.epoch,
            quorum_id: p.quorum_id,
            data_root: p.data_root,
            header: p.header,
            columns,
            disperser_signature: p.disperser_signature,
            traceparent: p.traceparent,
        }
    }

    /// The columns sent are exactly the custody columns of member `index` of a quorum
    /// of `size`.
    pub fn check_custody(&self, index: usize, size: usize) -> Result<(), StoreRefusal> {
        let expected = crate::custody_columns(index, size);
        let mut got: Vec<u16> = self.columns.iter().map(|c| c.index).collect();
        got.sort_unstable();
        if got != expected {
            return Err(StoreRefusal::WrongColumns { expected, got });
        }
        Ok(())
    }
}

/// `/zg/da/store/2` response.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum StoreResponse {
    /// Stored; the node's BLS signature over the attestation message.
    Signed {
        /// Signature over [`crate::bls::attestation_message`].
        signature: BlsSignature,
    },
    /// Not stored, and why.
    Refused(StoreRefusal),
}

/// Why a DA node refused to store and sign.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum StoreRefusal {
    /// Request for another chain.
    #[error("wrong chain id {got}, this node serves {expected}")]
    WrongChain {
        /// The node's chain.
        expected: u64,
        /// The request's.
        got: u64,
    },
    /// The node does not know this epoch/quorum (yet).
    #[error("unknown quorum {quorum_id} of epoch {epoch}")]
    UnknownQuorum {
        /// Epoch.
        epoch: u64,
        /// Quorum.
        quorum_id: u64,
    },
    /// The node is not a member of that quorum.
    #[error("not a member of quorum {quorum_id} of epoch {epoch}")]
    NotInQuorum {
        /// Epoch.
        epoch: u64,
        /// Quorum.
        quorum_id: u64,
    },
    /// The columns sent are not exactly the member's custody columns.
    #[error("wrong columns: expected {expected:?}, got {got:?}")]
    WrongColumns {
        /// The member's custody columns.
        expected: Vec<u16>,
        /// Columns received.
        got: Vec<u16>,
    },
    /// The header is invalid or does not hash to the data_root.
    #[error("header mismatch: {0}")]
    HeaderMismatch(String),
    /// A cell failed KZG verification.
    #[error("bad cell proof: {0}")]
    BadProof(String),
    /// The disperser signature is invalid.
    #[error("bad disperser signature: {0}")]
    BadSignature(String),
    /// The disperser's deposit does not cover the blob fee.
    #[error("disperser {disperser} deposit {balance} does not cover the fee {required}")]
    NoDeposit {
        /// Recovered disperser.
        disperser: Address,
        /// Its deposit.
        balance: U256,
        /// Fee of this payload.
        required: U256,
    },
    /// The request names an epoch older than the node signs for (its signature could
    /// no longer be anchored).
    #[error("epoch {epoch} is outside the signing window (current epoch {current})")]
    StaleEpoch {
        /// The request's epoch.
        epoch: u64,
        /// The node's current epoch.
        current: u64,
    },
    /// Too many concurrent requests or the node is full; retry later.
    #[error("over capacity: {0}")]
    OverCapacity(String),
    /// The request is malformed in some other way.
    #[error("malformed request: {0}")]
    Malformed(String),
    /// The node failed internally (storage, chain access); retry later or elsewhere.
    #[error("internal error: {0}")]
    Internal(String),
}

impl StoreRefusal {
    /// Whether the same request may succeed later.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Self::OverCapacity(_) | Self::Internal(_) | Self::UnknownQuorum { .. }
        )
    }
}

/// `/zg/da/sample/1` request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SampleRequest {
    /// The payload.
    pub data_root: B256,
    /// Columns wanted (at most [`MAX_SAMPLE_COLUMNS`], distinct).
    pub columns: Vec<u16>,
}

impl SampleRequest {
    /// Checks the request's shape: 1 to [`MAX_SAMPLE_COLUMNS`] distinct columns, each
    /// below the extended blob's width (what a node checks before any lookup).
    pub fn check(&self) -> Result<(), SampleRefusal> {
        if self.columns.is_empty() || self.columns.len() > MAX_SAMPLE_COLUMNS {
            return Err(SampleRefusal::Malformed(format!(
                "{} columns requested, allowed 1..={MAX_SAMPLE_COLUMNS}",
                self.columns.len()
            )));
        }
        let mut seen = [false; crate::CELLS_PER_EXT_BLOB];
        for &c in &self.columns {
            if usize::from(c) >= crate::CELLS_PER_EXT_BLOB {
                return Err(SampleRefusal::Malformed(format!("column {c} out of range")));
            }
            if std::mem::replace(&mut seen[usize::from(c)], true) {
                return Err(SampleRefusal::Malformed(format!(
                    "column {c} requested twice"
                )));
            }
        }
        Ok(())
    }
}

/// `/zg/da/sample/1` response.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SampleResponse {
    /// The columns, in the order requested.
    Columns(Vec<Column>),
    /// Not served, and why.
    Refused(SampleRefusal),
}

/// Why a sample request was not served.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum SampleRefusal {
    /// The node has no data for that data_root.
    #[error("unknown data_root")]
    NotFound,
    /// The node does not hold that column.
    #[error("column {0} is not held by this node")]
    NotHeld(u16),
    /// Too many or duplicate columns, or out of range.
    #[error("malformed sample request: {0}")]
    Malformed(String),
    /// Busy; retry later.
    #[error("over capacity")]
    OverCapacity,
    /// Internal failure.
    #[error("internal error: {0}")]
    Internal(String),
}

/// `/zg/da/header/1` request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeaderRequest {
    /// The payload.
    pub data_root: B256,
}

/// `/zg/da/header/1` response.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum HeaderResponse {
    /// The header (the requester checks it against the data_root).
    Found(BlobHeader),
    /// Unknown data_root.
    NotFound,
    /// The request did not decode or is otherwise invalid.
    Malformed(String),
}
