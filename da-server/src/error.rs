//! Error types, classified by how the caller should react. The client-side errors
//! (chain, libp2p, retrieval) live in `zg-da-client` and are re-exported here.

use zg_da_client::disperse::{DisperseFailure, FailureKind};
use zg_primitives::{CodecError, EncodeError};

pub use zg_da_client::error::{ChainClientError, NetError, RetrieveError};

pub use zg_node_kit::StoreError;

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

impl DisperseError {
    /// How a client should react: the one classification behind the API's HTTP status,
    /// the failed record's `failure` and the embedded [`zg_da_client::Disperse`] answer.
    pub fn kind(&self) -> FailureKind {
        match self {
            Self::Payload(CodecError::PayloadTooLarge { .. }) => FailureKind::TooLarge,
            Self::Payload(_) => FailureKind::InvalidInput,
            Self::NoQuorum(_) | Self::Anchor(_) | Self::Chain(_) | Self::Shutdown => {
                FailureKind::RetryLater
            }
            Self::Encode(_) | Self::Store(_) => FailureKind::CannotCertify,
        }
    }

    /// This error as a client-facing failure.
    pub fn to_failure(&self) -> DisperseFailure {
        DisperseFailure::new(self.kind(), self.to_string())
    }
}

impl From<EncodeError> for DisperseError {
    fn from(e: EncodeError) -> Self {
        match e {
            EncodeError::Codec(c) => Self::Payload(c),
            other => Self::Encode(other.to_string()),
        }
    }
}
