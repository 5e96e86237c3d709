//! Hugging Face `tokenizer.json` pipelines of every kind: normalizers, pre-tokenizers, models
//! (BPE, WordPiece, WordLevel, Unigram), added tokens, post-processors and decoders, with the
//! exact semantics of Hugging Face `tokenizers` (ids, offsets, type ids, masks, word ids).
//!
//! Encoding follows HF's stages: split the text at added tokens (before normalization for
//! non-normalized ones, after it for normalized ones), normalize each remaining piece while
//! keeping a byte alignment back to the original text ([`normalized::NormStr`]), pre-tokenize
//! into pieces, run the model inside each piece, map every token's byte range back to the
//! original text, then post-process (special tokens, type ids) and truncate/pad.
//!
//! Cost: linear in the text for every component except BPE merging (n log n per piece) and
//! WordPiece (quadratic in the word length, capped by `max_input_chars_per_word`).
//! Everything is immutable after construction, so one pipeline serves any number of threads.

pub mod added;
pub mod decoders;
pub mod encoding;
pub mod json;
pub mod models;
pub mod normalized;
pub mod normalizers;
pub mod post;
pub mod precompiled;
pub mod pretok;
pub mod stream;
pub mod unigram;

/// A token produced by a model inside one piece: its id and its byte range in the piece's
/// (normalized) text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tok {
    pub id: u32,
    pub start: u32,
    pub end: u32,
}

use serde_json::{json, Value};

use self::added::Added;
use self::decoders::Decoder;
use self::encoding::{Encoding, Side};
use self::models::{DropoutRng, Model};
use self::normalized::NormStr;
use self::normalizers::Normalizer;
use self::post::Post;
use self::pretok::PreTok;
use crate::error::Result;
use crate::tokenize::encode;
use crate::tokenize::packed::{pack2, PACK2_MAX};

/// Which sequence of a pair gives up tokens first (HF's `TruncationStrategy`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Strategy {
    LongestFirst,
    OnlyFirst,
    OnlySecond,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Truncation {
    pub max_length: usize,
    pub stride: usize,
    pub strategy: Strategy,
    pub side: Side,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Padding {
    /// `Some(n)`: pad to n; `None`: to the longest of the batch.
    pub fixed: Option<usize>,
    pub side: Side,
    pub multiple: Option<usize>,
    pub pad_id: u32,
    pub pad_type: u32,
    pub pad_token: String,
}

/// A whole Hugging Face tokenizer.
#[derive(Clone, Debug)]
pub struct Pipeline {
    pub normalizer: Option<Normalizer>,
    pub pre: Option<PreTok>,
    pub model: Model,
    pub post: Option<Post>,
    pub decoder: Option<Decoder>,
    pub added: Added,
    pub truncation: Option<Truncation>,
    pub padding: Option<Padding>,
    /// The document it was read from (written back by `to_json`).
    pub doc: Value,
    /// The post-processor trims offsets (token whitespace counts are needed).
    pub trims: bool,
    /// Identifies the model for the per-thread piece cache (clones share it).
    pub uid: u64,
    /// seqfast's byte-level BPE core, when the file is plain byte-level BPE (no normalizer,
    /// ByteLevel pre-tokenization, BPE without unk, prefix, suffix, fallback or dropout): it
    /// gives the same ids far faster, and is used when no offsets or word ids are asked for.
    pub fast: Option<std::sync::Arc<crate::tokenize::Tokenizer>>,
    /// The byte-level core of the file as it stands, if it is plain byte-level BPE (the one
    /// `HFTokenizer`'s byte-level methods run on; `fast` shares it when it can).
    pub byte_level: Option<std::sync::Arc<crate::tokenize::Tokenizer>>,
}

/// Per-thread cache of model output per piece string (HF caches BPE words the same way). The
/// model is a pure function of the piece (without dropout), so cached and fresh tokens are
/// identical; the cache is dropped when it grows past `CACHE_MAX` entries or another model
/// uses the thread.
///
/// Layout: pieces of up to 31 bytes under a packed key of two `u128`s (compared inside the
/// table, no pointer to follow), longer ones under their text; the tokens of every entry in
/// one arena (no allocation per entry).
const CACHE_MAX: usize = 1 << 16;

#[derive(Default)]
struct PieceCache {
    uid: u64,
    /// The cache epoch it was filled in (`Tokenizer.clear_caches` starts a new one).
    epoch: u64,
    short: rustc_hash::FxHashMap<(u128, u128), (u32, u32)>,
    long: rustc_hash::FxHashMap<Box<str>, (u32, u32)>,
    toks: Vec<Tok>,
}

impl PieceCache {
    fn get(&self, key: &str) -> Option<&[Tok]> {
        let &(at, n) = if key.len() <= PACK2_MAX { self.short.get(&pack2(key.as_bytes())) } else { self.long.get(key) }?;
        Some(&self.toks[at as usize..(at + n) as usize])
    }
}

thread_local! {
    static CACHE: std::cell::RefCell<PieceCache> = std::cell::RefCell::new(PieceCache::default());
}

/// Append the cached tokens of `key` (not empty) to `out` (true) if this thread's cache holds
/// them.
fn cache_get(uid: u64, key: &str, out: &mut Vec<Tok>) -> bool {
    CACHE.with(|c| {
        let c = c.borrow();
        // Pushed one by one: most pieces are 1-3 tokens, below what a memcpy call pays for.
        c.uid == uid && c.epoch == encode::cache_epoch() && c.get(key).map(|t| t.iter().for_each(|&x| out.push(x))).is_some()
    })
}

/// Remember the tokens of `key` (not empty; the cache restarts when another model uses the
/// thread or it is full).
fn cache_put(uid: u64, key: &str, toks: &[Tok]) {
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        let epoch = encode::cache_epoch();
        if c.uid != uid || c.epoch != epoch || c.short.len() + c.long.len() >= CACHE_MAX || c.toks.len() + toks.len() > u32::MAX as usize {
            c.short.clear();
            c.long.clear();
            c.toks.clear();
            (c.uid, c.epoch) = (uid, epoch);
        }
        let v = (c.toks.len() as u32, toks.len() as u32);
        c.toks.extend_from_slice(toks);
        if key.len() <= PACK2_MAX {
            c.short.insert(pack2(key.as_bytes()), v);
        } else {
            c.long.insert(key.into(), v);
        }
    })
}

/// A new model id for the piece cache.
pub fn next_uid() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// Leading and trailing `Ġ`/whitespace chars of a token string (HF's `process_offsets`).
fn spaces(t: &str) -> (u16, u16) {
    let sp = |c: &char| *c == 'Ġ' || c.is_whitespace();
    let lead = t.chars().take_while(sp).count().min(u16::MAX as usize) as u16;
    let trail = t.chars().rev().take_while(sp).count().min(u16::MAX as usize) as u16;
    (lead, trail)
}

/// Byte offsets to char offsets in `text` (HF's `BytesToCharOffsetConverter`).
struct CharOffsets {
    map: Option<Vec<u32>>,
}

impl CharOffsets {
    fn new(text: &str) -> CharOffsets {
        if text.is_ascii() {
            return CharOffsets { map: None };
        }
        let mut map = vec![0u32; text.len()];
        for (i, (b, c)) in text.char_indices().enumerate() {
            map[b..b + c.len_utf8()].fill(i as u32);
        }
        CharOffsets { map: Some(map) }
    }
    fn convert(&self, (s, e): (u32, u32)) -> (u32, u32) {
        let Some(map) = &self.map else { return (s, e) };
        match (map.get(s as usize), map.get(e as usize)) {
            (Some(&a), Some(&b)) => (a, b),
            (Some(&a), None) => {
                let last = e.checked_sub(1).and_then(|x| map.get(x as usize)).copied().unwrap_or(a + 1);
                (a, last + 1)
            }
            _ => (s, e),
        }
    }
}

impl Pipeline {
    pub fn from_json(text: &str, what: &str) -> Result<Pipeline> {
        json::parse(text, what)
    }

    /// Ids of one sequence through the byte-level core: the text is split at added tokens
    /// exactly as the pipeline does, and each remaining piece is one byte-level segment
    /// (HF's ByteLevel pre-tokenizer also works per piece). Offsets and word ids are left 0.
    fn encode_one_fast(&self, fast: &crate::tokenize::Tokenizer, text: &str, type_id: u32) -> Result<Encoding> {
        let p = self.added.extract_and_normalize(None, text, 0)?;
        let mut enc = Encoding::default();
        for sp in &p.splits {
            match &sp.toks {
                Some(t) => t.iter().for_each(|t| enc.push(t.id, type_id, (0, 0), 0, 0)),
                None => {
                    for id in fast.encode(p.text(sp), crate::tokenize::SpecialPolicy::Text)? {
                        enc.push(id, type_id, (0, 0), 0, 0);
                    }
                }
            }
        }
        Ok(enc)
    }

    /// One sequence, before post-processing (HF's `encode_single_sequence`).
    pub fn encode_one(&self, text: &str, type_id: u32, seed: Option<u64>) -> Result<Encoding> {
        self.encode_one_with(text, type_id, seed, false)
    }

    fn encode_one_with(&self, text: &str, type_id: u32, seed: Option<u64>, ids_only: bool) -> Result<Encoding> {
        if ids_only {
            if let Some(f) = &self.fast {
                // The fast core has no normalizer: usable when there is none, or when it is NFC
                // and the text is already in NFC (then NFC changes nothing, added tokens included).
                let identity = match &self.normalizer {
                    None => true,
                    Some(_) => {
                        text.is_ascii()
                            || unicode_normalization_alignments::is_nfc_quick(text.chars())
                                == unicode_normalization_alignments::IsNormalized::Yes
                    }
                };
                if identity {
                    return self.encode_one_fast(f, text, type_id);
                }
            }
        }
        let mut pieces = self.added.extract_and_normalize(self.normalizer.as_ref(), text, 0)?;
        if let Some(p) = &self.pre {
            p.apply(&mut pieces)?;
        }
        let dropout = matches!(&self.model, Model::Bpe(b) if b.dropout.is_some_and(|p| p > 0.0));
        let mut rng = seed.filter(|_| dropout).map(DropoutRng);
        let conv = CharOffsets::new(text);
        let mut enc = Encoding::default();
        let mut toks = Vec::new();
        for (w, sp) in pieces.splits.iter().enumerate() {
            let piece = pieces.text(sp);
            // A lazily byte-level piece: tokens come in raw byte units (cached by the raw text);
            // `own` is the mapped piece when that does not work out (then offsets use it).
            let mut own: Option<NormStr> = None;
            let toks: &[Tok] = match &sp.toks {
                Some(t) => t,
                None => {
                    toks.clear();
                    if sp.bytes && (rng.is_some() || !self.tokenize_raw_bytes(piece, &mut toks)?) {
                        toks.clear();
                        let ns = pieces.owned(sp);
                        self.tokenize_piece(&ns.norm, &mut toks, rng.as_mut())?;
                        own = Some(ns);
                    } else if !sp.bytes {
                        self.tokenize_piece(piece, &mut toks, rng.as_mut())?;
                    }
                    &toks
                }
            };
            let added = sp.toks.is_some();
            for t in toks {
                let off = match &own {
                    Some(ns) => ns.original_range(t.start as usize..t.end as usize),
                    None => pieces.original_range(sp, t.start, t.end),
                };
                let off = off.unwrap_or((t.start, t.end));
                enc.push(t.id, type_id, conv.convert(off), 0, w as i64);
                if self.trims {
                    let s = if added { Some(piece) } else { self.model.id_to_token(t.id) };
                    *enc.ws.last_mut().expect("just pushed") = s.map_or((0, 0), spaces);
                }
            }
        }
        Ok(enc)
    }

    /// Tokens of a raw piece that the model reads through GPT-2's byte alphabet, with offsets in
    /// raw bytes (each raw byte is one mapped char, and every mapped char of a token keeps its
    /// source byte's alignment, so raw ranges give HF's offsets). Cached by the raw text. False
    /// if a token does not fall on mapped char boundaries inside the piece (a dropped byte
    /// shifts HF's cumulative offsets): the caller then uses the mapped piece itself.
    fn tokenize_raw_bytes(&self, raw: &str, out: &mut Vec<Tok>) -> Result<bool> {
        if raw.len() <= 256 && cache_get(self.uid, raw, out) {
            return Ok(true);
        }
        let table = pretok::byte_chars();
        let mut mapped = String::with_capacity(raw.len() * 2);
        // raw byte index of each mapped byte offset that starts a char (u32::MAX elsewhere)
        let mut rev = Vec::with_capacity(raw.len() * 2 + 1);
        for (i, &b) in raw.as_bytes().iter().enumerate() {
            let c = table[b as usize];
            rev.push(i as u32);
            if c.len_utf8() == 2 {
                rev.push(u32::MAX);
            }
            mapped.push(c);
        }
        rev.push(raw.len() as u32);
        let mark = out.len();
        // The model directly: the cache holds raw keys here, never mapped ones.
        self.model.tokenize(&mapped, out, None)?;
        for t in &mut out[mark..] {
            let (s, e) = (rev.get(t.start as usize).copied(), rev.get(t.end as usize).copied());
            match (s, e) {
                (Some(s), Some(e)) if s != u32::MAX && e != u32::MAX => {
                    t.start = s;
                    t.end = e;
                }
                _ => {
                    out.truncate(mark);
                    return Ok(false);
                }
            }
        }
        if raw.len() <= 256 {
            cache_put(self.uid, raw, &out[mark..]);
        }
        Ok(true)
    }

    /// The model's tokens of one piece: cut into words before each `▁` that follows another char
    /// when the model's merges never cross one (the same tokens, offsets shifted back), each word through the cache.
    fn tokenize_piece(&self, piece: &str, out: &mut Vec<Tok>, rng: Option<&mut DropoutRng>) -> Result<()> {
        let split = rng.is_none() && matches!(&self.model, Model::Bpe(b) if b.word_split);
        if !split || piece.len() <= 64 {
            return self.tokenize_cached(piece, out, rng);
        }
        let mut start = 0;
        // Cut before each `▁` that follows another char (runs of `▁` may merge among themselves).
        let b = piece.as_bytes();
        let cuts = piece
            .match_indices('\u{2581}')
            .map(|(i, _)| i)
            .filter(|&i| i > 0 && !(i >= 3 && &b[i - 3..i] == "\u{2581}".as_bytes()))
            .chain([piece.len()]);
        for end in cuts {
            let mark = out.len();
            self.tokenize_cached(&piece[start..end], out, None)?;
            for t in &mut out[mark..] {
                t.start += start as u32;
                t.end += start as u32;
            }
            start = end;
        }
        Ok(())
    }

    /// The model's tokens of one piece, through the per-thread cache (not with dropout).
    fn tokenize_cached(&self, piece: &str, out: &mut Vec<Tok>, rng: Option<&mut DropoutRng>) -> Result<()> {
        if rng.is_some() || piece.len() > 256 {
            return self.model.tokenize(piece, out, rng);
        }
        if cache_get(self.uid, piece, out) {
            return Ok(());
        }
        let mark = out.len();
        self.model.tokenize(piece, out, None)?;
        cache_put(self.uid, piece, &out[mark..]);
        Ok(())
    }

    /// The string of an id: an added token's content, else the model's token.
    pub fn id_to_token(&self, id: u32) -> Option<&str> {
        self.added.decoded(id).or_else(|| self.model.id_to_token(id))
    }

    pub fn token_to_id(&self, s: &str) -> Option<u32> {
        self.added.id_of(s).or_else(|| self.model.token_to_id(s))
    }

    /// HF's `get_vocab_size(with_added_tokens=True)`: distinct token strings.
    pub fn vocab_size(&self) -> usize {
        self.model.vocab_size() + self.added.tokens.iter().filter(|t| self.model.token_to_id(&t.content).is_none()).count()
    }

    /// One past the largest id, added tokens included.
    pub fn id_bound(&self) -> u32 {
        let a = self.added.tokens.iter().map(|t| t.id + 1).max().unwrap_or(0);
        a.max(self.model.id_bound())
    }

    fn n_added(&self, pair: bool) -> usize {
        self.post.as_ref().map_or(0, |p| p.added_tokens(pair))
    }

    fn truncate_longest_first(&self, t: &Truncation, a: &mut Encoding, b: Option<&mut Encoding>, add_special: bool) -> Result<()> {
        let n_added = if add_special { self.n_added(b.is_some()) } else { 0 };
        let max = t.max_length.checked_sub(n_added).ok_or_else(|| {
            crate::value_err!("truncation max_length {} is smaller than the {n_added} special tokens the post-processor adds", t.max_length)
        })?;
        if max == 0 {
            a.truncate(0, t.stride, t.side)?;
            if let Some(b) = b {
                b.truncate(0, t.stride, t.side)?;
            }
            return Ok(());
        }
        let total = a.len() + b.as_ref().map_or(0, |b| b.len());
        if total <= max {
            return Ok(());
        }
        match b {
            Some(b) => {
                // HF: the shorter keeps its length if it can, else both get half.
                let (mut n1, mut n2) = (a.len(), b.len());
                let swap = n1 > n2;
                if swap {
                    std::mem::swap(&mut n1, &mut n2);
                }
                n2 = if n1 > max { n1 } else { n1.max(max - n1) };
                if n1 + n2 > max {
                    n1 = max / 2;
                    n2 = n1 + max % 2;
                }
                if swap {
                    std::mem::swap(&mut n1, &mut n2);
                }
                a.truncate(n1, t.stride, t.side)?;
                b.truncate(n2, t.stride, t.side)?;
            }
            None => a.truncate(max, t.stride, t.side)?,
        }
        Ok(())
    }

    /// Encode a text (and a pair), HF's `Tokenizer::encode` with char offsets.
    pub fn encode(&self, text: &str, pair: Option<&str>, add_special: bool, seed: Option<u64>) -> Result<Encoding> {
        self.encode_with(text, pair, add_special, seed, false)
    }

    /// [`Self::encode`]; with `ids_only`, offsets and word ids may be left 0 (ids, type ids and
    /// masks stay exact), which lets a byte-level file take the fast core.
    pub fn encode_with(&self, text: &str, pair: Option<&str>, add_special: bool, seed: Option<u64>, ids_only: bool) -> Result<Encoding> {
        let mut a = self.encode_one_with(text, 0, seed, ids_only)?;
        let mut b = pair.map(|p| self.encode_one_with(p, 1, seed, ids_only)).transpose()?;
        if let Some(t) = &self.truncation {
            match t.strategy {
                Strategy::LongestFirst => self.truncate_longest_first(t, &mut a, b.as_mut(), add_special)?,
                s => {
                    let n_added = if add_special { self.n_added(b.is_some()) } else { 0 };
                    let max = t.max_length.saturating_sub(n_added);
                    let total = a.len() + b.as_ref().map_or(0, |b| b.len());
                    if max == 0 || total > max {
                        let target = match (s, b.as_mut()) {
                            (Strategy::OnlyFirst, _) => &mut a,
                            (_, Some(b)) => b,
                            (_, None) => return Err(crate::value_err!("truncation strategy only_second needs a pair of sequences")),
                        };
                        if max == 0 {
                            target.truncate(0, t.stride, t.side)?;
                        } else {
                            let remove = total - max;
                            if target.len() <= remove {
                                return Err(crate::value_err!(
                                    "truncation: the sequence to truncate ({} tokens) is shorter than the {remove} tokens to remove",
                                    target.len()
                                ));
                            }
                            let keep = target.len() - remove;
                            target.truncate(keep, t.stride, t.side)?;
                        }
                    }
                }
            }
        }
        let mut enc = match &self.post {
            Some(p) => p.process(std::iter::once(a).chain(b).collect(), add_special),
            None => post::merge(std::iter::once(a).chain(b).collect()),
        };
        if let Some(p) = &self.padding {
            let target = p.fixed.unwrap_or(enc.len());
            enc.pad(round_up(target, p.multiple), p.pad_id, p.pad_type, p.side);
        }
        Ok(enc)
    }

    /// Pad a batch as HF's `encode_batch` does after encoding each text.
    pub fn pad_batch(&self, encs: &mut [Encoding]) {
        if let Some(p) = &self.padding {
            let target = p.fixed.unwrap_or_else(|| encs.iter().map(Encoding::len).max().unwrap_or(0));
            let target = round_up(target, p.multiple);
            for e in encs.iter_mut() {
                e.pad(target, p.pad_id, p.pad_type, p.side);
            }
        }
    }

    /// Encode many texts in parallel (results never depend on the thread count).
    pub fn encode_batch<S: AsRef<str> + Sync>(
        &self,
        texts: &[S],
        pairs: Option<&[S]>,
        add_special: bool,
        ids_only: bool,
        num_threads: Option<usize>,
    ) -> Result<Vec<Encoding>> {
        let cancel = crate::parallel::cancel_token();
        use rayon::prelude::*;
        if let Some(p) = pairs {
            if p.len() != texts.len() {
                return Err(crate::error::Error::Shape(format!("{} texts but {} pairs", texts.len(), p.len())));
            }
        }
        let mut encs = crate::parallel::install(num_threads, || {
            (0..texts.len())
                .into_par_iter()
                .map(|i| {
                    cancel.check()?;
                    self.encode_with(texts[i].as_ref(), pairs.map(|p| p[i].as_ref()), add_special, None, ids_only)
                        .map_err(|e| crate::tokenize::encode::with_index(e, i))
                })
                .collect::<Result<Vec<Encoding>>>()
        })??;
        self.pad_batch(&mut encs);
        Ok(encs)
    }

    /// HF's `decode`: unknown ids are skipped; special added tokens too when asked.
    pub fn decode(&self, ids: &[u32], skip_special: bool) -> Result<String> {
        let tokens: Vec<String> = ids
            .iter()
            .filter_map(|&id| self.id_to_token(id))
            .filter(|t| !skip_special || !self.added.is_special(t))
            .map(str::to_string)
            .collect();
        match &self.decoder {
            Some(d) => Ok(d.chain(tokens)?.concat()),
            None => Ok(tokens.join(" ")),
        }
    }

    /// Decode every row of a flat batch (`rows` as `EncodingBatch.row_offsets`).
    pub fn decode_batch(&self, ids: &[u32], rows: &[i64], skip_special: bool, num_threads: Option<usize>) -> Result<Vec<String>> {
        use rayon::prelude::*;
        if rows.is_empty() || rows[0] != 0 || rows.windows(2).any(|w| w[0] > w[1]) || *rows.last().unwrap_or(&0) != ids.len() as i64 {
            return Err(crate::error::Error::Shape(format!(
                "row_offsets must start at 0, never decrease and end at len(ids) = {}",
                ids.len()
            )));
        }
        let cancel = crate::parallel::cancel_token();
        crate::parallel::install(num_threads, || {
            rows.par_windows(2)
                .map(|w| {
                    cancel.check()?;
                    self.decode(&ids[w[0] as usize..w[1] as usize], skip_special)
                })
                .collect::<Result<Vec<String>>>()
        })?
    }

    /// The component kinds, for a repr.
    pub fn describe(&self) -> String {
        let kind = |v: Option<&Value>| v.and_then(|x| x.get("type")).and_then(Value::as_str).unwrap_or("none").to_string();
        let model = match &self.model {
            Model::Bpe(_) => "BPE",
            Model::WordPiece(_) => "WordPiece",
            Model::WordLevel(_) => "WordLevel",
            Model::Unigram(_) => "Unigram",
        };
        format!(
            "model={model}, normalizer={}, pre_tokenizer={}, post_processor={}, decoder={}",
            kind(self.doc.get("normalizer")),
            kind(self.doc.get("pre_tokenizer")),
            kind(self.doc.get("post_processor")),
            kind(self.doc.get("decoder"))
        )
    }

    /// The `tokenizer.json` document, with truncation and padding as set now.
    pub fn to_json(&self) -> Result<String> {
        let mut doc = self.doc.clone();
        let side = |s: Side| if s == Side::Left { "Left" } else { "Right" };
        doc["truncation"] = match &self.truncation {
            None => Value::Null,
            Some(t) => json!({
                "direction": side(t.side), "max_length": t.max_length,
                "strategy": match t.strategy { Strategy::LongestFirst => "LongestFirst", Strategy::OnlyFirst => "OnlyFirst", Strategy::OnlySecond => "OnlySecond" },
                "stride": t.stride,
            }),
        };
        doc["padding"] = match &self.padding {
            None => Value::Null,
            Some(p) => json!({
                "strategy": match p.fixed { Some(n) => json!({"Fixed": n}), None => json!("BatchLongest") },
                "direction": side(p.side), "pad_to_multiple_of": p.multiple, "pad_id": p.pad_id,
                "pad_type_id": p.pad_type, "pad_token": p.pad_token,
            }),
        };
        serde_json::to_string_pretty(&doc).map_err(|e| crate::value_err!("cannot serialise tokenizer: {e}"))
    }
}

fn round_up(n: usize, multiple: Option<usize>) -> usize {
    match multiple {
        Some(m) if m > 0 && n % m > 0 => n + m - n % m,
        _ => n,
    }
}
