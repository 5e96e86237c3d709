//! The models of a pipeline: BPE on strings (with continuing-subword prefix, end-of-word
//! suffix, unknown token, byte fallback, `ignore_merges`, dropout), WordPiece (greedy longest
//! match), WordLevel (whole pieces), and Unigram (in `unigram.rs`).
//!
//! Each model turns one pre-tokenized piece into tokens with byte ranges in the piece, with HF's
//! exact rules. BPE merges the lowest-ranked adjacent pair first, leftmost on ties (HF's heap
//! order), in O(n log n) per piece with a heap, so a whole text as one piece (Llama 2, which
//! has no pre-tokenizer) stays fast.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use rustc_hash::FxHashMap;

use super::unigram::Unigram;
use super::Tok;
use crate::error::Result;
use crate::tokenize::pairs::{pair_key, PairTable};
use crate::vocab_err;

/// Tokens as strings, both ways. Ids may be sparse.
#[derive(Clone, Debug, Default)]
pub struct StrVocab {
    map: FxHashMap<String, u32>,
    rev: Vec<Option<Box<str>>>,
}

impl StrVocab {
    /// Two tokens with one id make decoding ambiguous (HF would pick one at random): refused.
    pub fn new(items: impl IntoIterator<Item = (String, u32)>) -> Result<StrVocab> {
        let mut v = StrVocab::default();
        for (s, id) in items {
            let i = id as usize;
            if v.rev.len() <= i {
                v.rev.resize(i + 1, None);
            }
            if let Some(old) = &v.rev[i] {
                return Err(vocab_err!("duplicate id {id}: tokens {old:?} and {s:?}"));
            }
            v.rev[i] = Some(s.clone().into_boxed_str());
            v.map.insert(s, id);
        }
        Ok(v)
    }
    pub fn get(&self, s: &str) -> Option<u32> {
        self.map.get(s).copied()
    }
    pub fn token(&self, id: u32) -> Option<&str> {
        self.rev.get(id as usize).and_then(|x| x.as_deref())
    }
    pub fn len(&self) -> usize {
        self.map.len()
    }
    pub fn id_bound(&self) -> u32 {
        self.rev.len() as u32
    }
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
    /// `(token, id)` sorted by id.
    pub fn items(&self) -> Vec<(&str, u32)> {
        let mut v: Vec<(&str, u32)> = self.map.iter().map(|(s, &i)| (s.as_str(), i)).collect();
        v.sort_by_key(|x| x.1);
        v
    }
}

#[derive(Clone, Debug, Default)]
pub struct Bpe {
    pub vocab: StrVocab,
    /// `(left, right)` → `(rank, merged id)`, laid out for one cache miss per lookup.
    merges: PairTable,
    /// The merges as read, in rank order (for saving).
    pub merge_list: Vec<(String, String)>,
    pub unk_token: Option<String>,
    pub prefix: Option<String>,
    pub suffix: Option<String>,
    pub fuse_unk: bool,
    pub byte_fallback: bool,
    pub ignore_merges: bool,
    pub dropout: Option<f32>,
    byte_ids: Vec<Option<u32>>,
    /// Id of every one-character token (the first symbols of a word, looked up by the char
    /// instead of hashing a string).
    chars: FxHashMap<char, u32>,
    /// Merges never cross into a `▁` that follows another char (sentencepiece-converted
    /// vocabularies): a token holding `▁` after its first char is all `▁`, `▁` itself is a token, every char becomes some token
    /// (unk or all 256 byte tokens), and no prefix or suffix depends on the position. Then a
    /// piece can be cut before each `▁` into words merged independently (and cached).
    pub word_split: bool,
}

#[derive(Clone, Copy)]
struct Sym {
    id: u32,
    start: u32,
    end: u32,
    prev: u32,
    next: u32,
}

const NONE: u32 = u32::MAX;

/// Words of up to this many symbols merge by a flat scan instead of a heap.
const FLAT_MAX: usize = 64;

/// The random stream of BPE dropout: a counter through `rng::mix64`, seeded per call.
pub struct DropoutRng(pub u64);

impl DropoutRng {
    pub fn next_f32(&mut self) -> f32 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        crate::rng::unit_f64(crate::rng::mix64(self.0)) as f32
    }
}

impl Bpe {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        vocab: StrVocab,
        merge_list: Vec<(String, String)>,
        unk_token: Option<String>,
        prefix: Option<String>,
        suffix: Option<String>,
        fuse_unk: bool,
        byte_fallback: bool,
        ignore_merges: bool,
        dropout: Option<f32>,
        what: &str,
    ) -> Result<Bpe> {
        let plen = prefix.as_ref().map_or(0, |p| p.len());
        let mut merges = FxHashMap::default();
        for (i, (a, b)) in merge_list.iter().enumerate() {
            let look = |t: &str| vocab.get(t).ok_or_else(|| vocab_err!("{what}: model.merges[{i}] references unknown token {t:?}"));
            let (ia, ib) = (look(a)?, look(b)?);
            let tail = b.get(plen..).ok_or_else(|| vocab_err!("{what}: model.merges[{i}]: {b:?} is shorter than the subword prefix"))?;
            let new = format!("{a}{tail}");
            let inew =
                vocab.get(&new).ok_or_else(|| vocab_err!("{what}: model.merges[{i}]: merged token {new:?} is not in the vocabulary"))?;
            merges.insert(pair_key(ia, ib), (i as u32, inew));
        }
        let byte_ids: Vec<Option<u32>> = (0..256).map(|b| vocab.get(&format!("<0x{b:02X}>"))).collect();
        let no_drop = unk_token.as_ref().is_some_and(|u| vocab.get(u).is_some()) || byte_fallback && byte_ids.iter().all(Option::is_some);
        let word_split = prefix.is_none()
            && suffix.is_none()
            && !ignore_merges
            && no_drop
            && vocab.get("\u{2581}").is_some()
            && vocab.map.keys().all(|t| !t.chars().skip(1).any(|c| c == '\u{2581}') || t.chars().all(|c| c == '\u{2581}'));
        let chars = vocab
            .map
            .iter()
            .filter_map(|(t, &id)| {
                let mut it = t.chars();
                let c = it.next()?;
                it.next().is_none().then_some((c, id))
            })
            .collect();
        Ok(Bpe {
            vocab,
            merges: PairTable::new(&merges),
            merge_list,
            unk_token,
            prefix,
            suffix,
            fuse_unk,
            byte_fallback,
            ignore_merges,
            dropout,
            byte_ids,
            chars,
            word_split,
        })
    }

    fn unk_id(&self) -> Result<Option<u32>> {
        match &self.unk_token {
            None => Ok(None),
            Some(u) => self.vocab.get(u).map(Some).ok_or_else(|| vocab_err!("unk_token {u:?} is not in the vocabulary")),
        }
    }

    pub fn tokenize(&self, w: &str, out: &mut Vec<Tok>, rng: Option<&mut DropoutRng>) -> Result<()> {
        if w.is_empty() {
            return Ok(());
        }
        if self.ignore_merges {
            if let Some(id) = self.vocab.get(w) {
                out.push(Tok { id, start: 0, end: w.len() as u32 });
                return Ok(());
            }
        }
        // Offsets are cumulative symbol lengths, as HF's `Word` computes them: a dropped char
        // (no unk, no byte fallback) shifts what follows, and byte-fallback tokens are one byte
        // each (prefix bytes included).
        let mut syms: Vec<Sym> = Vec::with_capacity(w.len());
        let mut pos = 0u32;
        let mut unk: Option<(u32, u32)> = None; // id, length
        let mut buf = String::new();
        let mut push = |syms: &mut Vec<Sym>, id: u32, len: u32| {
            syms.push(Sym { id, start: pos, end: pos + len, prev: NONE, next: NONE });
            pos += len;
        };
        let n = w.len();
        for (i, c) in w.char_indices() {
            let end = i + c.len_utf8();
            let piece = &w[i..end];
            let blen = c.len_utf8() as u32;
            let decorated = self.prefix.is_some() && i > 0 || self.suffix.is_some() && end == n;
            let s: &str = if decorated {
                buf.clear();
                if i > 0 {
                    buf.push_str(self.prefix.as_deref().unwrap_or(""));
                }
                buf.push_str(piece);
                if end == n {
                    buf.push_str(self.suffix.as_deref().unwrap_or(""));
                }
                &buf
            } else {
                piece
            };
            let id = if decorated { self.vocab.get(s) } else { self.chars.get(&c).copied() };
            if let Some(id) = id {
                if let Some((u, ul)) = unk.take() {
                    push(&mut syms, u, ul);
                }
                push(&mut syms, id, blen);
                continue;
            }
            if self.byte_fallback {
                let ids: Option<Vec<u32>> = s.bytes().map(|b| self.byte_ids[b as usize]).collect();
                if let Some(ids) = ids {
                    // HF adds these without flushing a pending unk first.
                    for id in ids {
                        push(&mut syms, id, 1);
                    }
                    continue;
                }
            }
            if let Some(uid) = self.unk_id()? {
                unk = match unk {
                    Some((u, ul)) if self.fuse_unk => Some((u, ul + blen)),
                    Some((u, ul)) => {
                        push(&mut syms, u, ul);
                        Some((uid, blen))
                    }
                    None => Some((uid, blen)),
                };
            }
        }
        if let Some((u, ul)) = unk.take() {
            push(&mut syms, u, ul);
        }
        self.merge_all(&mut syms, rng);
        out.extend(syms.iter().filter(|s| s.id != NONE).map(|s| Tok { id: s.id, start: s.start, end: s.end }));
        Ok(())
    }

    /// [`merge_all`](Self::merge_all) for short words without dropout: `rk[i]` holds the
    /// rank of the pair that symbol `i` starts (none for merged-away symbols, which stay in
    /// place with id NONE, linked past by `prev`/`next`); each round scans `rk` for the lowest
    /// rank, leftmost on ties, as the heap would pop it (its positions grow left to right),
    /// and merges it. O(n^2) in the symbols of the word, but no heap, no moves, and one
    /// lookup per new pair.
    fn merge_flat(&self, syms: &mut [Sym]) {
        let n = syms.len();
        let mut rk = [(NONE, NONE); FLAT_MAX];
        for i in 0..n {
            syms[i].prev = if i == 0 { NONE } else { i as u32 - 1 };
            syms[i].next = if i + 1 == n { NONE } else { i as u32 + 1 };
            if i + 1 < n {
                rk[i] = self.merges.get(syms[i].id, syms[i + 1].id);
            }
        }
        loop {
            let (mut best, mut at) = (NONE, 0);
            for (i, r) in rk[..n - 1].iter().enumerate() {
                if r.0 < best {
                    (best, at) = (r.0, i);
                }
            }
            if best == NONE {
                return;
            }
            let q = syms[at].next as usize;
            let right = syms[q];
            syms[at].id = rk[at].1;
            syms[at].end = right.end;
            syms[at].next = right.next;
            syms[q].id = NONE;
            rk[q] = (NONE, NONE);
            rk[at] = match right.next {
                NONE => (NONE, NONE),
                r => {
                    syms[r as usize].prev = at as u32;
                    self.merges.get(syms[at].id, syms[r as usize].id)
                }
            };
            if let Some(p) = (syms[at].prev != NONE).then_some(syms[at].prev as usize) {
                rk[p] = self.merges.get(syms[p].id, syms[at].id);
            }
        }
    }

    /// `(rank, merged id)` of the pair, if it merges.
    #[inline]
    fn merge(&self, a: u32, b: u32) -> Option<(u32, u32)> {
        let (rank, id) = self.merges.get(a, b);
        (rank != NONE).then_some((rank, id))
    }

    /// Merge lowest rank first, leftmost on ties; merged-away symbols get id NONE (or are
    /// removed).
    fn merge_all(&self, syms: &mut [Sym], rng: Option<&mut DropoutRng>) {
        let n = syms.len();
        if n < 2 {
            return;
        }
        if n <= FLAT_MAX && !(self.dropout.is_some_and(|p| p > 0.0) && rng.is_some()) {
            return self.merge_flat(syms);
        }
        self.merge_heap(syms, rng)
    }

    /// HF's heap of candidate pairs (with dropout: a popped merge is skipped with
    /// probability `p` and offered again after the next merge).
    fn merge_heap(&self, syms: &mut [Sym], mut rng: Option<&mut DropoutRng>) {
        let n = syms.len();
        if n < 2 {
            return;
        }
        let dropout = self.dropout.filter(|&p| p > 0.0);
        for (i, s) in syms.iter_mut().enumerate() {
            s.prev = if i == 0 { NONE } else { i as u32 - 1 };
            s.next = if i + 1 == n { NONE } else { i as u32 + 1 };
        }
        let mut heap: BinaryHeap<Reverse<(u32, u32, u32)>> = BinaryHeap::with_capacity(n);
        for i in 0..n - 1 {
            if let Some((rank, new)) = self.merge(syms[i].id, syms[i + 1].id) {
                heap.push(Reverse((rank, i as u32, new)));
            }
        }
        let mut skipped = Vec::new();
        while let Some(Reverse((rank, pos, new))) = heap.pop() {
            if let (Some(p), Some(r)) = (dropout, rng.as_deref_mut()) {
                if r.next_f32() < p {
                    skipped.push(Reverse((rank, pos, new)));
                    continue;
                }
            }
            heap.extend(skipped.drain(..));
            let p = pos as usize;
            let cur = syms[p];
            if cur.id == NONE || cur.next == NONE {
                continue;
            }
            let q = cur.next as usize;
            match self.merge(cur.id, syms[q].id) {
                Some((_, id)) if id == new => {}
                _ => continue,
            }
            let right = syms[q];
            syms[p].id = new;
            syms[p].end = right.end;
            syms[p].next = right.next;
            syms[q].id = NONE;
            if right.next != NONE {
                syms[right.next as usize].prev = pos;
            }
            if cur.prev != NONE {
                if let Some((r, nid)) = self.merge(syms[cur.prev as usize].id, new) {
                    heap.push(Reverse((r, cur.prev, nid)));
                }
            }
            if right.next != NONE {
                if let Some((r, nid)) = self.merge(new, syms[right.next as usize].id) {
                    heap.push(Reverse((r, pos, nid)));
                }
            }
        }
    }
}

#[derive(Clone, Debug)]
pub struct WordPiece {
    pub vocab: StrVocab,
    pub unk_token: String,
    pub prefix: String,
    pub max_chars: usize,
}

impl WordPiece {
    fn unk(&self, w: &str, out: &mut Vec<Tok>) -> Result<()> {
        let id = self
            .vocab
            .get(&self.unk_token)
            .ok_or_else(|| vocab_err!("WordPiece unk_token {:?} is not in the vocabulary", self.unk_token))?;
        out.push(Tok { id, start: 0, end: w.len() as u32 });
        Ok(())
    }

    pub fn tokenize(&self, w: &str, out: &mut Vec<Tok>) -> Result<()> {
        if w.chars().count() > self.max_chars {
            return self.unk(w, out);
        }
        let mark = out.len();
        let mut start = 0;
        let mut buf = String::with_capacity(self.prefix.len() + w.len());
        while start < w.len() {
            let mut end = w.len();
            let mut found = None;
            while start < end {
                let sub = &w[start..end];
                let id = if start > 0 {
                    buf.clear();
                    buf.push_str(&self.prefix);
                    buf.push_str(sub);
                    self.vocab.get(&buf)
                } else {
                    self.vocab.get(sub)
                };
                if let Some(id) = id {
                    found = Some(id);
                    break;
                }
                end -= sub.chars().next_back().map_or(1, char::len_utf8);
            }
            match found {
                Some(id) => out.push(Tok { id, start: start as u32, end: end as u32 }),
                None => {
                    out.truncate(mark);
                    return self.unk(w, out);
                }
            }
            start = end;
        }
        Ok(())
    }
}

#[derive(Clone, Debug)]
pub struct WordLevel {
    pub vocab: StrVocab,
    pub unk_token: String,
}

#[derive(Clone, Debug)]
pub enum Model {
    Bpe(Bpe),
    WordPiece(WordPiece),
    WordLevel(WordLevel),
    Unigram(Unigram),
}

impl Model {
    pub fn tokenize(&self, piece: &str, out: &mut Vec<Tok>, rng: Option<&mut DropoutRng>) -> Result<()> {
        match self {
            Model::Bpe(m) => m.tokenize(piece, out, rng),
            Model::WordPiece(m) => m.tokenize(piece, out),
            Model::WordLevel(m) => {
                let id = m.vocab.get(piece).or_else(|| m.vocab.get(&m.unk_token));
                let id = id.ok_or_else(|| {
                    vocab_err!("WordLevel: {piece:?} is not in the vocabulary and unk_token {:?} is missing", m.unk_token)
                })?;
                out.push(Tok { id, start: 0, end: piece.len() as u32 });
                Ok(())
            }
            Model::Unigram(m) => m.tokenize(piece, out),
        }
    }

    pub fn token_to_id(&self, s: &str) -> Option<u32> {
        match self {
            Model::Bpe(m) => m.vocab.get(s),
            Model::WordPiece(m) => m.vocab.get(s),
            Model::WordLevel(m) => m.vocab.get(s),
            Model::Unigram(m) => m.token_to_id(s),
        }
    }

    pub fn id_to_token(&self, id: u32) -> Option<&str> {
        match self {
            Model::Bpe(m) => m.vocab.token(id),
            Model::WordPiece(m) => m.vocab.token(id),
            Model::WordLevel(m) => m.vocab.token(id),
            Model::Unigram(m) => m.id_to_token(id),
        }
    }

    /// One past the largest id.
    pub fn id_bound(&self) -> u32 {
        match self {
            Model::Bpe(m) => m.vocab.id_bound(),
            Model::WordPiece(m) => m.vocab.id_bound(),
            Model::WordLevel(m) => m.vocab.id_bound(),
            Model::Unigram(m) => m.len() as u32,
        }
    }

    pub fn vocab_size(&self) -> usize {
        match self {
            Model::Bpe(m) => m.vocab.len(),
            Model::WordPiece(m) => m.vocab.len(),
            Model::WordLevel(m) => m.vocab.len(),
            Model::Unigram(m) => m.len(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vocab(items: &[&str]) -> StrVocab {
        StrVocab::new(items.iter().enumerate().map(|(i, s)| (s.to_string(), i as u32))).unwrap()
    }

    fn ids(m: &Model, w: &str) -> Vec<(u32, u32, u32)> {
        let mut out = Vec::new();
        m.tokenize(w, &mut out, None).unwrap();
        out.iter().map(|t| (t.id, t.start, t.end)).collect()
    }

    #[test]
    fn bpe_lowest_rank_leftmost_first() {
        let v = vocab(&["a", "b", "ab", "ba", "aba"]);
        let merges = vec![("b".into(), "a".into()), ("a".into(), "b".into()), ("ab".into(), "a".into())];
        let m = Model::Bpe(Bpe::new(v, merges, None, None, None, false, false, false, None, "t").unwrap());
        // "aba": (b,a) has rank 0 -> a + ba; then no merge "a"+"ba".
        assert_eq!(ids(&m, "aba"), vec![(0, 0, 1), (3, 1, 3)]);
    }

    #[test]
    fn bpe_byte_fallback_and_unk() {
        let v = vocab(&["<unk>", "a", "<0xC3>", "<0xA9>"]);
        let m = Model::Bpe(Bpe::new(v, vec![], Some("<unk>".into()), None, None, true, true, false, None, "t").unwrap());
        assert_eq!(ids(&m, "aé"), vec![(1, 0, 1), (2, 1, 2), (3, 2, 3)]);
        // no byte tokens for 'z': unk, fused over consecutive unknowns
        assert_eq!(ids(&m, "zza"), vec![(0, 0, 2), (1, 2, 3)]);
    }

    #[test]
    fn wordpiece_greedy_and_unk() {
        let v = vocab(&["[UNK]", "un", "##aff", "##able", "a"]);
        let m = Model::WordPiece(WordPiece { vocab: v, unk_token: "[UNK]".into(), prefix: "##".into(), max_chars: 100 });
        assert_eq!(ids(&m, "unaffable"), vec![(1, 0, 2), (2, 2, 5), (3, 5, 9)]);
        assert_eq!(ids(&m, "unx"), vec![(0, 0, 3)]);
    }

    proptest::proptest! {
        /// The flat scan of short words merges exactly as the heap does.
        #[test]
        fn flat_scan_equals_heap(pairs in proptest::collection::vec((0usize..40, 0usize..40), 0..40), word in "[abcd]{0,64}") {
            // Tokens: the four letters, then one per merge of two existing tokens (ranks in order).
            let mut toks: Vec<String> = ["a", "b", "c", "d"].iter().map(|s| s.to_string()).collect();
            let mut merges = Vec::new();
            for (x, y) in pairs {
                let (l, r) = (toks[x % toks.len()].clone(), toks[y % toks.len()].clone());
                let new = format!("{l}{r}");
                if !toks.contains(&new) {
                    toks.push(new);
                    merges.push((l, r));
                }
            }
            let v = vocab(&toks.iter().map(String::as_str).collect::<Vec<_>>());
            let m = Bpe::new(v, merges, None, None, None, false, false, false, None, "t").unwrap();
            let syms: Vec<Sym> = word
                .char_indices()
                .map(|(i, c)| Sym { id: m.chars[&c], start: i as u32, end: i as u32 + 1, prev: NONE, next: NONE })
                .collect();
            let (mut flat, mut heap) = (syms.clone(), syms);
            if flat.len() >= 2 {
                m.merge_flat(&mut flat);
            }
            m.merge_heap(&mut heap, None);
            let key = |v: &[Sym]| v.iter().filter(|s| s.id != NONE).map(|s| (s.id, s.start, s.end)).collect::<Vec<_>>();
            proptest::prop_assert_eq!(key(&flat), key(&heap));
        }
    }

    #[test]
    fn duplicate_ids_refused() {
        assert!(StrVocab::new([("a".to_string(), 0), ("b".to_string(), 0)]).is_err());
    }
}
