//! From sentences to a model: vocabulary, counting, and the count-based estimators (MLE,
//! add-k, stupid backoff). The shared trie is built in `tables.rs`; Kneser-Ney lives in `kn.rs`.
//!
//! Sentences are framed once with `<s>`/`</s>` (KenLM's convention). Text models use KenLM's
//! ids (`<unk>` 0, `<s>` 1, `</s>` 2, then words by first appearance); id models keep the
//! caller's ids `0..V` and put `<unk>`, `<s>`, `</s>` at `V`, `V+1`, `V+2`.
//!
//! Count-based rules (log10, `C(h) = sum_w c(h w)` is the count of `h` as a history, `T` the
//! number of predicted tokens, `V` the unigrams other than `<s>`): with `h'` the longest suffix
//! of the history with `C(h') > 0`, MLE is `c(h'w)/C(h')` and add-k `(c(h'w)+k)/(C(h')+kV)`
//! (unigrams: `(c(w)+k)/(T+kV)`); stupid backoff is `c(h'w)/C(h')` times `alpha` per dropped
//! word, with `h'` the longest suffix such that `c(h'w) > 0`.

use super::count::{self, OrderCounts};
pub use super::model::Vocab;
use super::model::{Mode, Model, MAX_ORDER};
use super::tables::Tables;
use crate::error::{Error, Result};

/// Estimation method.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Smoothing {
    /// `prune[n-1]`: n-grams of order n with a raw count at or below it are dropped (lmplz's
    /// `--prune`; all zeros = no pruning).
    KneserNey {
        discount_fallback: Option<[f32; 3]>,
        prune: [u64; MAX_ORDER],
    },
    Mle,
    AddK(f64),
    Stupid(f64),
}

/// History counts `C(g)` of every row of order `n < N` (sum of the counts of its continuations).
fn history_counts(t: &Tables, n: usize, rows: usize) -> Vec<u64> {
    let mut h = vec![0u64; rows];
    let o = &t.trie.orders[n - 1];
    for (r, &c) in t.counts[n].iter().enumerate() {
        h[o.prefix[r] as usize] += c;
    }
    h
}

/// MLE / add-k (`Floor` mode) or stupid backoff from counts.
fn count_based(tables: Vec<OrderCounts>, voc: Vocab, smoothing: Smoothing) -> Result<Model> {
    let big_n = tables.len();
    let t = Tables::build(tables, &voc)?;
    let vsize = voc.words.len();
    let total: u64 = (0..vsize).filter(|&w| w != voc.bos as usize).map(|w| t.unigram_counts[w]).sum();
    let v = (0..vsize).filter(|&w| t.present[w] && w != voc.bos as usize).count() as f64;
    let (k, mode, name) = match smoothing {
        Smoothing::Mle => (0.0, Mode::Floor, "mle".to_string()),
        Smoothing::AddK(k) => (k, Mode::Floor, format!("add_k k={k}")),
        Smoothing::Stupid(a) => (0.0, Mode::Stupid { log_alpha: a.log10() as f32 }, format!("stupid_backoff alpha={a}")),
        Smoothing::KneserNey { .. } => unreachable!("Kneser-Ney is estimated in kn.rs"),
    };
    let lp = |c: u64, hist: u64| (((c as f64 + k) / (hist as f64 + k * v)).log10()) as f32;
    let mut prob = vec![(0..vsize)
        .map(|w| if !t.present[w] || w == voc.bos as usize { f32::NEG_INFINITY } else { lp(t.unigram_counts[w], total) })
        .collect::<Vec<f32>>()];
    let mut backoff = Vec::new();
    let mut hist_below: Vec<u64> = Vec::new();
    let cancel = crate::parallel::cancel_token();
    for n in 1..=big_n {
        cancel.check()?;
        let rows = if n == 1 { vsize } else { t.trie.orders[n - 2].len() };
        if n > 1 {
            let o = &t.trie.orders[n - 2];
            prob.push((0..rows).map(|r| lp(t.counts[n - 1][r], hist_below[o.prefix[r] as usize])).collect());
        }
        if n < big_n {
            let h = history_counts(&t, n, rows);
            if mode == Mode::Floor {
                backoff.push(h.iter().map(|&c| if c > 0 { lp(0, c) } else { f32::NAN }).collect());
            } else {
                backoff.push(Vec::new());
            }
            hist_below = h;
        }
    }
    Ok(Model::new(voc, t.present, t.trie, prob, backoff, mode, name))
}

fn check_options(order: usize, smoothing: Smoothing) -> Result<()> {
    if order == 0 || order > MAX_ORDER {
        return Err(Error::Value(format!("order must be between 1 and {MAX_ORDER}, got {order}")));
    }
    match smoothing {
        Smoothing::AddK(k) if !(k > 0.0 && k.is_finite()) => Err(Error::Value(format!("add-k needs a positive finite k, got {k}"))),
        Smoothing::Stupid(a) if !(a > 0.0 && a <= 1.0) => Err(Error::Value(format!("stupid backoff needs 0 < alpha <= 1, got {a}"))),
        Smoothing::KneserNey { discount_fallback: Some(d), .. }
            if d.iter().enumerate().any(|(i, &x)| !(x >= 0.0 && x <= (i + 1) as f32)) =>
        {
            Err(Error::Value(format!("discount_fallback {d:?}: discount k must lie in [0, k]")))
        }
        Smoothing::KneserNey { prune, .. } if prune[0] != 0 => {
            Err(Error::Value(format!("prune: unigrams cannot be pruned (threshold {} for order 1; use 0)", prune[0])))
        }
        Smoothing::KneserNey { prune, .. } if prune.windows(2).take(order.saturating_sub(1)).any(|w| w[1] < w[0]) => {
            Err(Error::Value(format!(
            "prune thresholds must not decrease with the order (got {:?}): a pruned n-gram would leave its extensions without a context",
            &prune[..order]
        )))
        }
        _ => Ok(()),
    }
}

/// The refusal of a text without words.
pub(crate) const NO_WORDS: &str = "cannot estimate a language model from an empty corpus (no words)";

/// Estimate from counts (framed with `voc.bos`/`voc.eos`).
pub fn from_counts(tables: Vec<OrderCounts>, voc: Vocab, smoothing: Smoothing) -> Result<Model> {
    check_options(tables.len(), smoothing)?;
    if tables.is_empty() || tables[0].is_empty() {
        return Err(Error::Value("cannot estimate a language model from an empty corpus".into()));
    }
    match smoothing {
        Smoothing::KneserNey { discount_fallback, prune } => {
            let n = tables.len();
            super::kn::estimate(tables, voc, discount_fallback, &prune[..n])
        }
        _ => count_based(tables, voc, smoothing),
    }
}

/// Fit on CSR id sequences with ids below `vocab_size` (default: largest id + 1).
pub fn fit_ids(
    ids: &[u32],
    offsets: &[i64],
    vocab_size: Option<usize>,
    order: usize,
    smoothing: Smoothing,
    threads: Option<usize>,
) -> Result<Model> {
    check_options(order, smoothing)?;
    if ids.is_empty() {
        return Err(Error::Value("cannot estimate a language model from an empty corpus (no tokens)".into()));
    }
    let max = *ids.iter().max().unwrap() as usize;
    let v = vocab_size.unwrap_or(max + 1);
    if max >= v {
        let i = ids.iter().position(|&x| x as usize >= v).unwrap();
        return Err(Error::Value(format!("token id {} at position {i} is outside vocab_size={v}", ids[i])));
    }
    if v + 3 > u32::MAX as usize {
        return Err(Error::Value(format!("vocab_size={v} is too large")));
    }
    let mut words: Vec<String> = (0..v).map(|i| i.to_string()).collect();
    words.extend(["<unk>", "<s>", "</s>"].map(String::from));
    let voc = Vocab { words, unk: v as u32, bos: v as u32 + 1, eos: v as u32 + 2 };
    let tables = count::count(ids, offsets, order, Some(voc.bos), Some(voc.eos), threads)?;
    crate::parallel::install(threads, || from_counts(tables, voc, smoothing))?
}

/// Fit on text: one sentence per line, whitespace-separated words; an empty line is an empty
/// sentence (`<s> </s>`), as in lmplz.
pub fn fit_text(text: &str, order: usize, smoothing: Smoothing, threads: Option<usize>) -> Result<Model> {
    crate::parallel::install(threads, || fit_text_on_pool(text, order, smoothing, threads))?
}

fn fit_text_on_pool(text: &str, order: usize, smoothing: Smoothing, threads: Option<usize>) -> Result<Model> {
    check_options(order, smoothing)?;
    let (tables, words) = count_text_on_pool(text, order, threads)?;
    crate::trace::phase("count");
    if words.len() == 3 {
        return Err(Error::Value(NO_WORDS.into()));
    }
    from_counts(tables, Vocab { words, unk: 0, bos: 1, eos: 2 }, smoothing)
}

/// The counts `fit_text` estimates from, with their vocabulary (`<unk> <s> </s>` first, then the
/// words by first appearance): sentences framed with `<s>`/`</s>`, empty lines kept as empty
/// sentences (a text without words gives counts of `<s> </s>` only). Counts of consecutive pieces of a text, summed with `shards::merge_words`, equal
/// the counts of the whole text.
pub fn count_text(text: &str, order: usize, threads: Option<usize>) -> Result<(Vec<OrderCounts>, Vec<String>)> {
    crate::parallel::install(threads, || count_text_on_pool(text, order, threads))?
}

fn count_text_on_pool(text: &str, order: usize, threads: Option<usize>) -> Result<(Vec<OrderCounts>, Vec<String>)> {
    if order == 0 || order > MAX_ORDER {
        return Err(Error::Value(format!("order must be between 1 and {MAX_ORDER}, got {order}")));
    }
    crate::trace::phase("count_text start");
    let mut words: Vec<String> = super::shards::SPECIALS.map(String::from).to_vec();
    let (ids, offsets) = super::text::words_with(text, &mut words, true);
    crate::parallel::cancel_token().check()?; // words_with stops early when cancelled
    if ids.iter().any(|&w| w < 3) {
        for (i, line) in text.lines().enumerate() {
            if let Some(w) = line.split_whitespace().find(|w| matches!(*w, "<unk>" | "<s>" | "</s>")) {
                return Err(Error::Value(format!(
                    "line {}: the corpus contains {w}, which the model reserves (as KenLM does); remove or rename it",
                    i + 1
                )));
            }
        }
    }
    crate::trace::phase("words");
    let tables = count::count(&ids, &offsets, order, Some(1), Some(2), threads)?;
    Ok((tables, words))
}
