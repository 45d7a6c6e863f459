//! End-to-end tests of the devnet binary as a separate OS process.
#![allow(missing_docs)]

mod bad_input;
mod devnet;
mod faults;
mod load;

pub use zg_primitives::runtime::TempDir;
