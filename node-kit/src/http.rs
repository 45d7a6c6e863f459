//! HTTP plumbing of the servers: request bodies read under a size limit without
//! buffering oversized ones, and JSON error answers.

use axum::Json;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;

/// Bytes of an oversized body read and discarded before answering, so the client reads
/// the answer and the connection stays usable; beyond that the connection is closed.
const DRAIN_LIMIT: usize = 16 * 1024 * 1024;

/// Why a body was not read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    /// Over the limit (declared or while reading): HTTP 413.
    #[error("body exceeds the maximum of {max} bytes{}", declared.map(|d| format!(" (declared {d})")).unwrap_or_default())]
    TooLarge {
        /// The limit.
        max: usize,
        /// The declared `Content-Length`, if that is what was over.
        declared: Option<u64>,
        /// Whether the connection should be closed (the body was not drained).
        close: bool,
    },
}

/// Reads `body` if it is at most `max` bytes. A declared `Content-Length` over the limit
/// is refused before anything is buffered (the body is drained, never stored).
pub async fn read_limited(headers: &HeaderMap, body: Body, max: usize) -> Result<Bytes, BodyError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max as u64) {
        let mut stream = body.into_data_stream();
        let mut seen = 0usize;
        let mut close = false;
        while let Some(chunk) = stream.next().await {
            match chunk {
                Ok(c) => seen += c.len(),
                Err(_) => break,
            }
            if seen > max + DRAIN_LIMIT {
                close = true;
                break;
            }
        }
        return Err(BodyError::TooLarge {
            max,
            declared,
            close,
        });
    }
    axum::body::to_bytes(body, max)
        .await
        .map_err(|_| BodyError::TooLarge {
            max,
            declared: None,
            close: true,
        })
}

/// Marks a response so the server closes the connection after it.
pub fn close_connection(r: &mut axum::response::Response) {
    r.headers_mut().insert(
        header::CONNECTION,
        header::HeaderValue::from_static("close"),
    );
}

/// The JSON error answer of the servers: `{"error": kind, "message": text}` with
/// `status`; `kind` is a short machine-readable word (`bad_request`, `unavailable`, …).
pub fn json_error(status: StatusCode, kind: &str, message: impl Into<String>) -> Response {
    (
        status,
        Json(serde_json::json!({ "error": kind, "message": message.into() })),
    )
        .into_response()
}
