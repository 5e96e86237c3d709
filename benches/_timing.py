"""Timing and table helpers shared by the peer benchmarks (bench_rnn.py, bench_search.py,
bench_attention.py, ...), and the ``--json PATH`` recorder every benchmark uses so that
benches/report.py reads their tables instead of scraping text.

Imports nothing of seqfast, so a benchmark can still run its torch-only parts without it.
`timed_pair` alternates the functions (order flipped every round) after a short pause each, so
a burst of other load hits them alike, and reports how many CPUs other processes took
meanwhile (from /proc/stat), which is what marks a row as untrustworthy on a shared machine.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time

PAUSE = 0.01  # seconds of idle before each timed run
HZ = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
NOISY = 0.15  # other processes' CPUs above which a row is flagged


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


def _cpu_snapshot() -> tuple[float, float, float] | None:
    """(CPU-seconds busy on the whole machine incl. steal, CPU-seconds of this process, wall)."""
    try:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:9]]
    except (OSError, ValueError):
        return None
    busy = sum(v) - v[3] - v[4]  # all but idle and iowait
    t = os.times()
    return busy / HZ, t.user + t.system, time.perf_counter()


def other_load(a, b) -> float | None:
    """CPUs kept busy by other processes (and the hypervisor's steal) between two snapshots."""
    if a is None or b is None or b[2] <= a[2]:
        return None
    return max(0.0, ((b[0] - a[0]) - (b[1] - a[1])) / (b[2] - a[2]))


def wait_quiet(max_wait: float, limit: float = NOISY, window: float = 1.0) -> float | None:
    """Wait (up to max_wait s) for a `window` in which other processes use < `limit` CPUs.
    Returns the last window's other load."""
    deadline = time.perf_counter() + max_wait
    while True:
        a = _cpu_snapshot()
        time.sleep(window)
        load = other_load(a, _cpu_snapshot())
        if load is None or load < limit or time.perf_counter() >= deadline:
            return load


def timed_pair(fns: dict, reps: int, warmup: int) -> tuple[dict[str, float], float | None, float | None]:
    """Median ms of each function over `reps` rounds (order flipped every round), the largest
    interquartile range relative to the median, and the other processes' load meanwhile."""
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    snap = _cpu_snapshot()
    keys = list(fns)
    times: dict[str, list[float]] = {k: [] for k in keys}
    for r in range(reps):
        for k in keys if r % 2 == 0 else keys[::-1]:
            time.sleep(PAUSE)
            t0 = time.perf_counter()
            fns[k]()
            times[k].append(time.perf_counter() - t0)
    med = {k: statistics.median(v) * 1e3 for k, v in times.items()}
    spread = None
    for v in times.values():
        if len(v) >= 4:
            q = statistics.quantiles(v, n=4)
            spread = max(spread or 0.0, (q[2] - q[0]) / statistics.median(v))
    return med, spread, other_load(snap, _cpu_snapshot())


def fmt(x, spec=".1f", none="-"):
    return none if x is None else format(x, spec)


# -- tables as JSON (``--json PATH``; benches/report.py collects them into BENCHMARKS.md) --------------

_JSON: dict = {"path": None, "doc": None}


def json_option(ap) -> None:
    """Add ``--json PATH`` to a benchmark's argument parser (call :func:`json_start` after parsing)."""
    ap.add_argument("--json", metavar="PATH", default=None,
                    help="also write every table printed (and which columns are seqfast-vs-peer ratios) as JSON "
                         "to PATH; benches/report.py reads it")


def json_start(path: str | None, **meta) -> None:
    """Start recording tables into `path` (no-op for None); `meta` (sizes, threads, ...) is stored too."""
    _JSON["path"] = path
    _JSON["doc"] = {"bench": os.path.basename(sys.argv[0]), "argv": sys.argv[1:], "meta": meta, "tables": []}
    _json_flush()


def record_table(headers, rows, *, title: str = "", label: int | list[int] = 1, ratios: dict | None = None) -> None:
    """Record one table for ``--json``: `rows` as printed (strings), `label` the index (or indices) of
    the columns that name a row, `ratios` ``{column header: peer name}`` for the columns holding
    seqfast's speed-up over that peer (peer time / seqfast time, > 1 = seqfast faster). Written
    at once, so a benchmark that stops later still leaves the tables it printed."""
    if _JSON["path"] is None:
        return
    headers = [str(h) for h in headers]
    missing = [c for c in (ratios or {}) if c not in headers]
    if missing:
        raise ValueError(f"record_table: ratio columns {missing} not in {headers}")
    _JSON["doc"]["tables"].append({
        "title": title,
        "headers": headers,
        "rows": [[str(c) for c in r] for r in rows],
        "label": [label] if isinstance(label, int) else list(label),
        "ratios": dict(ratios or {}),
    })
    _json_flush()


def _json_flush() -> None:
    path = _JSON["path"]
    if path is None:
        return
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(_JSON["doc"], f, indent=1)
    os.replace(tmp, path)


def print_table(headers: list[str], rows: list[list[str]], right_from: int = 0, *, title: str = "",
                label: int | list[int] | None = None, ratios: dict | None = None) -> None:
    """Print a Markdown table; with ``--json`` also record it (see :func:`record_table`; `label`
    defaults to the columns left of `right_from`)."""
    if label is None:
        label = list(range(max(1, right_from)))
    record_table(headers, rows, title=title, label=label, ratios=ratios)
    w = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    line = lambda cells: "| " + " | ".join(  # noqa: E731
        c.rjust(w[i]) if i >= right_from else c.ljust(w[i]) for i, c in enumerate(cells)) + " |"
    print(line(headers))
    print("|" + "|".join(("-" * (w[i] + 1) + ":") if i >= right_from else "-" * (w[i] + 2)
                         for i in range(len(headers))) + "|")
    for r in rows:
        print(line(r))


PEAK_SHAPE = (3200, 512, 2048)  # M, K, N: (B*T) x I @ I x (4H), an LSTM's input projection


def _threadpoolctl():
    try:
        import threadpoolctl
    except ImportError:
        return None
    return threadpoolctl


def gemm_peaks(torch, reps: int, dtypes=("float32", "float64")) -> dict[str, float]:
    """1-thread GFLOP/s of numpy's and torch's GEMM on PEAK_SHAPE per dtype (keys
    ``numpy_float32``, ``torch_float32`` ...) and under "other" the most CPUs other processes
    took during one of the measurements. numpy's BLAS is limited to 1 thread by threadpoolctl
    when installed (the benchmarks also set OPENBLAS_NUM_THREADS=1 before importing numpy)."""
    import numpy as np

    tpc = _threadpoolctl()
    M, K, N = PEAK_SHAPE
    flops = 2.0 * M * K * N
    rng = np.random.default_rng(0)
    out = {"other": 0.0}
    for dt in dtypes:
        a = rng.standard_normal((M, K)).astype(dt)
        b = rng.standard_normal((K, N)).astype(dt)
        c = np.empty((M, N), dt)

        def np_mm():
            np.matmul(a, b, out=c)

        if tpc is not None:
            with tpc.threadpool_limits(limits=1, user_api="blas"):
                med, _, o1 = timed_pair({"np": np_mm}, reps, 2)
        else:
            med, _, o1 = timed_pair({"np": np_mm}, reps, 2)
        out[f"numpy_{dt}"] = flops / (med["np"] * 1e-3) / 1e9
        ta, tb = torch.from_numpy(a), torch.from_numpy(b)
        tc = torch.empty((M, N), dtype=ta.dtype)
        old = torch.get_num_threads()
        torch.set_num_threads(1)
        med, _, o2 = timed_pair({"t": lambda: torch.mm(ta, tb, out=tc)}, reps, 2)
        torch.set_num_threads(old)
        out[f"torch_{dt}"] = flops / (med["t"] * 1e-3) / 1e9
        out["other"] = max(out["other"], o1 or 0.0, o2 or 0.0)
    return out


def numpy_blas() -> str:
    """numpy's BLAS and how its threads are limited, for the report header."""
    tpc = _threadpoolctl()
    if tpc is not None:
        info = [f"{d.get('internal_api')} {d.get('version')} ({d.get('architecture')})"
                for d in tpc.threadpool_info() if d.get("user_api") == "blas"]
        if info:
            return ", ".join(info) + f", OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS')} and threadpoolctl 1"
    return f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS')} (threadpoolctl not installed)"


def docs_of(text: str, size: int = 4096) -> list[str]:
    """Split a corpus into ~size-byte documents at line ends (for batch encoding)."""
    docs, start = [], 0
    while start < len(text):
        end = text.find("\n", start + size)
        end = len(text) if end < 0 else end + 1
        docs.append(text[start:end])
        start = end
    return docs
