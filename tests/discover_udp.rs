//! The discovery service over 127.0.0.1: endpoint proof, answers, bad packets, lookups.
#![cfg(feature = "discovery")]

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use devp2p_peer::discover::v4wire::*;
use devp2p_peer::discover::{Config, Discovery, Node};
use devp2p_peer::rlpx::{PublicKey, SecretKey};

const DEADLINE: Duration = Duration::from_secs(30);

/// Polls `cond` until it holds or the deadline passes.
fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let end = Instant::now() + DEADLINE;
    while !cond() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A hand-driven discovery endpoint.
struct Raw {
    sock: UdpSocket,
    key: SecretKey,
}

impl Raw {
    fn new() -> Raw {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        Raw {
            sock,
            key: SecretKey::random(),
        }
    }

    fn addr(&self) -> SocketAddr {
        self.sock.local_addr().unwrap()
    }

    fn send(&self, to: SocketAddr, p: &Packet) -> [u8; 32] {
        let (bytes, hash) = encode(&self.key, p);
        self.sock.send_to(&bytes, to).unwrap();
        hash
    }

    fn recv(&self) -> (Packet, PublicKey, [u8; 32]) {
        let mut buf = [0u8; 2048];
        let (n, _) = self.sock.recv_from(&mut buf).expect("no packet in time");
        decode(&buf[..n]).unwrap()
    }

    /// Whether a packet is waiting, without blocking.
    fn nothing_waiting(&self) -> bool {
        self.sock.set_nonblocking(true).unwrap();
        let mut buf = [0u8; 2048];
        let r = self.sock.recv_from(&mut buf).is_err();
        self.sock.set_nonblocking(false).unwrap();
        r
    }

    fn ping(&self, to: SocketAddr, expiration: u64) -> [u8; 32] {
        self.ping_with_tcp(to, 0, expiration)
    }

    /// A Ping whose `from` endpoint names TCP port `tcp`.
    fn ping_with_tcp(&self, to: SocketAddr, tcp: u16, expiration: u64) -> [u8; 32] {
        self.send(
            to,
            &Packet::Ping(Ping {
                version: 4,
                from: Endpoint::new(self.addr(), tcp),
                to: Endpoint::new(to, 0),
                expiration,
                enr_seq: None,
                rest: vec![],
            }),
        )
    }

    /// The next Ping that arrives (other packets are skipped).
    fn next_ping(&self) -> Ping {
        loop {
            if let (Packet::Ping(p), _, _) = self.recv() {
                return p;
            }
        }
    }
}

/// A service whose liveness pings wait an hour, so none lands in the middle of a test.
fn quiet() -> Discovery {
    let cfg = Config {
        ping_interval: Duration::from_secs(3600),
        ..Config::loopback()
    };
    Discovery::start(SecretKey::random(), cfg).unwrap()
}

/// A service that revalidates its table entries every 50 ms.
fn revalidating() -> Discovery {
    let cfg = Config {
        ping_interval: Duration::from_millis(50),
        ..Config::loopback()
    };
    Discovery::start(SecretKey::random(), cfg).unwrap()
}

fn future() -> u64 {
    now_unix() + 20
}

fn node(d: &Discovery) -> Node {
    d.local_node()
}

#[test]
fn ping_is_answered_with_pong_and_ping_back() {
    let d = quiet();
    let raw = Raw::new();
    let hash = raw.ping(d.local_addr(), future());
    let (mut pong, mut back) = (None, None);
    while pong.is_none() || back.is_none() {
        let (p, sender, h) = raw.recv();
        assert_eq!(sender.node_id().0, node(&d).id);
        match p {
            Packet::Pong(p) => pong = Some(p),
            Packet::Ping(p) => back = Some((p, h)),
            other => panic!("unexpected {other:?}"),
        }
    }
    let pong = pong.unwrap();
    assert_eq!(pong.reply_tok, hash.to_vec());
    assert_eq!(pong.to.udp_addr(), raw.addr());
    assert_eq!(pong.enr_seq, Some(d.local_record().seq()));
    // Answering the ping back puts us in its table.
    let (_, back_hash) = back.unwrap();
    raw.send(
        d.local_addr(),
        &Packet::Pong(Pong {
            to: Endpoint::new(d.local_addr(), 0),
            reply_tok: back_hash.to_vec(),
            expiration: future(),
            enr_seq: None,
            rest: vec![],
        }),
    );
    let my_id = raw.key.public_key().node_id().0;
    wait_for("node in table", || {
        d.table_nodes().iter().any(|n| n.id == my_id)
    });
    d.stop();
}

#[test]
fn findnode_without_endpoint_proof_is_not_answered() {
    let d = quiet();
    let raw = Raw::new();
    raw.send(
        d.local_addr(),
        &Packet::FindNode(FindNode {
            target: [1; 64],
            expiration: future(),
            rest: vec![],
        }),
    );
    raw.send(
        d.local_addr(),
        &Packet::EnrRequest(EnrRequest {
            expiration: future(),
            rest: vec![],
        }),
    );
    wait_for("both dropped", || d.stats().unknown_node == 2);
    assert!(raw.nothing_waiting());
    d.stop();
}

fn bonded(d: &Discovery) -> Raw {
    let raw = Raw::new();
    let hash = raw.ping(d.local_addr(), future());
    let mut back = None;
    let mut pong = false;
    while back.is_none() || !pong {
        match raw.recv() {
            (Packet::Pong(p), _, _) => {
                assert_eq!(p.reply_tok, hash.to_vec());
                pong = true;
            }
            (Packet::Ping(_), _, h) => back = Some(h),
            (other, _, _) => panic!("unexpected {other:?}"),
        }
    }
    raw.send(
        d.local_addr(),
        &Packet::Pong(Pong {
            to: Endpoint::new(d.local_addr(), 0),
            reply_tok: back.unwrap().to_vec(),
            expiration: future(),
            enr_seq: None,
            rest: vec![],
        }),
    );
    let id = raw.key.public_key().node_id().0;
    wait_for("bond", || d.table_nodes().iter().any(|n| n.id == id));
    raw
}

#[test]
fn enr_request_after_bond_gets_the_record() {
    let d = quiet();
    let raw = bonded(&d);
    let hash = raw.send(
        d.local_addr(),
        &Packet::EnrRequest(EnrRequest {
            expiration: future(),
            rest: vec![],
        }),
    );
    match raw.recv().0 {
        Packet::EnrResponse(r) => {
            assert_eq!(r.reply_tok, hash.to_vec());
            r.record.verify().unwrap();
            assert_eq!(r.record, d.local_record());
            assert_eq!(r.record.udp().unwrap(), d.local_addr().port());
        }
        other => panic!("unexpected {other:?}"),
    }
    d.stop();
}

#[test]
fn bad_packets_are_counted_and_dropped() {
    let d = quiet();
    let raw = Raw::new();
    let to = d.local_addr();
    let ping = Packet::Ping(Ping {
        version: 4,
        from: Endpoint::new(raw.addr(), 0),
        to: Endpoint::new(to, 0),
        expiration: future(),
        enr_seq: None,
        rest: vec![],
    });
    let (good, _) = encode(&raw.key, &ping);

    raw.sock.send_to(&good[..50], to).unwrap(); // too small
    let mut bad_hash = good.clone();
    bad_hash[0] ^= 1;
    raw.sock.send_to(&bad_hash, to).unwrap();
    raw.sock.send_to(&[0u8; 1400], to).unwrap(); // too big
    raw.ping(to, now_unix() - 1); // expired
    wait_for("drops counted", || {
        let s = d.stats();
        s.too_small == 1 && s.bad_hash == 1 && s.too_big == 1 && s.expired == 1
    });
    // An unsolicited Pong and Neighbors.
    raw.send(
        to,
        &Packet::Neighbors(Neighbors {
            nodes: vec![],
            expiration: future(),
            rest: vec![],
        }),
    );
    wait_for("unsolicited counted", || d.stats().unsolicited == 1);
    assert!(raw.nothing_waiting());
    // Still serving.
    let hash = raw.ping(to, future());
    loop {
        if let (Packet::Pong(p), _, _) = raw.recv() {
            assert_eq!(p.reply_tok, hash.to_vec());
            break;
        }
    }
    d.stop();
}

#[test]
fn neighbors_are_split_to_fit() {
    let target = quiet();
    // Fourteen nodes ping the target; each answers its ping back and enters its table.
    let others: Vec<Discovery> = (0..14).map(|_| quiet()).collect();
    for o in &others {
        o.ping(&node(&target)).unwrap();
    }
    wait_for("table filled", || target.table_nodes().len() >= 14);
    let raw = bonded(&target);
    raw.send(
        target.local_addr(),
        &Packet::FindNode(FindNode {
            target: [7; 64],
            expiration: future(),
            rest: vec![],
        }),
    );
    let mut sizes = Vec::new();
    while sizes.iter().sum::<usize>() < 15 {
        if let (Packet::Neighbors(n), _, _) = raw.recv() {
            sizes.push(n.nodes.len());
        }
    }
    assert_eq!(sizes, vec![MAX_NEIGHBORS, 3]);
    for o in others {
        o.stop();
    }
    target.stop();
}

#[test]
fn nodes_find_each_other_from_one_bootnode() {
    let boot = quiet();
    let mut cfg = Config::loopback();
    cfg.bootnodes = vec![node(&boot)];
    let nodes: Vec<Discovery> = (0..5)
        .map(|_| Discovery::start(SecretKey::random(), cfg.clone()).unwrap())
        .collect();
    let ids: Vec<[u8; 32]> = nodes.iter().map(|n| node(n).id).collect();
    // Every node learns of every other one (through the bootnode), by lookups alone.
    for (i, n) in nodes.iter().enumerate() {
        wait_for("all found", || {
            let me = node(n).enode.pubkey.to_bytes();
            let mut known: Vec<[u8; 32]> = n.lookup(&me).iter().map(|x| x.id).collect();
            known.extend(n.table_nodes().iter().map(|x| x.id));
            ids.iter()
                .enumerate()
                .all(|(j, id)| i == j || known.contains(id))
        });
    }
    // The random-walk iterator yields known nodes.
    let mut it = nodes[0].random_nodes();
    let first = it.next().expect("a node");
    assert!(first.id == node(&boot).id || ids.contains(&first.id));
    // Records can be fetched after the bond.
    let rec = nodes[0].request_enr(&node(&nodes[1])).unwrap();
    assert_eq!(rec.node_id().unwrap(), ids[1]);
    drop(it);
    for n in nodes {
        n.stop();
    }
    boot.stop();
}

#[test]
fn stop_joins_threads_promptly() {
    let d = quiet();
    let it = d.random_nodes();
    let t = std::thread::spawn(move || it.count());
    d.stop();
    // The iterator ends once the service stops (the join would hang otherwise).
    assert_eq!(t.join().unwrap(), 0);
}

#[test]
fn garbage_datagrams_are_counted_never_fatal() {
    use rand::Rng;
    let d = quiet();
    let raw = Raw::new();
    let to = d.local_addr();
    let mut rng = rand::rng();
    for i in 0..200u64 {
        let len = rng.random_range(0..1400);
        let mut b = vec![0u8; len];
        rng.fill(&mut b[..]);
        if i % 2 == 0 && len > 32 {
            // Half of them with a correct hash, so they reach signature recovery.
            use sha3::{Digest, Keccak256};
            let h: [u8; 32] = Keccak256::digest(&b[32..]).into();
            b[..32].copy_from_slice(&h);
        }
        raw.sock.send_to(&b, to).unwrap();
        if i % 20 == 19 {
            // Pace the sender so the socket buffer never overflows on a loaded machine.
            wait_for("batch counted", || d.stats().received == i + 1);
        }
    }
    let s = d.stats();
    let dropped = s.too_big
        + s.too_small
        + s.bad_hash
        + s.bad_signature
        + s.unknown_type
        + s.bad_data
        + s.expired
        + s.unsolicited
        + s.unknown_node;
    assert_eq!(dropped, 200, "{s:?}");
    assert_eq!(s.sent, 0);
    // Still serving.
    let hash = raw.ping(to, future());
    loop {
        if let (Packet::Pong(p), _, _) = raw.recv() {
            assert_eq!(p.reply_tok, hash.to_vec());
            break;
        }
    }
    d.stop();
}

/// Liveness revalidation pings table entries; a Pong announcing a newer record makes the
/// table fetch it (go-ethereum's `TestTable_revalidateSyncRecord`, over real sockets).
#[test]
fn revalidation_fetches_newer_records() {
    let a = revalidating();
    let b = quiet();
    // b pings a; a pings back and, on b's answer, puts b in its table.
    b.ping(&node(&a)).unwrap();
    let b_id = node(&b).id;
    let seq_in_a = |a: &Discovery| a.table_nodes().iter().find(|n| n.id == b_id).map(|n| n.seq);
    let first = b.local_record().seq();
    wait_for("first record fetched", || seq_in_a(&a) == Some(first));
    b.update_record(|r| r.set_bytes("foo", b"bar")).unwrap();
    let second = b.local_record().seq();
    assert_eq!(second, first + 1);
    wait_for("newer record fetched", || seq_in_a(&a) == Some(second));
    a.stop();
    b.stop();
}

/// The endpoint in a Ping this node sends (its ping back to `raw`).
fn ping_back_endpoint(d: &Discovery, raw: &Raw) -> Endpoint {
    raw.ping(d.local_addr(), future());
    raw.next_ping().from
}

/// A configured TCP (RLPx) port is advertised: in the record, in our Pings' endpoint and
/// in the `enode://` URL.
#[test]
fn a_configured_tcp_port_is_advertised() {
    let d = Discovery::start(
        SecretKey::random(),
        Config {
            tcp_port: 30399,
            ping_interval: Duration::from_secs(3600),
            ..Config::loopback()
        },
    )
    .unwrap();
    let udp = d.local_addr().port();
    let record = d.local_record();
    assert_eq!((record.tcp().unwrap(), record.udp().unwrap()), (30399, udp));
    let raw = Raw::new();
    let from = ping_back_endpoint(&d, &raw);
    assert_eq!((from.udp, from.tcp), (udp, 30399));
    let url = d.local_node().to_string();
    let key = d.local_node().enode.pubkey;
    assert_eq!(url, format!("enode://{key}@127.0.0.1:30399?discport={udp}"));
    d.stop();
}

/// Without a TCP port (a discovery-only node) none is advertised, and the `enode://` URL
/// says TCP port 0 with the UDP port as `discport`, as go-ethereum's `URLv4` writes it; the
/// URL reads back as the same node.
#[test]
fn no_tcp_port_is_advertised_as_port_zero() {
    let d = quiet();
    let udp = d.local_addr().port();
    let record = d.local_record();
    assert!(record.tcp().is_err(), "{record:?}");
    let raw = Raw::new();
    let from = ping_back_endpoint(&d, &raw);
    assert_eq!((from.udp, from.tcp), (udp, 0));
    let node = d.local_node();
    let url = node.to_string();
    assert_eq!(
        url,
        format!("enode://{}@127.0.0.1:0?discport={udp}", node.enode.pubkey)
    );
    assert_eq!(url.parse::<devp2p_peer::rlpx::Enode>().unwrap(), node.enode);
    d.stop();
}

/// A node whose record has no TCP port keeps TCP port 0 in the table when revalidation
/// fetches that record (go-ethereum reads a missing `tcp` as 0), so a dialer skips it.
#[test]
fn a_record_without_tcp_port_gives_a_node_without_one() {
    let a = revalidating();
    let b = quiet();
    b.ping(&node(&a)).unwrap();
    let b_id = node(&b).id;
    let seq = b.local_record().seq();
    let in_a = |a: &Discovery| a.table_nodes().into_iter().find(|n| n.id == b_id);
    wait_for("b's record fetched", || {
        in_a(&a).is_some_and(|n| n.seq == seq)
    });
    let b_in_a = in_a(&a).unwrap();
    assert_eq!(b_in_a.enode.udp_port, b.local_addr().port());
    assert_eq!(b_in_a.enode.tcp_port, 0);
    a.stop();
    b.stop();
}

/// The `to` endpoint of our Pings names no TCP port, whatever the pinged node advertises
/// (go-ethereum's `makePing`), on a ping of our own and on a ping back.
#[test]
fn our_pings_name_no_tcp_port_of_the_pinged_node() {
    let d = quiet();
    let raw = Raw::new();
    // A ping back to a node that says it serves RLPx on 30303.
    raw.ping_with_tcp(d.local_addr(), 30303, future());
    assert_eq!(raw.next_ping().to, Endpoint::new(raw.addr(), 0));
    // A ping of our own to a node whose URL names TCP port 30303.
    let other = Raw::new();
    let target = Node::new(devp2p_peer::rlpx::Enode {
        pubkey: other.key.public_key(),
        ip: other.addr().ip(),
        tcp_port: 30303,
        udp_port: other.addr().port(),
    });
    std::thread::scope(|s| {
        // Unanswered, it gives up after the reply timeout.
        let pinging = s.spawn(|| d.ping(&target));
        assert_eq!(other.next_ping().to, Endpoint::new(other.addr(), 0));
        let _ = pinging.join().unwrap();
    });
    d.stop();
}

/// `d` asks `raw` (already bonded, known with sequence number `known_seq`) for its record;
/// `raw` answers with `record`. Returns what `request_enr` returned.
fn request_enr_answered_with(
    d: &Discovery,
    raw: &Raw,
    known_seq: u64,
    record: devp2p_peer::enr::Record,
) -> Result<devp2p_peer::enr::Record, devp2p_peer::discover::DiscError> {
    let mut target = Node::new(devp2p_peer::rlpx::Enode {
        pubkey: raw.key.public_key(),
        ip: raw.addr().ip(),
        tcp_port: 0,
        udp_port: raw.addr().port(),
    });
    target.seq = known_seq;
    std::thread::scope(|s| {
        let asking = s.spawn(|| d.request_enr(&target));
        let hash = loop {
            if let (Packet::EnrRequest(_), _, hash) = raw.recv() {
                break hash;
            }
        };
        raw.send(
            d.local_addr(),
            &Packet::EnrResponse(EnrResponse {
                reply_tok: hash.to_vec(),
                record,
                rest: vec![],
            }),
        );
        asking.join().unwrap()
    })
}

/// A record of `raw`'s with sequence number `seq`, UDP port `raw`'s, and the entries
/// `set` makes.
fn record_of(
    raw: &Raw,
    seq: u64,
    set: impl FnOnce(&mut devp2p_peer::enr::Record),
) -> devp2p_peer::enr::Record {
    let mut r = devp2p_peer::enr::Record::new();
    set(&mut r);
    r.set_seq(seq);
    r.sign(&raw.key).unwrap();
    assert_eq!(r.seq(), seq);
    r
}

fn bad_record(r: Result<devp2p_peer::enr::Record, devp2p_peer::discover::DiscError>) -> String {
    match r {
        Err(devp2p_peer::discover::DiscError::BadRecord(why)) => why,
        other => panic!("want a bad record, got {other:?}"),
    }
}

/// A record fetched with an ENRRequest whose endpoint IP its sender (here 127.0.0.1) may
/// not relay is refused, with go-ethereum's `RequestENR` error text; one it may relay
/// (loopback, LAN and public addresses from a loopback sender) is returned.
#[test]
fn request_enr_refuses_a_record_with_an_unrelayable_ip() {
    let d = quiet();
    let raw = bonded(&d);
    let udp = raw.addr().port();
    let refused: [(&str, &str); 5] = [
        ("192.0.2.1", "special network"),
        ("0.0.0.0", "zero address"),
        ("255.255.255.255", "special network"),
        ("2001:db8::1", "special network"),
        ("ff02::1", "invalid IP"), // multicast is no endpoint: the record has no usable IP
    ];
    for (ip, why) in refused {
        let record = record_of(&raw, 1, |r| {
            r.set_ip(ip.parse().unwrap());
            r.set_udp(udp);
        });
        let got = bad_record(request_enr_answered_with(&d, &raw, 0, record));
        assert_eq!(got, format!("invalid IP in response record: {why}"), "{ip}");
    }
    // An IPv4-mapped `ip6` is its IPv4 address.
    let record = record_of(&raw, 1, |r| {
        let mapped: std::net::Ipv6Addr = "::ffff:198.51.100.7".parse().unwrap();
        r.set_bytes("ip6", &mapped.octets());
        r.set_udp(udp);
    });
    let got = bad_record(request_enr_answered_with(&d, &raw, 0, record));
    assert_eq!(got, "invalid IP in response record: special network");
    // No IP at all.
    let record = record_of(&raw, 1, |r| r.set_udp(udp));
    let got = bad_record(request_enr_answered_with(&d, &raw, 0, record));
    assert_eq!(got, "invalid IP in response record: invalid IP");

    for ip in ["10.0.0.1", "127.0.0.1", "8.8.8.8", "2a00:1450::1"] {
        let record = record_of(&raw, 1, |r| {
            r.set_ip(ip.parse().unwrap());
            r.set_udp(udp);
        });
        let got = request_enr_answered_with(&d, &raw, 0, record.clone()).unwrap();
        assert_eq!(got, record, "{ip}");
    }
    // A record without ports still has an endpoint IP to check (go-ethereum takes it).
    let record = record_of(&raw, 1, |r| r.set_ip("10.0.0.1".parse().unwrap()));
    assert_eq!(
        request_enr_answered_with(&d, &raw, 0, record.clone()).unwrap(),
        record
    );
    d.stop();
}

/// A record older than the one known is not taken (go-ethereum keeps the node as it
/// knows it); the same sequence number or a newer one is.
#[test]
fn request_enr_refuses_an_older_record() {
    let d = quiet();
    let raw = bonded(&d);
    let udp = raw.addr().port();
    let record = |seq| {
        record_of(&raw, seq, |r| {
            r.set_ip("127.0.0.1".parse().unwrap());
            r.set_udp(udp);
        })
    };
    let got = bad_record(request_enr_answered_with(&d, &raw, 5, record(4)));
    assert_eq!(got, "response record is older");
    for seq in [5, 6] {
        let r = record(seq);
        assert_eq!(
            request_enr_answered_with(&d, &raw, 5, r.clone()).unwrap(),
            r
        );
    }
    // A record of another node is refused with go-ethereum's text.
    let other = Raw::new();
    let mut r = devp2p_peer::enr::Record::new();
    r.set_ip("127.0.0.1".parse().unwrap());
    r.set_udp(udp);
    r.sign(&other.key).unwrap();
    let got = bad_record(request_enr_answered_with(&d, &raw, 0, r));
    assert_eq!(got, "invalid ID in response record");
    d.stop();
}
