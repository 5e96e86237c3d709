//! Bindings for the attention kernels (`rust/nn/attention.rs`, `rust/nn/additive.rs`).
//!
//! Scaled dot-product attention takes its operands flat with explicit (batch, head, row)
//! element strides, so the Python layer (`seqfast/_attention.py`, `seqfast/torch`) can pass
//! head-interleaved (B, T, H d) projections, even columns of one packed q|k|v buffer, without
//! transposing; the output and gradient sizes follow from the dims. Additive attention and the
//! matrix product take n-d arrays and read their sizes from the shapes. Lengths are int64
//! arrays. float32 and float64 share one generic path.

use numpy::{IntoPyArray, PyReadonlyArray1, PyReadonlyArray2, PyReadonlyArrayDyn, PyUntypedArrayMethods};
use pyo3::prelude::*;

use super::errors::{IntoPyResult, ShapeError};
use super::interrupt;
use crate::nn::additive;
use crate::nn::attention::{self, BoolMask, Dims, GradsOut, Inputs, Layout, Masks, Options, OutView, Saved};
use crate::nn::gemm;
use crate::nn::packed::Kern;

type L3 = (usize, usize, usize);

fn lay(l: L3) -> Layout {
    Layout { sb: l.0, sh: l.1, st: l.2 }
}

fn sl<'a, T: Kern + numpy::Element, D: numpy::ndarray::Dimension>(a: &'a numpy::PyReadonlyArray<'_, T, D>) -> PyResult<&'a [T]> {
    a.as_slice().map_err(|_| ShapeError::new_err("arrays passed to the core must be contiguous"))
}

/// Lengths and boolean mask as borrowed by the core.
struct MaskArgs<'py> {
    lengths: Option<Vec<usize>>,
    mask: Option<(PyReadonlyArray1<'py, bool>, L3)>,
}

impl MaskArgs<'_> {
    fn view(&self) -> PyResult<Masks<'_>> {
        let mask = match &self.mask {
            None => None,
            Some((m, s)) => Some(BoolMask {
                data: m.as_slice().map_err(|_| ShapeError::new_err("mask must be contiguous"))?,
                sb: s.0,
                sh: s.1,
                sq: s.2,
            }),
        };
        Ok(Masks { lengths: self.lengths.as_deref(), mask })
    }
}

/// The masks of every attention binding, read by name from a dict (`seqfast/_attention.py`'s
/// `_masks`): `lengths` cross as int64 arrays (as everywhere in seqfast: nn, attention,
/// search), the boolean mask flat with its (batch, head, query) element strides.
#[derive(FromPyObject)]
#[pyo3(from_item_all)]
struct MaskIn<'py> {
    lengths: Option<PyReadonlyArray1<'py, i64>>,
    mask: Option<PyReadonlyArray1<'py, bool>>,
    mask_strides: L3,
}

impl<'py> MaskIn<'py> {
    fn args(self) -> PyResult<MaskArgs<'py>> {
        let lengths = match self.lengths {
            None => None,
            Some(l) => Some(
                l.as_array()
                    .iter()
                    .map(|&x| usize::try_from(x).map_err(|_| super::errors::SeqfastError::new_err(format!("lengths holds {x}, below 0"))))
                    .collect::<PyResult<Vec<usize>>>()?,
            ),
        };
        Ok(MaskArgs { lengths, mask: self.mask.map(|m| (m, self.mask_strides)) })
    }
}

type FwdOut<'py> = (Bound<'py, PyAny>, Bound<'py, PyAny>);

#[allow(clippy::too_many_arguments)]
fn sdpa_fwd<'py, T: Kern + numpy::Element>(
    py: Python<'py>,
    q: &Bound<'py, PyAny>,
    k: &Bound<'py, PyAny>,
    v: &Bound<'py, PyAny>,
    layouts: [L3; 4],
    dm: Dims,
    m: &MaskArgs,
    opts: Options,
) -> PyResult<FwdOut<'py>> {
    let (q, k, v): (PyReadonlyArray1<T>, PyReadonlyArray1<T>, PyReadonlyArray1<T>) = (q.extract()?, k.extract()?, v.extract()?);
    let x = Inputs { q: sl(&q)?, lq: lay(layouts[0]), k: sl(&k)?, lk: lay(layouts[1]), v: sl(&v)?, lv: lay(layouts[2]) };
    let masks = m.view()?;
    let mut out = vec![T::ZERO; dm.b * dm.h * dm.tq * dm.dv];
    let mut lse = vec![T::ZERO; dm.b * dm.h * dm.tq];
    let long = interrupt::long_work(sdpa_flops(&dm));
    interrupt::run(py, opts.num_threads, long, || {
        attention::forward(&dm, &x, &masks, &opts, OutView { data: &mut out, l: lay(layouts[3]) }, &mut lse)
    })?;
    Ok((out.into_pyarray(py).into_any(), lse.into_pyarray(py).into_any()))
}

/// The options of both directions of scaled dot-product attention, read by name from a dict
/// (`seqfast/_attention.py`'s `_sdpa_options`).
#[derive(FromPyObject)]
#[pyo3(from_item_all)]
struct SdpaIn {
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

fn to_dims(d: (usize, usize, usize, usize, usize, usize)) -> Dims {
    Dims { b: d.0, h: d.1, tq: d.2, tk: d.3, d: d.4, dv: d.5 }
}

/// Scaled dot-product attention forward: (out, lse), flat (see `seqfast.nn.attention_forward`);
/// `out` holds B H Tq dv values in the layout `layouts[3]`.
#[pyfunction]
fn sdpa_forward<'py>(
    q: &Bound<'py, PyAny>,
    k: &Bound<'py, PyAny>,
    v: &Bound<'py, PyAny>,
    dims: (usize, usize, usize, usize, usize, usize),
    layouts: [L3; 4],
    masks: MaskIn<'py>,
    options: SdpaIn,
) -> PyResult<FwdOut<'py>> {
    let (py, m, opts) = (q.py(), masks.args()?, Options::from(options));
    if q.extract::<PyReadonlyArray1<f32>>().is_ok() {
        sdpa_fwd::<f32>(py, q, k, v, layouts, to_dims(dims), &m, opts)
    } else {
        sdpa_fwd::<f64>(py, q, k, v, layouts, to_dims(dims), &m, opts)
    }
}

type BwdOut<'py> = (Bound<'py, PyAny>, Bound<'py, PyAny>, Bound<'py, PyAny>);

#[allow(clippy::too_many_arguments)]
fn sdpa_bwd<'py, T: Kern + numpy::Element>(
    py: Python<'py>,
    arrays: [&Bound<'py, PyAny>; 6],
    layouts: [L3; 8],
    dm: Dims,
    m: &MaskArgs,
    opts: Options,
) -> PyResult<BwdOut<'py>> {
    let a: Vec<PyReadonlyArray1<T>> = arrays.iter().map(|x| x.extract()).collect::<PyResult<_>>()?;
    let x = Inputs { q: sl(&a[0])?, lq: lay(layouts[0]), k: sl(&a[1])?, lk: lay(layouts[1]), v: sl(&a[2])?, lv: lay(layouts[2]) };
    let sv = Saved { out: sl(&a[3])?, lo: lay(layouts[3]), lse: sl(&a[4])?, dout: sl(&a[5])?, ldo: lay(layouts[4]) };
    let masks = m.view()?;
    let (bh, Dims { tq, tk, d, dv, .. }) = (dm.b * dm.h, dm);
    let (mut dq, mut dk, mut dv) = (vec![T::ZERO; bh * tq * d], vec![T::ZERO; bh * tk * d], vec![T::ZERO; bh * tk * dv]);
    let long = interrupt::long_work(2.5 * sdpa_flops(&dm));
    interrupt::run(py, opts.num_threads, long, || {
        let g = GradsOut {
            dq: OutView { data: &mut dq, l: lay(layouts[5]) },
            dk: OutView { data: &mut dk, l: lay(layouts[6]) },
            dv: OutView { data: &mut dv, l: lay(layouts[7]) },
        };
        attention::backward(&dm, &x, &masks, &opts, &sv, g)
    })?;
    Ok((dq.into_pyarray(py).into_any(), dk.into_pyarray(py).into_any(), dv.into_pyarray(py).into_any()))
}

/// Scaled dot-product attention backward: (dq, dk, dv), flat, in the gradient layouts given
/// (`layouts[5..8]`; B H Tq d, B H Tk d and B H Tk dv values); `saved` is the forward's out
/// and lse, and dout.
#[pyfunction]
#[allow(clippy::too_many_arguments)]
fn sdpa_backward<'py>(
    py: Python<'py>,
    q: &Bound<'py, PyAny>,
    k: &Bound<'py, PyAny>,
    v: &Bound<'py, PyAny>,
    saved: [Bound<'py, PyAny>; 3],
    dims: (usize, usize, usize, usize, usize, usize),
    layouts: [L3; 8],
    masks: MaskIn<'py>,
    options: SdpaIn,
) -> PyResult<BwdOut<'py>> {
    let [out, lse, dout] = &saved;
    let arrays = [q, k, v, out, lse, dout];
    let (m, opts) = (masks.args()?, Options::from(options));
    if q.extract::<PyReadonlyArray1<f32>>().is_ok() {
        sdpa_bwd::<f32>(py, arrays, layouts, to_dims(dims), &m, opts)
    } else {
        sdpa_bwd::<f64>(py, arrays, layouts, to_dims(dims), &m, opts)
    }
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
    let masks = m.view()?;
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
        f.context.into_pyarray(py).into_any(),
        f.pq.into_pyarray(py).into_any(),
        f.pk.into_pyarray(py).into_any(),
        f.attn.into_pyarray(py).into_any(),
    ))
}

/// Additive attention forward: (context, pq, pk, attn), flat (see `seqfast.nn.additive_attention_forward`).
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
    if arrays[0].extract::<PyReadonlyArrayDyn<f32>>().is_ok() {
        add_fwd::<f32>(py, &arrays, &bias, &m, num_threads)
    } else {
        add_fwd::<f64>(py, &arrays, &bias, &m, num_threads)
    }
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
    let sv = saved.iter().map(|x| x.extract()).collect::<PyResult<Vec<PyReadonlyArray1<T>>>>()?;
    let f = additive::Saved { pq: sl(&sv[0])?, pk: sl(&sv[1])?, attn: sl(&sv[2])? };
    let dctx = sl(&sv[3])?;
    let g = interrupt::run(py, nt, interrupt::long_work(2.0 * additive_flops(&dm)), || additive::backward(&dm, &args, &f, dctx, nt))?;
    Ok([g.query, g.keys, g.values, g.w_q, g.w_k, g.v, g.bias].into_iter().map(|x| x.into_pyarray(py).into_any()).collect())
}

/// Additive attention backward: [dquery, dkeys, dvalues, dw_q, dw_k, dv, dbias], flat.
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
    if arrays[0].extract::<PyReadonlyArrayDyn<f32>>().is_ok() {
        add_bwd::<f32>(py, &arrays, &bias, &saved, &m, num_threads)
    } else {
        add_bwd::<f64>(py, &arrays, &bias, &saved, &m, num_threads)
    }
}

/// `$body` with `$T` the float type of `$x`: f32 if it extracts as `$arr<f32>`, else f64 (the
/// extraction in `$body` then reports any other dtype).
macro_rules! with_float {
    ($x:expr, $arr:ident, |$T:ident| $body:expr) => {
        if $x.extract::<$arr<f32>>().is_ok() {
            type $T = f32;
            $body
        } else {
            type $T = f64;
            $body
        }
    };
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
        let c = py.detach(|| gemm::matmul(a, b, m, k, n, ta, tb, num_threads)).py()?;
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
