//! The peer's API for callers outside its threads: typed drop events, bounded event
//! delivery, writers from any thread, and disconnect before run.

mod common;

use std::sync::Arc;

use common::{secs, within};
use crossbeam_channel::bounded;
use devp2p_peer::*;

fn info(n: u8, caps: Vec<Cap>) -> ConnInfo {
    ConnInfo {
        id: NodeId([n; 32]),
        caps,
        ..ConnInfo::default()
    }
}

#[test]
fn drop_event_carries_the_error_and_who_asked() {
    let cap = Cap::new("quit", 1);
    let quits = Protocol::new("quit", 1, 1, |_peer, _rw| {
        Err(DiscReason::USELESS_PEER.into())
    });
    let waits = Protocol::new("quit", 1, 1, |_peer, rw| loop {
        rw.read_msg()?;
    });
    let feed_a = EventFeed::new();
    let feed_b = EventFeed::new();
    let (ev_a, ev_b) = (feed_a.subscribe(), feed_b.subscribe());
    let config = |feed: &EventFeed| PeerConfig {
        events: Some(feed.clone()),
        ..PeerConfig::default()
    };
    let (a, b) = MemoryTransport::pair();
    let pa = Peer::new(
        info(2, vec![cap.clone()]),
        Arc::new(a),
        &[quits],
        config(&feed_a),
    );
    let pb = Peer::new(info(1, vec![cap]), Arc::new(b), &[waits], config(&feed_b));
    let tb = std::thread::spawn(move || pb.run());
    let (ra, ea) = within(secs(20), move || pa.run());
    let (rb, eb) = tb.join().unwrap();
    assert!(!ra && rb);

    for (events, remote, err) in [(ev_a, ra, ea), (ev_b, rb, eb)] {
        let kinds: Vec<PeerEvent> = events.try_iter().collect();
        assert_eq!(kinds.len(), 2);
        assert_eq!(kinds[0].kind, PeerEventType::Add);
        let drop = &kinds[1];
        assert_eq!(drop.kind, PeerEventType::Drop);
        assert_eq!(drop.disc_reason(), Some(DiscReason::USELESS_PEER));
        assert_eq!(drop.remote_requested, remote);
        assert_eq!(drop.error.as_deref(), Some(err.to_string().as_str()));
        assert_eq!(drop.error.as_deref(), Some("useless peer"));
    }
}

#[test]
fn a_subscriber_that_stops_reading_loses_events_and_never_blocks_the_feed() {
    let feed = EventFeed::new();
    let slow = feed.subscribe_with_capacity(2);
    let fast = feed.subscribe();
    let ev = PeerEvent::new(PeerEventType::MsgSend, NodeId([3; 32]));
    let delivered: Vec<usize> = (0..5).map(|_| feed.send(ev.clone())).collect();
    assert_eq!(delivered, [2, 2, 1, 1, 1]);
    assert_eq!(feed.dropped_events(), 3);
    assert_eq!(slow.try_iter().count(), 2);
    assert_eq!(fast.try_iter().count(), 5);
    // Once it has room again it gets new events.
    assert_eq!(feed.send(ev), 2);
}

#[test]
fn disconnect_before_run_returns_at_once_and_ends_the_peer_with_its_reason() {
    let cap = Cap::new("p", 1);
    let (ran_tx, ran) = bounded::<()>(1);
    let never_runs = Protocol::new("p", 1, 1, move |_peer, _rw| {
        let _ = ran_tx.send(());
        Ok(())
    });
    let remote_proto = Protocol::new("p", 1, 1, |_peer, rw| loop {
        rw.read_msg()?;
    });
    let (a, b) = MemoryTransport::pair();
    let pa = Peer::new(
        info(2, vec![cap.clone()]),
        Arc::new(a),
        &[never_runs],
        PeerConfig::default(),
    );
    let pb = Peer::new(
        info(1, vec![cap]),
        Arc::new(b),
        &[remote_proto],
        PeerConfig::default(),
    );
    // Not running yet: returns at once (a bug here hangs, caught by `within`).
    let p = pa.clone();
    within(secs(20), move || {
        p.disconnect(DiscReason::TOO_MANY_PEERS);
        p.disconnect(DiscReason::USELESS_PEER); // the first reason stays
    });
    let tb = std::thread::spawn(move || pb.run());
    let (remote_requested, err) = within(secs(20), move || pa.run());
    assert!(!remote_requested);
    assert_eq!(err.disc_reason(), Some(DiscReason::TOO_MANY_PEERS));
    // The remote was told the reason, and our protocol never started.
    let (rb, eb) = tb.join().unwrap();
    assert!(rb);
    assert_eq!(eb.disc_reason(), Some(DiscReason::TOO_MANY_PEERS));
    assert!(ran.try_recv().is_err());
}

#[test]
fn protocol_writer_writes_are_the_protocols_own() {
    let cap = Cap::new("w", 1);
    let (started_tx, started) = bounded::<()>(1);
    let idle = Protocol::new("w", 1, 2, move |peer, _rw| {
        let _ = started_tx.send(());
        let _ = peer.closed().recv();
        Err(Error::Eof)
    });
    let (got_tx, got) = bounded::<(u64, u64)>(8);
    let read = Protocol::new("w", 1, 2, move |_peer, rw| loop {
        let mut msg = rw.read_msg()?;
        let _ = got_tx.send((msg.code, msg.decode::<u64>()?));
    });
    let (a, b) = MemoryTransport::pair();
    let pa = Peer::new(
        info(2, vec![cap.clone()]),
        Arc::new(a),
        &[idle],
        PeerConfig::default(),
    );
    let pb = Peer::new(
        info(1, vec![cap.clone()]),
        Arc::new(b),
        &[read],
        PeerConfig::default(),
    );
    assert!(pa.protocol_writer(&cap).is_none(), "not running yet");
    let (ra, rb) = (pa.clone(), pb.clone());
    let ta = std::thread::spawn(move || ra.run());
    let tb = std::thread::spawn(move || rb.run());
    started.recv_timeout(secs(20)).unwrap();
    assert!(pa.protocol_writer(&Cap::new("w", 2)).is_none());
    let w = pa.protocol_writer(&cap).unwrap();
    // Writers on several threads at once.
    let writers: Vec<_> = (0..4u64)
        .map(|i| {
            let w = w.clone();
            std::thread::spawn(move || send(&w, 1, &i))
        })
        .collect();
    for t in writers {
        t.join().unwrap().unwrap();
    }
    let mut values: Vec<(u64, u64)> = (0..4)
        .map(|_| got.recv_timeout(secs(20)).unwrap())
        .collect();
    values.sort();
    assert_eq!(values, [(1, 0), (1, 1), (1, 2), (1, 3)]);
    // Codes are checked against the protocol's range, as its own writes are.
    assert!(send(&w, 2, &0u64).is_err());
    let stats = pa.protocol_stats();
    assert_eq!(stats[0].msgs_out, 4);

    pa.disconnect(DiscReason::REQUESTED);
    within(secs(20), move || {
        ta.join().unwrap();
        tb.join().unwrap();
    });
    assert!(w.is_closed());
    assert!(matches!(send(&w, 1, &9u64), Err(Error::ShuttingDown)));
}
