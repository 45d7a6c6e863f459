//! The storage node's JSON-RPC API: 0G's `zgs_*` methods with 0G's parameter and result
//! shapes and error conventions (`-32602 Invalid params: <param>` with the reason as
//! `data`; `already uploaded and finalized` for a complete file).

mod binary;
mod check;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use alloy_primitives::{Address, B256};
use serde_json::Value;
use tokio::sync::Semaphore;
use zg_node_kit::jsonrpc::{RpcError, RpcService, ok, param, take_param};

use crate::cluster::Cluster;
use crate::error::NodeError;
use crate::merkle::{CHUNK_SIZE, SEGMENT_CHUNKS, SEGMENT_HEIGHT, Tree, zero_root};
use crate::metrics::Metrics;
use crate::store::{ShardRecord, Store, TxRecord};
use crate::sync::SyncState;
use crate::types::{
    NetworkIdentity, ProtocolVersion, SegmentWithProof, ShardConfig, ShardItem, Status, to_base64,
};

pub use binary::router as binary_router;
pub use check::check_segments;

/// The methods served.
pub const METHODS: &[&str] = &[
    "zgs_getStatus",
    "zgs_getShardConfig",
    "zgs_getFileInfo",
    "zgs_getFileInfoByTxSeq",
    "zgs_checkFileFinalized",
    "zgs_uploadSegment",
    "zgs_uploadSegments",
    "zgs_uploadSegmentByTxSeq",
    "zgs_uploadSegmentsByTxSeq",
    "zgs_downloadSegment",
    "zgs_downloadSegmentByTxSeq",
    "zgs_downloadSegmentWithProof",
    "zgs_downloadSegmentWithProofByTxSeq",
    "zgs_putShards",
    "zgs_getShard",
];

/// Limits of the API.
#[derive(Clone, Debug)]
pub struct ApiLimits {
    /// Most segments one upload call may carry.
    pub max_segments_per_upload: usize,
    /// Most upload calls processed at once (more get `too many data writing`).
    pub max_writings: usize,
}

impl Default for ApiLimits {
    fn default() -> Self {
        Self {
            max_segments_per_upload: 64,
            max_writings: 16,
        }
    }
}

/// The API over a store.
#[derive(Debug)]
pub struct StorageApi {
    store: Store,
    flow: Address,
    sync: Arc<SyncState>,
    metrics: Arc<Metrics>,
    limits: ApiLimits,
    writings: Semaphore,
    cluster: Option<Cluster>,
    kv: Option<Arc<crate::kv::Kv>>,
    /// The last file tree built (downloads walk a file segment by segment).
    last_tree: parking_lot::Mutex<Option<(u64, Arc<Tree>)>>,
}

impl StorageApi {
    /// The API of `store`, following `flow`.
    pub fn new(
        store: Store,
        flow: Address,
        sync: Arc<SyncState>,
        metrics: Arc<Metrics>,
        limits: ApiLimits,
        cluster: Option<Cluster>,
        kv: Option<Arc<crate::kv::Kv>>,
    ) -> Self {
        let writings = Semaphore::new(limits.max_writings.max(1));
        Self {
            store,
            flow,
            sync,
            metrics,
            limits,
            writings,
            cluster,
            kv,
            last_tree: parking_lot::Mutex::new(None),
        }
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The cluster, if this node is a member of one.
    pub fn cluster(&self) -> Option<&Cluster> {
        self.cluster.as_ref()
    }

    /// The node's status.
    pub fn status(&self) -> Result<Status, NodeError> {
        let cursor = self.store.cursor()?;
        Ok(Status {
            connected_peers: self
                .cluster
                .as_ref()
                .map_or(0, |c| c.config.members.len() as u64 - 1),
            log_sync_height: cursor.map_or(0, |c| c.block),
            log_sync_block: cursor.map_or(B256::ZERO, |c| c.hash),
            next_tx_seq: cursor.map_or(0, |c| c.next_seq),
            network_identity: NetworkIdentity {
                chain_id: self.sync.chain_id.load(Ordering::Relaxed),
                flow_address: self.flow,
                p2p_protocol_version: ProtocolVersion {
                    major: 0,
                    minor: 4,
                    build: 0,
                },
            },
        })
    }

    fn tx_by_seq(&self, seq: u64) -> Result<TxRecord, NodeError> {
        self.store
            .tx(seq)?
            .ok_or_else(|| NodeError::invalid("tx_seq", "tx not found"))
    }

    fn tx_by_root(&self, root: &B256) -> Result<TxRecord, NodeError> {
        self.store
            .tx_of_root(root)?
            .ok_or_else(|| NodeError::invalid("root", "tx not found"))
    }

    /// Checks segments against their submission and stores them. Hashing runs off the
    /// async runtime.
    pub async fn upload(
        &self,
        segments: Vec<SegmentWithProof>,
        seq: Option<u64>,
    ) -> Result<(), NodeError> {
        if segments.is_empty() {
            return Err(NodeError::invalid("segments", "no segment"));
        }
        if segments.len() > self.limits.max_segments_per_upload {
            return Err(NodeError::invalid(
                "segments",
                format!(
                    "{} segments exceed the limit of {} per call",
                    segments.len(),
                    self.limits.max_segments_per_upload
                ),
            ));
        }
        let _permit = self
            .writings
            .try_acquire()
            .map_err(|_| NodeError::Busy(self.limits.max_writings))?;
        let tx = match seq {
            Some(s) => self.tx_by_seq(s)?,
            None => self.tx_by_root(&segments[0].root)?,
        };
        if segments.iter().any(|s| s.root != segments[0].root) {
            return Err(NodeError::invalid("root", "segments of different files"));
        }
        if tx.finalized {
            return Err(NodeError::invalid("root", "already uploaded and finalized"));
        }
        let checked = {
            let tx = tx.clone();
            tokio::task::spawn_blocking(move || check_segments(&tx, segments))
                .await
                .map_err(|e| NodeError::invalid("segments", format!("check aborted: {e}")))??
        };
        let bytes: usize = checked.iter().map(|s| s.1.len()).sum();
        let seq = tx.seq;
        let own: Vec<(u64, B256, ShardRecord)> = match &self.cluster {
            None => checked
                .into_iter()
                .map(|(index, data, leaf, _)| {
                    let record = ShardRecord {
                        seg_len: data.len() as u32,
                        position: 0,
                        manifest: Vec::new(),
                        data,
                    };
                    (index, leaf, record)
                })
                .collect(),
            Some(cluster) => {
                let mut by_pos = tokio::task::block_in_place(|| cluster.encode(&checked))
                    .map_err(|e| NodeError::invalid("segments", e))?;
                let mine = std::mem::take(&mut by_pos[cluster.config.me]);
                let acks = cluster.push(seq, by_pos).await;
                if acks + 1 < cluster.coding.k {
                    // Keep nothing the cluster cannot rebuild; the client retries.
                    return Err(NodeError::Unavailable(format!(
                        "{} of {} cluster members took their shards, {} needed",
                        acks + 1,
                        cluster.coding.n(),
                        cluster.coding.k
                    )));
                }
                mine.into_iter()
                    .map(|it| (it.index, it.leaf, it.record()))
                    .collect()
            }
        };
        self.put(seq, own, bytes).await
    }

    async fn put(
        &self,
        seq: u64,
        records: Vec<(u64, B256, ShardRecord)>,
        bytes: usize,
    ) -> Result<(), NodeError> {
        let store = self.store.clone();
        let out = tokio::task::spawn_blocking(move || store.put_segments(seq, records))
            .await
            .map_err(|e| NodeError::invalid("segments", format!("write aborted: {e}")))??
            .ok_or_else(|| NodeError::invalid("tx_seq", "tx not found"))?;
        if out.stored > 0 {
            self.metrics.stored(out.stored, bytes, out.tx.finalized);
            if out.tx.finalized {
                tracing::info!(target: "zg_storage", seq, root = %out.tx.root, size = out.tx.size, "file finalized");
            }
        }
        Ok(())
    }

    /// A member's shards pushed by another member (`zgs_putShards`).
    pub async fn put_shards(
        &self,
        token: &str,
        seq: u64,
        items: Vec<ShardItem>,
    ) -> Result<(), NodeError> {
        let cluster = self.member(token)?;
        let tx = self.tx_by_seq(seq)?;
        if tx.finalized || items.is_empty() {
            return Ok(());
        }
        let layout = tx.layout();
        let me = cluster.config.me;
        let mut records = Vec::with_capacity(items.len());
        let mut bytes = 0;
        for it in items {
            let seg_len = if it.index < layout.segments() {
                layout.segment_len(it.index)
            } else {
                0
            };
            if seg_len == 0 || it.seg_len as usize != seg_len {
                return Err(NodeError::invalid(
                    "index",
                    format!("no segment {} of {} bytes", it.index, it.seg_len),
                ));
            }
            if it.position as usize != me || it.manifest.len() != cluster.coding.n() {
                return Err(NodeError::invalid("position", "not this member's shard"));
            }
            if it.data.len() != cluster.coding.shard_len(seg_len)
                || alloy_primitives::keccak256(&it.data) != it.manifest[me]
            {
                return Err(NodeError::invalid(
                    "data",
                    "shard does not match its manifest",
                ));
            }
            let proof = it
                .proof
                .as_ref()
                .ok_or_else(|| NodeError::invalid("proof", "missing"))?;
            proof
                .verify(&it.leaf, &tx.root, it.index, layout.proof_leaves())
                .map_err(|e| NodeError::invalid("proof", e.to_string()))?;
            bytes += it.data.len();
            records.push((it.index, it.leaf, it.record()));
        }
        self.put(seq, records, bytes).await
    }

    fn member(&self, token: &str) -> Result<&Cluster, NodeError> {
        match &self.cluster {
            Some(c) if c.token_ok(token) => Ok(c),
            Some(_) => Err(NodeError::invalid("token", "not this cluster's token")),
            None => Err(NodeError::invalid("token", "this node is in no cluster")),
        }
    }

    /// This member's shard of segment `index` of submission `seq`, with a proof of the
    /// segment's leaf when every leaf is here (`zgs_getShard`).
    pub fn get_shard(
        &self,
        token: &str,
        seq: u64,
        index: u64,
    ) -> Result<Option<ShardItem>, NodeError> {
        self.member(token)?;
        let Some(tx) = self.store.tx(seq)? else {
            return Ok(None);
        };
        let (Some(record), Some(leaf)) = (
            self.store.segment(tx.data_seq, index)?,
            self.store.leaf(tx.data_seq, index)?,
        ) else {
            return Ok(None);
        };
        let proof = self.tree(&tx)?.and_then(|t| t.proof(index as usize));
        Ok(Some(ShardItem {
            index,
            leaf,
            proof,
            seg_len: record.seg_len,
            position: record.position,
            manifest: record.manifest,
            data: record.data,
        }))
    }

    /// The file tree from the stored leaves, if all are here and lead to the root.
    fn tree(&self, tx: &TxRecord) -> Result<Option<Arc<Tree>>, NodeError> {
        if let Some((seq, t)) = &*self.last_tree.lock()
            && *seq == tx.data_seq
        {
            return Ok(Some(t.clone()));
        }
        let layout = tx.layout();
        let Some(mut leaves) = self.store.leaves(tx.data_seq, layout.segments())? else {
            return Ok(None);
        };
        leaves.resize(layout.proof_leaves() as usize, zero_root(SEGMENT_HEIGHT));
        let tree = Tree::new(leaves);
        match tree {
            Some(t) if t.root() == tx.root => {
                let t = Arc::new(t);
                *self.last_tree.lock() = Some((tx.data_seq, t.clone()));
                Ok(Some(t))
            }
            _ => {
                tracing::error!(target: "zg_storage", seq = tx.seq, "stored leaves do not lead to the file root");
                Ok(None)
            }
        }
    }

    /// Segment `index` of `tx`'s data: this node's copy, or rebuilt from the cluster.
    pub async fn read_segment(
        &self,
        tx: &TxRecord,
        index: u64,
    ) -> Result<Option<Vec<u8>>, NodeError> {
        let own = self.store.segment(tx.data_seq, index)?;
        let Some(cluster) = &self.cluster else {
            return Ok(own.map(|r| r.data));
        };
        if let Some(r) = &own
            && cluster.coding.k == 1
            && (r.position as usize) < cluster.coding.k
        {
            return Ok(Some(r.data[..r.seg_len as usize].to_vec()));
        }
        let leaf = self.store.leaf(tx.data_seq, index)?;
        let mut items: Vec<ShardItem> = Vec::new();
        if let (Some(r), Some(l)) = (own, leaf) {
            items.push(ShardItem {
                index,
                leaf: l,
                proof: None,
                seg_len: r.seg_len,
                position: r.position,
                manifest: r.manifest,
                data: r.data,
            });
        }
        items.extend(cluster.fetch(tx.seq, index).await);
        let tx = tx.clone();
        Ok(
            tokio::task::block_in_place(|| cluster.rebuild(&tx, index, leaf, &items))
                .map(|(d, _)| d),
        )
    }

    /// One repair pass: rebuilds this member's missing shards of pending submissions
    /// from the other members. Returns the shards repaired.
    pub async fn repair_pass(&self, max_segments: usize) -> Result<usize, NodeError> {
        let Some(cluster) = &self.cluster else {
            return Ok(0);
        };
        let mut repaired = 0;
        for seq in self.store.pending(64)? {
            let Some(tx) = self.store.tx(seq)? else {
                continue;
            };
            for index in 0..tx.segments() {
                if repaired >= max_segments {
                    return Ok(repaired);
                }
                if self.store.has_segment(tx.data_seq, index)? {
                    continue;
                }
                let items = cluster.fetch(seq, index).await;
                if items.is_empty() {
                    break; // nobody has this file yet
                }
                let rebuilt = {
                    let tx = tx.clone();
                    tokio::task::block_in_place(|| {
                        cluster
                            .rebuild(&tx, index, None, &items)
                            .and_then(|(data, leaf)| cluster.own_item(index, &data, leaf))
                    })
                };
                let Some(item) = rebuilt else {
                    tracing::warn!(target: "zg_storage::cluster", seq, index, "segment not rebuildable yet");
                    break;
                };
                let bytes = item.data.len();
                self.put(seq, vec![(index, item.leaf, item.record())], bytes)
                    .await?;
                repaired += 1;
            }
        }
        if repaired > 0 {
            tracing::info!(target: "zg_storage::cluster", repaired, "shards repaired from the cluster");
        }
        Ok(repaired)
    }

    fn check_range(tx: &TxRecord, start: u64, end: u64) -> Result<(), NodeError> {
        let chunks = tx.layout().chunks();
        if start >= end {
            return Err(NodeError::invalid("start_index", "start must be below end"));
        }
        if end - start > SEGMENT_CHUNKS as u64 {
            return Err(NodeError::invalid(
                "end_index",
                format!("at most {SEGMENT_CHUNKS} chunks per request"),
            ));
        }
        if end > chunks {
            return Err(NodeError::invalid(
                "end_index",
                format!("end {end} is beyond the file's {chunks} chunks"),
            ));
        }
        Ok(())
    }

    /// Chunks `[start, end)` of a finalized file, or `None` if not stored.
    pub async fn download(
        &self,
        tx: &TxRecord,
        start: u64,
        end: u64,
    ) -> Result<Option<Vec<u8>>, NodeError> {
        Self::check_range(tx, start, end)?;
        if !tx.finalized {
            return Ok(None);
        }
        let mut out = Vec::with_capacity(((end - start) as usize) * CHUNK_SIZE);
        let per = SEGMENT_CHUNKS as u64;
        for seg in start / per..=(end - 1) / per {
            let Some(data) = self.read_segment(tx, seg).await? else {
                return Ok(None);
            };
            let from = start.max(seg * per) - seg * per;
            let to = end.min((seg + 1) * per) - seg * per;
            let (a, b) = (from as usize * CHUNK_SIZE, to as usize * CHUNK_SIZE);
            if b > data.len() {
                return Ok(None);
            }
            out.extend_from_slice(&data[a..b]);
        }
        Ok(Some(out))
    }

    /// Segment `index` of a finalized file with its proof, or `None` if not stored.
    pub async fn download_with_proof(
        &self,
        tx: &TxRecord,
        index: u64,
    ) -> Result<Option<SegmentWithProof>, NodeError> {
        let layout = tx.layout();
        if index >= layout.segments() {
            return Err(NodeError::invalid(
                "index",
                format!(
                    "segment {index} is beyond the file's {} segments",
                    layout.segments()
                ),
            ));
        }
        if !tx.finalized {
            return Ok(None);
        }
        let Some(tree) = self.tree(tx)? else {
            return Ok(None);
        };
        let Some(data) = self.read_segment(tx, index).await? else {
            return Ok(None);
        };
        Ok(Some(SegmentWithProof {
            root: tx.root,
            data,
            index,
            proof: tree
                .proof(index as usize)
                .expect("index is below the leaf count"),
            file_size: tx.size,
        }))
    }

    /// The submission a download's first parameter names: a `tx_seq` for the
    /// `…ByTxSeq` methods, else a file root.
    fn named_tx(&self, method: &str, p: &[Value]) -> Result<Option<TxRecord>, RpcError> {
        let tx = if method.ends_with("ByTxSeq") {
            self.store.tx(param(p, 0, "tx_seq")?)
        } else {
            self.store.tx_of_root(&param(p, 0, "root")?)
        };
        Ok(tx.map_err(NodeError::from)?)
    }

    /// Dispatches one call.
    pub async fn call(&self, method: &str, mut params: Vec<Value>) -> Result<Value, RpcError> {
        // Uploads move their (large) segments out of the request rather than copy them.
        let p = &mut params[..];
        let v = match method {
            "zgs_getStatus" => ok(self.status()?)?,
            "zgs_getShardConfig" => ok(ShardConfig {
                shard_id: 0,
                num_shard: 1,
            })?,
            "zgs_getFileInfo" => {
                let root: B256 = param(p, 0, "root")?;
                ok(self
                    .store
                    .tx_of_root(&root)
                    .map_err(NodeError::from)?
                    .map(|t| t.file_info()))?
            }
            "zgs_getFileInfoByTxSeq" => {
                let seq: u64 = param(p, 0, "tx_seq")?;
                ok(self
                    .store
                    .tx(seq)
                    .map_err(NodeError::from)?
                    .map(|t| t.file_info()))?
            }
            "zgs_checkFileFinalized" => {
                let tx = match p.first() {
                    Some(Value::String(_)) => {
                        self.store.tx_of_root(&param(p, 0, "tx_seq_or_root")?)
                    }
                    _ => self.store.tx(param(p, 0, "tx_seq_or_root")?),
                }
                .map_err(NodeError::from)?;
                ok(tx.map(|t| t.finalized))?
            }
            "zgs_uploadSegment" => {
                self.upload(vec![take_param(p, 0, "segment")?], None)
                    .await?;
                ok(0)?
            }
            "zgs_uploadSegments" => {
                self.upload(take_param(p, 0, "segments")?, None).await?;
                ok(0)?
            }
            "zgs_uploadSegmentByTxSeq" => {
                let seq = param(p, 1, "tx_seq")?;
                self.upload(vec![take_param(p, 0, "segment")?], Some(seq))
                    .await?;
                ok(0)?
            }
            "zgs_uploadSegmentsByTxSeq" => {
                let seq = param(p, 1, "tx_seq")?;
                self.upload(take_param(p, 0, "segments")?, Some(seq))
                    .await?;
                ok(0)?
            }
            "zgs_downloadSegment" | "zgs_downloadSegmentByTxSeq" => {
                let tx = self.named_tx(method, p)?;
                let start: u64 = param(p, 1, "start_index")?;
                let end: u64 = param(p, 2, "end_index")?;
                match tx {
                    Some(tx) => ok(self.download(&tx, start, end).await?.map(|d| to_base64(&d)))?,
                    None => Value::Null,
                }
            }
            "zgs_downloadSegmentWithProof" | "zgs_downloadSegmentWithProofByTxSeq" => {
                let tx = self.named_tx(method, p)?;
                let index: u64 = param(p, 1, "index")?;
                match tx {
                    Some(tx) => ok(self.download_with_proof(&tx, index).await?)?,
                    None => Value::Null,
                }
            }
            "zgs_putShards" => {
                let token: String = param(p, 0, "token")?;
                let seq: u64 = param(p, 1, "tx_seq")?;
                self.put_shards(&token, seq, take_param(p, 2, "shards")?)
                    .await?;
                ok(0)?
            }
            "zgs_getShard" => {
                let token: String = param(p, 0, "token")?;
                ok(self.get_shard(&token, param(p, 1, "tx_seq")?, param(p, 2, "index")?)?)?
            }
            m if m.starts_with("kv_") => match &self.kv {
                Some(kv) => kv.query(m, p)?,
                None => {
                    return Err(RpcError::new(
                        zg_node_kit::jsonrpc::codes::METHOD_NOT_FOUND,
                        format!("{m}: this node runs no KV layer (see --kv.streams)"),
                    ));
                }
            },
            _ => return Err(RpcError::method_not_found(method)),
        };
        Ok(v)
    }
}

impl RpcService for StorageApi {
    fn call(
        &self,
        method: &str,
        params: Vec<Value>,
    ) -> impl std::future::Future<Output = Result<Value, RpcError>> + Send {
        StorageApi::call(self, method, params)
    }

    fn observe(&self, method: &str, ok: bool, took: Duration) {
        self.metrics.observe_rpc(
            method,
            METHODS.contains(&method) || crate::kv::KV_METHODS.contains(&method),
            ok,
            took,
        );
    }

    fn health(&self) -> Result<Value, RpcError> {
        let s = self.status()?;
        Ok(serde_json::json!({
            "status": "ok",
            "logSyncHeight": s.log_sync_height,
            "nextTxSeq": s.next_tx_seq,
        }))
    }

    fn metrics(&self) -> String {
        self.metrics.encode()
    }
}
