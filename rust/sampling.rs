//! The one sampling rule, shared by `search::sample` and `ngram::Model::generate`.
//!
//! Given a row of natural-log scores (any scale: they are renormalised) and a uniform draw u in
//! [0, 1), in this order:
//! 1. temperature: p(w) = exp(score(w) / T - max) / Z over the allowed, finite scores (float64,
//!    summed in id order); tokens whose p underflows to 0 drop out;
//! 2. the tokens ordered by p, larger first (ties: smaller id first);
//! 3. top-k (0 = all): the first k kept, renormalised;
//! 4. top-p (1 = all): the shortest prefix whose running sum reaches top-p kept, renormalised;
//! 5. the first token whose running probability exceeds u is drawn (the last one if rounding
//!    leaves u above the total).
//!
//! Temperature is a monotone map, so applying top-k before or after it keeps the same tokens;
//! the order matters for what is summed and drawn, and this is the one order (the reference's
//! `sampling_distribution` in `tests/reference/search.py`). The draw u for item i at step t is
//! [`uniform`]: counter-based, so a sequence depends only on the seed, its item index and the
//! scores, never on the batch or the thread count. Cost per step: O(V log V) for the sort.

use crate::error::{Error, Result};
use crate::rng::{mix64, unit_f64, GOLDEN};

/// Temperature, top-k and top-p, checked; with a scratch buffer reused across steps.
#[derive(Clone, Debug)]
pub struct Sampler {
    temperature: f64,
    top_k: usize,
    top_p: f64,
    order: Vec<(f64, u32)>,
}

impl Sampler {
    /// `temperature` finite and > 0, `top_k` 0 (all) or more, `top_p` in (0, 1].
    pub fn new(temperature: f64, top_k: usize, top_p: f64) -> Result<Sampler> {
        if !(temperature > 0.0 && temperature.is_finite()) {
            return Err(Error::Value(format!("temperature={temperature} must be finite and > 0 (use greedy for the argmax)")));
        }
        if !(top_p > 0.0 && top_p <= 1.0) {
            return Err(Error::Value(format!("top_p={top_p} must be in (0, 1]")));
        }
        Ok(Sampler { temperature, top_k, top_p, order: Vec::new() })
    }

    /// The token drawn by `u` from `scores` (natural logs, by id) restricted to `allowed`
    /// (None: all); None when no allowed token has a finite score.
    pub fn pick(&mut self, scores: &[f32], allowed: Option<&[bool]>, u: f64) -> Option<u32> {
        let order = &mut self.order;
        order.clear();
        for (tok, &x) in scores.iter().enumerate() {
            if allowed.is_none_or(|m| m[tok]) && x != f32::NEG_INFINITY {
                order.push((x as f64 / self.temperature, tok as u32));
            }
        }
        if order.is_empty() {
            return None;
        }
        let mx = order.iter().map(|p| p.0).fold(f64::NEG_INFINITY, f64::max);
        let mut z = 0.0;
        for p in order.iter_mut() {
            p.0 = (p.0 - mx).exp();
            z += p.0;
        }
        for p in order.iter_mut() {
            p.0 /= z;
        }
        order.retain(|p| p.0 > 0.0);
        order.sort_by(|a, b| b.0.partial_cmp(&a.0).unwrap_or(std::cmp::Ordering::Equal).then(a.1.cmp(&b.1)));
        if self.top_k > 0 && order.len() > self.top_k {
            order.truncate(self.top_k);
            renormalise(order);
        }
        if self.top_p < 1.0 {
            let mut cum = 0.0;
            if let Some(n) = order.iter().position(|p| {
                cum += p.0;
                cum >= self.top_p
            }) {
                order.truncate(n + 1);
                renormalise(order);
            }
        }
        let mut cum = 0.0;
        for p in order.iter() {
            cum += p.0;
            if cum > u {
                return Some(p.1);
            }
        }
        Some(order.last().expect("non-empty").1)
    }
}

/// Divide by the sum (accumulated left to right).
fn renormalise(d: &mut [(f64, u32)]) {
    let total: f64 = d.iter().fold(0.0, |a, p| a + p.0);
    for p in d.iter_mut() {
        p.0 /= total;
    }
}

/// The uniform draw of item `item` at step `step` (from 1) under `seed`:
/// u = (mix64((mix64(seed) ^ item * GOLDEN) + step) >> 11) * 2^-53 (xor first, then add).
pub fn uniform(seed: u64, item: usize, step: usize) -> f64 {
    unit_f64(mix64((mix64(seed) ^ (item as u64).wrapping_mul(GOLDEN)).wrapping_add(step as u64)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_of_temperature_top_k_top_p() {
        // ln p = ln(0.5, 0.3, 0.2): at T = 1 the probabilities themselves.
        let s: Vec<f32> = [0.5f64, 0.3, 0.2].iter().map(|p| p.ln() as f32).collect();
        let mut all = Sampler::new(1.0, 0, 1.0).unwrap();
        assert_eq!(all.pick(&s, None, 0.49), Some(0));
        assert_eq!(all.pick(&s, None, 0.51), Some(1));
        assert_eq!(all.pick(&s, None, 0.81), Some(2));
        // top-k 2: (0.625, 0.375).
        let mut k2 = Sampler::new(1.0, 2, 1.0).unwrap();
        assert_eq!(k2.pick(&s, None, 0.62), Some(0));
        assert_eq!(k2.pick(&s, None, 0.63), Some(1));
        assert_eq!(k2.pick(&s, None, 0.999), Some(1));
        // top-p 0.5 keeps only the first token (its mass reaches 0.5).
        assert_eq!(Sampler::new(1.0, 0, 0.5).unwrap().pick(&s, None, 0.99), Some(0));
        // T = 2: p ∝ sqrt(0.5, 0.3, 0.2); the mask removes token 0.
        let mut t2 = Sampler::new(2.0, 0, 1.0).unwrap();
        let (a, b) = (0.3f64.sqrt(), 0.2f64.sqrt());
        let cut = a / (a + b);
        assert_eq!(t2.pick(&s, Some(&[false, true, true]), cut - 1e-6), Some(1));
        assert_eq!(t2.pick(&s, Some(&[false, true, true]), cut + 1e-6), Some(2));
        assert_eq!(t2.pick(&[f32::NEG_INFINITY; 3], None, 0.5), None);
        // Ties: the smaller id comes first.
        assert_eq!(all.pick(&[0.0, 0.0], None, 0.49), Some(0));
        assert_eq!(all.pick(&[0.0, 0.0], None, 0.51), Some(1));
    }

    #[test]
    fn rejects_bad_options() {
        assert!(Sampler::new(0.0, 0, 1.0).is_err());
        assert!(Sampler::new(f64::NAN, 0, 1.0).is_err());
        assert!(Sampler::new(1.0, 0, 0.0).is_err());
        assert!(Sampler::new(1.0, 0, 1.5).is_err());
    }

    #[test]
    fn uniform_is_the_documented_counter() {
        let want = unit_f64(mix64((mix64(7) ^ 3u64.wrapping_mul(GOLDEN)).wrapping_add(5)));
        assert_eq!(uniform(7, 3, 5), want);
        assert!((0.0..1.0).contains(&uniform(u64::MAX, usize::MAX, usize::MAX)));
    }
}
