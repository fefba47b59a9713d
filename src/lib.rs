//! Ethereum devp2p peers for blocking programs.
//!
//! A devp2p connection carries several sub-protocols at once (`eth`, `snap`, or your own)
//! over one link, next to the base protocol's Hello, Ping/Pong and Disconnect. This crate
//! is go-ethereum's peer layer on OS threads: a [`Peer`] runs each negotiated
//! [`Protocol`] on a thread of its own, with the same channel semantics (a write token,
//! rendezvous delivery, a broadcast "closed" signal), the same message-code layout, the same
//! disconnect reasons and the same error texts. With the default `rlpx` feature it also
//! speaks the encrypted RLPx transport ([`rlpx`]), so a `Peer` talks to geth, reth,
//! Nethermind or any other client over TCP.
//!
//! # A protocol
//!
//! A protocol is a name, a version, a number of message codes and a function that speaks it.
//! The function gets the peer and a reader/writer whose codes start at 0:
//!
//! ```
//! use devp2p_peer::{Protocol, Msg, MsgReader, MsgWriter};
//!
//! // Answers every message with the same code and payload.
//! let echo = Protocol::new("echo", 1, 8, |_peer, rw| loop {
//!     let msg = rw.read_msg()?;           // Err(Eof) once the peer shuts down
//!     let code = msg.code;                 // 0..8, relative to the protocol
//!     rw.write_msg(Msg::new(code, msg.payload.into_vec()))?;
//! });
//! assert_eq!(echo.cap().to_string(), "echo/1");
//! ```
//!
//! # Two peers
//!
//! A [`Peer`] runs over a [`Transport`]. [`MemoryTransport`] connects two peers in memory;
//! [`rlpx::RlpxTransport`] over TCP. [`Peer::run`] blocks until the connection ends, and
//! returns whether the remote asked for the end and the error (for a disconnect, its
//! reason):
//!
//! ```
//! use std::sync::Arc;
//! use devp2p_peer::*;
//!
//! let ask = Protocol::new("sum", 1, 2, |_peer, rw| {
//!     send_items(&rw, 0, &[&2u64, &3u64])?;       // code 0: a question
//!     let mut answer = rw.read_msg()?;             // code 1: its answer
//!     assert_eq!(answer.decode::<u64>()?, 5);
//!     Err(DiscReason::REQUESTED.into())            // done: disconnect, with a reason
//! });
//! let answer = Protocol::new("sum", 1, 2, |_peer, rw| loop {
//!     let mut q = rw.read_msg()?;
//!     let terms: Vec<u64> = q.decode_list()?;
//!     send(&rw, 1, &terms.iter().sum::<u64>())?;
//! });
//!
//! let (a, b) = MemoryTransport::pair();
//! let conn = |id: u8| ConnInfo {
//!     id: NodeId([id; 32]),
//!     name: format!("node-{id}"),
//!     caps: vec![Cap::new("sum", 1)],
//!     ..ConnInfo::default()
//! };
//! let pa = Peer::new(conn(2), Arc::new(a), &[ask], PeerConfig::default());
//! let pb = Peer::new(conn(1), Arc::new(b), &[answer], PeerConfig::default());
//! let tb = std::thread::spawn(move || pb.run());
//! let (_, err) = pa.run();
//! assert_eq!(err.disc_reason(), Some(DiscReason::REQUESTED));
//! let (remote_requested, err) = tb.join().unwrap();
//! assert!(remote_requested);
//! assert_eq!(err.to_string(), "disconnect requested");
//! ```
//!
//! To test a protocol against a failing network, wrap either end in a [`FaultyTransport`]:
//! it fails the Nth read or write, delays messages, or cuts the connection mid-message
//! (`examples/fault_injection.rs` runs a protocol through a series of such faults).
//!
//! # Threads and channels
//!
//! [`Peer::run`] is the supervisor; it starts a reader (`peer-read`), a pinger
//! (`peer-ping`) and one thread per protocol (`proto-<name>/<version>`), and joins them all
//! before it returns. Writes from all protocols are serialised by a single write token; a
//! failed write ends the peer. Inbound messages are handed to a protocol by rendezvous, so a
//! protocol that stops reading holds back its connection (back-pressure). Any thread may call
//! [`Peer::disconnect`]. A protocol that returns ends the peer; one that panics does too,
//! cleanly, as a subprotocol error. See [`defaults`] for every timeout and limit and why.
//!
//! # Errors
//!
//! One [`Error`] enum for everything, with go-ethereum's texts;
//! [`disc_reason_for_error`] gives the reason an error is sent with.
//!
//! # Features
//!
//! - `rlpx` (default): the RLPx transport, node keys and `enode://` URLs, and the server.
//!   Without it the crate depends only on crossbeam-channel, parking_lot, rlp, byteorder and
//!   log.
#![deny(missing_docs)]

/// The `rlp` crate this crate's API uses ([`Msg::decode`], [`send`], the `eth` types): use
/// it through this path (`devp2p_peer::rlp`) so that your `Encodable`/`Decodable` types are
/// the ones this crate expects, whatever `rlp` version your own `Cargo.toml` names.
///
/// # Examples
///
/// ```
/// use devp2p_peer::rlp;
/// assert_eq!(rlp::encode(&5u64).to_vec(), vec![5]);
/// ```
pub use rlp;

/// The `crossbeam-channel` crate whose [`Receiver`](crossbeam_channel::Receiver)s this
/// crate hands out (events, [`Peer::closed`]): use it through this path to `select!` on
/// them without depending on a matching version yourself.
///
/// # Examples
///
/// ```
/// use devp2p_peer::crossbeam_channel::{select, never, after};
/// use std::time::Duration;
/// let events = never::<u8>();
/// select! {
///     recv(events) -> _ => unreachable!(),
///     recv(after(Duration::from_millis(1))) -> _ => {}
/// }
/// ```
pub use crossbeam_channel;

mod broadcast;
pub mod defaults;
mod disc;
mod error;
pub mod eth;
mod event;
mod fault;
mod hello;
mod message;
mod node;
mod peer;
mod pipe;
pub mod prelude;
mod protocol;
#[cfg(feature = "rlpx")]
mod server;
mod strict_rlp;
mod transport;
mod util;
mod wait_group;
mod writer;

#[cfg(feature = "rlpx")]
pub mod rlpx;

#[cfg(feature = "discovery")]
pub mod discover;
#[cfg(feature = "discovery")]
pub mod enr;

pub use crate::broadcast::{BroadcastReport, Broadcaster, DEFAULT_BROADCAST_QUEUE};
pub use crate::disc::DiscReason;
pub use crate::error::{disc_reason_for_error, Error};
pub use crate::event::{EventFeed, MsgEventer, PeerEvent, PeerEventType, EVENT_CHANNEL_CAPACITY};
pub use crate::fault::FaultyTransport;
pub use crate::hello::{do_protocol_handshake, read_protocol_handshake, Hello};
pub use crate::message::{
    expect_msg, send, send_items, Msg, MsgReadWriter, MsgReader, MsgWriter, Payload, RlpList,
};
pub use crate::node::NodeId;
pub use crate::peer::{
    ConnFlags, ConnInfo, NetworkInfo, Peer, PeerConfig, PeerInfo, ProtoRw, ProtocolStats,
    PEER_THREAD_STACK_SIZE, PING_INTERVAL,
};
pub use crate::pipe::{msg_pipe, MsgPipeRw};
pub use crate::protocol::{
    count_matching_protocols, match_protocols, Cap, MatchedProtocol, NodeInfoFn, PeerInfoFn,
    Protocol, RunFn, BASE_PROTOCOL_LENGTH,
};
#[cfg(feature = "rlpx")]
pub use crate::server::{
    NodeInfo, Server, ServerConfig, DEFAULT_DIAL_RATIO, DEFAULT_DIAL_TIMEOUT,
    DEFAULT_HANDSHAKE_TIMEOUT, DEFAULT_MAX_PENDING_PEERS, DEFAULT_MAX_REDIAL_BACKOFF,
    DEFAULT_REDIAL_BACKOFF, INBOUND_THROTTLE_TIME,
};
pub use crate::strict_rlp::RlpError;
pub use crate::transport::{
    MemoryTransport, Transport, BASE_PROTOCOL_MAX_MSG_SIZE, BASE_PROTOCOL_VERSION, DISC_MSG,
    DISC_WRITE_TIMEOUT, HANDSHAKE_MSG, MEMORY_WRITE_TIMEOUT, PING_MSG, PONG_MSG,
};
pub use crate::writer::ProtoWriter;
