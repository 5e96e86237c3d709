"""Argument normalisation for every public entry point, under one rule:

* wrong type  -> :class:`ArgumentTypeError` (also a ``TypeError``): a str where an int is
  wanted, a float array where ids are wanted, a list where a NumPy array is wanted;
* wrong value -> :class:`SeqfastError` or a subclass: an int out of range, an unknown option
  string, a NaN, an unknown or missing key of a weights dict, a token id outside 0..2**32-1
  (:class:`DecodeError` when the ids are being decoded);
* wrong shape -> :class:`ShapeError`: an array with the wrong number of dimensions or sizes that
  do not agree with each other;
* bad file    -> :class:`FormatError`, naming the file and the line or byte offset.

``num_threads`` means the same everywhere (every API call, the CLI's ``--threads``): ``None``
or ``0`` use the global pool (all cores, or ``SEQFAST_NUM_THREADS`` / ``RAYON_NUM_THREADS``),
``1..1024`` exactly that many threads; results never depend on it.

Every function returns the normalised value (Python ``int``/``float``/``str``, contiguous
arrays) so callers pass it straight to ``_core``. Nothing here computes over the data: the
only loops check the items of a Python sequence passed as an argument.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, Optional, TypeVar, Union, get_args, overload

import numpy as np

if TYPE_CHECKING:
    from typing import TypeGuard  # Python 3.10+; only read by type checkers

from seqfast._errors import ArgumentTypeError, FormatError, SeqfastError, ShapeError

U32_MAX = 2**32 - 1
MAX_THREADS = 1024
PathLike = Union[str, "os.PathLike[str]"]

# The option strings of the public API, as types (the tuples below are the runtime checks).
Special = Literal["error", "special", "text"]
UTF8Errors = Literal["strict", "replace", "ignore"]
Side = Literal["right", "left"]
Smoothing = Literal["kneser_ney", "mle", "add_k", "laplace", "stupid_backoff"]
LengthPenalty = Literal["none", "length", "gnmt"]
Stopping = Literal["exact", "early"]
Truncation = Literal["longest_first", "only_first", "only_second"]
Nonlinearity = Literal["tanh", "relu"]
GRUVariant = Literal["pytorch", "textbook"]
LuongKind = Literal["dot", "general"]
SPECIAL: tuple[Special, ...] = get_args(Special)
UTF8_ERRORS: tuple[UTF8Errors, ...] = get_args(UTF8Errors)
SIDES: tuple[Side, ...] = get_args(Side)
SMOOTHINGS: tuple[Smoothing, ...] = get_args(Smoothing)
_Choice = TypeVar("_Choice", bound=str)


def _is_int(v: object) -> TypeGuard[Union[int, np.integer]]:
    return not isinstance(v, (bool, np.bool_)) and isinstance(v, (int, np.integer))


def _is_real(v: object) -> TypeGuard[Union[int, float, np.integer, np.floating]]:
    return not isinstance(v, (bool, np.bool_)) and isinstance(v, (int, float, np.integer, np.floating))


def _range(lo: Optional[float], hi: Optional[float]) -> str:
    if lo is not None and hi is not None:
        return f"between {lo} and {hi}"
    return f">= {lo}" if lo is not None else f"<= {hi}"


def _named(name: str, v: object) -> str:
    """``name=v`` (``name[i] = v`` for an item) in messages."""
    return f"{name} = {v!r:.40}" if name.endswith("]") else f"{name}={v!r:.40}"


def integer(name: str, v: object, lo: Optional[int] = None, hi: Optional[int] = None) -> int:
    """``v`` as a Python int in ``lo..hi`` (bounds inclusive, None: unbounded)."""
    if not _is_int(v):
        what = _named(name, v) if name.endswith("]") else name
        raise ArgumentTypeError(f"{what} must be an int, not {type(v).__name__}")
    if (lo is not None and v < lo) or (hi is not None and v > hi):
        raise SeqfastError(f"{_named(name, int(v))} must be {_range(lo, hi)}")
    return int(v)


def optional_integer(name: str, v: object, lo: Optional[int] = None, hi: Optional[int] = None) -> Optional[int]:
    """:func:`integer`, or None."""
    return None if v is None else integer(name, v, lo, hi)


def integers(name: str, values: object, lo: Optional[int] = None, hi: Optional[int] = None) -> list[int]:
    """A sequence of ints (or one int) as a list, each in ``lo..hi``."""
    if _is_int(values):
        values = [values]
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        raise ArgumentTypeError(f"{name} must be a sequence of ints, not {type(values).__name__}")
    return [integer(f"{name}[{i}]", v, lo, hi) for i, v in enumerate(values)]


def seed(v: object, name: str = "seed") -> int:
    """A random seed: an int in ``0..2**64-1``."""
    return integer(name, v, 0, 2**64 - 1)


def real(name: str, v: object, lo: Optional[float] = None, hi: Optional[float] = None, *,
         hi_open: bool = False, finite: bool = False) -> float:
    """``v`` as a float, not NaN, in ``[lo, hi]`` (``[lo, hi)`` with ``hi_open``); ``finite``
    also rejects infinities."""
    if not _is_real(v):
        raise ArgumentTypeError(f"{name} must be a number, not {type(v).__name__}")
    x = float(v)
    if x != x:
        raise SeqfastError(f"{name} is NaN")
    if finite and not math.isfinite(x):
        raise SeqfastError(f"{name}={x} must be finite")
    if (lo is not None and x < lo) or (hi is not None and (x >= hi if hi_open else x > hi)):
        low, high = "-inf" if lo is None else f"{lo:g}", "inf" if hi is None else f"{hi:g}"
        raise SeqfastError(f"{_named(name, v)} must be in [{low}, {high}{')' if hi_open else ']'}")
    return x


def boolean(name: str, v: object) -> bool:
    """A strict bool (``bool`` or ``numpy.bool_``; not 0/1)."""
    if not isinstance(v, (bool, np.bool_)):
        raise ArgumentTypeError(f"{name} must be a bool, not {type(v).__name__}")
    return bool(v)


def choice(name: str, v: object, choices: Sequence[_Choice]) -> _Choice:
    """One of the option strings ``choices``."""
    if not isinstance(v, str):
        raise ArgumentTypeError(f"{name} must be a str, one of {tuple(choices)}, not {type(v).__name__}")
    for c in choices:
        if v == c:
            return c
    raise SeqfastError(f"{name}={v!r} is not one of {tuple(choices)}")


def threads(v: object) -> Optional[int]:
    """``num_threads``: None or 0 (the global pool) or 1..1024; returns None or the count."""
    if v is None:
        return None
    if not _is_int(v):
        raise ArgumentTypeError(f"num_threads must be an int or None, not {type(v).__name__}")
    if not 0 <= v <= MAX_THREADS:
        raise SeqfastError(f"num_threads={v} must be between 0 and {MAX_THREADS} (0 or None: all threads)")
    return int(v)


def backward_threads(v: object, cache: object) -> Optional[int]:
    """A backward's thread count: as given, else the one its forward ran with."""
    return threads(v) if v is not None else getattr(cache, "num_threads", None)


def text(v: object, name: str = "text") -> str:
    if not isinstance(v, str):
        raise ArgumentTypeError(f"{name} must be a str, not {type(v).__name__}")
    return v


def str_list(name: str, values: object) -> list[str]:
    """A sequence of str (not one str) as a list, each item checked."""
    if isinstance(values, str) or not isinstance(values, Iterable):
        raise ArgumentTypeError(f"{name} must be a sequence of str, not {'a single str' if isinstance(values, str) else type(values).__name__}")
    return [text(v, f"{name}[{i}]") for i, v in enumerate(values)]


def text_list(texts: object, name: str = "texts") -> list:
    """Many texts as a list (its items are checked lazily by :func:`call_texts`)."""
    if isinstance(texts, (str, bytes)):
        hint = " (use encode)" if name == "texts" else ""
        raise ArgumentTypeError(f"{name} must be a sequence of str, not a single {type(texts).__name__}{hint}")
    if not isinstance(texts, Iterable):
        raise ArgumentTypeError(f"{name} must be a sequence of str, not {type(texts).__name__}")
    return texts if isinstance(texts, list) else list(texts)


def _fix_surrogates(s: str) -> str:
    """Replace lone surrogates (not encodable as UTF-8) with U+FFFD, exactly as tiktoken does."""
    return s.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def retry_surrogates(call: Callable[[str], Any], s: str) -> Any:
    """``call(s)``; if ``s`` holds lone surrogates, ``call`` of it with them replaced."""
    try:
        return call(s)
    except UnicodeEncodeError:
        return call(_fix_surrogates(s))


def call_texts(call: Callable[[list], Any], texts: list, name: str = "texts") -> Any:
    """``call(texts)`` for a core batch call that takes a list of str: a non-str item raises
    :class:`ArgumentTypeError` naming it (checked only when the core refused the list, so the
    common case costs nothing), lone surrogates are replaced as in :func:`retry_surrogates`."""
    try:
        return call(texts)
    except TypeError:
        for i, t in enumerate(texts):
            text(t, f"{name}[{i}]")
        raise
    except UnicodeEncodeError:
        return call([_fix_surrogates(t) for t in texts])


def ids(v: object, name: str = "ids", error: type = SeqfastError) -> np.ndarray:
    """Token ids (NumPy array, sequence of ints or one int) as a contiguous 1-D uint32 array.

    Non-integers: :class:`ArgumentTypeError`; values outside 0..2**32-1: ``error`` (the caller's
    :class:`SeqfastError` subclass, e.g. :class:`DecodeError` when decoding); more than one
    dimension: :class:`ShapeError`.
    """
    if isinstance(v, np.ndarray) and v.dtype == np.uint32 and v.ndim == 1:
        return np.ascontiguousarray(v)
    if isinstance(v, (str, bytes)):
        raise ArgumentTypeError(f"{name} must be integers, not {type(v).__name__}")
    try:
        arr = np.asarray(v)
    except (OverflowError, ValueError) as e:
        raise error(f"{name}: {e}") from None
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim != 1:
        raise ShapeError(f"{name} must be 1-D, got shape {arr.shape}")
    if arr.size == 0:
        return np.zeros(0, dtype=np.uint32)
    if arr.dtype.kind not in "iu":
        raise ArgumentTypeError(f"{name} must be integers, got dtype {arr.dtype}")
    lo, hi = int(arr.min()), int(arr.max())
    if lo < 0 or hi > U32_MAX:
        bad = lo if lo < 0 else hi
        at = int(np.argmax(arr == bad))
        raise error(f"{name}[{at}] = {bad} is not a valid token id (0..{U32_MAX})")
    return np.ascontiguousarray(arr, dtype=np.uint32)


def csr(tokens: object, name: str = "tokens") -> tuple[np.ndarray, np.ndarray]:
    """Token sequences as flat ``(uint32 ids, int64 row offsets)``: from an ``EncodingBatch``
    (anything with ``ids`` and ``row_offsets``), an ``(ids, offsets)`` pair of arrays, a 2-D
    ``(B, L)`` array (B rows of L), a 1-D array (one sequence) or an iterable of sequences."""
    if hasattr(tokens, "row_offsets") and hasattr(tokens, "ids"):
        return ids(tokens.ids, name), np.ascontiguousarray(tokens.row_offsets, dtype=np.int64)
    if isinstance(tokens, tuple) and len(tokens) == 2 and all(isinstance(t, np.ndarray) for t in tokens):
        flat, offsets = tokens
        return ids(flat, name), np.ascontiguousarray(offsets, dtype=np.int64)
    if isinstance(tokens, np.ndarray):
        if tokens.ndim == 2:
            flat = ids(tokens.reshape(-1), name)  # (B, L): B sequences of length L
            return flat, np.arange(tokens.shape[0] + 1, dtype=np.int64) * tokens.shape[1]
        flat = ids(tokens, name)
        return flat, np.array([0, flat.size], dtype=np.int64)
    if isinstance(tokens, (str, bytes)):
        raise ArgumentTypeError(f"{name} must be token ids (arrays of integers), not text")
    if isinstance(tokens, Iterable):
        seqs = [ids(s, f"{name}[{i}]") for i, s in enumerate(tokens)]
        if not seqs:
            return np.zeros(0, dtype=np.uint32), np.zeros(1, dtype=np.int64)
        lengths = np.fromiter((s.size for s in seqs), dtype=np.int64, count=len(seqs))
        return np.concatenate(seqs), np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    raise ArgumentTypeError(f"{name} must be a uint32 array, a list of arrays or (ids, offsets), not {type(tokens).__name__}")


def _float_array_dtype(name: str, a: object) -> np.dtype:
    """``a``'s dtype, which must be float32 or float64."""
    if not isinstance(a, np.ndarray):
        raise ArgumentTypeError(f"{name} must be a NumPy array, not {type(a).__name__}")
    if a.dtype not in (np.float32, np.float64):
        raise ArgumentTypeError(f"{name} has dtype {a.dtype}; use float32 or float64")
    return a.dtype


def float_dtype(arrays: Mapping[str, object]) -> np.dtype:
    """The one float dtype (float32 or float64) that all the named arrays share."""
    items = iter(arrays.items())
    first, a = next(items)
    dtype = _float_array_dtype(first, a)
    for name, a in items:
        other = _float_array_dtype(name, a)
        if other != dtype:
            raise ArgumentTypeError(f"{name} has dtype {other}, but {first} is {dtype}; all arrays must share one dtype")
    return dtype


def float_array(a: object, name: str, dtype: np.dtype, shape: Optional[tuple] = None, like: str = "the inputs are") -> np.ndarray:
    """``a`` as a C-contiguous array of exactly ``dtype`` (and ``shape`` when given)."""
    if not isinstance(a, np.ndarray):
        raise ArgumentTypeError(f"{name} must be a NumPy array, not {type(a).__name__}")
    if a.dtype != dtype:
        raise ArgumentTypeError(f"{name} has dtype {a.dtype}, but {like} {np.dtype(dtype).name}; all arrays must share one dtype")
    if shape is not None and a.shape != tuple(shape):
        raise ShapeError(f"{name} has shape {a.shape}, expected {tuple(shape)}")
    return np.ascontiguousarray(a)


def lengths(v: object, batch: int, hi: Optional[int] = None, lo: int = 0, name: str = "lengths") -> Optional[np.ndarray]:
    """Per-row sequence lengths: a ``(batch,)`` integer array (int64), each in ``lo..hi`` when
    ``hi`` is given (else the core checks the range)."""
    if v is None:
        return None
    arr = np.asarray(v)
    if arr.dtype.kind not in "iu":
        raise ArgumentTypeError(f"{name} must be integers, not {arr.dtype}")
    if arr.shape != (batch,):
        raise ShapeError(f"{name} has shape {arr.shape}, expected ({batch},) (one per batch row)")
    if hi is not None:
        bad = np.flatnonzero((arr < lo) | (arr > hi))
        if bad.size:
            raise SeqfastError(f"{name}[{bad[0]}] = {arr[bad[0]]} is outside {lo}..{hi}")
    return np.ascontiguousarray(arr, dtype=np.int64)


def state_dict(weights: object, allowed: Optional[Sequence[str]] = None, what: str = "a dict of arrays",
               name: str = "weights") -> dict[str, Any]:
    """A weights dict: not a dict is a type error; a key outside ``allowed`` a value error."""
    if not isinstance(weights, dict):
        raise ArgumentTypeError(f"{name} must be {what}, not {type(weights).__name__}")
    if allowed is not None:
        for k in weights:
            if k not in allowed:
                raise SeqfastError(f"{name} has an unexpected key {k!r}; expected {', '.join(allowed)}")
    return weights


@overload
def weight(weights: Mapping[str, Any], key: str, shape: tuple[int, ...], dtype: np.dtype, optional: Literal[False] = False,
           like: str = "the inputs are") -> np.ndarray: ...
@overload
def weight(weights: Mapping[str, Any], key: str, shape: tuple[int, ...], dtype: np.dtype, optional: bool,
           like: str = "the inputs are") -> Optional[np.ndarray]: ...
def weight(weights: Mapping[str, Any], key: str, shape: tuple[int, ...], dtype: np.dtype, optional: bool = False,
           like: str = "the inputs are") -> Optional[np.ndarray]:
    """``weights[key]`` checked: missing is a value error (None when ``optional``), then
    :func:`float_array`'s dtype and shape rules."""
    if key not in weights:
        if optional:
            return None
        raise SeqfastError(f"weights lacks {key!r} (expected shape {tuple(shape)})")
    return float_array(weights[key], f"weights[{key!r}]", dtype, shape, like)


def decode_text(data: bytes, where: str, encoding: str = "utf-8") -> str:
    """The text of a file's bytes; bad bytes are a :class:`FormatError` naming ``where``, the
    line and the byte offset, in the core's words."""
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise FormatError(f"{where}: line {line}: not valid {encoding.upper()} (byte {e.start})") from None
