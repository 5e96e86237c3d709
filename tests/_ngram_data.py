"""The n-gram golden files in tests/data/ngram (corpora and the ARPA files KenLM's lmplz made
of them; see make_golden.sh), shared by the n-gram tests (reference, golden, API, CLI), with small ARPA helpers.

Import with ``from _ngram_data import ...`` (tests/ is on ``sys.path``: ``pythonpath`` in pyproject.toml).
"""

from __future__ import annotations

import functools
import os

import numpy as np

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "ngram")
FALLBACK = (0.5, 1.0, 1.5)

# (corpus, order, discount_fallback) -> DATA/{corpus}.o{order}.arpa, made by lmplz
GOLDEN = [
    ("kenlm_toy0", 3, FALLBACK),
    ("kenlm_toy1", 3, FALLBACK),
    ("kenlm_corpus_count", 3, FALLBACK),
    ("students", 1, FALLBACK),
    ("students", 3, FALLBACK),
    ("zipf", 2, None),
    ("zipf", 3, None),
    ("zipf", 5, None),
]

# (corpus, order, --prune thresholds, discount_fallback, tag) -> DATA/{corpus}.o{order}.p{tag}.arpa
PRUNED = [
    ("zipf", 3, (0, 1), None, "01"),
    ("zipf", 5, (0, 0, 1, 2), None, "0012"),
    ("students", 3, (0, 1), FALLBACK, "01"),
]


def text(name: str) -> str:
    """DATA/name.txt as text."""
    with open(os.path.join(DATA, name + ".txt"), encoding="utf-8") as f:
        return f.read()


@functools.lru_cache(maxsize=None)
def sentences(name: str) -> tuple:
    """Sentences of DATA/name.txt as lmplz reads them: one per line (an empty line is an empty
    sentence), split on whitespace."""
    lines = text(name).split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return tuple(tuple(line.split()) for line in lines)


def arpa_path(name: str) -> str:
    """DATA/name.arpa (``name`` like ``zipf.o5`` or ``kenlm_test``)."""
    return os.path.join(DATA, name + ".arpa")


def arpa_text(name: str) -> str:
    with open(arpa_path(name), encoding="utf-8") as f:
        return f.read()


def heldout(vocab, rng, n=200):
    """n random sentences over the model's words plus two unknown ones (rng: random.Random)."""
    words = [w for w in vocab if w not in ("<s>", "</s>", "<unk>")] + ["zzz-unknown", "qqq"]
    return [" ".join(rng.choice(words) for _ in range(rng.randint(0, 12))) for _ in range(n)]


def arpa_lines(s: str) -> dict:
    """ARPA n-gram lines as {(order, words): (prob, backoff)} with exact float32 values."""
    out, n = {}, 0
    for line in s.splitlines():
        if line.startswith("\\") and line.endswith("-grams:"):
            n = int(line[1:].split("-")[0])
            continue
        if not n or not line.strip() or line.startswith("\\"):
            continue
        f = line.split("\t")
        out[(n, f[1])] = (np.float32(f[0]), np.float32(f[2]) if len(f) > 2 else None)
    return out


def text_lines(s: str) -> list:
    """The non-blank lines of an ARPA text."""
    return [line for line in s.splitlines() if line.strip()]


def data_counts(s: str) -> list:
    """The "ngram N=count" lines of an ARPA header."""
    return [line for line in s.split("\\1-grams:")[0].splitlines() if line.startswith("ngram ")]
