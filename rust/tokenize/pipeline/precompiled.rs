//! sentencepiece's precompiled character map (`precompiled_charsmap`), read as Hugging Face's
//! `Precompiled` normalizer (the `spm_precompiled` crate) and as sentencepiece's normalizer
//! read it.
//!
//! Format: a little-endian `u32` trie size in bytes, then `size / 4` little-endian `u32`
//! units of a darts-clone double-array trie over UTF-8 keys, then the replacement strings,
//! each ended by NUL. A key's leaf value is the byte offset of its replacement in that blob.
//! Unit fields (darts-clone): `has_leaf` = bit 8, `value` = low 31 bits, `label` = low 8 bits
//! plus bit 31 (set on value units, so a value unit never matches a byte), `offset` =
//! `(u >> 10) << ((u & 0x200) >> 6)`. The child of node `p` by byte `c` is at `p ^ offset ^ c`.
//!
//! Two lookups, two semantics:
//! - [`Charsmap::transform`] is HF's normalizer: per extended grapheme cluster, a cluster
//!   shorter than 6 bytes is looked up whole, else char by char; a lookup takes the *first*
//!   (shortest) key that is a prefix of the chunk and replaces the *whole* chunk with it (so a
//!   map with both "e" and "e\u{301}" turns "e\u{301}" into "e"'s replacement: HF's quirk,
//!   kept). A NUL byte ends the key. The `(char, change)` list follows HF's `replace` helper.
//! - [`Charsmap::longest_prefix`] is sentencepiece's `NormalizePrefix`: the longest key that is
//!   a prefix of the bytes (NUL is an ordinary byte there).
//!
//! Safety: every unit index and replacement offset is checked; an index out of range ends the
//! walk (darts would read out of bounds; HF would panic) and a replacement offset that is out
//! of range or not on a character boundary counts as no match. Fuzzed bytes never panic.
//! Cost: O(key length) per lookup; `transform` is linear in the text.

use unicode_segmentation::UnicodeSegmentation;

use crate::error::Result;
use crate::format_err;

/// A parsed precompiled charsmap.
#[derive(Clone, Debug)]
pub struct Charsmap {
    units: Vec<u32>,
    normalized: String,
    /// HF's lookup of each one-byte chunk (an ASCII character), computed at load.
    ascii: Box<[Option<Box<str>>]>,
    /// Offset of the replacement blob in the input bytes (for messages).
    blob_at: usize,
}

#[inline(always)]
fn has_leaf(u: u32) -> bool {
    (u >> 8) & 1 == 1
}
#[inline(always)]
fn value(u: u32) -> u32 {
    u & 0x7FFF_FFFF
}
#[inline(always)]
fn label(u: u32) -> u32 {
    u & (0x8000_0000 | 0xFF)
}
#[inline(always)]
fn offset(u: u32) -> usize {
    ((u >> 10) as usize) << ((u & (1 << 9)) >> 6)
}

impl Charsmap {
    /// Parse as `spm_precompiled` does: the units are the first `size / 4` words after the
    /// size; everything after them is the replacement blob, which must be UTF-8.
    pub fn from_bytes(data: &[u8]) -> Result<Charsmap> {
        if data.len() < 4 {
            return Err(format_err!("precompiled_charsmap: {} bytes, too short for the 4-byte trie size at byte 0", data.len()));
        }
        let size = u32::from_le_bytes([data[0], data[1], data[2], data[3]]) as usize;
        let n = size / 4;
        let end = n.checked_mul(4).and_then(|b| b.checked_add(4)).filter(|&e| e <= data.len()).ok_or_else(|| {
            format_err!("precompiled_charsmap: the trie size {size} at byte 0 runs past the end of the {} bytes", data.len())
        })?;
        let units = data[4..end].chunks_exact(4).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
        let normalized = std::str::from_utf8(&data[end..])
            .map_err(|e| format_err!("precompiled_charsmap: the replacement strings are not UTF-8 (at byte {})", end + e.valid_up_to()))?
            .to_owned();
        let mut map = Charsmap { units, normalized, blob_at: end, ascii: Box::default() };
        map.ascii = (0..128u8).map(|c| map.hf_lookup(std::str::from_utf8(&[c]).expect("ASCII")).map(Box::from)).collect();
        Ok(map)
    }

    /// Number of trie units.
    pub fn n_units(&self) -> usize {
        self.units.len()
    }

    /// Byte offset of the replacement strings in the parsed bytes.
    pub fn blob_offset(&self) -> usize {
        self.blob_at
    }

    /// Walk the trie along `key`, calling `f(len, value)` at every key end, shortest first;
    /// `f` returns false to stop. With `nul_stops` a NUL byte ends the key (HF's walk).
    #[inline]
    fn walk(&self, key: &[u8], nul_stops: bool, mut f: impl FnMut(usize, u32) -> bool) {
        let a = &self.units;
        let Some(&root) = a.first() else { return };
        let mut pos = offset(root);
        for (i, &c) in key.iter().enumerate() {
            if c == 0 && nul_stops {
                return;
            }
            pos ^= c as usize;
            let Some(&unit) = a.get(pos) else { return };
            if label(unit) != c as u32 {
                return;
            }
            pos ^= offset(unit);
            if has_leaf(unit) {
                let Some(&leaf) = a.get(pos) else { return };
                if !f(i + 1, value(leaf)) {
                    return;
                }
            }
        }
    }

    /// The replacement starting at byte `at` of the blob, up to its NUL (or the blob's end);
    /// `None` when `at` is past the end or inside a character.
    fn replacement(&self, at: u32) -> Option<&str> {
        let rest = self.normalized.get(at as usize..)?;
        Some(match rest.as_bytes().iter().position(|&b| b == 0) {
            Some(z) => &rest[..z],
            None => rest,
        })
    }

    /// sentencepiece's lookup: the length of the longest key that is a prefix of `s`, and its
    /// replacement.
    #[inline]
    pub fn longest_prefix(&self, s: &[u8]) -> Option<(usize, &str)> {
        let mut best = None;
        self.walk(s, false, |n, v| {
            best = Some((n, v));
            true
        });
        let (n, v) = best?;
        Some((n, self.replacement(v)?))
    }

    /// Whether some key could match a string that starts with `prefix` (a key ends inside it,
    /// or the walk is still alive after it). `false` lets a caller copy such text unchanged.
    pub fn may_match(&self, prefix: &[u8]) -> bool {
        let a = &self.units;
        let Some(&root) = a.first() else { return false };
        let mut pos = offset(root);
        for &c in prefix {
            pos ^= c as usize;
            let Some(&u) = a.get(pos) else { return false };
            if label(u) != c as u32 {
                return false;
            }
            pos ^= offset(u);
            if has_leaf(u) && a.get(pos).is_some() {
                return true;
            }
        }
        true
    }

    /// Whether the walk along `prefix` ends at a node with children (a longer key may match).
    pub fn continues(&self, prefix: &[u8]) -> bool {
        let a = &self.units;
        let Some(&root) = a.first() else { return false };
        let mut pos = offset(root);
        for &c in prefix {
            pos ^= c as usize;
            match a.get(pos) {
                Some(&u) if label(u) == c as u32 => pos ^= offset(u),
                _ => return false,
            }
        }
        (1..=255u8).any(|c| a.get(pos ^ c as usize).is_some_and(|&u| label(u) == c as u32))
    }

    /// HF's lookup of one chunk: the shortest key that is a prefix of it (NUL ends the key).
    #[inline]
    fn hf_lookup(&self, chunk: &str) -> Option<&str> {
        let mut first = None;
        self.walk(chunk.as_bytes(), true, |_, v| {
            first = Some(v);
            false
        });
        self.replacement(first?)
    }

    /// HF's `Precompiled::normalize` as the `(char, change)` list it gives
    /// `NormalizedString::transform` (with initial offset 0), written to `out` (cleared
    /// first). Returns whether anything was replaced; HF applies the list only then, so the
    /// list is only written from the first replacement on (with the unchanged text before it).
    ///
    /// Clusters: between two ASCII characters other than CR LF there is always a boundary
    /// (every rule that joins involves a non-ASCII class: Extend, ZWJ, SpacingMark, Prepend,
    /// regional indicators, pictographs), and none of the rules looks back across an ASCII
    /// character, so such a character is a cluster of its own (looked up in a table) and the
    /// text between such boundaries is segmented on its own.
    pub fn transform(&self, s: &str, out: &mut Vec<(char, isize)>) -> bool {
        out.clear();
        let mut modified = false;
        self.chunks(s, |at, len, rep| {
            match rep {
                Some(norm) => self.replaced(s, at, len, norm, out, &mut modified),
                None if modified => out.extend(s[at..at + len].chars().map(|c| (c, 0))),
                None => {}
            }
            true
        });
        modified
    }

    /// When every replacement HF's normalizer makes in `s` is of one ASCII character by
    /// another, the rewritten text (`Some(None)` when nothing is replaced): HF's list would
    /// then keep every alignment, so a caller can swap the bytes in place. `None` otherwise
    /// (use [`transform`](Self::transform)).
    pub fn ascii_rewrite(&self, s: &str) -> Option<Option<String>> {
        let mut swaps: Vec<(usize, u8)> = Vec::new();
        let mut simple = true;
        self.chunks(s, |at, len, rep| {
            if let Some(norm) = rep {
                simple = len == 1 && norm.len() == 1 && s.as_bytes()[at] < 0x80 && norm.as_bytes()[0] < 0x80;
                if simple {
                    swaps.push((at, norm.as_bytes()[0]));
                }
            }
            simple
        });
        if !simple {
            return None;
        }
        if swaps.is_empty() {
            return Some(None);
        }
        let mut b = s.as_bytes().to_vec();
        swaps.iter().for_each(|&(at, c)| b[at] = c);
        Some(Some(String::from_utf8(b).expect("ASCII bytes swapped for ASCII bytes")))
    }

    /// HF's chunks of `s` in order: `f(at, len, replacement)` for every cluster or character
    /// HF looks up (`None`: left as it is; such a chunk may cover several characters). Stops
    /// when `f` returns false.
    fn chunks(&self, s: &str, mut f: impl FnMut(usize, usize, Option<&str>) -> bool) {
        let b = s.as_bytes();
        let plain_pair = |x: u8, y: u8| x < 0x80 && y < 0x80 && !(x == b'\r' && y == b'\n');
        let mut i = 0;
        while i < b.len() {
            if b[i] < 0x80 && b.get(i + 1).is_none_or(|&c| plain_pair(b[i], c)) {
                if !f(i, 1, self.ascii[b[i] as usize].as_deref()) {
                    return;
                }
                i += 1;
                continue;
            }
            let mut j = i + 1;
            while j < b.len() && !plain_pair(b[j - 1], b[j]) {
                j += 1;
            }
            for (k, g) in s[i..j].grapheme_indices(true) {
                let at = i + k;
                if g.len() < 6 {
                    if let Some(norm) = self.hf_lookup(g) {
                        if !f(at, g.len(), Some(norm)) {
                            return;
                        }
                        continue;
                    }
                }
                for (k, c) in g.char_indices() {
                    if !f(at + k, c.len_utf8(), self.hf_lookup(&g[k..k + c.len_utf8()])) {
                        return;
                    }
                }
            }
            i = j;
        }
    }

    /// `s[at..at + len]` is replaced by `norm`: write the unchanged text before it first if
    /// this is the first replacement.
    #[inline]
    fn replaced(&self, s: &str, at: usize, len: usize, norm: &str, out: &mut Vec<(char, isize)>, modified: &mut bool) {
        if !*modified {
            *modified = true;
            out.reserve(s.len());
            out.extend(s[..at].chars().map(|c| (c, 0)));
        }
        replace(out, &s[at..at + len], norm);
    }

    /// HF's `normalize_str`: the text with every replacement applied.
    pub fn normalize_str(&self, s: &str) -> String {
        let mut v = Vec::new();
        if !self.transform(s, &mut v) {
            return s.to_owned();
        }
        v.into_iter().map(|x| x.0).collect()
    }
}

/// HF's `replace` helper: the new characters with change 0, then the last `diff` of the list
/// marked +1 when the replacement is longer, or the list's last entry (possibly from an
/// earlier chunk) given the negative `diff` when it is shorter.
fn replace(out: &mut Vec<(char, isize)>, old: &str, new: &str) {
    let old_n = old.chars().count() as isize;
    let before = out.len();
    out.extend(new.chars().map(|c| (c, 0)));
    let diff = (out.len() - before) as isize - old_n;
    if diff > 0 {
        let n = out.len();
        out[n - diff as usize..].iter_mut().for_each(|x| x.1 = 1);
    } else if diff < 0 {
        if let Some(last) = out.last_mut() {
            last.1 += diff;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Built by sentencepiece from `tests/data/charsmap_rules.tsv`: ™→TM, \x1e→"", ﬁ→fi,
    /// ①→1, ｘ→x, ｘｙ→Z, e→E, e+U+0301→é, U+3000→space.
    const RULES: &[u8] = include_bytes!("../../../tests/data/charsmap_rules.bin");

    #[test]
    fn hf_outputs() {
        let m = Charsmap::from_bytes(RULES).unwrap();
        // Expected strings from tokenizers' Precompiled(...).normalize_str.
        let cases = [
            ("e\u{301}", "E"),
            ("ｘｙ", "xｙ"),
            ("a™b", "aTMb"),
            ("\x1eab", "ab"),
            ("ab\x1e", "ab"),
            ("ﬁ①", "fi1"),
            ("e", "E"),
            ("é\u{301}\u{301}", "é\u{301}\u{301}"),
            ("e\u{301}\u{301}\u{301}", "E\u{301}\u{301}\u{301}"),
            ("a\u{3000}\u{3000}b", "a  b"),
        ];
        for (a, b) in cases {
            assert_eq!(m.normalize_str(a), b, "{a:?}");
        }
    }

    /// HF's `Precompiled::normalize` written plainly: every cluster of the whole text.
    fn cluster_loop(m: &Charsmap, s: &str, out: &mut Vec<(char, isize)>) -> bool {
        let mut modified = false;
        for g in s.graphemes(true) {
            if g.len() < 6 {
                if let Some(norm) = m.hf_lookup(g) {
                    modified = true;
                    replace(out, g, norm);
                    continue;
                }
            }
            for (i, c) in g.char_indices() {
                let part = &g[i..i + c.len_utf8()];
                match m.hf_lookup(part) {
                    Some(norm) => {
                        modified = true;
                        replace(out, part, norm);
                    }
                    None => out.push((c, 0)),
                }
            }
        }
        modified
    }

    #[test]
    fn change_lists() {
        let m = Charsmap::from_bytes(RULES).unwrap();
        let mut v = Vec::new();
        assert!(m.transform("™\x1eg", &mut v));
        assert_eq!(v, vec![('T', 0), ('M', 0), ('g', 0)]);
        v.clear();
        // Expansion marks the last extra char +1; a removal subtracts from the previous entry.
        m.transform("a™", &mut v);
        assert_eq!(v, vec![('a', 0), ('T', 0), ('M', 1)]);
        m.transform("a\x1eb", &mut v);
        assert_eq!(v, vec![('a', -1), ('b', 0)]);
        m.transform("\x1eb", &mut v);
        assert_eq!(v, vec![('b', 0)]);
        // Nothing replaced: no list.
        assert!(!m.transform("abc", &mut v));
        assert!(v.is_empty());
        // sentencepiece's longest match.
        assert_eq!(m.longest_prefix("ｘｙz".as_bytes()), Some((6, "Z")));
        assert_eq!(m.longest_prefix("e\u{301}".as_bytes()), Some((3, "é")));
        assert_eq!(m.longest_prefix(b"q"), None);
    }

    #[test]
    fn bad_bytes() {
        assert!(Charsmap::from_bytes(b"").is_err());
        assert!(Charsmap::from_bytes(&[8, 0, 0, 0, 1, 2, 3, 4]).is_err());
        assert!(Charsmap::from_bytes(&[4, 0, 0, 0, 1, 2, 3, 4, 0xff]).is_err());
        let m = Charsmap::from_bytes(&[0, 0, 0, 0]).unwrap();
        assert!(!m.transform("abc", &mut Vec::new()));
        assert_eq!(m.longest_prefix(b"abc"), None);
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..300), s in "\\PC{0,12}") {
            if let Ok(m) = Charsmap::from_bytes(&data) {
                let mut v = Vec::new();
                m.transform(&s, &mut v);
                let _ = m.longest_prefix(s.as_bytes());
            }
        }

        #[test]
        fn mutated_map_never_panics(i in 0usize..1048, b in any::<u8>(), s in "[a-zｘｙ™\u{1e}e\u{301}①ﬁ\u{3000} ]{0,10}") {
            let mut data = RULES.to_vec();
            data[i] = b;
            if let Ok(m) = Charsmap::from_bytes(&data) {
                let mut v = Vec::new();
                m.transform(&s, &mut v);
                let _ = m.longest_prefix(s.as_bytes());
            }
        }

        #[test]
        fn unchanged_text_is_not_modified(s in "[a-d \u{301}]{0,20}") {
            let m = Charsmap::from_bytes(RULES).unwrap();
            let mut v = Vec::new();
            prop_assert!(!m.transform(&s, &mut v));
            prop_assert!(v.is_empty());
            prop_assert_eq!(m.normalize_str(&s), s);
        }

        /// The ASCII shortcut and the lazily written list against HF's loop over every
        /// cluster, on text mixing ASCII with what joins clusters (CR LF, combining marks,
        /// ZWJ emoji sequences, regional indicators, Hangul jamo, Indic conjuncts, prepend).
        #[test]
        fn transform_equals_the_cluster_loop(s in "[a-c\r\n \x1e™ｘｙe\u{301}\u{200d}\u{1f468}\u{1f469}\u{1f1e6}\u{1f1e8}\u{1100}\u{1161}\u{11a8}\u{0915}\u{094d}\u{0937}\u{0600}\u{3000}①ﬁ]{0,24}") {
            let m = Charsmap::from_bytes(RULES).unwrap();
            let mut got = Vec::new();
            let modified = m.transform(&s, &mut got);
            let mut want = Vec::new();
            let want_modified = cluster_loop(&m, &s, &mut want);
            prop_assert_eq!(modified, want_modified);
            if modified {
                prop_assert_eq!(&got, &want);
            }
            // The in-place rewrite, where it applies, is what the list gives.
            match m.ascii_rewrite(&s) {
                Some(None) => prop_assert!(!modified),
                Some(Some(t)) => {
                    prop_assert!(want.iter().all(|x| x.1 == 0) && want.len() == s.chars().count());
                    prop_assert_eq!(t, want.iter().map(|x| x.0).collect::<String>());
                }
                None => prop_assert!(modified),
            }
        }
    }
}
