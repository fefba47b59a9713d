//! Disconnect payloads: decoding never panics, and the reason decoded re-encodes to a payload
//! that decodes to the same reason.
#![no_main]

use devp2p_peer::DiscReason;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let reason = DiscReason::decode(data);
    assert_eq!(DiscReason::decode(&reason.encode()), reason);
    let _ = reason.to_string();
});
