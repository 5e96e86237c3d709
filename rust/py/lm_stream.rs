//! Bindings for the streaming command line (`seqfast lm build | score | ppl`, `ngram count`):
//! input from files, the process's stdin (fd 0) or bytes, output to fd 1, files or bytes,
//! all through Rust buffers (`crate::stdio`, `ngram::stream`), never through Python strings.
//!
//! An input is `None` (stdin), `bytes` (an embedding's replaced `sys.stdin`) or a path. A reader
//! of stdout that went away raises `BrokenPipeError`.

use std::path::PathBuf;

use numpy::{IntoPyArray, PyArray1};
use pyo3::exceptions::PyBrokenPipeError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use super::errors::to_py;
use super::interrupt;
use super::lm::{smoothing, NgramModel};
use crate::error::{Error, Result};
use crate::ngram::stream::{self, ScoreOptions};
use crate::stdio::{Input, Stdout};

enum Arg<'py> {
    Stdin,
    Path(PathBuf),
    Bytes(Bound<'py, PyBytes>),
}

fn args<'py>(inputs: &[Bound<'py, PyAny>]) -> PyResult<Vec<Arg<'py>>> {
    inputs
        .iter()
        .map(|x| {
            if x.is_none() {
                Ok(Arg::Stdin)
            } else if let Ok(b) = x.cast::<PyBytes>() {
                Ok(Arg::Bytes(b.clone()))
            } else {
                Ok(Arg::Path(x.extract()?))
            }
        })
        .collect()
}

fn as_inputs<'a>(args: &'a [Arg<'_>]) -> Vec<Input<'a>> {
    args.iter()
        .map(|a| match a {
            Arg::Stdin => Input::Stdin,
            Arg::Path(p) => Input::Path(p),
            Arg::Bytes(b) => Input::Bytes(b.as_bytes()),
        })
        .collect()
}

/// [`interrupt::run`] (always polling: stdin may wait), with a broken pipe as `BrokenPipeError`.
fn run<R: Send>(py: Python<'_>, threads: Option<usize>, f: impl FnOnce() -> Result<R> + Send) -> PyResult<R> {
    interrupt::run(py, threads, true, || Ok(f()))?.map_err(|e| match e {
        Error::Io { msg, kind: std::io::ErrorKind::BrokenPipe } => PyBrokenPipeError::new_err(msg),
        e => to_py(e),
    })
}

/// Estimate a model from the text of `inputs` (one sentence per line), read in Rust.
#[pyfunction]
#[pyo3(signature = (inputs, order, smoothing_name="kneser_ney", discount_fallback=None, prune=None, num_threads=None))]
fn lm_fit_inputs(
    py: Python<'_>,
    inputs: Vec<Bound<'_, PyAny>>,
    order: usize,
    smoothing_name: &str,
    discount_fallback: Option<(f32, f32, f32)>,
    prune: Option<Vec<u64>>,
    num_threads: Option<usize>,
) -> PyResult<NgramModel> {
    let sm = smoothing(smoothing_name, 1.0, 0.4, discount_fallback, prune)?;
    let a = args(&inputs)?;
    let inp = as_inputs(&a);
    let m = run(py, num_threads, || stream::fit_inputs(&inp, order, sm, num_threads))?;
    Ok(NgramModel { m })
}

/// Write `model` as ARPA to the process's stdout (fd 1).
#[pyfunction]
#[pyo3(signature = (model, num_threads=None))]
fn lm_write_arpa_stdout(py: Python<'_>, model: PyRef<'_, NgramModel>, num_threads: Option<usize>) -> PyResult<()> {
    let m = &model.m;
    run(py, num_threads, || stream::write_arpa(m, Stdout::new()))
}

/// Score each line of `inputs`: to fd 1 when `to_stdout`, else returned as bytes.
#[pyfunction]
#[pyo3(signature = (model, inputs, per_token=false, bos=true, eos=true, num_threads=None, to_stdout=true))]
#[allow(clippy::too_many_arguments)]
fn lm_score_inputs<'py>(
    py: Python<'py>,
    model: PyRef<'_, NgramModel>,
    inputs: Vec<Bound<'_, PyAny>>,
    per_token: bool,
    bos: bool,
    eos: bool,
    num_threads: Option<usize>,
    to_stdout: bool,
) -> PyResult<Option<Bound<'py, PyBytes>>> {
    let m = &model.m;
    let a = args(&inputs)?;
    let inp = as_inputs(&a);
    let o = ScoreOptions { bos, eos, threads: num_threads };
    if to_stdout {
        run(py, num_threads, || stream::score_lines(m, &inp, o, per_token, &mut Stdout::new()))?;
        return Ok(None);
    }
    let out = run(py, num_threads, || {
        let mut v = Vec::new();
        stream::score_lines(m, &inp, o, per_token, &mut v).map(|_| v)
    })?;
    Ok(Some(PyBytes::new(py, &out)))
}

/// `(sentences, tokens, oov, sum of log10)` over the lines of `inputs`.
#[pyfunction]
#[pyo3(signature = (model, inputs, bos=true, eos=true, num_threads=None))]
fn lm_ppl_inputs(
    py: Python<'_>,
    model: PyRef<'_, NgramModel>,
    inputs: Vec<Bound<'_, PyAny>>,
    bos: bool,
    eos: bool,
    num_threads: Option<usize>,
) -> PyResult<(u64, u64, u64, f64)> {
    let m = &model.m;
    let a = args(&inputs)?;
    let inp = as_inputs(&a);
    let p = run(py, num_threads, || stream::perplexity_lines(m, &inp, ScoreOptions { bos, eos, threads: num_threads }))?;
    Ok((p.sentences, p.tokens, p.oov, p.log10))
}

type WordArrays<'py> = (Bound<'py, PyArray1<u32>>, Bound<'py, PyArray1<i64>>, Vec<String>);

/// Whitespace words of `inputs` (one sentence per non-empty line) as `(ids, offsets, vocab)`,
/// after the words already in `vocab`.
#[pyfunction]
#[pyo3(signature = (inputs, vocab, num_threads=None))]
fn ngram_words_inputs<'py>(
    py: Python<'py>,
    inputs: Vec<Bound<'_, PyAny>>,
    vocab: Vec<String>,
    num_threads: Option<usize>,
) -> PyResult<WordArrays<'py>> {
    let a = args(&inputs)?;
    let inp = as_inputs(&a);
    let mut vocab = vocab;
    let (ids, offsets) = run(py, num_threads, || stream::words_inputs(&inp, &mut vocab))?;
    Ok((ids.into_pyarray(py), offsets.into_pyarray(py), vocab))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(lm_fit_inputs, m)?)?;
    m.add_function(wrap_pyfunction!(lm_write_arpa_stdout, m)?)?;
    m.add_function(wrap_pyfunction!(lm_score_inputs, m)?)?;
    m.add_function(wrap_pyfunction!(lm_ppl_inputs, m)?)?;
    m.add_function(wrap_pyfunction!(ngram_words_inputs, m)?)?;
    Ok(())
}
