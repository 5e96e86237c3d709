//! The AVX2 + FMA packed micro-kernel (see `micro.rs`): R rows x P panels, each panel two
//! 256-bit accumulators per row.

use std::arch::x86_64::*;

/// R rows x P panels (P * NR columns, all full) or, with P = 1, one panel of `ncols`.
/// Several panels at once give few-row blocks enough independent accumulators to hide the
/// FMA latency; each output is still one sequential sum over k.
macro_rules! kern {
    ($name:ident, $t:ty, $w:expr, $zero:ident, $load:ident, $set1:ident, $fma:ident, $store:ident) => {
        /// # Safety
        /// The CPU has AVX2 + FMA, and the memory contract of `Kern::kernel` holds.
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
            let full = P > 1 || ncols == NR;
            let mut acc = [[[$zero(); 2]; P]; R];
            if add {
                for (r, row) in acc.iter_mut().enumerate() {
                    for (p, cell) in row.iter_mut().enumerate() {
                        // SAFETY: C's row r, panel p: NR columns when full, else `ncols`
                        // copied to a local buffer first.
                        unsafe {
                            let cp = c.add(r * ldc + p * NR);
                            if full {
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
            }
            for kk in 0..k {
                let mut bv = [[$zero(); 2]; P];
                for (p, v) in bv.iter_mut().enumerate() {
                    // SAFETY: panel p row kk: NR values inside the packed panel.
                    unsafe {
                        v[0] = $load(b.add(p * pstride + kk * NR));
                        v[1] = $load(b.add(p * pstride + kk * NR + $w));
                    }
                }
                for (r, row) in acc.iter_mut().enumerate() {
                    // SAFETY: A's element (r, kk), inside the rows x k block.
                    let av = $set1(unsafe { *a.add(r * rsa + kk * csa) });
                    for (p, cell) in row.iter_mut().enumerate() {
                        cell[0] = $fma(av, bv[p][0], cell[0]);
                        cell[1] = $fma(av, bv[p][1], cell[1]);
                    }
                }
            }
            for (r, row) in acc.iter().enumerate() {
                for (p, cell) in row.iter().enumerate() {
                    // SAFETY: as for the loads of C above.
                    unsafe {
                        let cp = c.add(r * ldc + p * NR);
                        if full {
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
        }
    };
}
kern!(f32k, f32, 8, _mm256_setzero_ps, _mm256_loadu_ps, _mm256_set1_ps, _mm256_fmadd_ps, _mm256_storeu_ps);
kern!(f64k, f64, 4, _mm256_setzero_pd, _mm256_loadu_pd, _mm256_set1_pd, _mm256_fmadd_pd, _mm256_storeu_pd);
