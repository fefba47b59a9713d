//! The threads of a peer: an idle peer whose protocols wait in `read_msg` runs only its
//! supervisor and its protocol threads; Pings are timed by the supervisor and written
//! without blocking it (a short-lived `peer-ctl` writes what cannot go out at once); the
//! standby reader (`peer-read`) leaves when unneeded and comes back when reading needs it.
//!
//! Threads are counted by name over the whole process, so every test here takes `serial()`.

mod common;
#[path = "common/live_threads.rs"]
mod live_threads;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use common::*;
use crossbeam_channel::{bounded, select, unbounded, Receiver, Sender};
use devp2p_peer::*;
use parking_lot::Mutex;

/// Tests here count the process's threads by name: one at a time.
fn serial() -> parking_lot::MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock()
}

/// How many threads of this process have a name starting with `prefix`, leaving out
/// threads that are exiting: a thread just joined may still be listed for a moment (see
/// `live_threads`).
fn threads_named(prefix: &str) -> usize {
    live_threads::live_threads(|comm| comm.starts_with(prefix))
}

/// Polls `cond` until it holds, failing the test after `limit`.
fn wait_until(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(10));
    }
}

/// True when the peers run exactly their supervisors (`runs` threads named `test-run`) and
/// `protocols` protocol threads: no standby reader, no control writer. (A new thread has
/// its creator's name until it sets its own, so the supervisors' count also shows that
/// no thread is starting.)
fn only_supervisors_and_protocols(runs: usize, protocols: usize) -> bool {
    threads_named("test-run") == runs
        && threads_named("proto-") == protocols
        && threads_named("peer-read") == 0
        && threads_named("peer-ctl") == 0
}

/// A protocol that reads and drops messages until an error.
fn idle_protocol(name: &str) -> Protocol {
    Protocol::new(name, 1, 2, |_peer, rw| loop {
        rw.read_msg()?.discard()?;
    })
}

fn no_pings() -> PeerConfig {
    PeerConfig {
        ping_interval: Duration::MAX,
        ..PeerConfig::default()
    }
}

/// The remote ends the connection with a Disconnect; the peer (led by its protocol or its
/// standby, whichever reads) ends with that reason.
fn end_with_remote_disconnect(tp: &TestPeer) {
    let remote = tp.remote.clone();
    within(secs(10), move || {
        send_items(&*remote, DISC_MSG, &[&DiscReason::TOO_MANY_PEERS.0]).unwrap()
    });
    let (remote_requested, err) = tp.result(secs(10));
    assert!(remote_requested, "{err}");
    assert_eq!(err.disc_reason(), Some(DiscReason::TOO_MANY_PEERS));
}

#[test]
fn idle_peer_over_memory_runs_its_supervisor_and_protocol_threads_only() {
    let _g = serial();
    for protocols in [vec!["aaa"], vec!["aaa", "bbb"]] {
        let n = protocols.len();
        let tp = test_peer_with(
            protocols.iter().map(|name| idle_protocol(name)).collect(),
            no_pings(),
        );
        // The standby leaves after a second unneeded: a protocol holds the read role. On a
        // loaded machine a protocol can reach `read_msg` only after the supervisor's start
        // check, which then starts a standby that blocks in the read of this silent
        // connection; a message now and then hands the role on to the waiting protocol.
        // Held for 2 s: past the start check (50 ms) and a standby's linger (1 s).
        let mut last_poke = Instant::now();
        let mut since: Option<Instant> = None;
        wait_until(
            "only the supervisor and the protocols, for 2 s",
            secs(60),
            || {
                if only_supervisors_and_protocols(1, n) {
                    let since = *since.get_or_insert_with(Instant::now);
                    return since.elapsed() > Duration::from_secs(2);
                }
                since = None;
                if last_poke.elapsed() > Duration::from_secs(3) {
                    last_poke = Instant::now();
                    let remote = tp.remote.clone();
                    within(secs(10), move || {
                        send_items(&*remote, BASE_PROTOCOL_LENGTH, &[&1u8]).unwrap()
                    });
                }
                false
            },
        );
        end_with_remote_disconnect(&tp);
        wait_until("the peer's threads to end", secs(10), || {
            threads_named("proto-") == 0 && threads_named("test-run") == 0
        });
    }
}

#[cfg(feature = "rlpx")]
#[test]
fn idle_peers_over_rlpx_run_their_supervisor_and_protocol_threads_only() {
    use devp2p_peer::rlpx::{RlpxTransport, SecretKey};

    let _g = serial();
    let (ta, ka, tb, kb) = rlpx_transport_pair();
    let start = |t: RlpxTransport, key: SecretKey| {
        thread::spawn(move || {
            let proto = idle_protocol("aaa");
            let ours = Hello::new("node", vec![proto.cap()], key.public_key().to_bytes());
            let theirs = t.protocol_handshake(&ours).unwrap();
            t.into_peer(
                &theirs,
                &[proto],
                ConnFlags::default(),
                PeerConfig::default(),
            )
            .unwrap()
        })
    };
    let (ha, hb) = (start(ta, ka), start(tb, kb));
    let pa = within(secs(10), move || ha.join().unwrap());
    let pb = within(secs(10), move || hb.join().unwrap());
    let run = |p: &Peer| {
        let p = p.clone();
        thread::Builder::new()
            .name("test-run".into())
            .spawn(move || p.run())
            .unwrap()
    };
    let (ra, rb) = (run(&pa), run(&pb));
    wait_until("only the supervisors and the protocols", secs(30), || {
        only_supervisors_and_protocols(2, 2)
    });

    pa.disconnect(DiscReason::USELESS_PEER);
    let (_, ea) = within(secs(10), move || ra.join().unwrap());
    let (remote_requested, eb) = within(secs(10), move || rb.join().unwrap());
    assert_eq!(ea.disc_reason(), Some(DiscReason::USELESS_PEER), "{ea}");
    // B's protocol thread held the read role and read A's Disconnect.
    assert!(remote_requested, "{eb}");
    assert_eq!(eb.disc_reason(), Some(DiscReason::USELESS_PEER));
    assert_eq!(threads_named("proto-"), 0);
}

#[test]
fn pings_go_out_at_the_interval_and_pongs_answer_pings() {
    let _g = serial();
    let config = PeerConfig {
        ping_interval: Duration::from_millis(20),
        ..PeerConfig::default()
    };
    let tp = test_peer_with(vec![idle_protocol("aaa")], config);
    let remote = tp.remote.clone();
    within(secs(20), move || {
        // Pings keep coming while the remote also pings and reads its Pongs.
        let (mut pings, mut pongs) = (0, 0);
        send_items(&*remote, PING_MSG, &[]).unwrap();
        while pings < 5 || pongs < 3 {
            let msg = remote.read_msg().unwrap();
            match msg.code {
                PING_MSG => pings += 1,
                PONG_MSG => {
                    pongs += 1;
                    if pongs < 3 {
                        send_items(&*remote, PING_MSG, &[]).unwrap();
                    }
                }
                code => panic!("unexpected message {code}"),
            }
        }
    });
    // No control write is pending: `peer-ctl` leaves once it has written what was queued.
    wait_until("peer-ctl to leave", secs(10), || {
        threads_named("peer-ctl") == 0
    });
    tp.close();
    tp.result(secs(10));
}

#[test]
fn a_stuck_control_write_does_not_delay_disconnect() {
    let _g = serial();
    let (local, remote) = MemoryTransport::pair();
    // Every write waits two minutes (or until the transport's shutdown).
    let local = Arc::new(FaultyTransport::new(local).write_delay(secs(120)));
    let config = PeerConfig {
        ping_interval: Duration::from_millis(10),
        ..PeerConfig::default()
    };
    let proto = idle_protocol("aaa");
    let conn = ConnInfo {
        caps: vec![proto.cap()],
        ..ConnInfo::default()
    };
    let peer = Peer::new(conn, local.clone(), &[proto], config);
    let p = peer.clone();
    let run = thread::spawn(move || p.run());
    // A Ping is stuck in its write, and the remote's Pings queue their Pongs behind it.
    wait_until("a stuck control write", secs(10), || local.writes() >= 1);
    let remote = Arc::new(remote);
    let r = remote.clone();
    within(secs(10), move || {
        for _ in 0..3 {
            send_items(&*r, PING_MSG, &[]).unwrap();
        }
    });
    assert_eq!(local.writes(), 1, "one control write at a time");
    // The supervisor takes the request and broadcasts "closed" at once.
    let p = peer.clone();
    within(secs(10), move || p.disconnect(DiscReason::QUITTING));
    let closed = peer.closed();
    assert!(matches!(
        closed.recv_timeout(secs(10)),
        Err(crossbeam_channel::RecvTimeoutError::Disconnected)
    ));
    // The shutdown cuts the stuck write short; the remote gets the Disconnect.
    let r = remote.clone();
    let reader = thread::spawn(move || {
        let mut codes = Vec::new();
        while let Ok(msg) = r.read_msg() {
            codes.push(msg.code);
        }
        codes
    });
    let (remote_requested, err) = within(secs(20), move || run.join().unwrap());
    assert!(!remote_requested);
    assert_eq!(err.disc_reason(), Some(DiscReason::QUITTING));
    let codes = within(secs(10), move || reader.join().unwrap());
    assert!(codes.contains(&DISC_MSG), "{codes:?}");
}

#[test]
fn a_standby_that_reads_hands_the_role_to_a_waiting_protocol_after_a_ping() {
    let _g = serial();
    let (go_tx, go_rx) = bounded::<()>(0);
    // The protocol starts reading only when told: until then the standby reads.
    let late = Protocol::new("aaa", 1, 2, move |_peer, rw| {
        let _ = go_rx.recv();
        loop {
            rw.read_msg()?.discard()?;
        }
    });
    let tp = test_peer_with(vec![late], no_pings());
    let ping = |tp: &TestPeer| {
        let remote = tp.remote.clone();
        within(secs(10), move || {
            send_items(&*remote, PING_MSG, &[]).unwrap();
            expect_msg(&*remote, PONG_MSG, None).unwrap();
        })
    };
    // Answered by the standby, which then reads on (nobody else would).
    ping(&tp);
    go_tx.send(()).unwrap();
    // The protocol is about to wait in `read_msg` behind the standby's read. After a frame
    // the standby handles itself with the protocol waiting, it hands the role on; then it
    // leaves, unneeded (the Pings the protocol reads as leader do not wake it).
    wait_until("only the supervisor and the protocol", secs(30), || {
        ping(&tp);
        only_supervisors_and_protocols(1, 1)
    });
    end_with_remote_disconnect(&tp);
}

/// A protocol that takes one message (reporting its size) and then never reads again.
fn reads_once(took: Sender<u32>, stop: Receiver<()>) -> Protocol {
    Protocol::new("aaa", 1, 2, move |_peer, rw| {
        let mut msg = rw.read_msg()?;
        let size = msg.size;
        msg.discard()?;
        let _ = took.send(size);
        let _ = stop.recv();
        Ok(())
    })
}

fn standby_comes_back(payload: usize) {
    let _g = serial();
    let (took_tx, took_rx) = bounded(1);
    let (stop_tx, stop_rx) = bounded::<()>(0);
    let tp = test_peer_with(vec![reads_once(took_tx, stop_rx)], no_pings());
    wait_until("the standby to leave", secs(30), || {
        only_supervisors_and_protocols(1, 1)
    });
    // The protocol takes a message and stops reading: nobody holds the read role.
    let remote = tp.remote.clone();
    within(secs(10), move || {
        send_items(&*remote, 16, &[&vec![7u8; payload]]).unwrap()
    });
    assert!(took_rx.recv_timeout(secs(10)).unwrap() as usize >= payload);
    // A standby is started again: the remote's Pings are answered and its Disconnect read.
    let remote = tp.remote.clone();
    within(secs(10), move || {
        for _ in 0..2 {
            send_items(&*remote, PING_MSG, &[]).unwrap();
            expect_msg(&*remote, PONG_MSG, None).unwrap();
        }
    });
    // One standby reads (a standby that has just left may take a moment to be gone).
    wait_until("one standby", secs(10), || threads_named("peer-read") == 1);
    let remote = tp.remote.clone();
    within(secs(10), move || {
        send_items(&*remote, DISC_MSG, &[&DiscReason::TOO_MANY_PEERS.0]).unwrap()
    });
    // The peer ends once the protocol returns (it is told by the shutdown broadcast).
    let closed = tp.peer.closed();
    assert!(closed.recv_timeout(secs(10)).is_err());
    drop(stop_tx);
    let (remote_requested, err) = tp.result(secs(10));
    assert!(remote_requested, "{err}");
    assert_eq!(err.disc_reason(), Some(DiscReason::TOO_MANY_PEERS));
}

#[test]
fn the_standby_comes_back_after_a_small_message() {
    // A small message frees the role lazily: the supervisor checks after the grace period.
    standby_comes_back(8);
}

#[test]
fn the_standby_comes_back_after_a_large_message() {
    // A large message asks for a standby at once.
    standby_comes_back(16 << 10);
}

/// A transport whose `try_write_msg` always writes the whole message (`Done`) or always
/// leaves a part for `flush` (`Partial`); counts blocking writes and flushes.
struct TryTransport {
    inbox: Receiver<Msg>,
    outbox: Sender<Msg>,
    partial: bool,
    left: Mutex<Option<Msg>>,
    writes: AtomicUsize,
    flushes: AtomicUsize,
    /// The names of the threads that called `try_write_msg`, with the message code.
    tried_by: Mutex<Vec<(u64, String)>>,
    closing: Mutex<Option<Sender<()>>>,
    closed: Receiver<()>,
}

impl TryTransport {
    fn new(partial: bool) -> (Arc<TryTransport>, Sender<Msg>, Receiver<Msg>) {
        let (in_tx, inbox) = unbounded();
        let (outbox, out_rx) = unbounded();
        let (closing, closed) = bounded(0);
        let t = TryTransport {
            inbox,
            outbox,
            partial,
            left: Mutex::new(None),
            writes: AtomicUsize::new(0),
            flushes: AtomicUsize::new(0),
            tried_by: Mutex::new(Vec::new()),
            closing: Mutex::new(Some(closing)),
            closed,
        };
        (Arc::new(t), in_tx, out_rx)
    }
}

impl MsgReader for TryTransport {
    fn read_msg(&self) -> Result<Msg, Error> {
        select! {
            recv(self.inbox) -> msg => msg.map_err(|_| Error::Eof),
            recv(self.closed) -> _ => Err(Error::Eof),
        }
    }
}

impl MsgWriter for TryTransport {
    fn write_msg(&self, msg: Msg) -> Result<(), Error> {
        self.writes.fetch_add(1, Ordering::SeqCst);
        self.outbox.send(msg).map_err(|_| Error::Eof)
    }
}

impl Transport for TryTransport {
    fn shutdown(&self, _err: &Error) {
        self.closing.lock().take();
    }

    fn try_write_msg(&self, msg: Msg) -> Result<TryWrite, Error> {
        let name = thread::current().name().unwrap_or_default().to_string();
        self.tried_by.lock().push((msg.code, name));
        if self.partial {
            *self.left.lock() = Some(msg);
            Ok(TryWrite::Partial)
        } else {
            self.outbox.send(msg).map_err(|_| Error::Eof)?;
            Ok(TryWrite::Done)
        }
    }

    fn flush(&self) -> Result<(), Error> {
        self.flushes.fetch_add(1, Ordering::SeqCst);
        match self.left.lock().take() {
            Some(msg) => self.outbox.send(msg).map_err(|_| Error::Eof),
            None => Ok(()),
        }
    }
}

fn control_through_try_write(partial: bool) {
    let _g = serial();
    let (t, inbox, outbox) = TryTransport::new(partial);
    let config = PeerConfig {
        ping_interval: Duration::from_millis(20),
        ..PeerConfig::default()
    };
    let peer = Peer::new(ConnInfo::default(), t.clone(), &[], config);
    let p = peer.clone();
    let run = thread::spawn(move || p.run());
    let (mut pings, mut pongs) = (0, 0);
    inbox.send(Msg::new(PING_MSG, vec![0xc0])).unwrap();
    while pings < 3 || pongs < 1 {
        match outbox
            .recv_timeout(secs(10))
            .expect("a control message")
            .code
        {
            PING_MSG => pings += 1,
            PONG_MSG => pongs += 1,
            code => panic!("unexpected message {code}"),
        }
    }
    peer.disconnect(DiscReason::REQUESTED);
    let (_, err) = within(secs(10), move || run.join().unwrap());
    assert_eq!(err.disc_reason(), Some(DiscReason::REQUESTED));
    let (writes, flushes) = (
        t.writes.load(Ordering::SeqCst),
        t.flushes.load(Ordering::SeqCst),
    );
    if partial {
        // Each partial write was flushed by a `peer-ctl`, which also wrote (blocking) what
        // was queued meanwhile.
        assert!(flushes >= 1, "{flushes} flushes");
    } else {
        // Every control message went out at once: no `peer-ctl`, no blocking write.
        assert_eq!((writes, flushes), (0, 0));
    }
}

#[test]
fn control_messages_written_at_once_need_no_control_writer() {
    control_through_try_write(false);
}

#[test]
fn partial_control_writes_are_flushed() {
    control_through_try_write(true);
}

/// A Ping is answered by the thread that read it (a protocol leading the read role, or the
/// standby reader), not by the supervisor: an idle peer's Ping round wakes only its reader.
/// With `partial`, the rest of the Pong is sent by a `peer-ctl` the supervisor starts.
fn pong_written_by_reader(partial: bool, protocols: &[Protocol]) {
    let _g = serial();
    let (t, inbox, outbox) = TryTransport::new(partial);
    let caps = protocols.iter().map(Protocol::cap).collect();
    let conn = ConnInfo {
        caps,
        ..ConnInfo::default()
    };
    let peer = Peer::new(conn, t.clone(), protocols, no_pings());
    let p = peer.clone();
    let run = thread::Builder::new()
        .name("test-run".into())
        .spawn(move || p.run())
        .unwrap();
    for _ in 0..3 {
        inbox.send(Msg::new(PING_MSG, vec![0xc0])).unwrap();
        let msg = outbox.recv_timeout(secs(10)).expect("a Pong");
        assert_eq!(msg.code, PONG_MSG);
    }
    peer.disconnect(DiscReason::REQUESTED);
    let (_, err) = within(secs(10), move || run.join().unwrap());
    assert_eq!(err.disc_reason(), Some(DiscReason::REQUESTED));
    let tried = t.tried_by.lock().clone();
    if partial {
        // A Ping read while the `peer-ctl` is still on its way out joins its queue.
        assert!((1..=3).contains(&tried.len()), "{tried:?}");
    } else {
        assert_eq!(tried.len(), 3, "{tried:?}");
    }
    for (code, name) in &tried {
        assert_eq!(*code, PONG_MSG);
        assert!(
            name.starts_with("proto-") || name == "peer-read",
            "Pong tried by {name}"
        );
    }
    let flushes = t.flushes.load(Ordering::SeqCst);
    if partial {
        assert!(flushes >= 1, "{flushes} flushes");
    } else {
        assert_eq!((t.writes.load(Ordering::SeqCst), flushes), (0, 0));
    }
}

#[test]
fn a_protocol_reading_a_ping_writes_the_pong_itself() {
    pong_written_by_reader(false, &[idle_protocol("idle")]);
}

#[test]
fn the_standby_reading_a_ping_writes_the_pong_itself() {
    pong_written_by_reader(false, &[]);
}

#[test]
fn the_rest_of_a_partial_pong_the_reader_wrote_is_flushed() {
    pong_written_by_reader(true, &[idle_protocol("idle")]);
}
