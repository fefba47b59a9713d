//! A wait group: counts running threads and lets one thread wait until all are done.

use parking_lot::{Condvar, Mutex};

/// Counts the threads a peer started; [`WaitGroup::wait`] blocks until every one has called
/// [`WaitGroup::done`] (through its [`WaitGroupGuard`], so a panicking thread counts too).
#[derive(Default)]
pub(crate) struct WaitGroup {
    count: Mutex<usize>,
    zero: Condvar,
}

impl WaitGroup {
    pub(crate) fn add(&self, n: usize) {
        *self.count.lock() += n;
    }

    pub(crate) fn done(&self) {
        let mut count = self.count.lock();
        *count = count.saturating_sub(1);
        if *count == 0 {
            self.zero.notify_all();
        }
    }

    pub(crate) fn wait(&self) {
        let mut count = self.count.lock();
        while *count > 0 {
            self.zero.wait(&mut count);
        }
    }
}

/// Calls [`WaitGroup::done`] when dropped, so that a thread is counted out however it ends.
pub(crate) struct WaitGroupGuard<'a>(pub(crate) &'a WaitGroup);

impl Drop for WaitGroupGuard<'_> {
    fn drop(&mut self) {
        self.0.done();
    }
}
