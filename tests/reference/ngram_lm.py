"""Slow, readable pure-Python reference for word n-gram language models.

Everything here is float64 and plain dictionaries: it is what seqfast's Rust
n-gram core is checked against, so it favours being obviously right over being
fast.  Its Kneser-Ney estimator is in turn checked against KenLM's ``lmplz``
(golden ARPA files in ``tests/data/ngram``, see ``tests/ngram/test_reference_lm.py``).

Conventions used throughout
---------------------------
* A *sentence* is a list of word strings, without sentence markers.
* Framing adds a single ``"<s>"`` before and a single ``"</s>"`` after each
  sentence (``frame``).  n-grams are counted inside framed sentences only; they
  never cross a sentence boundary.  An empty sentence frames to
  ``["<s>", "</s>"]``.
* The words ``"<s>"``, ``"</s>"`` and ``"<unk>"`` may not occur inside input
  sentences (``ValueError``).
* n-grams are tuples of strings; a *context* or *history* ``h`` is a tuple of
  the words before the predicted word ``w`` (``h = ()`` for unigrams).
* All log probabilities are base 10 (as in ARPA files); ``-inf`` means zero.
* V ("vocabulary size") is the number of distinct words that can be
  *predicted*: every vocabulary entry except ``"<s>"``, i.e. the words of the
  corpus plus ``"</s>"`` plus ``"<unk>"`` (even though ``"<unk>"`` never occurs).

Contents
--------
``frame``, ``count_ngrams``, ``vocabulary``
    Framing and raw counts.
``kneser_ney``
    Interpolated modified Kneser-Ney, exactly as KenLM's ``lmplz`` estimates it
    (no pruning), returned as an ARPA-like dict.
``mle``, ``add_k``, ``stupid_backoff``
    Simple count-based models; each returns a ``CountModel`` whose
    ``logprob(word, context)`` gives log10 p(word | context).
``parse_arpa``, ``write_arpa``, ``arpa_logprob``, ``score_sentence``
    Reading/writing ARPA text and querying a back-off model with standard ARPA
    semantics (what KenLM's ``Model.full_scores`` computes).
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

BOS = "<s>"
EOS = "</s>"
UNK = "<unk>"
SPECIALS = (UNK, BOS, EOS)

NGram = Tuple[str, ...]
# {ngram: (log10 prob, log10 backoff or None)} for one order
OrderTable = Dict[NGram, Tuple[float, Optional[float]]]

NEG_INF = float("-inf")


def _log10(p: float) -> float:
    return math.log10(p) if p > 0.0 else NEG_INF


# ---------------------------------------------------------------------------
# framing and counting
# ---------------------------------------------------------------------------


def frame(sentences: Iterable[Sequence[str]]) -> List[List[str]]:
    """Add one ``<s>`` at the start and one ``</s>`` at the end of every sentence.

    >>> frame([["a", "b"], []])
    [['<s>', 'a', 'b', '</s>'], ['<s>', '</s>']]
    """
    framed = []
    for sentence in sentences:
        words = list(sentence)
        for w in words:
            if w in SPECIALS:
                raise ValueError(f"the special word {w!r} may not occur inside a sentence")
        framed.append([BOS] + words + [EOS])
    return framed


def count_ngrams(sentences: Iterable[Sequence[str]], order: int) -> List[Counter]:
    """Raw n-gram counts of the framed sentences, for n = 1..order.

    ``sentences`` are *unframed*; they are framed with ``frame`` first.  The
    result's element ``n - 1`` is a ``Counter`` mapping each n-gram tuple that
    occurs inside some framed sentence to its number of occurrences.  The
    unigram counter therefore includes ``("<s>",)`` and ``("</s>",)`` once per
    sentence each.  n-grams longer than a framed sentence simply do not occur in
    it (no extra padding: a one-word sentence contributes the 3-gram
    ``<s> w </s>`` but no 4-gram).
    """
    if order < 1:
        raise ValueError(f"order must be >= 1, got {order}")
    counts = [Counter() for _ in range(order)]
    for words in frame(sentences):
        for n in range(1, order + 1):
            table = counts[n - 1]
            for i in range(len(words) - n + 1):
                table[tuple(words[i : i + n])] += 1
    return counts


def vocabulary(sentences: Iterable[Sequence[str]]) -> List[str]:
    """``<unk>``, ``<s>``, ``</s>``, then the corpus words in order of first appearance."""
    vocab = list(SPECIALS)
    seen = set(vocab)
    for sentence in sentences:
        for w in sentence:
            if w not in seen:
                seen.add(w)
                vocab.append(w)
    return vocab


# ---------------------------------------------------------------------------
# interpolated modified Kneser-Ney (KenLM lmplz)
# ---------------------------------------------------------------------------


def adjusted_counts(raw: List[Counter]) -> List[Dict[NGram, int]]:
    """Kneser-Ney adjusted counts a(g) for the *model n-grams*, order by order.

    The model n-grams are all n-grams of the framed text (n <= N) plus the
    unigrams ``<unk>`` and ``<s>``.

    * Highest order N: a(g) = raw count c(g).
    * Lower orders n < N: if g starts with ``<s>`` nothing can precede it, so
      a(g) = c(g); otherwise a(g) = N1+(. g), the number of distinct words v
      such that the (n+1)-gram ``v g`` occurs (v may be ``<s>``).  This is the
      "continuation count" of Kneser-Ney smoothing.
    * a(<unk>) = a(<s>) = 0 (``<s>`` is never predicted).
    """
    order = len(raw)
    adjusted: List[Dict[NGram, int]] = []
    for n in range(1, order + 1):
        if n == order:
            a = dict(raw[n - 1])
        else:
            left_extensions: Counter = Counter()
            for longer in raw[n]:  # distinct (n+1)-grams v g
                left_extensions[longer[1:]] += 1
            a = {g: (c if g[0] == BOS else left_extensions[g]) for g, c in raw[n - 1].items()}
        if n == 1:
            a[(UNK,)] = 0
            a[(BOS,)] = 0
        adjusted.append(a)
    return adjusted


def discounts_for(a: Dict[NGram, int], n: int, fallback: Optional[Sequence[float]] = None) -> List[float]:
    """Modified Kneser-Ney discounts [D0, D1, D2, D3+] of one order (Chen & Goodman eq. 26).

    With t_k the number of n-grams whose adjusted count is exactly k:
    Y = t1 / (t1 + 2 t2) and D_k = k - (k + 1) Y t_{k+1} / t_k for k = 1, 2, 3
    (D3 is used for every adjusted count >= 3); D0 = 0.

    If some t_k (k = 1..3) is zero or some D_k lies outside [0, k] the estimate
    is meaningless: ``ValueError`` unless ``fallback = (d1, d2, d3)`` is given,
    which then replaces this order's discounts (lmplz ``--discount_fallback``).
    """
    t = Counter(v for v in a.values() if 1 <= v <= 4)
    try:
        for k in (1, 2, 3):
            if t[k] == 0:
                raise ValueError(
                    f"order {n}: cannot estimate Kneser-Ney discounts for {n}-grams: "
                    f"no {n}-gram has adjusted count {k}"
                )
        y = t[1] / (t[1] + 2.0 * t[2])
        d = [0.0]
        for k in (1, 2, 3):
            dk = k - (k + 1) * y * t[k + 1] / t[k]
            if not 0.0 <= dk <= k:
                raise ValueError(f"order {n}: {n}-gram discount D{k} = {dk} is out of range [0, {k}]")
            d.append(dk)
        return d
    except ValueError:
        if fallback is None:
            raise
        d1, d2, d3 = fallback
        return [0.0, float(d1), float(d2), float(d3)]


def kneser_ney(
    sentences: Iterable[Sequence[str]],
    order: int,
    discount_fallback: Optional[Sequence[float]] = None,
    prune: Optional[Sequence[int]] = None,
) -> dict:
    """Interpolated modified Kneser-Ney, as KenLM ``lmplz -o order [--prune ...]``.

    Returns ``{"vocab": [...], "orders": [table_1, ..., table_N]}`` where
    ``table_n`` maps each n-gram tuple to ``(log10 prob, log10 backoff)``; the
    backoff is ``None`` for the highest order.

    The estimate, for each order n with discounts D_n (``discounts_for``) and
    adjusted counts a (``adjusted_counts``):

    * For a context h (h = () for unigrams):
      denom(h) = sum_w a(h w) over the model n-grams h w, and
      gamma(h) = (D_n(1) N1(h) + D_n(2) N2(h) + D_n(3+) N3+(h)) / denom(h),
      where Ni(h) is the number of words w with a(h w) == i (>= 3 for N3+).
      gamma(h) is the probability mass freed by discounting; it becomes the
      interpolation weight of the lower order and h's ARPA backoff.
    * Uninterpolated u(h w) = (a(h w) - D_n(a(h w))) / denom(h); u(<unk>) = 0.
    * Unigrams: p(w) = u(w) + gamma(()) / V, mixing with the uniform
      distribution over the V predictable words (everything but ``<s>``).
      ``<s>`` is special: p(<s>) = 1 (log10 0), so that scoring an explicit
      ``<s>`` costs nothing.
    * Higher orders: p(w | h) = u(h w) + gamma(h) p(w | h[1:]).
    * ARPA: log10 prob = min(0, log10 p); an n-gram g of order n < N gets
      backoff log10 gamma(g) if it is the context of some (n+1)-gram, else 0
      (always 0 when g ends with ``</s>`` or ``<unk>``).

    * Pruning (``prune``: thresholds per order, the last repeated, as lmplz's
      ``--prune``): an n-gram g of order n >= 2 with raw count c(g) <= prune[n-1]
      is left out of the model. The discounts still use every n-gram; in
      gamma(h) a pruned h w contributes its whole adjusted count a(h w) instead
      of D_n(a(h w)), so the mass it had goes to the lower order.

    Because every interpolated distribution sums to one over the V words and
    the ARPA backoff of h equals gamma(h), querying the result with standard
    back-off semantics (``arpa_logprob``) reproduces the interpolated model.
    """
    sentences = [list(s) for s in sentences]
    vocab = vocabulary(sentences)
    raw = count_ngrams(sentences, order)
    adjusted = adjusted_counts(raw)
    V = len(vocab) - 1  # everything except <s>
    thresholds = [0] * order
    if prune:
        thresholds = [prune[min(i, len(prune) - 1)] for i in range(order)]

    def pruned(g: NGram) -> bool:
        return len(g) >= 2 and raw[len(g) - 1][g] <= thresholds[len(g) - 1]

    probs: List[Dict[NGram, float]] = []  # interpolated p(g[-1] | g[:-1])
    gammas: List[Dict[NGram, float]] = []  # gamma(h) for contexts h of order n - 1
    for n in range(1, order + 1):
        a = adjusted[n - 1]
        d = discounts_for(a, n, discount_fallback)

        def discount(count: int) -> float:
            return d[min(count, 3)]

        denom: Dict[NGram, float] = defaultdict(float)
        freed: Dict[NGram, float] = defaultdict(float)
        for g, count in a.items():
            h = g[:-1]
            denom[h] += count
            if pruned(g):
                freed[h] += count
            elif count > 0:
                freed[h] += discount(count)
        gamma = {h: freed[h] / denom[h] for h in denom}
        gammas.append(gamma)

        p: Dict[NGram, float] = {}
        for g, count in a.items():
            h = g[:-1]
            if n == 1 and g == (BOS,):
                p[g] = 1.0  # u(<s>) = 1 and <s> is not interpolated
                continue
            u = (count - discount(count)) / denom[h]
            lower = 1.0 / V if n == 1 else probs[n - 2][g[1:]]
            p[g] = u + gamma[h] * lower
        probs.append(p)

    orders: List[OrderTable] = []
    for n in range(1, order + 1):
        table: OrderTable = {}
        next_gamma = gammas[n] if n < order else {}
        for g, p in probs[n - 1].items():
            if pruned(g):
                continue
            logprob = min(0.0, _log10(p))
            if n == order:
                backoff = None
            elif g[-1] not in (EOS, UNK) and g in next_gamma:
                backoff = _log10(next_gamma[g])
            else:
                backoff = 0.0
            table[g] = (logprob, backoff)
        orders.append(table)
    return {"vocab": vocab, "orders": orders}


# ---------------------------------------------------------------------------
# simple count-based models
# ---------------------------------------------------------------------------


class CountModel:
    """A count-based model; ``logprob(word, context)`` is log10 p(word | context).

    ``counts`` are the raw counts of ``count_ngrams``.  The *history count*
    C(h) = sum_w c(h w) counts h as a history (how often some word follows it),
    not as an n-gram: the two differ when h ends a sentence or is cut off
    by ``</s>``.  For the empty history C(()) is the number of predicted
    tokens, i.e. all tokens of the framed text except ``<s>``.

    Words not in the vocabulary are mapped to ``<unk>`` (which has count 0).
    Contexts are truncated to their last N - 1 words.  The instance is also
    callable: ``model(word, context)`` is ``model.logprob(word, context)``.
    """

    def __init__(self, sentences: Iterable[Sequence[str]], order: int, kind: str, k: float = 0.0, alpha: float = 0.4):
        sentences = [list(s) for s in sentences]
        self.order = order
        self.kind = kind
        self.k = k
        self.alpha = alpha
        self.vocab = vocabulary(sentences)
        self.V = len(self.vocab) - 1  # excludes <s>, includes <unk> and </s>
        self._known = set(self.vocab)
        self.counts = count_ngrams(sentences, order)
        self.history: Dict[NGram, int] = Counter()
        for table in self.counts:
            for g, c in table.items():
                if g != (BOS,):  # <s> is never predicted
                    self.history[g[:-1]] += c
        self.total = self.history[()]

    def count(self, ngram: NGram) -> int:
        """Raw count c(g) (0 for unseen n-grams)."""
        if not ngram or len(ngram) > self.order:
            return 0
        return self.counts[len(ngram) - 1].get(tuple(ngram), 0)

    def _norm(self, word: str, context: Sequence[str]) -> Tuple[str, NGram]:
        word = word if word in self._known else UNK
        context = tuple(w if w in self._known else UNK for w in context)
        if self.order == 1:
            return word, ()
        return word, context[-(self.order - 1) :]

    def _longest_seen(self, context: NGram) -> NGram:
        """The longest suffix h of ``context`` with C(h) > 0 (at worst ())."""
        for i in range(len(context) + 1):
            h = context[i:]
            if self.history.get(h, 0) > 0:
                return h
        return ()

    def prob(self, word: str, context: Sequence[str] = ()) -> float:
        word, context = self._norm(word, context)
        if self.kind == "mle":
            # p(w | h) = c(h w) / C(h) for the longest suffix h seen as a history
            h = self._longest_seen(context)
            return self.count(h + (word,)) / self.history[h] if self.history[h] else 0.0
        if self.kind == "add_k":
            # p(w | h) = (c(h w) + k) / (C(h) + k V)
            h = self._longest_seen(context)
            return (self.count(h + (word,)) + self.k) / (self.history.get(h, 0) + self.k * self.V)
        if self.kind == "stupid_backoff":
            # S(w | h) = c(h w) / C(h) if c(h w) > 0 else alpha S(w | h[1:]);
            # S(w) = c(w) / total.  A score, not a probability.
            weight = 1.0
            for i in range(len(context) + 1):
                h = context[i:]
                c = self.count(h + (word,))
                if c > 0:
                    return weight * c / self.history[h]
                weight *= self.alpha
            return 0.0
        raise ValueError(f"unknown kind {self.kind!r}")

    def logprob(self, word: str, context: Sequence[str] = ()) -> float:
        return _log10(self.prob(word, context))

    __call__ = logprob


def mle(sentences: Iterable[Sequence[str]], order: int) -> CountModel:
    """Maximum likelihood with the longest seen context.

    p(w | h) = c(h w) / C(h), where h is the longest suffix (at most N - 1
    words) of the given context with history count C(h) > 0; for unigrams
    p(w) = c(w) / (number of predicted tokens).  A word never seen after h gets
    probability 0 (log10 -inf), even if it was seen elsewhere.  Sums to one
    over the V predictable words for every context.
    """
    return CountModel(sentences, order, "mle")


def add_k(sentences: Iterable[Sequence[str]], order: int, k: float) -> CountModel:
    """Add-k (Lidstone) smoothing with the longest seen context.

    p(w | h) = (c(h w) + k) / (C(h) + k V), h chosen as in ``mle``; V counts
    every vocabulary entry except ``<s>`` (so ``<unk>`` and ``</s>`` are
    included).  Sums to one over those V words.  k = 1 is Laplace smoothing.
    """
    if k <= 0:
        raise ValueError(f"k must be > 0, got {k}")
    return CountModel(sentences, order, "add_k", k=k)


def stupid_backoff(sentences: Iterable[Sequence[str]], order: int, alpha: float = 0.4) -> CountModel:
    """Stupid backoff (Brants et al. 2007).

    S(w | h) = c(h w) / C(h) if c(h w) > 0, else alpha * S(w | h[1:]);
    S(w) = c(w) / (number of predicted tokens).  The scores do not sum to one
    (they usually sum to more); ``logprob`` returns log10 S.
    """
    return CountModel(sentences, order, "stupid_backoff", alpha=alpha)


# ---------------------------------------------------------------------------
# ARPA files and back-off queries
# ---------------------------------------------------------------------------


def parse_arpa(text: str) -> dict:
    """Parse ARPA text into ``{"vocab": [...], "orders": [...]}`` (as ``kneser_ney``).

    ``vocab`` lists the unigrams in file order.  A missing backoff field gives
    ``None`` (highest order: always ``None``).  The ``\\data\\`` counts are
    checked against the entries read.  Fields may be separated by tabs or
    spaces.
    """
    lines = text.splitlines()
    i = 0
    while i < len(lines) and lines[i].strip() != "\\data\\":
        i += 1
    if i == len(lines):
        raise ValueError("no \\data\\ section")
    i += 1
    declared: Dict[int, int] = {}
    while i < len(lines) and lines[i].strip() != "" and not lines[i].startswith("\\"):
        line = lines[i].strip()
        if not line.startswith("ngram "):
            raise ValueError(f"bad \\data\\ line {line!r}")
        n, c = line[len("ngram ") :].split("=")
        declared[int(n)] = int(c)
        i += 1
    max_order = max(declared)
    orders: List[OrderTable] = [dict() for _ in range(max_order)]
    vocab: List[str] = []
    n = 0
    for line in lines[i:]:
        line = line.strip()
        if not line:
            continue
        if line == "\\end\\":
            break
        if line.startswith("\\") and line.endswith("-grams:"):
            n = int(line[1 : -len("-grams:")])
            if n not in declared:
                raise ValueError(f"section {line} not declared in \\data\\")
            continue
        if n == 0:
            raise ValueError(f"n-gram line outside a section: {line!r}")
        fields = line.split()
        if len(fields) not in (n + 1, n + 2):
            raise ValueError(f"bad {n}-gram line {line!r}")
        gram = tuple(fields[1 : n + 1])
        backoff = float(fields[n + 1]) if len(fields) == n + 2 else None
        orders[n - 1][gram] = (float(fields[0]), backoff)
        if n == 1:
            vocab.append(gram[0])
    for n, c in declared.items():
        if len(orders[n - 1]) != c:
            raise ValueError(f"\\data\\ declares {c} {n}-grams, read {len(orders[n - 1])}")
    return {"vocab": vocab, "orders": orders}


def _fmt(x: float) -> str:
    return "-99" if x == NEG_INF else repr(float(x))


def write_arpa(model: dict) -> str:
    """ARPA text of a model dict (log10 -inf is written as -99)."""
    orders = model["orders"]
    out = ["\\data\\"]
    out += [f"ngram {n}={len(t)}" for n, t in enumerate(orders, 1)]
    for n, table in enumerate(orders, 1):
        out += ["", f"\\{n}-grams:"]
        for g, (lp, bo) in table.items():
            line = f"{_fmt(lp)}\t{' '.join(g)}"
            if bo is not None:
                line += f"\t{_fmt(bo)}"
            out.append(line)
    out += ["", "\\end\\", ""]
    return "\n".join(out)


def arpa_logprob(model: dict, word: str, context: Sequence[str] = (), unk_logprob: float = -100.0) -> float:
    """log10 p(word | context) with standard ARPA back-off semantics.

    Words absent from the model's unigrams (in ``word`` or ``context``) are
    mapped to ``<unk>``; the context is truncated to its last N - 1 words.
    Then, recursively:

        log p(w | h) = prob(h w)                          if h w is listed
                     = backoff(h) + log p(w | h[1:])      otherwise

    where backoff(h) is 0 if h is not listed (or has no backoff field).  If
    the model has no ``<unk>`` unigram an unknown word gets ``unk_logprob``
    (KenLM's default for such models is -100).
    """
    orders = model["orders"]
    unigrams = orders[0]
    word = word if (word,) in unigrams else UNK
    context = tuple(w if (w,) in unigrams else UNK for w in context)
    context = context[-(len(orders) - 1) :] if len(orders) > 1 else ()
    total = 0.0
    while True:
        entry = orders[len(context)].get(context + (word,))
        if entry is not None:
            return total + entry[0]
        if not context:
            return total + unk_logprob  # only for <unk> in a model without <unk>
        h = orders[len(context) - 1].get(context)
        if h is not None and h[1] is not None:
            total += h[1]
        context = context[1:]


def score_sentence(model: dict, words: Sequence[str], bos: bool = True, eos: bool = True) -> Tuple[float, List[float]]:
    """Total log10 probability of a sentence and the per-token log10 values.

    With ``bos`` the first word is predicted from the context ``(<s>,)`` (and
    ``<s>`` itself is not scored); with ``eos`` ``</s>`` is predicted after
    the last word and its value is the last element of the list.
    """
    n_context = len(model["orders"]) - 1
    context: Tuple[str, ...] = (BOS,) if bos else ()
    targets = list(words) + ([EOS] if eos else [])
    per_token = []
    for w in targets:
        per_token.append(arpa_logprob(model, w, context))
        context = (context + (w,))[-n_context:] if n_context else ()
    return sum(per_token), per_token
