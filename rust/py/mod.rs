//! Python bindings: the only place that knows about pyo3 and numpy.
//!
//! Each binding extracts and validates its arguments, releases the GIL around the core call
//! (`py.detach`), and converts the result. No loops over data live here.

mod arrow_encode;
mod attention;
mod bpe_counts;
mod convert;
mod errors;
mod files;
mod interrupt;
mod lm;
mod lm_state;
mod lm_stream;
mod mha;
mod ngram;
mod nn;
mod pipeline;
mod search;
mod sentencepiece;
mod tokenizer;

use pyo3::prelude::*;

#[pymodule(gil_used = false)]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    errors::register(m)?;
    files::register(m)?;
    tokenizer::register(m)?;
    pipeline::register(m)?;
    ngram::register(m)?;
    lm::register(m)?;
    lm_stream::register(m)?;
    lm_state::register(m)?;
    nn::register(m)?;
    attention::register(m)?;
    mha::register(m)?;
    search::register(m)?;
    sentencepiece::register(m)?;
    bpe_counts::register(m)?;
    arrow_encode::register(m)?;
    Ok(())
}
