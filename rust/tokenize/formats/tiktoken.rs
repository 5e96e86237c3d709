//! tiktoken `.tiktoken` rank files: one `base64(token bytes) SP rank` per line, rank = id.

use std::path::Path;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use super::{read_file, write_atomic};
use crate::error::{Error, Result};
use crate::tokenize::{MergeKind, Pretokenizer, Tokenizer, Vocab};

/// Parse rank-file contents; `what` names the source in errors.
pub fn parse(data: &[u8], what: &str) -> Result<Vec<(Vec<u8>, u32)>> {
    let mut out = Vec::new();
    for (i, line) in data.split(|&c| c == b'\n').enumerate() {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.iter().all(|c| c.is_ascii_whitespace()) {
            continue;
        }
        let bad = |why: &str| Error::Format(format!("{what}: line {}: {why}", i + 1));
        let text = std::str::from_utf8(line).map_err(|_| bad("not ASCII text (expected 'base64 rank')"))?;
        let mut parts = text.split_ascii_whitespace();
        let (Some(tok), Some(rank), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(bad(&format!("expected 'base64 rank', got {:?}", truncate(text))));
        };
        let bytes = STANDARD.decode(tok).map_err(|e| bad(&format!("bad base64 {:?}: {e}", truncate(tok))))?;
        let rank: u32 = rank.parse().map_err(|_| bad(&format!("bad rank {:?}", truncate(rank))))?;
        if rank == u32::MAX {
            return Err(bad("rank too large"));
        }
        out.push((bytes, rank));
    }
    if out.is_empty() {
        return Err(Error::Format(format!("{what}: no ranks found (empty file?)")));
    }
    Ok(out)
}

fn truncate(s: &str) -> String {
    s.chars().take(40).collect()
}

/// The special tokens tiktoken defines for its public encodings, used when a rank file of the
/// matching size is loaded with that pattern and no specials are given.
pub fn default_specials(pattern: &str, max_rank: u32) -> Vec<(String, u32)> {
    let v: &[(&str, u32)] = match (pattern, max_rank) {
        ("cl100k", 100255) => &[
            ("<|endoftext|>", 100257),
            ("<|fim_prefix|>", 100258),
            ("<|fim_middle|>", 100259),
            ("<|fim_suffix|>", 100260),
            ("<|endofprompt|>", 100276),
        ],
        ("o200k", 199997) => &[("<|endoftext|>", 199999), ("<|endofprompt|>", 200018)],
        ("gpt2", 50255) => &[("<|endoftext|>", 50256)],
        _ => &[],
    };
    v.iter().map(|(s, i)| (s.to_string(), *i)).collect()
}

/// Load a rank file. `specials = None` uses [`default_specials`] for built-in patterns.
pub fn load(path: &Path, pattern: &str, specials: Option<Vec<(String, u32)>>) -> Result<Tokenizer> {
    let what = path.display().to_string();
    let ranks = parse(&read_file(path)?, &what)?;
    let max_rank = ranks.iter().map(|r| r.1).max().unwrap_or(0);
    let pre = Pretokenizer::new(pattern)?;
    let specials = specials.unwrap_or_else(|| default_specials(pre.name().unwrap_or(""), max_rank));
    let vocab = Vocab::from_ranks(ranks, &what)?;
    Tokenizer::new(vocab, pre, specials)
}

/// Serialise the vocabulary as a rank file (special tokens are not part of the format).
pub fn to_string(tok: &Tokenizer) -> String {
    let mut s = String::with_capacity(tok.vocab().len() * 12);
    for (id, bytes) in tok.vocab().iter() {
        if tok.specials().get(id).is_some() {
            continue;
        }
        s.push_str(&STANDARD.encode(bytes));
        s.push(' ');
        s.push_str(&id.to_string());
        s.push('\n');
    }
    s
}

/// Tokens whose merge behaviour under tiktoken's rule (any split whose halves are tokens merges,
/// with the merged token's id as rank) would differ from this tokenizer's merge table: a split
/// that does not merge here, or (for merge lists) ranks not ordered like the merged ids.
pub fn incompatible_tokens(tok: &Tokenizer, limit: usize) -> Vec<u32> {
    let v = tok.vocab();
    let mut bad = Vec::new();
    if v.kind() == MergeKind::List {
        let list = v.merge_list();
        for w in list.windows(2) {
            if w[1].2 < w[0].2 {
                bad.push(w[1].2);
                if bad.len() >= limit {
                    return bad;
                }
            }
        }
    }
    for (id, t) in v.iter() {
        if bad.len() >= limit {
            break;
        }
        if t.len() < 2 || tok.specials().get(id).is_some() {
            continue;
        }
        let split_missing = (1..t.len()).any(|k| match (v.id_of(&t[..k]), v.id_of(&t[k..])) {
            (Some(a), Some(b)) => v.merge(a, b).map(|m| m.1) != Some(id),
            _ => false,
        });
        if split_missing {
            bad.push(id);
        }
    }
    bad
}

/// Write a rank file atomically. Unless `force`, refuse if tiktoken would encode differently.
pub fn save(tok: &Tokenizer, path: &Path, force: bool) -> Result<()> {
    if !force {
        let bad = incompatible_tokens(tok, 3);
        if !bad.is_empty() {
            let names: Vec<String> = bad.iter().map(|&i| crate::tokenize::vocab::show(tok.vocab().token(i).unwrap_or(b""))).collect();
            return Err(Error::Vocab(format!(
                "tiktoken would encode differently: it merges any two tokens whose concatenation is a token, \
                 but tokens such as {} are not merged from all their splits here; pass force=True to write anyway",
                names.join(", ")
            )));
        }
    }
    write_atomic(path, to_string(tok).as_bytes())
}
