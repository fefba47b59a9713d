//! Snappy messages. The fuzzer's bytes are (a) sent as a compressed payload behind a valid
//! frame MAC with snappy on, which must decode or fail with an error, bounded by
//! `MAX_FRAME_SIZE`; and (b) compressed by the egress and read back, which must round-trip.
#![no_main]

use devp2p_peer::rlpx::MAX_FRAME_SIZE;
use devp2p_peer_fuzz::link;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&code, body)) = data.split_first() else {
        return;
    };
    let code = u64::from(code & 0x3f);

    // (a) Arbitrary "compressed" bytes after a valid code.
    let (mut tx, mut rx) = link(true);
    let mut content = rlp::encode(&code).to_vec();
    content.extend_from_slice(body);
    tx.encode_raw(&content).expect("small content fits a frame");
    let wire = tx.frame().to_vec();
    if let Ok(msg) = rx.read_msg(&mut &wire[..]) {
        assert_eq!(msg.code, code);
        assert!(msg.data.len() <= MAX_FRAME_SIZE);
        assert_eq!(msg.wire_size, body.len());
    }

    // (b) Round trip.
    let (mut tx, mut rx) = link(true);
    tx.encode(code, body).expect("small messages encode");
    let wire = tx.frame().to_vec();
    let msg = rx.read_msg(&mut &wire[..]).expect("own frame decodes");
    assert_eq!((msg.code, msg.data), (code, body));
});
