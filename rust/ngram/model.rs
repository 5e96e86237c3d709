//! An n-gram language model and its queries.
//!
//! Storage: a [`Trie`] over the n-grams plus, per order, `prob[n-1][row]` (log10) and, for
//! orders below the highest, `backoff[n-1][row]` (log10). Unigram row = word id. Queries use
//! their own tables (`query.rs`), built from these on the first query.
//!
//! Three query rules share the storage (all log10):
//! - [`Mode::Backoff`] (Kneser-Ney, anything read from ARPA): the ARPA rule. With the longest
//!   n-gram `h' w` present (`h'` a suffix of the history `h`), `log p(w|h) = prob(h' w) +
//!   sum of backoff(g)` over the contexts `g` that are suffixes of `h` longer than `h'`; absent
//!   contexts contribute 0.
//! - [`Mode::Floor`] (MLE, add-k): take the longest suffix `h'` of the history that was seen as a
//!   history (`backoff` holds its floor, NaN where the n-gram never was a history); the answer
//!   is `prob(h' w)` if that n-gram exists, else the floor `log10(k / (C(h') + kV))`.
//! - [`Mode::Stupid`] (stupid backoff): `prob(h' w) + (|h| - |h'|) log10(alpha)`; unnormalised.
//!
//! A query step costs at most `N - 1` hash probes, one cache line each: the state after a token
//! names the n-grams ending at it (lengths `1..=len`) by their query-table slots, with their
//! backoffs; each is found by extending the one a word shorter that ended at the previous
//! token, and the probe brings its probability and backoff. Ids that have no unigram (unseen
//! ids of an id-based model) are scored as `<unk>`; ids past the vocabulary are an error. Batches run in parallel over
//! sentences; totals are summed in sentence order, so results never depend on thread count.

use rayon::prelude::*;

use super::index::Trie;
use super::query;
use super::words::WordIndex;
use crate::error::{Error, Result};
use crate::mapped::Buf;
use crate::parallel;
use crate::sampling::{uniform, Sampler};

/// Longest order supported by the query state.
pub const MAX_ORDER: usize = 16;

/// How the stored numbers combine into a probability (see the module doc).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Mode {
    Backoff,
    Floor,
    Stupid { log_alpha: f32 },
}

/// Word strings and the special ids.
#[derive(Clone, Debug)]
pub struct Vocab {
    pub words: Vec<String>,
    pub unk: u32,
    pub bos: u32,
    pub eos: u32,
}

/// An n-gram model over the vocabulary `vocab` (ids index it).
#[derive(Clone, Debug)]
pub struct Model {
    pub vocab: Vec<String>,
    pub unk: u32,
    pub bos: u32,
    pub eos: u32,
    /// Unigram present (has a probability) for each id.
    pub present: Vec<bool>,
    pub trie: Trie,
    pub prob: Vec<Buf<f32>>,
    pub backoff: Vec<Buf<f32>>,
    pub mode: Mode,
    /// Description of how it was made (smoothing, discounts), for `info` and ARPA comments.
    pub smoothing: String,
    /// Word -> id, built on first use.
    lookup: std::sync::OnceLock<WordIndex>,
    /// Query tables: unigram (prob, backoff) pairs and the tables of orders 2..N, built on the
    /// first query.
    query: std::sync::OnceLock<(Buf<[f32; 2]>, Vec<query::Table>)>,
    /// `extends[k-1][key]`: the k-gram named `key` in the query state (word id for k = 1, slot
    /// of the order-k table above) is the context of some (k+1)-gram; built on first use.
    extends: std::sync::OnceLock<Vec<bool>>,
    /// Set once the trie's rows are known to name existing contexts and words (always for
    /// models built in memory; for a mapped file, after [`Model::check_structure`]).
    verified: std::sync::OnceLock<()>,
    /// The index behind [`Model::distribution`] (`dist.rs`), built on first use.
    pub(crate) dist: std::sync::OnceLock<super::dist::Dist>,
}

/// The query state after a token: the n-grams ending at it, shortest first, each named by its
/// key in the query tables (`rows[0]` the word id, `rows[k]` the slot of the (k+1)-gram in the
/// table of order k + 1), with their log10 backoffs.
#[derive(Clone, Copy, Debug)]
pub struct State {
    pub rows: [u32; MAX_ORDER],
    pub bo: [f32; MAX_ORDER],
    pub len: usize,
    /// Words of history (capped at N - 1), which stupid backoff's penalty counts.
    pub hist: usize,
}

impl State {
    pub const EMPTY: State = State { rows: [0; MAX_ORDER], bo: [0.0; MAX_ORDER], len: 0, hist: 0 };
}

/// Scores of a batch of sentences.
#[derive(Clone, Debug, Default)]
pub struct Scores {
    /// log10 p of each scored token (the sentence's tokens, then `</s>` if requested).
    pub token: Vec<f32>,
    /// Offsets of each sentence's scores in `token`.
    pub offsets: Vec<i64>,
    /// Length of the n-gram each score came from (1 = unigram).
    pub ngram_len: Vec<u8>,
    /// Per-sentence totals (f64 sums in token order).
    pub total: Vec<f64>,
    /// Per-sentence number of tokens scored as `<unk>`.
    pub oov: Vec<u32>,
}

impl Model {
    /// Assemble a model from its parts (the estimators and the readers build them; `prob` and
    /// `backoff` are owned vectors or views of a mapped file). Its builder vouches for the
    /// trie's invariants; a reader that has not checked them yet calls [`Model::unverified`].
    pub fn new<A: Into<Buf<f32>>>(
        voc: Vocab,
        present: Vec<bool>,
        trie: Trie,
        prob: Vec<A>,
        backoff: Vec<A>,
        mode: Mode,
        smoothing: String,
    ) -> Model {
        let Vocab { words: vocab, unk, bos, eos } = voc;
        let m = Model {
            vocab,
            unk,
            bos,
            eos,
            present,
            trie,
            prob: prob.into_iter().map(Into::into).collect(),
            backoff: backoff.into_iter().map(Into::into).collect(),
            mode,
            smoothing,
            lookup: Default::default(),
            query: Default::default(),
            extends: Default::default(),
            verified: Default::default(),
            dist: Default::default(),
        };
        m.mark_verified();
        m
    }

    /// The model with its trie's invariants not yet checked ([`Model::check_structure`] will).
    pub fn unverified(mut self) -> Model {
        self.verified = Default::default();
        self
    }

    /// Record that the trie's invariants hold (its builder or a full check made sure).
    pub fn mark_verified(&self) {
        let _ = self.verified.set(());
    }

    /// Check once that every trie row names an existing context and word (a model mapped from
    /// a file is not read in full at load); code that walks the trie calls this first.
    pub fn check_structure(&self) -> Result<()> {
        if self.verified.get().is_some() {
            return Ok(());
        }
        let v = self.vocab.len();
        for (i, o) in self.trie.orders.iter().enumerate() {
            let below = if i == 0 { v } else { self.trie.orders[i - 1].len() };
            if o.prefix.len() != self.prob.get(i + 1).map_or(0, |p| p.len()) {
                return Err(Error::Format(format!("order {}: the rows and the probabilities disagree (corrupt model file?)", i + 2)));
            }
            if o.prefix.iter().any(|&p| p as usize >= below) || o.word.iter().any(|&w| w as usize >= v) {
                return Err(Error::Format(format!(
                    "order {}: a row names a context or word that does not exist (corrupt model file?)",
                    i + 2
                )));
            }
        }
        self.mark_verified();
        Ok(())
    }

    /// Give the model its query tables (read from a file) instead of building them on the
    /// first query. The caller has checked their sizes: `unigrams` has one pair per id and
    /// table `k` serves order `k + 2`.
    pub fn set_query_tables(&self, unigrams: Buf<[f32; 2]>, tables: Vec<query::Table>) {
        let _ = self.query.set((unigrams, tables));
    }

    /// The query tables (built now if they are not yet), for writing them to a file.
    pub fn query_tables(&self) -> (&[[f32; 2]], &[query::Table]) {
        self.tables()
    }

    pub fn order(&self) -> usize {
        self.prob.len()
    }

    /// Number of n-grams of order `n` (unigrams: present ids).
    pub fn num_ngrams(&self, n: usize) -> usize {
        if n == 1 {
            self.present.iter().filter(|&&p| p).count()
        } else {
            self.trie.orders[n - 2].len()
        }
    }

    /// Id used for `w` when scoring: itself if it has a unigram, else `<unk>`.
    #[inline(always)]
    fn map(&self, w: u32) -> u32 {
        if self.present[w as usize] {
            w
        } else {
            self.unk
        }
    }

    /// Word -> id, built on first use (or read from a model file).
    fn lookup(&self) -> &WordIndex {
        self.lookup.get_or_init(|| WordIndex::build(&self.vocab))
    }

    /// The word index (built now if it is not yet), for writing it to a file.
    pub fn word_index(&self) -> &WordIndex {
        self.lookup()
    }

    /// Give the model its word index (read from a file).
    pub fn set_word_index(&self, ix: WordIndex) {
        let _ = self.lookup.set(ix);
    }

    /// Id of one word (`<unk>` for an unknown one; a string with whitespace is no word).
    pub fn word_id(&self, word: &str) -> u32 {
        self.lookup().get(&self.vocab, word).unwrap_or(self.unk)
    }

    /// Whitespace-separated words of each sentence as ids (`<unk>` for unknown words), CSR.
    pub fn word_ids(&self, sentences: &[&str]) -> (Vec<u32>, Vec<i64>) {
        let map = self.lookup();
        let mut ids = Vec::new();
        let mut offsets = vec![0i64];
        let mut words: Vec<&str> = Vec::with_capacity(1024);
        let cancel = parallel::cancel_token();
        for (i, s) in sentences.iter().enumerate() {
            if i % 4096 == 4095 && cancel.is_cancelled() {
                break; // the caller checks the token and drops the partial result
            }
            words.extend(s.split_whitespace());
            offsets.push((ids.len() + words.len()) as i64);
            if words.len() >= 512 {
                map.get_many(&self.vocab, &words, self.unk, &mut ids);
                words.clear();
            }
        }
        map.get_many(&self.vocab, &words, self.unk, &mut ids);
        (ids, offsets)
    }

    /// Check ids against the vocabulary.
    pub fn check_ids(&self, ids: &[u32], what: &str) -> Result<()> {
        let v = self.vocab.len() as u32;
        match ids.iter().position(|&w| w >= v) {
            Some(i) => {
                Err(Error::Value(format!("{what}: token id {} at position {i} is outside the model's vocabulary of {v} ids", ids[i])))
            }
            None => Ok(()),
        }
    }

    /// The state of a sentence start (`<s>` as context) or of no context.
    pub fn begin(&self, bos: bool) -> State {
        let mut s = State::EMPTY;
        if bos && self.order() > 1 {
            s.rows[0] = self.bos;
            s.bo[0] = self.unigram_backoff(self.bos);
            s.len = 1;
            s.hist = 1;
        }
        s
    }

    /// The query tables (built now on first use).
    #[inline(always)]
    pub(crate) fn tables(&self) -> (&[[f32; 2]], &[query::Table]) {
        let (u, t) = self.query.get_or_init(|| {
            (query::unigrams(&self.prob, &self.backoff).into(), query::build(&self.trie, &self.prob, &self.backoff, self.vocab.len()))
        });
        (u, t)
    }

    #[inline(always)]
    fn unigram_backoff(&self, w: u32) -> f32 {
        self.tables().0[w as usize][1]
    }

    /// Score `w` (already checked) after `st`; returns (log10 p, n-gram length) and the new state.
    #[inline]
    pub fn step(&self, st: &State, w: u32) -> (f32, usize, State) {
        self.prefetch_step(st, w);
        let (matched, p, out) = self.find(st, w);
        (self.finish(st, matched, p), matched, out)
    }

    /// [`Model::step`] for many `(state, word)` pairs (checked ids): every pair's probes are
    /// started before any is read, so their memory latencies overlap.
    pub fn step_many(&self, states: &[State], ws: &[u32]) -> Vec<(f32, usize, State)> {
        const BLOCK: usize = 16;
        let mut out = Vec::with_capacity(states.len());
        for (sb, wb) in states.chunks(BLOCK).zip(ws.chunks(BLOCK)) {
            for (st, &w) in sb.iter().zip(wb) {
                self.prefetch_step(st, w);
            }
            for (st, &w) in sb.iter().zip(wb) {
                let (matched, p, next) = self.find(st, w);
                out.push((self.finish(st, matched, p), matched, next));
            }
        }
        out
    }

    /// Start the cache misses of `step(st, w)`: every probe key (context, w) is known before
    /// any lookup.
    #[inline(always)]
    fn prefetch_step(&self, st: &State, w: u32) {
        let w = self.map(w);
        let (u, t) = self.tables();
        query::prefetch_at(u, w as usize);
        for k in 1..=st.len.min(self.order() - 1) {
            t[k - 1].prefetch(st.rows[k - 1], w);
        }
    }

    /// The longest n-gram ending in `w` after `st`: (its length, its log10 prob, the new state).
    #[inline(always)]
    fn find(&self, st: &State, w: u32) -> (usize, f32, State) {
        let mut out = State::EMPTY;
        let (matched, p) = self.find_into(st, w, &mut out);
        (matched, p, out)
    }

    /// [`Model::find`] writing the new state into `out` (only its first `len` entries, which
    /// are all that is ever read).
    #[inline(always)]
    fn find_into(&self, st: &State, w: u32, out: &mut State) -> (usize, f32) {
        let w = self.map(w);
        let n = self.order();
        let max_ctx = st.len.min(n - 1);
        let (u, t) = self.tables();
        out.rows[0] = w;
        let [mut p, bo] = u[w as usize];
        out.bo[0] = bo;
        let mut matched = 1;
        let mut keep = 1; // the longest n-gram ending at w that extends (unigrams always kept)
        while matched <= max_ctx {
            let table = &t[matched - 1];
            match table.get(st.rows[matched - 1], w) {
                Some((at, slot)) => {
                    out.rows[matched] = at;
                    out.bo[matched] = slot.backoff;
                    p = slot.prob;
                    matched += 1;
                    if table.extends(slot) {
                        keep = matched;
                    }
                }
                None => break,
            }
        }
        // n-grams that do not extend have backoff 0 and can never be matched by a longer one:
        // dropping them from the state changes no score and saves the next token their probes
        out.len = keep.min(matched).min(n - 1);
        out.hist = (st.hist + 1).min(n - 1);
        (matched, p)
    }

    /// The score of the token that `find` matched to length `matched` with log10 prob `p` (see
    /// the module doc); reads only the state.
    #[inline(always)]
    fn finish(&self, st: &State, matched: usize, p: f32) -> f32 {
        let n = self.order();
        let max_ctx = st.len.min(n - 1);
        match self.mode {
            Mode::Backoff => {
                let mut s = p;
                for m in matched..=max_ctx {
                    s += st.bo[m - 1];
                }
                s
            }
            Mode::Stupid { log_alpha } => p + (st.hist.min(n - 1) + 1 - matched) as f32 * log_alpha,
            Mode::Floor => {
                // Longest context seen as a history; n-grams cannot be longer than it + 1.
                let mut m = max_ctx;
                while m > 0 && st.bo[m - 1].is_nan() {
                    m -= 1;
                }
                if matched == m + 1 {
                    p
                } else {
                    st.bo[m - 1]
                }
            }
        }
    }

    /// How many of `st`'s n-grams matter for what follows: the longest k such that the k-gram
    /// ending at the last word is the context of some (k+1)-gram or has a non-zero backoff
    /// (KenLM's minimised state, `HasExtension`: two states score every continuation alike
    /// when they agree on this part).
    pub fn context_len(&self, st: &State) -> usize {
        let (_, t) = self.tables();
        let uni = self.extends.get_or_init(|| {
            // unigrams: a non-zero backoff, or the context of a bigram
            let (u, _) = self.tables();
            let mut e: Vec<bool> = u.iter().map(|x| x[1] != 0.0).collect();
            if let Some(t2) = t.first() {
                for c in t2.contexts() {
                    // (a slot read from a file may name no word: ignore it, never panic)
                    if let Some(x) = e.get_mut(c as usize) {
                        *x = true;
                    }
                }
            }
            e
        });
        let mut k = st.len.min(t.len());
        while k > 0 {
            let ext = if k == 1 {
                uni.get(st.rows[0] as usize).copied().unwrap_or(true)
            } else {
                t[k - 2].slots().get(st.rows[k - 1] as usize).is_none_or(|s| t[k - 2].extends(s))
            };
            if ext {
                break;
            }
            k -= 1;
        }
        k
    }

    /// The state after reading `context` (checked ids), starting at `<s>` if `bos`.
    pub fn state_after(&self, context: &[u32], bos: bool) -> State {
        let mut st = self.begin(bos);
        for &w in context {
            st = self.step(&st, w).2;
        }
        st
    }

    /// log10 p(w | state) for every id (absent ids and `<s>` get -inf).
    pub fn distribution(&self, st: &State) -> Vec<f32> {
        super::dist::distribution(self, st)
    }

    /// Score sentences `s0..s0 + tot.len()` into their slices of `tok`/`len` (which start at
    /// the first of them). `LANES` sentences advance in lockstep, one token each per round, so
    /// the memory latency of one sentence's lookups overlaps the others' (each round runs its
    /// prefetches, then its lookups, then its scores). Each sentence's total is still summed
    /// in token order, so results equal one-by-one scoring bit for bit.
    #[allow(clippy::too_many_arguments)]
    fn score_sentences(
        &self,
        ids: &[u32],
        offsets: &[i64],
        out_off: &[i64],
        s0: usize,
        bos: bool,
        eos: bool,
        tok: &mut [f32],
        len: &mut [u8],
        tot: &mut [f64],
        oov: &mut [u32],
    ) {
        const LANES: usize = 16;
        struct Lane {
            s: usize,
            pos: usize,
            end: usize,
            out: usize,
            /// the state before the current token and the one after it
            st: [State; 2],
            cur: usize,
            total: f64,
            oov: u32,
            w: u32,
            matched: usize,
            p: f32,
        }
        let base = out_off[s0] as usize;
        let count = tot.len();
        let mut next_sentence = 0;
        let mut lanes: Vec<Lane> = Vec::with_capacity(LANES);
        let start = |j: usize| {
            let s = s0 + j;
            let st = self.begin(bos);
            let (pos, end) = (offsets[s] as usize, offsets[s + 1] as usize + eos as usize);
            Lane { s, pos, end, out: out_off[s] as usize - base, st: [st, st], cur: 0, total: 0.0, oov: 0, w: 0, matched: 0, p: 0.0 }
        };
        loop {
            while lanes.len() < LANES && next_sentence < count {
                let l = start(next_sentence);
                next_sentence += 1;
                if l.pos == l.end {
                    tot[l.s - s0] = 0.0;
                    oov[l.s - s0] = 0;
                } else {
                    lanes.push(l);
                }
            }
            if lanes.is_empty() {
                break;
            }
            for l in lanes.iter_mut() {
                l.w = if l.pos < offsets[l.s + 1] as usize { ids[l.pos] } else { self.eos };
                self.prefetch_step(&l.st[l.cur], l.w);
            }
            for l in lanes.iter_mut() {
                let [a, b] = &mut l.st;
                let (st, next) = if l.cur == 0 { (&*a, b) } else { (&*b, a) };
                (l.matched, l.p) = self.find_into(st, l.w, next);
            }
            for l in lanes.iter_mut() {
                let p = self.finish(&l.st[l.cur], l.matched, l.p);
                l.oov += (self.map(l.w) == self.unk) as u32;
                tok[l.out] = p;
                len[l.out] = l.matched as u8;
                l.total += p as f64;
                l.cur ^= 1;
                l.pos += 1;
                l.out += 1;
            }
            lanes.retain(|l| {
                if l.pos < l.end {
                    return true;
                }
                tot[l.s - s0] = l.total;
                oov[l.s - s0] = l.oov;
                false
            });
        }
    }

    /// Score CSR sentences (`ids[offsets[i]..offsets[i+1]]`) in parallel.
    pub fn score_batch(&self, ids: &[u32], offsets: &[i64], bos: bool, eos: bool, threads: Option<usize>) -> Result<Scores> {
        super::count::check_offsets(offsets, ids.len())?;
        self.check_ids(ids, "score")?;
        let ns = offsets.len() - 1;
        let extra = eos as i64;
        let out_off: Vec<i64> = offsets.iter().enumerate().map(|(i, &o)| o + extra * i as i64).collect();
        let total_tokens = *out_off.last().unwrap() as usize;
        let mut token = vec![0f32; total_tokens];
        let mut ngram_len = vec![0u8; total_tokens];
        let mut total = vec![0f64; ns];
        let mut oov = vec![0u32; ns];
        // Fixed chunks of sentences: each chunk writes only its own output ranges.
        let chunk = 256;
        let cancel = parallel::cancel_token();
        parallel::install(threads, || {
            let mut tok_rest: &mut [f32] = &mut token;
            let mut len_rest: &mut [u8] = &mut ngram_len;
            let mut jobs = Vec::new();
            for (c, (tot, oo)) in total.chunks_mut(chunk).zip(oov.chunks_mut(chunk)).enumerate() {
                let (s0, s1) = (c * chunk, (c * chunk + tot.len()));
                let size = (out_off[s1] - out_off[s0]) as usize;
                let (t, tr) = std::mem::take(&mut tok_rest).split_at_mut(size);
                let (l, lr) = std::mem::take(&mut len_rest).split_at_mut(size);
                tok_rest = tr;
                len_rest = lr;
                jobs.push((s0, tot, oo, t, l));
            }
            jobs.into_par_iter().for_each(|(s0, tot, oo, t, l)| {
                if !cancel.is_cancelled() {
                    self.score_sentences(ids, offsets, &out_off, s0, bos, eos, t, l, tot, oo);
                }
            });
        })?;
        cancel.check()?;
        Ok(Scores { token, offsets: out_off, ngram_len, total, oov })
    }

    /// Log10 probabilities of `k` most likely next tokens after `context` (ties to lower id).
    pub fn top_k(&self, context: &[u32], bos: bool, k: usize) -> Result<(Vec<u32>, Vec<f32>)> {
        self.check_ids(context, "context")?;
        let d = self.distribution(&self.state_after(context, bos));
        let mut idx: Vec<u32> = (0..d.len() as u32).filter(|&w| d[w as usize] > f32::NEG_INFINITY).collect();
        let by = |a: &u32, b: &u32| d[*b as usize].total_cmp(&d[*a as usize]).then(a.cmp(b));
        let k = k.min(idx.len());
        if k > 0 && k < idx.len() {
            idx.select_nth_unstable_by(k - 1, by);
        }
        idx.truncate(k);
        idx.sort_unstable_by(by);
        let p = idx.iter().map(|&w| d[w as usize]).collect();
        Ok((idx, p))
    }

    /// Sample a continuation of `context` until `</s>` or `max_len` tokens, reproducibly from
    /// `seed`, with [`crate::sampling`]'s one rule (temperature, then top-k, then top-p) on the
    /// model's distribution in natural logs, and its draws for item 0: the same tokens as
    /// `search::sample` with the n-gram scorer for one sequence.
    pub fn generate(&self, context: &[u32], bos: bool, max_len: usize, seed: u64, sampler: &mut Sampler) -> Result<Vec<u32>> {
        self.check_ids(context, "context")?;
        if let Mode::Stupid { .. } = self.mode {
            return Err(Error::Value("sampling needs a normalised model (not stupid backoff)".into()));
        }
        let mut st = self.state_after(context, bos);
        let mut out = Vec::new();
        let mut row = Vec::with_capacity(self.vocab.len());
        while out.len() < max_len {
            // log10 -> ln in float32, as the search scorer's rows (`Dist::fill` with ln 10).
            row.clear();
            row.extend(self.distribution(&st).iter().map(|&x| x * std::f32::consts::LN_10));
            let pick = sampler
                .pick(&row, None, uniform(seed, 0, out.len() + 1))
                .ok_or_else(|| Error::Value("the model gives no token a positive probability here".into()))?;
            out.push(pick);
            if pick == self.eos {
                break;
            }
            st = self.step(&st, pick).2;
        }
        Ok(out)
    }
}
