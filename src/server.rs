//! The server: listens for and dials RLPx connections, enforces the peer limits, and runs
//! each peer on a thread of its own.
//!
//! Threads the server starts (all joined by [`Server::stop`]):
//!
//! - `server-accept` waits for a free pending-handshake slot, accepts one connection and
//!   hands it to a new `server-conn` thread.
//! - `server-run` keeps the static nodes connected (unless [`ServerConfig::no_dial`]): it
//!   starts a `server-dial` connection thread per attempt and schedules redials with
//!   back-off. It also joins every connection thread as soon as it ends.
//! - each connection thread does the whole setup (encryption handshake, checks, Hello,
//!   checks again) and then runs the peer with [`Peer::run`] on that same thread.
//!
//! The threads of the peers are counted against a thread budget (see
//! [`ServerConfig::max_threads`] and the `budget` module): past it, a connection is refused
//! with "too many peers" rather than risk a thread that cannot start.
//!
//! The shared state (peers by ID, inbound count, trusted and static sets, sockets of
//! handshakes in progress, thread handles) sits behind one mutex. Each checkpoint is
//! evaluated under that mutex, and the last one also inserts the peer, so concurrent
//! connections can never exceed the limits.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, select, unbounded, Receiver, Sender};
use log::{debug, info, trace, warn};
use parking_lot::Mutex;

mod budget;

use budget::{peer_threads, PROCESS_THREADS};

use crate::rlpx::{Enode, PublicKey, RlpxTransport, SecretKey, Timeouts};
use crate::{
    count_matching_protocols, match_protocols, ConnFlags, ConnInfo, DiscReason, Error, EventFeed,
    Hello, NodeId, Peer, PeerConfig, PeerEvent, PeerEventType, PeerInfo, Protocol, Transport,
    PING_INTERVAL,
};

/// Default number of connections that may be in their handshake at once (accept slots).
pub const DEFAULT_MAX_PENDING_PEERS: usize = 50;
/// Default ratio of all peers to dialed peers: a third of the slots are kept for dialing.
pub const DEFAULT_DIAL_RATIO: usize = 3;
/// Default time allowed for the TCP connect of a dial.
pub const DEFAULT_DIAL_TIMEOUT: Duration = Duration::from_secs(15);
/// Default time during which a second inbound attempt from the same (non-LAN) IP is refused.
pub const INBOUND_THROTTLE_TIME: Duration = Duration::from_secs(30);
/// Default time allowed for the whole RLPx encryption handshake.
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);
/// Default wait before the first redial of a static node.
pub const DEFAULT_REDIAL_BACKOFF: Duration = Duration::from_secs(1);
/// Default longest wait between two redials of a static node.
pub const DEFAULT_MAX_REDIAL_BACKOFF: Duration = Duration::from_secs(35);

/// How long the accept loop pauses after a temporary accept error.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(200);
/// A TCP connect is attempted in slices this long, so that a stopping server is not held up
/// by a dial for the whole dial timeout.
const CONNECT_SLICE: Duration = Duration::from_secs(1);

/// The settings of a [`Server`].
///
/// [`ServerConfig::new`] gives the defaults documented on each field; only the key is required.
///
/// # Examples
///
/// ```
/// use devp2p_peer::rlpx::SecretKey;
/// use devp2p_peer::ServerConfig;
///
/// let mut config = ServerConfig::new(SecretKey::random());
/// config.max_peers = 10;
/// assert_eq!(config.max_dialed_conns(), 3); // 10 / dial_ratio 3
/// assert_eq!(config.max_inbound_conns(), 7);
/// config.no_dial = true;
/// assert_eq!(config.max_inbound_conns(), 10);
/// ```
#[derive(Clone)]
pub struct ServerConfig {
    /// The node key: its public half is the node's identity.
    pub private_key: SecretKey,
    /// The client name sent in the Hello. Default `devp2p-peer/v<crate version>`.
    pub name: String,
    /// The sub-protocols offered to every peer. When not empty, a peer sharing none of them
    /// is dropped as a useless peer. Default: none.
    pub protocols: Vec<Protocol>,
    /// The most peers connected at once (trusted peers not counted against it). Default 50.
    pub max_peers: usize,
    /// The most connections in their handshake at once; `0` means the default, 50.
    pub max_pending_peers: usize,
    /// One in `dial_ratio` peer slots is kept for peers we dialed, so inbound connections
    /// are limited to `max_peers - max_peers / dial_ratio`; `0` means the default, 3.
    pub dial_ratio: usize,
    /// Where to listen for connections, e.g. `0.0.0.0:30303`; `None` (the default) does not
    /// listen. Port 0 picks a free port: read it back with [`Server::local_addr`].
    pub listen_addr: Option<SocketAddr>,
    /// Nodes to keep connected (dialed at start, redialed while disconnected).
    pub static_nodes: Vec<Enode>,
    /// Nodes allowed to connect above the peer limits.
    pub trusted_nodes: Vec<Enode>,
    /// Dial nothing, not even static nodes. Default `false`.
    pub no_dial: bool,
    /// Also publish `msgsend`/`msgrecv` events for every protocol message (the `add` and
    /// `drop` events are always published). Default `false`.
    pub enable_msg_events: bool,
    /// Stack size of the connection threads and of the threads each peer starts; `None` (the
    /// default) uses the platform's default.
    pub stack_size: Option<usize>,
    /// The most threads the server's connections may use together: every thread of every
    /// peer (3 and one per running protocol, see [`defaults`](crate::defaults)) plus, kept in
    /// reserve for handshakes, [`ServerConfig::max_pending_peers`] when listening and as
    /// many again when dialing. A connection whose peer would go past it is refused with
    /// [`DiscReason::TOO_MANY_PEERS`], trusted or not, so that the process never reaches a
    /// limit at which a new thread aborts it.
    ///
    /// `None` (the default): a budget computed from the machine's limits when the first
    /// server of the process starts, shared by all the servers of the process (see
    /// [`Server::thread_budget`] and [`defaults`](crate::defaults)).
    pub max_threads: Option<usize>,
    /// Time allowed for the TCP connect of a dial. Default 15 s.
    pub dial_timeout: Duration,
    /// Time allowed for the whole RLPx encryption handshake. Default 5 s.
    pub handshake_timeout: Duration,
    /// A second inbound attempt from the same IP within this time is refused; loopback and
    /// LAN addresses are exempt. Default 30 s.
    pub inbound_throttle: Duration,
    /// Wait before redialing a static node after its peer ended or a first attempt failed;
    /// doubles with every further failure. Default 1 s.
    pub redial_backoff: Duration,
    /// The longest wait between redials of a static node. Default 35 s.
    pub max_redial_backoff: Duration,
    /// How often each peer sends a Ping. Default 15 s.
    pub ping_interval: Duration,
}

impl ServerConfig {
    /// A configuration with `private_key` and every other field at its default.
    pub fn new(private_key: SecretKey) -> ServerConfig {
        ServerConfig {
            private_key,
            name: concat!("devp2p-peer/v", env!("CARGO_PKG_VERSION")).to_string(),
            protocols: Vec::new(),
            max_peers: 50,
            max_pending_peers: DEFAULT_MAX_PENDING_PEERS,
            dial_ratio: DEFAULT_DIAL_RATIO,
            listen_addr: None,
            static_nodes: Vec::new(),
            trusted_nodes: Vec::new(),
            no_dial: false,
            enable_msg_events: false,
            stack_size: None,
            max_threads: None,
            dial_timeout: DEFAULT_DIAL_TIMEOUT,
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
            inbound_throttle: INBOUND_THROTTLE_TIME,
            redial_backoff: DEFAULT_REDIAL_BACKOFF,
            max_redial_backoff: DEFAULT_MAX_REDIAL_BACKOFF,
            ping_interval: PING_INTERVAL,
        }
    }

    /// The most peers we dialed: 0 with `no_dial` or `max_peers == 0`, else
    /// `max_peers / dial_ratio` but at least 1.
    pub fn max_dialed_conns(&self) -> usize {
        if self.no_dial || self.max_peers == 0 {
            return 0;
        }
        let ratio = if self.dial_ratio == 0 {
            DEFAULT_DIAL_RATIO
        } else {
            self.dial_ratio
        };
        (self.max_peers / ratio).max(1)
    }

    /// The most peers that dialed us: `max_peers - max_dialed_conns()`.
    pub fn max_inbound_conns(&self) -> usize {
        self.max_peers - self.max_dialed_conns()
    }

    fn pending_slots(&self) -> usize {
        if self.max_pending_peers == 0 {
            DEFAULT_MAX_PENDING_PEERS
        } else {
            self.max_pending_peers
        }
    }

    /// Threads kept for connections in their setup: one per pending slot when listening,
    /// and as many for dials (at most that many run at once).
    fn setup_reserve(&self) -> usize {
        let listening = usize::from(self.listen_addr.is_some());
        let dialing = usize::from(!self.no_dial);
        self.pending_slots() * (listening + dialing)
    }
}

impl fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerConfig")
            .field("name", &self.name)
            .field("protocols", &self.protocols)
            .field("max_peers", &self.max_peers)
            .field("max_pending_peers", &self.max_pending_peers)
            .field("dial_ratio", &self.dial_ratio)
            .field("listen_addr", &self.listen_addr)
            .field("static_nodes", &self.static_nodes.len())
            .field("trusted_nodes", &self.trusted_nodes.len())
            .field("no_dial", &self.no_dial)
            .field("enable_msg_events", &self.enable_msg_events)
            .field("max_threads", &self.max_threads)
            .finish_non_exhaustive()
    }
}

/// What [`Server::node_info`] reports about the local node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeInfo {
    /// The node ID, hex.
    pub id: String,
    /// The client name.
    pub name: String,
    /// The node's `enode://` URL (see [`Server::self_enode`]).
    pub enode: String,
    /// The IP address in the enode URL.
    pub ip: IpAddr,
    /// The address the server listens on, when it does.
    pub listen_addr: Option<SocketAddr>,
    /// Per protocol (by name): its node info, or `unknown` when it reports none.
    pub protocols: BTreeMap<String, String>,
}

/// Where the server is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    New,
    Running,
    Stopped,
}

/// A running peer and the signal that its thread has removed it from the map.
struct PeerEntry {
    peer: Peer,
    /// Threads the peer counts against the budget.
    threads: usize,
    /// Disconnected (its sender dropped) once the peer is gone from the map.
    done: Receiver<()>,
}

struct State {
    phase: Phase,
    local_addr: Option<SocketAddr>,
    peers: HashMap<NodeId, PeerEntry>,
    inbound: usize,
    trusted: HashSet<NodeId>,
    statics: HashMap<NodeId, Enode>,
    /// Static nodes with a dial between TCP connect and the end of the setup.
    dialing: HashSet<NodeId>,
    /// Second handles to the sockets of connections still in their setup, so `stop` can
    /// shut them down.
    handshakes: HashMap<u64, TcpStream>,
    next_conn: u64,
    /// The accept and dial loops.
    service_threads: Vec<JoinHandle<()>>,
    /// Connection threads (inbound and dialed), by thread number.
    conn_threads: HashMap<u64, JoinHandle<()>>,
    next_thread: u64,
    /// Threads of the running peers ([`PeerEntry::threads`] summed).
    peer_threads: usize,
    /// Threads this server counts in [`PROCESS_THREADS`] for its setup reserve.
    reserve_counted: usize,
    /// Inbound IPs and when each may try again.
    inbound_history: HashMap<IpAddr, Instant>,
}

enum DialerMsg {
    /// Something changed (a static node added, a peer gone): look at the static nodes again.
    Wake,
    /// A dial of a static node ended; `ran` tells whether it became a peer.
    Done { id: NodeId, ran: bool },
    /// Connection thread number `.0` has ended: join it.
    Ended(u64),
}

struct Inner {
    config: ServerConfig,
    self_id: NodeId,
    our_hello: Hello,
    feed: EventFeed,
    state: Mutex<State>,
    /// Set once `stop` begins; read by loops that cannot wait on a channel.
    stopping: AtomicBool,
    /// Set when a refusal for the thread budget has been logged; cleared once the threads
    /// in use are back below nine tenths of the budget.
    budget_warned: AtomicBool,
    quit_tx: Mutex<Option<Sender<()>>>,
    quit_rx: Receiver<()>,
    dial_tx: Sender<DialerMsg>,
    dial_rx: Receiver<DialerMsg>,
}

/// A devp2p node: accepts and dials RLPx connections, checks them against its limits and
/// runs every accepted peer on a thread of its own.
///
/// A connection is set up in this order, each step able to reject it:
///
/// 1. the RLPx encryption handshake, within [`ServerConfig::handshake_timeout`]
///    (failure: `rlpx enc error: ...`);
/// 2. the first checks: too many peers, too many inbound peers
///    ([`ServerConfig::max_inbound_conns`]), both [`DiscReason::TOO_MANY_PEERS`] and waived for
///    trusted nodes; the thread budget ([`ServerConfig::max_threads`], also
///    [`DiscReason::TOO_MANY_PEERS`], for trusted nodes too); [`DiscReason::ALREADY_CONNECTED`];
///    [`DiscReason::SELF`];
/// 3. the Hello exchange (failure: `rlpx proto error: ...`, except that a Disconnect the
///    remote sent instead of its Hello is reported as its reason);
/// 4. the Hello's key must be the one the handshake proved
///    ([`DiscReason::UNEXPECTED_IDENTITY`]);
/// 5. at least one shared protocol when the server has any ([`DiscReason::USELESS_PEER`]);
/// 6. the checks of step 2 again, and on success the peer is added, all under one lock.
///
/// A rejection after step 1 sends its reason to the remote in a Disconnect message.
///
/// [`Server::stop`] disconnects every peer with [`DiscReason::QUITTING`], aborts the
/// handshakes in progress and returns once every thread the server started has been joined.
/// It must not be called from one of those threads (a protocol's `run`, say), which it would
/// wait for. Dropping a server stops it.
///
/// # Examples
///
/// Two servers on 127.0.0.1; the second keeps the first connected as a static node:
///
/// ```
/// use std::time::Duration;
/// use devp2p_peer::rlpx::SecretKey;
/// use devp2p_peer::{Server, ServerConfig};
/// use devp2p_peer::{Msg, MsgReader, MsgWriter, PeerEventType, Protocol};
///
/// let echo = Protocol::new("echo", 1, 8, |_peer, rw| loop {
///     let mut msg = rw.read_msg()?;
///     let data = msg.payload.consume().to_vec();
///     rw.write_msg(Msg::new(msg.code, data))?;
/// });
/// let config = |name: &str| {
///     let mut c = ServerConfig::new(SecretKey::random());
///     c.name = name.into();
///     c.protocols = vec![echo.clone()];
///     c.listen_addr = Some("127.0.0.1:0".parse().unwrap());
///     c
/// };
/// let a = Server::new(config("a"));
/// a.start()?;
/// let b = Server::new(config("b"));
/// let events = b.subscribe_events();
/// b.start()?;
/// b.add_peer(a.self_enode());
///
/// let ev = events.recv_timeout(Duration::from_secs(10))?;
/// assert_eq!(ev.kind, PeerEventType::Add);
/// let peer = &b.peers()[0];
/// assert_eq!(peer.name(), "a");
/// assert!(peer.running_cap("echo", &[1]));
///
/// b.stop(); // a sees "client quitting"
/// a.stop();
/// assert_eq!(b.peer_count(), 0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Server {
    inner: Arc<Inner>,
}

impl Server {
    /// A server with `config`; nothing runs until [`Server::start`].
    pub fn new(config: ServerConfig) -> Server {
        let public = config.private_key.public_key();
        let caps = config.protocols.iter().map(Protocol::cap).collect();
        let our_hello = Hello::new(config.name.clone(), caps, public.to_bytes());
        let (quit_tx, quit_rx) = bounded(0);
        let (dial_tx, dial_rx) = unbounded();
        Server {
            inner: Arc::new(Inner {
                self_id: public.node_id(),
                our_hello,
                feed: EventFeed::new(),
                state: Mutex::new(State {
                    phase: Phase::New,
                    local_addr: None,
                    peers: HashMap::new(),
                    inbound: 0,
                    trusted: config.trusted_nodes.iter().map(enode_id).collect(),
                    statics: config
                        .static_nodes
                        .iter()
                        .map(|n| (enode_id(n), *n))
                        .collect(),
                    dialing: HashSet::new(),
                    handshakes: HashMap::new(),
                    next_conn: 0,
                    service_threads: Vec::new(),
                    conn_threads: HashMap::new(),
                    next_thread: 0,
                    peer_threads: 0,
                    reserve_counted: 0,
                    inbound_history: HashMap::new(),
                }),
                config,
                stopping: AtomicBool::new(false),
                budget_warned: AtomicBool::new(false),
                quit_tx: Mutex::new(Some(quit_tx)),
                quit_rx,
                dial_tx,
                dial_rx,
            }),
        }
    }

    /// Starts listening (when [`ServerConfig::listen_addr`] is set) and dialing (unless
    /// [`ServerConfig::no_dial`]).
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the listen address cannot be bound (port in use, say);
    /// `server already running` on a second call; `server stopped` after [`Server::stop`]
    /// (a server runs once).
    pub fn start(&self) -> Result<(), Error> {
        let inner = &self.inner;
        let mut st = inner.state.lock();
        match st.phase {
            Phase::New => {}
            Phase::Running => return Err(Error::other("server already running")),
            Phase::Stopped => return Err(server_stopped()),
        }
        let listener = match inner.config.listen_addr {
            Some(addr) => {
                let l = TcpListener::bind(addr)?;
                st.local_addr = Some(l.local_addr()?);
                Some(l)
            }
            None => None,
        };
        st.phase = Phase::Running;
        st.reserve_counted = inner.config.setup_reserve();
        {
            let mut process = PROCESS_THREADS.lock();
            process.used += st.reserve_counted;
            // Computed before the first peer, from what the process holds now.
            match inner.config.max_threads {
                None => {
                    process.budget();
                }
                Some(max) if max < st.reserve_counted + peer_threads(1) => warn!(
                    "max_threads {max} leaves no room for a peer: {} threads are kept for \
                     handshakes (max_pending_peers when listening, and again when dialing)",
                    st.reserve_counted
                ),
                Some(_) => {}
            }
        }
        let mut spawned = Ok(());
        if let Some(listener) = listener {
            let me = inner.clone();
            match spawn_named("server-accept", None, move || me.accept_loop(listener)) {
                Ok(h) => st.service_threads.push(h),
                Err(e) => spawned = Err(e),
            }
        }
        if spawned.is_ok() {
            let me = inner.clone();
            match spawn_named("server-run", None, move || me.run_loop()) {
                Ok(h) => st.service_threads.push(h),
                Err(e) => spawned = Err(e),
            }
        }
        drop(st);
        if let Err(e) = spawned {
            self.stop();
            return Err(e);
        }
        debug!(
            "server started: {} listening on {:?}",
            inner.self_id.terminal_string(),
            self.local_addr()
        );
        Ok(())
    }

    /// Stops the server: stops accepting and dialing, aborts the handshakes in progress,
    /// disconnects every peer with [`DiscReason::QUITTING`] and joins every thread the
    /// server started. Returns at once when the server is not running.
    ///
    /// The accept loop, blocked in `accept`, is woken by a connection the server makes to
    /// its own listening address, which it recognises by the stop flag and drops.
    pub fn stop(&self) {
        let inner = &self.inner;
        let (peers, handshakes, service, local_addr) = {
            let mut st = inner.state.lock();
            if st.phase != Phase::Running {
                return;
            }
            st.phase = Phase::Stopped;
            inner.stopping.store(true, Ordering::SeqCst);
            let peers: Vec<Peer> = st.peers.values().map(|e| e.peer.clone()).collect();
            let handshakes: Vec<TcpStream> = st.handshakes.drain().map(|(_, s)| s).collect();
            let service = std::mem::take(&mut st.service_threads);
            (peers, handshakes, service, st.local_addr)
        };
        // Wakes the dial loop, an accept loop waiting for a slot, and back-off sleeps.
        inner.quit_tx.lock().take();
        if let Some(addr) = local_addr {
            wake_listener(addr);
        }
        for s in &handshakes {
            let _ = s.shutdown(Shutdown::Both);
        }
        for p in &peers {
            p.disconnect(DiscReason::QUITTING);
        }
        for h in service {
            let _ = h.join();
        }
        // No connection thread can start any more: join them all.
        loop {
            let threads = std::mem::take(&mut inner.state.lock().conn_threads);
            if threads.is_empty() {
                break;
            }
            for h in threads.into_values() {
                let _ = h.join();
            }
        }
        let reserve = std::mem::take(&mut inner.state.lock().reserve_counted);
        PROCESS_THREADS.lock().used -= reserve;
        debug!("server stopped: {}", inner.self_id.terminal_string());
    }

    /// Sets up a connection on the calling thread, as the server does for each connection
    /// it accepts (`flags` containing [`ConnFlags::INBOUND`], `dial_dest` `None`) or dials
    /// (`dial_dest` the node dialed). On success the peer then runs on the calling thread
    /// and this returns `Ok` once it has ended (its end is reported by the `drop` event);
    /// a failed setup returns its error, after closing the connection (with a Disconnect
    /// carrying the reason when the failure came after the encryption handshake).
    ///
    /// # Errors
    ///
    /// `server stopped` when the server is not running; `rlpx enc error: ...`; a
    /// [`DiscReason`] for a rejection (see [`Server`]) or a Disconnect the remote sent
    /// instead of its Hello; `rlpx proto error: ...` for other Hello failures.
    pub fn setup_conn(
        &self,
        stream: TcpStream,
        flags: ConnFlags,
        dial_dest: Option<&Enode>,
    ) -> Result<(), Error> {
        let (peer, done) = self.inner.setup(stream, flags, dial_dest)?;
        self.inner.run_peer(peer, done);
        Ok(())
    }

    /// Adds a static node: the server dials it, and redials it with back-off whenever it is
    /// not connected, until [`Server::remove_peer`]. Dials wait for a free dialed-peer slot
    /// ([`ServerConfig::max_dialed_conns`]).
    pub fn add_peer(&self, node: Enode) {
        self.inner
            .state
            .lock()
            .statics
            .insert(enode_id(&node), node);
        let _ = self.inner.dial_tx.send(DialerMsg::Wake);
    }

    /// Removes a static node and disconnects the peer with its ID, if any, with
    /// [`DiscReason::REQUESTED`]; returns once that peer has been removed from the server
    /// (so it must not be called from that peer's own protocol threads).
    pub fn remove_peer(&self, node: &Enode) {
        let id = enode_id(node);
        let entry = {
            let mut st = self.inner.state.lock();
            st.statics.remove(&id);
            st.peers.get(&id).map(|e| (e.peer.clone(), e.done.clone()))
        };
        if let Some((peer, done)) = entry {
            peer.disconnect(DiscReason::REQUESTED);
            // Disconnected once the peer's thread has removed it.
            let _ = done.recv();
        }
    }

    /// Trusts `node`: it may connect above the peer limits. A connected peer with its ID is
    /// marked trusted at once.
    pub fn add_trusted_peer(&self, node: &Enode) {
        let id = enode_id(node);
        let mut st = self.inner.state.lock();
        st.trusted.insert(id);
        if let Some(e) = st.peers.get(&id) {
            e.peer.set_trusted(true);
        }
    }

    /// Stops trusting `node`; a connected peer with its ID stays connected, untrusted.
    pub fn remove_trusted_peer(&self, node: &Enode) {
        let id = enode_id(node);
        let mut st = self.inner.state.lock();
        st.trusted.remove(&id);
        if let Some(e) = st.peers.get(&id) {
            e.peer.set_trusted(false);
        }
    }

    /// The connected peers, sorted by ID.
    pub fn peers(&self) -> Vec<Peer> {
        let mut peers: Vec<Peer> = self
            .inner
            .state
            .lock()
            .peers
            .values()
            .map(|e| e.peer.clone())
            .collect();
        peers.sort_by_key(Peer::id);
        peers
    }

    /// How many peers are connected.
    pub fn peer_count(&self) -> usize {
        self.inner.state.lock().peers.len()
    }

    /// What each connected peer reports about itself ([`Peer::info`]), sorted by ID.
    pub fn peers_info(&self) -> Vec<PeerInfo> {
        self.peers().iter().map(Peer::info).collect()
    }

    /// Subscribes to the peers' events: `add` when a peer starts running, `drop` (with the
    /// error text) when it has ended and left [`Server::peers`] (a subscriber never finds a
    /// dropped peer listed), and with [`ServerConfig::enable_msg_events`] a `msgsend` or
    /// `msgrecv` per protocol message, between the two.
    pub fn subscribe_events(&self) -> Receiver<PeerEvent> {
        self.inner.feed.subscribe()
    }

    /// The feed the events are published on.
    pub fn event_feed(&self) -> &EventFeed {
        &self.inner.feed
    }

    /// The address the server listens on (with the port actually bound), once started.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.inner.state.lock().local_addr
    }

    /// The local node's ID.
    pub fn self_id(&self) -> NodeId {
        self.inner.self_id
    }

    /// The local node's public key.
    pub fn public_key(&self) -> PublicKey {
        self.inner.config.private_key.public_key()
    }

    /// The local node's address as others can dial it: the listening address (an
    /// unspecified IP such as `0.0.0.0` is given as loopback) or `127.0.0.1:0` when the
    /// server does not listen.
    pub fn self_enode(&self) -> Enode {
        let addr = self
            .local_addr()
            .unwrap_or_else(|| SocketAddr::new(Ipv4Addr::LOCALHOST.into(), 0));
        let ip = match addr.ip() {
            IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
            ip => ip,
        };
        Enode::new(self.public_key(), SocketAddr::new(ip, addr.port()))
    }

    /// The local node's public information.
    pub fn node_info(&self) -> NodeInfo {
        let enode = self.self_enode();
        let protocols = self
            .inner
            .config
            .protocols
            .iter()
            .map(|p| {
                let info = match &p.node_info {
                    Some(f) => f(),
                    None => "unknown".to_string(),
                };
                (p.name.clone(), info)
            })
            .collect();
        NodeInfo {
            id: self.inner.self_id.to_string(),
            name: self.inner.config.name.clone(),
            enode: enode.to_string(),
            ip: enode.ip,
            listen_addr: self.local_addr(),
            protocols,
        }
    }

    /// The configuration the server was built with.
    pub fn config(&self) -> &ServerConfig {
        &self.inner.config
    }

    /// The thread budget this server's connections are held to: [`ServerConfig::max_threads`]
    /// when set, else the budget computed from the machine for all the servers of the
    /// process (computed when the first of them starts, or by this call if none has; see
    /// [`defaults`](crate::defaults)).
    ///
    /// # Examples
    ///
    /// ```
    /// use devp2p_peer::rlpx::SecretKey;
    /// use devp2p_peer::{Server, ServerConfig};
    ///
    /// let mut config = ServerConfig::new(SecretKey::random());
    /// config.max_threads = Some(400);
    /// assert_eq!(Server::new(config).thread_budget(), 400);
    ///
    /// // Computed from vm.max_map_count, the thread and process-ID limits and what is in use.
    /// let computed = Server::new(ServerConfig::new(SecretKey::random())).thread_budget();
    /// assert!(computed > 0);
    /// ```
    pub fn thread_budget(&self) -> usize {
        match self.inner.config.max_threads {
            Some(max) => max,
            None => PROCESS_THREADS.lock().budget(),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("id", &self.inner.self_id)
            .field("local_addr", &self.local_addr())
            .field("peers", &self.peer_count())
            .finish_non_exhaustive()
    }
}

fn server_stopped() -> Error {
    Error::other("server stopped")
}

fn enode_id(node: &Enode) -> NodeId {
    node.id()
}

fn spawn_named<F>(name: &str, stack_size: Option<usize>, f: F) -> Result<JoinHandle<()>, Error>
where
    F: FnOnce() + Send + 'static,
{
    let mut builder = thread::Builder::new().name(name.to_string());
    if let Some(size) = stack_size {
        builder = builder.stack_size(size);
    }
    builder.spawn(f).map_err(Error::from)
}

/// Connects to the server's own listener so that an accept loop blocked in `accept` returns
/// and sees the stop flag.
fn wake_listener(addr: SocketAddr) {
    let ip = match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    let target = SocketAddr::new(ip, addr.port());
    if let Err(e) = TcpStream::connect_timeout(&target, Duration::from_secs(1)) {
        warn!("could not wake the accept loop at {target}: {e}");
    }
}

/// True for addresses exempt from the inbound throttle: loopback, private and link-local.
fn is_lan(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback() || v4.is_private() || v4.is_link_local(),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_lan(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            v6.is_loopback() || (first & 0xfe00) == 0xfc00 || (first & 0xffc0) == 0xfe80
        }
    }
}

/// The inbound throttle: refuses a second attempt from a non-LAN `ip` within `window`, and
/// otherwise records this attempt. Forgets expired entries.
fn throttle_inbound(
    history: &mut HashMap<IpAddr, Instant>,
    ip: IpAddr,
    now: Instant,
    window: Duration,
) -> Result<(), Error> {
    if is_lan(ip) {
        return Ok(());
    }
    history.retain(|_, until| *until > now);
    if history.contains_key(&ip) {
        return Err(Error::other("too many attempts"));
    }
    history.insert(ip, now + window);
    Ok(())
}

/// True for accept errors after which the listener is still usable.
fn is_temporary_accept_error(e: &io::Error) -> bool {
    const ENFILE: i32 = 23;
    const EMFILE: i32 = 24;
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
            | io::ErrorKind::WouldBlock
            | io::ErrorKind::TimedOut
    ) || matches!(e.raw_os_error(), Some(ENFILE) | Some(EMFILE))
}

/// A pending-handshake slot, given back when dropped.
struct Slot(Sender<()>);

impl Drop for Slot {
    fn drop(&mut self) {
        let _ = self.0.try_send(());
    }
}

/// Reports the end of connection thread number `.1` to the run loop when dropped, as the
/// thread's last act.
struct Ended(Sender<DialerMsg>, u64);

impl Drop for Ended {
    fn drop(&mut self) {
        let _ = self.0.send(DialerMsg::Ended(self.1));
    }
}

/// Removes a connection's socket from the handshakes in progress when dropped.
struct HandshakeReg<'a> {
    inner: &'a Inner,
    id: u64,
}

impl Drop for HandshakeReg<'_> {
    fn drop(&mut self) {
        self.inner.state.lock().handshakes.remove(&self.id);
    }
}

impl Inner {
    /// Starts a connection thread. Its last act is to tell the run loop, which joins it at
    /// once, so an ended connection holds no stack or mapping.
    fn spawn_conn<F>(&self, name: &str, f: F) -> Result<(), Error>
    where
        F: FnOnce() + Send + 'static,
    {
        let mut st = self.state.lock();
        if st.phase != Phase::Running {
            return Err(server_stopped());
        }
        let id = st.next_thread;
        st.next_thread += 1;
        let ended = Ended(self.dial_tx.clone(), id);
        // Inserted under the lock the run loop takes to join it, so the handle is there
        // before the end is handled.
        let h = spawn_named(name, self.config.stack_size, move || {
            let _ended = ended;
            f();
        })?;
        st.conn_threads.insert(id, h);
        Ok(())
    }

    fn peer_config(&self) -> PeerConfig {
        PeerConfig {
            ping_interval: self.config.ping_interval,
            stack_size: self.config.stack_size,
            // The server publishes `add` and `drop` itself, around the peer's membership.
            events: if self.config.enable_msg_events {
                Some(self.feed.messages_only())
            } else {
                None
            },
        }
    }

    /// Whether a peer of `threads` threads fits the thread budget; refused with too many
    /// peers if not, trusted or not. Logged once until the threads in use recover.
    fn check_thread_budget(&self, st: &State, threads: usize) -> Result<(), DiscReason> {
        let (used, limit) = match self.config.max_threads {
            Some(max) => (
                st.peer_threads,
                max.saturating_sub(self.config.setup_reserve()),
            ),
            None => {
                let mut process = PROCESS_THREADS.lock();
                (process.used, process.budget())
            }
        };
        if used + threads <= limit {
            return Ok(());
        }
        if !self.budget_warned.swap(true, Ordering::SeqCst) {
            warn!(
                "thread budget reached ({used} of {limit} threads in use, a peer needs \
                 {threads}): refusing peers with \"too many peers\" until threads are freed"
            );
        }
        Err(DiscReason::TOO_MANY_PEERS)
    }

    /// Counts a peer's threads in (`add`) or out.
    fn count_peer_threads(&self, st: &mut State, threads: usize, add: bool) {
        let mut process = PROCESS_THREADS.lock();
        if add {
            st.peer_threads += threads;
            process.used += threads;
            return;
        }
        st.peer_threads -= threads;
        process.used -= threads;
        let (used, limit) = match self.config.max_threads {
            Some(max) => (
                st.peer_threads,
                max.saturating_sub(self.config.setup_reserve()),
            ),
            None => (process.used, process.budget()),
        };
        if used <= limit / 10 * 9 && self.budget_warned.swap(false, Ordering::SeqCst) {
            info!("thread budget recovered: {used} of {limit} threads in use");
        }
    }

    /// The checks made right after the encryption handshake and again before the peer is
    /// added.
    ///
    /// `threads` is what the peer would take from the thread budget.
    fn post_handshake_checks(
        &self,
        st: &State,
        id: NodeId,
        flags: ConnFlags,
        threads: usize,
    ) -> Result<(), DiscReason> {
        let trusted = flags.contains(ConnFlags::TRUSTED);
        if !trusted && st.peers.len() >= self.config.max_peers {
            return Err(DiscReason::TOO_MANY_PEERS);
        }
        if !trusted
            && flags.contains(ConnFlags::INBOUND)
            && st.inbound >= self.config.max_inbound_conns()
        {
            return Err(DiscReason::TOO_MANY_PEERS);
        }
        self.check_thread_budget(st, threads)?;
        if st.peers.contains_key(&id) {
            return Err(DiscReason::ALREADY_CONNECTED);
        }
        if id == self.self_id {
            return Err(DiscReason::SELF);
        }
        Ok(())
    }

    /// Sets up one connection; on success the peer is in the map (not yet running) and the
    /// sender's drop will tell waiters it has gone.
    fn setup(
        &self,
        stream: TcpStream,
        mut flags: ConnFlags,
        dial_dest: Option<&Enode>,
    ) -> Result<(Peer, Sender<()>), Error> {
        let reg = {
            let mut st = self.state.lock();
            if st.phase != Phase::Running {
                drop(st);
                let _ = stream.shutdown(Shutdown::Both);
                return Err(server_stopped());
            }
            let clone = stream.try_clone()?;
            let id = st.next_conn;
            st.next_conn += 1;
            st.handshakes.insert(id, clone);
            HandshakeReg { inner: self, id }
        };

        let timeouts = Timeouts {
            handshake: self.config.handshake_timeout,
            ..Timeouts::default()
        };
        let dest_key = dial_dest.map(|n| n.pubkey);
        let transport = RlpxTransport::handshake_with(
            stream,
            &self.config.private_key,
            dest_key.as_ref(),
            timeouts,
        )
        .map_err(|e| Error::other(format!("rlpx enc error: {e}")))?;
        let id = transport.remote_id();
        trace!("conn {}: encryption handshake done", id.terminal_string());

        // Checkpoint 1. The running protocols are not known before the Hello: the least a
        // peer that is not useless can take.
        let least = peer_threads(usize::from(!self.config.protocols.is_empty()));
        let checked = {
            let st = self.state.lock();
            if st.trusted.contains(&id) {
                flags = flags | ConnFlags::TRUSTED;
            }
            self.post_handshake_checks(&st, id, flags, least)
        };
        if let Err(reason) = checked {
            return Err(reject(&transport, reason));
        }

        let hello = match transport.protocol_handshake(&self.our_hello) {
            Ok(h) => h,
            Err(e) => {
                let err = match e.disc_reason() {
                    Some(reason) => Error::Disconnected(reason),
                    None => Error::other(format!("rlpx proto error: {e}")),
                };
                // Close without a Disconnect of our own.
                transport.shutdown(&Error::other("rlpx proto error"));
                return Err(err);
            }
        };
        if hello.id.as_slice() != transport.remote_pubkey().to_bytes().as_slice() {
            return Err(reject(&transport, DiscReason::UNEXPECTED_IDENTITY));
        }
        if !self.config.protocols.is_empty()
            && count_matching_protocols(&self.config.protocols, &hello.caps) == 0
        {
            return Err(reject(&transport, DiscReason::USELESS_PEER));
        }

        let threads = peer_threads(match_protocols(&self.config.protocols, &hello.caps).len());

        // Checkpoint 2: check again and add the peer, under one lock.
        let mut st = self.state.lock();
        if st.phase != Phase::Running {
            drop(st);
            transport.shutdown(&Error::Disconnected(DiscReason::QUITTING));
            return Err(server_stopped());
        }
        if st.trusted.contains(&id) {
            flags = flags | ConnFlags::TRUSTED;
        }
        if let Err(reason) = self.post_handshake_checks(&st, id, flags, threads) {
            drop(st);
            return Err(reject(&transport, reason));
        }
        let enode = match dial_dest {
            Some(n) => Some(n.to_string()),
            None => transport.remote_enode().map(|e| e.to_string()),
        };
        let conn = ConnInfo {
            id,
            name: hello.name,
            caps: hello.caps,
            flags,
            enode,
        };
        let peer = Peer::new(
            conn,
            Arc::new(transport),
            &self.config.protocols,
            self.peer_config(),
        );
        let (done_tx, done_rx) = bounded(0);
        st.peers.insert(
            id,
            PeerEntry {
                peer: peer.clone(),
                threads,
                done: done_rx,
            },
        );
        self.count_peer_threads(&mut st, threads, true);
        if flags.contains(ConnFlags::INBOUND) {
            st.inbound += 1;
        }
        st.handshakes.remove(&reg.id);
        drop(st);
        drop(reg);
        debug!("adding peer {} ({}) flags {}", peer, peer.name(), flags);
        Ok((peer, done_tx))
    }

    /// Runs an added peer on the calling thread, then removes it. The `drop` event is
    /// published once the peer is gone from [`Server::peers`], as geth does, so that a
    /// subscriber never finds a dropped peer listed.
    fn run_peer(&self, peer: Peer, done: Sender<()>) {
        self.feed.send(PeerEvent {
            remote_address: peer.remote_addr(),
            local_address: peer.local_addr(),
            ..PeerEvent::new(PeerEventType::Add, peer.id())
        });
        let (remote_requested, err) = peer.run();
        {
            let mut st = self.state.lock();
            if let Some(entry) = st.peers.remove(&peer.id()) {
                self.count_peer_threads(&mut st, entry.threads, false);
            }
            if peer.inbound() {
                st.inbound -= 1;
            }
        }
        debug!(
            "removed peer {} ({}): {} (remote requested: {})",
            peer,
            peer.name(),
            err,
            remote_requested
        );
        self.feed.send(PeerEvent {
            remote_address: peer.remote_addr(),
            local_address: peer.local_addr(),
            ..PeerEvent::dropped(peer.id(), err, remote_requested)
        });
        drop(done);
        let _ = self.dial_tx.send(DialerMsg::Wake);
    }

    fn accept_loop(self: Arc<Inner>, listener: TcpListener) {
        let slots = self.config.pending_slots();
        let (slot_tx, slot_rx) = bounded(slots);
        for _ in 0..slots {
            let _ = slot_tx.send(());
        }
        let mut last_log: Option<Instant> = None;
        loop {
            select! {
                recv(slot_rx) -> _ => {}
                recv(self.quit_rx) -> _ => return,
            }
            let slot = Slot(slot_tx.clone());
            if self.stopping.load(Ordering::SeqCst) {
                return;
            }
            let (stream, addr) = match listener.accept() {
                Ok(c) => c,
                Err(e) if is_temporary_accept_error(&e) => {
                    if last_log.map_or(true, |t| t.elapsed() >= Duration::from_secs(1)) {
                        debug!("temporary accept error: {e}");
                        last_log = Some(Instant::now());
                    }
                    drop(slot);
                    if self.quit_rx.recv_timeout(ACCEPT_BACKOFF).is_ok() {
                        return;
                    }
                    if self.stopping.load(Ordering::SeqCst) {
                        return;
                    }
                    continue;
                }
                Err(e) => {
                    warn!("accept loop ends: {e}");
                    return;
                }
            };
            if self.stopping.load(Ordering::SeqCst) {
                return;
            }
            let throttled = {
                let mut st = self.state.lock();
                throttle_inbound(
                    &mut st.inbound_history,
                    addr.ip(),
                    Instant::now(),
                    self.config.inbound_throttle,
                )
            };
            if let Err(e) = throttled {
                debug!("rejected inbound connection from {addr}: {e}");
                continue;
            }
            trace!("accepted connection from {addr}");
            let me = self.clone();
            let spawned = self.spawn_conn("server-conn", move || {
                match me.setup(stream, ConnFlags::INBOUND, None) {
                    Ok((peer, done)) => {
                        drop(slot);
                        me.run_peer(peer, done);
                    }
                    Err(e) => debug!("inbound connection from {addr} failed: {e}"),
                }
            });
            if let Err(e) = spawned {
                if self.stopping.load(Ordering::SeqCst) {
                    return;
                }
                // Out of threads, say: the connection was dropped; pause like on an accept
                // error and go on.
                warn!("cannot start a connection thread: {e}");
                if self.quit_rx.recv_timeout(ACCEPT_BACKOFF).is_ok() {
                    return;
                }
            }
        }
    }

    /// The server's own loop: dials the static nodes that are due (unless `no_dial`) and
    /// joins connection threads as they end.
    fn run_loop(self: Arc<Inner>) {
        // Per static node: failures in a row, and when it may be dialed again.
        let mut backoff: HashMap<NodeId, (u32, Instant)> = HashMap::new();
        loop {
            let now = Instant::now();
            let mut to_dial = Vec::new();
            let mut next_due: Option<Instant> = None;
            {
                let mut st = self.state.lock();
                if st.phase != Phase::Running {
                    return;
                }
                let State {
                    statics,
                    peers,
                    dialing,
                    inbound,
                    ..
                } = &mut *st;
                backoff.retain(|id, _| statics.contains_key(id));
                let dialed = peers.len() - *inbound;
                // At most one dial per pending slot in its setup (as geth's active dials):
                // those are the threads the budget keeps for dials.
                let mut room = self
                    .config
                    .max_dialed_conns()
                    .saturating_sub(dialed + dialing.len())
                    .min(self.config.pending_slots().saturating_sub(dialing.len()));
                let mut nodes: Vec<(&NodeId, &Enode)> = statics.iter().collect();
                nodes.sort_by_key(|(id, _)| **id);
                for (id, node) in nodes {
                    if peers.contains_key(id) || dialing.contains(id) || *id == self.self_id {
                        continue;
                    }
                    if let Some(&(_, at)) = backoff.get(id) {
                        if at > now {
                            next_due = Some(next_due.map_or(at, |d| d.min(at)));
                            continue;
                        }
                    }
                    if room == 0 {
                        break;
                    }
                    room -= 1;
                    dialing.insert(*id);
                    to_dial.push(*node);
                }
            }
            for node in to_dial {
                let me = self.clone();
                let id = enode_id(&node);
                if let Err(e) = self.spawn_conn("server-dial", move || me.dial(node)) {
                    self.state.lock().dialing.remove(&id);
                    if self.stopping.load(Ordering::SeqCst) {
                        return;
                    }
                    // Out of threads, say: a failed attempt, redialed after its back-off.
                    warn!("cannot start a dial thread: {e}");
                    let _ = self.dial_tx.send(DialerMsg::Done { id, ran: false });
                }
            }
            let wait = next_due.map_or(Duration::from_secs(3600), |t| {
                t.saturating_duration_since(Instant::now())
            });
            select! {
                recv(self.dial_rx) -> msg => match msg {
                    Ok(DialerMsg::Wake) => {}
                    Ok(DialerMsg::Ended(n)) => {
                        let ended = self.state.lock().conn_threads.remove(&n);
                        if let Some(h) = ended {
                            let _ = h.join();
                        }
                    }
                    Ok(DialerMsg::Done { id, ran }) => {
                        let now = Instant::now();
                        let failures = if ran { 0 } else { backoff.get(&id).map_or(0, |b| b.0) + 1 };
                        let factor = 1u32 << failures.saturating_sub(1).min(16);
                        let delay = self
                            .config
                            .redial_backoff
                            .saturating_mul(factor)
                            .min(self.config.max_redial_backoff);
                        backoff.insert(id, (failures, now + delay));
                    }
                    Err(_) => return,
                },
                recv(self.quit_rx) -> _ => return,
                default(wait) => {}
            }
        }
    }

    /// One dial of a static node, on its own thread: connect, set up, run the peer.
    fn dial(&self, node: Enode) {
        let id = enode_id(&node);
        let setup = self
            .connect(node.tcp_addr())
            .and_then(|stream| self.setup(stream, ConnFlags::STATIC_DIALED, Some(&node)));
        self.state.lock().dialing.remove(&id);
        let ran = match setup {
            Ok((peer, done)) => {
                self.run_peer(peer, done);
                true
            }
            Err(e) => {
                debug!("dial {node} failed: {e}");
                false
            }
        };
        let _ = self.dial_tx.send(DialerMsg::Done { id, ran });
    }

    /// TCP connect within the dial timeout, in slices so that a stop is noticed.
    fn connect(&self, addr: SocketAddr) -> Result<TcpStream, Error> {
        let deadline = Instant::now() + self.config.dial_timeout;
        loop {
            if self.stopping.load(Ordering::SeqCst) {
                return Err(server_stopped());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(io::Error::new(io::ErrorKind::TimedOut, "dial timed out").into());
            }
            match TcpStream::connect_timeout(&addr, left.min(CONNECT_SLICE)) {
                Ok(s) => return Ok(s),
                Err(e) if e.kind() == io::ErrorKind::TimedOut && left > CONNECT_SLICE => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
}

/// Closes `transport` with `reason` sent to the remote, and gives the reason as the error.
fn reject(transport: &RlpxTransport, reason: DiscReason) -> Error {
    let err = Error::Disconnected(reason);
    transport.shutdown(&err);
    err
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lan_addresses() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "192.168.0.1",
            "172.16.5.5",
            "169.254.1.1",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:10.0.0.1",
        ] {
            assert!(is_lan(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["8.8.8.8", "172.32.0.1", "2001:db8::1", "::ffff:1.2.3.4"] {
            assert!(!is_lan(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn inbound_throttle() {
        let mut history = HashMap::new();
        let now = Instant::now();
        let window = Duration::from_secs(30);
        let public: IpAddr = "1.2.3.4".parse().unwrap();
        let lan: IpAddr = "127.0.0.1".parse().unwrap();
        assert!(throttle_inbound(&mut history, public, now, window).is_ok());
        let err = throttle_inbound(&mut history, public, now + Duration::from_secs(1), window);
        assert_eq!(err.unwrap_err().to_string(), "too many attempts");
        // Another address is not affected; LAN addresses are never throttled.
        assert!(throttle_inbound(&mut history, "1.2.3.5".parse().unwrap(), now, window).is_ok());
        for _ in 0..3 {
            assert!(throttle_inbound(&mut history, lan, now, window).is_ok());
        }
        // After the window, the address may try again.
        assert!(throttle_inbound(&mut history, public, now + window, window).is_ok());
    }

    #[test]
    fn dial_limits() {
        let mut c = ServerConfig::new(SecretKey::random());
        c.max_peers = 0;
        assert_eq!((c.max_dialed_conns(), c.max_inbound_conns()), (0, 0));
        c.max_peers = 2;
        assert_eq!((c.max_dialed_conns(), c.max_inbound_conns()), (1, 1));
        c.max_peers = 50;
        c.dial_ratio = 0;
        assert_eq!((c.max_dialed_conns(), c.max_inbound_conns()), (16, 34));
        c.no_dial = true;
        assert_eq!((c.max_dialed_conns(), c.max_inbound_conns()), (0, 50));
    }
}
