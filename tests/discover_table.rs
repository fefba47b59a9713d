//! The Kademlia table: go-ethereum's `table_test.go` and `enode/node_test.go` distance
//! tests, ported to the pure table.
#![cfg(feature = "discovery")]

use std::cmp::Ordering;
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use devp2p_peer::discover::table::*;
use devp2p_peer::discover::Node;
use devp2p_peer::rlpx::{Enode, SecretKey};
use rand::Rng;

fn random_id() -> [u8; 32] {
    let mut id = [0u8; 32];
    rand::rng().fill(&mut id[..]);
    id
}

/// A node with the given ID (the table only looks at IDs and addresses).
fn node_with_id(id: [u8; 32], ip: IpAddr) -> Node {
    let mut n = Node::new(Enode::new(
        SecretKey::random().public_key(),
        std::net::SocketAddr::new(ip, 30303),
    ));
    n.id = id;
    n
}

/// An ID at log distance `n` from `a` (go-ethereum's `idAtDistance`).
fn id_at_distance(a: &[u8; 32], n: usize) -> [u8; 32] {
    if n == 0 {
        return *a;
    }
    let mut b = *a;
    let bit = n - 1; // bit index from the least significant end
    let pos = 31 - bit / 8;
    b[pos] ^= 1 << (bit % 8);
    // Lower bits random.
    let mask = (1u16 << (bit % 8)) as u8;
    let low: u8 = rand::rng().random();
    b[pos] = (b[pos] & !(mask.wrapping_sub(1))) | (low & mask.wrapping_sub(1));
    for x in b.iter_mut().skip(pos + 1) {
        *x = rand::rng().random();
    }
    b
}

fn node_at_distance(base: &[u8; 32], d: usize, ip: Ipv4Addr) -> Node {
    node_with_id(id_at_distance(base, d), IpAddr::V4(ip))
}

// enode TestNodeID_logdist / TestNodeID_logdistEqual / TestNodeID_distcmp.
#[test]
fn log_dist_and_dist_cmp() {
    for d in 0..=256 {
        let a = random_id();
        let b = id_at_distance(&a, d);
        assert_eq!(log_dist(&a, &b), d, "distance {d}");
        assert_eq!(log_dist(&b, &a), d);
    }
    let x = random_id();
    assert_eq!(log_dist(&x, &x), 0);
    // dist_cmp agrees with comparing the XOR as a big-endian number.
    for _ in 0..200 {
        let (t, a, b) = (random_id(), random_id(), random_id());
        let xa: Vec<u8> = t.iter().zip(&a).map(|(x, y)| x ^ y).collect();
        let xb: Vec<u8> = t.iter().zip(&b).map(|(x, y)| x ^ y).collect();
        assert_eq!(dist_cmp(&t, &a, &b), xa.cmp(&xb));
        assert_eq!(dist_cmp(&t, &a, &a), Ordering::Equal);
    }
}

#[test]
fn bucket_layout() {
    assert_eq!(N_BUCKETS, 17);
    assert_eq!(BUCKET_MIN_DISTANCE, 239);
    let me = random_id();
    let t = Table::new(me);
    assert_eq!(t.bucket_index(&id_at_distance(&me, 256)), 16);
    assert_eq!(t.bucket_index(&id_at_distance(&me, 240)), 0);
    assert_eq!(t.bucket_index(&id_at_distance(&me, 239)), 0);
    assert_eq!(t.bucket_index(&id_at_distance(&me, 1)), 0);
}

fn check_ip_limit_invariant(t: &Table) {
    for e in t.entries() {
        let ip = e.node.ip();
        let same: usize = t
            .entries()
            .filter(|o| match (o.node.ip(), ip) {
                (IpAddr::V4(a), IpAddr::V4(b)) => a.octets()[..3] == b.octets()[..3],
                _ => false,
            })
            .count();
        // Replacements count too, so the table's count is at least the entries'.
        assert!(t.subnet_count(&ip) >= same);
        assert!(t.subnet_count(&ip) <= TABLE_IP_LIMIT);
    }
}

// TestTable_IPLimit
#[test]
fn table_ip_limit() {
    let me = random_id();
    let mut t = Table::new(me);
    for i in 0..=TABLE_IP_LIMIT {
        let n = node_at_distance(&me, 256 - i, Ipv4Addr::new(172, 0, 1, i as u8));
        t.add_found(n);
    }
    assert!(
        t.len() <= TABLE_IP_LIMIT,
        "too many nodes in table: {}",
        t.len()
    );
    assert_eq!(t.len(), TABLE_IP_LIMIT);
    check_ip_limit_invariant(&t);
}

// TestTable_BucketIPLimit
#[test]
fn bucket_ip_limit() {
    let me = random_id();
    let mut t = Table::new(me);
    for i in 0..=BUCKET_IP_LIMIT {
        let n = node_at_distance(&me, 256, Ipv4Addr::new(172, 0, 1, i as u8));
        t.add_found(n);
    }
    assert_eq!(t.len(), BUCKET_IP_LIMIT);
    check_ip_limit_invariant(&t);
}

#[test]
fn lan_addresses_are_exempt_from_ip_limits() {
    let me = random_id();
    let mut t = Table::new(me);
    for i in 0..5 {
        t.add_found(node_at_distance(&me, 256, Ipv4Addr::new(127, 0, 0, 1 + i)));
    }
    assert_eq!(t.len(), 5);
    // A node without an address is never added.
    assert!(!t.add_found(node_at_distance(&me, 256, Ipv4Addr::UNSPECIFIED)));
}

// TestTable_findnodeByID (as a randomised property, like go-ethereum's quick.Check).
#[test]
fn closest_is_sorted_minimal_and_unique() {
    for round in 0..40 {
        let me = random_id();
        let mut t = Table::new(me);
        let count = 1 + round * 7;
        for i in 0..count {
            let ip = Ipv4Addr::new(10 + (i % 200) as u8, (i / 200) as u8, 0, 1);
            t.add_found(node_with_id(random_id(), IpAddr::V4(ip)));
        }
        let target = random_id();
        let n = rand::rng().random_range(0..BUCKET_SIZE);
        let result = t.closest(&target, n, false);
        assert_eq!(result.len(), n.min(t.len()));
        let mut ids: Vec<_> = result.iter().map(|x| x.id).collect();
        assert!(result
            .windows(2)
            .all(|w| dist_cmp(&target, &w[0].id, &w[1].id) != Ordering::Greater));
        ids.dedup();
        assert_eq!(ids.len(), result.len(), "duplicates");
        if let Some(far) = result.last() {
            for e in t.entries() {
                if !ids.contains(&e.node.id) {
                    assert_ne!(
                        dist_cmp(&target, &e.node.id, &far.id),
                        Ordering::Less,
                        "a closer node was left out"
                    );
                }
            }
        }
    }
}

fn fill_bucket(t: &mut Table, d: usize) -> Vec<Node> {
    let me = *t.self_id();
    let mut v = Vec::new();
    let mut i = 0u8;
    while t
        .bucket_entries(t.bucket_index(&id_at_distance(&me, d)))
        .count()
        < BUCKET_SIZE
    {
        let n = node_at_distance(&me, d, Ipv4Addr::new(10, 0, 0, i));
        i += 1;
        if t.add_found(n.clone()) {
            v.push(n);
        }
    }
    v
}

// TestTable_pingReplace, over the four combinations of who answers.
#[test]
fn ping_replace() {
    for (new_responds, last_responds) in
        [(true, true), (false, true), (true, false), (false, false)]
    {
        let me = random_id();
        let mut t = Table::new(me);
        let filled = fill_bucket(&mut t, 256);
        let last = filled.last().unwrap().clone();
        let replacement = node_at_distance(&me, 256, Ipv4Addr::new(127, 0, 0, 1));
        assert!(!t.add_found(replacement.clone()), "bucket is full");
        let b = t.bucket_index(&replacement.id);
        assert_eq!(t.bucket_replacements(b).count(), 1);

        t.revalidation_result(&last.id, last_responds, None);
        if !last_responds {
            assert!(t.get(&last.id).is_none(), "last node was not removed");
            assert!(t.get(&replacement.id).is_some(), "replacement not added");
            t.revalidation_result(&replacement.id, new_responds, None);
        }
        let want = if !last_responds && !new_responds {
            BUCKET_SIZE - 1
        } else {
            BUCKET_SIZE
        };
        assert_eq!(t.bucket_entries(b).count(), want);
        assert_eq!(t.get(&last.id).is_some(), last_responds);
        assert_eq!(
            t.get(&replacement.id).is_some(),
            new_responds && !last_responds
        );
    }
}

// TestTable_addInboundNode and TestTable_addFoundNode.
#[test]
fn add_inbound_and_found_updates() {
    for inbound in [true, false] {
        let me = random_id();
        let mut t = Table::new(me);
        let n1 = node_at_distance(&me, 256, Ipv4Addr::new(88, 77, 66, 1));
        let n2 = node_at_distance(&me, 256, Ipv4Addr::new(88, 77, 66, 2));
        t.add_found(n1.clone());
        t.add_found(n2.clone());
        let mut n2v2 = n2.clone();
        n2v2.enode.ip = Ipv4Addr::new(99, 99, 99, 99).into();
        n2v2.seq = 1;
        let add = |t: &mut Table, n: Node| {
            if inbound {
                t.add_inbound(n)
            } else {
                t.add_found(n)
            }
        };
        add(&mut t, n2v2.clone());
        assert_eq!(t.get(&n2.id).unwrap().node, n2v2);
        // Same sequence number: only an inbound update is accepted.
        let mut n2v3 = n2v2.clone();
        n2v3.enode.ip = Ipv4Addr::new(100, 100, 100, 100).into();
        add(&mut t, n2v3.clone());
        let want = if inbound { n2v3 } else { n2v2 };
        assert_eq!(t.get(&n2.id).unwrap().node, want);
        let ids: Vec<_> = t
            .bucket_entries(t.bucket_index(&n1.id))
            .map(|e| e.node.id)
            .collect();
        assert_eq!(ids, vec![n1.id, n2.id]);
    }
}

// TestTable_revalidateSyncRecord: a newer record from revalidation updates the entry.
#[test]
fn revalidation_takes_newer_record() {
    let me = random_id();
    let mut t = Table::new(me);
    let n = node_at_distance(&me, 256, Ipv4Addr::new(88, 77, 66, 1));
    t.add_found(n.clone());
    let mut newer = n.clone();
    newer.seq = 3;
    newer.enode.tcp_port = 4000;
    t.revalidation_result(&n.id, true, Some(newer.clone()));
    let e = t.get(&n.id).unwrap();
    assert_eq!(e.node, newer);
    assert!(e.validated_live);
    assert_eq!(e.liveness_checks, 1);
}

#[test]
fn liveness_checks_decay_before_removal() {
    let me = random_id();
    let mut t = Table::new(me);
    let n = node_at_distance(&me, 256, Ipv4Addr::new(88, 77, 66, 1));
    t.add_found(n.clone());
    for _ in 0..4 {
        t.revalidation_result(&n.id, true, None);
    }
    assert_eq!(t.get(&n.id).unwrap().liveness_checks, 4);
    t.revalidation_result(&n.id, false, None);
    assert_eq!(t.get(&n.id).unwrap().liveness_checks, 1);
    t.revalidation_result(&n.id, false, None);
    assert!(t.get(&n.id).is_none());
}

#[test]
fn revalidation_schedules_pings() {
    let me = random_id();
    let mut t = Table::with_ping_interval(me, Duration::from_millis(100));
    let n = node_at_distance(&me, 256, Ipv4Addr::new(88, 77, 66, 1));
    t.add_found(n.clone());
    let later = Instant::now() + Duration::from_secs(10);
    let (due, next) = t.revalidation_due(later, &[]);
    assert_eq!(due, vec![n.clone()]);
    assert!(next > later);
    // A node already being pinged is skipped.
    let (due, _) = t.revalidation_due(later + Duration::from_secs(10), &[n.id]);
    assert!(due.is_empty());
}

#[test]
fn relay_rules() {
    let lo: IpAddr = "127.0.0.1".parse().unwrap();
    let lan: IpAddr = "192.168.1.1".parse().unwrap();
    let wan: IpAddr = "8.8.8.8".parse().unwrap();
    assert!(relay_ok(&lo, &lo));
    assert!(!relay_ok(&wan, &lo));
    assert!(!relay_ok(&wan, &lan));
    assert!(relay_ok(&lan, &wan));
    assert!(!relay_ok(&lo, &"0.0.0.0".parse().unwrap()));
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// go-ethereum's `TestCheckRelayIP` cases.
#[test]
fn relay_rules_of_go_ethereum() {
    let (lo, lan, wan) = ("127.0.0.1", "192.168.0.1", "23.55.1.242");
    let refused = [
        (lo, "0.0.0.0"),
        (lan, "0.0.0.0"),
        (wan, "0.0.0.0"),
        (lo, "255.255.255.255"),
        (lan, "255.255.255.255"),
        (wan, "255.255.255.255"),
        (lan, "127.0.2.19"),
        (wan, "192.168.0.1"),
    ];
    for (sender, addr) in refused {
        assert!(!relay_ok(&ip(sender), &ip(addr)), "{addr} from {sender}");
    }
    let accepted = [
        (lo, "127.0.2.19"),
        (lo, "192.168.0.1"),
        (lo, "23.55.1.242"),
        (lan, "192.168.0.1"),
        (lan, "23.55.1.242"),
        (wan, "23.55.1.242"),
    ];
    for (sender, addr) in accepted {
        assert!(relay_ok(&ip(sender), &ip(addr)), "{addr} from {sender}");
    }
}

/// Addresses in go-ethereum's special-purpose lists (`special4`, `special6`) and multicast
/// are never relayed, not even from a loopback sender (which may relay anything else);
/// the addresses just outside each listed network are.
#[test]
fn special_networks_are_never_relayed() {
    let special = [
        // special4, first and last address where the network is wider than one.
        "0.0.0.0",
        "0.2.0.8",
        "0.255.255.255",
        "192.0.0.0",
        "192.0.0.7",
        "192.0.0.9",
        "192.0.0.170",
        "192.0.0.171",
        "192.0.2.1",
        "192.0.2.255",
        "192.31.196.1",
        "192.52.193.1",
        "192.88.99.1",
        "192.175.48.1",
        "198.18.0.0",
        "198.19.255.255",
        "198.51.100.7",
        "203.0.113.9",
        "255.255.255.255",
        // multicast
        "224.0.0.22",
        "239.255.255.255",
        "ff05::1:3",
        "ff02::1",
        // special6
        "100::",
        "100::ffff:ffff:ffff:ffff",
        "2001::1",
        "2001:0:ffff::1",
        "2001:1::1",
        "2001:2::1",
        "2001:2:0:ffff::1",
        "2001:3::1",
        "2001:4:112::1",
        "2001:5::1",
        "2001:10::1",
        "2001:1f:ffff::1",
        "2001:20::1",
        "2001:2f::1",
        "2001:db8::1",
        "2001:db8:85a3:8d3:1319:8a2e:370:7348",
        "2002::1",
        "2002:ffff::1",
        // IPv4-mapped: checked as the IPv4 address.
        "::ffff:0.0.0.0",
        "::ffff:192.0.2.1",
        "::ffff:198.51.100.7",
        "::ffff:255.255.255.255",
        "::ffff:224.0.0.1",
    ];
    for addr in special {
        for sender in ["127.0.0.1", "::1", "10.0.0.1", "8.8.8.8", "2a00:1450::1"] {
            assert!(!relay_ok(&ip(sender), &ip(addr)), "{addr} from {sender}");
        }
    }
    let ordinary = [
        "1.0.0.0",
        "192.0.0.8",
        "192.0.0.10",
        "192.0.0.169",
        "192.0.0.172",
        "192.0.3.1",
        "198.17.255.255",
        "198.20.0.0",
        "198.51.101.1",
        "203.0.114.1",
        "240.0.0.1",
        "255.255.255.254",
        "100:0:0:1::",
        "2001:1::2",
        "2001:1:0:0:0:0:0:0",
        "2001:4:113::1",
        "2001:6::1",
        "2001:30::1",
        "2001:db9::1",
        "2003::1",
        "2a00:1450::1",
        "::ffff:192.0.3.1",
    ];
    for addr in ordinary {
        for sender in ["127.0.0.1", "8.8.8.8"] {
            assert!(relay_ok(&ip(sender), &ip(addr)), "{addr} from {sender}");
        }
    }
}

/// go-ethereum's `TestIsLAN` cases, and the "this" network (`0.0.0.0/8`), which is no LAN.
#[test]
fn lan_ranges_of_go_ethereum() {
    let lan = [
        "127.0.0.1",
        "10.0.1.1",
        "10.22.0.3",
        "172.31.252.251",
        "192.168.1.4",
        "169.254.0.1",
        "fe80::f4a1:8eff:fec5:9d9d",
        "febf::ab32:2233",
        "fc00::4",
        "fdff::1",
        "::1",
        "::ffff:127.0.0.1",
        "::ffff:10.10.0.2",
        "::ffff:169.254.3.4",
    ];
    for a in lan {
        assert!(is_lan(&ip(a)), "{a}");
    }
    let not_lan = [
        "192.0.2.1",
        "1.0.0.0",
        "172.32.0.1",
        "fec0::2233",
        "::ffff:88.99.100.2",
        "0.0.0.0",
        "0.1.2.3",
        "::",
    ];
    for a in not_lan {
        assert!(!is_lan(&ip(a)), "{a}");
    }
}

/// IPv4-mapped senders and addresses are judged as their IPv4 addresses: a mapped
/// loopback or LAN address is refused from a WAN sender, and a mapped loopback or LAN
/// sender may relay loopback or LAN addresses.
#[test]
fn relay_rules_unmap_ipv4_mapped_addresses() {
    let refused = [
        ("8.8.8.8", "::ffff:127.0.0.1"),
        ("8.8.8.8", "::ffff:10.0.0.1"),
        ("::ffff:8.8.8.8", "10.0.0.1"),
        ("2a00:1450::1", "::ffff:192.168.1.1"),
        ("::ffff:10.0.0.1", "127.0.0.1"),
        // The "this" network is no LAN: it may not relay LAN addresses.
        ("0.1.2.3", "10.0.0.1"),
    ];
    for (sender, addr) in refused {
        assert!(!relay_ok(&ip(sender), &ip(addr)), "{addr} from {sender}");
    }
    let accepted = [
        ("::ffff:127.0.0.1", "127.0.0.2"),
        ("::ffff:127.0.0.1", "::ffff:127.0.0.2"),
        ("::ffff:10.0.0.1", "10.0.0.2"),
        ("10.0.0.1", "::ffff:192.168.1.1"),
        ("fc00::1", "::ffff:10.0.0.1"),
        ("8.8.8.8", "::ffff:8.8.4.4"),
    ];
    for (sender, addr) in accepted {
        assert!(relay_ok(&ip(sender), &ip(addr)), "{addr} from {sender}");
    }
}
