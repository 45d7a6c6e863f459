#![doc = include_str!("../README.md")]

pub mod chain;
pub mod disperse;
pub mod error;
pub mod light;
pub mod net;
pub mod retrieval;
pub mod traits;

pub use chain::{
    ChainArgs, ChainClient, ChainConfig, ModuleAddresses, ModuleArgs, Quorum, QuorumMember,
    SampleRound, TxStatus,
};
pub use disperse::{
    BlobRecord, BlobStatus, Disperse, DisperseFailure, FailureKind, PendingAnchor, RemoteDisperser,
};
pub use error::{ChainClientError, NetError, RetrieveError, StartError};
pub use light::{
    AnchorLayout, Lie, LightChain, LightError, VerifiedHeader, VerifyArgs, VerifyConfig,
};
pub use net::{Frame, InboundHandler, NetConfig, Network};
pub use retrieval::{NodeReport, Retrieved, Retriever};
pub use traits::{ColumnNetwork, DaChain, check_deposit};
