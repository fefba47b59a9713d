//! This process's live threads, by name or by ID, for the tests that check that a join
//! left no thread behind (included with `#[path]`).
//!
//! `pthread_join` returns once the kernel has cleared the exiting thread's ID, which it
//! does on the thread's way out, a moment before the thread leaves `/proc/self/task`: a
//! thread just joined may still be listed there. It is then already marked as exiting
//! (`PF_EXITING`, set first thing in the kernel's exit path, before the ID is cleared), so
//! threads so marked are not counted as live. A thread that was not joined and still runs
//! is.
#![allow(dead_code)]

/// The kernel's flag of a task that has begun to exit (`include/linux/sched.h`).
const PF_EXITING: u64 = 0x4;

/// The IDs of this process's live threads whose name (as in `comm`) satisfies `matches`.
pub fn live_tids(matches: impl Fn(&str) -> bool) -> Vec<String> {
    std::fs::read_dir("/proc/self/task")
        .expect("read /proc/self/task")
        .filter_map(|task| {
            let task = task.ok()?;
            let comm = std::fs::read_to_string(task.path().join("comm")).ok()?;
            if !matches(comm.trim_end()) {
                return None;
            }
            let tid = task.file_name().to_string_lossy().into_owned();
            is_live(&tid).then_some(tid)
        })
        .collect()
}

/// How many live threads of this process have a name that satisfies `matches`.
pub fn live_threads(matches: impl Fn(&str) -> bool) -> usize {
    live_tids(matches).len()
}

/// Whether thread `tid` of this process is listed and not exiting.
pub fn is_live(tid: &str) -> bool {
    // Gone since it was listed: not live.
    std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")).is_ok_and(|s| !exiting(&s))
}

/// Whether a task's `stat` line shows it exiting: `PF_EXITING` in its flags, the 9th
/// field. The name before them, in parentheses, may hold spaces and parentheses: the
/// fields are counted from its last `)`.
fn exiting(stat: &str) -> bool {
    let flags = stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().nth(6)?.parse::<u64>().ok())
        .expect("flags in /proc/self/task/<tid>/stat");
    flags & PF_EXITING != 0
}
