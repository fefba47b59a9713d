//! Disconnect reasons: the codes of the devp2p `Disconnect` message.

use std::fmt;

use crate::strict_rlp::{self, Items, Kind, RlpError};

/// Why a devp2p connection ended: the reason carried by a `Disconnect` message (code `0x01`).
///
/// A newtype over the wire byte, so every value a remote can send is representable; the
/// named constants are the codes of the devp2p specification. `Display` gives the same text
/// as go-ethereum, so logs read alike across clients.
///
/// On the wire a reason is the RLP list `[reason]`. [`DiscReason::decode`] reads it as
/// go-ethereum does: it also accepts the bare (unlisted) form older clients sent, reads only
/// the first element of a list, and maps anything it cannot read to [`DiscReason::INVALID`].
///
/// # Examples
///
/// ```
/// use devp2p_peer::DiscReason;
///
/// assert_eq!(DiscReason::QUITTING.to_string(), "client quitting");
/// assert_eq!(DiscReason::QUITTING.encode(), vec![0xc1, 0x08]);
/// assert_eq!(DiscReason::decode(&[0x08]), DiscReason::QUITTING); // legacy bare form
/// assert_eq!(DiscReason(0x0c).to_string(), "unknown disconnect reason 12");
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DiscReason(pub u8);

impl DiscReason {
    /// `0x00`: the disconnect was requested.
    pub const REQUESTED: DiscReason = DiscReason(0x00);
    /// `0x01`: a network (TCP) error.
    pub const NETWORK_ERROR: DiscReason = DiscReason(0x01);
    /// `0x02`: a breach of the base protocol.
    pub const PROTOCOL_ERROR: DiscReason = DiscReason(0x02);
    /// `0x03`: the peer is useless (no shared protocol, or dropped by a protocol).
    pub const USELESS_PEER: DiscReason = DiscReason(0x03);
    /// `0x04`: too many peers.
    pub const TOO_MANY_PEERS: DiscReason = DiscReason(0x04);
    /// `0x05`: already connected to this node.
    pub const ALREADY_CONNECTED: DiscReason = DiscReason(0x05);
    /// `0x06`: incompatible p2p protocol version.
    pub const INCOMPATIBLE_VERSION: DiscReason = DiscReason(0x06);
    /// `0x07`: invalid (null) node identity.
    pub const INVALID_IDENTITY: DiscReason = DiscReason(0x07);
    /// `0x08`: the client is quitting.
    pub const QUITTING: DiscReason = DiscReason(0x08);
    /// `0x09`: the identity is not the one expected.
    pub const UNEXPECTED_IDENTITY: DiscReason = DiscReason(0x09);
    /// `0x0a`: connected to ourselves.
    pub const SELF: DiscReason = DiscReason(0x0a);
    /// `0x0b`: read (ping) timeout.
    pub const READ_TIMEOUT: DiscReason = DiscReason(0x0b);
    /// `0x10`: an error specific to a sub-protocol.
    pub const SUBPROTOCOL_ERROR: DiscReason = DiscReason(0x10);
    /// `0xff`: not a wire code; stands for a `Disconnect` message that could not be decoded.
    pub const INVALID: DiscReason = DiscReason(0xff);

    /// The input limit go-ethereum reads a `Disconnect` payload with: a header may declare
    /// at most this many bytes, header included.
    const MAX_PAYLOAD: usize = 100;

    /// The `Disconnect` payload for this reason: the RLP list `[reason]`.
    ///
    /// # Examples
    ///
    /// ```
    /// use devp2p_peer::DiscReason;
    /// assert_eq!(DiscReason::REQUESTED.encode(), vec![0xc1, 0x80]);
    /// assert_eq!(DiscReason::SUBPROTOCOL_ERROR.encode(), vec![0xc1, 0x10]);
    /// ```
    pub fn encode(self) -> Vec<u8> {
        match self.0 {
            0 => vec![0xc1, 0x80],
            b @ 1..=0x7f => vec![0xc1, b],
            b => vec![0xc2, 0x81, b],
        }
    }

    /// Reads a `Disconnect` payload as go-ethereum does; this never fails:
    ///
    /// - the list form `[reason, ...]`: the first element is the reason, later elements
    ///   are ignored, and so is the list's declared size as long as it stays within 100
    ///   bytes (header included): `c5 08` is "client quitting" even though four of its
    ///   declared bytes never came;
    /// - the legacy bare form (`08`, or `80` for 0), which some clients sent by accident;
    /// - bytes after the first value are ignored.
    ///
    /// Everything else gives [`DiscReason::INVALID`]: empty input, an empty list, a
    /// declared size over the 100-byte limit, a reason that is itself a list, a
    /// non-canonical integer (a bare `00`, `81 05`, a leading zero), a value above 255, a
    /// value cut off before its end.
    ///
    /// # Examples
    ///
    /// ```
    /// use devp2p_peer::DiscReason;
    /// assert_eq!(DiscReason::decode(&[0xc1, 0x04]), DiscReason::TOO_MANY_PEERS);
    /// assert_eq!(DiscReason::decode(&[0x80]), DiscReason::REQUESTED);
    /// assert_eq!(DiscReason::decode(&[0xc5, 0x08]), DiscReason::QUITTING);
    /// assert_eq!(DiscReason::decode(&[0xc2, 0x04, 0x08]), DiscReason::TOO_MANY_PEERS);
    /// assert_eq!(DiscReason::decode(&[0x00]), DiscReason::INVALID);
    /// assert_eq!(DiscReason::decode(&[0xc0]), DiscReason::INVALID);
    /// assert_eq!(DiscReason::decode(&[]), DiscReason::INVALID);
    /// ```
    pub fn decode(payload: &[u8]) -> DiscReason {
        match Self::read_code(payload) {
            Ok(code) => DiscReason(code),
            Err(_) => DiscReason::INVALID,
        }
    }

    /// The reason code in `payload`, read with go-ethereum's stream rules and 100-byte
    /// input limit.
    fn read_code(payload: &[u8]) -> Result<u8, RlpError> {
        let (kind, tag, size) = strict_rlp::header(payload)?;
        // Only the declared size is held against the limit: a list may announce more than
        // arrived, as long as its first element did.
        if size > (Self::MAX_PAYLOAD - tag) as u64 {
            return Err(RlpError::ValueTooLarge);
        }
        let item = if kind == Kind::List {
            let body = &payload[tag..];
            let declared = &body[..body.len().min(size as usize)];
            Items::new(declared)
                .next_item()?
                .ok_or(RlpError::TooFewElements)?
        } else {
            strict_rlp::split_item(payload, false)?.0
        };
        // At most 8 bits: `strict_rlp::uint` fails for anything wider.
        Ok(strict_rlp::uint(&item, 8)? as u8)
    }

    fn text(self) -> Option<&'static str> {
        Some(match self.0 {
            0x00 => "disconnect requested",
            0x01 => "network error",
            0x02 => "breach of protocol",
            0x03 => "useless peer",
            0x04 => "too many peers",
            0x05 => "already connected",
            0x06 => "incompatible p2p protocol version",
            0x07 => "invalid node identity",
            0x08 => "client quitting",
            0x09 => "unexpected identity",
            0x0a => "connected to self",
            0x0b => "read timeout",
            0x10 => "subprotocol error",
            0xff => "invalid disconnect reason",
            _ => return None,
        })
    }
}

impl fmt::Display for DiscReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.text() {
            Some(text) => f.write_str(text),
            None => write!(f, "unknown disconnect reason {}", self.0),
        }
    }
}

impl fmt::Debug for DiscReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DiscReason({:#04x}: {})", self.0, self)
    }
}

impl std::error::Error for DiscReason {}
