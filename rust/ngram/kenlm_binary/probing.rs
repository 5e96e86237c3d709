//! KenLM's probing formats (model types 0 and 1; kenlm's `lm/search_hashed.cc`,
//! `lm/vocab.cc`, `util/probing_hash_table.hh`).
//!
//! After the header:
//! ```text
//! vocabulary  u32 version 0, u32 bound (word ids incl. <unk> = 0), then a linear-probing table
//!             of {u64 murmur hash of the word, u32 id} (12 bytes each)
//! unigrams    (count + 1) x {f32 prob, f32 backoff [, f32 rest]} by word id
//! middles     per order 2..N-1: a table of {u64 key, f32 prob, f32 backoff [, f32 rest]}
//! longest     a table of {u64 key, f32 prob}
//! ```
//! A table of `c` n-grams has `max(c + 1, (multiplier * c) as u64)` buckets; a key sits at
//! bucket `key % buckets` or after it (linear probing, key 0 = empty). The key of `w1 .. wn`
//! is `combine(key(w2 .. wn), w1)` with `key(w) = w` and `combine(h, w) = h * A ^ (w + 1) * B`.
//! A stored prob has its sign bit clear when the n-gram is the suffix of a longer one ("extends
//! left"), a backoff is not -0.0 when the n-gram is the context of a longer one (or has a
//! backoff); the true prob is `-|prob|`. KenLM inserts missing suffixes, and every context is
//! present, so the files are closed both ways.
//!
//! The words of an n-gram are not stored, only its key. They are recovered order by order:
//! `w1 .. wn` is in the table only if its context `w1 .. wn-1` is an (n-1)-gram flagged as a
//! context and its suffix `w2 .. wn` one flagged as extending left, both sharing the middle
//! `m = w2 .. wn-1`. So for each middle `m`, every such (context, suffix) pair is a candidate
//! whose key is probed; every stored key must be found exactly once. The cost is the number of
//! candidates, `sum over m of |contexts ending in m| x |suffixes starting with m|` (for bigrams
//! `|unigrams that are contexts| x |unigrams that extend left|`, about V^2), a few ns each (an
//! XOR and a cache-resident filter bit): seconds for vocabularies of tens of thousands (8-16 s
//! for 46k words on a busy 2-core machine), too slow for large ones; above [`MAX_CANDIDATES`]
//! the read stops with an error that says so (convert to a trie with `build_binary trie`, which
//! is read exactly and fast).

use rayon::prelude::*;
use rustc_hash::FxHashMap;

use super::assemble::{Builder, Grams};
use super::bytes::{le32, le64, Bytes};
use super::{read_words, Header};
use crate::error::Result;
use crate::ngram::model::Model;

/// Most candidate n-grams tested while recovering a probing file's n-grams (about a minute or
/// two per thread).
pub const MAX_CANDIDATES: u64 = 20_000_000_000;

const MUL_CURRENT: u64 = 8978948897894561157;
const MUL_NEXT: u64 = 17894857484156487943;
const NEG_ZERO: u32 = 0x8000_0000;

/// A bit per value of a key's top bits: 32 bits per key, so about 1 in 32 absent keys passes.
struct Filter {
    bits: Vec<u64>,
    shift: u32,
    /// log2 of the number of bits
    lg: u32,
}

impl Filter {
    fn new(keys: impl ExactSizeIterator<Item = u64>) -> Filter {
        let lg = (keys.len().max(1) * 32).next_power_of_two().trailing_zeros().clamp(12, 34);
        let mut bits = vec![0u64; 1 << (lg - 6)];
        let shift = 64 - lg;
        for k in keys {
            let i = (k >> shift) as usize;
            bits[i >> 6] |= 1 << (i & 63);
        }
        Filter { bits, shift, lg }
    }
    #[inline(always)]
    fn maybe(&self, key: u64) -> bool {
        let i = (key >> self.shift) as usize;
        // `i < 2^lg`, so `i >> 6` indexes `bits`
        self.bits[i >> 6] >> (i & 63) & 1 != 0
    }
}

/// Bytes of a probing table of `entries` entries of `size` bytes (KenLM's `Size`).
fn table_size(entries: u64, mult: f32, size: usize) -> Option<usize> {
    let buckets = (entries + 1).max((mult * entries as f32) as u64);
    usize::try_from(buckets).ok()?.checked_mul(size)
}

/// A probing hash table in the file.
struct Table<'a> {
    data: &'a [u8],
    at: usize,
    entry: usize,
    buckets: u64,
}

impl Table<'_> {
    #[inline(always)]
    fn key(&self, i: u64) -> u64 {
        le64(self.data, i as usize * self.entry)
    }
    fn value(&self, i: u64, field: usize) -> u32 {
        le32(self.data, i as usize * self.entry + 8 + 4 * field)
    }
}

/// One side of a group of candidates: products sorted, with their rows, split into `2^t`
/// parts by their top `t` bits (`bounds[p]..bounds[p + 1]`).
struct Side {
    mul: Vec<u64>,
    row: Vec<u32>,
    bounds: Vec<usize>,
}

impl Side {
    fn new(it: impl Iterator<Item = (u64, u32)>, t: u32) -> Side {
        let mut v: Vec<(u64, u32)> = it.collect();
        v.sort_unstable();
        let top = |x: u64| if t == 0 { 0 } else { (x >> (64 - t)) as usize };
        let bounds = (0..=1usize << t).map(|p| v.partition_point(|e| top(e.0) < p)).collect();
        Side { mul: v.iter().map(|e| e.0).collect(), row: v.iter().map(|e| e.1).collect(), bounds }
    }
}

/// The n-grams of one order with what the next order's recovery needs.
struct Level {
    g: Grams,
    keys: Vec<u64>,
    /// context of a longer n-gram (backoff is not -0.0)
    ctx: Vec<bool>,
    /// suffix of a longer n-gram (stored prob has its sign bit clear)
    left: Vec<bool>,
}

pub(crate) fn read(b: &Bytes, h: &Header, what: &str) -> Result<Model> {
    let order = h.counts.len();
    let c = &h.counts;
    let mult = h.probing_multiplier;
    let rest = h.model_type == 1;
    let weights = if rest { 12 } else { 8 };
    let too_big = |at: usize, what: &str| b.err(at, &format!("the {what} is too large for this machine (corrupt counts?)"));
    // vocabulary
    let mut at = h.size;
    let version = b.u32(at)?;
    let bound = b.u32(at + 4)? as usize;
    if version != 0 {
        return Err(b.err(at, &format!("probing vocabulary version {version} is not supported (expected 0)")));
    }
    if bound == 0 || bound as u64 > c[0] + 1 {
        return Err(b.err(at + 4, &format!("the vocabulary size {bound} does not fit the {} unigrams", c[0])));
    }
    let vsize = table_size(c[0], mult, 12).ok_or_else(|| too_big(at, "vocabulary table"))?;
    b.region(at, 8 + vsize, "the vocabulary table")?;
    at += 8 + vsize;
    // unigrams
    let uni_len = (c[0] as usize + 1) * weights;
    let uni = b.region(at, uni_len, "the unigram table")?;
    at += uni_len;
    // tables of orders 2..=N
    let mut tables = Vec::new();
    for n in 2..=order {
        let entry = if n == order { 12 } else { 8 + weights };
        let size = table_size(c[n - 1], mult, entry).ok_or_else(|| too_big(at, &format!("{n}-gram table")))?;
        let data = b.region(at, size, &format!("the {n}-gram table"))?;
        tables.push(Table { data, at, entry, buckets: (size / entry) as u64 });
        at += size;
    }
    let words = read_words(b, at, bound)?;

    let f = |i: usize, k: usize| u32::from_le_bytes(uni[i * weights + 4 * k..][..4].try_into().expect("4"));
    let mut level = Level {
        g: Grams { n: 1, words: (0..bound as u32).collect(), prob: Vec::new(), backoff: Vec::new() },
        keys: (0..bound as u64).collect(),
        ctx: (0..bound).map(|i| f(i, 1) != NEG_ZERO).collect(),
        left: (0..bound).map(|i| f(i, 0) & NEG_ZERO == 0).collect(),
    };
    let uni_prob = (0..bound).map(|i| f32::from_bits(f(i, 0) | NEG_ZERO)).collect();
    let uni_backoff = (0..bound).map(|i| f32::from_bits(f(i, 1))).collect();
    let mut builder = Builder::new(order, uni_prob, uni_backoff);
    for n in 2..=order {
        let t = &tables[n - 2];
        let next = recover(b, &level, t, n, n == order)?;
        crate::trace::phase(&format!("kenlm probing: {n}-grams"));
        builder.add(b, &next.g, t.at)?;
        crate::trace::phase(&format!("kenlm probing: {n}-gram trie"));
        level = next;
    }
    builder.finish(b, words, what)
}

/// The n-grams of order `n` in table `t`, from those of order `n - 1` in `prev`.
fn recover(b: &Bytes, prev: &Level, t: &Table, n: usize, longest: bool) -> Result<Level> {
    let m = n - 1; // order of prev
    let w = &prev.g.words;
    // middle (prev's words without the first / without the last) -> (contexts, suffixes)
    let mut groups: FxHashMap<&[u32], (Vec<u32>, Vec<u32>)> = FxHashMap::default();
    for r in 0..prev.keys.len() {
        let gram = &w[r * m..][..m];
        if prev.ctx[r] {
            groups.entry(&gram[1..]).or_default().0.push(r as u32);
        }
        if prev.left[r] {
            groups.entry(&gram[..m - 1]).or_default().1.push(r as u32);
        }
    }
    let groups: Vec<(Vec<u32>, Vec<u32>)> = groups.into_values().filter(|(l, r)| !l.is_empty() && !r.is_empty()).collect();
    let cost: u64 = groups.iter().map(|(l, r)| l.len() as u64 * r.len() as u64).sum();
    crate::trace::phase(&format!("kenlm probing: {n}-gram candidates {cost}"));
    if cost > MAX_CANDIDATES {
        return Err(b.err(
            t.at,
            &format!(
                "recovering the {n}-grams of this probing-format file would test {cost} candidates (more than {MAX_CANDIDATES}): \
                 probing files store hashes, not words; convert the ARPA with `build_binary trie` and load that instead"
            ),
        ));
    }
    // The stored keys, for membership: a bit filter on their top bits (about 1 false hit in 32
    // candidates) in front of a hash map key -> slot. A candidate costs an XOR of two products
    // computed once (`key(s) * A` per suffix, `(w1 + 1) * B` per context) and one filter bit.
    let keys: FxHashMap<u64, u64> = (0..t.buckets).filter_map(|i| Some((t.key(i), i)).filter(|x| x.0 != 0)).collect();
    let occupied = (0..t.buckets).filter(|&i| t.key(i) != 0).count();
    if keys.len() != occupied {
        return Err(b.err(t.at, &format!("the {n}-gram table stores a key twice (corrupt file?)")));
    }
    let filter = Filter::new(keys.keys().copied());
    let suffix_mul: Vec<u64> = prev.keys.iter().map(|k| k.wrapping_mul(MUL_CURRENT)).collect();
    // Each side of a group sorted by its product and split into 2^t parts by the top t bits:
    // the keys of the candidates from context part `p` and suffix part `q` all have top bits
    // `p ^ q`, so they test one 1/2^t slice of the filter, which stays in cache while the
    // pair of parts is worked through.
    let t_bits = |l: usize, r: usize| -> u32 {
        let fit = filter.lg.saturating_sub(18); // slices of 32 KB
        let small = (l.min(r) / 64).max(1).ilog2();
        fit.min(small).min(12)
    };
    let sides: Vec<(Side, Side, u32)> = groups
        .par_iter()
        .map(|(l, r)| {
            let tb = t_bits(l.len(), r.len());
            let ls = Side::new(l.iter().map(|&c| ((1 + w[c as usize * m] as u64).wrapping_mul(MUL_NEXT), c)), tb);
            let rs = Side::new(r.iter().map(|&sr| (suffix_mul[sr as usize], sr)), tb);
            (ls, rs, tb)
        })
        .collect();
    drop(groups);
    // work items: (group, context part, chunk of it), so one big group still runs in parallel
    const CHUNK: usize = 512;
    let items: Vec<(usize, usize, usize)> = sides
        .iter()
        .enumerate()
        .flat_map(|(g, (ls, _, tb))| {
            (0..1usize << tb).flat_map(move |p| (ls.bounds[p]..ls.bounds[p + 1]).step_by(CHUNK).map(move |s| (g, p, s)))
        })
        .collect();
    let cancel = crate::parallel::cancel_token();
    // (context row, suffix row, slot)
    let mut found: Vec<(u32, u32, u64)> = items
        .par_iter()
        .flat_map_iter(|&(g, p, s)| {
            let (ls, rs, tb) = &sides[g];
            let mut out = Vec::new();
            if cancel.is_cancelled() {
                return out;
            }
            let end = (s + CHUNK).min(ls.bounds[p + 1]);
            for q in 0..1usize << tb {
                let (r0, r1) = (rs.bounds[q], rs.bounds[q + 1]);
                for ci in s..end {
                    let wm = ls.mul[ci];
                    for (j, &x) in rs.mul[r0..r1].iter().enumerate() {
                        let key = x ^ wm;
                        if filter.maybe(key) {
                            if let Some(&slot) = keys.get(&key) {
                                out.push((ls.row[ci], rs.row[r0 + j], slot));
                            }
                        }
                    }
                }
            }
            out
        })
        .collect();
    cancel.check()?;
    found.par_sort_unstable_by_key(|x| x.2);
    if let Some(d) = found.windows(2).find(|p| p[0].2 == p[1].2) {
        return Err(b.err(t.at + d[0].2 as usize * t.entry, &format!("two {n}-grams share one hash key (corrupt file or hash collision)")));
    }
    if found.len() != occupied {
        return Err(b.err(
            t.at,
            &format!(
                "recovered {} of the {occupied} {n}-grams stored in the table: the rest do not extend a stored {m}-gram (corrupt file?)",
                found.len()
            ),
        ));
    }
    let mut g = Grams::new(n);
    let cnt = found.len();
    g.words.reserve(cnt * n);
    let mut keys = Vec::with_capacity(cnt);
    let (mut ctx, mut left) = (Vec::with_capacity(cnt), Vec::with_capacity(cnt));
    for &(c, s, slot) in &found {
        g.words.push(w[c as usize * m]);
        g.words.extend_from_slice(&w[s as usize * m..][..m]);
        keys.push(t.key(slot));
        let p = t.value(slot, 0);
        g.prob.push(f32::from_bits(p | NEG_ZERO));
        if !longest {
            let bo = t.value(slot, 1);
            g.backoff.push(f32::from_bits(bo));
            ctx.push(bo != NEG_ZERO);
            left.push(p & NEG_ZERO == 0);
        }
    }
    Ok(Level { g, keys, ctx, left })
}
