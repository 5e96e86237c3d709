//! Thread pools, fork safety and cancellation.
//!
//! **Pools.** seqfast never uses rayon's global pool: `num_threads = None` (or 0) means the
//! default pool, sized by `SEQFAST_NUM_THREADS`, then `RAYON_NUM_THREADS`, then the number of
//! CPUs; `Some(n)` a pool of exactly `n` threads. Pools are cached per size so repeated calls do
//! not pay for thread start-up. Results never depend on the thread count: callers split work
//! into chunks whose boundaries depend only on the input, and combine the per-chunk results in
//! chunk order.
//!
//! **Chunks.** [`line_blocks`] is the one place that cuts text into parallel blocks at line
//! ends (n-gram word numbering, ARPA parsing); fixed-size slices use `par_chunks(BLOCK)`.
//!
//! **Fork.** A forked child has only the thread that called `fork()`: the pools' workers are
//! gone, and a job sent to them would wait forever. A `pthread_atfork` child handler bumps a
//! generation counter (and frees the pool-table lock, which a parent thread may have held at the
//! fork); the next call in the child sees the new generation, forgets the dead pools without
//! touching them (their queues and locks are in an unknown state, so they are leaked, not
//! dropped) and starts fresh ones. Rayon's global pool could not be rebuilt that way, which is
//! why it is never used.
//!
//! **Cancellation.** [`run_interruptible`] runs a call on a pool worker while the calling thread
//! waits and polls (the Python binding checks for pending signals there, every
//! [`POLL_INTERVAL`]). When the poll says stop, the call's [`CancelToken`] is set; long loops in
//! the core call `token.check()?` at chunk boundaries (an atomic load) and unwind with
//! [`Error::Interrupted`]. Core code gets its token with [`cancel_token`] on the thread it was
//! called on ([`install`] carries it into its closure) and passes it explicitly to the rayon
//! tasks it spawns: those run on other workers, whose own thread-local token belongs to
//! whatever else they are running.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::Duration;

use crate::error::{Error, Result};

/// Maximum number of threads accepted by `num_threads`.
pub const MAX_THREADS: usize = 1024;

/// How often [`run_interruptible`] calls its poll function.
pub const POLL_INTERVAL: Duration = Duration::from_millis(20);

// ---- fork detection ------------------------------------------------------------------------

static FORK_GENERATION: AtomicU64 = AtomicU64::new(0);
/// The pool table's lock: a spin lock (not a `Mutex`) so the fork handler can release it.
static POOLS_LOCKED: AtomicBool = AtomicBool::new(false);

extern "C" fn after_fork_in_child() {
    // Only atomic stores: the child is single-threaded here, and async-signal-safety rules apply.
    FORK_GENERATION.fetch_add(1, Ordering::SeqCst);
    POOLS_LOCKED.store(false, Ordering::SeqCst);
}

fn register_fork_handler() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        // SAFETY: registers a handler that only performs atomic stores; the function pointer
        // is 'static (the extension module is never unloaded).
        #[cfg(unix)]
        unsafe {
            libc::pthread_atfork(None, None, Some(after_fork_in_child));
        }
    });
}

/// The process's fork generation: it changes in a child after each `fork()`.
pub fn fork_generation() -> u64 {
    FORK_GENERATION.load(Ordering::SeqCst)
}

// ---- pools ---------------------------------------------------------------------------------

struct Pools {
    generation: u64,
    by_size: HashMap<usize, Arc<rayon::ThreadPool>>,
}

struct PoolsCell(std::cell::UnsafeCell<Option<Pools>>);
// SAFETY: the cell is only touched while POOLS_LOCKED is held (see `with_pools`).
unsafe impl Sync for PoolsCell {}
static POOLS: PoolsCell = PoolsCell(std::cell::UnsafeCell::new(None));

fn with_pools<R>(f: impl FnOnce(&mut Pools) -> R) -> R {
    while POOLS_LOCKED.compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed).is_err() {
        std::thread::yield_now();
    }
    struct Unlock;
    impl Drop for Unlock {
        fn drop(&mut self) {
            POOLS_LOCKED.store(false, Ordering::Release);
        }
    }
    let _unlock = Unlock;
    // SAFETY: POOLS_LOCKED is held, so this is the only reference to the cell's content.
    let slot = unsafe { &mut *POOLS.0.get() };
    let generation = fork_generation();
    match slot {
        Some(p) if p.generation == generation => f(p),
        _ => {
            // First use, or first use after a fork: the old pools' threads do not exist here.
            // Leak them: dropping would signal workers through locks in an unknown state.
            if let Some(old) = slot.take() {
                std::mem::forget(old);
            }
            f(slot.insert(Pools { generation, by_size: HashMap::new() }))
        }
    }
}

/// Threads of the default pool: `SEQFAST_NUM_THREADS`, else `RAYON_NUM_THREADS`, else CPUs.
pub fn default_threads() -> usize {
    static N: OnceLock<usize> = OnceLock::new();
    *N.get_or_init(|| {
        let env = |k: &str| std::env::var(k).ok().and_then(|s| s.trim().parse::<usize>().ok()).filter(|&n| n > 0);
        env("SEQFAST_NUM_THREADS")
            .or_else(|| env("RAYON_NUM_THREADS"))
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
            .min(MAX_THREADS)
    })
}

/// Threads that `num_threads` selects (None or 0: the default pool).
pub fn threads_for(num_threads: Option<usize>) -> Result<usize> {
    match num_threads {
        None | Some(0) => Ok(default_threads()),
        Some(n) if n > MAX_THREADS => Err(Error::Value(format!("num_threads={n} is larger than {MAX_THREADS}"))),
        Some(n) => Ok(n),
    }
}

/// The pool that `num_threads` selects, started on first use (and again after a fork).
pub fn pool(num_threads: Option<usize>) -> Result<Arc<rayon::ThreadPool>> {
    let n = threads_for(num_threads)?;
    register_fork_handler();
    with_pools(|p| {
        if let Some(pool) = p.by_size.get(&n) {
            return Ok(pool.clone());
        }
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .thread_name(move |i| format!("seqfast{n}-{i}")) // pool size in the name: tests and `top -H` tell pools apart
            .build()
            .map_err(|e| Error::Value(format!("cannot start a pool of {n} threads: {e}")))?;
        let pool = Arc::new(pool);
        p.by_size.insert(n, pool.clone());
        Ok(pool)
    })
}

/// Run `f` on the pool selected by `num_threads` (None or 0: the default pool). From a worker
/// of that pool, `f` runs inline. `f` sees the caller's [`cancel_token`].
pub fn install<R: Send>(num_threads: Option<usize>, f: impl FnOnce() -> R + Send) -> Result<R> {
    let p = pool(num_threads)?;
    Ok(on_pool(&p, f))
}

/// `pool.install(f)` with the caller's cancellation token carried into `f`.
fn on_pool<R: Send>(pool: &rayon::ThreadPool, f: impl FnOnce() -> R + Send) -> R {
    let token = cancel_token();
    pool.install(move || with_token(token, f))
}

/// Run `f` on the pool this thread belongs to (inline), or on the default pool from any other
/// thread: for parallel steps inside calls that may run outside a seqfast pool (a search
/// driven by a Python scorer on the caller's thread), so rayon's global pool is never used.
pub fn install_here<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    if rayon::current_thread_index().is_some() {
        return f();
    }
    match pool(None) {
        Ok(p) => on_pool(&p, f),
        // No threads could be started: rayon then runs the parallel iterators on this thread.
        Err(_) => f(),
    }
}

// ---- deterministic chunks ------------------------------------------------------------------

/// Cut offsets of `text` into blocks of about `block` bytes that end at line ends: `[0, c1, ...,
/// len]`, each cut just after the first `\n` at or after `block` bytes past the previous cut
/// (the last block takes the rest). The cuts depend only on the text, never on the thread
/// count, so per-block results joined in block order are the same for any pool; use
/// `cuts.par_windows(2)` to run the blocks.
pub fn line_blocks(text: &[u8], block: usize) -> Vec<usize> {
    let mut cuts = vec![0usize];
    let mut last = 0;
    while last < text.len() {
        let at = (last + block.max(1)).min(text.len());
        last = text[at..].iter().position(|&b| b == b'\n').map_or(text.len(), |p| at + p + 1);
        cuts.push(last);
    }
    cuts
}

// ---- cancellation --------------------------------------------------------------------------

/// Shared flag of one interruptible call; cheap to clone and to check.
#[derive(Clone, Debug, Default)]
pub struct CancelToken(Option<Arc<AtomicBool>>);

impl CancelToken {
    /// A token that is never cancelled.
    pub fn never() -> CancelToken {
        CancelToken(None)
    }

    /// A fresh token and the handle that cancels it.
    pub fn new() -> CancelToken {
        CancelToken(Some(Arc::new(AtomicBool::new(false))))
    }

    /// Ask the call to stop at its next check.
    pub fn cancel(&self) {
        if let Some(f) = &self.0 {
            f.store(true, Ordering::Relaxed);
        }
    }

    #[inline]
    pub fn is_cancelled(&self) -> bool {
        self.0.as_ref().is_some_and(|f| f.load(Ordering::Relaxed))
    }

    /// `Err(Error::Interrupted)` once the call was cancelled.
    #[inline]
    pub fn check(&self) -> Result<()> {
        if self.is_cancelled() {
            Err(Error::Interrupted)
        } else {
            Ok(())
        }
    }
}

thread_local! {
    static CURRENT: RefCell<CancelToken> = const { RefCell::new(CancelToken(None)) };
}

/// The token of the interruptible call running on this thread (never cancelled outside one).
/// Call it at a core entry point, on the thread the entry point was called on, and pass it to
/// the tasks it spawns.
pub fn cancel_token() -> CancelToken {
    CURRENT.with(|c| c.borrow().clone())
}

/// Run `f` with `token` as this thread's [`cancel_token`], restoring the previous one after.
pub fn with_token<R>(token: CancelToken, f: impl FnOnce() -> R) -> R {
    struct Restore(Option<CancelToken>);
    impl Drop for Restore {
        fn drop(&mut self) {
            if let Some(t) = self.0.take() {
                CURRENT.with(|c| *c.borrow_mut() = t);
            }
        }
    }
    let prev = CURRENT.with(|c| std::mem::replace(&mut *c.borrow_mut(), token));
    let _restore = Restore(Some(prev));
    f()
}

/// Run `f` on the pool selected by `num_threads` while this thread calls `poll` every
/// [`POLL_INTERVAL`]; once `poll` returns true, `f`'s [`cancel_token`] is cancelled (and `poll`
/// is not called again), and `f` is still waited for: it returns at its next check, usually
/// with `Err(Error::Interrupted)`. Called from a pool worker (a nested call), `f` runs inline
/// under the caller's token and `poll` is not used: the outer call polls.
pub fn run_interruptible<R: Send>(num_threads: Option<usize>, mut poll: impl FnMut() -> bool, f: impl FnOnce() -> R + Send) -> Result<R> {
    if rayon::current_thread_index().is_some() {
        return install(num_threads, f);
    }
    let pool = pool(num_threads)?;
    let token = CancelToken::new();
    let done = (Mutex::new(false), Condvar::new());
    let mut out = None;
    {
        let (token, done, out) = (&token, &done, &mut out);
        pool.in_place_scope(move |s| {
            s.spawn(move |_| {
                // Set `done` even if `f` panics (the scope re-raises the panic afterwards).
                struct Done<'a>(&'a (Mutex<bool>, Condvar));
                impl Drop for Done<'_> {
                    fn drop(&mut self) {
                        *self.0 .0.lock().unwrap_or_else(|e| e.into_inner()) = true;
                        self.0 .1.notify_all();
                    }
                }
                let _done = Done(done);
                *out = Some(with_token(token.clone(), f));
            });
            let mut finished = done.0.lock().unwrap_or_else(|e| e.into_inner());
            while !*finished {
                finished = done.1.wait_timeout(finished, POLL_INTERVAL).unwrap_or_else(|e| e.into_inner()).0;
                if !*finished && !token.is_cancelled() {
                    drop(finished);
                    if poll() {
                        token.cancel();
                    }
                    finished = done.0.lock().unwrap_or_else(|e| e.into_inner());
                }
            }
        });
    }
    Ok(out.expect("the scope waited for the job"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rayon::prelude::*;

    #[test]
    fn line_blocks_cut_after_line_ends() {
        assert_eq!(line_blocks(b"", 4), [0]);
        assert_eq!(line_blocks(b"ab\ncd\nef", 1), [0, 3, 6, 8]);
        assert_eq!(line_blocks(b"abcdef\ngh\n", 2), [0, 7, 10]);
        assert_eq!(line_blocks(b"abc\nd", 100), [0, 5]);
    }

    #[test]
    fn sized_pools_and_threads() {
        assert_eq!(install(Some(3), rayon::current_num_threads).unwrap(), 3);
        assert_eq!(install(None, rayon::current_num_threads).unwrap(), default_threads());
        assert!(install(Some(MAX_THREADS + 1), || ()).is_err());
    }

    #[test]
    fn interruptible_runs_and_cancels() {
        let r = run_interruptible(Some(2), || false, || (0..1000u64).into_par_iter().sum::<u64>()).unwrap();
        assert_eq!(r, 499500);
        let mut polls = 0;
        let r = run_interruptible(
            Some(2),
            || {
                polls += 1;
                polls >= 2
            },
            || {
                let t = cancel_token();
                loop {
                    if t.check().is_err() {
                        return "stopped";
                    }
                    std::thread::sleep(Duration::from_millis(1));
                }
            },
        )
        .unwrap();
        assert_eq!(r, "stopped");
        assert_eq!(polls, 2);
        assert!(!cancel_token().is_cancelled());
    }

    #[test]
    fn nested_interruptible_runs_inline() {
        let r = run_interruptible(Some(1), || false, || run_interruptible(Some(1), || true, || 7).unwrap()).unwrap();
        assert_eq!(r, 7);
    }

    #[test]
    fn panic_in_job_propagates() {
        let r = std::panic::catch_unwind(|| run_interruptible(Some(1), || false, || panic!("boom")));
        assert!(r.is_err());
        assert_eq!(run_interruptible(Some(1), || false, || 1).unwrap(), 1);
    }
}
