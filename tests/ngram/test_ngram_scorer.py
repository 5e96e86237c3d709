"""The fast full distribution (rust/ngram/dist.rs) behind NgramLM.distribution and
search.NgramScorer, against the per-word rule it replaced and a readable reference.

* ``lm.distribution(context)`` equals, bit for bit, the per-word rule: the score of every word
  after the context, as ``score_batch`` computes it (one query per word; ``<s>`` and ids
  without a unigram are -inf), for random models of every smoothing (Kneser-Ney pruned or
  not, MLE, add-k, stupid backoff), id models with unseen ids, random ARPA files, and random
  contexts with unknown words, with and without ``<s>``;
* for Kneser-Ney models it equals tests/reference/ngram_lm.py's ``arpa_logprob`` on the
  model's own ARPA text (float64 reference, within float32 rounding);
* ``search.NgramScorer`` gives identical hypotheses (tokens, finished, logprob bit for bit)
  with the fast rule and with the old per-word rule (``_per_word``), for greedy, sampling and
  beam search, at 1 and 2 threads.
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from seqfast import search
from seqfast.ngram import NgramLM

from reference import ngram_lm as R

WORDS = ["a", "b", "c", "d", "e", "f", "g"]
SMOOTHINGS = ["kneser_ney", "kneser_ney_pruned", "mle", "add_k", "stupid_backoff"]


def fit(data, order: int, smoothing: str, vocab_size=None) -> NgramLM:
    kw = dict(order=order, discount_fallback=(0.5, 1.0, 1.5))
    if smoothing == "kneser_ney_pruned":
        kw["prune"] = [0, 1][:order]
        smoothing = "kneser_ney"
    if smoothing == "add_k":
        kw["k"] = 0.25
    if vocab_size is not None:
        kw["vocab_size"] = vocab_size
    return NgramLM.fit(data, smoothing=smoothing, **kw)


def per_word(lm: NgramLM, ctx: np.ndarray, bos: bool, present: np.ndarray) -> np.ndarray:
    """The per-word rule: every word's score after `ctx` from score_batch (one query each)."""
    V = len(lm.vocab)
    ids = np.concatenate([np.concatenate([ctx, [w]]) for w in range(V)]).astype(np.uint32)
    offsets = np.arange(V + 1, dtype=np.int64) * (len(ctx) + 1)
    s = lm.score_batch((ids, offsets), bos=bos, eos=False)
    want = s["tokens"][s["offsets"][1:] - 1].astype(np.float32)
    want[~present] = -np.inf
    want[lm.bos] = -np.inf
    return want


def same_bits(got: np.ndarray, want: np.ndarray, what: str) -> None:
    assert got.dtype == np.float32 and got.shape == want.shape
    bad = np.flatnonzero(got.view(np.uint32) != want.view(np.uint32))
    assert bad.size == 0, f"{what}: word {bad[0]}: fast {got[bad[0]]!r}, per word {want[bad[0]]!r} ({bad.size} differ)"


sentences = st.lists(st.lists(st.sampled_from(WORDS), max_size=8), min_size=1, max_size=25)
contexts = st.lists(st.tuples(st.lists(st.sampled_from(WORDS + ["zz", "</s>", "<unk>"]), max_size=5), st.booleans()),
                    min_size=1, max_size=5)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sents=sentences, order=st.integers(1, 5), smoothing=st.sampled_from(SMOOTHINGS), ctxs=contexts)
def test_text_models_equal_per_word(sents, order, smoothing, ctxs):
    if not any(sents):
        sents = sents + [["a"]]
    lm = fit([" ".join(s) for s in sents], order, smoothing)
    present = np.ones(len(lm.vocab), bool)  # every word of a text model has a unigram
    assert present.sum() == lm.num_ngrams()[0]
    for ctx, bos in ctxs:
        ids = lm.ids(ctx) if ctx else np.zeros(0, np.uint32)
        same_bits(lm.distribution(ctx, bos=bos), per_word(lm, ids, bos, present), f"{smoothing} order {order} after {ctx}")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sents=st.lists(st.lists(st.integers(0, 9), max_size=8), min_size=1, max_size=20), extra=st.integers(0, 4),
       order=st.integers(1, 4), smoothing=st.sampled_from(SMOOTHINGS),
       ctxs=st.lists(st.tuples(st.lists(st.integers(0, 16), max_size=5), st.booleans()), min_size=1, max_size=5))
def test_id_models_with_unseen_ids_equal_per_word(sents, extra, order, smoothing, ctxs):
    if not any(sents):
        sents = sents + [[0]]
    vocab_size = max(max(s) for s in sents if s) + 1 + extra
    lm = fit([np.array(s, np.uint32) for s in sents], order, smoothing, vocab_size=vocab_size)
    V = len(lm.vocab)
    present = np.zeros(V, bool)  # seen ids and the specials have a unigram; unseen ids do not
    present[[w for s in sents for w in s]] = True
    present[[lm.unk, lm.bos, lm.eos]] = True
    assert present.sum() == lm.num_ngrams()[0]
    for ctx, bos in ctxs:
        ids = np.array([w % V for w in ctx], np.uint32)
        same_bits(lm.distribution(ids, bos=bos), per_word(lm, ids, bos, present), f"{smoothing} order {order} after {ctx}")


@st.composite
def arpa_texts(draw):
    """Random ARPA text: random n-grams (neither context- nor suffix-closed: the reader closes
    them as KenLM does), random probabilities, backoffs present, 0 or missing, maybe no <unk>."""
    order = draw(st.integers(1, 4))
    words = WORDS[: draw(st.integers(1, 6))] + ["<s>", "</s>"] + (["<unk>"] if draw(st.booleans()) else [])
    num = st.integers(-40000, -1).map(lambda x: x / 10000)
    sections = [[(w,) for w in words]]
    for n in range(2, order + 1):
        grams = draw(st.lists(st.tuples(*[st.sampled_from(words)] * n), max_size=15, unique=True))
        sections.append(grams)
    lines = ["\\data\\"] + [f"ngram {i + 1}={len(g)}" for i, g in enumerate(sections)]
    for i, grams in enumerate(sections):
        lines += ["", f"\\{i + 1}-grams:"]
        for g in grams:
            row = f"{draw(num)}\t{' '.join(g)}"
            if i + 1 < order:
                bo = draw(st.sampled_from(["", "\t0", None]))
                row += f"\t{draw(num) / 2}" if bo is None else bo
            lines.append(row)
    return "\n".join(lines + ["", "\\end\\", ""]), words


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(arpa=arpa_texts(), ctxs=contexts)
def test_arpa_models_equal_per_word(arpa, ctxs):
    text, _ = arpa
    lm = NgramLM.from_arpa_str(text)
    present = np.ones(len(lm.vocab), bool)
    for ctx, bos in ctxs:
        ids = lm.ids(ctx) if ctx else np.zeros(0, np.uint32)
        same_bits(lm.distribution(ctx, bos=bos), per_word(lm, ids, bos, present), f"after {ctx}")


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sents=sentences, order=st.integers(1, 4), ctxs=contexts)
def test_kneser_ney_equals_reference(sents, order, ctxs):
    if not any(sents):
        sents = sents + [["a"]]
    lm = fit([" ".join(s) for s in sents], order, "kneser_ney")
    model = R.parse_arpa(lm.to_arpa())
    for ctx, bos in ctxs:
        d = lm.distribution(ctx, bos=bos)
        full = (["<s>"] if bos else []) + list(ctx)
        for w, word in enumerate(lm.vocab):
            want = -math.inf if word == "<s>" else R.arpa_logprob(model, word, full)
            assert math.isclose(float(d[w]), want, rel_tol=1e-5, abs_tol=1e-5) or d[w] == want, (ctx, word, d[w], want)


def run(scorer, kind, P, threads):
    if kind == "greedy":
        return search.greedy(scorer, batch_size=P, max_len=8, num_threads=threads)
    if kind == "sample":
        return search.sample(scorer, batch_size=P, max_len=8, seed=3, num_threads=threads)
    return [h for hs in search.beam_search(scorer, batch_size=P, beam_width=4, max_len=6, n_best=4, num_threads=threads)
            for h in hs]


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sents=sentences, order=st.integers(1, 4), smoothing=st.sampled_from(["kneser_ney", "kneser_ney_pruned", "add_k"]),
       prompts=st.lists(st.lists(st.sampled_from(WORDS + ["zz"]), max_size=3).map(" ".join), min_size=1, max_size=3),
       kind=st.sampled_from(["greedy", "sample", "beam"]), threads=st.sampled_from([1, 2]), allow_unk=st.booleans())
def test_scorer_equals_per_word_scorer(sents, order, smoothing, prompts, kind, threads, allow_unk):
    if not any(sents):
        sents = sents + [["a"]]
    lm = fit([" ".join(s) for s in sents], order, smoothing)
    results = []
    for pw in (True, False):
        sc = search.NgramScorer(lm, prompts, allow_unk=allow_unk)
        sc._per_word = pw
        results.append([(h.tokens.tolist(), h.finished, h.logprob, h.score) for h in run(sc, kind, len(prompts), threads)])
    assert results[0] == results[1]


def test_mle_floor_and_stupid_penalty_states():
    # contexts never seen as histories (</s>, unknown words) and long ones, in the modes whose
    # rules read the state differently (floor for MLE/add-k, the penalty for stupid backoff)
    text = ["a b c a b", "b c d", "a a a a", "c"]
    for smoothing in SMOOTHINGS:
        for order in (2, 3, 5):
            lm = fit(text, order, smoothing)
            present = np.ones(len(lm.vocab), bool)
            for ctx in (["a", "b"], ["</s>"], ["zz"], ["a", "a", "a", "a"], ["d", "a"], ["b", "c", "d"]):
                for bos in (True, False):
                    same_bits(lm.distribution(ctx, bos=bos), per_word(lm, lm.ids(ctx), bos, present), f"{smoothing} {ctx}")
