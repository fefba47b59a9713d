//! Node records (EIP-778): the EIP's test vector and go-ethereum's `p2p/enr` tests.
#![cfg(feature = "discovery")]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use devp2p_peer::enr::{EnrError, EthEntry, Record, SIZE_LIMIT};
use devp2p_peer::rlpx::SecretKey;

const EIP_KEY: &str = "b71c71a67e1177ad4e901695e1b4b9ee17ae16c6668d313eac2f96dbcda3f291";
const EIP_TEXT: &str = "enr:-IS4QHCYrYZbAKWCBRlAy5zzaDZXJBGkcnh4MHcBFZntXNFrdvJjX04jRzjzCBOonrkTfj499SZuOh8R33Ls8RRcy5wBgmlkgnY0gmlwhH8AAAGJc2VjcDI1NmsxoQPKY0yuDUmstAHYpMa2_oxVtw0RW_QAdpzBQA8yWM0xOIN1ZHCCdl8";
const EIP_RLP: &str = "f884b8407098ad865b00a582051940cb9cf36836572411a47278783077011599ed5cd16b76f2635f4e234738f30813a89eb9137e3e3df5266e3a1f11df72ecf1145ccb9c01826964827634826970847f00000189736563703235366b31a103ca634cae0d49acb401d8a4c6b6fe8c55b70d115bf400769cc1400f3258cd31388375647082765f";
const EIP_ID: &str = "a448f24c6d18e575453db13171562b71999873db5b286df957af199ec94617f7";

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn eip778_vector_decodes() {
    let r: Record = EIP_TEXT.parse().unwrap();
    assert_eq!(r.seq(), 1);
    assert_eq!(r.id_scheme().unwrap(), "v4");
    assert_eq!(r.ip().unwrap(), Ipv4Addr::new(127, 0, 0, 1));
    assert_eq!(r.udp().unwrap(), 30303);
    assert_eq!(hex(&r.node_id().unwrap()), EIP_ID);
    assert_eq!(hex(r.to_rlp().unwrap()), EIP_RLP);
    assert_eq!(r.to_string(), EIP_TEXT);
    let key = SecretKey::from_hex(EIP_KEY).unwrap();
    assert_eq!(r.public_key().unwrap(), key.public_key());
    let enode = r.to_enode().unwrap();
    assert_eq!(enode.udp_port, 30303);
    // The record has no `tcp` entry: no RLPx port, as go-ethereum reads it.
    assert_eq!(enode.tcp_port, 0);
}

/// libsecp256k1 signs deterministically (RFC 6979), so signing the EIP's record with the
/// EIP's key reproduces it byte for byte.
#[test]
fn eip778_vector_reproduced_by_signing() {
    let key = SecretKey::from_hex(EIP_KEY).unwrap();
    let mut r = Record::new();
    r.set_seq(1);
    r.set_ip(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1)));
    r.set_udp(30303);
    r.sign(&key).unwrap();
    assert_eq!(r.seq(), 1);
    assert_eq!(hex(r.to_rlp().unwrap()), EIP_RLP);
    assert_eq!(r.to_string(), EIP_TEXT);
}

#[test]
fn tampered_vector_is_rejected() {
    let mut raw = unhex(EIP_RLP);
    let last = raw.len() - 1;
    raw[last] ^= 1; // udp port changes
    assert_eq!(Record::decode(&raw), Err(EnrError::InvalidSig));
    assert_eq!(
        Record::decode(&raw).unwrap_err().to_string(),
        "invalid signature on node record"
    );
    // Structurally it is fine.
    assert!(Record::decode_unverified(&raw).is_ok());
    // A record must be alone.
    let mut trailing = unhex(EIP_RLP);
    trailing.push(0x80);
    assert_eq!(
        Record::decode(&trailing).unwrap_err().to_string(),
        "rlp: input contains more than one value"
    );
}

#[test]
fn text_form_errors() {
    assert_eq!(
        Record::from_text(&EIP_TEXT[4..]).unwrap_err().to_string(),
        "missing 'enr:' prefix for base64-encoded record"
    );
    assert_eq!(Record::from_text("enr:***"), Err(EnrError::Base64));
    // Padded base64 is not the record's form.
    assert!(Record::from_text(&format!("{EIP_TEXT}=")).is_err());
}

// ---- go-ethereum p2p/enr/enr_test.go ----

// TestGetSetID, TestGetSetIPv4, TestGetSetIPv6, TestGetSetUDP
#[test]
fn get_set_entries() {
    let mut r = Record::new();
    r.set_bytes("id", b"someid");
    assert_eq!(r.id_scheme().unwrap(), "someid");
    r.set_ip(Ipv4Addr::new(192, 168, 0, 3).into());
    assert_eq!(r.ip().unwrap(), Ipv4Addr::new(192, 168, 0, 3));
    let v6: Ipv6Addr = "2001:db8::1".parse().unwrap();
    r.set_ip(v6.into());
    assert_eq!(r.ip6().unwrap(), v6);
    r.set_udp(30309);
    assert_eq!(r.udp().unwrap(), 30309);
    r.set_tcp6(1);
    r.set_udp6(2);
    assert_eq!((r.tcp6().unwrap(), r.udp6().unwrap()), (1, 2));
}

// TestLoadErrors
#[test]
fn load_errors() {
    let mut r = Record::new();
    r.set_ip(Ipv4Addr::new(127, 0, 0, 1).into());
    let err = r.udp().unwrap_err();
    assert_eq!(err, EnrError::NotFound("udp".into()));
    assert_eq!(err.to_string(), "missing ENR key \"udp\"");
    // The ip entry is a string, not an integer list.
    r.set_raw("udp", vec![0xc1, 0x01]);
    let err = r.udp().unwrap_err();
    assert!(
        matches!(&err, EnrError::BadValue { key, .. } if key == "udp"),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        "ENR key \"udp\": rlp: expected String or Byte"
    );
    // Wrong IP length.
    r.set_bytes("ip", &[1, 2, 3]);
    assert!(r
        .ip()
        .unwrap_err()
        .to_string()
        .starts_with("ENR key \"ip\": invalid IPv4 address, want 4 bytes"));
}

// TestSortedGetAndSet
#[test]
fn sorted_get_and_set() {
    type Pairs = &'static [(&'static str, u64)];
    let cases: &[(Pairs, Pairs)] = &[
        (
            &[("a", 1), ("c", 2), ("b", 3)],
            &[("a", 1), ("b", 3), ("c", 2)],
        ),
        (
            &[("a", 1), ("c", 2), ("b", 3), ("d", 4), ("a", 5), ("bb", 6)],
            &[("a", 5), ("b", 3), ("bb", 6), ("c", 2), ("d", 4)],
        ),
        (
            &[("c", 2), ("b", 3), ("d", 4), ("a", 5), ("bb", 6)],
            &[("a", 5), ("b", 3), ("bb", 6), ("c", 2), ("d", 4)],
        ),
    ];
    for (input, want) in cases {
        let mut r = Record::new();
        for (k, v) in *input {
            r.set_uint(k, *v);
        }
        let keys: Vec<&[u8]> = r.keys().collect();
        let want_keys: Vec<&[u8]> = want.iter().map(|(k, _)| k.as_bytes()).collect();
        assert_eq!(keys, want_keys);
        for (k, v) in *want {
            assert_eq!(r.get_uint(k).unwrap(), *v);
        }
    }
}

// TestDirty
#[test]
fn dirty() {
    let key = SecretKey::random();
    let mut r = Record::new();
    assert_eq!(r.to_rlp().unwrap_err(), EnrError::EncodeUnsigned);
    assert_eq!(
        r.to_rlp().unwrap_err().to_string(),
        "can't encode unsigned record"
    );
    r.sign(&key).unwrap();
    assert!(r.is_signed());
    assert!(r.to_rlp().is_ok());
    r.set_seq(3);
    assert!(!r.is_signed());
    assert_eq!(r.to_rlp().unwrap_err(), EnrError::EncodeUnsigned);
}

// TestSize
#[test]
fn size() {
    let mut r = Record::new();
    assert_eq!(r.size(), 3);
    r.set_bytes("k", b"v");
    assert_eq!(r.size(), 5);
    r.sign(&SecretKey::random()).unwrap();
    assert_eq!(r.size(), r.to_rlp().unwrap().len());
}

// TestSeq
#[test]
fn seq() {
    let key = SecretKey::random();
    let mut r = Record::new();
    assert_eq!(r.seq(), 0);
    r.set_udp(1);
    assert_eq!(r.seq(), 0);
    r.sign(&key).unwrap();
    assert_eq!(r.seq(), 0);
    r.set_udp(2);
    assert_eq!(r.seq(), 1);
    // Only the first change after signing bumps it.
    r.set_udp(3);
    assert_eq!(r.seq(), 1);
    r.sign(&key).unwrap();
    assert_eq!(r.seq(), 1);
    // Re-signing a signed record is a change too (as go-ethereum's SignV4).
    r.sign(&key).unwrap();
    assert_eq!(r.seq(), 2);
}

// TestGetSetOverwrite
#[test]
fn get_set_overwrite() {
    let mut r = Record::new();
    r.set_ip(Ipv4Addr::new(192, 168, 0, 3).into());
    r.set_ip(Ipv4Addr::new(192, 168, 0, 4).into());
    assert_eq!(r.ip().unwrap(), Ipv4Addr::new(192, 168, 0, 4));
}

// TestSignEncodeAndDecode
#[test]
fn sign_encode_and_decode() {
    let mut r = Record::new();
    r.set_udp(30303);
    r.set_ip(Ipv4Addr::new(127, 0, 0, 1).into());
    r.sign(&SecretKey::random()).unwrap();
    let blob = r.to_rlp().unwrap().to_vec();
    let r2 = Record::decode(&blob).unwrap();
    assert_eq!(r, r2);
    assert_eq!(r2.to_rlp().unwrap(), &blob[..]);
}

// TestRecordTooBig
#[test]
fn record_too_big() {
    let key = SecretKey::random();
    let mut r = Record::new();
    r.set_bytes("0123456789", &[b'x'; SIZE_LIMIT]);
    assert_eq!(r.sign(&key), Err(EnrError::TooBig));
    assert_eq!(EnrError::TooBig.to_string(), "record bigger than 300 bytes");
    assert!(!r.is_signed());
    r.set_bytes("0123456789", &[b'x'; 100]);
    r.sign(&key).unwrap();

    // Decoding rejects an oversized record before looking inside.
    let mut big = vec![0xf9, 0x01, 0x2d];
    big.extend_from_slice(&[0x80; 301]);
    assert_eq!(Record::decode(&big), Err(EnrError::TooBig));
}

// TestDecodeIncomplete
#[test]
fn decode_incomplete() {
    let cases: &[(&[u8], Option<EnrError>)] = &[
        (&[0xc0], Some(EnrError::IncompleteList)),
        (&[0xc1, 0x1], Some(EnrError::IncompleteList)),
        (&[0xc2, 0x1, 0x2], None),
        (&[0xc3, 0x1, 0x2, 0x3], Some(EnrError::IncompletePair)),
        (&[0xc4, 0x1, 0x2, 0x3, 0x4], None),
        (
            &[0xc5, 0x1, 0x2, 0x3, 0x4, 0x5],
            Some(EnrError::IncompletePair),
        ),
    ];
    for (input, want) in cases {
        let got = Record::decode_unverified(input).err();
        assert_eq!(&got, want, "input {input:02x?}");
    }
    assert_eq!(
        EnrError::IncompleteList.to_string(),
        "record contains less than two list elements"
    );
    assert_eq!(
        EnrError::IncompletePair.to_string(),
        "record contains incomplete k/v pair"
    );
}

#[test]
fn unsorted_and_duplicate_keys() {
    // [sig, seq, "a", 1, "a", 2]
    let dup = [0xc6, 0x80, 0x01, 0x61, 0x01, 0x61, 0x02];
    assert_eq!(
        Record::decode_unverified(&dup).unwrap_err().to_string(),
        "record contains duplicate key"
    );
    let unsorted = [0xc6, 0x80, 0x01, 0x62, 0x01, 0x61, 0x02];
    assert_eq!(
        Record::decode_unverified(&unsorted).unwrap_err(),
        EnrError::NotSorted
    );
}

// TestSignEncodeAndDecodeRandom
#[test]
fn sign_encode_and_decode_random() {
    let mut r = Record::new();
    let mut pairs = Vec::new();
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for i in 0..10 {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let key = format!("k{:06x}", (x >> 40) ^ i);
        let value = x >> 32;
        r.set_uint(&key, value);
        pairs.push((key, value));
    }
    r.sign(&SecretKey::random()).unwrap();
    let enc = r.to_rlp().unwrap().to_vec();
    assert_eq!(enc.len(), r.size());
    let back = Record::decode(&enc).unwrap();
    for (k, v) in pairs {
        assert_eq!(back.get_uint(&k).unwrap(), v, "key {k}");
    }
}

// ---- go-ethereum p2p/enode/idscheme_test.go ----

// TestSignError: a record without the v4 scheme does not verify.
#[test]
fn wrong_scheme_does_not_verify() {
    let key = SecretKey::random();
    let mut r = Record::new();
    r.sign(&key).unwrap();
    let sig = r.signature().unwrap().to_vec();
    // Same content but id "v5": build it as raw RLP and decode.
    let mut other = r.clone();
    other.set_bytes("id", b"v5");
    other.set_seq(r.seq());
    assert!(other.verify().is_err());
    assert_eq!(sig.len(), 64);
}

#[test]
fn eth_entry_round_trip_and_forward_compat() {
    let key = SecretKey::random();
    let fork = EthEntry {
        hash: [0xfc, 0x64, 0xec, 0x04],
        next: 1_150_000,
    };
    let mut r = Record::new();
    r.set_eth(fork);
    r.sign(&key).unwrap();
    let back = Record::decode(r.to_rlp().unwrap()).unwrap();
    assert_eq!(back.eth().unwrap(), fork);
    // [[hash, next], extra]: the extra element is ignored.
    r.set_raw("eth", vec![0xc8, 0xc6, 0x84, 1, 2, 3, 4, 0x05, 0x07]);
    assert_eq!(
        r.eth().unwrap(),
        EthEntry {
            hash: [1, 2, 3, 4],
            next: 5
        }
    );
    // The fork id itself is strict.
    r.set_raw("eth", vec![0xc8, 0xc7, 0x84, 1, 2, 3, 4, 0x05, 0x07]);
    assert!(r.eth().is_err());
}

#[test]
fn a_missing_port_is_zero_in_the_enode() {
    let r = record_with(&["10.0.0.1"], &[("tcp", 30303)]);
    let e = r.to_enode().unwrap();
    assert_eq!((e.tcp_port, e.udp_port), (30303, 0));
    assert!(e.to_string().ends_with("@10.0.0.1:30303?discport=0"), "{e}");
    let r = record_with(&["10.0.0.1"], &[("udp", 30301)]);
    let e = r.to_enode().unwrap();
    assert_eq!((e.tcp_port, e.udp_port), (0, 30301));
    assert!(e.to_string().ends_with("@10.0.0.1:0?discport=30301"), "{e}");
}

#[test]
fn ipv6_only_record_gives_ipv6_enode() {
    let key = SecretKey::random();
    let mut r = Record::new();
    r.set_ip("::1".parse().unwrap());
    r.set_tcp6(30303);
    r.set_udp6(30301);
    r.sign(&key).unwrap();
    let e = r.to_enode().unwrap();
    assert_eq!(e.ip, "::1".parse::<IpAddr>().unwrap());
    assert_eq!((e.tcp_port, e.udp_port), (30303, 30301));
    // No address at all.
    let mut bare = Record::new();
    bare.sign(&key).unwrap();
    assert_eq!(
        bare.to_enode().unwrap_err(),
        EnrError::NotFound("ip".into())
    );
}

/// A signed record with the given `ip`/`ip6` entries (each optional) and ports.
fn record_with(ips: &[&str], ports: &[(&str, u16)]) -> Record {
    let mut r = Record::new();
    for ip in ips {
        match ip.parse().unwrap() {
            // `set_ip` stores a mapped address as `ip`; a remote's record may not.
            IpAddr::V6(v6) if v6.to_ipv4_mapped().is_some() => {
                let mut value = vec![0x90];
                value.extend_from_slice(&v6.octets());
                r.set_raw("ip6", value);
            }
            ip => r.set_ip(ip),
        }
    }
    for &(key, port) in ports {
        match key {
            "tcp" => r.set_tcp(port),
            "udp" => r.set_udp(port),
            "tcp6" => r.set_tcp6(port),
            "udp6" => r.set_udp6(port),
            _ => unreachable!(),
        };
    }
    r.sign(&SecretKey::random()).unwrap();
    r
}

fn endpoint(r: &Record) -> (IpAddr, u16, u16) {
    let e = r.to_enode().unwrap();
    (e.ip, e.tcp_port, e.udp_port)
}

// go-ethereum's enode.newNodeWithID: an IPv6 endpoint without its own ports uses the
// IPv4 entries.
#[test]
fn an_ipv6_endpoint_falls_back_to_the_ipv4_ports() {
    let v6: IpAddr = "2001:db8::7".parse().unwrap();
    let r = record_with(&["2001:db8::7"], &[("tcp", 30303), ("udp", 30301)]);
    assert_eq!(endpoint(&r), (v6, 30303, 30301));
    let r = record_with(&["2001:db8::7"], &[("tcp", 1), ("udp", 2), ("udp6", 3)]);
    assert_eq!(endpoint(&r), (v6, 1, 3));
    let r = record_with(&["2001:db8::7"], &[("tcp6", 4), ("tcp", 1)]);
    assert_eq!(endpoint(&r), (v6, 4, 0));
}

// Of `ip` and `ip6`, the more global one wins (public, private, link-local, loopback,
// unspecified); IPv4 on a tie, and each endpoint with its own ports.
#[test]
fn the_more_global_address_is_the_endpoint() {
    let ports = [("tcp", 1), ("udp", 2), ("tcp6", 3), ("udp6", 4)];
    let cases = [
        ("127.0.0.1", "2001:db8::1", false),
        ("10.0.0.1", "2001:db8::1", false),
        ("8.8.8.8", "2001:db8::1", true), // a tie: IPv4
        ("10.0.0.1", "fe80::1", true),
        ("169.254.1.1", "fd00::1", false),
        ("192.168.1.1", "fd00::1", true),
        ("0.0.0.0", "::1", false),
        ("127.0.0.1", "::1", true),
    ];
    for (v4, v6, want_v4) in cases {
        let got = endpoint(&record_with(&[v4, v6], &ports));
        let want = if want_v4 {
            (v4.parse().unwrap(), 1, 2)
        } else {
            (v6.parse().unwrap(), 3, 4)
        };
        assert_eq!(got, want, "ip {v4}, ip6 {v6}");
    }
}

// A multicast address is no endpoint; an IPv4-mapped `ip6` is an IPv4 endpoint.
#[test]
fn multicast_is_skipped_and_a_mapped_ip6_is_ipv4() {
    let ports = [("tcp", 1), ("udp", 2), ("tcp6", 3), ("udp6", 4)];
    let r = record_with(&["224.0.0.1", "2001:db8::1"], &ports);
    assert_eq!(endpoint(&r), ("2001:db8::1".parse().unwrap(), 3, 4));
    let r = record_with(&["10.0.0.1", "ff02::1"], &ports);
    assert_eq!(endpoint(&r), ("10.0.0.1".parse().unwrap(), 1, 2));
    let r = record_with(&["224.0.0.1"], &ports);
    assert_eq!(r.to_enode().unwrap_err(), EnrError::NotFound("ip".into()));
    let r = record_with(&["::ffff:10.0.0.9"], &ports);
    assert_eq!(endpoint(&r), ("10.0.0.9".parse().unwrap(), 1, 2));
    // Ranked as its IPv4 address: loopback, below a private IPv4 one.
    let r = record_with(&["10.0.0.1", "::ffff:127.0.0.1"], &ports);
    assert_eq!(endpoint(&r), ("10.0.0.1".parse().unwrap(), 1, 2));
    // A mapped multicast address is multicast.
    let r = record_with(&["::ffff:224.0.0.1"], &ports);
    assert_eq!(r.to_enode().unwrap_err(), EnrError::NotFound("ip".into()));
    // `::ffff:0.0.0.0` is not unspecified (as in Go's netip): it outranks loopback.
    let r = record_with(&["127.0.0.1", "::ffff:0.0.0.0"], &ports);
    assert_eq!(endpoint(&r), ("0.0.0.0".parse().unwrap(), 1, 2));
}
