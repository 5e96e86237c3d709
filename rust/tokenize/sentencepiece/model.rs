//! sentencepiece's models over a normalized string: BPE (`bpe_model.cc`), CHAR and WORD (and
//! Unigram, `unigram.rs`); each yields `(start, end, id)`
//! segments of the normalized bytes, which `mod.rs` turns into ids (unknown runs merged, or
//! split into byte pieces).
//!
//! - Unigram: in `unigram.rs`.
//! - BPE: not HF's merge ranks. Symbols are characters (a user-defined symbol is one frozen
//!   symbol); repeatedly the adjacent pair whose concatenation is a piece with the highest
//!   score is merged, the leftmost on ties; a merged UNUSED piece is split back along the
//!   pair that last formed it. The whole string is one sequence there; here it is cut into
//!   words where no merge can cross (see `WsSplit`), each word encoded once per thread (a
//!   cache) by a flat scan with the same merge order.
//! - CHAR: one symbol per character (or user-defined symbol); WORD: split before each U+2581.
//!
//! Cost: BPE O(n log n) with a binary heap of candidate pairs (stale entries recognised by
//! their size as sentencepiece does), O(w^2) per uncached short word. Scratch is per thread.

use std::collections::BinaryHeap;

use super::proto::PieceType;
use super::SentencePiece;
use crate::tokenize::packed::{pack, PACK_MAX};
use crate::tokenize::pipeline::unigram::one_char_len;

/// Words cached per thread before the cache is cleared.
pub(crate) const CACHE_MAX: usize = 1 << 17;

/// Longer words are not cached.
pub(crate) const CACHE_WORD_MAX: usize = 64;

/// A per-thread word cache: words of up to 15 bytes under a packed `u128` key (one compare,
/// no `memcmp`), longer ones under their bytes.
pub(crate) struct WordCache<V> {
    short: rustc_hash::FxHashMap<u128, V>,
    long: rustc_hash::FxHashMap<Box<[u8]>, V>,
}

impl<V> Default for WordCache<V> {
    fn default() -> Self {
        WordCache { short: Default::default(), long: Default::default() }
    }
}

impl<V: Copy> WordCache<V> {
    #[inline]
    pub(crate) fn get(&self, w: &[u8]) -> Option<V> {
        if w.len() <= PACK_MAX {
            self.short.get(&pack(w)).copied()
        } else {
            self.long.get(w).copied()
        }
    }
    pub(crate) fn insert(&mut self, w: &[u8], v: V) {
        if w.len() <= PACK_MAX {
            self.short.insert(pack(w), v);
        } else {
            self.long.insert(w.into(), v);
        }
    }
    pub(crate) fn len(&self) -> usize {
        self.short.len() + self.long.len()
    }
    pub(crate) fn clear(&mut self) {
        self.short.clear();
        self.long.clear();
    }
}

/// Where the normalized string falls into independent words: before every U+2581 when no
/// piece has one past its start, after every U+2581 when no piece has one before its end (no
/// BPE merge and no Unigram piece can then span two words), and not at all otherwise. BPE
/// also needs a model without UNUSED pieces (their split-back record is global).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WsSplit {
    None,
    Before,
    After,
}

/// Choose the `WsSplit` for these dictionary pieces.
pub(crate) fn ws_split<'a>(pieces: impl Iterator<Item = &'a str> + Clone) -> WsSplit {
    let ws = super::normalize::SPACE;
    if pieces.clone().all(|p| p.match_indices(ws).all(|(i, _)| i == 0)) {
        return WsSplit::Before;
    }
    if pieces.clone().all(|p| p.match_indices(ws).all(|(i, _)| i + ws.len() == p.len())) {
        return WsSplit::After;
    }
    WsSplit::None
}

#[derive(Default)]
pub(crate) struct BpeScratch {
    /// Uid of the model the cache belongs to, and the cache epoch it was filled in.
    owner: u64,
    epoch: u64,
    /// Word -> `(start, len)` of its segments (relative to the word) in `arena`.
    cache: WordCache<(u32, u32)>,
    arena: Vec<(u32, u32, u32)>,
    tmp: Vec<(u32, u32, u32)>,
    flat: Vec<FlatSym>,
    /// `(start, len, prev, next, frozen)` per symbol; `len == 0` once merged away.
    syms: Vec<Sym>,
    heap: BinaryHeap<Cand>,
    /// For UNUSED pieces: `(id, left length)` of the latest pair pushed that forms them.
    rev: Vec<(u32, u32)>,
    stack: Vec<(u32, u32)>,
}

#[derive(Clone, Copy)]
struct FlatSym {
    start: u32,
    len: u32,
    frozen: bool,
    /// Key of the pair (this, next): `score_key` of its piece, 0 when it is not a piece.
    key: u32,
}

#[derive(Clone, Copy)]
struct Sym {
    start: u32,
    len: u32,
    prev: u32,
    next: u32,
    frozen: bool,
}

const END: u32 = u32::MAX;

/// A candidate merge; ordered by score, then leftmost first.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct Cand {
    key: u64,
    right: u32,
    size: u32,
}

/// Monotone map of an f32 score to u32 (-0.0 and 0.0 equal, as C++ compares them).
#[inline]
fn score_key(s: f32) -> u32 {
    let b = (s + 0.0).to_bits();
    if b >> 31 == 1 {
        !b
    } else {
        b | 0x8000_0000
    }
}

impl SentencePiece {
    /// The next symbol of `s`: a user-defined symbol (frozen) or one character.
    #[inline]
    fn symbol_len(&self, s: &[u8]) -> (usize, bool) {
        if let Some((n, _)) = self.user.as_ref().and_then(|u| u.longest(s)) {
            return (n, true);
        }
        (one_char_len(s[0]).min(s.len()), false)
    }

    /// CHAR segments: one per symbol.
    pub(crate) fn char_segments(&self, norm: &[u8], seg: &mut Vec<(u32, u32, u32)>) {
        let mut p = 0;
        while p < norm.len() {
            let (n, _) = self.symbol_len(&norm[p..]);
            seg.push((p as u32, (p + n) as u32, self.piece_to_id_bytes(&norm[p..p + n])));
            p += n;
        }
    }

    /// WORD segments: split before every U+2581 (and at the start).
    pub(crate) fn word_segments(&self, norm: &[u8], seg: &mut Vec<(u32, u32, u32)>) {
        let ws = super::normalize::SPACE.as_bytes();
        let mut start = 0;
        let mut p = 0;
        while p < norm.len() {
            let n = one_char_len(norm[p]).min(norm.len() - p);
            if p > start && &norm[p..p + n] == ws {
                seg.push((start as u32, p as u32, self.piece_to_id_bytes(&norm[start..p])));
                start = p;
            }
            p += n;
        }
        if p > start {
            seg.push((start as u32, p as u32, self.piece_to_id_bytes(&norm[start..p])));
        }
    }

    /// BPE segments of `norm`: word by word through the cache when pieces cannot cross a
    /// U+2581 boundary (see `WsSplit`), else the whole string at once.
    pub(crate) fn bpe_segments(&self, norm: &[u8], s: &mut BpeScratch, seg: &mut Vec<(u32, u32, u32)>) {
        let epoch = crate::tokenize::encode::cache_epoch();
        if s.owner != self.uid || s.epoch != epoch || s.cache.len() >= CACHE_MAX {
            s.epoch = epoch;
            s.cache.clear();
            s.arena.clear();
            s.owner = self.uid;
        }
        let ws = super::normalize::SPACE.as_bytes();
        let mut start = 0;
        let flush = |a: usize, b: usize, s: &mut BpeScratch, seg: &mut Vec<(u32, u32, u32)>| {
            let word = &norm[a..b];
            if word.len() > CACHE_WORD_MAX {
                let first = seg.len();
                self.bpe_run(word, s, seg);
                seg[first..].iter_mut().for_each(|x| (x.0, x.1) = (x.0 + a as u32, x.1 + a as u32));
                return;
            }
            let (at, n) = match s.cache.get(word) {
                Some(v) => v,
                None => {
                    let mut tmp = std::mem::take(&mut s.tmp);
                    tmp.clear();
                    self.bpe_flat(word, s, &mut tmp);
                    let v = (s.arena.len() as u32, tmp.len() as u32);
                    s.arena.extend_from_slice(&tmp);
                    s.cache.insert(word, v);
                    s.tmp = tmp;
                    v
                }
            };
            seg.extend(s.arena[at as usize..(at + n) as usize].iter().map(|x| (x.0 + a as u32, x.1 + a as u32, x.2)));
        };
        match self.bpe_split {
            WsSplit::None => self.bpe_run(norm, s, seg),
            WsSplit::Before => {
                let mut p = 1;
                while p < norm.len() {
                    if norm[p] == ws[0] && norm[p..].starts_with(ws) {
                        flush(start, p, s, seg);
                        start = p;
                        p += ws.len();
                    } else {
                        p += 1;
                    }
                }
                if start < norm.len() {
                    flush(start, norm.len(), s, seg);
                }
            }
            WsSplit::After => {
                let mut p = 0;
                while p < norm.len() {
                    if norm[p] == ws[0] && norm[p..].starts_with(ws) {
                        p += ws.len();
                        flush(start, p, s, seg);
                        start = p;
                    } else {
                        p += 1;
                    }
                }
                if start < norm.len() {
                    flush(start, norm.len(), s, seg);
                }
            }
        }
    }

    /// BPE of a short word without a heap: the same merges (the current pair of highest
    /// score, leftmost on ties) found by a scan, O(n^2) in the word's few symbols. Only used
    /// when the model has no UNUSED pieces (no split-back).
    fn bpe_flat(&self, word: &[u8], s: &mut BpeScratch, seg: &mut Vec<(u32, u32, u32)>) {
        let syms = &mut s.flat;
        syms.clear();
        let mut p = 0;
        while p < word.len() {
            let (n, frozen) = self.symbol_len(&word[p..]);
            syms.push(FlatSym { start: p as u32, len: n as u32, frozen, key: 0 });
            p += n;
        }
        let pair_key = |syms: &[FlatSym], i: usize| -> u32 {
            let (l, r) = (syms[i], syms[i + 1]);
            if l.frozen || r.frozen {
                return 0;
            }
            let piece = &word[l.start as usize..(l.start + l.len + r.len) as usize];
            // Keys of real pieces are >= 1 (score_key sets or flips the top bit, and a
            // score's key is never 0 for a finite score); 0 means "no pair".
            self.trie.get(piece).map_or(0, |id| score_key(self.scores[id as usize]).max(1))
        };
        for i in 0..syms.len().saturating_sub(1) {
            syms[i].key = pair_key(syms, i);
        }
        loop {
            let mut best = 0;
            let mut at = usize::MAX;
            for (i, x) in syms[..syms.len().saturating_sub(1)].iter().enumerate() {
                if x.key > best {
                    best = x.key;
                    at = i;
                }
            }
            if at == usize::MAX {
                break;
            }
            syms[at].len += syms[at + 1].len;
            syms.remove(at + 1);
            if at + 1 < syms.len() {
                syms[at].key = pair_key(syms, at);
            } else {
                syms[at].key = 0;
            }
            if at > 0 {
                syms[at - 1].key = pair_key(syms, at - 1);
            }
        }
        for x in syms.iter() {
            seg.push((x.start, x.start + x.len, self.piece_to_id_bytes(&word[x.start as usize..(x.start + x.len) as usize])));
        }
    }

    /// BPE over `norm` as one sequence (sentencepiece's loop), segments relative to it.
    fn bpe_run(&self, norm: &[u8], s: &mut BpeScratch, seg: &mut Vec<(u32, u32, u32)>) {
        s.syms.clear();
        s.heap.clear();
        s.rev.clear();
        let mut p = 0;
        while p < norm.len() {
            let (n, frozen) = self.symbol_len(&norm[p..]);
            let i = s.syms.len() as u32;
            s.syms.push(Sym { start: p as u32, len: n as u32, prev: i.wrapping_sub(1), next: i + 1, frozen });
            p += n;
        }
        let Some(last) = s.syms.last_mut() else { return };
        last.next = END;
        if let Some(first) = s.syms.first_mut() {
            first.prev = END;
        }
        for i in 1..s.syms.len() as u32 {
            self.push_pair(norm, s, i - 1, i);
        }
        while let Some(top) = s.heap.pop() {
            let left = !(top.key as u32);
            let (l, r) = (s.syms[left as usize], s.syms[top.right as usize]);
            if l.len == 0 || r.len == 0 || l.len + r.len != top.size {
                continue;
            }
            s.syms[left as usize].len += r.len;
            s.syms[left as usize].next = r.next;
            if r.next != END {
                s.syms[r.next as usize].prev = left;
            }
            s.syms[top.right as usize].len = 0;
            let prev = s.syms[left as usize].prev;
            if prev != END {
                self.push_pair(norm, s, prev, left);
            }
            if r.next != END {
                self.push_pair(norm, s, left, r.next);
            }
        }
        let mut i = 0u32;
        while i != END {
            let sym = s.syms[i as usize];
            self.resegment(norm, s, sym.start, sym.start + sym.len, seg);
            i = sym.next;
        }
    }

    #[inline]
    fn push_pair(&self, norm: &[u8], s: &mut BpeScratch, left: u32, right: u32) {
        let (l, r) = (s.syms[left as usize], s.syms[right as usize]);
        if l.frozen || r.frozen {
            return;
        }
        let size = l.len + r.len;
        let Some(id) = self.trie.get(&norm[l.start as usize..(l.start + size) as usize]) else { return };
        let key = (score_key(self.scores[id as usize]) as u64) << 32 | (!left) as u64;
        s.heap.push(Cand { key, right, size });
        if self.kinds[id as usize] == PieceType::Unused {
            s.rev.push((id, l.len));
        }
    }

    /// Emit `norm[a..b]`, split along recorded merges while it is an UNUSED piece.
    fn resegment(&self, norm: &[u8], s: &mut BpeScratch, a: u32, b: u32, seg: &mut Vec<(u32, u32, u32)>) {
        s.stack.clear();
        s.stack.push((a, b));
        while let Some((a, b)) = s.stack.pop() {
            let id = self.piece_to_id_bytes(&norm[a as usize..b as usize]);
            if self.kinds[id as usize] == PieceType::Unused {
                if let Some(&(_, left)) = s.rev.iter().rev().find(|r| r.0 == id) {
                    // Right half pushed first so the left half comes out first.
                    s.stack.push((a + left, b));
                    s.stack.push((a, a + left));
                    continue;
                }
            }
            seg.push((a, b, id));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn score_keys_order() {
        let xs = [-1e30f32, -3.5, -1.0, -0.0, 0.0, 1e-40, 2.0, 1e30];
        for w in xs.windows(2) {
            assert!(score_key(w[0]) <= score_key(w[1]), "{w:?}");
        }
        assert_eq!(score_key(-0.0), score_key(0.0));
    }
}
