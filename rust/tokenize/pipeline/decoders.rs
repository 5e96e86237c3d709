//! Decoders (HF's `decoders`): turn token strings back into text.
//!
//! Each decoder maps a list of token strings to a new list (HF's `decode_chain`); the result
//! is their concatenation. Cost: linear in the output.

use super::pretok::Pat;
use crate::error::Result;

#[derive(Clone, Debug)]
pub enum Decoder {
    ByteLevel,
    ByteFallback,
    Fuse,
    Strip { content: char, start: usize, stop: usize },
    Replace { pat: Pat, content: String },
    Metaspace { replacement: char, prepend: bool },
    WordPiece { prefix: String, cleanup: bool },
    Bpe { suffix: String },
    Ctc { pad: String, delimiter: String, cleanup: bool },
    Sequence(Vec<Decoder>),
}

/// HF's `wordpiece::cleanup`: undo the spaces tokenization put around punctuation.
pub fn cleanup(s: &str) -> String {
    s.replace(" .", ".")
        .replace(" ?", "?")
        .replace(" !", "!")
        .replace(" ,", ",")
        .replace(" ' ", "'")
        .replace(" n't", "n't")
        .replace(" 'm", "'m")
        .replace(" do not", " don't")
        .replace(" 's", "'s")
        .replace(" 've", "'ve")
        .replace(" 're", "'re")
}

fn byte_of_char(c: char) -> Option<u8> {
    static T: std::sync::OnceLock<rustc_hash::FxHashMap<char, u8>> = std::sync::OnceLock::new();
    T.get_or_init(|| super::pretok::byte_chars().iter().enumerate().map(|(b, &c)| (c, b as u8)).collect()).get(&c).copied()
}

fn byte_token(t: &str) -> Option<u8> {
    if t.len() == 6 && t.starts_with("<0x") && t.ends_with('>') {
        u8::from_str_radix(&t[3..5], 16).ok()
    } else {
        None
    }
}

impl Decoder {
    pub fn chain(&self, tokens: Vec<String>) -> Result<Vec<String>> {
        Ok(match self {
            Decoder::ByteLevel => {
                let mut bytes = Vec::new();
                for t in &tokens {
                    let mapped: Option<Vec<u8>> = t.chars().map(byte_of_char).collect();
                    match mapped {
                        Some(b) => bytes.extend(b),
                        None => bytes.extend_from_slice(t.as_bytes()),
                    }
                }
                vec![String::from_utf8_lossy(&bytes).into_owned()]
            }
            Decoder::ByteFallback => {
                let mut out = Vec::with_capacity(tokens.len());
                let mut pending: Vec<u8> = Vec::new();
                let flush = |pending: &mut Vec<u8>, out: &mut Vec<String>| {
                    if pending.is_empty() {
                        return;
                    }
                    match String::from_utf8(std::mem::take(pending)) {
                        Ok(s) => out.push(s),
                        Err(e) => out.extend(std::iter::repeat_n("\u{fffd}".to_string(), e.as_bytes().len())),
                    }
                };
                for t in tokens {
                    match byte_token(&t) {
                        Some(b) => pending.push(b),
                        None => {
                            flush(&mut pending, &mut out);
                            out.push(t);
                        }
                    }
                }
                flush(&mut pending, &mut out);
                out
            }
            Decoder::Fuse => vec![tokens.concat()],
            Decoder::Strip { content, start, stop } => tokens
                .into_iter()
                .map(|t| {
                    let chars: Vec<char> = t.chars().collect();
                    let mut a = 0;
                    for (i, &c) in chars.iter().enumerate().take(*start) {
                        if c == *content {
                            a = i + 1;
                        } else {
                            break;
                        }
                    }
                    let mut b = chars.len();
                    for (i, &c) in chars.iter().rev().enumerate().take(*stop) {
                        if c == *content {
                            b = chars.len() - i - 1;
                        } else {
                            break;
                        }
                    }
                    if a >= b {
                        String::new()
                    } else {
                        chars[a..b].iter().collect()
                    }
                })
                .collect(),
            Decoder::Replace { pat, content } => {
                let mut m = Vec::new();
                let mut out = Vec::with_capacity(tokens.len());
                for t in tokens {
                    pat.matches(&t, &mut m)?;
                    let mut s = String::with_capacity(t.len());
                    let mut last = 0;
                    for &(a, b) in &m {
                        s.push_str(&t[last..a]);
                        s.push_str(content);
                        last = b;
                    }
                    s.push_str(&t[last..]);
                    out.push(s);
                }
                out
            }
            Decoder::Metaspace { replacement, prepend } => tokens
                .into_iter()
                .enumerate()
                .map(|(i, t)| {
                    t.chars()
                        .filter_map(|c| {
                            if c == *replacement {
                                if i == 0 && *prepend {
                                    None
                                } else {
                                    Some(' ')
                                }
                            } else {
                                Some(c)
                            }
                        })
                        .collect()
                })
                .collect(),
            Decoder::WordPiece { prefix, cleanup: clean } => tokens
                .into_iter()
                .enumerate()
                .map(|(i, t)| {
                    let mut t = if i != 0 {
                        match t.strip_prefix(prefix.as_str()) {
                            Some(rest) if !prefix.is_empty() => rest.to_string(),
                            _ => format!(" {t}"),
                        }
                    } else {
                        t
                    };
                    if *clean {
                        t = cleanup(&t);
                    }
                    t
                })
                .collect(),
            Decoder::Bpe { suffix } => {
                let n = tokens.len();
                tokens.into_iter().enumerate().map(|(i, t)| t.replace(suffix.as_str(), if i + 1 == n { "" } else { " " })).collect()
            }
            Decoder::Ctc { pad, delimiter, cleanup: clean } => {
                let mut out = Vec::new();
                let mut prev: Option<String> = None;
                for t in tokens {
                    if prev.as_deref() == Some(t.as_str()) {
                        continue;
                    }
                    prev = Some(t.clone());
                    let mut r = t.replace(pad.as_str(), "");
                    if *clean {
                        r = cleanup(&r).replace(delimiter.as_str(), " ");
                    }
                    if !r.is_empty() {
                        out.push(r);
                    }
                }
                out
            }
            Decoder::Sequence(v) => {
                let mut t = tokens;
                for d in v {
                    t = d.chain(t)?;
                }
                t
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(d: Decoder, t: &[&str]) -> String {
        d.chain(t.iter().map(|s| s.to_string()).collect()).unwrap().concat()
    }

    #[test]
    fn byte_fallback_and_strip() {
        assert_eq!(run(Decoder::ByteFallback, &["<0xC3>", "<0xA9>", "x"]), "éx");
        assert_eq!(run(Decoder::ByteFallback, &["<0xE6>", "<0x97>"]), "\u{fffd}\u{fffd}");
        assert_eq!(run(Decoder::Strip { content: ' ', start: 1, stop: 0 }, &[" a", "  b"]), "a b");
    }

    #[test]
    fn metaspace_wordpiece_ctc() {
        assert_eq!(run(Decoder::Metaspace { replacement: '▁', prepend: true }, &["▁hi", "▁there"]), "hi there");
        assert_eq!(run(Decoder::WordPiece { prefix: "##".into(), cleanup: true }, &["un", "##aff", ",", "x"]), "unaff, x");
        let ctc = Decoder::Ctc { pad: "<pad>".into(), delimiter: "|".into(), cleanup: true };
        assert_eq!(run(ctc, &["h", "h", "<pad>", "i", "|", "y"]), "hi y");
    }
}
