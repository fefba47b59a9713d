//! Peer behaviour beyond go-ethereum's own tests: panics, concurrent disconnects,
//! back-pressure, reasons on the wire, events, counters and info.

mod common;

use std::sync::Arc;
use std::thread;
use std::time::Duration;

use common::*;
use crossbeam_channel::{bounded, RecvTimeoutError};
use devp2p_peer::*;

fn reason_sent(tp: &TestPeer) -> Option<DiscReason> {
    tp.local
        .closed_with
        .lock()
        .as_ref()
        .and_then(Error::disc_reason)
}

#[test]
fn protocol_panic_ends_peer_cleanly() {
    let proto = Protocol::new("boom", 1, 1, |_peer, _rw| panic!("protocol bug"));
    let tp = test_peer(vec![proto, discard_protocol()]);
    let (remote_requested, err) = tp.result(secs(5));
    assert!(!remote_requested);
    match &err {
        Error::ProtocolPanicked { protocol, message } => {
            assert_eq!(protocol, "boom/1");
            assert_eq!(message, "protocol bug");
        }
        other => panic!("run returned {other:?}"),
    }
    assert_eq!(disc_reason_for_error(&err), DiscReason::SUBPROTOCOL_ERROR);
    assert_eq!(reason_sent(&tp), Some(DiscReason::SUBPROTOCOL_ERROR));
}

#[test]
fn disconnect_from_32_threads() {
    let tp = test_peer(vec![discard_protocol()]);
    let reasons: Vec<DiscReason> = (0..32u8).map(|i| DiscReason(i % 12)).collect();
    let callers: Vec<_> = reasons
        .iter()
        .map(|&r| {
            let p = tp.peer.clone();
            thread::spawn(move || p.disconnect(r))
        })
        .collect();
    let (remote_requested, err) = tp.result(secs(5));
    assert!(!remote_requested);
    let reason = err.disc_reason().expect("a disconnect reason");
    assert!(reasons.contains(&reason));
    assert_eq!(reason_sent(&tp), Some(reason));
    for c in callers {
        within(secs(5), move || c.join().unwrap());
    }
    // After shutdown, disconnect returns at once.
    let p = tp.peer.clone();
    within(secs(5), move || p.disconnect(DiscReason::QUITTING));
}

#[test]
fn slow_protocol_holds_back_the_reader() {
    let (go_tx, go_rx) = bounded::<()>(0);
    let slow = Protocol::new("slow", 1, 1, move |_peer, rw| {
        go_rx.recv().ok();
        loop {
            rw.read_msg()?.discard()?;
        }
    });
    let tp = test_peer(vec![slow]);
    let remote = tp.remote.clone();
    // Taken by the reader, which then waits for the protocol to take it in turn.
    within(secs(5), move || send_items(&*remote, 16, &[]).unwrap());
    // So the next message (a Ping) is not read while the protocol does not read.
    let (ping_tx, ping_rx) = bounded(1);
    let remote = tp.remote.clone();
    thread::spawn(move || {
        let _ = ping_tx.send(send_items(&*remote, PING_MSG, &[]));
    });
    assert_eq!(
        ping_rx.recv_timeout(Duration::from_millis(300)).err(),
        Some(RecvTimeoutError::Timeout),
        "the ping was read while the protocol held a message back"
    );
    // Once the protocol reads, the ping goes through and is answered.
    go_tx.send(()).unwrap();
    ping_rx.recv_timeout(secs(5)).expect("ping write").unwrap();
    let remote = tp.remote.clone();
    within(secs(5), move || {
        expect_msg(&*remote, PONG_MSG, None).unwrap()
    });
    tp.close();
    tp.result(secs(5));
}

/// A peer with no protocols over a `MemoryTransport` (which sends Disconnect messages on
/// close), running on its own thread; returns the peer, its run thread and the remote end.
fn memory_peer() -> (Peer, thread::JoinHandle<(bool, Error)>, MemoryTransport) {
    let (local, remote) = MemoryTransport::pair();
    let peer = Peer::new(
        ConnInfo::default(),
        Arc::new(local),
        &[],
        PeerConfig::default(),
    );
    let p = peer.clone();
    let run = thread::spawn(move || p.run());
    (peer, run, remote)
}

#[test]
fn remote_reason_is_echoed() {
    let (_peer, run, remote) = memory_peer();
    let remote = Arc::new(remote);
    let r = remote.clone();
    within(secs(5), move || {
        r.write_msg(Msg::new(DISC_MSG, DiscReason::TOO_MANY_PEERS.encode()))
            .unwrap();
        let mut echo = r.read_msg().unwrap();
        assert_eq!(echo.code, DISC_MSG);
        assert_eq!(
            DiscReason::decode(echo.payload.consume()),
            DiscReason::TOO_MANY_PEERS
        );
    });
    let (remote_requested, err) = within(secs(5), move || run.join().unwrap());
    assert!(remote_requested);
    assert_eq!(err.disc_reason(), Some(DiscReason::TOO_MANY_PEERS));
}

#[test]
fn local_disconnect_sends_reason() {
    let (peer, run, remote) = memory_peer();
    peer.disconnect(DiscReason::USELESS_PEER);
    let mut msg = within(secs(5), move || remote.read_msg().unwrap());
    assert_eq!(msg.code, DISC_MSG);
    assert_eq!(msg.payload.consume(), &[0xc1, 0x03]);
    let (remote_requested, err) = within(secs(5), move || run.join().unwrap());
    assert!(!remote_requested);
    assert_eq!(err.disc_reason(), Some(DiscReason::USELESS_PEER));
}

#[test]
fn out_of_range_code_is_a_network_error_without_disconnect() {
    let tp = test_peer(vec![discard_protocol()]);
    let remote = tp.remote.clone();
    within(secs(5), move || send_items(&*remote, 17, &[]).unwrap());
    let (_, err) = tp.result(secs(5));
    assert!(matches!(err, Error::MsgCodeOutOfRange(17)), "{err}");
    assert_eq!(err.to_string(), "msg code out of range: 17");
    assert_eq!(reason_sent(&tp), Some(DiscReason::NETWORK_ERROR));
}

#[test]
fn unknown_base_codes_are_ignored() {
    let tp = test_peer(vec![discard_protocol()]);
    let remote = tp.remote.clone();
    within(secs(5), move || {
        for code in [HANDSHAKE_MSG, PONG_MSG, 4, 15] {
            send_items(&*remote, code, &[]).unwrap();
        }
        // Still alive: a Ping is answered.
        send_items(&*remote, PING_MSG, &[]).unwrap();
        expect_msg(&*remote, PONG_MSG, None).unwrap();
    });
    tp.close();
    tp.result(secs(5));
}

#[test]
fn protocol_results_map_to_reasons() {
    let cases: Vec<(Result<(), Error>, DiscReason)> = vec![
        (Ok(()), DiscReason::QUITTING),
        (
            Err(DiscReason::USELESS_PEER.into()),
            DiscReason::USELESS_PEER,
        ),
        (Err(Error::invalid_msg("bad")), DiscReason::PROTOCOL_ERROR),
        (
            Err(Error::invalid_msg_code("bad")),
            DiscReason::PROTOCOL_ERROR,
        ),
        (Err(Error::Eof), DiscReason::SUBPROTOCOL_ERROR),
        (
            Err(Error::other("network id mismatch")),
            DiscReason::SUBPROTOCOL_ERROR,
        ),
    ];
    for (result, want) in cases {
        let r = result.clone();
        let proto = Protocol::new("p", 1, 1, move |_peer, _rw| r.clone());
        let tp = test_peer(vec![proto]);
        let (remote_requested, err) = tp.result(secs(5));
        assert!(!remote_requested);
        assert_eq!(
            reason_sent(&tp),
            Some(want),
            "protocol returned {result:?}, run {err}"
        );
    }
}

#[test]
fn failed_write_is_a_network_error() {
    let (rw_tx, rw_rx) = bounded(1);
    let proto = Protocol::new("w", 1, 1, move |_peer, rw| {
        let _ = rw_tx.send(rw.clone());
        loop {
            rw.read_msg()?.discard()?;
        }
    });
    let tp = test_peer(vec![proto]);
    let rw = rw_rx.recv_timeout(secs(5)).unwrap();
    // Break the connection under the peer's feet, then write.
    tp.local.inner.close();
    let err = within(secs(5), move || send_items(&rw, 0, &[]).unwrap_err());
    assert!(
        matches!(err, Error::PipeClosed | Error::ShuttingDown),
        "{err}"
    );
    tp.result(secs(5));
    assert_eq!(reason_sent(&tp), Some(DiscReason::NETWORK_ERROR));
}

#[test]
fn reads_and_writes_after_shutdown() {
    let (rw_tx, rw_rx) = bounded(1);
    let proto = Protocol::new("keep", 1, 1, move |_peer, rw| {
        let _ = rw_tx.send(rw.clone());
        Err(DiscReason::REQUESTED.into())
    });
    let tp = test_peer(vec![proto]);
    tp.result(secs(5));
    let rw = rw_rx.recv_timeout(secs(5)).unwrap();
    assert!(matches!(rw.read_msg(), Err(Error::Eof)));
    let err = send_items(&rw, 0, &[]).unwrap_err();
    // The token may still sit in its slot (as in Go, the choice among ready cases is
    // random); the transport then refuses the write.
    assert!(
        matches!(err, Error::ShuttingDown | Error::PipeClosed),
        "{err}"
    );
    assert_eq!(Error::ShuttingDown.to_string(), "shutting down");
}

#[test]
fn run_twice_fails() {
    let tp = test_peer(vec![]);
    tp.close();
    tp.result(secs(5));
    let (_, err) = within(secs(5), move || tp.peer.run());
    assert_eq!(err.to_string(), "peer already started");
}

#[test]
fn periodic_ping() {
    let config = PeerConfig {
        ping_interval: Duration::from_millis(20),
        ..PeerConfig::default()
    };
    let tp = test_peer_with(vec![], config);
    let remote = tp.remote.clone();
    within(secs(5), move || {
        for _ in 0..3 {
            expect_msg(&*remote, PING_MSG, Some(&RlpList(&[]))).unwrap();
        }
    });
    tp.close();
    tp.result(secs(5));
}

fn echo_protocol() -> Protocol {
    Protocol::new("echo", 1, 8, |_peer, rw| loop {
        let msg = rw.read_msg()?;
        let code = msg.code;
        rw.write_msg(Msg::new(code, msg.payload.into_vec()))?;
    })
}

#[test]
fn events_and_counters() {
    let feed = EventFeed::new();
    let events = feed.subscribe();
    let config = PeerConfig {
        events: Some(feed),
        ..PeerConfig::default()
    };
    let tp = test_peer_with(vec![discard_protocol(), echo_protocol()], config);
    // Offsets: "discard" (1 code) at 16, "echo" (8 codes) at 17.
    let remote = tp.remote.clone();
    within(secs(5), move || {
        send_items(&*remote, 17 + 3, &[&"hi"]).unwrap();
        expect_msg(&*remote, 17 + 3, Some(&RlpList(&[&"hi"]))).unwrap();
    });
    let stats = tp.peer.protocol_stats();
    assert_eq!(stats.len(), 2);
    assert_eq!(
        (stats[0].cap.to_string(), stats[0].offset, stats[0].length),
        ("discard/1".into(), 16, 1)
    );
    let echo = &stats[1];
    assert_eq!((echo.offset, echo.length), (17, 8));
    assert_eq!(
        (echo.msgs_in, echo.bytes_in, echo.msgs_out, echo.bytes_out),
        (1, 4, 1, 4)
    );
    tp.peer.disconnect(DiscReason::REQUESTED);
    tp.result(secs(5));

    let got: Vec<PeerEvent> = events.try_iter().collect();
    let kinds: Vec<PeerEventType> = got.iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        vec![
            PeerEventType::Add,
            PeerEventType::MsgRecv,
            PeerEventType::MsgSend,
            PeerEventType::Drop
        ]
    );
    let recv = &got[1];
    assert_eq!(recv.peer, tp.peer.id());
    assert_eq!(recv.protocol.as_deref(), Some("echo"));
    assert_eq!((recv.msg_code, recv.msg_size), (Some(3), Some(4)));
    assert_eq!(got[3].error.as_deref(), Some("disconnect requested"));
}

#[test]
fn info_and_display() {
    let with_info = Protocol::new("a", 1, 1, |_peer, rw| loop {
        rw.read_msg()?.discard()?;
    })
    .with_peer_info(|id| Some(format!("{{\"peer\":\"{}\"}}", id.terminal_string())));
    let pending = Protocol::new("b", 1, 1, |_peer, rw| loop {
        rw.read_msg()?.discard()?;
    })
    .with_peer_info(|_| None);
    let tp = test_peer(vec![with_info, pending, discard_protocol()]);
    let info = tp.peer.info();
    assert_eq!(info.id, uint_id(1).to_string());
    assert_eq!(info.name, "test");
    assert_eq!(info.caps, vec!["a/1", "b/1", "discard/1"]);
    assert_eq!(info.protocols["a"], "{\"peer\":\"0001000000000000\"}");
    assert_eq!(info.protocols["b"], "handshake");
    assert_eq!(info.protocols["discard"], "unknown");
    assert_eq!(tp.peer.to_string(), "Peer 0001000000000000 <nil>");
    assert!(tp.peer.running_cap("a", &[1, 2]));
    assert!(!tp.peer.running_cap("a", &[2]));
    tp.close();
    tp.result(secs(5));
}

#[test]
fn names_are_truncated_on_char_boundaries() {
    let p = Peer::new_test(
        NodeId::default(),
        "Geth/v1.14.8-stable-a9523b64/linux-amd64/go1.22.6",
        vec![],
    );
    assert_eq!(p.name(), "Geth/v1.14.8-stable-...");
    assert_eq!(
        p.full_name(),
        "Geth/v1.14.8-stable-a9523b64/linux-amd64/go1.22.6"
    );
    // A multi-byte character straddling byte 20 must not panic.
    let p = Peer::new_test(NodeId::default(), "ééééééééééééééééééééé", vec![]);
    assert_eq!(p.name(), "éééééééééé...");
}

#[test]
fn flags() {
    assert_eq!(
        (ConnFlags::TRUSTED | ConnFlags::INBOUND).to_string(),
        "trusted-inbound"
    );
    assert_eq!(ConnFlags::STATIC_DIALED.to_string(), "staticdial");
    let p = Peer::new_test(NodeId::default(), "n", vec![]);
    assert!(!p.trusted());
    p.set_trusted(true);
    assert!(p.trusted());
    p.set_trusted(false);
    assert!(!p.trusted());
}

#[test]
fn two_peers_two_protocols_over_memory() {
    let (a, b) = MemoryTransport::pair();
    let protocols = vec![echo_protocol(), discard_protocol()];
    let caps: Vec<Cap> = protocols.iter().map(Protocol::cap).collect();
    let conn = |n: u8| ConnInfo {
        id: NodeId([n; 32]),
        name: format!("node-{n}"),
        caps: caps.clone(),
        ..ConnInfo::default()
    };
    // Side B runs an echo server; side A drives it through a protocol that sends and checks.
    let driver = Protocol::new("echo", 1, 8, |_peer, rw| {
        for i in 0..100u64 {
            send_items(&rw, i % 8, &[&i])?;
            expect_msg(&rw, i % 8, Some(&RlpList(&[&i])))?;
        }
        Err(DiscReason::QUITTING.into())
    });
    let pa = Peer::new(
        conn(2),
        Arc::new(a),
        &[driver, discard_protocol()],
        PeerConfig::default(),
    );
    let pb = Peer::new(conn(1), Arc::new(b), &protocols, PeerConfig::default());
    let pb2 = pb.clone();
    let tb = thread::spawn(move || pb2.run());
    let (ra, ea) = within(secs(10), move || pa.run());
    let (rb, eb) = within(secs(10), move || tb.join().unwrap());
    assert!(!ra);
    assert_eq!(ea.disc_reason(), Some(DiscReason::QUITTING));
    assert!(rb, "B should see A's disconnect");
    assert_eq!(eb.disc_reason(), Some(DiscReason::QUITTING));
    let echo = &pb.protocol_stats()[1];
    assert_eq!(echo.cap.name, "echo");
    assert_eq!((echo.msgs_in, echo.msgs_out), (100, 100));
}

/// A transport that counts protocol writes and how many are in flight at once; reads block
/// until shutdown. Protocol writes fail from the `fail_from`th on.
struct WriteCounter {
    in_flight: std::sync::atomic::AtomicUsize,
    max_in_flight: std::sync::atomic::AtomicUsize,
    writes: std::sync::atomic::AtomicUsize,
    fail_from: usize,
    closed_tx: parking_lot::Mutex<Option<crossbeam_channel::Sender<()>>>,
    closed_rx: crossbeam_channel::Receiver<()>,
}

impl WriteCounter {
    fn new(fail_from: usize) -> WriteCounter {
        let (tx, rx) = bounded(0);
        WriteCounter {
            in_flight: 0.into(),
            max_in_flight: 0.into(),
            writes: 0.into(),
            fail_from,
            closed_tx: parking_lot::Mutex::new(Some(tx)),
            closed_rx: rx,
        }
    }
}

impl MsgReader for WriteCounter {
    fn read_msg(&self) -> Result<Msg, Error> {
        let _ = self.closed_rx.recv();
        Err(Error::Eof)
    }
}

impl MsgWriter for WriteCounter {
    fn write_msg(&self, msg: Msg) -> Result<(), Error> {
        use std::sync::atomic::Ordering::SeqCst;
        if msg.code < BASE_PROTOCOL_LENGTH {
            return Ok(());
        }
        let now = self.in_flight.fetch_add(1, SeqCst) + 1;
        self.max_in_flight.fetch_max(now, SeqCst);
        let n = self.writes.fetch_add(1, SeqCst) + 1;
        thread::yield_now();
        self.in_flight.fetch_sub(1, SeqCst);
        if n >= self.fail_from {
            return Err(Error::other("write failed"));
        }
        Ok(())
    }
}

impl Transport for WriteCounter {
    fn shutdown(&self, _err: &Error) {
        self.closed_tx.lock().take();
    }
}

/// Eight protocols, each writing as fast as it can until its write fails.
fn eight_writers(transport: Arc<WriteCounter>) -> (bool, Error) {
    let protos: Vec<Protocol> = (0..8)
        .map(|i| {
            Protocol::new(format!("w{i}"), 1, 1, |_peer, rw| loop {
                send_items(&rw, 0, &[])?;
            })
        })
        .collect();
    let conn = ConnInfo {
        caps: protos.iter().map(Protocol::cap).collect(),
        ..ConnInfo::default()
    };
    let config = PeerConfig {
        ping_interval: Duration::MAX,
        ..PeerConfig::default()
    };
    let peer = Peer::new(conn, transport, &protos, config);
    within(secs(30), move || peer.run())
}

// The writer re-arms the write token itself: writes stay one at a time, and after a failed
// write no other write starts (the failing writer keeps the token).
#[test]
fn writes_are_serialised_and_none_starts_after_a_failed_one() {
    use std::sync::atomic::Ordering::SeqCst;
    let transport = Arc::new(WriteCounter::new(20_000));
    let (remote_requested, err) = eight_writers(transport.clone());
    assert!(!remote_requested);
    assert_eq!(err.to_string(), "write failed");
    assert_eq!(transport.max_in_flight.load(SeqCst), 1);
    assert_eq!(transport.writes.load(SeqCst), 20_000);
}
