//! Decoding: batched beam search, greedy decoding and ancestral sampling over a [`Scorer`].
//!
//! A scorer is called once per step with the last token of every live hypothesis of every
//! batch item and the index of each one's parent in the previous call's list (at step 1: the
//! batch item), and fills an (n_live x V) array of natural-log probabilities. It keeps its own
//! state (an n-gram context, a recurrent state) and re-indexes it by the parents. Live
//! hypotheses are ordered by batch item, then by rank. Everything else (candidate selection,
//! finished pools, length normalisation, stopping) happens here, per item, so an item's result
//! never depends on the batch it was decoded in. The readable specification is
//! `tests/reference/search.py`.

pub mod beam;
pub mod decoder;
pub mod sample;
pub mod scorers;

use crate::error::{Error, Result};

pub use beam::{beam_search, BeamOptions, LengthPenalty, Stopping};
pub use sample::{greedy, sample, SampleOptions};

/// Something that gives next-token log-probabilities for a set of hypotheses.
pub trait Scorer {
    /// Size of the output vocabulary V.
    fn vocab_size(&self) -> usize;
    /// Fill `out` (tokens.len() x V, row-major) with natural-log probabilities of the next token
    /// of each live hypothesis. `parents[i]` is the index of hypothesis i's parent in the
    /// previous call's list (at the first call: its batch item).
    fn score(&mut self, tokens: &[u32], parents: &[usize], out: &mut [f32]) -> Result<()>;
}

/// A decoded sequence: generated tokens (bos excluded, eos included when it finished), its
/// normalised score, its raw log-probability and whether it ended with eos.
#[derive(Clone, Debug, PartialEq)]
pub struct Hyp {
    pub tokens: Vec<u32>,
    pub score: f64,
    pub logprob: f64,
    pub finished: bool,
}

/// Check a scorer's output for a step: NaN and +inf are errors (-inf is a banned token).
pub(crate) fn check_scores(out: &[f32], v: usize, step: usize) -> Result<()> {
    // A branch-free pass first (vectorised); the position only when something is wrong.
    if !out.iter().fold(false, |acc, x| acc | x.is_nan() | (*x == f32::INFINITY)) {
        return Ok(());
    }
    if let Some(i) = out.iter().position(|x| x.is_nan() || *x == f32::INFINITY) {
        return Err(Error::Value(format!(
            "the scorer returned {} at step {step} for hypothesis {} token {}; log-probabilities must be finite or -inf",
            out[i],
            i / v,
            i % v
        )));
    }
    Ok(())
}

/// Shared argument checks.
pub(crate) fn check_common(v: usize, bos: u32, eos: u32, max_len: usize, min_len: usize, banned: &[u32]) -> Result<()> {
    if v == 0 {
        return Err(Error::Value("the scorer has an empty vocabulary".into()));
    }
    if bos as usize >= v {
        return Err(Error::Value(format!("bos={bos} is outside the vocabulary of {v} tokens")));
    }
    if eos as usize >= v {
        return Err(Error::Value(format!("eos={eos} is outside the vocabulary of {v} tokens")));
    }
    if max_len == 0 {
        return Err(Error::Value("max_len must be at least 1".into()));
    }
    if min_len > max_len {
        return Err(Error::Value(format!("min_len={min_len} is larger than max_len={max_len}")));
    }
    if let Some(b) = banned.iter().find(|&&b| b as usize >= v) {
        return Err(Error::Value(format!("banned token {b} is outside the vocabulary of {v} tokens")));
    }
    Ok(())
}
