//! Finite-difference checks of the recurrent backward passes, run by `cargo test` without
//! Python: float64 central differences of a random scalar loss against every gradient the
//! backward returns (x, h0, c0 and every weight), for each cell, two layers, both directions,
//! unequal lengths.

use super::recurrent::{backward, forward, CellKind, Options, Spec, State, Weights};

fn rand_vec(n: usize, seed: u64) -> Vec<f64> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            ((s >> 11) as f64 / (1u64 << 53) as f64 - 0.5) * 0.8
        })
        .collect()
}

struct Case {
    spec: Spec,
    batch: usize,
    steps: usize,
    lengths: Vec<i64>,
    /// x, h0, c0, then per layer-direction w_ih, w_hh, b_ih, b_hh, w_hr.
    vars: Vec<Vec<f64>>,
    gy: Vec<f64>,
    gh: Vec<f64>,
    gc: Vec<f64>,
}

impl Case {
    fn new(cell: CellKind, proj: usize) -> Case {
        let (d, h, layers, batch, steps) = (3, 5, 2, 3, 4);
        let spec = Spec { cell, input_size: d, hidden: h, proj, layers, bidir: true };
        let (hout, gh, ld) = (spec.hout(), spec.gh(), layers * 2);
        let mut vars = vec![rand_vec(batch * steps * d, 1), rand_vec(ld * batch * hout, 2), rand_vec(ld * batch * h, 3)];
        for i in 0..ld {
            let din = spec.din(i / 2);
            let s = 10 + 10 * i as u64;
            vars.push(rand_vec(gh * din, s));
            vars.push(rand_vec(gh * hout, s + 1));
            vars.push(rand_vec(gh, s + 2));
            vars.push(rand_vec(gh, s + 3));
            vars.push(if proj > 0 { rand_vec(proj * h, s + 4) } else { Vec::new() });
        }
        let width = 2 * hout;
        Case {
            spec,
            batch,
            steps,
            lengths: vec![4, 2, 3],
            vars,
            gy: rand_vec(batch * steps * width, 97),
            gh: rand_vec(ld * batch * hout, 98),
            gc: rand_vec(ld * batch * h, 99),
        }
    }

    fn lstm(&self) -> bool {
        self.spec.cell == CellKind::Lstm
    }

    fn weights(&self) -> Vec<Weights<'_, f64>> {
        self.vars[3..].chunks(5).map(|w| Weights { w_ih: &w[0], w_hh: &w[1], b_ih: &w[2], b_hh: &w[3], w_hr: &w[4] }).collect()
    }

    fn state(&self) -> State<'_, f64> {
        State {
            x: &self.vars[0],
            batch: self.batch,
            steps: self.steps,
            h0: Some(&self.vars[1]),
            c0: self.lstm().then_some(&self.vars[2][..]),
            lengths: Some(&self.lengths),
        }
    }

    fn opts(&self, keep_cache: bool) -> Options {
        Options { batch_first: true, dropout: 0.0, seed: 0, keep_cache, num_threads: Some(1) }
    }

    /// sum(y * gy) over real tokens + sum(h_n * gh) (+ sum(c_n * gc)).
    fn loss(&self) -> f64 {
        let f = forward(&self.spec, &self.weights(), &self.state(), &self.opts(false)).unwrap();
        let width = f.y.len() / (self.batch * self.steps);
        let mut l = 0.0;
        for b in 0..self.batch {
            for t in 0..self.lengths[b] as usize {
                let r = (b * self.steps + t) * width;
                l += (0..width).map(|j| f.y[r + j] * self.gy[r + j]).sum::<f64>();
            }
        }
        l += f.h_n.iter().zip(&self.gh).map(|(a, b)| a * b).sum::<f64>();
        l + f.c_n.iter().zip(&self.gc).map(|(a, b)| a * b).sum::<f64>()
    }

    /// The analytic gradients, in the order of `vars`.
    fn grads(&self) -> Vec<Vec<f64>> {
        let f = forward(&self.spec, &self.weights(), &self.state(), &self.opts(true)).unwrap();
        let gc = self.lstm().then_some(&self.gc[..]);
        let g = backward(f.cache.as_ref().unwrap(), &self.weights(), Some(&self.gy), Some(&self.gh), gc, Some(1)).unwrap();
        let mut out = vec![g.dx, g.dh0, if self.lstm() { g.dc0 } else { vec![0.0; self.vars[2].len()] }];
        for w in g.dw {
            out.extend([w.w_ih, w.w_hh, w.b_ih, w.b_hh, w.w_hr]);
        }
        out
    }
}

fn check(cell: CellKind, proj: usize) {
    let mut case = Case::new(cell, proj);
    let grads = case.grads();
    let eps = 1e-6;
    assert_eq!(grads.len(), case.vars.len(), "{cell:?}: number of gradients");
    for (v, gv) in grads.iter().enumerate() {
        assert_eq!(gv.len(), case.vars[v].len(), "{cell:?} variable {v}: gradient length");
        for (i, &g) in gv.iter().enumerate() {
            let x0 = case.vars[v][i];
            case.vars[v][i] = x0 + eps;
            let lp = case.loss();
            case.vars[v][i] = x0 - eps;
            let lm = case.loss();
            case.vars[v][i] = x0;
            let fd = (lp - lm) / (2.0 * eps);
            assert!(
                (fd - g).abs() <= 1e-7 + 1e-6 * fd.abs(),
                "{cell:?} proj={proj}: variable {v}[{i}]: finite difference {fd}, backward {g}"
            );
        }
    }
}

#[test]
fn recurrent_backward_matches_finite_differences() {
    for cell in [CellKind::RnnTanh, CellKind::RnnRelu, CellKind::Lstm, CellKind::Gru, CellKind::GruTextbook] {
        check(cell, 0);
    }
    check(CellKind::Lstm, 2);
}
