//! Integration tests of zg-storage: a real chain and storage nodes on loopback ports.

mod bad_input;
mod cluster;
mod config;
mod crash;
mod hostile_bytes;
mod kv;
mod reorg;
mod restart;
mod roundtrip;
mod sdk;

use zg_storage::{Downloader, FileMerkle, NodeClient, SegmentWithProof};

/// Deterministic file contents (byte i = i % 251, as the 0G SDK vectors use).
pub(crate) fn pattern(size: usize) -> Vec<u8> {
    (0..size).map(|i| (i % 251) as u8).collect()
}

/// Random file contents.
pub(crate) fn random(size: usize) -> Vec<u8> {
    use rand::RngCore;
    let mut v = vec![0u8; size];
    rand::rng().fill_bytes(&mut v);
    v
}

pub(crate) fn root_of(data: &[u8]) -> alloy_primitives::B256 {
    FileMerkle::new(data).unwrap().root()
}

/// Segments `range` of `data` as a client uploads them, with their proofs.
pub(crate) fn segments(
    data: &[u8],
    m: &FileMerkle,
    range: std::ops::Range<u64>,
) -> Vec<SegmentWithProof> {
    range
        .map(|i| SegmentWithProof {
            root: m.root(),
            data: zg_storage::merkle::segment_upload_data(data, i),
            index: i,
            proof: m.tree.proof(i as usize).unwrap(),
            file_size: data.len() as u64,
        })
        .collect()
}

/// The file of `m` as downloaded from node `c` alone.
pub(crate) async fn download_from(c: &NodeClient, m: &FileMerkle) -> Vec<u8> {
    Downloader::new(vec![c.clone()])
        .download(m.root())
        .await
        .unwrap()
}
