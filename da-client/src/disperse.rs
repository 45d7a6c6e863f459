//! The one interface through which a client gets certificates: [`Disperse`]. The
//! disperser's HTTP API ([`RemoteDisperser`]) and a disperser running in the same
//! process both implement it, with the same API types ([`BlobRecord`], [`BlobStatus`])
//! and one failure classification ([`FailureKind`]) that says how the caller should
//! react and which HTTP status stands for it.

use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

use alloy::transports::http::reqwest;
use alloy_primitives::{B256, Bytes, U256};
use serde::{Deserialize, Serialize};
use zg_primitives::abi::IDAEntrance::CommitRootSubmission;
use zg_primitives::{AltDaCommitment, Certificate};

/// A boxed, sendable future (the trait is object-safe: callers hold `Arc<dyn Disperse>`).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A source of certificates.
pub trait Disperse: Send + Sync + std::fmt::Debug {
    /// Certifies `payload`, waiting until `deadline` for its anchored certificate. The
    /// same payload maps to the same request, so concurrent or repeated calls with one
    /// body share one dispersal.
    fn disperse(
        &self,
        payload: Bytes,
        deadline: Instant,
    ) -> BoxFuture<'_, Result<Certificate, DisperseFailure>>;

    /// The record of request `id` (`keccak256(payload)`), if the source knows it.
    fn status(&self, id: B256) -> BoxFuture<'_, Result<Option<BlobRecord>, DisperseFailure>>;
}

/// How a caller should react to a failed dispersal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// The DA layer cannot certify right now (no quorum reached its threshold, the chain
    /// or the disperser is unreachable, the wait ran out): retry later or fail over.
    RetryLater,
    /// The payload itself is refused (empty, malformed): never retry it as is.
    InvalidInput,
    /// The payload is over the size limit.
    TooLarge,
    /// A fault of the disperser or its configuration: retrying the same source will not
    /// help until an operator acts.
    CannotCertify,
}

impl FailureKind {
    /// The HTTP status that stands for this kind (503, 400, 413, 500).
    pub fn http_status(self) -> u16 {
        match self {
            Self::RetryLater => 503,
            Self::InvalidInput => 400,
            Self::TooLarge => 413,
            Self::CannotCertify => 500,
        }
    }
}

/// A dispersal that did not produce a certificate.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct DisperseFailure {
    /// How to react.
    pub kind: FailureKind,
    /// What happened.
    pub message: String,
}

impl DisperseFailure {
    /// A failure of `kind`.
    pub fn new(kind: FailureKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }

    /// [`FailureKind::RetryLater`].
    pub fn retry_later(message: impl Into<String>) -> Self {
        Self::new(FailureKind::RetryLater, message)
    }

    /// [`FailureKind::CannotCertify`].
    pub fn cannot_certify(message: impl Into<String>) -> Self {
        Self::new(FailureKind::CannotCertify, message)
    }
}

/// Where a request is in the pipeline.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BlobStatus {
    /// Journaled, waiting for a worker.
    Queued,
    /// Being erasure-coded.
    Encoding,
    /// Columns are being sent to a quorum.
    Dispersing,
    /// Signatures aggregated; the anchoring transaction is pending.
    Anchoring,
    /// Anchored on chain; the certificate is final.
    Confirmed,
    /// Gave up; see `reason` and `failure`.
    Failed,
}

impl BlobStatus {
    /// Whether the request is finished.
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Confirmed | Self::Failed)
    }
}

/// A signed submission waiting to be anchored (persisted so a restart goes straight to
/// anchoring).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingAnchor {
    /// Epoch.
    pub epoch: u64,
    /// Quorum.
    pub quorum_id: u64,
    /// Blobs.
    pub blob_count: u32,
    /// Signer bitmap over the ordered quorum.
    pub signers_bitmap: Bytes,
    /// Aggregate BLS signature.
    pub aggregate_signature: Bytes,
}

/// A request's record: the disperser's journal entry and the API's status document.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobRecord {
    /// Request id: `keccak256(payload)`.
    pub id: B256,
    /// Pipeline status.
    pub status: BlobStatus,
    /// Payload size in bytes.
    pub size: u64,
    /// Unix milliseconds when accepted.
    pub created_at_ms: u64,
    /// Unix milliseconds of the last change.
    pub updated_at_ms: u64,
    /// The payload's data_root, once encoded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_root: Option<B256>,
    /// Number of blobs, once encoded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blob_count: Option<u32>,
    /// Signatures gathered / needed, once dispersed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signers: Option<(usize, usize)>,
    /// The submission being anchored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_anchor: Option<PendingAnchor>,
    /// The certificate, once anchored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate: Option<Certificate>,
    /// The OP alt-DA generic commitment of the certificate, hex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commitment: Option<String>,
    /// The anchoring transaction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tx_hash: Option<B256>,
    /// Why it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// How to react to the failure (`retry_later`: no quorum reached its threshold or
    /// the chain did not anchor, worth a later retry or a failover, never bad input).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<FailureKind>,
}

impl BlobRecord {
    /// A freshly accepted request.
    pub fn new(id: B256, size: u64, now_ms: u64) -> Self {
        Self {
            id,
            status: BlobStatus::Queued,
            size,
            created_at_ms: now_ms,
            updated_at_ms: now_ms,
            data_root: None,
            blob_count: None,
            signers: None,
            pending_anchor: None,
            certificate: None,
            commitment: None,
            tx_hash: None,
            reason: None,
            failure: None,
        }
    }

    /// Marks the record confirmed with `cert`.
    pub fn confirm(&mut self, cert: Certificate, tx_hash: Option<B256>) {
        self.status = BlobStatus::Confirmed;
        self.certificate = Some(cert);
        self.commitment = Some(zg_primitives::to_hex(
            &AltDaCommitment::Generic(cert).to_bytes(),
        ));
        self.tx_hash = tx_hash;
        self.pending_anchor = None;
        self.reason = None;
        self.failure = None;
    }

    /// Marks the record failed.
    pub fn fail(&mut self, failure: &DisperseFailure) {
        self.status = BlobStatus::Failed;
        self.reason = Some(failure.message.clone());
        self.failure = Some(failure.kind);
    }

    /// The chain submission of a pending anchor.
    pub fn submission(&self) -> Option<CommitRootSubmission> {
        let p = self.pending_anchor.as_ref()?;
        Some(CommitRootSubmission {
            dataRoot: self.data_root?,
            epoch: U256::from(p.epoch),
            quorumId: U256::from(p.quorum_id),
            blobCount: U256::from(p.blob_count),
            signersBitmap: p.signers_bitmap.clone(),
            aggregateSignature: p.aggregate_signature.clone(),
        })
    }

    /// The certificate of a finished request, or why there is none (a request still in
    /// the pipeline was not certified in time: retry later).
    pub fn outcome(self) -> Result<Certificate, DisperseFailure> {
        match self.status {
            BlobStatus::Confirmed => self.certificate.ok_or_else(|| {
                DisperseFailure::cannot_certify(format!(
                    "request {} confirmed without a certificate",
                    self.id
                ))
            }),
            BlobStatus::Failed => Err(DisperseFailure::new(
                self.failure.unwrap_or(FailureKind::CannotCertify),
                self.reason.unwrap_or_else(|| "dispersal failed".into()),
            )),
            status => Err(DisperseFailure::retry_later(format!(
                "not certified within the put timeout (request {} is {status:?})",
                self.id
            ))),
        }
    }
}

/// How often a remote request's status is polled after the disperser's own wait ended.
const POLL_INTERVAL: Duration = Duration::from_millis(200);

/// How long a status look-up may take.
const STATUS_TIMEOUT: Duration = Duration::from_secs(30);

/// The time left until `deadline`, or the timeout failure.
pub fn remaining(deadline: Instant) -> Result<Duration, DisperseFailure> {
    deadline
        .checked_duration_since(Instant::now())
        .filter(|d| !d.is_zero())
        .ok_or_else(|| DisperseFailure::retry_later("not certified within the put timeout"))
}

/// A disperser reached over its HTTP API (`POST /v1/blobs?wait=true`, then
/// `GET /v1/blobs/{id}` until the request is finished or the deadline passes).
#[derive(Clone, Debug)]
pub struct RemoteDisperser {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
}

impl RemoteDisperser {
    /// A client of the disperser API at `base` (e.g. `http://127.0.0.1:51001`), with an
    /// optional bearer token.
    pub fn new(base: impl Into<String>, token: Option<String>) -> Self {
        Self {
            http: reqwest::Client::new(),
            base: base.into().trim_end_matches('/').to_string(),
            token,
        }
    }

    fn request(&self, r: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.token {
            Some(t) => r.bearer_auth(t),
            None => r,
        }
    }

    async fn get(&self, id: B256, deadline: Instant) -> Result<BlobRecord, DisperseFailure> {
        let sent = self
            .request(self.http.get(format!("{}/v1/blobs/{id}", self.base)))
            .timeout(remaining(deadline)?)
            .send()
            .await;
        self.record(sent).await
    }

    async fn put(&self, payload: Bytes, deadline: Instant) -> Result<Certificate, DisperseFailure> {
        let mut post = self
            .request(self.http.post(format!("{}/v1/blobs?wait=true", self.base)))
            .header(reqwest::header::CONTENT_TYPE, "application/octet-stream");
        // The disperser's spans of this request join the caller's trace.
        if let Some(tp) = zg_node_kit::traceparent() {
            post = post.header("traceparent", tp);
        }
        let sent = post
            .body(payload.0)
            .timeout(remaining(deadline)?)
            .send()
            .await;
        let mut record = self.record(sent).await?;
        while !record.status.is_terminal() {
            tokio::time::sleep(POLL_INTERVAL.min(remaining(deadline)?)).await;
            record = self.get(record.id, deadline).await?;
        }
        record.outcome()
    }

    /// A blob record from a disperser answer, or the failure it stands for.
    async fn record(
        &self,
        sent: Result<reqwest::Response, reqwest::Error>,
    ) -> Result<BlobRecord, DisperseFailure> {
        let resp = sent.map_err(|e| {
            if e.is_timeout() {
                DisperseFailure::retry_later("not certified within the put timeout")
            } else {
                DisperseFailure::retry_later(format!("disperser unreachable: {e}"))
            }
        })?;
        let status = resp.status().as_u16();
        let body = resp
            .bytes()
            .await
            .map_err(|e| DisperseFailure::retry_later(format!("disperser answer cut: {e}")))?;
        if (matches!(status, 200 | 202) || (status >= 500 && status != 503))
            && let Ok(record) = serde_json::from_slice::<BlobRecord>(&body)
        {
            return Ok(record);
        }
        let message = message_of(&body);
        Err(match status {
            400 => DisperseFailure::new(FailureKind::InvalidInput, format!("disperser: {message}")),
            413 => DisperseFailure::new(FailureKind::TooLarge, format!("disperser: {message}")),
            429 | 503 => DisperseFailure::retry_later(format!("disperser: {message}")),
            401 | 403 => DisperseFailure::cannot_certify(format!(
                "disperser refused our credentials: {message}"
            )),
            _ => DisperseFailure::cannot_certify(format!("disperser answered {status}: {message}")),
        })
    }
}

impl Disperse for RemoteDisperser {
    fn disperse(
        &self,
        payload: Bytes,
        deadline: Instant,
    ) -> BoxFuture<'_, Result<Certificate, DisperseFailure>> {
        Box::pin(self.put(payload, deadline))
    }

    fn status(&self, id: B256) -> BoxFuture<'_, Result<Option<BlobRecord>, DisperseFailure>> {
        Box::pin(async move {
            let sent = self
                .request(self.http.get(format!("{}/v1/blobs/{id}", self.base)))
                .timeout(STATUS_TIMEOUT)
                .send()
                .await;
            if let Ok(r) = &sent
                && r.status() == reqwest::StatusCode::NOT_FOUND
            {
                return Ok(None);
            }
            self.record(sent).await.map(Some)
        })
    }
}

/// The `message` (or `reason`) of a JSON error body, else the body as text.
fn message_of(body: &[u8]) -> String {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            v.get("message")
                .or_else(|| v.get("reason"))
                .and_then(|m| m.as_str())
                .map(str::to_string)
        })
        .unwrap_or_else(|| String::from_utf8_lossy(body).chars().take(512).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_map_to_one_status_each() {
        assert_eq!(FailureKind::RetryLater.http_status(), 503);
        assert_eq!(FailureKind::InvalidInput.http_status(), 400);
        assert_eq!(FailureKind::TooLarge.http_status(), 413);
        assert_eq!(FailureKind::CannotCertify.http_status(), 500);
    }

    #[test]
    fn record_json_carries_the_failure_kind() {
        let mut r = BlobRecord::new(B256::repeat_byte(1), 10, 5);
        r.fail(&DisperseFailure::retry_later("no quorum"));
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["status"], "failed");
        assert_eq!(v["failure"], "retry_later");
        assert_eq!(v["reason"], "no quorum");
        let back: BlobRecord = serde_json::from_value(v).unwrap();
        assert_eq!(back, r);
        let out = back.outcome().unwrap_err();
        assert_eq!(out.kind, FailureKind::RetryLater);
        // A record still in the pipeline at the deadline is a timeout: retry later.
        let pending = BlobRecord::new(B256::ZERO, 1, 0);
        assert_eq!(pending.outcome().unwrap_err().kind, FailureKind::RetryLater);
    }
}
