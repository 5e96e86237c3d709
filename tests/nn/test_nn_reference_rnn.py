"""seqfast.nn recurrent kernels (RNN, LSTM, GRU) against the float64 reference.

* every cell and option agrees with tests/reference/rnn.py (itself checked by finite
  differences in test_reference_rnn.py): float64 to 1e-11, float32 to a few 1e-5;
* float64 central finite differences on seqfast itself for every gradient;
* results are bit-identical for 1 and 2 threads, and the scalar SIMD path agrees too;
* variable lengths: padding is zero and gets no gradient, unsorted lengths are fine.

The API (caches, defaults, strided inputs, the classes' state dicts) is in test_nn_api.py, bad
input in test_nn_errors.py, direct parity with torch in test_nn_parity_torch.py.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import seqfast.nn as snn

from _nn_cases import CELLS, IDS, make_case, run_seqfast
from reference import rnn as R


def reference(mode, variant, case, dropout=0.0, seed=0):
    y, hn, cn, cache = R.forward(mode, case["x"], case["w"], num_layers=case["L"], bidirectional=case["bidir"], h0=case["h0"],
                                 c0=case["c0"], lengths=case["lengths"], batch_first=case["batch_first"], dropout=dropout,
                                 seed=seed, gru_variant=variant)
    g = R.backward(cache, case["dy"], case["dhn"], case["dcn"])
    return y, hn, cn, g


def compare(mode, variant, case, dtype, tol, dropout=0.0, seed=0, num_threads=None):
    cv = (lambda a: None if a is None else np.asarray(a, dtype))
    ry, rh, rc, rg = reference(mode, variant, case, dropout, seed)
    w = {k: cv(v) for k, v in case["w"].items()}
    y, hn, cn, g = run_seqfast(mode, variant, cv(case["x"]), w, cv(case["h0"]), cv(case["c0"]), case["lengths"], cv(case["dy"]),
                               cv(case["dhn"]), cv(case["dcn"]), batch_first=case["batch_first"], dropout=dropout, seed=seed,
                               num_threads=num_threads)
    assert y.dtype == dtype and hn.dtype == dtype
    np.testing.assert_allclose(y, ry, atol=tol, rtol=tol, err_msg="y")
    np.testing.assert_allclose(hn, rh, atol=tol, rtol=tol, err_msg="h_n")
    if rc is not None:
        np.testing.assert_allclose(cn, rc, atol=tol, rtol=tol, err_msg="c_n")
    assert set(g) == set(rg), (sorted(g), sorted(rg))
    for k in rg:
        assert g[k].shape == rg[k].shape, k
        np.testing.assert_allclose(g[k], rg[k], atol=tol, rtol=tol, err_msg=k)


@pytest.mark.parametrize("mode,variant,proj", CELLS, ids=IDS)
@pytest.mark.parametrize("setup", ["plain", "deep_bidir_lengths", "time_major_dropout"])
def test_matches_reference_float64(mode, variant, proj, setup):
    if setup == "plain":
        case = make_case(mode, proj, L=1, bidir=False, lengths=False)
        compare(mode, variant, case, np.float64, 1e-11)
    elif setup == "deep_bidir_lengths":
        case = make_case(mode, proj, L=3, bidir=True, lengths=True, seed=1)
        compare(mode, variant, case, np.float64, 1e-11)
    else:
        case = make_case(mode, proj, L=2, bidir=True, lengths=True, batch_first=False, seed=2)
        compare(mode, variant, case, np.float64, 1e-11, dropout=0.4, seed=123)


@pytest.mark.parametrize("mode,variant,proj", CELLS, ids=IDS)
def test_matches_reference_float32(mode, variant, proj):
    case = make_case(mode, proj, B=4, T=7, D=5, H=9, L=2, bidir=True, lengths=True, seed=3)
    compare(mode, variant, case, np.float32, 2e-5)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cell=st.sampled_from(CELLS), B=st.integers(1, 4), T=st.integers(1, 5), D=st.integers(1, 5), H=st.integers(1, 7),
       L=st.integers(1, 3), bidir=st.booleans(), lengths=st.booleans(), batch_first=st.booleans(),
       dropout=st.sampled_from([0.0, 0.25]), seed=st.integers(0, 2**32))
def test_hypothesis_matches_reference(cell, B, T, D, H, L, bidir, lengths, batch_first, dropout, seed):
    mode, variant, proj = cell
    proj = min(proj, H - 1)
    case = make_case(mode, proj, B=B, T=T, D=D, H=H, L=L, bidir=bidir, lengths=lengths, batch_first=batch_first, seed=seed % 1000)
    compare(mode, variant, case, np.float64, 1e-10, dropout=dropout, seed=seed)


@pytest.mark.parametrize("mode,variant,proj", CELLS, ids=IDS)
def test_finite_differences_on_seqfast(mode, variant, proj):
    """Central differences of a random linear loss confirm every gradient seqfast returns."""
    case = make_case(mode, proj, B=2, T=3, D=3, H=4, L=2, bidir=True, lengths=True, seed=5)
    rng = np.random.default_rng(9)
    if mode == "rnn_relu":  # keep pre-activations away from the kink
        case["w"] = {k: v * 0.3 for k, v in case["w"].items()}

    def loss(x, w, h0, c0):
        y, hn, cn, _ = run_seqfast(mode, variant, x, w, h0, c0, case["lengths"], case["dy"], case["dhn"], case["dcn"])
        out = (y * case["dy"]).sum() + (hn * case["dhn"]).sum()
        return out + ((cn * case["dcn"]).sum() if cn is not None else 0.0)

    _, _, _, g = run_seqfast(mode, variant, case["x"], case["w"], case["h0"], case["c0"], case["lengths"], case["dy"], case["dhn"], case["dcn"])
    inputs = {"x": case["x"], "h0": case["h0"], **case["w"]}
    if case["c0"] is not None:
        inputs["c0"] = case["c0"]
    eps = 1e-6
    for name, arr in inputs.items():
        for idx in {tuple(rng.integers(0, s) for s in arr.shape) for _ in range(4)}:
            def at(delta):
                a2 = arr.copy()
                a2[idx] += delta
                w = {k: (a2 if k == name else v) for k, v in case["w"].items()}
                return loss(a2 if name == "x" else case["x"], w, a2 if name == "h0" else case["h0"], a2 if name == "c0" else case["c0"])
            fd = (at(eps) - at(-eps)) / (2 * eps)
            assert abs(fd - g[name][idx]) < 1e-6 * max(1.0, abs(fd)), (name, idx, fd, g[name][idx])


@pytest.mark.parametrize("mode,variant,proj", CELLS, ids=IDS)
def test_bit_identical_for_any_thread_count(mode, variant, proj):
    """Sizes large enough that every per-step and big product is split across threads."""
    case = make_case(mode, proj and 24, B=9, T=12, D=40, H=70, L=2, bidir=True, lengths=True, seed=7)
    cv = {k: (None if v is None else np.asarray(v, np.float32)) for k, v in case.items() if k in ("x", "h0", "c0", "dy", "dhn", "dcn")}
    w = {k: v.astype(np.float32) for k, v in case["w"].items()}
    outs = [run_seqfast(mode, variant, cv["x"], w, cv["h0"], cv["c0"], case["lengths"], cv["dy"], cv["dhn"], cv["dcn"], num_threads=t)
            for t in (1, 2, 1)]
    for other in outs[1:]:
        for a, b in zip(outs[0][:3], other[:3]):
            if a is not None:
                assert np.array_equal(a, b)
        for k in outs[0][3]:
            assert np.array_equal(outs[0][3][k], other[3][k]), k


def _levels():
    """The SIMD levels this CPU runs (forcing a level it lacks falls back to the best)."""
    before = snn.simd_level()
    try:
        return sorted({snn.simd_level(lv) for lv in ("scalar", "avx2", "avx512")})
    finally:
        snn.simd_level(before)


@pytest.mark.parametrize("level", ["scalar", "avx2", "avx512"])
@pytest.mark.parametrize("mode,variant,proj", CELLS, ids=IDS)
def test_every_simd_level_agrees(mode, variant, proj, level):
    if level not in _levels():
        pytest.skip(f"this CPU has no {level}")
    case = make_case(mode, proj, B=5, T=6, D=8, H=20, L=2, bidir=True, lengths=True, seed=11)
    before = snn.simd_level()
    try:
        assert snn.simd_level(level) == level
        compare(mode, variant, case, np.float32, 2e-5)
        compare(mode, variant, case, np.float64, 1e-11)
    finally:
        snn.simd_level(before)


@pytest.mark.parametrize("mode,variant,proj", CELLS, ids=IDS)
def test_avx2_and_avx512_are_bit_identical(mode, variant, proj):
    """Both micro-kernels run each output as one FMA chain over k in order: same bits."""
    if "avx512" not in _levels():
        pytest.skip("this CPU has no avx512")
    # H = 70: partial panels (masked at AVX-512) and several row/unit blocks.
    case = make_case(mode, proj, B=9, T=5, D=33, H=70, L=2, bidir=True, lengths=True, seed=5)
    cv = {k: (None if v is None else np.asarray(v, np.float32)) for k, v in case.items() if k in ("x", "h0", "c0", "dy", "dhn", "dcn")}
    w = {k: v.astype(np.float32) for k, v in case["w"].items()}
    before = snn.simd_level()
    outs = []
    try:
        for lv in ("avx2", "avx512"):
            snn.simd_level(lv)
            outs.append(run_seqfast(mode, variant, cv["x"], w, cv["h0"], cv["c0"], case["lengths"], cv["dy"], cv["dhn"], cv["dcn"], num_threads=2))
    finally:
        snn.simd_level(before)
    for a, b in zip(outs[0][:3], outs[1][:3]):
        if a is not None:
            assert np.array_equal(a, b)
    for k in outs[0][3]:
        assert np.array_equal(outs[0][3][k], outs[1][3][k]), k


def test_worked_lstm_step_by_hand():
    """One LSTM step with H = 1 computed by hand from the gate equations."""
    w = {"weight_ih_l0": np.array([[1.0], [2.0], [3.0], [4.0]]), "weight_hh_l0": np.array([[0.5], [0.5], [0.5], [0.5]]),
         "bias_ih_l0": np.zeros(4), "bias_hh_l0": np.array([0.1, 0.2, 0.3, 0.4])}
    x = np.array([[[0.5]]])
    h0, c0 = np.array([[[1.0]]]), np.array([[[2.0]]])
    y, hn, cn, _ = snn.lstm_forward(x, w, h0, c0)
    sig = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    i, f, g, o = sig(0.5 + 0.5 + 0.1), sig(1.0 + 0.5 + 0.2), np.tanh(1.5 + 0.5 + 0.3), sig(2.0 + 0.5 + 0.4)
    c = f * 2.0 + i * g
    assert cn[0, 0, 0] == pytest.approx(c, abs=1e-15)
    assert y[0, 0, 0] == pytest.approx(o * np.tanh(c), abs=1e-15)
    assert hn[0, 0, 0] == y[0, 0, 0]


def test_padding_is_zero_and_gets_no_gradient():
    case = make_case("lstm", 0, B=3, T=6, L=2, bidir=True, lengths=True, seed=4)
    case["lengths"] = np.array([2, 6, 4])
    y, hn, cn, g = run_seqfast("lstm", "pytorch", case["x"], case["w"], case["h0"], case["c0"], case["lengths"], case["dy"], None, None)
    for b, n in enumerate(case["lengths"]):
        assert not y[b, n:].any()
        assert not g["x"][b, n:].any()
    dy2 = case["dy"].copy()
    dy2[0, 2:] = 1e6
    _, _, _, g2 = run_seqfast("lstm", "pytorch", case["x"], case["w"], case["h0"], case["c0"], case["lengths"], dy2, None, None)
    for k in g:
        assert np.array_equal(g[k], g2[k]), k


def test_batch_rows_are_independent_of_the_batch():
    """A row gives the same result alone as inside a bigger, unsorted batch."""
    case = make_case("gru", 0, B=6, T=5, L=2, bidir=True, lengths=True, seed=8)
    w = {k: v.astype(np.float32) for k, v in case["w"].items()}
    x = case["x"].astype(np.float32)
    y, hn, _ = snn.gru_forward(x, w, lengths=case["lengths"], requires_grad=False)
    for b in range(6):
        yb, hb, _ = snn.gru_forward(x[b:b + 1], w, lengths=case["lengths"][b:b + 1], requires_grad=False)
        np.testing.assert_allclose(yb[0], y[b], atol=1e-6)
        np.testing.assert_allclose(hb[:, 0], hn[:, b], atol=1e-6)


def test_dropout_matches_reference_mask_and_is_seeded():
    case = make_case("lstm", 0, B=3, T=5, L=3, bidir=True, lengths=True, seed=6)
    compare("lstm", "pytorch", case, np.float64, 1e-11, dropout=0.5, seed=2**40 + 3)
    w = case["w"]
    a = snn.lstm_forward(case["x"], w, dropout=0.5, seed=1)[0]
    b = snn.lstm_forward(case["x"], w, dropout=0.5, seed=1)[0]
    c = snn.lstm_forward(case["x"], w, dropout=0.5, seed=2)[0]
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_nan_propagates():
    case = make_case("gru", 0, L=1, bidir=False, lengths=False)
    x = case["x"].astype(np.float32).copy()
    x[0, 2, 1] = np.nan
    y, hn, _ = snn.gru_forward(x, {k: v.astype(np.float32) for k, v in case["w"].items()})
    assert np.isnan(y[0, 2:]).all() and not np.isnan(y[0, :2]).any() and not np.isnan(y[1:]).any()


def test_lengths_unsorted_and_equal_to_sorted_permutation():
    case = make_case("rnn_tanh", 0, B=4, T=5, L=1, bidir=True, lengths=True, seed=12)
    case["lengths"] = np.array([3, 5, 1, 4])
    compare("rnn_tanh", "pytorch", case, np.float64, 1e-12)
