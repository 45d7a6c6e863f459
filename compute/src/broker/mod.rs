//! The provider broker: an OpenAI-compatible reverse proxy under `/v1/proxy` that
//! admits only requests with a valid session token from a user whose on-chain
//! sub-account can pay, meters each answer's token usage at the service's on-chain
//! prices, records it durably, and settles the fees on chain in batches signed by the
//! TEE signer key.
//!
//! Layout: this module has the configuration, start and shutdown and the SDK's routes;
//! `admission` checks who may be served, `proxy` forwards, meters and bills, and
//! `settlement` settles what was billed.

mod admission;
mod proxy;
mod settlement;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use alloy::signers::local::PrivateKeySigner;
use alloy::transports::http::reqwest;
use alloy_primitives::{Address, U256};
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use parking_lot::Mutex;
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::info;
use zg_node_kit::{Health, Supervisor, TaskFailure};
use zg_primitives::abi::{IInferenceServing as S, SERVING_ADDRESS};

use crate::chain::ChainClient;
use crate::error::BrokerError;
use crate::metrics::Metrics;
use crate::store::Store;
use crate::token::{check_revocation, verify};
use admission::{auth_header, current_service};
use proxy::proxy;
use settlement::{settle_loop, settle_once};

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
    /// The HTTP server's limits (hosts, concurrency, time to the response's head).
    pub http: zg_node_kit::HttpLimits,
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
            http: zg_node_kit::HttpLimits::default(),
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
    accounts: admission::AccountGate,
    health: Health,
}

/// A running broker.
pub struct Broker {
    /// Where it listens.
    pub addr: SocketAddr,
    inner: Arc<Inner>,
    tasks: Supervisor,
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
    let mut tasks = Supervisor::new(cancel.clone());
    let inner = Arc::new(Inner {
        health: tasks.health(),
        accounts: admission::AccountGate::default(),
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
    tasks.spawn_http("broker http", listener, app, inner.config.http.clone());
    tasks.spawn(
        "broker settlement",
        settle_loop(inner.clone(), cancel.child_token()),
    );
    info!(target: "zg_compute", %addr, provider = %inner.chain.address, "broker listening");
    Ok(Broker { addr, inner, tasks })
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
        self.tasks.shutdown().await;
    }

    /// Resolves when a task (the server, the settler) failed; the broker then stops.
    pub fn failed(&self) -> impl std::future::Future<Output = TaskFailure> + Send + 'static {
        self.tasks.failed()
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
    if inner.health.failure().is_some() {
        let (status, body) = inner
            .health
            .report(json!({ "ok": false, "provider": inner.chain.address }));
        return (status, axum::Json(body)).into_response();
    }
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
