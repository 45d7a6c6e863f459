//! The archive's HTTP API.
//!
//! - `GET|HEAD /v1/payloads/{data_root}`: the payload's bytes (`application/octet-stream`),
//!   with single-range requests (`Range: bytes=a-b`, `a-`, `-n` → 206 with
//!   `Content-Range`; unsatisfiable → 416; several ranges → the whole payload, 200).
//! - `GET /v1/payloads/{data_root}/info`: the index entry (storage root, submission,
//!   size, anchor).
//! - `GET /v1/status`: the follower (final block, next block, lag), counts, the account.
//! - `/health`: 503 when a task failed or the lag exceeds retention − margin.
//! - `/metrics`.
//!
//! Errors carry `{"error": kind, "message": text}`: 400, 404, 416, 502 (a source served
//! other bytes), 503.

use alloy_primitives::B256;
use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use zg_node_kit::{Health, json_error};

use crate::archiver::Archiver;
use crate::error::ArchiverError;

impl IntoResponse for ArchiverError {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        json_error(status, self.kind(), self.to_string())
    }
}

#[derive(Clone)]
struct AppState {
    archiver: Archiver,
    health: Health,
}

/// The router of the archive API.
pub fn router(archiver: Archiver, health: Health) -> Router {
    let state = AppState { archiver, health };
    Router::new()
        .route("/v1/payloads/{data_root}", get(payload))
        .route("/v1/payloads/{data_root}/info", get(info))
        .route("/v1/status", get(status))
        .route("/health", get(health_route))
        .route("/metrics", get(metrics))
        .method_not_allowed_fallback(|| async {
            json_error(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "the archive is read-only: GET or HEAD",
            )
        })
        .fallback(|| async {
            json_error(
                StatusCode::NOT_FOUND,
                "no_route",
                "no such route (payloads are at /v1/payloads/0x<data_root>)",
            )
        })
        .layer(middleware::from_fn_with_state(state.clone(), observe))
        .with_state(state)
}

async fn observe(State(s): State<AppState>, req: Request, next: Next) -> Response {
    let path = req.uri().path();
    let route = match path {
        "/health" => "health",
        "/metrics" => "metrics",
        "/v1/status" => "status",
        p if p.starts_with("/v1/payloads/") && p.ends_with("/info") => "info",
        p if p.starts_with("/v1/payloads/") => "payload",
        _ => "other",
    };
    let resp = next.run(req).await;
    s.archiver
        .metrics()
        .requests
        .get_or_create(&vec![
            ("route", route.to_string()),
            ("status", resp.status().as_u16().to_string()),
        ])
        .inc();
    resp
}

fn parse_root(s: &str) -> Result<B256, ArchiverError> {
    let hex = s.strip_prefix("0x").unwrap_or(s);
    if hex.len() != 64 {
        return Err(ArchiverError::Invalid(format!(
            "a data_root is 32 bytes of hex, got {} characters",
            hex.len()
        )));
    }
    hex.parse::<B256>()
        .map_err(|e| ArchiverError::Invalid(format!("data_root: {e}")))
}

/// A parsed `Range` header against a body of `len` bytes.
#[derive(Debug, PartialEq, Eq)]
pub enum RangeRequest {
    /// No range (or one that is ignored): the whole body.
    Full,
    /// `start..=end`.
    Part(u64, u64),
    /// Not satisfiable.
    Unsatisfiable,
}

/// Parses a `Range` header value (RFC 9110 §14.1.2, one byte range; several ranges or
/// another unit are answered with the whole body, as the RFC allows).
pub fn parse_range(value: &str, len: u64) -> RangeRequest {
    let Some(spec) = value.trim().strip_prefix("bytes=") else {
        return RangeRequest::Full;
    };
    if spec.contains(',') {
        return RangeRequest::Full;
    }
    let Some((a, b)) = spec.trim().split_once('-') else {
        return RangeRequest::Full;
    };
    let (a, b) = (a.trim(), b.trim());
    if a.is_empty() {
        // A suffix: the last n bytes.
        return match b.parse::<u64>() {
            Ok(0) | Err(_) => RangeRequest::Unsatisfiable,
            Ok(_) if len == 0 => RangeRequest::Unsatisfiable,
            Ok(n) => RangeRequest::Part(len.saturating_sub(n), len - 1),
        };
    }
    let Ok(start) = a.parse::<u64>() else {
        return RangeRequest::Full;
    };
    if start >= len {
        return RangeRequest::Unsatisfiable;
    }
    let end = if b.is_empty() {
        len - 1
    } else {
        match b.parse::<u64>() {
            Ok(e) if e >= start => e.min(len - 1),
            _ => return RangeRequest::Full,
        }
    };
    RangeRequest::Part(start, end)
}

async fn payload(
    State(s): State<AppState>,
    Path(root): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ArchiverError> {
    let root = parse_root(&root)?;
    let (bytes, source) = s.archiver.read(&root).await?;
    let len = bytes.len() as u64;
    let range = headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .map_or(RangeRequest::Full, |v| parse_range(v, len));
    let mut resp = match range {
        RangeRequest::Full => (StatusCode::OK, Body::from(bytes.as_ref().clone())).into_response(),
        RangeRequest::Part(a, b) => {
            let part = bytes[a as usize..=b as usize].to_vec();
            let mut r = (StatusCode::PARTIAL_CONTENT, Body::from(part)).into_response();
            if let Ok(v) = HeaderValue::from_str(&format!("bytes {a}-{b}/{len}")) {
                r.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            r
        }
        RangeRequest::Unsatisfiable => {
            let mut r = json_error(
                StatusCode::RANGE_NOT_SATISFIABLE,
                "range_not_satisfiable",
                format!("the payload has {len} bytes"),
            );
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{len}")) {
                r.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            return Ok(r);
        }
    };
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if let Ok(v) = HeaderValue::from_str(&format!("\"{root}\"")) {
        h.insert(header::ETAG, v);
    }
    h.insert(
        "x-archive-source",
        HeaderValue::from_static(source.as_str()),
    );
    Ok(resp)
}

async fn info(
    State(s): State<AppState>,
    Path(root): Path<String>,
) -> Result<Response, ArchiverError> {
    let root = parse_root(&root)?;
    let index = s.archiver.index().clone();
    let entry = tokio::task::spawn_blocking(move || index.entry(&root))
        .await
        .map_err(|e| ArchiverError::Unavailable(e.to_string()))??;
    match entry {
        Some(e) => Ok(axum::Json(e).into_response()),
        None => {
            let index = s.archiver.index().clone();
            let missed = tokio::task::spawn_blocking(move || index.missed(&root))
                .await
                .map_err(|e| ArchiverError::Unavailable(e.to_string()))??;
            Err(ArchiverError::NotFound(match missed {
                Some(why) => format!("{root} was missed: {why}"),
                None => format!("{root} is not archived"),
            }))
        }
    }
}

async fn status(State(s): State<AppState>) -> Response {
    let index = s.archiver.index().clone();
    let counts = tokio::task::spawn_blocking(move || index.counts())
        .await
        .unwrap_or_default();
    let f = s.archiver.status();
    axum::Json(serde_json::json!({
        "account": s.archiver.account(),
        "follow": f,
        "max_lag_seconds": s.archiver.config().max_lag().as_secs(),
        "archived": counts.0,
        "pending": counts.1,
        "missed": counts.2,
    }))
    .into_response()
}

async fn health_route(State(s): State<AppState>) -> Response {
    let f = s.archiver.status();
    let max = s.archiver.config().max_lag().as_secs();
    let (mut code, body) = s.health.report(serde_json::json!({
        "role": "archiver",
        "lag_seconds": f.lag_seconds,
        "max_lag_seconds": max,
        "next_block": f.next_block,
        "final_block": f.final_block,
    }));
    let mut body = body;
    if code == StatusCode::OK && !s.archiver.lag_ok() {
        code = StatusCode::SERVICE_UNAVAILABLE;
        body["status"] = "lagging".into();
        body["reason"] = format!(
            "{} s behind the chain, more than retention − margin ({max} s): payloads are pruned before they are archived",
            f.lag_seconds
        )
        .into();
    }
    (code, axum::Json(body)).into_response()
}

async fn metrics(State(s): State<AppState>) -> Response {
    s.archiver.metrics().render()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        use RangeRequest::*;
        assert_eq!(parse_range("bytes=0-9", 100), Part(0, 9));
        assert_eq!(parse_range("bytes=90-", 100), Part(90, 99));
        assert_eq!(parse_range("bytes=90-1000", 100), Part(90, 99));
        assert_eq!(parse_range("bytes=-10", 100), Part(90, 99));
        assert_eq!(parse_range("bytes=-1000", 100), Part(0, 99));
        assert_eq!(parse_range("bytes=100-", 100), Unsatisfiable);
        assert_eq!(parse_range("bytes=-0", 100), Unsatisfiable);
        assert_eq!(parse_range("bytes=0-0", 0), Unsatisfiable);
        assert_eq!(parse_range("bytes=5-2", 100), Full);
        assert_eq!(parse_range("bytes=0-1,5-6", 100), Full);
        assert_eq!(parse_range("items=0-1", 100), Full);
        assert_eq!(parse_range("bytes=x-1", 100), Full);
        assert_eq!(
            parse_range("bytes=18446744073709551615-", 100),
            Unsatisfiable
        );
    }

    #[test]
    fn roots() {
        assert!(parse_root(&format!("0x{}", "ab".repeat(32))).is_ok());
        assert!(parse_root(&"ab".repeat(32)).is_ok());
        assert!(matches!(parse_root("0x12"), Err(ArchiverError::Invalid(_))));
        assert!(matches!(
            parse_root(&format!("0x{}", "zz".repeat(32))),
            Err(ArchiverError::Invalid(_))
        ));
    }
}
