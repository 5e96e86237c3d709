//! The query tables of a model: per order `n >= 2`, an open-addressing table of 16-byte slots
//! `(context slot, word, log10 prob, log10 backoff)`. The context of an n-gram is named by the
//! *slot* of its first `n - 1` words in the table of order `n - 1` (for bigrams: the word id),
//! so extending a match by one word is one probe, and that probe brings the n-gram's
//! probability and backoff with it: scoring a token touches one cache line per order probed
//! and nothing else (the state carries the context's backoffs forward).
//!
//! Tables are sized to a load of at most 1/2 (`cap = 2 rows + 1`, any size: the hash is mapped
//! to `0..cap` by a multiply-shift) with linear probing; a prefetch covers the home slot's cache
//! line and the next, where a probe that does not stop at home almost always ends. They are built from the model's row
//! arrays on the first query and are independent of everything else (ARPA writing, estimation).

use super::index::Trie;
use crate::error::{Error, Result};
use crate::mapped::Buf;

const EMPTY: u32 = u32::MAX;
const SECOND_LINE: bool = false;

#[derive(Clone, Copy, Debug)]
#[repr(C, align(16))]
pub struct Slot {
    pub ctx: u32,
    pub word: u32,
    pub prob: f32,
    pub backoff: f32,
}

// SAFETY: four 4-byte fields, 16 bytes, no padding; every bit pattern is a valid Slot.
unsafe impl crate::mapped::Pod for Slot {}

/// The bit of `Slot::word` that marks an n-gram that *extends*: it is the context of some
/// longer n-gram or has a non-zero backoff (KenLM's `HasExtension`). A query state drops the
/// n-grams that do not extend, so the next token skips probes that cannot match. Used only when
/// word ids stay below it (vocabularies under 2^31 words); otherwise no bit is set and every
/// n-gram counts as extending.
pub const EXTENDS: u32 = 1 << 31;

#[derive(Clone, Debug)]
pub struct Table {
    slots: Buf<Slot>,
    /// `EXTENDS`, or 0 when the flag is not used.
    ext_bit: u32,
}

#[inline(always)]
fn home(ctx: u32, word: u32, cap: usize) -> usize {
    let k = ((ctx as u64) << 32 | word as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    ((k as u128 * cap as u128) >> 64) as usize
}

impl Table {
    fn with_rows(rows: usize) -> Table {
        // slots are named by u32 (and u32::MAX marks empty): beyond 2^31 rows the load rises
        let cap = ((2 * rows).max(8) + 1).min(u32::MAX as usize - 1);
        Table { slots: crate::hugepage::filled_vec(cap, Slot { ctx: EMPTY, word: 0, prob: 0.0, backoff: 0.0 }).into(), ext_bit: 0 }
    }

    /// A table from its slots (as `slots` gave them, e.g. from a mapped file). Probes stop
    /// after `capacity` slots, so even a table without an empty slot cannot loop forever.
    /// `vocab`: the model's vocabulary size (the extension flags are used below 2^31 words).
    pub fn from_slots(slots: Buf<Slot>, vocab: usize) -> Result<Table> {
        if slots.is_empty() || slots.len() >= u32::MAX as usize {
            return Err(Error::Format(format!("a query table of {} slots (must be 1 to 2^32-2)", slots.len())));
        }
        Ok(Table { slots, ext_bit: ext_bit(vocab) })
    }

    /// Whether the n-gram in `s` (a slot of this table) extends (see [`EXTENDS`]).
    #[inline(always)]
    pub fn extends(&self, s: &Slot) -> bool {
        self.ext_bit == 0 || s.word & self.ext_bit != 0
    }

    /// The word id of slot `s` (without the extension flag).
    #[inline(always)]
    pub fn word_of(&self, s: &Slot) -> u32 {
        s.word & !self.ext_bit
    }

    /// The slots, for writing the table to a file.
    pub fn slots(&self) -> &[Slot] {
        &self.slots
    }

    /// Insert a new key; returns its slot.
    fn insert(&mut self, s: Slot) -> u32 {
        let slots = self.slots.to_mut();
        let cap = slots.len();
        let mut i = home(s.ctx, s.word, cap);
        while slots[i].ctx != EMPTY {
            i += 1;
            if i == cap {
                i = 0;
            }
        }
        slots[i] = s;
        i as u32
    }

    /// The slot of `(ctx, word)`, if present.
    #[inline(always)]
    pub fn get(&self, ctx: u32, word: u32) -> Option<(u32, &Slot)> {
        let slots: &[Slot] = &self.slots;
        let cap = slots.len();
        let mut i = home(ctx, word, cap);
        for _ in 0..cap {
            let s = &slots[i];
            if s.ctx == ctx && s.word & !self.ext_bit == word {
                return Some((i as u32, s));
            }
            if s.ctx == EMPTY {
                return None;
            }
            i += 1;
            if i == cap {
                i = 0;
            }
        }
        None
    }

    /// Hint the CPU to fetch the home slot of `(ctx, word)`.
    #[inline(always)]
    pub fn prefetch(&self, ctx: u32, word: u32) {
        let i = home(ctx, word, self.slots.len());
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `home` is below `slots.len()`; prefetching has no architectural effect.
        unsafe {
            let p = self.slots.as_ptr().add(i) as *const i8;
            std::arch::x86_64::_mm_prefetch(p, std::arch::x86_64::_MM_HINT_T0);
            if SECOND_LINE && i + 4 < self.slots.len() {
                std::arch::x86_64::_mm_prefetch(p.add(64), std::arch::x86_64::_MM_HINT_T0);
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = i;
    }

    /// Number of slots (occupied or not): slot numbers are below it.
    pub fn capacity(&self) -> usize {
        self.slots.len()
    }

    /// The slots whose n-gram has a non-zero backoff.
    pub fn nonzero_backoffs(&self) -> impl Iterator<Item = u32> + '_ {
        self.slots.iter().enumerate().filter(|(_, s)| s.ctx != EMPTY && s.backoff != 0.0).map(|(i, _)| i as u32)
    }

    /// Every n-gram in the table (occupied slots, in slot order).
    pub fn entries(&self) -> impl Iterator<Item = &Slot> + '_ {
        self.slots.iter().filter(|s| s.ctx != EMPTY)
    }

    /// The context slot of every n-gram in the table.
    pub fn contexts(&self) -> impl Iterator<Item = u32> + '_ {
        self.slots.iter().filter(|s| s.ctx != EMPTY).map(|s| s.ctx)
    }

    pub fn memory(&self) -> usize {
        self.slots.len() * std::mem::size_of::<Slot>()
    }
}

/// Unigram `(log10 prob, log10 backoff)` pairs by id, one cache line access per word.
pub fn unigrams(prob: &[Buf<f32>], backoff: &[Buf<f32>]) -> Vec<[f32; 2]> {
    let bo = backoff.first().filter(|b| !b.is_empty());
    prob[0].iter().enumerate().map(|(w, &p)| [p, bo.map_or(0.0, |b| b[w])]).collect()
}

/// Hint the CPU to fetch `v[i]` (no effect on results).
#[inline(always)]
pub fn prefetch_at<T>(v: &[T], i: usize) {
    #[cfg(target_arch = "x86_64")]
    if let Some(x) = v.get(i) {
        // SAFETY: prefetching a valid address has no architectural effect.
        unsafe { std::arch::x86_64::_mm_prefetch(x as *const T as *const i8, std::arch::x86_64::_MM_HINT_T0) }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (v, i);
}

fn ext_bit(vocab: usize) -> u32 {
    if vocab < EXTENDS as usize {
        EXTENDS
    } else {
        0
    }
}

/// Build the tables of orders `2..=N` from the row arrays. `backoff[n-1]` may be empty (stupid
/// backoff, or the highest order): those slots hold 0. Slots of orders below N that extend
/// carry the [`EXTENDS`] bit.
pub fn build(trie: &Trie, prob: &[Buf<f32>], backoff: &[Buf<f32>], vocab: usize) -> Vec<Table> {
    let mut tables = Vec::with_capacity(trie.orders.len());
    let mut slot_of_below: Vec<u32> = Vec::new(); // row of order n - 1 -> its slot (n >= 3)
    for (i, o) in trie.orders.iter().enumerate() {
        let n = i + 2;
        let mut t = Table::with_rows(o.len());
        let bo = backoff.get(n - 1).filter(|b| !b.is_empty());
        let ctx = |r: usize| if n == 2 { o.prefix[r] } else { slot_of_below[o.prefix[r] as usize] };
        let below_top = n < trie.orders.len() + 1; // the order above will need this order's slots
        let mut slot_of = Vec::with_capacity(if below_top { o.len() } else { 0 });
        const AHEAD: usize = 16;
        for r in 0..o.len() {
            if r + AHEAD < o.len() {
                t.prefetch(ctx(r + AHEAD), o.word[r + AHEAD]);
            }
            let s = Slot { ctx: ctx(r), word: o.word[r], prob: prob[n - 1][r], backoff: bo.map_or(0.0, |b| b[r]) };
            let at = t.insert(s);
            if below_top {
                slot_of.push(at);
            }
        }
        slot_of_below = slot_of;
        tables.push(t);
    }
    let bit = ext_bit(vocab);
    if bit != 0 {
        for i in 0..tables.len() {
            let (lower, upper) = tables.split_at_mut(i + 1);
            let t = &mut lower[i];
            t.ext_bit = bit;
            let slots = t.slots.to_mut();
            for s in slots.iter_mut() {
                if s.ctx != EMPTY && s.backoff != 0.0 {
                    s.word |= bit;
                }
            }
            if let Some(above) = upper.first() {
                for c in above.contexts() {
                    slots[c as usize].word |= bit;
                }
            }
        }
    }
    tables
}
