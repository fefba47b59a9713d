//! Blocking connections over loopback TCP: handshakes in both roles, message
//! exchange with and without snappy, split halves on two threads, shutdown and
//! deadlines.
#![cfg(feature = "rlpx")]

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use common::tcp_pair;
use devp2p_peer::rlpx::wire::{session, Recipient};
use devp2p_peer::rlpx::{Conn, RlpxError, SecretKey, Timeouts, MAX_FRAME_SIZE};

/// Generous bound for anything a test waits on, so a bug fails instead of hanging.
const TEST_TIMEOUT: Duration = Duration::from_secs(20);

/// Two connections after a completed handshake: (initiator, recipient).
fn connected_pair() -> (Conn, Conn) {
    let (initiator, _raw, recipient) = common::rlpx_conn_pair();
    (initiator, recipient)
}

fn random_bytes(n: usize) -> Vec<u8> {
    let mut v = vec![0u8; n];
    rand::fill(&mut v[..]);
    v
}

#[test]
fn handshake_both_roles() {
    let (client, server) = tcp_pair();
    let (ka, kb) = (SecretKey::random(), SecretKey::random());
    let (pub_a, pub_b) = (ka.public_key(), kb.public_key());
    let recipient = thread::spawn(move || Conn::new(server, None).handshake(&kb));
    let mut initiator = Conn::new(client, Some(pub_b));
    assert_eq!(initiator.remote_pubkey(), Some(&pub_b));
    assert_eq!(initiator.handshake(&ka).unwrap(), pub_b);
    assert_eq!(recipient.join().unwrap().unwrap(), pub_a);
    // A second handshake is refused.
    assert!(matches!(
        initiator.handshake(&ka),
        Err(RlpxError::HandshakeAlreadyDone)
    ));
}

#[test]
fn read_write_before_handshake_is_an_error() {
    let (client, _server) = tcp_pair();
    let mut conn = Conn::new(client, None);
    assert!(matches!(conn.read_msg(), Err(RlpxError::HandshakeNotDone)));
    assert!(matches!(
        conn.write_msg(1, b"x"),
        Err(RlpxError::HandshakeNotDone)
    ));
}

#[test]
fn read_write_msg_plain_and_snappy() {
    let (mut a, mut b) = connected_pair();
    for snappy in [false, true] {
        a.set_snappy(snappy);
        b.set_snappy(snappy);
        let size = a.write_msg(23, b"test").unwrap();
        let msg = b.read_msg().unwrap();
        assert_eq!((msg.code, msg.data), (23, &b"test"[..]));
        assert_eq!(msg.wire_size, size);
        if snappy {
            assert_eq!(size, 6); // snappy block of 4 literal bytes
        } else {
            assert_eq!(size, 4);
        }
    }
}

/// Sends `data` from `a` to `b` with the writer on its own thread (large
/// frames do not fit in the socket buffers).
fn send_across(a: &mut Conn, b: &mut Conn, code: u64, data: &[u8]) {
    thread::scope(|s| {
        let writer = s.spawn(|| a.write_msg(code, data));
        let msg = b.read_msg().unwrap();
        assert_eq!(msg.code, code);
        assert_eq!(msg.data.len(), data.len());
        assert!(msg.data == data, "payload of {} bytes differs", data.len());
        writer.join().unwrap().unwrap();
    });
}

#[test]
fn message_sizes_both_ways() {
    let (mut a, mut b) = connected_pair();
    for snappy in [false, true] {
        a.set_snappy(snappy);
        b.set_snappy(snappy);
        for size in [0, 1, 1024, 1 << 20] {
            let data = random_bytes(size);
            send_across(&mut a, &mut b, 0x10, &data);
            send_across(&mut b, &mut a, 0x11, &data);
        }
    }
}

#[test]
#[cfg_attr(
    debug_assertions,
    ignore = "16 MiB through unoptimised keccak takes ~20 s; runs in release builds or with --ignored"
)]
fn largest_plain_message() {
    // The frame holds code and payload in 0xFFFFFF bytes, so with a one-byte
    // code the largest payload is 0xFFFFFE; 0xFFFFFF itself cannot be framed.
    let (mut a, mut b) = connected_pair();
    let data = random_bytes(MAX_FRAME_SIZE);
    send_across(&mut a, &mut b, 1, &data[..MAX_FRAME_SIZE - 1]);
    assert!(matches!(
        a.write_msg(1, &data),
        Err(RlpxError::PlainMessageTooLarge)
    ));
    // The failed write sent nothing, so the connection still works.
    send_across(&mut a, &mut b, 2, b"after");
}

#[test]
fn oversized_plain_message_is_rejected_before_sending() {
    let (mut a, mut b) = connected_pair();
    let data = vec![0u8; MAX_FRAME_SIZE];
    // Code plus 0xFFFFFF payload bytes exceed the frame size.
    assert!(matches!(
        a.write_msg(1, &data),
        Err(RlpxError::PlainMessageTooLarge)
    ));
    assert!(matches!(
        a.write_msg(1, &vec![0u8; MAX_FRAME_SIZE + 1]),
        Err(RlpxError::PlainMessageTooLarge)
    ));
    send_across(&mut a, &mut b, 2, b"after");
}

#[test]
fn largest_snappy_message() {
    let (mut a, mut b) = connected_pair();
    a.set_snappy(true);
    b.set_snappy(true);
    // Compressible data of the maximum plain size goes through.
    let zeros = vec![0u8; MAX_FRAME_SIZE];
    send_across(&mut a, &mut b, 3, &zeros);
    // Incompressible data grows a little under snappy and no longer fits a
    // frame: a typed error, nothing written, connection still usable.
    let data = random_bytes(MAX_FRAME_SIZE);
    match a.write_msg(3, &data) {
        Err(RlpxError::FrameTooLarge { size }) => assert!(size > MAX_FRAME_SIZE),
        other => panic!("expected FrameTooLarge, got {other:?}"),
    }
    assert!(matches!(
        a.write_msg(3, &vec![0u8; MAX_FRAME_SIZE + 1]),
        Err(RlpxError::PlainMessageTooLarge)
    ));
    send_across(&mut a, &mut b, 4, b"still fine");
}

#[test]
fn frames_right_behind_the_ack_are_not_lost() {
    // The recipient sends its ack and two frames in a single write, so the
    // initiator's handshake read takes in frame bytes too.
    let (client, mut server) = tcp_pair();
    let (ka, kb) = (SecretKey::random(), SecretKey::random());
    let pub_b = kb.public_key();
    let recipient = thread::spawn(move || {
        let mut auth = vec![0u8; 2];
        server.read_exact(&mut auth).unwrap();
        let size = usize::from(u16::from_be_bytes([auth[0], auth[1]]));
        auth.resize(2 + size, 0);
        server.read_exact(&mut auth[2..]).unwrap();
        let (ack, secrets) = Recipient::new(&kb).read_auth(&auth).unwrap().respond();
        let (mut out, _) = session(secrets);
        let mut burst = ack;
        out.write_msg(&mut burst, 0x10, b"first").unwrap();
        out.write_msg(&mut burst, 0x11, b"second").unwrap();
        server.write_all(&burst).unwrap();
        server
    });
    let mut conn = Conn::new(client, Some(pub_b));
    conn.handshake(&ka).unwrap();
    let _server = recipient.join().unwrap();
    let m = conn.read_msg().unwrap();
    assert_eq!((m.code, m.data), (0x10, &b"first"[..]));
    let m = conn.read_msg().unwrap();
    assert_eq!((m.code, m.data), (0x11, &b"second"[..]));
}

#[test]
fn split_halves_on_separate_threads() {
    const N: u64 = 500;
    let (a, b) = connected_pair();
    let (mut a_rx, mut a_tx) = a.split().unwrap();
    let (mut b_rx, mut b_tx) = b.split().unwrap();
    a_rx.set_snappy(true);
    a_tx.set_snappy(true);
    b_rx.set_snappy(true);
    b_tx.set_snappy(true);
    // Four threads: each side writes and reads at the same time.
    thread::scope(|s| {
        s.spawn(|| {
            for i in 0..N {
                a_tx.write_msg(i, &i.to_be_bytes().repeat(i as usize % 50))
                    .unwrap();
            }
        });
        s.spawn(|| {
            for i in 0..N {
                b_tx.write_msg(i + 1, &[7u8; 300]).unwrap();
            }
        });
        s.spawn(|| {
            for i in 0..N {
                let m = b_rx.read_msg().unwrap();
                assert_eq!(m.code, i);
                assert_eq!(m.data, &i.to_be_bytes().repeat(i as usize % 50)[..]);
            }
        });
        s.spawn(|| {
            for i in 0..N {
                let m = a_rx.read_msg().unwrap();
                assert_eq!((m.code, m.data), (i + 1, &[7u8; 300][..]));
            }
        });
    });
}

#[test]
fn shutdown_unblocks_a_blocked_reader() {
    let (a, _b) = connected_pair();
    let (mut rx, tx) = a.split().unwrap();
    let (done_tx, done_rx) = mpsc::channel();
    let reader = thread::spawn(move || {
        let r = rx.read_msg().map(|m| m.code);
        done_tx.send(r).unwrap();
    });
    // The reader is blocked (nothing is sent); it must not finish on its own.
    assert!(done_rx.recv_timeout(Duration::from_millis(100)).is_err());
    let handle = tx.shutdown_handle().unwrap();
    handle.shutdown().unwrap();
    let result = done_rx
        .recv_timeout(TEST_TIMEOUT)
        .expect("reader still blocked");
    assert!(result.is_err());
    reader.join().unwrap();
    // Shutting down again is harmless, and writes now fail.
    handle.shutdown().unwrap();
    let mut tx = tx;
    assert!(tx.write_msg(1, b"x").is_err());
}

#[test]
fn handshake_deadline_when_remote_is_silent() {
    let (client, _server) = tcp_pair(); // the server never answers
    let mut conn = Conn::new(client, Some(SecretKey::random().public_key()));
    conn.set_timeouts(Timeouts {
        handshake: Duration::from_millis(200),
        ..Timeouts::default()
    });
    let start = Instant::now();
    let err = conn.handshake(&SecretKey::random()).unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
    assert_eq!(err.to_string(), "i/o timeout");
    assert!(start.elapsed() < Duration::from_secs(3));

    // Same for a recipient that never gets an auth packet.
    let (_client, server) = tcp_pair();
    let mut conn = Conn::new(server, None);
    conn.set_timeouts(Timeouts {
        handshake: Duration::from_millis(200),
        ..Timeouts::default()
    });
    assert!(conn
        .handshake(&SecretKey::random())
        .unwrap_err()
        .is_timeout());
}

#[test]
fn read_deadline_bounds_the_whole_frame() {
    // The remote trickles a valid frame one byte every 20 ms. Each single
    // read returns quickly, so only a deadline for the whole frame can fire.
    let (client, server) = tcp_pair();
    let (ka, kb) = (SecretKey::random(), SecretKey::random());
    let pub_b = kb.public_key();
    let remote = thread::spawn(move || {
        let (mut server, mut out) = manual_recipient(server, &kb);
        let mut frame = Vec::new();
        out.write_msg(&mut frame, 5, &[1u8; 200]).unwrap();
        for byte in frame {
            if server.write_all(&[byte]).is_err() {
                break; // the reader gave up and closed
            }
            thread::sleep(Duration::from_millis(20));
        }
    });
    let mut conn = Conn::new(client, Some(pub_b));
    conn.handshake(&ka).unwrap();
    conn.set_timeouts(Timeouts {
        read: Duration::from_millis(300),
        ..Timeouts::default()
    });
    let start = Instant::now();
    let err = conn.read_msg().unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "took {:?}",
        start.elapsed()
    );
    drop(conn);
    remote.join().unwrap();
}

/// Plays the recipient by hand: reads the auth packet, answers, and returns
/// the raw socket with the egress half of the session.
fn manual_recipient(
    mut server: TcpStream,
    key: &SecretKey,
) -> (TcpStream, devp2p_peer::rlpx::wire::FrameEgress) {
    let mut auth = vec![0u8; 2];
    server.read_exact(&mut auth).unwrap();
    let size = usize::from(u16::from_be_bytes([auth[0], auth[1]]));
    auth.resize(2 + size, 0);
    server.read_exact(&mut auth[2..]).unwrap();
    let (ack, secrets) = Recipient::new(key).read_auth(&auth).unwrap().respond();
    server.write_all(&ack).unwrap();
    let (out, _) = session(secrets);
    (server, out)
}
