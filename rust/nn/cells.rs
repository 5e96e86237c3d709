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

/// Elman RNN: h = act(pre + s); the result goes to the gate array and to `y`.
#[inline(always)]
pub unsafe fn rnn_fwd<T: Real>(n: usize, cw: usize, relu: bool, acts: Blk<T>, s: Blk<T>, y: Blk<T>) {
    for r in 0..n {
        let (a, sr, yr) = (acts.row(r, 0, cw), s.row(r, 0, cw), y.row(r, 0, cw));
        for j in 0..cw {
            let p = a[j] + sr[j];
            let h = if relu { p.max_(T::ZERO) } else { tanh(p) };
            a[j] = h;
            yr[j] = h;
        }
    }
}

/// Elman RNN backward: dpre = dh * act'(h).
#[inline(always)]
pub unsafe fn rnn_bwd<T: Real>(n: usize, cw: usize, relu: bool, acts: Blk<T>, dh: Blk<T>, dg: Blk<T>) {
    for r in 0..n {
        let (a, d, g) = (acts.row(r, 0, cw), dh.row(r, 0, cw), dg.row(r, 0, cw));
        for j in 0..cw {
            g[j] = if relu {
                if a[j] > T::ZERO { d[j] } else { T::ZERO }
            } else {
                d[j] * (T::ONE - a[j] * a[j])
            };
        }
    }
}

/// LSTM step: gates (stride `gs`) + recurrent product (stride `cw`) -> activations, c, m.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub unsafe fn lstm_fwd<T: Real>(n: usize, cw: usize, gs: usize, acts: Blk<T>, s: Blk<T>, cprev: Blk<T>, c: Blk<T>, m: Blk<T>) {
    for r in 0..n {
        let (ai, af, ag, ao) = (acts.row(r, 0, cw), acts.row(r, gs, cw), acts.row(r, 2 * gs, cw), acts.row(r, 3 * gs, cw));
        let (si, sf, sg, so) = (s.row(r, 0, cw), s.row(r, cw, cw), s.row(r, 2 * cw, cw), s.row(r, 3 * cw, cw));
        let (cp, cr, mr) = (cprev.row(r, 0, cw), c.row(r, 0, cw), m.row(r, 0, cw));
        for j in 0..cw {
            let i = sigmoid(ai[j] + si[j]);
            let f = sigmoid(af[j] + sf[j]);
            let g = tanh(ag[j] + sg[j]);
            let o = sigmoid(ao[j] + so[j]);
            let cn = f * cp[j] + i * g;
            ai[j] = i;
            af[j] = f;
            ag[j] = g;
            ao[j] = o;
            cr[j] = cn;
            mr[j] = o * tanh(cn);
        }
    }
}

/// LSTM step backward. `dm` is the gradient of m = o tanh(c); `dc` carries the gradient of c
/// (in: from the next step, out: for the previous one).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub unsafe fn lstm_bwd<T: Real>(n: usize, cw: usize, gs: usize, acts: Blk<T>, c: Blk<T>, cprev: Blk<T>, dm: Blk<T>, dc: Blk<T>, dg: Blk<T>) {
    for r in 0..n {
        let (ai, af, ag, ao) = (acts.row(r, 0, cw), acts.row(r, gs, cw), acts.row(r, 2 * gs, cw), acts.row(r, 3 * gs, cw));
        let (di, df, dgg, dob) = (dg.row(r, 0, cw), dg.row(r, gs, cw), dg.row(r, 2 * gs, cw), dg.row(r, 3 * gs, cw));
        let (cr, cp, dmr, dcr) = (c.row(r, 0, cw), cprev.row(r, 0, cw), dm.row(r, 0, cw), dc.row(r, 0, cw));
        for j in 0..cw {
            let (i, f, g, o) = (ai[j], af[j], ag[j], ao[j]);
            let tc = tanh(cr[j]);
            let d = dmr[j];
            let dct = dcr[j] + d * o * (T::ONE - tc * tc);
            di[j] = dct * g * i * (T::ONE - i);
            df[j] = dct * cp[j] * f * (T::ONE - f);
            dgg[j] = dct * i * (T::ONE - g * g);
            dob[j] = d * tc * o * (T::ONE - o);
            dcr[j] = dct * f;
        }
    }
}

/// GRU ("pytorch") step: r, z, n from gates + recurrent product; h' = (1 - z) n + z h.
/// `bhn` is b_hn for these units; `ghn` keeps W_hn h + b_hn for the backward.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub unsafe fn gru_fwd<T: Real>(n: usize, cw: usize, gs: usize, acts: Blk<T>, s: Blk<T>, bhn: &[T], hprev: Blk<T>, ghn: Blk<T>, y: Blk<T>) {
    for r in 0..n {
        let (ar, az, an) = (acts.row(r, 0, cw), acts.row(r, gs, cw), acts.row(r, 2 * gs, cw));
        let (sr, sz, sn) = (s.row(r, 0, cw), s.row(r, cw, cw), s.row(r, 2 * cw, cw));
        let (hp, gh, yr) = (hprev.row(r, 0, cw), ghn.row(r, 0, cw), y.row(r, 0, cw));
        for j in 0..cw {
            let rg = sigmoid(ar[j] + sr[j]);
            let z = sigmoid(az[j] + sz[j]);
            let g = sn[j] + bhn[j];
            let nn = tanh(an[j] + rg * g);
            ar[j] = rg;
            az[j] = z;
            an[j] = nn;
            gh[j] = g;
            yr[j] = (T::ONE - z) * nn + z * hp[j];
        }
    }
}

/// GRU ("pytorch") backward: gradients of the input-side pre-activations (`dgx`) and of the
/// recurrent-side ones (`dgh`, where the n block is scaled by r).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub unsafe fn gru_bwd<T: Real>(n: usize, cw: usize, gs: usize, acts: Blk<T>, ghn: Blk<T>, hprev: Blk<T>, dh: Blk<T>, dgx: Blk<T>, dgh: Blk<T>) {
    for r in 0..n {
        let (ar, az, an) = (acts.row(r, 0, cw), acts.row(r, gs, cw), acts.row(r, 2 * gs, cw));
        let (xr, xz, xn) = (dgx.row(r, 0, cw), dgx.row(r, gs, cw), dgx.row(r, 2 * gs, cw));
        let (hr, hz, hn) = (dgh.row(r, 0, cw), dgh.row(r, gs, cw), dgh.row(r, 2 * gs, cw));
        let (gh, hp, d) = (ghn.row(r, 0, cw), hprev.row(r, 0, cw), dh.row(r, 0, cw));
        for j in 0..cw {
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
}

/// Textbook GRU, first half: r and z, and r * h for the n-gate product.
#[inline(always)]
pub unsafe fn gru_tb_fwd_rz<T: Real>(n: usize, cw: usize, gs: usize, acts: Blk<T>, s: Blk<T>, hprev: Blk<T>, rh: Blk<T>) {
    for r in 0..n {
        let (ar, az) = (acts.row(r, 0, cw), acts.row(r, gs, cw));
        let (sr, sz) = (s.row(r, 0, cw), s.row(r, cw, cw));
        let (hp, rhr) = (hprev.row(r, 0, cw), rh.row(r, 0, cw));
        for j in 0..cw {
            let rg = sigmoid(ar[j] + sr[j]);
            ar[j] = rg;
            az[j] = sigmoid(az[j] + sz[j]);
            rhr[j] = rg * hp[j];
        }
    }
}

/// Textbook GRU, second half: n = tanh(pre_n + W_hn (r h)), h' = (1 - z) n + z h.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub unsafe fn gru_tb_fwd_n<T: Real>(n: usize, cw: usize, gs: usize, acts: Blk<T>, s: Blk<T>, hprev: Blk<T>, y: Blk<T>) {
    for r in 0..n {
        let (az, an, sn) = (acts.row(r, gs, cw), acts.row(r, 2 * gs, cw), s.row(r, 0, cw));
        let (hp, yr) = (hprev.row(r, 0, cw), y.row(r, 0, cw));
        for j in 0..cw {
            let nn = tanh(an[j] + sn[j]);
            an[j] = nn;
            yr[j] = (T::ONE - az[j]) * nn + az[j] * hp[j];
        }
    }
}

/// Textbook GRU backward, first half: dz and dn pre-activations.
#[inline(always)]
pub unsafe fn gru_tb_bwd_zn<T: Real>(n: usize, cw: usize, gs: usize, acts: Blk<T>, hprev: Blk<T>, dh: Blk<T>, dg: Blk<T>) {
    for r in 0..n {
        let (az, an) = (acts.row(r, gs, cw), acts.row(r, 2 * gs, cw));
        let (dz, dn) = (dg.row(r, gs, cw), dg.row(r, 2 * gs, cw));
        let (hp, d) = (hprev.row(r, 0, cw), dh.row(r, 0, cw));
        for j in 0..cw {
            let (z, nn) = (az[j], an[j]);
            dn[j] = d[j] * (T::ONE - z) * (T::ONE - nn * nn);
            dz[j] = d[j] * (hp[j] - nn) * z * (T::ONE - z);
        }
    }
}

/// Textbook GRU backward, second half: dr from d(r h) (given in `drh`).
#[inline(always)]
pub unsafe fn gru_tb_bwd_r<T: Real>(n: usize, cw: usize, acts: Blk<T>, hprev: Blk<T>, drh: Blk<T>, dg: Blk<T>) {
    for r in 0..n {
        let (ar, dr) = (acts.row(r, 0, cw), dg.row(r, 0, cw));
        let (hp, d) = (hprev.row(r, 0, cw), drh.row(r, 0, cw));
        for j in 0..cw {
            dr[j] = d[j] * hp[j] * ar[j] * (T::ONE - ar[j]);
        }
    }
}
