//! Text to token ids for n-gram work: whitespace-separated words, one sentence per line.
//!
//! Ids are assigned in order of first appearance, so the mapping (and every count built on it)
//! is deterministic. Empty lines are skipped (`words_with` can keep them as empty sentences). Cost: one pass, one hash lookup per word.

use rustc_hash::FxHashMap;

/// Words of `text` as ids: `(ids, offsets, vocab)`; sentence `i` (line `i` of the non-empty
/// lines) is `ids[offsets[i]..offsets[i+1]]` and `vocab[id]` is the word. `vocab` may be
/// pre-filled (existing ids are reused, new words appended).
pub fn words(text: &str, vocab: &mut Vec<String>) -> (Vec<u32>, Vec<i64>) {
    words_with(text, vocab, false)
}

/// [`words`], optionally keeping empty lines as empty sentences (as KenLM's `lmplz` does).
pub fn words_with(text: &str, vocab: &mut Vec<String>, keep_empty: bool) -> (Vec<u32>, Vec<i64>) {
    let mut index: FxHashMap<&str, u32> = FxHashMap::default();
    let known: Vec<String> = std::mem::take(vocab);
    let mut new_words: Vec<&str> = Vec::new();
    for (i, w) in known.iter().enumerate() {
        index.entry(w.as_str()).or_insert(i as u32);
    }
    let mut ids = Vec::with_capacity(text.len() / 5);
    let mut offsets = vec![0i64];
    for line in text.lines() {
        let start = ids.len();
        for w in line.split_whitespace() {
            let next = (known.len() + new_words.len()) as u32;
            let id = *index.entry(w).or_insert_with(|| {
                new_words.push(w);
                next
            });
            ids.push(id);
        }
        if keep_empty || ids.len() > start {
            offsets.push(ids.len() as i64);
        }
    }
    let added: Vec<String> = new_words.iter().map(|w| w.to_string()).collect();
    *vocab = known;
    vocab.extend(added);
    (ids, offsets)
}

#[cfg(test)]
mod tests {
    #[test]
    fn first_seen_ids() {
        let mut v = vec!["the".to_string()];
        let (ids, offs) = super::words("a the b\n\n  the a \n", &mut v);
        assert_eq!(ids, vec![1, 0, 2, 0, 1]);
        assert_eq!(offs, vec![0, 3, 5]);
        assert_eq!(v, vec!["the", "a", "b"]);
    }
}
