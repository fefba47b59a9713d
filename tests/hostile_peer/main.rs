//! Hostile peers against a listening server: raw TCP sockets and real RLPx handshakes through
//! the crate's public API, then misbehaviour. Every case counts the process's threads and
//! file descriptors before and after, so the tests in this file run one at a time
//! ([`support::serial`]).
#![cfg(feature = "rlpx")]

mod ping_flood;
#[path = "../server_common/mod.rs"]
mod server_common;
mod support;

mod hello_rlp;
mod rlpx_memory;
mod thread_budget;
