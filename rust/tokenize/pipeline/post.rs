//! Post-processors (HF's `processors`): special tokens and type ids around one sequence or a
//! pair, and ByteLevel's offset trimming.
//!
//! `process` takes the encodings of the sequence (and the pair) after truncation and returns
//! the final one, applying the same steps to every overflowing piece, as HF does for single
//! sequences.

use super::encoding::Encoding;

/// One element of a template: a sequence (`$A` = false, `$B` = true) or special token ids.
#[derive(Clone, Debug, PartialEq)]
pub enum Piece {
    Seq { b: bool, type_id: u32 },
    Special { name: String, ids: Vec<u32>, type_id: u32 },
}

#[derive(Clone, Debug)]
pub enum Post {
    ByteLevel { trim_offsets: bool, add_prefix_space: bool },
    Template { single: Vec<Piece>, pair: Vec<Piece>, tokens: Vec<(String, Vec<u32>, Vec<String>)> },
    Bert { sep: (String, u32), cls: (String, u32) },
    Roberta { sep: (String, u32), cls: (String, u32), trim_offsets: bool, add_prefix_space: bool },
    Sequence(Vec<Post>),
}

/// HF's `process_offsets`: move offsets past leading and trailing spaces of byte-level tokens.
fn trim_offsets(e: &mut Encoding, add_prefix_space: bool) {
    for o in e.overflowing.iter_mut() {
        trim_offsets(o, add_prefix_space);
    }
    for i in 0..e.ids.len() {
        let (mut lead, trail) = (e.ws[i].0 as u32, e.ws[i].1 as u32);
        let off = &mut e.offsets[i];
        if lead > 0 {
            let is_first = i == 0 || off.0 == 0;
            if is_first && add_prefix_space && lead == 1 {
                lead = 0;
            }
            off.0 = (off.0 + lead).min(off.1);
        }
        if trail > 0 && off.1 >= trail {
            off.1 = (off.1 - trail).max(off.0);
        }
    }
}

impl Post {
    /// True if any part trims offsets (then encodings carry token whitespace counts).
    pub fn trims_offsets(&self) -> bool {
        match self {
            Post::ByteLevel { trim_offsets, .. } | Post::Roberta { trim_offsets, .. } => *trim_offsets,
            Post::Sequence(v) => v.iter().any(Post::trims_offsets),
            _ => false,
        }
    }

    /// Number of special tokens added to a single sequence or a pair.
    pub fn added_tokens(&self, pair: bool) -> usize {
        match self {
            Post::ByteLevel { .. } => 0,
            Post::Template { single, pair: p, .. } => {
                let t = if pair { p } else { single };
                t.iter().map(|x| if let Piece::Special { ids, .. } = x { ids.len() } else { 0 }).sum()
            }
            Post::Bert { .. } => {
                if pair {
                    3
                } else {
                    2
                }
            }
            Post::Roberta { .. } => {
                if pair {
                    4
                } else {
                    2
                }
            }
            Post::Sequence(v) => v.iter().map(|p| p.added_tokens(pair)).sum(),
        }
    }

    /// Process `encs` (one or two) into the list HF merges afterwards.
    fn process_list(&self, mut encs: Vec<Encoding>, add_special: bool) -> Vec<Encoding> {
        match self {
            Post::ByteLevel { trim_offsets: trim, add_prefix_space } => {
                if *trim {
                    for e in encs.iter_mut() {
                        trim_offsets(e, *add_prefix_space);
                    }
                }
                encs
            }
            Post::Sequence(v) => {
                for p in v {
                    encs = p.process_list(encs, add_special);
                }
                encs
            }
            Post::Template { single, pair, .. } => {
                let t = if encs.len() == 2 { pair } else { single };
                let mut out = Vec::with_capacity(t.len());
                for (k, piece) in t.iter().enumerate() {
                    match piece {
                        Piece::Seq { b, type_id } => {
                            let i = usize::from(*b);
                            // Moved out at its last use in the template, copied before.
                            let again = t[k + 1..].iter().any(|p| matches!(p, Piece::Seq { b: x, .. } if x == b));
                            if let Some(e) = encs.get_mut(i) {
                                e.set_type_ids(*type_id);
                                for o in e.overflowing.iter_mut() {
                                    o.set_type_ids(*type_id);
                                }
                                out.push(if again { e.clone() } else { std::mem::take(e) });
                            }
                        }
                        Piece::Special { ids, type_id, .. } if add_special => out.push(Encoding::specials(ids, *type_id)),
                        Piece::Special { .. } => {}
                    }
                }
                out
            }
            Post::Bert { sep, cls } => {
                if !add_special {
                    return encs;
                }
                encs.iter().enumerate().map(|(i, e)| wrap(e, (i == 0).then_some(cls.1), sep.1, &|e| e.type_ids.clone(), i)).collect()
            }
            Post::Roberta { sep, cls, trim_offsets: trim, add_prefix_space } => {
                if *trim {
                    for e in encs.iter_mut() {
                        trim_offsets(e, *add_prefix_space);
                    }
                }
                for e in encs.iter_mut() {
                    zero_types(e);
                }
                if !add_special {
                    return encs;
                }
                encs.iter()
                    .enumerate()
                    .map(|(i, e)| wrap(e, Some(if i == 0 { cls.1 } else { sep.1 }), sep.1, &|e| e.type_ids.clone(), 0))
                    .collect()
            }
        }
    }

    /// The final encoding of a sequence (and pair), HF's `PostProcessor::process`.
    pub fn process(&self, encs: Vec<Encoding>, add_special: bool) -> Encoding {
        merge(self.process_list(encs, add_special))
    }
}

fn zero_types(e: &mut Encoding) {
    e.set_type_ids(0);
    for o in e.overflowing.iter_mut() {
        zero_types(o);
    }
}

/// `[first] e [last]` with HF's Bert/Roberta metadata (special mask 0 inside), overflowing
/// pieces wrapped the same way. `pair_type` is the type id of the added tokens after a second
/// sequence (BERT: 1), else 0.
fn wrap(e: &Encoding, first: Option<u32>, last: u32, types: &dyn Fn(&Encoding) -> Vec<u32>, index: usize) -> Encoding {
    let t_end = if index == 0 { 0 } else { 1 };
    let mut out = Encoding::default();
    if let Some(f) = first {
        out.push(f, 0, (0, 0), 1, -1);
    }
    let ty = types(e);
    for (i, &t) in ty.iter().enumerate().take(e.len()) {
        out.push(e.ids[i], t, e.offsets[i], 0, e.words[i]);
    }
    out.push(last, t_end, (0, 0), 1, -1);
    out.overflowing = e.overflowing.iter().map(|o| wrap(o, first, last, types, index)).collect();
    out
}

/// HF's `Encoding::merge` of a list: concatenate, combining overflowing pieces as
/// `merge_with` does.
pub fn merge(encs: Vec<Encoding>) -> Encoding {
    let mut it = encs.into_iter();
    let mut acc = it.next().unwrap_or_default();
    for e in it {
        merge_with(&mut acc, e);
    }
    acc
}

fn merge_with(a: &mut Encoding, b: Encoding) {
    let mut over = Vec::new();
    for ao in &a.overflowing {
        let mut n = ao.clone();
        merge_with(&mut n, b.clone());
        over.push(n);
        for bo in &b.overflowing {
            let mut n = ao.clone();
            merge_with(&mut n, bo.clone());
            over.push(n);
        }
    }
    for bo in &b.overflowing {
        let mut n = a.clone();
        n.overflowing.clear();
        merge_with(&mut n, bo.clone());
        over.push(n);
    }
    a.extend(&b);
    a.overflowing = over;
}
