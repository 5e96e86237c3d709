//! The AVX-512 packed micro-kernel (see `micro.rs`): R rows x P panels, one 512-bit
//! accumulator per row and panel (up to 6 x 4 = 24 of the 32 registers), B read as whole
//! panel rows and A broadcast; a partial last panel is loaded and stored with a lane mask.

// The AVX-512 intrinsics are stable since Rust 1.89, above Cargo.toml's rust-version (1.85):
// raising it is the lead's call (it also turns on newer clippy lints across the crate).
#![allow(clippy::incompatible_msrv)]

use std::arch::x86_64::*;

macro_rules! kern {
    ($name:ident, $t:ty, $v:ty, $m:ty, $nr:expr, $zero:ident, $load:ident, $mload:ident, $set1:ident, $fma:ident,
     $store:ident, $mstore:ident) => {
        /// # Safety
        /// The CPU has AVX-512 F, and the memory contract of `Kern::kernel` holds.
        #[target_feature(enable = "avx512f")]
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
            const NR: usize = $nr;
            let full = P > 1 || ncols >= NR;
            let mask: $m = if full { <$m>::MAX } else { ((1u32 << ncols) - 1) as $m };
            let mut acc: [[$v; P]; R] = [[$zero(); P]; R];
            if add {
                for (r, row) in acc.iter_mut().enumerate() {
                    for (p, cell) in row.iter_mut().enumerate() {
                        // SAFETY: C's row r, panel p; the mask keeps to the `ncols` valid
                        // columns of a partial panel (masked-off lanes are not read).
                        *cell = unsafe { $mload(mask, c.add(r * ldc + p * NR)) };
                    }
                }
            }
            for kk in 0..k {
                let mut bv: [$v; P] = [$zero(); P];
                for (p, v) in bv.iter_mut().enumerate() {
                    // SAFETY: panel p row kk: NR values inside the packed (zero-padded) panel.
                    *v = unsafe { $load(b.add(p * pstride + kk * NR)) };
                }
                for (r, row) in acc.iter_mut().enumerate() {
                    // SAFETY: A's element (r, kk), inside the rows x k block.
                    let av = $set1(unsafe { *a.add(r * rsa + kk * csa) });
                    for (p, cell) in row.iter_mut().enumerate() {
                        *cell = $fma(av, bv[p], *cell);
                    }
                }
            }
            for (r, row) in acc.iter().enumerate() {
                for (p, cell) in row.iter().enumerate() {
                    // SAFETY: as for the loads of C above (masked-off lanes are not written).
                    unsafe {
                        if full {
                            $store(c.add(r * ldc + p * NR), *cell);
                        } else {
                            $mstore(c.add(r * ldc + p * NR), mask, *cell);
                        }
                    }
                }
            }
        }
    };
}
kern!(
    f32k,
    f32,
    __m512,
    __mmask16,
    16,
    _mm512_setzero_ps,
    _mm512_loadu_ps,
    _mm512_maskz_loadu_ps,
    _mm512_set1_ps,
    _mm512_fmadd_ps,
    _mm512_storeu_ps,
    _mm512_mask_storeu_ps
);
kern!(
    f64k,
    f64,
    __m512d,
    __mmask8,
    8,
    _mm512_setzero_pd,
    _mm512_loadu_pd,
    _mm512_maskz_loadu_pd,
    _mm512_set1_pd,
    _mm512_fmadd_pd,
    _mm512_storeu_pd,
    _mm512_mask_storeu_pd
);
