//! Memory goes back to the system after peers leave: the server's run loop trims the
//! allocator (glibc keeps freed memory otherwise). In its own process, as it measures the
//! process's resident memory.
#![cfg(all(feature = "rlpx", target_os = "linux"))]

mod server_common;

use std::time::Duration;

use devp2p_peer::rlpx::SecretKey;
use devp2p_peer::*;
use server_common::*;

/// Peers that connect and leave.
const PEERS: usize = 300;
/// How much of what the peers took (peak less baseline) may stay resident once they have
/// left, in percent. Measured: about 13 % with the trim (glibc keeps some free memory at
/// the top of each of its arenas, which `malloc_trim` does not release), about 36 % without.
const KEPT_PERCENT: u64 = 20;

/// The process's resident memory, in KiB.
fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS line")
}

#[test]
fn resident_memory_returns_after_peers_leave() {
    let mut config = test_config("srv", vec![discard()]);
    config.max_peers = PEERS + 10;
    config.no_dial = true;
    config.handshake_timeout = Duration::from_secs(20);
    let server = started(config);
    // One peer first, so the baseline includes what any first connection sets up once
    // (key tables, thread-local state).
    let key = SecretKey::random();
    let first = client_connect(&server, &key, vec![Cap::new("discard", 1)]).unwrap();
    wait_until("the first peer", Duration::from_secs(30), || {
        server.peer_count() == 1
    });
    drop(first);
    wait_until("the first peer gone", Duration::from_secs(30), || {
        server.peer_count() == 0
    });
    let baseline = rss_kib();

    let mut clients = Vec::new();
    for _ in 0..PEERS {
        let key = SecretKey::random();
        clients.push(client_connect(&server, &key, vec![Cap::new("discard", 1)]).unwrap());
    }
    wait_until("all peers", Duration::from_secs(60), || {
        server.peer_count() == PEERS
    });
    let peak = rss_kib();
    drop(clients);
    wait_until("all peers gone", Duration::from_secs(60), || {
        server.peer_count() == 0
    });
    let limit = baseline + (peak.saturating_sub(baseline)) * KEPT_PERCENT / 100;
    let mut last = 0;
    // The trim comes from the server's run loop once the last peer has left: poll for it.
    let back = (0..600).any(|_| {
        last = rss_kib();
        if last <= limit {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
        false
    });
    eprintln!("RSS baseline {baseline} KiB, with {PEERS} peers {peak} KiB, after {last} KiB");
    assert!(
        back,
        "resident memory stayed at {last} KiB, above {limit} KiB: baseline {baseline} KiB, \
         peak {peak} KiB"
    );
    server.stop();
}
