//! The thread budget: trusted peers do not pass it (they are refused with "too many peers",
//! never a thread that aborts the process), and the threads of connections that ended are
//! joined without waiting for another connection.

use std::time::Duration;

use devp2p_peer::rlpx::SecretKey;
use devp2p_peer::*;

use crate::support::*;

const LIMIT: Duration = Duration::from_secs(20);

/// Threads of this process whose name starts with one of `prefixes`. The process's whole
/// count also moves with the test harness's own threads, which come and go as the other
/// tests of this binary start and finish.
fn threads_named(prefixes: &[&str]) -> usize {
    std::fs::read_dir("/proc/self/task")
        .expect("read /proc/self/task")
        .filter_map(|e| std::fs::read_to_string(e.ok()?.path().join("comm")).ok())
        .filter(|c| prefixes.iter().any(|p| c.starts_with(p)))
        .count()
}

/// Threads the servers and their peers run.
const SERVER: &[&str] = &["server-", "peer-", "proto-"];
/// Threads of connections and peers (not the servers' own loops).
const CONNECTIONS: &[&str] = &["server-conn", "server-dial", "peer-", "proto-"];

/// Waits (bounded) until no thread named with `prefixes` runs and the descriptors are back
/// to `fds`.
fn wait_back(prefixes: &[&str], fds: usize) {
    let deadline = std::time::Instant::now() + LIMIT;
    while threads_named(prefixes) > 0 || fd_count() > fds {
        assert!(
            std::time::Instant::now() < deadline,
            "threads and fds not back to 0 and {fds}: {} and {}",
            threads_named(prefixes),
            fd_count()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The memory mappings of this process (a thread stack that was never joined keeps two).
fn map_count() -> usize {
    std::fs::read_to_string("/proc/self/maps")
        .expect("read /proc/self/maps")
        .lines()
        .count()
}

#[test]
fn trusted_peers_past_the_budget_are_refused() {
    let _g = serial();
    let fds = fd_count();
    // One protocol: 4 threads a peer. Two pending slots kept in reserve, 3 peers fit.
    let keys: Vec<SecretKey> = (0..5).map(|_| SecretKey::random()).collect();
    let mut config = test_config("budget", vec![discard()]);
    config.no_dial = true;
    config.max_pending_peers = 2;
    config.max_threads = Some(2 + 3 * 4);
    config.trusted_nodes = keys.iter().map(enode_of).collect();
    let server = started(config);
    assert_eq!(server.thread_budget(), 14);
    let events = server.subscribe_events();
    let caps = || vec![Cap::new("discard", 1)];

    let mut clients = Vec::new();
    for key in &keys[..3] {
        clients
            .push(client_connect(&server, key, caps()).expect("a trusted peer within the budget"));
        next_event(&events, PeerEventType::Add, LIMIT);
    }
    assert_eq!(server.peer_count(), 3);
    // Trusted, far below max_peers, but past the thread budget.
    for key in &keys[3..] {
        assert_eq!(
            rejection(&server, key, caps()),
            Some(DiscReason::TOO_MANY_PEERS)
        );
    }
    // So is anyone else.
    assert_eq!(
        rejection(&server, &SecretKey::random(), caps()),
        Some(DiscReason::TOO_MANY_PEERS)
    );
    assert_eq!(server.peer_count(), 3);

    // A peer leaves: its threads are free for the next one.
    drop(clients.pop());
    next_event(&events, PeerEventType::Drop, LIMIT);
    clients.push(client_connect(&server, &keys[3], caps()).expect("room again"));
    next_event(&events, PeerEventType::Add, LIMIT);
    assert_eq!(server.peer_count(), 3);

    drop(clients);
    wait_until("peers gone", LIMIT, || server.peer_count() == 0);
    server.stop();
    drop(server);
    drop(events);
    wait_back(SERVER, fds);
}

#[test]
fn ended_connection_threads_are_joined_without_a_new_connection() {
    let _g = serial();
    let fds = fd_count();
    let mut config = test_config("reaper", vec![discard()]);
    config.no_dial = true;
    config.max_peers = 100;
    let server = started(config);
    let running_fds = fd_count();
    let caps = || vec![Cap::new("discard", 1)];
    let round = |n: usize| {
        let clients: Vec<_> = (0..n)
            .map(|_| client_connect(&server, &SecretKey::random(), caps()).expect("connect"))
            .collect();
        wait_until("peers up", LIMIT, || server.peer_count() == n);
        drop(clients);
        wait_until("peers gone", LIMIT, || server.peer_count() == 0);
        wait_back(CONNECTIONS, running_fds);
    };
    // A first round fills the C library's cache of thread stacks and its heap arenas, which
    // stay mapped for the life of the process.
    round(10);
    let baseline = map_count();
    // 60 more peers come and go. Each connection thread, never joined, would keep its
    // stack and guard mapped: 120 mappings until the next connection arrives.
    round(60);
    let deadline = std::time::Instant::now() + LIMIT;
    while map_count() > baseline + 20 {
        assert!(
            std::time::Instant::now() < deadline,
            "connection threads not joined: {} mappings, {baseline} before",
            map_count()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    server.stop();
    drop(server);
    wait_back(SERVER, fds);
}
