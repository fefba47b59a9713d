//! devp2p-peer (docs to come).
#![deny(missing_docs)]

mod disc;
mod error;
mod event;
mod message;
mod node;
mod peer;
mod pipe;
mod protocol;
#[cfg(feature = "rlpx")]
mod server;
mod transport;
mod util;
mod wait_group;

#[cfg(feature = "rlpx")]
pub mod rlpx;

pub use crate::disc::DiscReason;
pub use crate::error::{disc_reason_for_error, Error};
pub use crate::event::{EventFeed, MsgEventer, PeerEvent, PeerEventType};
pub use crate::message::{
    expect_msg, send, send_items, Msg, MsgReadWriter, MsgReader, MsgWriter, Payload, RlpList,
};
pub use crate::node::NodeId;
pub use crate::peer::{
    ConnFlags, ConnInfo, NetworkInfo, Peer, PeerConfig, PeerInfo, ProtoRw, ProtocolStats,
    PING_INTERVAL,
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
pub use crate::transport::{
    do_protocol_handshake, read_protocol_handshake, Hello, MemoryTransport, Transport,
    BASE_PROTOCOL_MAX_MSG_SIZE, BASE_PROTOCOL_VERSION, DISC_MSG, DISC_WRITE_TIMEOUT, HANDSHAKE_MSG,
    PING_MSG, PONG_MSG,
};
