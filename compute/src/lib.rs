#![doc = include_str!("../README.md")]

mod broker;
mod chain;
mod error;
pub mod meter;
mod metrics;
mod store;
pub mod token;
pub mod upstream;

pub use broker::{
    BILLED_ROUTES, Broker, BrokerConfig, SETTLEMENT_BATCH, ServiceSpec, SettleReport, start,
};
pub use chain::ChainClient;
pub use error::BrokerError;
pub use metrics::Metrics;
pub use store::{InFlight, Request, Store};
pub use token::{SessionToken, VerifiedToken};
