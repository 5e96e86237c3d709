//! Rust-only timing of one recurrent forward + backward (for profiling without Python).
//! `cargo run --release --example rnn_bench -- lstm 32 100 512 512 [threads]`
use seqfast::nn::recurrent::{backward, forward, CellKind, Options, Spec, State, Weights};
use std::time::Instant;

fn main() {
    let a: Vec<String> = std::env::args().collect();
    let cell = match a.get(1).map(String::as_str).unwrap_or("lstm") {
        "gru" => CellKind::Gru,
        "rnn" => CellKind::RnnTanh,
        "gru_textbook" => CellKind::GruTextbook,
        _ => CellKind::Lstm,
    };
    let num = |i: usize, d: usize| a.get(i).and_then(|s| s.parse().ok()).unwrap_or(d);
    let (b, t, d, h, threads) = (num(2, 32), num(3, 100), num(4, 512), num(5, 512), num(6, 1));
    let spec = Spec { cell, input_size: d, hidden: h, proj: 0, layers: 1, bidir: false };
    let gh = spec.gh();
    let fill = |n: usize, s: f32| (0..n).map(|i| ((i * 7919 % 1000) as f32 / 1000.0 - 0.5) * s).collect::<Vec<f32>>();
    let (wih, whh, bih, bhh) = (fill(gh * d, 0.08), fill(gh * h, 0.08), fill(gh, 0.1), fill(gh, 0.1));
    let w = [Weights { w_ih: &wih, w_hh: &whh, b_ih: &bih, b_hh: &bhh, w_hr: &[] }];
    let x = fill(b * t * d, 2.0);
    let dy = fill(b * t * h, 1.0);
    let st = State { x: &x, batch: b, steps: t, h0: None, c0: None, lengths: None };
    let fwd_only = std::env::var("FWD_ONLY").is_ok();
    let opts = Options { batch_first: true, dropout: 0.0, seed: 0, keep_cache: !fwd_only, num_threads: Some(threads) };
    if fwd_only {
        let mut ts = Vec::new();
        for _ in 0..200 {
            let t0 = Instant::now();
            let f = forward(&spec, &w, &st, &opts).unwrap();
            ts.push(t0.elapsed().as_secs_f64());
            std::hint::black_box(f.y);
        }
        ts.sort_by(|a, b| a.total_cmp(b));
        println!("forward only over 200 runs: best {:.2} ms, median {:.2} ms", ts[0] * 1e3, ts[100] * 1e3);
        return;
    }
    for rep in 0..4 {
        let t0 = Instant::now();
        let f = forward(&spec, &w, &st, &opts).unwrap();
        let t1 = Instant::now();
        let g = backward(f.cache.as_ref().unwrap(), &w, Some(&dy), None, None, Some(threads)).unwrap();
        let t2 = Instant::now();
        let flops = 2.0 * (b * t * gh * (d + h)) as f64;
        println!(
            "rep {rep}: forward {:.1} ms ({:.1} GFLOP/s), backward {:.1} ms ({:.1} GFLOP/s) [{}]",
            (t1 - t0).as_secs_f64() * 1e3,
            flops / (t1 - t0).as_secs_f64() / 1e9,
            (t2 - t1).as_secs_f64() * 1e3,
            2.0 * flops / (t2 - t1).as_secs_f64() / 1e9,
            g.dx.len()
        );
    }
}
