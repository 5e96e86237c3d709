//! seqfast core: fast, exact classic sequence modelling on the CPU.
//!
//! The core knows nothing of Python: every public function takes slices and plain values and
//! returns owned data or a [`error::Result`]. The Python bindings live in `py/` behind the
//! `python` feature and are the only place that touches pyo3 or numpy.

pub mod error;
pub mod files;
pub mod hugepage;
pub mod mapped;
pub mod ngram;
pub mod nn;
pub mod parallel;
pub mod rng;
pub mod sampling;
pub mod search;
pub mod stdio;
pub mod tokenize;
pub mod trace;

#[cfg(feature = "python")]
mod py;

pub use error::{Error, Result};
