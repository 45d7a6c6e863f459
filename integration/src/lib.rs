#![doc = include_str!("../README.md")]

pub mod demo;
pub mod devnet;

pub use demo::{DemoEndpoints, DemoReport, run_demo};
pub use devnet::{Devnet, DevnetConfig, DevnetError};
