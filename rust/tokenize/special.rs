//! Special tokens: strings that map to one id and are matched before pre-tokenization.
//!
//! Matching is leftmost-longest (as Hugging Face does; tiktoken's alternation is only
//! well-defined when no special is a prefix of another, where both agree).

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use rustc_hash::FxHashMap;

use crate::error::Result;
use crate::vocab_err;

/// What to do when text contains a special token's string.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SpecialPolicy {
    /// Raise an error naming the token and its character position (the default).
    Error,
    /// Encode each occurrence as the special token's id.
    Special,
    /// Encode the string as ordinary text.
    Text,
}

impl SpecialPolicy {
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "error" | "raise" => Ok(SpecialPolicy::Error),
            "special" | "allow" | "all" => Ok(SpecialPolicy::Special),
            "text" | "ordinary" | "ignore" => Ok(SpecialPolicy::Text),
            _ => Err(crate::value_err!("special={s:?} is not one of 'error', 'special', 'text'")),
        }
    }
}

/// The set of special tokens of a tokenizer.
#[derive(Clone, Debug, Default)]
pub struct Specials {
    tokens: Vec<(String, u32)>,
    by_id: FxHashMap<u32, usize>,
    matcher: Option<AhoCorasick>,
}

impl Specials {
    pub fn new(mut tokens: Vec<(String, u32)>) -> Result<Self> {
        tokens.sort_by_key(|t| t.1);
        let mut by_id = FxHashMap::default();
        let mut seen = FxHashMap::default();
        for (i, (s, id)) in tokens.iter().enumerate() {
            if s.is_empty() {
                return Err(vocab_err!("special token with id {id} is the empty string"));
            }
            if by_id.insert(*id, i).is_some() {
                return Err(vocab_err!("two special tokens have id {id}"));
            }
            if let Some(prev) = seen.insert(s.as_str(), *id) {
                return Err(vocab_err!("special token {s:?} appears twice (ids {prev} and {id})"));
            }
        }
        let matcher = if tokens.is_empty() {
            None
        } else {
            Some(
                AhoCorasickBuilder::new()
                    .match_kind(MatchKind::LeftmostLongest)
                    .build(tokens.iter().map(|t| t.0.as_str()))
                    .map_err(|e| vocab_err!("cannot build special-token matcher: {e}"))?,
            )
        };
        Ok(Specials { tokens, by_id, matcher })
    }

    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }
    /// `(string, id)` in id order.
    pub fn tokens(&self) -> &[(String, u32)] {
        &self.tokens
    }
    pub fn get(&self, id: u32) -> Option<&str> {
        self.by_id.get(&id).map(|&i| self.tokens[i].0.as_str())
    }
    pub fn id_of(&self, s: &str) -> Option<u32> {
        self.tokens.iter().find(|t| t.0 == s).map(|t| t.1)
    }
    /// Occurrences as `(start byte, end byte, id)`, leftmost-longest, non-overlapping.
    pub fn find_iter<'a>(&'a self, text: &'a str) -> impl Iterator<Item = (usize, usize, u32)> + 'a {
        self.matcher.iter().flat_map(move |m| m.find_iter(text)).map(move |m| (m.start(), m.end(), self.tokens[m.pattern().as_usize()].1))
    }
    /// True if any special string contains `c`.
    pub fn any_contains(&self, c: char) -> bool {
        self.tokens.iter().any(|t| t.0.contains(c))
    }
}
