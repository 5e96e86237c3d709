"""`seqfast lm build | score | ppl`: n-gram language models from the command line.

``build`` mirrors KenLM's ``lmplz``: text in (files or stdin, one sentence per line), ``-o ORDER``,
ARPA out (``--arpa FILE`` or stdout). Stage messages go to stderr on a TTY unless ``--quiet``.
"""

from __future__ import annotations

import argparse
import sys
import time

from seqfast import _core
from seqfast._lm import check_prune, discount_fallback
from seqfast.cli._io import EXIT_OK, add_common, as_text, positive_int, read_input, stream_inputs, to_fd1
from seqfast.ngram import NgramLM
from seqfast.search import NgramScorer, beam_search, greedy, sample


def _stage(a: argparse.Namespace, msg: str, t0: float) -> None:
    if not a.quiet and sys.stderr.isatty():
        print(f"[{time.perf_counter() - t0:7.2f}s] {msg}", file=sys.stderr, flush=True)


def _text(a: argparse.Namespace) -> str:
    inputs = a.inputs or ["-"]
    parts = [as_text(read_input(p), "<stdin>" if p == "-" else p) for p in inputs]
    # each file ends its last sentence, so files never run into each other
    return "".join(p if p.endswith("\n") or not p else p + "\n" for p in parts)


def cmd_lm_build(a: argparse.Namespace) -> int:
    """Text (files or stdin) is read and the ARPA written to stdout or a file by the core, in
    bounded buffers: no Python strings of the corpus or of the model."""
    t0 = time.perf_counter()
    names = ", ".join(a.inputs) if a.inputs else "<stdin>"
    _stage(a, f"estimating order {a.order} ({a.smoothing}) from {names}", t0)
    threads = a.threads
    m = _core.lm_fit_inputs(stream_inputs(a.inputs), a.order, a.smoothing, discount_fallback(a.discount_fallback),
                            check_prune(a.prune, a.order), threads)
    lm = NgramLM(m)
    _stage(a, f"estimated {lm.num_ngrams()} n-grams; writing ARPA", t0)
    if a.arpa not in (None, "-"):
        lm.to_arpa(a.arpa, num_threads=threads)
    elif to_fd1():
        _core.lm_write_arpa_stdout(m, threads)
    else:
        sys.stdout.write(lm.to_arpa())
        sys.stdout.flush()
    _stage(a, "done", t0)
    return EXIT_OK


_BINARY_MAGIC = (b"SQFNGRAM", b"mmap lm http://kheafield.com/code")  # seqfast's, KenLM's


def load_model(path: str) -> NgramLM:
    """``-m``: a binary model (seqfast's or KenLM's, told by their first bytes) or ARPA text."""
    with open(path, "rb") as f:
        head = f.read(64)
    if head.startswith(_BINARY_MAGIC):
        return NgramLM.load(path)
    return NgramLM.from_arpa(path)


def cmd_lm_binary(a: argparse.Namespace) -> int:
    t0 = time.perf_counter()
    lm = load_model(a.model)
    _stage(a, f"read {lm.num_ngrams()} n-grams; writing {a.output}", t0)
    lm.save(a.output, quantize=a.quantize)
    _stage(a, "done", t0)
    return EXIT_OK


def cmd_lm_score(a: argparse.Namespace) -> int:
    """Lines are read, scored and printed by the core in blocks (memory: the model plus a block)."""
    lm = load_model(a.model)
    inputs, threads = stream_inputs(a.inputs), a.threads
    out = _core.lm_score_inputs(lm._m, inputs, a.per_token, not a.no_bos, not a.no_eos, threads, to_fd1())
    if out is not None:  # None: the core wrote to fd 1 itself
        sys.stdout.buffer.write(out)
        sys.stdout.flush()
    return EXIT_OK


def cmd_lm_ppl(a: argparse.Namespace) -> int:
    lm = load_model(a.model)
    sentences, n, oov, total = _core.lm_ppl_inputs(lm._m, stream_inputs(a.inputs), not a.no_bos, not a.no_eos, a.threads)
    ppl = 10.0 ** (-total / n) if n else float("nan")
    print(f"sentences: {sentences}\ttokens: {n}\toov: {oov}\tlog10: {total:.4f}\tperplexity: {ppl:.4f}")
    return EXIT_OK


def cmd_generate(a: argparse.Namespace) -> int:
    """Continue each prompt line of the input (empty line: from the sentence start)."""
    lm = NgramLM.from_arpa(a.lm)
    text = _text(a)
    prompts = text.split("\n")
    if prompts and prompts[-1] == "":
        prompts.pop()
    if not prompts:
        prompts = [""]
    scorer = NgramScorer(lm, [p.split() for p in prompts])
    kw = dict(batch_size=len(prompts), max_len=a.max_len, min_len=a.min_len)
    if a.sample:
        hyps = [[h] for h in sample(scorer, seed=a.seed, temperature=a.temperature, top_k=a.top_k, top_p=a.top_p, **kw)]
    elif a.beam == 1:
        hyps = [[h] for h in greedy(scorer, **kw)]
    else:
        hyps = beam_search(scorer, beam_width=a.beam, n_best=a.n_best, length_penalty=a.length_penalty, alpha=a.alpha,
                           no_repeat_ngram_size=a.no_repeat_ngram_size, **kw)
    vocab, eos = lm.vocab, lm.eos
    out = sys.stdout
    for prompt, hs in zip(prompts, hyps):
        for h in hs:
            words = [vocab[t] for t in h.tokens.tolist() if t != eos]
            line = " ".join(([prompt] if prompt.strip() else []) + words)
            out.write(f"{h.score:.4f}\t{line}\n" if a.scores else line + "\n")
    out.flush()
    return EXIT_OK


def add_parsers(sub) -> None:
    """``generate`` and ``lm build | score | ppl | binary``."""
    g = sub.add_parser("generate", help="continue prompts (one per line of stdin/files) with an n-gram LM")
    g.add_argument("inputs", nargs="*", help="prompt files, one prompt per line (default stdin)")
    g.add_argument("--lm", required=True, help="ARPA model file")
    g.add_argument("--beam", type=positive_int, default=5, help="beam width (1: greedy)")
    g.add_argument("--max-len", type=positive_int, default=30)
    g.add_argument("--min-len", type=int, default=0)
    g.add_argument("--n-best", type=positive_int, default=1, help="continuations printed per prompt")
    g.add_argument("--length-penalty", default="none", choices=["none", "length", "gnmt"])
    g.add_argument("--alpha", type=float, default=1.0)
    g.add_argument("--no-repeat-ngram-size", type=int, default=0)
    g.add_argument("--sample", action="store_true", help="ancestral sampling instead of beam search")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--temperature", type=float, default=1.0)
    g.add_argument("--top-k", type=int, default=0)
    g.add_argument("--top-p", type=float, default=1.0)
    g.add_argument("--scores", action="store_true", help="print the score before each continuation")
    g.add_argument("-q", "--quiet", action="store_true")
    g.set_defaults(func=cmd_generate)


    lm = sub.add_parser("lm", help="n-gram language models (build ARPA like lmplz, binary models, score, perplexity)")
    lsub = lm.add_subparsers(dest="lm_command", metavar="LM_COMMAND", required=True)

    b = lsub.add_parser("build", help="estimate a model from text (one sentence per line) and write ARPA")
    b.add_argument("inputs", nargs="*", help="UTF-8 text files (default stdin)")
    b.add_argument("-o", "--order", type=positive_int, required=True, help="order of the model (as lmplz -o)")
    b.add_argument("--arpa", default=None, help="output ARPA file (default stdout); written atomically")
    b.add_argument("--smoothing", default="kneser_ney", choices=["kneser_ney"], help="only back-off models have an ARPA form")
    b.add_argument("--discount-fallback", type=float, nargs=3, metavar=("D1", "D2", "D3"), default=None)
    b.add_argument("--prune", type=int, nargs="+", metavar="T", default=None,
                   help="as lmplz --prune: drop n-grams whose count is <= T for their order (one T per order, the last "
                        "repeated, non-decreasing, 0 for unigrams), e.g. --prune 0 1 1 (after the input files)")
    b.set_defaults(func=cmd_lm_build)

    for name, fn, what in (("score", cmd_lm_score, "log10 probability of each sentence"), ("ppl", cmd_lm_ppl, "perplexity of the text")):
        sp = lsub.add_parser(name, help=what)
        sp.add_argument("inputs", nargs="*", help="UTF-8 text, one sentence per line (default stdin)")
        sp.add_argument("-m", "--model", required=True, help="model: ARPA, or binary (seqfast's from 'lm binary', or KenLM's)")
        sp.add_argument("--no-bos", action="store_true", help="do not start sentences with <s>")
        sp.add_argument("--no-eos", action="store_true", help="do not score </s> at the end")
        if name == "score":
            sp.add_argument("--per-token", action="store_true", help="print every token's log10 probability")
        sp.set_defaults(func=fn)

    bn = lsub.add_parser("binary", help="convert a model (ARPA) to seqfast's binary format, which NgramLM.load and -m map at once")
    bn.add_argument("model", help="input model: ARPA, or a binary model")
    bn.add_argument("output", help="output binary model file (written atomically)")
    bn.add_argument("--quantize", action="store_true", help="8-bit probabilities and backoffs (like KenLM's build_binary -q 8 -b 8)")
    bn.set_defaults(func=cmd_lm_binary)

    for sp in (b, bn, *[lsub.choices[n] for n in ("score", "ppl")]):
        add_common(sp, tokenizer=False)
