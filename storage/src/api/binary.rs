//! The HTTP route of the binary upload path ([`crate::binary`] has the body format).

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;

use super::StorageApi;
use crate::binary::decode_segments;
use crate::error::NodeError;
use crate::types::SegmentWithProof;

fn refuse(status: StatusCode, message: String) -> Response {
    (
        status,
        axum::Json(serde_json::json!({ "message": message })),
    )
        .into_response()
}

async fn upload(State(api): State<Arc<StorageApi>>, Path(seq): Path<u64>, body: Bytes) -> Response {
    let segments = match decode_segments(&body) {
        Ok(s) => s,
        Err(e) => return refuse(StatusCode::BAD_REQUEST, format!("body: {e}")),
    };
    let tx = match api.store().tx(seq) {
        Ok(Some(tx)) => tx,
        Ok(None) => return refuse(StatusCode::NOT_FOUND, format!("submission {seq} not found")),
        Err(e) => return refuse(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    };
    let n = segments.len();
    let segments = segments
        .into_iter()
        .map(|s| SegmentWithProof {
            root: tx.root,
            data: s.data,
            index: s.index,
            proof: s.proof,
            file_size: tx.size,
        })
        .collect();
    match api.upload(segments, Some(seq)).await {
        Ok(()) => axum::Json(serde_json::json!({ "stored": n })).into_response(),
        Err(e) => {
            let status = match &e {
                NodeError::InvalidParams { .. } => StatusCode::BAD_REQUEST,
                NodeError::Busy(_) => StatusCode::TOO_MANY_REQUESTS,
                NodeError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
                NodeError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
            };
            refuse(status, e.to_string())
        }
    }
}

/// The binary upload route, with the body limit `max_body`.
pub fn router(api: Arc<StorageApi>, max_body: usize) -> Router {
    Router::new()
        .route("/v1/segments/{seq}", post(upload))
        .layer(DefaultBodyLimit::max(max_body))
        .with_state(api)
}
