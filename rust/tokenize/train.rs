//! Byte-level BPE training.
//!
//! Semantics (the contract `tests/reference/bpe.py::train_bpe` spells out in Python):
//! special-token strings are cut out of the text and never learned; each remaining segment is
//! pre-tokenized; each piece's bytes is a word, counted over the corpus. Ids 0..255 are the
//! single bytes (id = byte value). Each step merges the adjacent pair with the highest count
//! over all words (weighted by word count); ties go to the smallest `(left id, right id)`; the
//! new token gets the next id; occurrences are replaced left to right without overlap. Training
//! stops when the vocabulary (bytes + merges + specials) reaches `vocab_size`, when no pair is
//! left, or when the best count is below `min_frequency`. Specials get the ids after the merges.
//!
//! Cost: counting is one pre-tokenization pass, parallel over chunks with per-thread hash maps
//! merged at the end (exact integer counts, so the thread count cannot change anything). Only
//! the distinct-word table is kept. Merging keeps pair counts, a pair -> words index and a max
//! heap with lazy invalidation; each merge costs time proportional to the words containing the
//! pair, not the corpus.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::path::PathBuf;

use rayon::prelude::*;
use rustc_hash::FxHashMap;

use super::formats::read_text;
use super::pairs::pair_key;
use super::pattern::safe_chunks;
use super::{Pretokenizer, Specials, Tokenizer, Vocab};
use crate::error::{Error, Result};
use crate::parallel;

type Counts = FxHashMap<Box<[u8]>, u64>;

/// Progress callback: `(stage, done, total)`; stages are "count" (bytes) and "merge" (merges).
pub type Progress<'a> = &'a (dyn Fn(&str, u64, u64) + Sync);

/// Accumulates word counts from texts and files, then trains.
pub struct Trainer {
    pre: Pretokenizer,
    specials: Specials,
    counts: Counts,
    chunk: usize,
}

impl Trainer {
    /// `pattern`: built-in name or regex; `specials`: strings excluded from learning.
    pub fn new(pattern: &str, specials: &[String]) -> Result<Self> {
        let sp: Vec<(String, u32)> = specials.iter().enumerate().map(|(i, s)| (s.clone(), i as u32)).collect();
        Ok(Trainer { pre: Pretokenizer::new(pattern)?, specials: Specials::new(sp)?, counts: Counts::default(), chunk: 1 << 20 })
    }

    /// Number of distinct words counted so far.
    pub fn n_words(&self) -> usize {
        self.counts.len()
    }

    fn count_into(&self, text: &str, m: &mut Counts) -> Result<()> {
        let mut last = 0;
        let ends = self.specials.find_iter(text).map(|(a, b, _)| (a, b)).chain(std::iter::once((text.len(), text.len())));
        for (a, b) in ends {
            self.pre.for_each_piece(&text[last..a], |p| {
                match m.get_mut(p.as_bytes()) {
                    Some(c) => *c += 1,
                    None => {
                        m.insert(p.as_bytes().into(), 1);
                    }
                }
                Ok(())
            })?;
            last = b;
        }
        Ok(())
    }

    fn split<'t>(&self, text: &'t str) -> Vec<&'t str> {
        if self.pre.line_cuts_are_safe() && !self.specials.any_contains('\n') {
            safe_chunks(text, self.chunk)
        } else {
            vec![text]
        }
    }

    fn count_chunks(&mut self, chunks: &[&str], num_threads: Option<usize>) -> Result<()> {
        let this = &*self;
        let cancel = parallel::cancel_token();
        // Every chunk is counted before anything is merged into `self`, so an interrupted or
        // failed call leaves the trainer as it was.
        let merged: Counts = parallel::install(num_threads, || {
            chunks
                .par_iter()
                .try_fold(Counts::default, |mut m, c| {
                    cancel.check()?;
                    this.count_into(c, &mut m).map(|_| m)
                })
                .try_reduce(Counts::default, |a, b| Ok(merge_counts(a, b)))
        })??;
        let mine = std::mem::take(&mut self.counts);
        self.counts = merge_counts(mine, merged);
        Ok(())
    }

    /// Count the words of some texts (each text is pre-tokenized on its own).
    pub fn add_texts<S: AsRef<str> + Sync>(&mut self, texts: &[S], num_threads: Option<usize>) -> Result<()> {
        let chunks: Vec<&str> = texts.iter().flat_map(|t| self.split(t.as_ref())).collect();
        self.count_chunks(&chunks, num_threads)
    }

    /// Count the words of UTF-8 files; each file is one text. Files are read in groups of about
    /// 64 MiB so memory stays bounded by the group, not the corpus. With `skip_invalid`, files
    /// that are not valid UTF-8 are skipped (and counted in the result) instead of failing.
    pub fn add_files(
        &mut self,
        paths: &[PathBuf],
        num_threads: Option<usize>,
        progress: Option<Progress>,
        skip_invalid: bool,
    ) -> Result<usize> {
        let total: u64 = paths.iter().map(|p| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0)).sum();
        let mut done = 0u64;
        let mut skipped = 0;
        let mut i = 0;
        while i < paths.len() {
            let mut group = Vec::new();
            let mut size = 0usize;
            while i < paths.len() && (group.is_empty() || size < 64 << 20) {
                i += 1;
                let t = match read_text(&paths[i - 1]) {
                    Ok(t) => t,
                    Err(Error::Format(_)) if skip_invalid => {
                        skipped += 1;
                        continue;
                    }
                    Err(e) => return Err(e),
                };
                size += t.len();
                group.push(t);
            }
            parallel::cancel_token().check()?;
            self.add_texts(&group, num_threads)?;
            done += size as u64;
            if let Some(p) = progress {
                p("count", done, total.max(done));
            }
        }
        Ok(skipped)
    }

    /// Learn merges up to `vocab_size` ids (specials included) and build the tokenizer.
    pub fn train(&self, vocab_size: u32, min_frequency: u64, num_threads: Option<usize>, progress: Option<Progress>) -> Result<Tokenizer> {
        let n_special = self.specials.tokens().len() as u32;
        if vocab_size < 256 + n_special {
            return Err(Error::Value(format!(
                "vocab_size={vocab_size} is too small: a byte-level vocabulary needs 256 byte tokens + {n_special} special tokens"
            )));
        }
        let max_tokens = (vocab_size - n_special) as usize;
        let cancel = parallel::cancel_token();
        let (merges, tokens) =
            parallel::install(num_threads, || learn(&self.counts, max_tokens, min_frequency.max(1), progress, &cancel))??;
        let next = tokens.len() as u32;
        let tokens: Vec<(Vec<u8>, u32)> = tokens.into_iter().zip(0u32..).collect();
        let vocab = Vocab::from_merges(tokens, &merges, false, "trained vocabulary", &|i| format!("#{i}"))?;
        let specials = self.specials.tokens().iter().map(|(s, i)| (s.clone(), next + i)).collect();
        Tokenizer::new(vocab, self.pre.clone(), specials)
    }
}

/// Magic of the piece-count table's byte form (`Trainer::counts_to_bytes`).
const COUNTS_MAGIC: &[u8; 8] = b"SFBPC\x001\n";

/// The piece-count table as a mergeable, portable value: what a worker sends for one partition.
///
/// Byte form: the magic, the number of pieces (u64 LE), then per piece in byte order its length
/// (LEB128), the bytes shared with the previous piece's prefix (LEB128, front coding), the rest
/// of its bytes and its count (LEB128). Sorting makes the form canonical (equal tables, equal
/// bytes) and front coding keeps it near the size of a compressed word list.
impl Trainer {
    /// The counted pieces and their counts, in byte order.
    pub fn piece_counts(&self) -> Vec<(&[u8], u64)> {
        let mut v: Vec<(&[u8], u64)> = self.counts.iter().map(|(k, &c)| (&k[..], c)).collect();
        v.par_sort_unstable();
        v
    }

    /// Total number of pieces counted (with multiplicity).
    pub fn n_pieces(&self) -> u64 {
        self.counts.values().sum()
    }

    /// Add every count of `other` (counted with the same pattern and specials) to this table.
    pub fn add_counts_from(&mut self, other: &Trainer) {
        for (k, &v) in &other.counts {
            match self.counts.get_mut(k) {
                Some(c) => *c += v,
                None => {
                    self.counts.insert(k.clone(), v);
                }
            }
        }
    }

    /// The canonical byte form of the piece-count table (see the `impl` block's header).
    pub fn counts_to_bytes(&self) -> Vec<u8> {
        let pieces = self.piece_counts();
        let mut out = Vec::with_capacity(16 + pieces.iter().map(|p| p.0.len() / 2 + 4).sum::<usize>());
        out.extend_from_slice(COUNTS_MAGIC);
        out.extend_from_slice(&(pieces.len() as u64).to_le_bytes());
        let mut prev: &[u8] = &[];
        for (k, c) in pieces {
            let shared = prev.iter().zip(k).take_while(|(a, b)| a == b).count();
            put_leb(&mut out, k.len() as u64);
            put_leb(&mut out, shared as u64);
            out.extend_from_slice(&k[shared..]);
            put_leb(&mut out, c);
            prev = k;
        }
        out
    }

    /// Add a table in the byte form of [`Trainer::counts_to_bytes`]. The whole input is checked
    /// before anything is added, so a bad table leaves this one as it was.
    pub fn add_counts_bytes(&mut self, data: &[u8]) -> Result<()> {
        let bad = |pos: usize, what: &str| Error::Format(format!("BPE piece counts: {what} at byte {pos}"));
        if data.len() < 16 || &data[..8] != COUNTS_MAGIC {
            return Err(bad(0, "not a piece-count table (bad magic or too short)"));
        }
        let n = u64::from_le_bytes(data[8..16].try_into().expect("8 bytes"));
        let mut pos = 16;
        let mut parsed: Counts = Counts::default();
        let mut prev: Vec<u8> = Vec::new();
        for _ in 0..n {
            let at = pos;
            let len = get_leb(data, &mut pos).ok_or_else(|| bad(at, "truncated piece length"))? as usize;
            let shared = get_leb(data, &mut pos).ok_or_else(|| bad(at, "truncated prefix length"))? as usize;
            if shared > prev.len() || shared > len || len - shared > data.len() - pos {
                return Err(bad(at, "piece length out of range"));
            }
            let mut k = prev[..shared].to_vec();
            k.extend_from_slice(&data[pos..pos + len - shared]);
            pos += len - shared;
            if k <= prev && at > 16 {
                return Err(bad(at, "pieces not in strictly increasing byte order"));
            }
            let c = get_leb(data, &mut pos).ok_or_else(|| bad(at, "truncated count"))?;
            if c == 0 {
                return Err(bad(at, "zero count"));
            }
            parsed.insert(k.clone().into_boxed_slice(), c);
            prev = k;
        }
        if pos != data.len() {
            return Err(bad(pos, "trailing bytes after the last piece"));
        }
        let mine = std::mem::take(&mut self.counts);
        self.counts = merge_counts(mine, parsed);
        Ok(())
    }
}

fn put_leb(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn get_leb(data: &[u8], pos: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *data.get(*pos)?;
        *pos += 1;
        v |= ((b & 0x7f) as u64).checked_shl(shift)?;
        if b & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

/// Record that word `wi` contains pair `pk` (consecutive duplicates are skipped here, the rest
/// when the list is used).
#[inline]
fn note_where(where_: &mut FxHashMap<u64, Vec<u32>>, pk: u64, wi: u32) {
    let v = where_.entry(pk).or_default();
    if v.last() != Some(&wi) {
        v.push(wi);
    }
}

fn merge_counts(a: Counts, b: Counts) -> Counts {
    let (mut big, small) = if a.len() >= b.len() { (a, b) } else { (b, a) };
    for (k, v) in small {
        *big.entry(k).or_insert(0) += v;
    }
    big
}

/// All distinct words in one arena: word `i` is `syms[off[i]..off[i] + len[i]]`, shrinking in
/// place as merges apply (one cache miss per visited word instead of two).
struct Words {
    syms: Vec<u32>,
    off: Vec<usize>,
    len: Vec<u32>,
    count: Vec<i64>,
}

/// The merge loop: merges as `(left, right)` and the tokens by id. A merge creates the next id,
/// unless its bytes are already a token (`(ab, c)` then `(a, bc)`), which it then reuses.
/// The merges learned, in order, and every token's bytes (ids 0..=255 the single bytes).
type Learned = (Vec<(u32, u32)>, Vec<Vec<u8>>);

fn learn(
    counts: &Counts,
    max_tokens: usize,
    min_frequency: u64,
    progress: Option<Progress>,
    cancel: &parallel::CancelToken,
) -> Result<Learned> {
    let mut tokens: Vec<Vec<u8>> = (0..=255u8).map(|b| vec![b]).collect();
    let mut token_ids: FxHashMap<Vec<u8>, u32> = tokens.iter().cloned().zip(0u32..).collect();
    let mut entries: Vec<(&[u8], u64)> = counts.iter().map(|(k, &v)| (&k[..], v)).filter(|(k, _)| k.len() >= 2).collect();
    entries.par_sort_unstable();
    let total: usize = entries.iter().map(|e| e.0.len()).sum();
    let mut words = Words { syms: Vec::with_capacity(total), off: Vec::new(), len: Vec::new(), count: Vec::new() };
    for (k, c) in &entries {
        words.off.push(words.syms.len());
        words.len.push(k.len() as u32);
        words.count.push(*c as i64);
        words.syms.extend(k.iter().map(|&b| b as u32));
    }
    drop(entries);

    let mut pair_counts: FxHashMap<u64, i64> = FxHashMap::default();
    let mut where_: FxHashMap<u64, Vec<u32>> = FxHashMap::default();
    cancel.check()?;
    for wi in 0..words.off.len() {
        if wi % 65536 == 0 {
            cancel.check()?;
        }
        let w = &words.syms[words.off[wi]..words.off[wi] + words.len[wi] as usize];
        for p in w.windows(2) {
            let k = pair_key(p[0], p[1]);
            *pair_counts.entry(k).or_insert(0) += words.count[wi];
            note_where(&mut where_, k, wi as u32);
        }
    }
    let mut heap: BinaryHeap<(i64, Reverse<u64>)> = pair_counts.iter().map(|(&k, &c)| (c, Reverse(k))).collect();
    let mut merges = Vec::new();
    let mut delta: FxHashMap<u64, i64> = FxHashMap::default();
    while tokens.len() < max_tokens {
        let Some((c, Reverse(k))) = heap.pop() else {
            break;
        };
        let cur = pair_counts.get(&k).copied().unwrap_or(0);
        if cur != c {
            if cur > 0 {
                heap.push((cur, Reverse(k)));
            }
            continue;
        }
        if (c as u64) < min_frequency {
            break;
        }
        let (a, b) = ((k >> 32) as u32, k as u32);
        let mut bytes = tokens[a as usize].clone();
        bytes.extend_from_slice(&tokens[b as usize]);
        let new = match token_ids.get(&bytes) {
            Some(&id) => id,
            None => {
                let id = tokens.len() as u32;
                token_ids.insert(bytes.clone(), id);
                tokens.push(bytes);
                id
            }
        };
        merges.push((a, b));
        if merges.len() % 16 == 0 {
            cancel.check()?;
        }
        delta.clear();
        let mut ws = where_.remove(&k).unwrap_or_default();
        ws.sort_unstable();
        ws.dedup();
        for &wi in &ws {
            // Merge in place (the output never outruns the input), recording only the pair
            // changes around each merge site. The left neighbour is read from the output (it
            // may itself be a fresh `new`), the right one from the input, so chains like
            // `a b a b` come out right; `(a, b)` itself leaves the table wholesale below.
            let (start, n, c) = (words.off[wi as usize], words.len[wi as usize] as usize, words.count[wi as usize]);
            let w = &mut words.syms[start..start + n];
            let (mut i, mut o) = (0, 0);
            while i < n {
                if i + 1 < n && w[i] == a && w[i + 1] == b {
                    if o > 0 {
                        let p = w[o - 1];
                        *delta.entry(pair_key(p, a)).or_insert(0) -= c;
                        *delta.entry(pair_key(p, new)).or_insert(0) += c;
                        note_where(&mut where_, pair_key(p, new), wi);
                    }
                    if i + 2 < n {
                        let nx = w[i + 2];
                        *delta.entry(pair_key(b, nx)).or_insert(0) -= c;
                        *delta.entry(pair_key(new, nx)).or_insert(0) += c;
                        note_where(&mut where_, pair_key(new, nx), wi);
                    }
                    w[o] = new;
                    i += 2;
                } else {
                    w[o] = w[i];
                    i += 1;
                }
                o += 1;
            }
            words.len[wi as usize] = o as u32;
        }
        for (&pk, &d) in &delta {
            if d == 0 || pk == k {
                continue;
            }
            let e = pair_counts.entry(pk).or_insert(0);
            *e += d;
            if d > 0 {
                heap.push((*e, Reverse(pk)));
            }
            if *e <= 0 {
                pair_counts.remove(&pk);
            }
        }
        pair_counts.remove(&k);
        if let Some(p) = progress {
            if merges.len() % 256 == 0 || tokens.len() == max_tokens {
                p("merge", tokens.len() as u64, max_tokens as u64);
            }
        }
    }
    Ok((merges, tokens))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classic_example() {
        let mut t = Trainer::new(r"[^\n]+", &[]).unwrap();
        t.add_texts(&["aaabdaaabac"], Some(1)).unwrap();
        let tok = t.train(259, 1, Some(1), None).unwrap();
        let v = tok.vocab();
        assert_eq!(v.token(256), Some(&b"aa"[..]));
        // "Za" and "ab" tie at 2; the smaller pair (97, 98) wins.
        assert_eq!(v.token(257), Some(&b"ab"[..]));
        assert_eq!(v.token(258), Some(&b"aaab"[..]));
    }

    #[test]
    fn thread_count_does_not_matter() {
        let text = "the cat sat on the mat with the hat; that cat, that hat.\n".repeat(40);
        let run = |n| {
            let mut t = Trainer::new("cl100k", &["<|x|>".to_string()]).unwrap();
            t.chunk = 64;
            t.add_texts(&[text.as_str(), "x <|x|> y"], Some(n)).unwrap();
            let tok = t.train(300, 2, Some(n), None).unwrap();
            tok.vocab().merge_list()
        };
        assert_eq!(run(1), run(2));
    }
    #[test]
    fn piece_counts_split_merge_and_bytes() {
        let texts = ["the cat sat on the mat", "the hat <|x|> that cat", "", "héllo wörld the the"];
        let specials = ["<|x|>".to_string()];
        let mut whole = Trainer::new("cl100k", &specials).unwrap();
        whole.add_texts(&texts, Some(1)).unwrap();
        let mut a = Trainer::new("cl100k", &specials).unwrap();
        a.add_texts(&texts[..1], Some(1)).unwrap();
        let mut b = Trainer::new("cl100k", &specials).unwrap();
        b.add_texts(&texts[1..], Some(1)).unwrap();
        let mut m = Trainer::new("cl100k", &specials).unwrap();
        m.add_counts_bytes(&a.counts_to_bytes()).unwrap();
        m.add_counts_from(&b);
        assert_eq!(m.piece_counts(), whole.piece_counts());
        assert_eq!(m.counts_to_bytes(), whole.counts_to_bytes());
        assert_eq!(m.n_pieces(), whole.n_pieces());
        let merges = |t: &Trainer| t.train(300, 1, Some(1), None).unwrap().vocab().merge_list();
        assert_eq!(merges(&m), merges(&whole));
        // An empty table round-trips; corrupt tables are errors and change nothing.
        let empty = Trainer::new("cl100k", &[]).unwrap();
        let mut e2 = Trainer::new("cl100k", &[]).unwrap();
        e2.add_counts_bytes(&empty.counts_to_bytes()).unwrap();
        assert_eq!(e2.n_words(), 0);
        let good = whole.counts_to_bytes();
        for cut in [0, 5, 16, 17, good.len() - 1] {
            assert!(matches!(e2.add_counts_bytes(&good[..cut]), Err(Error::Format(_))), "cut {cut}");
        }
        let mut extra = good.clone();
        extra.push(0);
        assert!(e2.add_counts_bytes(&extra).is_err());
        assert_eq!(e2.n_words(), 0);
    }
}
