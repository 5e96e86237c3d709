//! Thread pools and deterministic work splitting.
//!
//! `num_threads = None` (or 0) runs on rayon's global pool, which honours `SEQFAST_NUM_THREADS`
//! (checked first) and `RAYON_NUM_THREADS`. `Some(n)` runs on a pool of exactly `n` threads,
//! cached per size so repeated calls do not pay for thread start-up. Results never depend on the
//! thread count: callers split work into chunks whose boundaries depend only on the input, and
//! combine the per-chunk results in chunk order.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use crate::error::{Error, Result};

fn init_global() {
    static INIT: OnceLock<()> = OnceLock::new();
    INIT.get_or_init(|| {
        if let Some(n) = std::env::var("SEQFAST_NUM_THREADS").ok().and_then(|s| s.trim().parse::<usize>().ok()) {
            if n > 0 {
                // Fails only if the global pool already exists; then it keeps its size.
                let _ = rayon::ThreadPoolBuilder::new().num_threads(n).build_global();
            }
        }
    });
}

fn sized_pool(n: usize) -> Result<Arc<rayon::ThreadPool>> {
    static POOLS: OnceLock<Mutex<HashMap<usize, Arc<rayon::ThreadPool>>>> = OnceLock::new();
    let pools = POOLS.get_or_init(|| Mutex::new(HashMap::new()));
    let mut map = pools.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(p) = map.get(&n) {
        return Ok(p.clone());
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(n)
        .build()
        .map_err(|e| Error::Value(format!("cannot start a pool of {n} threads: {e}")))?;
    let pool = Arc::new(pool);
    map.insert(n, pool.clone());
    Ok(pool)
}

/// Maximum number of threads accepted by `num_threads`.
pub const MAX_THREADS: usize = 1024;

/// Run `f` on the pool selected by `num_threads` (None or 0: the global pool).
pub fn install<R: Send>(num_threads: Option<usize>, f: impl FnOnce() -> R + Send) -> Result<R> {
    match num_threads {
        None | Some(0) => {
            init_global();
            Ok(f())
        }
        Some(n) if n > MAX_THREADS => Err(Error::Value(format!("num_threads={n} is larger than {MAX_THREADS}"))),
        Some(n) => Ok(sized_pool(n)?.install(f)),
    }
}

/// Number of threads the current context would use.
pub fn current_threads() -> usize {
    init_global();
    rayon::current_num_threads()
}

/// Split `0..len` into chunks of about `target` items; boundaries depend only on `len`/`target`.
pub fn chunk_ranges(len: usize, target: usize) -> Vec<std::ops::Range<usize>> {
    let target = target.max(1);
    (0..len.div_ceil(target)).map(|i| i * target..((i + 1) * target).min(len)).collect()
}
