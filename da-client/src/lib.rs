#![doc = include_str!("../README.md")]

pub mod chain;
pub mod error;
pub mod net;
pub mod retrieval;
pub mod traits;

pub use chain::{
    ChainClient, ChainConfig, ModuleAddresses, ModuleArgs, Quorum, QuorumMember, SampleRound,
};
pub use error::{ChainClientError, NetError, RetrieveError};
pub use net::{Frame, InboundHandler, NetConfig, Network};
pub use retrieval::{NodeReport, Retrieved, Retriever};
pub use traits::{ColumnNetwork, DaChain};
