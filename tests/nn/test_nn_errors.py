"""Bad input to seqfast.nn (recurrent and attention kernels): every wrong shape, dtype, key, length
or option raises ShapeError / ArgumentTypeError / SeqfastError with a message naming the argument
(one case of each rule per family is also in tests/core/test_arg_rules.py)."""

from __future__ import annotations

import numpy as np
import pytest

import seqfast
import seqfast.nn as snn

from _nn_cases import make_case, mha_weights, rand


def test_recurrent_bad_input_errors():
    case = make_case("lstm", 0, B=2, T=3, L=1, bidir=False, lengths=False)
    x, w = case["x"], case["w"]
    with pytest.raises(seqfast.ShapeError, match=r"x has shape \(3, 4\); expected 3 dimensions"):
        snn.lstm_forward(x[0], w)
    with pytest.raises(seqfast.ShapeError, match="x has shape .* expected"):
        snn.lstm_forward(x[:, :, :3], w)
    with pytest.raises(seqfast.ArgumentTypeError, match="x has dtype int64"):
        snn.lstm_forward(x.astype(np.int64), w)
    with pytest.raises(seqfast.ArgumentTypeError, match="weight_ih_l0.*float64, but x is float32"):
        snn.lstm_forward(x.astype(np.float32), w)
    with pytest.raises(seqfast.ShapeError, match="weight_hh_l0'\\] has shape"):
        snn.lstm_forward(x, dict(w, weight_hh_l0=w["weight_hh_l0"][:, :5]))
    with pytest.raises(seqfast.SeqfastError, match="lacks 'bias_hh_l0'"):
        snn.lstm_forward(x, {k: v for k, v in w.items() if k != "bias_hh_l0"})
    with pytest.raises(seqfast.SeqfastError, match="unexpected key 'weight_xx_l0'"):
        snn.lstm_forward(x, dict(w, weight_xx_l0=w["bias_ih_l0"]))
    with pytest.raises(seqfast.SeqfastError, match="lacks 'weight_ih_l1'"):
        snn.lstm_forward(x, dict(w, weight_hh_l1=w["weight_hh_l0"]))
    with pytest.raises(seqfast.ShapeError, match="multiple of the 4 gates"):
        snn.lstm_forward(x, dict(w, weight_hh_l0=w["weight_hh_l0"][:5]))
    with pytest.raises(seqfast.ShapeError, match=r"h0 has shape \(1, 2, 5\), expected \(1, 2, 6\)"):
        snn.lstm_forward(x, w, np.zeros((1, 2, 5)))
    with pytest.raises(seqfast.ShapeError, match="c0 has shape"):
        snn.lstm_forward(x, w, None, np.zeros((2, 2, 6)))
    with pytest.raises(seqfast.SeqfastError, match=r"lengths\[1\] = 4 is outside 1..=3"):
        snn.lstm_forward(x, w, lengths=np.array([1, 4]))
    with pytest.raises(seqfast.SeqfastError, match=r"lengths\[0\] = 0"):
        snn.lstm_forward(x, w, lengths=[0, 2])
    with pytest.raises(seqfast.ShapeError, match=r"lengths has shape \(3,\), expected \(2,\)"):
        snn.lstm_forward(x, w, lengths=[1, 2, 3])
    with pytest.raises(seqfast.SeqfastError, match="dropout=1.0"):
        snn.lstm_forward(x, w, dropout=1.0)
    with pytest.raises(seqfast.SeqfastError, match="dropout=-0.1"):
        snn.lstm_forward(x, w, dropout=-0.1)
    with pytest.raises(seqfast.ShapeError, match="x has 0 batch rows"):
        snn.lstm_forward(x[:0], w)
    with pytest.raises(seqfast.SeqfastError, match="weight_hr"):
        snn.gru_forward(x, dict(w, weight_hr_l0=np.zeros((2, 6))))
    with pytest.raises(seqfast.SeqfastError, match="variant='cho'"):
        snn.gru_forward(x, w, variant="cho")
    with pytest.raises(seqfast.SeqfastError, match="num_threads=-1"):
        snn.lstm_forward(x, w, num_threads=-1)
    y, hn, cn, cache = snn.lstm_forward(x, w)
    with pytest.raises(seqfast.ShapeError, match=r"dy has shape \(2, 3, 5\), expected \(2, 3, 6\)"):
        snn.lstm_backward(cache, y[..., :5])
    with pytest.raises(seqfast.ArgumentTypeError, match="dy has dtype float32"):
        snn.lstm_backward(cache, y.astype(np.float32))
    with pytest.raises(seqfast.SeqfastError, match="comes from a lstm forward pass, not gru"):
        snn.gru_backward(cache, y)
    with pytest.raises(seqfast.ArgumentTypeError, match="cache must be"):
        snn.lstm_backward("cache", y)


def test_attention_bad_input_gets_clear_errors():
    rng = np.random.default_rng(9)
    q, k, v = rand(rng, (2, 2, 5, 4)), rand(rng, (2, 2, 6, 4)), rand(rng, (2, 2, 6, 3))
    cases = [
        (lambda: snn.attention_forward(q, k[..., :3], v[..., :3]), seqfast.ShapeError, "feature size d of q"),
        (lambda: snn.attention_forward(q, k, v[:, :, :5]), seqfast.ShapeError, "6 keys but v has 5"),
        (lambda: snn.attention_forward(q, k[:1], v[:1]), seqfast.ShapeError, "leading"),
        (lambda: snn.attention_forward(q[0], k, v), seqfast.ShapeError, "all be"),
        (lambda: snn.attention_forward(q, k, v, lengths=np.array([7, 1])), seqfast.SeqfastError, "lengths[0] = 7"),
        (lambda: snn.attention_forward(q, k, v, lengths=np.array([-1, 1])), seqfast.SeqfastError, "lengths[0] = -1"),
        (lambda: snn.attention_forward(q, k, v, lengths=np.array([1, 2, 3])), seqfast.ShapeError, "lengths has shape"),
        (lambda: snn.attention_forward(q, k, v, dropout=1.0), seqfast.SeqfastError, "dropout=1.0 must be in [0, 1)"),
        (lambda: snn.attention_forward(q, k, v, dropout=-0.1), seqfast.SeqfastError, "dropout"),
        (lambda: snn.attention_forward(q, k, v, dropout=float("nan")), seqfast.SeqfastError, "dropout"),
        (lambda: snn.attention_forward(q, k, v, scale=float("inf")), seqfast.SeqfastError, "scale"),
        (lambda: snn.attention_forward(q, k, v, mask=np.ones((5, 6))), TypeError, "bool"),
        (lambda: snn.attention_forward(q, k, v, mask=np.ones((3, 2, 5, 6), bool)), seqfast.ShapeError, "mask has shape"),
        (lambda: snn.attention_forward(q, k, v, mask=np.ones((6, 5), bool)), seqfast.ShapeError, "mask has shape"),
        (lambda: snn.attention_forward(q, k.astype(np.float32), v), TypeError, "dtype"),
        (lambda: snn.attention_forward(q.astype(np.int64), k, v), TypeError, "dtype"),
        (lambda: snn.attention_forward([1.0], k, v), TypeError, "NumPy array"),
        (lambda: snn.attention_forward(q, k, v, num_threads=-1), seqfast.SeqfastError, "num_threads"),
    ]
    qn = q.copy()
    qn[1, 0, 2, 3] = np.nan
    cases.append((lambda: snn.attention_forward(qn, k, v), seqfast.SeqfastError, "q has a non-finite value NaN at [1, 0, 2, 3]"))
    vi = v.copy()
    vi[0, 1, 0, 0] = np.inf
    cases.append((lambda: snn.attention_forward(q, k, vi), seqfast.SeqfastError, "v has a non-finite value inf at [0, 1, 0, 0]"))
    out, cache = snn.attention_forward(q, k, v)
    cases += [
        (lambda: snn.attention_backward(cache, out[..., :2]), seqfast.ShapeError, "dout has shape"),
        (lambda: snn.attention_backward(cache, out.astype(np.float32)), TypeError, "dtype"),
        (lambda: snn.attention_backward(None, out), TypeError, "cache"),
        (lambda: snn.attention_backward(cache, np.full_like(out, np.nan)), seqfast.SeqfastError, "dout has a non-finite"),
    ]
    x = rand(rng, (2, 5, 8))
    w = mha_weights(rng, 8, np.float64)
    cases += [
        (lambda: snn.mha_forward(x, x, x, w, 3), seqfast.SeqfastError, "num_heads=3"),
        (lambda: snn.mha_forward(x, x, x, {**w, "bias_k": w["out_proj.bias"]}, 2), seqfast.SeqfastError, "unexpected key 'bias_k'"),
        (lambda: snn.mha_forward(x, x, x, {"out_proj.weight": w["out_proj.weight"]}, 2), seqfast.SeqfastError, "lacks 'in_proj_weight'"),
        (lambda: snn.mha_forward(x, x, x, {**w, "in_proj_weight": w["out_proj.weight"]}, 2), seqfast.ShapeError, "in_proj_weight"),
        (lambda: snn.mha_forward(x, x[:, :, :4], x, w, 2), seqfast.ShapeError, "key and value"),
        (lambda: snn.mha_forward(x[0], x, x, w, 2), seqfast.ShapeError, "query has shape"),
    ]
    aw = {"w_q": rand(rng, (3, 8)), "w_k": rand(rng, (3, 8)), "v": rand(rng, (3,))}
    cases += [
        (lambda: snn.additive_attention_forward(x, x, {**aw, "w_k": rand(rng, (3, 7))}), seqfast.ShapeError, "w_k"),
        (lambda: snn.additive_attention_forward(x, x, {k2: a for k2, a in aw.items() if k2 != "v"}), seqfast.SeqfastError, "lacks 'v'"),
        (lambda: snn.additive_attention_forward(x, x, {**aw, "u": aw["v"]}), seqfast.SeqfastError, "unexpected key 'u'"),
        (lambda: snn.additive_attention_forward(x, x[:1], aw), seqfast.ShapeError, "keys has shape"),
        (lambda: snn.additive_attention_forward(x, x, aw, values=x[:, :3]), seqfast.ShapeError, "values has shape"),
        (lambda: snn.additive_attention_forward(x, x, aw, lengths=np.array([6, 1])), seqfast.SeqfastError, "lengths[0] = 6"),
        (lambda: snn.luong_attention_forward(x, x[:, :, :3]), seqfast.ShapeError, "kind='dot'"),
        (lambda: snn.luong_attention_forward(x, x, kind="concat"), seqfast.SeqfastError, "kind='concat' is not one of"),
        (lambda: snn.luong_attention_forward(x, x, weights={"weight": rand(rng, (8, 3))}, kind="general"), seqfast.ShapeError, "weight"),
    ]
    xn = x.copy()
    xn[0, 0, 0] = np.nan
    cases.append((lambda: snn.additive_attention_forward(xn, x, aw), seqfast.SeqfastError, "query has a non-finite value"))
    ctx, acache = snn.additive_attention_forward(x, x, aw)
    cases += [
        (lambda: snn.additive_attention_backward(acache, ctx[:, :2]), seqfast.ShapeError, "dcontext has shape"),
        (lambda: snn.luong_attention_backward(acache, ctx), TypeError, "luong_attention_forward"),
    ]
    for fn, exc, msg in cases:
        with pytest.raises(exc) as ei:
            fn()
        assert msg in str(ei.value), f"{msg!r} not in {ei.value!r}"
