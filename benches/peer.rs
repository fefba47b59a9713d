//! Peer-layer benchmarks: messages through one `Peer` over the in-memory transport, and the
//! raw cost of the two channel primitives the design is built from, measured in the same run.
//!
//! - `primitives/handoff_bounded0`: one message through a rendezvous channel to a waiting
//!   thread (what the reader does to hand a message to a protocol).
//! - `primitives/token_round_trip`: a writer takes a token from a `bounded(1)` channel and
//!   returns a result on another, which the supervisor answers with the next token (what the
//!   write token costs per protocol write).
//! - `peer/stream_out_64b`: a protocol writes 64-byte messages; the remote reads them.
//! - `peer/stream_in_64b`: the remote writes 64-byte messages; a protocol reads them.
//! - `peer/echo_round_trip_64b`: the remote sends a message, an echo protocol sends it back.
//! - `peer/four_protocols_writing_64b`: four protocols write at once; the remote reads all.

use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use crossbeam_channel::{bounded, Receiver, Sender};
use devp2p_peer::*;

const PAYLOAD: usize = 64;

fn payload() -> Vec<u8> {
    let mut p = vec![0xb8, (PAYLOAD - 2) as u8];
    p.resize(PAYLOAD, 0x5a);
    p
}

fn primitives(c: &mut Criterion) {
    let mut g = c.benchmark_group("primitives");
    g.throughput(Throughput::Elements(1));

    g.bench_function("handoff_bounded0", |b| {
        b.iter_custom(|iters| {
            let (tx, rx) = bounded::<u64>(0);
            let consumer = thread::spawn(move || while rx.recv().is_ok() {});
            let start = Instant::now();
            for i in 0..iters {
                tx.send(i).unwrap();
            }
            let elapsed = start.elapsed();
            drop(tx);
            consumer.join().unwrap();
            elapsed
        })
    });

    g.bench_function("token_round_trip", |b| {
        b.iter_custom(|iters| {
            let (start_tx, start_rx) = bounded::<()>(1);
            let (err_tx, err_rx) = bounded::<Result<(), ()>>(1);
            start_tx.send(()).unwrap(); // the first token
                                        // The supervisor: gives the token back after each successful write.
            let supervisor = thread::spawn(move || {
                while let Ok(Ok(())) = err_rx.recv() {
                    if start_tx.send(()).is_err() {
                        break;
                    }
                }
            });
            let t0 = Instant::now();
            for _ in 0..iters {
                start_rx.recv().unwrap();
                err_tx.send(Ok(())).unwrap();
            }
            let elapsed = t0.elapsed();
            let _ = err_tx.send(Err(()));
            drop(start_rx);
            supervisor.join().unwrap();
            elapsed
        })
    });
    g.finish();
}

fn bench_config() -> PeerConfig {
    PeerConfig {
        ping_interval: Duration::from_secs(3600),
        ..PeerConfig::default()
    }
}

/// A peer over the in-memory transport, running `protocols`; returns the peer, its run
/// thread and the remote end (absolute codes).
fn start_peer(
    protocols: Vec<Protocol>,
) -> (
    Peer,
    thread::JoinHandle<(bool, Error)>,
    Arc<MemoryTransport>,
) {
    let (local, remote) = MemoryTransport::pair();
    let conn = ConnInfo {
        caps: protocols.iter().map(Protocol::cap).collect(),
        ..ConnInfo::default()
    };
    let peer = Peer::new(conn, Arc::new(local), &protocols, bench_config());
    let p = peer.clone();
    let run = thread::spawn(move || p.run());
    (peer, run, Arc::new(remote))
}

fn stop_peer(peer: Peer, run: thread::JoinHandle<(bool, Error)>, remote: Arc<MemoryTransport>) {
    peer.disconnect(DiscReason::QUITTING);
    // Take the Disconnect the peer sends so that its close does not wait.
    let r = remote.clone();
    let drain = thread::spawn(move || while r.read_msg().is_ok() {});
    run.join().unwrap();
    remote.close();
    drain.join().unwrap();
}

/// A protocol that writes the number of messages it is told to, then reports back.
fn writer_protocol(name: &str, cmds: Receiver<u64>, done: Sender<()>) -> Protocol {
    Protocol::new(name, 1, 1, move |_peer, rw| {
        let data = payload();
        while let Ok(n) = cmds.recv() {
            for _ in 0..n {
                rw.write_msg(Msg::new(0, data.clone()))?;
            }
            let _ = done.send(());
        }
        Ok(())
    })
}

fn peer(c: &mut Criterion) {
    let mut g = c.benchmark_group("peer");
    g.throughput(Throughput::Elements(1));

    // One protocol writing, the remote reading.
    {
        let (cmd_tx, cmd_rx) = bounded(1);
        let (done_tx, done_rx) = bounded(1);
        let (peer, run, remote) = start_peer(vec![writer_protocol("out", cmd_rx, done_tx)]);
        g.bench_function("stream_out_64b", |b| {
            b.iter_custom(|iters| {
                let t0 = Instant::now();
                cmd_tx.send(iters).unwrap();
                for _ in 0..iters {
                    remote.read_msg().unwrap().discard().unwrap();
                }
                done_rx.recv().unwrap();
                t0.elapsed()
            })
        });
        drop(cmd_tx);
        stop_peer(peer, run, remote);
    }

    // The remote writing, one protocol reading.
    {
        let (count_tx, count_rx) = bounded::<u64>(1);
        let (done_tx, done_rx) = bounded::<()>(1);
        let reader = Protocol::new("in", 1, 1, move |_peer, rw| {
            while let Ok(n) = count_rx.recv() {
                for _ in 0..n {
                    rw.read_msg()?.discard()?;
                }
                let _ = done_tx.send(());
            }
            Ok(())
        });
        let (peer, run, remote) = start_peer(vec![reader]);
        let data = payload();
        g.bench_function("stream_in_64b", |b| {
            b.iter_custom(|iters| {
                let t0 = Instant::now();
                count_tx.send(iters).unwrap();
                for _ in 0..iters {
                    remote.write_msg(Msg::new(16, data.clone())).unwrap();
                }
                done_rx.recv().unwrap();
                t0.elapsed()
            })
        });
        drop(count_tx);
        stop_peer(peer, run, remote);
    }

    // Echo round trip.
    {
        let echo = Protocol::new("echo", 1, 1, |_peer, rw| loop {
            let msg = rw.read_msg()?;
            rw.write_msg(Msg::new(msg.code, msg.payload.into_vec()))?;
        });
        let (peer, run, remote) = start_peer(vec![echo]);
        let data = payload();
        g.bench_function("echo_round_trip_64b", |b| {
            b.iter(|| {
                remote.write_msg(Msg::new(16, data.clone())).unwrap();
                remote.read_msg().unwrap().discard().unwrap();
            })
        });
        stop_peer(peer, run, remote);
    }

    // Four protocols writing at once.
    {
        let mut cmd_txs = Vec::new();
        let (done_tx, done_rx) = bounded(4);
        let mut protocols = Vec::new();
        for name in ["w1", "w2", "w3", "w4"] {
            let (cmd_tx, cmd_rx) = bounded(1);
            cmd_txs.push(cmd_tx);
            protocols.push(writer_protocol(name, cmd_rx, done_tx.clone()));
        }
        let (peer, run, remote) = start_peer(protocols);
        g.bench_function("four_protocols_writing_64b", |b| {
            b.iter_custom(|iters| {
                let per = iters.div_ceil(4);
                let t0 = Instant::now();
                for tx in &cmd_txs {
                    tx.send(per).unwrap();
                }
                for _ in 0..per * 4 {
                    remote.read_msg().unwrap().discard().unwrap();
                }
                for _ in 0..4 {
                    done_rx.recv().unwrap();
                }
                // Report per message actually sent.
                t0.elapsed().mul_f64(iters as f64 / (per * 4) as f64)
            })
        });
        drop(cmd_txs);
        stop_peer(peer, run, remote);
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    targets = primitives, peer
}
criterion_main!(benches);
