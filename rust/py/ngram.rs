//! Bindings for `rust/ngram`: counting and merging sorted n-gram tables.

use numpy::ndarray::Array2;
use numpy::{IntoPyArray, PyArray1, PyArray2, PyReadonlyArray1, PyReadonlyArray2, PyUntypedArrayMethods};
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use super::convert::{csr, CsrIn};
use super::errors::{IntoPyResult, ShapeError};
use super::interrupt::{self, LONG};
use crate::ngram::{self, OrderCounts};

pub(crate) type Table<'py> = (Bound<'py, PyArray2<u32>>, Bound<'py, PyArray1<u64>>);
/// A table as it crosses from Python: `(grams (k, n) uint32, counts (k,) uint64)`.
pub(crate) type TableIn<'py> = (PyReadonlyArray2<'py, u32>, PyReadonlyArray1<'py, u64>);

pub(crate) fn to_py<'py>(py: Python<'py>, t: OrderCounts) -> PyResult<Table<'py>> {
    let rows = t.counts.len();
    let grams = Array2::from_shape_vec((rows, t.n), t.grams).map_err(|e| ShapeError::new_err(e.to_string()))?;
    Ok((grams.into_pyarray(py), t.counts.into_pyarray(py)))
}

pub(crate) fn from_py(grams: &PyReadonlyArray2<'_, u32>, counts: &PyReadonlyArray1<'_, u64>) -> PyResult<OrderCounts> {
    let n = grams.shape()[1];
    let g = grams.as_slice().map_err(|_| ShapeError::new_err("n-gram table must be a C-contiguous (k, n) uint32 array"))?;
    let c = counts.as_slice().map_err(|_| ShapeError::new_err("counts must be a contiguous uint64 array"))?;
    if grams.shape()[0] != c.len() {
        return Err(ShapeError::new_err(format!("{} n-grams but {} counts", grams.shape()[0], c.len())));
    }
    Ok(OrderCounts { n, grams: g.to_vec(), counts: c.to_vec() })
}

/// Count n-grams of orders 1..=order over CSR token sequences.
#[pyfunction]
#[pyo3(signature = (seqs, order, bos=None, eos=None, num_threads=None))]
fn ngram_count<'py>(
    py: Python<'py>,
    seqs: CsrIn<'_>,
    order: usize,
    bos: Option<u32>,
    eos: Option<u32>,
    num_threads: Option<usize>,
) -> PyResult<Vec<Table<'py>>> {
    let (ids, offsets) = csr(&seqs)?;
    let tables = interrupt::run(py, num_threads, ids.len() >= LONG, || ngram::count(ids, offsets, order, bos, eos, num_threads))?;
    tables.into_iter().map(|t| to_py(py, t)).collect()
}

/// Merge two sorted tables of one order (counts add).
#[pyfunction]
fn ngram_merge<'py>(py: Python<'py>, a: TableIn<'_>, b: TableIn<'_>) -> PyResult<Table<'py>> {
    let (a, b) = (from_py(&a.0, &a.1)?, from_py(&b.0, &b.1)?);
    let m = py.detach(|| ngram::merge(&a, &b)).py()?;
    to_py(py, m)
}

/// Counts of query rows `(q, n)` in a sorted table `(k, n)`, without copying the table.
#[pyfunction]
fn ngram_lookup<'py>(py: Python<'py>, table: TableIn<'_>, queries: PyReadonlyArray2<'_, u32>) -> PyResult<Bound<'py, PyArray1<u64>>> {
    let (grams, counts) = table;
    let n = grams.shape()[1];
    if queries.shape()[1] != n {
        return Err(ShapeError::new_err(format!("queries have {} ids per row, the table {n}", queries.shape()[1])));
    }
    let g = grams.as_slice().map_err(|_| ShapeError::new_err("table must be C-contiguous"))?;
    let c = counts.as_slice().map_err(|_| ShapeError::new_err("counts must be contiguous"))?;
    let q = queries.as_slice().map_err(|_| ShapeError::new_err("queries must be C-contiguous"))?;
    let out = py.detach(|| ngram::lookup(g, c, n, q)).py()?;
    Ok(out.into_pyarray(py))
}

/// `(ids, offsets, vocab)` of [`ngram_words`].
type WordsOut<'py> = (Bound<'py, PyArray1<u32>>, Bound<'py, PyArray1<i64>>, Vec<String>);

/// Whitespace words (one sentence per non-empty line) to ids: `(ids, offsets, vocab)`.
#[pyfunction]
#[pyo3(signature = (text, vocab=Vec::new()))]
fn ngram_words<'py>(py: Python<'py>, text: &str, vocab: Vec<String>) -> PyResult<WordsOut<'py>> {
    let mut vocab = vocab;
    let (ids, offsets) = interrupt::run(py, None, text.len() >= LONG, || {
        let r = ngram::text::words(text, &mut vocab);
        crate::parallel::cancel_token().check()?; // `words` stops early when cancelled
        Ok(r)
    })?;
    Ok((ids.into_pyarray(py), offsets.into_pyarray(py), vocab))
}

/// Python count tables (a list of `(grams, counts)` pairs) as Rust tables.
pub(crate) fn tables_from_py(tables: &[TableIn<'_>]) -> PyResult<Vec<OrderCounts>> {
    tables.iter().map(|(g, c)| from_py(g, c)).collect()
}

/// Word-level counts of a text (`str`, or UTF-8 `bytes` named `source` in errors), framed as
/// `NgramLM.fit` frames it: `(tables, vocab)`.
#[pyfunction]
#[pyo3(signature = (text, order, num_threads=None, source="bytes"))]
fn ngram_count_text<'py>(
    py: Python<'py>,
    text: &Bound<'_, PyAny>,
    order: usize,
    num_threads: Option<usize>,
    source: &str,
) -> PyResult<(Vec<Table<'py>>, Vec<String>)> {
    let (tables, vocab) = if let Ok(b) = text.cast::<PyBytes>() {
        let data = b.as_bytes();
        interrupt::run(py, num_threads, data.len() >= LONG, || {
            crate::files::utf8(data, source).and_then(|t| ngram::count_text(t, order, num_threads))
        })
    } else {
        let t: &str = text.extract()?;
        interrupt::run(py, num_threads, t.len() >= LONG, || ngram::count_text(t, order, num_threads))
    }?;
    Ok((tables.into_iter().map(|t| to_py(py, t)).collect::<PyResult<_>>()?, vocab))
}

/// Whether the rows of a C-contiguous `(k, n)` table are strictly increasing (checked on load).
#[pyfunction]
fn ngram_strictly_sorted(py: Python<'_>, grams: PyReadonlyArray2<'_, u32>) -> PyResult<bool> {
    let n = grams.shape()[1];
    let g = grams.as_slice().map_err(|_| ShapeError::new_err("n-gram table must be a C-contiguous (k, n) uint32 array"))?;
    if n == 0 {
        return Ok(grams.shape()[0] <= 1);
    }
    Ok(py.detach(|| g.chunks_exact(n).zip(g.chunks_exact(n).skip(1)).all(|(a, b)| a < b)))
}

/// Sum of word-level counts in text order: `[(tables, vocab), ...]` -> `(tables, vocab)`.
#[pyfunction]
fn ngram_merge_words<'py>(py: Python<'py>, parts: Vec<(Vec<TableIn<'_>>, Vec<String>)>) -> PyResult<(Vec<Table<'py>>, Vec<String>)> {
    let parts = parts.into_iter().map(|(t, v)| Ok((tables_from_py(&t)?, v))).collect::<PyResult<Vec<_>>>()?;
    // Through seqfast's pools (never rayon's global one, which a forked child could not use).
    let (tables, vocab) = interrupt::run(py, None, false, || ngram::shards::merge_words(parts))?;
    Ok((tables.into_iter().map(|t| to_py(py, t)).collect::<PyResult<_>>()?, vocab))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(ngram_words, m)?)?;
    m.add_function(wrap_pyfunction!(ngram_lookup, m)?)?;
    m.add_function(wrap_pyfunction!(ngram_count, m)?)?;
    m.add_function(wrap_pyfunction!(ngram_merge, m)?)?;
    m.add_function(wrap_pyfunction!(ngram_count_text, m)?)?;
    m.add_function(wrap_pyfunction!(ngram_merge_words, m)?)?;
    m.add_function(wrap_pyfunction!(ngram_strictly_sorted, m)?)?;
    Ok(())
}
