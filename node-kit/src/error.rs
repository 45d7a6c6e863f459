//! The store error every server shares.

/// A local store (RocksDB) failed: fatal for the request, the process should report it.
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

#[cfg(feature = "db")]
impl From<rocksdb::Error> for StoreError {
    fn from(e: rocksdb::Error) -> Self {
        Self::Db(e.to_string())
    }
}

impl StoreError {
    /// A record under `key` (shown as text or hex) that did not decode.
    pub fn corrupt(key: impl Into<String>, reason: impl std::fmt::Display) -> Self {
        Self::Corrupt {
            key: key.into(),
            reason: reason.to_string(),
        }
    }
}
