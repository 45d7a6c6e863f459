//! The provider broker: an OpenAI-compatible reverse proxy under `/v1/proxy` that
//! admits only requests with a valid session token from a user whose on-chain
//! sub-account can pay, meters each answer's token usage at the service's on-chain
//! prices, records it durably, and settles the fees on chain in batches signed by the
//! TEE signer key.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use alloy::signers::SignerSync;
use alloy::signers::local::PrivateKeySigner;
use alloy::transports::http::reqwest;
use alloy_primitives::{Address, Bytes as AbiBytes, U256, keccak256};
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use parking_lot::Mutex;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, info, info_span, warn};
use zg_primitives::abi::{IInferenceServing as S, SERVING_ADDRESS, tee_settlement_digest};

use crate::chain::ChainClient;
use crate::error::BrokerError;
use crate::meter::{SseMeter, Usage, ensure_stream_usage, from_json};
use crate::metrics::Metrics;
use crate::store::{InFlight, Request as Billed, Store};
use crate::token::{check_revocation, verify};

/// Routes under `/v1/proxy` that are metered and billed.
pub const BILLED_ROUTES: [&str; 3] = ["/chat/completions", "/completions", "/embeddings"];
/// Most settlement items per transaction (the contract's limit).
pub const SETTLEMENT_BATCH: usize = 50;

/// The service the broker registers on chain (`addOrUpdateService`).
#[derive(Clone, Debug)]
pub struct ServiceSpec {
    /// `chatbot`, `embedding`, …
    pub service_type: String,
    /// The broker's public base URL (clients use `url + "/v1/proxy"`).
    pub url: String,
    /// The model name clients send.
    pub model: String,
    /// `TeeML` (verifiable) or `standard`.
    pub verifiability: String,
    /// Wei per prompt token.
    pub input_price: U256,
    /// Wei per completion token.
    pub output_price: U256,
    /// JSON metadata.
    pub additional_info: String,
    /// Stake paid on first registration.
    pub stake: U256,
}

/// Broker settings. Defaults live in [`BrokerConfig::new`].
#[derive(Clone, Debug)]
pub struct BrokerConfig {
    /// Store directory.
    pub datadir: PathBuf,
    /// Chain JSON-RPC endpoint.
    pub chain_rpc: String,
    /// The serving contract.
    pub serving: Address,
    /// The provider's account (registers, sends settlements, receives fees).
    pub provider_key: PrivateKeySigner,
    /// The key whose address is the service's `teeSignerAddress`: signs settlements.
    pub tee_key: PrivateKeySigner,
    /// OpenAI-compatible upstream base URL, including `/v1`.
    pub upstream_url: String,
    /// Bearer key for the upstream, if it needs one.
    pub upstream_key: Option<String>,
    /// Upstream request timeout.
    pub upstream_timeout: Duration,
    /// What a sub-account must keep free beyond its unsettled fees to be served (0G's
    /// broker asks 1 0G).
    pub min_locked_balance: U256,
    /// Pause between settlement rounds.
    pub settle_interval: Duration,
    /// A user whose unsettled fees reach this is settled right away.
    pub settle_threshold: U256,
    /// Largest request body (413 above).
    pub max_body_bytes: usize,
    /// Requests one user may have in progress at once (429 above).
    pub max_user_concurrency: usize,
    /// Largest upstream response body read for metering.
    pub max_response_bytes: usize,
    /// Register or update this service on start.
    pub register: Option<ServiceSpec>,
}

impl BrokerConfig {
    /// Defaults around the required parts.
    pub fn new(
        datadir: PathBuf,
        chain_rpc: String,
        provider_key: PrivateKeySigner,
        tee_key: PrivateKeySigner,
        upstream_url: String,
    ) -> Self {
        Self {
            datadir,
            chain_rpc,
            serving: SERVING_ADDRESS,
            provider_key,
            tee_key,
            upstream_url,
            upstream_key: None,
            upstream_timeout: Duration::from_secs(600),
            min_locked_balance: U256::from(10u64).pow(U256::from(15)),
            settle_interval: Duration::from_secs(300),
            settle_threshold: U256::from(10u64).pow(U256::from(18)),
            max_body_bytes: 32 * 1024 * 1024,
            max_user_concurrency: 5,
            max_response_bytes: 64 * 1024 * 1024,
            register: None,
        }
    }
}

/// What one settlement round did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SettleReport {
    /// Items sent.
    pub items: usize,
    /// Wei paid to the provider.
    pub settled: U256,
    /// Per item: user and status (0 success … 5 invalid signature).
    pub statuses: Vec<(Address, u8)>,
}

struct Inner {
    config: BrokerConfig,
    chain: ChainClient,
    store: Store,
    http: reqwest::Client,
    metrics: Metrics,
    service: Mutex<Option<(S::Service, Instant)>>,
    settle_now: Notify,
    settling: tokio::sync::Mutex<()>,
    busy: Mutex<std::collections::HashMap<Address, usize>>,
}

/// One of a user's concurrent request slots, released on drop.
struct UserSlot {
    inner: Arc<Inner>,
    user: Address,
}

impl UserSlot {
    fn take(inner: &Arc<Inner>, user: Address) -> Result<Self, BrokerError> {
        let mut busy = inner.busy.lock();
        let n = busy.entry(user).or_default();
        if *n >= inner.config.max_user_concurrency {
            return Err(BrokerError::TooMany(format!(
                "{} requests of this user are in progress; wait for one to finish",
                *n
            )));
        }
        *n += 1;
        Ok(Self {
            inner: inner.clone(),
            user,
        })
    }
}

impl Drop for UserSlot {
    fn drop(&mut self) {
        let mut busy = self.inner.busy.lock();
        if let Some(n) = busy.get_mut(&self.user) {
            *n -= 1;
            if *n == 0 {
                busy.remove(&self.user);
            }
        }
    }
}

/// A running broker.
pub struct Broker {
    /// Where it listens.
    pub addr: SocketAddr,
    inner: Arc<Inner>,
    cancel: CancellationToken,
    server: JoinHandle<std::io::Result<()>>,
    settler: JoinHandle<()>,
}

impl std::fmt::Debug for Broker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Broker").field("addr", &self.addr).finish()
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Starts a broker on `listener`; it stops when `cancel` fires or on [`Broker::shutdown`].
pub async fn start(
    config: BrokerConfig,
    listener: TcpListener,
    cancel: CancellationToken,
) -> Result<Broker, BrokerError> {
    std::fs::create_dir_all(&config.datadir).map_err(|e| BrokerError::Store(e.to_string()))?;
    let store = Store::open(&config.datadir.join("db"))?;
    let chain = ChainClient::connect(
        &config.chain_rpc,
        config.provider_key.clone(),
        config.serving,
    )
    .await?;
    if let Some(spec) = &config.register {
        let params = S::ServiceParams {
            serviceType: spec.service_type.clone(),
            url: spec.url.clone(),
            model: spec.model.clone(),
            verifiability: spec.verifiability.clone(),
            inputPrice: spec.input_price,
            outputPrice: spec.output_price,
            additionalInfo: spec.additional_info.clone(),
            teeSignerAddress: config.tee_key.address(),
        };
        chain.register(params, spec.stake).await?;
        info!(target: "zg_compute", provider = %chain.address, "service registered");
    }
    // No total deadline (a long stream must not be cut off before its usage chunk): a
    // connect timeout, and `upstream_timeout` between reads.
    let http = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .read_timeout(config.upstream_timeout)
        .build()
        .map_err(|e| BrokerError::Upstream(e.to_string()))?;
    let inner = Arc::new(Inner {
        config,
        chain,
        store,
        http,
        metrics: Metrics::new(),
        service: Mutex::new(None),
        settle_now: Notify::new(),
        settling: tokio::sync::Mutex::new(()),
        busy: Mutex::new(Default::default()),
    });
    let addr = listener
        .local_addr()
        .map_err(|e| BrokerError::Store(e.to_string()))?;
    let app = router(inner.clone());
    let c = cancel.clone();
    let server = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(c.cancelled_owned())
            .await
    });
    let settler = tokio::spawn(settle_loop(inner.clone(), cancel.clone()));
    info!(target: "zg_compute", %addr, provider = %inner.chain.address, "broker listening");
    Ok(Broker {
        addr,
        inner,
        cancel,
        server,
        settler,
    })
}

impl Broker {
    /// `http://addr`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The provider address.
    pub fn provider(&self) -> Address {
        self.inner.chain.address
    }

    /// The broker's store (unsettled requests).
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// Runs one settlement round now.
    pub async fn settle_now(&self) -> Result<SettleReport, BrokerError> {
        settle_once(&self.inner).await
    }

    /// Stops serving (in-flight requests finish), then the settler; the store closes last.
    pub async fn shutdown(self) {
        self.cancel.cancel();
        let _ = self.server.await;
        let _ = self.settler.await;
    }
}

fn router(inner: Arc<Inner>) -> Router {
    Router::new()
        .route("/v1/proxy/{*rest}", any(proxy))
        .route("/v1/user/{addr}/unsettledfee", get(unsettled_fee))
        .route("/v1/service", get(service_info))
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .with_state(inner)
}

async fn health(State(inner): State<Arc<Inner>>) -> Response {
    let pending = inner.store.pending_count();
    axum::Json(json!({"ok": true, "provider": inner.chain.address, "unsettledRequests": pending}))
        .into_response()
}

async fn metrics(State(inner): State<Arc<Inner>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        inner.metrics.encode(),
    )
        .into_response()
}

async fn service_info(State(inner): State<Arc<Inner>>) -> Result<Response, BrokerError> {
    let s = current_service(&inner, true).await?;
    Ok(axum::Json(json!({
        "provider": s.provider,
        "serviceType": s.serviceType,
        "url": s.url,
        "model": s.model,
        "verifiability": s.verifiability,
        "inputPrice": s.inputPrice.to_string(),
        "outputPrice": s.outputPrice.to_string(),
        "teeSignerAddress": s.teeSignerAddress,
        "teeSignerAcknowledged": s.teeSignerAcknowledged,
    }))
    .into_response())
}

async fn unsettled_fee(
    State(inner): State<Arc<Inner>>,
    Path(addr): Path<String>,
    headers: HeaderMap,
) -> Result<Response, BrokerError> {
    let token = verify(auth_header(&headers), inner.chain.address)?;
    let addr: Address = addr
        .parse()
        .map_err(|_| BrokerError::InvalidInput(format!("{addr} is not an address")))?;
    if addr != token.token.address {
        return Err(BrokerError::Unauthorized(
            "a session may only read its own user's fees".into(),
        ));
    }
    if let Some(a) = inner.chain.account(addr).await? {
        check_revocation(&token.token, a.generation.saturating_to(), a.revokedBitmap)?;
    }
    let fee = inner.store.unsettled(&addr)?;
    Ok(axum::Json(json!({"userAddress": addr, "unsettledFee": fee.to_string()})).into_response())
}

fn auth_header(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
}

/// The service as registered on chain, cached for 2 s (`fresh` forces a read).
async fn current_service(inner: &Inner, fresh: bool) -> Result<S::Service, BrokerError> {
    if !fresh
        && let Some((s, at)) = inner.service.lock().clone()
        && at.elapsed() < Duration::from_secs(2)
    {
        return Ok(s);
    }
    let s = inner.chain.service().await?.ok_or_else(|| {
        BrokerError::Unavailable("this provider's service is not registered on chain".into())
    })?;
    *inner.service.lock() = Some((s.clone(), Instant::now()));
    Ok(s)
}

/// `/v1/proxy/v1/chat/completions` and `/v1/proxy/chat/completions` are one route.
fn normalize(rest: &str) -> String {
    let r = rest.trim_end_matches('/');
    let r = r.strip_prefix("v1/").unwrap_or(r);
    format!("/{}", r.trim_start_matches('/'))
}

async fn proxy(
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
    inner
        .metrics
        .request(&route, outcome, started.elapsed().as_secs_f64());
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

fn ether(wei: U256) -> String {
    let e = U256::from(10u64).pow(U256::from(18));
    let frac = (wei % e).to_string();
    format!("{}.{:0>18}", wei / e, frac)
        .trim_end_matches('0')
        .trim_end_matches('.')
        .to_string()
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
    let provider = inner.chain.address;
    let token = verify(auth_header(&parts.headers), provider)?;
    let user = token.token.address;
    let account = inner.chain.account(user).await?.ok_or_else(|| {
        BrokerError::Payment(format!(
            "user {user} has no sub-account with provider {provider}: create one with the \
             ledger's transferFund(provider, \"inference-v1.0\", amount)"
        ))
    })?;
    check_revocation(
        &token.token,
        account.generation.saturating_to(),
        account.revokedBitmap,
    )?;
    if !account.acknowledged {
        return Err(BrokerError::InvalidInput(
            "user has not acknowledged the provider's TEE signer (acknowledgeTEESigner)".into(),
        ));
    }
    let mut service = current_service(&inner, false).await?;
    if !service.teeSignerAcknowledged {
        // Acknowledgement may have just landed: look again before refusing.
        service = current_service(&inner, true).await?;
    }
    if !service.teeSignerAcknowledged {
        return Err(BrokerError::Unavailable(
            "the service's TEE signer is not acknowledged on chain yet".into(),
        ));
    }
    let locked = account.balance.saturating_sub(account.pendingRefund);
    let unsettled = inner.store.unsettled(&user)?;
    let need = unsettled.saturating_add(inner.config.min_locked_balance);
    if locked < need {
        return Err(BrokerError::Payment(format!(
            "insufficient balance: your locked balance is {} 0G, but the required minimum is \
             {} 0G (minimum reserve {} 0G + unsettled fees {} 0G); add funds with the \
             ledger's transferFund to provider {provider}",
            ether(locked),
            ether(need),
            ether(inner.config.min_locked_balance),
            ether(unsettled),
        )));
    }

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
    let mut up = inner
        .http
        .post(format!(
            "{}{route}",
            inner.config.upstream_url.trim_end_matches('/')
        ))
        .header(header::CONTENT_TYPE, "application/json")
        .body(serde_json::to_vec(&json).expect("JSON"));
    if let Some(k) = &inner.config.upstream_key {
        up = up.bearer_auth(k);
    }
    let resp = up
        .send()
        .await
        .map_err(|e| BrokerError::Upstream(format!("unreachable: {e}")))?;
    let status = StatusCode::from_u16(resp.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
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
    let mut up = inner.http.get(format!(
        "{}{route}",
        inner.config.upstream_url.trim_end_matches('/')
    ));
    if let Some(k) = &inner.config.upstream_key {
        up = up.bearer_auth(k);
    }
    let resp = up
        .send()
        .await
        .map_err(|e| BrokerError::Upstream(format!("unreachable: {e}")))?;
    let status = StatusCode::from_u16(resp.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    let bytes = read_limited(resp, inner.config.max_response_bytes).await?;
    Ok((status, [(header::CONTENT_TYPE, "application/json")], bytes).into_response())
}

// ---------------------------------------------------------------- settlement

async fn settle_loop(inner: Arc<Inner>, cancel: CancellationToken) {
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(inner.config.settle_interval) => {}
            _ = inner.settle_now.notified() => {}
        }
        match settle_once(&inner).await {
            Ok(r) if r.items > 0 => {
                info!(target: "zg_compute", items = r.items, settled = %r.settled, "settled")
            }
            Ok(_) => {}
            Err(e) => {
                warn!(target: "zg_compute", error = %e, "settlement round failed; retrying later")
            }
        }
    }
}

/// 0G's `requestsHash`: keccak256 over each request's id, user, fee, input and output
/// fee as text, concatenated.
fn requests_hash(reqs: &[Billed]) -> alloy_primitives::B256 {
    let mut buf = Vec::new();
    for r in reqs {
        buf.extend_from_slice(r.id.to_string().as_bytes());
        buf.extend_from_slice(r.user.to_string().as_bytes());
        buf.extend_from_slice(r.fee.to_string().as_bytes());
        buf.extend_from_slice(r.input_fee.to_string().as_bytes());
        buf.extend_from_slice(r.output_fee.to_string().as_bytes());
    }
    keccak256(buf)
}

fn new_batch(inner: &Inner) -> Result<Vec<InFlight>, BrokerError> {
    let provider = inner.chain.address;
    let floor = (now_ms() / 1000).saturating_mul(10_000_000);
    let mut out = Vec::new();
    for (user, reqs) in inner.store.pending_by_user()? {
        let total: U256 = reqs.iter().map(|r| r.fee).sum();
        let ids: Vec<u64> = reqs.iter().map(|r| r.id).collect();
        let hash = requests_hash(&reqs);
        let nonce = inner.store.next_nonce(floor)?;
        let digest = tee_settlement_digest(
            inner.chain.chain_id,
            inner.chain.serving,
            hash,
            U256::from(nonce),
            provider,
            user,
            total,
        );
        let sig = inner
            .config
            .tee_key
            .sign_hash_sync(&digest)
            .map_err(|e| BrokerError::Store(format!("signing: {e}")))?;
        out.push(InFlight {
            user,
            ids,
            total_fee: total,
            requests_hash: hash,
            nonce,
            signature: AbiBytes::from(sig.as_bytes().to_vec()),
            tx: None,
        });
    }
    Ok(out)
}

async fn settle_once(inner: &Inner) -> Result<SettleReport, BrokerError> {
    let _one = inner.settling.lock().await;
    // A batch whose outcome was not recorded (a crash, the chain down) is resent as it
    // was signed: each item lands at most once.
    let (batch, resent) = match inner.store.in_flight()? {
        Some(b) => (b, true),
        None => {
            let b = new_batch(inner)?;
            if b.is_empty() {
                return Ok(SettleReport::default());
            }
            inner.store.set_in_flight(Some(&b))?;
            (b, false)
        }
    };
    let provider = inner.chain.address;
    let mut report = SettleReport::default();
    let mut batch = batch;
    while !batch.is_empty() {
        let n = batch.len().min(SETTLEMENT_BATCH);
        let items: Vec<S::TEESettlementData> = batch[..n]
            .iter()
            .map(|f| S::TEESettlementData {
                user: f.user,
                provider,
                totalFee: f.total_fee,
                requestsHash: f.requests_hash,
                nonce: U256::from(f.nonce),
                signature: f.signature.clone(),
            })
            .collect();
        // A chunk sent before (its transaction recorded) is read back from its receipt;
        // one never sent, or never mined, is sent (again, as signed).
        let mut results = None;
        if let Some(hash) = batch[0].tx {
            results = inner
                .chain
                .settlement_results(hash, Duration::from_secs(30))
                .await?;
        }
        let results = match results {
            Some(r) => r,
            None => {
                let hash = inner.chain.send_settlement(items).await?;
                for f in &mut batch[..n] {
                    f.tx = Some(hash);
                }
                inner.store.set_in_flight(Some(&batch))?;
                inner
                    .chain
                    .settlement_results(hash, Duration::from_secs(120))
                    .await?
                    .ok_or_else(|| {
                        BrokerError::Unavailable(format!("settlement {hash} not mined yet"))
                    })?
            }
        };
        if results.len() != n {
            return Err(BrokerError::Unavailable(format!(
                "settlement receipt has {} results for {n} items",
                results.len()
            )));
        }
        for (f, (user, status, unsettled)) in batch[..n].iter().zip(results) {
            report.items += 1;
            report.statuses.push((user, status));
            inner.metrics.settlement(status);
            match status {
                0 => {
                    report.settled += f.total_fee;
                    inner.store.settle(&f.ids, None)?;
                }
                1 => {
                    // The sub-account paid what it had; the rest stays owed (recorded
                    // once: `settle` adds it only while the requests are still there).
                    report.settled += f.total_fee - unsettled;
                    let carry = Billed {
                        id: 0,
                        user,
                        input_tokens: 0,
                        output_tokens: 0,
                        input_fee: U256::ZERO,
                        output_fee: unsettled,
                        fee: unsettled,
                        created_ms: now_ms(),
                    };
                    inner.store.settle(&f.ids, Some(carry))?;
                }
                4 => {
                    let on_chain = inner
                        .chain
                        .account(user)
                        .await?
                        .map(|a| a.nonce.saturating_to::<u64>())
                        .unwrap_or(0);
                    if resent && on_chain >= f.nonce {
                        // This very item landed in a transaction whose hash was not
                        // recorded (a crash between sending and recording it).
                        report.settled += f.total_fee;
                        inner.store.settle(&f.ids, None)?;
                    } else {
                        // Someone used higher nonces: move past them, retry later.
                        inner.store.next_nonce(on_chain + 1)?;
                        warn!(target: "zg_compute", %user, "settlement nonce was stale");
                    }
                }
                s => {
                    warn!(target: "zg_compute", %user, status = s, "settlement refused; requests kept");
                }
            }
        }
        batch.drain(..n);
        inner
            .store
            .set_in_flight((!batch.is_empty()).then_some(batch.as_slice()))?;
    }
    inner.store.set_in_flight(None)?;
    inner.metrics.pending(inner.store.pending_count());
    Ok(report)
}
