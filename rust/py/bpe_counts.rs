//! Bindings for the BPE trainer's piece-count table (`rust/tokenize/train.rs`): `BpeCounts`,
//! the per-partition value of distributed BPE training. Count a partition's texts, merge the
//! tables (exact integer sums, any grouping), send them as canonical bytes, train on the sum:
//! the merges equal those `BpeTrainer` learns from all the texts at once.

use pyo3::prelude::*;
use pyo3::pybacked::PyBackedStr;
use pyo3::types::PyBytes;
use std::sync::Arc;

use super::errors::{IntoPyResult, SeqfastError};
use super::interrupt::{self, LONG};
use super::tokenizer::PyTokenizer;
use crate::tokenize::train::Trainer;

#[pyclass(name = "BpeCounts", module = "seqfast._core")]
pub struct PyBpeCounts {
    inner: Trainer,
    pattern: String,
    specials: Vec<String>,
}

impl PyBpeCounts {
    fn empty(pattern: &str, specials: &[String]) -> PyResult<Self> {
        Ok(PyBpeCounts { inner: Trainer::new(pattern, specials).py()?, pattern: pattern.to_string(), specials: specials.to_vec() })
    }
}

#[pymethods]
impl PyBpeCounts {
    #[new]
    #[pyo3(signature = (pattern, special_tokens=Vec::new()))]
    fn new(pattern: &str, special_tokens: Vec<String>) -> PyResult<Self> {
        Self::empty(pattern, &special_tokens)
    }

    /// Count the pre-tokenized pieces of texts (each text on its own, as `BpeTrainer` does).
    #[pyo3(signature = (texts, num_threads=None))]
    fn add_texts(&mut self, py: Python<'_>, texts: Vec<PyBackedStr>, num_threads: Option<usize>) -> PyResult<()> {
        let t = &mut self.inner;
        let long = texts.iter().map(|s| s.len()).sum::<usize>() >= LONG;
        interrupt::run(py, num_threads, long, || t.add_texts(&texts, num_threads))
    }

    /// Add a table given in the canonical byte form of `to_bytes`.
    fn add_bytes(&mut self, py: Python<'_>, data: &[u8]) -> PyResult<()> {
        let t = &mut self.inner;
        py.detach(|| t.add_counts_bytes(data)).py()
    }

    /// The canonical byte form: pieces sorted, front-coded (equal tables give equal bytes).
    fn to_bytes<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        let t = &self.inner;
        let b = py.detach(|| t.counts_to_bytes());
        PyBytes::new(py, &b)
    }

    /// A new table holding this one's counts plus each of `others`' (same pattern and specials).
    fn merged(&self, py: Python<'_>, others: Vec<PyRef<'_, PyBpeCounts>>) -> PyResult<PyBpeCounts> {
        for (i, o) in others.iter().enumerate() {
            if o.pattern != self.pattern || o.specials != self.specials {
                return Err(SeqfastError::new_err(format!(
                    "cannot merge BPE piece counts made with different settings: pattern {:?} and special tokens {:?} \
                     vs (part {}) pattern {:?} and special tokens {:?}",
                    self.pattern,
                    self.specials,
                    i + 1,
                    o.pattern,
                    o.specials
                )));
            }
        }
        let mut out = Self::empty(&self.pattern, &self.specials)?;
        let parts: Vec<&Trainer> = std::iter::once(&self.inner).chain(others.iter().map(|o| &o.inner)).collect();
        let acc = &mut out.inner;
        py.detach(|| parts.iter().for_each(|p| acc.add_counts_from(p)));
        Ok(out)
    }

    /// Learn merges from the counts (exactly as `BpeTrainer.train` on the same texts).
    #[pyo3(signature = (vocab_size, min_frequency=2, num_threads=None))]
    fn train(&self, py: Python<'_>, vocab_size: u32, min_frequency: u64, num_threads: Option<usize>) -> PyResult<PyTokenizer> {
        let t = &self.inner;
        interrupt::run(py, num_threads, true, || t.train(vocab_size, min_frequency, num_threads, None))
            .map(|tok| PyTokenizer::from_arc(Arc::new(tok)))
    }

    /// `(piece bytes, count)` pairs in byte order (for inspection; the table can be large).
    fn items<'py>(&self, py: Python<'py>) -> Vec<(Bound<'py, PyBytes>, u64)> {
        self.inner.piece_counts().into_iter().map(|(k, c)| (PyBytes::new(py, k), c)).collect()
    }

    #[getter]
    fn pattern(&self) -> &str {
        &self.pattern
    }

    #[getter]
    fn special_tokens(&self) -> Vec<String> {
        self.specials.clone()
    }

    /// Number of distinct pieces.
    #[getter]
    fn n_words(&self) -> usize {
        self.inner.n_words()
    }

    /// Number of pieces counted, with multiplicity.
    #[getter]
    fn n_pieces(&self) -> u64 {
        self.inner.n_pieces()
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyBpeCounts>()
}
