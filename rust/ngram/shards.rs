//! Counting in shards and fitting from the summed counts: word-level counts that carry their
//! own vocabulary, merging them with id remapping, and a model from counts that equals the
//! model fitted on the whole text.
//!
//! Why the result is exact: a text model numbers its words by first appearance in the text.
//! Merging shard `a` (earlier text) with shard `b` keeps `a`'s ids and appends `b`'s new words
//! in `b`'s order, which is the first-appearance order of `a` followed by `b`; the remapped
//! tables are re-sorted and summed, so they are the tables that counting the whole text gives.
//! Kneser-Ney, MLE, add-k and stupid backoff depend on nothing else.

use rayon::prelude::*;
use rustc_hash::FxHashMap;

use super::count::{merge, OrderCounts};
use super::estimate::{from_counts, Smoothing, Vocab};
use super::model::Model;
use crate::error::{Error, Result};

/// The words every text vocabulary starts with (KenLM's ids 0, 1, 2).
pub const SPECIALS: [&str; 3] = ["<unk>", "<s>", "</s>"];

/// `t` with every id `x` replaced by `map[x]`, re-sorted. `map` must be injective on the ids
/// present (it is: a vocabulary remap), so no two rows collapse.
pub fn remap(t: &OrderCounts, map: &[u32]) -> Result<OrderCounts> {
    let n = t.n;
    let mut grams = Vec::with_capacity(t.grams.len());
    for (i, &x) in t.grams.iter().enumerate() {
        let y = *map.get(x as usize).ok_or_else(|| {
            Error::Value(format!("order {n} table: row {} has id {x}, outside its vocabulary of {}", i / n.max(1), map.len()))
        })?;
        grams.push(y);
    }
    let top = map.iter().copied().max().unwrap_or(0);
    let bits = (32 - top.leading_zeros()).max(1) as usize;
    let out = if n >= 1 && n * bits <= 64 {
        sort_packed::<u64>(n, bits, &grams, &t.counts)
    } else if n >= 1 && n * bits <= 128 {
        sort_packed::<u128>(n, bits, &grams, &t.counts)
    } else {
        sort_rows(n, &grams, &t.counts)
    };
    if (1..out.len()).any(|i| out.gram(i - 1) == out.gram(i)) {
        return Err(Error::Value(format!("order {n} table: the vocabulary remap made two n-grams equal (duplicate words?)")));
    }
    Ok(out)
}

/// A packed sort key: ids of `bits` bits each, the first id in the highest bits.
trait PackedKey: Copy + Ord + Send + Sync {
    const ZERO: Self;
    fn push(self, bits: usize, x: u32) -> Self;
    fn id(self, shift: usize, bits: usize) -> u32;
}

macro_rules! packed_key {
    ($t:ty) => {
        impl PackedKey for $t {
            const ZERO: Self = 0;
            fn push(self, bits: usize, x: u32) -> Self {
                (self << bits) | x as $t
            }
            fn id(self, shift: usize, bits: usize) -> u32 {
                ((self >> shift) & ((1 << bits) - 1)) as u32
            }
        }
    };
}
packed_key!(u64);
packed_key!(u128);

/// Rows sorted through one packed key per row, which orders as the rows do: a plain sort of
/// (key, count) pairs instead of comparing slices (`u64` keys when the row fits in 64 bits).
fn sort_packed<K: PackedKey>(n: usize, bits: usize, grams: &[u32], counts: &[u64]) -> OrderCounts {
    let mut keyed: Vec<(K, u64)> =
        grams.chunks_exact(n).zip(counts).map(|(g, &c)| (g.iter().fold(K::ZERO, |k, &x| k.push(bits, x)), c)).collect();
    keyed.par_sort_unstable_by_key(|&(k, _)| k);
    let mut out = OrderCounts { n, grams: Vec::with_capacity(grams.len()), counts: Vec::with_capacity(counts.len()) };
    for &(k, c) in &keyed {
        for j in (0..n).rev() {
            out.grams.push(k.id(bits * j, bits));
        }
        out.counts.push(c);
    }
    out
}

/// Rows sorted by comparing their id slices (any width).
fn sort_rows(n: usize, grams: &[u32], counts: &[u64]) -> OrderCounts {
    let mut rows: Vec<u32> = (0..counts.len() as u32).collect();
    rows.par_sort_unstable_by(|&a, &b| grams[a as usize * n..(a as usize + 1) * n].cmp(&grams[b as usize * n..(b as usize + 1) * n]));
    let mut out = OrderCounts { n, grams: Vec::with_capacity(grams.len()), counts: Vec::with_capacity(counts.len()) };
    for &r in &rows {
        let r = r as usize;
        out.grams.extend_from_slice(&grams[r * n..(r + 1) * n]);
        out.counts.push(counts[r]);
    }
    out
}

/// Check that `vocab` starts with `<unk> <s> </s>` and has no duplicate word.
pub fn check_vocab<'a>(vocab: &'a [String], what: &str) -> Result<FxHashMap<&'a str, u32>> {
    check_specials(vocab, what)?;
    let mut index = FxHashMap::default();
    for (i, w) in vocab.iter().enumerate() {
        if index.insert(w.as_str(), i as u32).is_some() {
            return Err(Error::Value(format!("{what}: word {w:?} appears twice in the vocabulary (id {i})")));
        }
    }
    Ok(index)
}

/// Check that `vocab` starts with `<unk> <s> </s>` (ids 0, 1, 2).
fn check_specials(vocab: &[String], what: &str) -> Result<()> {
    if vocab.len() < 3 || vocab[..3].iter().zip(SPECIALS).any(|(a, b)| a != b) {
        return Err(Error::Value(format!("{what}: a word vocabulary must start with <unk>, <s>, </s> (ids 0, 1, 2)")));
    }
    Ok(())
}

/// Sum of word-level counts, each with its vocabulary, given in text order (`parts[0]` the
/// earliest). The merged vocabulary keeps the first part's ids and appends each later part's new
/// words in its order (first appearance over the text), so summing consecutive pieces of a text
/// gives the counts of the whole. The vocabulary is merged once, each part's tables are remapped
/// and re-sorted once (not at all where its ids are kept), and the sorted tables of each order
/// are merged pairwise in a balanced tree.
pub fn merge_words(parts: Vec<(Vec<OrderCounts>, Vec<String>)>) -> Result<(Vec<OrderCounts>, Vec<String>)> {
    let order = match parts.first() {
        Some(p) => p.0.len(),
        None => return Err(Error::Value("merging counts needs at least one part".into())),
    };
    let (tables, vocabs): (Vec<Vec<OrderCounts>>, Vec<Vec<String>>) = parts.into_iter().unzip();
    let mut index: FxHashMap<&str, u32> = FxHashMap::default();
    let mut vocab: Vec<String> = Vec::new();
    let mut seen_in: Vec<u32> = Vec::new(); // the last part that used each merged id
    let mut maps: Vec<Vec<u32>> = Vec::with_capacity(vocabs.len());
    for (p, (v, t)) in vocabs.iter().zip(&tables).enumerate() {
        let what = format!("counts {p}");
        if t.len() != order {
            return Err(Error::Shape(format!("{what}: cannot add counts of order {order} and {}", t.len())));
        }
        check_specials(v, &what)?;
        let mut map = Vec::with_capacity(v.len());
        for (i, w) in v.iter().enumerate() {
            let id = match index.get(w.as_str()) {
                Some(&id) => id,
                None => {
                    let id = u32::try_from(vocab.len()).map_err(|_| Error::Value("merged vocabulary exceeds 2^32 words".into()))?;
                    index.insert(w, id);
                    vocab.push(w.clone());
                    seen_in.push(u32::MAX);
                    id
                }
            };
            if seen_in[id as usize] == p as u32 {
                return Err(Error::Value(format!("{what}: word {w:?} appears twice in the vocabulary (id {i})")));
            }
            seen_in[id as usize] = p as u32;
            map.push(id);
        }
        maps.push(map);
    }
    let keep: Vec<bool> = maps.iter().map(|m| m.iter().enumerate().all(|(i, &x)| i as u32 == x)).collect();
    let mut per_order: Vec<Vec<OrderCounts>> = (0..order).map(|_| Vec::with_capacity(maps.len())).collect();
    for t in tables {
        for (o, x) in t.into_iter().enumerate() {
            per_order[o].push(x);
        }
    }
    let merged = per_order
        .into_par_iter()
        .map(|level| {
            let mut level = level
                .into_par_iter()
                .zip(maps.par_iter().zip(keep.par_iter()))
                .map(|(t, (map, &keep))| if keep { Ok(t) } else { remap(&t, map) })
                .collect::<Result<Vec<_>>>()?;
            while level.len() > 1 {
                let odd = if level.len() % 2 == 1 { level.pop() } else { None }; // stays last
                let mut next = level.par_chunks(2).map(|p| merge(&p[0], &p[1])).collect::<Result<Vec<_>>>()?;
                next.extend(odd);
                level = next;
            }
            Ok(level.pop().expect("at least one part"))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok((merged, vocab))
}

/// How count tables are framed and labelled, for [`fit_counts`].
pub enum Labels {
    /// Word-level counts: `vocab[id]` is the word, `<unk> <s> </s>` are ids 0, 1, 2.
    Words(Vec<String>),
    /// Id-level counts framed with `bos`/`eos`; ids below `vocab_size` (default: the largest
    /// other id + 1) are the model's words, as in `fit_ids`.
    Ids { bos: u32, eos: u32, vocab_size: Option<usize> },
}

/// A model from summed counts: equal to `fit_text` (word labels) or `fit_ids` (id labels) on the
/// text the counts were made from.
pub fn fit_counts(tables: Vec<OrderCounts>, labels: Labels, smoothing: Smoothing) -> Result<Model> {
    for (i, t) in tables.iter().enumerate() {
        if t.n != i + 1 || t.grams.len() != t.counts.len() * t.n {
            return Err(Error::Shape(format!(
                "count table {} is not a table of order {} ({} ids, {} counts)",
                i + 1,
                i + 1,
                t.grams.len(),
                t.counts.len()
            )));
        }
        if (1..t.len()).any(|r| t.gram(r - 1) >= t.gram(r)) {
            return Err(Error::Value(format!("count table of order {} is not strictly sorted", i + 1)));
        }
    }
    match labels {
        Labels::Words(words) => {
            check_vocab(&words, "counts")?;
            let v = words.len();
            if let Some(t) = tables.iter().find(|t| t.grams.iter().any(|&x| x as usize >= v)) {
                return Err(Error::Value(format!("order {} counts hold an id outside their vocabulary of {v} words", t.n)));
            }
            if tables.first().is_none_or(|t| t.grams.iter().all(|&x| x < 3)) {
                return Err(Error::Value(super::estimate::NO_WORDS.into()));
            }
            from_counts(tables, Vocab { words, unk: 0, bos: 1, eos: 2 }, smoothing)
        }
        Labels::Ids { bos, eos, vocab_size } => {
            if bos == eos {
                return Err(Error::Value(format!("bos and eos are the same id ({bos})")));
            }
            let unigrams = tables.first().map_or(&[][..], |t| &t.grams[..]);
            let max = unigrams.iter().copied().filter(|&x| x != bos && x != eos).max();
            let v = vocab_size.unwrap_or(max.map_or(0, |m| m as usize + 1));
            if let Some(m) = max.filter(|&m| m as usize >= v) {
                return Err(Error::Value(format!("the counts hold token id {m}, outside vocab_size={v}")));
            }
            if v + 3 > u32::MAX as usize {
                return Err(Error::Value(format!("vocab_size={v} is too large")));
            }
            // bos/eos move to V+1, V+2 (where fit_ids puts them); the other ids stay.
            let top = unigrams.iter().copied().max().unwrap_or(0).max(bos).max(eos) as usize;
            let mut map: Vec<u32> = (0..=top as u32).collect();
            map[bos as usize] = v as u32 + 1;
            map[eos as usize] = v as u32 + 2;
            let moved = bos as usize != v + 1 || eos as usize != v + 2;
            let tables = if moved { tables.par_iter().map(|t| remap(t, &map)).collect::<Result<Vec<_>>>()? } else { tables };
            let mut words: Vec<String> = (0..v).map(|i| i.to_string()).collect();
            words.extend(SPECIALS.map(String::from));
            from_counts(tables, Vocab { words, unk: v as u32, bos: v as u32 + 1, eos: v as u32 + 2 }, smoothing)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ngram::{arpa, count_text, fit_text};

    fn kn() -> Smoothing {
        Smoothing::KneserNey { discount_fallback: Some([0.5, 1.0, 1.5]), prune: [0; super::super::model::MAX_ORDER] }
    }

    #[test]
    fn shards_sum_to_the_whole_text() {
        let text = "a b c a\nb b a d\n\nc a b e f\na b c\nd e f a b\n";
        let whole = fit_text(text, 3, kn(), Some(1)).unwrap();
        let lines: Vec<&str> = text.split_inclusive('\n').collect();
        for cut in 1..lines.len() {
            let (x, y) = (lines[..cut].concat(), lines[cut..].concat());
            let (ta, va) = count_text(&x, 3, Some(1)).unwrap();
            let (tb, vb) = count_text(&y, 3, Some(1)).unwrap();
            let (t, v) = merge_words(vec![(ta, va), (tb, vb)]).unwrap();
            let m = fit_counts(t, Labels::Words(v), kn()).unwrap();
            let (mut p, mut q) = (Vec::new(), Vec::new());
            arpa::write_to(&whole, &mut p).unwrap();
            arpa::write_to(&m, &mut q).unwrap();
            assert_eq!(String::from_utf8(p).unwrap(), String::from_utf8(q).unwrap(), "cut at line {cut}");
        }
    }

    #[test]
    fn many_parts_merge_like_adding_them_in_order() {
        let text = "a b c a\nb b a d\n\nc a b e f\na b c\nd e f a b\ng a\n";
        let lines: Vec<&str> = text.split_inclusive('\n').collect();
        let parts: Vec<_> = lines.iter().map(|l| count_text(l, 3, Some(1)).unwrap()).collect();
        let (whole, wv) = count_text(text, 3, Some(1)).unwrap();
        let (t, v) = merge_words(parts.clone()).unwrap();
        assert_eq!(v, wv);
        for (a, b) in t.iter().zip(&whole) {
            assert_eq!((&a.grams, &a.counts), (&b.grams, &b.counts));
        }
        let mut dup = parts[0].clone();
        dup.1.push("a".into());
        let e = merge_words(vec![parts[1].clone(), dup]).unwrap_err().to_string();
        assert!(e.contains("counts 1") && e.contains("twice"), "{e}");
        assert!(merge_words(vec![]).is_err());
    }

    #[test]
    fn packed_and_slice_sorts_agree() {
        let grams: Vec<u32> = (0..300u32).map(|i| (i * 7919) % 97).collect();
        let counts: Vec<u64> = (0..100).collect();
        let a = sort_packed::<u64>(3, 7, &grams, &counts);
        let w = sort_packed::<u128>(3, 7, &grams, &counts);
        let b = sort_rows(3, &grams, &counts);
        assert_eq!((&a.grams, &a.counts), (&b.grams, &b.counts));
        assert_eq!((w.grams, w.counts), (b.grams, b.counts));
    }

    #[test]
    fn remap_resorts_and_refuses_collisions() {
        let t = OrderCounts { n: 2, grams: vec![0, 1, 1, 0, 2, 2], counts: vec![3, 4, 5] };
        let r = remap(&t, &[2, 0, 1]).unwrap();
        assert_eq!((r.grams, r.counts), (vec![0, 2, 1, 1, 2, 0], vec![4, 5, 3]));
        assert!(remap(&t, &[0, 0, 1]).is_err());
        assert!(remap(&t, &[0, 1]).is_err());
    }
}
