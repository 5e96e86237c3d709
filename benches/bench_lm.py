#!/usr/bin/env python3
"""n-gram language models: seqfast's NgramLM against KenLM (`lmplz` to estimate, the `kenlm`
Python module to score) and NLTK (`nltk.lm`), on the same text, after checking the outputs agree.

1. Estimation, order 5 (modified Kneser-Ney), text file in -> ARPA file out: `lmplz -o 5 -S 4G`
   against `NgramLM.fit(pathlib.Path(f), order=5, num_threads=t)` + `lm.to_arpa(path)` at 1 and 2
   threads, and at 2 threads from `open(f).read()` (a Python str, which costs memory of its
   own). Each run is its own process (wall time and peak RSS from /usr/bin/time). First the ARPA
   files are compared: seqfast must write the same n-grams with the same numbers as lmplz.
2. Scoring held-out sentences with the lmplz ARPA loaded in both: `kenlm.Model.score` in a Python
   loop against `score_batch` from pre-converted NumPy ids (1 and 2 threads) and from a list of
   str (the word lookup included). Per-sentence totals must agree to 1e-4 first. Tokens/s count
   the words plus one `</s>` per sentence (what both score), the same for every row. Done for the
   full model and a ~1/10 model, to show how lookups scale with model size.
4. Deployment (`--parts deploy`): the lmplz ARPA saved as seqfast binary (and quantized), and
   as KenLM probing/trie binaries by `build_binary`; each loaded in a fresh process (file in the
   page cache) with its first query: `NgramLM.load`, `NgramLM.from_arpa`, `kenlm.Model`;
   2000 held-out sentence totals checked against kenlm's; file sizes; scoring from the mapped
   file against the ARPA-loaded model.
3. NLTK (KneserNeyInterpolated, order 3, 20k tokens): fit time and per-token `logscore` of 2k
   held-out tokens against seqfast on the same sentences. NLTK's KN is not KenLM's, so only
   finiteness is checked; an MLE model is compared number for number instead.

    python benches/bench_lm.py                       # ~10M training tokens, 1M held-out
    python benches/bench_lm.py --tokens 2000000 --repeat 3 --lmplz ./.lmplz/bin/lmplz
    python benches/bench_lm.py --lmplz-mem 4G,1G     # time lmplz at several -S
    python benches/bench_lm.py --parts score --workdir /tmp/lm --keep   # only the scoring part
    python benches/bench_lm.py --quick               # tiny sizes, a smoke run (< 30 s)

Peak RSS is measured by /usr/bin/time around each run (not wait4 from this process: a child
started from a large Python process through vfork + exec inherits its RSS high-water mark).

Text: bench-data/en.txt (`bash ../shared/corpus/build.sh bench-data`: Python docs + KJV bible),
one line = one sentence, words split on whitespace and re-joined with single spaces (seqfast and
lmplz disagree on what whitespace is beyond space/tab/CR; see the note printed), empty lines
dropped. Every 10th line is held out. en.txt has only ~2.2M words, so to reach --tokens the text
is repeated with each copy's words relabelled (copy k writes `word~k`): the copies share no
n-gram, so n-gram counts, counts-of-counts and Kneser-Ney discounts stay those of real text
while the model grows like a bigger corpus's (plain repetition would leave no singleton 5-gram
and lmplz refuses to estimate). The held-out text gets the same relabelling.

lmplz: --lmplz PATH, else `lmplz` on PATH, else ./.lmplz/bin/lmplz (`bash benches/build_lmplz.sh`).
"""

from __future__ import annotations

import argparse
import filecmp
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

import seqfast
from seqfast.ngram import NgramLM

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import cpu_name  # noqa: E402
from _timing import json_option, json_start, record_table  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
TIME = "/usr/bin/time"  # GNU time (Debian package `time`), for each run's peak RSS
ROOT = os.path.dirname(HERE)

# A seqfast estimation run, in its own process so its peak RSS is its own.
CHILD = r"""
import json, pathlib, sys, time
t0 = time.perf_counter()
from seqfast.ngram import NgramLM
train, out, order, threads, form = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
t1 = time.perf_counter()
if form == "str":  # the text as a Python str (Python holds its own copies)
    with open(train, encoding="utf-8") as f:
        text = f.read()
else:  # the file path: the core reads the bytes in place
    text = pathlib.Path(train)
t2 = time.perf_counter()
lm = NgramLM.fit(text, order=order, num_threads=threads)
t3 = time.perf_counter()
lm.to_arpa(out, num_threads=threads)
t4 = time.perf_counter()
print(json.dumps({"import": t1 - t0, "read": t2 - t1, "fit": t3 - t2, "write": t4 - t3}))
"""


# ---------------------------------------------------------------------------------------------
# helpers


def run_child(argv: list[str], log: str) -> tuple[float, float, str]:
    """Run argv; return (wall seconds, peak RSS MB of that process, stdout).

    The peak RSS comes from /usr/bin/time, which forks the program itself: a process that this
    (large) Python process starts directly inherits its RSS high-water mark through
    vfork + exec, so wait4's ru_maxrss would report at least this process's own peak."""
    rss_file = log + ".rss"
    with open(log, "w") as err, tempfile.TemporaryFile("w+") as out:
        t0 = time.perf_counter()
        p = subprocess.run([TIME, "-f", "%M", "-o", rss_file, *argv], stdout=out, stderr=err)
        dt = time.perf_counter() - t0
        out.seek(0)
        stdout = out.read()
    if p.returncode != 0:
        with open(log) as f:
            tail = f.read()[-3000:]
        sys.exit(f"FAILED ({p.returncode}): {' '.join(argv)}\n{tail}")
    with open(rss_file) as f:
        rss_kb = int(f.read().split()[-1])
    return dt, rss_kb / 1024, stdout


def interleaved(fns: dict, repeat: int) -> dict[str, float]:
    """Median wall time of each function, the functions run in turn within each round, so a
    burst of background load hits them all alike."""
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(repeat):
        for k, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t0)
    return {k: statistics.median(v) for k, v in times.items()}


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def find_lmplz(opt: str | None) -> str | None:
    if opt:
        return opt
    p = shutil.which("lmplz")
    if p:
        return p
    p = os.path.join(ROOT, ".lmplz", "bin", "lmplz")
    return p if os.access(p, os.X_OK) else None


def fmt_rate(x: float) -> str:
    return f"{x / 1e6:7.2f}M"


# ---------------------------------------------------------------------------------------------
# data


def make_data(corpus: str, tokens: int, held_tokens: int, work: str) -> dict:
    with open(corpus, encoding="utf-8") as f:
        lines = [w for w in (line.split() for line in f) if w]
    train_base = [w for i, w in enumerate(lines) if i % 10 != 9]
    held_base = [w for i, w in enumerate(lines) if i % 10 == 9]
    base_tokens = sum(map(len, train_base))
    copies = max(1, math.ceil(tokens / base_tokens))

    def tag(words: list[str], k: int) -> str:
        return " ".join(words) if k == 0 else " ".join(f"{w}~{k}" for w in words)

    n_train = n_lines = 0
    train_path = os.path.join(work, "train.txt")
    with open(train_path, "w", encoding="utf-8") as f:
        for k in range(copies):
            for w in train_base:
                if n_train >= tokens:
                    break
                f.write(tag(w, k) + "\n")
                n_train += len(w)
                n_lines += 1
    # held-out: the copies interleaved line by line, so any prefix spans the whole model; only
    # copies whose training text is (nearly) all there, else its held-out words are mostly OOV
    held_copies = max(1, min(copies, round(n_train / base_tokens)))
    held, n_held = [], 0
    for w in held_base:
        for k in range(held_copies):
            if n_held >= held_tokens:
                break
            held.append(tag(w, k))
            n_held += len(w)
    held_path = os.path.join(work, "heldout.txt")
    with open(held_path, "w", encoding="utf-8") as f:
        f.write("\n".join(held) + "\n")
    return {
        "train": train_path, "train_tokens": n_train, "train_lines": n_lines, "copies": copies,
        "distinct_tokens": min(base_tokens, n_train), "held_copies": held_copies, "held": held, "held_path": held_path,
        "held_tokens": n_held, "train_base": train_base, "held_base": held_base,
    }


# ---------------------------------------------------------------------------------------------
# ARPA comparison


def arpa_sections(path: str):
    """Yield (section name, list of lines) for the \\data\\ header and each n-gram section."""
    name, cur = None, []
    with open(path, encoding="utf-8", errors="surrogateescape") as f:
        for line in f:
            line = line.rstrip("\n")
            if line.startswith("\\"):
                if name is not None:
                    yield name, cur
                name, cur = line, []
                if line == "\\end\\":
                    break
            elif line and name is not None:
                cur.append(line)
    if name is not None and name != "\\end\\":
        yield name, cur


def compare_arpa(a: str, b: str) -> tuple[bool, str]:
    """Same n-grams with the same numbers? (True, how) or (False, what differs)."""
    if filecmp.cmp(a, b, shallow=False):
        return True, "byte-identical"
    diffs, print_only = [], []
    for (na, la), (nb, lb) in zip(arpa_sections(a), arpa_sections(b)):
        if na != nb:
            return False, f"sections differ: {na!r} vs {nb!r}"
        if la == lb:
            continue
        sa, sb = set(la), set(lb)
        if sa == sb:
            continue
        only_a, only_b = sorted(sa - sb), sorted(sb - sa)
        if na == "\\data\\":
            diffs.append(f"header: {only_a} vs {only_b}")
            continue
        ka = {ln.split("\t")[1]: ln for ln in only_a}
        kb = {ln.split("\t")[1]: ln for ln in only_b}
        both = sorted(set(ka) & set(kb))
        maxd, same32 = 0.0, []
        for g in both:
            xa = [float(x) for i, x in enumerate(ka[g].split("\t")) if i != 1]
            xb = [float(x) for i, x in enumerate(kb[g].split("\t")) if i != 1]
            if len(xa) == len(xb):
                maxd = max([maxd] + [abs(p - q) for p, q in zip(xa, xb)])
                if np.array_equal(np.float32(xa), np.float32(xb)):
                    same32.append(g)
        if len(same32) == len(both) == len(ka) == len(kb):
            print_only.append(f"{na} {len(both)} line(s) print the same float32 differently, e.g. "
                              + "; ".join(f"{ka[g]!r} vs {kb[g]!r}" for g in same32[:3]))
            continue
        ex = [f"{ka[g]!r} vs {kb[g]!r}" for g in both[:3]] + [f"only first: {ka[g]!r}" for g in sorted(set(ka) - set(kb))[:2]]
        ex += [f"only second: {kb[g]!r}" for g in sorted(set(kb) - set(ka))[:2]]
        diffs.append(f"{na} {len(la)} vs {len(lb)} lines; {len(both)} n-grams with other numbers "
                     f"(max |diff| {maxd:.2g}), {len(set(ka) - set(kb))} only in first, {len(set(kb) - set(ka))} "
                     f"only in second; e.g. " + "; ".join(ex))
    if not diffs:
        if print_only:
            return True, ("same n-grams and float32 numbers, but not the same text:\n    "
                          + "\n    ".join(print_only))
        return True, "same lines (in another order)"
    return False, "\n    ".join(diffs + print_only)


# ---------------------------------------------------------------------------------------------
# 1. estimation


def bench_estimation(args, data, lmplz: str, work: str) -> str:
    order, train = args.order, data["train"]
    mems = args.lmplz_mem.split(",")
    out, cmds, names = {}, {}, {}
    for i, mem in enumerate(mems):  # the first -S is the reference for the ratios and the check
        k = f"lmplz{i}"
        out[k] = os.path.join(work, "lmplz.arpa" if i == 0 else f"lmplz{i}.arpa")
        cmds[k] = [lmplz, "-o", str(order), "-S", mem, "-T", work, "--text", train, "--arpa", out[k]]
        names[k] = f"lmplz -S {mem}"
    for t, form in ((1, "path"), (2, "path"), (2, "str")):
        k = f"sf{t}" + ("s" if form == "str" else "")
        out[k] = os.path.join(work, f"{k}.arpa")
        cmds[k] = [sys.executable, "-c", CHILD, train, out[k], str(order), str(t), form]
        src = "Path" if form == "path" else "a str"
        names[k] = f"seqfast fit({src})+to_arpa, {t} thread{'s' if t > 1 else ''}"
    res: dict[str, list] = {k: [] for k in cmds}
    keys = list(cmds)
    for r in range(args.repeat):
        for k in keys[r % len(keys):] + keys[: r % len(keys)]:  # rotate the order between rounds
            dt, rss, stdout = run_child(cmds[k], os.path.join(work, f"{k}.log"))
            res[k].append((dt, rss, json.loads(stdout) if k.startswith("sf") else None))
        if r == 0:
            ok, how = compare_arpa(out["lmplz0"], out["sf1"])
            print(f"ARPA check, seqfast 1 thread vs lmplz: {'SAME' if ok else 'DIFFERENT'} ({how})")
            if ok and how.startswith("same n-grams"):
                print("    (ties in shortest float printing: both strings read back as the same float32)")
            if not ok:
                print("  (timings below compare programs that do not produce the same model)")
            for k in keys[1:]:
                if k != "sf1":
                    ok2, how2 = compare_arpa(out["sf1" if k.startswith("sf") else "lmplz0"], out[k])
                    print(f"ARPA check, {names[k]} vs {'seqfast 1 thread' if k.startswith('sf') else names['lmplz0']}: "
                          f"{'SAME' if ok2 else 'DIFFERENT'} ({how2})")
    ref_t = statistics.median(x[0] for x in res["lmplz0"])
    ref_m = max(x[1] for x in res["lmplz0"])
    n = data["train_tokens"]
    print(f"\n1. Estimation: order {order}, {n:,} tokens ({data['train_lines']:,} lines) -> ARPA "
          f"({os.path.getsize(out['lmplz0']) / 1e6:,.0f} MB); whole process wall time, median of {args.repeat}; "
          f"peak RSS = max over runs")
    print(f"{'':40} {'seconds':>8} {'min':>7} {'tok/s':>8} {'peak RSS MB':>11} {'speed-up':>8} {'RSS/lmplz':>9}")
    table = []
    for k in keys:
        t = statistics.median(x[0] for x in res[k])
        m = max(x[1] for x in res[k])
        print(f"{names[k]:40} {t:8.2f} {min(x[0] for x in res[k]):7.2f} {fmt_rate(n / t):>8} {m:11.0f} "
              f"{ref_t / t:7.2f}x {m / ref_m:8.2f}x")
        table.append([names[k], f"{t:.2f}", f"{min(x[0] for x in res[k]):.2f}", fmt_rate(n / t), f"{m:.0f}", f"{ref_t / t:.2f}x",
                      f"{m / ref_m:.2f}x"])
    record_table(["estimator", "seconds", "min", "tok/s", "peak RSS MB", "vs lmplz", "RSS/lmplz"], table, label=0,
                 title=f"n-gram LM estimation, order {order}, {n:,} tokens -> ARPA (vs {names['lmplz0']})",
                 ratios={"vs lmplz": "KenLM lmplz"})
    for k in ("sf1", "sf2", "sf2s"):
        parts = {p: statistics.median(x[2][p] for x in res[k]) for p in ("import", "read", "fit", "write")}
        print(f"  {names[k]}: " + ", ".join(f"{p} {v:.2f} s" for p, v in parts.items()))
    print(f"  (speed-up and RSS/lmplz relative to {names['lmplz0']}; lmplz's memory follows -S)")
    return out["lmplz0"]


# ---------------------------------------------------------------------------------------------
# 2. scoring


def bench_scoring(args, data, arpa: str, label: str) -> None:
    import kenlm

    held = data["held"]
    r0 = rss_mb()
    t0 = time.perf_counter()
    saved = os.dup(2)  # kenlm draws a progress bar on stderr while reading ARPA
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            ken = kenlm.Model(arpa)
    finally:
        os.dup2(saved, 2)
        os.close(saved)
    t_ken = time.perf_counter() - t0
    r1 = rss_mb()
    t0 = time.perf_counter()
    lm = NgramLM.from_arpa(arpa)
    t_sf = time.perf_counter() - t0
    r2 = rss_mb()
    ids, offsets = lm._m.word_ids(held)
    n_tok = int(ids.size) + len(held)  # words + </s>
    oov = int(np.count_nonzero(ids == lm.unk))

    ours = lm.score_batch((ids, offsets), num_threads=1)["total"]
    theirs = np.array([ken.score(s, bos=True, eos=True) for s in held])
    d = np.abs(ours - theirs)
    ok = bool(d.max() <= 1e-4)
    ppl_k = 10 ** (-theirs.sum() / n_tok)
    print(f"\n2. Scoring, {label}: {lm!r}"[:2000])
    print(f"   load ARPA: kenlm {t_ken:.1f} s (+{r1 - r0:,.0f} MB RSS), seqfast from_arpa {t_sf:.1f} s (+{r2 - r1:,.0f} MB RSS)")
    print(f"   {len(held):,} held-out sentences, {n_tok:,} tokens (words + </s>), {oov:,} OOV; "
          f"per-sentence totals vs kenlm: max |diff| {d.max():.2g} -> {'AGREE' if ok else 'DISAGREE'} (1e-4); "
          f"perplexity {ppl_k:.2f} (kenlm) {lm.perplexity((ids, offsets)):.2f} (seqfast)")
    if not ok:
        i = int(d.argmax())
        print(f"   worst sentence {i}: kenlm {theirs[i]!r} seqfast {ours[i]!r}: {held[i][:200]!r}")
    fns = {
        "kenlm Model.score, Python loop": lambda: sum(ken.score(s) for s in held),
        "seqfast score_batch NumPy, 1 thread": lambda: lm.score_batch((ids, offsets), num_threads=1),
        "seqfast score_batch NumPy, 2 threads": lambda: lm.score_batch((ids, offsets), num_threads=2),
        "seqfast score_batch list[str], 1 thread": lambda: lm.score_batch(held, num_threads=1),
        "seqfast score_batch list[str], 2 threads": lambda: lm.score_batch(held, num_threads=2),
        "seqfast word_ids only (lookup)": lambda: lm._m.word_ids(held),
    }
    rep = 3 * args.repeat  # scoring runs are short: more of them
    times = interleaved(fns, rep)
    base = times["kenlm Model.score, Python loop"]
    print(f"   {'':42} {'seconds':>8} {'tokens/s':>9} {'vs kenlm':>8}   (median of {rep}, interleaved)")
    for k, t in times.items():
        print(f"   {k:42} {t:8.4f} {fmt_rate(n_tok / t):>9} {base / t:7.2f}x")
    record_table(["scorer", "seconds", "tokens/s", "vs kenlm"], [[k, f"{t:.4f}", fmt_rate(n_tok / t), f"{base / t:.2f}x"] for k, t in times.items()],
                 title=f"n-gram LM scoring, {label}, {n_tok:,} tokens (vs the kenlm module's Model.score loop)", label=0,
                 ratios={"vs kenlm": "kenlm (Python module)"})
    del ken, lm


# ---------------------------------------------------------------------------------------------
# 4. deployment: binary files, load time, first query


# One load in its own process: the model file is in the page cache (written just before, and
# loaded once untimed first), as on a server that restarts; the time covers the load and the
# first query (a string sentence), the result the total of the first `k` held-out sentences.
LOAD_CHILD = r"""
import json, sys, time
kind, path, held = sys.argv[1], sys.argv[2], sys.argv[3]
with open(held, encoding="utf-8") as f:
    sents = f.read().splitlines()[:2000]
if kind == "kenlm":
    import kenlm, os
    t0 = time.perf_counter()
    m = kenlm.Model(path)
    first = m.score(sents[0], bos=True, eos=True)
    t1 = time.perf_counter()
    total = sum(m.score(s, bos=True, eos=True) for s in sents)
else:
    from seqfast.ngram import NgramLM
    t0 = time.perf_counter()
    lm = NgramLM.load(path) if kind == "load" else NgramLM.from_arpa(path)
    first = lm.score(sents[0])
    t1 = time.perf_counter()
    total = float(lm.score_batch(sents, num_threads=1)["total"].sum())
print(json.dumps({"load": t1 - t0, "total": total}))
"""


def bench_deploy(args, data, arpa: str, work: str) -> None:
    build_binary = os.path.join(os.path.dirname(find_lmplz(args.lmplz) or ""), "build_binary")
    sfb, sfbq = os.path.join(work, "model.sfb"), os.path.join(work, "model_q8.sfb")
    t0 = time.perf_counter()
    lm = NgramLM.from_arpa(arpa)
    t_arpa = time.perf_counter() - t0
    t0 = time.perf_counter()
    lm.save(sfb)
    t_save = time.perf_counter() - t0
    lm.save(sfbq, quantize=True)
    files = {"seqfast binary (save)": ("load", sfb), "seqfast binary, quantized 8-bit": ("load", sfbq),
             "seqfast from_arpa": ("arpa", arpa), "kenlm ARPA": ("kenlm", arpa)}
    if os.access(build_binary, os.X_OK):
        for name, opts in (("probing", ["probing"]), ("trie", ["trie"]), ("trie -q 8 -b 8", ["-q", "8", "-b", "8", "trie"])):
            out = os.path.join(work, f"kenlm_{name.split()[0]}{'_q8' if '-q' in name else ''}.binary")
            run_child([build_binary, "-s", *opts, arpa, out], os.path.join(work, "build_binary.log"))
            files[f"kenlm binary {name}"] = ("kenlm", out)
            files[f"seqfast load(kenlm {name})"] = ("load", out)
    else:
        print(f"   (no {build_binary}: bash benches/build_lmplz.sh builds it; KenLM binaries skipped)")
    print(f"\n4. Deployment: {lm!r}"[:300])
    print(f"   from_arpa {t_arpa:.1f} s in this process; save {t_save:.1f} s (with the query tables and fsync)")
    res = {}
    ref = None
    for name, (kind, path) in files.items():
        argv = [sys.executable, "-c", LOAD_CHILD, kind, path, data["held_path"]]
        warm = subprocess.run(argv, capture_output=True, text=True)  # warms the page cache
        if warm.returncode != 0:  # e.g. a KenLM probing file of a large vocabulary (see the README)
            print(f"   {name}: {warm.stderr.strip().splitlines()[-1][:200]}")
            continue
        runs = [run_child(argv, os.path.join(work, "load.log")) for _ in range(args.repeat)]
        out = [json.loads(r[2]) for r in runs]
        res[name] = (statistics.median(o["load"] for o in out), max(r[1] for r in runs), out[0]["total"], os.path.getsize(path))
        if name == "kenlm ARPA":
            ref = out[0]["total"]
    print(f"   {'':36} {'load+1st query s':>16} {'peak RSS MB':>11} {'file MB':>8} {'2000-sentence total vs kenlm':>30}")
    for name, (t, rss, total, size) in res.items():
        d = abs(total - ref) if ref is not None else float("nan")
        print(f"   {name:36} {t:16.3f} {rss:11.0f} {size / 1e6:8.0f} {d:30.3g}")
    record_table(["model file", "load + 1st query s", "peak RSS MB", "file MB", "total vs kenlm"],
                 [[name, f"{t:.3f}", f"{rss:.0f}", f"{size / 1e6:.0f}", f"{abs(total - ref) if ref is not None else float('nan'):.3g}"]
                  for name, (t, rss, total, size) in res.items()], label=0, title="n-gram LM deployment: a fresh process loads and scores")
    print("   (quantized files differ by design: the bound is printed below; every other row must be ~0)")
    q = NgramLM.load(sfbq)
    print(f"   quantization error bound {q.quantization_error:.4g} log10 per stored number (<= order x that per token)")
    ids, offsets = lm._m.word_ids(data["held"])
    n_tok = int(ids.size) + len(data["held"])
    mapped = NgramLM.load(sfb)
    assert np.array_equal(mapped.score_batch((ids, offsets), num_threads=1)["tokens"], lm.score_batch((ids, offsets), num_threads=1)["tokens"])
    times = interleaved({
        "from_arpa model, NumPy ids, 1 thread": lambda: lm.score_batch((ids, offsets), num_threads=1),
        "mapped binary, NumPy ids, 1 thread": lambda: mapped.score_batch((ids, offsets), num_threads=1),
        "mapped binary, list[str], 1 thread": lambda: mapped.score_batch(data["held"], num_threads=1),
    }, 3 * args.repeat)
    for k, t in times.items():
        print(f"   scoring {k:40} {fmt_rate(n_tok / t)} tokens/s")


# ---------------------------------------------------------------------------------------------
# 3. NLTK


def bench_nltk(args, data) -> None:
    try:
        import nltk
        from nltk.lm import MLE, KneserNeyInterpolated
        from nltk.lm.preprocessing import padded_everygram_pipeline
    except ImportError:
        print("\n3. NLTK: not installed (pip install nltk)")
        return
    order = 3
    train, n = [], 0
    for w in data["train_base"]:
        if n >= args.nltk_tokens:
            break
        train.append(w)
        n += len(w)
    score, m = [], 0
    for w in data["held_base"]:
        if m >= args.nltk_score_tokens:
            break
        score.append(w)
        m += len(w) + 1
    train_str = [" ".join(w) for w in train]
    score_str = [" ".join(w) for w in score]

    def nltk_fit(cls):
        grams, vocab = padded_everygram_pipeline(order, train)
        model = cls(order)
        model.fit(grams, vocab)
        return model

    def nltk_score(model, sents):
        out = []
        for s in sents:
            toks = ["<s>"] * (order - 1) + s + ["</s>"]
            for j in range(order - 1, len(toks)):
                out.append(model.logscore(toks[j], toks[j - order + 1 : j]))
        return np.array(out)

    t0 = time.perf_counter()
    kn = nltk_fit(KneserNeyInterpolated)
    t_fit_nltk = time.perf_counter() - t0
    t0 = time.perf_counter()
    nl = nltk_score(kn, score)
    t_score_nltk = time.perf_counter() - t0

    note = ""
    try:
        NgramLM.fit(train_str, order=order)
        fb = None
    except seqfast.SeqfastError as e:
        fb, note = (0.5, 1.0, 1.5), f" (discount_fallback 0.5 1 1.5: {e})"
    fit_sf = interleaved({"fit": lambda: NgramLM.fit(train_str, order=order, discount_fallback=fb)}, args.repeat)["fit"]
    sf = NgramLM.fit(train_str, order=order, discount_fallback=fb)
    score_sf = interleaved({"score": lambda: sf.score_batch(score_str, num_threads=1)}, args.repeat)["score"]
    toks = sf.score_batch(score_str)["tokens"]

    # finiteness; NLTK's non-finite scores should be exactly its <UNK> words
    words = [w for s in score for w in s + ["</s>"]]
    unk = np.array([kn.vocab.lookup(w) == "<UNK>" for w in words])
    fin_n, fin_s = np.isfinite(nl), np.isfinite(toks)
    print(f"\n3. NLTK {nltk.__version__} KneserNeyInterpolated vs seqfast kneser_ney{note}: order {order}, "
          f"fit on {n:,} tokens ({len(train):,} sentences), score {m:,} held-out tokens (words + </s>); "
          f"NLTK 1 run, seqfast median of {args.repeat}")
    print(f"   {'':26} {'NLTK s':>9} {'seqfast s':>10} {'NLTK/seqfast':>12}")
    print(f"   {'fit':26} {t_fit_nltk:9.3f} {fit_sf:10.5f} {t_fit_nltk / fit_sf:11.0f}x")
    print(f"   {'score (NLTK logscore)':26} {t_score_nltk:9.3f} {score_sf:10.5f} {t_score_nltk / score_sf:11.0f}x")
    record_table(["task", "NLTK s", "seqfast s", "NLTK/seqfast"],
                 [["fit", f"{t_fit_nltk:.3f}", f"{fit_sf:.5f}", f"{t_fit_nltk / fit_sf:.0f}x"],
                  ["score", f"{t_score_nltk:.3f}", f"{score_sf:.5f}", f"{t_score_nltk / score_sf:.0f}x"]], label=0,
                 title=f"NLTK KneserNeyInterpolated vs seqfast kneser_ney, order {order} (different smoothing: not compared number for number)",
                 ratios={"NLTK/seqfast": "NLTK"})
    print(f"   different smoothing (NLTK's KN is not KenLM's), so not compared number for number: finite scores "
          f"NLTK {fin_n.sum()}/{len(nl)}, seqfast {fin_s.sum()}/{len(toks)}; NLTK's non-finite ones "
          f"{'are exactly' if np.array_equal(~fin_n, unk) else 'are NOT exactly'} its {unk.sum()} <UNK> words "
          f"(NLTK's KN gives <UNK> probability 0)")
    # MLE: the same estimator in both, so compare numbers on training sentences (contexts all seen)
    mle = nltk_fit(MLE)
    check = train[: max(1, len(score))]
    a = nltk_score(mle, check) * math.log10(2.0)  # NLTK logscore is log2
    b = NgramLM.fit(train_str, order=order, smoothing="mle").score_batch([" ".join(w) for w in check])["tokens"]
    dm = np.abs(a - b)
    print(f"   MLE check on {len(a):,} training tokens: NLTK MLE vs seqfast mle max |diff| (log10) {dm.max():.2g} "
          f"-> {'AGREE' if dm.max() < 1e-6 else 'DISAGREE'}")


# ---------------------------------------------------------------------------------------------


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tokens", type=int, default=10_000_000, help="training tokens (words, not </s>)")
    ap.add_argument("--heldout-tokens", type=int, default=1_000_000)
    ap.add_argument("--order", type=int, default=5)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--quick", "--smoke", action="store_true", help="tiny sizes, for smoke runs")
    ap.add_argument("--lmplz", default=None, help="lmplz binary (default: PATH, then ./.lmplz/bin/lmplz)")
    ap.add_argument("--lmplz-mem", default="4G",
                    help="lmplz -S; several comma-separated (e.g. 4G,1G) time each, the first is the reference")
    ap.add_argument("--corpus", default=os.path.join(ROOT, "bench-data", "en.txt"))
    ap.add_argument("--small-model", type=float, default=0.1,
                    help="also score with a model from this fraction of the training lines (0: skip)")
    ap.add_argument("--nltk-tokens", type=int, default=20_000)
    ap.add_argument("--nltk-score-tokens", type=int, default=2_000)
    ap.add_argument("--workdir", default=None, help="where the text and ARPA files go (default: a temp dir)")
    ap.add_argument("--keep", action="store_true", help="keep the work dir")
    ap.add_argument("--parts", default="estimate,score,deploy,nltk", help="comma-separated subset of estimate,score,deploy,nltk")
    json_option(ap)
    args = ap.parse_args()
    json_start(args.json)
    parts = set(args.parts.split(","))
    if parts - {"estimate", "score", "deploy", "nltk"}:
        sys.exit(f"--parts: unknown {sorted(parts - {'estimate', 'score', 'deploy', 'nltk'})}")
    if args.quick:
        args.tokens, args.heldout_tokens, args.repeat = 200_000, 50_000, 1
        args.nltk_tokens, args.nltk_score_tokens, args.small_model = 5_000, 300, 0

    lmplz = find_lmplz(args.lmplz)
    if not lmplz:
        sys.exit("lmplz not found: bash benches/build_lmplz.sh (or --lmplz PATH)")
    corpus = args.corpus
    if not os.path.isfile(corpus):
        sys.exit(f"{corpus} not found: bash ../shared/corpus/build.sh bench-data")
    import kenlm  # noqa: F401  (fail early)

    if not os.access(TIME, os.X_OK):
        sys.exit(f"{TIME} not found: apt-get install time")

    work = args.workdir or tempfile.mkdtemp(prefix="seqfast-bench-lm-", dir="/tmp")
    os.makedirs(work, exist_ok=True)
    try:
        mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
        print(f"machine: {cpu_name()}, {os.cpu_count()} cpus, {mem:.0f} GiB; python {platform.python_version()}; "
              f"seqfast {seqfast.__version__}; lmplz {lmplz}; load average {os.getloadavg()[0]:.2f}")
        data = make_data(corpus, args.tokens, args.heldout_tokens, work)
        print(f"text: {os.path.relpath(corpus)} lines as sentences, whitespace-normalised; {data['distinct_tokens']:,} "
              f"distinct training tokens" + (f", the text {data['train_tokens'] / data['distinct_tokens']:.2f} times with copies relabelled (word~k)"
                 if data["copies"] > 1 else "")
              + f"; held-out every 10th line ({data['held_copies']} cop{'ies' if data['held_copies'] > 1 else 'y'}): {data['held_tokens']:,} tokens")
        print("note: lmplz splits words on space, tab, CR and NUL only; seqfast on Unicode whitespace (also VT, FF, "
              "U+0085, U+00A0, U+2000.., U+3000, ...) but not NUL, so the text is normalised first")

        if "estimate" in parts:
            arpa = bench_estimation(args, data, lmplz, work)
        else:
            arpa = os.path.join(work, "lmplz.arpa")
            run_child([lmplz, "-o", str(args.order), "-S", args.lmplz_mem.split(",")[0], "-T", work, "--text", data["train"],
                       "--arpa", arpa], os.path.join(work, "lmplz.log"))
        if "score" in parts:
            bench_scoring(args, data, arpa, f"full model ({data['train_tokens']:,} training tokens)")
        if "score" in parts and args.small_model > 0:
            step = max(1, round(1 / args.small_model))
            small_txt = os.path.join(work, "train_small.txt")
            n = 0
            with open(data["train"], encoding="utf-8") as f, open(small_txt, "w", encoding="utf-8") as g:
                for i, line in enumerate(f):
                    if i % step == 0:
                        g.write(line)
                        n += len(line.split())
            small_arpa = os.path.join(work, "small.arpa")
            run_child([lmplz, "-o", str(args.order), "-S", args.lmplz_mem.split(",")[0], "-T", work, "--text", small_txt,
                       "--arpa", small_arpa], os.path.join(work, "lmplz_small.log"))
            bench_scoring(args, data, small_arpa, f"small model (every {step}th training line, {n:,} tokens)")
        if "deploy" in parts:
            bench_deploy(args, data, arpa, work)
        if "nltk" in parts:
            bench_nltk(args, data)
        print(f"load average at the end {os.getloadavg()[0]:.2f}")
    finally:
        if args.keep:
            print(f"(work files kept in {work})")
        elif args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
