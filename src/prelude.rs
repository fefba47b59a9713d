//! The names most programs need, in one import: `use devp2p_peer::prelude::*;`.
//!
//! It brings the peer and its protocols ([`Peer`], [`Protocol`], [`Cap`], [`Msg`] and the
//! reader/writer traits, [`send`]/[`send_items`]), the errors ([`Error`], [`DiscReason`]),
//! events and broadcasting, and with the `rlpx` feature the transport, keys, `enode://` URLs
//! and the [`Server`]. The `rlp` crate comes along as [`rlp`], so
//! `rlp::Encodable` is the version this crate uses.
//!
//! # Examples
//!
//! ```
//! use devp2p_peer::prelude::*;
//!
//! let echo = Protocol::new("echo", 1, 8, |_peer: Peer, rw: ProtoRw| loop {
//!     let msg = rw.read_msg()?;
//!     rw.write_msg(Msg::new(msg.code, msg.payload.into_vec()))?;
//! });
//! assert_eq!(echo.cap(), Cap::new("echo", 1));
//! let _ = rlp::encode(&1u8);
//! ```

pub use crate::rlp;
pub use crate::{
    send, send_items, Broadcaster, Cap, ConnFlags, ConnInfo, DiscReason, Error, EventFeed,
    MemoryTransport, Msg, MsgReadWriter, MsgReader, MsgWriter, NodeId, Peer, PeerConfig, PeerEvent,
    PeerEventType, ProtoRw, ProtoWriter, Protocol, Transport,
};

#[cfg(feature = "rlpx")]
pub use crate::rlpx::{Enode, RlpxTransport, SecretKey};
#[cfg(feature = "rlpx")]
pub use crate::{Hello, Server, ServerConfig};
