//! KenLM-style stateful queries: an `LmState` holds the context a next word is scored in
//! (`ngram::State`); `NgramModel.base_full_score` (in `lm.rs`) scores one word and writes the
//! state after it, as `kenlm.Model.BaseFullScore(in_state, word, out_state)` does.
//! `seqfast.ngram.kenlm_compat` builds kenlm's API on these.

use pyo3::prelude::*;

use crate::ngram::State;

/// The context of the next word (kenlm's `State`); compare with `==`, copy with `copy.copy`.
#[pyclass(module = "seqfast._core", name = "LmState")]
#[derive(Clone)]
pub struct LmState {
    pub(crate) s: State,
    /// The part of `s` that matters for what follows (`Model::context_len`), and the history
    /// length when it matters too (stupid backoff's penalty counts it); set with `s`.
    pub(crate) klen: usize,
    pub(crate) khist: usize,
}

impl LmState {
    /// What identifies the context, as KenLM's state equality: the n-grams that can still be
    /// extended (so the states after `</s>` and after `<unk>` are equal, as kenlm's are).
    fn key(&self) -> (&[u32], usize) {
        (&self.s.rows[..self.klen], self.khist)
    }

    pub(crate) fn set(&mut self, m: &crate::ngram::Model, s: State) {
        self.klen = m.context_len(&s);
        self.khist = if matches!(m.mode, crate::ngram::Mode::Stupid { .. }) { s.hist } else { 0 };
        self.s = s;
    }
}

#[pymethods]
impl LmState {
    #[new]
    pub(crate) fn new() -> Self {
        LmState { s: State::EMPTY, klen: 0, khist: 0 }
    }

    /// Words of context that matter for what follows (KenLM's state length; at most order - 1).
    #[getter]
    fn length(&self) -> usize {
        self.klen
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        match other.cast::<LmState>() {
            Ok(o) => self.key() == o.borrow().key(),
            Err(_) => false,
        }
    }

    fn __hash__(&self) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        self.key().hash(&mut h);
        h.finish()
    }

    fn __copy__(&self) -> Self {
        self.clone()
    }

    fn __deepcopy__(&self, _memo: &Bound<'_, PyAny>) -> Self {
        self.clone()
    }

    fn __repr__(&self) -> String {
        format!("State(length={})", self.klen)
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<LmState>()?;
    Ok(())
}
