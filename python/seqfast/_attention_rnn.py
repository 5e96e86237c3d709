"""Attention for recurrent encoder-decoders: additive (Bahdanau) and Luong (dot, general).

Shapes: ``query`` (B, Tq, dq), or (B, dq) for one decoder step (the context is then (B, dv));
``keys`` (B, Tk, dk); ``values`` (B, Tk, dv), by default the keys themselves (then the value
gradient is folded into ``dkeys`` and ``dvalues`` is None). ``lengths`` (B,) and a bool
``mask`` (True = may attend; (B|1, Tq, Tk) or (Tq, Tk), for a 2-D query (B|1, Tk) or (Tk,))
as in :func:`seqfast.nn.attention_forward`; a query that may attend no key gets a zero context
and passes no gradient.

* Additive: ``score = v . tanh(W_q q + W_k k + bias)`` with weights ``w_q`` (da, dq), ``w_k``
  (da, dk), ``v`` (da,) and optional ``bias`` (da,). The core (``rust/nn/additive.rs``) never
  forms the (B, Tq, Tk, da) tensor: the backward recomputes each tanh.
* Luong: ``score = scale q . k`` (``kind="dot"``) or ``scale q^T W k`` (``kind="general"``,
  weights ``{"weight": W (dq, dk)}``), run by the fused scaled dot-product kernel on the
  projected keys ``k W^T``. ``scale`` defaults to 1 (Luong et al. do not scale).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Optional

import numpy as np
import numpy.typing as npt

from seqfast import _args, _core
from seqfast._attention import _lengths, _mask, _masks, _mm, _scale, _sdpa, _sdpa_cache, _sdpa_grad
from seqfast._errors import ArgumentTypeError, SeqfastError, ShapeError


def _inputs(query, keys, values):
    arrays = {"query": query, "keys": keys}
    if values is not None:
        arrays["values"] = values
    dtype = _args.float_dtype(arrays)
    if query.ndim not in (2, 3):
        raise ShapeError(f"query has shape {query.shape}; expected (B, Tq, dq) or (B, dq)")
    step = query.ndim == 2
    q = query[:, None, :] if step else query
    if keys.ndim != 3 or keys.shape[0] != q.shape[0]:
        raise ShapeError(f"keys has shape {keys.shape}; expected (B, Tk, dk) with B = {q.shape[0]}")
    v = keys if values is None else values
    if v.ndim != 3 or v.shape[:2] != keys.shape[:2]:
        raise ShapeError(f"values has shape {v.shape}; expected (B, Tk, dv) with (B, Tk) = {keys.shape[:2]}")
    return dtype, step, np.ascontiguousarray(q), np.ascontiguousarray(keys), np.ascontiguousarray(v)


def _rnn_mask(mask, step: bool, b: int, tq: int, tk: int):
    if step and isinstance(mask, np.ndarray) and mask.ndim in (1, 2):
        mask = mask[..., None, :]
        if mask.ndim == 2:  # (Tk,) -> (1, Tk)
            mask = mask[None]
    return _mask(mask, (b,), tq, tk)


class RNNAttentionCache:
    """Opaque result of the additive / Luong forward, consumed by the matching backward.

    >>> rng = np.random.default_rng(0)
    >>> query, keys = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 6, 5))  # (B, Tq, dq), (B, Tk, dk)
    >>> w = {"w_q": rng.standard_normal((7, 4)), "w_k": rng.standard_normal((7, 5)), "v": rng.standard_normal(7)}
    >>> additive_attention_forward(query, keys, w)[1]
    RNNAttentionCache(kind='additive', query=(2, 3, 4), dtype=float64)
    """

    def __init__(self, kind: tuple[str], inputs: tuple[np.ndarray, np.ndarray, np.ndarray], step: bool, has_values: bool, extra: tuple):
        self._kind, self._inputs, self._step, self._has_values, self._extra = kind, inputs, step, has_values, extra
        self.num_threads: Optional[int] = None  # the backward's default: the forward's thread count

    def __repr__(self) -> str:
        q = self._inputs[0]
        return f"RNNAttentionCache(kind={self._kind[0]!r}, query={tuple(q.shape)}, dtype={q.dtype.name})"


def _check_dctx(cache, dcontext, kind):
    if not isinstance(cache, RNNAttentionCache) or cache._kind[0] != kind:
        raise ArgumentTypeError(f"cache must come from {kind}_attention_forward(requires_grad=True)")
    q, _, v = cache._inputs
    want = (q.shape[0], v.shape[2]) if cache._step else (q.shape[0], q.shape[1], v.shape[2])
    _args.float_dtype({"dcontext": dcontext})
    if dcontext.shape != want:
        raise ShapeError(f"dcontext has shape {dcontext.shape}, expected {want} (the context's shape)")
    if dcontext.dtype != q.dtype:
        raise ArgumentTypeError(f"dcontext has dtype {dcontext.dtype}, but the forward ran in {q.dtype}")
    return np.ascontiguousarray(dcontext)


def _finish(cache, dq, dk, dv):
    if cache._step:
        dq = dq[:, 0, :]
    if not cache._has_values:
        return dq, dk + dv, None
    return dq, dk, dv


def additive_attention_forward(query: np.ndarray, keys: np.ndarray, weights: Mapping[str, np.ndarray], values: Optional[np.ndarray] = None,
                               *, lengths: Optional[npt.ArrayLike] = None, mask: Optional[np.ndarray] = None, requires_grad: bool = True,
                               num_threads: Optional[int] = None) -> tuple[np.ndarray, Optional[RNNAttentionCache]]:
    """Additive (Bahdanau) attention; returns ``(context, cache)`` (see the module docstring).

    >>> rng = np.random.default_rng(0)
    >>> query, keys = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 6, 5))  # (B, Tq, dq), (B, Tk, dk)
    >>> w = {"w_q": rng.standard_normal((7, 4)), "w_k": rng.standard_normal((7, 5)), "v": rng.standard_normal(7)}
    >>> context, cache = additive_attention_forward(query, keys, w, lengths=[6, 2])
    >>> context.shape
    (2, 3, 5)
    """
    dtype, step, q, k, v = _inputs(query, keys, values)
    _args.state_dict(weights, ("w_q", "w_k", "v", "bias"))
    b, tq, dq = q.shape
    tk, dk = k.shape[1], k.shape[2]
    if "v" not in weights:
        raise SeqfastError("weights lacks 'v' (expected shape (da,))")
    if not isinstance(weights["v"], np.ndarray):
        raise ArgumentTypeError(f"weights['v'] must be a NumPy array, not {type(weights['v']).__name__}")
    if weights["v"].ndim != 1 or weights["v"].shape[0] == 0:
        raise ShapeError("weights['v'] must be a non-empty 1-D array (da,)")
    da = weights["v"].shape[0]
    w = [_args.weight(weights, "w_q", (da, dq), dtype), _args.weight(weights, "w_k", (da, dk), dtype), _args.weight(weights, "v", (da,), dtype)]
    bias = _args.weight(weights, "bias", (da,), dtype, optional=True)
    lens = _lengths(lengths, b, tk)
    m = _rnn_mask(mask, step, b, tq, tk)
    nt = _args.threads(num_threads)
    arrays = [q, k, v] + w  # contiguous; the core reads the sizes from their shapes
    ctx, pq, pk, attn = _core.additive_forward(arrays, bias, _masks(lens, m), num_threads=nt)  # ctx (B, Tq, dv)
    ctx = ctx[:, 0] if step else ctx
    if not requires_grad:
        return ctx, None
    extra = (arrays, bias, [pq, pk, attn], lens, m)
    cache = RNNAttentionCache(("additive",), (q, k, v), step, values is not None, extra)
    cache.num_threads = nt  # the backward's default
    return ctx, cache


def additive_attention_backward(cache: RNNAttentionCache, dcontext: np.ndarray, *, num_threads: Optional[int] = None
                                ) -> tuple[np.ndarray, np.ndarray, Optional[np.ndarray], dict[str, np.ndarray]]:
    """Gradients ``(dquery, dkeys, dvalues, dweights)`` of :func:`additive_attention_forward`;
    ``dweights`` has the keys of the weights dict, ``dvalues`` is None without ``values``.

    >>> rng = np.random.default_rng(0)
    >>> query, keys = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 6, 5))  # (B, Tq, dq), (B, Tk, dk)
    >>> w = {"w_q": rng.standard_normal((7, 4)), "w_k": rng.standard_normal((7, 5)), "v": rng.standard_normal(7)}
    >>> context, cache = additive_attention_forward(query, keys, w)
    >>> dquery, dkeys, dvalues, dw = additive_attention_backward(cache, np.ones_like(context))
    >>> dquery.shape, dkeys.shape, dvalues, sorted(dw)
    ((2, 3, 4), (2, 6, 5), None, ['v', 'w_k', 'w_q'])
    """
    dc = _check_dctx(cache, dcontext, "additive")
    arrays, bias, saved, lens, m = cache._extra
    q = cache._inputs[0]
    # Shaped like the inputs and weights.
    g = _core.additive_backward(arrays, bias, saved + [dc.reshape(q.shape[0], q.shape[1], -1)], _masks(lens, m),
                                num_threads=_args.backward_threads(num_threads, cache))
    dq, dk, dv = g[0], g[1], g[2]
    dweights = {"w_q": g[3], "w_k": g[4], "v": g[5]}
    if bias is not None:
        dweights["bias"] = g[6]
    return _finish(cache, dq, dk, dv) + (dweights,)


def luong_attention_forward(query: np.ndarray, keys: np.ndarray, values: Optional[np.ndarray] = None,
                            weights: Optional[Mapping[str, np.ndarray]] = None, *, kind: _args.LuongKind = "dot", scale: float = 1.0,
                            lengths: Optional[npt.ArrayLike] = None, mask: Optional[np.ndarray] = None, requires_grad: bool = True,
                            num_threads: Optional[int] = None) -> tuple[np.ndarray, Optional[RNNAttentionCache]]:
    """Luong attention (``kind="dot"`` or ``"general"``); returns ``(context, cache)``.

    >>> rng = np.random.default_rng(0)
    >>> query, keys = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 6, 5))  # (B, Tq, dq), (B, Tk, dk)
    >>> context, cache = luong_attention_forward(query, keys, weights={"weight": rng.standard_normal((4, 5))}, kind="general")
    >>> context.shape
    (2, 3, 5)
    >>> luong_attention_forward(query[:, 0], keys[..., :4], kind="dot")[0].shape  # one decoder step
    (2, 4)
    """
    dtype, step, q, k, v = _inputs(query, keys, values)
    b, tq, dq = q.shape
    tk, dk, dv = k.shape[1], k.shape[2], v.shape[2]
    if kind == "dot":
        if weights:
            raise SeqfastError("kind='dot' takes no weights")
        if dq != dk:
            raise ShapeError(f"kind='dot' needs the feature sizes of query ({dq}) and keys ({dk}) to match")
        wmat, kp = None, k
    elif kind == "general":
        wmat = _args.weight(_args.state_dict(weights, ("weight",)), "weight", (dq, dk), dtype)
        kp = _mm(k.reshape(-1, dk), wmat, tb=True, nt=_args.threads(num_threads)).reshape(b, tk, dq)
    else:
        _args.choice("kind", kind, ("dot", "general"))
    if dq == 0:
        raise ShapeError("query has feature size 0")
    sc = _scale(scale, dq)
    lens = _lengths(lengths, b, tk)
    mk = _rnn_mask(mask, step, b, tq, tk)
    nt = _args.threads(num_threads)
    ctx, lse = _sdpa(q, kp, v, lens, mk, sc, False, 0.0, 0, nt)  # (B, Tq, dv): one head
    out = ctx.reshape(b, dv) if step else ctx
    if not requires_grad:
        return out, None
    sdpa = _sdpa_cache(q, kp, v, ctx.copy(), lse, lens, mk, sc, False, 0.0, 0)
    cache = RNNAttentionCache(("luong",), (q, k, v), step, values is not None, (sdpa, wmat))
    cache.num_threads = nt  # the backward's default
    return out, cache


def luong_attention_backward(cache: RNNAttentionCache, dcontext: np.ndarray, *, num_threads: Optional[int] = None
                             ) -> tuple[np.ndarray, np.ndarray, Optional[np.ndarray], dict[str, np.ndarray]]:
    """Gradients ``(dquery, dkeys, dvalues, dweights)`` of :func:`luong_attention_forward`;
    ``dweights`` is ``{"weight": ...}`` for ``kind="general"`` and ``{}`` for ``"dot"``.

    >>> rng = np.random.default_rng(0)
    >>> query, keys = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 6, 5))  # (B, Tq, dq), (B, Tk, dk)
    >>> context, cache = luong_attention_forward(query, keys[..., :4])
    >>> dquery, dkeys, dvalues, dw = luong_attention_backward(cache, np.ones_like(context))
    >>> dquery.shape, dkeys.shape, dw
    ((2, 3, 4), (2, 6, 4), {})
    """
    dc = _check_dctx(cache, dcontext, "luong")
    sdpa, wmat = cache._extra
    q, k, v = cache._inputs
    nt = _args.backward_threads(num_threads, cache)
    dq, dkp, dv = _sdpa_grad(sdpa, dc.reshape(sdpa._arrays[3].shape), nt)
    dkp = dkp.reshape(-1, q.shape[2])
    if wmat is None:
        return _finish(cache, dq, dkp.reshape(k.shape), dv) + ({},)
    dk = _mm(dkp, wmat, nt=nt).reshape(k.shape)
    return _finish(cache, dq, dk, dv) + ({"weight": _mm(dkp, k.reshape(-1, k.shape[2]), ta=True, nt=nt)},)
