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
//!
//! With the `rlpx` feature, the rows of the performance table, over RLPx on loopback against
//! a listening `Server` running an echo protocol (a dialer in this process pipelines the
//! messages, as go-ethereum's anchor dialer does):
//!
//! - `listener/echo_64b`: pipelined echo of 64-byte messages (messages per second);
//! - `listener/echo_1mib`: pipelined echo of 1 MiB random messages (bytes per second).
//!
//! Each also prints the listener's CPU time (user + system, from `/proc/self/task/*/stat`,
//! summed over the server's and peers' threads) per message, which survives a noisy machine
//! better than rates do. Then, outside criterion, `idle`: a listener in a child process (this
//! binary, re-executed) takes `DEVP2P_BENCH_PEERS` (default 1,000) idle peers; printed are the
//! time to connect them, the listener's resident memory and threads per peer, its CPU while
//! they idle, and its memory after they left.

use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use criterion::{criterion_group, Criterion, Throughput};
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

#[cfg(feature = "rlpx")]
criterion_group! {
    name = listener_benches;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(5));
    targets = listener::echo
}

fn main() {
    #[cfg(feature = "rlpx")]
    if std::env::var_os(listener::CHILD_ENV).is_some() {
        listener::child_listener();
        return;
    }
    benches();
    #[cfg(feature = "rlpx")]
    {
        listener_benches();
        listener::idle();
    }
    Criterion::default().configure_from_args().final_summary();
}

#[cfg(feature = "rlpx")]
mod listener {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::thread;
    use std::time::{Duration, Instant};

    use criterion::{Criterion, Throughput};
    use devp2p_peer::rlpx::{Enode, RlpxTransport, SecretKey};
    use devp2p_peer::*;

    /// Set in the environment of the child that plays the listener of `idle`.
    pub const CHILD_ENV: &str = "DEVP2P_BENCH_LISTENER_CHILD";

    fn echo_protocol() -> Protocol {
        Protocol::new("tst", 1, 8, |_peer, rw| loop {
            let msg = rw.read_msg()?;
            rw.write_msg(Msg::new(msg.code, msg.payload.into_vec()))?;
        })
    }

    fn listener(max_peers: usize) -> Server {
        let mut config = ServerConfig::new(SecretKey::random());
        config.listen_addr = Some("127.0.0.1:0".parse().unwrap());
        config.protocols = vec![echo_protocol()];
        config.no_dial = true;
        config.max_peers = max_peers;
        let server = Server::new(config);
        server.start().expect("start listener");
        server
    }

    fn dial(enode: &Enode) -> RlpxTransport {
        let key = SecretKey::random();
        let t = RlpxTransport::dial_addr(
            enode.tcp_addr(),
            &key,
            &enode.pubkey,
            Duration::from_secs(20),
        )
        .expect("dial");
        let hello = Hello::new(
            "bench",
            vec![Cap::new("tst", 1)],
            key.public_key().to_bytes(),
        );
        t.protocol_handshake(&hello).expect("hello");
        t
    }

    /// CPU seconds (user + system) of this process's threads whose names start with one
    /// of `prefixes` (the listener's threads: `server-`, `peer-`, `proto-`).
    fn threads_cpu(prefixes: &[&str]) -> f64 {
        let mut ticks = 0u64;
        for task in std::fs::read_dir("/proc/self/task")
            .into_iter()
            .flatten()
            .flatten()
        {
            let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else {
                continue;
            };
            let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
                continue;
            };
            let name = &stat[open + 1..close];
            if !prefixes.iter().any(|p| name.starts_with(p)) {
                continue;
            }
            let fields: Vec<&str> = stat[close + 2..].split_whitespace().collect();
            let field = |i: usize| {
                fields
                    .get(i)
                    .and_then(|v| v.parse::<u64>().ok())
                    .unwrap_or(0)
            };
            ticks += field(11) + field(12);
        }
        ticks as f64 / 100.0
    }

    /// CPU seconds of a whole process, from `/proc/<pid>/stat`.
    fn process_cpu(pid: &str) -> f64 {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let Some(close) = stat.rfind(')') else {
            return 0.0;
        };
        let fields: Vec<&str> = stat[close + 2..].split_whitespace().collect();
        let field = |i: usize| {
            fields
                .get(i)
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
        };
        (field(11) + field(12)) as f64 / 100.0
    }

    fn status_field(pid: &str, name: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }

    /// A random pool; message `i` is `pool[off(i)..off(i) + size]`, as in the anchor dialer.
    fn pool(size: usize) -> Vec<u8> {
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        (0..size + 4099)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8
            })
            .collect()
    }

    fn off(i: u64) -> usize {
        (i.wrapping_mul(7919) % 4099) as usize
    }

    /// Pipelines `n` echoes of `size` bytes through `t`; returns the listener CPU used.
    fn pipelined(t: &Arc<RlpxTransport>, pool: &Arc<Vec<u8>>, size: usize, n: u64) -> f64 {
        let cpu0 = threads_cpu(&["server-", "peer-", "proto-"]);
        let writer = {
            let (t, pool) = (t.clone(), pool.clone());
            thread::spawn(move || {
                for i in 0..n {
                    let data = pool[off(i)..off(i) + size].to_vec();
                    t.write_msg(Msg::new(16 + i % 8, data)).expect("write");
                }
            })
        };
        let mut got = 0;
        while got < n {
            let mut msg = t.read_msg().expect("read echo");
            if msg.code == PING_MSG {
                t.write_msg(Msg::new(PONG_MSG, vec![0xc0])).expect("pong");
                continue;
            }
            if msg.code >= 16 {
                assert_eq!(msg.payload.consume(), &pool[off(got)..off(got) + size]);
                got += 1;
            }
        }
        writer.join().unwrap();
        threads_cpu(&["server-", "peer-", "proto-"]) - cpu0
    }

    pub fn echo(c: &mut Criterion) {
        let server = listener(10);
        let enode = server.self_enode();
        let mut g = c.benchmark_group("listener");
        for (name, size) in [("echo_64b", 64usize), ("echo_1mib", 1 << 20)] {
            let t = Arc::new(dial(&enode));
            let pool = Arc::new(pool(size));
            let (mut cpu, mut msgs) = (0.0, 0u64);
            if size < 1024 {
                g.throughput(Throughput::Elements(1));
            } else {
                g.throughput(Throughput::Bytes(size as u64));
            }
            g.bench_function(name, |b| {
                b.iter_custom(|iters| {
                    let t0 = Instant::now();
                    cpu += pipelined(&t, &pool, size, iters);
                    msgs += iters;
                    t0.elapsed()
                })
            });
            println!(
                "listener/{name}: listener CPU {:.1} µs per echo ({msgs} echoes)",
                cpu / msgs.max(1) as f64 * 1e6
            );
            t.shutdown(&Error::Disconnected(DiscReason::QUITTING));
        }
        g.finish();
        server.stop();
    }

    /// The child: a listener that prints its enode URL and runs until its stdin closes.
    pub fn child_listener() {
        let server = listener(100_000);
        println!("{}", server.self_enode());
        let mut line = String::new();
        let _ = std::io::stdin().read_line(&mut line);
        server.stop();
    }

    /// Idle peers: each connection is a full `Peer` on the dialing side too (as go-ethereum's
    /// swarm is), so both sides send their Pings every 15 s and answer the other's; the idle
    /// CPU is measured over 30 s, two Ping rounds.
    pub fn idle() {
        let peers: usize = std::env::var("DEVP2P_BENCH_PEERS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(1000);
        let mut child = Command::new(std::env::current_exe().unwrap())
            .env(CHILD_ENV, "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the listener child");
        let pid = child.id().to_string();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        let enode: Enode = line.trim().parse().expect("enode URL");
        thread::sleep(Duration::from_millis(500));
        let rss0 = status_field(&pid, "VmRSS:");
        let t0 = Instant::now();
        let next = AtomicUsize::new(0);
        let conns = parking_lot::Mutex::new(Vec::with_capacity(peers));
        thread::scope(|s| {
            for _ in 0..32.min(peers) {
                s.spawn(|| {
                    while next.fetch_add(1, Ordering::Relaxed) < peers {
                        let t = dial(&enode);
                        conns.lock().push(t);
                    }
                });
            }
        });
        let connect = t0.elapsed();
        // The dialing side's peers: an echo protocol each, default Ping interval.
        let running: Vec<(Peer, thread::JoinHandle<(bool, Error)>)> = conns
            .lock()
            .drain(..)
            .enumerate()
            .map(|(i, t)| {
                let mut id = [0u8; 32];
                id[..8].copy_from_slice(&(i as u64).to_be_bytes());
                let conn = ConnInfo {
                    id: NodeId(id),
                    name: "listener".into(),
                    caps: vec![Cap::new("tst", 1)],
                    ..ConnInfo::default()
                };
                let config = PeerConfig {
                    stack_size: Some(256 << 10),
                    ..PeerConfig::default()
                };
                let peer = Peer::new(conn, Arc::new(t), &[echo_protocol()], config);
                let run = {
                    let peer = peer.clone();
                    thread::Builder::new()
                        .stack_size(256 << 10)
                        .spawn(move || peer.run())
                        .expect("spawn a dialing peer")
                };
                (peer, run)
            })
            .collect();
        // Wait until the listener runs them all (its thread count settles).
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut threads = status_field(&pid, "Threads:");
        while Instant::now() < deadline {
            thread::sleep(Duration::from_millis(500));
            let now = status_field(&pid, "Threads:");
            if now == threads {
                break;
            }
            threads = now;
        }
        let rss1 = status_field(&pid, "VmRSS:");
        // Idle CPU over 30 s: two rounds of Pings each way.
        let window = Duration::from_secs(30);
        let cpu0 = process_cpu(&pid);
        thread::sleep(window);
        let idle_cpu = process_cpu(&pid) - cpu0;
        for (peer, _) in &running {
            peer.disconnect(DiscReason::QUITTING);
        }
        let mut ended_cleanly = 0;
        for (_, run) in running {
            if let Ok((_, err)) = run.join() {
                ended_cleanly += usize::from(err.disc_reason() == Some(DiscReason::QUITTING));
            }
        }
        thread::sleep(Duration::from_secs(3));
        let rss2 = status_field(&pid, "VmRSS:");
        let threads_after = status_field(&pid, "Threads:");
        drop(child.stdin.take());
        let _ = child.wait();
        println!(
            "idle/{peers}_peers: connected in {:.2} s; listener RSS {rss0} -> {rss1} KiB = {:.1} KiB per peer; \
             {} threads ({:.2} per peer); idle CPU {:.2} % of a core over {} s; {ended_cleanly} ended with our Disconnect; \
             after they left: RSS {rss2} KiB ({:+.1} MB from before they came), {threads_after} threads",
            connect.as_secs_f64(),
            (rss1 as f64 - rss0 as f64) / peers as f64,
            threads,
            threads as f64 / peers as f64,
            idle_cpu / window.as_secs_f64() * 100.0,
            window.as_secs(),
            (rss2 as f64 - rss0 as f64) / 1024.0,
        );
    }
}
