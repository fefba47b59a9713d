//! Discovery v4 packets: the EIP-8 forward-compatibility vectors (go-ethereum's
//! `v4wire_test.go`), round trips and rejection of bad packets.
#![cfg(feature = "discovery")]

use devp2p_peer::discover::v4wire::*;
use devp2p_peer::enr::Record;
use devp2p_peer::rlpx::SecretKey;

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn pubkey(s: &str) -> [u8; 64] {
    unhex(s).try_into().unwrap()
}

fn ep(ip: &str, udp: u16, tcp: u16) -> Endpoint {
    Endpoint {
        ip: ip.parse().unwrap(),
        udp,
        tcp,
    }
}

const TEST_KEY: &str = "b71c71a67e1177ad4e901695e1b4b9ee17ae16c6668d313eac2f96dbcda3f291";

// TestForwardCompatibility (EIP-8 vectors).
#[test]
fn eip8_forward_compatibility() {
    let key = SecretKey::from_hex(TEST_KEY).unwrap();
    let cases: Vec<(&str, Packet)> = vec![
        (
            "71dbda3a79554728d4f94411e42ee1f8b0d561c10e1e5f5893367948c6a7d70bb87b235fa28a77070271b6c164a2dce8c7e13a5739b53b5e96f2e5acb0e458a02902f5965d55ecbeb2ebb6cabb8b2b232896a36b737666c55265ad0a68412f250001ea04cb847f000001820cfa8215a8d790000000000000000000000000000000018208ae820d058443b9a355",
            Packet::Ping(Ping {
                version: 4,
                from: ep("127.0.0.1", 3322, 5544),
                to: ep("::1", 2222, 3333),
                expiration: 1136239445,
                enr_seq: None,
                rest: vec![],
            }),
        ),
        (
            "e9614ccfd9fc3e74360018522d30e1419a143407ffcce748de3e22116b7e8dc92ff74788c0b6663aaa3d67d641936511c8f8d6ad8698b820a7cf9e1be7155e9a241f556658c55428ec0563514365799a4be2be5a685a80971ddcfa80cb422cdd0101ec04cb847f000001820cfa8215a8d790000000000000000000000000000000018208ae820d058443b9a3550102",
            Packet::Ping(Ping {
                version: 4,
                from: ep("127.0.0.1", 3322, 5544),
                to: ep("::1", 2222, 3333),
                expiration: 1136239445,
                enr_seq: Some(1),
                rest: vec![vec![0x02]],
            }),
        ),
        (
            "c7c44041b9f7c7e41934417ebac9a8e1a4c6298f74553f2fcfdcae6ed6fe53163eb3d2b52e39fe91831b8a927bf4fc222c3902202027e5e9eb812195f95d20061ef5cd31d502e47ecb61183f74a504fe04c51e73df81f25c4d506b26db4517490103f84eb840ca634cae0d49acb401d8a4c6b6fe8c55b70d115bf400769cc1400f3258cd31387574077f301b421bc84df7266c44e9e6d569fc56be00812904767bf5ccd1fc7f8443b9a35582999983999999280dc62cc8255c73471e0a61da0c89acdc0e035e260add7fc0c04ad9ebf3919644c91cb247affc82b69bd2ca235c71eab8e49737c937a2c396",
            Packet::FindNode(FindNode {
                target: pubkey("ca634cae0d49acb401d8a4c6b6fe8c55b70d115bf400769cc1400f3258cd31387574077f301b421bc84df7266c44e9e6d569fc56be00812904767bf5ccd1fc7f"),
                expiration: 1136239445,
                rest: vec![vec![0x82, 0x99, 0x99], vec![0x83, 0x99, 0x99, 0x99]],
            }),
        ),
        (
            "c679fc8fe0b8b12f06577f2e802d34f6fa257e6137a995f6f4cbfc9ee50ed3710faf6e66f932c4c8d81d64343f429651328758b47d3dbc02c4042f0fff6946a50f4a49037a72bb550f3a7872363a83e1b9ee6469856c24eb4ef80b7535bcf99c0004f9015bf90150f84d846321163782115c82115db8403155e1427f85f10a5c9a7755877748041af1bcd8d474ec065eb33df57a97babf54bfd2103575fa829115d224c523596b401065a97f74010610fce76382c0bf32f84984010203040101b840312c55512422cf9b8a4097e9a6ad79402e87a15ae909a4bfefa22398f03d20951933beea1e4dfa6f968212385e829f04c2d314fc2d4e255e0d3bc08792b069dbf8599020010db83c4d001500000000abcdef12820d05820d05b84038643200b172dcfef857492156971f0e6aa2c538d8b74010f8e140811d53b98c765dd2d96126051913f44582e8c199ad7c6d6819e9a56483f637feaac9448aacf8599020010db885a308d313198a2e037073488203e78203e8b8408dcab8618c3253b558d459da53bd8fa68935a719aff8b811197101a4b2b47dd2d47295286fc00cc081bb542d760717d1bdd6bec2c37cd72eca367d6dd3b9df738443b9a355010203b525a138aa34383fec3d2719a0",
            Packet::Neighbors(Neighbors {
                nodes: vec![
                    NodeEntry {
                        endpoint: ep("99.33.22.55", 4444, 4445),
                        id: pubkey("3155e1427f85f10a5c9a7755877748041af1bcd8d474ec065eb33df57a97babf54bfd2103575fa829115d224c523596b401065a97f74010610fce76382c0bf32"),
                    },
                    NodeEntry {
                        endpoint: ep("1.2.3.4", 1, 1),
                        id: pubkey("312c55512422cf9b8a4097e9a6ad79402e87a15ae909a4bfefa22398f03d20951933beea1e4dfa6f968212385e829f04c2d314fc2d4e255e0d3bc08792b069db"),
                    },
                    NodeEntry {
                        endpoint: ep("2001:db8:3c4d:15::abcd:ef12", 3333, 3333),
                        id: pubkey("38643200b172dcfef857492156971f0e6aa2c538d8b74010f8e140811d53b98c765dd2d96126051913f44582e8c199ad7c6d6819e9a56483f637feaac9448aac"),
                    },
                    NodeEntry {
                        endpoint: ep("2001:db8:85a3:8d3:1319:8a2e:370:7348", 999, 1000),
                        id: pubkey("8dcab8618c3253b558d459da53bd8fa68935a719aff8b811197101a4b2b47dd2d47295286fc00cc081bb542d760717d1bdd6bec2c37cd72eca367d6dd3b9df73"),
                    },
                ],
                expiration: 1136239445,
                rest: vec![vec![0x01], vec![0x02], vec![0x03]],
            }),
        ),
    ];
    for (input, want) in cases {
        let (got, sender, hash) = decode(&unhex(input)).unwrap_or_else(|e| panic!("{e}: {input}"));
        assert_eq!(got, want);
        assert_eq!(sender, key.public_key());
        assert_eq!(&hash[..], &unhex(input)[..32]);
    }
}

fn sample_packets() -> Vec<Packet> {
    let mut record = Record::new();
    record.set_udp(30303);
    record.sign(&SecretKey::random()).unwrap();
    vec![
        Packet::Ping(Ping {
            version: 4,
            from: ep("10.0.0.1", 30303, 30303),
            to: ep("::1", 1, 0),
            expiration: 1_700_000_000,
            enr_seq: Some(7),
            rest: vec![],
        }),
        Packet::Pong(Pong {
            to: ep("127.0.0.1", 30303, 0),
            reply_tok: vec![9; 32],
            expiration: 1,
            enr_seq: None,
            rest: vec![],
        }),
        Packet::FindNode(FindNode {
            target: [3; 64],
            expiration: 5,
            rest: vec![],
        }),
        Packet::Neighbors(Neighbors {
            nodes: vec![],
            expiration: 5,
            rest: vec![],
        }),
        Packet::EnrRequest(EnrRequest {
            expiration: 5,
            rest: vec![],
        }),
        Packet::EnrResponse(EnrResponse {
            reply_tok: vec![1; 32],
            record,
            rest: vec![],
        }),
    ]
}

#[test]
fn round_trips() {
    let key = SecretKey::random();
    for p in sample_packets() {
        let (bytes, hash) = encode(&key, &p);
        assert!(bytes.len() <= MAX_PACKET_SIZE);
        let (back, sender, h) = decode(&bytes).unwrap();
        assert_eq!(back, p, "{}", p.name());
        assert_eq!(sender, key.public_key());
        assert_eq!(h, hash);
        assert_eq!(bytes[97], p.kind());
    }
}

#[test]
fn bad_packets_are_rejected_with_geth_texts() {
    let key = SecretKey::random();
    let (good, _) = encode(&key, &sample_packets()[0]);

    assert_eq!(decode(&good[..97]).unwrap_err().to_string(), "too small");

    let mut bad_hash = good.clone();
    bad_hash[5] ^= 0xff;
    assert_eq!(decode(&bad_hash).unwrap_err(), PacketError::BadHash);

    // Corrupt the signature's recovery id and fix up the hash.
    let mut bad_sig = good.clone();
    bad_sig[32 + 64] = 7;
    rehash(&mut bad_sig);
    assert_eq!(
        decode(&bad_sig).unwrap_err().to_string(),
        "invalid signature recovery id"
    );

    // A zero signature recovers nothing.
    let mut zero_sig = good.clone();
    zero_sig[32..97].fill(0);
    rehash(&mut zero_sig);
    assert!(matches!(
        decode(&zero_sig).unwrap_err(),
        PacketError::BadSignature(_)
    ));

    // An unknown packet type, correctly signed.
    let mut unknown = good.clone();
    unknown[97] = 0xff;
    resign(&key, &mut unknown);
    assert_eq!(
        decode(&unknown).unwrap_err().to_string(),
        "unknown type: 255"
    );

    // Garbage data, correctly signed.
    let mut garbage = good[..98].to_vec();
    garbage.extend_from_slice(&[0xc5, 0x01]);
    resign(&key, &mut garbage);
    assert!(matches!(decode(&garbage).unwrap_err(), PacketError::Rlp(_)));
}

#[test]
fn neighbors_node_must_have_exactly_four_fields() {
    let key = SecretKey::random();
    // [[[ip, udp, tcp, id, extra]], exp]
    let mut node = vec![0x84, 1, 2, 3, 4, 0x01, 0x01, 0xb8, 0x40];
    node.extend_from_slice(&[7; 64]);
    node.push(0x05);
    // Fix the outer sizes: outer = [nodes_list, exp].
    let nodes_list_len = node.len() + 2;
    let outer_len = nodes_list_len + 2 + 1;
    let mut d = vec![
        0xf8,
        outer_len as u8,
        0xf8,
        nodes_list_len as u8,
        0xf8,
        node.len() as u8,
    ];
    d.extend_from_slice(&node);
    d.push(0x05);
    let mut pkt = vec![0u8; 97];
    pkt.push(NEIGHBORS);
    pkt.extend_from_slice(&d);
    resign(&key, &mut pkt);
    let err = decode(&pkt).unwrap_err();
    assert_eq!(
        err.to_string(),
        "rlp: input list has too many elements for v4wire.Node"
    );
}

#[test]
fn expiration() {
    assert!(expired(now_unix() - 1));
    assert!(!expired(now_unix() + 20));
}

/// Recomputes the hash after editing a packet.
fn rehash(p: &mut [u8]) {
    let h = keccak(&p[32..]);
    p[..32].copy_from_slice(&h);
}

/// Re-signs and rehashes a packet after editing its type or data.
fn resign(key: &SecretKey, p: &mut [u8]) {
    let digest = keccak(&p[97..]);
    let sig = sign(key, &digest);
    p[32..97].copy_from_slice(&sig);
    rehash(p);
}

fn keccak(b: &[u8]) -> [u8; 32] {
    use sha3::{Digest, Keccak256};
    Keccak256::digest(b).into()
}

fn sign(key: &SecretKey, digest: &[u8; 32]) -> [u8; 65] {
    let sk = secp256k1::SecretKey::from_secret_bytes(key.to_bytes()).unwrap();
    let sig = secp256k1::ecdsa::RecoverableSignature::sign_ecdsa_recoverable(
        secp256k1::Message::from_digest(*digest),
        &sk,
    );
    let (id, rs) = sig.serialize_compact();
    let mut out = [0u8; 65];
    out[..64].copy_from_slice(&rs);
    out[64] = id.to_u8();
    out
}

/// Mutated packet data (correctly hashed and signed) is rejected or accepted, never a
/// panic; accepted packets re-encode and decode to the same value.
#[test]
fn mutated_packets_never_panic() {
    use rand::Rng;
    let key = SecretKey::random();
    let mut rng = rand::rng();
    for p in sample_packets() {
        let (good, _) = encode(&key, &p);
        for _ in 0..300 {
            let mut b = good.clone();
            let n = rng.random_range(1..4);
            for _ in 0..n {
                let i = rng.random_range(98..b.len());
                b[i] = rng.random();
            }
            if rng.random_bool(0.2) {
                let cut = rng.random_range(98..b.len());
                b.truncate(cut.max(99));
            }
            resign(&key, &mut b);
            if let Ok((packet, _, _)) = decode(&b) {
                let (again, _) = encode(&key, &packet);
                assert_eq!(decode(&again).unwrap().0, packet);
            }
        }
    }
}
