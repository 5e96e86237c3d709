//! Bindings for the attention kernels (`rust/nn/attention.rs`, `rust/nn/additive.rs`).
//!
//! Scaled dot-product attention reads q, k, v, the output, its gradient and the boolean mask
//! as 3-D (B, T, F: one head) or 4-D (B, H, T, F) NumPy arrays with whatever strides they have,
//! so the Python layer (`seqfast/_attention.py`, `seqfast/torch`) passes head-interleaved
//! (B, T, H d) projections, columns of one packed q|k|v buffer or broadcast masks as NumPy views
//! and never computes a stride; an array whose last axis is not contiguous (or has a negative
//! stride) is copied to C order first. Outputs are allocated shaped like the inputs, or written
//! into arrays the caller passes (`out=`, `grads=`), which may be strided views too. Additive
//! attention and the matrix product take n-d arrays and read their sizes from the shapes.
//! Lengths are int64 arrays. float32 and float64 share one generic path.

use numpy::ndarray::{ArrayD, ArrayView4, ArrayViewD, ArrayViewMut4, ArrayViewMutD, Axis, CowArray, Ix4, IxDyn};
use numpy::{IntoPyArray, PyReadonlyArray1, PyReadonlyArray2, PyReadonlyArrayDyn, PyReadwriteArrayDyn, PyUntypedArrayMethods};
use pyo3::prelude::*;

use super::convert::{c_order, shaped, with_float};
use super::errors::{IntoPyResult, ShapeError};
use super::interrupt;
use crate::nn::additive;
use crate::nn::attention::{self, BoolMask, Dims, GradsOut, Inputs, Masks, Options, Saved, View4, ViewMut4};
use crate::nn::packed::{self, Kern};

fn sl<'a, T: Kern + numpy::Element, D: numpy::ndarray::Dimension>(a: &'a numpy::PyReadonlyArray<'_, T, D>) -> PyResult<&'a [T]> {
    a.as_slice().map_err(|_| ShapeError::new_err("arrays passed to the core must be contiguous"))
}

fn not_3_4(name: &str, n: usize) -> PyErr {
    ShapeError::new_err(format!("{name} must be 3-D (B, T, F) or 4-D (B, H, T, F), not {n}-D"))
}

/// A 3-D (B, T, F) array as (B, 1, T, F); a 4-D one as it is.
fn as4<'a, T>(name: &str, v: ArrayViewD<'a, T>) -> PyResult<ArrayView4<'a, T>> {
    let v = match v.ndim() {
        3 => v.insert_axis(Axis(1)),
        4 => v,
        n => return Err(not_3_4(name, n)),
    };
    Ok(v.into_dimensionality::<Ix4>().expect("4-D"))
}

/// [`as4`] for a writable view.
fn as4_mut<'a, T>(name: &str, v: ArrayViewMutD<'a, T>) -> PyResult<ArrayViewMut4<'a, T>> {
    let v = match v.ndim() {
        3 => v.insert_axis(Axis(1)),
        4 => v,
        n => return Err(not_3_4(name, n)),
    };
    Ok(v.into_dimensionality::<Ix4>().expect("4-D"))
}

/// A 3-D or 4-D array as the kernels read it: in place when its strides allow, else copied to
/// C order.
fn heads<'a, T: Clone>(name: &str, a: ArrayViewD<'a, T>) -> PyResult<CowArray<'a, T, Ix4>> {
    let v = as4(name, a)?;
    if View4::from_ndarray(v.view()).is_some() {
        Ok(CowArray::from(v))
    } else {
        Ok(CowArray::from(v.as_standard_layout().into_owned()))
    }
}

/// The kernel's view of what [`heads`] gave.
fn view<'a, T>(c: &'a CowArray<'_, T, Ix4>) -> View4<'a, T> {
    View4::from_ndarray(c.view()).expect("heads() keeps only arrays the view takes")
}

/// Lengths and boolean mask as borrowed from a [`MaskIn`].
pub(super) struct MaskArgs<'a> {
    lengths: Option<Vec<usize>>,
    mask: Option<CowArray<'a, bool, Ix4>>,
}

impl MaskArgs<'_> {
    pub(super) fn view(&self) -> Masks<'_> {
        Masks { lengths: self.lengths.as_deref(), mask: self.mask.as_ref().map(|m| -> BoolMask { view(m) }) }
    }
}

/// The masks of every attention binding, read by name from a dict (`seqfast/_attention.py`'s
/// `_masks`): `lengths` cross as int64 arrays (as everywhere in seqfast: nn, attention,
/// search), the boolean mask as a 3-D or 4-D array broadcast to the scores' shape (NumPy's
/// `broadcast_to`: zero strides, no copy).
#[derive(FromPyObject)]
#[pyo3(from_item_all)]
pub(super) struct MaskIn<'py> {
    lengths: Option<PyReadonlyArray1<'py, i64>>,
    mask: Option<PyReadonlyArrayDyn<'py, bool>>,
}

impl MaskIn<'_> {
    pub(super) fn args(&self) -> PyResult<MaskArgs<'_>> {
        let lengths = match &self.lengths {
            None => None,
            Some(l) => Some(
                l.as_array()
                    .iter()
                    .map(|&x| usize::try_from(x).map_err(|_| super::errors::SeqfastError::new_err(format!("lengths holds {x}, below 0"))))
                    .collect::<PyResult<Vec<usize>>>()?,
            ),
        };
        let mask = self.mask.as_ref().map(|m| heads("mask", m.as_array())).transpose()?;
        Ok(MaskArgs { lengths, mask })
    }
}

/// The options of both directions of scaled dot-product attention, read by name from a dict
/// (`seqfast/_attention.py`'s `_sdpa_options`).
#[derive(FromPyObject)]
#[pyo3(from_item_all)]
pub(super) struct SdpaIn {
    scale: f64,
    causal: bool,
    dropout: f64,
    seed: u64,
    num_threads: Option<usize>,
}

impl From<SdpaIn> for Options {
    fn from(o: SdpaIn) -> Options {
        Options { scale: o.scale, causal: o.causal, dropout: o.dropout, seed: o.seed, num_threads: o.num_threads }
    }
}

/// A result array: the caller's (written in place) or a new one of `shape` (3-D or 4-D).
enum Dest<'py, T: numpy::Element> {
    Given(Bound<'py, PyAny>, PyReadwriteArrayDyn<'py, T>),
    New(ArrayD<T>),
}

impl<'py, T: Kern + numpy::Element> Dest<'py, T> {
    fn new(given: Option<Bound<'py, PyAny>>, shape: &[usize]) -> PyResult<Self> {
        Ok(match given {
            Some(a) => {
                let w = a.extract()?;
                Dest::Given(a, w)
            }
            None => Dest::New(ArrayD::from_elem(IxDyn(shape), T::ZERO)),
        })
    }
    fn view_mut(&mut self, name: &str) -> PyResult<ViewMut4<'_, T>> {
        let v = match self {
            Dest::Given(_, w) => w.as_array_mut(),
            Dest::New(a) => a.view_mut(),
        };
        ViewMut4::from_ndarray(name, as4_mut(name, v)?).py()
    }
    fn into_py(self, py: Python<'py>) -> Bound<'py, PyAny> {
        match self {
            Dest::Given(a, _) => a,
            Dest::New(a) => a.into_pyarray(py).into_any(),
        }
    }
}

/// `shape` with its last size replaced.
fn with_last(shape: &[usize], f: usize) -> Vec<usize> {
    let mut s = shape.to_vec();
    *s.last_mut().expect("3-D or 4-D") = f;
    s
}

type FwdOut<'py> = (Bound<'py, PyAny>, Bound<'py, PyAny>);

fn sdpa_fwd<'py, T: Kern + numpy::Element>(
    arrays: [&Bound<'py, PyAny>; 3],
    m: &MaskArgs,
    opts: Options,
    out: Option<Bound<'py, PyAny>>,
) -> PyResult<FwdOut<'py>> {
    let py = arrays[0].py();
    let a: Vec<PyReadonlyArrayDyn<T>> = arrays.iter().map(|x| x.extract()).collect::<PyResult<_>>()?;
    let (qc, kc, vc) = (heads("q", a[0].as_array())?, heads("k", a[1].as_array())?, heads("v", a[2].as_array())?);
    let x = Inputs { q: view(&qc), k: view(&kc), v: view(&vc) };
    let dm = x.dims().py()?;
    let masks = m.view();
    let mut dest = Dest::<T>::new(out, &with_last(a[0].shape(), dm.dv))?;
    let mut lse = vec![T::ZERO; dm.b * dm.h * dm.tq];
    {
        let ov = dest.view_mut("out")?;
        interrupt::run(py, opts.num_threads, interrupt::long_work(sdpa_flops(&dm)), || {
            attention::forward(&x, &masks, &opts, ov, &mut lse)
        })?;
    }
    Ok((dest.into_py(py), lse.into_pyarray(py).into_any()))
}

/// Scaled dot-product attention forward: (out, lse) (see `seqfast.nn.attention_forward`); q, k,
/// v 3-D or 4-D arrays of any strides; `out` written in place when given, else shaped like q
/// with v's feature size; lse holds B H Tq values.
#[pyfunction]
#[pyo3(signature = (q, k, v, masks, options, out=None))]
fn sdpa_forward<'py>(
    q: &Bound<'py, PyAny>,
    k: &Bound<'py, PyAny>,
    v: &Bound<'py, PyAny>,
    masks: MaskIn<'py>,
    options: SdpaIn,
    out: Option<Bound<'py, PyAny>>,
) -> PyResult<FwdOut<'py>> {
    let (m, opts) = (masks.args()?, Options::from(options));
    with_float!(q, PyReadonlyArrayDyn, |T| sdpa_fwd::<T>([q, k, v], &m, opts, out))
}

type BwdOut<'py> = (Bound<'py, PyAny>, Bound<'py, PyAny>, Bound<'py, PyAny>);
type Grads<'py> = Option<(Bound<'py, PyAny>, Bound<'py, PyAny>, Bound<'py, PyAny>)>;

fn sdpa_bwd<'py, T: Kern + numpy::Element>(
    arrays: [&Bound<'py, PyAny>; 6],
    m: &MaskArgs,
    opts: Options,
    grads: Grads<'py>,
) -> PyResult<BwdOut<'py>> {
    let py = arrays[0].py();
    let [q, k, v, out, lse, dout] = arrays;
    let a: Vec<PyReadonlyArrayDyn<T>> = [q, k, v, out, dout].iter().map(|x| x.extract()).collect::<PyResult<_>>()?;
    let lse: PyReadonlyArray1<T> = lse.extract()?;
    let cows = [("q", 0), ("k", 1), ("v", 2), ("out", 3), ("dout", 4)].map(|(n, i)| heads(n, a[i].as_array()));
    let [qc, kc, vc, oc, dc] = cows;
    let (qc, kc, vc, oc, dc) = (qc?, kc?, vc?, oc?, dc?);
    let x = Inputs { q: view(&qc), k: view(&kc), v: view(&vc) };
    let sv = Saved { out: view(&oc), lse: sl(&lse)?, dout: view(&dc) };
    let dm = x.dims().py()?;
    let masks = m.view();
    let (gq, gk, gv) = match grads {
        Some((q, k, v)) => (Some(q), Some(k), Some(v)),
        None => (None, None, None),
    };
    let mut d = [Dest::<T>::new(gq, a[0].shape())?, Dest::<T>::new(gk, a[1].shape())?, Dest::<T>::new(gv, a[2].shape())?];
    {
        let [dq, dk, dv] = &mut d;
        let g = GradsOut { dq: dq.view_mut("dq")?, dk: dk.view_mut("dk")?, dv: dv.view_mut("dv")? };
        let long = interrupt::long_work(2.5 * sdpa_flops(&dm));
        interrupt::run(py, opts.num_threads, long, || attention::backward(&x, &masks, &opts, &sv, g))?;
    }
    let [dq, dk, dv] = d;
    Ok((dq.into_py(py), dk.into_py(py), dv.into_py(py)))
}

/// Scaled dot-product attention backward: (dq, dk, dv) shaped like q, k, v, or written into
/// `grads` when given; `saved` is the forward's out and lse, and dout (shaped like out).
#[pyfunction]
#[pyo3(signature = (q, k, v, saved, masks, options, grads=None))]
fn sdpa_backward<'py>(
    q: &Bound<'py, PyAny>,
    k: &Bound<'py, PyAny>,
    v: &Bound<'py, PyAny>,
    saved: [Bound<'py, PyAny>; 3],
    masks: MaskIn<'py>,
    options: SdpaIn,
    grads: Grads<'py>,
) -> PyResult<BwdOut<'py>> {
    let [out, lse, dout] = &saved;
    let arrays = [q, k, v, out, lse, dout];
    let (m, opts) = (masks.args()?, Options::from(options));
    with_float!(q, PyReadonlyArrayDyn, |T| sdpa_bwd::<T>(arrays, &m, opts, grads))
}

fn opt_sl<'a, T: Kern + numpy::Element>(a: &'a Option<PyReadonlyArray1<'_, T>>) -> PyResult<Option<&'a [T]>> {
    a.as_ref().map(sl).transpose()
}

/// query (B, Tq, dq), keys (B, Tk, dk), values (B, Tk, dv), w_q (da, dq), w_k (da, dk), v (da,);
/// and the bias (da,).
type AddArrays<'py, T> = (Vec<PyReadonlyArrayDyn<'py, T>>, Option<PyReadonlyArray1<'py, T>>);

fn add_arrays<'py, T: Kern + numpy::Element>(
    arrays: &[Bound<'py, PyAny>],
    bias: &Option<Bound<'py, PyAny>>,
) -> PyResult<AddArrays<'py, T>> {
    let a = arrays.iter().map(|x| x.extract()).collect::<PyResult<Vec<PyReadonlyArrayDyn<T>>>>()?;
    let ndims: Vec<usize> = a.iter().map(|x| x.ndim()).collect();
    if ndims != [3, 3, 3, 2, 2, 1] {
        return Err(ShapeError::new_err(format!(
            "additive attention takes query, keys, values (3-D), w_q, w_k (2-D) and v (1-D); got {ndims:?} dimensions"
        )));
    }
    Ok((a, bias.as_ref().map(|b| b.extract()).transpose()?))
}

/// The sizes, read from the arrays' shapes (the core checks that they agree).
fn add_dims<T: Kern + numpy::Element>(a: &AddArrays<'_, T>) -> additive::Dims {
    let (q, k, v) = (a.0[0].shape(), a.0[1].shape(), a.0[2].shape());
    additive::Dims { b: q[0], tq: q[1], tk: k[1], dq: q[2], dk: k[2], dv: v[2], da: a.0[5].shape()[0] }
}

fn add_args<'a, T: Kern + numpy::Element>(a: &'a AddArrays<'_, T>, m: &'a MaskArgs) -> PyResult<additive::Args<'a, T>> {
    let masks = m.view();
    Ok(additive::Args {
        query: sl(&a.0[0])?,
        keys: sl(&a.0[1])?,
        values: sl(&a.0[2])?,
        w_q: sl(&a.0[3])?,
        w_k: sl(&a.0[4])?,
        v: sl(&a.0[5])?,
        bias: opt_sl(&a.1)?,
        lengths: masks.lengths,
        mask: masks.mask,
    })
}

fn sdpa_flops(dm: &Dims) -> f64 {
    2.0 * (dm.b * dm.h) as f64 * dm.tq as f64 * dm.tk as f64 * (dm.d + dm.dv) as f64
}

fn additive_flops(dm: &additive::Dims) -> f64 {
    let (nq, nk) = ((dm.b * dm.tq) as f64, (dm.b * dm.tk) as f64);
    2.0 * (nq * dm.dq as f64 + nk * dm.dk as f64) * dm.da as f64 + 4.0 * nq * dm.tk as f64 * dm.da as f64
}

type AddFwd<'py> = (Bound<'py, PyAny>, Bound<'py, PyAny>, Bound<'py, PyAny>, Bound<'py, PyAny>);

fn add_fwd<'py, T: Kern + numpy::Element>(
    py: Python<'py>,
    arrays: &[Bound<'py, PyAny>],
    bias: &Option<Bound<'py, PyAny>>,
    m: &MaskArgs,
    nt: Option<usize>,
) -> PyResult<AddFwd<'py>> {
    let arr = add_arrays::<T>(arrays, bias)?;
    let dm = add_dims(&arr);
    let args = add_args(&arr, m)?;
    let f = interrupt::run(py, nt, interrupt::long_work(additive_flops(&dm)), || additive::forward(&dm, &args, nt))?;
    Ok((
        shaped(py, f.context, &[dm.b, dm.tq, dm.dv])?,
        f.pq.into_pyarray(py).into_any(),
        f.pk.into_pyarray(py).into_any(),
        f.attn.into_pyarray(py).into_any(),
    ))
}

/// Additive attention forward: (context (B, Tq, dv), and pq, pk, attn: flat, for the backward)
/// (see `seqfast.nn.additive_attention_forward`).
#[pyfunction]
#[pyo3(signature = (arrays, bias, masks, num_threads=None))]
fn additive_forward<'py>(
    py: Python<'py>,
    arrays: Vec<Bound<'py, PyAny>>,
    bias: Option<Bound<'py, PyAny>>,
    masks: MaskIn<'py>,
    num_threads: Option<usize>,
) -> PyResult<AddFwd<'py>> {
    let m = masks.args()?;
    if arrays.len() != 6 {
        return Err(ShapeError::new_err("additive_forward takes [query, keys, values, w_q, w_k, v]"));
    }
    with_float!(arrays[0], PyReadonlyArrayDyn, |T| add_fwd::<T>(py, &arrays, &bias, &m, num_threads))
}

fn add_bwd<'py, T: Kern + numpy::Element>(
    py: Python<'py>,
    arrays: &[Bound<'py, PyAny>],
    bias: &Option<Bound<'py, PyAny>>,
    saved: &[Bound<'py, PyAny>],
    m: &MaskArgs,
    nt: Option<usize>,
) -> PyResult<Vec<Bound<'py, PyAny>>> {
    let arr = add_arrays::<T>(arrays, bias)?;
    let dm = add_dims(&arr);
    let args = add_args(&arr, m)?;
    let sv = saved[..3].iter().map(|x| x.extract()).collect::<PyResult<Vec<PyReadonlyArray1<T>>>>()?;
    let f = additive::Saved { pq: sl(&sv[0])?, pk: sl(&sv[1])?, attn: sl(&sv[2])? };
    let dctx: PyReadonlyArrayDyn<T> = saved[3].extract()?;
    if dctx.shape() != [dm.b, dm.tq, dm.dv] {
        return Err(ShapeError::new_err(format!("dcontext has shape {:?}, expected {:?}", dctx.shape(), [dm.b, dm.tq, dm.dv])));
    }
    let dc = c_order(dctx.as_array());
    let dcs = dc.as_slice().expect("C order");
    let g = interrupt::run(py, nt, interrupt::long_work(2.0 * additive_flops(&dm)), || additive::backward(&dm, &args, &f, dcs, nt))?;
    // Shaped like query, keys, values, w_q, w_k, v; the bias gradient like v.
    let shapes: Vec<&[usize]> = arr.0.iter().map(|a| a.shape()).chain([arr.0[5].shape()]).collect();
    [g.query, g.keys, g.values, g.w_q, g.w_k, g.v, g.bias].into_iter().zip(shapes).map(|(x, s)| shaped(py, x, s)).collect()
}

/// Additive attention backward: [dquery, dkeys, dvalues, dw_q, dw_k, dv, dbias], shaped like
/// query, keys, values, w_q, w_k, v and v; `saved` is the forward's pq, pk, attn and dcontext
/// (B, Tq, dv).
#[pyfunction]
#[pyo3(signature = (arrays, bias, saved, masks, num_threads=None))]
fn additive_backward<'py>(
    py: Python<'py>,
    arrays: Vec<Bound<'py, PyAny>>,
    bias: Option<Bound<'py, PyAny>>,
    saved: Vec<Bound<'py, PyAny>>,
    masks: MaskIn<'py>,
    num_threads: Option<usize>,
) -> PyResult<Vec<Bound<'py, PyAny>>> {
    let m = masks.args()?;
    if arrays.len() != 6 || saved.len() != 4 {
        return Err(ShapeError::new_err("additive_backward takes [query, keys, values, w_q, w_k, v] and [pq, pk, attn, dcontext]"));
    }
    with_float!(arrays[0], PyReadonlyArrayDyn, |T| add_bwd::<T>(py, &arrays, &bias, &saved, &m, num_threads))
}

/// op(A) op(B) of two C-contiguous 2-D arrays (op transposes when asked; the sizes come from
/// the shapes) on `num_threads` threads, for the attention layers' projections.
#[pyfunction]
#[pyo3(signature = (a, b, ta=false, tb=false, num_threads=None))]
fn nn_matmul<'py>(
    py: Python<'py>,
    a: &Bound<'py, PyAny>,
    b: &Bound<'py, PyAny>,
    ta: bool,
    tb: bool,
    num_threads: Option<usize>,
) -> PyResult<Bound<'py, PyAny>> {
    with_float!(a, PyReadonlyArray2, |T| {
        let (a, b): (PyReadonlyArray2<T>, PyReadonlyArray2<T>) = (a.extract()?, b.extract()?);
        let ((ar, ac), (br, bc)) = ((a.shape()[0], a.shape()[1]), (b.shape()[0], b.shape()[1]));
        let (m, k) = if ta { (ac, ar) } else { (ar, ac) };
        let (k2, n) = if tb { (bc, br) } else { (br, bc) };
        if k != k2 {
            return Err(ShapeError::new_err(format!("matmul: op(a) is ({m}, {k}) but op(b) is ({k2}, {n})")));
        }
        let (a, b) = (
            a.as_slice().map_err(|_| ShapeError::new_err("matmul: a must be C-contiguous"))?,
            b.as_slice().map_err(|_| ShapeError::new_err("matmul: b must be C-contiguous"))?,
        );
        let c = py.detach(|| packed::matmul(a, b, m, k, n, ta, tb, num_threads)).py()?;
        let c = numpy::ndarray::Array2::from_shape_vec((m, n), c).map_err(|e| ShapeError::new_err(e.to_string()))?;
        Ok(c.into_pyarray(py).into_any())
    })
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(sdpa_forward, m)?)?;
    m.add_function(wrap_pyfunction!(sdpa_backward, m)?)?;
    m.add_function(wrap_pyfunction!(additive_forward, m)?)?;
    m.add_function(wrap_pyfunction!(additive_backward, m)?)?;
    m.add_function(wrap_pyfunction!(nn_matmul, m)?)?;
    Ok(())
}
