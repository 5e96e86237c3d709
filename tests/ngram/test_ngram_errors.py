"""Bad input to seqfast.ngram: malformed ARPA files raise FormatError naming the line; bad
arguments to NgramLM.fit / score / generate / perplexity and to ngram.count raise SeqfastError,
ArgumentTypeError or ShapeError naming the argument. (Binary-file errors: test_ngram_binary.py.)"""

from __future__ import annotations

import numpy as np
import pytest

import seqfast
from seqfast import ngram
from seqfast.ngram import NgramLM

from _ngram_data import arpa_text, text


GOOD = arpa_text("students.o3")


@pytest.mark.parametrize(
    "mutate,match",
    [
        (lambda s: s.replace("ngram 2=", "ngram 2=1", 1), "declares"),
        # a header claiming a billion n-grams: a clear error, not a billion-row allocation
        (lambda s: s.replace("ngram 3=", "ngram 3=1000000000", 1), "declares"),
        (lambda s: s.replace("ngram 3=", "ngram 4=", 1), "expected 'ngram 3"),
        (lambda s: s[: s.rindex("\n", 0, len(s) // 2) + 1], "ends"),
        (lambda s: s.replace("\\end\\", ""), "end"),
        (lambda s: s.replace("\\2-grams:", "\\9-grams:"), "2-grams"),
        (lambda s: s.replace("2-grams:\n-", "2-grams:\nx", 1), "not a number"),
        (lambda s: s.replace("\\data\\", "data"), "data"),
        (lambda s: s.replace("\t<s>\t", "\t<s>\tnan\t", 1), "fields|number"),
        (lambda s: "\n".join(ln.replace("\t", "\tnan\t", 1) if ln.startswith("-") and ln.count("\t") == 1 else ln for ln in s.split("\n")), "fields|number|finite"),
    ],
)
def test_malformed_arpa(mutate, match):
    bad = mutate(GOOD)
    with pytest.raises(seqfast.FormatError, match=match) as e:
        NgramLM.from_arpa_str(bad)
    assert "line" in str(e.value)


def test_bad_arguments(tmp_path):
    with pytest.raises(seqfast.SeqfastError, match="order"):
        NgramLM.fit("a b", order=0)
    with pytest.raises(seqfast.SeqfastError, match="empty"):
        NgramLM.fit("", order=2)
    with pytest.raises(seqfast.SeqfastError, match="empty"):
        NgramLM.fit([np.zeros(0, np.uint32)], order=2)
    with pytest.raises(seqfast.SeqfastError, match="line 2"):
        NgramLM.fit("a b\nc <s> d\n", order=2)
    with pytest.raises(seqfast.SeqfastError, match="NaN"):
        NgramLM.fit("a b", order=2, smoothing="add_k", k=float("nan"))
    with pytest.raises(seqfast.SeqfastError, match="alpha"):
        NgramLM.fit("a b", order=2, smoothing="stupid_backoff", alpha=2.0)
    with pytest.raises(seqfast.SeqfastError, match="smoothing"):
        NgramLM.fit("a b", order=2, smoothing="witten_bell")
    with pytest.raises(seqfast.SeqfastError, match="outside"):
        NgramLM.fit([np.array([1, 9], np.uint32)], order=2, vocab_size=5)
    lm = NgramLM.fit(text("zipf"), order=2, smoothing="mle")
    with pytest.raises(seqfast.SeqfastError, match="ARPA"):
        lm.to_arpa()
    with pytest.raises(seqfast.SeqfastError, match="temperature"):
        lm.generate(temperature=float("nan"))
    with pytest.raises(seqfast.SeqfastError, match="perplexity"):
        lm.perplexity([np.zeros(0, np.uint32)], eos=False)
    with pytest.raises(FileNotFoundError):
        NgramLM.from_arpa(tmp_path / "nope.arpa")
    with pytest.raises(seqfast.ShapeError):
        lm.score_batch((np.array([3], np.uint32), np.array([0, 5], np.int64)))


def test_count_errors():
    with pytest.raises(seqfast.SeqfastError, match="order"):
        ngram.count(np.zeros(3, dtype=np.uint32), order=0)
    with pytest.raises(seqfast.SeqfastError, match="128-bit"):
        ngram.count(np.array([2**31], dtype=np.uint32), order=5)
    with pytest.raises(seqfast.ArgumentTypeError):
        ngram.count("some text", order=2)
    with pytest.raises(seqfast.SeqfastError, match=r"tokens\[0\]\[0\] = -1 is not a valid token id"):
        ngram.count([np.array([-1])], order=2)  # a wrong value: SeqfastError (DecodeError is for decoding)
    with pytest.raises(seqfast.ShapeError):
        ngram.count((np.zeros(3, dtype=np.uint32), np.array([0, 5], dtype=np.int64)), order=2)
    with pytest.raises(seqfast.SeqfastError):
        ngram.count(np.zeros(3, dtype=np.uint32), order=2, bos=-1)
    c = ngram.count(np.zeros(3, dtype=np.uint32), order=2)
    with pytest.raises(seqfast.SeqfastError):
        c[[0, 0, 0]]
    with pytest.raises(seqfast.ShapeError):
        c + ngram.count(np.zeros(3, dtype=np.uint32), order=3)
    empty = ngram.count([], order=3)
    assert [empty.num_ngrams(n) for n in (1, 2, 3)] == [0, 0, 0]
