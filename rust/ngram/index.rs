//! A hashed trie over the n-grams of a language model.
//!
//! Each order `n >= 2` stores its n-grams as rows `(prefix, word)`: `prefix` is the row of the
//! first `n - 1` words in order `n - 1`, `word` the last id. Unigram rows are the word ids
//! themselves (row `w` of order 1 is word `w`). An open-addressing table per order maps
//! `(prefix, word) -> row`, so finding the n-gram that extends a known (n-1)-gram by one word is
//! one probe sequence: scoring a token costs at most `N - 1` lookups, each touching one 12-byte
//! slot. Tables are sized to a load of at most 1/2 (linear probing, fibonacci hashing).
//!
//! Invariant: every n-gram's prefix is a row of the order below (context closure), which the
//! builders guarantee (counting yields every prefix; the ARPA reader inserts missing contexts).

use crate::error::{Error, Result};

const EMPTY: u32 = u32::MAX;

#[derive(Clone, Copy, Debug)]
#[repr(C)]
struct Slot {
    prefix: u32,
    word: u32,
    row: u32,
}

/// The `(prefix, word) -> row` table of one order.
#[derive(Clone, Debug, Default)]
pub struct OrderIndex {
    pub prefix: Vec<u32>,
    pub word: Vec<u32>,
    slots: Vec<Slot>,
    shift: u32,
}

#[inline(always)]
fn hash(prefix: u32, word: u32, shift: u32) -> usize {
    let k = ((prefix as u64) << 32) | word as u64;
    (k.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> shift) as usize
}

impl OrderIndex {
    /// Build from rows given as parallel `prefix`/`word` arrays; duplicate rows are an error.
    pub fn new(prefix: Vec<u32>, word: Vec<u32>) -> Result<OrderIndex> {
        let k = prefix.len();
        if k >= EMPTY as usize {
            return Err(Error::Value(format!("{k} n-grams of one order exceed the 2^32-1 limit")));
        }
        let cap = (2 * k).max(16).next_power_of_two();
        let mut ix = OrderIndex {
            prefix,
            word,
            slots: vec![Slot { prefix: 0, word: 0, row: EMPTY }; cap],
            shift: 64 - cap.trailing_zeros(),
        };
        for r in 0..k {
            if r + 16 < k {
                ix.prefetch(ix.prefix[r + 16], ix.word[r + 16]); // overlap the random inserts
            }
            let (p, w) = (ix.prefix[r], ix.word[r]);
            if let Some(prev) = ix.insert(p, w, r as u32) {
                return Err(Error::Value(format!("n-gram rows {prev} and {r} are the same n-gram")));
            }
        }
        Ok(ix)
    }

    /// Insert; returns the existing row if the key is present (and leaves it).
    fn insert(&mut self, p: u32, w: u32, row: u32) -> Option<u32> {
        let mask = self.slots.len() - 1;
        let mut i = hash(p, w, self.shift);
        loop {
            let s = &mut self.slots[i];
            if s.row == EMPTY {
                *s = Slot { prefix: p, word: w, row };
                return None;
            }
            if s.prefix == p && s.word == w {
                return Some(s.row);
            }
            i = (i + 1) & mask;
        }
    }

    /// Append a row (used by the ARPA reader); returns its row, or the existing row.
    pub fn push(&mut self, p: u32, w: u32) -> u32 {
        if 2 * (self.prefix.len() + 1) > self.slots.len() {
            self.grow();
        }
        let row = self.prefix.len() as u32;
        match self.insert(p, w, row) {
            Some(r) => r,
            None => {
                self.prefix.push(p);
                self.word.push(w);
                row
            }
        }
    }

    fn grow(&mut self) {
        let cap = (self.slots.len() * 2).max(16);
        self.slots = vec![Slot { prefix: 0, word: 0, row: EMPTY }; cap];
        self.shift = 64 - cap.trailing_zeros();
        for r in 0..self.prefix.len() {
            let (p, w) = (self.prefix[r], self.word[r]);
            self.insert(p, w, r as u32);
        }
    }

    /// Row of the n-gram `(prefix row, word)`, if present.
    #[inline(always)]
    pub fn get(&self, p: u32, w: u32) -> Option<u32> {
        let mask = self.slots.len() - 1;
        let mut i = hash(p, w, self.shift);
        loop {
            let s = self.slots[i];
            if s.row == EMPTY {
                return None;
            }
            if s.prefix == p && s.word == w {
                return Some(s.row);
            }
            i = (i + 1) & mask;
        }
    }

    /// Hint the CPU to fetch the first slot of a future lookup.
    #[inline(always)]
    pub fn prefetch(&self, p: u32, w: u32) {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `hash` is below `slots.len()` (a power of two, shift = 64 - log2 len), and
        // prefetching a valid address has no architectural effect.
        unsafe {
            let i = hash(p, w, self.shift);
            let ptr = self.slots.as_ptr().add(i) as *const i8;
            std::arch::x86_64::_mm_prefetch(ptr, std::arch::x86_64::_MM_HINT_T0);
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = (p, w);
    }

    pub fn len(&self) -> usize {
        self.prefix.len()
    }

    pub fn is_empty(&self) -> bool {
        self.prefix.is_empty()
    }

    /// Bytes used.
    pub fn memory(&self) -> usize {
        self.slots.len() * std::mem::size_of::<Slot>() + self.prefix.len() * 8
    }
}

/// The trie over orders `2..=N` (order 1 needs no index: row = word id).
#[derive(Clone, Debug, Default)]
pub struct Trie {
    /// `orders[i]` indexes order `i + 2`.
    pub orders: Vec<OrderIndex>,
}

impl Trie {
    /// Row of the full n-gram `ids` (length >= 1), if every prefix of it is present.
    pub fn find(&self, ids: &[u32], num_unigrams: usize) -> Option<u32> {
        let (&first, rest) = ids.split_first()?;
        if first as usize >= num_unigrams {
            return None;
        }
        let mut row = first;
        for (i, &w) in rest.iter().enumerate() {
            row = self.orders.get(i)?.get(row, w)?;
        }
        Some(row)
    }

    /// The words of row `row` of order `n` (follows prefixes down to the unigram).
    pub fn words(&self, n: usize, row: u32, out: &mut Vec<u32>) {
        out.clear();
        out.resize(n, 0);
        let mut r = row;
        for k in (1..n).rev() {
            let o = &self.orders[k - 1];
            out[k] = o.word[r as usize];
            r = o.prefix[r as usize];
        }
        out[0] = r;
    }

    /// Row of the suffix (all words but the first) of every row of order `n >= 2`, in the
    /// order below. `suffix_below` is the same map for order `n - 1` (unused for `n == 2`).
    pub fn suffix_rows(&self, n: usize, suffix_below: &[u32]) -> Result<Vec<u32>> {
        use rayon::prelude::*;
        let o = &self.orders[n - 2];
        if n == 2 {
            return Ok(o.word.clone());
        }
        let below = &self.orders[n - 3];
        let key = |r: usize| (suffix_below[o.prefix[r] as usize], o.word[r]);
        // Parallel blocks; within a block, prefetch the probe 16 rows ahead so the random
        // accesses overlap.
        const AHEAD: usize = 16;
        let mut out = vec![0u32; o.len()];
        out.par_chunks_mut(1 << 14).enumerate().try_for_each(|(b, chunk)| {
            let base = b << 14;
            let len = chunk.len();
            for (j, slot) in chunk.iter_mut().enumerate() {
                if j + AHEAD < len {
                    let (p, w) = key(base + j + AHEAD);
                    below.prefetch(p, w);
                }
                let (p, w) = key(base + j);
                *slot = below.get(p, w).ok_or_else(|| {
                    Error::Value(format!("an n-gram of order {n} has no suffix (n-1)-gram: the model is not suffix-closed"))
                })?;
            }
            Ok(())
        })?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_get_grow() {
        let mut o = OrderIndex::new(vec![], vec![]).unwrap();
        for i in 0..1000u32 {
            assert_eq!(o.push(i % 7, i), i);
        }
        assert_eq!(o.push(3, 3), 3);
        for i in 0..1000u32 {
            assert_eq!(o.get(i % 7, i), Some(i));
        }
        assert_eq!(o.get(1, 0), None);
        assert!(OrderIndex::new(vec![1, 1], vec![2, 2]).is_err());
    }
}
