//! `stop` joins the service's threads (alone in its binary so the thread count is ours).
#![cfg(feature = "discovery")]

use devp2p_peer::discover::{Config, Discovery};
use devp2p_peer::rlpx::SecretKey;

/// Names of this process's threads that belong to discovery.
fn disc_threads() -> Vec<String> {
    std::fs::read_dir("/proc/self/task")
        .map(|d| {
            d.filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
                .map(|s| s.trim().to_string())
                .filter(|s| s.starts_with("disc-"))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn stop_and_drop_join_both_threads() {
    if std::fs::metadata("/proc/self/task").is_err() {
        return; // not Linux: nothing to count with
    }
    assert!(disc_threads().is_empty());
    let boot = Discovery::start(SecretKey::random(), Config::loopback()).unwrap();
    let cfg = Config {
        bootnodes: vec![boot.local_node()],
        ..Config::loopback()
    };
    let node = Discovery::start(SecretKey::random(), cfg).unwrap();
    // A thread names itself once it runs: poll, bounded.
    let end = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let mut names = disc_threads();
        names.sort();
        if names == ["disc-read", "disc-read", "disc-table", "disc-table"] {
            break;
        }
        assert!(std::time::Instant::now() < end, "threads: {names:?}");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    // Busy with a lookup when stopped.
    let target = node.local_node().enode.pubkey.to_bytes();
    let _ = node.lookup(&target);
    node.stop();
    drop(boot);
    // Joined threads leave /proc/self/task a moment after the join returns: poll, bounded.
    let end = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !disc_threads().is_empty() {
        assert!(std::time::Instant::now() < end, "{:?}", disc_threads());
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}
