"""n-gram counting and n-gram language models (:class:`NgramLM`, defined in ``_lm.py``).

Counts live in Rust-built sorted tables, one per order, exposed as NumPy arrays: for order
``n``, ``grams`` is ``(k, n)`` uint32 (lexicographically sorted rows) and ``counts`` is ``(k,)``
uint64. Counting is exact and gives the same tables for every thread count.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from typing import Optional

import numpy as np

from seqfast import _core
from seqfast._errors import ArgumentTypeError, FormatError, SeqfastError, ShapeError
from seqfast.tokenizer import EncodingBatch, _check_threads, as_ids

__all__ = ["NgramCounts", "NgramLM", "count", "words"]


def words(text: str, vocab: Optional[Sequence[str]] = None) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Whitespace-separated words as ids, one sentence per non-empty line.

    Returns ``(ids uint32, offsets int64, vocab)``: ids are assigned in order of first
    appearance after the words already in ``vocab`` (so ``vocab=["<s>", "</s>"]`` reserves ids
    0 and 1 for sentence framing), and ``vocab[id]`` is the word.
    """
    if not isinstance(text, str):
        raise ArgumentTypeError(f"text must be a str, not {type(text).__name__}")
    return _core.ngram_words(text, list(vocab or []))


def _as_csr(tokens) -> tuple[np.ndarray, np.ndarray]:
    """Token sequences as (uint32 ids, int64 offsets)."""
    if isinstance(tokens, EncodingBatch):
        return as_ids(tokens.ids, "tokens"), np.ascontiguousarray(tokens.row_offsets, dtype=np.int64)
    if isinstance(tokens, tuple) and len(tokens) == 2 and all(isinstance(t, np.ndarray) for t in tokens):
        ids, offsets = tokens
        return as_ids(ids, "tokens"), np.ascontiguousarray(offsets, dtype=np.int64)
    if isinstance(tokens, np.ndarray):
        if tokens.ndim == 2:
            ids = as_ids(tokens.reshape(-1), "tokens")  # (B, L): B sequences of length L
            return ids, np.arange(tokens.shape[0] + 1, dtype=np.int64) * tokens.shape[1]
        ids = as_ids(tokens, "tokens")
        return ids, np.array([0, ids.size], dtype=np.int64)
    if isinstance(tokens, (str, bytes)):
        raise ArgumentTypeError("tokens must be token ids (arrays of integers), not text")
    if isinstance(tokens, Iterable):
        seqs = [as_ids(s, f"tokens[{i}]") for i, s in enumerate(tokens)]
        if not seqs:
            return np.zeros(0, dtype=np.uint32), np.zeros(1, dtype=np.int64)
        lengths = np.fromiter((s.size for s in seqs), dtype=np.int64, count=len(seqs))
        return np.concatenate(seqs), np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    raise ArgumentTypeError(f"tokens must be a uint32 array, a list of arrays or (ids, offsets), not {type(tokens).__name__}")


class NgramCounts:
    """Counts of all n-grams of orders 1..order, as sorted NumPy tables (see module doc)."""

    __slots__ = ("_tables",)

    def __init__(self, tables: Sequence[tuple[np.ndarray, np.ndarray]]):
        self._tables = list(tables)

    @property
    def order(self) -> int:
        return len(self._tables)

    def ngrams(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """``(grams (k, n) uint32, counts (k,) uint64)`` of order ``n``."""
        if not isinstance(n, (int, np.integer)) or not 1 <= n <= self.order:
            raise SeqfastError(f"n={n!r} must be between 1 and order={self.order}")
        return self._tables[n - 1]

    def num_ngrams(self, n: int) -> int:
        """Number of distinct n-grams of order ``n``."""
        return len(self.ngrams(n)[1])

    def total(self, n: int) -> int:
        """Number of n-gram occurrences of order ``n``."""
        return int(self.ngrams(n)[1].sum())

    def __getitem__(self, gram) -> int:
        """Count of one n-gram given as a sequence of ids (0 if unseen)."""
        g = as_ids(gram, "ngram")
        if not 1 <= g.size <= self.order:
            raise SeqfastError(f"an n-gram of length {g.size} does not fit counts of order {self.order}")
        return int(self.lookup(g.reshape(1, -1))[0])

    def lookup(self, grams) -> np.ndarray:
        """Counts (uint64) of many n-grams of one order, given as a ``(q, n)`` array of ids."""
        q = np.ascontiguousarray(grams)
        if q.ndim != 2 or not 1 <= q.shape[1] <= self.order:
            raise ShapeError(f"queries must be a (q, n) array with 1 <= n <= {self.order}, got shape {q.shape}")
        q = as_ids(q.reshape(-1), "ngrams").reshape(q.shape)
        table, counts = self._tables[q.shape[1] - 1]
        return _core.ngram_lookup(table, counts, q)

    def __add__(self, other: "NgramCounts") -> "NgramCounts":
        if not isinstance(other, NgramCounts):
            return NotImplemented
        if other.order != self.order:
            raise ShapeError(f"cannot add counts of order {self.order} and {other.order}")
        return NgramCounts([_core.ngram_merge(a[0], a[1], b[0], b[1]) for a, b in zip(self._tables, other._tables)])

    @staticmethod
    def merge(parts: Iterable["NgramCounts"]) -> "NgramCounts":
        """Sum of several counts (shards counted separately combine exactly)."""
        parts = list(parts)
        if not parts:
            raise SeqfastError("merge needs at least one NgramCounts")
        out = parts[0]
        for p in parts[1:]:
            out = out + p
        return out

    def __reduce__(self):
        return (_restore_counts, ([(g, c) for g, c in self._tables],))

    def save(self, path, vocab: Optional[Sequence[str]] = None) -> None:
        """Write an ``.npz`` file (atomically), optionally with the word list ``vocab``."""
        import os

        arrays = {}
        if vocab:
            arrays["vocab"] = np.asarray(list(vocab), dtype=str)
        for n, (g, c) in enumerate(self._tables, 1):
            arrays[f"grams{n}"], arrays[f"counts{n}"] = g, c
        tmp = f"{os.fspath(path)}.tmp{os.getpid()}"
        try:
            with open(tmp, "wb") as f:
                np.savez(f, **arrays)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    @staticmethod
    def load(path) -> "NgramCounts":
        with np.load(path, allow_pickle=False) as z:
            n = len([k for k in z.files if k.startswith("grams")])
            if n == 0:
                raise ShapeError(f"{path}: no n-gram tables (grams1, counts1, ...) in this file")
            tables = []
            for i in range(1, n + 1):
                g, c = z[f"grams{i}"], z[f"counts{i}"]
                if g.dtype != np.uint32 or c.dtype != np.uint64 or g.ndim != 2 or g.shape != (len(c), i):
                    raise ShapeError(f"{path}: table of order {i} has the wrong shape or dtype")
                tables.append((np.ascontiguousarray(g), np.ascontiguousarray(c)))
        return NgramCounts(tables)

    def __repr__(self) -> str:
        return "NgramCounts(" + ", ".join(f"{n}-grams: {self.num_ngrams(n)}" for n in range(1, self.order + 1)) + ")"


def _restore_counts(tables) -> NgramCounts:
    """Unpickle :class:`NgramCounts`, checking the tables' types, shapes and order."""
    if not isinstance(tables, list) or not tables:
        raise FormatError("NgramCounts pickle: expected a non-empty list of (grams, counts) tables")
    for n, t in enumerate(tables, 1):
        if not (isinstance(t, tuple) and len(t) == 2 and all(isinstance(a, np.ndarray) for a in t)):
            raise FormatError(f"NgramCounts pickle: table {n} is not a (grams, counts) pair of arrays")
        g, c = t
        if g.dtype != np.uint32 or c.dtype != np.uint64 or g.ndim != 2 or c.ndim != 1 or g.shape != (len(c), n):
            raise FormatError(f"NgramCounts pickle: table {n} has grams {g.dtype}{g.shape} and counts {c.dtype}{c.shape}")
        if len(c) > 1:
            # Rows must be strictly increasing: the first differing column of each pair rises.
            d = g[1:].astype(np.int64) - g[:-1].astype(np.int64)
            nz = d != 0
            first = nz.argmax(axis=1)
            if not bool(np.all(nz.any(axis=1) & (d[np.arange(len(d)), first] > 0))):
                raise FormatError(f"NgramCounts pickle: table {n} is not strictly sorted")
    return NgramCounts([(np.ascontiguousarray(g), np.ascontiguousarray(c)) for g, c in tables])


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
    """
    if isinstance(order, bool) or not isinstance(order, (int, np.integer)) or order < 1:
        raise SeqfastError(f"order={order!r} must be an integer >= 1")
    for name, v in (("bos", bos), ("eos", eos)):
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, np.integer)) or not 0 <= v < 2**32):
            raise SeqfastError(f"{name}={v!r} must be a token id (0..2**32-1) or None")
    ids, offsets = _as_csr(tokens)
    tables = _core.ngram_count(ids, offsets, int(order), bos, eos, _check_threads(num_threads))
    return NgramCounts(tables)


from seqfast._lm import NgramLM  # noqa: E402  (uses _as_csr above)
from seqfast import _kenlm_compat as kenlm_compat  # noqa: E402  (kenlm's API: seqfast.ngram.kenlm_compat)

# `import seqfast.ngram.kenlm_compat` and `from seqfast.ngram.kenlm_compat import Model` work too.
sys.modules[__name__ + ".kenlm_compat"] = kenlm_compat
