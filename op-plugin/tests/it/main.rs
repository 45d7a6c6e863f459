//! Integration tests of zg-op-plugin: a real chain, eight DA nodes and a disperser on
//! loopback ports, and a client that sends exactly what op-batcher and op-node send.
#![allow(missing_docs)]

mod bad_input;
mod config;
mod op_flow;
mod parsers;
mod reorg;
mod replicas;
mod restart;
mod unavailable;
mod verify;

use std::time::Duration;

use alloy::transports::http::reqwest;
use alloy_primitives::{B256, keccak256};
use tokio_util::sync::CancellationToken;
use zg_da_server::ChainConfig;
use zg_op_plugin::{PluginConfig, RunningPlugin, UpstreamConfig};
use zg_testkit::da::{Cluster, TempDir};

/// Starts a plugin against the cluster's disperser (over HTTP) and DA nodes.
pub async fn start_plugin(
    cluster: &Cluster,
    dir: &TempDir,
    tweak: impl FnOnce(&mut PluginConfig),
) -> RunningPlugin {
    let url = format!(
        "http://{}",
        cluster.disperser.as_ref().expect("disperser").http_addr
    );
    start_plugin_at(cluster, dir, url, tweak).await
}

/// Starts a plugin against the disperser at `url`.
pub async fn start_plugin_at(
    cluster: &Cluster,
    dir: &TempDir,
    url: String,
    tweak: impl FnOnce(&mut PluginConfig),
) -> RunningPlugin {
    let mut config = PluginConfig::new(dir.0.clone());
    config.put_timeout = Duration::from_secs(120);
    tweak(&mut config);
    let upstream = UpstreamConfig::Remote {
        url,
        token: None,
        chain: ChainConfig::new(cluster.chain.rpc_url()),
        net: zg_da_server::NetConfig {
            request_timeout: Duration::from_secs(20),
            ..Default::default()
        },
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    zg_op_plugin::start(config, upstream, listener, CancellationToken::new())
        .await
        .unwrap()
}

/// What op-alt-da's `DAClient` sends, byte for byte.
pub struct OpClient {
    url: String,
    http: reqwest::Client,
}

/// Status, headers and body of an answer.
pub struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Vec<u8>,
}

impl Answer {
    /// The JSON error body's message.
    pub fn message(&self) -> String {
        let v: serde_json::Value = serde_json::from_slice(&self.body).unwrap_or_else(|_| {
            panic!(
                "error body is JSON: {:?}",
                String::from_utf8_lossy(&self.body)
            )
        });
        let m = v["message"].as_str().expect("message").to_string();
        assert!(!m.is_empty());
        m
    }
}

impl OpClient {
    pub fn new(plugin: &RunningPlugin) -> Self {
        Self {
            url: plugin.url(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(180))
                .build()
                .unwrap(),
        }
    }

    pub async fn send(&self, req: reqwest::RequestBuilder) -> Answer {
        let resp = req.send().await.unwrap();
        Answer {
            status: resp.status().as_u16(),
            headers: resp.headers().clone(),
            body: resp.bytes().await.unwrap().to_vec(),
        }
    }

    /// op-batcher, generic mode: `POST {url}/put`, octet-stream body.
    pub async fn put_generic(&self, data: &[u8]) -> Answer {
        self.send(
            self.http
                .post(format!("{}/put", self.url))
                .header("Content-Type", "application/octet-stream")
                .body(data.to_vec()),
        )
        .await
    }

    /// op-batcher, keccak mode: `POST {url}/put/0x00<keccak hex>`.
    pub async fn put_keccak(&self, data: &[u8]) -> Answer {
        self.send(
            self.http
                .post(format!(
                    "{}/put/0x00{}",
                    self.url,
                    hex::encode(keccak256(data))
                ))
                .header("Content-Type", "application/octet-stream")
                .body(data.to_vec()),
        )
        .await
    }

    /// op-node: `GET {url}/get/0x<commitment hex>` (from the type byte on).
    pub async fn get(&self, commitment: &[u8]) -> Answer {
        self.get_path(&format!("/get/0x{}", hex::encode(commitment)))
            .await
    }

    pub async fn get_path(&self, path: &str) -> Answer {
        self.send(self.http.get(format!("{}{path}", self.url)))
            .await
    }

    pub fn raw(&self) -> &reqwest::Client {
        &self.http
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }
}

/// A batcher body: derivation version 0 and one frame of `len` data bytes.
pub fn batch(len: usize, seed: u64) -> Vec<u8> {
    let data = zg_testkit::da::payload(len, seed);
    let mut id = [0u8; 16];
    id[..8].copy_from_slice(&seed.to_be_bytes());
    zg_op_plugin::single_frame(id, &data, true)
}

/// The keccak commitment bytes of `data`.
pub fn keccak_commitment(data: &[u8]) -> Vec<u8> {
    let mut v = vec![0u8];
    v.extend_from_slice(keccak256(data).as_slice());
    v
}

/// A metric's value from a `/metrics` body (0 when absent).
pub fn metric(text: &str, name_and_labels: &str) -> f64 {
    text.lines()
        .find_map(|l| {
            l.strip_prefix(name_and_labels)
                .and_then(|rest| rest.trim().split(' ').next())
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0.0)
}

pub fn random_root(seed: u8) -> B256 {
    keccak256([seed; 7])
}
