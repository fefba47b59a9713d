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
//! Start with `use devp2p_peer::prelude::*;` ([`prelude`]). The `rlp` and
//! `crossbeam_channel` crates of this crate's API are re-exported ([`rlp`],
//! [`crossbeam_channel`]): use them through this crate, so that your types and channels are
//! the versions it expects.
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
//! # Over TCP: dial an `enode://` URL
//!
//! With the `rlpx` feature: [`rlpx::RlpxTransport::dial`] connects to an [`rlpx::Enode`] and
//! runs the encryption handshake; [`protocol_handshake`](rlpx::RlpxTransport::protocol_handshake)
//! exchanges Hellos; [`into_peer`](rlpx::RlpxTransport::into_peer) checks the remote's
//! identity and makes the [`Peer`], which runs the protocols both sides share. Here the node
//! dialed is a local [`Server`] answering `echo/1`:
//!
//! ```
//! # #[cfg(feature = "rlpx")] {
//! use std::time::Duration;
//! use devp2p_peer::prelude::*;
//!
//! let echo = Protocol::new("echo", 1, 8, |_peer, rw| loop {
//!     let msg = rw.read_msg()?;
//!     rw.write_msg(Msg::new(msg.code, msg.payload.into_vec()))?;
//! });
//! // A node to dial, on 127.0.0.1; usually the URL comes from elsewhere.
//! let mut config = ServerConfig::new(SecretKey::random());
//! config.protocols = vec![echo.clone()];
//! config.listen_addr = Some("127.0.0.1:0".parse()?);
//! let node = Server::new(config);
//! node.start()?;
//! let url = node.self_enode().to_string();
//!
//! let enode: Enode = url.parse()?;
//! let key = SecretKey::random();
//! let transport = RlpxTransport::dial(&enode, &key, Duration::from_secs(15))?;
//! let hello = Hello::new("my-client/v0.1", vec![echo.cap()], key.public_key().to_bytes());
//! let theirs = transport.protocol_handshake(&hello)?;
//! println!("connected to {} ({:?})", theirs.name, theirs.caps);
//!
//! let ask = Protocol::new("echo", 1, 8, |_peer, rw| {
//!     send(&rw, 3, &"ping")?;
//!     let mut reply = rw.read_msg()?;
//!     assert_eq!((reply.code, reply.decode::<String>()?), (3, "ping".to_string()));
//!     Err(DiscReason::REQUESTED.into()) // leave, telling the remote why
//! });
//! let peer = transport.into_peer(&theirs, &[ask], ConnFlags::STATIC_DIALED, PeerConfig::default())?;
//! assert_eq!(peer.id(), enode.id());
//! let (remote_requested, err) = peer.run();
//! assert!(!remote_requested);
//! assert_eq!(err.disc_reason(), Some(DiscReason::REQUESTED));
//! node.stop();
//! # }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! A protocol ends its peer by returning: `Err(DiscReason::X.into())` leaves with reason `X`
//! (the clean way out); any other error is sent as the reason
//! [`disc_reason_for_error`] gives; `Ok(())` is "protocol returned", sent as "client
//! quitting".
//!
//! # A server and its events
//!
//! A [`Server`] listens, dials its static nodes, enforces the peer limits and runs each peer
//! on threads of its own. [`Server::subscribe_events`] delivers a [`PeerEvent`] when a peer
//! is added and when it drops; a drop carries the [`Error`] that ended it (so the
//! [`DiscReason`]) and whether the remote asked. Delivery never blocks the server: each
//! subscriber has a bounded channel, and a subscriber that falls behind loses events
//! (counted by [`EventFeed::dropped_events`]; see [`EventFeed`] for the policy).
//!
//! ```
//! # #[cfg(feature = "rlpx")] {
//! use std::time::Duration;
//! use devp2p_peer::crossbeam_channel::{after, select};
//! use devp2p_peer::prelude::*;
//!
//! let chat = Protocol::new("chat", 1, 1, |_peer, rw| loop {
//!     rw.read_msg()?;
//! });
//! let config = |listen: bool| {
//!     let mut c = ServerConfig::new(SecretKey::random());
//!     c.protocols = vec![chat.clone()];
//!     c.listen_addr = listen.then(|| "127.0.0.1:0".parse().unwrap());
//!     c
//! };
//! let hub = Server::new(config(true));
//! let events = hub.subscribe_events();
//! hub.start()?;
//! let visitor = Server::new(config(false));
//! let visitor_events = visitor.subscribe_events();
//! visitor.start()?;
//! visitor.add_peer(hub.self_enode());
//!
//! let timeout = after(Duration::from_secs(30));
//! loop {
//!     select! {
//!         recv(events) -> ev => {
//!             let ev = ev?;
//!             match ev.kind {
//!                 PeerEventType::Add => {
//!                     // Once the visitor runs its side too, it leaves.
//!                     visitor_events.recv_timeout(Duration::from_secs(30))?;
//!                     visitor.stop();
//!                 }
//!                 PeerEventType::Drop => {
//!                     assert_eq!(ev.disc_reason(), Some(DiscReason::QUITTING));
//!                     assert!(ev.remote_requested);
//!                     break;
//!                 }
//!                 _ => {}
//!             }
//!         }
//!         recv(timeout) -> _ => panic!("no events"),
//!     }
//! }
//! hub.stop();
//! # }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # The eth protocol
//!
//! [`eth`] gives eth/68 and eth/69: the message types, fork identifiers and the Status
//! handshake with go-ethereum's checks. [`eth::protocol`] makes the [`Protocol`];
//! [`eth::handshake`] in its `run` exchanges Status messages. See the [`eth`] module's guide
//! and `examples/eth_status.rs` (connects to a node, exchanges Status, prints it, leaves with
//! "client quitting").
//!
//! # Writing from anywhere, and broadcasting
//!
//! A protocol's [`ProtoRw`] may be cloned and used from any thread. Outside the protocol,
//! [`Peer::protocol_writer`] gives a [`ProtoWriter`] for a running protocol of any peer
//! (say one from [`Server::peers`]): its writes go through the peer's write token, like the
//! protocol's own, and block while the transport takes the message.
//!
//! Where blocking is wrong (one slow peer must not stall a relay), a [`Broadcaster`] keeps a
//! bounded queue per peer, drained by a sender thread per peer that ends with the peer. A
//! send never blocks: a message for a peer whose queue is full is dropped for that peer and
//! counted, as go-ethereum's eth broadcasts do. `examples/relay.rs` is a chat relay on a
//! `Server` built this way:
//!
//! ```
//! use devp2p_peer::prelude::*;
//!
//! let relay = Broadcaster::new(64); // per-peer queue capacity
//! let chat = Protocol::new("chat", 1, 1, move |peer, rw| {
//!     relay.add(ProtoWriter::new(&peer, rw.clone())); // leaves the set with the peer
//!     loop {
//!         let msg = rw.read_msg()?;
//!         relay.send_except(&peer.id(), msg.code, msg.payload.into_vec());
//!     }
//! });
//! # let _ = chat;
//! ```
//!
//! # Disconnecting, and deadlines
//!
//! [`Peer::disconnect`] works from any thread, before [`Peer::run`] too (the peer then ends
//! at once with that reason when it runs). A peer has no deadline of its own; to bound a
//! peer's life, disconnect it from a timer, stopping early when the peer closes:
//!
//! ```
//! use std::time::Duration;
//! use devp2p_peer::crossbeam_channel::{after, select};
//! use devp2p_peer::prelude::*;
//!
//! fn with_deadline(peer: &Peer, limit: Duration) -> std::thread::JoinHandle<()> {
//!     let peer = peer.clone();
//!     std::thread::spawn(move || select! {
//!         recv(peer.closed()) -> _ => {}
//!         recv(after(limit)) -> _ => peer.disconnect(DiscReason::REQUESTED),
//!     })
//! }
//! let peer = Peer::new_test(NodeId([1; 32]), "test", vec![]);
//! with_deadline(&peer, Duration::from_secs(60)).join().unwrap(); // closed: returns at once
//! ```
//!
//! # Logging
//!
//! The crate logs through the [`log`](https://docs.rs/log) facade and prints nothing unless
//! the program installs a logger (`env_logger`, `tracing-subscriber` with its `log` bridge,
//! …). Targets are the module paths (`devp2p_peer::peer`, `devp2p_peer::server`, …). Levels:
//!
//! - `error`: an internal state that should be impossible;
//! - `warn`: the server lost a function: it could not start a thread, its accept loop ended,
//!   the thread budget was reached (once, until it recovers);
//! - `info`: the thread budget recovered;
//! - `debug`: the life of each connection: handshakes that failed, peers added and removed
//!   with the error that ended them, the reason sent, protocol panics;
//! - `trace`: protocols starting and returning, failed protocol writes, broadcast drops.
//!
//! With `env_logger` in your `[dependencies]`:
//!
//! ```text
//! fn main() {
//!     env_logger::init(); // then run with RUST_LOG=devp2p_peer=debug
//!     // …
//! }
//! ```
//!
//! # Debug builds of a program using this crate
//!
//! The RLPx crypto and compression crates are slow unoptimised (keccak runs at a few MB/s),
//! so a debug build of a program that moves data over RLPx is many times slower than a
//! release one. This crate's own `[profile.dev.package.*]` settings apply to its tests only:
//! Cargo reads profiles from the workspace being built, not from dependencies. Add these
//! lines to your own `Cargo.toml` (the workspace root's) to build just those crates optimised
//! in your debug builds:
//!
//! ```toml
//! [profile.dev.package.keccak]
//! opt-level = 3
//! [profile.dev.package.sha3]
//! opt-level = 3
//! [profile.dev.package.aes]
//! opt-level = 3
//! [profile.dev.package.ctr]
//! opt-level = 3
//! [profile.dev.package.snap]
//! opt-level = 3
//! [profile.dev.package.secp256k1-sys]
//! opt-level = 3
//! ```
//!
//! (Or optimise every dependency, and keep your own code debuggable, with
//! `[profile.dev.package."*"]` and `opt-level = 2`.)
//!
//! # Names
//!
//! [`Msg`] is the message protocols read and write (codes relative to the protocol). The
//! transport's raw frame message is [`rlpx::RawMsg`]. A node's identity is a [`NodeId`]
//! everywhere ([`Peer::id`], [`rlpx::Enode::id`], [`rlpx::PublicKey::node_id`]). The RLPx
//! machinery (ECIES, the handshake state machines, MAC, frame codec) is in [`rlpx::wire`].
//!
//! # Threads and channels
//!
//! [`Peer::run`] is the supervisor; it starts one thread per protocol
//! (`proto-<name>/<version>`), times the Pings, and starts on demand a standby reader
//! (`peer-read`) and a control writer (`peer-ctl`); it joins them all before it returns.
//! Writes from all protocols are serialised by a single write token; a failed write ends
//! the peer. Inbound messages are handed to a protocol by rendezvous, so a
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
    MemoryTransport, Transport, TryWrite, BASE_PROTOCOL_MAX_MSG_SIZE, BASE_PROTOCOL_VERSION,
    DISC_MSG, DISC_WRITE_TIMEOUT, HANDSHAKE_MSG, MEMORY_WRITE_TIMEOUT, PING_MSG, PONG_MSG,
};
pub use crate::writer::ProtoWriter;
