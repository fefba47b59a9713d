//! 200 clients dial a server with `max_peers` 50 at once: exactly 50 become peers, every
//! other one is told "too many peers". In its own process (it starts several hundred
//! threads).
#![cfg(feature = "rlpx")]

mod server_common;

use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

use devp2p_peer::rlpx::SecretKey;
use devp2p_peer::*;
use server_common::*;

#[derive(Debug, PartialEq, Eq, Clone, Copy)]
enum Outcome {
    Accepted,
    Refused(DiscReason),
}

#[test]
fn two_hundred_dials_to_fifty_slots() {
    const DIALERS: usize = 200;
    let mut config = test_config("srv", vec![greeter()]);
    config.max_peers = 50;
    config.no_dial = true; // all 50 slots may be inbound
    config.max_pending_peers = DIALERS; // every handshake runs at once
    config.handshake_timeout = Duration::from_secs(20);
    let server = Arc::new(started(config));

    let keys: Vec<SecretKey> = (0..DIALERS).map(|_| SecretKey::random()).collect();
    let barrier = Arc::new(Barrier::new(DIALERS));
    let (tx, rx) = crossbeam_channel::unbounded();
    let mut handles = Vec::new();
    for key in keys {
        let (server, barrier, tx) = (server.clone(), barrier.clone(), tx.clone());
        handles.push(
            thread::Builder::new()
                .stack_size(256 * 1024)
                .spawn(move || {
                    barrier.wait();
                    let outcome = match client_connect(&server, &key, vec![Cap::new("greet", 1)]) {
                        Err(e) => (
                            Outcome::Refused(
                                e.disc_reason()
                                    .unwrap_or_else(|| panic!("dial failed without a reason: {e}")),
                            ),
                            None,
                        ),
                        // Checked again after the Hello: a Disconnect, or the greeting.
                        Ok((t, _)) => match next_disc(&t) {
                            Some(reason) => (Outcome::Refused(reason), None),
                            None => (Outcome::Accepted, Some(t)),
                        },
                    };
                    // An accepted connection stays open (with the receiver) until the count
                    // is taken.
                    tx.send(outcome).unwrap();
                })
                .unwrap(),
        );
    }
    drop(tx);
    let (outcomes, _open): (Vec<Outcome>, Vec<_>) = (0..DIALERS)
        .map(|_| {
            rx.recv_timeout(Duration::from_secs(60))
                .expect("a dialer hung")
        })
        .unzip();
    let accepted = outcomes.iter().filter(|o| **o == Outcome::Accepted).count();
    let refused = outcomes
        .iter()
        .filter(|o| **o == Outcome::Refused(DiscReason::TOO_MANY_PEERS))
        .count();
    assert_eq!((accepted, refused), (50, 150), "{outcomes:?}");
    assert_eq!(server.peer_count(), 50);
    for h in handles {
        h.join().unwrap();
    }
    server.stop();
    assert_eq!(server.peer_count(), 0);
}
