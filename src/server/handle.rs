//! [`Server`]: start, stop, and what the application asks of a running server.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crossbeam_channel::{bounded, unbounded, Receiver};
use log::{debug, warn};
use parking_lot::Mutex;

use super::accept::wake_listener;
use super::budget::{peer_threads, PROCESS_THREADS};
use super::config::{NodeInfo, ServerConfig};
use super::peers::{DialerMsg, Inner, Phase, State};
use super::{enode_id, server_stopped, spawn_named};
use crate::rlpx::{Enode, PublicKey};
use crate::{
    ConnFlags, DiscReason, Error, EventFeed, Hello, NodeId, Peer, PeerEvent, PeerInfo, Protocol,
};

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
                    #[cfg(feature = "discovery")]
                    discovery: None,
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

    /// Starts listening (when [`ServerConfig::listen_addr`] is set), discovery (when
    /// [`ServerConfig::discovery_enabled`]) and dialing (unless [`ServerConfig::no_dial`]).
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the listen address or the discovery address cannot be bound
    /// (port in use, say);
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
        #[cfg(feature = "discovery")]
        if inner.config.discovery_enabled() {
            st.discovery = Some(inner.start_discovery(st.local_addr)?);
        }
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
        #[cfg_attr(not(feature = "discovery"), allow(unused_mut))]
        let mut candidates = None;
        #[cfg(feature = "discovery")]
        if let (Some(d), false, true) = (&st.discovery, inner.config.no_dial, spawned.is_ok()) {
            let (tx, rx) = bounded(0);
            candidates = Some(rx);
            let (me, nodes) = (inner.clone(), d.random_nodes());
            match spawn_named("server-discover", None, move || {
                me.offer_candidates(nodes, tx)
            }) {
                Ok(h) => st.service_threads.push(h),
                Err(e) => spawned = Err(e),
            }
        }
        if spawned.is_ok() {
            let me = inner.clone();
            match spawn_named("server-run", None, move || me.run_loop(candidates)) {
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

    /// Stops the server: stops accepting, dialing and discovery, aborts the handshakes in progress,
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
        // Joins discovery's threads; its random walk then ends, and with it
        // `server-discover`.
        #[cfg(feature = "discovery")]
        if let Some(d) = inner.state.lock().discovery.take() {
            d.stop();
        }
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

    /// The connected peer with ID `id`, if any.
    ///
    /// # Examples
    ///
    /// ```
    /// use devp2p_peer::rlpx::SecretKey;
    /// use devp2p_peer::{Server, ServerConfig};
    ///
    /// let server = Server::new(ServerConfig::new(SecretKey::random()));
    /// assert!(server.peer(&server.self_id()).is_none());
    /// ```
    pub fn peer(&self, id: &NodeId) -> Option<Peer> {
        self.inner
            .state
            .lock()
            .peers
            .get(id)
            .map(|e| e.peer.clone())
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

    /// The UDP address discovery is bound to, while it runs.
    pub fn discovery_addr(&self) -> Option<SocketAddr> {
        #[cfg(feature = "discovery")]
        if let Some(d) = &self.inner.state.lock().discovery {
            return Some(d.local_addr());
        }
        None
    }

    /// The local node's record (EIP-778) in its `enr:` text form, while discovery runs.
    pub fn enr(&self) -> Option<String> {
        #[cfg(feature = "discovery")]
        if let Some(d) = &self.inner.state.lock().discovery {
            return d.local_record().to_text().ok();
        }
        None
    }

    /// The local node's address as others can dial it: the listening address (an
    /// unspecified IP such as `0.0.0.0` is given as loopback) or `127.0.0.1:0` when the
    /// server does not listen; the UDP port is discovery's while it runs, else the TCP
    /// port.
    pub fn self_enode(&self) -> Enode {
        let addr = self
            .local_addr()
            .unwrap_or_else(|| SocketAddr::new(Ipv4Addr::LOCALHOST.into(), 0));
        let ip = match addr.ip() {
            IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
            ip => ip,
        };
        let mut enode = Enode::new(self.public_key(), SocketAddr::new(ip, addr.port()));
        if let Some(udp) = self.discovery_addr() {
            enode.udp_port = udp.port();
        }
        enode
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
            enr: self.enr(),
            discovery_port: self.discovery_addr().map(|a| a.port()),
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
