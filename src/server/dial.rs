//! Dialing: the run loop that keeps the static nodes connected, and one dial.

use std::collections::HashMap;
use std::io;
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::select;
use log::{debug, warn};

use super::enode_id;
use super::peers::{DialerMsg, Inner, Phase, State};
use super::server_stopped;
use crate::rlpx::Enode;
use crate::{ConnFlags, Error, NodeId};

/// A TCP connect is attempted in slices this long, so that a stopping server is not held up
/// by a dial for the whole dial timeout.
const CONNECT_SLICE: Duration = Duration::from_secs(1);

impl Inner {
    /// The server's own loop: dials the static nodes that are due (unless `no_dial`) and
    /// joins connection threads as they end.
    pub(super) fn run_loop(self: Arc<Inner>) {
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
    pub(super) fn dial(&self, node: Enode) {
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
