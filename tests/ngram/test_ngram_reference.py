"""seqfast.ngram.NgramLM against the readable float64 reference (tests/reference/ngram_lm.py):
Kneser-Ney, MLE, add-k, Laplace and stupid backoff scores, normalisation, worked examples and
hypothesis-generated corpora. lmplz's golden files: test_ngram_golden.py; the API:
test_ngram_api.py; bad input: test_ngram_errors.py."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import seqfast
from seqfast.ngram import NgramLM

from _ngram_data import FALLBACK, GOLDEN, arpa_path, arpa_text, heldout, sentences, text
from reference import ngram_lm as L


REFERENCE_CASES = [(n, o, fb, None) for n, o, fb in GOLDEN[4:]] + [("zipf", 3, None, (0, 1)), ("zipf", 5, None, (0, 1, 1, 2))]


@pytest.mark.parametrize("name,order,fallback,prune", REFERENCE_CASES,
                         ids=[f"{n}.o{o}" + (f".p{''.join(map(str, p))}" if p else "") for n, o, _, p in REFERENCE_CASES])
def test_kneser_ney_matches_float64_reference(name, order, fallback, prune):
    ref = L.kneser_ney(sentences(name), order, discount_fallback=fallback, prune=prune)
    got = L.parse_arpa(NgramLM.fit(text(name), order=order, discount_fallback=fallback, prune=prune).to_arpa())
    for n in range(order):
        assert set(got["orders"][n]) == set(ref["orders"][n])
        for g, (p, b) in ref["orders"][n].items():
            gp, gb = got["orders"][n][g]
            assert gp == pytest.approx(p, abs=1e-5)
            if b is not None:
                assert gb == pytest.approx(b, abs=1e-5)


def test_generated_corpus_matches_reference():
    # a second generated corpus, estimated by both at orders 2..4 (no golden file needed)
    rng = random.Random(5)
    words = [f"w{i}" for i in range(60)]
    sents = [[rng.choice(words[: rng.randint(2, 60)]) for _ in range(rng.randint(0, 9))] for _ in range(1500)]
    for order in (2, 4):
        ref = L.kneser_ney(sents, order, discount_fallback=FALLBACK)
        got = L.parse_arpa(NgramLM.fit([" ".join(s) for s in sents], order=order, discount_fallback=FALLBACK).to_arpa())
        for n in range(order):
            for g, (p, b) in ref["orders"][n].items():
                assert got["orders"][n][g][0] == pytest.approx(p, abs=1e-5)


def test_discount_errors_and_fallback():
    with pytest.raises(seqfast.SeqfastError, match="discount"):
        NgramLM.fit(text("students"), order=3)
    NgramLM.fit(text("students"), order=3, discount_fallback=FALLBACK)
    with pytest.raises(seqfast.SeqfastError):
        NgramLM.fit(text("students"), order=3, discount_fallback=(0.5, 1.0))
    with pytest.raises(seqfast.SeqfastError, match="NaN"):
        NgramLM.fit(text("students"), order=3, discount_fallback=(0.5, float("nan"), 1.0))


# ---------------------------------------------------------------------------------------
# queries: reference, sums, threads
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("arpa", ["zipf.o5", "students.o3", "kenlm_test", "kenlm_test_nounk"])
def test_scores_match_reference(arpa):
    lm = NgramLM.from_arpa(arpa_path(arpa))
    ref = L.parse_arpa(arpa_text(arpa))
    rng = random.Random(1)
    for s in heldout(lm.vocab, rng, 100):
        for bos in (True, False):
            for eos in (True, False):
                total, per = L.score_sentence(ref, s.split(), bos=bos, eos=eos)
                got = lm.token_scores(s, bos=bos, eos=eos)
                assert np.allclose(got, per, atol=1e-4), (s, bos, eos)
                assert lm.score(s, bos=bos, eos=eos) == pytest.approx(total, abs=1e-4)


SMOOTHINGS = [("kneser_ney", {}), ("mle", {}), ("add_k", {"k": 0.5}), ("laplace", {})]


@pytest.mark.parametrize("smoothing,kw", SMOOTHINGS)
def test_distributions_sum_to_one(smoothing, kw):
    lm = NgramLM.fit(text("zipf"), order=3, smoothing=smoothing, **kw)
    rng = random.Random(4)
    for ctx in [""] + heldout(lm.vocab, rng, 30):
        ctx = " ".join(ctx.split()[-2:])
        for bos in (True, False):
            d = lm.distribution(ctx, bos=bos).astype(np.float64)
            assert abs(np.sum(10.0**d) - 1.0) < 1e-4, (smoothing, ctx, bos)
            assert d[lm.bos] == -np.inf


def test_stupid_backoff_is_not_normalised():
    lm = NgramLM.fit(text("zipf"), order=3, smoothing="stupid_backoff")
    assert np.sum(10.0 ** lm.distribution("", bos=True).astype(np.float64)) > 1.0  # seen context
    ref = L.stupid_backoff(sentences("zipf"), 3, alpha=0.4)
    for ctx in [("bo", "ge"), ("zzz", "ba"), ("ba",), ()]:
        for w in ("sa", "ba", "</s>", "zzz"):
            assert lm.logprob(w, list(ctx)) == pytest.approx(ref.logprob(w, ctx), abs=1e-5)


@pytest.mark.parametrize("kind", ["mle", "add_k"])
def test_count_models_match_reference(kind):
    sents = sentences("zipf")
    ref = L.mle(sents, 3) if kind == "mle" else L.add_k(sents, 3, 0.25)
    lm = NgramLM.fit(text("zipf"), order=3, smoothing=kind, k=0.25)
    rng = random.Random(6)
    for s in heldout(lm.vocab, rng, 50):
        ws = ["<s>"] + s.split()
        for i in range(1, len(ws)):
            ctx = tuple(ws[max(0, i - 2) : i])
            want = ref.logprob(ws[i], ctx)
            got = lm.logprob(ws[i], list(ctx[1:]) if ctx[0] == "<s>" else list(ctx), bos=ctx[0] == "<s>")
            if want == -math.inf:
                assert got == -math.inf
            else:
                assert got == pytest.approx(want, abs=1e-5)


def test_worked_example_mle():
    # count("students opened their") = 1000, count("... books") = 400 -> p(books | ...) = 0.4
    sents = ["students opened their books"] * 400 + ["students opened their minds"] * 600
    lm = NgramLM.fit(sents, order=4, smoothing="mle")
    assert 10 ** lm.logprob("books", "students opened their") == pytest.approx(0.4, rel=1e-6)
    counts = seqfast.ngram.count(np.array([0, 1, 2, 3], np.uint32), order=4)
    assert [counts.num_ngrams(n) for n in (1, 2, 3, 4)] == [4, 3, 2, 1]


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.lists(st.sampled_from(["a", "b", "c", "d", "e"]), max_size=8), min_size=1, max_size=30),
    st.integers(1, 4),
    st.sampled_from(["mle", "add_k", "kneser_ney"]),
)
def test_hypothesis_sums_and_reference(sents, order, smoothing):
    if not any(sents):
        with pytest.raises(seqfast.SeqfastError, match="empty"):
            NgramLM.fit([" ".join(s) for s in sents], order=order, smoothing=smoothing)
        return
    joined = [" ".join(s) for s in sents]
    lm = NgramLM.fit(joined, order=order, smoothing=smoothing, discount_fallback=FALLBACK)
    for ctx in ["", "a", "b a", "zzz c"]:
        d = lm.distribution(ctx, bos=True).astype(np.float64)
        assert abs(np.sum(10.0**d) - 1.0) < 1e-4
    if smoothing == "mle":
        ref = L.mle(sents, order)
        want, got = ref.logprob("a", ("b",)), lm.logprob("a", "b", bos=False)
        assert got == -math.inf if want == -math.inf else got == pytest.approx(want, abs=1e-5)


# ---------------------------------------------------------------------------------------
# atomic writes: a failed save keeps the old file
# ---------------------------------------------------------------------------------------


# ---------------------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------------------
