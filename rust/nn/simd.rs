//! Run-time SIMD dispatch for the element-wise and small-matrix kernels.
//!
//! Kernels are written once as generic `#[inline(always)]` Rust with plain loops; [`run`] calls
//! them either directly (the scalar path, compiled for the baseline target) or inside a
//! function compiled with `avx2,fma` enabled, where LLVM vectorises the same loops 8 (f32) or 4
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
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
            return Level::Avx2;
        }
    }
    Level::Scalar
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

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn with_avx2<R, F: FnOnce() -> R>(f: F) -> R {
    f()
}

/// Run `f` at the current level. `f` should call `#[inline(always)]` kernels only, so that they
/// are compiled into the feature-enabled frame.
#[inline(always)]
pub fn run<R, F: FnOnce() -> R>(f: F) -> R {
    #[cfg(target_arch = "x86_64")]
    {
        if level() == Level::Avx2 {
            // SAFETY: `level()` is Avx2 only when the CPU reports avx2 and fma.
            return unsafe { with_avx2(f) };
        }
    }
    f()
}
