"""Decoding: beam search, greedy decoding and sampling, with the bookkeeping in Rust.

A *scorer* gives next-token log-probabilities (natural log) for every live hypothesis:

* any Python callable ``scorer(tokens, parents) -> logp``: ``tokens`` (n_live,) uint32 holds
  the last token of each live hypothesis (``bos`` at the first step), ``parents`` (n_live,)
  int64 the index of each one's parent in the previous call's list (at the first call: its
  batch item); it returns an (n_live, vocab_size) float32 array and keeps its own state
  re-indexed by ``parents``. It is called once per step for the whole batch. Pass
  ``vocab_size=`` with it.
* :class:`NgramScorer` (a seqfast n-gram LM, run natively with no Python in the loop);
* :class:`LSTMDecoder` / :class:`GRUDecoder` (embedding, recurrent layers, output projection;
  native, no Python in the loop);
* :class:`Weighted` sums of scorers (shallow fusion).

Live hypotheses are ordered by batch item, then rank (best first). Results per item never
depend on the batch. The readable specification is ``tests/reference/search.py``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Callable, ClassVar, Literal, NamedTuple, Optional, Union

import numpy as np
import numpy.typing as npt

from seqfast import _args, _core
from seqfast._errors import ArgumentTypeError, FormatError, SeqfastError, ShapeError
from seqfast._lm import NgramLM

__all__ = ["Hypothesis", "GRUDecoder", "LSTMDecoder", "NgramScorer", "Weighted", "beam_search", "greedy", "sample"]


class Hypothesis(NamedTuple):
    """A decoded sequence: generated ``tokens`` (uint32; bos excluded, eos included when it
    finished), its length-normalised ``score``, raw ``logprob`` (natural log) and whether it
    ended with eos (``finished``).

    >>> lm = seqfast.ngram.NgramLM.fit(["a b", "a c", "a b"], order=2, smoothing="mle")
    >>> h = greedy(lm, max_len=5)[0]
    >>> [lm.vocab[t] for t in h.tokens], h.finished, round(h.logprob, 3)
    (['a', 'b', '</s>'], True, -0.405)
    """

    tokens: np.ndarray
    score: float
    logprob: float
    finished: bool


class NgramScorer:
    """An n-gram LM as a native scorer: p(w | <s> prompt y_1 .. y_t) for every word of the
    LM's vocabulary (``<s>`` never; ``<unk>`` only with ``allow_unk``). ``prompts``: one word
    string, word list or id array per batch item (None: every item starts at ``<s>``).

    Each row is computed from the unigram row plus the context's backoffs, overwritten at the
    words seen after each context (an index built once per model, on first use: about 8 bytes
    per n-gram of orders 2..N plus 4 per context key). ``_per_word = True`` on an instance
    selects the old rule (one query per word, V per row; same numbers), kept for tests and
    benchmarks.

    >>> lm = seqfast.ngram.NgramLM.fit(["a b", "a c", "a b"], order=2, smoothing="mle")
    >>> best = beam_search(NgramScorer(lm, prompts=["a"]), beam_width=2, max_len=3)[0][0]
    >>> [lm.vocab[t] for t in best.tokens]
    ['b', '</s>']
    """

    def __init__(self, lm: NgramLM, prompts: Optional[Sequence[Any]] = None, *, allow_unk: bool = False):
        if not isinstance(lm, NgramLM):
            raise ArgumentTypeError(f"lm must be a seqfast.ngram.NgramLM, not {type(lm).__name__}")
        self.lm, self.allow_unk = lm, bool(allow_unk)
        self.prompts = None if prompts is None else [self._ids(p) for p in prompts]

    def _ids(self, p) -> list:
        if isinstance(p, np.ndarray):
            return [int(x) for x in p]
        if isinstance(p, str) or (isinstance(p, Sequence) and all(isinstance(w, str) for w in p)):
            return [int(x) for x in self.lm.ids(p)]
        return [int(x) for x in p]

    @property
    def vocab_size(self) -> int:
        return _core.ngram_vocab_size(self.lm._m)

    def __repr__(self) -> str:
        prompts = "None" if self.prompts is None else f"{len(self.prompts)} prompts"
        return f"NgramScorer({self.lm!r}, prompts={prompts}, allow_unk={self.allow_unk})"

    def _spec(self, batch_size: int, vocab_size: Optional[int] = None):
        if self.prompts is not None and len(self.prompts) != batch_size:
            raise SeqfastError(f"NgramScorer has {len(self.prompts)} prompts for batch_size={batch_size}")
        prompts = [np.array(p, dtype=np.uint32) for p in self.prompts or []]
        return _core.NgramScorerSpec(self.lm._m, prompts, self.allow_unk, bool(getattr(self, "_per_word", False)))


class LSTMDecoder:
    """A native recurrent decoder scorer: ``embedding`` (V_in, E) -> LSTM layers (weights dict
    in ``nn.LSTM`` ``state_dict`` naming, one direction, no projection) -> ``out_weight`` (V, H)
    (+ ``out_bias``) -> log-softmax. float32; weights are packed once, here. :class:`GRUDecoder`
    is the same with ``nn.GRU`` layers (no ``c0``).

    ``h0`` / ``c0`` (layers, batch, H), e.g. an encoder's final states, start each batch item
    (zeros by default); pass them per search with :meth:`with_state`.

    ``attention``: Luong global attention (without input feeding) over each item's encoder
    outputs (``memory``, given per search to :meth:`with_state`): a dict with ``kind`` "general"
    (``weight_a`` (H, He), as ``nn.Linear(He, H, bias=False).weight``; score = h . W_a m) or
    "dot" (score = h . m, He = H), ``weight_c`` (Hc, He + H) and optional ``bias_c`` (Hc):
    h~ = tanh(W_c [context; h] + b_c) feeds ``out_weight``, which is then (V, Hc).

    >>> rng = np.random.default_rng(0)
    >>> V, E, H = 6, 3, 4
    >>> w = {"weight_ih_l0": rng.standard_normal((4 * H, E)), "weight_hh_l0": rng.standard_normal((4 * H, H))}
    >>> dec = LSTMDecoder(rng.standard_normal((V, E)), w, rng.standard_normal((V, H)))
    >>> dec
    LSTMDecoder(vocab_size=6, num_layers=1, hidden_size=4)
    >>> len(beam_search(dec, batch_size=2, beam_width=3, bos=0, eos=1, max_len=4))
    2
    """

    _cell: ClassVar[Literal["lstm", "gru"]] = "lstm"
    _gates: ClassVar[int] = 4

    def __init__(self, embedding, lstm_weights: dict, out_weight, out_bias=None, attention: Optional[dict] = None):
        f32 = lambda a, n: np.ascontiguousarray(a, dtype=np.float32) if isinstance(a, np.ndarray) else _bad(n, a)  # noqa: E731
        emb, ow = f32(embedding, "embedding"), f32(out_weight, "out_weight")
        _args.state_dict(lstm_weights, what=f"a dict in nn.{self._cell.upper()} state_dict naming", name="lstm_weights")
        if emb.ndim != 2 or ow.ndim != 2:
            raise ShapeError(f"embedding {emb.shape} and out_weight {ow.shape} must be 2-D")
        layers = []
        L = 1 + max((int(k.split("_l")[1]) for k in lstm_weights if k.startswith("weight_ih_l")), default=-1)
        if L == 0 or any(k.endswith("_reverse") or k.startswith("weight_hr") for k in lstm_weights):
            raise SeqfastError(f"the weights must hold a one-direction {self._cell.upper()} without projection (weight_ih_l0, ...)")
        G = self._gates
        whh = lstm_weights.get("weight_hh_l0")
        if not isinstance(whh, np.ndarray) or whh.ndim != 2:
            raise ShapeError("the weights must hold a 2-D 'weight_hh_l0'")
        H = whh.shape[1]
        for l in range(L):
            din = emb.shape[1] if l == 0 else H
            arrs = []
            for name, shape in (("weight_ih", (G * H, din)), ("weight_hh", (G * H, H)), ("bias_ih", (G * H,)), ("bias_hh", (G * H,))):
                key = f"{name}_l{l}"
                if key not in lstm_weights:
                    if name.startswith("bias"):
                        arrs.append(np.zeros(G * H, np.float32))
                        continue
                    raise SeqfastError(f"the {self._cell.upper()} weights lack {key!r}")
                a = f32(lstm_weights[key], key)
                if a.shape != shape:
                    raise ShapeError(f"weights[{key!r}] has shape {a.shape}, expected {shape} (hidden size {H})")
                arrs.append(a)
            wih, whh_l, bih, bhh = arrs
            layers.append((wih, whh_l, bih, bhh))
        ob = np.zeros(ow.shape[0], np.float32) if out_bias is None else f32(out_bias, "out_bias")
        att, self.memory_size = None, None
        if attention is not None:
            kind = _args.choice("attention['kind']", attention.get("kind", "general"), ("general", "dot"))
            wc = f32(attention["weight_c"], "attention['weight_c']")
            if kind == "general":
                wa = f32(attention["weight_a"], "attention['weight_a']")
                if wa.ndim != 2 or wa.shape[0] != H:
                    raise ShapeError(f"attention['weight_a'] has shape {wa.shape}, expected ({H}, memory size)")
                he = wa.shape[1]
            else:
                wa, he = None, H
            if wc.ndim != 2 or wc.shape[1] != he + H:
                raise ShapeError(f"attention['weight_c'] has shape {wc.shape}, expected (Hc, {he + H})")
            bc = np.zeros(wc.shape[0], np.float32) if attention.get("bias_c") is None else f32(attention["bias_c"], "attention['bias_c']")
            att, self.memory_size = (wa, wc, bc), he
        hout = wc.shape[0] if att else H
        if ow.shape[1] != hout:
            raise ShapeError(f"out_weight has shape {ow.shape}, expected (V, {hout})")
        self._w = _core.LstmDecoderWeights(self._cell, emb, layers, ow, ob, att)
        # What pickling needs to rebuild the packed weights (references, not copies).
        self._init = (emb, {k: v for k, v in lstm_weights.items()}, ow, out_bias, attention)
        self.vocab_size, self.num_layers, self.hidden_size = ow.shape[0], L, H
        self.h0: Optional[npt.NDArray[np.float32]] = None
        self.c0: Optional[npt.NDArray[np.float32]] = None
        self.memory: Optional[npt.NDArray[np.float32]] = None
        self.memory_lengths: Optional[npt.NDArray[np.int64]] = None

    def __reduce__(self):
        state = {k: self.__dict__[k] for k in ("h0", "c0", "memory", "memory_lengths")}
        return (_restore_decoder, (type(self), self._init, state))

    def __repr__(self) -> str:
        att = "" if self.memory_size is None else f", attention memory_size={self.memory_size}"
        return (f"{type(self).__name__}(vocab_size={self.vocab_size}, num_layers={self.num_layers}, "
                f"hidden_size={self.hidden_size}{att})")

    def with_state(self, h0=None, c0=None, memory=None, memory_lengths=None) -> "LSTMDecoder":
        """A view of this decoder whose items start from (h0, c0), each (layers, batch, H), and
        attend to ``memory`` (batch, S, He) (the first ``memory_lengths[b]`` positions of item b)."""
        if c0 is not None and self._cell != "lstm":
            raise SeqfastError("c0 is only used by an LSTM decoder")
        d = object.__new__(type(self))
        d.__dict__.update(self.__dict__)
        d.h0 = None if h0 is None else np.ascontiguousarray(h0, np.float32)
        d.c0 = None if c0 is None else np.ascontiguousarray(c0, np.float32)
        if (memory is not None) != (self.memory_size is not None):
            raise SeqfastError("memory= is needed exactly when the decoder has attention")
        d.memory = None if memory is None else np.ascontiguousarray(memory, np.float32)
        if d.memory is not None and (d.memory.ndim != 3 or d.memory.shape[2] != self.memory_size):
            raise ShapeError(f"memory has shape {d.memory.shape}, expected (batch, S, {self.memory_size})")
        d.memory_lengths = None if memory_lengths is None else np.asarray(memory_lengths).astype(np.int64).ravel()
        return d

    def _spec(self, batch_size: int, vocab_size: Optional[int] = None):
        for name, a in (("h0", self.h0), ("c0", self.c0)):
            if a is not None and a.shape != (self.num_layers, batch_size, self.hidden_size):
                raise ShapeError(f"{name} has shape {a.shape}, expected {(self.num_layers, batch_size, self.hidden_size)}")
        if self.memory_size is not None:
            if self.memory is None:
                raise SeqfastError("this decoder has attention: give the encoder outputs with with_state(memory=...)")
            if self.memory.shape[0] != batch_size:
                raise ShapeError(f"memory has {self.memory.shape[0]} items, expected batch_size={batch_size}")
        return _core.DecoderSpec(self._w, self.h0, self.c0, self.memory, self.memory_lengths)


class GRUDecoder(LSTMDecoder):
    """:class:`LSTMDecoder` with ``nn.GRU`` layers (gates r, z, n; reset after the product).

    >>> rng = np.random.default_rng(0)
    >>> V, E, H = 6, 3, 4
    >>> w = {"weight_ih_l0": rng.standard_normal((3 * H, E)), "weight_hh_l0": rng.standard_normal((3 * H, H))}
    >>> dec = GRUDecoder(rng.standard_normal((V, E)), w, rng.standard_normal((V, H)))
    >>> h = greedy(dec, bos=0, eos=1, max_len=4)[0]
    >>> h.tokens.dtype, len(h.tokens) <= 4
    (dtype('uint32'), True)
    """

    _cell = "gru"
    _gates = 3


def _restore_decoder(cls, init, state):
    """Unpickle an :class:`LSTMDecoder` / :class:`GRUDecoder`: repack the weights, then restore
    the per-search state (h0, c0, memory)."""
    if cls not in (LSTMDecoder, GRUDecoder) or not (isinstance(init, tuple) and len(init) == 5 and isinstance(state, dict)):
        raise FormatError("decoder pickle: expected (LSTMDecoder or GRUDecoder, constructor arguments, state)")
    d = cls(*init)
    if set(state) != {"h0", "c0", "memory", "memory_lengths"}:
        raise FormatError(f"decoder pickle: unexpected state keys {sorted(state)}")
    d.__dict__.update(state)
    return d


def _bad(name, a):
    raise ArgumentTypeError(f"{name} must be a NumPy array, not {type(a).__name__}")


class Weighted:
    """sum_i weight_i * scorer_i over one vocabulary (weights > 0): ``Weighted([(decoder, 1.0),
    (NgramScorer(lm), 0.3)])``.

    >>> lm = seqfast.ngram.NgramLM.fit(["a b", "a c", "a b"], order=2, smoothing="mle")
    >>> fused = Weighted([(lm, 1.0), (NgramScorer(lm), 0.5)])
    >>> [lm.vocab[t] for t in greedy(fused, max_len=5)[0].tokens]
    ['a', 'b', '</s>']
    """

    def __init__(self, parts: Sequence[tuple], vocab_size: Optional[int] = None):
        self.parts = [(s, _args.real(f"parts[{i}] weight", w)) for i, (s, w) in enumerate(parts)]
        if not self.parts:
            raise SeqfastError("Weighted needs at least one (scorer, weight) pair")
        self.vocab_size = _args.optional_integer("vocab_size", vocab_size, 1)

    def __repr__(self) -> str:
        return "Weighted([" + ", ".join(f"({s!r}, {w})" for s, w in self.parts) + "])"

    def _spec(self, batch_size: int, vocab_size: Optional[int] = None):
        v = self.vocab_size if self.vocab_size is not None else vocab_size
        return _core.WeightedSpec([(_spec(s, batch_size, v), w) for s, w in self.parts])


def _spec(scorer, batch_size: int, vocab_size: Optional[int]):
    if isinstance(scorer, (NgramScorer, Weighted, LSTMDecoder)):
        return scorer._spec(batch_size, vocab_size)
    if isinstance(scorer, NgramLM):
        return NgramScorer(scorer)._spec(batch_size)
    if callable(scorer):
        if vocab_size is None:
            raise SeqfastError("a Python callable scorer needs vocab_size=")
        return _core.CallScorerSpec(scorer, _args.integer("vocab_size", vocab_size, 1))
    raise ArgumentTypeError(f"scorer must be callable, an NgramScorer, an NgramLM or Weighted, not {type(scorer).__name__}")


def _lm_of(scorer) -> Optional[NgramLM]:
    if isinstance(scorer, NgramScorer):
        return scorer.lm
    if isinstance(scorer, NgramLM):
        return scorer
    if isinstance(scorer, Weighted):
        for s, _ in scorer.parts:
            lm = _lm_of(s)
            if lm is not None:
                return lm
    return None


def _ids_and_size(scorer, bos, eos, vocab_size):
    if isinstance(scorer, LSTMDecoder) and vocab_size is None:
        vocab_size = scorer.vocab_size
    lm = _lm_of(scorer)
    if lm is not None:
        bos = lm.bos if bos is None else bos
        eos = lm.eos if eos is None else eos
        vocab_size = _core.ngram_vocab_size(lm._m) if vocab_size is None else vocab_size  # no list of V words
    if bos is None or eos is None:
        raise SeqfastError("bos= and eos= are required (they default to the LM's <s> and </s> only for n-gram scorers)")
    return _args.integer("bos", bos, 0, _args.U32_MAX), _args.integer("eos", eos, 0, _args.U32_MAX), vocab_size


#: What the decoders take: a Python callable ``(tokens, parents) -> logp``, an n-gram LM (or
#: :class:`NgramScorer`), a native recurrent decoder, or a :class:`Weighted` sum of these.
Scorer = Union[Callable[[np.ndarray, np.ndarray], np.ndarray], NgramScorer, NgramLM, LSTMDecoder, Weighted]


def _hyps(items) -> list:
    return [[Hypothesis(*h) for h in hs] for hs in items]


def _count(name: str, v, minimum: int) -> int:
    return _args.integer(name, v, minimum)


def _banned(banned) -> list[int]:
    return _args.integers("banned", banned, 0, _args.U32_MAX)


def beam_search(scorer: Scorer, *, batch_size: int = 1, beam_width: int = 5, max_len: int = 50, bos: Optional[int] = None,
                eos: Optional[int] = None, vocab_size: Optional[int] = None, min_len: int = 0, n_best: Optional[int] = None,
                length_penalty: _args.LengthPenalty = "none", alpha: float = 1.0, stopping: _args.Stopping = "exact", no_repeat_ngram_size: int = 0,
                banned: Sequence[int] = (), num_threads: Optional[int] = None) -> list[list[Hypothesis]]:
    """Batched beam search; returns, per batch item, its ``n_best`` (default ``beam_width``)
    :class:`Hypothesis` list, best first.

    ``length_penalty``: "none", "length" (score / L**alpha) or "gnmt" (score / ((5+L)/6)**alpha),
    L = generated tokens including eos. ``stopping="exact"`` continues until no live hypothesis
    can still beat the ``beam_width``-th best finished one; "early" stops once ``beam_width``
    finished. eos is suppressed for the first ``min_len`` steps; ``banned`` tokens and tokens
    that would repeat an n-gram of ``no_repeat_ngram_size`` (counting bos) are never chosen.
    Ties are broken by (hypothesis rank, token id), so results never depend on the batch.
    Hypotheses still live at ``max_len`` are returned with ``finished=False``. ``num_threads``
    sets the pool of native scorers' matrix products (results do not depend on it).

    >>> def scorer(tokens, parents):  # a Python scorer: log-probs of 3 tokens for each live hypothesis
    ...     return np.log(np.tile(np.array([[0.0, 0.3, 0.7]], np.float32), (len(tokens), 1)) + 1e-9)
    >>> hyps = beam_search(scorer, vocab_size=3, bos=0, eos=1, beam_width=2, max_len=3)[0]
    >>> [(h.tokens.tolist(), h.finished) for h in hyps]
    [([2, 2, 2], False), ([1], True)]
    """
    bos, eos, vocab_size = _ids_and_size(scorer, bos, eos, vocab_size)
    batch_size = _count("batch_size", batch_size, 1)
    spec = _spec(scorer, batch_size, vocab_size)
    options = dict(beam_width=_count("beam_width", beam_width, 1), max_len=_count("max_len", max_len, 1), bos=bos, eos=eos,
                   min_len=_count("min_len", min_len, 0), n_best=_args.optional_integer("n_best", n_best),
                   length_penalty=_args.text(length_penalty, "length_penalty"), alpha=_args.real("alpha", alpha),
                   stopping=_args.text(stopping, "stopping"),
                   no_repeat_ngram_size=_count("no_repeat_ngram_size", no_repeat_ngram_size, 0), banned=_banned(banned))
    items = _core.beam_search(spec, batch_size, options, _args.threads(num_threads))
    return _hyps(items)


def greedy(scorer: Scorer, *, batch_size: int = 1, max_len: int = 50, bos: Optional[int] = None, eos: Optional[int] = None,
           vocab_size: Optional[int] = None, min_len: int = 0, banned: Sequence[int] = (), num_threads: Optional[int] = None) -> list[Hypothesis]:
    """Greedy decoding (the most probable allowed token, ties to the smallest id); one
    :class:`Hypothesis` per item.

    >>> lm = seqfast.ngram.NgramLM.fit(["a b", "a c", "a b"], order=2, smoothing="mle")
    >>> [lm.vocab[t] for t in greedy(lm, max_len=5)[0].tokens]
    ['a', 'b', '</s>']
    """
    bos, eos, vocab_size = _ids_and_size(scorer, bos, eos, vocab_size)
    batch_size = _count("batch_size", batch_size, 1)
    options = dict(max_len=_count("max_len", max_len, 1), min_len=_count("min_len", min_len, 0), bos=bos, eos=eos,
                   banned=_banned(banned), seed=0, temperature=1.0, top_k=0, top_p=1.0)
    items = _core.sample(_spec(scorer, batch_size, vocab_size), batch_size, options, True, _args.threads(num_threads))
    return [h[0] for h in _hyps(items)]


def sample(scorer: Scorer, *, batch_size: int = 1, max_len: int = 50, bos: Optional[int] = None, eos: Optional[int] = None,
           vocab_size: Optional[int] = None, seed: int = 0, temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0,
           min_len: int = 0, banned: Sequence[int] = (), num_threads: Optional[int] = None) -> list[Hypothesis]:
    """Ancestral sampling with ``temperature``, ``top_k`` (0: all) and ``top_p`` (nucleus),
    reproducible per ``seed``; item i's sequence depends only on the seed, i and the scorer.

    >>> lm = seqfast.ngram.NgramLM.fit(["a b", "a c", "a b"], order=2, smoothing="mle")
    >>> h = sample(lm, seed=1, max_len=5)[0]
    >>> h.tokens[-1] == lm.eos and sample(lm, seed=1, max_len=5)[0].tokens.tolist() == h.tokens.tolist()  # reproducible
    True
    """
    bos, eos, vocab_size = _ids_and_size(scorer, bos, eos, vocab_size)
    batch_size = _count("batch_size", batch_size, 1)
    seed = _args.integer("seed", seed, 0)
    options = dict(max_len=_count("max_len", max_len, 1), min_len=_count("min_len", min_len, 0), bos=bos, eos=eos,
                   banned=_banned(banned), seed=seed % 2**64, temperature=_args.real("temperature", temperature),
                   top_k=_count("top_k", top_k, 0), top_p=_args.real("top_p", top_p))
    items = _core.sample(_spec(scorer, batch_size, vocab_size), batch_size, options, False, _args.threads(num_threads))
    return [h[0] for h in _hyps(items)]
