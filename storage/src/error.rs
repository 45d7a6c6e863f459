//! Error types, classified by how the caller should react.

use zg_node_kit::jsonrpc::{RpcError, codes};

pub use zg_node_kit::StoreError;

/// A storage node request failed. Maps onto 0G's JSON-RPC errors.
#[derive(Debug, Clone, thiserror::Error)]
pub enum NodeError {
    /// A bad parameter (`-32602 Invalid params: <param>`, the reason as `data`): do not
    /// retry the same request.
    #[error("invalid params: {param}: {reason}")]
    InvalidParams {
        /// Which parameter.
        param: &'static str,
        /// Why.
        reason: String,
    },
    /// Too many uploads in flight: retry later (0G's `too many data writing`).
    #[error("too many data writing: {0}")]
    Busy(usize),
    /// Not enough cluster members took their shards: retry later.
    #[error("cluster unavailable: {0}")]
    Unavailable(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl NodeError {
    /// An invalid parameter.
    pub fn invalid(param: &'static str, reason: impl Into<String>) -> Self {
        Self::InvalidParams {
            param,
            reason: reason.into(),
        }
    }
}

impl From<NodeError> for RpcError {
    fn from(e: NodeError) -> Self {
        match e {
            NodeError::InvalidParams { param, reason } => RpcError {
                code: codes::INVALID_PARAMS,
                message: format!("Invalid params: {param}"),
                data: Some(serde_json::Value::String(reason)),
            },
            e @ (NodeError::Busy(_) | NodeError::Unavailable(_)) => RpcError::server(e.to_string()),
            NodeError::Store(e) => {
                tracing::error!(target: "zg_storage", error = %e, "store failure");
                RpcError {
                    code: codes::INTERNAL_ERROR,
                    message: "Internal error".into(),
                    data: Some(serde_json::Value::String(e.to_string())),
                }
            }
        }
    }
}

/// The chain could not be read or written: retry (the node keeps following).
#[derive(Debug, Clone, thiserror::Error)]
pub enum ChainError {
    /// The RPC failed or timed out: retry.
    #[error("chain rpc: {0}")]
    Rpc(String),
    /// A transaction reverted or a log did not decode: the request is wrong.
    #[error("chain refused: {0}")]
    Refused(String),
}
