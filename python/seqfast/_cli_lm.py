"""`seqfast lm build | score | ppl`: n-gram language models from the command line.

``build`` mirrors KenLM's ``lmplz``: text in (files or stdin, one sentence per line), ``-o ORDER``,
ARPA out (``--arpa FILE`` or stdout). Stage messages go to stderr on a TTY unless ``--quiet``.
"""

from __future__ import annotations

import argparse
import sys
import time

from seqfast.ngram import NgramLM


def _stage(a: argparse.Namespace, msg: str, t0: float) -> None:
    if not a.quiet and sys.stderr.isatty():
        print(f"[{time.perf_counter() - t0:7.2f}s] {msg}", file=sys.stderr, flush=True)


def _text(a: argparse.Namespace) -> str:
    from seqfast.cli import _as_text, _read_input

    inputs = a.inputs or ["-"]
    parts = [_as_text(_read_input(p), "<stdin>" if p == "-" else p) for p in inputs]
    # each file ends its last sentence, so files never run into each other
    return "".join(p if p.endswith("\n") or not p else p + "\n" for p in parts)


def cmd_lm_build(a: argparse.Namespace) -> int:
    from seqfast.cli import EXIT_OK

    t0 = time.perf_counter()
    text = _text(a)
    _stage(a, f"read {len(text):,} characters; estimating order {a.order} ({a.smoothing})", t0)
    fb = tuple(a.discount_fallback) if a.discount_fallback else None
    lm = NgramLM.fit(text, order=a.order, smoothing=a.smoothing, discount_fallback=fb, num_threads=a.threads)
    _stage(a, f"estimated {lm.num_ngrams()} n-grams; writing ARPA", t0)
    if a.arpa in (None, "-"):
        sys.stdout.write(lm.to_arpa())
        sys.stdout.flush()
    else:
        lm.to_arpa(a.arpa, num_threads=a.threads)
    _stage(a, "done", t0)
    return EXIT_OK


def _score(a: argparse.Namespace):
    lm = NgramLM.from_arpa(a.model)
    sentences = _text(a).split("\n")
    if sentences and sentences[-1] == "":
        sentences.pop()
    if not sentences:
        from seqfast import SeqfastError

        raise SeqfastError("no sentences to score")
    return lm.score_batch(sentences, bos=not a.no_bos, eos=not a.no_eos, num_threads=a.threads)


def cmd_lm_score(a: argparse.Namespace) -> int:
    from seqfast.cli import EXIT_OK

    s = _score(a)
    out = sys.stdout
    if a.per_token:
        tok, off = s["tokens"], s["offsets"]
        for i in range(len(s["total"])):
            out.write(" ".join(f"{x:.6g}" for x in tok[off[i] : off[i + 1]].tolist()) + "\n")
    else:
        out.write("".join(f"{x:.6f}\n" for x in s["total"].tolist()))
    out.flush()
    return EXIT_OK


def cmd_lm_ppl(a: argparse.Namespace) -> int:
    from seqfast.cli import EXIT_OK

    s = _score(a)
    n = len(s["tokens"])
    total = float(s["total"].sum())
    oov = int(s["oov"].sum())
    ppl = 10.0 ** (-total / n) if n else float("nan")
    print(f"sentences: {len(s['total'])}\ttokens: {n}\toov: {oov}\tlog10: {total:.4f}\tperplexity: {ppl:.4f}")
    return EXIT_OK


def add_parsers(sub, positive_int) -> None:
    lm = sub.add_parser("lm", help="n-gram language models (build ARPA like lmplz, score, perplexity)")
    lsub = lm.add_subparsers(dest="lm_command", metavar="LM_COMMAND", required=True)

    b = lsub.add_parser("build", help="estimate a model from text (one sentence per line) and write ARPA")
    b.add_argument("inputs", nargs="*", help="UTF-8 text files (default stdin)")
    b.add_argument("-o", "--order", type=positive_int, required=True, help="order of the model (as lmplz -o)")
    b.add_argument("--arpa", default=None, help="output ARPA file (default stdout); written atomically")
    b.add_argument("--smoothing", default="kneser_ney", choices=["kneser_ney"], help="only back-off models have an ARPA form")
    b.add_argument("--discount-fallback", type=float, nargs=3, metavar=("D1", "D2", "D3"), default=None)
    b.set_defaults(func=cmd_lm_build)

    for name, fn, what in (("score", cmd_lm_score, "log10 probability of each sentence"), ("ppl", cmd_lm_ppl, "perplexity of the text")):
        sp = lsub.add_parser(name, help=what)
        sp.add_argument("inputs", nargs="*", help="UTF-8 text, one sentence per line (default stdin)")
        sp.add_argument("-m", "--model", required=True, help="ARPA model file")
        sp.add_argument("--no-bos", action="store_true", help="do not start sentences with <s>")
        sp.add_argument("--no-eos", action="store_true", help="do not score </s> at the end")
        if name == "score":
            sp.add_argument("--per-token", action="store_true", help="print every token's log10 probability")
        sp.set_defaults(func=fn)

    for sp in (b, *[lsub.choices[n] for n in ("score", "ppl")]):
        sp.add_argument("--threads", type=positive_int, default=None)
        sp.add_argument("-q", "--quiet", action="store_true")
