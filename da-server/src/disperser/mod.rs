//! The disperser: accepts payloads, encodes them, disperses each quorum member's
//! columns, aggregates the members' BLS signatures, anchors the certificate on chain and
//! serves retrieval. Accepted requests and the states a restart resumes from are
//! journaled, so a restart resumes unfinished requests. In-process callers use it
//! through [`zg_da_client::Disperse`], like the HTTP API's clients.

mod anchor;
mod api;
mod auth;
mod journal;
mod pipeline;
mod quorum;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use alloy::signers::local::PrivateKeySigner;
use alloy_primitives::{B256, Bytes, keccak256};
use parking_lot::Mutex;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;
use zg_da_client::disperse::{BoxFuture, Disperse, DisperseFailure, remaining};
use zg_da_client::{ColumnNetwork, DaChain};
use zg_node_kit::{Health, Supervisor, TaskFailure};
use zg_primitives::{Certificate, CodecError, Kzg};

use crate::chain::{ChainClient, ChainConfig};
use crate::error::{DisperseError, StoreError};
use crate::metrics::DisperserMetrics;
use crate::net::{NetConfig, Network};
use crate::retrieval::Retriever;

pub use auth::{AccessConfig, ClientToken};
pub use journal::{BlobRecord, BlobStatus, Journal, PendingAnchor};

/// Disperser settings.
#[derive(Clone, Debug)]
pub struct DisperserConfig {
    /// Directory of the journal.
    pub datadir: PathBuf,
    /// The account whose deposit pays and that sends anchoring transactions.
    pub signer: PrivateKeySigner,
    /// Chain access.
    pub chain: ChainConfig,
    /// libp2p settings (a client: no listen addresses needed).
    pub net: NetConfig,
    /// Largest payload accepted.
    pub max_payload: usize,
    /// Requests encoding and dispersing at once (each encodes on every core); requests
    /// waiting for their anchoring transaction do not hold a place.
    pub max_in_flight: usize,
    /// Attempts per member for a store request (network errors, retryable refusals).
    pub store_attempts: u32,
    /// How long to keep collecting signatures once the threshold is reached.
    pub signature_grace: Duration,
    /// Anchoring attempts before a request fails (at least; see `chain_grace`).
    pub anchor_attempts: u32,
    /// How long an accepted request keeps retrying while the chain is unreachable
    /// (restarting, say) before it fails.
    pub chain_grace: Duration,
    /// Submissions per anchoring transaction at most.
    pub anchor_max_batch: usize,
    /// How long `?wait=true` waits.
    pub wait_timeout: Duration,
    /// How long an anchor may take to become final (by the chain's finality rule)
    /// before the attempt fails and is retried.
    pub finality_timeout: Duration,
    /// API access control.
    pub access: AccessConfig,
    /// The HTTP server's limits (hosts, concurrency, time per request).
    pub http: zg_node_kit::HttpLimits,
}

impl DisperserConfig {
    /// Defaults for everything but the directory, account and chain.
    pub fn new(datadir: PathBuf, signer: PrivateKeySigner, chain: ChainConfig) -> Self {
        Self {
            datadir,
            signer,
            chain,
            net: NetConfig::default(),
            max_payload: zg_primitives::DEFAULT_MAX_PAYLOAD,
            max_in_flight: 8,
            store_attempts: 3,
            signature_grace: Duration::from_millis(300),
            anchor_attempts: 5,
            chain_grace: Duration::from_secs(120),
            anchor_max_batch: 32,
            wait_timeout: Duration::from_secs(300),
            finality_timeout: Duration::from_secs(900),
            access: AccessConfig::default(),
            http: zg_node_kit::HttpLimits::default(),
        }
    }
}

/// Unix milliseconds.
fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The disperser's core, over a chain `C` and a column network `N` (the real ones by
/// default; [`start_with`] takes any, such as the test kit's in-memory fakes). Cheap to
/// clone.
pub struct Disperser<N = Network, C = ChainClient> {
    inner: Arc<Inner<N, C>>,
}

impl<N, C> Clone for Disperser<N, C> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

impl<N, C> std::fmt::Debug for Disperser<N, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Disperser")
            .field("account", &self.inner.signer.address())
            .field("journal", &self.inner.journal)
            .finish()
    }
}

struct Inner<N, C> {
    journal: Journal,
    chain: C,
    network: N,
    retriever: Retriever<N, C>,
    kzg: &'static Kzg,
    signer: PrivateKeySigner,
    config: DisperserConfig,
    metrics: Arc<DisperserMetrics>,
    anchor: mpsc::Sender<anchor::Job>,
    work: mpsc::UnboundedSender<pipeline::Work>,
    watchers: Mutex<HashMap<B256, watch::Sender<BlobRecord>>>,
    /// Serialises journal read-modify-write per process.
    accept_lock: tokio::sync::Mutex<()>,
}

/// A running disperser.
#[derive(Debug)]
pub struct RunningDisperser<N = Network, C = ChainClient> {
    /// The core (submit, status, retrieval).
    pub disperser: Disperser<N, C>,
    /// Where the HTTP API listens.
    pub http_addr: SocketAddr,
    tasks: Supervisor,
}

impl<N, C> RunningDisperser<N, C> {
    /// Stops in order: the anchoring worker, the pipeline, the HTTP API and the
    /// network, then flushes the journal. Unfinished requests resume at the next start.
    pub async fn shutdown(self) -> Result<(), StoreError> {
        self.tasks.shutdown().await;
        self.disperser.inner.journal.flush()
    }

    /// Green until a background task fails.
    pub fn health(&self) -> Health {
        self.tasks.health()
    }

    /// Resolves when a background task failed (the disperser then stops itself).
    pub fn failed(&self) -> impl std::future::Future<Output = TaskFailure> + Send + 'static {
        self.tasks.failed()
    }
}

pub use zg_da_client::StartError;

/// Starts a disperser: journal, chain client, libp2p client, anchoring worker, pipeline
/// and HTTP API on `http`. Unfinished requests from a previous run are resumed.
pub async fn start(
    config: DisperserConfig,
    http: TcpListener,
    cancel: CancellationToken,
) -> Result<RunningDisperser, StartError> {
    check_exposure(&config, &http)?;
    let chain = ChainClient::connect(config.chain.clone(), Some(config.signer.clone())).await?;
    let keypair = libp2p::identity::Keypair::generate_ed25519();
    let (network, net_task) =
        Network::start(keypair, config.net.clone(), None, cancel.child_token()).await?;
    let mut running = start_with(config, chain, network, http, cancel).await?;
    running.tasks.spawn("disperser network", async move {
        let _ = net_task.await;
    });
    Ok(running)
}

fn check_exposure(config: &DisperserConfig, http: &TcpListener) -> Result<SocketAddr, StartError> {
    let http_addr = http.local_addr()?;
    config
        .access
        .check_exposure(&http_addr)
        .map_err(|e| StartError::Config(format!("access: {e}")))?;
    Ok(http_addr)
}

/// Starts a disperser over a given chain and column network (`config.chain` and
/// `config.net` are not used): journal, anchoring worker, pipeline and HTTP API on
/// `http`. Unfinished requests from a previous run are resumed.
pub async fn start_with<N: ColumnNetwork, C: DaChain>(
    config: DisperserConfig,
    chain: C,
    network: N,
    http: TcpListener,
    cancel: CancellationToken,
) -> Result<RunningDisperser<N, C>, StartError> {
    let http_addr = check_exposure(&config, &http)?;
    let kzg = Kzg::mainnet();
    let journal = Journal::open(&config.datadir)?;
    let metrics = DisperserMetrics::new();
    let (anchor_tx, anchor_rx) = mpsc::channel(1024);
    let (work_tx, work_rx) = mpsc::unbounded_channel();
    let (report_tx, mut report_rx) = mpsc::unbounded_channel::<crate::retrieval::NodeReport>();
    let retriever = Retriever::new(network.clone(), chain.clone(), kzg).with_report_sink(report_tx);
    let mut tasks = Supervisor::new(cancel.clone());
    {
        let metrics = metrics.clone();
        let cancel = cancel.child_token();
        tasks.spawn("disperser reports", async move {
            loop {
                let r = tokio::select! {
                    _ = cancel.cancelled() => return,
                    r = report_rx.recv() => match r { Some(r) => r, None => return },
                };
                if r.misbehaved {
                    metrics
                        .reported_nodes
                        .get_or_create(&vec![("node", r.address.to_string())])
                        .inc();
                }
            }
        });
    }
    let disperser = Disperser {
        inner: Arc::new(Inner {
            journal,
            chain: chain.clone(),
            network,
            retriever,
            kzg,
            signer: config.signer.clone(),
            config: config.clone(),
            metrics: metrics.clone(),
            anchor: anchor_tx,
            work: work_tx,
            watchers: Mutex::new(HashMap::new()),
            accept_lock: tokio::sync::Mutex::new(()),
        }),
    };
    tasks.spawn(
        "disperser anchoring",
        anchor::run(
            chain,
            anchor_rx,
            anchor::AnchorSettings {
                max_batch: config.anchor_max_batch,
                finality_timeout: config.finality_timeout,
            },
            metrics,
            cancel.child_token(),
        ),
    );
    tasks.spawn(
        "disperser pipeline",
        disperser
            .clone()
            .run_pipeline(work_rx, cancel.child_token()),
    );
    for r in disperser.inner.journal.unfinished()? {
        tracing::info!(target: "zg_da::disperser", id = %r.id, status = ?r.status, "resuming");
        let _ = disperser.inner.work.send(pipeline::Work {
            id: r.id,
            payload: None,
            span: tracing::Span::none(),
        });
    }
    let app = api::router(disperser.clone(), tasks.health());
    tasks.spawn_http("disperser http", http, app, config.http.clone());
    tracing::info!(target: "zg_da::disperser", account = %config.signer.address(), %http_addr, "disperser started");
    Ok(RunningDisperser {
        disperser,
        http_addr,
        tasks,
    })
}

impl<N: ColumnNetwork, C: DaChain> Disperser<N, C> {
    /// The retrieval client.
    pub fn retriever(&self) -> &Retriever<N, C> {
        &self.inner.retriever
    }

    /// The chain client.
    pub fn chain(&self) -> &C {
        &self.inner.chain
    }

    /// The account that signs store requests, pays and anchors.
    pub fn account(&self) -> alloy_primitives::Address {
        self.inner.signer.address()
    }

    /// The journal.
    pub fn journal(&self) -> &Journal {
        &self.inner.journal
    }

    /// Metrics.
    pub fn metrics(&self) -> &DisperserMetrics {
        &self.inner.metrics
    }

    /// Largest payload accepted.
    pub fn max_payload(&self) -> usize {
        self.inner.config.max_payload
    }

    /// Accepts a payload: journals it (synced) and queues it. The same payload again
    /// returns the existing request (a failed one is retried).
    pub async fn submit(&self, payload: impl Into<Bytes>) -> Result<BlobRecord, DisperseError> {
        let payload: Bytes = payload.into();
        if payload.is_empty() {
            return Err(CodecError::EmptyPayload.into());
        }
        if payload.len() > self.inner.config.max_payload {
            return Err(CodecError::PayloadTooLarge {
                len: payload.len(),
                max: self.inner.config.max_payload,
            }
            .into());
        }
        let id = keccak256(&payload);
        let _guard = self.inner.accept_lock.lock().await;
        let record = match self.status(id).await? {
            Some(r) if r.status != BlobStatus::Failed => return Ok(r),
            Some(mut r) => {
                r.status = BlobStatus::Queued;
                r.reason = None;
                r.failure = None;
                r.updated_at_ms = now_ms();
                r
            }
            None => BlobRecord::new(id, payload.len() as u64, now_ms()),
        };
        let journal = self.inner.journal.clone();
        let rec = record.clone();
        let kept = payload.clone();
        blocking(move || journal.accept(&rec, &kept)).await?;
        self.inner.metrics.requests.inc();
        self.publish(&record);
        self.inner
            .work
            .send(pipeline::Work {
                id,
                payload: Some(payload),
                span: tracing::Span::current(),
            })
            .map_err(|_| DisperseError::Shutdown)?;
        Ok(record)
    }

    /// A request's record: the live one while it is in the pipeline, else the
    /// journal's.
    pub async fn status(&self, id: B256) -> Result<Option<BlobRecord>, StoreError> {
        if let Some(tx) = self.inner.watchers.lock().get(&id) {
            return Ok(Some(tx.borrow().clone()));
        }
        let journal = self.inner.journal.clone();
        blocking(move || journal.get(&id)).await
    }

    /// Waits until the request is confirmed or failed, or `timeout` passes (then the
    /// current record).
    pub async fn wait(&self, id: B256, timeout: Duration) -> Result<BlobRecord, StoreError> {
        let existing = self.inner.watchers.lock().get(&id).map(|tx| tx.subscribe());
        let mut rx = match existing {
            Some(rx) => rx,
            None => {
                let Some(rec) = self.status(id).await? else {
                    return Err(StoreError::Corrupt {
                        key: id.to_string(),
                        reason: "unknown request".into(),
                    });
                };
                if rec.status.is_terminal() {
                    return Ok(rec);
                }
                let rx = self
                    .inner
                    .watchers
                    .lock()
                    .entry(id)
                    .or_insert_with(|| watch::channel(rec).0)
                    .subscribe();
                // The final state may have been published before the watcher existed.
                if let Some(rec) = self.status(id).await?
                    && rec.status.is_terminal()
                {
                    self.inner.watchers.lock().remove(&id);
                    return Ok(rec);
                }
                rx
            }
        };
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let current = rx.borrow_and_update().clone();
            if current.status.is_terminal() {
                return Ok(current);
            }
            match tokio::time::timeout_at(deadline, rx.changed()).await {
                Ok(Ok(())) => continue,
                Ok(Err(_)) => {
                    // Sender dropped (terminal state published then removed): re-read.
                    return Ok(self.status(id).await?.unwrap_or(current));
                }
                Err(_) => return Ok(self.status(id).await?.unwrap_or(current)),
            }
        }
    }

    fn publish(&self, record: &BlobRecord) {
        let mut w = self.inner.watchers.lock();
        match w.get(&record.id) {
            Some(tx) => {
                tx.send_replace(record.clone());
            }
            None => {
                w.insert(record.id, watch::channel(record.clone()).0);
            }
        }
        if record.status.is_terminal() {
            // Waiters hold receivers; they see the final value before the channel closes.
            w.remove(&record.id);
        }
    }

    /// Publishes a transient state (encoding, dispersing) to status readers and
    /// waiters without journaling it: a restart re-runs it anyway.
    fn touch(&self, record: &mut BlobRecord) {
        record.updated_at_ms = now_ms();
        self.publish(record);
    }

    /// Journals a state a restart resumes from (synced), then publishes it.
    async fn save(&self, record: &mut BlobRecord) -> Result<(), StoreError> {
        record.updated_at_ms = now_ms();
        let journal = self.inner.journal.clone();
        let rec = record.clone();
        blocking(move || journal.update(&rec)).await?;
        self.publish(record);
        Ok(())
    }
}

impl<N: ColumnNetwork, C: DaChain> Disperse for Disperser<N, C> {
    fn disperse(
        &self,
        payload: Bytes,
        deadline: Instant,
    ) -> BoxFuture<'_, Result<Certificate, DisperseFailure>> {
        Box::pin(async move {
            match self.has_quorum().await {
                Ok(true) => {}
                Ok(false) => {
                    return Err(DisperseFailure::retry_later(
                        "no quorum is formed in the current epoch",
                    ));
                }
                Err(e) => return Err(DisperseFailure::retry_later(e.to_string())),
            }
            let record = self.submit(payload).await.map_err(|e| e.to_failure())?;
            let record = if record.status.is_terminal() {
                record
            } else {
                self.wait(record.id, remaining(deadline)?)
                    .await
                    .map_err(|e| DisperseFailure::cannot_certify(e.to_string()))?
            };
            record.outcome()
        })
    }

    fn status(&self, id: B256) -> BoxFuture<'_, Result<Option<BlobRecord>, DisperseFailure>> {
        Box::pin(async move {
            Disperser::status(self, id)
                .await
                .map_err(|e| DisperseFailure::cannot_certify(e.to_string()))
        })
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|e| Err(StoreError::Db(format!("blocking task: {e}"))))
}
