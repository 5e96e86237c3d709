"""Token ids of many texts stored flat (:class:`EncodingBatch`, CSR: ids + row offsets), and
:func:`as_ids`, the check of ids about to be decoded. Shared by every tokenizer family."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Optional

import numpy as np

from seqfast import _args, _core
from seqfast._errors import ArgumentTypeError, DecodeError, FormatError, SeqfastError


def as_ids(ids: object, name: str = "ids") -> np.ndarray:
    """Token ids to decode (NumPy array or sequence of ints) as a contiguous 1-D uint32 array.

    Values outside 0..2**32-1 raise :class:`DecodeError`; non-integer input raises
    :class:`ArgumentTypeError`; more than one dimension raises :class:`ShapeError`.

    >>> as_ids([104, 105]).dtype
    dtype('uint32')
    """
    return _args.ids(ids, name, DecodeError)


class EncodingBatch:
    """Token ids of many texts, stored flat: text ``i`` is ``ids[row_offsets[i]:row_offsets[i+1]]``.

    Batches from a Hugging Face pipeline can also carry per-token arrays aligned with ``ids``
    (``None`` unless requested): ``offsets`` ((N, 2) int64 character offsets into the text, as
    HF's ``Encoding.offsets``), ``type_ids`` (uint32), ``special_tokens_mask`` and
    ``attention_mask`` (uint8), ``word_ids`` (int64, -1 where HF has None), and with overflowing
    pieces ``overflow_to_sample`` (the text each row came from).

    >>> b = EncodingBatch(np.array([5, 6, 7], np.uint32), np.array([0, 2, 3]))
    >>> len(b), b[0].tolist(), b.lengths.tolist()
    (2, [5, 6], [2, 1])
    >>> ids, mask = b.pad(pad_id=0)
    >>> ids.tolist(), mask.tolist()
    ([[5, 6], [7, 0]], [[True, True], [True, False]])
    """

    __slots__ = ("ids", "row_offsets", "offsets", "type_ids", "special_tokens_mask", "attention_mask", "word_ids",
                 "overflow_to_sample")

    def __init__(self, ids: np.ndarray, row_offsets: np.ndarray, **extra):
        self.ids = ids
        self.row_offsets = row_offsets
        for k in self.__slots__[2:]:
            setattr(self, k, extra.pop(k, None))
        if extra:
            raise ArgumentTypeError(f"unknown EncodingBatch fields {sorted(extra)}")

    def __len__(self) -> int:
        return len(self.row_offsets) - 1

    def __getitem__(self, i: int) -> np.ndarray:
        n = len(self)
        if not -n <= i < n:
            raise IndexError(f"index {i} out of range for a batch of {n}")
        i %= n
        return self.ids[self.row_offsets[i] : self.row_offsets[i + 1]]

    def __iter__(self) -> Iterator[np.ndarray]:
        return (self[i] for i in range(len(self)))

    def row(self, name: str, i: int) -> np.ndarray:
        """Row ``i`` of a per-token array (``"offsets"``, ``"type_ids"``, ...)."""
        a = getattr(self, name)
        if a is None:
            raise SeqfastError(f"{name} was not requested when this batch was encoded")
        return a[self.row_offsets[i] : self.row_offsets[i + 1]]

    @property
    def lengths(self) -> np.ndarray:
        """Number of tokens of each text (int64)."""
        return np.diff(self.row_offsets)

    def pad(
        self, pad_id: int = 0, length: Optional[int] = None, *, truncate: bool = False, side: _args.Side = "right"
    ) -> tuple[np.ndarray, np.ndarray]:
        """Pad into ``(B, L)`` uint32 ids and a ``(B, L)`` bool mask (True on real tokens).

        ``length`` defaults to the longest text; a longer text is an error unless ``truncate``.
        ``side`` is "right" or "left" (where the padding goes).
        """
        _args.choice("side", side, _args.SIDES)
        pad_id = _args.integer("pad_id", pad_id, 0, _args.U32_MAX)
        length = _args.optional_integer("length", length, 0)
        return _core.pad((self.ids, self.row_offsets), pad_id, length, truncate, side == "left")

    def to_list(self) -> list[list[int]]:
        """Python lists of ints (slow for big batches: prefer ``ids``/``row_offsets`` or ``pad``)."""
        return [row.tolist() for row in self]

    def __reduce__(self):
        extra = {k: getattr(self, k) for k in self.__slots__[2:] if getattr(self, k) is not None}
        return (_restore_batch, (self.ids, self.row_offsets, extra))

    def __repr__(self) -> str:
        return f"EncodingBatch(texts={len(self)}, tokens={len(self.ids)})"


def _restore_batch(ids, offsets, extra=None) -> EncodingBatch:
    """Unpickle an :class:`EncodingBatch`, checking what the bytes claim."""
    if not isinstance(ids, np.ndarray) or not isinstance(offsets, np.ndarray):
        raise FormatError("EncodingBatch pickle: ids and offsets must be arrays")
    if ids.dtype != np.uint32 or ids.ndim != 1 or offsets.dtype != np.int64 or offsets.ndim != 1 or len(offsets) < 1:
        raise FormatError(f"EncodingBatch pickle: ids {ids.dtype}{ids.shape}, offsets {offsets.dtype}{offsets.shape} "
                          "are not 1-D uint32 and non-empty 1-D int64")
    if offsets[0] != 0 or offsets[-1] != len(ids) or bool(np.any(np.diff(offsets) < 0)):
        raise FormatError("EncodingBatch pickle: offsets must rise from 0 to len(ids)")
    extra = extra or {}
    if not isinstance(extra, dict) or not set(extra) <= set(EncodingBatch.__slots__[2:]):
        raise FormatError("EncodingBatch pickle: unknown per-token arrays")
    for k, a in extra.items():
        if not isinstance(a, np.ndarray) or len(a) != (len(offsets) - 1 if k == "overflow_to_sample" else len(ids)):
            raise FormatError(f"EncodingBatch pickle: {k} does not match the ids")
    return EncodingBatch(ids, offsets, **extra)
