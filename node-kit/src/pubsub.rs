//! JSON-RPC over WebSocket, with subscriptions (`eth_subscribe` / `eth_unsubscribe`), on
//! the same address and path as HTTP JSON-RPC (`GET /` with a WebSocket upgrade, as
//! anvil and reth serve it). Every other message is answered like an HTTP body (single
//! calls and batches, the same limits and time budget).
//!
//! Bounds: connections at once (beyond: 503 before the upgrade), subscriptions per
//! connection (beyond: `-32005`), message size, and one bounded outbound queue per
//! connection: a subscriber that does not read its notifications fast enough is cut off
//! (the connection is closed) rather than buffered without bound. Each message costs the
//! client one unit of its rate ([`crate::clients`]), as an HTTP request does.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, mpsc};
use tokio_util::sync::CancellationToken;

use crate::clients::ClientMeter;
use crate::jsonrpc::{RpcError, RpcLimits, RpcService, answer, codes, error_object};

/// A JSON-RPC service that offers subscriptions.
pub trait PubSubService: RpcService {
    /// Starts the subscription `eth_subscribe` asks for with `params`. Its notifications'
    /// results go to `sink` until it is closed (the client unsubscribed or left); a
    /// producer waits when it is full.
    fn subscribe(&self, params: Vec<Value>, sink: mpsc::Sender<Value>) -> Result<(), RpcError>;
}

/// Limits of the WebSocket transport.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WsLimits {
    /// WebSocket connections at once.
    pub max_connections: usize,
    /// Subscriptions per connection.
    pub max_subscriptions: usize,
    /// Messages queued to a connection before its reader counts as too slow.
    pub queue: usize,
    /// Largest message read, in bytes.
    pub max_message: usize,
}

impl Default for WsLimits {
    fn default() -> Self {
        Self {
            max_connections: 256,
            max_subscriptions: 64,
            queue: 1024,
            max_message: 1024 * 1024,
        }
    }
}

/// State of the WebSocket route.
pub(crate) struct WsState<S> {
    pub(crate) svc: Arc<S>,
    pub(crate) rpc: Arc<RpcLimits>,
    pub(crate) limits: WsLimits,
    pub(crate) connections: Arc<Semaphore>,
    pub(crate) shutdown: CancellationToken,
}

impl<S> Clone for WsState<S> {
    fn clone(&self) -> Self {
        Self {
            svc: self.svc.clone(),
            rpc: self.rpc.clone(),
            limits: self.limits.clone(),
            connections: self.connections.clone(),
            shutdown: self.shutdown.clone(),
        }
    }
}

impl<S> WsState<S> {
    pub(crate) fn new(
        svc: Arc<S>,
        rpc: Arc<RpcLimits>,
        limits: WsLimits,
        shutdown: CancellationToken,
    ) -> Self {
        let connections = Arc::new(Semaphore::new(limits.max_connections));
        Self {
            svc,
            rpc,
            limits,
            connections,
            shutdown,
        }
    }
}

/// `GET /` with an upgrade: a WebSocket connection.
pub(crate) async fn upgrade<S: PubSubService>(
    State(st): State<WsState<S>>,
    ws: WebSocketUpgrade,
) -> Response {
    let Ok(permit) = st.connections.clone().try_acquire_owned() else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "too many WebSocket connections",
        )
            .into_response();
    };
    let meter = ClientMeter::current();
    let max = st.limits.max_message;
    ws.max_message_size(max)
        .max_frame_size(max)
        .on_upgrade(move |socket| async move {
            connection(socket, st, meter).await;
            drop(permit);
        })
}

fn subscription_id() -> String {
    format!("0x{:032x}", rand_u128())
}

fn rand_u128() -> u128 {
    use std::hash::{BuildHasher, Hasher};
    // Two independently seeded SipHash outputs: unpredictable enough for an id that
    // only names a subscription within its own connection.
    let a = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    let b = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    (u128::from(a) << 64) | u128::from(b)
}

async fn connection<S: PubSubService>(socket: WebSocket, st: WsState<S>, meter: ClientMeter) {
    let (mut to_client, mut from_client) = socket.split();
    let (out, mut out_rx) = mpsc::channel::<String>(st.limits.queue);
    let cut = CancellationToken::new();
    let writer = tokio::spawn(async move {
        while let Some(m) = out_rx.recv().await {
            if to_client.send(Message::Text(m.into())).await.is_err() {
                break;
            }
        }
        let _ = to_client.close().await;
    });
    let mut subs: HashMap<String, tokio::task::AbortHandle> = HashMap::new();
    loop {
        let msg = tokio::select! {
            () = cut.cancelled() => {
                tracing::debug!(target: "zg_rpc", "cutting off a slow WebSocket subscriber");
                break;
            }
            () = st.shutdown.cancelled() => break,
            m = from_client.next() => m,
        };
        let text = match msg {
            None | Some(Err(_)) | Some(Ok(Message::Close(_))) => break,
            Some(Ok(Message::Text(t))) => t.to_string(),
            Some(Ok(Message::Binary(b))) => match String::from_utf8(b.to_vec()) {
                Ok(t) => t,
                Err(_) => continue,
            },
            Some(Ok(_)) => continue, // pings are answered by the transport
        };
        if meter.admit(1).await.is_err() {
            let e = RpcError::new(codes::LIMIT_EXCEEDED, "rate limited");
            if out
                .try_send(error_object(Value::Null, &e).to_string())
                .is_err()
            {
                break;
            }
            continue;
        }
        let reply = match pubsub_call(&text) {
            Some((id, Sub::Subscribe(params))) => {
                Some(subscribe(&st, id, params, &out, &cut, &mut subs).to_string())
            }
            Some((id, Sub::Unsubscribe(sub))) => {
                let found = subs.remove(&sub).map(|h| h.abort()).is_some();
                Some(json!({"jsonrpc": "2.0", "id": id, "result": found}).to_string())
            }
            None => meter
                .clone()
                .scope(answer(&*st.svc, &st.rpc, text.as_bytes()))
                .await
                .map(|b| String::from_utf8(b).expect("JSON is UTF-8")),
        };
        if let Some(reply) = reply
            && out.try_send(reply).is_err()
        {
            break;
        }
    }
    for (_, h) in subs {
        h.abort();
    }
    drop(out);
    let _ = writer.await;
}

enum Sub {
    Subscribe(Vec<Value>),
    Unsubscribe(String),
}

/// `eth_subscribe` / `eth_unsubscribe` (single calls only).
fn pubsub_call(text: &str) -> Option<(Value, Sub)> {
    let v: Value = serde_json::from_str(text).ok()?;
    let method = v.get("method")?.as_str()?;
    let id = v.get("id").cloned().unwrap_or(Value::Null);
    let params = match v.get("params") {
        Some(Value::Array(a)) => a.clone(),
        _ => Vec::new(),
    };
    match method {
        "eth_subscribe" => Some((id, Sub::Subscribe(params))),
        "eth_unsubscribe" => {
            let sub = params
                .first()
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            Some((id, Sub::Unsubscribe(sub)))
        }
        _ => None,
    }
}

fn subscribe<S: PubSubService>(
    st: &WsState<S>,
    id: Value,
    params: Vec<Value>,
    out: &mpsc::Sender<String>,
    cut: &CancellationToken,
    subs: &mut HashMap<String, tokio::task::AbortHandle>,
) -> Value {
    if subs.len() >= st.limits.max_subscriptions {
        return error_object(
            id,
            &RpcError::new(
                codes::LIMIT_EXCEEDED,
                format!(
                    "at most {} subscriptions per connection",
                    st.limits.max_subscriptions
                ),
            ),
        );
    }
    let (sink, mut notes) = mpsc::channel::<Value>(64);
    if let Err(e) = st.svc.subscribe(params, sink) {
        return error_object(id, &e);
    }
    let sub = subscription_id();
    let (out, cut, name) = (out.clone(), cut.clone(), sub.clone());
    let task = tokio::spawn(async move {
        while let Some(result) = notes.recv().await {
            let note = json!({
                "jsonrpc": "2.0",
                "method": "eth_subscription",
                "params": {"subscription": name, "result": result},
            });
            if out.try_send(note.to_string()).is_err() {
                // The reader is too slow (or gone): cut it off.
                cut.cancel();
                break;
            }
        }
    });
    subs.insert(sub.clone(), task.abort_handle());
    json!({"jsonrpc": "2.0", "id": id, "result": sub})
}

/// [`crate::jsonrpc::router`] plus JSON-RPC over WebSocket with subscriptions on `GET /` (this module); the connections end when `shutdown` is cancelled.
pub fn router<S: PubSubService>(
    svc: Arc<S>,
    limits: &RpcLimits,
    ws: WsLimits,
    shutdown: tokio_util::sync::CancellationToken,
) -> Router {
    let rpc_limits = Arc::new(limits.clone());
    let ws_state = WsState::new(svc.clone(), rpc_limits.clone(), ws, shutdown);
    let root = post(crate::jsonrpc::rpc::<S>)
        .with_state((svc.clone(), rpc_limits.clone()))
        .merge(get(upgrade::<S>).with_state(ws_state));
    crate::guard::json_only(
        Router::new()
            .route("/", root)
            .route("/health", get(crate::jsonrpc::health::<S>))
            .route("/metrics", get(crate::jsonrpc::metrics::<S>))
            .layer(DefaultBodyLimit::max(limits.max_body))
            .with_state((svc, rpc_limits)),
    )
}

/// Serves `svc` with WebSocket subscriptions on `listener`, behind the guard, until
/// `shutdown` resolves.
pub async fn serve<S: PubSubService>(
    listener: TcpListener,
    svc: Arc<S>,
    limits: &RpcLimits,
    ws: WsLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let token = tokio_util::sync::CancellationToken::new();
    let cancel = token.clone();
    let shutdown = async move {
        shutdown.await;
        cancel.cancel();
    };
    let app = router(svc, limits, ws, token);
    crate::guard::serve(listener, app, &limits.http, shutdown).await
}
