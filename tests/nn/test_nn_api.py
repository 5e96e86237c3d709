"""The public API of seqfast.nn: caches and defaults, non-contiguous and strided inputs (NumPy
views read in place, bit for bit what contiguous copies give), outputs and gradients written into
the caller's arrays, returned outputs that may be changed freely, bias-free weights, and the
module classes' state dicts. Numerical agreement with the references is in
test_nn_reference_*.py, bad input in test_nn_errors.py."""

from __future__ import annotations

import numpy as np
import pytest

import seqfast
import seqfast.nn as snn
from seqfast import ShapeError

from _nn_cases import close, make_case, rand
from reference import attention as R


def test_changing_the_returned_output_does_not_change_gradients():
    rng = np.random.default_rng(13)
    q, k, v = rand(rng, (1, 2, 9, 4)), rand(rng, (1, 2, 9, 4)), rand(rng, (1, 2, 9, 3))
    dout = rand(rng, (1, 2, 9, 3))
    out, cache = snn.attention_forward(q, k, v)
    want = snn.attention_backward(cache, dout)
    out += 100.0  # e.g. a residual added in place
    for a, b in zip(want, snn.attention_backward(cache, dout)):
        assert np.array_equal(a, b)
    ctx, lcache = snn.luong_attention_forward(q[:, 0], k[:, 0], v[:, 0])
    want = snn.luong_attention_backward(lcache, dout[:, 0])
    ctx *= 3.0
    for a, b in zip(want[:3], snn.luong_attention_backward(lcache, dout[:, 0])[:3]):
        assert np.array_equal(a, b)


def test_noncontiguous_inputs_and_no_grad():
    rng = np.random.default_rng(4)
    q = rand(rng, (2, 9, 3, 4)).transpose(0, 2, 1, 3)
    k = rand(rng, (2, 3, 4, 11)).transpose(0, 1, 3, 2)
    v = rand(rng, (2, 3, 11, 5))
    out, cache = snn.attention_forward(q, k, v, requires_grad=False)
    assert cache is None
    close("out", out, R.sdpa_forward(q, k, v), np.float64)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_strided_views_equal_contiguous_copies_exactly(dtype):
    """The kernel reads views in place (heads of a (B, T, H d) array, transposed keys, a strided
    feature axis that the binding copies, negative strides, a broadcast mask): bit for bit the
    results of contiguous copies, forward and backward."""
    rng = np.random.default_rng(12)
    b, h, tq, tk, d = 2, 3, 70, 130, 8
    q = rand(rng, (b, tq, h * d), dtype).reshape(b, tq, h, d).transpose(0, 2, 1, 3)  # head-interleaved
    k = rand(rng, (b, h, d, tk), dtype).transpose(0, 1, 3, 2)  # strided feature axis: copied
    v = rand(rng, (b, h, tk, 2 * d), dtype)[..., ::-1][..., :d]  # negative strides: copied
    mask = np.broadcast_to(rng.random((1, 1, tq, tk)) < 0.8, (b, h, tq, tk))
    dout = rand(rng, (b, tq, h, d), dtype).transpose(0, 2, 1, 3)
    opts = dict(causal=True, mask=mask, dropout=0.2, seed=3, lengths=[tk, 77])
    out, cache = snn.attention_forward(q, k, v, **opts)
    grads = snn.attention_backward(cache, dout)
    c = np.ascontiguousarray
    want, cache_c = snn.attention_forward(c(q), c(k), c(v), **dict(opts, mask=c(mask)))
    for name, got, w in zip(("out", "dq", "dk", "dv"), (out,) + grads, (want,) + snn.attention_backward(cache_c, c(dout))):
        assert got.shape == w.shape, name
        assert np.array_equal(got, w), name


def test_core_writes_into_given_views():
    """``out=`` and ``grads=`` of the binding: results land in the caller's (strided) arrays."""
    from seqfast import _attention as A
    from seqfast import _core

    rng = np.random.default_rng(13)
    b, t, h, d = 2, 9, 4, 3
    q, k, v = (rand(rng, (b, t, h * d)) for _ in range(3))
    heads = [A._heads(x, h) for x in (q, k, v)]
    opts = A._sdpa_options(0.5, False, 0.0, 0, 1)
    want, lse = _core.sdpa_forward(*[np.ascontiguousarray(x) for x in heads], A._masks(None, None), opts)
    res = np.full((b, t, h * d), np.nan)
    got, lse2 = _core.sdpa_forward(*heads, A._masks(None, None), opts, out=A._heads(res, h))
    assert got.base is not None and np.shares_memory(got, res)
    assert np.array_equal(A._heads(res, h), want) and np.array_equal(lse, lse2)
    dout = rand(rng, (b, h, t, d))
    gq, gk, gv = _core.sdpa_backward(*heads, (want, lse, dout), A._masks(None, None), opts)
    dst = [np.full((b, t, h * d), np.nan) for _ in range(3)]
    _core.sdpa_backward(*heads, (want, lse, dout), A._masks(None, None), opts, grads=tuple(A._heads(x, h) for x in dst))
    for g, x in zip((gq, gk, gv), dst):
        assert np.array_equal(A._heads(x, h), g)
    overlapping = np.lib.stride_tricks.as_strided(res, shape=(b, h, t, d), strides=(8, 8, 8, 8))
    with pytest.raises(ShapeError, match="overlapping rows"):
        _core.sdpa_forward(*heads, A._masks(None, None), opts, out=overlapping)


def test_no_cache_without_grad_and_defaults():
    case = make_case("rnn_tanh", 0, L=1, bidir=False, lengths=False)
    y, hn, cache = snn.rnn_forward(case["x"], case["w"], requires_grad=False)
    assert cache is None
    y2, hn2, _ = snn.rnn_forward(case["x"], case["w"], np.zeros_like(case["h0"]))
    assert np.array_equal(y, y2) and np.array_equal(hn, hn2)
    dx, dh0, dw = snn.rnn_backward(snn.rnn_forward(case["x"], case["w"])[2], None, case["dhn"])
    assert dx.shape == case["x"].shape and dh0.shape == case["h0"].shape


def test_no_bias_weights():
    case = make_case("lstm", 0, L=1, bidir=False, lengths=False)
    w = {k: v for k, v in case["w"].items() if not k.startswith("bias")}
    zero = dict(w, bias_ih_l0=np.zeros(24), bias_hh_l0=np.zeros(24))
    y, _, _, cache = snn.lstm_forward(case["x"], w)
    y0 = snn.lstm_forward(case["x"], zero)[0]
    assert np.array_equal(y, y0)
    assert set(snn.lstm_backward(cache, case["dy"][..., :6])[3]) == set(w)


def test_non_contiguous_inputs_are_accepted():
    case = make_case("lstm", 0, L=1, bidir=False, lengths=False)
    xf = np.asfortranarray(case["x"])
    w = {k: np.asfortranarray(v) for k, v in case["w"].items()}
    a = snn.lstm_forward(case["x"], case["w"])[0]
    b = snn.lstm_forward(xf, w)[0]
    c = snn.lstm_forward(np.repeat(case["x"], 2, axis=2)[:, :, ::2], case["w"])[0]
    assert np.array_equal(a, b) and np.array_equal(a, c)


def test_classes_roundtrip_state_dict_and_match_functional():
    m = snn.LSTM(5, 7, num_layers=2, bidirectional=True, proj_size=3, dtype=np.float64, seed=1)
    sd = m.to_state_dict()
    m2 = snn.LSTM.from_torch_state_dict(sd)
    assert m2.num_layers == 2 and m2.bidirectional and m2.proj_size == 3 and m2.hidden_size == 7
    x = np.random.default_rng(0).standard_normal((2, 4, 5))
    y, (hn, cn) = m(x)
    y2, hn2, cn2, _ = snn.lstm_forward(x, sd)
    assert np.array_equal(y, y2) and np.array_equal(hn, hn2) and np.array_equal(cn, cn2)
    dx = m.backward(np.ones_like(y))
    assert dx.shape == x.shape and set(m.grads) == set(sd)
    g = snn.GRU(3, 4, variant="textbook", dtype=np.float32)
    yg, hg = g(np.zeros((1, 2, 3), np.float32))
    assert yg.shape == (1, 2, 4) and g.backward(np.ones_like(yg)).shape == (1, 2, 3)
    r = snn.RNN(3, 4, nonlinearity="relu", bias=False)
    assert sorted(r.parameters()) == ["weight_hh_l0", "weight_ih_l0"]
    with pytest.raises(seqfast.SeqfastError, match="backward needs a forward pass"):
        snn.RNN(3, 4).backward(np.zeros((1, 1, 4), np.float32))
    with pytest.raises(seqfast.SeqfastError, match="proj_size"):
        snn.GRU(3, 4, proj_size=2)
