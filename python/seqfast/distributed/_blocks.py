"""Building blocks of distributed work: pure functions of one partition of texts, and exact,
associative merges of their results. Any engine (Dask, Ray, multiprocessing, a batch job per
file) can map the first and reduce with the second; the Dask front ends in ``_dask.py`` do.

A partition is a sequence of text strings (a list, a ``dask.bag`` partition, a pandas Series).
``partition=`` (its index) only serves error messages, which name the partition and the item.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Iterable, Sequence
from typing import Optional

import numpy as np

from seqfast import _args, _arrow, _core
from seqfast._arrow import where as _where
from seqfast._errors import ArgumentTypeError, FormatError, SeqfastError
from seqfast.ngram import NgramCounts, count, count_words
from seqfast.tokenizer import Tokenizer, train_args

__all__ = [
    "PieceCounts",
    "piece_counts",
    "train_bpe_from_counts",
    "word_counts",
    "id_counts",
    "merge_counts",
    "split_counts",
    "encode_texts",
    "encode_arrow",
    "read_lines",
]


def _as_texts(texts, partition: Optional[int], what: str = "text") -> list:
    """The partition as a list of str; a non-str item is an error naming partition and item."""
    if isinstance(texts, (str, bytes)):
        raise ArgumentTypeError(f"a partition must be a sequence of str, not a single {type(texts).__name__}")
    if hasattr(texts, "tolist") and not isinstance(texts, list):
        texts = texts.tolist()  # pandas Series / NumPy / Arrow arrays of str
    texts = texts if isinstance(texts, list) else list(texts)
    return texts


def _find_bad(texts: list, partition: Optional[int], what: str = "text"):
    """Raise a clear error for the first item the core could not take (not a str, or a str with
    lone surrogates, which have no UTF-8 form)."""
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise ArgumentTypeError(f"{_where(partition, i)}: expected a {what} str, got {type(t).__name__} {t!r:.60}")
        try:
            t.encode("utf-8")
        except UnicodeEncodeError as e:
            raise SeqfastError(f"{_where(partition, i)}: the {what} has no UTF-8 form ({e.reason} at character {e.start})") from None


def _checked_call(fn, texts: list, partition: Optional[int], what: str = "text"):
    try:
        return fn(texts)
    except (TypeError, UnicodeEncodeError):
        _find_bad(texts, partition, what)
        raise


# ---- BPE piece counts ---------------------------------------------------------------------


class PieceCounts:
    """Counts of pre-tokenized pieces (the words BPE training merges within), with the pattern and
    special tokens they were counted with. ``a + b`` and :meth:`merge` sum counts exactly, in any
    grouping and order; :func:`train_bpe_from_counts` of the sum of the partitions' counts gives
    the tokenizer :func:`seqfast.train_bpe` gives on all their texts. Pickles as its canonical
    bytes (sorted, front-coded pieces), so equal counts pickle equally.

    >>> texts = ["the cat sat", "the dog sat", "a cat ran"]
    >>> a, b = piece_counts(texts[:2]), piece_counts(texts[2:])
    >>> (a + b) == piece_counts(texts), len(a + b)
    (True, 6)
    """

    __slots__ = ("_c",)

    def __init__(self, pattern: str = "cl100k", special_tokens: Iterable[str] = ()):
        self._c = _core.BpeCounts(_args.text(pattern, "pattern"), _args.str_list("special_tokens", special_tokens))

    @classmethod
    def _wrap(cls, core) -> "PieceCounts":
        out = cls.__new__(cls)
        out._c = core
        return out

    @property
    def pattern(self) -> str:
        return self._c.pattern

    @property
    def special_tokens(self) -> list:
        return self._c.special_tokens

    def __len__(self) -> int:
        """Number of distinct pieces."""
        return self._c.n_words

    @property
    def total(self) -> int:
        """Number of pieces counted, with multiplicity."""
        return self._c.n_pieces

    def items(self) -> dict:
        """``{piece bytes: count}`` (for inspection; large tables make large dicts)."""
        return dict(self._c.items())

    def to_bytes(self) -> bytes:
        """The canonical byte form (what pickling sends)."""
        return self._c.to_bytes()

    @classmethod
    def from_bytes(cls, data: bytes, pattern: str = "cl100k", special_tokens: Iterable[str] = ()) -> "PieceCounts":
        out = cls(pattern, special_tokens)
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise ArgumentTypeError(f"data must be bytes, not {type(data).__name__}")
        out._c.add_bytes(bytes(data))
        return out

    def __add__(self, other: "PieceCounts") -> "PieceCounts":
        if not isinstance(other, PieceCounts):
            return NotImplemented
        return PieceCounts._wrap(self._c.merged([other._c]))

    @staticmethod
    def merge(parts: Iterable["PieceCounts"]) -> "PieceCounts":
        """The sum of several counts (one pass; inputs are left unchanged)."""
        parts = [p for p in parts]
        if not parts:
            raise SeqfastError("merge needs at least one PieceCounts")
        for i, p in enumerate(parts):
            if not isinstance(p, PieceCounts):
                raise ArgumentTypeError(f"parts[{i}] must be PieceCounts, not {type(p).__name__}")
        return PieceCounts._wrap(parts[0]._c.merged([p._c for p in parts[1:]]))

    def __eq__(self, other) -> bool:
        if not isinstance(other, PieceCounts):
            return NotImplemented
        return (self.pattern, self.special_tokens) == (other.pattern, other.special_tokens) and self.to_bytes() == other.to_bytes()

    __hash__ = None  # type: ignore[assignment]

    def __reduce__(self):
        return (_restore_piece_counts, (self.pattern, self.special_tokens, self.to_bytes()))

    def __repr__(self) -> str:
        return f"PieceCounts(pattern={self.pattern!r}, pieces={len(self)}, total={self.total})"


def _restore_piece_counts(pattern, special_tokens, data) -> PieceCounts:
    if not isinstance(data, bytes):
        raise FormatError("PieceCounts pickle: the table must be bytes")
    return PieceCounts.from_bytes(data, pattern, special_tokens)


def piece_counts(
    texts: Sequence[str],
    *,
    pattern: str = "cl100k",
    special_tokens: Iterable[str] = (),
    num_threads: Optional[int] = None,
    partition: Optional[int] = None,
) -> PieceCounts:
    """BPE piece counts of one partition of texts (each text pre-tokenized on its own, special
    tokens cut out, as :func:`seqfast.train_bpe` does).

    >>> texts = ["the cat sat", "the dog sat", "a cat ran"]
    >>> c = piece_counts(texts, pattern="cl100k")
    >>> c.total, c.pattern
    (9, 'cl100k')
    """
    out = PieceCounts(pattern, special_tokens)
    threads = _args.threads(num_threads)
    texts = _as_texts(texts, partition)
    _checked_call(lambda t: out._c.add_texts(t, threads), texts, partition)
    return out


def train_bpe_from_counts(
    counts: PieceCounts, vocab_size: int = 32000, *, min_frequency: int = 2, num_threads: Optional[int] = None
) -> Tokenizer:
    """Learn a byte-level BPE tokenizer from piece counts: the same merges, tie-break (smallest
    ``(left id, right id)``), special tokens and stopping rule as :func:`seqfast.train_bpe`
    trained on the texts the counts came from.

    >>> texts = ["the cat sat", "the dog sat", "a cat ran"]
    >>> parts = [piece_counts(texts[:1]), piece_counts(texts[1:])]  # one per partition, anywhere
    >>> tok = train_bpe_from_counts(merge_counts(*parts), vocab_size=262)
    >>> tok.to_str() == seqfast.train_bpe(texts=texts, vocab_size=262).to_str()
    True
    """
    if not isinstance(counts, PieceCounts):
        raise ArgumentTypeError(f"counts must be PieceCounts, not {type(counts).__name__}")
    vocab_size, min_frequency = train_args(vocab_size, min_frequency)
    return Tokenizer(counts._c.train(vocab_size, min_frequency, _args.threads(num_threads)))


# ---- n-gram counts ------------------------------------------------------------------------


def _lines(texts: list, partition: Optional[int]) -> str:
    """The partition as text for ``count_words``: every item followed by a newline, so the
    partitions' texts concatenated in order are ``"\\n".join(all texts) + "\\n"``."""
    try:
        return "\n".join(texts) + "\n" if texts else ""
    except TypeError:
        _find_bad(texts, partition)
        raise


def word_counts(
    texts: Sequence[str], order: int = 3, *, num_threads: Optional[int] = None, partition: Optional[int] = None
) -> NgramCounts:
    """Word-level n-gram counts of one partition (each text is one or more sentences, one per
    line), framed as ``NgramLM.fit`` frames text. Summing the partitions' counts in text order
    gives ``count_words("\\n".join(all texts) + "\\n")``.

    >>> texts = ["the cat sat", "the dog sat", "a cat ran"]
    >>> merge_counts(word_counts(texts[:2], 2), word_counts(texts[2:], 2)) == seqfast.ngram.count_words("\\n".join(texts) + "\\n", 2)
    True
    """
    texts = _as_texts(texts, partition)
    text = _lines(texts, partition)
    try:
        return count_words(text, order, num_threads=num_threads)
    except UnicodeEncodeError:
        _find_bad(texts, partition)
        raise


def id_counts(
    tokenizer: Tokenizer,
    texts: Sequence[str],
    order: int = 3,
    *,
    bos: Optional[int] = None,
    eos: Optional[int] = None,
    special: _args.Special = "error",
    num_threads: Optional[int] = None,
    partition: Optional[int] = None,
) -> NgramCounts:
    """Id-level n-gram counts of one partition: each text encoded with ``tokenizer`` is one
    sequence, framed with ``bos``/``eos`` when given (as :func:`seqfast.ngram.count`).

    >>> tok = seqfast.train_bpe(texts=["the cat sat on the mat"] * 5, vocab_size=270)
    >>> c = id_counts(tok, ["the cat", "the mat"], order=2)
    >>> c == seqfast.ngram.count(tok.encode_batch(["the cat", "the mat"]), order=2)
    True
    """
    batch = _encode(tokenizer, texts, special, num_threads, partition)
    return count(batch, order, bos=bos, eos=eos, num_threads=num_threads)


def merge_counts(*parts):
    """Sum of n-gram or piece counts in the order given (word vocabularies are remapped; the
    order of parts must be the order of the text for the vocabulary to come out the same).

    >>> texts = ["the cat sat", "the dog sat", "a cat ran"]
    >>> merge_counts(word_counts(texts[:1]), None, word_counts(texts[1:])).vocab[3:6]  # None parts are skipped
    ['the', 'cat', 'sat']
    """
    present = [p for p in parts if p is not None]
    if not present:
        return None
    if isinstance(present[0], PieceCounts):
        return PieceCounts.merge(present)
    return NgramCounts.merge(aligned(p) for p in present)


def check_buckets(buckets) -> int:
    return _args.integer("buckets", buckets, 1)


# Odd 64-bit multipliers of the bucket hash: one per position of an n-gram (wrapping products).
_MIX = np.array([0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9, 0xD6E8FEB86659FD93], dtype=np.uint64)


def _word_keys(counts: NgramCounts) -> Optional[np.ndarray]:
    """For word-level counts, a 64-bit key per id that is the same in every process and
    partition: a hash of the word (ids differ between partitions, words do not). None for
    id-level counts, whose ids are the keys."""
    if counts.vocab is None:
        return None
    # CRC-32 of each word's UTF-8 in C, spread over 64 bits below; not Python's hash(), which
    # differs between processes.
    return np.fromiter(map(zlib.crc32, map(str.encode, counts.vocab)), dtype=np.uint64, count=len(counts.vocab))


def split_counts(counts: NgramCounts, buckets: int) -> list:
    """``counts`` cut into ``buckets`` disjoint parts by a hash of each n-gram's words (or ids):
    a given n-gram lands in the same bucket in every partition and process, so bucket ``k`` of
    many partitions can be merged on its own worker, and the merged buckets, added together,
    are the merged counts. Each part keeps the full vocabulary (word ids stay valid, and
    vocabularies merge to the same order in every bucket).

    >>> texts = ["the cat sat", "the dog sat", "a cat ran"]
    >>> c = seqfast.ngram.count_words("\\n".join(texts) + "\\n", order=2)
    >>> parts = split_counts(c, 3)
    >>> len(parts), merge_counts(*parts) == c
    (3, True)
    """
    buckets = check_buckets(buckets)
    counts = aligned(counts)
    if buckets == 1:
        return [counts]
    keys = _word_keys(counts)
    parts: list[list[tuple[np.ndarray, np.ndarray]]] = [[] for _ in range(buckets)]
    with np.errstate(over="ignore"):
        for grams, cnt in counts._tables:
            h = np.zeros(len(cnt), dtype=np.uint64)
            for j in range(grams.shape[1]):  # a few columns; each step is vectorised over n-grams
                col = grams[:, j].astype(np.uint64) if keys is None else keys[grams[:, j]]
                h = (h ^ col) * _MIX[j % len(_MIX)]
            b = ((h >> np.uint64(33)) % np.uint64(buckets)).astype(np.intp)
            order = np.argsort(b, kind="stable")  # keeps each bucket's rows sorted
            ends = np.searchsorted(b[order], np.arange(1, buckets + 1), side="left")
            start = 0
            for k, end in enumerate(ends):
                rows = order[start:end]
                parts[k].append((np.ascontiguousarray(grams[rows]), np.ascontiguousarray(cnt[rows])))
                start = end
    return [NgramCounts(t, counts.vocab, bos=counts.bos, eos=counts.eos) for t in parts]


def aligned(counts: NgramCounts) -> NgramCounts:
    """``counts`` with every table C-contiguous and aligned, copying only tables that are not.

    Engines pack small arrays of a message into one buffer (Dask's worker-to-worker transfers
    do), so an unpickled uint32 table can start at an unaligned address, which the core (which
    reads it as a slice) refuses."""
    if not isinstance(counts, NgramCounts):
        raise ArgumentTypeError(f"expected NgramCounts, not {type(counts).__name__}")
    ok = all(a.flags.c_contiguous and a.flags.aligned for t in counts._tables for a in t)
    if ok:
        return counts
    tables = [(np.require(g, requirements=("C", "A")), np.require(c, requirements=("C", "A"))) for g, c in counts._tables]
    return NgramCounts(tables, counts.vocab, bos=counts.bos, eos=counts.eos)


# ---- reading ------------------------------------------------------------------------------


def read_lines(path, encoding: str = "utf-8") -> list:
    """The lines of a text file without their ``\\n`` (a ``\\r`` before it stays, as the
    counters see it), read and split in C: the partition of one file. Bad UTF-8 is an error
    naming the file, the line and the byte offset.

    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "part.txt")
    >>> _ = open(path, "w").write("first line\\nsecond\\n")
    >>> read_lines(path)
    ['first line', 'second']
    """
    with open(os.fspath(path), "rb") as f:
        text = _args.decode_text(f.read(), os.fspath(path), encoding)
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()  # the final newline ends the last line; it does not start an empty one
    return lines


# ---- encoding -----------------------------------------------------------------------------


def _encode(tokenizer, texts, special, num_threads, partition):
    if not isinstance(tokenizer, Tokenizer):
        raise ArgumentTypeError(f"tokenizer must be a seqfast.Tokenizer, not {type(tokenizer).__name__}")
    texts = _as_texts(texts, partition)
    try:
        return tokenizer.encode_batch(texts, special=special, num_threads=num_threads)
    except TypeError:
        _find_bad(texts, partition)
        raise
    except SeqfastError as e:
        # The core names the item within the batch; add the partition.
        if partition is None:
            raise
        raise type(e)(f"partition {partition}: {e}") from None


def encode_texts(
    tokenizer: Tokenizer,
    texts: Sequence[str],
    *,
    special: _args.Special = "error",
    num_threads: Optional[int] = None,
    partition: Optional[int] = None,
) -> list:
    """Encode one partition: a list of uint32 id arrays (views of one buffer), one per text.

    >>> tok = seqfast.train_bpe(texts=["the cat sat on the mat"] * 5, vocab_size=270)
    >>> [ids.tolist() == tok.encode(t).tolist() for t, ids in zip(["the cat", "a mat"], encode_texts(tok, ["the cat", "a mat"]))]
    [True, True]
    """
    batch = _encode(tokenizer, texts, special, num_threads, partition)
    ids, offsets = batch.ids, batch.row_offsets
    return np.split(ids, offsets[1:-1]) if len(offsets) > 1 else []


def encode_arrow(
    tokenizer: Tokenizer,
    array,
    *,
    special: _args.Special = "error",
    num_threads: Optional[int] = None,
    partition: Optional[int] = None,
):
    """Encode a ``pyarrow`` string array (``string`` or ``large_string``, a ChunkedArray of
    them, or ``string_view``, which is cast first) to a ``pyarrow.LargeListArray`` of uint32
    ids, one list per text, ready for Parquet or a Hugging Face ``datasets`` column.

    No copy of the text: the core reads it in place from the array's data buffer through its
    offsets (Arrow's buffers seen as NumPy arrays), and the result wraps the core's id and
    offset buffers. A null item is an error naming it.

    >>> tok = seqfast.train_bpe(texts=["the cat sat on the mat"] * 5, vocab_size=270)
    >>> import pyarrow as pa
    >>> ids = encode_arrow(tok, pa.array(["the cat", "the mat"]))
    >>> ids.type, ids[0].as_py() == tok.encode("the cat").tolist()
    (LargeListType(large_list<item: uint32>), True)
    """
    if not isinstance(tokenizer, Tokenizer):
        raise ArgumentTypeError(f"tokenizer must be a seqfast.Tokenizer, not {type(tokenizer).__name__}")
    return _arrow.encode(tokenizer, array, special, num_threads, partition)
