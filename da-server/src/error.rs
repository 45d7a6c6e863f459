//! Error types, classified by how the caller should react. The client-side errors
//! (chain, libp2p, retrieval) live in `zg-da-client` and are re-exported here.

use zg_primitives::{CodecError, EncodeError};

pub use zg_da_client::error::{ChainClientError, NetError, RetrieveError};

/// A local store (rocksdb) failed: fatal for the request, the process should report it.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// RocksDB error.
    #[error("rocksdb: {0}")]
    Db(String),
    /// A stored record did not decode (corruption or an incompatible version).
    #[error("corrupt record {key}: {reason}")]
    Corrupt {
        /// Key of the record.
        key: String,
        /// Why.
        reason: String,
    },
}

impl From<rocksdb::Error> for StoreError {
    fn from(e: rocksdb::Error) -> Self {
        Self::Db(e.to_string())
    }
}

/// A dispersal failed or was refused.
#[derive(Debug, Clone, thiserror::Error)]
pub enum DisperseError {
    /// The payload is empty or over the size limit (HTTP 400 / 413).
    #[error(transparent)]
    Payload(#[from] CodecError),
    /// Encoding failed.
    #[error("encoding failed: {0}")]
    Encode(String),
    /// No quorum of the current epoch can reach its threshold (HTTP 503).
    #[error("no quorum available: {0}")]
    NoQuorum(String),
    /// Anchoring failed.
    #[error("anchoring failed: {0}")]
    Anchor(String),
    /// Chain access failed.
    #[error(transparent)]
    Chain(#[from] ChainClientError),
    /// The journal failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The disperser is shutting down.
    #[error("shutting down")]
    Shutdown,
}

impl From<EncodeError> for DisperseError {
    fn from(e: EncodeError) -> Self {
        match e {
            EncodeError::Codec(c) => Self::Payload(c),
            other => Self::Encode(other.to_string()),
        }
    }
}
