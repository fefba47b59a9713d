//! Connection setup: the encryption handshake, the checks, the Hello, adding the peer.

use std::net::{Shutdown, TcpStream};
use std::sync::Arc;

use crossbeam_channel::{bounded, Sender};
use log::{debug, trace};

use super::budget::peer_threads;
use super::peers::{Inner, PeerEntry, Phase, State};
use super::server_stopped;
use crate::rlpx::{Enode, RlpxTransport, Timeouts};
use crate::Transport;
use crate::{
    count_matching_protocols, match_protocols, ConnFlags, ConnInfo, DiscReason, Error, NodeId,
    Peer, PeerConfig,
};

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
    pub(super) fn peer_config(&self) -> PeerConfig {
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

    /// The checks made right after the encryption handshake and again before the peer is
    /// added.
    ///
    /// `threads` is what the peer would take from the thread budget.
    pub(super) fn post_handshake_checks(
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
            && st.inbound >= self.config.max_inbound_when(st.can_dial(&self.config))
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
    pub(super) fn setup(
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
        let mut enode = match dial_dest {
            Some(n) => Some(n.to_string()),
            None => transport.remote_enode().map(|e| e.to_string()),
        };
        // Formatting grew the string by doubling; it is kept for the peer's life.
        if let Some(e) = &mut enode {
            e.shrink_to_fit();
        }
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
}

/// Closes `transport` with `reason` sent to the remote, and gives the reason as the error.
fn reject(transport: &RlpxTransport, reason: DiscReason) -> Error {
    let err = Error::Disconnected(reason);
    transport.shutdown(&err);
    err
}
