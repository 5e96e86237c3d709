#!/usr/bin/env python3
"""`seqfast lm build` on the command line: through stdin/stdout (how lmplz is used) against the
file path and against lmplz, order 5, on the same text; wall time and peak RSS of each process.

Rows (each run in its own process; wall time of the whole command line, peak RSS of the
estimator's process from /usr/bin/time):

- lmplz -o 5 -S MEM < train > out.arpa             (lmplz as it is used)
- lmplz -o 5 -S MEM --text train --arpa out.arpa
- seqfast lm build -o 5 train --arpa out.arpa       (the file path)
- seqfast lm build -o 5 < train > out.arpa          (stdin and stdout are files)
- cat train | seqfast lm build -o 5 | cat > out.arpa  (real pipes on both sides)
- seqfast lm build -o 5 < train > /dev/null

First the outputs are checked: every seqfast ARPA must equal the file path's byte for byte,
and the file path's must equal lmplz's (same n-grams, same numbers). The rows run in turn in
each round (so background load hits them alike); the table shows the best and the median of
--repeat rounds, and speed and memory relative to `lmplz < train > out.arpa`.

    python benches/bench_lm_cli.py                      # ~3.6M tokens of bench-data/en.txt
    python benches/bench_lm_cli.py --tokens 500000 --repeat 1   # a smoke run

Text: as benches/bench_lm.py prepares it (`make_data`: en.txt's lines re-joined with single
spaces, every 10th line held out, copies relabelled to reach --tokens).
lmplz: --lmplz PATH, else as bench_lm.py finds it (`bash benches/build_lmplz.sh`).
"""

from __future__ import annotations

import argparse
import filecmp
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import cpu_name  # noqa: E402
from _timing import json_option, json_start, record_table  # noqa: E402
from bench_lm import ROOT, compare_arpa, find_lmplz, make_data  # noqa: E402

import seqfast  # noqa: E402

TIME = "/usr/bin/time"


def run_shell(script: str, rss_file: str, log: str) -> tuple[float, float]:
    """Run a bash command line whose estimator writes its peak RSS (KB) to rss_file; return
    (wall seconds, peak RSS MB)."""
    with open(log, "w") as err:
        t0 = time.perf_counter()
        p = subprocess.run(["bash", "-c", "set -o pipefail; " + script], stderr=err)
        dt = time.perf_counter() - t0
    if p.returncode != 0:
        with open(log) as f:
            sys.exit(f"FAILED ({p.returncode}): {script}\n{f.read()[-3000:]}")
    with open(rss_file) as f:
        return dt, int(f.read().split()[-1]) / 1024


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tokens", type=int, default=3_600_000)
    ap.add_argument("--order", type=int, default=5)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--lmplz", default=None)
    ap.add_argument("--lmplz-mem", default="4G", help="lmplz -S")
    ap.add_argument("--corpus", default=os.path.join(ROOT, "bench-data", "en.txt"))
    ap.add_argument("--workdir", default=None)
    json_option(ap)
    args = ap.parse_args()
    json_start(args.json)
    lmplz = find_lmplz(args.lmplz)
    if not lmplz:
        sys.exit("lmplz not found: bash benches/build_lmplz.sh (or --lmplz PATH)")
    seq = os.path.join(os.path.dirname(sys.executable), "seqfast")  # this Python's seqfast, not another on PATH
    if not os.access(seq, os.X_OK):
        sys.exit(f"the seqfast console script is not installed next to this Python ({seq})")
    work = args.workdir or tempfile.mkdtemp(prefix="bench_lm_cli_")
    os.makedirs(work, exist_ok=True)
    data = make_data(args.corpus, args.tokens, 0, work)
    train = data["train"]
    print(f"# {platform.node()}: {cpu_name()}, {os.cpu_count()} CPUs; seqfast {seqfast.__version__} ({seq}); lmplz {lmplz}; "
          f"load average {os.getloadavg()[0]:.2f}")
    print(f"text: {data['train_tokens']:,} tokens, {data['train_lines']:,} lines, {os.path.getsize(train) / 1e6:.1f} MB; order {args.order}")

    o = str(args.order)
    q = lambda s: "'" + s.replace("'", "'\\''") + "'"  # noqa: E731
    rows = {}

    def row(key, name, script, out):
        rows[key] = (name, script, out)

    def timed(rss):
        return f"{TIME} -f %M -o {q(rss)}"

    for key, name, body, out in [
        ("lmplz_pipe", f"lmplz -o {o} -S {args.lmplz_mem} < train > out.arpa",
         "{t} {lm} -o {o} -S {mem} -T {w} < {tr} > {out}", "lmplz_pipe.arpa"),
        ("lmplz_file", f"lmplz -o {o} -S {args.lmplz_mem} --text train --arpa out.arpa",
         "{t} {lm} -o {o} -S {mem} -T {w} --text {tr} --arpa {out}", "lmplz_file.arpa"),
        ("sf_file", f"seqfast lm build -o {o} train --arpa out.arpa", "{t} {sf} lm build -o {o} -q {tr} --arpa {out}", "sf_file.arpa"),
        ("sf_redirect", f"seqfast lm build -o {o} < train > out.arpa", "{t} {sf} lm build -o {o} -q < {tr} > {out}", "sf_redirect.arpa"),
        ("sf_pipe", f"cat train | seqfast lm build -o {o} | cat > out.arpa", "cat {tr} | {t} {sf} lm build -o {o} -q | cat > {out}",
         "sf_pipe.arpa"),
        ("sf_null", f"seqfast lm build -o {o} < train > /dev/null", "{t} {sf} lm build -o {o} -q < {tr} > /dev/null", None),
    ]:
        outp = os.path.join(work, out) if out else None
        rss = os.path.join(work, key + ".rss")
        script = body.format(t=timed(rss), lm=q(lmplz), o=o, mem=args.lmplz_mem, w=q(work), tr=q(train), sf=q(seq),
                             out=q(outp) if outp else "")
        row(key, name, script, outp)

    res: dict[str, list[tuple[float, float]]] = {k: [] for k in rows}
    for r in range(args.repeat):
        for k, (name, script, out) in rows.items():
            res[k].append(run_shell(script, os.path.join(work, k + ".rss"), os.path.join(work, k + ".log")))
        if r == 0:
            same = all(filecmp.cmp(rows["sf_file"][2], rows[k][2], shallow=False) for k in ("sf_redirect", "sf_pipe"))
            print(f"ARPA check, seqfast pipe and redirect vs file path: {'SAME bytes' if same else 'DIFFERENT'}")
            ok, how = compare_arpa(rows["lmplz_pipe"][2], rows["sf_file"][2])
            print(f"ARPA check, seqfast vs lmplz: {'SAME' if ok else 'DIFFERENT'} ({how})")
            if not (same and ok):
                return 1
    ref_t = min(x[0] for x in res["lmplz_pipe"])
    ref_m = max(x[1] for x in res["lmplz_pipe"])
    print(f"\nwall time of the command line (best and median of {args.repeat}), peak RSS of the estimator (max); "
          f"load average now {os.getloadavg()[0]:.2f}")
    print(f"{'':58} {'best s':>7} {'median':>7} {'RSS MB':>7} {'x lmplz':>8} {'RSS/lmplz':>9}")
    table = []
    for k, (name, _, _) in rows.items():
        ts = [x[0] for x in res[k]]
        m = max(x[1] for x in res[k])
        print(f"{name:58} {min(ts):7.2f} {statistics.median(ts):7.2f} {m:7.0f} {ref_t / min(ts):7.2f}x {m / ref_m:9.2f}")
        table.append([name, f"{min(ts):.2f}", f"{statistics.median(ts):.2f}", f"{m:.0f}", f"{ref_t / min(ts):.2f}x", f"{m / ref_m:.2f}"])
    record_table(["command", "best s", "median s", "RSS MB", "x lmplz", "RSS/lmplz"], table, label=0,
                 title=f"lm build from the command line, order {args.order}, {data['train_tokens']:,} tokens (vs lmplz < train > out.arpa)",
                 ratios={"x lmplz": "lmplz (pipe)"})
    print("  (x lmplz: lmplz < train > out.arpa's best time / this row's best; RSS/lmplz likewise; "
          f"lmplz's memory follows -S {args.lmplz_mem})")
    if not args.workdir:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
