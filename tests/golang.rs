//! go-ethereum's peer, message and transport tests (`p2p/peer_test.go`,
//! `p2p/message_test.go`, `p2p/transport_test.go`), rewritten in Rust scenario by scenario:
//! same setups, same assertions. Time limits guard against hangs; none asserts a speed.

mod common;

use std::sync::Arc;
use std::thread;
use std::time::Duration;

use common::*;
use crossbeam_channel::{bounded, Receiver};
use devp2p_peer::*;

// ---------------------------------------------------------------------------------------
// peer_test.go

#[test]
fn peer_proto_read_msg() {
    let proto = Protocol::new("a", 5, 5, |_peer, rw| {
        expect_msg(&rw, 2, Some(&RlpList(&[&1u64])))?;
        expect_msg(&rw, 3, Some(&RlpList(&[&2u64])))?;
        expect_msg(&rw, 4, Some(&RlpList(&[&3u64])))?;
        Ok(())
    });
    let tp = test_peer(vec![proto]);
    let remote = tp.remote.clone();
    within(secs(5), move || {
        send_items(&*remote, 18, &[&1u64]).unwrap();
        send_items(&*remote, 19, &[&2u64]).unwrap();
        send_items(&*remote, 20, &[&3u64]).unwrap();
    });
    let (_, err) = tp.result(secs(5));
    assert!(
        matches!(err, Error::ProtocolReturned),
        "peer returned {err}"
    );
    tp.close();
}

#[test]
fn peer_proto_encode_msg() {
    let proto = Protocol::new("a", 5, 2, |_peer, rw| {
        match send_items(&rw, 2, &[]) {
            Err(Error::InvalidMsgCode(_)) => {}
            other => panic!("expected invalid message code error, got {other:?}"),
        }
        send_items(&rw, 1, &[&"foo", &"bar"])?;
        Ok(())
    });
    let tp = test_peer(vec![proto]);
    let remote = tp.remote.clone();
    within(secs(5), move || {
        expect_msg(&*remote, 17, Some(&RlpList(&[&"foo", &"bar"]))).unwrap();
    });
    tp.close();
    tp.result(secs(5));
}

#[test]
fn peer_ping() {
    let tp = test_peer(vec![]);
    let remote = tp.remote.clone();
    within(secs(5), move || {
        send_items(&*remote, PING_MSG, &[]).unwrap();
        expect_msg(&*remote, PONG_MSG, None).unwrap();
    });
    tp.close();
    tp.result(secs(5));
}

#[test]
fn peer_disconnect() {
    let tp = test_peer(vec![]);
    let remote = tp.remote.clone();
    within(secs(5), move || {
        send_items(&*remote, DISC_MSG, &[&DiscReason::QUITTING.0]).unwrap();
    });
    let (remote_requested, err) = tp.result(secs(5));
    assert!(remote_requested);
    assert_eq!(
        err.disc_reason(),
        Some(DiscReason::QUITTING),
        "run returned {err}"
    );
    tp.close();
}

/// A small deterministic generator standing in for Go's `rand.Intn(2)`.
struct Coin(u64);

impl Coin {
    fn flip(&mut self) -> bool {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 & 1 == 1
    }
}

/// A protocol whose `run` returns whatever error arrives on `rx`.
fn closereq_protocol(rx: Receiver<Error>) -> Protocol {
    Protocol::new("closereq", 0, 1, move |_peer, _rw| {
        Err(rx.recv().unwrap_or(Error::other("closereq channel gone")))
    })
}

/// A protocol whose `run` disconnects the peer with the reason arriving on `rx`.
fn disconnect_protocol(rx: Receiver<DiscReason>) -> Protocol {
    Protocol::new("disconnect", 0, 1, move |peer, _rw| {
        if let Ok(reason) = rx.recv() {
            peer.disconnect(reason);
        }
        Ok(())
    })
}

// This test checks that Peer::run returns whatever happens at once: a protocol error, a
// local disconnect from a protocol and from outside, a remote Disconnect, an out-of-range
// message and the connection closing, all racing.
#[test]
fn peer_disconnect_race() {
    let mut coin = Coin(0x9e37_79b9_7f4a_7c15);
    for _ in 0..1000 {
        let (proto_close_tx, proto_close_rx) = bounded(1);
        let (proto_disc_tx, proto_disc_rx) = bounded(1);
        let tp = test_peer(vec![
            closereq_protocol(proto_close_rx),
            disconnect_protocol(proto_disc_rx),
        ]);
        let mut helpers = Vec::new();

        // Simulate incoming messages.
        let remote = tp.remote.clone();
        helpers.push(thread::spawn(move || {
            let _ = send_items(&*remote, BASE_PROTOCOL_LENGTH + 1, &[]);
        }));
        let remote = tp.remote.clone();
        helpers.push(thread::spawn(move || {
            let _ = send_items(&*remote, BASE_PROTOCOL_LENGTH + 2, &[]);
        }));
        // Close the network connection.
        tp.close();
        // Make protocol "closereq" return.
        proto_close_tx
            .send(Error::other("protocol closed"))
            .unwrap();
        // Make protocol "disconnect" call peer.disconnect.
        proto_disc_tx.send(DiscReason::ALREADY_CONNECTED).unwrap();
        // In some cases, simulate something else calling peer.disconnect.
        if coin.flip() {
            let peer = tp.peer.clone();
            helpers.push(thread::spawn(move || {
                peer.disconnect(DiscReason::INVALID_IDENTITY)
            }));
        }
        // In some cases, simulate the remote requesting a disconnect.
        if coin.flip() {
            let remote = tp.remote.clone();
            helpers.push(thread::spawn(move || {
                let _ = send_items(&*remote, DISC_MSG, &[&DiscReason::QUITTING.0]);
            }));
        }

        tp.result(secs(5));
        for h in helpers {
            within(secs(5), move || h.join().unwrap());
        }
    }
}

#[test]
fn new_peer() {
    let id = NodeId([0x42; 32]);
    let name = "nodename";
    let caps = vec![Cap::new("foo", 2), Cap::new("bar", 3)];
    let p = Peer::new_test(id, name, caps.clone());
    assert_eq!(p.id(), id);
    assert_eq!(p.name(), name);
    let mut sorted = caps;
    sorted.sort();
    assert_eq!(p.caps(), sorted);
    within(secs(5), move || p.disconnect(DiscReason::ALREADY_CONNECTED)); // must not hang
}

fn proto(name: &str, version: u32, length: u64) -> Protocol {
    Protocol::new(name, version, length, |_, _| Ok(()))
}

fn protos(list: &[(&str, u32, u64)]) -> Vec<Protocol> {
    list.iter().map(|(n, v, l)| proto(n, *v, *l)).collect()
}

fn caps(list: &[(&str, u32)]) -> Vec<Cap> {
    list.iter().map(|(n, v)| Cap::new(*n, *v)).collect()
}

#[test]
fn match_protocols_table() {
    // (remote caps, local protocols, expected matches as (name, version, offset - 16)).
    type Case<'a> = (Vec<Cap>, Vec<Protocol>, Vec<(&'a str, u32, u64)>);
    let cases: Vec<Case> = vec![
        // No remote capabilities.
        (caps(&[]), protos(&[("a", 0, 0)]), vec![]),
        // No local protocols.
        (caps(&[("a", 0)]), protos(&[]), vec![]),
        // No mutual protocols.
        (caps(&[("a", 0)]), protos(&[("b", 0, 0)]), vec![]),
        // Some matches, some differences.
        (
            caps(&[("local", 0), ("match1", 0), ("match2", 0)]),
            protos(&[("match1", 0, 0), ("match2", 0, 0), ("remote", 0, 0)]),
            vec![("match1", 0, 0), ("match2", 0, 0)],
        ),
        // Various alphabetical ordering.
        (
            caps(&[("aa", 0), ("ab", 0), ("bb", 0), ("ba", 0)]),
            protos(&[("ba", 0, 0), ("bb", 0, 0), ("ab", 0, 0), ("aa", 0, 0)]),
            vec![("aa", 0, 0), ("ab", 0, 0), ("ba", 0, 0), ("bb", 0, 0)],
        ),
        // No mutual versions.
        (caps(&[("", 1)]), protos(&[("", 2, 0)]), vec![]),
        // Multiple versions, single common.
        (
            caps(&[("", 1), ("", 2)]),
            protos(&[("", 2, 0), ("", 3, 0)]),
            vec![("", 2, 0)],
        ),
        // Multiple versions, multiple common.
        (
            caps(&[("", 1), ("", 2), ("", 3), ("", 4)]),
            protos(&[("", 2, 0), ("", 3, 0)]),
            vec![("", 3, 0)],
        ),
        // Various version orderings.
        (
            caps(&[("", 4), ("", 1), ("", 3), ("", 2)]),
            protos(&[("", 2, 0), ("", 3, 0), ("", 1, 0)]),
            vec![("", 3, 0)],
        ),
        // Versions overriding sub-protocol lengths.
        (
            caps(&[("", 1), ("", 2), ("", 3), ("a", 0)]),
            protos(&[("", 1, 1), ("", 2, 2), ("", 3, 3), ("a", 0, 0)]),
            vec![("", 3, 0), ("a", 0, 3)],
        ),
    ];
    for (i, (remote, local, want)) in cases.into_iter().enumerate() {
        let got = match_protocols(&local, &remote);
        let got: Vec<(String, u32, u64)> = got
            .iter()
            .map(|m| (m.protocol.name.clone(), m.protocol.version, m.offset - 16))
            .collect();
        let want: Vec<(String, u32, u64)> = want
            .into_iter()
            .map(|(n, v, o)| (n.to_string(), v, o))
            .collect();
        assert_eq!(got, want, "test {i}");
    }
}

// ---------------------------------------------------------------------------------------
// message_test.go

#[test]
fn example_msg_pipe() {
    let (rw1, rw2) = msg_pipe();
    let writer = thread::spawn(move || {
        send_items(&rw1, 8, &[&RlpList(&[&0u8, &0u8])]).unwrap();
        send_items(&rw1, 5, &[&RlpList(&[&1u8, &1u8])]).unwrap();
        rw1.close();
    });
    let mut lines = Vec::new();
    within(secs(5), move || loop {
        match rw2.read_msg() {
            Ok(mut msg) => {
                let mut list = rlp::Rlp::new(msg.payload.consume())
                    .at(0)
                    .unwrap()
                    .as_list::<u8>()
                    .unwrap();
                list.iter_mut().for_each(|_| {});
                lines.push(format!("msg: {}, {:02x}{:02x}", msg.code, list[0], list[1]));
            }
            Err(_) => break lines,
        }
    })
    .iter()
    .zip(["msg: 8, 0000", "msg: 5, 0101"])
    .for_each(|(got, want)| assert_eq!(got, want));
    writer.join().unwrap();
}

#[test]
fn msg_pipe_unblock_write() {
    for _ in 0..100 {
        let (rw1, rw2) = msg_pipe();
        let (tx, rx) = bounded(1);
        let rw1 = Arc::new(rw1);
        let w = rw1.clone();
        thread::spawn(move || {
            let _ = tx.send(send_items(&*w, 1, &[]));
        });
        thread::yield_now();
        rw2.close();
        match rx.recv_timeout(secs(5)) {
            Ok(Err(Error::PipeClosed)) => {}
            Ok(other) => panic!("send returned {other:?}, want PipeClosed"),
            Err(_) => panic!("send did not return"),
        }
    }
}

// This test should panic if concurrent close isn't implemented correctly.
#[test]
fn msg_pipe_concurrent_close() {
    let (rw1, _rw2) = msg_pipe();
    let rw1 = Arc::new(rw1);
    let handles: Vec<_> = (0..10)
        .map(|_| {
            let rw = rw1.clone();
            thread::spawn(move || rw.close())
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert!(rw1.is_closed());
}

// (TestEOFSignal is ported beside the payload type, in src/message.rs.)

// ---------------------------------------------------------------------------------------
// transport_test.go: TestProtocolHandshakeErrors

#[test]
fn protocol_handshake_errors() {
    let hello_v3 = Hello {
        version: 3,
        name: String::new(),
        caps: vec![],
        listen_port: 0,
        id: vec![],
        rest: vec![],
    };
    type Check = dyn Fn(&Error) -> bool;
    let cases: Vec<(u64, Vec<u8>, &Check)> = vec![
        (DISC_MSG, DiscReason::QUITTING.encode(), &|e| {
            e.disc_reason() == Some(DiscReason::QUITTING)
        }),
        (DISC_MSG, vec![0x08], &|e| {
            e.disc_reason() == Some(DiscReason::QUITTING)
        }),
        (0x989898, rlp::encode(&vec![1u8]).to_vec(), &|e| {
            e.to_string() == "expected handshake, got 989898"
        }),
        (
            HANDSHAKE_MSG,
            rlp::encode(&vec![0u8; 2050]).to_vec(),
            &|e| matches!(e, Error::MessageTooBig) && e.to_string() == "message too big",
        ),
        (
            HANDSHAKE_MSG,
            rlp::encode(&vec![1u8, 2, 3]).to_vec(),
            &|e| {
                matches!(e, Error::InvalidMsg(_))
                    && e.to_string()
                        .starts_with("invalid message: (code 0) (size 4) rlp:")
            },
        ),
        (HANDSHAKE_MSG, rlp::encode(&hello_v3).to_vec(), &|e| {
            e.disc_reason() == Some(DiscReason::INVALID_IDENTITY)
        }),
    ];
    for (i, (code, payload, check)) in cases.into_iter().enumerate() {
        let (p1, p2) = msg_pipe();
        let writer = thread::spawn(move || {
            let _ = p1.write_msg(Msg::new(code, payload));
            p1
        });
        let (tx, rx) = bounded(1);
        let reader = thread::spawn(move || {
            let _ = tx.send(read_protocol_handshake(&p2));
        });
        let result = rx.recv_timeout(secs(5)).expect("handshake read hung");
        let err = result.expect_err("handshake should fail");
        assert!(check(&err), "test {i}: unexpected error {err:?} ({err})");
        writer.join().unwrap();
        reader.join().unwrap();
    }
}

#[test]
fn protocol_handshake_over_memory() {
    let (a, b) = MemoryTransport::pair();
    let ha = Hello::new("a", vec![Cap::new("a", 0), Cap::new("b", 2)], [1; 64]);
    let hb = Hello::new("b", vec![Cap::new("c", 1), Cap::new("d", 3)], [2; 64]);
    let (ha2, hb2) = (ha.clone(), hb.clone());
    let t = thread::spawn(move || do_protocol_handshake(&a, &ha2));
    let got_a = within(Duration::from_secs(5), move || {
        do_protocol_handshake(&b, &hb2)
    })
    .unwrap();
    assert_eq!(got_a, ha);
    assert_eq!(t.join().unwrap().unwrap(), hb);
}
