//! The element-wise work of one time step of each cell, for one block of hidden units.
//!
//! Every kernel handles rows `0..n` (the rows running at this step) and `cw` consecutive hidden
//! units starting where its pointers point. A `Blk` is a row-major block given by its first
//! element and its row stride; within a row of gate values, gate `g` of unit `j` sits at
//! `g * gs + j` (`gs` = H in the packed gate arrays, `cw` in a chunk's recurrent product).
//! Gate arrays hold pre-activations on entry and activations on exit (the forward cache).
//!
//! Conventions (PyTorch): LSTM gates i, f, g, o with c' = f c + i g, m = o tanh(c'); GRU gates
//! r, z, n with h' = (1 - z) n + z h, n = tanh(x_n + r (W_hn h + b_hn)) ("pytorch") or
//! n = tanh(x_n + W_hn (r h) + b_hn) ("textbook"). Backward kernels turn the gradient of the
//! step's output into gradients of the gate pre-activations.

use super::real::{sigmoid, tanh, Real};
use super::simd::simd_kernels;

/// A row-major block: first element and row stride.
#[derive(Clone, Copy)]
pub struct Blk<T> {
    pub p: *mut T,
    pub ld: usize,
}
unsafe impl<T> Send for Blk<T> {}
unsafe impl<T> Sync for Blk<T> {}

impl<T> Blk<T> {
    pub fn new(p: *mut T, ld: usize) -> Self {
        Blk { p, ld }
    }
    /// The block shifted by `off` elements.
    ///
    /// # Safety
    /// The result must stay inside the allocation.
    #[inline(always)]
    pub unsafe fn at(self, off: usize) -> Self {
        Blk { p: self.p.add(off), ld: self.ld }
    }
    #[inline(always)]
    unsafe fn row<'a>(self, r: usize, off: usize, len: usize) -> &'a mut [T] {
        std::slice::from_raw_parts_mut(self.p.add(r * self.ld + off), len)
    }
}

// Row functions take slices as arguments so that LLVM knows they do not alias (it vectorises
// none of these loops when the slices are made from raw pointers inside one function).

#[inline(always)]
fn rnn_fwd_row<T: Real>(relu: bool, a: &mut [T], s: &[T], y: &mut [T]) {
    let n = a.len();
    let (s, y) = (&s[..n], &mut y[..n]);
    for j in 0..n {
        let p = a[j] + s[j];
        let h = if relu { p.max_(T::ZERO) } else { tanh(p) };
        a[j] = h;
        y[j] = h;
    }
}

#[inline(always)]
fn rnn_bwd_row<T: Real>(relu: bool, a: &[T], d: &[T], g: &mut [T]) {
    let n = g.len();
    let (a, d) = (&a[..n], &d[..n]);
    for j in 0..n {
        g[j] = if relu {
            if a[j] > T::ZERO {
                d[j]
            } else {
                T::ZERO
            }
        } else {
            d[j] * (T::ONE - a[j] * a[j])
        };
    }
}

#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn lstm_fwd_row<T: Real>(ai: &mut [T], af: &mut [T], ag: &mut [T], ao: &mut [T], s: &[T], cp: &[T], c: &mut [T], m: &mut [T]) {
    let n = ai.len();
    let (af, ag, ao, cp, c, m) = (&mut af[..n], &mut ag[..n], &mut ao[..n], &cp[..n], &mut c[..n], &mut m[..n]);
    let (si, sf, sg, so) = (&s[..n], &s[n..2 * n], &s[2 * n..3 * n], &s[3 * n..4 * n]);
    for j in 0..n {
        let i = sigmoid(ai[j] + si[j]);
        let f = sigmoid(af[j] + sf[j]);
        let g = tanh(ag[j] + sg[j]);
        let o = sigmoid(ao[j] + so[j]);
        let cn = f * cp[j] + i * g;
        ai[j] = i;
        af[j] = f;
        ag[j] = g;
        ao[j] = o;
        c[j] = cn;
        m[j] = o * tanh(cn);
    }
}

#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn lstm_bwd_row<T: Real>(a: [&[T]; 4], c: &[T], cp: &[T], dm: &[T], dc: &mut [T], di: &mut [T], df: &mut [T], dg: &mut [T], d_o: &mut [T]) {
    let n = dc.len();
    let (ai, af, ag, ao) = (&a[0][..n], &a[1][..n], &a[2][..n], &a[3][..n]);
    let (c, cp, dm, di, df, dg, d_o) = (&c[..n], &cp[..n], &dm[..n], &mut di[..n], &mut df[..n], &mut dg[..n], &mut d_o[..n]);
    for j in 0..n {
        let (i, f, g, o) = (ai[j], af[j], ag[j], ao[j]);
        let tc = tanh(c[j]);
        let d = dm[j];
        let dct = dc[j] + d * o * (T::ONE - tc * tc);
        di[j] = dct * g * i * (T::ONE - i);
        df[j] = dct * cp[j] * f * (T::ONE - f);
        dg[j] = dct * i * (T::ONE - g * g);
        d_o[j] = d * tc * o * (T::ONE - o);
        dc[j] = dct * f;
    }
}

#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn gru_fwd_row<T: Real>(ar: &mut [T], az: &mut [T], an: &mut [T], s: &[T], bhn: &[T], hp: &[T], gh: &mut [T], y: &mut [T]) {
    let n = ar.len();
    let (az, an, bhn, hp, gh, y) = (&mut az[..n], &mut an[..n], &bhn[..n], &hp[..n], &mut gh[..n], &mut y[..n]);
    let (sr, sz, sn) = (&s[..n], &s[n..2 * n], &s[2 * n..3 * n]);
    for j in 0..n {
        let rg = sigmoid(ar[j] + sr[j]);
        let z = sigmoid(az[j] + sz[j]);
        let g = sn[j] + bhn[j];
        let nn = tanh(an[j] + rg * g);
        ar[j] = rg;
        az[j] = z;
        an[j] = nn;
        gh[j] = g;
        y[j] = (T::ONE - z) * nn + z * hp[j];
    }
}

#[inline(always)]
fn gru_bwd_row<T: Real>(a: [&[T]; 3], gh: &[T], hp: &[T], d: &[T], dx: [&mut [T]; 3], dh: [&mut [T]; 3]) {
    let [xr, xz, xn] = dx;
    let [hr, hz, hn] = dh;
    let n = xr.len();
    let (ar, az, an, gh, hp, d) = (&a[0][..n], &a[1][..n], &a[2][..n], &gh[..n], &hp[..n], &d[..n]);
    let (xz, xn, hr, hz, hn) = (&mut xz[..n], &mut xn[..n], &mut hr[..n], &mut hz[..n], &mut hn[..n]);
    for j in 0..n {
        let (rg, z, nn) = (ar[j], az[j], an[j]);
        let dnp = d[j] * (T::ONE - z) * (T::ONE - nn * nn);
        let dzp = d[j] * (hp[j] - nn) * z * (T::ONE - z);
        let drp = dnp * gh[j] * rg * (T::ONE - rg);
        xr[j] = drp;
        xz[j] = dzp;
        xn[j] = dnp;
        hr[j] = drp;
        hz[j] = dzp;
        hn[j] = dnp * rg;
    }
}

#[inline(always)]
fn gru_tb_fwd_rz_row<T: Real>(ar: &mut [T], az: &mut [T], s: &[T], hp: &[T], rh: &mut [T]) {
    let n = ar.len();
    let (az, hp, rh) = (&mut az[..n], &hp[..n], &mut rh[..n]);
    let (sr, sz) = (&s[..n], &s[n..2 * n]);
    for j in 0..n {
        let rg = sigmoid(ar[j] + sr[j]);
        ar[j] = rg;
        az[j] = sigmoid(az[j] + sz[j]);
        rh[j] = rg * hp[j];
    }
}

#[inline(always)]
fn gru_tb_fwd_n_row<T: Real>(az: &[T], an: &mut [T], sn: &[T], hp: &[T], y: &mut [T]) {
    let n = an.len();
    let (az, sn, hp, y) = (&az[..n], &sn[..n], &hp[..n], &mut y[..n]);
    for j in 0..n {
        let nn = tanh(an[j] + sn[j]);
        an[j] = nn;
        y[j] = (T::ONE - az[j]) * nn + az[j] * hp[j];
    }
}

#[inline(always)]
fn gru_tb_bwd_zn_row<T: Real>(az: &[T], an: &[T], hp: &[T], d: &[T], dz: &mut [T], dn: &mut [T]) {
    let n = dz.len();
    let (az, an, hp, d, dn) = (&az[..n], &an[..n], &hp[..n], &d[..n], &mut dn[..n]);
    for j in 0..n {
        let (z, nn) = (az[j], an[j]);
        dn[j] = d[j] * (T::ONE - z) * (T::ONE - nn * nn);
        dz[j] = d[j] * (hp[j] - nn) * z * (T::ONE - z);
    }
}

#[inline(always)]
fn gru_tb_bwd_r_row<T: Real>(ar: &[T], hp: &[T], d: &[T], dr: &mut [T]) {
    let n = dr.len();
    let (ar, hp, d) = (&ar[..n], &hp[..n], &d[..n]);
    for j in 0..n {
        dr[j] = d[j] * hp[j] * ar[j] * (T::ONE - ar[j]);
    }
}

simd_kernels! {
/// Elman RNN: h = act(pre + s); the result goes to the gate array and to `y`.
fn rnn_fwd<T>(n: usize, cw: usize, relu: bool, acts: Blk<T>, s: Blk<T>, y: Blk<T>) {
    for r in 0..n {
        rnn_fwd_row(relu, acts.row(r, 0, cw), s.row(r, 0, cw), y.row(r, 0, cw));
    }
}

/// Elman RNN backward: dpre = dh * act'(h).
fn rnn_bwd<T>(n: usize, cw: usize, relu: bool, acts: Blk<T>, dh: Blk<T>, dg: Blk<T>) {
    for r in 0..n {
        rnn_bwd_row(relu, acts.row(r, 0, cw), dh.row(r, 0, cw), dg.row(r, 0, cw));
    }
}

/// LSTM step: gates (stride `gs`) + recurrent product (stride `cw`) -> activations, c, m.
fn lstm_fwd<T>(n: usize, cw: usize, gs: usize, acts: Blk<T>, s: Blk<T>, cprev: Blk<T>, c: Blk<T>, m: Blk<T>) {
    for r in 0..n {
        lstm_fwd_row(
            acts.row(r, 0, cw), acts.row(r, gs, cw), acts.row(r, 2 * gs, cw), acts.row(r, 3 * gs, cw),
            s.row(r, 0, 4 * cw), cprev.row(r, 0, cw), c.row(r, 0, cw), m.row(r, 0, cw),
        );
    }
}

/// LSTM step backward. `dm` is the gradient of m = o tanh(c); `dc` carries the gradient of c
/// (in: from the next step, out: for the previous one).
fn lstm_bwd<T>(n: usize, cw: usize, gs: usize, acts: Blk<T>, c: Blk<T>, cprev: Blk<T>, dm: Blk<T>, dc: Blk<T>, dg: Blk<T>) {
    for r in 0..n {
        let a = [&*acts.row(r, 0, cw), &*acts.row(r, gs, cw), &*acts.row(r, 2 * gs, cw), &*acts.row(r, 3 * gs, cw)];
        lstm_bwd_row(
            a, c.row(r, 0, cw), cprev.row(r, 0, cw), dm.row(r, 0, cw), dc.row(r, 0, cw),
            dg.row(r, 0, cw), dg.row(r, gs, cw), dg.row(r, 2 * gs, cw), dg.row(r, 3 * gs, cw),
        );
    }
}

/// GRU ("pytorch") step: r, z, n from gates + recurrent product; h' = (1 - z) n + z h.
/// `bhn` is b_hn for these units; `ghn` keeps W_hn h + b_hn for the backward.
fn gru_fwd<T>(n: usize, cw: usize, gs: usize, acts: Blk<T>, s: Blk<T>, bhn: &[T], hprev: Blk<T>, ghn: Blk<T>, y: Blk<T>) {
    for r in 0..n {
        gru_fwd_row(
            acts.row(r, 0, cw), acts.row(r, gs, cw), acts.row(r, 2 * gs, cw), s.row(r, 0, 3 * cw), bhn,
            hprev.row(r, 0, cw), ghn.row(r, 0, cw), y.row(r, 0, cw),
        );
    }
}

/// GRU ("pytorch") backward: gradients of the input-side pre-activations (`dgx`) and of the
/// recurrent-side ones (`dgh`, where the n block is scaled by r).
fn gru_bwd<T>(n: usize, cw: usize, gs: usize, acts: Blk<T>, ghn: Blk<T>, hprev: Blk<T>, dh: Blk<T>, dgx: Blk<T>, dgh: Blk<T>) {
    for r in 0..n {
        let a = [&*acts.row(r, 0, cw), &*acts.row(r, gs, cw), &*acts.row(r, 2 * gs, cw)];
        gru_bwd_row(
            a, ghn.row(r, 0, cw), hprev.row(r, 0, cw), dh.row(r, 0, cw),
            [dgx.row(r, 0, cw), dgx.row(r, gs, cw), dgx.row(r, 2 * gs, cw)],
            [dgh.row(r, 0, cw), dgh.row(r, gs, cw), dgh.row(r, 2 * gs, cw)],
        );
    }
}

/// Textbook GRU, first half: r and z, and r * h for the n-gate product.
fn gru_tb_fwd_rz<T>(n: usize, cw: usize, gs: usize, acts: Blk<T>, s: Blk<T>, hprev: Blk<T>, rh: Blk<T>) {
    for r in 0..n {
        gru_tb_fwd_rz_row(acts.row(r, 0, cw), acts.row(r, gs, cw), s.row(r, 0, 2 * cw), hprev.row(r, 0, cw), rh.row(r, 0, cw));
    }
}

/// Textbook GRU, second half: n = tanh(pre_n + W_hn (r h)), h' = (1 - z) n + z h.
fn gru_tb_fwd_n<T>(n: usize, cw: usize, gs: usize, acts: Blk<T>, s: Blk<T>, hprev: Blk<T>, y: Blk<T>) {
    for r in 0..n {
        gru_tb_fwd_n_row(acts.row(r, gs, cw), acts.row(r, 2 * gs, cw), s.row(r, 0, cw), hprev.row(r, 0, cw), y.row(r, 0, cw));
    }
}

/// Textbook GRU backward, first half: dz and dn pre-activations.
fn gru_tb_bwd_zn<T>(n: usize, cw: usize, gs: usize, acts: Blk<T>, hprev: Blk<T>, dh: Blk<T>, dg: Blk<T>) {
    for r in 0..n {
        gru_tb_bwd_zn_row(
            acts.row(r, gs, cw), acts.row(r, 2 * gs, cw), hprev.row(r, 0, cw), dh.row(r, 0, cw), dg.row(r, gs, cw), dg.row(r, 2 * gs, cw),
        );
    }
}

/// Textbook GRU backward, second half: dr from d(r h) (given in `drh`).
fn gru_tb_bwd_r<T>(n: usize, cw: usize, acts: Blk<T>, hprev: Blk<T>, drh: Blk<T>, dg: Blk<T>) {
    for r in 0..n {
        gru_tb_bwd_r_row(acts.row(r, 0, cw), hprev.row(r, 0, cw), drh.row(r, 0, cw), dg.row(r, 0, cw));
    }
}
}
