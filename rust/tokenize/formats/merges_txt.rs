//! GPT-2 style `vocab.json` (byte-level string -> id) + `merges.txt` (one "a b" per line, an
//! optional `#version` header first).

use std::path::Path;

use serde_json::Value;

use super::{bytelevel, read_text};
use crate::error::{Error, Result};
use crate::tokenize::{Pretokenizer, Tokenizer, Vocab};

/// Load `vocab.json` + `merges.txt` with the given pre-tokenizer pattern and specials.
pub fn load(vocab_path: &Path, merges_path: &Path, pattern: &str, specials: Vec<(String, u32)>) -> Result<Tokenizer> {
    let vwhat = vocab_path.display().to_string();
    let mwhat = merges_path.display().to_string();
    let root: Value = serde_json::from_str(&read_text(vocab_path)?)
        .map_err(|e| Error::Format(format!("{vwhat}: line {}: column {}: invalid JSON: {e}", e.line(), e.column())))?;
    let obj = root.as_object().ok_or_else(|| Error::Format(format!("{vwhat}: expected a JSON object of token -> id")))?;
    let mut tokens = Vec::with_capacity(obj.len());
    let mut index = rustc_hash::FxHashMap::default();
    for (s, id) in obj {
        let id = id
            .as_u64()
            .filter(|&x| x < u32::MAX as u64)
            .ok_or_else(|| Error::Format(format!("{vwhat}: token {s:?}: id {id} is not a valid integer")))? as u32;
        index.insert(s.as_str(), id);
        if specials.iter().any(|t| t.1 == id && t.0 == *s) {
            tokens.push((s.as_bytes().to_vec(), id));
            continue;
        }
        let b = bytelevel::decode(s)
            .ok_or_else(|| Error::Format(format!("{vwhat}: token {s:?} (id {id}) is not in the byte-level alphabet")))?;
        tokens.push((b, id));
    }
    let text = read_text(merges_path)?;
    let mut merges = Vec::new();
    let mut lines = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if (i == 0 && line.starts_with("#version")) || line.trim().is_empty() {
            continue;
        }
        let mut it = line.split(' ');
        let (Some(a), Some(b), None) = (it.next(), it.next(), it.next()) else {
            return Err(Error::Format(format!("{mwhat}: line {}: expected two tokens separated by one space, got {line:?}", i + 1)));
        };
        let look = |t: &str| index.get(t).copied().ok_or_else(|| Error::Vocab(format!("{mwhat}: line {}: unknown token {t:?}", i + 1)));
        merges.push((look(a)?, look(b)?));
        lines.push(i + 1);
    }
    let vocab = Vocab::from_merges(tokens, &merges, false, &mwhat, &|k| format!("on line {}", lines[k]))?;
    Tokenizer::new(vocab, Pretokenizer::new(pattern)?, specials)
}
