//! In-memory fakes of the chain ([`FakeChain`]) and of the DA nodes' column network
//! ([`FakeNetwork`] of [`FakeNode`]s), implementing the client traits
//! [`zg_da_client::DaChain`] and [`zg_da_client::ColumnNetwork`], and a ready-made
//! [`FakeCluster`] (one quorum of fake nodes on a fake chain).
//!
//! The cryptography is real (KZG cells and proofs, BLS attestations and aggregates,
//! the disperser's secp256k1 authorisation); only the transport and the chain are fake.

mod chain;
mod cluster;
mod network;

use std::collections::BTreeMap;
use std::sync::Arc;

use parking_lot::Mutex;
use zg_primitives::{EncodedPayload, Kzg, Precompute, encode};

pub use chain::FakeChain;
pub use cluster::{CHAIN_ID, FakeCluster, disperse};
pub use network::{FakeNetwork, FakeNode, Faults};

/// The process-wide KZG context, built without prover precomputation on first use (a
/// faster start: a test encodes a payload or two, not thousands).
pub fn kzg() -> &'static Kzg {
    Kzg::init_mainnet(Precompute::None);
    Kzg::mainnet()
}

pub use crate::payload;

/// [`payload`]`(len, seed)` encoded, computed once per process and shared: computing a
/// blob's cells and proofs takes ~100 ms, so tests in one binary share their payloads.
pub fn encoded_payload(len: usize, seed: u64) -> Arc<EncodedPayload> {
    static CACHE: Mutex<BTreeMap<(usize, u64), Arc<EncodedPayload>>> = Mutex::new(BTreeMap::new());
    let mut cache = CACHE.lock();
    cache
        .entry((len, seed))
        .or_insert_with(|| {
            Arc::new(encode(kzg(), &payload(len, seed), usize::MAX).expect("payload encodes"))
        })
        .clone()
}
