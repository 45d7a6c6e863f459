//! Erasure coding across a cluster of storage nodes (beyond 0G, which replicates).
//!
//! Members are listed in one order on every node; member `j` holds shard position `j`
//! of every segment, coded `(k, n − k)` ([`crate::erasure::Coding`]). A node that
//! receives a proven segment from a client keeps its own shard and pushes every other
//! member its shard with the segment's leaf, proof and shard manifest
//! (`zgs_putShards`); any `k` members rebuild any segment (`zgs_getShard`), checking
//! shards against the manifest and the rebuilt segment against its proven leaf. A
//! member that missed shards (down, or back with an empty disk) repairs itself from
//! the others. Cluster calls carry a shared token.

use std::time::Duration;

use alloy_primitives::{B256, keccak256};

use crate::client::{ClientError, NodeClient};
use crate::erasure::Coding;
use crate::merkle::FileLayout;
use crate::store::TxRecord;
use crate::types::{CheckedSegment, ShardItem};

/// Cluster membership and coding.
#[derive(Clone, Debug)]
pub struct ClusterConfig {
    /// Every member's JSON-RPC URL, in shard order (this node included).
    pub members: Vec<String>,
    /// This node's position in `members`.
    pub me: usize,
    /// Data shards: any `k` members rebuild every file.
    pub k: usize,
    /// Shared secret of cluster calls.
    pub token: String,
    /// Pause between repair passes.
    pub repair_interval: Duration,
}

/// A running cluster view: the code and clients of the other members.
#[derive(Debug)]
pub struct Cluster {
    /// The configuration.
    pub config: ClusterConfig,
    /// The code.
    pub coding: Coding,
    peers: Vec<(usize, NodeClient)>,
}

/// How long a push waits for a member that has not seen the submission yet.
const PUSH_PATIENCE: Duration = Duration::from_secs(10);

impl Cluster {
    /// Checks the configuration and builds clients of the other members.
    pub fn new(config: ClusterConfig) -> Result<Self, String> {
        let n = config.members.len();
        if config.me >= n {
            return Err(format!("member index {} outside {n} members", config.me));
        }
        if config.k == 0 || config.k > n {
            return Err(format!("k = {} must lie in 1..={n}", config.k));
        }
        if config.token.is_empty() {
            return Err("a cluster needs a token".into());
        }
        let coding = Coding::new(config.k, n - config.k).map_err(|e| e.to_string())?;
        let peers = config
            .members
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != config.me)
            .map(|(i, u)| {
                NodeClient::new(u)
                    .map(|c| (i, c))
                    .map_err(|e| e.to_string())
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            config,
            coding,
            peers,
        })
    }

    /// Whether `token` is the cluster's (constant time).
    pub fn token_ok(&self, token: &str) -> bool {
        let a = keccak256(token.as_bytes());
        let b = keccak256(self.config.token.as_bytes());
        a.iter()
            .zip(b.iter())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
    }

    /// Encodes checked segments `(index, data, leaf, proof)` into the shards of every
    /// position: `out[position]` lists that member's items.
    pub fn encode(&self, segments: &[CheckedSegment]) -> Result<Vec<Vec<ShardItem>>, String> {
        use rayon::prelude::*;
        let coded: Vec<Vec<ShardItem>> = segments
            .par_iter()
            .map(|(index, data, leaf, proof)| {
                let shards = self.coding.encode(data).map_err(|e| e.to_string())?;
                let manifest = crate::erasure::manifest(&shards);
                Ok(shards
                    .into_iter()
                    .enumerate()
                    .map(|(pos, s)| ShardItem {
                        index: *index,
                        leaf: *leaf,
                        proof: Some(proof.clone()),
                        seg_len: data.len() as u32,
                        position: pos as u16,
                        manifest: manifest.clone(),
                        data: s,
                    })
                    .collect())
            })
            .collect::<Result<_, String>>()?;
        let mut by_pos: Vec<Vec<ShardItem>> = vec![Vec::new(); self.coding.n()];
        for seg in coded {
            for item in seg {
                by_pos[item.position as usize].push(item);
            }
        }
        Ok(by_pos)
    }

    /// Pushes each member its items; returns how many members acknowledged.
    pub async fn push(&self, seq: u64, mut by_pos: Vec<Vec<ShardItem>>) -> usize {
        let token = self.config.token.clone();
        let jobs: Vec<(NodeClient, Vec<ShardItem>)> = self
            .peers
            .iter()
            .map(|(i, c)| (c.clone(), std::mem::take(&mut by_pos[*i])))
            .collect();
        let acks = futures::future::join_all(jobs.into_iter().map(|(c, items)| {
            let token = token.clone();
            async move {
                let deadline = tokio::time::Instant::now() + PUSH_PATIENCE;
                loop {
                    match c.put_shards(&token, seq, &items).await {
                        Ok(()) => return true,
                        // the member has not seen the submission yet: wait for it
                        Err(ClientError::Refused { data: Some(d), .. })
                            if d.contains("tx not found")
                                && tokio::time::Instant::now() < deadline =>
                        {
                            tokio::time::sleep(Duration::from_millis(50)).await
                        }
                        Err(e) => {
                            tracing::warn!(target: "zg_storage::cluster", member = c.url(), seq, error = %e, "shard push failed; the member will repair");
                            return false;
                        }
                    }
                }
            }
        }))
        .await;
        acks.into_iter().filter(|a| *a).count()
    }

    /// Every other member's item of segment `index` of submission `seq` (failures and
    /// absences left out).
    pub async fn fetch(&self, seq: u64, index: u64) -> Vec<ShardItem> {
        let asks = self.peers.iter().map(|(_, c)| {
            let (c, token) = (c.clone(), self.config.token.clone());
            async move { c.get_shard(&token, seq, index).await }
        });
        futures::future::join_all(asks)
            .await
            .into_iter()
            .filter_map(|r| r.ok().flatten())
            .collect()
    }

    /// Rebuilds segment `index` of `tx` from `items`: shards checked against the most
    /// common manifest, the result against `leaf` (or, without one, a leaf whose proof
    /// leads to the file root). Returns the segment and its leaf.
    pub fn rebuild(
        &self,
        tx: &TxRecord,
        index: u64,
        leaf: Option<B256>,
        items: &[ShardItem],
    ) -> Option<(Vec<u8>, B256)> {
        let layout = FileLayout { size: tx.size };
        let seg_len = layout.segment_len(index);
        let leaf = leaf.or_else(|| {
            items.iter().find_map(|it| {
                let p = it.proof.as_ref()?;
                p.verify(&it.leaf, &tx.root, index, layout.proof_leaves())
                    .ok()
                    .map(|()| it.leaf)
            })
        })?;
        let mut counts: Vec<(&Vec<B256>, usize)> = Vec::new();
        for it in items {
            match counts.iter_mut().find(|(m, _)| **m == it.manifest) {
                Some(c) => c.1 += 1,
                None => counts.push((&it.manifest, 1)),
            }
        }
        let (manifest, _) = counts.into_iter().max_by_key(|c| c.1)?;
        if manifest.len() != self.coding.n() {
            return None;
        }
        let good: Vec<(usize, &[u8])> = items
            .iter()
            .filter(|it| {
                it.seg_len as usize == seg_len
                    && it.manifest == *manifest
                    && keccak256(&it.data) == manifest[it.position as usize]
            })
            .map(|it| (it.position as usize, it.data.as_slice()))
            .collect();
        let data = self.coding.decode(&good, seg_len).ok()?;
        (layout.segment_root(index, &data) == leaf).then_some((data, leaf))
    }

    /// This member's item of a rebuilt segment.
    pub fn own_item(&self, index: u64, data: &[u8], leaf: B256) -> Option<ShardItem> {
        let shards = self.coding.encode(data).ok()?;
        let manifest = crate::erasure::manifest(&shards);
        let me = self.config.me;
        Some(ShardItem {
            index,
            leaf,
            proof: None,
            seg_len: data.len() as u32,
            position: me as u16,
            manifest,
            data: shards.into_iter().nth(me)?,
        })
    }
}
