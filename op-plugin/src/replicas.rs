//! Keccak-mode mappings shared by op-plugin replicas through a KV stream of zg-storage
//! (0G's KV layer): a keccak put writes `keccak(body) → certificate` to the stream, and a
//! replica whose local map misses reads it from the KV node. The local RocksDB map
//! stays the first place looked, as a cache.
//!
//! Nothing read from the stream is trusted: the certificate only says where to
//! retrieve, and the payload retrieved is served only if it hashes to the commitment.

use std::time::{Duration, Instant};

use alloy::signers::local::PrivateKeySigner;
use alloy_primitives::B256;
use serde_json::json;
use zg_primitives::Certificate;
use zg_storage::kv::{StreamData, ValueSegment, Write};
use zg_storage::types::to_base64;
use zg_storage::{NodeClient, UploadOptions, Uploader};

use crate::error::PluginError;

/// Where the shared mappings live.
#[derive(Clone, Debug)]
pub struct ReplicaConfig {
    /// The KV stream id.
    pub stream: B256,
    /// The storage node that replays the stream (queried with `kv_getValue`, uploaded to).
    pub kv_url: String,
    /// The account writing mappings (paying the flow), `None` for a read-only replica.
    /// The stream's first writer becomes its admin; other writers need its grant.
    pub writer: Option<PrivateKeySigner>,
    /// Chain JSON-RPC for the flow submissions.
    pub chain_rpc: String,
    /// How long a write may take (submission, upload, replay).
    pub write_timeout: Duration,
}

/// The shared mapping store.
#[derive(Clone, Debug)]
pub struct SharedMappings {
    stream: B256,
    node: NodeClient,
    uploader: Option<Uploader>,
    write_timeout: Duration,
}

/// Writes at "the latest version": a blind write, no read set to conflict with.
const LATEST: u64 = u64::MAX;

impl SharedMappings {
    /// Connects to the KV node.
    pub fn new(config: ReplicaConfig) -> Result<Self, PluginError> {
        let bad = |e: String| PluginError::Internal(format!("replica KV stream: {e}"));
        let node = NodeClient::new(&config.kv_url).map_err(|e| bad(e.to_string()))?;
        let uploader = config
            .writer
            .map(|w| {
                Uploader::new(
                    vec![node.clone()],
                    &config.chain_rpc,
                    w,
                    zg_primitives::abi::FLOW_ADDRESS,
                )
            })
            .transpose()
            .map_err(|e| bad(e.to_string()))?;
        Ok(Self {
            stream: config.stream,
            node,
            uploader,
            write_timeout: config.write_timeout,
        })
    }

    /// Writes `keccak → cert` to the stream and waits until the KV node replayed it as
    /// committed.
    pub async fn put(&self, keccak: &B256, cert: &Certificate) -> Result<(), PluginError> {
        let Some(uploader) = &self.uploader else {
            return Ok(());
        };
        let fail = |e: String| PluginError::Unavailable(format!("replica KV stream: {e}"));
        let tx = StreamData {
            version: LATEST,
            writes: vec![Write {
                stream: self.stream,
                key: keccak.to_vec(),
                value: cert.to_bytes().to_vec(),
            }],
            ..StreamData::default()
        };
        let data = tx.encode().map_err(|e| fail(e.to_string()))?;
        let options = UploadOptions {
            tags: tx.tags(),
            timeout: self.write_timeout,
            ..UploadOptions::default()
        };
        let deadline = Instant::now() + self.write_timeout;
        let receipt = uploader
            .upload(&data, &options)
            .await
            .map_err(|e| fail(e.to_string()))?;
        loop {
            let r: Option<String> = self
                .node
                .request("kv_getTransactionResult", json!([receipt.seq]))
                .await
                .map_err(|e| fail(e.to_string()))?;
            match r.as_deref() {
                Some("Commit") => return Ok(()),
                Some(other) => {
                    return Err(PluginError::Internal(format!(
                        "replica KV stream: the mapping's write was replayed as {other} (is this plugin's account a writer of stream {}?)",
                        self.stream
                    )));
                }
                None if Instant::now() >= deadline => {
                    return Err(fail(format!(
                        "submission {} not replayed within {:?}",
                        receipt.seq, self.write_timeout
                    )));
                }
                None => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }

    /// The certificate written for `keccak`, if any.
    pub async fn get(&self, keccak: &B256) -> Result<Option<Certificate>, PluginError> {
        let v: ValueSegment = self
            .node
            .request(
                "kv_getValue",
                json!([self.stream, to_base64(keccak.as_slice()), 0, 48, null]),
            )
            .await
            .map_err(|e| PluginError::Unavailable(format!("replica KV stream: {e}")))?;
        if v.size == 0 {
            return Ok(None);
        }
        let bytes: [u8; 48] = v.data.as_slice().try_into().map_err(|_| {
            PluginError::Unavailable(format!(
                "replica KV stream: the mapping of {keccak} is {} bytes, not a certificate",
                v.size
            ))
        })?;
        Ok(Some(Certificate::from_bytes(&bytes)))
    }
}
