"""Attention from NumPy: scaled dot-product, multi-head (PyTorch layout), Luong and additive.

The core kernels (``rust/nn/attention.rs``, ``rust/nn/additive.rs``) read (B, H, T, d) or
(B, T, d) NumPy arrays of any strides; this module checks shapes and dtypes, names the offending
argument, broadcasts masks (``np.broadcast_to``) and keeps what the backward needs.
Multi-head and Luong attention put their projections (the core's threaded matrix products, so
``num_threads`` holds for the whole call) around the same fused kernel: the heads of a (B, T, E)
projection are NumPy views (reshape + transpose) that the kernel reads and writes in place.

Semantics
---------
* ``causal``: query i may attend key j iff j <= i (top-left aligned, like torch's ``is_causal``,
  also when Tq != Tk).
* ``lengths``: (B,) ints in 0..Tk; keys at or past ``lengths[b]`` are masked for batch row b.
* ``mask``: bool, **True = may attend** (torch ``scaled_dot_product_attention``'s boolean
  ``attn_mask``; note ``nn.MultiheadAttention``'s boolean masks mean the opposite). Shape
  (Tq, Tk), or as many dimensions as q with each leading one either full or 1.
* A query row that may attend no key gets output 0 and passes no gradient (torch gives NaN).
* ``dropout`` on the attention probabilities (after the softmax, kept values scaled by
  1/(1-p)), from a counter-based hash of (seed, batch*heads, query, key) that the backward
  regenerates; ``tests/reference/attention.py`` documents and reproduces it exactly.
* Non-finite inputs raise ``SeqfastError`` naming the array and the position.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Optional

import numpy as np
import numpy.typing as npt

from seqfast import _args, _core
from seqfast._errors import ArgumentTypeError, SeqfastError, ShapeError


def _options(dropout, seed, num_threads) -> tuple:
    return _args.real("dropout", dropout, 0.0, 1.0, hi_open=True), _args.seed(seed), _args.threads(num_threads)


def _lengths(lengths, b: int, tk: int) -> Optional[np.ndarray]:
    return _args.lengths(lengths, b, tk)  # at most the number of keys; int64 as everywhere


def _mask(mask, lead: tuple, tq: int, tk: int) -> Optional[np.ndarray]:
    """The mask broadcast to the scores' shape ``lead + (tq, tk)`` (a view), or None."""
    if mask is None:
        return None
    if not isinstance(mask, np.ndarray) or mask.dtype != np.bool_:
        raise ArgumentTypeError("mask must be a bool NumPy array (True = may attend)")
    full = lead + (tq, tk)
    if mask.ndim == 2:
        mask = mask.reshape((1,) * len(lead) + mask.shape)
    if mask.ndim != len(full) or mask.shape[-2:] != (tq, tk) or any(m not in (1, f) for m, f in zip(mask.shape[:-2], lead)):
        raise ShapeError(f"mask has shape {mask.shape}; expected (Tq, Tk) = ({tq}, {tk}) or {full} with leading dimensions full or 1")
    return np.broadcast_to(mask, full)


def _heads(x: np.ndarray, h: int) -> np.ndarray:
    """A (B, T, H d) array's heads as a (B, H, T, d) view (a copy only if its last axis is
    strided)."""
    b, t, e = x.shape
    return x.reshape(b, t, h, e // h).transpose(0, 2, 1, 3)


class AttentionCache:
    """Opaque result of :func:`attention_forward`, consumed by :func:`attention_backward`.

    It keeps references to q, k and v as given (views are not copied): do not modify them
    in place before the backward. It keeps its own copy of the output, so the returned array may
    be changed freely.

    >>> rng = np.random.default_rng(0)
    >>> q, k, v = (rng.standard_normal((2, 4, 5, 8)).astype(np.float32) for _ in range(3))  # (B, H, T, d)
    >>> out, cache = attention_forward(q, k, v)
    >>> cache
    AttentionCache(batch=2, heads=4, tq=5, tk=5, d=8, dv=8, dtype=float32)
    """

    def __init__(self, arrays: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray], dims: tuple[int, int, int, int, int, int],
                 masks: tuple[Optional[np.ndarray], Optional[np.ndarray]], opts: tuple[float, bool, float, int]):
        self._arrays, self._dims, self._masks, self._opts = arrays, dims, masks, opts
        self.num_threads: Optional[int] = None  # the backward's default: the forward's thread count

    @property
    def dtype(self) -> np.dtype:
        return self._arrays[0].dtype

    def __repr__(self) -> str:
        b, h, tq, tk, d, dv = self._dims
        return f"AttentionCache(batch={b}, heads={h}, tq={tq}, tk={tk}, d={d}, dv={dv}, dtype={self.dtype.name})"


def _masks(lengths: Optional[np.ndarray], mask: Optional[np.ndarray]) -> _core._Masks:
    """The masks dict every attention kernel reads by name: ``lengths`` (int64 or None) and
    ``mask`` as :func:`_mask` gives it."""
    return {"lengths": lengths, "mask": mask}


def _sdpa_options(scale: float, causal: bool, dropout: float, seed: int, num_threads: Optional[int]) -> _core._SdpaOptions:
    """The options dict of ``_core.sdpa_forward`` and ``sdpa_backward``."""
    return {"scale": scale, "causal": bool(causal), "dropout": dropout, "seed": seed, "num_threads": num_threads}


def _sdpa(q, k, v, lengths, mask, scale, causal, dropout, seed, num_threads, out=None):
    """(out, lse) of the fused kernel; ``out`` (a view the kernel writes) when given."""
    return _core.sdpa_forward(q, k, v, _masks(lengths, mask), _sdpa_options(scale, causal, dropout, seed, num_threads), out)


def _sdpa_cache(q, k, v, out, lse, lengths, mask, scale, causal, dropout, seed) -> AttentionCache:
    b, h, tq, d = q.shape if q.ndim == 4 else (q.shape[0], 1) + q.shape[1:]
    dims = (b, h, tq, k.shape[-2], d, v.shape[-1])
    return AttentionCache((q, k, v, out, lse), dims, (lengths, mask), (scale, bool(causal), dropout, seed))


def _sdpa_grad(cache: AttentionCache, dout, num_threads, grads=None):
    """(dq, dk, dv) shaped like q, k, v (or written into ``grads``, three views)."""
    q, k, v, out, lse = cache._arrays
    return _core.sdpa_backward(q, k, v, (out, lse, dout), _masks(*cache._masks), _sdpa_options(*cache._opts, num_threads), grads)


def _mm(a: np.ndarray, b: np.ndarray, ta: bool = False, tb: bool = False, nt=None) -> np.ndarray:
    """op(a) @ op(b) for 2-D arrays (op transposes when asked) on seqfast's threads: NumPy's BLAS
    would ignore ``num_threads`` (and on a busy machine its idle spinning threads cost more than
    the product)."""
    return _core.nn_matmul(np.ascontiguousarray(a), np.ascontiguousarray(b), ta, tb, nt)


def _scale(scale, d: int) -> float:
    if scale is None:
        return 1.0 / math.sqrt(d)
    return _args.real("scale", scale, finite=True)


def attention_forward(q: np.ndarray, k: np.ndarray, v: np.ndarray, *, scale: Optional[float] = None, causal: bool = False,
                      lengths: Optional[npt.ArrayLike] = None, mask: Optional[np.ndarray] = None, dropout: float = 0.0, seed: int = 0,
                      requires_grad: bool = True, num_threads: Optional[int] = None) -> tuple[np.ndarray, Optional[AttentionCache]]:
    """Scaled dot-product attention ``softmax(scale q k^T + mask) v``, fused and tiled.

    ``q`` (B, H, Tq, d) or (B, Tq, d); ``k`` (B, H, Tk, d); ``v`` (B, H, Tk, dv) (3-D likewise).
    ``scale`` defaults to 1/sqrt(d). Masks, dropout and fully masked rows: see the module
    docstring. Returns ``(out, cache)``, ``out`` shaped like q with dv features; ``cache`` is None
    when ``requires_grad=False``. Extra memory is O(B H Tq): the probabilities are never stored.

    >>> rng = np.random.default_rng(0)
    >>> q, k, v = (rng.standard_normal((2, 4, 5, 8)).astype(np.float32) for _ in range(3))  # (B, H, T, d)
    >>> out, cache = attention_forward(q, k, v, causal=True)
    >>> out.shape, bool(np.allclose(out[:, :, 0], v[:, :, 0], atol=1e-6))  # query 0 sees key 0 only
    ((2, 4, 5, 8), True)
    """
    _args.float_dtype({"q": q, "k": k, "v": v})
    if q.ndim not in (3, 4) or k.ndim != q.ndim or v.ndim != q.ndim:
        raise ShapeError(f"q, k, v must all be (B, H, T, d) or all (B, T, d); got shapes {q.shape}, {k.shape}, {v.shape}")
    lead = q.shape[:-2]
    if k.shape[:-2] != lead or v.shape[:-2] != lead:
        raise ShapeError(f"q, k, v must share their leading (batch, head) dimensions; got {q.shape}, {k.shape}, {v.shape}")
    if k.shape[-2] != v.shape[-2]:
        raise ShapeError(f"k has {k.shape[-2]} keys but v has {v.shape[-2]} values")
    if q.shape[-1] != k.shape[-1]:
        raise ShapeError(f"the feature size d of q ({q.shape[-1]}) and k ({k.shape[-1]}) differ")
    if q.shape[-1] == 0:
        raise ShapeError("q and k have feature size 0")
    b, tq, tk, d = lead[0], q.shape[-2], k.shape[-2], q.shape[-1]
    dropout, seed, nt = _options(dropout, seed, num_threads)
    sc = _scale(scale, d)
    lens = _lengths(lengths, b, tk)
    mk = _mask(mask, lead, tq, tk)
    out, lse = _sdpa(q, k, v, lens, mk, sc, causal, dropout, seed, nt)
    if not requires_grad:
        return out, None
    # The backward needs the output (D = rowsum(dO * O)): keep a copy, since callers often
    # update the returned array in place (out += residual).
    cache = _sdpa_cache(q, k, v, out.copy(), lse, lens, mk, sc, causal, dropout, seed)
    cache.num_threads = nt  # the backward's default
    return out, cache


def attention_backward(cache: AttentionCache, dout: np.ndarray, *, num_threads: Optional[int] = None
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients ``(dq, dk, dv)`` of :func:`attention_forward` given ``dout`` (shaped like out).

    The probabilities are recomputed block by block from the saved row log-sum-exp, and the
    dropout mask is regenerated from the seed.

    >>> rng = np.random.default_rng(0)
    >>> q, k, v = (rng.standard_normal((2, 4, 5, 8)).astype(np.float32) for _ in range(3))  # (B, H, T, d)
    >>> out, cache = attention_forward(q, k, v)
    >>> dq, dk, dv = attention_backward(cache, np.ones_like(out))
    >>> dq.shape, dv.shape
    ((2, 4, 5, 8), (2, 4, 5, 8))
    """
    if not isinstance(cache, AttentionCache):
        raise ArgumentTypeError(f"cache must come from attention_forward(requires_grad=True), not {type(cache).__name__}")
    _args.float_dtype({"dout": dout})
    want = cache._arrays[3].shape
    if dout.shape != want:
        raise ShapeError(f"dout has shape {dout.shape}, expected {want} (the output's shape)")
    if dout.dtype != cache.dtype:
        raise ArgumentTypeError(f"dout has dtype {dout.dtype}, but the forward ran in {cache.dtype}")
    return _sdpa_grad(cache, dout, _args.backward_threads(num_threads, cache))


_MHA_KEYS = ("in_proj_weight", "in_proj_bias", "out_proj.weight", "out_proj.bias")


def _mha_weights(weights, e: int, dtype) -> dict[str, Optional[np.ndarray]]:
    """The weights dict checked, every key present (None for an absent bias: the core reads all
    four by name); kdim/vdim != embed_dim is not supported."""
    _args.state_dict(weights, _MHA_KEYS, "a dict in nn.MultiheadAttention state_dict naming")
    shapes = {"in_proj_weight": (3 * e, e), "in_proj_bias": (3 * e,), "out_proj.weight": (e, e), "out_proj.bias": (e,)}
    return {k: _args.weight(weights, k, shape, dtype, optional=k.endswith("bias")) for k, shape in shapes.items()}


class MHACache:
    """Opaque result of :func:`mha_forward`, consumed by :func:`mha_backward`.

    >>> x = np.zeros((1, 3, 4), np.float32)
    >>> w = {"in_proj_weight": np.eye(12, 4, dtype=np.float32), "out_proj.weight": np.eye(4, dtype=np.float32)}
    >>> mha_forward(x, x, x, w, 2)[1]
    MHACache(shape=(1, 3, 3, 4), batch_first=True)
    """

    def __init__(self, core: _core.MhaCache, x: tuple[np.ndarray, np.ndarray, np.ndarray], w: dict[str, Optional[np.ndarray]],
                 masks: _core._Masks, opts: _core._SdpaOptions, shape: tuple[int, int, int, int], batch_first: bool):
        self._core, self._x, self._w, self._masks, self._opts = core, x, w, masks, opts
        self._shape, self._batch_first = shape, batch_first
        self.num_threads: Optional[int] = None  # the backward's default: the forward's thread count

    def __repr__(self) -> str:
        return f"MHACache(shape={tuple(self._shape)}, batch_first={self._batch_first})"


def _batch_major(x: np.ndarray, batch_first: bool) -> np.ndarray:
    return np.ascontiguousarray(x if batch_first else x.transpose(1, 0, 2))


def mha_forward(query: np.ndarray, key: np.ndarray, value: np.ndarray, weights: Mapping[str, np.ndarray], num_heads: int, *,
                causal: bool = False, lengths: Optional[npt.ArrayLike] = None, mask: Optional[np.ndarray] = None, dropout: float = 0.0,
                seed: int = 0, batch_first: bool = True, requires_grad: bool = True, num_threads: Optional[int] = None
                ) -> tuple[np.ndarray, Optional[MHACache]]:
    """Multi-head attention with ``torch.nn.MultiheadAttention``'s weights and semantics.

    ``query`` (B, Tq, E), ``key`` / ``value`` (B, Tk, E) ((T, B, E) with ``batch_first=False``);
    ``weights``: ``in_proj_weight`` (3E, E), ``out_proj.weight`` (E, E) and optionally
    ``in_proj_bias`` (3E,), ``out_proj.bias`` (E,). Heads of E / num_heads features, scale
    1/sqrt(E / num_heads), dropout on the attention probabilities. ``mask`` (True = may attend,
    the opposite of torch MHA's boolean masks) is (Tq, Tk), (B|1, Tq, Tk) or (B|1, H|1, Tq, Tk); ``lengths``
    (B,) replaces ``key_padding_mask``. Self-attention: pass the same array three times and add
    the three input gradients. Returns ``(out, cache)``; the attention weights are not formed.

    >>> rng = np.random.default_rng(0)
    >>> x = rng.standard_normal((2, 3, 4)).astype(np.float32)  # (B, T, E)
    >>> w = {"in_proj_weight": rng.standard_normal((12, 4)).astype(np.float32), "out_proj.weight": np.eye(4, dtype=np.float32)}
    >>> out, cache = mha_forward(x, x, x, w, num_heads=2, causal=True)
    >>> out.shape
    (2, 3, 4)
    """
    dtype = _args.float_dtype({"query": query, "key": key, "value": value})
    for name, x in (("query", query), ("key", key), ("value", value)):
        if x.ndim != 3:
            raise ShapeError(f"{name} has shape {x.shape}; expected {'(B, T, E)' if batch_first else '(T, B, E)'}")
    q, k, v = (_batch_major(x, batch_first) for x in (query, key, value))
    b, tq, e = q.shape
    tk = k.shape[1]
    if k.shape != (b, tk, e) or v.shape != (b, tk, e):
        raise ShapeError(f"key and value must be {(b, tk, e) if batch_first else (tk, b, e)} to match query; got {key.shape}, {value.shape}")
    if _args.integer("num_heads", num_heads, 1) and e % num_heads:
        raise SeqfastError(f"num_heads={num_heads!r} must divide embed_dim {e}")
    w = _mha_weights(weights, e, dtype)
    dropout, seed, nt = _options(dropout, seed, num_threads)
    h = int(num_heads)
    if isinstance(mask, np.ndarray) and mask.ndim == 3:  # (B|1, Tq, Tk): the same for every head
        mask = mask[:, None]
    masks = _masks(_lengths(lengths, b, tk), _mask(mask, (b, h), tq, tk))
    opts = _sdpa_options(1.0 / math.sqrt(e // h), causal, dropout, seed, nt)
    # The projections, the fused kernel on their heads (read in place) and the output
    # projection all run in the core (rust/nn/mha.rs).
    out, core = _core.mha_forward(q, k, v, w, h, masks, opts, requires_grad)
    if not batch_first:
        out = np.ascontiguousarray(out.transpose(1, 0, 2))
    if core is None:
        return out, None
    cache = MHACache(core, (q, k, v), w, masks, opts, (b, tq, tk, e), batch_first)
    cache.num_threads = nt  # the backward's default
    return out, cache


def mha_backward(cache: MHACache, dout: np.ndarray, *, num_threads: Optional[int] = None
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """Gradients ``(dquery, dkey, dvalue, dweights)`` of :func:`mha_forward` given ``dout``
    (shaped like its output); ``dweights`` has the keys of the weights dict.

    >>> rng = np.random.default_rng(0)
    >>> x = rng.standard_normal((2, 3, 4))  # float64 works too
    >>> w = {"in_proj_weight": rng.standard_normal((12, 4)), "out_proj.weight": np.eye(4)}
    >>> out, cache = mha_forward(x, x, x, w, num_heads=2)
    >>> dq, dk, dv, dw = mha_backward(cache, np.ones_like(out))
    >>> (dq + dk + dv).shape, sorted(dw)  # self-attention: add the three input gradients
    ((2, 3, 4), ['in_proj_weight', 'out_proj.weight'])
    """
    if not isinstance(cache, MHACache):
        raise ArgumentTypeError(f"cache must come from mha_forward(requires_grad=True), not {type(cache).__name__}")
    b, tq, tk, e = cache._shape
    _args.float_dtype({"dout": dout})
    want = (b, tq, e) if cache._batch_first else (tq, b, e)
    if dout.shape != want:
        raise ShapeError(f"dout has shape {dout.shape}, expected {want} (the output's shape)")
    if dout.dtype != cache._x[0].dtype:
        raise ArgumentTypeError(f"dout has dtype {dout.dtype}, but the forward ran in {cache._x[0].dtype}")
    nt = _args.backward_threads(num_threads, cache)
    dy = _batch_major(dout, cache._batch_first)
    opts = cache._opts.copy()
    opts["num_threads"] = nt
    dq, dk, dv, dw = _core.mha_backward(cache._core, *cache._x, cache._w, cache._masks, opts, dy)
    if not cache._batch_first:
        dq, dk, dv = (np.ascontiguousarray(d.transpose(1, 0, 2)) for d in (dq, dk, dv))
    return dq, dk, dv, {k: dw[k] for k in _MHA_KEYS if k in dw}
