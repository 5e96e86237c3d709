"""seqfast.nn attention (scaled dot-product, multi-head, additive, Luong) against the float64 NumPy
reference in tests/reference/attention.py (itself checked by finite differences and against torch
in test_reference_attention.py), plus thread-count and SIMD-level invariance and fully masked rows (bad input:
test_nn_errors.py; torch directly: test_nn_parity_torch.py).

float64 must agree with the reference to ~1e-11 and float32 to ~2e-5 (relative to the largest
value of each array). Shapes are chosen to cross the kernel's block edges (60 queries x 128 keys)
and its 6-row micro-kernel groups.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import seqfast.nn as snn

from _nn_cases import close, mha_weights, rand
from reference import attention as R


# ---------------------------------------------------------------------------
# Scaled dot-product attention
# ---------------------------------------------------------------------------


def sdpa_case(dtype, lead, tq, tk, d, dv, data_seed=0, **opts):
    rng = np.random.default_rng(data_seed)
    q, k, v = rand(rng, lead + (tq, d), dtype), rand(rng, lead + (tk, d), dtype), rand(rng, lead + (tk, dv), dtype)
    dout = rand(rng, lead + (tq, dv), dtype)
    out, cache = snn.attention_forward(q, k, v, **opts)
    dq, dk, dvv = snn.attention_backward(cache, dout)
    r64 = [x.astype(np.float64) for x in (q, k, v)]
    ropts = {key: val for key, val in opts.items() if key != "num_threads"}
    want = R.sdpa_forward(*r64, **ropts)
    wq, wk, wv = R.sdpa_backward(*r64, dout.astype(np.float64), **ropts)
    for name, g, w in (("out", out, want), ("dq", dq, wq), ("dk", dk, wk), ("dv", dvv, wv)):
        assert g.dtype == dtype
        close(name, g, w, dtype)
    return out, (dq, dk, dvv)


SDPA_CASES = {
    "plain": dict(lead=(2, 3), tq=70, tk=70, d=16, dv=16),
    "blocks": dict(lead=(1, 2), tq=130, tk=260, d=8, dv=12),
    "causal": dict(lead=(2, 2), tq=131, tk=131, d=8, dv=8, causal=True),
    "causal_cross_short_keys": dict(lead=(1, 2), tq=150, tk=70, d=8, dv=8, causal=True),
    "causal_cross_long_keys": dict(lead=(1, 2), tq=70, tk=150, d=8, dv=8, causal=True),
    "lengths": dict(lead=(3, 2), tq=65, tk=140, d=8, dv=8, lengths=[140, 0, 37]),
    "mask_4d_broadcast": dict(lead=(2, 3), tq=20, tk=30, d=4, dv=5, mask="b1"),
    "mask_2d": dict(lead=(2, 2), tq=20, tk=30, d=4, dv=5, mask="2d"),
    "mask_causal_lengths": dict(lead=(2, 2), tq=70, tk=70, d=4, dv=5, mask="full", causal=True, lengths=[50, 70]),
    "dropout": dict(lead=(2, 2), tq=70, tk=140, d=8, dv=8, dropout=0.3, seed=11),
    "dropout_causal_lengths": dict(lead=(2, 1), tq=70, tk=70, d=8, dv=8, dropout=0.1, seed=5, causal=True, lengths=[70, 9]),
    "3d": dict(lead=(3,), tq=17, tk=23, d=5, dv=7, causal=True),
    "scale": dict(lead=(1, 1), tq=9, tk=9, d=3, dv=3, scale=-0.7),
    "one_token": dict(lead=(1, 1), tq=1, tk=1, d=1, dv=1),
}


def make_mask(kind, lead, tq, tk, seed=3):
    rng = np.random.default_rng(seed)
    if kind == "2d":
        return rng.random((tq, tk)) < 0.7
    if kind == "b1":
        m = rng.random((lead[0], 1, tq, tk)) < 0.7
        m[0, 0, 3] = False  # a fully masked row
        return m
    return rng.random(lead + (tq, tk)) < 0.8


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("case", list(SDPA_CASES), ids=list(SDPA_CASES))
def test_sdpa_matches_reference(case, dtype):
    c = dict(SDPA_CASES[case])
    lead, tq, tk, d, dv = c.pop("lead"), c.pop("tq"), c.pop("tk"), c.pop("d"), c.pop("dv")
    if "mask" in c:
        c["mask"] = make_mask(c["mask"], lead, tq, tk)
    if "lengths" in c:
        c["lengths"] = np.array(c["lengths"])
    sdpa_case(dtype, lead, tq, tk, d, dv, **c)


def test_worked_example():
    # q . k1 = 112, q . k2 = 96, d = 64: scaled 14 and 12, weights 0.88 and 0.12.
    q = np.zeros((1, 1, 64))
    q[0, 0, 0] = 1.0
    k = np.zeros((1, 2, 64))
    k[0, 0, 0], k[0, 1, 0] = 112.0, 96.0
    out, _ = snn.attention_forward(q, k, np.eye(2)[None])
    assert np.round(out[0, 0], 2).tolist() == [0.88, 0.12]
    assert out[0, 0, 0] == pytest.approx(1 / (1 + np.exp(-2)), rel=1e-15)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(b=st.integers(1, 2), h=st.integers(1, 3), tq=st.integers(1, 70), tk=st.integers(1, 140), d=st.integers(1, 9),
       dv=st.integers(1, 9), causal=st.booleans(), use_len=st.booleans(), use_mask=st.booleans(),
       dropout=st.sampled_from([0.0, 0.0, 0.2]), seed=st.integers(0, 2**64 - 1))
def test_sdpa_property(b, h, tq, tk, d, dv, causal, use_len, use_mask, dropout, seed):
    rng = np.random.default_rng(seed % 1000)
    opts = dict(causal=causal, dropout=dropout, seed=seed)
    if use_len:
        opts["lengths"] = rng.integers(0, tk + 1, size=b)
    if use_mask:
        opts["mask"] = rng.random((b, 1, tq, tk)) < 0.6
    sdpa_case(np.float64, (b, h), tq, tk, d, dv, data_seed=seed % 1000, **opts)


def test_fully_masked_rows_are_zero_without_nan():
    rng = np.random.default_rng(1)
    q, k, v = rand(rng, (2, 2, 5, 4)), rand(rng, (2, 2, 6, 4)), rand(rng, (2, 2, 6, 3))
    mask = np.ones((2, 2, 5, 6), bool)
    mask[1, 0, 2] = False
    out, cache = snn.attention_forward(q, k, v, lengths=np.array([0, 6]), mask=mask)
    assert np.all(out[0] == 0) and np.all(out[1, 0, 2] == 0) and not np.isnan(out).any()
    dq, dk, dv = snn.attention_backward(cache, np.ones_like(out))
    assert np.all(dq[0] == 0) and np.all(dk[0] == 0) and np.all(dv[0] == 0)
    assert np.all(dq[1, 0, 2] == 0) and not np.isnan(dq).any()


@pytest.mark.parametrize("opts", [dict(), dict(causal=True), dict(dropout=0.2, seed=3, lengths=np.array([100, 3]))])
def test_sdpa_identical_for_any_thread_count_and_simd_level(opts):
    rng = np.random.default_rng(2)
    # B*H = 2 heads: the backward splits keys into chunks whose dQ parts are summed in order.
    q, k, v = rand(rng, (2, 1, 130, 16), np.float32), rand(rng, (2, 1, 300, 16), np.float32), rand(rng, (2, 1, 300, 8), np.float32)
    dout = rand(rng, (2, 1, 130, 8), np.float32)
    runs = []
    for nt in (1, 2, 3):
        out, cache = snn.attention_forward(q, k, v, num_threads=nt, **opts)
        runs.append((out,) + snn.attention_backward(cache, dout, num_threads=nt))
    for r in runs[1:]:
        for a, b in zip(runs[0], r):
            assert np.array_equal(a, b)
    level = snn.simd_level()
    try:
        snn.simd_level("scalar")
        out, cache = snn.attention_forward(q, k, v, **opts)
        scalar = (out,) + snn.attention_backward(cache, dout)
    finally:
        snn.simd_level(level)
    for name, a, b in zip(("out", "dq", "dk", "dv"), runs[0], scalar):
        close(name, a, b, np.float32)


def test_dropout_depends_on_seed_and_keeps_expectation():
    rng = np.random.default_rng(5)
    q, k, v = rand(rng, (1, 1, 8, 4)), rand(rng, (1, 1, 64, 4)), rand(rng, (1, 1, 64, 3))
    a, _ = snn.attention_forward(q, k, v, dropout=0.5, seed=1)
    b, _ = snn.attention_forward(q, k, v, dropout=0.5, seed=2)
    c, _ = snn.attention_forward(q, k, v, dropout=0.5, seed=1)
    assert not np.allclose(a, b) and np.array_equal(a, c)


# ---------------------------------------------------------------------------
# Multi-head attention
# ---------------------------------------------------------------------------


MHA_CASES = {
    "self": dict(),
    "cross_causal": dict(tk=9, causal=True),
    "time_major_no_bias": dict(batch_first=False, in_bias=False, out_bias=False),
    "lengths_mask_dropout": dict(tk=9, lengths=[9, 4], mask="4d", dropout=0.25, seed=9),
    "mask_3d": dict(mask="3d"),
}


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("case", list(MHA_CASES), ids=list(MHA_CASES))
def test_mha_matches_reference(case, dtype):
    c = dict(MHA_CASES[case])
    rng = np.random.default_rng(6)
    b, tq, e, heads = 2, 7, 12, 3
    tk = c.pop("tk", tq)
    bf = c.get("batch_first", True)
    w = mha_weights(rng, e, dtype, c.pop("in_bias", True), c.pop("out_bias", True))
    query = rand(rng, (b, tq, e) if bf else (tq, b, e), dtype)
    key = query if tk == tq and case != "mask_3d" else rand(rng, (b, tk, e) if bf else (tk, b, e), dtype)
    value = key if key is query else rand(rng, key.shape, dtype)
    if "mask" in c:
        c["mask"] = rng.random((b, heads, tq, tk) if c["mask"] == "4d" else (b, tq, tk)) < 0.7
    if "lengths" in c:
        c["lengths"] = np.array(c["lengths"])
    out, cache = snn.mha_forward(query, key, value, w, heads, **c)
    dout = rand(rng, out.shape, dtype)
    dqy, dky, dvy, dw = snn.mha_backward(cache, dout)
    w64 = {n: a.astype(np.float64) for n, a in w.items()}
    args = [x.astype(np.float64) for x in (query, key, value)]
    close("out", out, R.mha_forward(*args, w64, heads, **c), dtype)
    rq, rk, rv, rw = R.mha_backward(*args, w64, heads, dout.astype(np.float64), **c)
    close("dquery", dqy, rq, dtype)
    close("dkey", dky, rk, dtype)
    close("dvalue", dvy, rv, dtype)
    assert set(dw) == set(w)
    for n in w:
        close(n, dw[n], rw[n], dtype)


def test_mha_identical_for_any_thread_count():
    rng = np.random.default_rng(12)
    x = rand(rng, (3, 70, 24), np.float32)
    w = mha_weights(rng, 24, np.float32)
    dout = rand(rng, (3, 70, 24), np.float32)
    runs = []
    for nt in (1, 2):
        out, cache = snn.mha_forward(x, x, x, w, 4, causal=True, dropout=0.1, seed=4, num_threads=nt)
        dq, dk, dv, dw = snn.mha_backward(cache, dout, num_threads=nt)
        runs.append([out, dq, dk, dv] + [dw[n] for n in sorted(dw)])
    for a, b in zip(*runs):
        assert np.array_equal(a, b)


# ---------------------------------------------------------------------------
# Additive and Luong attention
# ---------------------------------------------------------------------------


RNN_CASES = {
    "3d_values": dict(values=True),
    "3d_keys_as_values": dict(),
    "step_2d_query": dict(step=True),
    "masks": dict(values=True, lengths=[6, 0, 3], mask=True),
    "step_masks": dict(step=True, lengths=[6, 2, 5], mask=True),
}


def rnn_inputs(case, dtype, seed=7):
    c = dict(RNN_CASES[case])
    rng = np.random.default_rng(seed)
    b, tq, tk, dq, dk, dv = 3, 5, 6, 4, 7, 3
    query = rand(rng, (b, dq) if c.get("step") else (b, tq, dq), dtype)
    keys = rand(rng, (b, tk, dk), dtype)
    values = rand(rng, (b, tk, dv), dtype) if c.get("values") else None
    opts = {}
    if "lengths" in c:
        opts["lengths"] = np.array(c["lengths"])
    if c.get("mask"):
        opts["mask"] = rng.random((b, tk) if c.get("step") else (b, tq, tk)) < 0.7
    return rng, query, keys, values, opts


def f64(x):
    return None if x is None else x.astype(np.float64)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("case", list(RNN_CASES), ids=list(RNN_CASES))
def test_additive_matches_reference(case, bias, dtype):
    rng, query, keys, values, opts = rnn_inputs(case, dtype)
    da = 5
    w = {"w_q": rand(rng, (da, query.shape[-1]), dtype, 0.5), "w_k": rand(rng, (da, keys.shape[-1]), dtype, 0.5),
         "v": rand(rng, (da,), dtype)}
    if bias:
        w["bias"] = rand(rng, (da,), dtype, 0.3)
    ctx, cache = snn.additive_attention_forward(query, keys, w, values, **opts)
    dctx = rand(rng, ctx.shape, dtype)
    dq, dk, dv, dw = snn.additive_attention_backward(cache, dctx)
    w64 = {n: f64(a) for n, a in w.items()}
    close("context", ctx, R.additive_forward(f64(query), f64(keys), w64, f64(values), **opts), dtype)
    rq, rk, rv, rw = R.additive_backward(f64(query), f64(keys), w64, f64(dctx), f64(values), **opts)
    close("dquery", dq, rq, dtype)
    close("dkeys", dk, rk, dtype)
    assert (dv is None) == (values is None) == (rv is None)
    if dv is not None:
        close("dvalues", dv, rv, dtype)
    assert set(dw) == set(w)
    for n in w:
        close(n, dw[n], rw[n], dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("kind", ["dot", "general"])
@pytest.mark.parametrize("case", list(RNN_CASES), ids=list(RNN_CASES))
def test_luong_matches_reference(case, kind, dtype):
    rng, query, keys, values, opts = rnn_inputs(case, dtype)
    if kind == "dot":
        keys = keys[..., : query.shape[-1]].copy()
        w = None
    else:
        w = {"weight": rand(rng, (query.shape[-1], keys.shape[-1]), dtype, 0.5)}
    ctx, cache = snn.luong_attention_forward(query, keys, values, w, kind=kind, scale=0.8, **opts)
    dctx = rand(rng, ctx.shape, dtype)
    dq, dk, dv, dw = snn.luong_attention_backward(cache, dctx)
    w64 = None if w is None else {"weight": f64(w["weight"])}
    ropts = dict(kind=kind, scale=0.8, **opts)
    close("context", ctx, R.luong_forward(f64(query), f64(keys), f64(values), w64, **ropts), dtype)
    rq, rk, rv, rw = R.luong_backward(f64(query), f64(keys), f64(dctx), f64(values), w64, **ropts)
    close("dquery", dq, rq, dtype)
    close("dkeys", dk, rk, dtype)
    assert (dv is None) == (values is None) == (rv is None)
    if dv is not None:
        close("dvalues", dv, rv, dtype)
    assert set(dw) == set(rw)
    for n in dw:
        close(n, dw[n], rw[n], dtype)


def test_additive_identical_for_any_thread_count():
    rng = np.random.default_rng(8)
    query, keys = rand(rng, (5, 9, 16), np.float32), rand(rng, (5, 11, 12), np.float32)
    w = {"w_q": rand(rng, (8, 16), np.float32), "w_k": rand(rng, (8, 12), np.float32), "v": rand(rng, (8,), np.float32)}
    dctx = rand(rng, (5, 9, 12), np.float32)
    runs = []
    for nt in (1, 2):
        ctx, cache = snn.additive_attention_forward(query, keys, w, lengths=np.array([11, 3, 0, 7, 11]), num_threads=nt)
        dq, dk, _, dw = snn.additive_attention_backward(cache, dctx, num_threads=nt)
        runs.append([ctx, dq, dk] + [dw[n] for n in sorted(dw)])
    for a, b in zip(*runs):
        assert np.array_equal(a, b)
