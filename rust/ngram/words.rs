//! Word -> id for a model's vocabulary: an open-addressing table of ids (4 bytes per slot, two
//! slots per word) keyed by a hash of the word's bytes that this file defines, so the table can
//! be stored in a model file and mapped back (the hash never changes with a crate version).
//! A probe compares the word with `vocab[id]`; the first id of a duplicated word wins.

use crate::mapped::Buf;

const EMPTY: u32 = u32::MAX;

/// The stored hash of a word (8-byte little-endian chunks, multiply-xorshift mixing).
#[inline]
pub fn hash(w: &[u8]) -> u64 {
    let mut h: u64 = 0x9E37_79B9_7F4A_7C15 ^ (w.len() as u64).wrapping_mul(0xA076_1D64_78BD_642F);
    let mut chunks = w.chunks_exact(8);
    for c in &mut chunks {
        h = (h ^ u64::from_le_bytes(c.try_into().expect("8 bytes"))).wrapping_mul(0xFF51_AFD7_ED55_8CCD);
        h ^= h >> 29;
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut x = [0u8; 8];
        x[..rest.len()].copy_from_slice(rest);
        h = (h ^ u64::from_le_bytes(x)).wrapping_mul(0xFF51_AFD7_ED55_8CCD);
    }
    h ^= h >> 32;
    h.wrapping_mul(0xC4CE_B9FE_1A85_EC53) ^ (h >> 29)
}

#[derive(Clone, Debug)]
pub struct WordIndex {
    slots: Buf<u32>,
}

impl WordIndex {
    /// The index of `vocab` (a power-of-two table at most half full).
    pub fn build(vocab: &[String]) -> WordIndex {
        let cap = (2 * vocab.len()).max(8).next_power_of_two();
        let mut slots = vec![EMPTY; cap];
        for (id, w) in vocab.iter().enumerate() {
            let mut i = hash(w.as_bytes()) as usize & (cap - 1);
            loop {
                let s = slots[i];
                if s == EMPTY {
                    slots[i] = id as u32;
                    break;
                }
                if vocab[s as usize] == *w {
                    break; // duplicate word: the first id stays
                }
                i = (i + 1) & (cap - 1);
            }
        }
        WordIndex { slots: slots.into() }
    }

    /// An index read from a file; `None` if its size is not a power of two.
    pub fn from_slots(slots: Buf<u32>) -> Option<WordIndex> {
        slots.len().is_power_of_two().then_some(WordIndex { slots })
    }

    pub fn slots(&self) -> &[u32] {
        &self.slots
    }

    /// The id of `w` (`None` if absent). Ids read from a file that fall outside `vocab` are
    /// treated as no match; probes stop after the table's size.
    #[inline]
    pub fn get(&self, vocab: &[String], w: &str) -> Option<u32> {
        self.get_from(vocab, w, hash(w.as_bytes()) as usize & (self.slots.len() - 1))
    }

    /// The ids of `words` appended to `out` (`unk` for absent words): the same answers as
    /// [`WordIndex::get`], with the memory accesses of many words in flight at once (every
    /// home slot is fetched ahead, then every candidate word, then the words are compared).
    pub fn get_many(&self, vocab: &[String], words: &[&str], unk: u32, out: &mut Vec<u32>) {
        let slots: &[u32] = &self.slots;
        let mask = slots.len() - 1;
        let home: Vec<usize> = words
            .iter()
            .map(|w| {
                let i = hash(w.as_bytes()) as usize & mask;
                super::query::prefetch_at(slots, i);
                i
            })
            .collect();
        let cand: Vec<u32> = home
            .iter()
            .map(|&i| {
                let s = slots[i];
                super::query::prefetch_at(vocab, s as usize);
                s
            })
            .collect();
        for ((w, &s), &i) in words.iter().zip(&cand).zip(&home) {
            let id = match vocab.get(s as usize) {
                _ if s == EMPTY => None,
                Some(v) if v == w => Some(s),
                _ => self.get_from(vocab, w, i),
            };
            out.push(id.unwrap_or(unk));
        }
    }

    /// [`WordIndex::get`] starting at slot `i` (the word's home slot).
    fn get_from(&self, vocab: &[String], w: &str, mut i: usize) -> Option<u32> {
        let slots: &[u32] = &self.slots;
        let mask = slots.len() - 1;
        for _ in 0..slots.len() {
            let s = slots[i];
            if s == EMPTY {
                return None;
            }
            if vocab.get(s as usize).is_some_and(|v| v == w) {
                return Some(s);
            }
            i = (i + 1) & mask;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PINNED: u64 = 14076344296242974507;

    #[test]
    fn finds_every_word_first_id_wins() {
        let mut vocab: Vec<String> = (0..1000).map(|i| format!("w{i}")).collect();
        vocab.push("w5".into());
        vocab.push(String::new());
        let ix = WordIndex::build(&vocab);
        for (i, w) in vocab.iter().enumerate().take(1000) {
            assert_eq!(ix.get(&vocab, w), Some(i as u32));
        }
        assert_eq!(ix.get(&vocab, "w5"), Some(5));
        assert_eq!(ix.get(&vocab, ""), Some(1001));
        assert_eq!(ix.get(&vocab, "nope"), None);
        let words: Vec<&str> = ["w5", "nope", "", "w999", "w0", "w5"].into();
        let mut out = vec![7];
        ix.get_many(&vocab, &words, 42, &mut out);
        assert_eq!(out, [7, 5, 42, 1001, 999, 0, 5]);
        assert_ne!(hash(b"abcdefgh"), hash(b"abcdefgh\0"));
        // the hash is part of the file format: it must never change
        assert_eq!(hash(b"stable"), PINNED);
    }
}
