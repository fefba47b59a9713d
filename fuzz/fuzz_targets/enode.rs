//! `enode://` URLs: parsing never panics, and whatever parses prints back to a URL that
//! parses to the same node.
#![no_main]

use devp2p_peer::rlpx::Enode;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(node) = s.parse::<Enode>() {
        let url = node.to_string();
        let again: Enode = url
            .parse()
            .unwrap_or_else(|e| panic!("{url} (from {s:?}) does not parse: {e}"));
        assert_eq!(again, node, "{s:?} -> {url}");
    }
});
