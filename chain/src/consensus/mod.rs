//! The validator network: blocks are agreed by commonware's simplex BFT consensus
//! among the validators named in genesis, each of which re-executes a proposal before
//! voting for it; a block is committed only once finalized, with its finality
//! certificate (a BLS12-381 threshold signature of the validator set).
//!
//! A chain whose genesis names no validators keeps the single block producer (the
//! development setup).

mod app;
mod block;
mod engine;
mod follow;
mod keys;
mod sim;

pub use app::{ChainApp, Finalized, ProposalLayer};
pub use block::{BlockLimits, Digest, ZgBlock, digest_of, hash_of};
pub use engine::{ConsensusHandle, Timeouts, ValidatorConfig, start};
pub use follow::{FollowConfig, follow};
pub use keys::{
    ConsensusGenesis, GenesisValidator, Identity, MAX_VALIDATORS, Scheme, ValidatorKey,
    ValidatorSet, Variant, deal_validators, namespace, resolve,
};
pub use sim::{SimConfig, SimReport, simulate};
