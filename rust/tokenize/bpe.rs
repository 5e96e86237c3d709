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
    ranks: Vec<(u32, u32)>,
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
            merge_flat(v, s);
            out.extend_from_slice(&s.ids);
        } else {
            merge_long(v, s, out);
        }
    }
    if piece.len() <= CACHE_PIECE_MAX {
        s.remember(piece, &out[start..]);
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
        let (r, m) = rank_of(v, ids[i], ids[i + 1]);
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
            let (r, m) = rank_of(v, a, b);
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

    fn both(v: &Vocab, piece: &[u8]) -> (Vec<u32>, Vec<u32>) {
        let mut s = Scratch::default();
        s.ids = piece.iter().map(|&b| v.byte_id(b)).collect();
        merge_flat(v, &mut s);
        let flat = s.ids.clone();
        s.ids = piece.iter().map(|&b| v.byte_id(b)).collect();
        let mut heap = Vec::new();
        merge_long(v, &mut s, &mut heap);
        (flat, heap)
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
        fn flat_equals_long_with_merge_list(piece in proptest::collection::vec(prop_oneof![Just(b'a'), Just(b'b')], 2..200)) {
            let v = toy_merges();
            let (f, h) = both(&v, &piece);
            prop_assert_eq!(f, h);
        }

        #[test]
        fn flat_equals_heap(piece in proptest::collection::vec(prop_oneof![Just(b'a'), Just(b'b'), Just(b'c')], 2..200)) {
            let v = toy_vocab();
            let (f, h) = both(&v, &piece);
            prop_assert_eq!(f, h);
        }
    }
}
