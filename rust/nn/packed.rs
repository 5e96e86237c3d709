//! Products with a pre-packed right-hand side, for the per-step recurrent matrices.
//!
//! The recurrent weights are the same at every step, so they are packed once per call into
//! panels of `NR` columns (`k` rows of `NR` consecutive values, zero-padded), and each step runs
//! an AVX2/FMA micro-kernel of up to 6 rows x `NR` columns (f32: NR = 16, two 8-wide registers
//! per row; f64: NR = 8) over the whole depth, reading A's rows in place. Panels are the outer
//! loop so a panel (k * NR values) stays in L1/L2 while every row block of A passes over it.
//! `matrixmultiply` instead repacks both operands on every call, which at the 32-row steps of a
//! recurrent network costs as much as the arithmetic.
//!
//! Each output element is one sequential sum over k, so results do not depend on how callers
//! split the panels across threads. Without AVX2 (or with `SEQFAST_SIMD=scalar`) a plain loop
//! over the same packed layout runs instead.

use super::real::Real;
use super::simd::{level, Level};

const MR: usize = 6;

/// f32 or f64 with a packed-panel micro-kernel.
pub trait Kern: Real {
    /// Panel width.
    const NR: usize;
    /// C[0..rows, ..] (+)= A[0..rows, 0..k] * `np` consecutive panels (rows <= 6): `acc`
    /// adds to C instead of overwriting it. A's element (r, kk) is at `a + r * rsa + kk * csa`;
    /// panel p starts at `b + p * pstride`. With np > 1 all panels are full; with np = 1 the
    /// panel has `ncols` valid columns.
    ///
    /// # Safety
    /// `a` addresses `rows` x `k` values as described, `b` starts a packed panel followed by
    /// `np - 1` more, `c` has room for the columns written (row stride `ldc`).
    #[allow(clippy::too_many_arguments)]
    unsafe fn kernel(
        rows: usize,
        np: usize,
        k: usize,
        a: *const Self,
        rsa: usize,
        csa: usize,
        b: *const Self,
        pstride: usize,
        c: *mut Self,
        ldc: usize,
        ncols: usize,
        acc: bool,
    );
}

#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn kernel_scalar<T: Real>(
    rows: usize,
    np: usize,
    k: usize,
    a: *const T,
    rsa: usize,
    csa: usize,
    b: *const T,
    pstride: usize,
    nr: usize,
    c: *mut T,
    ldc: usize,
    ncols: usize,
    acc: bool,
) {
    for p in 0..np {
        let (b, c) = (b.add(p * pstride), c.add(p * nr));
        for r in 0..rows {
            for j in 0..ncols {
                let mut s = if acc { *c.add(r * ldc + j) } else { T::ZERO };
                for kk in 0..k {
                    s += *a.add(r * rsa + kk * csa) * *b.add(kk * nr + j);
                }
                *c.add(r * ldc + j) = s;
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    /// R rows x P panels (P * NR columns, all full) or, with P = 1, one panel of `ncols`.
    /// Several panels at once give few-row blocks enough independent accumulators to hide
    /// the FMA latency; each output is still one sequential sum over k.
    macro_rules! kern {
        ($name:ident, $t:ty, $v:ty, $w:expr, $zero:ident, $load:ident, $set1:ident, $fma:ident, $store:ident) => {
            #[target_feature(enable = "avx2,fma")]
            #[allow(clippy::too_many_arguments)]
            pub unsafe fn $name<const R: usize, const P: usize>(
                k: usize,
                a: *const $t,
                rsa: usize,
                csa: usize,
                b: *const $t,
                pstride: usize,
                c: *mut $t,
                ldc: usize,
                ncols: usize,
                add: bool,
            ) {
                const NR: usize = 2 * $w;
                let mut acc = [[[$zero(); 2]; P]; R];
                if add {
                    for (r, row) in acc.iter_mut().enumerate() {
                        for (p, cell) in row.iter_mut().enumerate() {
                            let cp = c.add(r * ldc + p * NR);
                            if P > 1 || ncols == NR {
                                cell[0] = $load(cp);
                                cell[1] = $load(cp.add($w));
                            } else {
                                let mut tmp = [0 as $t; NR];
                                std::ptr::copy_nonoverlapping(cp, tmp.as_mut_ptr(), ncols);
                                cell[0] = $load(tmp.as_ptr());
                                cell[1] = $load(tmp.as_ptr().add($w));
                            }
                        }
                    }
                }
                for kk in 0..k {
                    let mut bv = [[$zero(); 2]; P];
                    for (p, v) in bv.iter_mut().enumerate() {
                        v[0] = $load(b.add(p * pstride + kk * NR));
                        v[1] = $load(b.add(p * pstride + kk * NR + $w));
                    }
                    for (r, row) in acc.iter_mut().enumerate() {
                        let av = $set1(*a.add(r * rsa + kk * csa));
                        for (p, cell) in row.iter_mut().enumerate() {
                            cell[0] = $fma(av, bv[p][0], cell[0]);
                            cell[1] = $fma(av, bv[p][1], cell[1]);
                        }
                    }
                }
                for (r, row) in acc.iter().enumerate() {
                    for (p, cell) in row.iter().enumerate() {
                        let cp = c.add(r * ldc + p * NR);
                        if P > 1 || ncols == NR {
                            $store(cp, cell[0]);
                            $store(cp.add($w), cell[1]);
                        } else {
                            let mut tmp = [0 as $t; NR];
                            $store(tmp.as_mut_ptr(), cell[0]);
                            $store(tmp.as_mut_ptr().add($w), cell[1]);
                            std::ptr::copy_nonoverlapping(tmp.as_ptr(), cp, ncols);
                        }
                    }
                }
            }
        };
    }
    kern!(f32k, f32, __m256, 8, _mm256_setzero_ps, _mm256_loadu_ps, _mm256_set1_ps, _mm256_fmadd_ps, _mm256_storeu_ps);
    kern!(f64k, f64, __m256d, 4, _mm256_setzero_pd, _mm256_loadu_pd, _mm256_set1_pd, _mm256_fmadd_pd, _mm256_storeu_pd);
}

/// Panels per kernel call for a block of `rows` rows (enough accumulators in flight).
fn panels_for(rows: usize) -> usize {
    match rows {
        1 => 4,
        2 | 3 => 2,
        _ => 1,
    }
}

macro_rules! dispatch_rows {
    ($f:ident, $rows:expr, $np:expr, $($args:expr),*) => {
        match ($rows, $np) {
            (1, 4) => avx2::$f::<1, 4>($($args),*),
            (1, _) => avx2::$f::<1, 1>($($args),*),
            (2, 2) => avx2::$f::<2, 2>($($args),*),
            (2, _) => avx2::$f::<2, 1>($($args),*),
            (3, 2) => avx2::$f::<3, 2>($($args),*),
            (3, _) => avx2::$f::<3, 1>($($args),*),
            (4, _) => avx2::$f::<4, 1>($($args),*),
            (5, _) => avx2::$f::<5, 1>($($args),*),
            _ => avx2::$f::<6, 1>($($args),*),
        }
    };
}

macro_rules! impl_kern {
    ($t:ty, $nr:expr, $k:ident) => {
        impl Kern for $t {
            const NR: usize = $nr;
            unsafe fn kernel(
                rows: usize,
                np: usize,
                k: usize,
                a: *const $t,
                rsa: usize,
                csa: usize,
                b: *const $t,
                pstride: usize,
                c: *mut $t,
                ldc: usize,
                ncols: usize,
                acc: bool,
            ) {
                #[cfg(target_arch = "x86_64")]
                if level() == Level::Avx2 {
                    return dispatch_rows!($k, rows, np, k, a, rsa, csa, b, pstride, c, ldc, ncols, acc);
                }
                kernel_scalar(rows, np, k, a, rsa, csa, b, pstride, Self::NR, c, ldc, ncols, acc)
            }
        }
    };
}
impl_kern!(f32, 16, f32k);
impl_kern!(f64, 8, f64k);

/// A k x n matrix packed in panels of `T::NR` columns.
pub struct PackedB<T> {
    pub k: usize,
    pub n: usize,
    data: Vec<T>,
}

impl<T: Kern> PackedB<T> {
    /// Pack B (k x n) given by element strides.
    ///
    /// # Safety
    /// The strides must address valid memory for every (row < k, col < n).
    pub unsafe fn new(k: usize, n: usize, b: *const T, rsb: usize, csb: usize) -> Self {
        let nr = T::NR;
        let np = n.div_ceil(nr);
        let mut data = vec![T::ZERO; np * k * nr];
        for p in 0..np {
            let cols = nr.min(n - p * nr);
            let panel = &mut data[p * k * nr..(p + 1) * k * nr];
            if rsb < csb {
                // B given transposed (columns contiguous): read each column in order.
                for j in 0..cols {
                    let col = b.add((p * nr + j) * csb);
                    for kk in 0..k {
                        panel[kk * nr + j] = *col.add(kk * rsb);
                    }
                }
            } else {
                for kk in 0..k {
                    for j in 0..cols {
                        panel[kk * nr + j] = *b.add(kk * rsb + (p * nr + j) * csb);
                    }
                }
            }
        }
        PackedB { k, n, data }
    }

    /// B (k x rows.len()) whose column j is row `rows[j]` of the row-major matrix `w` (k wide).
    pub fn from_rows(k: usize, rows: &[usize], w: &[T]) -> Self {
        let (nr, n) = (T::NR, rows.len());
        let mut data = vec![T::ZERO; n.div_ceil(nr) * k * nr];
        for (j, &r) in rows.iter().enumerate() {
            let (p, jj) = (j / nr, j % nr);
            let panel = &mut data[p * k * nr..(p + 1) * k * nr];
            for (kk, v) in w[r * k..(r + 1) * k].iter().enumerate() {
                panel[kk * nr + jj] = *v;
            }
        }
        PackedB { k, n, data }
    }

    /// C (m x n, row stride ldc) = A (m x k, row stride lda) B.
    ///
    /// # Safety
    /// `a` and `c` must address m rows as described.
    pub unsafe fn mul(&self, m: usize, a: *const T, lda: usize, c: *mut T, ldc: usize) {
        self.mul_sub(m, a, lda, 1, 0, self.k, 0, self.n, c, ldc, false);
    }

    /// C (m x ncols, row stride ldc) (+)= A times the block of B at rows `k0 .. k0 + kb` and
    /// columns `c0 .. c0 + ncols`: `acc` adds to C. A is m x kb with element (r, kk) at
    /// `a + r * rsa + kk * csa` (so A may be a transposed view). `c0` is a multiple of `T::NR`.
    ///
    /// # Safety
    /// `a` and `c` must address the rows and columns described; the block must lie inside B.
    #[allow(clippy::too_many_arguments)]
    pub unsafe fn mul_sub(
        &self,
        m: usize,
        a: *const T,
        rsa: usize,
        csa: usize,
        k0: usize,
        kb: usize,
        c0: usize,
        ncols: usize,
        c: *mut T,
        ldc: usize,
        acc: bool,
    ) {
        let (nr, k) = (T::NR, self.k);
        debug_assert!(c0 % nr == 0 && k0 + kb <= k && c0 + ncols <= self.n);
        if kb == 0 && !acc {
            for i in 0..m {
                std::ptr::write_bytes(c.add(i * ldc), 0, ncols);
            }
            return;
        }
        let base = self.data.as_ptr().add(k0 * nr + (c0 / nr) * k * nr);
        let full = ncols / nr;
        let np = ncols.div_ceil(nr);
        // Groups of up to 4 panels; each row block takes them `panels_for(rows)` at a time.
        for g0 in (0..np).step_by(4) {
            let g1 = (g0 + 4).min(np);
            let mut i = 0;
            while i < m {
                let rows = MR.min(m - i);
                let step = panels_for(rows);
                let mut p = g0;
                while p < g1 {
                    let take = if p + step <= g1.min(full) { step } else { 1 };
                    let cols = nr.min(ncols - p * nr);
                    T::kernel(
                        rows,
                        take,
                        kb,
                        a.add(i * rsa),
                        rsa,
                        csa,
                        base.add(p * k * nr),
                        k * nr,
                        c.add(i * ldc + p * nr),
                        ldc,
                        cols,
                        acc,
                    );
                    p += take;
                }
                i += rows;
            }
        }
    }
}

impl<T: Kern> PackedB<T> {
    /// Rows per block of a large product: the block of A (rows x k) stays in L2 (~160 KB)
    /// while every panel of B passes over it. Depends only on k.
    pub fn block_rows(&self) -> usize {
        let bytes = 160 * 1024 / (self.k.max(1) * std::mem::size_of::<T>());
        (bytes / MR * MR).clamp(MR, 32 * MR)
    }

    /// C = A B for many rows: blocks of [`block_rows`](Self::block_rows) rows, run on the
    /// current pool when `parallel` (each block is one sequential product, so the result does
    /// not depend on the thread count).
    ///
    /// # Safety
    /// As [`PackedB::mul`].
    pub unsafe fn mul_rows(&self, m: usize, a: *const T, lda: usize, c: *mut T, ldc: usize, parallel: bool) {
        let mc = self.block_rows();
        let (a, c) = (super::gemm::SyncPtr(a as *mut T), super::gemm::SyncPtr(c));
        super::gemm::for_each(m.div_ceil(mc), parallel, |b| {
            let r0 = b * mc;
            self.mul(mc.min(m - r0), a.at(r0 * lda), lda, c.at(r0 * ldc), ldc);
        });
    }
}

/// B split into blocks of `width` columns, each packed on its own, so that a block of
/// output columns can be computed (and followed by its element-wise work) independently.
pub struct ChunkedB<T> {
    pub width: usize,
    chunks: Vec<PackedB<T>>,
}

impl<T: Kern> ChunkedB<T> {
    /// # Safety
    /// As [`PackedB::new`].
    pub unsafe fn new(k: usize, n: usize, b: *const T, rsb: usize, csb: usize, width: usize) -> Self {
        let chunks = (0..n.div_ceil(width))
            .map(|i| {
                let c0 = i * width;
                PackedB::new(k, width.min(n - c0), b.add(c0 * csb), rsb, csb)
            })
            .collect();
        ChunkedB { width, chunks }
    }

    /// The recurrent weights W_hh (G H x `k`, row-major) as B = W^T with the gate rows of each
    /// block of `cw` hidden units side by side: block c holds, for each of the first `gates`
    /// gates, that gate's columns for units c*cw .. (c+1)*cw, so one block's product gives all
    /// gates of its units.
    pub fn regrouped(w: &[T], h: usize, k: usize, gates: usize, cw: usize) -> Self {
        let chunks = (0..h.div_ceil(cw))
            .map(|c| {
                let (j0, wd) = (c * cw, cw.min(h - c * cw));
                let rows: Vec<usize> = (0..gates).flat_map(|g| (0..wd).map(move |j| g * h + j0 + j)).collect();
                PackedB::from_rows(k, &rows, w)
            })
            .collect();
        ChunkedB { width: gates * cw, chunks }
    }

    pub fn len(&self) -> usize {
        self.chunks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.chunks.is_empty()
    }

    /// Block `i`.
    pub fn chunk(&self, i: usize) -> &PackedB<T> {
        &self.chunks[i]
    }

    /// Columns of block `i`.
    pub fn cols(&self, i: usize) -> usize {
        self.chunks[i].n
    }

    /// Block `i` of C = A B: C's columns `i * width ..` (c points at column 0 of row 0).
    ///
    /// # Safety
    /// As [`PackedB::mul`].
    pub unsafe fn mul_chunk(&self, i: usize, m: usize, a: *const T, lda: usize, c: *mut T, ldc: usize) {
        self.chunks[i].mul(m, a, lda, c.add(i * self.width), ldc);
    }

    /// All blocks, on the current pool when `parallel`.
    ///
    /// # Safety
    /// As [`PackedB::mul`].
    pub unsafe fn mul(&self, m: usize, a: *const T, lda: usize, c: *mut T, ldc: usize, parallel: bool) {
        let (a, c) = (super::gemm::SyncPtr(a as *mut T), super::gemm::SyncPtr(c));
        super::gemm::for_each(self.len(), parallel, |i| self.mul_chunk(i, m, a.p(), lda, c.p(), ldc));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::simd::set_level;

    fn check<T: Kern + Into<f64>>() {
        for &(m, k, n) in &[(1, 5, 3), (7, 33, 17), (13, 64, 40), (6, 1, 16), (1, 20, 100), (2, 9, 70), (3, 7, 64), (1, 3, 128)] {
            let a: Vec<T> = (0..m * k).map(|i| T::from_f64(((i * 7919) % 13) as f64 - 6.0)).collect();
            let bt: Vec<T> = (0..n * k).map(|i| T::from_f64(((i * 104729) % 11) as f64 - 5.0)).collect();
            let pb = unsafe { PackedB::new(k, n, bt.as_ptr(), 1, k) };
            for lv in [Level::Scalar, Level::Avx2] {
                set_level(lv);
                let mut c = vec![T::from_f64(99.0); m * (n + 2)];
                unsafe { pb.mul(m, a.as_ptr(), k, c.as_mut_ptr(), n + 2) };
                for i in 0..m {
                    for j in 0..n {
                        let want: f64 = (0..k).map(|t| a[i * k + t].into() * bt[j * k + t].into()).sum();
                        assert_eq!(c[i * (n + 2) + j].into(), want, "{m}x{k}x{n} at ({i},{j}) {lv:?}");
                    }
                    assert_eq!(c[i * (n + 2) + n].into(), 99.0, "wrote past the row");
                }
            }
        }
        set_level(Level::Avx2);
    }

    #[test]
    fn packed_products_are_exact_on_integers() {
        check::<f32>();
        check::<f64>();
    }
}
