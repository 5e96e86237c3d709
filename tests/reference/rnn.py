"""Slow, readable NumPy float64 reference for recurrent networks (RNN, LSTM, GRU).

This is what seqfast's Rust recurrent kernels are checked against, so it favours being obviously
right over being fast: plain loops over layers, directions and time steps, and a backward pass
derived by hand (explicit back-propagation through time), checked in turn by central finite
differences and, where torch is installed, against ``torch.nn.RNN/LSTM/GRU``
(``tests/nn/test_reference_rnn.py``).

Semantics are PyTorch's in training mode.

Modes
-----
``"rnn_tanh"``, ``"rnn_relu"`` (G = 1 gate), ``"lstm"`` (G = 4, gate order i, f, g, o) and
``"gru"`` (G = 3, gate order r, z, n).  Per step, with ``gi = W_ih x + b_ih`` and
``gh = W_hh h + b_hh`` split into G blocks of H rows:

* RNN:  ``h' = act(gi + gh)``.
* LSTM: ``i, f, o = sigmoid(...)``, ``g = tanh(...)`` of ``gi + gh``; ``c' = f*c + i*g``;
  ``m = o*tanh(c')``; ``h' = m``, or ``h' = W_hr m`` when ``proj_size P > 0``
  (``c`` has H features, ``h`` has P; as in torch, ``0 < P < H``).
* GRU, ``gru_variant="pytorch"``: ``r = sigmoid(gi_r + gh_r)``, ``z = sigmoid(gi_z + gh_z)``,
  ``n = tanh(gi_n + r * (W_hn h + b_hn))``, ``h' = (1-z)*n + z*h``.
* GRU, ``gru_variant="textbook"`` (Cho et al. 2014, reset applied before the matmul):
  ``n = tanh(gi_n + W_hn (r*h) + b_hn)``; the rest as above.

Weights
-------
A dict in PyTorch ``state_dict`` naming, float64 arrays; ``sfx`` is ``""`` (forward direction)
or ``"_reverse"``, ``H_out = P if P > 0 else H``, ``D_in_0`` = input size and
``D_in_k = H_out * num_directions`` for ``k > 0``:

* ``weight_ih_l{k}{sfx}`` (G*H, D_in_k), ``weight_hh_l{k}{sfx}`` (G*H, H_out),
* ``bias_ih_l{k}{sfx}`` (G*H,), ``bias_hh_l{k}{sfx}`` (G*H,),
* LSTM with projection only: ``weight_hr_l{k}{sfx}`` (P, H).

Shapes
------
``x`` is (B, T, D) when ``batch_first`` else (T, B, D); ``y`` has the same layout with
``dirs * H_out`` features (``[forward, reverse]`` concatenated).  ``h0``/``h_n`` are
(L*dirs, B, H_out) and ``c0``/``c_n`` (L*dirs, B, H) in either layout, indexed by
``layer * dirs + direction``.

Variable lengths
----------------
``lengths`` (B,) ints in 1..T, any order.  Row b only has its first ``lengths[b]`` steps: its
outputs past that are exactly 0, its final state is the one after its own last step, the reverse
direction starts at ``t = lengths[b] - 1`` (from ``h0``) and ends at ``t = 0``, and padding gets
no gradient (``dx`` there is 0 and ``dy`` there is ignored).  This is what
``pack_padded_sequence(..., enforce_sorted=False)`` gives in torch.

Dropout
-------
Inter-layer dropout ``p`` (inverted dropout, training mode) multiplies the output of every layer
but the last, in the batch-first padded (B, T, dirs*H_out) box, by ``dropout_mask(seed, layer,
...)`` (``layer`` = the 0-based index of the layer whose output is dropped) before it is fed to
the next layer.  The mask is a counter-based hash (SplitMix64 finaliser), so the Rust kernels can
reproduce it exactly; see :func:`dropout_mask`.

Contents
--------
``forward``, ``backward``        the network and its hand-derived gradient.
``dropout_mask``, ``mix64``      the dropout mask generator.
``init_weights``, ``weight_names``, ``gate_count``, ``sizes_from_weights``   helpers.
``linear_loss``                  a scalar test loss and its gradients w.r.t. the outputs.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

MODES = ("rnn_tanh", "rnn_relu", "lstm", "gru")
GRU_VARIANTS = ("pytorch", "textbook")

# ---------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------


def gate_count(mode: str) -> int:
    """Number of gate blocks G stacked in ``weight_ih``/``weight_hh``: 1, 4 (lstm) or 3 (gru)."""
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; expected one of {MODES}")
    return {"rnn_tanh": 1, "rnn_relu": 1, "lstm": 4, "gru": 3}[mode]


def _suffix(direction: int) -> str:
    return "_reverse" if direction == 1 else ""


def weight_names(mode: str, num_layers: int, bidirectional: bool, proj_size: int = 0) -> list:
    """The state_dict names, in PyTorch's order (layer, direction, ih, hh, b_ih, b_hh, hr)."""
    gate_count(mode)
    names = []
    for k in range(num_layers):
        for d in range(2 if bidirectional else 1):
            s = f"_l{k}{_suffix(d)}"
            names += [f"weight_ih{s}", f"weight_hh{s}", f"bias_ih{s}", f"bias_hh{s}"]
            if mode == "lstm" and proj_size > 0:
                names.append(f"weight_hr{s}")
    return names


def sizes_from_weights(mode: str, weights: dict) -> tuple:
    """``(input_size, hidden_size, proj_size)`` read off layer 0's forward weights."""
    G = gate_count(mode)
    w_ih = weights["weight_ih_l0"]
    if w_ih.shape[0] % G:
        raise ValueError(f"weight_ih_l0 has {w_ih.shape[0]} rows, not a multiple of {G}")
    H = w_ih.shape[0] // G
    P = weights["weight_hr_l0"].shape[0] if "weight_hr_l0" in weights else 0
    if P and mode != "lstm":
        raise ValueError("weight_hr (projection) is only valid for lstm")
    if P and P >= H:
        raise ValueError(f"proj_size ({P}) must be smaller than hidden_size ({H}), as in torch")
    return w_ih.shape[1], H, P


def init_weights(mode: str, input_size: int, hidden_size: int, num_layers: int, bidirectional: bool,
                 proj_size: int = 0, rng: Optional[np.random.Generator] = None) -> dict:
    """Random float64 weights, every entry uniform in [-1/sqrt(H), 1/sqrt(H)] like torch."""
    rng = np.random.default_rng(0) if rng is None else rng
    G, H, P = gate_count(mode), hidden_size, proj_size
    if P and mode != "lstm":
        raise ValueError("proj_size > 0 is only valid for lstm")
    if P < 0 or (P and P >= H):
        raise ValueError(f"proj_size must be in 0..hidden_size-1 (as in torch), got {P}")
    H_out = P if P > 0 else H
    dirs = 2 if bidirectional else 1
    bound = 1.0 / np.sqrt(H)
    out = {}
    for k in range(num_layers):
        d_in = input_size if k == 0 else H_out * dirs
        for d in range(dirs):
            s = f"_l{k}{_suffix(d)}"
            shapes = {f"weight_ih{s}": (G * H, d_in), f"weight_hh{s}": (G * H, H_out),
                      f"bias_ih{s}": (G * H,), f"bias_hh{s}": (G * H,)}
            if P > 0:
                shapes[f"weight_hr{s}"] = (P, H)
            for name, shape in shapes.items():
                out[name] = rng.uniform(-bound, bound, size=shape)
    return out


def sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


# ---------------------------------------------------------------------------
# Dropout mask: a counter-based hash (SplitMix64 finaliser), reproducible in Rust
# ---------------------------------------------------------------------------

_M64 = 0xFFFFFFFFFFFFFFFF
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX_C1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX_C2 = np.uint64(0x94D049BB133111EB)


def mix64(z):
    """SplitMix64's finaliser on uint64 (scalar or array), wrapping arithmetic."""
    z = np.asarray(z, dtype=np.uint64)
    with np.errstate(over="ignore"):
        z = z ^ (z >> np.uint64(30))
        z = z * _MIX_C1
        z = z ^ (z >> np.uint64(27))
        z = z * _MIX_C2
        z = z ^ (z >> np.uint64(31))
    return z


def dropout_mask(seed: int, layer: int, B: int, T: int, D: int, p: float) -> np.ndarray:
    """The (B, T, D) float64 inverted-dropout mask applied to the output of layer ``layer``.

    ``key = mix64(seed) ^ ((layer + 1) * 0x9E3779B97F4A7C15)`` and, for the flat index
    ``idx = (b*T + t)*D + j`` of the batch-first padded box, ``u = mix64(key + idx)`` (all uint64,
    wrapping).  The entry is kept when ``(u >> 40) >= floor(p * 2**24)`` and then equals
    ``1 / (1 - p)``, else 0.  ``p == 0`` gives all ones; ``p == 1`` gives all zeros (as torch).
    """
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability must be in [0, 1], got {p}")
    if p == 0.0:
        return np.ones((B, T, D))
    if p == 1.0:
        return np.zeros((B, T, D))
    with np.errstate(over="ignore"):
        key = mix64(np.uint64(seed & _M64)) ^ (np.uint64(layer + 1) * _GOLDEN)
        idx = np.arange(B * T * D, dtype=np.uint64).reshape(B, T, D)
        u = mix64(key + idx)
    threshold = np.uint64(int(np.floor(p * 2.0**24)))
    keep = (u >> np.uint64(40)) >= threshold
    return keep * (1.0 / (1.0 - p))


# ---------------------------------------------------------------------------
# One cell step, forward and backward.  ``W`` holds one (layer, direction)'s weights under the
# short keys "w_ih", "w_hh", "b_ih", "b_hh" and optionally "w_hr".
# ---------------------------------------------------------------------------


def _cell_forward(mode, variant, W, x, h, c):
    """One step for all B rows: returns ``(h_new, c_new, step)``; ``step`` is what backward needs."""
    gi = x @ W["w_ih"].T + W["b_ih"]  # (B, G*H)
    step = {"x": x, "h": h}
    if mode in ("rnn_tanh", "rnn_relu"):
        a = gi + h @ W["w_hh"].T + W["b_hh"]
        h_new = np.tanh(a) if mode == "rnn_tanh" else np.maximum(a, 0.0)
        step.update(a=a, h_new=h_new)
        return h_new, None, step
    if mode == "lstm":
        H = W["w_hh"].shape[0] // 4
        a = gi + h @ W["w_hh"].T + W["b_hh"]
        i = sigmoid(a[:, 0 * H:1 * H])
        f = sigmoid(a[:, 1 * H:2 * H])
        g = np.tanh(a[:, 2 * H:3 * H])
        o = sigmoid(a[:, 3 * H:4 * H])
        c_new = f * c + i * g
        tc = np.tanh(c_new)
        m = o * tc
        h_new = m @ W["w_hr"].T if "w_hr" in W else m
        step.update(c=c, i=i, f=f, g=g, o=o, tc=tc, m=m)
        return h_new, c_new, step
    # gru
    H = W["w_hh"].shape[0] // 3
    w_hh, b_hh = W["w_hh"], W["b_hh"]
    gh_rz = h @ w_hh[:2 * H].T + b_hh[:2 * H]
    r = sigmoid(gi[:, :H] + gh_rz[:, :H])
    z = sigmoid(gi[:, H:2 * H] + gh_rz[:, H:2 * H])
    if variant == "pytorch":
        hn = h @ w_hh[2 * H:].T + b_hh[2 * H:]  # W_hn h + b_hn
        n = np.tanh(gi[:, 2 * H:] + r * hn)
        step.update(hn=hn)
    else:  # textbook
        rh = r * h
        n = np.tanh(gi[:, 2 * H:] + rh @ w_hh[2 * H:].T + b_hh[2 * H:])
        step.update(rh=rh)
    h_new = (1.0 - z) * n + z * h
    step.update(r=r, z=z, n=n)
    return h_new, None, step


def _cell_backward(mode, variant, W, step, dh_new, dc_new, grads):
    """Back-propagate one step: given dL/dh_new (and dL/dc_new), return ``(dx, dh, dc)``.

    Weight gradients are ACCUMULATED into ``grads`` (same short keys as ``W``).  Everything is
    linear in (dh_new, dc_new), so rows whose upstream gradient is zero contribute nothing.

    Each branch computes ``da_i`` = dL/d(gi) and ``da_h`` = dL/d(gh) (both (B, G*H)) plus any
    gradient reaching ``h`` other than through ``gh``; the common tail turns them into weight,
    input and state gradients.
    """
    x, h = step["x"], step["h"]
    dc = None
    dh_other = 0.0  # dL/dh by paths other than gh = W_hh h + b_hh
    if mode in ("rnn_tanh", "rnn_relu"):
        if mode == "rnn_tanh":
            da = dh_new * (1.0 - step["h_new"] ** 2)
        else:
            da = dh_new * (step["a"] > 0.0)
        da_i = da_h = da  # a = gi + gh
    elif mode == "lstm":
        i, f, g, o, tc, m, c = (step[k] for k in ("i", "f", "g", "o", "tc", "m", "c"))
        if "w_hr" in W:  # h_new = m @ W_hr^T
            grads["w_hr"] += dh_new.T @ m
            dm = dh_new @ W["w_hr"]
        else:
            dm = dh_new
        do = dm * tc
        dc_total = dc_new + dm * o * (1.0 - tc ** 2)  # c_new reaches the loss directly and via m
        di = dc_total * g
        df = dc_total * c
        dg = dc_total * i
        dc = dc_total * f
        da = np.concatenate([di * i * (1.0 - i), df * f * (1.0 - f), dg * (1.0 - g ** 2), do * o * (1.0 - o)],
                            axis=1)
        da_i = da_h = da  # gates = gi + gh
    else:  # gru
        H = W["w_hh"].shape[0] // 3
        r, z, n = step["r"], step["z"], step["n"]
        dn = dh_new * (1.0 - z)
        dz = dh_new * (h - n)
        dh_other = dh_new * z  # through h' = (1-z)*n + z*h
        dan = dn * (1.0 - n ** 2)  # dL/d(pre-activation of n)
        if variant == "pytorch":
            # pre_n = gi_n + r * hn,  hn = W_hn h + b_hn  (the n block of gh)
            dr = dan * step["hn"]
            dgh_n = dan * r
        else:
            # pre_n = gi_n + W_hn (r*h) + b_hn: the n rows of W_hh see r*h, not h, so they are
            # handled here and the n block of da_h is left zero for the common tail.
            grads["w_hh"][2 * H:] += dan.T @ step["rh"]
            grads["b_hh"][2 * H:] += dan.sum(axis=0)
            drh = dan @ W["w_hh"][2 * H:]  # dL/d(r*h)
            dr = drh * h
            dh_other = dh_other + drh * r
            dgh_n = np.zeros_like(dan)
        dar = dr * r * (1.0 - r)
        daz = dz * z * (1.0 - z)
        da_i = np.concatenate([dar, daz, dan], axis=1)
        da_h = np.concatenate([dar, daz, dgh_n], axis=1)
    grads["w_ih"] += da_i.T @ x
    grads["b_ih"] += da_i.sum(axis=0)
    grads["w_hh"] += da_h.T @ h
    grads["b_hh"] += da_h.sum(axis=0)
    return da_i @ W["w_ih"], dh_other + da_h @ W["w_hh"], dc


# ---------------------------------------------------------------------------
# The network
# ---------------------------------------------------------------------------

_SHORT = {"weight_ih": "w_ih", "weight_hh": "w_hh", "bias_ih": "b_ih", "bias_hh": "b_hh", "weight_hr": "w_hr"}


def _layer_weights(weights, k, d):
    s = f"_l{k}{_suffix(d)}"
    return {short: weights[long + s] for long, short in _SHORT.items() if long + s in weights}


def _time_order(T, direction):
    return range(T) if direction == 0 else range(T - 1, -1, -1)


def forward(mode, x, weights, *, num_layers=None, bidirectional=False, h0=None, c0=None, lengths=None,
            batch_first=True, dropout=0.0, seed=0, gru_variant="pytorch"):
    """Run the network; returns ``(y, h_n, c_n, cache)`` (``c_n`` is None unless lstm).

    ``num_layers`` defaults to the number of layers found in ``weights`` and must match it when
    given.  ``cache`` holds everything :func:`backward` needs.
    """
    G = gate_count(mode)
    if gru_variant not in GRU_VARIANTS:
        raise ValueError(f"unknown gru_variant {gru_variant!r}; expected one of {GRU_VARIANTS}")
    found = 0
    while f"weight_ih_l{found}" in weights:
        found += 1
    if num_layers is None:
        num_layers = found
    if num_layers < 1 or num_layers != found:
        raise ValueError(f"num_layers={num_layers} but the weights have {found} layers")
    if bidirectional != ("weight_ih_l0_reverse" in weights):
        raise ValueError("bidirectional does not match the presence of *_reverse weights")
    D, H, P = sizes_from_weights(mode, weights)
    H_out = P if P > 0 else H
    dirs = 2 if bidirectional else 1
    L = num_layers
    for name, w in weights.items():
        if w.dtype != np.float64:
            raise TypeError(f"{name} must be float64, got {w.dtype}")
    expected = set(weight_names(mode, L, bidirectional, P))
    if set(weights) != expected:
        raise ValueError(f"weight names differ from the expected: {sorted(set(weights) ^ expected)}")
    for k in range(L):
        d_in = D if k == 0 else H_out * dirs
        for d in range(dirs):
            W = _layer_weights(weights, k, d)
            want = {"w_ih": (G * H, d_in), "w_hh": (G * H, H_out), "b_ih": (G * H,), "b_hh": (G * H,)}
            if P > 0:
                want["w_hr"] = (P, H)
            for key, shape in want.items():
                if W[key].shape != shape:
                    raise ValueError(f"layer {k} dir {d} {key}: shape {W[key].shape}, expected {shape}")

    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 3:
        raise ValueError(f"x must be 3-D, got shape {x.shape}")
    xb = x if batch_first else x.transpose(1, 0, 2)  # work batch-first throughout
    B, T, D_x = xb.shape
    if D_x != D:
        raise ValueError(f"x has {D_x} features, weights expect {D}")
    if lengths is None:
        lengths = np.full(B, T, dtype=np.int64)
    lengths = np.asarray(lengths)
    if lengths.shape != (B,) or not np.issubdtype(lengths.dtype, np.integer):
        raise ValueError(f"lengths must be {B} integers, got {lengths!r}")
    if lengths.min(initial=T) < 1 or lengths.max(initial=1) > T:
        raise ValueError(f"lengths must be in 1..{T}, got {lengths}")
    valid = np.arange(T)[None, :] < lengths[:, None]  # (B, T) bool
    h0 = np.zeros((L * dirs, B, H_out)) if h0 is None else np.asarray(h0, dtype=np.float64)
    if h0.shape != (L * dirs, B, H_out):
        raise ValueError(f"h0 has shape {h0.shape}, expected {(L * dirs, B, H_out)}")
    if mode == "lstm":
        c0 = np.zeros((L * dirs, B, H)) if c0 is None else np.asarray(c0, dtype=np.float64)
        if c0.shape != (L * dirs, B, H):
            raise ValueError(f"c0 has shape {c0.shape}, expected {(L * dirs, B, H)}")
    elif c0 is not None:
        raise ValueError("c0 is only valid for lstm")

    h_n = np.zeros((L * dirs, B, H_out))
    c_n = np.zeros((L * dirs, B, H)) if mode == "lstm" else None
    layer_caches = []
    inp = xb
    for k in range(L):
        out = np.zeros((B, T, dirs * H_out))
        dir_caches = []
        for d in range(dirs):
            W = _layer_weights(weights, k, d)
            idx = k * dirs + d
            h = h0[idx]
            c = c0[idx] if mode == "lstm" else None
            steps = {}
            for t in _time_order(T, d):
                h_new, c_new, step = _cell_forward(mode, gru_variant, W, inp[:, t], h, c)
                steps[t] = step
                v = valid[:, t][:, None]
                out[:, t, d * H_out:(d + 1) * H_out] = np.where(v, h_new, 0.0)
                # Rows past their length keep their state (frozen); the reverse direction thus
                # starts from h0 at each row's own last valid step.
                h = np.where(v, h_new, h)
                if mode == "lstm":
                    c = np.where(v, c_new, c)
            h_n[idx] = h
            if mode == "lstm":
                c_n[idx] = c
            dir_caches.append({"W": W, "steps": steps})
        mask = None
        if k < L - 1 and dropout > 0.0:
            mask = dropout_mask(seed, k, B, T, dirs * H_out, dropout)
            out = out * mask
        layer_caches.append({"dirs": dir_caches, "mask": mask})
        inp = out
    y = inp if batch_first else inp.transpose(1, 0, 2)
    cache = {"mode": mode, "gru_variant": gru_variant, "L": L, "dirs": dirs, "B": B, "T": T, "H": H,
             "H_out": H_out, "P": P, "valid": valid, "batch_first": batch_first, "layers": layer_caches,
             "weight_names": list(weights)}
    return y, h_n, c_n, cache


def backward(cache, dy, dh_n=None, dc_n=None):
    """Gradients of a scalar loss given dL/dy (and optionally dL/dh_n, dL/dc_n).

    Returns a dict with ``"x"`` (layout of the input), ``"h0"``, ``"c0"`` (lstm only) and one entry
    per weight name of the input dict.  ``dy`` at padding positions is ignored.
    """
    mode, variant = cache["mode"], cache["gru_variant"]
    L, dirs, B, T, H, H_out = (cache[k] for k in ("L", "dirs", "B", "T", "H", "H_out"))
    valid = cache["valid"]
    lstm = mode == "lstm"
    dy = np.asarray(dy, dtype=np.float64)
    dyb = dy if cache["batch_first"] else dy.transpose(1, 0, 2)
    if dyb.shape != (B, T, dirs * H_out):
        raise ValueError(f"dy has shape {dy.shape}, expected the shape of y")
    dh_n = np.zeros((L * dirs, B, H_out)) if dh_n is None else np.asarray(dh_n, dtype=np.float64)
    if lstm:
        dc_n = np.zeros((L * dirs, B, H)) if dc_n is None else np.asarray(dc_n, dtype=np.float64)
    elif dc_n is not None:
        raise ValueError("dc_n is only valid for lstm")

    grads = {}
    dh0 = np.zeros((L * dirs, B, H_out))
    dc0 = np.zeros((L * dirs, B, H)) if lstm else None
    d_out = dyb  # gradient w.r.t. the current layer's (post-dropout) output
    for k in reversed(range(L)):
        layer = cache["layers"][k]
        if layer["mask"] is not None:
            d_out = d_out * layer["mask"]
        d_in = np.zeros((B, T, layer["dirs"][0]["W"]["w_ih"].shape[1]))  # dL/d(this layer's input)
        for d in range(dirs):
            W = layer["dirs"][d]["W"]
            steps = layer["dirs"][d]["steps"]
            g = {key: np.zeros_like(w) for key, w in W.items()}
            idx = k * dirs + d
            dh = dh_n[idx].copy()  # gradient w.r.t. the carried state after the current step
            dc = dc_n[idx].copy() if lstm else None
            for t in reversed(list(_time_order(T, d))):  # processing order, backwards
                v = valid[:, t][:, None]
                # Valid rows: h_new feeds the output y_t and the carried state.  Padded rows: the
                # state passed through unchanged and y_t is a constant 0.
                dh_cell = np.where(v, dh + d_out[:, t, d * H_out:(d + 1) * H_out], 0.0)
                dc_cell = np.where(v, dc, 0.0) if lstm else None
                dx_t, dh_prev, dc_prev = _cell_backward(mode, variant, W, steps[t], dh_cell, dc_cell, g)
                dh = dh_prev + np.where(v, 0.0, dh)
                if lstm:
                    dc = dc_prev + np.where(v, 0.0, dc)
                d_in[:, t] += dx_t
            dh0[idx] = dh
            if lstm:
                dc0[idx] = dc
            s = f"_l{k}{_suffix(d)}"
            for long, short in _SHORT.items():
                if short in g:
                    grads[long + s] = g[short]
        d_out = d_in
    result = {"x": d_out if cache["batch_first"] else d_out.transpose(1, 0, 2), "h0": dh0}
    if lstm:
        result["c0"] = dc0
    for name in cache["weight_names"]:
        result[name] = grads[name]
    return result


# ---------------------------------------------------------------------------
# A scalar test loss
# ---------------------------------------------------------------------------


def linear_loss(y, h_n, c_n, Wy, Wh, Wc=None):
    """``(loss, dy, dh_n, dc_n)`` for ``loss = sum(y*Wy) + sum(h_n*Wh) + sum(c_n*Wc)``.

    ``c_n``/``Wc`` may be None (non-lstm); then ``dc_n`` is None.
    """
    loss = float(np.sum(y * Wy) + np.sum(h_n * Wh))
    if c_n is not None:
        loss += float(np.sum(c_n * Wc))
    return loss, Wy, Wh, (Wc if c_n is not None else None)
