//! The server's settings and defaults, and what it reports about the local node.

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use crate::rlpx::{Enode, SecretKey};
#[cfg(doc)]
use crate::{DiscReason, Server};
use crate::{Protocol, PING_INTERVAL};

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
/// // Nothing to dial (no static nodes, no discovery): every slot is inbound.
/// assert_eq!(config.max_inbound_conns(), 10);
/// config.static_nodes.push("enode://a979fb575495b8d6db44f750317d0f4622bf4c2aa3365d6af7c284339968eef29b69ad0dce72a4d8db5ebb4968de0e3bec910127f134779fbcb0cb6d3331163c@52.16.188.185:30303".parse().unwrap());
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
    /// Stack size of the connection threads and of the threads each peer starts. `None` (the
    /// default): 1.5 MiB for the connection threads and the platform's default for the peers'
    /// supervisor and protocol threads (2 MiB unless `RUST_MIN_STACK` says otherwise). The
    /// sizes differ so that a peer's thread never reuses the stack of an ended handshake
    /// (see [`defaults`](crate::defaults)); with one size set here, they may.
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
    /// Nodes discovery v4 starts from; giving any turns discovery on (see
    /// [`ServerConfig::discovery`]). Default: none.
    #[cfg(feature = "discovery")]
    pub bootnodes: Vec<Enode>,
    /// Whether to run discovery v4 and dial the nodes it finds: `None` (the default) runs
    /// it when [`ServerConfig::bootnodes`] is not empty; `Some(on)` forces it on or off.
    /// Nothing is dialed with [`ServerConfig::no_dial`], but discovery still answers.
    #[cfg(feature = "discovery")]
    pub discovery: Option<bool>,
    /// The UDP address discovery binds. `None` (the default): the IP of
    /// [`ServerConfig::listen_addr`] with the TCP port actually bound, as go-ethereum does
    /// (`0.0.0.0` and any free port when the server does not listen).
    #[cfg(feature = "discovery")]
    pub discovery_addr: Option<SocketAddr>,
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
            #[cfg(feature = "discovery")]
            bootnodes: Vec::new(),
            #[cfg(feature = "discovery")]
            discovery: None,
            #[cfg(feature = "discovery")]
            discovery_addr: None,
        }
    }

    /// Whether the server runs discovery: [`ServerConfig::discovery`] when set, else whether
    /// there are bootnodes. Always false without the `discovery` feature.
    pub fn discovery_enabled(&self) -> bool {
        #[cfg(feature = "discovery")]
        {
            self.discovery.unwrap_or(!self.bootnodes.is_empty())
        }
        #[cfg(not(feature = "discovery"))]
        {
            false
        }
    }

    /// Whether the server has anything to dial at start: not [`ServerConfig::no_dial`], and
    /// static nodes or discovery.
    pub fn can_dial(&self) -> bool {
        !self.no_dial && (!self.static_nodes.is_empty() || self.discovery_enabled())
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

    /// The most peers that dialed us: `max_peers - max_dialed_conns()` when the server can
    /// dial ([`ServerConfig::can_dial`]), else `max_peers`: a listen-only server keeps no
    /// slots for dials it will never make. (A running server also counts static nodes
    /// added with [`Server::add_peer`].)
    pub fn max_inbound_conns(&self) -> usize {
        self.max_inbound_when(self.can_dial())
    }

    /// The inbound limit when the server can (`true`) or cannot dial.
    pub(super) fn max_inbound_when(&self, can_dial: bool) -> usize {
        if can_dial {
            self.max_peers - self.max_dialed_conns()
        } else {
            self.max_peers
        }
    }

    pub(super) fn pending_slots(&self) -> usize {
        if self.max_pending_peers == 0 {
            DEFAULT_MAX_PENDING_PEERS
        } else {
            self.max_pending_peers
        }
    }

    /// Threads kept for connections in their setup: one per pending slot when listening,
    /// and as many for dials (at most that many run at once).
    pub(super) fn setup_reserve(&self) -> usize {
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
            .field("discovery", &self.discovery_enabled())
            .finish_non_exhaustive()
    }
}

/// What [`Server::node_info`] reports about the local node.
///
/// # Examples
///
/// ```
/// use devp2p_peer::rlpx::SecretKey;
/// use devp2p_peer::{Server, ServerConfig};
///
/// let mut config = ServerConfig::new(SecretKey::random());
/// config.name = "my-node".into();
/// config.listen_addr = Some("127.0.0.1:0".parse().unwrap());
/// let server = Server::new(config);
/// server.start()?;
/// let info = server.node_info();
/// assert_eq!(info.name, "my-node");
/// assert!(info.enode.starts_with("enode://"));
/// assert!(info.listen_addr.is_some());
/// server.stop();
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
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
    /// The node's record in its `enr:` text form, when discovery runs.
    pub enr: Option<String>,
    /// The UDP port discovery is bound to, when it runs.
    pub discovery_port: Option<u16>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dial_limits() {
        let mut c = ServerConfig::new(SecretKey::random());
        c.max_peers = 0;
        assert_eq!((c.max_dialed_conns(), c.max_inbound_conns()), (0, 0));
        c.max_peers = 2;
        assert_eq!((c.max_dialed_conns(), c.max_inbound_conns()), (1, 2));
        c.max_peers = 50;
        c.dial_ratio = 0;
        // Listen-only: no dial slots are kept.
        assert_eq!((c.max_dialed_conns(), c.max_inbound_conns()), (16, 50));
        c.static_nodes.push(Enode::new(
            SecretKey::random().public_key(),
            "127.0.0.1:1".parse().unwrap(),
        ));
        assert_eq!((c.max_dialed_conns(), c.max_inbound_conns()), (16, 34));
        c.no_dial = true;
        assert_eq!((c.max_dialed_conns(), c.max_inbound_conns()), (0, 50));
    }
}
