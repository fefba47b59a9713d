//! The crate's error type and the mapping from errors to disconnect reasons.

use std::fmt;
use std::io;
use std::sync::Arc;

use crate::DiscReason;

/// Everything that can end a message operation, a handshake or a peer.
///
/// One enum for the whole crate, cheap to clone (so the same error can be handed to a
/// protocol and to the peer's supervisor). Texts follow go-ethereum's where it has one, so
/// logs can be grepped alike. New variants may be added: match with a wildcard arm.
///
/// Use [`disc_reason_for_error`] for the reason a peer sends when an error ends it.
///
/// # Examples
///
/// ```
/// use devp2p_peer::{disc_reason_for_error, DiscReason, Error};
///
/// let e = Error::invalid_msg("(code 10) (size 3) bad list");
/// assert_eq!(e.to_string(), "invalid message: (code 10) (size 3) bad list");
/// assert_eq!(disc_reason_for_error(&e), DiscReason::PROTOCOL_ERROR);
/// assert_eq!(disc_reason_for_error(&Error::ProtocolReturned), DiscReason::QUITTING);
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Error {
    /// The connection ended, or is to end, with this disconnect reason (sent by the remote,
    /// requested locally, or returned by a protocol).
    Disconnected(DiscReason),
    /// A message code outside the sender's or receiver's range: `invalid message code[: detail]`.
    ///
    /// A protocol that writes a code beyond its length gets `invalid message code: not
    /// handled`; returned from its `run`, that ends the peer with "breach of protocol"
    /// ([`DiscReason::PROTOCOL_ERROR`]). Both are go-ethereum's (`protoRW.WriteMsg`,
    /// `discReasonForError`), kept deliberately so that the remote sees what geth sends. A
    /// received code beyond every protocol is [`Error::MsgCodeOutOfRange`] ("subprotocol
    /// error"), also as in geth.
    InvalidMsgCode(String),
    /// A message that could not be decoded: `invalid message[: detail]`.
    InvalidMsg(String),
    /// A protocol's `run` returned `Ok(())`: `protocol returned`.
    ProtocolReturned,
    /// A protocol's `run` panicked; the peer shut down cleanly instead of the process.
    ProtocolPanicked {
        /// The protocol, as `name/version`.
        protocol: String,
        /// The panic's message, when it was a string.
        message: String,
    },
    /// A write on a peer that is shutting down: `shutting down`.
    ShuttingDown,
    /// The end of the message stream (a protocol's reader after the peer closed): `EOF`.
    Eof,
    /// A read or write on a closed [`MsgPipeRw`](crate::MsgPipeRw):
    /// `p2p: read or write on closed message pipe`.
    PipeClosed,
    /// A message whose code belongs to no running protocol: `msg code out of range: N`.
    MsgCodeOutOfRange(u64),
    /// A handshake message over the 2 KiB limit: `message too big`.
    MessageTooBig,
    /// The first message of a connection was neither Hello nor Disconnect:
    /// `expected handshake, got <hex code>`.
    ExpectedHandshake(u64),
    /// A message that is not the one expected (see [`expect_msg`](crate::expect_msg)).
    Mismatch(String),
    /// A payload that is not valid RLP for the type asked for.
    Rlp(rlp::DecoderError),
    /// An I/O error, including read and write timeouts.
    Io(Arc<io::Error>),
    /// The RLPx transport failed (handshake, frame, MAC, snappy, sizes, socket I/O).
    #[cfg(feature = "rlpx")]
    Rlpx(crate::rlpx::RlpxError),
    /// An error returned by a protocol's own code.
    Protocol(Arc<dyn std::error::Error + Send + Sync>),
    /// An error described only by its text.
    Other(String),
}

impl Error {
    /// `invalid message code: detail` (or just `invalid message code` when `detail` is empty).
    pub fn invalid_msg_code(detail: impl Into<String>) -> Error {
        Error::InvalidMsgCode(detail.into())
    }

    /// `invalid message: detail` (or just `invalid message` when `detail` is empty).
    pub fn invalid_msg(detail: impl Into<String>) -> Error {
        Error::InvalidMsg(detail.into())
    }

    /// Wraps an error of a protocol's own; it displays as the wrapped error does.
    pub fn protocol(err: impl std::error::Error + Send + Sync + 'static) -> Error {
        Error::Protocol(Arc::new(err))
    }

    /// An error with just a text.
    pub fn other(text: impl Into<String>) -> Error {
        Error::Other(text.into())
    }

    /// The disconnect reason, when this error is one.
    pub fn disc_reason(&self) -> Option<DiscReason> {
        match self {
            Error::Disconnected(r) => Some(*r),
            _ => None,
        }
    }

    /// True for the I/O errors of an expired read or write deadline.
    pub fn is_timeout(&self) -> bool {
        match self {
            Error::Io(e) => matches!(
                e.kind(),
                io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
            ),
            _ => false,
        }
    }
}

fn with_detail(f: &mut fmt::Formatter<'_>, base: &str, detail: &str) -> fmt::Result {
    if detail.is_empty() {
        f.write_str(base)
    } else {
        write!(f, "{base}: {detail}")
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Disconnected(r) => fmt::Display::fmt(r, f),
            Error::InvalidMsgCode(d) => with_detail(f, "invalid message code", d),
            Error::InvalidMsg(d) => with_detail(f, "invalid message", d),
            Error::ProtocolReturned => f.write_str("protocol returned"),
            Error::ProtocolPanicked { protocol, message } => {
                write!(f, "protocol {protocol} panicked: {message}")
            }
            Error::ShuttingDown => f.write_str("shutting down"),
            Error::Eof => f.write_str("EOF"),
            Error::PipeClosed => f.write_str("p2p: read or write on closed message pipe"),
            Error::MsgCodeOutOfRange(c) => write!(f, "msg code out of range: {c}"),
            Error::MessageTooBig => f.write_str("message too big"),
            Error::ExpectedHandshake(c) => write!(f, "expected handshake, got {c:x}"),
            Error::Mismatch(t) | Error::Other(t) => f.write_str(t),
            Error::Rlp(e) => write!(f, "rlp: {e}"),
            Error::Io(e) => fmt::Display::fmt(e, f),
            #[cfg(feature = "rlpx")]
            Error::Rlpx(e) => fmt::Display::fmt(e, f),
            Error::Protocol(e) => fmt::Display::fmt(e, f),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io(e) => Some(&**e),
            Error::Disconnected(r) => Some(r),
            #[cfg(feature = "rlpx")]
            Error::Rlpx(e) => Some(e),
            Error::Protocol(e) => Some(&**e),
            _ => None,
        }
    }
}

impl From<DiscReason> for Error {
    fn from(r: DiscReason) -> Error {
        Error::Disconnected(r)
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Error {
        Error::Io(Arc::new(e))
    }
}

impl From<rlp::DecoderError> for Error {
    fn from(e: rlp::DecoderError) -> Error {
        Error::Rlp(e)
    }
}

#[cfg(feature = "rlpx")]
impl From<crate::rlpx::RlpxError> for Error {
    fn from(e: crate::rlpx::RlpxError) -> Error {
        Error::Rlpx(e)
    }
}

/// A bad `enode://` URL, as [`RlpxError::InvalidEnode`](crate::rlpx::RlpxError::InvalidEnode).
#[cfg(feature = "rlpx")]
impl From<crate::rlpx::EnodeError> for Error {
    fn from(e: crate::rlpx::EnodeError) -> Error {
        Error::Rlpx(e.into())
    }
}

/// The reason a peer sends when `err` ends it:
///
/// - a disconnect reason is sent as itself;
/// - [`Error::ProtocolReturned`] (a protocol returned `Ok`) gives [`DiscReason::QUITTING`];
/// - [`Error::InvalidMsgCode`] and [`Error::InvalidMsg`] give [`DiscReason::PROTOCOL_ERROR`];
/// - anything else gives [`DiscReason::SUBPROTOCOL_ERROR`].
///
/// # Examples
///
/// ```
/// use devp2p_peer::{disc_reason_for_error, DiscReason, Error};
/// assert_eq!(disc_reason_for_error(&DiscReason::USELESS_PEER.into()), DiscReason::USELESS_PEER);
/// assert_eq!(disc_reason_for_error(&Error::Eof), DiscReason::SUBPROTOCOL_ERROR);
/// ```
pub fn disc_reason_for_error(err: &Error) -> DiscReason {
    match err {
        Error::Disconnected(r) => *r,
        Error::ProtocolReturned => DiscReason::QUITTING,
        Error::InvalidMsgCode(_) | Error::InvalidMsg(_) => DiscReason::PROTOCOL_ERROR,
        _ => DiscReason::SUBPROTOCOL_ERROR,
    }
}
