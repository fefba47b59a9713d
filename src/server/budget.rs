//! The thread budget: how many threads the server may start for its connections before a
//! new thread could fail, computed from the machine's limits.
//!
//! Every Rust thread takes [`MAPS_PER_THREAD`] memory mappings (its stack and guard page,
//! std's signal stack and its guard page). When the process reaches `vm.max_map_count`, a
//! new thread does not fail to spawn: it aborts the whole process from inside std before
//! any user code runs. Thread and process-ID limits (`kernel.threads-max`,
//! `kernel.pid_max`, `RLIMIT_NPROC`) are shared with every other process on the machine.
//! The server therefore counts the threads of its peers and refuses a connection with
//! "too many peers" before they would pass the budget.
//!
//! The pure computation ([`MachineLimits::thread_budget`] and the parsers) is separate from
//! reading `/proc`, so it can be tested with any input.

use std::sync::atomic::Ordering;

use log::{info, warn};
use parking_lot::Mutex;

use super::peers::{Inner, State};
use crate::DiscReason;

/// Memory mappings one thread takes: stack, stack guard, signal stack, signal stack guard.
pub(crate) const MAPS_PER_THREAD: usize = 4;

/// Threads every peer runs whatever its protocols: the `peer-run` thread that runs
/// [`Peer::run`](crate::Peer::run) (the supervisor, started when the connection thread
/// hands the peer over) and, at worst, a standby reader and a control writer (`peer-ctl`).
pub(crate) const PEER_BASE_THREADS: usize = 3;

/// The budget used where the machine's limits cannot be read (no `/proc`).
pub(crate) const FALLBACK_BUDGET: usize = 4096;

/// The threads a peer running `protocols` sub-protocols takes: [`PEER_BASE_THREADS`] and
/// one per protocol. The one place this cost is defined.
pub(crate) fn peer_threads(protocols: usize) -> usize {
    PEER_BASE_THREADS + protocols
}

/// The limits and usage a budget is computed from; `None` for what could not be read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct MachineLimits {
    /// `vm.max_map_count`: the most memory mappings one process may hold.
    pub max_map_count: Option<usize>,
    /// Memory mappings the process holds now (lines of `/proc/self/maps`).
    pub maps_in_use: Option<usize>,
    /// `kernel.threads-max`: the most threads on the machine.
    pub threads_max: Option<usize>,
    /// `kernel.pid_max`: every thread takes a process ID.
    pub pid_max: Option<usize>,
    /// The soft `RLIMIT_NPROC` (threads of the user), when limited and enforced (it is
    /// not for root).
    pub nproc: Option<usize>,
    /// Threads of every process on the machine now (the fourth field of `/proc/loadavg`).
    pub system_tasks: Option<usize>,
    /// Threads of this process now (`Threads` in `/proc/self/status`): the least the
    /// machine's tasks can be when they cannot be read.
    pub process_threads: Option<usize>,
}

impl MachineLimits {
    /// Reads the limits and the current usage from `/proc`.
    pub(crate) fn read() -> MachineLimits {
        let read = |path: &str| std::fs::read_to_string(path).ok();
        let status = read("/proc/self/status").unwrap_or_default();
        let root = parse_status_field(&status, "Uid") == Some(0);
        MachineLimits {
            max_map_count: read("/proc/sys/vm/max_map_count").and_then(|s| parse_number(&s)),
            maps_in_use: read("/proc/self/maps").map(|s| s.lines().count()),
            threads_max: read("/proc/sys/kernel/threads-max").and_then(|s| parse_number(&s)),
            pid_max: read("/proc/sys/kernel/pid_max").and_then(|s| parse_number(&s)),
            nproc: if root {
                None
            } else {
                read("/proc/self/limits").and_then(|s| parse_limits_nproc(&s))
            },
            system_tasks: read("/proc/loadavg").and_then(|s| parse_loadavg_tasks(&s)),
            process_threads: parse_status_field(&status, "Threads"),
        }
    }

    /// How many more threads the process may start:
    ///
    /// - by memory mappings: three quarters of the mappings still free, divided by
    ///   [`MAPS_PER_THREAD`] (the other quarter is left for memory: heap arenas and every
    ///   buffer of 128 KiB or more is a mapping of its own);
    /// - by threads and process IDs: half of what the lowest of `threads-max`, `pid_max` and
    ///   `RLIMIT_NPROC` leaves above the machine's current tasks (the other half is left to
    ///   the rest of the machine).
    ///
    /// The lower of the two; [`FALLBACK_BUDGET`] when no limit is known.
    pub(crate) fn thread_budget(&self) -> usize {
        let by_maps = self.max_map_count.map(|max| {
            let free = max.saturating_sub(self.maps_in_use.unwrap_or(0));
            free / 4 * 3 / MAPS_PER_THREAD
        });
        let task_limit = [self.threads_max, self.pid_max, self.nproc]
            .into_iter()
            .flatten()
            .min();
        let tasks = self.system_tasks.or(self.process_threads).unwrap_or(0);
        let by_tasks = task_limit.map(|limit| limit.saturating_sub(tasks) / 2);
        match (by_maps, by_tasks) {
            (Some(a), Some(b)) => a.min(b),
            (Some(a), None) | (None, Some(a)) => a,
            (None, None) => FALLBACK_BUDGET,
        }
    }
}

/// A number alone in a file, as in `/proc/sys/vm/max_map_count`.
pub(crate) fn parse_number(s: &str) -> Option<usize> {
    s.trim().parse().ok()
}

/// The total number of tasks on the machine: the fourth field of `/proc/loadavg`
/// (`runnable/total`).
pub(crate) fn parse_loadavg_tasks(s: &str) -> Option<usize> {
    let field = s.split_whitespace().nth(3)?;
    let (_, total) = field.split_once('/')?;
    total.parse().ok()
}

/// The soft limit of `Max processes` in `/proc/self/limits`; `None` when unlimited.
pub(crate) fn parse_limits_nproc(s: &str) -> Option<usize> {
    let line = s.lines().find(|l| l.starts_with("Max processes"))?;
    let soft = line["Max processes".len()..].split_whitespace().next()?;
    soft.parse().ok()
}

/// The first number of a field of `/proc/self/status` (`Threads`, or `Uid` for the real
/// user ID).
pub(crate) fn parse_status_field(s: &str, name: &str) -> Option<usize> {
    s.lines().find_map(|l| {
        let (key, value) = l.split_once(':')?;
        if key != name {
            return None;
        }
        value.split_whitespace().next()?.parse().ok()
    })
}

/// Threads the servers of this process use together, against the budget computed from
/// the machine when the first server needed it. Servers with a configured
/// [`max_threads`](crate::ServerConfig::max_threads) count here too (so that computed
/// budgets see them) but check only their own limit.
pub(crate) struct ProcessThreads {
    /// The computed budget, once known.
    budget: Option<usize>,
    /// Threads counted by every server: their peers' threads and the setup threads they
    /// keep in reserve.
    pub used: usize,
}

/// The process's thread count for servers.
pub(crate) static PROCESS_THREADS: Mutex<ProcessThreads> = Mutex::new(ProcessThreads {
    budget: None,
    used: 0,
});

impl ProcessThreads {
    /// The budget computed from the machine, computed on the first call.
    pub(crate) fn budget(&mut self) -> usize {
        *self
            .budget
            .get_or_insert_with(|| MachineLimits::read().thread_budget())
    }
}

impl Inner {
    /// Whether a peer of `threads` threads fits the thread budget; refused with too many
    /// peers if not, trusted or not. Logged once until the threads in use recover.
    pub(super) fn check_thread_budget(&self, st: &State, threads: usize) -> Result<(), DiscReason> {
        let (used, limit) = match self.config.max_threads {
            Some(max) => (
                st.peer_threads,
                max.saturating_sub(self.config.setup_reserve()),
            ),
            None => {
                let mut process = PROCESS_THREADS.lock();
                (process.used, process.budget())
            }
        };
        if used + threads <= limit {
            return Ok(());
        }
        if !self.budget_warned.swap(true, Ordering::SeqCst) {
            warn!(
                "thread budget reached ({used} of {limit} threads in use, a peer needs \
                 {threads}): refusing peers with \"too many peers\" until threads are freed"
            );
        }
        Err(DiscReason::TOO_MANY_PEERS)
    }

    /// Counts a peer's threads in (`add`) or out.
    pub(super) fn count_peer_threads(&self, st: &mut State, threads: usize, add: bool) {
        let mut process = PROCESS_THREADS.lock();
        if add {
            st.peer_threads += threads;
            process.used += threads;
            return;
        }
        st.peer_threads -= threads;
        process.used -= threads;
        let (used, limit) = match self.config.max_threads {
            Some(max) => (
                st.peer_threads,
                max.saturating_sub(self.config.setup_reserve()),
            ),
            None => (process.used, process.budget()),
        };
        if used <= limit / 10 * 9 && self.budget_warned.swap(false, Ordering::SeqCst) {
            info!("thread budget recovered: {used} of {limit} threads in use");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: &str = "\
Limit                     Soft Limit           Hard Limit           Units     
Max cpu time              unlimited            unlimited            seconds   
Max processes             96364                96365                processes 
Max open files            20000                20000                files     
";

    const STATUS: &str = "\
Name:\tcargo
Umask:\t0022
State:\tS (sleeping)
Tgid:\t1234
Uid:\t1000\t1000\t1000\t1000
Gid:\t1000\t1000\t1000\t1000
Threads:\t17
";

    #[test]
    fn parsers() {
        assert_eq!(parse_number("65530\n"), Some(65530));
        assert_eq!(parse_number("x\n"), None);
        assert_eq!(
            parse_loadavg_tasks("1.87 0.99 0.43 3/125 14642\n"),
            Some(125)
        );
        assert_eq!(parse_loadavg_tasks("1.87 0.99 0.43\n"), None);
        assert_eq!(parse_limits_nproc(LIMITS), Some(96364));
        let unlimited = LIMITS.replace("96364 ", "unlimited");
        assert_eq!(parse_limits_nproc(&unlimited), None);
        assert_eq!(parse_limits_nproc("Max open files 10 10 files\n"), None);
        assert_eq!(parse_status_field(STATUS, "Threads"), Some(17));
        assert_eq!(parse_status_field(STATUS, "Uid"), Some(1000));
        assert_eq!(parse_status_field(STATUS, "Gid"), Some(1000));
        assert_eq!(parse_status_field(STATUS, "VmRSS"), None);
    }

    /// The machine the crate was measured on: 65,530 mappings, pid_max 32,768.
    fn dev_machine() -> MachineLimits {
        MachineLimits {
            max_map_count: Some(65_530),
            maps_in_use: Some(530),
            threads_max: Some(192_730),
            pid_max: Some(32_768),
            nproc: Some(96_364),
            system_tasks: Some(768),
            process_threads: Some(20),
        }
    }

    #[test]
    fn budget_from_limits() {
        // Mappings bind: 65,000 free, three quarters of them at 4 per thread.
        assert_eq!(dev_machine().thread_budget(), 65_000 / 4 * 3 / 4);
        // Far below the 16,380 threads at which a thread would abort the process.
        assert!(dev_machine().thread_budget() * MAPS_PER_THREAD < 65_530 - 530);
        // Process IDs bind when the machine is busy: half of what is left.
        let busy = MachineLimits {
            system_tasks: Some(20_768),
            ..dev_machine()
        };
        assert_eq!(busy.thread_budget(), 6_000);
        // The lowest task limit counts.
        let nproc = MachineLimits {
            nproc: Some(4_768),
            ..dev_machine()
        };
        assert_eq!(nproc.thread_budget(), 2_000);
        // Exhausted: nothing left, never an underflow.
        let full = MachineLimits {
            maps_in_use: Some(70_000),
            ..dev_machine()
        };
        assert_eq!(full.thread_budget(), 0);
        let full = MachineLimits {
            system_tasks: Some(40_000),
            ..dev_machine()
        };
        assert_eq!(full.thread_budget(), 0);
        // Only one kind of limit known.
        let maps_only = MachineLimits {
            max_map_count: Some(4_100),
            maps_in_use: Some(100),
            ..MachineLimits::default()
        };
        assert_eq!(maps_only.thread_budget(), 750);
        let pids_only = MachineLimits {
            pid_max: Some(1_100),
            system_tasks: Some(100),
            ..MachineLimits::default()
        };
        assert_eq!(pids_only.thread_budget(), 500);
        // Without the machine's task count, this process's threads are the least it is.
        let own_only = MachineLimits {
            system_tasks: None,
            process_threads: Some(100),
            ..pids_only
        };
        assert_eq!(own_only.thread_budget(), 500);
        assert_eq!(MachineLimits::default().thread_budget(), FALLBACK_BUDGET);
    }

    #[test]
    fn reads_this_machine() {
        let limits = MachineLimits::read();
        if cfg!(target_os = "linux") {
            assert!(limits.max_map_count.is_some(), "{limits:?}");
            assert!(limits.maps_in_use.unwrap() > 0, "{limits:?}");
            assert!(limits.pid_max.is_some(), "{limits:?}");
            assert!(limits.system_tasks.unwrap() > 0, "{limits:?}");
            assert!(limits.process_threads.unwrap() > 0, "{limits:?}");
            assert!(limits.thread_budget() > 0);
        }
    }

    #[test]
    fn peer_cost() {
        // supervisor + standby reader + control writer, and one per protocol.
        assert_eq!(peer_threads(0), 3);
        assert_eq!(peer_threads(2), 5);
    }
}
