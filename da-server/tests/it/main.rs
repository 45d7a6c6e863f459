//! Integration tests of zg-da-server: a real chain, eight DA nodes and a disperser on
//! loopback ports, talking JSON-RPC, libp2p and HTTP; and (`pipeline`) the disperser
//! over the test kit's in-memory chain and column network.

mod bad_input;
mod config;
mod dispersal;
mod faults;
mod keys;
mod pipeline;
mod registration;
mod restart;
mod sampling;
