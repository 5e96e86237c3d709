//! Input forms that several binding families share.

use numpy::ndarray::{Array, ArrayView, CowArray, Dimension, IxDyn};
use numpy::{IntoPyArray, PyArray1, PyReadonlyArray1};
use pyo3::prelude::*;

use super::errors::ShapeError;

/// Token sequences as they cross from Python: `(ids, offsets)`, flat uint32 ids and int64 row
/// offsets (CSR; `seqfast._args.csr` makes them).
pub(super) type CsrIn<'py> = (PyReadonlyArray1<'py, u32>, PyReadonlyArray1<'py, i64>);

/// Token sequences as they go back to Python: the same `(ids, offsets)` pair, as new arrays.
pub(super) type CsrOut<'py> = (Bound<'py, PyArray1<u32>>, Bound<'py, PyArray1<i64>>);

/// The two arrays of `c` as slices (a non-contiguous one is a `ShapeError`).
pub(super) fn csr<'a>(c: &'a CsrIn<'_>) -> PyResult<(&'a [u32], &'a [i64])> {
    let ids = c.0.as_slice().map_err(|_| ShapeError::new_err("ids must be a contiguous 1-D uint32 array"))?;
    let offsets = c.1.as_slice().map_err(|_| ShapeError::new_err("offsets must be a contiguous 1-D int64 array"))?;
    Ok((ids, offsets))
}

/// A core result `v` as a new n-d array of `shape` (1-D as it is when it is empty but `shape` is
/// not: an output the call did not compute, such as a GRU's c_n).
pub(super) fn shaped<'py, T: numpy::Element>(py: Python<'py>, v: Vec<T>, shape: &[usize]) -> PyResult<Bound<'py, PyAny>> {
    if v.is_empty() && shape.iter().product::<usize>() != 0 {
        return Ok(v.into_pyarray(py).into_any());
    }
    let a = Array::from_shape_vec(IxDyn(shape), v).map_err(|e| ShapeError::new_err(format!("core output of shape {shape:?}: {e}")))?;
    Ok(a.into_pyarray(py).into_any())
}

/// `v` in C order: borrowed when it already is, else copied (so a core that takes slices accepts
/// arrays of any strides).
pub(super) fn c_order<'a, T: Clone, D: Dimension>(v: ArrayView<'a, T, D>) -> CowArray<'a, T, D> {
    if v.is_standard_layout() {
        CowArray::from(v)
    } else {
        CowArray::from(v.as_standard_layout().into_owned())
    }
}

/// A value of a float32 or a float64 computation, for the pyclasses that hold either (the caches
/// of the recurrent and multi-head attention forwards).
pub(super) enum ByDtype<A, B> {
    F32(A),
    F64(B),
}

impl<A, B> ByDtype<A, B> {
    /// "float32" or "float64".
    pub(super) fn dtype(&self) -> &'static str {
        match self {
            ByDtype::F32(_) => "float32",
            ByDtype::F64(_) => "float64",
        }
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
pub(super) use with_float;
