//! Hand-written pre-tokenizers for the built-in patterns, equal to the regexes by construction
//! and checked against them by differential tests (here and in `tests/`).
//!
//! Each `next_*` returns the end of the piece starting at byte `i`, following the regex's
//! alternatives in order, with the regex engine's greedy/backtracking/possessive choices worked
//! out per alternative (see the comments). Character classes come from `unicode.rs`, which reads
//! the same tables the regex engine uses. Cost: O(n) over the text with one table load per
//! character, no allocation.

use super::unicode::{flags, folds, L, LO, N, UP, WS};

/// Which built-in pattern.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fast {
    /// tiktoken r50k/p50k/gpt2, and Hugging Face ByteLevel's (equivalent) regex.
    Gpt2,
    Cl100k,
    O200k,
    /// Hugging Face's Llama 3 Split regex: cl100k without `\s++$` (see [`next_cl100k_like`]).
    Llama3,
    /// Qwen2's: Llama 3's with single digits.
    Qwen2,
}

/// Decode the UTF-8 character at byte `i` of a valid string: (code point, length).
#[inline(always)]
fn ch(s: &[u8], i: usize) -> (u32, usize) {
    let b0 = s[i];
    if b0 < 0x80 {
        (b0 as u32, 1)
    } else if b0 < 0xE0 {
        ((((b0 & 0x1F) as u32) << 6) | (s[i + 1] & 0x3F) as u32, 2)
    } else if b0 < 0xF0 {
        ((((b0 & 0x0F) as u32) << 12) | (((s[i + 1] & 0x3F) as u32) << 6) | (s[i + 2] & 0x3F) as u32, 3)
    } else {
        (
            (((b0 & 0x07) as u32) << 18)
                | (((s[i + 1] & 0x3F) as u32) << 12)
                | (((s[i + 2] & 0x3F) as u32) << 6)
                | (s[i + 3] & 0x3F) as u32,
            4,
        )
    }
}

/// Start of the character that ends at byte `k`.
#[inline]
fn prev_start(s: &[u8], mut k: usize) -> usize {
    k -= 1;
    while s[k] & 0xC0 == 0x80 {
        k -= 1;
    }
    k
}

/// End of the run of characters whose flags satisfy `pred`, from byte `i`.
#[inline(always)]
fn run(s: &[u8], mut i: usize, pred: impl Fn(u8) -> bool) -> usize {
    while i < s.len() {
        let b = s[i];
        if b < 0x80 {
            if !pred(flags(b as u32)) {
                break;
            }
            i += 1;
        } else {
            let (c, l) = ch(s, i);
            if !pred(flags(c)) {
                break;
            }
            i += l;
        }
    }
    i
}

#[inline(always)]
fn has(bit: u8) -> impl Fn(u8) -> bool {
    move |f| f & bit != 0
}

/// `[^\s\p{L}\p{N}]`
#[inline(always)]
fn other(f: u8) -> bool {
    f & (L | N | WS) == 0
}

#[inline(always)]
fn is_nl(c: u32) -> bool {
    c == '\r' as u32 || c == '\n' as u32
}

/// Does the character at `i` match ASCII letter `l` under `(?i)` (simple case folding)?
#[inline]
fn ci(s: &[u8], i: usize, l: char) -> Option<usize> {
    if i >= s.len() {
        return None;
    }
    let (c, len) = ch(s, i);
    if c == l as u32 || folds(l).contains(&c) {
        Some(i + len)
    } else {
        None
    }
}

/// `(?i:[sdmt]|ll|ve|re)` at `i` (just after the apostrophe): end, if it matches.
#[inline]
fn contraction_ci(s: &[u8], i: usize) -> Option<usize> {
    for l in ['s', 'd', 'm', 't'] {
        if let Some(e) = ci(s, i, l) {
            return Some(e);
        }
    }
    for (a, b) in [('l', 'l'), ('v', 'e'), ('r', 'e')] {
        if let Some(e) = ci(s, i, a).and_then(|j| ci(s, j, b)) {
            return Some(e);
        }
    }
    None
}

/// Whitespace tail shared by the three patterns, for a run starting at `i` whose first
/// character ends at `j`: `\s++$` (if `dollar`), `\s*[\r\n]` (if `newline`; the `+` of o200k's
/// `[\r\n]+` cannot extend past the run's last newline), `\s+(?!\S)`, then `\s` / `\s+`.
#[inline]
fn ws_tail(s: &[u8], i: usize, j: usize, dollar: bool, newline: bool) -> usize {
    let e = run(s, j, has(WS));
    if dollar && e == s.len() {
        return e;
    }
    if newline {
        if let Some(k) = s[i..e].iter().rposition(|&b| b == b'\n' || b == b'\r') {
            return i + k + 1;
        }
    }
    if e == s.len() {
        return e; // (?!\S) holds at the end of the text
    }
    let last = prev_start(s, e);
    if last > i {
        last // \s+(?!\S): give the last whitespace character back
    } else {
        j
    }
}

/// Number runs of at most three characters: `\p{N}{1,3}`.
#[inline]
fn digits3(s: &[u8], j: usize) -> usize {
    let mut e = j;
    for _ in 0..2 {
        if e >= s.len() {
            break;
        }
        let (c, l) = ch(s, e);
        if flags(c) & N == 0 {
            break;
        }
        e += l;
    }
    e
}

/// `[\r\n]*` (cl100k) or `[\r\n/]*` (o200k) after punctuation.
#[inline]
fn nl_run(s: &[u8], mut e: usize, slash: bool) -> usize {
    while e < s.len() && (s[e] == b'\n' || s[e] == b'\r' || (slash && s[e] == b'/')) {
        e += 1;
    }
    e
}

/// cl100k: `'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+|
/// ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s`
#[inline]
pub fn next_cl100k(s: &[u8], i: usize) -> usize {
    next_cl100k_like(s, i, true, true)
}

/// cl100k's alternatives, with `\s++$` only if `dollar` and `\p{N}{1,3}` or (`!digits3`)
/// `\p{N}`. Without `dollar` this is Hugging Face's Llama 3 regex
/// `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|
/// \s*[\r\n]+|\s+(?!\S)|\s+` (Qwen2's with `\p{N}`): the same contractions; the plain `?`,
/// `+` and `*` there match what the possessive ones do (nothing after them can fail);
/// `\s*[\r\n]+` ends at the run's last newline as `\s*[\r\n]` does; and `\s+` only runs where
/// `\s+(?!\S)` failed, on a single whitespace character, as `\s` does.
#[inline]
pub fn next_cl100k_like(s: &[u8], i: usize, dollar: bool, digits3_on: bool) -> usize {
    let (c, lc) = ch(s, i);
    let f = flags(c);
    let j = i + lc;
    if c == '\'' as u32 {
        if let Some(e) = contraction_ci(s, j) {
            return e;
        }
    }
    if f & L != 0 {
        return run(s, j, has(L));
    }
    // Possessive `?+`: with a non-letter, non-digit, non-newline first character the piece is
    // that character plus letters, or this alternative fails (it cannot retry without it).
    if f & N == 0 && !is_nl(c) && j < s.len() {
        let (c2, l2) = ch(s, j);
        if flags(c2) & L != 0 {
            return run(s, j + l2, has(L));
        }
    }
    if f & N != 0 {
        return if digits3_on { digits3(s, j) } else { j };
    }
    if c == ' ' as u32 && j < s.len() {
        let (c2, l2) = ch(s, j);
        if other(flags(c2)) {
            return nl_run(s, run(s, j + l2, other), false);
        }
    }
    if other(f) {
        return nl_run(s, run(s, j, other), false);
    }
    ws_tail(s, i, j, dollar, true)
}

/// o200k alternative 1 from `p`: `[UP]*[LO]+` with backtracking, then the contraction.
#[inline]
fn o200k_a1(s: &[u8], p: usize) -> Option<usize> {
    let q = run(s, p, has(UP));
    let e = if q < s.len() && flags(ch(s, q).0) & LO != 0 {
        run(s, q, has(LO))
    } else {
        // `[UP]*` gives characters back until `[LO]+` can take one: the match ends after the
        // last character of the run that is also in LO (Lm, Lo, M are in both classes).
        let mut k = q;
        loop {
            if k <= p {
                return None;
            }
            let st = prev_start(s, k);
            if flags(ch(s, st).0) & LO != 0 {
                break k;
            }
            k = st;
        }
    };
    Some(contraction_o200k(s, e))
}

/// o200k alternative 2 from `p`: `[UP]+[LO]*`, then the contraction.
#[inline]
fn o200k_a2(s: &[u8], p: usize) -> Option<usize> {
    let q = run(s, p, has(UP));
    if q == p {
        return None;
    }
    Some(contraction_o200k(s, run(s, q, has(LO))))
}

/// `(?i:'s|'t|'re|'ve|'m|'ll|'d)?` at `e`.
#[inline]
fn contraction_o200k(s: &[u8], e: usize) -> usize {
    if e < s.len() && s[e] == b'\'' {
        if let Some(x) = contraction_ci(s, e + 1) {
            return x;
        }
    }
    e
}

/// o200k: the letter alternatives (with an optional `[^\r\n\p{L}\p{N}]` prefix), `\p{N}{1,3}`,
/// ` ?[^\s\p{L}\p{N}]+[\r\n/]*`, `\s*[\r\n]+`, `\s+(?!\S)`, `\s+`.
#[inline]
pub fn next_o200k(s: &[u8], i: usize) -> usize {
    let (c, lc) = ch(s, i);
    let f = flags(c);
    let j = i + lc;
    let prefix = f & (L | N) == 0 && !is_nl(c) && j < s.len();
    let word = f & (UP | LO) != 0;
    // The regex tries: alt 1 with the prefix, alt 1 without, alt 2 with, alt 2 without.
    if prefix {
        if let Some(e) = o200k_a1(s, j) {
            return e;
        }
    }
    if word {
        if let Some(e) = o200k_a1(s, i) {
            return e;
        }
    }
    if prefix {
        if let Some(e) = o200k_a2(s, j) {
            return e;
        }
    }
    if word {
        if let Some(e) = o200k_a2(s, i) {
            return e;
        }
    }
    if f & N != 0 {
        return digits3(s, j);
    }
    if c == ' ' as u32 && j < s.len() {
        let (c2, l2) = ch(s, j);
        if other(flags(c2)) {
            return nl_run(s, run(s, j + l2, other), true);
        }
    }
    if other(f) {
        return nl_run(s, run(s, j, other), true);
    }
    ws_tail(s, i, j, false, true)
}

/// gpt2: `'(?:[sdmt]|ll|ve|re)| ?\p{L}++| ?\p{N}++| ?[^\s\p{L}\p{N}]++|\s++$|\s+(?!\S)|\s`
#[inline]
pub fn next_gpt2(s: &[u8], i: usize) -> usize {
    let (c, lc) = ch(s, i);
    let f = flags(c);
    let j = i + lc;
    if c == '\'' as u32 && j < s.len() {
        match s[j] {
            b's' | b'd' | b'm' | b't' => return j + 1,
            b'l' | b'v' | b'r' if j + 1 < s.len() => {
                let want = if s[j] == b'l' { b'l' } else { b'e' };
                if s[j + 1] == want {
                    return j + 2;
                }
            }
            _ => {}
        }
    }
    let (f, j) = if c == ' ' as u32 && j < s.len() {
        let (c2, l2) = ch(s, j);
        let f2 = flags(c2);
        if f2 & (L | N) != 0 || other(f2) {
            (f2, j + l2)
        } else {
            (f, j)
        }
    } else {
        (f, j)
    };
    if f & L != 0 {
        return run(s, j, has(L));
    }
    if f & N != 0 {
        return run(s, j, has(N));
    }
    if other(f) {
        return run(s, j, other);
    }
    ws_tail(s, i, j, true, false)
}

/// Call `f` on each piece of `text`.
#[inline]
pub fn for_each<E>(kind: Fast, text: &str, mut f: impl FnMut(&str) -> Result<(), E>) -> Result<(), E> {
    let s = text.as_bytes();
    let mut i = 0;
    while i < s.len() {
        let e = match kind {
            Fast::Cl100k => next_cl100k(s, i),
            Fast::Llama3 => next_cl100k_like(s, i, false, true),
            Fast::Qwen2 => next_cl100k_like(s, i, false, false),
            Fast::O200k => next_o200k(s, i),
            Fast::Gpt2 => next_gpt2(s, i),
        };
        // Every piece ends on a character boundary, so this never fails; stay total anyway.
        f(text.get(i..e).unwrap_or(""))?;
        i = e;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tokenize::pattern::{CL100K, GPT2, HF_GPT2, LLAMA3, O200K, QWEN2};
    use proptest::prelude::*;

    fn by_regex(pat: &str, t: &str) -> Vec<String> {
        use std::collections::HashMap;
        use std::sync::{Mutex, OnceLock};
        static CACHE: OnceLock<Mutex<HashMap<String, fancy_regex::Regex>>> = OnceLock::new();
        let re = CACHE
            .get_or_init(Default::default)
            .lock()
            .unwrap()
            .entry(pat.to_string())
            .or_insert_with(|| fancy_regex::Regex::new(pat).unwrap())
            .clone();
        re.find_iter(t).map(|m| m.unwrap().as_str().to_string()).collect()
    }

    fn by_fast(k: Fast, t: &str) -> Vec<String> {
        let mut v = Vec::new();
        for_each::<()>(k, t, |p| {
            v.push(p.to_string());
            Ok(())
        })
        .unwrap();
        v
    }

    fn check_all(t: &str) {
        let all = [
            (Fast::Cl100k, CL100K),
            (Fast::O200k, O200K),
            (Fast::Gpt2, GPT2),
            (Fast::Gpt2, HF_GPT2),
            (Fast::Llama3, LLAMA3),
            (Fast::Qwen2, QWEN2),
        ];
        for (k, p) in all {
            assert_eq!(by_fast(k, t), by_regex(p, t), "{k:?} on {t:?}");
        }
    }

    #[test]
    fn tricky_strings() {
        for t in [
            "Hello world  123456 don't\n\n  x  ",
            "I'LL DON'T we'Re ſ 'ſ 'S 'x '",
            "  \n\n \t\r\n x\u{3000}\u{a0}y \u{3000}",
            "x;\n/\n// a/ b// ;;;\n\n",
            "CamelCase HTTPServer iPhone ÀÉÎ àéî Ǆǅǆ ʰʱ 日本語 e\u{301}E\u{301} \u{301}\u{301}a",
            "😀😀 👍🏽 👨‍👩‍👧 1️⃣ ١٢٣٤ ⅣⅤ ½",
            "'",
            " ",
            "\n",
            "a",
            "",
            "   ",
            " '' 's",
            "a\u{301}'s B\u{301}'LL",
        ] {
            check_all(t);
        }
    }

    fn alphabet() -> impl Strategy<Value = char> {
        prop_oneof![
            prop::sample::select(vec![
                'a', 'Z', 's', 'S', 'l', 'L', 'e', 'v', 'r', 'd', 'm', 't', '\'', ' ', ' ', '\n', '\r', '\t', '/', ';', '1', '9', '٣', 'Ⅳ',
                '½', 'ſ', 'é', 'É', 'ǅ', 'ʰ', '日', '\u{301}', '\u{3000}', '\u{a0}', '\u{200b}', '😀', '\u{fe0f}', '\u{200d}', 'ß', 'Σ',
                '_', '-', '.'
            ]),
            any::<char>(),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        #[test]
        fn fast_equals_regex(v in prop::collection::vec(alphabet(), 0..40)) {
            let t: String = v.into_iter().collect();
            check_all(&t);
        }
    }
}
