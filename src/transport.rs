//! The transport a peer runs over, and the protocol handshake (Hello) every transport does.

use std::net::SocketAddr;
use std::time::Duration;

use rlp::{Decodable, DecoderError, Encodable, Rlp, RlpStream};

use crate::message::decode_first;
use crate::{Cap, DiscReason, Error, Msg, MsgPipeRw, MsgReadWriter, MsgReader, MsgWriter};

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
/// `read_msg` is called from one thread (the peer's reader) while `write_msg` is called from
/// others; implementations serialise writes themselves. Codes are absolute.
pub trait Transport: MsgReadWriter {
    /// Ends the connection because of `err`. When `err` is a disconnect reason other than
    /// [`DiscReason::NETWORK_ERROR`], first makes a best-effort, time-bounded attempt to send
    /// it in a Disconnect message. Must unblock a `read_msg` or `write_msg` waiting on
    /// another thread (a peer joins its threads after this, so a read or write that never
    /// returns keeps [`Peer::run`](crate::Peer::run) from returning), and must be safe to
    /// call more than once. Writes must also be bounded in time on their own (a remote that
    /// stops reading must not block a writer forever).
    fn shutdown(&self, err: &Error);

    /// The remote end's address, when there is one.
    fn remote_addr(&self) -> Option<SocketAddr> {
        None
    }

    /// The local end's address, when there is one.
    fn local_addr(&self) -> Option<SocketAddr> {
        None
    }
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
}

/// The Hello message (code 0) both sides send first: the base protocol version, the client's
/// name, its capabilities and its node key.
///
/// Decoding is liberal, as EIP-8 asks: any version is accepted, and list elements after the
/// node key are kept in `rest` rather than rejected.
///
/// # Examples
///
/// ```
/// use devp2p_peer::{Cap, Hello};
/// let hello = Hello::new("my-client/v1", vec![Cap::new("eth", 68)], [7; 64]);
/// let bytes = rlp::encode(&hello);
/// let back: Hello = rlp::decode(&bytes).unwrap();
/// assert_eq!(back, hello);
/// assert_eq!(back.version, 5);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hello {
    /// The base protocol version (5 today; 5 or more means "compress with snappy").
    pub version: u64,
    /// The client's name, e.g. `Geth/v1.14.0-stable/linux-amd64/go1.22`.
    pub name: String,
    /// The capabilities (sub-protocols) offered.
    pub caps: Vec<Cap>,
    /// Legacy listening port; sent as 0, ignored.
    pub listen_port: u64,
    /// The sender's 64-byte secp256k1 public key (X ‖ Y).
    pub id: Vec<u8>,
    /// Raw RLP of any further list elements (forward compatibility).
    pub rest: Vec<Vec<u8>>,
}

impl Hello {
    /// Our Hello: version 5, caps sorted, listen port 0.
    pub fn new(name: impl Into<String>, mut caps: Vec<Cap>, id: [u8; 64]) -> Hello {
        caps.sort();
        Hello {
            version: BASE_PROTOCOL_VERSION,
            name: name.into(),
            caps,
            listen_port: 0,
            id: id.to_vec(),
            rest: Vec::new(),
        }
    }
}

impl Encodable for Hello {
    fn rlp_append(&self, s: &mut RlpStream) {
        s.begin_list(5 + self.rest.len());
        s.append(&self.version);
        s.append(&self.name.as_bytes());
        s.append_list(&self.caps);
        s.append(&self.listen_port);
        s.append(&self.id);
        for raw in &self.rest {
            s.append_raw(raw, 1);
        }
    }
}

impl Decodable for Hello {
    fn decode(rlp: &Rlp<'_>) -> Result<Hello, DecoderError> {
        if !rlp.is_list() {
            return Err(DecoderError::RlpExpectedToBeList);
        }
        let count = rlp.item_count()?;
        if count < 5 {
            return Err(DecoderError::RlpIncorrectListLen);
        }
        let mut rest = Vec::with_capacity(count - 5);
        for i in 5..count {
            rest.push(rlp.at(i)?.as_raw().to_vec());
        }
        Ok(Hello {
            version: rlp.val_at(0)?,
            name: String::from_utf8_lossy(rlp.at(1)?.data()?).into_owned(),
            caps: rlp.list_at(2)?,
            listen_port: rlp.val_at(3)?,
            id: rlp.val_at(4)?,
            rest,
        })
    }
}

/// Reads the remote's Hello from `r`, checking, in order: the size (at most 2 KiB, else
/// [`Error::MessageTooBig`]), a Disconnect instead (its reason becomes the error), the code
/// ([`Error::ExpectedHandshake`]), the RLP ([`Error::InvalidMsg`]) and the node key (64
/// bytes, not all zero, else [`DiscReason::INVALID_IDENTITY`]).
///
/// # Examples
///
/// ```
/// use devp2p_peer::{msg_pipe, read_protocol_handshake, DiscReason, Msg, MsgWriter};
/// let (a, b) = msg_pipe();
/// std::thread::spawn(move || a.write_msg(Msg::new(1, DiscReason::TOO_MANY_PEERS.encode())));
/// let err = read_protocol_handshake(&b).unwrap_err();
/// assert_eq!(err.disc_reason(), Some(DiscReason::TOO_MANY_PEERS));
/// ```
pub fn read_protocol_handshake<R: MsgReader + ?Sized>(r: &R) -> Result<Hello, Error> {
    let mut msg = r.read_msg()?;
    if msg.size > BASE_PROTOCOL_MAX_MSG_SIZE {
        return Err(Error::MessageTooBig);
    }
    if msg.code == DISC_MSG {
        return Err(Error::Disconnected(DiscReason::decode(
            msg.payload.consume(),
        )));
    }
    if msg.code != HANDSHAKE_MSG {
        return Err(Error::ExpectedHandshake(msg.code));
    }
    let (code, size) = (msg.code, msg.size);
    let hello: Hello = decode_first(msg.payload.consume())
        .map_err(|e| Error::invalid_msg(format!("(code {code:x}) (size {size}) rlp: {e}")))?;
    if hello.id.len() != 64 || hello.id.iter().all(|b| *b == 0) {
        return Err(DiscReason::INVALID_IDENTITY.into());
    }
    Ok(hello)
}

/// Exchanges Hellos over `rw`: writes `ours` on a second thread **while** reading theirs, so
/// that it works over synchronous transports too (a write-then-read would deadlock on a
/// [`MsgPipeRw`]). A read error wins over a write error, so a remote's Disconnect reason is
/// what the caller sees.
///
/// # Examples
///
/// ```
/// use devp2p_peer::{do_protocol_handshake, msg_pipe, Cap, Hello};
/// let (a, b) = msg_pipe();
/// let ha = Hello::new("a", vec![Cap::new("eth", 68)], [1; 64]);
/// let hb = Hello::new("b", vec![Cap::new("snap", 1)], [2; 64]);
/// let (ha2, hb2) = (ha.clone(), hb.clone());
/// let t = std::thread::spawn(move || do_protocol_handshake(&a, &ha2));
/// assert_eq!(do_protocol_handshake(&b, &hb2).unwrap(), ha);
/// assert_eq!(t.join().unwrap().unwrap(), hb);
/// ```
pub fn do_protocol_handshake<T: MsgReadWriter + ?Sized>(
    rw: &T,
    ours: &Hello,
) -> Result<Hello, Error> {
    let payload = rlp::encode(ours).to_vec();
    std::thread::scope(|s| {
        let writer = std::thread::Builder::new()
            .name("hello-write".into())
            .spawn_scoped(s, || rw.write_msg(Msg::new(HANDSHAKE_MSG, payload)))
            .map_err(Error::from)?;
        let theirs = read_protocol_handshake(rw);
        let written = writer
            .join()
            .unwrap_or_else(|_| Err(Error::other("hello writer panicked")));
        let theirs = theirs?;
        written.map_err(|e| Error::other(format!("write error: {e}")))?;
        Ok(theirs)
    })
}
