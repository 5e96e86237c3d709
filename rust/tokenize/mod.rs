//! Byte-level BPE tokenization: pre-tokenize, merge, decode, train, and the file formats.
//!
//! A [`Tokenizer`] is a [`Vocab`] (tokens + merge table), a [`Pretokenizer`] (regex split) and
//! a set of [`Specials`]. Encoding: split the text at special-token strings (per the
//! [`SpecialPolicy`]), pre-tokenize each segment, merge inside each piece. Decoding concatenates
//! token bytes. Everything is immutable after construction, so one tokenizer serves any number
//! of threads.

pub mod bpe;
pub mod decode;
pub mod encode;
pub mod formats;
mod packed;
pub mod pairs;
pub mod pattern;
pub mod pipeline;
pub mod regex_dialect;
pub mod sentencepiece;
pub mod special;
pub mod split_fast;
pub mod stream;
pub mod train;
pub mod ucs;
pub mod unicode;
pub mod vocab;

pub use decode::{StreamDecoder, Utf8Policy};
pub use pattern::Pretokenizer;
pub use special::{SpecialPolicy, Specials};
pub use vocab::{MergeKind, Vocab};

use crate::error::Result;
use crate::vocab_err;

/// A complete byte-level BPE tokenizer.
#[derive(Clone, Debug)]
pub struct Tokenizer {
    vocab: Vocab,
    pre: Pretokenizer,
    specials: Specials,
    table: decode::DecodeTable,
    /// Unique per constructed tokenizer (clones share it: same vocabulary), so per-thread piece
    /// caches are never used with the wrong vocabulary.
    uid: u64,
}

impl Tokenizer {
    /// Assemble a tokenizer. A special token may share an id with a vocabulary token only if
    /// both are the same bytes (as in GPT-2's `<|endoftext|>`).
    pub fn new(vocab: Vocab, pre: Pretokenizer, specials: Vec<(String, u32)>) -> Result<Self> {
        for (s, id) in &specials {
            if let Some(t) = vocab.token(*id) {
                if t != s.as_bytes() {
                    return Err(vocab_err!("special token {s:?} has id {id}, which is already the token {}", vocab::show(t)));
                }
            }
        }
        let specials = Specials::new(specials)?;
        let table = decode::DecodeTable::new(&vocab, &specials);
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        let uid = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(Tokenizer { vocab, pre, specials, table, uid })
    }

    pub(crate) fn uid(&self) -> u64 {
        self.uid
    }
    pub fn vocab(&self) -> &Vocab {
        &self.vocab
    }
    pub fn pretokenizer(&self) -> &Pretokenizer {
        &self.pre
    }
    pub fn specials(&self) -> &Specials {
        &self.specials
    }
    /// One past the largest id, specials included: the size an embedding table needs.
    pub fn vocab_size(&self) -> u32 {
        let s = self.specials.tokens().iter().map(|t| t.1 + 1).max().unwrap_or(0);
        self.vocab.id_bound().max(s)
    }
    /// Id of a token given its bytes, or of a special token given its string.
    pub fn token_to_id(&self, bytes: &[u8]) -> Option<u32> {
        std::str::from_utf8(bytes).ok().and_then(|s| self.specials.id_of(s)).or_else(|| self.vocab.id_of(bytes))
    }
    /// Bytes of an id (vocabulary token or special token).
    pub fn id_to_token(&self, id: u32) -> Option<&[u8]> {
        self.vocab.token(id).or_else(|| self.specials.get(id).map(str::as_bytes))
    }
}
