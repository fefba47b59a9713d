//! Sending to many peers at once without letting a slow one hold back the rest.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::thread::{self, JoinHandle};

use crossbeam_channel::{bounded, select, Receiver, Sender, TrySendError};
use log::{debug, trace};
use parking_lot::Mutex;

use crate::{Msg, MsgWriter, NodeId, ProtoWriter};

/// Queue capacity of [`Broadcaster::default`]: messages waiting for one peer's sender.
pub const DEFAULT_BROADCAST_QUEUE: usize = 256;

/// A set of peers to send to, each behind a bounded queue drained by a sender thread of its
/// own, so that a slow or stalled peer cannot hold back the others or the caller.
///
/// The policy is go-ethereum's for eth broadcasts: a send never blocks; a message for a peer
/// whose queue is full is dropped for that peer (the newest is dropped, the queued ones
/// stay), and the drop is counted, per peer and in total ([`Broadcaster::dropped`]). Messages
/// to one peer go out in the order they were queued.
///
/// Each added peer gets a sender thread (`bcast-<id prefix>`) that writes its queue through
/// the writer it was added with (a [`ProtoWriter`]: through the peer's write token). The
/// thread ends, and the peer leaves the set, when the peer shuts down, when a write fails, or
/// when the peer is [removed](Broadcaster::remove) or replaced. Ended threads are joined by
/// the next call that changes the set, by [`Broadcaster::join_ended`], and by the drop of the
/// last handle, which also ends and joins the remaining ones (a sender in the middle of a
/// write finishes it first: bounded by the transport's write deadline).
///
/// Cheap to clone: clones share the set.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use devp2p_peer::*;
///
/// let bc = Broadcaster::new(16);
/// // Any `MsgWriter` can stand for a peer; here a pipe, whose other end reads.
/// let (ours, theirs) = msg_pipe();
/// let closed = crossbeam_channel::never(); // a real peer: `ProtoWriter::closed`
/// bc.add_writer(NodeId([1; 32]), ours, closed);
/// let report = bc.send(0, rlp::encode(&"hi").to_vec());
/// assert_eq!((report.queued, report.dropped), (1, 0));
/// let mut msg = theirs.read_msg().unwrap();
/// assert_eq!(msg.decode::<String>().unwrap(), "hi");
/// ```
#[derive(Clone)]
pub struct Broadcaster {
    shared: Arc<Shared>,
}

struct Shared {
    capacity: usize,
    dropped: AtomicU64,
    next_gen: AtomicU64,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    peers: HashMap<NodeId, Entry>,
    ended: Vec<JoinHandle<()>>,
}

struct Entry {
    generation: u64,
    queue: Sender<(u64, Arc<[u8]>)>,
    dropped: Arc<AtomicU64>,
    thread: JoinHandle<()>,
}

/// What one [`Broadcaster::send`] did.
///
/// # Examples
///
/// ```
/// use devp2p_peer::{BroadcastReport, Broadcaster};
/// let empty = Broadcaster::new(8);
/// assert_eq!(empty.send(0, vec![0xc0]), BroadcastReport { queued: 0, dropped: 0 });
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BroadcastReport {
    /// Peers whose queue took the message.
    pub queued: usize,
    /// Peers whose queue was full: the message was dropped for them.
    pub dropped: usize,
}

impl Default for Broadcaster {
    fn default() -> Broadcaster {
        Broadcaster::new(DEFAULT_BROADCAST_QUEUE)
    }
}

impl Broadcaster {
    /// An empty set whose per-peer queues hold `capacity` messages (at least 1).
    pub fn new(capacity: usize) -> Broadcaster {
        Broadcaster {
            shared: Arc::new(Shared {
                capacity: capacity.max(1),
                dropped: AtomicU64::new(0),
                next_gen: AtomicU64::new(0),
                state: Mutex::new(State::default()),
            }),
        }
    }

    /// Adds a peer through its protocol writer (replacing any earlier entry for the same
    /// peer); its sender thread ends when the peer shuts down.
    pub fn add(&self, writer: ProtoWriter) {
        let (id, closed) = (writer.peer_id(), writer.closed().clone());
        self.add_writer(id, writer, closed);
    }

    /// Adds `writer` as peer `id` (replacing any earlier entry for `id`); its sender thread
    /// ends when `closed` becomes ready or disconnected, or when a write fails.
    ///
    /// If the thread cannot be started (the system is out of threads) the peer is not added
    /// and this returns `false`.
    pub fn add_writer(
        &self,
        id: NodeId,
        writer: impl MsgWriter + 'static,
        closed: Receiver<()>,
    ) -> bool {
        let (tx, rx) = bounded::<(u64, Arc<[u8]>)>(self.shared.capacity);
        let generation = self.shared.next_gen.fetch_add(1, Ordering::Relaxed);
        let weak = Arc::downgrade(&self.shared);
        let spawned = thread::Builder::new()
            .name(format!("bcast-{}", id.terminal_string()))
            .stack_size(crate::PEER_THREAD_STACK_SIZE)
            .spawn(move || sender_loop(id, generation, writer, rx, closed, weak));
        let thread = match spawned {
            Ok(t) => t,
            Err(e) => {
                debug!(
                    "broadcast: no sender thread for {}: {e}",
                    id.terminal_string()
                );
                return false;
            }
        };
        let entry = Entry {
            generation,
            queue: tx,
            dropped: Arc::new(AtomicU64::new(0)),
            thread,
        };
        let ended = {
            let mut st = self.shared.state.lock();
            if let Some(old) = st.peers.insert(id, entry) {
                st.ended.push(old.thread); // its queue is dropped: it ends
            }
            std::mem::take(&mut st.ended)
        };
        join_all(ended);
        true
    }

    /// Removes peer `id`: its sender thread ends after the write in progress, if any, and its
    /// queued messages are dropped (not counted). Returns whether it was in the set.
    pub fn remove(&self, id: &NodeId) -> bool {
        let (found, ended) = {
            let mut st = self.shared.state.lock();
            let found = match st.peers.remove(id) {
                Some(e) => {
                    st.ended.push(e.thread);
                    true
                }
                None => false,
            };
            (found, std::mem::take(&mut st.ended))
        };
        join_all(ended);
        found
    }

    /// Queues `(code, payload)` for every peer in the set; never blocks. `code` is relative
    /// to the protocol the writers belong to.
    pub fn send(&self, code: u64, payload: impl Into<Arc<[u8]>>) -> BroadcastReport {
        self.send_filtered(code, payload.into(), |_| true)
    }

    /// Like [`send`](Broadcaster::send), to every peer but `except` (a relay's sender).
    pub fn send_except(
        &self,
        except: &NodeId,
        code: u64,
        payload: impl Into<Arc<[u8]>>,
    ) -> BroadcastReport {
        self.send_filtered(code, payload.into(), |id| id != except)
    }

    /// Queues `(code, payload)` for peer `id` alone, never blocking: `false` when it is not
    /// in the set or its queue is full (then the drop is counted).
    pub fn send_to(&self, id: &NodeId, code: u64, payload: impl Into<Arc<[u8]>>) -> bool {
        let report = self.send_filtered(code, payload.into(), |p| p == id);
        report.queued == 1
    }

    fn send_filtered(
        &self,
        code: u64,
        payload: Arc<[u8]>,
        want: impl Fn(&NodeId) -> bool,
    ) -> BroadcastReport {
        let mut report = BroadcastReport::default();
        let st = self.shared.state.lock();
        for (id, entry) in st.peers.iter().filter(|(id, _)| want(id)) {
            match entry.queue.try_send((code, payload.clone())) {
                Ok(()) => report.queued += 1,
                Err(TrySendError::Full(_)) => {
                    report.dropped += 1;
                    entry.dropped.fetch_add(1, Ordering::Relaxed);
                    trace!(
                        "broadcast: queue of {} full, message dropped",
                        id.terminal_string()
                    );
                }
                // Its sender ended and is about to leave the set.
                Err(TrySendError::Disconnected(_)) => {}
            }
        }
        drop(st);
        self.shared
            .dropped
            .fetch_add(report.dropped as u64, Ordering::Relaxed);
        report
    }

    /// Messages dropped so far because a peer's queue was full, over all peers.
    pub fn dropped(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }

    /// Messages dropped so far for peer `id` (while it is in the set).
    pub fn dropped_for(&self, id: &NodeId) -> Option<u64> {
        let st = self.shared.state.lock();
        st.peers.get(id).map(|e| e.dropped.load(Ordering::Relaxed))
    }

    /// The peers in the set.
    pub fn peers(&self) -> Vec<NodeId> {
        self.shared.state.lock().peers.keys().copied().collect()
    }

    /// How many peers are in the set.
    pub fn len(&self) -> usize {
        self.shared.state.lock().peers.len()
    }

    /// True when the set is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Joins the sender threads that have ended (their peers left the set); returns how many.
    pub fn join_ended(&self) -> usize {
        let ended = std::mem::take(&mut self.shared.state.lock().ended);
        let n = ended.len();
        join_all(ended);
        n
    }
}

impl fmt::Debug for Broadcaster {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Broadcaster")
            .field("peers", &self.len())
            .field("capacity", &self.shared.capacity)
            .field("dropped", &self.dropped())
            .finish()
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        let st = std::mem::take(&mut *self.state.lock());
        let mut threads = st.ended;
        for (_, entry) in st.peers {
            drop(entry.queue);
            threads.push(entry.thread);
        }
        join_all(threads);
    }
}

/// Joins `threads`, except the calling thread itself (a sender that held the last handle).
fn join_all(threads: Vec<JoinHandle<()>>) {
    let me = thread::current().id();
    for t in threads {
        if t.thread().id() != me {
            let _ = t.join();
        }
    }
}

fn sender_loop(
    id: NodeId,
    generation: u64,
    writer: impl MsgWriter,
    queue: Receiver<(u64, Arc<[u8]>)>,
    closed: Receiver<()>,
    shared: Weak<Shared>,
) {
    loop {
        let (code, payload) = select! {
            recv(queue) -> item => match item {
                Ok(item) => item,
                Err(_) => return, // removed or replaced: already out of the set
            },
            recv(closed) -> _ => break,
        };
        if let Err(e) = writer.write_msg(Msg::new(code, payload.to_vec())) {
            trace!("broadcast: write to {} failed: {e}", id.terminal_string());
            break;
        }
    }
    // The peer is gone: leave the set, unless a newer entry replaced this one.
    if let Some(shared) = shared.upgrade() {
        let mut st = shared.state.lock();
        if st.peers.get(&id).map(|e| e.generation) == Some(generation) {
            if let Some(e) = st.peers.remove(&id) {
                st.ended.push(e.thread);
            }
        }
    }
}
