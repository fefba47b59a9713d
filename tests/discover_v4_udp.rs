//! go-ethereum's `v4_udp_test.go`, ported: a hand-driven remote on loopback sockets
//! against our service.
#![cfg(feature = "discovery")]

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use devp2p_peer::discover::v4wire::*;
use devp2p_peer::discover::{Config, DiscError, Discovery, Node, Stats};
use devp2p_peer::rlpx::{Enode, SecretKey};

const DEADLINE: Duration = Duration::from_secs(30);

fn wait_stats(d: &Discovery, what: &str, cond: impl Fn(&Stats) -> bool) {
    let end = Instant::now() + DEADLINE;
    while !cond(&d.stats()) {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn service() -> Discovery {
    let cfg = Config {
        ping_interval: Duration::from_secs(3600),
        ..Config::loopback()
    };
    Discovery::start(SecretKey::random(), cfg).unwrap()
}

struct Remote {
    key: SecretKey,
    sock: UdpSocket,
}

impl Remote {
    fn on(ip: &str) -> Remote {
        let sock = UdpSocket::bind((ip, 0)).unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        Remote {
            key: SecretKey::random(),
            sock,
        }
    }

    fn node(&self) -> Node {
        Node::new(Enode::new(
            self.key.public_key(),
            self.sock.local_addr().unwrap(),
        ))
    }

    fn send(&self, to: SocketAddr, p: &Packet) -> [u8; 32] {
        let (b, h) = encode(&self.key, p);
        self.sock.send_to(&b, to).unwrap();
        h
    }

    fn read(&self) -> (Packet, [u8; 32]) {
        let mut buf = [0u8; 2048];
        let (n, _) = self.sock.recv_from(&mut buf).expect("no packet in time");
        let (p, _, h) = decode(&buf[..n]).unwrap();
        (p, h)
    }
}

fn future() -> u64 {
    now_unix() + 20
}

fn ping(to: SocketAddr) -> Packet {
    Packet::Ping(Ping {
        version: 4,
        from: Endpoint::new(to, 0),
        to: Endpoint::new(to, 0),
        expiration: future(),
        enr_seq: None,
        rest: vec![],
    })
}

fn pong(to: SocketAddr, tok: &[u8]) -> Packet {
    Packet::Pong(Pong {
        to: Endpoint::new(to, 0),
        reply_tok: tok.to_vec(),
        expiration: future(),
        enr_seq: None,
        rest: vec![],
    })
}

// TestUDPv4_packetErrors
#[test]
fn packet_errors() {
    let d = service();
    let r = Remote::on("127.0.0.1");
    let to = d.local_addr();
    let mut expired_ping = ping(to);
    if let Packet::Ping(p) = &mut expired_ping {
        p.expiration = 0;
    }
    r.send(to, &expired_ping);
    r.send(to, &pong(to, &[]));
    r.send(
        to,
        &Packet::FindNode(FindNode {
            target: [0; 64],
            expiration: future(),
            rest: vec![],
        }),
    );
    r.send(
        to,
        &Packet::Neighbors(Neighbors {
            nodes: vec![],
            expiration: future(),
            rest: vec![],
        }),
    );
    wait_stats(&d, "all four dropped", |s| {
        s.expired == 1 && s.unsolicited == 2 && s.unknown_node == 1
    });
}

// TestUDPv4_pingTimeout: a node that never answers.
#[test]
fn ping_timeout() {
    let d = service();
    let silent = Remote::on("127.0.0.1");
    assert_eq!(d.ping(&silent.node()), Err(DiscError::Timeout));
    assert_eq!(DiscError::Timeout.to_string(), "RPC timeout");
}

// TestUDPv4_findnodeMultiReply: the answer comes in two Neighbors packets; a node with
// a low UDP port is left out.
#[test]
fn find_node_multi_reply() {
    let d = service();
    let r = Remote::on("127.0.0.1");
    let remote = r.node();
    let target = [9u8; 64];
    let entries: Vec<NodeEntry> = [
        ("10.0.1.16", 30304, 30303),
        ("10.0.1.16", 30303, 30303),
        ("10.0.1.36", 17, 30301),
        ("10.0.1.16", 30303, 30303),
    ]
    .iter()
    .map(|(ip, udp, tcp)| NodeEntry {
        endpoint: Endpoint {
            ip: ip.parse().unwrap(),
            udp: *udp,
            tcp: *tcp,
        },
        id: SecretKey::random().public_key().to_bytes(),
    })
    .collect();
    let d_addr = d.local_addr();
    let want: Vec<[u8; 64]> = [0, 1, 3].iter().map(|&i| entries[i].id).collect();
    let result = std::thread::scope(|s| {
        let h = s.spawn(|| d.find_node(&remote, &target));
        // First the endpoint proof: it pings us; we answer and ping it.
        loop {
            match r.read() {
                (Packet::Ping(_), h) => {
                    r.send(d_addr, &pong(d_addr, &h));
                    r.send(d_addr, &ping(d_addr));
                }
                (Packet::Pong(_), _) => {}
                (Packet::FindNode(f), _) => {
                    assert_eq!(f.target, target);
                    break;
                }
                (other, _) => panic!("unexpected {other:?}"),
            }
        }
        for part in [&entries[..2], &entries[2..]] {
            r.send(
                d_addr,
                &Packet::Neighbors(Neighbors {
                    nodes: part.to_vec(),
                    expiration: future(),
                    rest: vec![],
                }),
            );
        }
        h.join().unwrap()
    });
    let got: Vec<[u8; 64]> = result
        .unwrap()
        .iter()
        .map(|n| n.enode.pubkey.to_bytes())
        .collect();
    assert_eq!(got, want);
}

// TestUDPv4_pingMatch: a Pong must quote the ping's hash.
#[test]
fn ping_match() {
    let d = service();
    let r = Remote::on("127.0.0.1");
    let to = d.local_addr();
    r.send(to, &ping(to));
    let mut seen = (false, false);
    while seen != (true, true) {
        match r.read().0 {
            Packet::Pong(_) => seen.0 = true,
            Packet::Ping(_) => seen.1 = true,
            other => panic!("unexpected {other:?}"),
        }
    }
    r.send(to, &pong(to, &[7; 32]));
    wait_stats(&d, "unsolicited pong", |s| s.unsolicited == 1);
    assert!(d.table_nodes().is_empty());
}

// TestUDPv4_pingMatchIP: a Pong must come from the pinged IP.
#[test]
fn ping_match_ip() {
    let d = service();
    let r = Remote::on("127.0.0.1");
    let other_ip = UdpSocket::bind("127.0.0.2:0").unwrap();
    let to = d.local_addr();
    r.send(to, &ping(to));
    let hash = loop {
        match r.read() {
            (Packet::Ping(_), h) => break h,
            (Packet::Pong(_), _) => {}
            (other, _) => panic!("unexpected {other:?}"),
        }
    };
    let (b, _) = encode(&r.key, &pong(to, &hash));
    other_ip.send_to(&b, to).unwrap();
    wait_stats(&d, "unsolicited pong", |s| s.unsolicited == 1);
    assert!(d.table_nodes().is_empty());
}

// TestUDPv4_EIP868: sequence numbers in Ping and Pong; ENR only after the proof.
#[test]
fn eip868() {
    let d = service();
    let r = Remote::on("127.0.0.1");
    let to = d.local_addr();
    let seq = d.local_record().seq();
    let enr_req = Packet::EnrRequest(EnrRequest {
        expiration: future(),
        rest: vec![],
    });
    r.send(to, &enr_req);
    wait_stats(&d, "ENR request refused", |s| s.unknown_node == 1);
    r.send(to, &ping(to));
    let mut seen = (false, false);
    while seen != (true, true) {
        match r.read() {
            (Packet::Pong(p), _) => {
                assert_eq!(p.enr_seq, Some(seq));
                seen.0 = true;
            }
            (Packet::Ping(p), h) => {
                assert_eq!(p.enr_seq, Some(seq));
                r.send(to, &pong(to, &h));
                seen.1 = true;
            }
            (other, _) => panic!("unexpected {other:?}"),
        }
    }
    let id = r.node().id;
    let end = Instant::now() + DEADLINE;
    while !d.table_nodes().iter().any(|n| n.id == id) {
        assert!(Instant::now() < end, "no bond");
        std::thread::sleep(Duration::from_millis(10));
    }
    let h = r.send(to, &enr_req);
    match r.read() {
        (Packet::EnrResponse(resp), _) => {
            assert_eq!(resp.reply_tok, h.to_vec());
            assert_eq!(resp.record, d.local_record());
            resp.record.verify().unwrap();
        }
        (other, _) => panic!("unexpected {other:?}"),
    }
}
