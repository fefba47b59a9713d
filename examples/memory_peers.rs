//! Two peers over an in-memory transport running two sub-protocols, `echo/1` and `count/1`,
//! then a clean disconnect with a reason. Prints what happens.
//!
//! Run with `cargo run --example memory_peers`.

use std::sync::Arc;
use std::thread;
use std::time::Instant;

use devp2p_peer::*;

fn main() {
    // Node A drives both protocols at once: 5 echo requests and a count to 3; when both are
    // done, the count protocol disconnects.
    let (echo_done_tx, echo_done) = crossbeam_channel::bounded::<()>(1);
    let echo_client = Protocol::new("echo", 1, 8, move |peer, rw| {
        for i in 0..5u64 {
            let start = Instant::now();
            send_items(&rw, i % 8, &[&format!("hello #{i}")])?;
            let mut back = rw.read_msg()?;
            let text: Vec<String> = back.decode_list()?;
            println!(
                "[{}] echo code {} <- {:?} in {:?}",
                peer.name(),
                back.code,
                text[0],
                start.elapsed()
            );
        }
        let _ = echo_done_tx.send(());
        // Wait until the peer shuts down (the count protocol ends the connection).
        rw.read_msg().map(|_| ())
    });
    let count_client = Protocol::new("count", 1, 1, move |peer, rw| {
        for n in 0..3u64 {
            send(&rw, 0, &n)?;
            let next: u64 = rw.read_msg()?.decode()?;
            println!("[{}] count {n} -> {next}", peer.name());
        }
        let _ = echo_done.recv();
        println!(
            "[{}] done, disconnecting: {}",
            peer.name(),
            DiscReason::REQUESTED
        );
        Err(DiscReason::REQUESTED.into())
    });
    // Node B serves both protocols.
    let echo_server = Protocol::new("echo", 1, 8, |_peer, rw| loop {
        let msg = rw.read_msg()?;
        let code = msg.code;
        rw.write_msg(Msg::new(code, msg.payload.into_vec()))?;
    });
    let count_server = Protocol::new("count", 1, 1, |_peer, rw| loop {
        let n: u64 = rw.read_msg()?.decode()?;
        send(&rw, 0, &(n + 1))?;
    });

    let caps = vec![Cap::new("echo", 1), Cap::new("count", 1)];
    let conn = |id: u8, name: &str| ConnInfo {
        id: NodeId([id; 32]),
        name: name.into(),
        caps: caps.clone(),
        ..ConnInfo::default()
    };
    let (ta, tb) = MemoryTransport::pair();
    // Each peer is told the *remote's* identity.
    let a = Peer::new(
        conn(0xb, "node-b"),
        Arc::new(ta),
        &[echo_client, count_client],
        PeerConfig::default(),
    );
    let b = Peer::new(
        conn(0xa, "node-a"),
        Arc::new(tb),
        &[echo_server, count_server],
        PeerConfig::default(),
    );
    for (who, p) in [("A", &a), ("B", &b)] {
        let protos: Vec<String> = p
            .protocol_stats()
            .iter()
            .map(|s| {
                format!(
                    "{} (codes {}..{})",
                    s.cap,
                    s.offset,
                    s.offset + s.length - 1
                )
            })
            .collect();
        println!(
            "{who} talks to {} ({}): {}",
            p.name(),
            p.id().terminal_string(),
            protos.join(", ")
        );
    }

    let b2 = b.clone();
    let tb = thread::spawn(move || b2.run());
    let (a_remote, a_err) = a.run();
    let (b_remote, b_err) = tb.join().expect("peer B's thread");

    for (who, p, remote, err) in [("A", &a, a_remote, a_err), ("B", &b, b_remote, b_err)] {
        println!(
            "{who}: ended by {} with \"{err}\"",
            if remote { "the remote" } else { "itself" }
        );
        for s in p.protocol_stats() {
            println!(
                "{who}:   {:8} in {} msgs / {} bytes, out {} msgs / {} bytes",
                s.cap.to_string(),
                s.msgs_in,
                s.bytes_in,
                s.msgs_out,
                s.bytes_out
            );
        }
    }
}
