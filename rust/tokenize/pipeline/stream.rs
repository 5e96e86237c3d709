//! Streaming decode for any pipeline (HF's `DecodeStream`): feed ids one step at a time and
//! get the text they complete, never half a character, for every model and decoder.
//!
//! The state is the ids since the last emitted prefix and the prefix's decoded text. A step
//! decodes those ids; if the result grew past the prefix and does not end in U+FFFD (a
//! character still incomplete), the growth is emitted and the window slides so the kept ids
//! are exactly those after the previous prefix. Decoders that look at neighbours (Metaspace's
//! leading space, WordPiece's "##") see the same context HF's stream gives them. Cost per step:
//! one decode of the short window.

use super::Pipeline;
use crate::error::{Error, Result};

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PipelineStream {
    pub ids: Vec<u32>,
    pub prefix: String,
    pub prefix_index: usize,
    pub skip_special: bool,
}

impl PipelineStream {
    pub fn new(skip_special: bool) -> PipelineStream {
        PipelineStream { skip_special, ..Default::default() }
    }

    /// Feed one id: the newly completed text, if any.
    pub fn step(&mut self, p: &Pipeline, id: u32) -> Result<Option<String>> {
        self.ids.push(id);
        let s = p.decode(&self.ids, self.skip_special)?;
        if s.len() > self.prefix.len() && !s.ends_with('\u{fffd}') {
            let Some(new) = s.strip_prefix(self.prefix.as_str()) else {
                return Err(Error::Decode(format!(
                    "stream decode: the text so far {:?} no longer starts with the text already emitted {:?} \
                     (this decoder rewrites earlier output)",
                    s, self.prefix
                )));
            };
            let new = new.to_string();
            let new_index = self.ids.len() - self.prefix_index;
            self.ids.drain(..self.prefix_index.min(self.ids.len()));
            self.prefix = p.decode(&self.ids, self.skip_special)?;
            self.prefix_index = new_index;
            Ok(Some(new))
        } else {
            Ok(None)
        }
    }

    /// Feed many ids: the concatenation of what each step emits.
    pub fn step_many(&mut self, p: &Pipeline, ids: &[u32]) -> Result<String> {
        let mut out = String::new();
        for &id in ids {
            if let Some(s) = self.step(p, id)? {
                out.push_str(&s);
            }
        }
        Ok(out)
    }
}
