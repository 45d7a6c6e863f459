#![doc = include_str!("../README.md")]

pub mod disperser;
pub mod error;
pub mod keys;
pub mod metrics;
pub mod node;

// The client side lives in zg-da-client (no RocksDB); re-exported under the same paths.
pub use zg_da_client::{chain, net, retrieval};

pub use chain::{
    ChainClient, ChainConfig, ModuleAddresses, ModuleArgs, Quorum, QuorumMember, SampleRound,
};
pub use disperser::{
    AccessConfig, BlobRecord, BlobStatus, ClientToken, Disperser, DisperserConfig, RunningDisperser,
};
pub use error::{ChainClientError, DisperseError, NetError, RetrieveError, StoreError};
pub use keys::{KeyError, NodeKeys};
pub use net::{Frame, NetConfig, Network};
pub use node::{NodeConfig, NodeService, NodeStore, RunningNode};
pub use retrieval::{NodeReport, Retrieved, Retriever};
