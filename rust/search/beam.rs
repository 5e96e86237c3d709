//! Batched beam search with an exact stopping rule.
//!
//! Per item and step: every live hypothesis i (raw log-probability s_i) and token v give the
//! candidate s_i + logp[i, v]; banned tokens, eos before `min_len` and repeated n-grams are
//! excluded. Candidates are ranked by (score desc, hypothesis rank asc, token asc), which is the
//! whole tie-break. Walking them in that order, an eos candidate of rank < beam_width moves to the
//! finished pool, any other token becomes a live hypothesis until beam_width are live. Only the
//! best 2 * beam_width candidates can be reached (each live hypothesis has one eos candidate), so
//! one pass keeps just those in a small sorted list (a candidate worse than its last is one
//! comparison), not a sort. Cost per step: O(n_live V) comparisons.
//!
//! Stopping: `Early` ends an item once beam_width hypotheses finished; `Exact` ends it once, in
//! addition, no live hypothesis can still beat the beam_width-th best finished one (its raw
//! score only falls, so with length normalisation its best reachable score is s / lp(max_len)).
//! At `max_len` the remaining live hypotheses join the pool as unfinished.

use std::cmp::Ordering;

use rayon::prelude::*;

use super::{check_common, check_scores, Hyp, Scorer};
use crate::error::{Error, Result};

/// Length normalisation of a hypothesis' score.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum LengthPenalty {
    None,
    /// s / L^alpha.
    Length(f64),
    /// s / ((5 + L) / 6)^alpha (Wu et al. 2016).
    Gnmt(f64),
}

impl LengthPenalty {
    fn lp(&self, len: usize) -> f64 {
        match *self {
            LengthPenalty::None => 1.0,
            LengthPenalty::Length(a) => (len as f64).powf(a),
            LengthPenalty::Gnmt(a) => ((5.0 + len as f64) / 6.0).powf(a),
        }
    }
    fn norm(&self, s: f64, len: usize) -> f64 {
        if *self == LengthPenalty::None {
            s
        } else {
            s / self.lp(len)
        }
    }
}

/// When an item stops.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stopping {
    Early,
    Exact,
}

/// Options of [`beam_search`].
#[derive(Clone, Debug)]
pub struct BeamOptions {
    pub beam_width: usize,
    pub max_len: usize,
    pub min_len: usize,
    pub bos: u32,
    pub eos: u32,
    pub n_best: usize,
    pub penalty: LengthPenalty,
    pub stopping: Stopping,
    pub no_repeat_ngram: usize,
    pub banned: Vec<u32>,
}

struct Live {
    tokens: Vec<u32>,
    logprob: f64,
}

#[derive(Clone, Copy)]
struct Cand {
    score: f64,
    rank: usize,
    token: u32,
}

fn order(a: &Cand, b: &Cand) -> Ordering {
    b.score.partial_cmp(&a.score).unwrap_or(Ordering::Equal).then(a.rank.cmp(&b.rank)).then(a.token.cmp(&b.token))
}

/// Tokens scanned per chunk of a score row.
const SCAN: usize = 64;

/// Whether any value of `chunk` is >= `bar` (branch-free, so it vectorises).
fn any_at_least(chunk: &[f32], bar: f32) -> bool {
    chunk.iter().fold(false, |acc, &x| acc | (x >= bar))
}

/// Tokens that would repeat an n-gram of size `n` after `seq`.
fn repeated(seq: &[u32], n: usize, out: &mut Vec<u32>) {
    out.clear();
    if n == 0 || seq.len() < n {
        return;
    }
    if n == 1 {
        out.extend_from_slice(seq);
        return;
    }
    let prefix = &seq[seq.len() + 1 - n..];
    for i in 0..=seq.len() - n {
        if &seq[i..i + n - 1] == prefix {
            out.push(seq[i + n - 1]);
        }
    }
}

/// Beam search for `batch` items. Returns each item's n-best list, best first.
pub fn beam_search(scorer: &mut dyn Scorer, batch: usize, o: &BeamOptions) -> Result<Vec<Vec<Hyp>>> {
    let v = scorer.vocab_size();
    check_common(v, o.bos, o.eos, o.max_len, o.min_len, &o.banned)?;
    if o.beam_width == 0 {
        return Err(Error::Value("beam_width must be at least 1".into()));
    }
    if o.n_best == 0 || o.n_best > o.beam_width {
        return Err(Error::Value(format!("n_best={} must be between 1 and beam_width={}", o.n_best, o.beam_width)));
    }
    if let LengthPenalty::Length(a) | LengthPenalty::Gnmt(a) = o.penalty {
        if !(a >= 0.0 && a.is_finite()) {
            return Err(Error::Value(format!("alpha={a} must be finite and >= 0")));
        }
    }
    let mut banned_mask = vec![false; v];
    for &b in &o.banned {
        banned_mask[b as usize] = true;
    }
    let mut live: Vec<Vec<Live>> = (0..batch).map(|_| vec![Live { tokens: Vec::new(), logprob: 0.0 }]).collect();
    // Finished pools: (hypothesis, insertion order).
    let mut pools: Vec<Vec<Hyp>> = (0..batch).map(|_| Vec::new()).collect();
    let mut tokens: Vec<u32> = vec![o.bos; batch];
    let mut parents: Vec<usize> = (0..batch).collect();
    let mut logp: Vec<f32> = Vec::new();
    let cancel = crate::parallel::cancel_token();
    for t in 1..=o.max_len {
        cancel.check()?;
        let n_live = tokens.len();
        if n_live == 0 {
            break;
        }
        logp.clear();
        logp.resize(n_live * v, 0.0);
        scorer.score(&tokens, &parents, &mut logp)?;
        check_scores(&logp, v, t)?;
        // Items are independent: each selects from its own rows (in parallel when the step is
        // big enough); results are merged in item order, so nothing depends on the threads.
        let mut starts = Vec::with_capacity(batch);
        let mut flat = 0;
        for lv in &live {
            starts.push(flat);
            flat += lv.len();
        }
        let lvs: Vec<Vec<Live>> = live.iter_mut().map(std::mem::take).collect();
        let ctx = StepCtx { o, v, t, logp: &logp, banned: &banned_mask };
        let work = |(item, lv): (usize, &Vec<Live>)| select_item(&ctx, lv, starts[item], &pools[item]);
        let steps: Vec<ItemStep> = if n_live * v >= 1 << 16 {
            crate::parallel::install_here(|| lvs.par_iter().enumerate().map(work).collect())
        } else {
            lvs.iter().enumerate().map(work).collect()
        };
        let mut next_tokens = Vec::with_capacity(n_live);
        let mut next_parents = Vec::with_capacity(n_live);
        for (item, st) in steps.into_iter().enumerate() {
            pools[item].extend(st.finished);
            if st.done {
                continue;
            }
            for (h, p) in st.live {
                next_tokens.push(*h.tokens.last().expect("live hypotheses have a token"));
                next_parents.push(p);
                live[item].push(h);
            }
        }
        tokens = next_tokens;
        parents = next_parents;
    }
    let mut out = Vec::with_capacity(batch);
    for item in 0..batch {
        for h in std::mem::take(&mut live[item]) {
            let score = o.penalty.norm(h.logprob, h.tokens.len());
            pools[item].push(Hyp { tokens: h.tokens, score, logprob: h.logprob, finished: false });
        }
        let mut pool = std::mem::take(&mut pools[item]);
        // Stable sort: ties keep insertion order.
        pool.sort_by(|a, b| b.score.partial_cmp(&a.score).unwrap_or(Ordering::Equal));
        pool.truncate(o.n_best);
        out.push(pool);
    }
    Ok(out)
}

struct StepCtx<'a> {
    o: &'a BeamOptions,
    v: usize,
    t: usize,
    logp: &'a [f32],
    banned: &'a [bool],
}

struct ItemStep {
    finished: Vec<Hyp>,
    live: Vec<(Live, usize)>,
    done: bool,
}

/// One item's selection at one step: its live hypotheses `lv` own rows `flat..` of the scores.
fn select_item(c: &StepCtx, lv: &[Live], flat: usize, pool: &[Hyp]) -> ItemStep {
    let (o, v, t, logp, banned_mask) = (c.o, c.v, c.t, c.logp, c.banned);
    let bw = o.beam_width;
    let mut finished = Vec::new();
    if lv.is_empty() {
        return ItemStep { finished, live: Vec::new(), done: true };
    }
    let mut cands: Vec<Cand> = Vec::with_capacity(2 * bw + 1);
    let mut rep: Vec<u32> = Vec::new();
    let mut seq: Vec<u32> = Vec::new();
    // The best `reach` candidates in rank order, kept sorted while scanning: a candidate
    // enters only if it beats the current last one (ties lose to the earlier scanned,
    // which have the smaller (rank, token)), so this equals a full sort cut to `reach`.
    let reach = 2 * bw;
    for (rank, h) in lv.iter().enumerate() {
        let row = &logp[(flat + rank) * v..(flat + rank + 1) * v];
        if o.no_repeat_ngram > 0 {
            seq.clear();
            seq.push(o.bos);
            seq.extend_from_slice(&h.tokens);
            repeated(&seq, o.no_repeat_ngram, &mut rep);
        }
        for (ci, chunk) in row.chunks(SCAN).enumerate() {
            // Skip a whole chunk when all its values are clearly below what could still
            // enter (a margin keeps this exact; values near the bar get the exact test).
            if cands.len() == reach {
                let bar = cands[reach - 1].score - h.logprob;
                let bar = (bar - 1e-6 * bar.abs().max(1.0)) as f32;
                if !any_at_least(chunk, bar) {
                    continue;
                }
            }
            for (j, &lp) in chunk.iter().enumerate() {
                let tok = ci * SCAN + j;
                let score = h.logprob + lp as f64;
                if lp == f32::NEG_INFINITY || (cands.len() == reach && score <= cands[reach - 1].score) {
                    continue;
                }
                if banned_mask[tok] || (tok as u32 == o.eos && t <= o.min_len) || (o.no_repeat_ngram > 0 && rep.contains(&(tok as u32))) {
                    continue;
                }
                let c = Cand { score, rank, token: tok as u32 };
                let pos = cands.partition_point(|x| order(x, &c) != Ordering::Greater);
                if cands.len() == reach {
                    cands.pop();
                }
                cands.insert(pos, c);
            }
        }
    }
    let mut new_live = Vec::with_capacity(bw);
    for (r, cand) in cands.iter().enumerate() {
        let parent = &lv[cand.rank];
        if cand.token == o.eos {
            if r < bw {
                let mut tk = parent.tokens.clone();
                tk.push(o.eos);
                let score = o.penalty.norm(cand.score, tk.len());
                finished.push(Hyp { tokens: tk, score, logprob: cand.score, finished: true });
            }
            continue;
        }
        let mut tk = Vec::with_capacity(parent.tokens.len() + 1);
        tk.extend_from_slice(&parent.tokens);
        tk.push(cand.token);
        new_live.push((Live { tokens: tk, logprob: cand.score }, flat + cand.rank));
        if new_live.len() == bw {
            break;
        }
    }
    let scores: Vec<f64> = pool.iter().chain(&finished).map(|h| h.score).collect();
    let done = done(scores, &new_live, o);
    ItemStep { finished, live: new_live, done }
}

/// Whether an item stops after this step's selection.
fn done(mut scores: Vec<f64>, live: &[(Live, usize)], o: &BeamOptions) -> bool {
    if live.is_empty() {
        return true;
    }
    if scores.len() < o.beam_width {
        return false;
    }
    if o.stopping == Stopping::Early {
        return true;
    }
    scores.sort_by(|a, b| b.partial_cmp(a).unwrap_or(Ordering::Equal));
    let worst_kept = scores[o.beam_width - 1];
    let best_live = live
        .iter()
        .map(|(h, _)| {
            let s = h.logprob;
            // Raw scores only fall (log-probabilities <= 0), so the longest length divides least;
            // a positive score (a scorer returning positive values) gets the looser current bound.
            if o.penalty == LengthPenalty::None {
                s
            } else if s <= 0.0 {
                s / o.penalty.lp(o.max_len)
            } else {
                s / o.penalty.lp(h.tokens.len())
            }
        })
        .fold(f64::NEG_INFINITY, f64::max);
    best_live <= worst_kept
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::{mix64, unit_f64};

    /// Log-probabilities that depend only on the batch item and the prefix: a log-softmax of
    /// pseudo-random logits, with some tokens impossible (-inf).
    fn row(v: usize, item: usize, prefix: &[u32]) -> Vec<f32> {
        let mut h = mix64(item as u64 + 17);
        for &t in prefix {
            h = mix64(h ^ (t as u64 + 1));
        }
        let x: Vec<f64> = (0..v).map(|j| unit_f64(mix64(h.wrapping_add(j as u64))) * 5.0).collect();
        let z = x.iter().map(|a| a.exp()).sum::<f64>().ln();
        (0..v).map(|j| if unit_f64(mix64(h ^ (0xABCD + j as u64))) < 0.12 { f32::NEG_INFINITY } else { (x[j] - z) as f32 }).collect()
    }

    /// A scorer over [`row`] that follows the protocol: it re-indexes its prefixes by `parents`.
    struct Table {
        v: usize,
        live: Option<Vec<(usize, Vec<u32>)>>,
    }

    impl Scorer for Table {
        fn vocab_size(&self) -> usize {
            self.v
        }
        fn score(&mut self, tokens: &[u32], parents: &[usize], out: &mut [f32]) -> Result<()> {
            let next: Vec<(usize, Vec<u32>)> = match &self.live {
                None => parents.iter().map(|&item| (item, Vec::new())).collect(),
                Some(prev) => parents
                    .iter()
                    .zip(tokens)
                    .map(|(&p, &t)| {
                        let (item, mut s) = prev[p].clone();
                        s.push(t);
                        (item, s)
                    })
                    .collect(),
            };
            for (o, (item, s)) in out.chunks_mut(self.v).zip(&next) {
                o.copy_from_slice(&row(self.v, *item, s));
            }
            self.live = Some(next);
            Ok(())
        }
    }

    /// Every sequence beam search may return for `item`: (tokens, normalised score, finished).
    /// Finished: ends with its only eos, longer than min_len; unfinished: no eos, max_len long;
    /// neither holds a banned token or an impossible step.
    fn brute_force(v: usize, item: usize, o: &BeamOptions) -> Vec<(Vec<u32>, f64, bool)> {
        let mut out = Vec::new();
        for len in 1..=o.max_len {
            for code in 0..v.pow(len as u32) {
                let y: Vec<u32> = (0..len).map(|i| (code / v.pow(i as u32) % v) as u32).collect();
                let fin = y[len - 1] == o.eos;
                if y[..len - 1].contains(&o.eos) || (!fin && len != o.max_len) || (fin && len <= o.min_len) {
                    continue;
                }
                if y.iter().any(|t| o.banned.contains(t)) {
                    continue;
                }
                let s: f64 = (0..len).map(|i| row(v, item, &y[..i])[y[i] as usize] as f64).sum();
                if s > f64::NEG_INFINITY {
                    out.push((y, o.penalty.norm(s, len), fin));
                }
            }
        }
        out
    }

    #[test]
    fn wide_beam_equals_brute_force() {
        for (v, t) in [(2usize, 4usize), (3, 3), (4, 3), (5, 2)] {
            for penalty in [LengthPenalty::None, LengthPenalty::Length(0.8), LengthPenalty::Gnmt(1.2)] {
                for (min_len, banned) in [(0, vec![]), (1, vec![3u32.min(v as u32 - 1)])] {
                    let bw = v.pow(t as u32);
                    let o = BeamOptions {
                        beam_width: bw,
                        max_len: t,
                        min_len,
                        bos: 0,
                        eos: 1,
                        n_best: bw,
                        penalty,
                        stopping: Stopping::Exact,
                        no_repeat_ngram: 0,
                        banned: if v > 3 { banned } else { vec![] },
                    };
                    let got = beam_search(&mut Table { v, live: None }, 2, &o).unwrap();
                    for (item, hyps) in got.iter().enumerate() {
                        let mut want = brute_force(v, item, &o);
                        let case = format!("V={v} T={t} {penalty:?} min_len={min_len} item {item}");
                        assert!(!want.is_empty(), "{case}: nothing to find");
                        assert_eq!(hyps.len(), want.len(), "{case}");
                        for h in hyps {
                            let w =
                                want.iter().find(|w| w.0 == h.tokens).unwrap_or_else(|| panic!("{case}: {:?} is not possible", h.tokens));
                            assert!((w.1 - h.score).abs() < 1e-9 && w.2 == h.finished, "{case}: {h:?} vs {w:?}");
                        }
                        want.sort_by(|a, b| b.1.total_cmp(&a.1));
                        for (h, w) in hyps.iter().zip(&want) {
                            assert!((h.score - w.1).abs() < 1e-9, "{case}: ranked {h:?}, want score {}", w.1);
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn narrow_beam_never_beats_brute_force_and_width_1_is_greedy() {
        let (v, t) = (4usize, 4usize);
        let o = |beam_width| BeamOptions {
            beam_width,
            max_len: t,
            min_len: 0,
            bos: 0,
            eos: 1,
            n_best: 1,
            penalty: LengthPenalty::None,
            stopping: Stopping::Exact,
            no_repeat_ngram: 0,
            banned: vec![],
        };
        let best = brute_force(v, 0, &o(1)).iter().map(|w| w.1).fold(f64::NEG_INFINITY, f64::max);
        let mut prev = f64::NEG_INFINITY;
        for bw in [1, 2, 4, 256] {
            let h = &beam_search(&mut Table { v, live: None }, 1, &o(bw)).unwrap()[0][0];
            assert!(h.score <= best + 1e-9, "beam {bw}");
            prev = prev.max(h.score);
        }
        assert!((prev - best).abs() < 1e-9, "the widest beam finds the optimum");
        let so = crate::search::SampleOptions {
            max_len: t,
            min_len: 0,
            bos: 0,
            eos: 1,
            banned: vec![],
            seed: 0,
            temperature: 1.0,
            top_k: 0,
            top_p: 1.0,
        };
        let g = crate::search::greedy(&mut Table { v, live: None }, 1, &so).unwrap();
        let b1 = &beam_search(&mut Table { v, live: None }, 1, &o(1)).unwrap()[0][0];
        assert_eq!(g[0].tokens, b1.tokens);
    }
}
