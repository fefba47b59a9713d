//! `RlpxTransport::try_write_msg` and `flush`: non-blocking control writes that never wait
//! for the socket, and the bytes they leave behind going out first, in order, with the MAC
//! in sync.
#![cfg(feature = "rlpx")]

mod common;

use std::net::{TcpListener, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use common::{secs, within};
use devp2p_peer::rlpx::{Conn, RlpxError, RlpxTransport, SecretKey, Timeouts, TrySend};
use devp2p_peer::{DiscReason, Error, Msg, MsgWriter, Transport, TryWrite};

/// Size of the messages used to fill the socket buffers.
const CHUNK: usize = 64 * 1024;
/// Loopback buffers hold a few MiB at most; this many chunks (64 MiB) is far beyond them.
const MAX_CHUNKS: usize = 1024;

/// An `RlpxTransport` (the initiator) and the remote's raw `Conn`, over loopback, with the
/// given deadlines on the transport's side.
fn transport_pair(timeouts: Timeouts) -> (RlpxTransport, Conn) {
    transport_pair_with(timeouts, false)
}

/// As [`transport_pair`]; with `small_buffers`, the connection's socket buffers are 32 KiB
/// (see [`small_buffer`]).
fn transport_pair_with(timeouts: Timeouts, small_buffers: bool) -> (RlpxTransport, Conn) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let key_b = SecretKey::random();
    let pub_b = key_b.public_key();
    let remote = thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        if small_buffers {
            small_buffer(&stream, libc::SO_RCVBUF);
        }
        stream.set_read_timeout(Some(secs(30))).unwrap();
        let mut conn = Conn::new(stream, None);
        conn.handshake(&key_b).unwrap();
        conn
    });
    let stream = TcpStream::connect(addr).unwrap();
    if small_buffers {
        small_buffer(&stream, libc::SO_SNDBUF);
    }
    let t = RlpxTransport::handshake_with(stream, &SecretKey::random(), Some(&pub_b), timeouts)
        .unwrap();
    (t, remote.join().unwrap())
}

/// Sets a socket buffer (`SO_SNDBUF` or `SO_RCVBUF`) to 32 KiB, so that what fills the
/// connection is little to drain: a Disconnect behind it must get through within its fixed
/// 1 s write deadline even on a loaded machine (with the kernel's default buffers, megabytes
/// were queued).
fn small_buffer(stream: &TcpStream, option: libc::c_int) {
    use std::os::fd::AsRawFd;
    let size: libc::c_int = 32 << 10;
    // SAFETY: a valid socket descriptor, and an option value of the size given.
    let rc = unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            option,
            (&size as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0, "setsockopt: {}", std::io::Error::last_os_error());
}

/// The payload of the `i`-th filler message: its index in every byte's place.
fn chunk(i: usize) -> Vec<u8> {
    let mut v = vec![(i % 251) as u8; CHUNK];
    v[..8].copy_from_slice(&(i as u64).to_be_bytes());
    v
}

/// Writes filler messages with `try_write_msg` until one only partly fits (the remote is
/// not reading); returns how many were sealed, the partial one included.
fn fill_until_partial(t: &RlpxTransport) -> usize {
    for i in 0..MAX_CHUNKS {
        match t.try_write_msg(Msg::new(0x10, chunk(i))).unwrap() {
            TryWrite::Done => {}
            TryWrite::Partial => return i + 1,
            TryWrite::WouldBlock(_) => panic!("WouldBlock before any Partial (message {i})"),
            other => panic!("unexpected {other:?}"),
        }
    }
    panic!("{MAX_CHUNKS} messages of {CHUNK} bytes never filled the socket");
}

/// Reads `n` filler messages and then `extra` more, checking the fillers' order and
/// contents; returns the codes and payloads of the extra ones.
fn read_back(mut remote: Conn, n: usize, extra: usize) -> Vec<(u64, Vec<u8>)> {
    for i in 0..n {
        let msg = remote.read_msg().unwrap();
        assert_eq!(msg.code, 0x10, "message {i}");
        assert!(msg.data == chunk(i).as_slice(), "payload of message {i}");
    }
    (0..extra)
        .map(|_| {
            let msg = remote.read_msg().unwrap();
            (msg.code, msg.data.to_vec())
        })
        .collect()
}

#[test]
fn try_write_on_an_idle_socket_is_done() {
    within(secs(60), || {
        let (t, mut remote) = transport_pair(Timeouts::default());
        assert!(matches!(
            t.try_write_msg(Msg::new(0x02, vec![0xc0])).unwrap(),
            TryWrite::Done
        ));
        // Nothing kept: flush has nothing to do.
        t.flush().unwrap();
        let msg = remote.read_msg().unwrap();
        assert_eq!((msg.code, msg.data), (0x02, &[0xc0][..]));
    });
}

#[test]
fn partial_write_is_completed_by_flush_in_order() {
    within(secs(120), || {
        let (t, remote) = transport_pair(Timeouts::default());
        let n = fill_until_partial(&t);
        // The rest of the partial frame still does not fit: the next message comes back.
        match t.try_write_msg(Msg::new(0x02, vec![0xc0])).unwrap() {
            TryWrite::WouldBlock(msg) => assert_eq!(msg.code, 0x02),
            other => panic!("expected WouldBlock, got {other:?}"),
        }
        let reader = thread::spawn(move || read_back(remote, n, 1));
        t.flush().unwrap();
        t.write_msg(Msg::new(0x03, vec![0xc0])).unwrap();
        let extra = reader.join().unwrap();
        assert_eq!(extra, vec![(0x03, vec![0xc0])]);
    });
}

#[test]
fn partial_write_is_completed_by_the_next_write_msg() {
    within(secs(120), || {
        let (t, remote) = transport_pair(Timeouts::default());
        let n = fill_until_partial(&t);
        let reader = thread::spawn(move || read_back(remote, n, 2));
        // No flush: the next blocking write sends the kept bytes first.
        t.write_msg(Msg::new(0x11, b"after".to_vec())).unwrap();
        t.write_msg(Msg::new(0x12, b"last".to_vec())).unwrap();
        let extra = reader.join().unwrap();
        assert_eq!(
            extra,
            vec![(0x11, b"after".to_vec()), (0x12, b"last".to_vec())]
        );
    });
}

#[test]
fn try_write_sends_kept_bytes_first_once_they_fit() {
    within(secs(120), || {
        let (t, remote) = transport_pair(Timeouts::default());
        let n = fill_until_partial(&t);
        let reader = thread::spawn(move || read_back(remote, n, 1));
        // Once the remote reads, the kept bytes go and the new message is sealed after them.
        let deadline = Instant::now() + secs(60);
        let mut msg = Msg::new(0x02, vec![0xc0]);
        loop {
            match t.try_write_msg(msg).unwrap() {
                TryWrite::WouldBlock(back) => msg = back,
                TryWrite::Done => break,
                TryWrite::Partial => {
                    t.flush().unwrap();
                    break;
                }
                other => panic!("unexpected {other:?}"),
            }
            assert!(Instant::now() < deadline, "kept bytes never drained");
            thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(reader.join().unwrap(), vec![(0x02, vec![0xc0])]);
    });
}

#[test]
fn disconnect_on_shutdown_follows_the_kept_bytes() {
    within(secs(120), || {
        // Small buffers: what the remote must read before the Disconnect is little, so that
        // it gets through within the Disconnect's fixed 1 s write deadline under load.
        let (t, remote) = transport_pair_with(Timeouts::default(), true);
        let n = fill_until_partial(&t);
        let reader = thread::spawn(move || read_back(remote, n, 1));
        t.shutdown(&Error::Disconnected(DiscReason::TOO_MANY_PEERS));
        let extra = reader.join().unwrap();
        assert_eq!(extra[0].0, 0x01, "a Disconnect after the kept bytes");
        assert_eq!(extra[0].1, DiscReason::TOO_MANY_PEERS.encode());
    });
}

#[test]
fn flush_fails_at_the_write_deadline() {
    within(secs(120), || {
        let timeouts = Timeouts {
            write: Duration::from_millis(300),
            ..Timeouts::default()
        };
        let (t, _remote) = transport_pair(timeouts);
        fill_until_partial(&t);
        // The remote never reads: the kept bytes cannot go.
        let err = t.flush().unwrap_err();
        assert!(matches!(&err, Error::Rlpx(e) if e.is_timeout()), "{err:?}");
    });
}

#[test]
fn try_write_after_shutdown_fails() {
    within(secs(60), || {
        let (t, _remote) = transport_pair(Timeouts::default());
        t.shutdown(&Error::Eof);
        let err = t.try_write_msg(Msg::new(0x02, vec![0xc0])).unwrap_err();
        assert!(matches!(err, Error::ShuttingDown), "{err:?}");
        t.flush().unwrap(); // nothing kept
    });
}

#[test]
fn try_write_fails_once_the_remote_has_gone() {
    within(secs(60), || {
        let (t, remote) = transport_pair(Timeouts::default());
        drop(remote);
        // The first sends may still be taken; once the remote's reset is back they fail.
        let deadline = Instant::now() + secs(30);
        loop {
            match t.try_write_msg(Msg::new(0x02, vec![0xc0])) {
                Err(Error::Rlpx(RlpxError::Io(_))) => break,
                Err(e) => panic!("unexpected error {e:?}"),
                Ok(TryWrite::Done) => {}
                Ok(other) => panic!("unexpected {other:?}"),
            }
            assert!(
                Instant::now() < deadline,
                "writes to a closed peer kept succeeding"
            );
            thread::sleep(Duration::from_millis(5));
        }
    });
}

#[test]
fn conn_writer_try_write_over_a_unix_socket() {
    #[cfg(unix)]
    within(secs(120), || {
        use std::os::unix::net::UnixStream;
        let (a, b) = UnixStream::pair().unwrap();
        let key_b = SecretKey::random();
        let pub_b = key_b.public_key();
        let remote = thread::spawn(move || {
            let mut conn = Conn::new(b, None);
            conn.handshake(&key_b).unwrap();
            conn
        });
        let mut conn = Conn::new(a, Some(pub_b));
        conn.handshake(&SecretKey::random()).unwrap();
        let mut remote = remote.join().unwrap();
        let (_reader, mut writer) = conn.split().unwrap();
        let mut sealed = 0;
        loop {
            assert!(sealed < MAX_CHUNKS, "the socket never filled");
            let outcome = writer.try_write_msg(0x10, &chunk(sealed)).unwrap();
            sealed += 1;
            if outcome == TrySend::Partial {
                break;
            }
            assert_eq!(outcome, TrySend::Done);
        }
        assert!(writer.unsent() > 0);
        assert_eq!(
            writer.try_write_msg(0x02, &[0xc0]).unwrap(),
            TrySend::WouldBlock
        );
        let reader = thread::spawn(move || {
            for i in 0..sealed {
                let msg = remote.read_msg().unwrap();
                assert_eq!((msg.code, msg.data), (0x10, chunk(i).as_slice()));
            }
            remote.read_msg().unwrap().code
        });
        writer.flush().unwrap();
        assert_eq!(writer.unsent(), 0);
        writer.write_msg(0x02, &[0xc0]).unwrap();
        assert_eq!(reader.join().unwrap(), 0x02);
    });
}
