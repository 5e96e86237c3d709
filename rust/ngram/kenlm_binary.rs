//! KenLM's own binary model files (`build_binary` output): reading them into a [`Model`].
//!
//! Not implemented yet: [`read`] refuses every file with a `Format` error.

use super::model::Model;
use crate::error::{Error, Result};

/// The first bytes of every KenLM binary file.
pub const MAGIC: &[u8] = b"mmap lm http://kheafield.com/code";

/// Whether `data` starts like a KenLM binary file.
pub fn is_kenlm(data: &[u8]) -> bool {
    data.starts_with(MAGIC)
}

/// A model from the bytes of a KenLM binary file; `src` names it in errors.
pub fn read(data: &[u8], src: &str) -> Result<Model> {
    let _ = data;
    Err(Error::Format(format!("{src}: reading KenLM binary files is not implemented yet")))
}
