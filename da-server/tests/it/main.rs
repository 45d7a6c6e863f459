//! Integration tests of zg-da-server: a real chain, eight DA nodes and a disperser on
//! loopback ports, talking JSON-RPC, libp2p and HTTP.

mod bad_input;
mod dispersal;
mod faults;
mod restart;
mod sampling;
