//! A static double-array trie over byte strings with a `u32` value per key: the dictionary
//! behind Unigram's Viterbi (every vocabulary piece that starts at a position) and behind
//! sentencepiece's user-defined-symbol matcher and piece lookups.
//!
//! Layout: one array of units `{base, check, value}`. The child of node `s` by byte `c` is
//! `t = base[s] + c`, valid when `check[t] == s`; the root is unit 0. `value` is the key's id
//! when a key ends at that node, else `NONE`. The array is padded so that `base + 255` is
//! always in range: a transition is one load, one compare, no bounds miss.
//!
//! Build: keys are sorted (stable, so for a repeated key the last one given wins, as Hugging
//! Face's `token_to_ids` map does), then nodes are placed depth-first; each node's children
//! go at the first base where all their slots are free (a linear scan from the first free
//! slot). Cost O(total key bytes x scan), a few ms for 250k pieces; lookup O(key length).
//! Invariants: `check[0] == ROOT_CHECK`, free slots have `check == FREE`, every `base` is
//! `< units.len() - 255`.

pub(crate) const NONE: u32 = u32::MAX;
const FREE: u32 = u32::MAX;
const ROOT_CHECK: u32 = u32::MAX - 1;

#[derive(Clone, Copy, Debug)]
struct Unit {
    base: u32,
    check: u32,
    value: u32,
}

const EMPTY: Unit = Unit { base: 0, check: FREE, value: NONE };

#[derive(Clone, Debug)]
pub(crate) struct PieceTrie {
    units: Vec<Unit>,
}

impl PieceTrie {
    /// Build from `(key, id)` pairs; empty keys are ignored (no lookup ever yields one, as in
    /// Hugging Face's trie). For a repeated key the last pair wins.
    pub(crate) fn build<'a>(keys: impl IntoIterator<Item = (&'a [u8], u32)>) -> PieceTrie {
        let mut keys: Vec<(&[u8], u32)> = keys.into_iter().filter(|k| !k.0.is_empty()).collect();
        keys.sort_by(|a, b| a.0.cmp(b.0));
        // Keep the last of each run of equal keys.
        let mut dedup: Vec<(&[u8], u32)> = Vec::with_capacity(keys.len());
        for k in keys {
            match dedup.last_mut() {
                Some(last) if last.0 == k.0 => *last = k,
                _ => dedup.push(k),
            }
        }
        let mut b = Builder { units: vec![EMPTY; 512], first_free: 1 };
        b.units[0].check = ROOT_CHECK;
        // Depth-first: (node, lo, hi, depth) where keys[lo..hi] share the node's prefix.
        let mut stack = vec![(0u32, 0usize, dedup.len(), 0usize)];
        let mut labels: Vec<(u8, usize, usize)> = Vec::new();
        while let Some((node, mut lo, hi, depth)) = stack.pop() {
            if lo < hi && dedup[lo].0.len() == depth {
                b.units[node as usize].value = dedup[lo].1;
                lo += 1;
            }
            if lo == hi {
                continue;
            }
            labels.clear();
            let mut i = lo;
            while i < hi {
                let c = dedup[i].0[depth];
                let mut j = i + 1;
                while j < hi && dedup[j].0[depth] == c {
                    j += 1;
                }
                labels.push((c, i, j));
                i = j;
            }
            let base = b.place(&labels, node);
            for &(c, i, j) in labels.iter().rev() {
                stack.push((base + c as u32, i, j, depth + 1));
            }
        }
        // Trim trailing free slots but keep 256 of padding past the last base.
        let last_used = b.units.iter().rposition(|u| u.check != FREE).unwrap_or(0);
        let max_base = b.units[..=last_used].iter().filter(|u| u.check != FREE).map(|u| u.base as usize).max().unwrap_or(0);
        b.units.truncate((last_used + 1).max(max_base + 256));
        b.units.resize((last_used + 1).max(max_base + 256), EMPTY);
        PieceTrie { units: b.units }
    }

    /// Call `f(len, id)` for every key that is a prefix of `s`, shortest first.
    #[inline]
    pub(crate) fn prefixes(&self, s: &[u8], mut f: impl FnMut(usize, u32)) {
        let u = &self.units;
        let mut node = 0usize;
        for (i, &c) in s.iter().enumerate() {
            let t = u[node].base as usize + c as usize;
            let unit = u[t];
            if unit.check != node as u32 {
                return;
            }
            node = t;
            if unit.value != NONE {
                f(i + 1, unit.value);
            }
        }
    }

    /// The longest key that is a prefix of `s`: `(len, id)`.
    #[inline]
    pub(crate) fn longest(&self, s: &[u8]) -> Option<(usize, u32)> {
        let mut best = None;
        self.prefixes(s, |n, id| best = Some((n, id)));
        best
    }

    /// The id of exactly `key`.
    #[inline]
    pub(crate) fn get(&self, key: &[u8]) -> Option<u32> {
        let u = &self.units;
        let mut node = 0usize;
        for &c in key {
            let t = u[node].base as usize + c as usize;
            if u[t].check != node as u32 {
                return None;
            }
            node = t;
        }
        let v = u[node].value;
        (v != NONE && !key.is_empty()).then_some(v)
    }
}

struct Builder {
    units: Vec<Unit>,
    /// No slot below this is free.
    first_free: usize,
}

impl Builder {
    /// Find a base where every label's slot is free, claim the slots for `parent`, return it.
    fn place(&mut self, labels: &[(u8, usize, usize)], parent: u32) -> u32 {
        let first = labels[0].0 as usize;
        let mut pos = self.first_free.max(first + 1);
        let base = loop {
            self.ensure(pos + 256);
            if self.units[pos].check == FREE {
                let base = pos - first;
                if labels.iter().all(|l| self.units[base + l.0 as usize].check == FREE) {
                    break base;
                }
            }
            pos += 1;
        };
        self.ensure(base + 256);
        self.units[parent as usize].base = base as u32;
        for l in labels {
            self.units[base + l.0 as usize].check = parent;
        }
        while self.first_free < self.units.len() && self.units[self.first_free].check != FREE {
            self.first_free += 1;
        }
        base as u32
    }

    fn ensure(&mut self, n: usize) {
        if self.units.len() < n {
            let new = (n * 2).max(1024);
            self.units.resize(new, EMPTY);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn naive_prefixes(keys: &[(Vec<u8>, u32)], s: &[u8]) -> Vec<(usize, u32)> {
        let mut v: Vec<(usize, u32)> = Vec::new();
        for n in 1..=s.len() {
            if let Some(k) = keys.iter().rev().find(|k| k.0 == s[..n]) {
                v.push((n, k.1));
            }
        }
        v
    }

    #[test]
    fn basic() {
        let keys: Vec<(&[u8], u32)> = vec![(b"a", 0), (b"ab", 1), (b"abc", 2), (b"b", 3), (b"", 9), (b"ab", 7)];
        let t = PieceTrie::build(keys);
        let mut got = Vec::new();
        t.prefixes(b"abcd", |n, id| got.push((n, id)));
        assert_eq!(got, vec![(1, 0), (2, 7), (3, 2)]);
        assert_eq!(t.get(b"ab"), Some(7));
        assert_eq!(t.get(b""), None);
        assert_eq!(t.get(b"abcd"), None);
        assert_eq!(t.longest(b"bx"), Some((1, 3)));
        assert_eq!(t.longest(b"x"), None);
        let e = PieceTrie::build(Vec::<(&[u8], u32)>::new());
        assert_eq!(e.longest(b"\xff\x00"), None);
    }

    proptest! {
        #[test]
        fn matches_naive(keys in proptest::collection::vec((proptest::collection::vec(0u8..6, 0..5), 0u32..100), 0..40),
                         extra in proptest::collection::vec((proptest::collection::vec(any::<u8>(), 1..4), 0u32..100), 0..20),
                         s in proptest::collection::vec(0u8..7, 0..8)) {
            let mut all = keys.clone();
            all.extend(extra);
            let t = PieceTrie::build(all.iter().map(|k| (k.0.as_slice(), k.1)));
            let mut got = Vec::new();
            t.prefixes(&s, |n, id| got.push((n, id)));
            let nonempty: Vec<(Vec<u8>, u32)> = all.iter().filter(|k| !k.0.is_empty()).cloned().collect();
            prop_assert_eq!(got, naive_prefixes(&nonempty, &s));
            for k in &nonempty {
                prop_assert_eq!(t.get(&k.0), nonempty.iter().rev().find(|x| x.0 == k.0).map(|x| x.1));
            }
        }
    }
}
