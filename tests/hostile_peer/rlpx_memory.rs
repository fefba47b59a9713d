//! Memory and time a remote can make a listening server commit: frames announcing more than
//! they carry, snappy lengths the input cannot produce, and a remote that completes the
//! encryption handshake but never sends its Hello.
//!
//! Memory is measured as the process's peak resident size (`VmHWM`, reset through
//! `/proc/self/clear_refs`) while the server handles the hostile input: the buffers are zero
//! filled when they grow, so memory committed shows up there even if it is freed again.

use std::io::Write;
use std::net::Shutdown;
use std::time::{Duration, Instant};

use devp2p_peer::rlpx::{Conn, RlpxError, Timeouts, MAX_FRAME_SIZE};
use devp2p_peer::{Cap, Hello, ServerConfig, HANDSHAKE_MSG};

use crate::support::*;

const MIB: u64 = 1 << 20;

/// A field of `/proc/self/status`, in bytes.
fn status_bytes(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    let line = status
        .lines()
        .find(|l| l.starts_with(field))
        .unwrap_or_else(|| panic!("no {field} in /proc/self/status"));
    let kb: u64 = line[field.len() + 1..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .expect("a number of kB");
    kb * 1024
}

/// Resets the peak resident size to the current one and returns it.
fn reset_peak() -> u64 {
    std::fs::write("/proc/self/clear_refs", "5").expect("reset VmHWM");
    status_bytes("VmHWM:")
}

/// How far the peak resident size rose above `base`.
fn peak_rise(base: u64) -> u64 {
    status_bytes("VmHWM:").saturating_sub(base)
}

fn hostile_config(name: &str) -> ServerConfig {
    test_config(name, vec![discard()])
}

/// Reads generously: the server must act well before this.
fn patient(conn: &mut Conn) {
    conn.set_timeouts(Timeouts {
        read: Duration::from_secs(15),
        write: Duration::from_secs(15),
        ..Timeouts::default()
    });
}

/// A raw client that has completed the encryption handshake and the Hello exchange (snappy on,
/// as both sides speak version 5).
fn past_hello(server: &devp2p_peer::Server) -> Conn {
    let (mut conn, key) = raw_handshake(server);
    patient(&mut conn);
    let ours = Hello::new(
        "hostile",
        vec![Cap::new("discard", 1)],
        key.public_key().to_bytes(),
    );
    conn.write_msg(HANDSHAKE_MSG, &rlp::encode(&ours)).unwrap();
    assert_eq!(conn.read_msg().expect("server's Hello").code, HANDSHAKE_MSG);
    conn.set_snappy(true);
    conn
}

/// Reads until the server ends the connection; fails on a read timeout (the server held it).
fn wait_for_the_end(conn: &mut Conn) -> RlpxError {
    loop {
        match conn.read_msg() {
            Ok(msg) => assert!(msg.code < 16, "unexpected message {msg:?}"),
            Err(e) => {
                assert!(!e.is_timeout(), "the server kept the connection open");
                return e;
            }
        }
    }
}

/// Writes a MAC-valid frame header announcing 0xFFFFFF bytes, then `body` bytes of it. Write
/// errors after the header are ignored: the server may already have closed.
fn send_huge_header(conn: &mut Conn, body: usize) {
    let header = conn.seal_frame_header(MAX_FRAME_SIZE).unwrap();
    let mut stream = conn.stream();
    stream.write_all(&header).unwrap();
    let _ = stream.write_all(&vec![0x5a; body]);
}

#[test]
fn huge_frame_before_the_hello_is_refused_on_its_header() {
    let _g = serial();
    let usage = Usage::now();
    let mut config = hostile_config("pre-hello");
    // A long handshake deadline: the size limit, not the deadline, must end this.
    config.handshake_timeout = Duration::from_secs(20);
    let server = started(config);

    let base = reset_peak();
    let (mut conn, _key) = raw_handshake(&server);
    patient(&mut conn);
    // The server's Hello is written while it waits for ours.
    assert_eq!(conn.read_msg().unwrap().code, HANDSHAKE_MSG);
    send_huge_header(&mut conn, 1000);
    let end = wait_for_the_end(&mut conn);
    let rise = peak_rise(base);
    eprintln!(
        "huge header before Hello: peak +{} KiB, ended by {end}",
        rise / 1024
    );
    assert!(rise < 8 * MIB, "peak memory rose by {rise} bytes");

    assert_eq!(server.peer_count(), 0);
    drop(conn);
    server.stop();
    usage.wait_back(Duration::from_secs(20));
}

#[test]
fn huge_frame_after_the_hello_commits_only_what_arrived() {
    let _g = serial();
    let usage = Usage::now();
    let server = started(hostile_config("post-hello"));
    let mut conns: Vec<Conn> = (0..4).map(|_| past_hello(&server)).collect();
    wait_until("all peers added", Duration::from_secs(20), || {
        server.peer_count() == conns.len()
    });

    let base = reset_peak();
    for conn in &mut conns {
        // 256 KiB of the announced 16 MiB, then the end of the stream: each server-side
        // reader has taken what arrived once its peer is gone.
        send_huge_header(conn, 256 * 1024);
        conn.stream().shutdown(Shutdown::Write).unwrap();
    }
    wait_until("peers dropped", Duration::from_secs(20), || {
        server.peer_count() == 0
    });
    let rise = peak_rise(base);
    eprintln!(
        "4 headers announcing 16 MiB, 256 KiB sent each: peak +{} KiB",
        rise / 1024
    );
    assert!(rise < 12 * MIB, "peak memory rose by {rise} bytes");

    drop(conns);
    server.stop();
    usage.wait_back(Duration::from_secs(20));
}

/// A snappy varint length preamble.
fn snappy_preamble(mut n: u32) -> Vec<u8> {
    let mut out = Vec::new();
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
    out
}

#[test]
fn snappy_length_the_input_cannot_produce_is_refused_before_allocating() {
    let _g = serial();
    let usage = Usage::now();
    let server = started(hostile_config("snappy"));
    let mut conns: Vec<Conn> = (0..4).map(|_| past_hello(&server)).collect();
    wait_until("all peers added", Duration::from_secs(20), || {
        server.peer_count() == conns.len()
    });

    let base = reset_peak();
    // Code 0x10, then 8 bytes of snappy that declare 0xFFFFFF bytes of output.
    let mut content = vec![0x10];
    content.extend_from_slice(&snappy_preamble(0xFF_FFFF));
    content.extend_from_slice(&[0x00, 0x41, 0x01, 0x00]);
    assert_eq!(content.len(), 9);
    for conn in &mut conns {
        let frame = conn.seal_raw_frame(&content).unwrap().to_vec();
        conn.stream().write_all(&frame).unwrap();
    }
    for conn in &mut conns {
        let end = wait_for_the_end(conn);
        eprintln!("snappy bomb: ended by {end}");
    }
    wait_until("peers dropped", Duration::from_secs(20), || {
        server.peer_count() == 0
    });
    let rise = peak_rise(base);
    eprintln!("4 snappy bombs: peak +{} KiB", rise / 1024);
    assert!(rise < 8 * MIB, "peak memory rose by {rise} bytes");

    drop(conns);
    server.stop();
    usage.wait_back(Duration::from_secs(20));
}

#[test]
fn silent_remote_is_cut_at_the_handshake_timeout_and_frees_its_slot() {
    let _g = serial();
    let usage = Usage::now();
    let mut config = hostile_config("no-hello");
    config.max_pending_peers = 1;
    let handshake_timeout = config.handshake_timeout;
    let server = started(config);

    // Encryption handshake done, then nothing: no Hello.
    let (mut conn, _key) = raw_handshake(&server);
    patient(&mut conn);
    assert_eq!(conn.read_msg().unwrap().code, HANDSHAKE_MSG);
    let start = Instant::now();
    let end = wait_for_the_end(&mut conn);
    eprintln!(
        "silent remote cut after {:?} (handshake timeout {handshake_timeout:?}): {end}",
        start.elapsed()
    );

    // The only pending slot is free again: a well-behaved client gets in.
    let (t, hello) = client_connect(
        &server,
        &devp2p_peer::rlpx::SecretKey::random(),
        vec![Cap::new("discard", 1)],
    )
    .expect("a normal client after the silent one");
    assert_eq!(hello.name, "no-hello");
    wait_until("peer added", Duration::from_secs(20), || {
        server.peer_count() == 1
    });

    drop(t);
    drop(conn);
    server.stop();
    usage.wait_back(Duration::from_secs(20));
}
