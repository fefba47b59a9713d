//! The settings, counters and request errors of the discovery service.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use super::table;
#[cfg(doc)]
use super::Discovery;
use super::Node;

/// Settings of a [`Discovery`] service.
///
/// # Examples
///
/// ```
/// use devp2p_peer::discover::Config;
///
/// let cfg = Config::default();
/// assert_eq!(cfg.listen.port(), 30303);
/// let local = Config::loopback();
/// assert_eq!(local.listen.to_string(), "127.0.0.1:0");
/// // A discovery-only node advertises no TCP port; one with an RLPx listener names it.
/// assert_eq!(local.tcp_port, 0);
/// let with_rlpx = Config { tcp_port: 30303, ..Config::loopback() };
/// assert_eq!(with_rlpx.tcp_port, 30303);
/// ```
#[derive(Debug, Clone)]
pub struct Config {
    /// The UDP address to bind (port 0: any free port).
    pub listen: SocketAddr,
    /// The TCP (RLPx) port to advertise; 0 (the default) advertises none: the record has
    /// no `tcp`/`tcp6` entry and the endpoint in our Pings says `tcp = 0`, as for a node
    /// without a TCP listener.
    pub tcp_port: u16,
    /// Nodes to start from.
    pub bootnodes: Vec<Node>,
    /// Mean interval of liveness pings (the slow list uses three times this).
    pub ping_interval: Duration,
    /// Interval of table refreshes (a lookup of the own ID and of random targets).
    pub refresh_interval: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 30303),
            tcp_port: 0,
            bootnodes: Vec::new(),
            ping_interval: table::PING_INTERVAL,
            refresh_interval: Duration::from_secs(30 * 60),
        }
    }
}

impl Config {
    /// Listen on 127.0.0.1, any free port (for tests and local networks).
    pub fn loopback() -> Self {
        Config {
            listen: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0),
            ..Config::default()
        }
    }
}

/// Packet counters of a [`Discovery`] service.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Packets received (good or bad).
    pub received: u64,
    /// Packets sent.
    pub sent: u64,
    /// Dropped: over 1280 bytes.
    pub too_big: u64,
    /// Dropped: shorter than a header.
    pub too_small: u64,
    /// Dropped: the hash does not match.
    pub bad_hash: u64,
    /// Dropped: no key can be recovered from the signature.
    pub bad_signature: u64,
    /// Dropped: unknown packet type.
    pub unknown_type: u64,
    /// Dropped: malformed packet data.
    pub bad_data: u64,
    /// Dropped: expiration in the past.
    pub expired: u64,
    /// Dropped: a reply nobody waits for.
    pub unsolicited: u64,
    /// Dropped: a FindNode or ENRRequest from a node without an endpoint proof.
    pub unknown_node: u64,
}

/// Why a discovery request failed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DiscError {
    /// No reply in time: `RPC timeout`.
    Timeout,
    /// The service was stopped: `socket closed`.
    Closed,
    /// Sending failed.
    Send(String),
    /// The node sent an invalid record or one of another node.
    BadRecord(String),
}

impl std::fmt::Display for DiscError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DiscError::Timeout => f.write_str("RPC timeout"),
            DiscError::Closed => f.write_str("socket closed"),
            DiscError::Send(e) => write!(f, "send: {e}"),
            DiscError::BadRecord(e) => write!(f, "invalid record: {e}"),
        }
    }
}

impl std::error::Error for DiscError {}
