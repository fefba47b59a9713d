//! The 20-second soak (`examples/soak.rs`): 200 client nodes on two servers over RLPx on
//! 127.0.0.1, numbered messages on two protocols, random disconnects from either end and
//! re-dials. Every stream arrives in order without duplicates, every message written before a
//! clean disconnect arrives, and threads, descriptors and memory end where they started.
#![cfg(feature = "rlpx")]

use std::time::Duration;

#[allow(dead_code)]
#[path = "../examples/soak.rs"]
mod soak;

#[test]
fn soak_20s_200_peers_two_servers() {
    let config = soak::SoakConfig::default();
    let clients = config.clients;
    // A guard against hangs (the run itself takes about 20 s plus teardown).
    let limit = config.duration + Duration::from_secs(180);
    let (tx, rx) = crossbeam_channel::bounded(1);
    std::thread::spawn(move || {
        let _ = tx.send(soak::run(config));
    });
    let report = rx
        .recv_timeout(limit)
        .unwrap_or_else(|_| panic!("the soak did not finish within {limit:?}"));
    println!("{report:#?}");
    assert!(report.failures.is_empty(), "{:#?}", report.failures);
    // The run did what it is for: many connections, most ending in a checked clean disconnect,
    // messages both ways.
    assert!(report.connections > clients, "{report:?}");
    assert!(report.clean_disconnects > clients / 2, "{report:?}");
    assert!(report.messages_read > 10 * clients as u64, "{report:?}");
}
