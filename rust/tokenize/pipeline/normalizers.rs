//! Normalizers: rewrite a piece of text while keeping its alignment to the original
//! (HF's `normalizers`). Each one is a transform of a [`NormStr`] with HF's exact
//! `(char, change)` bookkeeping, so token offsets map back to the original text as HF's do.
//!
//! Unicode normalization forms come from `unicode-normalization-alignments`, which reports the
//! change of every output char, as HF uses it. ASCII text skips the forms (they are identities
//! on ASCII). Cost: linear in the text.

use unicode_categories::UnicodeCategories;
use unicode_normalization_alignments::{IsNormalized, UnicodeNormalization};

use super::normalized::NormStr;
use super::precompiled::Charsmap;
use super::pretok::{byte_chars, Pat};
use crate::error::Result;

#[derive(Clone, Debug)]
pub enum Normalizer {
    Nfc,
    Nfd,
    Nfkc,
    Nfkd,
    Lowercase,
    StripAccents,
    Strip { left: bool, right: bool },
    Replace { pat: Pat, content: String },
    Prepend(String),
    Bert { clean_text: bool, chinese_chars: bool, strip_accents: Option<bool>, lowercase: bool },
    Precompiled(Box<Charsmap>),
    ByteLevel,
    Nmt,
    Sequence(Vec<Normalizer>),
}

/// HF's `is_chinese_char` (the CJK ideograph blocks BERT pads with spaces).
fn is_chinese_char(c: char) -> bool {
    matches!(c as u32, 0x4E00..=0x9FFF | 0x3400..=0x4DBF | 0x20000..=0x2A6DF | 0x2A700..=0x2B73F | 0x2B740..=0x2B81F
        | 0x2B920..=0x2CEAF | 0xF900..=0xFAFF | 0x2F800..=0x2FA1F)
}

fn bert_whitespace(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r') || c.is_whitespace()
}

fn bert_control(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_control() && !matches!(c, '\t' | '\n' | '\r');
    }
    c.is_other()
}

/// Text the quick check proves normalized is left as it is: the form maps every char to itself
/// with change 0, which leaves the alignment unchanged too.
fn normalized_already(s: &str, quick: impl Fn(std::str::Chars<'_>) -> IsNormalized) -> bool {
    s.is_ascii() || quick(s.chars()) == IsNormalized::Yes
}

fn nfd(ns: &mut NormStr) {
    if !normalized_already(&ns.norm, |c| unicode_normalization_alignments::is_nfd_quick(c)) {
        let d: Vec<(char, isize)> = ns.norm.nfd().collect();
        ns.transform(d, 0);
    }
}

/// BERT's accent stripping: drop non-spacing marks (Mn).
fn strip_nonspacing(ns: &mut NormStr) {
    if !ns.norm.is_ascii() {
        ns.filter(|c| c.is_ascii() || !c.is_mark_nonspacing());
    }
}

/// The StripAccents normalizer: drop every combining mark (Mn, Mc, Me).
fn strip_combining(ns: &mut NormStr) {
    if !ns.norm.is_ascii() {
        ns.filter(|c| c.is_ascii() || !unicode_normalization_alignments::char::is_combining_mark(c));
    }
}

impl Normalizer {
    pub fn apply(&self, ns: &mut NormStr) -> Result<()> {
        match self {
            Normalizer::Nfd => nfd(ns),
            Normalizer::Nfc if !normalized_already(&ns.norm, |c| unicode_normalization_alignments::is_nfc_quick(c)) => {
                let d: Vec<(char, isize)> = ns.norm.nfc().collect();
                ns.transform(d, 0);
            }
            Normalizer::Nfkd if !normalized_already(&ns.norm, |c| unicode_normalization_alignments::is_nfkd_quick(c)) => {
                let d: Vec<(char, isize)> = ns.norm.nfkd().collect();
                ns.transform(d, 0);
            }
            Normalizer::Nfkc if !normalized_already(&ns.norm, |c| unicode_normalization_alignments::is_nfkc_quick(c)) => {
                let d: Vec<(char, isize)> = ns.norm.nfkc().collect();
                ns.transform(d, 0);
            }
            Normalizer::Nfc | Normalizer::Nfkd | Normalizer::Nfkc => {}
            Normalizer::Lowercase => ns.lowercase(),
            Normalizer::StripAccents => strip_combining(ns),
            Normalizer::Strip { left, right } => ns.strip(*left, *right),
            Normalizer::Replace { pat, content } => {
                let mut m = Vec::new();
                pat.matches(&ns.norm, &mut m)?;
                ns.replace_matches(&m, content);
            }
            Normalizer::Prepend(s) => ns.prepend(s),
            Normalizer::Bert { clean_text, chinese_chars, strip_accents, lowercase } => {
                if *clean_text && ns.norm.bytes().any(|b| !(0x20..0x7f).contains(&b)) {
                    ns.filter(|c| !(c == '\0' || c == '\u{fffd}' || bert_control(c)));
                    ns.map(|c| if bert_whitespace(c) { ' ' } else { c });
                }
                if *chinese_chars && ns.norm.chars().any(is_chinese_char) {
                    let mut d = Vec::with_capacity(ns.norm.len() + 8);
                    for c in ns.norm.chars() {
                        if is_chinese_char(c) {
                            d.extend([(' ', 0), (c, 1), (' ', 1)]);
                        } else {
                            d.push((c, 0));
                        }
                    }
                    ns.transform(d, 0);
                }
                if strip_accents.unwrap_or(*lowercase) {
                    nfd(ns);
                    strip_nonspacing(ns);
                }
                if *lowercase {
                    ns.lowercase();
                }
            }
            Normalizer::Precompiled(map) => match map.ascii_rewrite(&ns.norm) {
                Some(None) => {}
                // One ASCII byte for another: every alignment stays.
                Some(Some(t)) => ns.norm = t,
                None => {
                    let mut d = Vec::with_capacity(ns.norm.len());
                    if map.transform(&ns.norm, &mut d) {
                        ns.transform(d, 0);
                    }
                }
            },
            Normalizer::ByteLevel => ns.byte_level(byte_chars()),
            Normalizer::Nmt => {
                ns.filter(|c| !matches!(c as u32, 0x0001..=0x0008 | 0x000B | 0x000E..=0x001F | 0x007F | 0x008F | 0x009F));
                ns.map(|c| match c as u32 {
                    0x0009 | 0x000A | 0x000C | 0x000D | 0x1680 | 0x200B..=0x200F | 0x2028 | 0x2029 | 0x2581 | 0xFEFF | 0xFFFD => ' ',
                    _ => c,
                });
            }
            Normalizer::Sequence(v) => {
                for n in v {
                    n.apply(ns)?;
                }
            }
        }
        Ok(())
    }

    /// Normalize a standalone string (an added token's content, for matching after
    /// normalization).
    pub fn normalize_str(&self, s: &str) -> Result<String> {
        let mut ns = NormStr::new(s, 0);
        self.apply(&mut ns)?;
        Ok(ns.norm)
    }
}
