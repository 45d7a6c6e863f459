//! The disperser: accepts payloads, encodes them, disperses each quorum member's
//! columns, aggregates the members' BLS signatures, anchors the certificate on chain and
//! serves retrieval. Every step is journaled, so a restart resumes unfinished requests.

mod anchor;
mod api;
mod auth;
mod journal;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use alloy::signers::SignerSync;
use alloy::signers::local::PrivateKeySigner;
use alloy_primitives::{B256, Bytes, keccak256};
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use parking_lot::Mutex;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use zg_primitives::{
    BlsSignature, CodecError, EncodedPayload, Kzg, StoreRefusal, StoreRequest, StoreResponse,
    aggregate_signatures, attestation_message, custody_columns, encode, signer_bitmap,
};

use crate::chain::{ChainClient, ChainConfig, Quorum, QuorumMember};
use crate::error::{DisperseError, NetError, StoreError};
use crate::metrics::{DisperserMetrics, result};
use crate::net::{Frame, NetConfig, Network};
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
    /// API access control.
    pub access: AccessConfig,
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
            access: AccessConfig::default(),
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

/// The disperser's core. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Disperser {
    inner: Arc<Inner>,
}

struct Inner {
    journal: Journal,
    chain: ChainClient,
    network: Network,
    retriever: Retriever,
    kzg: &'static Kzg,
    signer: PrivateKeySigner,
    config: DisperserConfig,
    metrics: Arc<DisperserMetrics>,
    anchor: mpsc::Sender<anchor::Job>,
    work: mpsc::UnboundedSender<B256>,
    watchers: Mutex<HashMap<B256, watch::Sender<BlobRecord>>>,
    /// Serialises journal read-modify-write per process.
    accept_lock: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Disperser")
            .field("account", &self.signer.address())
            .field("journal", &self.journal)
            .finish()
    }
}

/// A running disperser.
#[derive(Debug)]
pub struct RunningDisperser {
    /// The core (submit, status, retrieval).
    pub disperser: Disperser,
    /// Where the HTTP API listens.
    pub http_addr: SocketAddr,
    cancel: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
}

impl RunningDisperser {
    /// Stops in order: the HTTP API, the pipeline and network, then flushes the journal.
    /// Unfinished requests resume at the next start.
    pub async fn shutdown(self) -> Result<(), StoreError> {
        self.cancel.cancel();
        for t in self.tasks {
            let _ = t.await;
        }
        self.disperser.inner.journal.flush()
    }
}

/// Why a disperser could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Journal failure.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Network failure.
    #[error(transparent)]
    Net(#[from] NetError),
    /// Chain failure.
    #[error(transparent)]
    Chain(#[from] crate::error::ChainClientError),
    /// Access configuration refused (an exposed API without tokens).
    #[error("access: {0}")]
    Access(String),
    /// HTTP listener failure.
    #[error("http: {0}")]
    Http(#[from] std::io::Error),
}

/// Starts a disperser: journal, libp2p client, anchoring worker, pipeline and HTTP API
/// on `http`. Unfinished requests from a previous run are resumed.
pub async fn start(
    config: DisperserConfig,
    http: TcpListener,
    cancel: CancellationToken,
) -> Result<RunningDisperser, StartError> {
    let http_addr = http.local_addr()?;
    config
        .access
        .check_exposure(&http_addr)
        .map_err(StartError::Access)?;
    let kzg = Kzg::mainnet();
    let journal = Journal::open(&config.datadir)?;
    let chain = ChainClient::connect(config.chain.clone(), Some(config.signer.clone())).await?;
    let keypair = libp2p::identity::Keypair::generate_ed25519();
    let (network, net_task) =
        Network::start(keypair, config.net.clone(), None, cancel.child_token()).await?;
    let metrics = DisperserMetrics::new();
    let (anchor_tx, anchor_rx) = mpsc::channel(1024);
    let (work_tx, work_rx) = mpsc::unbounded_channel();
    let (report_tx, mut report_rx) = mpsc::unbounded_channel::<crate::retrieval::NodeReport>();
    let retriever = Retriever::new(network.clone(), chain.clone(), kzg).with_report_sink(report_tx);
    {
        let metrics = metrics.clone();
        tokio::spawn(async move {
            while let Some(r) = report_rx.recv().await {
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
    let mut tasks = Vec::new();
    tasks.push(tokio::spawn(anchor::run(
        chain,
        anchor_rx,
        config.anchor_max_batch,
        metrics,
        cancel.child_token(),
    )));
    tasks.push(tokio::spawn(
        disperser
            .clone()
            .run_pipeline(work_rx, cancel.child_token()),
    ));
    for r in disperser.inner.journal.unfinished()? {
        tracing::info!(target: "zg_da::disperser", id = %r.id, status = ?r.status, "resuming");
        let _ = disperser.inner.work.send(r.id);
    }
    let app = api::router(disperser.clone());
    let api_cancel = cancel.child_token();
    tasks.push(tokio::spawn(async move {
        if let Err(e) = axum::serve(http, app)
            .with_graceful_shutdown(async move { api_cancel.cancelled().await })
            .await
        {
            tracing::error!(target: "zg_da::disperser", error = %e, "http server failed");
        }
    }));
    tasks.push(tokio::spawn(async move {
        let _ = net_task.await;
    }));
    tracing::info!(target: "zg_da::disperser", account = %config.signer.address(), %http_addr, "disperser started");
    Ok(RunningDisperser {
        disperser,
        http_addr,
        cancel,
        tasks,
    })
}

impl Disperser {
    /// The retrieval client.
    pub fn retriever(&self) -> &Retriever {
        &self.inner.retriever
    }

    /// The chain client.
    pub fn chain(&self) -> &ChainClient {
        &self.inner.chain
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

    /// Whether some quorum of the current (or previous) epoch exists.
    pub async fn has_quorum(&self) -> Result<bool, DisperseError> {
        Ok(!self.candidate_quorums().await?.is_empty())
    }

    /// The quorums to try, waiting out an unreachable chain for up to `chain_grace`.
    async fn candidate_quorums(&self) -> Result<Vec<Arc<Quorum>>, DisperseError> {
        let deadline = Instant::now() + self.inner.config.chain_grace;
        let mut delay = Duration::from_millis(250);
        loop {
            match self.current_quorums().await {
                Err(DisperseError::Chain(e)) if e.is_retryable() && Instant::now() < deadline => {
                    tracing::warn!(target: "zg_da::disperser", error = %e, "chain unreachable; retrying");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(4));
                }
                other => return other,
            }
        }
    }

    async fn current_quorums(&self) -> Result<Vec<Arc<Quorum>>, DisperseError> {
        let chain = &self.inner.chain;
        let epoch = chain.epoch().await?;
        let mut qs = chain.quorums(epoch).await?;
        if qs.is_empty() && epoch > 0 {
            qs = chain.quorums(epoch - 1).await?;
        }
        Ok(qs)
    }

    /// Accepts a payload: journals it (synced) and queues it. The same payload again
    /// returns the existing request (a failed one is retried).
    pub async fn submit(&self, payload: Vec<u8>) -> Result<BlobRecord, DisperseError> {
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
        let journal = self.inner.journal.clone();
        let existing = blocking(move || journal.get(&id)).await?;
        let record = match existing {
            Some(r) if r.status != BlobStatus::Failed => return Ok(r),
            Some(mut r) => {
                r.status = BlobStatus::Queued;
                r.reason = None;
                r.no_quorum = false;
                r.unavailable = false;
                r.updated_at_ms = now_ms();
                r
            }
            None => BlobRecord::new(id, payload.len() as u64, now_ms()),
        };
        let journal = self.inner.journal.clone();
        let rec = record.clone();
        blocking(move || journal.accept(&rec, &payload)).await?;
        self.inner.metrics.requests.inc();
        self.publish(&record);
        self.inner
            .work
            .send(id)
            .map_err(|_| DisperseError::Shutdown)?;
        Ok(record)
    }

    /// A request's record.
    pub async fn status(&self, id: B256) -> Result<Option<BlobRecord>, StoreError> {
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

    async fn save(&self, record: &mut BlobRecord) -> Result<(), StoreError> {
        record.updated_at_ms = now_ms();
        let journal = self.inner.journal.clone();
        let rec = record.clone();
        blocking(move || journal.update(&rec)).await?;
        self.publish(record);
        Ok(())
    }

    async fn run_pipeline(
        self,
        mut work: mpsc::UnboundedReceiver<B256>,
        cancel: CancellationToken,
    ) {
        let slots = Arc::new(Semaphore::new(self.inner.config.max_in_flight.max(1)));
        let mut running = tokio::task::JoinSet::new();
        loop {
            let id = tokio::select! {
                _ = cancel.cancelled() => break,
                id = work.recv() => match id { Some(id) => id, None => break },
                Some(_) = running.join_next(), if !running.is_empty() => continue,
            };
            let permit = tokio::select! {
                _ = cancel.cancelled() => break,
                p = slots.clone().acquire_owned() => p.expect("semaphore is never closed"),
            };
            let this = self.clone();
            let task_cancel = cancel.clone();
            running.spawn(async move {
                this.inner.metrics.in_flight.inc();
                tokio::select! {
                    _ = task_cancel.cancelled() => {}
                    _ = this.process(id, permit) => {}
                }
                this.inner.metrics.in_flight.dec();
            });
        }
        // Unfinished requests stay journaled and resume at the next start.
        running.shutdown().await;
    }

    /// Takes one request through the pipeline from wherever it stands. `slot` (a place
    /// among the requests that encode and disperse at once) is given back as soon as the
    /// request waits for anchoring, which costs no CPU and is batched.
    async fn process(&self, id: B256, slot: tokio::sync::OwnedSemaphorePermit) {
        let started = Instant::now();
        let mut record = match self.status(id).await {
            Ok(Some(r)) => r,
            Ok(None) => return,
            Err(e) => {
                tracing::error!(target: "zg_da::disperser", %id, error = %e, "journal read failed");
                return;
            }
        };
        if record.status.is_terminal() {
            return;
        }
        let outcome = self.drive(&mut record, slot).await;
        match outcome {
            Ok(()) => {
                self.inner
                    .metrics
                    .finished
                    .get_or_create(&result("confirmed"))
                    .inc();
                self.inner
                    .metrics
                    .put_seconds
                    .observe(started.elapsed().as_secs_f64());
            }
            Err(e) => {
                if matches!(e, DisperseError::Shutdown | DisperseError::Store(_)) {
                    tracing::warn!(target: "zg_da::disperser", %id, error = %e, "request interrupted");
                    return;
                }
                record.status = BlobStatus::Failed;
                record.no_quorum = matches!(e, DisperseError::NoQuorum(_));
                record.unavailable = matches!(
                    e,
                    DisperseError::NoQuorum(_) | DisperseError::Anchor(_) | DisperseError::Chain(_)
                );
                record.reason = Some(e.to_string());
                self.inner
                    .metrics
                    .finished
                    .get_or_create(&result("failed"))
                    .inc();
                tracing::warn!(target: "zg_da::disperser", %id, error = %e, "request failed");
                if let Err(e) = self.save(&mut record).await {
                    tracing::error!(target: "zg_da::disperser", %id, error = %e, "journal write failed");
                }
            }
        }
    }

    async fn drive(
        &self,
        record: &mut BlobRecord,
        slot: tokio::sync::OwnedSemaphorePermit,
    ) -> Result<(), DisperseError> {
        let id = record.id;
        if record.status != BlobStatus::Anchoring || record.pending_anchor.is_none() {
            record.status = BlobStatus::Encoding;
            self.save(record).await?;
            let journal = self.inner.journal.clone();
            let payload = blocking(move || journal.payload(&id))
                .await?
                .ok_or_else(|| StoreError::Corrupt {
                    key: id.to_string(),
                    reason: "payload missing from the journal".into(),
                })?;
            let kzg = self.inner.kzg;
            let max = self.inner.config.max_payload;
            let t = Instant::now();
            let encoded = tokio::task::spawn_blocking(move || encode(kzg, &payload, max))
                .await
                .map_err(|e| DisperseError::Encode(e.to_string()))??;
            self.inner
                .metrics
                .encode_seconds
                .observe(t.elapsed().as_secs_f64());
            record.data_root = Some(encoded.data_root);
            record.blob_count = Some(encoded.header.blob_count);
            record.status = BlobStatus::Dispersing;
            self.save(record).await?;
            let encoded = Arc::new(encoded);
            let quorums = self.candidate_quorums().await?;
            if quorums.is_empty() {
                return Err(DisperseError::NoQuorum(
                    "no quorum in the current or previous epoch".into(),
                ));
            }
            // Spread payloads over the quorums; try the others if one falls short.
            let start = encoded.data_root[31] as usize % quorums.len();
            let mut failures = Vec::new();
            let mut signed = None;
            for k in 0..quorums.len() {
                let q = &quorums[(start + k) % quorums.len()];
                match self.disperse_to(q, &encoded).await {
                    Ok(s) => {
                        signed = Some(s);
                        break;
                    }
                    Err(e) => {
                        failures.push(format!("quorum {} of epoch {}: {e}", q.quorum_id, q.epoch))
                    }
                }
            }
            let Some((pending, count, threshold)) = signed else {
                return Err(DisperseError::NoQuorum(failures.join("; ")));
            };
            record.signers = Some((count, threshold));
            record.pending_anchor = Some(pending);
            record.status = BlobStatus::Anchoring;
            self.save(record).await?;
        }
        drop(slot);
        let submission = record
            .submission()
            .expect("pending anchor with a data_root");
        let cert = zg_primitives::Certificate {
            epoch: submission.epoch.saturating_to(),
            quorum_id: submission.quorumId.saturating_to(),
            data_root: submission.dataRoot,
        };
        let mut last_err = String::new();
        let deadline = Instant::now() + self.inner.config.chain_grace;
        for attempt in 0.. {
            let (tx, rx) = tokio::sync::oneshot::channel();
            self.inner
                .anchor
                .send(anchor::Job {
                    submission: submission.clone(),
                    cert,
                    reply: tx,
                })
                .await
                .map_err(|_| DisperseError::Shutdown)?;
            match rx.await.map_err(|_| DisperseError::Shutdown)? {
                Ok(tx_hash) => {
                    record.confirm(cert, tx_hash);
                    self.save(record).await?;
                    tracing::info!(target: "zg_da::disperser", %id, data_root = %cert.data_root, epoch = cert.epoch, quorum = cert.quorum_id, "confirmed");
                    return Ok(());
                }
                Err(e) => {
                    last_err = e.to_string();
                    let attempts_left = attempt + 1 < self.inner.config.anchor_attempts;
                    if !e.is_retryable() || (!attempts_left && Instant::now() >= deadline) {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(250 << attempt.min(4))).await;
                }
            }
        }
        Err(DisperseError::Anchor(last_err))
    }

    /// Sends each member its columns and gathers verified signatures; returns the
    /// aggregate once at least the threshold signed.
    async fn disperse_to(
        &self,
        quorum: &Quorum,
        encoded: &Arc<EncodedPayload>,
    ) -> Result<(PendingAnchor, usize, usize), String> {
        let chain_id = self.inner.chain.chain_id();
        let n = quorum.members.len();
        let digest = zg_primitives::wire::store_request_digest(
            chain_id,
            encoded.data_root,
            quorum.epoch,
            quorum.quorum_id,
            encoded.header.blob_count,
        );
        let auth = self
            .inner
            .signer
            .sign_hash_sync(&digest)
            .map_err(|e| format!("signing the store request: {e}"))?;
        let auth = Bytes::from(auth.as_bytes().to_vec());
        let message = attestation_message(
            chain_id,
            encoded.data_root,
            quorum.epoch,
            quorum.quorum_id,
            encoded.header.blob_count,
        );
        let mut pending: FuturesUnordered<_> = quorum
            .members
            .iter()
            .map(|m| {
                let req = StoreRequest {
                    chain_id,
                    epoch: quorum.epoch,
                    quorum_id: quorum.quorum_id,
                    data_root: encoded.data_root,
                    header: encoded.header.clone(),
                    columns: encoded.columns(&custody_columns(m.index, n)),
                    disperser_signature: auth.to_vec(),
                };
                async move { (m, self.store_with_retries(m, req, &message).await) }
            })
            .collect();
        let mut good: Vec<(usize, BlsSignature)> = Vec::new();
        let mut grace: Option<tokio::time::Instant> = None;
        loop {
            let next = match grace {
                Some(deadline) => match tokio::time::timeout_at(deadline, pending.next()).await {
                    Ok(n) => n,
                    Err(_) => break,
                },
                None => pending.next().await,
            };
            let Some((m, outcome)) = next else { break };
            match outcome {
                Ok(sig) => good.push((m.index, sig)),
                Err(reason) => {
                    self.inner
                        .metrics
                        .bad_signers
                        .get_or_create(&vec![
                            ("member", m.address.to_string()),
                            ("reason", reason.kind.to_string()),
                        ])
                        .inc();
                    tracing::warn!(target: "zg_da::disperser", member = %m.address, reason = %reason.detail, "member did not sign");
                }
            }
            if good.len() >= quorum.threshold && grace.is_none() {
                grace = Some(tokio::time::Instant::now() + self.inner.config.signature_grace);
            }
        }
        if good.len() < quorum.threshold || good.is_empty() {
            return Err(format!(
                "{} of the {} signatures needed",
                good.len(),
                quorum.threshold
            ));
        }
        good.sort_by_key(|(i, _)| *i);
        let bitmap = signer_bitmap(n, good.iter().map(|(i, _)| *i)).map_err(|e| e.to_string())?;
        let sigs: Vec<BlsSignature> = good.iter().map(|(_, s)| *s).collect();
        let aggregate = aggregate_signatures(&sigs).map_err(|e| e.to_string())?;
        Ok((
            PendingAnchor {
                epoch: quorum.epoch,
                quorum_id: quorum.quorum_id,
                blob_count: encoded.header.blob_count,
                signers_bitmap: Bytes::from(bitmap),
                aggregate_signature: Bytes::copy_from_slice(aggregate.as_bytes()),
            },
            good.len(),
            quorum.threshold,
        ))
    }

    async fn store_with_retries(
        &self,
        m: &QuorumMember,
        req: StoreRequest,
        message: &B256,
    ) -> Result<BlsSignature, MemberFailure> {
        let Some(pk) = m.pubkey else {
            return Err(MemberFailure::new(
                "bad_pubkey",
                "registered key is invalid",
            ));
        };
        let attempts = self.inner.config.store_attempts.max(1);
        let mut last = MemberFailure::new("unreachable", "not tried");
        for attempt in 0..attempts {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(200 << attempt.min(4))).await;
            }
            match self
                .inner
                .network
                .store(&m.socket, Frame::Msg(req.clone()))
                .await
            {
                Ok(Frame::Msg(StoreResponse::Signed { signature })) => {
                    return match zg_primitives::bls::verify(&pk, message, &signature) {
                        Ok(()) => Ok(signature),
                        Err(e) => Err(MemberFailure::new("bad_signature", e.to_string())),
                    };
                }
                Ok(Frame::Msg(StoreResponse::Refused(r))) => {
                    let retry = r.is_retryable();
                    last = MemberFailure::new(refusal_label(&r), r.to_string());
                    if !retry {
                        return Err(last);
                    }
                }
                Ok(_) => return Err(MemberFailure::new("garbage", "undecodable response")),
                Err(NetError::BadAddress(a)) => {
                    return Err(MemberFailure::new("bad_socket", a));
                }
                Err(e) => last = MemberFailure::new("unreachable", e.to_string()),
            }
        }
        Err(last)
    }
}

struct MemberFailure {
    kind: &'static str,
    detail: String,
}

impl MemberFailure {
    fn new(kind: &'static str, detail: impl Into<String>) -> Self {
        Self {
            kind,
            detail: detail.into(),
        }
    }
}

fn refusal_label(r: &StoreRefusal) -> &'static str {
    match r {
        StoreRefusal::NoDeposit { .. } => "no_deposit",
        StoreRefusal::OverCapacity(_) => "over_capacity",
        StoreRefusal::UnknownQuorum { .. } => "unknown_quorum",
        StoreRefusal::Internal(_) => "internal",
        _ => "refused",
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|e| Err(StoreError::Db(format!("blocking task: {e}"))))
}
