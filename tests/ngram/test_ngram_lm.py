"""seqfast.ngram.NgramLM against KenLM's lmplz (golden ARPA files), the readable reference
(tests/reference/ngram_lm.py), and itself (threads, round trips, pickle, CLI). Bad input is in
test_ngram_errors.py, the `kenlm` module as a peer in test_ngram_parity_kenlm.py."""

from __future__ import annotations

import math
import os
import pickle
import random
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import seqfast
from seqfast.ngram import NgramLM

from _ngram_data import DATA, FALLBACK, GOLDEN, PRUNED, arpa_path, arpa_text, heldout, sentences, text
from reference import ngram_lm as L


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


# ---------------------------------------------------------------------------------------
# Kneser-Ney: identical to lmplz, close to the float64 reference
# ---------------------------------------------------------------------------------------


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


def text_lines(s: str) -> list:
    return [line for line in s.splitlines() if line.strip()]


def data_counts(s: str) -> list:
    return [line for line in s.split("\\1-grams:")[0].splitlines() if line.startswith("ngram ")]


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


def test_threads_and_batch_agree():
    lm = NgramLM.fit(text("zipf"), order=5)
    sents = heldout(lm.vocab, random.Random(7), 700)
    one = lm.score_batch(sents, num_threads=1)
    two = lm.score_batch(sents, num_threads=2)
    for key in one:
        assert np.array_equal(one[key], two[key])
    loop = [lm.score(s) for s in sents[:50]]
    assert np.array_equal(np.array(loop), one["total"][:50])
    assert lm.to_arpa() == NgramLM.fit(text("zipf"), order=5, num_threads=1).to_arpa()
    ids, offsets = lm._m.word_ids(sents)
    assert np.array_equal(lm.score_batch((ids, offsets))["total"], one["total"])


def test_id_models_equal_word_models():
    rng = np.random.default_rng(0)
    seqs = [rng.integers(0, 40, size=rng.integers(0, 15)).astype(np.uint32) for _ in range(800)]
    by_ids = NgramLM.fit(seqs, order=3, discount_fallback=FALLBACK)
    by_words = NgramLM.fit([" ".join(map(str, s)) for s in seqs], order=3, discount_fallback=FALLBACK)
    assert arpa_lines(by_ids.to_arpa()) == arpa_lines(by_words.to_arpa())
    assert by_ids.vocab[by_ids.unk] == "<unk>" and by_ids.bos == 41 and by_ids.vocab[7] == "7"
    s = seqs[3]
    assert by_ids.score(s) == pytest.approx(by_words.score(" ".join(map(str, s))), abs=1e-6)
    with pytest.raises(seqfast.SeqfastError, match="outside"):
        by_ids.score(np.array([1, 10_000], np.uint32))


def test_arpa_round_trip_and_pickle(tmp_path):
    lm = NgramLM.from_arpa(arpa_path("zipf.o5"))
    lm.to_arpa(tmp_path / "a.arpa")
    again = NgramLM.from_arpa(tmp_path / "a.arpa")
    assert arpa_lines(again.to_arpa()) == arpa_lines(lm.to_arpa())
    p = pickle.loads(pickle.dumps(lm))
    assert p.score("bo ge sa") == lm.score("bo ge sa")


def test_arpa_line_order_does_not_matter():
    """The reader reuses the previous line's leading words and context rows; lines in any order
    (shuffled within sections, here with contexts first seen as parts of longer n-grams) give the
    same model."""
    text = arpa_text("zipf.o5")
    head, *sections = text.split("\n\\")
    rng = np.random.default_rng(5)
    shuffled = [head]
    for sec in sections:
        title, *rows = sec.split("\n")
        body = [r for r in rows if r.strip()]
        shuffled.append("\n".join([title] + [body[i] for i in rng.permutation(len(body))] + [""]))
    lm, mixed = NgramLM.from_arpa(arpa_path("zipf.o5")), NgramLM.from_arpa_str("\n\\".join(shuffled))
    assert arpa_lines(mixed.to_arpa()) == arpa_lines(lm.to_arpa())
    sents = [" ".join(rng.choice(lm.vocab[3:], size=8)) for _ in range(50)]
    np.testing.assert_array_equal(mixed.score_batch(sents)["total"], lm.score_batch(sents)["total"])


def test_missing_unk_and_missing_context():
    arpa = "\\data\\\nngram 1=3\nngram 2=1\n\n\\1-grams:\n-1\t<s>\t-0.5\n-0.5\t</s>\n-0.3\ta\t-0.2\n\n\\2-grams:\n-0.1\t<s> a\n\n\\end\\\n"
    lm = NgramLM.from_arpa_str(arpa)
    assert lm.vocab[lm.unk] == "<unk>" and lm.logprob("zzz") == pytest.approx(-100)
    # a 3-gram whose context "</s> a" is missing gets it inserted with its backed-off prob
    arpa3 = (
        arpa.replace("ngram 2=1\n", "ngram 2=2\nngram 3=1\n")
        .replace("-0.1\t<s> a\n", "-0.1\t<s> a\t0\n-0.2\ta a\t0\n")
        .replace("\\end\\", "\\3-grams:\n-0.05\t</s> a a\n\n\\end\\")
    )
    lm3 = NgramLM.from_arpa_str(arpa3)
    assert lm3.num_ngrams() == [4, 3, 1]
    assert lm3.logprob("a", ["</s>", "a"]) == pytest.approx(-0.05)
    assert lm3.logprob("a", ["</s>"]) == pytest.approx(-0.3)


def test_top_k_and_generate():
    lm = NgramLM.fit(text("zipf"), order=3)
    top = lm.top_k("ba", 5)
    d = lm.distribution("ba")
    best = np.argsort(-d, kind="stable")[:5]
    assert [w for w, _ in top] == [lm.vocab[i] for i in best]
    assert all(a[1] >= b[1] for a, b in zip(top, top[1:]))
    g1 = lm.generate("ba", seed=3, max_len=30)
    assert g1 == lm.generate("ba", seed=3, max_len=30)
    assert len(g1) <= 30 and all(w in lm.vocab for w in g1)
    allowed = {w for w, _ in lm.top_k("", 3)}
    assert lm.generate(max_len=1, top_k=3, seed=9)[0] in allowed


def test_sampling_matches_distribution():
    lm = NgramLM.fit(text("zipf"), order=2)
    p = 10.0 ** lm.distribution("ba").astype(np.float64)
    draws = [lm.generate("ba", max_len=1, seed=s)[0] for s in range(3000)]
    top = np.argsort(-p)[:5]
    for i in top:
        freq = sum(1 for w in draws if w == lm.vocab[i]) / len(draws)
        assert abs(freq - p[i]) < 4 * math.sqrt(p[i] * (1 - p[i]) / len(draws)) + 1e-3


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


def test_atomic_write_keeps_old_file(tmp_path):
    good = NgramLM.fit(text("zipf"), order=2)
    path = tmp_path / "m.arpa"
    good.to_arpa(path)
    before = path.read_text()
    with pytest.raises(seqfast.SeqfastError):
        NgramLM.fit(text("zipf"), order=2, smoothing="mle").to_arpa(path)
    assert path.read_text() == before
    assert [p.name for p in tmp_path.iterdir()] == ["m.arpa"]


# ---------------------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------------------


def test_cli_lm_build_score_ppl(tmp_path, capsys):
    from seqfast.cli import main

    out = tmp_path / "m.arpa"
    assert main(["lm", "build", "-o", "3", os.path.join(DATA, "zipf.txt"), "--arpa", str(out), "-q"]) == 0
    assert arpa_lines(out.read_text()) == arpa_lines(arpa_text("zipf.o3"))
    pruned = tmp_path / "p.arpa"
    assert main(["lm", "build", "-o", "3", os.path.join(DATA, "zipf.txt"), "--prune", "0", "1", "--arpa", str(pruned), "-q"]) == 0
    assert arpa_lines(pruned.read_text()) == arpa_lines(arpa_text("zipf.o3.p01"))
    assert main(["lm", "build", "-o", "3", os.path.join(DATA, "zipf.txt"), "--prune", "1", "--arpa", str(pruned), "-q"]) == 1
    assert "unigrams cannot be pruned" in capsys.readouterr().err
    held = tmp_path / "held.txt"
    held.write_text("bo ge sa\nzzz ba\n")
    assert main(["lm", "score", "-m", str(out), str(held)]) == 0
    lines = capsys.readouterr().out.split()
    lm = NgramLM.from_arpa(out)
    assert [float(x) for x in lines] == pytest.approx([lm.score("bo ge sa"), lm.score("zzz ba")], abs=1e-5)
    assert main(["lm", "ppl", "-m", str(out), str(held)]) == 0
    assert "oov: 1" in capsys.readouterr().out
    assert main(["lm", "build", "-o", "3", str(held), "--arpa", str(tmp_path / "x.arpa")]) == 1  # no discounts
    assert "discount" in capsys.readouterr().err
    assert main(["lm", "build"]) == 2
    assert main(["lm", "ppl", "-m", str(tmp_path / "missing.arpa"), str(held)]) == 1
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"bo ge\nsa \xff ba\n")
    assert main(["lm", "build", "-o", "2", str(bad), "--arpa", str(tmp_path / "y.arpa")]) == 1
    assert f"{bad}: line 2: not valid UTF-8" in capsys.readouterr().err


def test_fit_from_bytes_and_path(tmp_path):
    import pathlib

    want = NgramLM.fit(text("zipf"), order=3).to_arpa()
    assert NgramLM.fit(text("zipf").encode(), order=3).to_arpa() == want
    assert NgramLM.fit(bytearray(text("zipf").encode()), order=3).to_arpa() == want
    assert NgramLM.fit(pathlib.Path(DATA) / "zipf.txt", order=3).to_arpa() == want
    # non-ASCII words: bytes and str give the same model
    t = "ünï cödé 語 ü\nü 語 cödé\n" * 20
    assert NgramLM.fit(t.encode(), order=2, smoothing="add_k").score_batch(["ü 語"])["total"][0] == \
        NgramLM.fit(t, order=2, smoothing="add_k").score_batch(["ü 語"])["total"][0]
    with pytest.raises(seqfast.SeqfastError, match="bytes: line 3: not valid UTF-8"):
        NgramLM.fit(b"a b\nc d\n\xc3(\n", order=2, smoothing="mle")
    with pytest.raises((OSError, seqfast.SeqfastError)):
        NgramLM.fit(tmp_path / "missing.txt", order=2)
