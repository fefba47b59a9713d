//! The transport a peer runs over, the base protocol's message codes, and an in-memory
//! transport.

use std::net::SocketAddr;
use std::time::Duration;

use crate::{DiscReason, Error, Msg, MsgPipeRw, MsgReadWriter, MsgReader, MsgWriter};

/// Message code of Hello, the protocol handshake.
pub const HANDSHAKE_MSG: u64 = 0x00;
/// Message code of Disconnect.
pub const DISC_MSG: u64 = 0x01;
/// Message code of Ping.
pub const PING_MSG: u64 = 0x02;
/// Message code of Pong.
pub const PONG_MSG: u64 = 0x03;
/// The devp2p base protocol version this crate speaks (and advertises in its Hello).
pub const BASE_PROTOCOL_VERSION: u64 = 5;
/// The largest Hello (and handshake-time Disconnect) accepted, in bytes.
pub const BASE_PROTOCOL_MAX_MSG_SIZE: u32 = 2 * 1024;
/// How long closing a transport waits to deliver its Disconnect message.
pub const DISC_WRITE_TIMEOUT: Duration = Duration::from_secs(1);
/// How long a [`MemoryTransport`] write waits for the other end to take the message, like
/// RLPx's per-message write deadline.
pub const MEMORY_WRITE_TIMEOUT: Duration = Duration::from_secs(20);

/// The connection a [`Peer`](crate::Peer) runs over: a message reader/writer that can be
/// closed with a reason.
///
/// `read_msg` is called by one thread at a time (whichever holds the peer's read role: its
/// standby reader or a protocol thread, possibly one a protocol started itself), while
/// `write_msg` is called from others; implementations serialise writes themselves. Codes are
/// absolute. A read may still be in progress on a protocol's own helper thread just after
/// [`Peer::run`](crate::Peer::run) returns; after `shutdown` it must fail promptly.
///
/// The crate has three: [`rlpx::RlpxTransport`](crate::rlpx::RlpxTransport) (TCP),
/// [`MemoryTransport`] (in memory, for tests) and [`FaultyTransport`](crate::FaultyTransport)
/// (wraps another to inject faults).
///
/// # Examples
///
/// A transport over a message pipe, closed by dropping the pipe's ends:
///
/// ```
/// use devp2p_peer::{msg_pipe, Error, Msg, MsgPipeRw, MsgReader, MsgWriter, Transport};
///
/// struct PipeTransport(MsgPipeRw);
///
/// impl MsgReader for PipeTransport {
///     fn read_msg(&self) -> Result<Msg, Error> {
///         self.0.read_msg()
///     }
/// }
/// impl MsgWriter for PipeTransport {
///     fn write_msg(&self, msg: Msg) -> Result<(), Error> {
///         self.0.write_msg(msg)
///     }
/// }
/// impl Transport for PipeTransport {
///     fn shutdown(&self, _err: &Error) {
///         self.0.close(); // unblocks a read or write on either end
///     }
/// }
///
/// let (a, b) = msg_pipe();
/// let t = PipeTransport(a);
/// t.shutdown(&Error::Eof);
/// assert!(b.read_msg().is_err());
/// ```
pub trait Transport: MsgReadWriter {
    /// Ends the connection because of `err`. When `err` is a disconnect reason other than
    /// [`DiscReason::NETWORK_ERROR`], first makes a best-effort, time-bounded attempt to send
    /// it in a Disconnect message. Must unblock a `read_msg` or `write_msg` waiting on
    /// another thread (a peer joins its threads after this, so a read or write that never
    /// returns keeps [`Peer::run`](crate::Peer::run) from returning), and must be safe to
    /// call more than once. Writes must also be bounded in time on their own (a remote that
    /// stops reading must not block a writer forever).
    fn shutdown(&self, err: &Error);

    /// Writes `msg` only as far as it can without waiting: for control messages (Ping, Pong)
    /// that the peer's supervisor sends itself and must never block on.
    ///
    /// Returns [`TryWrite::Done`] when the whole message went out, [`TryWrite::Partial`]
    /// when only part of it could be handed to the connection (the transport keeps the rest,
    /// which goes out before anything else: with the next write, or with
    /// [`flush`](Transport::flush)), or [`TryWrite::WouldBlock`] with the message back when
    /// nothing could be started at once (another write in progress, or no room). An error
    /// means the connection failed, as for `write_msg`.
    ///
    /// The default hands every message back, so the peer writes it with `write_msg` on a
    /// thread of its own.
    fn try_write_msg(&self, msg: Msg) -> Result<TryWrite, Error> {
        Ok(TryWrite::WouldBlock(msg))
    }

    /// Sends what a [`TryWrite::Partial`] left, waiting as long as a `write_msg` would (so
    /// bounded by the write deadline). Does nothing when nothing is left.
    fn flush(&self) -> Result<(), Error> {
        Ok(())
    }

    /// The remote end's address, when there is one.
    fn remote_addr(&self) -> Option<SocketAddr> {
        None
    }

    /// The local end's address, when there is one.
    fn local_addr(&self) -> Option<SocketAddr> {
        None
    }
}

/// How far [`Transport::try_write_msg`] got.
///
/// # Examples
///
/// ```
/// use devp2p_peer::{MemoryTransport, Msg, Transport, TryWrite};
/// let (a, _b) = MemoryTransport::pair();
/// // The in-memory transport cannot write without waiting for the other end.
/// match a.try_write_msg(Msg::new(0x02, vec![0xc0])).unwrap() {
///     TryWrite::WouldBlock(msg) => assert_eq!(msg.code, 0x02),
///     other => panic!("unexpected {other:?}"),
/// }
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum TryWrite {
    /// The whole message went out.
    Done,
    /// Part of it went out; the transport sends the rest before anything else.
    Partial,
    /// Nothing was written; here is the message back.
    WouldBlock(Msg),
}

/// The reason a transport should send when closing because of `err`, if any.
pub(crate) fn reason_to_send(err: &Error) -> Option<DiscReason> {
    match err {
        Error::Disconnected(r) if *r != DiscReason::NETWORK_ERROR => Some(*r),
        _ => None,
    }
}

/// An in-memory [`Transport`]: two connected ends, for tests and examples.
///
/// Built on a [`MsgPipeRw`], with one difference that makes it behave like a socket: a write
/// returns once the remote's reader has **taken** the message, not once the remote protocol
/// has read its payload. (With the pipe's stricter rule, two protocols that both write first
/// would wait on each other forever.) [`MemoryTransport::pair`] is synchronous, like an
/// unbuffered socket pair; [`MemoryTransport::buffered_pair`] lets a few messages wait in
/// each direction, like a socket's buffers.
///
/// Closing it with a disconnect reason first offers the remote a Disconnect message, waiting
/// at most [`DISC_WRITE_TIMEOUT`] for the remote to take it.
///
/// # Examples
///
/// ```
/// use devp2p_peer::{MemoryTransport, MsgReader, send_items};
/// let (a, b) = MemoryTransport::pair();
/// let t = std::thread::spawn(move || send_items(&a, 16, &[&"ping"]));
/// let mut msg = b.read_msg().unwrap();
/// t.join().unwrap().unwrap(); // returned before the payload was read
/// assert_eq!(msg.decode_list::<String>().unwrap(), vec!["ping"]);
/// ```
#[derive(Debug)]
pub struct MemoryTransport {
    pipe: MsgPipeRw,
}

impl MemoryTransport {
    /// Two connected ends; a write waits until the other end's reader takes the message.
    pub fn pair() -> (MemoryTransport, MemoryTransport) {
        MemoryTransport::buffered_pair(0)
    }

    /// Two connected ends where up to `capacity` messages wait in each direction before a
    /// write blocks.
    pub fn buffered_pair(capacity: usize) -> (MemoryTransport, MemoryTransport) {
        let (a, b) = crate::pipe::pipe_with(capacity, false);
        (MemoryTransport { pipe: a }, MemoryTransport { pipe: b })
    }

    /// Closes both ends at once, without a Disconnect message.
    pub fn close(&self) {
        self.pipe.close();
    }
}

impl MsgReader for MemoryTransport {
    fn read_msg(&self) -> Result<Msg, Error> {
        self.pipe.read_msg()
    }
}

impl MsgWriter for MemoryTransport {
    /// Writes `msg`, failing with a timeout error after [`MEMORY_WRITE_TIMEOUT`] if the
    /// other end does not take it, as a socket write with a deadline would.
    fn write_msg(&self, msg: Msg) -> Result<(), Error> {
        self.pipe.write_msg_timeout(msg, MEMORY_WRITE_TIMEOUT)
    }
}

impl Transport for MemoryTransport {
    fn shutdown(&self, err: &Error) {
        if let Some(reason) = reason_to_send(err) {
            let msg = Msg::new(DISC_MSG, reason.encode());
            let _ = self.pipe.write_msg_timeout(msg, DISC_WRITE_TIMEOUT);
        }
        self.pipe.close();
    }
}

impl<T: Transport + ?Sized> Transport for std::sync::Arc<T> {
    fn shutdown(&self, err: &Error) {
        (**self).shutdown(err)
    }
    fn remote_addr(&self) -> Option<SocketAddr> {
        (**self).remote_addr()
    }
    fn local_addr(&self) -> Option<SocketAddr> {
        (**self).local_addr()
    }
    fn try_write_msg(&self, msg: Msg) -> Result<TryWrite, Error> {
        (**self).try_write_msg(msg)
    }
    fn flush(&self) -> Result<(), Error> {
        (**self).flush()
    }
}
