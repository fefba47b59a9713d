//! The peer: one connection running several sub-protocols, each on its own thread.
//!
//! Threads and channels (capacities in brackets):
//!
//! - `Peer::run` is the supervisor. It puts the one **write token** into its slot
//!   (`write_start` [1]) and waits for the first ending event: a failed write, the reader's
//!   end, a protocol's end or a failed control write (all on `events` [protocols + 6], see
//!   `Event`), or a local disconnect (`disc` [0]). Meanwhile it times the Pings, takes Pong
//!   requests and starts the threads that come and go (below; their end signals and the
//!   standby requests come on `events` too); it never blocks on a write.
//! - A protocol write takes the token, writes, and on success puts the token back itself; a
//!   failed write keeps it (so no write starts after it) and reports to the supervisor. See
//!   `ProtoRwCore::write_msg` for why this keeps geth's semantics.
//! - Reading is leader/follower (see `reading`): one read role, held by whoever calls the
//!   transport's `read_msg`. A protocol thread blocked in `read_msg` takes the role when it
//!   is free and reads itself, so a busy protocol gets its messages without a hand-off;
//!   `peer-read`, the standby reader, takes it when no protocol is waiting; it leaves after
//!   a second unneeded and the supervisor starts it again on request (on `events`).
//!   The holder dispatches: Ping → a Pong written at once with `try_write_msg` (see
//!   `answer_ping`), or a Pong request (`ping_recv` [16]) when the socket does not take it
//!   at once, Disconnect → the
//!   remote's reason, other base codes ignored, another protocol's message → that
//!   protocol's one-message mailbox, where it holds back all reading until taken (geth's
//!   rendezvous).
//! - Control messages (a Ping every interval, a Pong per request) are written by the
//!   supervisor with `Transport::try_write_msg` (holding the control queue's lock, as the
//!   reader does for its own Pongs); what cannot go out at once is written by
//!   `peer-ctl`, a short-lived thread that also drains the control messages queued meanwhile
//!   (a due Ping before pending Pongs) and leaves. A failed control write ends the peer.
//! - `proto-<name>/<version>` runs each negotiated protocol.
//! - `closed` is a channel nobody sends on: dropping its only sender wakes every thread
//!   waiting on it, which is how shutdown is broadcast.

use std::fmt;
use std::net::SocketAddr;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, never, select, Receiver, Sender};
use log::{debug, trace, warn};
use parking_lot::Mutex;

use crate::transport::{TryWrite, PING_MSG, PONG_MSG};
use crate::util::truncate_str;
use crate::wait_group::{WaitGroup, WaitGroupGuard};
mod reading;
use reading::{ReadCtx, Reading, STANDBY_GRACE, STANDBY_LINGER, STANDBY_START_GRACE};

use crate::{
    disc_reason_for_error, match_protocols, Cap, DiscReason, Error, EventFeed, Msg, MsgEventer,
    MsgPipeRw, MsgReadWriter, MsgReader, MsgWriter, NodeId, PeerEvent, PeerEventType, Protocol,
    Transport,
};

/// How often a peer pings by default.
pub const PING_INTERVAL: Duration = Duration::from_secs(15);
/// Stack size of a peer's standby reader and control writer threads unless
/// [`PeerConfig::stack_size`] says otherwise: 256 KiB.
///
/// Measured on a listener with 300 RLPx peers: each of the reader and the former pinger
/// (whose writes the control writer now does) had touched 8 KiB of stack (frame decoding,
/// snappy and the MAC work on the heap), and both ran the 64 B and 1 MiB echo benchmarks
/// with this size. Only touched pages are resident, so this saves
/// address space (2 MiB per thread by default), not resident memory.
pub const PEER_THREAD_STACK_SIZE: usize = 256 << 10;
/// How many received Pings may wait for their Pong before the reader waits too.
const PING_RECV_CAPACITY: usize = 16;

/// How a connection came about, and whether the remote is trusted.
///
/// `Display` joins the set flags with `-`, as `trusted-inbound`.
///
/// # Examples
///
/// ```
/// use devp2p_peer::ConnFlags;
/// let flags = ConnFlags::TRUSTED | ConnFlags::INBOUND;
/// assert!(flags.contains(ConnFlags::INBOUND));
/// assert!(!flags.contains(ConnFlags::STATIC_DIALED));
/// assert_eq!(flags.to_string(), "trusted-inbound");
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ConnFlags(pub u8);

impl ConnFlags {
    /// Dialed because discovery found the node.
    pub const DYN_DIALED: ConnFlags = ConnFlags(1);
    /// Dialed because it is a static node.
    pub const STATIC_DIALED: ConnFlags = ConnFlags(2);
    /// The remote dialed us.
    pub const INBOUND: ConnFlags = ConnFlags(4);
    /// The remote is trusted (exempt from peer limits).
    pub const TRUSTED: ConnFlags = ConnFlags(8);

    /// True when every flag of `other` is set.
    pub fn contains(self, other: ConnFlags) -> bool {
        self.0 & other.0 == other.0
    }
}

impl std::ops::BitOr for ConnFlags {
    type Output = ConnFlags;
    fn bitor(self, rhs: ConnFlags) -> ConnFlags {
        ConnFlags(self.0 | rhs.0)
    }
}

impl fmt::Display for ConnFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = [
            (ConnFlags::TRUSTED, "trusted"),
            (ConnFlags::DYN_DIALED, "dyndial"),
            (ConnFlags::STATIC_DIALED, "staticdial"),
            (ConnFlags::INBOUND, "inbound"),
        ];
        let set: Vec<&str> = names
            .iter()
            .filter(|(flag, _)| self.contains(*flag))
            .map(|(_, name)| *name)
            .collect();
        f.write_str(&set.join("-"))
    }
}

/// What the transport (or the caller) knows about the remote: the peer layer computes no
/// identities itself.
///
/// # Examples
///
/// ```
/// use devp2p_peer::{Cap, ConnFlags, ConnInfo, NodeId};
/// let conn = ConnInfo {
///     id: NodeId([7; 32]),
///     name: "geth/v1.15.0".into(),
///     caps: vec![Cap::new("eth", 68)],
///     flags: ConnFlags::INBOUND,
///     ..ConnInfo::default()
/// };
/// assert!(conn.enode.is_none());
/// ```
#[derive(Clone, Debug, Default)]
pub struct ConnInfo {
    /// The remote's node ID.
    pub id: NodeId,
    /// The remote's client name, from its Hello.
    pub name: String,
    /// The remote's capabilities, from its Hello.
    pub caps: Vec<Cap>,
    /// How the connection came about.
    pub flags: ConnFlags,
    /// The remote's `enode://` URL, when known (reported by [`Peer::info`]).
    pub enode: Option<String>,
}

/// Settings of one peer.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use devp2p_peer::{EventFeed, PeerConfig};
/// let feed = EventFeed::new();
/// let events = feed.subscribe();
/// let config = PeerConfig {
///     ping_interval: Duration::from_secs(30),
///     events: Some(feed), // add/drop and every message, see `PeerEvent`
///     ..PeerConfig::default()
/// };
/// assert_eq!(config.stack_size, None);
/// # drop(events);
/// ```
#[derive(Clone, Debug)]
pub struct PeerConfig {
    /// How often to send a Ping (15 s by default). [`Duration::MAX`] sends none.
    pub ping_interval: Duration,
    /// Stack size of the threads the peer starts. When `None`, the standby reader and the
    /// control writer get [`PEER_THREAD_STACK_SIZE`] and the protocol threads, which run the caller's code, the
    /// platform's default (2 MiB unless `RUST_MIN_STACK` says otherwise).
    pub stack_size: Option<usize>,
    /// Where to send the peer's `add`/`drop` events and, wrapped around each protocol, its
    /// `msgsend`/`msgrecv` events.
    pub events: Option<EventFeed>,
}

impl Default for PeerConfig {
    fn default() -> PeerConfig {
        PeerConfig {
            ping_interval: PING_INTERVAL,
            stack_size: None,
            events: None,
        }
    }
}

/// Message counters of one protocol on one peer, readable while the peer runs.
#[derive(Default, Debug)]
struct Counters {
    msgs_in: AtomicU64,
    bytes_in: AtomicU64,
    msgs_out: AtomicU64,
    bytes_out: AtomicU64,
}

impl Counters {
    fn count_in(&self, size: u32) {
        self.msgs_in.fetch_add(1, Ordering::Relaxed);
        self.bytes_in.fetch_add(u64::from(size), Ordering::Relaxed);
    }

    fn count_out(&self, size: u32) {
        self.msgs_out.fetch_add(1, Ordering::Relaxed);
        self.bytes_out.fetch_add(u64::from(size), Ordering::Relaxed);
    }
}

/// A snapshot of one running protocol: its code range and traffic so far.
///
/// # Examples
///
/// ```
/// use devp2p_peer::{Cap, NodeId, Peer};
/// let peer = Peer::new_test(NodeId([1; 32]), "remote", vec![Cap::new("eth", 68)]);
/// let stats = peer.protocol_stats();
/// assert_eq!(stats.len(), 1);
/// assert_eq!(stats[0].cap, Cap::new("eth", 68));
/// assert_eq!(stats[0].offset, 16); // the first code after the base protocol's
/// assert_eq!((stats[0].msgs_in, stats[0].msgs_out), (0, 0));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProtocolStats {
    /// The protocol's capability.
    pub cap: Cap,
    /// Its first absolute message code on this connection.
    pub offset: u64,
    /// How many codes it uses.
    pub length: u64,
    /// Messages delivered to it.
    pub msgs_in: u64,
    /// Payload bytes (uncompressed) delivered to it.
    pub bytes_in: u64,
    /// Messages it wrote.
    pub msgs_out: u64,
    /// Payload bytes (uncompressed) it wrote.
    pub bytes_out: u64,
}

/// One negotiated protocol: its code range and its counters.
struct Running {
    protocol: Protocol,
    offset: u64,
    /// Its place in `Inner::running` (and in the reading state's mailboxes).
    index: usize,
    counters: Counters,
}

struct Inner {
    conn: ConnInfo,
    flags: AtomicU8,
    transport: Option<Arc<dyn Transport>>,
    running: Vec<Arc<Running>>,
    created: Instant,
    config: PeerConfig,
    started: AtomicBool,
    disc_tx: Sender<DiscReason>,
    disc_rx: Receiver<DiscReason>,
    closed_tx: Mutex<Option<Sender<()>>>,
    closed: Receiver<()>,
    /// Set by the supervisor just before it broadcasts `closed`: a writer holding the token
    /// checks it before starting a write.
    closing: AtomicBool,
    /// The supervisor's events (see `Event`, and `EVENTS_RESERVED` for the capacity).
    events_tx: Sender<Event>,
    events_rx: Receiver<Event>,
    ping_recv_tx: Sender<Control>,
    ping_recv_rx: Receiver<Control>,
    /// Set by a protocol writer whose write failed, before it reports: the reader then
    /// writes no Pong (no write starts after a failed one).
    write_failed: AtomicBool,
    /// Control messages queued while a `peer-ctl` thread writes.
    ctl: Mutex<CtlQueue>,
    /// The end signals of the standby reader and of the control writer (see `OnDemand`).
    standby_done: DoneFlags,
    ctl_done: DoneFlags,
    reading: Reading,
    wg: WaitGroup,
    test_pipe: Option<MsgPipeRw>,
    slots: crate::writer::PeerSlots,
}

/// A connected remote node running one or more sub-protocols.
///
/// A cheap handle (`Clone + Send + Sync`): protocols get one, and any thread may keep one to
/// read the peer's state or [`disconnect`](Peer::disconnect) it. [`Peer::run`] does the work
/// on the calling thread and returns when the connection has ended and every thread it
/// started has been joined.
///
/// # Examples
///
/// Two peers over an in-memory pipe, one protocol each way:
///
/// ```
/// use std::sync::Arc;
/// use devp2p_peer::*;
///
/// let greet = Protocol::new("greet", 1, 1, |_peer, rw| {
///     send_items(&rw, 0, &[&"hello"])?;
///     let mut msg = rw.read_msg()?;
///     let words: Vec<String> = msg.decode_list()?;
///     assert_eq!(words, vec!["hello"]);
///     Err(DiscReason::REQUESTED.into()) // done: disconnect with a reason
/// });
/// let (a, b) = MemoryTransport::pair();
/// let caps = vec![greet.cap()];
/// let info = |n: u8| ConnInfo { id: NodeId([n; 32]), name: format!("node{n}"), caps: caps.clone(), ..Default::default() };
/// let pa = Peer::new(info(2), Arc::new(a), &[greet.clone()], PeerConfig::default());
/// let pb = Peer::new(info(1), Arc::new(b), &[greet], PeerConfig::default());
/// let t = std::thread::spawn(move || pb.run());
/// let (_remote, err) = pa.run();
/// let (_, err_b) = t.join().unwrap();
/// // Whichever side finished first sent "disconnect requested"; both see that reason.
/// assert_eq!(err.disc_reason(), Some(DiscReason::REQUESTED));
/// assert_eq!(err_b.disc_reason(), Some(DiscReason::REQUESTED));
/// ```
#[derive(Clone)]
pub struct Peer {
    inner: Arc<Inner>,
}

impl Peer {
    /// A peer over `transport` with the remote described by `conn`, running whichever of
    /// `protocols` the remote's caps match. Nothing starts until [`Peer::run`].
    pub fn new(
        conn: ConnInfo,
        transport: Arc<dyn Transport>,
        protocols: &[Protocol],
        config: PeerConfig,
    ) -> Peer {
        Peer::build(conn, Some(transport), protocols, config, None)
    }

    /// A peer for tests of code that takes a `Peer`: it has an ID, a name and caps (with a
    /// protocol of length 0 matched for each), but no connection, and it is closed from the
    /// start, so [`disconnect`](Peer::disconnect) returns at once and [`run`](Peer::run)
    /// fails.
    ///
    /// # Examples
    ///
    /// ```
    /// use devp2p_peer::{Cap, DiscReason, NodeId, Peer};
    /// let p = Peer::new_test(NodeId([9; 32]), "nodename", vec![Cap::new("foo", 2), Cap::new("bar", 3)]);
    /// assert_eq!(p.name(), "nodename");
    /// assert_eq!(p.caps(), vec![Cap::new("bar", 3), Cap::new("foo", 2)]);
    /// p.disconnect(DiscReason::ALREADY_CONNECTED); // does not block
    /// ```
    pub fn new_test(id: NodeId, name: impl Into<String>, caps: Vec<Cap>) -> Peer {
        Peer::new_test_inner(id, name.into(), caps, None)
    }

    /// Like [`Peer::new_test`], and [`disconnect`](Peer::disconnect) also closes `pipe`: for
    /// testing a protocol's `run` directly against the other end of the pipe.
    pub fn new_pipe(id: NodeId, name: impl Into<String>, caps: Vec<Cap>, pipe: MsgPipeRw) -> Peer {
        Peer::new_test_inner(id, name.into(), caps, Some(pipe))
    }

    fn new_test_inner(id: NodeId, name: String, caps: Vec<Cap>, pipe: Option<MsgPipeRw>) -> Peer {
        let protocols: Vec<Protocol> = caps
            .iter()
            .map(|c| Protocol::new(c.name.clone(), c.version, 0, |_, _| Ok(())))
            .collect();
        let conn = ConnInfo {
            id,
            name,
            caps,
            ..ConnInfo::default()
        };
        let peer = Peer::build(conn, None, &protocols, PeerConfig::default(), pipe);
        peer.inner.closed_tx.lock().take();
        peer
    }

    fn build(
        mut conn: ConnInfo,
        transport: Option<Arc<dyn Transport>>,
        protocols: &[Protocol],
        config: PeerConfig,
        test_pipe: Option<MsgPipeRw>,
    ) -> Peer {
        conn.caps.sort();
        let running: Vec<Arc<Running>> = match_protocols(protocols, &conn.caps)
            .into_iter()
            .enumerate()
            .map(|(index, m)| {
                Arc::new(Running {
                    protocol: m.protocol,
                    offset: m.offset,
                    index,
                    counters: Counters::default(),
                })
            })
            .collect();
        let (disc_tx, disc_rx) = bounded(0);
        let (closed_tx, closed) = bounded(0);
        let (events_tx, events_rx) = bounded(running.len() + EVENTS_RESERVED);
        let (ping_recv_tx, ping_recv_rx) = bounded(PING_RECV_CAPACITY);
        let reading = Reading::new(running.len(), events_tx.clone());
        Peer {
            inner: Arc::new(Inner {
                flags: AtomicU8::new(conn.flags.0),
                conn,
                transport,
                running,
                created: Instant::now(),
                config,
                started: AtomicBool::new(false),
                disc_tx,
                disc_rx,
                closed_tx: Mutex::new(Some(closed_tx)),
                closed,
                closing: AtomicBool::new(false),
                events_tx,
                events_rx,
                ping_recv_tx,
                ping_recv_rx,
                write_failed: AtomicBool::new(false),
                ctl: Mutex::new(CtlQueue::default()),
                standby_done: DoneFlags::default(),
                ctl_done: DoneFlags::default(),
                reading,
                wg: WaitGroup::default(),
                test_pipe,
                slots: Default::default(),
            }),
        }
    }

    /// The remote's node ID.
    pub fn id(&self) -> NodeId {
        self.inner.conn.id
    }

    /// The remote's client name, cut to 20 bytes followed by `...` when longer.
    pub fn name(&self) -> String {
        let full = &self.inner.conn.name;
        let short = truncate_str(full, 20);
        if short.len() < full.len() {
            format!("{short}...")
        } else {
            short.to_string()
        }
    }

    /// The remote's full client name.
    pub fn full_name(&self) -> &str {
        &self.inner.conn.name
    }

    /// The remote's capabilities, sorted.
    pub fn caps(&self) -> Vec<Cap> {
        self.inner.conn.caps.clone()
    }

    /// True when `protocol` runs on this peer in one of `versions`.
    pub fn running_cap(&self, protocol: &str, versions: &[u32]) -> bool {
        self.inner
            .running
            .iter()
            .any(|r| r.protocol.name == protocol && versions.contains(&r.protocol.version))
    }

    /// The negotiated protocols with their code ranges and traffic counters.
    pub fn protocol_stats(&self) -> Vec<ProtocolStats> {
        self.inner
            .running
            .iter()
            .map(|r| ProtocolStats {
                cap: r.protocol.cap(),
                offset: r.offset,
                length: r.protocol.length,
                msgs_in: r.counters.msgs_in.load(Ordering::Relaxed),
                bytes_in: r.counters.bytes_in.load(Ordering::Relaxed),
                msgs_out: r.counters.msgs_out.load(Ordering::Relaxed),
                bytes_out: r.counters.bytes_out.load(Ordering::Relaxed),
            })
            .collect()
    }

    /// The remote address of the connection, when the transport has one.
    pub fn remote_addr(&self) -> Option<SocketAddr> {
        self.inner.transport.as_ref().and_then(|t| t.remote_addr())
    }

    /// The local address of the connection, when the transport has one.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.inner.transport.as_ref().and_then(|t| t.local_addr())
    }

    /// The connection's flags.
    pub fn flags(&self) -> ConnFlags {
        ConnFlags(self.inner.flags.load(Ordering::Relaxed))
    }

    /// True when the remote dialed us.
    pub fn inbound(&self) -> bool {
        self.flags().contains(ConnFlags::INBOUND)
    }

    /// True when the remote is trusted.
    pub fn trusted(&self) -> bool {
        self.flags().contains(ConnFlags::TRUSTED)
    }

    /// True when we dialed the remote as a static node.
    pub fn static_dialed(&self) -> bool {
        self.flags().contains(ConnFlags::STATIC_DIALED)
    }

    /// True when we dialed the remote after discovering it.
    pub fn dyn_dialed(&self) -> bool {
        self.flags().contains(ConnFlags::DYN_DIALED)
    }

    /// Marks the remote trusted or not (servers change this at run time).
    pub fn set_trusted(&self, trusted: bool) {
        if trusted {
            self.inner
                .flags
                .fetch_or(ConnFlags::TRUSTED.0, Ordering::Relaxed);
        } else {
            self.inner
                .flags
                .fetch_and(!ConnFlags::TRUSTED.0, Ordering::Relaxed);
        }
    }

    /// How long ago the peer was created.
    pub fn lifetime(&self) -> Duration {
        self.inner.created.elapsed()
    }

    /// Asks the peer to disconnect with `reason`, which is sent to the remote.
    ///
    /// Returns once the peer's supervisor has taken the request, or at once when the peer is
    /// already shutting down; it does not wait for the connection to close (wait for
    /// [`Peer::run`] to return for that). Safe from any thread, a protocol's included, any
    /// number of times; the first request taken decides the reason.
    ///
    /// Before `run` starts it returns at once, and the request takes effect when `run`
    /// starts: the peer then starts no protocol and ends at once with this reason (sent to
    /// the remote), as [`Error::Disconnected`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use devp2p_peer::*;
    /// let (a, _b) = MemoryTransport::pair();
    /// let peer = Peer::new(ConnInfo::default(), Arc::new(a), &[], PeerConfig::default());
    /// peer.disconnect(DiscReason::TOO_MANY_PEERS); // returns at once
    /// let (remote_requested, err) = peer.run();    // ends at once with that reason
    /// assert!(!remote_requested);
    /// assert_eq!(err.disc_reason(), Some(DiscReason::TOO_MANY_PEERS));
    /// ```
    pub fn disconnect(&self, reason: DiscReason) {
        if let Some(pipe) = &self.inner.test_pipe {
            pipe.close();
        }
        if !self.inner.started.load(Ordering::SeqCst) {
            self.inner.slots.set_pending_disconnect(reason);
            // `run` takes the request when it starts; if it started meanwhile, it may have
            // looked already, so ask it as a running peer too.
            if !self.inner.started.load(Ordering::SeqCst) {
                return;
            }
        }
        select! {
            send(self.inner.disc_tx, reason) -> _ => {}
            recv(self.inner.closed) -> _ => {}
        }
    }

    /// The peer's public information (see [`PeerInfo`]).
    pub fn info(&self) -> PeerInfo {
        let conn = &self.inner.conn;
        let protocols = self
            .inner
            .running
            .iter()
            .map(|r| {
                let value = match &r.protocol.peer_info {
                    Some(f) => f(&conn.id).unwrap_or_else(|| "handshake".to_string()),
                    None => "unknown".to_string(),
                };
                (r.protocol.name.clone(), value)
            })
            .collect();
        PeerInfo {
            enode: conn.enode.clone(),
            id: conn.id.to_string(),
            name: conn.name.clone(),
            caps: conn.caps.iter().map(Cap::to_string).collect(),
            network: NetworkInfo {
                local_address: self.local_addr(),
                remote_address: self.remote_addr(),
                inbound: self.inbound(),
                trusted: self.trusted(),
                static_dialed: self.static_dialed(),
            },
            protocols,
        }
    }

    /// Runs the peer on the calling thread until the connection ends, and returns whether the
    /// remote asked for the end (it sent a Disconnect) and the error that ended it: the
    /// reason for a disconnect either way, or the protocol's, reader's or writer's error.
    ///
    /// Starts the standby reader and one thread per negotiated protocol, then supervises
    /// them. On the first ending event it broadcasts the shutdown, closes the transport with
    /// the reason (which sends it to the remote unless it is a network error; a remote's
    /// reason is echoed back), and joins every thread before returning.
    ///
    /// A peer runs once: a second call returns at once with an error.
    pub fn run(&self) -> (bool, Error) {
        // The supervisor's thread spends the peer's life in `supervise`: startup and
        // shutdown are separate frames, so that the one it waits in stays small (each
        // stack page it touches stays resident for the peer's life).
        let mut run = match self.start_run() {
            Ok(run) => run,
            Err(e) => return (false, e),
        };
        let (err, reason, remote_requested) = match run.failed.take() {
            Some(e) => {
                let reason = e.disc_reason().unwrap_or(DiscReason::NETWORK_ERROR);
                (e, reason, false)
            }
            None => self.supervise(&run.transport, &mut run.threads),
        };
        self.finish_run(run, err, reason, remote_requested)
    }

    /// `run`'s start: the checks, the `add` event, the channels, and the standby and
    /// protocol threads. A failure to start a thread is in `failed` (the peer then ends at
    /// once, after joining what started).
    #[inline(never)]
    fn start_run(&self) -> Result<Box<RunState>, Error> {
        let inner = &self.inner;
        if inner.started.swap(true, Ordering::SeqCst) {
            return Err(Error::other("peer already started"));
        }
        let Some(transport) = inner.transport.clone() else {
            return Err(Error::other("peer has no transport"));
        };
        let Some(closed_tx) = inner.closed_tx.lock().take() else {
            return Err(Error::other("peer already closed"));
        };
        self.publish_add();
        let mut run = self.new_run_state(transport, closed_tx);

        // With protocols, the first standby is left to the supervisor's check after
        // STANDBY_START_GRACE: a protocol that reaches `read_msg` by then takes the read role
        // and keeps it while the peer is idle, and no standby thread is started at all.
        // Without protocols, the standby is the only reader and starts at once.
        if inner.running.is_empty() {
            if let Err(e) = self.start_standby(&run.transport, &mut run.threads) {
                run.failed = Some(e);
            }
        }
        let _ = run.write_start.0.try_send(());
        if run.failed.is_none() {
            if let Err(e) = self.start_protocols(
                &run.transport,
                (&run.write_start.0, &run.write_start.1),
                &mut run.handles,
            ) {
                run.failed = Some(e);
            }
        }
        Ok(run)
    }

    /// The channel and state of a run (made in a frame of its own: making a channel puts a
    /// large, cache-padded value on the stack, and the frame that goes on to start the
    /// threads should be small).
    #[inline(never)]
    fn new_run_state(&self, transport: Arc<dyn Transport>, closed_tx: Sender<()>) -> Box<RunState> {
        let inner = &self.inner;
        // Boxed: not in the frame of `run`, under the one the supervisor waits in.
        Box::new(RunState {
            transport,
            closed_tx,
            write_start: bounded::<()>(1),
            handles: Vec::with_capacity(inner.running.len()),
            threads: OnDemandThreads {
                standby: OnDemand::new(OnDemandKind::Standby),
                ctl: OnDemand::new(OnDemandKind::Ctl),
                stack: inner.config.stack_size.or(Some(PEER_THREAD_STACK_SIZE)),
            },
            failed: inner
                .slots
                .take_pending_disconnect()
                .map(Error::Disconnected),
        })
    }

    /// `run`'s end: broadcasts the shutdown, closes the transport with `reason`, joins every
    /// thread and publishes the `drop` event.
    #[inline(never)]
    fn finish_run(
        &self,
        run: Box<RunState>,
        err: Error,
        reason: DiscReason,
        remote_requested: bool,
    ) -> (bool, Error) {
        let inner = &self.inner;
        let RunState {
            transport,
            closed_tx,
            write_start,
            handles,
            mut threads,
            ..
        } = *run;
        debug!(
            "peer {} ending: {} (remote requested: {}), sending reason: {}",
            inner.conn.id.terminal_string(),
            err,
            remote_requested,
            reason
        );

        // No protocol write may start from here on. A writer that takes the token after this
        // store sees it and does not write; taking a token still in its slot back is only a
        // shortcut (a write in flight may put it back, which the flag makes harmless).
        inner.closing.store(true, Ordering::SeqCst);
        drop(closed_tx);
        inner.reading.close();
        let _ = write_start.1.try_recv();
        shutdown_transport(&*transport, reason);
        inner.wg.wait();
        for h in handles {
            let _ = h.join();
        }
        threads.standby.join();
        threads.ctl.join();

        self.publish(PeerEvent {
            remote_address: self.remote_addr(),
            local_address: self.local_addr(),
            ..PeerEvent::dropped(inner.conn.id, err.clone(), remote_requested)
        });
        (remote_requested, err)
    }

    /// Publishes the `add` event (its own frame: a `PeerEvent` is large).
    #[inline(never)]
    fn publish_add(&self) {
        self.publish(PeerEvent {
            remote_address: self.remote_addr(),
            local_address: self.local_addr(),
            ..PeerEvent::new(PeerEventType::Add, self.inner.conn.id)
        });
    }

    fn publish(&self, event: PeerEvent) {
        if let Some(feed) = &self.inner.config.events {
            feed.send(event);
        }
    }

    /// Starts a thread counted by the wait group; it is counted out however it ends.
    ///
    /// Takes the thread's work boxed and is not inlined: the supervisor starts threads on
    /// the stack it keeps for the peer's life, and std's spawn keeps its closure by value
    /// in its frame, so a small closure keeps that frame small.
    #[inline(never)]
    fn spawn(
        &self,
        name: String,
        stack_size: Option<usize>,
        f: Box<dyn FnOnce() + Send + 'static>,
    ) -> Result<JoinHandle<()>, Error> {
        let inner = self.inner.clone();
        let mut builder = thread::Builder::new().name(name);
        if let Some(size) = stack_size {
            builder = builder.stack_size(size);
        }
        self.inner.wg.add(1);
        let spawned = builder.spawn(move || {
            let _guard = WaitGroupGuard(&inner.wg);
            f();
        });
        spawned.map_err(|e| {
            self.inner.wg.done();
            Error::from(e)
        })
    }

    #[inline(never)]
    fn start_protocols(
        &self,
        transport: &Arc<dyn Transport>,
        write_token: (&Sender<()>, &Receiver<()>),
        handles: &mut Vec<JoinHandle<()>>,
    ) -> Result<(), Error> {
        for running in &self.inner.running {
            let (name, work) = self.protocol_thread(running, transport, write_token);
            handles.push(self.spawn(name, self.inner.config.stack_size, work)?);
        }
        Ok(())
    }

    /// The name and work of `running`'s thread (built in a frame of its own, which is gone
    /// before the thread is started: the supervisor's stack stays shallow).
    #[inline(never)]
    fn protocol_thread(
        &self,
        running: &Arc<Running>,
        transport: &Arc<dyn Transport>,
        write_token: (&Sender<()>, &Receiver<()>),
    ) -> (String, Box<dyn FnOnce() + Send + 'static>) {
        let inner = &self.inner;
        let core = ProtoRwCore {
            running: running.clone(),
            transport: transport.clone(),
            closed: inner.closed.clone(),
            inner: inner.clone(),
            write_token: write_token.0.clone(),
            write_start: write_token.1.clone(),
        };
        let rw: Arc<dyn MsgReadWriter> = match &inner.config.events {
            Some(feed) => Arc::new(MsgEventer::new(
                core,
                feed.clone(),
                inner.conn.id,
                running.protocol.name.clone(),
                transport.local_addr(),
                transport.remote_addr(),
            )),
            None => Arc::new(core),
        };
        let rw = ProtoRw { inner: rw };
        (inner.slots).add_writer(running.protocol.cap(), Arc::downgrade(&rw.inner));
        let cap = running.protocol.cap();
        let run = running.protocol.run.clone();
        let peer = self.clone();
        let events = inner.events_tx.clone();
        trace!("starting protocol {cap}");
        let name = format!("proto-{cap}");
        // Boxed once more: calling a boxed `FnOnce` moves what it captured onto the thread's
        // stack for the protocol's whole life, so it captures one pointer.
        let start = Box::new(ProtocolStart {
            run,
            peer,
            rw,
            cap,
            events,
        });
        let work = Box::new(move || run_protocol(start));
        (name, work)
    }

    /// The standby reader: reads the transport whenever no protocol is waiting to (see
    /// `reading`).
    fn standby_reader(&self, transport: &dyn Transport) {
        let inner = &self.inner;
        let ctx = ReadCtx {
            transport,
            peer: inner,
        };
        inner.reading.standby(&ctx);
    }

    /// Waits for the first ending event and returns it as (error, reason to send, whether
    /// the remote asked), meanwhile timing the Pings, taking Pong requests, and starting and
    /// joining the threads that come and go. Never blocks on a write: control messages go
    /// through [`Peer::control`].
    #[inline(never)]
    fn supervise(
        &self,
        transport: &Arc<dyn Transport>,
        threads: &mut OnDemandThreads,
    ) -> (Error, DiscReason, bool) {
        let inner = &self.inner;
        let interval = inner.config.ping_interval;
        let timer = |at: Option<Instant>| at.map_or_else(never, crossbeam_channel::at);
        // An interval too large to add to the clock means no Pings.
        let mut next_ping = Instant::now().checked_add(interval);
        let mut ping_timer = timer(next_ping);
        // The first standby: started after STANDBY_START_GRACE if by then no protocol has
        // taken the read role (see `start_run`).
        let mut standby_check = if inner.running.is_empty() {
            never::<Instant>()
        } else {
            timer(Instant::now().checked_add(STANDBY_START_GRACE))
        };
        let mut last_lazy_request: Option<Instant> = None;
        let no_pongs = never::<Control>();
        loop {
            // While PING_RECV_CAPACITY Pongs wait for `peer-ctl`, Pong requests stay in
            // their channel, which then holds back the reader (back-pressure).
            let pongs = if inner.ctl.lock().pongs < PING_RECV_CAPACITY {
                &inner.ping_recv_rx
            } else {
                &no_pongs
            };
            let wake = match self.wait_event(&ping_timer, pongs, &standby_check) {
                Ok(wake) => wake,
                Err(end) => return end.outcome(),
            };
            let result = match wake {
                Wake::PingDue | Wake::PongRequested(_) => {
                    // A due Ping goes before a Pong (a Ping flood must not starve it).
                    let due = next_ping.is_some_and(|at| Instant::now() >= at);
                    let ping = if due {
                        next_ping = Instant::now().checked_add(interval);
                        ping_timer = timer(next_ping);
                        self.control(Control::Ping, transport, threads)
                    } else {
                        Ok(())
                    };
                    match wake {
                        Wake::PongRequested(kind) => {
                            ping.and_then(|()| self.control(kind, transport, threads))
                        }
                        _ => ping,
                    }
                }
                Wake::Done(OnDemandKind::Ctl) => {
                    threads.ctl.done(inner);
                    Ok(())
                }
                Wake::Done(OnDemandKind::Standby) => {
                    threads.standby.done(inner);
                    Ok(())
                }
                Wake::StandbyRequested(lazy) => {
                    let now = Instant::now();
                    // Lazy requests in a stream (a protocol taking message after message):
                    // keep a standby rather than wake the supervisor for every message.
                    let stream =
                        lazy && last_lazy_request.is_some_and(|t| now - t < STANDBY_LINGER);
                    if lazy {
                        last_lazy_request = Some(now);
                    }
                    if lazy && !stream {
                        standby_check = timer(now.checked_add(STANDBY_GRACE));
                        Ok(())
                    } else {
                        self.start_standby_if_needed(transport, threads, stream)
                    }
                }
                Wake::StandbyCheck => {
                    standby_check = never();
                    self.start_standby_if_needed(transport, threads, false)
                }
            };
            if let Err(e) = result {
                // The supervisor's own write (or thread start) failed. An ending event that
                // came meanwhile came first and wins, as in geth's run loop, which takes
                // it while its pinger is still writing.
                if let Some(first) = self.pending_end() {
                    return first.outcome();
                }
                return End::Proto(e).outcome();
            }
        }
    }

    /// Waits for the supervisor's next event: an ending one as `Err`. In a frame of its
    /// own, gone while the supervisor acts on the event (a `select!` takes a large one, and
    /// a Ping's write goes deep).
    #[inline(never)]
    fn wait_event(
        &self,
        ping_timer: &Receiver<Instant>,
        pongs: &Receiver<Control>,
        standby_check: &Receiver<Instant>,
    ) -> Result<Wake, End> {
        let inner = &self.inner;
        select! {
            // `Inner` keeps a sender: never disconnected.
            recv(inner.events_rx) -> event => match event {
                Ok(event) => event.classify(),
                Err(_) => Err(End::Proto(Error::Eof)),
            },
            recv(inner.disc_rx) -> res => Err(End::Disc(res.unwrap_or(DiscReason::REQUESTED))),
            recv(ping_timer) -> _ => Ok(Wake::PingDue),
            recv(pongs) -> req => Ok(Wake::PongRequested(req.unwrap_or(Control::Pong))),
            recv(standby_check) -> _ => Ok(Wake::StandbyCheck),
        }
    }

    /// An ending event already waiting for the supervisor, if any: the first one queued on
    /// `events`, else a local disconnect on its way. The other events queued before it are
    /// dropped: the peer ends, and `finish_run` joins every thread whatever signals it left.
    fn pending_end(&self) -> Option<End> {
        let inner = &self.inner;
        while let Ok(event) = inner.events_rx.try_recv() {
            if let Err(end) = event.classify() {
                return Some(end);
            }
        }
        inner.disc_rx.try_recv().map(End::Disc).ok()
    }

    /// Starts a standby reader if reading still needs one (see `reading`, invariant 4a):
    /// always when `force`, otherwise only while the role is free with no protocol waiting.
    fn start_standby_if_needed(
        &self,
        transport: &Arc<dyn Transport>,
        threads: &mut OnDemandThreads,
        force: bool,
    ) -> Result<(), Error> {
        if !self.inner.reading.claim_standby_start(force) {
            return Ok(());
        }
        self.start_standby(transport, threads)
    }

    /// Starts `peer-read`, the standby reader, after joining the one that left before it.
    fn start_standby(
        &self,
        transport: &Arc<dyn Transport>,
        threads: &mut OnDemandThreads,
    ) -> Result<(), Error> {
        // A standby that marked itself gone is on its way out: this join is short.
        threads.standby.before_start(&self.inner);
        let peer = self.clone();
        let t = transport.clone();
        match self.spawn(
            "peer-read".into(),
            threads.stack,
            Box::new(move || {
                let _done = SignalOnDrop(&peer.inner, OnDemandKind::Standby);
                peer.standby_reader(&*t);
            }),
        ) {
            Ok(h) => {
                threads.standby.handle = Some(h);
                Ok(())
            }
            Err(e) => {
                self.inner.reading.standby_not_started();
                Err(e)
            }
        }
    }

    /// Sends a control message without blocking the supervisor: queued for the running
    /// `peer-ctl`, or tried at once with `try_write_msg`; what does not go out at once is
    /// left to a new `peer-ctl`. An error ends the peer.
    fn control(
        &self,
        kind: Control,
        transport: &Arc<dyn Transport>,
        threads: &mut OnDemandThreads,
    ) -> Result<(), Error> {
        let inner = &self.inner;
        let (ctl, stack) = (&mut threads.ctl, threads.stack);
        if inner.write_failed.load(Ordering::SeqCst) {
            // A protocol write failed: the peer ends next, and nothing is written after it.
            return Ok(());
        }
        // Under the lock throughout, so that the reader's own Pongs (`answer_ping`) and
        // these writes never start after a failed one.
        let mut q = inner.ctl.lock();
        if q.active {
            q.queue(kind);
            return Ok(());
        }
        let job = match kind {
            Control::Flush => CtlJob::Flush,
            Control::Ping | Control::Pong => match try_control_write(transport, kind) {
                Ok(None) => return Ok(()),
                Ok(Some(job)) => job,
                Err(e) => {
                    // No control write starts after a failed one; the peer ends.
                    q.active = true;
                    return Err(e);
                }
            },
        };
        q.active = true;
        drop(q);
        self.start_ctl(job, transport, ctl, stack)
    }

    /// Starts a `peer-ctl` for `job` (the rare path of `control`, in a frame of its own so
    /// that the usual one, a Ping written at once, stays shallow).
    #[cold]
    #[inline(never)]
    fn start_ctl(
        &self,
        job: CtlJob,
        transport: &Arc<dyn Transport>,
        ctl: &mut OnDemand,
        stack: Option<usize>,
    ) -> Result<(), Error> {
        // A writer that found its queue empty cleared `active` and is on its way out.
        ctl.before_start(&self.inner);
        let peer = self.clone();
        let t = transport.clone();
        // On failure `active` stays set: no control write starts, and the peer ends.
        let h = self.spawn(
            "peer-ctl".into(),
            stack,
            Box::new(move || {
                let _done = SignalOnDrop(&peer.inner, OnDemandKind::Ctl);
                peer.control_writer(&*t, job);
            }),
        )?;
        ctl.handle = Some(h);
        Ok(())
    }

    /// `peer-ctl`: does `first`, then writes the control messages queued meanwhile (a due
    /// Ping before pending Pongs), and leaves when none is left. A failed write ends the
    /// peer (as `Event::Proto`, as a protocol's error) and leaves `active` set, so that no
    /// control write starts after it.
    fn control_writer(&self, transport: &dyn Transport, first: CtlJob) {
        let result = catch_unwind(AssertUnwindSafe(|| {
            self.control_writer_inner(transport, first)
        }));
        let err = match result {
            Ok(None) => return,
            Ok(Some(e)) => e,
            Err(panic) => Error::other(format!(
                "peer control writer panicked: {}",
                panic_message(&*panic)
            )),
        };
        // One slot for the control writes, of which at most one ever fails (none starts
        // after a failure; see `EVENTS_RESERVED`): never full.
        let _ = self.inner.events_tx.try_send(Event::Proto(err));
    }

    /// Stops without writing once shutdown began or a protocol write failed (the peer ends
    /// then), as a protocol writer would.
    fn control_writer_inner(&self, transport: &dyn Transport, first: CtlJob) -> Option<Error> {
        let inner = &self.inner;
        let mut job = first;
        loop {
            if inner.closing.load(Ordering::SeqCst) || inner.write_failed.load(Ordering::SeqCst) {
                return None;
            }
            let written = match job {
                CtlJob::Write(msg) => transport.write_msg(msg),
                CtlJob::Flush => transport.flush(),
            };
            if let Err(e) = written {
                return Some(e);
            }
            let mut q = inner.ctl.lock();
            // Any write sends what a partial one left first, so it also does a flush.
            job = if q.ping_due {
                q.ping_due = false;
                q.flush = false;
                CtlJob::Write(Control::Ping.msg())
            } else if q.pongs > 0 {
                q.pongs -= 1;
                q.flush = false;
                CtlJob::Write(Control::Pong.msg())
            } else if q.flush {
                q.flush = false;
                CtlJob::Flush
            } else {
                q.active = false;
                return None;
            };
        }
    }
}

/// An event that ends the peer, as the supervisor takes it.
enum End {
    /// A protocol write failed.
    Write(Error),
    /// The reader ended (a Disconnect from the remote, a read error).
    Read(Error),
    /// A protocol ended, a control write failed, or a thread could not start.
    Proto(Error),
    /// A local disconnect request.
    Disc(DiscReason),
}

impl End {
    /// The error that ends the peer, the reason to send, and whether the remote asked.
    fn outcome(self) -> (Error, DiscReason, bool) {
        match self {
            End::Write(e) => (e, DiscReason::NETWORK_ERROR, false),
            End::Read(e) => match e.disc_reason() {
                Some(r) => (e, r, true),
                None => (e, DiscReason::NETWORK_ERROR, false),
            },
            End::Proto(e) => {
                let reason = disc_reason_for_error(&e);
                (e, reason, false)
            }
            End::Disc(r) => (Error::Disconnected(r), r, false),
        }
    }
}

/// What the peer's threads tell the supervisor, on its one channel (`Inner::events`).
enum Event {
    /// A protocol write failed (its writer keeps the write token).
    WriteFailed(Error),
    /// The reader ended: the remote's Disconnect, a read error or a panic.
    ReadFailed(Error),
    /// A protocol ended, or a control write failed.
    Proto(Error),
    /// A thread of this kind ended (see `OnDemand`).
    Done(OnDemandKind),
    /// Reading asks for a standby (`true`: lazily, see `reading`, invariant 4a).
    StandbyRequested(bool),
}

/// Slots of the event channel besides one per protocol (each protocol thread sends one
/// `Proto` as it ends). Each kind of event below is sent at most this often while the
/// supervisor takes none of them, so no sender ever finds the channel full:
///
/// - 1 failed protocol write: there is one write token, and its failed holder keeps it;
/// - 1 reader's end: the read role is `Dead` after it;
/// - 1 failed control write (by the supervisor's `peer-ctl` or the reader's Pong): none starts
///   after one failed (the control queue stays `active`);
/// - 2 end signals, one per `OnDemand` kind: a thread sends its signal only when none of
///   its kind is queued (`DoneFlags::queued`, cleared when the supervisor takes it);
/// - 1 standby request: reading asks again only once the supervisor has answered.
///
/// Events sent after the first ending event may be dropped unseen (`pending_end`): the peer
/// ends on that one and joins every thread anyway.
const EVENTS_RESERVED: usize = 6;

impl Event {
    /// An ending event as `Err`, the others as what they wake the supervisor for.
    fn classify(self) -> Result<Wake, End> {
        match self {
            Event::WriteFailed(e) => Err(End::Write(e)),
            Event::ReadFailed(e) => Err(End::Read(e)),
            Event::Proto(e) => Err(End::Proto(e)),
            Event::Done(kind) => Ok(Wake::Done(kind)),
            Event::StandbyRequested(lazy) => Ok(Wake::StandbyRequested(lazy)),
        }
    }
}

/// What woke the supervisor, besides an ending event.
enum Wake {
    /// The Ping timer fired.
    PingDue,
    /// The reader asked for a Pong (or for the rest of one to be sent).
    PongRequested(Control),
    /// A `peer-ctl` or `peer-read` ended (or one of its kind, see `OnDemand`).
    Done(OnDemandKind),
    /// Reading asked for a standby (`true`: lazily, see `reading`).
    StandbyRequested(bool),
    /// The grace period of a lazy standby request is over.
    StandbyCheck,
}

/// A control write the supervisor (or `peer-ctl`) does; the reader asks for the last two
/// on `ping_recv` when it could not answer a Ping itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Control {
    Ping,
    Pong,
    /// Send what the reader's partial Pong left.
    Flush,
}

impl Control {
    /// The message of a Ping or a Pong (never asked of a Flush, which writes no message).
    fn msg(self) -> Msg {
        let code = match self {
            Control::Ping => PING_MSG,
            Control::Pong | Control::Flush => PONG_MSG,
        };
        // The empty list, written out: an RLP encoder starts with a 1 KiB buffer, and that
        // allocation (a malloc consolidation on a thread's arena) cost more than all else an
        // idle peer does in a Ping round.
        Msg::new(code, vec![EMPTY_LIST])
    }
}

/// The RLP encoding of the empty list, the payload of a Ping or Pong.
const EMPTY_LIST: u8 = 0xc0;

/// Tries a Ping or Pong with `try_write_msg`: `None` when it went out whole, otherwise the
/// job a `peer-ctl` must finish.
#[inline(always)]
fn try_control_write(transport: &dyn Transport, kind: Control) -> Result<Option<CtlJob>, Error> {
    let tried = catch_unwind(AssertUnwindSafe(|| transport.try_write_msg(kind.msg())));
    match tried {
        Ok(Ok(TryWrite::Done)) => Ok(None),
        Ok(Ok(TryWrite::Partial)) => Ok(Some(CtlJob::Flush)),
        Ok(Ok(TryWrite::WouldBlock(msg))) => Ok(Some(CtlJob::Write(msg))),
        Ok(Err(e)) => Err(e),
        Err(panic) => Err(control_write_panicked(&*panic)),
    }
}

/// Shuts the transport down with `reason`. A transport that panics here must not unwind
/// past `finish_run`'s joins, which would leave the peer's threads running (they still end
/// if it unblocked them first).
#[cold]
#[inline(never)]
fn shutdown_transport(transport: &dyn Transport, reason: DiscReason) {
    let shut = catch_unwind(AssertUnwindSafe(|| {
        transport.shutdown(&Error::Disconnected(reason))
    }));
    if let Err(panic) = shut {
        warn!(
            "peer transport shutdown panicked: {}",
            panic_message(&*panic)
        );
    }
}

#[cold]
#[inline(never)]
fn control_write_panicked(panic: &(dyn std::any::Any + Send)) -> Error {
    Error::other(format!(
        "peer control write panicked: {}",
        panic_message(panic)
    ))
}

/// The reader's answer to a Ping (see `reading`): the Pong is written at once with the
/// non-blocking `try_write_msg`, without waking the supervisor, when nothing stands in the
/// way. Returns what the supervisor must still do, if anything:
///
/// - while a `peer-ctl` writes, the Pong joins its queue (if the queue has room, else the
///   supervisor is asked, which holds back the reader as before);
/// - after shutdown began or a write failed, nothing is written (as `Peer::control`);
/// - when the socket takes none of it (another write in progress, a full buffer), the
///   supervisor writes it; when it takes part, the supervisor has a `peer-ctl` send the
///   rest;
/// - a failed write ends the peer as a failed control write does.
///
/// Pongs are all alike, so their order among themselves does not matter; a due Ping is
/// written by the supervisor as soon as its timer fires, so Pongs answered here never hold
/// it back.
fn answer_ping(inner: &Inner, transport: &dyn Transport) -> Option<Control> {
    let mut q = inner.ctl.lock();
    if q.active {
        if q.pongs < PING_RECV_CAPACITY {
            q.pongs += 1;
            return None;
        }
        return Some(Control::Pong);
    }
    if inner.closing.load(Ordering::SeqCst) || inner.write_failed.load(Ordering::SeqCst) {
        return None;
    }
    // As `try_control_write`, with what the supervisor must do worked out under the panic
    // guard: this frame is on the stack while the Pong is sealed and sent, and holds no
    // more than the Pong and what the transport returns.
    let tried = catch_unwind(AssertUnwindSafe(|| {
        transport
            .try_write_msg(Control::Pong.msg())
            .map(|tried| match tried {
                TryWrite::Done => None,
                TryWrite::Partial => Some(Control::Flush),
                TryWrite::WouldBlock(_) => Some(Control::Pong),
            })
    }));
    match tried {
        Ok(Ok(request)) => request,
        Ok(Err(e)) => {
            pong_failed(inner, &mut q, e);
            None
        }
        Err(panic) => {
            pong_failed(inner, &mut q, control_write_panicked(&*panic));
            None
        }
    }
}

/// The reader's Pong failed (out of `answer_ping`'s frame, which is on the stack while the
/// Pong is sealed and sent).
#[cold]
#[inline(never)]
fn pong_failed(inner: &Inner, q: &mut CtlQueue, e: Error) {
    // No control write starts after this one; the peer ends. One slot for the control
    // writes, of which at most one fails (see `EVENTS_RESERVED`).
    q.active = true;
    let _ = inner.events_tx.try_send(Event::Proto(e));
}

/// The first work of a new `peer-ctl`.
enum CtlJob {
    /// Write this message (`try_write_msg` could not start it).
    Write(Msg),
    /// Send what a partial `try_write_msg` left.
    Flush,
}

/// Control messages waiting for `peer-ctl` (under `Inner::ctl`).
#[derive(Default)]
struct CtlQueue {
    /// A `peer-ctl` owns control writes: new ones queue here. Set by the supervisor when it
    /// starts one, cleared by that thread when it leaves with nothing queued; stays set
    /// after a failed control write.
    active: bool,
    /// A Ping is due (two due Pings are one).
    ping_due: bool,
    /// Pongs owed, at most `PING_RECV_CAPACITY`.
    pongs: usize,
    /// The rest of a partial Pong the reader wrote is still to be sent.
    flush: bool,
}

impl CtlQueue {
    /// Queues a control write for the running `peer-ctl`.
    fn queue(&mut self, kind: Control) {
        match kind {
            Control::Ping => self.ping_due = true,
            Control::Pong => self.pongs += 1,
            Control::Flush => self.flush = true,
        }
    }
}

/// The two kinds of [`OnDemand`] threads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum OnDemandKind {
    /// `peer-read`, the standby reader.
    Standby,
    /// `peer-ctl`, the control writer.
    Ctl,
}

/// The end signal of one [`OnDemand`] kind, shared with its threads (in `Inner`).
#[derive(Default)]
struct DoneFlags {
    /// The current thread of the kind is ending (set by it as its last act; cleared by the
    /// supervisor, after joining the one before, when it starts the next one).
    ended: AtomicBool,
    /// An `Event::Done` of the kind is queued and not yet taken.
    queued: AtomicBool,
}

impl Inner {
    fn done_flags(&self, kind: OnDemandKind) -> &DoneFlags {
        match kind {
            OnDemandKind::Standby => &self.standby_done,
            OnDemandKind::Ctl => &self.ctl_done,
        }
    }
}

/// A thread kind the supervisor starts on demand, at most one at a time. The thread
/// signals its end as its last act, however it ends (`SignalOnDrop`); the supervisor then
/// joins it, or joins it before starting the next one.
///
/// The signals share the event channel, where a supervisor that joined a thread cannot take
/// its signal back, so a signal may be *stale* (from a thread already joined) when the
/// supervisor takes it. So the signal says only "a thread of this kind ended", and the
/// supervisor joins the current thread on it only when that thread has set `ended`. Nothing
/// is missed: a thread sets `ended` and then sends a signal unless one is `queued`; the
/// supervisor, taking a signal, clears `queued` and then looks at `ended`. Both in
/// `SeqCst` order, so either the supervisor sees `ended` (and joins), or the thread sees
/// `queued` clear (and signals again). And at most one signal per kind is ever queued.
struct OnDemand {
    kind: OnDemandKind,
    handle: Option<JoinHandle<()>>,
}

impl OnDemand {
    fn new(kind: OnDemandKind) -> OnDemand {
        OnDemand { kind, handle: None }
    }

    /// Joins the thread, if any: it has ended or is ending.
    fn join(&mut self) {
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }

    /// Before starting the next thread: joins the one before, so that only the next one
    /// sets `ended` from now on.
    fn before_start(&mut self, inner: &Inner) {
        self.join();
        inner
            .done_flags(self.kind)
            .ended
            .store(false, Ordering::SeqCst);
    }

    /// The supervisor took an end signal of this kind: joins the current thread if it is
    /// ending (otherwise the signal was stale, and the current thread will signal).
    fn done(&mut self, inner: &Inner) {
        let flags = inner.done_flags(self.kind);
        flags.queued.store(false, Ordering::SeqCst);
        if flags.ended.load(Ordering::SeqCst) {
            self.join();
        }
    }
}

/// The supervisor's on-demand threads: the standby reader and the control writer.
struct OnDemandThreads {
    standby: OnDemand,
    ctl: OnDemand,
    /// Their stack size.
    stack: Option<usize>,
}

/// What `Peer::run` keeps from its start to its end.
struct RunState {
    transport: Arc<dyn Transport>,
    /// Dropped to broadcast the shutdown.
    closed_tx: Sender<()>,
    /// The write token's slot (emptied at shutdown), with a sender kept as long as the peer
    /// runs.
    write_start: (Sender<()>, Receiver<()>),
    /// The protocol threads.
    handles: Vec<JoinHandle<()>>,
    threads: OnDemandThreads,
    /// Why the peer ends before supervising, if it does.
    failed: Option<Error>,
}

/// Sends the end signal of an [`OnDemand`] thread when dropped (also on a panic).
struct SignalOnDrop<'a>(&'a Inner, OnDemandKind);

impl Drop for SignalOnDrop<'_> {
    fn drop(&mut self) {
        let (inner, kind) = (self.0, self.1);
        let flags = inner.done_flags(kind);
        flags.ended.store(true, Ordering::SeqCst);
        if !flags.queued.swap(true, Ordering::SeqCst) {
            // None of this kind queued: a slot is free (see `EVENTS_RESERVED`).
            let _ = inner.events_tx.try_send(Event::Done(kind));
        }
    }
}

impl Peer {
    /// A writer for the running protocol `cap` of this peer, usable from any thread (see
    /// [`ProtoWriter`](crate::ProtoWriter)); `None` when the peer does not run it (not negotiated, not started
    /// yet, or its `run` has returned).
    ///
    /// # Examples
    ///
    /// ```
    /// use devp2p_peer::{Cap, NodeId, Peer};
    /// let p = Peer::new_test(NodeId([1; 32]), "test", vec![Cap::new("eth", 68)]);
    /// assert!(p.protocol_writer(&Cap::new("eth", 68)).is_none()); // not running
    /// ```
    pub fn protocol_writer(&self, cap: &Cap) -> Option<crate::ProtoWriter> {
        let rw = ProtoRw {
            inner: self.inner.slots.writer(cap)?,
        };
        Some(crate::ProtoWriter::from_parts(rw, self.id(), self.closed()))
    }

    /// A receiver that becomes ready (disconnected) once the peer begins shutting down
    /// (never sent on): `select!` on it to stop work for a peer that is gone. A peer made by
    /// [`Peer::new_test`] is closed from the start.
    ///
    /// # Examples
    ///
    /// ```
    /// use devp2p_peer::{NodeId, Peer};
    /// let p = Peer::new_test(NodeId([1; 32]), "test", vec![]);
    /// assert!(p.closed().recv().is_err()); // closed: returns at once
    /// ```
    pub fn closed(&self) -> Receiver<()> {
        self.inner.closed.clone()
    }
}

/// What a protocol thread needs: the protocol's function and its arguments, and where its
/// end goes.
struct ProtocolStart {
    run: Arc<crate::RunFn>,
    peer: Peer,
    rw: ProtoRw,
    cap: Cap,
    events: Sender<Event>,
}

/// A protocol thread's work: runs the protocol and reports its end. Not inlined, and it
/// keeps nothing but the protocol's call in its frame while the protocol runs (the stack
/// pages a thread touches stay resident for the peer's life).
#[inline(never)]
#[allow(
    clippy::boxed_local,
    reason = "taken boxed so that the closure that calls it captures one pointer"
)]
fn run_protocol(start: Box<ProtocolStart>) {
    let ProtocolStart {
        run,
        peer,
        rw,
        cap,
        events,
    } = *start;
    let result = catch_unwind(AssertUnwindSafe(move || run(peer, rw)));
    protocol_done(&cap, &events, result);
}

/// Reports a protocol's end (its own frame: an error and an event are large).
#[inline(never)]
fn protocol_done(
    cap: &Cap,
    events: &Sender<Event>,
    result: std::thread::Result<Result<(), Error>>,
) {
    // One slot per protocol (see `EVENTS_RESERVED`): never full.
    let _ = events.try_send(Event::Proto(protocol_ended(cap, result)));
}

/// The error a protocol's thread reports when its `run` returned or panicked.
///
/// Not inlined: the protocol thread's first frame stays on the stack under everything the
/// protocol does (an idle peer's reads and Pongs included, see `tests/idle_stack.rs`), so
/// the logging and formatting here must not add to it.
#[inline(never)]
fn protocol_ended(cap: &Cap, result: std::thread::Result<Result<(), Error>>) -> Error {
    match result {
        Ok(Ok(())) => {
            trace!("protocol {cap} returned");
            Error::ProtocolReturned
        }
        Ok(Err(e)) => {
            if !matches!(e, Error::Eof) {
                trace!("protocol {cap} failed: {e}");
            }
            e
        }
        Err(panic) => {
            let message = panic_message(&*panic);
            debug!("protocol {cap} panicked: {message}");
            Error::ProtocolPanicked {
                protocol: cap.to_string(),
                message,
            }
        }
    }
}

/// The text of a panic's payload, when it has one.
fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic".to_string())
}

impl fmt::Display for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.remote_addr() {
            Some(addr) => write!(f, "Peer {} {}", self.id().terminal_string(), addr),
            None => write!(f, "Peer {} <nil>", self.id().terminal_string()),
        }
    }
}

impl fmt::Debug for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Peer")
            .field("id", &self.id())
            .field("name", &self.inner.conn.name)
            .field("caps", &self.inner.conn.caps)
            .field("flags", &self.flags())
            .finish_non_exhaustive()
    }
}

/// A protocol's view of the connection, the one its `run` gets: message codes are relative
/// to the protocol, reads take what the peer's reader delivers, and writes go through the
/// peer's write token.
///
/// Cheap to clone and usable from several threads at once. After the peer shut down, reads
/// return [`Error::Eof`] and writes [`Error::ShuttingDown`]. A write with a code beyond the
/// protocol's length fails with `invalid message code: not handled`, as in go-ethereum.
///
/// # Examples
///
/// A protocol answering requests (code 0) with responses (code 1), and leaving cleanly:
///
/// ```
/// use devp2p_peer::{send, DiscReason, MsgReader, Protocol};
/// let double = Protocol::new("double", 1, 2, |_peer, rw| loop {
///     let mut msg = rw.read_msg()?; // Err(Eof) once the peer shuts down
///     match msg.code {
///         0 => send(&rw, 1, &(msg.decode::<u64>()? * 2))?,
///         _ => return Err(DiscReason::PROTOCOL_ERROR.into()),
///     }
/// });
/// # let _ = double;
/// ```
#[derive(Clone)]
pub struct ProtoRw {
    inner: Arc<dyn MsgReadWriter>,
}

impl MsgReader for ProtoRw {
    fn read_msg(&self) -> Result<Msg, Error> {
        self.inner.read_msg()
    }
}

impl MsgWriter for ProtoRw {
    fn write_msg(&self, msg: Msg) -> Result<(), Error> {
        self.inner.write_msg(msg)
    }
}

impl fmt::Debug for ProtoRw {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ProtoRw")
    }
}

struct ProtoRwCore {
    running: Arc<Running>,
    transport: Arc<dyn Transport>,
    closed: Receiver<()>,
    inner: Arc<Inner>,
    write_token: Sender<()>,
    write_start: Receiver<()>,
}

impl MsgReader for ProtoRwCore {
    /// Takes the next message for this protocol, reading the transport itself when nobody
    /// else holds the read role (see `reading`).
    fn read_msg(&self) -> Result<Msg, Error> {
        let inner = &self.inner;
        let ctx = ReadCtx {
            transport: &*self.transport,
            peer: inner,
        };
        // Its code made relative and counted by `read_for`: no copy of the message in this
        // frame, which stays on the stack while the reader decodes and answers Pings.
        inner.reading.read_for(&self.running, &ctx)
    }
}

impl MsgWriter for ProtoRwCore {
    /// Writes `msg` holding the write token.
    ///
    /// geth hands the token to the writer, and the writer hands the result back to the run
    /// loop, which re-arms the token on success. Here the writer re-arms it itself on
    /// success (that hop woke the supervisor on every write, the main cost of a small echo)
    /// and only a failure goes to the supervisor. What geth guarantees still holds:
    ///
    /// - one write at a time: there is one token, in a slot of capacity 1, and only its
    ///   holder writes;
    /// - no write starts after a failed one: a failed writer keeps the token, so nobody can
    ///   take it again, and reports the error, which ends the peer;
    /// - no write starts after shutdown began: the supervisor sets `closing` before it
    ///   broadcasts `closed`, and a writer checks `closing` after taking the token and before
    ///   writing. A write whose check came first is in flight when shutdown begins, as one
    ///   that took the token just before in geth; the transport's shutdown waits for it.
    ///   After shutdown a successful writer does not re-arm the token.
    fn write_msg(&self, mut msg: Msg) -> Result<(), Error> {
        if msg.code >= self.running.protocol.length {
            return Err(Error::invalid_msg_code("not handled"));
        }
        msg.code += self.running.offset;
        let size = msg.size;
        // The token is usually in its slot: take it without a select.
        let token = match self.write_start.try_recv() {
            Ok(()) => true,
            Err(_) => select! {
                recv(self.write_start) -> token => token.is_ok(),
                recv(self.closed) -> _ => false,
            },
        };
        if !token || self.inner.closing.load(Ordering::SeqCst) {
            return Err(Error::ShuttingDown);
        }
        // A panic in the transport is this write's failure: caught here, so that the token is
        // kept and the supervisor hears of it even when the writer is not a protocol thread
        // (whose own panic would end the peer anyway).
        let written = catch_unwind(AssertUnwindSafe(|| self.transport.write_msg(msg)))
            .unwrap_or_else(|panic| {
                Err(Error::other(format!(
                    "transport write panicked: {}",
                    panic_message(&*panic)
                )))
            });
        match written {
            Ok(()) => {
                self.running.counters.count_out(size);
                if !self.inner.closing.load(Ordering::SeqCst) {
                    // The token is ours, so its slot is free: never blocks.
                    let _ = self.write_token.try_send(());
                }
                Ok(())
            }
            Err(e) => {
                // Keep the token: no write starts after a failed one. There is one token,
                // so at most one failure is ever sent and its slot is free (see
                // `EVENTS_RESERVED`).
                self.inner.write_failed.store(true, Ordering::SeqCst);
                let _ = self.inner.events_tx.try_send(Event::WriteFailed(e.clone()));
                Err(e)
            }
        }
    }
}

/// Network details in a [`PeerInfo`].
///
/// # Examples
///
/// ```
/// use devp2p_peer::{Cap, NodeId, Peer};
/// let peer = Peer::new_test(NodeId([1; 32]), "remote", vec![]);
/// let net = peer.info().network;
/// assert!(!net.inbound && !net.trusted && !net.static_dialed);
/// assert_eq!(net.remote_address, None); // a test peer has no connection
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetworkInfo {
    /// Local end of the connection.
    pub local_address: Option<SocketAddr>,
    /// Remote end of the connection.
    pub remote_address: Option<SocketAddr>,
    /// The remote dialed us.
    pub inbound: bool,
    /// The remote is trusted.
    pub trusted: bool,
    /// We dialed the remote as a static node.
    pub static_dialed: bool,
}

/// What [`Peer::info`] reports about a peer.
///
/// # Examples
///
/// ```
/// use devp2p_peer::{Cap, NodeId, Peer};
/// let peer = Peer::new_test(NodeId([0xab; 32]), "geth/v1.15.0", vec![Cap::new("eth", 68)]);
/// let info = peer.info();
/// assert_eq!(info.name, "geth/v1.15.0");
/// assert_eq!(info.caps, vec!["eth/68".to_string()]);
/// assert_eq!(info.id, "ab".repeat(32));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerInfo {
    /// The remote's `enode://` URL, when known.
    pub enode: Option<String>,
    /// The remote's node ID, hex.
    pub id: String,
    /// The remote's full client name.
    pub name: String,
    /// The remote's capabilities, as `name/version`.
    pub caps: Vec<String>,
    /// Connection details.
    pub network: NetworkInfo,
    /// Per running protocol: its peer info, `handshake` while the protocol reports none yet,
    /// or `unknown` when it has no peer-info callback.
    pub protocols: std::collections::BTreeMap<String, String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Starts a `peer-ctl` stand-in on `od` that ends when `gate` is closed.
    fn start_gated(peer: &Peer, od: &mut OnDemand) -> Sender<()> {
        let (gate_tx, gate) = bounded::<()>(0);
        od.before_start(&peer.inner);
        let p = peer.clone();
        od.handle = Some(thread::spawn(move || {
            let _done = SignalOnDrop(&p.inner, OnDemandKind::Ctl);
            let _ = gate.recv();
        }));
        gate_tx
    }

    fn take_done(peer: &Peer) -> OnDemandKind {
        match peer.inner.events_rx.recv_timeout(Duration::from_secs(20)) {
            Ok(Event::Done(kind)) => kind,
            Ok(_) => panic!("not an end signal"),
            Err(e) => panic!("no end signal: {e}"),
        }
    }

    #[test]
    fn a_stale_end_signal_neither_joins_a_running_thread_nor_hides_its_end() {
        let peer = Peer::new_test(NodeId([1; 32]), "t", vec![]);
        let mut od = OnDemand::new(OnDemandKind::Ctl);
        // The first thread ends; the supervisor joins it before starting the next one,
        // and its signal stays queued.
        drop(start_gated(&peer, &mut od));
        let gate = start_gated(&peer, &mut od);
        assert_eq!(peer.inner.events_rx.len(), 1);
        // The stale signal: the running thread is not joined (which would block here).
        assert_eq!(take_done(&peer), OnDemandKind::Ctl);
        od.done(&peer.inner);
        assert!(od.handle.is_some());
        // Its own end comes as a signal of its own, and is joined on it.
        drop(gate);
        assert_eq!(take_done(&peer), OnDemandKind::Ctl);
        od.done(&peer.inner);
        assert!(od.handle.is_none());
        assert!(peer.inner.events_rx.is_empty());
    }

    #[test]
    fn a_thread_ending_behind_a_stale_signal_is_joined_on_it() {
        let peer = Peer::new_test(NodeId([1; 32]), "t", vec![]);
        let mut od = OnDemand::new(OnDemandKind::Ctl);
        // Many threads come and go while the supervisor takes none of their signals: one
        // stays queued, however many ended.
        for _ in 0..10 {
            drop(start_gated(&peer, &mut od));
        }
        let gate = start_gated(&peer, &mut od);
        assert_eq!(peer.inner.events_rx.len(), 1);
        // The last thread ends behind that signal and sends none of its own; the queued
        // one, taken, joins it.
        drop(gate);
        let deadline = Instant::now() + Duration::from_secs(20);
        while !peer.inner.ctl_done.ended.load(Ordering::SeqCst) {
            assert!(Instant::now() < deadline, "the thread did not end");
            thread::yield_now();
        }
        assert_eq!(peer.inner.events_rx.len(), 1);
        assert_eq!(take_done(&peer), OnDemandKind::Ctl);
        od.done(&peer.inner);
        assert!(od.handle.is_none());
        assert!(peer.inner.events_rx.is_empty());
    }

    #[test]
    fn control_messages_carry_the_empty_list() {
        let empty = crate::message::encode_items(&[]);
        for (kind, code) in [(Control::Ping, PING_MSG), (Control::Pong, PONG_MSG)] {
            let mut msg = kind.msg();
            assert_eq!(msg.code, code);
            assert_eq!(msg.size as usize, empty.len());
            assert_eq!(msg.payload.consume(), &empty[..]);
        }
    }
}
