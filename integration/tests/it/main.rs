//! End-to-end tests of the devnet binary as a separate OS process.
#![allow(missing_docs)]

mod archive;
mod bad_input;
mod config;
mod dashboards;
mod devnet;
mod faults;
mod load;
mod processes;
mod traces;

pub use processes::{Proc, ProcessStack};
pub use zg_node_kit::runtime::TempDir;
