//! The packed-panel micro-kernels: C[rows, P panels] (+)= A[rows, 0..k] * B panels, where a
//! panel is `k` rows of `NR` consecutive values (f32: NR = 16, f64: NR = 8; one AVX-512
//! register, two AVX2 registers), zero-padded past the matrix's last column.
//!
//! One kernel per level: `scalar` (plain loops, the reference), `avx2` (R x P blocks of two
//! 256-bit accumulators per panel, at most 6 x 1 = 12 accumulators of the 16 registers) and
//! `avx512` (R x P blocks of one 512-bit accumulator per panel, up to 6 x 4 = 24 of the 32
//! registers, masked loads and stores at a partial last panel). Every output element is one
//! sequential FMA chain over k in order (the scalar kernel: multiply then add), so results
//! are the same at AVX2 and AVX-512 and do not depend on how callers split rows or panels.

use super::simd::{level, Level};
use crate::nn::real::Real;

/// Largest row block of one kernel call.
pub const MR: usize = 6;

/// f32 or f64 with a packed-panel micro-kernel.
pub trait Kern: Real + crate::nn::workspace::Pooled {
    /// Panel width.
    const NR: usize;
    /// C[0..rows, ..] (+)= A[0..rows, 0..k] * `np` consecutive panels (rows <= [`MR`]): `acc`
    /// adds to C instead of overwriting it. A's element (r, kk) is at `a + r * rsa + kk * csa`;
    /// panel p starts at `b + p * pstride`. With np > 1 all panels are full; with np = 1 the
    /// panel has `ncols` valid columns (1..=NR). `np` is at most [`panels_for`]`(rows)`.
    ///
    /// # Safety
    /// `a` addresses `rows` x `k` values as described, `b` starts a packed panel of `k * NR`
    /// values followed by `np - 1` more at `pstride`, `c` has room for the columns written
    /// (row stride `ldc`) and does not overlap A or B.
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

/// Panels per kernel call for a block of `rows` rows at the current level (enough
/// independent accumulators to hide the FMA latency).
pub fn panels_for(rows: usize) -> usize {
    if level() == Level::Avx512 {
        return 4;
    }
    match rows {
        1 => 4,
        2 | 3 => 2,
        _ => 1,
    }
}

/// Panels the next kernel call takes for a block of `rows` rows when `full_left` (>= 1) full
/// panels remain in the group: [`panels_for`] when that many remain, else a count the kernels
/// of this level also handle. Returns 1 when `full_left` is 0 (a partial last panel).
pub fn panels_take(rows: usize, full_left: usize) -> usize {
    let want = panels_for(rows);
    if full_left >= want {
        want
    } else if level() == Level::Avx512 {
        full_left.max(1)
    } else if full_left >= 2 && want >= 2 {
        2
    } else {
        1
    }
}

/// The reference kernel (any level may fall back to it).
///
/// # Safety
/// As [`Kern::kernel`].
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
        let cols = if np > 1 { nr } else { ncols };
        for r in 0..rows {
            for j in 0..cols {
                // SAFETY: (r, j) is inside the block the caller vouches for; panel p holds k
                // rows of nr values.
                unsafe {
                    let cp = c.add(r * ldc + p * nr + j);
                    let mut s = if acc { *cp } else { T::ZERO };
                    for kk in 0..k {
                        s += *a.add(r * rsa + kk * csa) * *b.add(p * pstride + kk * nr + j);
                    }
                    *cp = s;
                }
            }
        }
    }
}

/// Run `$m::$f::<R, P>` for the (rows, panels) pair.
#[cfg(target_arch = "x86_64")]
macro_rules! dispatch_avx2 {
    ($f:path, $rows:expr, $np:expr, $($args:expr),*) => {{
        use $f as f;
        match ($rows, $np) {
            (1, 4) => f::<1, 4>($($args),*),
            (1, 2) => f::<1, 2>($($args),*),
            (1, _) => f::<1, 1>($($args),*),
            (2, 2) => f::<2, 2>($($args),*),
            (2, _) => f::<2, 1>($($args),*),
            (3, 2) => f::<3, 2>($($args),*),
            (3, _) => f::<3, 1>($($args),*),
            (4, _) => f::<4, 1>($($args),*),
            (5, _) => f::<5, 1>($($args),*),
            _ => f::<6, 1>($($args),*),
        }
    }};
}

#[cfg(target_arch = "x86_64")]
macro_rules! dispatch_avx512 {
    ($f:path, $rows:expr, $np:expr, $($args:expr),*) => {{
        use $f as f;
        match ($rows, $np) {
            (1, 4) => f::<1, 4>($($args),*),
            (1, 3) => f::<1, 3>($($args),*),
            (1, 2) => f::<1, 2>($($args),*),
            (1, _) => f::<1, 1>($($args),*),
            (2, 4) => f::<2, 4>($($args),*),
            (2, 3) => f::<2, 3>($($args),*),
            (2, 2) => f::<2, 2>($($args),*),
            (2, _) => f::<2, 1>($($args),*),
            (3, 4) => f::<3, 4>($($args),*),
            (3, 3) => f::<3, 3>($($args),*),
            (3, 2) => f::<3, 2>($($args),*),
            (3, _) => f::<3, 1>($($args),*),
            (4, 4) => f::<4, 4>($($args),*),
            (4, 3) => f::<4, 3>($($args),*),
            (4, 2) => f::<4, 2>($($args),*),
            (4, _) => f::<4, 1>($($args),*),
            (5, 4) => f::<5, 4>($($args),*),
            (5, 3) => f::<5, 3>($($args),*),
            (5, 2) => f::<5, 2>($($args),*),
            (5, _) => f::<5, 1>($($args),*),
            (_, 4) => f::<6, 4>($($args),*),
            (_, 3) => f::<6, 3>($($args),*),
            (_, 2) => f::<6, 2>($($args),*),
            _ => f::<6, 1>($($args),*),
        }
    }};
}

macro_rules! impl_kern {
    ($t:ty, $nr:expr, $k2:path, $k5:path) => {
        impl Kern for $t {
            const NR: usize = $nr;
            #[inline]
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
                debug_assert!((1..=MR).contains(&rows) && np >= 1 && (np == 1 || ncols == $nr));
                #[cfg(target_arch = "x86_64")]
                match level() {
                    // SAFETY: the level is AVX-512 only on a CPU with AVX-512 F; the caller's
                    // contract covers the memory.
                    Level::Avx512 => return unsafe { dispatch_avx512!($k5, rows, np, k, a, rsa, csa, b, pstride, c, ldc, ncols, acc) },
                    // SAFETY: likewise for AVX2 + FMA.
                    Level::Avx2 => return unsafe { dispatch_avx2!($k2, rows, np, k, a, rsa, csa, b, pstride, c, ldc, ncols, acc) },
                    Level::Scalar => {}
                }
                // SAFETY: the caller's contract, passed on unchanged.
                unsafe { kernel_scalar(rows, np, k, a, rsa, csa, b, pstride, Self::NR, c, ldc, ncols, acc) }
            }
        }
    };
}
impl_kern!(f32, 16, super::avx2::f32k, super::avx512::f32k);
impl_kern!(f64, 8, super::avx2::f64k, super::avx512::f64k);
