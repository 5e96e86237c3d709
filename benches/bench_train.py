#!/usr/bin/env python3
"""BPE training: seqfast vs Hugging Face `BpeTrainer` (same pre-tokenizer) and sentencepiece BPE.

Each trainer runs in its own subprocess (so thread counts are set before the library loads and
peak memory is measured per run) at 1 and 2 threads. The corpus is split 90/10: train on the
first part, report bytes per token on the held-out part (compression), so the speed comparison
is between trainers that do the same job equally well. seqfast's merges must be identical at 1
and 2 threads.

    python benches/bench_train.py                         # bench-data/mixed.txt (build.sh), 32k vocab
    python benches/bench_train.py --corpus F --vocab-size 8000 --repeat 3
    python benches/bench_train.py --smoke                 # tiny corpus, for CI smoke runs
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

from _timing import json_option, json_start, record_table

CL100K_PORTABLE = (
    r"'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s+\z|\s*[\r\n]|\s+(?!\S)|\s"
)

CHILD = r"""
import json, os, resource, sys, time
kind, train_path, held_path, vocab, out = sys.argv[1:6]
vocab = int(vocab)
held = open(held_path, encoding="utf-8").read()
t0 = time.perf_counter()
if kind == "seqfast":
    import seqfast
    tok = seqfast.train_bpe([train_path], vocab_size=vocab, pattern="cl100k", min_frequency=2)
    dt = time.perf_counter() - t0
    n = len(tok.encode(held, special="text"))
    tok.save(out)
elif kind == "hf":
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(sys.argv[6]), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    tr = trainers.BpeTrainer(vocab_size=vocab, min_frequency=2, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                             show_progress=False)
    tok.train([train_path], tr)
    dt = time.perf_counter() - t0
    n = len(tok.encode(held, add_special_tokens=False).ids)
elif kind == "spm":
    import sentencepiece as spm
    threads = int(os.environ.get("RAYON_NUM_THREADS", "1"))
    spm.SentencePieceTrainer.train(input=train_path, model_prefix=out, vocab_size=vocab, model_type="bpe",
        byte_fallback=True, character_coverage=0.9995, num_threads=threads, input_sentence_size=0,
        max_sentence_length=1 << 20, minloglevel=2, split_digits=True, train_extremely_large_corpus=False)
    dt = time.perf_counter() - t0
    sp = spm.SentencePieceProcessor(model_file=out + ".model")
    n = len(sp.encode(held))
print(json.dumps({"seconds": dt, "tokens": n, "held_bytes": len(held.encode()),
                  "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def run(kind: str, threads: int, train: str, held: str, vocab: int, out: str) -> dict:
    env = dict(os.environ, RAYON_NUM_THREADS=str(threads), SEQFAST_NUM_THREADS=str(threads), OMP_NUM_THREADS="1",
               OPENBLAS_NUM_THREADS="1")
    p = subprocess.run([sys.executable, "-c", CHILD, kind, train, held, str(vocab), out, CL100K_PORTABLE],
                       env=env, capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"{kind} failed:\n{p.stderr[-2000:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", default=os.path.join(os.path.dirname(__file__), "..", "bench-data", "mixed.txt"))
    ap.add_argument("--vocab-size", type=int, default=32000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, nargs="*", default=[1, 2])
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--no-spm", action="store_true")
    json_option(ap)
    args = ap.parse_args()
    json_start(args.json)

    tmp = tempfile.mkdtemp(prefix="seqfast-bench-")
    if args.smoke or not os.path.isfile(args.corpus):
        import sysconfig

        if not args.smoke:
            print(f"({args.corpus} not found: using stdlib sources; build corpora with ../shared/corpus/build.sh)")
        root = sysconfig.get_paths()["stdlib"]
        names = ["os.py", "json/decoder.py", "argparse.py"] if args.smoke else sorted(
            f for f in os.listdir(root) if f.endswith(".py"))
        text = "".join(open(os.path.join(root, f), encoding="utf-8", errors="replace").read() for f in names)
        args.vocab_size = min(args.vocab_size, 2000) if args.smoke else args.vocab_size
        args.repeat = 1 if args.smoke else args.repeat
    else:
        text = open(args.corpus, encoding="utf-8").read()
    cut = text.rfind("\n", 0, int(len(text) * 0.9)) + 1
    train, held = os.path.join(tmp, "train.txt"), os.path.join(tmp, "held.txt")
    with open(train, "w", encoding="utf-8") as f:
        f.write(text[:cut])
    with open(held, "w", encoding="utf-8") as f:
        f.write(text[cut:])
    mb = len(text[:cut].encode()) / 1e6

    kinds = ["seqfast", "hf"]
    try:
        import sentencepiece  # noqa: F401  (availability check)

        if not args.no_spm:
            kinds.append("spm")
    except ImportError:
        print("(sentencepiece not installed: pip install sentencepiece to add it)")
    import platform

    print(f"corpus: {mb:.1f} MB train + held-out {len(text[cut:].encode()) / 1e6:.1f} MB; vocab {args.vocab_size}; "
          f"median of {args.repeat}; {os.cpu_count()} cpus; python {platform.python_version()}")
    results = {}
    merges = {}
    for t in args.threads:
        for kind in kinds:
            runs = [run(kind, t, train, held, args.vocab_size, os.path.join(tmp, f"{kind}{t}.json")) for _ in range(args.repeat)]
            results[(kind, t)] = {
                "seconds": statistics.median(r["seconds"] for r in runs),
                "maxrss_mb": max(r["maxrss_mb"] for r in runs),
                "bytes/token": runs[0]["held_bytes"] / runs[0]["tokens"],
            }
            if kind == "seqfast":
                merges[t] = json.load(open(os.path.join(tmp, f"seqfast{t}.json")))["model"]["merges"]
    same = all(merges[t] == merges[args.threads[0]] for t in merges)
    print(f"seqfast merges identical across threads {sorted(merges)}: {same}")
    print(f"{'trainer':>10} {'threads':>7} {'seconds':>8} {'MB/s':>6} {'peak MB':>8} {'bytes/tok':>9} {'HF/this':>8}")
    table = []
    for (kind, t), r in results.items():
        hf = results.get(("hf", t))
        ratio = hf["seconds"] / r["seconds"] if hf else float("nan")
        print(f"{kind:>10} {t:>7} {r['seconds']:>8.2f} {mb / r['seconds']:>6.1f} {r['maxrss_mb']:>8.0f} "
              f"{r['bytes/token']:>9.3f} {ratio:>8.2f}")
        table.append([kind, t, f"{r['seconds']:.2f}", f"{mb / r['seconds']:.1f}", f"{r['maxrss_mb']:.0f}", f"{r['bytes/token']:.3f}"])
    record_table(["trainer", "threads", "seconds", "MB/s", "peak MB", "bytes/token (held-out)"], table,
                 title=f"BPE training, vocab {args.vocab_size}, {mb:.1f} MB", label=[0, 1])
    vs = [[t, *(f"{results[(k, t)]['seconds'] / results[('seqfast', t)]['seconds']:.2f}x" if (k, t) in results else "-"
                for k in ("hf", "spm"))] for t in args.threads]
    record_table(["threads", "vs HF BpeTrainer", "vs sentencepiece"], vs, title="BPE training: seqfast speed-up (peer seconds / seqfast seconds)",
                 label=0, ratios={"vs HF BpeTrainer": "HF tokenizers", "vs sentencepiece": "sentencepiece"})
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
