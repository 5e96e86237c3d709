"""Slow, readable NumPy float64 reference for attention: scaled dot-product, multi-head, additive, Luong.

This is what seqfast's Rust attention kernels are checked against, so it favours being obviously
right over being fast: full (.., Tq, Tk) score matrices, no tiling, no online softmax, and backward
passes derived by hand, checked in turn by central finite differences and, where torch is
installed, against ``torch.nn.functional.scaled_dot_product_attention`` and
``torch.nn.MultiheadAttention`` (``tests/nn/test_reference_attention.py``).

Every ``*_forward`` has a ``*_backward`` taking the same inputs and options plus the gradient of a
scalar loss with respect to the output; it recomputes the forward and returns the gradients of
every input and weight.

Masking (common to all)
-----------------------
A query may attend a key when every given condition allows it (they combine by AND):

* ``mask``: bool, True = may attend (torch SDPA's boolean ``attn_mask``; note that
  ``torch.nn.MultiheadAttention``'s boolean masks mean the opposite).  Accepted shapes are listed
  per function; a dim of 1 in a leading position broadcasts.
* ``lengths``: (B,) ints in 0..Tk; keys ``j >= lengths[b]`` are masked for every head and query of
  batch row b.
* ``causal`` (SDPA and MHA only): query i may attend key j iff ``j <= i``, top-left aligned also
  when Tq != Tk (torch's ``is_causal``).

The weights are ``softmax`` over the allowed keys of a row.  A row with no allowed key has all
weights 0: its output (context) row is exactly 0 and it contributes exactly zero gradient to
everything (torch gives NaN there).

Scaled dot-product attention (SDPA)
-----------------------------------
``q`` (B, H, Tq, d), ``k`` (B, H, Tk, d), ``v`` (B, H, Tk, dv), or the same without the head axis
(then H = 1 for masks and dropout).  ``S = scale * q k^T`` (``scale`` defaults to 1/sqrt(d)),
``P = softmax(S)`` over the allowed keys, ``A = P * Z`` and ``out = A v``, where ``Z`` is the
dropout factor (below; 1 without dropout).  ``mask`` is (Tq, Tk) or has q's number of dims with
leading dims full or 1: (B|1, H|1, Tq, Tk), or (B|1, Tq, Tk) for 3-D inputs.

Backward, with ``dO`` the output gradient: ``dV = A^T dO``, ``dA = dO V^T``, ``dP = dA * Z``,
``dS = P * (dP - rowsum(dO * O))`` (``rowsum(dO * O) = rowsum(P * dP)``, the softmax's
Jacobian-vector product), ``dQ = scale * dS K``, ``dK = scale * dS^T Q``.

Dropout
-------
Dropout ``p`` in [0, 1) acts on the attention probabilities after the softmax (the normalisation
uses the undropped ``P``, as in torch): ``Z = keep / (1 - p)`` with ``keep =
dropout_keep(seed, B*H, Tq, Tk, p)`` indexed by ``bh = b*H + h``.  ``keep`` is a counter-based
hash of (seed, row, column), so the Rust kernels reproduce it bit-exactly; see
:func:`dropout_keep`.

Multi-head attention (MHA)
--------------------------
``torch.nn.MultiheadAttention`` with ``kdim = vdim = E``.  ``query`` (B, Tq, E), ``key``/``value``
(B, Tk, E), or (T, B, E) when ``batch_first=False``.  ``weights`` in torch's state_dict naming:
``in_proj_weight`` (3E, E), optional ``in_proj_bias`` (3E,), ``out_proj.weight`` (E, E), optional
``out_proj.bias`` (E,).  ``q = query Wq^T + bq`` with ``Wq, Wk, Wv`` the three row blocks of
``in_proj_weight`` (likewise k, v); head h takes feature columns ``h*dh:(h+1)*dh``, ``dh =
E / num_heads``; SDPA per head with ``scale = 1/sqrt(dh)`` and ``bh = b*num_heads + h``; the heads
are concatenated back in order and ``out = attn Wo^T + bo``.  ``mask`` is (Tq, Tk),
(B|1, Tq, Tk) or (B|1, H|1, Tq, Tk), True = may attend.  Passing one array as query, key and value
(self-attention) still yields three separate gradients; the caller sums them.

Additive (Bahdanau) attention
-----------------------------
``query`` (B, Tq, dq), or (B, dq) for a single decoder step (Tq = 1 internally, the context is then
(B, dv)); ``keys`` (B, Tk, dk); ``values`` (B, Tk, dv), by default the keys themselves (then
``dvalues`` is None and the value-path gradient is added into ``dkeys``).  Weights ``w_q`` (da,
dq), ``w_k`` (da, dk), ``v`` (da,), optional ``bias`` (da,)::

    score[b, i, j] = sum_a v[a] * tanh((w_q q_bi)[a] + (w_k k_bj)[a] + bias[a])
    context[b, i] = sum_j softmax_j(score[b, i, :])[j] * values[b, j]

``mask`` has the shape of the scores, (B, Tq, Tk) (or (B, Tk) for a 2-D query), or that shape
without the batch dim, (Tq, Tk) (or (Tk,)).

Luong attention
---------------
As additive attention (shapes, masks, default values), with ``score = scale * q . k``
(``kind="dot"``, dq == dk, no weights) or ``score = scale * q^T W k`` (``kind="general"``, weights
``{"weight": W}`` with W (dq, dk)).

Contents
--------
``sdpa_forward``, ``sdpa_backward``               scaled dot-product attention.
``mha_forward``, ``mha_backward``                 multi-head attention.
``additive_forward``, ``additive_backward``       Bahdanau attention.
``luong_forward``, ``luong_backward``             Luong dot / general attention.
``dropout_keep``, ``dropout_threshold``, ``mix64``, ``fmix32``   the dropout mask generator.
"""

from __future__ import annotations

import math

import numpy as np

LUONG_KINDS = ("dot", "general")

# ---------------------------------------------------------------------------
# Dropout mask: counter-based hashes (SplitMix64 and MurmurHash3 finalisers), reproducible in Rust
# ---------------------------------------------------------------------------

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)  # 2**64 / golden ratio
_GOLDEN32 = np.uint32(0x9E3779B9)  # 2**32 / golden ratio


def mix64(z):
    """SplitMix64's finaliser on uint64 (scalar or array), wrapping arithmetic."""
    z = np.asarray(z, dtype=np.uint64)
    with np.errstate(over="ignore"):
        z = z ^ (z >> np.uint64(30))
        z = z * np.uint64(0xBF58476D1CE4E5B9)
        z = z ^ (z >> np.uint64(27))
        z = z * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return z


def fmix32(h):
    """MurmurHash3's 32-bit finaliser on uint32 (scalar or array), wrapping arithmetic."""
    h = np.asarray(h, dtype=np.uint32)
    with np.errstate(over="ignore"):
        h = h ^ (h >> np.uint32(16))
        h = h * np.uint32(0x85EBCA6B)
        h = h ^ (h >> np.uint32(13))
        h = h * np.uint32(0xC2B2AE35)
        h = h ^ (h >> np.uint32(16))
    return h


def dropout_threshold(p: float) -> int:
    """``min(round(p * 2**32), 2**32 - 1)`` with ties rounded up, for ``p`` in [0, 1).

    Ties round away from zero, as Rust's ``f64::round`` (Python's ``round`` would round them to
    even).  ``p * 2**32`` is exact in float64, and so is its fractional part.
    """
    if not 0.0 <= p < 1.0:
        raise ValueError(f"dropout probability must be in [0, 1), got {p}")
    x = p * 2.0**32
    n = math.floor(x)
    return min(n + (x - n >= 0.5), 2**32 - 1)


def dropout_keep(seed: int, bh_count: int, tq: int, tk: int, p: float) -> np.ndarray:
    """The (bh_count, tq, tk) bool keep mask of attention dropout (True = kept).

    With ``s0 = mix64(seed mod 2**64)``, row ``r = bh * tq + i`` has the 32-bit key
    ``key_r = mix64(s0 + r * 0x9E3779B97F4A7C15) >> 32`` (uint64, wrapping), and entry (r, j) is
    kept iff ``fmix32(key_r ^ (j * 0x9E3779B9 mod 2**32)) >= dropout_threshold(p)``.  ``p == 0``
    keeps everything; an entry kept at some p is kept at every smaller p.
    """
    threshold = np.uint32(dropout_threshold(p))
    s0 = mix64(np.uint64(seed % 2**64))
    rows = np.arange(bh_count * tq, dtype=np.uint64)
    with np.errstate(over="ignore"):
        row_keys = (mix64(s0 + rows * _GOLDEN) >> np.uint64(32)).astype(np.uint32)
        col_keys = np.arange(tk, dtype=np.uint32) * _GOLDEN32
    keep = fmix32(row_keys[:, None] ^ col_keys[None, :]) >= threshold
    return keep.reshape(bh_count, tq, tk)


# ---------------------------------------------------------------------------
# Masks, masked softmax and the attention core shared by every variant
# ---------------------------------------------------------------------------


def _as_f64(name, a, ndims):
    a = np.asarray(a, dtype=np.float64)
    if a.ndim not in ndims:
        raise ValueError(f"{name} must have {' or '.join(map(str, ndims))} dims, got shape {a.shape}")
    return a


def _broadcast_mask(mask, lead, tq, tk):
    """``mask`` (bool, (tq, tk) or ``lead + (tq, tk)`` with leading dims full or 1) broadcast to
    ``lead + (tq, tk)``."""
    mask = np.asarray(mask)
    if mask.dtype != np.bool_:
        raise TypeError(f"mask must be bool (True = may attend), got {mask.dtype}")
    full = tuple(lead) + (tq, tk)
    ok = mask.shape == (tq, tk) or (
        mask.ndim == len(full) and mask.shape[-2:] == (tq, tk)
        and all(m in (1, n) for m, n in zip(mask.shape, lead)))
    if not ok:
        raise ValueError(f"mask has shape {mask.shape}; expected {(tq, tk)} or {full} with leading dims full or 1")
    return np.broadcast_to(mask, full)


def _allowed(shape, *, causal=False, lengths=None, mask=None):
    """Bool array of ``shape`` = (B, ..., Tq, Tk): True where query i of row b may attend key j."""
    B, Tq, Tk = shape[0], shape[-2], shape[-1]
    allowed = np.ones(shape, dtype=bool)
    if mask is not None:
        allowed &= _broadcast_mask(mask, shape[:-2], Tq, Tk)
    if causal:
        allowed &= np.tril(np.ones((Tq, Tk), dtype=bool))  # j <= i
    if lengths is not None:
        lengths = np.asarray(lengths)
        if lengths.shape != (B,) or not np.issubdtype(lengths.dtype, np.integer):
            raise ValueError(f"lengths must be {B} integers, got {lengths!r}")
        if lengths.min(initial=0) < 0 or lengths.max(initial=0) > Tk:
            raise ValueError(f"lengths must be in 0..{Tk}, got {lengths}")
        key_ok = np.arange(Tk)[None, :] < lengths[:, None]  # (B, Tk)
        allowed &= key_ok.reshape((B,) + (1,) * (len(shape) - 2) + (Tk,))
    return allowed


def _masked_softmax(scores, allowed):
    """Softmax over the last axis restricted to ``allowed``; rows with nothing allowed are all 0."""
    row_max = np.max(scores, axis=-1, where=allowed, initial=-np.inf, keepdims=True)
    row_max = np.where(np.isfinite(row_max), row_max, 0.0)
    e = np.where(allowed, np.exp(np.where(allowed, scores - row_max, 0.0)), 0.0)
    total = e.sum(axis=-1, keepdims=True)
    return np.divide(e, total, out=np.zeros_like(e), where=total > 0)


def _swap(a):
    return np.swapaxes(a, -1, -2)


def _attend(scores, allowed, values, Z=None):
    """``(P, A, out)``: weights ``P``, dropped weights ``A = P * Z`` and ``out = A values``."""
    P = _masked_softmax(scores, allowed)
    A = P if Z is None else P * Z
    return P, A, A @ values


def _attend_backward(P, A, values, out, dout, Z=None):
    """``(dscores, dvalues)`` from the output gradient ``dout`` (see the module docstring)."""
    dvalues = _swap(A) @ dout
    dP = dout @ _swap(values)
    if Z is not None:
        dP = dP * Z
    dscores = P * (dP - np.sum(dout * out, axis=-1, keepdims=True))
    return dscores, dvalues


def _check_weights(weights, required, optional, shapes):
    """Reject missing, unknown or misshapen entries of a weight dict; return it as float64 arrays."""
    names = set(weights)
    if not set(required) <= names or not names <= set(required) | set(optional):
        raise ValueError(f"weights must have {sorted(required)} and optionally {sorted(optional)}, "
                         f"got {sorted(names)}")
    out = {k: np.asarray(w, dtype=np.float64) for k, w in weights.items()}
    for k, w in out.items():
        if w.shape != shapes[k]:
            raise ValueError(f"{k} has shape {w.shape}, expected {shapes[k]}")
    return out


def _check_dout(name, dout, shape):
    dout = np.asarray(dout, dtype=np.float64)
    if dout.shape != shape:
        raise ValueError(f"{name} has shape {dout.shape}, expected the output's {shape}")
    return dout


# ---------------------------------------------------------------------------
# Scaled dot-product attention
# ---------------------------------------------------------------------------


def _sdpa(q, k, v, scale, causal, lengths, mask, dropout, seed):
    """The forward pass on 4-D views; returns everything the backward pass needs."""
    q = _as_f64("q", q, (3, 4))
    k = _as_f64("k", k, (q.ndim,))
    v = _as_f64("v", v, (q.ndim,))
    if k.shape[:-2] != q.shape[:-2] or v.shape[:-1] != k.shape[:-1] or k.shape[-1] != q.shape[-1]:
        raise ValueError(f"incompatible shapes q {q.shape}, k {k.shape}, v {v.shape}")
    three_d = q.ndim == 3
    if three_d:
        allowed = _allowed((q.shape[0], q.shape[1], k.shape[1]), causal=causal, lengths=lengths, mask=mask)[:, None]
        q, k, v = q[:, None], k[:, None], v[:, None]
    B, H, Tq, d = q.shape
    Tk = k.shape[2]
    if not three_d:
        allowed = _allowed((B, H, Tq, Tk), causal=causal, lengths=lengths, mask=mask)
    scale = 1.0 / math.sqrt(d) if scale is None else float(scale)
    Z = None
    if dropout != 0.0:  # dropout_keep rejects p outside [0, 1)
        Z = dropout_keep(seed, B * H, Tq, Tk, dropout).reshape(B, H, Tq, Tk) / (1.0 - dropout)
    P, A, out = _attend(scale * (q @ _swap(k)), allowed, v, Z)
    return {"q": q, "k": k, "v": v, "scale": scale, "Z": Z, "P": P, "A": A, "out": out, "three_d": three_d}


def sdpa_forward(q, k, v, *, scale=None, causal=False, lengths=None, mask=None, dropout=0.0, seed=0):
    """Scaled dot-product attention; returns ``out`` (B, H, Tq, dv), or (B, Tq, dv) for 3-D inputs."""
    c = _sdpa(q, k, v, scale, causal, lengths, mask, dropout, seed)
    return c["out"][:, 0] if c["three_d"] else c["out"]


def sdpa_backward(q, k, v, dout, *, scale=None, causal=False, lengths=None, mask=None, dropout=0.0, seed=0):
    """``(dq, dk, dv)`` given ``dout`` = dL/d(out), for the same inputs and options as the forward."""
    c = _sdpa(q, k, v, scale, causal, lengths, mask, dropout, seed)
    dout = _check_dout("dout", dout, c["out"][:, 0].shape if c["three_d"] else c["out"].shape)
    if c["three_d"]:
        dout = dout[:, None]
    dS, dv = _attend_backward(c["P"], c["A"], c["v"], c["out"], dout, c["Z"])
    dq = c["scale"] * (dS @ c["k"])
    dk = c["scale"] * (_swap(dS) @ c["q"])
    if c["three_d"]:
        return dq[:, 0], dk[:, 0], dv[:, 0]
    return dq, dk, dv


# ---------------------------------------------------------------------------
# Multi-head attention
# ---------------------------------------------------------------------------


def _split_heads(x, num_heads):
    """(B, T, E) -> (B, num_heads, T, E / num_heads)."""
    B, T, E = x.shape
    return x.reshape(B, T, num_heads, E // num_heads).transpose(0, 2, 1, 3)


def _merge_heads(x):
    """(B, num_heads, T, dh) -> (B, T, num_heads * dh), heads in order."""
    B, H, T, dh = x.shape
    return x.transpose(0, 2, 1, 3).reshape(B, T, H * dh)


def _mha(query, key, value, weights, num_heads, batch_first, causal, lengths, mask, dropout, seed):
    """The forward pass, batch-first; returns everything the backward pass needs."""
    xs = [_as_f64(name, a, (3,)) for name, a in (("query", query), ("key", key), ("value", value))]
    if not batch_first:
        xs = [x.transpose(1, 0, 2) for x in xs]
    B, Tq, E = xs[0].shape
    if xs[1].shape != xs[2].shape or xs[1].shape[0] != B or xs[1].shape[2] != E:
        raise ValueError(f"incompatible shapes query {np.shape(query)}, key {np.shape(key)}, value {np.shape(value)}")
    if num_heads < 1 or E % num_heads:
        raise ValueError(f"embed dim {E} is not divisible by num_heads={num_heads}")
    W = _check_weights(weights, ("in_proj_weight", "out_proj.weight"), ("in_proj_bias", "out_proj.bias"),
                       {"in_proj_weight": (3 * E, E), "in_proj_bias": (3 * E,), "out_proj.weight": (E, E),
                        "out_proj.bias": (E,)})
    Tk = xs[1].shape[1]
    if mask is not None and np.ndim(mask) == 3:  # (B|1, Tq, Tk): the same for every head
        mask = _broadcast_mask(mask, (B,), Tq, Tk)[:, None]
    heads = []
    for i, x in enumerate(xs):  # projections q, k, v
        proj = x @ W["in_proj_weight"][i * E:(i + 1) * E].T
        if "in_proj_bias" in W:
            proj = proj + W["in_proj_bias"][i * E:(i + 1) * E]
        heads.append(_split_heads(proj, num_heads))
    sdpa_kw = dict(scale=1.0 / math.sqrt(E // num_heads), causal=causal, lengths=lengths, mask=mask,
                   dropout=dropout, seed=seed)
    attn = _merge_heads(sdpa_forward(*heads, **sdpa_kw))
    out = attn @ W["out_proj.weight"].T
    if "out_proj.bias" in W:
        out = out + W["out_proj.bias"]
    return {"xs": xs, "W": W, "heads": heads, "sdpa_kw": sdpa_kw, "attn": attn, "out": out}


def mha_forward(query, key, value, weights, num_heads, *, causal=False, lengths=None, mask=None, dropout=0.0,
                seed=0, batch_first=True):
    """torch.nn.MultiheadAttention's output (its first return value), in the input layout."""
    out = _mha(query, key, value, weights, num_heads, batch_first, causal, lengths, mask, dropout, seed)["out"]
    return out if batch_first else out.transpose(1, 0, 2)


def mha_backward(query, key, value, weights, num_heads, dout, *, causal=False, lengths=None, mask=None,
                 dropout=0.0, seed=0, batch_first=True):
    """``(dquery, dkey, dvalue, dweights)`` given ``dout`` = dL/d(out); ``dweights`` has the keys of
    ``weights``; the input gradients are in the input layout."""
    c = _mha(query, key, value, weights, num_heads, batch_first, causal, lengths, mask, dropout, seed)
    W, attn = c["W"], c["attn"]
    E = attn.shape[-1]
    dout = _check_dout("dout", dout, c["out"].shape if batch_first else c["out"].transpose(1, 0, 2).shape)
    if not batch_first:
        dout = dout.transpose(1, 0, 2)
    grads = {"out_proj.weight": dout.reshape(-1, E).T @ attn.reshape(-1, E)}
    if "out_proj.bias" in W:
        grads["out_proj.bias"] = dout.sum(axis=(0, 1))
    dattn = dout @ W["out_proj.weight"]
    dheads = sdpa_backward(*c["heads"], _split_heads(dattn, num_heads), **c["sdpa_kw"])
    dxs, dw, db = [], [], []
    for i, (x, dh) in enumerate(zip(c["xs"], dheads)):
        dproj = _merge_heads(dh)
        dw.append(dproj.reshape(-1, E).T @ x.reshape(-1, E))
        db.append(dproj.sum(axis=(0, 1)))
        dx = dproj @ W["in_proj_weight"][i * E:(i + 1) * E]
        dxs.append(dx if batch_first else dx.transpose(1, 0, 2))
    grads["in_proj_weight"] = np.concatenate(dw)
    if "in_proj_bias" in W:
        grads["in_proj_bias"] = np.concatenate(db)
    return dxs[0], dxs[1], dxs[2], {k: grads[k] for k in W}


# ---------------------------------------------------------------------------
# Additive (Bahdanau) and Luong attention: one query set against one key/value set per batch row
# ---------------------------------------------------------------------------


def _query_keys_values(query, keys, values, lengths, mask):
    """Common checks: returns ``(q3, keys, values, allowed, single)`` with ``q3`` (B, Tq, dq)
    (Tq = 1 when the query is one (B, dq) step: ``single``) and ``allowed`` (B, Tq, Tk)."""
    query = _as_f64("query", query, (2, 3))
    keys = _as_f64("keys", keys, (3,))
    values = keys if values is None else _as_f64("values", values, (3,))
    B, Tk = keys.shape[:2]
    if query.shape[0] != B or values.shape[:2] != (B, Tk):
        raise ValueError(f"incompatible shapes query {query.shape}, keys {keys.shape}, values {values.shape}")
    single = query.ndim == 2
    q3 = query[:, None] if single else query
    if single and mask is not None:  # (B, Tk) or (Tk,) -> (B, 1, Tk) or (1, Tk)
        mask = np.asarray(mask)[..., None, :]
    allowed = _allowed((B, q3.shape[1], Tk), lengths=lengths, mask=mask)
    return q3, keys, values, allowed, single


def _context_gradients(values, allowed, scores, dcontext, single):
    """Attend, then back-propagate ``dcontext``: ``(dscores, dvalues)``."""
    P, A, context = _attend(scores, allowed, values)
    dcontext = _check_dout("dcontext", dcontext, context[:, 0].shape if single else context.shape)
    return _attend_backward(P, A, values, context, dcontext[:, None] if single else dcontext)


def _additive_scores(q3, keys, W):
    """``(scores, t)`` with ``t = tanh(w_q q_i + w_k k_j + bias)`` (B, Tq, Tk, da)."""
    pre = (q3 @ W["w_q"].T)[:, :, None, :] + (keys @ W["w_k"].T)[:, None, :, :]
    if "bias" in W:
        pre = pre + W["bias"]
    t = np.tanh(pre)
    return t @ W["v"], t


def _additive_weights(weights, q3, keys):
    da = np.size(weights.get("v", 0))  # a misshapen or missing v is reported by _check_weights
    return _check_weights(weights, ("w_q", "w_k", "v"), ("bias",),
                          {"w_q": (da, q3.shape[-1]), "w_k": (da, keys.shape[-1]), "v": (da,), "bias": (da,)})


def additive_forward(query, keys, weights, values=None, *, lengths=None, mask=None):
    """Bahdanau attention; returns the context (B, Tq, dv), or (B, dv) for a 2-D query."""
    q3, keys, values, allowed, single = _query_keys_values(query, keys, values, lengths, mask)
    scores, _ = _additive_scores(q3, keys, _additive_weights(weights, q3, keys))
    context = _attend(scores, allowed, values)[2]
    return context[:, 0] if single else context


def additive_backward(query, keys, weights, dcontext, values=None, *, lengths=None, mask=None):
    """``(dquery, dkeys, dvalues, dweights)`` given ``dcontext`` = dL/d(context).

    ``dvalues`` is None when ``values`` is None (the keys were the values; their gradient is in
    ``dkeys``); ``dweights`` has the keys of ``weights``.
    """
    q3, keys_, values_, allowed, single = _query_keys_values(query, keys, values, lengths, mask)
    W = _additive_weights(weights, q3, keys_)
    scores, t = _additive_scores(q3, keys_, W)
    dS, dvalues = _context_gradients(values_, allowed, scores, dcontext, single)
    dpre = dS[..., None] * W["v"] * (1.0 - t ** 2)  # (B, Tq, Tk, da)
    da = W["v"].shape[0]
    dqp = dpre.sum(axis=2)  # dL/d(w_q q_i), (B, Tq, da)
    dkp = dpre.sum(axis=1)  # dL/d(w_k k_j), (B, Tk, da)
    grads = {"w_q": dqp.reshape(-1, da).T @ q3.reshape(-1, q3.shape[-1]),
             "w_k": dkp.reshape(-1, da).T @ keys_.reshape(-1, keys_.shape[-1]),
             "v": np.einsum("bij,bija->a", dS, t),
             "bias": dpre.sum(axis=(0, 1, 2))}
    dquery = dqp @ W["w_q"]
    dkeys = dkp @ W["w_k"]
    if values is None:
        dkeys, dvalues = dkeys + dvalues, None
    return (dquery[:, 0] if single else dquery), dkeys, dvalues, {k: grads[k] for k in W}


def _luong_keys(kind, weights, q3, keys):
    """``(kp, W)``: the keys as seen by the dot product (``W k_j`` for "general") and the weights."""
    if kind not in LUONG_KINDS:
        raise ValueError(f"unknown kind {kind!r}; expected one of {LUONG_KINDS}")
    dq, dk = q3.shape[-1], keys.shape[-1]
    if kind == "dot":
        if weights:
            raise ValueError(f"kind='dot' takes no weights, got {sorted(weights)}")
        if dq != dk:
            raise ValueError(f"kind='dot' needs query and keys of the same size, got {dq} and {dk}")
        return keys, {}
    W = _check_weights(weights or {}, ("weight",), (), {"weight": (dq, dk)})
    return keys @ W["weight"].T, W


def luong_forward(query, keys, values=None, weights=None, *, kind="dot", scale=1.0, lengths=None, mask=None):
    """Luong attention; returns the context (B, Tq, dv), or (B, dv) for a 2-D query."""
    q3, keys, values, allowed, single = _query_keys_values(query, keys, values, lengths, mask)
    kp, _ = _luong_keys(kind, weights, q3, keys)
    context = _attend(scale * (q3 @ _swap(kp)), allowed, values)[2]
    return context[:, 0] if single else context


def luong_backward(query, keys, dcontext, values=None, weights=None, *, kind="dot", scale=1.0, lengths=None,
                   mask=None):
    """``(dquery, dkeys, dvalues, dweights)`` given ``dcontext`` = dL/d(context).

    ``dvalues`` is None when ``values`` is None (their gradient is in ``dkeys``); ``dweights`` is
    ``{"weight": dW}`` for "general" and ``{}`` for "dot".
    """
    q3, keys_, values_, allowed, single = _query_keys_values(query, keys, values, lengths, mask)
    kp, W = _luong_keys(kind, weights, q3, keys_)
    dS, dvalues = _context_gradients(values_, allowed, scale * (q3 @ _swap(kp)), dcontext, single)
    dquery = scale * (dS @ kp)
    dkp = scale * (_swap(dS) @ q3)  # (B, Tk, dq)
    grads = {}
    if kind == "general":
        grads["weight"] = dkp.reshape(-1, q3.shape[-1]).T @ keys_.reshape(-1, keys_.shape[-1])
        dkeys = dkp @ W["weight"]
    else:
        dkeys = dkp
    if values is None:
        dkeys, dvalues = dkeys + dvalues, None
    return (dquery[:, 0] if single else dquery), dkeys, dvalues, grads
