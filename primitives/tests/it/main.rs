//! Integration tests of zg-primitives.

mod bls;
mod codec;
mod commitment;
mod encoding;
mod hostile_bytes;
mod kzg_vectors;
mod wire;
