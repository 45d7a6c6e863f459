//! The disperser's HTTP API.
//!
//! - `POST /v1/blobs[?wait=true]`: raw payload body → 202 with the request record (200
//!   with the certificate when waiting and confirmed);
//! - `GET /v1/blobs/{id}`: the request record (status, reason, certificate);
//! - `GET /v1/blobs/{data_root}/header`, `GET /v1/blobs/{data_root}/data`: retrieval
//!   from the DA nodes (`?epoch=&quorum_id=` for payloads of other dispersers);
//! - `/health`, `/metrics`.
//!
//! Errors are JSON `{"error": kind, "message": text}`: 400 malformed, 401 unauthenticated,
//! 404 unknown, 413 too large, 429 rate or quota, 503 no quorum / unavailable.

use std::sync::Arc;

use alloy_primitives::B256;
use axum::body::Body;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde::Deserialize;
use tracing::Instrument;
use zg_primitives::Certificate;

use super::auth::{Access, Denied};
use super::{BlobStatus, Disperser};
use crate::error::{DisperseError, RetrieveError};
use crate::metrics::result;
use zg_da_client::disperse::FailureKind;
use zg_da_client::{ColumnNetwork, DaChain};
use zg_node_kit::Health;

#[derive(Clone)]
struct Api<N, C> {
    disperser: Disperser<N, C>,
    access: Arc<Access>,
    health: Health,
}

#[derive(Clone)]
struct Client(String);

/// An API error before it becomes a response (kept small for `Result`).
struct ApiError(Box<Response>);

impl From<Response> for ApiError {
    fn from(r: Response) -> Self {
        Self(Box::new(r))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        *self.0
    }
}

use zg_node_kit::json_error as error;

fn denied<N: ColumnNetwork, C: DaChain>(api: &Api<N, C>, d: Denied) -> Response {
    api.disperser
        .metrics()
        .access_denied
        .get_or_create(&vec![("reason", d.reason.to_string())])
        .inc();
    error(
        StatusCode::from_u16(d.status).unwrap_or(StatusCode::FORBIDDEN),
        d.reason,
        d.message,
    )
}

pub(super) fn router<N: ColumnNetwork, C: DaChain>(
    disperser: Disperser<N, C>,
    tasks: Health,
) -> Router {
    let api = Api {
        access: Arc::new(Access::new(disperser.inner.config.access.clone())),
        disperser,
        health: tasks,
    };
    let v1 = Router::new()
        .route("/v1/blobs", post(put_blob::<N, C>))
        .route("/v1/blobs/{id}", get(get_status::<N, C>))
        .route("/v1/blobs/{id}/header", get(get_header::<N, C>))
        .route("/v1/blobs/{id}/data", get(get_data::<N, C>))
        .layer(middleware::from_fn_with_state(
            api.clone(),
            authorize::<N, C>,
        ));
    Router::new()
        .merge(v1)
        .route("/health", get(health::<N, C>))
        .route("/metrics", get(metrics::<N, C>))
        .fallback(|| async { error(StatusCode::NOT_FOUND, "not_found", "no such route") })
        .with_state(api)
}

async fn authorize<N: ColumnNetwork, C: DaChain>(
    State(api): State<Api<N, C>>,
    mut req: Request,
    next: Next,
) -> Response {
    let peer = req
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip());
    match api.access.authorize(req.headers(), peer) {
        Ok(client) => {
            req.extensions_mut().insert(Client(client));
            next.run(req).await
        }
        Err(d) => denied(&api, d),
    }
}

async fn health<N: ColumnNetwork, C: DaChain>(State(api): State<Api<N, C>>) -> Response {
    if api.health.failure().is_some() {
        let (status, body) = api
            .health
            .report(serde_json::json!({ "role": "disperser" }));
        return (status, Json(body)).into_response();
    }
    let chain = api.disperser.chain().epoch().await;
    let (status, body) = match chain {
        Ok(epoch) => (
            StatusCode::OK,
            serde_json::json!({
                "status": "ok",
                "role": "disperser",
                "account": api.disperser.account(),
                "epoch": epoch,
            }),
        ),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            serde_json::json!({ "status": "degraded", "role": "disperser", "chain": e.to_string() }),
        ),
    };
    (status, Json(body)).into_response()
}

async fn metrics<N: ColumnNetwork, C: DaChain>(State(api): State<Api<N, C>>) -> Response {
    api.disperser.metrics().render()
}

#[derive(Deserialize)]
struct PutQuery {
    #[serde(default)]
    wait: bool,
}

async fn put_blob<N: ColumnNetwork, C: DaChain>(
    State(api): State<Api<N, C>>,
    Extension(client): Extension<Client>,
    query: Result<Query<PutQuery>, axum::extract::rejection::QueryRejection>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    // The disperser's part of the caller's trace (its `traceparent` header), if any.
    let span = tracing::info_span!(
        target: zg_node_kit::TRACE_TARGET,
        "disperser.request",
        status = tracing::field::Empty,
    );
    zg_node_kit::telemetry::set_parent(
        &span,
        headers.get("traceparent").and_then(|v| v.to_str().ok()),
    );
    let resp = put_blob_inner(api, client, query, headers, body)
        .instrument(span.clone())
        .await;
    span.record("status", resp.status().as_u16());
    resp
}

async fn put_blob_inner<N: ColumnNetwork, C: DaChain>(
    api: Api<N, C>,
    client: Client,
    query: Result<Query<PutQuery>, axum::extract::rejection::QueryRejection>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let Ok(Query(query)) = query else {
        return error(
            StatusCode::BAD_REQUEST,
            "bad_query",
            "wait must be true or false",
        );
    };
    let max = api.disperser.max_payload();
    let payload = match zg_node_kit::http::read_limited(&headers, body, max).await {
        Ok(b) => b,
        Err(e @ zg_node_kit::http::BodyError::TooLarge { close, .. }) => {
            let mut r = error(StatusCode::PAYLOAD_TOO_LARGE, "too_large", e.to_string());
            if close {
                zg_node_kit::http::close_connection(&mut r);
            }
            return r;
        }
    };
    if payload.is_empty() {
        return error(StatusCode::BAD_REQUEST, "empty", "payload is empty");
    }
    if let Err(d) = api.access.charge(&client.0, payload.len() as u64) {
        return denied(&api, d);
    }
    match api.disperser.has_quorum().await {
        Ok(true) => {}
        Ok(false) => {
            return error(
                StatusCode::SERVICE_UNAVAILABLE,
                "no_quorum",
                "no quorum is formed in the current epoch; retry later",
            );
        }
        Err(e) => {
            return error(
                StatusCode::SERVICE_UNAVAILABLE,
                "chain_unavailable",
                e.to_string(),
            );
        }
    }
    let record = match api.disperser.submit(payload).await {
        Ok(r) => r,
        Err(e) => {
            let kind = match &e {
                DisperseError::Payload(_) => "bad_payload",
                DisperseError::Shutdown => "shutting_down",
                _ => "internal",
            };
            return error(failure_status(e.kind()), kind, e.to_string());
        }
    };
    tracing::info!(target: "zg_da::api", client = %client.0, id = %record.id, size = record.size, "blob accepted");
    let record = if query.wait {
        match api
            .disperser
            .wait(record.id, api.disperser.inner.config.wait_timeout)
            .await
        {
            Ok(r) => r,
            Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()),
        }
    } else {
        record
    };
    let status = match record.status {
        BlobStatus::Confirmed => StatusCode::OK,
        BlobStatus::Failed => failure_status(record.failure.unwrap_or(FailureKind::CannotCertify)),
        _ => StatusCode::ACCEPTED,
    };
    (status, Json(record)).into_response()
}

/// The one HTTP status of each failure kind.
fn failure_status(kind: FailureKind) -> StatusCode {
    StatusCode::from_u16(kind.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

fn parse_b256(s: &str, what: &str) -> Result<B256, ApiError> {
    let digits = s.strip_prefix("0x").unwrap_or(s);
    if digits.len() != 64 {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "bad_id",
            format!("{what} must be 32 bytes of hex"),
        )
        .into());
    }
    digits
        .parse::<B256>()
        .map_err(|e| error(StatusCode::BAD_REQUEST, "bad_id", format!("{what}: {e}")).into())
}

async fn get_status<N: ColumnNetwork, C: DaChain>(
    State(api): State<Api<N, C>>,
    Path(id): Path<String>,
) -> Response {
    let id = match parse_b256(&id, "request id") {
        Ok(id) => id,
        Err(r) => return r.into_response(),
    };
    match api.disperser.status(id).await {
        Ok(Some(r)) => Json(r).into_response(),
        Ok(None) => error(StatusCode::NOT_FOUND, "unknown", format!("no request {id}")),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()),
    }
}

#[derive(Deserialize)]
struct CertQuery {
    epoch: Option<u64>,
    quorum_id: Option<u64>,
}

async fn certificate<N: ColumnNetwork, C: DaChain>(
    api: &Api<N, C>,
    root: &str,
    query: Result<Query<CertQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Certificate, ApiError> {
    let data_root = parse_b256(root, "data_root")?;
    let Ok(Query(q)) = query else {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "bad_query",
            "epoch and quorum_id must be integers",
        )
        .into());
    };
    if let (Some(epoch), Some(quorum_id)) = (q.epoch, q.quorum_id) {
        return Ok(Certificate {
            epoch,
            quorum_id,
            data_root,
        });
    }
    let journal = api.disperser.journal().clone();
    let record = tokio::task::spawn_blocking(move || journal.by_root(&data_root))
        .await
        .map_err(|e| {
            ApiError::from(error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                e.to_string(),
            ))
        })?
        .map_err(|e| {
            ApiError::from(error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                e.to_string(),
            ))
        })?;
    record.and_then(|r| r.certificate).ok_or_else(|| {
        ApiError::from(error(
            StatusCode::NOT_FOUND,
            "unknown",
            format!("no certified payload {data_root} from this disperser (give ?epoch=&quorum_id= for others)"),
        ))
    })
}

fn retrieve_error<N: ColumnNetwork, C: DaChain>(api: &Api<N, C>, e: RetrieveError) -> Response {
    api.disperser
        .metrics()
        .retrievals
        .get_or_create(&result("failed"))
        .inc();
    let status = match &e {
        e if e.is_not_found() => StatusCode::NOT_FOUND,
        RetrieveError::NotEnoughColumns { .. }
        | RetrieveError::MembersUnavailable { .. }
        | RetrieveError::Chain(_) => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    error(status, "retrieval_failed", e.to_string())
}

async fn get_header<N: ColumnNetwork, C: DaChain>(
    State(api): State<Api<N, C>>,
    Path(root): Path<String>,
    query: Result<Query<CertQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let cert = certificate(&api, &root, query).await?;
    Ok(match api.disperser.retriever().header(&cert).await {
        Ok((h, _)) => Json(h).into_response(),
        Err(e) => retrieve_error(&api, e),
    })
}

async fn get_data<N: ColumnNetwork, C: DaChain>(
    State(api): State<Api<N, C>>,
    Path(root): Path<String>,
    query: Result<Query<CertQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let cert = certificate(&api, &root, query).await?;
    Ok(match api.disperser.retriever().retrieve(&cert).await {
        Ok(r) => {
            let m = api.disperser.metrics();
            m.retrievals
                .get_or_create(&result(if r.recovered {
                    "recovered"
                } else {
                    "systematic"
                }))
                .inc();
            let reported: Vec<String> = r
                .reports
                .iter()
                .filter(|r| r.misbehaved)
                .map(|r| r.address.to_string())
                .collect();
            (
                [
                    (header::CONTENT_TYPE, "application/octet-stream".to_string()),
                    (
                        header::HeaderName::from_static("x-zg-recovered"),
                        r.recovered.to_string(),
                    ),
                    (
                        header::HeaderName::from_static("x-zg-reported-nodes"),
                        reported.join(","),
                    ),
                ],
                r.payload,
            )
                .into_response()
        }
        Err(e) => retrieve_error(&api, e),
    })
}
