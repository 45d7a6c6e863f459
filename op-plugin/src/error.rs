//! Errors of the plugin, classified by how op-batcher and op-node should react; each
//! maps to one HTTP status.

use zg_da_client::{DisperseFailure, FailureKind, RetrieveError};
use zg_node_kit::StoreError;
use zg_primitives::CommitmentError;

/// A request the plugin could not serve.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PluginError {
    /// Malformed input (commitment, body, hash mismatch): HTTP 400, never retried as is.
    #[error("{0}")]
    BadRequest(String),
    /// Unknown commitment: HTTP 404 (op-node's "not found").
    #[error("{0}")]
    NotFound(String),
    /// Body over the size limit: HTTP 413.
    #[error("{0}")]
    TooLarge(String),
    /// The DA layer cannot certify or serve right now: HTTP 503 (op-batcher may fail
    /// over to L1; op-node retries).
    #[error("{0}")]
    Unavailable(String),
    /// The disperser handed over a certificate that does not verify (wrong data_root,
    /// not anchored): HTTP 503, so op-batcher retries or fails over; nothing is cached.
    #[error("{0}")]
    BadCertificate(String),
    /// A fault of the plugin or its disperser: HTTP 500.
    #[error("{0}")]
    Internal(String),
}

impl PluginError {
    /// The HTTP status code.
    pub fn status(&self) -> u16 {
        match self {
            Self::BadRequest(_) => 400,
            Self::NotFound(_) => 404,
            Self::TooLarge(_) => 413,
            Self::Unavailable(_) | Self::BadCertificate(_) => 503,
            Self::Internal(_) => 500,
        }
    }

    /// A short machine-readable kind for the error body.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::BadRequest(_) => "bad_request",
            Self::NotFound(_) => "not_found",
            Self::TooLarge(_) => "too_large",
            Self::Unavailable(_) => "unavailable",
            Self::BadCertificate(_) => "bad_certificate",
            Self::Internal(_) => "internal",
        }
    }
}

impl From<CommitmentError> for PluginError {
    fn from(e: CommitmentError) -> Self {
        Self::BadRequest(e.to_string())
    }
}

impl From<DisperseFailure> for PluginError {
    fn from(f: DisperseFailure) -> Self {
        match f.kind {
            FailureKind::RetryLater => Self::Unavailable(f.message),
            FailureKind::InvalidInput => Self::BadRequest(f.message),
            FailureKind::TooLarge => Self::TooLarge(f.message),
            FailureKind::CannotCertify => Self::Internal(f.message),
        }
    }
}

impl From<StoreError> for PluginError {
    fn from(e: StoreError) -> Self {
        Self::Internal(format!("plugin store: {e}"))
    }
}

impl From<RetrieveError> for PluginError {
    fn from(e: RetrieveError) -> Self {
        match &e {
            e if e.is_not_found() => Self::NotFound(e.to_string()),
            RetrieveError::NotEnoughColumns { .. }
            | RetrieveError::MembersUnavailable { .. }
            | RetrieveError::Chain(_) => Self::Unavailable(e.to_string()),
            _ => Self::Internal(e.to_string()),
        }
    }
}
