//! Integration tests of zg-chain: real nodes on loopback ports, driven through alloy.

mod bad_input;
mod basics;
mod committee;
mod compute;
mod config;
mod da_modules;
mod da_sampling;
mod deploy;
mod filters;
mod flow;
mod helpers;
mod hostile;
mod persistence;
mod proofs;
mod simulation;
mod subscriptions;
mod validator_processes;
mod validators;
mod web3py;
