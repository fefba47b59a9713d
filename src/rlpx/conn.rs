//! A blocking RLPx connection over a socket, and its reader and writer halves.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant};

use super::error::{Result, RlpxError};
use super::frame::{session, FrameEgress, FrameIngress, RawMsg};
use super::handshake::{packet_body_size, Initiator, Recipient};
use super::keys::{PublicKey, SecretKey};

/// Time allowed for the whole encryption handshake (reads and writes).
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);
/// Time allowed to receive one whole message (effectively the idle limit).
pub const READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Time allowed to send one whole message.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(20);

/// The deadlines a [`Conn`] applies. Each one bounds a whole operation, not a
/// single system call.
///
/// # Examples
///
/// A longer idle limit for a peer that pings rarely, the rest at their defaults:
///
/// ```
/// use std::time::Duration;
/// use devp2p_peer::rlpx::{Timeouts, HANDSHAKE_TIMEOUT};
/// let t = Timeouts { read: Duration::from_secs(120), ..Timeouts::default() };
/// assert_eq!(t.handshake, HANDSHAKE_TIMEOUT);
/// // Used with `RlpxTransport::handshake_with(stream, &key, remote, t)` or `Conn::set_timeouts`.
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Bound for the whole encryption handshake. Default [`HANDSHAKE_TIMEOUT`].
    /// [`RlpxTransport::protocol_handshake`](super::RlpxTransport::protocol_handshake)
    /// bounds the Hello exchange by it too.
    pub handshake: Duration,
    /// Bound for reading one message. Default [`READ_TIMEOUT`].
    pub read: Duration,
    /// Bound for writing one message. Default [`WRITE_TIMEOUT`].
    pub write: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            handshake: HANDSHAKE_TIMEOUT,
            read: READ_TIMEOUT,
            write: WRITE_TIMEOUT,
        }
    }
}

/// A blocking byte stream a [`Conn`] can run over.
///
/// Implemented for [`TcpStream`] and, on Unix, `UnixStream`. The stream must
/// be in blocking mode; deadlines are implemented with its timeouts.
///
/// # Examples
///
/// RLPx over a Unix socket pair instead of TCP:
///
/// ```
/// # #[cfg(unix)] {
/// use std::os::unix::net::UnixStream;
/// use std::thread;
/// use devp2p_peer::rlpx::{Conn, SecretKey};
///
/// let (a, b) = UnixStream::pair().unwrap();
/// let (key_a, key_b) = (SecretKey::random(), SecretKey::random());
/// let pub_b = key_b.public_key();
/// let other = thread::spawn(move || {
///     let mut conn = Conn::new(b, None);
///     conn.handshake(&key_b).unwrap();
///     conn.read_msg().unwrap().data.to_vec()
/// });
/// let mut conn = Conn::new(a, Some(pub_b));
/// conn.handshake(&key_a).unwrap();
/// conn.write_msg(0x10, b"over unix").unwrap();
/// assert_eq!(other.join().unwrap(), b"over unix");
/// # }
/// ```
pub trait Socket: Read + Write + Send + Sized + 'static {
    /// Called once by [`Conn::new`]: tunes the socket for message traffic.
    /// For TCP this turns Nagle's algorithm off (as Go does for every TCP
    /// connection): each frame goes out in one write, so delaying small
    /// segments would only add latency. The default does nothing.
    fn prepare(&self) -> io::Result<()> {
        Ok(())
    }
    /// Sets the timeout of each following read call (`None`: no timeout).
    fn set_read_timeout(&self, t: Option<Duration>) -> io::Result<()>;
    /// Sets the timeout of each following write call (`None`: no timeout).
    fn set_write_timeout(&self, t: Option<Duration>) -> io::Result<()>;
    /// A second handle to the same stream, usable from another thread.
    fn try_clone(&self) -> io::Result<Self>;
    /// Shuts both directions down; a read blocked on another handle returns.
    fn shutdown(&self) -> io::Result<()>;
    /// Sends as much of `buf` as the socket takes at once, without waiting: the number of
    /// bytes taken, or an error of kind [`WouldBlock`](io::ErrorKind::WouldBlock) when
    /// there is no room at all. It must not switch the socket to non-blocking mode, which
    /// other handles of the same socket (a reader on another thread) would see.
    ///
    /// Used by [`ConnWriter::try_write_msg`]. The default cannot send without waiting and
    /// always says `WouldBlock`; `TcpStream` and `UnixStream` send for real on Unix
    /// (`send` with `MSG_DONTWAIT`, and `MSG_NOSIGNAL` where it exists).
    fn try_send(&self, buf: &[u8]) -> io::Result<usize> {
        let _ = buf;
        Err(io::ErrorKind::WouldBlock.into())
    }
}

/// `send(2)` with `MSG_DONTWAIT`: the flag makes this one call non-blocking, leaving the
/// socket's mode (shared with a reader on another thread) alone. `MSG_NOSIGNAL` turns a
/// broken pipe into an error instead of a signal. Interrupted calls are retried.
#[cfg(unix)]
fn send_nowait(fd: std::os::fd::RawFd, buf: &[u8]) -> io::Result<usize> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    const FLAGS: libc::c_int = libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL;
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    const FLAGS: libc::c_int = libc::MSG_DONTWAIT;
    if buf.is_empty() {
        return Ok(0);
    }
    loop {
        // SAFETY: `buf` is a valid, initialised slice for the duration of the call and
        // `fd` is an open socket owned by the caller's stream.
        let n = unsafe { libc::send(fd, buf.as_ptr().cast(), buf.len(), FLAGS) };
        if n >= 0 {
            return Ok(n as usize);
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

impl Socket for TcpStream {
    fn prepare(&self) -> io::Result<()> {
        self.set_nodelay(true)
    }
    fn set_read_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        TcpStream::set_read_timeout(self, t)
    }
    fn set_write_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        TcpStream::set_write_timeout(self, t)
    }
    fn try_clone(&self) -> io::Result<Self> {
        TcpStream::try_clone(self)
    }
    fn shutdown(&self) -> io::Result<()> {
        TcpStream::shutdown(self, Shutdown::Both)
    }
    #[cfg(unix)]
    fn try_send(&self, buf: &[u8]) -> io::Result<usize> {
        send_nowait(std::os::fd::AsRawFd::as_raw_fd(self), buf)
    }
}

#[cfg(unix)]
impl Socket for std::os::unix::net::UnixStream {
    fn set_read_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        std::os::unix::net::UnixStream::set_read_timeout(self, t)
    }
    fn set_write_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        std::os::unix::net::UnixStream::set_write_timeout(self, t)
    }
    fn try_clone(&self) -> io::Result<Self> {
        std::os::unix::net::UnixStream::try_clone(self)
    }
    fn shutdown(&self) -> io::Result<()> {
        std::os::unix::net::UnixStream::shutdown(self, Shutdown::Both)
    }
    fn try_send(&self, buf: &[u8]) -> io::Result<usize> {
        send_nowait(std::os::fd::AsRawFd::as_raw_fd(self), buf)
    }
}

/// What a socket's read or write timeout is currently set to, as far as this
/// handle knows (`None`: unknown, so it must be set before use).
type Armed = Option<Option<Duration>>;

/// The two timeout settings of a socket.
#[derive(Debug, Clone, Copy, Default)]
struct ArmedTimeouts {
    read: Armed,
    write: Armed,
}

/// Bounds a sequence of reads or writes by one deadline.
///
/// Socket timeouts apply to a single system call, so before each call the
/// socket timeout must not exceed the time left. Setting it costs a system
/// call too, so it is only changed when the current setting could overrun the
/// deadline or is less than half the time left; values are rounded down to
/// whole milliseconds so that the next message, with a fresh deadline, can
/// usually keep the setting. A call that times out before the deadline
/// (because the setting was shorter than the time left) is simply retried.
struct Deadlined<'a, S> {
    stream: &'a mut S,
    /// When the deadline was set.
    began: Instant,
    deadline: Option<Instant>,
    armed: &'a mut ArmedTimeouts,
}

impl<'a, S: Socket> Deadlined<'a, S> {
    fn new(stream: &'a mut S, timeout: Duration, armed: &'a mut ArmedTimeouts) -> Self {
        let began = Instant::now();
        Deadlined {
            stream,
            began,
            // A timeout too large to represent means "no deadline".
            deadline: began.checked_add(timeout),
            armed,
        }
    }

    /// Time left, or a timeout error if the deadline has passed.
    fn remaining(&self) -> io::Result<Option<Duration>> {
        match self.deadline {
            None => Ok(None),
            Some(d) => match d.checked_duration_since(Instant::now()) {
                Some(left) if !left.is_zero() => Ok(Some(left)),
                _ => Err(io::ErrorKind::TimedOut.into()),
            },
        }
    }

    /// Makes sure the socket timeout cannot carry a call past the deadline.
    fn arm(&mut self, for_read: bool) -> io::Result<()> {
        let left = self.remaining()?;
        let armed = if for_read {
            &mut self.armed.read
        } else {
            &mut self.armed.write
        };
        // A setting far shorter than the time left (one kept from the handshake, or from
        // the end of an earlier deadline) would wake an idle reader again and again for
        // nothing: re-arm it then too.
        let fits = match (*armed, left) {
            (Some(Some(current)), Some(left)) => current <= left && current >= left / 2,
            (Some(None), None) => true,
            _ => false,
        };
        if !fits {
            let value = left.map(|l| {
                let whole_ms = Duration::from_millis(l.as_millis() as u64);
                if whole_ms.is_zero() {
                    l
                } else {
                    whole_ms
                }
            });
            // Forget the old value first in case setting it fails.
            *armed = None;
            if for_read {
                self.stream.set_read_timeout(value)?;
            } else {
                self.stream.set_write_timeout(value)?;
            }
            *armed = Some(value);
        }
        Ok(())
    }
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

impl<S: Socket> Read for Deadlined<'_, S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            self.arm(true)?;
            match self.stream.read(buf) {
                // The socket timeout was shorter than the time left: go on.
                Err(e) if is_timeout(&e) => continue,
                r => return r,
            }
        }
    }
}

impl<S: Socket> Write for Deadlined<'_, S> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        loop {
            self.arm(false)?;
            match self.stream.write(buf) {
                Err(e) if is_timeout(&e) => continue,
                r => return r,
            }
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        self.stream.flush()
    }
}

/// A blocking RLPx connection.
///
/// Create it over a connected socket, run [`handshake`](Conn::handshake),
/// then exchange `(code, payload)` messages. To read and write from different
/// threads, [`split`](Conn::split) it.
///
/// # Examples
///
/// A handshake and one message each way over loopback TCP:
///
/// ```
/// use std::net::{TcpListener, TcpStream};
/// use std::thread;
/// use devp2p_peer::rlpx::{Conn, SecretKey};
///
/// let listener = TcpListener::bind("127.0.0.1:0").unwrap();
/// let addr = listener.local_addr().unwrap();
/// let (server_key, client_key) = (SecretKey::random(), SecretKey::random());
/// let server_pub = server_key.public_key();
///
/// let server = thread::spawn(move || {
///     let (stream, _) = listener.accept().unwrap();
///     let mut conn = Conn::new(stream, None); // recipient
///     let remote = conn.handshake(&server_key).unwrap();
///     let msg = conn.read_msg().unwrap();
///     assert_eq!((msg.code, msg.data), (0x10, &b"ping"[..]));
///     conn.write_msg(0x11, b"pong").unwrap();
///     remote
/// });
///
/// let stream = TcpStream::connect(addr).unwrap();
/// let mut conn = Conn::new(stream, Some(server_pub)); // initiator
/// assert_eq!(conn.handshake(&client_key).unwrap(), server_pub);
/// conn.write_msg(0x10, b"ping").unwrap();
/// let reply = conn.read_msg().unwrap();
/// assert_eq!((reply.code, reply.data), (0x11, &b"pong"[..]));
/// assert_eq!(server.join().unwrap(), client_key.public_key());
/// ```
pub struct Conn<S: Socket = TcpStream> {
    stream: S,
    dial_dest: Option<PublicKey>,
    remote: Option<PublicKey>,
    session: Option<(FrameEgress, FrameIngress)>,
    timeouts: Timeouts,
    armed: ArmedTimeouts,
    snappy: bool,
}

impl<S: Socket> Conn<S> {
    /// Wraps a connected socket. With `Some(remote static key)` this side is
    /// the initiator (it dialed); with `None` it is the recipient.
    ///
    /// Calls [`Socket::prepare`] (for TCP: sets `TCP_NODELAY`); a failure
    /// there is ignored, as it only affects latency.
    pub fn new(stream: S, dial_dest: Option<PublicKey>) -> Self {
        let _ = stream.prepare();
        Conn {
            stream,
            dial_dest,
            remote: None,
            session: None,
            timeouts: Timeouts::default(),
            armed: ArmedTimeouts::default(),
            snappy: false,
        }
    }

    /// The deadlines in use.
    pub fn timeouts(&self) -> Timeouts {
        self.timeouts
    }

    /// Changes the deadlines (they are also carried into the halves on split).
    pub fn set_timeouts(&mut self, timeouts: Timeouts) {
        self.timeouts = timeouts;
    }

    /// The underlying socket (e.g. for its addresses).
    pub fn stream(&self) -> &S {
        &self.stream
    }

    /// The remote static key: known up front when dialing, after the handshake otherwise.
    pub fn remote_pubkey(&self) -> Option<&PublicKey> {
        self.remote.as_ref().or(self.dial_dest.as_ref())
    }

    /// Runs the encryption handshake within [`Timeouts::handshake`] and
    /// returns the remote static public key.
    pub fn handshake(&mut self, key: &SecretKey) -> Result<PublicKey> {
        if self.session.is_some() {
            return Err(RlpxError::HandshakeAlreadyDone);
        }
        let mut io = Deadlined::new(&mut self.stream, self.timeouts.handshake, &mut self.armed);
        let mut pending = Vec::new();
        let secrets = match &self.dial_dest {
            Some(remote) => {
                let init = Initiator::new(key, remote);
                io.write_all(init.auth_packet())?;
                let ack = read_packet(&mut io, &mut pending)?;
                init.read_ack(&ack)?
            }
            None => {
                let auth = read_packet(&mut io, &mut pending)?;
                let (ack, secrets) = Recipient::new(key).read_auth(&auth)?.respond();
                io.write_all(&ack)?;
                secrets
            }
        };
        let remote = secrets.remote_pubkey;
        let (mut egress, mut ingress) = session(secrets);
        // Frames the remote sent right behind its handshake packet.
        ingress.push_received(&pending);
        egress.set_snappy(self.snappy);
        ingress.set_snappy(self.snappy);
        self.session = Some((egress, ingress));
        self.remote = Some(remote);
        Ok(remote)
    }

    /// Turns snappy compression on or off in both directions (done after the
    /// devp2p Hello exchange when both sides speak version 5 or later).
    pub fn set_snappy(&mut self, on: bool) {
        self.snappy = on;
        if let Some((e, i)) = &mut self.session {
            e.set_snappy(on);
            i.set_snappy(on);
        }
    }

    /// Reads one message within [`Timeouts::read`]. The payload is valid
    /// until the next read.
    pub fn read_msg(&mut self) -> Result<RawMsg<'_>> {
        let (_, ingress) = self.session.as_mut().ok_or(RlpxError::HandshakeNotDone)?;
        let mut io = Deadlined::new(&mut self.stream, self.timeouts.read, &mut self.armed);
        let now = io.began;
        ingress.read_msg_at(&mut io, Some(now))
    }

    /// Writes one message within [`Timeouts::write`] and returns the wire
    /// size of its payload (after compression).
    pub fn write_msg(&mut self, code: u64, data: &[u8]) -> Result<usize> {
        let (egress, _) = self.session.as_mut().ok_or(RlpxError::HandshakeNotDone)?;
        egress.write_msg(
            &mut Deadlined::new(&mut self.stream, self.timeouts.write, &mut self.armed),
            code,
            data,
        )
    }

    /// Seals `content` as one frame exactly as given (no message code is
    /// added, nothing is compressed) and returns the frame's bytes **without
    /// sending them**. A low-level hook for tools and tests that need
    /// malformed or partial frames on the wire: write the bytes, or a prefix
    /// of them, to [`stream`](Conn::stream) yourself.
    ///
    /// The egress cipher and MAC advance as if the whole frame had been sent,
    /// so after sending anything other than exactly these bytes the
    /// connection is out of sync and further messages are garbage to the
    /// remote.
    ///
    /// # Examples
    ///
    /// A MAC-valid header announcing a 4 KiB body, followed by only 100 bytes
    /// of it:
    ///
    /// ```no_run
    /// # use std::io::Write;
    /// # use devp2p_peer::rlpx::{Conn, SecretKey, PublicKey};
    /// # fn f(mut conn: Conn) -> Result<(), Box<dyn std::error::Error>> {
    /// let frame = conn.seal_raw_frame(&[0u8; 4096])?.to_vec();
    /// (&*conn.stream()).write_all(&frame[..32 + 100])?;
    /// # Ok(()) }
    /// ```
    pub fn seal_raw_frame(&mut self, content: &[u8]) -> Result<&[u8]> {
        let (egress, _) = self.session.as_mut().ok_or(RlpxError::HandshakeNotDone)?;
        egress.encode_raw(content)?;
        Ok(egress.frame())
    }

    /// Seals only a frame header announcing `size` body bytes and returns it,
    /// without sending it; see [`FrameEgress::encode_header`]. A low-level
    /// hook for tests that play a hostile remote: write the header, then as
    /// many body bytes (of any value) as wanted, to [`stream`](Conn::stream).
    /// The connection's egress is out of sync afterwards.
    pub fn seal_frame_header(&mut self, size: usize) -> Result<[u8; 32]> {
        let (egress, _) = self.session.as_mut().ok_or(RlpxError::HandshakeNotDone)?;
        egress.encode_header(size)
    }

    /// Splits the connection into a reader and a writer that can live on
    /// different threads. Both share the socket (through
    /// [`Socket::try_clone`]) but no other state. Snappy is switched per
    /// half; timeouts carry over.
    ///
    /// To stop a reader that is blocked in [`ConnReader::read_msg`], shut the
    /// socket down from another thread with [`ConnWriter::shutdown`] or a
    /// [`ShutdownHandle`]; the read then fails (usually with end of stream).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::net::{TcpListener, TcpStream};
    /// use std::thread;
    /// use devp2p_peer::rlpx::{Conn, SecretKey};
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    /// let addr = listener.local_addr().unwrap();
    /// let server_key = SecretKey::random();
    /// let server_pub = server_key.public_key();
    /// let server = thread::spawn(move || {
    ///     let mut conn = Conn::new(listener.accept().unwrap().0, None);
    ///     conn.handshake(&server_key).unwrap();
    ///     conn.set_snappy(true);
    ///     conn.write_msg(0x10, b"status").unwrap();
    ///     // Keep the connection open until the client has shut it down.
    ///     assert!(conn.read_msg().is_err());
    /// });
    ///
    /// let mut conn = Conn::new(TcpStream::connect(addr).unwrap(), Some(server_pub));
    /// conn.handshake(&SecretKey::random()).unwrap();
    /// conn.set_snappy(true);
    /// let (mut reader, writer) = conn.split().unwrap();
    ///
    /// let (tx, rx) = std::sync::mpsc::channel();
    /// let read_thread = thread::spawn(move || {
    ///     // Runs until the socket is shut down.
    ///     while let Ok(msg) = reader.read_msg() {
    ///         tx.send(msg.code).unwrap();
    ///     }
    /// });
    /// assert_eq!(rx.recv().unwrap(), 0x10);
    /// writer.shutdown().unwrap(); // unblocks the reader
    /// read_thread.join().unwrap();
    /// server.join().unwrap();
    /// ```
    pub fn split(self) -> Result<(ConnReader<S>, ConnWriter<S>)> {
        let (egress, ingress) = self.session.ok_or(RlpxError::HandshakeNotDone)?;
        let write_stream = self.stream.try_clone()?;
        Ok((
            ConnReader {
                stream: self.stream,
                ingress,
                timeout: self.timeouts.read,
                // The halves touch different socket options (the read and
                // the write timeout), so each keeps its own part.
                armed: ArmedTimeouts {
                    read: self.armed.read,
                    write: None,
                },
            },
            ConnWriter {
                stream: write_stream,
                egress,
                unsent: 0,
                timeout: self.timeouts.write,
                armed: ArmedTimeouts {
                    read: None,
                    write: self.armed.write,
                },
            },
        ))
    }

    /// A handle that can shut the socket down from any thread.
    pub fn shutdown_handle(&self) -> Result<ShutdownHandle<S>> {
        Ok(ShutdownHandle(self.stream.try_clone()?))
    }

    /// Shuts the socket down in both directions.
    pub fn shutdown(&self) -> Result<()> {
        Ok(self.stream.shutdown()?)
    }
}

impl<S: Socket> std::fmt::Debug for Conn<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conn")
            .field("initiator", &self.dial_dest.is_some())
            .field("remote", &self.remote_pubkey())
            .field("handshake_done", &self.session.is_some())
            .field("snappy", &self.snappy)
            .finish()
    }
}

/// Reads one size-prefixed handshake packet. Bytes read past the packet stay
/// in `pending`. The size is checked before the body is read.
fn read_packet<R: Read>(r: &mut R, pending: &mut Vec<u8>) -> Result<Vec<u8>> {
    fill_to(r, pending, 2)?;
    let size = packet_body_size([pending[0], pending[1]])?;
    fill_to(r, pending, 2 + size)?;
    Ok(pending.drain(..2 + size).collect())
}

/// Reads into `pending` (straight into its spare room, no buffer on the stack) until it
/// holds at least `need` bytes; at most 4 KiB more are read at a time.
fn fill_to<R: Read>(r: &mut R, pending: &mut Vec<u8>, need: usize) -> Result<()> {
    const CHUNK: usize = 4096;
    while pending.len() < need {
        let have = pending.len();
        pending.resize(have + CHUNK, 0);
        let read = r.read(&mut pending[have..]);
        pending.truncate(have + *read.as_ref().unwrap_or(&0));
        match read {
            Ok(0) => return Err(io::Error::from(io::ErrorKind::UnexpectedEof).into()),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// The reading half of a split [`Conn`].
///
/// # Examples
///
/// After the handshake, [`Conn::split`] gives a reader and a writer for two threads:
///
/// ```
/// use std::net::{TcpListener, TcpStream};
/// use std::thread;
/// use devp2p_peer::rlpx::{Conn, SecretKey};
///
/// let listener = TcpListener::bind("127.0.0.1:0").unwrap();
/// let addr = listener.local_addr().unwrap();
/// let (key_a, key_b) = (SecretKey::random(), SecretKey::random());
/// let pub_b = key_b.public_key();
/// // The other end echoes one message.
/// let echo = thread::spawn(move || {
///     let mut conn = Conn::new(listener.accept().unwrap().0, None);
///     conn.handshake(&key_b).unwrap();
///     let (code, data) = {
///         let m = conn.read_msg().unwrap();
///         (m.code, m.data.to_vec())
///     };
///     conn.write_msg(code, &data).unwrap();
/// });
///
/// let mut conn = Conn::new(TcpStream::connect(addr).unwrap(), Some(pub_b));
/// conn.handshake(&key_a).unwrap();
/// let (mut reader, mut writer) = conn.split().unwrap();
/// let sender = thread::spawn(move || writer.write_msg(0x10, b"hello").unwrap());
/// let msg = reader.read_msg().unwrap();
/// assert_eq!((msg.code, msg.data), (0x10, &b"hello"[..]));
/// sender.join().unwrap();
/// echo.join().unwrap();
/// ```
pub struct ConnReader<S: Socket = TcpStream> {
    stream: S,
    ingress: FrameIngress,
    timeout: Duration,
    armed: ArmedTimeouts,
}

impl<S: Socket> ConnReader<S> {
    /// Reads one message within the read timeout. The payload is valid until
    /// the next read. After [`shutdown`](ConnWriter::shutdown) from another
    /// thread this returns an error (usually end of stream).
    pub fn read_msg(&mut self) -> Result<RawMsg<'_>> {
        let mut io = Deadlined::new(&mut self.stream, self.timeout, &mut self.armed);
        let now = io.began;
        self.ingress.read_msg_at(&mut io, Some(now))
    }

    /// Like [`read_msg`](ConnReader::read_msg), with the payload in a vector of its own:
    /// `(code, payload)`. A snappy payload is decompressed straight into it. A payload
    /// larger than [`RELEASE_ABOVE`](super::frame::RELEASE_ABOVE) may go into a vector
    /// from `spare` (see [`FrameIngress::read_msg_owned`]).
    #[inline]
    pub(crate) fn read_msg_owned(
        &mut self,
        spare: impl FnOnce() -> Option<Vec<u8>>,
    ) -> Result<(u64, Vec<u8>)> {
        let mut io = Deadlined::new(&mut self.stream, self.timeout, &mut self.armed);
        let now = io.began;
        let (code, data, _) = self.ingress.read_msg_owned(&mut io, Some(now), spare)?;
        Ok((code, data))
    }

    /// Turns snappy decompression on or off for this direction.
    pub fn set_snappy(&mut self, on: bool) {
        self.ingress.set_snappy(on);
    }

    /// Limits the body size a frame header may announce; see
    /// [`FrameIngress::set_max_frame_size`].
    pub fn set_max_frame_size(&mut self, limit: usize) {
        self.ingress.set_max_frame_size(limit);
    }

    /// Bytes held by the read buffers; see [`FrameIngress::buffer_capacity`].
    pub fn buffer_capacity(&self) -> usize {
        self.ingress.buffer_capacity()
    }

    /// Changes the per-message read timeout.
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    /// The per-message read timeout in use.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Shuts the socket down in both directions.
    pub fn shutdown(&self) -> Result<()> {
        Ok(self.stream.shutdown()?)
    }

    /// A handle that can shut the socket down from any thread.
    pub fn shutdown_handle(&self) -> Result<ShutdownHandle<S>> {
        Ok(ShutdownHandle(self.stream.try_clone()?))
    }
}

/// The writing half of a split [`Conn`].
///
/// # Examples
///
/// A writer with a longer per-message timeout (the two halves come from [`Conn::split`];
/// see [`ConnReader`] for both in use):
///
/// ```
/// use std::net::{TcpListener, TcpStream};
/// use std::thread;
/// use std::time::Duration;
/// use devp2p_peer::rlpx::{Conn, SecretKey};
///
/// let listener = TcpListener::bind("127.0.0.1:0").unwrap();
/// let (key_a, key_b) = (SecretKey::random(), SecretKey::random());
/// let pub_b = key_b.public_key();
/// let addr = listener.local_addr().unwrap();
/// let other = thread::spawn(move || {
///     let mut conn = Conn::new(listener.accept().unwrap().0, None);
///     conn.handshake(&key_b).unwrap();
///     conn.read_msg().unwrap().data.to_vec()
/// });
/// let mut conn = Conn::new(TcpStream::connect(addr).unwrap(), Some(pub_b));
/// conn.handshake(&key_a).unwrap();
/// let (_reader, mut writer) = conn.split().unwrap();
/// writer.set_timeout(Duration::from_secs(60));
/// writer.write_msg(0x10, b"status").unwrap();
/// assert_eq!(other.join().unwrap(), b"status");
/// ```
pub struct ConnWriter<S: Socket = TcpStream> {
    stream: S,
    egress: FrameEgress,
    /// The last this many bytes of `egress.frame()` are committed but not sent yet (left by
    /// a [`ConnWriter::try_write_msg`] that could not send the whole frame).
    unsent: usize,
    timeout: Duration,
    armed: ArmedTimeouts,
}

/// How far [`ConnWriter::try_write_msg`] got.
///
/// # Examples
///
/// ```
/// use devp2p_peer::rlpx::TrySend;
/// let outcome = TrySend::Partial;
/// // The frame is committed: the rest goes out with the next write or `flush`.
/// assert!(outcome != TrySend::WouldBlock);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrySend {
    /// The whole frame was handed to the socket.
    Done,
    /// The frame was sealed (the egress cipher and MAC advanced) but only part of it, maybe
    /// none, fit into the socket; the writer keeps the rest and sends it before anything
    /// else.
    Partial,
    /// Nothing was sealed or sent: bytes kept from an earlier frame still do not all fit.
    WouldBlock,
}

impl<S: Socket> ConnWriter<S> {
    /// Writes one message within the write timeout (one `write_all` of the
    /// whole frame) and returns the wire size of its payload. Bytes kept from an earlier
    /// [`try_write_msg`](ConnWriter::try_write_msg) go first, within the same deadline.
    pub fn write_msg(&mut self, code: u64, data: &[u8]) -> Result<usize> {
        let mut io = Deadlined::new(&mut self.stream, self.timeout, &mut self.armed);
        send_kept(&mut io, &self.egress, &mut self.unsent)?;
        self.egress.write_msg(&mut io, code, data)
    }

    /// Writes one message only as far as the socket takes it without waiting (for control
    /// messages a thread must send without blocking):
    ///
    /// - [`TrySend::Done`]: the whole frame went out;
    /// - [`TrySend::Partial`]: the frame is sealed, but part of it (maybe all) did not fit;
    ///   the writer keeps those bytes and sends them first on the next
    ///   [`write_msg`](ConnWriter::write_msg), `try_write_msg` or
    ///   [`flush`](ConnWriter::flush);
    /// - [`TrySend::WouldBlock`]: bytes kept from an earlier frame still do not all fit, so
    ///   this message was not sealed; try again later or [`flush`](ConnWriter::flush).
    ///
    /// Size errors come before anything is sealed, as for `write_msg`; any other error
    /// leaves the stream unusable.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::net::{TcpListener, TcpStream};
    /// use std::thread;
    /// use devp2p_peer::rlpx::{Conn, SecretKey, TrySend};
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    /// let addr = listener.local_addr().unwrap();
    /// let key_b = SecretKey::random();
    /// let pub_b = key_b.public_key();
    /// let other = thread::spawn(move || {
    ///     let mut conn = Conn::new(listener.accept().unwrap().0, None);
    ///     conn.handshake(&key_b).unwrap();
    ///     conn.read_msg().unwrap().code
    /// });
    /// let mut conn = Conn::new(TcpStream::connect(addr).unwrap(), Some(pub_b));
    /// conn.handshake(&SecretKey::random()).unwrap();
    /// let (_reader, mut writer) = conn.split().unwrap();
    /// if writer.try_write_msg(0x02, &[0xc0]).unwrap() != TrySend::Done {
    ///     writer.flush().unwrap(); // an idle socket normally takes it at once
    /// }
    /// assert_eq!(other.join().unwrap(), 0x02);
    /// ```
    pub fn try_write_msg(&mut self, code: u64, data: &[u8]) -> Result<TrySend> {
        if !self.try_flush()? {
            return Ok(TrySend::WouldBlock);
        }
        self.egress.encode(code, data)?;
        self.unsent = self.egress.frame().len();
        Ok(if self.try_flush()? {
            TrySend::Done
        } else {
            TrySend::Partial
        })
    }

    /// Sends the bytes a [`TrySend::Partial`] left, as far as the socket takes them without
    /// waiting. `true` when none are left.
    pub fn try_flush(&mut self) -> Result<bool> {
        while self.unsent > 0 {
            let frame = self.egress.frame();
            match self.stream.try_send(&frame[frame.len() - self.unsent..]) {
                Ok(0) => return Err(io::Error::from(io::ErrorKind::WriteZero).into()),
                Ok(n) => self.unsent -= n.min(self.unsent),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(true)
    }

    /// Sends the bytes a [`TrySend::Partial`] left, waiting at most the write timeout.
    /// Does nothing when none are left.
    pub fn flush(&mut self) -> Result<()> {
        if self.unsent == 0 {
            return Ok(());
        }
        let mut io = Deadlined::new(&mut self.stream, self.timeout, &mut self.armed);
        send_kept(&mut io, &self.egress, &mut self.unsent)
    }

    /// Bytes of a sealed frame not sent yet (left by a [`TrySend::Partial`]).
    pub fn unsent(&self) -> usize {
        self.unsent
    }

    /// Turns snappy compression on or off for this direction.
    pub fn set_snappy(&mut self, on: bool) {
        self.egress.set_snappy(on);
    }

    /// Bytes held by the write buffers; see [`FrameEgress::buffer_capacity`].
    pub fn buffer_capacity(&self) -> usize {
        self.egress.buffer_capacity()
    }

    /// The per-message write timeout in use.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Changes the per-message write timeout.
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    /// Shuts the socket down in both directions; a reader blocked on the
    /// other half returns.
    pub fn shutdown(&self) -> Result<()> {
        Ok(self.stream.shutdown()?)
    }

    /// A handle that can shut the socket down from any thread.
    pub fn shutdown_handle(&self) -> Result<ShutdownHandle<S>> {
        Ok(ShutdownHandle(self.stream.try_clone()?))
    }
}

/// Sends the last `unsent` bytes of the egress's frame with blocking writes, counting down
/// as they go (so an error leaves the count right).
fn send_kept<W: Write>(io: &mut W, egress: &FrameEgress, unsent: &mut usize) -> Result<()> {
    while *unsent > 0 {
        let frame = egress.frame();
        match io.write(&frame[frame.len() - *unsent..]) {
            Ok(0) => return Err(io::Error::from(io::ErrorKind::WriteZero).into()),
            Ok(n) => *unsent -= n.min(*unsent),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// Shuts a connection's socket down from any thread (e.g. to unblock a
/// reader). Shutting down twice is harmless.
///
/// # Examples
///
/// ```
/// use std::net::{TcpListener, TcpStream};
/// use devp2p_peer::rlpx::{Conn, SecretKey};
///
/// let listener = TcpListener::bind("127.0.0.1:0").unwrap();
/// let stream = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
/// let conn = Conn::new(stream, Some(SecretKey::random().public_key()));
/// let handle = conn.shutdown_handle().unwrap();
/// handle.shutdown().unwrap(); // from any thread: a blocked read returns
/// handle.shutdown().unwrap(); // twice is harmless
/// ```
pub struct ShutdownHandle<S: Socket = TcpStream>(S);

impl<S: Socket> ShutdownHandle<S> {
    /// Shuts the socket down in both directions.
    pub fn shutdown(&self) -> Result<()> {
        match self.0.shutdown() {
            // Already shut down or reset by the peer: the goal is reached.
            Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(()),
            r => Ok(r?),
        }
    }
}

impl<S: Socket> std::fmt::Debug for ConnReader<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnReader").finish_non_exhaustive()
    }
}

impl<S: Socket> std::fmt::Debug for ConnWriter<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnWriter").finish_non_exhaustive()
    }
}

impl<S: Socket> std::fmt::Debug for ShutdownHandle<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ShutdownHandle")
    }
}
