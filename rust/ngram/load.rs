//! Opening a model file of any binary kind: seqfast's own format or KenLM's, told apart by
//! their first bytes (ARPA text has its own reader, `arpa::read_file`).

use std::path::Path;

use super::model::Model;
use super::{binary, kenlm_binary};
use crate::error::{Error, Result};

/// A model from a seqfast binary file (mapped; `verify` reads it all to check it now) or a
/// KenLM binary file, with the quantization error bound of a quantized seqfast file (else 0).
pub fn open(path: &Path, verify: bool) -> Result<(Model, f32)> {
    let src = path.display().to_string();
    let named = |e: Error| match e {
        Error::Format(m) => Error::Format(format!("{src}: {m}")),
        e => e,
    };
    let mut head = [0u8; 64];
    let got = {
        use std::io::Read;
        let mut f = std::fs::File::open(path).map_err(|e| Error::io("open", path, e))?;
        f.read(&mut head).map_err(|e| Error::io("read", path, e))?
    };
    let head = &head[..got];
    if head.starts_with(binary::MAGIC) {
        return binary::load(path, verify).map(|l| (l.model, l.quant_error)).map_err(named);
    }
    if kenlm_binary::is_kenlm(head) {
        let data = crate::files::read_file(path)?;
        return kenlm_binary::read(&data, &src).map(|m| (m, 0.0));
    }
    let data = head;
    let what = if data.starts_with(b"\\data\\") || data.iter().take(4096).any(|&c| c == b'\\') {
        "looks like ARPA text: read it with NgramLM.from_arpa"
    } else {
        "not a seqfast or KenLM binary model (unknown first bytes)"
    };
    Err(Error::Format(format!("{src}: offset 0: {what}")))
}

/// Write `model` to `path` in seqfast's binary format, atomically.
pub fn save(model: &Model, path: &Path, opts: binary::Options) -> Result<()> {
    binary::save(model, path, opts)
}
