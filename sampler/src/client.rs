//! The light client: follows `ErasureCommitmentVerified` anchors from a persisted
//! checkpoint, samples each one, keeps a bounded history of results, and publishes them.
//!
//! Blocks are processed in order in ranges of at most `max_range`; the checkpoint (the
//! next block to look at) advances only once every anchor of a range has been sampled
//! and its result appended to `results.jsonl`, so a restart resumes where it stopped and
//! never samples a finished range again.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use alloy::providers::Provider;
use alloy::rpc::types::Filter;
use alloy_primitives::B256;
use alloy_sol_types::SolEvent;
use futures::StreamExt;
use parking_lot::RwLock;
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use zg_da_client::{ChainClient, LightChain};
use zg_primitives::Certificate;
use zg_primitives::abi::IDAEntrance;

use crate::metrics::SamplerMetrics;
use crate::sampler::{Availability, SampleReport, Sampler};

/// Light-client settings.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// Where the checkpoint and results live.
    pub datadir: PathBuf,
    /// First block to follow when there is no checkpoint.
    pub start_block: u64,
    /// Blocks behind the head an anchor must be before it is sampled (0 on a dev chain
    /// without reorgs).
    pub confirmations: u64,
    /// How often the head is polled.
    pub poll_interval: Duration,
    /// Most blocks per `eth_getLogs`.
    pub max_range: u64,
    /// Payloads sampled at once.
    pub concurrency: usize,
    /// Results kept in memory (oldest dropped first).
    pub max_results: usize,
    /// Anchors of quorums that include this member are not sampled (a DA node samples
    /// the other quorums' data).
    pub skip_quorums_of: Option<alloy_primitives::Address>,
    /// The HTTP server's limits (hosts, concurrency, time per request).
    pub http: zg_node_kit::HttpLimits,
    /// Verify the chain instead of trusting the RPC endpoint (needs a chain with
    /// validators); `None` trusts the endpoint's `latest` (a dev chain).
    pub verify: Option<zg_da_client::VerifyConfig>,
}

impl ClientConfig {
    /// Defaults for everything but the directory.
    pub fn new(datadir: PathBuf) -> Self {
        Self {
            datadir,
            start_block: 0,
            confirmations: 0,
            poll_interval: Duration::from_millis(500),
            max_range: 1000,
            concurrency: 4,
            max_results: 100_000,
            skip_quorums_of: None,
            http: zg_node_kit::HttpLimits::default(),
            verify: None,
        }
    }
}

/// Why the light client stopped or could not start.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Checkpoint or results file.
    #[error("state in {path}: {reason}")]
    State {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The verification settings cannot work.
    #[error("verifying the chain: {0}")]
    Verify(String),
}

#[derive(Serialize, Deserialize)]
struct Checkpoint {
    chain_id: u64,
    next_block: u64,
}

/// Results in memory: by data_root (latest anchor first) and by block.
#[derive(Default)]
struct Results {
    by_root: HashMap<B256, Vec<SampleReport>>,
    by_block: BTreeMap<u64, Vec<(B256, Certificate)>>,
    count: usize,
}

impl Results {
    fn insert(&mut self, r: SampleReport, max: usize) {
        let root = r.certificate.data_root;
        let block = r.block.unwrap_or(0);
        let cert = r.certificate;
        let entries = self.by_root.entry(root).or_default();
        if let Some(e) = entries.iter_mut().find(|e| e.certificate == cert) {
            *e = r;
            return;
        }
        entries.push(r);
        self.by_block.entry(block).or_default().push((root, cert));
        self.count += 1;
        while self.count > max {
            let Some((_, olds)) = self.by_block.pop_first() else {
                break;
            };
            for (root, cert) in olds {
                if let Some(v) = self.by_root.get_mut(&root) {
                    v.retain(|e| e.certificate != cert);
                    if v.is_empty() {
                        self.by_root.remove(&root);
                    }
                }
                self.count -= 1;
            }
        }
    }
}

/// A count of results by status.
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct Counts {
    /// Not sampled yet.
    pub pending: usize,
    /// Being sampled.
    pub sampling: usize,
    /// Available.
    pub available: usize,
    /// Unavailable.
    pub unavailable: usize,
}

/// The light client's shared state. Cheap to clone.
#[derive(Clone)]
pub struct LightClient {
    inner: Arc<Inner>,
}

struct Inner {
    config: ClientConfig,
    sampler: Sampler,
    chain: ChainClient,
    /// The verifying reader, when the chain is verified rather than trusted.
    light: Option<LightChain>,
    results: RwLock<Results>,
    checkpoint: RwLock<u64>,
    head: RwLock<u64>,
    events: broadcast::Sender<SampleReport>,
    metrics: Arc<SamplerMetrics>,
}

impl LightClient {
    /// The verifying reader's newest verified header and the endpoints it caught lying
    /// (`None` when the chain is trusted).
    pub fn verification(&self) -> Option<serde_json::Value> {
        self.inner.light.as_ref().map(LightChain::status)
    }
}

impl std::fmt::Debug for LightClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LightClient")
            .field("datadir", &self.inner.config.datadir)
            .field("checkpoint", &*self.inner.checkpoint.read())
            .finish()
    }
}

fn state_err(path: &Path, reason: impl ToString) -> ClientError {
    ClientError::State {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    }
}

impl LightClient {
    /// Opens the state in `config.datadir` (checkpoint and results of earlier runs).
    pub fn open(
        config: ClientConfig,
        sampler: Sampler,
        chain: ChainClient,
    ) -> Result<Self, ClientError> {
        std::fs::create_dir_all(&config.datadir).map_err(|e| state_err(&config.datadir, e))?;
        let cp_path = config.datadir.join("checkpoint.json");
        let mut next = config.start_block;
        if cp_path.exists() {
            let text = std::fs::read_to_string(&cp_path).map_err(|e| state_err(&cp_path, e))?;
            let cp: Checkpoint = serde_json::from_str(&text).map_err(|e| state_err(&cp_path, e))?;
            if cp.chain_id != chain.chain_id() {
                return Err(state_err(
                    &cp_path,
                    format!(
                        "checkpoint is for chain {}, the endpoint serves chain {}",
                        cp.chain_id,
                        chain.chain_id()
                    ),
                ));
            }
            next = cp.next_block;
        }
        let mut results = Results::default();
        let res_path = config.datadir.join("results.jsonl");
        if res_path.exists() {
            let text = std::fs::read_to_string(&res_path).map_err(|e| state_err(&res_path, e))?;
            for line in text.lines().filter(|l| !l.trim().is_empty()) {
                // A torn last line (crash mid-append) is skipped; its range is resampled.
                if let Ok(r) = serde_json::from_str::<SampleReport>(line) {
                    results.insert(r, config.max_results);
                }
            }
        }
        let metrics = SamplerMetrics::new();
        metrics.checkpoint.set(next as i64);
        let (events, _) = broadcast::channel(1024);
        let light = match &config.verify {
            None => None,
            Some(v) => Some(
                v.connect(chain.chain_id(), chain.rpc_url())
                    .map_err(|e| ClientError::Verify(e.to_string()))?,
            ),
        };
        Ok(Self {
            inner: Arc::new(Inner {
                config,
                sampler,
                chain,
                light,
                results: RwLock::new(results),
                checkpoint: RwLock::new(next),
                head: RwLock::new(0),
                events,
                metrics,
            }),
        })
    }

    /// The next block to look at.
    pub fn checkpoint(&self) -> u64 {
        *self.inner.checkpoint.read()
    }

    /// The chain head last seen.
    pub fn head(&self) -> u64 {
        *self.inner.head.read()
    }

    /// Settings.
    pub fn config(&self) -> &ClientConfig {
        &self.inner.config
    }

    /// The sampler.
    pub fn sampler(&self) -> &Sampler {
        &self.inner.sampler
    }

    /// Metrics.
    pub fn metrics(&self) -> &Arc<SamplerMetrics> {
        &self.inner.metrics
    }

    /// Results for a data_root (one per anchor), latest last.
    pub fn availability(&self, root: &B256) -> Vec<SampleReport> {
        self.inner
            .results
            .read()
            .by_root
            .get(root)
            .cloned()
            .unwrap_or_default()
    }

    /// Results of the anchors in block `n`.
    pub fn block(&self, n: u64) -> Vec<SampleReport> {
        let results = self.inner.results.read();
        results
            .by_block
            .get(&n)
            .map(|v| {
                v.iter()
                    .filter_map(|(root, cert)| {
                        results
                            .by_root
                            .get(root)
                            .and_then(|e| e.iter().find(|r| r.certificate == *cert).cloned())
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The newest `limit` results, newest anchor first.
    pub fn recent(&self, limit: usize) -> Vec<SampleReport> {
        let results = self.inner.results.read();
        let mut out = Vec::with_capacity(limit.min(results.count));
        for v in results.by_block.values().rev() {
            for (root, cert) in v.iter().rev() {
                if out.len() >= limit {
                    return out;
                }
                if let Some(r) = results
                    .by_root
                    .get(root)
                    .and_then(|e| e.iter().find(|r| r.certificate == *cert))
                {
                    out.push(r.clone());
                }
            }
        }
        out
    }

    /// Results by status.
    pub fn counts(&self) -> Counts {
        let mut c = Counts::default();
        for r in self.inner.results.read().by_root.values().flatten() {
            match r.status {
                Availability::Pending => c.pending += 1,
                Availability::Sampling => c.sampling += 1,
                Availability::Available => c.available += 1,
                Availability::Unavailable => c.unavailable += 1,
            }
        }
        c
    }

    /// A stream of results as they are produced (pending, sampling, final).
    pub fn subscribe(&self) -> broadcast::Receiver<SampleReport> {
        self.inner.events.subscribe()
    }

    fn publish(&self, r: SampleReport) {
        self.inner
            .results
            .write()
            .insert(r.clone(), self.inner.config.max_results);
        let _ = self.inner.events.send(r);
    }

    /// Follows the chain until `cancel`.
    pub async fn run(self, cancel: CancellationToken) {
        let mut failures = 0u32;
        loop {
            let step = tokio::select! {
                _ = cancel.cancelled() => return,
                r = self.step() => r,
            };
            let wait = match step {
                Ok(true) => {
                    failures = 0;
                    continue;
                }
                Ok(false) => {
                    failures = 0;
                    self.inner.config.poll_interval
                }
                Err(e) => {
                    failures += 1;
                    tracing::warn!(target: "zg_sampler", error = %e, "following the chain failed");
                    self.inner.config.poll_interval * failures.min(10)
                }
            };
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// One range: returns whether there may be more to do right away.
    async fn step(&self) -> Result<bool, String> {
        let chain = &self.inner.chain;
        let head = chain
            .provider()
            .get_block_number()
            .await
            .map_err(|e| e.to_string())?;
        *self.inner.head.write() = head;
        self.inner.metrics.head.set(head as i64);
        let Some(mut safe) = head.checked_sub(self.inner.config.confirmations) else {
            return Ok(false);
        };
        // Verifying: only what a certificate proves final is followed.
        let finalized = match &self.inner.light {
            Some(light) => {
                let h = light.finalized().await.map_err(|e| e.to_string())?;
                safe = safe.min(h.number);
                self.inner.metrics.verified_head.set(h.number as i64);
                Some(h)
            }
            None => None,
        };
        let from = self.checkpoint();
        if from > safe {
            return Ok(false);
        }
        let to = safe.min(from + self.inner.config.max_range.max(1) - 1);
        let filter = Filter::new()
            .address(self.inner.chain.modules().entrance)
            .event_signature(IDAEntrance::ErasureCommitmentVerified::SIGNATURE_HASH)
            .from_block(from)
            .to_block(to);
        let logs = chain
            .provider()
            .get_logs(&filter)
            .await
            .map_err(|e| e.to_string())?;
        let mut anchors = Vec::new();
        for log in logs {
            let block = log.block_number;
            match log.log_decode::<IDAEntrance::ErasureCommitmentVerified>() {
                Ok(ev) => {
                    let ev = ev.inner.data;
                    anchors.push((
                        Certificate {
                            epoch: ev.epoch.saturating_to(),
                            quorum_id: ev.quorumId.saturating_to(),
                            data_root: ev.dataRoot,
                        },
                        block,
                    ));
                }
                Err(e) => {
                    tracing::warn!(target: "zg_sampler", error = %e, "undecodable anchor event skipped")
                }
            }
        }
        if let (Some(light), Some(at), Some(verify)) =
            (&self.inner.light, &finalized, &self.inner.config.verify)
        {
            // An event is only a candidate: the anchor must be in the finalized state.
            let mut kept = Vec::with_capacity(anchors.len());
            for (cert, block) in anchors {
                let proved = light
                    .anchored_at(
                        at,
                        self.inner.chain.modules().entrance,
                        verify.layout,
                        &cert.data_root,
                        cert.epoch,
                        cert.quorum_id,
                    )
                    .await
                    .map_err(|e| e.to_string())?;
                if proved.is_some() && proved == block {
                    kept.push((cert, block));
                } else {
                    self.inner.metrics.forged_anchors.inc();
                    light.report(
                        self.inner.chain.rpc_url(),
                        format!(
                            "an anchor event of {} (epoch {}, quorum {}) at block {block:?} that the finalized state at {} does not hold (anchored at {proved:?})",
                            cert.data_root, cert.epoch, cert.quorum_id, at.number
                        ),
                    );
                }
            }
            anchors = kept;
        }
        if let Some(me) = self.inner.config.skip_quorums_of {
            let mut kept = Vec::with_capacity(anchors.len());
            for (cert, block) in anchors {
                let own = matches!(
                    chain.quorum(cert.epoch, cert.quorum_id).await,
                    Ok(Some(q)) if q.member(me).is_some()
                );
                if !own {
                    kept.push((cert, block));
                }
            }
            anchors = kept;
        }
        for (cert, block) in &anchors {
            self.publish(pending(cert, *block, Availability::Pending));
        }
        let finished: Vec<SampleReport> = futures::stream::iter(anchors)
            .map(|(cert, block)| async move {
                self.publish(pending(&cert, block, Availability::Sampling));
                let mut r = self.inner.sampler.sample(&cert).await;
                r.block = block;
                self.inner.metrics.observe(&r);
                tracing::info!(target: "zg_sampler", data_root = %cert.data_root, status = ?r.status, confidence = r.confidence, ms = r.duration_ms, "sampled");
                self.publish(r.clone());
                r
            })
            .buffer_unordered(self.inner.config.concurrency.max(1))
            .collect()
            .await;
        self.persist(&finished, to + 1).map_err(|e| e.to_string())?;
        Ok(to < safe)
    }

    /// Appends results (synced), then moves the checkpoint (atomic rename).
    fn persist(&self, finished: &[SampleReport], next: u64) -> Result<(), ClientError> {
        let dir = &self.inner.config.datadir;
        if !finished.is_empty() {
            let path = dir.join("results.jsonl");
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .map_err(|e| state_err(&path, e))?;
            let mut buf = Vec::new();
            for r in finished {
                serde_json::to_writer(&mut buf, r).map_err(|e| state_err(&path, e))?;
                buf.push(b'\n');
            }
            f.write_all(&buf).map_err(|e| state_err(&path, e))?;
            f.sync_data().map_err(|e| state_err(&path, e))?;
        }
        let path = dir.join("checkpoint.json");
        let tmp = dir.join("checkpoint.json.tmp");
        let cp = Checkpoint {
            chain_id: self.inner.chain.chain_id(),
            next_block: next,
        };
        let text = serde_json::to_vec(&cp).map_err(|e| state_err(&path, e))?;
        {
            let mut f = std::fs::File::create(&tmp).map_err(|e| state_err(&tmp, e))?;
            f.write_all(&text).map_err(|e| state_err(&tmp, e))?;
            f.sync_all().map_err(|e| state_err(&tmp, e))?;
        }
        std::fs::rename(&tmp, &path).map_err(|e| state_err(&path, e))?;
        *self.inner.checkpoint.write() = next;
        self.inner.metrics.checkpoint.set(next as i64);
        Ok(())
    }
}

fn pending(cert: &Certificate, block: Option<u64>, status: Availability) -> SampleReport {
    SampleReport {
        certificate: *cert,
        status,
        confidence: 0.0,
        columns: Vec::new(),
        samples_ok: 0,
        samples_failed: 0,
        failures: Vec::new(),
        misbehaving: Vec::new(),
        members: Vec::new(),
        block,
        finished_at_ms: 0,
        duration_ms: 0,
    }
}

/// How the members of one quorum answered in a window of results.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct QuorumHealth {
    /// Epoch.
    pub epoch: u64,
    /// Quorum.
    pub quorum_id: u64,
    /// Its members that were asked, by address.
    pub members: Vec<MemberHealth>,
}

/// One member's answers in a window of results.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct MemberHealth {
    /// The member.
    pub address: alloy_primitives::Address,
    /// Columns that verified.
    pub ok: usize,
    /// Columns that failed.
    pub failed: usize,
    /// Payloads for which it served invalid data.
    pub misbehaved: usize,
    /// `healthy` (nothing failed), `degraded` (some failed), `down` (nothing verified)
    /// or `misbehaving` (served invalid data).
    pub health: &'static str,
}

/// Members' health per quorum over `reports`.
pub fn quorum_health(reports: &[SampleReport]) -> Vec<QuorumHealth> {
    // (epoch, quorum) → member → (columns ok, columns failed, payloads misbehaved)
    type Tally = BTreeMap<alloy_primitives::Address, (usize, usize, usize)>;
    let mut by_quorum: BTreeMap<(u64, u64), Tally> = BTreeMap::new();
    for r in reports {
        let q = by_quorum
            .entry((r.certificate.epoch, r.certificate.quorum_id))
            .or_default();
        for m in &r.members {
            let e = q.entry(m.address).or_default();
            e.0 += m.ok;
            e.1 += m.failed;
        }
        for a in &r.misbehaving {
            q.entry(*a).or_default().2 += 1;
        }
    }
    by_quorum
        .into_iter()
        .rev()
        .map(|((epoch, quorum_id), members)| QuorumHealth {
            epoch,
            quorum_id,
            members: members
                .into_iter()
                .map(|(address, (ok, failed, misbehaved))| MemberHealth {
                    address,
                    ok,
                    failed,
                    misbehaved,
                    health: if misbehaved > 0 {
                        "misbehaving"
                    } else if failed == 0 {
                        "healthy"
                    } else if ok == 0 {
                        "down"
                    } else {
                        "degraded"
                    },
                })
                .collect(),
        })
        .collect()
}

/// Final results per minute over the last minute and the last ten, by when sampling
/// finished.
pub fn throughput(reports: &[SampleReport], now_ms: u64) -> serde_json::Value {
    let within = |ms: u64| {
        reports
            .iter()
            .filter(|r| r.finished_at_ms > 0 && now_ms.saturating_sub(r.finished_at_ms) <= ms)
            .count()
    };
    let (one, ten) = (within(60_000), within(600_000));
    serde_json::json!({
        "payloads_last_minute": one,
        "payloads_last_10_minutes": ten,
        "payloads_per_minute": ten as f64 / 10.0,
    })
}
