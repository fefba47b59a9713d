//! An in-memory, full-duplex message pipe.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{after, bounded, never, select, Receiver, Sender};
use parking_lot::Mutex;

use crate::{Error, Msg, MsgReader, MsgWriter};

struct Shared {
    /// Dropped (taken) on close: every `closing` receiver then wakes.
    closing_tx: Mutex<Option<Sender<()>>>,
    closing: Receiver<()>,
    closed: AtomicBool,
}

/// One end of an in-memory message pipe (see [`msg_pipe`]).
///
/// Each direction is a rendezvous: `write_msg` returns once the reader on the other end has
/// taken the message **and** read its payload to the end (or dropped it). Closing either end
/// closes the pipe for both; pending and later reads and writes fail with
/// [`Error::PipeClosed`]. Dropping an end closes the pipe too.
///
/// This is the pipe to test a protocol's `run` against directly. To connect two
/// [`Peer`](crate::Peer)s in memory, use a [`MemoryTransport`](crate::MemoryTransport).
///
/// # Examples
///
/// ```
/// use devp2p_peer::{msg_pipe, Error, MsgReader};
/// let (a, b) = msg_pipe();
/// a.close();
/// assert!(matches!(b.read_msg(), Err(Error::PipeClosed)));
/// ```
pub struct MsgPipeRw {
    w: Sender<Msg>,
    r: Receiver<Msg>,
    shared: Arc<Shared>,
    /// Whether a write waits for the reader to consume the payload (the pipe's rule), or
    /// only for the hand-over (the in-memory transport's).
    wait_consumed: bool,
}

/// Creates an in-memory message pipe: what one end writes, the other reads.
///
/// # Examples
///
/// ```
/// use devp2p_peer::{msg_pipe, send_items, Error, MsgReader};
///
/// let (rw1, rw2) = msg_pipe();
/// let writer = std::thread::spawn(move || {
///     send_items(&rw1, 8, &[&vec![0u8, 0]]).unwrap();
///     send_items(&rw1, 5, &[&vec![1u8, 1]]).unwrap();
///     rw1.close();
/// });
/// let mut got = Vec::new();
/// loop {
///     match rw2.read_msg() {
///         Ok(mut msg) => {
///             let data: Vec<Vec<u8>> = msg.decode_list().unwrap();
///             got.push((msg.code, data[0].clone()));
///         }
///         Err(e) => {
///             assert!(matches!(e, Error::PipeClosed));
///             break;
///         }
///     }
/// }
/// writer.join().unwrap();
/// assert_eq!(got, vec![(8, vec![0, 0]), (5, vec![1, 1])]);
/// ```
pub fn msg_pipe() -> (MsgPipeRw, MsgPipeRw) {
    pipe_with(0, true)
}

/// A pipe whose directions buffer `capacity` messages, and whose writes wait for the
/// payload to be consumed only when `wait_consumed` is set.
pub(crate) fn pipe_with(capacity: usize, wait_consumed: bool) -> (MsgPipeRw, MsgPipeRw) {
    let (tx1, rx1) = bounded(capacity);
    let (tx2, rx2) = bounded(capacity);
    let (closing_tx, closing) = bounded(0);
    let shared = Arc::new(Shared {
        closing_tx: Mutex::new(Some(closing_tx)),
        closing,
        closed: AtomicBool::new(false),
    });
    (
        MsgPipeRw {
            w: tx1,
            r: rx2,
            shared: shared.clone(),
            wait_consumed,
        },
        MsgPipeRw {
            w: tx2,
            r: rx1,
            shared,
            wait_consumed,
        },
    )
}

impl MsgPipeRw {
    /// Closes the pipe, both ends. Idempotent and safe from any thread.
    pub fn close(&self) {
        if !self.shared.closed.swap(true, Ordering::SeqCst) {
            self.shared.closing_tx.lock().take();
        }
    }

    /// True once either end was closed.
    pub fn is_closed(&self) -> bool {
        self.shared.closed.load(Ordering::SeqCst)
    }

    /// Like [`MsgWriter::write_msg`], but gives up after `timeout` with an
    /// [`io::ErrorKind::TimedOut`](std::io::ErrorKind::TimedOut) error if the reader has not
    /// taken the message by then.
    pub fn write_msg_timeout(&self, msg: Msg, timeout: Duration) -> Result<(), Error> {
        self.write(msg, Some(Instant::now() + timeout))
    }

    fn write(&self, mut msg: Msg, deadline: Option<Instant>) -> Result<(), Error> {
        if self.is_closed() {
            return Err(Error::PipeClosed);
        }
        // Zero-size payloads may never be read at all: only wait for ones with bytes.
        let consumed = if self.wait_consumed && msg.size > 0 {
            let (tx, rx) = bounded(1);
            msg.payload.set_consumed_signal(tx);
            Some(rx)
        } else {
            None
        };
        let timeout = match deadline {
            Some(d) => after(d.saturating_duration_since(Instant::now())),
            None => never(),
        };
        select! {
            send(self.w, msg) -> res => {
                if res.is_err() {
                    return Err(Error::PipeClosed);
                }
            }
            recv(self.shared.closing) -> _ => return Err(Error::PipeClosed),
            recv(timeout) -> _ => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "message pipe write timed out",
                )
                .into())
            }
        }
        // Handed over: wait until the payload is read (or the pipe closes, or time runs out).
        if let Some(consumed) = consumed {
            select! {
                recv(consumed) -> _ => {}
                recv(self.shared.closing) -> _ => {}
                recv(timeout) -> _ => {}
            }
        }
        Ok(())
    }
}

impl MsgPipeRw {
    /// What a read gets once the pipe is closed: nothing for a message pipe; for a
    /// transport's pipe, like a socket, what was written before the close comes first.
    fn read_closed(&self) -> Result<Msg, Error> {
        if !self.wait_consumed {
            if let Ok(msg) = self.r.try_recv() {
                return Ok(msg);
            }
        }
        Err(Error::PipeClosed)
    }
}

impl MsgReader for MsgPipeRw {
    fn read_msg(&self) -> Result<Msg, Error> {
        if self.is_closed() {
            return self.read_closed();
        }
        select! {
            recv(self.r) -> msg => msg.map_err(|_| Error::PipeClosed),
            recv(self.shared.closing) -> _ => self.read_closed(),
        }
    }
}

impl MsgWriter for MsgPipeRw {
    fn write_msg(&self, msg: Msg) -> Result<(), Error> {
        self.write(msg, None)
    }
}

impl Drop for MsgPipeRw {
    fn drop(&mut self) {
        self.close();
    }
}

impl std::fmt::Debug for MsgPipeRw {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MsgPipeRw")
            .field("closed", &self.is_closed())
            .finish()
    }
}
