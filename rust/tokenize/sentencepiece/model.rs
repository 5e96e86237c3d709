//! sentencepiece's models over a normalized string: Unigram (`unigram_model.cc`,
//! `EncodeOptimized`), BPE (`bpe_model.cc`), CHAR and WORD; each yields `(start, end, id)`
//! segments of the normalized bytes, which `mod.rs` turns into ids (unknown runs merged, or
//! split into byte pieces).
//!
//! - Unigram: the Viterbi of `pipeline::unigram` over the whole string, scored as
//!   sentencepiece does: f32 sums, unknown at `min_score - 10` (min over NORMAL pieces),
//!   UNUSED pieces skipped, a USER_DEFINED piece of n bytes scored `n * max_score - 0.1` in
//!   double precision (max over NORMAL pieces, starting from FLT_MIN).
//! - BPE: not HF's merge ranks. Symbols are characters (a user-defined symbol is one frozen
//!   symbol); repeatedly the adjacent pair whose concatenation is a piece with the highest
//!   score is merged, the leftmost on ties; a merged UNUSED piece is split back along the
//!   pair that last formed it. The whole string is one sequence (no word split), as there.
//! - CHAR: one symbol per character (or user-defined symbol); WORD: split before each U+2581.
//!
//! Cost: Unigram O(n k); BPE O(n log n) with a binary heap of candidate pairs, stale entries
//! recognised by their size as sentencepiece does. Scratch buffers are reused per thread.

use std::collections::BinaryHeap;

use super::proto::PieceType;
use super::SentencePiece;
use crate::tokenize::pipeline::unigram::{one_char_len, viterbi, with_lattice, Scorer};

/// sentencepiece's Unigram scores (see the module docs).
pub(crate) struct SpmScorer<'a> {
    pub scores: &'a [f32],
    pub kinds: &'a [PieceType],
    pub max_score: f32,
    pub unk_score: f32,
}

impl Scorer for SpmScorer<'_> {
    #[inline(always)]
    fn piece(&self, till: f64, id: u32, len: usize) -> Option<f64> {
        match self.kinds[id as usize] {
            PieceType::Unused => None,
            PieceType::UserDefined => Some((len as f32 * self.max_score) as f64 - 0.1 + till),
            _ => Some((till as f32 + self.scores[id as usize]) as f64),
        }
    }
    #[inline(always)]
    fn unk(&self, till: f64) -> f64 {
        (till as f32 + self.unk_score) as f64
    }
    #[inline(always)]
    fn store(&self, x: f64) -> f64 {
        x as f32 as f64
    }
}

/// Per-thread buffers for BPE.
#[derive(Default)]
pub(crate) struct BpeScratch {
    /// `(start, len, prev, next, frozen)` per symbol; `len == 0` once merged away.
    syms: Vec<Sym>,
    heap: BinaryHeap<Cand>,
    /// For UNUSED pieces: `(id, left length)` of the latest pair pushed that forms them.
    rev: Vec<(u32, u32)>,
    stack: Vec<(u32, u32)>,
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
    /// Unigram segments of `norm`.
    pub(crate) fn unigram_segments(&self, norm: &[u8], seg: &mut Vec<(u32, u32, u32)>) {
        let sc = SpmScorer { scores: &self.scores, kinds: &self.kinds, max_score: self.max_score, unk_score: self.min_score - 10.0 };
        with_lattice(|best| {
            // The unknown id always exists (checked at load), so this cannot fail.
            if viterbi(norm, &self.trie, &sc, Some(self.unk_id), best).is_err() {
                return;
            }
            let first = seg.len();
            let mut end = norm.len();
            while end > 0 {
                let node = best[end];
                seg.push((node.start, end as u32, node.id));
                end = node.start as usize;
            }
            seg[first..].reverse();
        })
    }

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

    /// BPE segments of `norm`.
    pub(crate) fn bpe_segments(&self, norm: &[u8], s: &mut BpeScratch, seg: &mut Vec<(u32, u32, u32)>) {
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
