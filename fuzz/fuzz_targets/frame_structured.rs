//! Valid frames from a `FrameEgress`, at most one byte corrupted, read back in chunks of
//! fuzzer-chosen sizes, with snappy on or off. Every frame before the corrupted one must come
//! back exactly; the corrupted frame must be rejected with an error (every byte of a frame,
//! header, header MAC, body, padding and body MAC, is authenticated), never decoded as a
//! different message.
#![no_main]

use arbitrary::Arbitrary;
use devp2p_peer_fuzz::{link, Chunked};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Input {
    snappy: bool,
    msgs: Vec<(u64, Vec<u8>)>,
    /// Position of the corrupted byte (modulo the wire length) and the XOR mask (0: none).
    corrupt_at: u32,
    corrupt_xor: u8,
    chunks: Vec<u8>,
}

fuzz_target!(|input: Input| {
    let (mut tx, mut rx) = link(input.snappy);
    let msgs = &input.msgs[..input.msgs.len().min(8)];
    let mut wire = Vec::new();
    let mut ends = Vec::new();
    for (code, data) in msgs {
        tx.encode(*code, data).expect("small messages encode");
        wire.extend_from_slice(tx.frame());
        ends.push(wire.len());
    }
    let bad_frame = if input.corrupt_xor != 0 && !wire.is_empty() {
        let at = input.corrupt_at as usize % wire.len();
        wire[at] ^= input.corrupt_xor;
        Some(
            ends.iter()
                .position(|&end| at < end)
                .expect("inside some frame"),
        )
    } else {
        None
    };

    let mut r = Chunked::new(&wire, &input.chunks);
    for (i, (code, data)) in msgs.iter().enumerate() {
        let got = rx.read_msg(&mut r);
        if Some(i) == bad_frame {
            assert!(got.is_err(), "corrupted frame {i} decoded: {got:?}");
            return;
        }
        let msg = got.unwrap_or_else(|e| panic!("frame {i} failed: {e}"));
        assert_eq!(msg.code, *code);
        assert_eq!(msg.data, &data[..]);
    }
    // Nothing left: the next read reports the end of the stream.
    assert!(rx.read_msg(&mut r).is_err());
});
