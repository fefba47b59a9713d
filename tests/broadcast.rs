//! The broadcaster: a stalled peer holds back nobody, overflow is dropped and counted, and
//! every sender thread ends with its peer.

mod common;
#[path = "common/live_threads.rs"]
mod live_threads;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{secs, within};
use crossbeam_channel::{bounded, unbounded, Receiver, Sender};
use devp2p_peer::*;

/// Threads of this process whose name starts with `prefix` (names are cut to 15 bytes).
/// Threads that are exiting are left out: a thread just joined may still be listed for a
/// moment (see `live_threads`).
fn threads_named(prefix: &str) -> usize {
    live_threads::live_threads(|name| name.starts_with(prefix))
}

fn wait_until(limit: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Hands every message to a channel.
struct Sink(Sender<Msg>);

impl MsgWriter for Sink {
    fn write_msg(&self, msg: Msg) -> Result<(), Error> {
        self.0.send(msg).map_err(|_| Error::ShuttingDown)
    }
}

/// Blocks in its first write until `gate` is dropped, then fails.
struct Stalled {
    entered: Sender<()>,
    gate: Receiver<()>,
}

impl MsgWriter for Stalled {
    fn write_msg(&self, _msg: Msg) -> Result<(), Error> {
        let _ = self.entered.send(());
        let _ = self.gate.recv();
        Err(Error::ShuttingDown)
    }
}

fn id(first: u8, n: u8) -> NodeId {
    let mut id = [n; 32];
    id[0] = first;
    NodeId(id)
}

#[test]
fn stalled_peer_does_not_hold_back_the_others_and_its_overflow_is_counted() {
    const CAP: usize = 4;
    const MSGS: usize = 20;
    let bc = Broadcaster::new(CAP);
    let (fast_a, fast_b, slow) = (id(0xa1, 1), id(0xa1, 2), id(0xa1, 3));
    let (ta, ra) = unbounded();
    let (tb, rb) = unbounded();
    let (entered_tx, entered) = bounded(1);
    let (gate_tx, gate) = bounded::<()>(0);
    let (_never_closed, closed) = bounded::<()>(0);
    assert!(bc.add_writer(fast_a, Sink(ta), closed.clone()));
    assert!(bc.add_writer(fast_b, Sink(tb), closed.clone()));
    let stalled = Stalled {
        entered: entered_tx,
        gate,
    };
    assert!(bc.add_writer(slow, stalled, closed.clone()));
    assert_eq!(bc.len(), 3);

    let mut dropped = 0;
    for i in 0..MSGS {
        let report = bc.send(0, rlp::encode(&(i as u64)).to_vec());
        dropped += report.dropped;
        // The fast peers get every message, whatever the stalled one does.
        for rx in [&ra, &rb] {
            let mut msg = rx
                .recv_timeout(secs(20))
                .expect("fast peer got the message");
            assert_eq!(msg.decode::<u64>().unwrap(), i as u64);
        }
        if i == 0 {
            // The stalled peer's sender has taken message 0 and is stuck writing it.
            entered.recv_timeout(secs(20)).unwrap();
        }
    }
    // Message 0 is in the stalled write, CAP more wait in its queue, the rest were dropped.
    let expect = (MSGS - 1 - CAP) as u64;
    assert_eq!(dropped as u64, expect);
    assert_eq!(bc.dropped(), expect);
    assert_eq!(bc.dropped_for(&slow), Some(expect));
    assert_eq!(bc.dropped_for(&fast_a), Some(0));

    // The stalled write fails: its sender ends and the peer leaves the set.
    drop(gate_tx);
    wait_until(secs(20), "the stalled peer to leave", || bc.len() == 2);
    assert!(!bc.peers().contains(&slow));
    assert!(!bc.send_to(&slow, 0, vec![0x80]));
    assert!(bc.send_to(&fast_a, 0, vec![0x80]));
    ra.recv_timeout(secs(20)).unwrap();

    // Dropping the last handle ends and joins the remaining senders.
    drop(bc);
    assert_eq!(threads_named("bcast-a1"), 0);
}

#[test]
fn sender_ends_when_its_closed_signal_fires_and_remove_joins() {
    let bc = Broadcaster::new(8);
    let (p1, p2) = (id(0xb2, 1), id(0xb2, 2));
    let (t1, _r1) = unbounded();
    let (t2, _r2) = unbounded();
    let (close1, closed1) = bounded::<()>(0);
    let (_keep, closed2) = bounded::<()>(0);
    bc.add_writer(p1, Sink(t1), closed1);
    bc.add_writer(p2, Sink(t2), closed2);
    // A thread names itself once it runs.
    wait_until(secs(20), "both senders", || threads_named("bcast-b2") == 2);
    drop(close1); // peer 1 shuts down
    wait_until(secs(20), "peer 1 to leave", || bc.len() == 1);
    assert_eq!(bc.join_ended(), 1);
    assert!(bc.remove(&p2));
    assert!(!bc.remove(&p2));
    assert!(bc.is_empty());
    assert_eq!(threads_named("bcast-b2"), 0);
}

/// Peers over memory transports: the local side runs a protocol that only waits; a
/// broadcaster fed with `Peer::protocol_writer` reaches every remote, and its senders end
/// with the peers.
#[test]
fn broadcast_to_running_peers_through_their_protocol_writers() {
    const PEERS: u8 = 3;
    let cap = Cap::new("chat", 1);
    let bc = Broadcaster::new(16);
    let (got_tx, got) = unbounded::<(u8, String)>();
    let mut locals = Vec::new();
    let mut threads = Vec::new();
    for n in 1..=PEERS {
        let (started_tx, started) = bounded::<()>(1);
        let idle = Protocol::new("chat", 1, 1, move |peer, _rw| {
            let _ = started_tx.send(());
            let _ = peer.closed().recv();
            Err(Error::Eof)
        });
        let got_tx = got_tx.clone();
        let listen = Protocol::new("chat", 1, 1, move |_peer, rw| loop {
            let mut msg = rw.read_msg()?;
            let _ = got_tx.send((n, msg.decode::<String>()?));
        });
        let (a, b) = MemoryTransport::pair();
        let info = |i: u8| ConnInfo {
            id: id(0xc3, i),
            caps: vec![cap.clone()],
            ..ConnInfo::default()
        };
        let local = Peer::new(info(n), Arc::new(a), &[idle], PeerConfig::default());
        let remote = Peer::new(info(100 + n), Arc::new(b), &[listen], PeerConfig::default());
        let (l, r) = (local.clone(), remote);
        threads.push(std::thread::spawn(move || l.run()));
        threads.push(std::thread::spawn(move || r.run()));
        started.recv_timeout(secs(20)).unwrap();
        bc.add(local.protocol_writer(&cap).expect("chat/1 runs"));
        locals.push(local);
    }
    assert_eq!(bc.len(), PEERS as usize);
    let report = bc.send(0, rlp::encode(&"hello all").to_vec());
    assert_eq!(report.queued, PEERS as usize);
    let mut seen: Vec<u8> = (0..PEERS)
        .map(|_| {
            let (n, text) = got.recv_timeout(secs(20)).unwrap();
            assert_eq!(text, "hello all");
            n
        })
        .collect();
    seen.sort();
    assert_eq!(seen, (1..=PEERS).collect::<Vec<_>>());

    for p in &locals {
        p.disconnect(DiscReason::REQUESTED);
    }
    within(secs(30), move || {
        for t in threads {
            t.join().unwrap();
        }
    });
    wait_until(secs(20), "the senders to end", || bc.is_empty());
    bc.join_ended();
    assert_eq!(threads_named("bcast-c3"), 0);
    // A writer for a protocol that has returned is gone.
    assert!(locals[0].protocol_writer(&cap).is_none());
}
