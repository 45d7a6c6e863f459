//! A JSON-RPC 2.0 server over HTTP (axum): single and batch requests, standard error
//! codes, a request body limit, plus `GET /health` and `GET /metrics` on the same port.

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use tokio::net::TcpListener;

use super::{EthApi, RpcError};

/// JSON-RPC error codes.
pub mod codes {
    /// Invalid JSON.
    pub const PARSE_ERROR: i64 = -32700;
    /// Not a JSON-RPC request object.
    pub const INVALID_REQUEST: i64 = -32600;
    /// Unknown method.
    pub const METHOD_NOT_FOUND: i64 = -32601;
    /// Wrong parameters.
    pub const INVALID_PARAMS: i64 = -32602;
    /// Internal failure.
    pub const INTERNAL_ERROR: i64 = -32603;
    /// Transaction rejected / generic server error (geth's convention).
    pub const SERVER_ERROR: i64 = -32000;
    /// Execution reverted, with revert data (geth's convention).
    pub const EXECUTION_REVERTED: i64 = 3;
}

/// Most requests one batch may carry.
const MAX_BATCH: usize = 1000;

fn error_object(id: Value, e: &RpcError) -> Value {
    let mut err = json!({ "code": e.code, "message": e.message });
    if let Some(data) = &e.data {
        err["data"] = data.clone();
    }
    json!({ "jsonrpc": "2.0", "id": id, "error": err })
}

async fn handle_one(api: &EthApi, req: Value) -> Option<Value> {
    let Value::Object(obj) = req else {
        return Some(error_object(
            Value::Null,
            &RpcError::new(codes::INVALID_REQUEST, "invalid request"),
        ));
    };
    let id = obj.get("id").cloned();
    let is_notification = id.is_none();
    let id = id.unwrap_or(Value::Null);
    if !matches!(id, Value::Null | Value::Number(_) | Value::String(_)) {
        return Some(error_object(
            Value::Null,
            &RpcError::new(codes::INVALID_REQUEST, "invalid id"),
        ));
    }
    if obj.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return Some(error_object(
            id,
            &RpcError::new(codes::INVALID_REQUEST, "jsonrpc must be \"2.0\""),
        ));
    }
    let Some(method) = obj.get("method").and_then(Value::as_str) else {
        return Some(error_object(
            id,
            &RpcError::new(codes::INVALID_REQUEST, "missing method"),
        ));
    };
    let params = match obj.get("params") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a.clone(),
        Some(_) => {
            return Some(error_object(
                id,
                &RpcError::invalid_params("params must be an array"),
            ));
        }
    };
    let span = tracing::debug_span!(target: "zg_chain::rpc", "rpc", method);
    let _enter = span.enter();
    let started = std::time::Instant::now();
    let result = api.call(method, params).await;
    api.metrics()
        .observe_rpc(method, result.is_ok(), started.elapsed());
    if is_notification {
        return None;
    }
    Some(match result {
        Ok(v) => json!({ "jsonrpc": "2.0", "id": id, "result": v }),
        Err(e) => {
            tracing::debug!(target: "zg_chain::rpc", method, code = e.code, message = %e.message, "rpc error");
            error_object(id, &e)
        }
    })
}

async fn rpc(State(api): State<Arc<EthApi>>, body: Bytes) -> Response {
    let req: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            return json_response(error_object(
                Value::Null,
                &RpcError::new(codes::PARSE_ERROR, format!("parse error: {e}")),
            ));
        }
    };
    match req {
        Value::Array(reqs) => {
            if reqs.is_empty() {
                return json_response(error_object(
                    Value::Null,
                    &RpcError::new(codes::INVALID_REQUEST, "empty batch"),
                ));
            }
            if reqs.len() > MAX_BATCH {
                return json_response(error_object(
                    Value::Null,
                    &RpcError::new(
                        codes::INVALID_REQUEST,
                        format!("batch of {} exceeds {MAX_BATCH}", reqs.len()),
                    ),
                ));
            }
            let mut out = Vec::with_capacity(reqs.len());
            for r in reqs {
                if let Some(v) = handle_one(&api, r).await {
                    out.push(v);
                }
            }
            if out.is_empty() {
                StatusCode::NO_CONTENT.into_response()
            } else {
                json_response(Value::Array(out))
            }
        }
        single => match handle_one(&api, single).await {
            Some(v) => json_response(v),
            None => StatusCode::NO_CONTENT.into_response(),
        },
    }
}

fn json_response(v: Value) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], v.to_string()).into_response()
}

async fn health(State(api): State<Arc<EthApi>>) -> Response {
    match api.health() {
        Ok(v) => json_response(v),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, e.message).into_response(),
    }
}

async fn metrics(State(api): State<Arc<EthApi>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        api.metrics().encode(),
    )
        .into_response()
}

/// The router: `POST /` JSON-RPC, `GET /health`, `GET /metrics`.
pub fn router(api: Arc<EthApi>, max_body: usize) -> Router {
    Router::new()
        .route("/", post(rpc))
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .layer(DefaultBodyLimit::max(max_body))
        .with_state(api)
}

/// Serves until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    api: Arc<EthApi>,
    max_body: usize,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(api, max_body))
        .with_graceful_shutdown(shutdown)
        .await
}
