//! Backward of the tiled scaled dot-product attention (see `attention.rs` for the scheme).
//!
//! Per head, key blocks are the outer loop: each block's dK and dV accumulate straight into the
//! outputs while every query block that sees it recomputes its probabilities from the saved
//! row log-sum-exp. dQ accumulates per head; with few heads the keys are split into chunks whose
//! dQ parts are summed in chunk order, so results do not depend on the thread count.

use super::attention::{
    check, check_finite, check_shape, drop_threshold, exp_sum_row, mask_row, visible, Ctx, Drop, Inputs, Masks, Options, View4, ViewMut4,
    BC, BR, LANES, MR,
};
use super::gemm::{for_each, SyncPtr};
use super::packed::{Kern, PackedB};
use super::real::Real;
use super::simd::simd_kernels;
use crate::error::{Error, Result};
use crate::parallel;

simd_kernels! {
    /// Backward for one row: `p` holds raw scores (n valid) and `da` = dO V^T. On exit `p`
    /// holds P Z and `da` holds dS scale = P (dA Z - D) scale; both are zero past `n`.
    fn bwd_row<T>(p: &mut [T], da: &mut [T], n: usize, scale: T, mask: Option<&[bool]>, lse: T, dsum: T, dr: Option<Drop<T>>) {
        let (ph, pt) = p.split_at_mut(n);
        let (dh, dt) = da.split_at_mut(n);
        pt.iter_mut().for_each(|v| *v = T::ZERO);
        dt.iter_mut().for_each(|v| *v = T::ZERO);
        mask_row(ph, mask);
        exp_sum_row(ph, scale, lse);
        match dr {
            None => {
                for (d, &pv) in dh.iter_mut().zip(ph.iter()) {
                    *d = pv * (*d - dsum) * scale;
                }
            }
            Some(dr) => {
                for (j, (d, pv)) in dh.iter_mut().zip(ph.iter_mut()).enumerate() {
                    let z = dr.factor(j);
                    *d = *pv * (*d * z - dsum) * scale;
                    *pv = *pv * z;
                }
            }
        }
    }

    /// d = sum_j x[j] y[j] (8 fixed lanes).
    fn row_dot<T>(x: &[T], y: &[T], d: &mut T) {
        let mut s = [T::ZERO; LANES];
        let (mut cx, mut cy) = (x.chunks_exact(LANES), y.chunks_exact(LANES));
        for (u, v) in (&mut cx).zip(&mut cy) {
            for l in 0..LANES {
                s[l] += u[l] * v[l];
            }
        }
        let mut r = T::ZERO;
        for v in s {
            r += v;
        }
        for (u, v) in cx.remainder().iter().zip(cy.remainder()) {
            r += *u * *v;
        }
        *d = r;
    }
}

/// The forward's results that the backward needs besides the inputs, and the output gradient:
/// out and dout (B, H, Tq, dv), lse (B H Tq).
pub struct Saved<'a, T> {
    pub out: View4<'a, T>,
    pub lse: &'a [T],
    pub dout: View4<'a, T>,
}

/// Gradient outputs (overwritten), shaped like q, k and v.
pub struct GradsOut<'a, T> {
    pub dq: ViewMut4<'a, T>,
    pub dk: ViewMut4<'a, T>,
    pub dv: ViewMut4<'a, T>,
}

/// Key chunks per head in the backward: enough (bh, chunk) tasks to feed a few threads even for
/// one head. Depends only on the shapes.
fn key_chunks(bh_n: usize, nkb: usize) -> usize {
    8usize.div_ceil(bh_n.max(1)).clamp(1, nkb.max(1))
}

/// Backward: writes dq, dk, dv from the saved forward and the output gradient.
pub fn backward<T: Kern>(x: &Inputs<T>, masks: &Masks, opts: &Options, sv: &Saved<T>, g: GradsOut<T>) -> Result<()> {
    let dm = &check(x, masks, opts)?;
    let (o_shape, q_shape, k_shape) = ([dm.b, dm.h, dm.tq, dm.dv], [dm.b, dm.h, dm.tq, dm.d], [dm.b, dm.h, dm.tk, dm.d]);
    check_shape("out", sv.out.shape(), o_shape)?;
    check_shape("dout", sv.dout.shape(), o_shape)?;
    check_finite("dout", &sv.dout)?;
    check_shape("dq", g.dq.shape(), q_shape)?;
    check_shape("dk", g.dk.shape(), k_shape)?;
    check_shape("dv", g.dv.shape(), [dm.b, dm.h, dm.tk, dm.dv])?;
    let bh_n = dm.b * dm.h;
    if sv.lse.len() != bh_n * dm.tq {
        return Err(Error::Shape(format!("attention: lse has {} entries, needs {}", sv.lse.len(), bh_n * dm.tq)));
    }
    let cx = Ctx { dm: *dm, x: *x, masks: *masks, opts: *opts, scale: T::from_f64(opts.scale), thr: drop_threshold(opts.dropout) };
    let cancel = parallel::cancel_token();
    parallel::install(opts.num_threads, || backward_impl(&cx, sv, g, &cancel))?;
    cancel.check()
}

fn backward_impl<T: Kern>(cx: &Ctx<T>, sv: &Saved<T>, g: GradsOut<T>, cancel: &parallel::CancelToken) {
    let dm = &cx.dm;
    let bh_n = dm.b * dm.h;
    // D = rowsum(dO * O) per row.
    let mut dsum = vec![T::ZERO; bh_n * dm.tq];
    {
        let dp = SyncPtr(dsum.as_mut_ptr());
        for_each(bh_n, true, |bh| {
            let (b, h) = (bh / dm.h, bh % dm.h);
            // SAFETY: each task writes its own head's Tq entries of `dsum`.
            let dst = unsafe { std::slice::from_raw_parts_mut(dp.at(bh * dm.tq), dm.tq) };
            for (i, d) in dst.iter_mut().enumerate() {
                // SAFETY: slices only (row_dot reads them through safe indexing).
                unsafe { row_dot(sv.out.row(b, h, i), sv.dout.row(b, h, i), d) };
            }
        });
    }
    let nkb = dm.tk.div_ceil(BC);
    let nc = key_chunks(bh_n, nkb);
    let per = nkb.div_ceil(nc.max(1)).max(1);
    // With several key chunks per head, each chunk sums its own dQ, added in chunk order.
    let mut partial = if nc > 1 { vec![T::ZERO; bh_n * nc * dm.tq * dm.d] } else { Vec::new() };
    let pp = SyncPtr(partial.as_mut_ptr());
    let (dqv, dkv, dvv) = (&g.dq, &g.dk, &g.dv);
    let (ldq, ldk, ldv) = (dqv.layout().st, dkv.layout().st, dvv.layout().st);
    let dsum = &dsum;
    for_each(bh_n * nc, true, |task| {
        if cancel.is_cancelled() {
            return;
        }
        let (bh, c) = (task / nc, task % nc);
        let (b, h) = (bh / dm.h, bh % dm.h);
        // SAFETY: chunk c of head bh's dQ part lies inside `partial` (bh_n * nc * Tq * d values).
        let (dq, ldq) = if nc > 1 { (unsafe { pp.at((bh * nc + c) * dm.tq * dm.d) }, dm.d) } else { (dqv.head_ptr(b, h), ldq) };
        let blocks = (c * per * BC)..((c + 1) * per * BC).min(dm.tk);
        // SAFETY: task (bh, c) writes its own dQ part (chunk c of head bh, or the head's rows of
        // dq when there is one chunk) and the rows of dk, dv for its own keys of head bh: no two
        // tasks write the same row, and the views' rows are disjoint.
        unsafe {
            bwd_head(cx, sv, bh, blocks, &dsum[bh * dm.tq..(bh + 1) * dm.tq], dq, ldq, dkv.head_ptr(b, h), ldk, dvv.head_ptr(b, h), ldv)
        };
    });
    if nc > 1 {
        let pp = &partial;
        for_each(bh_n, true, |bh| {
            let (b, h) = (bh / dm.h, bh % dm.h);
            for i in 0..dm.tq {
                // SAFETY: each task writes the rows of its own head bh.
                let dst = unsafe { std::slice::from_raw_parts_mut(dqv.head_ptr(b, h).add(i * ldq), dm.d) };
                dst.iter_mut().for_each(|v| *v = T::ZERO);
                for c in 0..nc {
                    let src = &pp[((bh * nc + c) * dm.tq + i) * dm.d..][..dm.d];
                    dst.iter_mut().zip(src).for_each(|(a, &s)| *a += s);
                }
            }
        });
    }
}

/// Backward of head `bh` for the keys in `keys` (whole blocks): dK, dV for those keys and this
/// chunk's dQ (zeroed here, then accumulated).
#[allow(clippy::too_many_arguments)]
unsafe fn bwd_head<T: Kern>(
    cx: &Ctx<T>,
    sv: &Saved<T>,
    bh: usize,
    keys: std::ops::Range<usize>,
    dsum: &[T],
    dq: *mut T,
    ldq: usize,
    dk: *mut T,
    ldk: usize,
    dv: *mut T,
    ldv: usize,
) {
    let dm = &cx.dm;
    let x = &cx.x;
    let (b, h) = (bh / dm.h, bh % dm.h);
    for i in 0..dm.tq {
        std::ptr::write_bytes(dq.add(i * ldq), 0, dm.d);
    }
    for j in keys.clone() {
        std::ptr::write_bytes(dk.add(j * ldk), 0, dm.d);
        std::ptr::write_bytes(dv.add(j * ldv), 0, dm.dv);
    }
    let nkeys = cx.nkeys(b).min(keys.end);
    if keys.start >= nkeys || dm.tq == 0 {
        return;
    }
    let (q, ldqi) = (x.q.head_ptr(b, h), x.q.layout().st);
    let (k, ldki) = (x.k.head_ptr(b, h), x.k.layout().st);
    let (v, ldvi) = (x.v.head_ptr(b, h), x.v.layout().st);
    let (dout, ldd) = (sv.dout.head_ptr(b, h), sv.dout.layout().st);
    let lse = &sv.lse[bh * dm.tq..(bh + 1) * dm.tq];
    // Keys of this chunk only; queries whole.
    let (k0, kn) = (keys.start, nkeys - keys.start);
    let kt = PackedB::new(dm.d, kn, k.add(k0 * ldki), 1, ldki);
    let kp = PackedB::new(kn, dm.d, k.add(k0 * ldki), ldki, 1);
    let vt = PackedB::new(dm.dv, kn, v.add(k0 * ldvi), 1, ldvi);
    let qp = PackedB::new(dm.tq, dm.d, q, ldqi, 1);
    let dop = PackedB::new(dm.tq, dm.dv, dout, ldd, 1);
    let mut p = vec![T::ZERO; BR * BC];
    let mut da = vec![T::ZERO; BR * BC];
    let causal = cx.opts.causal;
    for j0 in (k0..nkeys).step_by(BC) {
        let jl = j0 - k0; // column of this block in the chunk's packs
        let kb = BC.min(nkeys - j0);
        let first_q = if causal { j0 / BR * BR } else { 0 };
        for i0 in (first_q..dm.tq).step_by(BR) {
            let rows = BR.min(dm.tq - i0);
            let mut gcols = [0usize; BR.div_ceil(MR)];
            for (g, r0) in (0..rows).step_by(MR).enumerate() {
                let rg = MR.min(rows - r0);
                let n = visible(i0 + r0 + rg - 1, j0, kb, nkeys, causal);
                gcols[g] = n;
                if n > 0 {
                    kt.mul_sub(rg, q.add((i0 + r0) * ldqi), ldqi, 1, 0, dm.d, jl, n, p.as_mut_ptr().add(r0 * BC), BC, false);
                    vt.mul_sub(rg, dout.add((i0 + r0) * ldd), ldd, 1, 0, dm.dv, jl, n, da.as_mut_ptr().add(r0 * BC), BC, false);
                }
            }
            let ncol = gcols.iter().copied().max().unwrap_or(0);
            if ncol == 0 {
                continue;
            }
            for r in 0..rows {
                let i = i0 + r;
                let (pr, dr) = (&mut p[r * BC..r * BC + ncol], &mut da[r * BC..r * BC + ncol]);
                let gc = gcols[r / MR];
                if gc == 0 || lse[i] == T::from_f64(f64::INFINITY) {
                    pr.iter_mut().for_each(|v| *v = T::ZERO);
                    dr.iter_mut().for_each(|v| *v = T::ZERO);
                    continue;
                }
                let n = visible(i, j0, kb, nkeys, causal);
                bwd_row(pr, dr, n, cx.scale, cx.mask_row(b, h, i, j0, n), lse[i], dsum[i], cx.drop(bh, i, j0));
            }
            // Keys in groups of MR: dV += (P Z)^T dO, dK += dS^T Q over the queries that see them.
            for jg in (0..ncol).step_by(MR) {
                let rg = MR.min(ncol - jg);
                let qs = if causal { (j0 + jg).saturating_sub(i0).min(rows) } else { 0 };
                let qn = rows - qs;
                if qn == 0 {
                    continue;
                }
                dop.mul_sub(rg, p.as_ptr().add(qs * BC + jg), 1, BC, i0 + qs, qn, 0, dm.dv, dv.add((j0 + jg) * ldv), ldv, true);
                qp.mul_sub(rg, da.as_ptr().add(qs * BC + jg), 1, BC, i0 + qs, qn, 0, dm.d, dk.add((j0 + jg) * ldk), ldk, true);
            }
            // dQ += dS K, each row group over the keys it sees.
            for (g, r0) in (0..rows).step_by(MR).enumerate() {
                let n = gcols[g];
                if n > 0 {
                    kp.mul_sub(MR.min(rows - r0), da.as_ptr().add(r0 * BC), BC, 1, jl, n, 0, dm.d, dq.add((i0 + r0) * ldq), ldq, true);
                }
            }
        }
    }
}
