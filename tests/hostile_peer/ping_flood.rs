//! A remote that floods Pings and never reads our Pongs.

use std::net::TcpStream;
use std::thread;
use std::time::Duration;

use devp2p_peer::rlpx::{RlpxTransport, SecretKey, Timeouts};
use devp2p_peer::{send_items, Hello, PING_MSG};

use crate::support::*;

// Issue: the pinger's periodic Ping lost to an always-ready Pong request and failed Pong
// writes were ignored, so such a remote held its slot (and four threads) for ever. Now the
// Pong (or Ping) write fails at the write deadline (20 s) and the peer is dropped. (Filling
// the socket buffers first takes most of the time in a debug build.)
#[test]
fn ping_flood_without_reading_is_dropped() {
    let _g = serial();
    let mut config = test_config("server", vec![discard()]);
    config.ping_interval = Duration::from_millis(100);
    let server = started(config);
    let before = Usage::now();

    // The attacker's own writes never time out: it keeps the flood going whatever happens.
    let key = SecretKey::random();
    let stream = TcpStream::connect(server.local_addr().unwrap()).unwrap();
    let timeouts = Timeouts {
        write: Duration::from_secs(600),
        ..Timeouts::default()
    };
    let t = RlpxTransport::handshake_with(stream, &key, Some(&server.public_key()), timeouts)
        .expect("encryption handshake");
    let hello = Hello::new(
        "flooder",
        vec![discard().cap()],
        key.public_key().to_bytes(),
    );
    t.protocol_handshake(&hello).expect("protocol handshake");
    wait_until("the peer to be added", Duration::from_secs(10), || {
        server.peer_count() == 1
    });
    // Flood until the server cuts us off (a write fails), never reading.
    let flooder = thread::spawn(move || {
        let mut sent = 0u64;
        while send_items(&t, PING_MSG, &[]).is_ok() {
            sent += 1;
        }
        sent
    });
    wait_until(
        "the flooding peer to be dropped",
        Duration::from_secs(120),
        || server.peer_count() == 0,
    );
    let sent = flooder.join().unwrap();
    assert!(sent > 0);
    server.stop();
    drop(server);
    before.wait_back(Duration::from_secs(10));
}
