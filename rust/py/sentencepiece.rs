//! Bindings for `rust/tokenize/sentencepiece`: the `SentencePiece` model class.

use std::path::PathBuf;
use std::sync::Arc;

use numpy::{IntoPyArray, PyArray1, PyReadonlyArray1};
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedStr;
use pyo3::types::PyBytes;

use super::errors::IntoPyResult;
use super::interrupt::{self, LONG};
use crate::tokenize::sentencepiece::proto::{ModelType, PieceType};
use crate::tokenize::sentencepiece::SentencePiece;

#[pyclass(name = "SentencePiece", module = "seqfast._core", frozen)]
pub struct PySentencePiece {
    inner: Arc<SentencePiece>,
}

fn wrap(sp: SentencePiece) -> PySentencePiece {
    PySentencePiece { inner: Arc::new(sp) }
}

#[pymethods]
impl PySentencePiece {
    /// Load a `.model` file.
    #[staticmethod]
    fn from_file(py: Python<'_>, path: PathBuf) -> PyResult<Self> {
        py.detach(|| SentencePiece::load(&path)).py().map(wrap)
    }

    /// Parse a serialized `ModelProto` (`name` is used in error messages).
    #[staticmethod]
    #[pyo3(signature = (data, name="<bytes>"))]
    fn from_bytes(py: Python<'_>, data: &[u8], name: &str) -> PyResult<Self> {
        let data = data.to_vec();
        py.detach(|| SentencePiece::from_bytes(data, name)).py().map(wrap)
    }

    fn encode<'py>(&self, py: Python<'py>, text: &str) -> PyResult<Bound<'py, PyArray1<u32>>> {
        let sp = &self.inner;
        let ids = if text.len() < 4096 {
            sp.encode(text).py()?
        } else if text.len() < LONG {
            py.detach(|| sp.encode(text)).py()?
        } else {
            interrupt::run(py, Some(1), true, || sp.encode(text))?
        };
        Ok(ids.into_pyarray(py))
    }

    #[pyo3(signature = (texts, num_threads=None))]
    fn encode_batch<'py>(
        &self,
        py: Python<'py>,
        texts: Vec<PyBackedStr>,
        num_threads: Option<usize>,
    ) -> PyResult<super::convert::CsrOut<'py>> {
        let sp = &self.inner;
        let long = texts.len() >= 4096 || texts.iter().map(|s| s.len()).sum::<usize>() >= LONG;
        let (ids, offsets) = interrupt::run(py, num_threads, long, || sp.encode_batch(&texts, num_threads))?;
        Ok((ids.into_pyarray(py), offsets.into_pyarray(py)))
    }

    fn decode(&self, py: Python<'_>, ids: PyReadonlyArray1<'_, u32>) -> PyResult<String> {
        let ids = ids.as_slice().map_err(|_| super::errors::ShapeError::new_err("ids must be a contiguous 1-D uint32 array"))?;
        let sp = &self.inner;
        py.detach(|| sp.decode(ids)).py()
    }

    /// sentencepiece's normalized form of `text`.
    fn normalize(&self, py: Python<'_>, text: &str) -> String {
        let sp = &self.inner;
        py.detach(|| sp.normalize(text))
    }

    fn id_to_piece(&self, id: u32) -> Option<&str> {
        self.inner.id_to_piece(id)
    }
    /// The id of `piece`, or None when it is not a piece.
    fn find_piece(&self, piece: &str) -> Option<u32> {
        self.inner.find_piece(piece)
    }
    /// sentencepiece's `piece_to_id`: the unknown id for a string that is not a piece.
    fn piece_to_id(&self, piece: &str) -> u32 {
        self.inner.piece_to_id(piece)
    }
    fn piece_type(&self, id: u32) -> Option<&'static str> {
        self.inner.piece_type(id).map(|t| match t {
            PieceType::Normal => "normal",
            PieceType::Unknown => "unknown",
            PieceType::Control => "control",
            PieceType::UserDefined => "user_defined",
            PieceType::Unused => "unused",
            PieceType::Byte => "byte",
        })
    }
    #[getter]
    fn vocab_size(&self) -> usize {
        self.inner.vocab_size()
    }
    #[getter]
    fn model_type(&self) -> &'static str {
        match self.inner.model_type() {
            ModelType::Unigram => "unigram",
            ModelType::Bpe => "bpe",
            ModelType::Word => "word",
            ModelType::Char => "char",
        }
    }
    #[getter]
    fn byte_fallback(&self) -> bool {
        self.inner.byte_fallback()
    }
    #[getter]
    fn unk_id(&self) -> u32 {
        self.inner.unk_id()
    }
    #[getter]
    fn bos_id(&self) -> Option<u32> {
        self.inner.bos_id()
    }
    #[getter]
    fn eos_id(&self) -> Option<u32> {
        self.inner.eos_id()
    }
    #[getter]
    fn pad_id(&self) -> Option<u32> {
        self.inner.pad_id()
    }
    /// Drop every thread's BPE word cache (it refills on the next encode).
    #[staticmethod]
    fn clear_caches() {
        crate::tokenize::encode::clear_caches();
    }
    /// The serialized model, as loaded (pickling stores these bytes).
    fn model_bytes<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, self.inner.model_bytes())
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PySentencePiece>()
}
