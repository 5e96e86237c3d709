//! Rust-only timing of scaled dot-product attention (for profiling without Python).
//! `cargo run --release --example attn_bench -- [B H T d threads causal dropout]`; prints the
//! best forward and forward + backward times in ms and their GFLOP/s.
use seqfast::nn::attention::{backward, forward, GradsOut, Inputs, Masks, Options, Saved, View4, ViewMut4};
use std::time::Instant;

/// The fastest run: on a shared machine noise only ever adds time.
fn best(v: Vec<f64>) -> f64 {
    v.into_iter().fold(f64::INFINITY, f64::min)
}

fn main() {
    let a: Vec<String> = std::env::args().collect();
    let num = |i: usize, d: usize| a.get(i).and_then(|s| s.parse().ok()).unwrap_or(d);
    let (b, h, t, d, threads, causal) = (num(1, 4), num(2, 8), num(3, 1024), num(4, 64), num(5, 1), num(6, 0) == 1);
    let dropout: f64 = a.get(7).and_then(|s| s.parse().ok()).unwrap_or(0.0);
    let n = b * h * t * d;
    let fill = |s: usize| (0..n).map(|i| (((i * 7919 + s * 104729) % 1000) as f32 / 1000.0 - 0.5) * 2.0).collect::<Vec<f32>>();
    let (q, k, v, dout) = (fill(1), fill(2), fill(3), fill(4));
    let shape = [b, h, t, d];
    fn view(a: &[f32], shape: [usize; 4]) -> View4<'_, f32> {
        View4::contiguous("input", a, shape).unwrap()
    }
    let x = Inputs { q: view(&q, shape), k: view(&k, shape), v: view(&v, shape) };
    let masks = Masks::default();
    let opts = Options { scale: 0.125, causal, dropout, seed: 1, num_threads: Some(threads) };
    let mut out = vec![0f32; n];
    let mut lse = vec![0f32; b * h * t];
    let (mut tf, mut tb) = (Vec::new(), Vec::new());
    for _ in 0..9 {
        let t0 = Instant::now();
        forward(&x, &masks, &opts, ViewMut4::contiguous("out", &mut out, shape).unwrap(), &mut lse).unwrap();
        tf.push(t0.elapsed().as_secs_f64() * 1e3);
        let (mut dq, mut dk, mut dv) = (vec![0f32; n], vec![0f32; n], vec![0f32; n]);
        let sv = Saved { out: view(&out, shape), lse: &lse, dout: view(&dout, shape) };
        let t1 = Instant::now();
        let grad = |a| ViewMut4::contiguous("grad", a, shape).unwrap();
        let g = GradsOut { dq: grad(&mut dq), dk: grad(&mut dk), dv: grad(&mut dv) };
        backward(&x, &masks, &opts, &sv, g).unwrap();
        tb.push(t1.elapsed().as_secs_f64() * 1e3);
    }
    let (f, bw) = (best(tf), best(tb));
    let flop = 2.0 * (b * h * t * t * d) as f64 * if causal { 0.5 } else { 1.0 };
    println!(
        "fwd {f:.1} ms ({:.1} GFLOP/s)  bwd {bw:.1} ms ({:.1} GFLOP/s)  fwd+bwd {:.1} ms",
        2.0 * flop / f / 1e6,
        5.0 * flop / bw / 1e6,
        f + bw
    );
}
