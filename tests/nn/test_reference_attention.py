"""Self-checks of the NumPy attention reference (tests/reference/attention.py).

The reference is what seqfast's Rust attention kernels are compared with, so it has to be right on
its own:

* its hand-derived backward passes match float64 central finite differences for every entry of
  every input and weight, for SDPA, multi-head, additive and Luong attention, under every option
  (causal, lengths including an empty row, boolean masks with broadcast dims, cross-attention,
  3-D inputs, dropout, time-major layout, single-step queries, default values, with and without
  biases);
* its forward passes match the formulas written out independently as loops, fully masked rows give
  exact zeros (outputs and gradients), and the course's worked example comes out right;
* its dropout mask equals a scalar pure-Python implementation, known hash outputs and a pinned
  golden mask, and keeps about 1 - p of the entries;
* where torch is installed (peer tests, skipped otherwise), outputs and autograd gradients equal
  torch.nn.functional.scaled_dot_product_attention's and torch.nn.MultiheadAttention's in float64.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from _int_rng import M64, mix64_int
from reference import attention as A

MHA_WEIGHTS = ("in_proj_weight", "in_proj_bias", "out_proj.weight", "out_proj.bias")

# ---------------------------------------------------------------------------
# Finite differences
# ---------------------------------------------------------------------------


def check_fd(fwd, bwd, arrays, eps=1e-6, tol=1e-6):
    """Central differences of ``sum(fwd(arrays) * R)`` on EVERY entry of every array in ``arrays``
    against ``bwd(arrays, R)`` (a dict with the same keys); returns the analytic gradients."""
    R = np.random.default_rng(99).normal(size=np.shape(fwd(arrays)))
    grads = bwd(arrays, R)
    assert set(grads) == set(arrays), "backward must return a gradient for every input and weight"
    work = {k: a.copy() for k, a in arrays.items()}
    for name, a in work.items():
        assert grads[name].shape == a.shape, name
        flat = a.reshape(-1)  # a view: perturbations show up in ``work``
        for j in range(flat.size):
            orig = flat[j]
            flat[j] = orig + eps
            lp = np.sum(fwd(work) * R)
            flat[j] = orig - eps
            lm = np.sum(fwd(work) * R)
            flat[j] = orig
            numeric = (lp - lm) / (2 * eps)
            analytic = grads[name].reshape(-1)[j]
            assert abs(numeric - analytic) <= tol * (1 + abs(numeric)), (
                f"{name}[{np.unravel_index(j, a.shape)}]: numeric {numeric!r} vs analytic {analytic!r}")
    return grads


def random_mask(rng, shape, density=0.7):
    return rng.random(shape) < density


# ---------------------------------------------------------------------------
# Problems: (arrays, fwd, bwd) for each attention function
# ---------------------------------------------------------------------------


def sdpa_problem(*, B=2, H=2, Tq=4, Tk=4, d=3, dv=3, three_d=False, mask_shape=None, rng_seed=0, **opts):
    """Random q, k, v (and a random mask of ``mask_shape``) with ``opts`` passed to the reference."""
    rng = np.random.default_rng(rng_seed)
    lead = (B,) if three_d else (B, H)
    arrays = {"q": rng.normal(size=lead + (Tq, d)), "k": rng.normal(size=lead + (Tk, d)),
              "v": rng.normal(size=lead + (Tk, dv))}
    if mask_shape is not None:
        opts["mask"] = random_mask(rng, mask_shape)
    if opts.get("lengths") is not None:
        opts["lengths"] = np.array(opts["lengths"])

    def fwd(a):
        return A.sdpa_forward(a["q"], a["k"], a["v"], **opts)

    def bwd(a, dout):
        return dict(zip("qkv", A.sdpa_backward(a["q"], a["k"], a["v"], dout, **opts)))

    return arrays, fwd, bwd, opts


def mha_weights(rng, E, bias=True):
    """Weights for ``mha_forward``; ``bias`` True (both biases), False (none) or "in" (in_proj only)."""
    W = {"in_proj_weight": rng.normal(size=(3 * E, E)) / math.sqrt(E),
         "out_proj.weight": rng.normal(size=(E, E)) / math.sqrt(E)}
    if bias:
        W["in_proj_bias"] = rng.normal(size=3 * E)
    if bias is True:
        W["out_proj.bias"] = rng.normal(size=E)
    return W


def mha_problem(*, B=2, Tq=3, Tk=4, E=4, num_heads=2, bias=True, batch_first=True, mask_shape=None, rng_seed=0,
                **opts):
    rng = np.random.default_rng(rng_seed)
    layout = (lambda T: (B, T, E)) if batch_first else (lambda T: (T, B, E))
    arrays = {"query": rng.normal(size=layout(Tq)), "key": rng.normal(size=layout(Tk)),
              "value": rng.normal(size=layout(Tk)), **mha_weights(rng, E, bias)}
    if mask_shape is not None:
        opts["mask"] = random_mask(rng, mask_shape)
    if opts.get("lengths") is not None:
        opts["lengths"] = np.array(opts["lengths"])
    opts["batch_first"] = batch_first

    def split(a):
        return a["query"], a["key"], a["value"], {k: a[k] for k in MHA_WEIGHTS if k in a}

    def fwd(a):
        return A.mha_forward(*split(a), num_heads, **opts)

    def bwd(a, dout):
        dq, dk, dv, dw = A.mha_backward(*split(a), num_heads, dout, **opts)
        return {"query": dq, "key": dk, "value": dv, **dw}

    return arrays, fwd, bwd, opts


def additive_problem(*, B=2, Tq=3, Tk=4, dq=3, dk=2, dv=3, da=3, single=False, with_values=True, bias=True,
                     mask_shape=None, rng_seed=0, **opts):
    rng = np.random.default_rng(rng_seed)
    arrays = {"query": rng.normal(size=(B, dq) if single else (B, Tq, dq)), "keys": rng.normal(size=(B, Tk, dk)),
              "w_q": rng.normal(size=(da, dq)), "w_k": rng.normal(size=(da, dk)), "v": rng.normal(size=da)}
    if with_values:
        arrays["values"] = rng.normal(size=(B, Tk, dv))
    if bias:
        arrays["bias"] = rng.normal(size=da)
    if mask_shape is not None:
        opts["mask"] = random_mask(rng, mask_shape)
    if opts.get("lengths") is not None:
        opts["lengths"] = np.array(opts["lengths"])

    def weights(a):
        return {k: a[k] for k in ("w_q", "w_k", "v", "bias") if k in a}

    def fwd(a):
        return A.additive_forward(a["query"], a["keys"], weights(a), a.get("values"), **opts)

    def bwd(a, dout):
        dq_, dk_, dv_, dw = A.additive_backward(a["query"], a["keys"], weights(a), dout, a.get("values"), **opts)
        return gradient_dict(dq_, dk_, dv_, dw)

    return arrays, fwd, bwd, opts


def luong_problem(*, kind="dot", B=2, Tq=3, Tk=4, dq=3, dk=3, dv=2, single=False, with_values=True,
                  mask_shape=None, rng_seed=0, **opts):
    rng = np.random.default_rng(rng_seed)
    arrays = {"query": rng.normal(size=(B, dq) if single else (B, Tq, dq)), "keys": rng.normal(size=(B, Tk, dk))}
    if with_values:
        arrays["values"] = rng.normal(size=(B, Tk, dv))
    if kind == "general":
        arrays["weight"] = rng.normal(size=(dq, dk))
    if mask_shape is not None:
        opts["mask"] = random_mask(rng, mask_shape)
    if opts.get("lengths") is not None:
        opts["lengths"] = np.array(opts["lengths"])
    opts["kind"] = kind

    def weights(a):
        return {"weight": a["weight"]} if "weight" in a else None

    def fwd(a):
        return A.luong_forward(a["query"], a["keys"], a.get("values"), weights(a), **opts)

    def bwd(a, dout):
        dq_, dk_, dv_, dw = A.luong_backward(a["query"], a["keys"], dout, a.get("values"), weights(a), **opts)
        return gradient_dict(dq_, dk_, dv_, dw)

    return arrays, fwd, bwd, opts


def gradient_dict(dquery, dkeys, dvalues, dweights):
    grads = {"query": dquery, "keys": dkeys, **dweights}
    if dvalues is not None:
        grads["values"] = dvalues
    return grads


# ---------------------------------------------------------------------------
# Gradient checks (every entry of every tensor)
# ---------------------------------------------------------------------------

SDPA_CONFIGS = {
    "plain": dict(),
    "causal": dict(causal=True),
    "lengths_with_empty_row": dict(lengths=[3, 0]),
    "mask_batch_broadcast": dict(mask_shape=(2, 1, 4, 4)),
    "mask_head_broadcast_and_lengths": dict(mask_shape=(1, 2, 4, 4), lengths=[2, 4]),
    "mask_2d_causal": dict(mask_shape=(4, 4), causal=True),
    "cross_causal_lengths_mask": dict(Tq=3, Tk=5, d=4, dv=2, causal=True, lengths=[5, 2], mask_shape=(2, 1, 3, 5)),
    "cross_long_queries_causal": dict(Tq=5, Tk=3, causal=True),
    "three_d_mask_lengths": dict(three_d=True, Tq=4, Tk=3, mask_shape=(1, 4, 3), lengths=[3, 1]),
    "three_d_causal_dropout": dict(three_d=True, Tq=3, Tk=5, dv=4, causal=True, dropout=0.4, seed=3),
    "dropout_causal_lengths": dict(causal=True, lengths=[4, 2], dropout=0.3, seed=7),
    "custom_scale": dict(scale=0.7, mask_shape=(2, 2, 4, 4)),
}


@pytest.mark.parametrize("config", list(SDPA_CONFIGS))
def test_sdpa_gradients_match_finite_differences(config):
    arrays, fwd, bwd, _ = sdpa_problem(**SDPA_CONFIGS[config])
    check_fd(fwd, bwd, arrays)


MHA_CONFIGS = {
    "plain": dict(),
    "no_bias": dict(bias=False),
    "in_proj_bias_only": dict(bias="in"),
    "causal_time_major": dict(causal=True, batch_first=False),
    "lengths_with_empty_row_mask_3d": dict(lengths=[4, 0], mask_shape=(2, 3, 4)),
    "cross_mask_4d_head_broadcast": dict(Tq=5, Tk=2, mask_shape=(1, 2, 5, 2)),
    "mask_2d_causal_dropout_time_major": dict(mask_shape=(3, 4), causal=True, dropout=0.3, seed=11,
                                              batch_first=False),
    "three_heads_dropout_lengths": dict(E=6, num_heads=3, lengths=[1, 4], dropout=0.5, seed=2),
}


@pytest.mark.parametrize("config", list(MHA_CONFIGS))
def test_mha_gradients_match_finite_differences(config):
    arrays, fwd, bwd, _ = mha_problem(**MHA_CONFIGS[config])
    check_fd(fwd, bwd, arrays)


ADDITIVE_CONFIGS = {
    "plain": dict(),
    "no_bias_default_values": dict(bias=False, with_values=False, dk=3),
    "single_step_default_values_lengths_with_empty_row": dict(single=True, with_values=False, lengths=[4, 0],
                                                              mask_shape=(2, 4)),
    "mask_3d_lengths": dict(mask_shape=(2, 3, 4), lengths=[2, 4]),
    "mask_2d_single_step": dict(single=True, mask_shape=(4,), Tk=4),
    "mask_2d": dict(mask_shape=(3, 4), dv=1),
}


@pytest.mark.parametrize("config", list(ADDITIVE_CONFIGS))
def test_additive_gradients_match_finite_differences(config):
    arrays, fwd, bwd, _ = additive_problem(**ADDITIVE_CONFIGS[config])
    check_fd(fwd, bwd, arrays)


LUONG_CONFIGS = {
    "dot": dict(),
    "dot_scaled_mask_lengths_with_empty_row": dict(scale=0.5, mask_shape=(2, 3, 4), lengths=[3, 0]),
    "dot_single_step_default_values": dict(single=True, with_values=False, mask_shape=(2, 4)),
    "general": dict(kind="general", dk=2),
    "general_default_values_single_step_lengths": dict(kind="general", dk=2, with_values=False, single=True,
                                                       lengths=[1, 3], scale=2.0),
    "general_mask_2d": dict(kind="general", dq=2, dk=4, mask_shape=(3, 4)),
}


@pytest.mark.parametrize("config", list(LUONG_CONFIGS))
def test_luong_gradients_match_finite_differences(config):
    arrays, fwd, bwd, _ = luong_problem(**LUONG_CONFIGS[config])
    check_fd(fwd, bwd, arrays)


def test_mha_self_attention_returns_three_gradients():
    """One array as query, key and value: three separate gradients whose sum is d/dx."""
    rng = np.random.default_rng(4)
    x = rng.normal(size=(2, 3, 4))
    W = mha_weights(rng, 4)
    R = rng.normal(size=x.shape)
    opts = dict(causal=True, dropout=0.2, seed=1)
    dq, dk, dv, dw = A.mha_backward(x, x, x, W, 2, R, **opts)
    dq2, dk2, dv2, dw2 = A.mha_backward(x.copy(), x.copy(), x.copy(), W, 2, R, **opts)
    for a, b in [(dq, dq2), (dk, dk2), (dv, dv2)] + [(dw[k], dw2[k]) for k in W]:
        np.testing.assert_array_equal(a, b)
    assert np.abs(dq - dk).max() > 1e-3 and np.abs(dk - dv).max() > 1e-3
    check_fd(lambda a: A.mha_forward(a["x"], a["x"], a["x"], W, 2, **opts),
             lambda a, dout: {"x": sum(A.mha_backward(a["x"], a["x"], a["x"], W, 2, dout, **opts)[:3])},
             {"x": x})


# ---------------------------------------------------------------------------
# Forward semantics written out independently
# ---------------------------------------------------------------------------


def naive_sdpa(q, k, v, *, scale=None, causal=False, lengths=None, mask=None, dropout=0.0, seed=0):
    """Loops over (b, h, i) straight from the module docstring; 4-D inputs, mask broadcastable."""
    B, H, Tq, d = q.shape
    Tk = k.shape[2]
    scale = 1 / math.sqrt(d) if scale is None else scale
    allow = np.broadcast_to(np.ones((Tq, Tk), bool) if mask is None else mask, (B, H, Tq, Tk))
    keep = A.dropout_keep(seed, B * H, Tq, Tk, dropout)
    out = np.zeros((B, H, Tq, v.shape[-1]))
    for b in range(B):
        for h in range(H):
            for i in range(Tq):
                js = [j for j in range(Tk) if allow[b, h, i, j] and (not causal or j <= i)
                      and (lengths is None or j < lengths[b])]
                if not js:
                    continue
                s = np.array([scale * np.dot(q[b, h, i], k[b, h, j]) for j in js])
                w = np.exp(s - s.max())
                w /= w.sum()
                for wj, j in zip(w, js):
                    if keep[b * H + h, i, j]:
                        out[b, h, i] += wj / (1 - dropout) * v[b, h, j]
    return out


@pytest.mark.parametrize("config", ["plain", "mask_head_broadcast_and_lengths", "cross_causal_lengths_mask",
                                    "dropout_causal_lengths", "custom_scale", "lengths_with_empty_row"])
def test_sdpa_forward_matches_loops(config):
    arrays, fwd, _, opts = sdpa_problem(**SDPA_CONFIGS[config])
    np.testing.assert_allclose(fwd(arrays), naive_sdpa(arrays["q"], arrays["k"], arrays["v"], **opts),
                               rtol=0, atol=1e-14)


def test_sdpa_three_d_is_one_head():
    arrays, fwd, bwd, opts = sdpa_problem(**SDPA_CONFIGS["three_d_causal_dropout"], lengths=[5, 3],
                                          mask_shape=(2, 3, 5))
    four = {k: a[:, None] for k, a in arrays.items()}
    opts4 = dict(opts, mask=opts["mask"][:, None])
    np.testing.assert_allclose(fwd(arrays), naive_sdpa(four["q"], four["k"], four["v"], **opts4)[:, 0],
                               rtol=0, atol=1e-14)
    R = np.random.default_rng(1).normal(size=(2, 3, 4))
    g3 = bwd(arrays, R)
    g4 = A.sdpa_backward(four["q"], four["k"], four["v"], R[:, None], **opts4)
    for name, g in zip("qkv", g4):
        np.testing.assert_array_equal(g3[name], g[:, 0])


def test_sdpa_causal_equals_lower_triangular_mask():
    for Tq, Tk in [(4, 4), (3, 5), (5, 3)]:
        arrays, fwd, bwd, opts = sdpa_problem(Tq=Tq, Tk=Tk, lengths=[Tk, 2], mask_shape=(2, 1, Tq, Tk),
                                              dropout=0.25, seed=5)
        tril = np.array([[j <= i for j in range(Tk)] for i in range(Tq)])
        explicit = dict(opts, mask=opts["mask"] & tril)
        q, k, v = arrays["q"], arrays["k"], arrays["v"]
        np.testing.assert_array_equal(A.sdpa_forward(q, k, v, causal=True, **opts),
                                      A.sdpa_forward(q, k, v, **explicit))
        R = np.random.default_rng(0).normal(size=(2, 2, Tq, 3))
        for a, b in zip(A.sdpa_backward(q, k, v, R, causal=True, **opts), A.sdpa_backward(q, k, v, R, **explicit)):
            np.testing.assert_array_equal(a, b)


def test_course_worked_example():
    """d = 64, q.k1 = 112, q.k2 = 96: scaled scores 14 and 12, weights 0.88 and 0.12."""
    q = np.ones((1, 1, 64))
    k = np.stack([np.full(64, 1.75), np.full(64, 1.5)])[None]
    assert q[0, 0] @ k[0, 0] == 112 and q[0, 0] @ k[0, 1] == 96
    assert 1 / math.sqrt(64) * 112 == 14 and 1 / math.sqrt(64) * 96 == 12
    weights = A.sdpa_forward(q, k, np.eye(2)[None])[0, 0]  # values e1, e2 read the weights out
    np.testing.assert_array_equal(np.round(weights, 2), [0.88, 0.12])
    np.testing.assert_allclose(weights, [1 / (1 + math.exp(-2)), 1 / (1 + math.exp(2))], rtol=0, atol=1e-15)


def naive_mha(query, key, value, W, num_heads, *, mask=None, **opts):
    """Projections, head split and merge written as loops, batch-first, over :func:`naive_sdpa`."""
    B, Tq, E = query.shape
    Tk = key.shape[1]
    dh = E // num_heads
    b_in = W.get("in_proj_bias", np.zeros(3 * E))
    proj = [x @ W["in_proj_weight"][i * E:(i + 1) * E].T + b_in[i * E:(i + 1) * E]
            for i, x in enumerate((query, key, value))]
    heads = []
    for x, T in zip(proj, (Tq, Tk, Tk)):
        xh = np.zeros((B, num_heads, T, dh))
        for b in range(B):
            for h in range(num_heads):
                for t in range(T):
                    xh[b, h, t] = x[b, t, h * dh:(h + 1) * dh]
        heads.append(xh)
    if mask is not None and mask.ndim == 3:
        mask = mask[:, None]
    out_h = naive_sdpa(*heads, scale=1 / math.sqrt(dh), mask=mask, **opts)
    attn = np.zeros((B, Tq, E))
    for b in range(B):
        for t in range(Tq):
            attn[b, t] = np.concatenate([out_h[b, h, t] for h in range(num_heads)])
    return attn @ W["out_proj.weight"].T + W.get("out_proj.bias", np.zeros(E))


@pytest.mark.parametrize("config", ["plain", "no_bias", "lengths_with_empty_row_mask_3d",
                                    "cross_mask_4d_head_broadcast", "three_heads_dropout_lengths"])
def test_mha_forward_matches_loops(config):
    arrays, fwd, _, opts = mha_problem(**MHA_CONFIGS[config])
    W = {k: arrays[k] for k in MHA_WEIGHTS if k in arrays}
    opts = {k: v for k, v in opts.items() if k != "batch_first"}
    np.testing.assert_allclose(fwd(arrays), naive_mha(arrays["query"], arrays["key"], arrays["value"], W,
                                                      MHA_CONFIGS[config].get("num_heads", 2), **opts),
                               rtol=0, atol=1e-13)


def test_mha_time_major_is_the_transpose():
    arrays, _, _, opts = mha_problem(**MHA_CONFIGS["mask_2d_causal_dropout_time_major"])
    opts = {k: v for k, v in opts.items() if k != "batch_first"}
    tm = [arrays[k] for k in ("query", "key", "value")]
    bf = [a.transpose(1, 0, 2) for a in tm]
    W = {k: arrays[k] for k in MHA_WEIGHTS}
    out = A.mha_forward(*tm, W, 2, batch_first=False, **opts)
    np.testing.assert_array_equal(out, A.mha_forward(*bf, W, 2, **opts).transpose(1, 0, 2))
    R = np.random.default_rng(2).normal(size=out.shape)
    g = A.mha_backward(*tm, W, 2, R, batch_first=False, **opts)
    g_bf = A.mha_backward(*bf, W, 2, R.transpose(1, 0, 2), **opts)
    for a, b in zip(g[:3], g_bf[:3]):
        np.testing.assert_array_equal(a, b.transpose(1, 0, 2))
    for k in W:
        np.testing.assert_array_equal(g[3][k], g_bf[3][k])


def naive_additive(query, keys, W, values, lengths=None, mask=None):
    """Scores, softmax and context as loops over (b, i, j, a); 3-D query, full (B, Tq, Tk) mask."""
    B, Tq, _ = query.shape
    Tk = keys.shape[1]
    out = np.zeros((B, Tq, values.shape[-1]))
    for b in range(B):
        for i in range(Tq):
            js = [j for j in range(Tk) if (mask is None or mask[b, i, j]) and (lengths is None or j < lengths[b])]
            if not js:
                continue
            s = np.array([sum(W["v"][a] * math.tanh(W["w_q"][a] @ query[b, i] + W["w_k"][a] @ keys[b, j]
                                                    + W.get("bias", np.zeros(len(W["v"])))[a])
                              for a in range(len(W["v"]))) for j in js])
            w = np.exp(s - s.max())
            w /= w.sum()
            out[b, i] = sum(wj * values[b, j] for wj, j in zip(w, js))
    return out


def test_additive_forward_matches_loops():
    for config in ("plain", "mask_3d_lengths", "no_bias_default_values"):
        arrays, fwd, _, opts = additive_problem(**ADDITIVE_CONFIGS[config])
        W = {k: arrays[k] for k in ("w_q", "w_k", "v", "bias") if k in arrays}
        expected = naive_additive(arrays["query"], arrays["keys"], W, arrays.get("values", arrays["keys"]), **opts)
        np.testing.assert_allclose(fwd(arrays), expected, rtol=0, atol=1e-14)


def test_luong_dot_is_sdpa_and_general_is_dot_on_projected_queries():
    arrays, fwd, bwd, opts = luong_problem(**LUONG_CONFIGS["dot_scaled_mask_lengths_with_empty_row"])
    q, k, v = arrays["query"], arrays["keys"], arrays["values"]
    sdpa_opts = dict(scale=opts["scale"], mask=opts["mask"], lengths=opts["lengths"])
    np.testing.assert_allclose(fwd(arrays), A.sdpa_forward(q, k, v, **sdpa_opts), rtol=0, atol=1e-15)
    R = np.random.default_rng(0).normal(size=(2, 3, 2))
    g = bwd(arrays, R)
    for name, want in zip(("query", "keys", "values"), A.sdpa_backward(q, k, v, R, **sdpa_opts)):
        np.testing.assert_allclose(g[name], want, rtol=0, atol=1e-15, err_msg=name)
    arrays, fwd, _, opts = luong_problem(**LUONG_CONFIGS["general_mask_2d"])
    dot = A.luong_forward(arrays["query"] @ arrays["weight"], arrays["keys"], arrays["values"], mask=opts["mask"])
    np.testing.assert_allclose(fwd(arrays), dot, rtol=0, atol=1e-14)


@pytest.mark.parametrize("make,config", [(additive_problem, dict(dk=3, dv=3)), (luong_problem, dict(dv=3)),
                                         (luong_problem, dict(kind="general", dk=2, dv=2))],
                         ids=["additive", "luong_dot", "luong_general"])
def test_single_step_and_default_values(make, config):
    """A (B, dq) query is a (B, 1, dq) one squeezed; values=None is values=keys with the two key
    gradients summed."""
    arrays, fwd, bwd, _ = make(lengths=[2, 4], **config)
    arrays["values"] = arrays["keys"].copy()
    R = np.random.default_rng(3).normal(size=fwd(arrays).shape)
    g = bwd(arrays, R)
    no_values = {k: a for k, a in arrays.items() if k != "values"}
    np.testing.assert_array_equal(fwd(no_values), fwd(arrays))
    g0 = bwd(no_values, R)
    assert "values" not in g0
    np.testing.assert_allclose(g0["keys"], g["keys"] + g["values"], rtol=0, atol=1e-15)
    step = dict(arrays, query=arrays["query"][:, 1])
    step3 = dict(arrays, query=arrays["query"][:, 1:2])
    np.testing.assert_array_equal(fwd(step), fwd(step3)[:, 0])
    g_step, g_step3 = bwd(step, R[:, 1]), bwd(step3, R[:, 1:2])
    np.testing.assert_array_equal(g_step["query"], g_step3["query"][:, 0])
    for k in g_step:
        if k != "query":
            np.testing.assert_array_equal(g_step[k], g_step3[k])


# ---------------------------------------------------------------------------
# Fully masked rows: exact zeros, no NaN, no contribution
# ---------------------------------------------------------------------------


def test_sdpa_fully_masked_rows_are_exact_zeros():
    arrays, fwd, bwd, opts = sdpa_problem(lengths=[4, 0], mask_shape=(2, 2, 4, 4), dropout=0.3, seed=1)
    opts["mask"][0, 1, 2] = False  # and one more empty row in batch 0
    out = fwd(arrays)
    g = bwd(arrays, np.random.default_rng(0).normal(size=out.shape))
    assert np.all(np.isfinite(out)) and all(np.all(np.isfinite(a)) for a in g.values())
    assert np.all(out[1] == 0) and np.all(out[0, 1, 2] == 0)
    assert np.all(g["q"][1] == 0) and np.all(g["k"][1] == 0) and np.all(g["v"][1] == 0)
    assert np.all(g["q"][0, 1, 2] == 0)


def test_mha_empty_rows_get_no_gradient():
    arrays, fwd, bwd, opts = mha_problem(lengths=[4, 0], mask_shape=(2, 3, 4))
    out = fwd(arrays)
    np.testing.assert_array_equal(out[1], np.broadcast_to(arrays["out_proj.bias"], (3, 4)))
    R = np.random.default_rng(0).normal(size=out.shape)
    g = bwd(arrays, R)
    for name in ("query", "key", "value"):
        assert np.all(g[name][1] == 0), name
    # The weights' gradients come from batch row 0 only (but for out_proj.bias, which sees dout).
    row0 = {k: (a[:1] if k in ("query", "key", "value") else a) for k, a in arrays.items()}
    _, _, bwd0, _ = mha_problem(lengths=[4], mask_shape=None, mask=opts["mask"][:1])
    g0 = bwd0(row0, R[:1])
    for k in ("in_proj_weight", "in_proj_bias", "out_proj.weight"):
        np.testing.assert_allclose(g[k], g0[k], rtol=0, atol=1e-14, err_msg=k)


@pytest.mark.parametrize("make,config", [(additive_problem, dict(lengths=[4, 0], mask_shape=(2, 3, 4))),
                                         (luong_problem, dict(kind="general", dk=2, lengths=[4, 0],
                                                              mask_shape=(2, 3, 4)))],
                         ids=["additive", "luong_general"])
def test_context_attention_empty_rows_get_no_gradient(make, config):
    arrays, fwd, bwd, opts = make(**config)
    opts["mask"][0, 2] = False
    out = fwd(arrays)
    assert np.all(out[1] == 0) and np.all(out[0, 2] == 0)
    R = np.random.default_rng(0).normal(size=out.shape)
    g = bwd(arrays, R)
    assert np.all(g["query"][1] == 0) and np.all(g["query"][0, 2] == 0)
    assert np.all(g["keys"][1] == 0) and np.all(g["values"][1] == 0)
    # Dropping batch row 1 and query 2 of row 0 changes no weight gradient.
    row0 = {k: (a[:1, :2] if k == "query" else a[:1] if k in ("keys", "values") else a) for k, a in arrays.items()}
    _, _, bwd0, _ = make(**dict(config, lengths=[4], mask_shape=None, mask=opts["mask"][:1, :2]))
    g0 = bwd0(row0, R[:1, :2])
    for k in g0:
        if k not in ("query", "keys", "values"):
            np.testing.assert_allclose(g[k], g0[k], rtol=0, atol=1e-14, err_msg=k)


# ---------------------------------------------------------------------------
# The dropout mask generator
# ---------------------------------------------------------------------------

M32 = 2**32 - 1
# dropout_keep(seed=42, bh_count=2, tq=3, tk=4, p=0.5), flattened (bh, i, j); computed with keep_int below.
GOLDEN_KEEP_42_2x3x4_HALF = "101100000010111110110100"


def fmix32_int(h: int) -> int:
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & M32
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & M32
    return h ^ (h >> 16)


def keep_int(seed, bh_count, tq, tk, p):
    """The keep mask with Python ints, one entry at a time; the threshold rounded exactly (ties up)."""
    threshold = min(int(Fraction(p) * 2**32 + Fraction(1, 2)), M32)
    s0 = mix64_int(seed % 2**64)
    out = np.zeros((bh_count, tq, tk), dtype=bool)
    for bh in range(bh_count):
        for i in range(tq):
            key = mix64_int(s0 + (bh * tq + i) * 0x9E3779B97F4A7C15) >> 32
            for j in range(tk):
                out[bh, i, j] = fmix32_int(key ^ ((j * 0x9E3779B9) & M32)) >= threshold
    return out


def test_hash_known_outputs():
    # SplitMix64 seeded with 0 outputs mix64(k * golden); MurmurHash3_x86_32 of "" with seed s is fmix32(s).
    for k, e in enumerate([0xE220A8397B1DCDAF, 0x6E789E6AA1B965F4, 0x06C45D188009454F], start=1):
        assert mix64_int(k * 0x9E3779B97F4A7C15) == e == int(A.mix64((k * 0x9E3779B97F4A7C15) & M64))
    for s, e in [(0, 0), (1, 0x514E28B7), (0xFFFFFFFF, 0x81F16F39)]:
        assert fmix32_int(s) == e == int(A.fmix32(s))
    hs = np.array([0, 1, 2**31, M32, 0x01234567], dtype=np.uint32)
    assert [int(h) for h in A.fmix32(hs)] == [fmix32_int(int(h)) for h in hs]


@pytest.mark.parametrize("seed,bh_count,tq,tk,p", [(0, 3, 4, 5, 0.5), (42, 2, 3, 7, 0.1), (2**64 - 1, 4, 2, 3, 0.9),
                                                   (123456789, 1, 5, 5, 1e-9), (7, 2, 3, 4, 0.999999),
                                                   (2**70 + 5, 2, 2, 6, 0.3), (-1, 2, 2, 2, 0.5)])
def test_dropout_keep_equals_scalar_implementation(seed, bh_count, tq, tk, p):
    np.testing.assert_array_equal(A.dropout_keep(seed, bh_count, tq, tk, p), keep_int(seed, bh_count, tq, tk, p))


def test_dropout_keep_golden():
    """A fixed small mask, for cross-language checks (the Rust kernels must reproduce it)."""
    bits = "".join("1" if k else "0" for k in A.dropout_keep(42, 2, 3, 4, 0.5).reshape(-1))
    assert bits == GOLDEN_KEEP_42_2x3x4_HALF


def test_dropout_threshold():
    assert A.dropout_threshold(0.0) == 0
    assert A.dropout_threshold(0.5) == 2**31
    assert A.dropout_threshold(2.0**-33) == 1  # a tie rounds up (Rust's f64::round), not to even
    assert A.dropout_threshold(5 * 2.0**-33) == 3
    assert A.dropout_threshold(2.0**-34) == 0
    assert A.dropout_threshold(1 - 2.0**-53) == M32
    for p in (1.0, -0.1, 1.5):
        with pytest.raises(ValueError):
            A.dropout_threshold(p)


def test_dropout_keep_properties():
    for p in (0.1, 0.3, 0.5, 0.8):
        keep = A.dropout_keep(2024, 16, 64, 64, p)
        assert abs(keep.mean() - (1 - p)) < 0.01, p
    assert A.dropout_keep(5, 3, 4, 5, 0.0).all()
    base = A.dropout_keep(1, 4, 8, 8, 0.5)
    assert np.mean(base != A.dropout_keep(2, 4, 8, 8, 0.5)) > 0.3  # seeds differ
    np.testing.assert_array_equal(A.dropout_keep(1, 2, 8, 8, 0.5), base[:2])  # fewer rows: a prefix
    np.testing.assert_array_equal(A.dropout_keep(1, 4, 8, 3, 0.5), base[:, :, :3])  # fewer columns too
    keeps = [A.dropout_keep(9, 4, 16, 16, p) for p in (0.1, 0.4, 0.7)]
    assert np.all(keeps[1] <= keeps[0]) and np.all(keeps[2] <= keeps[1])  # monotone in p


def test_sdpa_dropout_semantics():
    arrays, fwd, _, opts = sdpa_problem(**SDPA_CONFIGS["dropout_causal_lengths"])
    q, k, v = arrays["q"], arrays["k"], arrays["v"]
    np.testing.assert_array_equal(fwd(arrays), fwd(arrays))  # fixed seed: deterministic
    other = A.sdpa_forward(q, k, v, **dict(opts, seed=8))
    assert np.abs(fwd(arrays) - other).max() > 1e-6
    plain = [A.sdpa_forward(q, k, v, **dict(opts, dropout=0.0, seed=s)) for s in (1, 2)]
    np.testing.assert_array_equal(plain[0], plain[1])  # p = 0 ignores the seed
    # Dropping after the softmax: with values e_j the output rows are P * keep / (1 - p), where P
    # is the undropped softmax (rows of P sum to 1, rows of the output do not).
    eye = np.broadcast_to(np.eye(4), (2, 2, 4, 4))
    P = A.sdpa_forward(q, k, eye, **dict(opts, dropout=0.0))
    keep = A.dropout_keep(opts["seed"], 4, 4, 4, opts["dropout"]).reshape(2, 2, 4, 4)
    np.testing.assert_allclose(A.sdpa_forward(q, k, eye, **opts), P * keep / (1 - opts["dropout"]), rtol=0,
                               atol=1e-15)
    np.testing.assert_allclose(P.sum(axis=-1), 1.0, rtol=0, atol=1e-15)


# ---------------------------------------------------------------------------
# Properties (hypothesis)
# ---------------------------------------------------------------------------


@st.composite
def sdpa_configs(draw, allow_dropout=True):
    """Options for :func:`sdpa_problem`: sizes, causal, lengths, a mask with broadcast dims, dropout."""
    three_d = draw(st.booleans())
    B, H = draw(st.integers(1, 2)), 1 if three_d else draw(st.integers(1, 2))
    Tq, Tk = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    cfg = dict(B=B, H=H, Tq=Tq, Tk=Tk, d=draw(st.integers(1, 3)), dv=draw(st.integers(1, 3)), three_d=three_d,
               causal=draw(st.booleans()), rng_seed=draw(st.integers(0, 10**6)))
    if draw(st.booleans()):
        cfg["lengths"] = draw(st.lists(st.integers(0, Tk), min_size=B, max_size=B))
    lead = (B,) if three_d else (B, H)
    cfg["mask_shape"] = draw(st.sampled_from([None, (Tq, Tk), tuple(1 for _ in lead) + (Tq, Tk), lead + (Tq, Tk),
                                              (1,) + lead[1:] + (Tq, Tk)]))
    if allow_dropout and draw(st.booleans()):
        cfg.update(dropout=draw(st.sampled_from([0.2, 0.6])), seed=draw(st.integers(-2**63, 2**64 - 1)))
    return cfg


@settings(max_examples=15, deadline=None)
@given(cfg=sdpa_configs())
def test_sdpa_directional_derivative_random_configs(cfg):
    """<grad, u> equals the central difference along a random direction u over q, k and v."""
    arrays, fwd, bwd, _ = sdpa_problem(**cfg)
    R = np.random.default_rng(1).normal(size=fwd(arrays).shape)
    grads = bwd(arrays, R)
    u = {k: np.random.default_rng(2).normal(size=a.shape) for k, a in arrays.items()}
    eps = 1e-6
    plus = np.sum(fwd({k: a + eps * u[k] for k, a in arrays.items()}) * R)
    minus = np.sum(fwd({k: a - eps * u[k] for k, a in arrays.items()}) * R)
    numeric = (plus - minus) / (2 * eps)
    analytic = sum(float(np.sum(grads[k] * u[k])) for k in u)
    assert abs(numeric - analytic) <= 1e-6 * (1 + abs(numeric))


@settings(max_examples=15, deadline=None)
@given(cfg=sdpa_configs(allow_dropout=False))
def test_sdpa_weights_are_a_masked_distribution(cfg):
    """With values e_1..e_Tk the output rows are the weights: non-negative, zero where masked,
    summing to 1 (or all 0 on a fully masked row); masked keys and values change nothing."""
    arrays, fwd, _, opts = sdpa_problem(**dict(cfg, dv=cfg["Tk"]))
    q, k = arrays["q"], arrays["k"]
    eye = np.broadcast_to(np.eye(cfg["Tk"]), k.shape[:-2] + (cfg["Tk"], cfg["Tk"]))
    W = A.sdpa_forward(q, k, eye, **opts)
    allowed = np.ones(W.shape, dtype=bool)
    if "mask" in opts:
        allowed &= opts["mask"]
    if cfg["causal"]:
        allowed &= np.tril(np.ones(W.shape[-2:], dtype=bool))
    if "lengths" in opts:
        allowed &= (np.arange(cfg["Tk"]) < opts["lengths"][:, None]).reshape((-1,) + (1,) * (W.ndim - 2) + (cfg["Tk"],))
    assert np.all(W >= 0) and np.all(W[~allowed] == 0)
    np.testing.assert_allclose(W.sum(axis=-1), allowed.any(axis=-1).astype(float), rtol=0, atol=1e-14)
    # Keys and values that no query may attend can be anything.
    unused = ~allowed.any(axis=-2)  # (..., Tk)
    noise = np.random.default_rng(0)
    k2 = np.where(unused[..., None], noise.normal(size=k.shape) * 100, k)
    v2 = np.where(unused[..., None], noise.normal(size=arrays["v"].shape) * 100, arrays["v"])
    np.testing.assert_allclose(A.sdpa_forward(q, k2, v2, **opts), fwd(arrays), rtol=0, atol=1e-14)


@settings(max_examples=15, deadline=None)
@given(cfg=sdpa_configs(allow_dropout=False), data=st.data())
def test_sdpa_permuting_keys_with_values_changes_nothing(cfg, data):
    """Permuting keys, values and the mask's key axis together (causal and lengths folded into the
    mask) leaves the output and dq unchanged and permutes dk, dv."""
    arrays, fwd, bwd, opts = sdpa_problem(**cfg)
    Tk, Tq = cfg["Tk"], cfg["Tq"]
    lead = arrays["q"].shape[:-2]
    mask = np.broadcast_to(opts.get("mask", True), lead + (Tq, Tk)).copy()
    if cfg["causal"]:
        mask &= np.tril(np.ones((Tq, Tk), dtype=bool))
    if "lengths" in opts:
        mask &= (np.arange(Tk) < opts["lengths"][:, None]).reshape((-1,) + (1,) * (len(lead) - 1) + (1, Tk))
    perm = np.array(data.draw(st.permutations(range(Tk)), label="perm"))
    q, k, v = arrays["q"], arrays["k"], arrays["v"]
    out = fwd(arrays)
    R = np.random.default_rng(5).normal(size=out.shape)
    g = bwd(arrays, R)
    out_p = A.sdpa_forward(q, k[..., perm, :], v[..., perm, :], mask=mask[..., perm])
    np.testing.assert_allclose(out_p, out, rtol=0, atol=1e-14)
    dq, dk, dv = A.sdpa_backward(q, k[..., perm, :], v[..., perm, :], R, mask=mask[..., perm])
    np.testing.assert_allclose(dq, g["q"], rtol=0, atol=1e-13)
    np.testing.assert_allclose(dk, g["k"][..., perm, :], rtol=0, atol=1e-13)
    np.testing.assert_allclose(dv, g["v"][..., perm, :], rtol=0, atol=1e-13)


# ---------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------


def test_errors():
    rng = np.random.default_rng(0)
    q, k, v = rng.normal(size=(2, 2, 3, 4)), rng.normal(size=(2, 2, 5, 4)), rng.normal(size=(2, 2, 5, 3))
    bad_sdpa = [dict(mask=np.ones((3, 5))), dict(mask=np.ones((2, 3, 5), bool)), dict(mask=np.ones((2, 3, 3, 5), bool)),
                dict(lengths=np.array([6, 1])), dict(lengths=np.array([-1, 1])), dict(lengths=np.array([1.0, 2.0])),
                dict(lengths=np.array([1])), dict(dropout=1.0), dict(dropout=-0.5)]
    for kw in bad_sdpa:
        with pytest.raises((ValueError, TypeError)):
            A.sdpa_forward(q, k, v, **kw)
    for args in [(q, k[..., :3], v), (q, k, v[:, :, :4]), (q[:, 0], k, v), (q[0, 0], k[0, 0], v[0, 0])]:
        with pytest.raises(ValueError):
            A.sdpa_forward(*args)
    with pytest.raises(ValueError):
        A.sdpa_backward(q, k, v, np.zeros((2, 2, 3, 4)))
    x = rng.normal(size=(2, 3, 4))
    W = mha_weights(rng, 4)
    A.mha_forward(x, x, x, W, 2, mask=np.ones((1, 3, 3), bool))
    for args in [(x, x, x, W, 3), (x, x, x, dict(W, extra=W["out_proj.bias"]), 2),
                 (x, x, x, {k: W[k] for k in W if k != "in_proj_weight"}, 2),
                 (x, x, x, dict(W, **{"out_proj.bias": np.zeros(3)}), 2), (x, x[..., :2], x, W, 2)]:
        with pytest.raises(ValueError):
            A.mha_forward(*args)
    with pytest.raises(ValueError):
        A.mha_forward(x, x, x, W, 2, mask=np.ones((3, 3, 3), bool))
    keys = rng.normal(size=(2, 5, 3))
    Wa = {"w_q": rng.normal(size=(2, 4)), "w_k": rng.normal(size=(2, 3)), "v": rng.normal(size=2)}
    A.additive_forward(x[:, 0], keys, Wa, mask=np.ones(5, bool))
    for kw in [dict(mask=np.ones((2, 1, 5), bool)), dict(mask=np.ones((2, 4), bool)), dict(lengths=np.array([0]))]:
        with pytest.raises(ValueError):
            A.additive_forward(x[:, 0], keys, Wa, **kw)
    for bad in [{"w_q": Wa["w_q"], "v": Wa["v"]}, dict(Wa, v=np.ones(3)), dict(Wa, bias=np.ones(2), extra=1.0)]:
        with pytest.raises(ValueError):
            A.additive_forward(x, keys, bad)
    Wg = {"weight": rng.normal(size=(4, 3))}
    A.luong_forward(x, keys, weights=Wg, kind="general")
    for kw in [dict(kind="concat"), dict(kind="dot"), dict(kind="dot", weights=Wg), dict(kind="general"),
               dict(kind="general", weights={"weight": np.ones((3, 4))})]:
        with pytest.raises(ValueError):
            A.luong_forward(x, keys, **kw)


# ---------------------------------------------------------------------------
# torch as an oracle (skipped when torch is missing); no fully masked rows (torch gives NaN there)
# ---------------------------------------------------------------------------

TORCH_SDPA_CONFIGS = {
    "plain": dict(),
    "causal": dict(causal=True),
    "causal_cross_short_queries": dict(Tq=3, Tk=5, d=4, dv=2, causal=True),
    "causal_cross_long_queries": dict(Tq=5, Tk=3, causal=True),
    "mask_batch_broadcast_lengths": dict(mask_shape=(2, 1, 4, 4), lengths=[3, 1]),
    "mask_2d_causal_cross": dict(Tq=4, Tk=6, mask_shape=(4, 6), causal=True),
    "three_d_mask_scale": dict(three_d=True, Tq=3, Tk=5, mask_shape=(1, 3, 5), scale=0.3),
}


def torch_allowed(shape, causal, lengths, mask):
    """The combined bool mask (True = may attend) built from torch's side of the conventions."""
    allowed = np.ones(shape, dtype=bool)
    if mask is not None:
        allowed = allowed & mask
    if causal:
        allowed = allowed & ~np.triu(np.ones(shape[-2:], dtype=bool), 1)  # no key after the query
    if lengths is not None:
        pad = np.arange(shape[-1])[None, :] >= np.asarray(lengths)[:, None]  # (B, Tk), key_padding_mask style
        allowed = allowed & ~pad.reshape((shape[0],) + (1,) * (len(shape) - 2) + (shape[-1],))
    return allowed


def no_empty_rows(opts):
    """Make key 0 always allowed (it is under causal too), so torch gives no NaN rows."""
    if "mask" in opts:
        opts["mask"][..., 0] = True
    if opts.get("lengths") is not None:
        assert opts["lengths"].min() >= 1


@pytest.mark.peer
@pytest.mark.parametrize("config", list(TORCH_SDPA_CONFIGS))
def test_sdpa_matches_torch(config):
    torch = pytest.importorskip("torch")
    arrays, fwd, bwd, opts = sdpa_problem(**TORCH_SDPA_CONFIGS[config])
    no_empty_rows(opts)
    t = {k: torch.tensor(a, requires_grad=True) for k, a in arrays.items()}
    if set(opts) <= {"causal"}:  # causal alone: torch's is_causal
        kw = dict(is_causal=opts.get("causal", False))
    else:
        shape = arrays["q"].shape[:-1] + (arrays["k"].shape[-2],)
        kw = dict(attn_mask=torch.tensor(torch_allowed(shape, opts.get("causal"), opts.get("lengths"),
                                                       opts.get("mask"))))
    out = torch.nn.functional.scaled_dot_product_attention(t["q"], t["k"], t["v"], scale=opts.get("scale"), **kw)
    R = np.random.default_rng(7).normal(size=tuple(out.shape))
    (out * torch.tensor(R)).sum().backward()
    np.testing.assert_allclose(fwd(arrays), out.detach().numpy(), rtol=0, atol=1e-10)
    grads = bwd(arrays, R)
    for k in arrays:
        np.testing.assert_allclose(grads[k], t[k].grad.numpy(), rtol=0, atol=1e-10, err_msg=k)


TORCH_MHA_CONFIGS = {
    "bias_batch_first": dict(),
    "no_bias_batch_first": dict(bias=False),
    "bias_time_major": dict(batch_first=False),
    "no_bias_time_major_causal": dict(bias=False, batch_first=False, causal=True),
    "lengths_key_padding": dict(lengths=[4, 2]),
    "mask_3d_causal_cross": dict(Tq=5, Tk=3, mask_shape=(2, 5, 3), causal=True),
    "mask_4d_head_broadcast_lengths": dict(mask_shape=(1, 2, 3, 4), lengths=[1, 3], batch_first=False),
    "mask_2d_three_heads": dict(E=6, num_heads=3, mask_shape=(3, 4)),
}


@pytest.mark.peer
@pytest.mark.parametrize("config", list(TORCH_MHA_CONFIGS))
def test_mha_matches_torch(config):
    torch = pytest.importorskip("torch")
    cfg = TORCH_MHA_CONFIGS[config]
    arrays, fwd, bwd, opts = mha_problem(**cfg)
    no_empty_rows(opts)
    E, num_heads = cfg.get("E", 4), cfg.get("num_heads", 2)
    net = torch.nn.MultiheadAttention(E, num_heads, bias=cfg.get("bias", True), batch_first=opts["batch_first"],
                                      dtype=torch.float64)
    net.load_state_dict({k: torch.tensor(arrays[k]) for k in MHA_WEIGHTS if k in arrays})
    x = {k: torch.tensor(arrays[k], requires_grad=True) for k in ("query", "key", "value")}
    B, Tq, Tk = 2, cfg.get("Tq", 3), cfg.get("Tk", 4)
    kw = {}
    if opts.get("lengths") is not None:
        kw["key_padding_mask"] = torch.tensor(np.arange(Tk)[None, :] >= opts["lengths"][:, None])
    mask = opts.get("mask")
    if mask is not None and mask.ndim == 2:  # torch's 2-D attn_mask, True = NOT allowed
        kw["attn_mask"] = torch.tensor(~torch_allowed((Tq, Tk), opts.get("causal"), None, mask))
    elif mask is not None or opts.get("causal"):  # torch's (B*num_heads, Tq, Tk) attn_mask
        if mask is not None and mask.ndim == 3:
            mask = mask[:, None]
        allowed = torch_allowed((B, num_heads, Tq, Tk), opts.get("causal"), None, mask)
        kw["attn_mask"] = torch.tensor(~allowed.reshape(B * num_heads, Tq, Tk))
    out, _ = net(x["query"], x["key"], x["value"], need_weights=False, **kw)
    R = np.random.default_rng(7).normal(size=tuple(out.shape))
    (out * torch.tensor(R)).sum().backward()
    np.testing.assert_allclose(fwd(arrays), out.detach().numpy(), rtol=0, atol=1e-10)
    grads = bwd(arrays, R)
    params = dict(net.named_parameters())
    for k in arrays:
        want = x[k].grad if k in x else params[k].grad
        np.testing.assert_allclose(grads[k], want.numpy(), rtol=0, atol=1e-10, err_msg=k)
