//! How deep an idle RLPx peer's two threads go: the supervisor (the caller of `Peer::run`)
//! and the protocol thread, which holds the read role. Every stack page a thread touches
//! stays resident for its life, and glibc keeps its thread block (about 4.4 KiB) at the top
//! of each stack, so a thread stays at two pages only if it never goes deeper than about
//! 3.7 KiB below that block.
//!
//! Measured by painting each thread's free stack with a pattern and finding the deepest
//! word changed after startup, a Ping from the remote (answered by the protocol thread,
//! which reads) and a Ping of the supervisor's own (its timer), counted from the top of the
//! stack's mapping.
#![cfg(feature = "rlpx")]

mod common;

use std::thread;
use std::time::{Duration, Instant};

use common::*;
use crossbeam_channel::bounded;
use devp2p_peer::rlpx::SecretKey;
use devp2p_peer::*;

const PAINT: u64 = 0xA5A5_A5A5_5A5A_5A5A;

/// The painted part of a thread's stack: `[lo, hi)`, and the top of its mapping.
#[derive(Clone, Copy, Debug)]
struct Painted {
    lo: usize,
    hi: usize,
    top: usize,
}

impl Painted {
    /// Bytes from the top of the stack's mapping to the deepest word changed.
    fn depth(&self) -> usize {
        let deepest = (self.lo..self.hi)
            .step_by(8)
            // SAFETY: the range is mapped for the process's life (the thread is alive
            // while this runs), and read without a reference.
            .find(|&a| unsafe { std::ptr::read_volatile(a as *const u64) } != PAINT)
            .unwrap_or(self.hi);
        self.top - deepest
    }
}

/// The mapping of this process that holds `addr`.
fn mapping(addr: usize) -> (usize, usize) {
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
    for line in maps.lines() {
        let range = line.split_whitespace().next().unwrap();
        let (lo, hi) = range.split_once('-').unwrap();
        let lo = usize::from_str_radix(lo, 16).unwrap();
        let hi = usize::from_str_radix(hi, 16).unwrap();
        if (lo..hi).contains(&addr) {
            return (lo, hi);
        }
    }
    panic!("no mapping holds the stack address {addr:#x}");
}

#[inline(never)]
fn below_caller() -> usize {
    let marker = 0u8;
    std::hint::black_box(std::ptr::addr_of!(marker)) as usize
}

/// Paints the calling thread's stack below its frame.
#[inline(never)]
fn paint_below() -> Painted {
    let here = below_caller();
    let (lo, top) = mapping(here);
    // Above the lowest page (a guard where the platform puts one inside the mapping), and
    // below this function's frame and those of the calls it makes.
    let (lo, hi) = ((lo + 4096) & !7, (here - 1024) & !7);
    for a in (lo..hi).step_by(8) {
        // SAFETY: [lo, hi) is mapped, writable, and below every live frame of this thread.
        unsafe { std::ptr::write_volatile(a as *mut u64, PAINT) };
    }
    Painted { lo, hi, top }
}

fn hello(key: &SecretKey, name: &str) -> Hello {
    Hello::new(name, vec![Cap::new("tst", 1)], key.public_key().to_bytes())
}

#[test]
fn an_idle_peers_threads_stay_within_two_stack_pages() {
    let (ours, our_key, theirs, their_key) = rlpx_transport_pair();
    let hs = thread::spawn(move || {
        let got = theirs
            .protocol_handshake(&hello(&their_key, "remote"))
            .unwrap();
        (theirs, got)
    });
    let got = ours.protocol_handshake(&hello(&our_key, "local")).unwrap();
    let (remote, _) = within(secs(10), move || hs.join().unwrap());
    assert_eq!(got.version, 5, "snappy on, as with go-ethereum");

    // The protocol paints its stack, reads (holding the read role, so that it reads the
    // remote's Ping and writes the Pong), and returns once the remote's message came.
    let (proto_tx, proto_rx) = bounded::<Painted>(1);
    let (read_tx, read_rx) = bounded::<u64>(1);
    let (finish_tx, finish_rx) = bounded::<()>(1);
    let proto = Protocol::new("tst", 1, 4, move |_peer, rw| {
        proto_tx.send(paint_below()).unwrap();
        let msg = rw.read_msg()?;
        read_tx.send(msg.code).unwrap();
        let _ = finish_rx.recv_timeout(secs(60));
        Ok(())
    });
    // The supervisor's own Ping: soon after the start, then not again during the test.
    let config = PeerConfig {
        ping_interval: Duration::from_millis(300),
        stack_size: None,
        events: None,
    };
    let peer = ours
        .into_peer(&got, &[proto], ConnFlags::default(), config)
        .unwrap();
    let (sup_tx, sup_rx) = bounded::<Painted>(1);
    let supervisor = thread::Builder::new()
        .name("supervisor".into())
        .spawn(move || {
            sup_tx.send(paint_below()).unwrap();
            peer.run()
        })
        .unwrap();
    let sup = sup_rx.recv_timeout(secs(10)).unwrap();
    let proto = proto_rx.recv_timeout(secs(10)).unwrap();
    let started = sup.depth();

    // The supervisor's Ping arrives; the remote's Ping is answered by the reader.
    let deadline = Instant::now() + secs(20);
    let mut pings = 0;
    while pings < 2 {
        assert!(
            Instant::now() < deadline,
            "the supervisor's Pings did not come"
        );
        let msg = remote.read_msg().unwrap();
        eprintln!(
            "ping {pings}: supervisor {} protocol {}",
            sup.depth(),
            proto.depth()
        );
        match msg.code {
            0x02 => {
                pings += 1;
                remote.write_msg(Msg::new(0x03, vec![0xc0])).unwrap();
            }
            code => panic!("unexpected message {code:#x}"),
        }
    }
    let idle = (sup.depth(), proto.depth());
    // The remote's Ping: its Pong comes (the supervisor's Pings may come before it).
    remote.write_msg(Msg::new(0x02, vec![0xc0])).unwrap();
    loop {
        assert!(Instant::now() < deadline, "no Pong came");
        match remote.read_msg().unwrap().code {
            0x02 => remote.write_msg(Msg::new(0x03, vec![0xc0])).unwrap(),
            0x03 => break,
            code => panic!("unexpected message {code:#x}"),
        }
    }
    remote.write_msg(Msg::new(0x10, vec![0xc0])).unwrap();
    assert_eq!(read_rx.recv_timeout(secs(10)).unwrap(), 0x00);

    let (sup_depth, proto_depth) = (sup.depth(), proto.depth());
    eprintln!(
        "stack depth, bytes: supervisor {started} after the start, {} after its Pings; \
         protocol thread {} idle, {proto_depth} after answering a Ping",
        idle.0, idle.1
    );
    finish_tx.send(()).unwrap();
    let (_, err) = within(secs(20), move || supervisor.join().unwrap());
    assert!(matches!(err, Error::ProtocolReturned), "{err}");
    drop(remote);

    if !cfg!(debug_assertions) {
        // Two pages of 4 KiB each: the thread block and the frames below it.
        assert!(sup_depth <= 8192, "supervisor: {sup_depth} bytes");
        assert!(proto_depth <= 8192, "protocol thread: {proto_depth} bytes");
    }
}
