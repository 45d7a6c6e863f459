//! The broker's errors, classified by how the caller should react, and their HTTP form
//! (`{"error": "..."}`, as 0G's broker answers).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// Why a request was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    /// Missing, malformed, badly signed, expired, revoked or foreign session token (401):
    /// get a new token.
    #[error("validate session: {0}")]
    Unauthorized(String),
    /// The request itself is unusable (400): fix it.
    #[error("{0}")]
    InvalidInput(String),
    /// The route is not one the broker serves (404).
    #[error("endpoint not supported: {0}")]
    NotFound(String),
    /// The body is over the limit (413).
    #[error("request body size exceeds the maximum allowed size of {0} bytes")]
    TooLarge(usize),
    /// The user's sub-account cannot pay (402): top it up (`transferFund`).
    #[error("validate request: {0}")]
    Payment(String),
    /// Too many of the user's requests are in progress (429): wait for one to finish.
    #[error("rate limited: {0}")]
    TooMany(String),
    /// The chain or the upstream did not answer (503/502): retry later.
    #[error("{0}")]
    Unavailable(String),
    /// The upstream answered with something unusable (502).
    #[error("upstream: {0}")]
    Upstream(String),
    /// The broker's own store failed (500): an operator must look.
    #[error("store: {0}")]
    Store(String),
}

impl BrokerError {
    /// The HTTP status of this error.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::InvalidInput(_) => StatusCode::BAD_REQUEST,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Payment(_) => StatusCode::PAYMENT_REQUIRED,
            Self::TooMany(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Upstream(_) => StatusCode::BAD_GATEWAY,
            Self::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Whether retrying the same request later may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Self::Unavailable(_) | Self::Upstream(_) | Self::TooMany(_)
        )
    }
}

impl From<rocksdb::Error> for BrokerError {
    fn from(e: rocksdb::Error) -> Self {
        Self::Store(e.to_string())
    }
}

impl IntoResponse for BrokerError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "error": self.to_string() });
        (self.status(), axum::Json(body)).into_response()
    }
}
