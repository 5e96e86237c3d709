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

pub use super::kernels::micro::Kern;
use super::kernels::micro::{panels_take, MR};
use super::workspace::{self, Pooled, Scratch};

/// A k x n matrix packed in panels of `T::NR` columns.
pub struct PackedB<T: Pooled> {
    pub k: usize,
    pub n: usize,
    /// The panels start at `data[off]`, a 64-byte boundary: every panel row is then one
    /// cache line (f32 and f64 alike), and no vector load splits across two lines.
    data: Scratch<T>,
    off: usize,
}

/// `len` zeros starting on a 64-byte boundary: the buffer and the offset of that start.
fn aligned_zeros<T: Pooled>(len: usize) -> (Scratch<T>, usize) {
    let lanes = 64 / std::mem::size_of::<T>();
    let data = workspace::zeros(len + lanes);
    let off = (data.as_ptr() as usize).next_multiple_of(64) - data.as_ptr() as usize;
    (data, off / std::mem::size_of::<T>())
}

impl<T: Kern> PackedB<T> {
    /// Pack B (k x n) given by element strides.
    ///
    /// # Safety
    /// The strides must address valid memory for every (row < k, col < n).
    pub unsafe fn new(k: usize, n: usize, b: *const T, rsb: usize, csb: usize) -> Self {
        let nr = T::NR;
        let np = n.div_ceil(nr);
        let (mut data, off) = aligned_zeros(np * k * nr);
        for p in 0..np {
            let cols = nr.min(n - p * nr);
            let panel = &mut data[off + p * k * nr..off + (p + 1) * k * nr];
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
        PackedB { k, n, data, off }
    }

    /// B (k x n) whose row `kk` is the concatenation of the two slices `row(kk)` (n values in
    /// all): e.g. [X | H_prev] for the fused weight gradient, without building it first.
    /// Panels are filled on the current pool when `parallel`.
    pub fn from_row_pairs<'a>(k: usize, n: usize, row: impl Fn(usize) -> [&'a [T]; 2] + Sync, parallel: bool) -> Self {
        use rayon::prelude::*;
        const GROUP: usize = 8; // panels filled together: rows are read once, 8 write streams
        let nr = T::NR;
        let np = n.div_ceil(nr);
        let (mut data, off) = aligned_zeros(np * k * nr);
        let fill = |(g, panels): (usize, &mut [T])| {
            let p0 = g * GROUP;
            for kk in 0..k {
                let [s1, s2] = row(kk);
                debug_assert_eq!(s1.len() + s2.len(), n);
                for (i, panel) in panels.chunks_exact_mut(k * nr).enumerate() {
                    let j0 = (p0 + i) * nr;
                    let cols = nr.min(n - j0);
                    let dst = &mut panel[kk * nr..kk * nr + cols];
                    if j0 + cols <= s1.len() {
                        dst.copy_from_slice(&s1[j0..j0 + cols]);
                    } else if j0 >= s1.len() {
                        dst.copy_from_slice(&s2[j0 - s1.len()..j0 - s1.len() + cols]);
                    } else {
                        for (jj, d) in dst.iter_mut().enumerate() {
                            let j = j0 + jj;
                            *d = if j < s1.len() { s1[j] } else { s2[j - s1.len()] };
                        }
                    }
                }
            }
        };
        let groups = &mut data[off..off + np * k * nr];
        let size = (GROUP * k * nr).max(1);
        if parallel && k * n >= 1 << 16 {
            groups.par_chunks_mut(size).enumerate().for_each(fill);
        } else {
            groups.chunks_mut(size).enumerate().for_each(fill);
        }
        PackedB { k, n, data, off }
    }

    /// B (k x rows.len()) whose column j is row `rows[j]` of the row-major matrix `w` (k wide).
    pub fn from_rows(k: usize, rows: &[usize], w: &[T]) -> Self {
        let (nr, n) = (T::NR, rows.len());
        let (mut data, off) = aligned_zeros(n.div_ceil(nr) * k * nr);
        for (j, &r) in rows.iter().enumerate() {
            let (p, jj) = (j / nr, j % nr);
            let panel = &mut data[off + p * k * nr..off + (p + 1) * k * nr];
            for (kk, v) in w[r * k..(r + 1) * k].iter().enumerate() {
                panel[kk * nr + jj] = *v;
            }
        }
        PackedB { k, n, data, off }
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
        let base = self.data.as_ptr().add(self.off + k0 * nr + (c0 / nr) * k * nr);
        let full = ncols / nr;
        let np = ncols.div_ceil(nr);
        // Groups of up to 4 panels; each row block takes them `panels_for(rows)` at a time.
        for g0 in (0..np).step_by(4) {
            let g1 = (g0 + 4).min(np);
            let mut i = 0;
            while i < m {
                let rows = MR.min(m - i);
                let mut p = g0;
                while p < g1 {
                    let take = panels_take(rows, g1.min(full).saturating_sub(p));
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
    /// Depth of one pass of a large product (1 KB of each panel row pass: 256 f32, 128 f64):
    /// a group of panels at this depth stays in L2 next to the block of A.
    pub fn depth_block(&self) -> usize {
        (1024 / std::mem::size_of::<T>()).min(self.k).max(1)
    }

    /// Rows per block of a large product: the block of A (rows x depth) stays in L2 (~160 KB)
    /// while every panel of B passes over it. Depends only on k.
    pub fn block_rows(&self) -> usize {
        let bytes = 160 * 1024 / (self.depth_block() * std::mem::size_of::<T>());
        (bytes / MR * MR).clamp(MR, 32 * MR)
    }

    /// C = A B for many rows: blocks of [`block_rows`](Self::block_rows) rows, run on the
    /// current pool when `parallel`, each over k in passes of [`depth_block`](Self::depth_block)
    /// that add to C. A pass continues each output's FMA chain from the value stored in C, so
    /// the result is one sequential sum over k, whatever the blocking or the thread count.
    ///
    /// # Safety
    /// As [`PackedB::mul`].
    pub unsafe fn mul_rows(&self, m: usize, a: *const T, lda: usize, c: *mut T, ldc: usize, parallel: bool) {
        // SAFETY: the caller's contract.
        unsafe { self.mul_rows_strided(m, a, lda, 1, c, ldc, parallel) }
    }

    /// [`mul_rows`](Self::mul_rows) with A's element (r, kk) at `a + r * rsa + kk * csa`
    /// (so A may be a transposed view).
    ///
    /// # Safety
    /// `a` addresses m x k values as described, `c` m rows of n (row stride ldc).
    #[allow(clippy::too_many_arguments)]
    pub unsafe fn mul_rows_strided(&self, m: usize, a: *const T, rsa: usize, csa: usize, c: *mut T, ldc: usize, parallel: bool) {
        let (mc, kc, k) = (self.block_rows(), self.depth_block(), self.k);
        let (a, c) = (super::gemm::SyncPtr(a as *mut T), super::gemm::SyncPtr(c));
        super::gemm::for_each(m.div_ceil(mc), parallel, |b| {
            let r0 = b * mc;
            let rows = mc.min(m - r0);
            let mut k0 = 0;
            loop {
                // One pass (with k = 0, a single pass that zeroes C).
                let kb = kc.min(k - k0);
                // SAFETY: rows r0.. and depth k0.. of A, rows r0.. of C: inside the shapes the
                // caller vouches for; row blocks are disjoint across threads.
                unsafe { self.mul_sub(rows, a.at(r0 * rsa + k0 * csa), rsa, csa, k0, kb, 0, self.n, c.at(r0 * ldc), ldc, k0 > 0) };
                k0 += kb;
                if k0 >= k {
                    break;
                }
            }
        });
    }
}

/// C (m x n) = op(A) op(B) for contiguous row-major arrays on the packed kernel (op transposes
/// when asked: A is then stored k x m, B n x k), on `num_threads` threads. B is packed once and
/// the rows of A are taken in blocks; each output is one sequential sum over k, so the result
/// does not depend on the thread count. For products with many rows per packing of B (the
/// projections of attention layers), where it runs near the FMA peak.
#[allow(clippy::too_many_arguments)]
pub fn matmul<T: Kern>(
    a: &[T],
    b: &[T],
    m: usize,
    k: usize,
    n: usize,
    ta: bool,
    tb: bool,
    num_threads: Option<usize>,
) -> crate::error::Result<Vec<T>> {
    if a.len() != m * k || b.len() != k * n {
        return Err(crate::error::Error::Shape(format!(
            "matmul: A has {} elements and B {}, expected {} ({m}x{k}) and {} ({k}x{n})",
            a.len(),
            b.len(),
            m * k,
            k * n
        )));
    }
    let (rsa, csa) = if ta { (1, m) } else { (k, 1) };
    let (rsb, csb) = if tb { (1, k) } else { (n, 1) };
    let mut c = vec![T::ZERO; m * n];
    if m == 0 || n == 0 {
        return Ok(c);
    }
    crate::parallel::install(num_threads, || {
        // SAFETY: b holds k x n values at strides (rsb, csb) and a m x k at (rsa, csa), both
        // checked against their lengths above; c is m rows of n.
        unsafe {
            let bp = PackedB::new(k, n, b.as_ptr(), rsb, csb);
            bp.mul_rows_strided(m, a.as_ptr(), rsa, csa, c.as_mut_ptr(), n, true);
        }
    })?;
    Ok(c)
}

/// B split into blocks of `width` columns, each packed on its own, so that a block of
/// output columns can be computed (and followed by its element-wise work) independently.
pub struct ChunkedB<T: Pooled> {
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
    use crate::nn::kernels::simd::{set_level, Level};

    fn check<T: Kern + Into<f64>>() {
        for &(m, k, n) in &[(1, 5, 3), (7, 33, 17), (13, 64, 40), (6, 1, 16), (1, 20, 100), (2, 9, 70), (3, 7, 64), (1, 3, 128)] {
            let a: Vec<T> = (0..m * k).map(|i| T::from_f64(((i * 7919) % 13) as f64 - 6.0)).collect();
            let bt: Vec<T> = (0..n * k).map(|i| T::from_f64(((i * 104729) % 11) as f64 - 5.0)).collect();
            let pb = unsafe { PackedB::new(k, n, bt.as_ptr(), 1, k) };
            for lv in [Level::Scalar, Level::Avx2, Level::Avx512] {
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
        set_level(crate::nn::kernels::simd::best());
    }

    #[test]
    fn packed_products_are_exact_on_integers() {
        check::<f32>();
        check::<f64>();
    }

    #[test]
    fn matmul_transposes_and_is_thread_independent() {
        // 300 rows span several row blocks; k = 600 several depth passes.
        for &(m, k, n) in &[(300, 600, 70), (5, 3, 2), (0, 4, 3), (40, 1, 9), (3, 0, 4)] {
            let a: Vec<f64> = (0..m * k).map(|i| ((i * 7919) % 13) as f64 - 6.0).collect();
            let b: Vec<f64> = (0..k * n).map(|i| ((i * 104729) % 11) as f64 - 5.0).collect();
            let at: Vec<f64> = (0..m * k).map(|i| a[(i % m) * k + i / m]).collect(); // k x m
            let bt: Vec<f64> = (0..k * n).map(|i| b[(i % k) * n + i / k]).collect(); // n x k
            let want: Vec<f64> = (0..m * n).map(|i| (0..k).map(|t| a[(i / n) * k + t] * b[t * n + i % n]).sum()).collect();
            for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
                let (x, y) = (if ta { &at } else { &a }, if tb { &bt } else { &b });
                for threads in [1, 2] {
                    assert_eq!(matmul(x, y, m, k, n, ta, tb, Some(threads)).unwrap(), want, "{m}x{k}x{n} ta={ta} tb={tb} {threads}t");
                }
            }
        }
        assert!(matmul(&[1.0f64; 5], &[1.0; 6], 2, 3, 2, false, false, None).is_err());
    }
}
