//! Text to token ids for n-gram work: whitespace-separated words, one sentence per line.
//!
//! Ids are assigned in order of first appearance, so the mapping (and every count built on it)
//! is deterministic. Empty lines are skipped (`words_with` can keep them as empty sentences). Cost:
//! one hash lookup per word, in parallel blocks, plus one per distinct word of each block.

use rustc_hash::FxHashMap;

/// Words of `text` as ids: `(ids, offsets, vocab)`; sentence `i` (line `i` of the non-empty
/// lines) is `ids[offsets[i]..offsets[i+1]]` and `vocab[id]` is the word. `vocab` may be
/// pre-filled (existing ids are reused, new words appended).
pub fn words(text: &str, vocab: &mut Vec<String>) -> (Vec<u32>, Vec<i64>) {
    words_with(text, vocab, false)
}

/// [`words`], optionally keeping empty lines as empty sentences (as KenLM's `lmplz` does).
///
/// Parallel: the text is cut at line ends into blocks; each block numbers its words in its own
/// order of first appearance, then the blocks' word lists are merged in block order (which
/// gives exactly the global first-appearance order) and the ids renumbered in parallel.
pub fn words_with(text: &str, vocab: &mut Vec<String>, keep_empty: bool) -> (Vec<u32>, Vec<i64>) {
    use rayon::prelude::*;
    const BLOCK: usize = 1 << 20;
    let cuts = crate::parallel::line_blocks(text.as_bytes(), BLOCK);
    struct Block<'a> {
        words: Vec<&'a str>,
        ids: Vec<u32>,
        lens: Vec<i64>,
    }
    let cancel = crate::parallel::cancel_token();
    let blocks: Vec<Block> = cuts
        .par_windows(2)
        .map(|c| {
            let mut index: FxHashMap<&str, u32> = FxHashMap::default();
            if cancel.is_cancelled() {
                // The caller checks the token after this call and drops the result.
                return Block { words: Vec::new(), ids: Vec::new(), lens: Vec::new() };
            }
            let mut b = Block { words: Vec::new(), ids: Vec::with_capacity((c[1] - c[0]) / 5), lens: Vec::new() };
            for line in text[c[0]..c[1]].lines() {
                let start = b.ids.len();
                for w in line.split_whitespace() {
                    let next = b.words.len() as u32;
                    let id = *index.entry(w).or_insert_with(|| {
                        b.words.push(w);
                        next
                    });
                    b.ids.push(id);
                }
                if keep_empty || b.ids.len() > start {
                    b.lens.push((b.ids.len() - start) as i64);
                }
            }
            b
        })
        .collect();
    // Merge the word lists in block order.
    let known: Vec<String> = std::mem::take(vocab);
    let mut index: FxHashMap<&str, u32> = FxHashMap::default();
    for (i, w) in known.iter().enumerate() {
        index.entry(w.as_str()).or_insert(i as u32);
    }
    let mut new_words: Vec<&str> = Vec::new();
    let maps: Vec<Vec<u32>> = blocks
        .iter()
        .map(|b| {
            b.words
                .iter()
                .map(|&w| {
                    let next = (known.len() + new_words.len()) as u32;
                    *index.entry(w).or_insert_with(|| {
                        new_words.push(w);
                        next
                    })
                })
                .collect()
        })
        .collect();
    let mut starts = vec![0usize];
    for b in &blocks {
        starts.push(starts.last().unwrap() + b.ids.len());
    }
    let mut ids = vec![0u32; *starts.last().unwrap()];
    let mut rest: &mut [u32] = &mut ids;
    let mut parts = Vec::with_capacity(blocks.len());
    for b in &blocks {
        let (head, tail) = std::mem::take(&mut rest).split_at_mut(b.ids.len());
        parts.push(head);
        rest = tail;
    }
    parts.into_par_iter().zip(blocks.par_iter().zip(maps.par_iter())).for_each(|(out, (b, m))| {
        for (o, &i) in out.iter_mut().zip(&b.ids) {
            *o = m[i as usize];
        }
    });
    let mut offsets = Vec::with_capacity(1 + blocks.iter().map(|b| b.lens.len()).sum::<usize>());
    offsets.push(0i64);
    for b in &blocks {
        for &l in &b.lens {
            offsets.push(offsets.last().unwrap() + l);
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

    #[test]
    fn blocks_merge_in_first_appearance_order() {
        // > 1 MB so the text is cut into blocks; new words appear in every block
        let mut text = String::new();
        let mut want_vocab: Vec<String> = Vec::new();
        let mut seen = std::collections::HashMap::new();
        let mut want_ids = Vec::new();
        let mut want_offs = vec![0i64];
        for i in 0..60_000 {
            let line = format!("w{} shared x{}", i % 5000, i / 7);
            for w in line.split(' ') {
                let id = *seen.entry(w.to_string()).or_insert_with(|| {
                    want_vocab.push(w.to_string());
                    want_vocab.len() as u32 - 1
                });
                want_ids.push(id);
            }
            want_offs.push(want_ids.len() as i64);
            text += &line;
            text += if i % 3 == 0 { "\r\n" } else { "\n" };
        }
        assert!(text.len() > 1 << 20);
        let mut v = Vec::new();
        let (ids, offs) = super::words(&text, &mut v);
        assert_eq!(v, want_vocab);
        assert_eq!(ids, want_ids);
        assert_eq!(offs, want_offs);
    }
}
