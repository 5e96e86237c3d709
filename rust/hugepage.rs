//! Large tables that are read at random (hash tables, sort buffers) ask Linux for transparent
//! huge pages: with 4 KiB pages nearly every random access to a table of hundreds of MB also
//! misses the TLB, and a page walk under a hypervisor costs as much as the access itself. The
//! advice is given before the memory is first touched, which is when the kernel can honour it
//! (THP "madvise" mode, the common default). Elsewhere it is a no-op.

/// A `Vec` of `n` copies of `x` whose memory was advised for huge pages before being written.
pub fn filled_vec<T: Clone>(n: usize, x: T) -> Vec<T> {
    let mut v: Vec<T> = Vec::with_capacity(n);
    advise(v.as_ptr() as usize, n * std::mem::size_of::<T>());
    v.resize(n, x);
    v
}

#[cfg(target_os = "linux")]
fn advise(addr: usize, len: usize) {
    const HUGE: usize = 2 << 20;
    if len < 2 * HUGE {
        return;
    }
    let start = (addr + HUGE - 1) & !(HUGE - 1);
    let end = (addr + len) & !(HUGE - 1);
    if end > start {
        // SAFETY: the range lies inside an allocation this process owns; MADV_HUGEPAGE only
        // changes how the kernel backs it, never its contents. Failure is harmless (ignored).
        unsafe {
            libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE);
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn advise(_addr: usize, _len: usize) {}
