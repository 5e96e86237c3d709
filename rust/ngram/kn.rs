//! Interpolated modified Kneser-Ney, reproducing KenLM `lmplz` (unpruned) number for number.
//!
//! Input: count tables of orders `1..=N` over sentences framed once with `<s>`/`</s>`.
//! - Adjusted counts `a(g)`: raw counts for order `N` and for n-grams starting with `<s>`;
//!   otherwise the number of distinct words seen to the left of `g` (`<s>` included).
//!   `a(<s>) = a(<unk>) = 0`.
//! - Discounts per order from the counts of counts `t_k` of adjusted counts:
//!   `Y = t1 / (t1 + 2 t2)`, `D_k = k - (k+1) Y t_{k+1} / t_k` (k = 1, 2, 3+), errors (or the
//!   fallback) when some `t_k` is 0 or `D_k` leaves `[0, k]`.
//! - Per context `h`: `denom(h) = sum_w a(h w)`, `gamma(h) = sum_k D_k N_k(h) / denom(h)`;
//!   `u(h w) = (a(h w) - D(a)) / denom(h)`; `p(w|h) = u(h w) + gamma(h) p(w|h')` with `h'` the
//!   history without its first word, and `p(w) = u(w) + gamma() / V` at the bottom (`V` counts
//!   every unigram but `<s>`); `p(<s>) = 1`.
//! - ARPA numbers: `min(0, log10 p)` and `log10 gamma` for n-grams that are contexts.
//! - Pruning (lmplz `--prune`): an n-gram of order n >= 2 whose raw count is at most
//!   `prune[n-1]` is dropped from the model. The discounts still come from every n-gram; in its
//!   context's gamma the pruned n-gram's N_k term is replaced by its whole adjusted count
//!   (`gamma(h) = (sum_k D_k N_k(unpruned) + sum_pruned a) / denom(h)`), so the dropped mass
//!   goes to the backoff and the model still sums to 1. With non-decreasing thresholds every
//!   prefix and suffix of a kept n-gram is kept.
//!
//! Every step uses lmplz's float32 operations in lmplz's order (integer sums in u64, then cast),
//! so the ARPA numbers come out bit-identical. Cost: one hash probe per n-gram for suffix rows,
//! otherwise linear passes over the sorted tables.

use super::count::OrderCounts;
use super::index::{OrderIndex, Trie};
use super::model::{Mode, Model, Vocab};
use super::tables::Tables;
use crate::error::{Error, Result};
use rayon::prelude::*;

/// Discounts of one order: `d[0] = 0`, `d[k]` for adjusted count `k` (3 = 3 or more).
fn discounts(t: &[u64; 5], n: usize, fallback: Option<[f32; 3]>) -> Result<[f32; 4]> {
    let computed = (|| {
        if let Some(k) = (1..4).find(|&k| t[k] == 0) {
            return Err(format!(
                "could not compute Kneser-Ney discounts for {n}-grams: no {n}-gram has adjusted count {k} \
                 (small or artificial data? pass discount_fallback=(d1, d2, d3) to override)"
            ));
        }
        let y = t[1] as f32 / (t[1] as f64 + 2.0 * t[2] as f64) as f32;
        let mut d = [0f32; 4];
        for j in 1..4 {
            d[j] = j as f32 - (j + 1) as f32 * y * t[j + 1] as f32 / t[j] as f32;
            if !(d[j] >= 0.0 && d[j] <= j as f32) {
                return Err(format!(
                    "{n}-gram Kneser-Ney discount for adjusted count {j} is out of range: {} \
                     (pass discount_fallback=(d1, d2, d3) to override)",
                    d[j]
                ));
            }
        }
        Ok(d)
    })();
    match (computed, fallback) {
        (Ok(d), _) => Ok(d),
        (Err(_), Some(f)) => Ok([0.0, f[0], f[1], f[2]]),
        (Err(m), None) => Err(Error::Value(m)),
    }
}

fn count_of_counts(a: impl Iterator<Item = u64>) -> [u64; 5] {
    let mut t = [0u64; 5];
    for x in a {
        if x < 5 {
            t[x as usize] += 1;
        }
    }
    t
}

/// Context statistics from the rows of order `n` grouped by prefix: `(gamma, denom)` per
/// prefix row (prefix rows without continuations keep `(0, 0)`). Rows with `pruned[i]` give
/// their whole adjusted count to gamma instead of a discount (lmplz's order of operations).
fn context_stats(prefix: &[u32], a: &[u64], pruned: Option<&[bool]>, d: &[f32; 4], num_prefix: usize) -> (Vec<f32>, Vec<f32>) {
    let mut gamma = vec![0f32; num_prefix];
    let mut denom = vec![0f32; num_prefix];
    let mut i = 0;
    while i < prefix.len() {
        let p = prefix[i];
        let (mut sum, mut nk, mut cut) = (0u64, [0u64; 4], 0u64);
        while i < prefix.len() && prefix[i] == p {
            sum += a[i];
            if pruned.is_some_and(|m| m[i]) {
                cut += a[i];
            } else if a[i] > 0 {
                nk[a[i].min(3) as usize] += 1;
            }
            i += 1;
        }
        let den = sum as f32;
        let mut g = 0f32;
        for k in 1..4 {
            g += d[k] * nk[k] as f32;
        }
        g += cut as f32;
        g /= den;
        gamma[p as usize] = g;
        denom[p as usize] = den;
    }
    (gamma, denom)
}

/// Drop the pruned rows of orders 2..N from the trie and the per-row values, renumbering the
/// prefixes of the order above.
fn drop_pruned(trie: Trie, pruned: &[Vec<bool>], prob: &mut [Vec<f32>], backoff: &mut [Vec<f32>]) -> Result<Trie> {
    let mut orders = Vec::with_capacity(trie.orders.len());
    let mut new_row: Vec<u32> = Vec::new(); // of the order below (empty: order 1, unchanged)
    for (i, o) in trie.orders.into_iter().enumerate() {
        let n = i + 2;
        let cut = |r: usize| pruned[n - 1].get(r).copied().unwrap_or(false);
        let mut map = vec![u32::MAX; o.len()];
        let (mut prefix, mut word) = (Vec::new(), Vec::new());
        for r in (0..o.len()).filter(|&r| !cut(r)) {
            map[r] = prefix.len() as u32;
            let p = o.prefix[r];
            prefix.push(if n == 2 { p } else { new_row[p as usize] });
            word.push(o.word[r]);
        }
        if prefix.contains(&u32::MAX) {
            return Err(Error::Value(format!("pruning removed the context of a kept {n}-gram (thresholds must not decrease)")));
        }
        let retain = |v: &mut Vec<f32>| {
            let mut r = 0;
            v.retain(|_| {
                r += 1;
                !cut(r - 1)
            });
        };
        retain(&mut prob[n - 1]);
        if n - 1 < backoff.len() {
            retain(&mut backoff[n - 1]);
        }
        orders.push(OrderIndex::new(prefix, word)?);
        new_row = map;
    }
    Ok(Trie { orders })
}

#[inline]
fn uninterp(a: u64, d: &[f32; 4], denom: f32) -> f32 {
    (a as f32 - d[a.min(3) as usize]) / denom
}

/// Estimate the model (see the module doc).
///
/// Memory: the count tables are consumed; adjusted counts overwrite the raw counts; each
/// order's suffix rows, adjusted counts and context statistics are freed once the order above
/// is done, and linear probabilities become log10 in place, so the peak stays near the
/// finished model plus one order's working set.
pub fn estimate(tables: Vec<OrderCounts>, voc: Vocab, fallback: Option<[f32; 3]>, prune: &[u64]) -> Result<Model> {
    let big_n = tables.len();
    let vsize = voc.words.len();
    let cancel = crate::parallel::cancel_token();
    let mut t = Tables::build(tables, &voc)?;
    cancel.check()?;
    crate::trace::phase("tables (trie, suffixes)");
    // Pruned rows per order (raw counts at or below the threshold; never unigrams).
    let pruned: Vec<Vec<bool>> = (1..=big_n)
        .map(|n| {
            let thr = prune.get(n - 1).copied().unwrap_or(0);
            if n == 1 || thr == 0 {
                Vec::new()
            } else {
                t.counts[n - 1].iter().map(|&c| c <= thr).collect()
            }
        })
        .collect();
    let any_pruned = pruned.iter().any(|p| p.iter().any(|&x| x));
    // Adjusted counts, in place of the raw counts (order 1 dense by id): raw for the highest
    // order and for n-grams that start with <s>, else the number of distinct left extensions.
    let mut adj: Vec<Vec<u64>> = std::mem::take(&mut t.counts);
    adj[0] = std::mem::take(&mut t.unigram_counts);
    for n in 1..big_n {
        let mut ext = vec![0u64; adj[n - 1].len()];
        for &s in &t.suffix[n] {
            ext[s as usize] += 1;
        }
        let keep = if n == 1 { voc.bos as usize..voc.bos as usize + 1 } else { t.bos_rows[n - 1].clone() };
        ext[keep.clone()].copy_from_slice(&adj[n - 1][keep]);
        adj[n - 1] = ext;
    }
    adj[0][voc.bos as usize] = 0;
    adj[0][voc.unk as usize] = 0;

    let mut ds = Vec::with_capacity(big_n);
    let mut desc = Vec::new();
    for n in 1..=big_n {
        let tk = if n == 1 {
            count_of_counts((0..vsize).filter(|&w| t.present[w]).map(|w| adj[0][w]))
        } else {
            count_of_counts(adj[n - 1].iter().copied())
        };
        let d = discounts(&tk, n, fallback)?;
        desc.push(format!("D{n}=({}, {}, {})", d[1], d[2], d[3]));
        ds.push(d);
    }

    // Unigrams: the empty context covers every present id.
    let (mut sum, mut nk) = (0u64, [0u64; 4]);
    for w in (0..vsize).filter(|&w| t.present[w]) {
        sum += adj[0][w];
        if adj[0][w] > 0 {
            nk[adj[0][w].min(3) as usize] += 1;
        }
    }
    let den0 = sum as f32;
    let mut g0 = 0f32;
    for k in 1..4 {
        g0 += ds[0][k] * nk[k] as f32;
    }
    g0 /= den0;
    let v = (0..vsize).filter(|&w| t.present[w] && w != voc.bos as usize).count();
    let uniform = (1.0f64 / v as f32 as f64) as f32;
    // `prob[n-1]` holds linear probabilities until order n + 1 has used them, then log10.
    let mut prob: Vec<Vec<f32>> = Vec::with_capacity(big_n);
    prob.push(
        (0..vsize)
            .map(|w| {
                if !t.present[w] {
                    0.0
                } else if w == voc.bos as usize {
                    1.0 // lmplz: u = 1, gamma = 0
                } else if w == voc.unk as usize {
                    g0 * uniform // u = 0: <unk> is a zeroton
                } else {
                    uninterp(adj[0][w], &ds[0], den0) + g0 * uniform
                }
            })
            .collect(),
    );
    let mut backoff: Vec<Vec<f32>> = Vec::with_capacity(big_n - 1);
    crate::trace::phase("adjusted counts, discounts");
    // Higher orders; contexts of order n-1 get their gammas from the rows of order n.
    for n in 2..=big_n {
        cancel.check()?;
        let o = &t.trie.orders[n - 2];
        let num_prefix = if n == 2 { vsize } else { t.trie.orders[n - 3].len() };
        let mask = if pruned[n - 1].is_empty() { None } else { Some(&pruned[n - 1][..]) };
        let a = std::mem::take(&mut adj[n - 1]);
        let (gamma, denom) = context_stats(&o.prefix, &a, mask, &ds[n - 1], num_prefix);
        let suffix = std::mem::take(&mut t.suffix[n - 1]);
        let below = &prob[n - 2];
        let d = &ds[n - 1];
        let p: Vec<f32> = (0..o.len())
            .into_par_iter()
            .with_min_len(1 << 14)
            .map(|r| {
                let pr = o.prefix[r] as usize;
                uninterp(a[r], d, denom[pr]) + gamma[pr] * below[suffix[r] as usize]
            })
            .collect();
        drop((a, suffix));
        // Order n - 1 is finished: its probabilities to log10, its contexts' backoffs.
        to_log10(&mut prob[n - 2], if n == 2 { Some(&t.present[..]) } else { None });
        let last = |r: usize| {
            if n == 2 {
                r as u32
            } else {
                t.trie.orders[n - 3].word[r]
            }
        };
        backoff.push(
            (0..gamma.len())
                .into_par_iter()
                .with_min_len(1 << 14)
                .map(|r| {
                    let w = last(r);
                    // Not a context (no continuations): backoff 1, as lmplz writes it.
                    if w == voc.unk || w == voc.eos || denom[r] == 0.0 {
                        0.0
                    } else {
                        gamma[r].log10()
                    }
                })
                .collect(),
        );
        prob.push(p);
    }
    to_log10(&mut prob[big_n - 1], if big_n == 1 { Some(&t.present[..]) } else { None });
    crate::trace::phase("probabilities, backoffs");
    cancel.check()?;
    let trie = if any_pruned { drop_pruned(t.trie, &pruned, &mut prob, &mut backoff)? } else { t.trie };
    let pr = if any_pruned { format!(" prune={:?}", prune) } else { String::new() };
    Ok(Model::new(voc, t.present, trie, prob, backoff, Mode::Backoff, format!("kneser_ney {}{pr}", desc.join(" "))))
}

/// Linear probabilities to ARPA numbers in place: `min(0, log10 p)`; ids not `present` (order
/// 1 only) get -inf.
fn to_log10(p: &mut [f32], present: Option<&[bool]>) {
    p.par_iter_mut().with_min_len(1 << 14).enumerate().for_each(|(r, x)| {
        *x = if present.is_some_and(|m| !m[r]) { f32::NEG_INFINITY } else { 0f32.min(x.log10()) };
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discounts_by_hand() {
        // t1..t4 = 10, 4, 2, 1: Y = 10 / (10 + 2*4) = 5/9; D1 = 1 - 2 Y 4/10 = 5/9,
        // D2 = 2 - 3 Y 2/4 = 7/6, D3+ = 3 - 4 Y 1/2 = 17/9.
        let d = discounts(&[0, 10, 4, 2, 1], 2, None).unwrap();
        let want = [0.0, 5.0 / 9.0, 7.0 / 6.0, 17.0 / 9.0];
        for (g, w) in d.iter().zip(want) {
            assert!((*g as f64 - w).abs() < 1e-6, "{d:?}");
        }
        // No n-gram with adjusted count 2: an error naming it, or the fallback.
        let e = discounts(&[0, 3, 0, 1, 1], 3, None).unwrap_err().to_string();
        assert!(e.contains("3-grams") && e.contains("adjusted count 2"), "{e}");
        assert_eq!(discounts(&[0, 3, 0, 1, 1], 3, Some([0.5, 1.0, 1.5])).unwrap(), [0.0, 0.5, 1.0, 1.5]);
        // t = 1, 1, 5, 1: D2 = 2 - 3 (1/3) 5 = -3 is out of range.
        assert!(discounts(&[0, 1, 1, 5, 1], 1, None).unwrap_err().to_string().contains("out of range"));
        assert_eq!(count_of_counts([1, 1, 2, 3, 4, 7, 9].into_iter()), [0, 2, 1, 1, 1]);
    }

    /// KenLM's toy corpus "a a b a / b a a b", unigrams by hand with the fallback discounts
    /// (0.5, 1, 1.5): adjusted counts are the distinct left neighbours, a(a) = |{<s>, a, b}| = 3,
    /// a(b) = |{<s>, a}| = 2, a(</s>) = |{a, b}| = 2, so denom = 7 and
    /// gamma = (1 * #{count 2} + 1.5 * #{count 3}) / 7 = 3.5 / 7 = 1/2, spread over V = 4
    /// (every unigram but <s>): p(a) = 1.5/7 + 1/8, p(b) = p(</s>) = 1/7 + 1/8, p(<unk>) = 1/8.
    #[test]
    fn toy_unigrams_by_hand() {
        let sm =
            crate::ngram::Smoothing::KneserNey { discount_fallback: Some([0.5, 1.0, 1.5]), prune: [0; crate::ngram::model::MAX_ORDER] };
        let m = crate::ngram::fit_text("a a b a\nb a a b\n", 3, sm, Some(1)).unwrap();
        let p = m.distribution(&m.state_after(&[], false));
        let id = |w: &str| m.vocab.iter().position(|v| v == w).unwrap();
        for (w, want) in [("a", 1.5 / 7.0 + 0.125), ("b", 1.0 / 7.0 + 0.125), ("</s>", 1.0 / 7.0 + 0.125), ("<unk>", 0.125)] {
            let got = 10f64.powf(p[id(w)] as f64);
            assert!((got - want).abs() < 1e-6, "p({w}) = {got}, by hand {want}");
        }
        // Bigrams after "a": a(a a) = |{<s>, b}| = 2, a(a b) = |{a}| = 1, a(a </s>) = |{b}| = 1,
        // denom 4; bigram counts of counts t1 = 5, t2 = 2, t3 = 0 so the fallback holds again:
        // u(a a) = (2 - 1) / 4, gamma(a) = (0.5 * 2 + 1 * 1) / 4 = 1/2, so
        // p(a | a) = 1/4 + p(a) / 2, which lmplz prints as -0.37712017 (toy0.arpa).
        let st = m.state_after(&[id("a") as u32], false);
        let lp = m.step(&st, id("a") as u32).0;
        assert!((10f64.powf(lp as f64) - (0.25 + 0.5 * (1.5 / 7.0 + 0.125))).abs() < 1e-6);
        assert_eq!(lp, -0.37712017);
    }
}
