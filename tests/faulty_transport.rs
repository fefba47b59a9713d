//! FaultyTransport: each fault it injects, its counters, and a peer running over it.

mod common;

use std::io;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use crossbeam_channel::bounded;
use devp2p_peer::*;

fn msg(payload: &[u8]) -> Msg {
    Msg::new(16, payload.to_vec())
}

fn payload(m: Result<Msg, Error>) -> Vec<u8> {
    m.unwrap().payload.into_vec()
}

fn is_cut(err: &Error) -> bool {
    matches!(err, Error::Io(e) if e.kind() == io::ErrorKind::UnexpectedEof)
}

#[test]
fn the_nth_write_fails_and_its_message_is_dropped() {
    let (a, b) = MemoryTransport::buffered_pair(8);
    let a = FaultyTransport::new(a)
        .fail_write(2, Error::other("reset"))
        .fail_write(4, DiscReason::TOO_MANY_PEERS.into());
    a.write_msg(msg(&[1])).unwrap();
    assert_eq!(a.write_msg(msg(&[2])).unwrap_err().to_string(), "reset");
    a.write_msg(msg(&[3])).unwrap();
    let err = a.write_msg(msg(&[4])).unwrap_err();
    assert_eq!(err.disc_reason(), Some(DiscReason::TOO_MANY_PEERS));
    a.write_msg(msg(&[5])).unwrap();
    assert_eq!(a.writes(), 5);
    for want in [1, 3, 5] {
        assert_eq!(payload(b.read_msg()), [want]);
    }
    assert!(!a.was_cut());
}

#[test]
fn the_nth_read_fails_and_the_message_waits() {
    let (a, b) = MemoryTransport::buffered_pair(8);
    let b = FaultyTransport::new(b).fail_read(1, Error::other("flaky"));
    a.write_msg(msg(&[1])).unwrap();
    a.write_msg(msg(&[2])).unwrap();
    assert_eq!(b.read_msg().unwrap_err().to_string(), "flaky");
    assert_eq!(payload(b.read_msg()), [1]);
    assert_eq!(payload(b.read_msg()), [2]);
    assert_eq!(b.reads(), 3);
}

#[test]
fn a_write_cut_mid_message_never_arrives() {
    let (a, b) = MemoryTransport::buffered_pair(8);
    let a = FaultyTransport::new(a).cut_write_after(8);
    a.write_msg(msg(&[0; 4])).unwrap();
    a.write_msg(msg(&[0; 4])).unwrap(); // exactly 8 bytes: still whole
    let err = a.write_msg(msg(&[9])).unwrap_err();
    assert!(is_cut(&err), "{err:?}");
    assert!(a.was_cut());
    // Everything after the cut fails, both ways.
    assert!(is_cut(&a.write_msg(msg(&[])).unwrap_err()));
    assert!(is_cut(&a.read_msg().unwrap_err()));
    // The remote gets the whole messages, then the end of the connection.
    assert_eq!(b.read_msg().unwrap().size, 4);
    assert_eq!(b.read_msg().unwrap().size, 4);
    assert!(within(secs(10), move || b.read_msg()).is_err());
}

#[test]
fn a_read_cut_mid_message_drops_it_and_closes() {
    let (a, b) = MemoryTransport::buffered_pair(8);
    let b = FaultyTransport::new(b).cut_read_after(5);
    for i in 0..3 {
        a.write_msg(msg(&[i; 4])).unwrap();
    }
    assert_eq!(payload(b.read_msg()), [0; 4]);
    assert!(is_cut(&b.read_msg().unwrap_err()));
    assert!(is_cut(&b.read_msg().unwrap_err()));
    // The connection is closed under the remote too.
    assert!(within(secs(10), move || a.write_msg(msg(&[7]))).is_err());
}

#[test]
fn delayed_messages_arrive_in_order() {
    let (a, b) = MemoryTransport::buffered_pair(8);
    let a = FaultyTransport::new(a).write_delay(Duration::from_millis(1));
    let b = FaultyTransport::new(b).read_delay(Duration::from_millis(1));
    for i in 0..5 {
        a.write_msg(msg(&[i])).unwrap();
    }
    for i in 0..5 {
        assert_eq!(payload(b.read_msg()), [i]);
    }
}

#[test]
fn shutdown_ends_a_delayed_read_and_write() {
    let (a, b) = MemoryTransport::pair();
    let hour = Duration::from_secs(3600);
    let b = Arc::new(FaultyTransport::new(b).read_delay(hour).write_delay(hour));
    let (reader, writer) = (b.clone(), b.clone());
    let (tx, rx) = bounded(2);
    let tx2 = tx.clone();
    let r = std::thread::spawn(move || tx.send(reader.read_msg().is_err()).unwrap());
    let w = std::thread::spawn(move || tx2.send(writer.write_msg(msg(&[1])).is_err()).unwrap());
    // Wait until both are inside the transport, then shut it down.
    let deadline = std::time::Instant::now() + secs(10);
    while b.reads() + b.writes() < 2 {
        assert!(std::time::Instant::now() < deadline, "calls never started");
        std::thread::yield_now();
    }
    b.shutdown(&Error::other("test over"));
    for _ in 0..2 {
        assert!(rx.recv_timeout(secs(10)).expect("a delayed call hung"));
    }
    r.join().unwrap();
    w.join().unwrap();
    drop(a);
}

#[test]
fn a_peer_ends_on_an_injected_write_error() {
    let (local, remote) = MemoryTransport::buffered_pair(8);
    let local = FaultyTransport::new(local).fail_write(2, Error::other("injected"));
    let (seen_tx, seen_rx) = bounded(1);
    let talker = Protocol::new("talk", 1, 1, move |_peer, rw| {
        for i in 0..3u8 {
            if let Err(e) = rw.write_msg(Msg::new(0, vec![i])) {
                let _ = seen_tx.send(e.to_string());
                return Err(e);
            }
        }
        loop {
            rw.read_msg()?;
        }
    });
    let conn = ConnInfo {
        id: uint_id(1),
        name: "remote".into(),
        caps: vec![Cap::new("talk", 1)],
        ..ConnInfo::default()
    };
    let peer = Peer::new(conn, Arc::new(local), &[talker], PeerConfig::default());
    let (_, err) = within(secs(20), move || peer.run());
    assert_eq!(seen_rx.recv_timeout(secs(10)).unwrap(), "injected");
    assert_eq!(err.to_string(), "injected");
    // The first message went out; the peer's end closed the connection after.
    assert_eq!(payload(remote.read_msg()), [0]);
}
