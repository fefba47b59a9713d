//! The Hello message: EIP-8's test vector, and decoding exactly as go-ethereum decodes it.

use devp2p_peer::{
    read_protocol_handshake, Cap, DiscReason, Error, Hello, MemoryTransport, Msg, MsgWriter,
};

fn unhex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

// EIP-8, "devp2p Base Protocol": a Hello with a higher version and extra list elements.
const EIP8_HELLO: &str = "
f87137916b6e6574682f76302e39312f706c616e39cdc5836574683dc6846d6f726b1682270fb840
fda1cff674c90c9a197539fe3dfb53086ace64f83ed7c6eabec741f7f381cc803e52ab2cd55d5569
bce4347107a310dfd5f88a010cd2ffd1005ca406f1842877c883666f6f836261720304";

#[test]
fn eip8_hello_vector() {
    let hello: Hello = rlp::decode(&unhex(EIP8_HELLO)).unwrap();
    assert_eq!(hello.version, 55);
    assert_eq!(hello.name, "kneth/v0.91/plan9");
    assert_eq!(hello.caps, vec![Cap::new("eth", 61), Cap::new("mork", 22)]);
    assert_eq!(hello.listen_port, 9999);
    assert_eq!(
        hello.id,
        unhex("fda1cff674c90c9a197539fe3dfb53086ace64f83ed7c6eabec741f7f381cc803e52ab2cd55d5569bce4347107a310dfd5f88a010cd2ffd1005ca406f1842877")
    );
    assert_eq!(
        hello.rest,
        vec![unhex("c883666f6f83626172"), vec![0x03], vec![0x04]]
    );
    // Re-encoding keeps the extra elements.
    assert_eq!(rlp::encode(&hello).to_vec(), unhex(EIP8_HELLO));
}

#[test]
fn our_hello_is_sorted_version_5_port_0() {
    let h = Hello::new(
        "x",
        vec![
            Cap::new("snap", 1),
            Cap::new("eth", 69),
            Cap::new("eth", 68),
        ],
        [9; 64],
    );
    assert_eq!(h.version, 5);
    assert_eq!(h.listen_port, 0);
    assert_eq!(
        h.caps,
        vec![
            Cap::new("eth", 68),
            Cap::new("eth", 69),
            Cap::new("snap", 1)
        ]
    );
    let back: Hello = rlp::decode(&rlp::encode(&h)).unwrap();
    assert_eq!(back, h);
}

#[test]
fn odd_bytes_in_names_do_not_fail_the_hello() {
    let mut s = rlp::RlpStream::new_list(5);
    s.append(&5u64);
    s.append(&vec![0xffu8, b'x']);
    s.begin_list(1);
    s.begin_list(2).append(&vec![0xfeu8]).append(&1u64);
    s.append(&0u64);
    s.append(&vec![1u8; 64]);
    let hello: Hello = rlp::decode(&s.out()).unwrap();
    assert_eq!(hello.name, "\u{fffd}x");
    assert_eq!(hello.caps[0].version, 1);
}

#[test]
fn short_and_malformed_hellos_fail() {
    let mut s = rlp::RlpStream::new_list(4);
    s.append(&5u64).append(&"x").begin_list(0);
    s.append(&0u64);
    assert!(rlp::decode::<Hello>(&s.out()).is_err());
    // A cap with three elements.
    let mut s = rlp::RlpStream::new_list(5);
    s.append(&5u64).append(&"x");
    s.begin_list(1)
        .begin_list(3)
        .append(&"eth")
        .append(&68u64)
        .append(&1u64);
    s.append(&0u64).append(&vec![1u8; 64]);
    assert!(rlp::decode::<Hello>(&s.out()).is_err());
    assert!(rlp::decode::<Hello>(&[0x80]).is_err());
}

// ---- A small RLP builder, so each case reads as its structure. ----

/// A byte string.
fn s(b: &[u8]) -> Vec<u8> {
    rlp::encode(&b).to_vec()
}

/// A canonical integer.
fn u(x: u64) -> Vec<u8> {
    rlp::encode(&x).to_vec()
}

/// A list of already-encoded items.
fn l(items: &[Vec<u8>]) -> Vec<u8> {
    let mut st = rlp::RlpStream::new_list(items.len());
    for item in items {
        st.append_raw(item, 1);
    }
    st.out().to_vec()
}

fn cap(name: &str, version: u64) -> Vec<u8> {
    l(&[s(name.as_bytes()), u(version)])
}

fn id() -> Vec<u8> {
    s(&[1; 64])
}

/// A Hello with the given fields in place of version, name, caps, port and id.
fn hello(version: Vec<u8>, name: Vec<u8>, caps: Vec<u8>, port: Vec<u8>, id: Vec<u8>) -> Vec<u8> {
    l(&[version, name, caps, port, id])
}

fn eth68() -> Vec<u8> {
    l(&[cap("eth", 68)])
}

/// Reads `payload` as a remote's Hello the way a handshake does.
fn read(payload: &[u8]) -> Result<Hello, Error> {
    let (a, b) = MemoryTransport::buffered_pair(1);
    a.write_msg(Msg::new(0, payload.to_vec())).unwrap();
    read_protocol_handshake(&b)
}

/// Payloads go-ethereum rejects, each with the error its `readProtocolHandshake` returns
/// (after `invalid message: (code 0) (size N) `).
fn geth_rejects() -> Vec<(&'static str, Vec<u8>, &'static str)> {
    let p = || u(0);
    vec![
        (
            "name is a list",
            hello(u(5), l(&[s(b"x")]), eth68(), p(), id()),
            "rlp: expected input string or byte for string, decoding into (p2p.protoHandshake).Name",
        ),
        (
            "cap name is a list, [[0x65,0x74,0x68],68]",
            hello(u(5), s(b"x"), l(&[l(&[l(&[u(0x65), u(0x74), u(0x68)]), u(68)])]), p(), id()),
            "rlp: expected input string or byte for string, decoding into (p2p.protoHandshake).Caps[0].Name",
        ),
        (
            "second cap's name is a list",
            hello(u(5), s(b"x"), l(&[cap("eth", 68), l(&[l(&[]), u(1)])]), p(), id()),
            "rlp: expected input string or byte for string, decoding into (p2p.protoHandshake).Caps[1].Name",
        ),
        (
            "name one byte in long form",
            hello(u(5), vec![0x81, 0x05], eth68(), p(), id()),
            "rlp: non-canonical size information for string, decoding into (p2p.protoHandshake).Name",
        ),
        (
            "version a bare zero byte",
            hello(vec![0x00], s(b"x"), eth68(), p(), id()),
            "rlp: non-canonical integer (leading zero bytes) for uint64, decoding into (p2p.protoHandshake).Version",
        ),
        (
            "version with a leading zero",
            hello(vec![0x82, 0x00, 0x05], s(b"x"), eth68(), p(), id()),
            "rlp: non-canonical integer (leading zero bytes) for uint64, decoding into (p2p.protoHandshake).Version",
        ),
        (
            "version one byte in long form",
            hello(vec![0x81, 0x05], s(b"x"), eth68(), p(), id()),
            "rlp: non-canonical size information for uint64, decoding into (p2p.protoHandshake).Version",
        ),
        (
            "version over 64 bits",
            hello(s(&[1; 9]), s(b"x"), eth68(), p(), id()),
            "rlp: input string too long for uint64, decoding into (p2p.protoHandshake).Version",
        ),
        (
            "version is a list",
            hello(l(&[]), s(b"x"), eth68(), p(), id()),
            "rlp: expected input string or byte for uint64, decoding into (p2p.protoHandshake).Version",
        ),
        (
            "cap version over 64 bits",
            hello(u(5), s(b"x"), l(&[l(&[s(b"eth"), s(&[1; 9])])]), p(), id()),
            "rlp: input string too long for uint, decoding into (p2p.protoHandshake).Caps[0].Version",
        ),
        (
            "cap version with a leading zero",
            hello(u(5), s(b"x"), l(&[l(&[s(b"eth"), vec![0x82, 0x00, 0x44]])]), p(), id()),
            "rlp: non-canonical integer (leading zero bytes) for uint, decoding into (p2p.protoHandshake).Caps[0].Version",
        ),
        (
            "caps is a string",
            hello(u(5), s(b"x"), s(b"eth"), p(), id()),
            "rlp: expected input list for []p2p.Cap, decoding into (p2p.protoHandshake).Caps",
        ),
        (
            "a cap is a string",
            hello(u(5), s(b"x"), l(&[s(b"eth")]), p(), id()),
            "rlp: expected input list for p2p.Cap, decoding into (p2p.protoHandshake).Caps[0]",
        ),
        (
            "a cap with three elements",
            hello(u(5), s(b"x"), l(&[l(&[s(b"eth"), u(68), u(1)])]), p(), id()),
            "rlp: input list has too many elements for p2p.Cap, decoding into (p2p.protoHandshake).Caps[0]",
        ),
        (
            "a cap with one element",
            hello(u(5), s(b"x"), l(&[l(&[s(b"eth")])]), p(), id()),
            "rlp: too few elements for p2p.Cap, decoding into (p2p.protoHandshake).Caps[0]",
        ),
        (
            "listen port with a leading zero",
            hello(u(5), s(b"x"), eth68(), vec![0x82, 0x00, 0x01], id()),
            "rlp: non-canonical integer (leading zero bytes) for uint64, decoding into (p2p.protoHandshake).ListenPort",
        ),
        (
            "id is a list",
            hello(u(5), s(b"x"), eth68(), p(), l(&[s(&[1; 32]), s(&[1; 32])])),
            "rlp: expected input string or byte for []uint8, decoding into (p2p.protoHandshake).ID",
        ),
        (
            "four elements",
            l(&[u(5), s(b"x"), eth68(), p()]),
            "rlp: too few elements for p2p.protoHandshake",
        ),
        (
            "not a list",
            s(b"hello"),
            "rlp: expected input list for p2p.protoHandshake",
        ),
        (
            "a one-byte string in long form instead of a list",
            vec![0x81, 0x05],
            "rlp: expected input list for p2p.protoHandshake",
        ),
        (
            "list size in long form though short",
            vec![0xf8, 0x01, 0x05],
            "rlp: non-canonical size information for p2p.protoHandshake",
        ),
        ("empty", vec![], "EOF"),
        (
            "list declares more than the payload holds",
            {
                let mut h = hello(u(5), s(b"x"), eth68(), p(), id());
                h.truncate(h.len() - 1);
                h
            },
            "rlp: value size exceeds available input length",
        ),
        (
            "an element overruns its list",
            vec![0xc3, 0x05, 0x83, b'x'],
            "rlp: element is larger than containing list",
        ),
        (
            "an extra element with a non-canonical size",
            l(&[u(5), s(b"x"), eth68(), p(), id(), vec![0xb8, 0x01, 0x00]]),
            "rlp: non-canonical size information",
        ),
    ]
}

#[test]
fn rejects_what_go_ethereum_rejects_with_its_text() {
    for (what, payload, text) in geth_rejects() {
        let err = read(&payload).expect_err(what);
        assert!(matches!(err, Error::InvalidMsg(_)), "{what}: {err:?}");
        let want = format!("invalid message: (code 0) (size {}) {text}", payload.len());
        assert_eq!(err.to_string(), want, "{what}");
        // The rlp crate's entry point goes through the same strict decoder.
        assert!(rlp::decode::<Hello>(&payload).is_err(), "{what}");
    }
}

#[test]
fn list_as_cap_name_is_not_eth() {
    // Decoded loosely, the list [0x65, 0x74, 0x68] reads as the string "eth".
    let payload = hello(
        u(5),
        s(b"x"),
        l(&[l(&[l(&[u(0x65), u(0x74), u(0x68)]), u(68)])]),
        u(0),
        id(),
    );
    assert!(read(&payload).is_err());
    assert!(rlp::decode::<Cap>(&l(&[l(&[u(0x65), u(0x74), u(0x68)]), u(68)])).is_err());
}

#[test]
fn cap_versions_are_64_bit_on_the_wire() {
    let caps = l(&[
        cap("eth", 68),
        cap("eth", u64::from(u32::MAX)),
        cap("eth", u64::from(u32::MAX) + 1),
        cap("snap", u64::MAX),
        cap("snap", 1),
    ]);
    let h = read(&hello(u(5), s(b"x"), caps, u(0), id())).unwrap();
    // The Hello decodes; the caps no local protocol can have are left out.
    assert_eq!(
        h.caps,
        vec![
            Cap::new("eth", 68),
            Cap::new("eth", u32::MAX),
            Cap::new("snap", 1)
        ]
    );
    let too_wide = l(&[s(b"eth"), u(1 << 32)]);
    assert!(rlp::decode::<Cap>(&too_wide).is_err());
}

#[test]
fn accepts_what_go_ethereum_accepts() {
    // Any 64-bit version and port; extra elements of any shape, kept raw; bytes after the
    // list ignored; a raw extra element is not held to the one-byte rule.
    let extra = vec![l(&[l(&[]), s(b"more")]), vec![0x81, 0x05], s(&[7; 60])];
    let mut fields = vec![u(u64::MAX), s(b""), l(&[]), u(u64::MAX), id()];
    fields.extend(extra.iter().cloned());
    let mut payload = l(&fields);
    payload.extend_from_slice(&[0xff, 0x00]);
    let h = read(&payload).unwrap();
    assert_eq!((h.version, h.listen_port), (u64::MAX, u64::MAX));
    assert_eq!(h.name, "");
    assert!(h.caps.is_empty());
    assert_eq!(h.rest, extra);
}

#[test]
fn node_key_must_be_64_nonzero_bytes() {
    for key in [vec![1u8; 63], vec![1; 65], vec![0; 64], vec![]] {
        let err = read(&hello(u(5), s(b"x"), eth68(), u(0), s(&key))).unwrap_err();
        assert_eq!(
            err.disc_reason(),
            Some(DiscReason::INVALID_IDENTITY),
            "{key:?}"
        );
    }
}
