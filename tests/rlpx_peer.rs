//! Peers over real RLPx connections on 127.0.0.1: the Hello exchange (go-ethereum's
//! TestProtocolHandshake), two peers running two protocols, and handshake-time bad input.
#![cfg(feature = "rlpx")]

mod common;

use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use common::*;
use devp2p_peer::rlpx::{RlpxTransport, SecretKey};
use devp2p_peer::*;

/// A connected pair after the encryption handshake: (dialer, listener).
fn rlpx_pair(key_d: &SecretKey, key_l: &SecretKey) -> (RlpxTransport, RlpxTransport) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let kl = key_l.clone();
    let accept = thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        RlpxTransport::handshake(stream, &kl, None).unwrap()
    });
    let dialer = RlpxTransport::dial_addr(addr, key_d, &key_l.public_key(), secs(5)).unwrap();
    let listener = within(secs(10), move || accept.join().unwrap());
    (dialer, listener)
}

// transport_test.go: TestProtocolHandshake.
#[test]
fn protocol_handshake() {
    let (prv0, prv1) = (SecretKey::random(), SecretKey::random());
    let hs = |key: &SecretKey, caps| Hello {
        version: 3,
        caps,
        id: key.public_key().to_bytes().to_vec(),
        ..Hello::new("", vec![], [0; 64])
    };
    let hs0 = hs(&prv0, vec![Cap::new("a", 0), Cap::new("b", 2)]);
    let hs1 = hs(&prv1, vec![Cap::new("c", 1), Cap::new("d", 3)]);
    let (dialer, listener) = rlpx_pair(&prv0, &prv1);
    assert_eq!(dialer.remote_pubkey(), prv1.public_key());
    assert_eq!(listener.remote_pubkey(), prv0.public_key());

    let (h0, h1) = (hs0.clone(), hs1.clone());
    let d = thread::spawn(move || {
        let theirs = dialer.protocol_handshake(&h0).unwrap();
        assert_eq!(theirs, h1);
        dialer.shutdown(&DiscReason::QUITTING.into());
    });
    let got = within(secs(10), move || {
        let theirs = listener.protocol_handshake(&hs1).unwrap();
        // Versions are 3: no snappy, so the Disconnect payload is plain `c1 08`.
        expect_msg(
            &listener,
            DISC_MSG,
            Some(&RlpList(&[&DiscReason::QUITTING.0])),
        )
        .unwrap();
        theirs
    });
    assert_eq!(got, hs0);
    d.join().unwrap();
}

fn echo_protocol() -> Protocol {
    Protocol::new("echo", 1, 8, |_peer, rw| loop {
        let msg = rw.read_msg()?;
        let code = msg.code;
        rw.write_msg(Msg::new(code, msg.payload.into_vec()))?;
    })
}

fn count_protocol() -> Protocol {
    Protocol::new("count", 2, 1, |_peer, rw| loop {
        let mut msg = rw.read_msg()?;
        let n: u64 = msg.decode()?;
        send(&rw, 0, &(n + 1))?;
    })
}

/// Sets up a peer over a connected transport, as a server would.
fn start(t: RlpxTransport, key: &SecretKey, name: &str, protocols: Vec<Protocol>) -> Peer {
    let caps = protocols.iter().map(Protocol::cap).collect();
    let ours = Hello::new(name, caps, key.public_key().to_bytes());
    let theirs = t.protocol_handshake(&ours).unwrap();
    assert_eq!(theirs.version, 5);
    t.into_peer(
        &theirs,
        &protocols,
        ConnFlags::default(),
        PeerConfig::default(),
    )
    .unwrap()
}

#[test]
fn two_peers_two_protocols_over_rlpx() {
    let (ka, kb) = (SecretKey::random(), SecretKey::random());
    let (ta, tb) = rlpx_pair(&ka, &kb);

    // B serves echo and count; A drives both protocols at once, then disconnects.
    let kb2 = kb.clone();
    let b =
        thread::spawn(move || start(tb, &kb2, "node-b", vec![echo_protocol(), count_protocol()]));
    let (done_tx, done_rx) = crossbeam_channel::bounded(2);
    let echo_done = done_tx.clone();
    let drive_echo = Protocol::new("echo", 1, 8, move |_peer, rw| {
        for i in 0..200u64 {
            let data = vec![i as u8; (i as usize * 37) % 3000];
            send(&rw, i % 8, &data)?;
            let mut back = rw.read_msg()?;
            assert_eq!(back.code, i % 8);
            assert_eq!(back.decode::<Vec<u8>>()?, data);
        }
        let _ = echo_done.send(());
        rw.read_msg().map(|_| ())
    });
    let drive_count = Protocol::new("count", 2, 1, move |_peer, rw| {
        for n in 0..200u64 {
            send(&rw, 0, &n)?;
            let mut back = rw.read_msg()?;
            assert_eq!(back.decode::<u64>()?, n + 1);
        }
        let _ = done_tx.send(());
        rw.read_msg().map(|_| ())
    });
    let pa = within(secs(10), {
        let ka = ka.clone();
        move || start(ta, &ka, "node-a", vec![drive_echo, drive_count])
    });
    let pb = within(secs(10), move || b.join().unwrap());
    assert_eq!(pa.name(), "node-b");
    assert_eq!(pb.name(), "node-a");
    assert_eq!(pa.id(), kb.public_key().node_id());
    assert!(pa.remote_addr().is_some() && pa.local_addr().is_some());

    let pb2 = pb.clone();
    let run_b = thread::spawn(move || pb2.run());
    let pa2 = pa.clone();
    let run_a = thread::spawn(move || pa2.run());
    for _ in 0..2 {
        done_rx.recv_timeout(secs(20)).expect("drivers finished");
    }
    // Both protocols ran concurrently to the end; now end the connection with a reason.
    pa.disconnect(DiscReason::USELESS_PEER);
    let (ra, ea) = within(secs(10), move || run_a.join().unwrap());
    let (rb, eb) = within(secs(10), move || run_b.join().unwrap());
    assert!(!ra);
    assert_eq!(
        ea.disc_reason(),
        Some(DiscReason::USELESS_PEER),
        "A ended with {ea}"
    );
    assert!(rb, "B must have received A's Disconnect, ended with {eb}");
    assert_eq!(eb.disc_reason(), Some(DiscReason::USELESS_PEER));
    let stats = pb.protocol_stats();
    assert_eq!(stats[0].cap, Cap::new("count", 2));
    assert_eq!((stats[0].msgs_in, stats[0].msgs_out), (200, 200));
    assert_eq!((stats[1].msgs_in, stats[1].msgs_out), (200, 200));
    assert_eq!(stats[1].offset, 17);
}

#[test]
fn ping_is_answered_over_snappy() {
    let (ka, kb) = (SecretKey::random(), SecretKey::random());
    let (ta, tb) = rlpx_pair(&ka, &kb);
    let kb2 = kb.clone();
    let b = thread::spawn(move || {
        let p = start(tb, &kb2, "b", vec![]);
        p.run()
    });
    // A stays raw: it speaks the base protocol by hand.
    let theirs = ta
        .protocol_handshake(&Hello::new("a", vec![], ka.public_key().to_bytes()))
        .unwrap();
    assert_eq!(theirs.name, "b");
    let ta = Arc::new(ta);
    let t = ta.clone();
    within(secs(10), move || {
        send_items(&*t, PING_MSG, &[]).unwrap();
        expect_msg(&*t, PONG_MSG, None).unwrap();
        send_items(&*t, DISC_MSG, &[&DiscReason::TOO_MANY_PEERS.0]).unwrap();
        // B echoes the reason back before closing.
        expect_msg(
            &*t,
            DISC_MSG,
            Some(&RlpList(&[&DiscReason::TOO_MANY_PEERS.0])),
        )
        .unwrap();
    });
    let (remote_requested, err) = within(secs(10), move || b.join().unwrap());
    assert!(remote_requested);
    assert_eq!(err.disc_reason(), Some(DiscReason::TOO_MANY_PEERS));
}

/// Runs `remote` against a listener doing the Hello exchange; returns the listener's error.
fn hello_error(remote: impl FnOnce(RlpxTransport) + Send + 'static) -> Error {
    let (ka, kb) = (SecretKey::random(), SecretKey::random());
    let (ta, tb) = rlpx_pair(&ka, &kb);
    let r = thread::spawn(move || remote(ta));
    let err = within(secs(10), move || {
        tb.protocol_handshake(&Hello::new("b", vec![], kb.public_key().to_bytes()))
            .unwrap_err()
    });
    let _ = r.join();
    err
}

#[test]
fn hello_over_2kib_is_rejected() {
    let err = hello_error(|t| {
        let mut h = Hello::new("x".repeat(3000), vec![], [1; 64]);
        h.version = 5;
        let _ = t.write_msg(Msg::new(HANDSHAKE_MSG, rlp::encode(&h).to_vec()));
        let _ = t.read_msg();
    });
    assert!(matches!(err, Error::MessageTooBig), "{err}");
}

#[test]
fn first_message_not_hello_is_rejected() {
    let err = hello_error(|t| {
        let _ = send_items(&t, 0x10, &[]);
        let _ = t.read_msg();
    });
    assert_eq!(err.to_string(), "expected handshake, got 10");
}

#[test]
fn disconnect_instead_of_hello_gives_its_reason() {
    let err = hello_error(|t| {
        t.shutdown(&DiscReason::TOO_MANY_PEERS.into());
    });
    assert_eq!(err.disc_reason(), Some(DiscReason::TOO_MANY_PEERS), "{err}");
}

#[test]
fn hello_with_another_key_is_an_unexpected_identity() {
    let (ka, kb) = (SecretKey::random(), SecretKey::random());
    let (ta, tb) = rlpx_pair(&ka, &kb);
    let r = thread::spawn(move || {
        // Claims a key it did not prove in the handshake.
        let forged = SecretKey::random().public_key().to_bytes();
        let _ = ta.protocol_handshake(&Hello::new("a", vec![], forged));
        ta.read_msg()
            .map(|mut m| (m.code, DiscReason::decode(m.payload.consume())))
    });
    let theirs = tb
        .protocol_handshake(&Hello::new("b", vec![], kb.public_key().to_bytes()))
        .unwrap();
    let err = tb
        .into_peer(&theirs, &[], ConnFlags::INBOUND, PeerConfig::default())
        .unwrap_err();
    assert_eq!(err.disc_reason(), Some(DiscReason::UNEXPECTED_IDENTITY));
    // The forger is told why.
    let told = within(secs(10), move || r.join().unwrap()).unwrap();
    assert_eq!(told, (DISC_MSG, DiscReason::UNEXPECTED_IDENTITY));
}

#[test]
fn garbage_instead_of_a_handshake_ends_cleanly() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let key = SecretKey::random();
    let server = thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        RlpxTransport::handshake(stream, &key, None).map(|_| ())
    });
    let mut s = TcpStream::connect(addr).unwrap();
    std::io::Write::write_all(&mut s, &[0x01, 0x00, 0xde, 0xad, 0xbe, 0xef]).unwrap();
    drop(s);
    let result = within(Duration::from_secs(10), move || server.join().unwrap());
    assert!(result.is_err());
}

/// A socket whose reads can be slowed down: the receiving end of a slow link.
struct SlowStream {
    inner: TcpStream,
    slow: Arc<std::sync::atomic::AtomicBool>,
}

impl std::io::Read for SlowStream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.slow.load(std::sync::atomic::Ordering::SeqCst) {
            // About 0.5 MB/s at best.
            thread::sleep(Duration::from_millis(8));
            let n = buf.len().min(4096);
            return self.inner.read(&mut buf[..n]);
        }
        self.inner.read(buf)
    }
}

impl std::io::Write for SlowStream {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.inner.write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

impl devp2p_peer::rlpx::Socket for SlowStream {
    fn set_read_timeout(&self, t: Option<Duration>) -> std::io::Result<()> {
        self.inner.set_read_timeout(t)
    }
    fn set_write_timeout(&self, t: Option<Duration>) -> std::io::Result<()> {
        self.inner.set_write_timeout(t)
    }
    fn try_clone(&self) -> std::io::Result<Self> {
        Ok(SlowStream {
            inner: self.inner.try_clone()?,
            slow: self.slow.clone(),
        })
    }
    fn shutdown(&self) -> std::io::Result<()> {
        self.inner.shutdown(std::net::Shutdown::Both)
    }
}

// geth's rlpxTransport.close takes the write lock (so a write in flight finishes, bounded by
// its own deadline), then writes the Disconnect with a 1 s deadline.
#[test]
fn disconnect_follows_the_message_in_flight_on_a_slow_link() {
    use devp2p_peer::rlpx::{Conn, Timeouts};
    use std::sync::atomic::{AtomicBool, Ordering};

    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (key_local, key_remote) = (SecretKey::random(), SecretKey::random());
    let kl = key_local.clone();
    let accept = thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        // A long write deadline: however slow this machine is, the in-flight write finishes.
        let timeouts = Timeouts {
            write: secs(60),
            ..Timeouts::default()
        };
        RlpxTransport::handshake_with(stream, &kl, None, timeouts).unwrap()
    });
    let slow = Arc::new(AtomicBool::new(false));
    let stream = TcpStream::connect(addr).unwrap();
    let mut remote = Conn::new(
        SlowStream {
            inner: stream,
            slow: slow.clone(),
        },
        Some(key_local.public_key()),
    );
    remote.set_timeouts(Timeouts {
        read: secs(60),
        ..Timeouts::default()
    });
    remote.handshake(&key_remote).unwrap();
    let local = Arc::new(within(secs(10), move || accept.join().unwrap()));

    // More than loopback's socket buffers hold while the remote does not read (~2.75 MiB
    // here), so the write is still in flight when the peer is closed.
    let mut big = vec![0u8; 4 << 20];
    rand::fill(&mut big[..]);
    let writer = {
        let (local, big, slow) = (local.clone(), big.clone(), slow.clone());
        thread::spawn(move || {
            let written = local.write_msg(Msg::new(0x10, big));
            // The link is slow only while the write is in flight, to keep the test short.
            slow.store(false, Ordering::SeqCst);
            written
        })
    };
    // The first bytes have arrived: the write holds the connection's writer.
    // (Encoding 4 MiB takes a while in debug builds; the socket's read timeout is short.)
    let deadline = std::time::Instant::now() + secs(60);
    loop {
        match remote.stream().inner.peek(&mut [0u8; 1]) {
            Ok(n) => {
                assert_eq!(n, 1);
                break;
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                assert!(std::time::Instant::now() < deadline, "no bytes arrived")
            }
            Err(e) => panic!("{e}"),
        }
    }
    let (closing_tx, closing_rx) = crossbeam_channel::bounded(1);
    let closer = {
        let local = local.clone();
        thread::spawn(move || {
            closing_tx.send(()).unwrap();
            local.shutdown(&DiscReason::REQUESTED.into());
        })
    };
    closing_rx.recv_timeout(secs(10)).unwrap();
    // The remote reads slowly from now on: the rest of the message (what the socket buffers
    // did not hold, over 1 MiB) takes seconds to arrive.
    slow.store(true, Ordering::SeqCst);

    let msg = remote.read_msg().expect("the whole message in flight");
    assert_eq!((msg.code, msg.data.len()), (0x10, big.len()));
    assert!(msg.data == &big[..]);
    let disc = remote.read_msg().expect("the Disconnect after it");
    assert_eq!(disc.code, DISC_MSG);
    assert_eq!(disc.data, &DiscReason::REQUESTED.encode()[..]);
    assert_eq!(
        DiscReason::decode(disc.data),
        DiscReason::REQUESTED,
        "the reason"
    );
    assert!(remote.read_msg().unwrap_err().is_eof());

    within(secs(60), move || writer.join().unwrap()).expect("the write in flight completed");
    within(secs(60), move || closer.join().unwrap());
    // Writes after the close fail at once instead of following the Disconnect.
    assert!(matches!(
        local.write_msg(Msg::new(0x10, vec![1])),
        Err(Error::ShuttingDown)
    ));
}

// Buffers grown for one large message are given back: an idle connection does not keep the
// largest message it ever carried.
#[test]
fn buffers_shrink_after_a_large_message_over_rlpx() {
    use devp2p_peer::rlpx::wire::RELEASE_ABOVE;
    let (ka, kb) = (SecretKey::random(), SecretKey::random());
    let (a, b) = rlpx_pair(&ka, &kb);
    let (a, b) = (Arc::new(a), Arc::new(b));
    let hello = |k: &SecretKey| Hello::new("x", vec![], k.public_key().to_bytes());
    let (b2, hb) = (b.clone(), hello(&kb));
    let t = thread::spawn(move || b2.protocol_handshake(&hb).unwrap());
    assert_eq!(a.protocol_handshake(&hello(&ka)).unwrap().version, 5); // snappy on
    within(secs(10), move || t.join().unwrap());
    let idle = (a.buffer_capacity(), b.buffer_capacity());

    let mut big = vec![0u8; 2 << 20];
    rand::fill(&mut big[..]);
    let b2 = b.clone();
    let reader = thread::spawn(move || {
        let mut first = b2.read_msg().unwrap();
        let len = first.payload.consume().len();
        let mut second = b2.read_msg().unwrap();
        (len, second.payload.consume().to_vec())
    });
    a.write_msg(Msg::new(0x10, big.clone())).unwrap();
    a.write_msg(Msg::new(0x10, b"small".to_vec())).unwrap();
    let (len, small) = within(secs(60), move || reader.join().unwrap());
    assert_eq!((len, &small[..]), (big.len(), &b"small"[..]));
    // Both sides, read and write buffers, are back under the threshold.
    for (side, cap) in [
        ("writer", a.buffer_capacity()),
        ("reader", b.buffer_capacity()),
    ] {
        assert!(
            cap <= 4 * RELEASE_ABOVE,
            "{side} holds {cap} bytes after a small message (idle: {idle:?})"
        );
    }
}

// A large message read after a large one was written goes into the written one's vector:
// an echo does not allocate and zero-fill each large message again. The reused vector
// holds exactly the new message, however long the old one was, snappy on and off, and is
// never more than twice the message's size (the last message is too short for it).
#[test]
fn a_large_read_reuses_the_vector_of_a_large_write() {
    use devp2p_peer::rlpx::wire::RELEASE_ABOVE;
    for snappy in [true, false] {
        let (ka, kb) = (SecretKey::random(), SecretKey::random());
        let (a, b) = rlpx_pair(&ka, &kb);
        let (a, b) = (Arc::new(a), Arc::new(b));
        if snappy {
            let hello = |k: &SecretKey| Hello::new("x", vec![], k.public_key().to_bytes());
            let (b2, hb) = (b.clone(), hello(&kb));
            let t = thread::spawn(move || b2.protocol_handshake(&hb).unwrap());
            assert_eq!(a.protocol_handshake(&hello(&ka)).unwrap().version, 5);
            within(secs(10), move || t.join().unwrap());
        }
        // Random (incompressible) and repetitive payloads, each shorter than the one before.
        let mut sent = Vec::new();
        for (i, len) in [
            8 * RELEASE_ABOVE,
            6 * RELEASE_ABOVE + 3,
            5 * RELEASE_ABOVE + 1,
            2 * RELEASE_ABOVE + 1,
        ]
        .into_iter()
        .enumerate()
        {
            let mut data = vec![i as u8; len];
            if i != 1 {
                rand::fill(&mut data[..]);
            }
            sent.push(data);
        }
        // b echoes what a sends; each message after the first is read into the vector b
        // wrote last.
        let (b2, want) = (b.clone(), sent.clone());
        let echo = thread::spawn(move || {
            let mut reused = Vec::new();
            let mut written = None;
            for (i, want) in want.iter().enumerate() {
                let msg = b2.read_msg().unwrap();
                let data = msg.payload.into_vec();
                let at = data.as_ptr() as usize;
                reused.push(written == Some(at));
                assert!(data == *want, "snappy {snappy}: message {i}");
                assert!(
                    data.capacity() / 2 <= data.len(),
                    "snappy {snappy}: message {i}: capacity {} for {} bytes",
                    data.capacity(),
                    data.len()
                );
                written = Some(at);
                b2.write_msg(Msg::new(msg.code, data)).unwrap();
            }
            reused
        });
        let (a2, to_send) = (a.clone(), sent.clone());
        let writer = thread::spawn(move || {
            for data in to_send {
                a2.write_msg(Msg::new(0x10, data)).unwrap();
            }
        });
        for (i, want) in sent.iter().enumerate() {
            let mut msg = within(secs(60), {
                let a = a.clone();
                move || a.read_msg().unwrap()
            });
            assert!(
                msg.payload.consume() == &want[..],
                "snappy {snappy}: echo {i}"
            );
        }
        within(secs(60), move || writer.join().unwrap());
        let reused = within(secs(60), move || echo.join().unwrap());
        // The last message is too short for the kept vector: the capacity check above
        // shows it got one of its own (its address says nothing, as the allocator may
        // hand back the dropped vector's memory).
        assert_eq!(reused[..3], [false, true, true], "snappy {snappy}");
    }
}
