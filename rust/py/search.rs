//! Bindings for decoding (`rust/search/`): scorers from Python objects, beam search, greedy,
//! sampling.
//!
//! A scorer crosses as a tree of small `#[pyclass]`es that `seqfast/search.py` builds per
//! search: [`NgramScorerSpec`] (an n-gram model and its prompts), [`DecoderSpec`] (packed
//! decoder weights and the per-search arrays: h0, c0, encoder memory, memory lengths; shapes
//! read here from the arrays), [`CallScorerSpec`] (a Python callable and its vocabulary size)
//! and [`WeightedSpec`] (weighted parts). Options cross as dicts read by name
//! ([`BeamIn`], [`SampleIn`]). Trees without a Python callable run with the GIL released. An
//! exception raised by a Python scorer is re-raised as is (with its traceback).

use std::cell::RefCell;
use std::rc::Rc;

use numpy::{IntoPyArray, PyReadonlyArray1, PyReadonlyArray2, PyReadonlyArray3, PyUntypedArrayMethods};
use pyo3::prelude::*;
use pyo3::types::PyList;

use super::errors::{IntoPyResult, ShapeError};
use super::lm::NgramModel;
use crate::error::{Error, Result};
use crate::ngram::Model;
use crate::search::decoder::{AttnArrays, DecoderWeights, LayerArrays, LstmDecoder};
use crate::search::scorers::{NgramScorer, Weighted};
use crate::search::{self, BeamOptions, Hyp, LengthPenalty, SampleOptions, Scorer, Stopping};

/// An n-gram model as a native scorer; `prompts`: one id array per batch item (empty list:
/// every item starts at `<s>`).
#[pyclass(module = "seqfast._core", frozen)]
pub struct NgramScorerSpec {
    model: Py<NgramModel>,
    prompts: Vec<Vec<u32>>,
    allow_unk: bool,
    per_word: bool,
}

#[pymethods]
impl NgramScorerSpec {
    #[new]
    #[pyo3(signature = (model, prompts, allow_unk = false, per_word = false))]
    fn new(model: Py<NgramModel>, prompts: Vec<PyReadonlyArray1<'_, u32>>, allow_unk: bool, per_word: bool) -> Self {
        let prompts = prompts.iter().map(|p| p.as_array().to_vec()).collect();
        NgramScorerSpec { model, prompts, allow_unk, per_word }
    }
}

/// A native recurrent decoder for one search: its packed weights, `h0` / `c0` (layers, batch,
/// H), the encoder `memory` (batch, S, He) and `memory_lengths` (batch,) int64.
#[pyclass(module = "seqfast._core", frozen)]
pub struct DecoderSpec {
    weights: Py<LstmDecoderWeights>,
    h0: Vec<f32>,
    c0: Vec<f32>,
    memory: Vec<f32>,
    s: usize,
    memory_lengths: Vec<i64>,
}

#[pymethods]
impl DecoderSpec {
    #[new]
    #[pyo3(signature = (weights, h0 = None, c0 = None, memory = None, memory_lengths = None))]
    fn new(
        weights: Py<LstmDecoderWeights>,
        h0: Option<PyReadonlyArray3<'_, f32>>,
        c0: Option<PyReadonlyArray3<'_, f32>>,
        memory: Option<PyReadonlyArray3<'_, f32>>,
        memory_lengths: Option<PyReadonlyArray1<'_, i64>>,
    ) -> Self {
        let flat = |a: &Option<PyReadonlyArray3<'_, f32>>| a.as_ref().map_or_else(Vec::new, |a| a.as_array().iter().copied().collect());
        DecoderSpec {
            weights,
            h0: flat(&h0),
            c0: flat(&c0),
            s: memory.as_ref().map_or(0, |m| m.shape()[1]),
            memory: flat(&memory),
            memory_lengths: memory_lengths.map_or_else(Vec::new, |l| l.as_array().to_vec()),
        }
    }
}

/// A Python callable scorer and its vocabulary size.
#[pyclass(module = "seqfast._core", frozen)]
pub struct CallScorerSpec {
    f: Py<PyAny>,
    vocab_size: usize,
}

#[pymethods]
impl CallScorerSpec {
    #[new]
    fn new(f: Py<PyAny>, vocab_size: usize) -> Self {
        CallScorerSpec { f, vocab_size }
    }
}

/// A weighted sum of scorer specs.
#[pyclass(module = "seqfast._core", frozen)]
pub struct WeightedSpec {
    parts: Vec<(Py<PyAny>, f32)>,
}

#[pymethods]
impl WeightedSpec {
    #[new]
    fn new(parts: Vec<(Py<PyAny>, f32)>) -> Self {
        WeightedSpec { parts }
    }
}

#[derive(FromPyObject)]
enum SpecIn<'py> {
    Ngram(Bound<'py, NgramScorerSpec>),
    Decoder(Bound<'py, DecoderSpec>),
    Call(Bound<'py, CallScorerSpec>),
    Sum(Bound<'py, WeightedSpec>),
}

enum Spec<'py> {
    Call(Bound<'py, PyAny>, usize),
    Lstm(Bound<'py, DecoderSpec>),
    Ngram(Bound<'py, NgramScorerSpec>),
    Sum(Vec<(Spec<'py>, f32)>),
}

fn parse<'py>(obj: &Bound<'py, PyAny>) -> PyResult<Spec<'py>> {
    Ok(match obj.extract::<SpecIn<'py>>()? {
        SpecIn::Ngram(n) => Spec::Ngram(n),
        SpecIn::Decoder(d) => Spec::Lstm(d),
        SpecIn::Call(c) => {
            let c = c.get();
            Spec::Call(c.f.bind(obj.py()).clone(), c.vocab_size)
        }
        SpecIn::Sum(w) => Spec::Sum(w.get().parts.iter().map(|(s, w)| Ok((parse(s.bind(obj.py()))?, *w))).collect::<PyResult<_>>()?),
    })
}

/// The same tree with the models borrowed (Send: no Python objects).
enum Native<'a> {
    Ngram(&'a Model, &'a [Vec<u32>], bool, bool),
    Lstm(&'a DecoderWeights, [&'a [f32]; 3], usize, &'a [i64]),
    Sum(Vec<(Native<'a>, f32)>),
}

fn native<'a>(s: &'a Spec<'_>) -> Option<Native<'a>> {
    match s {
        Spec::Call(..) => None,
        Spec::Ngram(n) => {
            let n = n.get();
            Some(Native::Ngram(&n.model.get().m, &n.prompts, n.allow_unk, n.per_word))
        }
        Spec::Lstm(d) => {
            let d = d.get();
            Some(Native::Lstm(&d.weights.get().w, [&d.h0, &d.c0, &d.memory], d.s, &d.memory_lengths))
        }
        Spec::Sum(parts) => Some(Native::Sum(parts.iter().map(|(s, w)| Some((native(s)?, *w))).collect::<Option<_>>()?)),
    }
}

fn build_native<'a>(n: &Native<'a>, batch: usize) -> Result<Box<dyn Scorer + Send + 'a>> {
    Ok(match n {
        Native::Ngram(m, prompts, allow_unk, per_word) => {
            let p: Vec<&[u32]> = if prompts.is_empty() { vec![&[][..]; batch] } else { prompts.iter().map(|p| &p[..]).collect() };
            if p.len() != batch {
                return Err(Error::Shape(format!("{} prompts for a batch of {batch}", p.len())));
            }
            Box::new(NgramScorer::new(m, &p, *allow_unk)?.per_word(*per_word))
        }
        Native::Lstm(w, [h0, c0, mem], s, ml) => Box::new(LstmDecoder::new(w, batch, h0, c0, mem, *s, ml)?),
        Native::Sum(parts) => {
            Box::new(Weighted::new(parts.iter().map(|(s, w)| Ok((build_native(s, batch)?, *w))).collect::<Result<_>>()?)?)
        }
    })
}

/// A Python callable scorer. Its exception is kept in `err` and re-raised by the binding.
struct PyScorer<'py> {
    f: Bound<'py, PyAny>,
    v: usize,
    err: Rc<RefCell<Option<PyErr>>>,
    step: usize,
}

impl Scorer for PyScorer<'_> {
    fn vocab_size(&self) -> usize {
        self.v
    }

    fn score(&mut self, tokens: &[u32], parents: &[usize], out: &mut [f32]) -> Result<()> {
        self.step += 1;
        let py = self.f.py();
        let t = tokens.to_vec().into_pyarray(py);
        let p: Vec<i64> = parents.iter().map(|&x| x as i64).collect();
        let r = self.f.call1((t, p.into_pyarray(py))).and_then(|r| {
            let a: PyReadonlyArray2<f32> = r.extract().map_err(|_| {
                let what = match r.getattr("dtype") {
                    Ok(d) => format!("an array of dtype {d} and shape {}", r.getattr("shape").map(|s| s.to_string()).unwrap_or_default()),
                    Err(_) => format!("a {}", r.get_type().name().map(|n| n.to_string()).unwrap_or_default()),
                };
                pyo3::exceptions::PyTypeError::new_err(format!(
                    "the scorer returned {what} at step {}; expected a 2-D float32 array of shape ({}, {})",
                    self.step,
                    tokens.len(),
                    self.v
                ))
            })?;
            if a.shape() != [tokens.len(), self.v] {
                return Err(ShapeError::new_err(format!(
                    "the scorer returned shape ({}) at step {}; expected ({}, {}) (live hypotheses x vocabulary)",
                    a.shape().iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", "),
                    self.step,
                    tokens.len(),
                    self.v
                )));
            }
            match a.as_slice() {
                Ok(s) => out.copy_from_slice(s),
                Err(_) => {
                    for (o, x) in out.iter_mut().zip(a.as_array().iter()) {
                        *o = *x;
                    }
                }
            }
            Ok(())
        });
        r.map_err(|e| {
            *self.err.borrow_mut() = Some(e);
            Error::Value("the Python scorer failed".into())
        })
    }
}

fn build_any<'a, 'py>(s: &'a Spec<'py>, batch: usize, err: &Rc<RefCell<Option<PyErr>>>) -> Result<Box<dyn Scorer + 'a>> {
    if let Some(n) = native(s) {
        // Box<dyn Scorer + Send> is a Box<dyn Scorer>; the native tree borrows from `s`.
        let b: Box<dyn Scorer + Send + 'a> = build_native(&n, batch)?;
        return Ok(b);
    }
    Ok(match s {
        Spec::Call(f, v) => Box::new(PyScorer { f: f.clone(), v: *v, err: err.clone(), step: 0 }),
        Spec::Sum(parts) => {
            Box::new(Weighted::new(parts.iter().map(|(p, w)| Ok((build_any(p, batch, err)?, *w))).collect::<Result<_>>()?)?)
        }
        Spec::Ngram(_) | Spec::Lstm(_) => unreachable!("n-gram and decoder specs are native"),
    })
}

fn run<'py, R: Send>(
    py: Python<'py>,
    spec: &Bound<'py, PyAny>,
    batch: usize,
    threads: Option<usize>,
    f: impl Fn(&mut dyn Scorer) -> Result<R> + Sync,
) -> PyResult<R> {
    let spec = parse(spec)?;
    if let Some(n) = native(&spec) {
        // Native scorers run with the GIL released, on the requested pool.
        return super::interrupt::run(py, threads, true, || build_native(&n, batch).and_then(|mut s| f(&mut *s)));
    }
    let err = Rc::new(RefCell::new(None));
    let res = build_any(&spec, batch, &err).and_then(|mut s| f(&mut *s));
    if let Some(e) = err.borrow_mut().take() {
        return Err(e);
    }
    res.py()
}

fn hyps_to_py<'py>(py: Python<'py>, items: Vec<Vec<Hyp>>) -> PyResult<Bound<'py, PyList>> {
    let out = PyList::empty(py);
    for hs in items {
        let l = PyList::empty(py);
        for h in hs {
            l.append((h.tokens.into_pyarray(py), h.score, h.logprob, h.finished))?;
        }
        out.append(l)?;
    }
    Ok(out)
}

/// Beam search options, read by name from a dict (`seqfast.search.beam_search`'s keywords).
#[derive(FromPyObject)]
#[pyo3(from_item_all)]
struct BeamIn {
    beam_width: usize,
    max_len: usize,
    bos: u32,
    eos: u32,
    min_len: usize,
    n_best: Option<usize>,
    length_penalty: String,
    alpha: f64,
    stopping: String,
    no_repeat_ngram_size: usize,
    banned: Vec<u32>,
}

impl BeamIn {
    fn options(self) -> PyResult<BeamOptions> {
        let penalty = match self.length_penalty.as_str() {
            "none" => LengthPenalty::None,
            "length" => LengthPenalty::Length(self.alpha),
            "gnmt" => LengthPenalty::Gnmt(self.alpha),
            other => return Err(Error::Value(format!("length_penalty={other:?} is not one of 'none', 'length', 'gnmt'"))).py(),
        };
        let stopping = match self.stopping.as_str() {
            "early" => Stopping::Early,
            "exact" => Stopping::Exact,
            other => return Err(Error::Value(format!("stopping={other:?} is not 'early' or 'exact'"))).py(),
        };
        Ok(BeamOptions {
            beam_width: self.beam_width,
            max_len: self.max_len,
            min_len: self.min_len,
            bos: self.bos,
            eos: self.eos,
            n_best: self.n_best.unwrap_or(self.beam_width),
            penalty,
            stopping,
            no_repeat_ngram: self.no_repeat_ngram_size,
            banned: self.banned,
        })
    }
}

/// Greedy / sampling options, read by name from a dict (`seqfast.search.sample`'s keywords;
/// greedy ignores the last four).
#[derive(FromPyObject)]
#[pyo3(from_item_all)]
struct SampleIn {
    max_len: usize,
    min_len: usize,
    bos: u32,
    eos: u32,
    banned: Vec<u32>,
    seed: u64,
    temperature: f64,
    top_k: usize,
    top_p: f64,
}

#[pyfunction]
#[pyo3(signature = (scorer, batch_size, options, num_threads=None))]
fn beam_search<'py>(
    py: Python<'py>,
    scorer: &Bound<'py, PyAny>,
    batch_size: usize,
    options: BeamIn,
    num_threads: Option<usize>,
) -> PyResult<Bound<'py, PyList>> {
    let o = options.options()?;
    let res = run(py, scorer, batch_size, num_threads, |s| search::beam_search(s, batch_size, &o))?;
    hyps_to_py(py, res)
}

#[pyfunction]
#[pyo3(signature = (scorer, batch_size, options, greedy, num_threads=None))]
fn sample<'py>(
    py: Python<'py>,
    scorer: &Bound<'py, PyAny>,
    batch_size: usize,
    options: SampleIn,
    greedy: bool,
    num_threads: Option<usize>,
) -> PyResult<Bound<'py, PyList>> {
    let SampleIn { max_len, min_len, bos, eos, banned, seed, temperature, top_k, top_p } = options;
    let o = SampleOptions { max_len, min_len, bos, eos, banned, seed, temperature, top_k, top_p };
    let pick = if greedy { search::greedy } else { search::sample };
    let res = run(py, scorer, batch_size, num_threads, |s| pick(s, batch_size, &o))?;
    hyps_to_py(py, res.into_iter().map(|h| vec![h]).collect())
}

/// One recurrent layer from Python: weight_ih, weight_hh (G H, H), bias_ih, bias_hh.
type LayerIn<'py> = (PyReadonlyArray2<'py, f32>, PyReadonlyArray2<'py, f32>, PyReadonlyArray1<'py, f32>, PyReadonlyArray1<'py, f32>);

/// Attention from Python: weight_a (H, He) (None for "dot": He = H), weight_c (Hc, He + H), bias_c.
type AttIn<'py> = (Option<PyReadonlyArray2<'py, f32>>, PyReadonlyArray2<'py, f32>, PyReadonlyArray1<'py, f32>);

/// Pre-packed weights of a native LSTM decoder (see `seqfast.search.LSTMDecoder`).
#[pyclass(module = "seqfast._core", frozen)]
pub struct LstmDecoderWeights {
    w: DecoderWeights,
}

#[pymethods]
impl LstmDecoderWeights {
    /// The hidden size H comes from the first layer's weight_hh, He from weight_a.
    #[new]
    #[pyo3(signature = (cell, emb, layers, out_w, out_b, attention=None))]
    fn new(
        py: Python<'_>,
        cell: &str,
        emb: PyReadonlyArray2<'_, f32>,
        layers: Vec<LayerIn<'_>>,
        out_w: PyReadonlyArray2<'_, f32>,
        out_b: PyReadonlyArray1<'_, f32>,
        attention: Option<AttIn<'_>>,
    ) -> PyResult<Self> {
        let cont = |e: numpy::AsSliceError| ShapeError::new_err(format!("decoder arrays must be contiguous: {e}"));
        let (vin, e) = (emb.shape()[0], emb.shape()[1]);
        let h = layers.first().ok_or_else(|| ShapeError::new_err("a decoder needs at least one layer"))?.1.shape()[1];
        let v = out_w.shape()[0];
        let arrays: Vec<LayerArrays> = layers
            .iter()
            .map(|(a, b, c, d)| {
                Ok(LayerArrays {
                    w_ih: a.as_slice().map_err(cont)?,
                    w_hh: b.as_slice().map_err(cont)?,
                    b_ih: c.as_slice().map_err(cont)?,
                    b_hh: d.as_slice().map_err(cont)?,
                })
            })
            .collect::<PyResult<_>>()?;
        let (es, ows, obs) = (emb.as_slice().map_err(cont)?, out_w.as_slice().map_err(cont)?, out_b.as_slice().map_err(cont)?);
        let gru = match cell {
            "lstm" => false,
            "gru" => true,
            _ => return Err(Error::Value(format!("cell={cell:?} is not 'lstm' or 'gru'"))).py(),
        };
        let att = match &attention {
            None => None,
            Some((wa, wc, bc)) => Some(AttnArrays {
                wa: wa.as_ref().map_or(Ok(&[][..]), |a| a.as_slice()).map_err(cont)?,
                he: wa.as_ref().map_or(h, |a| a.shape()[1]),
                wc: wc.as_slice().map_err(cont)?,
                hc: wc.shape()[0],
                bc: bc.as_slice().map_err(cont)?,
            }),
        };
        let w = py.detach(|| DecoderWeights::new(gru, es, vin, e, h, &arrays, ows, v, obs, att)).py()?;
        Ok(LstmDecoderWeights { w })
    }

    #[getter]
    fn vocab_size(&self) -> usize {
        self.w.vocab_size()
    }
}

/// The vocabulary size of an n-gram model (without building the list of its words).
#[pyfunction]
fn ngram_vocab_size(model: &Bound<'_, NgramModel>) -> usize {
    model.get().m.vocab.len()
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(ngram_vocab_size, m)?)?;
    m.add_class::<LstmDecoderWeights>()?;
    m.add_class::<NgramScorerSpec>()?;
    m.add_class::<DecoderSpec>()?;
    m.add_class::<CallScorerSpec>()?;
    m.add_class::<WeightedSpec>()?;
    m.add_function(wrap_pyfunction!(beam_search, m)?)?;
    m.add_function(wrap_pyfunction!(sample, m)?)?;
    Ok(())
}
