"""seqfast's sentencepiece `.model` encoder against `SentencePieceProcessor.encode`.

    python benches/bench_sentencepiece.py [--corpus-dir DIR] [--repeat 7] [--smoke]

Models are trained here with sentencepiece on a sample of the corpus (Unigram and BPE, 8000
pieces, nmt_nfkc; BPE also with byte_fallback). Corpora: en.txt, multi.txt, mixed.txt from
`bash ../shared/corpus/build.sh DIR` when present, else generated text (Python stdlib source
plus generated multilingual sentences). For every model and corpus the ids are checked equal
first (every document), then timed side by side: one `encode(doc)` call per ~4 KB document
(both single-threaded), and the batch call over all documents at 1 and 2 threads (spm's
`encode(list, num_threads=n)` against seqfast's `encode_batch(docs, num_threads=n)`). Medians
of `--repeat` runs, order alternated; MB/s of UTF-8 input and the ratio are printed. seqfast's
word caches are cleared before each of its runs (cold, as sentencepiece has none) unless
`--warm`.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))

from _timing import cpu_name, docs_of, fmt, print_table, timed_pair, json_option, json_start  # noqa: E402

import seqfast  # noqa: E402
from seqfast._sentencepiece import from_sentencepiece  # noqa: E402

try:
    import sentencepiece as spm
except ImportError:
    sys.exit("pip install sentencepiece")

_SCRIPTS = [(0x61, 0x7A), (0xE0, 0xFF), (0x3B1, 0x3C9), (0x430, 0x44F), (0x5D0, 0x5EA), (0x627, 0x64A),
            (0x905, 0x939), (0x3041, 0x3096), (0x30A1, 0x30FA), (0x4E00, 0x4FFF), (0xAC00, 0xAD00)]


def generated_multi(n_bytes: int, seed: int = 0) -> str:
    """Sentences of words drawn from a Zipf-like vocabulary in eleven scripts, with digits,
    punctuation and the odd emoji."""
    rng = random.Random(seed)
    vocab = []
    for lo, hi in _SCRIPTS:
        for _ in range(400):
            vocab.append("".join(chr(rng.randint(lo, hi)) for _ in range(rng.randint(1, 8))))
    weights = [1.0 / (i + 1) for i in range(len(vocab))]
    rng.shuffle(vocab)
    out, size = [], 0
    while size < n_bytes:
        words = rng.choices(vocab, weights, k=rng.randint(4, 20))
        if rng.random() < 0.3:
            words.append(str(rng.randint(0, 10**6)))
        if rng.random() < 0.05:
            words.append(rng.choice("😀👍🏽🎉✔"))
        s = " ".join(words) + rng.choice([".", "!", "?", ",", "。"]) + "\n"
        out.append(s)
        size += len(s.encode())
    return "".join(out)


def load_corpora(args) -> dict[str, str]:
    if args.smoke:
        return {"multi": generated_multi(200_000)}
    out = {}
    for name in ("en", "multi", "mixed"):
        p = os.path.join(args.corpus_dir, f"{name}.txt")
        if os.path.isfile(p):
            with open(p, encoding="utf-8") as f:
                out[name] = f.read()[: args.max_mb << 20]
    if out:
        return out
    import sysconfig

    root = sysconfig.get_paths()["stdlib"]
    parts, size = [], 0
    for d, dirs, files in os.walk(root):
        dirs[:] = sorted(x for x in dirs if x not in ("site-packages", "test", "__pycache__"))
        for f in sorted(files):
            if f.endswith(".py") and size < args.max_mb << 20:
                try:
                    parts.append(open(os.path.join(d, f), encoding="utf-8").read())
                    size += len(parts[-1])
                except UnicodeDecodeError:
                    pass
    print(f"(no corpora in {args.corpus_dir}; using generated text: stdlib source and multilingual sentences)")
    return {"stdlib": "".join(parts)[: args.max_mb << 20], "multi": generated_multi(args.max_mb << 20)}


def train(text: str, d: str, name: str, **kw) -> str:
    sample = os.path.join(d, "sample.txt")
    with open(sample, "w", encoding="utf-8") as f:
        f.write(text[: 3 << 20])
    prefix = os.path.join(d, name)
    spm.SentencePieceTrainer.train(input=sample, model_prefix=prefix, vocab_size=8000, minloglevel=2,
                                   hard_vocab_limit=False, num_threads=2, **kw)
    return prefix + ".model"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus-dir", default=os.path.join(os.path.dirname(__file__), "..", "bench-data"))
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--max-mb", type=int, default=4, help="MiB of each corpus to use")
    ap.add_argument("--smoke", action="store_true", help="tiny run (CI)")
    ap.add_argument("--warm", action="store_true", help="keep seqfast's word caches between runs")
    json_option(ap)
    args = ap.parse_args()
    json_start(args.json)
    if args.smoke:
        args.repeat = 1
    corpora = load_corpora(args)
    print(f"machine: {cpu_name()}, {os.cpu_count()} CPUs; seqfast {seqfast.__version__}, sentencepiece {spm.__version__}")
    rows = []
    worst = None
    with tempfile.TemporaryDirectory() as d:
        train_text = "".join(t[: 1 << 20] for t in corpora.values())
        models = {
            "unigram": train(train_text, d, "uni", model_type="unigram"),
            "bpe": train(train_text, d, "bpe", model_type="bpe"),
            "bpe+bytes": train(train_text, d, "bpeb", model_type="bpe", byte_fallback=True),
        }
        for mname, path in models.items():
            ref = spm.SentencePieceProcessor(model_file=path)
            ours = from_sentencepiece(path)
            for cname, text in corpora.items():
                docs = docs_of(text)
                mb = len(text.encode()) / 1e6
                want = ref.encode(docs, num_threads=1)
                for doc, w in zip(docs, want):
                    got = ours.encode(doc).tolist()
                    if got != w:
                        sys.exit(f"ids differ on {mname}/{cname} for {doc[:80]!r}: {got[:20]} vs {w[:20]}")
                b = ours.encode_batch(docs, num_threads=2)
                if [r.tolist() for r in b] != want:
                    sys.exit(f"batch ids differ on {mname}/{cname}")
                # seqfast's word caches are dropped before each of its runs unless --warm.
                clear = (lambda: None) if args.warm else ours.clear_caches

                cases = {
                    "encode x docs": ({"sp": lambda: [ref.encode(x) for x in docs],
                                       "sf": lambda: (clear(), [ours.encode(x) for x in docs])}),
                    "batch, 1 thread": ({"sp": lambda: ref.encode(docs, num_threads=1),
                                         "sf": lambda: (clear(), ours.encode_batch(docs, num_threads=1))}),
                    "batch, 2 threads": ({"sp": lambda: ref.encode(docs, num_threads=2),
                                          "sf": lambda: (clear(), ours.encode_batch(docs, num_threads=2))}),
                }
                for case, fns in cases.items():
                    med, spread, other = timed_pair(fns, args.repeat, 1)
                    ratio = med["sp"] / med["sf"]
                    worst = ratio if worst is None else min(worst, ratio)
                    rows.append([mname, cname, f"{mb:.1f}", case, f"{mb / med['sp'] * 1e3:.1f}",
                                 f"{mb / med['sf'] * 1e3:.1f}", f"{ratio:.2f}x", fmt(other, ".2f")])
    print_table(["model", "corpus", "MB", "call", "spm MB/s", "seqfast MB/s", "speedup", "other CPUs"], rows, 2, label=[0, 1, 3],
                title="sentencepiece .model files vs SentencePieceProcessor", ratios={"speedup": "sentencepiece"})
    print(f"\nmedians of {args.repeat} runs; ids checked equal on every document first. worst speedup {worst:.2f}x "
          f"(target >= 3x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
