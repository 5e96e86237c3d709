//! Recurrent networks (Elman RNN, LSTM, GRU) over layers and directions: forward with a cache
//! (this file) and backpropagation through time (`backward.rs`).
//!
//! Shapes follow PyTorch: x is (B, T, D) (`batch_first`) or (T, B, D); per layer and direction
//! `w_ih` (G H, D_in), `w_hh` (G H, H_out), `b_ih`, `b_hh` (G H), and for an LSTM with
//! `proj` > 0 `w_hr` (P, H), H_out = P. h0 / h_n are (layers * dirs, B, H_out), c0 / c_n
//! (layers * dirs, B, H). Layer outputs are the directions' outputs side by side.
//!
//! Work plan of one direction of one layer (N real tokens, see `pack.rs`):
//! 1. one GEMM over all tokens for the input side, N x G H (biases folded in);
//! 2. per step, one product of the running rows' previous h with W_hh, split into fixed blocks
//!    of hidden units with the gate rows of each block made contiguous, each block followed at
//!    once by its cell's element-wise kernel (`cells.rs`) while its gates are still in cache;
//! 3. backward: per step the element-wise gradients, then dh_prev = dG W_hh; after the loop
//!    the weight gradients as three large GEMMs over all tokens (dW_ih = dG^T X,
//!    dW_hh = dG^T H_prev, dX = dG W_ih).
//!
//! Cost: 2 N G H (D_in + H_out) flops forward, twice that backward; cache N (G H + 2 H + H_out)
//! floats per direction. The two directions run concurrently; blocks run on the current pool.
//! Every block boundary depends only on the shapes, so results are bit-identical for any
//! thread count. Inter-layer dropout uses a counter-based mask ([`dropout_keep`]), recomputed
//! in the backward instead of stored.

use std::borrow::Cow;

use super::cells::{self, Blk};
use super::gemm::{for_each, gemm_par, Split, SyncPtr};
use super::pack::{gather_rows, Packing};
use super::packed::{ChunkedB, Kern, PackedB};
use super::real::Real;
use super::workspace::{self, Pooled, Scratch};
use crate::error::{Error, Result};
use crate::parallel::{self, CancelToken};
use crate::rng::{mix64, GOLDEN};

/// The cell of a recurrent network.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CellKind {
    RnnTanh,
    RnnRelu,
    Lstm,
    /// PyTorch's GRU: reset gate applied after the recurrent product.
    Gru,
    /// Cho et al. 2014: reset gate applied to h before the recurrent product.
    GruTextbook,
}

impl CellKind {
    /// Gates per hidden unit.
    pub fn gates(self) -> usize {
        match self {
            CellKind::RnnTanh | CellKind::RnnRelu => 1,
            CellKind::Lstm => 4,
            CellKind::Gru | CellKind::GruTextbook => 3,
        }
    }
}

/// Sizes of a network.
#[derive(Clone, Copy, Debug)]
pub struct Spec {
    pub cell: CellKind,
    pub input_size: usize,
    pub hidden: usize,
    /// LSTM projection size (0 = none).
    pub proj: usize,
    pub layers: usize,
    pub bidir: bool,
}

impl Spec {
    pub fn dirs(&self) -> usize {
        if self.bidir {
            2
        } else {
            1
        }
    }
    /// Size of h (the projection size when there is one).
    pub fn hout(&self) -> usize {
        if self.proj > 0 {
            self.proj
        } else {
            self.hidden
        }
    }
    pub fn gh(&self) -> usize {
        self.cell.gates() * self.hidden
    }
    /// Input size of layer `l`.
    pub fn din(&self, l: usize) -> usize {
        if l == 0 {
            self.input_size
        } else {
            self.dirs() * self.hout()
        }
    }
    fn check(&self) -> Result<()> {
        if self.hidden == 0 || self.layers == 0 || self.input_size == 0 {
            return Err(Error::Value(format!(
                "input_size={}, hidden_size={} and num_layers={} must all be at least 1",
                self.input_size, self.hidden, self.layers
            )));
        }
        if self.proj > 0 && (self.cell != CellKind::Lstm || self.proj >= self.hidden) {
            return Err(Error::Value(format!(
                "proj_size={} needs an LSTM and must be smaller than hidden_size={}",
                self.proj, self.hidden
            )));
        }
        Ok(())
    }
}

/// PyTorch's name suffix of layer `l`, direction `d`.
pub fn param_suffix(l: usize, d: usize) -> String {
    if d == 0 {
        format!("l{l}")
    } else {
        format!("l{l}_reverse")
    }
}

/// Weights of one layer and direction (row-major, PyTorch layout).
#[derive(Clone, Copy)]
pub struct Weights<'a, T> {
    pub w_ih: &'a [T],
    pub w_hh: &'a [T],
    pub b_ih: &'a [T],
    pub b_hh: &'a [T],
    /// Empty unless the spec has a projection.
    pub w_hr: &'a [T],
}

/// Owned weights (gradients).
#[derive(Clone, Debug)]
pub struct OwnedWeights<T> {
    pub w_ih: Vec<T>,
    pub w_hh: Vec<T>,
    pub b_ih: Vec<T>,
    pub b_hh: Vec<T>,
    pub w_hr: Vec<T>,
}

pub(super) fn check_weights<T>(spec: &Spec, ws: &[Weights<T>]) -> Result<()> {
    let want = spec.layers * spec.dirs();
    if ws.len() != want {
        return Err(Error::Shape(format!("expected weights for {want} layer-directions, got {}", ws.len())));
    }
    let (gh, hout, h) = (spec.gh(), spec.hout(), spec.hidden);
    for l in 0..spec.layers {
        for d in 0..spec.dirs() {
            let w = &ws[l * spec.dirs() + d];
            let sfx = param_suffix(l, d);
            let din = spec.din(l);
            let checks: [(&str, usize, (usize, usize)); 5] = [
                ("weight_ih", w.w_ih.len(), (gh, din)),
                ("weight_hh", w.w_hh.len(), (gh, hout)),
                ("bias_ih", w.b_ih.len(), (gh, 1)),
                ("bias_hh", w.b_hh.len(), (gh, 1)),
                ("weight_hr", w.w_hr.len(), if spec.proj > 0 { (spec.proj, h) } else { (0, 0) }),
            ];
            for (name, len, (r, c)) in checks {
                if len != r * c {
                    let shape = if c == 1 { format!("({r},)") } else { format!("({r}, {c})") };
                    return Err(Error::Shape(format!("{name}_{sfx} has {len} elements, expected shape {shape}")));
                }
            }
        }
    }
    Ok(())
}

/// Options of a forward pass.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    pub batch_first: bool,
    /// Inter-layer dropout probability in [0, 1).
    pub dropout: f64,
    pub seed: u64,
    /// Keep what the backward needs.
    pub keep_cache: bool,
    pub num_threads: Option<usize>,
}

/// Input of a forward pass.
pub struct State<'a, T> {
    pub x: &'a [T],
    pub batch: usize,
    pub steps: usize,
    pub h0: Option<&'a [T]>,
    pub c0: Option<&'a [T]>,
    pub lengths: Option<&'a [i64]>,
}

pub(super) struct DirCache<T: Pooled> {
    pub(super) acts: Scratch<T>,
    pub(super) c: Scratch<T>,
    pub(super) y: Scratch<T>,
    pub(super) m: Scratch<T>,
    /// GRU: W_hn h + b_hn; textbook GRU: r * h.
    pub(super) extra: Scratch<T>,
    pub(super) h_init: Vec<T>,
    pub(super) c_init: Vec<T>,
}

pub(super) struct LayerCache<T: Pooled> {
    /// Layer input in forward-packed order (after dropout).
    pub(super) input: Scratch<T>,
    pub(super) dirs: Vec<DirCache<T>>,
}

/// What the backward needs (opaque to users).
pub struct Cache<T: Pooled> {
    pub(super) spec: Spec,
    pub(super) opts: Options,
    pub(super) pack: Packing,
    pub(super) layers: Vec<LayerCache<T>>,
}

impl<T: Pooled> Cache<T> {
    pub fn spec(&self) -> &Spec {
        &self.spec
    }
    /// (batch, steps) of the forward input.
    pub fn dims(&self) -> (usize, usize) {
        (self.pack.batch, self.pack.steps)
    }
    pub fn batch_first(&self) -> bool {
        self.opts.batch_first
    }
}

/// Result of a forward pass.
pub struct Forward<T: Pooled> {
    pub y: Vec<T>,
    pub h_n: Vec<T>,
    /// Empty unless LSTM.
    pub c_n: Vec<T>,
    pub cache: Option<Cache<T>>,
}

/// Gradients of a backward pass (dh0 / dc0 in the h0 / c0 layout).
pub struct Grads<T> {
    pub dx: Vec<T>,
    pub dh0: Vec<T>,
    pub dc0: Vec<T>,
    pub dw: Vec<OwnedWeights<T>>,
}

/// Whether element `idx` (flat index in the batch-first padded (B, T, D) box) of layer
/// `layer`'s output survives dropout with probability `p`.
pub fn dropout_keep(seed: u64, layer: usize, idx: u64, p: f64) -> bool {
    let key = mix64(seed) ^ (layer as u64 + 1).wrapping_mul(GOLDEN);
    let thr = (p * (1u64 << 24) as f64).floor() as u64;
    (mix64(key.wrapping_add(idx)) >> 40) >= thr
}

/// Multiply the forward-packed layer output by layer `l`'s dropout mask (in place).
pub(super) fn apply_dropout<T: Real>(a: &mut [T], width: usize, pack: &Packing, opts: &Options, l: usize) {
    if opts.dropout <= 0.0 {
        return;
    }
    let scale = T::from_f64(1.0 / (1.0 - opts.dropout));
    let ptr = SyncPtr(a.as_mut_ptr());
    let blocks = pack.n.div_ceil(256);
    for_each(blocks, true, |blk| {
        for k in blk * 256..((blk + 1) * 256).min(pack.n) {
            let base = ((pack.tok_b[k] * pack.steps + pack.tok_t[k]) * width) as u64;
            for j in 0..width {
                // SAFETY: row k of a (n x width) buffer, rows disjoint across blocks.
                unsafe {
                    let e = ptr.at(k * width + j);
                    *e = if dropout_keep(opts.seed, l, base + j as u64, opts.dropout) { *e * scale } else { T::ZERO };
                }
            }
        }
    });
}

/// Width of the hidden-unit blocks of the per-step work (depends only on H).
pub(super) fn chunk(h: usize) -> usize {
    h.min(64)
}

/// Row blocks for a large product: two halves (rounded to 16 rows), so each block packs the
/// right-hand side once; the split depends only on the shape.
pub(super) fn halves(m: usize) -> usize {
    m.div_ceil(2).div_ceil(16).max(1) * 16
}

/// C (m x n) = A (m x k, row stride k) B for an all-tokens product (input projection, dX).
/// Many rows: B packed once, then L2-sized row blocks over the pool. Few rows (short
/// batch-1 sequences): packing B is most of the work, so the columns are split in two and each
/// half packs only its own part.
///
/// Rows go in groups of 4096 with a look at `cancel` before each (a row's result does not depend
/// on the grouping), so a long product stops early once cancelled (`c` is then incomplete).
///
/// # Safety
/// `a`, `b` (given by strides) and `c` must address the shapes described.
#[allow(clippy::too_many_arguments)]
pub(super) unsafe fn product_all_tokens<T: Kern>(
    m: usize,
    k: usize,
    n: usize,
    a: *const T,
    b: *const T,
    rsb: usize,
    csb: usize,
    c: *mut T,
    cancel: &CancelToken,
) {
    const GROUP: usize = 4096;
    if m >= 64 {
        let packed = PackedB::new(k, n, b, rsb, csb);
        for r0 in (0..m).step_by(GROUP) {
            if cancel.is_cancelled() {
                return;
            }
            // SAFETY: rows r0.. of A and C lie inside the m rows the caller vouches for.
            packed.mul_rows(GROUP.min(m - r0), a.add(r0 * k), k, c.add(r0 * n), n, true);
        }
    } else {
        gemm_par(m, k, n, a, k, 1, b, rsb, csb, T::ZERO, c, n, Split::Cols(halves(n)));
    }
}

/// Worth splitting a step across threads?
pub(super) fn par_step(n: usize, k: usize, cols: usize) -> bool {
    n * k * cols >= 1 << 17
}

/// Forward pass of one direction of one layer over its own packed input `xg` (N x D_in).
/// With `cancel` set the time loop stops early (the caller then returns `Interrupted`).
fn run_dir<T: Kern>(
    spec: &Spec,
    w: &Weights<T>,
    pack: &Packing,
    xg: &[T],
    h_init: Vec<T>,
    c_init: Vec<T>,
    cancel: &CancelToken,
) -> DirCache<T> {
    let (h, hout, gh, n_tok, bsz) = (spec.hidden, spec.hout(), spec.gh(), pack.n, pack.batch);
    let din = xg.len() / n_tok.max(1);
    let cell = spec.cell;
    // 1. input side for all tokens, biases folded in (GRU's b_hn stays inside r * (...)).
    let mut bias: Vec<T> = w.b_ih.iter().zip(w.b_hh).map(|(a, b)| *a + *b).collect();
    if cell == CellKind::Gru {
        bias[2 * h..].copy_from_slice(&w.b_ih[2 * h..]);
    }
    let mut acts = workspace::zeros::<T>(n_tok * gh);
    // SAFETY: W_ih is (gh x din) row-major, read as B = W_ih^T; acts holds n_tok rows of gh.
    unsafe { product_all_tokens(n_tok, din, gh, xg.as_ptr(), w.w_ih.as_ptr(), 1, din, acts.as_mut_ptr(), cancel) };
    if !cancel.is_cancelled() {
        add_rows(&mut acts, &bias); // (cancelled, it would only fault in pages nobody reads)
    }
    // 2. the time loop.
    let pg = match cell {
        CellKind::GruTextbook => 2,
        _ => cell.gates(),
    };
    let cw = chunk(h);
    let nch = h.div_ceil(cw);
    // SAFETY: the strides below address the weight matrices as PyTorch lays them out.
    let rec = ChunkedB::regrouped(w.w_hh, h, hout, pg, cw);
    let proj = (spec.proj > 0).then(|| unsafe { ChunkedB::new(h, hout, w.w_hr.as_ptr(), 1, h, 64) });
    let wn = (cell == CellKind::GruTextbook).then(|| unsafe { ChunkedB::new(h, h, w.w_hh.as_ptr().add(2 * h * hout), 1, hout, cw) });
    let zeros = |len: usize| vec![T::ZERO; len];
    // The cached arrays come from (and, when the cache is dropped, go back to) the pool.
    let mut y = workspace::zeros::<T>(n_tok * hout);
    let mut c = workspace::zeros::<T>(if cell == CellKind::Lstm { n_tok * h } else { 0 });
    let mut m = workspace::zeros::<T>(if spec.proj > 0 { n_tok * h } else { 0 });
    let mut extra = workspace::zeros::<T>(if matches!(cell, CellKind::Gru | CellKind::GruTextbook) { n_tok * h } else { 0 });
    let mut s = zeros(nch * bsz * pg * cw);
    let mut s2 = if cell == CellKind::GruTextbook { zeros(nch * bsz * cw) } else { Vec::new() };
    let (pa, py, pc, pm, pe, ps, ps2) = (
        SyncPtr(acts.as_mut_ptr()),
        SyncPtr(y.as_mut_ptr()),
        SyncPtr(c.as_mut_ptr()),
        SyncPtr(m.as_mut_ptr()),
        SyncPtr(extra.as_mut_ptr()),
        SyncPtr(s.as_mut_ptr()),
        SyncPtr(s2.as_mut_ptr()),
    );
    let pbhn = w.b_hh;
    let (phi, pci) = (SyncPtr(h_init.as_ptr() as *mut T), SyncPtr(c_init.as_ptr() as *mut T));
    for t in 0..pack.max_len() {
        if cancel.is_cancelled() {
            break;
        }
        let (n, k0) = (pack.sizes[t], pack.offsets[t]);
        // SAFETY: every pointer below addresses rows 0..n of this step's block or the previous
        // step's block of buffers sized for all N tokens; blocks of units are disjoint.
        unsafe {
            let hprev = if t == 0 { phi.p() } else { py.at(pack.offsets[t - 1] * hout) };
            let cprev = if t == 0 { pci.p() } else { pc.at(pack.offsets[t - 1] * h) };
            let (hprev, cprev) = (SyncPtr(hprev), SyncPtr(cprev));
            for_each(nch, par_step(n, hout, pg * h), |ch| {
                let j0 = ch * cw;
                let wd = cw.min(h - j0);
                let sb = ps.at(ch * bsz * pg * cw);
                rec.chunk(ch).mul(n, hprev.p(), hout, sb, pg * wd);
                let sblk = Blk::new(sb, pg * wd);
                let acts = Blk::new(pa.at(k0 * gh + j0), gh);
                match cell {
                    CellKind::RnnTanh | CellKind::RnnRelu => {
                        cells::rnn_fwd(n, wd, cell == CellKind::RnnRelu, acts, sblk, Blk::new(py.at(k0 * hout + j0), hout))
                    }
                    CellKind::Lstm => {
                        let out = if spec.proj > 0 { Blk::new(pm.at(k0 * h + j0), h) } else { Blk::new(py.at(k0 * hout + j0), hout) };
                        cells::lstm_fwd(n, wd, h, acts, sblk, Blk::new(cprev.at(j0), h), Blk::new(pc.at(k0 * h + j0), h), out)
                    }
                    CellKind::Gru => cells::gru_fwd(
                        n,
                        wd,
                        h,
                        acts,
                        sblk,
                        &pbhn[2 * h + j0..2 * h + j0 + wd],
                        Blk::new(hprev.at(j0), hout),
                        Blk::new(pe.at(k0 * h + j0), h),
                        Blk::new(py.at(k0 * hout + j0), hout),
                    ),
                    CellKind::GruTextbook => {
                        cells::gru_tb_fwd_rz(n, wd, h, acts, sblk, Blk::new(hprev.at(j0), hout), Blk::new(pe.at(k0 * h + j0), h))
                    }
                }
            });
            if let Some(pr) = &proj {
                pr.mul(n, pm.at(k0 * h), h, py.at(k0 * hout), hout, par_step(n, h, hout));
            }
            if cell == CellKind::GruTextbook {
                for_each(nch, par_step(n, h, h), |ch| {
                    let j0 = ch * cw;
                    let wd = cw.min(h - j0);
                    let sb = ps2.at(ch * bsz * cw);
                    wn.as_ref().expect("textbook GRU has its n-gate pack").chunk(ch).mul(n, pe.at(k0 * h), h, sb, wd);
                    cells::gru_tb_fwd_n(
                        n,
                        wd,
                        h,
                        Blk::new(pa.at(k0 * gh + j0), gh),
                        Blk::new(sb, wd),
                        Blk::new(hprev.at(j0), hout),
                        Blk::new(py.at(k0 * hout + j0), hout),
                    );
                });
            }
        }
    }
    DirCache { acts, c, y, m, extra, h_init, c_init }
}

/// Initial state of layer-direction `ld` in sorted-row order (zeros when not given).
pub(super) fn init_state<T: Real>(src: Option<&[T]>, ld: usize, pack: &Packing, width: usize) -> Vec<T> {
    match src {
        None => vec![T::ZERO; pack.batch * width],
        Some(s) => gather_rows(s, pack.order.iter().map(|&b| ld * pack.batch + b), width),
    }
}

pub(super) fn check_len<T>(what: &str, a: Option<&[T]>, dims: [usize; 3]) -> Result<()> {
    if let Some(a) = a {
        let want = dims.iter().product::<usize>();
        if a.len() != want {
            return Err(Error::Shape(format!("{what} has {} elements, expected shape ({}, {}, {})", a.len(), dims[0], dims[1], dims[2])));
        }
    }
    Ok(())
}

/// Forward pass over all layers and directions.
pub fn forward<T: Kern>(spec: &Spec, weights: &[Weights<T>], st: &State<T>, opts: &Options) -> Result<Forward<T>> {
    spec.check()?;
    check_weights(spec, weights)?;
    if !(0.0..1.0).contains(&opts.dropout) {
        return Err(Error::Value(format!("dropout={} is outside [0, 1)", opts.dropout)));
    }
    let (bsz, steps, dirs, hout, h) = (st.batch, st.steps, spec.dirs(), spec.hout(), spec.hidden);
    let pack = Packing::new(bsz, steps, st.lengths)?;
    let first = if opts.batch_first { [bsz, steps, spec.input_size] } else { [steps, bsz, spec.input_size] };
    check_len("x", Some(st.x), first)?;
    let ldirs = spec.layers * dirs;
    check_len("h0", st.h0, [ldirs, bsz, hout])?;
    if spec.cell == CellKind::Lstm {
        check_len("c0", st.c0, [ldirs, bsz, h])?;
    } else if st.c0.is_some() {
        return Err(Error::Value("c0 is only used by an LSTM".into()));
    }
    let cancel = parallel::cancel_token();
    let f = parallel::install(opts.num_threads, || forward_impl(spec, weights, st, opts, pack, &cancel))?;
    cancel.check()?;
    Ok(f)
}

fn forward_impl<T: Kern>(
    spec: &Spec,
    weights: &[Weights<T>],
    st: &State<T>,
    opts: &Options,
    pack: Packing,
    cancel: &CancelToken,
) -> Forward<T> {
    let (bsz, dirs, hout, h, n) = (st.batch, spec.dirs(), spec.hout(), spec.hidden, pack.n);
    let width = dirs * hout;
    let mut input = workspace::gather_rows(st.x, (0..n).map(|k| pack.padded_row(k, opts.batch_first)), n, spec.input_size);
    let mut h_n = vec![T::ZERO; spec.layers * dirs * bsz * hout];
    let mut c_n = if spec.cell == CellKind::Lstm { vec![T::ZERO; spec.layers * dirs * bsz * h] } else { Vec::new() };
    let mut caches = Vec::new();
    let mut out = workspace::zeros::<T>(0);
    for l in 0..spec.layers {
        let din = spec.din(l);
        let run = |d: usize| {
            let ld = l * dirs + d;
            let xg: Cow<[T]> = if d == 0 { Cow::Borrowed(&input) } else { Cow::Owned(gather_rows(&input, pack.rev.iter().copied(), din)) };
            let hi = init_state(st.h0, ld, &pack, hout);
            let ci = if spec.cell == CellKind::Lstm { init_state(st.c0, ld, &pack, h) } else { Vec::new() };
            run_dir(spec, &weights[ld], &pack, &xg, hi, ci, cancel)
        };
        let dcs = if dirs == 2 {
            let (a, b) = rayon::join(|| run(0), || run(1));
            vec![a, b]
        } else {
            vec![run(0)]
        };
        if cancel.is_cancelled() {
            // The caller returns Interrupted: skip assembling outputs nobody will see.
            return Forward { y: Vec::new(), h_n: Vec::new(), c_n: Vec::new(), cache: None };
        }
        out = workspace::zeros(n * width);
        for (d, dc) in dcs.iter().enumerate() {
            for k in 0..n {
                let dst = if d == 0 { k } else { pack.rev[k] };
                out[dst * width + d * hout..dst * width + (d + 1) * hout].copy_from_slice(&dc.y[k * hout..(k + 1) * hout]);
            }
            let ld = l * dirs + d;
            for b in 0..bsz {
                let k = pack.offsets[pack.lengths[b] - 1] + pack.rank[b];
                h_n[(ld * bsz + b) * hout..(ld * bsz + b + 1) * hout].copy_from_slice(&dc.y[k * hout..(k + 1) * hout]);
                if !c_n.is_empty() {
                    c_n[(ld * bsz + b) * h..(ld * bsz + b + 1) * h].copy_from_slice(&dc.c[k * h..(k + 1) * h]);
                }
            }
        }
        let last = l + 1 == spec.layers;
        let mut next = Scratch::default();
        if !last {
            next = workspace::copy_of(&out);
            apply_dropout(&mut next, width, &pack, opts, l);
        }
        if opts.keep_cache {
            caches.push(LayerCache { input: std::mem::take(&mut input), dirs: dcs });
        }
        if !last {
            input = next;
        }
    }
    let mut y = vec![T::ZERO; bsz * st.steps * width];
    for k in 0..n {
        let row = pack.padded_row(k, opts.batch_first);
        y[row * width..(row + 1) * width].copy_from_slice(&out[k * width..(k + 1) * width]);
    }
    let cache = opts.keep_cache.then_some(Cache { spec: *spec, opts: *opts, pack, layers: caches });
    Forward { y, h_n, c_n, cache }
}

/// Add `row` to every row of `a` (rows of row.len()), in parallel blocks.
fn add_rows<T: Real>(a: &mut [T], row: &[T]) {
    let w = row.len();
    let rows = a.len() / w.max(1);
    let pa = SyncPtr(a.as_mut_ptr());
    for_each(rows.div_ceil(256), rows * w >= 1 << 16, |b| {
        for r in b * 256..((b + 1) * 256).min(rows) {
            // SAFETY: row r of `a`, rows disjoint across blocks.
            let dst = unsafe { std::slice::from_raw_parts_mut(pa.at(r * w), w) };
            for (x, y) in dst.iter_mut().zip(row) {
                *x += *y;
            }
        }
    });
}

pub use super::backward::backward;
