#![doc = include_str!("../README.md")]

pub mod component;
pub mod demo;
pub mod devnet;
pub mod processes;

pub use component::{Component, run_component};
pub use demo::{DemoEndpoints, DemoReport, run_demo};
pub use devnet::{Devnet, DevnetConfig, DevnetError, Plan};
pub use processes::{Proc, ProcessStack};
