//! Pre-tokenizers: cut normalized text into pieces (HF's `PreTokenizedString::split`).
//!
//! The text is a list of [`Split`]s; a split that already has tokens (an added token) is never
//! touched again. Each pre-tokenizer replaces every untouched split by the pieces it cuts it
//! into; empty pieces are dropped, as HF drops them. The word id of a token is the index of
//! its split in the final list. Cost: linear in the text per pre-tokenizer.

use unicode_categories::UnicodeCategories;

use super::normalized::{apply_behavior, char_matches, segments, Behavior, NormStr};
use super::Tok;
use crate::error::Result;
use crate::tokenize::Pretokenizer;

/// A piece of the text: bytes `start..end` of base text `base`, with its tokens once a model
/// (or the added vocabulary) has made them. Splitting a piece makes sub-ranges of the same
/// base (no copy); only a pre-tokenizer that rewrites a piece (ByteLevel, Metaspace) gives it a
/// base of its own.
#[derive(Clone, Debug)]
pub struct Split {
    pub base: u32,
    pub start: u32,
    pub end: u32,
    pub toks: Option<Vec<Tok>>,
    /// The piece goes to the model through GPT-2's byte alphabet (ByteLevel), which is applied
    /// lazily: its text in `base` is still the raw text (see [`Pieces::materialize`]).
    pub bytes: bool,
}

/// The pieces of one text and the base texts they are ranges of (HF's `PreTokenizedString`).
#[derive(Clone, Debug, Default)]
pub struct Pieces {
    pub bases: Vec<NormStr>,
    pub splits: Vec<Split>,
}

impl Pieces {
    /// Add `ns` as a base covered by one piece (nothing if it is empty).
    pub fn push_owned(&mut self, ns: NormStr, toks: Option<Vec<Tok>>) {
        if ns.is_empty() {
            return;
        }
        let end = ns.len() as u32;
        self.bases.push(ns);
        self.splits.push(Split { base: self.bases.len() as u32 - 1, start: 0, end, toks, bytes: false });
    }
    pub fn text(&self, sp: &Split) -> &str {
        &self.bases[sp.base as usize].norm[sp.start as usize..sp.end as usize]
    }
    /// Original byte range of bytes `a..b` of a piece (None past its end, as HF's
    /// `convert_offsets` of the piece gives).
    pub fn original_range(&self, sp: &Split, a: u32, b: u32) -> Option<(u32, u32)> {
        if a > b || b > sp.end - sp.start {
            return None;
        }
        self.bases[sp.base as usize].original_range((sp.start + a) as usize..(sp.start + b) as usize)
    }
    /// The piece as a text of its own (a copy; byte-level mapped if it is lazily so).
    pub fn owned(&self, sp: &Split) -> NormStr {
        let base = &self.bases[sp.base as usize];
        let r = sp.start as usize..sp.end as usize;
        if sp.bytes {
            base.byte_level_of(r, byte_chars())
        } else {
            base.slice(r)
        }
    }

    /// Give every lazily byte-level piece its mapped text (before another pre-tokenizer reads
    /// the pieces).
    pub fn materialize(&mut self) {
        if !self.splits.iter().any(|s| s.bytes) {
            return;
        }
        let old = std::mem::take(&mut self.splits);
        for sp in old {
            if sp.bytes {
                let ns = self.owned(&sp);
                self.push_owned(ns, None);
            } else {
                self.splits.push(sp);
            }
        }
    }
}

/// A pattern as HF's `SplitPattern`: a literal string or a regex (Oniguruma syntax).
#[derive(Clone, Debug)]
pub enum Pat {
    Str(String),
    Regex(Box<Pretokenizer>),
}

impl Pat {
    pub fn regex(src: &str) -> Result<Pat> {
        Ok(Pat::Regex(Box::new(Pretokenizer::new_onig(src)?)))
    }
    pub fn matches(&self, s: &str, out: &mut Vec<(usize, usize)>) -> Result<()> {
        match self {
            Pat::Str(p) if p.is_empty() => out.clear(),
            Pat::Str(p) => {
                out.clear();
                out.extend(s.match_indices(p.as_str()).map(|(i, m)| (i, i + m.len())));
            }
            Pat::Regex(r) => r.matches(s, out)?,
        }
        Ok(())
    }
}

/// Where Metaspace puts its replacement in front of a piece.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PrependScheme {
    Always,
    First,
    Never,
}

#[derive(Clone, Debug)]
pub enum PreTok {
    /// `re` is GPT-2's regex when `use_regex`, compiled once.
    ByteLevel {
        add_prefix_space: bool,
        use_regex: bool,
        trim_offsets: bool,
        re: Option<Box<Pretokenizer>>,
    },
    Split {
        pat: Pat,
        behavior: Behavior,
        invert: bool,
    },
    Metaspace {
        replacement: char,
        prepend: PrependScheme,
        split: bool,
    },
    Bert,
    Whitespace,
    WhitespaceSplit,
    Punctuation(Behavior),
    Digits {
        individual: bool,
    },
    CharDelimiter(char),
    UnicodeScripts,
    Sequence(Vec<PreTok>),
}

/// Whether `c` was assigned by Unicode 9.0, the version of HF's script table (a later char
/// has no script there: "any").
fn in_unicode_9(c: char) -> bool {
    static T: std::sync::OnceLock<Vec<(u32, u32)>> = std::sync::OnceLock::new();
    let t = T.get_or_init(|| crate::tokenize::unicode::ranges(r"\p{Age=V9_0}"));
    let cp = c as u32;
    let i = t.partition_point(|r| r.1 < cp);
    i < t.len() && t[i].0 <= cp
}

/// HF's `fixed_script`: Hiragana, Katakana and U+30FC count as Han; a space, and a char
/// HF's table does not know, is "any" (None).
fn fixed_script(c: char) -> Option<unicode_script::Script> {
    use unicode_script::{Script, UnicodeScript};
    if c == '\u{30FC}' {
        return Some(Script::Han);
    }
    if c == ' ' || !in_unicode_9(c) {
        return None;
    }
    Some(match c.script() {
        Script::Hiragana | Script::Katakana => Script::Han,
        // Not in Scripts.txt (noncharacters, private use, ...): not in HF's table either.
        Script::Unknown => return None,
        s => s,
    })
}

/// HF's UnicodeScripts split: a cut wherever the script changes (spaces belong to no script;
/// text before the first cut, such as leading spaces, is dropped as HF drops it).
fn script_cuts(s: &str) -> Vec<usize> {
    let mut cuts = Vec::new();
    let mut last: Option<Option<unicode_script::Script>> = None;
    for (i, c) in s.char_indices() {
        let sc = fixed_script(c);
        if sc.is_some() && last != Some(None) && last != Some(sc) {
            cuts.push(i);
        }
        if sc.is_some() {
            last = Some(sc);
        }
    }
    cuts.push(s.len());
    cuts
}

/// HF's punctuation: ASCII punctuation or any Unicode P* category.
pub fn is_punc(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_punctuation();
    }
    c.is_punctuation()
}

/// Cut a text of `len` bytes at `matches` with `behavior` (and `invert`): the kept non-empty
/// byte ranges, appended to `out`.
fn split_at(len: usize, matches: &[(usize, usize)], behavior: Behavior, invert: bool, out: &mut Vec<(usize, usize)>) {
    let mut segs = Vec::with_capacity(matches.len() * 2 + 1);
    segments(len, matches.iter().copied(), &mut segs);
    if invert {
        for s in segs.iter_mut() {
            s.2 = !s.2;
        }
    }
    let mut keep = Vec::with_capacity(segs.len());
    apply_behavior(&segs, behavior, &mut keep);
    out.extend(keep.into_iter().filter(|r| r.0 < r.1));
}

fn split_chars(s: &str, f: impl Fn(char) -> bool, behavior: Behavior, out: &mut Vec<(usize, usize)>) {
    let m = char_matches(s, f);
    if m.is_empty() {
        out.push((0, s.len()));
    } else {
        split_at(s.len(), &m, behavior, false, out);
    }
}

/// Run `f` on every untouched piece (taken out of `p.splits`: `f` pushes what replaces it);
/// pieces already mapped to tokens are kept as they are.
fn each_untouched(p: &mut Pieces, mut f: impl FnMut(&mut Pieces, Split) -> Result<()>) -> Result<()> {
    p.materialize();
    let old = std::mem::take(&mut p.splits);
    for sp in old {
        if sp.toks.is_some() {
            p.splits.push(sp);
            continue;
        }
        f(p, sp)?;
    }
    Ok(())
}

/// Replace every untouched piece by the sub-ranges `f` cuts its text into.
fn each(p: &mut Pieces, mut f: impl FnMut(&str, &mut Vec<(usize, usize)>) -> Result<()>) -> Result<()> {
    let mut buf = Vec::new();
    each_untouched(p, |p, sp| {
        buf.clear();
        f(p.text(&sp), &mut buf)?;
        for &(a, b) in buf.iter().filter(|r| r.0 < r.1) {
            p.splits.push(Split { base: sp.base, start: sp.start + a as u32, end: sp.start + b as u32, toks: None, bytes: false });
        }
        Ok(())
    })
}

/// Replace every untouched piece by the texts `f` makes of a copy of it.
fn each_owned(p: &mut Pieces, mut f: impl FnMut(NormStr, &mut Vec<NormStr>) -> Result<()>) -> Result<()> {
    let mut buf = Vec::new();
    each_untouched(p, |p, sp| {
        buf.clear();
        f(p.owned(&sp), &mut buf)?;
        for ns in buf.drain(..) {
            p.push_owned(ns, None);
        }
        Ok(())
    })
}

/// Whether `c` is in the regex class `\w` (Unicode; the tables the regex engines use).
fn is_word(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_alphanumeric() || c == '_';
    }
    static T: std::sync::OnceLock<Vec<(u32, u32)>> = std::sync::OnceLock::new();
    let t = T.get_or_init(|| crate::tokenize::unicode::ranges(r"\w"));
    let cp = c as u32;
    let i = t.partition_point(|r| r.1 < cp);
    i < t.len() && t[i].0 <= cp
}

/// HF's Whitespace pre-tokenizer, `\w+|[^\w\s]+` kept and the rest removed, as a scan: the
/// matches are the maximal runs of word chars and the maximal runs of other non-space chars.
fn whitespace_pieces(s: &str, out: &mut Vec<(usize, usize)>) {
    #[derive(PartialEq, Clone, Copy)]
    enum K {
        Word,
        Space,
        Other,
    }
    let kind = |c: char| {
        if is_word(c) {
            K::Word
        } else if crate::tokenize::unicode::flags(c as u32) & crate::tokenize::unicode::WS != 0 {
            K::Space
        } else {
            K::Other
        }
    };
    let mut run: Option<(usize, K)> = None;
    for (i, c) in s.char_indices() {
        let k = kind(c);
        match run {
            Some((_, rk)) if rk == k => {}
            Some((a, rk)) => {
                if rk != K::Space {
                    out.push((a, i));
                }
                run = Some((i, k));
            }
            None => run = Some((i, k)),
        }
    }
    if let Some((a, rk)) = run {
        if rk != K::Space {
            out.push((a, s.len()));
        }
    }
}

/// GPT-2's byte-to-char table (the printable alphabet of byte-level BPE).
pub fn byte_chars() -> &'static [char; 256] {
    static T: std::sync::OnceLock<[char; 256]> = std::sync::OnceLock::new();
    T.get_or_init(|| {
        let mut t = ['\0'; 256];
        for (b, c) in t.iter_mut().enumerate() {
            *c = crate::tokenize::formats::bytelevel::encode(&[b as u8]).chars().next().unwrap_or('\0');
        }
        t
    })
}

impl PreTok {
    pub fn byte_level(add_prefix_space: bool, use_regex: bool, trim_offsets: bool) -> Result<PreTok> {
        let re = if use_regex { Some(Box::new(Pretokenizer::new("hf_gpt2")?)) } else { None };
        Ok(PreTok::ByteLevel { add_prefix_space, use_regex, trim_offsets, re })
    }

    pub fn apply(&self, p: &mut Pieces) -> Result<()> {
        let mut m = Vec::new();
        match self {
            PreTok::ByteLevel { add_prefix_space, re, .. } => {
                if *add_prefix_space && p.splits.iter().any(|sp| sp.toks.is_none() && !p.text(sp).starts_with(' ')) {
                    each_owned(p, |mut ns, out| {
                        if !ns.norm.starts_with(' ') {
                            ns.prepend(" ");
                        }
                        out.push(ns);
                        Ok(())
                    })?;
                }
                if let Some(re) = re {
                    each(p, |s, out| {
                        re.matches(s, &mut m)?;
                        split_at(s.len(), &m, Behavior::Isolated, false, out);
                        Ok(())
                    })?;
                }
                // The byte-level mapping itself is applied lazily (the model's input for a piece is
                // made only when the piece cache misses).
                p.materialize();
                for sp in p.splits.iter_mut().filter(|s| s.toks.is_none()) {
                    sp.bytes = true;
                }
                Ok(())
            }
            PreTok::Split { pat, behavior, invert } => each(p, |s, out| {
                pat.matches(s, &mut m)?;
                split_at(s.len(), &m, *behavior, *invert, out);
                Ok(())
            }),
            PreTok::Metaspace { replacement, prepend, split } => {
                let mut rep = [0u8; 4];
                let rep: &str = replacement.encode_utf8(&mut rep);
                each_owned(p, |mut ns, out| {
                    let spaces = char_matches(&ns.norm, |c| c == ' ');
                    ns.replace_matches(&spaces, rep);
                    let add = match prepend {
                        PrependScheme::Always => true,
                        PrependScheme::First => ns.orig.0 == 0,
                        PrependScheme::Never => false,
                    };
                    if add && !ns.norm.starts_with(*replacement) {
                        ns.prepend(rep);
                    }
                    out.push(ns);
                    Ok(())
                })?;
                if *split {
                    let r = *replacement;
                    each(p, |s, out| {
                        split_chars(s, |c| c == r, Behavior::MergedWithNext, out);
                        Ok(())
                    })?;
                }
                Ok(())
            }
            PreTok::Bert => each(p, |s, out| {
                // Whitespace removed, then punctuation isolated, in one pass (the same pieces
                // as HF's two splits).
                let mut start = None;
                for (i, c) in s.char_indices() {
                    if c.is_whitespace() {
                        if let Some(a) = start.take() {
                            out.push((a, i));
                        }
                    } else if is_punc(c) {
                        if let Some(a) = start.take() {
                            out.push((a, i));
                        }
                        out.push((i, i + c.len_utf8()));
                    } else if start.is_none() {
                        start = Some(i);
                    }
                }
                if let Some(a) = start {
                    out.push((a, s.len()));
                }
                Ok(())
            }),
            PreTok::Whitespace => each(p, |s, out| {
                whitespace_pieces(s, out);
                Ok(())
            }),
            PreTok::WhitespaceSplit => each(p, |s, out| {
                split_chars(s, char::is_whitespace, Behavior::Removed, out);
                Ok(())
            }),
            PreTok::Punctuation(b) => each(p, |s, out| {
                split_chars(s, is_punc, *b, out);
                Ok(())
            }),
            PreTok::Digits { individual } => each(p, |s, out| {
                let b = if *individual { Behavior::Isolated } else { Behavior::Contiguous };
                split_chars(s, char::is_numeric, b, out);
                Ok(())
            }),
            PreTok::CharDelimiter(d) => each(p, |s, out| {
                split_chars(s, |c| c == *d, Behavior::Removed, out);
                Ok(())
            }),
            PreTok::UnicodeScripts => each(p, |s, out| {
                let cuts = script_cuts(s);
                out.extend(cuts.windows(2).map(|w| (w[0], w[1])));
                Ok(())
            }),
            PreTok::Sequence(v) => {
                for x in v {
                    x.apply(p)?;
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whitespace_scan_equals_the_regex() {
        let re = fancy_regex::Regex::new(r"\w+|[^\w\s]+").unwrap();
        for s in ["Hello, world!! a_b 12.5", "  x\u{3000}y\u{0301}z\t\u{00a0}!?", "日本語。テスト", "", "   "] {
            let want: Vec<(usize, usize)> = re.find_iter(s).map(|m| m.unwrap()).map(|m| (m.start(), m.end())).collect();
            let mut got = Vec::new();
            whitespace_pieces(s, &mut got);
            assert_eq!(got, want, "{s:?}");
        }
    }

    #[test]
    fn script_table_is_unicode_9() {
        assert!(in_unicode_9('A') && in_unicode_9('\u{1E900}'));
        assert!(!in_unicode_9('\u{11A50}') && !in_unicode_9('\u{18B00}'));
    }
}
