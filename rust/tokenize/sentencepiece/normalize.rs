//! sentencepiece's normalizer (`normalizer.cc`), byte for byte.
//!
//! The input is consumed prefix by prefix: a user-defined symbol (longest match) is copied
//! as is; otherwise the charsmap's longest matching key is replaced by its string; otherwise
//! one character is copied (a malformed byte becomes U+FFFD, consuming one byte). Around
//! that: with `remove_extra_whitespaces`, leading prefixes that normalize to " " are dropped,
//! spaces at the start of a chunk that follows a chunk ending in a space are dropped, and
//! trailing spaces are cut at the end; with `escape_whitespaces` every space becomes U+2581;
//! `add_dummy_prefix` puts one (escaped) space in front, or behind with
//! `treat_whitespace_as_suffix`.
//!
//! Cost: one charsmap walk (and one user-symbol walk) per consumed prefix; linear overall.
//! The output is UTF-8 whenever the charsmap's replacements are (checked at load).

use crate::tokenize::pipeline::precompiled::Charsmap;
use crate::tokenize::pipeline::unigram::trie::PieceTrie;

/// U+2581 LOWER ONE EIGHTH BLOCK, sentencepiece's visible space.
pub const SPACE: &str = "\u{2581}";

#[derive(Clone, Debug)]
pub struct Normalizer {
    pub charsmap: Option<Charsmap>,
    pub add_dummy_prefix: bool,
    pub remove_extra_whitespaces: bool,
    pub escape_whitespaces: bool,
    pub treat_whitespace_as_suffix: bool,
}

/// Length of the UTF-8 character at the start of `s` if it is a valid one, as
/// sentencepiece's `IsValidDecodeUTF8` decides (std's rules: no overlongs, no surrogates).
#[inline]
pub(crate) fn valid_char_len(s: &[u8]) -> Option<usize> {
    let b = *s.first()?;
    let n = match b {
        0x00..=0x7f => return Some(1),
        0xc0..=0xdf => 2,
        0xe0..=0xef => 3,
        0xf0..=0xf7 => 4,
        _ => return None,
    };
    let c = s.get(..n)?;
    std::str::from_utf8(c).ok().map(|_| n)
}

impl Normalizer {
    /// The next prefix of `input` and how many bytes it consumes.
    #[inline]
    fn prefix<'a>(&'a self, input: &'a [u8], user: Option<&PieceTrie>) -> (&'a [u8], usize) {
        if let Some((n, _)) = user.and_then(|u| u.longest(input)) {
            return (&input[..n], n);
        }
        if let Some(cm) = &self.charsmap {
            if let Some((n, rep)) = cm.longest_prefix(input) {
                return (rep.as_bytes(), n);
            }
        }
        match valid_char_len(input) {
            Some(n) => (&input[..n], n),
            None => ("\u{fffd}".as_bytes(), 1),
        }
    }

    /// Normalize `input` into `out` (cleared first).
    pub(crate) fn normalize(&self, input: &str, user: Option<&PieceTrie>, out: &mut Vec<u8>) {
        out.clear();
        let mut input = input.as_bytes();
        if self.remove_extra_whitespaces {
            while !input.is_empty() {
                let (p, n) = self.prefix(input, user);
                if p != b" " {
                    break;
                }
                input = &input[n..];
            }
        }
        if input.is_empty() {
            return;
        }
        out.reserve(input.len() + input.len() / 2 + 3);
        let space: &[u8] = if self.escape_whitespaces { SPACE.as_bytes() } else { b" " };
        if !self.treat_whitespace_as_suffix && self.add_dummy_prefix {
            out.extend_from_slice(space);
        }
        let mut prev_space = self.remove_extra_whitespaces;
        while !input.is_empty() {
            let (mut sp, n) = self.prefix(input, user);
            while prev_space && sp.first() == Some(&b' ') {
                sp = &sp[1..];
            }
            if !sp.is_empty() {
                if self.escape_whitespaces && sp.contains(&b' ') {
                    for &b in sp {
                        if b == b' ' {
                            out.extend_from_slice(space);
                        } else {
                            out.push(b);
                        }
                    }
                } else {
                    out.extend_from_slice(sp);
                }
                prev_space = sp.last() == Some(&b' ');
            }
            input = &input[n..];
            if !self.remove_extra_whitespaces {
                prev_space = false;
            }
        }
        if self.remove_extra_whitespaces {
            while out.ends_with(space) {
                out.truncate(out.len() - space.len());
            }
        }
        if self.treat_whitespace_as_suffix && self.add_dummy_prefix {
            out.extend_from_slice(space);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(n: &Normalizer, s: &str) -> String {
        let mut out = Vec::new();
        n.normalize(s, None, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn whitespace_rules() {
        let mut n = Normalizer {
            charsmap: None,
            add_dummy_prefix: true,
            remove_extra_whitespaces: true,
            escape_whitespaces: true,
            treat_whitespace_as_suffix: false,
        };
        assert_eq!(norm(&n, "  a  b  "), "▁a▁b");
        assert_eq!(norm(&n, "   "), "");
        assert_eq!(norm(&n, ""), "");
        n.remove_extra_whitespaces = false;
        assert_eq!(norm(&n, " a  b "), "▁▁a▁▁b▁");
        n.treat_whitespace_as_suffix = true;
        assert_eq!(norm(&n, "a b"), "a▁b▁");
        n.escape_whitespaces = false;
        n.add_dummy_prefix = false;
        assert_eq!(norm(&n, "a b"), "a b");
    }

    #[test]
    fn user_symbols_and_charsmap() {
        let cm = Charsmap::from_bytes(include_bytes!("../../../tests/data/charsmap_rules.bin")).unwrap();
        let n = Normalizer {
            charsmap: Some(cm),
            add_dummy_prefix: true,
            remove_extra_whitespaces: true,
            escape_whitespaces: true,
            treat_whitespace_as_suffix: false,
        };
        // sentencepiece's own normalize() gives "▁Z▁é▁aTMb" (longest match, unlike HF).
        assert_eq!(norm(&n, "ｘｙ e\u{301} a™b"), "▁Z▁é▁aTMb");
        // U+3000 maps to a space, so it is dropped like one.
        assert_eq!(norm(&n, "\u{3000}a\u{3000}\u{3000}b"), "▁a▁b");
        let user = PieceTrie::build([("™e".as_bytes(), 0)]);
        let mut out = Vec::new();
        n.normalize("a™e", Some(&user), &mut out);
        assert_eq!(String::from_utf8(out).unwrap(), "▁a™e");
    }

    #[test]
    fn malformed_bytes() {
        assert_eq!(valid_char_len(b"\xe2\x82"), None);
        assert_eq!(valid_char_len("€".as_bytes()), Some(3));
        assert_eq!(valid_char_len(b"\xed\xa0\x80"), None);
        assert_eq!(valid_char_len(b"\x80"), None);
    }
}
