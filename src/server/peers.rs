//! The peer set: the shared state, and running an added peer until it ends.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use crossbeam_channel::{Receiver, Sender};
use log::debug;
use parking_lot::Mutex;

use super::config::ServerConfig;
use super::{server_stopped, spawn_named};
use crate::rlpx::Enode;
use crate::{Error, EventFeed, Hello, NodeId, Peer, PeerEvent, PeerEventType};

/// Where the server is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Phase {
    New,
    Running,
    Stopped,
}

/// A running peer and the signal that its thread has removed it from the map.
pub(super) struct PeerEntry {
    pub(super) peer: Peer,
    /// Threads the peer counts against the budget.
    pub(super) threads: usize,
    /// Disconnected (its sender dropped) once the peer is gone from the map.
    pub(super) done: Receiver<()>,
}

pub(super) struct State {
    pub(super) phase: Phase,
    pub(super) local_addr: Option<SocketAddr>,
    pub(super) peers: HashMap<NodeId, PeerEntry>,
    pub(super) inbound: usize,
    pub(super) trusted: HashSet<NodeId>,
    pub(super) statics: HashMap<NodeId, Enode>,
    /// Static nodes with a dial between TCP connect and the end of the setup.
    pub(super) dialing: HashSet<NodeId>,
    /// Second handles to the sockets of connections still in their setup, so `stop` can
    /// shut them down.
    pub(super) handshakes: HashMap<u64, TcpStream>,
    pub(super) next_conn: u64,
    /// The accept and dial loops.
    pub(super) service_threads: Vec<JoinHandle<()>>,
    /// Connection threads (inbound and dialed), by thread number.
    pub(super) conn_threads: HashMap<u64, JoinHandle<()>>,
    pub(super) next_thread: u64,
    /// Threads of the running peers ([`PeerEntry::threads`] summed).
    pub(super) peer_threads: usize,
    /// Threads this server counts in [`PROCESS_THREADS`] for its setup reserve.
    pub(super) reserve_counted: usize,
    /// Inbound IPs and when each may try again.
    pub(super) inbound_history: HashMap<IpAddr, Instant>,
    /// The discovery service, while it runs.
    #[cfg(feature = "discovery")]
    pub(super) discovery: Option<crate::discover::Discovery>,
}

impl State {
    /// Whether the server dials anything now: static nodes (given or added since) or
    /// discovery, and not `no_dial`. Dial slots are kept only then.
    pub(super) fn can_dial(&self, config: &ServerConfig) -> bool {
        #[cfg(feature = "discovery")]
        let discovering = self.discovery.is_some();
        #[cfg(not(feature = "discovery"))]
        let discovering = false;
        !config.no_dial && (!self.statics.is_empty() || discovering)
    }
}

pub(super) enum DialerMsg {
    /// Something changed (a static node added, a peer gone): look at the static nodes again.
    Wake,
    /// A dial of a static node ended; `ran` tells whether it became a peer.
    Done { id: NodeId, ran: bool },
    /// Connection thread number `.0` has ended: join it.
    Ended(u64),
}

pub(super) struct Inner {
    pub(super) config: ServerConfig,
    pub(super) self_id: NodeId,
    pub(super) our_hello: Hello,
    pub(super) feed: EventFeed,
    pub(super) state: Mutex<State>,
    /// Set once `stop` begins; read by loops that cannot wait on a channel.
    pub(super) stopping: AtomicBool,
    /// Set when a refusal for the thread budget has been logged; cleared once the threads
    /// in use are back below nine tenths of the budget.
    pub(super) budget_warned: AtomicBool,
    pub(super) quit_tx: Mutex<Option<Sender<()>>>,
    pub(super) quit_rx: Receiver<()>,
    pub(super) dial_tx: Sender<DialerMsg>,
    pub(super) dial_rx: Receiver<DialerMsg>,
}

/// Reports the end of connection thread number `.1` to the run loop when dropped, as the
/// thread's last act.
pub(super) struct Ended(Sender<DialerMsg>, u64);

impl Drop for Ended {
    fn drop(&mut self) {
        let _ = self.0.send(DialerMsg::Ended(self.1));
    }
}

impl Inner {
    /// The stack size of the connection threads (handshakes): [`ServerConfig::stack_size`]
    /// when set, else [`CONN_THREAD_STACK_SIZE`](super::CONN_THREAD_STACK_SIZE).
    pub(super) fn conn_stack_size(&self) -> Option<usize> {
        Some(
            self.config
                .stack_size
                .unwrap_or(super::CONN_THREAD_STACK_SIZE),
        )
    }

    /// Starts a connection thread (with `stack` bytes of stack, or the platform's default).
    /// Its last act is to tell the run loop, which joins it at once, so an ended connection
    /// holds no stack or mapping.
    pub(super) fn spawn_conn<F>(&self, name: &str, stack: Option<usize>, f: F) -> Result<(), Error>
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
        let h = spawn_named(name, stack, move || {
            let _ended = ended;
            f();
        })?;
        st.conn_threads.insert(id, h);
        Ok(())
    }

    /// Hands an added peer to a fresh `peer-run` thread that runs it, so that the connection
    /// thread, whose stack the handshake's elliptic-curve and hashing work has touched
    /// (about 72 KiB that would stay resident for the connection's life), ends now.
    ///
    /// The new thread has the peer threads' stack size ([`ServerConfig::stack_size`], by
    /// default the platform's, as the protocol threads), not the connection threads' one
    /// ([`CONN_THREAD_STACK_SIZE`](super::CONN_THREAD_STACK_SIZE)): glibc keeps the stacks of
    /// ended threads for reuse by a new thread of about their size, with the 16 KiB below
    /// where the ended thread stopped still resident. A supervisor or protocol thread
    /// given an ended connection thread's stack started with that handshake residue (24 KiB
    /// instead of the 8 to 16 its own work touches).
    /// `dialed`: the node ID of a dial, reported done to the run loop once the peer has
    /// ended. If no thread can be started the peer runs on the calling thread instead.
    ///
    /// The budget is unchanged: the peer's supervisor thread is this new thread in place of
    /// the connection thread, and it is joined by the run loop like any connection thread.
    pub(super) fn start_peer(
        self: &Arc<Self>,
        peer: Peer,
        done: Sender<()>,
        dialed: Option<NodeId>,
    ) {
        let handoff = Arc::new(Mutex::new(Some((peer, done))));
        let (me, theirs) = (self.clone(), handoff.clone());
        let stack = self.config.stack_size;
        let spawned = self.spawn_conn("peer-run", stack, move || {
            if let Some((peer, done)) = theirs.lock().take() {
                me.run_dialed_peer(peer, done, dialed);
            }
        });
        if let Err(e) = spawned {
            if let Some((peer, done)) = handoff.lock().take() {
                debug!("running peer {peer} on its connection thread: {e}");
                self.run_dialed_peer(peer, done, dialed);
            }
        }
    }

    fn run_dialed_peer(&self, peer: Peer, done: Sender<()>, dialed: Option<NodeId>) {
        self.run_peer(peer, done);
        if let Some(id) = dialed {
            let _ = self.dial_tx.send(DialerMsg::Done { id, ran: true });
        }
    }

    /// Runs an added peer on the calling thread, then removes it. The `drop` event is
    /// published once the peer is gone from [`Server::peers`], as geth does, so that a
    /// subscriber never finds a dropped peer listed.
    ///
    /// The `add` event and the removal are in frames of their own (a `PeerEvent` is
    /// large): this thread keeps this frame for the peer's life, under the peer's.
    pub(super) fn run_peer(&self, peer: Peer, done: Sender<()>) {
        self.publish_add(&peer);
        let (remote_requested, err) = peer.run();
        self.remove_peer(&peer, done, remote_requested, err);
    }

    #[inline(never)]
    fn publish_add(&self, peer: &Peer) {
        self.feed.send(PeerEvent {
            remote_address: peer.remote_addr(),
            local_address: peer.local_addr(),
            ..PeerEvent::new(PeerEventType::Add, peer.id())
        });
    }

    #[inline(never)]
    fn remove_peer(&self, peer: &Peer, done: Sender<()>, remote_requested: bool, err: Error) {
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
}
