//! Leader/follower reading: a protocol blocked in `read_msg` may read the transport itself.
//! These cases pin down the interleavings: two protocols, Pings between protocol reads, a
//! Disconnect read by whichever thread holds the read role, back-pressure across
//! protocols, and a protocol that never reads.

mod common;

use std::thread;
use std::time::Duration;

use common::*;
use crossbeam_channel::{bounded, unbounded, RecvTimeoutError, Sender};
use devp2p_peer::*;

/// A protocol that reads forever and reports `(code, value)` of each message.
fn recording(name: &str, out: Sender<(u64, u64)>) -> Protocol {
    Protocol::new(name, 1, 2, move |_peer, rw| loop {
        let mut msg = rw.read_msg()?;
        let items: Vec<u64> = msg.decode_list()?;
        let _ = out.send((msg.code, items[0]));
    })
}

// Protocols are numbered in name order from code 16: "aaa" has 16-17, "bbb" 18-19.
#[test]
fn two_protocols_get_their_own_messages_in_order() {
    let (a_tx, a_rx) = unbounded();
    let (b_tx, b_rx) = unbounded();
    let tp = test_peer(vec![recording("aaa", a_tx), recording("bbb", b_tx)]);
    let remote = tp.remote.clone();
    within(secs(20), move || {
        for i in 0..400u64 {
            // Runs of different lengths, so both the leader and the other protocol read.
            let code = if (i / 3) % 2 == 0 {
                16 + i % 2
            } else {
                18 + i % 2
            };
            send_items(&*remote, code, &[&i]).unwrap();
        }
    });
    let mut got_a = Vec::new();
    let mut got_b = Vec::new();
    while got_a.len() + got_b.len() < 400 {
        crossbeam_channel::select! {
            recv(a_rx) -> m => got_a.push(m.unwrap()),
            recv(b_rx) -> m => got_b.push(m.unwrap()),
            default(secs(10)) => panic!("messages missing: {} + {}", got_a.len(), got_b.len()),
        }
    }
    let want_a: Vec<(u64, u64)> = (0..400u64)
        .filter(|i| (i / 3) % 2 == 0)
        .map(|i| (i % 2, i))
        .collect();
    let want_b: Vec<(u64, u64)> = (0..400u64)
        .filter(|i| (i / 3) % 2 == 1)
        .map(|i| (i % 2, i))
        .collect();
    assert_eq!(got_a, want_a);
    assert_eq!(got_b, want_b);
    let stats = tp.peer.protocol_stats();
    assert_eq!(
        (stats[0].msgs_in, stats[1].msgs_in),
        (want_a.len() as u64, want_b.len() as u64)
    );
    tp.close();
    tp.result(secs(5));
}

#[test]
fn pings_between_protocol_messages_are_answered() {
    let (tx, rx) = unbounded();
    let tp = test_peer(vec![recording("aaa", tx)]);
    let remote = tp.remote.clone();
    within(secs(20), move || {
        for i in 0..50u64 {
            send_items(&*remote, 16, &[&i]).unwrap();
            send_items(&*remote, PING_MSG, &[]).unwrap();
            expect_msg(&*remote, PONG_MSG, Some(&RlpList(&[]))).unwrap();
        }
    });
    for i in 0..50u64 {
        assert_eq!(rx.recv_timeout(secs(5)).unwrap(), (0, i));
    }
    tp.close();
    tp.result(secs(5));
}

#[test]
fn remote_disconnect_ends_the_peer_whoever_reads_it() {
    // Repeated: the Disconnect is read by the standby reader or by the protocol, depending
    // on timing; both must end the peer with the remote's reason.
    for round in 0..30u64 {
        let (tx, rx) = unbounded();
        let tp = test_peer(vec![recording("aaa", tx)]);
        let remote = tp.remote.clone();
        within(secs(10), move || {
            for i in 0..round % 4 {
                send_items(&*remote, 16, &[&i]).unwrap();
            }
            send_items(&*remote, DISC_MSG, &[&DiscReason::USELESS_PEER.0]).unwrap();
        });
        let (remote_requested, err) = tp.result(secs(10));
        assert!(remote_requested, "round {round}: {err}");
        assert_eq!(err.disc_reason(), Some(DiscReason::USELESS_PEER));
        assert_eq!(rx.try_iter().count() as u64, round % 4);
    }
}

#[test]
fn a_message_for_a_protocol_that_does_not_read_holds_back_the_others() {
    let (gate_tx, gate_rx) = bounded::<()>(0);
    let (a_tx, a_rx) = unbounded();
    let gated = Protocol::new("aaa", 1, 2, move |_peer, rw| {
        gate_rx.recv().ok();
        loop {
            let mut msg = rw.read_msg()?;
            let items: Vec<u64> = msg.decode_list()?;
            let _ = a_tx.send(items[0]);
        }
    });
    let (b_tx, b_rx) = unbounded();
    let tp = test_peer(vec![gated, recording("bbb", b_tx)]);
    let remote = tp.remote.clone();
    within(secs(10), move || {
        send_items(&*remote, 18, &[&1u64]).unwrap();
        // Read by "bbb" or the standby, and waits in "aaa"'s mailbox.
        send_items(&*remote, 16, &[&2u64]).unwrap();
    });
    assert_eq!(b_rx.recv_timeout(secs(5)).unwrap(), (0, 1));
    // Nothing more is read while "aaa" does not take its message, as with geth's
    // unbuffered channel: "bbb"'s next message and a Ping wait.
    let (sent_tx, sent_rx) = bounded(1);
    let remote = tp.remote.clone();
    thread::spawn(move || {
        let r =
            send_items(&*remote, 18, &[&3u64]).and_then(|_| send_items(&*remote, PING_MSG, &[]));
        let _ = sent_tx.send(r);
    });
    assert_eq!(
        sent_rx.recv_timeout(Duration::from_millis(300)).err(),
        Some(RecvTimeoutError::Timeout),
        "a message was read while another protocol held one back"
    );
    gate_tx.send(()).unwrap();
    assert_eq!(a_rx.recv_timeout(secs(5)).unwrap(), 2);
    sent_rx.recv_timeout(secs(5)).unwrap().unwrap();
    assert_eq!(b_rx.recv_timeout(secs(5)).unwrap(), (0, 3));
    let remote = tp.remote.clone();
    within(secs(5), move || {
        expect_msg(&*remote, PONG_MSG, None).unwrap()
    });
    tp.close();
    tp.result(secs(5));
}

#[test]
fn pings_and_disconnect_are_read_while_the_only_protocol_never_reads() {
    let (stop_tx, stop_rx) = bounded::<()>(0);
    let idle = Protocol::new("aaa", 1, 2, move |_peer, _rw| {
        let _ = stop_rx.recv();
        Ok(())
    });
    let tp = test_peer(vec![idle]);
    let remote = tp.remote.clone();
    within(secs(10), move || {
        for _ in 0..3 {
            send_items(&*remote, PING_MSG, &[]).unwrap();
            expect_msg(&*remote, PONG_MSG, None).unwrap();
        }
        send_items(&*remote, DISC_MSG, &[&DiscReason::TOO_MANY_PEERS.0]).unwrap();
    });
    // The peer shuts down (closing its transport) while the protocol still has not read;
    // `run` then waits for the protocol to return, as geth's does.
    let deadline = std::time::Instant::now() + secs(10);
    while tp.local.closed_with.lock().is_none() {
        assert!(
            std::time::Instant::now() < deadline,
            "the Disconnect was not read"
        );
        thread::sleep(Duration::from_millis(5));
    }
    drop(stop_tx);
    let (remote_requested, err) = tp.result(secs(10));
    assert!(remote_requested);
    assert_eq!(err.disc_reason(), Some(DiscReason::TOO_MANY_PEERS));
}

#[test]
fn pings_are_answered_after_a_protocol_took_its_message_and_went_busy() {
    // The protocol reads one message, then stays busy without reading: the standby must
    // take over reading (at once or after its short grace period).
    let (took_tx, took_rx) = bounded(1);
    let (stop_tx, stop_rx) = bounded::<()>(0);
    let busy = Protocol::new("aaa", 1, 2, move |_peer, rw| {
        rw.read_msg()?.discard()?;
        let _ = took_tx.send(());
        let _ = stop_rx.recv();
        Ok(())
    });
    let tp = test_peer(vec![busy]);
    let remote = tp.remote.clone();
    within(secs(10), move || {
        send_items(&*remote, 16, &[&0u64]).unwrap()
    });
    took_rx.recv_timeout(secs(5)).unwrap();
    let remote = tp.remote.clone();
    within(secs(10), move || {
        send_items(&*remote, PING_MSG, &[]).unwrap();
        expect_msg(&*remote, PONG_MSG, None).unwrap();
    });
    drop(stop_tx);
    let (remote_requested, err) = tp.result(secs(10));
    assert!(!remote_requested);
    assert!(matches!(err, Error::ProtocolReturned), "{err}");
}

#[test]
fn several_threads_of_one_protocol_share_its_messages() {
    let (tx, rx) = unbounded();
    let proto = Protocol::new("aaa", 1, 2, move |_peer, rw| {
        let readers: Vec<_> = (0..3)
            .map(|_| {
                let rw = rw.clone();
                let tx = tx.clone();
                thread::spawn(move || -> Result<(), Error> {
                    loop {
                        let mut msg = rw.read_msg()?;
                        let items: Vec<u64> = msg.decode_list()?;
                        let _ = tx.send(items[0]);
                    }
                })
            })
            .collect();
        for r in readers {
            let _ = r.join();
        }
        Err(Error::Eof)
    });
    let tp = test_peer(vec![proto]);
    let remote = tp.remote.clone();
    within(secs(20), move || {
        for i in 0..300u64 {
            send_items(&*remote, 16, &[&i]).unwrap();
        }
    });
    let mut got: Vec<u64> = (0..300)
        .map(|_| rx.recv_timeout(secs(5)).unwrap())
        .collect();
    got.sort_unstable();
    assert_eq!(got, (0..300).collect::<Vec<u64>>());
    tp.close();
    tp.result(secs(5));
}
