//! The one exhaustive mapping from core errors to Python exceptions.
//!
//! `SeqfastError` (a `ValueError`) is the root; each core variant has its own subclass; I/O
//! problems become `OSError` (with `FileNotFoundError` etc. chosen by errno kind by Python).

use pyo3::exceptions::{PyFileNotFoundError, PyIsADirectoryError, PyKeyboardInterrupt, PyOSError, PyPermissionError, PyValueError};
use pyo3::prelude::*;

use crate::error::Error;

pyo3::create_exception!(seqfast, SeqfastError, PyValueError, "Base class of every seqfast error (a ValueError).");
pyo3::create_exception!(seqfast, ShapeError, SeqfastError, "Arrays or sequences have incompatible shapes or lengths.");
pyo3::create_exception!(seqfast, VocabError, SeqfastError, "A vocabulary is inconsistent (duplicates, unknown ids, bad merges).");
pyo3::create_exception!(seqfast, FormatError, SeqfastError, "A file or string could not be parsed; the message names the file and line.");
pyo3::create_exception!(seqfast, SpecialTokenError, SeqfastError, "Text contains a special token's string under special='error'.");
pyo3::create_exception!(
    seqfast,
    DecodeError,
    SeqfastError,
    "Token ids could not be decoded (unknown id, or invalid UTF-8 under errors='strict')."
);

/// Convert a core error to the matching Python exception.
pub fn to_py(e: Error) -> PyErr {
    match e {
        Error::Value(m) => SeqfastError::new_err(m),
        Error::Shape(m) => ShapeError::new_err(m),
        Error::Vocab(m) => VocabError::new_err(m),
        Error::Format(m) => FormatError::new_err(m),
        Error::SpecialToken(m) => SpecialTokenError::new_err(m),
        Error::Decode(m) => DecodeError::new_err(m),
        // Normally replaced by the exception the signal handler raised (`py::interrupt`).
        Error::Interrupted => PyKeyboardInterrupt::new_err("interrupted"),
        Error::Io { msg, kind } => match kind {
            std::io::ErrorKind::NotFound => PyFileNotFoundError::new_err(msg),
            std::io::ErrorKind::PermissionDenied => PyPermissionError::new_err(msg),
            std::io::ErrorKind::IsADirectory => PyIsADirectoryError::new_err(msg),
            _ => PyOSError::new_err(msg),
        },
    }
}

/// `Result<T, Error>` -> `PyResult<T>`.
pub trait IntoPyResult<T> {
    fn py(self) -> PyResult<T>;
}

impl<T> IntoPyResult<T> for crate::error::Result<T> {
    fn py(self) -> PyResult<T> {
        self.map_err(to_py)
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("SeqfastError", py.get_type::<SeqfastError>())?;
    m.add("ShapeError", py.get_type::<ShapeError>())?;
    m.add("VocabError", py.get_type::<VocabError>())?;
    m.add("FormatError", py.get_type::<FormatError>())?;
    m.add("SpecialTokenError", py.get_type::<SpecialTokenError>())?;
    m.add("DecodeError", py.get_type::<DecodeError>())?;
    Ok(())
}
