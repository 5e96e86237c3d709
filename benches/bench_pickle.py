#!/usr/bin/env python3
"""Copying models between processes: pickling an NgramLM (its compact binary payload) against
the only other way, ARPA text (`to_arpa` + `from_arpa`, what KenLM users and the previous
seqfast pickle did), and a Tokenizer's pickle against loading its file again.

Same model, same process. Before timing, the unpickled model's scores (bit for bit) and ARPA
text must equal the original's; a mismatch aborts. Target: pickle + unpickle at most a quarter
of to_arpa + from_arpa.

    python benches/bench_pickle.py                      # order 5 on bench-data/en.txt (build.sh), else generated text
    python benches/bench_pickle.py --words 2000000 --order 4 --repeat 5
    python benches/bench_pickle.py --smoke              # tiny, for CI smoke runs
"""

from __future__ import annotations

import argparse
import os
import pickle
import statistics
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "tests"))
import seqfast  # noqa: E402
from _timing import cpu_name, json_option, json_start, record_table  # noqa: E402
from seqfast import ngram  # noqa: E402


def med(fn, repeat: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def corpus(args) -> str:
    path = os.path.join(HERE, "..", "bench-data", "en.txt")
    if not args.smoke and os.path.isfile(path):
        with open(path, encoding="utf-8") as f:
            lines = [" ".join(l.split()) for l in f if l.strip()]
        text = "\n".join(lines) + "\n"
        print(f"text: bench-data/en.txt, {len(text.split())} words")
        return text
    import _pipeline_work as work

    words = 20_000 if args.smoke else args.words
    print(f"text: {words} generated Zipf words (no bench-data/en.txt)")
    return work.zipf_text(words, seed=1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--order", type=int, default=5)
    ap.add_argument("--words", type=int, default=3_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--smoke", action="store_true")
    json_option(ap)
    args = ap.parse_args()
    json_start(args.json)
    print(f"machine: {cpu_name()}, {os.cpu_count()} CPUs; seqfast {seqfast.__version__}")
    text = corpus(args)
    lm = ngram.NgramLM.fit(text, order=args.order)
    held = text.splitlines()[::50][:20000]
    want = lm.score_batch(held)
    with tempfile.TemporaryDirectory() as d:
        arpa = os.path.join(d, "m.arpa")
        t_w, _ = med(lambda: lm.to_arpa(arpa), args.repeat)
        size_arpa = os.path.getsize(arpa)
        t_r, from_text = med(lambda: ngram.NgramLM.from_arpa(arpa), args.repeat)
    t_d, blob = med(lambda: pickle.dumps(lm, protocol=5), args.repeat)
    t_l, copy = med(lambda: pickle.loads(blob), args.repeat)
    for name, m in (("unpickled", copy), ("from_arpa", from_text)):
        got = m.score_batch(held)
        if not all(np.array_equal(got[k], want[k]) for k in want):
            sys.exit(f"MISMATCH: the {name} model scores differently")
    if copy.to_arpa() != lm.to_arpa():
        sys.exit("MISMATCH: the unpickled model writes a different ARPA")
    n = sum(lm.num_ngrams())
    print(f"model: order {args.order}, {n:,} n-grams; medians of {args.repeat}; scores checked equal first\n")
    print(f"{'':28} {'seconds':>8} {'size MB':>8}")
    print(f"{'to_arpa (file)':28} {t_w:8.3f} {size_arpa / 1e6:8.1f}")
    print(f"{'from_arpa':28} {t_r:8.3f}")
    print(f"{'pickle.dumps (protocol 5)':28} {t_d:8.3f} {len(blob) / 1e6:8.1f}")
    print(f"{'pickle.loads':28} {t_l:8.3f}")
    ratio = (t_w + t_r) / (t_d + t_l)
    record_table(["operation", "seconds", "size MB"],
                 [["to_arpa (file)", f"{t_w:.3f}", f"{size_arpa / 1e6:.1f}"], ["from_arpa", f"{t_r:.3f}", ""],
                  ["pickle.dumps (protocol 5)", f"{t_d:.3f}", f"{len(blob) / 1e6:.1f}"], ["pickle.loads", f"{t_l:.3f}", ""],
                  ["round trip: pickle vs ARPA", f"{ratio:.1f}x", ""]],
                 title=f"NgramLM pickling, order {args.order}, {n:,} n-grams (seqfast's own formats; no peer)", label=0)
    print(f"\npickle round trip {t_d + t_l:.3f} s vs ARPA round trip {t_w + t_r:.3f} s: {ratio:.1f}x faster "
          f"(target >= 4x: {'met' if ratio >= 4 else 'NOT met'})")


if __name__ == "__main__":
    main()
