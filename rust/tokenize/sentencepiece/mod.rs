//! sentencepiece `.model` files, encoded and decoded exactly as `SentencePieceProcessor`
//! does (`sentencepiece_processor.cc`), without the C++ library.
//!
//! Encode: normalize (`normalize.rs`: charsmap, whitespace rules, user-defined symbols kept
//! verbatim), run the model over the normalized string (`unigram.rs`: Viterbi; `model.rs`:
//! score-ordered BPE, CHAR, WORD; both cut the string into words at U+2581 when no piece can
//! span one and cache words per thread, exactly), then map segments to ids as `PopulateSentencePieceText`
//! does: a run of unknown segments becomes one unknown id, or with `byte_fallback` each
//! unknown segment becomes its UTF-8 bytes' `<0xXX>` pieces. Decode: pieces with U+2581 as
//! space, the first leading U+2581 dropped (every leading one while the text is empty with
//! `remove_extra_whitespaces`), control pieces dropped, the unknown piece shown as
//! `unk_surface`, runs of byte pieces decoded as UTF-8 with one U+FFFD per bad byte, then the
//! denormalizer's charsmap if the model has one.
//!
//! Load checks mirror `ModelInterface::InitializePieces` (non-empty unique pieces, exactly one
//! unknown piece, byte pieces only and all 256 of them with `byte_fallback`) and the charsmap
//! decoder; all failures are `Error::Format` naming the file. Pieces split into the model's
//! dictionary (NORMAL, USER_DEFINED, UNUSED) and reserved ones (CONTROL, UNKNOWN, BYTE), which
//! `PieceToId` looks up first, as there. Everything is immutable after load; batches run on
//! seqfast's pool with per-thread scratch. Cost: linear in the text (BPE n log n).

pub mod model;
pub mod normalize;
pub mod proto;
mod slots;
pub mod unigram;

use std::cell::RefCell;
use std::path::Path;

use self::model::BpeScratch;
use self::normalize::{valid_char_len, Normalizer, SPACE};
use self::proto::{ModelType, PieceType};
use self::unigram::UniScratch;
use crate::error::{Error, Result};
use crate::tokenize::encode::encode_rows;
use crate::tokenize::pipeline::precompiled::Charsmap;
use crate::tokenize::pipeline::unigram::trie::PieceTrie;

/// A loaded sentencepiece model.
#[derive(Clone, Debug)]
pub struct SentencePiece {
    bytes: Vec<u8>,
    pieces: Vec<String>,
    pub(crate) scores: Vec<f32>,
    pub(crate) kinds: Vec<PieceType>,
    /// `(score, kind)` per id, together for the Viterbi's one load per match.
    pub(crate) info: Vec<(f32, PieceType)>,
    kind: ModelType,
    /// NORMAL, USER_DEFINED and UNUSED pieces.
    pub(crate) trie: PieceTrie,
    /// The dictionary again, with scores and kinds at hand, for the Unigram Viterbi (empty
    /// for other models).
    pub(crate) vtrie: PieceTrie<unigram::Leaf>,
    /// CONTROL, UNKNOWN and BYTE pieces.
    reserved: PieceTrie,
    /// USER_DEFINED pieces, when there are any.
    pub(crate) user: Option<PieceTrie>,
    pub(crate) unk_id: u32,
    byte_fallback: bool,
    byte_ids: Vec<u32>,
    pub(crate) min_score: f32,
    pub(crate) max_score: f32,
    normalizer: Normalizer,
    /// `Some(None)`: the model has a denormalizer whose charsmap sentencepiece cannot read
    /// (it then decodes every text to "").
    denormalizer: Option<Option<Normalizer>>,
    unk_surface: String,
    specials: [Option<u32>; 3],
    /// How Unigram and BPE may split the normalized text into cacheable words.
    pub(crate) uni_split: model::WsSplit,
    pub(crate) bpe_split: model::WsSplit,
    /// Unique per loaded model (clones share it), so per-thread word caches never mix models.
    pub(crate) uid: u64,
}

#[derive(Default)]
struct Scratch {
    norm: Vec<u8>,
    seg: Vec<(u32, u32, u32)>,
    bpe: BpeScratch,
    uni: UniScratch,
}

static NEXT_UID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

fn charsmap(spec: &proto::NormalizerSpec, src: &str, what: &str) -> Result<Option<Charsmap>> {
    let b = &spec.precompiled_charsmap;
    if b.is_empty() {
        return Ok(None);
    }
    let bad = |m: String| Error::Format(format!("{src}: the {what} precompiled_charsmap is broken: {m}"));
    if b.len() <= 4 {
        return Err(bad(format!("{} bytes", b.len())));
    }
    let size = u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize;
    if size >= b.len() || size % 4 != 0 || size + 4 > b.len() {
        return Err(bad(format!("trie size {size} in a blob of {} bytes", b.len())));
    }
    Charsmap::from_bytes(b).map(Some).map_err(|e| bad(e.to_string()))
}

impl SentencePiece {
    /// Load a `.model` file.
    pub fn load(path: &Path) -> Result<SentencePiece> {
        let bytes = std::fs::read(path).map_err(|e| Error::io("read", path, e))?;
        Self::from_bytes(bytes, &path.display().to_string())
    }

    /// Parse a serialized `ModelProto`; `src` names it in errors.
    pub fn from_bytes(bytes: Vec<u8>, src: &str) -> Result<SentencePiece> {
        let m = proto::parse(&bytes, src)?;
        let bad = |m: String| Error::Format(format!("{src}: {m}"));
        if m.pieces.len() >= 1 << 30 {
            return Err(bad(format!("{} pieces", m.pieces.len())));
        }
        let t = &m.trainer_spec;
        let mut unk = None;
        let mut byte_ids = vec![u32::MAX; 256];
        let (mut dict, mut reserved) = (Vec::new(), Vec::new());
        for (i, p) in m.pieces.iter().enumerate() {
            if p.piece.is_empty() {
                return Err(bad(format!("piece {i} is empty")));
            }
            let normal = matches!(p.kind, PieceType::Normal | PieceType::UserDefined | PieceType::Unused);
            if normal { &mut dict } else { &mut reserved }.push((p.piece.as_bytes(), i as u32));
            match p.kind {
                PieceType::Unknown if unk.is_some() => return Err(bad(format!("a second unknown piece, {:?} (id {i})", p.piece))),
                PieceType::Unknown => unk = Some(i as u32),
                PieceType::Byte => {
                    if !t.byte_fallback {
                        return Err(bad(format!("byte piece {:?} (id {i}) although byte_fallback is false", p.piece)));
                    }
                    let b = piece_byte(&p.piece).ok_or_else(|| bad(format!("byte piece {:?} (id {i}) is not <0xXX>", p.piece)))?;
                    byte_ids[b as usize] = i as u32;
                }
                _ => {}
            }
        }
        for set in [&mut dict, &mut reserved] {
            set.sort();
            if let Some(w) = set.windows(2).find(|w| w[0].0 == w[1].0) {
                return Err(bad(format!(
                    "the piece {:?} is defined twice (ids {} and {})",
                    String::from_utf8_lossy(w[0].0),
                    w[0].1,
                    w[1].1
                )));
            }
        }
        let unk_id = unk.ok_or_else(|| bad("the model has no unknown piece".into()))?;
        if t.byte_fallback && byte_ids.contains(&u32::MAX) {
            return Err(bad("byte_fallback is set but the model does not have all 256 byte pieces".into()));
        }
        if dict.is_empty() && matches!(t.model_type, ModelType::Unigram) {
            return Err(bad("the model has no pieces".into()));
        }
        let users: Vec<(&[u8], u32)> = m
            .pieces
            .iter()
            .enumerate()
            .filter(|p| p.1.kind == PieceType::UserDefined)
            .map(|(i, p)| (p.piece.as_bytes(), i as u32))
            .collect();
        let user = (!users.is_empty()).then(|| PieceTrie::build(users));
        let (mut min_score, mut max_score) = (f32::MAX, f32::MIN_POSITIVE);
        for p in m.pieces.iter().filter(|p| p.kind == PieceType::Normal) {
            min_score = if p.score < min_score { p.score } else { min_score };
            max_score = if p.score > max_score { p.score } else { max_score };
        }
        let ns = &m.normalizer_spec;
        let normalizer = Normalizer::new(
            charsmap(ns, src, "normalizer's")?,
            ns.add_dummy_prefix,
            ns.remove_extra_whitespaces,
            ns.escape_whitespaces,
            t.treat_whitespace_as_suffix,
            user.clone(),
        );
        let denormalizer = m.denormalizer_spec.as_ref().filter(|d| !d.precompiled_charsmap.is_empty()).map(|d| {
            charsmap(d, src, "denormalizer's")
                .ok()
                .map(|cm| Normalizer::new(cm, d.add_dummy_prefix, d.remove_extra_whitespaces, d.escape_whitespaces, false, None))
        });
        let trie = PieceTrie::build(dict);
        let vtrie = if t.model_type == ModelType::Unigram { unigram::leaf_trie(&m.pieces) } else { PieceTrie::build([]) };
        let dict_pieces = || m.pieces.iter().filter(|p| matches!(p.kind, PieceType::Normal | PieceType::UserDefined | PieceType::Unused));
        let reserved = PieceTrie::build(reserved);
        let mut sp = SentencePiece {
            pieces: m.pieces.iter().map(|p| p.piece.clone()).collect(),
            scores: m.pieces.iter().map(|p| p.score).collect(),
            kinds: m.pieces.iter().map(|p| p.kind).collect(),
            info: m.pieces.iter().map(|p| (p.score, p.kind)).collect(),
            kind: t.model_type,
            trie,
            vtrie,
            reserved,
            user,
            unk_id,
            byte_fallback: t.byte_fallback,
            byte_ids,
            min_score,
            max_score,
            normalizer,
            denormalizer,
            unk_surface: t.unk_surface.clone().unwrap_or_else(|| " \u{2047} ".into()),
            specials: [None; 3],
            uni_split: model::ws_split(dict_pieces().map(|p| p.piece.as_str())),
            bpe_split: if dict_pieces().any(|p| p.kind == PieceType::Unused) {
                model::WsSplit::None
            } else {
                model::ws_split(dict_pieces().map(|p| p.piece.as_str()))
            },
            uid: NEXT_UID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            bytes: Vec::new(),
        };
        let piece_or = |p: &Option<String>, d: &str| p.clone().filter(|s| !s.is_empty()).unwrap_or_else(|| d.to_string());
        for (k, p) in [piece_or(&t.bos_piece, "<s>"), piece_or(&t.eos_piece, "</s>"), piece_or(&t.pad_piece, "<pad>")].iter().enumerate() {
            let id = sp.piece_to_id(p);
            sp.specials[k] = (sp.kinds[id as usize] == PieceType::Control).then_some(id);
        }
        sp.bytes = bytes;
        Ok(sp)
    }

    /// The serialized model (for pickling).
    pub fn model_bytes(&self) -> &[u8] {
        &self.bytes
    }
    pub fn vocab_size(&self) -> usize {
        self.pieces.len()
    }
    pub fn id_to_piece(&self, id: u32) -> Option<&str> {
        self.pieces.get(id as usize).map(String::as_str)
    }
    /// sentencepiece's `PieceToId`: reserved pieces first, then the dictionary, else unknown.
    pub fn piece_to_id(&self, piece: &str) -> u32 {
        self.piece_to_id_bytes(piece.as_bytes())
    }
    /// The id of `piece` if it is one (no unknown fallback).
    pub fn find_piece(&self, piece: &str) -> Option<u32> {
        self.reserved.get(piece.as_bytes()).or_else(|| self.trie.get(piece.as_bytes()))
    }
    #[inline]
    pub(crate) fn piece_to_id_bytes(&self, w: &[u8]) -> u32 {
        self.reserved.get(w).or_else(|| self.trie.get(w)).unwrap_or(self.unk_id)
    }
    pub fn unk_id(&self) -> u32 {
        self.unk_id
    }
    /// Ids of `<s>`, `</s>` and `<pad>` (or the trainer's pieces for them) when those are control pieces.
    pub fn bos_id(&self) -> Option<u32> {
        self.specials[0]
    }
    pub fn eos_id(&self) -> Option<u32> {
        self.specials[1]
    }
    pub fn pad_id(&self) -> Option<u32> {
        self.specials[2]
    }
    pub fn piece_type(&self, id: u32) -> Option<PieceType> {
        self.kinds.get(id as usize).copied()
    }
    pub fn model_type(&self) -> ModelType {
        self.kind
    }
    pub fn byte_fallback(&self) -> bool {
        self.byte_fallback
    }
    pub fn normalizer(&self) -> &Normalizer {
        &self.normalizer
    }

    /// sentencepiece's normalized form of `text` (as `SentencePieceProcessor.normalize`).
    pub fn normalize(&self, text: &str) -> String {
        let mut out = Vec::new();
        self.normalizer.normalize(text, &mut out);
        String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
    }

    fn encode_with(&self, text: &str, out: &mut Vec<u32>, s: &mut Scratch) -> Result<()> {
        let Scratch { norm, seg, bpe, uni } = s;
        self.normalizer.normalize(text, norm);
        seg.clear();
        match self.kind {
            ModelType::Unigram => self.unigram_segments(norm, uni, seg),
            ModelType::Bpe => self.bpe_segments(norm, bpe, seg),
            ModelType::Char => self.char_segments(norm, seg),
            ModelType::Word => self.word_segments(norm, seg),
        }
        let mut prev_unk = false;
        // Only BPE, CHAR and WORD can meet a reserved piece's string (through PieceToId).
        let reserved_possible = self.kind != ModelType::Unigram;
        for &(a, b, id) in seg.iter() {
            if id != self.unk_id && !reserved_possible {
                out.push(id);
                prev_unk = false;
                continue;
            }
            match self.kinds[id as usize] {
                PieceType::Control => {
                    return Err(Error::Value(format!(
                        "sentencepiece cannot encode this text: its normalized form contains the control piece {:?} (id {id}) at byte {a}",
                        self.pieces[id as usize]
                    )))
                }
                PieceType::Unknown if self.byte_fallback => {
                    out.extend(norm[a as usize..b as usize].iter().map(|&c| self.byte_ids[c as usize]))
                }
                PieceType::Unknown if prev_unk => {}
                _ => out.push(id),
            }
            prev_unk = id == self.unk_id;
        }
        if seg.capacity() > 1 << 20 {
            *s = Scratch::default();
        }
        Ok(())
    }

    /// Encode one text, appending ids to `out`.
    pub fn encode_into(&self, text: &str, out: &mut Vec<u32>) -> Result<()> {
        SCRATCH.with(|cell| match cell.try_borrow_mut() {
            Ok(mut s) => self.encode_with(text, out, &mut s),
            Err(_) => self.encode_with(text, out, &mut Scratch::default()),
        })
    }

    /// Encode one text.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        let mut out = Vec::with_capacity(text.len() / 3 + 4);
        self.encode_into(text, &mut out)?;
        Ok(out)
    }

    /// Encode many texts in parallel: flat ids and row offsets (len = texts + 1). Results do
    /// not depend on the thread count; errors name the failing text's index.
    pub fn encode_batch<S: AsRef<str> + Sync>(&self, texts: &[S], num_threads: Option<usize>) -> Result<(Vec<u32>, Vec<i64>)> {
        encode_rows(texts, num_threads, |t, _| self.encode(t))
    }

    /// Decode ids to text as `SentencePieceProcessor.decode` does.
    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        let mut text: Vec<u8> = Vec::new();
        let mut bytes: Vec<u8> = Vec::new();
        let mut is_bos_ws = true;
        let mut bos_ws_seen = false;
        let n = self.norm_flags();
        for &id in ids {
            let piece = self
                .id_to_piece(id)
                .ok_or_else(|| Error::Decode(format!("id {id} is not below the vocabulary size {}", self.pieces.len())))?;
            let id = self.piece_to_id(piece);
            let kind = self.kinds[id as usize];
            if kind == PieceType::Byte {
                bytes.push(piece_byte(piece).unwrap_or(0));
                continue;
            }
            flush_bytes(&mut bytes, &mut text);
            if bos_ws_seen || !text.is_empty() {
                is_bos_ws = false;
            }
            bos_ws_seen = false;
            match kind {
                PieceType::Control => {}
                PieceType::Unknown => {
                    text.extend_from_slice(if self.pieces[id as usize] == piece { &self.unk_surface } else { piece }.as_bytes())
                }
                _ => {
                    let mut p = piece;
                    if is_bos_ws && (n.0 || n.1) {
                        if let Some(rest) = p.strip_prefix(SPACE) {
                            p = rest;
                            bos_ws_seen = !n.1;
                        }
                    }
                    for (i, part) in p.split(SPACE).enumerate() {
                        if i > 0 {
                            text.push(b' ');
                        }
                        text.extend_from_slice(part.as_bytes());
                    }
                }
            }
        }
        flush_bytes(&mut bytes, &mut text);
        let text = String::from_utf8(text).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
        Ok(match &self.denormalizer {
            None => text,
            Some(None) => String::new(),
            Some(Some(d)) => {
                let mut out = Vec::new();
                d.normalize(&text, &mut out);
                String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
            }
        })
    }

    /// `(add_dummy_prefix, remove_extra_whitespaces)` of the normalizer.
    fn norm_flags(&self) -> (bool, bool) {
        (self.normalizer.add_dummy_prefix, self.normalizer.remove_extra_whitespaces)
    }
}

/// Decode held-back byte pieces as UTF-8, one U+FFFD per byte that starts no valid character.
fn flush_bytes(bytes: &mut Vec<u8>, text: &mut Vec<u8>) {
    let mut i = 0;
    while i < bytes.len() {
        match valid_char_len(&bytes[i..]) {
            Some(n) => {
                text.extend_from_slice(&bytes[i..i + n]);
                i += n;
            }
            None => {
                text.extend_from_slice("\u{fffd}".as_bytes());
                i += 1;
            }
        }
    }
    bytes.clear();
}

/// The byte of a `<0xXX>` piece (upper-case hex, as sentencepiece writes them).
fn piece_byte(p: &str) -> Option<u8> {
    let h = p.strip_prefix("<0x")?.strip_suffix('>')?;
    if h.len() != 2 || !h.bytes().all(|c| c.is_ascii_digit() || (b'A'..=b'F').contains(&c)) {
        return None;
    }
    u8::from_str_radix(h, 16).ok()
}

#[cfg(test)]
mod tests;
