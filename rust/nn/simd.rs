//! Run-time SIMD dispatch for the element-wise and small-matrix kernels.
//!
//! Kernels are written once as generic Rust with plain loops; `simd_kernels!` compiles each
//! twice, for the baseline target (the scalar path) and with `avx2,fma` enabled, where LLVM vectorises the same loops 8 (f32) or 4
//! (f64) wide. The level is detected once; `SEQFAST_SIMD=scalar` forces the scalar path so tests
//! can cover it (`set_level` does the same from code). Large matrix products go through
//! `matrixmultiply`, which does its own run-time dispatch. AVX-512 is not used: the machines this
//! was measured on have none, and nothing here was tuned for it.

use std::sync::atomic::{AtomicU8, Ordering};

/// Instruction-set level of the `nn` kernels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    Scalar,
    Avx2,
}

static LEVEL: AtomicU8 = AtomicU8::new(0); // 0 = not detected yet, 1 = scalar, 2 = avx2

fn detect() -> Level {
    if std::env::var("SEQFAST_SIMD").map(|v| v.trim().eq_ignore_ascii_case("scalar")).unwrap_or(false) {
        return Level::Scalar;
    }
    if cpu_has_avx2() {
        Level::Avx2
    } else {
        Level::Scalar
    }
}

/// The level in use.
pub fn level() -> Level {
    match LEVEL.load(Ordering::Relaxed) {
        1 => Level::Scalar,
        2 => Level::Avx2,
        _ => {
            let l = detect();
            LEVEL.store(if l == Level::Avx2 { 2 } else { 1 }, Ordering::Relaxed);
            l
        }
    }
}

/// Force a level (`Avx2` is only honoured if the CPU has it). Returns the level now in use.
pub fn set_level(l: Level) -> Level {
    let got = if l == Level::Avx2 && !cpu_has_avx2() { Level::Scalar } else { l };
    LEVEL.store(if got == Level::Avx2 { 2 } else { 1 }, Ordering::Relaxed);
    got
}

fn cpu_has_avx2() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Define kernels once and get, for each, a public function that runs it compiled for
/// AVX2/FMA when [`level`] allows, else compiled for the baseline target.
macro_rules! simd_kernels {
    ($( $(#[$m:meta])* fn $name:ident<T>($($arg:ident : $ty:ty),* $(,)?) $body:block )*) => {
        $(
            $(#[$m])*
            ///
            /// # Safety
            /// Every block must address valid memory for the rows and units it covers.
            #[allow(clippy::too_many_arguments)]
            pub unsafe fn $name<T: Real>($($arg: $ty),*) {
                #[inline(always)]
                unsafe fn kernel<T: Real>($($arg: $ty),*) $body
                #[cfg(target_arch = "x86_64")]
                #[target_feature(enable = "avx2,fma")]
                unsafe fn fast<T: Real>($($arg: $ty),*) {
                    kernel::<T>($($arg),*)
                }
                #[cfg(target_arch = "x86_64")]
                if $crate::nn::simd::level() == $crate::nn::simd::Level::Avx2 {
                    return fast::<T>($($arg),*);
                }
                kernel::<T>($($arg),*)
            }
        )*
    };
}
pub(crate) use simd_kernels;
