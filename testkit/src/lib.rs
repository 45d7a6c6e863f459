#![doc = include_str!("../README.md")]

pub mod fakes;

pub use fakes::{
    FakeChain, FakeCluster, FakeNetwork, FakeNode, Faults, encoded_payload, kzg, payload,
};
