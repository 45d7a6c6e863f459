//! A small deterministic OpenAI-compatible server (`zg-compute-broker echo-upstream`):
//! the stand-in model behind a broker in the devnet and the tests. The model is not
//! ours; any OpenAI-compatible server (vLLM, llama.cpp, Ollama, a hosted API) takes its
//! place through `--upstream.url`.
//!
//! `POST /v1/chat/completions` answers `"echo: <last user message>"`, counting one token
//! per whitespace-separated word (prompt: every message; completion: the answer), and
//! streams it word by word with `"stream": true` (a last usage chunk with
//! `stream_options.include_usage`). `POST /v1/embeddings` returns 8-dimensional
//! hash vectors. `GET /v1/models` lists the model. A request for model `fail` gets a
//! 503, to exercise error paths.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use alloy_primitives::keccak256;
use axum::Json;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use tokio::net::TcpListener;

/// The echo server's model name.
pub const ECHO_MODEL: &str = "zg-echo-1";

fn words(s: &str) -> u64 {
    s.split_whitespace().count() as u64
}

fn text_of(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join(" "),
        _ => String::new(),
    }
}

fn error(status: StatusCode, msg: &str) -> Response {
    (
        status,
        Json(json!({"error": {"message": msg, "type": "invalid_request_error"}})),
    )
        .into_response()
}

/// Requests the echo server answered (chat and embeddings).
#[derive(Clone, Debug, Default)]
pub struct EchoStats(Arc<AtomicU64>);

impl EchoStats {
    /// How many model requests arrived.
    pub fn requests(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

async fn chat(State(stats): State<EchoStats>, body: Bytes) -> Response {
    stats.0.fetch_add(1, Ordering::SeqCst);
    let Ok(req) = serde_json::from_slice::<Value>(&body) else {
        return error(StatusCode::BAD_REQUEST, "body is not JSON");
    };
    let model = req
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or(ECHO_MODEL);
    if model == "fail" {
        return error(StatusCode::SERVICE_UNAVAILABLE, "model overloaded");
    }
    let Some(messages) = req.get("messages").and_then(Value::as_array) else {
        return error(StatusCode::BAD_REQUEST, "messages must be an array");
    };
    let prompt: u64 = messages
        .iter()
        .map(|m| words(&text_of(m.get("content").unwrap_or(&Value::Null))))
        .sum();
    let last = messages
        .iter()
        .rev()
        .find(|m| m.get("role").and_then(Value::as_str) == Some("user"))
        .map(|m| text_of(m.get("content").unwrap_or(&Value::Null)))
        .unwrap_or_default();
    let answer = format!("echo: {last}");
    let usage = json!({
        "prompt_tokens": prompt,
        "completion_tokens": words(&answer),
        "total_tokens": prompt + words(&answer),
    });
    let id = format!("chatcmpl-{}", &hex::encode(keccak256(&body))[..24]);
    let created = 1_700_000_000u64;
    if req.get("stream").and_then(Value::as_bool) == Some(true) {
        let with_usage = req
            .pointer("/stream_options/include_usage")
            .and_then(Value::as_bool)
            == Some(true);
        let mut events = Vec::new();
        let pieces: Vec<String> = answer.split_inclusive(' ').map(str::to_string).collect();
        for (i, piece) in pieces.iter().enumerate() {
            let finish = if i + 1 == pieces.len() {
                json!("stop")
            } else {
                Value::Null
            };
            let chunk = json!({
                "id": id, "object": "chat.completion.chunk", "created": created, "model": model,
                "choices": [{"index": 0, "delta": {"role": "assistant", "content": piece}, "finish_reason": finish}],
            });
            events.push(format!("data: {chunk}\n\n"));
        }
        if with_usage {
            let chunk = json!({
                "id": id, "object": "chat.completion.chunk", "created": created, "model": model,
                "choices": [], "usage": usage,
            });
            events.push(format!("data: {chunk}\n\n"));
        }
        events.push("data: [DONE]\n\n".into());
        let stream = futures::stream::iter(
            events
                .into_iter()
                .map(|e| Ok::<_, Infallible>(Bytes::from(e))),
        );
        return Response::builder()
            .header(header::CONTENT_TYPE, "text/event-stream")
            .body(Body::from_stream(stream))
            .expect("response");
    }
    Json(json!({
        "id": id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": answer},
            "finish_reason": "stop",
        }],
        "usage": usage,
    }))
    .into_response()
}

async fn embeddings(State(stats): State<EchoStats>, body: Bytes) -> Response {
    stats.0.fetch_add(1, Ordering::SeqCst);
    let Ok(req) = serde_json::from_slice::<Value>(&body) else {
        return error(StatusCode::BAD_REQUEST, "body is not JSON");
    };
    let inputs: Vec<String> = match req.get("input") {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| v.as_str().unwrap_or("").to_string())
            .collect(),
        _ => {
            return error(
                StatusCode::BAD_REQUEST,
                "input must be a string or an array",
            );
        }
    };
    let tokens: u64 = inputs.iter().map(|s| words(s)).sum();
    let data: Vec<Value> = inputs
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let h = keccak256(s.as_bytes());
            let v: Vec<f64> = h.0[..8].iter().map(|&b| b as f64 / 255.0).collect();
            json!({"object": "embedding", "index": i, "embedding": v})
        })
        .collect();
    Json(json!({
        "object": "list",
        "data": data,
        "model": req.get("model").cloned().unwrap_or(json!(ECHO_MODEL)),
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }))
    .into_response()
}

async fn models() -> Response {
    Json(json!({"object": "list", "data": [{"id": ECHO_MODEL, "object": "model", "owned_by": "zg"}]}))
        .into_response()
}

/// The echo server's routes (under `/v1`), counting requests in `stats`.
pub fn echo_router(stats: EchoStats) -> Router {
    Router::new()
        .route("/v1/chat/completions", post(chat))
        .route("/v1/embeddings", post(embeddings))
        .route("/v1/models", get(models))
        .with_state(stats)
}

/// Serves the echo upstream on `listener` until `shutdown` resolves.
pub async fn serve_echo(
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let limits = zg_node_kit::HttpLimits::default();
    zg_node_kit::guard::serve(
        listener,
        echo_router(EchoStats::default()),
        &limits,
        shutdown,
    )
    .await
}

/// Starts the echo upstream on a loopback port in a task; returns its base URL
/// (`http://127.0.0.1:port/v1`) and its request counter.
pub async fn spawn_echo(
    cancel: tokio_util::sync::CancellationToken,
) -> std::io::Result<(String, EchoStats)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr: SocketAddr = listener.local_addr()?;
    let stats = EchoStats::default();
    let app = echo_router(stats.clone());
    tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(cancel.cancelled_owned())
            .await
    });
    Ok((format!("http://{addr}/v1"), stats))
}
