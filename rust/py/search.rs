//! Bindings for decoding (`rust/search/`): scorers from Python objects, beam search, greedy,
//! sampling.
//!
//! A scorer spec from `seqfast/search.py` is a tuple tree: ("call", fn, V) for a Python
//! callable, ("ngram", NgramModel, prompts, allow_unk[, per_word]), ("sum", [(spec, weight), ...]). Trees
//! without a Python callable run with the GIL released. An exception raised by a Python scorer
//! is re-raised as is (with its traceback).

use std::cell::RefCell;
use std::rc::Rc;

use numpy::{IntoPyArray, PyReadonlyArray2, PyUntypedArrayMethods};
use pyo3::prelude::*;
use pyo3::types::{PyList, PyTuple};

use super::errors::IntoPyResult;
use super::lm::NgramModel;
use crate::error::{Error, Result};
use crate::ngram::Model;
use crate::search::decoder::{AttnArrays, DecoderWeights, LayerArrays, LstmDecoder};
use crate::search::scorers::{NgramScorer, Weighted};
use crate::search::{self, BeamOptions, Hyp, LengthPenalty, SampleOptions, Scorer, Stopping};

enum Spec<'py> {
    Call(Bound<'py, PyAny>, usize),
    Lstm(Bound<'py, LstmDecoderWeights>, Vec<f32>, Vec<f32>, Vec<f32>, usize, Vec<i64>),
    Ngram(Bound<'py, NgramModel>, Vec<Vec<u32>>, bool, bool),
    Sum(Vec<(Spec<'py>, f32)>),
}

fn parse<'py>(obj: &Bound<'py, PyAny>) -> PyResult<Spec<'py>> {
    let t = obj.cast::<PyTuple>()?;
    let kind: String = t.get_item(0)?.extract()?;
    Ok(match kind.as_str() {
        "call" => Spec::Call(t.get_item(1)?, t.get_item(2)?.extract()?),
        "ngram" => Spec::Ngram(
            t.get_item(1)?.cast_into::<NgramModel>()?,
            t.get_item(2)?.extract()?,
            t.get_item(3)?.extract()?,
            if t.len() > 4 { t.get_item(4)?.extract()? } else { false },
        ),
        "lstm" => Spec::Lstm(
            t.get_item(1)?.cast_into::<LstmDecoderWeights>()?,
            t.get_item(2)?.extract()?,
            t.get_item(3)?.extract()?,
            t.get_item(4)?.extract()?,
            t.get_item(5)?.extract()?,
            t.get_item(6)?.extract()?,
        ),
        "sum" => {
            let parts: Vec<(Bound<'py, PyAny>, f32)> = t.get_item(1)?.extract()?;
            Spec::Sum(parts.iter().map(|(s, w)| Ok((parse(s)?, *w))).collect::<PyResult<_>>()?)
        }
        _ => return Err(Error::Value(format!("unknown scorer kind {kind:?}"))).py(),
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
        Spec::Ngram(m, p, u, pw) => Some(Native::Ngram(&m.get().m, p, *u, *pw)),
        Spec::Lstm(w, h0, c0, mem, s, ml) => Some(Native::Lstm(&w.get().w, [h0, c0, mem], *s, ml)),
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
                return Err(super::errors::ShapeError::new_err(format!(
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
        Spec::Ngram(..) | Spec::Lstm(..) => unreachable!("n-gram and decoder specs are native"),
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

fn penalty(name: &str, alpha: f64) -> PyResult<LengthPenalty> {
    Ok(match name {
        "none" => LengthPenalty::None,
        "length" => LengthPenalty::Length(alpha),
        "gnmt" => LengthPenalty::Gnmt(alpha),
        _ => return Err(Error::Value(format!("length_penalty={name:?} is not one of 'none', 'length', 'gnmt'"))).py(),
    })
}

#[pyfunction]
#[pyo3(signature = (spec, batch_size, beam_width, max_len, bos, eos, min_len=0, n_best=None, length_penalty="none", alpha=1.0, stopping="exact", no_repeat_ngram_size=0, banned=vec![], num_threads=None))]
#[allow(clippy::too_many_arguments)]
fn beam_search<'py>(
    py: Python<'py>,
    spec: &Bound<'py, PyAny>,
    batch_size: usize,
    beam_width: usize,
    max_len: usize,
    bos: u32,
    eos: u32,
    min_len: usize,
    n_best: Option<usize>,
    length_penalty: &str,
    alpha: f64,
    stopping: &str,
    no_repeat_ngram_size: usize,
    banned: Vec<u32>,
    num_threads: Option<usize>,
) -> PyResult<Bound<'py, PyList>> {
    let stopping = match stopping {
        "early" => Stopping::Early,
        "exact" => Stopping::Exact,
        _ => return Err(Error::Value(format!("stopping={stopping:?} is not 'early' or 'exact'"))).py(),
    };
    let o = BeamOptions {
        beam_width,
        max_len,
        min_len,
        bos,
        eos,
        n_best: n_best.unwrap_or(beam_width),
        penalty: penalty(length_penalty, alpha)?,
        stopping,
        no_repeat_ngram: no_repeat_ngram_size,
        banned,
    };
    let res = run(py, spec, batch_size, num_threads, |s| search::beam_search(s, batch_size, &o))?;
    hyps_to_py(py, res)
}

#[pyfunction]
#[pyo3(signature = (spec, batch_size, max_len, bos, eos, greedy, seed=0, temperature=1.0, top_k=0, top_p=1.0, min_len=0, banned=vec![], num_threads=None))]
#[allow(clippy::too_many_arguments)]
fn sample<'py>(
    py: Python<'py>,
    spec: &Bound<'py, PyAny>,
    batch_size: usize,
    max_len: usize,
    bos: u32,
    eos: u32,
    greedy: bool,
    seed: u64,
    temperature: f64,
    top_k: usize,
    top_p: f64,
    min_len: usize,
    banned: Vec<u32>,
    num_threads: Option<usize>,
) -> PyResult<Bound<'py, PyList>> {
    let o = SampleOptions { max_len, min_len, bos, eos, banned, seed, temperature, top_k, top_p };
    let res =
        run(
            py,
            spec,
            batch_size,
            num_threads,
            |s| {
                if greedy {
                    search::greedy(s, batch_size, &o)
                } else {
                    search::sample(s, batch_size, &o)
                }
            },
        )?;
    hyps_to_py(py, res.into_iter().map(|h| vec![h]).collect())
}

/// One LSTM layer from Python: weight_ih, weight_hh, bias_ih, bias_hh.
type LayerIn<'py> =
    (PyReadonlyArray2<'py, f32>, PyReadonlyArray2<'py, f32>, numpy::PyReadonlyArray1<'py, f32>, numpy::PyReadonlyArray1<'py, f32>);

/// Attention from Python: weight_a (flat; empty for "dot"), He, weight_c (Hc, He + H), bias_c.
type AttIn<'py> = (numpy::PyReadonlyArray1<'py, f32>, usize, PyReadonlyArray2<'py, f32>, numpy::PyReadonlyArray1<'py, f32>);

/// Pre-packed weights of a native LSTM decoder (see `seqfast.search.LSTMDecoder`).
#[pyclass(module = "seqfast._core", frozen)]
pub struct LstmDecoderWeights {
    w: DecoderWeights,
}

#[pymethods]
impl LstmDecoderWeights {
    #[new]
    #[allow(clippy::too_many_arguments)]
    #[pyo3(signature = (cell, emb, layers, hidden, out_w, out_b, attention=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        cell: &str,
        emb: PyReadonlyArray2<'_, f32>,
        layers: Vec<LayerIn<'_>>,
        hidden: usize,
        out_w: PyReadonlyArray2<'_, f32>,
        out_b: numpy::PyReadonlyArray1<'_, f32>,
        attention: Option<AttIn<'_>>,
    ) -> PyResult<Self> {
        let cont = |e: numpy::AsSliceError| super::errors::ShapeError::new_err(format!("decoder arrays must be contiguous: {e}"));
        let (vin, e) = (emb.shape()[0], emb.shape()[1]);
        let (v, h) = (out_w.shape()[0], hidden);
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
            Some((wa, he, wc, bc)) => Some(AttnArrays {
                wa: wa.as_slice().map_err(cont)?,
                he: *he,
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
    m.add_function(wrap_pyfunction!(beam_search, m)?)?;
    m.add_function(wrap_pyfunction!(sample, m)?)?;
    Ok(())
}
