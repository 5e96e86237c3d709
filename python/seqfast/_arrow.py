"""Tokenizing ``pyarrow`` string arrays in place: the Arrow path of ``Tokenizer.encode_batch``
and of ``seqfast.distributed.encode_arrow``.

The core reads the text from the array's data buffer through its offsets (Arrow's buffers seen
as NumPy arrays) and the result wraps the core's id and offset buffers: the text is never copied.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from seqfast import _args, _core
from seqfast._errors import ArgumentTypeError, SeqfastError


def where(partition: Optional[int], i: int) -> str:
    """An item's place in error messages."""
    return f"partition {partition}, item {i}" if partition is not None else f"item {i}"


_ENCODERS: list = []  # [(tokenizer, core ArrowEncoder)], most recent last, a few at most


def _arrow_encoder(tokenizer):
    """The core encoder reading Arrow buffers for ``tokenizer`` (built once and cached: a
    worker encoding many partitions with one tokenizer builds it once)."""
    for t, e in _ENCODERS:
        if t is tokenizer:
            return e
    e = _core.ArrowEncoder(tokenizer.to_str())
    _ENCODERS.append((tokenizer, e))
    del _ENCODERS[:-4]
    return e


def encode(tokenizer, array, special: _args.Special = "error", num_threads: Optional[int] = None, partition: Optional[int] = None):
    """A ``pyarrow`` string array (or ChunkedArray) encoded with the byte-level ``tokenizer``
    (a checked :class:`~seqfast.Tokenizer`) to a ``pyarrow.LargeListArray`` of uint32 ids."""
    import pyarrow as pa

    if isinstance(array, pa.ChunkedArray):
        chunks = [encode(tokenizer, c, special, num_threads, partition) for c in array.chunks]
        return pa.concat_arrays(chunks) if chunks else pa.array([], type=pa.large_list(pa.uint32()))
    if not isinstance(array, pa.Array):
        raise ArgumentTypeError(f"array must be a pyarrow string array, not {type(array).__name__}")
    t = array.type
    if getattr(pa.types, "is_string_view", lambda _: False)(t):
        array, t = array.cast(pa.large_string()), pa.large_string()
    if not (pa.types.is_string(t) or pa.types.is_large_string(t)):
        raise ArgumentTypeError(f"array must hold strings, not {t}")
    if array.null_count:
        import pyarrow.compute as pc

        i = pc.index(pc.is_null(array), True).as_py()
        raise SeqfastError(f"{where(partition, i)}: null where a text str was expected")
    bufs = array.buffers()
    width = np.int64 if pa.types.is_large_string(t) else np.int32
    # Views of Arrow's buffers (a sliced array starts `array.offset` entries in); int32 offsets
    # are widened, 8 bytes a text: the text itself is never copied.
    offsets = np.frombuffer(bufs[1], dtype=width)[array.offset : array.offset + len(array) + 1] if len(array) else np.zeros(1, width)
    if offsets.dtype != np.int64:
        offsets = offsets.astype(np.int64)
    buf = bufs[2]
    data = np.frombuffer(buf, dtype=np.uint8) if buf is not None else np.zeros(0, np.uint8)
    policy = _args.text(special, "special")
    try:
        ids, row_offsets = _arrow_encoder(tokenizer).encode(data, offsets, policy, _args.threads(num_threads))
    except SeqfastError as e:
        if partition is None:
            raise
        raise type(e)(f"partition {partition}: {e}") from None
    return pa.LargeListArray.from_arrays(pa.array(row_offsets, type=pa.int64()), pa.array(ids, type=pa.uint32()))
