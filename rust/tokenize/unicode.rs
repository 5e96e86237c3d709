//! Character classes for the hand-written pre-tokenizers, taken from `regex-syntax` — the very
//! tables `fancy-regex` compiles `\p{L}`, `\p{N}`, `\s` and `(?i)` from — so the fast splitter
//! and the regex can never disagree on what a letter is, whatever Unicode version they carry.
//!
//! One byte of flags per code point (1.1 MB, built once in about a millisecond); lookups are a
//! single load, and ASCII text touches only the first cache lines.

use std::sync::OnceLock;

use regex_syntax::hir::{Class, HirKind};

pub const L: u8 = 1; // \p{L}
pub const N: u8 = 2; // \p{N}
pub const WS: u8 = 4; // \s
pub const UP: u8 = 8; // [\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]
pub const LO: u8 = 16; // [\p{Ll}\p{Lm}\p{Lo}\p{M}]

const N_CP: usize = 0x11_0000;

pub fn ranges(pattern: &str) -> Vec<(u32, u32)> {
    let hir = regex_syntax::ParserBuilder::new().build().parse(pattern).expect("built-in class parses");
    match hir.kind() {
        HirKind::Class(Class::Unicode(c)) => c.ranges().iter().map(|r| (r.start() as u32, r.end() as u32)).collect(),
        _ => Vec::new(),
    }
}

fn table() -> &'static [u8] {
    static T: OnceLock<Vec<u8>> = OnceLock::new();
    T.get_or_init(|| {
        let mut t = vec![0u8; N_CP];
        for (pat, bit) in
            [(r"\p{L}", L), (r"\p{N}", N), (r"\s", WS), (r"[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]", UP), (r"[\p{Ll}\p{Lm}\p{Lo}\p{M}]", LO)]
        {
            for (a, b) in ranges(pat) {
                for f in &mut t[a as usize..=b as usize] {
                    *f |= bit;
                }
            }
        }
        t
    })
}

/// Flags of code point `cp`.
#[inline(always)]
pub fn flags(cp: u32) -> u8 {
    // SAFETY-free: `cp` comes from a valid `str`, so it is below 0x110000.
    table().get(cp as usize).copied().unwrap_or(0)
}

/// The code points that `(?i)` makes equal to each ASCII letter (simple case folding: `s`
/// also matches `S` and U+017F LONG S).
pub fn folds(letter: char) -> &'static [u32] {
    static F: OnceLock<Vec<Vec<u32>>> = OnceLock::new();
    let f = F.get_or_init(|| {
        (b'a'..=b'z').map(|c| ranges(&format!("(?i){}", c as char)).into_iter().flat_map(|(a, b)| a..=b).collect()).collect()
    });
    let i = (letter as u8).wrapping_sub(b'a') as usize;
    f.get(i).map_or(&[], |v| v.as_slice())
}

/// Force the tables to be built (so the first encode does not pay for it).
pub fn warm() {
    let _ = table();
    let _ = folds('s');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes() {
        assert_eq!(flags('a' as u32) & (L | LO), L | LO);
        assert_eq!(flags('A' as u32) & (L | UP | LO), L | UP);
        assert_eq!(flags('7' as u32), N);
        assert_eq!(flags(' ' as u32), WS);
        assert_eq!(flags(0x3000), WS);
        assert_eq!(flags('日' as u32) & (L | UP | LO), L | UP | LO);
        assert_eq!(flags(0x0301) & (L | UP | LO), UP | LO); // combining acute: a mark, not a letter
        assert!(folds('s').contains(&0x17f));
        assert!(folds('s').contains(&('S' as u32)));
    }
}
