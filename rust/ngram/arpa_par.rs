//! Parallel parsing of one ARPA n-gram section (orders >= 2): the section's lines are cut into
//! blocks at line ends, each block is parsed on its own (fields, numbers, word ids from the
//! unigram table), and the blocks are joined in order. Only well-formed sections take this path:
//! any line that is not a plain entry, or a line count other than the declared one, makes
//! [`parse`] return `None` so the line-by-line reader (`arpa.rs`) reads the section and names
//! the line of the problem.

use rayon::prelude::*;
use rustc_hash::FxHashMap;

use crate::error::Result;
use crate::parallel::CancelToken;

/// The entries of a section: `grams` holds `n` word ids per entry.
pub struct Section {
    pub grams: Vec<u32>,
    pub p: Vec<f32>,
    pub bo: Vec<f32>,
}

/// A log10 value as the line-by-line reader accepts it (finite or -inf).
fn num(s: &str) -> Option<f32> {
    let v: f32 = s.parse().ok()?;
    (!v.is_nan() && v != f32::INFINITY).then_some(v)
}

/// One block of lines; `None` at the first line that is not a plain entry.
fn block(text: &str, n: usize, bo_allowed: bool, ids: &FxHashMap<&str, u32>) -> Option<Section> {
    let lines = text.len() / (4 * n + 8) + 1;
    let mut out = Section { grams: Vec::with_capacity(lines * n), p: Vec::with_capacity(lines), bo: Vec::with_capacity(lines) };
    for line in text.split_terminator('\n') {
        let mut f = line.split_whitespace();
        let p = num(f.next()?)?;
        if p > 0.0 {
            return None;
        }
        for _ in 0..n {
            out.grams.push(*ids.get(f.next()?)?);
        }
        let bo = match f.next() {
            Some(b) if bo_allowed => num(b)?,
            Some(_) => return None,
            None => 0.0,
        };
        if f.next().is_some() {
            return None;
        }
        out.p.push(p);
        out.bo.push(bo);
    }
    Some(out)
}

/// Parse `body` (whole lines, each ending in a newline) as `declared` entries of order `n`.
pub fn parse(
    body: &str,
    n: usize,
    bo_allowed: bool,
    ids: &FxHashMap<&str, u32>,
    declared: usize,
    cancel: &CancelToken,
) -> Result<Option<Section>> {
    const BLOCK: usize = 1 << 20;
    let cuts = crate::parallel::line_blocks(body.as_bytes(), BLOCK);
    let blocks: Vec<Option<Section>> =
        cuts.par_windows(2).map(|c| if cancel.is_cancelled() { None } else { block(&body[c[0]..c[1]], n, bo_allowed, ids) }).collect();
    cancel.check()?;
    if blocks.iter().any(|b| b.is_none()) {
        return Ok(None);
    }
    let total: usize = blocks.iter().flatten().map(|b| b.p.len()).sum();
    if total != declared {
        return Ok(None);
    }
    let mut out = Section { grams: Vec::with_capacity(total * n), p: Vec::with_capacity(total), bo: Vec::with_capacity(total) };
    for b in blocks.into_iter().flatten() {
        out.grams.extend_from_slice(&b.grams);
        out.p.extend_from_slice(&b.p);
        out.bo.extend_from_slice(&b.bo);
    }
    Ok(Some(out))
}
