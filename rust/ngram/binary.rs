//! seqfast's binary model format (version 2): `NgramLM.save`/`load`, and the pickle payload.
//!
//! Layout (little-endian; every array section starts at a multiple of 64 bytes, so a mapped
//! file is used in place):
//! ```text
//! magic "SQFNGRAM" | version u32 = 2 | flags u32 (1: query tables, 2: quantized, 4: the table
//!   slots carry extension bits, `query::EXTENDS`) | header length u64 H
//! order u32 | mode u8 | alpha f32 | unk, bos, eos u32 | vocab u64 | smoothing: len u64, UTF-8
//! quantization error bound f32 (0 if not quantized) | sections u32
//! per section: kind u32 | order u32 | count u64 | offset u64 | checksum u64
//! header checksum u64 (of bytes 0..H-8)
//! sections: words (UTF-8 bytes), word ends (u64), present (u8), unigram (prob, backoff) pairs,
//!   per order: prob f32, backoff f32 (orders < N), prefix u32 and word u32 (orders >= 2),
//!   query table slots (orders >= 2) and the word index (`words.rs`) when flag 1, or quantized
//!   codes u8 + 256 centres f32 per order
//! ```
//! Loading a file maps it: the header, the vocabulary and the section bounds are checked (a
//! short or foreign file is a `Format` error naming the offset, before any mapped byte past the
//! header is touched), the arrays stay in the page cache, and with the query tables stored the
//! first query is answered at once. `verify` also checks every section's checksum and the trie's
//! invariants (reading the whole file); models that walk the trie (ARPA writing, `top_k`) do
//! that check first, so a corrupt file gives an error, never a panic.
//!
//! Quantization (`quantize = true`, like `build_binary -q 8 -b 8`): per order, probabilities
//! and backoffs are each replaced by one of 253 centres (equal-count bins of the sorted values,
//! centre = the bin's mean), with 0, -inf and NaN kept exact. The largest change of any stored
//! number is measured and written to the header ([`Loaded::quant_error`]); a token's log10
//! probability, one probability plus at most `N - 1` backoffs, moves by at most `N` times it.
//! Quantized files store no query tables (they are rebuilt on the first query).

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use super::binary_v1::{checksum, put_head, Reader};
use super::index::{OrderIndex, Trie};
use super::model::{Model, Vocab, MAX_ORDER};
use super::query::{Slot, Table};
use super::words::WordIndex;
use crate::error::{Error, Result};
use crate::mapped::{as_bytes, Buf, Mapping, Pod};

pub const MAGIC: &[u8; 8] = b"SQFNGRAM";
const VERSION: u32 = 2;
const TABLES: u32 = 1;
const QUANTIZED: u32 = 2;
/// The stored slots carry `query::EXTENDS` bits.
const EXT_BITS: u32 = 4;
const ALIGN: usize = 64;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
enum Kind {
    Words = 1,
    WordEnds = 2,
    Present = 3,
    Unigrams = 4,
    Prob = 5,
    Backoff = 6,
    Prefix = 7,
    Word = 8,
    Slots = 9,
    ProbCodes = 10,
    BackoffCodes = 11,
    ProbCentres = 12,
    BackoffCentres = 13,
    WordIndex = 14,
}

const KINDS: [Kind; 14] = [
    Kind::Words,
    Kind::WordEnds,
    Kind::Present,
    Kind::Unigrams,
    Kind::Prob,
    Kind::Backoff,
    Kind::Prefix,
    Kind::Word,
    Kind::Slots,
    Kind::ProbCodes,
    Kind::BackoffCodes,
    Kind::ProbCentres,
    Kind::BackoffCentres,
    Kind::WordIndex,
];

/// What to write.
#[derive(Clone, Copy, Debug, Default)]
pub struct Options {
    /// Store the query tables (instant first query after `load`; about twice the size).
    pub tables: bool,
    /// Quantize probabilities and backoffs to 8 bits (see the module doc).
    pub quantize: bool,
}

/// One section to write: its kind, order and bytes.
struct Out<'a> {
    kind: Kind,
    order: u32,
    count: usize,
    bytes: std::borrow::Cow<'a, [u8]>,
}

fn sec<'a, T: Pod>(kind: Kind, order: usize, v: &'a [T]) -> Out<'a> {
    Out { kind, order: order as u32, count: v.len(), bytes: as_bytes(v).into() }
}

fn owned<T: Pod>(kind: Kind, order: usize, v: Vec<T>) -> Out<'static> {
    Out { kind, order: order as u32, count: v.len(), bytes: as_bytes(&v).to_vec().into() }
}

/// Write `m` in format version 2.
pub fn write_to<W: Write + ?Sized>(m: &Model, out: &mut W, opts: Options) -> Result<()> {
    let n = m.order();
    let mut words = Vec::with_capacity(m.vocab.iter().map(|w| w.len()).sum());
    let mut ends = Vec::with_capacity(m.vocab.len());
    for w in &m.vocab {
        words.extend_from_slice(w.as_bytes());
        ends.push(words.len() as u64);
    }
    let mut secs = vec![
        owned(Kind::Words, 0, words),
        owned(Kind::WordEnds, 0, ends),
        owned(Kind::Present, 0, m.present.iter().map(|&p| p as u8).collect()),
    ];
    let mut quant_error = 0f32;
    if opts.quantize {
        for k in 1..=n {
            let (codes, centres, e) = super::quantize::quantize(&m.prob[k - 1]);
            quant_error = quant_error.max(e);
            secs.push(owned(Kind::ProbCodes, k, codes));
            secs.push(owned(Kind::ProbCentres, k, centres));
            if let Some(b) = m.backoff.get(k - 1).filter(|b| !b.is_empty()) {
                let (codes, centres, e) = super::quantize::quantize(b);
                quant_error = quant_error.max(e);
                secs.push(owned(Kind::BackoffCodes, k, codes));
                secs.push(owned(Kind::BackoffCentres, k, centres));
            }
        }
    } else {
        for k in 1..=n {
            secs.push(sec(Kind::Prob, k, &m.prob[k - 1]));
            if let Some(b) = m.backoff.get(k - 1).filter(|b| !b.is_empty()) {
                secs.push(sec(Kind::Backoff, k, b));
            }
        }
    }
    for (i, o) in m.trie.orders.iter().enumerate() {
        secs.push(sec(Kind::Prefix, i + 2, &o.prefix));
        secs.push(sec(Kind::Word, i + 2, &o.word));
    }
    let tables = opts.tables && !opts.quantize;
    if tables {
        let (u, t) = m.query_tables();
        secs.push(sec(Kind::Unigrams, 1, u));
        secs.push(sec(Kind::WordIndex, 0, m.word_index().slots()));
        for (i, table) in t.iter().enumerate() {
            secs.push(sec(Kind::Slots, i + 2, table.slots()));
        }
    }
    // header
    let mut h = Vec::new();
    h.extend_from_slice(MAGIC);
    h.extend_from_slice(&VERSION.to_le_bytes());
    let ext = tables && m.vocab.len() < super::query::EXTENDS as usize;
    h.extend_from_slice(&(((tables as u32) * TABLES) | ((opts.quantize as u32) * QUANTIZED) | ((ext as u32) * EXT_BITS)).to_le_bytes());
    h.extend_from_slice(&0u64.to_le_bytes()); // header length, filled in below
    put_head(&mut h, m);
    h.extend_from_slice(&quant_error.to_le_bytes());
    h.extend_from_slice(&(secs.len() as u32).to_le_bytes());
    let hlen = h.len() + 32 * secs.len() + 8;
    let mut at = hlen.div_ceil(ALIGN) * ALIGN;
    for s in &secs {
        h.extend_from_slice(&(s.kind as u32).to_le_bytes());
        h.extend_from_slice(&s.order.to_le_bytes());
        h.extend_from_slice(&(s.count as u64).to_le_bytes());
        h.extend_from_slice(&(at as u64).to_le_bytes());
        h.extend_from_slice(&checksum(&s.bytes).to_le_bytes());
        at = (at + s.bytes.len()).div_ceil(ALIGN) * ALIGN;
    }
    h[16..24].copy_from_slice(&(hlen as u64).to_le_bytes());
    let sum = checksum(&h);
    h.extend_from_slice(&sum.to_le_bytes());
    let io = |e: std::io::Error| Error::Io { msg: format!("cannot write the model: {e}"), kind: e.kind() };
    let zeros = [0u8; ALIGN];
    let mut written = h.len();
    out.write_all(&h).map_err(io)?;
    for s in &secs {
        let pad = written.div_ceil(ALIGN) * ALIGN - written;
        out.write_all(&zeros[..pad]).map_err(io)?;
        out.write_all(&s.bytes).map_err(io)?;
        written += pad + s.bytes.len();
        crate::parallel::cancel_token().check()?;
    }
    Ok(())
}

/// The model as bytes (the pickle payload: no query tables, rebuilt on the first query).
pub fn to_bytes(m: &Model) -> Vec<u8> {
    let mut out = Vec::new();
    write_to(m, &mut out, Options::default()).expect("writing to memory cannot fail");
    out
}

/// Write `m` to `path` atomically.
pub fn save(m: &Model, path: &Path, opts: Options) -> Result<()> {
    let mut f = crate::files::AtomicFile::create(path)?;
    write_to(m, &mut f, opts)?;
    f.commit()
}

/// Where the sections are read from.
enum Source<'a> {
    Map(&'a Arc<Mapping>),
    Bytes(&'a [u8]),
}

/// One section as listed in the header.
#[derive(Clone, Copy)]
struct Entry {
    kind: Kind,
    order: usize,
    count: usize,
    offset: usize,
    sum: u64,
}

/// A model read from a file or bytes, with what the header says about it.
pub struct Loaded {
    pub model: Model,
    /// Largest change of a stored number by quantization (0 if the file is not quantized).
    pub quant_error: f32,
}

/// Read version-2 bytes (copying the arrays; every checksum and invariant is checked).
pub fn from_bytes(data: &[u8]) -> Result<Model> {
    if data.len() >= 12 && data.starts_with(MAGIC) && data[8..12] == 1u32.to_le_bytes() {
        return super::binary_v1::from_bytes(data);
    }
    Ok(read(Source::Bytes(data), true)?.model)
}

/// Map the file at `path`; `verify` checks every section's checksum and the trie's invariants
/// now (reading the whole file) instead of only the header and the section bounds.
pub fn load(path: &Path, verify: bool) -> Result<Loaded> {
    let map = Mapping::open(path)?;
    let bytes = map.bytes();
    if bytes.len() >= 12 && bytes[8..12] == 1u32.to_le_bytes() {
        return Ok(Loaded { model: super::binary_v1::from_bytes(bytes)?, quant_error: 0.0 });
    }
    read(Source::Map(&map), verify)
}

fn elem_size(kind: Kind) -> usize {
    match kind {
        Kind::Words | Kind::Present | Kind::ProbCodes | Kind::BackoffCodes => 1,
        Kind::WordIndex => 4,
        Kind::WordEnds | Kind::Unigrams => 8,
        Kind::Slots => std::mem::size_of::<Slot>(),
        _ => 4,
    }
}

fn read(src: Source<'_>, verify: bool) -> Result<Loaded> {
    let data = match src {
        Source::Map(m) => m.bytes(),
        Source::Bytes(b) => b,
    };
    let fmt = |at: usize, what: String| Error::Format(format!("n-gram model: offset {at}: {what}"));
    if data.len() < 24 || &data[..8] != MAGIC {
        return Err(fmt(0, "not a seqfast n-gram model (bad magic or too short)".into()));
    }
    let mut r = Reader { data, at: 8 };
    let version = r.u32("version")?;
    if version != VERSION {
        return Err(fmt(8, format!("version {version} is not supported (this seqfast reads versions 1 and {VERSION})")));
    }
    let flags = r.u32("flags")?;
    let hlen = r.u64("header length")? as usize;
    if hlen < 32 || hlen > data.len() {
        return Err(fmt(16, format!("header length {hlen} does not fit the {} bytes of the file", data.len())));
    }
    let want = u64::from_le_bytes(data[hlen - 8..hlen].try_into().expect("8 bytes"));
    if checksum(&data[..hlen - 8]) != want {
        return Err(fmt(hlen - 8, "header checksum mismatch: the file is corrupt".into()));
    }
    let mut r = Reader { data: &data[..hlen - 8], at: 24 };
    let (n, mode, [unk, bos, eos]) = r.head()?;
    let v = r.u64("vocabulary size")? as usize;
    if v >= u32::MAX as usize || [unk, bos, eos].iter().any(|&x| x as usize >= v) {
        return Err(r.err(&format!("special ids ({unk}, {bos}, {eos}) or vocabulary size {v} are invalid")));
    }
    let sl = r.len(1, "smoothing")?;
    let smoothing = std::str::from_utf8(r.take(sl, "smoothing")?).map_err(|_| r.err("smoothing is not UTF-8"))?.to_string();
    let quant_error = r.f32("quantization error")?;
    let count = r.u32("sections")? as usize;
    let mut entries: Vec<Entry> = Vec::with_capacity(count.min(4 * MAX_ORDER + 8));
    for _ in 0..count {
        let at = r.at;
        let kind = r.u32("section kind")?;
        let kind = *KINDS.iter().find(|k| **k as u32 == kind).ok_or_else(|| fmt(at, format!("unknown section kind {kind}")))?;
        let order = r.u32("section order")? as usize;
        let cnt = r.u64("section length")?;
        let off = r.u64("section offset")?;
        let sum = r.u64("section checksum")?;
        let end = cnt.checked_mul(elem_size(kind) as u64).and_then(|b| b.checked_add(off));
        if end.is_none_or(|e| e > data.len() as u64) || (off as usize) < hlen || off as usize % ALIGN != 0 {
            return Err(fmt(
                at,
                format!(
                    "section {kind:?} of order {order}: {cnt} values at offset {off} do not fit the file ({} bytes): truncated?",
                    data.len()
                ),
            ));
        }
        entries.push(Entry { kind, order, count: cnt as usize, offset: off as usize, sum });
    }
    if r.at != hlen - 8 {
        return Err(r.err("header has bytes left over"));
    }
    let mut spans: Vec<(usize, usize)> = entries.iter().map(|e| (e.offset, e.offset + e.count * elem_size(e.kind))).collect();
    spans.sort_unstable();
    let mut at = hlen;
    for &(s, e) in &spans {
        if s < at || (verify && data[at..s].iter().any(|&b| b != 0)) {
            return Err(fmt(at, "sections overlap, or the padding between them is not zero".into()));
        }
        at = e;
    }
    if at != data.len() {
        return Err(fmt(at, format!("the sections end at byte {at} but the file has {} bytes", data.len())));
    }
    let find = |kind: Kind, order: usize| entries.iter().find(|e| e.kind == kind && e.order == order).copied();
    let need = |kind: Kind, order: usize| find(kind, order).ok_or_else(|| fmt(24, format!("section {kind:?} of order {order} is missing")));
    let check = |e: &Entry| -> Result<()> {
        let bytes = &data[e.offset..e.offset + e.count * elem_size(e.kind)];
        if checksum(bytes) != e.sum {
            return Err(fmt(e.offset, format!("checksum mismatch in section {:?} of order {}: the file is corrupt", e.kind, e.order)));
        }
        Ok(())
    };
    fn get<T: Pod>(src: &Source<'_>, e: &Entry) -> Result<Buf<T>> {
        match src {
            Source::Map(m) => Buf::mapped(m, e.offset, e.count),
            Source::Bytes(b) => Buf::copied(b, e.offset, e.count),
        }
    }
    // vocabulary (always checked: small, and word strings must be valid)
    let (we, wb, pe) = (need(Kind::WordEnds, 0)?, need(Kind::Words, 0)?, need(Kind::Present, 0)?);
    for e in [&we, &wb, &pe] {
        check(e)?;
    }
    if we.count != v || pe.count != v {
        return Err(fmt(we.offset, format!("{} word ends and {} present flags for a vocabulary of {v}", we.count, pe.count)));
    }
    let ends: Buf<u64> = get(&src, &we)?;
    let blob = &data[wb.offset..wb.offset + wb.count];
    let mut vocab = Vec::with_capacity(v);
    let mut start = 0usize;
    for (i, &end) in ends.iter().enumerate() {
        let end = end as usize;
        if end < start || end > blob.len() {
            return Err(fmt(we.offset + 8 * i, format!("word {i} ends at {end}, outside the word bytes")));
        }
        let w = std::str::from_utf8(&blob[start..end]).map_err(|_| fmt(wb.offset + start, format!("word {i} is not UTF-8")))?;
        vocab.push(w.to_string());
        start = end;
    }
    let present: Vec<bool> = data[pe.offset..pe.offset + v].iter().map(|&b| b != 0).collect();
    let quantized = flags & QUANTIZED != 0;
    let rows_of = |k: usize| if k == 1 { Ok(v) } else { need(Kind::Prefix, k).map(|e| e.count) };
    let mut prob = Vec::with_capacity(n);
    let mut backoff = Vec::with_capacity(n);
    for k in 1..=n {
        let rows = rows_of(k)?;
        let (p, b) = if quantized {
            let pc = need(Kind::ProbCodes, k)?;
            let pz = need(Kind::ProbCentres, k)?;
            check(&pc)?;
            check(&pz)?;
            let p = super::quantize::expand(&get::<u8>(&src, &pc)?, &get::<f32>(&src, &pz)?).map_err(|m| fmt(pc.offset, m))?;
            let b = match (find(Kind::BackoffCodes, k), find(Kind::BackoffCentres, k)) {
                (Some(bc), Some(bz)) => {
                    check(&bc)?;
                    check(&bz)?;
                    super::quantize::expand(&get::<u8>(&src, &bc)?, &get::<f32>(&src, &bz)?).map_err(|m| fmt(bc.offset, m))?
                }
                _ => Vec::new(),
            };
            (Buf::from(p), Buf::from(b))
        } else {
            let pe = need(Kind::Prob, k)?;
            let b = match find(Kind::Backoff, k) {
                Some(be) => {
                    if verify {
                        check(&be)?;
                    }
                    get::<f32>(&src, &be)?
                }
                None => Buf::default(),
            };
            if verify {
                check(&pe)?;
            }
            (get::<f32>(&src, &pe)?, b)
        };
        if p.len() != rows || (!b.is_empty() && b.len() != rows) || (k == n && !b.is_empty()) {
            return Err(fmt(24, format!("order {k}: {} probabilities and {} backoffs for {rows} rows", p.len(), b.len())));
        }
        prob.push(p);
        backoff.push(b);
    }
    while backoff.len() > n - 1 {
        backoff.pop();
    }
    let mut orders = Vec::with_capacity(n - 1);
    for k in 2..=n {
        let (pe, wo) = (need(Kind::Prefix, k)?, need(Kind::Word, k)?);
        if verify {
            check(&pe)?;
            check(&wo)?;
        }
        orders.push(OrderIndex::from_bufs(get(&src, &pe)?, get(&src, &wo)?).map_err(|e| fmt(pe.offset, e.to_string()))?);
    }
    let model = Model::new(Vocab { words: vocab, unk, bos, eos }, present, Trie { orders }, prob, backoff, mode, smoothing).unverified();
    let has_tables = flags & TABLES != 0 && !quantized;
    if has_tables {
        let ue = need(Kind::Unigrams, 1)?;
        if ue.count != v {
            return Err(fmt(ue.offset, format!("{} unigram pairs for a vocabulary of {v}", ue.count)));
        }
        let mut tables = Vec::with_capacity(n - 1);
        for k in 2..=n {
            let se = need(Kind::Slots, k)?;
            if se.count <= model.trie.orders[k - 2].len() {
                return Err(fmt(
                    se.offset,
                    format!("order {k}: a query table of {} slots for {} n-grams", se.count, model.trie.orders[k - 2].len()),
                ));
            }
            if verify {
                check(&se)?;
            }
            // without the flag bits, no n-gram is marked as extending: use none of them
            let vocab_for_bits = if flags & EXT_BITS != 0 { v } else { usize::MAX };
            tables.push(Table::from_slots(get(&src, &se)?, vocab_for_bits).map_err(|e| fmt(se.offset, e.to_string()))?);
        }
        if verify {
            check(&ue)?;
        }
        model.set_query_tables(get(&src, &ue)?, tables);
        if let Some(wi) = find(Kind::WordIndex, 0) {
            if verify {
                check(&wi)?;
            }
            let ix = WordIndex::from_slots(get(&src, &wi)?).ok_or_else(|| fmt(wi.offset, format!("a word index of {} slots", wi.count)))?;
            model.set_word_index(ix);
        }
    }
    if verify || !has_tables {
        // (without stored tables the first query builds them by walking the trie)
        model.check_structure()?;
    }
    Ok(Loaded { model, quant_error: if quantized { quant_error } else { 0.0 } })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ngram::{fit_text, Smoothing};

    fn model(sm: Smoothing, order: usize) -> Model {
        let text = "the cat sat on the mat\nthe dog sat\na cat and a dog\n\nthe end of the cat\n";
        fit_text(text, order, sm, Some(1)).unwrap()
    }

    fn smoothings() -> [Smoothing; 4] {
        [
            Smoothing::KneserNey { discount_fallback: Some([0.5, 1.0, 1.5]), prune: [0; MAX_ORDER] },
            Smoothing::Mle,
            Smoothing::AddK(0.5),
            Smoothing::Stupid(0.4),
        ]
    }

    fn scores(m: &Model) -> Vec<u32> {
        let ids: Vec<u32> = (0..m.vocab.len() as u32).chain([3, 4, 5, 3, 7, 3, 4]).collect();
        m.score_batch(&ids, &[0, 5, ids.len() as i64], true, true, Some(1)).unwrap().token.iter().map(|x| x.to_bits()).collect()
    }

    #[test]
    fn round_trips_score_bit_identically() {
        let dir = std::env::temp_dir().join(format!("seqfast-bin-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for sm in smoothings() {
            for order in 1..=4 {
                let m = model(sm, order);
                let b = from_bytes(&to_bytes(&m)).unwrap();
                assert_eq!(scores(&m), scores(&b));
                assert_eq!((&b.vocab, &b.smoothing), (&m.vocab, &m.smoothing));
                for tables in [false, true] {
                    let p = dir.join(format!("m{order}{tables}.sfb"));
                    save(&m, &p, Options { tables, quantize: false }).unwrap();
                    for verify in [false, true] {
                        let l = load(&p, verify).unwrap();
                        assert_eq!(scores(&m), scores(&l.model), "{sm:?} order {order} tables {tables}");
                        assert!(l.model.prob[0].is_mapped());
                    }
                }
            }
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn bad_bytes_are_format_errors() {
        let m = model(smoothings()[0], 3);
        let mut good = Vec::new();
        write_to(&m, &mut good, Options { tables: true, quantize: false }).unwrap();
        for cut in (0..good.len()).step_by(7) {
            assert!(matches!(read(Source::Bytes(&good[..cut]), false), Err(Error::Format(_))), "cut {cut}");
        }
        // Flipped bytes: the header checksum, the vocabulary checks or (with verify) the
        // section checksums catch them; without verify a flip in the arrays may change
        // scores but never panics or hangs.
        let mut s = 0x1234_5678u64;
        for _ in 0..3000 {
            let mut b = good.clone();
            s = crate::rng::mix64(s);
            let at = (s as usize) % b.len();
            b[at] ^= ((s >> 40) as u8) | 1;
            assert!(read(Source::Bytes(&b), true).is_err(), "flip at {at} not caught by verify");
            if let Ok(l) = read(Source::Bytes(&b), false) {
                let ids: Vec<u32> = (0..l.model.vocab.len() as u32).collect();
                let _ = l.model.score_batch(&ids, &[0, ids.len() as i64], true, true, Some(1));
                let _ = l.model.context_len(&l.model.state_after(&ids[..3.min(ids.len())], true));
            }
        }
    }
}
