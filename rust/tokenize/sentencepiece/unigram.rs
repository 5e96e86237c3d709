//! sentencepiece's Unigram encoder (`unigram_model.cc`, `EncodeOptimized`): the Viterbi of
//! `pipeline::unigram` over the normalized string, scored as sentencepiece does (f32 sums,
//! unknown at `min_score - 10` with the min over NORMAL pieces, UNUSED pieces skipped, a
//! USER_DEFINED piece of n bytes scored `n * max_score - 0.1` in double precision, the max
//! over NORMAL pieces starting from FLT_MIN), plus an exact word cache.
//!
//! Word cache. When no piece holds U+2581 past its start (or, with whitespace as suffix,
//! before its end), every path passes through each U+2581 boundary, so the string is a
//! sequence of independent words. The best path of a word does not depend on the score `B`
//! accumulated before it in exact arithmetic, but sentencepiece adds in f32, and rounding at
//! the magnitude of `B` can turn a near-tie either way. So a word's cache entry holds its
//! best path computed exactly (f64 from 0) together with the smallest margin by which any
//! node on that path beat its runner-up, the number of characters `k` and the largest
//! candidate magnitude `M`. The entry is used only when the margin exceeds
//! `(k + 1) ulp_f32(|B| + M)`: two competing candidates are each the end of a chain of at most
//! `k` f32 additions (one per token, a token covers at least one character), each rounding by
//! at most half an ulp at that magnitude, so their computed order can differ from the exact
//! one only within `k ulp`. `B` is then advanced by replaying the path's f32 additions,
//! which is exactly the value sentencepiece stores. Otherwise (and for words over 64 bytes)
//! the word is run through the f32 Viterbi starting from `B`, which is sentencepiece's own
//! computation. Either way the ids are sentencepiece's, bit for bit. A word enters the cache
//! on its second sighting (a hash-bit filter remembers the first).
//!
//! The rule is stored per entry as a bound on `|B|` (`slots::replay_limit`).
//!
//! Cost: O(n k) per uncached word; O(tokens) and one cache line per cached word of up to 15
//! bytes (`slots.rs`, prefetched a few words ahead), a hash lookup for longer ones.

use super::model::{WordCache, WsSplit, CACHE_MAX, CACHE_WORD_MAX};
use super::normalize::SPACE;
use super::proto::PieceType;
use super::slots::{self, replay_limit, Slot, Slots, INLINE};
use super::SentencePiece;
use crate::tokenize::packed::{pack_at, PACK_MAX};
use crate::tokenize::pipeline::unigram::trie::PieceTrie;
use crate::tokenize::pipeline::unigram::{one_char_len, viterbi, Best, Scorer, UNSET};

/// What the Viterbi trie holds per piece: its score and its id, the top two bits of `tagged`
/// giving its kind (`NORMAL_TAG`, `USER_TAG`, `UNUSED_TAG`).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Leaf {
    score: f32,
    tagged: u32,
}

const NORMAL_TAG: u32 = 0;
const USER_TAG: u32 = 1 << 30;
const UNUSED_TAG: u32 = 2 << 30;
const ID_MASK: u32 = (1 << 30) - 1;

/// The Viterbi trie of a model's dictionary pieces (ids are below 2^30: checked at load).
pub(crate) fn leaf_trie(pieces: &[super::proto::Piece]) -> PieceTrie<Leaf> {
    PieceTrie::build(pieces.iter().enumerate().filter_map(|(i, p)| {
        let tag = match p.kind {
            PieceType::Normal => NORMAL_TAG,
            PieceType::UserDefined => USER_TAG,
            PieceType::Unused => UNUSED_TAG,
            _ => return None,
        };
        Some((p.piece.as_bytes(), Leaf { score: p.score, tagged: i as u32 | tag }))
    }))
}

/// sentencepiece's Unigram scores (see the module docs).
pub(crate) struct SpmScorer<'a> {
    pub info: &'a [(f32, PieceType)],
    pub max_score: f32,
    pub unk_score: f32,
}

impl SpmScorer<'_> {
    /// The exact (f64) score of piece `leaf` of `len` bytes and its id; `None` for UNUSED.
    #[inline(always)]
    fn exact(&self, till: f64, leaf: Leaf, len: usize) -> Option<(f64, u32)> {
        let id = leaf.tagged & ID_MASK;
        match leaf.tagged & !ID_MASK {
            NORMAL_TAG => Some((till + leaf.score as f64, id)),
            USER_TAG => Some(((len as f32 * self.max_score) as f64 - 0.1 + till, id)),
            _ => None,
        }
    }

    /// The f32 step of piece `id` (for replaying a cached path).
    #[inline(always)]
    fn step(&self, till: f32, id: u32, len: usize) -> f64 {
        let (score, kind) = self.info[id as usize];
        match kind {
            PieceType::UserDefined => (len as f32 * self.max_score) as f64 - 0.1 + till as f64,
            _ => (till + score) as f64,
        }
    }
}

impl Scorer for SpmScorer<'_> {
    type Acc = f32;
    type Leaf = Leaf;
    #[inline(always)]
    fn piece(&self, till: f32, leaf: Leaf, len: usize) -> Option<(f64, u32)> {
        let id = leaf.tagged & ID_MASK;
        match leaf.tagged & !ID_MASK {
            NORMAL_TAG => Some(((till + leaf.score) as f64, id)),
            USER_TAG => Some(((len as f32 * self.max_score) as f64 - 0.1 + till as f64, id)),
            _ => None,
        }
    }
    #[inline(always)]
    fn unk(&self, till: f32) -> f64 {
        (till + self.unk_score) as f64
    }
    #[inline(always)]
    fn better(cand: f64, stored: f32) -> bool {
        cand > stored as f64
    }
    #[inline(always)]
    fn store(cand: f64) -> f32 {
        cand as f32
    }
}

/// A cached word: its path in `arena[at..at + n]` and what decides whether it may be used
/// from score `b`: `(|b| + magnitude) as f32 < limit` (`magnitude` rounded up; see
/// [`replay_limit`]).
#[derive(Clone, Copy)]
struct Entry {
    at: u32,
    n: u32,
    magnitude: f32,
    limit: f32,
}

/// One position of the exact table: best and runner-up candidate.
#[derive(Clone, Copy)]
struct Exact {
    score: f64,
    second: f64,
    start: u32,
    id: u32,
}

/// Per-thread buffers and word cache for Unigram.
#[derive(Default)]
pub(crate) struct UniScratch {
    lattice: Vec<Best<f32>>,
    exact: Vec<Exact>,
    owner: u64,
    epoch: u64,
    /// Words of up to 15 bytes.
    slots: Slots,
    /// Longer words.
    cache: WordCache<Entry>,
    /// Word starts of the string being encoded, then its end.
    bounds: Vec<u32>,
    /// Hash bits of words seen once (cached from their second sighting on).
    seen: Vec<u64>,
    arena: Vec<(u32, u32, u32)>,
}

/// Bits of the seen-once filter (128 KB).
const SEEN_BITS: usize = 1 << 20;

/// Whether the word of hash `h` is seen for the first time (by its hash bit), marking it seen.
///
/// A word seen for the first time is only remembered: most words of a text are either
/// frequent or seen once, and the exact pass a cache entry needs costs more than encoding a
/// word that never comes back.
#[inline]
fn first_sighting(seen: &mut [u64], h: u64) -> bool {
    let (w, bit) = (seen_word(h), 1 << (h % 64));
    let first = seen[w] & bit == 0;
    seen[w] |= bit;
    first
}

/// The word of the seen-once filter that holds the bit of hash `h`.
#[inline(always)]
fn seen_word(h: u64) -> usize {
    (h as usize % SEEN_BITS) / 64
}

/// The word starts of `norm` split at U+2581 as `split` says (not `WsSplit::None`), then
/// `norm.len()`, into `out`.
fn word_bounds(norm: &[u8], split: WsSplit, out: &mut Vec<u32>) {
    let ws = SPACE.as_bytes();
    out.clear();
    out.push(0);
    let from = usize::from(split == WsSplit::Before);
    let mut next = from;
    for p in memchr::memchr_iter(ws[0], norm.get(from..).unwrap_or_default()).map(|p| p + from) {
        if p >= next && norm[p..].starts_with(ws) {
            let cut = if split == WsSplit::Before { p } else { p + ws.len() };
            if cut < norm.len() {
                out.push(cut as u32);
            }
            next = p + ws.len();
        }
    }
    if norm.is_empty() {
        out.clear();
    }
    out.push(norm.len() as u32);
}

impl SentencePiece {
    fn spm_scorer(&self) -> SpmScorer<'_> {
        SpmScorer { info: &self.info, max_score: self.max_score, unk_score: self.min_score - 10.0 }
    }

    /// Unigram segments (one per path node; unknown characters one each) of `norm`.
    pub(crate) fn unigram_segments(&self, norm: &[u8], s: &mut UniScratch, seg: &mut Vec<(u32, u32, u32)>) {
        let epoch = crate::tokenize::encode::cache_epoch();
        if s.owner != self.uid || s.epoch != epoch || s.cache.len() >= CACHE_MAX || s.slots.len() >= slots::CAPACITY || s.seen.is_empty() {
            s.cache.clear();
            s.slots.clear();
            s.arena.clear();
            s.seen.clear();
            s.seen.resize(SEEN_BITS / 64, 0);
            (s.owner, s.epoch) = (self.uid, epoch);
        }
        if self.uni_split == WsSplit::None {
            self.viterbi_word(norm, 0, 0.0, s, seg);
            return;
        }
        let mut bounds = std::mem::take(&mut s.bounds);
        word_bounds(norm, self.uni_split, &mut bounds);
        // Cached words are one cache line each: ask for the line a few words ahead.
        const AHEAD: usize = 8;
        let short_key = |i: usize| {
            let (a, e) = (bounds[i] as usize, bounds[i + 1] as usize);
            (e - a <= PACK_MAX).then(|| pack_at(norm, a, e))
        };
        let words = bounds.len() - 1;
        let ask = |s: &UniScratch, i: usize| {
            if let Some(k) = short_key(i) {
                s.slots.prefetch(k);
                slots::prefetch(&s.seen[seen_word(slots::hash(k))]);
            }
        };
        (0..words.min(AHEAD)).for_each(|i| ask(s, i));
        let mut b = 0f32;
        for i in 0..words {
            if i + AHEAD < words {
                ask(s, i + AHEAD);
            }
            b = self.word(norm, bounds[i] as usize, bounds[i + 1] as usize, b, s, seg);
        }
        s.bounds = bounds;
    }

    /// Segments of the word `norm[a..e]` entered with score `b`; returns the score after it.
    fn word(&self, norm: &[u8], a: usize, e: usize, b: f32, s: &mut UniScratch, seg: &mut Vec<(u32, u32, u32)>) -> f32 {
        let w = &norm[a..e];
        if w.len() > PACK_MAX {
            return self.long_word(norm, a, e, b, s, seg);
        }
        let key = pack_at(norm, a, e);
        // A word not seen since the last clear cannot be cached: skip the lookup.
        if first_sighting(&mut s.seen, slots::hash(key)) {
            return self.viterbi_word(w, a, b, s, seg);
        }
        let slot = match s.slots.get(key) {
            Some(x) => *x,
            None => {
                let x = self.exact_word(w, s);
                // A word of at most 15 bytes has at most 15 tokens.
                let mut slot = Slot::new(x.magnitude, x.limit, x.n as u8);
                if x.n as usize <= INLINE {
                    for (i, &(_, y, id)) in s.arena[x.at as usize..].iter().enumerate() {
                        (slot.ids[i], slot.ends[i]) = (id, y as u8);
                    }
                    s.arena.truncate(x.at as usize);
                } else {
                    slot.ids[0] = x.at;
                }
                s.slots.insert(key, slot);
                slot
            }
        };
        let usable = b.abs() + slot.magnitude < slot.limit;
        if !usable {
            return self.viterbi_word(w, a, b, s, seg);
        }
        let n = slot.n as usize;
        if n <= INLINE {
            self.replay((0..n).map(|i| (slot.ends[i] as u32, slot.ids[i])), a, b, seg)
        } else {
            let at = slot.ids[0] as usize;
            self.replay(s.arena[at..at + n].iter().map(|&(_, y, id)| (y, id)), a, b, seg)
        }
    }

    /// Push a cached path (`(end, id)` per token, ends relative to the word at byte `a`) and
    /// return the score after it, replayed from `b` with sentencepiece's f32 additions.
    fn replay(&self, path: impl Iterator<Item = (u32, u32)>, a: usize, mut b: f32, seg: &mut Vec<(u32, u32, u32)>) -> f32 {
        let sc = self.spm_scorer();
        let mut x = 0u32;
        for (y, id) in path {
            let cand = if id == self.unk_id { sc.unk(b) } else { sc.step(b, id, (y - x) as usize) };
            b = SpmScorer::store(cand);
            seg.push((x + a as u32, y + a as u32, id));
            x = y;
        }
        b
    }

    /// [`word`](Self::word) for words of 16 to `CACHE_WORD_MAX` bytes (a hash map over the
    /// bytes) and longer ones (never cached).
    fn long_word(&self, norm: &[u8], a: usize, e: usize, b: f32, s: &mut UniScratch, seg: &mut Vec<(u32, u32, u32)>) -> f32 {
        let w = &norm[a..e];
        if w.len() > CACHE_WORD_MAX {
            return self.viterbi_word(w, a, b, s, seg);
        }
        let entry = match s.cache.get(w) {
            Some(x) => x,
            None => {
                let h = {
                    use std::hash::{BuildHasher, BuildHasherDefault};
                    BuildHasherDefault::<rustc_hash::FxHasher>::default().hash_one(w)
                };
                if first_sighting(&mut s.seen, h) {
                    return self.viterbi_word(w, a, b, s, seg);
                }
                let x = self.exact_word(w, s);
                s.cache.insert(w, x);
                x
            }
        };
        let usable = b.abs() + entry.magnitude < entry.limit;
        if !usable {
            return self.viterbi_word(w, a, b, s, seg);
        }
        let path = &s.arena[entry.at as usize..(entry.at + entry.n) as usize];
        self.replay(path.iter().map(|&(_, y, id)| (y, id)), a, b, seg)
    }

    /// sentencepiece's own f32 Viterbi over `w` (at byte `a` of the string) from score `b`.
    fn viterbi_word(&self, w: &[u8], a: usize, b: f32, s: &mut UniScratch, seg: &mut Vec<(u32, u32, u32)>) -> f32 {
        let sc = self.spm_scorer();
        // The unknown id always exists (checked at load), so this cannot fail.
        if viterbi(w, &self.vtrie, &sc, Some(self.unk_id), b, &mut s.lattice).is_err() {
            return b;
        }
        let first = seg.len();
        let mut end = w.len();
        while end > 0 {
            let node = s.lattice[end];
            seg.push((node.start + a as u32, (end + a) as u32, node.id));
            end = node.start as usize;
        }
        seg[first..].reverse();
        s.lattice[w.len()].score
    }

    /// The exact best path of `w` from 0, appended to the arena, with its margin.
    // `!(cand <= second)` on purpose: a NaN candidate counts as a close second (the safe side).
    #[allow(clippy::neg_cmp_op_on_partial_ord)]
    fn exact_word(&self, w: &[u8], s: &mut UniScratch) -> Entry {
        let sc = self.spm_scorer();
        let n = w.len();
        let t = &mut s.exact;
        t.clear();
        t.resize(n + 1, Exact { score: 0.0, second: f64::NEG_INFINITY, start: UNSET, id: 0 });
        let (mut magnitude, mut chars) = (0f64, 0u32);
        let mut p = 0;
        while p < n {
            let till = t[p].score;
            let mblen = one_char_len(w[p]).min(n - p);
            let mut single = false;
            let mut offer = |t: &mut Vec<Exact>, q: usize, cand: f64, id: u32| {
                magnitude = magnitude.max(cand.abs());
                let x = &mut t[q];
                if x.start == UNSET {
                    *x = Exact { score: cand, second: f64::NEG_INFINITY, start: p as u32, id };
                } else if cand > x.score {
                    *x = Exact { score: cand, second: x.score, start: p as u32, id };
                } else if !(cand <= x.second) {
                    x.second = cand;
                }
            };
            self.vtrie.prefixes(&w[p..], |len, leaf| {
                if let Some((cand, id)) = sc.exact(till, leaf, len) {
                    offer(t, p + len, cand, id);
                    single |= len == mblen;
                }
            });
            if !single {
                offer(t, p + mblen, till + sc.unk_score as f64, self.unk_id);
            }
            chars += 1;
            p += mblen;
        }
        let at = s.arena.len();
        let mut margin = f64::INFINITY;
        let mut end = n;
        while end > 0 {
            let x = t[end];
            margin = margin.min(x.score - x.second);
            s.arena.push((x.start, end as u32, x.id));
            end = x.start as usize;
        }
        s.arena[at..].reverse();
        let mut m = magnitude as f32;
        if (m as f64) < magnitude {
            // The next f32 up (m >= 0 and finite here).
            m = f32::from_bits(m.to_bits() + 1);
        }
        Entry { at: at as u32, n: (s.arena.len() - at) as u32, magnitude: m, limit: replay_limit(margin, chars) }
    }
}
