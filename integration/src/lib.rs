#![doc = include_str!("../README.md")]

pub mod demo;
pub mod devnet;

pub use demo::{DemoReport, run_demo};
pub use devnet::{Devnet, DevnetConfig, DevnetError};
