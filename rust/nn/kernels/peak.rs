//! The machine's FMA peak on one core, measured with a register-only loop: independent FMA
//! chains (more than latency x throughput of them) on values that never leave the registers,
//! so nothing but the FMA units limits the rate. Benchmarks divide by it.

use std::hint::black_box;
use std::time::Instant;

use super::simd::{best, Level};

/// Run `iters` rounds of the register-only loop at `level` for f32 (`f64 = false`) or f64 on
/// the calling thread: (floating-point operations done, 2 per FMA lane; wall seconds). The
/// level is capped at what the CPU has; `Scalar` runs a plain multiply-add loop the compiler
/// may vectorise for the baseline target.
pub fn fma_flops(level: Level, f64: bool, iters: usize) -> (f64, f64) {
    let level = level.min(best());
    let t0 = Instant::now();
    let flops_per_iter = match (level, f64) {
        #[cfg(target_arch = "x86_64")]
        (Level::Avx512, false) => {
            // SAFETY: the level is capped at what the CPU has.
            black_box(unsafe { x86::avx512_ps(iters) });
            24 * 16 * 2
        }
        #[cfg(target_arch = "x86_64")]
        (Level::Avx512, true) => {
            // SAFETY: as above.
            black_box(unsafe { x86::avx512_pd(iters) });
            24 * 8 * 2
        }
        #[cfg(target_arch = "x86_64")]
        (Level::Avx2, false) => {
            // SAFETY: as above.
            black_box(unsafe { x86::avx2_ps(iters) });
            12 * 8 * 2
        }
        #[cfg(target_arch = "x86_64")]
        (Level::Avx2, true) => {
            // SAFETY: as above.
            black_box(unsafe { x86::avx2_pd(iters) });
            12 * 4 * 2
        }
        _ => {
            let mut acc = [1.0f64; 8];
            let (a, b) = (black_box(0.999_999f64), black_box(1e-9f64));
            for _ in 0..iters {
                for x in acc.iter_mut() {
                    *x = *x * a + b;
                }
            }
            black_box(acc);
            8 * 2
        }
    };
    ((iters * flops_per_iter) as f64, t0.elapsed().as_secs_f64())
}

#[cfg(target_arch = "x86_64")]
#[allow(clippy::incompatible_msrv)] // AVX-512 intrinsics: Rust 1.89 (see avx512.rs)
mod x86 {
    use std::arch::x86_64::*;
    use std::hint::black_box;

    macro_rules! peak {
        ($name:ident, $feat:literal, $n:expr, $t:ty, $set1:ident, $fma:ident, $add:ident) => {
            /// # Safety
            /// The CPU has the target features.
            #[target_feature(enable = $feat)]
            pub unsafe fn $name(iters: usize) -> $t {
                let a = $set1(black_box(0.999_999 as $t));
                let b = $set1(black_box(1e-9 as $t));
                let mut acc = [$set1(1.0 as $t); $n];
                for _ in 0..iters {
                    for x in acc.iter_mut() {
                        *x = $fma(*x, a, b);
                    }
                }
                let mut s = acc[0];
                for x in &acc[1..] {
                    s = $add(s, *x);
                }
                let mut out = [0 as $t; 64 / std::mem::size_of::<$t>()];
                // SAFETY: `out` has room for one full register of either width.
                unsafe {
                    std::ptr::copy_nonoverlapping(
                        &s as *const _ as *const $t,
                        out.as_mut_ptr(),
                        std::mem::size_of_val(&s) / std::mem::size_of::<$t>(),
                    )
                };
                out[0]
            }
        };
    }
    peak!(avx2_ps, "avx2,fma", 12, f32, _mm256_set1_ps, _mm256_fmadd_ps, _mm256_add_ps);
    peak!(avx2_pd, "avx2,fma", 12, f64, _mm256_set1_pd, _mm256_fmadd_pd, _mm256_add_pd);
    peak!(avx512_ps, "avx512f", 24, f32, _mm512_set1_ps, _mm512_fmadd_ps, _mm512_add_ps);
    peak!(avx512_pd, "avx512f", 24, f64, _mm512_set1_pd, _mm512_fmadd_pd, _mm512_add_pd);
}
