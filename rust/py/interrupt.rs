//! Long calls from Python: the GIL released, the work on seqfast's pools (fork safe), and
//! Ctrl-C noticed while it runs.
//!
//! On the main thread (the only one where Python runs signal handlers) a call whose cost grows
//! with its input runs through `parallel::run_interruptible`: the work goes to a pool worker and
//! this thread takes the GIL every 20 ms to run `PyErr_CheckSignals`. When a handler raises
//! (`KeyboardInterrupt` for Ctrl-C), the core's cancellation token is set, the core stops at
//! its next chunk boundary, and that exception is what the call raises. Small inputs and other
//! threads skip the polling (it costs a thread hand-off) and run on the pool directly.

use pyo3::prelude::*;

use super::errors::IntoPyResult;
use crate::error::Result;
use crate::parallel;

/// Inputs at least this large (bytes of text, tokens, n-grams) are run with polling.
pub const LONG: usize = 1 << 18;

/// Whether a kernel of about `flops` floating-point operations is long enough to poll for
/// (about 10 ms and up: below that the hand-off would cost more than 1%).
pub fn long_work(flops: f64) -> bool {
    flops >= 1e9
}

fn is_main_thread() -> bool {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: plain syscalls without arguments that cannot fail.
        unsafe { libc::syscall(libc::SYS_gettid) == libc::getpid() as libc::c_long }
    }
    #[cfg(not(target_os = "linux"))]
    {
        true
    }
}

/// Run `f` with the GIL released on the pool `num_threads` selects; with `long` (the input is
/// large) and on the main thread, poll for signals meanwhile and raise what their handler
/// raised.
pub fn run<R: Send>(py: Python<'_>, num_threads: Option<usize>, long: bool, f: impl FnOnce() -> Result<R> + Send) -> PyResult<R> {
    if !long || !is_main_thread() {
        return py.detach(|| parallel::install(num_threads, f).and_then(|r| r)).py();
    }
    let mut raised: Option<PyErr> = None;
    let res = py.detach(|| {
        let poll = || match Python::attach(|py| py.check_signals()) {
            Ok(()) => false,
            Err(e) => {
                raised = Some(e);
                true
            }
        };
        parallel::run_interruptible(num_threads, poll, f).and_then(|r| r)
    });
    match raised {
        Some(e) => Err(e),
        None => res.py(),
    }
}
