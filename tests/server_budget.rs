//! 5,000 connection attempts against `max_peers` 100,000 and the thread budget computed
//! from the machine: the process stays alive, every connection past the budget is refused
//! with "too many peers" (logged once, and its recovery once), and once the clients have
//! gone the threads and descriptors are back. In its own process: it starts as many threads as the budget allows (about 12,000
//! on a machine with `vm.max_map_count` 65,530).
//!
//! One client thread connects, completes the handshake and Hello, and holds each accepted
//! connection; a raw RLPx connection costs it one descriptor (the server's peer takes three).
#![cfg(feature = "rlpx")]

mod server_common;

use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use devp2p_peer::rlpx::{Conn, PublicKey, SecretKey};
use devp2p_peer::*;
use server_common::*;

const ATTEMPTS: usize = 5_000;
/// One protocol: supervisor, standby reader, control writer and the protocol (at worst).
const THREADS_PER_PEER: usize = 4;
const LIMIT: Duration = Duration::from_secs(120);

/// Counts the server's log lines about the budget.
struct BudgetLog {
    reached: AtomicUsize,
    recovered: AtomicUsize,
}

impl log::Log for BudgetLog {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &log::Record<'_>) {
        let text = record.args().to_string();
        if record.level() == log::Level::Warn && text.starts_with("thread budget reached") {
            self.reached.fetch_add(1, Ordering::SeqCst);
        }
        if text.starts_with("thread budget recovered") {
            self.recovered.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn flush(&self) {}
}

static LOG: BudgetLog = BudgetLog {
    reached: AtomicUsize::new(0),
    recovered: AtomicUsize::new(0),
};

fn fd_count() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// The soft limit on open descriptors (`ulimit -n`).
fn fd_limit() -> usize {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    line["Max open files".len()..]
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

/// Connects, runs the encryption handshake and the Hello exchange, and waits for the
/// greeting (accepted: the connection is returned) or a Disconnect (its reason).
fn attempt(addr: SocketAddr, server: &PublicKey) -> Result<Conn<TcpStream>, DiscReason> {
    let key = SecretKey::random();
    let stream = TcpStream::connect(addr).expect("connect");
    let mut conn = Conn::new(stream, Some(*server));
    conn.handshake(&key).expect("encryption handshake");
    let hello = Hello::new(
        "client",
        vec![Cap::new("greet", 1)],
        key.public_key().to_bytes(),
    );
    conn.write_msg(HANDSHAKE_MSG, &rlp::encode(&hello))
        .expect("write hello");
    let first = conn.read_msg().expect("read the server's hello");
    match first.code {
        HANDSHAKE_MSG => {}
        DISC_MSG => return Err(DiscReason::decode(first.data)),
        code => panic!("unexpected message {code} before the hello"),
    }
    conn.set_snappy(true);
    loop {
        let msg = conn.read_msg().expect("read");
        match msg.code {
            DISC_MSG => return Err(DiscReason::decode(msg.data)),
            code if code >= BASE_PROTOCOL_LENGTH => break,
            _ => {} // a ping
        }
    }
    Ok(conn)
}

#[test]
fn five_thousand_attempts_against_max_peers_100000() {
    log::set_logger(&LOG).unwrap();
    log::set_max_level(log::LevelFilter::Info);
    let initial = (thread_count(), fd_count());
    let mut config = test_config("srv", vec![greeter()]);
    config.max_peers = 100_000;
    let server = started(config);
    let running = (thread_count(), fd_count());
    let budget = server.thread_budget();
    // Kept for handshakes: a pending slot each for accepting and for dialing.
    let reserve = 2 * DEFAULT_MAX_PENDING_PEERS;
    let fit = (budget.saturating_sub(reserve) / THREADS_PER_PEER).min(ATTEMPTS);
    // Each accepted connection holds one descriptor here and three in the server.
    let fds_needed = running.1 + 4 * fit + 64;
    assert!(
        fd_limit() >= fds_needed,
        "this test needs `ulimit -n {fds_needed}` or more for {fit} peers"
    );
    let addr = server.local_addr().unwrap();
    let key = server.public_key();

    let start = Instant::now();
    let mut held: Vec<Conn<TcpStream>> = Vec::new();
    let mut refused = 0;
    let mut last_keepalive = Instant::now();
    for i in 0..ATTEMPTS {
        // Held peers that send nothing for 30 s are dropped by the server's read deadline,
        // which would free budget mid-test on a slow machine: a Ping now and then keeps
        // them alive (their Pongs pile up unread, a few bytes each).
        if last_keepalive.elapsed() > Duration::from_secs(5) {
            for conn in &mut held {
                conn.write_msg(PING_MSG, &[0xc0]).expect("keep-alive ping");
            }
            last_keepalive = Instant::now();
        }
        match attempt(addr, &key) {
            Ok(conn) => held.push(conn),
            Err(reason) => {
                assert_eq!(reason, DiscReason::TOO_MANY_PEERS, "attempt {i}");
                refused += 1;
            }
        }
    }
    let connecting = start.elapsed();
    let peak = (thread_count(), fd_count());
    println!(
        "budget {budget} threads: {} accepted, {refused} refused in {connecting:?}; \
         threads {} -> {}, fds {} -> {}",
        held.len(),
        running.0,
        peak.0,
        running.1,
        peak.1
    );
    // The process is alive, and exactly the peers that fit the budget got in.
    assert_eq!(held.len(), fit);
    assert_eq!(refused, ATTEMPTS - fit);
    assert_eq!(server.peer_count(), fit);
    // Each runs at least its supervisor and its protocol (the budget counts the worst case).
    assert!(peak.0 >= running.0 + fit * 2);
    // Logged once, however many were refused.
    let warned = usize::from(refused > 0);
    assert_eq!(LOG.reached.load(Ordering::SeqCst), warned);

    // The clients leave: every peer's threads and descriptors go, without a new connection.
    let start = Instant::now();
    drop(held);
    wait_until("peers gone", LIMIT, || server.peer_count() == 0);
    wait_until("threads and fds back", LIMIT, || {
        thread_count() <= running.0 && fd_count() <= running.1
    });
    println!("all gone in {:?}", start.elapsed());
    assert_eq!(LOG.recovered.load(Ordering::SeqCst), warned);
    // There is room again.
    let again = attempt(addr, &key).expect("accepted once the others left");
    drop(again);
    wait_until("peer gone", LIMIT, || server.peer_count() == 0);
    assert_eq!(LOG.reached.load(Ordering::SeqCst), warned);

    server.stop();
    drop(server);
    wait_until("threads and fds back after stop", LIMIT, || {
        thread_count() <= initial.0 && fd_count() <= initial.1
    });
}
