//! Helpers for the hostile-peer tests.
#![allow(dead_code)]

use std::net::TcpStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use devp2p_peer::rlpx::{Conn, SecretKey};
use devp2p_peer::Server;
use parking_lot::{Mutex, MutexGuard};

pub use crate::server_common::*;

static SERIAL: Mutex<()> = Mutex::new(());
/// Test threads blocked in [`serial`]: the harness starts them at any time, so they are left
/// out of [`Usage`]'s thread count.
static WAITING: AtomicUsize = AtomicUsize::new(0);

/// Holds every other test of this file off while a test counts threads and descriptors.
pub fn serial() -> MutexGuard<'static, ()> {
    WAITING.fetch_add(1, Ordering::SeqCst);
    let guard = SERIAL.lock();
    WAITING.fetch_sub(1, Ordering::SeqCst);
    guard
}

/// The number of open file descriptors of this process.
pub fn fd_count() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("read /proc/self/fd")
        .count()
}

/// This process's threads, less the test threads blocked in [`serial`]. The waiting count is
/// read on both sides of the thread count so that a test thread starting in between is not
/// subtracted without being counted.
fn running_threads() -> usize {
    loop {
        let before = WAITING.load(Ordering::SeqCst);
        let threads = thread_count();
        if WAITING.load(Ordering::SeqCst) == before {
            return threads.saturating_sub(before);
        }
    }
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
            threads: running_threads(),
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
            if Instant::now() >= deadline {
                let names: Vec<String> = std::fs::read_dir("/proc/self/task")
                    .unwrap()
                    .filter_map(|e| std::fs::read_to_string(e.ok()?.path().join("comm")).ok())
                    .map(|n| n.trim().to_string())
                    .collect();
                panic!(
                    "threads/fds not back to {self:?} within {limit:?}: {now:?}; threads {names:?}"
                );
            }
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
