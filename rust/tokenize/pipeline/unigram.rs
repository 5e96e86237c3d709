//! Unigram language-model tokenization with Hugging Face `tokenizers` semantics, and the
//! Viterbi core that sentencepiece's own Unigram encoder shares.
//!
//! Model: pieces with log-probability scores; ids are positions in the piece list. A piece is
//! tokenized into the segmentation of maximal total score (Viterbi over byte positions, as
//! HF's `encode_optimized` and sentencepiece's `EncodeOptimized` do): for each character start
//! `p` in order, every vocabulary piece starting at `p` (trie common-prefix search) offers
//! `best[p] + score` to `best[p + len]`, replacing it only when strictly greater or unset;
//! when no piece is exactly the character at `p`, the unknown token offers
//! `best[p] + min_score - 10` to the character's end. The best path is read back from the end.
//!
//! HF details reproduced exactly: `min_score` is over all pieces; for a repeated piece string
//! the last id wins (its `token_to_ids` map); consecutive path nodes whose id is `unk_id` are
//! fused into one token (`fuse_unk`, always on for Unigram), whose id is the fused string's
//! own id if it is a piece, else (with `byte_fallback`) one `<0xXX>` token per byte when all
//! exist, else `unk_id`; a missing `unk_id` is an error only when an unknown character's node
//! would be taken. Every byte token of a fused run spans the whole run.
//!
//! Cost: O(n x k) for a piece of n bytes and k pieces matching per position, one trie walk
//! per character start; the lattice scratch (12 bytes per byte of text) is thread-local, so
//! tokenizing allocates nothing once warm. The model is immutable after `new`.

pub(crate) mod trie;

use std::cell::RefCell;

use self::trie::PieceTrie;
use super::Tok;
use crate::error::{Error, Result};

/// One position of the Viterbi table: the best path ending here (`T`: f64 for HF, f32 for
/// sentencepiece).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Best<T> {
    pub score: T,
    /// Start byte of the last node of that path; `u32::MAX` while unset.
    pub start: u32,
    pub id: u32,
}

pub(crate) const UNSET: u32 = u32::MAX;
const NO_ID: u32 = u32::MAX;

/// How a Viterbi variant scores a step (HF in f64; sentencepiece in f32 with its bonuses).
/// Candidates are f64 (exact for f32 sums); `Acc` is what the table stores.
pub(crate) trait Scorer {
    type Acc: Copy;
    /// What the trie holds per piece.
    type Leaf: Copy + Default;
    /// Score of the best path to here extended by the piece `leaf` of `len` bytes, and the
    /// piece's id; `None` skips the piece (it neither scores nor covers its character).
    fn piece(&self, till: Self::Acc, leaf: Self::Leaf, len: usize) -> Option<(f64, u32)>;
    /// Score of the path extended by the unknown token.
    fn unk(&self, till: Self::Acc) -> f64;
    /// Whether a candidate beats the stored best.
    fn better(cand: f64, stored: Self::Acc) -> bool;
    /// The value stored in the table for a winning candidate.
    fn store(cand: f64) -> Self::Acc;
}

/// Bytes of the character starting with byte `b`, as sentencepiece's `OneCharLen` computes
/// it (the UTF-8 length for a lead byte; 1 for anything else).
#[inline(always)]
pub(crate) fn one_char_len(b: u8) -> usize {
    const T: [u8; 16] = [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4];
    T[(b >> 4) as usize] as usize
}

/// Fill `best[0..=text.len()]` with the Viterbi table, starting from score `init` at 0.
/// `Err(pos)` when the unknown token is needed at byte `pos` but `unk_id` is `None`.
pub(crate) fn viterbi<S: Scorer>(
    text: &[u8],
    trie: &PieceTrie<S::Leaf>,
    sc: &S,
    unk_id: Option<u32>,
    init: S::Acc,
    best: &mut Vec<Best<S::Acc>>,
) -> std::result::Result<(), usize> {
    let n = text.len();
    best.clear();
    best.resize(n + 1, Best { score: init, start: UNSET, id: 0 });
    let mut p = 0;
    while p < n {
        let till = best[p].score;
        let mblen = one_char_len(text[p]).min(n - p);
        let mut single = false;
        trie.prefixes(&text[p..], |len, leaf| {
            if let Some((cand, id)) = sc.piece(till, leaf, len) {
                let t = &mut best[p + len];
                if t.start == UNSET || S::better(cand, t.score) {
                    *t = Best { score: S::store(cand), start: p as u32, id };
                }
                single |= len == mblen;
            }
        });
        if !single {
            let cand = sc.unk(till);
            let t = &mut best[p + mblen];
            if t.start == UNSET || S::better(cand, t.score) {
                let id = unk_id.ok_or(p)?;
                *t = Best { score: S::store(cand), start: p as u32, id };
            }
        }
        p += mblen;
    }
    Ok(())
}

thread_local! {
    static LATTICE: RefCell<Vec<Best<f64>>> = const { RefCell::new(Vec::new()) };
}

/// Run `f` with this thread's lattice scratch (a fresh one when re-entered).
fn with_lattice<R>(f: impl FnOnce(&mut Vec<Best<f64>>) -> R) -> R {
    LATTICE.with(|cell| match cell.try_borrow_mut() {
        Ok(mut v) => {
            let r = f(&mut v);
            if v.capacity() > 1 << 20 {
                *v = Vec::new();
            }
            r
        }
        Err(_) => f(&mut Vec::new()),
    })
}

/// Hugging Face's Unigram scoring: f64 sums, unknown at `min_score - 10`.
struct HfScorer<'a> {
    scores: &'a [f64],
    unk_score: f64,
}

impl Scorer for HfScorer<'_> {
    type Acc = f64;
    type Leaf = u32;
    #[inline(always)]
    fn piece(&self, till: f64, id: u32, _len: usize) -> Option<(f64, u32)> {
        Some((till + self.scores[id as usize], id))
    }
    #[inline(always)]
    fn unk(&self, till: f64) -> f64 {
        till + self.unk_score
    }
    #[inline(always)]
    fn better(cand: f64, stored: f64) -> bool {
        cand > stored
    }
    #[inline(always)]
    fn store(cand: f64) -> f64 {
        cand
    }
}

/// A Unigram model with Hugging Face semantics.
#[derive(Clone, Debug)]
pub struct Unigram {
    pieces: Vec<(String, f64)>,
    scores: Vec<f64>,
    trie: PieceTrie,
    unk_id: Option<u32>,
    byte_fallback: bool,
    min_score: f64,
    /// Id of `<0xXX>` for each byte, when that piece exists.
    byte_ids: Box<[u32; 256]>,
}

impl Unigram {
    /// Build a model; ids are positions in `pieces`. Fails when `unk_id` is out of range or
    /// there are more pieces than `u32` ids.
    pub fn new(pieces: Vec<(String, f64)>, unk_id: Option<u32>, byte_fallback: bool) -> Result<Unigram> {
        if pieces.len() >= u32::MAX as usize {
            return Err(Error::Vocab(format!("Unigram: {} pieces is more than u32 ids can name", pieces.len())));
        }
        if let Some(u) = unk_id {
            if pieces.is_empty() {
                return Err(Error::Vocab("Unigram: the vocabulary is empty but unk_id is set (at least <unk> is needed)".into()));
            }
            if u as usize >= pieces.len() {
                return Err(Error::Vocab(format!("Unigram: unk_id {u} is not below the vocabulary size {}", pieces.len())));
            }
        }
        let trie = PieceTrie::build(pieces.iter().enumerate().map(|(i, p)| (p.0.as_bytes(), i as u32)));
        let scores: Vec<f64> = pieces.iter().map(|p| p.1).collect();
        // HF folds with `<`, so NaN scores never become the minimum.
        let min_score = scores.iter().fold(f64::INFINITY, |m, &s| if s < m { s } else { m });
        let mut byte_ids = Box::new([NO_ID; 256]);
        for (b, slot) in byte_ids.iter_mut().enumerate() {
            *slot = trie.get(format!("<0x{b:02X}>").as_bytes()).unwrap_or(NO_ID);
        }
        Ok(Unigram { pieces, scores, trie, unk_id, byte_fallback, min_score, byte_ids })
    }

    /// Tokenize one pre-tokenized piece, appending tokens with byte ranges in `piece`.
    pub fn tokenize(&self, piece: &str, out: &mut Vec<Tok>) -> Result<()> {
        if piece.is_empty() {
            return Ok(());
        }
        if piece.len() >= u32::MAX as usize {
            return Err(Error::Value(format!("Unigram: a piece of {} bytes is too long", piece.len())));
        }
        let sc = HfScorer { scores: &self.scores, unk_score: self.min_score - 10.0 };
        let text = piece.as_bytes();
        with_lattice(|best| {
            viterbi(text, &self.trie, &sc, self.unk_id, 0.0, best).map_err(|p| missing_unk(piece, p))?;
            let first = out.len();
            // Walk back from the end, emitting tokens in reverse; a run of unk nodes is
            // emitted once, when it closes.
            let mut end = text.len();
            let mut run_end = None;
            while end > 0 {
                let node = best[end];
                let start = node.start as usize;
                if Some(node.id) == self.unk_id {
                    run_end.get_or_insert(end);
                } else {
                    if let Some(re) = run_end.take() {
                        self.push_fused(piece, end, re, out)?;
                    }
                    out.push(Tok { id: node.id, start: start as u32, end: end as u32 });
                }
                end = start;
            }
            if let Some(re) = run_end {
                self.push_fused(piece, 0, re, out)?;
            }
            out[first..].reverse();
            Ok(())
        })
    }

    /// Push (in reverse order) the tokens of the fused unknown run `piece[a..b]`.
    fn push_fused(&self, piece: &str, a: usize, b: usize, out: &mut Vec<Tok>) -> Result<()> {
        let s = &piece.as_bytes()[a..b];
        let (start, end) = (a as u32, b as u32);
        if let Some(id) = self.trie.get(s) {
            out.push(Tok { id, start, end });
            return Ok(());
        }
        if self.byte_fallback && s.iter().all(|&c| self.byte_ids[c as usize] != NO_ID) {
            out.extend(s.iter().rev().map(|&c| Tok { id: self.byte_ids[c as usize], start, end }));
            return Ok(());
        }
        match self.unk_id {
            Some(id) => {
                out.push(Tok { id, start, end });
                Ok(())
            }
            None => Err(missing_unk(piece, a)),
        }
    }

    pub fn token_to_id(&self, s: &str) -> Option<u32> {
        self.trie.get(s.as_bytes())
    }
    pub fn id_to_token(&self, id: u32) -> Option<&str> {
        self.pieces.get(id as usize).map(|p| p.0.as_str())
    }
    pub fn len(&self) -> usize {
        self.pieces.len()
    }
    pub fn is_empty(&self) -> bool {
        self.pieces.is_empty()
    }
    pub fn pieces(&self) -> &[(String, f64)] {
        &self.pieces
    }
    pub fn unk_id(&self) -> Option<u32> {
        self.unk_id
    }
    pub fn byte_fallback(&self) -> bool {
        self.byte_fallback
    }
    /// The lowest piece score (the unknown token scores 10 below it).
    pub fn min_score(&self) -> f64 {
        self.min_score
    }
}

fn missing_unk(piece: &str, at: usize) -> Error {
    let c = piece[at..].chars().next().unwrap_or('\u{fffd}');
    Error::Vocab(format!(
        "Unigram: the character {c:?} at byte {at} of the piece {:?} is not in the vocabulary and the model has no unk_id",
        clip(piece)
    ))
}

/// A piece shortened for messages.
pub(crate) fn clip(s: &str) -> &str {
    match s.char_indices().nth(60) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn model(v: &[(&str, f64)], unk: Option<u32>, bf: bool) -> Unigram {
        Unigram::new(v.iter().map(|(s, f)| (s.to_string(), *f)).collect(), unk, bf).unwrap()
    }

    fn strs(m: &Unigram, s: &str) -> Vec<String> {
        let mut out = Vec::new();
        m.tokenize(s, &mut out).unwrap();
        out.iter().map(|t| s[t.start as usize..t.end as usize].to_string()).collect()
    }

    #[test]
    fn hf_doc_example() {
        let m = model(
            &[("<unk>", 0.0), ("a", 0.0), ("b", 0.0), ("c", 0.0), ("d", 0.0), ("cd", 1.0), ("ab", 2.0), ("abc", 5.0), ("abcd", 10.0)],
            Some(0),
            false,
        );
        assert_eq!(strs(&m, "abcdacdxx"), vec!["abcd", "a", "cd", "xx"]);
        let mut out = Vec::new();
        m.tokenize("abcdacdxx", &mut out).unwrap();
        assert_eq!(out.iter().map(|t| t.id).collect::<Vec<_>>(), vec![8, 1, 5, 0]);
    }

    #[test]
    fn hf_encode_tests() {
        // Checked against tokenizers 0.23 (Python).
        let m = model(
            &[("<unk>", 0.0), ("a", 0.0), ("b", 0.0), ("c", 0.0), ("d", 0.0), ("cd", 1.0), ("ab", 2.0), ("abc", 5.0), ("abcd", 10.0)],
            Some(0),
            false,
        );
        assert_eq!(strs(&m, "abc"), vec!["abc"]);
        assert_eq!(strs(&m, "AB"), vec!["AB"]);
        assert_eq!(strs(&m, "abcd"), vec!["abcd"]);
        assert_eq!(strs(&m, "abcc"), vec!["abc", "c"]);
        assert_eq!(strs(&m, "xabcabaabcdd"), vec!["x", "abc", "ab", "a", "abcd", "d"]);
        assert_eq!(strs(&m, "xyz東京"), vec!["xyz東京"]);
        assert!(strs(&m, "").is_empty());
    }

    #[test]
    fn byte_fallback() {
        let m = model(&[("<unk>", 0.0), ("<0x61>", -0.1), ("<0xE6>", -0.1), ("<0x97>", -0.1), ("<0xA5>", -0.1)], Some(0), true);
        let mut out = Vec::new();
        m.tokenize("日", &mut out).unwrap();
        assert_eq!(out.iter().map(|t| (t.id, t.start, t.end)).collect::<Vec<_>>(), vec![(2, 0, 3), (3, 0, 3), (4, 0, 3)]);
        out.clear();
        // 'b' has no byte piece: the fused run "日b" becomes <unk>.
        m.tokenize("日b", &mut out).unwrap();
        assert_eq!(out, vec![Tok { id: 0, start: 0, end: 4 }]);
        out.clear();
        m.tokenize("a", &mut out).unwrap();
        assert_eq!(out, vec![Tok { id: 1, start: 0, end: 1 }]);
    }

    #[test]
    fn missing_unk_errors_and_validation() {
        let m = model(&[("a", -1.0)], None, false);
        assert_eq!(strs(&m, "aa"), vec!["a", "a"]);
        let mut out = Vec::new();
        assert!(matches!(m.tokenize("ab", &mut out), Err(Error::Vocab(_))));
        assert!(Unigram::new(vec![("a".into(), 0.0)], Some(1), false).is_err());
        assert!(Unigram::new(vec![], Some(0), false).is_err());
        assert!(Unigram::new(vec![], None, false).is_ok());
    }

    #[test]
    fn duplicate_piece_last_id_wins() {
        let m = model(&[("<unk>", 0.0), ("ab", -5.0), ("a", -1.0), ("ab", -1.0), ("b", -1.0)], Some(0), false);
        let mut out = Vec::new();
        m.tokenize("ab", &mut out).unwrap();
        assert_eq!(out, vec![Tok { id: 3, start: 0, end: 2 }]);
        assert_eq!(m.token_to_id("ab"), Some(3));
        assert_eq!(m.id_to_token(1), Some("ab"));
    }

    #[test]
    fn unk_token_text_fuses_with_unknown_chars() {
        // A matched "<unk>" piece has id unk_id, so HF fuses it with the unknown 'x' next to it.
        let m = model(&[("<unk>", 0.0), ("a", -1.0)], Some(0), false);
        let mut out = Vec::new();
        m.tokenize("x<unk>a", &mut out).unwrap();
        assert_eq!(out, vec![Tok { id: 0, start: 0, end: 6 }, Tok { id: 1, start: 6, end: 7 }]);
    }

    /// Exhaustive reference: best segmentation by brute-force recursion over the same rules.
    fn brute(m: &Unigram, s: &str) -> f64 {
        let mut best = vec![f64::NEG_INFINITY; s.len() + 1];
        best[0] = 0.0;
        let idx: Vec<usize> = s.char_indices().map(|x| x.0).chain([s.len()]).collect();
        for w in 0..idx.len() - 1 {
            let p = idx[w];
            let clen = idx[w + 1] - p;
            let mut single = false;
            for &q in &idx[w + 1..] {
                if let Some(id) = m.token_to_id(&s[p..q]) {
                    best[q] = best[q].max(best[p] + m.scores[id as usize]);
                    single |= q - p == clen;
                }
            }
            if !single {
                best[p + clen] = best[p + clen].max(best[p] + m.min_score - 10.0);
            }
        }
        best[s.len()]
    }

    proptest! {
        #[test]
        fn viterbi_is_optimal(s in "[abc日]{0,12}") {
            let m = model(&[("<unk>", -3.0), ("a", -1.0), ("b", -1.5), ("ab", -2.0), ("abc", -2.5), ("bc", -1.25), ("c", -4.0), ("ca", -0.5)], Some(0), false);
            let mut out = Vec::new();
            m.tokenize(&s, &mut out).unwrap();
            // Tokens tile the piece.
            let mut at = 0;
            for t in &out { prop_assert_eq!(t.start as usize, at); at = t.end as usize; }
            prop_assert_eq!(at, s.len());
            // Path score equals the brute-force optimum (unk runs are scored per character).
            let mut sc = 0.0;
            for t in &out {
                let text = &s[t.start as usize..t.end as usize];
                if t.id == 0 { sc += text.chars().count() as f64 * (m.min_score - 10.0); } else { sc += m.scores[t.id as usize]; }
            }
            prop_assert!((sc - brute(&m, &s)).abs() < 1e-9);
        }
    }
}
