//! Input forms that several binding families share.

use numpy::{PyArray1, PyReadonlyArray1};
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
