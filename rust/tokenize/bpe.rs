//! Byte-pair merging inside one pre-tokenized piece.
//!
//! Semantics (tiktoken and Hugging Face agree): start from single-byte tokens and repeatedly
//! merge the adjacent pair of minimal rank, the leftmost one on ties, until no pair merges.
//! With `whole_piece` a piece that is itself a token is emitted directly (tiktoken always does
//! this; Hugging Face only with `ignore_merges`).
//!
//! Cost: short pieces (the vast majority) use a flat O(n^2) scan over a few cache lines; long
//! pieces switch to a doubly linked list and a binary heap of candidate pairs with lazy
//! invalidation, O(n log n), so megabyte-long "words" cannot go quadratic.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use super::vocab::{Vocab, NONE};

/// Pieces at most this long use the flat scan.
const FLAT_MAX: usize = 48;
/// Pieces cached per worker (merged pieces only: whole-token pieces are one lookup anyway).
const CACHE_MAX: usize = 1 << 16;
/// Longest piece worth caching (longer ones are rare and would bloat the arena).
const CACHE_PIECE_MAX: usize = 256;

/// Reusable buffers so encoding does no per-piece allocation once warm, plus a bounded cache
/// of merged pieces (text repeats words; the merge result depends only on the piece's bytes).
#[derive(Default)]
pub struct Scratch {
    ids: Vec<u32>,
    ranks: Vec<(u32, u32)>,
    next: Vec<u32>,
    prev: Vec<u32>,
    heap: BinaryHeap<Reverse<(u32, u32)>>,
    cache: rustc_hash::FxHashMap<Box<[u8]>, (u32, u32)>,
    arena: Vec<u32>,
}

/// Encode one piece, appending ids to `out`. Returns `Err(byte)` if the vocabulary has no
/// single-byte token for a byte of the piece.
pub fn encode_piece(v: &Vocab, piece: &[u8], out: &mut Vec<u32>, s: &mut Scratch) -> Result<(), u8> {
    match piece.len() {
        0 => return Ok(()),
        1 => {
            let id = v.byte_id(piece[0]);
            if id == NONE {
                return Err(piece[0]);
            }
            out.push(id);
            return Ok(());
        }
        _ => {}
    }
    if v.whole_piece() {
        if let Some(id) = v.id_of(piece) {
            out.push(id);
            return Ok(());
        }
    }
    let cacheable = piece.len() <= CACHE_PIECE_MAX;
    if cacheable {
        if let Some(&(at, len)) = s.cache.get(piece) {
            out.extend_from_slice(&s.arena[at as usize..(at + len) as usize]);
            return Ok(());
        }
    }
    let start = out.len();
    s.ids.clear();
    for &b in piece {
        let id = v.byte_id(b);
        if id == NONE {
            return Err(b);
        }
        s.ids.push(id);
    }
    if piece.len() <= FLAT_MAX {
        merge_flat(v, s);
        out.extend_from_slice(&s.ids);
    } else {
        merge_heap(v, s, out);
    }
    if cacheable {
        if s.cache.len() >= CACHE_MAX {
            s.cache.clear();
            s.arena.clear();
        }
        let at = s.arena.len() as u32;
        s.arena.extend_from_slice(&out[start..]);
        s.cache.insert(piece.into(), (at, (out.len() - start) as u32));
    }
    Ok(())
}

#[inline(always)]
fn rank_of(v: &Vocab, a: u32, b: u32) -> (u32, u32) {
    v.merge_or_none(a, b)
}

fn merge_flat(v: &Vocab, s: &mut Scratch) {
    let ids = &mut s.ids;
    let ranks = &mut s.ranks;
    ranks.clear();
    ranks.extend(ids.windows(2).map(|w| rank_of(v, w[0], w[1])));
    loop {
        let mut best = NONE;
        let mut at = usize::MAX;
        for (i, r) in ranks.iter().enumerate() {
            if r.0 < best {
                best = r.0;
                at = i;
            }
        }
        if best == NONE {
            break;
        }
        ids[at] = ranks[at].1;
        ids.remove(at + 1);
        ranks.remove(at);
        if at > 0 {
            ranks[at - 1] = rank_of(v, ids[at - 1], ids[at]);
        }
        if at < ranks.len() {
            ranks[at] = rank_of(v, ids[at], ids[at + 1]);
        }
    }
}

fn merge_heap(v: &Vocab, s: &mut Scratch, out: &mut Vec<u32>) {
    let n = s.ids.len();
    let (ids, next, prev, heap) = (&mut s.ids, &mut s.next, &mut s.prev, &mut s.heap);
    next.clear();
    prev.clear();
    heap.clear();
    next.extend((1..=n as u32).map(|i| if i as usize == n { NONE } else { i }));
    prev.extend((0..n as u32).map(|i| if i == 0 { NONE } else { i - 1 }));
    for i in 0..n - 1 {
        let (r, _) = rank_of(v, ids[i], ids[i + 1]);
        if r != NONE {
            heap.push(Reverse((r, i as u32)));
        }
    }
    // Dead nodes are marked by ids[i] == NONE.
    while let Some(Reverse((r, pos))) = heap.pop() {
        let p = pos as usize;
        if ids[p] == NONE || next[p] == NONE {
            continue;
        }
        let q = next[p] as usize;
        let (cur, merged) = rank_of(v, ids[p], ids[q]);
        if cur != r {
            continue; // stale: the pair at `pos` changed since this entry was pushed
        }
        ids[p] = merged;
        ids[q] = NONE;
        next[p] = next[q];
        if next[q] != NONE {
            prev[next[q] as usize] = pos;
            let (r2, _) = rank_of(v, merged, ids[next[q] as usize]);
            if r2 != NONE {
                heap.push(Reverse((r2, pos)));
            }
        }
        if prev[p] != NONE {
            let l = prev[p];
            let (r2, _) = rank_of(v, ids[l as usize], merged);
            if r2 != NONE {
                heap.push(Reverse((r2, l)));
            }
        }
    }
    let mut i = 0u32;
    while i != NONE {
        out.push(ids[i as usize]);
        i = next[i as usize];
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn toy_vocab() -> Vocab {
        let mut t: Vec<(Vec<u8>, u32)> = (0u32..256).map(|b| (vec![b as u8], b)).collect();
        for (i, w) in ["aa", "ab", "ba", "aab", "aaaa", "bab", "abab", "aba", "bb", "bbb"].iter().enumerate() {
            t.push((w.as_bytes().to_vec(), 256 + i as u32));
        }
        Vocab::from_ranks(t, "toy").unwrap()
    }

    fn both(v: &Vocab, piece: &[u8]) -> (Vec<u32>, Vec<u32>) {
        let mut s = Scratch::default();
        s.ids = piece.iter().map(|&b| v.byte_id(b)).collect();
        merge_flat(v, &mut s);
        let flat = s.ids.clone();
        s.ids = piece.iter().map(|&b| v.byte_id(b)).collect();
        let mut heap = Vec::new();
        merge_heap(v, &mut s, &mut heap);
        (flat, heap)
    }

    #[test]
    fn leftmost_min_rank() {
        let v = toy_vocab();
        let (f, h) = both(&v, b"aaa");
        assert_eq!(f, vec![256, b'a' as u32]);
        assert_eq!(f, h);
    }

    proptest! {
        #[test]
        fn flat_equals_heap(piece in proptest::collection::vec(prop_oneof![Just(b'a'), Just(b'b'), Just(b'c')], 2..200)) {
            let v = toy_vocab();
            let (f, h) = both(&v, &piece);
            prop_assert_eq!(f, h);
        }
    }
}
