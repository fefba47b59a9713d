//! `Server::stop` while peers are mid-handshake and mid-traffic joins every thread the server
//! started. One test in its own process, so that nothing else moves the thread count.
#![cfg(feature = "rlpx")]

#[path = "common/live_threads.rs"]
mod live_threads;
mod server_common;

use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use devp2p_peer::rlpx::SecretKey;
use devp2p_peer::*;
use server_common::*;

const LIMIT: Duration = Duration::from_secs(10);

/// Sends messages as fast as the connection takes them, and reads whatever comes back.
fn flood(stop: Arc<AtomicBool>) -> Protocol {
    Protocol::new("flood", 1, 2, move |peer, rw| {
        let reader = rw.clone();
        let sink = std::thread::Builder::new()
            .name("flood-read".into())
            .spawn(move || loop {
                if reader.read_msg().and_then(|mut m| m.discard()).is_err() {
                    return;
                }
            })
            .unwrap();
        let mut result = Ok(());
        while !stop.load(Ordering::Relaxed) {
            if let Err(e) = rw.write_msg(Msg::new(0, vec![0x42; 512])) {
                result = Err(e);
                break;
            }
        }
        // The peer is shutting down (or we were told to stop): the reader ends with EOF.
        if result.is_ok() {
            peer.disconnect(DiscReason::REQUESTED);
        }
        let _ = sink.join();
        result
    })
}

/// How many live threads of this process are named `name` (see `live_threads`).
fn threads_named(name: &str) -> usize {
    live_threads::live_threads(|comm| comm == name)
}

#[test]
fn stop_joins_every_thread() {
    let baseline = thread_count();
    let stop_flood = Arc::new(AtomicBool::new(false));

    // Server `a` under test; `b` dials it and floods; raw connections sit in the handshake.
    let mut ca = test_config("a", vec![flood(stop_flood.clone()), discard()]);
    ca.handshake_timeout = Duration::from_secs(5);
    let a = started(ca);
    // a's accept and run loops, the only threads with these names so far, by ID: a new
    // thread has its creator's name until it names itself, so once `b` runs, a dial thread
    // its run loop has just started is named `server-run` too for a moment.
    wait_until("a's loops named", LIMIT, || {
        threads_named("server-accept") == 1 && threads_named("server-run") == 1
    });
    let a_loops = live_threads::live_tids(|comm| comm == "server-accept" || comm == "server-run");
    assert_eq!(a_loops.len(), 2);
    let events_a = a.subscribe_events();
    let b = started(test_config("b", vec![flood(stop_flood.clone())]));
    let events_b = b.subscribe_events();
    b.add_peer(a.self_enode());
    next_event(&events_a, PeerEventType::Add, LIMIT);
    next_event(&events_b, PeerEventType::Add, LIMIT);
    // A few bare clients that are peers too (on the quiet protocol, so that they can read
    // the Disconnect that stop sends).
    let mut clients = Vec::new();
    for _ in 0..3 {
        clients
            .push(client_connect(&a, &SecretKey::random(), vec![Cap::new("discard", 1)]).unwrap());
        next_event(&events_a, PeerEventType::Add, LIMIT);
    }
    // Traffic is flowing.
    wait_until("traffic", LIMIT, || {
        a.peers()
            .iter()
            .any(|p| p.protocol_stats().iter().any(|s| s.msgs_in > 100))
    });
    // Mid-handshake: connections that send nothing.
    let addr = a.local_addr().unwrap();
    let silent: Vec<TcpStream> = (0..5).map(|_| TcpStream::connect(addr).unwrap()).collect();
    assert!(thread_count() > baseline);

    let t = Instant::now();
    a.stop();
    let took = t.elapsed();
    // Well below the 5 s handshake deadline: the handshakes were aborted.
    assert!(took < Duration::from_secs(3), "stop took {took:?}");
    assert_eq!(a.peer_count(), 0);
    // Right after stop: a's accept loop, run loop and connection threads are joined (b has
    // no inbound connection, so no connection thread). Its loops are looked at by thread
    // ID: b redials a, its static node, once the peer is gone, and the new dial thread
    // bears the name of b's run loop until it names itself.
    let left: Vec<&String> = a_loops
        .iter()
        .filter(|t| live_threads::is_live(t))
        .collect();
    assert!(left.is_empty(), "a's loops {a_loops:?} still run: {left:?}");
    assert_eq!(threads_named("server-conn"), 0);
    // The remote server lost the peer: it reads "client quitting" unless its own flood of
    // writes hit the closed socket first.
    let ev = next_event(&events_b, PeerEventType::Drop, LIMIT);
    assert!(ev.error.is_some());
    // The bare clients were told why.
    for (t, _) in &clients {
        assert_eq!(next_disc(t), Some(DiscReason::QUITTING));
    }
    drop(clients);
    drop(silent);

    stop_flood.store(true, Ordering::Relaxed);
    b.stop();
    drop(a);
    drop(b);
    drop(events_a);
    drop(events_b);
    // Every thread the servers (and their peers) started is gone. A joined thread may take a
    // moment to leave the kernel's count after join returned: a bounded wait.
    wait_until("threads to exit", Duration::from_secs(1), || {
        thread_count() <= baseline
    });
    assert_eq!(thread_count(), baseline);
}
