//! Errors of the chain node, classified by how a caller should react.

/// A chain node failure.
#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    /// The database failed: fatal for the node.
    #[error("storage error: {0}")]
    Storage(String),
    /// Stored data does not decode: fatal, the datadir is damaged.
    #[error("corrupt database: {0}")]
    Corrupt(String),
    /// A transaction was rejected (JSON-RPC -32000): the sender must fix it.
    #[error("{0}")]
    TxRejected(String),
    /// Invalid parameters (JSON-RPC -32602).
    #[error("invalid params: {0}")]
    InvalidParams(String),
    /// Execution reverted (JSON-RPC 3, with the revert data).
    #[error("execution reverted{}", reason_suffix(.reason))]
    Reverted {
        /// Decoded `Error(string)` reason, if any.
        reason: Option<String>,
        /// Raw revert data.
        data: alloy_primitives::Bytes,
    },
    /// The EVM halted (out of gas, invalid opcode…) in a call or estimate.
    #[error("execution failed: {0}")]
    Halted(String),
    /// Configuration problem at start-up.
    #[error("configuration error: {0}")]
    Config(String),
    /// The node is shutting down.
    #[error("node is shutting down")]
    ShuttingDown,
}

fn reason_suffix(r: &Option<String>) -> String {
    r.as_ref().map(|r| format!(": {r}")).unwrap_or_default()
}

impl ChainError {
    pub(crate) fn storage(e: impl std::fmt::Display) -> Self {
        Self::Storage(e.to_string())
    }

    pub(crate) fn corrupt(e: impl std::fmt::Display) -> Self {
        Self::Corrupt(e.to_string())
    }

    /// Whether the node itself is broken (as opposed to a bad request).
    pub fn is_fatal(&self) -> bool {
        matches!(self, Self::Storage(_) | Self::Corrupt(_))
    }
}
