//! A soak test over real RLPx on 127.0.0.1: two `Server`s, 200 client nodes (each with its own
//! key) that dial them, exchange numbered messages on two protocols, get disconnected at random
//! from either end and dial again, alternating between the servers. At the end it checks:
//!
//! - every message stream (one protocol, one direction, one connection) arrived in order,
//!   without duplicates or gaps, and never held more messages than were written;
//! - every message *sent before a clean disconnect* arrived. A message counts as sent before
//!   the disconnect when its `write_msg` had returned `Ok` (the write token handed it to the
//!   transport) before the sending side called `Peer::disconnect`; the disconnect is clean when
//!   the other side's peer ended with that Disconnect ("disconnect requested", asked for by the
//!   remote), not with an error of its own (a write that hit the closed socket first, say);
//! - threads and file descriptors are back to where they started once both servers stopped,
//!   and resident memory stayed flat (the second half of the run within a generous bound of
//!   the first).
//!
//! Run with `cargo run --release --example soak -- [SECONDS] [CLIENTS]` (default 20 s, 200
//! clients). It prints a report and exits non-zero if a check failed.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use devp2p_peer::rlpx::{PublicKey, RlpxTransport, SecretKey};
use devp2p_peer::*;
use parking_lot::Mutex;

/// The two protocols every connection runs: (name, version).
const PROTOCOLS: [(&str, u32); 2] = [("seqa", 1), ("seqb", 2)];
/// Stack size of every thread the soak starts (peers, servers, clients).
const STACK: usize = 512 * 1024;

/// What to run.
#[derive(Clone, Debug)]
pub struct SoakConfig {
    /// How long clients keep connecting and exchanging messages.
    pub duration: Duration,
    /// Client nodes (each is one peer at a time on one of the two servers).
    pub clients: usize,
    /// Mean pause between two messages of one protocol on one connection.
    pub pace: Duration,
    /// Mean time between two random disconnects (over all connections).
    pub disconnect_every: Duration,
    /// Ping interval of every peer (short, so that pings happen during the run).
    pub ping_interval: Duration,
}

impl Default for SoakConfig {
    fn default() -> Self {
        SoakConfig {
            duration: Duration::from_secs(20),
            clients: 200,
            pace: Duration::from_millis(150),
            disconnect_every: Duration::from_millis(25),
            ping_interval: Duration::from_secs(2),
        }
    }
}

/// One direction of one protocol on one connection, as seen by one side.
#[derive(Default)]
struct Stream {
    /// Writes started.
    attempted: AtomicU64,
    /// Writes that returned `Ok`.
    acked: AtomicU64,
    /// Messages read, all in order so far.
    received: AtomicU64,
    /// Messages read out of order, twice, or undecodable.
    bad: AtomicU64,
}

/// One side (client or server) of one connection.
#[derive(Default)]
struct Side {
    /// Indexed by protocol.
    streams: [Stream; 2],
    /// This side initiated the disconnect; the `acked` counts at that moment.
    initiated: Mutex<Option<[u64; 2]>>,
    /// How this side's peer ended: whether the remote asked for it, the reason (if a
    /// disconnect) and the error text.
    ended: Mutex<Option<Ended>>,
}

/// How one side's peer ended.
struct Ended {
    /// Whether the remote asked for the end (known on the client side only).
    remote_requested: Option<bool>,
    /// The disconnect reason, if the end was a disconnect.
    reason: Option<DiscReason>,
    /// The error text.
    text: String,
}

/// (client node, client address) of a server-side peer.
type AddrKey = (NodeId, Option<SocketAddr>);

/// One connection, known by the client's Hello name (unique per connection).
#[derive(Default)]
struct Conn {
    client: Side,
    server: Side,
    server_index: usize,
    /// One side only ever initiates the disconnect.
    initiator_chosen: AtomicBool,
    server_registered: AtomicBool,
}

#[derive(Default)]
struct Shared {
    conns: Mutex<HashMap<String, Arc<Conn>>>,
    /// Client-side peers now running, by connection name.
    live: Mutex<HashMap<String, Peer>>,
    /// Server side: (client node, client address) -> connection names, oldest first.
    addr_names: Mutex<HashMap<AddrKey, VecDeque<String>>>,
    stop: AtomicBool,
    dial_failures: AtomicUsize,
    handshake_failures: AtomicUsize,
    /// Why dials and Hello exchanges failed: text -> count.
    failed: Mutex<std::collections::BTreeMap<String, usize>>,
    connections: AtomicUsize,
}

/// A small deterministic random source (xorshift64*), one per thread.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    /// A duration uniformly in `[0, 2 * mean]`.
    fn around(&mut self, mean: Duration) -> Duration {
        let ms = mean.as_millis() as u64;
        Duration::from_millis(self.below(2 * ms + 1))
    }
}

/// What a run measured.
#[derive(Debug, Default)]
pub struct Report {
    /// Connections that got as far as running a peer on the client side.
    pub connections: usize,
    /// Dials that failed (TCP or RLPx handshake).
    pub dial_failures: usize,
    /// Hello exchanges that failed (for example "already connected").
    pub handshake_failures: usize,
    /// Disconnects whose other side ended cleanly with the Disconnect, so that every message
    /// written before it was checked for arrival.
    pub clean_disconnects: usize,
    /// Disconnects initiated (by the random schedule or at the end).
    pub initiated_disconnects: usize,
    /// Messages written (`Ok`) and read over all connections.
    pub messages_written: u64,
    /// Messages read.
    pub messages_read: u64,
    /// Threads of the process before and after, and the most seen while running.
    pub threads: (usize, usize, usize),
    /// Open file descriptors before and after.
    pub fds: (usize, usize),
    /// Resident memory (KiB) sampled once a second.
    pub rss_kib: Vec<u64>,
    /// How the peers ended (both sides counted), and why dials and Hello exchanges failed:
    /// error text -> count.
    pub ends: std::collections::BTreeMap<String, usize>,
    /// Every check that failed.
    pub failures: Vec<String>,
    /// How long the whole run took, teardown included.
    pub elapsed: Duration,
}

impl Report {
    /// The most resident memory in the first half of the samples and in the second half.
    pub fn rss_halves(&self) -> (u64, u64) {
        let mid = self.rss_kib.len() / 2;
        let max = |s: &[u64]| s.iter().copied().max().unwrap_or(0);
        (max(&self.rss_kib[..mid]), max(&self.rss_kib[mid..]))
    }
}

fn count_dir(path: &str) -> usize {
    std::fs::read_dir(path).map(|d| d.count()).unwrap_or(0)
}

/// Threads of this process.
pub fn threads() -> usize {
    count_dir("/proc/self/task")
}

/// Open file descriptors of this process (the directory listing's own descriptor included).
pub fn fds() -> usize {
    count_dir("/proc/self/fd")
}

/// Resident memory of this process in KiB.
pub fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Waits until `cond` holds, polling, for at most `limit`. Returns whether it held.
fn wait_until(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// The protocol body both sides run: write message n, read the other side's message, pause.
/// Payloads are `[n, filler]`; the reader checks that n counts up from 0.
fn exchange(
    side: &Side,
    proto: usize,
    rw: &ProtoRw,
    pace: Duration,
    seed: u64,
) -> Result<(), Error> {
    let s = &side.streams[proto];
    let mut rng = Rng::new(seed);
    loop {
        let n = s.attempted.fetch_add(1, SeqCst);
        let filler = vec![n as u8; rng.below(300) as usize];
        send_items(rw, 0, &[&n, &filler])?;
        s.acked.store(n + 1, SeqCst);

        let msg = rw.read_msg()?;
        let raw = msg.payload.into_vec();
        let got = rlp::Rlp::new(&raw).val_at::<u64>(0);
        if msg.code == 0 && got == Ok(s.received.load(SeqCst)) {
            s.received.fetch_add(1, SeqCst);
        } else {
            s.bad.fetch_add(1, SeqCst);
        }
        thread::sleep(rng.around(pace));
    }
}

/// Initiates the disconnect of `conn` from one side, unless a side already did.
fn initiate(conn: &Conn, side: &Side, peer: &Peer) -> bool {
    if conn.initiator_chosen.swap(true, SeqCst) {
        return false;
    }
    let acked = [0, 1].map(|p| side.streams[p].acked.load(SeqCst));
    *side.initiated.lock() = Some(acked);
    peer.disconnect(DiscReason::REQUESTED);
    true
}

fn server_protocols(shared: &Arc<Shared>, pace: Duration) -> Vec<Protocol> {
    PROTOCOLS
        .iter()
        .enumerate()
        .map(|(p, &(name, version))| {
            let shared = shared.clone();
            Protocol::new(name, version, 1, move |peer, rw| {
                let name = peer.name();
                let conn = shared.conns.lock().get(&name).cloned();
                let conn = conn.ok_or_else(|| Error::other(format!("unknown client {name}")))?;
                if !conn.server_registered.swap(true, SeqCst) {
                    let key = (peer.id(), peer.remote_addr());
                    shared
                        .addr_names
                        .lock()
                        .entry(key)
                        .or_default()
                        .push_back(name);
                }
                exchange(&conn.server, p, &rw, pace, p as u64 + 7)
            })
        })
        .collect()
}

fn client_protocols(conn: &Arc<Conn>, pace: Duration, seed: u64) -> Vec<Protocol> {
    PROTOCOLS
        .iter()
        .enumerate()
        .map(|(p, &(name, version))| {
            let conn = conn.clone();
            Protocol::new(name, version, 1, move |_peer, rw| {
                exchange(&conn.client, p, &rw, pace, seed + p as u64)
            })
        })
        .collect()
}

struct ClientCtx {
    shared: Arc<Shared>,
    servers: [(SocketAddr, PublicKey); 2],
    config: SoakConfig,
}

/// One client node: dial, run until disconnected, dial again (the other server next time).
fn client_loop(i: usize, ctx: Arc<ClientCtx>) {
    let key = SecretKey::random();
    let mut rng = Rng::new(i as u64 + 1000);
    let shared = &ctx.shared;
    let peer_config = PeerConfig {
        ping_interval: ctx.config.ping_interval,
        stack_size: Some(STACK),
        events: None,
    };
    let mut generation = 0u64;
    while !shared.stop.load(SeqCst) {
        generation += 1;
        let server_index = (i + generation as usize) % 2;
        let (addr, server_key) = ctx.servers[server_index];
        let t = match RlpxTransport::dial_addr(addr, &key, &server_key, Duration::from_secs(20)) {
            Ok(t) => t,
            Err(e) => {
                shared.dial_failures.fetch_add(1, SeqCst);
                *shared
                    .failed
                    .lock()
                    .entry(format!("dial: {e}"))
                    .or_default() += 1;
                thread::sleep(rng.around(Duration::from_millis(50)));
                continue;
            }
        };
        let name = format!("soak-{i}-{generation}");
        let conn = Arc::new(Conn {
            server_index,
            ..Conn::default()
        });
        shared.conns.lock().insert(name.clone(), conn.clone());
        let protocols = client_protocols(&conn, ctx.config.pace, rng.next());
        let caps = protocols.iter().map(Protocol::cap).collect();
        let hello = Hello::new(name.clone(), caps, key.public_key().to_bytes());
        let peer = t.protocol_handshake(&hello).and_then(|theirs| {
            t.into_peer(
                &theirs,
                &protocols,
                ConnFlags::DYN_DIALED,
                peer_config.clone(),
            )
        });
        let peer = match peer {
            Ok(peer) => peer,
            Err(e) => {
                shared.handshake_failures.fetch_add(1, SeqCst);
                *shared
                    .failed
                    .lock()
                    .entry(format!("hello: {e}"))
                    .or_default() += 1;
                thread::sleep(rng.around(Duration::from_millis(50)));
                continue;
            }
        };
        shared.connections.fetch_add(1, SeqCst);
        shared.live.lock().insert(name.clone(), peer.clone());
        // Stopping already: disconnect it at once. `Peer::disconnect` waits for `run` to
        // take the request, so it is called from another thread.
        let late = shared.stop.load(SeqCst).then(|| {
            let (conn, peer) = (conn.clone(), peer.clone());
            thread::spawn(move || initiate(&conn, &conn.client, &peer))
        });
        let (remote_requested, err) = peer.run();
        if let Some(t) = late {
            t.join().expect("disconnect thread");
        }
        shared.live.lock().remove(&name);
        *conn.client.ended.lock() = Some(Ended {
            remote_requested: Some(remote_requested),
            reason: err.disc_reason(),
            text: err.to_string(),
        });
        thread::sleep(rng.around(Duration::from_millis(50)));
    }
}

/// Picks a running connection at random and disconnects it from a random side.
fn disconnect_one(shared: &Shared, servers: &[Server; 2], rng: &mut Rng) -> bool {
    let pick = {
        let live = shared.live.lock();
        if live.is_empty() {
            return false;
        }
        let k = rng.below(live.len() as u64) as usize;
        live.iter().nth(k).map(|(n, p)| (n.clone(), p.clone()))
    };
    let Some((name, client_peer)) = pick else {
        return false;
    };
    let Some(conn) = shared.conns.lock().get(&name).cloned() else {
        return false;
    };
    if rng.below(2) == 0 {
        return initiate(&conn, &conn.client, &client_peer);
    }
    let server_peer = servers[conn.server_index]
        .peers()
        .into_iter()
        .find(|p| p.name() == name);
    match server_peer {
        Some(p) => initiate(&conn, &conn.server, &p),
        None => false,
    }
}

/// Runs the soak and checks it; the report's `failures` lists what did not hold.
pub fn run(config: SoakConfig) -> Report {
    let start = Instant::now();
    let mut report = Report::default();
    let (threads_before, fds_before) = (threads(), fds());
    let shared = Arc::new(Shared::default());

    let servers: [Server; 2] = [0, 1].map(|_| {
        let mut sc = ServerConfig::new(SecretKey::random());
        sc.name = "soak-server".into();
        sc.protocols = server_protocols(&shared, config.pace);
        sc.max_peers = config.clients * 2 + 10;
        sc.max_pending_peers = config.clients + 10;
        sc.listen_addr = Some("127.0.0.1:0".parse().unwrap());
        sc.no_dial = true;
        sc.stack_size = Some(STACK);
        sc.ping_interval = config.ping_interval;
        Server::new(sc)
    });
    let events: Vec<_> = servers.iter().map(Server::subscribe_events).collect();
    for s in &servers {
        s.start().expect("server starts");
    }
    // Server side: a peer's end is known from its `drop` event.
    let events_done = Arc::new(AtomicBool::new(false));
    let event_threads: Vec<_> = events
        .into_iter()
        .map(|rx| {
            let (shared, done) = (shared.clone(), events_done.clone());
            thread::spawn(move || loop {
                match rx.recv_timeout(Duration::from_millis(50)) {
                    Ok(ev) if ev.kind == PeerEventType::Drop => {
                        let key = (ev.peer, ev.remote_address);
                        let name = shared
                            .addr_names
                            .lock()
                            .get_mut(&key)
                            .and_then(|q| q.pop_front());
                        let conn = name.and_then(|n| shared.conns.lock().get(&n).cloned());
                        if let Some(conn) = conn {
                            let text = ev.error.unwrap_or_default();
                            let reason =
                                (text == "disconnect requested").then_some(DiscReason::REQUESTED);
                            *conn.server.ended.lock() = Some(Ended {
                                remote_requested: None,
                                reason,
                                text,
                            });
                        }
                    }
                    Ok(_) => {}
                    Err(_) if done.load(SeqCst) => return,
                    Err(_) => {}
                }
            })
        })
        .collect();

    let ctx = Arc::new(ClientCtx {
        shared: shared.clone(),
        servers: [0, 1].map(|k| (servers[k].local_addr().unwrap(), servers[k].public_key())),
        config: config.clone(),
    });
    let clients: Vec<_> = (0..config.clients)
        .map(|i| {
            let ctx = ctx.clone();
            thread::Builder::new()
                .name(format!("soak-client-{i}"))
                .stack_size(STACK)
                .spawn(move || client_loop(i, ctx))
                .expect("spawn client")
        })
        .collect();

    // Random disconnects until the time is up; memory and threads sampled once a second.
    let mut rng = Rng::new(42);
    let mut next_sample = Instant::now();
    let mut peak_threads = 0;
    while start.elapsed() < config.duration {
        if Instant::now() >= next_sample {
            report.rss_kib.push(rss_kib());
            peak_threads = peak_threads.max(threads());
            next_sample += Duration::from_secs(1);
        }
        if disconnect_one(&shared, &servers, &mut rng) {
            report.initiated_disconnects += 1;
        }
        thread::sleep(rng.around(config.disconnect_every));
    }

    // The end: no more dials; every running connection is disconnected by its client.
    shared.stop.store(true, SeqCst);
    let live: Vec<_> = shared
        .live
        .lock()
        .iter()
        .map(|(n, p)| (n.clone(), p.clone()))
        .collect();
    for (name, peer) in live {
        let conn = shared.conns.lock().get(&name).cloned();
        if let Some(conn) = conn {
            if initiate(&conn, &conn.client, &peer) {
                report.initiated_disconnects += 1;
            }
        }
    }
    for c in clients {
        c.join().expect("client thread");
    }
    for s in &servers {
        if !wait_until(Duration::from_secs(30), || s.peer_count() == 0) {
            report
                .failures
                .push(format!("server still has {} peers", s.peer_count()));
        }
        s.stop();
    }
    let all_dropped = wait_until(Duration::from_secs(30), || {
        shared
            .conns
            .lock()
            .values()
            .all(|c| !c.server_registered.load(SeqCst) || c.server.ended.lock().is_some())
    });
    if !all_dropped {
        report
            .failures
            .push("a server-side peer never reported its end".into());
    }
    events_done.store(true, SeqCst);
    for t in event_threads {
        t.join().expect("event thread");
    }
    drop(servers);
    drop(ctx);

    check(&shared, &mut report);
    report.connections = shared.connections.load(SeqCst);
    report.dial_failures = shared.dial_failures.load(SeqCst);
    report.handshake_failures = shared.handshake_failures.load(SeqCst);
    report
        .ends
        .extend(std::mem::take(&mut *shared.failed.lock()));
    drop(shared);

    // Threads and descriptors: back to the start (threads exit just after being joined).
    wait_until(Duration::from_secs(30), || {
        threads() <= threads_before && fds() <= fds_before
    });
    report.threads = (threads_before, threads(), peak_threads);
    report.fds = (fds_before, fds());
    if report.threads.1 > threads_before {
        report.failures.push(format!(
            "threads: {} before, {} after",
            threads_before, report.threads.1
        ));
    }
    if report.fds.1 > fds_before {
        report.failures.push(format!(
            "file descriptors: {} before, {} after",
            fds_before, report.fds.1
        ));
    }
    let (first, second) = report.rss_halves();
    if second > first + first / 2 + 64 * 1024 {
        report.failures.push(format!(
            "memory grew: {first} KiB in the first half, {second} KiB in the second"
        ));
    }
    report.elapsed = start.elapsed();
    report
}

/// Checks every connection's streams (see the module docs).
fn check(shared: &Shared, report: &mut Report) {
    let conns = shared.conns.lock();
    for (name, conn) in conns.iter() {
        for side in [&conn.client, &conn.server] {
            if let Some(e) = &*side.ended.lock() {
                *report.ends.entry(e.text.clone()).or_default() += 1;
            }
        }
        for (side, other, what) in [
            (&conn.client, &conn.server, "client -> server"),
            (&conn.server, &conn.client, "server -> client"),
        ] {
            for (p, (proto, _)) in PROTOCOLS.iter().enumerate() {
                let (out, inn) = (&side.streams[p], &other.streams[p]);
                report.messages_written += out.acked.load(SeqCst);
                let received = inn.received.load(SeqCst);
                report.messages_read += received;
                if inn.bad.load(SeqCst) > 0 {
                    report.failures.push(format!(
                        "{name} {what} {proto}: {} messages out of order or duplicated",
                        inn.bad.load(SeqCst)
                    ));
                }
                if received > out.attempted.load(SeqCst) {
                    report.failures.push(format!(
                        "{name} {what} {proto}: {received} read, only {} written",
                        out.attempted.load(SeqCst)
                    ));
                }
            }
            // Messages sent before a clean disconnect arrived.
            let Some(acked) = *side.initiated.lock() else {
                continue;
            };
            let clean = other.ended.lock().as_ref().is_some_and(|e| {
                e.reason == Some(DiscReason::REQUESTED) && e.remote_requested != Some(false)
            });
            if !clean {
                continue;
            }
            report.clean_disconnects += 1;
            for (p, &sent) in acked.iter().enumerate() {
                let got = other.streams[p].received.load(SeqCst);
                if got < sent {
                    report.failures.push(format!(
                        "{name} {what} {}: {sent} written before the disconnect, {got} arrived",
                        PROTOCOLS[p].0
                    ));
                }
            }
        }
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mut config = SoakConfig::default();
    if let Some(secs) = args.next() {
        config.duration = Duration::from_secs_f64(secs.parse().expect("SECONDS is a number"));
    }
    if let Some(clients) = args.next() {
        config.clients = clients.parse().expect("CLIENTS is a number");
    }
    println!(
        "soak: {} clients, two servers on 127.0.0.1, {:?}",
        config.clients, config.duration
    );
    let report = run(config);
    let (first, second) = report.rss_halves();
    println!(
        "connections {}, dial failures {}, handshake failures {}",
        report.connections, report.dial_failures, report.handshake_failures
    );
    println!(
        "disconnects initiated {}, clean (every earlier message checked) {}",
        report.initiated_disconnects, report.clean_disconnects
    );
    println!(
        "messages written {}, read {}",
        report.messages_written, report.messages_read
    );
    println!(
        "threads {} before, {} after, {} at most; fds {} before, {} after",
        report.threads.0, report.threads.1, report.threads.2, report.fds.0, report.fds.1
    );
    println!(
        "VmRSS max {first} KiB (first half), {second} KiB (second half); took {:?}",
        report.elapsed
    );
    for (text, n) in &report.ends {
        println!("  {n:6} × {text}");
    }
    if report.failures.is_empty() {
        println!("ok");
    } else {
        for f in report.failures.iter().take(50) {
            println!("FAIL {f}");
        }
        println!("{} failures", report.failures.len());
        std::process::exit(1);
    }
}
