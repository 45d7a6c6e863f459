//! Integration tests of zg-storage: a real chain and storage nodes on loopback ports.

mod bad_input;
mod cluster;
mod crash;
mod kv;
mod restart;
mod roundtrip;
mod sdk;

use zg_storage::FileMerkle;

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
