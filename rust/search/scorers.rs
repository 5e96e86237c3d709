//! Native scorers: an n-gram language model, and a weighted sum of scorers (shallow fusion).

use std::ops::DerefMut;

use rayon::prelude::*;

use super::Scorer;
use crate::error::{Error, Result};
use crate::ngram::model::{Model, State};

/// An n-gram model as a scorer: natural-log p(w | context) for every word of its vocabulary
/// (`<s>` and words without a probability get -inf; `<unk>` too unless `allow_unk`). Each
/// item starts from `<s>` followed by its prompt.
///
/// Each row is the model's distribution (`ngram/dist.rs`: the unigram row plus the state's
/// backoffs, overwritten at the continuations of its contexts) times ln 10, rows in parallel.
/// [`NgramScorer::per_word`] switches to the old rule (`Model::step` for each of V words), kept
/// as the reference of tests and the "before" row of `benches/bench_search.py`.
pub struct NgramScorer<'m> {
    model: &'m Model,
    init: Vec<State>,
    states: Vec<State>,
    started: bool,
    allow_unk: bool,
    per_word: bool,
}

impl<'m> NgramScorer<'m> {
    /// `prompts`: one id sequence per batch item (empty = start of a sentence).
    pub fn new(model: &'m Model, prompts: &[&[u32]], allow_unk: bool) -> Result<Self> {
        for p in prompts {
            model.check_ids(p, "prompt")?;
        }
        let init = prompts.iter().map(|p| model.state_after(p, true)).collect();
        Ok(NgramScorer { model, init, states: Vec::new(), started: false, allow_unk, per_word: false })
    }

    /// Score with one `Model::step` per word (the slow reference rule; same results).
    pub fn per_word(mut self, on: bool) -> Self {
        self.per_word = on;
        self
    }

    /// Number of items the prompts were given for.
    pub fn batch(&self) -> usize {
        self.init.len()
    }
}

impl Scorer for NgramScorer<'_> {
    fn vocab_size(&self) -> usize {
        self.model.vocab.len()
    }

    fn score(&mut self, tokens: &[u32], parents: &[usize], out: &mut [f32]) -> Result<()> {
        let v = self.vocab_size();
        let mut next = Vec::with_capacity(tokens.len());
        for (&tok, &p) in tokens.iter().zip(parents) {
            let st = if !self.started {
                *self.init.get(p).ok_or_else(|| Error::Value(format!("batch item {p} has no prompt state")))?
            } else {
                let prev = self.states.get(p).ok_or_else(|| Error::Value(format!("parent {p} is not a live hypothesis")))?;
                if tok as usize >= v {
                    return Err(Error::Value(format!("token {tok} is outside the model's vocabulary of {v}")));
                }
                self.model.step(prev, tok).2
            };
            next.push(st);
        }
        self.started = true;
        let ln10 = std::f32::consts::LN_10;
        let (model, allow_unk) = (self.model, self.allow_unk);
        if out.len() != next.len() * v {
            return Err(Error::Shape(format!("the output holds {} values, not {} rows of {v}", out.len(), next.len())));
        }
        let dist = (!self.per_word).then(|| model.dist());
        // One full distribution per hypothesis, rows in parallel (each row is independent).
        crate::parallel::install_here(|| {
            out.par_chunks_exact_mut(v).zip(next.par_iter()).for_each_init(Vec::new, |lvl, (row, st)| {
                match dist {
                    Some(d) => d.fill(model, st, ln10, row, lvl),
                    None => {
                        for (o, x) in row.iter_mut().zip(crate::ngram::dist::per_word(model, st)) {
                            *o = x * ln10;
                        }
                    }
                }
                if !allow_unk {
                    row[model.unk as usize] = f32::NEG_INFINITY;
                }
            })
        });
        self.states = next;
        Ok(())
    }
}

/// sum_i w_i * scorer_i (all over the same vocabulary; weights > 0). `B` is a box of a scorer.
pub struct Weighted<B> {
    parts: Vec<(B, f32)>,
    buf: Vec<f32>,
}

impl<B: DerefMut<Target: Scorer>> Weighted<B> {
    pub fn new(parts: Vec<(B, f32)>) -> Result<Self> {
        let Some(v) = parts.first().map(|p| p.0.vocab_size()) else {
            return Err(Error::Value("a weighted sum needs at least one scorer".into()));
        };
        for (i, (s, w)) in parts.iter().enumerate() {
            if s.vocab_size() != v {
                return Err(Error::Value(format!("scorer {i} has a vocabulary of {}, scorer 0 of {v}", s.vocab_size())));
            }
            if !(*w > 0.0 && w.is_finite()) {
                return Err(Error::Value(format!("weight {i} = {w} must be finite and > 0")));
            }
        }
        Ok(Weighted { parts, buf: Vec::new() })
    }
}

impl<B: DerefMut<Target: Scorer>> Scorer for Weighted<B> {
    fn vocab_size(&self) -> usize {
        self.parts[0].0.vocab_size()
    }

    fn score(&mut self, tokens: &[u32], parents: &[usize], out: &mut [f32]) -> Result<()> {
        out.iter_mut().for_each(|x| *x = 0.0);
        for (s, w) in self.parts.iter_mut() {
            self.buf.clear();
            self.buf.resize(out.len(), 0.0);
            s.score(tokens, parents, &mut self.buf)?;
            for (o, x) in out.iter_mut().zip(&self.buf) {
                *o += *w * *x;
            }
        }
        Ok(())
    }
}
