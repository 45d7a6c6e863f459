//! The plugin's core: put (disperse, remember, cache) and get (cache, verify on read,
//! retrieve), independent of HTTP.

use std::collections::{HashSet, VecDeque};
use std::hash::Hash;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use alloy::transports::http::reqwest;
use alloy_primitives::{B256, keccak256};
use axum::body::Bytes;
use parking_lot::Mutex;
use tracing::Instrument;
use zg_da_client::{ChainClient, Disperse, Retriever};
use zg_node_kit::Health;
use zg_primitives::{AltDaCommitment, Certificate};

use crate::error::PluginError;
use crate::frames::{ChannelId, parse_frames};
use crate::metrics::PluginMetrics;
use crate::store::PluginStore;

/// Default largest body accepted by `/put` (16 MiB).
pub const DEFAULT_MAX_BLOB_SIZE: usize = 16 * 1024 * 1024;

/// Plugin settings (everything but the upstreams).
#[derive(Clone, Debug)]
pub struct PluginConfig {
    /// Directory of the plugin's store.
    pub datadir: PathBuf,
    /// Largest body accepted by `/put` (HTTP 413 above).
    pub max_blob_size: usize,
    /// How long a put waits for its certificate (HTTP 503 after).
    pub put_timeout: Duration,
    /// How long a get may spend on DA retrieval (HTTP 503 after).
    pub get_timeout: Duration,
    /// Bytes of recent payloads kept for gets without retrieval.
    pub cache_bytes: u64,
    /// Check on read that a generic commitment's certificate is anchored on chain
    /// (`commitmentExists`). Disable only when the commitments come from a trusted
    /// batcher.
    pub verify_on_read: bool,
    /// Reject put bodies that are not OP derivation data (version 0 frames) with 400.
    pub strict_frames: bool,
    /// The HTTP server's limits (hosts, concurrency, time per request).
    pub http: zg_node_kit::HttpLimits,
    /// Prove anchors (a storage proof against a finalized header whose finality
    /// certificate verified) instead of asking the chain endpoint `commitmentExists`.
    pub verify: Option<zg_da_client::VerifyConfig>,
    /// Archives (`zg-archiver` base URLs) read, in order, when the DA nodes cannot serve
    /// a payload (pruned after the DA window, or down). Their bytes are accepted only if
    /// they re-derive the certificate's data_root.
    pub archives: Vec<String>,
    /// Time per archive read.
    pub archive_timeout: Duration,
    /// Keccak-mode mappings shared with other replicas through a zg-storage KV stream.
    pub replicas: Option<crate::replicas::ReplicaConfig>,
}

impl PluginConfig {
    /// Defaults for everything but the directory.
    pub fn new(datadir: PathBuf) -> Self {
        Self {
            datadir,
            max_blob_size: DEFAULT_MAX_BLOB_SIZE,
            put_timeout: Duration::from_secs(120),
            get_timeout: Duration::from_secs(60),
            cache_bytes: 512 * 1024 * 1024,
            verify_on_read: true,
            strict_frames: false,
            http: zg_node_kit::HttpLimits::default(),
            verify: None,
            archives: Vec::new(),
            archive_timeout: Duration::from_secs(30),
            replicas: None,
        }
    }
}

/// A bounded set remembering the most recent insertions.
struct RecentSet<T> {
    set: HashSet<T>,
    order: VecDeque<T>,
    capacity: usize,
}

impl<T: Hash + Eq + Copy> RecentSet<T> {
    fn new(capacity: usize) -> Self {
        Self {
            set: HashSet::new(),
            order: VecDeque::new(),
            capacity,
        }
    }

    /// Inserts; true when it was not present.
    fn insert(&mut self, v: T) -> bool {
        if !self.set.insert(v) {
            return false;
        }
        self.order.push_back(v);
        if self.order.len() > self.capacity
            && let Some(old) = self.order.pop_front()
        {
            self.set.remove(&old);
        }
        true
    }

    fn contains(&self, v: &T) -> bool {
        self.set.contains(v)
    }
}

/// Where a get's bytes came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// The plugin's payload cache.
    Cache,
    /// DA retrieval of the systematic columns (no decoding).
    Systematic,
    /// DA retrieval with erasure recovery.
    Recovered,
    /// An archive (after the DA nodes could not serve), checked against the data_root.
    Archive,
}

impl Source {
    /// Label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Cache => "cache",
            Self::Systematic => "systematic",
            Self::Recovered => "recovered",
            Self::Archive => "archive",
        }
    }
}

/// The plugin core. Cheap to clone.
#[derive(Clone)]
pub struct Plugin {
    inner: Arc<Inner>,
}

struct Inner {
    config: PluginConfig,
    store: PluginStore,
    dispersal: Arc<dyn Disperse>,
    retriever: Retriever,
    chain: ChainClient,
    /// The verifying reader, when anchors are proved rather than asked for.
    light: Option<zg_da_client::LightChain>,
    health: Health,
    metrics: Arc<PluginMetrics>,
    anchored: Mutex<RecentSet<Certificate>>,
    channels: Mutex<RecentSet<ChannelId>>,
    http: reqwest::Client,
    shared: Option<crate::replicas::SharedMappings>,
}

impl std::fmt::Debug for Plugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugin")
            .field("config", &self.inner.config)
            .field("store", &self.inner.store)
            .finish()
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, PluginError> + Send + 'static,
) -> Result<T, PluginError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| PluginError::Internal(format!("store task: {e}")))?
}

impl Plugin {
    /// Assembles the core; fails only on verification settings that cannot work.
    pub fn new(
        config: PluginConfig,
        store: PluginStore,
        dispersal: Arc<dyn Disperse>,
        retriever: Retriever,
        chain: ChainClient,
        health: Health,
    ) -> Result<Self, PluginError> {
        let light = match &config.verify {
            Some(v) => Some(
                v.connect(chain.chain_id(), chain.rpc_url())
                    .map_err(|e| PluginError::Internal(e.to_string()))?,
            ),
            None => None,
        };
        let shared = config
            .replicas
            .clone()
            .map(crate::replicas::SharedMappings::new)
            .transpose()?;
        let metrics = PluginMetrics::new();
        let (bytes, entries) = store.cache_usage();
        metrics.cache_bytes.set(bytes as i64);
        metrics.cache_entries.set(entries as i64);
        Ok(Self {
            inner: Arc::new(Inner {
                config,
                store,
                dispersal,
                retriever,
                chain,
                light,
                health,
                metrics,
                anchored: Mutex::new(RecentSet::new(1 << 16)),
                channels: Mutex::new(RecentSet::new(4096)),
                http: reqwest::Client::new(),
                shared,
            }),
        })
    }

    /// The verifying reader's newest verified header and the endpoints it caught lying
    /// (`None` when the chain endpoint is trusted).
    pub fn verification(&self) -> Option<serde_json::Value> {
        self.inner
            .light
            .as_ref()
            .map(zg_da_client::LightChain::status)
    }

    /// Whether `cert` is anchored in the newest final state: proved against a certified
    /// finalized header when verifying, else the chain endpoint's `commitmentExists` in
    /// the block final by the chain's rule (`--chain.finality`), read pinned by hash.
    async fn is_anchored(&self, cert: &Certificate) -> Result<bool, PluginError> {
        let Some(light) = &self.inner.light else {
            return self
                .inner
                .chain
                .commitment_final(cert)
                .await
                .map_err(|e| PluginError::Unavailable(format!("chain: {e}")));
        };
        let layout = self
            .inner
            .config
            .verify
            .as_ref()
            .map_or(zg_da_client::AnchorLayout::Precompile, |v| v.layout);
        let at = light
            .finalized()
            .await
            .map_err(|e| PluginError::Unavailable(format!("chain: {e}")))?;
        let anchored = light
            .anchored_at(
                &at,
                self.inner.chain.modules().entrance,
                layout,
                &cert.data_root,
                cert.epoch,
                cert.quorum_id,
            )
            .await
            .map_err(|e| PluginError::Unavailable(format!("chain: {e}")))?;
        Ok(anchored.is_some())
    }

    /// Settings.
    pub fn config(&self) -> &PluginConfig {
        &self.inner.config
    }

    /// Metrics.
    pub fn metrics(&self) -> &Arc<PluginMetrics> {
        &self.inner.metrics
    }

    /// The chain client.
    pub fn chain(&self) -> &ChainClient {
        &self.inner.chain
    }

    /// The store.
    pub fn store(&self) -> &PluginStore {
        &self.inner.store
    }

    /// Green until one of the plugin's background tasks failed.
    pub fn health(&self) -> &Health {
        &self.inner.health
    }

    /// Looks at a put body as derivation data: counts frames and channels; in strict
    /// mode a body that is not derivation data is refused.
    fn observe_frames(&self, body: &[u8]) -> Result<(), PluginError> {
        let m = &self.inner.metrics;
        match parse_frames(body) {
            Ok(frames) => {
                m.bodies
                    .get_or_create(&vec![("kind", "frames".into())])
                    .inc();
                let mut channels = self.inner.channels.lock();
                for f in &frames {
                    m.frames.inc();
                    m.frame_bytes.inc_by(f.data.len() as u64);
                    if channels.insert(f.channel_id) {
                        m.channels.inc();
                    }
                    if f.is_last {
                        m.channels_closed.inc();
                    }
                }
                Ok(())
            }
            Err(e) => {
                m.bodies
                    .get_or_create(&vec![("kind", "other".into())])
                    .inc();
                if self.inner.config.strict_frames {
                    Err(PluginError::BadRequest(format!(
                        "not OP derivation data (strict mode): {e}"
                    )))
                } else {
                    Ok(())
                }
            }
        }
    }

    /// Certifies `body`. With `expected` (keccak mode) the body must hash to it. The
    /// same body again returns the same certificate without a second dispersal.
    pub async fn put(
        &self,
        body: Bytes,
        expected: Option<B256>,
    ) -> Result<Certificate, PluginError> {
        let span = tracing::info_span!(
            target: zg_node_kit::TRACE_TARGET,
            "op-plugin.put",
            bytes = body.len(),
            mode = if expected.is_some() { "keccak" } else { "generic" },
            data_root = tracing::field::Empty,
            epoch = tracing::field::Empty,
            quorum = tracing::field::Empty,
            put_ms = tracing::field::Empty,
        );
        let started = Instant::now();
        let result = self
            .put_inner(body, expected)
            .instrument(span.clone())
            .await;
        span.record("put_ms", started.elapsed().as_millis() as u64);
        if let Ok((c, _)) = &result {
            span.record("data_root", tracing::field::display(c.data_root));
            span.record("epoch", c.epoch);
            span.record("quorum", c.quorum_id);
        }
        let label = match &result {
            Ok((_, true)) => "duplicate",
            Ok((_, false)) => "dispersed",
            Err(PluginError::BadRequest(_) | PluginError::TooLarge(_)) => "refused",
            Err(PluginError::BadCertificate(_)) => "bad_certificate",
            Err(_) => "failed",
        };
        let m = &self.inner.metrics;
        m.puts.get_or_create(&zg_node_kit::result(label)).inc();
        result.map(|(c, _)| c)
    }

    async fn put_inner(
        &self,
        body: Bytes,
        expected: Option<B256>,
    ) -> Result<(Certificate, bool), PluginError> {
        if body.is_empty() {
            return Err(PluginError::BadRequest("empty body".into()));
        }
        let max = self.inner.config.max_blob_size;
        if body.len() > max {
            return Err(PluginError::TooLarge(format!(
                "body of {} bytes exceeds the maximum of {max} bytes",
                body.len()
            )));
        }
        let key = keccak256(&body);
        if let Some(h) = expected
            && h != key
        {
            return Err(PluginError::BadRequest(format!(
                "keccak256 of the body is {key}, the commitment says {h}"
            )));
        }
        self.observe_frames(&body)?;
        let store = self.inner.store.clone();
        if let Some(cert) = blocking(move || Ok(store.put_of(&key)?)).await? {
            // A retried keccak put whose shared write failed the first time writes it now.
            if expected.is_some()
                && let Some(shared) = &self.inner.shared
                && shared.get(&key).await? != Some(cert)
            {
                shared.put(&key, &cert).await?;
            }
            return Ok((cert, true));
        }
        let deadline = Instant::now() + self.inner.config.put_timeout;
        let cert = self
            .inner
            .dispersal
            .disperse(alloy_primitives::Bytes::from(body.clone()), deadline)
            .await?;
        self.verify_certificate(&cert, &body).await?;
        let store = self.inner.store.clone();
        blocking(move || {
            store.record_put(&key, &cert)?;
            store.cache(&cert, &body)?;
            Ok(())
        })
        .await?;
        self.inner.anchored.lock().insert(cert);
        self.update_cache_gauges();
        if expected.is_some()
            && let Some(shared) = &self.inner.shared
        {
            shared.put(&key, &cert).await?;
        }
        tracing::info!(target: "zg_op_plugin", keccak = %key, epoch = cert.epoch, quorum = cert.quorum_id, data_root = %cert.data_root, "certified");
        Ok((cert, false))
    }

    fn update_cache_gauges(&self) {
        let (bytes, entries) = self.inner.store.cache_usage();
        self.inner.metrics.cache_bytes.set(bytes as i64);
        self.inner.metrics.cache_entries.set(entries as i64);
    }

    /// The bytes behind a commitment, verified.
    pub async fn get(&self, commitment: AltDaCommitment) -> Result<(Vec<u8>, Source), PluginError> {
        let result = self.get_inner(commitment).await;
        let label = match &result {
            Ok((_, s)) => s.as_str(),
            Err(PluginError::NotFound(_)) => "not_found",
            Err(_) => "failed",
        };
        let m = &self.inner.metrics;
        m.gets.get_or_create(&zg_node_kit::result(label)).inc();
        result
    }

    async fn get_inner(
        &self,
        commitment: AltDaCommitment,
    ) -> Result<(Vec<u8>, Source), PluginError> {
        let store = self.inner.store.clone();
        // A mapping read from the shared stream is remembered locally only once the
        // payload it points to hashed to the commitment.
        let mut shared_mapping = false;
        let (cert, keccak) = match commitment {
            AltDaCommitment::Generic(c) => (c, None),
            AltDaCommitment::Keccak(h) => {
                let local = blocking(move || Ok(store.put_of(&h)?)).await?;
                let cert = match (local, &self.inner.shared) {
                    (Some(c), _) => Some(c),
                    (None, Some(shared)) => {
                        let c = shared.get(&h).await?;
                        shared_mapping = c.is_some();
                        c
                    }
                    (None, None) => None,
                };
                let cert = cert.ok_or_else(|| {
                    PluginError::NotFound(format!("no data was put under keccak256 {h}"))
                })?;
                (cert, Some(h))
            }
        };
        let remember = |store: PluginStore| async move {
            if let (true, Some(h)) = (shared_mapping, keccak) {
                blocking(move || Ok(store.record_put(&h, &cert)?)).await?;
            }
            Ok::<(), PluginError>(())
        };
        let check = |payload: &[u8]| -> Result<(), PluginError> {
            match keccak {
                Some(h) if keccak256(payload) != h => Err(PluginError::Internal(format!(
                    "payload of {} does not hash to the keccak commitment {h}",
                    cert.data_root
                ))),
                _ => Ok(()),
            }
        };
        let store = self.inner.store.clone();
        if let Some(payload) = blocking(move || Ok(store.cached(&cert)?)).await? {
            check(&payload)?;
            remember(self.inner.store.clone()).await?;
            return Ok((payload, Source::Cache));
        }
        if self.inner.config.verify_on_read && keccak.is_none() {
            self.check_anchored(&cert).await?;
        }
        let retrieved = tokio::time::timeout(
            self.inner.config.get_timeout,
            self.inner.retriever.retrieve(&cert),
        )
        .await
        .map_err(|_| {
            PluginError::Unavailable(format!(
                "retrieval of {} did not finish within {:?}",
                cert.data_root, self.inner.config.get_timeout
            ))
        })
        .and_then(|r| r.map_err(PluginError::from));
        let (payload, source) = match retrieved {
            Ok(r) => {
                let source = if r.recovered {
                    Source::Recovered
                } else {
                    Source::Systematic
                };
                (r.payload, source)
            }
            Err(e) if self.inner.config.archives.is_empty() => return Err(e),
            Err(e) => {
                tracing::info!(target: "zg_op_plugin", data_root = %cert.data_root, error = %e, "the DA nodes cannot serve; reading the archives");
                (self.read_archives(&cert, e).await?, Source::Archive)
            }
        };
        check(&payload)?;
        remember(self.inner.store.clone()).await?;
        let store = self.inner.store.clone();
        let cached = payload.clone();
        blocking(move || Ok(store.cache(&cert, &cached)?)).await?;
        self.update_cache_gauges();
        Ok((payload, source))
    }

    /// Reads `cert`'s payload from the configured archives in order, accepting the first
    /// whose bytes re-derive the certificate's data_root (the blobs' KZG commitments
    /// recomputed). An archive that serves other bytes is reported and skipped. When none
    /// can serve, the DA error `da` is returned with each archive's reason (503).
    async fn read_archives(
        &self,
        cert: &Certificate,
        da: PluginError,
    ) -> Result<Vec<u8>, PluginError> {
        let m = &self.inner.metrics;
        let mut reasons = Vec::new();
        for base in &self.inner.config.archives {
            let url = format!(
                "{}/v1/payloads/{}",
                base.trim_end_matches('/'),
                cert.data_root
            );
            let read =
                tokio::time::timeout(self.inner.config.archive_timeout, self.read_archive(&url))
                    .await
                    .unwrap_or_else(|_| {
                        Err(format!(
                            "no answer within {:?}",
                            self.inner.config.archive_timeout
                        ))
                    });
            let bytes = match read {
                Ok(b) => b,
                Err(e) => {
                    m.archive_reads
                        .get_or_create(&zg_node_kit::result("failed"))
                        .inc();
                    tracing::warn!(target: "zg_op_plugin", archive = %base, data_root = %cert.data_root, error = %e, "archive read failed");
                    reasons.push(format!("{base}: {e}"));
                    continue;
                }
            };
            let payload = bytes.clone();
            let root = tokio::task::spawn_blocking(move || {
                zg_primitives::payload_data_root(zg_primitives::Kzg::mainnet(), &payload)
            })
            .await
            .map_err(|e| PluginError::Internal(format!("data_root task: {e}")))?;
            match root {
                Ok(r) if r == cert.data_root => {
                    m.archive_reads
                        .get_or_create(&zg_node_kit::result("ok"))
                        .inc();
                    return Ok(bytes);
                }
                other => {
                    let got = match other {
                        Ok(r) => format!("data_root {r}"),
                        Err(e) => format!("no valid payload ({e})"),
                    };
                    m.archive_reads
                        .get_or_create(&zg_node_kit::result("refused"))
                        .inc();
                    tracing::warn!(target: "zg_op_plugin", archive = %base, expected = %cert.data_root, %got, "an archive served bytes that do not re-derive the certificate's data_root; skipped");
                    reasons.push(format!(
                        "{base}: served {} bytes with {got}, not {}; refused",
                        bytes.len(),
                        cert.data_root
                    ));
                }
            }
        }
        Err(PluginError::Unavailable(format!(
            "{da}; archives: {}",
            reasons.join("; ")
        )))
    }

    /// One archive read, bounded by the largest payload.
    async fn read_archive(&self, url: &str) -> Result<Vec<u8>, String> {
        let max = self.inner.config.max_blob_size;
        let mut resp = self
            .inner
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = resp.status();
        if !status.is_success() {
            return Err(format!("HTTP {status}"));
        }
        if resp.content_length().is_some_and(|l| l > max as u64) {
            return Err(format!("a body over {max} bytes"));
        }
        let mut out = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| e.to_string())? {
            if out.len() + chunk.len() > max {
                return Err(format!("a body over {max} bytes"));
            }
            out.extend_from_slice(&chunk);
        }
        Ok(out)
    }

    /// A certificate the disperser handed over is checked before it is cached or
    /// returned: it names the body's data_root (recomputed from the blobs' KZG
    /// commitments) and it is anchored on chain.
    async fn verify_certificate(
        &self,
        cert: &Certificate,
        body: &Bytes,
    ) -> Result<(), PluginError> {
        let payload = body.clone();
        let root = tokio::task::spawn_blocking(move || {
            zg_primitives::payload_data_root(zg_primitives::Kzg::mainnet(), &payload)
        })
        .await
        .map_err(|e| PluginError::Internal(format!("data_root task: {e}")))?
        .map_err(|e| PluginError::Internal(format!("computing the data_root: {e}")))?;
        if root != cert.data_root {
            tracing::warn!(target: "zg_op_plugin", claimed = %cert.data_root, actual = %root, "the disperser's certificate is for other data");
            return Err(PluginError::BadCertificate(format!(
                "the disperser's certificate names data_root {}, the body's is {root}; not accepted",
                cert.data_root
            )));
        }
        // The disperser answers once the anchor is final by its rule; a stricter rule
        // here waits for the rest, up to the put's deadline.
        let deadline = Instant::now() + self.inner.config.put_timeout;
        let mut anchored = self.is_anchored(cert).await;
        while matches!(anchored, Ok(false)) && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(200)).await;
            anchored = self.is_anchored(cert).await;
        }
        match anchored {
            Ok(true) => Ok(()),
            Ok(false) => {
                tracing::warn!(target: "zg_op_plugin", data_root = %cert.data_root, epoch = cert.epoch, quorum = cert.quorum_id, "the disperser's certificate is not anchored");
                Err(PluginError::BadCertificate(format!(
                    "the disperser's certificate for {} (epoch {}, quorum {}) is not anchored on chain; not accepted",
                    cert.data_root, cert.epoch, cert.quorum_id
                )))
            }
            Err(e) => Err(e),
        }
    }

    /// Verify on read: the certificate is anchored on chain. Positive answers are
    /// remembered (anchors are final on the bundled chain, and a proved anchor is in a
    /// finalized state).
    /// Whether `cert` is anchored, remembering the answer only once it is final (a
    /// final anchor stays; one not final yet, or absent, is asked again next time).
    async fn check_anchored(&self, cert: &Certificate) -> Result<(), PluginError> {
        if self.inner.anchored.lock().contains(cert) {
            return Ok(());
        }
        if self.is_anchored(cert).await? {
            self.inner.anchored.lock().insert(*cert);
            Ok(())
        } else {
            Err(PluginError::NotFound(format!(
                "no anchored commitment for data_root {} in epoch {} quorum {}",
                cert.data_root, cert.epoch, cert.quorum_id
            )))
        }
    }

    /// Flushes the store (at shutdown).
    pub fn flush(&self) -> Result<(), PluginError> {
        Ok(self.inner.store.flush()?)
    }
}
