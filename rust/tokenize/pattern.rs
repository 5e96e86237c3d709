//! Pre-tokenization: split text into pieces that BPE merges never cross.
//!
//! The built-in patterns are the exact regexes of tiktoken (`gpt2` = r50k/p50k, `cl100k`,
//! `o200k`) and of Hugging Face's ByteLevel pre-tokenizer (`hf_gpt2`), matched with
//! `fancy-regex`, the engine tiktoken itself uses, so look-ahead (`\s+(?!\S)`), possessive
//! quantifiers and Unicode classes behave identically. Any other string is compiled as a user
//! regex. Text the pattern does not match is kept as a piece of its own (Hugging Face's
//! "Isolated" behaviour) so no input is ever silently dropped; the built-in patterns match
//! every character, so for them this never happens.
//!
//! Cost: one regex scan per text, O(n) for the built-ins in practice; this is the bottleneck of
//! encoding and is what a hand-written splitter would replace.

use super::split_fast::{self, Fast};
use crate::error::{Error, Result};

/// `SEQFAST_PRETOKENIZER=regex` forces the regex engine even for built-in patterns (so tests
/// can run both paths); anything else leaves the hand-written splitters on.
fn regex_forced() -> bool {
    static F: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *F.get_or_init(|| std::env::var("SEQFAST_PRETOKENIZER").is_ok_and(|v| v == "regex"))
}

fn fast_of(name: Option<&str>) -> Option<Fast> {
    match name? {
        "gpt2" | "hf_gpt2" => Some(Fast::Gpt2),
        "cl100k" => Some(Fast::Cl100k),
        "o200k" => Some(Fast::O200k),
        "llama3" => Some(Fast::Llama3),
        "qwen2" => Some(Fast::Qwen2),
        _ => None,
    }
}

/// tiktoken's r50k/p50k/gpt2 pattern.
pub const GPT2: &str = r"'(?:[sdmt]|ll|ve|re)| ?\p{L}++| ?\p{N}++| ?[^\s\p{L}\p{N}]++|\s++$|\s+(?!\S)|\s";
/// tiktoken's cl100k_base pattern.
pub const CL100K: &str =
    r"'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s";
/// tiktoken's o200k_base pattern.
pub const O200K: &str = concat!(
    r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?",
    r"|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?",
    r"|\p{N}{1,3}",
    r"| ?[^\s\p{L}\p{N}]+[\r\n/]*",
    r"|\s*[\r\n]+",
    r"|\s+(?!\S)",
    r"|\s+"
);
/// The Split regex of Hugging Face's Llama 3 tokenizer.json (no `$`, nothing possessive: the
/// same text for Oniguruma and fancy-regex).
pub const LLAMA3: &str =
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
/// Qwen2's: Llama 3's with single digits.
pub const QWEN2: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
/// Hugging Face ByteLevel's built-in GPT-2 regex (equivalent to [`GPT2`] on every input).
pub const HF_GPT2: &str = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";

/// The same patterns written for Oniguruma (Hugging Face's engine, Ruby syntax), where `{1,3}+`
/// is not possessive and `$` matches before every newline: possessive quantifiers are dropped
/// (each sits where backtracking could not produce a different match) and `$` becomes `\z`.
pub fn portable(name: &str) -> Option<&'static str> {
    Some(match name {
        "gpt2" | "hf_gpt2" => HF_GPT2,
        "cl100k" => r"'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s+\z|\s*[\r\n]|\s+(?!\S)|\s",
        "o200k" => O200K,
        "llama3" => LLAMA3,
        "qwen2" => QWEN2,
        _ => return None,
    })
}

/// Canonical name of a built-in pattern, accepting common aliases.
pub fn builtin_name(spec: &str) -> Option<&'static str> {
    Some(match spec {
        "gpt2" | "r50k" | "r50k_base" | "p50k" | "p50k_base" => "gpt2",
        "cl100k" | "cl100k_base" => "cl100k",
        "o200k" | "o200k_base" => "o200k",
        "hf_gpt2" | "bytelevel" => "hf_gpt2",
        "llama3" => "llama3",
        "qwen2" => "qwen2",
        _ => return None,
    })
}

fn builtin_source(name: &str) -> &'static str {
    match name {
        "gpt2" => GPT2,
        "cl100k" => CL100K,
        "o200k" => O200K,
        "llama3" => LLAMA3,
        "qwen2" => QWEN2,
        _ => HF_GPT2,
    }
}

/// A compiled pre-tokenizer.
#[derive(Clone, Debug)]
pub struct Pretokenizer {
    name: Option<&'static str>,
    source: String,
    regex: fancy_regex::Regex,
    fast: Option<Fast>,
    add_prefix_space: bool,
    /// `source` is in Oniguruma syntax (read from a `tokenizer.json`).
    onig: bool,
}

impl Pretokenizer {
    /// A built-in name (`gpt2`, `cl100k`, `o200k`, `hf_gpt2` and aliases) or a regex.
    pub fn new(spec: &str) -> Result<Self> {
        // The built-in regexes written out in full are the built-ins (fast path, portable save).
        let by_source = [("gpt2", GPT2), ("cl100k", CL100K), ("o200k", O200K), ("hf_gpt2", HF_GPT2), ("llama3", LLAMA3), ("qwen2", QWEN2)]
            .into_iter()
            .find(|(_, src)| *src == spec)
            .map(|(n, _)| n);
        let name = by_source.or_else(|| builtin_name(spec));
        let source = match name {
            Some(n) => builtin_source(n).to_string(),
            None => spec.to_string(),
        };
        let regex = fancy_regex::RegexBuilder::new(&source)
            .backtrack_limit(10_000_000)
            .build()
            .map_err(|e| Error::Value(format!("invalid pre-tokenizer pattern {spec:?}: {e}")))?;
        let fast = if regex_forced() { None } else { fast_of(name) };
        if fast.is_some() {
            super::unicode::warm();
        }
        Ok(Pretokenizer { name, source, regex, fast, add_prefix_space: false, onig: false })
    }

    /// A regex written for Oniguruma (Hugging Face `tokenizer.json`), where `^` and `$` match at
    /// line boundaries: compiled in multi-line mode; `source()` stays the original text.
    pub fn new_onig(regex: &str) -> Result<Self> {
        if let Some(name) = ["cl100k", "o200k", "hf_gpt2", "llama3", "qwen2"].into_iter().find(|n| portable(n) == Some(regex)) {
            return Self::new(name);
        }
        let wrapped = format!("(?m:{})", super::regex_dialect::from_onig(regex));
        let compiled = fancy_regex::RegexBuilder::new(&wrapped)
            .backtrack_limit(10_000_000)
            .build()
            .map_err(|e| Error::Value(format!("invalid pre-tokenizer pattern {regex:?}: {e}")))?;
        Ok(Pretokenizer { name: None, source: regex.to_string(), regex: compiled, fast: None, add_prefix_space: false, onig: true })
    }

    /// Prepend a space to each text segment that does not start with one (Hugging Face option).
    pub fn with_prefix_space(mut self, on: bool) -> Self {
        self.add_prefix_space = on;
        self
    }
    pub fn add_prefix_space(&self) -> bool {
        self.add_prefix_space
    }
    /// Built-in name, if any.
    pub fn name(&self) -> Option<&'static str> {
        self.name
    }
    /// The regex source.
    pub fn source(&self) -> &str {
        &self.source
    }
    /// The regex as Hugging Face (Oniguruma) must read it to split identically.
    pub fn hf_regex(&self) -> String {
        match self.name.and_then(portable) {
            Some(p) => p.to_string(),
            None if self.onig => self.source.clone(),
            None => super::regex_dialect::to_onig(&self.source),
        }
    }

    /// The name if built-in, else the regex.
    pub fn spec(&self) -> &str {
        self.name.unwrap_or(&self.source)
    }

    /// Call `f` on each piece of `text`, in order; the pieces concatenate to `text`.
    #[inline]
    pub fn for_each_piece<F>(&self, text: &str, f: F) -> Result<()>
    where
        F: FnMut(&str) -> Result<()>,
    {
        match self.fast {
            Some(kind) => split_fast::for_each(kind, text, f),
            None => self.for_each_piece_regex(text, f),
        }
    }

    /// Byte ranges of the pattern's matches in `text`, in order, empty matches included (what
    /// Hugging Face's `find_matches` sees). The built-in patterns match every piece.
    pub fn matches(&self, text: &str, out: &mut Vec<(usize, usize)>) -> Result<()> {
        out.clear();
        if self.fast.is_some() {
            let base = text.as_ptr() as usize;
            return self.for_each_piece(text, |p| {
                let s = p.as_ptr() as usize - base;
                out.push((s, s + p.len()));
                Ok(())
            });
        }
        for m in self.regex.find_iter(text) {
            let m = m.map_err(|e| Error::Value(format!("pattern {:?} failed: {e}", self.source)))?;
            out.push((m.start(), m.end()));
        }
        Ok(())
    }

    /// [`Self::for_each_piece`] through the regex engine, whatever the pattern.
    pub fn for_each_piece_regex<F>(&self, text: &str, mut f: F) -> Result<()>
    where
        F: FnMut(&str) -> Result<()>,
    {
        let mut last = 0;
        for m in self.regex.find_iter(text) {
            let m = m.map_err(|e| Error::Value(format!("pre-tokenizer regex failed near byte {last}: {e}")))?;
            if m.start() > last {
                f(&text[last..m.start()])?;
            }
            if m.end() > m.start() {
                f(m.as_str())?;
            }
            last = m.end();
        }
        if last < text.len() {
            f(&text[last..])?;
        }
        Ok(())
    }

    /// True if cutting text after a `\n` that follows a non-space and precedes a non-space never
    /// changes the pieces. Holds for the built-ins (no piece can contain "\n" followed by a
    /// non-space, and `$` at such a cut matches the same span `\s*[\r\n]` or `\s` would).
    pub fn line_cuts_are_safe(&self) -> bool {
        self.name.is_some()
    }
}

/// Split `text` into chunks of about `target` bytes at cuts where [`Pretokenizer::line_cuts_are_safe`]
/// guarantees identical pieces. Chunks concatenate to `text`; boundaries depend only on the text.
pub fn safe_chunks(text: &str, target: usize) -> Vec<&str> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut start = 0;
    while b.len() - start > target {
        let mut i = start + target;
        let mut cut = None;
        while i + 1 < b.len() {
            match memchr_nl(&b[i..]) {
                None => break,
                Some(k) => {
                    let p = i + k; // b[p] == '\n'
                    if p >= 1 && p + 1 < b.len() && !is_space_byte(b[p - 1]) && !is_space_lead(b, p + 1) && !is_space_tail(b, p) {
                        cut = Some(p + 1);
                        break;
                    }
                    i = p + 1;
                }
            }
        }
        match cut {
            Some(c) => {
                out.push(&text[start..c]);
                start = c;
            }
            None => break,
        }
    }
    out.push(&text[start..]);
    out
}

fn memchr_nl(b: &[u8]) -> Option<usize> {
    b.iter().position(|&c| c == b'\n')
}

/// ASCII whitespace (and the non-ASCII check below) as `\s` sees it.
fn is_space_byte(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c) || c >= 0x80
}

/// May the character starting at byte `i` continue a piece across the newline before it?
/// Whitespace (or any non-ASCII character, conservatively) may, and so may `/`, which o200k's
/// punctuation alternative ` ?[^\s\p{L}\p{N}]+[\r\n/]*` swallows after newlines.
fn is_space_lead(b: &[u8], i: usize) -> bool {
    is_space_byte(b[i]) || b[i] == b'/'
}

/// Is the character before the '\n' at `p` a non-ASCII one (conservatively treated as space)?
fn is_space_tail(b: &[u8], p: usize) -> bool {
    b[p - 1] >= 0x80
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pieces(p: &Pretokenizer, t: &str) -> Vec<String> {
        let mut v = Vec::new();
        p.for_each_piece(t, |s| {
            v.push(s.to_string());
            Ok(())
        })
        .unwrap();
        v
    }

    #[test]
    fn cl100k_lookahead() {
        let p = Pretokenizer::new("cl100k").unwrap();
        assert_eq!(pieces(&p, "a  b"), vec!["a", " ", " b"]);
        assert_eq!(pieces(&p, "x\n\n  y  "), vec!["x", "\n\n", " ", " y", "  "]);
        assert_eq!(pieces(&p, "12345"), vec!["123", "45"]);
    }

    #[test]
    fn unmatched_text_is_kept() {
        let p = Pretokenizer::new(r"[a-z]+").unwrap();
        assert_eq!(pieces(&p, "ab, cd!"), vec!["ab", ", ", "cd", "!"]);
    }

    #[test]
    fn safe_chunks_preserve_pieces() {
        let text = "def f(x):\n    return x  \nclass A:\n  pass\n\nprint(1)\nz;\n//c\n's\n".repeat(50);
        for name in ["gpt2", "cl100k", "o200k"] {
            let p = Pretokenizer::new(name).unwrap();
            let whole = pieces(&p, &text);
            let chunks = safe_chunks(&text, 37);
            assert!(chunks.len() > 10);
            assert_eq!(chunks.concat(), text);
            let split: Vec<String> = chunks.iter().flat_map(|c| pieces(&p, c)).collect();
            assert_eq!(whole, split, "{name}");
        }
    }

    #[test]
    fn bad_regex_is_an_error() {
        assert!(Pretokenizer::new("(unclosed").is_err());
    }
}
