//! Binding of multi-head attention (`rust/nn/mha.rs`): query (B, Tq, E), key and value
//! (B, Tk, E) as batch-major arrays (copied to C order only when they are not), the weights as a
//! dict in `nn.MultiheadAttention` naming (absent biases as None), masks and options as for
//! scaled dot-product attention. float32 and float64 share one generic path.

use numpy::ndarray::{Array1, Array2, Array3, CowArray, Ix1, Ix2, Ix3};
use numpy::{IntoPyArray, PyReadonlyArray, PyReadonlyArray3, PyUntypedArrayMethods};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use super::attention::{MaskArgs, MaskIn, SdpaIn};
use super::convert::{c_order, with_float, ByDtype};
use super::errors::ShapeError;
use super::interrupt;
use crate::nn::attention::Options;
use crate::nn::mha::{self, Dims, Weights};
use crate::nn::packed::Kern;

/// The weights, read by name (`seqfast/_attention.py`'s `mha_forward` passes all four keys).
#[derive(FromPyObject)]
struct WeightsIn<'py> {
    #[pyo3(item("in_proj_weight"))]
    in_w: Bound<'py, PyAny>,
    #[pyo3(item("in_proj_bias"))]
    in_b: Option<Bound<'py, PyAny>>,
    #[pyo3(item("out_proj.weight"))]
    out_w: Bound<'py, PyAny>,
    #[pyo3(item("out_proj.bias"))]
    out_b: Option<Bound<'py, PyAny>>,
}

type AnyCache = ByDtype<mha::Cache<f32>, mha::Cache<f64>>;

/// What `mha_backward` needs from a forward pass (opaque).
#[pyclass(module = "seqfast._core", frozen)]
pub struct MhaCache {
    inner: AnyCache,
}

#[pymethods]
impl MhaCache {
    /// "float32" or "float64".
    #[getter]
    fn dtype(&self) -> &'static str {
        self.inner.dtype()
    }
}

trait Elem: Kern + numpy::Element {
    fn wrap(c: mha::Cache<Self>) -> AnyCache;
}
impl Elem for f32 {
    fn wrap(c: mha::Cache<f32>) -> AnyCache {
        AnyCache::F32(c)
    }
}
impl Elem for f64 {
    fn wrap(c: mha::Cache<f64>) -> AnyCache {
        AnyCache::F64(c)
    }
}

/// An array in C order (see [`c_order`]).
fn cow<'a, T: Clone + numpy::Element, D: numpy::ndarray::Dimension>(a: &'a PyReadonlyArray<'_, T, D>) -> CowArray<'a, T, D> {
    c_order(a.as_array())
}

fn sl<'a, T, D: numpy::ndarray::Dimension>(c: &'a CowArray<'_, T, D>) -> &'a [T] {
    c.as_slice().expect("C order")
}

/// The extracted arrays: query, key, value, in_w, out_w, and the optional biases.
struct Arrays<'py, T: Elem> {
    x: [PyReadonlyArray<'py, T, Ix3>; 3],
    w: [PyReadonlyArray<'py, T, Ix2>; 2],
    b: [Option<PyReadonlyArray<'py, T, Ix1>>; 2],
}

impl<'py, T: Elem> Arrays<'py, T> {
    fn new(x: [&Bound<'py, PyAny>; 3], w: &WeightsIn<'py>) -> PyResult<Self> {
        let ob = |b: &Option<Bound<'py, PyAny>>| b.as_ref().map(|b| b.extract()).transpose();
        Ok(Arrays {
            x: [x[0].extract()?, x[1].extract()?, x[2].extract()?],
            w: [w.in_w.extract()?, w.out_w.extract()?],
            b: [ob(&w.in_b)?, ob(&w.out_b)?],
        })
    }
    fn dims(&self, heads: usize) -> PyResult<Dims> {
        let (q, k) = (self.x[0].shape(), self.x[1].shape());
        if self.x[2].shape() != k || k[0] != q[0] || k[2] != q[2] {
            return Err(ShapeError::new_err(format!(
                "multi-head attention: query {q:?}, key {k:?} and value {:?} must be (B, Tq, E), (B, Tk, E), (B, Tk, E)",
                self.x[2].shape()
            )));
        }
        Ok(Dims { b: q[0], tq: q[1], tk: k[1], e: q[2], heads })
    }
}

fn flops(dm: &Dims) -> f64 {
    let (nq, nk, e) = ((dm.b * dm.tq) as f64, (dm.b * dm.tk) as f64, dm.e as f64);
    2.0 * (2.0 * nq + 2.0 * nk) * e * e + 4.0 * nq * dm.tk as f64 * e
}

type FwdOut<'py> = (Bound<'py, PyAny>, Option<MhaCache>);

fn fwd<'py, T: Elem>(
    py: Python<'py>,
    x: [&Bound<'py, PyAny>; 3],
    w: &WeightsIn<'py>,
    heads: usize,
    m: &MaskArgs,
    o: Options,
    keep: bool,
) -> PyResult<FwdOut<'py>> {
    let a = Arrays::<T>::new(x, w)?;
    let dm = a.dims(heads)?;
    let (xc, wc) = (a.x.each_ref().map(cow), a.w.each_ref().map(cow));
    let bc = a.b.each_ref().map(|b| b.as_ref().map(cow));
    let ws = Weights { in_w: sl(&wc[0]), in_b: bc[0].as_ref().map(sl), out_w: sl(&wc[1]), out_b: bc[1].as_ref().map(sl) };
    let masks = m.view();
    let xs = xc.each_ref().map(sl);
    let (out, cache) =
        interrupt::run(py, o.num_threads, interrupt::long_work(flops(&dm)), || mha::forward(&dm, xs, &ws, &masks, &o, keep))?;
    let out = Array3::from_shape_vec((dm.b, dm.tq, dm.e), out).map_err(|e| ShapeError::new_err(e.to_string()))?;
    Ok((out.into_pyarray(py).into_any(), cache.map(|c| MhaCache { inner: T::wrap(c) })))
}

/// Multi-head attention forward: (out (B, Tq, E), cache or None); see `seqfast.nn.mha_forward`.
#[pyfunction]
#[pyo3(signature = (query, key, value, weights, num_heads, masks, options, keep_cache=true))]
#[allow(clippy::too_many_arguments)]
fn mha_forward<'py>(
    query: &Bound<'py, PyAny>,
    key: &Bound<'py, PyAny>,
    value: &Bound<'py, PyAny>,
    weights: WeightsIn<'py>,
    num_heads: usize,
    masks: MaskIn<'py>,
    options: SdpaIn,
    keep_cache: bool,
) -> PyResult<FwdOut<'py>> {
    let (py, m, o) = (query.py(), masks.args()?, Options::from(options));
    with_float!(query, PyReadonlyArray3, |T| fwd::<T>(py, [query, key, value], &weights, num_heads, &m, o, keep_cache))
}

type BwdOut<'py> = (Bound<'py, PyAny>, Bound<'py, PyAny>, Bound<'py, PyAny>, Bound<'py, PyDict>);

fn bwd<'py, T: Elem>(
    c: &mha::Cache<T>,
    x: [&Bound<'py, PyAny>; 3],
    w: &WeightsIn<'py>,
    m: &MaskArgs,
    o: Options,
    dout: &Bound<'py, PyAny>,
) -> PyResult<BwdOut<'py>> {
    let py = dout.py();
    let a = Arrays::<T>::new(x, w)?;
    let dm = a.dims(c.dims.heads)?;
    let (cd, want) = (c.dims, (dm.b, dm.tq, dm.tk, dm.e));
    if (cd.b, cd.tq, cd.tk, cd.e) != want {
        return Err(ShapeError::new_err(format!(
            "multi-head attention: the inputs are {want:?} (B, Tq, Tk, E) but the cache is from {:?}",
            (cd.b, cd.tq, cd.tk, cd.e)
        )));
    }
    let dy: PyReadonlyArray<T, Ix3> = dout.extract()?;
    if dy.shape() != [dm.b, dm.tq, dm.e] {
        return Err(ShapeError::new_err(format!("dout has shape {:?}, expected {:?}", dy.shape(), [dm.b, dm.tq, dm.e])));
    }
    let (xc, wc, dyc) = (a.x.each_ref().map(cow), a.w.each_ref().map(cow), cow(&dy));
    let bc = a.b.each_ref().map(|b| b.as_ref().map(cow));
    let ws = Weights { in_w: sl(&wc[0]), in_b: bc[0].as_ref().map(sl), out_w: sl(&wc[1]), out_b: bc[1].as_ref().map(sl) };
    let masks = m.view();
    let xs = xc.each_ref().map(sl);
    let g = interrupt::run(py, o.num_threads, interrupt::long_work(2.5 * flops(&dm)), || mha::backward(c, xs, &ws, &masks, &o, sl(&dyc)))?;
    let shape_err = |e: numpy::ndarray::ShapeError| ShapeError::new_err(e.to_string());
    let [dq, dk, dv] = g.dx;
    let arr3 = |v: Vec<T>, t: usize| Array3::from_shape_vec((dm.b, t, dm.e), v).map_err(shape_err);
    let dw = PyDict::new(py);
    dw.set_item("in_proj_weight", Array2::from_shape_vec((3 * dm.e, dm.e), g.in_w).map_err(shape_err)?.into_pyarray(py))?;
    if let Some(b) = g.in_b {
        dw.set_item("in_proj_bias", Array1::from(b).into_pyarray(py))?;
    }
    dw.set_item("out_proj.weight", Array2::from_shape_vec((dm.e, dm.e), g.out_w).map_err(shape_err)?.into_pyarray(py))?;
    if let Some(b) = g.out_b {
        dw.set_item("out_proj.bias", Array1::from(b).into_pyarray(py))?;
    }
    Ok((
        arr3(dq, dm.tq)?.into_pyarray(py).into_any(),
        arr3(dk, dm.tk)?.into_pyarray(py).into_any(),
        arr3(dv, dm.tk)?.into_pyarray(py).into_any(),
        dw,
    ))
}

/// Multi-head attention backward: (dquery, dkey, dvalue, dweights) from the forward's cache, its
/// inputs, weights, masks and options, and `dout` (B, Tq, E).
#[pyfunction]
#[allow(clippy::too_many_arguments)]
fn mha_backward<'py>(
    cache: &MhaCache,
    query: &Bound<'py, PyAny>,
    key: &Bound<'py, PyAny>,
    value: &Bound<'py, PyAny>,
    weights: WeightsIn<'py>,
    masks: MaskIn<'py>,
    options: SdpaIn,
    dout: &Bound<'py, PyAny>,
) -> PyResult<BwdOut<'py>> {
    let (m, o) = (masks.args()?, Options::from(options));
    match &cache.inner {
        AnyCache::F32(c) => bwd(c, [query, key, value], &weights, &m, o, dout),
        AnyCache::F64(c) => bwd(c, [query, key, value], &weights, &m, o, dout),
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<MhaCache>()?;
    m.add_function(wrap_pyfunction!(mha_forward, m)?)?;
    m.add_function(wrap_pyfunction!(mha_backward, m)?)?;
    Ok(())
}
