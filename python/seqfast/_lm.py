"""n-gram language models: :class:`NgramLM` (exported as ``seqfast.ngram.NgramLM``).

All numbers are log10, as in ARPA files and KenLM. Sentences are framed with ``<s>`` and
``</s>``; words the model does not know are scored as ``<unk>``. The work happens in Rust with
the GIL released; this module only normalises arguments.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from typing import Optional, Union, overload

import numpy as np

from seqfast import _args, _core
from seqfast._counts import NgramCounts
from seqfast._errors import ArgumentTypeError, FormatError, SeqfastError

__all__ = ["NgramLM"]

SMOOTHINGS = _args.SMOOTHINGS


def check_prune(prune, order: int) -> Optional[list[int]]:
    """lmplz-style thresholds (one int or a sequence, 1 to ``order`` of them) as a list, or None."""
    if prune is None:
        return None
    vals = _args.integers("prune", prune, 0)
    if not vals or len(vals) > order:
        raise SeqfastError(f"prune needs 1 to {order} thresholds (one per order), got {len(vals)}")
    return vals


def discount_fallback(fb) -> Optional[tuple[float, float, float]]:
    """lmplz's ``--discount_fallback``: three discounts (d1, d2, d3+), or None."""
    if fb is None:
        return None
    if isinstance(fb, (str, bytes)) or not isinstance(fb, Iterable):
        raise ArgumentTypeError(f"discount_fallback must be three numbers, not {type(fb).__name__}")
    out = tuple(_args.real(f"discount_fallback[{i}]", x) for i, x in enumerate(fb))
    if len(out) != 3:
        raise SeqfastError(f"discount_fallback needs three discounts (d1, d2, d3+), got {len(out)}")
    return out


def fit_options(order: int, smoothing, k, alpha, fb, prune, num_threads) -> tuple:
    """The estimation options of :meth:`NgramLM.fit` and :meth:`NgramLM.fit_counts`, checked:
    ``(options, num_threads)``, ``options`` the dict ``_core.NgramModel.fit_*`` read by name."""
    smoothing = _args.choice("smoothing", smoothing, SMOOTHINGS)
    k, alpha = _args.real("k", k), _args.real("alpha", alpha)
    options = {"smoothing": smoothing, "k": k, "alpha": alpha, "discount_fallback": discount_fallback(fb),
               "prune": check_prune(prune, order)}
    return options, _args.threads(num_threads)


class NgramLM:
    """An n-gram language model: fit it, read or write ARPA, score, sample.

    Smoothing methods (``smoothing=``):

    - ``"kneser_ney"``: interpolated modified Kneser-Ney exactly as KenLM ``lmplz`` (the ARPA
      numbers are identical); ``discount_fallback=(d1, d2, d3)`` as lmplz's option.
    - ``"mle"``: ``c(h w) / C(h)`` where ``C(h)`` counts ``h`` as a history and ``h`` is the
      longest suffix of the context seen as a history (an unseen context backs off to a
      shorter one; an unseen word after a seen context has probability 0, log10 ``-inf``).
    - ``"add_k"`` (``k=``) and ``"laplace"`` (k = 1): ``(c(h w) + k) / (C(h) + k V)`` with the same
      context rule, ``V`` = vocabulary size without ``<s>``.
    - ``"stupid_backoff"`` (``alpha=0.4``): Brants et al. (2007); scores, not probabilities.

    >>> lm = NgramLM.fit(["the cat sat", "the dog sat"], order=2, smoothing="mle")
    >>> lm.order, round(lm.logprob("cat", "the"), 3), [w for w, _ in lm.top_k("the", k=2)]
    (2, -0.301, ['cat', 'dog'])
    """

    __slots__ = ("_m", "quantization_error")

    def __init__(self, model: "_core.NgramModel"):
        if not isinstance(model, _core.NgramModel):
            raise ArgumentTypeError("use NgramLM.fit, NgramLM.load, NgramLM.from_arpa or NgramLM.from_arpa_str")
        self._m = model
        #: Largest change of a stored log10 probability or backoff made by quantization (a
        #: model loaded from a file saved with ``quantize=True``); 0.0 otherwise.
        self.quantization_error = 0.0

    # ---- building -----------------------------------------------------------------------
    @classmethod
    def fit(
        cls,
        sentences,
        order: int = 3,
        smoothing: _args.Smoothing = "kneser_ney",
        *,
        k: float = 1.0,
        alpha: float = 0.4,
        discount_fallback: Optional[Sequence[float]] = None,
        prune: Optional[Sequence[int]] = None,
        vocab_size: Optional[int] = None,
        num_threads: Optional[int] = None,
    ) -> "NgramLM":
        """Estimate a model.

        ``sentences``: text (a ``str``, one sentence per line, whitespace-separated words), the
        same as UTF-8 ``bytes`` or a file path (``pathlib.Path``, read as bytes: for a large
        corpus this avoids Python's own copies of the text, which for non-ASCII text take 2-4
        bytes per character plus a UTF-8 copy), a list of sentence strings, or token ids (a uint32 array, a list of arrays, ``(ids,
        offsets)``, an ``EncodingBatch``). Word models use KenLM's ids (``<unk>`` 0, ``<s>`` 1,
        ``</s>`` 2, then words by first appearance); id models keep the ids ``0..vocab_size-1``
        (default: largest id + 1) and add ``<unk>``, ``<s>``, ``</s>`` after them.

        ``prune`` (Kneser-Ney only) is lmplz's ``--prune``: one count threshold per order, the
        last repeated for higher orders, non-decreasing, 0 for unigrams; n-grams whose raw count
        is at or below their order's threshold are dropped and their mass goes to the backoff,
        with the same numbers as ``lmplz --prune``.
        """
        order = _args.integer("order", order, 1)
        opts, threads = fit_options(order, smoothing, k, alpha, discount_fallback, prune, num_threads)
        if isinstance(sentences, str):
            return cls(_core.NgramModel.fit_text(sentences, order, opts, threads))
        if isinstance(sentences, os.PathLike):
            with open(sentences, "rb") as f:
                data = f.read()
            return cls(_core.NgramModel.fit_text(data, order, opts, threads, os.fspath(sentences)))
        if isinstance(sentences, (bytes, bytearray)):
            return cls(_core.NgramModel.fit_text(bytes(sentences) if isinstance(sentences, bytearray) else sentences, order, opts, threads))
        if isinstance(sentences, (list, tuple)) and sentences and all(isinstance(s, str) for s in sentences):
            if any("\n" in s for s in sentences):
                raise SeqfastError("a sentence string contains a newline; pass one sentence per list item")
            # one line per sentence; the final newline keeps a trailing empty sentence
            joined = "\n".join(sentences) + "\n"
            return cls(_core.NgramModel.fit_text(joined, order, opts, threads))
        ids, offsets = _args.csr(sentences, "sentences")
        vocab_size = _args.optional_integer("vocab_size", vocab_size, 1)
        return cls(_core.NgramModel.fit_ids((ids, offsets), order, opts, vocab_size, threads))

    @classmethod
    def fit_counts(
        cls,
        counts,
        smoothing: _args.Smoothing = "kneser_ney",
        *,
        k: float = 1.0,
        alpha: float = 0.4,
        discount_fallback: Optional[Sequence[float]] = None,
        prune: Optional[Sequence[int]] = None,
        vocab_size: Optional[int] = None,
        num_threads: Optional[int] = None,
    ) -> "NgramLM":
        r"""Estimate a model from :class:`~seqfast.ngram.NgramCounts` (the model's order is the
        counts' order). Word-level counts (:func:`~seqfast.ngram.count_words`, possibly summed
        over shards) give exactly the model :meth:`fit` gives on the whole text (the same ARPA
        bytes); id-level counts (:func:`~seqfast.ngram.count` with ``bos=`` and ``eos=``) give
        the model :meth:`fit` gives on the ids with the same ``vocab_size``. The options are
        :meth:`fit`'s.

        >>> from seqfast.ngram import count_words
        >>> text = "a b c a\nb a d\nc a b\n"
        >>> shards = count_words(text[:8]) + count_words(text[8:])
        >>> fb = dict(discount_fallback=(0.5, 1.0, 1.5))
        >>> NgramLM.fit_counts(shards, **fb).to_arpa() == NgramLM.fit(text, **fb).to_arpa()
        True
        """
        if not isinstance(counts, NgramCounts):
            raise ArgumentTypeError(f"counts must be NgramCounts (from count_words or count), not {type(counts).__name__}")
        order = counts.order
        opts, threads = fit_options(order, smoothing, k, alpha, discount_fallback, prune, num_threads)
        vocab_size = _args.optional_integer("vocab_size", vocab_size, 1)
        tables = [counts.ngrams(n) for n in range(1, order + 1)]
        m = _core.NgramModel.fit_counts(tables, counts.vocab, counts.bos, counts.eos, opts, vocab_size, threads)
        return cls(m)

    @classmethod
    def from_arpa(cls, path) -> "NgramLM":
        """Read an ARPA file (KenLM, SRILM, or seqfast's own)."""
        return cls(_core.NgramModel.from_arpa(os.fspath(path)))

    @classmethod
    def from_arpa_str(cls, text: str) -> "NgramLM":
        return cls(_core.NgramModel.from_arpa_str(text))

    @overload
    def to_arpa(self, path: None = None, *, num_threads: Optional[int] = None) -> str: ...
    @overload
    def to_arpa(self, path: _args.PathLike, *, num_threads: Optional[int] = None) -> None: ...
    def to_arpa(self, path: Optional[_args.PathLike] = None, *, num_threads: Optional[int] = None) -> Optional[str]:
        """Write ARPA to ``path`` atomically, or return it as a string when ``path`` is None.
        Only back-off models (Kneser-Ney, or read from ARPA) have an ARPA form."""
        if path is None:
            return self._m.to_arpa_str()
        self._m.to_arpa(os.fspath(path), _args.threads(num_threads))
        return None

    def save(self, path, *, quantize: bool = False) -> None:
        """Write the model to ``path`` in seqfast's binary format (atomically: an interrupted
        save leaves any previous file intact). :meth:`load` maps it back and scores
        bit-identically to this model; every smoothing can be saved. The file holds the query
        tables, so a loaded model answers its first query at once (about 48 bytes per n-gram).

        ``quantize=True`` stores each order's probabilities and backoffs as 8-bit codes (like
        KenLM's ``build_binary -q 8 -b 8``; 0, -inf and NaN stay exact) and no query tables
        (about 10 bytes per n-gram; the tables are rebuilt on the first query). Each stored
        number moves by at most the error recorded in the file (``quantization_error`` of the
        loaded model), so a token's log10 probability moves by at most ``order`` times it.

        >>> lm = NgramLM.fit("a b a c", order=2, smoothing="mle")
        >>> import tempfile, os; path = os.path.join(tempfile.mkdtemp(), "m.sfb")
        >>> lm.save(path); NgramLM.load(path).score("a b") == lm.score("a b")
        True
        """
        self._m.save(os.fspath(path), bool(quantize))

    @classmethod
    def load(cls, path, *, verify: bool = False) -> "NgramLM":
        """Read a binary model: seqfast's own format (:meth:`save`), mapped into memory (no
        parse: the first query is answered at once, pages are read as queries touch them), or a
        KenLM binary file made by ``build_binary``. ARPA text is read by :meth:`from_arpa`.

        A truncated, foreign or corrupt header raises :class:`FormatError` naming the file and
        the offset. The arrays of a mapped file are checked against their checksums only with
        ``verify=True`` (which reads the whole file); without it, a corrupted array can change
        scores but never crash: code that walks the n-gram trie (ARPA writing) checks it first.
        """
        m, err = _core.NgramModel.load(os.fspath(path), bool(verify))
        lm = cls(m)
        lm.quantization_error = float(err)
        return lm

    def __reduce__(self):
        # A compact binary payload (the model's arrays), not ARPA text: no formatting or
        # parsing, and every smoothing pickles, not only the ones with an ARPA form.
        return (_restore_lm, (self._m.to_bytes(),))

    # ---- description --------------------------------------------------------------------
    @property
    def order(self) -> int:
        return self._m.order

    @property
    def vocab(self) -> list[str]:
        """Words by id."""
        return self._m.vocab

    @property
    def unk(self) -> int:
        return self._m.specials[0]

    @property
    def bos(self) -> int:
        return self._m.specials[1]

    @property
    def eos(self) -> int:
        return self._m.specials[2]

    @property
    def smoothing(self) -> str:
        """The method and its parameters (Kneser-Ney: the discounts of every order)."""
        return self._m.smoothing

    def num_ngrams(self) -> list[int]:
        """Number of n-grams of each order."""
        return self._m.num_ngrams()

    def __repr__(self) -> str:
        return f"NgramLM(order={self.order}, ngrams={self.num_ngrams()}, smoothing={self.smoothing!r})"

    # ---- queries ------------------------------------------------------------------------
    def ids(self, sentence: Union[str, Sequence[str]]) -> np.ndarray:
        """Ids of a sentence's words (a string split on whitespace, or a list of words)."""
        if not isinstance(sentence, str):
            sentence = " ".join(sentence)
        return self._m.word_ids([sentence])[0]

    def _csr(self, sentences) -> tuple[np.ndarray, np.ndarray]:
        if isinstance(sentences, str):
            return self._m.word_ids([sentences])
        if isinstance(sentences, (list, tuple)) and sentences and all(isinstance(s, str) for s in sentences):
            return self._m.word_ids(list(sentences))
        return _args.csr(sentences, "sentences")

    def score_batch(self, sentences, *, bos: bool = True, eos: bool = True, num_threads: Optional[int] = None):
        """Score many sentences in one call (GIL released, threaded).

        Returns a dict of arrays: ``total`` (log10 per sentence, float64), ``tokens``
        (log10 per scored token, float32, CSR with ``offsets``; ``</s>`` last when ``eos``),
        ``ngram_length`` (length of the n-gram each token's score came from) and ``oov``
        (tokens scored as ``<unk>`` per sentence).
        """
        ids, offsets = self._csr(sentences)
        tok, off, nlen, total, oov = self._m.score_batch((ids, offsets), bool(bos), bool(eos), _args.threads(num_threads))
        return {"total": total, "tokens": tok, "offsets": off, "ngram_length": nlen, "oov": oov}

    def score(self, sentence, *, bos: bool = True, eos: bool = True) -> float:
        """log10 probability of one sentence (a string of words or an id array), like
        ``kenlm.Model.score``."""
        if not isinstance(sentence, str):
            sentence = [_args.ids(sentence, "sentence")]
        return float(self.score_batch(sentence, bos=bos, eos=eos)["total"][0])

    def token_scores(self, sentence, *, bos: bool = True, eos: bool = True) -> np.ndarray:
        """log10 probability of each token (and ``</s>``), like ``kenlm.Model.full_scores``."""
        if not isinstance(sentence, str):
            sentence = [_args.ids(sentence, "sentence")]
        return self.score_batch(sentence, bos=bos, eos=eos)["tokens"]

    def perplexity(self, sentences, *, bos: bool = True, eos: bool = True, num_threads: Optional[int] = None) -> float:
        """``10 ** (-sum of log10 p / number of scored tokens)`` over all sentences (``</s>``
        counts as a token; unknown words are included with their ``<unk>`` probability, as in
        KenLM's "perplexity including OOVs")."""
        s = self.score_batch(sentences, bos=bos, eos=eos, num_threads=num_threads)
        n = len(s["tokens"])
        if n == 0:
            raise SeqfastError("perplexity of no tokens is undefined")
        return float(10.0 ** (-float(s["total"].sum()) / n))

    def _context(self, context) -> np.ndarray:
        if isinstance(context, str):
            return self.ids(context)
        if isinstance(context, (list, tuple)) and all(isinstance(w, str) for w in context):
            return self.ids(list(context)) if context else np.zeros(0, np.uint32)
        return _args.ids(context, "context")

    def logprob(self, word, context=(), *, bos: bool = False) -> float:
        """log10 p(word | context); ``bos=True`` puts ``<s>`` before the context."""
        ctx = self._context(context)
        w = self._context([word] if isinstance(word, str) else np.array([word]))
        if w.size != 1:
            raise SeqfastError(f"word must be one word or id, got {word!r}")
        ids = np.concatenate([ctx, w]).astype(np.uint32)
        s = self.score_batch((ids, np.array([0, ids.size], np.int64)), bos=bos, eos=False)
        return float(s["tokens"][-1])

    def distribution(self, context=(), *, bos: bool = True) -> np.ndarray:
        """log10 p(w | context) for every id (``-inf`` for ``<s>``)."""
        return self._m.distribution(self._context(context), bool(bos))

    def top_k(self, context=(), k: int = 10, *, bos: bool = True) -> list[tuple[str, float]]:
        """The ``k`` most likely next words after ``context`` as ``(word, log10 p)``, best
        first (ties: lower id first)."""
        ids, lp = self._m.top_k(self._context(context), _args.integer("k", k, 0), bool(bos))
        vocab = self.vocab
        return [(vocab[i], float(p)) for i, p in zip(ids.tolist(), lp.tolist())]

    def generate(
        self,
        context=(),
        *,
        max_len: int = 20,
        seed: int = 0,
        temperature: float = 1.0,
        top_k: int = 0,
        bos: bool = True,
    ) -> list[str]:
        """Sample a continuation word by word until ``</s>`` (included) or ``max_len`` words.
        Reproducible for a given ``seed``; ``top_k`` > 0 samples among the most likely only."""
        max_len, top_k = _args.integer("max_len", max_len, 0), _args.integer("top_k", top_k, 0)
        seed = _args.integer("seed", seed, 0) % 2**64
        t = _args.real("temperature", temperature)
        out = self._m.generate(self._context(context), max_len, seed, t, top_k, bool(bos))
        vocab = self.vocab
        return [vocab[i] for i in out.tolist()]


def _restore_lm(data) -> NgramLM:
    """Unpickle an :class:`NgramLM` (bad bytes: :class:`FormatError` naming the offset)."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise FormatError(f"NgramLM pickle: expected the model's bytes, got {type(data).__name__}")
    return NgramLM(_core.NgramModel.from_bytes(bytes(data)))
