//! Helpers for the hostile-peer tests.
#![allow(dead_code)]

use std::net::TcpStream;
use std::time::{Duration, Instant};

use devp2p_peer::rlpx::{Conn, SecretKey};
use devp2p_peer::Server;
use parking_lot::{Mutex, MutexGuard};

pub use crate::server_common::*;

static SERIAL: Mutex<()> = Mutex::new(());

/// Holds every other test of this file off while a test counts threads and descriptors.
pub fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock()
}

/// The number of open file descriptors of this process.
pub fn fd_count() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("read /proc/self/fd")
        .count()
}

/// Threads and descriptors of this process at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    pub threads: usize,
    pub fds: usize,
}

impl Usage {
    pub fn now() -> Usage {
        Usage {
            threads: thread_count(),
            fds: fd_count(),
        }
    }

    /// Waits (bounded) until threads and descriptors are back to at most `self`.
    pub fn wait_back(&self, limit: Duration) {
        let deadline = Instant::now() + limit;
        loop {
            let now = Usage::now();
            if now.threads <= self.threads && now.fds <= self.fds {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "threads/fds not back to {self:?} within {limit:?}: {now:?}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// Connects to `server` and completes the RLPx encryption handshake with a fresh key, but
/// sends nothing else: the caller plays the remote from here (Hello or not).
pub fn raw_handshake(server: &Server) -> (Conn, SecretKey) {
    let key = SecretKey::random();
    let stream = TcpStream::connect(server.local_addr().unwrap()).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    stream
        .set_write_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut conn = Conn::new(stream, Some(server.public_key()));
    conn.handshake(&key).expect("encryption handshake");
    (conn, key)
}
