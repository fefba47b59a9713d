//! Giving the memory of ended connections back to the system.
//!
//! Freed memory stays in the C library's allocator: glibc's malloc keeps the free pages of
//! its arenas (up to eight per core, and a server's peer threads spread over all of them)
//! resident until something asks for them back. After 1,000 idle peers left a listener, it
//! stayed about 30 MB above its baseline. The run loop therefore asks glibc to release free
//! pages (`malloc_trim(0)`, which walks every arena) once [`TRIM_AFTER_ENDED`] connection
//! threads have ended since the last time, or once the last peer has left, and at most once
//! per [`TRIM_INTERVAL`]. Cost, measured on a 2-vCPU machine: about 3 ms when 300 peers'
//! memory (9 MB) goes back, about 40 µs when there is nothing to release; at its rate that
//! is well under 0.5 % of a core even while peers keep leaving. Elsewhere than on Linux with
//! glibc it does nothing.
//!
//! What stays: a few hundred KiB of free memory at the top of each arena (`malloc_trim`
//! releases the top of the main arena only), the C library's cache of ended threads' stacks
//! (about 20 KiB resident each), and code pages of the program that the peers paused in.
//! With 300 peers gone about 13 % of what they took stays (`tests/server_memory.rs`); with
//! 1,000 idle peers gone from `node listen`, its resident memory went from 71.6 MB back to
//! 9.4 MB, against 3.9 MB before they came.

use std::time::{Duration, Instant};

/// Connection threads (peers, or handshakes that did not become one) that must end before
/// freed memory is given back, unless no peer is left.
pub(super) const TRIM_AFTER_ENDED: usize = 64;

/// The least time between two trims.
pub(super) const TRIM_INTERVAL: Duration = Duration::from_secs(1);

/// Counts ended connection threads and decides when a trim is due.
#[derive(Debug, Default)]
pub(super) struct Trimmer {
    ended: usize,
    last: Option<Instant>,
}

impl Trimmer {
    /// Notes that a connection thread has ended (and been joined).
    pub(super) fn ended(&mut self) {
        self.ended += 1;
    }

    /// When the next trim is due (`now` at the earliest), or `None` when none is;
    /// `no_peers`: the server has no peer left.
    pub(super) fn due(&self, now: Instant, no_peers: bool) -> Option<Instant> {
        if self.ended == 0 || (self.ended < TRIM_AFTER_ENDED && !no_peers) {
            return None;
        }
        Some(self.last.map_or(now, |t| (t + TRIM_INTERVAL).max(now)))
    }

    /// Trims if a trim is due by `now`; returns how long until the next one is due
    /// otherwise (`None`: none is).
    pub(super) fn run(&mut self, now: Instant, no_peers: bool) -> Option<Duration> {
        let due = self.due(now, no_peers)?;
        if due > now {
            return Some(due - now);
        }
        release_free_memory();
        self.ended = 0;
        self.last = Some(now);
        None
    }
}

/// Asks the allocator to give free memory back to the system.
pub(crate) fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only inspects and releases the allocator's own free memory; it is
    // thread-safe (it takes each arena's lock).
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_after_many_ended_or_when_no_peer_is_left() {
        let mut t = Trimmer::default();
        let now = Instant::now();
        assert_eq!(t.due(now, true), None, "nothing ended");
        t.ended();
        assert_eq!(t.due(now, false), None, "one ended, peers remain");
        assert_eq!(t.due(now, true), Some(now), "the last peer left");
        for _ in 1..TRIM_AFTER_ENDED {
            t.ended();
        }
        assert_eq!(t.due(now, false), Some(now));
    }

    #[test]
    fn trims_are_rate_limited() {
        let mut t = Trimmer::default();
        let now = Instant::now();
        t.ended();
        assert_eq!(t.run(now, true), None, "trimmed at once");
        assert_eq!(t.due(now, true), None, "the count starts again");
        t.ended();
        assert_eq!(t.run(now, true), Some(TRIM_INTERVAL));
        assert_eq!(t.run(now + TRIM_INTERVAL, true), None);
        assert_eq!(t.due(now, true), None);
    }
}
