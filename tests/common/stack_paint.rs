//! Measuring how deep a thread's stack went: paint the free part below the current frame
//! with a pattern, run, and find the deepest word changed. Shared by `tests/idle_stack.rs`
//! and the stack tests of `src/rlpx/frame.rs` (included there with `#[path]`).

/// The pattern painted on the stack.
pub const PAINT: u64 = 0xA5A5_A5A5_5A5A_5A5A;

/// The mapping of this process that holds `addr`, as `(start, end)`.
pub fn mapping(addr: usize) -> (usize, usize) {
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

/// An address just below the caller's frame.
#[inline(never)]
pub fn below_caller() -> usize {
    let marker = 0u8;
    std::hint::black_box(std::ptr::addr_of!(marker)) as usize
}

/// Paints `[lo, hi)`, which must be mapped, writable and below every live frame of the
/// calling thread (with room for this function's own frame).
#[inline(never)]
pub fn paint(lo: usize, hi: usize) {
    for a in (lo..hi).step_by(8) {
        // SAFETY: as the caller promises.
        unsafe { std::ptr::write_volatile(a as *mut u64, PAINT) };
    }
}

/// The lowest address in the painted `[lo, hi)` whose word changed (`hi` if none did).
/// The range must still be mapped; it is read without a reference.
#[inline(never)]
pub fn deepest_change(lo: usize, hi: usize) -> usize {
    (lo..hi)
        .step_by(8)
        // SAFETY: mapped (the caller's promise), and read with volatile loads only.
        .find(|&a| unsafe { std::ptr::read_volatile(a as *const u64) } != PAINT)
        .unwrap_or(hi)
}
