"""Inputs, weights and comparisons shared by the tests/nn/ files (recurrent and attention):
``make_case`` / ``run_seqfast`` / ``CELLS`` for RNN, LSTM and GRU; ``rand`` / ``mha_weights`` /
``close`` / ``TOL`` for attention."""

from __future__ import annotations

import numpy as np

import seqfast.nn as snn

from reference import rnn as R

# ---------------------------------------------------------------------------------- recurrent
CELLS = [("rnn_tanh", "pytorch", 0), ("rnn_relu", "pytorch", 0), ("lstm", "pytorch", 0), ("lstm", "pytorch", 2),
         ("gru", "pytorch", 0), ("gru", "textbook", 0)]
IDS = ["rnn_tanh", "rnn_relu", "lstm", "lstm_proj", "gru", "gru_textbook"]


def run_seqfast(mode, variant, x, w, h0, c0, lengths, dy, dhn, dcn, *, batch_first=True, dropout=0.0, seed=0, num_threads=None):
    """Forward + backward through seqfast's functional API; returns (y, h_n, c_n, grads dict)."""
    kw = dict(batch_first=batch_first, dropout=dropout, seed=seed, num_threads=num_threads)
    if mode == "lstm":
        y, hn, cn, cache = snn.lstm_forward(x, w, h0, c0, lengths, **kw)
        dx, dh0, dc0, dw = snn.lstm_backward(cache, dy, dhn, dcn, num_threads=num_threads)
    elif mode == "gru":
        y, hn, cache = snn.gru_forward(x, w, h0, lengths, variant=variant, **kw)
        dx, dh0, dw = snn.gru_backward(cache, dy, dhn, num_threads=num_threads)
        cn = dc0 = None
    else:
        y, hn, cache = snn.rnn_forward(x, w, h0, lengths, nonlinearity=mode[4:], **kw)
        dx, dh0, dw = snn.rnn_backward(cache, dy, dhn, num_threads=num_threads)
        cn = dc0 = None
    g = dict(dw, x=dx, h0=dh0)
    if dc0 is not None:
        g["c0"] = dc0
    return y, hn, cn, g


def make_case(mode, proj, *, B=3, T=5, D=4, H=6, L=2, bidir=True, lengths=True, batch_first=True, seed=0):
    rng = np.random.default_rng(seed)
    w = R.init_weights(mode, D, H, L, bidir, proj_size=proj, rng=rng)
    x = rng.standard_normal((B, T, D) if batch_first else (T, B, D))
    ln = rng.integers(1, T + 1, size=B) if lengths else None
    if lengths:
        ln[rng.integers(B)] = T
    dirs, hout = (2 if bidir else 1), (proj or H)
    h0 = rng.standard_normal((L * dirs, B, hout))
    c0 = rng.standard_normal((L * dirs, B, H)) if mode == "lstm" else None
    ybox = ((B, T) if batch_first else (T, B)) + (dirs * hout,)
    dy = rng.standard_normal(ybox)
    dhn = rng.standard_normal(h0.shape)
    dcn = rng.standard_normal(c0.shape) if c0 is not None else None
    return dict(x=x, w=w, h0=h0, c0=c0, lengths=ln, dy=dy, dhn=dhn, dcn=dcn, L=L, bidir=bidir, batch_first=batch_first)


# ---------------------------------------------------------------------------------- attention
TOL = {np.float64: 1e-11, np.float32: 3e-5}


def close(name, got, want, dtype):
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    assert got.shape == want.shape, f"{name}: shape {got.shape} vs {want.shape}"
    scale = max(1.0, float(np.abs(want).max(initial=0.0)))
    err = float(np.abs(got - want).max(initial=0.0))
    assert err <= TOL[dtype] * scale, f"{name}: max error {err:.3g} (scale {scale:.3g})"


def rand(rng, shape, dtype=np.float64, s=1.0):
    return (rng.standard_normal(shape) * s).astype(dtype)


def mha_weights(rng, e, dtype, in_bias=True, out_bias=True):
    w = {"in_proj_weight": rand(rng, (3 * e, e), dtype, 0.3), "out_proj.weight": rand(rng, (e, e), dtype, 0.3)}
    if in_bias:
        w["in_proj_bias"] = rand(rng, (3 * e,), dtype, 0.1)
    if out_bias:
        w["out_proj.bias"] = rand(rng, (e,), dtype, 0.1)
    return w
