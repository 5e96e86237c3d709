//! Greedy decoding and ancestral sampling (temperature, top-k, top-p), one sequence per item.
//!
//! Sampling draws item i's token at step t with [`crate::sampling`]'s one rule (temperature,
//! then top-k, then top-p, then the draw) and its counter-based uniform `uniform(seed, i, t)`,
//! so an item's sequence depends only on the seed, its index and the scorer, never on the batch
//! or thread count (the reference's `sampling_distribution`). `ngram::Model::generate` uses the
//! same rule and draws: its continuation is what this gives for item 0 with the n-gram scorer.

use super::{check_common, check_scores, Hyp, Scorer};
use crate::error::Result;
use crate::sampling::{uniform, Sampler};

/// Options shared by [`greedy`] and [`sample`].
#[derive(Clone, Debug)]
pub struct SampleOptions {
    pub max_len: usize,
    pub min_len: usize,
    pub bos: u32,
    pub eos: u32,
    pub banned: Vec<u32>,
    pub seed: u64,
    pub temperature: f64,
    pub top_k: usize,
    pub top_p: f64,
}

/// Chooses item `i`'s token at step `t` from its log-probabilities and the allowed mask.
type Pick<'a> = dyn FnMut(usize, usize, &[f32], &[bool]) -> Option<u32> + 'a;

fn run(scorer: &mut dyn Scorer, batch: usize, o: &SampleOptions, pick: &mut Pick) -> Result<Vec<Hyp>> {
    let v = scorer.vocab_size();
    check_common(v, o.bos, o.eos, o.max_len, o.min_len, &o.banned)?;
    let mut allowed = vec![true; v];
    for &b in &o.banned {
        allowed[b as usize] = false;
    }
    let mut hyps: Vec<Hyp> = (0..batch).map(|_| Hyp { tokens: Vec::new(), score: 0.0, logprob: 0.0, finished: false }).collect();
    let mut active: Vec<usize> = (0..batch).collect();
    let mut tokens = vec![o.bos; batch];
    let mut parents: Vec<usize> = (0..batch).collect();
    let mut logp = Vec::new();
    let mut mask = allowed.clone();
    let cancel = crate::parallel::cancel_token();
    for t in 1..=o.max_len {
        cancel.check()?;
        if active.is_empty() {
            break;
        }
        logp.clear();
        logp.resize(active.len() * v, 0.0);
        scorer.score(&tokens, &parents, &mut logp)?;
        check_scores(&logp, v, t)?;
        mask.copy_from_slice(&allowed);
        if t <= o.min_len {
            mask[o.eos as usize] = false;
        }
        let (mut nt, mut np, mut na) = (Vec::new(), Vec::new(), Vec::new());
        for (row, &item) in active.iter().enumerate() {
            let lp = &logp[row * v..(row + 1) * v];
            let Some(tok) = pick(item, t, lp, &mask) else {
                hyps[item].finished = false;
                continue;
            };
            let h = &mut hyps[item];
            h.tokens.push(tok);
            h.logprob += lp[tok as usize] as f64;
            h.score = h.logprob;
            if tok == o.eos {
                h.finished = true;
            } else {
                nt.push(tok);
                np.push(row);
                na.push(item);
            }
        }
        tokens = nt;
        parents = np;
        active = na;
    }
    Ok(hyps)
}

/// Greedy decoding: the most probable allowed token (ties: smallest id) at each step.
pub fn greedy(scorer: &mut dyn Scorer, batch: usize, o: &SampleOptions) -> Result<Vec<Hyp>> {
    run(scorer, batch, o, &mut |_, _, lp, mask| argmax_allowed(lp, mask))
}

/// The largest allowed log-probability's token (ties: smallest id), None when every allowed
/// one is -inf. Branch-free passes over 16 lanes (the maximum, then the first chunk holding
/// it) that vectorise: at V = 160k the branchy single pass cost ~10x the n-gram scorer's row.
/// `lp` holds no NaN (`check_scores` ran), so `>` and `==` order it fully (-0 == +0: the
/// smaller id wins, as before).
fn argmax_allowed(lp: &[f32], mask: &[bool]) -> Option<u32> {
    const L: usize = 16;
    let neg = f32::NEG_INFINITY;
    let mut acc = [neg; L];
    let (lc, mc) = (lp.chunks_exact(L), mask.chunks_exact(L));
    let (lr, mr) = (lc.remainder(), mc.remainder());
    for (x, k) in lc.zip(mc) {
        for j in 0..L {
            let b = (k[j] as u32).wrapping_neg(); // all ones where allowed: a bit select, no branch
            let y = f32::from_bits((x[j].to_bits() & b) | (neg.to_bits() & !b));
            acc[j] = if y > acc[j] { y } else { acc[j] };
        }
    }
    let mut best = acc.iter().fold(neg, |m, &a| if a > m { a } else { m });
    for (&x, &k) in lr.iter().zip(mr) {
        if k && x > best {
            best = x;
        }
    }
    if best == neg {
        return None;
    }
    for (c, (x, k)) in lp.chunks(L).zip(mask.chunks(L)).enumerate() {
        if x.iter().zip(k).fold(false, |a, (&y, &ok)| a | (ok & (y == best))) {
            return x.iter().zip(k).position(|(&y, &ok)| ok && y == best).map(|j| (c * L + j) as u32);
        }
    }
    None
}

/// Ancestral sampling with temperature, top-k and top-p ([`crate::sampling`]), seeded per item.
pub fn sample(scorer: &mut dyn Scorer, batch: usize, o: &SampleOptions) -> Result<Vec<Hyp>> {
    let mut sampler = Sampler::new(o.temperature, o.top_k, o.top_p)?;
    run(scorer, batch, o, &mut |item, t, lp, mask| sampler.pick(lp, Some(mask), uniform(o.seed, item, t)))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    /// The plain rule: the first allowed token with the strictly largest finite value.
    fn argmax_plain(lp: &[f32], mask: &[bool]) -> Option<u32> {
        let mut best: Option<(f32, u32)> = None;
        for (tok, &x) in lp.iter().enumerate() {
            if mask[tok] && x != f32::NEG_INFINITY && best.is_none_or(|(b, _)| x > b) {
                best = Some((x, tok as u32));
            }
        }
        best.map(|b| b.1)
    }

    /// `ngram::Model::generate` and `sample` with the n-gram scorer share the rule and the draws:
    /// one sequence from `<s>` is the same tokens, for any seed and options.
    #[test]
    fn ngram_generate_is_sample_item_0() {
        use crate::ngram::{fit_text, Smoothing};
        use crate::sampling::Sampler;
        let text = "the cat sat on the mat\nthe dog sat on the log\na cat and a dog\nthe end\n";
        let sm = Smoothing::KneserNey { discount_fallback: Some([0.5, 1.0, 1.5]), prune: [0; crate::ngram::model::MAX_ORDER] };
        let lm = fit_text(text, 3, sm, Some(1)).unwrap();
        for (seed, temperature, top_k) in [(0u64, 1.0, 0usize), (3, 0.7, 0), (9, 1.5, 3), (12345, 1.0, 2)] {
            let mut s = Sampler::new(temperature, top_k, 1.0).unwrap();
            let want = lm.generate(&[], true, 12, seed, &mut s).unwrap();
            let mut scorer = super::super::scorers::NgramScorer::new(&lm, &[&[]], true).unwrap();
            let o = super::SampleOptions {
                max_len: 12,
                min_len: 0,
                bos: lm.bos,
                eos: lm.eos,
                banned: vec![],
                seed,
                temperature,
                top_k,
                top_p: 1.0,
            };
            let got = super::sample(&mut scorer, 1, &o).unwrap();
            assert_eq!(got[0].tokens, want, "seed {seed}");
        }
    }

    proptest! {
        #[test]
        fn argmax_equals_plain_rule(
            vals in prop::collection::vec(prop::sample::select(vec![f32::NEG_INFINITY, -3.5, -1.0, -0.0, 0.0, -7.25, -1.0e-30]), 1..80),
            mask in prop::collection::vec(prop::bool::weighted(0.8), 1..8),
        ) {
            let m: Vec<bool> = (0..vals.len()).map(|i| mask[i % mask.len()]).collect();
            prop_assert_eq!(super::argmax_allowed(&vals, &m), argmax_plain(&vals, &m));
        }
    }
}
