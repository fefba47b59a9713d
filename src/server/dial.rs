//! Dialing: the run loop that keeps the static nodes connected and fills the remaining
//! dial slots with nodes from discovery (dynamic dials), and one dial.

use std::collections::HashMap;
use std::io;
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{never, select, Receiver};
use log::{debug, warn};

use super::enode_id;
use super::peers::{DialerMsg, Inner, Phase, State};
use super::server_stopped;
use super::trim::Trimmer;
use crate::rlpx::Enode;
use crate::{ConnFlags, Error, NodeId};

/// How long a dynamically dialed node is not dialed again (go-ethereum's dial history).
pub(super) const DIAL_HISTORY_EXPIRATION: Duration = Duration::from_secs(35);

/// A TCP connect is attempted in slices this long, so that a stopping server is not held up
/// by a dial for the whole dial timeout.
const CONNECT_SLICE: Duration = Duration::from_secs(1);

impl Inner {
    /// The server's own loop: dials the static nodes that are due (unless `no_dial`), then
    /// takes nodes from `candidates` (discovery's random nodes) for the dial slots left, and
    /// joins connection threads as they end.
    pub(super) fn run_loop(self: Arc<Inner>, mut candidates: Option<Receiver<Enode>>) {
        // Per static node: failures in a row, and when it may be dialed again.
        let mut backoff: HashMap<NodeId, (u32, Instant)> = HashMap::new();
        // Dynamically dialed nodes and when they may be dialed again.
        let mut history: HashMap<NodeId, Instant> = HashMap::new();
        let mut trimmer = Trimmer::default();
        loop {
            let now = Instant::now();
            history.retain(|_, until| *until > now);
            let mut to_dial = Vec::new();
            let dynamic_room;
            let mut next_due: Option<Instant> = None;
            let no_peers;
            {
                let mut st = self.state.lock();
                if st.phase != Phase::Running {
                    return;
                }
                no_peers = st.peers.is_empty();
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
                    to_dial.push((*node, ConnFlags::STATIC_DIALED));
                }
                dynamic_room = room > 0;
            }
            for (node, flags) in to_dial {
                self.start_dial(node, flags);
            }
            let mut wait = next_due.map_or(Duration::from_secs(3600), |t| {
                t.saturating_duration_since(Instant::now())
            });
            if let Some(trim_in) = trimmer.run(Instant::now(), no_peers) {
                wait = wait.min(trim_in);
            }
            let never = never();
            let offered = match &candidates {
                Some(rx) if dynamic_room => rx,
                _ => &never,
            };
            select! {
                recv(offered) -> node => match node {
                    Ok(node) => {
                        if self.dynamic_dial_ok(&node, &history) {
                            history.insert(enode_id(&node), Instant::now() + DIAL_HISTORY_EXPIRATION);
                            self.start_dial(node, ConnFlags::DYN_DIALED);
                        }
                    }
                    // Discovery has stopped: no more candidates.
                    Err(_) => candidates = None,
                },
                recv(self.dial_rx) -> msg => match msg {
                    Ok(DialerMsg::Wake) => {}
                    Ok(DialerMsg::Ended(n)) => {
                        let ended = self.state.lock().conn_threads.remove(&n);
                        if let Some(h) = ended {
                            let _ = h.join();
                            trimmer.ended();
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

    /// The checks before a dynamic dial, as for a static one: a TCP port, not this node,
    /// not a static node (those are dialed as such), not connected or being dialed, not
    /// dialed within [`DIAL_HISTORY_EXPIRATION`], and a dial slot free. Marks it as being
    /// dialed when it passes.
    fn dynamic_dial_ok(&self, node: &Enode, history: &HashMap<NodeId, Instant>) -> bool {
        let id = enode_id(node);
        if node.tcp_port == 0 || id == self.self_id || history.contains_key(&id) {
            return false;
        }
        let mut st = self.state.lock();
        if st.phase != Phase::Running
            || st.statics.contains_key(&id)
            || st.peers.contains_key(&id)
            || st.dialing.contains(&id)
        {
            return false;
        }
        let dialed = st.peers.len() - st.inbound;
        if dialed + st.dialing.len() >= self.config.max_dialed_conns()
            || st.dialing.len() >= self.config.pending_slots()
        {
            return false;
        }
        st.dialing.insert(id);
        true
    }

    /// Starts a dial thread for `node` (already marked as being dialed).
    fn start_dial(self: &Arc<Inner>, node: Enode, flags: ConnFlags) {
        let me = self.clone();
        let id = enode_id(&node);
        if let Err(e) = self.spawn_conn("server-dial", self.conn_stack_size(), move || {
            me.dial(node, flags)
        }) {
            self.state.lock().dialing.remove(&id);
            if self.stopping.load(Ordering::SeqCst) {
                return;
            }
            // Out of threads, say: a failed attempt, redialed after its back-off.
            warn!("cannot start a dial thread: {e}");
            let _ = self.dial_tx.send(DialerMsg::Done { id, ran: false });
        }
    }

    /// One dial, on its own thread: connect, set up, hand the peer to a thread of its own.
    /// The run loop hears that the dial is done when it failed or once the peer has ended.
    pub(super) fn dial(self: &Arc<Self>, node: Enode, flags: ConnFlags) {
        let id = enode_id(&node);
        let setup = self
            .connect(node.tcp_addr())
            .and_then(|stream| self.setup(stream, flags, Some(&node)));
        self.state.lock().dialing.remove(&id);
        match setup {
            Ok((peer, done)) => self.start_peer(peer, done, Some(id)),
            Err(e) => {
                debug!("dial {node} failed: {e}");
                let _ = self.dial_tx.send(DialerMsg::Done { id, ran: false });
            }
        }
    }

    /// TCP connect within the dial timeout, in slices so that a stop is noticed.
    pub(super) fn connect(&self, addr: SocketAddr) -> Result<TcpStream, Error> {
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
