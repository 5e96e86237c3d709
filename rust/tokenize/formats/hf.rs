//! Hugging Face `tokenizer.json` with a byte-level BPE model: read and write.
//!
//! Accepted: model `BPE` (no dropout, no subword prefix/suffix, no byte fallback), normalizer
//! null, pre-tokenizer `ByteLevel` (with its GPT-2 regex, or `use_regex: false` after a
//! `Split` with `behavior: Isolated`), decoder `ByteLevel` or null; added tokens become special
//! tokens. Anything else is refused with an error naming the JSON field, rather than encoding
//! differently from Hugging Face. Written files load into `tokenizers` and encode identically.

use std::path::Path;

use serde_json::{json, Map, Value};

use super::{bytelevel, read_text, write_atomic};
use crate::error::{Error, Result};
use crate::tokenize::{pattern, Pretokenizer, Tokenizer, Vocab};

fn fmt(what: &str, msg: String) -> Error {
    Error::Format(format!("{what}: {msg}"))
}

fn ty(v: &Value) -> &str {
    v.get("type").and_then(Value::as_str).unwrap_or("?")
}

/// Parse the pre-tokenizer: `(pattern spec, add_prefix_space)`.
fn parse_pre(pre: &Value, what: &str) -> Result<(String, bool)> {
    let bytelevel = |v: &Value, with_regex_default: bool| -> (bool, bool) {
        let aps = v.get("add_prefix_space").and_then(Value::as_bool).unwrap_or(false);
        let re = v.get("use_regex").and_then(Value::as_bool).unwrap_or(with_regex_default);
        (aps, re)
    };
    match ty(pre) {
        "ByteLevel" => {
            let (aps, re) = bytelevel(pre, true);
            if !re {
                return Err(fmt(what, "pre_tokenizer ByteLevel with use_regex=false and no Split is not supported".into()));
            }
            Ok((pattern::HF_GPT2.into(), aps))
        }
        "Sequence" => {
            let items = pre.get("pretokenizers").and_then(Value::as_array).cloned().unwrap_or_default();
            match items.as_slice() {
                [split, bl] if ty(split) == "Split" && ty(bl) == "ByteLevel" => {
                    let (aps, re) = bytelevel(bl, true);
                    if re {
                        return Err(fmt(what, "pre_tokenizer Sequence[Split, ByteLevel(use_regex=true)] is not supported".into()));
                    }
                    let behavior = split.get("behavior").and_then(Value::as_str).unwrap_or("?");
                    if behavior != "Isolated" || split.get("invert").and_then(Value::as_bool).unwrap_or(false) {
                        return Err(fmt(
                            what,
                            format!("pre_tokenizer Split with behavior {behavior:?}/invert is not supported (only Isolated)"),
                        ));
                    }
                    let pat = split.get("pattern").ok_or_else(|| fmt(what, "pre_tokenizer Split has no pattern".into()))?;
                    let regex = if let Some(r) = pat.get("Regex").and_then(Value::as_str) {
                        r.to_string()
                    } else if let Some(s) = pat.get("String").and_then(Value::as_str) {
                        escape(s)
                    } else {
                        return Err(fmt(what, "pre_tokenizer Split pattern must be {\"Regex\": ...} or {\"String\": ...}".into()));
                    };
                    Ok((regex, aps))
                }
                [bl] if ty(bl) == "ByteLevel" => parse_pre(bl, what),
                _ => Err(fmt(what, "pre_tokenizer Sequence must be [Split, ByteLevel] or [ByteLevel]".into())),
            }
        }
        _ if pre.is_null() => Err(fmt(what, "pre_tokenizer is null: not a byte-level BPE tokenizer".into())),
        other => Err(fmt(what, format!("pre_tokenizer type {other:?} is not supported (need ByteLevel)"))),
    }
}

/// Escape a literal for use in a regex.
fn escape(s: &str) -> String {
    let mut o = String::new();
    for c in s.chars() {
        if "\\.+*?()|[]{}^$#&-~ ".contains(c) {
            o.push('\\');
        }
        o.push(c);
    }
    o
}

fn check_null_or(v: Option<&Value>, field: &str, ok: &dyn Fn(&Value) -> bool, what: &str) -> Result<()> {
    match v {
        None | Some(Value::Null) => Ok(()),
        Some(x) if ok(x) => Ok(()),
        Some(x) => Err(fmt(what, format!("{field} = {x} is not supported"))),
    }
}

/// Parse a `tokenizer.json` document.
pub fn parse(text: &str, what: &str) -> Result<Tokenizer> {
    let root: Value =
        serde_json::from_str(text).map_err(|e| fmt(what, format!("line {}: column {}: invalid JSON: {e}", e.line(), e.column())))?;
    parse_value(&root, what)
}

/// [`parse`] of an already parsed document.
pub fn parse_value(root: &Value, what: &str) -> Result<Tokenizer> {
    let model = root.get("model").ok_or_else(|| fmt(what, "no \"model\" field".into()))?;
    let mtype = model.get("type").and_then(Value::as_str).unwrap_or("BPE");
    if mtype != "BPE" {
        return Err(fmt(what, format!("model.type {mtype:?} is not supported (only BPE)")));
    }
    check_null_or(model.get("dropout"), "model.dropout", &|v| v.as_f64() == Some(0.0), what)?;
    for f in ["continuing_subword_prefix", "end_of_word_suffix"] {
        check_null_or(model.get(f), &format!("model.{f}"), &|v| v.as_str() == Some(""), what)?;
    }
    check_null_or(model.get("byte_fallback"), "model.byte_fallback", &|v| v == &Value::Bool(false), what)?;
    check_null_or(root.get("normalizer"), "normalizer", &|_| false, what)?;
    if let Some(d) = root.get("decoder").filter(|d| !d.is_null()) {
        if ty(d) != "ByteLevel" {
            return Err(fmt(what, format!("decoder type {:?} is not supported (need ByteLevel)", ty(d))));
        }
    }
    let pre = root.get("pre_tokenizer").unwrap_or(&Value::Null);
    let (spec, aps) = parse_pre(pre, what)?;

    // Added tokens first: their ids may also appear in the model vocabulary.
    let mut specials = Vec::new();
    if let Some(added) = root.get("added_tokens").and_then(Value::as_array) {
        for (i, t) in added.iter().enumerate() {
            let id = t.get("id").and_then(Value::as_u64).filter(|&x| x < u32::MAX as u64);
            let content = t.get("content").and_then(Value::as_str);
            match (id, content) {
                (Some(id), Some(c)) => specials.push((c.to_string(), id as u32)),
                _ => return Err(fmt(what, format!("added_tokens[{i}] needs an integer id and a string content"))),
            }
        }
    }
    let vocab_obj = model.get("vocab").and_then(Value::as_object).ok_or_else(|| fmt(what, "model.vocab must be an object".into()))?;
    let mut tokens = Vec::with_capacity(vocab_obj.len());
    for (s, id) in vocab_obj {
        let id = id
            .as_u64()
            .filter(|&x| x < u32::MAX as u64)
            .ok_or_else(|| fmt(what, format!("model.vocab[{s:?}]: id {id} is not a valid integer")))? as u32;
        match bytelevel::decode(s) {
            Some(b) => tokens.push((b, id)),
            None if specials.iter().any(|t| t.1 == id) => {}
            None => {
                return Err(fmt(
                    what,
                    format!("model.vocab[{s:?}] (id {id}) is not in the byte-level alphabet: not a byte-level BPE vocabulary"),
                ))
            }
        }
    }
    // A vocab entry with a special token's id is that special token (HF gives the added token
    // precedence): keep it out of the BPE vocabulary so ordinary text never produces it.
    tokens.retain(|(_, id)| specials.iter().all(|(_, sid)| sid != id));
    let index: rustc_hash::FxHashMap<&str, u32> =
        vocab_obj.iter().filter_map(|(s, id)| id.as_u64().map(|i| (s.as_str(), i as u32))).collect();
    let merges_v = model.get("merges").and_then(Value::as_array).ok_or_else(|| fmt(what, "model.merges must be an array".into()))?;
    let mut merges = Vec::with_capacity(merges_v.len());
    for (i, m) in merges_v.iter().enumerate() {
        let (a, b) = match m {
            Value::String(s) => {
                let mut it = s.split(' ');
                match (it.next(), it.next(), it.next()) {
                    (Some(a), Some(b), None) => (a, b),
                    _ => return Err(fmt(what, format!("model.merges[{i}] = {s:?} is not two tokens separated by one space"))),
                }
            }
            Value::Array(p) if p.len() == 2 && p[0].is_string() && p[1].is_string() => {
                (p[0].as_str().unwrap_or(""), p[1].as_str().unwrap_or(""))
            }
            other => return Err(fmt(what, format!("model.merges[{i}] = {other} is not a merge"))),
        };
        let look = |t: &str| index.get(t).copied().ok_or_else(|| fmt(what, format!("model.merges[{i}] references unknown token {t:?}")));
        merges.push((look(a)?, look(b)?));
    }
    let whole = model.get("ignore_merges").and_then(Value::as_bool).unwrap_or(false);
    let vocab = Vocab::from_merges(tokens, &merges, whole, what, &|i| format!("model.merges[{i}]"))?;
    let pre = Pretokenizer::new_onig(&spec)?.with_prefix_space(aps);
    Tokenizer::new(vocab, pre, specials)
}

/// Load a `tokenizer.json` file.
pub fn load(path: &Path) -> Result<Tokenizer> {
    parse(&read_text(path)?, &path.display().to_string())
}

/// Serialise as a Hugging Face `tokenizer.json`.
pub fn to_string(tok: &Tokenizer) -> Result<String> {
    let pre = tok.pretokenizer();
    let aps = pre.add_prefix_space();
    let bl = |use_regex: bool| json!({"type": "ByteLevel", "add_prefix_space": aps, "trim_offsets": true, "use_regex": use_regex});
    let pre_json = match pre.name() {
        Some("gpt2") | Some("hf_gpt2") => bl(true),
        name => {
            let _ = name;
            let regex = pre.hf_regex();
            json!({"type": "Sequence", "pretokenizers": [
                {"type": "Split", "pattern": {"Regex": regex}, "behavior": "Isolated", "invert": false},
                bl(false)
            ]})
        }
    };
    let v = tok.vocab();
    let mut vocab = Map::new();
    for (id, b) in v.iter() {
        vocab.insert(bytelevel::encode(b), json!(id));
    }
    // Hugging Face renumbers added tokens that are missing from model.vocab, so list them there
    // too (under their own text, as HF itself writes them).
    for (s, id) in tok.specials().tokens() {
        if v.token(*id).is_none() {
            vocab.insert(s.clone(), json!(id));
        }
    }
    let merges: Vec<Value> = v
        .merge_list()
        .into_iter()
        .map(|(a, b, _)| {
            let s = |i: u32| bytelevel::encode(v.token(i).unwrap_or(b""));
            Value::String(format!("{} {}", s(a), s(b)))
        })
        .collect();
    let added: Vec<Value> = tok
        .specials()
        .tokens()
        .iter()
        .map(|(s, id)| json!({"id": id, "content": s, "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true}))
        .collect();
    let doc = json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": added,
        "normalizer": null,
        "pre_tokenizer": pre_json,
        "post_processor": null,
        "decoder": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
        "model": {
            "type": "BPE",
            "dropout": null,
            "unk_token": null,
            "continuing_subword_prefix": null,
            "end_of_word_suffix": null,
            "fuse_unk": false,
            "byte_fallback": false,
            "ignore_merges": v.whole_piece(),
            "vocab": vocab,
            "merges": merges,
        },
    });
    serde_json::to_string_pretty(&doc).map_err(|e| Error::Value(format!("cannot serialise tokenizer: {e}")))
}

/// Write a `tokenizer.json` atomically.
pub fn save(tok: &Tokenizer, path: &Path) -> Result<()> {
    write_atomic(path, to_string(tok)?.as_bytes())
}
