//! Added tokens (HF's `AddedVocabulary`): strings matched in the text before the model sees it.
//!
//! Tokens with `normalized: false` (all special tokens, by HF's default) are found in the
//! original text; the pieces between them are normalized, and tokens with `normalized: true`
//! are then found in the normalized pieces (their patterns normalized the same way). Matching
//! is leftmost-longest (Aho-Corasick), with HF's `single_word`, `lstrip` and `rstrip` rules.
//! Cost: linear in the text.

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use rustc_hash::{FxHashMap, FxHashSet};

use super::normalized::NormStr;
use super::normalizers::Normalizer;
use super::pretok::{Pieces, Split};
use super::Tok;
use crate::error::Result;
use crate::value_err;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddedToken {
    pub id: u32,
    pub content: String,
    pub single_word: bool,
    pub lstrip: bool,
    pub rstrip: bool,
    pub normalized: bool,
    pub special: bool,
}

#[derive(Clone, Debug)]
struct Matcher {
    ac: AhoCorasick,
    /// Pattern index → index into `Added::tokens`.
    which: Vec<usize>,
}

#[derive(Clone, Debug, Default)]
pub struct Added {
    pub tokens: Vec<AddedToken>,
    raw: Option<Matcher>,
    norm: Option<Matcher>,
    by_id: FxHashMap<u32, usize>,
    special: FxHashSet<String>,
    /// What each token decodes to: HF keeps a `normalized` token's content normalized.
    decoded: Vec<String>,
    /// HF's `encode_special_tokens`: special tokens are not matched (they are text).
    pub encode_special_tokens: bool,
}

fn word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || unicode_categories::UnicodeCategories::is_mark(c) || c == '\u{200C}' || c == '\u{200D}'
}

impl Added {
    pub fn new(tokens: Vec<AddedToken>, normalizer: Option<&Normalizer>) -> Result<Added> {
        let mut kept: Vec<AddedToken> = Vec::with_capacity(tokens.len());
        for t in tokens {
            if t.content.is_empty() || kept.contains(&t) {
                continue;
            }
            kept.push(t);
        }
        let special: FxHashSet<String> = kept.iter().filter(|t| t.special).map(|t| t.content.clone()).collect();
        // HF's trie order: special tokens first, then the others (first wins on equal strings).
        let mut order: Vec<usize> = (0..kept.len()).filter(|&i| kept[i].special).collect();
        order.extend((0..kept.len()).filter(|&i| !kept[i].special));
        let build = |norm: bool| -> Result<Option<Matcher>> {
            let mut pats = Vec::new();
            let mut which = Vec::new();
            for &i in &order {
                let t = &kept[i];
                if t.normalized != norm {
                    continue;
                }
                let p = match (norm, normalizer) {
                    (true, Some(n)) => n.normalize_str(&t.content)?,
                    _ => t.content.clone(),
                };
                if p.is_empty() {
                    continue;
                }
                pats.push(p);
                which.push(i);
            }
            if pats.is_empty() {
                return Ok(None);
            }
            let ac = AhoCorasickBuilder::new()
                .match_kind(MatchKind::LeftmostLongest)
                .build(&pats)
                .map_err(|e| value_err!("cannot build the added-token matcher: {e}"))?;
            Ok(Some(Matcher { ac, which }))
        };
        let raw = build(false)?;
        let norm = build(true)?;
        let by_id = kept.iter().enumerate().map(|(i, t)| (t.id, i)).collect();
        let decoded = kept
            .iter()
            .map(|t| match (t.normalized, normalizer) {
                (true, Some(n)) => n.normalize_str(&t.content),
                _ => Ok(t.content.clone()),
            })
            .collect::<Result<Vec<String>>>()?;
        Ok(Added { tokens: kept, raw, norm, by_id, special, decoded, encode_special_tokens: false })
    }

    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }
    pub fn get(&self, id: u32) -> Option<&AddedToken> {
        self.by_id.get(&id).map(|&i| &self.tokens[i])
    }
    /// The string an id decodes to (HF's `id_to_token` of an added token).
    pub fn decoded(&self, id: u32) -> Option<&str> {
        self.by_id.get(&id).map(|&i| self.decoded[i].as_str())
    }
    pub fn id_of(&self, content: &str) -> Option<u32> {
        self.tokens.iter().find(|t| t.content == content).map(|t| t.id)
    }
    pub fn is_special(&self, content: &str) -> bool {
        self.special.contains(content)
    }

    /// `(token index or None, start, end)` covering `s` (HF's `find_matches`).
    fn find(&self, m: &Matcher, s: &str, out: &mut Vec<(Option<usize>, usize, usize)>) {
        out.clear();
        if s.is_empty() {
            out.push((None, 0, 0));
            return;
        }
        let mut start_offset = 0;
        for mat in m.ac.find_iter(s) {
            let (mut start, mut stop) = (mat.start(), mat.end());
            let ti = m.which[mat.pattern().as_usize()];
            let t = &self.tokens[ti];
            if self.encode_special_tokens && t.special {
                continue;
            }
            if t.single_word {
                let start_space = start == 0 || !s[..start].chars().next_back().is_some_and(word_char);
                let stop_space = stop == s.len() || !s[stop..].chars().next().is_some_and(word_char);
                if !start_space || !stop_space {
                    continue;
                }
            }
            if t.lstrip {
                let ns = s[..start].char_indices().rev().find(|(_, c)| !c.is_whitespace()).map_or(0, |(i, c)| i + c.len_utf8());
                start = ns.max(start_offset);
            }
            if t.rstrip {
                stop += s[stop..].char_indices().find(|(_, c)| !c.is_whitespace()).map_or(s.len() - stop, |(i, _)| i);
            }
            if start_offset < start {
                out.push((None, start_offset, start));
            }
            out.push((Some(ti), start, stop));
            start_offset = stop;
        }
        if start_offset != s.len() {
            out.push((None, start_offset, s.len()));
        }
    }

    /// Split piece `sp` of `p` at this matcher's tokens, appending the new pieces.
    fn split_with(&self, m: &Matcher, p: &Pieces, sp: &Split, out: &mut Vec<Split>, buf: &mut Vec<(Option<usize>, usize, usize)>) {
        if sp.start == sp.end {
            return;
        }
        self.find(m, p.text(sp), buf);
        for &(ti, a, b) in buf.iter() {
            if a == b {
                continue;
            }
            let toks = ti.map(|i| vec![Tok { id: self.tokens[i].id, start: 0, end: (b - a) as u32 }]);
            out.push(Split { base: sp.base, start: sp.start + a as u32, end: sp.start + b as u32, toks, bytes: false });
        }
    }

    /// Split `text` at added tokens and normalize the rest (HF's `extract_and_normalize`).
    pub fn extract_and_normalize(&self, normalizer: Option<&Normalizer>, text: &str, shift: usize) -> Result<Pieces> {
        let mut p = Pieces::default();
        p.push_owned(NormStr::new(text, shift), None);
        let mut buf = Vec::new();
        if let Some(m) = &self.raw {
            let whole = std::mem::take(&mut p.splits);
            let mut out = Vec::new();
            for sp in &whole {
                self.split_with(m, &p, sp, &mut out, &mut buf);
            }
            p.splits = out;
        }
        if normalizer.is_none() && self.norm.is_none() {
            return Ok(p);
        }
        let first = std::mem::take(&mut p.splits);
        for sp in first {
            if sp.toks.is_some() {
                p.splits.push(sp);
                continue;
            }
            let sp = match normalizer {
                Some(n) => {
                    let mut ns = p.owned(&sp);
                    n.apply(&mut ns)?;
                    if ns.is_empty() {
                        continue;
                    }
                    let end = ns.len() as u32;
                    p.bases.push(ns);
                    Split { base: p.bases.len() as u32 - 1, start: 0, end, toks: None, bytes: false }
                }
                None => sp,
            };
            match &self.norm {
                Some(m) => {
                    let mut out = Vec::new();
                    self.split_with(m, &p, &sp, &mut out, &mut buf);
                    p.splits.extend(out);
                }
                None => p.splits.push(sp),
            }
        }
        Ok(p)
    }
}
