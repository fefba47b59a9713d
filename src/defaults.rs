//! Every default, and why it is what it is.
//!
//! The values follow go-ethereum's, because interoperating peers tune their own timers
//! against them; where other clients differ, the difference is noted.
//!
//! | what | value | where | why |
//! |---|---|---|---|
//! | Ping interval | 15 s | [`PING_INTERVAL`](crate::PING_INTERVAL), [`PeerConfig::ping_interval`](crate::PeerConfig::ping_interval) | geth's interval; a remote's pings keep our 30 s read deadline from firing on an idle but healthy link. reth pings every 60 s, OpenEthereum every 120 s. There is no pong timeout: liveness is the read deadline, as in geth. |
//! | Pong requests queued | 16 | peer | A burst of Pings is answered without holding the reader; beyond 16 queued for the control writer (and 16 more in the channel) the reader waits. |
//! | Read deadline per message | 30 s | [`rlpx::READ_TIMEOUT`](crate::rlpx::READ_TIMEOUT) | How long a connection may be silent. Covers the whole frame, not one system call, so a remote trickling bytes cannot hold a reader forever. |
//! | Write deadline per message | 20 s | [`rlpx::WRITE_TIMEOUT`](crate::rlpx::WRITE_TIMEOUT) | Long enough for a 16 MiB message on a slow link (a 5 s limit once dropped honest peers moving 2 MB responses); short enough to notice a dead one. |
//! | Encryption handshake deadline | 5 s | [`rlpx::HANDSHAKE_TIMEOUT`](crate::rlpx::HANDSHAKE_TIMEOUT) | The whole auth/ack exchange, and again the whole Hello exchange after it ([`RlpxTransport::protocol_handshake`](crate::rlpx::RlpxTransport::protocol_handshake); geth reads the Hello under its 30 s read deadline). A remote that withholds its Hello gets no more of a pending slot. (reth: 10 s.) |
//! | Disconnect write on close | 1 s | [`DISC_WRITE_TIMEOUT`](crate::DISC_WRITE_TIMEOUT) | Best effort: a write in flight is let finish first (bounded by its own write deadline), as in geth, then the reason is offered, then the socket is closed whatever happens. Not sent after a network error. No 2 s grace wait (the spec suggests one; geth does not). |
//! | Hello size | 2 KiB | [`BASE_PROTOCOL_MAX_MSG_SIZE`](crate::BASE_PROTOCOL_MAX_MSG_SIZE) | A Hello is a few hundred bytes; anything larger before authentication is refused. Over RLPx, a frame header announcing more ends the connection before its body is read. |
//! | Auth/ack packet size | 2 KiB | [`rlpx::wire::MAX_PACKET_SIZE`](crate::rlpx::wire::MAX_PACKET_SIZE) | Checked on the size prefix, before the body is read. |
//! | Frame and message size | 16 MiB − 1 | [`rlpx::MAX_FRAME_SIZE`](crate::rlpx::MAX_FRAME_SIZE) | The 3-byte frame size field; also the limit on a snappy message's declared decompressed length, checked **before** allocating, as is a declared length its compressed bytes cannot produce (at most 64 output bytes per 3 input bytes). The read buffer grows as bytes arrive, not to the size a header announces. |
//! | Frame buffers kept between messages | up to 64 KiB | [`rlpx::wire::RELEASE_ABOVE`](crate::rlpx::wire::RELEASE_ABOVE) | Ordinary messages reuse the buffers without allocating; a buffer grown past this for a large message is given back once that message is consumed (a run of large messages reuses one until the first small message after it), so an idle peer does not hold the largest message it ever carried. The read buffer starts at 1 KiB, doubles up to 16 KiB while reads fill it and returns to 1 KiB after 16 sparse reads. |
//! | Written large payloads kept for reading | 2 per connection | [`RlpxTransport`](crate::rlpx::RlpxTransport) | While the messages read are larger than 64 KiB, the vector of each message over 64 KiB that `write_msg` sends (capacity at most twice its length) is kept, and the next large message read goes into it (if it needs at least half its capacity) instead of a fresh, zero-filled allocation: an echo reuses its vectors. With one kept, about one large message in six still found none free in a pipelined 1 MiB echo; with two, about one in a hundred. The first small message read lets them go, and a connection that reads small requests keeps none of its large answers. |
//! | Snappy | when the remote's Hello version ≥ 5 | [`rlpx::SNAPPY_PROTOCOL_VERSION`](crate::rlpx::SNAPPY_PROTOCOL_VERSION) | Every message after Hello, base-protocol ones included. |
//! | Sub-protocol codes | from 16 | [`BASE_PROTOCOL_LENGTH`](crate::BASE_PROTOCOL_LENGTH) | 0–15 belong to the base protocol; unknown ones are ignored. |
//! | Inbound delivery | rendezvous (capacity 0) | peer | A slow protocol slows its connection instead of growing a queue: memory per peer stays bounded however fast the remote sends. |
//! | Write token | one, capacity 1 | peer | At most one protocol write at a time, and none after a failed one. |
//! | Disconnect reason on the wire | `[reason]` (list) | [`DiscReason::encode`](crate::DiscReason::encode) | The spec's form; the bare legacy form is accepted on input. |
//! | Client name in `Peer::name` | 20 bytes + `...` | [`Peer::name`](crate::Peer::name) | Keeps log lines short; [`Peer::full_name`](crate::Peer::full_name) has it all. |
//! | TCP_NODELAY | on | [`rlpx::Conn`](crate::rlpx::Conn) | Small messages (pings, requests) go out at once instead of waiting up to 40 ms for Nagle's algorithm; bulk throughput of small messages is lower with it (see the README's numbers). |
//!
//! # The server (feature `rlpx`)
//!
//! | what | value | where | why |
//! |---|---|---|---|
//! | Max peers | 50 | [`ServerConfig::max_peers`](crate::ServerConfig::max_peers) | geth's default. Trusted nodes do not count against it (nothing else about them changes). |
//! | Dial ratio | 3 | [`DEFAULT_DIAL_RATIO`](crate::DEFAULT_DIAL_RATIO) | At most `max_peers / 3` dialed peers (at least 1), so `max_peers - max_peers / 3` slots are inbound: 34 of 50, while the server has something to dial (static nodes or discovery). A listen-only server keeps no dial slots and admits `max_peers` inbound. The reserve keeps a dialing node from being filled by whoever connects first. |
//! | Pending handshakes | 50 | [`DEFAULT_MAX_PENDING_PEERS`](crate::DEFAULT_MAX_PENDING_PEERS) | Bounds the CPU a burst of inbound handshakes can take (each costs a few hundred µs of elliptic-curve work). |
//! | Dial timeout | 15 s | [`DEFAULT_DIAL_TIMEOUT`](crate::DEFAULT_DIAL_TIMEOUT) | TCP connect to a static node. |
//! | Handshake timeout | 5 s | [`DEFAULT_HANDSHAKE_TIMEOUT`](crate::DEFAULT_HANDSHAKE_TIMEOUT) | As RLPx's. |
//! | Redial back-off | 1 s, doubling to 35 s | [`DEFAULT_REDIAL_BACKOFF`](crate::DEFAULT_REDIAL_BACKOFF), [`DEFAULT_MAX_REDIAL_BACKOFF`](crate::DEFAULT_MAX_REDIAL_BACKOFF) | A static node that is down is retried without hammering it; 35 s is geth's dial-history expiry. |
//! | Inbound throttle | 30 s per IP | [`INBOUND_THROTTLE_TIME`](crate::INBOUND_THROTTLE_TIME) | One inbound attempt per remote IP per 30 s, for public addresses only (loopback and LAN peers are never throttled). |
//! | Accept errors | back off 200 ms | server | A temporary error (out of file descriptors) must not spin the accept loop. |
//! | Dials in their setup at once | pending handshakes (50) | server | geth's active-dial limit; the thread budget keeps a thread for each. |
//! | Thread budget | computed from the machine (≈ 12,200 threads with `vm.max_map_count` 65,530) | [`ServerConfig::max_threads`](crate::ServerConfig::max_threads), [`Server::thread_budget`](crate::Server::thread_budget) | See *Threads* below. Past it a connection is refused with "too many peers", trusted or not, logged once (again after the threads in use fall below nine tenths of it). |
//! | Setup reserve | 50 threads when listening, 50 more when dialing | server | One per pending-handshake slot and per concurrent dial, taken from the budget before peers, so a refusal always has a thread to run its handshake and send its reason. |
//! | Giving freed memory back | after 64 connections ended, or the last peer left; at most once a second | server | glibc keeps the memory peers freed (about 30 MB after 1,000 left); the run loop calls `malloc_trim(0)` (Linux with glibc only), which costs about 3 ms when it releases 9 MB and 40 µs when there is nothing to release. |
//! | Connection thread stack | 1.5 MiB (unless [`ServerConfig::stack_size`](crate::ServerConfig::stack_size)) | server | Ample for the handshakes (about 72 KiB touched), and on purpose a size no peer thread asks for: glibc gives an ended thread's stack, with 16 KiB of it still resident, to a new thread of a quarter of its size up to all of it. With one size, a peer's supervisor or protocol thread often started on an ended handshake's stack: 24 KiB resident instead of 8. |
//! | Connection threads | joined as they end | server | Each connection thread's last act tells the server's run loop, which joins it at once: an ended connection keeps no stack or mapping. |
//! | Discovery | on when bootnodes are given | [`ServerConfig::discovery`](crate::ServerConfig::discovery), [`ServerConfig::bootnodes`](crate::ServerConfig::bootnodes) | geth's behaviour; forced on or off with `Some(bool)`. Found nodes fill the dial slots the static nodes leave. |
//! | Discovery address | the listen IP and TCP port, over UDP | [`ServerConfig::discovery_addr`](crate::ServerConfig::discovery_addr) | geth's default: one port number for both. |
//! | Dial history | 35 s | server | A node found by discovery is not dialed again within 35 s of the last dial (geth's `dialHistoryExpiration`), connected or not; a node without a TCP port is never dialed. |
//! | Peer events | `add` before the peer runs, `drop` after it left [`Server::peers`](crate::Server::peers) | [`Server::subscribe_events`](crate::Server::subscribe_events) | geth's order: a subscriber never finds a dropped peer listed. Message events, when on, come between the two. |
//!
//! # Threads
//!
//! Every peer runs on threads: a supervisor ([`Peer::run`](crate::Peer::run), on a fresh
//! thread the server's connection thread hands the peer to after the handshakes before it
//! ends, so the stack the handshake's crypto touched is not kept), one per running protocol,
//! and on demand a standby reader and a control writer (an idle peer whose protocols wait
//! for messages has neither), so at worst
//! **3 + one per protocol**: 4 for a single protocol, 5 for eth and snap. The server adds
//! its accept loop and its run loop (dials, joining ended connections), and one thread per
//! handshake in progress.
//!
//! Every Rust thread takes **4 memory mappings** (its stack and guard page, and std's
//! signal stack and guard page), so a peer takes **4 × its threads**: 16 for one protocol,
//! 20 for two. When a process reaches `vm.max_map_count` (65,530 by default on Linux), a
//! new thread does not fail to spawn: it aborts the whole process from inside std. Memory
//! does not bind first: an idle thread costs about 31 KiB (10 KiB resident, 16 KiB kernel
//! stack, 5 KiB kernel objects), an idle peer about 160 KiB.
//!
//! The budget is computed once per process, when the first server starts, as the lower of:
//!
//! - three quarters of the mappings still free (`vm.max_map_count` less the lines of
//!   `/proc/self/maps`), divided by 4; the last quarter is left for memory (heap arenas,
//!   and every buffer of 128 KiB or more is a mapping of its own);
//! - half of what the lowest of `kernel.threads-max`, `kernel.pid_max` and `RLIMIT_NPROC`
//!   (from `/proc/self/limits`; not for root, where it is not enforced) leaves above the
//!   machine's tasks (the fourth field of `/proc/loadavg`): thread and process-ID limits
//!   are shared with every other process, so half is left to them;
//! - 4,096 threads where none of these can be read.
//!
//! On a machine with `vm.max_map_count` 65,530 and `kernel.pid_max` 32,768 that is about
//! 12,200 threads: about 3,000 peers of one protocol (well under the 4,090 at which the
//! process aborted before there was a budget). The servers of one process share the
//! computed budget. Threads the application starts itself are not counted beyond that
//! margin; an application that starts many should set
//! [`ServerConfig::max_threads`](crate::ServerConfig::max_threads), which replaces the
//! computed budget for that server. Raising `vm.max_map_count`
//! (`sysctl vm.max_map_count=262144`) and `kernel.pid_max` raises the computed budget.
