//! Testing a protocol against a failing network with `FaultyTransport`.
//!
//! The protocol, `tally/1`, uploads numbered items: the client sends item `n` (code 0), the
//! server stores it and acknowledges with how many items it holds (code 1). Its promise:
//! whatever the network does, once the client is done the server holds every item exactly
//! once and in order. The client keeps the count of acknowledged items across connections
//! and resumes from it; the server ignores an item it already holds (its ack was lost) and
//! acknowledges it again.
//!
//! The "test" below runs the upload over a series of connections, each with a different
//! fault injected on one side or the other, reconnecting after each failure, and checks the
//! promise at the end. It runs with no arguments and exits non-zero if the promise breaks:
//!
//! ```text
//! cargo run --example fault_injection
//! ```

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use devp2p_peer::*;
use parking_lot::Mutex;

const ITEMS: u64 = 20;
const ITEM: u64 = 0;
const ACK: u64 = 1;

/// The client side: sends the items not yet acknowledged, one at a time.
fn client(acked: Arc<AtomicU64>) -> Protocol {
    Protocol::new("tally", 1, 2, move |_peer, rw| {
        while acked.load(Ordering::SeqCst) < ITEMS {
            let n = acked.load(Ordering::SeqCst);
            send(&rw, ITEM, &n)?;
            let mut ack = rw.read_msg()?;
            if ack.code != ACK {
                return Err(Error::invalid_msg_code(format!("{}", ack.code)));
            }
            let held: u64 = ack.decode()?;
            acked.store(held, Ordering::SeqCst);
        }
        Ok(()) // done: the peer disconnects with "client quitting"
    })
}

/// The server side: stores each new item, acknowledges every item.
fn server(store: Arc<Mutex<Vec<u64>>>) -> Protocol {
    Protocol::new("tally", 1, 2, move |_peer, rw| loop {
        let mut msg = rw.read_msg()?;
        if msg.code != ITEM {
            return Err(Error::invalid_msg_code(format!("{}", msg.code)));
        }
        let n: u64 = msg.decode()?;
        let held = {
            let mut items = store.lock();
            if n == items.len() as u64 {
                items.push(n);
            } else if n > items.len() as u64 {
                return Err(DiscReason::PROTOCOL_ERROR.into()); // a gap: a client bug
            } // else: a resend after a lost ack
            items.len() as u64
        };
        send(&rw, ACK, &held)?;
    })
}

/// One fault plan per connection, for the client's end and the server's end.
type Plan = (
    &'static str,
    fn(MemoryTransport) -> FaultyTransport<MemoryTransport>,
    fn(MemoryTransport) -> FaultyTransport<MemoryTransport>,
);

fn reset() -> Error {
    Error::other("connection reset by peer")
}

fn plans() -> Vec<Plan> {
    vec![
        (
            "client's 4th write fails",
            |t| FaultyTransport::new(t).fail_write(4, reset()),
            FaultyTransport::new,
        ),
        (
            "server's connection dies in the middle of its 3rd ack",
            FaultyTransport::new,
            |t| FaultyTransport::new(t).cut_write_after(2),
        ),
        (
            "client's connection dies in the middle of an item",
            |t| FaultyTransport::new(t).cut_write_after(5),
            FaultyTransport::new,
        ),
        (
            "slow links both ways, and the server's 2nd read fails",
            |t| FaultyTransport::new(t).read_delay(Duration::from_millis(2)),
            |t| {
                FaultyTransport::new(t)
                    .write_delay(Duration::from_millis(2))
                    .fail_read(2, reset())
            },
        ),
        ("no faults", FaultyTransport::new, FaultyTransport::new),
    ]
}

fn conn(id: u8) -> ConnInfo {
    ConnInfo {
        id: NodeId([id; 32]),
        name: format!("node-{id}"),
        caps: vec![Cap::new("tally", 1)],
        ..ConnInfo::default()
    }
}

fn main() {
    let acked = Arc::new(AtomicU64::new(0));
    let store = Arc::new(Mutex::new(Vec::new()));
    let mut plans = plans().into_iter();
    let mut connections = 0;
    while acked.load(Ordering::SeqCst) < ITEMS {
        let Some((what, client_end, server_end)) = plans.next() else {
            eprintln!("FAIL: ran out of connections with {acked:?} items acknowledged");
            std::process::exit(1);
        };
        connections += 1;
        let before = acked.load(Ordering::SeqCst);
        let (a, b) = MemoryTransport::pair();
        let (a, b) = (Arc::new(client_end(a)), Arc::new(server_end(b)));
        let client_peer = Peer::new(
            conn(2),
            a.clone(),
            &[client(acked.clone())],
            PeerConfig::default(),
        );
        let server_peer = Peer::new(
            conn(1),
            b.clone(),
            &[server(store.clone())],
            PeerConfig::default(),
        );
        let server_run = thread::spawn(move || server_peer.run());
        let (_, client_err) = client_peer.run();
        let (_, server_err) = server_run.join().expect("server peer panicked");
        println!(
            "connection {connections} ({what}): items {before}..{} acknowledged; \
             client ended with \"{client_err}\", server with \"{server_err}\" \
             (client {}w/{}r, server {}w/{}r)",
            acked.load(Ordering::SeqCst),
            a.writes(),
            a.reads(),
            b.writes(),
            b.reads(),
        );
    }

    let items = store.lock().clone();
    let want: Vec<u64> = (0..ITEMS).collect();
    if items != want {
        eprintln!("FAIL: the server holds {items:?}, want {want:?}");
        std::process::exit(1);
    }
    println!("ok: {ITEMS} items, each exactly once and in order, over {connections} connections");
}
