//! Full next-word distributions, fast: log10 p(w | state) for every id at once.
//!
//! The per-word rule ([`per_word`], `Model::step` for each of V ids) costs V queries of up to
//! N - 1 hash probes each. Almost all of them end at the unigram: a word is found at level k
//! (the (k+1)-gram `context_k w` exists) for only the few words that followed that context in
//! training. So a distribution is computed as
//!
//! 1. every id as if it matched only its unigram (`matched = 1`): one vectorisable pass over
//!    V from the unigram log-probabilities precomputed here (`-inf` for `<s>` and for ids
//!    without a unigram), plus the state's backoffs / stupid-backoff penalty / floor;
//! 2. for each context length k = 1..=len, the continuations of the state's k-word context
//!    (a CSR children index built once per model from the query tables: key = the context's
//!    query key, a word id for k = 1 and its slot in the order-k table above) overwrite their
//!    entry with the value for `matched = k + 1`.
//!
//! Cost: O(V) streaming plus O(continuations of the contexts), against O(V (N - 1)) random
//! probes. Results equal the per-word rule bit for bit in every [`Mode`]: each value is
//! computed by the same float operations in the same order as `Model::step`'s `finish`.
//!
//! Matching follows the query's chain rule: the (k+1)-gram is found only when the shorter
//! ones (levels 1..k-1) were found too, so in a model that is not suffix-closed (an ARPA
//! file may list `a b c` without `b c`) a continuation of level k counts only if the word
//! was matched at level k - 1. A per-call scratch of V bytes (`lvl`, all zero between calls)
//! records the level each continuation reached.
//!
//! Memory of the index: 8 bytes per n-gram of orders 2..N plus 4 bytes per key (V for
//! bigrams, the query table capacity of order k for the contexts of length k >= 2).

use super::model::{Mode, Model, State};

/// One continuation of a context: the word and log10 p of the n-gram.
#[derive(Clone, Copy, Debug)]
struct Child {
    word: u32,
    prob: f32,
}

/// The continuations of every context of one length, CSR: those of key `c` are
/// `next[start[c]..start[c + 1]]`, in increasing word order.
#[derive(Clone, Debug, Default)]
struct Csr {
    start: Vec<u32>,
    next: Vec<Child>,
}

impl Csr {
    #[inline(always)]
    fn of(&self, key: u32) -> &[Child] {
        let k = key as usize;
        match (self.start.get(k), self.start.get(k + 1)) {
            (Some(&a), Some(&b)) => &self.next[a as usize..b as usize],
            _ => &[],
        }
    }
}

/// The precomputed parts of a model's distributions (see the module doc).
#[derive(Clone, Debug, Default)]
pub struct Dist {
    /// log10 p of each id's unigram; `-inf` for `<s>` and ids without one.
    uni: Vec<f32>,
    /// The ids that are always `-inf` (`<s>`, ids without a unigram).
    banned: Vec<u32>,
    /// `levels[k-1]`: continuations of the contexts of length k.
    levels: Vec<Csr>,
}

impl Dist {
    /// Build from the model's query tables: O(n-grams), once per model.
    pub fn build(m: &Model) -> Dist {
        let v = m.vocab.len();
        let allowed = |w: u32| (w as usize) < v && m.present[w as usize] && w != m.bos;
        let (u, tables) = m.tables();
        let mut uni = vec![f32::NEG_INFINITY; v];
        let mut banned = Vec::new();
        for w in 0..v as u32 {
            if allowed(w) {
                uni[w as usize] = u[w as usize][0];
            } else {
                banned.push(w);
            }
        }
        // table i holds order i + 2: the continuations of contexts of length i + 1, keyed by
        // word id (i = 0) or by slot in the table of order i + 1
        let levels = tables
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let keys = if i == 0 { v } else { tables[i - 1].capacity() };
                let mut start = vec![0u32; keys + 1];
                let ok = |s: &&super::query::Slot| allowed(t.word_of(s)) && (s.ctx as usize) < keys;
                for s in t.entries().filter(ok) {
                    start[s.ctx as usize + 1] += 1;
                }
                for c in 0..keys {
                    start[c + 1] += start[c];
                }
                let mut fill = start.clone();
                let mut next = vec![Child { word: 0, prob: 0.0 }; start[keys] as usize];
                for s in t.entries().filter(ok) {
                    let at = &mut fill[s.ctx as usize];
                    next[*at as usize] = Child { word: t.word_of(s), prob: s.prob };
                    *at += 1;
                }
                for c in 0..keys {
                    next[start[c] as usize..start[c + 1] as usize].sort_unstable_by_key(|x| x.word);
                }
                Csr { start, next }
            })
            .collect();
        Dist { uni, banned, levels }
    }

    /// Bytes held.
    pub fn memory(&self) -> usize {
        self.uni.len() * 4 + self.banned.len() * 4 + self.levels.iter().map(|l| l.start.len() * 4 + l.next.len() * 8).sum::<usize>()
    }

    /// Write `scale * log10 p(w | st)` for every id into `out` (length V). `scale` > 0 (1 gives
    /// the log10 values exactly; the search scorer passes ln 10). `lvl`: a scratch of V zero
    /// bytes (grown here if shorter), left all zero.
    pub fn fill(&self, m: &Model, st: &State, scale: f32, out: &mut [f32], lvl: &mut Vec<u8>) {
        let v = self.uni.len();
        assert_eq!(out.len(), v, "distribution row of the wrong length");
        let n = m.order();
        let max_ctx = st.len.min(n - 1);
        let bo = &st.bo[..max_ctx];
        let fin = Finish::new(m.mode, st, n, max_ctx);

        // 1. every id as a unigram match
        match fin {
            Finish::Backoff => match bo {
                [] => out.iter_mut().zip(&self.uni).for_each(|(o, &u)| *o = u * scale),
                [b0] => out.iter_mut().zip(&self.uni).for_each(|(o, &u)| *o = (u + b0) * scale),
                [b0, b1] => out.iter_mut().zip(&self.uni).for_each(|(o, &u)| *o = (u + b0 + b1) * scale),
                _ => out.iter_mut().zip(&self.uni).for_each(|(o, &u)| *o = bo.iter().fold(u, |s, b| s + b) * scale),
            },
            Finish::Stupid { pen, .. } => {
                let p1 = pen[0];
                out.iter_mut().zip(&self.uni).for_each(|(o, &u)| *o = (u + p1) * scale)
            }
            Finish::Floor { m: 0, .. } => out.iter_mut().zip(&self.uni).for_each(|(o, &u)| *o = u * scale),
            Finish::Floor { floor, .. } => out.iter_mut().for_each(|o| *o = floor * scale),
        }
        for &w in &self.banned {
            out[w as usize] = f32::NEG_INFINITY;
        }

        // 2. the continuations of each context, shortest first (longer matches overwrite)
        let chained = max_ctx >= 2;
        if chained && lvl.len() < v {
            lvl.resize(v, 0);
        }
        for k in 1..=max_ctx {
            let Some(level) = self.levels.get(k - 1) else { break };
            let kids = level.of(st.rows[k - 1]);
            if k == 1 {
                for c in kids {
                    out[c.word as usize] = fin.value(bo, 2, c.prob) * scale;
                    if chained {
                        lvl[c.word as usize] = 1;
                    }
                }
            } else {
                for c in kids {
                    let l = &mut lvl[c.word as usize];
                    if *l as usize == k - 1 {
                        *l = k as u8;
                        out[c.word as usize] = fin.value(bo, k + 1, c.prob) * scale;
                    }
                }
            }
        }
        if chained {
            if let Some(level) = self.levels.first() {
                for c in level.of(st.rows[0]) {
                    lvl[c.word as usize] = 0;
                }
            }
        }
    }
}

/// `Model::step`'s final rule for one state, with what it needs precomputed.
#[derive(Clone, Copy)]
enum Finish {
    Backoff,
    /// `pen[matched - 1]`: the penalty of a match of that length.
    Stupid {
        pen: [f32; super::model::MAX_ORDER + 1],
    },
    /// `m`: the longest context seen as a history; `floor`: its floor (when m > 0).
    Floor {
        m: usize,
        floor: f32,
    },
}

impl Finish {
    fn new(mode: Mode, st: &State, n: usize, max_ctx: usize) -> Finish {
        match mode {
            Mode::Backoff => Finish::Backoff,
            Mode::Stupid { log_alpha } => {
                let mut pen = [0f32; super::model::MAX_ORDER + 1];
                for (matched, p) in pen.iter_mut().enumerate().take(max_ctx + 1).map(|(i, p)| (i + 1, p)) {
                    *p = (st.hist.min(n - 1) + 1).saturating_sub(matched) as f32 * log_alpha;
                }
                Finish::Stupid { pen }
            }
            Mode::Floor => {
                let mut m = max_ctx;
                while m > 0 && st.bo[m - 1].is_nan() {
                    m -= 1;
                }
                Finish::Floor { m, floor: if m > 0 { st.bo[m - 1] } else { 0.0 } }
            }
        }
    }

    /// The log10 score of a word matched to length `matched` with n-gram log10 prob `p`.
    #[inline(always)]
    fn value(&self, bo: &[f32], matched: usize, p: f32) -> f32 {
        match *self {
            Finish::Backoff => bo[matched - 1..].iter().fold(p, |s, b| s + b),
            Finish::Stupid { pen } => p + pen[matched - 1],
            Finish::Floor { m, floor } => {
                if matched == m + 1 {
                    p
                } else {
                    floor
                }
            }
        }
    }
}

/// The per-word rule: `Model::step` for every id (`<s>` and ids without a unigram: -inf). The
/// readable reference of [`Dist::fill`], kept for tests and the "before" benchmark rows.
pub fn per_word(m: &Model, st: &State) -> Vec<f32> {
    (0..m.vocab.len() as u32).map(|w| if !m.present[w as usize] || w == m.bos { f32::NEG_INFINITY } else { m.step(st, w).0 }).collect()
}

impl Model {
    /// The distribution index (built now on first use).
    pub fn dist(&self) -> &Dist {
        self.dist.get_or_init(|| Dist::build(self))
    }
}

/// log10 p(w | st) for every id (what `Model::distribution` returns).
pub fn distribution(m: &Model, st: &State) -> Vec<f32> {
    let mut out = vec![0f32; m.vocab.len()];
    m.dist().fill(m, st, 1.0, &mut out, &mut Vec::new());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ngram::estimate::{fit_ids, Smoothing};
    use crate::ngram::model::MAX_ORDER;
    use proptest::prelude::*;

    /// `fill` (log10 and ln scales) against the per-word rule, bit for bit, after `context`.
    fn check(m: &Model, context: &[u32], bos: bool) {
        let st = m.state_after(context, bos);
        let want = per_word(m, &st);
        let got = distribution(m, &st);
        for (w, (a, b)) in want.iter().zip(&got).enumerate() {
            assert_eq!(a.to_bits(), b.to_bits(), "word {w} after {context:?} (bos {bos}): per word {a}, fast {b}");
        }
        let mut scaled = vec![0f32; want.len()];
        let mut lvl = vec![0u8; 3]; // too short: grown
        m.dist().fill(m, &st, std::f32::consts::LN_10, &mut scaled, &mut lvl);
        for (a, b) in want.iter().zip(&scaled) {
            assert_eq!((a * std::f32::consts::LN_10).to_bits(), b.to_bits());
        }
        assert!(lvl.iter().all(|&x| x == 0), "the scratch must be left zero");
    }

    fn smoothing(kind: u8, prune: u64) -> Smoothing {
        match kind {
            0 => Smoothing::KneserNey { discount_fallback: Some([0.5, 1.0, 1.5]), prune: [0; MAX_ORDER] },
            1 => {
                let mut p = [prune; MAX_ORDER];
                p[0] = 0;
                Smoothing::KneserNey { discount_fallback: Some([0.5, 1.0, 1.5]), prune: p }
            }
            2 => Smoothing::Mle,
            3 => Smoothing::AddK(0.25),
            _ => Smoothing::Stupid(0.4),
        }
    }

    /// A random ARPA model over words w0..w{v-1}: random n-grams (not suffix-closed; missing
    /// contexts are inserted by the reader), random probabilities and backoffs (some 0, some
    /// absent), with or without `<unk>`.
    fn random_arpa(order: usize, v: usize, grams: &[Vec<u8>], nums: &[i16], unk: bool) -> String {
        let mut words: Vec<String> = (0..v).map(|i| format!("w{i}")).collect();
        words.extend(["<s>", "</s>"].map(String::from));
        if unk {
            words.push("<unk>".into());
        }
        let mut orders: Vec<Vec<Vec<usize>>> = vec![(0..words.len()).map(|i| vec![i]).collect()];
        for n in 2..=order {
            let mut set: Vec<Vec<usize>> =
                grams.iter().filter(|g| g.len() >= n).map(|g| g[..n].iter().map(|&x| x as usize % words.len()).collect()).collect();
            set.sort();
            set.dedup();
            orders.push(set);
        }
        let mut k = 0;
        let mut num = |scale: f32| {
            k += 1;
            nums[k % nums.len()] as f32 / scale
        };
        let mut s = String::from("\\data\\\n");
        for (i, o) in orders.iter().enumerate() {
            s += &format!("ngram {}={}\n", i + 1, o.len());
        }
        for (i, o) in orders.iter().enumerate() {
            s += &format!("\n\\{}-grams:\n", i + 1);
            for g in o {
                let p = -(num(4000.0).abs()) - 0.01;
                let text: Vec<&str> = g.iter().map(|&x| words[x].as_str()).collect();
                s += &format!("{p} {}", text.join(" "));
                if i + 1 < order {
                    let b = num(9000.0);
                    if b.abs() > 1.0 {
                        s += &format!(" {b}");
                    } else if b.abs() > 0.5 {
                        s += " 0";
                    }
                }
                s += "\n";
            }
        }
        s + "\n\\end\\\n"
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn fitted_models_equal_per_word(
            order in 1usize..=5,
            kind in 0u8..5,
            prune in 0u64..3,
            sents in prop::collection::vec(prop::collection::vec(0u32..12, 0..9), 1..25),
            extra in 0usize..4,
            contexts in prop::collection::vec((prop::collection::vec(0u32..19, 0..6), any::<bool>()), 1..6),
        ) {
            let mut ids = Vec::new();
            let mut offsets = vec![0i64];
            for s in &sents {
                ids.extend(s);
                offsets.push(ids.len() as i64);
            }
            prop_assume!(!ids.is_empty());
            let vsize = *ids.iter().max().unwrap() as usize + 1 + extra; // extra ids never seen
            let Ok(m) = fit_ids(&ids, &offsets, Some(vsize), order, smoothing(kind, prune), Some(1)) else { return Ok(()) };
            let v = m.vocab.len() as u32;
            check(&m, &[], true);
            check(&m, &[], false);
            for (c, bos) in &contexts {
                let c: Vec<u32> = c.iter().map(|&w| w % v).collect();
                check(&m, &c, *bos);
            }
        }

        #[test]
        fn arpa_models_equal_per_word(
            order in 1usize..=5,
            v in 1usize..8,
            grams in prop::collection::vec(prop::collection::vec(0u8..20, 2..6), 0..40),
            nums in prop::collection::vec(any::<i16>(), 1..50),
            unk in any::<bool>(),
            contexts in prop::collection::vec((prop::collection::vec(0u32..12, 0..6), any::<bool>()), 1..6),
        ) {
            let text = random_arpa(order, v, &grams, &nums, unk);
            let m = crate::ngram::arpa::read(&text, "random").unwrap();
            let nv = m.vocab.len() as u32;
            check(&m, &[], true);
            for (c, bos) in &contexts {
                let c: Vec<u32> = c.iter().map(|&w| w % nv).collect();
                check(&m, &c, *bos);
            }
            // the contexts of the listed n-grams, where the chain rule matters
            let names: Vec<String> = (0..v).map(|i| format!("w{i}")).chain(["<s>", "</s>", "<unk>"].map(String::from)).collect();
            let nw = v + 2 + unk as usize;
            for g in &grams {
                let c: Vec<u32> = g[..g.len() - 1].iter().map(|&x| m.word_id(&names[x as usize % nw])).collect();
                check(&m, &c, false);
                check(&m, &c[1..], true);
            }
        }
    }

    /// A model assembled directly from random rows: context-closed (every prefix is a row of
    /// the order below) but not suffix-closed, with ids without a unigram and random
    /// backoffs (NaN among them, as the floor rule reads them), in any mode.
    fn random_model(order: usize, v: usize, rows: &[(u16, u8)], nums: &[i16], mode: u8, absent: &[bool]) -> Model {
        use crate::ngram::index::{OrderIndex, Trie};
        let words: Vec<String> = (0..v).map(|i| format!("w{i}")).chain(["<unk>", "<s>", "</s>"].map(String::from)).collect();
        let nv = words.len();
        let voc = crate::ngram::Vocab { words, unk: v as u32, bos: v as u32 + 1, eos: v as u32 + 2 };
        let present: Vec<bool> = (0..nv).map(|i| i >= v || !absent[i % absent.len()]).collect();
        let mut k = 0;
        let mut num = || {
            k += 1;
            nums[k % nums.len()]
        };
        let mut orders = Vec::new();
        let mut below = nv;
        for _ in 2..=order {
            let mut r: Vec<(u32, u32)> = rows.iter().map(|&(p, w)| (p as u32 % below as u32, w as u32 % nv as u32)).collect();
            r.sort();
            r.dedup();
            below = r.len().max(1);
            let (p, w) = r.into_iter().unzip();
            orders.push(OrderIndex::new(p, w).unwrap());
            if below == 0 {
                break;
            }
        }
        let sizes: Vec<usize> = std::iter::once(nv).chain(orders.iter().map(|o| o.len())).collect();
        let prob: Vec<Vec<f32>> = sizes.iter().map(|&n| (0..n).map(|_| -(num() as f32 / 3000.0).abs()).collect()).collect();
        let backoff: Vec<Vec<f32>> = sizes
            .iter()
            .enumerate()
            .map(|(i, &n)| {
                if i + 1 == sizes.len() {
                    return vec![];
                }
                // the floor rule needs a floor (not NaN) wherever a context has continuations
                let ctx: std::collections::HashSet<u32> = orders.get(i).map_or(Default::default(), |o| o.prefix.iter().copied().collect());
                (0..n)
                    .map(|r| match num() {
                        x if x % 5 == 0 && mode == 1 && !ctx.contains(&(r as u32)) => f32::NAN,
                        x if x % 7 == 0 => 0.0,
                        x => x as f32 / 7000.0,
                    })
                    .collect()
            })
            .collect();
        let mode = match mode {
            0 => Mode::Backoff,
            1 => Mode::Floor,
            _ => Mode::Stupid { log_alpha: -0.39794 },
        };
        Model::new(voc, present, Trie { orders }, prob, backoff, mode, String::new())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        #[test]
        fn assembled_models_equal_per_word(
            order in 2usize..=5,
            v in 1usize..10,
            rows in prop::collection::vec((any::<u16>(), any::<u8>()), 1..60),
            nums in prop::collection::vec(any::<i16>(), 1..50),
            mode in 0u8..3,
            absent in prop::collection::vec(prop::bool::weighted(0.2), 1..5),
        ) {
            let m = random_model(order, v, &rows, &nums, mode, &absent);
            let nv = m.vocab.len();
            check(&m, &[], true);
            // contexts that reach long states: the words of each row (and its prefix)
            let mut ws = Vec::new();
            for n in 2..=m.order() {
                for r in 0..m.trie.orders[n - 2].len() {
                    m.trie.words(n, r as u32, &mut ws);
                    check(&m, &ws, false);
                    check(&m, &ws[1..], true);
                }
            }
            check(&m, &[(nv - 1) as u32, 0, 0], true);
        }
    }

    #[test]
    fn stupid_and_floor_states() {
        // a text where some contexts were never histories (</s> ends every sentence)
        let ids = [3u32, 4, 5, 3, 4, 6, 5, 3, 3];
        for kind in 0..5 {
            let m = fit_ids(&ids, &[0, 4, 6, 9], Some(8), 3, smoothing(kind, 1), Some(1)).unwrap();
            for c in [&[][..], &[3], &[3, 4], &[4, 5], &[7, 7], &[m.eos], &[m.eos, 3], &[5, m.unk]] {
                check(&m, c, true);
                check(&m, c, false);
            }
        }
    }
}
