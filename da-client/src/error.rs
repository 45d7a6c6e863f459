//! Error types of the client side (chain, libp2p, retrieval), classified by how the
//! caller should react.

use zg_primitives::{HeaderError, RecoverError};

/// A chain access failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ChainClientError {
    /// The endpoint is unreachable or the transport failed: retry.
    #[error("chain unavailable: {0}")]
    Unavailable(String),
    /// The node answered with a JSON-RPC error other than a revert: retry.
    #[error("chain rpc error: {0}")]
    Rpc(String),
    /// The call or transaction reverted: the request itself is refused.
    #[error("chain call reverted: {0}")]
    Reverted(String),
    /// The entrance module refused an anchor: the quorum's epoch left the anchor window.
    /// Not retryable as is; certify again in a current quorum.
    #[error("chain refused a stale anchor: epoch {epoch}, current epoch {current}")]
    StaleEpoch {
        /// The certificate's epoch.
        epoch: u64,
        /// The chain's current epoch.
        current: u64,
    },
    /// No receipt in time: retry (the transaction may still land).
    #[error("chain timeout: {0}")]
    Timeout(String),
    /// A return value did not decode: the endpoint is not serving the DA ABI.
    #[error("chain returned undecodable data: {0}")]
    Decode(String),
    /// Misconfiguration (URL, missing key): fatal.
    #[error("chain client configuration: {0}")]
    Config(String),
}

/// Why a DA component (node, disperser, op-plugin, light client) could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Its store failed to open.
    #[error(transparent)]
    Store(#[from] zg_node_kit::StoreError),
    /// libp2p could not start.
    #[error(transparent)]
    Net(#[from] NetError),
    /// The chain is unreachable or does not serve the DA modules.
    #[error(transparent)]
    Chain(#[from] ChainClientError),
    /// A listener failed.
    #[error("http: {0}")]
    Http(#[from] std::io::Error),
    /// The settings are refused (an exposed API without access control, say).
    #[error("configuration: {0}")]
    Config(String),
    /// Persisted state (a checkpoint, results) could not be opened.
    #[error("state: {0}")]
    State(String),
}

impl ChainClientError {
    /// Whether trying again later may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Unavailable(_) | Self::Rpc(_) | Self::Timeout(_))
    }
}

/// A libp2p request failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum NetError {
    /// The peer's socket is not a usable `/…/p2p/<peer id>` multiaddr.
    #[error("bad peer address {0}")]
    BadAddress(String),
    /// Dialing, the connection or the stream failed: retry or ask another peer.
    #[error("request to {peer} failed: {reason}")]
    Request {
        /// The peer.
        peer: String,
        /// What failed.
        reason: String,
    },
    /// No answer in time.
    #[error("request to {0} timed out")]
    Timeout(String),
    /// The network worker stopped (shutdown).
    #[error("network stopped")]
    Stopped,
    /// The network could not start (listen address, keys).
    #[error("network setup: {0}")]
    Setup(String),
}

/// Retrieval of a payload failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RetrieveError {
    /// The certificate's quorum does not exist on chain.
    #[error("unknown quorum {quorum_id} of epoch {epoch}")]
    UnknownQuorum {
        /// Epoch.
        epoch: u64,
        /// Quorum.
        quorum_id: u64,
    },
    /// No member served a header matching the data_root, and so many said they do not
    /// hold it that fewer than the threshold could: the payload is gone (or was never
    /// certified).
    #[error("no quorum member served the header of {0}")]
    HeaderUnavailable(String),
    /// No member served a header, but enough of them failed to answer (unreachable,
    /// timed out, Byzantine) that the payload may still exist: retry later.
    #[error(
        "no quorum member served the header of {data_root}: {not_found} of {members} said they do not hold it, the others did not answer"
    )]
    MembersUnavailable {
        /// The data_root asked for.
        data_root: String,
        /// Members that answered "not found".
        not_found: usize,
        /// Quorum size.
        members: usize,
    },
    /// Fewer than 64 verified columns could be fetched.
    #[error("only {got} of the 64 needed columns could be fetched and verified")]
    NotEnoughColumns {
        /// Verified distinct columns.
        got: usize,
    },
    /// The verified columns did not decode (cannot happen for a certified payload).
    #[error("recovery failed: {0}")]
    Recover(#[from] RecoverError),
    /// Chain access failed.
    #[error(transparent)]
    Chain(#[from] ChainClientError),
}

impl RetrieveError {
    /// Whether the data is (as far as can be told) unknown rather than unavailable.
    pub fn is_not_found(&self) -> bool {
        matches!(
            self,
            Self::UnknownQuorum { .. } | Self::HeaderUnavailable(_)
        )
    }
}

impl From<HeaderError> for RetrieveError {
    fn from(e: HeaderError) -> Self {
        Self::Recover(RecoverError::Header(e))
    }
}
