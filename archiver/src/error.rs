//! Errors, classified by how the caller reacts.

use zg_node_kit::StoreError;

/// Why archiving or serving did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum ArchiverError {
    /// A dependency (chain, DA nodes, storage nodes, object store) failed or timed out:
    /// retried on the next pass; an HTTP read answers 503.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// No such payload in the archive: HTTP 404.
    #[error("not found: {0}")]
    NotFound(String),
    /// Malformed request: HTTP 400.
    #[error("invalid: {0}")]
    Invalid(String),
    /// Bytes that do not match what the index recorded (a storage node or object store
    /// served other data): HTTP 502, and the source is skipped.
    #[error("corrupt: {0}")]
    Corrupt(String),
    /// The archiver's own store failed: fatal for the follower.
    #[error("index: {0}")]
    Store(#[from] StoreError),
    /// Settings that cannot work.
    #[error("config: {0}")]
    Config(String),
}

impl ArchiverError {
    /// The HTTP status of a read that failed so.
    pub fn status(&self) -> u16 {
        match self {
            Self::Unavailable(_) => 503,
            Self::NotFound(_) => 404,
            Self::Invalid(_) => 400,
            Self::Corrupt(_) => 502,
            Self::Store(_) | Self::Config(_) => 500,
        }
    }

    /// A short machine-readable kind.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Unavailable(_) => "unavailable",
            Self::NotFound(_) => "not_found",
            Self::Invalid(_) => "bad_request",
            Self::Corrupt(_) => "corrupt",
            Self::Store(_) => "internal",
            Self::Config(_) => "config",
        }
    }
}

pub(crate) fn unavailable(what: &str) -> impl Fn(String) -> ArchiverError + '_ {
    move |e| ArchiverError::Unavailable(format!("{what}: {e}"))
}
