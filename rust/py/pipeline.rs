//! Bindings for `rust/tokenize/pipeline`: `Pipeline`, a Hugging Face `tokenizer.json` of any
//! kind. Encodings come back flat (ids + row bounds + the requested per-token arrays).

use std::path::PathBuf;
use std::sync::Arc;

use numpy::ndarray::Array2;
use numpy::{IntoPyArray, PyReadonlyArray1};
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedStr;
use pyo3::types::PyDict;

use super::errors::IntoPyResult;
use super::interrupt::{self, LONG};
use crate::files::{read_text, write_atomic};
use crate::tokenize::pipeline::encoding::{Flat, Want};
use crate::tokenize::pipeline::stream::PipelineStream;
use crate::tokenize::pipeline::Pipeline;

/// `(length or None, direction, pad_to_multiple_of, pad_id, pad_type_id, pad_token)`.
type PaddingView = (Option<usize>, &'static str, Option<usize>, u32, u32, String);

#[pyclass(name = "Pipeline", module = "seqfast._core", frozen)]
pub struct PyPipeline {
    inner: Arc<Pipeline>,
}

fn want(flags: &str) -> PyResult<Want> {
    let mut w = Want::default();
    for f in flags.split(',').filter(|f| !f.is_empty()) {
        match f {
            "offsets" => w.offsets = true,
            "type_ids" => w.type_ids = true,
            "special_tokens_mask" => w.special = true,
            "attention_mask" => w.attention = true,
            "word_ids" => w.words = true,
            "overflowing" => w.overflowing = true,
            other => return Err(super::errors::SeqfastError::new_err(format!("unknown per-token array {other:?}"))),
        }
    }
    Ok(w)
}

/// The flat form as a dict of NumPy arrays (only the requested ones).
fn to_dict<'py>(py: Python<'py>, f: Flat, w: Want) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    let n = f.ids.len();
    d.set_item("ids", f.ids.into_pyarray(py))?;
    d.set_item("row_offsets", f.rows.into_pyarray(py))?;
    if w.offsets {
        let a = Array2::from_shape_vec((n, 2), f.offsets).map_err(|e| super::errors::ShapeError::new_err(e.to_string()))?;
        d.set_item("offsets", a.into_pyarray(py))?;
    }
    if w.type_ids {
        d.set_item("type_ids", f.type_ids.into_pyarray(py))?;
    }
    if w.special {
        d.set_item("special_tokens_mask", f.special.into_pyarray(py))?;
    }
    if w.attention {
        d.set_item("attention_mask", f.attention.into_pyarray(py))?;
    }
    if w.words {
        d.set_item("word_ids", f.words.into_pyarray(py))?;
    }
    if w.overflowing {
        d.set_item("overflow_to_sample", f.sample.into_pyarray(py))?;
    }
    Ok(d)
}

fn with_options(
    p: &Pipeline,
    truncation: Option<Option<(usize, usize, String, String)>>,
    padding: Option<Option<PadArgs>>,
) -> PyResult<Pipeline> {
    use crate::tokenize::pipeline::encoding::Side;
    use crate::tokenize::pipeline::{Padding, Strategy, Truncation};
    let side = |s: &str| match s {
        "right" => Ok(Side::Right),
        "left" => Ok(Side::Left),
        other => Err(super::errors::SeqfastError::new_err(format!("direction {other:?} must be 'right' or 'left'"))),
    };
    let mut q = p.clone();
    if let Some(t) = truncation {
        q.truncation = match t {
            None => None,
            Some((max_length, stride, strategy, direction)) => Some(Truncation {
                max_length,
                stride,
                strategy: match strategy.as_str() {
                    "longest_first" => Strategy::LongestFirst,
                    "only_first" => Strategy::OnlyFirst,
                    "only_second" => Strategy::OnlySecond,
                    other => {
                        return Err(super::errors::SeqfastError::new_err(format!(
                            "strategy {other:?} must be 'longest_first', 'only_first' or 'only_second'"
                        )))
                    }
                },
                side: side(&direction)?,
            }),
        };
    }
    if let Some(pd) = padding {
        q.padding = match pd {
            None => None,
            Some((length, direction, multiple, pad_id, pad_type, pad_token)) => {
                Some(Padding { fixed: length, side: side(&direction)?, multiple, pad_id, pad_type, pad_token })
            }
        };
    }
    Ok(q)
}

type PadArgs = (Option<usize>, String, Option<usize>, u32, u32, String);

#[pymethods]
impl PyPipeline {
    #[staticmethod]
    fn from_str(py: Python<'_>, text: &str) -> PyResult<Self> {
        let text = text.to_owned();
        py.detach(|| Pipeline::from_json(&text, "<string>")).py().map(|p| PyPipeline { inner: Arc::new(p) })
    }

    #[staticmethod]
    fn from_file(py: Python<'_>, path: PathBuf) -> PyResult<Self> {
        py.detach(|| Pipeline::from_json(&read_text(&path)?, &path.display().to_string())).py().map(|p| PyPipeline { inner: Arc::new(p) })
    }

    /// Encode one text (and a pair): a dict of flat arrays with one row (more with overflowing).
    #[pyo3(signature = (text, pair=None, add_special_tokens=true, want="", seed=None))]
    fn encode<'py>(
        &self,
        py: Python<'py>,
        text: &str,
        pair: Option<&str>,
        add_special_tokens: bool,
        want: &str,
        seed: Option<u64>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let w = self::want(want)?;
        let p = &self.inner;
        let long = text.len() + pair.map_or(0, str::len) >= LONG;
        let flat = interrupt::run(py, Some(1), long, || {
            let e = p.encode_with(text, pair, add_special_tokens, seed, !(w.offsets || w.words))?;
            Ok(Flat::new(std::slice::from_ref(&e), w))
        })?;
        to_dict(py, flat, w)
    }

    #[pyo3(signature = (texts, pairs=None, add_special_tokens=true, want="", num_threads=None))]
    fn encode_batch<'py>(
        &self,
        py: Python<'py>,
        texts: Vec<PyBackedStr>,
        pairs: Option<Vec<PyBackedStr>>,
        add_special_tokens: bool,
        want: &str,
        num_threads: Option<usize>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let w = self::want(want)?;
        let p = &self.inner;
        let long = texts.len() >= 4096 || texts.iter().map(|s| s.len()).sum::<usize>() >= LONG;
        let flat = interrupt::run(py, num_threads, long, || {
            let encs = p.encode_batch(&texts, pairs.as_deref(), add_special_tokens, !(w.offsets || w.words), num_threads)?;
            Ok(Flat::new(&encs, w))
        })?;
        to_dict(py, flat, w)
    }

    #[pyo3(signature = (ids, skip_special_tokens=false))]
    fn decode(&self, py: Python<'_>, ids: PyReadonlyArray1<'_, u32>, skip_special_tokens: bool) -> PyResult<String> {
        let ids = ids.as_slice().map_err(|_| super::errors::ShapeError::new_err("ids must be a contiguous 1-D uint32 array"))?;
        let p = &self.inner;
        py.detach(|| p.decode(ids, skip_special_tokens)).py()
    }

    /// Decode every row of a flat batch (row `i` is `ids[rows[i]:rows[i+1]]`).
    #[pyo3(signature = (ids, rows, skip_special_tokens=false, num_threads=None))]
    fn decode_batch(
        &self,
        py: Python<'_>,
        ids: PyReadonlyArray1<'_, u32>,
        rows: PyReadonlyArray1<'_, i64>,
        skip_special_tokens: bool,
        num_threads: Option<usize>,
    ) -> PyResult<Vec<String>> {
        let ids = ids.as_slice().map_err(|_| super::errors::ShapeError::new_err("ids must be a contiguous 1-D uint32 array"))?;
        let rows = rows.as_slice().map_err(|_| super::errors::ShapeError::new_err("row_offsets must be a contiguous 1-D int64 array"))?;
        let p = &self.inner;
        interrupt::run(py, num_threads, ids.len() >= LONG / 4, || p.decode_batch(ids, rows, skip_special_tokens, num_threads))
    }

    fn to_str(&self, py: Python<'_>) -> PyResult<String> {
        let p = &self.inner;
        py.detach(|| p.to_json()).py()
    }

    fn save(&self, py: Python<'_>, path: PathBuf) -> PyResult<()> {
        let p = &self.inner;
        py.detach(|| write_atomic(&path, p.to_json()?.as_bytes())).py()
    }

    /// A copy with truncation changed (`None` to turn it off) or left as is (not given).
    #[pyo3(signature = (truncation=None, padding=None, set_truncation=false, set_padding=false))]
    fn with_options(
        &self,
        truncation: Option<(usize, usize, String, String)>,
        padding: Option<PadArgs>,
        set_truncation: bool,
        set_padding: bool,
    ) -> PyResult<Self> {
        let q = with_options(&self.inner, set_truncation.then_some(truncation), set_padding.then_some(padding))?;
        Ok(PyPipeline { inner: Arc::new(q) })
    }

    /// `(max_length, stride, strategy, direction)` or None.
    fn truncation(&self) -> Option<(usize, usize, &'static str, &'static str)> {
        use crate::tokenize::pipeline::Strategy;
        self.inner.truncation.as_ref().map(|t| {
            let s = match t.strategy {
                Strategy::LongestFirst => "longest_first",
                Strategy::OnlyFirst => "only_first",
                Strategy::OnlySecond => "only_second",
            };
            (t.max_length, t.stride, s, side_name(t.side))
        })
    }

    /// `(length or None, direction, pad_to_multiple_of, pad_id, pad_type_id, pad_token)` or None.
    fn padding(&self) -> Option<PaddingView> {
        self.inner.padding.as_ref().map(|p| (p.fixed, side_name(p.side), p.multiple, p.pad_id, p.pad_type, p.pad_token.clone()))
    }

    fn vocab_size(&self) -> usize {
        self.inner.vocab_size()
    }
    fn model_vocab_size(&self) -> usize {
        self.inner.model.vocab_size()
    }
    fn id_bound(&self) -> u32 {
        self.inner.id_bound()
    }
    fn id_to_token(&self, id: u32) -> Option<String> {
        self.inner.id_to_token(id).map(str::to_string)
    }
    fn token_to_id(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
    }
    /// `(content, id, special)` of every added token.
    fn added_tokens(&self) -> Vec<(String, u32, bool)> {
        self.inner.added.tokens.iter().map(|t| (t.content.clone(), t.id, t.special)).collect()
    }
    /// A streaming decoder (HF's `DecodeStream`), fresh or restored from `state()`.
    #[pyo3(signature = (skip_special_tokens=false, state=None))]
    fn stream(&self, skip_special_tokens: bool, state: Option<(Vec<u32>, String, usize)>) -> PyResult<PyPipelineStream> {
        let mut st = PipelineStream::new(skip_special_tokens);
        if let Some((ids, prefix, prefix_index)) = state {
            if prefix_index > ids.len() {
                return Err(super::errors::FormatError::new_err("stream state: prefix index past the ids"));
            }
            st = PipelineStream { ids, prefix, prefix_index, skip_special: skip_special_tokens };
        }
        Ok(PyPipelineStream { pipe: self.inner.clone(), state: st })
    }

    /// The byte-level core of a plain byte-level BPE file (shared, not a copy), else None.
    fn byte_level_core(&self) -> Option<super::tokenizer::PyTokenizer> {
        self.inner.byte_level.clone().map(super::tokenizer::PyTokenizer::from_arc)
    }

    /// Kinds of the components, for repr: `(normalizer, pre_tokenizer, model, post, decoder)`.
    fn describe(&self) -> String {
        self.inner.describe()
    }
}

/// HF's `DecodeStream` over a pipeline (state kept here, steps in the core).
#[pyclass(name = "PipelineStream", module = "seqfast._core")]
pub struct PyPipelineStream {
    pipe: Arc<Pipeline>,
    state: PipelineStream,
}

#[pymethods]
impl PyPipelineStream {
    /// Feed ids; returns the text they complete ("" if none yet).
    fn step(&mut self, py: Python<'_>, ids: PyReadonlyArray1<'_, u32>) -> PyResult<String> {
        let ids = ids.as_slice().map_err(|_| super::errors::ShapeError::new_err("ids must be a contiguous 1-D uint32 array"))?;
        let (p, st) = (&self.pipe, &mut self.state);
        py.detach(|| st.step_many(p, ids)).py()
    }
    /// `(ids, prefix, prefix_index, skip_special_tokens)` for pickling.
    fn state(&self) -> (Vec<u32>, String, usize, bool) {
        let s = &self.state;
        (s.ids.clone(), s.prefix.clone(), s.prefix_index, s.skip_special)
    }
}

fn side_name(s: crate::tokenize::pipeline::encoding::Side) -> &'static str {
    match s {
        crate::tokenize::pipeline::encoding::Side::Left => "left",
        crate::tokenize::pipeline::encoding::Side::Right => "right",
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyPipeline>()?;
    m.add_class::<PyPipelineStream>()
}
