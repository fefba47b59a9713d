//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::sync::Arc;
use std::thread;
use std::time::Duration;

use crossbeam_channel::{bounded, Receiver};
use devp2p_peer::{
    Cap, ConnInfo, Error, MemoryTransport, Msg, MsgReader, MsgWriter, NodeId, Peer, PeerConfig,
    Protocol, Transport,
};
use parking_lot::Mutex;

/// Runs `f` on a thread and returns its result, failing the test if it takes longer than
/// `limit` (a guard against hangs, not a timing assertion).
pub fn within<T: Send + 'static>(limit: Duration, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = bounded(1);
    thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(limit)
        .unwrap_or_else(|_| panic!("did not finish within {limit:?}"))
}

pub fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// A node ID with `i` in its first two bytes.
pub fn uint_id(i: u16) -> NodeId {
    let mut id = [0u8; 32];
    id[..2].copy_from_slice(&i.to_be_bytes());
    NodeId(id)
}

/// The local end of a test connection: closing it only closes the pipe (no Disconnect is
/// sent) and remembers the error it was closed with.
pub struct TestTransport {
    pub inner: MemoryTransport,
    pub closed_with: Mutex<Option<Error>>,
}

impl MsgReader for TestTransport {
    fn read_msg(&self) -> Result<Msg, Error> {
        self.inner.read_msg()
    }
}

impl MsgWriter for TestTransport {
    fn write_msg(&self, msg: Msg) -> Result<(), Error> {
        self.inner.write_msg(msg)
    }
}

impl Transport for TestTransport {
    fn shutdown(&self, err: &Error) {
        *self.closed_with.lock() = Some(err.clone());
        self.inner.close();
    }
}

/// A running test peer and the remote end of its connection.
pub struct TestPeer {
    /// The remote end: a raw transport, so message codes are absolute.
    pub remote: Arc<MemoryTransport>,
    pub peer: Peer,
    pub local: Arc<TestTransport>,
    /// Receives what `Peer::run` returned.
    pub errc: Receiver<(bool, Error)>,
}

impl TestPeer {
    /// Closes the remote end of the connection.
    pub fn close(&self) {
        self.remote.close();
    }

    /// What `run` returned, failing the test if it does not return within `limit`.
    pub fn result(&self, limit: Duration) -> (bool, Error) {
        self.errc
            .recv_timeout(limit)
            .unwrap_or_else(|_| panic!("Peer::run did not return within {limit:?}"))
    }
}

pub fn test_peer(protos: Vec<Protocol>) -> TestPeer {
    test_peer_with(protos, PeerConfig::default())
}

pub fn test_peer_with(protos: Vec<Protocol>, config: PeerConfig) -> TestPeer {
    let (local, remote) = MemoryTransport::pair();
    let caps: Vec<Cap> = protos.iter().map(Protocol::cap).collect();
    let local = Arc::new(TestTransport {
        inner: local,
        closed_with: Mutex::new(None),
    });
    let conn = ConnInfo {
        id: uint_id(1),
        name: "test".into(),
        caps,
        ..ConnInfo::default()
    };
    let peer = Peer::new(conn, local.clone(), &protos, config);
    let (tx, errc) = bounded(1);
    let p = peer.clone();
    thread::Builder::new()
        .name("test-run".into())
        .spawn(move || {
            let _ = tx.send(p.run());
        })
        .unwrap();
    TestPeer {
        remote: Arc::new(remote),
        peer,
        local,
        errc,
    }
}

/// A protocol that reads and drops messages until an error, which it returns.
pub fn discard_protocol() -> Protocol {
    Protocol::new("discard", 1, 1, |_peer, rw| loop {
        let mut msg = rw.read_msg()?;
        msg.discard()?;
    })
}

/// The number of threads of this process.
pub fn thread_count() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("Threads: line")
}

/// A connected loopback TCP pair (client, server), each end with 20 s read and write
/// timeouts so that a bug fails a test instead of hanging it.
pub fn tcp_pair() -> (std::net::TcpStream, std::net::TcpStream) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (server, _) = listener.accept().unwrap();
    for s in [&client, &server] {
        s.set_read_timeout(Some(secs(20))).unwrap();
        s.set_write_timeout(Some(secs(20))).unwrap();
    }
    (client, server)
}

/// Two RLPx connections over loopback after a completed handshake: (initiator, a raw clone
/// of the initiator's socket for writing bytes by hand, recipient).
#[cfg(feature = "rlpx")]
pub fn rlpx_conn_pair() -> (
    devp2p_peer::rlpx::Conn,
    std::net::TcpStream,
    devp2p_peer::rlpx::Conn,
) {
    use devp2p_peer::rlpx::{Conn, SecretKey};
    let (client, server) = tcp_pair();
    let raw = client.try_clone().unwrap();
    let (ka, kb) = (SecretKey::random(), SecretKey::random());
    let pub_b = kb.public_key();
    let recipient = thread::spawn(move || {
        let mut conn = Conn::new(server, None);
        conn.handshake(&kb).map(|_| conn)
    });
    let mut initiator = Conn::new(client, Some(pub_b));
    initiator.handshake(&ka).unwrap();
    (initiator, raw, recipient.join().unwrap().unwrap())
}

/// Two RLPx transports over loopback after a completed encryption handshake (no Hello yet):
/// (initiator, its key, recipient, its key).
#[cfg(feature = "rlpx")]
pub fn rlpx_transport_pair() -> (
    devp2p_peer::rlpx::RlpxTransport,
    devp2p_peer::rlpx::SecretKey,
    devp2p_peer::rlpx::RlpxTransport,
    devp2p_peer::rlpx::SecretKey,
) {
    use devp2p_peer::rlpx::{RlpxTransport, SecretKey};
    let (ka, kb) = (SecretKey::random(), SecretKey::random());
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let kb2 = kb.clone();
    let accept = thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        RlpxTransport::handshake(stream, &kb2, None).unwrap()
    });
    let ta = RlpxTransport::dial_addr(addr, &ka, &kb.public_key(), secs(5)).unwrap();
    let tb = within(secs(10), move || accept.join().unwrap());
    (ta, ka, tb, kb)
}
