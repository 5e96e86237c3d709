"""The n-gram golden files in tests/data/ngram (corpora and the ARPA files KenLM's lmplz made
of them; see make_golden.sh), shared by test_reference_lm.py and test_ngram_lm.py.

Import with ``from _ngram_data import ...`` (tests/ is on ``sys.path``: ``pythonpath`` in pyproject.toml).
"""

from __future__ import annotations

import functools
import os

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
