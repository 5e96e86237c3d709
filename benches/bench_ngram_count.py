#!/usr/bin/env python3
"""n-gram counting throughput: seqfast vs a collections.Counter loop and NLTK (`nltk.ngrams` +
`FreqDist`), orders 1..N, from a NumPy token array. Counts are checked equal first (on a slice
small enough for the Python peers), then timed; ratios printed.

    python benches/bench_ngram_count.py [--tokens 10000000] [--order 3] [--peer-tokens 1000000]

Tokens: the mixed corpus (bench-data/mixed.txt, built by ../shared/corpus/build.sh) encoded with
cl100k when present, else Zipf-distributed random ids over a 50k vocabulary.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections import Counter

import numpy as np

import seqfast
from seqfast import ngram

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import timed  # noqa: E402
from _timing import json_option, json_start, record_table  # noqa: E402


def tokens(n: int) -> tuple[np.ndarray, str]:
    path = os.path.join(os.path.dirname(__file__), "..", "bench-data", "mixed.txt")
    try:
        from _common import ranks_path

        tok = seqfast.Tokenizer.from_tiktoken(ranks_path(), "cl100k")
        ids = tok.encode(open(path, encoding="utf-8").read(), special="text")
        while len(ids) < n:
            ids = np.concatenate([ids, ids])
        return ids[:n], "mixed corpus, cl100k ids"
    except (OSError, SystemExit):
        rng = np.random.default_rng(0)
        return (rng.zipf(1.3, size=n) % 50000).astype(np.uint32), "Zipf(1.3) ids over 50k"


def counter_counts(ids: list[int], order: int) -> list[Counter]:
    return [Counter(zip(*(ids[i:] for i in range(n)))) for n in range(1, order + 1)]


def nltk_counts(ids: list[int], order: int):
    import nltk

    return [nltk.FreqDist(nltk.ngrams(ids, n)) for n in range(1, order + 1)]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tokens", type=int, default=10_000_000)
    ap.add_argument("--peer-tokens", type=int, default=1_000_000)
    ap.add_argument("--order", type=int, default=3)
    ap.add_argument("--repeat", type=int, default=3)
    json_option(ap)
    args = ap.parse_args()
    json_start(args.json)
    ids, what = tokens(args.tokens)
    small = ids[: args.peer_tokens]
    small_list = small.tolist()
    # identity first
    ours = ngram.count(small, order=args.order)
    ref = counter_counts(small_list, args.order)
    for n in range(1, args.order + 1):
        g, c = ours.ngrams(n)
        if len(c) != len(ref[n - 1]) or any(ref[n - 1][tuple(row)] != k for row, k in zip(g[:2000].tolist(), c[:2000].tolist())):
            print(f"MISMATCH at order {n}")
            return 1
    print(f"{what}; order {args.order}; counts equal to Counter on {len(small):,} tokens; median of {args.repeat}")
    rows = []
    for t in (1, 2):
        dt = timed(lambda: ngram.count(ids, order=args.order, num_threads=t), args.repeat)
        rows.append((f"seqfast {t} thread(s), {len(ids):,} tokens", len(ids) / dt))
    dt_sf_small = timed(lambda: ngram.count(small, order=args.order, num_threads=1), args.repeat)
    dt_counter = timed(lambda: counter_counts(small_list, args.order), 1)
    rows.append((f"seqfast 1 thread, {len(small):,} tokens", len(small) / dt_sf_small))
    rows.append((f"collections.Counter, {len(small):,} tokens", len(small) / dt_counter))
    try:
        dt_nltk = timed(lambda: nltk_counts(small_list, args.order), 1)
        rows.append((f"NLTK ngrams+FreqDist, {len(small):,} tokens", len(small) / dt_nltk))
    except ImportError:
        dt_nltk = None
        print("(nltk not installed: pip install nltk to add it)")
    for name, rate in rows:
        print(f"{name:>45}: {rate / 1e6:8.2f} M tokens/s")
    print(f"seqfast / Counter: {dt_counter / dt_sf_small:.0f}x" + (f"; seqfast / NLTK: {dt_nltk / dt_sf_small:.0f}x" if dt_nltk else ""))
    record_table(["counter", "M tokens/s"], [[name, f"{rate / 1e6:.2f}"] for name, rate in rows],
                 title=f"n-gram counting, order {args.order} ({what})", label=0)
    record_table(["tokens", "vs collections.Counter", "vs NLTK"],
                 [[f"{len(small):,}", f"{dt_counter / dt_sf_small:.1f}x", f"{dt_nltk / dt_sf_small:.1f}x" if dt_nltk else "-"]],
                 title="n-gram counting: seqfast 1 thread speed-up (peer s / seqfast s)", label=0,
                 ratios={"vs collections.Counter": "collections.Counter", "vs NLTK": "NLTK"})
    return 0


if __name__ == "__main__":
    sys.exit(main())
