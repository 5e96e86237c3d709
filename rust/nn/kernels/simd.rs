//! Run-time SIMD dispatch for every `nn` kernel.
//!
//! Levels, lowest first: `Scalar` (the baseline target: plain loops, the reference path),
//! `Avx2` (AVX2 + FMA) and `Avx512` (AVX-512 F). The level is detected once from the CPU;
//! `SEQFAST_SIMD=scalar|avx2|avx512` forces one at start-up (a level the CPU lacks falls back to
//! the best it has) and [`set_level`] does the same from code, so tests cover every level.
//!
//! Element-wise kernels are written once as generic Rust with plain loops; `simd_kernels!`
//! compiles each twice, for the baseline target and with `avx2,fma` enabled, where LLVM
//! vectorises the same loops 8 (f32) or 4 (f64) wide; the AVX-512 level runs the AVX2 build of
//! those (they are bound by exp/tanh and memory, not by vector width). The packed products
//! (`micro.rs`) have a hand-written micro-kernel per level.

use std::sync::atomic::{AtomicU8, Ordering};

/// Instruction-set level of the `nn` kernels (ordered: a higher level implies the lower ones).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Scalar,
    Avx2,
    Avx512,
}

impl Level {
    /// The name used by `SEQFAST_SIMD` and `seqfast.nn.simd_level`.
    pub fn name(self) -> &'static str {
        match self {
            Level::Scalar => "scalar",
            Level::Avx2 => "avx2",
            Level::Avx512 => "avx512",
        }
    }

    /// The level named `s` (case-insensitive), if any.
    pub fn parse(s: &str) -> Option<Level> {
        [Level::Scalar, Level::Avx2, Level::Avx512].into_iter().find(|l| l.name().eq_ignore_ascii_case(s.trim()))
    }

    fn code(self) -> u8 {
        self as u8 + 1
    }
}

static LEVEL: AtomicU8 = AtomicU8::new(0); // 0 = not detected yet, else Level::code

/// The best level this CPU runs.
pub fn best() -> Level {
    if cpu_has_avx512() {
        Level::Avx512
    } else if cpu_has_avx2() {
        Level::Avx2
    } else {
        Level::Scalar
    }
}

fn detect() -> Level {
    let best = best();
    match std::env::var("SEQFAST_SIMD").ok().and_then(|v| Level::parse(&v)) {
        Some(l) => l.min(best),
        None => best,
    }
}

/// The level in use.
#[inline]
pub fn level() -> Level {
    match LEVEL.load(Ordering::Relaxed) {
        1 => Level::Scalar,
        2 => Level::Avx2,
        3 => Level::Avx512,
        _ => {
            let l = detect();
            LEVEL.store(l.code(), Ordering::Relaxed);
            l
        }
    }
}

/// Force a level (capped at what the CPU has). Returns the level now in use.
pub fn set_level(l: Level) -> Level {
    let got = l.min(best());
    LEVEL.store(got.code(), Ordering::Relaxed);
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

fn cpu_has_avx512() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        cpu_has_avx2() && std::arch::is_x86_feature_detected!("avx512f")
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
                #[allow(unsafe_op_in_unsafe_fn)]
                unsafe fn kernel<T: Real>($($arg: $ty),*) $body
                #[cfg(target_arch = "x86_64")]
                #[target_feature(enable = "avx2,fma")]
                unsafe fn fast<T: Real>($($arg: $ty),*) {
                    // SAFETY: the caller's contract, passed on unchanged.
                    unsafe { kernel::<T>($($arg),*) }
                }
                #[cfg(target_arch = "x86_64")]
                if $crate::nn::kernels::simd::level() >= $crate::nn::kernels::simd::Level::Avx2 {
                    // SAFETY: the level is at least AVX2 only when the CPU has AVX2 and FMA.
                    return unsafe { fast::<T>($($arg),*) };
                }
                // SAFETY: the caller's contract, passed on unchanged.
                unsafe { kernel::<T>($($arg),*) }
            }
        )*
    };
}
pub(crate) use simd_kernels;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_parse_and_cap() {
        assert_eq!(Level::parse(" AVX512 "), Some(Level::Avx512));
        assert_eq!(Level::parse("avx2"), Some(Level::Avx2));
        assert_eq!(Level::parse("sse"), None);
        assert!(Level::Scalar < Level::Avx2 && Level::Avx2 < Level::Avx512);
        let before = level();
        assert_eq!(set_level(Level::Scalar), Level::Scalar);
        assert!(set_level(Level::Avx512) <= best());
        set_level(before);
    }
}
