//! Byte-level BPE vocabulary: id <-> bytes, the single-byte ids, and the merge table.
//!
//! Two merge semantics are served by one table, `(left id, right id) -> (rank, merged id)`:
//! - *tiktoken*: any two adjacent parts whose concatenation is a token may merge, with the
//!   token's id as the rank. We store every split `(x, y)` of every token `t` whose halves are
//!   tokens, so the lookup is the same O(1) probe as for an explicit merge list.
//! - *merge list* (Hugging Face, GPT-2 `merges.txt`, seqfast training): only listed pairs merge,
//!   with the list index as the rank.
//!
//! Encoding always merges the leftmost pair of minimal rank (both tiktoken and Hugging Face do).
//! Ids may have gaps (cl100k has none below 100256, but files are free to); a gap decodes as an
//! error. Every id maps to distinct bytes and vice versa: duplicates are rejected at build time.

use rustc_hash::FxHashMap;

pub use super::pairs::NONE;
use super::pairs::{pair_key, PairTable};

use crate::error::Result;
use crate::vocab_err;

/// Which rule the merge table follows (kept so a save writes the same semantics back).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MergeKind {
    /// tiktoken: rank = id of the merged token, every split merges.
    Ranks,
    /// Explicit merge list: rank = index in the list.
    List,
}

/// An immutable byte-level BPE vocabulary with its merge table.
#[derive(Clone, Debug)]
pub struct Vocab {
    /// id -> bytes; `None` for ids that are not used (gaps).
    tokens: Vec<Option<Box<[u8]>>>,
    bytes_to_id: FxHashMap<Box<[u8]>, u32>,
    byte_ids: [u32; 256],
    merges: FxHashMap<u64, (u32, u32)>,
    /// The same table laid out for the encoding hot path.
    table: PairTable,
    kind: MergeKind,
    /// If the whole piece is a token, emit it without merging (tiktoken; HF `ignore_merges`).
    whole_piece: bool,
    n_tokens: usize,
}

impl Vocab {
    fn with_tokens(pairs: Vec<(Vec<u8>, u32)>, what: &str) -> Result<Self> {
        let max_id = pairs.iter().map(|p| p.1).max().unwrap_or(0);
        // Ids index a dense table: refuse absurd sizes and absurdly sparse ids up front.
        if pairs.len() > (1 << 26) || max_id as usize > 2 * pairs.len() + (1 << 20) {
            return Err(vocab_err!(
                "{what}: largest id {max_id} is too large for {} tokens (ids must be dense: at most 2 x tokens + 2^20)",
                pairs.len()
            ));
        }
        let mut tokens: Vec<Option<Box<[u8]>>> = vec![None; if pairs.is_empty() { 0 } else { max_id as usize + 1 }];
        let mut bytes_to_id = FxHashMap::default();
        bytes_to_id.reserve(pairs.len());
        let mut byte_ids = [NONE; 256];
        let n_tokens = pairs.len();
        for (bytes, id) in pairs {
            if bytes.is_empty() {
                return Err(vocab_err!("{what}: token id {id} is empty"));
            }
            let b: Box<[u8]> = bytes.into_boxed_slice();
            if let Some(old) = &tokens[id as usize] {
                return Err(vocab_err!("{what}: duplicate id {id} (tokens {} and {})", show(old), show(&b)));
            }
            if let Some(prev) = bytes_to_id.insert(b.clone(), id) {
                return Err(vocab_err!("{what}: duplicate token {} (ids {prev} and {id})", show(&b)));
            }
            if b.len() == 1 {
                byte_ids[b[0] as usize] = id;
            }
            tokens[id as usize] = Some(b);
        }
        Ok(Vocab {
            tokens,
            bytes_to_id,
            byte_ids,
            merges: FxHashMap::default(),
            table: PairTable::new(&FxHashMap::default()),
            kind: MergeKind::Ranks,
            whole_piece: true,
            n_tokens,
        })
    }

    fn set_merges(&mut self, merges: FxHashMap<u64, (u32, u32)>) {
        self.table = PairTable::new(&merges);
        self.merges = merges;
    }

    /// Build from tiktoken ranks: `(token bytes, rank)`, rank doubling as id.
    pub fn from_ranks(ranks: Vec<(Vec<u8>, u32)>, what: &str) -> Result<Self> {
        let mut v = Self::with_tokens(ranks, what)?;
        let mut merges = FxHashMap::default();
        for (id, tok) in v.tokens.iter().enumerate() {
            let Some(tok) = tok else { continue };
            for k in 1..tok.len() {
                if let (Some(&a), Some(&b)) = (v.bytes_to_id.get(&tok[..k]), v.bytes_to_id.get(&tok[k..])) {
                    merges.insert(pair_key(a, b), (id as u32, id as u32));
                }
            }
        }
        v.set_merges(merges);
        v.kind = MergeKind::Ranks;
        v.whole_piece = true;
        Ok(v)
    }

    /// Build from a vocabulary and an ordered merge list of token-id pairs.
    ///
    /// Each merged token must be in the vocabulary; `line_of(i)` names where merge `i` came from
    /// for error messages.
    pub fn from_merges(
        tokens: Vec<(Vec<u8>, u32)>,
        merges: &[(u32, u32)],
        whole_piece: bool,
        what: &str,
        line_of: &dyn Fn(usize) -> String,
    ) -> Result<Self> {
        let mut v = Self::with_tokens(tokens, what)?;
        let mut table = FxHashMap::default();
        table.reserve(merges.len());
        let mut buf = Vec::new();
        for (rank, &(a, b)) in merges.iter().enumerate() {
            let (ta, tb) = match (v.token(a), v.token(b)) {
                (Some(x), Some(y)) => (x, y),
                _ => return Err(vocab_err!("{what}: merge {} references unknown token id", line_of(rank))),
            };
            buf.clear();
            buf.extend_from_slice(ta);
            buf.extend_from_slice(tb);
            let Some(&m) = v.bytes_to_id.get(buf.as_slice()) else {
                return Err(vocab_err!("{what}: merge {} produces {} which is not in the vocabulary", line_of(rank), show(&buf)));
            };
            // A repeated pair keeps its first (highest-priority) rank, as Hugging Face does.
            table.entry(pair_key(a, b)).or_insert((rank as u32, m));
        }
        v.set_merges(table);
        v.kind = MergeKind::List;
        v.whole_piece = whole_piece;
        Ok(v)
    }

    /// Bytes of token `id`, or `None` if unused.
    #[inline]
    pub fn token(&self, id: u32) -> Option<&[u8]> {
        self.tokens.get(id as usize).and_then(|t| t.as_deref())
    }
    /// Id of a token's bytes.
    #[inline]
    pub fn id_of(&self, bytes: &[u8]) -> Option<u32> {
        self.bytes_to_id.get(bytes).copied()
    }
    /// Id of the single-byte token for `b` ([`NONE`] if the vocabulary lacks it).
    #[inline]
    pub fn byte_id(&self, b: u8) -> u32 {
        self.byte_ids[b as usize]
    }
    /// `(rank, merged id)` of an adjacent pair, if it merges.
    #[inline]
    pub fn merge(&self, a: u32, b: u32) -> Option<(u32, u32)> {
        let m = self.table.get(a, b);
        if m.0 == NONE {
            None
        } else {
            Some(m)
        }
    }

    /// `(rank, merged id)` of a pair, `(NONE, NONE)` if it does not merge (the hot-path form).
    #[inline(always)]
    pub fn merge_or_none(&self, a: u32, b: u32) -> (u32, u32) {
        self.table.get(a, b)
    }
    pub fn kind(&self) -> MergeKind {
        self.kind
    }
    pub fn whole_piece(&self) -> bool {
        self.whole_piece
    }
    /// Number of tokens (not counting gaps).
    pub fn len(&self) -> usize {
        self.n_tokens
    }
    pub fn is_empty(&self) -> bool {
        self.n_tokens == 0
    }
    /// One past the largest id.
    pub fn id_bound(&self) -> u32 {
        self.tokens.len() as u32
    }
    /// All `(id, bytes)` in id order.
    pub fn iter(&self) -> impl Iterator<Item = (u32, &[u8])> {
        self.tokens.iter().enumerate().filter_map(|(i, t)| t.as_deref().map(|t| (i as u32, t)))
    }
    /// The merge list in rank order: `(left, right, merged)`. For tiktoken ranks, all splits of
    /// each token, ordered by the merged token's rank, then by split position.
    pub fn merge_list(&self) -> Vec<(u32, u32, u32)> {
        let mut v: Vec<(u32, usize, u32, u32, u32)> = self
            .merges
            .iter()
            .map(|(&k, &(rank, m))| {
                let (a, b) = ((k >> 32) as u32, k as u32);
                (rank, self.token(a).map_or(0, |t| t.len()), a, b, m)
            })
            .collect();
        v.sort_unstable();
        v.into_iter().map(|(_, _, a, b, m)| (a, b, m)).collect()
    }
    /// Number of entries in the merge table.
    pub fn n_merges(&self) -> usize {
        self.merges.len()
    }
}

/// Printable form of token bytes for messages.
pub fn show(b: &[u8]) -> String {
    match std::str::from_utf8(b) {
        Ok(s) => format!("{s:?}"),
        Err(_) => format!("b{:?}", String::from_utf8_lossy(b)).replace('\u{fffd}', "\\ufffd"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes_vocab() -> Vec<(Vec<u8>, u32)> {
        (0u32..256).map(|b| (vec![b as u8], b)).collect()
    }

    #[test]
    fn ranks_record_every_split() {
        let mut t = bytes_vocab();
        t.push((b"ab".to_vec(), 256));
        t.push((b"bc".to_vec(), 257));
        t.push((b"abc".to_vec(), 258));
        let v = Vocab::from_ranks(t, "test").unwrap();
        assert_eq!(v.merge(b'a' as u32, b'b' as u32), Some((256, 256)));
        assert_eq!(v.merge(256, b'c' as u32), Some((258, 258)));
        assert_eq!(v.merge(b'a' as u32, 257), Some((258, 258)));
        assert_eq!(v.merge(b'c' as u32, b'a' as u32), None);
    }

    #[test]
    fn duplicates_are_rejected() {
        let mut t = bytes_vocab();
        t.push((b"a".to_vec(), 300));
        assert!(Vocab::from_ranks(t, "x").unwrap_err().to_string().contains("duplicate token"));
        let mut t = bytes_vocab();
        t.push((b"zz".to_vec(), 5));
        assert!(Vocab::from_ranks(t, "x").unwrap_err().to_string().contains("duplicate id 5"));
    }

    #[test]
    fn merge_must_exist() {
        let t = bytes_vocab();
        let e = Vocab::from_merges(t, &[(97, 98)], false, "m", &|i| format!("#{i}")).unwrap_err();
        assert!(e.to_string().contains("not in the vocabulary"), "{e}");
    }
}
