"""Slow, readable pure-Python/NumPy reference for decoding: beam search, greedy, sampling.

This is what seqfast's Rust decoders are checked against, so it favours being obviously right
over being fast: plain loops over batch items, hypotheses and tokens, Python floats (float64)
for every score.  It is checked in turn by brute-force enumeration and statistical tests
(``tests/search/test_reference_search.py``).

Scorer protocol
---------------
A *scorer* is a callable ``scorer(tokens, parents) -> logp`` called once per step for all live
hypotheses of all batch items together:

* ``tokens``: (n_live,) uint32, the last token of each live hypothesis (``bos`` at step 1);
* ``parents``: (n_live,) int64, the index of each live hypothesis's parent in the *previous*
  call's list of live hypotheses; at step 1 it is the batch item index of each hypothesis (one
  initial hypothesis per item, in item order);
* returns ``logp``: (n_live, V) float32 log-probabilities (the scorer keeps its own state,
  re-indexed by ``parents``).  NaN and +inf are errors; -inf means "impossible".

Live hypotheses are ordered by batch item, then by rank within the item (best first).  Items that
are done have no live hypotheses; the scorer is never called with zero live hypotheses.

A hypothesis' ``tokens`` are the generated tokens ``y_1..y_L`` (``bos`` excluded, ``eos`` included
when it finished); ``L`` counts ``eos``.  Step ``t`` (1-based) generates ``y_t``.

Common constraints (a disallowed token is never chosen)
------------------------------------------------------
* ``eos`` only once ``t > min_len`` (so a finished hypothesis has ``L >= min_len + 1``);
* no token of ``banned``;
* no token whose ``logp`` is ``-inf``;
* beam search only, ``no_repeat_ngram_size = n >= 1``: no ``v`` such that the last ``n - 1``
  tokens of ``[bos, y_1..y_{t-1}]`` followed by ``v`` already occur as an n-gram of
  ``[bos, y_1..y_{t-1}]`` (equivalently: all n-grams of ``[bos] + tokens`` are distinct).  It
  applies to every token, ``eos`` included.

Contents
--------
``beam_search``, ``greedy``, ``sample``   the decoders; each returns ``Hyp`` records.
``normalise``, ``best_attainable``          length normalisation and the "exact" stopping bound.
``blocked_by_ngrams``                       the no-repeat-n-gram rule.
``sampling_distribution``, ``draw_token``, ``mix64``, ``sample_uniform``   the sampler's pieces.
``TableScorer``, ``random_table``, ``random_scorer``       scorers for tests (also for Rust tests).
"""

from __future__ import annotations

import math
import zlib
from typing import Callable, Dict, Iterable, List, NamedTuple, Optional, Sequence, Tuple

import numpy as np

LENGTH_PENALTIES = ("none", "length", "gnmt")
STOPPING_RULES = ("early", "exact")
NEG_INF = float("-inf")


class Hyp(NamedTuple):
    """One decoded sequence.

    ``tokens``: generated tokens (bos excluded, eos included if finished); ``score``: normalised
    score (beam search) or ``logprob`` (greedy, sample); ``logprob``: float64 sum of the raw
    float32 log-probs of the tokens, accumulated left to right; ``finished``: ended with eos.
    """

    tokens: Tuple[int, ...]
    score: float
    logprob: float
    finished: bool


# ---------------------------------------------------------------------------
# Argument checking
# ---------------------------------------------------------------------------


def _int(name: str, x, lo: Optional[int] = None, hi: Optional[int] = None) -> int:
    """``x`` as an int in ``[lo, hi]`` (bools and floats are rejected), else ValueError."""
    if isinstance(x, bool) or not isinstance(x, (int, np.integer)):
        raise ValueError(f"{name} must be an integer, got {x!r}")
    x = int(x)
    if lo is not None and x < lo:
        raise ValueError(f"{name} must be >= {lo}, got {x}")
    if hi is not None and x > hi:
        raise ValueError(f"{name} must be <= {hi}, got {x}")
    return x


def _float(name: str, x) -> float:
    if isinstance(x, bool) or not isinstance(x, (int, float, np.integer, np.floating)):
        raise ValueError(f"{name} must be a number, got {x!r}")
    x = float(x)
    if not math.isfinite(x):
        raise ValueError(f"{name} must be finite, got {x}")
    return x


def _check_common(batch_size, max_len, bos, eos, vocab_size, min_len, banned):
    """Validate the arguments every decoder takes; returns them normalised (banned as a set)."""
    vocab_size = _int("vocab_size", vocab_size, 1, 2**32)
    batch_size = _int("batch_size", batch_size, 0)
    max_len = _int("max_len", max_len, 1)
    bos = _int("bos", bos, 0, vocab_size - 1)
    eos = _int("eos", eos, 0, vocab_size - 1)
    min_len = _int("min_len", min_len, 0)
    if min_len > max_len:
        raise ValueError(f"min_len ({min_len}) must be <= max_len ({max_len})")
    if isinstance(banned, (str, bytes)) or not isinstance(banned, Iterable):
        raise ValueError(f"banned must be an iterable of token ids, got {banned!r}")
    banned = frozenset(_int("banned token", v, 0, vocab_size - 1) for v in banned)
    return batch_size, max_len, bos, eos, vocab_size, min_len, banned


def _call_scorer(scorer, tokens: List[int], parents: List[int], vocab_size: int, step: int) -> np.ndarray:
    """Call the scorer with the protocol's arrays and check what it returns."""
    tok = np.array(tokens, dtype=np.uint32)
    par = np.array(parents, dtype=np.int64)
    logp = scorer(tok, par)
    where = f"scorer output at step {step}"
    if not isinstance(logp, np.ndarray):
        raise ValueError(f"{where}: expected a numpy array, got {type(logp).__name__}")
    if logp.dtype != np.float32:
        raise ValueError(f"{where}: expected dtype float32, got {logp.dtype}")
    if logp.shape != (len(tokens), vocab_size):
        raise ValueError(f"{where}: expected shape {(len(tokens), vocab_size)}, got {logp.shape}")
    if np.isnan(logp).any():
        raise ValueError(f"{where}: contains NaN")
    if np.isposinf(logp).any():
        raise ValueError(f"{where}: contains +inf")
    return logp


# ---------------------------------------------------------------------------
# Constraints and scores
# ---------------------------------------------------------------------------


def blocked_by_ngrams(seq: Sequence[int], n: int) -> set:
    """Tokens ``v`` such that ``seq + [v]`` would repeat an n-gram of ``seq`` (``n >= 1``).

    ``seq`` is the full sequence so far, bos included.  The new n-gram is the last ``n - 1``
    tokens of ``seq`` followed by ``v``; it is blocked when it already occurs in ``seq``.
    ``n == 0`` blocks nothing.
    """
    if n <= 0 or len(seq) < n:
        return set()
    seq = tuple(seq)
    head = seq[len(seq) - (n - 1):] if n > 1 else ()
    return {seq[i + n - 1] for i in range(len(seq) - n + 1) if seq[i:i + n - 1] == head}


def _length_divisor(length: int, length_penalty: str, alpha: float) -> float:
    if length_penalty == "none":
        return 1.0
    if length_penalty == "length":
        return float(length) ** alpha
    if length_penalty == "gnmt":
        return ((5.0 + length) / 6.0) ** alpha
    raise ValueError(f"length_penalty must be one of {LENGTH_PENALTIES}, got {length_penalty!r}")


def normalise(score: float, length: int, length_penalty: str, alpha: float) -> float:
    """Normalised score of a hypothesis with raw score ``score`` and ``length`` tokens.

    ``"none"``: ``score``; ``"length"``: ``score / length**alpha``;
    ``"gnmt"``: ``score / ((5 + length) / 6)**alpha``.
    """
    if length_penalty == "none":
        return score
    return score / _length_divisor(length, length_penalty, alpha)


def best_attainable(score: float, length: int, max_len: int, length_penalty: str, alpha: float) -> float:
    """Upper bound on the normalised score of any completion of a live hypothesis.

    Assumes log-probs are <= 0 (scores only decrease).  ``"none"``: ``score``.  With a length
    penalty and ``score <= 0``: ``score / lp(max_len)`` (the longest possible length divides the
    least).  With ``score > 0`` (only possible if the scorer returns positive "log-probs"):
    ``score / lp(length)`` with the current length, a looser bound.
    """
    if length_penalty == "none":
        return score
    if score <= 0.0:
        return score / _length_divisor(max_len, length_penalty, alpha)
    return score / _length_divisor(length, length_penalty, alpha)


# ---------------------------------------------------------------------------
# Beam search
# ---------------------------------------------------------------------------


class _Live(NamedTuple):
    tokens: Tuple[int, ...]  # generated tokens so far (no eos)
    score: float  # raw score: float64 sum of log-probs
    parent: int  # row of the parent in the scorer call that produced this hypothesis


def beam_search(
    scorer: Callable,
    *,
    batch_size: int,
    beam_width: int,
    max_len: int,
    bos: int,
    eos: int,
    vocab_size: int,
    min_len: int = 0,
    n_best: Optional[int] = None,
    length_penalty: str = "none",
    alpha: float = 1.0,
    stopping: str = "exact",
    no_repeat_ngram_size: int = 0,
    banned: Iterable[int] = (),
) -> List[List[Hyp]]:
    """Batched beam search; one list of ``Hyp`` per batch item, best first.

    Per item (items are independent), at step ``t = 1..max_len``: every live hypothesis ``i``
    (raw score ``s_i``) extended by every allowed token ``v`` is a candidate with score
    ``s_i + float64(logp[i, v])``.  Candidates are ordered by (score desc, hypothesis rank asc,
    token id asc) and walked with rank ``r = 0, 1, ...``:

    * ``v == eos``: if ``r < beam_width`` the finished hypothesis joins the item's pool, else it
      is skipped;
    * otherwise it becomes a live hypothesis, until ``beam_width`` are collected (walk stops).

    Stopping, checked after each step's selection: the item is done when it has no live
    hypothesis; ``"early"``: as soon as the pool holds ``>= beam_width`` hypotheses; ``"exact"``:
    when the pool holds ``>= beam_width`` and no live hypothesis' ``best_attainable`` bound is
    above the ``beam_width``-th best normalised score in the pool (a tie cannot beat it).  After
    step ``max_len`` the live hypotheses of items not done join the pool, unfinished.

    Result per item: the ``n_best`` (default ``beam_width``) pool entries with the highest
    normalised score, descending, ties in order of insertion into the pool.  It may hold fewer
    (even zero) entries when fewer sequences are possible.
    """
    if stopping not in STOPPING_RULES:
        raise ValueError(f"stopping must be one of {STOPPING_RULES}, got {stopping!r}")
    return _beam_search(scorer, batch_size=batch_size, beam_width=beam_width, max_len=max_len, bos=bos,
                        eos=eos, vocab_size=vocab_size, min_len=min_len, n_best=n_best,
                        length_penalty=length_penalty, alpha=alpha, stopping=stopping,
                        no_repeat_ngram_size=no_repeat_ngram_size, banned=banned)


def _beam_search(scorer, *, batch_size, beam_width, max_len, bos, eos, vocab_size, min_len, n_best,
                 length_penalty, alpha, stopping, no_repeat_ngram_size, banned):
    """``beam_search``; also accepts ``stopping="never"`` (run to max_len), used by the tests."""
    batch_size, max_len, bos, eos, vocab_size, min_len, banned = _check_common(
        batch_size, max_len, bos, eos, vocab_size, min_len, banned)
    K = _int("beam_width", beam_width, 1)
    n_best = K if n_best is None else _int("n_best", n_best, 1, K)
    if length_penalty not in LENGTH_PENALTIES:
        raise ValueError(f"length_penalty must be one of {LENGTH_PENALTIES}, got {length_penalty!r}")
    alpha = _float("alpha", alpha)
    if alpha < 0.0:
        raise ValueError(f"alpha must be >= 0, got {alpha}")
    if stopping not in STOPPING_RULES + ("never",):
        raise ValueError(f"stopping must be one of {STOPPING_RULES}, got {stopping!r}")
    ngram = _int("no_repeat_ngram_size", no_repeat_ngram_size, 0)

    live: List[List[_Live]] = [[_Live((), 0.0, b)] for b in range(batch_size)]
    pool: List[List[Hyp]] = [[] for _ in range(batch_size)]
    done = [False] * batch_size

    for t in range(1, max_len + 1):
        # One scorer call for the live hypotheses of all items not done, item by item, best first.
        rows = [(b, h) for b in range(batch_size) if not done[b] for h in live[b]]
        if not rows:
            break
        tokens = [h.tokens[-1] if h.tokens else bos for _, h in rows]
        logp = _call_scorer(scorer, tokens, [h.parent for _, h in rows], vocab_size, t)

        row = 0  # index of the item's first hypothesis in this call
        for b in range(batch_size):
            if done[b]:
                continue
            hyps = live[b]
            cands = []  # (score, rank, token)
            for rank, h in enumerate(hyps):
                blocked = set(banned)
                if t <= min_len:
                    blocked.add(eos)
                blocked |= blocked_by_ngrams((bos,) + h.tokens, ngram)
                for v in range(vocab_size):
                    lp = float(logp[row + rank, v])
                    if v in blocked or lp == NEG_INF:
                        continue
                    cands.append((h.score + lp, rank, v))
            cands.sort(key=lambda c: (-c[0], c[1], c[2]))

            new_live: List[_Live] = []
            for r, (s, rank, v) in enumerate(cands):
                h = hyps[rank]
                if v == eos:
                    if r < K:
                        pool[b].append(Hyp(h.tokens + (v,), normalise(s, t, length_penalty, alpha), s, True))
                    continue
                new_live.append(_Live(h.tokens + (v,), s, row + rank))
                if len(new_live) == K:
                    break
            row += len(hyps)
            live[b] = new_live

            if not new_live:
                done[b] = True
            elif len(pool[b]) >= K and stopping != "never":
                if stopping == "early":
                    done[b] = True
                else:
                    worst_kept = sorted((p.score for p in pool[b]), reverse=True)[K - 1]
                    bound = max(best_attainable(h.score, t, max_len, length_penalty, alpha) for h in new_live)
                    done[b] = bound <= worst_kept

    for b in range(batch_size):
        if not done[b]:
            for h in live[b]:
                pool[b].append(Hyp(h.tokens, normalise(h.score, max_len, length_penalty, alpha), h.score, False))
    # sorted() is stable: equal scores keep their order of insertion into the pool.
    return [sorted(p, key=lambda hyp: -hyp.score)[:n_best] for p in pool]


# ---------------------------------------------------------------------------
# Greedy decoding
# ---------------------------------------------------------------------------


def _allowed(row: np.ndarray, t: int, eos: int, min_len: int, banned) -> List[int]:
    """Allowed token ids at step ``t`` for one hypothesis (ascending)."""
    return [v for v in range(row.shape[0])
            if v not in banned and not (v == eos and t <= min_len) and float(row[v]) != NEG_INF]


def greedy(scorer: Callable, *, batch_size: int, max_len: int, bos: int, eos: int, vocab_size: int,
           min_len: int = 0, banned: Iterable[int] = ()) -> List[Hyp]:
    """Greedy decoding: one ``Hyp`` per item (``score == logprob``).

    At each step the item takes the allowed token with the highest log-prob (ties: smallest id).
    It stops after emitting eos (``finished=True``), after ``max_len`` tokens, or when no token is
    allowed (``finished=False``, shorter than ``max_len``).
    """
    batch_size, max_len, bos, eos, vocab_size, min_len, banned = _check_common(
        batch_size, max_len, bos, eos, vocab_size, min_len, banned)
    return _run_single(scorer, batch_size, max_len, bos, eos, vocab_size, min_len, banned,
                       choose=lambda b, t, row, allowed: max(allowed, key=lambda v: (float(row[v]), -v)))


def _run_single(scorer, batch_size, max_len, bos, eos, vocab_size, min_len, banned, choose) -> List[Hyp]:
    """Shared loop of greedy and sample: one hypothesis per item, ``choose`` picks its token."""
    toks: List[Tuple[int, ...]] = [()] * batch_size
    logprob = [0.0] * batch_size
    finished = [False] * batch_size
    active = list(range(batch_size))  # items still running, in item order
    parents = list(range(batch_size))  # at step 1: item index
    for t in range(1, max_len + 1):
        if not active:
            break
        logp = _call_scorer(scorer, [toks[b][-1] if toks[b] else bos for b in active], parents, vocab_size, t)
        still, parents = [], []
        for i, b in enumerate(active):
            allowed = _allowed(logp[i], t, eos, min_len, banned)
            if not allowed:
                continue
            v = choose(b, t, logp[i], allowed)
            toks[b] = toks[b] + (v,)
            logprob[b] += float(logp[i, v])
            if v == eos:
                finished[b] = True
            else:
                still.append(b)
                parents.append(i)
        active = still
    return [Hyp(toks[b], logprob[b], logprob[b], finished[b]) for b in range(batch_size)]


# ---------------------------------------------------------------------------
# Ancestral sampling
# ---------------------------------------------------------------------------

_M64 = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15


def mix64(z: int) -> int:
    """SplitMix64's finaliser on a Python int, all arithmetic mod 2**64."""
    z &= _M64
    z ^= z >> 30
    z = (z * 0xBF58476D1CE4E5B9) & _M64
    z ^= z >> 27
    z = (z * 0x94D049BB133111EB) & _M64
    z ^= z >> 31
    return z


def sample_uniform(seed: int, item: int, step: int) -> float:
    """The counter-based uniform in [0, 1) used by ``sample`` for ``item`` at ``step`` (1-based).

    ``key = mix64(seed)``; ``x = ((key ^ (item * 0x9E3779B97F4A7C15)) + step) mod 2**64``;
    ``u = (mix64(x) >> 11) * 2**-53``.  (XOR first, then add, as in ``rnn.dropout_mask``.)
    """
    key = mix64(seed)
    x = ((key ^ ((item * _GOLDEN) & _M64)) + step) & _M64
    return (mix64(x) >> 11) * 2.0**-53


def sampling_distribution(logp_row: np.ndarray, allowed: Sequence[int], temperature: float = 1.0,
                          top_k: int = 0, top_p: float = 1.0) -> List[Tuple[int, float]]:
    """The distribution ``sample`` draws from, as ``[(token, prob), ...]`` in draw order.

    1. ``logits = float64(logp) / temperature`` over the allowed tokens;
    2. softmax: ``e_v = exp(logit_v - max)``, ``Z`` = their sum in token-id order, ``p_v = e_v / Z``;
       tokens whose probability is exactly 0.0 (underflow) are dropped;
    3. sort by (prob desc, id asc);
    4. ``top_k > 0``: keep the first ``top_k``; renormalise (sum in sorted order, divide);
    5. ``top_p < 1``: keep the shortest prefix whose running sum (left to right) is ``>= top_p``
       (all of them if rounding keeps the sum below); renormalise again.
    Every sum is a left-to-right float64 accumulation.
    """
    logits = {v: float(logp_row[v]) / temperature for v in allowed}
    m = max(logits.values())
    e = {v: math.exp(logits[v] - m) for v in allowed}
    z = 0.0
    for v in sorted(allowed):
        z += e[v]
    dist = [(v, e[v] / z) for v in allowed if e[v] / z > 0.0]
    dist.sort(key=lambda vp: (-vp[1], vp[0]))
    if top_k > 0 and top_k < len(dist):
        dist = _renormalise(dist[:top_k])
    if top_p < 1.0:
        running = 0.0
        for n, (_, p) in enumerate(dist, start=1):
            running += p
            if running >= top_p:
                dist = _renormalise(dist[:n])
                break
    return dist


def _renormalise(dist: List[Tuple[int, float]]) -> List[Tuple[int, float]]:
    total = 0.0
    for _, p in dist:
        total += p
    return [(v, p / total) for v, p in dist]


def draw_token(dist: List[Tuple[int, float]], u: float) -> int:
    """First token whose running probability exceeds ``u`` (the last one if rounding leaves none)."""
    running = 0.0
    for v, p in dist:
        running += p
        if running > u:
            return v
    return dist[-1][0]


def sample(scorer: Callable, *, batch_size: int, max_len: int, bos: int, eos: int, vocab_size: int,
           seed: int, temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0, min_len: int = 0,
           banned: Iterable[int] = ()) -> List[Hyp]:
    """Ancestral sampling: one ``Hyp`` per item (``score == logprob``, the raw model log-prob).

    At step ``t`` item ``b`` draws ``u = sample_uniform(seed, b, t)`` and picks ``draw_token`` of
    ``sampling_distribution`` over its allowed tokens.  Stops as ``greedy`` does.  An item's
    result depends only on (seed, its index, its own scores), never on the other items.
    """
    batch_size, max_len, bos, eos, vocab_size, min_len, banned = _check_common(
        batch_size, max_len, bos, eos, vocab_size, min_len, banned)
    seed = _int("seed", seed, 0, _M64)
    temperature = _float("temperature", temperature)
    if temperature <= 0.0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    top_k = _int("top_k", top_k, 0)
    top_p = _float("top_p", top_p)
    if not 0.0 < top_p <= 1.0:
        raise ValueError(f"top_p must be in (0, 1], got {top_p}")

    def choose(b, t, row, allowed):
        return draw_token(sampling_distribution(row, allowed, temperature, top_k, top_p), sample_uniform(seed, b, t))

    return _run_single(scorer, batch_size, max_len, bos, eos, vocab_size, min_len, banned, choose)


# ---------------------------------------------------------------------------
# Scorers for tests
# ---------------------------------------------------------------------------


class TableScorer:
    """A scorer whose log-probs depend only on each hypothesis' full prefix.

    ``fn(prefix) -> (V,)`` log-probs, where ``prefix = prompts[item] + (bos, y_1, ..., y_{t-1})``
    (``prompts`` defaults to no prompt for every item).  The scorer rebuilds prefixes from
    ``parents`` and ``tokens`` as the protocol says, so it only works if the decoder follows it.
    Use one object per decode (or call ``reset``).  ``calls`` records, per call, the arrays
    received and the prefixes they denote, and ``items`` the item of each row.
    """

    def __init__(self, fn: Callable[[Tuple[int, ...]], np.ndarray],
                 prompts: Optional[Sequence[Tuple[int, ...]]] = None):
        self.fn = fn
        self.prompts = None if prompts is None else [tuple(p) for p in prompts]
        self.reset()

    def reset(self) -> None:
        self.prefixes: Optional[List[Tuple[int, ...]]] = None
        self.items: Optional[List[int]] = None
        self.calls: List[dict] = []

    def __call__(self, tokens: np.ndarray, parents: np.ndarray) -> np.ndarray:
        assert tokens.dtype == np.uint32 and parents.dtype == np.int64, (tokens.dtype, parents.dtype)
        assert tokens.ndim == 1 and tokens.shape == parents.shape and len(tokens) > 0
        first = self.prefixes is None
        prefixes, items = [], []
        for tok, par in zip(tokens.tolist(), parents.tolist()):
            if first:
                prompt = () if self.prompts is None else self.prompts[par]
                prefixes.append(prompt + (tok,))
                items.append(par)
            else:
                assert 0 <= par < len(self.prefixes), (par, len(self.prefixes))
                prefixes.append(self.prefixes[par] + (tok,))
                items.append(self.items[par])
        self.prefixes, self.items = prefixes, items
        self.calls.append({"tokens": tokens.copy(), "parents": parents.copy(), "prefixes": prefixes,
                           "items": items})
        return np.stack([np.asarray(self.fn(p), dtype=np.float32) for p in prefixes])


def random_table(V: int, seed: int, *, scale: float = 2.0, p_inf: float = 0.0) -> Callable:
    """``fn(prefix) -> (V,)`` float32 normalised log-probs, pseudo-random but fixed per prefix.

    The generator is ``numpy.random.default_rng([seed, crc32(prefix as uint32 bytes)])``:
    logits ``scale * N(0, 1)``; each token is made impossible (-inf) with probability ``p_inf``
    (never all of them); log-softmax in float64, then float32.  Results are cached.
    """
    cache: Dict[Tuple[int, ...], np.ndarray] = {}

    def fn(prefix):
        prefix = tuple(int(x) for x in prefix)
        if prefix not in cache:
            h = zlib.crc32(np.array(prefix, dtype=np.uint32).tobytes())
            rng = np.random.default_rng([seed, h])
            logits = scale * rng.standard_normal(V)
            if p_inf > 0.0:
                dead = rng.random(V) < p_inf
                if dead.all():
                    dead[rng.integers(V)] = False
                logits[dead] = NEG_INF
            m = logits.max()
            lse = m + math.log(float(np.exp(logits - m).sum()))
            cache[prefix] = (logits - lse).astype(np.float32)
        return cache[prefix]

    return fn


def random_scorer(V: int, seed: int, *, scale: float = 2.0, p_inf: float = 0.0,
                  prompts: Optional[Sequence[Tuple[int, ...]]] = None) -> TableScorer:
    """A fresh ``TableScorer`` over ``random_table(V, seed, ...)``."""
    return TableScorer(random_table(V, seed, scale=scale, p_inf=p_inf), prompts)
