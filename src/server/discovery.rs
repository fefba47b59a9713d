//! Discovery in the server: discovery v4 started beside the listener, and the thread that
//! offers the run loop the nodes of discovery's random walk to dial.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use crossbeam_channel::{select, Sender};

use super::peers::Inner;
use crate::discover::{Config, Discovery, Node, RandomNodes};
use crate::rlpx::Enode;
use crate::Error;

impl Inner {
    /// Starts discovery on [`ServerConfig::discovery_addr`](super::ServerConfig), or on the
    /// TCP listening address `tcp` (same IP and port) when that is not set. The record
    /// advertises the bound TCP port.
    pub(super) fn start_discovery(&self, tcp: Option<SocketAddr>) -> Result<Discovery, Error> {
        let listen = self
            .config
            .discovery_addr
            .or(tcp)
            .unwrap_or(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0));
        let cfg = Config {
            listen,
            tcp_port: tcp.map_or(0, |a| a.port()),
            bootnodes: self
                .config
                .bootnodes
                .iter()
                .map(|e| Node::new(*e))
                .collect(),
            ..Config::default()
        };
        Ok(Discovery::start(self.config.private_key.clone(), cfg)?)
    }

    /// The `server-discover` thread: takes nodes from discovery's random walk and offers
    /// each to the run loop, which takes one only when a dial slot is free (so the walk
    /// pauses while the slots are full). Ends when discovery or the server stops.
    pub(super) fn offer_candidates(self: Arc<Inner>, nodes: RandomNodes, to: Sender<Enode>) {
        for node in nodes {
            if self.stopping.load(Ordering::SeqCst) {
                return;
            }
            select! {
                send(to, node.enode) -> sent => if sent.is_err() { return },
                recv(self.quit_rx) -> _ => return,
            }
        }
    }
}
