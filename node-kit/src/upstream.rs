//! A JSON-RPC client for an endpoint that is not trusted to be small, quick or honest:
//! it reads at most a fixed number of bytes of an answer and gives up after a fixed
//! time. What the answer says is for the caller to verify.

use std::time::Duration;

use alloy::transports::http::reqwest;

/// Why a call to an upstream failed, by how the caller should react.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// Unreachable, timed out or an HTTP failure: try again or another endpoint.
    #[error("{url}: {method}: {reason}")]
    Unavailable {
        /// The endpoint.
        url: String,
        /// The method called.
        method: String,
        /// Why.
        reason: String,
    },
    /// The endpoint answered with a JSON-RPC error.
    #[error("{url}: {method}: error {error}")]
    Refused {
        /// The endpoint.
        url: String,
        /// The method called.
        method: String,
        /// The error object.
        error: serde_json::Value,
    },
    /// The answer was too large or not what the method returns: the endpoint
    /// misbehaves.
    #[error("{url}: {method}: {reason}")]
    Malformed {
        /// The endpoint.
        url: String,
        /// The method called.
        method: String,
        /// Why.
        reason: String,
    },
}

/// One JSON-RPC endpoint, with a bound on each answer's size and time.
#[derive(Clone, Debug)]
pub struct Upstream {
    url: String,
    http: reqwest::Client,
    max_answer: usize,
}

impl Upstream {
    /// A client of `url` that reads at most `max_answer` bytes of an answer and waits
    /// at most `timeout` for one. Fails on a URL that does not parse.
    pub fn new(url: &str, max_answer: usize, timeout: Duration) -> Result<Self, String> {
        let _: reqwest::Url = url.parse().map_err(|e| format!("{url}: {e}"))?;
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Self {
            url: url.to_owned(),
            http,
            max_answer,
        })
    }

    /// The endpoint's URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Calls `method` with `params` and decodes the result as `T`.
    pub async fn call<T: serde::de::DeserializeOwned>(
        &self,
        method: &str,
        params: serde_json::Value,
    ) -> Result<T, UpstreamError> {
        let unavailable = |reason: String| UpstreamError::Unavailable {
            url: self.url.clone(),
            method: method.to_owned(),
            reason,
        };
        let malformed = |reason: String| UpstreamError::Malformed {
            url: self.url.clone(),
            method: method.to_owned(),
            reason,
        };
        let body =
            serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
        let mut resp = self
            .http
            .post(&self.url)
            .json(&body)
            .send()
            .await
            .map_err(|e| unavailable(e.to_string()))?;
        if !resp.status().is_success() {
            return Err(unavailable(format!("HTTP {}", resp.status())));
        }
        let mut buf = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| unavailable(e.to_string()))? {
            if buf.len() + chunk.len() > self.max_answer {
                return Err(malformed(format!("answer over {} bytes", self.max_answer)));
            }
            buf.extend_from_slice(&chunk);
        }
        let mut v: serde_json::Value =
            serde_json::from_slice(&buf).map_err(|e| malformed(e.to_string()))?;
        if let Some(error) = v.get_mut("error") {
            return Err(UpstreamError::Refused {
                url: self.url.clone(),
                method: method.to_owned(),
                error: error.take(),
            });
        }
        serde_json::from_value(v["result"].take()).map_err(|e| malformed(e.to_string()))
    }
}
