//! Reproductions of bugs found, one test each.

mod common;

use std::thread;

use common::*;
use devp2p_peer::*;

// Found while benchmarking: a write on a pipe whose payload is empty waited for a
// "consumed" signal that could never come. A zero-size message is never "read to the end": its write returns on hand-over.
#[test]
fn msg_pipe_zero_size_write_returns() {
    let (rw1, rw2) = msg_pipe();
    let t = thread::spawn(move || rw1.write_msg(Msg::new(3, Vec::new())));
    let msg = within(secs(5), move || rw2.read_msg().unwrap());
    assert_eq!((msg.code, msg.size), (3, 0));
    within(secs(5), move || t.join().unwrap()).unwrap();
}

// Found in review: `ping_interval: Duration::MAX` (meant as "no pings") overflowed the clock
// and killed the pinger; the reader then blocked on the 17th Ping and the peer never ended.
#[test]
fn huge_ping_interval_means_no_pings() {
    let config = PeerConfig {
        ping_interval: std::time::Duration::MAX,
        ..PeerConfig::default()
    };
    let tp = test_peer_with(vec![], config);
    let remote = tp.remote.clone();
    within(secs(10), move || {
        for _ in 0..20 {
            send_items(&*remote, PING_MSG, &[]).unwrap();
            expect_msg(&*remote, PONG_MSG, None).unwrap();
        }
    });
    tp.close();
    tp.result(secs(5));
}

/// A transport whose reads panic.
struct PanickingTransport;

impl MsgReader for PanickingTransport {
    fn read_msg(&self) -> Result<Msg, Error> {
        panic!("transport bug")
    }
}

impl MsgWriter for PanickingTransport {
    fn write_msg(&self, _msg: Msg) -> Result<(), Error> {
        Ok(())
    }
}

impl Transport for PanickingTransport {
    fn shutdown(&self, _err: &Error) {}
}

// Found in review: a panic in the transport's read left the supervisor waiting forever.
#[test]
fn panicking_reader_ends_the_peer() {
    let peer = Peer::new(
        ConnInfo::default(),
        std::sync::Arc::new(PanickingTransport),
        &[discard_protocol()],
        PeerConfig::default(),
    );
    let (remote_requested, err) = within(secs(5), move || peer.run());
    assert!(!remote_requested);
    assert_eq!(err.to_string(), "peer reader panicked: transport bug");
}

// Found in review: on a buffered in-memory transport, messages written just before the
// remote closed (its Disconnect among them) were lost, unlike on a socket.
#[test]
fn buffered_transport_delivers_what_was_written_before_close() {
    let (local, remote) = MemoryTransport::buffered_pair(8);
    let (go_tx, go_rx) = crossbeam_channel::bounded::<()>(0);
    let slow = Protocol::new("slow", 1, 1, move |_peer, rw| {
        go_rx.recv().ok();
        loop {
            rw.read_msg()?.discard()?;
        }
    });
    let conn = ConnInfo {
        caps: vec![slow.cap()],
        ..ConnInfo::default()
    };
    let peer = Peer::new(
        conn,
        std::sync::Arc::new(local),
        &[slow],
        PeerConfig::default(),
    );
    let run = thread::spawn(move || peer.run());
    send_items(&remote, 16, &[]).unwrap();
    send_items(&remote, 16, &[]).unwrap();
    remote.shutdown(&DiscReason::TOO_MANY_PEERS.into());
    go_tx.send(()).unwrap();
    let (remote_requested, err) = within(secs(5), move || run.join().unwrap());
    assert!(remote_requested);
    assert_eq!(err.disc_reason(), Some(DiscReason::TOO_MANY_PEERS));
}

// Found in an interop run against ethereumjs's devp2p: it sends its Disconnect uncompressed
// (a bare `08`) even with snappy on, which we read as a snappy error and so lost the reason.
#[cfg(feature = "rlpx")]
#[test]
fn uncompressed_disconnect_is_accepted_with_snappy_on() {
    use devp2p_peer::rlpx::{FrameEgress, FrameIngress, KeccakMac};
    let pair = || {
        let tx = FrameEgress::new(&[1; 32], &[2; 32], KeccakMac::new()).unwrap();
        let mut rx = FrameIngress::new(&[1; 32], &[2; 32], KeccakMac::new()).unwrap();
        rx.set_snappy(true);
        (tx, rx)
    };
    for payload in [&[0x08][..], &[0xc1, 0x08][..]] {
        let (mut tx, mut rx) = pair();
        tx.encode(DISC_MSG, payload).unwrap();
        let msg = rx.read_msg(&mut tx.frame()).unwrap();
        assert_eq!((msg.code, msg.data), (DISC_MSG, payload));
        assert_eq!(DiscReason::decode(msg.data), DiscReason::QUITTING);
    }
    // Compressed, it decodes as before.
    let (mut tx, mut rx) = pair();
    tx.set_snappy(true);
    tx.encode(DISC_MSG, &[0xc1, 0x08]).unwrap();
    assert_eq!(rx.read_msg(&mut tx.frame()).unwrap().data, &[0xc1, 0x08]);
    // Any other message must still decompress, and so must a long Disconnect.
    let (mut tx, mut rx) = pair();
    tx.encode(PING_MSG, &[0xc0]).unwrap();
    assert!(rx.read_msg(&mut tx.frame()).is_err());
    let (mut tx, mut rx) = pair();
    tx.encode(DISC_MSG, &[0xff; 101]).unwrap();
    assert!(rx.read_msg(&mut tx.frame()).is_err());
}

// Found by the `hello` fuzz target: an RLP header declaring a length near `usize::MAX`
// (`bf ff ff ff ff ff ff ff ff`) overflowed the "header + length" sum while locating the first
// RLP item of a payload: a panic in debug builds, in the Hello read as in `Msg::decode`.
#[test]
fn rlp_length_near_usize_max_is_an_error() {
    let huge = vec![0xbf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01];
    let (a, b) = MemoryTransport::buffered_pair(1);
    a.write_msg(Msg::new(HANDSHAKE_MSG, huge.clone())).unwrap();
    let err = read_protocol_handshake(&b).unwrap_err();
    assert!(matches!(err, Error::InvalidMsg(_)), "{err:?}");

    let mut msg = Msg::new(16, huge.clone());
    assert!(matches!(msg.decode::<u64>(), Err(Error::InvalidMsg(_))));
    let mut huge_list = huge;
    huge_list[0] = 0xff;
    let mut msg = Msg::new(16, huge_list);
    assert!(matches!(
        msg.decode_list::<u64>(),
        Err(Error::InvalidMsg(_))
    ));
}
