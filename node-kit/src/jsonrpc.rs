//! JSON-RPC 2.0 over HTTP, shared by the chain node and the storage
//! node: single and batch requests, the standard error codes, a request body limit, plus
//! `GET /health` and `GET /metrics` on the same port. A server is an [`RpcService`];
//! [`param`] and [`opt_param`] read positional parameters with typed errors.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tokio::net::TcpListener;

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
    /// The request ran out of its time budget (geth's code).
    pub const TIMEOUT: i64 = -32002;
    /// A limit was exceeded: too much work, too many requests (geth's code).
    pub const LIMIT_EXCEEDED: i64 = -32005;
}

/// Most requests one batch may carry.
pub const MAX_BATCH: usize = 1000;

/// Default size budget of one batch's response (geth's `--rpc.batch-response-max-size`).
pub const MAX_BATCH_RESPONSE_BYTES: usize = 25_000_000;

/// Default time budget of one request (a batch shares one budget).
pub const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// Limits of a JSON-RPC server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RpcLimits {
    /// Largest request body.
    pub max_body: usize,
    /// Most calls in one batch.
    pub max_batch: usize,
    /// Time budget of one HTTP request: a single call, or every call of a batch
    /// together. Calls not started within it answer `LIMIT_EXCEEDED`; a call still
    /// running at its end answers `TIMEOUT`.
    pub call_timeout: Duration,
    /// Size budget of one batch's response: once the answers so far exceed it, the
    /// remaining calls are not run and answer `LIMIT_EXCEEDED`.
    pub max_batch_response: usize,
    /// The HTTP server's limits (hosts, concurrency).
    pub http: crate::guard::HttpLimits,
}

impl RpcLimits {
    /// Defaults with a body limit of `max_body`.
    pub fn new(max_body: usize) -> Self {
        Self {
            max_body,
            max_batch: MAX_BATCH,
            call_timeout: DEFAULT_CALL_TIMEOUT,
            max_batch_response: MAX_BATCH_RESPONSE_BYTES,
            http: crate::guard::HttpLimits::default(),
        }
    }
}

/// A JSON-RPC error object.
#[derive(Debug, Clone, PartialEq)]
pub struct RpcError {
    /// Error code.
    pub code: i64,
    /// Message.
    pub message: String,
    /// Extra data (revert data as hex).
    pub data: Option<Value>,
}

impl RpcError {
    /// An error with a code and message.
    pub fn new(code: i64, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            data: None,
        }
    }

    /// `-32602 invalid params`.
    pub fn invalid_params(message: impl Into<String>) -> Self {
        Self::new(codes::INVALID_PARAMS, message)
    }

    /// `-32000`, a request the server refuses (geth's generic server error).
    pub fn server(message: impl Into<String>) -> Self {
        Self::new(codes::SERVER_ERROR, message)
    }

    /// `-32603 internal error`.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(codes::INTERNAL_ERROR, message)
    }

    /// `-32601 method not found`.
    pub fn method_not_found(method: &str) -> Self {
        Self::new(
            codes::METHOD_NOT_FOUND,
            format!("the method {method} does not exist/is not available"),
        )
    }
}

impl std::fmt::Display for RpcError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (code {})", self.message, self.code)
    }
}

impl std::error::Error for RpcError {}

/// A JSON-RPC server's methods, health and metrics.
pub trait RpcService: Send + Sync + 'static {
    /// Answers one call.
    fn call(
        &self,
        method: &str,
        params: Vec<Value>,
    ) -> impl Future<Output = Result<Value, RpcError>> + Send;

    /// Records one answered call (metrics).
    fn observe(&self, _method: &str, _ok: bool, _took: Duration) {}

    /// The `GET /health` body, or why the server is unhealthy (503).
    fn health(&self) -> Result<Value, RpcError>;

    /// The `GET /metrics` body (OpenMetrics text).
    fn metrics(&self) -> String;
}

/// Parameter `i` (named `name` in errors), required.
pub fn param<T: DeserializeOwned>(params: &[Value], i: usize, name: &str) -> Result<T, RpcError> {
    let v = params.get(i).ok_or_else(|| {
        RpcError::invalid_params(format!("missing value for required argument {i} ({name})"))
    })?;
    serde_json::from_value(v.clone())
        .map_err(|e| RpcError::invalid_params(format!("invalid argument {i} ({name}): {e}")))
}

/// Parameter `i`, required, moved out of `params` (no copy of a large value).
pub fn take_param<T: DeserializeOwned>(
    params: &mut [Value],
    i: usize,
    name: &str,
) -> Result<T, RpcError> {
    let v = params.get_mut(i).ok_or_else(|| {
        RpcError::invalid_params(format!("missing value for required argument {i} ({name})"))
    })?;
    serde_json::from_value(std::mem::take(v))
        .map_err(|e| RpcError::invalid_params(format!("invalid argument {i} ({name}): {e}")))
}

/// Parameter `i`, optional: absent or `null` is `None`.
pub fn opt_param<T: DeserializeOwned>(
    params: &[Value],
    i: usize,
    name: &str,
) -> Result<Option<T>, RpcError> {
    match params.get(i) {
        None | Some(Value::Null) => Ok(None),
        Some(_) => param(params, i, name).map(Some),
    }
}

/// A result value.
pub fn ok<T: Serialize>(v: T) -> Result<Value, RpcError> {
    serde_json::to_value(v).map_err(|e| RpcError::internal(e.to_string()))
}

pub(crate) fn error_object(id: Value, e: &RpcError) -> Value {
    let mut err = json!({ "code": e.code, "message": e.message });
    if let Some(data) = &e.data {
        err["data"] = data.clone();
    }
    json!({ "jsonrpc": "2.0", "id": id, "error": err })
}

async fn handle_one<S: RpcService>(
    svc: &S,
    req: Value,
    deadline: tokio::time::Instant,
) -> Option<Value> {
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
    let span = tracing::debug_span!(target: "zg_rpc", "rpc", method);
    let _enter = span.enter();
    let started = Instant::now();
    let result = if tokio::time::Instant::now() >= deadline {
        Err(RpcError::new(
            codes::LIMIT_EXCEEDED,
            "the request's time budget is spent; send fewer calls per batch",
        ))
    } else {
        match tokio::time::timeout_at(deadline, svc.call(method, params)).await {
            Ok(r) => r,
            Err(_) => Err(RpcError::new(
                codes::TIMEOUT,
                format!("{method} ran out of the request's time budget"),
            )),
        }
    };
    svc.observe(method, result.is_ok(), started.elapsed());
    if is_notification {
        return None;
    }
    Some(match result {
        Ok(v) => json!({ "jsonrpc": "2.0", "id": id, "result": v }),
        Err(e) => {
            tracing::debug!(target: "zg_rpc", method, code = e.code, message = %e.message, "rpc error");
            error_object(id, &e)
        }
    })
}

pub(crate) async fn rpc<S: RpcService>(
    State((svc, limits)): State<(Arc<S>, Arc<RpcLimits>)>,
    body: Bytes,
) -> Response {
    match answer(&*svc, &limits, &body).await {
        Some(out) => bytes_response(out),
        None => StatusCode::NO_CONTENT.into_response(),
    }
}

fn error_bytes(e: &RpcError) -> Option<Vec<u8>> {
    Some(serde_json::to_vec(&error_object(Value::Null, e)).expect("a JSON value serializes"))
}

/// The answer to one request body (an HTTP `POST /` or a WebSocket message): a single
/// call or a batch; `None` when it held notifications only.
pub(crate) async fn answer<S: RpcService>(
    svc: &S,
    limits: &RpcLimits,
    body: &[u8],
) -> Option<Vec<u8>> {
    let deadline = tokio::time::Instant::now() + limits.call_timeout;
    let req: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => {
            return error_bytes(&RpcError::new(
                codes::PARSE_ERROR,
                format!("parse error: {e}"),
            ));
        }
    };
    match req {
        Value::Array(reqs) => {
            if reqs.is_empty() {
                return error_bytes(&RpcError::new(codes::INVALID_REQUEST, "empty batch"));
            }
            if reqs.len() > limits.max_batch {
                return error_bytes(&RpcError::new(
                    codes::INVALID_REQUEST,
                    format!("batch of {} exceeds {}", reqs.len(), limits.max_batch),
                ));
            }
            // The guard took one unit for the request; a batch costs one per call.
            let extra = reqs.len() as u64 - 1;
            if let Err(t) = crate::clients::ClientMeter::current().admit(extra).await {
                return error_bytes(&RpcError::new(
                    codes::LIMIT_EXCEEDED,
                    format!("batch refused: {t}"),
                ));
            }
            // Each answer is serialized as soon as it is made: the batch holds its
            // response bytes, counted exactly, never a tree of JSON values.
            let mut out = Vec::with_capacity(64 * 1024);
            out.push(b'[');
            let mut answers = 0usize;
            for r in reqs {
                let v = if out.len() > limits.max_batch_response {
                    let id = r.get("id").cloned().unwrap_or(Value::Null);
                    Some(error_object(
                        id,
                        &RpcError::new(
                            codes::LIMIT_EXCEEDED,
                            format!(
                                "batch response over {} bytes; send fewer calls per batch",
                                limits.max_batch_response
                            ),
                        ),
                    ))
                } else {
                    handle_one(svc, r, deadline).await
                };
                if let Some(v) = v {
                    if answers > 0 {
                        out.push(b',');
                    }
                    answers += 1;
                    serde_json::to_writer(&mut out, &v).expect("a JSON value serializes");
                }
            }
            out.push(b']');
            (answers > 0).then_some(out)
        }
        single => handle_one(svc, single, deadline)
            .await
            .map(|v| serde_json::to_vec(&v).expect("a JSON value serializes")),
    }
}

/// Every answer's size is charged to the client ([`EGRESS_BYTES_PER_UNIT`] per unit):
/// large answers (log scans, blocks with transactions) cost what they weigh.
fn bytes_response(body: Vec<u8>) -> Response {
    crate::clients::ClientMeter::current().charge((body.len() / EGRESS_BYTES_PER_UNIT) as u64);
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// Bytes of response per cost unit charged to an untrusted client.
pub const EGRESS_BYTES_PER_UNIT: usize = 1024;

fn json_response(v: Value) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], v.to_string()).into_response()
}

pub(crate) async fn health<S: RpcService>(
    State((svc, _)): State<(Arc<S>, Arc<RpcLimits>)>,
) -> Response {
    match svc.health() {
        Ok(v) => json_response(v),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, e.message).into_response(),
    }
}

pub(crate) async fn metrics<S: RpcService>(
    State((svc, _)): State<(Arc<S>, Arc<RpcLimits>)>,
) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        svc.metrics(),
    )
        .into_response()
}

/// The router: `POST /` JSON-RPC (a JSON API: see [`crate::guard::json_only`]),
/// `GET /health`, `GET /metrics`. Serve it behind [`crate::guard`].
pub fn router<S: RpcService>(svc: Arc<S>, limits: &RpcLimits) -> Router {
    crate::guard::json_only(
        Router::new()
            .route("/", post(rpc::<S>))
            .route("/health", get(health::<S>))
            .route("/metrics", get(metrics::<S>))
            .layer(DefaultBodyLimit::max(limits.max_body))
            .with_state((svc, Arc::new(limits.clone()))),
    )
}

/// Serves `svc` on `listener`, behind the guard, until `shutdown` resolves.
pub async fn serve<S: RpcService>(
    listener: TcpListener,
    svc: Arc<S>,
    limits: &RpcLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    crate::guard::serve(listener, router(svc, limits), &limits.http, shutdown).await
}
