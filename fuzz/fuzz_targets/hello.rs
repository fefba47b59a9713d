//! Hello decoding: through `read_protocol_handshake` over a `MemoryTransport` (first byte is
//! the message code) and through the RLP `Decodable`. Never a panic; a decoded Hello encodes
//! and decodes back to itself.
#![no_main]

use devp2p_peer::{read_protocol_handshake, Hello, MemoryTransport, Msg, MsgWriter};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&code, payload)) = data.split_first() else {
        return;
    };
    if let Ok(hello) = rlp::decode::<Hello>(payload) {
        let again: Hello = rlp::decode(&rlp::encode(&hello)).expect("own encoding decodes");
        assert_eq!(again, hello);
    }
    let (a, b) = MemoryTransport::buffered_pair(1);
    a.write_msg(Msg::new(u64::from(code % 4), payload.to_vec()))
        .expect("buffered write");
    if let Ok(hello) = read_protocol_handshake(&b) {
        assert_eq!(hello.id.len(), 64);
    }
});
