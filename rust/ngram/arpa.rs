//! ARPA back-off language model files, read and written.
//!
//! ```text
//! \data\
//! ngram 1=3
//! ngram 2=2
//!
//! \1-grams:
//! -1.0  <s>  -0.3        log10 prob, words, log10 backoff (orders below the highest)
//! ...
//! \end\
//! ```
//! Reading validates everything: the `\data\` counts against the entries found, section
//! headers, numbers (finite, or `-inf`), field counts, words of higher orders that have no
//! unigram, duplicates; errors name the line. Ids follow the order of the unigram section.
//! A missing `<unk>` is added with log10 probability -100 (as KenLM does); an n-gram whose
//! context is missing gets that context inserted with its backed-off probability and backoff
//! 0 (as KenLM does), so the model stays context-closed. Writing is atomic; numbers use the
//! shortest decimal that reads back to the same float32, ties to even (as lmplz does; see
//! `floatfmt.rs`); formatting runs in parallel blocks written in order.

use std::io::Write;
use std::path::Path;

use rayon::prelude::*;
use rustc_hash::FxHashMap;

use super::floatfmt::{append_padded, push_f32, PAD};
use super::index::{OrderIndex, Trie};
use super::model::{Mode, Model, Vocab, MAX_ORDER};
use crate::error::{Error, Result};
use crate::files;

struct Lines<'a> {
    /// The text not read yet.
    rest: &'a str,
    src: &'a str,
    last: usize,
}

impl<'a> Lines<'a> {
    /// Next line (trimmed of trailing whitespace) with its 1-based number.
    fn next(&mut self) -> Option<(usize, &'a str)> {
        if self.rest.is_empty() {
            return None;
        }
        let (line, rest) = match self.rest.find('\n') {
            Some(i) => (&self.rest[..i], &self.rest[i + 1..]),
            None => (self.rest, ""),
        };
        self.rest = rest;
        self.last += 1;
        Some((self.last, line.trim_end()))
    }
    /// Next non-blank line, or an error saying what was expected.
    fn next_nonblank(&mut self, expected: &str) -> Result<(usize, &'a str)> {
        loop {
            match self.next() {
                Some((_, "")) => continue,
                Some(x) => return Ok(x),
                None => return Err(self.err(self.last, &format!("file ends early: expected {expected} (truncated file?)"))),
            }
        }
    }
    fn err(&self, line: usize, msg: &str) -> Error {
        Error::Format(format!("{}: line {line}: {msg}", self.src))
    }
}

fn parse_num(l: &Lines, line: usize, s: &str, what: &str) -> Result<f32> {
    let v: f32 = s.parse().map_err(|_| l.err(line, &format!("{what} {s:?} is not a number")))?;
    if v.is_nan() || v == f32::INFINITY {
        return Err(l.err(line, &format!("{what} {s:?} is not a finite log10 value")));
    }
    Ok(v)
}

/// Read an ARPA model from text; `src` names it in errors.
pub fn read(text: &str, src: &str) -> Result<Model> {
    read_opts(text, src, 1 << 16)
}

/// [`read`], parsing sections of at least `par_min` bytes in parallel (`arpa_par.rs`).
fn read_opts(text: &str, src: &str, par_min: usize) -> Result<Model> {
    let mut l = Lines { rest: text, src, last: 0 };
    // Header: anything before \data\ is a comment.
    loop {
        match l.next() {
            Some((_, "\\data\\")) => break,
            Some(_) => continue,
            None => return Err(l.err(l.last, "no \\data\\ section (not an ARPA file?)")),
        }
    }
    let mut declared: Vec<usize> = Vec::new();
    let (mut line, mut s) = l.next_nonblank("ngram counts")?;
    while let Some(rest) = s.strip_prefix("ngram ") {
        let (n, c) = rest.split_once('=').ok_or_else(|| l.err(line, &format!("expected 'ngram N=COUNT', got {s:?}")))?;
        let n: usize = n.trim().parse().map_err(|_| l.err(line, &format!("bad order in {s:?}")))?;
        let c: usize = c.trim().parse().map_err(|_| l.err(line, &format!("bad count in {s:?}")))?;
        if n != declared.len() + 1 {
            return Err(l.err(line, &format!("expected 'ngram {}=...', got order {n}", declared.len() + 1)));
        }
        declared.push(c);
        (line, s) = l.next_nonblank("the \\1-grams: section")?;
    }
    let big_n = declared.len();
    if big_n == 0 {
        return Err(l.err(line, &format!("\\data\\ declares no n-gram counts (got {s:?})")));
    }
    if big_n > MAX_ORDER {
        return Err(l.err(line, &format!("order {big_n} is above the supported maximum {MAX_ORDER}")));
    }
    let mut ids: FxHashMap<&str, u32> = FxHashMap::default();
    let mut vocab: Vec<String> = Vec::new();
    let mut prob: Vec<Vec<f32>> = vec![Vec::new(); big_n];
    let mut backoff: Vec<Vec<f32>> = vec![Vec::new(); big_n - 1];
    // sized from the header, so pushes rarely rehash; a line of order n takes at least 2n + 2
    // bytes, which bounds what a lying header can make us allocate
    let mut trie = Trie { orders: (2..=big_n).map(|n| OrderIndex::with_capacity(declared[n - 1].min(text.len() / (2 * n + 2)))).collect() };
    let mut gram: Vec<u32> = Vec::with_capacity(big_n);
    // The previous line of the section: its words, their ids, and the rows of its leading
    // k-grams (`rows[k-1]`, k = 1..n-1). Sorted files repeat leading words from line to line,
    // and those need no lookups.
    let mut prev_words: Vec<&str> = Vec::with_capacity(big_n);
    let mut prev_rows: Vec<u32> = Vec::with_capacity(big_n);
    // The line that ended the previous section, when it was already the next header.
    let mut header: Option<(usize, &str)> = Some((line, s));
    let cancel = crate::parallel::cancel_token();
    for n in 1..=big_n {
        let want = format!("\\{n}-grams:");
        let (hl, hs) = match header.take() {
            Some(x) => x,
            None => l.next_nonblank(&want)?,
        };
        if hs != want {
            return Err(l.err(hl, &format!("expected {want}, got {hs:?}")));
        }
        let mut found = 0usize;
        prev_words.clear();
        if n >= 2 {
            // A well-formed section is parsed in parallel and inserted here; anything else is
            // left to the line-by-line loop below, which names the line of the problem.
            if let Some(body) = section_body(l.rest).filter(|b| b.len() >= par_min) {
                if let Some(parsed) = super::arpa_par::parse(body, n, n < big_n, &ids, declared[n - 1], &cancel)? {
                    let first = l.last + 1;
                    insert_parsed(&mut trie, &mut prob, &mut backoff, n, big_n, &parsed).map_err(|(i, gram)| {
                        let words: Vec<&str> = gram.iter().map(|&w| vocab[w as usize].as_str()).collect();
                        l.err(first + i, &format!("duplicate {n}-gram {:?}", words.join(" ")))
                    })?;
                    found = parsed.p.len();
                    l.last += found;
                    l.rest = &l.rest[body.len()..];
                }
            }
        }
        loop {
            let Some((ln, row)) = l.next() else {
                return Err(l.err(l.last, &format!("file ends inside the {n}-grams (truncated file?)")));
            };
            if row.is_empty() || row.starts_with('\\') {
                if found != declared[n - 1] {
                    return Err(l.err(ln, &format!("\\data\\ declares {} {n}-grams but the section has {found}", declared[n - 1])));
                }
                if !row.is_empty() {
                    header = Some((ln, row));
                }
                break;
            }
            found += 1;
            if found % 65536 == 0 {
                cancel.check()?;
            }
            if found > declared[n - 1] {
                return Err(l.err(ln, &format!("\\data\\ declares {} {n}-grams but the section has more", declared[n - 1])));
            }
            let f: Vec<&str> = row.split_whitespace().collect();
            let has_bo = f.len() == n + 2 && n < big_n;
            if f.len() != n + 1 && !has_bo {
                let want = if n < big_n { format!("{} or {}", n + 1, n + 2) } else { format!("{}", n + 1) };
                return Err(l.err(
                    ln,
                    &format!(
                        "a {n}-gram line needs {want} fields (log10 prob, {n} words, backoff below the highest order), got {}",
                        f.len()
                    ),
                ));
            }
            let p = parse_num(&l, ln, f[0], "probability")?;
            if p > 0.0 {
                return Err(l.err(ln, &format!("log10 probability {p} is above 0")));
            }
            let bo = if has_bo { parse_num(&l, ln, f[n + 1], "backoff")? } else { 0.0 };
            if n == 1 {
                let w = f[1];
                if ids.contains_key(w) {
                    return Err(l.err(ln, &format!("duplicate unigram {w:?}")));
                }
                ids.insert(w, vocab.len() as u32);
                vocab.push(w.to_string());
                prob[0].push(p);
                if big_n > 1 {
                    backoff[0].push(bo);
                }
                continue;
            }
            // words shared with the previous line keep their ids and context rows
            let same = prev_words.iter().zip(&f[1..=n]).take_while(|(a, b)| a == b).count();
            gram.truncate(same);
            for w in &f[1 + same..=n] {
                gram.push(*ids.get(w).ok_or_else(|| l.err(ln, &format!("word {w:?} has no unigram entry")))?);
            }
            prev_words.clear();
            prev_words.extend_from_slice(&f[1..=n]);
            prev_rows.truncate(same.min(n - 1));
            if prev_rows.is_empty() {
                prev_rows.push(gram[0]);
            }
            while prev_rows.len() < n - 1 {
                let k = prev_rows.len() + 1; // the k-gram gram[..k]
                let r = match trie.orders[k - 2].get(prev_rows[k - 2], gram[k - 1]) {
                    Some(r) => r,
                    None => ensure(&mut trie, &mut prob, &mut backoff, &gram[..k]),
                };
                prev_rows.push(r);
            }
            let pre = prev_rows[n - 2];
            let o = &mut trie.orders[n - 2];
            let before = o.len();
            let r = o.push(pre, gram[n - 1]) as usize;
            if r < before {
                return Err(l.err(ln, &format!("duplicate {n}-gram {:?}", f[1..=n].join(" "))));
            }
            prob[n - 1].push(p);
            if n < big_n {
                backoff[n - 1].push(bo);
            }
        }
    }
    let (ln, end) = match header.take() {
        Some(x) => x,
        None => l.next_nonblank("\\end\\")?,
    };
    if end != "\\end\\" {
        return Err(l.err(ln, &format!("expected \\end\\, got {end:?}")));
    }
    let find = |w: &str| ids.get(w).copied();
    let (bos, eos) = match (find("<s>"), find("</s>")) {
        (Some(b), Some(e)) => (b, e),
        _ => return Err(Error::Format(format!("{src}: the model has no <s> or </s> unigram"))),
    };
    let unk = match find("<unk>") {
        Some(u) => u,
        None => {
            vocab.push("<unk>".into());
            prob[0].push(-100.0);
            if big_n > 1 {
                backoff[0].push(0.0);
            }
            vocab.len() as u32 - 1
        }
    };
    let present = vec![true; vocab.len()];
    let voc = Vocab { words: vocab, unk, bos, eos };
    let mut trie = trie;
    close_suffixes(&mut trie, &mut prob, &mut backoff, &cancel)?;
    // the row tables served the reader; queries use their own (model.rs)
    trie.orders.iter_mut().for_each(|o| o.drop_table());
    Ok(Model::new(voc, present, trie, prob, backoff, Mode::Backoff, "arpa".into()))
}

/// The lines of an n-gram section up to (not including) the line that ends it (a blank line or
/// a `\` header), including its final newline; `None` if the text ends first.
fn section_body(rest: &str) -> Option<&str> {
    let b = rest.as_bytes();
    if matches!(b.first(), Some(b'\n' | b'\r' | b'\\')) {
        return Some("");
    }
    let mut from = 0;
    while let Some(i) = rest[from..].find('\n') {
        let at = from + i + 1;
        if matches!(b.get(at), Some(b'\n' | b'\r' | b'\\') | None) {
            return Some(&rest[..at]);
        }
        from = at;
    }
    None
}

/// Insert the entries of a section parsed by `arpa_par::parse`; a duplicate n-gram gives its
/// index in the section and its ids.
fn insert_parsed(
    trie: &mut Trie,
    prob: &mut [Vec<f32>],
    backoff: &mut [Vec<f32>],
    n: usize,
    big_n: usize,
    parsed: &super::arpa_par::Section,
) -> std::result::Result<(), (usize, Vec<u32>)> {
    let mut prev_rows: Vec<u32> = Vec::with_capacity(n);
    let mut prev: &[u32] = &[];
    let (cap_p, cap_b) = (parsed.p.len(), if n < big_n { parsed.p.len() } else { 0 });
    prob[n - 1].reserve(cap_p);
    if n < big_n {
        backoff[n - 1].reserve(cap_b);
    }
    for (i, gram) in parsed.grams.chunks_exact(n).enumerate() {
        // ids shared with the previous line keep their context rows
        let same = prev.iter().zip(gram).take_while(|(a, b)| a == b).count();
        prev = gram;
        prev_rows.truncate(same.min(n - 1));
        if prev_rows.is_empty() {
            prev_rows.push(gram[0]);
        }
        while prev_rows.len() < n - 1 {
            let k = prev_rows.len() + 1;
            let r = match trie.orders[k - 2].get(prev_rows[k - 2], gram[k - 1]) {
                Some(r) => r,
                None => ensure(trie, prob, backoff, &gram[..k]),
            };
            prev_rows.push(r);
        }
        let o = &mut trie.orders[n - 2];
        let before = o.len();
        if (o.push(prev_rows[n - 2], gram[n - 1]) as usize) < before {
            return Err((i, gram.to_vec()));
        }
        prob[n - 1].push(parsed.p[i]);
        if n < big_n {
            backoff[n - 1].push(parsed.bo[i]);
        }
    }
    Ok(())
}

/// Make the n-grams suffix-closed, as KenLM does when it loads an ARPA file: an n-gram whose
/// suffix (all words but the first) is missing gets that suffix inserted with the backed-off
/// probability and backoff 0. The model's answers do not change, but the queries, which reach an
/// n-gram through the n-grams ending at the same word one word shorter, now find it (and, as in
/// KenLM, count the inserted entry in the matched length). lmplz's models are suffix-closed:
/// for them this is one parallel probe per n-gram (`Trie::suffix_rows`).
fn close_suffixes(trie: &mut Trie, prob: &mut [Vec<f32>], backoff: &mut [Vec<f32>], cancel: &crate::parallel::CancelToken) -> Result<()> {
    let big_n = prob.len();
    let mut suffix = vec![Vec::new()];
    for n in 2..=big_n {
        cancel.check()?;
        match trie.suffix_rows(n, &suffix[n - 2]) {
            Ok(s) => suffix.push(s),
            Err(_) => break,
        }
    }
    if suffix.len() == big_n {
        return Ok(());
    }
    drop(suffix);
    // Highest order first: rows inserted into order n - 1 are checked when order n - 1 is.
    let unigrams = prob[0].len();
    let mut words = Vec::with_capacity(big_n);
    for n in (3..=big_n).rev() {
        let mut r = 0;
        while r < trie.orders[n - 2].len() {
            if r % 65536 == 0 {
                cancel.check()?;
            }
            trie.words(n, r as u32, &mut words);
            if trie.find(&words[1..], unigrams).is_none() {
                let s = words[1..].to_vec();
                ensure(trie, prob, backoff, &s);
            }
            r += 1;
        }
    }
    Ok(())
}

/// Row of the context `ids` (order `ids.len()`), inserting it and its own missing contexts with
/// the backed-off probability and backoff 0.
fn ensure(trie: &mut Trie, prob: &mut [Vec<f32>], backoff: &mut [Vec<f32>], ids: &[u32]) -> u32 {
    let m = ids.len();
    if m == 1 {
        return ids[0];
    }
    let pre = ensure(trie, prob, backoff, &ids[..m - 1]);
    if let Some(r) = trie.orders[m - 2].get(pre, ids[m - 1]) {
        return r;
    }
    let p = backed_off(trie, prob, backoff, ids);
    let r = trie.orders[m - 2].push(pre, ids[m - 1]);
    prob[m - 1].push(p);
    backoff[m - 1].push(0.0);
    r
}

/// ARPA log10 p(last | rest) from the entries read so far: the n-gram's own probability if
/// present, else the context's backoff (0 if absent) plus the probability with one word less.
fn backed_off(trie: &Trie, prob: &[Vec<f32>], backoff: &[Vec<f32>], ids: &[u32]) -> f32 {
    let m = ids.len();
    if m == 1 {
        return prob[0][ids[0] as usize];
    }
    let unigrams = prob[0].len();
    if let Some(r) = trie.find(ids, unigrams) {
        return prob[m - 1][r as usize];
    }
    let bo = trie.find(&ids[..m - 1], unigrams).map_or(0.0, |c| backoff[m - 2][c as usize]);
    bo + backed_off(trie, prob, backoff, &ids[1..])
}

/// Write `model` as ARPA text into `out`.
///
/// Rows are formatted in parallel blocks into reused buffers; each group of blocks is written
/// (on the calling thread) while the next group is formatted, so the copy into the file
/// overlaps the formatting.
pub fn write_to<W: Write + Send + ?Sized>(model: &Model, out: &mut W) -> Result<()> {
    model.check_structure()?;
    if model.mode != Mode::Backoff {
        return Err(Error::Value(format!(
            "only back-off models (kneser_ney, or read from ARPA) can be written as ARPA; this one is {}",
            model.smoothing
        )));
    }
    let big_n = model.order();
    let io = |e: std::io::Error| Error::Io { msg: format!("cannot write ARPA: {e}"), kind: e.kind() };
    let mut head = String::from("\\data\\\n");
    for n in 1..=big_n {
        head += &format!("ngram {n}={}\n", model.num_ngrams(n));
    }
    out.write_all(head.as_bytes()).map_err(io)?;
    const BLOCK: usize = 1 << 12;
    let group = 4 * rayon::current_num_threads();
    let words = Words::new(&model.vocab);
    let mut spare: Vec<Vec<u8>> = Vec::new();
    let cancel = crate::parallel::cancel_token();
    for n in 1..=big_n {
        out.write_all(format!("\n\\{n}-grams:\n").as_bytes()).map_err(io)?;
        let unigrams: Vec<u32> =
            if n == 1 { (0..model.vocab.len() as u32).filter(|&w| model.present[w as usize]).collect() } else { Vec::new() };
        let total = if n == 1 { unigrams.len() } else { model.trie.orders[n - 2].len() };
        let nblocks = total.div_ceil(BLOCK);
        let mut pending: Vec<Vec<u8>> = Vec::new();
        let mut b = 0;
        while b < nblocks || !pending.is_empty() {
            cancel.check()?;
            let next = b..(b + group).min(nblocks);
            let mut bufs: Vec<Vec<u8>> = next.clone().map(|_| spare.pop().unwrap_or_default()).collect();
            let (written, ()) = rayon::join(
                || pending.iter().try_for_each(|t| out.write_all(t)),
                || {
                    bufs.par_iter_mut().zip(next.clone()).for_each(|(buf, blk)| {
                        buf.clear();
                        format_rows(model, &words, n, blk * BLOCK..((blk + 1) * BLOCK).min(total), &unigrams, buf);
                    })
                },
            );
            written.map_err(io)?;
            spare.append(&mut pending);
            pending = bufs;
            b = next.end;
        }
    }
    out.write_all(b"\n\\end\\\n").map_err(io)?;
    Ok(())
}

/// The vocabulary for writing: each word in a 16-byte slot (length byte, then up to 15 bytes),
/// so appending a word touches one aligned slot (prefetchable) and copies a fixed 16 bytes;
/// longer words live in an arena (slot: 255, then offset and length).
struct Words {
    slots: Vec<[u8; 16]>,
    long: Vec<u8>,
}

impl Words {
    fn new(vocab: &[String]) -> Words {
        let mut slots = Vec::with_capacity(vocab.len() + 1);
        let mut long = Vec::new();
        for w in vocab {
            let b = w.as_bytes();
            let mut s = [0u8; 16];
            if b.len() <= 15 {
                s[0] = b.len() as u8;
                s[1..1 + b.len()].copy_from_slice(b);
            } else {
                s[0] = 255;
                s[4..8].copy_from_slice(&(b.len() as u32).to_le_bytes());
                s[8..16].copy_from_slice(&(long.len() as u64).to_le_bytes());
                long.extend_from_slice(b);
            }
            slots.push(s);
        }
        slots.push([0; 16]); // a short word's 16-byte copy may read one byte into the next slot
        long.resize(long.len() + PAD, 0);
        Words { slots, long }
    }

    #[inline(always)]
    fn push(&self, buf: &mut Vec<u8>, w: u32) {
        let s = &self.slots[w as usize];
        if s[0] != 255 {
            let len = s[0] as usize;
            buf.reserve(16);
            // SAFETY: slot w + 1 exists (the padding slot; `w` indexed above), so the 16 bytes
            // after s[0] are inside `slots`, and the pointer is derived from the whole vector;
            // `buf` has room for 16 more; only `len` bytes become part of it.
            unsafe {
                let n = buf.len();
                let src = self.slots.as_ptr().add(w as usize).cast::<u8>().add(1);
                std::ptr::copy_nonoverlapping(src, buf.as_mut_ptr().add(n), 16);
                buf.set_len(n + len);
            }
        } else {
            let len = u32::from_le_bytes(s[4..8].try_into().unwrap()) as usize;
            let off = u64::from_le_bytes(s[8..16].try_into().unwrap()) as usize;
            append_padded(buf, &self.long[off..], len);
        }
    }

    #[inline(always)]
    fn prefetch(&self, w: u32) {
        super::query::prefetch_at(&self.slots, w as usize);
    }
}

/// Append the ARPA lines of `rows` of order `n` to `buf`. Rows are sorted, so consecutive rows
/// share leading words: the text of the first n - 1 words is kept level by level and only the
/// levels whose row changed are rewritten.
fn format_rows(model: &Model, words: &Words, n: usize, rows: std::ops::Range<usize>, unigrams: &[u32], buf: &mut Vec<u8>) {
    let mut z = zmij::Buffer::new();
    let (prob, backoff) = (&model.prob[n - 1], model.backoff.get(n - 1));
    // level k = the (k+1)-gram that starts the line: its row and the text length after it
    let mut level_row = [u32::MAX; MAX_ORDER];
    let mut level_len = [0usize; MAX_ORDER + 1];
    let mut chain = [0u32; MAX_ORDER];
    let mut ptext: Vec<u8> = Vec::new();
    const AHEAD: usize = 16;
    let last_word = |i: usize| {
        if n == 1 {
            unigrams[i]
        } else {
            model.trie.orders[n - 2].word[i]
        }
    };
    for i in rows.clone() {
        if i + AHEAD < rows.end {
            words.prefetch(last_word(i + AHEAD));
            if n > 2 {
                // the word before it, which changes with most rows too
                let p = model.trie.orders[n - 2].prefix[i + AHEAD];
                words.prefetch(model.trie.orders[n - 3].word[p as usize]);
            }
        }
        let r = if n == 1 { unigrams[i] } else { i as u32 };
        push_f32(buf, prob[r as usize], &mut z);
        buf.push(b'\t');
        if n > 1 {
            // rows of the prefix at each level, top down
            chain[n - 2] = model.trie.orders[n - 2].prefix[i];
            for k in (1..n - 1).rev() {
                chain[k - 1] = model.trie.orders[k - 1].prefix[chain[k] as usize];
            }
            let first = (0..n - 1).find(|&k| chain[k] != level_row[k]);
            if let Some(k0) = first {
                ptext.truncate(level_len[k0]);
                for k in k0..n - 1 {
                    let w = if k == 0 { chain[0] } else { model.trie.orders[k - 1].word[chain[k] as usize] };
                    words.push(&mut ptext, w);
                    ptext.push(b' ');
                    level_row[k] = chain[k];
                    level_len[k + 1] = ptext.len();
                }
                ptext.resize(ptext.len() + PAD, 0); // so `append_padded` can copy PAD at once
            }
            append_padded(buf, &ptext, level_len[n - 1]);
        }
        words.push(buf, last_word(i));
        if n < model.order() {
            buf.push(b'\t');
            push_f32(buf, backoff.expect("every order below the highest has backoffs")[r as usize], &mut z);
        }
        buf.push(b'\n');
    }
}

/// Write `model` to `path` atomically.
pub fn write(model: &Model, path: &Path, threads: Option<usize>) -> Result<()> {
    crate::parallel::install(threads, || {
        let mut f = files::AtomicFile::create(path)?;
        write_to(model, &mut f)?;
        f.commit()
    })?
}

/// Read an ARPA file.
pub fn read_file(path: &Path) -> Result<Model> {
    let text = files::read_text(path)?;
    read(&text, &path.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ngram::{fit_text, Smoothing};

    fn arpa_text() -> String {
        let mut s = 0x2545_F491_4F6C_DD1Du64;
        let mut text = String::new();
        for _ in 0..400 {
            s = crate::rng::mix64(s);
            for j in 0..(s % 9) {
                text.push_str(&format!("w{} ", crate::rng::mix64(s + j) % 60));
            }
            text.push('\n');
        }
        let sm = Smoothing::KneserNey { discount_fallback: Some([0.5, 1.0, 1.5]), prune: [0; MAX_ORDER] };
        let m = fit_text(&text, 4, sm, Some(1)).unwrap();
        let mut out = Vec::new();
        write_to(&m, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    fn both(text: &str) -> (std::result::Result<Vec<u8>, String>, std::result::Result<Vec<u8>, String>) {
        let f = |par_min| read_opts(text, "t", par_min).map(|m| super::super::binary::to_bytes(&m)).map_err(|e| e.to_string());
        (f(0), f(usize::MAX))
    }

    #[test]
    fn parallel_sections_read_like_line_by_line() {
        let good = arpa_text();
        let (a, b) = both(&good);
        assert!(a.is_ok());
        assert_eq!(a, b);
        assert_eq!(both(&good.replace('\n', "\r\n")).0, b, "CRLF");
        let lines: Vec<&str> = good.lines().collect();
        let at = lines.iter().position(|l| l.starts_with("\\3-grams:")).unwrap() + 5;
        let edit = |i: usize, new: &str| {
            let mut v = lines.clone();
            v[i] = new;
            v.join("\n") + "\n"
        };
        let fields: Vec<&str> = lines[at].split('\t').collect();
        for (bad_i, bad) in [
            edit(at, lines[at + 1]),                               // duplicate
            edit(at, &lines[at].replace(fields[0], "x")),          // bad number
            edit(at, &lines[at].replace(fields[0], "0.5")),        // positive
            edit(at, &format!("{}\t9", lines[at])),                // extra field
            edit(at, &lines[at].replacen(" ", " nosuchword ", 1)), // unknown word
            edit(at, "   "),                                       // blank-looking line
            edit(at, &lines[at].replace(fields[0], "-inf")),       // -inf is fine
        ]
        .iter()
        .enumerate()
        {
            let (a, b) = both(bad);
            assert_eq!(a, b);
            assert_eq!(a.is_ok(), bad_i == 6, "case {bad_i}");
        }
    }
}
