#![doc = include_str!("../README.md")]

pub mod cli;
pub mod clients;
pub mod config;
pub mod confirm;
#[cfg(feature = "db")]
pub mod db;
mod error;
pub mod guard;
pub mod http;
pub mod jsonrpc;
pub mod keystore;
pub mod metrics;
pub mod pubsub;
pub mod runtime;
pub mod secret;
pub mod supervise;
pub mod telemetry;
pub mod tx;
pub mod upstream;

pub use cli::{ChainRpcArgs, HttpArgs, LogArgs};
pub use clients::{ClientLimits, ClientMeter, Throttled};
pub use confirm::{FinalHead, FinalityRule};
pub use error::StoreError;
pub use guard::HttpLimits;
pub use http::{BodyError, close_connection, json_error, read_limited};
pub use keystore::{
    Eip2335, Kdf, KeystoreError, read_eth_key, read_password, read_web3, write_web3,
};
pub use metrics::{Labels, encode_registry, render_registry, result};
pub use runtime::{TempDir, init_tracing, init_tracing_with, shutdown_signal};
pub use secret::{SecretFileError, read_secret, write_secret};
pub use supervise::{Health, Supervisor, TaskFailure, until_shutdown};
pub use telemetry::{OtlpConfig, TRACE_TARGET, Telemetry, traceparent};
pub use tx::{TxError, await_receipt, call, call_at, send_and_confirm, send_call};
pub use upstream::{Upstream, UpstreamError};
