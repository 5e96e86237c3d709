//! A native recurrent decoder scorer: embedding -> LSTM or GRU layers -> output projection ->
//! log-softmax, stepping every live hypothesis at once with no Python in the loop.
//!
//! Weights use PyTorch's layouts (`nn.Embedding.weight` (V_in, E), `nn.LSTM` / `nn.GRU` layer
//! weights, `nn.Linear.weight` (V, H)). An LSTM layer's two products are one: the input and the
//! previous h side by side, [x | h] (n x (D + H)), times the packed [W_ih | W_hh]^T. A GRU layer
//! keeps them apart (its reset gate multiplies W_hn h + b_hn). Then the cell kernel of
//! `nn::cells`. States are re-indexed by the parents at every step. float32 only. Per step and
//! hypothesis: 2 (G H (D + H) per layer + H V) flops (G = 4 LSTM, 3 GRU).
//!
//! Optional global attention (Luong et al. 2015, without input feeding) over each item's
//! encoder outputs ("memory", S x He): score_j = h . (W_a m_j) ("general"; W_a is (H, He), as
//! `nn.Linear(He, H, bias=False).weight`) or h . m_j ("dot"), softmax over the item's first
//! `len` positions, context c = sum_j a_j m_j, then h~ = tanh(W_c [c; h] + b_c) (W_c is
//! (Hc, He + H)) feeds the output projection (V, Hc). W_a m_j is computed once per search.

use crate::error::{Error, Result};
use crate::nn::cells::{self, Blk};
use crate::nn::gemm::{for_each, SyncPtr};
use crate::nn::pack::gather_rows;
use crate::nn::packed::ChunkedB;
use crate::nn::Real;

use super::Scorer;

enum Layer {
    Lstm {
        din: usize,
        /// [W_ih | W_hh]^T packed (K = din + H, N = 4H).
        w: ChunkedB<f32>,
        bias: Vec<f32>,
    },
    Gru {
        din: usize,
        wi: ChunkedB<f32>,
        wh: ChunkedB<f32>,
        /// b_ih + b_hh for r and z, b_in for n.
        bias: Vec<f32>,
        bhn: Vec<f32>,
    },
}

impl Layer {
    fn din(&self) -> usize {
        match self {
            Layer::Lstm { din, .. } | Layer::Gru { din, .. } => *din,
        }
    }
}

/// Pre-packed decoder weights (built once, shared by every search).
pub struct DecoderWeights {
    emb: Vec<f32>,
    vin: usize,
    e: usize,
    h: usize,
    layers: Vec<Layer>,
    out: ChunkedB<f32>,
    out_b: Vec<f32>,
    att: Option<Attn>,
    v: usize,
}

/// Attention weights (see the module header).
struct Attn {
    /// W_a (H x He) for "general"; None for "dot" (He = H).
    wa: Option<Vec<f32>>,
    he: usize,
    /// W_c^T packed (K = He + H, N = Hc), and b_c.
    wc: ChunkedB<f32>,
    bc: Vec<f32>,
    hc: usize,
}

/// Attention arrays from the caller: `wa` empty for "dot".
pub struct AttnArrays<'a> {
    pub wa: &'a [f32],
    pub he: usize,
    pub wc: &'a [f32],
    pub hc: usize,
    pub bc: &'a [f32],
}

/// One LSTM layer's arrays (PyTorch layout).
pub struct LayerArrays<'a> {
    pub w_ih: &'a [f32],
    pub w_hh: &'a [f32],
    pub b_ih: &'a [f32],
    pub b_hh: &'a [f32],
}

impl DecoderWeights {
    /// `emb` (vin x e), layers of hidden size `h`, `out_w` (v x h), `out_b` (v) or empty.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        gru: bool,
        emb: &[f32],
        vin: usize,
        e: usize,
        h: usize,
        layers: &[LayerArrays],
        out_w: &[f32],
        v: usize,
        out_b: &[f32],
        att: Option<AttnArrays>,
    ) -> Result<Self> {
        let shape = |what: &str, got: usize, want: usize| {
            if got != want {
                Err(Error::Shape(format!("{what} has {got} elements, expected {want}")))
            } else {
                Ok(())
            }
        };
        if vin == 0 || e == 0 || h == 0 || v == 0 || layers.is_empty() {
            return Err(Error::Value("the decoder needs a non-empty embedding, at least one layer and an output vocabulary".into()));
        }
        shape("embedding", emb.len(), vin * e)?;
        let att = match att {
            None => None,
            Some(a) => {
                if a.wa.is_empty() && a.he != h {
                    return Err(Error::Shape(format!("dot attention needs memory of the hidden size {h}, not {}", a.he)));
                }
                if !a.wa.is_empty() {
                    shape("attention weight_a", a.wa.len(), h * a.he)?;
                }
                shape("attention weight_c", a.wc.len(), a.hc * (a.he + h))?;
                if !a.bc.is_empty() {
                    shape("attention bias_c", a.bc.len(), a.hc)?;
                }
                let k = a.he + h;
                // SAFETY: wc is (hc x k) row-major, read as B = wc^T.
                let wc = unsafe { ChunkedB::new(k, a.hc, a.wc.as_ptr(), 1, k, 128) };
                let bc = if a.bc.is_empty() { vec![0.0; a.hc] } else { a.bc.to_vec() };
                Some(Attn { wa: (!a.wa.is_empty()).then(|| a.wa.to_vec()), he: a.he, wc, bc, hc: a.hc })
            }
        };
        let ho = att.as_ref().map_or(h, |a| a.hc);
        shape("output weight", out_w.len(), v * ho)?;
        if !out_b.is_empty() {
            shape("output bias", out_b.len(), v)?;
        }
        let g = if gru { 3 } else { 4 };
        let mut ls = Vec::new();
        for (l, a) in layers.iter().enumerate() {
            let din = if l == 0 { e } else { h };
            shape(&format!("weight_ih_l{l}"), a.w_ih.len(), g * h * din)?;
            shape(&format!("weight_hh_l{l}"), a.w_hh.len(), g * h * h)?;
            shape(&format!("bias_ih_l{l}"), a.b_ih.len(), g * h)?;
            shape(&format!("bias_hh_l{l}"), a.b_hh.len(), g * h)?;
            if gru {
                let mut bias: Vec<f32> = a.b_ih.iter().zip(a.b_hh).map(|(x, y)| x + y).collect();
                bias[2 * h..].copy_from_slice(&a.b_ih[2 * h..]);
                // SAFETY: (3h x din) and (3h x h) row-major, read as their transposes.
                let (wi, wh) = unsafe {
                    (ChunkedB::new(din, 3 * h, a.w_ih.as_ptr(), 1, din, 256), ChunkedB::new(h, 3 * h, a.w_hh.as_ptr(), 1, h, 256))
                };
                ls.push(Layer::Gru { din, wi, wh, bias, bhn: a.b_hh[2 * h..].to_vec() });
                continue;
            }
            // [W_ih | W_hh] row by row, then packed as B = its transpose.
            let k = din + h;
            let mut cat = Vec::with_capacity(4 * h * k);
            for r in 0..4 * h {
                cat.extend_from_slice(&a.w_ih[r * din..(r + 1) * din]);
                cat.extend_from_slice(&a.w_hh[r * h..(r + 1) * h]);
            }
            // SAFETY: `cat` is (4h x k) row-major, read as B (k x 4h) with strides (1, k).
            let w = unsafe { ChunkedB::new(k, 4 * h, cat.as_ptr(), 1, k, 256) };
            ls.push(Layer::Lstm { din, w, bias: a.b_ih.iter().zip(a.b_hh).map(|(x, y)| x + y).collect() });
        }
        // SAFETY: out_w is (v x h) row-major, read as B (h x v).
        let out = unsafe { ChunkedB::new(ho, v, out_w.as_ptr(), 1, ho, 128) };
        let out_b = if out_b.is_empty() { vec![0.0; v] } else { out_b.to_vec() };
        Ok(DecoderWeights { emb: emb.to_vec(), vin, e, h, layers: ls, out, out_b, v, att })
    }

    pub fn vocab_size(&self) -> usize {
        self.v
    }
    pub fn input_vocab(&self) -> usize {
        self.vin
    }
    pub fn hidden(&self) -> usize {
        self.h
    }
    pub fn num_layers(&self) -> usize {
        self.layers.len()
    }
}

/// The decoder's state over a search: h and c per layer for every live hypothesis.
pub struct LstmDecoder<'w> {
    w: &'w DecoderWeights,
    /// Initial (h, c) per layer for every batch item: (layers, batch, H) each; empty = zeros.
    h0: Vec<f32>,
    c0: Vec<f32>,
    batch: usize,
    h: Vec<Vec<f32>>,
    c: Vec<Vec<f32>>,
    started: bool,
    xh: Vec<f32>,
    acts: Vec<f32>,
    prod: Vec<f32>,
    logits: Vec<f32>,
    /// Attention memory (batch x s x He), its projection W_a m (batch x s x H), lengths, and
    /// the batch item of every live hypothesis.
    mem: Vec<f32>,
    mem_proj: Vec<f32>,
    s: usize,
    mem_len: Vec<usize>,
    items: Vec<usize>,
}

impl<'w> LstmDecoder<'w> {
    /// `h0`, `c0`: (layers, batch, H) (e.g. an encoder's final states), or empty for zeros.
    /// `mem` (batch x s x He) and `mem_len` (batch, each in 1..=s; empty = all s) are the
    /// encoder outputs attended to (required when the weights have attention).
    pub fn new(w: &'w DecoderWeights, batch: usize, h0: &[f32], c0: &[f32], mem: &[f32], s: usize, mem_len: &[i64]) -> Result<Self> {
        let (mut mem_proj, mut lens) = (Vec::new(), Vec::new());
        if let Some(a) = &w.att {
            if s == 0 || mem.len() != batch * s * a.he {
                return Err(Error::Shape(format!(
                    "memory has {} elements, expected (batch={batch}, source length >= 1, {}) for the attention",
                    mem.len(),
                    a.he
                )));
            }
            lens = if mem_len.is_empty() { vec![s; batch] } else { Vec::with_capacity(batch) };
            if !mem_len.is_empty() {
                if mem_len.len() != batch {
                    return Err(Error::Shape(format!("memory_lengths has {} entries, expected {batch}", mem_len.len())));
                }
                for (i, &l) in mem_len.iter().enumerate() {
                    if l < 1 || l as usize > s {
                        return Err(Error::Value(format!("memory_lengths[{i}] = {l} is outside 1..={s}")));
                    }
                    lens.push(l as usize);
                }
            }
            mem_proj = match &a.wa {
                None => mem.to_vec(),
                Some(wa) => {
                    let mut p = vec![0.0f32; batch * s * w.h];
                    // SAFETY: (batch s x He) times W_a^T (He x H) into (batch s x H).
                    unsafe {
                        crate::nn::gemm::gemm(batch * s, a.he, w.h, mem.as_ptr(), a.he, 1, wa.as_ptr(), 1, a.he, 0.0, p.as_mut_ptr(), w.h)
                    };
                    p
                }
            };
        } else if !mem.is_empty() {
            return Err(Error::Value("memory was given but the decoder has no attention".into()));
        }
        let want = w.layers.len() * batch * w.h;
        for (what, a) in [("h0", h0), ("c0", c0)] {
            if !a.is_empty() && a.len() != want {
                return Err(Error::Shape(format!(
                    "{what} has {} elements, expected (layers={}, batch={batch}, hidden={})",
                    a.len(),
                    w.layers.len(),
                    w.h
                )));
            }
        }
        Ok(LstmDecoder {
            w,
            h0: h0.to_vec(),
            c0: c0.to_vec(),
            batch,
            h: Vec::new(),
            c: Vec::new(),
            started: false,
            xh: Vec::new(),
            acts: Vec::new(),
            prod: Vec::new(),
            logits: Vec::new(),
            mem: mem.to_vec(),
            mem_proj,
            s,
            mem_len: lens,
            items: Vec::new(),
        })
    }
}

impl LstmDecoder<'_> {
    /// h~ = tanh(W_c [context; h] + b_c) for the n live hypotheses (rows of `h`).
    fn attend(&mut self, a: &Attn, h: &[f32], n: usize) -> Vec<f32> {
        let (hd, he, s) = (self.w.h, a.he, self.s);
        let k = he + hd;
        let mut cat = vec![0.0f32; n * k];
        let mut sc = vec![0.0f32; s];
        for r in 0..n {
            let b = self.items[r];
            let len = self.mem_len[b];
            let hr = &h[r * hd..(r + 1) * hd];
            let mut mx = f32::NEG_INFINITY;
            for (j, v) in sc.iter_mut().enumerate().take(len) {
                *v = dot(hr, &self.mem_proj[(b * s + j) * hd..(b * s + j + 1) * hd]);
                mx = mx.max(*v);
            }
            let mut z = 0.0f32;
            for v in sc.iter_mut().take(len) {
                *v = (*v - mx).exp();
                z += *v;
            }
            let ctx = &mut cat[r * k..r * k + he];
            for (j, &e) in sc.iter().enumerate().take(len) {
                let wgt = e / z;
                for (c, m) in ctx.iter_mut().zip(&self.mem[(b * s + j) * he..(b * s + j + 1) * he]) {
                    *c += wgt * *m;
                }
            }
            cat[r * k + he..(r + 1) * k].copy_from_slice(hr);
        }
        let mut out = vec![0.0f32; n * a.hc];
        // SAFETY: cat is (n x k), out (n x hc).
        unsafe { a.wc.mul(n, cat.as_ptr(), k, out.as_mut_ptr(), a.hc, n * k * a.hc >= 1 << 17) };
        for row in out.chunks_exact_mut(a.hc) {
            for (v, b) in row.iter_mut().zip(&a.bc) {
                *v = crate::nn::real::tanh(*v + *b);
            }
        }
        out
    }
}

/// Dot product with eight partial sums, combined in a fixed order.
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    let n = a.len() - a.len() % 8;
    for (x, y) in a[..n].chunks_exact(8).zip(b[..n].chunks_exact(8)) {
        for l in 0..8 {
            acc[l] += x[l] * y[l];
        }
    }
    let mut s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    for (x, y) in a[n..].iter().zip(&b[n..]) {
        s += x * y;
    }
    s
}

impl Scorer for LstmDecoder<'_> {
    fn vocab_size(&self) -> usize {
        self.w.v
    }

    fn score(&mut self, tokens: &[u32], parents: &[usize], out: &mut [f32]) -> Result<()> {
        let (w, n, hd) = (self.w, tokens.len(), self.w.h);
        let nl = w.layers.len();
        if let Some(&t) = tokens.iter().find(|&&t| t as usize >= w.vin) {
            return Err(Error::Value(format!("token {t} is outside the decoder's input vocabulary of {}", w.vin)));
        }
        // Previous states of each live hypothesis.
        let (mut hs, mut cs): (Vec<Vec<f32>>, Vec<Vec<f32>>) = if !self.started {
            if let Some(&p) = parents.iter().find(|&&p| p >= self.batch) {
                return Err(Error::Value(format!("batch item {p} is outside the decoder's batch of {}", self.batch)));
            }
            (0..nl)
                .map(|l| {
                    let pick = |src: &[f32]| {
                        if src.is_empty() {
                            vec![0.0; n * hd]
                        } else {
                            gather_rows(&src[l * self.batch * hd..(l + 1) * self.batch * hd], parents.iter().copied(), hd)
                        }
                    };
                    (pick(&self.h0), pick(&self.c0))
                })
                .unzip()
        } else {
            let live = self.h.first().map_or(0, |h| h.len() / hd);
            if let Some(&p) = parents.iter().find(|&&p| p >= live) {
                return Err(Error::Value(format!("parent {p} is not one of the {live} live hypotheses")));
            }
            (0..nl)
                .map(|l| (gather_rows(&self.h[l], parents.iter().copied(), hd), gather_rows(&self.c[l], parents.iter().copied(), hd)))
                .unzip()
        };
        self.items = if !self.started { parents.to_vec() } else { parents.iter().map(|&p| self.items[p]).collect() };
        self.started = true;
        // Embeddings of the last tokens.
        let mut x = gather_rows(&w.emb, tokens.iter().map(|&t| t as usize), w.e);
        for (l, layer) in w.layers.iter().enumerate() {
            let din = layer.din();
            let mut h_new = vec![0.0f32; n * hd];
            match layer {
                Layer::Lstm { w: wl, bias, .. } => {
                    let k = din + hd;
                    self.xh.clear();
                    for r in 0..n {
                        self.xh.extend_from_slice(&x[r * din..(r + 1) * din]);
                        self.xh.extend_from_slice(&hs[l][r * hd..(r + 1) * hd]);
                    }
                    self.prod.resize(n * 4 * hd, 0.0);
                    self.acts.clear();
                    for _ in 0..n {
                        self.acts.extend_from_slice(bias);
                    }
                    let mut c_new = vec![0.0f32; n * hd];
                    // SAFETY: buffers sized above; the cell kernel covers rows 0..n and all units.
                    unsafe {
                        wl.mul(n, self.xh.as_ptr(), k, self.prod.as_mut_ptr(), 4 * hd, n * k * 4 * hd >= 1 << 17);
                        cells::lstm_fwd(
                            n,
                            hd,
                            hd,
                            Blk::new(self.acts.as_mut_ptr(), 4 * hd),
                            Blk::new(self.prod.as_mut_ptr(), 4 * hd),
                            Blk::new(cs[l].as_mut_ptr(), hd),
                            Blk::new(c_new.as_mut_ptr(), hd),
                            Blk::new(h_new.as_mut_ptr(), hd),
                        );
                    }
                    cs[l] = c_new;
                }
                Layer::Gru { wi, wh, bias, bhn, .. } => {
                    self.acts.resize(n * 3 * hd, 0.0);
                    self.prod.resize(n * 3 * hd, 0.0);
                    let mut ghn = vec![0.0f32; n * hd];
                    // SAFETY: as above; the GRU kernel reads the previous h of rows 0..n.
                    unsafe {
                        let par = n * (din + hd) * 3 * hd >= 1 << 17;
                        wi.mul(n, x.as_ptr(), din, self.acts.as_mut_ptr(), 3 * hd, par);
                        wh.mul(n, hs[l].as_ptr(), hd, self.prod.as_mut_ptr(), 3 * hd, par);
                        for row in self.acts.chunks_exact_mut(3 * hd) {
                            for (a, b) in row.iter_mut().zip(bias) {
                                *a += *b;
                            }
                        }
                        cells::gru_fwd(
                            n,
                            hd,
                            hd,
                            Blk::new(self.acts.as_mut_ptr(), 3 * hd),
                            Blk::new(self.prod.as_mut_ptr(), 3 * hd),
                            bhn,
                            Blk::new(hs[l].as_mut_ptr(), hd),
                            Blk::new(ghn.as_mut_ptr(), hd),
                            Blk::new(h_new.as_mut_ptr(), hd),
                        );
                    }
                }
            }
            hs[l] = h_new;
            x = hs[l].clone();
        }
        // Attention, then the output layer and log-softmax.
        let mut ko = hd;
        if let Some(a) = &w.att {
            x = self.attend(a, &x, n);
            ko = a.hc;
        }
        self.logits.resize(n * w.v, 0.0);
        unsafe { w.out.mul(n, x.as_ptr(), ko, self.logits.as_mut_ptr(), w.v, n * ko * w.v >= 1 << 17) };
        let (po, pl) = (SyncPtr(out.as_mut_ptr()), SyncPtr(self.logits.as_mut_ptr()));
        let v = w.v;
        let bias = &w.out_b;
        for_each(n, n * v >= 1 << 15, |r| {
            // SAFETY: row r of two (n x v) buffers.
            let (lg, o) = unsafe { (std::slice::from_raw_parts_mut(pl.at(r * v), v), std::slice::from_raw_parts_mut(po.at(r * v), v)) };
            log_softmax(lg, bias, o);
        });
        self.h = hs;
        self.c = cs;
        Ok(())
    }
}

crate::nn::simd::simd_kernels! {
/// o = log_softmax(x + b) (x is overwritten with x + b).
fn log_softmax_k<T>(x: &mut [T], b: &[T], o: &mut [T]) {
    let n = x.len();
    let (b, o) = (&b[..n], &mut o[..n]);
    for j in 0..n {
        x[j] += b[j];
    }
    let mut m8 = [T::from_f64(f64::NEG_INFINITY); 8];
    let (body, tail) = x.split_at(n - n % 8);
    for ch in body.chunks_exact(8) {
        for l in 0..8 {
            m8[l] = m8[l].max_(ch[l]);
        }
    }
    let mut mx = m8.iter().fold(T::from_f64(f64::NEG_INFINITY), |a, &v| a.max_(v));
    for &v in tail {
        mx = mx.max_(v);
    }
    // Eight partial sums so the loop vectorises; combined in a fixed order.
    let mut acc = [T::ZERO; 8];
    let (body, tail) = x.split_at(n - n % 8);
    for ch in body.chunks_exact(8) {
        for l in 0..8 {
            acc[l] += (ch[l] - mx).exp_();
        }
    }
    let mut s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    for &v in tail {
        s += (v - mx).exp_();
    }
    let lse = mx + T::from_f64(s.to_f64().ln());
    for j in 0..n {
        o[j] = x[j] - lse;
    }
}
}

fn log_softmax(x: &mut [f32], b: &[f32], o: &mut [f32]) {
    // SAFETY: slices of equal length.
    unsafe { log_softmax_k(x, b, o) }
}
