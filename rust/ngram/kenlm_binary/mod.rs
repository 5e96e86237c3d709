//! KenLM's own binary model files (`build_binary` output, format version 5), read into a
//! [`Model`] that scores exactly as `kenlm.Model` does on the same file.
//!
//! Layout (all little-endian, as KenLM writes it on x86-64; see kenlm's `lm/binary_format.cc`):
//! ```text
//! 0    Sanity: magic "mmap lm http://kheafield.com/code format version 5\n\0" padded to 56,
//!      then 0.0f 1.0f -0.5f, u32 1, u32 max, u32 0, u64 1                      (88 bytes)
//! 88   u8 order, f32 probing_multiplier, u32 model_type, u8 has_vocabulary,
//!      u32 search_version                                   (C layout with padding: 20 bytes)
//! 108  u64 count per order; the header ends at the next multiple of 8
//!      vocabulary lookup, then the search structure (probing.rs or trie.rs)
//! end  the word strings, NUL-terminated, in id order ("<unk>" first)
//! ```
//! Model types: 0 probing, 1 probing with rest costs, 2 trie, 3 quantised trie, 4 trie with
//! array-compressed pointers, 5 both. Tries are read exactly (`trie.rs`); probing files store
//! hashes of n-grams, not their words, so `probing.rs` recovers the n-grams by testing the
//! candidates the stored flags allow (see there for the cost and its limit).
//!
//! Every length and offset is checked against the file size before it is read; a truncated or
//! corrupt file is a `Format` error naming the offset, never a panic.

mod assemble;
mod bytes;
mod probing;
#[cfg(test)]
mod tests;
mod trie;

use super::model::Model;
use crate::error::Result;
use bytes::Bytes;

/// The first bytes of every KenLM binary file.
pub const MAGIC: &[u8] = b"mmap lm http://kheafield.com/code";
const MAGIC_V5: &[u8] = b"mmap lm http://kheafield.com/code format version 5\n\0";
const MAGIC_BEFORE_VERSION: &[u8] = b"mmap lm http://kheafield.com/code format version";
const MAGIC_INCOMPLETE: &[u8] = b"mmap lm http://kheafield.com/code incomplete\n";
/// Size of KenLM's `Sanity` struct.
const SANITY: usize = 88;
const MODEL_NAMES: [&str; 6] = [
    "probing hash tables",
    "probing hash tables with rest costs",
    "trie",
    "trie with quantization",
    "trie with array-compressed pointers",
    "trie with quantization and array-compressed pointers",
];

/// Whether `data` starts like a KenLM binary file.
pub fn is_kenlm(data: &[u8]) -> bool {
    data.starts_with(MAGIC)
}

/// The fixed header of a KenLM binary file.
#[derive(Debug)]
pub(crate) struct Header {
    pub probing_multiplier: f32,
    pub model_type: u32,
    /// n-gram counts per order (as stored: for tries they include the inserted n-grams).
    pub counts: Vec<u64>,
    /// Where the vocabulary structure begins.
    pub size: usize,
}

/// KenLM's `Sanity` header (the test values that tell the byte order and struct layout).
fn sanity() -> [u8; SANITY] {
    let mut s = [0u8; SANITY];
    s[..MAGIC_V5.len()].copy_from_slice(MAGIC_V5);
    s[56..60].copy_from_slice(&0.0f32.to_le_bytes());
    s[60..64].copy_from_slice(&1.0f32.to_le_bytes());
    s[64..68].copy_from_slice(&(-0.5f32).to_le_bytes());
    s[68..72].copy_from_slice(&1u32.to_le_bytes());
    s[72..76].copy_from_slice(&u32::MAX.to_le_bytes());
    s[76..80].copy_from_slice(&0u32.to_le_bytes());
    s[80..88].copy_from_slice(&1u64.to_le_bytes());
    s
}

pub(crate) fn align8(x: usize) -> usize {
    x.div_ceil(8) * 8
}

fn read_header(b: &Bytes) -> Result<Header> {
    let data = b.data;
    if data.starts_with(MAGIC_INCOMPLETE) {
        return Err(b.err(0, "the KenLM binary file did not finish building (its header says 'incomplete')"));
    }
    if data.len() < SANITY || data[..SANITY] != sanity() {
        if data.starts_with(MAGIC_BEFORE_VERSION) && !data.starts_with(MAGIC_V5) {
            let v: String = data[MAGIC_BEFORE_VERSION.len()..]
                .iter()
                .take(8)
                .take_while(|c| c.is_ascii_graphic() || **c == b' ')
                .map(|&c| c as char)
                .collect();
            return Err(b.err(0, &format!("KenLM binary format version {:?} is not supported (only version 5)", v.trim())));
        }
        let at = (0..SANITY.min(data.len())).find(|&i| data[i] != sanity()[i]).unwrap_or(data.len());
        return Err(b.err(
            at,
            "the KenLM header's test values do not match (file truncated, corrupt, or built on a machine with another byte order or struct layout)",
        ));
    }
    let order = b.u8(SANITY)? as usize;
    let probing_multiplier = b.f32(SANITY + 4)?;
    let model_type = b.u32(SANITY + 8)?;
    let has_vocabulary = b.u8(SANITY + 12)?;
    let search_version = b.u32(SANITY + 16)?;
    if !(2..=super::model::MAX_ORDER).contains(&order) {
        return Err(b.err(SANITY, &format!("order {order} is not supported (2 to {})", super::model::MAX_ORDER)));
    }
    if model_type as usize >= MODEL_NAMES.len() {
        return Err(b.err(SANITY + 8, &format!("unknown KenLM model type {model_type}")));
    }
    let want_version = if model_type <= 1 { 0 } else { 1 };
    if search_version != want_version {
        return Err(b.err(
            SANITY + 16,
            &format!("{} search version {search_version} is not supported (expected {want_version})", MODEL_NAMES[model_type as usize]),
        ));
    }
    if has_vocabulary > 1 {
        return Err(b.err(SANITY + 12, &format!("has_vocabulary flag is {has_vocabulary}, not 0 or 1")));
    }
    if !(probing_multiplier >= 1.0 && probing_multiplier.is_finite()) {
        return Err(b.err(SANITY + 4, &format!("probing multiplier {probing_multiplier} is not a finite number >= 1")));
    }
    let mut counts = Vec::with_capacity(order);
    for n in 0..order {
        let at = SANITY + 20 + 8 * n;
        let c = b.u64(at)?;
        // every n-gram takes at least one byte: a larger count is corruption, and bounding it
        // keeps the size arithmetic below far from overflow
        if c == 0 || c > data.len() as u64 {
            return Err(b.err(at, &format!("the count of {}-grams, {c}, is impossible for a file of {} bytes", n + 1, data.len())));
        }
        counts.push(c);
    }
    if has_vocabulary == 0 {
        return Err(b.err(SANITY + 12, "the file has no vocabulary strings (built without them), so its words cannot be recovered"));
    }
    Ok(Header { probing_multiplier, model_type, counts, size: align8(SANITY + 20 + 8 * order) })
}

/// The word strings at `at` (to the end of the file): `<unk>` then NUL-terminated words, which
/// must number `bound` in all.
fn read_words(b: &Bytes, at: usize, bound: usize) -> Result<Vec<String>> {
    let data = b.data;
    if at > data.len() {
        return Err(b.err(data.len(), &format!("file ends before the vocabulary strings, which start at offset {at} (truncated file?)")));
    }
    if !data[at..].starts_with(b"<unk>\0") {
        return Err(b.err(at, "the vocabulary strings do not start with <unk> (corrupt file?)"));
    }
    let mut words = Vec::with_capacity(bound.min(data.len() - at));
    let mut pos = at;
    while pos < data.len() {
        let end = match data[pos..].iter().position(|&c| c == 0) {
            Some(e) => pos + e,
            None => return Err(b.err(pos, "the last vocabulary string has no NUL terminator (truncated file?)")),
        };
        let w = std::str::from_utf8(&data[pos..end]).map_err(|e| b.err(pos + e.valid_up_to(), "a vocabulary string is not UTF-8"))?;
        if words.len() == bound {
            return Err(b.err(pos, &format!("more vocabulary strings than the {bound} words the model has")));
        }
        words.push(w.to_string());
        pos = end + 1;
    }
    if words.len() != bound {
        return Err(b.err(data.len(), &format!("{} vocabulary strings but the model has {bound} words (truncated file?)", words.len())));
    }
    Ok(words)
}

/// A model from the bytes of a KenLM binary file; `src` names it in errors.
pub fn read(data: &[u8], src: &str) -> Result<Model> {
    let b = Bytes { data, src };
    let h = read_header(&b)?;
    let what = MODEL_NAMES[h.model_type as usize];
    match h.model_type {
        0 | 1 => probing::read(&b, &h, what),
        _ => trie::read(&b, &h, what),
    }
}
