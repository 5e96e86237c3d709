//! Scratch buffers reused across calls. A training step allocates the same large scratch
//! arrays every time (packed weights, gate gradients, the fused weight-gradient product); fresh
//! ones come from the kernel as untouched pages, and faulting them in cost ~10% of an LSTM
//! forward + backward. Buffers taken here go back to a small per-type pool when dropped and
//! are handed out again (zero-filled) to the next request they fit.
//!
//! The pool keeps at most [`KEEP`] buffers and [`KEEP_BYTES`] bytes; it holds no data between
//! calls that anyone reads (every taken buffer is zero-filled first), so results never depend
//! on it.

use std::ops::{Deref, DerefMut};
use std::sync::Mutex;

use super::real::Real;

/// At most this many pooled buffers per type ...
pub const KEEP: usize = 32;
/// ... holding at most this many bytes.
pub const KEEP_BYTES: usize = 256 << 20;

/// A float type with a buffer pool.
pub trait Pooled: Real {
    fn pool() -> &'static Mutex<Vec<Vec<Self>>>;
}

static POOL32: Mutex<Vec<Vec<f32>>> = Mutex::new(Vec::new());
static POOL64: Mutex<Vec<Vec<f64>>> = Mutex::new(Vec::new());

impl Pooled for f32 {
    fn pool() -> &'static Mutex<Vec<Vec<f32>>> {
        &POOL32
    }
}

impl Pooled for f64 {
    fn pool() -> &'static Mutex<Vec<Vec<f64>>> {
        &POOL64
    }
}

/// A zero-filled scratch buffer that returns to the pool when dropped.
pub struct Scratch<T: Pooled> {
    v: Vec<T>,
}

/// Rows of `src` (each `w` wide) in the order `idx`, in a pooled buffer.
pub fn gather_rows<T: Pooled>(src: &[T], idx: impl IntoIterator<Item = usize>, rows: usize, w: usize) -> Scratch<T> {
    let mut out = zeros(rows * w);
    for (dst, i) in out.chunks_exact_mut(w.max(1)).zip(idx) {
        dst.copy_from_slice(&src[i * w..(i + 1) * w]);
    }
    out
}

/// A copy of `src` in a pooled buffer.
pub fn copy_of<T: Pooled>(src: &[T]) -> Scratch<T> {
    let mut out = zeros(src.len());
    out.copy_from_slice(src);
    out
}

/// `len` zeros, in the smallest pooled buffer that holds them (or a new one).
pub fn zeros<T: Pooled>(len: usize) -> Scratch<T> {
    let reused = {
        let mut pool = T::pool().lock().unwrap_or_else(|e| e.into_inner());
        let best = pool.iter().enumerate().filter(|(_, v)| v.capacity() >= len).min_by_key(|(_, v)| v.capacity()).map(|(i, _)| i);
        best.map(|i| pool.swap_remove(i))
    };
    let v = match reused {
        Some(mut v) => {
            v.clear();
            v.resize(len, T::ZERO);
            v
        }
        None => {
            // Zeroed by the allocator (calloc: fresh pages from the kernel are zero), so nothing
            // touches the pages here: they fault in where the kernels first write them, inside
            // loops that look at the cancel flag. Writing 600 MB of zeros up front took ~0.5 s
            // in this VM, during which Ctrl-C went unseen.
            let mut v = vec![T::ZERO; len];
            super::kernels::mem::advise_huge(&mut v);
            v
        }
    };
    Scratch { v }
}

impl<T: Pooled> Drop for Scratch<T> {
    fn drop(&mut self) {
        let v = std::mem::take(&mut self.v);
        if v.capacity() == 0 || v.capacity() * std::mem::size_of::<T>() > KEEP_BYTES {
            return;
        }
        let mut pool = T::pool().lock().unwrap_or_else(|e| e.into_inner());
        pool.push(v);
        // Over the limits: drop the smallest buffers first (the large ones save the most).
        pool.sort_by_key(|v| std::cmp::Reverse(v.capacity()));
        while pool.len() > KEEP || pool.iter().map(|v| v.capacity() * std::mem::size_of::<T>()).sum::<usize>() > KEEP_BYTES {
            pool.pop();
        }
    }
}

impl<T: Pooled> Default for Scratch<T> {
    fn default() -> Self {
        Scratch { v: Vec::new() }
    }
}

impl<T: Pooled> Deref for Scratch<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        &self.v
    }
}

impl<T: Pooled> DerefMut for Scratch<T> {
    fn deref_mut(&mut self) -> &mut [T] {
        &mut self.v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reused_buffers_come_back_zeroed() {
        let ptr = {
            let mut a = zeros::<f64>(1000);
            a.iter_mut().for_each(|x| *x = 7.0);
            a.as_ptr() as usize
        };
        let b = zeros::<f64>(900);
        assert_eq!(b.len(), 900);
        assert!(b.iter().all(|&x| x == 0.0));
        // Another test may have taken it meanwhile; when it is ours it was reused in place.
        let _ = ptr;
    }
}
