//! Hellos that go-ethereum's strict RLP decoding rejects or accepts, sent by a real RLPx peer.

use std::time::Duration;

use devp2p_peer::rlpx::SecretKey;
use devp2p_peer::*;

use crate::support::*;

fn eth68_server() -> Server {
    let eth = Protocol::new("eth", 68, 17, |_peer, rw| loop {
        rw.read_msg()?.discard()?;
    });
    started(test_config("server", vec![eth]))
}

/// A Hello from `key` with `caps`, each cap given as its raw RLP.
fn hello(key: &SecretKey, caps: &[Vec<u8>]) -> Vec<u8> {
    let mut s = rlp::RlpStream::new_list(5);
    s.append(&5u64).append(&"hostile");
    s.begin_list(caps.len());
    for cap in caps {
        s.append_raw(cap, 1);
    }
    s.append(&0u64)
        .append(&key.public_key().to_bytes().to_vec());
    s.out().to_vec()
}

fn cap(name: &[u8], version: u64) -> Vec<u8> {
    let mut s = rlp::RlpStream::new_list(2);
    s.append(&name).append(&version);
    s.out().to_vec()
}

// `[[0x65,0x74,0x68],68]` once read as eth/68 and the server took the peer. Now the Hello
// fails to decode and the server closes the connection, sending nothing more.
#[test]
fn list_as_cap_name_is_refused() {
    let _g = serial();
    let before = usage();
    let server = eth68_server();
    let (mut conn, key) = raw_handshake(&server);
    let mut list_name = rlp::RlpStream::new_list(2);
    list_name
        .begin_list(3)
        .append(&0x65u8)
        .append(&0x74u8)
        .append(&0x68u8);
    list_name.append(&68u64);
    conn.write_msg(HANDSHAKE_MSG, &hello(&key, &[list_name.out().to_vec()]))
        .unwrap();
    assert_eq!(
        conn.read_msg().expect("the server's Hello").code,
        HANDSHAKE_MSG
    );
    match conn.read_msg() {
        Ok(msg) => panic!("the server kept the connection: got code {}", msg.code),
        Err(e) => assert!(!e.is_timeout(), "the server kept the connection: {e}"),
    }
    assert_eq!(server.peer_count(), 0);
    drop(conn);
    server.stop();
    back(before);
}

// A cap version above u32::MAX made the whole Hello undecodable, so the peer was dropped
// even though it also offered eth/68. Now the server takes it on eth/68.
#[test]
fn cap_version_above_u32_is_skipped_not_fatal() {
    let _g = serial();
    let before = usage();
    let server = eth68_server();
    let (mut conn, key) = raw_handshake(&server);
    let caps = [cap(b"eth", 1 << 32), cap(b"eth", 68)];
    conn.write_msg(HANDSHAKE_MSG, &hello(&key, &caps)).unwrap();
    assert_eq!(
        conn.read_msg().expect("the server's Hello").code,
        HANDSHAKE_MSG
    );
    wait_until("the peer to be added", Duration::from_secs(20), || {
        server.peer_count() == 1
    });
    let peers = server.peers();
    assert!(peers[0].running_cap("eth", &[68]));
    assert_eq!(peers[0].caps(), vec![Cap::new("eth", 68)]);
    drop(peers); // a peer handle holds its connection
    drop(conn);
    wait_until("the peer to leave", Duration::from_secs(20), || {
        server.peer_count() == 0
    });
    server.stop();
    back(before);
}

/// Threads and descriptors of the process, leaving out the test harness's threads (named
/// after their tests, `module::test`): a test waiting on `serial()` may start after a
/// count was taken, and is not this test's to give back.
fn usage() -> Usage {
    let threads = std::fs::read_dir("/proc/self/task")
        .expect("read /proc/self/task")
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .filter(|name| !name.contains("::"))
        .count();
    Usage {
        threads,
        fds: fd_count(),
    }
}

/// Waits (bounded) until threads and descriptors are back to `before`.
fn back(before: Usage) {
    wait_until(
        "threads and descriptors back",
        Duration::from_secs(20),
        || {
            let now = usage();
            now.threads <= before.threads && now.fds <= before.fds
        },
    );
}
