//! The proxy under `/v1/proxy`: a billed route's request is admitted, forwarded to
//! the upstream, and its answer (JSON or an event stream) metered and billed.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Instant;

use alloy::transports::http::reqwest;
use alloy_primitives::{Address, U256};
use axum::body::{Body, Bytes};
use axum::extract::{Path, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use tracing::{Instrument, info_span, warn};

use super::admission::{UserSlot, admit};
use super::{BILLED_ROUTES, Inner, now_ms};
use crate::error::BrokerError;
use crate::meter::{SseMeter, Usage, ensure_stream_usage, from_json};
use crate::store::Request as Billed;

/// `/v1/proxy/v1/chat/completions` and `/v1/proxy/chat/completions` are one route.
fn normalize(rest: &str) -> String {
    let r = rest.trim_end_matches('/');
    let r = r.strip_prefix("v1/").unwrap_or(r);
    format!("/{}", r.trim_start_matches('/'))
}

pub(super) async fn proxy(
    State(inner): State<Arc<Inner>>,
    Path(rest): Path<String>,
    req: Request,
) -> Response {
    let route = normalize(&rest);
    let span = info_span!(target: "zg_compute", "proxy", %route);
    let started = Instant::now();
    let result = handle(inner.clone(), route.clone(), req)
        .instrument(span)
        .await;
    let (outcome, resp) = match result {
        Ok(r) => ("ok", r),
        Err(e) => {
            warn!(target: "zg_compute", %route, error = %e, "refused");
            (e.kind(), e.into_response())
        }
    };
    inner.metrics.request(
        metric_route(&route),
        outcome,
        started.elapsed().as_secs_f64(),
    );
    resp
}

impl BrokerError {
    fn kind(&self) -> &'static str {
        match self {
            Self::Unauthorized(_) => "unauthorized",
            Self::InvalidInput(_) => "invalid",
            Self::NotFound(_) => "not_found",
            Self::TooLarge(_) => "too_large",
            Self::Payment(_) => "insufficient_balance",
            Self::TooMany(_) => "too_many",
            Self::Unavailable(_) => "unavailable",
            Self::Upstream(_) => "upstream",
            Self::Store(_) => "store",
        }
    }
}

/// The metric label of a route: the billed routes and `/models` by name, anything else
/// one `other` label (a random path must not mint a new time series).
fn metric_route(route: &str) -> &str {
    if route == "/models" || BILLED_ROUTES.contains(&route) {
        route
    } else {
        "other"
    }
}

async fn handle(inner: Arc<Inner>, route: String, req: Request) -> Result<Response, BrokerError> {
    let method = req.method().clone();
    if route == "/models" && method == Method::GET {
        return forward_plain(&inner, &route).await;
    }
    if !BILLED_ROUTES.contains(&route.as_str()) {
        return Err(BrokerError::NotFound(route));
    }
    if method != Method::POST {
        return Err(BrokerError::InvalidInput(format!("{route} takes POST")));
    }
    let (parts, body) = req.into_parts();

    // Who is asking, and may they? (Before reading a body of up to 32 MiB.)
    let (user, service) = admit(&inner, &parts.headers).await?;
    let provider = inner.chain.address;

    // One user's requests in progress are capped: admission cannot see what they will
    // cost until they end.
    let _slot = UserSlot::take(&inner, user)?;
    let body = axum::body::to_bytes(body, inner.config.max_body_bytes)
        .await
        .map_err(|_| BrokerError::TooLarge(inner.config.max_body_bytes))?;

    // The request, as the upstream gets it.
    let mut json: Value = serde_json::from_slice(&body)
        .map_err(|e| BrokerError::InvalidInput(format!("request body is not JSON: {e}")))?;
    if !json.is_object() {
        return Err(BrokerError::InvalidInput(
            "request body must be a JSON object".into(),
        ));
    }
    if json.get("model").is_none() {
        json["model"] = Value::String(service.model.clone());
    }
    if json
        .get("stream")
        .is_some_and(|v| !v.is_boolean() && !v.is_null())
    {
        return Err(BrokerError::InvalidInput("stream must be a boolean".into()));
    }
    ensure_stream_usage(&mut json);
    let up = upstream(&inner, reqwest::Method::POST, &route)
        .header(header::CONTENT_TYPE, "application/json")
        .body(serde_json::to_vec(&json).expect("JSON"));
    let (status, resp) = send(up).await?;
    let content_type = resp
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json")
        .to_string();
    let prices = (service.inputPrice, service.outputPrice);

    if !status.is_success() {
        // Passed through; nothing charged.
        let bytes = read_limited(resp, inner.config.max_response_bytes).await?;
        return Ok(Response::builder()
            .status(status)
            .header(header::CONTENT_TYPE, content_type)
            .body(Body::from(bytes))
            .expect("response"));
    }

    // Whatever was asked, an event stream is metered as one.
    if content_type.starts_with("text/event-stream") {
        return Ok(stream_response(inner, user, prices, resp, provider, _slot));
    }

    let bytes = read_limited(resp, inner.config.max_response_bytes).await?;
    let usage = from_json(&bytes).unwrap_or_else(|| fallback_usage(&bytes));
    let id = bill(&inner, user, usage, prices)?;
    let mut r = Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, content_type)
        .header("provider", provider.to_string());
    if let Some(id) = id {
        r = r.header("ZG-Res-Key", id.to_string());
    }
    Ok(r.body(Body::from(bytes)).expect("response"))
}

/// 0G's fallback when the upstream reports no usage: a token per word of the answer.
fn fallback_usage(body: &[u8]) -> Usage {
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let words: usize = v
        .get("choices")
        .and_then(Value::as_array)
        .map(|cs| {
            cs.iter()
                .map(|c| {
                    c.pointer("/message/content")
                        .or_else(|| c.get("text"))
                        .and_then(Value::as_str)
                        .map(|s| s.split_whitespace().count())
                        .unwrap_or(0)
                })
                .sum()
        })
        .unwrap_or(0);
    Usage {
        prompt_tokens: 0,
        completion_tokens: words as u64,
    }
}

async fn read_limited(mut resp: reqwest::Response, limit: usize) -> Result<Vec<u8>, BrokerError> {
    let mut out = Vec::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| BrokerError::Upstream(format!("reading the answer: {e}")))?
    {
        if out.len() + chunk.len() > limit {
            return Err(BrokerError::Upstream(format!("answer over {limit} bytes")));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// Records what `usage` costs `user` (synced); `None` when it costs nothing.
fn bill(
    inner: &Inner,
    user: Address,
    usage: Usage,
    (input_price, output_price): (U256, U256),
) -> Result<Option<u64>, BrokerError> {
    let (input_fee, output_fee, fee) = usage.fees(input_price, output_price);
    inner.metrics.tokens(usage);
    if fee.is_zero() {
        return Ok(None);
    }
    let r = inner.store.record(Billed {
        id: 0,
        user,
        input_tokens: usage.prompt_tokens,
        output_tokens: usage.completion_tokens,
        input_fee,
        output_fee,
        fee,
        created_ms: now_ms(),
    })?;
    inner.metrics.pending(inner.store.pending_count());
    if inner.store.unsettled(&user)? >= inner.config.settle_threshold {
        inner.settle_now.notify_one();
    }
    Ok(Some(r.id))
}

/// Streams the upstream's SSE to the client while metering it; bills when the stream
/// ends (even if the client left early: the upstream's work was done).
fn stream_response(
    inner: Arc<Inner>,
    user: Address,
    prices: (U256, U256),
    mut resp: reqwest::Response,
    provider: Address,
    slot: UserSlot,
) -> Response {
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(32);
    tokio::spawn(async move {
        let _slot = slot;
        let mut meter = SseMeter::default();
        let mut client_gone = false;
        loop {
            match resp.chunk().await {
                Ok(Some(chunk)) => {
                    meter.feed(&chunk);
                    if !client_gone && tx.send(chunk).await.is_err() {
                        client_gone = true;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    warn!(target: "zg_compute", error = %e, "upstream stream broke");
                    break;
                }
            }
        }
        if !meter.done {
            warn!(target: "zg_compute", "stream ended without [DONE]; billing what was metered");
        }
        let usage = meter.usage.unwrap_or_else(|| {
            warn!(target: "zg_compute", "stream without usage; billing a token per word");
            meter.fallback()
        });
        if let Err(e) = bill(&inner, user, usage, prices) {
            warn!(target: "zg_compute", error = %e, "recording a streamed request failed");
        }
    });
    let body = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|b| (Ok::<_, Infallible>(b), rx))
    });
    let mut r = Response::new(Body::from_stream(body));
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert("X-Accel-Buffering", HeaderValue::from_static("no"));
    if let Ok(v) = HeaderValue::from_str(&provider.to_string()) {
        h.insert("provider", v);
    }
    r
}

async fn forward_plain(inner: &Inner, route: &str) -> Result<Response, BrokerError> {
    let (status, resp) = send(upstream(inner, reqwest::Method::GET, route)).await?;
    let bytes = read_limited(resp, inner.config.max_response_bytes).await?;
    Ok((status, [(header::CONTENT_TYPE, "application/json")], bytes).into_response())
}

/// A request to `route` under the upstream's base URL, with its bearer key if any.
fn upstream(inner: &Inner, method: reqwest::Method, route: &str) -> reqwest::RequestBuilder {
    let url = format!("{}{route}", inner.config.upstream_url.trim_end_matches('/'));
    let up = inner.http.request(method, url);
    match &inner.config.upstream_key {
        Some(k) => up.bearer_auth(k),
        None => up,
    }
}

/// Sends an upstream request; a status the proxy cannot represent is `502`.
async fn send(up: reqwest::RequestBuilder) -> Result<(StatusCode, reqwest::Response), BrokerError> {
    let resp = up
        .send()
        .await
        .map_err(|e| BrokerError::Upstream(format!("unreachable: {e}")))?;
    let status = StatusCode::from_u16(resp.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    Ok((status, resp))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_routes_share_one_metric_label() {
        assert_eq!(metric_route("/chat/completions"), "/chat/completions");
        assert_eq!(metric_route("/models"), "/models");
        for random in ["/x", "/a/b/c", "/chat/completions/../../etc", ""] {
            assert_eq!(metric_route(random), "other");
        }
    }
}
