//! Encoding straight from Arrow string buffers (`seqfast.distributed.encode_arrow`): the text
//! is read in place from the array's data buffer through its offsets, never copied into Python
//! strings. `ArrowEncoder` holds its own handle on a core tokenizer rebuilt from the
//! tokenizer's `tokenizer.json` document (built once per process and cached by the caller).

use std::sync::Arc;

use numpy::{IntoPyArray, PyArray1, PyReadonlyArray1};
use pyo3::prelude::*;
use rayon::prelude::*;

use super::errors::{IntoPyResult, SeqfastError, ShapeError};
use super::interrupt::{self, LONG};
use crate::error::{Error, Result};
use crate::tokenize::formats::hf;
use crate::tokenize::{SpecialPolicy, Tokenizer};

/// Flat ids and row offsets, as NumPy arrays.
type IdsOffsets<'py> = (Bound<'py, PyArray1<u32>>, Bound<'py, PyArray1<i64>>);

#[pyclass(name = "ArrowEncoder", module = "seqfast._core", frozen)]
pub struct PyArrowEncoder {
    inner: Arc<Tokenizer>,
}

/// The texts of an Arrow string array: `data[offsets[i]..offsets[i + 1]]`, each checked to be
/// UTF-8 (Arrow promises it, but buffers from other producers are not always validated). This
/// is argument extraction (the slices borrow the buffer); the check runs on the pool.
fn texts<'a>(data: &'a [u8], offsets: &[i64]) -> Result<Vec<&'a str>> {
    if offsets.is_empty() {
        return Err(Error::Shape("Arrow offsets must have at least one entry".into()));
    }
    offsets
        .par_windows(2)
        .enumerate()
        .map(|(i, w)| {
            let (a, b) = (w[0], w[1]);
            if a < 0 || b < a || b as usize > data.len() {
                return Err(Error::Shape(format!("item {i}: Arrow offsets {a}..{b} are outside the data buffer of {} bytes", data.len())));
            }
            std::str::from_utf8(&data[a as usize..b as usize])
                .map_err(|e| Error::Value(format!("item {i}: not UTF-8 at byte {} of the text", e.valid_up_to())))
        })
        .collect()
}

#[pymethods]
impl PyArrowEncoder {
    /// Build from a `tokenizer.json` document (`Tokenizer.to_str()`).
    #[new]
    fn new(py: Python<'_>, json: &str) -> PyResult<Self> {
        let json = json.to_owned();
        let t = py.detach(|| hf::parse(&json, "<tokenizer>")).py()?;
        Ok(PyArrowEncoder { inner: Arc::new(t) })
    }

    /// Encode the texts an Arrow string array's data buffer and (int64) offsets describe;
    /// returns flat uint32 ids and int64 row offsets (from 0).
    #[pyo3(signature = (data, offsets, special, num_threads=None))]
    fn encode<'py>(
        &self,
        py: Python<'py>,
        data: PyReadonlyArray1<'py, u8>,
        offsets: PyReadonlyArray1<'py, i64>,
        special: &str,
        num_threads: Option<usize>,
    ) -> PyResult<IdsOffsets<'py>> {
        let policy = SpecialPolicy::parse(special).py()?;
        let data = data.as_slice().map_err(|_| ShapeError::new_err("Arrow data must be a contiguous uint8 buffer"))?;
        let offsets = offsets.as_slice().map_err(|_| ShapeError::new_err("Arrow offsets must be a contiguous int64 array"))?;
        if offsets.len() > u32::MAX as usize {
            return Err(SeqfastError::new_err("too many texts in one Arrow array"));
        }
        let t = &self.inner;
        let long = data.len() >= LONG || offsets.len() >= 4096;
        let (ids, offs) = interrupt::run(py, num_threads, long, || {
            let texts = texts(data, offsets)?;
            t.encode_batch(&texts, policy, num_threads)
        })?;
        Ok((ids.into_pyarray(py), offs.into_pyarray(py)))
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyArrowEncoder>()
}
