//! A static double-array trie over byte strings with a `u32` value per key: the dictionary
//! behind Unigram's Viterbi (every vocabulary piece that starts at a position) and behind
//! sentencepiece's user-defined-symbol matcher and piece lookups.
//!
//! Layout: an array of 8-byte units `{base, check}` and beside it the values (`value` generic:
//! an id, or for the sentencepiece Viterbi the piece's score and kind), read only where a key
//! ends: a walk touches half the memory it would with the values inside the units, which
//! keeps the transitions of a typical vocabulary in L2. The child of node `s` by byte `c` is
//! `t = base[s] + c`, valid when `check[t] == s`; the root is unit 0. Bit 31 of `base` marks a
//! node where a key ends. The array is padded so that `base + 255` is always in range: a
//! transition is one load, one compare, no bounds miss.
//!
//! Build: keys are sorted (stable, so for a repeated key the last one given wins, as Hugging
//! Face's `token_to_ids` map does), then nodes are placed depth-first; each node's children
//! go at the first base where all their slots are free (a scan over a linked list of the
//! free slots). Cost O(total key bytes x scan), a few ms for 250k pieces; lookup O(key length).
//! Invariants: `check[0] == ROOT_CHECK`, free slots have `check == FREE`, every `base` is
//! `< units.len() - 255`.

const FREE: u32 = u32::MAX;
const ROOT_CHECK: u32 = u32::MAX - 1;

/// A unit: the transition fields.
#[derive(Clone, Copy, Debug)]
struct Unit {
    base: u32,
    check: u32,
}

const EMPTY: Unit = Unit { base: 0, check: FREE };
const LEAF: u32 = 1 << 31;

/// The trie; `P` is the value of a key (an id, or whatever a walk wants at hand).
#[derive(Clone, Debug)]
pub(crate) struct PieceTrie<P = u32> {
    units: Vec<Unit>,
    /// `values[t]`: the value of the key ending at unit `t` (default elsewhere).
    values: Vec<P>,
}

impl<P: Copy + Default> PieceTrie<P> {
    /// Build from `(key, value)` pairs; empty keys are ignored (no lookup ever yields one, as
    /// in Hugging Face's trie). For a repeated key the last pair wins.
    pub(crate) fn build<'a>(keys: impl IntoIterator<Item = (&'a [u8], P)>) -> PieceTrie<P> {
        let mut keys: Vec<(&[u8], P)> = keys.into_iter().filter(|k| !k.0.is_empty()).collect();
        keys.sort_by(|a, b| a.0.cmp(b.0));
        // Keep the last of each run of equal keys.
        let mut dedup: Vec<(&[u8], P)> = Vec::with_capacity(keys.len());
        for k in keys {
            match dedup.last_mut() {
                Some(last) if last.0 == k.0 => *last = k,
                _ => dedup.push(k),
            }
        }
        let mut b = Builder::new();
        // Depth-first: (node, lo, hi, depth) where keys[lo..hi] share the node's prefix.
        let mut stack = vec![(0u32, 0usize, dedup.len(), 0usize)];
        let mut labels: Vec<(u8, usize, usize)> = Vec::new();
        while let Some((node, mut lo, hi, depth)) = stack.pop() {
            if lo < hi && dedup[lo].0.len() == depth {
                b.values.push((node, lo as u32));
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
        // 2^31 slots would need 16 GB: out of memory long before the flag bit is reached.
        debug_assert!(max_base < LEAF as usize - 256);
        b.units.truncate((last_used + 1).max(max_base + 256));
        b.units.resize((last_used + 1).max(max_base + 256), EMPTY);
        let mut units = b.units;
        let mut values = vec![P::default(); units.len()];
        for &(node, k) in &b.values {
            values[node as usize] = dedup[k as usize].1;
            units[node as usize].base |= LEAF;
        }
        PieceTrie { units, values }
    }

    /// Call `f(len, value)` for every key that is a prefix of `s`, shortest first.
    #[inline]
    pub(crate) fn prefixes(&self, s: &[u8], mut f: impl FnMut(usize, P)) {
        let u = &self.units;
        let mut node = 0u32;
        let mut base = (u[0].base & !LEAF) as usize;
        for (i, &c) in s.iter().enumerate() {
            let t = base + c as usize;
            let unit = u[t];
            if unit.check != node {
                return;
            }
            node = t as u32;
            base = (unit.base & !LEAF) as usize;
            if unit.base & LEAF != 0 {
                f(i + 1, self.values[t]);
            }
        }
    }

    /// The longest key that is a prefix of `s`: `(len, value)`.
    #[inline]
    pub(crate) fn longest(&self, s: &[u8]) -> Option<(usize, P)> {
        let mut best = None;
        self.prefixes(s, |n, id| best = Some((n, id)));
        best
    }

    /// The node `key` leads to from the root, if every byte of it has an edge.
    #[inline]
    fn walk(&self, key: &[u8]) -> Option<usize> {
        let u = &self.units;
        let mut node = 0usize;
        for &c in key {
            let t = (u[node].base & !LEAF) as usize + c as usize;
            if u[t].check != node as u32 {
                return None;
            }
            node = t;
        }
        Some(node)
    }

    /// Whether some key starts with `p`.
    pub(crate) fn has_prefix(&self, p: &[u8]) -> bool {
        self.walk(p).is_some()
    }

    /// The value of exactly `key`.
    #[inline]
    pub(crate) fn get(&self, key: &[u8]) -> Option<P> {
        let node = self.walk(key)?;
        (self.units[node].base & LEAF != 0 && !key.is_empty()).then(|| self.values[node])
    }
}

struct Builder {
    units: Vec<Unit>,
    /// `(node, key index)` of every key end.
    values: Vec<(u32, u32)>,
    /// Free slots as a doubly linked list in increasing order (`next[i]`, `prev[i]` valid
    /// for free `i`; `head` the first, `tail` the last), so a base search visits free slots
    /// only: slots low in the array that no label fits stay free forever and a plain scan
    /// would cross the whole used region for every node.
    next: Vec<u32>,
    prev: Vec<u32>,
    head: u32,
    tail: u32,
}

const NIL: u32 = u32::MAX;

impl Builder {
    fn new() -> Builder {
        let mut b = Builder { units: Vec::new(), values: Vec::new(), next: Vec::new(), prev: Vec::new(), head: NIL, tail: NIL };
        b.ensure(512);
        b.take(0);
        b.units[0].check = ROOT_CHECK;
        b
    }

    /// Find a base where every label's slot is free, claim the slots for `parent`, return it.
    fn place(&mut self, labels: &[(u8, usize, usize)], parent: u32) -> u32 {
        let first = labels[0].0 as usize;
        let mut pos = self.head;
        let base = loop {
            if pos == NIL {
                // Everything is taken: grow and continue from the old end.
                let old = self.units.len();
                self.ensure(old + 256);
                pos = old as u32;
                continue;
            }
            let p = pos as usize;
            if p > first {
                let base = p - first;
                self.ensure(base + 256);
                if labels.iter().all(|l| self.units[base + l.0 as usize].check == FREE) {
                    break base;
                }
            }
            pos = self.next[p];
        };
        self.units[parent as usize].base = base as u32;
        for l in labels {
            self.take(base + l.0 as usize);
            self.units[base + l.0 as usize].check = parent;
        }
        base as u32
    }

    /// Unlink free slot `i`.
    fn take(&mut self, i: usize) {
        let (p, n) = (self.prev[i], self.next[i]);
        if p == NIL {
            self.head = n;
        } else {
            self.next[p as usize] = n;
        }
        if n == NIL {
            self.tail = p;
        } else {
            self.prev[n as usize] = p;
        }
    }

    /// Grow to at least `n` slots, appending the new ones to the free list.
    fn ensure(&mut self, n: usize) {
        let old = self.units.len();
        if old >= n {
            return;
        }
        let new = (n * 2).max(1024);
        self.units.resize(new, EMPTY);
        self.next.resize(new, NIL);
        self.prev.resize(new, NIL);
        for i in old..new {
            self.prev[i] = self.tail;
            if self.tail == NIL {
                self.head = i as u32;
            } else {
                self.next[self.tail as usize] = i as u32;
            }
            self.tail = i as u32;
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
