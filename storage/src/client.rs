//! Clients: [`NodeClient`] for one storage node's `zgs_*` API, [`Uploader`] (submit to
//! the flow, upload every segment with its proof, wait until finalized, as 0G's SDK
//! does) and [`Downloader`] (every segment checked against the file root, which 0G's SDK
//! skips).

use std::time::{Duration, Instant};

use alloy::network::{EthereumWallet, TransactionBuilder};
use alloy::providers::{DynProvider, Provider, ProviderBuilder};
use alloy::rpc::client::RpcClient;
use alloy::rpc::types::TransactionRequest;
use alloy::signers::local::PrivateKeySigner;
use alloy_primitives::{Address, B256, Bytes, U256};
use alloy_sol_types::{SolCall, SolEvent};
use futures::StreamExt;
use zg_primitives::abi::{IFlow, IMarket};

use crate::merkle::{FileMerkle, segment_upload_data};
use crate::types::{FileInfo, SegmentWithProof, ShardConfig, ShardItem, Status, from_base64};

/// A client-side failure, classified by how to react.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ClientError {
    /// Transport failure or a node/chain error answer worth retrying.
    #[error("rpc: {0}")]
    Rpc(String),
    /// The node refused the request (a JSON-RPC error): do not retry as is.
    #[error("refused: {message} ({code}){}", data.as_ref().map(|d| format!(": {d}")).unwrap_or_default())]
    Refused {
        /// JSON-RPC error code.
        code: i64,
        /// Message.
        message: String,
        /// Error data.
        data: Option<String>,
    },
    /// The input is unusable (an empty file).
    #[error("invalid: {0}")]
    Invalid(String),
    /// A transaction reverted.
    #[error("transaction reverted: {0}")]
    Reverted(String),
    /// Data from a node failed its proof.
    #[error("bad data from {node}: {reason}")]
    BadData {
        /// The node.
        node: String,
        /// Why.
        reason: String,
    },
    /// Waiting took too long.
    #[error("timed out: {0}")]
    Timeout(String),
    /// The binary upload path refused (HTTP status and message).
    #[error("HTTP {status}: {message}")]
    Http {
        /// HTTP status.
        status: u16,
        /// The node's message.
        message: String,
    },
}

fn rpc_error(e: alloy::transports::TransportError) -> ClientError {
    match e.as_error_resp() {
        Some(p) => ClientError::Refused {
            code: p.code,
            message: p.message.to_string(),
            data: p
                .data
                .as_ref()
                .map(|d| d.get().trim_matches('"').to_string()),
        },
        None => ClientError::Rpc(e.to_string()),
    }
}

/// One storage node's JSON-RPC API.
#[derive(Clone, Debug)]
pub struct NodeClient {
    url: String,
    rpc: RpcClient,
    http: alloy::transports::http::reqwest::Client,
}

impl NodeClient {
    /// A client of the node at `url`.
    pub fn new(url: &str) -> Result<Self, ClientError> {
        let parsed = url
            .parse()
            .map_err(|e| ClientError::Invalid(format!("url {url}: {e}")))?;
        Ok(Self {
            url: url.to_string(),
            rpc: RpcClient::new_http(parsed),
            http: alloy::transports::http::reqwest::Client::new(),
        })
    }

    /// The node's URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Calls `method` with positional `params`.
    pub async fn request<R: alloy::rpc::json_rpc::RpcRecv>(
        &self,
        method: &'static str,
        params: serde_json::Value,
    ) -> Result<R, ClientError> {
        self.rpc.request(method, params).await.map_err(rpc_error)
    }

    /// `zgs_getStatus`.
    pub async fn status(&self) -> Result<Status, ClientError> {
        self.request("zgs_getStatus", serde_json::json!([])).await
    }

    /// `zgs_getShardConfig`.
    pub async fn shard_config(&self) -> Result<ShardConfig, ClientError> {
        self.request("zgs_getShardConfig", serde_json::json!([]))
            .await
    }

    /// `zgs_getFileInfo`.
    pub async fn file_info(&self, root: B256) -> Result<Option<FileInfo>, ClientError> {
        self.request("zgs_getFileInfo", serde_json::json!([root, true]))
            .await
    }

    /// `zgs_getFileInfoByTxSeq`.
    pub async fn file_info_by_seq(&self, seq: u64) -> Result<Option<FileInfo>, ClientError> {
        self.request("zgs_getFileInfoByTxSeq", serde_json::json!([seq]))
            .await
    }

    /// `zgs_uploadSegmentsByTxSeq`.
    pub async fn upload_segments(
        &self,
        segments: &[SegmentWithProof],
        seq: u64,
    ) -> Result<(), ClientError> {
        let _: serde_json::Value = self
            .request(
                "zgs_uploadSegmentsByTxSeq",
                serde_json::json!([segments, seq]),
            )
            .await?;
        Ok(())
    }

    /// The binary upload path (`POST /v1/segments/{seq}`): the same checks as
    /// [`NodeClient::upload_segments`] without base64 and JSON.
    pub async fn upload_binary(
        &self,
        segments: &[(u64, &[u8], &crate::merkle::FileProof)],
        seq: u64,
    ) -> Result<(), ClientError> {
        let body = crate::binary::encode_segments(segments.iter().copied());
        let resp = self
            .http
            .post(format!(
                "{}/v1/segments/{seq}",
                self.url.trim_end_matches('/')
            ))
            .header("content-type", "application/octet-stream")
            .body(body)
            .send()
            .await
            .map_err(|e| ClientError::Rpc(e.to_string()))?;
        let status = resp.status().as_u16();
        if status == 200 {
            return Ok(());
        }
        let text = resp.text().await.unwrap_or_default();
        let message = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| v["message"].as_str().map(str::to_string))
            .unwrap_or(text);
        Err(ClientError::Http { status, message })
    }

    /// `zgs_downloadSegmentByTxSeq`: chunks `[start, end)`.
    pub async fn download_chunks(
        &self,
        seq: u64,
        start: u64,
        end: u64,
    ) -> Result<Option<Vec<u8>>, ClientError> {
        let s: Option<String> = self
            .request(
                "zgs_downloadSegmentByTxSeq",
                serde_json::json!([seq, start, end]),
            )
            .await?;
        s.map(|s| {
            from_base64(&s).map_err(|e| ClientError::BadData {
                node: self.url.clone(),
                reason: format!("base64: {e}"),
            })
        })
        .transpose()
    }

    /// `zgs_putShards` (cluster members only).
    pub async fn put_shards(
        &self,
        token: &str,
        seq: u64,
        items: &[ShardItem],
    ) -> Result<(), ClientError> {
        let _: serde_json::Value = self
            .request("zgs_putShards", serde_json::json!([token, seq, items]))
            .await?;
        Ok(())
    }

    /// `zgs_getShard` (cluster members only).
    pub async fn get_shard(
        &self,
        token: &str,
        seq: u64,
        index: u64,
    ) -> Result<Option<ShardItem>, ClientError> {
        self.request("zgs_getShard", serde_json::json!([token, seq, index]))
            .await
    }

    /// `zgs_downloadSegmentWithProofByTxSeq`.
    pub async fn download_with_proof(
        &self,
        seq: u64,
        index: u64,
    ) -> Result<Option<SegmentWithProof>, ClientError> {
        self.request(
            "zgs_downloadSegmentWithProofByTxSeq",
            serde_json::json!([seq, index]),
        )
        .await
    }
}

/// What an upload did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UploadReceipt {
    /// The file root.
    pub root: B256,
    /// Its submission index.
    pub seq: u64,
    /// The submit transaction.
    pub tx_hash: B256,
    /// The fee paid.
    pub fee: U256,
}

/// Upload settings.
#[derive(Clone, Debug)]
pub struct UploadOptions {
    /// Segments per upload call.
    pub segments_per_call: usize,
    /// Upload calls in flight per node.
    pub concurrency: usize,
    /// Submission tags.
    pub tags: Vec<u8>,
    /// How long to wait for the nodes to see the submission and to finalize.
    pub timeout: Duration,
    /// Upload over the binary path (`POST /v1/segments/{seq}`) rather than 0G's
    /// `zgs_uploadSegmentsByTxSeq`.
    pub binary: bool,
}

impl Default for UploadOptions {
    fn default() -> Self {
        Self {
            segments_per_call: 8,
            concurrency: 4,
            tags: Vec::new(),
            timeout: Duration::from_secs(120),
            binary: true,
        }
    }
}

/// The flow's `Submission` of `merkle`'s file with `tags`.
pub fn flow_submission(merkle: &FileMerkle, tags: &[u8]) -> IFlow::Submission {
    IFlow::Submission {
        length: U256::from(merkle.layout.size),
        tags: Bytes::copy_from_slice(tags),
        nodes: merkle
            .nodes
            .iter()
            .map(|(h, r)| IFlow::SubmissionNode {
                root: *r,
                height: U256::from(*h),
            })
            .collect(),
    }
}

/// The 256-byte sectors a submission of `merkle`'s file pays for.
pub fn submission_sectors(merkle: &FileMerkle) -> u64 {
    merkle.nodes.iter().map(|(h, _)| 1u64 << h).sum()
}

/// A submission's identity, as the flow computes it for its `Submit` event's indexed
/// `identity`: keccak of its subtree roots in order.
pub fn submission_identity<'a>(roots: impl IntoIterator<Item = &'a B256>) -> B256 {
    let mut bytes = Vec::new();
    for r in roots {
        bytes.extend_from_slice(r.as_slice());
    }
    alloy_primitives::keccak256(&bytes)
}

/// Submits files to the flow and uploads them to storage nodes.
#[derive(Clone, Debug)]
pub struct Uploader {
    nodes: Vec<NodeClient>,
    provider: DynProvider,
    flow: Address,
}

const POLL: Duration = Duration::from_millis(50);

impl Uploader {
    /// An uploader sending transactions from `signer` through `chain_rpc`.
    pub fn new(
        nodes: Vec<NodeClient>,
        chain_rpc: &str,
        signer: PrivateKeySigner,
        flow: Address,
    ) -> Result<Self, ClientError> {
        let url = chain_rpc
            .parse()
            .map_err(|e| ClientError::Invalid(format!("chain rpc {chain_rpc}: {e}")))?;
        let provider = ProviderBuilder::new()
            .wallet(EthereumWallet::from(signer))
            .connect_http(url)
            .erased();
        Ok(Self {
            nodes,
            provider,
            flow,
        })
    }

    async fn view<C: SolCall>(&self, to: Address, call: C) -> Result<C::Return, ClientError> {
        let tx = TransactionRequest::default()
            .with_to(to)
            .with_input(Bytes::from(call.abi_encode()));
        let out = self.provider.call(tx).await.map_err(rpc_error)?;
        C::abi_decode_returns(&out).map_err(|e| ClientError::Rpc(format!("{}: {e}", C::SIGNATURE)))
    }

    /// The fee the flow charges for `merkle`'s file: `sectors × pricePerSector` of its
    /// market.
    pub async fn fee(&self, merkle: &FileMerkle) -> Result<U256, ClientError> {
        let market = self.view(self.flow, IFlow::marketCall {}).await?;
        let price = self.view(market, IMarket::pricePerSectorCall {}).await?;
        Ok(price * U256::from(submission_sectors(merkle)))
    }

    /// Submits `merkle`'s file to the flow, paying `sectors × pricePerSector`.
    pub async fn submit(
        &self,
        merkle: &FileMerkle,
        tags: &[u8],
    ) -> Result<(u64, B256, U256), ClientError> {
        let fee = self.fee(merkle).await?;
        let submission = flow_submission(merkle, tags);
        let tx = TransactionRequest::default()
            .with_to(self.flow)
            .with_value(fee)
            .with_input(Bytes::from(IFlow::submit_0Call { submission }.abi_encode()));
        let receipt = self
            .provider
            .send_transaction(tx)
            .await
            .map_err(rpc_error)?
            .get_receipt()
            .await
            .map_err(|e| ClientError::Rpc(e.to_string()))?;
        if !receipt.status() {
            return Err(ClientError::Reverted(format!(
                "submit {}",
                receipt.transaction_hash
            )));
        }
        let seq = receipt
            .inner
            .logs()
            .iter()
            .filter(|l| l.address() == self.flow)
            .find_map(|l| IFlow::Submit::decode_log_data(l.data()).ok())
            .ok_or_else(|| ClientError::Rpc("no Submit event in the receipt".into()))?
            .submissionIndex;
        Ok((seq.saturating_to(), receipt.transaction_hash, fee))
    }

    /// Waits until `node` saw submission `seq` (with `finalized`: stored all of it).
    pub async fn wait_info(
        &self,
        node: &NodeClient,
        seq: u64,
        deadline: Instant,
        finalized: bool,
    ) -> Result<FileInfo, ClientError> {
        loop {
            if let Some(info) = node.file_info_by_seq(seq).await?
                && (!finalized || info.finalized)
            {
                return Ok(info);
            }
            if Instant::now() >= deadline {
                return Err(ClientError::Timeout(format!(
                    "{}: submission {seq} not {}",
                    node.url(),
                    if finalized { "finalized" } else { "seen" }
                )));
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Uploads `data` to every node: submit, wait until each node saw the submission,
    /// upload the segments with proofs, wait until each node finalized it.
    pub async fn upload(
        &self,
        data: &[u8],
        options: &UploadOptions,
    ) -> Result<UploadReceipt, ClientError> {
        let owned = data.to_vec();
        let merkle = tokio::task::spawn_blocking(move || FileMerkle::new(&owned))
            .await
            .map_err(|e| ClientError::Invalid(e.to_string()))?
            .ok_or_else(|| ClientError::Invalid("empty file".into()))?;
        let (seq, tx_hash, fee) = self.submit(&merkle, &options.tags).await?;
        let deadline = Instant::now() + options.timeout;
        for node in &self.nodes {
            let info = self.wait_info(node, seq, deadline, false).await?;
            if info.finalized {
                continue;
            }
            self.upload_to(node, data, &merkle, seq, options).await?;
        }
        for node in &self.nodes {
            self.wait_info(node, seq, deadline, true).await?;
        }
        Ok(UploadReceipt {
            root: merkle.root(),
            seq,
            tx_hash,
            fee,
        })
    }

    /// Uploads every segment of `data` (submission `seq`) to `node`.
    pub async fn upload_to(
        &self,
        node: &NodeClient,
        data: &[u8],
        merkle: &FileMerkle,
        seq: u64,
        options: &UploadOptions,
    ) -> Result<(), ClientError> {
        let per = options.segments_per_call.max(1) as u64;
        let segments = merkle.layout.segments();
        let batches: Vec<(u64, u64)> = (0..segments.div_ceil(per))
            .map(|b| (b * per, ((b + 1) * per).min(segments)))
            .collect();
        let root = merkle.root();
        let binary = options.binary;
        let results: Vec<Result<(), ClientError>> = futures::stream::iter(batches)
            .map(|(from, to)| async move {
                let r = if binary {
                    let datas: Vec<Vec<u8>> =
                        (from..to).map(|i| segment_upload_data(data, i)).collect();
                    let proofs: Vec<crate::merkle::FileProof> = (from..to)
                        .map(|i| {
                            merkle
                                .tree
                                .proof(i as usize)
                                .expect("segment index below leaves")
                        })
                        .collect();
                    let segs: Vec<(u64, &[u8], &crate::merkle::FileProof)> = (from..to)
                        .zip(datas.iter().zip(proofs.iter()))
                        .map(|(i, (d, p))| (i, d.as_slice(), p))
                        .collect();
                    node.upload_binary(&segs, seq).await
                } else {
                    let batch: Vec<SegmentWithProof> = (from..to)
                        .map(|i| SegmentWithProof {
                            root,
                            data: segment_upload_data(data, i),
                            index: i,
                            proof: merkle
                                .tree
                                .proof(i as usize)
                                .expect("segment index below leaves"),
                            file_size: merkle.layout.size,
                        })
                        .collect();
                    node.upload_segments(&batch, seq).await
                };
                match r {
                    Err(ClientError::Refused { data: Some(d), .. })
                        if d.contains("already uploaded and finalized") =>
                    {
                        Ok(())
                    }
                    Err(ClientError::Http { message, .. })
                        if message.contains("already uploaded and finalized") =>
                    {
                        Ok(())
                    }
                    r => r,
                }
            })
            .buffer_unordered(options.concurrency.max(1))
            .collect()
            .await;
        results.into_iter().collect()
    }
}

/// Downloads files from storage nodes, checking every segment's proof.
///
/// With [`Downloader::with_chain`] the file's size and submission come from the flow's
/// `Submit` record on the chain, not from a node (a root alone does not fix the size:
/// trailing zero bytes leave it unchanged). Either way a download stops at the first
/// segment no node can prove, and nothing is allocated ahead by a claimed size.
#[derive(Clone, Debug)]
pub struct Downloader {
    nodes: Vec<NodeClient>,
    concurrency: usize,
    chain: Option<ChainRecords>,
}

/// Where a downloader reads submission records.
#[derive(Clone, Debug)]
struct ChainRecords {
    provider: DynProvider,
    flow: Address,
    max_scan_blocks: u64,
}

/// Blocks per `eth_getLogs` query when looking for a submission (geth's and our
/// chain's limit is 10 000).
const LOG_WINDOW: u64 = 10_000;

/// How much of the output is reserved ahead (it then grows with verified segments).
const MAX_PREALLOC: u64 = 64 << 20;

impl Downloader {
    /// A downloader over `nodes` (tried in order per segment), four segments in flight.
    pub fn new(nodes: Vec<NodeClient>) -> Self {
        Self {
            nodes,
            concurrency: 4,
            chain: None,
        }
    }

    /// Takes each file's size and submission from the chain's `Submit` records of the
    /// flow at `flow` (searched back from the head, at most 1M blocks), not from a node.
    pub fn with_chain(mut self, chain_rpc: &str, flow: Address) -> Result<Self, ClientError> {
        let url = chain_rpc
            .parse()
            .map_err(|e| ClientError::Invalid(format!("chain rpc {chain_rpc}: {e}")))?;
        self.chain = Some(ChainRecords {
            provider: ProviderBuilder::new().connect_http(url).erased(),
            flow,
            max_scan_blocks: 1_000_000,
        });
        Ok(self)
    }

    /// The chain's record of submission `seq`, which a node says holds file `root` with
    /// these subtree nodes. Its `Submit` log is found by the digest of the nodes (the
    /// event's indexed identity); the record must name `seq` and prove to `root`.
    async fn chain_record(
        chain: &ChainRecords,
        root: B256,
        seq: u64,
        nodes: &[(u64, B256)],
    ) -> Result<crate::store::TxRecord, ClientError> {
        let digest = submission_identity(nodes.iter().map(|(_, r)| r));
        let head = chain.provider.get_block_number().await.map_err(rpc_error)?;
        let floor = head.saturating_sub(chain.max_scan_blocks);
        let mut to = head;
        loop {
            let from = to.saturating_sub(LOG_WINDOW - 1).max(floor);
            let filter = alloy::rpc::types::Filter::new()
                .address(chain.flow)
                .event_signature(IFlow::Submit::SIGNATURE_HASH)
                .topic2(digest)
                .from_block(from)
                .to_block(to);
            let logs = chain.provider.get_logs(&filter).await.map_err(rpc_error)?;
            for log in &logs {
                if let Some(tx) = crate::sync::submission_record(log)
                    && tx.seq == seq
                    && tx.root == root
                {
                    return Ok(tx);
                }
            }
            if from <= floor {
                return Err(ClientError::Invalid(format!(
                    "the chain records no submission {seq} of file {root} in the last {} blocks",
                    chain.max_scan_blocks
                )));
            }
            to = from - 1;
        }
    }

    /// Segment `i` of submission `seq` (file `root`), from the first node whose copy
    /// proves against the root.
    async fn segment(
        &self,
        seq: u64,
        root: B256,
        layout: crate::merkle::FileLayout,
        i: u64,
    ) -> Result<Vec<u8>, ClientError> {
        let mut last_err = None;
        for n in &self.nodes {
            match n.download_with_proof(seq, i).await {
                Ok(Some(seg)) => {
                    let checked = if seg.data.len() != layout.segment_len(i) {
                        Err(format!("segment {i} has {} bytes", seg.data.len()))
                    } else {
                        let leaf = layout.segment_root(i, &seg.data);
                        seg.proof
                            .verify(&leaf, &root, i, layout.proof_leaves())
                            .map_err(|e| e.to_string())
                    };
                    match checked {
                        Ok(()) => return Ok(seg.data),
                        Err(reason) => {
                            last_err = Some(ClientError::BadData {
                                node: n.url().to_string(),
                                reason,
                            })
                        }
                    }
                }
                Ok(None) => {}
                Err(e) => last_err = Some(e),
            }
        }
        Err(last_err.unwrap_or_else(|| ClientError::Rpc(format!("no node serves segment {i}"))))
    }

    /// The file of `root`, every segment proven against it.
    pub async fn download(&self, root: B256) -> Result<Vec<u8>, ClientError> {
        let mut last_err = None;
        let mut found = None;
        for n in &self.nodes {
            let info = match n.file_info(root).await {
                Ok(Some(i)) if i.finalized => i,
                Ok(_) => continue,
                Err(e) => {
                    last_err = Some(e);
                    continue;
                }
            };
            let (seq, size) = match &self.chain {
                None => (info.tx.seq, info.tx.size),
                Some(chain) => {
                    match Self::chain_record(chain, root, info.tx.seq, &info.tx.merkle_nodes).await
                    {
                        Ok(tx) => (tx.seq, tx.size),
                        Err(ClientError::Invalid(reason)) => {
                            // The node named a submission the chain does not have.
                            last_err = Some(ClientError::BadData {
                                node: n.url().to_string(),
                                reason,
                            });
                            continue;
                        }
                        Err(e) => return Err(e),
                    }
                }
            };
            found = Some((seq, size));
            break;
        }
        let (seq, size) = found.ok_or_else(|| {
            last_err.unwrap_or_else(|| ClientError::Invalid(format!("no node has file {root}")))
        })?;
        let layout = crate::merkle::FileLayout { size };
        // Segments in order, a few in flight; the first that fails ends the download
        // (dropping the stream cancels the rest).
        let mut segments = futures::stream::iter(
            (0..layout.segments()).map(|i| self.segment(seq, root, layout, i)),
        )
        .buffered(self.concurrency);
        let mut out = Vec::with_capacity(size.min(MAX_PREALLOC) as usize);
        while let Some(s) = segments.next().await {
            out.extend_from_slice(&s?);
        }
        out.truncate(size as usize);
        Ok(out)
    }
}
