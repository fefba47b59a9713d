//! The RLPx transport: node keys and `enode://` URLs, ECIES, the EIP-8
//! encryption handshake, the encrypted and authenticated frame codec (with
//! optional snappy compression), and a blocking connection type.
//!
//! The crypto and framing are I/O-free ([`Initiator`], [`Recipient`],
//! [`FrameEgress`], [`FrameIngress`]); [`Conn`] drives them over a blocking
//! socket with whole-operation deadlines. After the handshake a `Conn` can be
//! [split](Conn::split) into a [`ConnReader`] and a [`ConnWriter`] for two
//! threads; either half (or a [`ShutdownHandle`]) can shut the socket down to
//! unblock the other.
//!
//! This layer only moves `(code, payload)` pairs. The devp2p Hello,
//! Disconnect and Ping messages belong to the layer above.
//!
//! The wire format, error texts and limits match go-ethereum's `p2p/rlpx`
//! package so the two interoperate.

mod conn;
pub mod ecies;
mod enode;
mod error;
mod frame;
mod handshake;
mod keys;
mod mac;
mod transport;

pub use conn::{
    Conn, ConnReader, ConnWriter, ShutdownHandle, Socket, Timeouts, HANDSHAKE_TIMEOUT,
    READ_TIMEOUT, WRITE_TIMEOUT,
};
pub use enode::Enode;
pub use error::{EnodeError, Result, RlpError, RlpxError};
pub use frame::{
    session, snappy_max_decoded_len, FrameEgress, FrameIngress, Msg, MAX_FRAME_SIZE, RELEASE_ABOVE,
};
pub use handshake::{
    decode_ack, decode_auth, packet_body_size, AckMsg, AuthMsg, AuthReceived, Initiator, Recipient,
    Secrets, SessionParams, HANDSHAKE_VERSION, MAX_PACKET_SIZE,
};
pub use keys::{node_id, PublicKey, SecretKey};
#[cfg(feature = "discovery")]
pub(crate) use mac::keccak256;
pub use mac::{KeccakMac, MacHash};
pub use transport::{RlpxTransport, SNAPPY_PROTOCOL_VERSION};
