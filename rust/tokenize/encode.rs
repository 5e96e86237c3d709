//! Encoding: special-token split, pre-tokenization, merging; single texts and batches.
//!
//! Batches run over the seqfast thread pool, one text per task, each worker with its own
//! scratch buffers; results are concatenated in input order, so ids never depend on the thread
//! count. Output is flat (ids + offsets, CSR) so no per-token Python objects are ever made.

use std::cell::RefCell;

use rayon::prelude::*;

use super::bpe::{encode_piece, Scratch};
use super::special::SpecialPolicy;
use super::Tokenizer;
use crate::error::{Error, Result};
use crate::parallel::{self, CancelToken};

thread_local! {
    /// Each thread's scratch buffers and piece caches, tagged with the tokenizer they belong to,
    /// so caches stay warm across calls and batch items (rayon's `map_init` would start cold
    /// on every split).
    static SCRATCH: RefCell<(u64, u64, Scratch)> = RefCell::new((0, 0, Scratch::default()));
}

/// Bumped by [`clear_caches`]: every thread drops its caches at its next use.
static EPOCH: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Drop every thread's piece and word caches, of every tokenizer kind (byte-level core,
/// tokenizer.json pipelines, sentencepiece models), at their next use (cold-cache benchmarks,
/// releasing memory).
pub fn clear_caches() {
    EPOCH.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
}

/// The current cache generation: a cache filled under another one is stale.
#[inline]
pub(crate) fn cache_epoch() -> u64 {
    EPOCH.load(std::sync::atomic::Ordering::Relaxed)
}

/// Run `f` with this thread's scratch for tokenizer `uid` (caches are dropped when another
/// tokenizer used it last, or after [`clear_caches`]). A re-entrant call gets a fresh scratch.
fn with_scratch<R>(uid: u64, f: impl FnOnce(&mut Scratch) -> R) -> R {
    SCRATCH.with(|cell| match cell.try_borrow_mut() {
        Ok(mut g) => {
            let epoch = EPOCH.load(std::sync::atomic::Ordering::Relaxed);
            if g.0 != uid || g.1 != epoch {
                *g = (uid, epoch, Scratch::default());
            }
            let r = f(&mut g.2);
            g.2.trim();
            r
        }
        Err(_) => f(&mut Scratch::default()),
    })
}

/// The error for a special token's string found under the `error` policy.
pub(crate) fn special_error(token: &str, char_at: usize) -> Error {
    Error::SpecialToken(format!(
        "text contains the special token {token:?} at character {char_at}; pass special='special' to encode it as \
         a special token or special='text' to encode it as ordinary text"
    ))
}

/// Character index of byte offset `byte` in `text`.
pub(crate) fn char_pos(text: &str, byte: usize) -> usize {
    text[..byte].chars().count()
}

impl Tokenizer {
    /// Encode `text`, appending ids to `out`; a long text checks `cancel` every few thousand
    /// pieces.
    pub fn encode_into(&self, text: &str, policy: SpecialPolicy, out: &mut Vec<u32>, s: &mut Scratch, cancel: &CancelToken) -> Result<()> {
        if self.specials().is_empty() || policy == SpecialPolicy::Text {
            return self.encode_ordinary_into(text, 0, out, s, cancel);
        }
        let mut last = 0;
        for (a, b, id) in self.specials().find_iter(text) {
            if policy == SpecialPolicy::Error {
                return Err(special_error(&text[a..b], char_pos(text, a)));
            }
            self.encode_ordinary_into(&text[last..a], last, out, s, cancel)?;
            out.push(id);
            last = b;
        }
        self.encode_ordinary_into(&text[last..], last, out, s, cancel)
    }

    /// Encode a segment free of specials; `base` is its byte offset in the whole text (for errors).
    fn encode_ordinary_into(&self, seg: &str, base: usize, out: &mut Vec<u32>, s: &mut Scratch, cancel: &CancelToken) -> Result<()> {
        if seg.is_empty() {
            return Ok(());
        }
        let prefixed;
        let (seg, shift) = if self.pretokenizer().add_prefix_space() && !seg.starts_with(' ') {
            prefixed = format!(" {seg}");
            (prefixed.as_str(), 1)
        } else {
            (seg, 0)
        };
        let vocab = self.vocab();
        let start = seg.as_ptr() as usize;
        let mut countdown = 4096u32;
        self.pretokenizer().for_each_piece(seg, |piece| {
            countdown -= 1;
            if countdown == 0 {
                countdown = 4096;
                cancel.check()?;
            }
            encode_piece(vocab, piece.as_bytes(), out, s).map_err(|b| {
                let at = base + (piece.as_ptr() as usize - start).saturating_sub(shift);
                Error::Vocab(format!(
                    "the vocabulary has no token for byte 0x{b:02x} (in the piece {piece:?} at byte {at}); \
                     a byte-level vocabulary must contain all 256 single bytes"
                ))
            })
        })
    }

    /// Encode one text.
    pub fn encode(&self, text: &str, policy: SpecialPolicy) -> Result<Vec<u32>> {
        let mut out = Vec::with_capacity(text.len() / 3 + 4);
        let cancel = parallel::cancel_token();
        with_scratch(self.uid(), |s| self.encode_into(text, policy, &mut out, s, &cancel))?;
        Ok(out)
    }

    /// Number of tokens `text` encodes to.
    pub fn count(&self, text: &str, policy: SpecialPolicy) -> Result<usize> {
        Ok(self.encode(text, policy)?.len())
    }

    /// Encode many texts in parallel: flat ids and `offsets` (len = texts + 1), text `i` being
    /// `ids[offsets[i]..offsets[i+1]]`. Errors name the index of the failing text.
    pub fn encode_batch<S: AsRef<str> + Sync>(
        &self,
        texts: &[S],
        policy: SpecialPolicy,
        num_threads: Option<usize>,
    ) -> Result<(Vec<u32>, Vec<i64>)> {
        encode_rows(texts, num_threads, |t, cancel| {
            let mut v = Vec::with_capacity(t.len() / 3 + 4);
            with_scratch(self.uid(), |s| self.encode_into(t, policy, &mut v, s, cancel)).map(|_| v)
        })
    }

    /// Encode one large text using all threads: it is cut at line boundaries that provably do
    /// not change the pieces (built-in patterns only; otherwise one task). Same ids as `encode`.
    pub fn encode_large(&self, text: &str, policy: SpecialPolicy, num_threads: Option<usize>) -> Result<Vec<u32>> {
        const CHUNK: usize = 1 << 18;
        let chunkable = self.pretokenizer().line_cuts_are_safe()
            && !self.pretokenizer().add_prefix_space()
            && !self.specials().any_contains('\n')
            && text.len() > 2 * CHUNK;
        if !chunkable {
            return self.encode(text, policy);
        }
        if policy == SpecialPolicy::Error {
            if let Some((_, b, _)) = self.specials().find_iter(text).next() {
                // Fails at that special, with its position in the whole text.
                return self.encode(&text[..b], policy);
            }
        }
        let chunks = super::pattern::safe_chunks(text, CHUNK);
        let (ids, _) = self.encode_batch(&chunks, policy, num_threads)?;
        Ok(ids)
    }
}

/// `encode` (one text to its ids; it polls the token in long work) over `texts` in parallel,
/// as flat ids and row offsets (len = texts + 1). The result does not depend on the thread
/// count; the first error is returned naming its text's index.
pub(crate) fn encode_rows<S: AsRef<str> + Sync>(
    texts: &[S],
    num_threads: Option<usize>,
    encode: impl Fn(&str, &CancelToken) -> Result<Vec<u32>> + Sync,
) -> Result<(Vec<u32>, Vec<i64>)> {
    let cancel = parallel::cancel_token();
    let parts: Vec<Result<Vec<u32>>> = parallel::install(num_threads, || {
        texts
            .par_iter()
            .with_min_len(8)
            .map(|t| {
                cancel.check()?;
                encode(t.as_ref(), &cancel)
            })
            .collect()
    })?;
    let total: usize = parts.iter().map(|p| p.as_ref().map_or(0, |v| v.len())).sum();
    let mut ids = Vec::with_capacity(total);
    let mut offsets = Vec::with_capacity(parts.len() + 1);
    offsets.push(0i64);
    for (i, p) in parts.into_iter().enumerate() {
        ids.extend_from_slice(&p.map_err(|e| with_index(e, i))?);
        offsets.push(ids.len() as i64);
    }
    Ok((ids, offsets))
}

/// Prefix an error message with the index of the text it concerns.
pub(crate) fn with_index(e: Error, i: usize) -> Error {
    let f = |m: String| format!("text {i}: {m}");
    match e {
        Error::Value(m) => Error::Value(f(m)),
        Error::Shape(m) => Error::Shape(f(m)),
        Error::Vocab(m) => Error::Vocab(f(m)),
        Error::Format(m) => Error::Format(f(m)),
        Error::SpecialToken(m) => Error::SpecialToken(f(m)),
        Error::Decode(m) => Error::Decode(f(m)),
        Error::Io { msg, kind } => Error::Io { msg: f(msg), kind },
        Error::Interrupted => Error::Interrupted,
    }
}

/// Pad CSR rows into a `(rows, len)` box: returns ids, mask (true on real tokens) and `len`.
/// `length = None` uses the longest row; a row longer than `length` is an error unless
/// `truncate`. `left` puts padding before the tokens.
pub fn pad(
    ids: &[u32],
    offsets: &[i64],
    pad_id: u32,
    length: Option<usize>,
    truncate: bool,
    left: bool,
) -> Result<(Vec<u32>, Vec<bool>, usize)> {
    if offsets.is_empty() || offsets[0] != 0 || offsets[offsets.len() - 1] != ids.len() as i64 {
        return Err(Error::Shape(format!("offsets must start at 0 and end at len(ids)={} (got {} offsets)", ids.len(), offsets.len())));
    }
    if offsets.windows(2).any(|w| w[1] < w[0]) {
        return Err(Error::Shape("offsets must be non-decreasing".into()));
    }
    let rows = offsets.len() - 1;
    let longest = offsets.windows(2).map(|w| (w[1] - w[0]) as usize).max().unwrap_or(0);
    let len = length.unwrap_or(longest);
    if longest > len && !truncate {
        let (i, _) = offsets.windows(2).enumerate().find(|(_, w)| (w[1] - w[0]) as usize > len).unwrap();
        return Err(Error::Shape(format!(
            "row {i} has {} tokens, more than length={len}; pass truncate=True to cut it",
            offsets[i + 1] - offsets[i]
        )));
    }
    let too_big = || Error::Shape(format!("padded size {rows} x {len} is too large to allocate"));
    let cells = rows.checked_mul(len).filter(|&c| c <= isize::MAX as usize / 4).ok_or_else(too_big)?;
    let mut out = Vec::new();
    let mut mask = Vec::new();
    out.try_reserve_exact(cells).map_err(|_| too_big())?;
    mask.try_reserve_exact(cells).map_err(|_| too_big())?;
    out.resize(cells, pad_id);
    mask.resize(cells, false);
    for r in 0..rows {
        let row = &ids[offsets[r] as usize..offsets[r + 1] as usize];
        let row = &row[..row.len().min(len)];
        let at = r * len + if left { len - row.len() } else { 0 };
        out[at..at + row.len()].copy_from_slice(row);
        mask[at..at + row.len()].iter_mut().for_each(|m| *m = true);
    }
    Ok((out, mask, len))
}
