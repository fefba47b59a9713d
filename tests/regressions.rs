//! Reproductions of bugs found, one test each.

mod common;

use std::thread;
use std::time::Duration;

use crossbeam_channel::Receiver;

use common::*;
use devp2p_peer::*;

// Found while benchmarking: a write on a pipe whose payload is empty waited for a
// "consumed" signal that could never come. A zero-size message is never "read to the end": its write returns on hand-over.
#[test]
fn msg_pipe_zero_size_write_returns() {
    let (rw1, rw2) = msg_pipe();
    let t = thread::spawn(move || rw1.write_msg(Msg::new(3, Vec::new())));
    let msg = within(secs(5), move || rw2.read_msg().unwrap());
    assert_eq!((msg.code, msg.size), (3, 0));
    within(secs(5), move || t.join().unwrap()).unwrap();
}

// Found in review: `ping_interval: Duration::MAX` (meant as "no pings") overflowed the clock
// and killed the pinger; the reader then blocked on the 17th Ping and the peer never ended.
#[test]
fn huge_ping_interval_means_no_pings() {
    let config = PeerConfig {
        ping_interval: std::time::Duration::MAX,
        ..PeerConfig::default()
    };
    let tp = test_peer_with(vec![], config);
    let remote = tp.remote.clone();
    within(secs(10), move || {
        for _ in 0..20 {
            send_items(&*remote, PING_MSG, &[]).unwrap();
            expect_msg(&*remote, PONG_MSG, None).unwrap();
        }
    });
    tp.close();
    tp.result(secs(5));
}

/// A transport whose reads panic.
struct PanickingTransport;

impl MsgReader for PanickingTransport {
    fn read_msg(&self) -> Result<Msg, Error> {
        panic!("transport bug")
    }
}

impl MsgWriter for PanickingTransport {
    fn write_msg(&self, _msg: Msg) -> Result<(), Error> {
        Ok(())
    }
}

impl Transport for PanickingTransport {
    fn shutdown(&self, _err: &Error) {}
}

// Found in review: a panic in the transport's read left the supervisor waiting forever.
#[test]
fn panicking_reader_ends_the_peer() {
    let peer = Peer::new(
        ConnInfo::default(),
        std::sync::Arc::new(PanickingTransport),
        &[discard_protocol()],
        PeerConfig::default(),
    );
    let (remote_requested, err) = within(secs(5), move || peer.run());
    assert!(!remote_requested);
    assert_eq!(err.to_string(), "peer reader panicked: transport bug");
}

// Found in review: on a buffered in-memory transport, messages written just before the
// remote closed (its Disconnect among them) were lost, unlike on a socket.
#[test]
fn buffered_transport_delivers_what_was_written_before_close() {
    let (local, remote) = MemoryTransport::buffered_pair(8);
    let (go_tx, go_rx) = crossbeam_channel::bounded::<()>(0);
    let slow = Protocol::new("slow", 1, 1, move |_peer, rw| {
        go_rx.recv().ok();
        loop {
            rw.read_msg()?.discard()?;
        }
    });
    let conn = ConnInfo {
        caps: vec![slow.cap()],
        ..ConnInfo::default()
    };
    let peer = Peer::new(
        conn,
        std::sync::Arc::new(local),
        &[slow],
        PeerConfig::default(),
    );
    let run = thread::spawn(move || peer.run());
    send_items(&remote, 16, &[]).unwrap();
    send_items(&remote, 16, &[]).unwrap();
    remote.shutdown(&DiscReason::TOO_MANY_PEERS.into());
    go_tx.send(()).unwrap();
    let (remote_requested, err) = within(secs(5), move || run.join().unwrap());
    assert!(remote_requested);
    assert_eq!(err.disc_reason(), Some(DiscReason::TOO_MANY_PEERS));
}

// Found in an interop run against ethereumjs's devp2p: it sends its Disconnect uncompressed
// (a bare `08`) even with snappy on, which we read as a snappy error and so lost the reason.
#[cfg(feature = "rlpx")]
#[test]
fn uncompressed_disconnect_is_accepted_with_snappy_on() {
    use devp2p_peer::rlpx::wire::{FrameEgress, FrameIngress, KeccakMac};
    let pair = || {
        let tx = FrameEgress::new(&[1; 32], &[2; 32], KeccakMac::new()).unwrap();
        let mut rx = FrameIngress::new(&[1; 32], &[2; 32], KeccakMac::new()).unwrap();
        rx.set_snappy(true);
        (tx, rx)
    };
    for payload in [&[0x08][..], &[0xc1, 0x08][..]] {
        let (mut tx, mut rx) = pair();
        tx.encode(DISC_MSG, payload).unwrap();
        let msg = rx.read_msg(&mut tx.frame()).unwrap();
        assert_eq!((msg.code, msg.data), (DISC_MSG, payload));
        assert_eq!(DiscReason::decode(msg.data), DiscReason::QUITTING);
    }
    // Compressed, it decodes as before.
    let (mut tx, mut rx) = pair();
    tx.set_snappy(true);
    tx.encode(DISC_MSG, &[0xc1, 0x08]).unwrap();
    assert_eq!(rx.read_msg(&mut tx.frame()).unwrap().data, &[0xc1, 0x08]);
    // Any other message must still decompress, and so must a long Disconnect.
    let (mut tx, mut rx) = pair();
    tx.encode(PING_MSG, &[0xc0]).unwrap();
    assert!(rx.read_msg(&mut tx.frame()).is_err());
    let (mut tx, mut rx) = pair();
    tx.encode(DISC_MSG, &[0xff; 101]).unwrap();
    assert!(rx.read_msg(&mut tx.frame()).is_err());
}

// Issue 7: a Disconnect whose list declares more bytes than arrived (`c5 08`, `c9 80`) was
// read as "invalid disconnect reason"; go-ethereum holds the declared size against its
// 100-byte limit only and reads the first element: "client quitting", "disconnect
// requested".
#[test]
fn disconnect_list_longer_than_its_bytes_keeps_its_reason() {
    for (payload, want) in [
        (vec![0xc5, 0x08], DiscReason::QUITTING),
        (vec![0xc9, 0x80], DiscReason::REQUESTED),
    ] {
        let tp = test_peer(vec![discard_protocol()]);
        tp.remote.write_msg(Msg::new(DISC_MSG, payload)).unwrap();
        let (remote_requested, err) = tp.result(secs(10));
        assert!(remote_requested);
        assert_eq!(err.disc_reason(), Some(want));
    }
}

// Issue 7: a capability version above u32::MAX made the whole Hello undecodable; it is a
// 64-bit integer in go-ethereum. The Hello now decodes (such a cap can match no protocol).
#[test]
fn cap_version_above_u32_does_not_fail_the_hello() {
    let mut s = rlp::RlpStream::new_list(5);
    s.append(&5u64).append(&"x");
    s.begin_list(2);
    s.begin_list(2).append(&"eth").append(&(1u64 << 32));
    s.begin_list(2).append(&"eth").append(&68u64);
    s.append(&0u64).append(&vec![1u8; 64]);
    let (a, b) = MemoryTransport::buffered_pair(1);
    a.write_msg(Msg::new(HANDSHAKE_MSG, s.out().to_vec()))
        .unwrap();
    let hello = read_protocol_handshake(&b).unwrap();
    assert_eq!(hello.caps, vec![Cap::new("eth", 68)]);
}

// Issue 7: a Hello whose capability name is an RLP list was accepted (the list's payload
// read as the name), so `[[0x65,0x74,0x68],68]` negotiated eth/68. go-ethereum rejects the
// Hello; so does this crate now, with go-ethereum's text.
#[test]
fn list_as_cap_name_fails_the_hello() {
    let mut s = rlp::RlpStream::new_list(5);
    s.append(&5u64).append(&"x");
    s.begin_list(1).begin_list(2);
    s.begin_list(3)
        .append(&0x65u8)
        .append(&0x74u8)
        .append(&0x68u8);
    s.append(&68u64);
    s.append(&0u64).append(&vec![1u8; 64]);
    let payload = s.out().to_vec();
    let (a, b) = MemoryTransport::buffered_pair(1);
    a.write_msg(Msg::new(HANDSHAKE_MSG, payload.clone()))
        .unwrap();
    let err = read_protocol_handshake(&b).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "invalid message: (code 0) (size {}) rlp: expected input string or byte for \
             string, decoding into (p2p.protoHandshake).Caps[0].Name",
            payload.len()
        )
    );
}

// Found checking the peer layer's decode paths: a payload whose header declares close to
// 2^64 bytes overflowed the `rlp` crate's size arithmetic, so `Msg::decode` and
// `Msg::decode_list` panicked on 9 hostile bytes (in release builds the sum wrapped
// instead), and a list holding such an element decoded as empty. The structure is now
// checked first, with go-ethereum's errors.
#[test]
fn huge_declared_sizes_fail_decoding_without_panic() {
    let huge = [0xff; 8];
    let with = |head: &[u8]| [head, &huge].concat();
    let text = |r: Result<(), Error>| r.unwrap_err().to_string();
    let top = "rlp: value size exceeds available input length";
    let elem = "rlp: element is larger than containing list";
    let msg = |b: Vec<u8>| Msg::new(16, b);
    assert!(text(msg(with(&[0xbf])).decode::<u64>().map(|_| ())).ends_with(top));
    assert!(text(msg(with(&[0xbf])).decode::<Vec<u8>>().map(|_| ())).ends_with(top));
    assert!(text(msg(with(&[0xff])).decode_list::<u64>().map(|_| ())).ends_with(top));
    let nested = with(&[0xc9, 0xbf]);
    assert!(text(msg(nested.clone()).decode_list::<Vec<u8>>().map(|_| ())).ends_with(elem));
    // A protocol's own type that reads list elements by index.
    struct First(#[allow(dead_code)] Vec<u8>);
    impl rlp::Decodable for First {
        fn decode(r: &rlp::Rlp<'_>) -> Result<First, rlp::DecoderError> {
            Ok(First(r.val_at(0)?))
        }
    }
    assert!(text(msg(nested).decode::<First>().map(|_| ())).ends_with(elem));
    // Well-formed payloads decode as before.
    let mut ok = msg(vec![0xc5, 0x83, b'a', b'b', b'c', 0x05, 0x06]);
    assert_eq!(
        ok.decode_list::<Vec<u8>>().unwrap(),
        vec![b"abc".to_vec(), vec![5]]
    );
}

/// A remote that floods Pings: every read returns one at once, until the peer shuts the
/// transport down. Writes are recorded by code and take a millisecond each (a slow link, so
/// that a Pong request is always pending); `fail_writes` makes each write fail.
struct PingFlood {
    closed: std::sync::atomic::AtomicBool,
    fail_writes: bool,
    written: crossbeam_channel::Sender<u64>,
}

impl MsgReader for PingFlood {
    fn read_msg(&self) -> Result<Msg, Error> {
        if self.closed.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(Error::Eof);
        }
        Ok(Msg::new(PING_MSG, vec![0xc0]))
    }
}

impl MsgWriter for PingFlood {
    fn write_msg(&self, msg: Msg) -> Result<(), Error> {
        let _ = self.written.try_send(msg.code);
        thread::sleep(Duration::from_millis(1));
        if self.fail_writes {
            return Err(Error::other("write failed"));
        }
        Ok(())
    }
}

impl Transport for PingFlood {
    fn shutdown(&self, _err: &Error) {
        self.closed.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

fn ping_flood_peer(fail_writes: bool, ping_interval: Duration) -> (Peer, Receiver<u64>) {
    let (written, written_rx) = crossbeam_channel::unbounded();
    let transport = PingFlood {
        closed: false.into(),
        fail_writes,
        written,
    };
    let config = PeerConfig {
        ping_interval,
        ..PeerConfig::default()
    };
    let peer = Peer::new(
        ConnInfo::default(),
        std::sync::Arc::new(transport),
        &[],
        config,
    );
    (peer, written_rx)
}

// Found in a hostile-peer run: a remote flooding Pings kept a Pong request always ready, and
// the pinger's periodic Ping (the `default` arm of its select) never ran.
#[test]
fn periodic_ping_is_sent_while_pong_requests_are_pending() {
    let (peer, written) = ping_flood_peer(false, Duration::from_millis(10));
    let p = peer.clone();
    let run = thread::spawn(move || p.run());
    let deadline = std::time::Instant::now() + secs(20);
    let mut pongs = 0u64;
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match written.recv_timeout(left) {
            Ok(PING_MSG) => break,
            Ok(PONG_MSG) => pongs += 1,
            Ok(code) => panic!("unexpected message code {code}"),
            Err(_) => panic!("no Ping within 20 s while flooded ({pongs} Pongs sent)"),
        }
    }
    peer.disconnect(DiscReason::REQUESTED);
    let (_, err) = within(secs(10), move || run.join().unwrap());
    assert_eq!(err.disc_reason(), Some(DiscReason::REQUESTED));
}

// Found in a hostile-peer run: a failed Pong write was ignored, so a remote that sent Pings
// and never read our Pongs was never cut.
#[test]
fn failed_pong_write_ends_the_peer() {
    let (peer, written) = ping_flood_peer(true, Duration::MAX);
    let (remote_requested, err) = within(secs(10), move || peer.run());
    assert!(!remote_requested);
    assert_eq!(err.to_string(), "write failed");
    assert_eq!(written.try_recv().ok(), Some(PONG_MSG));
}

// Found by the `hello` fuzz target: an RLP header declaring a length near `usize::MAX`
// (`bf ff ff ff ff ff ff ff ff`) overflowed the "header + length" sum while locating the first
// RLP item of a payload: a panic in debug builds, in the Hello read as in `Msg::decode`.
#[test]
fn rlp_length_near_usize_max_is_an_error() {
    let huge = vec![0xbf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01];
    let (a, b) = MemoryTransport::buffered_pair(1);
    a.write_msg(Msg::new(HANDSHAKE_MSG, huge.clone())).unwrap();
    let err = read_protocol_handshake(&b).unwrap_err();
    assert!(matches!(err, Error::InvalidMsg(_)), "{err:?}");

    let mut msg = Msg::new(16, huge.clone());
    assert!(matches!(msg.decode::<u64>(), Err(Error::InvalidMsg(_))));
    let mut huge_list = huge;
    huge_list[0] = 0xff;
    let mut msg = Msg::new(16, huge_list);
    assert!(matches!(
        msg.decode_list::<u64>(),
        Err(Error::InvalidMsg(_))
    ));
}

/// A transport on which a protocol write and the supervisor's Ping fail together: the
/// protocol's write waits until the Ping has started and then fails; the Ping (written with
/// `try_write_msg`) fails only once the protocol has seen its write fail, so that the
/// write error is already reported when the Ping's error comes.
struct FailTogether {
    ping_started: (
        crossbeam_channel::Sender<()>,
        crossbeam_channel::Receiver<()>,
    ),
    write_reported: crossbeam_channel::Receiver<()>,
    closing: parking_lot::Mutex<Option<crossbeam_channel::Sender<()>>>,
    closed: crossbeam_channel::Receiver<()>,
}

impl MsgReader for FailTogether {
    fn read_msg(&self) -> Result<Msg, Error> {
        let _ = self.closed.recv();
        Err(Error::Eof)
    }
}

impl MsgWriter for FailTogether {
    fn write_msg(&self, msg: Msg) -> Result<(), Error> {
        if msg.code == PING_MSG || msg.code == PONG_MSG {
            return Ok(());
        }
        self.ping_started
            .1
            .recv_timeout(secs(10))
            .expect("the Ping started");
        Err(Error::other("protocol write failed"))
    }
}

impl Transport for FailTogether {
    fn shutdown(&self, _err: &Error) {
        self.closing.lock().take();
    }

    fn try_write_msg(&self, msg: Msg) -> Result<TryWrite, Error> {
        if msg.code != PING_MSG {
            return Ok(TryWrite::WouldBlock(msg));
        }
        let _ = self.ping_started.0.try_send(());
        self.write_reported
            .recv_timeout(secs(10))
            .expect("the protocol saw its write fail");
        Err(Error::other("ping write failed"))
    }
}

// Found in review: the supervisor writes Pings itself, and ended the peer with its own
// failed Ping even when a protocol's write had failed first (its error already reported):
// the first ending event must win, as in go-ethereum's run loop, which takes the write
// error the moment it comes while its pinger is still writing.
#[test]
fn a_reported_write_error_wins_over_a_later_failed_ping() {
    let (closing, closed) = crossbeam_channel::bounded(0);
    let (reported_tx, write_reported) = crossbeam_channel::bounded(1);
    let t = FailTogether {
        ping_started: crossbeam_channel::bounded(1),
        write_reported,
        closing: parking_lot::Mutex::new(Some(closing)),
        closed,
    };
    let proto = Protocol::new("fail", 1, 1, move |peer, rw| {
        let err = rw.write_msg(Msg::new(0, vec![0xc0])).unwrap_err();
        assert_eq!(err.to_string(), "protocol write failed");
        reported_tx.send(()).unwrap();
        let _ = peer.closed().recv();
        Ok(())
    });
    let conn = ConnInfo {
        caps: vec![proto.cap()],
        ..ConnInfo::default()
    };
    let config = PeerConfig {
        ping_interval: Duration::from_millis(20),
        ..PeerConfig::default()
    };
    let peer = Peer::new(conn, std::sync::Arc::new(t), &[proto], config);
    let (remote_requested, err) = within(secs(20), move || peer.run());
    assert!(!remote_requested);
    assert_eq!(err.to_string(), "protocol write failed");
}

/// A peer over `transport` whose remote runs protocol `a`/1 too, running `proto` (that
/// protocol).
fn peer_running_a(transport: impl Transport + 'static, proto: Protocol) -> Peer {
    let conn = ConnInfo {
        caps: vec![Cap::new("a", 1)],
        ..ConnInfo::default()
    };
    Peer::new(
        conn,
        std::sync::Arc::new(transport),
        &[proto],
        PeerConfig::default(),
    )
}

// Found in review: a transport whose write panicked under a write from a thread other than
// the protocol's (a `ProtoRw` clone handed to a helper thread) lost the write token without
// telling the supervisor: later writes waited until shutdown and the peer never ended.
#[test]
fn a_transport_panic_in_a_write_from_another_thread_ends_the_peer() {
    struct PanickyWrites(MemoryTransport);
    impl MsgReader for PanickyWrites {
        fn read_msg(&self) -> Result<Msg, Error> {
            self.0.read_msg()
        }
    }
    impl MsgWriter for PanickyWrites {
        fn write_msg(&self, msg: Msg) -> Result<(), Error> {
            if msg.code >= BASE_PROTOCOL_LENGTH {
                panic!("broken transport");
            }
            self.0.write_msg(msg)
        }
    }
    impl Transport for PanickyWrites {
        fn shutdown(&self, err: &Error) {
            self.0.shutdown(err)
        }
    }

    let proto = Protocol::new("a", 1, 1, |_peer, rw| {
        let helper_rw = rw.clone();
        // The helper's write panics inside the transport; the helper itself survives.
        let helper = thread::spawn(move || helper_rw.write_msg(Msg::new(0, vec![0xc0])));
        // Before the fix the panic reached the helper, and the peer then hung (the token was
        // gone and nobody reported the failure); now the write returns it as an error.
        let _ = helper.join();
        loop {
            rw.read_msg()?;
        }
    });
    let (a, b) = MemoryTransport::pair();
    let peer = peer_running_a(PanickyWrites(a), proto);
    let remote = thread::spawn(move || while b.read_msg().is_ok() {});
    let (_, err) = within(secs(10), move || peer.run());
    assert!(
        err.to_string().contains("transport write panicked"),
        "{err}"
    );
    within(secs(10), move || remote.join().unwrap());
}

/// A TCP stream that counts reads that ended in the socket's timeout.
#[cfg(feature = "rlpx")]
struct TimeoutCountingStream {
    inner: std::net::TcpStream,
    timeouts: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

#[cfg(feature = "rlpx")]
impl std::io::Read for TimeoutCountingStream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let r = self.inner.read(buf);
        if let Err(e) = &r {
            if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) {
                self.timeouts
                    .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
        }
        r
    }
}

#[cfg(feature = "rlpx")]
impl std::io::Write for TimeoutCountingStream {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.inner.write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(feature = "rlpx")]
impl devp2p_peer::rlpx::Socket for TimeoutCountingStream {
    fn set_read_timeout(&self, t: Option<Duration>) -> std::io::Result<()> {
        self.inner.set_read_timeout(t)
    }
    fn set_write_timeout(&self, t: Option<Duration>) -> std::io::Result<()> {
        self.inner.set_write_timeout(t)
    }
    fn try_clone(&self) -> std::io::Result<Self> {
        Ok(TimeoutCountingStream {
            inner: self.inner.try_clone()?,
            timeouts: self.timeouts.clone(),
        })
    }
    fn shutdown(&self) -> std::io::Result<()> {
        self.inner.shutdown(std::net::Shutdown::Both)
    }
}

// Found measuring idle CPU: after the handshake the socket's read timeout stayed at what
// the handshake deadline had left (at most 5 s), which is shorter than a message's 30 s, so
// it was kept, and an idle reader woke every 5 s to retry its read: 6 wake-ups per idle peer
// per 30 s. A setting far shorter than the time left is now re-armed.
#[cfg(feature = "rlpx")]
#[test]
fn idle_read_is_not_woken_by_the_handshakes_socket_timeout() {
    use devp2p_peer::rlpx::{Conn, SecretKey, Timeouts};
    use std::net::{TcpListener, TcpStream};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (key_a, key_b) = (SecretKey::random(), SecretKey::random());
    let pub_a = key_a.public_key();
    let remote = thread::spawn(move || {
        let mut conn = Conn::new(TcpStream::connect(addr).unwrap(), Some(pub_a));
        conn.handshake(&key_b).unwrap();
        // The reader's idle time: far longer than its socket timeout was left at.
        thread::sleep(Duration::from_millis(2500));
        conn.write_msg(0x10, b"wake").unwrap();
        conn
    });
    let (stream, _) = listener.accept().unwrap();
    let timeouts = Arc::new(AtomicUsize::new(0));
    let counting = TimeoutCountingStream {
        inner: stream,
        timeouts: timeouts.clone(),
    };
    let mut conn = Conn::new(counting, None);
    // The handshake deadline leaves the socket timeout below 1 s, under the 2.5 s idle.
    conn.set_timeouts(Timeouts {
        handshake: secs(1),
        read: secs(30),
        ..Timeouts::default()
    });
    conn.handshake(&key_a).unwrap();
    let before = timeouts.load(Ordering::SeqCst);
    let msg = conn.read_msg().unwrap();
    assert_eq!((msg.code, msg.data), (0x10, &b"wake"[..]));
    assert_eq!(
        timeouts.load(Ordering::SeqCst) - before,
        0,
        "the idle read woke on the socket timeout"
    );
    within(secs(10), move || drop(remote.join().unwrap()));
}

// Found in review: a transport whose `shutdown` panicked unwound `Peer::run` before it
// joined the peer's threads, which were left running.
#[test]
fn a_transport_panic_in_shutdown_still_joins_every_thread() {
    struct PanickyShutdown(MemoryTransport);
    impl MsgReader for PanickyShutdown {
        fn read_msg(&self) -> Result<Msg, Error> {
            self.0.read_msg()
        }
    }
    impl MsgWriter for PanickyShutdown {
        fn write_msg(&self, msg: Msg) -> Result<(), Error> {
            self.0.write_msg(msg)
        }
    }
    impl Transport for PanickyShutdown {
        fn shutdown(&self, err: &Error) {
            // Unblocks the reader, then fails.
            self.0.shutdown(err);
            panic!("broken shutdown");
        }
    }

    let ended = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = ended.clone();
    let (started_tx, started) = crossbeam_channel::bounded(1);
    let proto = Protocol::new("a", 1, 1, move |_peer, rw| {
        let _ = started_tx.try_send(());
        let result = loop {
            if let Err(e) = rw.read_msg() {
                break Err(e);
            }
        };
        flag.store(true, std::sync::atomic::Ordering::SeqCst);
        result
    });
    let (a, b) = MemoryTransport::pair();
    let peer = peer_running_a(PanickyShutdown(a), proto);
    let stopper = peer.clone();
    let remote = thread::spawn(move || while b.read_msg().is_ok() {});
    let run = thread::spawn(move || peer.run());
    started
        .recv_timeout(secs(10))
        .expect("the protocol started");
    stopper.disconnect(DiscReason::REQUESTED);
    // Before the fix the panic reached `run`'s caller before the protocol thread was joined.
    let result = within(secs(10), move || run.join());
    let (_, err) = result.expect("run returned instead of unwinding");
    assert_eq!(err.disc_reason(), Some(DiscReason::REQUESTED));
    assert!(ended.load(std::sync::atomic::Ordering::SeqCst));
    within(secs(10), move || remote.join().unwrap());
}

// Found in review: a discovery-only node (`tcp_port: 0`, no RLPx listener) advertised its
// UDP port as its TCP port, in its record and in the endpoint of its Pings, so other nodes
// dialed RLPx at a port where nothing listens on TCP. Port 0 now advertises no TCP port.
#[cfg(feature = "discovery")]
#[test]
fn discovery_without_a_tcp_port_advertises_none() {
    use devp2p_peer::discover::v4wire::{decode, Packet};
    use devp2p_peer::discover::{Config, Discovery, Node};
    use devp2p_peer::rlpx::{Enode, SecretKey};
    use std::net::UdpSocket;

    let cfg = Config {
        tcp_port: 0,
        ..Config::loopback()
    };
    let disc = Discovery::start(SecretKey::random(), cfg).unwrap();
    let udp = disc.local_addr();
    let record = disc.local_record();
    assert!(record.tcp().is_err(), "record has a tcp entry: {record:?}");
    assert!(
        record.tcp6().is_err(),
        "record has a tcp6 entry: {record:?}"
    );
    assert_eq!(record.udp().unwrap(), udp.port());
    assert_eq!(disc.local_node().enode.tcp_port, 0);

    // A plain socket as the node the service pings.
    let remote_key = SecretKey::random();
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(secs(30))).unwrap();
    let remote = Node::new(Enode::new(
        remote_key.public_key(),
        sock.local_addr().unwrap(),
    ));
    // Unanswered, the Ping gives up after the reply timeout, so the scope ends.
    thread::scope(|scope| {
        let pinging = scope.spawn(|| disc.ping(&remote));
        let mut buf = [0u8; 2048];
        let ping = loop {
            let (n, _) = sock.recv_from(&mut buf).expect("no Ping in time");
            if let Ok((Packet::Ping(p), _, _)) = decode(&buf[..n]) {
                break p;
            }
        };
        assert_eq!(ping.from.udp, udp.port());
        assert_eq!(ping.from.tcp, 0, "the Ping advertises a TCP port");
        let _ = pinging.join().unwrap();
    });
    disc.stop();
}
