"""Self-checks of the pure-Python n-gram language-model reference (tests/reference/ngram_lm.py).

The reference is what seqfast's Rust n-gram core is compared with, so it has to be right on its
own: its Kneser-Ney estimator must reproduce KenLM's lmplz (golden ARPA files made by
tests/data/ngram/make_golden.sh), every model that claims to be a distribution must sum to one,
and its ARPA reading and scoring must agree with the `kenlm` Python module (peer tests).
"""

from __future__ import annotations

import functools
import math
import os
import random

import pytest

from _ngram_data import DATA, FALLBACK, GOLDEN, PRUNED, arpa_text, sentences
from _ngram_data import sentences as corpus
from reference import ngram_lm as L

@functools.lru_cache(maxsize=None)
def golden(name: str, order: int) -> dict:
    return L.parse_arpa(arpa_text(f"{name}.o{order}"))


@functools.lru_cache(maxsize=None)
def estimated(name: str, order: int, fallback) -> dict:
    return L.kneser_ney(corpus(name), order, discount_fallback=fallback)


def predictable(model: dict) -> list:
    """The words a model can predict: its vocabulary without <s>."""
    return [w for w in model["vocab"] if w != L.BOS]


def random_contexts(name: str, order: int, rng: random.Random, k: int) -> list:
    """Contexts of up to order - 1 words: real histories, random word strings, unknown words."""
    sentences = [list(s) for s in corpus(name)]
    words = sorted({w for s in sentences for w in s})
    out = [(), (L.BOS,)]
    for _ in range(k):
        length = rng.randint(0, max(order - 1, 0))
        kind = rng.random()
        if kind < 0.5:  # a history that occurs in the corpus
            s = [L.BOS] + rng.choice(sentences) + [L.EOS]
            end = rng.randint(1, len(s) - 1)
            ctx = tuple(s[max(0, end - length) : end])
        elif kind < 0.8:  # random known words, maybe after <s>
            ctx = tuple(rng.choice(words) for _ in range(length))
            if ctx and rng.random() < 0.5:
                ctx = (L.BOS,) + ctx[1:]
        else:  # with an unknown word
            ctx = tuple(rng.choice(words + ["zzz-unknown"]) for _ in range(length))
        out.append(ctx)
    return out


# ---------------------------------------------------------------------------
# framing and counting
# ---------------------------------------------------------------------------


def test_frame_and_count():
    assert L.frame([["a", "b"], []]) == [["<s>", "a", "b", "</s>"], ["<s>", "</s>"]]
    counts = L.count_ngrams([["a", "b", "a"], ["a"]], 3)
    assert counts[0] == {("<s>",): 2, ("a",): 3, ("b",): 1, ("</s>",): 2}
    assert counts[1][("<s>", "a")] == 2 and counts[1][("a", "</s>")] == 2
    assert counts[2] == {("<s>", "a", "b"): 1, ("a", "b", "a"): 1, ("b", "a", "</s>"): 1, ("<s>", "a", "</s>"): 1}
    assert L.vocabulary([["b", "a"], ["c", "b"]]) == ["<unk>", "<s>", "</s>", "b", "a", "c"]
    with pytest.raises(ValueError):
        L.frame([["a", "<s>"]])


def test_adjusted_counts():
    # the continuation count of "a" is the number of distinct words before it
    raw = L.count_ngrams([["x", "a"], ["y", "a"], ["x", "a"], ["a"]], 2)
    adj = L.adjusted_counts(raw)
    assert adj[0][("a",)] == 3  # x, y, <s>
    assert adj[0][("<unk>",)] == 0 and adj[0][("<s>",)] == 0
    assert adj[1][("x", "a")] == 2  # highest order: raw counts


# ---------------------------------------------------------------------------
# Kneser-Ney against lmplz
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("name,order,fallback", GOLDEN, ids=[f"{n}.o{o}" for n, o, _ in GOLDEN])
def test_kneser_ney_matches_lmplz(name, order, fallback):
    ours = estimated(name, order, fallback)
    theirs = golden(name, order)
    assert len(ours["orders"]) == len(theirs["orders"]) == order
    assert sorted(ours["vocab"]) == sorted(theirs["vocab"])
    worst = 0.0
    for n, (mine, ref) in enumerate(zip(ours["orders"], theirs["orders"]), 1):
        assert set(mine) == set(ref), f"{n}-gram sets differ: {sorted(set(mine) ^ set(ref))[:10]}"
        for gram, (prob, backoff) in ref.items():
            my_prob, my_backoff = mine[gram]
            assert my_prob == pytest.approx(prob, abs=1e-5), (gram, my_prob, prob)
            if n == order:
                assert backoff is None and my_backoff is None
            else:
                assert my_backoff == pytest.approx(backoff, abs=1e-5), (gram, my_backoff, backoff)
                worst = max(worst, abs(my_backoff - backoff))
            worst = max(worst, abs(my_prob - prob))
    assert worst < 1e-5


@pytest.mark.parametrize("name,order,prune,fallback,tag", PRUNED, ids=[f"{n}.o{o}.p{t}" for n, o, _, _, t in PRUNED])
def test_pruned_kneser_ney_matches_lmplz(name, order, prune, fallback, tag):
    ours = L.kneser_ney(sentences(name), order, discount_fallback=fallback, prune=prune)
    theirs = L.parse_arpa(arpa_text(f"{name}.o{order}.p{tag}"))
    for n, (mine, ref) in enumerate(zip(ours["orders"], theirs["orders"]), 1):
        assert set(mine) == set(ref), f"{n}-gram sets differ: {sorted(set(mine) ^ set(ref))[:10]}"
        for gram, (prob, backoff) in ref.items():
            assert mine[gram][0] == pytest.approx(prob, abs=1e-5), gram
            if backoff is not None:
                assert mine[gram][1] == pytest.approx(backoff, abs=1e-5), gram


def test_kneser_ney_vocab_order_and_special_unigrams():
    model = estimated("students", 3, FALLBACK)
    assert model["vocab"][:5] == ["<unk>", "<s>", "</s>", "the", "students"]
    unigrams = model["orders"][0]
    assert unigrams[("<s>",)][0] == 0.0  # p(<s>) = 1
    assert unigrams[("</s>",)][1] == 0.0 and unigrams[("<unk>",)][1] == 0.0  # never contexts
    # <unk> gets only its share of the uniform mass: gamma(()) / V
    assert unigrams[("<unk>",)][0] < min(lp for g, (lp, _) in unigrams.items() if g != ("<unk>",))


def test_kneser_ney_discount_errors_like_lmplz():
    # lmplz -o 3 on students.txt without --discount_fallback:
    # "ERROR: 1-gram discount out of range for adjusted count 2: -2.4."
    with pytest.raises(ValueError, match=r"order 1: 1-gram discount D2 = -2\.(4|39)"):
        L.kneser_ney(corpus("students"), 3)
    # the fallback replaces only the orders that fail (order 2 keeps its own discounts)
    raw = L.count_ngrams(corpus("students"), 3)
    adj = L.adjusted_counts(raw)
    assert L.discounts_for(adj[1], 2, FALLBACK) != [0.0, *FALLBACK]
    assert L.discounts_for(adj[0], 1, FALLBACK) == [0.0, *FALLBACK]


def test_discount_formula():
    # t1..t4 = 4, 2, 1, 1: Y = 4/8; D1 = 1 - 2 Y 2/4; D2 = 2 - 3 Y 1/2; D3 = 3 - 4 Y 1/1
    a = {("w%d" % i,): c for i, c in enumerate([1, 1, 1, 1, 2, 2, 3, 4, 7])}
    assert L.discounts_for(a, 1) == pytest.approx([0.0, 0.5, 1.25, 1.0])


@pytest.mark.parametrize("source", ["estimator", "golden"])
@pytest.mark.parametrize("name,order", [("zipf", 3), ("zipf", 5), ("students", 3), ("kenlm_corpus_count", 3)])
def test_kneser_ney_sums_to_one(source, name, order):
    model = estimated(name, order, FALLBACK if name != "zipf" else None) if source == "estimator" else golden(name, order)
    tol = 1e-9 if source == "estimator" else 1e-4  # the ARPA text holds float32 values
    words = predictable(model)
    assert "</s>" in words and "<unk>" in words
    rng = random.Random(f"{name}{order}{source}")
    for ctx in random_contexts(name, order, rng, 25):
        total = sum(10 ** L.arpa_logprob(model, w, ctx) for w in words)
        assert total == pytest.approx(1.0, abs=tol), ctx


def test_write_arpa_round_trip():
    model = estimated("students", 3, FALLBACK)
    again = L.parse_arpa(L.write_arpa(model))
    assert again["orders"] == model["orders"]
    assert sorted(again["vocab"]) == sorted(model["vocab"])


# ---------------------------------------------------------------------------
# MLE, add-k, stupid backoff
# ---------------------------------------------------------------------------


def students_example() -> list:
    """1000 sentences 'students opened their X': X = books 400 times, 6 other words 100 times each."""
    others = ["laptops", "minds", "bags", "exams", "notes", "doors"]
    sentences = [["students", "opened", "their", "books"]] * 400
    for w in others:
        sentences += [["students", "opened", "their", w]] * 100
    return sentences


def test_mle_worked_example():
    sentences = students_example()
    counts = L.count_ngrams(sentences, 4)
    assert counts[2][("students", "opened", "their")] == 1000
    assert counts[3][("students", "opened", "their", "books")] == 400
    for order in (4, 5):
        model = L.mle(sentences, order)
        assert model.prob("books", ("students", "opened", "their")) == pytest.approx(0.4)
        # a longer context is truncated / backed off to the longest seen history
        assert model.prob("books", ("the", "students", "opened", "their")) == pytest.approx(0.4)
        assert model.logprob("books", ("students", "opened", "their")) == pytest.approx(math.log10(0.4))
    model = L.mle(sentences, 4)
    assert model.prob("</s>", ("their", "books")) == 1.0
    assert model.logprob("unknown-word", ("students",)) == float("-inf")
    assert model.logprob("books", ("students",)) == float("-inf")  # seen, but never after "students"
    # unigrams: c(w) / number of predicted tokens (everything but <s>): 5000 tokens
    assert model.prob("books", ()) == pytest.approx(400 / 5000)
    assert model.prob("students", ("nonsense",)) == pytest.approx(1000 / 5000)


def test_history_count_is_not_ngram_count():
    # C(h) sums c(h w) over the words w that follow h, </s> included; C(()) excludes <s>
    sentences = [["a", "b"], ["a", "b", "c"], ["b"]]
    model = L.mle(sentences, 2)
    assert model.count(("b",)) == 3 and model.history[("b",)] == 3  # </s> is a predicted word
    assert model.history[("<s>",)] == 3
    assert model.history[()] == 6 + 3  # 6 words + 3 </s>
    assert model.prob("c", ("b",)) == pytest.approx(1 / 3)
    assert model.prob("</s>", ("b",)) == pytest.approx(2 / 3)


def test_add_k_and_stupid_backoff_values():
    sentences = students_example()
    add1 = L.add_k(sentences, 4, 1.0)
    V = len(add1.vocab) - 1  # <unk>, </s>, 3 + 7 words
    assert V == 12
    assert add1.prob("books", ("students", "opened", "their")) == pytest.approx(401 / (1000 + V))
    assert add1.prob("never", ("students", "opened", "their")) == pytest.approx(1 / (1000 + V))
    half = L.add_k(sentences, 2, 0.5)
    assert half.prob("books", ("zzz",)) == pytest.approx((400 + 0.5) / (5000 + 0.5 * V))
    sb = L.stupid_backoff(sentences, 4, alpha=0.4)
    assert sb.prob("books", ("students", "opened", "their")) == pytest.approx(0.4)
    # "x opened their books" unseen -> 0.4 * S(books | opened their) = 0.4 * 400 / 1000
    assert sb.prob("books", ("x", "opened", "their")) == pytest.approx(0.4 * 0.4)
    # "students books" unseen -> 0.4 * S(books) = 0.4 * 400 / 5000
    assert sb.prob("books", ("students",)) == pytest.approx(0.4 * 400 / 5000)
    assert sb.prob("books", ("opened", "students")) == pytest.approx(0.4 * 0.4 * 400 / 5000)
    assert sb.logprob("unknown-word", ("students",)) == float("-inf")


@pytest.mark.parametrize("order", [1, 2, 3])
def test_mle_and_add_k_sum_to_one(order):
    rng = random.Random(order)
    for model in (L.mle(corpus("zipf"), order), L.add_k(corpus("zipf"), order, 0.1), L.add_k(corpus("students"), order, 1.0)):
        words = [w for w in model.vocab if w != L.BOS]
        assert len(words) == model.V
        name = "zipf" if len(model.vocab) > 100 else "students"
        for ctx in random_contexts(name, order, rng, 15):
            assert sum(model.prob(w, ctx) for w in words) == pytest.approx(1.0, abs=1e-9), ctx


def test_stupid_backoff_does_not_sum_to_one():
    model = L.stupid_backoff(corpus("zipf"), 3)
    words = [w for w in model.vocab if w != L.BOS]
    rng = random.Random(7)
    sums = [sum(model.prob(w, ctx) for w in words) for ctx in random_contexts("zipf", 3, rng, 20)]
    assert max(sums) > 1.0 + 1e-3
    # with no usable context it is the unigram MLE, which does sum to one
    assert sum(model.prob(w, ()) for w in words) == pytest.approx(1.0)


# ---------------------------------------------------------------------------
# ARPA reading and scoring
# ---------------------------------------------------------------------------


def read(path: str) -> dict:
    with open(os.path.join(DATA, path), encoding="utf-8") as f:
        return L.parse_arpa(f.read())


def test_parse_kenlm_test_arpa():
    model = read("kenlm_test.arpa")
    assert [len(t) for t in model["orders"]] == [37, 47, 11, 6, 4]
    uni = model["orders"][0]
    assert uni[("<s>",)] == (-99.0, -0.4149733)
    assert uni[("</s>",)] == (-1.029493, None)  # backoff field omitted in the file
    assert uni[("<unk>",)] == (-1.995635, -20.0)
    assert all(bo is None for _, bo in model["orders"][4].values())
    nounk = read("kenlm_test_nounk.arpa")
    assert ("<unk>",) not in nounk["orders"][0]
    with pytest.raises(ValueError):
        L.parse_arpa("\\data\\\nngram 1=2\n\n\\1-grams:\n-1\ta\n\n\\end\\\n")


def test_score_sentence_backoff_semantics():
    model = L.parse_arpa(
        "\\data\\\nngram 1=4\nngram 2=2\n\n\\1-grams:\n-1.0\t<unk>\n0\t<s>\t-0.5\n-0.3\t</s>\n-0.7\ta\t-0.2\n\n"
        "\\2-grams:\n-0.1\t<s> a\n-0.4\ta </s>\n\n\\end\\\n"
    )
    total, per = L.score_sentence(model, ["a", "a", "b"])
    # a|<s> listed; a|a -> bo(a) + p(a); b -> <unk>: bo(a) + p(<unk>); </s>|<unk> -> p(</s>)
    assert per == pytest.approx([-0.1, -0.2 - 0.7, -0.2 - 1.0, -0.3])
    assert total == pytest.approx(sum(per))
    assert L.score_sentence(model, ["a"], bos=False, eos=False)[1] == pytest.approx([-0.7])


def kenlm_sentences(model: dict, rng: random.Random, k: int) -> list:
    words = [w for w in model["vocab"] if w not in ("<s>", "</s>", "<unk>")]
    out = ["", "looking on a little more loin", "on a little more loin .", "biarritz is also a little loin",
           "i have a totally unknown word , however", "unknown", "a a a a a a a ."]
    for _ in range(k):
        sent = [rng.choice(words + ["oov1", "oov2"]) for _ in range(rng.randint(1, 12))]
        out.append(" ".join(sent))
    return out


@pytest.mark.peer
@pytest.mark.parametrize("path", ["kenlm_test.arpa", "kenlm_test_nounk.arpa", "zipf.o5.arpa", "students.o3.arpa"])
def test_scoring_matches_kenlm(path):
    kenlm = pytest.importorskip("kenlm")
    ken = kenlm.Model(os.path.join(DATA, path))
    model = read(path)
    rng = random.Random(path)
    for sentence in kenlm_sentences(model, rng, 20):
        words = sentence.split()
        for bos, eos in [(True, True), (False, True), (True, False), (False, False)]:
            total, per = L.score_sentence(model, words, bos=bos, eos=eos)
            theirs = [s[0] for s in ken.full_scores(sentence, bos=bos, eos=eos)]
            assert per == pytest.approx(theirs, abs=1e-4), (sentence, bos, eos)
            assert total == pytest.approx(ken.score(sentence, bos=bos, eos=eos), abs=1e-4)


@pytest.mark.peer
def test_estimator_scores_like_kenlm_on_golden():
    kenlm = pytest.importorskip("kenlm")
    ken = kenlm.Model(os.path.join(DATA, "zipf.o5.arpa"))
    model = estimated("zipf", 5, None)
    rng = random.Random(5)
    sentences = [" ".join(s) for s in rng.sample(corpus("zipf"), 30)]
    sentences += kenlm_sentences(model, rng, 20)
    for sentence in sentences:
        total, _ = L.score_sentence(model, sentence.split())
        assert total == pytest.approx(ken.score(sentence), abs=1e-4)
