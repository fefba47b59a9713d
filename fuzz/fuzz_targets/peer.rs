//! A `Peer` over a `MemoryTransport`, fed a message sequence chosen by the fuzzer from the
//! remote end: sub-protocol messages with any code and payload, Pings, Pongs, Disconnects
//! with any payload, local disconnects and closes. The peer runs two protocols that echo,
//! decode, discard or fail depending on the code. Each run is bounded (at most 32 steps; the
//! remote end is closed at the end) and every thread is joined before the next input, so a
//! hang shows up as a libFuzzer timeout and a panic anywhere as a crash.
#![no_main]

use std::sync::Arc;
use std::time::Duration;

use arbitrary::Arbitrary;
use devp2p_peer::{
    ConnInfo, DiscReason, Error, MemoryTransport, Msg, MsgReader, MsgWriter, NodeId, Peer,
    PeerConfig, Protocol, DISC_MSG, PING_MSG, PONG_MSG,
};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
enum Op {
    /// A message with code `code % 32` (base, "aaa/1" at 16..20, "bbb/2" at 20..23, unknown).
    Send {
        code: u8,
        payload: Vec<u8>,
    },
    Ping,
    Pong,
    /// A Disconnect message with this payload.
    Disconnect(Vec<u8>),
    /// `Peer::disconnect` from the test thread.
    LocalDisconnect(u8),
    /// Close the transport without a Disconnect.
    Close,
}

#[derive(Arbitrary, Debug)]
struct Input {
    /// Ping interval in milliseconds; 0: no pings.
    ping_ms: u8,
    ops: Vec<Op>,
}

fn protocol(name: &str, version: u32, length: u64) -> Protocol {
    Protocol::new(name, version, length, |_peer, rw| loop {
        let mut msg = rw.read_msg()?;
        match msg.code {
            0 => rw.write_msg(Msg::new(0, msg.payload.into_vec()))?,
            1 => {
                let items: Vec<u64> = msg.decode_list()?;
                rw.write_msg(Msg::new(1, rlp::encode_list(&items).to_vec()))?;
            }
            2 => return Err(Error::Disconnected(DiscReason::USELESS_PEER)),
            _ => msg.discard()?,
        }
    })
}

fuzz_target!(|input: Input| {
    let protocols = [protocol("aaa", 1, 4), protocol("bbb", 2, 3)];
    let (ours, theirs) = MemoryTransport::buffered_pair(4);
    let theirs = Arc::new(theirs);
    let conn = ConnInfo {
        id: NodeId([7; 32]),
        name: "remote".into(),
        caps: protocols.iter().map(Protocol::cap).collect(),
        ..ConnInfo::default()
    };
    let config = PeerConfig {
        ping_interval: match input.ping_ms {
            0 => Duration::MAX,
            ms => Duration::from_millis(u64::from(ms)),
        },
        ..PeerConfig::default()
    };
    let peer = Peer::new(conn, Arc::new(ours), &protocols, config);
    let runner = {
        let peer = peer.clone();
        std::thread::spawn(move || peer.run())
    };
    // The remote reads everything the peer sends (echoes, Pongs, Pings, its Disconnect).
    let drain = {
        let theirs = theirs.clone();
        std::thread::spawn(move || {
            let mut n = 0u32;
            while let Ok(mut msg) = theirs.read_msg() {
                let _ = msg.discard();
                n += 1;
            }
            n
        })
    };

    for op in input.ops.iter().take(32) {
        let sent = match op {
            Op::Send { code, payload } => {
                theirs.write_msg(Msg::new(u64::from(code % 32), payload.clone()))
            }
            Op::Ping => theirs.write_msg(Msg::new(PING_MSG, vec![0xc0])),
            Op::Pong => theirs.write_msg(Msg::new(PONG_MSG, vec![0xc0])),
            Op::Disconnect(payload) => theirs.write_msg(Msg::new(DISC_MSG, payload.clone())),
            Op::LocalDisconnect(r) => {
                peer.disconnect(DiscReason(*r));
                Ok(())
            }
            Op::Close => {
                theirs.close();
                Ok(())
            }
        };
        if sent.is_err() {
            break;
        }
    }
    theirs.close();
    let (_remote_requested, err) = runner.join().expect("Peer::run does not panic");
    let _ = err.to_string();
    drain.join().expect("drain does not panic");
});
