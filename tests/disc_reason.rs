//! Disconnect reasons: texts, encoding, and every encoding real peers send.

use devp2p_peer::DiscReason;

#[test]
fn texts() {
    let want = [
        (0x00, "disconnect requested"),
        (0x01, "network error"),
        (0x02, "breach of protocol"),
        (0x03, "useless peer"),
        (0x04, "too many peers"),
        (0x05, "already connected"),
        (0x06, "incompatible p2p protocol version"),
        (0x07, "invalid node identity"),
        (0x08, "client quitting"),
        (0x09, "unexpected identity"),
        (0x0a, "connected to self"),
        (0x0b, "read timeout"),
        (0x10, "subprotocol error"),
        (0xff, "invalid disconnect reason"),
    ];
    for (code, text) in want {
        assert_eq!(DiscReason(code).to_string(), text);
    }
    for code in (0x0c..=0x0f).chain(0x11..=0xfe) {
        assert_eq!(
            DiscReason(code).to_string(),
            format!("unknown disconnect reason {code}")
        );
    }
}

#[test]
fn encodes_as_a_list() {
    assert_eq!(DiscReason::REQUESTED.encode(), [0xc1, 0x80]);
    assert_eq!(DiscReason::TOO_MANY_PEERS.encode(), [0xc1, 0x04]);
    assert_eq!(DiscReason::SUBPROTOCOL_ERROR.encode(), [0xc1, 0x10]);
    assert_eq!(DiscReason::INVALID.encode(), [0xc2, 0x81, 0xff]);
    for code in 0..=255u8 {
        assert_eq!(
            DiscReason::decode(&DiscReason(code).encode()),
            DiscReason(code)
        );
    }
}

/// Every payload shape, with the reason go-ethereum's `decodeDisconnectMessage` gives it
/// (`rlp.NewStream(payload, 100)`: a header's declared size is held against the 100-byte
/// limit, not against the bytes that arrived; a list's first element is the reason).
/// `None` is "invalid disconnect reason".
const GETH_DECODES: &[(&[u8], Option<u8>)] = &[
    // The list form, as every client sends it.
    (&[0xc1, 0x08], Some(0x08)),
    (&[0xc1, 0x80], Some(0x00)),
    (&[0xc1, 0x04], Some(0x04)),
    (&[0xc1, 0x10], Some(0x10)),
    (&[0xc2, 0x81, 0x80], Some(0x80)),
    (&[0xc2, 0x81, 0xff], Some(0xff)),
    // The legacy bare form.
    (&[0x08], Some(0x08)),
    (&[0x80], Some(0x00)),
    (&[0x04], Some(0x04)),
    (&[0x81, 0x80], Some(0x80)),
    (&[0x81, 0xff], Some(0xff)),
    // A list declaring more than arrived: only its first element must be there.
    (&[0xc5, 0x08], Some(0x08)),
    (&[0xc9, 0x80], Some(0x00)),
    (&[0xc5, 0x01], Some(0x01)),
    (&[0xf8, 0x38, 0x08], Some(0x08)),
    (&[0xf8, 0x62, 0x08], Some(0x08)), // 2 + 98 = 100 bytes declared: at the limit
    // More elements after the first, or bytes after the value: ignored.
    (&[0xc2, 0x03, 0x05], Some(0x03)),
    (&[0xc3, 0x03, 0xc0, 0x00], Some(0x03)),
    (&[0xc1, 0x08, 0xff, 0xff], Some(0x08)),
    (&[0x08, 0xc0], Some(0x08)),
    // Over the limit: a declared size beyond 100 bytes, header included.
    (&[0xf8, 0x63, 0x08], None),
    (&[0xb8, 0x63, 0x08], None),
    (&[0xf9, 0xff, 0xff, 0x08], None),
    // Nothing to read: empty input, an empty list, a cut-off value.
    (&[], None),
    (&[0xc0], None),
    (&[0xc0, 0x08], None),
    (&[0x81], None),
    (&[0xc1], None),
    (&[0xc5, 0x81], None),
    (&[0xb8], None),
    (&[0xf8], None),
    (&[0xc2, 0x82, 0x01], None),
    // The first element overruns its list.
    (&[0xc1, 0x81, 0x80], None),
    (&[0xc1, 0xb8, 0x38], None),
    // Non-canonical integers and sizes.
    (&[0x00], None),
    (&[0xc1, 0x00], None),
    (&[0x81, 0x05], None),
    (&[0xc2, 0x81, 0x05], None),
    (&[0x81, 0x00], None),
    (&[0xb8, 0x01, 0x08], None),
    (&[0xf8, 0x01, 0x08], None),
    (&[0xf8, 0x00], None),
    // Too wide for a byte.
    (&[0x82, 0x01, 0x00], None),
    (&[0xc3, 0x82, 0x01, 0x00], None),
    (&[0x82, 0x00, 0x08], None),
    // A reason that is itself a list.
    (&[0xc1, 0xc0], None),
    (&[0xc2, 0xc1, 0x08], None),
    // Garbage.
    (&[0xff, 0xff, 0xff], None),
];

#[test]
fn decodes_as_go_ethereum() {
    for (input, want) in GETH_DECODES {
        let want = want.map_or(DiscReason::INVALID, DiscReason);
        assert_eq!(DiscReason::decode(input), want, "input {input:02x?}");
    }
}

#[test]
fn long_payloads_are_bounded() {
    // A 1 MiB "reason" is read up to its first 100 bytes only, and gives INVALID.
    let mut big = vec![0xf9, 0xff, 0xff];
    big.resize(1 << 20, 0x01);
    assert_eq!(DiscReason::decode(&big), DiscReason::INVALID);
}
