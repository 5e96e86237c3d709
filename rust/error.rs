//! The core's one error type.
//!
//! Every fallible core function returns [`Result`]. Each variant maps to exactly one Python
//! exception class in `py/errors.rs` (rooted at `seqfast.SeqfastError`, a `ValueError`; `Io`
//! maps to `OSError`). Messages name what was wrong and where (file, line, position, value),
//! because the message is all a user sees.

use std::path::Path;

/// Everything that can go wrong in the core.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An argument has an invalid value (bad option, out of range, empty where not allowed).
    #[error("{0}")]
    Value(String),
    /// Arrays or sequences have incompatible shapes or lengths.
    #[error("{0}")]
    Shape(String),
    /// A vocabulary is inconsistent: duplicate tokens or ranks, unknown ids, bad merges.
    #[error("{0}")]
    Vocab(String),
    /// A file or string in a known format could not be parsed (names the file and line).
    #[error("{0}")]
    Format(String),
    /// Text contains a special token's string under the `error` policy.
    #[error("{0}")]
    SpecialToken(String),
    /// Token ids could not be decoded (unknown id, invalid UTF-8 under `strict`).
    #[error("{0}")]
    Decode(String),
    /// The call was cancelled (a signal arrived while it ran; see `parallel::run_interruptible`).
    #[error("interrupted")]
    Interrupted,
    /// An operating-system I/O error, with the path it concerns.
    #[error("{msg}")]
    Io { msg: String, kind: std::io::ErrorKind },
}

/// Result alias used throughout the core.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// Wrap an I/O error with the path and the action that failed.
    pub fn io(action: &str, path: &Path, err: std::io::Error) -> Error {
        Error::Io { msg: format!("cannot {action} {}: {err}", path.display()), kind: err.kind() }
    }
}

/// Shorthands for building errors with `format!` arguments.
#[macro_export]
macro_rules! value_err { ($($t:tt)*) => { $crate::error::Error::Value(format!($($t)*)) } }
#[macro_export]
macro_rules! vocab_err { ($($t:tt)*) => { $crate::error::Error::Vocab(format!($($t)*)) } }
#[macro_export]
macro_rules! format_err { ($($t:tt)*) => { $crate::error::Error::Format(format!($($t)*)) } }
