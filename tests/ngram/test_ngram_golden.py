"""seqfast.ngram.NgramLM against KenLM's lmplz: the golden ARPA files in tests/data/ngram
(make_golden.sh), bit for bit, with and without pruning. The readable reference is in
test_ngram_reference.py, the API in test_ngram_api.py, bad input in test_ngram_errors.py and the
`kenlm` module as a peer in test_ngram_parity_kenlm*.py."""

from __future__ import annotations

import random
import re

import numpy as np
import pytest

import seqfast
from seqfast.ngram import NgramLM

from _ngram_data import GOLDEN, PRUNED, arpa_lines, arpa_text, data_counts, heldout, text, text_lines


@pytest.mark.parametrize("name,order,fallback", GOLDEN, ids=[f"{n}.o{o}" for n, o, _ in GOLDEN])
def test_kneser_ney_is_lmplz_bit_for_bit(name, order, fallback):
    lm = NgramLM.fit(text(name), order=order, discount_fallback=fallback)
    want_text, got_text = arpa_text(f"{name}.o{order}"), lm.to_arpa()
    want, got = arpa_lines(want_text), arpa_lines(got_text)
    assert set(got) == set(want)
    bad = [(k, got[k], want[k]) for k in want if got[k] != want[k]]
    assert not bad, bad[:5]  # the same float32 numbers, not just close ones
    # and the same text: shortest digits with ties to even, as lmplz prints them
    assert sorted(text_lines(got_text)) == sorted(text_lines(want_text))


@pytest.mark.parametrize("name,order,prune,fallback,tag", PRUNED, ids=[f"{n}.o{o}.p{t}" for n, o, _, _, t in PRUNED])
def test_pruned_kneser_ney_is_lmplz_bit_for_bit(name, order, prune, fallback, tag):
    lm = NgramLM.fit(text(name), order=order, prune=prune, discount_fallback=fallback)
    want_text = arpa_text(f"{name}.o{order}.p{tag}")
    got_text = lm.to_arpa()
    assert data_counts(got_text) == data_counts(want_text)
    want, got = arpa_lines(want_text), arpa_lines(got_text)
    assert set(got) == set(want)
    bad = [(k, got[k], want[k]) for k in want if got[k] != want[k]]
    assert not bad, bad[:5]
    assert sorted(text_lines(got_text)) == sorted(text_lines(want_text))


def test_pruning_semantics_and_errors():
    full = NgramLM.fit(text("zipf"), order=3)
    assert NgramLM.fit(text("zipf"), order=3, prune=[0]).to_arpa() == full.to_arpa()
    pruned = NgramLM.fit(text("zipf"), order=3, prune=[0, 1])
    # thresholds repeat for the orders above the last one given, as lmplz's --prune
    assert NgramLM.fit(text("zipf"), order=3, prune=[0, 1, 1]).to_arpa() == pruned.to_arpa()
    (f1, f2, f3), (p1, p2, p3) = full.num_ngrams(), pruned.num_ngrams()
    assert p1 == f1 and p2 < f2 and p3 < f3
    rng = random.Random(6)
    for ctx in [""] + heldout(pruned.vocab, rng, 30):
        ctx = " ".join(ctx.split()[-2:])
        d = pruned.distribution(ctx, bos=True).astype(np.float64)
        assert abs(np.sum(10.0**d) - 1.0) < 1e-4, ctx
    for kw, msg in [
        (dict(prune=[1]), "unigrams cannot be pruned"),
        (dict(prune=[0, 2, 1]), "must not decrease"),
        (dict(prune=[0, 1, 1, 1]), "1 to 3 thresholds"),
        (dict(prune=[0, -1]), "prune[1] = -1"),
        (dict(prune=[0, 1.5]), "prune[1] = 1.5"),
        (dict(prune=[]), "1 to 3 thresholds"),
        (dict(prune=[0, 1], smoothing="mle"), "Kneser-Ney only"),
    ]:
        with pytest.raises(seqfast.SeqfastError, match=re.escape(msg)):
            NgramLM.fit(text("zipf"), order=3, **kw)
