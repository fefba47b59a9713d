//! Helpers shared by the server tests.
#![allow(dead_code)]

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;
use devp2p_peer::rlpx::{Enode, RlpxTransport, SecretKey};
use devp2p_peer::*;

/// A server configuration for tests: listens on 127.0.0.1 (a free port), short handshake
/// timeout and redial back-off.
pub fn test_config(name: &str, protocols: Vec<Protocol>) -> ServerConfig {
    let mut c = ServerConfig::new(SecretKey::random());
    c.name = name.to_string();
    c.protocols = protocols;
    c.listen_addr = Some("127.0.0.1:0".parse().unwrap());
    c.handshake_timeout = Duration::from_secs(2);
    c.redial_backoff = Duration::from_millis(50);
    c.max_redial_backoff = Duration::from_millis(400);
    c
}

pub fn started(config: ServerConfig) -> Server {
    let s = Server::new(config);
    s.start().expect("start server");
    s
}

/// A node URL for `key` (the address does not matter where only the ID is used).
pub fn enode_of(key: &SecretKey) -> Enode {
    Enode::new(key.public_key(), "127.0.0.1:1".parse().unwrap())
}

/// Two ends of a TCP connection on 127.0.0.1: (the end that connected, the accepted end).
pub fn tcp_pair() -> (TcpStream, TcpStream) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let a = TcpStream::connect(l.local_addr().unwrap()).unwrap();
    let (b, _) = l.accept().unwrap();
    (a, b)
}

/// Dials `server` as a bare RLPx client with `key`, sends a Hello with `caps` and returns
/// the connection and the server's Hello.
pub fn client_connect(
    server: &Server,
    key: &SecretKey,
    caps: Vec<Cap>,
) -> Result<(RlpxTransport, Hello), Error> {
    client_connect_addr(server.local_addr().unwrap(), server, key, caps)
}

pub fn client_connect_addr(
    addr: SocketAddr,
    server: &Server,
    key: &SecretKey,
    caps: Vec<Cap>,
) -> Result<(RlpxTransport, Hello), Error> {
    let t = RlpxTransport::dial_addr(addr, key, &server.public_key(), Duration::from_secs(5))?;
    let hello = t.protocol_handshake(&Hello::new("client", caps, key.public_key().to_bytes()))?;
    Ok((t, hello))
}

/// The next Disconnect reason on `t`, skipping other base-protocol messages; `None` when a
/// sub-protocol message comes first.
pub fn next_disc(t: &RlpxTransport) -> Option<DiscReason> {
    loop {
        let mut msg = t.read_msg().ok()?;
        if msg.code == DISC_MSG {
            return Some(DiscReason::decode(msg.payload.consume()));
        }
        if msg.code >= BASE_PROTOCOL_LENGTH {
            return None;
        }
    }
}

/// The reason `server` rejects a client with `key` and `caps`, whether before the Hello
/// exchange or after it.
pub fn rejection(server: &Server, key: &SecretKey, caps: Vec<Cap>) -> Option<DiscReason> {
    match client_connect(server, key, caps) {
        Err(e) => Some(
            e.disc_reason()
                .unwrap_or_else(|| panic!("not a disconnect: {e}")),
        ),
        Ok((t, _)) => next_disc(&t),
    }
}

/// Waits (bounded, polling) until `cond` holds.
pub fn wait_until(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The next event of `kind`, skipping others; fails after `limit`.
pub fn next_event(events: &Receiver<PeerEvent>, kind: PeerEventType, limit: Duration) -> PeerEvent {
    let deadline = Instant::now() + limit;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let ev = events
            .recv_timeout(left)
            .unwrap_or_else(|_| panic!("no {kind} event within {limit:?}"));
        if ev.kind == kind {
            return ev;
        }
    }
}

/// A protocol that reads and drops messages until an error.
pub fn discard() -> Protocol {
    Protocol::new("discard", 1, 1, |_peer, rw| loop {
        let mut msg = rw.read_msg()?;
        msg.discard()?;
    })
}

/// On start, greets the peer (so a client knows it got in), then reads until the end.
pub fn greeter() -> Protocol {
    Protocol::new("greet", 1, 1, |_peer, rw| {
        send_items(&rw, 0, &[&"welcome"])?;
        loop {
            rw.read_msg()?.discard()?;
        }
    })
}

/// An echo protocol: every message goes back with its code and payload.
pub fn echo() -> Protocol {
    Protocol::new("echo", 1, 8, |_peer, rw| loop {
        let mut msg = rw.read_msg()?;
        let data = msg.payload.consume().to_vec();
        rw.write_msg(Msg::new(msg.code, data))?;
    })
}

#[path = "../common/mod.rs"]
mod common;
#[allow(unused_imports)] // not every server test counts threads
pub use common::thread_count;
