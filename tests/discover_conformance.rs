//! go-ethereum's discovery v4 conformance suite (`devp2p discv4 test`,
//! `cmd/devp2p/internal/v4test`), ported: a tester on 127.0.0.1 and 127.0.0.2 against our
//! service. "No reply" is checked through the drop counters, never by waiting.
#![cfg(feature = "discovery")]

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use devp2p_peer::discover::v4wire::*;
use devp2p_peer::discover::{Config, Discovery, Stats};
use devp2p_peer::rlpx::SecretKey;

const DEADLINE: Duration = Duration::from_secs(30);

fn wait_stats(d: &Discovery, what: &str, cond: impl Fn(&Stats) -> bool) {
    let end = Instant::now() + DEADLINE;
    while !cond(&d.stats()) {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

struct Tester {
    key: SecretKey,
    l1: UdpSocket,
    l2: UdpSocket,
    remote: SocketAddr,
}

impl Tester {
    fn new(d: &Discovery) -> Tester {
        let bind = |ip: &str| {
            let s = UdpSocket::bind((ip, 0)).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            s
        };
        Tester {
            key: SecretKey::random(),
            l1: bind("127.0.0.1"),
            l2: bind("127.0.0.2"),
            remote: d.local_addr(),
        }
    }

    fn send(&self, sock: &UdpSocket, p: &Packet) -> [u8; 32] {
        let (b, h) = encode(&self.key, p);
        sock.send_to(&b, self.remote).unwrap();
        h
    }

    fn read(&self, sock: &UdpSocket) -> (Packet, [u8; 32]) {
        let mut buf = [0u8; 2048];
        let (n, _) = sock.recv_from(&mut buf).expect("no reply in time");
        let (p, _, h) = decode(&buf[..n]).unwrap();
        (p, h)
    }

    fn nothing_waiting(&self, sock: &UdpSocket) -> bool {
        sock.set_nonblocking(true).unwrap();
        let r = sock.recv_from(&mut [0u8; 2048]).is_err();
        sock.set_nonblocking(false).unwrap();
        r
    }

    fn ping(&self, from: Endpoint, expiration: u64) -> Packet {
        Packet::Ping(Ping {
            version: 4,
            from,
            to: Endpoint::new(self.remote, 0),
            expiration,
            enr_seq: None,
            rest: vec![],
        })
    }

    fn local(&self) -> Endpoint {
        Endpoint::new(self.l1.local_addr().unwrap(), 0)
    }

    fn check_pong(&self, p: &Packet, ping_hash: &[u8; 32]) {
        let Packet::Pong(p) = p else {
            panic!("expected PONG, got {p:?}")
        };
        assert_eq!(p.reply_tok, ping_hash.to_vec(), "PONG reply token mismatch");
        assert_eq!(p.to.ip, self.local().ip, "PONG 'to' endpoint mismatch");
        assert_eq!(p.to.udp, self.local().udp, "PONG 'to' endpoint mismatch");
        assert!(!expired(p.expiration), "PONG is expired");
    }

    /// One PONG for our ping and one PING back, in any order.
    fn check_ping_pong(&self, ping_hash: &[u8; 32]) {
        let (mut pings, mut pongs) = (0, 0);
        for _ in 0..2 {
            match self.read(&self.l1) {
                (p @ Packet::Pong(_), _) => {
                    self.check_pong(&p, ping_hash);
                    pongs += 1;
                }
                (Packet::Ping(_), _) => pings += 1,
                (other, _) => panic!("expected PING or PONG, got {other:?}"),
            }
        }
        assert_eq!((pings, pongs), (1, 1));
    }

    fn bond(&self) {
        let hash = self.send(&self.l1, &self.ping(self.local(), future()));
        let (mut got_ping, mut got_pong) = (false, false);
        while !got_ping || !got_pong {
            match self.read(&self.l1) {
                (Packet::Ping(_), h) => {
                    self.send(&self.l1, &pong(self.remote, h.to_vec()));
                    got_ping = true;
                }
                (p @ Packet::Pong(_), _) => {
                    self.check_pong(&p, &hash);
                    got_pong = true;
                }
                _ => {}
            }
        }
    }

    fn find_node(&self, sock: &UdpSocket, target: [u8; 64], expiration: u64) {
        self.send(
            sock,
            &Packet::FindNode(FindNode {
                target,
                expiration,
                rest: vec![],
            }),
        );
    }
}

fn pong(to: SocketAddr, reply_tok: Vec<u8>) -> Packet {
    Packet::Pong(Pong {
        to: Endpoint::new(to, 0),
        reply_tok,
        expiration: future(),
        enr_seq: None,
        rest: vec![],
    })
}

fn future() -> u64 {
    now_unix() + 20
}

/// A service whose liveness pings wait an hour, so none lands in the middle of a test.
fn service() -> Discovery {
    let cfg = Config {
        ping_interval: Duration::from_secs(3600),
        ..Config::loopback()
    };
    Discovery::start(SecretKey::random(), cfg).unwrap()
}

#[test]
fn basic_ping() {
    let d = service();
    let t = Tester::new(&d);
    let h = t.send(&t.l1, &t.ping(t.local(), future()));
    t.check_ping_pong(&h);
}

#[test]
fn ping_wrong_to() {
    let d = service();
    let t = Tester::new(&d);
    let mut p = t.ping(t.local(), future());
    if let Packet::Ping(p) = &mut p {
        p.to = Endpoint {
            ip: "192.0.2.0".parse().unwrap(),
            udp: 0,
            tcp: 0,
        };
    }
    let h = t.send(&t.l1, &p);
    t.check_ping_pong(&h);
}

#[test]
fn ping_wrong_from() {
    let d = service();
    let t = Tester::new(&d);
    let wrong = Endpoint {
        ip: "192.0.2.0".parse().unwrap(),
        udp: 0,
        tcp: 0,
    };
    let h = t.send(&t.l1, &t.ping(wrong, future()));
    t.check_ping_pong(&h);
}

#[test]
fn ping_extra_data_and_wrong_from() {
    let d = service();
    let t = Tester::new(&d);
    for from in [
        t.local(),
        Endpoint {
            ip: "192.0.2.0".parse().unwrap(),
            udp: 0,
            tcp: 0,
        },
    ] {
        let mut p = t.ping(from, future());
        if let Packet::Ping(p) = &mut p {
            // JunkData1 (uint), JunkData2 (bytes)
            p.enr_seq = Some(42);
            p.rest = vec![vec![0x83, 1, 2, 3]];
        }
        let h = t.send(&t.l1, &p);
        if from == t.local() {
            t.check_ping_pong(&h);
        } else {
            // Bonded by now: a PONG, no second ping back.
            let (p, _) = t.read(&t.l1);
            t.check_pong(&p, &h);
        }
    }
}

#[test]
fn ping_past_expiration() {
    let d = service();
    let t = Tester::new(&d);
    t.send(&t.l1, &t.ping(t.local(), now_unix() - 20));
    wait_stats(&d, "expired drop", |s| s.expired == 1);
    assert!(t.nothing_waiting(&t.l1));
}

#[test]
fn wrong_packet_type() {
    let d = service();
    let t = Tester::new(&d);
    // A well-formed, signed packet of type 66.
    let (mut b, _) = encode(&t.key, &t.ping(t.local(), future()));
    b[97] = 66;
    resign(&t.key, &mut b);
    t.l1.send_to(&b, t.remote).unwrap();
    wait_stats(&d, "unknown type drop", |s| s.unknown_type == 1);
    assert!(t.nothing_waiting(&t.l1));
}

#[test]
fn bond_then_ping_with_wrong_from() {
    let d = service();
    let t = Tester::new(&d);
    t.bond();
    let wrong = Endpoint {
        ip: "192.0.2.0".parse().unwrap(),
        udp: 0,
        tcp: 0,
    };
    let h = t.send(&t.l1, &t.ping(wrong, future()));
    loop {
        match t.read(&t.l1) {
            (p @ Packet::Pong(_), _) => {
                t.check_pong(&p, &h);
                break;
            }
            (Packet::FindNode(_), _) => {}
            (other, _) => panic!("expected PONG, got {other:?}"),
        }
    }
}

#[test]
fn findnode_without_endpoint_proof() {
    let d = service();
    let t = Tester::new(&d);
    t.find_node(&t.l1, [5; 64], future());
    wait_stats(&d, "unknown node drop", |s| s.unknown_node == 1);
    assert!(t.nothing_waiting(&t.l1));
}

#[test]
fn basic_findnode() {
    let d = service();
    let t = Tester::new(&d);
    t.bond();
    t.find_node(&t.l1, [5; 64], future());
    match t.read(&t.l1) {
        (Packet::Neighbors(_), _) => {}
        (other, _) => panic!("expected neighbors, got {other:?}"),
    }
}

#[test]
fn unsolicited_neighbors() {
    let d = service();
    let t = Tester::new(&d);
    t.bond();
    let fake = SecretKey::random().public_key().to_bytes();
    t.send(
        &t.l1,
        &Packet::Neighbors(Neighbors {
            nodes: vec![NodeEntry {
                endpoint: Endpoint {
                    ip: "1.2.3.4".parse().unwrap(),
                    udp: 30303,
                    tcp: 30303,
                },
                id: fake,
            }],
            expiration: future(),
            rest: vec![],
        }),
    );
    wait_stats(&d, "unsolicited drop", |s| s.unsolicited == 1);
    t.find_node(&t.l1, fake, future());
    match t.read(&t.l1) {
        (Packet::Neighbors(n), _) => assert!(
            n.nodes.iter().all(|x| x.id != fake),
            "neighbors response contains node from earlier unsolicited neighbors response"
        ),
        (other, _) => panic!("expected neighbors, got {other:?}"),
    }
}

#[test]
fn findnode_past_expiration() {
    let d = service();
    let t = Tester::new(&d);
    t.bond();
    t.find_node(&t.l1, [5; 64], now_unix() - 20);
    wait_stats(&d, "expired drop", |s| s.expired == 1);
    assert!(t.nothing_waiting(&t.l1));
}

#[test]
fn findnode_amplification_invalid_pong_hash() {
    let d = service();
    let t = Tester::new(&d);
    t.send(&t.l1, &t.ping(t.local(), future()));
    let (mut got_ping, mut got_pong) = (false, false);
    while !got_ping || !got_pong {
        match t.read(&t.l1) {
            (Packet::Ping(_), _) => {
                t.send(&t.l1, &pong(t.remote, vec![0; 32]));
                got_ping = true;
            }
            (Packet::Pong(_), _) => got_pong = true,
            _ => {}
        }
    }
    wait_stats(&d, "bad pong dropped", |s| s.unsolicited == 1);
    t.find_node(&t.l1, [5; 64], future());
    wait_stats(&d, "findnode dropped", |s| s.unknown_node == 1);
    assert!(t.nothing_waiting(&t.l1));
}

#[test]
fn findnode_amplification_wrong_ip() {
    let d = service();
    let t = Tester::new(&d);
    t.bond();
    t.find_node(&t.l2, [5; 64], future());
    wait_stats(&d, "findnode dropped", |s| s.unknown_node == 1);
    assert!(t.nothing_waiting(&t.l2));
}

#[test]
fn enr_request() {
    let d = service();
    let t = Tester::new(&d);
    t.bond();
    let h = t.send(
        &t.l1,
        &Packet::EnrRequest(EnrRequest {
            expiration: future(),
            rest: vec![],
        }),
    );
    match t.read(&t.l1) {
        (Packet::EnrResponse(r), _) => {
            assert_eq!(r.reply_tok, h.to_vec(), "wrong hash in response packet");
            r.record.verify().expect("invalid record in response");
            assert_eq!(r.record.node_id().unwrap(), d.local_node().id);
        }
        (other, _) => panic!("expected ENRResponse, got {other:?}"),
    }
}

/// Re-signs and rehashes a packet after editing its type byte.
fn resign(key: &SecretKey, p: &mut [u8]) {
    use sha3::{Digest, Keccak256};
    let digest: [u8; 32] = Keccak256::digest(&p[97..]).into();
    let sk = secp256k1::SecretKey::from_secret_bytes(key.to_bytes()).unwrap();
    let sig = secp256k1::ecdsa::RecoverableSignature::sign_ecdsa_recoverable(
        secp256k1::Message::from_digest(digest),
        &sk,
    );
    let (id, rs) = sig.serialize_compact();
    p[32..96].copy_from_slice(&rs);
    p[96] = id.to_u8();
    let h: [u8; 32] = Keccak256::digest(&p[32..]).into();
    p[..32].copy_from_slice(&h);
}

/// Regression: go-ethereum's suite sends expirations of `-futureExpiration()` (a uint64
/// near 2^64). Adding that many seconds to the Unix epoch overflowed and panicked the
/// reader thread, so the service went deaf. Such a time stamp is negative as go-ethereum
/// reads it (int64), so the packet is expired.
#[test]
fn wrapped_negative_expiration_is_expired_not_fatal() {
    let d = service();
    let t = Tester::new(&d);
    t.send(&t.l1, &t.ping(t.local(), 0u64.wrapping_sub(future())));
    t.bond();
    t.find_node(&t.l1, [5; 64], 0u64.wrapping_sub(future()));
    wait_stats(&d, "expired drops", |s| s.expired == 2);
    assert!(expired(u64::MAX));
    assert!(expired(1 << 63));
    assert!(!expired(future()));
}
