//! The packed product of `nn` against the machine's FMA peak (Rust only, no Python).
//!
//! `cargo run --release --example nn_gemm -- [reps]` prints, for each SIMD level the CPU has
//! (`SEQFAST_SIMD` is ignored: every level is set in turn), the register-only FMA peak of one
//! core and the GFLOP/s of the products the recurrent layers run, with their fraction of that
//! level's peak, next to `matrixmultiply` on the same shapes. Every product is first checked against
//! matrixmultiply's (max error <= 1e-4 of the largest value). Best of `reps` (default 7) timings.
use std::time::Instant;

use seqfast::nn::gemm;
use seqfast::nn::kernels::peak::fma_flops;
use seqfast::nn::kernels::simd::{best, set_level, Level};
use seqfast::nn::packed::{ChunkedB, Kern, PackedB};

fn fill<T: Kern>(n: usize, seed: usize) -> Vec<T> {
    (0..n).map(|i| T::from_f64((((i + seed) * 7919 % 1000) as f64 / 1000.0 - 0.5) * 0.1)).collect()
}

/// CPU time of the calling thread, in seconds: on a shared machine a timing that excludes
/// the time the thread waited for a core (it still includes a busy SMT sibling's share).
fn thread_cpu() -> f64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes one timespec to the pointer it is given.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

/// Best of `reps` runs of `f`: (wall seconds, thread-CPU seconds).
fn best_of(reps: usize, mut f: impl FnMut()) -> (f64, f64) {
    f();
    let (mut wall, mut cpu) = (f64::INFINITY, f64::INFINITY);
    for _ in 0..reps {
        let (t0, c0) = (Instant::now(), thread_cpu());
        f();
        wall = wall.min(t0.elapsed().as_secs_f64());
        cpu = cpu.min(thread_cpu() - c0);
    }
    (wall, cpu)
}

fn close<T: Kern>(a: &[T], b: &[T], what: &str) {
    let scale = b.iter().map(|x| x.to_f64().abs()).fold(0.0, f64::max).max(1e-30);
    let err = a.iter().zip(b).map(|(x, y)| (x.to_f64() - y.to_f64()).abs()).fold(0.0, f64::max);
    assert!(err <= 1e-4 * scale, "{what}: max error {err} against scale {scale}");
}

/// (name, m, k, n, rows-of-A stride form): C (m x n) = A (m x k) B (k x n).
fn cases<T: Kern>(lv: Level, peak: f64, reps: usize) {
    // 1. one recurrent step: 32 rows of h (512) times W_hh^T regrouped in 64-unit blocks.
    // 2. the input projection over all tokens: 3200 x 512 times W_ih^T (512 x 2048).
    // 3. a weight gradient: dW (2048 x 3200) = dG^T X, B = X (3200 x 512).
    let shapes: [(&str, usize, usize, usize); 3] = [
        ("recurrent step 32x512 . 512x2048", 32, 512, 2048),
        ("all tokens 3200x512 . 512x2048", 3200, 512, 2048),
        ("dW 2048x3200 (dG^T in place) . 3200x512", 2048, 3200, 512),
    ];
    for (i, &(name, m, k, n)) in shapes.iter().enumerate() {
        let a: Vec<T> = fill(m * k, 1);
        let b: Vec<T> = fill(k * n, 2);
        let flops = 2.0 * (m * k * n) as f64;
        let mut c = vec![T::ZERO; m * n];
        let mut want = vec![T::ZERO; m * n];
        // SAFETY: a (m x k), b (k x n) and c (m x n) are row-major buffers of those shapes.
        unsafe { gemm::gemm(m, k, n, a.as_ptr(), k, 1, b.as_ptr(), n, 1, T::ZERO, want.as_mut_ptr(), n) };
        // SAFETY (this and every product below): the buffers have the shapes passed.
        let t_mm = best_of(reps, || unsafe { gemm::gemm(m, k, n, a.as_ptr(), k, 1, b.as_ptr(), n, 1, T::ZERO, c.as_mut_ptr(), n) });
        let t = if i == 0 {
            // Recurrent weights are packed once per call and reused by every step.
            let w: Vec<T> = (0..n * k).map(|j| b[(j % k) * n + j / k]).collect(); // W (n x k) = B^T
            let rec = ChunkedB::regrouped(&w, n / 4, k, 4, 64);
            let mut s = vec![T::ZERO; m * n];
            // Regrouped columns: block ch holds gate g unit j at column g*64 + j.
            unsafe { rec.mul(m, a.as_ptr(), k, s.as_mut_ptr(), n, false) };
            let h = n / 4;
            for r in 0..m {
                for ch in 0..h / 64 {
                    for g in 0..4 {
                        for j in 0..64 {
                            c[r * n + g * h + ch * 64 + j] = s[r * n + ch * 256 + g * 64 + j];
                        }
                    }
                }
            }
            close(&c, &want, name);
            best_of(reps * 20, || unsafe { rec.mul(m, a.as_ptr(), k, s.as_mut_ptr(), n, false) })
        } else if i == 2 {
            // The weight gradient reads A = dG^T in place: dG is (k x m), A (r, kk) = dg[kk * m + r].
            let dg: Vec<T> = (0..k * m).map(|j| a[(j % m) * k + j / m]).collect();
            let pb = PackedB::from_row_pairs(k, n, |kk| [&b[kk * n..(kk + 1) * n], &[]], false);
            unsafe { pb.mul_rows_strided(m, dg.as_ptr(), 1, m, c.as_mut_ptr(), n, false) };
            close(&c, &want, name);
            best_of(reps, || unsafe { pb.mul_rows_strided(m, dg.as_ptr(), 1, m, c.as_mut_ptr(), n, false) })
        } else {
            // SAFETY: as above.
            let pb = unsafe { PackedB::new(k, n, b.as_ptr(), n, 1) };
            unsafe { pb.mul_rows(m, a.as_ptr(), k, c.as_mut_ptr(), n, false) };
            close(&c, &want, name);
            best_of(reps, || unsafe { pb.mul_rows(m, a.as_ptr(), k, c.as_mut_ptr(), n, false) })
        };
        let rate = |secs: f64| flops / secs / 1e9;
        let pct = |secs: f64| 100.0 * flops / secs / peak;
        println!(
            "| {:<6} | {:<7} | {:<40} | {:>6.1} | {:>5.0}% | {:>6.1} | {:>5.0}% | {:>6.1} | {:>5.0}% |",
            lv.name(),
            T::NAME,
            name,
            rate(t.1),
            pct(t.1),
            rate(t_mm.1),
            pct(t_mm.1),
            rate(t.0),
            pct(t.0),
        );
    }
}

/// The FMA peak at `lv`: best of many short register-only runs, by thread CPU time.
fn peak_of(lv: Level, f64: bool) -> f64 {
    (0..2000)
        .map(|_| {
            let c0 = thread_cpu();
            let (flops, _) = fma_flops(lv, f64, 100_000);
            flops / (thread_cpu() - c0)
        })
        .fold(0.0, f64::max)
}

fn main() {
    let reps: usize = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(7);
    let levels: Vec<Level> = [Level::Avx2, Level::Avx512].into_iter().filter(|l| *l <= best()).collect();
    println!(
        "one thread; best of {reps} (the recurrent step: of {}); GF/s from the thread's CPU time (wall time: last columns)",
        reps * 20
    );
    println!(
        "| level  | type    | product                                  | packed | %peak | matrixmultiply | %peak | packed (wall) | %peak |"
    );
    println!("|--------|---------|------------------------------------------|-------:|------:|-------:|------:|-------:|------:|");
    let mut peaks = Vec::new();
    for &lv in &levels {
        set_level(lv);
        let p32 = peak_of(lv, false);
        let p64 = peak_of(lv, true);
        peaks.push((lv, p32, p64));
        cases::<f32>(lv, p32, reps);
        cases::<f64>(lv, p64, reps);
    }
    for (lv, p32, p64) in peaks {
        println!("FMA peak ({}, register-only loop, 1 core): fp32 {:.1} GFLOP/s, fp64 {:.1} GFLOP/s", lv.name(), p32 / 1e9, p64 / 1e9);
    }
}
