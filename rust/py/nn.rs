//! Bindings for the recurrent kernels (`rust/nn/recurrent.rs`).
//!
//! Arrays arrive C-contiguous (the Python layer `seqfast/_recurrent.py` checks shapes, names
//! the offending argument and copies non-contiguous input). The forward reads the sizes from
//! the arrays themselves: batch, steps and input size from `x` (with `batch_first`), hidden
//! size from `weight_hh` (gates x H rows), the projection from `weight_hr` (2-D, or empty),
//! layers from the number of weight tuples; it returns y, h_n and c_n shaped. float32 and
//! float64 share one generic path.

use numpy::ndarray::{CowArray, Dimension, IxDyn};
use numpy::{PyReadonlyArray, PyReadonlyArray1, PyReadonlyArray3, PyReadonlyArrayDyn, PyUntypedArrayMethods};
use pyo3::prelude::*;
use pyo3::types::PyTuple;

use super::convert::{c_order, shaped, with_float, ByDtype};
use super::errors::{IntoPyResult, ShapeError};
use super::interrupt;
use crate::error::Error;
use crate::nn::packed::Kern;
use crate::nn::recurrent::{self, Cache, CellKind, Options, Spec, State, Weights};
use crate::nn::simd;

type AnyCache = ByDtype<Cache<f32>, Cache<f64>>;

/// What `rnn_backward` needs from a forward pass (opaque).
#[pyclass(module = "seqfast._core", frozen)]
pub struct RnnCache {
    inner: AnyCache,
}

#[pymethods]
impl RnnCache {
    /// "float32" or "float64".
    #[getter]
    fn dtype(&self) -> &'static str {
        self.inner.dtype()
    }
}

trait Elem: Kern + numpy::Element {
    fn wrap(c: Cache<Self>) -> AnyCache;
}
impl Elem for f32 {
    fn wrap(c: Cache<f32>) -> AnyCache {
        AnyCache::F32(c)
    }
}
impl Elem for f64 {
    fn wrap(c: Cache<f64>) -> AnyCache {
        AnyCache::F64(c)
    }
}

/// Floating-point operations of the matrix products of a forward over `tokens` (padded) steps.
fn rnn_flops(spec: &Spec, tokens: usize) -> f64 {
    let per_layer = |l: usize| (spec.cell.gates() * spec.hidden * (spec.din(l) + spec.hout())) as f64;
    2.0 * tokens as f64 * (0..spec.layers).map(per_layer).sum::<f64>() * spec.dirs() as f64
}

fn cell_kind(name: &str) -> PyResult<CellKind> {
    Ok(match name {
        "rnn_tanh" => CellKind::RnnTanh,
        "rnn_relu" => CellKind::RnnRelu,
        "lstm" => CellKind::Lstm,
        "gru" => CellKind::Gru,
        "gru_textbook" => CellKind::GruTextbook,
        _ => return Err(Error::Value(format!("unknown cell {name:?}"))).py(),
    })
}

/// Per layer and direction: weight_ih (G H, in), weight_hh (G H, hout), bias_ih, bias_hh (G H),
/// weight_hr (proj, H) or empty.
type WeightArrays<'py, T> = Vec<[PyReadonlyArrayDyn<'py, T>; 5]>;

fn arrays<'py, T: Elem>(ws: &[Bound<'py, PyTuple>]) -> PyResult<WeightArrays<'py, T>> {
    ws.iter()
        .map(|t| {
            let get = |i: usize| -> PyResult<PyReadonlyArrayDyn<'py, T>> { t.get_item(i)?.extract() };
            Ok([get(0)?, get(1)?, get(2)?, get(3)?, get(4)?])
        })
        .collect()
}

fn sl<'a, T: Elem, D: Dimension>(a: &'a PyReadonlyArray<'_, T, D>) -> PyResult<&'a [T]> {
    a.as_slice().map_err(|_| ShapeError::new_err("arrays passed to the core must be contiguous"))
}

fn views<'a, T: Elem>(ws: &'a WeightArrays<'_, T>) -> PyResult<Vec<Weights<'a, T>>> {
    ws.iter().map(|w| Ok(Weights { w_ih: sl(&w[0])?, w_hh: sl(&w[1])?, b_ih: sl(&w[2])?, b_hh: sl(&w[3])?, w_hr: sl(&w[4])? })).collect()
}

fn opt<'py, T: Elem>(a: &Option<Bound<'py, PyAny>>) -> PyResult<Option<PyReadonlyArrayDyn<'py, T>>> {
    a.as_ref().map(|a| a.extract()).transpose()
}

type FwdOut<'py> = (Bound<'py, PyAny>, Bound<'py, PyAny>, Bound<'py, PyAny>, Option<RnnCache>);

fn fwd<'py, T: Elem>(
    py: Python<'py>,
    (cell, bidir): (CellKind, bool),
    x: &Bound<'py, PyAny>,
    weights: &[Bound<'py, PyTuple>],
    states: [&Option<Bound<'py, PyAny>>; 2],
    lengths: Option<PyReadonlyArray1<'py, i64>>,
    opts: Options,
) -> PyResult<FwdOut<'py>> {
    let x: numpy::PyReadonlyArray3<T> = x.extract()?;
    let ws = arrays::<T>(weights)?;
    let dirs = if bidir { 2 } else { 1 };
    let (first, shape) = (ws.first().ok_or_else(|| ShapeError::new_err("no weights"))?, x.shape());
    let (batch, steps) = if opts.batch_first { (shape[0], shape[1]) } else { (shape[1], shape[0]) };
    let w_hr = first[4].shape();
    let spec = Spec {
        cell,
        input_size: shape[2],
        hidden: first[1].shape()[0] / cell.gates(),
        proj: if w_hr.len() == 2 { w_hr[0] } else { 0 },
        layers: ws.len() / dirs,
        bidir,
    };
    let wv = views(&ws)?;
    let (h0, c0) = (opt::<T>(states[0])?, opt::<T>(states[1])?);
    let st = State {
        x: sl(&x)?,
        batch,
        steps,
        h0: h0.as_ref().map(sl).transpose()?,
        c0: c0.as_ref().map(sl).transpose()?,
        lengths: match &lengths {
            Some(l) => Some(l.as_slice().map_err(|_| ShapeError::new_err("lengths must be contiguous"))?),
            None => None,
        },
    };
    let long = interrupt::long_work(rnn_flops(&spec, batch * steps));
    let f = interrupt::run(py, opts.num_threads, long, || recurrent::forward(&spec, &wv, &st, &opts))?;
    let (ld, yw) = (spec.layers * dirs, dirs * spec.hout());
    let bt = if opts.batch_first { [batch, steps] } else { [steps, batch] };
    Ok((
        shaped(py, f.y, &[bt[0], bt[1], yw])?,
        shaped(py, f.h_n, &[ld, batch, spec.hout()])?,
        shaped(py, f.c_n, &[ld, batch, spec.hidden])?,
        f.cache.map(|c| RnnCache { inner: T::wrap(c) }),
    ))
}

/// Forward pass of an RNN / LSTM / GRU (see `seqfast.nn`): `x` (B, T, in) or (T, B, in),
/// `weights` one tuple per layer and direction, `h0` / `c0` (layers * dirs, B, hout / H).
#[pyfunction]
#[pyo3(signature = (cell, x, weights, bidirectional, h0=None, c0=None, lengths=None, batch_first=true, dropout=0.0, seed=0, keep_cache=true, num_threads=None))]
#[allow(clippy::too_many_arguments)]
fn rnn_forward<'py>(
    py: Python<'py>,
    cell: &str,
    x: &Bound<'py, PyAny>,
    weights: Vec<Bound<'py, PyTuple>>,
    bidirectional: bool,
    h0: Option<Bound<'py, PyAny>>,
    c0: Option<Bound<'py, PyAny>>,
    lengths: Option<PyReadonlyArray1<'py, i64>>,
    batch_first: bool,
    dropout: f64,
    seed: u64,
    keep_cache: bool,
    num_threads: Option<usize>,
) -> PyResult<FwdOut<'py>> {
    let cell = cell_kind(cell)?;
    let opts = Options { batch_first, dropout, seed, keep_cache, num_threads };
    with_float!(x, PyReadonlyArray3, |T| fwd::<T>(py, (cell, bidirectional), x, &weights, [&h0, &c0], lengths, opts))
}

type BwdOut<'py> = (Bound<'py, PyAny>, Bound<'py, PyAny>, Option<Bound<'py, PyAny>>, Vec<Bound<'py, PyTuple>>);

/// An optional gradient array of the expected shape, in C order (copied only when it is not).
fn grad_in<'a, T: Elem>(name: &str, a: &'a Option<PyReadonlyArrayDyn<'_, T>>, want: &[usize]) -> PyResult<Option<CowArray<'a, T, IxDyn>>> {
    let Some(a) = a else { return Ok(None) };
    if a.shape() != want {
        return Err(ShapeError::new_err(format!("{name} has shape {:?}, expected {want:?}", a.shape())));
    }
    Ok(Some(c_order(a.as_array())))
}

fn cow_slice<'a, T: Elem>(a: &'a Option<CowArray<'_, T, IxDyn>>) -> Option<&'a [T]> {
    a.as_ref().map(|a| a.as_slice().expect("standard layout"))
}

fn bwd<'py, T: Elem>(
    py: Python<'py>,
    cache: &Cache<T>,
    weights: &[Bound<'py, PyTuple>],
    grads: [&Option<Bound<'py, PyAny>>; 3],
    num_threads: Option<usize>,
) -> PyResult<BwdOut<'py>> {
    let ws = arrays::<T>(weights)?;
    let wv = views(&ws)?;
    let (spec, (batch, steps)) = (cache.spec(), cache.dims());
    let ld = spec.layers * spec.dirs();
    let bt = if cache.batch_first() { [batch, steps] } else { [steps, batch] };
    let (dy, dh, dc) = (opt::<T>(grads[0])?, opt::<T>(grads[1])?, opt::<T>(grads[2])?);
    let dy = grad_in("dy", &dy, &[bt[0], bt[1], spec.dirs() * spec.hout()])?;
    let dh = grad_in("dh_n", &dh, &[ld, batch, spec.hout()])?;
    let dc = grad_in("dc_n", &dc, &[ld, batch, spec.hidden])?;
    let long = interrupt::long_work(2.0 * rnn_flops(spec, batch * steps));
    let g = interrupt::run(py, num_threads, long, || {
        recurrent::backward(cache, &wv, cow_slice(&dy), cow_slice(&dh), cow_slice(&dc), num_threads)
    })?;
    let dw =
        g.dw.into_iter()
            .zip(&ws)
            .map(|(w, given)| {
                let items = [w.w_ih, w.w_hh, w.b_ih, w.b_hh, w.w_hr].into_iter().zip(given).map(|(v, a)| shaped(py, v, a.shape()));
                PyTuple::new(py, items.collect::<PyResult<Vec<_>>>()?)
            })
            .collect::<PyResult<Vec<_>>>()?;
    let dc0 = if spec.cell == CellKind::Lstm { Some(shaped(py, g.dc0, &[ld, batch, spec.hidden])?) } else { None };
    Ok((shaped(py, g.dx, &[bt[0], bt[1], spec.input_size])?, shaped(py, g.dh0, &[ld, batch, spec.hout()])?, dc0, dw))
}

/// Backward pass (see `seqfast.nn`): (dx, dh0, dc0, dweights), shaped like x, h0, c0 (None
/// unless an LSTM) and the weights; `dy`, `dh_n`, `dc_n` must have the shapes of y, h_n, c_n.
#[pyfunction]
#[pyo3(signature = (cache, weights, dy=None, dh_n=None, dc_n=None, num_threads=None))]
fn rnn_backward<'py>(
    py: Python<'py>,
    cache: &RnnCache,
    weights: Vec<Bound<'py, PyTuple>>,
    dy: Option<Bound<'py, PyAny>>,
    dh_n: Option<Bound<'py, PyAny>>,
    dc_n: Option<Bound<'py, PyAny>>,
    num_threads: Option<usize>,
) -> PyResult<BwdOut<'py>> {
    match &cache.inner {
        AnyCache::F32(c) => bwd::<f32>(py, c, &weights, [&dy, &dh_n, &dc_n], num_threads),
        AnyCache::F64(c) => bwd::<f64>(py, c, &weights, [&dy, &dh_n, &dc_n], num_threads),
    }
}

/// The SIMD level of the nn kernels: "avx512", "avx2" or "scalar"; `force` sets it (for
/// tests; a level the CPU lacks falls back to the best it has).
#[pyfunction]
#[pyo3(signature = (force=None))]
fn simd_level(force: Option<&str>) -> PyResult<&'static str> {
    let l = match force {
        None => simd::level(),
        Some(s) => match simd::Level::parse(s) {
            Some(l) => simd::set_level(l),
            None => return Err(Error::Value(format!("unknown SIMD level {s:?}; use 'scalar', 'avx2' or 'avx512'"))).py(),
        },
    };
    Ok(l.name())
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<RnnCache>()?;
    m.add_function(wrap_pyfunction!(rnn_forward, m)?)?;
    m.add_function(wrap_pyfunction!(rnn_backward, m)?)?;
    m.add_function(wrap_pyfunction!(simd_level, m)?)?;
    Ok(())
}
