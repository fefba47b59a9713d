//! Peer events and the feed that delivers them to subscribers.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;

use std::sync::atomic::{AtomicU64, Ordering};

use crossbeam_channel::{bounded, Receiver, Sender, TrySendError};
use parking_lot::Mutex;

use crate::{DiscReason, Error, Msg, MsgReader, MsgWriter, NodeId};

/// How many events a subscriber's channel holds by default ([`EventFeed::subscribe`]).
pub const EVENT_CHANNEL_CAPACITY: usize = 1024;

/// What a [`PeerEvent`] reports.
///
/// # Examples
///
/// ```
/// use devp2p_peer::PeerEventType;
/// assert_eq!(PeerEventType::Drop.to_string(), "drop"); // go-ethereum's names
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PeerEventType {
    /// A peer started running (`add`).
    Add,
    /// A peer ended (`drop`); the event carries the error that ended it.
    Drop,
    /// A protocol sent a message (`msgsend`).
    MsgSend,
    /// A protocol received a message (`msgrecv`).
    MsgRecv,
}

impl fmt::Display for PeerEventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PeerEventType::Add => "add",
            PeerEventType::Drop => "drop",
            PeerEventType::MsgSend => "msgsend",
            PeerEventType::MsgRecv => "msgrecv",
        })
    }
}

/// An event in a peer's life, delivered through an [`EventFeed`].
///
/// A `drop` carries the [`Error`] that ended the peer ([`cause`](PeerEvent::cause); for a
/// disconnect, its [`DiscReason`]) and whether the remote asked for the end, as
/// [`Peer::run`](crate::Peer::run) returned them.
///
/// Two events are equal when their fields are, errors compared by their text.
///
/// # Examples
///
/// ```
/// use devp2p_peer::{DiscReason, NodeId, PeerEvent, PeerEventType};
/// let ev = PeerEvent::dropped(NodeId([1; 32]), DiscReason::TOO_MANY_PEERS.into(), true);
/// assert_eq!(ev.kind, PeerEventType::Drop);
/// assert_eq!(ev.disc_reason(), Some(DiscReason::TOO_MANY_PEERS));
/// assert!(ev.remote_requested);
/// assert_eq!(ev.error.as_deref(), Some("too many peers"));
/// ```
#[derive(Clone, Debug)]
pub struct PeerEvent {
    /// What happened.
    pub kind: PeerEventType,
    /// The peer it happened to.
    pub peer: NodeId,
    /// For `drop`: the text of the error that ended the peer (go-ethereum's `error` field).
    pub error: Option<String>,
    /// For `drop`: the error that ended the peer.
    pub cause: Option<Error>,
    /// For `drop`: the remote asked for the end (it sent a Disconnect).
    pub remote_requested: bool,
    /// For messages: the protocol's name.
    pub protocol: Option<String>,
    /// For messages: the code, relative to the protocol.
    pub msg_code: Option<u64>,
    /// For messages: the payload size.
    pub msg_size: Option<u32>,
    /// The local address of the connection, when known.
    pub local_address: Option<SocketAddr>,
    /// The remote address of the connection, when known.
    pub remote_address: Option<SocketAddr>,
}

impl PeerEvent {
    /// An event of `kind` about `peer`, with no other field set.
    pub fn new(kind: PeerEventType, peer: NodeId) -> PeerEvent {
        PeerEvent {
            kind,
            peer,
            error: None,
            cause: None,
            remote_requested: false,
            protocol: None,
            msg_code: None,
            msg_size: None,
            local_address: None,
            remote_address: None,
        }
    }

    /// A `drop` event about `peer`, ended by `err` (what [`Peer::run`](crate::Peer::run)
    /// returned), with `error` set to its text.
    pub fn dropped(peer: NodeId, err: Error, remote_requested: bool) -> PeerEvent {
        PeerEvent {
            error: Some(err.to_string()),
            cause: Some(err),
            remote_requested,
            ..PeerEvent::new(PeerEventType::Drop, peer)
        }
    }

    /// For a `drop` that was a disconnect (sent by the remote or by us): its reason.
    pub fn disc_reason(&self) -> Option<DiscReason> {
        self.cause.as_ref().and_then(Error::disc_reason)
    }
}

impl PartialEq for PeerEvent {
    fn eq(&self, other: &PeerEvent) -> bool {
        self.kind == other.kind
            && self.peer == other.peer
            && self.error == other.error
            && self.cause.as_ref().map(Error::to_string)
                == other.cause.as_ref().map(Error::to_string)
            && self.remote_requested == other.remote_requested
            && self.protocol == other.protocol
            && self.msg_code == other.msg_code
            && self.msg_size == other.msg_size
            && self.local_address == other.local_address
            && self.remote_address == other.remote_address
    }
}

impl Eq for PeerEvent {}

/// A one-to-many feed of [`PeerEvent`]s: every subscriber gets every event sent after it
/// subscribed, unless it fell behind. Cheap to clone (clones share subscribers).
///
/// Delivery is bounded and never blocks the sender (a peer or the server): each subscriber
/// has a channel of [`EVENT_CHANNEL_CAPACITY`] events (or its own capacity, see
/// [`subscribe_with_capacity`](EventFeed::subscribe_with_capacity)); an event for a
/// subscriber whose channel is full is dropped for that subscriber alone, and counted in
/// [`dropped_events`](EventFeed::dropped_events). A subscriber that must not miss an
/// `add`/`drop` reads promptly, or takes a larger capacity, or leaves message events off
/// ([`ServerConfig::enable_msg_events`](crate::ServerConfig::enable_msg_events) is off by
/// default). A subscriber that drops its receiver is unsubscribed.
///
/// # Examples
///
/// ```
/// use devp2p_peer::{EventFeed, NodeId, PeerEvent, PeerEventType};
/// let feed = EventFeed::new();
/// let events = feed.subscribe();
/// assert_eq!(feed.subscriber_count(), 1);
/// let ev = PeerEvent::new(PeerEventType::Add, NodeId([1; 32]));
/// assert_eq!(feed.send(ev.clone()), 1);
/// assert_eq!(events.try_recv().unwrap(), ev);
/// drop(events);
/// assert_eq!(feed.send(ev), 0); // the dropped subscriber is gone
/// ```
#[derive(Clone, Default)]
pub struct EventFeed {
    subscribers: Arc<Mutex<Vec<Sender<PeerEvent>>>>,
    dropped: Arc<AtomicU64>,
    /// Set on a view made by [`EventFeed::messages_only`]: `add` and `drop` sent through
    /// it are dropped.
    messages_only: bool,
}

impl EventFeed {
    /// A feed with no subscribers.
    pub fn new() -> EventFeed {
        EventFeed::default()
    }

    /// Subscribes: the receiver gets every event sent from now on, in a channel of
    /// [`EVENT_CHANNEL_CAPACITY`] events (an event that finds it full is dropped and counted).
    pub fn subscribe(&self) -> Receiver<PeerEvent> {
        self.subscribe_with_capacity(EVENT_CHANNEL_CAPACITY)
    }

    /// Subscribes with a channel of `capacity` events (at least 1).
    ///
    /// # Examples
    ///
    /// ```
    /// use devp2p_peer::{EventFeed, NodeId, PeerEvent, PeerEventType};
    /// let feed = EventFeed::new();
    /// let slow = feed.subscribe_with_capacity(1);
    /// let ev = PeerEvent::new(PeerEventType::Add, NodeId([1; 32]));
    /// assert_eq!(feed.send(ev.clone()), 1);
    /// assert_eq!(feed.send(ev.clone()), 0); // full: dropped for this subscriber
    /// assert_eq!(feed.dropped_events(), 1);
    /// assert_eq!(slow.try_iter().count(), 1);
    /// ```
    pub fn subscribe_with_capacity(&self, capacity: usize) -> Receiver<PeerEvent> {
        let (tx, rx) = bounded(capacity.max(1));
        self.subscribers.lock().push(tx);
        rx
    }

    /// Events dropped so far because a subscriber's channel was full (one per subscriber
    /// and event).
    pub fn dropped_events(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// How many subscribers the feed has; one that dropped its receiver is counted until the
    /// next event is sent.
    pub fn subscriber_count(&self) -> usize {
        self.subscribers.lock().len()
    }

    /// The same feed (same subscribers), except that `add` and `drop` events sent through
    /// this handle are not delivered: for a peer whose membership events are published by
    /// its server, which orders them with its peer set.
    #[cfg_attr(not(feature = "rlpx"), allow(dead_code))]
    pub(crate) fn messages_only(&self) -> EventFeed {
        EventFeed {
            subscribers: self.subscribers.clone(),
            messages_only: true,
            dropped: self.dropped.clone(),
        }
    }

    /// Sends `event` to every subscriber without blocking and returns how many got it.
    /// Subscribers whose channel is full miss it (counted in
    /// [`dropped_events`](EventFeed::dropped_events)); those that dropped their receiver are
    /// removed.
    pub fn send(&self, event: PeerEvent) -> usize {
        if self.messages_only && matches!(event.kind, PeerEventType::Add | PeerEventType::Drop) {
            return 0;
        }
        let mut delivered = 0;
        let mut subs = self.subscribers.lock();
        subs.retain(|s| match s.try_send(event.clone()) {
            Ok(()) => {
                delivered += 1;
                true
            }
            Err(TrySendError::Full(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
                true
            }
            Err(TrySendError::Disconnected(_)) => false,
        });
        delivered
    }
}

impl fmt::Debug for EventFeed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "EventFeed({} subscribers)",
            self.subscribers.lock().len()
        )
    }
}

/// Wraps a protocol's reader/writer and sends a `msgrecv` event after every successful read
/// and a `msgsend` event after every successful write (codes relative to the protocol).
/// [`Peer`](crate::Peer) wraps each protocol in one when its config has an event feed.
///
/// # Examples
///
/// ```
/// use devp2p_peer::{msg_pipe, send, EventFeed, MsgEventer, MsgReader, NodeId, PeerEventType};
/// let feed = EventFeed::new();
/// let events = feed.subscribe();
/// let (a, b) = msg_pipe();
/// let a = MsgEventer::new(a, feed, NodeId([1; 32]), "chat", None, None);
/// let t = std::thread::spawn(move || b.read_msg().map(|_| ()));
/// send(&a, 0, &"hi").unwrap();
/// t.join().unwrap().unwrap();
/// let ev = events.try_recv().unwrap();
/// assert_eq!((ev.kind, ev.protocol.as_deref()), (PeerEventType::MsgSend, Some("chat")));
/// ```
pub struct MsgEventer<T> {
    inner: T,
    feed: EventFeed,
    peer: NodeId,
    protocol: String,
    local_address: Option<SocketAddr>,
    remote_address: Option<SocketAddr>,
}

impl<T> MsgEventer<T> {
    /// Wraps `inner`; events name `peer` and `protocol`, and carry the addresses.
    pub fn new(
        inner: T,
        feed: EventFeed,
        peer: NodeId,
        protocol: impl Into<String>,
        local_address: Option<SocketAddr>,
        remote_address: Option<SocketAddr>,
    ) -> MsgEventer<T> {
        MsgEventer {
            inner,
            feed,
            peer,
            protocol: protocol.into(),
            local_address,
            remote_address,
        }
    }

    /// Sends the event of a message. Not inlined: a `PeerEvent` is large, and the frame that
    /// builds it would otherwise stay on the stack of every read (an idle protocol thread
    /// waits in `read_msg` and decodes frames under it, see `tests/idle_stack.rs`).
    #[inline(never)]
    fn publish(&self, kind: PeerEventType, code: u64, size: u32) {
        self.feed.send(PeerEvent {
            protocol: Some(self.protocol.clone()),
            msg_code: Some(code),
            msg_size: Some(size),
            local_address: self.local_address,
            remote_address: self.remote_address,
            ..PeerEvent::new(kind, self.peer)
        });
    }
}

impl<T: MsgReader> MsgReader for MsgEventer<T> {
    fn read_msg(&self) -> Result<Msg, Error> {
        // The message stays in the return slot: no copy of it in this frame, which is on
        // the stack while the reader below decodes.
        let read = self.inner.read_msg();
        if let Ok(msg) = &read {
            self.publish(PeerEventType::MsgRecv, msg.code, msg.size);
        }
        read
    }
}

impl<T: MsgWriter> MsgWriter for MsgEventer<T> {
    fn write_msg(&self, msg: Msg) -> Result<(), Error> {
        let (code, size) = (msg.code, msg.size);
        self.inner.write_msg(msg)?;
        self.publish(PeerEventType::MsgSend, code, size);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_only_view() {
        let feed = EventFeed::new();
        let events = feed.subscribe();
        let view = feed.messages_only();
        let id = NodeId([7; 32]);
        assert_eq!(view.send(PeerEvent::new(PeerEventType::Add, id)), 0);
        assert_eq!(view.send(PeerEvent::new(PeerEventType::Drop, id)), 0);
        assert_eq!(view.send(PeerEvent::new(PeerEventType::MsgSend, id)), 1);
        assert_eq!(feed.send(PeerEvent::new(PeerEventType::Drop, id)), 1);
        let kinds: Vec<PeerEventType> = events.try_iter().map(|e| e.kind).collect();
        assert_eq!(kinds, [PeerEventType::MsgSend, PeerEventType::Drop]);
        // A subscriber of the view is a subscriber of the feed.
        let late = view.subscribe();
        feed.send(PeerEvent::new(PeerEventType::Add, id));
        assert_eq!(late.try_recv().unwrap().kind, PeerEventType::Add);
    }
}
