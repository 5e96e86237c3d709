#!/usr/bin/env python3
"""search.NgramScorer before and after the children index (issue 16, part 7), in one run.

"before" is the per-word rule that NgramScorer used until now (one query per vocabulary word,
V per hypothesis row: `Model::step` for each id), kept in the library as
``NgramScorer._per_word = True`` (rust/ngram/dist.rs `per_word`); "after" is the default
(rust/ngram/dist.rs `Dist::fill`: the unigram row plus the state's backoffs, overwritten at
the continuations of each context). Both run in the same process on the same model and prompts,
and must return identical hypotheses (tokens, finished, logprob bit for bit) before timing;
every result's logprob must also equal the LM's own score of its tokens.

Model: order-3 Kneser-Ney fitted on bench-data/en.txt (160,141 words; the issue's "160k-word
order-3 model"), else on Python's stdlib sources. Prompts: the first 3 words of random lines
(seed 0), as in bench_search.py.

Cases (sizes for the full run), all with min_len = max_len (</s> banned until then), so that
every search runs its full length and the work is known:
    greedy_b1    greedy, 1 prompt, 30 tokens                     target after/before >= 100x
    greedy_b8    greedy, 8 prompts, 30 tokens each               target after/before >= 100x
    beam8        beam search, beam 8, 2 prompts, 10 steps        (no target)
    beam16       beam search, beam 16, 1 prompt, 10 steps        (no target)
rows = distribution rows the scorer computes (greedy: one per generated token; beam: per item
1 at step 1, then `beam` per step); rows/s of the whole search call (Python call, search
bookkeeping and the argmax/top-k over V included).

Timing: "after" is the median of --reps runs after one warm-up, "before" one run (it is ~400x
slower; --before-reps to change), alternating. The first run builds the index (once per model,
timed separately and shown in the header). Each row shows the CPUs other processes took
meanwhile (/proc/stat; '!' above 0.15); use --wait-quiet on a shared machine.

    python benches/bench_ngram_scorer.py                 # all cases, 1 and 2 threads
    python benches/bench_ngram_scorer.py --quick         # 20k lines, short searches (< 1 min)
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import random
import sys
import time
from types import SimpleNamespace

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from _timing import NOISY, cpu_name, fmt, other_load, print_table, wait_quiet, _cpu_snapshot, json_option, json_start  # noqa: E402

TARGET = 100.0
CASES = {  # name: (mode, prompts, beam, max_len, has target)
    "greedy_b1": ("greedy", 1, 1, 30, True),
    "greedy_b8": ("greedy", 8, 1, 30, True),
    "beam8": ("beam", 2, 8, 10, False),
    "beam16": ("beam", 1, 16, 10, False),
}


def load_lines(corpus: str | None, limit: int) -> tuple[list[str], str]:
    from bench_search import load_corpus  # the same corpus rule as bench_search.py

    return load_corpus(SimpleNamespace(corpus=corpus, ngram_lines=limit))


def run_fn(search, lm, prompts, mode, beam, max_len, threads, per_word):
    def run():
        sc = search.NgramScorer(lm, prompts)
        sc._per_word = per_word
        kw = dict(batch_size=len(prompts), max_len=max_len, min_len=max_len, num_threads=threads)
        if mode == "greedy":
            return search.greedy(sc, **kw)
        return [h[0] for h in search.beam_search(sc, beam_width=beam, **kw)]
    return run


def check(lm, prompt_ids, before, after) -> list[str]:
    bad, ln10 = [], math.log(10.0)
    for i, (b, a) in enumerate(zip(before, after)):
        if b.tokens.tolist() != a.tokens.tolist() or b.finished != a.finished or b.logprob != a.logprob:
            bad.append(f"item {i}: before {b.tokens.tolist()} {b.logprob!r}, after {a.tokens.tolist()} {a.logprob!r}")
            continue
        toks = a.tokens.tolist()
        gen = toks[:-1] if a.finished else toks
        ids = np.concatenate([prompt_ids[i], np.array(gen, np.uint32)]).astype(np.uint32)
        want = ln10 * float(np.sum(lm.token_scores(ids, bos=True, eos=a.finished)[len(prompt_ids[i]):], dtype=np.float64))
        if not abs(want - a.logprob) <= 1e-3 + 1e-5 * abs(want):
            bad.append(f"item {i}: logprob {a.logprob:.6f} but the LM scores the tokens {want:.6f}")
    return bad


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", default=",".join(CASES), help=f"comma-separated subset of {','.join(CASES)}")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--reps", type=int, default=5, help="timed runs of 'after' (median; default 5)")
    ap.add_argument("--before-reps", type=int, default=1, help="timed runs of 'before' (default 1)")
    ap.add_argument("--corpus", default=None)
    ap.add_argument("--lines", type=int, default=0, help="first N lines of the corpus (0: all)")
    ap.add_argument("--order", type=int, default=3)
    ap.add_argument("--quick", "--smoke", action="store_true", help="20k lines, max length 5: a smoke run")
    ap.add_argument("--wait-quiet", type=float, default=0, metavar="SECONDS")
    json_option(ap)
    args = ap.parse_args()
    json_start(args.json)
    if args.quick:
        args.lines, args.reps = args.lines or 20000, min(args.reps, 3)
    import seqfast
    from seqfast import search
    from seqfast.ngram import NgramLM

    lines, source = load_lines(args.corpus, args.lines)
    t0 = time.perf_counter()
    lm = NgramLM.fit("\n".join(lines) + "\n", order=args.order)
    fit_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    lm.distribution(())  # builds the children index (once per model)
    index_s = time.perf_counter() - t0
    rnd = random.Random(0)
    long_lines = [w for w in (line.split() for line in lines) if len(w) >= 4]
    pool = [" ".join(w[:3]) for w in rnd.sample(long_lines, min(8, len(long_lines)))]
    threads = [int(t) for t in args.threads.split(",")]
    print(f"seqfast {seqfast.__version__} from {os.path.dirname(seqfast.__file__)}; {cpu_name()}; "
          f"{os.cpu_count()} CPUs; Python {platform.python_version()}")
    print(f"model: order {args.order} Kneser-Ney on {len(lines):,} lines of {source} in {fit_s:.1f} s; vocabulary "
          f"{len(lm.vocab):,}, n-grams {lm.num_ngrams()}; children index built in {index_s * 1e3:.0f} ms "
          f"(first distribution)")
    rows, failed = [], False
    for name in args.cases.split(","):
        mode, P, beam, max_len, has_target = CASES[name]
        if args.quick:
            max_len = min(max_len, 5)
        prompts = pool[:P]
        prompt_ids = [lm.ids(p) for p in prompts]
        for t in threads:
            before = run_fn(search, lm, prompts, mode, beam, max_len, t, True)
            after = run_fn(search, lm, prompts, mode, beam, max_len, t, False)
            rb, ra = before(), after()
            bad = check(lm, prompt_ids, rb, ra)
            tokens = sum(len(h.tokens) for h in ra)
            nrows = P * max_len if mode == "greedy" else P * (1 + beam * (max_len - 1))
            if tokens != P * max_len:
                bad.append(f"{tokens} tokens generated, expected {P * max_len} (min_len = max_len)")
            print(f"check {name} t={t}: {'OK' if not bad else 'MISMATCH'}: before == after for {len(ra)} items, "
                  f"{tokens} tokens, {nrows} rows; logprobs = LM scores", flush=True)
            for b in bad[:5]:
                print(f"    {b}")
            failed |= bool(bad)
            if args.wait_quiet > 0:
                wait_quiet(args.wait_quiet)
            snap = _cpu_snapshot()
            tb, ta = [], []
            for r in range(max(args.reps, args.before_reps)):
                for which in (("a", "b") if r % 2 == 0 else ("b", "a")):
                    if which == "b" and r >= args.before_reps:
                        continue
                    if which == "a" and r >= args.reps:
                        continue
                    t0 = time.perf_counter()
                    (after if which == "a" else before)()
                    (ta if which == "a" else tb).append(time.perf_counter() - t0)
            other = other_load(snap, _cpu_snapshot())
            mb, ma = float(np.median(tb)), float(np.median(ta))
            ratio = mb / ma
            met = "-" if not has_target else ("(quick)" if args.quick else ("yes" if ratio >= TARGET else "NO"))
            if bad:
                met = "MISMATCH"
            rows.append([name, str(P), str(beam), str(t), str(nrows), f"{nrows / mb:,.1f}", f"{nrows / ma:,.0f}", f"{mb * 1e3:,.0f}",
                         f"{ma * 1e3:,.1f}", f"{ratio:,.0f}x", f">= {TARGET:g}x" if has_target else "", met,
                         fmt(other, ".2f", "?") + (" !" if other is not None and other > NOISY else "")])
            print(f"  {name:<10} t={t} before {mb * 1e3:9.1f} ms ({nrows / mb:8.1f} rows/s)  after {ma * 1e3:8.2f} ms "
                  f"({nrows / ma:9.0f} rows/s)  {ratio:6.0f}x  (other processes {fmt(other, '.2f', '?')} CPUs)", flush=True)
    print()
    print_table(["case", "prompts", "beam", "thr", "rows", "before rows/s", "after rows/s", "before ms", "after ms", "after/before",
                 "target", "met", "other CPUs"], rows, right_from=1, label=[0, 3],
                title="NgramScorer full distribution: after vs before (seqfast's old per-word rule; no peer)")
    print()
    print("before: NgramScorer._per_word = True (the old rule: one query per word per row); after: the default; the same "
          "hypotheses were checked first")
    print(f"load average at the end {os.getloadavg()[0]:.2f}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
