//! The error type of the RLPx layer.

use std::fmt;
use std::io;
use std::sync::Arc;

pub use crate::strict_rlp::RlpError;

/// Everything that can go wrong in the RLPx layer.
///
/// Variants fall into a few categories: I/O (including deadlines), key and
/// address parsing, ECIES and the encryption handshake, frame authentication
/// and decoding, snappy, and size limits. Where go-ethereum has an error text
/// for the same condition, [`Display`](fmt::Display) prints exactly that text,
/// so logs from both implementations read the same.
///
/// The type is cheap to clone (I/O errors are shared behind an [`Arc`]) and is
/// `Send + Sync + 'static`, so it can be handed between threads.
///
/// # Examples
///
/// ```
/// use devp2p_peer::rlpx::{Enode, RlpxError};
/// use devp2p_peer::Error;
/// let err: RlpxError = "enode://00@1.2.3.4:1".parse::<Enode>().unwrap_err().into();
/// assert!(matches!(err, RlpxError::InvalidEnode(_)));
/// // Inside the crate's error, as every transport failure:
/// assert!(matches!(Error::from(err), Error::Rlpx(RlpxError::InvalidEnode(_))));
/// assert_eq!(RlpxError::Timeout.to_string(), "i/o timeout");
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum RlpxError {
    // ---- I/O ----
    /// An I/O error from the underlying stream, including end of stream.
    Io(Arc<io::Error>),
    /// A read, write or handshake deadline expired.
    Timeout,
    /// The connection has not completed its encryption handshake yet.
    HandshakeNotDone,
    /// [`Conn::handshake`](super::Conn::handshake) was called a second time.
    HandshakeAlreadyDone,

    // ---- keys and addresses ----
    /// A secret key could not be parsed; the text says why.
    InvalidSecretKey(&'static str),
    /// A public key could not be parsed or is not on the curve; the text says why.
    InvalidPublicKey(&'static str),
    /// An `enode://` URL is malformed.
    InvalidEnode(EnodeError),

    // ---- ECIES and the encryption handshake ----
    /// The ECIES ephemeral public key is malformed or not on the curve.
    EciesInvalidPublicKey,
    /// The ECIES ciphertext is too short or its authentication tag does not match.
    EciesInvalidMessage,
    /// A handshake packet announced a size above 2048 bytes.
    HandshakeTooBig,
    /// A handshake packet decrypted correctly but its RLP body is malformed.
    InvalidHandshakeRlp(RlpError),
    /// A fixed-size handshake field (signature, key, nonce) has the wrong length.
    HandshakeFieldSize {
        /// Which field.
        field: &'static str,
        /// The size the protocol requires.
        expected: usize,
        /// The size that was received.
        got: usize,
    },
    /// No public key could be recovered from the auth signature.
    InvalidSignature,
    /// A handshake packet's length does not match its size prefix.
    HandshakeLength {
        /// Bytes the size prefix announces (prefix included).
        declared: usize,
        /// Bytes actually given.
        got: usize,
    },

    // ---- frames ----
    /// The MAC of a frame header does not match.
    BadHeaderMac,
    /// The MAC of a frame body does not match.
    BadFrameMac,
    /// The message code at the start of a frame is not a canonical RLP integer.
    InvalidMessageCode(RlpError),
    /// Snappy rejected a compressed message.
    Snappy(snap::Error),
    /// A snappy message declares a decompressed length its compressed bytes
    /// cannot produce (checked before allocating). The text is the one
    /// go-ethereum's snappy package gives for corrupt input.
    SnappyImpossibleLength {
        /// The decompressed length the message declares.
        declared: usize,
        /// The most its compressed bytes can decode to.
        max: usize,
    },

    // ---- size limits ----
    /// A message (or its declared decompressed size) exceeds 0xFFFFFF bytes.
    PlainMessageTooLarge,
    /// A frame header announced a body larger than the reader's current limit
    /// (2 KiB plus the message code before the devp2p Hello; see
    /// [`FrameIngress::set_max_frame_size`](super::wire::FrameIngress::set_max_frame_size)).
    /// Detected on the header, before the body is read. The text is
    /// go-ethereum's for an oversized Hello.
    FrameOverLimit {
        /// The body size the header announced.
        size: usize,
        /// The limit in force.
        limit: usize,
    },
    /// After snappy compression, code plus payload no longer fits in one frame
    /// (0xFFFFFF bytes). Only possible for incompressible data close to the limit.
    FrameTooLarge {
        /// Size of the frame content (RLP code plus compressed payload).
        size: usize,
    },
}

impl RlpxError {
    /// True if this error is a deadline expiry.
    pub fn is_timeout(&self) -> bool {
        matches!(self, RlpxError::Timeout)
    }

    /// True if the remote closed the connection cleanly (end of stream).
    pub fn is_eof(&self) -> bool {
        matches!(self, RlpxError::Io(e) if e.kind() == io::ErrorKind::UnexpectedEof)
    }
}

impl fmt::Display for RlpxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RlpxError::Io(e) if e.kind() == io::ErrorKind::UnexpectedEof => f.write_str("EOF"),
            RlpxError::Io(e) => write!(f, "{e}"),
            RlpxError::Timeout => f.write_str("i/o timeout"),
            RlpxError::HandshakeNotDone => f.write_str("rlpx: encryption handshake not done"),
            RlpxError::HandshakeAlreadyDone => f.write_str("rlpx: can't handshake twice"),
            RlpxError::InvalidSecretKey(why) => write!(f, "invalid secret key: {why}"),
            RlpxError::InvalidPublicKey(why) => write!(f, "invalid public key: {why}"),
            RlpxError::InvalidEnode(e) => write!(f, "invalid enode: {e}"),
            RlpxError::EciesInvalidPublicKey => f.write_str("ecies: invalid public key"),
            RlpxError::EciesInvalidMessage => f.write_str("ecies: invalid message"),
            RlpxError::HandshakeTooBig => f.write_str("message too big"),
            RlpxError::InvalidHandshakeRlp(e) => write!(f, "invalid handshake message: {e}"),
            RlpxError::HandshakeFieldSize {
                field,
                expected,
                got,
            } => write!(
                f,
                "invalid handshake message: {field} has {got} bytes, want {expected}"
            ),
            RlpxError::InvalidSignature => f.write_str("invalid signature in auth message"),
            RlpxError::HandshakeLength { declared, got } => write!(
                f,
                "handshake packet of {got} bytes, size prefix announces {declared}"
            ),
            RlpxError::BadHeaderMac => f.write_str("bad header MAC"),
            RlpxError::BadFrameMac => f.write_str("bad frame MAC"),
            RlpxError::InvalidMessageCode(e) => write!(f, "invalid message code: {e}"),
            RlpxError::Snappy(e) => write!(f, "{e}"),
            RlpxError::SnappyImpossibleLength { .. } => f.write_str("snappy: corrupt input"),
            RlpxError::FrameOverLimit { .. } => f.write_str("message too big"),
            RlpxError::PlainMessageTooLarge => f.write_str("message length >= 16MB"),
            RlpxError::FrameTooLarge { size } => write!(
                f,
                "message length >= 16MB (frame of {size} bytes after compression)"
            ),
        }
    }
}

impl std::error::Error for RlpxError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            RlpxError::Io(e) => Some(&**e),
            RlpxError::InvalidEnode(e) => Some(e),
            RlpxError::InvalidHandshakeRlp(e) | RlpxError::InvalidMessageCode(e) => Some(e),
            RlpxError::Snappy(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for RlpxError {
    /// Socket timeouts (`WouldBlock` / `TimedOut`, depending on the platform)
    /// become [`RlpxError::Timeout`]; everything else is kept as I/O.
    fn from(e: io::Error) -> Self {
        match e.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => RlpxError::Timeout,
            _ => RlpxError::Io(Arc::new(e)),
        }
    }
}

impl From<snap::Error> for RlpxError {
    fn from(e: snap::Error) -> Self {
        RlpxError::Snappy(e)
    }
}

impl From<EnodeError> for RlpxError {
    fn from(e: EnodeError) -> Self {
        RlpxError::InvalidEnode(e)
    }
}

/// Why an `enode://` URL was rejected: one variant per malformed part.
///
/// # Examples
///
/// ```
/// use devp2p_peer::rlpx::{Enode, EnodeError};
/// let err = "http://example.com".parse::<Enode>().unwrap_err();
/// assert_eq!(err, EnodeError::Scheme);
/// assert_eq!(err.to_string(), "missing 'enode://' scheme");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EnodeError {
    /// The URL does not start with `enode://`.
    Scheme,
    /// There is no `@` between the node key and the host.
    MissingAt,
    /// The node key is not valid hexadecimal.
    BadHex,
    /// The node key does not have 64 bytes (128 hex digits); holds the byte count.
    KeyLength(usize),
    /// The node key is not a point on the secp256k1 curve.
    KeyNotOnCurve,
    /// The host is not an IPv4 address or a bracketed IPv6 address.
    BadIp(String),
    /// The TCP port is missing or not a number in 0..=65535.
    BadPort(String),
    /// The `discport` query value is not a number in 0..=65535.
    BadDiscport(String),
    /// The query string has a parameter other than `discport`.
    UnknownQuery(String),
}

impl fmt::Display for EnodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EnodeError::Scheme => f.write_str("missing 'enode://' scheme"),
            EnodeError::MissingAt => f.write_str("missing '@' between node key and host"),
            EnodeError::BadHex => f.write_str("node key is not valid hex"),
            EnodeError::KeyLength(n) => write!(f, "node key has {n} bytes, want 64"),
            EnodeError::KeyNotOnCurve => f.write_str("node key is not on the secp256k1 curve"),
            EnodeError::BadIp(s) => write!(f, "invalid IP address {s:?}"),
            EnodeError::BadPort(s) => write!(f, "invalid TCP port {s:?}"),
            EnodeError::BadDiscport(s) => write!(f, "invalid discport {s:?}"),
            EnodeError::UnknownQuery(s) => write!(f, "unknown query parameter {s:?}"),
        }
    }
}

impl std::error::Error for EnodeError {}

/// Shorthand for results of this module.
pub type Result<T, E = RlpxError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_is_send_sync_clone_static() {
        fn check<T: Send + Sync + Clone + 'static>() {}
        check::<RlpxError>();
    }

    #[test]
    fn timeouts_map_to_timeout() {
        let e: RlpxError = io::Error::from(io::ErrorKind::WouldBlock).into();
        assert!(e.is_timeout());
        let e: RlpxError = io::Error::from(io::ErrorKind::UnexpectedEof).into();
        assert!(e.is_eof());
        assert_eq!(e.to_string(), "EOF");
    }
}
