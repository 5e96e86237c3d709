//! The n-gram command-line operations over streams (`seqfast lm build | score | ppl`,
//! `ngram count`): text from files or stdin (`crate::stdio`), ARPA and scores written to any
//! writer (stdout included) in bounded buffers.
//!
//! Scoring reads its input in blocks of whole lines, so memory is the model plus one block;
//! each line is a sentence (the last may lack its newline; an empty line is an empty sentence).
//! Output lines are what the Python API formats: the sentence total as `%.6f`, or each token's
//! log10 probability as `%.6g` separated by spaces (`</s>` last when scored).

use std::io::Write;

use rayon::prelude::*;

use super::model::{Model, Scores};
use super::{arpa, estimate, text, Smoothing};
use crate::error::{Error, Result};
use crate::stdio::{for_each_block, read_text, Input};

/// Bytes of text scored per block.
pub const BLOCK: usize = 4 << 20;

fn write_err(e: std::io::Error) -> Error {
    Error::Io { msg: format!("cannot write the output: {e}"), kind: e.kind() }
}

/// Estimate a model from the text of `inputs` (as [`read_text`] joins them).
pub fn fit_inputs(inputs: &[Input<'_>], order: usize, smoothing: Smoothing, threads: Option<usize>) -> Result<Model> {
    let text = read_text(inputs)?;
    crate::trace::phase("read input");
    estimate::fit_text(&text, order, smoothing, threads)
}

/// Words of `inputs` as ids: one sentence per non-empty line ([`text::words`]).
pub fn words_inputs(inputs: &[Input<'_>], vocab: &mut Vec<String>) -> Result<(Vec<u32>, Vec<i64>)> {
    let text = read_text(inputs)?;
    let r = text::words(&text, vocab);
    crate::parallel::cancel_token().check()?; // `words` stops early when cancelled
    Ok(r)
}

/// Write `model` as ARPA to `out` through a 1 MB buffer.
pub fn write_arpa<W: Write + Send>(model: &Model, out: W) -> Result<()> {
    let mut w = std::io::BufWriter::with_capacity(1 << 20, out);
    arpa::write_to(model, &mut w)?;
    w.flush().map_err(write_err)?;
    crate::trace::phase("arpa format+write");
    Ok(())
}

/// What scoring options a command gave.
#[derive(Clone, Copy, Debug)]
pub struct ScoreOptions {
    pub bos: bool,
    pub eos: bool,
    pub threads: Option<usize>,
}

/// Score the sentences (lines) of one block of text; words are looked up in parallel chunks of
/// lines, joined in order.
fn score_block(model: &Model, text: &str, o: ScoreOptions) -> Result<Scores> {
    const LINES: usize = 8192;
    let lines: Vec<&str> = text.split_terminator('\n').collect();
    let parts: Vec<(Vec<u32>, Vec<i64>)> =
        crate::parallel::install(o.threads, || lines.par_chunks(LINES).map(|c| model.word_ids(c)).collect())?;
    crate::parallel::cancel_token().check()?; // `word_ids` stops early when cancelled
    let mut ids = Vec::with_capacity(parts.iter().map(|p| p.0.len()).sum());
    let mut offsets = Vec::with_capacity(lines.len() + 1);
    offsets.push(0i64);
    for (pi, po) in &parts {
        let base = ids.len() as i64;
        ids.extend_from_slice(pi);
        offsets.extend(po[1..].iter().map(|&x| base + x));
    }
    model.score_batch(&ids, &offsets, o.bos, o.eos, o.threads)
}

/// Score every line of `inputs` and write one line per sentence to `out` (see the module
/// doc). Returns the number of sentences; none at all is an error (nothing is written).
pub fn score_lines<W: Write>(model: &Model, inputs: &[Input<'_>], o: ScoreOptions, per_token: bool, out: &mut W) -> Result<u64> {
    let mut n = 0u64;
    let mut buf = Vec::new();
    for inp in inputs {
        for_each_block(inp, BLOCK, |text, _| {
            let s = score_block(model, text, o)?;
            n += s.total.len() as u64;
            buf.clear();
            crate::parallel::install(o.threads, || format_scores(&s, per_token, &mut buf))?;
            out.write_all(&buf).map_err(write_err)
        })?;
    }
    if n == 0 {
        return Err(Error::Value("no sentences to score".into()));
    }
    out.flush().map_err(write_err)?;
    Ok(n)
}

/// Sums over a text for its perplexity.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Perplexity {
    pub sentences: u64,
    /// Scored tokens (`</s>` included when scored).
    pub tokens: u64,
    pub oov: u64,
    /// Sum of the sentence totals (log10), compensated (Neumaier).
    pub log10: f64,
}

/// The [`Perplexity`] sums of every line of `inputs`; no sentence at all is an error.
pub fn perplexity_lines(model: &Model, inputs: &[Input<'_>], o: ScoreOptions) -> Result<Perplexity> {
    let mut p = Perplexity::default();
    let mut comp = 0.0f64;
    for inp in inputs {
        for_each_block(inp, BLOCK, |text, _| {
            let s = score_block(model, text, o)?;
            p.sentences += s.total.len() as u64;
            p.tokens += s.token.len() as u64;
            p.oov += s.oov.iter().map(|&x| x as u64).sum::<u64>();
            for &x in &s.total {
                neumaier_add(&mut p.log10, &mut comp, x);
            }
            Ok(())
        })?;
    }
    if p.sentences == 0 {
        return Err(Error::Value("no sentences to score".into()));
    }
    p.log10 += comp;
    Ok(p)
}

/// `sum += x` with the rounding error kept in `comp` (Neumaier's compensated sum).
fn neumaier_add(sum: &mut f64, comp: &mut f64, x: f64) {
    let t = *sum + x;
    *comp += if sum.abs() >= x.abs() { (*sum - t) + x } else { (x - t) + *sum };
    *sum = t;
}

/// The output lines of `s`, formatted in parallel chunks of sentences, appended in order.
fn format_scores(s: &Scores, per_token: bool, out: &mut Vec<u8>) {
    const CHUNK: usize = 4096;
    let n = s.total.len();
    let parts: Vec<Vec<u8>> = (0..n.div_ceil(CHUNK))
        .into_par_iter()
        .map(|c| {
            let mut b = Vec::new();
            let mut tmp = String::new();
            for i in c * CHUNK..((c + 1) * CHUNK).min(n) {
                if per_token {
                    let toks = &s.token[s.offsets[i] as usize..s.offsets[i + 1] as usize];
                    for (j, &x) in toks.iter().enumerate() {
                        if j > 0 {
                            b.push(b' ');
                        }
                        push_g6(&mut b, x as f64, &mut tmp);
                    }
                } else {
                    write!(b, "{:.6}", s.total[i]).expect("writing to a Vec");
                }
                b.push(b'\n');
            }
            b
        })
        .collect();
    out.reserve(parts.iter().map(|p| p.len()).sum());
    for p in parts {
        out.extend_from_slice(&p);
    }
}

/// Append `x` formatted as C's and Python's `%.6g`: 6 significant digits, fixed notation for
/// decimal exponents -4..5 and `d.ddde±XX` otherwise, trailing zeros (and point) removed.
pub fn push_g6(buf: &mut Vec<u8>, x: f64, tmp: &mut String) {
    use std::fmt::Write as _;
    if !x.is_finite() {
        buf.extend_from_slice(if x.is_nan() {
            b"nan"
        } else if x > 0.0 {
            b"inf"
        } else {
            b"-inf"
        });
        return;
    }
    if x == 0.0 {
        buf.extend_from_slice(if x.is_sign_negative() { b"-0" } else { b"0" });
        return;
    }
    fn trim(s: &str) -> &str {
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.')
        } else {
            s
        }
    }
    tmp.clear();
    write!(tmp, "{x:.5e}").expect("writing to a String");
    let e = tmp.find('e').expect("exponent notation");
    let exp: i32 = tmp[e + 1..].parse().expect("an exponent");
    let (neg, mant) = match tmp[..e].strip_prefix('-') {
        Some(m) => (true, m),
        None => (false, &tmp[..e]),
    };
    if neg {
        buf.push(b'-');
    }
    if (-4..6).contains(&exp) {
        // the same 6 correctly rounded digits, placed in fixed notation: "d.ddddd" -> digits
        let mut digits = [0u8; 6];
        digits[0] = mant.as_bytes()[0];
        digits[1..].copy_from_slice(&mant.as_bytes()[2..7]);
        let last = digits.iter().rposition(|&d| d != b'0').unwrap_or(0);
        if exp >= 0 {
            let int = exp as usize + 1;
            buf.extend_from_slice(&digits[..int]);
            if last >= int {
                buf.push(b'.');
                buf.extend_from_slice(&digits[int..=last]);
            }
        } else {
            buf.extend_from_slice(b"0.");
            buf.extend(std::iter::repeat_n(b'0', (-exp - 1) as usize));
            buf.extend_from_slice(&digits[..=last]);
        }
    } else {
        buf.extend_from_slice(trim(mant).as_bytes());
        buf.push(b'e');
        buf.push(if exp < 0 { b'-' } else { b'+' });
        let a = exp.unsigned_abs();
        if a < 10 {
            buf.push(b'0');
        }
        buf.extend_from_slice(a.to_string().as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g6(x: f64) -> String {
        let mut b = Vec::new();
        push_g6(&mut b, x, &mut String::new());
        String::from_utf8(b).unwrap()
    }

    #[test]
    fn g6_matches_c_printf() {
        // the values printed by C's printf("%.6g")
        let cases: &[(f64, &str)] = &[
            (0.0, "0"),
            (-0.0, "-0"),
            (1.0, "1"),
            (-1.5, "-1.5"),
            (-0.30104, "-0.30104"),
            (-2.1234567, "-2.12346"),
            (123456.0, "123456"),
            (1234567.0, "1.23457e+06"),
            (999999.5, "1e+06"),
            (0.0001, "0.0001"),
            (0.00001234, "1.234e-05"),
            (-99.99999, "-100"),
            (-100.0, "-100"),
            (1e-100, "1e-100"),
            (f64::NEG_INFINITY, "-inf"),
            (0.0078125, "0.0078125"),
            (2.5e-5, "2.5e-05"),
            (-0.000123456789, "-0.000123457"),
            (-1.0e-4, "-0.0001"),
            (-0.00009999996, "-0.0001"),
            (10.5, "10.5"),
            (-20.0, "-20"),
            (100000.0, "100000"),
            (-12.000001, "-12"),
            (3.4028234663852886e38, "3.40282e+38"),
        ];
        for &(x, want) in cases {
            assert_eq!(g6(x), want, "{x}");
        }
    }

    #[test]
    fn g6_matches_glibc_on_many_values() {
        // f32 values (what the scores are) of every magnitude, against snprintf("%.6g")
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut tmp = String::new();
        for i in 0..200_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let bits = state as u32;
            let x = f32::from_bits(bits) as f64;
            let x = if i % 2 == 0 { x } else { -((state >> 40) as f64) / (1u64 << (state % 40)) as f64 };
            if x.is_nan() {
                continue;
            }
            let mut c = [0u8; 64];
            // SAFETY: a 64-byte buffer and a C format with one double argument.
            let n = unsafe { libc::snprintf(c.as_mut_ptr().cast(), c.len(), c"%.6g".as_ptr(), x) };
            let want = std::str::from_utf8(&c[..n as usize]).unwrap();
            let mut b = Vec::new();
            push_g6(&mut b, x, &mut tmp);
            assert_eq!(std::str::from_utf8(&b).unwrap(), want, "{x:e}");
        }
    }

    #[test]
    fn sums_are_compensated() {
        let (mut sum, mut comp) = (0.0, 0.0);
        for x in [1e16, 1.0, -1e16] {
            neumaier_add(&mut sum, &mut comp, x);
        }
        assert_eq!(sum + comp, 1.0);
    }
}
