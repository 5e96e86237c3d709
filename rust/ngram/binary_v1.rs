//! Version 1 of the binary model form (pickles made before format version 2, `binary.rs`):
//! read for compatibility; the writer is kept for the tests.
//!
//! Layout (every integer little-endian):
//! ```text
//! magic "SQFNGRAM" | version u32 | order u32 | mode u8 (0 backoff, 1 floor, 2 stupid) | alpha f32
//! unk u32 | bos u32 | eos u32 | vocab u64 | smoothing: len u64, UTF-8 bytes
//! words: total bytes u64, then per word a u32 length and the UTF-8 bytes
//! present: vocab bytes (0 or 1)
//! per order n = 1..N: prob (len u64, f32s); per n = 1..N-1: backoff (len u64, f32s)
//! per order n = 2..N: rows u64, prefix u32s, word u32s
//! checksum u64 of everything before it
//! ```
//! Cost: one pass over the model's arrays each way (no text formatting or parsing, no hashing:
//! the query tables are rebuilt lazily on the first query, as after estimation).
//!
//! Reading validates every length against the bytes that remain before allocating, the checksum,
//! and the invariants the queries rely on (prefix rows exist in the order below, word ids are in
//! the vocabulary, one probability per row), so bad bytes give a `Format` error, never a panic.

use super::index::{OrderIndex, Trie};
use super::model::{Mode, Model, Vocab, MAX_ORDER};
use crate::error::{Error, Result};

const MAGIC: &[u8; 8] = b"SQFNGRAM";
const VERSION: u32 = 1;

/// 64-bit checksum of `data` (word-wise multiply-rotate mixing; detects corruption, not attacks).
pub(super) fn checksum(data: &[u8]) -> u64 {
    let mut h: u64 = 0x243F_6A88_85A3_08D3 ^ data.len() as u64;
    let mut words = data.chunks_exact(8);
    for w in &mut words {
        let x = u64::from_le_bytes(w.try_into().expect("8 bytes"));
        h = (h ^ x).wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(29);
    }
    for &b in words.remainder() {
        h = (h ^ b as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(29);
    }
    h ^ (h >> 32)
}

/// The 4-byte values the format stores (u32 ids and rows, f32 numbers), little-endian.
trait Word4: Copy {
    #[cfg_attr(not(test), allow(dead_code))]
    fn to_le(self) -> [u8; 4];
    fn from_le(b: [u8; 4]) -> Self;
}

impl Word4 for u32 {
    fn to_le(self) -> [u8; 4] {
        self.to_le_bytes()
    }
    fn from_le(b: [u8; 4]) -> Self {
        u32::from_le_bytes(b)
    }
}

impl Word4 for f32 {
    fn to_le(self) -> [u8; 4] {
        self.to_le_bytes()
    }
    fn from_le(b: [u8; 4]) -> Self {
        f32::from_le_bytes(b)
    }
}

/// What both format versions write alike after their preamble (see `Reader::head`):
/// order u32 | mode u8 | alpha f32 | unk, bos, eos u32 | vocab u64 | smoothing (len u64, UTF-8).
pub(super) fn put_head(out: &mut Vec<u8>, m: &Model) {
    out.extend_from_slice(&(m.order() as u32).to_le_bytes());
    let (mode, alpha) = match m.mode {
        Mode::Backoff => (0u8, 0f32),
        Mode::Floor => (1, 0.0),
        Mode::Stupid { log_alpha } => (2, log_alpha),
    };
    out.push(mode);
    out.extend_from_slice(&alpha.to_le_bytes());
    for x in [m.unk, m.bos, m.eos] {
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.extend_from_slice(&(m.vocab.len() as u64).to_le_bytes());
    out.extend_from_slice(&(m.smoothing.len() as u64).to_le_bytes());
    out.extend_from_slice(m.smoothing.as_bytes());
}

/// A length-prefixed array of 4-byte values.
#[cfg(test)]
fn put<T: Word4>(out: &mut Vec<u8>, v: &[T]) {
    out.extend_from_slice(&(v.len() as u64).to_le_bytes());
    out.reserve(4 * v.len());
    for &x in v {
        out.extend_from_slice(&x.to_le());
    }
}

/// The model as bytes (see the module doc).
#[cfg(test)]
pub fn to_bytes(m: &Model) -> Vec<u8> {
    let rows: usize = m.prob.iter().map(|p| p.len()).sum();
    let mut out = Vec::with_capacity(64 + m.vocab.iter().map(|w| w.len() + 5).sum::<usize>() + 16 * rows);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    put_head(&mut out, m);
    let word_bytes: usize = m.vocab.iter().map(|w| 4 + w.len()).sum();
    out.extend_from_slice(&(word_bytes as u64).to_le_bytes());
    for w in &m.vocab {
        out.extend_from_slice(&(w.len() as u32).to_le_bytes());
        out.extend_from_slice(w.as_bytes());
    }
    out.extend(m.present.iter().map(|&p| p as u8));
    for p in &m.prob {
        put(&mut out, p);
    }
    for b in &m.backoff {
        put(&mut out, b);
    }
    for o in &m.trie.orders {
        out.extend_from_slice(&(o.len() as u64).to_le_bytes());
        put(&mut out, &o.prefix);
        put(&mut out, &o.word);
    }
    let sum = checksum(&out);
    out.extend_from_slice(&sum.to_le_bytes());
    out
}

pub(super) struct Reader<'a> {
    pub(super) data: &'a [u8],
    pub(super) at: usize,
}

impl<'a> Reader<'a> {
    pub(super) fn err(&self, what: &str) -> Error {
        Error::Format(format!("n-gram model bytes: {what} at offset {}", self.at))
    }
    pub(super) fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8]> {
        if n > self.data.len() - self.at {
            return Err(self.err(&format!("truncated: {what} needs {n} bytes, {} remain", self.data.len() - self.at)));
        }
        let s = &self.data[self.at..self.at + n];
        self.at += n;
        Ok(s)
    }
    pub(super) fn u8(&mut self, what: &str) -> Result<u8> {
        Ok(self.take(1, what)?[0])
    }
    pub(super) fn u32(&mut self, what: &str) -> Result<u32> {
        Ok(u32::from_le_bytes(self.take(4, what)?.try_into().expect("4 bytes")))
    }
    pub(super) fn f32(&mut self, what: &str) -> Result<f32> {
        Ok(f32::from_le_bytes(self.take(4, what)?.try_into().expect("4 bytes")))
    }
    pub(super) fn u64(&mut self, what: &str) -> Result<u64> {
        Ok(u64::from_le_bytes(self.take(8, what)?.try_into().expect("8 bytes")))
    }
    /// A length prefix for items of `size` bytes, checked against what remains.
    pub(super) fn len(&mut self, size: usize, what: &str) -> Result<usize> {
        let n = self.u64(what)?;
        if n > ((self.data.len() - self.at) / size.max(1)) as u64 {
            return Err(self.err(&format!("{what}: length {n} is larger than the data")));
        }
        Ok(n as usize)
    }
    /// The order, the mode and the special ids (unk, bos, eos) of `put_head`, checked.
    pub(super) fn head(&mut self) -> Result<(usize, Mode, [u32; 3])> {
        let n = self.u32("order")? as usize;
        if n == 0 || n > MAX_ORDER {
            return Err(self.err(&format!("order {n} is outside 1..={MAX_ORDER}")));
        }
        let mode = match (self.u8("mode")?, self.f32("alpha")?) {
            (0, _) => Mode::Backoff,
            (1, _) => Mode::Floor,
            (2, a) if a.is_finite() && a <= 0.0 => Mode::Stupid { log_alpha: a },
            (m, a) => return Err(self.err(&format!("unknown mode {m} (alpha {a})"))),
        };
        Ok((n, mode, [self.u32("unk")?, self.u32("bos")?, self.u32("eos")?]))
    }
    /// A length-prefixed array of 4-byte values (see `put`).
    fn array<T: Word4>(&mut self, what: &str) -> Result<Vec<T>> {
        let n = self.len(4, what)?;
        Ok(self.take(4 * n, what)?.chunks_exact(4).map(|c| T::from_le(c.try_into().expect("4 bytes"))).collect())
    }
}

/// A model from [`to_bytes`] output; any other bytes give a `Format` error naming the offset.
pub fn from_bytes(data: &[u8]) -> Result<Model> {
    let mut r = Reader { data, at: 0 };
    if r.take(8, "magic").ok() != Some(&MAGIC[..]) {
        return Err(Error::Format("n-gram model bytes: not a seqfast n-gram model (bad magic at offset 0)".into()));
    }
    let version = r.u32("version")?;
    if version != VERSION {
        return Err(r.err(&format!("version {version} is not supported (this seqfast reads version {VERSION})")));
    }
    if data.len() < 8 + 4 + 8 {
        return Err(r.err("truncated"));
    }
    let body = &data[..data.len() - 8];
    let want = u64::from_le_bytes(data[data.len() - 8..].try_into().expect("8 bytes"));
    if checksum(body) != want {
        return Err(Error::Format(format!("n-gram model bytes: checksum mismatch (offset {}): the data is corrupt", body.len())));
    }
    let mut r = Reader { data: body, at: r.at };
    let (n, mode, [unk, bos, eos]) = r.head()?;
    let v = r.len(1, "vocabulary size")?;
    if v >= u32::MAX as usize {
        return Err(r.err("vocabulary too large"));
    }
    if [unk, bos, eos].iter().any(|&x| x as usize >= v) {
        return Err(r.err(&format!("special ids ({unk}, {bos}, {eos}) outside the vocabulary of {v}")));
    }
    let sl = r.len(1, "smoothing")?;
    let smoothing = std::str::from_utf8(r.take(sl, "smoothing")?).map_err(|_| r.err("smoothing is not UTF-8"))?.to_string();
    let wb = r.len(1, "words")?;
    let words_start = r.at;
    let mut vocab = Vec::with_capacity(v.min(wb / 4));
    for _ in 0..v {
        let len = r.u32("word length")? as usize;
        let w = std::str::from_utf8(r.take(len, "word")?).map_err(|_| r.err("a word is not UTF-8"))?;
        vocab.push(w.to_string());
    }
    if r.at - words_start != wb {
        return Err(r.err("the words take a different size than declared"));
    }
    let present: Vec<bool> = r.take(v, "present flags")?.iter().map(|&b| b != 0).collect();
    let mut prob = Vec::with_capacity(n);
    for k in 1..=n {
        prob.push(r.array(&format!("probabilities of order {k}"))?);
    }
    let mut backoff = Vec::with_capacity(n - 1);
    for k in 1..n {
        backoff.push(r.array(&format!("backoffs of order {k}"))?);
    }
    if prob[0].len() != v {
        return Err(r.err(&format!("{} unigram probabilities for a vocabulary of {v}", prob[0].len())));
    }
    let mut orders = Vec::with_capacity(n.saturating_sub(1));
    for k in 2..=n {
        let rows = r.len(8, &format!("rows of order {k}"))?;
        let prefix: Vec<u32> = r.array(&format!("prefixes of order {k}"))?;
        let word: Vec<u32> = r.array(&format!("words of order {k}"))?;
        let below = if k == 2 { v } else { prob[k - 2].len() };
        if prefix.len() != rows || word.len() != rows || prob[k - 1].len() != rows {
            return Err(r.err(&format!("order {k}: the row arrays disagree with {rows} rows")));
        }
        if prefix.iter().any(|&p| p as usize >= below) || word.iter().any(|&w| w as usize >= v) {
            return Err(r.err(&format!("order {k}: a row names a context or word that does not exist")));
        }
        orders.push(OrderIndex::new(prefix, word)?);
    }
    for (k, b) in backoff.iter().enumerate() {
        if !b.is_empty() && b.len() != prob[k].len() {
            return Err(r.err(&format!("order {}: {} backoffs for {} rows", k + 1, b.len(), prob[k].len())));
        }
    }
    if r.at != body.len() {
        return Err(r.err(&format!("{} bytes left over after the model", body.len() - r.at)));
    }
    Ok(Model::new(Vocab { words: vocab, unk, bos, eos }, present, Trie { orders }, prob, backoff, mode, smoothing))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ngram::{fit_text, Smoothing};

    fn model(sm: Smoothing) -> Model {
        fit_text("the cat sat on the mat\nthe dog sat\na cat and a dog\n", 3, sm, Some(1)).unwrap()
    }

    #[test]
    fn round_trip_scores_identically() {
        for sm in [
            Smoothing::KneserNey { discount_fallback: Some([0.5, 1.0, 1.5]), prune: [0; MAX_ORDER] },
            Smoothing::Mle,
            Smoothing::AddK(0.5),
            Smoothing::Stupid(0.4),
        ] {
            let m = model(sm);
            let b = from_bytes(&to_bytes(&m)).unwrap();
            let ids: Vec<u32> = (0..m.vocab.len() as u32).chain([3, 4, 5, 3]).collect();
            let (s1, s2) = (
                m.score_batch(&ids, &[0, ids.len() as i64], true, true, Some(1)).unwrap(),
                b.score_batch(&ids, &[0, ids.len() as i64], true, true, Some(1)).unwrap(),
            );
            assert_eq!(s1.token.iter().map(|x| x.to_bits()).collect::<Vec<_>>(), s2.token.iter().map(|x| x.to_bits()).collect::<Vec<_>>());
            assert_eq!(b.smoothing, m.smoothing);
            assert_eq!(b.vocab, m.vocab);
        }
    }

    #[test]
    fn bad_bytes_are_format_errors() {
        let good = to_bytes(&model(Smoothing::KneserNey { discount_fallback: Some([0.5, 1.0, 1.5]), prune: [0; MAX_ORDER] }));
        for cut in [0, 5, 12, 40, good.len() / 2, good.len() - 1] {
            assert!(matches!(from_bytes(&good[..cut]), Err(Error::Format(_))), "cut {cut}");
        }
        let mut bad = good.clone();
        let i = bad.len() / 2;
        bad[i] ^= 0x40;
        assert!(matches!(from_bytes(&bad), Err(Error::Format(_))));
        // Fuzz: random flips with the checksum recomputed still never panic.
        let mut s = 0x1234_5678u64;
        for _ in 0..2000 {
            let mut b = good.clone();
            for _ in 0..3 {
                s = crate::rng::mix64(s);
                let at = (s as usize) % (b.len() - 8);
                b[at] = (s >> 40) as u8;
            }
            let body = b.len() - 8;
            let sum = checksum(&b[..body]);
            b[body..].copy_from_slice(&sum.to_le_bytes());
            if let Ok(m) = from_bytes(&b) {
                let ids: Vec<u32> = (0..m.vocab.len() as u32).collect();
                let _ = m.score_batch(&ids, &[0, ids.len() as i64], true, true, Some(1));
            }
        }
    }
}
