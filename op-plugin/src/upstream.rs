//! Where certificates come from: a disperser in this process or one reached over its
//! HTTP API. Either way the same payload maps to the same request (the disperser keys
//! requests by `keccak256(payload)`), so concurrent or repeated puts of one body share
//! one dispersal.

use std::time::{Duration, Instant};

use alloy::transports::http::reqwest;
use axum::body::Bytes;
use zg_da_server::{BlobRecord, BlobStatus, DisperseError, Disperser};
use zg_primitives::{Certificate, CodecError};

use crate::error::PluginError;

/// How often a remote request's status is polled after the disperser's own wait ended.
const POLL_INTERVAL: Duration = Duration::from_millis(200);

/// A disperser reached over HTTP.
#[derive(Clone, Debug)]
pub struct RemoteDisperser {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
}

impl RemoteDisperser {
    /// A client of the disperser API at `base` (e.g. `http://127.0.0.1:3200`), with an
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

    async fn disperse(
        &self,
        payload: Bytes,
        deadline: Instant,
    ) -> Result<Certificate, PluginError> {
        let sent = self
            .request(self.http.post(format!("{}/v1/blobs?wait=true", self.base)))
            .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
            .body(payload)
            .timeout(remaining(deadline)?)
            .send()
            .await;
        let mut record = self.record(sent).await?;
        while !record.status.is_terminal() {
            tokio::time::sleep(POLL_INTERVAL.min(remaining(deadline)?)).await;
            let sent = self
                .request(
                    self.http
                        .get(format!("{}/v1/blobs/{}", self.base, record.id)),
                )
                .timeout(remaining(deadline)?)
                .send()
                .await;
            record = self.record(sent).await?;
        }
        outcome(record)
    }

    /// A blob record from a disperser answer, or the error it stands for.
    async fn record(
        &self,
        sent: Result<reqwest::Response, reqwest::Error>,
    ) -> Result<BlobRecord, PluginError> {
        let resp = sent.map_err(|e| {
            if e.is_timeout() {
                PluginError::Unavailable("not certified within the put timeout".into())
            } else {
                PluginError::Unavailable(format!("disperser unreachable: {e}"))
            }
        })?;
        let status = resp.status().as_u16();
        let body = resp
            .bytes()
            .await
            .map_err(|e| PluginError::Unavailable(format!("disperser answer cut: {e}")))?;
        if (matches!(status, 200 | 202) || (status >= 500 && status != 503))
            && let Ok(record) = serde_json::from_slice::<BlobRecord>(&body)
        {
            return Ok(record);
        }
        let message = message_of(&body);
        Err(match status {
            400 => PluginError::BadRequest(format!("disperser: {message}")),
            413 => PluginError::TooLarge(format!("disperser: {message}")),
            429 | 503 => PluginError::Unavailable(format!("disperser: {message}")),
            401 | 403 => {
                PluginError::Internal(format!("disperser refused our credentials: {message}"))
            }
            _ => PluginError::Internal(format!("disperser answered {status}: {message}")),
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

fn remaining(deadline: Instant) -> Result<Duration, PluginError> {
    deadline
        .checked_duration_since(Instant::now())
        .filter(|d| !d.is_zero())
        .ok_or_else(|| PluginError::Unavailable("not certified within the put timeout".into()))
}

/// The certificate of a finished request, or why there is none.
fn outcome(record: BlobRecord) -> Result<Certificate, PluginError> {
    match record.status {
        BlobStatus::Confirmed => record.certificate.ok_or_else(|| {
            PluginError::Internal(format!(
                "request {} confirmed without a certificate",
                record.id
            ))
        }),
        BlobStatus::Failed => {
            let reason = record.reason.unwrap_or_else(|| "dispersal failed".into());
            if record.unavailable || record.no_quorum {
                Err(PluginError::Unavailable(reason))
            } else {
                Err(PluginError::Internal(reason))
            }
        }
        status => Err(PluginError::Unavailable(format!(
            "not certified within the put timeout (request {} is {status:?})",
            record.id
        ))),
    }
}

/// The source of certificates.
#[derive(Clone, Debug)]
pub enum Dispersal {
    /// A disperser in this process.
    Embedded(Disperser),
    /// A disperser reached over HTTP.
    Remote(RemoteDisperser),
}

impl Dispersal {
    /// Certifies `payload`, waiting until `deadline`.
    pub async fn disperse(
        &self,
        payload: Bytes,
        deadline: Instant,
    ) -> Result<Certificate, PluginError> {
        match self {
            Self::Remote(r) => r.disperse(payload, deadline).await,
            Self::Embedded(d) => {
                match d.has_quorum().await {
                    Ok(true) => {}
                    Ok(false) => {
                        return Err(PluginError::Unavailable(
                            "no quorum is formed in the current epoch".into(),
                        ));
                    }
                    Err(e) => return Err(PluginError::Unavailable(e.to_string())),
                }
                let record = d.submit(payload.to_vec()).await.map_err(|e| match e {
                    DisperseError::Payload(CodecError::PayloadTooLarge { .. }) => {
                        PluginError::TooLarge(e.to_string())
                    }
                    DisperseError::Payload(_) => PluginError::BadRequest(e.to_string()),
                    DisperseError::Shutdown | DisperseError::Chain(_) => {
                        PluginError::Unavailable(e.to_string())
                    }
                    e => PluginError::Internal(e.to_string()),
                })?;
                let record = if record.status.is_terminal() {
                    record
                } else {
                    d.wait(record.id, remaining(deadline)?)
                        .await
                        .map_err(|e| PluginError::Internal(e.to_string()))?
                };
                outcome(record)
            }
        }
    }
}
