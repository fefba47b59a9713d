//! The Kademlia table, as go-ethereum keeps it, without sockets.
//!
//! Nodes are sorted into [`N_BUCKETS`] buckets by their log distance to the local node:
//! the closest bucket takes every distance up to 239, the others one distance each, up to
//! 256. A bucket holds [`BUCKET_SIZE`] live entries and [`MAX_REPLACEMENTS`] replacements
//! that step in when an entry fails revalidation. To resist eclipse attacks, a bucket takes
//! at most [`BUCKET_IP_LIMIT`] addresses from one /24 and the table [`TABLE_IP_LIMIT`]
//! (addresses in LAN ranges are exempt).
//!
//! Liveness revalidation uses two lists like go-ethereum: new and changed entries are
//! pinged from a *fast* list, entries that answered move to a *slow* list; an entry that
//! fails has its liveness count divided by three and is dropped (and replaced) at zero.
//! The service asks [`Table::revalidation_due`] what to ping and reports back through
//! [`Table::revalidation_result`].
//!
//! ```
//! use devp2p_peer::discover::table::{log_dist, Table};
//! use devp2p_peer::discover::Node;
//! use devp2p_peer::rlpx::{Enode, SecretKey};
//!
//! let me = SecretKey::random().public_key().node_id().0;
//! let mut table = Table::new(me);
//! let other = Node::new(Enode::new(SecretKey::random().public_key(), "10.0.0.1:30303".parse().unwrap()));
//! assert!(table.add_found(other.clone()));
//! assert_eq!(table.len(), 1);
//! assert_eq!(table.closest(&other.id, 16, false)[0].id, other.id);
//! assert!(log_dist(&me, &other.id) > 200); // almost certainly
//! ```

use std::cmp::Ordering;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use rand::Rng;

use super::Node;

/// Kademlia concurrency factor: queries in flight per lookup.
pub const ALPHA: usize = 3;
/// Live entries per bucket.
pub const BUCKET_SIZE: usize = 16;
/// Replacement entries per bucket.
pub const MAX_REPLACEMENTS: usize = 10;
/// Number of buckets (the upper 1/15 of distances).
pub const N_BUCKETS: usize = 256 / 15;
/// The log distance of the closest bucket; closer nodes share it.
pub const BUCKET_MIN_DISTANCE: usize = 256 - N_BUCKETS;
/// At most this many addresses of one /24 per bucket.
pub const BUCKET_IP_LIMIT: usize = 2;
/// At most this many addresses of one /24 in the table.
pub const TABLE_IP_LIMIT: usize = 10;
/// The subnet size (prefix bits) the IP limits count by.
pub const SUBNET_BITS: u32 = 24;
/// Mean interval of fast-list revalidation pings (go-ethereum's default `PingInterval`).
pub const PING_INTERVAL: Duration = Duration::from_secs(3);
/// The slow list is revalidated this many times less often.
pub const SLOW_REVALIDATION_FACTOR: u32 = 3;

/// The logarithmic distance of two IDs: the bit length of `a XOR b` (0 when equal).
///
/// # Examples
///
/// ```
/// use devp2p_peer::discover::table::log_dist;
///
/// let a = [0u8; 32];
/// let mut b = [0u8; 32];
/// assert_eq!(log_dist(&a, &b), 0);
/// b[31] = 1;
/// assert_eq!(log_dist(&a, &b), 1);
/// b[0] = 0x80;
/// assert_eq!(log_dist(&a, &b), 256);
/// ```
pub fn log_dist(a: &[u8; 32], b: &[u8; 32]) -> usize {
    let mut lz = 0;
    for (x, y) in a.iter().zip(b) {
        let d = x ^ y;
        if d == 0 {
            lz += 8;
        } else {
            lz += d.leading_zeros() as usize;
            break;
        }
    }
    256 - lz
}

/// Compares the XOR distances of `a` and `b` to `target`.
///
/// # Examples
///
/// ```
/// use std::cmp::Ordering;
/// use devp2p_peer::discover::table::dist_cmp;
///
/// let (t, a, mut b) = ([0u8; 32], [1u8; 32], [1u8; 32]);
/// b[0] = 2;
/// assert_eq!(dist_cmp(&t, &a, &b), Ordering::Less);
/// assert_eq!(dist_cmp(&t, &a, &a), Ordering::Equal);
/// ```
pub fn dist_cmp(target: &[u8; 32], a: &[u8; 32], b: &[u8; 32]) -> Ordering {
    for i in 0..32 {
        let (da, db) = (target[i] ^ a[i], target[i] ^ b[i]);
        if da != db {
            return da.cmp(&db);
        }
    }
    Ordering::Equal
}

/// Whether `ip` is loopback, private or link-local unicast (go-ethereum's `AddrIsLAN`):
/// IPv4 `127.0.0.0/8`, `10.0.0.0/8`, `172.16.0.0/12`, `192.168.0.0/16`,
/// `169.254.0.0/16`; IPv6 `::1`, `fc00::/7`, `fe80::/10`. An IPv4-mapped IPv6 address
/// (`::ffff:a.b.c.d`) counts as its IPv4 address.
///
/// # Examples
///
/// ```
/// use devp2p_peer::discover::table::is_lan;
/// assert!(is_lan(&"192.168.1.5".parse().unwrap()));
/// assert!(is_lan(&"::ffff:10.0.0.1".parse().unwrap()));
/// assert!(!is_lan(&"8.8.8.8".parse().unwrap()));
/// assert!(!is_lan(&"0.0.0.0".parse().unwrap()));
/// ```
pub fn is_lan(ip: &IpAddr) -> bool {
    match ip.to_canonical() {
        IpAddr::V4(v4) => v4.is_loopback() || v4.is_private() || v4.is_link_local(),
        IpAddr::V6(v6) => {
            let seg = v6.segments()[0];
            v6.is_loopback() || (seg & 0xffc0) == 0xfe80 || (seg & 0xfe00) == 0xfc00
        }
    }
}

/// IPv4 special-purpose networks (go-ethereum's `special4`: RFC 5735, RFC 5156 and the
/// IANA IPv4 special-purpose address registry), as (network, prefix length).
const SPECIAL4: [(Ipv4Addr, u32); 14] = [
    (Ipv4Addr::new(0, 0, 0, 0), 8),          // "this" network
    (Ipv4Addr::new(192, 0, 0, 0), 29),       // IPv4 service continuity
    (Ipv4Addr::new(192, 0, 0, 9), 32),       // PCP anycast
    (Ipv4Addr::new(192, 0, 0, 170), 32),     // NAT64/DNS64 discovery
    (Ipv4Addr::new(192, 0, 0, 171), 32),     // NAT64/DNS64 discovery
    (Ipv4Addr::new(192, 0, 2, 0), 24),       // TEST-NET-1
    (Ipv4Addr::new(192, 31, 196, 0), 24),    // AS112
    (Ipv4Addr::new(192, 52, 193, 0), 24),    // AMT
    (Ipv4Addr::new(192, 88, 99, 0), 24),     // 6to4 relay anycast
    (Ipv4Addr::new(192, 175, 48, 0), 24),    // AS112
    (Ipv4Addr::new(198, 18, 0, 0), 15),      // device benchmark testing
    (Ipv4Addr::new(198, 51, 100, 0), 24),    // TEST-NET-2
    (Ipv4Addr::new(203, 0, 113, 0), 24),     // TEST-NET-3
    (Ipv4Addr::new(255, 255, 255, 255), 32), // limited broadcast
];

/// IPv6 special-purpose networks (go-ethereum's `special6`: the IANA IPv6 special-purpose
/// address registry), as (network, prefix length).
const SPECIAL6: [(Ipv6Addr, u32); 11] = [
    (Ipv6Addr::new(0x100, 0, 0, 0, 0, 0, 0, 0), 64), // discard-only
    (Ipv6Addr::new(0x2001, 0, 0, 0, 0, 0, 0, 0), 32), // TEREDO
    (Ipv6Addr::new(0x2001, 1, 0, 0, 0, 0, 0, 1), 128), // PCP anycast
    (Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 0), 48), // benchmarking
    (Ipv6Addr::new(0x2001, 3, 0, 0, 0, 0, 0, 0), 32), // AMT
    (Ipv6Addr::new(0x2001, 4, 0x112, 0, 0, 0, 0, 0), 48), // AS112-v6
    (Ipv6Addr::new(0x2001, 5, 0, 0, 0, 0, 0, 0), 32), // LISP EID space
    (Ipv6Addr::new(0x2001, 0x10, 0, 0, 0, 0, 0, 0), 28), // ORCHID
    (Ipv6Addr::new(0x2001, 0x20, 0, 0, 0, 0, 0, 0), 28), // ORCHIDv2
    (Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0), 32), // documentation
    (Ipv6Addr::new(0x2002, 0, 0, 0, 0, 0, 0, 0), 16), // 6to4
];

/// Whether `ip` is multicast or in a special-purpose network (go-ethereum's
/// `AddrIsSpecialNetwork`); an IPv4-mapped IPv6 address counts as its IPv4 address.
fn is_special(ip: &IpAddr) -> bool {
    let ip = ip.to_canonical();
    if ip.is_multicast() {
        return true;
    }
    match ip {
        IpAddr::V4(v4) => SPECIAL4.iter().any(|&(net, bits)| {
            let mask = u32::MAX.checked_shl(32 - bits).unwrap_or(0);
            u32::from(v4) & mask == u32::from(net)
        }),
        IpAddr::V6(v6) => SPECIAL6.iter().any(|&(net, bits)| {
            let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
            u128::from(v6) & mask == u128::from(net)
        }),
    }
}

/// Why a node at `addr` relayed by a node at `sender` is no valid target, in
/// go-ethereum's words (its `CheckRelayAddr` errors), or `None` if it is one.
pub(crate) fn relay_error(sender: &IpAddr, addr: &IpAddr) -> Option<&'static str> {
    // As Go's `netip.Addr.IsUnspecified`: `0.0.0.0` or `::`, not `::ffff:0.0.0.0` (which
    // is in the special "this" network).
    if addr.is_unspecified() {
        return Some("zero address");
    }
    if is_special(addr) {
        return Some("special network");
    }
    if addr.to_canonical().is_loopback() && !sender.to_canonical().is_loopback() {
        return Some("loopback address from non-loopback host");
    }
    if is_lan(addr) && !is_lan(sender) {
        return Some("LAN address from WAN host");
    }
    None
}

/// Whether a node at `addr` relayed by a node at `sender` is a valid target (go-ethereum's
/// `CheckRelayAddr`): never an unspecified address, a multicast address or one in a
/// special-purpose network (documentation, benchmarking, broadcast, 6to4, TEREDO, ...);
/// a loopback address only from a loopback sender; a LAN address only from a LAN sender.
/// An IPv4-mapped IPv6 address counts as its IPv4 address.
///
/// It filters the nodes of Neighbors packets, both sent and received, and the endpoint
/// of a record fetched with an ENRRequest.
///
/// # Examples
///
/// ```
/// use devp2p_peer::discover::table::relay_ok;
/// let ip = |s: &str| s.parse::<std::net::IpAddr>().unwrap();
/// assert!(relay_ok(&ip("10.0.0.1"), &ip("8.8.8.8")));
/// assert!(relay_ok(&ip("10.0.0.1"), &ip("10.0.0.2")));
/// assert!(!relay_ok(&ip("8.8.8.8"), &ip("10.0.0.2"))); // LAN from WAN
/// assert!(!relay_ok(&ip("10.0.0.1"), &ip("192.0.2.1"))); // TEST-NET-1
/// assert!(!relay_ok(&ip("10.0.0.1"), &ip("::ffff:192.0.2.1")));
/// assert!(!relay_ok(&ip("10.0.0.1"), &ip("2001:db8::1"))); // documentation
/// ```
pub fn relay_ok(sender: &IpAddr, addr: &IpAddr) -> bool {
    relay_error(sender, addr).is_none()
}

/// Counts addresses per subnet and refuses more than a limit.
#[derive(Debug, Clone, Default)]
struct NetSet {
    limit: usize,
    members: HashMap<Vec<u8>, usize>,
}

impl NetSet {
    fn new(limit: usize) -> Self {
        NetSet {
            limit,
            members: HashMap::new(),
        }
    }

    fn key(ip: &IpAddr) -> Vec<u8> {
        let bytes = (SUBNET_BITS / 8) as usize;
        match ip {
            IpAddr::V4(v4) => {
                let mut k = vec![4];
                k.extend_from_slice(&v4.octets()[..bytes]);
                k
            }
            IpAddr::V6(v6) => {
                let mut k = vec![6];
                k.extend_from_slice(&v6.octets()[..bytes]);
                k
            }
        }
    }

    fn add(&mut self, ip: &IpAddr) -> bool {
        let n = self.members.entry(Self::key(ip)).or_insert(0);
        if *n >= self.limit {
            return false;
        }
        *n += 1;
        true
    }

    fn remove(&mut self, ip: &IpAddr) {
        let k = Self::key(ip);
        if let Some(n) = self.members.get_mut(&k) {
            *n -= 1;
            if *n == 0 {
                self.members.remove(&k);
            }
        }
    }

    fn count(&self, ip: &IpAddr) -> usize {
        self.members.get(&Self::key(ip)).copied().unwrap_or(0)
    }
}

/// Which revalidation list an entry is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum List {
    Fast,
    Slow,
}

/// A node in the table, with its liveness record.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The node.
    pub node: Node,
    /// Answered revalidation pings (divided by three on each failure).
    pub liveness_checks: u32,
    /// Whether it answered at least once since its last endpoint change.
    pub validated_live: bool,
    /// When it entered the table (or the replacement list).
    pub added_at: Instant,
    list: List,
}

impl Entry {
    fn new(node: Node) -> Self {
        Entry {
            node,
            liveness_checks: 0,
            validated_live: false,
            added_at: Instant::now(),
            list: List::Fast,
        }
    }
}

#[derive(Debug, Clone)]
struct Bucket {
    entries: Vec<Entry>,
    replacements: Vec<Entry>,
    ips: NetSet,
}

/// The table. See the [module docs](self).
#[derive(Debug)]
pub struct Table {
    self_id: [u8; 32],
    buckets: Vec<Bucket>,
    ips: NetSet,
    fast_next: Option<Instant>,
    slow_next: Option<Instant>,
    ping_interval: Duration,
}

impl Table {
    /// An empty table around the local node `self_id`.
    pub fn new(self_id: [u8; 32]) -> Self {
        Self::with_ping_interval(self_id, PING_INTERVAL)
    }

    /// An empty table with a different mean revalidation interval.
    pub fn with_ping_interval(self_id: [u8; 32], ping_interval: Duration) -> Self {
        let bucket = Bucket {
            entries: Vec::new(),
            replacements: Vec::new(),
            ips: NetSet::new(BUCKET_IP_LIMIT),
        };
        Table {
            self_id,
            buckets: vec![bucket; N_BUCKETS],
            ips: NetSet::new(TABLE_IP_LIMIT),
            fast_next: None,
            slow_next: None,
            ping_interval,
        }
    }

    /// The local node's ID.
    pub fn self_id(&self) -> &[u8; 32] {
        &self.self_id
    }

    /// The bucket index for `id`.
    pub fn bucket_index(&self, id: &[u8; 32]) -> usize {
        let d = log_dist(&self.self_id, id);
        if d <= BUCKET_MIN_DISTANCE {
            0
        } else {
            d - BUCKET_MIN_DISTANCE - 1
        }
    }

    /// Number of live entries.
    pub fn len(&self) -> usize {
        self.buckets.iter().map(|b| b.entries.len()).sum()
    }

    /// Whether the table has no entries.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The entries of bucket `i`, in insertion order.
    pub fn bucket_entries(&self, i: usize) -> impl Iterator<Item = &Entry> {
        self.buckets[i].entries.iter()
    }

    /// The replacements of bucket `i`, newest first.
    pub fn bucket_replacements(&self, i: usize) -> impl Iterator<Item = &Entry> {
        self.buckets[i].replacements.iter()
    }

    /// All entries.
    pub fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.buckets.iter().flat_map(|b| b.entries.iter())
    }

    /// The entry for `id`, if it is in the table.
    pub fn get(&self, id: &[u8; 32]) -> Option<&Entry> {
        self.buckets[self.bucket_index(id)]
            .entries
            .iter()
            .find(|e| &e.node.id == id)
    }

    /// How many table addresses share `ip`'s /24 (LAN addresses are not counted).
    pub fn subnet_count(&self, ip: &IpAddr) -> usize {
        self.ips.count(ip)
    }

    fn add_ip(&mut self, b: usize, ip: &IpAddr) -> bool {
        if ip.is_unspecified() {
            return false;
        }
        if is_lan(ip) {
            return true;
        }
        if !self.ips.add(ip) {
            log::debug!("IP exceeds table limit: {ip}");
            return false;
        }
        if !self.buckets[b].ips.add(ip) {
            log::debug!("IP exceeds bucket limit: {ip}");
            self.ips.remove(ip);
            return false;
        }
        true
    }

    fn remove_ip(&mut self, b: usize, ip: &IpAddr) {
        if is_lan(ip) {
            return;
        }
        self.ips.remove(ip);
        self.buckets[b].ips.remove(ip);
    }

    /// Adds a node learned from a third party (a Neighbors answer or a bootnode). An entry
    /// already present is updated only if the new record has a higher sequence number.
    /// Returns whether the node was added as a live entry.
    pub fn add_found(&mut self, node: Node) -> bool {
        self.add(node, false, false)
    }

    /// Adds a node that contacted us itself (and so proved its endpoint): an existing entry
    /// takes its endpoint whatever the sequence number.
    pub fn add_inbound(&mut self, node: Node) -> bool {
        self.add(node, true, false)
    }

    /// Adds a node that just answered us, marking it live.
    pub fn add_verified(&mut self, node: Node) -> bool {
        self.add(node, true, true)
    }

    fn add(&mut self, node: Node, inbound: bool, live: bool) -> bool {
        if node.id == self.self_id {
            return false;
        }
        let b = self.bucket_index(&node.id);
        if self.bump(b, &node, inbound) {
            return false;
        }
        if self.buckets[b].entries.len() >= BUCKET_SIZE {
            self.add_replacement(b, node);
            return false;
        }
        if !self.add_ip(b, &node.enode.ip) {
            return false;
        }
        let id = node.id;
        let mut e = Entry::new(node);
        if live {
            e.liveness_checks = 1;
            e.validated_live = true;
        }
        let bucket = &mut self.buckets[b];
        bucket.entries.push(e);
        if let Some(i) = bucket.replacements.iter().position(|r| r.node.id == id) {
            let r = bucket.replacements.remove(i);
            self.remove_ip(b, &r.node.enode.ip);
        }
        self.schedule_fast();
        true
    }

    /// Updates an entry already in bucket `b`; returns whether it was there.
    fn bump(&mut self, b: usize, node: &Node, inbound: bool) -> bool {
        let Some(i) = self.buckets[b]
            .entries
            .iter()
            .position(|e| e.node.id == node.id)
        else {
            return false;
        };
        let old = self.buckets[b].entries[i].node.clone();
        if node.seq <= old.seq && !inbound {
            return true;
        }
        let ip_changed = node.enode.ip != old.enode.ip;
        let port_changed = node.enode.udp_port != old.enode.udp_port;
        if ip_changed {
            self.remove_ip(b, &old.enode.ip);
            if !self.add_ip(b, &node.enode.ip) {
                self.add_ip(b, &old.enode.ip);
                return true;
            }
        }
        let e = &mut self.buckets[b].entries[i];
        e.node = node.clone();
        if ip_changed || port_changed {
            e.validated_live = false;
            e.list = List::Fast;
            self.schedule_fast();
        }
        true
    }

    fn add_replacement(&mut self, b: usize, node: Node) {
        if self.buckets[b]
            .replacements
            .iter()
            .any(|r| r.node.id == node.id)
        {
            return;
        }
        if !self.add_ip(b, &node.enode.ip) {
            return;
        }
        let reps = &mut self.buckets[b].replacements;
        reps.insert(0, Entry::new(node));
        if reps.len() > MAX_REPLACEMENTS {
            let dropped = reps.pop().expect("over the limit");
            self.remove_ip(b, &dropped.node.enode.ip);
        }
    }

    /// Removes `id`, moving a random replacement into its place. Returns the replacement.
    pub fn delete(&mut self, id: &[u8; 32]) -> Option<Node> {
        let b = self.bucket_index(id);
        let i = self.buckets[b]
            .entries
            .iter()
            .position(|e| &e.node.id == id)?;
        let gone = self.buckets[b].entries.remove(i);
        self.remove_ip(b, &gone.node.enode.ip);
        let reps = &mut self.buckets[b].replacements;
        if reps.is_empty() {
            return None;
        }
        let r = reps.remove(rand::rng().random_range(0..reps.len()));
        let node = r.node.clone();
        // Its IP was counted when it became a replacement.
        let mut e = r;
        e.list = List::Fast;
        self.buckets[b].entries.push(e);
        self.schedule_fast();
        Some(node)
    }

    /// Up to `n` entries closest to `target`, closest first. With `prefer_live`, only
    /// entries that answered a revalidation ping are returned unless there are none.
    pub fn closest(&self, target: &[u8; 32], n: usize, prefer_live: bool) -> Vec<Node> {
        let pick = |live_only: bool| {
            let mut v: Vec<&Node> = self
                .entries()
                .filter(|e| !live_only || e.validated_live)
                .map(|e| &e.node)
                .collect();
            v.sort_by(|a, b| dist_cmp(target, &a.id, &b.id));
            v.truncate(n);
            v.into_iter().cloned().collect::<Vec<_>>()
        };
        if prefer_live {
            let live = pick(true);
            if !live.is_empty() {
                return live;
            }
        }
        pick(false)
    }

    fn jitter(&self, interval: Duration) -> Duration {
        let nanos = interval.as_nanos().max(1) as u64;
        Duration::from_nanos(rand::rng().random_range(0..nanos))
    }

    fn schedule_fast(&mut self) {
        if self.fast_next.is_none() {
            self.fast_next = Some(Instant::now() + self.jitter(self.ping_interval));
        }
    }

    fn random_on(&self, list: List, busy: &[[u8; 32]]) -> Option<Node> {
        let on: Vec<&Entry> = self
            .entries()
            .filter(|e| e.list == list && !busy.contains(&e.node.id))
            .collect();
        if on.is_empty() {
            return None;
        }
        Some(on[rand::rng().random_range(0..on.len())].node.clone())
    }

    /// The nodes to ping now (at most one per list whose time has come), skipping those
    /// in `busy` (already being pinged). Also returns when to ask again.
    pub fn revalidation_due(&mut self, now: Instant, busy: &[[u8; 32]]) -> (Vec<Node>, Instant) {
        let mut out = Vec::new();
        let slow_interval = self.ping_interval * SLOW_REVALIDATION_FACTOR;
        for (list, interval) in [
            (List::Fast, self.ping_interval),
            (List::Slow, slow_interval),
        ] {
            let has = self.entries().any(|e| e.list == list);
            let next = match list {
                List::Fast => &mut self.fast_next,
                List::Slow => &mut self.slow_next,
            };
            if !has {
                *next = None;
                continue;
            }
            match *next {
                Some(t) if t > now => continue,
                None => {
                    let j = Duration::from_nanos(
                        rand::rng().random_range(0..interval.as_nanos().max(1) as u64),
                    );
                    *next = Some(now + j);
                    continue;
                }
                Some(_) => {}
            }
            let j = self.jitter(interval);
            match list {
                List::Fast => self.fast_next = Some(now + j),
                List::Slow => self.slow_next = Some(now + j),
            }
            if let Some(n) = self.random_on(list, busy) {
                out.push(n);
            }
        }
        let next = [self.fast_next, self.slow_next]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(now + self.ping_interval);
        (out, next)
    }

    /// Records the outcome of a revalidation ping of `id`. On an answer, `newer` is the
    /// node's newer record if it announced a higher sequence number and we fetched it.
    pub fn revalidation_result(&mut self, id: &[u8; 32], responded: bool, newer: Option<Node>) {
        let b = self.bucket_index(id);
        let Some(i) = self.buckets[b]
            .entries
            .iter()
            .position(|e| &e.node.id == id)
        else {
            return; // removed meanwhile
        };
        if !responded {
            let e = &mut self.buckets[b].entries[i];
            e.liveness_checks /= 3;
            if e.liveness_checks == 0 {
                self.delete(id);
            } else {
                e.list = List::Fast;
                self.schedule_fast();
            }
            return;
        }
        {
            let e = &mut self.buckets[b].entries[i];
            e.liveness_checks += 1;
            e.validated_live = true;
        }
        let mut changed = false;
        if let Some(n) = newer {
            let old = self.buckets[b].entries[i].node.clone();
            self.bump(b, &n, false);
            let now = &self.buckets[b].entries[i].node;
            changed = now.enode.ip != old.enode.ip || now.enode.udp_port != old.enode.udp_port;
        }
        if !changed {
            self.buckets[b].entries[i].list = List::Slow;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// go-ethereum's `TestCheckRelayIP` cases, with its error texts.
    #[test]
    fn relay_error_texts() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let (lo, lan, wan) = ("127.0.0.1", "192.168.0.1", "23.55.1.242");
        let cases = [
            (lo, "0.0.0.0", Some("zero address")),
            (lan, "0.0.0.0", Some("zero address")),
            (wan, "0.0.0.0", Some("zero address")),
            (wan, "::", Some("zero address")),
            (lo, "255.255.255.255", Some("special network")),
            (lan, "255.255.255.255", Some("special network")),
            (wan, "255.255.255.255", Some("special network")),
            (lo, "::ffff:0.0.0.0", Some("special network")),
            (
                lan,
                "127.0.2.19",
                Some("loopback address from non-loopback host"),
            ),
            (wan, "192.168.0.1", Some("LAN address from WAN host")),
            (lo, "127.0.2.19", None),
            (lo, "192.168.0.1", None),
            (lo, "23.55.1.242", None),
            (lan, "192.168.0.1", None),
            (lan, "23.55.1.242", None),
            (wan, "23.55.1.242", None),
        ];
        for (sender, addr, want) in cases {
            assert_eq!(
                relay_error(&ip(sender), &ip(addr)),
                want,
                "{addr} from {sender}"
            );
        }
    }
}
