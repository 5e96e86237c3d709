//! Bindings for n-gram language models (`rust/ngram/{estimate,kn,model,arpa}.rs`).

use std::path::PathBuf;

use numpy::{IntoPyArray, PyArray1, PyReadonlyArray1};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyString};

use super::convert::{csr, CsrIn};
use super::errors::{IntoPyResult, ShapeError};
use super::interrupt::{self, LONG};
use super::lm_state::LmState;
use super::ngram::TableIn;
use crate::error::Error;
use crate::ngram::model::MAX_ORDER;
use crate::ngram::shards::Labels;
use crate::ngram::{self, arpa, Model, Smoothing};

pub(super) fn smoothing(name: &str, k: f64, alpha: f64, fallback: Option<(f32, f32, f32)>, prune: Option<Vec<u64>>) -> PyResult<Smoothing> {
    let kn = matches!(name, "kneser_ney" | "kn" | "modified_kneser_ney");
    // lmplz's --prune: one threshold per order, the last one repeated for the orders above.
    let mut thresholds = [0u64; MAX_ORDER];
    if let Some(p) = prune.filter(|p| !p.is_empty()) {
        if !kn {
            return Err(Error::Value(format!("prune applies to Kneser-Ney only, not smoothing={name:?}"))).py();
        }
        if p.len() > MAX_ORDER {
            return Err(Error::Value(format!("prune has {} thresholds; at most {MAX_ORDER} orders", p.len()))).py();
        }
        for (i, t) in thresholds.iter_mut().enumerate() {
            *t = p[i.min(p.len() - 1)];
        }
    }
    Ok(match name {
        _ if kn => Smoothing::KneserNey { discount_fallback: fallback.map(|(a, b, c)| [a, b, c]), prune: thresholds },
        "mle" => Smoothing::Mle,
        "add_k" | "laplace" => Smoothing::AddK(if name == "laplace" { 1.0 } else { k }),
        "stupid_backoff" => Smoothing::Stupid(alpha),
        _ => {
            return Err(Error::Value(format!("smoothing={name:?} is not one of 'kneser_ney', 'mle', 'add_k', 'laplace', 'stupid_backoff'")))
                .py()
        }
    })
}

/// The estimation options of `fit_text`, `fit_ids` and `fit_counts`, read by name from a dict
/// (`seqfast/_lm.py`'s `fit_options` builds it).
#[derive(FromPyObject)]
#[pyo3(from_item_all)]
struct SmoothingIn {
    smoothing: String,
    k: f64,
    alpha: f64,
    discount_fallback: Option<(f32, f32, f32)>,
    prune: Option<Vec<u64>>,
}

impl SmoothingIn {
    fn get(self) -> PyResult<Smoothing> {
        smoothing(&self.smoothing, self.k, self.alpha, self.discount_fallback, self.prune)
    }
}

fn slice<'a, T: numpy::Element>(a: &'a PyReadonlyArray1<'_, T>, what: &str) -> PyResult<&'a [T]> {
    a.as_slice().map_err(|_| ShapeError::new_err(format!("{what} must be a contiguous 1-D array")))
}

/// `top_k`'s ids and their probabilities.
type TopK<'py> = (Bound<'py, PyArray1<u32>>, Bound<'py, PyArray1<f32>>);

/// An n-gram language model (see `seqfast.ngram.NgramLM` for the documented API).
/// `(log10 p, n-gram lengths, states after)` of a batch of queries.
type ScoresOut<'py> = (Bound<'py, PyArray1<f32>>, Bound<'py, PyArray1<u8>>, Vec<LmState>);

#[pyclass(module = "seqfast._core", frozen)]
pub struct NgramModel {
    pub(crate) m: Model,
}

type ScoreArrays<'py> =
    (Bound<'py, PyArray1<f32>>, Bound<'py, PyArray1<i64>>, Bound<'py, PyArray1<u8>>, Bound<'py, PyArray1<f64>>, Bound<'py, PyArray1<u32>>);

#[pymethods]
impl NgramModel {
    /// Fit on text: a `str`, or UTF-8 `bytes` used in place (no copy of a large corpus into a
    /// Python str; invalid UTF-8 is an error naming `source` and the line).
    #[staticmethod]
    #[pyo3(signature = (text, order, options, num_threads=None, source="bytes"))]
    fn fit_text(
        py: Python<'_>,
        text: &Bound<'_, PyAny>,
        order: usize,
        options: SmoothingIn,
        num_threads: Option<usize>,
        source: &str,
    ) -> PyResult<Self> {
        let sm = options.get()?;
        let m = if let Ok(b) = text.cast::<PyBytes>() {
            let data = b.as_bytes();
            interrupt::run(py, num_threads, data.len() >= LONG, || {
                crate::files::utf8(data, source).and_then(|t| ngram::fit_text(t, order, sm, num_threads))
            })
        } else {
            let t: &str = text.extract()?;
            interrupt::run(py, num_threads, t.len() >= LONG, || ngram::fit_text(t, order, sm, num_threads))
        }?;
        Ok(NgramModel { m })
    }

    #[staticmethod]
    #[pyo3(signature = (seqs, order, options, vocab_size=None, num_threads=None))]
    fn fit_ids(
        py: Python<'_>,
        seqs: CsrIn<'_>,
        order: usize,
        options: SmoothingIn,
        vocab_size: Option<usize>,
        num_threads: Option<usize>,
    ) -> PyResult<Self> {
        let sm = options.get()?;
        let (ids, offsets) = csr(&seqs)?;
        let m = interrupt::run(py, num_threads, ids.len() >= LONG, || ngram::fit_ids(ids, offsets, vocab_size, order, sm, num_threads))?;
        Ok(NgramModel { m })
    }

    /// Fit from count tables: word-level (`vocab` given; `<unk> <s> </s>` are ids 0-2) or
    /// id-level (framed with `bos`/`eos`; ids below `vocab_size` are the words).
    #[staticmethod]
    #[pyo3(signature = (tables, vocab, bos, eos, options, vocab_size=None, num_threads=None))]
    #[allow(clippy::too_many_arguments)]
    fn fit_counts(
        py: Python<'_>,
        tables: Vec<TableIn<'_>>,
        vocab: Option<Vec<String>>,
        bos: Option<u32>,
        eos: Option<u32>,
        options: SmoothingIn,
        vocab_size: Option<usize>,
        num_threads: Option<usize>,
    ) -> PyResult<Self> {
        let sm = options.get()?;
        let tables = super::ngram::tables_from_py(&tables)?;
        let labels = match (vocab, bos, eos) {
            (Some(words), _, _) => Labels::Words(words),
            (None, Some(bos), Some(eos)) => Labels::Ids { bos, eos, vocab_size },
            _ => {
                return Err(Error::Value(
                    "id-level counts must be framed: count them with bos= and eos= (or use count_words for text)".into(),
                ))
                .py()
            }
        };
        let m = interrupt::run(py, num_threads, true, || ngram::shards::fit_counts(tables, labels, sm))?;
        Ok(NgramModel { m })
    }

    #[staticmethod]
    fn from_arpa(py: Python<'_>, path: PathBuf) -> PyResult<Self> {
        let m = interrupt::run(py, None, true, || arpa::read_file(&path))?;
        Ok(NgramModel { m })
    }

    #[staticmethod]
    fn from_arpa_str(py: Python<'_>, text: &str) -> PyResult<Self> {
        let m = interrupt::run(py, None, text.len() >= LONG, || arpa::read(text, "<string>"))?;
        Ok(NgramModel { m })
    }

    #[pyo3(signature = (path, num_threads=None))]
    fn to_arpa(&self, py: Python<'_>, path: PathBuf, num_threads: Option<usize>) -> PyResult<()> {
        interrupt::run(py, num_threads, true, || arpa::write(&self.m, &path, num_threads))
    }

    /// Write the model to `path` in seqfast's binary format (atomically); `quantize`: 8-bit
    /// probabilities and backoffs, without query tables.
    #[pyo3(signature = (path, quantize=false))]
    fn save(&self, py: Python<'_>, path: PathBuf, quantize: bool) -> PyResult<()> {
        let opts = crate::ngram::binary::Options { tables: !quantize, quantize };
        interrupt::run(py, None, true, || crate::ngram::load::save(&self.m, &path, opts))
    }

    /// A model from a seqfast binary file (mapped) or a KenLM binary file, with the
    /// quantization error bound of a quantized file (0 otherwise).
    #[staticmethod]
    #[pyo3(signature = (path, verify=false))]
    fn load(py: Python<'_>, path: PathBuf, verify: bool) -> PyResult<(Self, f32)> {
        let (m, err) = interrupt::run(py, None, true, || crate::ngram::load::open(&path, verify))?;
        Ok((NgramModel { m }, err))
    }

    /// The model as compact bytes (`ngram::binary`), for pickling.
    fn to_bytes<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let b = py.detach(|| crate::ngram::binary::to_bytes(&self.m));
        Ok(PyBytes::new(py, &b))
    }

    /// A model from `to_bytes` output (bad bytes: `FormatError` naming the offset).
    #[staticmethod]
    fn from_bytes(py: Python<'_>, data: &[u8]) -> PyResult<Self> {
        let m = py.detach(|| crate::ngram::binary::from_bytes(data)).py()?;
        Ok(NgramModel { m })
    }

    fn to_arpa_str(&self, py: Python<'_>) -> PyResult<String> {
        let long = self.m.prob.iter().map(|p| p.len()).sum::<usize>() >= LONG / 16;
        let bytes = interrupt::run(py, None, long, || {
            let mut v = Vec::new();
            arpa::write_to(&self.m, &mut v).map(|_| v)
        })?;
        String::from_utf8(bytes).map_err(|e| Error::Value(format!("model words are not UTF-8: {e}"))).py()
    }

    #[getter]
    fn order(&self) -> usize {
        self.m.order()
    }
    #[getter]
    fn vocab(&self) -> Vec<String> {
        self.m.vocab.clone()
    }
    #[getter]
    fn specials(&self) -> (u32, u32, u32) {
        (self.m.unk, self.m.bos, self.m.eos)
    }
    #[getter]
    fn smoothing(&self) -> String {
        self.m.smoothing.clone()
    }
    fn num_ngrams(&self) -> Vec<usize> {
        (1..=self.m.order()).map(|n| self.m.num_ngrams(n)).collect()
    }

    /// Word strings (one sentence each) to `(ids, offsets)`.
    /// `sentences`: a list of `str` (read in place, not copied).
    fn word_ids<'py>(&self, py: Python<'py>, sentences: &Bound<'py, PyList>) -> PyResult<super::convert::CsrOut<'py>> {
        let mut refs: Vec<&str> = Vec::with_capacity(sentences.len());
        let items: Vec<Bound<'py, PyAny>> = sentences.iter().collect();
        for (i, x) in items.iter().enumerate() {
            let s = x.cast::<PyString>().map_err(|_| {
                pyo3::exceptions::PyTypeError::new_err(format!(
                    "sentences[{i}] must be a str, not {}",
                    x.get_type().name().map(|n| n.to_string()).unwrap_or_default()
                ))
            })?;
            refs.push(s.to_str()?);
        }
        let (ids, off) = interrupt::run(py, None, refs.len() >= 4096, || {
            let r = self.m.word_ids(&refs);
            crate::parallel::cancel_token().check()?; // word_ids stops early when cancelled
            Ok(r)
        })?;
        Ok((ids.into_pyarray(py), off.into_pyarray(py)))
    }

    #[pyo3(signature = (seqs, bos=true, eos=true, num_threads=None))]
    fn score_batch<'py>(
        &self,
        py: Python<'py>,
        seqs: CsrIn<'_>,
        bos: bool,
        eos: bool,
        num_threads: Option<usize>,
    ) -> PyResult<ScoreArrays<'py>> {
        let (ids, offsets) = csr(&seqs)?;
        let s = interrupt::run(py, num_threads, ids.len() >= LONG, || self.m.score_batch(ids, offsets, bos, eos, num_threads))?;
        Ok((
            s.token.into_pyarray(py),
            s.offsets.into_pyarray(py),
            s.ngram_len.into_pyarray(py),
            s.total.into_pyarray(py),
            s.oov.into_pyarray(py),
        ))
    }

    /// Write the state of a sentence start (`bos`: `<s>` as context) or of no context.
    fn state_begin(&self, out: &Bound<'_, LmState>, bos: bool) {
        out.borrow_mut().set(&self.m, self.m.begin(bos));
    }

    /// Id of `word`: `<unk>`'s when the model does not know it (or it is not one word).
    fn word_id(&self, word: &str) -> u32 {
        self.m.word_id(word)
    }

    /// Score word id `w` after `in_state`: `(log10 p, n-gram length)`; the state after the word
    /// goes to `out_state` (which may be `in_state` itself).
    fn base_full_score(&self, in_state: &Bound<'_, LmState>, w: u32, out_state: &Bound<'_, LmState>) -> PyResult<(f32, usize)> {
        self.m.check_ids(&[w], "word").py()?;
        let st = in_state.borrow().s;
        let (p, n, next) = self.m.step(&st, w);
        out_state.borrow_mut().set(&self.m, next);
        Ok((p, n))
    }

    /// [`base_full_score`] for many `(state, word id)` pairs at once (the GIL released, the
    /// memory accesses of all pairs overlapped): `(log10 p, n-gram lengths, states after)`.
    fn base_full_score_batch<'py>(
        &self,
        py: Python<'py>,
        states: Vec<PyRef<'py, LmState>>,
        ids: PyReadonlyArray1<'_, u32>,
    ) -> PyResult<ScoresOut<'py>> {
        let ids = slice(&ids, "words")?;
        if ids.len() != states.len() {
            return Err(ShapeError::new_err(format!("{} states but {} words", states.len(), ids.len())));
        }
        self.m.check_ids(ids, "words").py()?;
        let ins: Vec<ngram::State> = states.iter().map(|s| s.s).collect();
        let outs = py.detach(|| self.m.step_many(&ins, ids));
        let mut probs = Vec::with_capacity(outs.len());
        let mut lens = Vec::with_capacity(outs.len());
        let mut after = Vec::with_capacity(outs.len());
        for (p, n, st) in outs {
            probs.push(p);
            lens.push(n as u8);
            let mut s = LmState::new();
            s.set(&self.m, st);
            after.push(s);
        }
        Ok((probs.into_pyarray(py), lens.into_pyarray(py), after))
    }

    #[pyo3(signature = (context, bos=true))]
    fn distribution<'py>(&self, py: Python<'py>, context: PyReadonlyArray1<'_, u32>, bos: bool) -> PyResult<Bound<'py, PyArray1<f32>>> {
        let c = slice(&context, "context")?;
        self.m.check_ids(c, "context").py()?;
        let d = py.detach(|| self.m.distribution(&self.m.state_after(c, bos)));
        Ok(d.into_pyarray(py))
    }

    #[pyo3(signature = (context, k, bos=true))]
    fn top_k<'py>(&self, py: Python<'py>, context: PyReadonlyArray1<'_, u32>, k: usize, bos: bool) -> PyResult<TopK<'py>> {
        let c = slice(&context, "context")?;
        let (ids, p) = py.detach(|| self.m.top_k(c, bos, k)).py()?;
        Ok((ids.into_pyarray(py), p.into_pyarray(py)))
    }

    #[pyo3(signature = (context, max_len, seed, temperature=1.0, top_k=0, bos=true))]
    #[allow(clippy::too_many_arguments)]
    fn generate<'py>(
        &self,
        py: Python<'py>,
        context: PyReadonlyArray1<'_, u32>,
        max_len: usize,
        seed: u64,
        temperature: f64,
        top_k: usize,
        bos: bool,
    ) -> PyResult<Bound<'py, PyArray1<u32>>> {
        let c = slice(&context, "context")?;
        let out = py
            .detach(|| {
                crate::sampling::Sampler::new(temperature, top_k, 1.0).and_then(|mut s| self.m.generate(c, bos, max_len, seed, &mut s))
            })
            .py()?;
        Ok(out.into_pyarray(py))
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<NgramModel>()?;
    Ok(())
}
