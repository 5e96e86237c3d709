//! Matrix products for `nn`: a thin layer over `matrixmultiply` (chosen by measurement: on the
//! 2-core AVX2 machine it runs a 3200x512x2048 sgemm at about 70 GFLOP/s, as fast as NumPy's
//! single-threaded OpenBLAS). Products that reuse one right-hand side many times (the
//! recurrent steps, the input projection, attention's projections through `packed::matmul`)
//! use the pre-packed kernel of `packed.rs` instead.
//!
//! Shapes are row-major with explicit element strides. Results never depend on the thread count:
//! the parallel forms split the output into blocks whose boundaries depend only on the shape,
//! and each block is one sequential product.

use rayon::prelude::*;

use super::real::Real;

/// A raw pointer that may cross threads; every user writes disjoint blocks.
#[derive(Clone, Copy)]
pub struct SyncPtr<T>(pub *mut T);
unsafe impl<T> Send for SyncPtr<T> {}
unsafe impl<T> Sync for SyncPtr<T> {}

impl<T> SyncPtr<T> {
    /// The pointer (a method, so closures capture the whole `Sync` wrapper).
    #[inline(always)]
    pub fn p(self) -> *mut T {
        self.0
    }
    /// # Safety
    /// `off` must be inside the allocation.
    #[inline(always)]
    pub unsafe fn at(self, off: usize) -> *mut T {
        self.0.add(off)
    }
}

/// Run `f(0..n)`, in parallel when `parallel` and the pool has more than one thread.
pub fn for_each(n: usize, parallel: bool, f: impl Fn(usize) + Sync + Send) {
    if parallel && n > 1 && rayon::current_num_threads() > 1 {
        (0..n).into_par_iter().for_each(f);
    } else {
        (0..n).for_each(f);
    }
}

/// C (m x n, row stride rsc) = beta C + A B with A, B given by element strides.
///
/// # Safety
/// Pointers and strides must describe valid memory; C must not overlap A or B.
#[allow(clippy::too_many_arguments)]
pub unsafe fn gemm<T: Real>(
    m: usize,
    k: usize,
    n: usize,
    a: *const T,
    rsa: usize,
    csa: usize,
    b: *const T,
    rsb: usize,
    csb: usize,
    beta: T,
    c: *mut T,
    rsc: usize,
) {
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        for i in 0..m {
            for j in 0..n {
                let p = c.add(i * rsc + j);
                *p = if beta == T::ZERO { T::ZERO } else { beta * *p };
            }
        }
        return;
    }
    T::gemm_raw(m, k, n, a, rsa as isize, csa as isize, b, rsb as isize, csb as isize, beta, c, rsc as isize);
}

/// Which dimension of C the parallel product splits.
#[derive(Clone, Copy)]
pub enum Split {
    /// Blocks of this many rows.
    Rows(usize),
    /// Blocks of this many columns.
    Cols(usize),
}

/// [`gemm`] split into blocks run on the current pool (blocks depend only on the shape).
///
/// # Safety
/// As [`gemm`].
#[allow(clippy::too_many_arguments)]
pub unsafe fn gemm_par<T: Real>(
    m: usize,
    k: usize,
    n: usize,
    a: *const T,
    rsa: usize,
    csa: usize,
    b: *const T,
    rsb: usize,
    csb: usize,
    beta: T,
    c: *mut T,
    rsc: usize,
    split: Split,
) {
    let (a, b, c) = (SyncPtr(a as *mut T), SyncPtr(b as *mut T), SyncPtr(c));
    let parallel = m * n * k >= 1 << 16;
    match split {
        Split::Rows(bs) => {
            let bs = bs.max(1);
            for_each(m.div_ceil(bs), parallel, |blk| {
                let r0 = blk * bs;
                let rows = bs.min(m - r0);
                gemm(rows, k, n, a.at(r0 * rsa), rsa, csa, b.p(), rsb, csb, beta, c.at(r0 * rsc), rsc);
            });
        }
        Split::Cols(bs) => {
            let bs = bs.max(1);
            for_each(n.div_ceil(bs), parallel, |blk| {
                let c0 = blk * bs;
                let cols = bs.min(n - c0);
                gemm(m, k, cols, a.p(), rsa, csa, b.at(c0 * csb), rsb, csb, beta, c.at(c0), rsc);
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(m: usize, k: usize, n: usize, a: &[f64], b: &[f64]) -> Vec<f64> {
        let mut c = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                c[i * n + j] = (0..k).map(|t| a[i * k + t] * b[t * n + j]).sum();
            }
        }
        c
    }

    #[test]
    fn all_paths_agree_with_naive() {
        for &(m, k, n) in &[(1, 37, 5), (3, 64, 9), (4, 1, 3), (7, 33, 70), (40, 70, 3), (2, 0, 4)] {
            let a: Vec<f64> = (0..m * k).map(|i| ((i * 7919) % 13) as f64 - 6.0).collect();
            let b: Vec<f64> = (0..k * n).map(|i| ((i * 104729) % 11) as f64 - 5.0).collect();
            let bt: Vec<f64> = (0..n * k).map(|i| b[(i % k) * n + i / k]).collect();
            let want = naive(m, k, n, &a, &b);
            let mut c1 = vec![1.0; m * n];
            let mut c2 = vec![1.0; m * n];
            let mut c3 = vec![1.0; m * n];
            unsafe {
                gemm(m, k, n, a.as_ptr(), k, 1, b.as_ptr(), n, 1, 0.0, c1.as_mut_ptr(), n);
                gemm(m, k, n, a.as_ptr(), k, 1, bt.as_ptr(), 1, k, 0.0, c2.as_mut_ptr(), n);
                gemm_par(m, k, n, a.as_ptr(), k, 1, bt.as_ptr(), 1, k, 0.0, c3.as_mut_ptr(), n, Split::Cols(2));
            }
            assert_eq!(c1, want, "{m}x{k}x{n}");
            assert_eq!(c2, want, "{m}x{k}x{n} transposed");
            assert_eq!(c3, want, "{m}x{k}x{n} parallel");
            let mut c4 = vec![1.0; m * n];
            unsafe { gemm(m, k, n, a.as_ptr(), k, 1, b.as_ptr(), n, 1, 2.0, c4.as_mut_ptr(), n) };
            let want2: Vec<f64> = want.iter().map(|x| x + 2.0).collect();
            assert_eq!(c4, want2);
        }
    }
}
