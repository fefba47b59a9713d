//! Writing to a running protocol from any thread: [`ProtoWriter`], and the per-peer slots
//! that let [`Peer::protocol_writer`](crate::Peer::protocol_writer) find one and
//! [`Peer::disconnect`](crate::Peer::disconnect) leave a request before `run` starts.

use std::fmt;
use std::sync::{Arc, Weak};

use crossbeam_channel::Receiver;
use parking_lot::Mutex;

use crate::{Cap, DiscReason, Error, Msg, MsgReadWriter, MsgWriter, NodeId, ProtoRw};

/// A write-only handle to one running protocol of one peer, usable from any thread.
///
/// Its writes are the protocol's own writes: codes are relative to the protocol, they go
/// through the peer's write token (so they are serialised with the protocol's writes and with
/// every other writer's), they are counted in the protocol's stats and, with an event feed,
/// published as `msgsend`. A write blocks while another write holds the token and while the
/// transport takes the message (RLPx bounds that by its write deadline, 20 s); where that is
/// wrong, hand the writer to a [`Broadcaster`](crate::Broadcaster), whose per-peer queue never
/// blocks the caller. Once the peer shuts down, writes fail with [`Error::ShuttingDown`] and
/// [`closed`](ProtoWriter::closed) is ready.
///
/// Get one with [`Peer::protocol_writer`](crate::Peer::protocol_writer), or inside a protocol
/// with [`ProtoWriter::new`].
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use devp2p_peer::*;
///
/// let cap = Cap::new("note", 1);
/// let (started_tx, started) = crossbeam_channel::bounded(1);
/// // The writing side's protocol only waits; another thread writes for it.
/// let idle = Protocol::new("note", 1, 1, move |peer, _rw| {
///     let _ = started_tx.send(());
///     let _ = peer.closed().recv();
///     Err(Error::Eof)
/// });
/// let print = Protocol::new("note", 1, 1, |_peer, rw| {
///     let mut msg = rw.read_msg()?;
///     assert_eq!(msg.decode::<String>()?, "from another thread");
///     Err(DiscReason::REQUESTED.into())
/// });
/// let (a, b) = MemoryTransport::pair();
/// let info = |n: u8| ConnInfo { id: NodeId([n; 32]), caps: vec![cap.clone()], ..Default::default() };
/// let pa = Peer::new(info(2), Arc::new(a), &[idle], PeerConfig::default());
/// let pb = Peer::new(info(1), Arc::new(b), &[print], PeerConfig::default());
/// let (ra, rb) = (pa.clone(), pb.clone());
/// let ta = std::thread::spawn(move || ra.run());
/// let tb = std::thread::spawn(move || rb.run());
///
/// started.recv_timeout(Duration::from_secs(10)).unwrap();
/// let writer = pa.protocol_writer(&cap).expect("note/1 runs");
/// send(&writer, 0, &"from another thread").unwrap();
/// let (_, err) = tb.join().unwrap();
/// assert_eq!(err.disc_reason(), Some(DiscReason::REQUESTED));
/// let (remote_requested, _) = ta.join().unwrap();
/// assert!(remote_requested);
/// assert!(writer.is_closed());
/// ```
#[derive(Clone)]
pub struct ProtoWriter {
    rw: ProtoRw,
    peer: NodeId,
    closed: Receiver<()>,
}

impl ProtoWriter {
    /// A writer for the protocol whose reader/writer is `rw`, on `peer`: for a protocol's
    /// `run` to hand out (to a [`Broadcaster`](crate::Broadcaster), say).
    ///
    /// # Examples
    ///
    /// ```
    /// use devp2p_peer::{Broadcaster, Protocol, ProtoWriter, MsgReader};
    /// let relay = Broadcaster::new(64);
    /// let chat = Protocol::new("chat", 1, 1, move |peer, rw| {
    ///     relay.add(ProtoWriter::new(&peer, rw.clone()));
    ///     loop {
    ///         let msg = rw.read_msg()?;
    ///         relay.send_except(&peer.id(), 0, msg.payload.into_vec());
    ///     }
    /// });
    /// # let _ = chat;
    /// ```
    pub fn new(peer: &crate::Peer, rw: ProtoRw) -> ProtoWriter {
        ProtoWriter {
            rw,
            peer: peer.id(),
            closed: peer.closed(),
        }
    }

    /// The peer written to.
    pub fn peer_id(&self) -> NodeId {
        self.peer
    }

    /// A receiver that becomes ready (disconnected) once the peer begins shutting down:
    /// `select!` on it next to your own channels.
    pub fn closed(&self) -> &Receiver<()> {
        &self.closed
    }

    /// True once the peer has begun shutting down.
    pub fn is_closed(&self) -> bool {
        matches!(
            self.closed.try_recv(),
            Err(crossbeam_channel::TryRecvError::Disconnected)
        )
    }
}

impl MsgWriter for ProtoWriter {
    fn write_msg(&self, msg: Msg) -> Result<(), Error> {
        self.rw.write_msg(msg)
    }
}

impl fmt::Debug for ProtoWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProtoWriter")
            .field("peer", &self.peer)
            .finish_non_exhaustive()
    }
}

/// What a peer keeps for callers outside its threads: the writers of its running protocols
/// (weakly: a writer exists while the protocol's reader/writer does) and a disconnect asked
/// for before `run` started.
#[derive(Default)]
pub(crate) struct PeerSlots {
    writers: Mutex<Vec<(Cap, Weak<dyn MsgReadWriter>)>>,
    pending_disconnect: Mutex<Option<DiscReason>>,
}

impl PeerSlots {
    pub(crate) fn add_writer(&self, cap: Cap, rw: Weak<dyn MsgReadWriter>) {
        self.writers.lock().push((cap, rw));
    }

    pub(crate) fn writer(&self, cap: &Cap) -> Option<Arc<dyn MsgReadWriter>> {
        let writers = self.writers.lock();
        writers
            .iter()
            .find(|(c, _)| c == cap)
            .and_then(|(_, w)| w.upgrade())
    }

    /// Keeps the first reason asked for.
    pub(crate) fn set_pending_disconnect(&self, reason: DiscReason) {
        self.pending_disconnect.lock().get_or_insert(reason);
    }

    pub(crate) fn take_pending_disconnect(&self) -> Option<DiscReason> {
        self.pending_disconnect.lock().take()
    }
}

impl ProtoWriter {
    pub(crate) fn from_parts(rw: ProtoRw, peer: NodeId, closed: Receiver<()>) -> ProtoWriter {
        ProtoWriter { rw, peer, closed }
    }
}
