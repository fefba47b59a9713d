//! No peer leaves a thread behind. One test in its own process, so that the thread count of
//! the process is not disturbed by other tests.

mod common;

use common::*;
use devp2p_peer::*;

#[test]
fn peers_leave_no_threads() {
    let start = thread_count();

    // One peer: after run returns, every thread it started is gone.
    let tp = test_peer(vec![discard_protocol(), discard_protocol()]);
    assert!(
        thread_count() > start,
        "the peer's threads should be running"
    );
    tp.peer.disconnect(DiscReason::REQUESTED);
    tp.result(secs(5));
    // The `test-run` thread that called run() has sent its result; wait for it to exit too.
    wait_for_threads(start);

    // A thousand peers created and torn down, ending in various ways.
    for i in 0..1000u32 {
        let tp = test_peer(vec![discard_protocol()]);
        match i % 3 {
            0 => tp.peer.disconnect(DiscReason::QUITTING),
            1 => tp.close(),
            _ => {
                let remote = tp.remote.clone();
                let _ = within(secs(5), move || send_items(&*remote, 99, &[]));
            }
        }
        tp.result(secs(5));
    }
    wait_for_threads(start);
}

/// Waits until the process is back to `n` threads: a thread that has delivered its last
/// message still needs a moment to exit. Bounded; fails with the count seen.
fn wait_for_threads(n: usize) {
    let deadline = std::time::Instant::now() + secs(10);
    loop {
        let now = thread_count();
        if now <= n {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{now} threads left, started with {n}"
        );
        std::thread::yield_now();
    }
}
