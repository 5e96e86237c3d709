//! Multi-head attention with `torch.nn.MultiheadAttention`'s weights and semantics, forward and
//! backward: the three input projections, the fused scaled dot-product kernel (`attention.rs`)
//! over the heads of the projections read in place ((B, T, E) viewed as (B, H, T, E / H) by
//! strides, never transposed), and the output projection.
//!
//! The products run on the packed kernel (`packed::matmul`: each output one sequential sum, so
//! the whole layer is bit-identical for any number of threads). Inputs are batch-major and contiguous
//! ((B, Tq, E) query, (B, Tk, E) key and value); the Python layer transposes (T, B, E) inputs.

use super::attention::{self, GradsOut, Inputs, Layout, Masks, Options, Saved, View4, ViewMut4};
use super::packed::{matmul, Kern};
use crate::error::{Error, Result};

/// Sizes: batch, query and key lengths, embedding size, heads.
#[derive(Clone, Copy, Debug)]
pub struct Dims {
    pub b: usize,
    pub tq: usize,
    pub tk: usize,
    pub e: usize,
    pub heads: usize,
}

impl Dims {
    fn dh(&self) -> usize {
        self.e / self.heads
    }
    fn rows(&self, i: usize) -> usize {
        self.b * if i == 0 { self.tq } else { self.tk }
    }
    /// The heads of a (B, t, E) array as (B, H, t, E / H).
    fn heads_shape(&self, t: usize) -> ([usize; 4], Layout) {
        let dh = self.dh();
        ([self.b, self.heads, t, dh], Layout { sb: t * self.e, sh: dh, st: self.e })
    }
}

/// `in_proj_weight` (3E, E), optional `in_proj_bias` (3E), `out_proj.weight` (E, E), optional
/// `out_proj.bias` (E).
#[derive(Clone, Copy)]
pub struct Weights<'a, T> {
    pub in_w: &'a [T],
    pub in_b: Option<&'a [T]>,
    pub out_w: &'a [T],
    pub out_b: Option<&'a [T]>,
}

/// What the backward needs: the projections, the attention output (B, Tq, E) and its row
/// log-sum-exp.
pub struct Cache<T> {
    pub dims: Dims,
    proj: [Vec<T>; 3],
    attn: Vec<T>,
    lse: Vec<T>,
}

/// Gradients of the inputs and of every weight (None for an absent bias).
pub struct Grads<T> {
    pub dx: [Vec<T>; 3],
    pub in_w: Vec<T>,
    pub in_b: Option<Vec<T>>,
    pub out_w: Vec<T>,
    pub out_b: Option<Vec<T>>,
}

fn check_len(name: &str, len: usize, want: usize) -> Result<()> {
    if len != want {
        return Err(Error::Shape(format!("multi-head attention: {name} has {len} values, expected {want}")));
    }
    Ok(())
}

fn check<T>(dm: &Dims, x: &[&[T]; 3], w: &Weights<T>) -> Result<()> {
    if dm.heads == 0 || dm.e % dm.heads != 0 {
        return Err(Error::Value(format!("multi-head attention: {} heads must divide embed_dim {}", dm.heads, dm.e)));
    }
    for (i, name) in ["query", "key", "value"].into_iter().enumerate() {
        check_len(name, x[i].len(), dm.rows(i) * dm.e)?;
    }
    check_len("in_proj_weight", w.in_w.len(), 3 * dm.e * dm.e)?;
    check_len("out_proj.weight", w.out_w.len(), dm.e * dm.e)?;
    if let Some(b) = w.in_b {
        check_len("in_proj_bias", b.len(), 3 * dm.e)?;
    }
    if let Some(b) = w.out_b {
        check_len("out_proj.bias", b.len(), dm.e)?;
    }
    Ok(())
}

/// y (rows x n) += bias on every row.
fn add_rows<T: Kern>(y: &mut [T], bias: Option<&[T]>) {
    if let Some(b) = bias {
        for row in y.chunks_exact_mut(b.len()) {
            row.iter_mut().zip(b).for_each(|(v, &c)| *v += c);
        }
    }
}

/// The column sums of a (rows x n) matrix, in row order (independent of the thread count).
fn col_sums<T: Kern>(y: &[T], n: usize) -> Vec<T> {
    let mut s = vec![T::ZERO; n];
    for row in y.chunks_exact(n) {
        s.iter_mut().zip(row).for_each(|(a, &v)| *a += v);
    }
    s
}

/// Forward: the output (B, Tq, E), and the cache for the backward when `keep`. `opts.scale` is
/// ignored: heads use 1 / sqrt(E / H), as torch does.
pub fn forward<T: Kern>(
    dm: &Dims,
    x: [&[T]; 3],
    w: &Weights<T>,
    masks: &Masks,
    opts: &Options,
    keep: bool,
) -> Result<(Vec<T>, Option<Cache<T>>)> {
    check(dm, &x, w)?;
    let (e, nt) = (dm.e, opts.num_threads);
    let mut proj: [Vec<T>; 3] = Default::default();
    for (i, p) in proj.iter_mut().enumerate() {
        *p = matmul(x[i], &w.in_w[i * e * e..(i + 1) * e * e], dm.rows(i), e, e, false, true, nt)?;
        add_rows(p, w.in_b.map(|b| &b[i * e..(i + 1) * e]));
    }
    let (qs, ql) = dm.heads_shape(dm.tq);
    let (ks, kl) = dm.heads_shape(dm.tk);
    let mut attn = vec![T::ZERO; dm.rows(0) * e];
    let mut lse = vec![T::ZERO; dm.b * dm.heads * dm.tq];
    {
        let inputs =
            Inputs { q: View4::new("q", &proj[0], qs, ql)?, k: View4::new("k", &proj[1], ks, kl)?, v: View4::new("v", &proj[2], ks, kl)? };
        let o = Options { scale: 1.0 / (dm.dh() as f64).sqrt(), ..*opts };
        attention::forward(&inputs, masks, &o, ViewMut4::new("attn", &mut attn, qs, ql)?, &mut lse)?;
    }
    let mut out = matmul(&attn, w.out_w, dm.rows(0), e, e, false, true, nt)?;
    add_rows(&mut out, w.out_b);
    Ok((out, keep.then_some(Cache { dims: *dm, proj, attn, lse })))
}

/// Backward from the output gradient `dy` (B, Tq, E); `x`, `w`, `masks` and `opts` as in the
/// forward.
pub fn backward<T: Kern>(c: &Cache<T>, x: [&[T]; 3], w: &Weights<T>, masks: &Masks, opts: &Options, dy: &[T]) -> Result<Grads<T>> {
    let dm = &c.dims;
    check(dm, &x, w)?;
    let (e, n, nt) = (dm.e, dm.rows(0), opts.num_threads);
    check_len("dout", dy.len(), n * e)?;
    let out_w = matmul(dy, &c.attn, e, n, e, true, false, nt)?;
    let out_b = w.out_b.map(|_| col_sums(dy, e));
    let dattn = matmul(dy, w.out_w, n, e, e, false, false, nt)?;
    let (qs, ql) = dm.heads_shape(dm.tq);
    let (ks, kl) = dm.heads_shape(dm.tk);
    let mut g: [Vec<T>; 3] = [vec![T::ZERO; n * e], vec![T::ZERO; dm.rows(1) * e], vec![T::ZERO; dm.rows(2) * e]];
    {
        let inputs = Inputs {
            q: View4::new("q", &c.proj[0], qs, ql)?,
            k: View4::new("k", &c.proj[1], ks, kl)?,
            v: View4::new("v", &c.proj[2], ks, kl)?,
        };
        let saved = Saved { out: View4::new("attn", &c.attn, qs, ql)?, lse: &c.lse, dout: View4::new("dattn", &dattn, qs, ql)? };
        let [gq, gk, gv] = &mut g;
        let grads =
            GradsOut { dq: ViewMut4::new("dq", gq, qs, ql)?, dk: ViewMut4::new("dk", gk, ks, kl)?, dv: ViewMut4::new("dv", gv, ks, kl)? };
        let o = Options { scale: 1.0 / (dm.dh() as f64).sqrt(), ..*opts };
        attention::backward(&inputs, masks, &o, &saved, grads)?;
    }
    let mut in_w = Vec::with_capacity(3 * e * e);
    let mut in_b = w.in_b.map(|_| Vec::with_capacity(3 * e));
    let mut dx: [Vec<T>; 3] = Default::default();
    for i in 0..3 {
        in_w.extend(matmul(&g[i], x[i], e, dm.rows(i), e, true, false, nt)?);
        if let Some(b) = in_b.as_mut() {
            b.extend(col_sums(&g[i], e));
        }
        dx[i] = matmul(&g[i], &w.in_w[i * e * e..(i + 1) * e * e], dm.rows(i), e, e, false, false, nt)?;
    }
    Ok(Grads { dx, in_w, in_b, out_w, out_b })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(n: usize, salt: usize) -> Vec<f64> {
        (0..n).map(|i| (((i * 7919 + salt * 104729) % 201) as f64 - 100.0) / 150.0).collect()
    }

    /// (loss = sum(out * r), its gradients) for self-attention inputs and the given weights.
    fn loss(dm: &Dims, x: &[Vec<f64>; 3], w: &Weights<f64>, r: &[f64], causal: bool) -> (f64, Grads<f64>) {
        let opts = Options { scale: 0.0, causal, dropout: 0.0, seed: 0, num_threads: Some(1) };
        let xs = [&x[0][..], &x[1][..], &x[2][..]];
        let (out, cache) = forward(dm, xs, w, &Masks::default(), &opts, true).unwrap();
        let l = out.iter().zip(r).map(|(a, b)| a * b).sum();
        (l, backward(&cache.unwrap(), xs, w, &Masks::default(), &opts, r).unwrap())
    }

    #[test]
    fn gradients_match_finite_differences() {
        let dm = Dims { b: 2, tq: 3, tk: 5, e: 6, heads: 2 };
        let x = [data(2 * 3 * 6, 1), data(2 * 5 * 6, 2), data(2 * 5 * 6, 3)];
        let (in_w, in_b, out_w, out_b) = (data(3 * 36, 4), data(18, 5), data(36, 6), data(6, 7));
        let r = data(2 * 3 * 6, 8);
        for causal in [false, true] {
            let w = Weights { in_w: &in_w, in_b: Some(&in_b), out_w: &out_w, out_b: Some(&out_b) };
            let (_, g) = loss(&dm, &x, &w, &r, causal);
            let h = 1e-6;
            // A few coordinates of every gradient, by central differences.
            for (name, which) in [("query", 0), ("key", 1), ("value", 2)] {
                for j in [0, 7, x[which].len() - 1] {
                    let mut xp = x.clone();
                    xp[which][j] += h;
                    let mut xm = x.clone();
                    xm[which][j] -= h;
                    let fd = (loss(&dm, &xp, &w, &r, causal).0 - loss(&dm, &xm, &w, &r, causal).0) / (2.0 * h);
                    assert!((fd - g.dx[which][j]).abs() < 1e-7, "{name}[{j}] {fd} vs {}", g.dx[which][j]);
                }
            }
            for (name, vals, grad) in [
                ("in_w", &in_w, &g.in_w),
                ("in_b", &in_b, g.in_b.as_ref().unwrap()),
                ("out_w", &out_w, &g.out_w),
                ("out_b", &out_b, g.out_b.as_ref().unwrap()),
            ] {
                for j in [0, 5, vals.len() - 1] {
                    let bump = |d: f64| {
                        let mut v = vals.clone();
                        v[j] += d;
                        let w2 = match name {
                            "in_w" => Weights { in_w: &v, ..w },
                            "in_b" => Weights { in_b: Some(&v), ..w },
                            "out_w" => Weights { out_w: &v, ..w },
                            _ => Weights { out_b: Some(&v), ..w },
                        };
                        loss(&dm, &x, &w2, &r, causal).0
                    };
                    let fd = (bump(h) - bump(-h)) / (2.0 * h);
                    assert!((fd - grad[j]).abs() < 1e-7, "{name}[{j}] {fd} vs {}", grad[j]);
                }
            }
        }
    }

    #[test]
    fn bad_sizes_are_errors() {
        let dm = Dims { b: 1, tq: 2, tk: 2, e: 4, heads: 3 };
        let x = vec![0.0f64; 8];
        let w = vec![0.0f64; 48];
        let o = vec![0.0f64; 16];
        let opts = Options { scale: 0.0, causal: false, dropout: 0.0, seed: 0, num_threads: Some(1) };
        let ws = Weights { in_w: &w, in_b: None, out_w: &o, out_b: None };
        let e = forward(&dm, [&x, &x, &x], &ws, &Masks::default(), &opts, false).err().unwrap().to_string();
        assert!(e.contains("3 heads must divide embed_dim 4"), "{e}");
        let dm = Dims { heads: 2, ..dm };
        let e = forward(&dm, [&x, &x[..6], &x], &ws, &Masks::default(), &opts, false).err().unwrap().to_string();
        assert!(e.contains("key has 6 values, expected 8"), "{e}");
    }
}
