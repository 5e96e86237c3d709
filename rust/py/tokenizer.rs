//! Bindings for `rust/tokenize`: `Tokenizer`, `StreamDecoder`, `BpeTrainer`, `pad`.

use std::path::PathBuf;
use std::sync::Arc;

use numpy::ndarray::Array2;
use numpy::{IntoPyArray, PyArray1, PyArray2, PyReadonlyArray1};
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedStr;
use pyo3::types::{PyBytes, PyDict};

use super::errors::IntoPyResult;
use super::interrupt::{self, LONG};
use crate::tokenize::formats::{hf, merges_txt, tiktoken};
use crate::tokenize::stream::{encode_path, IdFormat};
use crate::tokenize::train::Trainer;
use crate::tokenize::{encode, ucs, SpecialPolicy, StreamDecoder, Tokenizer, Utf8Policy};

#[pyclass(name = "Tokenizer", module = "seqfast._core", frozen)]
pub struct PyTokenizer {
    inner: Arc<Tokenizer>,
}

impl PyTokenizer {
    fn wrap(t: Tokenizer) -> Self {
        PyTokenizer { inner: Arc::new(t) }
    }

    /// A handle on a core tokenizer another object also holds (no copy).
    pub(super) fn from_arc(inner: Arc<Tokenizer>) -> Self {
        PyTokenizer { inner }
    }
}

/// A Python `str` built directly in CPython's canonical layout (1, 2 or 4 bytes per
/// character, chosen exactly by `ucs::layout`), filled with the GIL released: one pass instead
/// of CPython decoding the UTF-8 again.
fn new_str<'py>(py: Python<'py>, s: &str) -> PyResult<Bound<'py, PyAny>> {
    let (n, bound) = py.detach(|| ucs::layout(s));
    // SAFETY: PyUnicode_New returns a new, uninitialised compact string of `n` characters of
    // the kind `bound` selects; we own the only reference and write exactly `n` units of that
    // kind before anyone can see it.
    unsafe {
        let obj = pyo3::ffi::PyUnicode_New(n as pyo3::ffi::Py_ssize_t, bound);
        if obj.is_null() {
            return Err(PyErr::fetch(py));
        }
        let data = pyo3::ffi::PyUnicode_DATA(obj) as usize;
        py.detach(|| match bound {
            127 => std::slice::from_raw_parts_mut(data as *mut u8, n).copy_from_slice(s.as_bytes()),
            255 => ucs::to_ucs1(s, std::slice::from_raw_parts_mut(data as *mut u8, n)),
            0xFFFF => ucs::to_ucs2(s, std::slice::from_raw_parts_mut(data as *mut u16, n)),
            _ => ucs::to_ucs4(s, std::slice::from_raw_parts_mut(data as *mut u32, n)),
        });
        Ok(Bound::from_owned_ptr(py, obj))
    }
}

fn ids_slice<'a>(ids: &'a PyReadonlyArray1<'_, u32>) -> PyResult<&'a [u32]> {
    ids.as_slice().map_err(|_| super::errors::ShapeError::new_err("ids must be a contiguous 1-D uint32 array"))
}

#[pymethods]
impl PyTokenizer {
    /// Load a tiktoken rank file.
    #[staticmethod]
    #[pyo3(signature = (path, pattern, special_tokens=None))]
    fn from_tiktoken(py: Python<'_>, path: PathBuf, pattern: String, special_tokens: Option<Vec<(String, u32)>>) -> PyResult<Self> {
        py.detach(|| tiktoken::load(&path, &pattern, special_tokens)).py().map(Self::wrap)
    }

    /// Load a Hugging Face `tokenizer.json`.
    #[staticmethod]
    fn from_hf_file(py: Python<'_>, path: PathBuf) -> PyResult<Self> {
        py.detach(|| hf::load(&path)).py().map(Self::wrap)
    }

    /// Parse a Hugging Face `tokenizer.json` document given as a string.
    #[staticmethod]
    fn from_hf_str(py: Python<'_>, text: &str) -> PyResult<Self> {
        let text = text.to_owned();
        py.detach(|| hf::parse(&text, "<string>")).py().map(Self::wrap)
    }

    /// Load GPT-2 style `vocab.json` + `merges.txt`.
    #[staticmethod]
    #[pyo3(signature = (vocab_path, merges_path, pattern, special_tokens=Vec::new()))]
    fn from_merges(
        py: Python<'_>,
        vocab_path: PathBuf,
        merges_path: PathBuf,
        pattern: String,
        special_tokens: Vec<(String, u32)>,
    ) -> PyResult<Self> {
        py.detach(|| merges_txt::load(&vocab_path, &merges_path, &pattern, special_tokens)).py().map(Self::wrap)
    }

    fn encode<'py>(&self, py: Python<'py>, text: &str, special: &str) -> PyResult<Bound<'py, PyArray1<u32>>> {
        let policy = SpecialPolicy::parse(special).py()?;
        let t = &self.inner;
        let ids = if text.len() < 4096 {
            t.encode(text, policy).py()?
        } else if text.len() < LONG {
            py.detach(|| t.encode(text, policy)).py()?
        } else {
            interrupt::run(py, Some(1), true, || t.encode(text, policy))?
        };
        Ok(ids.into_pyarray(py))
    }

    /// Encode one large text with all threads (same ids as `encode`).
    #[pyo3(signature = (text, special, num_threads=None))]
    fn encode_large<'py>(
        &self,
        py: Python<'py>,
        text: &str,
        special: &str,
        num_threads: Option<usize>,
    ) -> PyResult<Bound<'py, PyArray1<u32>>> {
        let policy = SpecialPolicy::parse(special).py()?;
        let t = &self.inner;
        let ids = interrupt::run(py, num_threads, text.len() >= LONG, || t.encode_large(text, policy, num_threads))?;
        Ok(ids.into_pyarray(py))
    }

    #[pyo3(signature = (texts, special, num_threads=None))]
    fn encode_batch<'py>(
        &self,
        py: Python<'py>,
        texts: Vec<PyBackedStr>,
        special: &str,
        num_threads: Option<usize>,
    ) -> PyResult<super::convert::CsrOut<'py>> {
        let policy = SpecialPolicy::parse(special).py()?;
        let t = &self.inner;
        let long = texts.len() >= 4096 || texts.iter().map(|s| s.len()).sum::<usize>() >= LONG;
        let (ids, offsets) = interrupt::run(py, num_threads, long, || t.encode_batch(&texts, policy, num_threads))?;
        Ok((ids.into_pyarray(py), offsets.into_pyarray(py)))
    }

    /// Stream-encode a file (None: stdin) to a file (None: stdout) as text or raw ids.
    #[pyo3(signature = (input, output, format, special, num_threads=None))]
    fn encode_file(
        &self,
        py: Python<'_>,
        input: Option<PathBuf>,
        output: Option<PathBuf>,
        format: &str,
        special: &str,
        num_threads: Option<usize>,
    ) -> PyResult<u64> {
        let policy = SpecialPolicy::parse(special).py()?;
        let fmt = IdFormat::parse(format).py()?;
        let t = &self.inner;
        interrupt::run(py, num_threads, true, || encode_path(t, input.as_deref(), output.as_deref(), fmt, policy, num_threads))
    }

    fn count(&self, py: Python<'_>, text: &str, special: &str) -> PyResult<usize> {
        let policy = SpecialPolicy::parse(special).py()?;
        let t = &self.inner;
        interrupt::run(py, Some(1), text.len() >= LONG, || t.count(text, policy))
    }

    fn decode<'py>(&self, py: Python<'py>, ids: PyReadonlyArray1<'_, u32>, errors: &str) -> PyResult<Bound<'py, PyAny>> {
        let policy = Utf8Policy::parse(errors).py()?;
        let ids = ids_slice(&ids)?;
        let t = &self.inner;
        let s = py.detach(|| t.decode(ids, policy)).py()?;
        new_str(py, &s)
    }

    fn decode_bytes<'py>(&self, py: Python<'py>, ids: PyReadonlyArray1<'_, u32>) -> PyResult<Bound<'py, PyBytes>> {
        let ids = ids_slice(&ids)?;
        let t = &self.inner;
        let len = py.detach(|| t.decoded_len(ids)).py()?;
        // Decode straight into the new bytes object (not yet visible to any other thread).
        PyBytes::new_with(py, len, |buf| py.detach(|| t.decode_to_slice(ids, buf)).py())
    }

    /// Serialise as a Hugging Face `tokenizer.json` string.
    fn to_hf_str(&self, py: Python<'_>) -> PyResult<String> {
        let t = &self.inner;
        py.detach(|| hf::to_string(t)).py()
    }

    fn save_hf(&self, py: Python<'_>, path: PathBuf) -> PyResult<()> {
        let t = &self.inner;
        py.detach(|| hf::save(t, &path)).py()
    }

    #[pyo3(signature = (path, force=false))]
    fn save_tiktoken(&self, py: Python<'_>, path: PathBuf, force: bool) -> PyResult<()> {
        let t = &self.inner;
        py.detach(|| tiktoken::save(t, &path, force)).py()
    }

    #[getter]
    fn vocab_size(&self) -> u32 {
        self.inner.vocab_size()
    }
    #[getter]
    fn n_tokens(&self) -> usize {
        self.inner.vocab().len() + self.inner.specials().tokens().iter().filter(|t| self.inner.vocab().token(t.1).is_none()).count()
    }
    #[getter]
    fn n_merges(&self) -> usize {
        self.inner.vocab().n_merges()
    }
    #[getter]
    fn pattern(&self) -> String {
        self.inner.pretokenizer().spec().to_string()
    }
    #[getter]
    fn pattern_regex(&self) -> String {
        self.inner.pretokenizer().source().to_string()
    }
    #[getter]
    fn add_prefix_space(&self) -> bool {
        self.inner.pretokenizer().add_prefix_space()
    }
    #[getter]
    fn merge_rule(&self) -> &'static str {
        match self.inner.vocab().kind() {
            crate::tokenize::MergeKind::Ranks => "ranks",
            crate::tokenize::MergeKind::List => "merges",
        }
    }
    #[getter]
    fn special_tokens<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        for (s, id) in self.inner.specials().tokens() {
            d.set_item(s, id)?;
        }
        Ok(d)
    }

    fn token_to_id(&self, token: &[u8]) -> Option<u32> {
        self.inner.token_to_id(token)
    }

    fn id_to_token<'py>(&self, py: Python<'py>, id: u32) -> Option<Bound<'py, PyBytes>> {
        self.inner.id_to_token(id).map(|b| PyBytes::new(py, b))
    }

    /// `(ids, tokens)` of every vocabulary entry, specials included.
    fn vocab_items<'py>(&self, py: Python<'py>) -> PyResult<Vec<(u32, Bound<'py, PyBytes>)>> {
        let mut v: Vec<(u32, Bound<'py, PyBytes>)> = self.inner.vocab().iter().map(|(i, b)| (i, PyBytes::new(py, b))).collect();
        for (s, id) in self.inner.specials().tokens() {
            if self.inner.vocab().token(*id).is_none() {
                v.push((*id, PyBytes::new(py, s.as_bytes())));
            }
        }
        v.sort_by_key(|x| x.0);
        Ok(v)
    }

    /// Streaming decoder bound to this tokenizer, holding back `pending` bytes (a copy's state).
    #[pyo3(signature = (errors, pending=None, consumed=0))]
    fn stream_decoder(slf: Bound<'_, Self>, errors: &str, pending: Option<&[u8]>, consumed: usize) -> PyResult<PyStreamDecoder> {
        let policy = Utf8Policy::parse(errors).py()?;
        let mut inner = StreamDecoder::new(policy);
        inner.restore(pending.unwrap_or_default(), consumed);
        Ok(PyStreamDecoder { tok: slf.get().inner.clone(), inner })
    }
}

#[pyclass(name = "StreamDecoder", module = "seqfast._core")]
pub struct PyStreamDecoder {
    tok: Arc<Tokenizer>,
    inner: StreamDecoder,
}

#[pymethods]
impl PyStreamDecoder {
    /// Feed ids; returns the text completed so far (never half a character).
    fn step(&mut self, ids: PyReadonlyArray1<'_, u32>) -> PyResult<String> {
        let ids = ids_slice(&ids)?;
        self.inner.step(&self.tok, ids).py()
    }
    /// Flush held-back bytes (an incomplete character is handled by the `errors` policy).
    fn finish(&mut self) -> PyResult<String> {
        self.inner.finish().py()
    }
    /// Bytes held back waiting for the rest of a character.
    #[getter]
    fn pending<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, self.inner.pending())
    }

    /// `(errors policy, pending bytes, bytes consumed)`: what a copy needs besides the tokenizer.
    fn state<'py>(&self, py: Python<'py>) -> (&'static str, Bound<'py, PyBytes>, usize) {
        (self.inner.policy().name(), PyBytes::new(py, self.inner.pending()), self.inner.consumed())
    }
}

/// `(rows, length)` ids and their boolean mask.
type PaddedOut<'py> = (Bound<'py, PyArray2<u32>>, Bound<'py, PyArray2<bool>>);

/// Pad flat ids + offsets into `(rows, length)` ids and a boolean mask.
#[pyfunction]
#[pyo3(signature = (seqs, pad_id=0, length=None, truncate=false, left=false))]
fn pad<'py>(
    py: Python<'py>,
    seqs: super::convert::CsrIn<'_>,
    pad_id: u32,
    length: Option<usize>,
    truncate: bool,
    left: bool,
) -> PyResult<PaddedOut<'py>> {
    let (ids, offsets) = super::convert::csr(&seqs)?;
    let (out, mask, len) = py.detach(|| encode::pad(ids, offsets, pad_id, length, truncate, left)).py()?;
    let rows = offsets.len() - 1;
    let shape_err = |e: numpy::ndarray::ShapeError| super::errors::ShapeError::new_err(e.to_string());
    let out = Array2::from_shape_vec((rows, len), out).map_err(shape_err)?;
    let mask = Array2::from_shape_vec((rows, len), mask).map_err(shape_err)?;
    Ok((out.into_pyarray(py), mask.into_pyarray(py)))
}

#[pyclass(name = "BpeTrainer", module = "seqfast._core")]
pub struct PyTrainer {
    inner: Trainer,
}

fn progress_fn(cb: Option<Py<PyAny>>) -> Option<impl Fn(&str, u64, u64) + Sync> {
    cb.map(|cb| {
        move |stage: &str, done: u64, total: u64| {
            Python::attach(|py| {
                // A failing progress callback must not abort training; it is advisory only.
                let _ = cb.call1(py, (stage, done, total));
            })
        }
    })
}

#[pymethods]
impl PyTrainer {
    #[new]
    #[pyo3(signature = (pattern, special_tokens=Vec::new()))]
    fn new(pattern: &str, special_tokens: Vec<String>) -> PyResult<Self> {
        Ok(PyTrainer { inner: Trainer::new(pattern, &special_tokens).py()? })
    }

    #[pyo3(signature = (texts, num_threads=None))]
    fn add_texts(&mut self, py: Python<'_>, texts: Vec<PyBackedStr>, num_threads: Option<usize>) -> PyResult<()> {
        let t = &mut self.inner;
        let long = texts.iter().map(|s| s.len()).sum::<usize>() >= LONG;
        interrupt::run(py, num_threads, long, || t.add_texts(&texts, num_threads))
    }

    /// Count words of UTF-8 files; returns the number of files skipped as invalid UTF-8.
    #[pyo3(signature = (paths, num_threads=None, progress=None, skip_invalid=false))]
    fn add_files(
        &mut self,
        py: Python<'_>,
        paths: Vec<PathBuf>,
        num_threads: Option<usize>,
        progress: Option<Py<PyAny>>,
        skip_invalid: bool,
    ) -> PyResult<usize> {
        let t = &mut self.inner;
        let cb = progress_fn(progress);
        interrupt::run(py, num_threads, true, || t.add_files(&paths, num_threads, cb.as_ref().map(|f| f as _), skip_invalid))
    }

    #[pyo3(signature = (vocab_size, min_frequency=2, num_threads=None, progress=None))]
    fn train(
        &self,
        py: Python<'_>,
        vocab_size: u32,
        min_frequency: u64,
        num_threads: Option<usize>,
        progress: Option<Py<PyAny>>,
    ) -> PyResult<PyTokenizer> {
        let t = &self.inner;
        let cb = progress_fn(progress);
        interrupt::run(py, num_threads, true, || t.train(vocab_size, min_frequency, num_threads, cb.as_ref().map(|f| f as _)))
            .map(PyTokenizer::wrap)
    }

    #[getter]
    fn n_words(&self) -> usize {
        self.inner.n_words()
    }
}

/// Drop every thread's piece caches (they refill on the next encode).
#[pyfunction]
fn clear_caches() {
    encode::clear_caches();
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(clear_caches, m)?)?;
    m.add_class::<PyTokenizer>()?;
    m.add_class::<PyStreamDecoder>()?;
    m.add_class::<PyTrainer>()?;
    m.add_function(wrap_pyfunction!(pad, m)?)?;
    Ok(())
}
