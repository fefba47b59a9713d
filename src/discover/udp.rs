//! The inside of the discovery service: the RPCs, the reader thread and the table thread.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::{select, unbounded, Receiver, Sender};
use parking_lot::Mutex;

use super::config::DiscError;
use super::lookup;
use super::table::{self, Table};
use super::v4wire::{self, Endpoint, Packet, PacketError};
use super::Node;
use crate::enr::Record;
use crate::rlpx::{keccak256, Enode, PublicKey, SecretKey};

/// How long a reply may take.
pub(crate) const RESP_TIMEOUT: Duration = Duration::from_millis(500);
/// Packets we send expire this far in the future.
const EXPIRATION: Duration = Duration::from_secs(20);
/// An endpoint proof lasts this long.
const BOND_EXPIRATION: Duration = Duration::from_secs(24 * 60 * 60);
/// The most endpoint proofs remembered (go-ethereum keeps them in its node database).
const MAX_BONDS: usize = 100_000;
/// When the proofs are full, those without contact for this long are forgotten.
const BOND_FORGET: Duration = Duration::from_secs(10 * 60);
/// Nodes failing this many FindNode requests in a row are dropped from the table.
const MAX_FINDNODE_FAILURES: u32 = 5;
/// The longest ping or refresh interval honoured.
pub(crate) const MAX_INTERVAL: Duration = Duration::from_secs(365 * 24 * 60 * 60);
/// How often the reader thread checks whether the service was stopped.
pub(crate) const READ_POLL: Duration = Duration::from_millis(100);

#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) received: AtomicU64,
    pub(crate) sent: AtomicU64,
    pub(crate) too_big: AtomicU64,
    pub(crate) too_small: AtomicU64,
    pub(crate) bad_hash: AtomicU64,
    pub(crate) bad_signature: AtomicU64,
    pub(crate) unknown_type: AtomicU64,
    pub(crate) bad_data: AtomicU64,
    pub(crate) expired: AtomicU64,
    pub(crate) unsolicited: AtomicU64,
    pub(crate) unknown_node: AtomicU64,
}

fn inc(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

/// What the endpoint proof records about a (node, IP) pair.
#[derive(Default, Clone, Copy)]
pub(crate) struct Bond {
    last_ping_received: Option<Instant>,
    last_pong_received: Option<Instant>,
    find_fails: u32,
}

/// What to do with a matching reply.
enum Action {
    /// Hand it to a waiting caller.
    Deliver(Sender<Packet>),
    /// Our ping-back was answered: the node proved its endpoint; add it to the table.
    AddNode(Node),
}

pub(crate) struct Pending {
    serial: u64,
    from: [u8; 32],
    ip: IpAddr,
    ptype: u8,
    /// The reply must quote this hash (Pong, ENRResponse).
    token: Option<[u8; 32]>,
    deadline: Instant,
    action: Action,
}

pub(crate) struct Shared {
    pub(crate) key: SecretKey,
    pub(crate) self_id: [u8; 32],
    pub(crate) socket: UdpSocket,
    pub(crate) local_addr: SocketAddr,
    pub(crate) tcp_port: u16,
    pub(crate) record: Mutex<Record>,
    pub(crate) table: Mutex<Table>,
    pub(crate) bonds: Mutex<HashMap<([u8; 32], IpAddr), Bond>>,
    pub(crate) pending: Mutex<Vec<Pending>>,
    pub(crate) serial: AtomicU64,
    pub(crate) closed: AtomicBool,
    /// Never sent on; dropped on stop so waiters wake at once.
    pub(crate) closing: Receiver<()>,
    pub(crate) bootnodes: Vec<Node>,
    pub(crate) counters: Counters,
}

fn expiration() -> u64 {
    v4wire::now_unix() + EXPIRATION.as_secs()
}

fn recent(t: Option<Instant>) -> bool {
    t.is_some_and(|t| t.elapsed() < BOND_EXPIRATION)
}

impl Shared {
    pub(crate) fn local_node(&self) -> Node {
        let r = self.record.lock();
        let mut n = Node::new(Enode {
            pubkey: self.key.public_key(),
            ip: self.local_addr.ip(),
            tcp_port: self.tcp_port,
            udp_port: self.local_addr.port(),
        });
        n.seq = r.seq();
        n
    }

    fn local_endpoint(&self) -> Endpoint {
        Endpoint::new(self.local_addr, self.tcp_port)
    }

    fn send(&self, to: SocketAddr, packet: &Packet) -> Result<[u8; 32], DiscError> {
        let (bytes, hash) = v4wire::encode(&self.key, packet);
        self.send_raw(to, &bytes)?;
        Ok(hash)
    }

    fn send_raw(&self, to: SocketAddr, bytes: &[u8]) -> Result<(), DiscError> {
        self.socket
            .send_to(bytes, to)
            .map_err(|e| DiscError::Send(e.to_string()))?;
        inc(&self.counters.sent);
        Ok(())
    }

    fn bond(&self, id: &[u8; 32], ip: &IpAddr) -> Bond {
        self.bonds
            .lock()
            .get(&(*id, *ip))
            .copied()
            .unwrap_or_default()
    }

    fn update_bond(&self, id: &[u8; 32], ip: &IpAddr, f: impl FnOnce(&mut Bond)) {
        let mut bonds = self.bonds.lock();
        if bonds.len() >= MAX_BONDS && !bonds.contains_key(&(*id, *ip)) {
            // Keep memory bounded under a flood of fresh keys: forget stale proofs first,
            // and refuse new ones while the map is still full.
            bonds.retain(|_, b| {
                [b.last_ping_received, b.last_pong_received]
                    .into_iter()
                    .flatten()
                    .any(|t| t.elapsed() < BOND_FORGET)
            });
            if bonds.len() >= MAX_BONDS {
                return;
            }
        }
        f(bonds.entry((*id, *ip)).or_default());
    }

    /// Whether `id` at `ip` answered one of our pings recently (the endpoint proof).
    fn check_bond(&self, id: &[u8; 32], ip: &IpAddr) -> bool {
        recent(self.bond(id, ip).last_pong_received)
    }

    fn add_pending(
        &self,
        from: [u8; 32],
        ip: IpAddr,
        ptype: u8,
        token: Option<[u8; 32]>,
        action: Action,
    ) -> u64 {
        let serial = self.serial.fetch_add(1, Ordering::Relaxed);
        let mut p = self.pending.lock();
        let now = Instant::now();
        p.retain(|x| matches!(x.action, Action::Deliver(_)) || x.deadline > now);
        p.push(Pending {
            serial,
            from,
            ip,
            ptype,
            token,
            deadline: now + RESP_TIMEOUT,
            action,
        });
        serial
    }

    fn remove_pending(&self, serial: u64) {
        self.pending.lock().retain(|p| p.serial != serial);
    }

    /// Hands a reply to whoever waits for it; false if nobody does.
    fn handle_reply(&self, from: &[u8; 32], ip: &IpAddr, packet: &Packet) -> bool {
        let token = match packet {
            Packet::Pong(p) => Some(p.reply_tok.as_slice()),
            Packet::EnrResponse(p) => Some(p.reply_tok.as_slice()),
            _ => None,
        };
        let now = Instant::now();
        let mut pending = self.pending.lock();
        let Some(i) = pending.iter().position(|p| {
            &p.from == from
                && &p.ip == ip
                && p.ptype == packet.kind()
                && p.deadline > now
                && match (&p.token, token) {
                    (None, _) => true,
                    (Some(want), Some(got)) => &want[..] == got,
                    (Some(_), None) => false,
                }
        }) else {
            return false;
        };
        // Neighbors may come in several packets: the waiter removes its own entry.
        let done = packet.kind() != v4wire::NEIGHBORS;
        let add = match &pending[i].action {
            Action::Deliver(tx) => {
                let _ = tx.send(packet.clone());
                None
            }
            Action::AddNode(n) => Some(n.clone()),
        };
        if done {
            pending.remove(i);
        }
        drop(pending);
        if let Some(n) = add {
            self.table.lock().add_verified(n);
        }
        true
    }

    /// A Ping to `to` and its hash. Its `to` endpoint names no TCP port, as go-ethereum's.
    fn send_ping(&self, to: SocketAddr) -> (Vec<u8>, [u8; 32]) {
        let ping = Packet::Ping(v4wire::Ping {
            version: 4,
            from: self.local_endpoint(),
            to: Endpoint::new(to, 0),
            expiration: expiration(),
            enr_seq: Some(self.record.lock().seq()),
            rest: Vec::new(),
        });
        v4wire::encode(&self.key, &ping)
    }

    pub(crate) fn ping(&self, node: &Node) -> Result<u64, DiscError> {
        if self.closed.load(Ordering::SeqCst) {
            return Err(DiscError::Closed);
        }
        let to = node.udp_addr();
        let (bytes, hash) = self.send_ping(to);
        let (tx, rx) = unbounded();
        let serial = self.add_pending(
            node.id,
            to.ip(),
            v4wire::PONG,
            Some(hash),
            Action::Deliver(tx),
        );
        let res = self.send_raw(to, &bytes).and_then(|()| self.wait(&rx));
        self.remove_pending(serial);
        match res? {
            Packet::Pong(p) => Ok(p.enr_seq.unwrap_or(0)),
            _ => Err(DiscError::Timeout),
        }
    }

    /// Waits for one reply until the response timeout (or the service stops).
    fn wait(&self, rx: &Receiver<Packet>) -> Result<Packet, DiscError> {
        self.wait_until(rx, Instant::now() + RESP_TIMEOUT)
    }

    fn wait_until(&self, rx: &Receiver<Packet>, deadline: Instant) -> Result<Packet, DiscError> {
        select! {
            recv(rx) -> p => p.map_err(|_| DiscError::Closed),
            recv(self.closing) -> _ => Err(DiscError::Closed),
            default(deadline.saturating_duration_since(Instant::now())) => Err(DiscError::Timeout),
        }
    }

    /// Makes sure `node` knows our endpoint before we ask it anything: if it has not
    /// pinged us lately, ping it and give it a moment to ping back.
    fn ensure_bond(&self, node: &Node) {
        let ip = node.ip();
        let b = self.bond(&node.id, &ip);
        if recent(b.last_ping_received) && b.find_fails <= MAX_FINDNODE_FAILURES {
            return;
        }
        if self.ping(node).is_err() {
            return;
        }
        // Wait (bounded) for its ping back, which we answer from the reader thread.
        let deadline = Instant::now() + RESP_TIMEOUT;
        while Instant::now() < deadline && !self.closed.load(Ordering::SeqCst) {
            if recent(self.bond(&node.id, &ip).last_ping_received) {
                return;
            }
            thread::sleep(Duration::from_millis(5));
        }
    }

    pub(crate) fn find_node(&self, node: &Node, target: &[u8; 64]) -> Result<Vec<Node>, DiscError> {
        self.ensure_bond(node);
        if self.closed.load(Ordering::SeqCst) {
            return Err(DiscError::Closed);
        }
        let to = node.udp_addr();
        let (tx, rx) = unbounded();
        let serial = self.add_pending(
            node.id,
            to.ip(),
            v4wire::NEIGHBORS,
            None,
            Action::Deliver(tx),
        );
        let sent = self.send(
            to,
            &Packet::FindNode(v4wire::FindNode {
                target: *target,
                expiration: expiration(),
                rest: Vec::new(),
            }),
        );
        let deadline = Instant::now() + RESP_TIMEOUT;
        let mut nodes = Vec::new();
        let mut received = 0;
        let mut result = sent.map(|_| ());
        if result.is_ok() {
            while received < table::BUCKET_SIZE {
                match self.wait_until(&rx, deadline) {
                    Ok(Packet::Neighbors(n)) => {
                        for e in n.nodes {
                            received += 1;
                            if let Some(n) = node_from_rpc(&to.ip(), &e) {
                                nodes.push(n);
                            }
                        }
                    }
                    Ok(_) => {}
                    Err(e) => {
                        result = Err(e);
                        break;
                    }
                }
            }
        }
        self.remove_pending(serial);
        let ip = to.ip();
        match result {
            Err(DiscError::Timeout) if received > 0 => Ok(nodes),
            Err(e) => {
                let mut fails = 0;
                self.update_bond(&node.id, &ip, |b| {
                    b.find_fails += 1;
                    fails = b.find_fails;
                });
                if fails >= MAX_FINDNODE_FAILURES {
                    self.table.lock().delete(&node.id);
                }
                Err(e)
            }
            Ok(()) => {
                self.update_bond(&node.id, &ip, |b| b.find_fails = 0);
                Ok(nodes)
            }
        }
    }

    pub(crate) fn request_enr(&self, node: &Node) -> Result<Record, DiscError> {
        self.ensure_bond(node);
        let to = node.udp_addr();
        let req = Packet::EnrRequest(v4wire::EnrRequest {
            expiration: expiration(),
            rest: Vec::new(),
        });
        let (bytes, hash) = v4wire::encode(&self.key, &req);
        let (tx, rx) = unbounded();
        let serial = self.add_pending(
            node.id,
            to.ip(),
            v4wire::ENR_RESPONSE,
            Some(hash),
            Action::Deliver(tx),
        );
        let res = self.send_raw(to, &bytes).and_then(|()| self.wait(&rx));
        self.remove_pending(serial);
        let Packet::EnrResponse(resp) = res? else {
            return Err(DiscError::Timeout);
        };
        resp.record
            .verify()
            .map_err(|e| DiscError::BadRecord(e.to_string()))?;
        match resp.record.node_id() {
            Ok(id) if id == node.id => {}
            Ok(_) => return Err(DiscError::BadRecord("invalid ID in response record".into())),
            Err(e) => return Err(DiscError::BadRecord(e.to_string())),
        }
        if resp.record.seq() < node.seq {
            // go-ethereum keeps the node as it knows it; a `Node` carries no record to
            // give back, so the caller keeps what it has.
            return Err(DiscError::BadRecord("response record is older".into()));
        }
        let why = match resp.record.endpoint_ip() {
            Some(ip) => table::relay_error(&to.ip(), &ip),
            None => Some("invalid IP"),
        };
        if let Some(why) = why {
            return Err(DiscError::BadRecord(format!(
                "invalid IP in response record: {why}"
            )));
        }
        Ok(resp.record)
    }

    // ---- the reader thread ----

    pub(crate) fn read_loop(&self) {
        let mut buf = vec![0u8; 2048];
        while !self.closed.load(Ordering::SeqCst) {
            match self.socket.recv_from(&mut buf) {
                Ok((n, from)) => self.handle_packet(&buf[..n], from),
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock
                            | io::ErrorKind::TimedOut
                            | io::ErrorKind::Interrupted
                            | io::ErrorKind::ConnectionRefused
                            | io::ErrorKind::ConnectionReset
                    ) => {}
                Err(e) => {
                    log::debug!("discovery read error: {e}");
                    thread::sleep(READ_POLL);
                }
            }
        }
    }

    /// Decodes, checks and answers one packet. Bad packets are counted and dropped.
    pub(crate) fn handle_packet(&self, bytes: &[u8], from: SocketAddr) {
        let c = &self.counters;
        inc(&c.received);
        if bytes.len() > v4wire::MAX_PACKET_SIZE {
            inc(&c.too_big);
            return;
        }
        let from = SocketAddr::new(v4wire::canonical_ip(from.ip()), from.port());
        let (packet, sender, hash) = match v4wire::decode(bytes) {
            Ok(x) => x,
            Err(e) => {
                log::trace!("bad discovery packet from {from}: {e}");
                inc(match e {
                    PacketError::TooSmall => &c.too_small,
                    PacketError::TooBig => &c.too_big,
                    PacketError::BadHash => &c.bad_hash,
                    PacketError::BadSignature(_) => &c.bad_signature,
                    PacketError::UnknownType(_) => &c.unknown_type,
                    _ => &c.bad_data,
                });
                return;
            }
        };
        if packet.expiration().is_some_and(v4wire::expired) {
            inc(&c.expired);
            return;
        }
        let id = sender.node_id().0;
        let ip = from.ip();
        match &packet {
            Packet::Ping(p) => self.handle_ping(p, sender, id, from, hash),
            Packet::Pong(_) => {
                if self.handle_reply(&id, &ip, &packet) {
                    self.update_bond(&id, &ip, |b| b.last_pong_received = Some(Instant::now()));
                } else {
                    inc(&c.unsolicited);
                }
            }
            Packet::FindNode(f) => {
                if !self.check_bond(&id, &ip) {
                    inc(&c.unknown_node);
                    return;
                }
                self.handle_find_node(f, from);
            }
            Packet::Neighbors(_) | Packet::EnrResponse(_) => {
                if !self.handle_reply(&id, &ip, &packet) {
                    inc(&c.unsolicited);
                }
            }
            Packet::EnrRequest(_) => {
                if !self.check_bond(&id, &ip) {
                    inc(&c.unknown_node);
                    return;
                }
                let record = self.record.lock().clone();
                let _ = self.send(
                    from,
                    &Packet::EnrResponse(v4wire::EnrResponse {
                        reply_tok: hash.to_vec(),
                        record,
                        rest: Vec::new(),
                    }),
                );
            }
        }
    }

    fn handle_ping(
        &self,
        p: &v4wire::Ping,
        sender: PublicKey,
        id: [u8; 32],
        from: SocketAddr,
        hash: [u8; 32],
    ) {
        let seq = self.record.lock().seq();
        let _ = self.send(
            from,
            &Packet::Pong(v4wire::Pong {
                to: Endpoint::new(from, p.from.tcp),
                reply_tok: hash.to_vec(),
                expiration: expiration(),
                enr_seq: Some(seq),
                rest: Vec::new(),
            }),
        );
        let node = Node::new(Enode {
            pubkey: sender,
            ip: from.ip(),
            tcp_port: p.from.tcp,
            udp_port: from.port(),
        });
        let ip = from.ip();
        if self.check_bond(&id, &ip) {
            self.table.lock().add_inbound(node);
        } else {
            // Ping back; the node enters the table once it answers.
            let (bytes, ping_hash) = self.send_ping(from);
            self.add_pending(id, ip, v4wire::PONG, Some(ping_hash), Action::AddNode(node));
            let _ = self.send_raw(from, &bytes);
        }
        self.update_bond(&id, &ip, |b| b.last_ping_received = Some(Instant::now()));
    }

    fn handle_find_node(&self, f: &v4wire::FindNode, from: SocketAddr) {
        let target = keccak256(&[&f.target]);
        let closest = self.table.lock().closest(&target, table::BUCKET_SIZE, true);
        let entries: Vec<v4wire::NodeEntry> = closest
            .iter()
            .filter(|n| table::relay_ok(&from.ip(), &n.ip()))
            .map(|n| v4wire::NodeEntry {
                endpoint: Endpoint {
                    ip: n.ip(),
                    udp: n.enode.udp_port,
                    tcp: n.enode.tcp_port,
                },
                id: n.enode.pubkey.to_bytes(),
            })
            .collect();
        let mut chunks: Vec<&[v4wire::NodeEntry]> = entries.chunks(v4wire::MAX_NEIGHBORS).collect();
        if chunks.is_empty() {
            chunks.push(&[]);
        }
        for chunk in chunks {
            let _ = self.send(
                from,
                &Packet::Neighbors(v4wire::Neighbors {
                    nodes: chunk.to_vec(),
                    expiration: expiration(),
                    rest: Vec::new(),
                }),
            );
        }
    }

    // ---- the table thread ----

    pub(crate) fn table_loop(self: Arc<Self>, stop: Receiver<()>, refresh: Duration) {
        // Without bootnodes there is nothing to start a lookup from: the first refresh
        // waits a full interval (decided here, not by when this thread gets to run).
        let mut next_refresh = if self.bootnodes.is_empty() {
            Instant::now() + refresh
        } else {
            Instant::now()
        };
        loop {
            if self.closed.load(Ordering::SeqCst) {
                return;
            }
            let now = Instant::now();
            if now >= next_refresh {
                self.refresh();
                next_refresh = Instant::now() + refresh;
                continue;
            }
            let (due, next_reval) = self.table.lock().revalidation_due(now, &[]);
            for n in due {
                self.revalidate(&n);
            }
            let wake = next_reval.min(next_refresh);
            select! {
                recv(stop) -> _ => return,
                default(wake.saturating_duration_since(Instant::now())) => {}
            }
        }
    }

    /// Fills the table: re-adds the bootnodes if it is empty, then looks up the own ID
    /// and three random targets.
    fn refresh(self: &Arc<Self>) {
        {
            let mut t = self.table.lock();
            if t.is_empty() {
                for b in &self.bootnodes {
                    t.add_found(b.clone());
                }
            }
        }
        lookup::run(self, &self.key.public_key().to_bytes());
        for _ in 0..3 {
            if self.closed.load(Ordering::SeqCst) {
                return;
            }
            lookup::run(self, &lookup::random_target());
        }
    }

    fn revalidate(&self, n: &Node) {
        match self.ping(n) {
            Ok(seq) => {
                let newer = if seq > n.seq {
                    // A record without a TCP port gives TCP port 0: a dialer skips it.
                    self.request_enr(n).ok().and_then(|r| {
                        let mut node = Node::new(r.to_enode().ok()?);
                        node.seq = r.seq();
                        Some(node)
                    })
                } else {
                    None
                };
                self.table.lock().revalidation_result(&n.id, true, newer);
            }
            Err(DiscError::Closed) => {}
            Err(_) => self.table.lock().revalidation_result(&n.id, false, None),
        }
    }
}

/// A node from a Neighbors packet, if acceptable (go-ethereum's `nodeFromRPC` checks).
fn node_from_rpc(sender: &IpAddr, e: &v4wire::NodeEntry) -> Option<Node> {
    if e.endpoint.udp <= 1024 {
        return None;
    }
    if !table::relay_ok(sender, &e.endpoint.ip) {
        return None;
    }
    let pubkey = PublicKey::from_bytes(&e.id).ok()?;
    Some(Node::new(Enode {
        pubkey,
        ip: e.endpoint.ip,
        tcp_port: e.endpoint.tcp,
        udp_port: e.endpoint.udp,
    }))
}
