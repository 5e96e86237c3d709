//! Binding of [`crate::files::AtomicFile`], so Python's saves (`NgramCounts.save`, the CLI's
//! file outputs) are atomic the same way as Rust's: a binary, seekable file-like object (enough
//! for `zipfile`/`np.savez`) that replaces its target only on `commit()`, or on leaving a `with`
//! block without an exception; otherwise the temp file is removed and the target untouched.

use std::io::{Seek, SeekFrom, Write};
use std::path::PathBuf;

use pyo3::buffer::PyBuffer;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use super::errors::{IntoPyResult, SeqfastError};
use crate::error::Error;
use crate::files::AtomicFile;

#[pyclass(name = "AtomicFile", module = "seqfast._core")]
pub struct PyAtomicFile {
    /// `None` once committed or discarded.
    inner: Option<AtomicFile>,
}

impl PyAtomicFile {
    fn file(&mut self) -> PyResult<&mut AtomicFile> {
        self.inner.as_mut().ok_or_else(|| SeqfastError::new_err("the atomic file is closed (committed or discarded)"))
    }
}

fn io_err(f: &AtomicFile, e: std::io::Error) -> PyErr {
    super::errors::to_py(Error::io("write", f.path(), e))
}

#[pymethods]
impl PyAtomicFile {
    #[new]
    fn new(path: PathBuf) -> PyResult<Self> {
        Ok(PyAtomicFile { inner: Some(AtomicFile::create(&path).py()?) })
    }

    /// Write a bytes-like object; returns the number of bytes written.
    fn write(&mut self, py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<usize> {
        let copy;
        let bytes = match data.cast::<PyBytes>() {
            Ok(b) => b.as_bytes(),
            Err(_) => {
                copy = PyBuffer::<u8>::get(data)?.to_vec(py)?;
                &copy
            }
        };
        let f = self.file()?;
        py.detach(|| f.write_all(bytes).map_err(|e| io_err(f, e)))?;
        Ok(bytes.len())
    }

    #[pyo3(signature = (offset, whence = 0))]
    fn seek(&mut self, offset: i64, whence: i32) -> PyResult<u64> {
        let pos = match whence {
            0 => SeekFrom::Start(u64::try_from(offset).map_err(|_| SeqfastError::new_err(format!("negative seek position {offset}")))?),
            1 => SeekFrom::Current(offset),
            2 => SeekFrom::End(offset),
            _ => return Err(SeqfastError::new_err(format!("whence must be 0, 1 or 2, not {whence}"))),
        };
        let f = self.file()?;
        f.seek(pos).map_err(|e| io_err(f, e))
    }

    fn tell(&mut self) -> PyResult<u64> {
        self.seek(0, 1)
    }

    /// Write-only: raises `io.UnsupportedOperation` (present because NumPy's `savez` tells files
    /// from paths by a `read` attribute).
    #[pyo3(signature = (_size = -1))]
    fn read(&self, py: Python<'_>, _size: isize) -> PyResult<()> {
        let unsupported = py.import("io")?.getattr("UnsupportedOperation")?;
        Err(PyErr::from_value(unsupported.call1(("the atomic file is write-only",))?))
    }

    fn readable(&self) -> bool {
        false
    }

    fn seekable(&self) -> bool {
        true
    }

    fn writable(&self) -> bool {
        true
    }

    fn flush(&mut self) -> PyResult<()> {
        let f = self.file()?;
        f.flush().map_err(|e| io_err(f, e))
    }

    #[getter]
    fn closed(&self) -> bool {
        self.inner.is_none()
    }

    /// Make the content the target's (fsync, rename, fsync of the directory).
    fn commit(&mut self, py: Python<'_>) -> PyResult<()> {
        let mut f = self.inner.take().ok_or_else(|| SeqfastError::new_err("the atomic file is closed (committed or discarded)"))?;
        py.detach(|| f.commit()).py()
    }

    /// Drop the content: the temp file is removed, the target untouched.
    fn discard(&mut self) {
        self.inner = None;
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    /// Commit when the block ended normally, discard when it raised.
    fn __exit__(&mut self, py: Python<'_>, exc_type: &Bound<'_, PyAny>, _exc: &Bound<'_, PyAny>, _tb: &Bound<'_, PyAny>) -> PyResult<bool> {
        if exc_type.is_none() && self.inner.is_some() {
            self.commit(py)?;
        } else {
            self.discard();
        }
        Ok(false)
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyAtomicFile>()
}
