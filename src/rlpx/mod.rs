//! The RLPx transport: node keys and `enode://` URLs, and [`RlpxTransport`], the peer's
//! encrypted transport over TCP.
//!
//! The user-facing API is at this level: [`RlpxTransport::dial`] an [`Enode`] (or accept a
//! stream with [`RlpxTransport::handshake`]), exchange Hellos, turn the transport into a
//! [`Peer`](crate::Peer). [`Conn`] is the blocking encrypted connection underneath, for
//! programs that speak RLPx without the peer layer: it moves `(code, payload)` pairs
//! ([`RawMsg`]); the devp2p Hello, Disconnect and Ping belong to the layer above.
//!
//! The machinery (ECIES, the EIP-8 handshake state machines, the MAC and the frame codec,
//! all I/O-free) is in [`wire`], for tests, tools and other transports.
//!
//! The wire format, error texts and limits match go-ethereum's `p2p/rlpx`
//! package so the two interoperate.
//!
//! # Examples
//!
//! ```no_run
//! use std::time::Duration;
//! use devp2p_peer::rlpx::{Enode, RlpxTransport, SecretKey};
//! use devp2p_peer::Hello;
//! # fn main() -> Result<(), devp2p_peer::Error> {
//! let key = SecretKey::random();
//! let node: Enode = "enode://…@127.0.0.1:30303".parse()?;
//! let t = RlpxTransport::dial(&node, &key, Duration::from_secs(15))?;
//! let hello = Hello::new("probe/v0.1", vec![], key.public_key().to_bytes());
//! println!("{}", t.protocol_handshake(&hello)?.name);
//! # Ok(()) }
//! ```

mod aes;
mod conn;
mod ecies;
mod enode;
mod error;
mod frame;
mod handshake;
mod keys;
mod mac;
mod transport;

pub use conn::{
    Conn, ConnReader, ConnWriter, ShutdownHandle, Socket, Timeouts, TrySend, HANDSHAKE_TIMEOUT,
    READ_TIMEOUT, WRITE_TIMEOUT,
};
pub use enode::Enode;
pub use error::{EnodeError, Result, RlpError, RlpxError};
pub use frame::{RawMsg, MAX_FRAME_SIZE};
pub use keys::{node_id, PublicKey, SecretKey};
#[cfg(feature = "discovery")]
pub(crate) use mac::keccak256;
pub use transport::{RlpxTransport, SNAPPY_PROTOCOL_VERSION};

/// RLPx's low-level machinery, I/O-free: ECIES, the EIP-8 auth/ack handshake
/// ([`Initiator`](wire::Initiator), [`Recipient`](wire::Recipient)), the secrets it derives,
/// the keccak MAC and the frame codec ([`FrameEgress`](wire::FrameEgress),
/// [`FrameIngress`](wire::FrameIngress)). [`Conn`] drives them over a socket; most programs
/// never need this module.
pub mod wire {
    pub use super::aes::{AesCtr, AesImpl};
    pub use super::frame::{
        session, snappy_max_decoded_len, FrameEgress, FrameIngress, RELEASE_ABOVE,
    };
    pub use super::handshake::{
        decode_ack, decode_auth, packet_body_size, AckMsg, AuthMsg, AuthReceived, Initiator,
        Recipient, Secrets, SessionParams, HANDSHAKE_VERSION, MAX_PACKET_SIZE,
    };
    pub use super::mac::{KeccakMac, MacHash};

    /// ECIES over secp256k1 as RLPx uses it to seal the handshake packets (see the
    /// module's source for the layout).
    pub mod ecies {
        pub use crate::rlpx::ecies::{decrypt, encrypt, encrypt_with, OVERHEAD};
    }
}
