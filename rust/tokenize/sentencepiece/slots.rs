//! The Unigram word cache's table for words of up to 15 bytes: one cache line per word.
//!
//! A cached word was a hash-map lookup (control bytes, then the bucket) followed by a read of
//! its path in a separate arena: two or three cache misses per word once the cache outgrows
//! L2, which was most of the time of a cold encode. Here a word is one 64-byte slot holding
//! its packed key, up to `INLINE` tokens of its path, and the numbers that decide whether the
//! path may be replayed at the current score, so a hit costs one line, and that line can be
//! prefetched a few words ahead (`prefetch`). The table asks for huge pages: with 4 KiB pages
//! nearly every lookup also missed the TLB (the prefetches stalled on page walks).
//!
//! Two-way buckets: a word lives in one of the two slots of the 128-byte pair its hash picks
//! (both lines are prefetched); when both are taken the first is overwritten (the cache is
//! only an accelerator: a word not found is computed). A slot is live when its `stamp` equals
//! the table's, so clearing is a counter bump.
//!
//! Cost: one hash and one 128-byte pair per lookup; 64 bytes x `1 << BITS` slots (8 MB) per
//! thread, kept at most half full by the caller (`CAPACITY`).

/// Tokens held in a slot; longer paths live in the caller's arena (`ids[0]` is their start).
pub(crate) const INLINE: usize = 6;
const BITS: u32 = 17;
/// Entries a table should hold before it is cleared (half its slots).
pub(crate) const CAPACITY: usize = 1 << (BITS - 1);

/// One cached word (see the module docs).
#[derive(Clone, Copy, Default)]
#[repr(C, align(64))]
pub(crate) struct Slot {
    key: u128,
    stamp: u32,
    /// The path may be replayed from score `b` when `(|b| + magnitude) as f32 < limit`.
    pub magnitude: f32,
    pub limit: f32,
    /// Token ids (or, past `INLINE` tokens, `ids[0]` = start of the path in the arena).
    pub ids: [u32; INLINE],
    /// End byte of each token in the word.
    pub ends: [u8; INLINE],
    /// Number of tokens.
    pub n: u8,
}

impl Slot {
    /// A slot for a path of `n` tokens (ids and ends still to fill).
    pub(crate) fn new(magnitude: f32, limit: f32, n: u8) -> Slot {
        Slot { magnitude, limit, n, ..Slot::default() }
    }
}

/// The table (empty until first used).
#[derive(Default)]
pub(crate) struct Slots {
    slots: Vec<Slot>,
    stamp: u32,
    live: usize,
}

/// Hint the CPU to fetch the line of `x` into L1.
#[inline(always)]
pub(crate) fn prefetch<T>(x: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch has no architectural effect and cannot fault; the address is that
    // of a live reference anyway.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(x as *const T as *const i8)
    };
    #[cfg(not(target_arch = "x86_64"))]
    let _ = x;
}

/// A 64-bit hash of a packed word.
#[inline(always)]
pub(crate) fn hash(key: u128) -> u64 {
    ((key as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ (key >> 64) as u64).wrapping_mul(0xf135_7aea_2e62_a9c5)
}

/// The first slot of the key's pair.
#[inline(always)]
fn home(key: u128) -> usize {
    (hash(key) >> (64 - BITS)) as usize & !1
}

impl Slots {
    /// Forget every entry.
    pub(crate) fn clear(&mut self) {
        self.stamp = self.stamp.wrapping_add(1);
        if self.stamp == 0 {
            // After 2^32 clears a stale slot could look live again: zero them all.
            self.slots.iter_mut().for_each(|s| *s = Slot::default());
            self.stamp = 1;
        }
        self.live = 0;
    }

    /// Entries stored since the last clear (overwrites count again).
    pub(crate) fn len(&self) -> usize {
        self.live
    }

    /// Hint the CPU to fetch the pair of `key`.
    #[inline(always)]
    pub(crate) fn prefetch(&self, key: u128) {
        if let Some(pair) = self.slots.get(home(key)..home(key) + 2) {
            pair.iter().for_each(prefetch);
        }
    }

    /// The live slot of `key`.
    #[inline(always)]
    pub(crate) fn get(&self, key: u128) -> Option<&Slot> {
        if self.slots.is_empty() {
            return None;
        }
        let h = home(key);
        self.slots[h..h + 2].iter().find(|s| s.stamp == self.stamp && s.key == key)
    }

    /// Store `slot` under `key` (its key and stamp are set here).
    pub(crate) fn insert(&mut self, key: u128, mut slot: Slot) {
        if self.slots.is_empty() {
            self.slots = crate::hugepage::filled_vec(1 << BITS, Slot::default());
            self.stamp = self.stamp.max(1);
        }
        let h = home(key);
        let at = (h..h + 2).find(|&j| self.slots[j].stamp != self.stamp || self.slots[j].key == key);
        (slot.key, slot.stamp) = (key, self.stamp);
        self.slots[at.unwrap_or(h)] = slot;
        self.live += 1;
    }
}

/// The `limit` for [`Slot::limit`]: the path, whose every node beat its runner-up by
/// at least `margin` over `chars` characters, may be replayed from a score whose magnitude
/// `m` (entry score plus the path's largest candidate) has `margin > (chars + 1) ulp(m)`,
/// `ulp(m)` being the f32 ulp of the binade above `m`'s (see `unigram.rs`). That holds
/// exactly for the f32 binades up to some exponent; `limit` is the power of two that ends
/// the last of them (0: never; infinity: every finite `m`).
pub(crate) fn replay_limit(margin: f64, chars: u32) -> f32 {
    let k = (chars + 1) as f64;
    // Binade of biased exponent e (values below 2^(e-126)) has the bound 2^(e-149).
    let ok = |e: i32| margin > k * 2f64.powi(e - 149);
    if !ok(1) {
        return 0.0;
    }
    // Start from the exponent of margin / k (a guess the loops below correct).
    let r = margin / k;
    let mut e = if r.is_normal() { ((r.to_bits() >> 52) as i32 - 1023 + 149).clamp(1, 254) } else { 254 };
    while e > 1 && !ok(e) {
        e -= 1;
    }
    while e < 254 && ok(e + 1) {
        e += 1;
    }
    if e == 254 {
        f32::INFINITY
    } else {
        2f32.powi(e - 126)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tokenize::packed::pack;

    #[test]
    fn slot_is_one_line() {
        assert_eq!(std::mem::size_of::<Slot>(), 64);
        assert_eq!(std::mem::align_of::<Slot>(), 64);
    }

    #[test]
    fn insert_get_clear_overwrite() {
        let mut t = Slots::default();
        assert!(t.get(pack(b"x")).is_none());
        for i in 0..1000u32 {
            let w = format!("w{i}");
            t.insert(pack(w.as_bytes()), Slot { n: 1, ids: [i, 0, 0, 0, 0, 0], ..Slot::default() });
        }
        for i in 0..1000u32 {
            let w = format!("w{i}");
            assert_eq!(t.get(pack(w.as_bytes())).map(|s| s.ids[0]), Some(i));
        }
        t.clear();
        assert!(t.get(pack(b"w1")).is_none());
        assert_eq!(t.len(), 0);
        // One key again: its slot is replaced.
        let k = pack(b"k");
        t.insert(k, Slot { n: 2, ..Slot::default() });
        t.insert(k, Slot { n: 3, ..Slot::default() });
        assert_eq!(t.get(k).map(|s| s.n), Some(3));
    }

    /// `replay_limit` against the rule it stands for, binade by binade.
    #[test]
    fn limit_matches_the_rule() {
        let bound = |m: f32, chars: u32| {
            let x = m.max(f32::MIN_POSITIVE);
            let e = ((x.to_bits() >> 23) & 0xff) as i32;
            (chars + 1) as f64 * 2f64.powi(e - 149)
        };
        for &margin in &[0.0, 1e-30, 1e-7, 3e-6, 0.001, 0.5, 2.0, 1e10, f64::INFINITY, f64::NAN] {
            for chars in [0u32, 1, 5, 63] {
                let limit = replay_limit(margin, chars);
                for m in [0.0f32, 1e-40, 1e-20, 1e-3, 0.7, 1.0, 3.9, 100.0, 4096.5, 1e6, 1e20, 3e38] {
                    let usable = m < limit;
                    let rule = m.is_finite() && margin > bound(m, chars);
                    assert_eq!(usable, rule, "margin {margin} chars {chars} m {m} limit {limit}");
                }
            }
        }
    }
}
