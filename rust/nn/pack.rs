//! Variable-length batches as packed sequences (PyTorch's `PackedSequence` layout).
//!
//! Rows are sorted by length, longest first (ties by batch index), so that at every step the
//! rows still running are a prefix: step `t` has `sizes[t]` rows, stored at packed indices
//! `offsets[t] .. offsets[t] + sizes[t]` in sorted-row order. The work of every step is then one
//! dense block and the total cost follows the real token count, not the padded box.
//!
//! The reverse direction runs each row from its own last token down to 0; its step `s` holds
//! row `r`'s token `len - 1 - s`, so it has the same prefix structure. `rev[k]` maps a
//! reverse-packed index to the forward-packed index of the same token. Layer outputs are kept in
//! forward-packed order.

use crate::error::{Error, Result};

/// The packing of one batch.
#[derive(Clone, Debug)]
pub struct Packing {
    /// Batch size B and padded length T of the user's box.
    pub batch: usize,
    pub steps: usize,
    /// Length of each batch row.
    pub lengths: Vec<usize>,
    /// Sorted position -> batch row, and its inverse.
    pub order: Vec<usize>,
    pub rank: Vec<usize>,
    /// Rows running at each step (non-increasing), and where each step starts.
    pub sizes: Vec<usize>,
    pub offsets: Vec<usize>,
    /// Number of real tokens.
    pub n: usize,
    /// Reverse-packed index -> forward-packed index.
    pub rev: Vec<usize>,
    /// Batch row and time of each forward-packed token.
    pub tok_b: Vec<usize>,
    pub tok_t: Vec<usize>,
}

impl Packing {
    /// Validate `lengths` (each in 1..=steps; None = all full) and build the packing.
    pub fn new(batch: usize, steps: usize, lengths: Option<&[i64]>) -> Result<Packing> {
        if batch == 0 || steps == 0 {
            return Err(Error::Shape(format!("x has {batch} batch rows and {steps} time steps; both must be at least 1")));
        }
        let lengths: Vec<usize> = match lengths {
            None => vec![steps; batch],
            Some(l) => {
                if l.len() != batch {
                    return Err(Error::Shape(format!("lengths has {} entries, expected one per batch row ({batch})", l.len())));
                }
                let mut out = Vec::with_capacity(batch);
                for (i, &v) in l.iter().enumerate() {
                    if v < 1 || v as u64 > steps as u64 {
                        return Err(Error::Value(format!("lengths[{i}] = {v} is outside 1..={steps} (the time dimension of x)")));
                    }
                    out.push(v as usize);
                }
                out
            }
        };
        let mut order: Vec<usize> = (0..batch).collect();
        order.sort_by(|&a, &b| lengths[b].cmp(&lengths[a]).then(a.cmp(&b)));
        let mut rank = vec![0; batch];
        for (r, &b) in order.iter().enumerate() {
            rank[b] = r;
        }
        let tmax = lengths[order[0]];
        let mut sizes = Vec::with_capacity(tmax);
        let mut offsets = Vec::with_capacity(tmax + 1);
        let mut n = 0;
        let mut running = batch;
        for t in 0..tmax {
            while running > 0 && lengths[order[running - 1]] <= t {
                running -= 1;
            }
            offsets.push(n);
            sizes.push(running);
            n += running;
        }
        offsets.push(n);
        let mut tok_b = vec![0; n];
        let mut tok_t = vec![0; n];
        let mut rev = vec![0; n];
        for t in 0..tmax {
            for (r, &b) in order.iter().enumerate().take(sizes[t]) {
                let k = offsets[t] + r;
                tok_b[k] = b;
                tok_t[k] = t;
                rev[k] = offsets[lengths[b] - 1 - t] + r;
            }
        }
        Ok(Packing { batch, steps, lengths, order, rank, sizes, offsets, n, rev, tok_b, tok_t })
    }

    /// Forward-packed index of row `b`'s token `t`.
    pub fn index(&self, b: usize, t: usize) -> usize {
        self.offsets[t] + self.rank[b]
    }

    /// Row of the padded box (flattened to rows of features) holding token `k`.
    pub fn padded_row(&self, k: usize, batch_first: bool) -> usize {
        let (b, t) = (self.tok_b[k], self.tok_t[k]);
        if batch_first {
            b * self.steps + t
        } else {
            t * self.batch + b
        }
    }

    /// Number of steps of the longest row.
    pub fn max_len(&self) -> usize {
        self.sizes.len()
    }
}

/// Rows of `src` (each `w` wide) in the order `idx`, as a new contiguous array.
pub fn gather_rows<T: Copy>(src: &[T], idx: impl IntoIterator<Item = usize>, w: usize) -> Vec<T> {
    let mut out = Vec::new();
    for i in idx {
        out.extend_from_slice(&src[i * w..(i + 1) * w]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packs_unsorted_lengths() {
        let p = Packing::new(3, 4, Some(&[2, 4, 1])).unwrap();
        assert_eq!(p.order, vec![1, 0, 2]);
        assert_eq!(p.sizes, vec![3, 2, 1, 1]);
        assert_eq!(p.offsets, vec![0, 3, 5, 6, 7]);
        assert_eq!(p.n, 7);
        // reverse step 0 of row 1 (len 4) is its token 3
        assert_eq!(p.rev[0], p.index(1, 3));
        assert_eq!(p.rev[1], p.index(0, 1));
        assert_eq!(p.rev[2], p.index(2, 0));
        assert!(Packing::new(3, 4, Some(&[0, 1, 1])).is_err());
        assert!(Packing::new(3, 4, Some(&[5, 1, 1])).is_err());
        assert!(Packing::new(3, 4, Some(&[1, 1])).is_err());
    }
}
