"""n-gram counting: :class:`NgramCounts`, :func:`count`, :func:`count_words`, :func:`words`
(exported by ``seqfast.ngram``).

Counts live in Rust-built sorted tables, one per order, exposed as NumPy arrays: for order
``n``, ``grams`` is ``(k, n)`` uint32 (lexicographically sorted rows) and ``counts`` is ``(k,)``
uint64. Counting is exact and gives the same tables for every thread count.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from typing import Any, ClassVar, Optional

import numpy as np
import numpy.typing as npt

from seqfast import _args, _core
from seqfast._errors import ArgumentTypeError, FormatError, SeqfastError, ShapeError

__all__ = ["NgramCounts", "count", "count_words", "words"]

_Table = tuple[npt.NDArray[np.uint32], npt.NDArray[np.uint64]]  # (grams (k, n), counts (k,)) of one order


def words(text: str, vocab: Optional[Sequence[str]] = None) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Whitespace-separated words as ids, one sentence per non-empty line.

    Returns ``(ids uint32, offsets int64, vocab)``: ids are assigned in order of first
    appearance after the words already in ``vocab`` (so ``vocab=["<s>", "</s>"]`` reserves ids
    0 and 1 for sentence framing), and ``vocab[id]`` is the word.

    >>> ids, offsets, vocab = words("a b\\nb c")
    >>> ids.tolist(), offsets.tolist(), vocab
    ([0, 1, 1, 2], [0, 2, 4], ['a', 'b', 'c'])
    """
    if not isinstance(text, str):
        raise ArgumentTypeError(f"text must be a str, not {type(text).__name__}")
    return _core.ngram_words(text, list(vocab or []))


class NgramCounts:
    r"""Counts of all n-grams of orders 1..order, as sorted NumPy tables (see module doc).

    Counts made by :func:`count_words` carry their word vocabulary (``vocab[id]`` is the word;
    ``<unk>``, ``<s>``, ``</s>`` are ids 0, 1, 2) and their framing (``bos`` 1, ``eos`` 2);
    counts made by :func:`count` carry the ``bos``/``eos`` ids they were framed with (or None).
    ``a + b`` sums two counts: word-level counts are merged with vocabulary remapping (``a``'s
    ids are kept and ``b``'s new words appended in ``b``'s order, so counts of consecutive
    pieces of a text, summed in order, are the counts of the whole text and
    :meth:`NgramLM.fit_counts` gives exactly the model :meth:`NgramLM.fit` gives on it).

    >>> a = count_words("the cat sat\n", order=2)
    >>> b = count_words("the dog sat\n", order=2)
    >>> (a + b).vocab[3:], (a + b)[[3]]  # 'the' has id 3 and was seen twice
    (['the', 'cat', 'sat', 'dog'], 2)
    """

    __slots__ = ("_tables", "vocab", "bos", "eos", "_index")

    def __init__(
        self,
        tables: Sequence[_Table],
        vocab: Optional[Sequence[str]] = None,
        *,
        bos: Optional[int] = None,
        eos: Optional[int] = None,
    ):
        self._tables = list(tables)
        self.vocab: Optional[list[str]] = None if vocab is None else list(vocab)
        self.bos, self.eos = (1, 2) if vocab is not None else (bos, eos)
        self._index: Optional[dict[str, int]] = None

    @property
    def order(self) -> int:
        return len(self._tables)

    def ngrams(self, n: int) -> _Table:
        """``(grams (k, n) uint32, counts (k,) uint64)`` of order ``n``."""
        return self._tables[_args.integer("n", n, 1, self.order) - 1]

    def num_ngrams(self, n: int) -> int:
        """Number of distinct n-grams of order ``n``."""
        return len(self.ngrams(n)[1])

    def total(self, n: int) -> int:
        """Number of n-gram occurrences of order ``n``."""
        return int(self.ngrams(n)[1].sum())

    def __getitem__(self, gram) -> int:
        """Count of one n-gram given as a sequence of ids, or of words for word-level counts
        (0 if unseen)."""
        if self.vocab is not None and isinstance(gram, (str, list, tuple)) and any(isinstance(w, str) for w in ([gram] if isinstance(gram, str) else gram)):
            words = gram.split() if isinstance(gram, str) else list(gram)
            if self._index is None:
                self._index = {w: i for i, w in enumerate(self.vocab)}
            index = self._index
            if any(w not in index for w in words):
                return 0
            gram = [index[w] for w in words]
        g = _args.ids(gram, "ngram")
        if not 1 <= g.size <= self.order:
            raise SeqfastError(f"an n-gram of length {g.size} does not fit counts of order {self.order}")
        return int(self.lookup(g.reshape(1, -1))[0])

    def lookup(self, grams) -> np.ndarray:
        """Counts (uint64) of many n-grams of one order, given as a ``(q, n)`` array of ids."""
        q = np.ascontiguousarray(grams)
        if q.ndim != 2 or not 1 <= q.shape[1] <= self.order:
            raise ShapeError(f"queries must be a (q, n) array with 1 <= n <= {self.order}, got shape {q.shape}")
        ids = _args.ids(q.reshape(-1), "ngrams").reshape(q.shape)
        return _core.ngram_lookup(self._tables[q.shape[1] - 1], ids)

    def __add__(self, other: "NgramCounts") -> "NgramCounts":
        if not isinstance(other, NgramCounts):
            return NotImplemented
        return NgramCounts.merge([self, other])

    @staticmethod
    def merge(parts: Iterable["NgramCounts"]) -> "NgramCounts":
        """Sum of several counts, in order (shards counted separately combine exactly).

        Word-level counts merge in one call to the core (one vocabulary merge, one remap per
        part; the order of the parts must be the text's); id-level counts merge pairwise,
        neighbours level by level, so each table is merged log2(k) times, not k - 1."""
        parts = list(parts)
        if not parts:
            raise SeqfastError("merge needs at least one NgramCounts")
        for p in parts:
            if not isinstance(p, NgramCounts):
                raise ArgumentTypeError(f"merge takes NgramCounts, not {type(p).__name__}")
        first = parts[0]
        for p in parts[1:]:
            if p.order != first.order:
                raise ShapeError(f"cannot add counts of order {first.order} and {p.order}")
            if (p.vocab is None) != (first.vocab is None):
                raise SeqfastError("cannot add word-level counts (with a vocabulary) and id-level counts")
            if p.vocab is None and (p.bos, p.eos) != (first.bos, first.eos):
                raise SeqfastError(f"cannot add counts framed differently: bos/eos {first.bos}/{first.eos} and {p.bos}/{p.eos}")
        if len(parts) == 1:
            return first
        if first.vocab is not None:
            # every part has a vocabulary (checked above), so the filter keeps them all
            tables, vocab = _core.ngram_merge_words([(p._tables, p.vocab) for p in parts if p.vocab is not None])
            return NgramCounts(tables, vocab)
        level = [p._tables for p in parts]
        while len(level) > 1:
            pairs = [level[i : i + 2] for i in range(0, len(level), 2)]
            level = [[_core.ngram_merge((a[0], a[1]), (b[0], b[1])) for a, b in zip(*pr)] if len(pr) == 2 else pr[0] for pr in pairs]
        return NgramCounts(level[0], bos=first.bos, eos=first.eos)

    def __eq__(self, other) -> bool:
        if not isinstance(other, NgramCounts):
            return NotImplemented
        return (
            (self.vocab, self.bos, self.eos, self.order) == (other.vocab, other.bos, other.eos, other.order)
            and all(np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1]) for a, b in zip(self._tables, other._tables))
        )

    __hash__: ClassVar[None] = None  # type: ignore[assignment]  # mutable tables: not hashable (typeshed's idiom)

    def __reduce__(self):
        return (_restore_counts, ([(g, c) for g, c in self._tables], self.vocab, self.bos, self.eos))

    def save(self, path, vocab: Optional[Sequence[str]] = None) -> None:
        """Write an ``.npz`` file (atomically), with the counts' vocabulary and framing (``vocab``
        overrides the stored vocabulary)."""
        arrays: dict[str, Any] = {}  # Any: numpy's savez stub would match **arrays against allow_pickle: bool
        vocab = self.vocab if vocab is None else vocab
        if vocab:
            arrays["vocab"] = np.asarray(list(vocab), dtype=str)
        if self.bos is not None and self.eos is not None:
            arrays["framing"] = np.array([self.bos, self.eos], dtype=np.int64)
        for n, (g, c) in enumerate(self._tables, 1):
            arrays[f"grams{n}"], arrays[f"counts{n}"] = g, c
        with _core.AtomicFile(path) as f:  # temp file + fsync + rename, removed on error
            np.savez(f, **arrays)

    @staticmethod
    def load(path) -> "NgramCounts":
        with np.load(path, allow_pickle=False) as z:
            n = len([k for k in z.files if k.startswith("grams")])
            if n == 0:
                raise FormatError(f"{path}: no n-gram tables (grams1, counts1, ...) in this file")
            tables = []
            for i in range(1, n + 1):
                g, c = z[f"grams{i}"], z[f"counts{i}"]
                if g.dtype != np.uint32 or c.dtype != np.uint64 or g.ndim != 2 or g.shape != (len(c), i):
                    raise FormatError(f"{path}: table of order {i} has the wrong shape or dtype")
                tables.append((np.ascontiguousarray(g), np.ascontiguousarray(c)))
            vocab = [str(w) for w in z["vocab"]] if "vocab" in z.files else None
            bos, eos = (int(x) for x in z["framing"]) if "framing" in z.files else (None, None)
        if vocab is not None and vocab[:3] != ["<unk>", "<s>", "</s>"]:
            # a vocabulary saved beside id-level counts (the old `save(path, vocab)` form)
            return NgramCounts(tables, bos=bos, eos=eos)
        return NgramCounts(tables, vocab, bos=bos, eos=eos)

    def __repr__(self) -> str:
        kind = f", {len(self.vocab)} words" if self.vocab is not None else ""
        return "NgramCounts(" + ", ".join(f"{n}-grams: {self.num_ngrams(n)}" for n in range(1, self.order + 1)) + kind + ")"


def _restore_counts(tables, vocab=None, bos=None, eos=None) -> NgramCounts:
    """Unpickle :class:`NgramCounts`, checking the tables' types, shapes and order."""
    if not isinstance(tables, list) or not tables:
        raise FormatError("NgramCounts pickle: expected a non-empty list of (grams, counts) tables")
    for n, t in enumerate(tables, 1):
        if not (isinstance(t, tuple) and len(t) == 2 and all(isinstance(a, np.ndarray) for a in t)):
            raise FormatError(f"NgramCounts pickle: table {n} is not a (grams, counts) pair of arrays")
        g, c = t
        if g.dtype != np.uint32 or c.dtype != np.uint64 or g.ndim != 2 or c.ndim != 1 or g.shape != (len(c), n):
            raise FormatError(f"NgramCounts pickle: table {n} has grams {g.dtype}{g.shape} and counts {c.dtype}{c.shape}")
        # Aligned copies only where needed: engines unpickle small arrays from packed frames
        # (Dask's transfers do), at addresses the core cannot read a uint32/uint64 slice from.
        g, c = np.require(g, requirements=("C", "A")), np.require(c, requirements=("C", "A"))
        tables[n - 1] = (g, c)
        if len(c) > 1 and not _core.ngram_strictly_sorted(g):
            raise FormatError(f"NgramCounts pickle: table {n} is not strictly sorted")
    if vocab is not None and not (isinstance(vocab, list) and all(isinstance(w, str) for w in vocab)):
        raise FormatError("NgramCounts pickle: the vocabulary is not a list of str")
    return NgramCounts(tables, vocab, bos=bos, eos=eos)


def count(
    tokens,
    order: int = 3,
    *,
    bos: Optional[int] = None,
    eos: Optional[int] = None,
    num_threads: Optional[int] = None,
) -> NgramCounts:
    """Count all n-grams of orders 1..``order``.

    ``tokens``: one uint32 array (one sequence), a list of arrays (one per sentence), an
    ``(ids, offsets)`` pair or an :class:`~seqfast.EncodingBatch`. ``bos``/``eos``: ids framing
    every sequence (KenLM's ``<s>``/``</s>``); n-grams never cross sequences. The GIL is released
    and the result is identical for every ``num_threads``.

    >>> c = count(np.array([1, 2, 1, 2], np.uint32), order=2)
    >>> c[[1, 2]], c.num_ngrams(2), c.total(1)
    (2, 2, 4)
    """
    order = _args.integer("order", order, 1)
    bos, eos = _args.optional_integer("bos", bos, 0, _args.U32_MAX), _args.optional_integer("eos", eos, 0, _args.U32_MAX)
    ids, offsets = _args.csr(tokens)
    tables = _core.ngram_count((ids, offsets), order, bos, eos, _args.threads(num_threads))
    return NgramCounts(tables, bos=bos, eos=eos)


def count_words(text, order: int = 3, *, num_threads: Optional[int] = None) -> NgramCounts:
    r"""Word-level counts of a text, framed as :meth:`NgramLM.fit` frames it, with their vocabulary.

    ``text``: a ``str`` (one sentence per line, whitespace-separated words; an empty line is an
    empty sentence ``<s> </s>``, as in lmplz), UTF-8 ``bytes``, a file path
    (``pathlib.Path``, read as bytes) or a list of sentence strings. Counts of consecutive pieces
    of a text summed in order (``a + b`` or :meth:`NgramCounts.merge`) equal the counts of the
    whole text, and ``NgramLM.fit_counts(counts)`` equals ``NgramLM.fit(text)``: count on many
    machines (or in several passes), fit on one.

    >>> c = count_words("a b a\n", order=2)
    >>> c.vocab, c["a"], c["a b"], c.total(1)
    (['<unk>', '<s>', '</s>', 'a', 'b'], 2, 1, 5)
    """
    order = _args.integer("order", order, 1)
    threads = _args.threads(num_threads)
    source = "bytes"
    if isinstance(text, os.PathLike):
        source = os.fspath(text)
        with open(text, "rb") as f:
            text = f.read()
    elif isinstance(text, bytearray):
        text = bytes(text)
    elif isinstance(text, (list, tuple)) and text and all(isinstance(s, str) for s in text):
        if any("\n" in s for s in text):
            raise SeqfastError("a sentence string contains a newline; pass one sentence per list item")
        text = "\n".join(text) + "\n"
    elif not isinstance(text, (str, bytes)):
        raise ArgumentTypeError(f"text must be a str, bytes, a path or a list of sentence strings, not {type(text).__name__}")
    tables, vocab = _core.ngram_count_text(text, order, threads, source)
    return NgramCounts(tables, vocab)

