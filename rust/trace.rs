//! Phase timing for profiling long jobs: with `SEQFAST_TRACE=1` in the environment, each
//! [`phase`] call prints the seconds since the previous one and the process's current and peak
//! resident memory to stderr. Off (one cached check) otherwise.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::Instant;

fn enabled() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| std::env::var("SEQFAST_TRACE").is_ok_and(|v| v == "1"))
}

fn rss_mb() -> (u64, u64) {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |k: &str| {
        s.lines().find(|l| l.starts_with(k)).and_then(|l| l.split_whitespace().nth(1)).and_then(|x| x.parse::<u64>().ok()).unwrap_or(0)
            / 1024
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Print `name` with the time since the previous phase (or the first call).
pub fn phase(name: &str) {
    if !enabled() {
        return;
    }
    static START: OnceLock<Instant> = OnceLock::new();
    static LAST: AtomicU64 = AtomicU64::new(0);
    let t0 = *START.get_or_init(Instant::now);
    let now = t0.elapsed().as_micros() as u64;
    let prev = LAST.swap(now, Ordering::Relaxed);
    let (rss, peak) = rss_mb();
    eprintln!("[trace] {name:<28} {:8.3}s  rss {rss} MB  peak {peak} MB", (now - prev) as f64 / 1e6);
}
