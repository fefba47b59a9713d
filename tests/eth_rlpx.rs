//! The eth Status handshake over RLPx on loopback, against a remote that misbehaves at the
//! message level: it never sends its Status, or sends one over 10 MiB.
#![cfg(feature = "rlpx")]

use std::net::{TcpListener, TcpStream};
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver};
use devp2p_peer::eth::{self, Chain, ForkFilter, HandshakeError, Status, Status69};
use devp2p_peer::rlpx::{RlpxTransport, SecretKey};
use devp2p_peer::{
    Cap, ConnFlags, DiscReason, Error, Hello, Msg, MsgReader, MsgWriter, PeerConfig, DISC_MSG,
};

type Outcome = Result<Status, HandshakeError>;

/// The tests count this process's threads: one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

/// The test harness names each test's thread after the test (cut to 15 bytes by the
/// kernel); those come and go with the tests, so only the others are counted.
const TEST_NAMES: [&str; 2] = [
    "silent_remote_gets_read_timeout_after_5s",
    "status_over_10_mib_over_rlpx",
];

/// This process's threads, less the test harness's own.
fn thread_count() -> usize {
    std::fs::read_dir("/proc/self/task")
        .expect("read /proc/self/task")
        .filter_map(|e| std::fs::read_to_string(e.ok()?.path().join("comm")).ok())
        .filter(|comm| {
            let comm = comm.trim_end();
            comm.is_empty() || !TEST_NAMES.iter().any(|t| t.starts_with(comm))
        })
        .count()
}

/// Waits (up to 10 s) for the thread count to be back at `baseline`.
fn threads_back_to(baseline: usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while thread_count() > baseline {
        assert!(
            Instant::now() < deadline,
            "threads: {} now, {baseline} before",
            thread_count()
        );
        thread::sleep(Duration::from_millis(10));
    }
}

/// A node on 127.0.0.1 that accepts one connection and runs the eth/69 handshake on it
/// (mainnet, genesis). Returns the remote end (after Hellos), the handshake's outcome and
/// what the node's `Peer::run` returned.
fn connect() -> (
    RlpxTransport,
    Receiver<Outcome>,
    thread::JoinHandle<(bool, Error)>,
) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let key = SecretKey::random();
    let node_pub = key.public_key();
    let (tx, rx) = bounded(1);
    let node = thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let t = RlpxTransport::handshake(stream, &key, None).unwrap();
        let ours = Hello::new(
            "eth-node",
            vec![Cap::new("eth", 69)],
            key.public_key().to_bytes(),
        );
        let theirs = t.protocol_handshake(&ours).unwrap();
        let proto = eth::protocol(69, move |peer, rw| {
            let chain = Chain::mainnet();
            let status = Status::new(69, &chain, 0, 0).unwrap();
            let res = eth::handshake(&peer, &rw, &status, &ForkFilter::new(&chain, 0, 0));
            let _ = tx.send(res.clone());
            res?;
            Ok(())
        });
        let peer = t
            .into_peer(&theirs, &[proto], ConnFlags::INBOUND, PeerConfig::default())
            .unwrap();
        peer.run()
    });
    let ckey = SecretKey::random();
    let stream = TcpStream::connect(addr).unwrap();
    let remote = RlpxTransport::handshake(stream, &ckey, Some(&node_pub)).unwrap();
    let hello = Hello::new(
        "hostile",
        vec![Cap::new("eth", 69)],
        ckey.public_key().to_bytes(),
    );
    remote.protocol_handshake(&hello).unwrap();
    (remote, rx, node)
}

/// Reads until a Disconnect and returns its reason (Pings are skipped).
fn disconnect_reason(remote: &RlpxTransport) -> DiscReason {
    loop {
        let mut msg = remote.read_msg().expect("a Disconnect before the end");
        if msg.code == DISC_MSG {
            return DiscReason::decode(msg.payload.consume());
        }
    }
}

#[test]
fn silent_remote_gets_read_timeout_after_5s() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let baseline = thread_count();
    let (remote, rx, node) = connect();
    let mut ours = remote.read_msg().unwrap();
    assert_eq!(ours.code, 16);
    assert_eq!(
        Status69::decode(ours.payload.consume()).unwrap(),
        Status69::new(&Chain::mainnet(), 0, 0)
    );
    // go-ethereum's 5 s: we wait for the node to give up (the read below is bounded by the
    // transport's read timeout, far longer).
    assert_eq!(disconnect_reason(&remote), DiscReason::READ_TIMEOUT);
    let outcome = rx.recv_timeout(Duration::from_secs(30)).unwrap();
    assert!(
        matches!(outcome, Err(HandshakeError::Timeout)),
        "{outcome:?}"
    );
    let (_, err) = node.join().unwrap();
    assert_eq!(err.disc_reason(), Some(DiscReason::READ_TIMEOUT));
    // Every thread of the node (its peer's, the handshake's) is gone.
    drop(remote);
    threads_back_to(baseline);
}

#[test]
fn status_over_10_mib_over_rlpx() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let baseline = thread_count();
    let (remote, rx, node) = connect();
    let mut payload = Status69::new(&Chain::mainnet(), 0, 0).encode();
    payload.resize(eth::MAX_MESSAGE_SIZE as usize + 1, 0);
    let writer = thread::spawn(move || {
        remote.write_msg(Msg::new(16, payload)).unwrap();
        remote
    });
    let outcome = rx.recv_timeout(Duration::from_secs(60)).unwrap();
    assert_eq!(
        outcome.unwrap_err().to_string(),
        "message too long: 10485761 > 10485760"
    );
    let remote = writer.join().unwrap();
    let mut ours = remote.read_msg().unwrap();
    assert_eq!(ours.code, 16);
    ours.discard().unwrap();
    assert_eq!(disconnect_reason(&remote), DiscReason::SUBPROTOCOL_ERROR);
    let (_, err) = node.join().unwrap();
    assert_eq!(err.to_string(), "message too long: 10485761 > 10485760");
    drop(remote);
    threads_back_to(baseline);
}
