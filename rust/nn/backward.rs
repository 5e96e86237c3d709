//! Backpropagation through time for `recurrent.rs`: per step the element-wise gradients of the
//! cell (`cells.rs`) and dh_prev = dG W_hh; after the loop the weight gradients and dX as large
//! products over all tokens. Same blocking rules as the forward, so results are bit-identical
//! for any thread count.

use std::borrow::Cow;

use super::cells::{self, Blk};
use super::gemm::{for_each, gemm_par, Split, SyncPtr};
use super::pack::{gather_rows, Packing};
use super::packed::{ChunkedB, Kern, PackedB};
use super::real::Real;
use super::recurrent::{
    apply_dropout, check_len, check_weights, chunk, halves, init_state, par_step, product_all_tokens, Cache, CellKind, DirCache, Grads,
    OwnedWeights, Spec, Weights,
};
use super::workspace;
use crate::error::{Error, Result};
use crate::parallel::{self, CancelToken};

fn colsum<T: Real>(a: &[T], rows: usize, cols: usize) -> Vec<T> {
    let mut out = vec![T::ZERO; cols];
    let po = SyncPtr(out.as_mut_ptr());
    for_each(cols.div_ceil(256), rows * cols >= 1 << 16, |blk| {
        let (c0, c1) = (blk * 256, ((blk + 1) * 256).min(cols));
        // SAFETY: each block owns columns c0..c1 of `out`.
        let o = unsafe { std::slice::from_raw_parts_mut(po.at(c0), c1 - c0) };
        for r in 0..rows {
            for (x, v) in o.iter_mut().zip(&a[r * cols + c0..r * cols + c1]) {
                *x += *v;
            }
        }
    });
    out
}

struct DirGrads<T: workspace::Pooled> {
    dw: OwnedWeights<T>,
    dxg: workspace::Scratch<T>,
    dh0: Vec<T>,
    dc0: Vec<T>,
}

/// Backward pass of one direction of one layer. `dyd` (N x H_out) is the gradient of its
/// outputs in its own packed order; `dh`, `dc` hold dh_n, dc_n in sorted-row order.
#[allow(clippy::too_many_arguments)]
fn run_dir_bwd<T: Kern>(
    spec: &Spec,
    w: &Weights<T>,
    pack: &Packing,
    dcache: &DirCache<T>,
    xg: &[T],
    dyd: &[T],
    mut dh: Vec<T>,
    mut dcar: Vec<T>,
    cancel: &CancelToken,
) -> DirGrads<T> {
    let (h, hout, gh, n_tok) = (spec.hidden, spec.hout(), spec.gh(), pack.n);
    let din = xg.len() / n_tok.max(1);
    let cell = spec.cell;
    let cw = chunk(h);
    let nch = h.div_ceil(cw);
    let zeros = |len: usize| vec![T::ZERO; len];
    let mut dg = workspace::zeros::<T>(n_tok * gh);
    let mut dgh = workspace::zeros::<T>(if cell == CellKind::Gru { n_tok * gh } else { 0 });
    let mut dhb = workspace::zeros::<T>(n_tok * hout);
    let mut dm = if spec.proj > 0 { zeros(pack.batch * h) } else { Vec::new() };
    let mut drh = if cell == CellKind::GruTextbook { zeros(pack.batch * h) } else { Vec::new() };
    let (pdg, pdgh, pdhb, pdm, pdrh, pdh, pdc) = (
        SyncPtr(dg.as_mut_ptr()),
        SyncPtr(dgh.as_mut_ptr()),
        SyncPtr(dhb.as_mut_ptr()),
        SyncPtr(dm.as_mut_ptr()),
        SyncPtr(drh.as_mut_ptr()),
        SyncPtr(dh.as_mut_ptr()),
        SyncPtr(dcar.as_mut_ptr()),
    );
    let dc_ = dcache;
    let (pa, py, pc, pe) = (
        SyncPtr(dc_.acts.as_ptr() as *mut T),
        SyncPtr(dc_.y.as_ptr() as *mut T),
        SyncPtr(dc_.c.as_ptr() as *mut T),
        SyncPtr(dc_.extra.as_ptr() as *mut T),
    );
    let (phi, pci) = (SyncPtr(dc_.h_init.as_ptr() as *mut T), SyncPtr(dc_.c_init.as_ptr() as *mut T));
    // SAFETY: the strides below address the weight matrices as PyTorch lays them out.
    let kdim = if cell == CellKind::GruTextbook { 2 * h } else { gh };
    let rec = unsafe { ChunkedB::new(kdim, hout, w.w_hh.as_ptr(), hout, 1, 64) };
    let proj = (spec.proj > 0).then(|| unsafe { ChunkedB::new(spec.proj, h, w.w_hr.as_ptr(), h, 1, 64) });
    let wn = (cell == CellKind::GruTextbook).then(|| unsafe { ChunkedB::new(h, hout, w.w_hh.as_ptr().add(2 * h * hout), hout, 1, cw) });
    for t in (0..pack.max_len()).rev() {
        if cancel.is_cancelled() {
            break; // the caller returns Interrupted
        }
        let (n, k0) = (pack.sizes[t], pack.offsets[t]);
        for r in 0..n {
            for j in 0..hout {
                dhb[(k0 + r) * hout + j] = dyd[(k0 + r) * hout + j] + dh[r * hout + j];
            }
        }
        // SAFETY: as in `run_dir`: rows 0..n of this step's blocks, disjoint unit/column blocks.
        unsafe {
            let hprev = SyncPtr(if t == 0 { phi.p() } else { py.at(pack.offsets[t - 1] * hout) });
            let cprev = SyncPtr(if t == 0 { pci.p() } else { pc.at(pack.offsets[t - 1] * h) });
            if let Some(pr) = &proj {
                pr.mul(n, pdhb.at(k0 * hout), hout, pdm.p(), h, par_step(n, hout, h));
            }
            for_each(nch, par_step(n, 8, gh), |ch| {
                let j0 = ch * cw;
                let wd = cw.min(h - j0);
                let acts = Blk::new(pa.at(k0 * gh + j0), gh);
                let dgb = Blk::new(pdg.at(k0 * gh + j0), gh);
                let dhr = Blk::new(pdhb.at(k0 * hout + j0), hout);
                match cell {
                    CellKind::RnnTanh | CellKind::RnnRelu => cells::rnn_bwd(n, wd, cell == CellKind::RnnRelu, acts, dhr, dgb),
                    CellKind::Lstm => {
                        let dmb = if spec.proj > 0 { Blk::new(pdm.at(j0), h) } else { dhr };
                        cells::lstm_bwd(
                            n,
                            wd,
                            h,
                            acts,
                            Blk::new(pc.at(k0 * h + j0), h),
                            Blk::new(cprev.at(j0), h),
                            dmb,
                            Blk::new(pdc.at(j0), h),
                            dgb,
                        )
                    }
                    CellKind::Gru => cells::gru_bwd(
                        n,
                        wd,
                        h,
                        acts,
                        Blk::new(pe.at(k0 * h + j0), h),
                        Blk::new(hprev.at(j0), hout),
                        dhr,
                        dgb,
                        Blk::new(pdgh.at(k0 * gh + j0), gh),
                    ),
                    CellKind::GruTextbook => cells::gru_tb_bwd_zn(n, wd, h, acts, Blk::new(hprev.at(j0), hout), dhr, dgb),
                }
            });
            if cell == CellKind::GruTextbook {
                for_each(nch, par_step(n, h, h), |ch| {
                    let j0 = ch * cw;
                    let wd = cw.min(h - j0);
                    wn.as_ref().expect("textbook GRU has its n-gate pack").chunk(ch).mul(n, pdg.at(k0 * gh + 2 * h), gh, pdrh.at(j0), h);
                    cells::gru_tb_bwd_r(
                        n,
                        wd,
                        Blk::new(pa.at(k0 * gh + j0), gh),
                        Blk::new(hprev.at(j0), hout),
                        Blk::new(pdrh.at(j0), h),
                        Blk::new(pdg.at(k0 * gh + j0), gh),
                    );
                });
            }
            // dh_prev = dG W_hh (+ the direct paths of the GRU).
            let a = if cell == CellKind::Gru { pdgh } else { pdg };
            for_each(rec.len(), par_step(n, kdim, hout), |blk| {
                let c0 = blk * rec.width;
                let cols = rec.cols(blk);
                rec.mul_chunk(blk, n, a.at(k0 * gh), gh, pdh.p(), hout);
                if matches!(cell, CellKind::Gru | CellKind::GruTextbook) {
                    for r in 0..n {
                        for j in c0..c0 + cols {
                            let z = *pa.at((k0 + r) * gh + h + j);
                            let mut v = *pdh.at(r * hout + j) + *pdhb.at((k0 + r) * hout + j) * z;
                            if cell == CellKind::GruTextbook {
                                v += *pdrh.at(r * h + j) * *pa.at((k0 + r) * gh + j);
                            }
                            *pdh.at(r * hout + j) = v;
                        }
                    }
                }
            });
        }
    }
    // Weight gradients as large products over all tokens (not split over tokens: that would
    // change the rounding; a cancelled call skips them and returns zeros, then an error). The
    // right-hand sides are packed straight from X and the previous-h rows: with one dG (RNN,
    // LSTM) dW_ih and dW_hh are one product dG^T [X | H_prev]; A = dG^T is read in place.
    let hprev_row = |kk: usize| -> &[T] {
        let t = pack.tok_t[kk];
        let r = kk - pack.offsets[t];
        if t == 0 {
            &dc_.h_init[r * hout..(r + 1) * hout]
        } else {
            let kp = pack.offsets[t - 1] + r;
            &dc_.y[kp * hout..(kp + 1) * hout]
        }
    };
    let x_row = |kk: usize| -> &[T] { &xg[kk * din..(kk + 1) * din] };
    let mut dw = OwnedWeights {
        w_ih: zeros(gh * din),
        w_hh: zeros(gh * hout),
        b_ih: Vec::new(),
        b_hh: Vec::new(),
        w_hr: zeros(if spec.proj > 0 { spec.proj * h } else { 0 }),
    };
    let mut dxg = workspace::zeros::<T>(n_tok * din);
    if !cancel.is_cancelled() {
        match cell {
            CellKind::RnnTanh | CellKind::RnnRelu | CellKind::Lstm => {
                let wide = din + hout;
                let b = PackedB::from_row_pairs(n_tok, wide, |kk| [x_row(kk), hprev_row(kk)], true);
                let mut cat = workspace::zeros::<T>(gh * wide);
                // SAFETY: dg is (n_tok x gh), read as A = dG^T (gh x n_tok); cat is gh x wide.
                unsafe { b.mul_rows_strided(gh, dg.as_ptr(), 1, gh, cat.as_mut_ptr(), wide, true) };
                for (r, row) in cat.chunks_exact(wide).enumerate() {
                    dw.w_ih[r * din..(r + 1) * din].copy_from_slice(&row[..din]);
                    dw.w_hh[r * hout..(r + 1) * hout].copy_from_slice(&row[din..]);
                }
            }
            CellKind::Gru => {
                let bx = PackedB::from_row_pairs(n_tok, din, |kk| [x_row(kk), &[]], true);
                let bh = PackedB::from_row_pairs(n_tok, hout, |kk| [hprev_row(kk), &[]], true);
                // SAFETY: dg and dgh are (n_tok x gh), read transposed; dw.* are gh x din / hout.
                unsafe {
                    bx.mul_rows_strided(gh, dg.as_ptr(), 1, gh, dw.w_ih.as_mut_ptr(), din, true);
                    bh.mul_rows_strided(gh, dgh.as_ptr(), 1, gh, dw.w_hh.as_mut_ptr(), hout, true);
                }
            }
            CellKind::GruTextbook => {
                let hp: Vec<T> = (0..n_tok).flat_map(|kk| hprev_row(kk).iter().copied()).collect();
                let big = Split::Rows(halves(gh));
                // SAFETY: the products read dg/hp/xg/extra and write dw, every one allocated
                // above (or in the cache) with the shapes passed.
                unsafe {
                    gemm_par(gh, n_tok, din, dg.as_ptr(), 1, gh, xg.as_ptr(), din, 1, T::ZERO, dw.w_ih.as_mut_ptr(), din, big);
                    gemm_par(
                        2 * h,
                        n_tok,
                        hout,
                        dg.as_ptr(),
                        1,
                        gh,
                        hp.as_ptr(),
                        hout,
                        1,
                        T::ZERO,
                        dw.w_hh.as_mut_ptr(),
                        hout,
                        Split::Rows(halves(2 * h)),
                    );
                    gemm_par(
                        h,
                        n_tok,
                        hout,
                        dg.as_ptr().add(2 * h),
                        1,
                        gh,
                        dc_.extra.as_ptr(),
                        h,
                        1,
                        T::ZERO,
                        dw.w_hh.as_mut_ptr().add(2 * h * hout),
                        hout,
                        Split::Rows(halves(h)),
                    );
                }
            }
        }
        // SAFETY: dhb (n_tok x hout), m (n_tok x h), dg (n_tok x gh), W_ih (gh x din) and
        // dxg (n_tok x din) have the shapes passed.
        unsafe {
            if spec.proj > 0 {
                gemm_par(
                    spec.proj,
                    n_tok,
                    h,
                    dhb.as_ptr(),
                    1,
                    hout,
                    dc_.m.as_ptr(),
                    h,
                    1,
                    T::ZERO,
                    dw.w_hr.as_mut_ptr(),
                    h,
                    Split::Rows(halves(spec.proj)),
                );
            }
            product_all_tokens(n_tok, gh, din, dg.as_ptr(), w.w_ih.as_ptr(), din, 1, dxg.as_mut_ptr(), cancel);
        }
    }
    dw.b_ih = colsum(&dg, n_tok, gh);
    dw.b_hh = if cell == CellKind::Gru { colsum(&dgh, n_tok, gh) } else { dw.b_ih.clone() };
    DirGrads { dw, dxg, dh0: dh, dc0: dcar }
}

/// Backward pass: gradients of x, h0, c0 and every weight, given the gradients of y, h_n and
/// c_n (None = zero). Gradients at padding positions of `dy` are ignored.
pub fn backward<T: Kern>(
    cache: &Cache<T>,
    weights: &[Weights<T>],
    dy: Option<&[T]>,
    dh_n: Option<&[T]>,
    dc_n: Option<&[T]>,
    num_threads: Option<usize>,
) -> Result<Grads<T>> {
    let spec = &cache.spec;
    check_weights(spec, weights)?;
    let pack = &cache.pack;
    let (bsz, steps, dirs, hout, h) = (pack.batch, pack.steps, spec.dirs(), spec.hout(), spec.hidden);
    let width = dirs * hout;
    let first = if cache.opts.batch_first { [bsz, steps, width] } else { [steps, bsz, width] };
    check_len("dy", dy, first)?;
    check_len("dh_n", dh_n, [spec.layers * dirs, bsz, hout])?;
    if spec.cell == CellKind::Lstm {
        check_len("dc_n", dc_n, [spec.layers * dirs, bsz, h])?;
    } else if dc_n.is_some() {
        return Err(Error::Value("dc_n is only used by an LSTM".into()));
    }
    for (i, l) in cache.layers.iter().enumerate() {
        if l.dirs.len() != dirs || l.input.len() != pack.n * spec.din(i) {
            return Err(Error::Value("the cache does not belong to these weights".into()));
        }
    }
    let cancel = parallel::cancel_token();
    let g = parallel::install(num_threads, || backward_impl(cache, weights, dy, dh_n, dc_n, &cancel))?;
    cancel.check()?;
    Ok(g)
}

fn backward_impl<T: Kern>(
    cache: &Cache<T>,
    weights: &[Weights<T>],
    dy: Option<&[T]>,
    dh_n: Option<&[T]>,
    dc_n: Option<&[T]>,
    cancel: &CancelToken,
) -> Grads<T> {
    let (spec, pack, opts) = (&cache.spec, &cache.pack, &cache.opts);
    let (bsz, dirs, hout, h, n) = (pack.batch, spec.dirs(), spec.hout(), spec.hidden, pack.n);
    let width = dirs * hout;
    let mut dout = match dy {
        Some(dy) => workspace::gather_rows(dy, (0..n).map(|k| pack.padded_row(k, opts.batch_first)), n, width),
        None => workspace::zeros(n * width),
    };
    let mut dh0 = vec![T::ZERO; spec.layers * dirs * bsz * hout];
    let mut dc0 = if spec.cell == CellKind::Lstm { vec![T::ZERO; spec.layers * dirs * bsz * h] } else { Vec::new() };
    let mut dws: Vec<Option<OwnedWeights<T>>> = (0..spec.layers * dirs).map(|_| None).collect();
    let mut dx = Vec::new();
    for l in (0..spec.layers).rev() {
        let lc = &cache.layers[l];
        let din = spec.din(l);
        let run = |d: usize| {
            let ld = l * dirs + d;
            let src = |k: usize| if d == 0 { k } else { pack.rev[k] };
            let dyd: Cow<[T]> = if dirs == 1 {
                Cow::Borrowed(&dout)
            } else {
                let mut v = Vec::with_capacity(n * hout);
                for k in 0..n {
                    v.extend_from_slice(&dout[src(k) * width + d * hout..src(k) * width + (d + 1) * hout]);
                }
                Cow::Owned(v)
            };
            let xg: Cow<[T]> =
                if d == 0 { Cow::Borrowed(&lc.input) } else { Cow::Owned(gather_rows(&lc.input, pack.rev.iter().copied(), din)) };
            let dhi = init_state(dh_n, ld, pack, hout);
            let dci = if spec.cell == CellKind::Lstm { init_state(dc_n, ld, pack, h) } else { Vec::new() };
            run_dir_bwd(spec, &weights[ld], pack, &lc.dirs[d], &xg, &dyd, dhi, dci, cancel)
        };
        let gs = if dirs == 2 {
            let (a, b) = rayon::join(|| run(0), || run(1));
            vec![a, b]
        } else {
            vec![run(0)]
        };
        if cancel.is_cancelled() {
            // The caller returns Interrupted: skip assembling gradients nobody will see.
            return Grads { dx: Vec::new(), dh0: Vec::new(), dc0: Vec::new(), dw: Vec::new() };
        }
        let mut dinput = workspace::Scratch::default();
        for (d, mut g) in gs.into_iter().enumerate() {
            if d == 0 {
                dinput = std::mem::take(&mut g.dxg);
            } else {
                for k in 0..n {
                    let dst = pack.rev[k];
                    for (o, v) in dinput[dst * din..(dst + 1) * din].iter_mut().zip(&g.dxg[k * din..(k + 1) * din]) {
                        *o += *v;
                    }
                }
            }
            let ld = l * dirs + d;
            for (r, &b) in pack.order.iter().enumerate() {
                dh0[(ld * bsz + b) * hout..(ld * bsz + b + 1) * hout].copy_from_slice(&g.dh0[r * hout..(r + 1) * hout]);
                if !dc0.is_empty() {
                    dc0[(ld * bsz + b) * h..(ld * bsz + b + 1) * h].copy_from_slice(&g.dc0[r * h..(r + 1) * h]);
                }
            }
            dws[ld] = Some(g.dw);
        }
        if l > 0 {
            apply_dropout(&mut dinput, din, pack, opts, l - 1);
            dout = dinput;
        } else {
            dx = vec![T::ZERO; bsz * pack.steps * din];
            for k in 0..n {
                let row = pack.padded_row(k, opts.batch_first);
                dx[row * din..(row + 1) * din].copy_from_slice(&dinput[k * din..(k + 1) * din]);
            }
        }
    }
    Grads { dx, dh0, dc0, dw: dws.into_iter().map(|w| w.expect("every layer-direction has gradients")).collect() }
}
