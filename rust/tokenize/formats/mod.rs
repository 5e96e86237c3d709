//! File formats: tiktoken ranks, Hugging Face `tokenizer.json`, GPT-2 `vocab.json` + `merges.txt`,
//! plus the byte-level alphabet they share and atomic writes.
//!
//! Readers validate everything they take in and name the file and line (or JSON path) of the
//! first problem; no input makes them panic. Writers go through [`write_atomic`].

pub mod bytelevel;
pub mod hf;
pub mod merges_txt;
pub mod tiktoken;

pub use crate::files::{read_file, read_text, write_atomic};
