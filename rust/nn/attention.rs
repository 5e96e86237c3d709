//! Scaled dot-product attention, forward and backward, tiled with an online softmax.
//!
//! For each (batch, head) the queries are taken in blocks of `BR` rows and the keys in blocks of
//! `BC`; a block's scores S = scale Q K^T live only in a `BR x BC` buffer, so the extra memory is
//! the row log-sum-exp (B H Tq values) kept for the backward. The backward (`attention_bwd.rs`) recomputes each
//! block's probabilities from it (P = exp(S - lse)) and forms dV += (P Z)^T dO, dA = dO V^T,
//! dS = P (dA Z - D) with D = rowsum(dO O), dQ += dS K scale and dK += dS^T Q scale, where Z is
//! the dropout mask scaled by 1 / (1 - p).
//!
//! Masks: causal (query i sees keys j <= i, top-left aligned as in torch), key lengths per batch
//! row and a boolean mask (true = may attend) with broadcast strides. Key blocks that no row of
//! a query block may see (above the causal diagonal, past a row's length) are skipped, and inside
//! the diagonal blocks each group of 6 query rows only computes the key columns it can see. A
//! row that may see no key gets output 0, `lse` = +inf and no gradient.
//!
//! Dropout keeps element (bh, i, j) when `fmix32(key(bh * Tq + i) ^ j * 0x9E3779B9) >= p 2^32`,
//! `key(r)` the top half of SplitMix64's finaliser of `mix64(seed) + r GOLDEN`: a counter-based
//! hash the backward recomputes instead of storing a mask, and which the NumPy reference
//! (`tests/reference/attention.py`) reproduces exactly.
//!
//! Every product is one of the pre-packed kernel's sequential sums and every block boundary
//! depends only on the shapes, so results are bit-identical for any thread count.

use rayon::prelude::*;

use super::gemm::{for_each, SyncPtr};
use super::packed::{Kern, PackedB};
use super::real::Real;
use super::simd::simd_kernels;
use crate::error::{Error, Result};
use crate::parallel;
use crate::rng::{mix64, GOLDEN};

pub use super::attention_bwd::{backward, GradsOut, Saved};

/// Query rows per block (a multiple of the 6-row micro-kernel; 48-72 measured alike).
pub(super) const BR: usize = 60;
/// Keys per block (a multiple of both panel widths; 128 beat 64 by ~20%; 192 and 256 were no better).
pub(super) const BC: usize = 128;
/// Rows per micro-kernel call; row groups of this size get their own causal column limit.
pub(super) const MR: usize = 6;

pub use super::kernels::view::{Layout, View4, ViewMut4};

/// Sizes: batch, heads, query and key lengths, query/key and value features.
#[derive(Clone, Copy, Debug)]
pub struct Dims {
    pub b: usize,
    pub h: usize,
    pub tq: usize,
    pub tk: usize,
    pub d: usize,
    pub dv: usize,
}

/// A boolean mask (true = may attend) over (B, H, Tq, Tk); zero strides broadcast.
pub type BoolMask<'a> = View4<'a, bool>;

/// What each query may see besides the causal rule.
#[derive(Clone, Copy, Default)]
pub struct Masks<'a> {
    /// Valid keys per batch row (0..=Tk).
    pub lengths: Option<&'a [usize]>,
    pub mask: Option<BoolMask<'a>>,
}

#[derive(Clone, Copy, Debug)]
pub struct Options {
    pub scale: f64,
    pub causal: bool,
    /// Dropout probability on the attention probabilities, in [0, 1).
    pub dropout: f64,
    pub seed: u64,
    /// Threads (None = the global pool).
    pub num_threads: Option<usize>,
}

/// The inputs: q (B, H, Tq, d), k (B, H, Tk, d), v (B, H, Tk, dv).
#[derive(Clone, Copy)]
pub struct Inputs<'a, T> {
    pub q: View4<'a, T>,
    pub k: View4<'a, T>,
    pub v: View4<'a, T>,
}

impl<T> Inputs<'_, T> {
    /// The sizes, read from the shapes, which must agree.
    pub fn dims(&self) -> Result<Dims> {
        let ([b, h, tq, d], [kb, kh, tk, kd], [vb, vh, vt, dv]) = (self.q.shape(), self.k.shape(), self.v.shape());
        if (kb, kh) != (b, h) || (vb, vh) != (b, h) {
            return Err(Error::Shape(format!(
                "attention: q, k, v must share their (batch, head) sizes; got {:?}, {:?}, {:?}",
                self.q.shape(),
                self.k.shape(),
                self.v.shape()
            )));
        }
        if vt != tk {
            return Err(Error::Shape(format!("attention: k has {tk} keys but v has {vt} values")));
        }
        if kd != d {
            return Err(Error::Shape(format!("attention: the feature sizes of q ({d}) and k ({kd}) differ")));
        }
        Ok(Dims { b, h, tq, tk, d, dv })
    }
}

/// An error unless `shape` is `want`.
pub(super) fn check_shape(name: &str, shape: [usize; 4], want: [usize; 4]) -> Result<()> {
    if shape != want {
        return Err(Error::Shape(format!("attention: {name} has shape {shape:?}, needs {want:?}")));
    }
    Ok(())
}

/// Whether every value is finite: x - x is 0 for finite x and NaN otherwise, summed in 8 lanes
/// (vectorises, unlike a search).
#[allow(clippy::eq_op)] // x - x is the point: 0 for finite x, NaN for inf and NaN
pub(crate) fn all_finite<T: Real>(x: &[T]) -> bool {
    let mut acc = [T::ZERO; LANES];
    let mut ch = x.chunks_exact(LANES);
    for c in &mut ch {
        for l in 0..LANES {
            acc[l] += c[l] - c[l];
        }
    }
    acc.iter().chain(ch.remainder()).all(|v| v.is_finite_())
}

/// Inputs must be finite: one inf or NaN would silently turn whole rows into NaN or zeros.
pub(super) fn check_finite<T: Real>(name: &str, x: &View4<T>) -> Result<()> {
    let [b, h, t, _] = x.shape();
    for bi in 0..b {
        for hi in 0..h {
            for ti in 0..t {
                let row = x.row(bi, hi, ti);
                if all_finite(row) {
                    continue;
                }
                if let Some(j) = row.iter().position(|v| !v.is_finite_()) {
                    let v = row[j];
                    return Err(Error::Value(format!("attention: {name} has a non-finite value {v:?} at [{bi}, {hi}, {ti}, {j}]")));
                }
            }
        }
    }
    Ok(())
}

/// The inputs' sizes, after checking the inputs are finite and the masks and options valid.
pub(super) fn check<T: Real>(x: &Inputs<T>, masks: &Masks, opts: &Options) -> Result<Dims> {
    let dm = x.dims()?;
    check_finite("q", &x.q)?;
    check_finite("k", &x.k)?;
    check_finite("v", &x.v)?;
    if let Some(len) = masks.lengths {
        if len.len() != dm.b {
            return Err(Error::Shape(format!("attention: lengths has {} entries for batch {}", len.len(), dm.b)));
        }
        if let Some((i, &n)) = len.iter().enumerate().find(|(_, &n)| n > dm.tk) {
            return Err(Error::Value(format!("attention: lengths[{i}] = {n} is outside 0..={}", dm.tk)));
        }
    }
    if let Some(m) = masks.mask {
        check_shape("mask", m.shape(), [dm.b, dm.h, dm.tq, dm.tk])?;
    }
    if !(0.0..1.0).contains(&opts.dropout) {
        return Err(Error::Value(format!("attention: dropout must be in [0, 1), got {}", opts.dropout)));
    }
    if !opts.scale.is_finite() {
        return Err(Error::Value(format!("attention: scale must be finite, got {}", opts.scale)));
    }
    Ok(dm)
}

/// The dropout threshold on 32-bit hashes, or None without dropout.
pub(super) fn drop_threshold(p: f64) -> Option<u32> {
    if p <= 0.0 {
        return None;
    }
    Some((p * 4294967296.0).round().min(4294967295.0) as u32)
}

/// The per-row key of the dropout hash.
fn row_key(seed: u64, row: u64) -> u32 {
    (mix64(mix64(seed).wrapping_add(row.wrapping_mul(GOLDEN))) >> 32) as u32
}

#[inline(always)]
pub(super) fn fmix32(mut h: u32) -> u32 {
    h ^= h >> 16;
    h = h.wrapping_mul(0x85EB_CA6B);
    h ^= h >> 13;
    h = h.wrapping_mul(0xC2B2_AE35);
    h ^ (h >> 16)
}

/// Dropout parameters of one row: hash key, threshold, first key index, 1 / (1 - p).
#[derive(Clone, Copy)]
pub struct Drop<T> {
    key: u32,
    thr: u32,
    j0: u32,
    inv: T,
}

impl<T: Real> Drop<T> {
    /// Z for key `j` of the row's block: 1 / (1 - p) when kept, else 0.
    #[inline(always)]
    pub(super) fn factor(&self, j: usize) -> T {
        let hsh = fmix32(self.key ^ (self.j0.wrapping_add(j as u32)).wrapping_mul(0x9E37_79B9));
        if hsh >= self.thr {
            self.inv
        } else {
            T::ZERO
        }
    }
}

// Row kernels. Slices as arguments let LLVM vectorise (see cells.rs); reductions keep 8
// fixed lanes so their order never changes.

pub(super) const LANES: usize = 8;

#[inline(always)]
fn lanes_max<T: Real>(x: &[T]) -> T {
    let ninf = T::from_f64(f64::NEG_INFINITY);
    let mut m = [ninf; LANES];
    let mut ch = x.chunks_exact(LANES);
    for c in &mut ch {
        for l in 0..LANES {
            m[l] = if c[l] > m[l] { c[l] } else { m[l] };
        }
    }
    let mut r = ninf;
    for &v in m.iter().chain(ch.remainder()) {
        r = if v > r { v } else { r };
    }
    r
}

/// x[j] = x[j] * scale, or -inf where the mask says no (for a negative scale).
#[inline(always)]
fn scale_mask_row<T: Real>(x: &mut [T], scale: T, mask: Option<&[bool]>) {
    let ninf = T::from_f64(f64::NEG_INFINITY);
    match mask {
        None => x.iter_mut().for_each(|v| *v = *v * scale),
        Some(m) => {
            let m = &m[..x.len()];
            for (v, &ok) in x.iter_mut().zip(m) {
                *v = if ok { *v * scale } else { ninf };
            }
        }
    }
}

/// x[j] = -inf where the mask says no.
#[inline(always)]
pub(super) fn mask_row<T: Real>(x: &mut [T], mask: Option<&[bool]>) {
    if let Some(m) = mask {
        let ninf = T::from_f64(f64::NEG_INFINITY);
        let n = x.len();
        for (v, &ok) in x.iter_mut().zip(&m[..n]) {
            *v = if ok { *v } else { ninf };
        }
    }
}

/// x[j] = exp(x[j] scale - sub) (0 where x[j] is -inf); returns the sum (8 fixed lanes).
#[inline(always)]
pub(super) fn exp_sum_row<T: Real>(x: &mut [T], scale: T, sub: T) -> T {
    let ninf = T::from_f64(f64::NEG_INFINITY);
    let mut acc = [T::ZERO; LANES];
    let mut ch = x.chunks_exact_mut(LANES);
    for c in &mut ch {
        for l in 0..LANES {
            let e = (c[l] * scale - sub).exp_();
            c[l] = if c[l] == ninf { T::ZERO } else { e };
            acc[l] += c[l];
        }
    }
    let mut r = T::ZERO;
    for v in acc {
        r += v;
    }
    for v in ch.into_remainder() {
        let e = (*v * scale - sub).exp_();
        *v = if *v == ninf { T::ZERO } else { e };
        r += *v;
    }
    r
}

/// x[j] *= Z[j] (the scaled dropout mask).
#[inline(always)]
fn drop_row<T: Real>(x: &mut [T], dr: Drop<T>) {
    for (j, v) in x.iter_mut().enumerate() {
        *v = *v * dr.factor(j);
    }
}

simd_kernels! {
    /// Online-softmax update of one row of scores `s` (raw Q K^T values, `n` of them valid;
    /// the row's buffer is `s.len()` wide and is zero past `n` on exit). `ml` holds the row's
    /// running max and sum (of scaled scores) and `o` its output accumulator, rescaled here. On
    /// exit `s` holds the (dropped-out) probabilities relative to the new max.
    fn fwd_row<T>(s: &mut [T], n: usize, scale: T, mask: Option<&[bool]>, ml: &mut [T], o: &mut [T], dr: Option<Drop<T>>) {
        let ninf = T::from_f64(f64::NEG_INFINITY);
        let (head, tail) = s.split_at_mut(n);
        tail.iter_mut().for_each(|v| *v = T::ZERO);
        // With scale >= 0 the max of the scaled row is the scaled max: scaling folds into exp.
        let sc = if scale >= T::ZERO {
            mask_row(head, mask);
            scale
        } else {
            scale_mask_row(head, scale, mask);
            T::ONE
        };
        let mx = lanes_max(head);
        let m_old = ml[0];
        let mx = if mx == ninf { ninf } else { mx * sc };
        let m_new = if mx > m_old { mx } else { m_old };
        if m_new == ninf {
            head.iter_mut().for_each(|v| *v = T::ZERO);
            return;
        }
        let sum = exp_sum_row(head, sc, m_new);
        if m_new != m_old {
            let alpha = (m_old - m_new).exp_();
            ml[1] = ml[1] * alpha;
            o.iter_mut().for_each(|v| *v = *v * alpha);
        }
        ml[0] = m_new;
        ml[1] += sum;
        if let Some(dr) = dr {
            drop_row(head, dr);
        }
    }

    /// out = o / l (or 0 when l is 0), one row.
    fn finish_row<T>(o: &[T], l: T, out: &mut [T]) {
        let inv = if l > T::ZERO { T::ONE / l } else { T::ZERO };
        for (y, &x) in out.iter_mut().zip(o) {
            *y = x * inv;
        }
    }

}

/// Per-row visibility: how many keys of block `j0` row `i` (absolute) may see, before the
/// boolean mask.
#[inline]
pub(super) fn visible(i: usize, j0: usize, kb: usize, nkeys: usize, causal: bool) -> usize {
    let lim = if causal { nkeys.min(i + 1) } else { nkeys };
    lim.saturating_sub(j0).min(kb)
}

pub(super) struct Ctx<'a, T> {
    pub(super) dm: Dims,
    pub(super) x: Inputs<'a, T>,
    pub(super) masks: Masks<'a>,
    pub(super) opts: Options,
    pub(super) scale: T,
    pub(super) thr: Option<u32>,
}

impl<T: Kern> Ctx<'_, T> {
    pub(super) fn nkeys(&self, b: usize) -> usize {
        self.masks.lengths.map_or(self.dm.tk, |l| l[b])
    }
    pub(super) fn mask_row(&self, b: usize, h: usize, i: usize, j0: usize, n: usize) -> Option<&[bool]> {
        self.masks.mask.map(|m| &m.row(b, h, i)[j0..j0 + n])
    }
    pub(super) fn drop(&self, bh: usize, i: usize, j0: usize) -> Option<Drop<T>> {
        let thr = self.thr?;
        let key = row_key(self.opts.seed, (bh * self.dm.tq + i) as u64);
        Some(Drop { key, thr, j0: j0 as u32, inv: T::from_f64(1.0 / (1.0 - self.opts.dropout)) })
    }
    /// K^T (d x Tk) and V (Tk x dv) of one head, packed.
    fn pack_kv(&self, b: usize, h: usize) -> (PackedB<T>, PackedB<T>) {
        let (dm, x) = (&self.dm, &self.x);
        let (lk, lv) = (x.k.layout(), x.v.layout());
        // SAFETY: the views hold Tk rows of d (k) and dv (v) features at their row strides.
        unsafe {
            let kt = PackedB::new(dm.d, dm.tk, x.k.head_ptr(b, h), 1, lk.st);
            let v = PackedB::new(dm.tk, dm.dv, x.v.head_ptr(b, h), lv.st, 1);
            (kt, v)
        }
    }
}

/// Forward: writes `out` (B, H, Tq, dv) and the row log-sum-exp `lse` (B H Tq, +inf for rows
/// that see no key).
pub fn forward<T: Kern>(x: &Inputs<T>, masks: &Masks, opts: &Options, out: ViewMut4<T>, lse: &mut [T]) -> Result<()> {
    let dm = &check(x, masks, opts)?;
    check_shape("out", out.shape(), [dm.b, dm.h, dm.tq, dm.dv])?;
    let rows = dm.b * dm.h * dm.tq;
    if lse.len() != rows {
        return Err(Error::Shape(format!("attention: lse has {} entries, needs {rows}", lse.len())));
    }
    let cx = Ctx { dm: *dm, x: *x, masks: *masks, opts: *opts, scale: T::from_f64(opts.scale), thr: drop_threshold(opts.dropout) };
    let cancel = parallel::cancel_token();
    parallel::install(opts.num_threads, || forward_impl(&cx, out, lse, &cancel))?;
    cancel.check()
}

fn forward_impl<T: Kern>(cx: &Ctx<T>, out: ViewMut4<T>, lse: &mut [T], cancel: &parallel::CancelToken) {
    let dm = &cx.dm;
    let bh_n = dm.b * dm.h;
    let packs: Vec<(PackedB<T>, PackedB<T>)> = (0..bh_n).into_par_iter().map(|bh| cx.pack_kv(bh / dm.h, bh % dm.h)).collect();
    let nqb = dm.tq.div_ceil(BR);
    let lp = SyncPtr(lse.as_mut_ptr());
    let out = &out;
    for_each(bh_n * nqb, true, |task| {
        if cancel.is_cancelled() {
            return;
        }
        let (bh, qb) = (task / nqb, task % nqb);
        let (kt, vp) = &packs[bh];
        // SAFETY: each task writes the rows of its own query block of head bh: disjoint rows of
        // `out` (a checked view of disjoint rows) and of `lse`.
        unsafe { fwd_block(cx, bh, qb * BR, kt, vp, out.head_ptr(bh / dm.h, bh % dm.h), out.layout().st, lp.at(bh * dm.tq)) };
    });
}

/// One block of query rows `i0 ..` of head `bh`.
#[allow(clippy::too_many_arguments)]
unsafe fn fwd_block<T: Kern>(cx: &Ctx<T>, bh: usize, i0: usize, kt: &PackedB<T>, vp: &PackedB<T>, out: *mut T, ldo: usize, lse: *mut T) {
    let dm = &cx.dm;
    let (b, h) = (bh / dm.h, bh % dm.h);
    let rows = BR.min(dm.tq - i0);
    let nkeys = cx.nkeys(b);
    let ldq = cx.x.q.layout().st;
    let q = cx.x.q.head_ptr(b, h).add(i0 * ldq);
    let ninf = T::from_f64(f64::NEG_INFINITY);
    let mut s = vec![T::ZERO; BR * BC];
    let mut o = vec![T::ZERO; BR * dm.dv];
    let mut ml: Vec<[T; 2]> = vec![[ninf, T::ZERO]; BR];
    let last_visible = if cx.opts.causal { nkeys.min(i0 + rows) } else { nkeys };
    for j0 in (0..last_visible).step_by(BC) {
        let kb = BC.min(dm.tk - j0);
        // Scores, one group of MR rows at a time, only the columns the group may see.
        let mut gcols = [0usize; BR.div_ceil(MR)];
        for (g, r0) in (0..rows).step_by(MR).enumerate() {
            let rg = MR.min(rows - r0);
            let n = visible(i0 + r0 + rg - 1, j0, kb, nkeys, cx.opts.causal);
            gcols[g] = n;
            if n > 0 {
                kt.mul_sub(rg, q.add(r0 * ldq), ldq, 1, 0, dm.d, j0, n, s.as_mut_ptr().add(r0 * BC), BC, false);
            }
        }
        for r in 0..rows {
            let gc = gcols[r / MR];
            if gc == 0 {
                continue;
            }
            let i = i0 + r;
            let n = visible(i, j0, kb, nkeys, cx.opts.causal);
            let row = &mut s[r * BC..r * BC + gc];
            fwd_row(row, n, cx.scale, cx.mask_row(b, h, i, j0, n), &mut ml[r], &mut o[r * dm.dv..(r + 1) * dm.dv], cx.drop(bh, i, j0));
        }
        for (g, r0) in (0..rows).step_by(MR).enumerate() {
            let n = gcols[g];
            if n > 0 {
                vp.mul_sub(MR.min(rows - r0), s.as_ptr().add(r0 * BC), BC, 1, j0, n, 0, dm.dv, o.as_mut_ptr().add(r0 * dm.dv), dm.dv, true);
            }
        }
    }
    for r in 0..rows {
        let [m, l] = ml[r];
        let dst = std::slice::from_raw_parts_mut(out.add((i0 + r) * ldo), dm.dv);
        finish_row(&o[r * dm.dv..(r + 1) * dm.dv], l, dst);
        *lse.add(i0 + r) = if l > T::ZERO { T::from_f64(m.to_f64() + l.to_f64().ln()) } else { T::from_f64(f64::INFINITY) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::simd::{set_level, Level};

    /// Naive (B H) x Tq x Tk attention in f64 with explicit masks: (out, dq, dk, dv).
    #[allow(clippy::type_complexity)]
    fn naive(
        dm: &Dims,
        q: &[f64],
        k: &[f64],
        v: &[f64],
        dout: &[f64],
        allow: &dyn Fn(usize, usize, usize) -> bool,
        o: &Options,
    ) -> [Vec<f64>; 4] {
        let (tq, tk, d, dv) = (dm.tq, dm.tk, dm.d, dm.dv);
        let bh_n = dm.b * dm.h;
        let (mut out, mut dq, mut dk, mut dvv) =
            (vec![0.0; bh_n * tq * dv], vec![0.0; bh_n * tq * d], vec![0.0; bh_n * tk * d], vec![0.0; bh_n * tk * dv]);
        let thr = drop_threshold(o.dropout);
        for bh in 0..bh_n {
            for i in 0..tq {
                let s: Vec<f64> =
                    (0..tk).map(|j| (0..d).map(|f| q[(bh * tq + i) * d + f] * k[(bh * tk + j) * d + f]).sum::<f64>() * o.scale).collect();
                let ok: Vec<bool> = (0..tk).map(|j| allow(bh, i, j)).collect();
                let mx = (0..tk).filter(|&j| ok[j]).map(|j| s[j]).fold(f64::NEG_INFINITY, f64::max);
                if mx == f64::NEG_INFINITY {
                    continue;
                }
                let e: Vec<f64> = (0..tk).map(|j| if ok[j] { (s[j] - mx).exp() } else { 0.0 }).collect();
                let z: f64 = e.iter().sum();
                let p: Vec<f64> = e.iter().map(|x| x / z).collect();
                let zm: Vec<f64> = (0..tk)
                    .map(|j| match thr {
                        None => 1.0,
                        Some(t) => {
                            let hsh = fmix32(row_key(o.seed, (bh * tq + i) as u64) ^ (j as u32).wrapping_mul(0x9E37_79B9));
                            if hsh >= t {
                                1.0 / (1.0 - o.dropout)
                            } else {
                                0.0
                            }
                        }
                    })
                    .collect();
                let go = &dout[(bh * tq + i) * dv..][..dv];
                let mut orow = vec![0.0; dv];
                for j in 0..tk {
                    for f in 0..dv {
                        orow[f] += p[j] * zm[j] * v[(bh * tk + j) * dv + f];
                        dvv[(bh * tk + j) * dv + f] += p[j] * zm[j] * go[f];
                    }
                }
                let dsum: f64 = (0..dv).map(|f| orow[f] * go[f]).sum();
                for j in 0..tk {
                    let da: f64 = (0..dv).map(|f| go[f] * v[(bh * tk + j) * dv + f]).sum();
                    let ds = p[j] * (da * zm[j] - dsum) * o.scale;
                    for f in 0..d {
                        dq[(bh * tq + i) * d + f] += ds * k[(bh * tk + j) * d + f];
                        dk[(bh * tk + j) * d + f] += ds * q[(bh * tq + i) * d + f];
                    }
                }
                out[(bh * tq + i) * dv..][..dv].copy_from_slice(&orow);
            }
        }
        [out, dq, dk, dvv]
    }

    fn data(n: usize, salt: usize) -> Vec<f64> {
        (0..n).map(|i| (((i * 7919 + salt * 104729) % 201) as f64 - 100.0) / 80.0).collect()
    }

    fn run<T: Kern>(dm: &Dims, causal: bool, lengths: Option<&[usize]>, mask: Option<&[bool]>, dropout: f64, threads: usize) {
        let (bh_n, tq, tk) = (dm.b * dm.h, dm.tq, dm.tk);
        let (q, k, v, dout) =
            (data(bh_n * tq * dm.d, 1), data(bh_n * tk * dm.d, 2), data(bh_n * tk * dm.dv, 3), data(bh_n * tq * dm.dv, 4));
        let opts = Options { scale: 0.3, causal, dropout, seed: 7, num_threads: Some(threads) };
        let allow = |bh: usize, i: usize, j: usize| {
            let b = bh / dm.h;
            (!causal || j <= i) && lengths.is_none_or(|l| j < l[b]) && mask.is_none_or(|m| m[(bh * tq + i) * tk + j])
        };
        let want = naive(dm, &q, &k, &v, &dout, &allow, &opts);
        let cv = |x: &[f64]| x.iter().map(|&a| T::from_f64(a)).collect::<Vec<T>>();
        let (qt, kt, vt, dot) = (cv(&q), cv(&k), cv(&v), cv(&dout));
        let (b, h) = (dm.b, dm.h);
        let x = Inputs {
            q: View4::contiguous("q", &qt, [b, h, tq, dm.d]).unwrap(),
            k: View4::contiguous("k", &kt, [b, h, tk, dm.d]).unwrap(),
            v: View4::contiguous("v", &vt, [b, h, tk, dm.dv]).unwrap(),
        };
        let masks = Masks { lengths, mask: mask.map(|m| View4::contiguous("mask", m, [b, h, tq, tk]).unwrap()) };
        let mut out = vec![T::ZERO; bh_n * tq * dm.dv];
        let mut lse = vec![T::ZERO; bh_n * tq];
        forward(&x, &masks, &opts, ViewMut4::contiguous("out", &mut out, [b, h, tq, dm.dv]).unwrap(), &mut lse).unwrap();
        let (mut dq, mut dk, mut dv) = (vec![T::ZERO; bh_n * tq * dm.d], vec![T::ZERO; bh_n * tk * dm.d], vec![T::ZERO; bh_n * tk * dm.dv]);
        let o4 = View4::contiguous("out", &out, [b, h, tq, dm.dv]).unwrap();
        let sv = Saved { out: o4, lse: &lse, dout: View4::contiguous("dout", &dot, [b, h, tq, dm.dv]).unwrap() };
        let g = GradsOut {
            dq: ViewMut4::contiguous("dq", &mut dq, [b, h, tq, dm.d]).unwrap(),
            dk: ViewMut4::contiguous("dk", &mut dk, [b, h, tk, dm.d]).unwrap(),
            dv: ViewMut4::contiguous("dv", &mut dv, [b, h, tk, dm.dv]).unwrap(),
        };
        backward(&x, &masks, &opts, &sv, g).unwrap();
        let tol = if T::NAME == "float32" { 2e-5 } else { 1e-12 };
        for (name, got, w) in [("out", &out, &want[0]), ("dq", &dq, &want[1]), ("dk", &dk, &want[2]), ("dv", &dv, &want[3])] {
            for (i, (g, w)) in got.iter().zip(w.iter()).enumerate() {
                assert!(
                    (g.to_f64() - w).abs() <= tol * (1.0 + w.abs()),
                    "{name}[{i}] {} vs {w} ({dm:?} causal={causal} p={dropout})",
                    g.to_f64()
                );
            }
        }
    }

    #[test]
    fn matches_naive_attention() {
        let mask: Vec<bool> = (0..2 * 3 * 70 * 130).map(|i| (i * 2654435761usize) % 7 != 0).collect();
        for lv in [Level::Avx512, Level::Avx2, Level::Scalar] {
            set_level(lv);
            for &(tq, tk, d, dv) in &[(70, 130, 16, 24), (5, 3, 3, 5), (130, 70, 9, 8)] {
                let dm = Dims { b: 2, h: 3, tq, tk, d, dv };
                for causal in [false, true] {
                    for threads in [1, 2] {
                        run::<f64>(&dm, causal, None, None, 0.0, threads);
                    }
                    run::<f64>(&dm, causal, Some(&[tk / 2, 0]), None, 0.0, 1);
                    run::<f64>(&dm, causal, Some(&[tk, 1]), Some(&mask[..2 * 3 * tq * tk]), 0.25, 2);
                    run::<f32>(&dm, causal, Some(&[tk - 1, 2]), None, 0.1, 2);
                }
            }
        }
        set_level(crate::nn::simd::best());
    }
}
