#![doc = include_str!("../README.md")]

pub mod api;
pub mod binary;
pub mod client;
pub mod cluster;
pub mod erasure;
pub mod error;
pub mod kv;
pub mod merkle;
pub mod metrics;
pub mod node;
mod replay;
pub mod store;
pub mod sync;
pub mod types;

pub use api::{ApiLimits, StorageApi};
pub use client::{
    ClientError, Downloader, NodeClient, UploadOptions, UploadReceipt, Uploader, flow_submission,
    submission_identity, submission_sectors,
};
pub use cluster::ClusterConfig;
pub use erasure::{Coding, CodingError};
pub use error::{ChainError, NodeError, StoreError};
pub use merkle::{
    CHUNK_SIZE, FileLayout, FileMerkle, FileProof, ProofError, SEGMENT_SIZE, Tree, nodes_root,
};
pub use node::{NodeConfig, StartError, StorageNode, start};
pub use store::{Store, SyncCursor, TxRecord};
pub use types::{FileInfo, SegmentWithProof, ShardConfig, ShardItem, Status, Transaction};
