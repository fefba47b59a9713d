//! The server: listens for and dials RLPx connections, enforces the peer limits, and runs
//! each peer on a thread of its own.
//!
//! Threads the server starts (all joined by [`Server::stop`]):
//!
//! - `server-accept` waits for a free pending-handshake slot, accepts one connection and
//!   hands it to a new `server-conn` thread.
//! - `server-run` keeps the static nodes connected (unless [`ServerConfig::no_dial`]): it
//!   starts a `server-dial` connection thread per attempt and schedules redials with
//!   back-off. It also joins every connection thread as soon as it ends.
//! - each connection thread does the whole setup (encryption handshake, checks, Hello,
//!   checks again), then hands the peer to a fresh `peer-run` thread that runs
//!   [`Peer::run`], and ends: the stack the handshake's crypto touched is given
//!   back instead of staying resident for the connection's life.
//! - the run loop also gives freed memory back to the system once many connections have
//!   ended or the last peer has left (`trim`: glibc keeps freed memory otherwise).
//! - with discovery, `server-discover` offers the run loop the nodes of discovery's random
//!   walk, and discovery runs its own reader and table threads.
//!
//! The threads of the peers are counted against a thread budget (see
//! [`ServerConfig::max_threads`] and the `budget` module): past it, a connection is refused
//! with "too many peers" rather than risk a thread that cannot start.
//!
//! The shared state (peers by ID, inbound count, trusted and static sets, sockets of
//! handshakes in progress, thread handles) sits behind one mutex. Each checkpoint is
//! evaluated under that mutex, and the last one also inserts the peer, so concurrent
//! connections can never exceed the limits.
//!
//! By concern: `config` (settings, defaults, [`NodeInfo`]), `handle` ([`Server`]: start,
//! stop, queries), `peers` (the shared state and running a peer), `accept` (the accept loop
//! and inbound throttle), `setup` (handshakes and checks), `dial` (the run loop: dialing and
//! joining connection threads) and `budget` (the thread budget).

mod accept;
mod budget;
mod config;
mod dial;
#[cfg(feature = "discovery")]
mod discovery;
mod handle;
mod peers;
mod setup;
mod trim;

pub use config::{
    NodeInfo, ServerConfig, DEFAULT_DIAL_RATIO, DEFAULT_DIAL_TIMEOUT, DEFAULT_HANDSHAKE_TIMEOUT,
    DEFAULT_MAX_PENDING_PEERS, DEFAULT_MAX_REDIAL_BACKOFF, DEFAULT_REDIAL_BACKOFF,
    INBOUND_THROTTLE_TIME,
};
pub use handle::Server;

use std::thread::{self, JoinHandle};

use crate::rlpx::Enode;
#[cfg(doc)]
use crate::Peer;
use crate::{Error, NodeId};

/// Stack size of the connection threads (encryption handshake, Hello, checks) unless
/// [`ServerConfig::stack_size`] is set: 1.5 MiB, ample for the handshake (it touches about
/// 72 KiB).
///
/// It differs on purpose from the peers' threads (the platform's 2 MiB for the supervisor
/// and protocol threads, [`PEER_THREAD_STACK_SIZE`](crate::PEER_THREAD_STACK_SIZE) for the
/// standby reader and control writer): glibc hands the stack of an ended thread to a new thread asking for
/// between a quarter of its size and all of it, and such a stack keeps 16 KiB below where
/// its last thread stopped resident. With one size for both, most supervisor and protocol
/// threads started on an ended handshake's stack and kept its residue: measured with 1,000
/// idle peers, 775 of the 2,000 stacks had 24 KiB resident where their own work touched 8
/// to 16. 1.5 MiB is more than four times 256 KiB and less than 2 MiB, so neither kind of
/// peer thread can take a connection thread's stack.
pub(crate) const CONN_THREAD_STACK_SIZE: usize = 1536 * 1024;

fn server_stopped() -> Error {
    Error::other("server stopped")
}

fn enode_id(node: &Enode) -> NodeId {
    node.id()
}

fn spawn_named<F>(name: &str, stack_size: Option<usize>, f: F) -> Result<JoinHandle<()>, Error>
where
    F: FnOnce() + Send + 'static,
{
    let mut builder = thread::Builder::new().name(name.to_string());
    if let Some(size) = stack_size {
        builder = builder.stack_size(size);
    }
    builder.spawn(f).map_err(Error::from)
}

#[cfg(test)]
mod tests {
    use super::CONN_THREAD_STACK_SIZE;

    /// glibc hands a cached stack of size `b` to a new thread asking for `r` when
    /// `r <= b <= 4 * r`: no peer thread may be able to take a connection thread's stack.
    #[test]
    fn peer_threads_cannot_take_a_connection_threads_stack() {
        let platform_default = 2 * 1024 * 1024;
        for r in [platform_default, crate::PEER_THREAD_STACK_SIZE] {
            let reusable = r <= CONN_THREAD_STACK_SIZE && CONN_THREAD_STACK_SIZE <= 4 * r;
            assert!(
                !reusable,
                "a {r}-byte peer thread could reuse a connection stack"
            );
        }
    }
}
