//! The Status handshake, with go-ethereum's checks, limits, timeout and error texts.

use std::fmt;
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::bounded;

use super::hash::hex;
use super::{ForkFilter, ForkIdError, Status, HANDSHAKE_TIMEOUT, MAX_MESSAGE_SIZE, STATUS_MSG};
use crate::{disc_reason_for_error, DiscReason, Error, Msg, MsgReader, MsgWriter, Peer};

/// Why a Status handshake failed. `Display` gives go-ethereum's texts.
///
/// Converts into the crate's [`Error`] so a protocol's `run` can return it with `?`; the
/// peer then disconnects with [`HandshakeError::disc_reason`] as go-ethereum does: "read
/// timeout" for a timeout, "breach of protocol" for an undecodable Status, "subprotocol
/// error" for a mismatch.
///
/// # Examples
///
/// ```
/// use devp2p_peer::eth::HandshakeError;
/// use devp2p_peer::{DiscReason, Error};
///
/// let e = HandshakeError::NetworkIdMismatch { remote: 5, local: 1 };
/// assert_eq!(e.to_string(), "network ID mismatch: 5 (!= 1)");
/// assert_eq!(e.disc_reason(), DiscReason::SUBPROTOCOL_ERROR);
/// let e: Error = HandshakeError::Timeout.into();
/// assert_eq!(e.disc_reason(), Some(DiscReason::READ_TIMEOUT));
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum HandshakeError {
    /// The first message was not a Status: `no status message: first msg has code C (!= 0)`.
    NoStatusMsg {
        /// The code of the message received (relative to the protocol, hexadecimal in the
        /// text).
        code: u64,
    },
    /// A Status over 10 MiB: `message too long: S > 10485760`.
    MsgTooLarge {
        /// The message's size.
        size: u32,
    },
    /// A Status that does not decode: the message error (`invalid message: (code 0) (size S)
    /// rlp: ...`).
    Decode(Error),
    /// `network ID mismatch: R (!= L)`.
    NetworkIdMismatch {
        /// The remote's network ID.
        remote: u64,
        /// Ours.
        local: u64,
    },
    /// `protocol version mismatch: R (!= L)`.
    ProtocolVersionMismatch {
        /// The version in the remote's Status.
        remote: u32,
        /// The version this connection negotiated.
        local: u32,
    },
    /// `genesis mismatch: R (!= L)` (hashes in hex).
    GenesisMismatch {
        /// The remote's genesis hash.
        remote: super::H256,
        /// Ours.
        local: super::H256,
    },
    /// `fork ID rejected: <reason>`.
    ForkIdRejected(ForkIdError),
    /// An eth/69 Status with a bad block range: `invalid block range in status: <reason>`.
    InvalidBlockRange(&'static str),
    /// The handshake did not finish within its time: `read timeout` (go-ethereum returns
    /// its disconnect reason).
    Timeout,
    /// Sending or receiving failed: the peer layer's error (the peer is shutting down, the
    /// remote disconnected, the connection broke).
    Peer(Error),
}

impl HandshakeError {
    /// The reason the peer disconnects with when this error ends it.
    pub fn disc_reason(&self) -> DiscReason {
        match self {
            HandshakeError::Timeout => DiscReason::READ_TIMEOUT,
            HandshakeError::Decode(e) | HandshakeError::Peer(e) => disc_reason_for_error(e),
            _ => DiscReason::SUBPROTOCOL_ERROR,
        }
    }
}

impl fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HandshakeError::NoStatusMsg { code } => write!(
                f,
                "no status message: first msg has code {code:x} (!= {STATUS_MSG:x})"
            ),
            HandshakeError::MsgTooLarge { size } => {
                write!(f, "message too long: {size} > {MAX_MESSAGE_SIZE}")
            }
            HandshakeError::Decode(e) | HandshakeError::Peer(e) => fmt::Display::fmt(e, f),
            HandshakeError::NetworkIdMismatch { remote, local } => {
                write!(f, "network ID mismatch: {remote} (!= {local})")
            }
            HandshakeError::ProtocolVersionMismatch { remote, local } => {
                write!(f, "protocol version mismatch: {remote} (!= {local})")
            }
            HandshakeError::GenesisMismatch { remote, local } => write!(
                f,
                "genesis mismatch: {} (!= {})",
                hex(remote.as_bytes()),
                hex(local.as_bytes())
            ),
            HandshakeError::ForkIdRejected(e) => write!(f, "fork ID rejected: {e}"),
            HandshakeError::InvalidBlockRange(e) => {
                write!(f, "invalid block range in status: {e}")
            }
            HandshakeError::Timeout => fmt::Display::fmt(&DiscReason::READ_TIMEOUT, f),
        }
    }
}

impl std::error::Error for HandshakeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            HandshakeError::Decode(e) | HandshakeError::Peer(e) => Some(e),
            HandshakeError::ForkIdRejected(e) => Some(e),
            _ => None,
        }
    }
}

impl From<HandshakeError> for Error {
    /// A timeout becomes the disconnect reason "read timeout", a decode or peer error
    /// itself, a mismatch a protocol error that disconnects with "subprotocol error".
    fn from(e: HandshakeError) -> Error {
        match e {
            HandshakeError::Timeout => Error::Disconnected(DiscReason::READ_TIMEOUT),
            HandshakeError::Decode(e) | HandshakeError::Peer(e) => e,
            other => Error::protocol(other),
        }
    }
}

/// Exchanges Status messages on a freshly started eth protocol and checks the remote's:
/// go-ethereum's handshake, bounded by [`HANDSHAKE_TIMEOUT`] (5 s).
///
/// Call it first thing in an eth protocol's `run`, with the `peer` and `rw` it got. It
/// sends `local` and reads the remote's Status at the same time (each on a thread of its
/// own, both joined before it returns), and checks, in go-ethereum's order:
///
/// 1. the first message is a Status (else [`HandshakeError::NoStatusMsg`]),
/// 2. of at most 10 MiB ([`MAX_MESSAGE_SIZE`]; else [`HandshakeError::MsgTooLarge`]),
/// 3. that decodes in `local`'s version's shape ([`HandshakeError::Decode`]),
/// 4. with our network ID, our protocol version and our genesis hash,
/// 5. a fork ID `filter` accepts,
/// 6. and, for eth/69, a valid block range.
///
/// On success it returns the remote's Status. On a failed check it still waits (within the
/// time limit) for our Status to be sent, so that the error it returns is what ends the
/// peer. When the time runs out with the send or the read still blocked (a remote that does
/// not read, or never sends), it asks `peer` to disconnect with the error's reason ("read
/// timeout" for a plain timeout), which unblocks them; the peer's [`run`](Peer::run) then
/// reports that reason. `peer` must be the peer `rw` belongs to.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use devp2p_peer::eth::{self, Chain, ForkFilter, Status};
/// use devp2p_peer::*;
///
/// let proto = || eth::protocol(69, |peer, rw| {
///     let chain = Chain::mainnet();
///     let ours = Status::new(69, &chain, 0, 0).unwrap();
///     let theirs = eth::handshake(&peer, &rw, &ours, &ForkFilter::new(&chain, 0, 0))?;
///     assert_eq!(theirs.genesis(), chain.genesis_hash);
///     Err(DiscReason::REQUESTED.into()) // done
/// });
/// let (a, b) = MemoryTransport::pair();
/// let conn = |id| ConnInfo { id: NodeId([id; 32]), caps: vec![Cap::new("eth", 69)], ..ConnInfo::default() };
/// let pa = Peer::new(conn(2), Arc::new(a), &[proto()], PeerConfig::default());
/// let pb = Peer::new(conn(1), Arc::new(b), &[proto()], PeerConfig::default());
/// let t = std::thread::spawn(move || pb.run());
/// let (_, err) = pa.run();
/// assert_eq!(err.disc_reason(), Some(DiscReason::REQUESTED));
/// t.join().unwrap();
/// ```
pub fn handshake<RW>(
    peer: &Peer,
    rw: &RW,
    local: &Status,
    filter: &ForkFilter,
) -> Result<Status, HandshakeError>
where
    RW: MsgReader + MsgWriter + ?Sized,
{
    handshake_timeout(peer, rw, local, filter, HANDSHAKE_TIMEOUT)
}

/// [`handshake`] with a time limit other than 5 s.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use devp2p_peer::eth::{self, Chain, ForkFilter, HandshakeError, Status};
/// use devp2p_peer::{msg_pipe, send, MsgReader, NodeId, Peer, RlpList};
///
/// // A remote that reads our Status and answers with something else.
/// let (ours, theirs) = msg_pipe();
/// let t = std::thread::spawn(move || {
///     theirs.read_msg()?;
///     send(&theirs, eth::TRANSACTIONS_MSG, &RlpList(&[]))
/// });
/// let peer = Peer::new_test(NodeId([1; 32]), "remote", vec![]);
/// let chain = Chain::mainnet();
/// let status = Status::new(68, &chain, 0, 0).unwrap();
/// let filter = ForkFilter::new(&chain, 0, 0);
/// let err = eth::handshake_timeout(&peer, &ours, &status, &filter, Duration::from_secs(20))
///     .unwrap_err();
/// assert!(matches!(err, HandshakeError::NoStatusMsg { code: 2 }));
/// assert_eq!(err.to_string(), "no status message: first msg has code 2 (!= 0)");
/// t.join().unwrap().unwrap();
/// ```
pub fn handshake_timeout<RW>(
    peer: &Peer,
    rw: &RW,
    local: &Status,
    filter: &ForkFilter,
    timeout: Duration,
) -> Result<Status, HandshakeError>
where
    RW: MsgReader + MsgWriter + ?Sized,
{
    enum Done {
        Sent(Result<(), Error>),
        Read(Result<Status, HandshakeError>),
    }
    let deadline = Instant::now().checked_add(timeout);
    let payload = local.encode();
    thread::scope(|s| {
        let (tx, rx) = bounded::<Done>(2);
        // How many threads run, hence how many results to wait for; a thread that could not
        // start is the error (after waiting for, or unblocking, one that did).
        let mut expected = 0;
        let mut first_err = None;
        let sender = tx.clone();
        match thread::Builder::new()
            .name("eth-status-send".into())
            .spawn_scoped(s, move || {
                let _ = sender.send(Done::Sent(rw.write_msg(Msg::new(STATUS_MSG, payload))));
            }) {
            Ok(_) => expected += 1,
            Err(e) => first_err = Some(HandshakeError::Peer(e.into())),
        }
        if first_err.is_none() {
            match thread::Builder::new()
                .name("eth-status-read".into())
                .spawn_scoped(s, move || {
                    let _ = tx.send(Done::Read(read_status(rw, local, filter)));
                }) {
                Ok(_) => expected += 1,
                Err(e) => first_err = Some(HandshakeError::Peer(e.into())),
            }
        }
        let mut remote = None;
        let mut done = 0;
        while done < expected {
            let next = match deadline {
                Some(d) => rx.recv_deadline(d).ok(),
                None => rx.recv().ok(),
            };
            let Some(result) = next else {
                break; // The deadline passed.
            };
            done += 1;
            match result {
                Done::Sent(Ok(())) => {}
                Done::Sent(Err(e)) => {
                    first_err.get_or_insert(HandshakeError::Peer(e));
                }
                Done::Read(Ok(status)) => remote = Some(status),
                Done::Read(Err(e)) => {
                    first_err.get_or_insert(e);
                }
            }
        }
        if done < expected {
            // Something is still blocked: end the peer so that it returns, with the reason
            // of what went wrong first (a timeout when nothing did).
            let err = first_err.take().unwrap_or(HandshakeError::Timeout);
            peer.disconnect(err.disc_reason());
            return Err(err);
        }
        match (first_err, remote) {
            (Some(e), _) => Err(e),
            (None, Some(status)) => Ok(status),
            (None, None) => Err(HandshakeError::Peer(Error::other(
                "eth status handshake: no status read",
            ))),
        }
    })
}

/// Reads the first message and checks it is an acceptable Status.
fn read_status<R>(r: &R, local: &Status, filter: &ForkFilter) -> Result<Status, HandshakeError>
where
    R: MsgReader + ?Sized,
{
    let mut msg = r.read_msg().map_err(HandshakeError::Peer)?;
    if msg.code != STATUS_MSG {
        return Err(HandshakeError::NoStatusMsg { code: msg.code });
    }
    if msg.size > MAX_MESSAGE_SIZE {
        return Err(HandshakeError::MsgTooLarge { size: msg.size });
    }
    let (code, size) = (msg.code, msg.size);
    let status = Status::decode(local.version(), msg.payload.consume()).map_err(|e| {
        HandshakeError::Decode(Error::invalid_msg(format!(
            "(code {code:x}) (size {size}) rlp: {e}"
        )))
    })?;
    if status.network_id() != local.network_id() {
        return Err(HandshakeError::NetworkIdMismatch {
            remote: status.network_id(),
            local: local.network_id(),
        });
    }
    if status.version() != local.version() {
        return Err(HandshakeError::ProtocolVersionMismatch {
            remote: status.version(),
            local: local.version(),
        });
    }
    if status.genesis() != local.genesis() {
        return Err(HandshakeError::GenesisMismatch {
            remote: status.genesis(),
            local: local.genesis(),
        });
    }
    filter
        .validate(&status.fork_id())
        .map_err(HandshakeError::ForkIdRejected)?;
    if let Status::Eth69(s) = &status {
        s.validate_range()
            .map_err(HandshakeError::InvalidBlockRange)?;
    }
    Ok(status)
}
