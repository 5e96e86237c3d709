//! KenLM's trie formats (model types 2-5; kenlm's `lm/search_trie.cc`, `lm/trie.cc`,
//! `lm/quantize.cc`, `lm/bhiksha.cc`), read exactly.
//!
//! The trie is reversed: level 1 is the last word of an n-gram, level k adds the word k-1
//! places before it. After the header:
//! ```text
//! vocabulary   u64 word count (without <unk>), then a u64 hash per word (sorted)
//! [quantised]  u8 version 2, u8 prob_bits, u8 backoff_bits, pad to 8; then per middle order
//!              2^prob_bits prob centres, 2^backoff_bits backoff centres (f32); then the
//!              longest order's 2^prob_bits prob centres
//! unigrams     (count + 2) x {f32 prob, f32 backoff, u64 next}: children of word w are the
//!              level-2 entries next[w]..next[w+1]
//! middles      per order 2..N-1: [array pointers: u8 version 0, u8 bits; at the next multiple of
//!              8 plus 8, u64 offsets] then bit-packed entries {word, values, next}, one more
//!              entry's `next` ending the last range, padded by 8 bytes
//! longest      bit-packed {word, prob}
//! ```
//! Values are a 31-bit non-positive float prob and a 32-bit float backoff, or quantised
//! centre indices (backoff in the low bits). With array-compressed pointers, the high bits of
//! `next` are the index of the last offset <= the entry's index.

use super::assemble::{Builder, Grams};
use super::bytes::{bits, float32, mask, nonpositive31, required_bits, Bytes};
use super::{read_words, Header};
use crate::error::Result;
use crate::ngram::model::Model;

/// Bytes of a bit-packed array of `entries` (+1) entries of `total_bits` (KenLM's `BaseSize`).
fn base_size(entries: u64, total_bits: u64) -> u64 {
    ((1 + entries) * total_bits).div_ceil(8) + 8
}

/// KenLM's `ChopBits`: how many high bits of `next` the pointer array holds.
fn chop_bits(max_offset: u64, max_next: u64, config_bits: u8) -> u8 {
    let required = required_bits(max_next);
    let mut best = 0;
    let mut lowest = i64::MAX;
    for chop in 0..=required.min(config_bits) {
        let change = (max_next >> (required - chop)) as i64 * 64 - max_offset as i64 * chop as i64;
        if change < lowest {
            lowest = change;
            best = chop;
        }
    }
    best
}

/// The pointer encoding of one middle order.
enum Pointers {
    Inline,
    /// The offsets array (file offset of its first u64, count) and the chopped bits.
    Array {
        at: usize,
        count: usize,
    },
}

struct Middle {
    /// file offset of the packed entries
    at: usize,
    len: usize,
    entries: u64,
    total_bits: u64,
    quant_bits: u64,
    inline_bits: u8,
    pointers: Pointers,
}

pub(crate) fn read(b: &Bytes, h: &Header, what: &str) -> Result<Model> {
    let order = h.counts.len();
    let c = &h.counts;
    let quantized = h.model_type == 3 || h.model_type == 5;
    let array = h.model_type == 4 || h.model_type == 5;
    // vocabulary
    let vocab_at = h.size;
    let stored = b.u64(vocab_at)?;
    let vocab_size = 8 + 8 * c[0];
    b.region(vocab_at, vocab_size as usize, "the vocabulary hashes")?;
    if stored.checked_add(1) != Some(c[0]) {
        return Err(b.err(vocab_at, &format!("the vocabulary holds {stored} words besides <unk> but the file has {} unigrams", c[0])));
    }
    let bound = c[0] as usize;
    let mut at = vocab_at + vocab_size as usize;
    // quantisation tables
    let (mut prob_bits, mut backoff_bits) = (0u8, 0u8);
    let mut mid_bins: Vec<(&[u8], &[u8])> = Vec::new();
    let mut long_bins: &[u8] = &[];
    if quantized {
        let v = b.u8(at)?;
        prob_bits = b.u8(at + 1)?;
        backoff_bits = b.u8(at + 2)?;
        if v != 2 {
            return Err(b.err(at, &format!("quantisation version {v} is not supported (expected 2)")));
        }
        if !(1..=25).contains(&prob_bits) || !(1..=25).contains(&backoff_bits) {
            return Err(b.err(at + 1, &format!("quantisation bits {prob_bits}/{backoff_bits} are outside 1-25")));
        }
        let (pn, bn) = (4usize << prob_bits, 4usize << backoff_bits);
        let size = (order - 2) * (pn + bn) + pn + 8;
        let q = b.region(at, size, "the quantisation tables")?;
        let mut p = 8;
        for _ in 0..order - 2 {
            mid_bins.push((&q[p..p + pn], &q[p + pn..p + pn + bn]));
            p += pn + bn;
        }
        long_bins = &q[p..p + pn];
        at += size;
    }
    // unigrams
    let uni_len = (c[0] as usize + 2) * 16;
    let uni = b.region(at, uni_len, "the unigram table")?;
    let uni_at = at;
    at += uni_len;
    let mut uni_prob = Vec::with_capacity(bound);
    let mut uni_backoff = Vec::with_capacity(bound);
    let mut next = Vec::with_capacity(bound + 1);
    for w in 0..=bound {
        let e = &uni[w * 16..w * 16 + 16];
        if w < bound {
            uni_prob.push(f32::from_le_bytes(e[0..4].try_into().expect("4")));
            uni_backoff.push(f32::from_le_bytes(e[4..8].try_into().expect("4")));
        }
        next.push(u64::from_le_bytes(e[8..16].try_into().expect("8")));
    }
    // middles
    let config_bits = if array && order > 2 { b.u8(at + 1)? } else { 0 };
    if array && order > 2 && b.u8(at)? != 0 {
        return Err(b.err(at, &format!("array pointer compression version {} is not supported (expected 0)", b.u8(at)?)));
    }
    let word_bits = required_bits(c[0]) as u64;
    let mut middles = Vec::new();
    for n in 2..order {
        let (entries, max_next) = (c[n - 1], c[n]);
        let quant_bits = if quantized { (prob_bits + backoff_bits) as u64 } else { 63 };
        let (inline_bits, pointers, ptr_size) = if array {
            let required = required_bits(max_next);
            let chop = chop_bits(entries + 1, max_next, config_bits);
            let count = (max_next >> (required - chop)) as usize + 1;
            let arr_at = super::align8(at) + 8;
            b.region(arr_at, count * 8, &format!("the {n}-gram pointer array"))?;
            (required - chop, Pointers::Array { at: arr_at, count }, 8 * (1 + count) + 7)
        } else {
            (required_bits(max_next), Pointers::Inline, 0)
        };
        let total_bits = word_bits + quant_bits + inline_bits as u64;
        let len = base_size(entries, total_bits) as usize;
        let packed = at + ptr_size;
        b.region(packed, len, &format!("the {n}-gram table"))?;
        middles.push(Middle { at: packed, len, entries, total_bits, quant_bits, inline_bits, pointers });
        at = packed + len;
    }
    let long_bits = if quantized { prob_bits as u64 } else { 31 };
    let long_total = word_bits + long_bits;
    let long_len = base_size(c[order - 1], long_total) as usize;
    let long_at = at;
    let long = b.region(long_at, long_len, &format!("the {order}-gram table"))?;
    at += long_len;
    let words = read_words(b, at, bound)?;

    let mut builder = Builder::new(order, uni_prob, uni_backoff);
    // `fwd`: the forward words of each entry of the previous level (level 1: the word itself)
    let mut fwd: Vec<u32> = (0..bound as u32).collect();
    let mut parent_next = next;
    let mut parent_at = uni_at;
    let wmask = mask(word_bits as u8);
    for n in 2..=order {
        let count = c[n - 1];
        check_ranges(b, &parent_next, count, parent_at, n)?;
        let mut g = Grams::new(n);
        g.words.reserve(count as usize * n);
        g.prob.reserve(count as usize);
        let mut child_next = Vec::new();
        let (data, total) = if n < order {
            let m = &middles[n - 2];
            (&b.data[m.at..m.at + m.len], m.total_bits)
        } else {
            (long, long_total)
        };
        let mut p = 0usize;
        for j in 0..count {
            while parent_next[p + 1] <= j {
                p += 1;
            }
            let bit = j * total;
            let w = bits(data, bit, wmask) as u32;
            g.words.push(w);
            g.words.extend_from_slice(&fwd[p * (n - 1)..][..n - 1]);
            let vbit = bit + word_bits;
            if n < order {
                let (prob, bo) = if quantized {
                    let (pb, bb) = mid_bins[n - 2];
                    let bi = bits(data, vbit, mask(backoff_bits)) as usize;
                    let pi = bits(data, vbit + backoff_bits as u64, mask(prob_bits)) as usize;
                    (f32_at(pb, pi), f32_at(bb, bi))
                } else {
                    (nonpositive31(data, vbit), float32(data, vbit + 31))
                };
                g.prob.push(prob);
                g.backoff.push(bo);
            } else {
                g.prob.push(if quantized {
                    f32_at(long_bins, bits(data, vbit, mask(prob_bits)) as usize)
                } else {
                    nonpositive31(data, vbit)
                });
            }
        }
        if n < order {
            let m = &middles[n - 2];
            child_next = middle_next(b, m, word_bits)?;
            parent_at = m.at;
        }
        let table_at = if n < order { middles[n - 2].at } else { long_at };
        crate::trace::phase(&format!("kenlm trie: {n}-grams"));
        builder.add(b, &g, table_at)?;
        crate::trace::phase(&format!("kenlm trie: {n}-gram index"));
        fwd = g.words;
        parent_next = child_next;
    }
    builder.finish(b, words, what)
}

fn f32_at(s: &[u8], i: usize) -> f32 {
    f32::from_le_bytes(s[i * 4..i * 4 + 4].try_into().expect("index masked to the table size"))
}

/// The `next` pointers of a middle order (entries + 1 of them).
fn middle_next(b: &Bytes, m: &Middle, word_bits: u64) -> Result<Vec<u64>> {
    let data = &b.data[m.at..m.at + m.len];
    let imask = mask(m.inline_bits);
    let mut out = Vec::with_capacity(m.entries as usize + 1);
    let offsets: Vec<u64> = match m.pointers {
        Pointers::Inline => Vec::new(),
        Pointers::Array { at, count } => {
            (0..count).map(|i| u64::from_le_bytes(b.data[at + 8 * i..at + 8 * i + 8].try_into().expect("8"))).collect()
        }
    };
    if let Pointers::Array { at, .. } = m.pointers {
        if offsets.windows(2).any(|w| w[0] > w[1]) || offsets.first() != Some(&0) {
            return Err(b.err(at, "the pointer array is not sorted from 0 (corrupt file?)"));
        }
    }
    let mut hi = 0usize;
    for j in 0..=m.entries {
        let low = bits(data, j * m.total_bits + word_bits + m.quant_bits, imask);
        let v = match m.pointers {
            Pointers::Inline => low,
            Pointers::Array { .. } => {
                while hi + 1 < offsets.len() && offsets[hi + 1] <= j {
                    hi += 1;
                }
                ((hi as u64) << m.inline_bits) | low
            }
        };
        out.push(v);
    }
    Ok(out)
}

/// `next` must run from 0 to the child count without decreasing, so that every child entry has
/// exactly one parent.
fn check_ranges(b: &Bytes, next: &[u64], count: u64, at: usize, n: usize) -> Result<()> {
    if next.first() != Some(&0) || next.last() != Some(&count) || next.windows(2).any(|w| w[0] > w[1]) {
        return Err(b.err(at, &format!("the pointers to the {n}-grams do not run from 0 to their count {count} (corrupt file?)")));
    }
    Ok(())
}
