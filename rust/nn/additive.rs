//! Additive (Bahdanau) attention, forward and backward, without the (B, Tq, Tk, da) tensor.
//!
//! score[b, i, j] = v . tanh(Pq[b, i] + Pk[b, j]) with Pq = query W_q^T and
//! Pk = keys W_k^T + bias (two matrix products), softmax over the keys a query may see,
//! context = A values. The forward evaluates the tanh row by row and keeps only Pq, Pk and the
//! attention weights A (B Tq Tk); the backward recomputes each tanh once and in the same loop adds
//! its share to dPq, dPk and dv: g = dS[i, j] v (1 - t^2), dPq[i] += g, dPk[j] += g,
//! dv += dS[i, j] t, with dS = A (dA - rowsum(A dA)) and dA = dcontext values^T.
//!
//! float32 uses a rational tanh (`Real::tanh_fast`, absolute error below 4e-7).
//!
//! Work is split over batch rows (query rows in the forward); every sum runs in a fixed order,
//! so results are bit-identical for any thread count.

use super::attention::BoolMask;
use super::gemm::{for_each, gemm, gemm_par, Split, SyncPtr};
use super::real::Real;
use super::simd::simd_kernels;
use crate::error::{Error, Result};
use crate::parallel;

/// Sizes: batch, query and key lengths, query / key / value features, attention width.
#[derive(Clone, Copy, Debug)]
pub struct Dims {
    pub b: usize,
    pub tq: usize,
    pub tk: usize,
    pub dq: usize,
    pub dk: usize,
    pub dv: usize,
    pub da: usize,
}

/// Inputs and parameters, all contiguous: query (B, Tq, dq), keys (B, Tk, dk), values
/// (B, Tk, dv), w_q (da, dq), w_k (da, dk), v (da), bias (da).
#[derive(Clone, Copy)]
pub struct Args<'a, T> {
    pub query: &'a [T],
    pub keys: &'a [T],
    pub values: &'a [T],
    pub w_q: &'a [T],
    pub w_k: &'a [T],
    pub v: &'a [T],
    pub bias: Option<&'a [T]>,
    /// Valid keys per batch row.
    pub lengths: Option<&'a [usize]>,
    /// (B, 1, Tq, Tk), true = may attend; zero strides broadcast.
    pub mask: Option<BoolMask<'a>>,
}

/// Forward results: context (B, Tq, dv) and what the backward needs: Pq (B Tq, da),
/// Pk (B Tk, da, bias included) and the attention weights (B, Tq, Tk).
pub struct Forward<T> {
    pub context: Vec<T>,
    pub pq: Vec<T>,
    pub pk: Vec<T>,
    pub attn: Vec<T>,
}

/// The forward's saved arrays, borrowed.
pub struct Saved<'a, T> {
    pub pq: &'a [T],
    pub pk: &'a [T],
    pub attn: &'a [T],
}

/// Gradients of every input and parameter.
pub struct Grads<T> {
    pub query: Vec<T>,
    pub keys: Vec<T>,
    pub values: Vec<T>,
    pub w_q: Vec<T>,
    pub w_k: Vec<T>,
    pub v: Vec<T>,
    pub bias: Vec<T>,
}

fn need(name: &str, got: usize, want: usize) -> Result<()> {
    if got != want {
        return Err(Error::Shape(format!("additive attention: {name} has {got} elements, expected {want}")));
    }
    Ok(())
}

fn check<T: Real>(dm: &Dims, a: &Args<T>) -> Result<()> {
    need("query", a.query.len(), dm.b * dm.tq * dm.dq)?;
    need("keys", a.keys.len(), dm.b * dm.tk * dm.dk)?;
    need("values", a.values.len(), dm.b * dm.tk * dm.dv)?;
    need("w_q", a.w_q.len(), dm.da * dm.dq)?;
    need("w_k", a.w_k.len(), dm.da * dm.dk)?;
    need("v", a.v.len(), dm.da)?;
    if let Some(bias) = a.bias {
        need("bias", bias.len(), dm.da)?;
    }
    if let Some(len) = a.lengths {
        need("lengths", len.len(), dm.b)?;
        if let Some((i, &n)) = len.iter().enumerate().find(|(_, &n)| n > dm.tk) {
            return Err(Error::Value(format!("additive attention: lengths[{i}] = {n} is outside 0..={}", dm.tk)));
        }
    }
    if let Some(m) = a.mask {
        if m.shape() != [dm.b, 1, dm.tq, dm.tk] {
            return Err(Error::Shape(format!("additive attention: mask has shape {:?}, needs {:?}", m.shape(), [dm.b, 1, dm.tq, dm.tk])));
        }
    }
    for (name, x) in [("query", a.query), ("keys", a.keys), ("values", a.values), ("w_q", a.w_q), ("w_k", a.w_k), ("v", a.v)] {
        if let Some(i) = x.iter().position(|v| !v.is_finite_()) {
            return Err(Error::Value(format!("additive attention: {name} has a non-finite value {:?} at flat index {i}", x[i])));
        }
    }
    Ok(())
}

const LANES: usize = 8;

simd_kernels! {
    /// s[j] = v . tanh(pq + pk[j]) for the keys j with ok[j] (others -inf).
    fn scores_row<T>(pq: &[T], pk: &[T], v: &[T], ok: &[bool], s: &mut [T]) {
        let da = pq.len();
        let v = &v[..da];
        for (j, sj) in s.iter_mut().enumerate() {
            if !ok[j] {
                *sj = T::from_f64(f64::NEG_INFINITY);
                continue;
            }
            let k = &pk[j * da..(j + 1) * da];
            let mut acc = [T::ZERO; LANES];
            let (mut cq, mut ck, mut cv) = (pq.chunks_exact(LANES), k.chunks_exact(LANES), v.chunks_exact(LANES));
            for ((a, b), w) in (&mut cq).zip(&mut ck).zip(&mut cv) {
                for l in 0..LANES {
                    acc[l] += w[l] * (a[l] + b[l]).tanh_fast();
                }
            }
            let mut r = T::ZERO;
            for x in acc {
                r += x;
            }
            for ((a, b), w) in cq.remainder().iter().zip(ck.remainder()).zip(cv.remainder()) {
                r += *w * (*a + *b).tanh_fast();
            }
            *sj = r;
        }
    }

    /// For one query row: with t = tanh(pq + pk[j]) and g = ds[j] v (1 - t^2), add g to dpq and
    /// dpk[j] and ds[j] t to dv, over the keys with ds[j] != 0.
    fn grad_row<T>(pq: &[T], pk: &[T], v: &[T], ds: &[T], dpq: &mut [T], dpk: &mut [T], dv: &mut [T]) {
        let da = pq.len();
        let (v, dpq, dv) = (&v[..da], &mut dpq[..da], &mut dv[..da]);
        for (j, &d) in ds.iter().enumerate() {
            if d == T::ZERO {
                continue;
            }
            let k = &pk[j * da..(j + 1) * da];
            let gk = &mut dpk[j * da..(j + 1) * da];
            for a in 0..da {
                let t = (pq[a] + k[a]).tanh_fast();
                let g = d * v[a] * (T::ONE - t * t);
                dpq[a] += g;
                gk[a] += g;
                dv[a] += d * t;
            }
        }
    }
}

/// Which keys query (b, i) may see.
fn allowed(a: &Args<impl Real>, dm: &Dims, b: usize, i: usize, ok: &mut [bool]) {
    let n = a.lengths.map_or(dm.tk, |l| l[b]);
    for (j, o) in ok.iter_mut().enumerate() {
        *o = j < n;
    }
    if let Some(m) = a.mask {
        let row = m.row(b, 0, i);
        ok.iter_mut().zip(row).for_each(|(o, &r)| *o &= r);
    }
}

/// In-place softmax of a row of scores (-inf = masked); an all-masked row becomes zeros.
fn softmax_row<T: Real>(s: &mut [T]) {
    let ninf = T::from_f64(f64::NEG_INFINITY);
    let m = s.iter().fold(ninf, |m, &x| if x > m { x } else { m });
    if m == ninf {
        s.iter_mut().for_each(|x| *x = T::ZERO);
        return;
    }
    let mut sum = T::ZERO;
    for x in s.iter_mut() {
        *x = if *x == ninf { T::ZERO } else { (*x - m).exp_() };
        sum += *x;
    }
    let inv = T::ONE / sum;
    s.iter_mut().for_each(|x| *x = *x * inv);
}

/// C (m x n) = A (m x k) B^T with B (n x k) row-major, split over rows.
unsafe fn mul_bt<T: Real>(m: usize, k: usize, n: usize, a: &[T], b: &[T], c: &mut [T]) {
    gemm_par(m, k, n, a.as_ptr(), k, 1, b.as_ptr(), 1, k, T::ZERO, c.as_mut_ptr(), n, Split::Rows(256));
}

pub fn forward<T: Real>(dm: &Dims, a: &Args<T>, num_threads: Option<usize>) -> Result<Forward<T>> {
    check(dm, a)?;
    let cancel = parallel::cancel_token();
    let f = parallel::install(num_threads, || forward_impl(dm, a, &cancel))?;
    cancel.check()?;
    Ok(f)
}

fn forward_impl<T: Real>(dm: &Dims, a: &Args<T>, cancel: &parallel::CancelToken) -> Forward<T> {
    let (nq, nk) = (dm.b * dm.tq, dm.b * dm.tk);
    let mut pq = vec![T::ZERO; nq * dm.da];
    let mut pk = vec![T::ZERO; nk * dm.da];
    unsafe {
        mul_bt(nq, dm.dq, dm.da, a.query, a.w_q, &mut pq);
        mul_bt(nk, dm.dk, dm.da, a.keys, a.w_k, &mut pk);
    }
    if let Some(bias) = a.bias {
        pk.chunks_exact_mut(dm.da.max(1)).for_each(|r| r.iter_mut().zip(bias).for_each(|(x, &b)| *x += b));
    }
    let mut attn = vec![T::ZERO; nq * dm.tk];
    let ap = SyncPtr(attn.as_mut_ptr());
    for_each(nq, true, |r| unsafe {
        if cancel.is_cancelled() {
            return;
        }
        let (b, i) = (r / dm.tq, r % dm.tq);
        let row = std::slice::from_raw_parts_mut(ap.at(r * dm.tk), dm.tk);
        let mut ok = vec![false; dm.tk];
        allowed(a, dm, b, i, &mut ok);
        scores_row(&pq[r * dm.da..(r + 1) * dm.da], &pk[b * dm.tk * dm.da..(b + 1) * dm.tk * dm.da], a.v, &ok, row);
        softmax_row(row);
    });
    let mut context = vec![T::ZERO; nq * dm.dv];
    let cp = SyncPtr(context.as_mut_ptr());
    for_each(dm.b, true, |b| unsafe {
        let (ao, vo, co) = (b * dm.tq * dm.tk, b * dm.tk * dm.dv, b * dm.tq * dm.dv);
        gemm(dm.tq, dm.tk, dm.dv, attn.as_ptr().add(ao), dm.tk, 1, a.values.as_ptr().add(vo), dm.dv, 1, T::ZERO, cp.at(co), dm.dv);
    });
    Forward { context, pq, pk, attn }
}

pub fn backward<T: Real>(dm: &Dims, a: &Args<T>, f: &Saved<T>, dctx: &[T], num_threads: Option<usize>) -> Result<Grads<T>> {
    check(dm, a)?;
    need("dcontext", dctx.len(), dm.b * dm.tq * dm.dv)?;
    need("pq", f.pq.len(), dm.b * dm.tq * dm.da)?;
    need("pk", f.pk.len(), dm.b * dm.tk * dm.da)?;
    need("attn", f.attn.len(), dm.b * dm.tq * dm.tk)?;
    if let Some(i) = dctx.iter().position(|v| !v.is_finite_()) {
        return Err(Error::Value(format!("additive attention: dcontext has a non-finite value {:?} at flat index {i}", dctx[i])));
    }
    let cancel = parallel::cancel_token();
    let g = parallel::install(num_threads, || backward_impl(dm, a, f, dctx, &cancel))?;
    cancel.check()?;
    Ok(g)
}

fn backward_impl<T: Real>(dm: &Dims, a: &Args<T>, f: &Saved<T>, dctx: &[T], cancel: &parallel::CancelToken) -> Grads<T> {
    let (tq, tk, da) = (dm.tq, dm.tk, dm.da);
    let (nq, nk) = (dm.b * tq, dm.b * tk);
    let mut dvalues = vec![T::ZERO; nk * dm.dv];
    let mut dpq = vec![T::ZERO; nq * da];
    let mut dpk = vec![T::ZERO; nk * da];
    let mut dv_part = vec![T::ZERO; dm.b * da];
    let (dvp, dqp, dkp, dwp) =
        (SyncPtr(dvalues.as_mut_ptr()), SyncPtr(dpq.as_mut_ptr()), SyncPtr(dpk.as_mut_ptr()), SyncPtr(dv_part.as_mut_ptr()));
    for_each(dm.b, true, |b| unsafe {
        if cancel.is_cancelled() {
            return;
        }
        let (attn, dc, vals) =
            (&f.attn[b * tq * tk..][..tq * tk], &dctx[b * tq * dm.dv..][..tq * dm.dv], &a.values[b * tk * dm.dv..][..tk * dm.dv]);
        // dvalues = A^T dcontext; dA = dcontext values^T, turned into dS in place.
        gemm(tk, tq, dm.dv, attn.as_ptr(), 1, tk, dc.as_ptr(), dm.dv, 1, T::ZERO, dvp.at(b * tk * dm.dv), dm.dv);
        let mut ds = vec![T::ZERO; tq * tk];
        gemm(tq, dm.dv, tk, dc.as_ptr(), dm.dv, 1, vals.as_ptr(), 1, dm.dv, T::ZERO, ds.as_mut_ptr(), tk);
        for (drow, arow) in ds.chunks_exact_mut(tk.max(1)).zip(attn.chunks_exact(tk.max(1))) {
            let mut dot = T::ZERO;
            for (&d, &p) in drow.iter().zip(arow) {
                dot += d * p;
            }
            for (d, &p) in drow.iter_mut().zip(arow) {
                *d = p * (*d - dot);
            }
        }
        let pk = &f.pk[b * tk * da..(b + 1) * tk * da];
        let gk = std::slice::from_raw_parts_mut(dkp.at(b * tk * da), tk * da);
        let gv = std::slice::from_raw_parts_mut(dwp.at(b * da), da);
        for i in 0..tq {
            let gq = std::slice::from_raw_parts_mut(dqp.at((b * tq + i) * da), da);
            grad_row(&f.pq[(b * tq + i) * da..][..da], pk, a.v, &ds[i * tk..(i + 1) * tk], gq, gk, gv);
        }
    });
    // Parameter and input gradients as products over all tokens.
    let mut g = Grads {
        query: vec![T::ZERO; nq * dm.dq],
        keys: vec![T::ZERO; nk * dm.dk],
        values: dvalues,
        w_q: vec![T::ZERO; da * dm.dq],
        w_k: vec![T::ZERO; da * dm.dk],
        v: vec![T::ZERO; da],
        bias: vec![T::ZERO; da],
    };
    unsafe {
        gemm_par(nq, da, dm.dq, dpq.as_ptr(), da, 1, a.w_q.as_ptr(), dm.dq, 1, T::ZERO, g.query.as_mut_ptr(), dm.dq, Split::Rows(256));
        gemm_par(nk, da, dm.dk, dpk.as_ptr(), da, 1, a.w_k.as_ptr(), dm.dk, 1, T::ZERO, g.keys.as_mut_ptr(), dm.dk, Split::Rows(256));
        gemm_par(da, nq, dm.dq, dpq.as_ptr(), 1, da, a.query.as_ptr(), dm.dq, 1, T::ZERO, g.w_q.as_mut_ptr(), dm.dq, Split::Rows(32));
        gemm_par(da, nk, dm.dk, dpk.as_ptr(), 1, da, a.keys.as_ptr(), dm.dk, 1, T::ZERO, g.w_k.as_mut_ptr(), dm.dk, Split::Rows(32));
    }
    for part in dv_part.chunks_exact(da.max(1)) {
        g.v.iter_mut().zip(part).for_each(|(x, &p)| *x += p);
    }
    for row in dpk.chunks_exact(da.max(1)) {
        g.bias.iter_mut().zip(row).for_each(|(x, &p)| *x += p);
    }
    g
}
