"""Attention with seqfast's fused kernels: ``scaled_dot_product_attention``, ``MultiheadAttention``
(a ``torch.nn.MultiheadAttention`` subclass) and two modules torch lacks, ``AdditiveAttention``
(Bahdanau) and ``LuongAttention`` (dot / general).

Masks follow torch where torch has the API: in ``scaled_dot_product_attention`` a boolean
``attn_mask`` means True = may attend; in ``MultiheadAttention`` boolean ``key_padding_mask`` and
``attn_mask`` mean True = may NOT attend. Float masks are added to the scores; the kernels take
boolean masks only, so a float mask must hold only 0 and -inf (what torch itself builds from a
boolean mask); any other value raises ``SeqfastError``. The additive and Luong modules use
seqfast's convention (bool ``mask``, True = may attend, and/or ``lengths``).

A query that may attend no key gets output 0 and passes no gradient (torch gives NaN). Dropout
on the attention probabilities uses seqfast's counter-based mask, seeded from torch's generator
(``seed=`` fixes it): it repeats under ``torch.manual_seed`` but differs from torch's mask.
"""

from __future__ import annotations

import math
import weakref

import numpy as np
import torch
import torch.nn.functional as F

from seqfast import _args
from seqfast import _attention as A
from seqfast import _attention_rnn as R
from seqfast._errors import ArgumentTypeError, SeqfastError, ShapeError
from seqfast.torch._autograd import (
    apply,
    check_tensor,
    draw_seed,
    from_np,
    needs_graph,
    np_view,
    once_differentiable,
    stash,
    threads,
    unstash,
)


def _bool_mask(mask, name: str, true_means_allowed: bool):
    """A boolean tensor, True = may attend, from a torch bool or float (0 / -inf) mask."""
    if mask is None:
        return None
    if not isinstance(mask, torch.Tensor):
        raise ArgumentTypeError(f"{name} must be a torch.Tensor, not {type(mask).__name__}")
    if mask.device.type != "cpu":
        raise ArgumentTypeError(f"{name} is on device '{mask.device}'; seqfast.torch runs on the CPU only")
    if mask.dtype == torch.bool:
        return mask if true_means_allowed else ~mask
    if not mask.is_floating_point():
        raise ArgumentTypeError(f"{name} has dtype {mask.dtype}; use a bool or float mask")
    allowed = mask == 0
    if not bool((allowed | torch.isneginf(mask)).all()):
        raise SeqfastError(f"{name} is a float mask with values other than 0 and -inf; seqfast's kernels take boolean masks only "
                           "(an additive bias such as ALiBi is not supported)")
    return allowed


def _np_mask(m):
    return None if m is None else m.detach().numpy()


# ---------------------------------------------------------------------------------------- SDPA
class _SDPAFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, spec, q, k, v):
        scale, causal, mask, dropout, seed, nt = spec
        out, cache = A.attention_forward(np_view(q), np_view(k), np_view(v), scale=scale, causal=causal, mask=mask, dropout=dropout,
                                         seed=seed, requires_grad=True, num_threads=nt)
        stash(ctx, cache, [q, k, v])
        return from_np(out)

    @staticmethod
    @once_differentiable("seqfast.torch.scaled_dot_product_attention")
    def backward(ctx, dout):
        cache = unstash(ctx, "seqfast.torch.scaled_dot_product_attention")
        need = ctx.needs_input_grad
        if dout is None:
            return (None,) * 4
        g = A.attention_backward(cache, dout.detach().numpy())
        return (None,) + tuple(from_np(x) if want else None for x, want in zip(g, need[1:]))


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None, enable_gqa=False, *,
                                 seed=None, num_threads=None):
    """``torch.nn.functional.scaled_dot_product_attention`` on seqfast's fused kernel.

    ``query`` (..., L, E), ``key`` (..., S, E), ``value`` (..., S, Ev) with the same leading
    dimensions; ``attn_mask`` bool (True = may attend) or float (0 / -inf only), broadcastable
    to (..., L, S); ``is_causal`` masks key j > query i (top-left aligned, like torch).
    Extra keywords: ``seed`` for the dropout mask (default: drawn from torch's generator) and
    ``num_threads`` (default ``torch.get_num_threads()``). ``enable_gqa`` is not supported.

    >>> import torch
    >>> q, k, v = (torch.randn(2, 4, 5, 8, requires_grad=True) for _ in range(3))
    >>> out = scaled_dot_product_attention(q, k, v, is_causal=True)
    >>> torch.allclose(out, torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True), atol=1e-5)
    True
    >>> out.sum().backward()
    """
    q = check_tensor(query, "query")
    k = check_tensor(key, "key", q.dtype, "query")
    v = check_tensor(value, "value", q.dtype, "query")
    if enable_gqa:
        raise SeqfastError("enable_gqa=True (grouped-query attention) is not supported by seqfast.torch")
    if is_causal and attn_mask is not None:
        raise SeqfastError("pass either attn_mask or is_causal=True, not both (as torch requires)")
    if q.dim() < 2 or k.dim() != q.dim() or v.dim() != q.dim():
        raise ShapeError(f"query, key, value must have the same number (>= 2) of dimensions; got {tuple(q.shape)}, {tuple(k.shape)}, {tuple(v.shape)}")
    lead, (L, S) = tuple(q.shape[:-2]), (q.shape[-2], k.shape[-2])
    if tuple(k.shape[:-2]) != lead or tuple(v.shape[:-2]) != lead:
        raise ShapeError(f"query, key and value must share their leading dimensions; got {tuple(q.shape)}, {tuple(k.shape)}, {tuple(v.shape)}")
    mask = _bool_mask(attn_mask, "attn_mask", True)
    if mask is not None:
        if mask.dim() > q.dim():
            raise ShapeError(f"attn_mask has shape {tuple(mask.shape)}, more dimensions than query {tuple(q.shape)}")
        mask = mask.reshape((1,) * (q.dim() - mask.dim()) + tuple(mask.shape))
        try:
            torch.broadcast_shapes(tuple(mask.shape), lead + (L, S))
        except RuntimeError:
            raise ShapeError(f"attn_mask has shape {tuple(attn_mask.shape)}, which does not broadcast to {lead + (L, S)}") from None
        mask = mask.expand(tuple(mask.shape[:-2]) + (L, S))
    # The kernel takes (B, H, T, d) or (B, T, d): other ranks are reshaped to (N, T, d).
    shape_out = lead + (L, v.shape[-1])
    if q.dim() not in (3, 4):
        n = math.prod(lead)
        q, k, v = q.reshape(n, L, -1), k.reshape(n, S, -1), v.reshape(n, S, -1)
        if mask is not None:
            mask = mask.expand(lead + (L, S)).reshape(n, L, S)
    if not 0.0 <= float(dropout_p) < 1.0:
        raise SeqfastError(f"dropout_p={dropout_p!r} must be in [0, 1)")
    dropout = float(dropout_p)
    seed = (draw_seed() if dropout > 0 else 0) if seed is None else seed
    spec = (scale, bool(is_causal), _np_mask(mask), dropout, seed, threads(num_threads))
    if needs_graph(q, k, v):
        out = apply(_SDPAFn, spec, q, k, v)
    else:
        out, _ = A.attention_forward(np_view(q), np_view(k), np_view(v), scale=scale, causal=bool(is_causal), mask=spec[2], dropout=dropout,
                                     seed=seed, requires_grad=False, num_threads=spec[5])
        out = from_np(out)
    return out.reshape(shape_out)


# ----------------------------------------------------------------------------------------- MHA
def _heads(t, bf: bool, col: int, e: int, h: int) -> np.ndarray:
    """A (B, T, C) or (T, B, C) tensor's columns col..col+e as (B, H, T, d) heads: a NumPy view of
    the tensor's memory, which the kernel reads in place (a tensor whose last axis is strided is
    made contiguous first)."""
    if t.stride(-1) != 1:
        t = t.contiguous()
    a = np_view(t)[:, :, col:col + e]
    return A._heads(a if bf else a.transpose(1, 0, 2), h)


def _new_heads(b: int, n: int, e: int, h: int, bf: bool, dtype) -> tuple[np.ndarray, np.ndarray]:
    """A new (B, n, E) array ((n, B, E) without batch_first) and its (B, H, n, d) heads, a view
    for the kernel to write."""
    if bf:
        a = np.empty((b, n, h, e // h), dtype)
        return a.reshape(b, n, e), a.transpose(0, 2, 1, 3)
    a = np.empty((n, b, h, e // h), dtype)
    return a.reshape(n, b, e), a.transpose(1, 2, 0, 3)


class _HeadsAttnFn(torch.autograd.Function):
    """(spec, proj) with proj = [q | k | v] projected (self-attention, one packed product), or
    (spec, q, k, v) projected separately -> the heads' attention, shaped like the projected q.
    Layout (B, T, E) with batch_first, else (T, B, E); the output projection is the caller's."""

    @staticmethod
    def forward(ctx, spec, *srcs):
        res, cache = _heads_forward(spec, srcs)
        stash(ctx, cache, list(srcs))
        ctx.spec, ctx.out = spec, (weakref.ref(res), res._version)
        return res

    @staticmethod
    @once_differentiable("seqfast.torch.MultiheadAttention")
    def backward(ctx, dout):
        cache = unstash(ctx, "seqfast.torch.MultiheadAttention")
        need = ctx.needs_input_grad
        out, version = ctx.out[0](), ctx.out[1]
        if out is not None and out._version != version:
            raise RuntimeError("seqfast.torch.MultiheadAttention: the attention output was modified in place before the backward")
        if dout is None:
            return (None,) * len(need)
        heads, causal, lengths, mask, dropout, seed, nt, bf, e = ctx.spec
        b, _, L, S, _, _ = cache._dims
        grads = [_new_heads(b, n, e, heads, bf, cache.dtype) for n in (L, S, S)]
        A._sdpa_grad(cache, _heads(dout, bf, 0, e, heads), nt, tuple(g[1] for g in grads))
        dq, dk, dv = (from_np(g[0]) for g in grads)
        if len(need) == 2:
            return None, torch.cat([dq, dk, dv], -1) if need[1] else None
        return (None,) + tuple(x if want else None for x, want in zip((dq, dk, dv), need[1:]))


def _heads_forward(spec, srcs):
    heads, causal, lengths, mask, dropout, seed, nt, bf, e = spec
    if len(srcs) == 1:
        srcs, cols = srcs * 3, (0, e, 2 * e)
    else:
        cols = (0, 0, 0)
    qh, kh, vh = (_heads(t, bf, c, e, heads) for t, c in zip(srcs, cols))
    b, _, L, d = qh.shape
    S = kh.shape[2]
    lens, mk = A._lengths(lengths, b, S), A._mask(mask, (b, heads), L, S)
    sc = 1.0 / math.sqrt(d)
    res, out = _new_heads(b, L, e, heads, bf, qh.dtype)
    _, lse = A._sdpa(qh, kh, vh, lens, mk, sc, causal, dropout, seed, nt, out=out)
    return from_np(res), A._sdpa_cache(qh, kh, vh, out, lse, lens, mk, sc, causal, dropout, seed)


class MultiheadAttention(torch.nn.MultiheadAttention):
    """``torch.nn.MultiheadAttention`` (same arguments, parameters and state_dict) computed by
    seqfast's fused attention kernel; the attention weights are never formed, so ``forward``
    needs ``need_weights=False`` (what ``torch.nn.TransformerEncoderLayer`` passes) and returns
    ``(output, None)``. The projections are torch's (``F.linear``), the attention between them
    seqfast's fused kernel. Not supported: ``add_bias_kv``, ``add_zero_attn``. Extra argument:
    ``num_threads``.

    >>> import torch
    >>> m = MultiheadAttention(8, 2, batch_first=True)
    >>> x = torch.randn(2, 5, 8)
    >>> out, weights = m(x, x, x, need_weights=False)
    >>> out.shape, weights
    (torch.Size([2, 5, 8]), None)
    """

    def __init__(self, embed_dim, num_heads, dropout=0.0, bias=True, add_bias_kv=False, add_zero_attn=False, kdim=None, vdim=None,
                 batch_first=False, device=None, dtype=None, *, num_threads=None):
        if add_bias_kv or add_zero_attn:
            raise SeqfastError("seqfast.torch.MultiheadAttention does not support add_bias_kv or add_zero_attn")
        super().__init__(embed_dim, num_heads, dropout=dropout, bias=bias, kdim=kdim, vdim=vdim, batch_first=batch_first, device=device,
                         dtype=dtype)
        self.num_threads = _args.threads(num_threads)

    def forward(self, query, key, value, key_padding_mask=None, need_weights=True, attn_mask=None, average_attn_weights=True,
                is_causal=False):
        """``torch.nn.MultiheadAttention.forward``; returns ``(attn_output, None)``."""
        if need_weights:
            raise SeqfastError("seqfast.torch.MultiheadAttention never forms the attention weights: call it with need_weights=False "
                               "(or use torch.nn.MultiheadAttention where the weights are needed)")
        q = check_tensor(query, "query")
        k = check_tensor(key, "key", q.dtype, "query")
        v = check_tensor(value, "value", q.dtype, "query")
        for n, w in self.named_parameters():
            check_tensor(w, n, q.dtype, "query")
        unbatched = q.dim() == 2
        if unbatched:
            q, k, v = (t.unsqueeze(1) for t in (q, k, v))
            key_padding_mask = None if key_padding_mask is None else key_padding_mask.unsqueeze(0)
            bf = False
        else:
            bf = self.batch_first
        for name, t in (("query", q), ("key", k), ("value", v)):
            if t.dim() != 3:
                raise ShapeError(f"{name} has shape {tuple(t.shape)}; expected {'(B, T, E)' if bf else '(T, B, E)'} or unbatched (T, E)")
        b, L = (q.shape[0], q.shape[1]) if bf else (q.shape[1], q.shape[0])
        S = k.shape[1] if bf else k.shape[0]
        h = self.num_heads
        lengths, mask = None, None
        if is_causal:
            attn_mask = None  # torch's hint: attn_mask is the causal mask; the kernel builds it
        kpm = _bool_mask(key_padding_mask, "key_padding_mask", False)
        if kpm is not None:
            if tuple(kpm.shape) != (b, S):
                raise ShapeError(f"key_padding_mask has shape {tuple(kpm.shape)}, expected (B, S) = ({b}, {S})")
            lens = kpm.sum(1)
            if bool((kpm == (torch.arange(S) < lens[:, None])).all()):
                lengths = lens.numpy()  # padding at the end: lengths, which the kernel skips block-wise
            else:
                mask = kpm[:, None, None, :].expand(b, 1, L, S)
        am = _bool_mask(attn_mask, "attn_mask", False)
        if am is not None:
            if am.dim() == 2 and tuple(am.shape) == (L, S):
                am = am[None, None]
            elif am.dim() == 3 and tuple(am.shape) == (b * h, L, S):
                am = am.reshape(b, h, L, S)
            else:
                raise ShapeError(f"attn_mask has shape {tuple(attn_mask.shape)}, expected ({L}, {S}) or ({b * h}, {L}, {S})")
            mask = am if mask is None else (am & mask)
        dropout = float(self.dropout) if self.training else 0.0
        seed = draw_seed() if dropout > 0 else 0
        e = self.embed_dim
        spec = (h, bool(is_causal), lengths, _np_mask(mask), dropout, seed, threads(self.num_threads), bf, e)
        # Projections by torch (its GEMM, and autograd gives exactly the gradients asked for);
        # the attention between them by seqfast's fused kernel, reading the heads in place.
        bias = self.in_proj_bias
        if query is key and key is value and self._qkv_same_embed_dim:
            srcs: tuple[torch.Tensor, ...] = (F.linear(q, self.in_proj_weight, bias),)
        else:
            ws = self.in_proj_weight.chunk(3) if self._qkv_same_embed_dim else (self.q_proj_weight, self.k_proj_weight, self.v_proj_weight)
            bs = (None,) * 3 if bias is None else bias.chunk(3)
            srcs = tuple(F.linear(x, wi, bi) for x, wi, bi in zip((q, k, v), ws, bs))
        if needs_graph(*srcs):
            attn = apply(_HeadsAttnFn, spec, *srcs)
        else:
            attn = _heads_forward(spec, srcs)[0]
        out = F.linear(attn, self.out_proj.weight, self.out_proj.bias)
        return (out.squeeze(1) if unbatched else out), None


# ------------------------------------------------------------------------- additive and Luong
class _RNNAttnFn(torch.autograd.Function):
    """(spec, query, keys, values, *weights) for additive or Luong attention."""

    @staticmethod
    def forward(ctx, spec, q, k, v, *weights):
        ctx.spec = spec
        out, cache = _rnn_attn_run(spec, q, k, v, weights, True)
        stash(ctx, cache, [q, k, v, *weights])
        return from_np(out)

    @staticmethod
    @once_differentiable("seqfast.torch attention module")
    def backward(ctx, dctx):
        spec = ctx.spec
        cache = unstash(ctx, f"seqfast.torch.{spec[0]}")
        need = ctx.needs_input_grad
        if dctx is None:
            return (None,) * len(need)
        back = R.additive_attention_backward if spec[0] == "AdditiveAttention" else R.luong_attention_backward
        dq, dk, dv, dw = back(cache, dctx.detach().numpy())
        grads = [None, dq, dk, dv] + [dw.get(n) for n in spec[1]]
        return tuple(from_np(g) if want and g is not None else None for g, want in zip(grads, need))


def _rnn_attn_run(spec, q, k, v, weights, requires_grad):
    kind, names, lengths, mask, extra, nt = spec
    wd = {n: np_view(w) for n, w in zip(names, weights) if w is not None}
    if kind == "AdditiveAttention":
        return R.additive_attention_forward(np_view(q), np_view(k), wd, np_view(v), lengths=lengths, mask=mask, requires_grad=requires_grad,
                                            num_threads=nt)
    return R.luong_attention_forward(np_view(q), np_view(k), np_view(v), wd or None, kind=extra[0], scale=extra[1], lengths=lengths,
                                     mask=mask, requires_grad=requires_grad, num_threads=nt)


class _RNNAttention(torch.nn.Module):
    _names: tuple = ()

    def _attend(self, query, keys, values, lengths, mask, extra=None):
        q = check_tensor(query, "query")
        k = check_tensor(keys, "keys", q.dtype, "query")
        v = None if values is None else check_tensor(values, "values", q.dtype, "query")
        weights = [getattr(self, n) for n in self._names]
        for n, w in zip(self._names, weights):
            if w is not None:
                check_tensor(w, n, q.dtype, "query")
        if lengths is not None:
            lengths = lengths.detach().cpu().numpy() if isinstance(lengths, torch.Tensor) else lengths
        if mask is not None:
            mask = _bool_mask(mask, "mask", True).detach().numpy()
        spec = (type(self).__name__, self._names, lengths, mask, extra, threads(self.num_threads))
        if needs_graph(q, k, v, *weights):
            return apply(_RNNAttnFn, spec, q, k, v, *weights)
        return from_np(_rnn_attn_run(spec, q, k, v, weights, False)[0])


class AdditiveAttention(_RNNAttention):
    """Additive (Bahdanau) attention: ``score(q, k) = v . tanh(W_q q + W_k k + bias)``,
    ``context = softmax(score) @ values``; the (B, Tq, Tk, attn_size) tensor is never formed.

    Parameters ``w_q`` (attn_size, query_size), ``w_k`` (attn_size, key_size), ``v``
    (attn_size,), ``bias`` (attn_size,) if ``bias``. ``forward(query, keys, values=None,
    lengths=None, mask=None)``: ``query`` (B, Tq, query_size) or (B, query_size) for one decoder
    step; ``keys`` (B, Tk, key_size); ``values`` (B, Tk, dv), default the keys; ``lengths`` (B,)
    and bool ``mask`` (True = may attend). Batch-first always. Returns the context,
    (B, Tq, dv) or (B, dv).

    >>> import torch
    >>> m = AdditiveAttention(query_size=4, key_size=6, attn_size=5)
    >>> context = m(torch.randn(2, 3, 4), torch.randn(2, 7, 6), lengths=torch.tensor([7, 3]))
    >>> context.shape
    torch.Size([2, 3, 6])
    """

    _names = ("w_q", "w_k", "v", "bias")

    def __init__(self, query_size: int, key_size: int, attn_size: int, bias: bool = True, device=None, dtype=None, *, num_threads=None):
        super().__init__()
        fk = {"device": device, "dtype": dtype}
        self.query_size, self.key_size, self.attn_size = query_size, key_size, attn_size
        self.w_q = torch.nn.Parameter(torch.empty(attn_size, query_size, **fk))
        self.w_k = torch.nn.Parameter(torch.empty(attn_size, key_size, **fk))
        self.v = torch.nn.Parameter(torch.empty(attn_size, **fk))
        if bias:
            self.bias = torch.nn.Parameter(torch.empty(attn_size, **fk))
        else:
            self.register_parameter("bias", None)
        self.num_threads = _args.threads(num_threads)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Uniform in +-1/sqrt(fan_in), as ``torch.nn.Linear``."""
        with torch.no_grad():
            for w, fan in ((self.w_q, self.query_size), (self.w_k, self.key_size), (self.v, self.attn_size), (self.bias, self.query_size)):
                if w is not None:
                    w.uniform_(-1 / math.sqrt(fan), 1 / math.sqrt(fan))

    def forward(self, query, keys, values=None, lengths=None, mask=None):
        return self._attend(query, keys, values, lengths, mask)

    def extra_repr(self) -> str:
        return f"query_size={self.query_size}, key_size={self.key_size}, attn_size={self.attn_size}, bias={self.bias is not None}"


class LuongAttention(_RNNAttention):
    """Luong attention: ``score = scale q . k`` (``kind="dot"``) or ``scale q^T W k``
    (``kind="general"``, parameter ``weight`` (query_size, key_size)); ``scale`` defaults to 1
    (Luong et al. do not scale). ``forward`` as :class:`AdditiveAttention`.

    >>> import torch
    >>> m = LuongAttention(query_size=4, key_size=6, kind="general")
    >>> m(torch.randn(2, 4), torch.randn(2, 7, 6)).shape  # one decoder step
    torch.Size([2, 6])
    """

    def __init__(self, query_size: int, key_size=None, kind: _args.LuongKind = "dot", scale: float = 1.0, device=None, dtype=None, *, num_threads=None):
        super().__init__()
        if kind not in ("dot", "general"):
            raise SeqfastError(f"kind must be 'dot' or 'general', not {kind!r}")
        key_size = query_size if key_size is None else key_size
        if kind == "dot" and key_size != query_size:
            raise SeqfastError(f"kind='dot' needs key_size == query_size ({query_size}), got {key_size}")
        self.query_size, self.key_size, self.kind, self.scale = query_size, key_size, kind, float(scale)
        self._names = ("weight",) if kind == "general" else ()
        if kind == "general":
            self.weight = torch.nn.Parameter(torch.empty(query_size, key_size, device=device, dtype=dtype))
            with torch.no_grad():
                self.weight.uniform_(-1 / math.sqrt(key_size), 1 / math.sqrt(key_size))
        self.num_threads = _args.threads(num_threads)

    def forward(self, query, keys, values=None, lengths=None, mask=None):
        return self._attend(query, keys, values, lengths, mask, (self.kind, self.scale))

    def extra_repr(self) -> str:
        return f"query_size={self.query_size}, key_size={self.key_size}, kind={self.kind!r}, scale={self.scale}"
