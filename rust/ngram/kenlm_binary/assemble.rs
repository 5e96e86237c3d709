//! Building a [`Model`] from the n-grams recovered from a KenLM file, order by order, the way
//! the ARPA reader builds one (`arpa.rs`): a trie of `(context row, word)` rows plus prob and
//! backoff arrays per order.

use rayon::prelude::*;

use super::bytes::Bytes;
use crate::error::Result;
use crate::ngram::index::{OrderIndex, Trie};
use crate::ngram::model::{Mode, Model, Vocab};

/// The n-grams of one order: `words` holds `n` forward word ids per row.
pub(crate) struct Grams {
    pub n: usize,
    pub words: Vec<u32>,
    pub prob: Vec<f32>,
    /// Empty for the highest order.
    pub backoff: Vec<f32>,
}

impl Grams {
    pub fn new(n: usize) -> Grams {
        Grams { n, words: Vec::new(), prob: Vec::new(), backoff: Vec::new() }
    }
    pub fn len(&self) -> usize {
        self.prob.len()
    }
}

pub(crate) struct Builder {
    pub order: usize,
    pub bound: usize,
    pub trie: Trie,
    pub prob: Vec<Vec<f32>>,
    pub backoff: Vec<Vec<f32>>,
    /// The words of the last order added, row by row (rows are sorted by them).
    sorted: Vec<u32>,
}

impl Builder {
    pub fn new(order: usize, uni_prob: Vec<f32>, uni_backoff: Vec<f32>) -> Builder {
        let bound = uni_prob.len();
        let mut prob = vec![uni_prob];
        prob.resize(order, Vec::new());
        let mut backoff = vec![uni_backoff];
        backoff.resize(order - 1, Vec::new());
        Builder { order, bound, trie: Trie::default(), prob, backoff, sorted: Vec::new() }
    }

    /// Orders added so far (1 = unigrams only).
    pub fn done(&self) -> usize {
        self.trie.orders.len() + 1
    }

    /// Add the next order: rows are sorted by their words (so the model, and its ARPA text,
    /// do not depend on KenLM's storage order) and appended below their contexts, which a merge
    /// walk over the order below (sorted the same way) finds. `table` names where the rows
    /// came from, for errors.
    pub fn add(&mut self, b: &Bytes, g: &Grams, table: usize) -> Result<()> {
        let n = g.n;
        debug_assert_eq!(n, self.done() + 1);
        let rows = g.len();
        let w = &g.words;
        if let Some(&bad) = w.iter().find(|&&x| x as usize >= self.bound) {
            return Err(b.err(table, &format!("a {n}-gram has word id {bad}, outside the vocabulary of {}", self.bound)));
        }
        let idx = sort_rows(w, n, self.bound);
        let mut sorted = Vec::with_capacity(rows * n);
        for &i in &idx {
            sorted.extend_from_slice(&w[i as usize * n..][..n]);
        }
        let mut prefix = Vec::with_capacity(rows);
        let mut word = Vec::with_capacity(rows);
        let below = &self.sorted; // the (n-1)-grams by row, n - 1 words each
        let mut j = 0usize;
        for r in 0..rows {
            let gram = &sorted[r * n..][..n];
            if r > 0 && sorted[(r - 1) * n..][..n] == *gram {
                return Err(b.err(table, &format!("the {n}-gram {gram:?} (word ids) is stored twice (corrupt file?)")));
            }
            let ctx = &gram[..n - 1];
            let row = if n == 2 {
                ctx[0] as usize
            } else {
                while j * (n - 1) < below.len() && below[j * (n - 1)..][..n - 1] < *ctx {
                    j += 1;
                }
                if j * (n - 1) >= below.len() || below[j * (n - 1)..][..n - 1] != *ctx {
                    return Err(
                        b.err(table, &format!("the context of the {n}-gram {gram:?} (word ids) is not in the model (corrupt file?)"))
                    );
                }
                j
            };
            prefix.push(row as u32);
            word.push(gram[n - 1]);
        }
        self.trie.orders.push(OrderIndex::new(prefix, word)?);
        self.prob[n - 1] = idx.iter().map(|&i| g.prob[i as usize]).collect();
        if n < self.order {
            self.backoff[n - 1] = idx.iter().map(|&i| g.backoff[i as usize]).collect();
        }
        self.sorted = sorted;
        Ok(())
    }

    /// The model over `words` (id order; `<unk>` is id 0).
    pub fn finish(self, b: &Bytes, words: Vec<String>, what: &str) -> Result<Model> {
        debug_assert_eq!(self.done(), self.order);
        let find = |s: &str| words.iter().position(|w| w == s).map(|i| i as u32);
        let (bos, eos) = match (find("<s>"), find("</s>")) {
            (Some(x), Some(y)) => (x, y),
            _ => return Err(b.err(b.data.len(), "the model has no <s> or </s> in its vocabulary")),
        };
        let present = vec![true; words.len()];
        let voc = Vocab { words, unk: 0, bos, eos };
        Ok(Model::new(voc, present, self.trie, self.prob, self.backoff, Mode::Backoff, format!("kenlm binary ({what})")))
    }
}

/// Row numbers of the `n`-word rows of `w` in lexicographic order of their words. When the
/// words fit in 128 bits (ids below `bound`), rows sort by one packed integer each.
fn sort_rows(w: &[u32], n: usize, bound: usize) -> Vec<u32> {
    let bits = (usize::BITS - bound.saturating_sub(1).leading_zeros()).max(1) as usize;
    let rows = w.len() / n.max(1);
    if n * bits <= 128 {
        let mut keyed: Vec<(u128, u32)> =
            (0..rows).into_par_iter().map(|r| (w[r * n..][..n].iter().fold(0u128, |k, &x| (k << bits) | x as u128), r as u32)).collect();
        keyed.par_sort_unstable();
        keyed.into_iter().map(|(_, r)| r).collect()
    } else {
        let mut idx: Vec<u32> = (0..rows as u32).collect();
        idx.par_sort_unstable_by(|&a, &c| w[a as usize * n..][..n].cmp(&w[c as usize * n..][..n]));
        idx
    }
}
