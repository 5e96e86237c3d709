//! The two float types of `nn` (f32, the fast path, and f64, for gradient checks) behind one
//! trait, with the element-wise functions the cells need.
//!
//! `sigmoid` and `tanh` are written from `exp` with plain arithmetic so that LLVM vectorises the
//! loops that call them inside `#[target_feature]` functions (see `simd.rs`). For f32, `exp` is
//! a Cody-Waite range reduction and a degree-6 polynomial (relative error below 2e-7 on the
//! clamped range); for f64 a Taylor series to degree 13 (within 2 ulp). `tanh(x)` is
//! `sign(x) (1 - e) / (1 + e)` with `e = exp(-2|x|)`, or its Taylor series below |x| = 1/16.

use std::fmt::Debug;
use std::ops::{Add, AddAssign, Div, Mul, Neg, Sub};

/// f32 or f64.
pub trait Real:
    Copy
    + Send
    + Sync
    + Default
    + Debug
    + PartialOrd
    + 'static
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Neg<Output = Self>
    + AddAssign
{
    const ZERO: Self;
    const ONE: Self;
    const NAME: &'static str;
    fn from_f64(x: f64) -> Self;
    fn to_f64(self) -> f64;
    fn exp_(self) -> Self;
    fn abs_(self) -> Self;
    fn max_(self, o: Self) -> Self;
    fn copysign_(self, sign: Self) -> Self;
    fn is_finite_(self) -> bool;
    /// tanh for throughput: for f32 a rational approximation (absolute error below 4e-7,
    /// relative below 3e-7 for |x| < 1/2), for f64 the accurate [`tanh`].
    fn tanh_fast(self) -> Self;
    /// C (m x n, row stride `rsc`, column stride 1) = beta C + A B, with A (m x k) and B (k x n)
    /// given by element strides.
    ///
    /// # Safety
    /// The pointers and strides must describe valid, non-overlapping (for C) memory.
    #[allow(clippy::too_many_arguments)]
    unsafe fn gemm_raw(
        m: usize,
        k: usize,
        n: usize,
        a: *const Self,
        rsa: isize,
        csa: isize,
        b: *const Self,
        rsb: isize,
        csb: isize,
        beta: Self,
        c: *mut Self,
        rsc: isize,
    );
}

const LOG2E: f32 = std::f32::consts::LOG2_E;
const LN2_HI: f32 = 0.693_145_75;
const LN2_LO: f32 = 1.428_606_8e-6;

#[inline(always)]
fn exp_f32(x: f32) -> f32 {
    let x = x.clamp(-87.3, 88.3);
    let n = (x * LOG2E + 0.5).floor();
    let r = x - n * LN2_HI - n * LN2_LO;
    // Horner with explicit fused multiply-adds: under `avx2,fma` they are single instructions
    // (LLVM never fuses a separate multiply and add), which shortens the dependency chain
    // (attention forward ~6% faster); elsewhere `mul_add` is libm's exact fmaf.
    let p = 1.0f32 / 720.0;
    let p = p.mul_add(r, 1.0 / 120.0);
    let p = p.mul_add(r, 1.0 / 24.0);
    let p = p.mul_add(r, 1.0 / 6.0);
    let p = p.mul_add(r, 0.5);
    let p = p.mul_add(r, 1.0);
    let p = p.mul_add(r, 1.0);
    // 2^n from the bits of n + 1.5 * 2^23 (whose low mantissa bits hold n): float adds and
    // integer shifts vectorise, where `n as i32` (saturating) is done one lane at a time. NaN
    // input stays NaN through `p` whatever the scale.
    let t = (n + 12_582_912.0).to_bits();
    let scale = f32::from_bits(t.wrapping_sub(0x4B40_0000 - 127) << 23);
    p * scale
}

impl Real for f32 {
    const ZERO: f32 = 0.0;
    const ONE: f32 = 1.0;
    const NAME: &'static str = "float32";
    #[inline(always)]
    fn from_f64(x: f64) -> f32 {
        x as f32
    }
    #[inline(always)]
    fn to_f64(self) -> f64 {
        self as f64
    }
    #[inline(always)]
    fn exp_(self) -> f32 {
        exp_f32(self)
    }
    #[inline(always)]
    fn abs_(self) -> f32 {
        self.abs()
    }
    #[inline(always)]
    fn max_(self, o: f32) -> f32 {
        if self > o {
            self
        } else {
            o
        }
    }
    #[inline(always)]
    fn copysign_(self, sign: f32) -> f32 {
        self.copysign(sign)
    }
    fn is_finite_(self) -> bool {
        self.is_finite()
    }
    #[inline(always)]
    fn tanh_fast(self) -> f32 {
        tanh_rational_f32(self)
    }
    unsafe fn gemm_raw(
        m: usize,
        k: usize,
        n: usize,
        a: *const f32,
        rsa: isize,
        csa: isize,
        b: *const f32,
        rsb: isize,
        csb: isize,
        beta: f32,
        c: *mut f32,
        rsc: isize,
    ) {
        matrixmultiply::sgemm(m, k, n, 1.0, a, rsa, csa, b, rsb, csb, beta, c, rsc, 1);
    }
}

/// tanh(x) ~ x P(x^2) / Q(x^2) on [-9, 9] (degrees 4 and 4 in x^2), fitted here by weighted
/// least squares with Loeb's reweighting against float64 tanh; no exp and one division, about
/// half the work of [`tanh`]. Outside [-9, 9] tanh is +-1 in f32. NaN propagates.
#[inline(always)]
fn tanh_rational_f32(x: f32) -> f32 {
    const P: [f32; 5] = [0.999_999_99, 0.133_938_2, 3.510_742_3e-3, 2.085_688_2e-5, 1.369_517_4e-8];
    const Q: [f32; 5] = [1.0, 0.467_271_4, 2.593_474e-2, 3.310_349e-4, 7.916_522e-7];
    let x = x.clamp(-9.0, 9.0);
    let u = x * x;
    let p = (((P[4] * u + P[3]) * u + P[2]) * u + P[1]) * u + P[0];
    let q = (((Q[4] * u + Q[3]) * u + Q[2]) * u + Q[1]) * u + Q[0];
    (x * p / q).clamp(-1.0, 1.0)
}

const LN2_HI_D: f64 = 6.931_471_803_691_238e-1;
const LN2_LO_D: f64 = 1.908_214_929_270_587_7e-10;

#[inline(always)]
fn exp_f64(x: f64) -> f64 {
    let x = x.clamp(-708.0, 709.0);
    let n = (x * std::f64::consts::LOG2_E + 0.5).floor();
    let r = x - n * LN2_HI_D - n * LN2_LO_D;
    // Taylor series to r^13: |r| <= 0.35 leaves a truncation error below 1e-17.
    let mut p = 1.0 / 6_227_020_800.0;
    for d in [479_001_600.0, 39_916_800.0, 3_628_800.0, 362_880.0, 40_320.0, 5_040.0, 720.0, 120.0, 24.0, 6.0, 2.0, 1.0, 1.0] {
        p = p * r + 1.0 / d;
    }
    // 2^n from the bits of n + 1.5 * 2^52, as for f32 (AVX2 has no vector f64 -> i64).
    let t = (n + 6_755_399_441_055_744.0).to_bits();
    let scale = f64::from_bits(t.wrapping_sub(0x4338_0000_0000_0000 - 1023) << 52);
    p * scale
}

impl Real for f64 {
    const ZERO: f64 = 0.0;
    const ONE: f64 = 1.0;
    const NAME: &'static str = "float64";
    #[inline(always)]
    fn from_f64(x: f64) -> f64 {
        x
    }
    #[inline(always)]
    fn to_f64(self) -> f64 {
        self
    }
    #[inline(always)]
    fn exp_(self) -> f64 {
        exp_f64(self)
    }
    #[inline(always)]
    fn abs_(self) -> f64 {
        self.abs()
    }
    #[inline(always)]
    fn max_(self, o: f64) -> f64 {
        if self > o {
            self
        } else {
            o
        }
    }
    #[inline(always)]
    fn copysign_(self, sign: f64) -> f64 {
        self.copysign(sign)
    }
    fn is_finite_(self) -> bool {
        self.is_finite()
    }
    #[inline(always)]
    fn tanh_fast(self) -> f64 {
        tanh(self)
    }
    unsafe fn gemm_raw(
        m: usize,
        k: usize,
        n: usize,
        a: *const f64,
        rsa: isize,
        csa: isize,
        b: *const f64,
        rsb: isize,
        csb: isize,
        beta: f64,
        c: *mut f64,
        rsc: isize,
    ) {
        matrixmultiply::dgemm(m, k, n, 1.0, a, rsa, csa, b, rsb, csb, beta, c, rsc, 1);
    }
}

/// Logistic sigmoid 1 / (1 + e^-x).
#[inline(always)]
pub fn sigmoid<T: Real>(x: T) -> T {
    T::ONE / (T::ONE + (-x).exp_())
}

/// Hyperbolic tangent from `exp` (vectorisable); below |x| = 1/16, where (1 - e) / (1 + e)
/// loses relative accuracy, its Taylor series to x^11 (relative error below 1e-16).
#[inline(always)]
pub fn tanh<T: Real>(x: T) -> T {
    let two = T::ONE + T::ONE;
    let e = (-(two * x.abs_())).exp_();
    let big = ((T::ONE - e) / (T::ONE + e)).copysign_(x);
    let x2 = x * x;
    let c = |v: f64| T::from_f64(v);
    let small = x
        * (T::ONE
            + x2 * (c(-1.0 / 3.0)
                + x2 * (c(2.0 / 15.0) + x2 * (c(-17.0 / 315.0) + x2 * (c(62.0 / 2835.0) + x2 * c(-1382.0 / 155_925.0))))));
    if x.abs_() < c(0.0625) {
        small
    } else {
        big
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_sigmoid_tanh_are_accurate() {
        let mut x0 = -30.0f64;
        while x0 < 30.0 {
            let x = x0 as f32 as f64;
            let e = (x as f32).exp_() as f64;
            assert!((e - x.exp()).abs() <= 3e-7 * x.exp(), "exp({x})");
            assert!((sigmoid(x as f32) as f64 - 1.0 / (1.0 + (-x).exp())).abs() < 2e-7, "sigmoid({x})");
            assert!((tanh(x as f32) as f64 - x.tanh()).abs() < 2e-7, "tanh({x})");
            assert!((tanh(x) - x.tanh()).abs() <= 1e-15 * x.tanh().abs(), "tanh({x})");
            assert!((x.exp_() - x.exp()).abs() <= 4e-16 * x.exp(), "exp({x})");
            x0 += 0.0137;
        }
        for x in [1e-300f64, 1e-12, 3e-5, 0.01, 0.0624] {
            for v in [x, -x] {
                assert!((tanh(v) - v.tanh()).abs() <= 2e-16 * v.abs(), "tanh({v})");
                assert!((tanh(v as f32) - (v as f32).tanh()).abs() <= 2e-7 * (v as f32).abs(), "tanh({v}) f32");
            }
        }
        let mut x = -12.0f32;
        while x < 12.0 {
            let (t, want) = (x.tanh_fast() as f64, (x as f64).tanh());
            assert!((t - want).abs() <= 4e-7 && t.abs() <= 1.0, "tanh_fast({x})");
            if x.abs() < 0.5 {
                assert!((t - want).abs() <= 3e-7 * want.abs(), "tanh_fast({x}) relative");
            }
            x += 0.000_37;
        }
        assert!(f32::NAN.tanh_fast().is_nan() && 1e-30f32.tanh_fast() == 1e-30);
        assert!(sigmoid(-200.0f32) < 1e-38);
        assert_eq!(sigmoid(200.0f32), 1.0);
        assert_eq!(tanh(-200.0f32), -1.0);
        assert_eq!(tanh(0.0f32), 0.0);
        assert!(sigmoid(f32::NAN).is_nan() && tanh(f32::NAN).is_nan() && f32::NAN.exp_().is_nan());
    }
}
