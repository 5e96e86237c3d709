//! A hashed trie over the n-grams of a language model.
//!
//! Each order `n >= 2` stores its n-grams as rows `(prefix, word)`: `prefix` is the row of the
//! first `n - 1` words in order `n - 1`, `word` the last id. Unigram rows are the word ids
//! themselves (row `w` of order 1 is word `w`). An open-addressing table per order maps
//! `(prefix, word) -> row`, so finding the n-gram that extends a known (n-1)-gram by one word is
//! one probe sequence: scoring a token costs at most `N - 1` lookups, each touching one 12-byte
//! slot. Tables are sized to a load of at most 1/2 (linear probing, fibonacci hashing).
//!
//! The hash table of an order is built on its first lookup: estimating a model and writing it
//! as ARPA only walk the `prefix`/`word` arrays, so they never pay for (or hold) the tables.
//!
//! Invariant: every n-gram's prefix is a row of the order below (context closure), which the
//! builders guarantee (counting yields every prefix; the ARPA reader inserts missing contexts).

use crate::error::{Error, Result};
use crate::mapped::Buf;

const EMPTY: u32 = u32::MAX;

#[derive(Clone, Copy, Debug)]
#[repr(C)]
struct Slot {
    prefix: u32,
    word: u32,
    row: u32,
}

/// The rows of one order and their `(prefix, word) -> row` table (built on first use).
#[derive(Clone, Debug, Default)]
pub struct OrderIndex {
    pub prefix: Buf<u32>,
    pub word: Buf<u32>,
    table: std::sync::OnceLock<Table>,
}

/// An open-addressing table over the rows of an order.
#[derive(Clone, Debug)]
struct Table {
    slots: Vec<Slot>,
    shift: u32,
}

#[inline(always)]
fn hash(prefix: u32, word: u32, shift: u32) -> usize {
    let k = ((prefix as u64) << 32) | word as u64;
    (k.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> shift) as usize
}

impl OrderIndex {
    /// Rows given as parallel `prefix`/`word` arrays. The rows must be distinct (n-grams
    /// counted or estimated from counts are); the table is built on the first lookup.
    pub fn new(prefix: Vec<u32>, word: Vec<u32>) -> Result<OrderIndex> {
        if prefix.len() >= EMPTY as usize {
            return Err(Error::Value(format!("{} n-grams of one order exceed the 2^32-1 limit", prefix.len())));
        }
        Self::from_bufs(prefix.into(), word.into())
    }

    /// Rows given as arrays that may be views of a mapped file.
    pub fn from_bufs(prefix: Buf<u32>, word: Buf<u32>) -> Result<OrderIndex> {
        if prefix.len() >= EMPTY as usize || prefix.len() != word.len() {
            return Err(Error::Value(format!(
                "{} prefixes and {} words: not the rows of one order (at most 2^32-1)",
                prefix.len(),
                word.len()
            )));
        }
        Ok(OrderIndex { prefix, word, table: Default::default() })
    }

    /// No rows yet, with room for `rows` pushes without rehashing (the ARPA reader knows the
    /// counts from the header).
    pub fn with_capacity(rows: usize) -> OrderIndex {
        let ix = OrderIndex { prefix: Vec::with_capacity(rows).into(), word: Vec::with_capacity(rows).into(), table: Default::default() };
        let _ = ix.table.set(Table::build(&[], &[], rows));
        ix
    }

    /// The table, built now if it is not yet.
    #[inline(always)]
    fn table(&self) -> &Table {
        self.table.get_or_init(|| Table::build(&self.prefix, &self.word, self.prefix.len()))
    }

    /// Append a row (used by the ARPA reader); returns its row, or the existing row.
    pub fn push(&mut self, p: u32, w: u32) -> u32 {
        if self.table.get().is_none() {
            self.table();
        }
        let t = self.table.get_mut().expect("built above");
        if 2 * (self.prefix.len() + 1) > t.slots.len() {
            *t = Table::build(&self.prefix, &self.word, 2 * self.prefix.len() + 2);
        }
        let row = self.prefix.len() as u32;
        match t.insert(p, w, row) {
            Some(r) => r,
            None => {
                self.prefix.to_mut().push(p);
                self.word.to_mut().push(w);
                row
            }
        }
    }

    /// Free the hash table (it is rebuilt on the next lookup).
    pub fn drop_table(&mut self) {
        self.table = Default::default();
    }

    /// Row of the n-gram `(prefix row, word)`, if present.
    #[inline(always)]
    pub fn get(&self, p: u32, w: u32) -> Option<u32> {
        self.table().get(p, w)
    }

    /// Hint the CPU to fetch the first slot of a future lookup.
    #[inline(always)]
    pub fn prefetch(&self, p: u32, w: u32) {
        self.table().prefetch(p, w);
    }

    pub fn len(&self) -> usize {
        self.prefix.len()
    }

    pub fn is_empty(&self) -> bool {
        self.prefix.is_empty()
    }

    /// Bytes used (the table counts once built).
    pub fn memory(&self) -> usize {
        self.table.get().map_or(0, |t| t.slots.len() * std::mem::size_of::<Slot>()) + self.prefix.len() * 8
    }
}

impl Table {
    /// A table for rows `0..prefix.len()` with room for `rows` rows at load 1/2.
    fn build(prefix: &[u32], word: &[u32], rows: usize) -> Table {
        let cap = (2 * rows).max(16).next_power_of_two();
        let mut t =
            Table { slots: crate::hugepage::filled_vec(cap, Slot { prefix: 0, word: 0, row: EMPTY }), shift: 64 - cap.trailing_zeros() };
        let k = prefix.len();
        for r in 0..k {
            if r + 16 < k {
                t.prefetch(prefix[r + 16], word[r + 16]); // overlap the random inserts
            }
            // rows are distinct (the constructors' contract); the ARPA reader checks its own
            let _ = t.insert(prefix[r], word[r], r as u32);
        }
        t
    }

    #[inline(always)]
    fn prefetch(&self, p: u32, w: u32) {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as in `OrderIndex::prefetch`.
        unsafe {
            let ptr = self.slots.as_ptr().add(hash(p, w, self.shift)) as *const i8;
            std::arch::x86_64::_mm_prefetch(ptr, std::arch::x86_64::_MM_HINT_T0);
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = (p, w);
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

    #[inline(always)]
    fn get(&self, p: u32, w: u32) -> Option<u32> {
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
            return Ok(o.word.to_vec());
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
        // a table built lazily from rows
        let o = OrderIndex::new(vec![1, 1, 2], vec![2, 3, 2]).unwrap();
        assert_eq!(o.memory(), 24);
        assert_eq!((o.get(1, 3), o.get(2, 2), o.get(2, 3)), (Some(1), Some(2), None));
        assert!(o.memory() > 24);
    }
}
