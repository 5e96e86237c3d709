//! Opening a model file of any binary kind: seqfast's own format or KenLM's, told apart by
//! their first bytes (ARPA text has its own reader, `arpa::read_file`).

use std::path::Path;

use super::model::Model;
use super::{binary, kenlm_binary};
use crate::error::{Error, Result};

/// A model from a seqfast binary file or a KenLM binary file.
pub fn open(path: &Path) -> Result<Model> {
    let src = path.display().to_string();
    let data = crate::files::read_file(path)?;
    if kenlm_binary::is_kenlm(&data) {
        return kenlm_binary::read(&data, &src);
    }
    if data.starts_with(binary::MAGIC) {
        return binary::from_bytes(&data).map_err(|e| match e {
            Error::Format(m) => Error::Format(format!("{src}: {m}")),
            e => e,
        });
    }
    let what = if data.starts_with(b"\\data\\") || data.iter().take(4096).any(|&c| c == b'\\') {
        "looks like ARPA text: read it with NgramLM.from_arpa"
    } else {
        "not a seqfast or KenLM binary model (unknown first bytes)"
    };
    Err(Error::Format(format!("{src}: offset 0: {what}")))
}

/// Write `model` to `path` in seqfast's binary format, atomically.
pub fn save(model: &Model, path: &Path) -> Result<()> {
    crate::files::write_atomic(path, &binary::to_bytes(model))
}
