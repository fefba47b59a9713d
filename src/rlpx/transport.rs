//! The peer layer's [`Transport`] over an RLPx connection.

use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use parking_lot::Mutex;

use super::frame::RELEASE_ABOVE;
use super::{
    Conn, ConnReader, ConnWriter, Enode, PublicKey, RlpxError, SecretKey, ShutdownHandle, Timeouts,
    TrySend, MAX_FRAME_SIZE,
};
use crate::transport::{
    reason_to_send, BASE_PROTOCOL_MAX_MSG_SIZE, DISC_MSG, DISC_WRITE_TIMEOUT, HANDSHAKE_MSG,
};
use crate::{
    ConnFlags, ConnInfo, Error, Hello, Msg, MsgReader, MsgWriter, NodeId, Payload, Peer,
    PeerConfig, Protocol, Transport, TryWrite,
};

/// The first devp2p version whose messages after Hello are snappy-compressed.
pub const SNAPPY_PROTOCOL_VERSION: u64 = 5;

/// The largest frame body accepted before the Hello: a Hello or Disconnect payload of
/// [`BASE_PROTOCOL_MAX_MSG_SIZE`] bytes plus the longest RLP message code (9 bytes). A larger
/// frame cannot carry an acceptable Hello, so it is refused on its header, before its body is
/// read; payloads between 2 KiB and this are refused by the Hello check itself, as in geth.
const HELLO_FRAME_LIMIT: usize = BASE_PROTOCOL_MAX_MSG_SIZE as usize + 9;

/// An encrypted RLPx connection, ready to carry a [`Peer`].
///
/// Set up in two steps, as a server needs to check the remote in between:
/// [`RlpxTransport::handshake`] does the encryption handshake (5 s deadline by default) and
/// tells who the remote is; [`RlpxTransport::protocol_handshake`] exchanges Hellos and
/// switches snappy on when the remote speaks version 5 or later. Then
/// [`RlpxTransport::into_peer`] (or [`Peer::new`]) runs sub-protocols over it.
///
/// Reads and writes may come from different threads at once (each direction has its own
/// cipher and lock). Every message read or written is bounded by the read (30 s) and write
/// (20 s) deadlines; the whole Hello exchange by the handshake deadline (5 s by default). Before
/// the Hello, a frame header announcing more than a Hello may hold (2 KiB) ends the connection
/// before its body is read.
///
/// Closing with a reason first lets a write in flight finish (it is bounded by its own write
/// deadline), then sends the Disconnect within 1 s, then shuts the socket down, which wakes a
/// reader blocked on another thread; writes started after that fail with
/// [`Error::ShuttingDown`]. After a failed write (the stream may end mid-frame) no Disconnect
/// is attempted.
///
/// [`try_write_msg`](Transport::try_write_msg) never waits: it hands the message back while
/// another write holds the connection, and otherwise sends with non-blocking socket calls,
/// keeping what did not fit; every later write (the Disconnect included) sends those bytes
/// first, and [`flush`](Transport::flush) sends them within the write deadline. The socket's file
/// descriptor itself is released when the transport is dropped, i.e. when the last
/// [`Peer`] handle (and the last protocol reader/writer) of its peer is gone.
///
/// # Examples
///
/// ```
/// use std::net::TcpListener;
/// use devp2p_peer::rlpx::{Enode, RlpxTransport, SecretKey};
/// use devp2p_peer::{Cap, Hello};
///
/// let listener = TcpListener::bind("127.0.0.1:0")?;
/// let addr = listener.local_addr()?;
/// let (key_a, key_b) = (SecretKey::random(), SecretKey::random());
/// let pub_b = key_b.public_key();
/// let server = std::thread::spawn(move || -> Result<Hello, devp2p_peer::Error> {
///     let (stream, _) = listener.accept()?;
///     let t = RlpxTransport::handshake(stream, &key_b, None)?;
///     let hello = Hello::new("b", vec![Cap::new("eth", 68)], key_b.public_key().to_bytes());
///     t.protocol_handshake(&hello)
/// });
/// let node = Enode::new(pub_b, addr); // enode://<pub_b>@127.0.0.1:<port>
/// let t = RlpxTransport::dial(&node, &key_a, std::time::Duration::from_secs(5))?;
/// let theirs = t.protocol_handshake(&Hello::new("a", vec![], key_a.public_key().to_bytes()))?;
/// assert_eq!(theirs.name, "b");
/// assert_eq!(server.join().unwrap()?.name, "a");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct RlpxTransport {
    reader: Mutex<ConnReader>,
    writer: Mutex<ConnWriter>,
    shutdown: ShutdownHandle,
    closed: AtomicBool,
    /// A write failed: the stream may have stopped mid-frame, so no Disconnect can follow.
    write_failed: AtomicBool,
    timeouts: Timeouts,
    remote_pubkey: PublicKey,
    remote_addr: Option<SocketAddr>,
    local_addr: Option<SocketAddr>,
    spares: Spares,
}

/// Vectors of large messages the transport has written, kept for large messages it reads:
/// an echo, or a relay that answers large messages with large ones on the same connection,
/// needs no fresh allocation, and no zero-fill before decompression, for each large
/// message (2 % of the listener's CPU in a pipelined 1 MiB echo). A vector is kept only
/// while the messages read are large (the last one read was over [`RELEASE_ABOVE`]), only
/// from [`write_msg`](MsgWriter::write_msg), and only if its length is over
/// [`RELEASE_ABOVE`] and its capacity at most twice that; at most [`SPARE_PAYLOADS`]
/// wait, and the first small message read lets them go. A read takes one only once its
/// frame shows a large payload, so none is held while a reader waits. The channel is made
/// with the first vector kept, so a connection that never keeps one pays nothing for it.
#[derive(Default)]
struct Spares {
    channel: OnceLock<SpareChannel>,
    /// The last message read was larger than [`RELEASE_ABOVE`].
    large_reads: AtomicBool,
}

/// The two ends of a [`Spares`]' channel.
type SpareChannel = (Sender<Vec<u8>>, Receiver<Vec<u8>>);

/// Vectors a [`Spares`] keeps. Two, so that a message read while the one before it is
/// still being written finds one free: with one, about one large message in six needed a
/// new vector in a pipelined 1 MiB echo; with two, about one in a hundred.
const SPARE_PAYLOADS: usize = 2;

impl Spares {
    /// Keeps `v` for a later read if reads are large, `v` is large and not oversized for
    /// its length, and there is room; else drops it.
    fn keep(&self, v: Vec<u8>) {
        if self.large_reads.load(Ordering::Relaxed)
            && v.len() > RELEASE_ABOVE
            && v.capacity() / 2 <= v.len()
        {
            let (tx, _) = self
                .channel
                .get_or_init(|| crossbeam_channel::bounded(SPARE_PAYLOADS));
            let _ = tx.try_send(v);
        }
    }

    /// A kept vector, if any.
    fn take(&self) -> Option<Vec<u8>> {
        self.channel.get().and_then(|(_, rx)| rx.try_recv().ok())
    }

    /// Notes the size of the message just read; a small one lets every kept vector go.
    fn read(&self, len: usize) {
        let large = len > RELEASE_ABOVE;
        self.large_reads.store(large, Ordering::Relaxed);
        if !large {
            if let Some((_, rx)) = self.channel.get() {
                while rx.try_recv().is_ok() {}
            }
        }
    }
}

impl RlpxTransport {
    /// Runs the encryption handshake on `stream` with the default deadlines: as the
    /// initiator when `dial_dest` (the remote's key) is given, else as the recipient.
    ///
    /// # Errors
    ///
    /// [`Error::Rlpx`] for a failed or timed-out handshake, [`Error::Io`] for socket errors.
    pub fn handshake(
        stream: TcpStream,
        key: &SecretKey,
        dial_dest: Option<&PublicKey>,
    ) -> Result<RlpxTransport, Error> {
        RlpxTransport::handshake_with(stream, key, dial_dest, Timeouts::default())
    }

    /// Like [`RlpxTransport::handshake`], with the given deadlines.
    pub fn handshake_with(
        stream: TcpStream,
        key: &SecretKey,
        dial_dest: Option<&PublicKey>,
        timeouts: Timeouts,
    ) -> Result<RlpxTransport, Error> {
        let remote_addr = stream.peer_addr().ok();
        let local_addr = stream.local_addr().ok();
        let mut conn = Conn::new(stream, dial_dest.copied());
        conn.set_timeouts(timeouts);
        let result = conn.handshake(key);
        let remote_pubkey = match result {
            Ok(k) => k,
            Err(e) => {
                let _ = conn.shutdown();
                return Err(e.into());
            }
        };
        let shutdown = conn.shutdown_handle()?;
        let (reader, writer) = conn.split()?;
        Ok(RlpxTransport {
            reader: Mutex::new(reader),
            writer: Mutex::new(writer),
            shutdown,
            closed: AtomicBool::new(false),
            write_failed: AtomicBool::new(false),
            timeouts,
            remote_pubkey,
            remote_addr,
            local_addr,
            spares: Spares::default(),
        })
    }

    /// Connects to `node` (its TCP address, within `timeout`) and runs the encryption
    /// handshake as the initiator, expecting the node's key. The Hello exchange comes next
    /// ([`protocol_handshake`](RlpxTransport::protocol_handshake)).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use devp2p_peer::rlpx::{Enode, RlpxTransport, SecretKey};
    /// # fn main() -> Result<(), devp2p_peer::Error> {
    /// let node: Enode = "enode://…@127.0.0.1:30303".parse()?;
    /// let t = RlpxTransport::dial(&node, &SecretKey::random(), Duration::from_secs(15))?;
    /// assert_eq!(t.remote_id(), node.id());
    /// # Ok(()) }
    /// ```
    pub fn dial(node: &Enode, key: &SecretKey, timeout: Duration) -> Result<RlpxTransport, Error> {
        RlpxTransport::dial_addr(node.tcp_addr(), key, &node.pubkey, timeout)
    }

    /// Connects to `addr` (within `timeout`) and runs the handshake as the initiator,
    /// expecting the node key `remote`: [`dial`](RlpxTransport::dial) for an address that
    /// is not an [`Enode`] (a host name, several addresses to try).
    pub fn dial_addr(
        addr: impl ToSocketAddrs,
        key: &SecretKey,
        remote: &PublicKey,
        timeout: Duration,
    ) -> Result<RlpxTransport, Error> {
        let deadline = Instant::now() + timeout;
        let mut last = None;
        for a in addr.to_socket_addrs()? {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            match TcpStream::connect_timeout(&a, left) {
                Ok(stream) => return RlpxTransport::handshake(stream, key, Some(remote)),
                Err(e) => last = Some(e),
            }
        }
        Err(last
            .unwrap_or_else(|| {
                std::io::Error::new(std::io::ErrorKind::InvalidInput, "no address to dial")
            })
            .into())
    }

    /// The remote's node key, as proven by the handshake.
    pub fn remote_pubkey(&self) -> PublicKey {
        self.remote_pubkey
    }

    /// The remote's node ID.
    pub fn remote_id(&self) -> NodeId {
        self.remote_pubkey.node_id()
    }

    /// The remote's `enode://` URL, with the address it connected from or to.
    pub fn remote_enode(&self) -> Option<Enode> {
        self.remote_addr.map(|a| Enode::new(self.remote_pubkey, a))
    }

    /// Exchanges Hellos (ours written, then theirs read, on the calling thread) and switches snappy on for both
    /// directions when their version is 5 or more. Errors as
    /// [`read_protocol_handshake`](crate::read_protocol_handshake): a Disconnect instead of a
    /// Hello gives its reason.
    ///
    /// The whole exchange is bounded by the handshake deadline ([`Timeouts::handshake`] as
    /// given to [`handshake_with`](RlpxTransport::handshake_with), 5 s by default), not by the
    /// per-message read and write deadlines: a remote that completed the encryption handshake
    /// cannot hold a pending slot longer by withholding its Hello. (go-ethereum reads the
    /// Hello under its 30 s frame read deadline; this is stricter.) While it runs, a frame
    /// header announcing more than a Hello may hold fails at once with
    /// [`Error::MessageTooBig`], before the body is read.
    pub fn protocol_handshake(&self, ours: &Hello) -> Result<Hello, Error> {
        let hello_time = self.timeouts.handshake;
        {
            let mut r = self.reader.lock();
            r.set_timeout(hello_time);
            r.set_max_frame_size(HELLO_FRAME_LIMIT);
        }
        self.writer.lock().set_timeout(hello_time);
        let result = self.exchange_hellos(ours, hello_time);
        {
            let mut r = self.reader.lock();
            r.set_timeout(self.timeouts.read);
            r.set_max_frame_size(MAX_FRAME_SIZE);
        }
        self.writer.lock().set_timeout(self.timeouts.write);
        let theirs = result.map_err(|e| match e {
            Error::Rlpx(RlpxError::FrameOverLimit { .. }) => Error::MessageTooBig,
            e => e,
        })?;
        let snappy = theirs.version >= SNAPPY_PROTOCOL_VERSION;
        self.reader.lock().set_snappy(snappy);
        self.writer.lock().set_snappy(snappy);
        Ok(theirs)
    }

    /// Writes our Hello, then reads theirs, on the calling thread. Over a socket the write
    /// does not wait for the remote to read (a Hello is far smaller than a fresh
    /// connection's buffers), so no second thread is needed, unlike
    /// [`do_protocol_handshake`](crate::do_protocol_handshake) over a synchronous
    /// transport. (A helper thread's ended stack, its cipher work still resident, was
    /// reused by the peer's next thread.) As there, a read error wins over a write error, so
    /// a remote's Disconnect reason is what the caller sees.
    ///
    /// The write and the read together stay within `limit` (the read gets what the write
    /// left of it).
    fn exchange_hellos(&self, ours: &Hello, limit: Duration) -> Result<Hello, Error> {
        let start = Instant::now();
        let written = self.write_msg(Msg::new(HANDSHAKE_MSG, rlp::encode(ours).to_vec()));
        self.reader
            .lock()
            .set_timeout(limit.saturating_sub(start.elapsed()));
        let theirs = crate::read_protocol_handshake(self)?;
        written.map_err(|e| Error::other(format!("write error: {e}")))?;
        Ok(theirs)
    }

    /// Bytes held by the connection's frame buffers (read and write side). They grow with
    /// the messages carried and are given back after a large one; see
    /// [`RELEASE_ABOVE`](super::wire::RELEASE_ABOVE). Waits for a read or write in progress.
    pub fn buffer_capacity(&self) -> usize {
        self.reader.lock().buffer_capacity() + self.writer.lock().buffer_capacity()
    }

    /// A [`Peer`] over this connection, after the Hello exchange: the remote's identity comes
    /// from the handshake, its name and caps from `theirs`.
    ///
    /// # Errors
    ///
    /// [`DiscReason::UNEXPECTED_IDENTITY`](crate::DiscReason::UNEXPECTED_IDENTITY) when the
    /// Hello's key is not the key the handshake proved.
    pub fn into_peer(
        self,
        theirs: &Hello,
        protocols: &[Protocol],
        flags: ConnFlags,
        config: PeerConfig,
    ) -> Result<Peer, Error> {
        if theirs.id.as_slice() != self.remote_pubkey.to_bytes().as_slice() {
            let err = Error::Disconnected(crate::DiscReason::UNEXPECTED_IDENTITY);
            self.shutdown(&err);
            return Err(err);
        }
        let conn = ConnInfo {
            id: self.remote_id(),
            name: theirs.name.clone(),
            caps: theirs.caps.clone(),
            flags,
            enode: self.remote_enode().map(|e| e.to_string()),
        };
        Ok(Peer::new(
            conn,
            std::sync::Arc::new(self),
            protocols,
            config,
        ))
    }
}

impl MsgReader for RlpxTransport {
    fn read_msg(&self) -> Result<Msg, Error> {
        // The frame buffer is reused by the next read, so the message gets a vector of its
        // own; a snappy payload is decompressed straight into it (no second copy).
        let (code, data) = self.reader.lock().read_msg_owned(|| self.spares.take())?;
        self.spares.read(data.len());
        Ok(Msg {
            code,
            size: u32::try_from(data.len()).unwrap_or(u32::MAX),
            payload: Payload::new(data),
            received_at: Instant::now(),
        })
    }
}

impl RlpxTransport {
    /// Notes a failed write and turns its error into the crate's. Cold and in a frame of
    /// its own: the error conversion stays off the stack of the write path.
    #[cold]
    #[inline(never)]
    fn write_error(&self, e: RlpxError) -> Error {
        // Size errors are found before anything is written; anything else may have left
        // part of a frame on the wire.
        if !matches!(
            e,
            RlpxError::PlainMessageTooLarge | RlpxError::FrameTooLarge { .. }
        ) {
            self.write_failed.store(true, Ordering::SeqCst);
        }
        e.into()
    }
}

impl MsgWriter for RlpxTransport {
    /// Writes `msg` within the write deadline, after the bytes a
    /// [`TryWrite::Partial`] left (same deadline).
    fn write_msg(&self, mut msg: Msg) -> Result<(), Error> {
        let data = msg.payload.consume();
        let mut writer = self.writer.lock();
        // Nothing may follow a Disconnect on the wire.
        if self.closed.load(Ordering::SeqCst) {
            return Err(Error::ShuttingDown);
        }
        match writer.write_msg(msg.code, data) {
            Ok(_) => {
                drop(writer);
                self.spares.keep(msg.payload.take_buffer());
                Ok(())
            }
            Err(e) => Err(self.write_error(e)),
        }
    }
}

impl Transport for RlpxTransport {
    fn shutdown(&self, err: &Error) {
        if self.closed.swap(true, Ordering::SeqCst) {
            return;
        }
        if let Some(reason) = reason_to_send(err) {
            // A write in flight holds the lock until it finishes, which its own deadline
            // bounds (the write deadline, or the handshake deadline during the Hello). As
            // geth does, let it finish, so the remote gets the whole message and then the
            // reason; writes arriving from now on fail at once. The margin only guards the
            // bound itself.
            let in_flight = self.timeouts.write.max(self.timeouts.handshake) + DISC_WRITE_TIMEOUT;
            if let Some(mut writer) = self.writer.try_lock_for(in_flight) {
                if !self.write_failed.load(Ordering::SeqCst) {
                    writer.set_timeout(DISC_WRITE_TIMEOUT);
                    let _ = writer.write_msg(DISC_MSG, &reason.encode());
                }
                // Hold the writer until the socket is shut: nothing may follow the
                // Disconnect on the wire.
                let _ = self.shutdown.shutdown();
                return;
            }
        }
        let _ = self.shutdown.shutdown();
    }

    /// Sends `msg` with non-blocking socket sends (`MSG_DONTWAIT`, so the socket's blocking
    /// mode, which a reader on another thread relies on, never changes):
    /// [`TryWrite::WouldBlock`] when another write holds the writer or bytes left by an
    /// earlier [`TryWrite::Partial`] still do not all fit; otherwise the frame is sealed and
    /// [`TryWrite::Done`] or [`TryWrite::Partial`] tells whether all of it went out. What is
    /// left goes first with the next write of any kind, the Disconnect of
    /// [`shutdown`](Transport::shutdown) included, or with [`flush`](Transport::flush).
    fn try_write_msg(&self, mut msg: Msg) -> Result<TryWrite, Error> {
        let Some(mut writer) = self.writer.try_lock() else {
            return Ok(TryWrite::WouldBlock(msg));
        };
        if self.closed.load(Ordering::SeqCst) {
            return Err(Error::ShuttingDown);
        }
        match writer.try_flush() {
            Ok(true) => {}
            Ok(false) => return Ok(TryWrite::WouldBlock(msg)),
            Err(e) => return Err(self.write_error(e)),
        }
        match writer.try_write_msg(msg.code, msg.payload.consume()) {
            Ok(TrySend::Done) => Ok(TryWrite::Done),
            Ok(TrySend::Partial) => Ok(TryWrite::Partial),
            // Cannot happen after the flush above; nothing was sealed either way.
            Ok(TrySend::WouldBlock) => Ok(TryWrite::WouldBlock(msg)),
            Err(e) => Err(self.write_error(e)),
        }
    }

    /// Sends the bytes a [`TryWrite::Partial`] left within the write deadline (after a write
    /// in progress on another thread, which sends them itself). A missed deadline is the
    /// write's error, as for `write_msg`.
    fn flush(&self) -> Result<(), Error> {
        let mut writer = self.writer.lock();
        if writer.unsent() == 0 {
            return Ok(());
        }
        if self.closed.load(Ordering::SeqCst) {
            return Err(Error::ShuttingDown);
        }
        writer.flush().map_err(|e| self.write_error(e))
    }

    fn remote_addr(&self) -> Option<SocketAddr> {
        self.remote_addr
    }

    fn local_addr(&self) -> Option<SocketAddr> {
        self.local_addr
    }
}

impl std::fmt::Debug for RlpxTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RlpxTransport")
            .field("remote", &self.remote_id())
            .field("remote_addr", &self.remote_addr)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use std::net::{TcpListener, TcpStream};

    use super::*;

    #[test]
    fn spares_keep_two_large_vectors_while_reads_are_large() {
        let spares = Spares::default();
        let large = || vec![7u8; RELEASE_ABOVE + 1];
        // Nothing is kept before a large read.
        spares.keep(large());
        assert!(
            spares.channel.get().is_none(),
            "no channel before a kept vector"
        );
        spares.read(RELEASE_ABOVE + 1);
        spares.keep(vec![1; RELEASE_ABOVE]);
        assert!(spares.take().is_none(), "not large: not kept");
        let mut roomy = Vec::with_capacity(4 * RELEASE_ABOVE);
        roomy.resize(RELEASE_ABOVE + 1, 0);
        spares.keep(roomy);
        assert!(
            spares.take().is_none(),
            "capacity over twice the length: not kept"
        );
        let vectors: Vec<Vec<u8>> = (0..3).map(|_| large()).collect();
        let at: Vec<*const u8> = vectors.iter().map(|v| v.as_ptr()).collect();
        for v in vectors {
            spares.keep(v);
        }
        // The third found no room.
        assert_eq!(spares.take().map(|v| v.as_ptr()), Some(at[0]));
        assert_eq!(spares.take().map(|v| v.as_ptr()), Some(at[1]));
        assert!(spares.take().is_none());
        spares.keep(large());
        spares.keep(large());
        // A small read lets them go, and nothing is kept until reads are large again.
        spares.read(10);
        assert!(spares.take().is_none(), "released");
        spares.keep(large());
        assert!(spares.take().is_none(), "reads are small: not kept");
    }

    /// A transport (initiator) and the remote's transport over loopback.
    fn pair() -> (RlpxTransport, RlpxTransport) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let key_b = SecretKey::random();
        let pub_b = key_b.public_key();
        let remote = std::thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            RlpxTransport::handshake(stream, &key_b, None).unwrap()
        });
        let stream = TcpStream::connect(addr).unwrap();
        let t = RlpxTransport::handshake(stream, &SecretKey::random(), Some(&pub_b)).unwrap();
        (t, remote.join().unwrap())
    }

    #[test]
    fn try_write_while_another_write_holds_the_writer_hands_the_message_back() {
        let (t, remote) = pair();
        {
            let _busy = t.writer.lock(); // a write in progress on another thread
            match t.try_write_msg(Msg::new(0x02, vec![0xc0])).unwrap() {
                TryWrite::WouldBlock(mut msg) => {
                    assert_eq!((msg.code, msg.payload.consume()), (0x02, &[0xc0][..]));
                }
                other => panic!("expected WouldBlock, got {other:?}"),
            }
        }
        // Nothing was sealed: the next message is the first the remote sees.
        assert!(matches!(
            t.try_write_msg(Msg::new(0x03, vec![0xc0])).unwrap(),
            TryWrite::Done
        ));
        assert_eq!(remote.read_msg().unwrap().code, 0x03);
    }
}
