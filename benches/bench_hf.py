#!/usr/bin/env python3
"""seqfast vs Hugging Face ``tokenizers`` on every tokenizer.json family (issue 15).

For each family shape of ``tests/_hf_shapes.py`` (GPT-2, RoBERTa, BERT cased/uncased, Llama 2,
Mistral, Llama 3, Qwen2, Gemma, T5, XLM-R, ALBERT, Whisper, WordLevel), built with a larger
vocabulary and trained on the benchmark corpus, the same tokenizer.json is loaded by both
libraries and the same documents (~4 KB each, cut at line ends) are encoded with
``encode_batch`` (special tokens added, as HF does by default):

* HF ``Tokenizer.encode_batch(docs)`` (HF always computes offsets and the other metadata);
* seqfast ``encode_batch(docs, num_threads=T)`` ids only, and with ``return_offsets=True``.

Each thread count T runs in a fresh subprocess with ``RAYON_NUM_THREADS=T`` set before
``tokenizers`` is imported (HF's rayon pool reads it once, when first used), so HF really runs on
T threads: "HF pool" is the number of threads HF's first batch started (its rayon pool), and
"HF cpu/wall" the process CPU time over wall time during HF's runs (about T on a quiet machine).
"other CPUs" is how many CPUs other processes used meanwhile (rows above 0.15 are flagged).
Before any timing, the ids and the offsets of the whole input are checked equal to HF's; a
family whose ids differ (or that seqfast cannot load) gets its reason instead of a ratio. Times
are medians of ``--repeat`` runs, the two libraries alternating, each library's word caches
cleared before each of its runs (outside the timing: seqfast's ``Tokenizer.clear_caches()``, HF's
``model._clear_cache()``), so every run is cold. MB = 10^6 bytes of
UTF-8 input. Targets: seqfast >= 5x HF at 1 thread, >= 3x at 2 threads.

    python benches/bench_hf.py                 # corpus from bench-data/ (../shared/corpus/build.sh), else generated
    python benches/bench_hf.py --quick         # small vocabularies and input: a smoke run (~1-2 min)
    python benches/bench_hf.py --shapes llama2 t5 --threads 1 --vocab-size 32000 --mb 8

Built tokenizers are cached in --work-dir (keyed by shape, vocabulary size and training text).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "tests"))

from _timing import NOISY, PAUSE, _cpu_snapshot, cpu_name, docs_of, other_load, print_table, wait_quiet, json_option, json_start  # noqa: E402

TARGET = {1: 5.0, 2: 3.0}


# ---------------------------------------------------------------------------
# Corpus and documents
# ---------------------------------------------------------------------------


def load_text(args) -> tuple[str, str]:
    """(source description, text): bench-data's corpora interleaved by line blocks, else the
    generated multilingual corpus plus standard-library sources."""
    parts = []
    for name in ("mixed", "en", "multi"):
        p = os.path.join(args.corpus_dir, f"{name}.txt")
        if os.path.isfile(p):
            with open(p, encoding="utf-8", errors="replace") as f:
                parts.append((name, f.read(int(args.budget_mb * 1e6))))
    if parts:
        return "bench-data: " + ", ".join(n for n, _ in parts), _interleave([t for _, t in parts])
    import _hf_shapes as shapes

    n = max(2000, int(args.budget_mb * 1e6 / 60))
    gen = "".join(shapes.generated_corpus(n, seed=99))
    std = "".join(t + "\n" for t in shapes.stdlib_corpus(400, 40_000))
    return f"generated multilingual text + stdlib sources (no corpora in {args.corpus_dir})", _interleave([gen, std])


def _interleave(texts: list[str], block: int = 64 << 10) -> str:
    """Alternate ~64 KB blocks (cut at line ends) of the given texts, so any prefix mixes them."""
    cursors = [0] * len(texts)
    out = []
    while any(c < len(t) for c, t in zip(cursors, texts)):
        for i, t in enumerate(texts):
            if cursors[i] >= len(t):
                continue
            end = t.find("\n", cursors[i] + block)
            end = len(t) if end < 0 else end + 1
            out.append(t[cursors[i]:end])
            cursors[i] = end
    return "".join(out)


def take_mb(text: str, mb: float) -> str:
    """The longest prefix of `text` with at most `mb` MB of UTF-8, cut at a line end."""
    data = text.encode("utf-8")[: int(mb * 1e6)].decode("utf-8", errors="ignore")
    cut = data.rfind("\n")
    return data[: cut + 1] if cut > 0 else data


# ---------------------------------------------------------------------------
# Building (cached)
# ---------------------------------------------------------------------------


def build_shapes(args, train_text: str) -> dict[str, str]:
    import _hf_shapes as shapes

    key = hashlib.sha1(train_text.encode("utf-8")).hexdigest()[:10]
    out_dir = os.path.join(args.work_dir, f"v{args.vocab_size}-{key}")
    os.makedirs(out_dir, exist_ok=True)
    lines = train_text.splitlines(keepends=True)
    paths = {}
    for name in args.shapes:
        path = os.path.join(out_dir, f"{name}.json")
        if not os.path.isfile(path):
            t0 = time.perf_counter()
            try:
                shapes.build(name, out_dir, vocab_size=args.vocab_size, corpus=lines)
            except Exception as e:  # a missing optional package (sentencepiece, transformers)
                print(f"  {name}: not built ({type(e).__name__}: {e})", flush=True)
                continue
            print(f"  built {name} in {time.perf_counter() - t0:.1f} s", flush=True)
        paths[name] = path
    return paths


# ---------------------------------------------------------------------------
# Worker: one shape, one thread count, in a fresh process
# ---------------------------------------------------------------------------


def worker(args) -> int:
    import numpy as np
    import tokenizers

    import seqfast

    sys.path.insert(0, HERE)
    with open(args.docs, encoding="utf-8") as f:
        docs = json.load(f)
    nbytes = sum(len(d.encode("utf-8")) for d in docs)
    t = args.threads
    res = {"threads": t, "mb": nbytes / 1e6, "docs": len(docs)}
    hf = tokenizers.Tokenizer.from_file(args.file)
    n_tasks = len(os.listdir("/proc/self/task")) if os.path.isdir("/proc/self/task") else None
    hf_encs = hf.encode_batch(docs)
    # HF's rayon pool starts on its first batch: the threads it added are its pool size.
    res["hf_pool"] = len(os.listdir("/proc/self/task")) - n_tasks if n_tasks is not None else None
    want_ids = [i for e in hf_encs for i in e.ids]
    want_off = [o for e in hf_encs for o in e.offsets]
    res["tokens"] = len(want_ids)

    def run_hf():
        hf.encode_batch(docs)

    sf = None
    try:
        sf = seqfast.Tokenizer.from_file(args.file)
        got = sf.encode_batch(docs, num_threads=t)
        ids = np.asarray(got.ids)
        if ids.tolist() != want_ids:
            k = next((i for i, (a, b) in enumerate(zip(ids.tolist(), want_ids)) if a != b), min(len(ids), len(want_ids)))
            res["error"] = f"ids differ at token {k} (of {len(want_ids)})"
            sf = None
        else:
            got = sf.encode_batch(docs, num_threads=t, return_offsets=True)
            if [tuple(o) for o in np.asarray(got.offsets).tolist()] != [tuple(o) for o in want_off]:
                res["offsets_error"] = "offsets differ"
    except Exception as e:  # not loadable yet, or the API is missing
        msg = str(e).replace(args.file, os.path.basename(args.file))
        res["error"] = f"{type(e).__name__}: {msg}"[:90]
        sf = None

    clear = getattr(seqfast.Tokenizer, "clear_caches", lambda: None)
    # Both libraries keep word caches across calls; both are cleared before each run (HF's
    # through its model's `_clear_cache`, where the model has one), so every run is cold.
    fns = {"hf": (getattr(hf.model, "_clear_cache", lambda: None), run_hf)}
    if sf is not None:
        fns["sf"] = (clear, lambda: sf.encode_batch(docs, num_threads=t))
        if "offsets_error" not in res:
            fns["sf_off"] = (clear, lambda: sf.encode_batch(docs, num_threads=t, return_offsets=True))
    for setup, fn in fns.values():  # warm-up
        setup()
        fn()
    times = {k: [] for k in fns}
    hf_cpu = hf_wall = 0.0
    snap = _cpu_snapshot()
    keys = list(fns)
    for r in range(args.repeat):
        for k in keys if r % 2 == 0 else keys[::-1]:
            setup, fn = fns[k]
            setup()
            time.sleep(PAUSE)
            c0, t0 = os.times(), time.perf_counter()
            fn()
            dt = time.perf_counter() - t0
            c1 = os.times()
            times[k].append(dt)
            if k == "hf":
                hf_cpu += (c1.user + c1.system) - (c0.user + c0.system)
                hf_wall += dt
    res["other"] = other_load(snap, _cpu_snapshot())
    res.update({f"{k}_s": statistics.median(v) for k, v in times.items()})
    res["hf_cpu_per_wall"] = hf_cpu / hf_wall if hf_wall else None
    print(json.dumps(res))
    return 0


def run_worker(script: str, path: str, docs_path: str, threads: int, repeat: int) -> dict:
    env = dict(os.environ, RAYON_NUM_THREADS=str(threads), TOKENIZERS_PARALLELISM="true",
               SEQFAST_NUM_THREADS=str(threads), OMP_NUM_THREADS="1")
    cmd = [sys.executable, script, "--worker", "--file", path, "--docs", docs_path, "--threads", str(threads),
           "--repeat", str(repeat)]
    p = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if p.returncode != 0:
        return {"threads": threads, "error": "worker failed: " + (p.stderr.strip().splitlines() or ["?"])[-1][:150]}
    return json.loads(p.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------------------


def main() -> int:
    import _hf_shapes as shapes

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus-dir", default=os.path.join(HERE, "..", "bench-data"))
    ap.add_argument("--work-dir", default=os.path.join("/tmp", "seqfast-bench-hf"))
    ap.add_argument("--shapes", nargs="*", default=list(shapes.FAMILIES), help=f"from {list(shapes.SHAPES)}")
    ap.add_argument("--vocab-size", type=int, default=16000)
    ap.add_argument("--train-mb", type=float, default=4.0, help="MB of text the tokenizers are trained on")
    ap.add_argument("--mb", type=float, default=4.0, help="MB of text encoded per measurement")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--wait-quiet", type=float, default=10.0,
                    help="seconds to wait, before each measurement, for other processes to use < %.2f CPUs" % NOISY)
    ap.add_argument("--quick", action="store_true", help="vocab 2000, 0.5 MB training, 0.25 MB input, 2 runs")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--file", help=argparse.SUPPRESS)
    ap.add_argument("--docs", help=argparse.SUPPRESS)
    json_option(ap)
    args = ap.parse_args()
    json_start(args.json)
    if args.worker:
        args.threads = int(args.threads)
        return worker(args)
    if args.quick:
        args.vocab_size, args.train_mb, args.mb, args.repeat = 2000, 0.5, 0.25, 2
    args.budget_mb = args.train_mb + args.mb + 1
    threads = [int(x) for x in args.threads.split(",")]
    unknown = [s for s in args.shapes if s not in shapes.SHAPES]
    if unknown:
        ap.error(f"unknown shapes {unknown}; choose from {list(shapes.SHAPES)}")

    import tokenizers

    import seqfast

    source, text = load_text(args)
    train_text = take_mb(text, args.train_mb)
    bench_text = take_mb(text[len(train_text):] or text, args.mb)
    docs = docs_of(bench_text)
    os.makedirs(args.work_dir, exist_ok=True)
    docs_path = os.path.join(args.work_dir, f"docs-{os.getpid()}.json")
    with open(docs_path, "w", encoding="utf-8") as f:
        json.dump(docs, f)

    print(f"machine: {cpu_name()}, {os.cpu_count()} cpus; python {platform.python_version()}")
    print(f"seqfast {seqfast.__version__}, tokenizers {tokenizers.__version__}")
    print(f"text: {source}")
    print(f"training: {len(train_text.encode()) / 1e6:.1f} MB, vocab {args.vocab_size}; input: "
          f"{len(bench_text.encode()) / 1e6:.2f} MB in {len(docs)} docs of ~4 KB; median of {args.repeat} runs; "
          f"each thread count in a fresh process with RAYON_NUM_THREADS set")
    print("building tokenizers (cached in", args.work_dir + ")", flush=True)
    paths = build_shapes(args, train_text)

    script = os.path.abspath(__file__)
    rows, verdicts = [], []
    try:
        for name, path in paths.items():
            for t in threads:
                if args.wait_quiet > 0:
                    wait_quiet(args.wait_quiet)
                r = run_worker(script, path, docs_path, t, args.repeat)
                mb = r.get("mb", 0.0)
                hf_s, sf_s, off_s = r.get("hf_s"), r.get("sf_s"), r.get("sf_off_s")
                ratio = hf_s / sf_s if hf_s and sf_s else None
                ratio_off = hf_s / off_s if hf_s and off_s else None
                note = r.get("error") or r.get("offsets_error") or ""
                ok = "-"
                if ratio is not None and t in TARGET:
                    good = ratio >= TARGET[t] and (ratio_off is None or ratio_off >= TARGET[t])
                    ok = "yes" if good else "NO"
                    verdicts.append(good)
                rows.append([
                    name, str(t), f"{mb:.2f}",
                    f"{mb / hf_s:.1f}" if hf_s else "-",
                    str(r.get("hf_pool", "-")),
                    f"{r['hf_cpu_per_wall']:.2f}" if r.get("hf_cpu_per_wall") else "-",
                    f"{mb / sf_s:.1f}" if sf_s else "-",
                    f"{ratio:.2f}x" if ratio else "-",
                    f"{mb / off_s:.1f}" if off_s else "-",
                    f"{ratio_off:.2f}x" if ratio_off else "-",
                    f">={TARGET.get(t, 0):.0f}x" if t in TARGET else "-",
                    ok, f"{r['other']:.2f}" if r.get("other") is not None else "-", note,
                ])
                print(f"  {name} t={t}: " + (note or f"{ratio:.2f}x / {ratio_off or 0:.2f}x with offsets"), flush=True)
    finally:
        os.unlink(docs_path)
    print()
    print_table(["family", "threads", "MB", "HF MB/s", "HF pool", "HF cpu/wall", "seqfast MB/s", "ratio", "+offsets MB/s",
                 "ratio +offsets", "target", "met", "other CPUs", "note"], rows, right_from=1, label=[0, 1],
                title="tokenizer.json pipelines: encode_batch vs Hugging Face tokenizers",
                ratios={"ratio": "HF tokenizers", "ratio +offsets": "HF tokenizers (with offsets)"})
    if verdicts:
        print(f"\ntargets met in {sum(verdicts)} of {len(verdicts)} rows")
    noisy = [r[0] + " t=" + r[1] for r in rows if r[-2] != "-" and float(r[-2]) > NOISY]
    if noisy:
        print(f"other processes used > {NOISY} CPUs during: {', '.join(noisy)} (those rows are not trustworthy)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
