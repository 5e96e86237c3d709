"""Self-checks of the pure-Python decoding reference (tests/reference/search.py).

The reference is what seqfast's Rust beam search, greedy decoder and sampler are compared with,
so it has to be right on its own:

* beam search with a beam wide enough to never prune equals brute-force enumeration of every
  sequence (scores, normalisation, order, tie-break), for every length penalty and constraint;
* an item's result does not depend on the rest of the batch, the scorer protocol is followed,
  constraints hold in every hypothesis, and the "exact" stopping rule never changes the result
  compared with running to max_len, while "early" stops as soon as beam_width are finished;
* greedy equals beam search with beam_width 1 (the exact relation is in the tests below);
* sampling is reproducible, never emits a token excluded by top_k/top_p/min_len/banned, and its
  first token follows the scorer's distribution (chi-square); its uniforms are SplitMix64's;
* bad arguments and bad scorer outputs raise ValueError.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reference import rnn as R  # noqa: E402  (independent NumPy SplitMix64 finaliser)
from reference import search as S

PENALTIES = [("none", 1.0), ("length", 1.0), ("length", 0.6), ("gnmt", 1.0), ("gnmt", 2.5), ("length", 0.0)]
PENALTY_IDS = ["none", "length1", "length0.6", "gnmt1", "gnmt2.5", "length0"]


def dict_table(rows: dict, default, V: int):
    """``fn(prefix)`` returning ``rows[prefix]`` (else ``default``) as float32 log-probs."""
    def fn(prefix):
        return np.array(rows.get(tuple(prefix), default), dtype=np.float32)
    assert all(len(r) == V for r in rows.values()) and len(default) == V
    return fn


def tie_table(V: int, seed: int):
    """Log-probs from {0, -1, -2, -inf}: many exact score ties (sums of small integers are exact)."""
    def fn(prefix):
        rng = np.random.default_rng([seed, len(prefix), *[int(x) for x in prefix]])
        vals = np.array([0.0, -1.0, -2.0, -np.inf])[rng.choice(4, V, p=[0.3, 0.3, 0.3, 0.1])]
        if np.isneginf(vals).all():
            vals[0] = -1.0
        return vals.astype(np.float32)
    return fn


def prefix_score(fn, prefix_with_bos, tokens, prompt=()):
    """float64 left-to-right sum of the log-probs of ``tokens`` after ``prompt + prefix``."""
    s = 0.0
    ctx = tuple(prompt) + tuple(prefix_with_bos)
    for v in tokens:
        s += float(fn(ctx)[v])
        ctx = ctx + (v,)
    return s


def beam(fn, *, prompts=None, **kw):
    """Run beam search with a fresh TableScorer; returns (results, scorer)."""
    sc = S.TableScorer(fn, prompts)
    return S.beam_search(sc, **kw), sc


# ---------------------------------------------------------------------------
# Brute force
# ---------------------------------------------------------------------------


def brute_force(fn, *, V, max_len, bos, eos, min_len=0, banned=(), ngram=0, length_penalty="none", alpha=1.0,
                prompt=()):
    """Every possible sequence as a Hyp, in the order beam search must return them.

    A sequence is finished (ends with its only eos, length > min_len) or unfinished (no eos,
    length max_len); it has no banned token, no -inf log-prob, and, with ``ngram = n >= 1``, all
    n-grams of [bos] + tokens distinct.  Order: normalised score descending, then order of
    insertion into beam search's pool, which for a beam that never prunes is: finished ones by
    length, then by the candidate walk order (score desc, parent's rank, token), then the
    unfinished ones in walk order.  A parent's rank is its walk-order position among the live
    prefixes of its length, so the walk key is the nested tuple ``(-s(y), key(y[:-1]), y[-1])``.
    """
    entries = []
    for L in range(1, max_len + 1):
        for y in itertools.product(range(V), repeat=L):
            if eos in y[:-1]:
                continue
            fin = y[-1] == eos
            if (not fin and L != max_len) or (fin and L <= min_len) or set(y) & set(banned):
                continue
            seq = (bos,) + y
            if ngram >= 1:
                grams = [seq[i:i + ngram] for i in range(len(seq) - ngram + 1)]
                if len(set(grams)) != len(grams):
                    continue
            s, key, ctx, dead = 0.0, (), tuple(prompt) + (bos,), False
            for v in y:
                lp = float(fn(ctx)[v])
                if lp == -math.inf:
                    dead = True
                    break
                s += lp
                key = (-s, key, v)
                ctx = ctx + (v,)
            if dead:
                continue
            norm = S.normalise(s, L, length_penalty, alpha)
            entries.append(((-norm, (0 if fin else 1, L, key)), S.Hyp(y, norm, s, fin)))
    entries.sort(key=lambda e: e[0])
    return [h for _, h in entries]


def test_normalise_formulas():
    assert S.normalise(-6.0, 3, "none", 1.0) == -6.0
    assert S.normalise(-6.0, 3, "length", 1.0) == -2.0
    assert S.normalise(-6.0, 4, "length", 0.5) == -3.0
    assert S.normalise(-6.0, 7, "gnmt", 1.0) == -3.0  # (5 + 7) / 6 = 2
    assert S.normalise(-8.0, 7, "gnmt", 2.0) == -2.0
    assert S.normalise(-6.0, 9, "length", 0.0) == -6.0
    # the exact-stopping bound: the longest length divides the least when the score is <= 0
    assert S.best_attainable(-6.0, 2, 6, "length", 1.0) == -1.0
    assert S.best_attainable(-6.0, 2, 6, "none", 1.0) == -6.0
    assert S.best_attainable(-6.0, 2, 7, "gnmt", 1.0) == -3.0
    assert S.best_attainable(6.0, 2, 6, "length", 1.0) == 3.0  # positive: current length


def test_blocked_by_ngrams():
    assert S.blocked_by_ngrams((5, 1, 2, 1), 2) == {2}  # (1, 2) occurred: after 1, 2 is blocked
    assert S.blocked_by_ngrams((5, 1, 2, 1), 1) == {5, 1, 2}  # no token may repeat at all
    assert S.blocked_by_ngrams((5, 1, 2, 1), 3) == set()  # (2, 1, ?) never occurred
    assert S.blocked_by_ngrams((5, 1, 2, 5, 1), 3) == {2}
    assert S.blocked_by_ngrams((5,), 2) == set()  # too short to hold a bigram
    assert S.blocked_by_ngrams((5, 5), 2) == {5}
    assert S.blocked_by_ngrams((5, 1, 2), 0) == set()


# ---------------------------------------------------------------------------
# Exhaustive check against brute force
# ---------------------------------------------------------------------------

EXHAUSTIVE_CASES = [
    # V, max_len, eos, bos, table kind, min_len, banned, ngram
    (2, 2, 0, 1, "random", 0, (), 0),
    (2, 3, 1, 0, "random", 0, (), 0),
    (3, 2, 0, 2, "random", 0, (), 0),
    (3, 3, 0, 1, "random", 0, (), 0),
    (3, 3, 2, 0, "random_inf", 0, (), 0),
    (3, 3, 0, 1, "ties", 0, (), 0),
    (3, 3, 1, 1, "ties", 0, (), 0),
    (3, 3, 0, 1, "random", 2, (), 0),
    (3, 3, 0, 1, "random", 3, (), 0),
    (3, 3, 0, 2, "random", 1, (1,), 0),
    (3, 3, 0, 1, "random", 0, (), 1),
    (3, 3, 0, 1, "ties", 0, (), 2),
    (2, 3, 0, 1, "random", 0, (), 2),
    (3, 3, 0, 2, "random", 0, (0,), 0),  # eos banned: only unfinished sequences
]


def make_table(kind, V, seed):
    if kind == "random":
        return S.random_table(V, seed)
    if kind == "random_inf":
        return S.random_table(V, seed, p_inf=0.3)
    return tie_table(V, seed)


@pytest.mark.parametrize("penalty,alpha", PENALTIES, ids=PENALTY_IDS)
@pytest.mark.parametrize("case", EXHAUSTIVE_CASES)
def test_wide_beam_equals_brute_force(case, penalty, alpha):
    V, max_len, eos, bos, kind, min_len, banned, ngram = case
    K = V ** max_len
    for seed in range(3):
        fn = make_table(kind, V, seed)
        expected = brute_force(fn, V=V, max_len=max_len, bos=bos, eos=eos, min_len=min_len, banned=banned,
                               ngram=ngram, length_penalty=penalty, alpha=alpha)
        for n_best in (None, 1, 4):
            got, _ = beam(fn, batch_size=1, beam_width=K, max_len=max_len, bos=bos, eos=eos, vocab_size=V,
                          min_len=min_len, n_best=n_best, length_penalty=penalty, alpha=alpha, stopping="exact",
                          no_repeat_ngram_size=ngram, banned=banned)
            assert got[0] == expected[:K if n_best is None else n_best], (seed, n_best)


def test_brute_force_exercises_ties():
    # The tie table must produce equal normalised scores in the enumerated lists (else the tie-break
    # part of the exhaustive test would be vacuous).
    for seed in range(3):
        for bos, eos in ((1, 0), (1, 1)):
            hyps = brute_force(tie_table(3, seed), V=3, max_len=3, bos=bos, eos=eos)
            scores = [h.score for h in hyps]
            assert len(scores) >= 6 and len(scores) > len(set(scores)) + 2


# ---------------------------------------------------------------------------
# Hand-made examples
# ---------------------------------------------------------------------------


def test_eos_beyond_rank_beam_width_is_skipped():
    # V = 4, eos = 0, bos = 3, K = 2.  Step 2 walk: (1,1) -0.2 live [r0], (1,0) -0.6 finished [r1],
    # (2,0) -0.7 at r2 >= K: skipped although better than anything later, (2,3) -0.8 live [r3].
    V, eos, bos = 4, 0, 3
    rows = {
        (3,): [-10, -0.1, -0.2, -10],
        (3, 1): [-0.5, -0.1, -3, -3],
        (3, 2): [-0.5, -5, -5, -0.6],
        (3, 1, 1): [-3, -4, -4, -4],
        (3, 2, 3): [-3, -4, -4, -4],
    }
    fn = dict_table(rows, [-0.01, -5, -5, -5], V)
    got, sc = beam(fn, batch_size=1, beam_width=2, max_len=3, bos=bos, eos=eos, vocab_size=V)
    assert [(h.tokens, h.finished) for h in got[0]] == [((1, 0), True), ((1, 1, 0), True)]
    assert got[0][0].score == pytest.approx(-0.6) and got[0][1].score == pytest.approx(-3.2)
    assert len(sc.calls) == 3
    assert sc.calls[2]["prefixes"] == [(3, 1, 1), (3, 2, 3)]  # ranked best first


def test_greedy_and_beam1_differ_with_length_penalty_and_exact():
    # Step 1: eos (-1.0) is the argmax, so greedy stops at (0,).  Beam width 1 with "length" and
    # "exact" keeps the runner-up (1,) live (bound -1.2 / 4 > -1.0) and then finds (1, 0) with
    # normalised score -1.25 / 2 > -1.0.  With "none" (bound -1.2 <= -1.0) it stops like greedy.
    V, eos, bos = 3, 0, 2
    fn = dict_table({(2,): [-1.0, -1.2, -3.0], (2, 1): [-0.05, -4, -4]}, [-0.1, -5, -5], V)
    kw = dict(batch_size=1, max_len=4, bos=bos, eos=eos, vocab_size=V)
    g = S.greedy(S.TableScorer(fn), **kw)
    assert g[0].tokens == (0,) and g[0].finished
    b, _ = beam(fn, beam_width=1, length_penalty="length", stopping="exact", **kw)
    assert b[0][0].tokens == (1, 0) and b[0][0].score == pytest.approx(-0.625)
    b, _ = beam(fn, beam_width=1, length_penalty="length", stopping="early", **kw)
    assert b[0][0].tokens == (0,)
    b, _ = beam(fn, beam_width=1, length_penalty="none", stopping="exact", **kw)
    assert b[0][0].tokens == (0,)


def test_early_stops_before_exact():
    # Every sequence ends well at step 3.  K = 2 finish at step 3, so "early" calls the scorer 3
    # times; with the "length" penalty and max_len 8 the live bound s / 8 still beats the finished
    # s / 3, so "exact" keeps going.
    V, eos, bos = 4, 0, 3
    def fn(prefix):
        if len(prefix) == 3:
            return np.array([-0.1, -0.3, -0.4, -0.5], dtype=np.float32)
        return np.array([-8, -0.5, -0.6, -0.7], dtype=np.float32)
    kw = dict(batch_size=1, beam_width=2, max_len=8, bos=bos, eos=eos, vocab_size=V, length_penalty="length")
    early, sc_early = beam(fn, stopping="early", **kw)
    exact, sc_exact = beam(fn, stopping="exact", **kw)
    assert len(sc_early.calls) == 3 and len(sc_exact.calls) > 3
    assert all(h.finished and len(h.tokens) == 3 for h in early[0])
    assert [c["prefixes"] for c in sc_exact.calls[:3]] == [c["prefixes"] for c in sc_early.calls]


def test_exact_stopping_tie_cannot_beat():
    # K = 1, "none": eos and token 2 both score -1.0; eos (smaller id) is walked first and finishes,
    # 2 stays live with bound -1.0 == the finished score: a tie cannot beat it, so the item is done
    # after one call.  If token 2 is better instead, it is rank 0 and eos (rank 1 >= K) is skipped.
    V, eos, bos = 3, 0, 1
    kw = dict(batch_size=1, beam_width=1, max_len=4, bos=bos, eos=eos, vocab_size=V)
    tie = dict_table({(1,): [-1.0, -5.0, -1.0]}, [-0.5, -5.0, -5.0], V)
    got, sc = beam(tie, **kw)
    assert len(sc.calls) == 1 and got[0] == [S.Hyp((0,), -1.0, -1.0, True)]
    better = dict_table({(1,): [-1.0, -5.0, -0.75]}, [-0.5, -5.0, -5.0], V)
    got, sc = beam(better, **kw)
    assert len(sc.calls) == 2 and got[0] == [S.Hyp((2, 0), -1.25, -1.25, True)]


def test_no_live_hypothesis_ends_item():
    # After (1,) every token is impossible: the item ends with what it has.
    V = 3
    fn = dict_table({(2,): [-1.0, -0.5, -np.inf], (2, 1): [-np.inf] * 3}, [-0.1, -1, -1], V)
    got, sc = beam(fn, batch_size=1, beam_width=2, max_len=5, bos=2, eos=0, vocab_size=V)
    assert [h.tokens for h in got[0]] == [(0,)] and len(sc.calls) == 2
    g = S.greedy(S.TableScorer(fn), batch_size=1, max_len=5, bos=2, eos=0, vocab_size=V)
    assert g == [S.Hyp((1,), -0.5, -0.5, False)]  # stuck after one token: unfinished, shorter
    s = S.sample(S.TableScorer(fn), batch_size=1, max_len=5, bos=2, eos=0, vocab_size=V, seed=3, top_k=1)
    assert s == g
    # all impossible from the start: nothing at all
    dead = dict_table({}, [-np.inf] * 3, V)
    got, _ = beam(dead, batch_size=2, beam_width=2, max_len=3, bos=2, eos=0, vocab_size=V)
    assert got == [[], []]


def test_empty_batch():
    def never(tokens, parents):
        raise AssertionError("scorer called for an empty batch")
    assert S.beam_search(never, batch_size=0, beam_width=2, max_len=3, bos=0, eos=1, vocab_size=3) == []
    assert S.greedy(never, batch_size=0, max_len=3, bos=0, eos=1, vocab_size=3) == []
    assert S.sample(never, batch_size=0, max_len=3, bos=0, eos=1, vocab_size=3, seed=1) == []


# ---------------------------------------------------------------------------
# Properties of beam search on random scorers
# ---------------------------------------------------------------------------


def check_constraints(h, *, bos, eos, min_len, banned, ngram, max_len):
    y = h.tokens
    assert 1 <= len(y) <= max_len
    assert eos not in y[:-1]
    assert h.finished == (y[-1] == eos)
    if h.finished:
        assert len(y) > min_len
    else:
        assert len(y) == max_len
    assert not set(y) & set(banned)
    if ngram:
        seq = (bos,) + y
        grams = [seq[i:i + ngram] for i in range(len(seq) - ngram + 1)]
        assert len(grams) == len(set(grams)), (y, ngram)


@settings(max_examples=40, deadline=None)
@given(
    V=st.integers(2, 6),
    K=st.integers(1, 4),
    max_len=st.integers(1, 5),
    B=st.integers(1, 3),
    pen=st.sampled_from(PENALTIES),
    stopping=st.sampled_from(["early", "exact"]),
    min_len_frac=st.floats(0, 1),
    ngram=st.integers(0, 3),
    n_banned=st.integers(0, 2),
    p_inf=st.sampled_from([0.0, 0.0, 0.3]),
    seed=st.integers(0, 1000),
    data=st.data(),
)
def test_beam_properties(V, K, max_len, B, pen, stopping, min_len_frac, ngram, n_banned, p_inf, seed, data):
    penalty, alpha = pen
    eos = data.draw(st.integers(0, V - 1))
    bos = data.draw(st.integers(0, V - 1))
    banned = tuple(data.draw(st.lists(st.sampled_from([v for v in range(V) if v != eos]), max_size=n_banned))) \
        if V > 1 else ()
    min_len = int(min_len_frac * max_len)
    prompts = [tuple(data.draw(st.lists(st.integers(0, 50), max_size=2))) for _ in range(B)]
    fn = S.random_table(V, seed, p_inf=p_inf)
    kw = dict(beam_width=K, max_len=max_len, bos=bos, eos=eos, vocab_size=V, min_len=min_len,
              length_penalty=penalty, alpha=alpha, no_repeat_ngram_size=ngram, banned=banned)

    batch, sc = beam(fn, prompts=prompts, batch_size=B, stopping=stopping, **kw)
    assert len(batch) == B

    # Scorer protocol: step 1 is one bos per item, every call lists items in order, at most K each,
    # best first (prefix scores non-increasing within an item), at most max_len calls.
    assert 1 <= len(sc.calls) <= max_len
    first = sc.calls[0]
    assert first["tokens"].tolist() == [bos] * B and first["parents"].tolist() == list(range(B))
    for call in sc.calls:
        items = call["items"]
        assert items == sorted(items)
        for b in set(items):
            rows = [p for p, i in zip(call["prefixes"], items) if i == b]
            assert len(rows) <= K
            scores = [prefix_score(fn, (bos,), p[len(prompts[b]) + 1:], prompts[b]) for p in rows]
            assert scores == sorted(scores, reverse=True)

    for b in range(B):
        hyps = batch[b]
        assert len(hyps) <= K
        assert [h.score for h in hyps] == sorted((h.score for h in hyps), reverse=True)
        for h in hyps:
            check_constraints(h, bos=bos, eos=eos, min_len=min_len, banned=banned, ngram=ngram, max_len=max_len)
            lp = prefix_score(fn, (bos,), h.tokens, prompts[b])
            assert h.logprob == lp
            assert h.score == S.normalise(lp, len(h.tokens), penalty, alpha)
        # Independence: the item decoded alone, or in a batch with other items around it.
        alone, _ = beam(fn, prompts=[prompts[b]], batch_size=1, stopping=stopping, **kw)
        assert alone[0] == hyps
        others = [(77,), prompts[b], (78, 1)]
        mixed, _ = beam(fn, prompts=others, batch_size=3, stopping=stopping, **kw)
        assert mixed[1] == hyps

    if stopping == "exact":
        # The exact rule is safe: running every item to max_len changes nothing.
        never = S._beam_search(S.TableScorer(fn, prompts), batch_size=B, stopping="never", n_best=None, **kw)
        assert never == batch


def test_exact_stopping_saves_steps_and_is_safe():
    # Over many random scorers (logp <= 0), "exact" equals running to max_len and often stops earlier.
    V, K, max_len = 5, 2, 7
    saved = 0
    for seed in range(30):
        for penalty, alpha in PENALTIES:
            fn = S.random_table(V, seed, scale=3.0)
            kw = dict(batch_size=2, beam_width=K, max_len=max_len, bos=4, eos=0, vocab_size=V, n_best=None,
                      length_penalty=penalty, alpha=alpha, no_repeat_ngram_size=0, banned=(), min_len=0)
            sc_exact, sc_never = S.TableScorer(fn, [(1,), (2,)]), S.TableScorer(fn, [(1,), (2,)])
            exact = S._beam_search(sc_exact, stopping="exact", **kw)
            never = S._beam_search(sc_never, stopping="never", **kw)
            assert exact == never, (seed, penalty, alpha)
            saved += len(sc_exact.calls) < len(sc_never.calls)
    assert saved > 10


def test_early_stops_when_beam_width_finished():
    # "early": the item is done right after the step where its pool reaches K finished, so (unless
    # it ran to max_len) the returned K hypotheses are all finished and the longest has exactly
    # as many tokens as the scorer was called; and the run is a prefix of the "exact" run.
    V, max_len = 4, 9
    checked = 0
    for seed in range(40):
        for K in (1, 2, 3):
            fn = S.random_table(V, seed, scale=1.0)
            kw = dict(batch_size=1, beam_width=K, max_len=max_len, bos=3, eos=0, vocab_size=V,
                      length_penalty="length", alpha=1.0)
            early, sc_early = beam(fn, stopping="early", **kw)
            exact, sc_exact = beam(fn, stopping="exact", **kw)
            assert len(sc_early.calls) <= len(sc_exact.calls)
            n = len(sc_early.calls)
            assert [c["prefixes"] for c in sc_early.calls] == [c["prefixes"] for c in sc_exact.calls[:n]]
            if len(sc_early.calls) < max_len:
                checked += 1
                assert len(early[0]) == K and all(h.finished for h in early[0])
                assert max(len(h.tokens) for h in early[0]) == len(sc_early.calls)
    assert checked > 50


@pytest.mark.parametrize("ngram", [1, 2, 3])
def test_no_repeat_ngram_against_repetitive_scorer(ngram):
    # A scorer that loves repeating the previous token and never ends: the rule must bite.
    V, eos, bos = 4, 0, 3
    def fn(prefix):
        row = np.full(V, -3.0, dtype=np.float32)
        row[prefix[-1]] = -0.01
        row[eos] = -9.0
        return row
    got, _ = beam(fn, batch_size=1, beam_width=3, max_len=6, bos=bos, eos=eos, vocab_size=V, no_repeat_ngram_size=ngram)
    assert got[0]
    for h in got[0]:
        check_constraints(h, bos=bos, eos=eos, min_len=0, banned=(), ngram=ngram, max_len=6)
    without, _ = beam(fn, batch_size=1, beam_width=3, max_len=6, bos=bos, eos=eos, vocab_size=V)
    assert without[0][0].tokens == (3,) * 6  # the rule is what changed the result


def test_min_len_and_banned_against_eager_scorer():
    # A scorer that wants to stop at once and prefers banned token 1.
    V, eos, bos = 4, 0, 3
    fn = dict_table({}, [-0.01, -0.5, -2, -3], V)
    for min_len in range(0, 5):
        got, _ = beam(fn, batch_size=1, beam_width=2, max_len=4, bos=bos, eos=eos, vocab_size=V, min_len=min_len,
                      banned=(1,))
        for h in got[0]:
            check_constraints(h, bos=bos, eos=eos, min_len=min_len, banned=(1,), ngram=0, max_len=4)
        assert got[0][0].tokens == (2,) * min_len + ((eos,) if min_len < 4 else ())
        g = S.greedy(S.TableScorer(fn), batch_size=1, max_len=4, bos=bos, eos=eos, vocab_size=V, min_len=min_len,
                     banned=(1,))
        assert g[0].tokens == got[0][0].tokens


# ---------------------------------------------------------------------------
# Greedy
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("penalty,alpha", PENALTIES, ids=PENALTY_IDS)
def test_greedy_equals_beam_width_1(penalty, alpha):
    # Relation: with beam_width 1, beam search's rank-0 candidate is greedy's argmax (same tie
    # rule).  If it is not eos it is the single live hypothesis and eos (rank >= 1) is skipped; if
    # it is eos the item gets its finished hypothesis (and keeps the runner-up live).  With
    # stopping="early" the item is then done, so for every length penalty the single result has
    # greedy's tokens, logprob and finished flag, and score normalise(logprob).  With "exact" the
    # same holds for length_penalty="none" (the runner-up's bound s <= the finished score), but
    # not in general with a length penalty (test_greedy_and_beam1_differ_with_length_penalty...).
    # This assumes some token is always allowed (else beam search returns [] for the item, greedy
    # an unfinished hypothesis): here no -inf.
    V, max_len = 5, 6
    for seed in range(25):
        for min_len, banned in [(0, ()), (2, (2,)), (6, ())]:
            fn = S.random_table(V, seed, scale=1.5)
            common = dict(batch_size=3, max_len=max_len, bos=1, eos=0, vocab_size=V, min_len=min_len, banned=banned)
            g = S.greedy(S.TableScorer(fn, [(), (5,), (6,)]), **common)
            stoppings = ["early", "exact"] if penalty == "none" else ["early"]
            for stopping in stoppings:
                b = S.beam_search(S.TableScorer(fn, [(), (5,), (6,)]), beam_width=1, length_penalty=penalty,
                                  alpha=alpha, stopping=stopping, **common)
                for gi, bi in zip(g, b):
                    assert bi == [S.Hyp(gi.tokens, S.normalise(gi.logprob, len(gi.tokens), penalty, alpha),
                                        gi.logprob, gi.finished)]


def test_greedy_ties_pick_smallest_id():
    fn = dict_table({(0,): [-1.0, -0.5, -0.5, -0.7]}, [-0.1, -1, -1, -1], 4)
    g = S.greedy(S.TableScorer(fn), batch_size=1, max_len=3, bos=0, eos=3, vocab_size=4)
    assert g[0].tokens[0] == 1


def test_greedy_batch_independence():
    fn = S.random_table(6, 11)
    prompts = [(1,), (2,), (3,), (4,)]
    full = S.greedy(S.TableScorer(fn, prompts), batch_size=4, max_len=7, bos=0, eos=5, vocab_size=6)
    for b, p in enumerate(prompts):
        assert S.greedy(S.TableScorer(fn, [p]), batch_size=1, max_len=7, bos=0, eos=5, vocab_size=6) == [full[b]]
        h = full[b]
        assert h.score == h.logprob == prefix_score(fn, (0,), h.tokens, p)


# ---------------------------------------------------------------------------
# Sampling
# ---------------------------------------------------------------------------


def test_mix64_known_splitmix64_outputs_and_uniform():
    # SplitMix64 seeded with 0 outputs mix64(k * golden) for k = 1, 2, 3.
    g = 0x9E3779B97F4A7C15
    expected = [0xE220A8397B1DCDAF, 0x6E789E6AA1B965F4, 0x06C45D188009454F]
    for k, e in enumerate(expected, start=1):
        assert S.mix64(k * g) == e
    # the uniform, recomputed with the rnn reference's NumPy uint64 finaliser
    us = []
    for seed in (0, 1, 2**64 - 1, 123456789):
        for item in (0, 1, 7):
            for step in (1, 2, 50):
                key = int(R.mix64(seed))
                x = ((key ^ ((item * g) % 2**64)) + step) % 2**64
                u = (int(R.mix64(x)) >> 11) / 2.0**53
                assert S.sample_uniform(seed, item, step) == u
                us.append(u)
    assert all(0.0 <= u < 1.0 for u in us)
    many = [S.sample_uniform(5, i, t) for i in range(50) for t in range(1, 41)]
    assert abs(np.mean(many) - 0.5) < 0.03 and len(set(many)) == len(many)


def test_sampling_distribution_top_k_top_p():
    logp = np.log(np.array([0.1, 0.4, 0.2, 0.3], dtype=np.float64)).astype(np.float32)
    full = S.sampling_distribution(logp, [0, 1, 2, 3])
    assert [v for v, _ in full] == [1, 3, 2, 0]
    assert [p for _, p in full] == pytest.approx([0.4, 0.3, 0.2, 0.1])
    k2 = S.sampling_distribution(logp, [0, 1, 2, 3], top_k=2)
    assert [v for v, _ in k2] == [1, 3] and [p for _, p in k2] == pytest.approx([4 / 7, 3 / 7])
    p65 = S.sampling_distribution(logp, [0, 1, 2, 3], top_p=0.65)  # 0.4, 0.7 >= 0.65
    assert [v for v, _ in p65] == [1, 3]
    p75 = S.sampling_distribution(logp, [0, 1, 2, 3], top_p=0.75)  # 0.4, 0.7, 0.9 >= 0.75
    assert [v for v, _ in p75] == [1, 3, 2]
    tiny = S.sampling_distribution(logp, [0, 1, 2, 3], top_p=0.01)  # always at least one
    assert tiny == [(1, 1.0)]
    both = S.sampling_distribution(logp, [0, 1, 2, 3], top_k=3, top_p=0.6)  # 4/9, 7/9 >= 0.6
    assert [v for v, _ in both] == [1, 3]
    hot = S.sampling_distribution(logp, [0, 1, 2, 3], temperature=2.0)
    assert [p for _, p in hot] == pytest.approx(np.sqrt([0.4, 0.3, 0.2, 0.1]) / np.sqrt([0.4, 0.3, 0.2, 0.1]).sum())
    restricted = S.sampling_distribution(logp, [0, 2])
    assert [v for v, _ in restricted] == [2, 0] and [p for _, p in restricted] == pytest.approx([2 / 3, 1 / 3])
    ties = S.sampling_distribution(np.zeros(4, dtype=np.float32), [3, 1, 2, 0], top_k=2)
    assert [v for v, _ in ties] == [0, 1]


def test_exact_top_p_boundary_and_draw_rule():
    # Equal log-probs give exactly representable probabilities: a running sum equal to top_p is
    # enough (">="), and a running sum equal to u is not enough to pick a token (">").
    flat = np.zeros(4, dtype=np.float32)
    assert [v for v, _ in S.sampling_distribution(flat, [0, 1, 2, 3], top_p=0.75)] == [0, 1, 2]
    assert [v for v, _ in S.sampling_distribution(flat, [0, 1, 2, 3], top_p=0.5)] == [0, 1]
    assert S.sampling_distribution(flat, [2, 3], top_p=0.5) == [(2, 1.0)]
    dist = [(2, 0.5), (0, 0.25), (1, 0.25)]
    assert [S.draw_token(dist, u) for u in (0.0, 0.49, 0.5, 0.74, 0.75, 0.999)] == [2, 2, 0, 0, 1, 1]
    # rounding leaves the total below u: the last token
    assert S.draw_token([(4, 0.3), (5, 0.3)], 0.9) == 5


def kept_tokens(row, allowed, temperature, top_k, top_p):
    """The test's own top-k/top-p: the set of tokens sampling may emit for one log-prob row."""
    allowed = np.array(sorted(allowed))
    logits = row[allowed].astype(np.float64) / temperature
    p = np.exp(logits - logits.max())
    p /= p.sum()
    order = np.lexsort((allowed, -p))
    ids, p = allowed[order], p[order]
    keep = p > 0
    ids, p = ids[keep], p[keep]
    if 0 < top_k < len(ids):
        ids, p = ids[:top_k], p[:top_k] / p[:top_k].sum()
    if top_p < 1.0:
        n = int(np.searchsorted(np.cumsum(p), top_p)) + 1
        ids = ids[:n]
    return set(ids.tolist())


@pytest.mark.parametrize("temperature,top_k,top_p", [(1.0, 0, 1.0), (1.0, 2, 1.0), (1.0, 0, 0.6), (0.7, 3, 0.8),
                                                     (2.0, 1, 1.0), (1.3, 0, 0.3)])
def test_sample_respects_top_k_top_p_min_len_banned(temperature, top_k, top_p):
    V, eos, bos, max_len, min_len, banned = 7, 0, 6, 5, 2, (3,)
    fn = S.random_table(V, 2, scale=1.5)
    prompts = [(1,), (2,), (3,)]
    for seed in range(40):
        out = S.sample(S.TableScorer(fn, prompts), batch_size=3, max_len=max_len, bos=bos, eos=eos, vocab_size=V,
                       seed=seed, temperature=temperature, top_k=top_k, top_p=top_p, min_len=min_len, banned=banned)
        for b, h in enumerate(out):
            check_constraints(h, bos=bos, eos=eos, min_len=min_len, banned=banned, ngram=0, max_len=max_len)
            assert h.score == h.logprob == prefix_score(fn, (bos,), h.tokens, prompts[b])
            ctx = prompts[b] + (bos,)
            for t, v in enumerate(h.tokens, start=1):
                allowed = [w for w in range(V) if w not in banned and not (w == eos and t <= min_len)]
                assert v in kept_tokens(fn(ctx), allowed, temperature, top_k, top_p)
                ctx = ctx + (v,)


def test_sample_reproducible_and_batch_independent():
    V = 6
    fn = S.random_table(V, 4)
    kw = dict(max_len=6, bos=0, eos=5, vocab_size=V, top_p=0.9)
    prompts = [(1,), (2,), (3,)]
    a = S.sample(S.TableScorer(fn, prompts), batch_size=3, seed=99, **kw)
    assert S.sample(S.TableScorer(fn, prompts), batch_size=3, seed=99, **kw) == a
    # other items' content does not matter, only (seed, item index, own scores)
    assert S.sample(S.TableScorer(fn, [(7,), (2,), (8, 8)]), batch_size=3, seed=99, **kw)[1] == a[1]
    assert S.sample(S.TableScorer(fn, [(1,), (2,)]), batch_size=2, seed=99, **kw) == a[:2]
    assert S.sample(S.TableScorer(fn, [(1,)]), batch_size=1, seed=99, **kw) == a[:1]
    distinct = {tuple(S.sample(S.TableScorer(fn, prompts), batch_size=3, seed=s, **kw)) for s in range(10)}
    assert len(distinct) > 5


# chi-square critical values at the 0.999 level, degrees of freedom 1..8
CHI2_999 = [10.828, 13.816, 16.266, 18.467, 20.515, 22.458, 24.322, 26.124]


def chi2_critical(df):
    try:
        from scipy.stats import chi2
        return float(chi2.ppf(0.999, df))
    except ImportError:
        return CHI2_999[df - 1]


@pytest.mark.parametrize("temperature,top_k,top_p", [(1.0, 0, 1.0), (1.0, 3, 1.0), (1.0, 0, 0.75), (0.8, 4, 0.9),
                                                     (1.5, 0, 1.0)])
def test_sample_first_token_chi_square(temperature, top_k, top_p):
    probs = np.array([0.05, 0.3, 0.25, 0.2, 0.12, 0.08])
    V, bos, eos = 6, 0, 5
    row = np.log(probs).astype(np.float32)
    fn = dict_table({}, row, V)
    # expected: softmax(logp / T), then top-k, then top-p, renormalised (independent of S)
    p = np.exp(row.astype(np.float64) / temperature)
    p /= p.sum()
    order = np.lexsort((np.arange(V), -p))
    keep = order[:top_k] if top_k else order
    q = np.zeros(V)
    q[keep] = p[keep] / p[keep].sum()
    if top_p < 1.0:
        ordered = keep[np.argsort(-q[keep], kind="stable")]
        n = int(np.searchsorted(np.cumsum(q[ordered]), top_p)) + 1
        kept = ordered[:n]
        q2 = np.zeros(V)
        q2[kept] = q[kept] / q[kept].sum()
        q = q2
    N = 3000
    counts = np.zeros(V)
    for seed in range(N):
        h = S.sample(S.TableScorer(fn), batch_size=1, max_len=1, bos=bos, eos=eos, vocab_size=V, seed=seed,
                     temperature=temperature, top_k=top_k, top_p=top_p)[0]
        counts[h.tokens[0]] += 1
    assert counts[q == 0].sum() == 0
    support = q > 0
    expected = N * q[support]
    stat = float(((counts[support] - expected) ** 2 / expected).sum())
    assert stat < chi2_critical(int(support.sum()) - 1), (counts, expected)


def test_sample_batch_items_follow_distribution():
    # Same check across batch items of one seed (the item index is part of the counter).
    probs = np.array([0.4, 0.35, 0.15, 0.1])
    fn = dict_table({}, np.log(probs), 4)
    N = 3000
    out = S.sample(S.TableScorer(fn), batch_size=N, max_len=1, bos=0, eos=3, vocab_size=4, seed=2024)
    counts = np.bincount([h.tokens[0] for h in out], minlength=4)
    stat = float(((counts - N * probs) ** 2 / (N * probs)).sum())
    assert stat < chi2_critical(3)


def test_greedy_picks_mode_and_equals_top_k_1():
    V = 7
    for seed in range(15):
        fn = S.random_table(V, seed)
        g = S.greedy(S.TableScorer(fn), batch_size=1, max_len=6, bos=1, eos=0, vocab_size=V)
        assert g[0].tokens[0] == int(np.argmax(fn((1,))))
        # top_k = 1 keeps only the mode (ties: smallest id, as greedy): sampling is greedy
        for s in range(3):
            kw = dict(batch_size=2, max_len=6, bos=1, eos=0, vocab_size=V, min_len=1, banned=(4,))
            assert S.sample(S.TableScorer(fn, [(1,), (2,)]), seed=s, top_k=1, **kw) == \
                S.greedy(S.TableScorer(fn, [(1,), (2,)]), **kw)
            assert S.sample(S.TableScorer(fn, [(1,), (2,)]), seed=s, temperature=1e-4, **kw) == \
                S.greedy(S.TableScorer(fn, [(1,), (2,)]), **kw)


# ---------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------

BEAM_OK = dict(batch_size=2, beam_width=2, max_len=3, bos=0, eos=1, vocab_size=4)


@pytest.mark.parametrize("bad,match", [
    (dict(beam_width=0), "beam_width"),
    (dict(beam_width=1.5), "beam_width"),
    (dict(eos=4), "eos"),
    (dict(eos=-1), "eos"),
    (dict(bos=4), "bos"),
    (dict(max_len=0), "max_len"),
    (dict(min_len=4), "min_len"),
    (dict(min_len=-1), "min_len"),
    (dict(n_best=3), "n_best"),
    (dict(n_best=0), "n_best"),
    (dict(length_penalty="avg"), "length_penalty"),
    (dict(alpha=-0.5), "alpha"),
    (dict(alpha=float("nan")), "alpha"),
    (dict(stopping="never"), "stopping"),
    (dict(stopping="heuristic"), "stopping"),
    (dict(no_repeat_ngram_size=-1), "no_repeat_ngram_size"),
    (dict(banned=(4,)), "banned"),
    (dict(banned=5), "banned"),
    (dict(vocab_size=0), "vocab_size"),
    (dict(batch_size=-1), "batch_size"),
    (dict(batch_size=True), "batch_size"),
])
def test_beam_bad_arguments(bad, match):
    with pytest.raises(ValueError, match=match):
        S.beam_search(S.random_scorer(4, 0), **{**BEAM_OK, **bad})


@pytest.mark.parametrize("bad,match", [
    (dict(seed=-1), "seed"),
    (dict(seed=2**64), "seed"),
    (dict(temperature=0.0), "temperature"),
    (dict(temperature=float("inf")), "temperature"),
    (dict(top_k=-1), "top_k"),
    (dict(top_p=0.0), "top_p"),
    (dict(top_p=1.5), "top_p"),
    (dict(eos=9), "eos"),
    (dict(min_len=5), "min_len"),
])
def test_sample_and_greedy_bad_arguments(bad, match):
    ok = dict(batch_size=2, max_len=3, bos=0, eos=1, vocab_size=4, seed=0)
    with pytest.raises(ValueError, match=match):
        S.sample(S.random_scorer(4, 0), **{**ok, **bad})
    if "seed" not in bad and not {"temperature", "top_k", "top_p"} & set(bad):
        ok.pop("seed")
        with pytest.raises(ValueError, match=match):
            S.greedy(S.random_scorer(4, 0), **{**ok, **bad})


def bad_scorer(step_bad, kind, V=4):
    """A scorer that returns valid log-probs except at step ``step_bad``."""
    state = {"step": 0}
    def scorer(tokens, parents):
        state["step"] += 1
        out = np.full((len(tokens), V), -np.log(V), dtype=np.float32)
        out[:, 2] = -0.1  # never eos (1): keeps every item running
        out[:, 1] = -5.0
        if state["step"] != step_bad:
            return out
        if kind == "dtype":
            return out.astype(np.float64)
        if kind == "shape":
            return out[:, :-1]
        if kind == "rows":
            return out[:-1]
        if kind == "nan":
            out[0, 0] = np.nan
        if kind == "posinf":
            out[-1, 3] = np.inf
        if kind == "list":
            return out.tolist()
        return out
    return scorer


@pytest.mark.parametrize("kind,match", [("dtype", "float32"), ("shape", "shape"), ("rows", "shape"), ("nan", "NaN"),
                                        ("posinf", r"\+inf"), ("list", "numpy array")])
@pytest.mark.parametrize("step", [1, 3])
def test_bad_scorer_output_names_the_step(kind, match, step):
    for run in (lambda sc: S.beam_search(sc, **BEAM_OK),
                lambda sc: S.greedy(sc, batch_size=2, max_len=3, bos=0, eos=1, vocab_size=4),
                lambda sc: S.sample(sc, batch_size=2, max_len=3, bos=0, eos=1, vocab_size=4, seed=1)):
        with pytest.raises(ValueError, match=match) as err:
            run(bad_scorer(step, kind))
        assert f"step {step}" in str(err.value)


def test_neg_inf_is_allowed():
    def scorer(tokens, parents):
        out = np.full((len(tokens), 4), -np.inf, dtype=np.float32)
        out[:, 1] = -0.5
        out[:, 2] = -1.0
        return out
    got = S.beam_search(scorer, **BEAM_OK)
    assert got[0][0] == S.Hyp((1,), -0.5, -0.5, True)
