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
}

impl Builder {
    pub fn new(order: usize, uni_prob: Vec<f32>, uni_backoff: Vec<f32>) -> Builder {
        let bound = uni_prob.len();
        let mut prob = vec![uni_prob];
        prob.resize(order, Vec::new());
        let mut backoff = vec![uni_backoff];
        backoff.resize(order - 1, Vec::new());
        Builder { order, bound, trie: Trie::default(), prob, backoff }
    }

    /// Orders added so far (1 = unigrams only).
    pub fn done(&self) -> usize {
        self.trie.orders.len() + 1
    }

    /// Add the next order: rows are sorted by their words (so the model, and its ARPA text,
    /// do not depend on KenLM's storage order) and appended below their contexts. `table`
    /// names where they came from, for errors.
    pub fn add(&mut self, b: &Bytes, g: &Grams, table: usize) -> Result<()> {
        let n = g.n;
        debug_assert_eq!(n, self.done() + 1);
        let rows = g.len();
        let w = &g.words;
        if let Some(&bad) = w.iter().find(|&&x| x as usize >= self.bound) {
            return Err(b.err(table, &format!("a {n}-gram has word id {bad}, outside the vocabulary of {}", self.bound)));
        }
        let mut idx: Vec<u32> = (0..rows as u32).collect();
        idx.par_sort_unstable_by(|&a, &c| w[a as usize * n..][..n].cmp(&w[c as usize * n..][..n]));
        let mut o = OrderIndex::with_capacity(rows);
        let mut prob = Vec::with_capacity(rows);
        let mut backoff = Vec::with_capacity(if n < self.order { rows } else { 0 });
        let mut last: Option<(&[u32], u32)> = None;
        for &i in &idx {
            let i = i as usize;
            let gram = &w[i * n..][..n];
            let ctx = &gram[..n - 1];
            let row = match last {
                Some((c, r)) if c == ctx => r,
                _ => match self.trie.find(ctx, self.bound) {
                    Some(r) => r,
                    None => {
                        return Err(
                            b.err(table, &format!("the context of the {n}-gram {gram:?} (word ids) is not in the model (corrupt file?)"))
                        )
                    }
                },
            };
            last = Some((ctx, row));
            let before = o.len();
            if (o.push(row, gram[n - 1]) as usize) < before {
                return Err(b.err(table, &format!("the {n}-gram {gram:?} (word ids) is stored twice (corrupt file?)")));
            }
            prob.push(g.prob[i]);
            if n < self.order {
                backoff.push(g.backoff[i]);
            }
        }
        self.trie.orders.push(o);
        self.prob[n - 1] = prob;
        if n < self.order {
            self.backoff[n - 1] = backoff;
        }
        Ok(())
    }

    /// The model over `words` (id order; `<unk>` is id 0).
    pub fn finish(mut self, b: &Bytes, words: Vec<String>, what: &str) -> Result<Model> {
        debug_assert_eq!(self.done(), self.order);
        let find = |s: &str| words.iter().position(|w| w == s).map(|i| i as u32);
        let (bos, eos) = match (find("<s>"), find("</s>")) {
            (Some(x), Some(y)) => (x, y),
            _ => return Err(b.err(b.data.len(), "the model has no <s> or </s> in its vocabulary")),
        };
        self.trie.orders.iter_mut().for_each(|o| o.drop_table());
        let present = vec![true; words.len()];
        let voc = Vocab { words, unk: 0, bos, eos };
        Ok(Model::new(voc, present, self.trie, self.prob, self.backoff, Mode::Backoff, format!("kenlm binary ({what})")))
    }
}
