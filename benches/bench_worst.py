#!/usr/bin/env python3
"""Worst-case encode cost: doubling an adversarial input must cost at most ~2.2x the time.

Inputs that make naive BPE quadratic (one huge piece): a single repeated character, digit
runs, random bytes (decoded as Latin-1 so every byte is one character), random letters with no
spaces. For each, sizes 1, 2, 4, 8 MiB are encoded with the cl100k ranks and the time ratio of
each doubling is printed (tiktoken too, at the small sizes only: it is quadratic on some).

    python benches/bench_worst.py [--max-mib 8] [--repeat 3] [--tiktoken]
"""

from __future__ import annotations

import argparse
import os
import random
import sys

sys.path.insert(0, os.path.dirname(__file__))
from _common import CL100K, ranks_path, timed  # noqa: E402
from _timing import json_option, json_start, record_table  # noqa: E402

import seqfast  # noqa: E402


def inputs(n: int, rng: random.Random) -> dict[str, str]:
    letters = "abcdefghijklmnopqrstuvwxyz"
    return {
        "repeated 'a'": "a" * n,
        "digits": "".join(rng.choice("0123456789") for _ in range(n)),
        "random bytes": bytes(rng.getrandbits(8) for _ in range(n)).decode("latin-1"),
        "random letters": "".join(rng.choice(letters) for _ in range(n)),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--max-mib", type=int, default=8)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--tiktoken", action="store_true", help="also time tiktoken (up to 1 MiB)")
    json_option(ap)
    args = ap.parse_args()
    json_start(args.json)
    tok = seqfast.Tokenizer.from_tiktoken(ranks_path(), "cl100k")
    enc = None
    if args.tiktoken:
        import tiktoken
        from tiktoken.load import load_tiktoken_bpe

        enc = tiktoken.Encoding(name="w", pat_str=CL100K, mergeable_ranks=load_tiktoken_bpe(ranks_path()), special_tokens={})
    rng = random.Random(0)
    sizes = []
    s = 1 << 20
    while s <= args.max_mib << 20:
        sizes.append(s)
        s *= 2
    big = inputs(sizes[-1], rng)
    worst = 0.0
    table = []
    print(f"{'input':>15} " + " ".join(f"{sz >> 20:>6} MiB" for sz in sizes) + "   doubling ratios")
    for name, full in big.items():
        times = []
        for sz in sizes:
            text = full[:sz]
            times.append(timed(lambda: tok.encode(text, special="text"), args.repeat, cold=True))
        ratios = [b / a for a, b in zip(times, times[1:])]
        worst = max([worst, *ratios])
        print(f"{name:>15} " + " ".join(f"{t * 1e3:>8.0f}ms" for t in times) + "   " + " ".join(f"{r:.2f}" for r in ratios))
        table.append([name, *(f"{t * 1e3:.0f}" for t in times), " ".join(f"{r:.2f}" for r in ratios)])
        if enc is not None:
            small = full[: 1 << 18]
            ok = enc.encode_ordinary(small) == tok.encode(small, special="text").tolist()
            t_tk = [timed(lambda: enc.encode_ordinary(full[:k]), 1) for k in (1 << 17, 1 << 18)]
            print(f"{'':>15} tiktoken 128/256 KiB: {t_tk[0] * 1e3:.0f} / {t_tk[1] * 1e3:.0f} ms (ratio {t_tk[1] / t_tk[0]:.2f}); ids equal: {ok}")
    print(f"worst doubling ratio: {worst:.2f} (target <= 2.2)")
    record_table(["input", *(f"{sz >> 20} MiB ms" for sz in sizes), "doubling ratios"], table, label=0,
                 title=f"adversarial inputs: encode time as the input doubles (worst ratio {worst:.2f}, target <= 2.2; no peer)")
    return 0 if worst <= 2.2 else 1


if __name__ == "__main__":
    sys.exit(main())
