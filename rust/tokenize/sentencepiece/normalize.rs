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
//! Runs of characters that nothing can rewrite (a 24 KB bitmap built at load over the first
//! three planes) are copied without a walk.
//! The output is UTF-8 whenever the charsmap's replacements are (checked at load).

use crate::tokenize::pipeline::precompiled::Charsmap;
use crate::tokenize::pipeline::unigram::one_char_len;
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
    /// User-defined symbols, matched before the charsmap.
    pub(crate) user: Option<PieceTrie>,
    /// Bit `c` set: the character `c` (below `PLAIN_MAX`) is copied unchanged wherever it
    /// stands: not a space, no user symbol starts with its lead byte, and no charsmap key can
    /// match text starting with it. Runs of such characters are copied in one go.
    plain: Vec<u64>,
    /// Bit `a * 128 + b` set: ASCII `a` followed by ASCII `b` is copied unchanged (every
    /// charsmap walk from `a` dies within the pair without a match).
    pair: Vec<u64>,
    /// Lead bytes that start a user-defined symbol.
    user_lead: [bool; 256],
    /// ASCII bytes copied unchanged whatever follows them: not a space, no user symbol and no
    /// charsmap key starts with them.
    always: [bool; 256],
    /// For an ASCII byte that no user symbol starts with and whose charsmap lookup cannot
    /// depend on what follows: its replacement (itself when unmapped). Spaces and newlines
    /// then skip the walk.
    ascii: Vec<Option<Box<[u8]>>>,
    /// ASCII bytes whose fixed replacement is " " or "": dropped right after a space.
    ascii_gone: [bool; 256],
}

/// Characters below this are classified in `plain` (the BMP and the next two planes: 24 KB).
const PLAIN_MAX: u32 = 0x30000;

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
    pub(crate) fn new(
        charsmap: Option<Charsmap>,
        add_dummy_prefix: bool,
        remove_extra_whitespaces: bool,
        escape_whitespaces: bool,
        treat_whitespace_as_suffix: bool,
        user: Option<PieceTrie>,
    ) -> Normalizer {
        let mut user_lead = [false; 256];
        if let Some(u) = &user {
            for b in 0..=255u8 {
                user_lead[b as usize] = u.has_prefix(&[b]);
            }
        }
        let mut plain = vec![0u64; PLAIN_MAX as usize / 64];
        let mut buf = [0u8; 4];
        for cp in 0..PLAIN_MAX {
            let Some(c) = char::from_u32(cp) else { continue };
            let b = c.encode_utf8(&mut buf).as_bytes();
            let ok = c != ' ' && !user_lead[b[0] as usize] && !charsmap.as_ref().is_some_and(|m| m.may_match(b));
            if ok {
                plain[cp as usize / 64] |= 1 << (cp % 64);
            }
        }
        let mut pair = vec![0u64; 128 * 128 / 64];
        for a in 0..128u8 {
            for b in 0..128u8 {
                let ok = a != b' ' && !user_lead[a as usize] && !charsmap.as_ref().is_some_and(|m| m.may_match(&[a, b]));
                if ok {
                    let k = a as usize * 128 + b as usize;
                    pair[k / 64] |= 1 << (k % 64);
                }
            }
        }
        let ascii: Vec<Option<Box<[u8]>>> = (0..128u8)
            .map(|b| {
                if user_lead[b as usize] {
                    return None;
                }
                match &charsmap {
                    None => Some(Box::from([b].as_slice())),
                    Some(m) if m.continues(&[b]) => None,
                    Some(m) => match m.longest_prefix(&[b]) {
                        Some((1, rep)) => Some(Box::from(rep.as_bytes())),
                        Some(_) => None,
                        None => Some(Box::from([b].as_slice())),
                    },
                }
            })
            .collect();
        let mut always = [false; 256];
        for b in 0..128u8 {
            always[b as usize] = b != b' ' && !user_lead[b as usize] && !charsmap.as_ref().is_some_and(|m| m.may_match(&[b]));
        }
        let mut ascii_gone = [false; 256];
        for (b, r) in ascii.iter().enumerate() {
            ascii_gone[b] = matches!(r.as_deref(), Some(b" ") | Some(b""));
        }
        Normalizer {
            ascii_gone,
            charsmap,
            add_dummy_prefix,
            remove_extra_whitespaces,
            escape_whitespaces,
            treat_whitespace_as_suffix,
            user,
            plain,
            pair,
            ascii,
            user_lead,
            always,
        }
    }

    /// Length of the run of plain characters at the start of `s`.
    #[inline]
    fn plain_run(&self, s: &[u8]) -> usize {
        let mut i = 0;
        while i < s.len() {
            let b = s[i];
            if self.always[b as usize] {
                i += 1;
                continue;
            }
            let (cp, n) = if b < 0x80 {
                if let Some(&c) = s.get(i + 1).filter(|&&c| c < 0x80) {
                    let k = b as usize * 128 + c as usize;
                    if self.pair[k / 64] >> (k % 64) & 1 == 1 {
                        i += 1;
                        continue;
                    }
                }
                (b as u32, 1)
            } else if b < 0xc0 || i + one_char_len(b) > s.len() {
                break;
            } else {
                // A lead byte of the original UTF-8 text starts a complete, valid character.
                let n = one_char_len(b);
                let mut cp = (b as u32) & (0x7f >> n);
                for &c in &s[i + 1..i + n] {
                    cp = (cp << 6) | (c as u32 & 0x3f);
                }
                (cp, n)
            };
            if cp >= PLAIN_MAX || self.plain[cp as usize / 64] >> (cp % 64) & 1 == 0 {
                // Not plain on its own: still copied unchanged when no charsmap key survives
                // the character and the byte after it (most do not).
                let copy = cp != ' ' as u32
                    && !self.user_lead[b as usize]
                    && i + n < s.len()
                    && self.charsmap.as_ref().is_some_and(|m| !m.may_match(&s[i..i + n + 1]));
                if !copy {
                    break;
                }
            }
            i += n;
        }
        i
    }

    /// The next prefix of `input` and how many bytes it consumes.
    #[inline]
    fn prefix<'a>(&'a self, input: &'a [u8]) -> (&'a [u8], usize) {
        if let Some(Some(rep)) = self.ascii.get(input[0] as usize) {
            return (rep, 1);
        }
        if let Some((n, _)) = self.user.as_ref().and_then(|u| u.longest(input)) {
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
    pub fn normalize(&self, input: &str, out: &mut Vec<u8>) {
        out.clear();
        let mut input = input.as_bytes();
        if self.remove_extra_whitespaces {
            while !input.is_empty() {
                let (p, n) = self.prefix(input);
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
            let run = self.plain_run(input);
            if run > 0 {
                out.extend_from_slice(&input[..run]);
                input = &input[run..];
                prev_space = false;
                continue;
            }
            if prev_space {
                // After a space every byte that becomes one space (or nothing) is dropped:
                // skip such runs (indentation, blank lines) without the general path.
                let skip = input.iter().take_while(|&&b| self.ascii_gone[b as usize]).count();
                if skip > 0 {
                    input = &input[skip..];
                    continue;
                }
            }
            let (mut sp, n) = self.prefix(input);
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
        n.normalize(s, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn whitespace_rules() {
        let mut n = Normalizer::new(None, true, true, true, false, None);
        assert_eq!(norm(&n, "  a  b  "), "▁a▁b");
        assert_eq!(norm(&n, "   "), "");
        assert_eq!(norm(&n, ""), "");
        n = Normalizer::new(None, true, false, true, false, None);
        assert_eq!(norm(&n, " a  b "), "▁▁a▁▁b▁");
        n = Normalizer::new(None, true, false, true, true, None);
        assert_eq!(norm(&n, "a b"), "a▁b▁");
        n = Normalizer::new(None, false, false, false, true, None);
        assert_eq!(norm(&n, "a b"), "a b");
    }

    #[test]
    fn user_symbols_and_charsmap() {
        let cm = Charsmap::from_bytes(include_bytes!("../../../tests/data/charsmap_rules.bin")).unwrap();
        let n = Normalizer::new(Some(cm.clone()), true, true, true, false, None);
        // sentencepiece's own normalize() gives "▁Z▁é▁aTMb" (longest match, unlike HF).
        assert_eq!(norm(&n, "ｘｙ e\u{301} a™b"), "▁Z▁é▁aTMb");
        // U+3000 maps to a space, so it is dropped like one.
        assert_eq!(norm(&n, "\u{3000}a\u{3000}\u{3000}b"), "▁a▁b");
        let user = PieceTrie::build([("™e".as_bytes(), 0)]);
        let n = Normalizer::new(Some(cm), true, true, true, false, Some(user));
        let mut out = Vec::new();
        n.normalize("a™e", &mut out);
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
