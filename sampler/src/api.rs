//! The light client's HTTP API.
//!
//! - `GET /v1/status`: head followed, checkpoint, confirmations, counts by status;
//! - `GET /v1/availability/{data_root}`: the latest result for a payload (status,
//!   confidence, samples ok/failed, when), and every anchor of it;
//! - `GET /v1/blocks/{n}`: the results of the anchors in block `n`;
//! - `GET /v1/events`: server-sent events, one `result` event per status change;
//! - `GET /v1/overview?limit=N`: the newest `N` results (default 50, at most 500), the
//!   health of the quorum members they asked, and payloads per minute;
//! - `GET /` (or `/status`): a status page built from the two above (no framework: one
//!   HTML file with a script that renders with `textContent` only);
//! - `/metrics`, `/health`.

use std::convert::Infallible;
use std::time::Duration;

use alloy_primitives::B256;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use futures::{Stream, StreamExt};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use zg_node_kit::Health;

use crate::client::LightClient;

use zg_node_kit::json_error as error;

#[derive(Clone)]
struct Api {
    client: LightClient,
    stop: CancellationToken,
    health: Health,
}

/// The router; event streams end when `stop` is cancelled (so a graceful shutdown does
/// not wait for subscribers).
pub fn router(client: LightClient, stop: CancellationToken) -> Router {
    router_with_health(client, stop, Health::default())
}

/// [`router`] whose `/health` also turns red (503) when `health` does.
pub fn router_with_health(client: LightClient, stop: CancellationToken, tasks: Health) -> Router {
    Router::new()
        .route("/v1/status", get(status))
        .route("/v1/availability/{data_root}", get(availability))
        .route("/v1/blocks/{n}", get(block))
        .route("/v1/events", get(events))
        .route("/v1/overview", get(overview))
        .route("/", get(page))
        .route("/status", get(page))
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .fallback(|| async { error(StatusCode::NOT_FOUND, "no_route", "no such route") })
        .with_state(Api {
            client,
            stop,
            health: tasks,
        })
}

async fn status(State(Api { client: c, .. }): State<Api>) -> Response {
    Json(json!({
        "head": c.head(),
        "checkpoint": c.checkpoint(),
        "confirmations": c.config().confirmations,
        "samples_per_payload": c.sampler().config().draws(),
        "target_confidence": c.sampler().config().target,
        "counts": c.counts(),
        "verification": c.verification(),
    }))
    .into_response()
}

/// Most results `/v1/overview` returns.
const MAX_OVERVIEW: usize = 500;

async fn overview(
    State(Api { client: c, .. }): State<Api>,
    axum::extract::RawQuery(query): axum::extract::RawQuery,
) -> Response {
    let mut limit = 50;
    for pair in query
        .as_deref()
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
    {
        match pair.split_once('=') {
            Some(("limit", v)) => match v.parse::<usize>() {
                Ok(n) if (1..=MAX_OVERVIEW).contains(&n) => limit = n,
                _ => {
                    return error(
                        StatusCode::BAD_REQUEST,
                        "bad_limit",
                        format!("limit must be 1 to {MAX_OVERVIEW}"),
                    );
                }
            },
            _ => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "bad_query",
                    "the only parameter is limit",
                );
            }
        }
    }
    let recent = c.recent(limit);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let window = c.recent(MAX_OVERVIEW);
    Json(json!({
        "anchors": recent,
        "quorums": crate::client::quorum_health(&recent),
        "throughput": crate::client::throughput(&window, now),
    }))
    .into_response()
}

/// The status page: static, same-origin script only.
async fn page() -> Response {
    (
        [
            (axum::http::header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (
                axum::http::header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; \
                 connect-src 'self'; frame-ancestors 'none'",
            ),
            (axum::http::header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        include_str!("status.html"),
    )
        .into_response()
}

async fn availability(
    State(Api { client: c, .. }): State<Api>,
    Path(root): Path<String>,
) -> Response {
    let digits = root.strip_prefix("0x").unwrap_or(&root);
    let root: B256 = match (digits.len() == 64).then(|| digits.parse::<B256>()) {
        Some(Ok(r)) => r,
        _ => {
            return error(
                StatusCode::BAD_REQUEST,
                "bad_data_root",
                "data_root must be 32 bytes of hex",
            );
        }
    };
    let all = c.availability(&root);
    match all.last() {
        Some(latest) => Json(json!({ "latest": latest, "anchors": all })).into_response(),
        None => error(
            StatusCode::NOT_FOUND,
            "unknown",
            format!("no anchor of {root} seen (checkpoint {})", c.checkpoint()),
        ),
    }
}

async fn block(State(Api { client: c, .. }): State<Api>, Path(n): Path<String>) -> Response {
    let Ok(n) = n.parse::<u64>() else {
        return error(
            StatusCode::BAD_REQUEST,
            "bad_block",
            "block must be a number",
        );
    };
    Json(json!({
        "block": n,
        "followed": n < c.checkpoint(),
        "anchors": c.block(n),
    }))
    .into_response()
}

async fn events(State(api): State<Api>) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let rx = api.client.subscribe();
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        let ev = match rx.recv().await {
            Ok(r) => Event::default()
                .event("result")
                .json_data(&r)
                .unwrap_or_else(|_| Event::default().event("error")),
            // A slow reader missed results: say how many (they are in the API).
            Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                Event::default().event("lagged").data(n.to_string())
            }
            Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
        };
        Some((Ok(ev), rx))
    })
    .take_until(api.stop.cancelled_owned());
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}

async fn health(
    State(Api {
        client: c, health, ..
    }): State<Api>,
) -> Response {
    let behind = c.head().saturating_sub(c.checkpoint());
    let (status, body) =
        health.report(json!({ "role": "sampler", "head": c.head(), "behind": behind }));
    (status, Json(body)).into_response()
}

async fn metrics(State(Api { client: c, .. }): State<Api>) -> Response {
    c.metrics().response()
}
