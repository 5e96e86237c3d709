//! Decoding: ids -> bytes -> text, with an explicit policy for invalid UTF-8, and a streaming
//! decoder that never emits half a code point when a character is split across tokens.
//!
//! Cost: one pass copying token bytes (memory bound), then one UTF-8 validation pass.

use super::{Specials, Tokenizer, Vocab};
use crate::error::{Error, Result};

/// Bytes of every id (specials included) in one arena: id `i` is `arena[offs[i]..offs[i + 1]]`,
/// empty for unused ids (real tokens are never empty). The arena has 16 bytes of slack so short
/// tokens are copied with one fixed-size, unaligned 16-byte move instead of a `memcpy` call.
#[derive(Clone, Debug)]
pub(crate) struct DecodeTable {
    arena: Vec<u8>,
    offs: Vec<u32>,
}

const SLACK: usize = 16;

impl DecodeTable {
    pub(crate) fn new(vocab: &Vocab, specials: &Specials) -> Self {
        let bound = specials.tokens().iter().map(|t| t.1 + 1).max().unwrap_or(0).max(vocab.id_bound()) as usize;
        let mut arena = Vec::new();
        let mut offs = Vec::with_capacity(bound + 1);
        for id in 0..bound as u32 {
            offs.push(arena.len() as u32);
            if let Some(t) = vocab.token(id).or_else(|| specials.get(id).map(str::as_bytes)) {
                arena.extend_from_slice(t);
            }
        }
        offs.push(arena.len() as u32);
        arena.extend_from_slice(&[0; SLACK]);
        DecodeTable { arena, offs }
    }

    /// Total bytes of `ids`; `Err(index)` of the first unknown id.
    pub(crate) fn decoded_len(&self, ids: &[u32]) -> std::result::Result<usize, usize> {
        let n = self.offs.len() - 1;
        let mut total = 0usize;
        for (i, &id) in ids.iter().enumerate() {
            let id = id as usize;
            if id >= n {
                return Err(i);
            }
            let len = (self.offs[id + 1] - self.offs[id]) as usize;
            if len == 0 {
                return Err(i);
            }
            total += len;
        }
        Ok(total)
    }

    /// Write the bytes of `ids` into `buf`, which must be exactly `decoded_len(ids)` long (ids
    /// already validated by that call). Uses 16-byte moves while 16 bytes of room remain.
    pub(crate) fn write_exact(&self, ids: &[u32], buf: &mut [u8]) {
        let mut at = 0usize;
        for &id in ids {
            let (s, e) = (self.offs[id as usize] as usize, self.offs[id as usize + 1] as usize);
            let len = e - s;
            if len <= SLACK && at + SLACK <= buf.len() {
                buf[at..at + SLACK].copy_from_slice(&self.arena[s..s + SLACK]);
            } else {
                buf[at..at + len].copy_from_slice(&self.arena[s..e]);
            }
            at += len;
        }
    }

    /// Append the bytes of `ids`; `Err(index)` of the first unknown id (nothing appended).
    pub(crate) fn decode_into(&self, ids: &[u32], out: &mut Vec<u8>) -> std::result::Result<(), usize> {
        // Pass 1: validate and size, so pass 2 can copy without checks.
        let total = self.decoded_len(ids)?;
        out.reserve(total + SLACK);
        let base = out.len();
        let arena = self.arena.as_ptr();
        // SAFETY: every id was checked above; `out` has `total + SLACK` spare bytes, so each
        // 16-byte store (or exact copy for longer tokens) stays inside its capacity, and the
        // arena has SLACK bytes after its last token so each 16-byte load stays inside it.
        unsafe {
            let mut dst = out.as_mut_ptr().add(base);
            for &id in ids {
                let s = *self.offs.get_unchecked(id as usize) as usize;
                let e = *self.offs.get_unchecked(id as usize + 1) as usize;
                let len = e - s;
                if len <= SLACK {
                    std::ptr::copy_nonoverlapping(arena.add(s), dst, SLACK);
                } else {
                    std::ptr::copy_nonoverlapping(arena.add(s), dst, len);
                }
                dst = dst.add(len);
            }
            out.set_len(base + total);
        }
        Ok(())
    }
}

/// What to do with bytes that are not valid UTF-8.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Utf8Policy {
    /// Raise a decode error naming the byte offset and the token.
    Strict,
    /// Replace each maximal invalid subsequence with U+FFFD (Python's `errors="replace"`).
    Replace,
    /// Drop invalid bytes.
    Ignore,
}

impl Utf8Policy {
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "strict" => Ok(Utf8Policy::Strict),
            "replace" => Ok(Utf8Policy::Replace),
            "ignore" => Ok(Utf8Policy::Ignore),
            _ => Err(crate::value_err!("errors={s:?} is not one of 'strict', 'replace', 'ignore'")),
        }
    }

    /// The name `parse` reads.
    pub fn name(self) -> &'static str {
        match self {
            Utf8Policy::Strict => "strict",
            Utf8Policy::Replace => "replace",
            Utf8Policy::Ignore => "ignore",
        }
    }
}

impl Tokenizer {
    /// Concatenated bytes of `ids`. Unknown ids are an error naming the id and its index.
    pub fn decode_bytes(&self, ids: &[u32]) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(ids.len() * 4);
        self.decode_bytes_into(ids, &mut out)?;
        Ok(out)
    }

    /// Append the bytes of `ids` to `out`.
    pub fn decode_bytes_into(&self, ids: &[u32], out: &mut Vec<u8>) -> Result<()> {
        self.table.decode_into(ids, out).map_err(|i| {
            Error::Decode(format!("unknown token id {} at index {i} (this tokenizer's ids are below {})", ids[i], self.vocab_size()))
        })
    }

    /// Number of bytes `ids` decode to (unknown ids are an error, as in `decode_bytes`).
    pub fn decoded_len(&self, ids: &[u32]) -> Result<usize> {
        self.table.decoded_len(ids).map_err(|i| {
            Error::Decode(format!("unknown token id {} at index {i} (this tokenizer's ids are below {})", ids[i], self.vocab_size()))
        })
    }

    /// Write the bytes of `ids` into `buf` of exactly [`Self::decoded_len`] bytes.
    pub fn decode_to_slice(&self, ids: &[u32], buf: &mut [u8]) -> Result<()> {
        if self.decoded_len(ids)? != buf.len() {
            return Err(Error::Shape(format!("buffer of {} bytes does not fit the decoded ids", buf.len())));
        }
        self.table.write_exact(ids, buf);
        Ok(())
    }

    /// Decode ids to text under `policy`.
    pub fn decode(&self, ids: &[u32], policy: Utf8Policy) -> Result<String> {
        let bytes = self.decode_bytes(ids)?;
        bytes_to_string(bytes, policy).map_err(|at| {
            let (mut acc, mut idx) = (0usize, 0usize);
            for (i, &id) in ids.iter().enumerate() {
                let l = self.id_to_token(id).map_or(0, |t| t.len());
                if acc + l > at {
                    idx = i;
                    break;
                }
                acc += l;
            }
            Error::Decode(format!(
                "invalid UTF-8 at byte {at} (in token index {idx}, id {}); pass errors='replace' or 'ignore' to accept it",
                ids[idx]
            ))
        })
    }
}

/// Bytes to text under a policy; `Err(offset)` of the first invalid byte under `Strict`.
pub fn bytes_to_string(bytes: Vec<u8>, policy: Utf8Policy) -> std::result::Result<String, usize> {
    match String::from_utf8(bytes) {
        Ok(s) => Ok(s),
        Err(e) => {
            let bytes = e.into_bytes();
            match policy {
                Utf8Policy::Strict => Err(std::str::from_utf8(&bytes).unwrap_err().valid_up_to()),
                Utf8Policy::Replace => Ok(String::from_utf8_lossy(&bytes).into_owned()),
                Utf8Policy::Ignore => Ok(bytes.utf8_chunks().map(|c| c.valid()).collect()),
            }
        }
    }
}

/// Incremental decoder: feed ids, get text; an incomplete trailing UTF-8 sequence is held back
/// until the next call or `finish`. Invalid bytes are handled by the policy as soon as they are
/// known to be invalid, so the concatenated output equals `decode` of all ids.
#[derive(Clone, Debug)]
pub struct StreamDecoder {
    pending: Vec<u8>,
    policy: Utf8Policy,
    consumed: usize,
}

impl StreamDecoder {
    pub fn new(policy: Utf8Policy) -> Self {
        StreamDecoder { pending: Vec::new(), policy, consumed: 0 }
    }

    /// Append token bytes; return the text that is now complete.
    pub fn push_bytes(&mut self, bytes: &[u8]) -> Result<String> {
        self.pending.extend_from_slice(bytes);
        self.drain(false)
    }

    /// Decode `ids` with `tok` and append them.
    pub fn step(&mut self, tok: &Tokenizer, ids: &[u32]) -> Result<String> {
        tok.decode_bytes_into(ids, &mut self.pending)?;
        self.drain(false)
    }

    /// Flush: an incomplete trailing sequence is invalid now.
    pub fn finish(&mut self) -> Result<String> {
        self.drain(true)
    }

    /// Bytes held back waiting for the rest of a character.
    pub fn pending(&self) -> &[u8] {
        &self.pending
    }

    pub fn policy(&self) -> Utf8Policy {
        self.policy
    }

    /// Bytes of the stream already turned into text (error messages count from the start).
    pub fn consumed(&self) -> usize {
        self.consumed
    }

    /// Continue a copied decoder: `pending` held back after `consumed` bytes (any bytes are a
    /// valid state: the next call decodes them with the policy).
    pub fn restore(&mut self, pending: &[u8], consumed: usize) {
        self.pending = pending.to_vec();
        self.consumed = consumed;
    }

    fn drain(&mut self, last: bool) -> Result<String> {
        let mut out = String::new();
        let mut i = 0;
        let buf = std::mem::take(&mut self.pending);
        loop {
            match std::str::from_utf8(&buf[i..]) {
                Ok(s) => {
                    out.push_str(s);
                    i = buf.len();
                    break;
                }
                Err(e) => {
                    let good = e.valid_up_to();
                    out.push_str(std::str::from_utf8(&buf[i..i + good]).unwrap_or_default());
                    i += good;
                    let bad = match e.error_len() {
                        Some(n) => n,
                        None if !last => break, // incomplete: wait for more bytes
                        None => buf.len() - i,
                    };
                    match self.policy {
                        Utf8Policy::Strict => {
                            let at = self.consumed + i;
                            self.pending = buf[i..].to_vec();
                            self.consumed = at;
                            return Err(Error::Decode(format!("invalid UTF-8 at byte {at} of the stream")));
                        }
                        Utf8Policy::Replace => out.push('\u{fffd}'),
                        Utf8Policy::Ignore => {}
                    }
                    i += bad;
                }
            }
        }
        self.consumed += i;
        self.pending = buf[i..].to_vec();
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_holds_split_characters() {
        let text = "a€b😀";
        let b = text.as_bytes();
        let mut d = StreamDecoder::new(Utf8Policy::Strict);
        let mut out = String::new();
        for k in 0..b.len() {
            out += &d.push_bytes(&b[k..k + 1]).unwrap();
        }
        out += &d.finish().unwrap();
        assert_eq!(out, text);
    }

    #[test]
    fn stream_replace_equals_lossy() {
        let b: &[u8] = b"ok\xe2\x82 x\xff\xf0\x9f\x98";
        let mut d = StreamDecoder::new(Utf8Policy::Replace);
        let mut out = String::new();
        for c in b.chunks(2) {
            out += &d.push_bytes(c).unwrap();
        }
        out += &d.finish().unwrap();
        assert_eq!(out, String::from_utf8_lossy(b));
    }
}
