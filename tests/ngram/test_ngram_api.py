"""The public API of seqfast.ngram.NgramLM: threads and batches agree, id and word models agree,
ARPA round trips and pickling, line order, <unk> and missing contexts, top_k, generate and
sampling, atomic saves, fitting from bytes and paths. Bad input is in test_ngram_errors.py."""

from __future__ import annotations

import math
import pickle
import random

import numpy as np
import pytest

import seqfast
from seqfast.ngram import NgramLM

from _ngram_data import DATA, FALLBACK, arpa_lines, arpa_path, arpa_text, heldout, text


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


def test_atomic_write_keeps_old_file(tmp_path):
    good = NgramLM.fit(text("zipf"), order=2)
    path = tmp_path / "m.arpa"
    good.to_arpa(path)
    before = path.read_text()
    with pytest.raises(seqfast.SeqfastError):
        NgramLM.fit(text("zipf"), order=2, smoothing="mle").to_arpa(path)
    assert path.read_text() == before
    assert [p.name for p in tmp_path.iterdir()] == ["m.arpa"]


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
