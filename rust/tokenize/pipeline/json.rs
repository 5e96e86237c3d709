//! Reading a Hugging Face `tokenizer.json` into a [`Pipeline`], component by component.
//!
//! Every component kind HF serialises is either understood exactly or refused with a
//! `FormatError` naming it and its JSON path (`normalizer.normalizers[2]: ...`); nothing is
//! silently ignored. The document itself is kept, so saving writes back what HF wrote (with
//! truncation and padding as currently set).

use base64::Engine;
use serde_json::Value;

use super::added::{Added, AddedToken};
use super::decoders::Decoder;
use super::encoding::Side;
use super::models::{Bpe, Model, StrVocab, WordLevel, WordPiece};
use super::normalized::Behavior;
use super::normalizers::Normalizer;
use super::post::{Piece, Post};
use super::precompiled::Charsmap;
use super::pretok::{Pat, PreTok, PrependScheme};
use super::unigram::Unigram;
use super::{Padding, Pipeline, Strategy, Truncation};
use crate::error::{Error, Result};
use crate::tokenize::formats::hf;

struct Ctx<'a> {
    what: &'a str,
}

impl Ctx<'_> {
    fn err(&self, path: &str, msg: impl std::fmt::Display) -> Error {
        Error::Format(format!("{}: {path}: {msg}", self.what))
    }
    fn ty<'v>(&self, v: &'v Value, path: &str) -> Result<&'v str> {
        v.get("type").and_then(Value::as_str).ok_or_else(|| self.err(path, "no \"type\" field"))
    }
    fn bool(&self, v: &Value, key: &str, default: bool, path: &str) -> Result<bool> {
        match v.get(key) {
            None | Some(Value::Null) => Ok(default),
            Some(Value::Bool(b)) => Ok(*b),
            Some(x) => Err(self.err(&format!("{path}.{key}"), format!("{x} is not a boolean"))),
        }
    }
    fn str<'v>(&self, v: &'v Value, key: &str, path: &str) -> Result<&'v str> {
        v.get(key).and_then(Value::as_str).ok_or_else(|| self.err(&format!("{path}.{key}"), "missing or not a string"))
    }
    fn opt_str(&self, v: &Value, key: &str, path: &str) -> Result<Option<String>> {
        match v.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(x) => Err(self.err(&format!("{path}.{key}"), format!("{x} is not a string"))),
        }
    }
    fn uint(&self, v: &Value, key: &str, default: u64, path: &str) -> Result<u64> {
        match v.get(key) {
            None | Some(Value::Null) => Ok(default),
            Some(x) => x.as_u64().ok_or_else(|| self.err(&format!("{path}.{key}"), format!("{x} is not a non-negative integer"))),
        }
    }
    fn id(&self, v: &Value, path: &str) -> Result<u32> {
        v.as_u64().filter(|&x| x < u32::MAX as u64).map(|x| x as u32).ok_or_else(|| self.err(path, format!("{v} is not a valid token id")))
    }
    fn char(&self, v: &Value, key: &str, path: &str) -> Result<char> {
        let s = self.str(v, key, path)?;
        let mut it = s.chars();
        match (it.next(), it.next()) {
            (Some(c), None) => Ok(c),
            _ => Err(self.err(&format!("{path}.{key}"), format!("{s:?} must be exactly one character"))),
        }
    }
    fn list<'v>(&self, v: &'v Value, key: &str, path: &str) -> Result<&'v Vec<Value>> {
        v.get(key).and_then(Value::as_array).ok_or_else(|| self.err(&format!("{path}.{key}"), "missing or not a list"))
    }

    fn pattern(&self, v: &Value, path: &str) -> Result<Pat> {
        let p = v.get("pattern").ok_or_else(|| self.err(path, "no pattern"))?;
        if let Some(s) = p.get("String").and_then(Value::as_str) {
            Ok(Pat::Str(s.to_string()))
        } else if let Some(r) = p.get("Regex").and_then(Value::as_str) {
            Pat::regex(r).map_err(|e| self.err(&format!("{path}.pattern"), e))
        } else {
            Err(self.err(&format!("{path}.pattern"), "must be {\"String\": ...} or {\"Regex\": ...}"))
        }
    }

    fn behavior(&self, v: &Value, default: Behavior, path: &str) -> Result<Behavior> {
        match v.get("behavior").and_then(Value::as_str) {
            None => Ok(default),
            Some(b) => Behavior::parse(b).ok_or_else(|| self.err(&format!("{path}.behavior"), format!("unknown behavior {b:?}"))),
        }
    }

    fn prepend_scheme(&self, v: &Value, path: &str) -> Result<PrependScheme> {
        match v.get("prepend_scheme").and_then(Value::as_str) {
            Some("always") => Ok(PrependScheme::Always),
            Some("first") => Ok(PrependScheme::First),
            Some("never") => Ok(PrependScheme::Never),
            Some(x) => Err(self.err(&format!("{path}.prepend_scheme"), format!("unknown scheme {x:?}"))),
            None => Ok(if self.bool(v, "add_prefix_space", true, path)? { PrependScheme::Always } else { PrependScheme::Never }),
        }
    }

    fn normalizer(&self, v: &Value, path: &str) -> Result<Normalizer> {
        Ok(match self.ty(v, path)? {
            "NFC" => Normalizer::Nfc,
            "NFD" => Normalizer::Nfd,
            "NFKC" => Normalizer::Nfkc,
            "NFKD" => Normalizer::Nfkd,
            "Lowercase" => Normalizer::Lowercase,
            "StripAccents" => Normalizer::StripAccents,
            "Nmt" => Normalizer::Nmt,
            "ByteLevel" => Normalizer::ByteLevel,
            "Strip" => Normalizer::Strip { left: self.bool(v, "strip_left", true, path)?, right: self.bool(v, "strip_right", true, path)? },
            "Replace" => Normalizer::Replace { pat: self.pattern(v, path)?, content: self.str(v, "content", path)?.to_string() },
            "Prepend" => Normalizer::Prepend(self.str(v, "prepend", path)?.to_string()),
            "BertNormalizer" => Normalizer::Bert {
                clean_text: self.bool(v, "clean_text", true, path)?,
                chinese_chars: self.bool(v, "handle_chinese_chars", true, path)?,
                strip_accents: match v.get("strip_accents") {
                    None | Some(Value::Null) => None,
                    Some(x) => Some(x.as_bool().ok_or_else(|| self.err(&format!("{path}.strip_accents"), "not a boolean"))?),
                },
                lowercase: self.bool(v, "lowercase", true, path)?,
            },
            "Precompiled" => {
                let data = match v.get("precompiled_charsmap") {
                    Some(Value::String(s)) => base64::engine::general_purpose::STANDARD
                        .decode(s)
                        .map_err(|e| self.err(&format!("{path}.precompiled_charsmap"), format!("invalid base64: {e}")))?,
                    Some(Value::Array(a)) => a
                        .iter()
                        .map(|x| x.as_u64().filter(|&b| b < 256).map(|b| b as u8))
                        .collect::<Option<Vec<u8>>>()
                        .ok_or_else(|| self.err(&format!("{path}.precompiled_charsmap"), "not a list of bytes"))?,
                    _ => Vec::new(),
                };
                if data.is_empty() {
                    // HF treats an empty charsmap as the identity.
                    Normalizer::Sequence(Vec::new())
                } else {
                    let map = Charsmap::from_bytes(&data).map_err(|e| self.err(&format!("{path}.precompiled_charsmap"), e))?;
                    Normalizer::Precompiled(Box::new(map))
                }
            }
            "Sequence" => {
                let items = self.list(v, "normalizers", path)?;
                Normalizer::Sequence(
                    items
                        .iter()
                        .enumerate()
                        .map(|(i, x)| self.normalizer(x, &format!("{path}.normalizers[{i}]")))
                        .collect::<Result<_>>()?,
                )
            }
            other => return Err(self.err(path, format!("normalizer type {other:?} is not supported"))),
        })
    }

    fn pretok(&self, v: &Value, path: &str) -> Result<PreTok> {
        Ok(match self.ty(v, path)? {
            "ByteLevel" => PreTok::byte_level(
                self.bool(v, "add_prefix_space", true, path)?,
                self.bool(v, "use_regex", true, path)?,
                self.bool(v, "trim_offsets", true, path)?,
            )?,
            "Split" => PreTok::Split {
                pat: self.pattern(v, path)?,
                behavior: self.behavior(v, Behavior::Removed, path)?,
                invert: self.bool(v, "invert", false, path)?,
            },
            "Metaspace" => PreTok::Metaspace {
                replacement: self.char(v, "replacement", path)?,
                prepend: self.prepend_scheme(v, path)?,
                split: self.bool(v, "split", true, path)?,
            },
            "BertPreTokenizer" => PreTok::Bert,
            "Whitespace" => PreTok::Whitespace,
            "WhitespaceSplit" => PreTok::WhitespaceSplit,
            "Punctuation" => PreTok::Punctuation(self.behavior(v, Behavior::Isolated, path)?),
            "Digits" => PreTok::Digits { individual: self.bool(v, "individual_digits", false, path)? },
            "CharDelimiterSplit" => PreTok::CharDelimiter(self.char(v, "delimiter", path)?),
            "UnicodeScripts" => PreTok::UnicodeScripts,
            "Sequence" => {
                let items = self.list(v, "pretokenizers", path)?;
                PreTok::Sequence(
                    items.iter().enumerate().map(|(i, x)| self.pretok(x, &format!("{path}.pretokenizers[{i}]"))).collect::<Result<_>>()?,
                )
            }
            other => return Err(self.err(path, format!("pre_tokenizer type {other:?} is not supported"))),
        })
    }

    fn vocab_object(&self, m: &Value, path: &str) -> Result<StrVocab> {
        let obj =
            m.get("vocab").and_then(Value::as_object).ok_or_else(|| self.err(&format!("{path}.vocab"), "missing or not an object"))?;
        let mut items = Vec::with_capacity(obj.len());
        for (s, id) in obj {
            items.push((s.clone(), self.id(id, &format!("{path}.vocab[{s:?}]"))?));
        }
        StrVocab::new(items).map_err(|e| match e {
            Error::Vocab(m) => Error::Vocab(format!("{}: {path}.vocab: {m}", self.what)),
            other => other,
        })
    }

    fn model(&self, m: &Value, path: &str) -> Result<Model> {
        let ty = match m.get("type").and_then(Value::as_str) {
            Some(t) => t,
            None if m.get("merges").is_some() => "BPE",
            None if m.get("max_input_chars_per_word").is_some() => "WordPiece",
            None if m.get("vocab").is_some_and(Value::is_array) => "Unigram",
            None => "WordLevel",
        };
        Ok(match ty {
            "BPE" => {
                let vocab = self.vocab_object(m, path)?;
                let mut merges = Vec::new();
                for (i, x) in self.list(m, "merges", path)?.iter().enumerate() {
                    let pair = match x {
                        Value::String(s) => {
                            let mut it = s.splitn(3, ' ');
                            match (it.next(), it.next(), it.next()) {
                                (Some(a), Some(b), None) => (a.to_string(), b.to_string()),
                                _ => {
                                    return Err(
                                        self.err(&format!("{path}.merges[{i}]"), format!("{s:?} is not two tokens separated by one space"))
                                    )
                                }
                            }
                        }
                        Value::Array(p) if p.len() == 2 && p[0].is_string() && p[1].is_string() => {
                            (p[0].as_str().unwrap_or("").to_string(), p[1].as_str().unwrap_or("").to_string())
                        }
                        other => return Err(self.err(&format!("{path}.merges[{i}]"), format!("{other} is not a merge"))),
                    };
                    merges.push(pair);
                }
                let dropout = match m.get("dropout") {
                    None | Some(Value::Null) => None,
                    Some(x) => {
                        let p = x
                            .as_f64()
                            .filter(|p| (0.0..=1.0).contains(p))
                            .ok_or_else(|| self.err(&format!("{path}.dropout"), "must be a number in [0, 1]"))?;
                        Some(p as f32)
                    }
                };
                Model::Bpe(Bpe::new(
                    vocab,
                    merges,
                    self.opt_str(m, "unk_token", path)?,
                    self.opt_str(m, "continuing_subword_prefix", path)?,
                    self.opt_str(m, "end_of_word_suffix", path)?,
                    self.bool(m, "fuse_unk", false, path)?,
                    self.bool(m, "byte_fallback", false, path)?,
                    self.bool(m, "ignore_merges", false, path)?,
                    dropout,
                    self.what,
                )?)
            }
            "WordPiece" => Model::WordPiece(WordPiece {
                vocab: self.vocab_object(m, path)?,
                unk_token: self.opt_str(m, "unk_token", path)?.unwrap_or_else(|| "[UNK]".into()),
                prefix: self.opt_str(m, "continuing_subword_prefix", path)?.unwrap_or_else(|| "##".into()),
                max_chars: self.uint(m, "max_input_chars_per_word", 100, path)? as usize,
            }),
            "WordLevel" => Model::WordLevel(WordLevel {
                vocab: self.vocab_object(m, path)?,
                unk_token: self.opt_str(m, "unk_token", path)?.unwrap_or_else(|| "<unk>".into()),
            }),
            "Unigram" => {
                let items = self.list(m, "vocab", path)?;
                let mut pieces = Vec::with_capacity(items.len());
                for (i, x) in items.iter().enumerate() {
                    let p = format!("{path}.vocab[{i}]");
                    match x.as_array().map(Vec::as_slice) {
                        Some([Value::String(s), score]) => {
                            pieces.push((s.clone(), score.as_f64().ok_or_else(|| self.err(&p, "score is not a number"))?))
                        }
                        _ => return Err(self.err(&p, "must be [piece, score]")),
                    }
                }
                let unk = match m.get("unk_id") {
                    None | Some(Value::Null) => None,
                    Some(x) => Some(self.id(x, &format!("{path}.unk_id"))?),
                };
                let byte_fallback = self.bool(m, "byte_fallback", false, path)?;
                Model::Unigram(Unigram::new(pieces, unk, byte_fallback).map_err(|e| self.err(path, e))?)
            }
            other => return Err(self.err(path, format!("model type {other:?} is not supported"))),
        })
    }

    fn special_pair(&self, v: &Value, key: &str, path: &str) -> Result<(String, u32)> {
        let p = format!("{path}.{key}");
        match v.get(key).and_then(Value::as_array).map(Vec::as_slice) {
            Some([Value::String(s), id]) => Ok((s.clone(), self.id(id, &p)?)),
            _ => Err(self.err(&p, "must be [token, id]")),
        }
    }

    fn template(&self, v: &Value, key: &str, path: &str, tokens: &[(String, Vec<u32>, Vec<String>)]) -> Result<Vec<Piece>> {
        let mut out = Vec::new();
        let items = match v.get(key) {
            None | Some(Value::Null) => return Ok(out),
            Some(x) => x.as_array().ok_or_else(|| self.err(&format!("{path}.{key}"), "not a list"))?,
        };
        for (i, x) in items.iter().enumerate() {
            let p = format!("{path}.{key}[{i}]");
            if let Some(s) = x.get("Sequence") {
                let b = match s.get("id").and_then(Value::as_str) {
                    Some("A") => false,
                    Some("B") => true,
                    _ => return Err(self.err(&p, "Sequence id must be \"A\" or \"B\"")),
                };
                out.push(Piece::Seq { b, type_id: self.uint(s, "type_id", 0, &p)? as u32 });
            } else if let Some(s) = x.get("SpecialToken") {
                let name = self.str(s, "id", &p)?;
                let ids = tokens
                    .iter()
                    .find(|t| t.0 == name)
                    .map(|t| t.1.clone())
                    .ok_or_else(|| self.err(&p, format!("special token {name:?} is not in special_tokens")))?;
                out.push(Piece::Special { name: name.to_string(), ids, type_id: self.uint(s, "type_id", 0, &p)? as u32 });
            } else {
                return Err(self.err(&p, "must be {\"Sequence\": ...} or {\"SpecialToken\": ...}"));
            }
        }
        Ok(out)
    }

    fn post(&self, v: &Value, path: &str) -> Result<Post> {
        Ok(match self.ty(v, path)? {
            "ByteLevel" => Post::ByteLevel {
                trim_offsets: self.bool(v, "trim_offsets", true, path)?,
                add_prefix_space: self.bool(v, "add_prefix_space", true, path)?,
            },
            "TemplateProcessing" => {
                let mut tokens = Vec::new();
                if let Some(obj) = v.get("special_tokens").and_then(Value::as_object) {
                    for (k, t) in obj {
                        let p = format!("{path}.special_tokens[{k:?}]");
                        let ids = self.list(t, "ids", &p)?.iter().map(|x| self.id(x, &p)).collect::<Result<Vec<u32>>>()?;
                        let strs = self.list(t, "tokens", &p)?.iter().map(|x| x.as_str().unwrap_or("").to_string()).collect();
                        tokens.push((k.clone(), ids, strs));
                    }
                }
                let single = self.template(v, "single", path, &tokens)?;
                let pair = self.template(v, "pair", path, &tokens)?;
                Post::Template { single, pair, tokens }
            }
            "BertProcessing" => Post::Bert { sep: self.special_pair(v, "sep", path)?, cls: self.special_pair(v, "cls", path)? },
            "RobertaProcessing" => Post::Roberta {
                sep: self.special_pair(v, "sep", path)?,
                cls: self.special_pair(v, "cls", path)?,
                trim_offsets: self.bool(v, "trim_offsets", true, path)?,
                add_prefix_space: self.bool(v, "add_prefix_space", true, path)?,
            },
            "Sequence" => {
                let items = self.list(v, "processors", path)?;
                Post::Sequence(
                    items.iter().enumerate().map(|(i, x)| self.post(x, &format!("{path}.processors[{i}]"))).collect::<Result<_>>()?,
                )
            }
            other => return Err(self.err(path, format!("post_processor type {other:?} is not supported"))),
        })
    }

    fn decoder(&self, v: &Value, path: &str) -> Result<Decoder> {
        Ok(match self.ty(v, path)? {
            "ByteLevel" => Decoder::ByteLevel,
            "ByteFallback" => Decoder::ByteFallback,
            "Fuse" => Decoder::Fuse,
            "Strip" => Decoder::Strip {
                content: self.char(v, "content", path)?,
                start: self.uint(v, "start", 0, path)? as usize,
                stop: self.uint(v, "stop", 0, path)? as usize,
            },
            "Replace" => Decoder::Replace { pat: self.pattern(v, path)?, content: self.str(v, "content", path)?.to_string() },
            "Metaspace" => Decoder::Metaspace {
                replacement: self.char(v, "replacement", path)?,
                prepend: self.prepend_scheme(v, path)? != PrependScheme::Never,
            },
            "WordPiece" => Decoder::WordPiece {
                prefix: self.opt_str(v, "prefix", path)?.unwrap_or_else(|| "##".into()),
                cleanup: self.bool(v, "cleanup", true, path)?,
            },
            "BPEDecoder" => Decoder::Bpe { suffix: self.opt_str(v, "suffix", path)?.unwrap_or_else(|| "</w>".into()) },
            "CTC" => Decoder::Ctc {
                pad: self.opt_str(v, "pad_token", path)?.unwrap_or_else(|| "<pad>".into()),
                delimiter: self.opt_str(v, "word_delimiter_token", path)?.unwrap_or_else(|| "|".into()),
                cleanup: self.bool(v, "cleanup", true, path)?,
            },
            "Sequence" => {
                let items = self.list(v, "decoders", path)?;
                Decoder::Sequence(
                    items.iter().enumerate().map(|(i, x)| self.decoder(x, &format!("{path}.decoders[{i}]"))).collect::<Result<_>>()?,
                )
            }
            other => return Err(self.err(path, format!("decoder type {other:?} is not supported"))),
        })
    }

    fn side(&self, v: &Value, path: &str) -> Result<Side> {
        match v.get("direction").and_then(Value::as_str) {
            None | Some("Right") => Ok(Side::Right),
            Some("Left") => Ok(Side::Left),
            Some(x) => Err(self.err(&format!("{path}.direction"), format!("unknown direction {x:?}"))),
        }
    }

    fn truncation(&self, v: &Value) -> Result<Option<Truncation>> {
        if v.is_null() {
            return Ok(None);
        }
        let p = "truncation";
        let strategy = match v.get("strategy").and_then(Value::as_str) {
            None | Some("LongestFirst") => Strategy::LongestFirst,
            Some("OnlyFirst") => Strategy::OnlyFirst,
            Some("OnlySecond") => Strategy::OnlySecond,
            Some(x) => return Err(self.err("truncation.strategy", format!("unknown strategy {x:?}"))),
        };
        Ok(Some(Truncation {
            max_length: self.uint(v, "max_length", 512, p)? as usize,
            stride: self.uint(v, "stride", 0, p)? as usize,
            strategy,
            side: self.side(v, p)?,
        }))
    }

    fn padding(&self, v: &Value) -> Result<Option<Padding>> {
        if v.is_null() {
            return Ok(None);
        }
        let p = "padding";
        let fixed = match v.get("strategy") {
            Some(Value::Object(o)) => match o.get("Fixed") {
                Some(n) => Some(n.as_u64().ok_or_else(|| self.err("padding.strategy.Fixed", "not an integer"))? as usize),
                None => return Err(self.err("padding.strategy", "must be \"BatchLongest\" or {\"Fixed\": n}")),
            },
            _ => None,
        };
        Ok(Some(Padding {
            fixed,
            side: self.side(v, p)?,
            multiple: match v.get("pad_to_multiple_of") {
                None | Some(Value::Null) => None,
                Some(x) => {
                    Some(x.as_u64().filter(|&m| m > 0).ok_or_else(|| self.err("padding.pad_to_multiple_of", "not a positive integer"))?
                        as usize)
                }
            },
            pad_id: self.uint(v, "pad_id", 0, p)? as u32,
            pad_type: self.uint(v, "pad_type_id", 0, p)? as u32,
            pad_token: self.opt_str(v, "pad_token", p)?.unwrap_or_else(|| "[PAD]".into()),
        }))
    }
}

/// Build a pipeline from a parsed `tokenizer.json` document.
pub fn parse_value(root: Value, what: &str) -> Result<Pipeline> {
    let c = Ctx { what };
    let get = |k: &str| root.get(k).filter(|v| !v.is_null());
    let normalizer = get("normalizer").map(|v| c.normalizer(v, "normalizer")).transpose()?;
    let pre = get("pre_tokenizer").map(|v| c.pretok(v, "pre_tokenizer")).transpose()?;
    let model = c.model(root.get("model").ok_or_else(|| c.err("model", "missing"))?, "model")?;
    let post = get("post_processor").map(|v| c.post(v, "post_processor")).transpose()?;
    let decoder = get("decoder").map(|v| c.decoder(v, "decoder")).transpose()?;
    let mut added = Vec::new();
    if let Some(list) = get("added_tokens") {
        let list = list.as_array().ok_or_else(|| c.err("added_tokens", "not a list"))?;
        for (i, t) in list.iter().enumerate() {
            let p = format!("added_tokens[{i}]");
            let content = c.str(t, "content", &p)?.to_string();
            let special = c.bool(t, "special", false, &p)?;
            // HF gives a token already in the model its model id.
            let id = match model.token_to_id(&content) {
                Some(id) => id,
                None => c.id(t.get("id").unwrap_or(&Value::Null), &format!("{p}.id"))?,
            };
            added.push(AddedToken {
                id,
                content,
                single_word: c.bool(t, "single_word", false, &p)?,
                lstrip: c.bool(t, "lstrip", false, &p)?,
                rstrip: c.bool(t, "rstrip", false, &p)?,
                normalized: c.bool(t, "normalized", !special, &p)?,
                special,
            });
        }
    }
    let added = Added::new(added, normalizer.as_ref())?;
    let truncation = c.truncation(root.get("truncation").unwrap_or(&Value::Null))?;
    let padding = c.padding(root.get("padding").unwrap_or(&Value::Null))?;
    let trims = post.as_ref().is_some_and(Post::trims_offsets);
    let plain_bpe = matches!(&model, Model::Bpe(b) if b.unk_token.is_none() && !b.dropout.is_some_and(|p| p > 0.0));
    // The byte-level core accepts exactly the plain byte-level BPE files (no normalizer); the
    // pipeline's own checks above add what it does not look at. Added tokens (with their strip
    // and single-word rules) are split out by the pipeline before the core sees a piece.
    // NFC (Qwen2) is the identity on text already in NFC, which the fast path checks per text.
    // The core is parsed once from this document; only an NFC file needs a second parse (the
    // core refuses normalizers, and HFTokenizer's byte-level methods must not skip NFC).
    let byte_level = hf::parse_value(&root, what).ok().map(std::sync::Arc::new);
    // Only where the core has a hand-written splitter for the pattern (GPT-2's, cl100k's,
    // o200k's): with a general regex the pipeline's own cached path is as fast or faster.
    let builtin = |t: &std::sync::Arc<crate::tokenize::Tokenizer>| t.pretokenizer().name().is_some();
    let fast = match &normalizer {
        _ if !plain_bpe => None,
        None => byte_level.clone().filter(builtin),
        Some(Normalizer::Nfc) => {
            let mut doc = root.clone();
            doc["normalizer"] = Value::Null;
            hf::parse_value(&doc, what).ok().map(std::sync::Arc::new).filter(builtin)
        }
        Some(_) => None,
    };
    Ok(Pipeline {
        normalizer,
        pre,
        model,
        post,
        decoder,
        added,
        truncation,
        padding,
        doc: root,
        trims,
        uid: super::next_uid(),
        fast,
        byte_level,
    })
}

/// Parse `tokenizer.json` text.
pub fn parse(text: &str, what: &str) -> Result<Pipeline> {
    let root: Value = serde_json::from_str(text)
        .map_err(|e| Error::Format(format!("{what}: line {}: column {}: invalid JSON: {e}", e.line(), e.column())))?;
    if !root.is_object() {
        return Err(Error::Format(format!("{what}: not a JSON object")));
    }
    parse_value(root, what)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = r#"{"model": {"type": "WordLevel", "vocab": {"[UNK]": 0, "hello": 1, "world": 2}, "unk_token": "[UNK]"},
        "pre_tokenizer": {"type": "WhitespaceSplit"}, "normalizer": {"type": "Lowercase"},
        "added_tokens": [{"id": 3, "content": "<s>", "special": true}]}"#;

    #[test]
    fn word_level_pipeline() {
        let p = parse(DOC, "t").unwrap();
        let e = p.encode("Hello <s>world x", None, true, None).unwrap();
        assert_eq!(e.ids, vec![1, 3, 2, 0]);
        assert_eq!(e.offsets, vec![(0, 5), (6, 9), (9, 14), (15, 16)]);
        assert_eq!(p.decode(&e.ids, true).unwrap(), "hello world [UNK]");
    }

    #[test]
    fn unknown_component_named_with_its_path() {
        let doc = DOC.replace(r#"{"type": "Lowercase"}"#, r#"{"type": "Sequence", "normalizers": [{"type": "Qz"}]}"#);
        let e = parse(&doc, "f.json").unwrap_err().to_string();
        assert!(e.contains("f.json") && e.contains("normalizer.normalizers[0]") && e.contains("Qz"), "{e}");
    }
}
