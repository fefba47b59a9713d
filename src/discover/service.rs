//! The discovery service's handle: start, ask, stop.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use crossbeam_channel::{unbounded, Sender};
use parking_lot::Mutex;

use super::config::{Config, DiscError, Stats};
use super::lookup::{self, RandomNodes};
use super::table::Table;
use super::udp::{Counters, Shared, MAX_INTERVAL, READ_POLL};
use super::Node;
use crate::enr::{EnrError, Record};
use crate::rlpx::SecretKey;

/// A running discovery v4 service. See the [module docs](super).
///
/// [`stop`](Discovery::stop) (or drop) closes the socket's threads and joins them.
///
/// # Examples
///
/// ```
/// use devp2p_peer::discover::{Config, Discovery};
/// use devp2p_peer::rlpx::SecretKey;
///
/// let a = Discovery::start(SecretKey::random(), Config::loopback()).unwrap();
/// let b = Discovery::start(SecretKey::random(), Config::loopback()).unwrap();
/// // A ping is answered with the sequence number of the node's record.
/// assert_eq!(a.ping(&b.local_node()).unwrap(), b.local_record().seq());
/// // After that endpoint proof, b answers a's record request.
/// let record = a.request_enr(&b.local_node()).unwrap();
/// assert_eq!(record.udp().unwrap(), b.local_addr().port());
/// // Without a TCP port in the config, b advertises none.
/// assert!(record.tcp().is_err());
/// println!("{}", b.local_node()); // enode://...@127.0.0.1:0?discport=<udp port>
/// a.stop();
/// b.stop();
/// ```
pub struct Discovery {
    shared: Arc<Shared>,
    stop_tx: Option<Sender<()>>,
    threads: Vec<JoinHandle<()>>,
}

impl Discovery {
    /// Binds the socket and starts the reader and table threads. The bootnodes enter the
    /// table at once; the table thread then looks up the own ID to fill it.
    pub fn start(key: SecretKey, cfg: Config) -> io::Result<Discovery> {
        let socket = UdpSocket::bind(cfg.listen)?;
        socket.set_read_timeout(Some(READ_POLL))?;
        let local_addr = socket.local_addr()?;
        // Port 0: no TCP endpoint. The record then has no `tcp` entry and our Ping
        // endpoints say `tcp = 0`, so nobody dials RLPx at the UDP port.
        let tcp_port = cfg.tcp_port;
        let mut record = Record::new();
        record.set_seq(1);
        if !local_addr.ip().is_unspecified() {
            record.set_ip(local_addr.ip());
        }
        match local_addr.ip() {
            IpAddr::V6(v6) if v6.to_ipv4_mapped().is_none() && !v6.is_unspecified() => {
                record.set_udp6(local_addr.port());
                if tcp_port != 0 {
                    record.set_tcp6(tcp_port);
                }
            }
            _ => {
                record.set_udp(local_addr.port());
                if tcp_port != 0 {
                    record.set_tcp(tcp_port);
                }
            }
        }
        record
            .sign(&key)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let self_id = key.public_key().node_id().0;
        // Huge intervals would overflow `Instant` arithmetic: a year is "never" enough.
        let ping_interval = cfg
            .ping_interval
            .clamp(Duration::from_millis(1), MAX_INTERVAL);
        let refresh = cfg.refresh_interval.min(MAX_INTERVAL);
        let mut tab = Table::with_ping_interval(self_id, ping_interval);
        for b in &cfg.bootnodes {
            tab.add_found(b.clone());
        }
        let (stop_tx, stop_rx) = unbounded::<()>();
        let shared = Arc::new(Shared {
            key,
            self_id,
            socket,
            local_addr,
            tcp_port,
            record: Mutex::new(record),
            table: Mutex::new(tab),
            bonds: Mutex::new(HashMap::new()),
            pending: Mutex::new(Vec::new()),
            serial: AtomicU64::new(0),
            closed: AtomicBool::new(false),
            closing: stop_rx.clone(),
            bootnodes: cfg.bootnodes.clone(),
            counters: Counters::default(),
        });
        let mut threads = Vec::new();
        let s = shared.clone();
        threads.push(
            thread::Builder::new()
                .name("disc-read".into())
                .spawn(move || s.read_loop())?,
        );
        let s = shared.clone();
        let spawned = thread::Builder::new()
            .name("disc-table".into())
            .spawn(move || s.table_loop(stop_rx, refresh));
        match spawned {
            Ok(t) => threads.push(t),
            Err(e) => {
                let mut d = Discovery {
                    shared,
                    stop_tx: Some(stop_tx),
                    threads,
                };
                d.shutdown();
                return Err(e);
            }
        }
        Ok(Discovery {
            shared,
            stop_tx: Some(stop_tx),
            threads,
        })
    }

    /// The bound UDP address.
    pub fn local_addr(&self) -> SocketAddr {
        self.shared.local_addr
    }

    /// This node: its key, the bound address and the advertised TCP port (0 when there is
    /// none; its `enode://` URL then reads `<ip>:0?discport=<udp port>`, as go-ethereum
    /// writes it).
    pub fn local_node(&self) -> Node {
        self.shared.local_node()
    }

    /// This node's signed record.
    pub fn local_record(&self) -> Record {
        self.shared.record.lock().clone()
    }

    /// Changes this node's record (for example to add the `eth` entry) and signs it again,
    /// which bumps its sequence number; peers learn of the change from the number in our
    /// Ping and Pong packets. If the result would not fit in 300 bytes the record is left
    /// as it was.
    ///
    /// # Examples
    ///
    /// ```
    /// use devp2p_peer::discover::{Config, Discovery};
    /// use devp2p_peer::enr::EthEntry;
    /// use devp2p_peer::rlpx::SecretKey;
    ///
    /// let d = Discovery::start(SecretKey::random(), Config::loopback()).unwrap();
    /// let before = d.local_record().seq();
    /// let fork = EthEntry { hash: [0xfc, 0x64, 0xec, 0x04], next: 0 };
    /// d.update_record(|r| r.set_eth(fork)).unwrap();
    /// assert_eq!(d.local_record().seq(), before + 1);
    /// assert_eq!(d.local_record().eth().unwrap(), fork);
    /// d.stop();
    /// ```
    pub fn update_record(&self, f: impl FnOnce(&mut Record)) -> Result<(), EnrError> {
        let mut current = self.shared.record.lock();
        let mut next = current.clone();
        f(&mut next);
        if next.is_signed() {
            // Nothing changed.
            return Ok(());
        }
        next.sign(&self.shared.key)?;
        *current = next;
        Ok(())
    }

    /// A copy of the nodes in the table.
    pub fn table_nodes(&self) -> Vec<Node> {
        self.shared
            .table
            .lock()
            .entries()
            .map(|e| e.node.clone())
            .collect()
    }

    /// The packet counters.
    pub fn stats(&self) -> Stats {
        let c = &self.shared.counters;
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        Stats {
            received: g(&c.received),
            sent: g(&c.sent),
            too_big: g(&c.too_big),
            too_small: g(&c.too_small),
            bad_hash: g(&c.bad_hash),
            bad_signature: g(&c.bad_signature),
            unknown_type: g(&c.unknown_type),
            bad_data: g(&c.bad_data),
            expired: g(&c.expired),
            unsolicited: g(&c.unsolicited),
            unknown_node: g(&c.unknown_node),
        }
    }

    /// Pings `node` and waits for its Pong; returns the sequence number of its record
    /// (0 if it did not say).
    pub fn ping(&self, node: &Node) -> Result<u64, DiscError> {
        self.shared.ping(node)
    }

    /// Asks `node` for its record (after an endpoint proof if needed) and verifies it, as
    /// go-ethereum's `RequestENR` does: a valid signature, `node`'s ID, a sequence number
    /// not lower than `node.seq` (an older record is an error: keep what you know), and an
    /// endpoint IP that `node`'s address may relay ([`table::relay_ok`](super::table::relay_ok)).
    /// Each failure is a [`DiscError::BadRecord`].
    pub fn request_enr(&self, node: &Node) -> Result<Record, DiscError> {
        self.shared.request_enr(node)
    }

    /// Asks `node` for the nodes it knows closest to `target` (a public key's 64 bytes).
    pub fn find_node(&self, node: &Node, target: &[u8; 64]) -> Result<Vec<Node>, DiscError> {
        self.shared.find_node(node, target)
    }

    /// An iterative lookup of the nodes closest to `target` (64 bytes, the public key
    /// whose keccak256 is the target ID), three queries at a time. Found nodes enter
    /// the table. Returns up to 16 nodes, closest first.
    pub fn lookup(&self, target: &[u8; 64]) -> Vec<Node> {
        lookup::run(&self.shared, target)
    }

    /// An endless iterator of nodes from random lookups (for a dialer). It ends when the
    /// service stops.
    pub fn random_nodes(&self) -> RandomNodes {
        lookup::RandomNodes::new(self.shared.clone())
    }

    /// Stops the service and joins its threads.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.shared.closed.store(true, Ordering::SeqCst);
        self.stop_tx.take();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl Drop for Discovery {
    fn drop(&mut self) {
        self.shutdown();
    }
}
