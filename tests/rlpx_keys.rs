//! Node keys, node IDs and enode URL parsing.
#![cfg(feature = "rlpx")]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use devp2p_peer::rlpx::{node_id, Enode, EnodeError, PublicKey, SecretKey};
use devp2p_peer::NodeId;

const PUB_A: &str = "fda1cff674c90c9a197539fe3dfb53086ace64f83ed7c6eabec741f7f381cc803e52ab2cd55d5569bce4347107a310dfd5f88a010cd2ffd1005ca406f1842877";

fn enode_err(s: &str) -> EnodeError {
    match s.parse::<Enode>() {
        Err(e) => e,
        other => panic!("{s}: expected an enode error, got {other:?}"),
    }
}

#[test]
fn secret_key_hex_round_trip() {
    let k = SecretKey::random();
    let parsed: SecretKey = k.to_hex().parse().unwrap();
    assert_eq!(parsed, k);
    assert_eq!(SecretKey::from_bytes(&k.to_bytes()).unwrap(), k);
}

#[test]
fn secret_key_errors_are_clear() {
    let cases = [
        ("", "invalid secret key: want 64 hex digits"),
        ("abc", "invalid secret key: want 64 hex digits"),
        (
            "zz1c71a67e1177ad4e901695e1b4b9ee17ae16c6668d313eac2f96dbcda3f291",
            "invalid secret key: not valid hex",
        ),
        (
            "0000000000000000000000000000000000000000000000000000000000000000",
            "invalid secret key: zero or not below the curve order",
        ),
        (
            // The curve order itself.
            "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141",
            "invalid secret key: zero or not below the curve order",
        ),
    ];
    for (input, text) in cases {
        assert_eq!(
            SecretKey::from_hex(input).unwrap_err().to_string(),
            text,
            "{input:?}"
        );
    }
}

#[test]
fn public_key_forms() {
    let k = PublicKey::from_hex(PUB_A).unwrap();
    let b64 = k.to_bytes();
    let mut b65 = vec![4u8];
    b65.extend_from_slice(&b64);
    assert_eq!(PublicKey::from_slice(&b64).unwrap(), k);
    assert_eq!(PublicKey::from_slice(&b65).unwrap(), k);
    assert_eq!(k.to_uncompressed().to_vec(), b65);

    b65[0] = 6; // "hybrid" prefix: not accepted
    assert!(PublicKey::from_slice(&b65).is_err());
    assert!(PublicKey::from_slice(&b64[..63]).is_err());
    let mut off_curve = b64;
    off_curve[63] ^= 1;
    assert_eq!(
        PublicKey::from_bytes(&off_curve).unwrap_err().to_string(),
        "invalid public key: not a point on the secp256k1 curve"
    );
}

#[test]
fn node_id_is_keccak_of_64_byte_key() {
    // keccak256 of the 64 key bytes (keccak itself is checked against a
    // known answer in the library's unit tests).
    let k = PublicKey::from_hex(PUB_A).unwrap();
    assert_eq!(NodeId(node_id(&k)), k.node_id());
    let other = SecretKey::random().public_key();
    assert_ne!(node_id(&k), node_id(&other));
}

#[test]
fn enode_ipv4_round_trip() {
    let url = format!("enode://{PUB_A}@10.3.58.6:30303?discport=30301");
    let n: Enode = url.parse().unwrap();
    assert_eq!(n.pubkey, PublicKey::from_hex(PUB_A).unwrap());
    assert_eq!(n.ip, IpAddr::V4(Ipv4Addr::new(10, 3, 58, 6)));
    assert_eq!((n.tcp_port, n.udp_port), (30303, 30301));
    assert_eq!(n.to_string(), url);
    assert_eq!(
        n.tcp_addr(),
        "10.3.58.6:30303".parse::<SocketAddr>().unwrap()
    );
    assert_eq!(n.id(), n.pubkey.node_id());
}

#[test]
fn enode_ipv6_round_trip() {
    let url = format!("enode://{PUB_A}@[2001:db8::1]:30303");
    let n: Enode = url.parse().unwrap();
    assert_eq!(n.ip, IpAddr::V6("2001:db8::1".parse::<Ipv6Addr>().unwrap()));
    assert_eq!(n.udp_port, 30303);
    assert_eq!(n.to_string(), url);
    // Same discport as the TCP port is dropped when formatting.
    let with_same = format!("enode://{PUB_A}@[2001:db8::1]:30303?discport=30303");
    assert_eq!(with_same.parse::<Enode>().unwrap().to_string(), url);
}

#[test]
fn enode_new_from_socket_addr() {
    let pk = SecretKey::random().public_key();
    let n = Enode::new(pk, "127.0.0.1:4000".parse().unwrap());
    assert_eq!(n.to_string().parse::<Enode>().unwrap(), n);
}

#[test]
fn enode_each_malformed_part_has_its_own_error() {
    let short = &PUB_A[..126];
    let mut off_curve = PUB_A.to_string();
    off_curve.replace_range(126..128, if PUB_A.ends_with("77") { "78" } else { "77" });
    let cases: Vec<(String, EnodeError)> = vec![
        (format!("enr://{PUB_A}@1.2.3.4:1"), EnodeError::Scheme),
        (format!("{PUB_A}@1.2.3.4:1"), EnodeError::Scheme),
        (format!("enode://{PUB_A}"), EnodeError::MissingAt),
        (
            format!("enode://{}x@1.2.3.4:1", &PUB_A[..127]),
            EnodeError::BadHex,
        ),
        (
            format!("enode://{}@1.2.3.4:1", &PUB_A[..127]),
            EnodeError::BadHex,
        ),
        (
            format!("enode://{short}@1.2.3.4:1"),
            EnodeError::KeyLength(63),
        ),
        (
            format!("enode://{PUB_A}00@1.2.3.4:1"),
            EnodeError::KeyLength(65),
        ),
        (
            format!("enode://{off_curve}@1.2.3.4:1"),
            EnodeError::KeyNotOnCurve,
        ),
        (
            format!("enode://{PUB_A}@1.2.3:1"),
            EnodeError::BadIp("1.2.3".into()),
        ),
        (
            format!("enode://{PUB_A}@example.org:1"),
            EnodeError::BadIp("example.org".into()),
        ),
        (
            format!("enode://{PUB_A}@[::1:1"),
            EnodeError::BadIp("[::1:1".into()),
        ),
        (
            format!("enode://{PUB_A}@[zz::1]:1"),
            EnodeError::BadIp("zz::1".into()),
        ),
        (
            format!("enode://{PUB_A}@::1:30303"),
            EnodeError::BadIp("::1".into()),
        ),
        (
            format!("enode://{PUB_A}@1.2.3.4"),
            EnodeError::BadPort(String::new()),
        ),
        (
            format!("enode://{PUB_A}@1.2.3.4:"),
            EnodeError::BadPort(String::new()),
        ),
        (
            format!("enode://{PUB_A}@1.2.3.4:65536"),
            EnodeError::BadPort("65536".into()),
        ),
        (
            format!("enode://{PUB_A}@[::1]"),
            EnodeError::BadPort(String::new()),
        ),
        (
            format!("enode://{PUB_A}@1.2.3.4:1?discport=x"),
            EnodeError::BadDiscport("x".into()),
        ),
        (
            format!("enode://{PUB_A}@1.2.3.4:1?discport=-1"),
            EnodeError::BadDiscport("-1".into()),
        ),
        (
            format!("enode://{PUB_A}@1.2.3.4:1?foo=1"),
            EnodeError::UnknownQuery("foo=1".into()),
        ),
        (
            format!("enode://{PUB_A}@1.2.3.4:1?discport"),
            EnodeError::UnknownQuery("discport".into()),
        ),
    ];
    for (url, want) in cases {
        assert_eq!(enode_err(&url), want, "{url}");
        // Every error renders as text without panicking.
        let err = devp2p_peer::Error::from(url.parse::<Enode>().unwrap_err());
        assert!(err.to_string().starts_with("invalid enode: "));
    }
}
