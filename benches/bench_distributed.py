#!/usr/bin/env python3
"""seqfast.distributed on a Dask LocalCluster: throughput at 1 and 2 workers against single-process
seqfast and Hugging Face ``datasets.map`` with HF ``tokenizers`` (issue 20).

The corpus's lines are written to shard files which the workers read themselves
(``seqfast.distributed.read_text``: one partition per file), as on a real cluster. For each job the distributed result is checked
against the single-process result first (equal ids / counts / merges), then timed (best of
``--repeat``; the machine is shared, so the best run is the least disturbed one). Printed: MB/s,
the 2-worker / 1-worker speed-up and the engine overhead at 1 worker (single-process time /
1-worker time).

    python benches/bench_distributed.py                       # bench-data/mixed.txt, 8 MB
    python benches/bench_distributed.py --mb 0 --scale 10     # the whole corpus, 10x concatenated
    python benches/bench_distributed.py --smoke               # tiny, for CI
    python benches/bench_distributed.py --memory 8,28         # peak memory of each task per GB / per item
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time

import numpy as np

import seqfast
from seqfast.ngram import count_words

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _timing import json_option, json_start, record_table  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def load(path: str, mb: float, scale: int) -> list:
    with open(path, encoding="utf-8") as f:
        text = f.read(int(mb * 2**20)) if mb > 0 else f.read()
    lines = text.split("\n")[:-1]  # without the last line, which --mb may cut (or the empty one after the final newline)
    # Words the n-gram model reserves (the corpus's Python and HTML source has a few) would make
    # count_words refuse the text, as lmplz does; rename them.
    for w in ("<s>", "</s>", "<unk>"):
        lines = [t.replace(w, w.upper().replace("<", "<_")) if w in t else t for t in lines]
    return lines * scale


def write_shards(lines: list, n: int, folder: str) -> list:
    paths = []
    bounds = [len(lines) * i // n for i in range(n + 1)]
    for i, (a, b) in enumerate(zip(bounds, bounds[1:])):
        p = os.path.join(folder, f"shard{i:03d}.txt")
        with open(p, "w", encoding="utf-8", newline="\n") as f:
            f.write("".join(t + "\n" for t in lines[a:b]))
        paths.append(p)
    return paths


def n_ids(part) -> list:
    """Ids in a partition of id arrays (the timed job keeps the ids on the workers)."""
    ids = getattr(part, "ids", None)  # an EncodingBatch: flat ids
    return [len(ids) if ids is not None else sum(map(len, part))]


_MEMORY_CHILD = r"""
import sys
import seqfast
from seqfast.distributed import merge_counts, piece_counts, word_counts
job, path, mb, order, here = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
sys.path.insert(0, here)
from bench_distributed import load  # the same text as the timed runs
lines = load(path, mb, 1)
half = len(lines) // 2
tok = seqfast.train_bpe(texts=lines[:5000], vocab_size=2000) if job == "tokenize" else None
def status(key):  # KB, from /proc/self/status
    with open("/proc/self/status") as f:
        return next(int(l.split()[1]) for l in f if l.startswith(key + ":"))
def reset_peak():  # Linux >= 4.0: writing 5 resets the peak RSS (VmHWM) to the current RSS
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    return status("VmRSS")
import gc; gc.collect()
base = reset_peak()  # the text is already loaded
if job == "count":
    c = word_counts(lines, order, num_threads=1)
    size = sum(c.num_ngrams(n) for n in range(1, order + 1))
elif job == "merge":  # two halves counted, then merged: what a merge task holds
    a, b = word_counts(lines[:half], order, num_threads=1), word_counts(lines[half:], order, num_threads=1)
    base = reset_peak()
    c = merge_counts(a, b)
    size = sum(c.num_ngrams(n) for n in range(1, order + 1))
elif job == "pieces":
    c = piece_counts(lines, num_threads=1)
    size = len(c)
else:
    ids = tok.encode_batch(lines, special="text", num_threads=1)
    size = len(ids.ids)
print(status("VmHWM") - base, size)
"""


def memory(corpus: str, mbs: list, order: int) -> None:
    """Peak memory of each building block as a worker task runs it: each in a fresh process,
    peak RSS (VmHWM, reset once the partition's text is loaded) above the RSS at that point."""
    import subprocess

    print(f"\nmemory of one task (fresh process each; peak RSS above the loaded text), order {order}")
    print(f"{'task':34} {'MB text':>8} {'peak MB':>8} {'MB per GB text':>15} {'items':>12} {'bytes/item':>11}")
    for job, what in (("count", "n-grams"), ("merge", "n-grams out"), ("pieces", "pieces"), ("tokenize", "ids")):
        for mb in mbs:
            out = subprocess.run([sys.executable, "-c", _MEMORY_CHILD, job, corpus, str(mb), str(order), HERE], capture_output=True, text=True)
            if out.returncode != 0:
                sys.exit(f"memory child {job} {mb} MB failed:\n{out.stderr}")
            kb, items = map(int, out.stdout.split())
            label = {"count": "word_counts (order-%d counts)" % order, "merge": "merge_counts of two halves",
                     "pieces": "piece_counts (BPE training)", "tokenize": "encode (ids of the partition)"}[job]
            print(f"{label:34} {mb:8.1f} {kb / 1024:8.0f} {kb / 1024 / mb * 1024:15.0f} {items:12,d} {kb * 1024 / max(items, 1):11.1f}  ({what})")


def flat_ids(part) -> list:
    """A tokenized partition as one item: its flat ids and row offsets."""
    return [(part.ids, part.row_offsets)]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", default=os.path.join(HERE, "..", "bench-data", "mixed.txt"))
    ap.add_argument("--mb", type=float, default=8.0, help="MB of the corpus to use (0: all)")
    ap.add_argument("--scale", type=int, default=1, help="concatenate the corpus this many times")
    ap.add_argument("--shards", type=int, default=8, help="shard files = partitions (default 8: 4 per worker at 2 workers)")
    ap.add_argument("--vocab-size", type=int, default=4096)
    ap.add_argument("--order", type=int, default=3)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--workers", default="1,2")
    ap.add_argument("--no-hf", action="store_true", help="skip the datasets.map peer")
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--memory", default="", help="only measure each task's memory, on these MB of the corpus (e.g. 8,32)")
    json_option(ap)
    args = ap.parse_args(argv)
    json_start(args.json)
    if args.memory:
        memory(args.corpus, [float(x) for x in args.memory.split(",")], args.order)
        return 0
    if args.smoke:
        args.mb, args.repeat, args.vocab_size, args.shards = 0.2, 1, 300, 4

    import distributed

    import seqfast.distributed as sd

    lines = load(args.corpus, args.mb, args.scale)
    size_mb = sum(len(t.encode()) + 1 for t in lines) / 2**20
    print(f"corpus {os.path.basename(args.corpus)}: {len(lines)} lines, {size_mb:.1f} MB; {args.shards} shards; best of {args.repeat}")
    tok = seqfast.train_bpe(texts=lines[: max(1, len(lines) // 8)], vocab_size=args.vocab_size)

    # ---- single process (one thread: a worker has one thread too) ----
    ref_ids = tok.encode_batch(lines, special="text", num_threads=1)
    ref_counts = count_words("\n".join(lines) + "\n", args.order, num_threads=1)
    ref_tok = seqfast.train_bpe(texts=lines, vocab_size=args.vocab_size, num_threads=1)
    single = {
        "tokenize": best(lambda: tok.encode_batch(lines, special="text", num_threads=1), args.repeat),
        "count": best(lambda: count_words("\n".join(lines) + "\n", args.order, num_threads=1), args.repeat),
        "train_bpe": best(lambda: seqfast.train_bpe(texts=lines, vocab_size=args.vocab_size, num_threads=1), args.repeat),
    }
    rows = {("seqfast 1 process", k): v for k, v in single.items()}

    with tempfile.TemporaryDirectory() as tmp:
        paths = write_shards(lines, args.shards, tmp)
        for w in [int(x) for x in args.workers.split(",")]:
            with distributed.LocalCluster(
                n_workers=w, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None,
                silence_logs=logging.ERROR, env={"SEQFAST_NUM_THREADS": "1"},
            ) as cluster, distributed.Client(cluster) as client:
                client.wait_for_workers(w, timeout=60)

                def bag():
                    # One partition per shard file, read and split in C on the worker (fresh
                    # task keys on every call, so no run reuses an earlier one's partitions).
                    return sd.read_text(paths)

                # Correctness first.
                # (Each partition's flat ids and row offsets, not millions of small arrays.)
                got = sd.tokenize(bag(), tok, special="text").map_partitions(flat_ids).compute()
                ids = np.concatenate([g[0] for g in got])
                bases = np.cumsum([0] + [len(g[0]) for g in got])
                ends = np.concatenate([[0]] + [g[1][1:].astype(np.int64) + b for g, b in zip(got, bases)])
                assert np.array_equal(ids, ref_ids.ids) and np.array_equal(ends, ref_ids.row_offsets), "distributed ids differ"
                assert sd.count_ngrams(bag(), args.order) == ref_counts, "distributed counts differ"
                assert sd.train_bpe(bag(), args.vocab_size).to_str() == ref_tok.to_str(), "distributed merges differ"
                jobs = {
                    "tokenize": lambda: sd.tokenize(bag(), tok, special="text").map_partitions(n_ids).sum().compute(),
                    "count": lambda: sd.count_ngrams(bag(), args.order),
                    "train_bpe": lambda: sd.train_bpe(bag(), args.vocab_size),
                }
                for k, fn in jobs.items():
                    rows[(f"dask {w} worker(s)", k)] = best(fn, args.repeat)

    if not args.no_hf:
        try:
            import datasets
            import tokenizers
        except ImportError as e:
            print(f"HF peer skipped: {e}")
        else:
            hf = tokenizers.Tokenizer.from_str(tok.to_str())
            ds = datasets.Dataset.from_dict({"text": lines})
            datasets.disable_progress_bars()

            def hf_map(n):
                def enc(batch):
                    return {"ids": [e.ids for e in hf.encode_batch(batch["text"], add_special_tokens=False)]}

                return ds.map(enc, batched=True, num_proc=n if n > 1 else None, remove_columns=["text"], load_from_cache_file=False)

            out = hf_map(1)
            hf_ids = out["ids"]
            same = len(hf_ids) == len(ref_ids) and all(np.array_equal(np.asarray(a, dtype=np.uint32), b) for a, b in zip(hf_ids, ref_ids))
            print(f"HF ids equal seqfast's on all {len(ref_ids)} lines: {same}")
            if not same:
                sys.exit("HF datasets.map ids differ from seqfast's: no timing")
            os.environ["TOKENIZERS_PARALLELISM"] = "false"
            for n in (1, 2):
                rows[(f"HF datasets.map num_proc={n}", "tokenize")] = best(lambda: hf_map(n), args.repeat)

    print(f"\n{'engine':32} {'job':10} {'seconds':>8} {'MB/s':>8}")
    for (eng, job), t in rows.items():
        print(f"{eng:32} {job:10} {t:8.2f} {size_mb / t:8.2f}")
    record_table(["engine", "job", "seconds", "MB/s"], [[e, j, f"{t:.2f}", f"{size_mb / t:.2f}"] for (e, j), t in rows.items()],
                 title=f"seqfast.distributed, {size_mb:.1f} MB, {args.shards} shards (best of {args.repeat})", label=[0, 1])
    vs = [[f"{n} worker(s) / num_proc={n}", f"{rows[(f'HF datasets.map num_proc={n}', 'tokenize')] / rows[(f'dask {n} worker(s)', 'tokenize')]:.2f}x"]
          for n in (1, 2) if (f"HF datasets.map num_proc={n}", "tokenize") in rows and (f"dask {n} worker(s)", "tokenize") in rows]
    if vs:
        record_table(["workers", "vs HF datasets.map"], vs, title="tokenize: seqfast.distributed on Dask vs HF datasets.map (HF s / seqfast s)",
                     label=0, ratios={"vs HF datasets.map": "HF datasets.map + tokenizers"})
    print()
    for job in single:
        one, two = rows.get(("dask 1 worker(s)", job)), rows.get(("dask 2 worker(s)", job))
        if one and two:
            print(f"{job:10} 2 workers / 1 worker speed-up {one / two:5.2f}x;  engine overhead at 1 worker {one / single[job] - 1:+.0%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
