//! The follower: anchors in final blocks → verified retrieval → a flow submission and the
//! segments on every storage node → the index. And the read path.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use alloy::eips::BlockNumberOrTag;
use alloy::network::TransactionBuilder;
use alloy::providers::Provider;
use alloy::rpc::types::{Filter, TransactionRequest};
use alloy_primitives::{Address, B256, Bytes, U256};
use alloy_sol_types::{SolCall, SolEvent};
use futures::StreamExt;
use parking_lot::Mutex;
use tokio_util::sync::CancellationToken;
use zg_da_client::{ChainClient, Retriever};
use zg_primitives::Certificate;
use zg_primitives::abi::{IDAEntrance, IFlow};
use zg_storage::{Downloader, FileMerkle, NodeClient, UploadOptions, Uploader};

use crate::error::{ArchiverError, unavailable};
use crate::index::{ArchiveIndex, Entry, Pending};
use crate::metrics::ArchiverMetrics;
use crate::secondary::Secondary;

/// Archiver settings.
#[derive(Clone, Debug)]
pub struct ArchiverConfig {
    /// Directory of the index.
    pub datadir: PathBuf,
    /// Storage nodes every payload is uploaded to (and read from, in order).
    pub storage: Vec<String>,
    /// The DA nodes' retention window: anchors older than this are presumed pruned, and
    /// the first start backfills this far back.
    pub retention: Duration,
    /// `/health` turns unhealthy when the lag exceeds `retention − lag_margin`.
    pub lag_margin: Duration,
    /// First block to follow on first start (default: the first block inside the
    /// retention window).
    pub from_block: Option<u64>,
    /// Payloads archived concurrently (retrieval and segment uploads; flow submissions
    /// are sent one at a time, each pinned to its nonce).
    pub concurrency: usize,
    /// How often the final head is polled once caught up.
    pub poll_interval: Duration,
    /// Blocks per `eth_getLogs` query.
    pub max_range: u64,
    /// Time per payload retrieval from the DA nodes.
    pub retrieve_timeout: Duration,
    /// Time per upload (until every storage node finalized the file).
    pub upload_timeout: Duration,
    /// Bytes of recently read payloads kept in memory for range requests.
    pub cache_bytes: usize,
    /// The HTTP server's limits.
    pub http: zg_node_kit::HttpLimits,
}

impl ArchiverConfig {
    /// Defaults for everything but the directory and the storage nodes.
    pub fn new(datadir: PathBuf, storage: Vec<String>) -> Self {
        Self {
            datadir,
            storage,
            retention: Duration::from_secs(14 * 24 * 3600),
            lag_margin: Duration::from_secs(24 * 3600),
            from_block: None,
            concurrency: 4,
            poll_interval: Duration::from_secs(1),
            max_range: 1000,
            retrieve_timeout: Duration::from_secs(60),
            upload_timeout: Duration::from_secs(120),
            cache_bytes: 64 << 20,
            http: zg_node_kit::HttpLimits::default(),
        }
    }

    /// The lag past which `/health` is unhealthy.
    pub fn max_lag(&self) -> Duration {
        self.retention.saturating_sub(self.lag_margin)
    }
}

/// Where the follower is.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct FollowStatus {
    /// The chain's final block at the last pass.
    pub final_block: u64,
    /// The next block to follow.
    pub next_block: u64,
    /// Seconds behind (age of the oldest anchor block not yet archived; 0 caught up).
    pub lag_seconds: u64,
    /// The last pass's error, if it failed.
    pub last_error: Option<String>,
}

/// What happened to one anchor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    Archived,
    Already,
    Missed,
}

/// Where a read's bytes came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadSource {
    /// Recently read, in memory.
    Cache,
    /// The storage nodes (every segment proved against the storage root).
    Storage,
    /// The object-store secondary (checked against the storage root).
    Secondary,
}

impl ReadSource {
    /// Label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Cache => "cache",
            Self::Storage => "storage",
            Self::Secondary => "secondary",
        }
    }
}

/// A small byte-bounded FIFO of recently read payloads.
#[derive(Default)]
struct ReadCache {
    order: std::collections::VecDeque<B256>,
    map: HashMap<B256, Arc<Vec<u8>>>,
    bytes: usize,
}

impl ReadCache {
    fn get(&self, k: &B256) -> Option<Arc<Vec<u8>>> {
        self.map.get(k).cloned()
    }

    fn put(&mut self, k: B256, v: Arc<Vec<u8>>, cap: usize) {
        if v.len() > cap || self.map.contains_key(&k) {
            return;
        }
        self.bytes += v.len();
        self.map.insert(k, v);
        self.order.push_back(k);
        while self.bytes > cap {
            let Some(old) = self.order.pop_front() else {
                break;
            };
            if let Some(v) = self.map.remove(&old) {
                self.bytes -= v.len();
            }
        }
    }
}

/// The archiver. Cheap to clone.
#[derive(Clone)]
pub struct Archiver {
    inner: Arc<Inner>,
}

struct Inner {
    config: ArchiverConfig,
    index: ArchiveIndex,
    chain: ChainClient,
    account: Address,
    retriever: Retriever,
    nodes: Vec<NodeClient>,
    uploader: Uploader,
    downloader: Downloader,
    secondary: Option<Secondary>,
    metrics: Arc<ArchiverMetrics>,
    submit: tokio::sync::Mutex<()>,
    cache: Mutex<ReadCache>,
    status: Mutex<FollowStatus>,
}

impl std::fmt::Debug for Archiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Archiver")
            .field("config", &self.inner.config)
            .field("account", &self.inner.account)
            .finish_non_exhaustive()
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ArchiverError> + Send + 'static,
) -> Result<T, ArchiverError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ArchiverError::Unavailable(format!("blocking task: {e}")))?
}

impl Archiver {
    /// Assembles the archiver. `chain` must carry the paying signer.
    pub fn new(
        config: ArchiverConfig,
        index: ArchiveIndex,
        chain: ChainClient,
        retriever: Retriever,
        secondary: Option<Secondary>,
    ) -> Result<Self, ArchiverError> {
        let account = chain
            .account()
            .ok_or_else(|| ArchiverError::Config("the chain client has no signer".into()))?;
        if config.storage.is_empty() {
            return Err(ArchiverError::Config(
                "at least one storage node (--storage.url) is needed".into(),
            ));
        }
        let nodes = config
            .storage
            .iter()
            .map(|u| NodeClient::new(u))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| ArchiverError::Config(e.to_string()))?;
        // The uploader's own submission path is not used (the archiver pins nonces);
        // it only uploads segments, so its signer is a throwaway.
        let uploader = Uploader::new(
            nodes.clone(),
            chain.rpc_url(),
            alloy::signers::local::PrivateKeySigner::random(),
            zg_primitives::abi::FLOW_ADDRESS,
        )
        .map_err(|e| ArchiverError::Config(e.to_string()))?;
        let downloader = Downloader::new(nodes.clone());
        let metrics = ArchiverMetrics::new();
        metrics
            .max_lag_seconds
            .set(config.max_lag().as_secs() as i64);
        Ok(Self {
            inner: Arc::new(Inner {
                config,
                index,
                chain,
                account,
                retriever,
                nodes,
                uploader,
                downloader,
                secondary,
                metrics,
                submit: tokio::sync::Mutex::new(()),
                cache: Mutex::new(ReadCache::default()),
                status: Mutex::new(FollowStatus::default()),
            }),
        })
    }

    /// Settings.
    pub fn config(&self) -> &ArchiverConfig {
        &self.inner.config
    }

    /// The index.
    pub fn index(&self) -> &ArchiveIndex {
        &self.inner.index
    }

    /// Metrics.
    pub fn metrics(&self) -> &Arc<ArchiverMetrics> {
        &self.inner.metrics
    }

    /// The paying account.
    pub fn account(&self) -> Address {
        self.inner.account
    }

    /// Where the follower is.
    pub fn status(&self) -> FollowStatus {
        self.inner.status.lock().clone()
    }

    /// Whether the lag is within `retention − margin`.
    pub fn lag_ok(&self) -> bool {
        self.status().lag_seconds <= self.inner.config.max_lag().as_secs()
    }

    /// Follows the chain until `cancel`.
    pub async fn run(self, cancel: CancellationToken) {
        let mut backoff = Duration::from_millis(200);
        loop {
            let result = tokio::select! {
                _ = cancel.cancelled() => return,
                r = self.pass() => r,
            };
            let wait = match result {
                Ok(true) => {
                    backoff = Duration::from_millis(200);
                    self.inner.status.lock().last_error = None;
                    self.inner.config.poll_interval
                }
                Ok(false) => {
                    backoff = Duration::from_millis(200);
                    self.inner.status.lock().last_error = None;
                    Duration::ZERO
                }
                Err(e) => {
                    tracing::warn!(target: "zg_archiver", error = %e, "archive pass failed; retrying");
                    self.inner.status.lock().last_error = Some(e.to_string());
                    backoff = (backoff * 2).min(Duration::from_secs(10));
                    backoff
                }
            };
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }

    async fn block_time(&self, number: u64) -> Result<u64, ArchiverError> {
        let block = self
            .inner
            .chain
            .provider()
            .get_block_by_number(BlockNumberOrTag::Number(number))
            .await
            .map_err(|e| unavailable("chain")(e.to_string()))?
            .ok_or_else(|| ArchiverError::Unavailable(format!("chain: no block {number}")))?;
        Ok(block.header.timestamp)
    }

    /// The first block whose timestamp is inside the retention window (binary search
    /// over headers, timestamps being monotonic).
    async fn window_start(&self, head: u64) -> Result<u64, ArchiverError> {
        let since = now().saturating_sub(self.inner.config.retention.as_secs());
        let (mut lo, mut hi) = (0u64, head + 1);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.block_time(mid).await? < since {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        Ok(lo)
    }

    /// One pass: archives the anchors of the next range of final blocks. `Ok(true)` when
    /// caught up with the final head.
    async fn pass(&self) -> Result<bool, ArchiverError> {
        let inner = &self.inner;
        let head = inner
            .chain
            .final_head()
            .await
            .map_err(|e| unavailable("chain")(e.to_string()))?;
        let Some(head) = head else {
            return Ok(true);
        };
        let index = inner.index.clone();
        let next = match blocking(move || Ok(index.cursor()?)).await? {
            Some(n) => n,
            None => {
                let start = match inner.config.from_block {
                    Some(b) => b,
                    None => self.window_start(head.number).await?,
                };
                tracing::info!(target: "zg_archiver", from = start, head = head.number, "first start: backfilling the retention window");
                let index = inner.index.clone();
                blocking(move || Ok(index.set_cursor(start)?)).await?;
                start
            }
        };
        inner.metrics.final_block.set(head.number as i64);
        inner.status.lock().final_block = head.number;
        self.set_progress(next, head.number).await?;
        if next > head.number {
            return Ok(true);
        }
        let to = head
            .number
            .min(next.saturating_add(inner.config.max_range.max(1) - 1));
        let filter = Filter::new()
            .address(inner.chain.modules().entrance)
            .event_signature(IDAEntrance::ErasureCommitmentVerified::SIGNATURE_HASH)
            .from_block(next)
            .to_block(to);
        let logs = inner
            .chain
            .provider()
            .get_logs(&filter)
            .await
            .map_err(|e| unavailable("chain logs")(e.to_string()))?;
        let mut seen = HashSet::new();
        let mut anchors = Vec::new();
        let mut times: HashMap<u64, u64> = HashMap::new();
        for log in &logs {
            let Ok(ev) = IDAEntrance::ErasureCommitmentVerified::decode_log_data(log.data()) else {
                continue;
            };
            let block = log.block_number.unwrap_or(next);
            if !seen.insert(ev.dataRoot) {
                continue;
            }
            let t = match times.get(&block) {
                Some(t) => *t,
                None => {
                    let t = match log.block_timestamp {
                        Some(t) => t,
                        None => self.block_time(block).await?,
                    };
                    times.insert(block, t);
                    t
                }
            };
            let cert = Certificate {
                epoch: ev.epoch.saturating_to(),
                quorum_id: ev.quorumId.saturating_to(),
                data_root: ev.dataRoot,
            };
            anchors.push((cert, block, t));
        }
        let results: Vec<Result<Outcome, ArchiverError>> = futures::stream::iter(anchors)
            .map(|(cert, block, t)| self.archive(cert, block, t))
            .buffer_unordered(inner.config.concurrency.max(1))
            .collect()
            .await;
        let mut first_err = None;
        for r in results {
            match r {
                Ok(_) => {}
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
        if let Some(e) = first_err {
            return Err(e);
        }
        let index = inner.index.clone();
        blocking(move || Ok(index.set_cursor(to + 1)?)).await?;
        self.set_progress(to + 1, head.number).await?;
        Ok(to == head.number)
    }

    /// Records that blocks before `next` are archived, with the final head at `head`:
    /// the lag is the age of block `next` (0 once past the head; a genesis stamped 0
    /// counts from block 1).
    async fn set_progress(&self, next: u64, head: u64) -> Result<(), ArchiverError> {
        let lag = if next > head {
            0
        } else {
            now().saturating_sub(self.block_time(next.max(1).min(head)).await?)
        };
        let inner = &self.inner;
        {
            let mut s = inner.status.lock();
            s.next_block = next;
            s.lag_seconds = lag;
        }
        inner.metrics.next_block.set(next as i64);
        inner.metrics.lag_seconds.set(lag as i64);
        Ok(())
    }

    /// Archives one anchored payload (once).
    async fn archive(
        &self,
        cert: Certificate,
        block: u64,
        anchored_at: u64,
    ) -> Result<Outcome, ArchiverError> {
        let r = self.archive_inner(cert, block, anchored_at).await;
        if let Err(e) = &r {
            tracing::warn!(target: "zg_archiver", data_root = %cert.data_root, epoch = cert.epoch, error = %e, "archiving failed");
        }
        r
    }

    async fn archive_inner(
        &self,
        cert: Certificate,
        block: u64,
        anchored_at: u64,
    ) -> Result<Outcome, ArchiverError> {
        let inner = &self.inner;
        let index = inner.index.clone();
        let root = cert.data_root;
        if blocking(move || Ok(index.contains(&root)? || index.missed(&root)?.is_some())).await? {
            return Ok(Outcome::Already);
        }
        let expired = now().saturating_sub(anchored_at) > inner.config.retention.as_secs();
        let started = Instant::now();
        let retrieved = tokio::time::timeout(
            inner.config.retrieve_timeout,
            inner.retriever.retrieve(&cert),
        )
        .await;
        let payload = match retrieved {
            Ok(Ok(r)) => r.payload,
            failed => {
                let reason = match failed {
                    Ok(Err(e)) => e.to_string(),
                    _ => format!(
                        "retrieval did not finish within {:?}",
                        inner.config.retrieve_timeout
                    ),
                };
                inner
                    .metrics
                    .failures
                    .get_or_create(&vec![("stage", "retrieve".into())])
                    .inc();
                if expired {
                    // Anchored before the retention window: the DA nodes pruned it.
                    tracing::warn!(target: "zg_archiver", data_root = %root, block, %reason, "anchored before the retention window and no longer retrievable; recorded as missed");
                    let index = inner.index.clone();
                    let why = format!("block {block}: {reason}");
                    blocking(move || Ok(index.put_missed(&root, &why)?)).await?;
                    inner.metrics.missed.inc();
                    return Ok(Outcome::Missed);
                }
                return Err(ArchiverError::Unavailable(format!(
                    "retrieving {root}: {reason}"
                )));
            }
        };
        inner
            .metrics
            .stage("retrieve", started.elapsed().as_secs_f64());
        let size = payload.len() as u64;
        let payload = Arc::new(payload);
        let data = payload.clone();
        let merkle = Arc::new(
            blocking(move || {
                FileMerkle::new(&data).ok_or_else(|| ArchiverError::Invalid("empty payload".into()))
            })
            .await?,
        );
        let storage_root = merkle.root();
        let started = Instant::now();
        let seq = self.submit_once(root, &merkle).await.inspect_err(|_| {
            inner
                .metrics
                .failures
                .get_or_create(&vec![("stage", "submit".into())])
                .inc();
        })?;
        inner
            .metrics
            .stage("submit", started.elapsed().as_secs_f64());
        let started = Instant::now();
        self.upload(&payload, &merkle, seq).await.inspect_err(|_| {
            inner
                .metrics
                .failures
                .get_or_create(&vec![("stage", "upload".into())])
                .inc();
        })?;
        inner
            .metrics
            .stage("upload", started.elapsed().as_secs_f64());
        if let Some(s) = &inner.secondary {
            let started = Instant::now();
            s.put(&root, payload.as_slice()).await.inspect_err(|_| {
                inner
                    .metrics
                    .failures
                    .get_or_create(&vec![("stage", "secondary".into())])
                    .inc();
            })?;
            inner
                .metrics
                .stage("secondary", started.elapsed().as_secs_f64());
        }
        let entry = Entry {
            data_root: root,
            storage_root,
            seq,
            size,
            epoch: cert.epoch,
            quorum_id: cert.quorum_id,
            block,
            anchored_at,
            archived_at: now(),
        };
        let index = inner.index.clone();
        blocking(move || Ok(index.put_entry(&entry)?)).await?;
        inner.metrics.archived.inc();
        inner.metrics.archived_bytes.inc_by(size);
        tracing::info!(target: "zg_archiver", data_root = %root, %storage_root, seq, size, block, "archived");
        Ok(Outcome::Archived)
    }

    /// The flow submission of `merkle`'s file for `data_root`, sent at most once: the
    /// nonce is journalled before the transaction leaves, and a journalled submission is
    /// looked up (its nonce used: the `Submit` event; still pooled: waited for) instead
    /// of being sent again.
    async fn submit_once(
        &self,
        data_root: B256,
        merkle: &FileMerkle,
    ) -> Result<u64, ArchiverError> {
        let inner = &self.inner;
        let _one_at_a_time = inner.submit.lock().await;
        let index = inner.index.clone();
        if let Some(p) = blocking(move || Ok(index.pending(&data_root)?)).await?
            && let Some(seq) = self.resolve(&p).await?
        {
            tracing::info!(target: "zg_archiver", %data_root, seq, nonce = p.nonce, "a journalled submission was sent before; using it");
            return Ok(seq);
        }
        let provider = inner.chain.provider();
        let rpc = unavailable("chain");
        let nonce = provider
            .get_transaction_count(inner.account)
            .pending()
            .await
            .map_err(|e| rpc(e.to_string()))?;
        let from_block = provider
            .get_block_number()
            .await
            .map_err(|e| rpc(e.to_string()))?;
        let flow = zg_primitives::abi::FLOW_ADDRESS;
        let fee = inner
            .uploader
            .fee(merkle)
            .await
            .map_err(|e| unavailable("chain")(e.to_string()))?;
        let submission = zg_storage::flow_submission(merkle, &[]);
        let pending = Pending {
            storage_root: merkle.root(),
            identity: zg_storage::submission_identity(merkle.nodes.iter().map(|(_, r)| r)),
            nonce,
            from_block,
        };
        let index = inner.index.clone();
        let journal = pending.clone();
        blocking(move || Ok(index.put_pending(&data_root, &journal)?)).await?;
        let tx = TransactionRequest::default()
            .with_from(inner.account)
            .with_to(flow)
            .with_nonce(nonce)
            .with_value(fee)
            .with_input(Bytes::from(IFlow::submit_0Call { submission }.abi_encode()));
        let receipt = match zg_node_kit::send_and_confirm(
            provider,
            tx,
            inner.chain.receipt_timeout(),
        )
        .await
        {
            Ok(r) => r,
            Err(e) => {
                // It may still have gone out: the journal resolves it next time.
                return Err(ArchiverError::Unavailable(format!("flow submission: {e}")));
            }
        };
        let seq = receipt
            .inner
            .logs()
            .iter()
            .filter(|l| l.address() == flow)
            .find_map(|l| IFlow::Submit::decode_log_data(l.data()).ok())
            .ok_or_else(|| ArchiverError::Unavailable("no Submit event in the receipt".into()))?
            .submissionIndex
            .saturating_to();
        inner
            .metrics
            .fees_gwei
            .inc_by((fee / U256::from(1_000_000_000u64)).saturating_to());
        Ok(seq)
    }

    /// What became of a journalled submission: `Some(seq)` when it was mined, `None`
    /// when it never left (its nonce is still free and nothing with it is pooled) or its
    /// nonce went to another transaction.
    async fn resolve(&self, p: &Pending) -> Result<Option<u64>, ArchiverError> {
        let inner = &self.inner;
        let provider = inner.chain.provider();
        let rpc = unavailable("chain");
        let deadline = Instant::now() + inner.chain.receipt_timeout();
        loop {
            let latest = provider
                .get_transaction_count(inner.account)
                .latest()
                .await
                .map_err(|e| rpc(e.to_string()))?;
            if latest > p.nonce {
                let filter = Filter::new()
                    .address(zg_primitives::abi::FLOW_ADDRESS)
                    .event_signature(IFlow::Submit::SIGNATURE_HASH)
                    .topic1(inner.account.into_word())
                    .topic2(p.identity)
                    .from_block(p.from_block);
                let logs = provider
                    .get_logs(&filter)
                    .await
                    .map_err(|e| rpc(e.to_string()))?;
                return Ok(logs
                    .iter()
                    .filter_map(|l| IFlow::Submit::decode_log_data(l.data()).ok())
                    .map(|ev| ev.submissionIndex.saturating_to())
                    .next());
            }
            let pooled = provider
                .get_transaction_count(inner.account)
                .pending()
                .await
                .map_err(|e| rpc(e.to_string()))?;
            if pooled <= p.nonce {
                return Ok(None);
            }
            if Instant::now() >= deadline {
                return Err(ArchiverError::Unavailable(format!(
                    "a submission with nonce {} is still pooled",
                    p.nonce
                )));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Uploads the file's segments to every storage node and waits until each finalized
    /// it.
    async fn upload(
        &self,
        payload: &[u8],
        merkle: &FileMerkle,
        seq: u64,
    ) -> Result<(), ArchiverError> {
        let inner = &self.inner;
        let deadline = Instant::now() + inner.config.upload_timeout;
        let options = UploadOptions::default();
        let fail = unavailable("storage");
        let up = &inner.uploader;
        for node in &inner.nodes {
            let info = up
                .wait_info(node, seq, deadline, false)
                .await
                .map_err(|e| fail(e.to_string()))?;
            if !info.finalized {
                up.upload_to(node, payload, merkle, seq, &options)
                    .await
                    .map_err(|e| fail(format!("{}: {e}", node.url())))?;
            }
        }
        for node in &inner.nodes {
            up.wait_info(node, seq, deadline, true)
                .await
                .map_err(|e| fail(e.to_string()))?;
        }
        Ok(())
    }

    /// The archived payload `data_root`, checked against its storage root.
    pub async fn read(
        &self,
        data_root: &B256,
    ) -> Result<(Arc<Vec<u8>>, ReadSource), ArchiverError> {
        let r = self.read_inner(data_root).await;
        let label = match &r {
            Ok((_, s)) => s.as_str(),
            Err(ArchiverError::NotFound(_)) => "not_found",
            Err(_) => "failed",
        };
        self.inner
            .metrics
            .reads
            .get_or_create(&zg_node_kit::result(label))
            .inc();
        r
    }

    async fn read_inner(
        &self,
        data_root: &B256,
    ) -> Result<(Arc<Vec<u8>>, ReadSource), ArchiverError> {
        let inner = &self.inner;
        if let Some(b) = inner.cache.lock().get(data_root) {
            return Ok((b, ReadSource::Cache));
        }
        let index = inner.index.clone();
        let root = *data_root;
        let entry = blocking(move || Ok(index.entry(&root)?))
            .await?
            .ok_or_else(|| ArchiverError::NotFound(format!("{data_root} is not archived")))?;
        let from_storage = match inner.downloader.download(entry.storage_root).await {
            Ok(bytes) if bytes.len() as u64 == entry.size => Ok(bytes),
            Ok(bytes) => Err(ArchiverError::Corrupt(format!(
                "the storage nodes returned {} bytes for {}, {} were archived",
                bytes.len(),
                entry.storage_root,
                entry.size
            ))),
            Err(e) => Err(ArchiverError::Unavailable(format!("storage: {e}"))),
        };
        let (bytes, source) = match (from_storage, &inner.secondary) {
            (Ok(b), _) => (b, ReadSource::Storage),
            (Err(e), Some(s)) => {
                tracing::warn!(target: "zg_archiver", %data_root, error = %e, "storage nodes cannot serve; reading the secondary");
                let b = s.get(data_root, entry.size).await?;
                let expected = entry.storage_root;
                let check = b.clone();
                let ok = blocking(move || {
                    Ok(FileMerkle::new(&check).map(|m| m.root()) == Some(expected))
                })
                .await?;
                if !ok {
                    return Err(ArchiverError::Corrupt(format!(
                        "the secondary's copy of {data_root} does not have storage root {expected}"
                    )));
                }
                (b, ReadSource::Secondary)
            }
            (Err(e), None) => return Err(e),
        };
        let bytes = Arc::new(bytes);
        inner
            .cache
            .lock()
            .put(*data_root, bytes.clone(), inner.config.cache_bytes);
        Ok((bytes, source))
    }
}
