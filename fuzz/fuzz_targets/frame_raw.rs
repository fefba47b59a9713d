//! Raw bytes into a `FrameIngress` after a real handshake. First byte: bit 0 snappy, bit 1
//! mode. Mode 0 feeds the bytes as wire bytes (exercising the header MAC); mode 1 frames the
//! bytes as frame *content* with a valid MAC (exercising the message-code RLP, the snappy
//! decoder and the size checks behind authentication). Reading must end in an error, never a
//! panic or an oversized allocation.
#![no_main]

use devp2p_peer_fuzz::link;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let (mut tx, mut rx) = link(flags & 1 != 0);
    let wire: Vec<u8> = if flags & 2 == 0 {
        rest.to_vec()
    } else {
        // Several frames: content pieces separated by a 0xfe byte.
        let mut wire = Vec::new();
        for piece in rest.split(|b| *b == 0xfe).take(8) {
            tx.encode_raw(piece).expect("small content fits a frame");
            wire.extend_from_slice(tx.frame());
        }
        wire
    };
    let mut r = &wire[..];
    for _ in 0..16 {
        match rx.read_msg(&mut r) {
            Ok(msg) => {
                assert!(msg.data.len() <= devp2p_peer::rlpx::MAX_FRAME_SIZE);
            }
            Err(_) => break,
        }
    }
});
