//! A transport that injects faults, for testing protocols against a failing connection.

use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{bounded, Receiver, Sender};
use parking_lot::Mutex;

use crate::{Error, Msg, MsgReader, MsgWriter, Transport};

/// A [`Transport`] that wraps another and makes it fail on cue: the Nth read or write fails
/// with an error of your choice, reads and writes are delayed, or the connection is closed
/// in the middle of a message.
///
/// Built for testing your own protocols: run a [`Peer`](crate::Peer) over a
/// `FaultyTransport` around one end of a [`MemoryTransport`](crate::MemoryTransport) (or
/// any other transport) and check that the protocol, and the code around it, survive what a
/// real network does to it. Faults are configured with builder methods before the
/// transport is used; reads and writes are counted from 1, each separately.
///
/// | method | fault |
/// | --- | --- |
/// | [`fail_read`](Self::fail_read) / [`fail_write`](Self::fail_write) | the Nth read or write returns the error, the connection stays up |
/// | [`read_delay`](Self::read_delay) / [`write_delay`](Self::write_delay) | every read or write waits first (a [`shutdown`](Transport::shutdown) cuts the wait short) |
/// | [`cut_read_after`](Self::cut_read_after) / [`cut_write_after`](Self::cut_write_after) | the connection closes once N payload bytes have passed: the message that would cross the mark never arrives, as when a socket dies in the middle of a frame |
///
/// A failed read does not consume a message of the inner transport; a failed write does
/// not pass its message on. [`Transport::try_write_msg`] keeps its default (nothing is
/// written at once), so a peer's Pings and Pongs go through `write_msg` on its control
/// writer and meet the write faults and delays too. A cut closes the inner transport without a Disconnect message
/// and fails the read or write that met it with an I/O error of kind
/// [`UnexpectedEof`](io::ErrorKind::UnexpectedEof); every later read and write fails too.
///
/// # Examples
///
/// A protocol whose second message is lost to a reset connection:
///
/// ```
/// use devp2p_peer::{Error, FaultyTransport, MemoryTransport, Msg, MsgReader, MsgWriter};
///
/// let (a, b) = MemoryTransport::buffered_pair(4);
/// let a = FaultyTransport::new(a).fail_write(2, Error::other("connection reset"));
/// a.write_msg(Msg::new(16, vec![0x01])).unwrap();
/// let err = a.write_msg(Msg::new(16, vec![0x02])).unwrap_err();
/// assert_eq!(err.to_string(), "connection reset");
/// a.write_msg(Msg::new(16, vec![0x03])).unwrap();
/// assert_eq!(b.read_msg().unwrap().payload.into_vec(), [0x01]);
/// assert_eq!(b.read_msg().unwrap().payload.into_vec(), [0x03]);
/// assert_eq!(a.writes(), 3);
/// ```
///
/// A connection that dies in the middle of a message:
///
/// ```
/// use devp2p_peer::{FaultyTransport, MemoryTransport, Msg, MsgReader, MsgWriter};
///
/// let (a, b) = MemoryTransport::buffered_pair(4);
/// let a = FaultyTransport::new(a).cut_write_after(6);
/// a.write_msg(Msg::new(16, vec![0; 4])).unwrap(); // 4 bytes: fine
/// assert!(a.write_msg(Msg::new(16, vec![0; 4])).is_err()); // would pass byte 6: cut
/// assert_eq!(b.read_msg().unwrap().size, 4);
/// assert!(b.read_msg().is_err()); // the second message never arrives
/// ```
pub struct FaultyTransport<T> {
    inner: T,
    read_errors: BTreeMap<u64, Error>,
    write_errors: BTreeMap<u64, Error>,
    read_delay: Option<Duration>,
    write_delay: Option<Duration>,
    cut_read_after: Option<u64>,
    cut_write_after: Option<u64>,
    state: Mutex<State>,
    /// Dropped by `shutdown`, which wakes every delayed read or write.
    closing: Mutex<Option<Sender<()>>>,
    closed: Receiver<()>,
}

#[derive(Default)]
struct State {
    reads: u64,
    writes: u64,
    bytes_read: u64,
    bytes_written: u64,
    cut: bool,
}

/// Which way a message goes.
#[derive(Clone, Copy)]
enum Dir {
    Read,
    Write,
}

impl<T: Transport> FaultyTransport<T> {
    /// Wraps `inner`, with no faults yet.
    pub fn new(inner: T) -> FaultyTransport<T> {
        let (tx, rx) = bounded(0);
        FaultyTransport {
            inner,
            read_errors: BTreeMap::new(),
            write_errors: BTreeMap::new(),
            read_delay: None,
            write_delay: None,
            cut_read_after: None,
            cut_write_after: None,
            state: Mutex::new(State::default()),
            closing: Mutex::new(Some(tx)),
            closed: rx,
        }
    }

    /// The `n`th call of `read_msg` (counting from 1) returns `err` without reading. Call
    /// it once per read to fail; a later call for the same `n` replaces the error.
    ///
    /// # Examples
    ///
    /// ```
    /// use devp2p_peer::{Error, FaultyTransport, MemoryTransport, Msg, MsgReader, MsgWriter};
    /// let (a, b) = MemoryTransport::buffered_pair(1);
    /// let b = FaultyTransport::new(b).fail_read(1, Error::other("flaky"));
    /// a.write_msg(Msg::new(16, vec![0x80])).unwrap();
    /// assert_eq!(b.read_msg().unwrap_err().to_string(), "flaky");
    /// assert_eq!(b.read_msg().unwrap().code, 16); // the message was kept
    /// ```
    pub fn fail_read(mut self, n: u64, err: Error) -> Self {
        self.read_errors.insert(n, err);
        self
    }

    /// The `n`th call of `write_msg` (counting from 1) returns `err`; its message is
    /// dropped. See the type's examples.
    pub fn fail_write(mut self, n: u64, err: Error) -> Self {
        self.write_errors.insert(n, err);
        self
    }

    /// Every read waits `delay` before it reads (a shutdown ends the wait early).
    pub fn read_delay(mut self, delay: Duration) -> Self {
        self.read_delay = Some(delay);
        self
    }

    /// Every write waits `delay` before it writes (a shutdown ends the wait early).
    pub fn write_delay(mut self, delay: Duration) -> Self {
        self.write_delay = Some(delay);
        self
    }

    /// Closes the connection once more than `bytes` payload bytes would have been read: the
    /// message that crosses the mark is dropped and its read fails, as when a socket dies
    /// while a frame is half in.
    pub fn cut_read_after(mut self, bytes: u64) -> Self {
        self.cut_read_after = Some(bytes);
        self
    }

    /// Closes the connection once more than `bytes` payload bytes would have been written:
    /// the message that crosses the mark never reaches the other end and its write fails,
    /// as when a socket dies while a frame is half out. See the type's examples.
    pub fn cut_write_after(mut self, bytes: u64) -> Self {
        self.cut_write_after = Some(bytes);
        self
    }

    /// How many times `read_msg` has been called.
    pub fn reads(&self) -> u64 {
        self.state.lock().reads
    }

    /// How many times `write_msg` has been called.
    pub fn writes(&self) -> u64 {
        self.state.lock().writes
    }

    /// True once a cut closed the connection.
    pub fn was_cut(&self) -> bool {
        self.state.lock().cut
    }

    /// The wrapped transport.
    pub fn inner(&self) -> &T {
        &self.inner
    }

    /// Counts a call and returns the fault it meets, if any.
    fn begin(&self, dir: Dir) -> Result<(), Error> {
        let (delay, errors) = match dir {
            Dir::Read => (self.read_delay, &self.read_errors),
            Dir::Write => (self.write_delay, &self.write_errors),
        };
        let n = {
            let mut st = self.state.lock();
            if st.cut {
                return Err(cut_error());
            }
            let count = match dir {
                Dir::Read => &mut st.reads,
                Dir::Write => &mut st.writes,
            };
            *count += 1;
            *count
        };
        if let Some(err) = errors.get(&n) {
            return Err(err.clone());
        }
        if let Some(delay) = delay {
            // A shutdown drops the sender and ends the wait; the inner transport, closed by
            // then, gives the error.
            let _ = self.closed.recv_timeout(delay);
        }
        Ok(())
    }

    /// Adds `size` bytes going `dir`; past the mark, cuts the connection.
    fn pass(&self, dir: Dir, size: u32) -> Result<(), Error> {
        let limit = match dir {
            Dir::Read => self.cut_read_after,
            Dir::Write => self.cut_write_after,
        };
        let mut st = self.state.lock();
        let total = match dir {
            Dir::Read => &mut st.bytes_read,
            Dir::Write => &mut st.bytes_written,
        };
        *total = total.saturating_add(u64::from(size));
        if limit.is_some_and(|limit| *total > limit) {
            st.cut = true;
            drop(st);
            self.inner.shutdown(&cut_error());
            return Err(cut_error());
        }
        Ok(())
    }
}

fn cut_error() -> Error {
    Error::Io(Arc::new(io::Error::new(
        io::ErrorKind::UnexpectedEof,
        "connection cut by fault injection",
    )))
}

impl<T: Transport> MsgReader for FaultyTransport<T> {
    fn read_msg(&self) -> Result<Msg, Error> {
        self.begin(Dir::Read)?;
        let msg = self.inner.read_msg()?;
        self.pass(Dir::Read, msg.size)?;
        Ok(msg)
    }
}

impl<T: Transport> MsgWriter for FaultyTransport<T> {
    fn write_msg(&self, msg: Msg) -> Result<(), Error> {
        self.begin(Dir::Write)?;
        self.pass(Dir::Write, msg.size)?;
        self.inner.write_msg(msg)
    }
}

impl<T: Transport> Transport for FaultyTransport<T> {
    fn shutdown(&self, err: &Error) {
        self.closing.lock().take();
        self.inner.shutdown(err);
    }

    fn remote_addr(&self) -> Option<SocketAddr> {
        self.inner.remote_addr()
    }

    fn local_addr(&self) -> Option<SocketAddr> {
        self.inner.local_addr()
    }
}

impl<T: fmt::Debug> fmt::Debug for FaultyTransport<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FaultyTransport")
            .field("inner", &self.inner)
            .field("read_errors", &self.read_errors.keys())
            .field("write_errors", &self.write_errors.keys())
            .field("read_delay", &self.read_delay)
            .field("write_delay", &self.write_delay)
            .field("cut_read_after", &self.cut_read_after)
            .field("cut_write_after", &self.cut_write_after)
            .finish_non_exhaustive()
    }
}
