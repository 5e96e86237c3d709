"""seqfast inside real pipelines: fork (DataLoader workers, multiprocessing, datasets.map),
spawn, many Python threads sharing objects, re-entrant calls from a Python scorer.

Every wait here is bounded, so a hang fails the test instead of stalling CI: forked children
are polled and killed after HARD_TIMEOUT, pools use ``map_async(...).get(timeout)``, threads
``join(timeout)``. Signals (Ctrl-C) are in test_signals.py, pickling in test_pickle.py.
"""

from __future__ import annotations

import copy
import multiprocessing
import os
import threading
import time

import numpy as np
import pytest

import _pipeline_work as work
import seqfast
from seqfast import nn, search

HARD_TIMEOUT = 120.0


def _wait_child(pid: int, timeout: float = HARD_TIMEOUT) -> int:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.02)
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    pytest.fail(f"the forked child did not finish within {timeout:.0f} s (a pool that did not survive the fork?)")


def _in_child(fn) -> int:
    """Run fn() in an os.fork() child; its exit code (fn's int, 99 on an exception)."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 99
        try:
            code = int(fn())
        except BaseException:  # noqa: BLE001 - report anything as a failure code
            import traceback

            traceback.print_exc()
        finally:
            os._exit(code)
    return _wait_child(pid)


def test_fork_after_heavy_use_every_family():
    # The parent uses every family's pools first (the state that used to hang a child).
    want = work.heavy_calls()
    assert work.heavy_calls().keys() == want.keys()

    def child() -> int:
        got = work.heavy_calls()
        bad = work.compare(want, got)
        if bad:
            print("differ in the forked child:", bad)
        return 1 if bad else 0

    assert _in_child(child) == 0
    # The parent's pools still work, and a grandchild (fork of a fork) too.
    assert not work.compare(want, work.heavy_calls())
    assert _in_child(lambda: _in_child(lambda: 0 if not work.compare(want, work.heavy_calls()) else 1)) == 0


def test_fork_while_other_threads_run_seqfast():
    # Another thread is inside a parallel call when the main thread forks.
    f = work.fixtures()
    want = work.encode(f["lines"])
    stop = threading.Event()

    def busy():
        while not stop.is_set():
            work.encode(f["lines"])

    t = threading.Thread(target=busy, daemon=True)
    t.start()
    try:
        for _ in range(3):
            time.sleep(0.05)
            assert _in_child(lambda: 0 if np.array_equal(work.encode(f["lines"]), want) else 1) == 0
    finally:
        stop.set()
        t.join(HARD_TIMEOUT)


@pytest.mark.parametrize("method", ["fork", "spawn", "forkserver"])
def test_multiprocessing_pools(method):
    f = work.fixtures()
    lines = f["lines"]
    work.encode(lines)  # use the pools in the parent first
    chunks = [lines[i : i + 1500] for i in range(0, 6000, 1500)]
    want_ids = [work.encode(c) for c in chunks]
    want_scores = [work.score(c) for c in chunks]
    ctx = multiprocessing.get_context(method)
    with ctx.Pool(2) as pool:
        got_ids = pool.map_async(work.encode, chunks).get(HARD_TIMEOUT)
        got_scores = pool.map_async(work.score, chunks).get(HARD_TIMEOUT)
    for a, b in zip(want_ids, got_ids):
        assert np.array_equal(a, b)
    for a, b in zip(want_scores, got_scores):
        assert np.array_equal(a, b)


def _run_threads(fns: list, timeout: float = HARD_TIMEOUT) -> list:
    out, errors = [None] * len(fns), []

    def run(i):
        try:
            out[i] = fns[i]()
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    ts = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(len(fns))]
    for t in ts:
        t.start()
    end = time.monotonic() + timeout
    for t in ts:
        t.join(max(0.0, end - time.monotonic()))
    assert not any(t.is_alive() for t in ts), "threads still running: deadlock?"
    assert not errors, errors
    return out


def test_eight_threads_share_objects():
    f = work.fixtures()
    tok, lm, lstm, lines, x = f["tok"], f["lm"], f["lstm"], f["lines"], f["x"]
    scorer = search.NgramScorer(lm)
    shared_lstm = copy.deepcopy(lstm).eval()
    calls = {
        "encode_batch": lambda: tok.encode_batch(lines[:3000]).ids,
        "encode": lambda: np.concatenate([tok.encode(s) for s in lines[:300]]),
        "score": lambda: lm.score_batch(lines[:3000])["tokens"],
        "lstm": lambda: shared_lstm(x)[0],  # one module in eval mode (no cache to share)
        "beam": lambda: np.concatenate([h.tokens for it in search.beam_search(scorer, batch_size=3, beam_width=3, max_len=6)
                                        for h in it]),
    }
    want = {k: fn() for k, fn in calls.items()}
    names = list(calls) * 2  # 10 threads, 8 at least at once
    for _ in range(3):
        got = _run_threads([calls[n] for n in names[:8]] + [calls[n] for n in names[8:]])
        for n, g in zip(names, got):
            assert np.array_equal(g, want[n]), n


def test_python_scorer_calls_seqfast_reentrantly():
    # A Python scorer that itself runs seqfast's parallel calls from inside beam_search.
    f = work.fixtures()
    tok, lm, lines, x = f["tok"], f["lm"], f["lines"], f["x"]
    V = 50
    ref_ids, ref_scores = tok.encode_batch(lines[:500]).ids, lm.score_batch(lines[:500])["total"]
    ref_y = nn.lstm_forward(x, f["lstm"].parameters(), requires_grad=False)[0]
    seen = []

    def scorer(tokens, parents):
        ids = tok.encode_batch(lines[:500], num_threads=2).ids
        s = lm.score_batch(lines[:500], num_threads=2)["total"]
        y = nn.lstm_forward(x, f["lstm"].parameters(), requires_grad=False, num_threads=2)[0]
        seen.append(np.array_equal(ids, ref_ids) and np.array_equal(s, ref_scores) and np.array_equal(y, ref_y))
        out = np.full((len(tokens), V), -10.0, np.float32)
        out[np.arange(len(tokens)), (tokens.astype(np.int64) * 7 + 3) % V] = -0.1
        return out

    for threads in (None, 1, 2):
        res = search.beam_search(scorer, batch_size=2, beam_width=2, max_len=5, bos=0, eos=1, vocab_size=V, num_threads=threads)
        assert len(res) == 2
    assert seen and all(seen)
    # And from many threads at once, each with its own Python scorer.
    _run_threads([lambda: search.beam_search(scorer, batch_size=1, beam_width=2, max_len=3, bos=0, eos=1, vocab_size=V)] * 4)
    assert all(seen)
