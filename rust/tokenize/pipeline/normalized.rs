//! A piece of text being normalized, with a byte alignment back to the original text.
//!
//! `norm` is the current (normalized) text of the piece; `align[i]` is the byte range of the
//! *original* text (absolute, into the whole input) that normalized byte `i` comes from. Every
//! change goes through [`NormStr::transform_range`], which takes `(char, change)` pairs with
//! Hugging Face's meaning: `change == 0` replaces the next original char, `change > 0` inserts a
//! new char (aligned with the byte before it), `change == -n` replaces the next char and removes
//! the `n` chars after it. Offsets of tokens are then `align[start].0 .. align[end - 1].1`,
//! exactly as HF's `NormalizedString::convert_offsets` computes them.
//!
//! Cost: a transform is linear in the piece; slicing copies the slice (pieces are short).

use std::ops::Range;

/// Where a piece's bytes came from in the original text.
pub type Align = (u32, u32);

#[derive(Clone, Debug, Default)]
pub struct NormStr {
    pub norm: String,
    pub align: Vec<Align>,
    /// The original byte range this piece covers (absolute).
    pub orig: Align,
}

impl NormStr {
    /// The whole of `text`, starting at absolute byte `shift` of the original input.
    pub fn new(text: &str, shift: usize) -> NormStr {
        let mut align = Vec::with_capacity(text.len());
        for (b, c) in text.char_indices() {
            let (s, e) = ((shift + b) as u32, (shift + b + c.len_utf8()) as u32);
            for _ in 0..c.len_utf8() {
                align.push((s, e));
            }
        }
        NormStr { norm: text.to_owned(), align, orig: (shift as u32, (shift + text.len()) as u32) }
    }

    pub fn get(&self) -> &str {
        &self.norm
    }
    pub fn is_empty(&self) -> bool {
        self.norm.is_empty()
    }
    pub fn len(&self) -> usize {
        self.norm.len()
    }

    /// Original byte range of normalized bytes `r` (HF's `convert_offsets(Range::Normalized)`).
    pub fn original_range(&self, r: Range<usize>) -> Option<Align> {
        if r.start == r.end {
            return Some((self.orig.0 + r.start as u32, self.orig.0 + r.end as u32));
        }
        if self.norm.is_empty() {
            return Some(self.orig);
        }
        let a = self.align.get(r.start)?;
        let b = self.align.get(r.end - 1)?;
        Some((a.0, b.1))
    }

    /// The piece made of normalized bytes `r` (which must lie on char boundaries).
    pub fn slice(&self, r: Range<usize>) -> NormStr {
        let orig = self.original_range(r.clone()).unwrap_or((self.orig.0, self.orig.0));
        NormStr { norm: self.norm[r.clone()].to_owned(), align: self.align[r].to_vec(), orig }
    }

    /// Replace normalized bytes `range` by `dest`, skipping `initial_offset` chars of the range
    /// first (they are removed), with HF's change semantics (see the module docs).
    pub fn transform_range<I: IntoIterator<Item = (char, isize)>>(&mut self, range: Range<usize>, dest: I, initial_offset: usize) {
        let old = &self.norm[range.clone()];
        let mut old_chars = old.chars();
        let initial_removed: usize = (&mut old_chars).take(initial_offset).map(char::len_utf8).sum();
        let mut offset = range.start + initial_removed;
        let start_align = (self.orig.0, self.orig.0);
        let mut new_norm = String::with_capacity(range.len());
        let mut new_align = Vec::with_capacity(range.len());
        for (c, change) in dest {
            let align = if change > 0 {
                if offset < 1 {
                    start_align
                } else {
                    self.align.get(offset - 1).copied().unwrap_or(start_align)
                }
            } else {
                self.align.get(offset).or_else(|| self.align.last()).copied().unwrap_or(start_align)
            };
            if change <= 0 {
                offset += old_chars.next().map_or(0, char::len_utf8);
            }
            if change < 0 {
                offset += (&mut old_chars).take(-change as usize).map(char::len_utf8).sum::<usize>();
            }
            new_norm.push(c);
            for _ in 0..c.len_utf8() {
                new_align.push(align);
            }
        }
        self.align.splice(range.clone(), new_align);
        self.norm.replace_range(range, &new_norm);
    }

    /// Transform the whole piece.
    pub fn transform<I: IntoIterator<Item = (char, isize)>>(&mut self, dest: I, initial_offset: usize) {
        self.transform_range(0..self.norm.len(), dest, initial_offset)
    }

    /// Map every char to one char (HF's `map`: each new char keeps its char's alignment).
    pub fn map(&mut self, f: impl Fn(char) -> char) {
        if self.norm.chars().all(|c| f(c) == c) {
            return;
        }
        self.rebuild(|c, out| out.push(f(c)));
    }

    /// Replace every char by what `f` writes (one or more chars, possibly none is not allowed):
    /// the first replaces the char, the others are inserted after it, so all take the char's
    /// alignment (what HF's transform gives changes 0, 1, 1, ...).
    fn rebuild(&mut self, mut f: impl FnMut(char, &mut Vec<char>)) {
        let mut norm = String::with_capacity(self.norm.len() + 8);
        let mut align = Vec::with_capacity(self.align.len() + 8);
        let mut buf = Vec::with_capacity(4);
        for (i, c) in self.norm.char_indices() {
            buf.clear();
            f(c, &mut buf);
            let a = self.align[i];
            for &n in &buf {
                norm.push(n);
                align.extend(std::iter::repeat_n(a, n.len_utf8()));
            }
        }
        self.norm = norm;
        self.align = align;
    }

    /// Keep only the chars for which `keep` is true (HF's `filter`: every kept char keeps its
    /// own alignment; removed chars are charged to a neighbour's change, which moves nothing).
    pub fn filter(&mut self, keep: impl Fn(char) -> bool) {
        if self.norm.chars().all(&keep) {
            return;
        }
        let mut norm = String::with_capacity(self.norm.len());
        let mut align = Vec::with_capacity(self.align.len());
        for (i, c) in self.norm.char_indices() {
            if keep(c) {
                norm.push(c);
                align.extend_from_slice(&self.align[i..i + c.len_utf8()]);
            }
        }
        self.norm = norm;
        self.align = align;
    }

    /// Lowercase (a char may become several, all aligned with it).
    pub fn lowercase(&mut self) {
        if self.norm.bytes().all(|b| !b.is_ascii_uppercase() && b < 0x80) {
            return;
        }
        if self.norm.is_ascii() {
            self.norm.make_ascii_lowercase();
            return;
        }
        self.rebuild(|c, out| if c.is_ascii() { out.push(c.to_ascii_lowercase()) } else { out.extend(c.to_lowercase()) });
    }

    /// Strip whitespace on the left and/or right (HF's `lrstrip`).
    pub fn strip(&mut self, left: bool, right: bool) {
        let lead = if left { self.norm.chars().take_while(|c| c.is_whitespace()).count() } else { 0 };
        let trail = if right { self.norm.chars().rev().take_while(|c| c.is_whitespace()).count() } else { 0 };
        if lead == 0 && trail == 0 {
            return;
        }
        let count = self.norm.chars().count();
        let dest: Vec<(char, isize)> =
            self.norm.chars().enumerate().filter(|&(i, _)| i >= lead && i + trail < count).map(|(_, c)| (c, 0)).collect();
        self.transform(dest, lead);
    }

    /// Put `s` in front of the first char, aligned with it (nothing on an empty piece).
    pub fn prepend(&mut self, s: &str) {
        let Some(next) = self.norm.chars().next() else { return };
        let dest: Vec<(char, isize)> = s.chars().enumerate().map(|(i, c)| (c, isize::from(i != 0))).chain([(next, 1)]).collect();
        self.transform_range(0..next.len_utf8(), dest, 0);
    }

    /// Put `s` after the last char, aligned with it (nothing on an empty piece).
    pub fn append(&mut self, s: &str) {
        let Some(last) = self.norm.chars().next_back() else { return };
        let at = self.norm.len() - last.len_utf8();
        let dest: Vec<(char, isize)> = std::iter::once((last, 0)).chain(s.chars().map(|c| (c, 1))).collect();
        self.transform_range(at..self.norm.len(), dest, 0);
    }

    /// Replace every match (byte ranges from `matches`, in order, non-overlapping) by `content`
    /// (HF's `replace`: the new chars are inserted after the removed match and aligned with its
    /// last byte).
    pub fn replace_matches(&mut self, matches: &[(usize, usize)], content: &str) {
        if matches.is_empty() {
            return;
        }
        let mut norm = String::with_capacity(self.norm.len());
        let mut align = Vec::with_capacity(self.align.len());
        let mut last = 0;
        let start_align = (self.orig.0, self.orig.0);
        for &(s, e) in matches {
            norm.push_str(&self.norm[last..s]);
            align.extend_from_slice(&self.align[last..s]);
            let a = if e >= 1 { self.align.get(e - 1).copied().unwrap_or(start_align) } else { start_align };
            norm.push_str(content);
            align.extend(std::iter::repeat_n(a, content.len()));
            last = e;
        }
        norm.push_str(&self.norm[last..]);
        align.extend_from_slice(&self.align[last..]);
        self.norm = norm;
        self.align = align;
    }

    /// Map every byte-level char: each byte of each char becomes one char of GPT-2's byte
    /// alphabet. (HF's transform gives the first byte the char's alignment and inserts the
    /// others with the alignment of the byte before them: every byte of a char shares one
    /// alignment, so each output char simply takes its source byte's.)
    pub fn byte_level(&mut self, table: &[char; 256]) {
        *self = self.byte_level_of(0..self.norm.len(), table);
    }

    /// [`Self::byte_level`] of the slice `r` (one copy instead of a slice and a rewrite).
    pub fn byte_level_of(&self, r: Range<usize>, table: &[char; 256]) -> NormStr {
        let orig = self.original_range(r.clone()).unwrap_or((self.orig.0, self.orig.0));
        let mut norm = String::with_capacity(r.len() * 2);
        let mut align = Vec::with_capacity(r.len() * 2);
        for (&b, &a) in self.norm.as_bytes()[r.clone()].iter().zip(&self.align[r]) {
            let c = table[b as usize];
            norm.push(c);
            align.push(a);
            if c.len_utf8() == 2 {
                align.push(a);
            }
        }
        NormStr { norm, align, orig }
    }
}

/// How the pieces between and at the matches of a pattern become new pieces (HF's
/// `SplitDelimiterBehavior`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Behavior {
    Removed,
    Isolated,
    MergedWithPrevious,
    MergedWithNext,
    Contiguous,
}

impl Behavior {
    pub fn parse(s: &str) -> Option<Behavior> {
        Some(match s {
            "Removed" => Behavior::Removed,
            "Isolated" => Behavior::Isolated,
            "MergedWithPrevious" => Behavior::MergedWithPrevious,
            "MergedWithNext" => Behavior::MergedWithNext,
            "Contiguous" => Behavior::Contiguous,
            _ => return None,
        })
    }
    pub fn name(self) -> &'static str {
        match self {
            Behavior::Removed => "Removed",
            Behavior::Isolated => "Isolated",
            Behavior::MergedWithPrevious => "MergedWithPrevious",
            Behavior::MergedWithNext => "MergedWithNext",
            Behavior::Contiguous => "Contiguous",
        }
    }
}

/// Cover `len` bytes with `(start, end, is_match)` segments from sorted, non-overlapping matches
/// (HF's `Pattern::find_matches`; an empty text gives one empty non-match).
pub fn segments(len: usize, matches: impl IntoIterator<Item = (usize, usize)>, out: &mut Vec<(usize, usize, bool)>) {
    out.clear();
    if len == 0 {
        out.push((0, 0, false));
        return;
    }
    let mut prev = 0;
    for (s, e) in matches {
        if prev != s {
            out.push((prev, s, false));
        }
        out.push((s, e, true));
        prev = e;
    }
    if prev != len {
        out.push((prev, len, false));
    }
}

/// Char-predicate matches: every char for which `f` holds is a one-char match.
pub fn char_matches(s: &str, f: impl Fn(char) -> bool) -> Vec<(usize, usize)> {
    s.char_indices().filter(|&(_, c)| f(c)).map(|(b, c)| (b, b + c.len_utf8())).collect()
}

/// Apply a split behavior to segments: the kept byte ranges, in order.
pub fn apply_behavior(segs: &[(usize, usize, bool)], behavior: Behavior, out: &mut Vec<(usize, usize)>) {
    out.clear();
    match behavior {
        Behavior::Isolated => out.extend(segs.iter().map(|&(s, e, _)| (s, e))),
        Behavior::Removed => out.extend(segs.iter().filter(|x| !x.2).map(|&(s, e, _)| (s, e))),
        Behavior::Contiguous => {
            let mut prev = false;
            for &(s, e, m) in segs {
                match out.last_mut() {
                    Some(last) if m == prev => last.1 = e,
                    _ => out.push((s, e)),
                }
                prev = m;
            }
        }
        Behavior::MergedWithPrevious => {
            let mut prev = false;
            for &(s, e, m) in segs {
                match out.last_mut() {
                    Some(last) if m && !prev => last.1 = e,
                    _ => out.push((s, e)),
                }
                prev = m;
            }
        }
        Behavior::MergedWithNext => {
            let mut prev = false;
            for &(s, e, m) in segs.iter().rev() {
                match out.last_mut() {
                    Some(last) if m && !prev => last.0 = s,
                    _ => out.push((s, e)),
                }
                prev = m;
            }
            out.reverse();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prepend_aligns_with_first_char() {
        let mut n = NormStr::new("ab", 3);
        n.prepend("▁");
        assert_eq!(n.norm, "▁ab");
        assert_eq!(n.original_range(0..3), Some((3, 4)));
        assert_eq!(n.original_range(3..5), Some((3, 5)));
    }

    #[test]
    fn filter_and_lowercase() {
        let mut n = NormStr::new("xAé", 0);
        n.filter(|c| c != 'x');
        assert_eq!(n.norm, "Aé");
        assert_eq!(n.original_range(0..1), Some((1, 2)));
        n.lowercase();
        assert_eq!(n.norm, "aé");
        assert_eq!(n.original_range(1..3), Some((2, 4)));
    }

    #[test]
    fn behaviors() {
        let mut segs = Vec::new();
        segments(5, [(1, 2), (2, 3)], &mut segs);
        let mut out = Vec::new();
        apply_behavior(&segs, Behavior::Contiguous, &mut out);
        assert_eq!(out, vec![(0, 1), (1, 3), (3, 5)]);
        apply_behavior(&segs, Behavior::MergedWithNext, &mut out);
        assert_eq!(out, vec![(0, 1), (1, 2), (2, 5)]);
        apply_behavior(&segs, Behavior::MergedWithPrevious, &mut out);
        assert_eq!(out, vec![(0, 2), (2, 3), (3, 5)]);
    }
}
