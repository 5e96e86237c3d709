//! The project's one counter-based randomness: SplitMix64's finaliser.
//!
//! Dropout masks (`nn`), sampling (`search`) and n-gram generation (`ngram`) all draw from
//! `mix64` of a counter, so a draw depends only on (seed, position), never on thread count or
//! batch composition, and the Python references reproduce it exactly.

/// SplitMix64's finaliser (a bijection on u64 with good avalanche).
#[inline]
pub fn mix64(mut z: u64) -> u64 {
    z ^= z >> 30;
    z = z.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z ^= z >> 27;
    z = z.wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The golden-ratio increment of SplitMix64 (also used to spread keys).
pub const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

/// A u64 as a uniform float in [0, 1) (its top 53 bits).
#[inline]
pub fn unit_f64(z: u64) -> f64 {
    (z >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_splitmix64_reference_outputs() {
        // SplitMix64 seeded with 0: the first outputs are mix64(k * GOLDEN), k = 1, 2, ...
        assert_eq!(mix64(GOLDEN), 0xE220_A839_7B1D_CDAF);
        assert_eq!(mix64(GOLDEN.wrapping_mul(2)), 0x6E78_9E6A_A1B9_65F4);
        assert!(unit_f64(u64::MAX) < 1.0 && unit_f64(0) == 0.0);
    }
}
