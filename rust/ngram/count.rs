//! Counting all n-grams of orders 1..=N over token sequences.
//!
//! Input is CSR: `ids` with `offsets` (sequence `i` is `ids[offsets[i]..offsets[i+1]]`).
//! Each sequence can be framed with `bos`/`eos` ids (KenLM's `<s>`/`</s>`); n-grams never
//! cross sequence boundaries. For each order every window is packed into a `u128` (ids take
//! `bits = ceil(log2(max id + 1))` bits each, so `n * bits <= 128` is required: order 7 for a
//! 100k vocabulary, order 16 for 256 ids), the keys are sorted in parallel and runs counted.
//! The sorted multiset is unique, so the result is the same for every thread count.
//!
//! Cost: u64 keys (when `n * bits <= 64`) are LSD radix sorted, O(T) per order for T windows
//! with 16 bytes of scratch per window; u128 keys are MSD radix sorted in place (American flag
//! sort, buckets in parallel). Orders run in parallel. Every pass checks the call's
//! cancellation token about every million keys.

use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::parallel::{self, CancelToken};

/// Sorted counts of one order: `grams.len() == counts.len() * n`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OrderCounts {
    pub n: usize,
    pub grams: Vec<u32>,
    pub counts: Vec<u64>,
}

impl OrderCounts {
    /// Number of distinct n-grams.
    pub fn len(&self) -> usize {
        self.counts.len()
    }
    pub fn is_empty(&self) -> bool {
        self.counts.is_empty()
    }
    /// Row `i`.
    pub fn gram(&self, i: usize) -> &[u32] {
        &self.grams[i * self.n..(i + 1) * self.n]
    }
    /// Count of `gram` (0 if absent).
    pub fn get(&self, gram: &[u32]) -> u64 {
        if gram.len() != self.n {
            return 0;
        }
        find(&self.grams, &self.counts, self.n, gram)
    }
}

/// Binary search for one row in a sorted table given as slices.
fn find(grams: &[u32], counts: &[u64], n: usize, q: &[u32]) -> u64 {
    let (mut lo, mut hi) = (0, counts.len());
    while lo < hi {
        let mid = (lo + hi) / 2;
        match grams[mid * n..(mid + 1) * n].cmp(q) {
            std::cmp::Ordering::Less => lo = mid + 1,
            std::cmp::Ordering::Greater => hi = mid,
            std::cmp::Ordering::Equal => return counts[mid],
        }
    }
    0
}

/// Counts of `queries` (rows of `n` ids back to back) in a sorted table given as slices: binary
/// search per query, no copy of the table. Unseen n-grams count 0.
pub fn lookup(grams: &[u32], counts: &[u64], n: usize, queries: &[u32]) -> Result<Vec<u64>> {
    if n == 0 || grams.len() != counts.len() * n || queries.len() % n != 0 {
        return Err(Error::Shape(format!(
            "lookup of order {n}: {} table ids for {} counts, {} query ids",
            grams.len(),
            counts.len(),
            queries.len()
        )));
    }
    Ok(queries.chunks(n).map(|q| find(grams, counts, n, q)).collect())
}

/// Validate CSR offsets against `len` ids.
pub(crate) fn check_offsets(offsets: &[i64], len: usize) -> Result<()> {
    if offsets.is_empty() || offsets[0] != 0 || offsets[offsets.len() - 1] != len as i64 {
        return Err(Error::Shape(format!("offsets must start at 0 and end at len(ids)={len} (got {} offsets)", offsets.len())));
    }
    if let Some(i) = offsets.windows(2).position(|w| w[1] < w[0]) {
        return Err(Error::Shape(format!("offsets must be non-decreasing (offsets[{}] > offsets[{}])", i, i + 1)));
    }
    Ok(())
}

/// Count n-grams of orders `1..=order`; returns one table per order (index 0 = unigrams).
pub fn count(
    ids: &[u32],
    offsets: &[i64],
    order: usize,
    bos: Option<u32>,
    eos: Option<u32>,
    num_threads: Option<usize>,
) -> Result<Vec<OrderCounts>> {
    if order == 0 {
        return Err(Error::Value("order must be at least 1".into()));
    }
    check_offsets(offsets, ids.len())?;
    let max_id = ids.iter().copied().chain(bos).chain(eos).max().unwrap_or(0);
    let bits = (32 - max_id.leading_zeros()).max(1) as usize;
    if order * bits > 128 {
        return Err(Error::Value(format!(
            "order {order} with ids up to {max_id} ({bits} bits each) does not fit the 128-bit n-gram key; \
             at most order {} here",
            128 / bits
        )));
    }
    // Frame every sequence once, so windows are plain slices.
    let framed: Vec<u32>;
    let fo: Vec<usize>;
    {
        let extra = bos.is_some() as usize + eos.is_some() as usize;
        let mut f = Vec::with_capacity(ids.len() + extra * (offsets.len() - 1));
        let mut o = Vec::with_capacity(offsets.len());
        o.push(0);
        for w in offsets.windows(2) {
            f.extend(bos);
            f.extend_from_slice(&ids[w[0] as usize..w[1] as usize]);
            f.extend(eos);
            o.push(f.len());
        }
        framed = f;
        fo = o;
    }
    // Orders are independent: count them in parallel (the result is the same either way).
    let cancel = parallel::cancel_token();
    cancel.check()?;
    parallel::install(num_threads, || (1..=order).into_par_iter().map(|n| count_order(&framed, &fo, n, bits, &cancel)).collect())?
}

fn count_order(framed: &[u32], fo: &[usize], n: usize, bits: usize, cancel: &CancelToken) -> Result<OrderCounts> {
    // u64 keys when they fit (order 3 of a 100k vocabulary does): half the memory and a
    // faster sort than u128.
    if n * bits <= 64 {
        count_keys::<u64>(framed, fo, n, bits, cancel)
    } else {
        count_keys::<u128>(framed, fo, n, bits, cancel)
    }
}

/// Keys between two looks at the cancellation token in the sorting passes.
const CHECK_EVERY: usize = 1 << 20;

/// An unsigned key wide enough for `n * bits` bits.
trait Key: Copy + Ord + Send + Sync {
    /// Sort keys that use only their low `nbits` bits.
    fn sort(keys: &mut Vec<Self>, nbits: usize, cancel: &CancelToken) -> Result<()>;
    fn push(self, bits: usize, x: u32) -> Self;
    fn field(self, shift: usize, mask: u32) -> u32;
    const ZERO: Self;
}

impl Key for u64 {
    fn sort(keys: &mut Vec<Self>, nbits: usize, cancel: &CancelToken) -> Result<()> {
        radix_sort(keys, nbits, cancel)
    }
    fn push(self, bits: usize, x: u32) -> Self {
        (self << bits) | x as u64
    }
    fn field(self, shift: usize, mask: u32) -> u32 {
        (self >> shift) as u32 & mask
    }
    const ZERO: Self = 0;
}

impl Key for u128 {
    fn sort(keys: &mut Vec<Self>, nbits: usize, cancel: &CancelToken) -> Result<()> {
        flag_sort(keys, nbits, cancel)
    }
    fn push(self, bits: usize, x: u32) -> Self {
        (self << bits) | x as u128
    }
    fn field(self, shift: usize, mask: u32) -> u32 {
        (self >> shift) as u32 & mask
    }
    const ZERO: Self = 0;
}

fn count_keys<K: Key>(framed: &[u32], fo: &[usize], n: usize, bits: usize, cancel: &CancelToken) -> Result<OrderCounts> {
    // Window i of the whole corpus lives in the sequence s with before[s] <= i < before[s + 1];
    // keys are written in place in parallel blocks (no per-thread buffers to concatenate).
    let mut before = Vec::with_capacity(fo.len());
    before.push(0usize);
    for w in fo.windows(2) {
        before.push(before.last().unwrap() + (w[1] - w[0]).saturating_sub(n - 1));
    }
    let total = *before.last().unwrap();
    let mut keys: Vec<K> = vec![K::ZERO; total];
    const BLOCK: usize = 1 << 16;
    keys.par_chunks_mut(BLOCK).enumerate().for_each(|(b, out)| {
        if cancel.is_cancelled() {
            return; // the keys are not used: the sort below returns the error
        }
        let first = b * BLOCK;
        let mut s = before.partition_point(|&x| x <= first) - 1;
        for (j, k) in out.iter_mut().enumerate() {
            let i = first + j;
            while before[s + 1] <= i {
                s += 1;
            }
            let p = fo[s] + (i - before[s]);
            *k = framed[p..p + n].iter().fold(K::ZERO, |k, &x| k.push(bits, x));
        }
    });
    cancel.check()?;
    K::sort(&mut keys, n * bits, cancel)?;
    // Size the outputs exactly (one cheap pass) instead of growing them by doubling.
    let distinct = if keys.is_empty() { 0 } else { 1 + keys.windows(2).filter(|w| w[0] != w[1]).count() };
    let mask = if bits >= 32 { u32::MAX } else { (1u32 << bits) - 1 };
    let mut grams = Vec::with_capacity(distinct * n);
    let mut counts: Vec<u64> = Vec::with_capacity(distinct);
    let mut i = 0;
    while i < keys.len() {
        let k = keys[i];
        let mut j = i + 1;
        while j < keys.len() && keys[j] == k {
            j += 1;
        }
        for p in (0..n).rev() {
            grams.push(k.field(p * bits, mask));
        }
        counts.push((j - i) as u64);
        i = j;
    }
    Ok(OrderCounts { n, grams, counts })
}

/// LSD radix sort of keys using their low `nbits` bits, 11 bits per pass: a few linear passes
/// instead of a comparison sort (order 3 of a 100k vocabulary takes 5).
fn radix_sort(keys: &mut Vec<u64>, nbits: usize, cancel: &CancelToken) -> Result<()> {
    const D: usize = 11;
    if keys.len() < 1 << 12 {
        keys.sort_unstable();
        return Ok(());
    }
    let mut tmp = vec![0u64; keys.len()];
    let mut shift = 0;
    while shift < nbits {
        let mut hist = vec![0usize; 1 << D];
        for part in keys.chunks(CHECK_EVERY) {
            cancel.check()?;
            for &k in part {
                hist[((k >> shift) as usize) & ((1 << D) - 1)] += 1;
            }
        }
        let mut sum = 0;
        for h in hist.iter_mut() {
            let c = *h;
            *h = sum;
            sum += c;
        }
        for part in keys.chunks(CHECK_EVERY) {
            cancel.check()?;
            for &k in part {
                let d = ((k >> shift) as usize) & ((1 << D) - 1);
                tmp[hist[d]] = k;
                hist[d] += 1;
            }
        }
        std::mem::swap(keys, &mut tmp);
        shift += D;
    }
    Ok(())
}

/// In-place MSD radix sort (American flag sort) of keys using their low `nbits` bits, 8 bits a
/// level: count the top digit, move every key into its bucket by cycles of swaps, then sort the
/// buckets (in parallel) on the next digit; small buckets go to pdqsort. No scratch memory, so
/// u128 keys (16 bytes per window) cost no second copy, and every pass can stop early.
fn flag_sort<K: Key>(keys: &mut [K], nbits: usize, cancel: &CancelToken) -> Result<()> {
    const SMALL: usize = 1 << 13;
    if keys.len() <= SMALL || nbits == 0 {
        keys.sort_unstable();
        return Ok(());
    }
    let d = nbits.min(8);
    let shift = nbits - d;
    let mask = (1u32 << d) - 1;
    let digit = |k: K| k.field(shift, mask) as usize;
    let mut count = [0usize; 256];
    for part in keys.chunks(CHECK_EVERY) {
        cancel.check()?;
        for &k in part {
            count[digit(k)] += 1;
        }
    }
    if count.contains(&keys.len()) {
        return flag_sort(keys, shift, cancel); // one bucket: go straight to the next digit
    }
    let mut head = [0usize; 256];
    let mut end = [0usize; 256];
    let mut sum = 0;
    for b in 0..256 {
        head[b] = sum;
        sum += count[b];
        end[b] = sum;
    }
    let mut moved = 0;
    for b in 0..256 {
        while head[b] < end[b] {
            // Carry the key at the bucket's head around its cycle until one belongs here.
            let mut v = keys[head[b]];
            loop {
                let db = digit(v);
                if db == b {
                    break;
                }
                std::mem::swap(&mut v, &mut keys[head[db]]);
                head[db] += 1;
                moved += 1;
                if moved % CHECK_EVERY == 0 {
                    cancel.check()?; // the keys are scrambled, but the caller drops them
                }
            }
            keys[head[b]] = v;
            head[b] += 1;
        }
    }
    let mut buckets = Vec::with_capacity(256);
    let mut rest = keys;
    for &c in &count {
        let (a, b) = rest.split_at_mut(c);
        if c > 1 {
            buckets.push(a);
        }
        rest = b;
    }
    buckets.into_par_iter().try_for_each(|s| flag_sort(s, shift, cancel))
}

/// Merge two tables of the same order (counts add). Both must be sorted, as produced here.
pub fn merge(a: &OrderCounts, b: &OrderCounts) -> Result<OrderCounts> {
    if a.n != b.n {
        return Err(Error::Shape(format!("cannot merge order {} counts with order {} counts", a.n, b.n)));
    }
    for t in [a, b] {
        if t.grams.len() != t.counts.len() * t.n {
            return Err(Error::Shape(format!("order {} table: {} ids for {} counts", t.n, t.grams.len(), t.counts.len())));
        }
        if (1..t.len()).any(|i| t.gram(i - 1) >= t.gram(i)) {
            return Err(Error::Value(format!("order {} table is not strictly sorted", t.n)));
        }
    }
    let mut out = OrderCounts { n: a.n, grams: Vec::with_capacity(a.grams.len() + b.grams.len()), counts: Vec::new() };
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        let ord = if i == a.len() {
            std::cmp::Ordering::Greater
        } else if j == b.len() {
            std::cmp::Ordering::Less
        } else {
            a.gram(i).cmp(b.gram(j))
        };
        match ord {
            std::cmp::Ordering::Less => {
                out.grams.extend_from_slice(a.gram(i));
                out.counts.push(a.counts[i]);
                i += 1;
            }
            std::cmp::Ordering::Greater => {
                out.grams.extend_from_slice(b.gram(j));
                out.counts.push(b.counts[j]);
                j += 1;
            }
            std::cmp::Ordering::Equal => {
                out.grams.extend_from_slice(a.gram(i));
                out.counts.push(a.counts[i].checked_add(b.counts[j]).ok_or_else(|| Error::Value("count overflow".into()))?);
                i += 1;
                j += 1;
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

    #[test]
    fn students_opened_their() {
        // "the students opened their": 4, 3, 2, 1 distinct n-grams for n = 1..4
        let c = count(&[0, 1, 2, 3], &[0, 4], 4, None, None, Some(1)).unwrap();
        assert_eq!(c.iter().map(|t| t.len()).collect::<Vec<_>>(), vec![4, 3, 2, 1]);
        assert_eq!(c[2].get(&[1, 2, 3]), 1);
    }

    #[test]
    fn framing_and_boundaries() {
        let c = count(&[5, 6, 5], &[0, 2, 3], 2, Some(0), Some(1), Some(2)).unwrap();
        // sequences: <s> 5 6 </s> | <s> 5 </s>
        assert_eq!(c[1].get(&[0, 5]), 2);
        assert_eq!(c[1].get(&[6, 0]), 0); // never across sequences
        assert_eq!(c[0].get(&[1]), 2);
    }

    #[test]
    fn radix_sort_sorts() {
        let mut x: Vec<u64> = (0..20_000u64).map(|i| (i * 2_654_435_761) % 1_000_003).collect();
        let mut want = x.clone();
        want.sort_unstable();
        radix_sort(&mut x, 20, &CancelToken::never()).unwrap();
        assert_eq!(x, want);
    }

    #[test]
    fn flag_sort_sorts_skewed_and_wide_keys() {
        // Zipf-like skew in the top digits, keys over 100 bits, and duplicates.
        let mut x: Vec<u128> = (0..200_000u128)
            .map(|i| {
                let top = (i * 7919 % 1000).pow(2) / 997; // mostly small first ids
                (top << 90) | ((i * 2_654_435_761) % 1_000_003) << 20 | (i % 17)
            })
            .collect();
        let mut want = x.clone();
        want.sort_unstable();
        flag_sort(&mut x, 110, &CancelToken::never()).unwrap();
        assert_eq!(x, want);
    }

    #[test]
    fn cancelled_count_stops() {
        let ids: Vec<u32> = (0..100_000u32).map(|i| i % 5000).collect();
        let token = CancelToken::new();
        token.cancel();
        let r = parallel::with_token(token, || count(&ids, &[0, ids.len() as i64], 3, None, None, Some(2)));
        assert!(matches!(r, Err(Error::Interrupted)));
    }

    proptest! {
        #[test]
        fn equals_hashmap_and_merge_adds(seqs in prop::collection::vec(prop::collection::vec(prop_oneof![0u32..6, 70_000u32..70_006], 0..12), 0..6), order in 1usize..6) {
            let ids: Vec<u32> = seqs.concat();
            let mut offs = vec![0i64];
            for s in &seqs { offs.push(offs.last().unwrap() + s.len() as i64); }
            let c = count(&ids, &offs, order, None, None, Some(2)).unwrap();
            for n in 1..=order {
                let mut want: HashMap<Vec<u32>, u64> = HashMap::new();
                for s in &seqs { for w in s.windows(n) { *want.entry(w.to_vec()).or_default() += 1; } }
                prop_assert_eq!(c[n - 1].len(), want.len());
                for (g, k) in &want { prop_assert_eq!(c[n - 1].get(g), *k); }
            }
            let doubled = merge(&c[order - 1], &c[order - 1]).unwrap();
            for i in 0..doubled.len() { prop_assert_eq!(doubled.counts[i], 2 * c[order - 1].counts[i]); }
        }
    }
}
