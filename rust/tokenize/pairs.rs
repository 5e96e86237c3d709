//! The merge table on the encoding hot path: `(left id, right id) -> (rank, merged id)`.
//!
//! Pair lookups are most of the cost of merging, and on a 100k vocabulary each is a cache miss,
//! so the table is laid out for one miss per lookup: pairs of ids below 256 (every piece's first
//! merges) sit in a dense 256 x 256 array; the rest in an open-addressing table of packed `u64`
//! slots (`left:21 | right:21 | rank:22`, linear probing, load <= 1/2), with the merged id kept
//! apart (`merged[rank]`), or equal to the rank for tiktoken ranks. Vocabularies too large for
//! the packing (ids >= 2^21 or ranks >= 2^22) fall back to a general hash map.

use rustc_hash::FxHashMap;

/// Sentinel for "no token" in dense tables.
pub const NONE: u32 = u32::MAX;

/// A pair of ids as one key (left in the high half).
#[inline]
pub(crate) fn pair_key(a: u32, b: u32) -> u64 {
    ((a as u64) << 32) | b as u64
}

const EMPTY: u64 = u64::MAX;
const RANK_BITS: u32 = 22;
const ID_BITS: u32 = 21;

/// Bits of the presence filter in front of the packed table (256 KiB: stays in L2).
const FILTER_BITS: u32 = 21;

#[derive(Clone, Debug)]
enum Big {
    /// `filter` has bit `h(a, b)` set for every pair present, so most pairs that do not merge
    /// are answered without touching `slots`.
    Packed {
        slots: Box<[u64]>,
        shift: u32,
        filter: Box<[u64]>,
    },
    General(FxHashMap<u64, (u32, u32)>),
}

#[derive(Clone, Debug)]
pub struct PairTable {
    dense: Box<[(u32, u32)]>,
    big: Big,
    /// `merged[rank]`, or empty when the merged id equals the rank.
    merged: Box<[u32]>,
    len: usize,
}

impl Default for PairTable {
    /// No merges.
    fn default() -> Self {
        PairTable::new(&FxHashMap::default())
    }
}

#[inline(always)]
fn slot_of(a: u32, b: u32, shift: u32) -> usize {
    (pair_key(a, b).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> shift) as usize
}

impl PairTable {
    /// Build from `(left, right) -> (rank, merged)` entries.
    pub fn new(entries: &FxHashMap<u64, (u32, u32)>) -> Self {
        let mut dense = vec![(NONE, NONE); 1 << 16];
        let ranks_are_ids = entries.values().all(|&(r, m)| r == m);
        let max_rank = entries.values().map(|v| v.0).max().unwrap_or(0);
        let mut merged = Vec::new();
        if !ranks_are_ids {
            merged = vec![NONE; max_rank as usize + 1];
            for &(r, m) in entries.values() {
                merged[r as usize] = m;
            }
        }
        let packable = max_rank < (1 << RANK_BITS)
            && entries.keys().all(|&k| (k >> 32) < (1 << ID_BITS) && (k & 0xffff_ffff) < (1 << ID_BITS))
            && (ranks_are_ids || entries.len() == merged.iter().filter(|&&m| m != NONE).count());
        let big = if packable {
            let cap = (entries.len() * 2).next_power_of_two().max(16);
            let shift = 64 - cap.trailing_zeros();
            let mut slots = vec![EMPTY; cap];
            let mut filter = vec![0u64; 1 << (FILTER_BITS - 6)];
            for (&k, &(r, _)) in entries {
                let (a, b) = ((k >> 32) as u32, k as u32);
                let f = slot_of(a, b, 64 - FILTER_BITS);
                filter[f >> 6] |= 1 << (f & 63);
                let mut i = slot_of(a, b, shift);
                while slots[i] != EMPTY {
                    i = (i + 1) & (cap - 1);
                }
                slots[i] = ((a as u64) << (ID_BITS + RANK_BITS)) | ((b as u64) << RANK_BITS) | r as u64;
            }
            Big::Packed { slots: slots.into_boxed_slice(), shift, filter: filter.into_boxed_slice() }
        } else {
            Big::General(entries.clone())
        };
        for (&k, &v) in entries {
            let (a, b) = ((k >> 32) as u32, k as u32);
            if a < 256 && b < 256 {
                dense[((a << 8) | b) as usize] = v;
            }
        }
        PairTable { dense: dense.into_boxed_slice(), big, merged: merged.into_boxed_slice(), len: entries.len() }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// `(rank, merged id)`, or `(NONE, NONE)` if the pair does not merge.
    #[inline(always)]
    pub fn get(&self, a: u32, b: u32) -> (u32, u32) {
        if (a | b) < 256 {
            return self.dense[((a << 8) | b) as usize];
        }
        match &self.big {
            Big::Packed { slots, shift, filter } => {
                if (a | b) >= (1 << ID_BITS) {
                    return (NONE, NONE);
                }
                let f = slot_of(a, b, 64 - FILTER_BITS);
                if filter[f >> 6] & (1 << (f & 63)) == 0 {
                    return (NONE, NONE);
                }
                let want = ((a as u64) << ID_BITS) | b as u64;
                let mask = slots.len() - 1;
                let mut i = slot_of(a, b, *shift);
                loop {
                    let e = slots[i];
                    if e == EMPTY {
                        return (NONE, NONE);
                    }
                    if e >> RANK_BITS == want {
                        let r = (e & ((1 << RANK_BITS) - 1)) as u32;
                        let m = if self.merged.is_empty() { r } else { self.merged[r as usize] };
                        return (r, m);
                    }
                    i = (i + 1) & mask;
                }
            }
            Big::General(m) => m.get(&pair_key(a, b)).copied().unwrap_or((NONE, NONE)),
        }
    }
}
