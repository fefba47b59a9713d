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

#[test]
fn decodes_list_and_legacy_forms() {
    let cases: &[(&[u8], u8)] = &[
        (&[0xc1, 0x08], 0x08),
        (&[0x08], 0x08),
        (&[0xc1, 0x80], 0x00),
        (&[0x80], 0x00),
        (&[0xc1, 0x04], 0x04),
        (&[0x04], 0x04),
        (&[0xc1, 0x10], 0x10),
        (&[0x10], 0x10),
        (&[0x81, 0xff], 0xff),
        // A list with more elements: the first counts.
        (&[0xc2, 0x03, 0x05], 0x03),
        // Non-canonical bare zero, nothing, garbage, out of range, truncated: invalid.
        (&[0x00], 0xff),
        (&[], 0xff),
        (&[0xc0], 0xff),
        (&[0xc5, 0x01], 0xff),
        (&[0x82, 0x01, 0x00], 0xff),
        (&[0x81, 0x05], 0xff),
        (&[0xff, 0xff, 0xff], 0xff),
        (&[0xb8], 0xff),
    ];
    for (input, want) in cases {
        assert_eq!(
            DiscReason::decode(input),
            DiscReason(*want),
            "input {input:02x?}"
        );
    }
}

#[test]
fn long_payloads_are_bounded() {
    // A 1 MiB "reason" is read up to its first 100 bytes only, and gives INVALID.
    let mut big = vec![0xf9, 0xff, 0xff];
    big.resize(1 << 20, 0x01);
    assert_eq!(DiscReason::decode(&big), DiscReason::INVALID);
}
