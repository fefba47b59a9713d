//! Node discovery, protocol version 4 (go-ethereum's `p2p/discover`).
//!
//! Discovery finds peers without being told their addresses. Every node keeps a Kademlia
//! [table] of other nodes, sorted by the XOR distance of their IDs to its own, and
//! answers four questions over UDP: *are you there* (Ping/Pong, which also proves the
//! asker's address), *who is close to this ID* (FindNode/Neighbors, answered only to nodes
//! that proved their address) and *what is your record* (ENRRequest/ENRResponse, EIP-868).
//! A lookup asks the closest known nodes about a target, three at a time, then the closer
//! nodes they name, until no closer node turns up.
//!
//! The pieces, from the wire up:
//!
//! - [`v4wire`]: the signed packets, pure functions over bytes.
//! - [`table`]: the buckets, IP limits and liveness bookkeeping, pure data.
//! - [`Discovery`]: the service: a UDP socket with a reader thread and a table thread,
//!   lookups, and the [`RandomNodes`] iterator a dialer draws candidates from.
//!
//! # Finding nodes from a bootnode
//!
//! ```
//! use devp2p_peer::discover::{Config, Discovery};
//! use devp2p_peer::rlpx::SecretKey;
//!
//! // A bootnode and a node that knows only the bootnode.
//! let boot = Discovery::start(SecretKey::random(), Config::loopback()).unwrap();
//! let mut cfg = Config::loopback();
//! cfg.bootnodes = vec![boot.local_node()];
//! let node = Discovery::start(SecretKey::random(), cfg).unwrap();
//!
//! // A lookup of its own ID bonds with the bootnode and fills both tables.
//! let found = node.lookup(&node.local_node().enode.pubkey.to_bytes());
//! assert!(found.iter().any(|n| n.id == boot.local_node().id));
//! node.stop();
//! boot.stop();
//! ```

mod config;
mod lookup;
mod service;
pub mod table;
mod udp;
pub mod v4wire;

use std::fmt;
use std::net::{IpAddr, SocketAddr};

use crate::rlpx::Enode;

pub use config::{Config, DiscError, Stats};
pub use lookup::RandomNodes;
pub use service::Discovery;

/// A node as discovery knows it: its `enode://` address, its ID and its record's
/// sequence number (0 when no record was seen).
///
/// `Display` prints the `enode://` URL.
///
/// # Examples
///
/// ```
/// use devp2p_peer::discover::Node;
/// use devp2p_peer::rlpx::{Enode, SecretKey};
///
/// let key = SecretKey::random().public_key();
/// let n = Node::new(Enode::new(key, "10.1.2.3:30303".parse().unwrap()));
/// assert_eq!(n.id, key.node_id().0);
/// assert!(n.to_string().starts_with("enode://"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Node {
    /// keccak256 of the public key.
    pub id: [u8; 32],
    /// Key and endpoints.
    pub enode: Enode,
    /// The sequence number of its record, if known.
    pub seq: u64,
}

impl Node {
    /// A node with no known record.
    pub fn new(enode: Enode) -> Self {
        Node {
            id: enode.id().0,
            enode,
            seq: 0,
        }
    }

    /// The node's IP address.
    pub fn ip(&self) -> IpAddr {
        self.enode.ip
    }

    /// The discovery (UDP) address.
    pub fn udp_addr(&self) -> SocketAddr {
        SocketAddr::new(self.enode.ip, self.enode.udp_port)
    }
}

impl fmt::Display for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.enode, f)
    }
}
