#![doc = include_str!("../README.md")]

pub mod component;
pub mod demo;
pub mod devnet;

pub use component::{Component, run_component, run_component_with};
pub use demo::{DemoEndpoints, DemoReport, run_demo};
pub use devnet::{Devnet, DevnetConfig, DevnetError, Plan};
