//! The shared trie of a count set and what every estimator needs from it (the count-based
//! rules in `estimate.rs` and Kneser-Ney in `kn.rs` both start here, so neither imports the
//! other for it).
//!
//! [`Tables::build`] consumes sorted count tables (orders 1..N, rows sorted by their ids): for
//! each order n >= 2 it finds every row's prefix row in order n - 1 (a forward merge walk per
//! parallel block: O(rows)), the rows starting with `<s>` (contiguous, binary search), and the
//! suffix row of every row (one hash lookup each). Memory: each order's n-gram ids are freed as
//! soon as its rows are known, highest order first.

use rayon::prelude::*;

use super::count::OrderCounts;
use super::index::{OrderIndex, Trie};
use super::model::Vocab;
use crate::error::{Error, Result};

/// The trie of a count set plus what every estimator needs.
pub(crate) struct Tables {
    /// Rows of orders 2..N; their hash tables are not built here.
    pub trie: Trie,
    /// Dense unigram counts by id.
    pub unigram_counts: Vec<u64>,
    pub present: Vec<bool>,
    /// `suffix[n-1][r]`: row of the suffix of row `r` of order `n` (empty for n = 1).
    pub suffix: Vec<Vec<u32>>,
    /// `counts[n-1][r]`: raw count of row `r` of order `n >= 2` (`counts[0]` is empty).
    pub counts: Vec<Vec<u64>>,
    /// `bos_rows[n-1]`: the rows of order `n >= 2` that start with `<s>` (tables are sorted,
    /// so they are contiguous).
    pub bos_rows: Vec<std::ops::Range<usize>>,
}

impl Tables {
    /// Build from sorted count tables, consuming them: each order's n-gram ids are freed as
    /// soon as its rows are known (highest order first), so the ids of all orders and the
    /// trie never coexist in full.
    pub fn build(mut tables: Vec<OrderCounts>, voc: &Vocab) -> Result<Tables> {
        let vsize = voc.words.len();
        let big_n = tables.len();
        let mut unigram_counts = vec![0u64; vsize];
        let mut present = vec![false; vsize];
        let t1 = &tables[0];
        for i in 0..t1.len() {
            let w = t1.grams[i] as usize;
            if w >= vsize {
                return Err(Error::Value(format!("token id {w} is outside the vocabulary of {vsize} ids")));
            }
            unigram_counts[w] = t1.counts[i];
            present[w] = true;
        }
        for s in [voc.unk, voc.bos, voc.eos] {
            present[s as usize] = true;
        }
        let mut orders: Vec<Option<OrderIndex>> = (2..=big_n).map(|_| None).collect();
        let mut counts: Vec<Vec<u64>> = (0..big_n).map(|_| Vec::new()).collect();
        let mut bos_rows = vec![0..0; big_n];
        let cancel = crate::parallel::cancel_token();
        for n in (2..=big_n).rev() {
            cancel.check()?;
            let (lower, upper) = tables.split_at_mut(n - 1);
            let (t, below) = (&mut upper[0], &lower[n - 2]);
            let first = |r: usize| t.grams[r * n];
            let lo = partition_point(t.len(), |r| first(r) < voc.bos);
            bos_rows[n - 1] = lo..partition_point(t.len(), |r| first(r) <= voc.bos);
            let prefix = prefix_rows(t, below)?;
            let word: Vec<u32> = (0..t.len()).into_par_iter().map(|r| t.grams[r * n + n - 1]).collect();
            orders[n - 2] = Some(OrderIndex::new(prefix, word)?);
            counts[n - 1] = std::mem::take(&mut t.counts);
            t.grams = Vec::new();
        }
        drop(tables);
        let mut trie = Trie { orders: orders.into_iter().map(|o| o.expect("every order built")).collect() };
        // Suffix rows of order n look rows up in order n - 1; its hash table is only needed for
        // that, so it is dropped right after.
        let mut suffix = vec![Vec::new()];
        for n in 2..=big_n {
            cancel.check()?;
            let s = trie.suffix_rows(n, &suffix[n - 2])?;
            if n >= 3 {
                trie.orders[n - 3].drop_table();
            }
            suffix.push(s);
        }
        Ok(Tables { trie, unigram_counts, present, suffix, counts, bos_rows })
    }
}

/// First `i` in `0..len` with `!pred(i)` (`pred` true on a prefix of the range).
fn partition_point(len: usize, pred: impl Fn(usize) -> bool) -> usize {
    let (mut lo, mut hi) = (0, len);
    while lo < hi {
        let mid = (lo + hi) / 2;
        if pred(mid) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo
}

/// Row in `below` (order n - 1) of the first n - 1 words of every row of `t` (order n): both
/// tables are sorted, so each parallel block walks forward from a binary-searched start.
fn prefix_rows(t: &OrderCounts, below: &OrderCounts) -> Result<Vec<u32>> {
    let n = t.n;
    if n == 2 {
        return Ok((0..t.len()).map(|r| t.grams[r * 2]).collect());
    }
    let mut prefix = vec![0u32; t.len()];
    const BLOCK: usize = 1 << 16;
    prefix.par_chunks_mut(BLOCK).enumerate().try_for_each(|(b, out)| {
        let r0 = b * BLOCK;
        let mut j = partition_point(below.len(), |i| below.gram(i) < &t.gram(r0)[..n - 1]);
        for (k, slot) in out.iter_mut().enumerate() {
            let g = &t.gram(r0 + k)[..n - 1];
            while j < below.len() && below.gram(j) < g {
                j += 1;
            }
            if j == below.len() || below.gram(j) != g {
                return Err(Error::Value(format!("counts of order {n} hold an n-gram whose prefix is not counted")));
            }
            *slot = j as u32;
        }
        Ok(())
    })?;
    Ok(prefix)
}
