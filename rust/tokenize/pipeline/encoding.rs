//! One encoded sequence with HF's per-token metadata, and the operations on it that HF's
//! `Encoding` has: merging (sequence pairs, templates), truncation with overflowing pieces,
//! and padding.
//!
//! Offsets are character offsets into the original text (what HF's Python binding returns);
//! word ids are `-1` where HF has `None`.

/// A truncation or padding side.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Left,
    Right,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Encoding {
    pub ids: Vec<u32>,
    pub type_ids: Vec<u32>,
    pub offsets: Vec<(u32, u32)>,
    pub special: Vec<u8>,
    pub attention: Vec<u8>,
    pub words: Vec<i64>,
    /// Leading and trailing whitespace chars of each token's string (HF's ByteLevel offset
    /// trimming reads them; an added token's string is the text it matched).
    pub ws: Vec<(u16, u16)>,
    pub overflowing: Vec<Encoding>,
}

impl Encoding {
    pub fn len(&self) -> usize {
        self.ids.len()
    }
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    pub fn push(&mut self, id: u32, type_id: u32, off: (u32, u32), special: u8, word: i64) {
        self.ids.push(id);
        self.type_ids.push(type_id);
        self.offsets.push(off);
        self.special.push(special);
        self.attention.push(1);
        self.words.push(word);
        self.ws.push((0, 0));
    }

    /// Special tokens (from a template): offsets (0, 0), no word, mask 1.
    pub fn specials(ids: &[u32], type_id: u32) -> Encoding {
        let mut e = Encoding::default();
        for &id in ids {
            e.push(id, type_id, (0, 0), 1, -1);
        }
        e
    }

    fn range(&self, s: usize, e: usize) -> Encoding {
        Encoding {
            ids: self.ids[s..e].to_vec(),
            type_ids: self.type_ids[s..e].to_vec(),
            offsets: self.offsets[s..e].to_vec(),
            special: self.special[s..e].to_vec(),
            attention: self.attention[s..e].to_vec(),
            words: self.words[s..e].to_vec(),
            ws: self.ws[s..e].to_vec(),
            overflowing: Vec::new(),
        }
    }

    /// Append `other`'s tokens (its overflowing pieces are dropped; callers handle them).
    pub fn extend(&mut self, other: &Encoding) {
        self.ids.extend_from_slice(&other.ids);
        self.type_ids.extend_from_slice(&other.type_ids);
        self.offsets.extend_from_slice(&other.offsets);
        self.special.extend_from_slice(&other.special);
        self.attention.extend_from_slice(&other.attention);
        self.words.extend_from_slice(&other.words);
        self.ws.extend_from_slice(&other.ws);
    }

    pub fn set_type_ids(&mut self, t: u32) {
        self.type_ids.iter_mut().for_each(|x| *x = t);
    }

    /// HF's `Encoding::truncate`: keep `max_len` tokens from `side`'s opposite end, the rest
    /// becoming overflowing pieces that overlap by `stride` tokens.
    pub fn truncate(&mut self, max_len: usize, stride: usize, side: Side) -> crate::error::Result<()> {
        let n = self.len();
        if max_len >= n {
            return Ok(());
        }
        if max_len == 0 {
            let o = std::mem::take(self);
            self.overflowing.push(o);
            return Ok(());
        }
        if stride >= max_len {
            return Err(crate::value_err!("truncation stride {stride} must be less than the room left for the sequence ({max_len})"));
        }
        let step = max_len - stride;
        let mut parts = Vec::new();
        match side {
            Side::Right => {
                let mut start = 0;
                loop {
                    let stop = (start + max_len).min(n);
                    parts.push((start, stop));
                    if stop == n {
                        break;
                    }
                    start += step;
                }
            }
            Side::Left => {
                let mut stop = n;
                loop {
                    let start = stop.saturating_sub(max_len);
                    parts.push((start, stop));
                    if start == 0 || stop <= step {
                        break;
                    }
                    stop -= step;
                }
            }
        }
        let mut first = self.range(parts[0].0, parts[0].1);
        first.overflowing = parts[1..].iter().map(|&(s, e)| self.range(s, e)).collect();
        *self = first;
        Ok(())
    }

    /// Pad to `target` tokens on `side` (HF's `Encoding::pad`), overflowing pieces too.
    pub fn pad(&mut self, target: usize, pad_id: u32, pad_type: u32, side: Side) {
        for o in self.overflowing.iter_mut() {
            o.pad(target, pad_id, pad_type, side);
        }
        let n = self.len();
        if n >= target {
            return;
        }
        let k = target - n;
        fill_u32(&mut self.ids, pad_id, k, side);
        fill_u32(&mut self.type_ids, pad_type, k, side);
        match side {
            Side::Right => {
                self.offsets.extend(std::iter::repeat_n((0, 0), k));
                self.special.extend(std::iter::repeat_n(1, k));
                self.attention.extend(std::iter::repeat_n(0, k));
                self.words.extend(std::iter::repeat_n(-1, k));
                self.ws.extend(std::iter::repeat_n((0, 0), k));
            }
            Side::Left => {
                self.offsets.splice(0..0, std::iter::repeat_n((0, 0), k));
                self.special.splice(0..0, std::iter::repeat_n(1, k));
                self.attention.splice(0..0, std::iter::repeat_n(0, k));
                self.words.splice(0..0, std::iter::repeat_n(-1, k));
                self.ws.splice(0..0, std::iter::repeat_n((0, 0), k));
            }
        }
    }
}

fn fill_u32(v: &mut Vec<u32>, x: u32, k: usize, side: Side) {
    match side {
        Side::Right => v.extend(std::iter::repeat_n(x, k)),
        Side::Left => {
            v.splice(0..0, std::iter::repeat_n(x, k));
        }
    }
}

/// Which per-token arrays a caller wants besides the ids.
#[derive(Clone, Copy, Debug, Default)]
pub struct Want {
    pub offsets: bool,
    pub type_ids: bool,
    pub special: bool,
    pub attention: bool,
    pub words: bool,
    /// Overflowing pieces become extra rows after their text's row.
    pub overflowing: bool,
}

/// Many encodings stored flat: row `r` is `ids[rows[r]..rows[r + 1]]`; the metadata arrays
/// (when wanted) are aligned with `ids`; `offsets` holds two numbers per token.
#[derive(Clone, Debug, Default)]
pub struct Flat {
    pub ids: Vec<u32>,
    pub rows: Vec<i64>,
    pub offsets: Vec<i64>,
    pub type_ids: Vec<u32>,
    pub special: Vec<u8>,
    pub attention: Vec<u8>,
    pub words: Vec<i64>,
    /// For each row, the index of the text it came from (rows of overflowing pieces included).
    pub sample: Vec<i64>,
}

impl Flat {
    pub fn new(encs: &[Encoding], want: Want) -> Flat {
        let mut f = Flat { rows: vec![0], ..Flat::default() };
        for (i, e) in encs.iter().enumerate() {
            f.push(e, want, i);
            if want.overflowing {
                for o in &e.overflowing {
                    f.push(o, want, i);
                }
            }
        }
        f
    }

    fn push(&mut self, e: &Encoding, want: Want, sample: usize) {
        self.ids.extend_from_slice(&e.ids);
        self.rows.push(self.ids.len() as i64);
        self.sample.push(sample as i64);
        if want.offsets {
            self.offsets.extend(e.offsets.iter().flat_map(|&(a, b)| [a as i64, b as i64]));
        }
        if want.type_ids {
            self.type_ids.extend_from_slice(&e.type_ids);
        }
        if want.special {
            self.special.extend_from_slice(&e.special);
        }
        if want.attention {
            self.attention.extend_from_slice(&e.attention);
        }
        if want.words {
            self.words.extend_from_slice(&e.words);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(n: u32) -> Encoding {
        let mut e = Encoding::default();
        for i in 0..n {
            e.push(i, 0, (i, i + 1), 0, i as i64);
        }
        e
    }

    #[test]
    fn truncate_right_with_stride() {
        let mut e = enc(7);
        e.truncate(4, 1, Side::Right).unwrap();
        assert_eq!(e.ids, vec![0, 1, 2, 3]);
        let o: Vec<Vec<u32>> = e.overflowing.iter().map(|o| o.ids.clone()).collect();
        assert_eq!(o, vec![vec![3, 4, 5, 6]]);
    }

    #[test]
    fn truncate_left() {
        let mut e = enc(7);
        e.truncate(3, 0, Side::Left).unwrap();
        assert_eq!(e.ids, vec![4, 5, 6]);
        let o: Vec<Vec<u32>> = e.overflowing.iter().map(|o| o.ids.clone()).collect();
        assert_eq!(o, vec![vec![1, 2, 3], vec![0]]);
    }
}
