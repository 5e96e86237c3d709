//! Byte-pair merging inside one pre-tokenized piece.
//!
//! Semantics (tiktoken and Hugging Face agree): start from single-byte tokens and repeatedly
//! merge the adjacent pair of minimal rank, the leftmost one on ties, until no pair merges.
//! With `whole_piece` a piece that is itself a token is emitted directly (tiktoken always does
//! this; Hugging Face only with `ignore_merges`).
//!
//! Cost: short pieces (the vast majority) use a flat O(n^2) scan over a few cache lines; long
//! pieces switch to a doubly linked list and a tournament tree over pair positions, O(n log n),
//! so megabyte-long "words" cannot go quadratic.

use super::vocab::{Vocab, NONE};

/// Pieces at most this long use the flat scan.
const FLAT_MAX: usize = 48;
/// Pieces cached per worker, in each of the two caches.
const CACHE_MAX: usize = 1 << 16;
/// Longest piece worth caching (longer ones are rare and would bloat the arena).
const CACHE_PIECE_MAX: usize = 256;
/// Pieces up to this long are cached under a packed `u128` key (bytes + length): one probe,
/// no pointer to follow, no `memcmp`.
const SHORT_MAX: usize = 15;

/// Reusable buffers so encoding does no per-piece allocation once warm, plus bounded caches
/// of encoded pieces (text repeats words; a piece's ids depend only on its bytes). Values are
/// `(start, len)` in `arena`.
#[derive(Default)]
pub struct Scratch {
    ids: Vec<u32>,
    next: Vec<u32>,
    prev: Vec<u32>,
    mid: Vec<u32>,
    tree: Vec<u64>,
    short: rustc_hash::FxHashMap<u128, (u32, u32)>,
    cache: rustc_hash::FxHashMap<Box<[u8]>, (u32, u32)>,
    arena: Vec<u32>,
}

#[inline(always)]
fn pack(piece: &[u8]) -> u128 {
    let mut b = [0u8; 16];
    b[..piece.len()].copy_from_slice(piece);
    b[15] = piece.len() as u8;
    u128::from_le_bytes(b)
}

impl Scratch {
    /// Release buffers a megabyte-long piece grew, so an idle thread does not keep them.
    pub fn trim(&mut self) {
        if self.tree.capacity() > 1 << 16 {
            self.ids = Vec::new();
            self.next = Vec::new();
            self.prev = Vec::new();
            self.mid = Vec::new();
            self.tree = Vec::new();
        }
    }

    fn remember(&mut self, piece: &[u8], ids: &[u32]) {
        if self.short.len() + self.cache.len() >= CACHE_MAX {
            self.short.clear();
            self.cache.clear();
            self.arena.clear();
        }
        let v = (self.arena.len() as u32, ids.len() as u32);
        self.arena.extend_from_slice(ids);
        if piece.len() <= SHORT_MAX {
            self.short.insert(pack(piece), v);
        } else {
            self.cache.insert(piece.into(), v);
        }
    }
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
    let cached = if piece.len() <= SHORT_MAX {
        s.short.get(&pack(piece)).copied()
    } else if piece.len() <= CACHE_PIECE_MAX {
        s.cache.get(piece).copied()
    } else {
        None
    };
    if let Some((at, len)) = cached {
        out.extend_from_slice(&s.arena[at as usize..(at + len) as usize]);
        return Ok(());
    }
    let start = out.len();
    let whole = if v.whole_piece() { v.id_of(piece) } else { None };
    if let Some(id) = whole {
        out.push(id);
    } else {
        s.ids.clear();
        for &b in piece {
            let id = v.byte_id(b);
            if id == NONE {
                return Err(b);
            }
            s.ids.push(id);
        }
        if piece.len() <= FLAT_MAX {
            merge_flat(v, &s.ids, out);
        } else {
            merge_long(v, s, out);
        }
    }
    if piece.len() <= CACHE_PIECE_MAX {
        s.remember(piece, &out[start..]);
    }
    Ok(())
}

/// Short pieces: stack arrays, a linked list by index (merged-away parts get rank NONE, so
/// nothing is ever shifted) and a linear scan for the leftmost minimal rank.
fn merge_flat(v: &Vocab, piece_ids: &[u32], out: &mut Vec<u32>) {
    let n = piece_ids.len();
    debug_assert!((2..=FLAT_MAX).contains(&n));
    let mut ids = [0u32; FLAT_MAX];
    let mut rank = [NONE; FLAT_MAX];
    let mut mid = [0u32; FLAT_MAX];
    let mut next = [0u8; FLAT_MAX];
    let mut prev = [0u8; FLAT_MAX];
    ids[..n].copy_from_slice(piece_ids);
    for i in 0..n {
        next[i] = (i + 1) as u8;
        prev[i] = i.wrapping_sub(1) as u8; // 255 = none
    }
    for i in 0..n - 1 {
        (rank[i], mid[i]) = v.merge_or_none(ids[i], ids[i + 1]);
    }
    loop {
        let (mut best, mut at) = (NONE, 0);
        for (i, &r) in rank[..n - 1].iter().enumerate() {
            if r < best {
                best = r;
                at = i;
            }
        }
        if best == NONE {
            break;
        }
        let q = next[at] as usize;
        ids[at] = mid[at];
        rank[q] = NONE;
        let nq = next[q] as usize;
        next[at] = nq as u8;
        if nq < n {
            prev[nq] = at as u8;
            (rank[at], mid[at]) = v.merge_or_none(ids[at], ids[nq]);
        } else {
            rank[at] = NONE;
        }
        let l = prev[at];
        if l != 255 {
            let l = l as usize;
            (rank[l], mid[l]) = v.merge_or_none(ids[l], ids[at]);
        }
    }
    let mut i = 0;
    while i < n {
        out.push(ids[i]);
        i = next[i] as usize;
    }
}

/// Long pieces: a doubly linked list of parts and a tournament tree over positions whose leaves
/// hold `rank << 32 | position` of the pair starting there, so the root is the leftmost pair of
/// minimal rank. Each merge updates three leaves, walking up only while a minimum changes:
/// O(n log n) worst case with no stale entries, in flat arrays (about 24 bytes per input byte).
fn merge_long(v: &Vocab, s: &mut Scratch, out: &mut Vec<u32>) {
    let n = s.ids.len();
    let size = n.next_power_of_two();
    let (ids, next, prev, mid, tree) = (&mut s.ids, &mut s.next, &mut s.prev, &mut s.mid, &mut s.tree);
    next.clear();
    prev.clear();
    mid.clear();
    tree.clear();
    next.extend((1..=n as u32).map(|i| if i as usize == n { NONE } else { i }));
    prev.extend((0..n as u32).map(|i| if i == 0 { NONE } else { i - 1 }));
    mid.resize(n, NONE);
    tree.resize(2 * size, u64::MAX);
    for i in 0..n - 1 {
        let (r, m) = v.merge_or_none(ids[i], ids[i + 1]);
        if r != NONE {
            tree[size + i] = ((r as u64) << 32) | i as u64;
            mid[i] = m;
        }
    }
    for j in (1..size).rev() {
        tree[j] = tree[2 * j].min(tree[2 * j + 1]);
    }
    let set = |tree: &mut Vec<u64>, i: usize, key: u64| {
        let mut j = size + i;
        tree[j] = key;
        while j > 1 {
            let m = tree[j].min(tree[j ^ 1]);
            j >>= 1;
            if tree[j] == m {
                break;
            }
            tree[j] = m;
        }
    };
    while tree[1] != u64::MAX {
        let p = (tree[1] & 0xffff_ffff) as usize;
        let q = next[p] as usize;
        let merged = mid[p];
        ids[p] = merged;
        ids[q] = NONE;
        next[p] = next[q];
        set(tree, q, u64::MAX);
        let key = |a: u32, b: u32, at: usize, mid: &mut Vec<u32>| {
            let (r, m) = v.merge_or_none(a, b);
            mid[at] = m;
            if r == NONE {
                u64::MAX
            } else {
                ((r as u64) << 32) | at as u64
            }
        };
        let k = if next[p] != NONE {
            let nq = next[p] as usize;
            prev[nq] = p as u32;
            key(merged, ids[nq], p, mid)
        } else {
            u64::MAX
        };
        set(tree, p, k);
        if prev[p] != NONE {
            let l = prev[p] as usize;
            let k = key(ids[l], merged, l, mid);
            set(tree, l, k);
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

    /// The obvious algorithm: rescan every pair after every merge.
    fn reference_merge(v: &Vocab, ids: &[u32]) -> Vec<u32> {
        let mut ids = ids.to_vec();
        loop {
            let best = (0..ids.len().saturating_sub(1)).filter_map(|i| v.merge(ids[i], ids[i + 1]).map(|(r, m)| (r, i, m))).min();
            let Some((_, i, m)) = best else { return ids };
            ids[i] = m;
            ids.remove(i + 1);
        }
    }

    /// (reference, fast) results; the fast one is the flat scan when the piece is short enough
    /// (checked against the long algorithm too), else the tournament tree.
    fn both(v: &Vocab, piece: &[u8]) -> (Vec<u32>, Vec<u32>) {
        let bytes: Vec<u32> = piece.iter().map(|&b| v.byte_id(b)).collect();
        let want = reference_merge(v, &bytes);
        let mut s = Scratch { ids: bytes.clone(), ..Scratch::default() };
        let mut long = Vec::new();
        merge_long(v, &mut s, &mut long);
        if bytes.len() <= FLAT_MAX {
            let mut flat = Vec::new();
            merge_flat(v, &bytes, &mut flat);
            assert_eq!(flat, long);
        }
        (want, long)
    }

    #[test]
    fn leftmost_min_rank() {
        let v = toy_vocab();
        let (f, h) = both(&v, b"aaa");
        assert_eq!(f, vec![256, b'a' as u32]);
        assert_eq!(f, h);
    }

    fn toy_merges() -> Vocab {
        let mut t: Vec<(Vec<u8>, u32)> = (0u32..256).map(|b| (vec![b as u8], b)).collect();
        // ids deliberately not in merge order, so merged id != rank
        for (w, id) in [("ab", 300), ("ba", 290), ("aab", 280), ("abab", 270), ("bb", 260), ("bbb", 310)] {
            t.push((w.as_bytes().to_vec(), id));
        }
        let m = [(98, 98), (97, 98), (98, 97), (97, 300), (300, 300), (260, 98)];
        Vocab::from_merges(t, &m, false, "toy", &|i| format!("{i}")).unwrap()
    }

    proptest! {
        #[test]
        fn flat_equals_long_with_merge_list(piece in proptest::collection::vec(prop_oneof![Just(b'a'), Just(b'b')], 2..120)) {
            let v = toy_merges();
            let (f, h) = both(&v, &piece);
            prop_assert_eq!(f, h);
        }

        #[test]
        fn flat_equals_heap(piece in proptest::collection::vec(prop_oneof![Just(b'a'), Just(b'b'), Just(b'c')], 2..120)) {
            let v = toy_vocab();
            let (f, h) = both(&v, &piece);
            prop_assert_eq!(f, h);
        }
    }
}
