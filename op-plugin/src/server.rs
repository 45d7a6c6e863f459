//! The OP alt-DA HTTP protocol.
//!
//! - `POST|PUT /put` and `/put/`: body = batch → 200 with the raw 50-byte generic
//!   commitment `0x01 0x47 epoch(LE) quorum(LE) data_root`.
//! - `POST|PUT /put/0x00<64 hex>`: keccak mode → 200 with an empty body.
//! - `GET /get/0x<hex commitment>` → 200 with the exact bytes.
//! - `/health`, `/metrics`.
//!
//! Errors carry a JSON body `{"error": kind, "message": text}`: 400 malformed, 404
//! unknown, 405 wrong method, 413 too large, 503 DA unavailable, 500 otherwise.

use std::time::Instant;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use zg_node_kit::http::{BodyError, close_connection, read_limited};
use zg_primitives::AltDaCommitment;

use crate::error::PluginError;
use crate::plugin::Plugin;

use zg_node_kit::json_error as error_response;

impl IntoResponse for PluginError {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        error_response(status, self.kind(), self.to_string())
    }
}

/// The router of the plugin's HTTP API.
pub fn router(plugin: Plugin) -> Router {
    let put_routes = post(put_generic).put(put_generic);
    Router::new()
        .route("/put", put_routes.clone())
        .route("/put/", put_routes)
        .route("/put/{commitment}", post(put_keccak).put(put_keccak))
        .route("/get/{commitment}", get(get_data))
        .route("/get", get(missing_commitment))
        .route("/get/", get(missing_commitment))
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .method_not_allowed_fallback(|| async {
            error_response(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "use POST or PUT for /put and GET for /get",
            )
        })
        .fallback(|| async {
            error_response(
                StatusCode::NOT_FOUND,
                "no_route",
                "no such route (the OP alt-DA routes are /put and /get/0x…)",
            )
        })
        .layer(middleware::from_fn_with_state(plugin.clone(), observe))
        .with_state(plugin)
}

/// Counts and times every request by route, method and status.
async fn observe(State(plugin): State<Plugin>, req: Request, next: Next) -> Response {
    let route = route_label(req.uri().path());
    let method = req.method().to_string();
    let started = Instant::now();
    let resp = next.run(req).await;
    let status = resp.status().as_u16().to_string();
    let m = plugin.metrics();
    m.requests
        .get_or_create(&vec![
            ("route", route.to_string()),
            ("method", method),
            ("status", status.clone()),
        ])
        .inc();
    m.request_seconds
        .get_or_create(&vec![("route", route.to_string()), ("status", status)])
        .observe(started.elapsed().as_secs_f64());
    resp
}

/// The route a path falls under (a fixed set, so labels stay bounded).
fn route_label(path: &str) -> &'static str {
    match path {
        "/put" | "/put/" => "put",
        "/health" => "health",
        "/metrics" => "metrics",
        p if p.starts_with("/put/") => "put_keccak",
        p if p == "/get" || p.starts_with("/get/") => "get",
        _ => "other",
    }
}

async fn read_body(
    plugin: &Plugin,
    headers: &HeaderMap,
    body: Body,
) -> Result<axum::body::Bytes, Response> {
    read_limited(headers, body, plugin.config().max_blob_size)
        .await
        .map_err(|e| {
            let BodyError::TooLarge { close, .. } = e;
            let mut r = PluginError::TooLarge(e.to_string()).into_response();
            if close {
                close_connection(&mut r);
            }
            r
        })
}

#[tracing::instrument(target = "zg_op_plugin", skip_all, fields(len))]
async fn put_generic(State(plugin): State<Plugin>, headers: HeaderMap, body: Body) -> Response {
    let body = match read_body(&plugin, &headers, body).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    tracing::Span::current().record("len", body.len());
    match plugin.put(body, None).await {
        Ok(cert) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/octet-stream")],
            AltDaCommitment::Generic(cert).to_bytes(),
        )
            .into_response(),
        Err(e) => {
            tracing::warn!(target: "zg_op_plugin", error = %e, "put failed");
            e.into_response()
        }
    }
}

#[tracing::instrument(target = "zg_op_plugin", skip_all, fields(commitment = %commitment))]
async fn put_keccak(
    State(plugin): State<Plugin>,
    Path(commitment): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let hash = match AltDaCommitment::from_hex(&commitment) {
        Ok(AltDaCommitment::Keccak(h)) => h,
        Ok(AltDaCommitment::Generic(_)) => {
            return PluginError::BadRequest(
                "only keccak commitments (0x00…) can be put by commitment; post generic data to /put"
                    .into(),
            )
            .into_response();
        }
        Err(e) => return PluginError::from(e).into_response(),
    };
    let body = match read_body(&plugin, &headers, body).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    match plugin.put(body, Some(hash)).await {
        Ok(_) => StatusCode::OK.into_response(),
        Err(e) => {
            tracing::warn!(target: "zg_op_plugin", error = %e, "keccak put failed");
            e.into_response()
        }
    }
}

#[tracing::instrument(target = "zg_op_plugin", skip_all, fields(commitment = %commitment))]
async fn get_data(State(plugin): State<Plugin>, Path(commitment): Path<String>) -> Response {
    let commitment = match AltDaCommitment::from_hex(&commitment) {
        Ok(c) => c,
        Err(e) => return PluginError::from(e).into_response(),
    };
    match plugin.get(commitment).await {
        Ok((data, source)) => (
            StatusCode::OK,
            [
                (header::CONTENT_TYPE, "application/octet-stream"),
                (
                    header::HeaderName::from_static("x-zg-source"),
                    source.as_str(),
                ),
            ],
            data,
        )
            .into_response(),
        Err(e) => {
            if !matches!(e, PluginError::NotFound(_) | PluginError::BadRequest(_)) {
                tracing::warn!(target: "zg_op_plugin", error = %e, "get failed");
            }
            e.into_response()
        }
    }
}

async fn missing_commitment() -> Response {
    PluginError::BadRequest("missing commitment: GET /get/0x<hex commitment>".into())
        .into_response()
}

async fn health(State(plugin): State<Plugin>) -> Response {
    if let Some(f) = plugin.health().failure() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(serde_json::json!({
                "status": "failed", "role": "op-plugin", "failure": f.to_string()
            })),
        )
            .into_response();
    }
    match plugin.chain().epoch().await {
        Ok(epoch) => (
            StatusCode::OK,
            axum::Json(serde_json::json!({
                "status": "ok", "role": "op-plugin", "epoch": epoch,
                "verification": plugin.verification(),
            })),
        )
            .into_response(),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(serde_json::json!({
                "status": "degraded", "role": "op-plugin", "chain": e.to_string()
            })),
        )
            .into_response(),
    }
}

async fn metrics(State(plugin): State<Plugin>) -> Response {
    plugin.metrics().render()
}
