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
#[path = "common/stack_paint.rs"]
mod stack_paint;

use std::thread;
use std::time::{Duration, Instant};

use common::*;
use crossbeam_channel::{bounded, Sender};
use devp2p_peer::rlpx::SecretKey;
use devp2p_peer::*;
use stack_paint::{below_caller, deepest_change, mapping, paint};

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
        // The thread is alive while this runs: its stack is mapped.
        self.top - deepest_change(self.lo, self.hi)
    }
}

/// Paints the calling thread's stack below its frame.
#[inline(never)]
fn paint_below() -> Painted {
    let here = below_caller();
    let (lo, top) = mapping(here);
    // Above the lowest page (a guard where the platform puts one inside the mapping), and
    // below this function's frame and those of the calls it makes.
    let (lo, hi) = ((lo + 4096) & !7, (here - 1024) & !7);
    paint(lo, hi);
    Painted { lo, hi, top }
}

fn hello(key: &SecretKey, name: &str) -> Hello {
    Hello::new(name, vec![Cap::new("tst", 1)], key.public_key().to_bytes())
}

/// How a peer under test is set up: `node listen` runs its echo protocol with an event feed.
#[derive(Clone, Copy, Debug)]
enum Setup {
    /// A small protocol that reads one message; no event feed.
    Plain,
    /// `node listen`'s configuration: its echo protocol, wrapped in the event feed's
    /// message events (`MsgEventer`).
    NodeEcho,
}

/// Stack depths in bytes, counted from the top of each thread's stack mapping.
#[derive(Debug)]
struct Depths {
    supervisor: usize,
    /// The protocol thread (the reader), after it answered the remote's Ping itself.
    protocol: usize,
}

/// The protocol of `setup`; it sends its painted stack to `painted` first.
fn protocol(setup: Setup, painted: Sender<Painted>, read_tx: Sender<u64>) -> Protocol {
    match setup {
        Setup::Plain => Protocol::new("tst", 1, 4, move |_peer, rw| {
            painted.send(paint_below()).unwrap();
            let msg = rw.read_msg()?;
            read_tx.send(msg.code).unwrap();
            // Ends with the peer (Eof).
            rw.read_msg()?;
            Ok(())
        }),
        // As `echo_protocol` in examples/node.rs.
        Setup::NodeEcho => Protocol::new("tst", 1, 4, move |_peer, rw| {
            painted.send(paint_below()).unwrap();
            loop {
                let mut msg = rw.read_msg()?;
                let data = msg.payload.consume().to_vec();
                rw.write_msg(Msg::new(msg.code, data))?;
            }
        }),
    }
}

/// Runs a peer of `setup` over RLPx: the supervisor's Pings are answered, the remote's Ping
/// gets its Pong (written by the protocol thread, which reads), and then one protocol
/// message goes through. Returns the depths after the Ping rounds.
fn ping_rounds(setup: Setup) -> Depths {
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

    // The protocol paints its stack, then reads (holding the read role, so that it reads the
    // remote's Ping and writes the Pong).
    let (proto_tx, proto_rx) = bounded::<Painted>(1);
    let (read_tx, read_rx) = bounded::<u64>(1);
    let feed = EventFeed::new();
    let events = feed.subscribe();
    // The supervisor's own Ping: soon after the start, then not again during the test.
    let config = PeerConfig {
        ping_interval: Duration::from_millis(300),
        stack_size: None,
        events: match setup {
            Setup::Plain => None,
            Setup::NodeEcho => Some(feed),
        },
    };
    let peer = ours
        .into_peer(
            &got,
            &[protocol(setup, proto_tx, read_tx)],
            ConnFlags::default(),
            config,
        )
        .unwrap();
    let ours = peer.clone();
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
            "{setup:?}: ping {pings}: supervisor {} protocol {}",
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
    let depths = Depths {
        supervisor: sup.depth(),
        protocol: proto.depth(),
    };
    eprintln!(
        "{setup:?}: stack depth, bytes: supervisor {started} after the start, {} after its \
         Pings; protocol thread {} idle, {} after answering a Ping",
        idle.0, idle.1, depths.protocol
    );

    // A protocol message reaches the protocol (and, with the echo protocol, comes back).
    remote
        .write_msg(Msg::new(0x10, vec![0xc2, 0x01, 0x02]))
        .unwrap();
    match setup {
        Setup::Plain => assert_eq!(read_rx.recv_timeout(secs(10)).unwrap(), 0x00),
        Setup::NodeEcho => loop {
            assert!(Instant::now() < deadline, "no echo came");
            let mut msg = remote.read_msg().unwrap();
            match msg.code {
                0x02 => remote.write_msg(Msg::new(0x03, vec![0xc0])).unwrap(),
                0x10 => {
                    assert_eq!(msg.payload.consume(), [0xc2, 0x01, 0x02]);
                    break;
                }
                code => panic!("unexpected message {code:#x}"),
            }
        },
    }
    eprintln!(
        "{setup:?}: protocol thread {} after a protocol message",
        proto.depth()
    );
    ours.disconnect(DiscReason::REQUESTED);
    let (_, err) = within(secs(20), move || supervisor.join().unwrap());
    assert!(
        matches!(err, Error::Disconnected(DiscReason::REQUESTED)),
        "{err}"
    );
    if let Setup::NodeEcho = setup {
        // The feed carried the peer's events: the echo protocol's message both ways.
        let kinds: Vec<PeerEventType> = events.try_iter().map(|e| e.kind).collect();
        assert!(kinds.contains(&PeerEventType::MsgRecv), "{kinds:?}");
    }
    drop(remote);
    depths
}

/// Bytes each thread may go below the top of its stack: two pages of 4 KiB each (the thread
/// block and the frames below it).
const TWO_PAGES: usize = 8192;

/// What the protocol thread must leave spare on its second page after a Ping round, so that
/// a slightly different build (another thread block size, other inlining) stays on it.
const MARGIN: usize = 512;

/// Both threads within two stack pages, the protocol thread with [`MARGIN`] to spare
/// (optimised builds only: unoptimised frames are far larger).
fn assert_within_two_pages(depths: Depths) {
    if !cfg!(debug_assertions) {
        assert!(depths.supervisor <= TWO_PAGES, "supervisor: {depths:?}");
        assert!(
            depths.protocol + MARGIN <= TWO_PAGES,
            "protocol thread: {depths:?}"
        );
    }
}

#[test]
fn an_idle_peers_threads_stay_within_two_stack_pages() {
    assert_within_two_pages(ping_rounds(Setup::Plain));
}

/// `node listen`'s configuration: the echo protocol with the event feed on. Its protocol
/// thread stays within two pages, with a margin, after answering a Ping.
#[test]
fn node_listens_idle_threads_stay_within_two_stack_pages() {
    assert_within_two_pages(ping_rounds(Setup::NodeEcho));
}
