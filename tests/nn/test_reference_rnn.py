"""Self-checks of the NumPy recurrent-network reference (tests/reference/rnn.py).

The reference is what seqfast's Rust recurrent kernels are compared with, so it has to be right on
its own:

* its hand-derived backward pass matches float64 central finite differences for every input and
  parameter, in every mode and option (layers, directions, projection, unsorted lengths, time-major
  layout, dropout);
* its forward pass matches the step formulas written out independently, and the variable-length
  semantics hold (zero outputs and gradients at padding, a batch equals its rows run one by one,
  the reverse direction equals the forward one on flipped rows);
* its dropout mask equals a scalar pure-Python SplitMix64 implementation and known SplitMix64
  outputs;
* where torch is installed (peer tests, skipped otherwise), outputs and autograd gradients equal
  torch.nn.RNN/LSTM/GRU's in float64.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from _int_rng import M64, mix64_int
from reference import rnn as R

# (mode, gru_variant) pairs: every cell the reference implements.
CELLS = [("rnn_tanh", "pytorch"), ("rnn_relu", "pytorch"), ("lstm", "pytorch"), ("gru", "pytorch"),
         ("gru", "textbook")]
CELL_IDS = ["rnn_tanh", "rnn_relu", "lstm", "gru_pytorch", "gru_textbook"]
# The same plus a projected LSTM (proj_size 2 < hidden 3): (mode, variant, proj).
CELLS_PROJ = [(m, v, 0) for m, v in CELLS] + [("lstm", "pytorch", 2)]
CELLS_PROJ_IDS = CELL_IDS + ["lstm_proj"]


# ---------------------------------------------------------------------------
# Problem construction and finite differences
# ---------------------------------------------------------------------------


def relu_margin(cache) -> float:
    """Smallest |pre-activation| over the valid steps of an rnn_relu run (inf for other modes)."""
    if cache["mode"] != "rnn_relu":
        return np.inf
    valid = cache["valid"]
    margin = np.inf
    for layer in cache["layers"]:
        for d in layer["dirs"]:
            for t, step in d["steps"].items():
                a = np.abs(step["a"][valid[:, t]])
                if a.size:
                    margin = min(margin, a.min())
    return margin


def make_problem(mode, variant="pytorch", *, B=3, T=4, D=2, H=3, L=1, bidirectional=False, proj=0,
                 lengths=None, batch_first=True, dropout=0.0, seed=0, rng_seed=0):
    """Random weights, inputs, initial states and loss weights for a tiny network.

    For rnn_relu the random draw is repeated until every valid pre-activation is at least 1e-3
    away from the kink, so finite differences with eps = 1e-6 never cross it.
    """
    for attempt in range(200):
        rng = np.random.default_rng(1000 * rng_seed + attempt)
        dirs = 2 if bidirectional else 1
        H_out = proj if proj else H
        weights = R.init_weights(mode, D, H, L, bidirectional, proj, rng)
        x = rng.normal(size=(B, T, D) if batch_first else (T, B, D))
        h0 = rng.normal(size=(L * dirs, B, H_out))
        c0 = rng.normal(size=(L * dirs, B, H)) if mode == "lstm" else None
        kw = dict(num_layers=L, bidirectional=bidirectional, lengths=lengths, batch_first=batch_first,
                  dropout=dropout, seed=seed, gru_variant=variant)
        y, h_n, c_n, cache = R.forward(mode, x, weights, h0=h0, c0=c0, **kw)
        if relu_margin(cache) < 1e-3:
            continue
        Wy = rng.normal(size=y.shape)
        Wh = rng.normal(size=h_n.shape)
        Wc = rng.normal(size=c_n.shape) if c_n is not None else None
        inputs = dict(weights, x=x, h0=h0)
        if c0 is not None:
            inputs["c0"] = c0
        return {"mode": mode, "kw": kw, "inputs": inputs, "weight_names": list(weights), "Wy": Wy, "Wh": Wh,
                "Wc": Wc, "rng": rng}
    raise AssertionError("could not draw an rnn_relu problem away from the kink")


def run(problem, inputs=None):
    """Forward of ``problem`` with (possibly perturbed) ``inputs``: ``(y, h_n, c_n, cache)``."""
    inputs = problem["inputs"] if inputs is None else inputs
    weights = {k: inputs[k] for k in problem["weight_names"]}
    return R.forward(problem["mode"], inputs["x"], weights, h0=inputs["h0"], c0=inputs.get("c0"),
                     **problem["kw"])


def loss(problem, inputs=None) -> float:
    y, h_n, c_n, _ = run(problem, inputs)
    return R.linear_loss(y, h_n, c_n, problem["Wy"], problem["Wh"], problem["Wc"])[0]


def analytic_grads(problem) -> dict:
    y, h_n, c_n, cache = run(problem)
    _, dy, dh_n, dc_n = R.linear_loss(y, h_n, c_n, problem["Wy"], problem["Wh"], problem["Wc"])
    return R.backward(cache, dy, dh_n, dc_n)


def check_fd(problem, max_entries=8, eps=1e-6, tol=1e-6):
    """Central differences on up to ``max_entries`` random entries of EVERY input and parameter."""
    grads = analytic_grads(problem)
    assert set(grads) == set(problem["inputs"]), "backward must return a gradient for every input"
    rng = np.random.default_rng(123)
    inputs = {k: v.copy() for k, v in problem["inputs"].items()}
    for name, a in inputs.items():
        assert grads[name].shape == a.shape, name
        flat = a.reshape(-1)  # a view: perturbations show up in ``inputs``
        picks = rng.choice(flat.size, size=min(max_entries, flat.size), replace=False)
        for j in picks:
            orig = flat[j]
            flat[j] = orig + eps
            lp = loss(problem, inputs)
            flat[j] = orig - eps
            lm = loss(problem, inputs)
            flat[j] = orig
            numeric = (lp - lm) / (2 * eps)
            analytic = grads[name].reshape(-1)[j]
            assert abs(numeric - analytic) <= tol * (1 + abs(numeric)), (
                f"{name}[{np.unravel_index(j, a.shape)}]: numeric {numeric!r} vs analytic {analytic!r}")


# ---------------------------------------------------------------------------
# Gradient checks
# ---------------------------------------------------------------------------

# name -> make_problem options; every cell is checked under each.
CONFIGS = {
    "plain": dict(L=1),
    "deep_bidir_unsorted_lengths_timemajor_dropout": dict(
        L=2, bidirectional=True, lengths=np.array([2, 4, 1]), batch_first=False, dropout=0.3, seed=7),
    "deep_unidir_lengths_dropout": dict(L=2, lengths=np.array([3, 1, 4]), dropout=0.5, seed=3),
    "three_layers_bidir": dict(B=2, T=3, H=2, L=3, bidirectional=True, lengths=np.array([1, 3])),
}


@pytest.mark.parametrize("config", list(CONFIGS))
@pytest.mark.parametrize("mode,variant,proj", CELLS_PROJ, ids=CELLS_PROJ_IDS)
def test_gradients_match_finite_differences(mode, variant, proj, config):
    if proj >= CONFIGS[config].get("H", 3):
        proj = 1
    check_fd(make_problem(mode, variant, proj=proj, **CONFIGS[config]))


def test_lstm_projection_must_be_smaller_than_hidden():
    with pytest.raises(ValueError):  # torch refuses proj_size >= hidden_size too
        R.init_weights("lstm", 2, 3, 1, False, proj_size=3)
    W = R.init_weights("lstm", 2, 3, 1, False, proj_size=2)
    W["weight_hr_l0"] = np.zeros((3, 3))
    W["weight_hh_l0"] = np.zeros((12, 3))
    with pytest.raises(ValueError):
        R.forward("lstm", np.zeros((1, 2, 2)), W, num_layers=1)


def test_all_entries_of_every_tensor_deep_bidirectional_lstm():
    """One exhaustive check (every entry of every tensor), on a tiny projected LSTM."""
    problem = make_problem("lstm", B=2, T=3, D=2, H=2, proj=1, L=2, bidirectional=True,
                           lengths=np.array([3, 2]), dropout=0.25, seed=11, batch_first=False)
    check_fd(problem, max_entries=10**9)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cell=st.sampled_from(CELLS), L=st.integers(1, 3), bidirectional=st.booleans(),
       proj=st.sampled_from([0, 0, 1, 2]), B=st.integers(1, 3), T=st.integers(1, 4), D=st.integers(1, 3),
       H=st.integers(1, 3), batch_first=st.booleans(), dropout=st.sampled_from([0.0, 0.0, 0.2, 0.6]),
       data=st.data())
def test_directional_derivative_random_configs(cell, L, bidirectional, proj, B, T, D, H, batch_first, dropout,
                                               data):
    """<grad, v> equals the central difference along a random direction v over ALL inputs."""
    mode, variant = cell
    if mode != "lstm" or proj >= H:  # projection: lstm only, and 0 < proj < hidden as in torch
        proj = 0
    lengths = None
    if data.draw(st.booleans(), label="use_lengths"):
        lengths = np.array(data.draw(st.lists(st.integers(1, T), min_size=B, max_size=B), label="lengths"))
    problem = make_problem(mode, variant, B=B, T=T, D=D, H=H, L=L, bidirectional=bidirectional, proj=proj,
                           lengths=lengths, batch_first=batch_first, dropout=dropout,
                           seed=data.draw(st.integers(0, 2**64 - 1), label="seed"),
                           rng_seed=data.draw(st.integers(0, 10**6), label="rng_seed"))
    grads = analytic_grads(problem)
    rng = np.random.default_rng(5)
    v = {k: rng.normal(size=a.shape) for k, a in problem["inputs"].items()}
    eps = 1e-6
    plus = {k: a + eps * v[k] for k, a in problem["inputs"].items()}
    minus = {k: a - eps * v[k] for k, a in problem["inputs"].items()}
    numeric = (loss(problem, plus) - loss(problem, minus)) / (2 * eps)
    analytic = sum(float(np.sum(grads[k] * v[k])) for k in v)
    assert abs(numeric - analytic) <= 1e-6 * (1 + abs(numeric))


# ---------------------------------------------------------------------------
# Forward semantics written out independently
# ---------------------------------------------------------------------------


def sig(a):
    return 1 / (1 + np.exp(-a))


def one_step(mode, variant, W, x, h, c):
    """The step formulas, straight from the module docstring, for a single row (vectors)."""
    s = "_l0"
    w_ih, w_hh, b_ih, b_hh = W["weight_ih" + s], W["weight_hh" + s], W["bias_ih" + s], W["bias_hh" + s]
    if mode.startswith("rnn"):
        a = w_ih @ x + b_ih + w_hh @ h + b_hh
        return (np.tanh(a) if mode == "rnn_tanh" else np.maximum(a, 0)), None
    H = w_ih.shape[0] // (4 if mode == "lstm" else 3)
    blk = lambda w, j: w[j * H:(j + 1) * H]  # noqa: E731
    if mode == "lstm":
        pre = [blk(w_ih, j) @ x + blk(b_ih, j) + blk(w_hh, j) @ h + blk(b_hh, j) for j in range(4)]
        i, f, g, o = sig(pre[0]), sig(pre[1]), np.tanh(pre[2]), sig(pre[3])
        c_new = f * c + i * g
        m = o * np.tanh(c_new)
        return (W["weight_hr" + s] @ m if "weight_hr" + s in W else m), c_new
    r = sig(blk(w_ih, 0) @ x + blk(b_ih, 0) + blk(w_hh, 0) @ h + blk(b_hh, 0))
    z = sig(blk(w_ih, 1) @ x + blk(b_ih, 1) + blk(w_hh, 1) @ h + blk(b_hh, 1))
    if variant == "pytorch":
        n = np.tanh(blk(w_ih, 2) @ x + blk(b_ih, 2) + r * (blk(w_hh, 2) @ h + blk(b_hh, 2)))
    else:
        n = np.tanh(blk(w_ih, 2) @ x + blk(b_ih, 2) + blk(w_hh, 2) @ (r * h) + blk(b_hh, 2))
    return (1 - z) * n + z * h, None


@pytest.mark.parametrize("mode,variant,proj", CELLS_PROJ, ids=CELLS_PROJ_IDS)
def test_forward_matches_step_formulas(mode, variant, proj):
    rng = np.random.default_rng(3)
    B, T, D, H = 2, 3, 2, 3
    H_out = proj or H
    W = R.init_weights(mode, D, H, 1, False, proj, rng)
    x = rng.normal(size=(B, T, D))
    h0 = rng.normal(size=(1, B, H_out))
    c0 = rng.normal(size=(1, B, H)) if mode == "lstm" else None
    y, h_n, c_n, _ = R.forward(mode, x, W, num_layers=1, bidirectional=False, h0=h0, c0=c0, gru_variant=variant)
    for b in range(B):
        h, c = h0[0, b], (c0[0, b] if c0 is not None else None)
        for t in range(T):
            h, c = one_step(mode, variant, W, x[b, t], h, c)
            np.testing.assert_allclose(y[b, t], h, rtol=0, atol=1e-14)
        np.testing.assert_allclose(h_n[0, b], h, rtol=0, atol=1e-14)
        if c is not None:
            np.testing.assert_allclose(c_n[0, b], c, rtol=0, atol=1e-14)


def test_gru_variants_differ():
    rng = np.random.default_rng(0)
    W = R.init_weights("gru", 2, 3, 1, False, rng=rng)
    x, h0 = rng.normal(size=(2, 3, 2)), rng.normal(size=(1, 2, 3))
    ya = R.forward("gru", x, W, num_layers=1, h0=h0, gru_variant="pytorch")[0]
    yb = R.forward("gru", x, W, num_layers=1, h0=h0, gru_variant="textbook")[0]
    assert np.abs(ya - yb).max() > 1e-3


def _stacked_problem(mode, variant="pytorch", proj=0, L=2, bidirectional=True, dropout=0.0, seed=0,
                     lengths=(3, 1, 4, 2), T=4, rng_seed=0):
    return make_problem(mode, variant, B=len(lengths), T=T, L=L, bidirectional=bidirectional, proj=proj,
                        lengths=np.array(lengths), dropout=dropout, seed=seed, rng_seed=rng_seed)


@pytest.mark.parametrize("mode,variant", CELLS, ids=CELL_IDS)
def test_padding_outputs_zero_and_gets_no_gradient(mode, variant):
    problem = _stacked_problem(mode, variant, dropout=0.4, seed=9)
    lengths = problem["kw"]["lengths"]
    y, h_n, c_n, cache = run(problem)
    pad = np.arange(y.shape[1])[None, :] >= lengths[:, None]  # (B, T)
    assert np.all(y[pad] == 0.0)
    assert np.all(np.abs(y[~pad]).max(axis=-1) > 0)
    _, dy, dh_n, dc_n = R.linear_loss(y, h_n, c_n, problem["Wy"], problem["Wh"], problem["Wc"])
    g = R.backward(cache, dy, dh_n, dc_n)
    assert np.all(g["x"][pad] == 0.0)
    # Changing dy at padding changes no gradient at all.
    dy2 = dy.copy()
    dy2[pad] = problem["rng"].normal(size=dy2[pad].shape) * 100
    g2 = R.backward(cache, dy2, dh_n, dc_n)
    for k in g:
        np.testing.assert_array_equal(g[k], g2[k], err_msg=k)


@pytest.mark.parametrize("mode,variant,proj", CELLS_PROJ, ids=CELLS_PROJ_IDS)
def test_batch_equals_rows_run_alone(mode, variant, proj):
    """Each row run on its own, truncated to its length, gives the batch's outputs and states; the
    batch's parameter gradients are the sum of the rows'."""
    problem = _stacked_problem(mode, variant, proj=proj)
    inp = problem["inputs"]
    lengths = problem["kw"]["lengths"]
    y, h_n, c_n, _ = run(problem)
    g = analytic_grads(problem)
    summed = {k: np.zeros_like(inp[k]) for k in problem["weight_names"]}
    for b, n in enumerate(lengths):
        row = dict(inp, x=inp["x"][b:b + 1, :n], h0=inp["h0"][:, b:b + 1])
        if "c0" in inp:
            row["c0"] = inp["c0"][:, b:b + 1]
        sub = dict(problem, kw=dict(problem["kw"], lengths=None), inputs=row, Wy=problem["Wy"][b:b + 1, :n],
                   Wh=problem["Wh"][:, b:b + 1], Wc=None if problem["Wc"] is None else problem["Wc"][:, b:b + 1])
        yb, hb, cb, _ = run(sub)
        np.testing.assert_allclose(y[b:b + 1, :n], yb, rtol=0, atol=1e-13)
        np.testing.assert_allclose(h_n[:, b:b + 1], hb, rtol=0, atol=1e-13)
        if c_n is not None:
            np.testing.assert_allclose(c_n[:, b:b + 1], cb, rtol=0, atol=1e-13)
        gb = analytic_grads(sub)
        np.testing.assert_allclose(g["x"][b:b + 1, :n], gb["x"], rtol=0, atol=1e-12)
        np.testing.assert_allclose(g["h0"][:, b:b + 1], gb["h0"], rtol=0, atol=1e-12)
        for k in summed:
            summed[k] += gb[k]
    for k in summed:
        np.testing.assert_allclose(g[k], summed[k], rtol=0, atol=1e-12, err_msg=k)


@pytest.mark.parametrize("mode,variant", CELLS, ids=CELL_IDS)
def test_reverse_direction_is_forward_on_flipped_rows(mode, variant):
    problem = _stacked_problem(mode, variant, L=1, bidirectional=True)
    inp, lengths = problem["inputs"], problem["kw"]["lengths"]
    y, h_n, c_n, _ = run(problem)
    H_out = h_n.shape[-1]
    rev_w = {k.replace("_reverse", ""): v for k, v in inp.items() if k.endswith("_reverse")}
    x_flip = inp["x"].copy()
    for b, n in enumerate(lengths):
        x_flip[b, :n] = inp["x"][b, :n][::-1]
    c0 = inp["c0"][1:2] if "c0" in inp else None
    yr, hr, cr, _ = R.forward(mode, x_flip, rev_w, num_layers=1, h0=inp["h0"][1:2], c0=c0, lengths=lengths,
                              gru_variant=variant)
    for b, n in enumerate(lengths):
        np.testing.assert_allclose(y[b, :n, H_out:], yr[b, :n][::-1], rtol=0, atol=1e-14)
    np.testing.assert_allclose(h_n[1:2], hr, rtol=0, atol=1e-14)
    if c_n is not None:
        np.testing.assert_allclose(c_n[1:2], cr, rtol=0, atol=1e-14)


@pytest.mark.parametrize("mode,variant", CELLS, ids=CELL_IDS)
def test_layout_defaults_and_full_lengths(mode, variant):
    """batch_first=False is the transpose; lengths all T == no lengths; default states are zeros."""
    problem = _stacked_problem(mode, variant, lengths=(4, 4, 4), dropout=0.3, seed=2)
    inp = problem["inputs"]
    kw = dict(problem["kw"])
    weights = {k: inp[k] for k in problem["weight_names"]}
    y, h_n, c_n, cache = R.forward(mode, inp["x"], weights, h0=inp["h0"], c0=inp.get("c0"), **kw)
    kw_t = dict(kw, batch_first=False, lengths=None)
    yt, ht, ct, cache_t = R.forward(mode, inp["x"].transpose(1, 0, 2), weights, h0=inp["h0"], c0=inp.get("c0"),
                                    **kw_t)
    np.testing.assert_array_equal(y, yt.transpose(1, 0, 2))
    np.testing.assert_array_equal(h_n, ht)
    dy = problem["Wy"]
    g = R.backward(cache, dy, problem["Wh"], problem["Wc"])
    gt = R.backward(cache_t, dy.transpose(1, 0, 2), problem["Wh"], problem["Wc"])
    np.testing.assert_array_equal(g["x"], gt["x"].transpose(1, 0, 2))
    for k in problem["weight_names"]:
        np.testing.assert_array_equal(g[k], gt[k])
    zeros = {"h0": np.zeros_like(inp["h0"])}
    if mode == "lstm":
        zeros["c0"] = np.zeros_like(inp["c0"])
    a = R.forward(mode, inp["x"], weights, **zeros, **kw)
    b = R.forward(mode, inp["x"], weights, **kw)
    for u, v in zip(a[:3], b[:3]):
        if u is not None:
            np.testing.assert_array_equal(u, v)
    # Backward without dh_n / dc_n equals passing zeros.
    g0 = R.backward(cache, dy)
    g1 = R.backward(cache, dy, np.zeros_like(h_n), None if c_n is None else np.zeros_like(c_n))
    for k in g0:
        np.testing.assert_array_equal(g0[k], g1[k])


def test_dropout_semantics():
    problem = _stacked_problem("lstm", L=3, dropout=0.5, seed=1)
    y_a = run(problem)[0]
    y_same = run(problem)[0]
    np.testing.assert_array_equal(y_a, y_same)  # fixed seed: deterministic
    y_b = run(dict(problem, kw=dict(problem["kw"], seed=2)))[0]
    assert np.abs(y_a - y_b).max() > 1e-6
    # p = 0 ignores the seed.
    p0 = [run(dict(problem, kw=dict(problem["kw"], dropout=0.0, seed=s)))[0] for s in (1, 2)]
    np.testing.assert_array_equal(p0[0], p0[1])
    # A single layer has no inter-layer dropout.
    one = _stacked_problem("gru", L=1, dropout=0.9, seed=1)
    np.testing.assert_array_equal(run(one)[0], run(dict(one, kw=dict(one["kw"], dropout=0.0)))[0])
    # The last layer is never dropped: its dropped entries would be exact zeros at valid steps.
    assert np.all(np.abs(y_a[~(np.arange(4)[None, :] >= problem["kw"]["lengths"][:, None])]) > 0)
    # Layer k's output is multiplied by dropout_mask(seed, k, ...): rebuild layer 1's input by hand.
    inp = problem["inputs"]
    L0 = {k: v for k, v in inp.items() if "_l0" in k}
    y0 = R.forward("lstm", inp["x"], L0, num_layers=1, bidirectional=True, h0=inp["h0"][0:2], c0=inp["c0"][0:2],
                   lengths=problem["kw"]["lengths"])[0]
    mask0 = R.dropout_mask(1, 0, *y0.shape, 0.5)
    L1 = {k.replace("_l1", "_l0"): v for k, v in inp.items() if "_l1" in k}
    y1 = R.forward("lstm", y0 * mask0, L1, num_layers=1, bidirectional=True, h0=inp["h0"][2:4], c0=inp["c0"][2:4],
                   lengths=problem["kw"]["lengths"])[0]
    _, _, _, cache = run(problem)
    np.testing.assert_array_equal(cache["layers"][0]["mask"], mask0)
    np.testing.assert_array_equal(cache["layers"][1]["mask"], R.dropout_mask(1, 1, *y1.shape, 0.5))
    assert cache["layers"][2]["mask"] is None


# ---------------------------------------------------------------------------
# The dropout mask generator
# ---------------------------------------------------------------------------

# dropout_mask(seed=42, layer=0, B=2, T=3, D=4, p=0.5) > 0, flattened (b, t, j) order; computed with
# mask_int below (on _int_rng.mix64_int).
GOLDEN_MASK_42_0_2x3x4_HALF = "011001101100000000101100"


def mask_int(seed, layer, B, T, D, p):
    key = mix64_int(seed) ^ (((layer + 1) * 0x9E3779B97F4A7C15) & M64)
    threshold = int(p * (1 << 24))  # p * 2**24 is exact in float64; int() floors a non-negative
    out = np.zeros((B, T, D))
    for b in range(B):
        for t in range(T):
            for j in range(D):
                u = mix64_int((key + (b * T + t) * D + j) & M64)
                out[b, t, j] = (1.0 / (1.0 - p)) if (u >> 40) >= threshold else 0.0
    return out


def test_mix64_known_splitmix64_outputs():
    # The first outputs of SplitMix64 seeded with 0: mix64(k * golden) for k = 1, 2, 3.
    golden = 0x9E3779B97F4A7C15
    expected = [0xE220A8397B1DCDAF, 0x6E789E6AA1B965F4, 0x06C45D188009454F]
    for k, e in enumerate(expected, start=1):
        assert mix64_int(k * golden) == e
        assert int(R.mix64(np.uint64((k * golden) & M64))) == e
    zs = np.array([0, 1, 2**63, M64, 0x0123456789ABCDEF], dtype=np.uint64)
    assert [int(v) for v in R.mix64(zs)] == [mix64_int(int(z)) for z in zs]


@pytest.mark.parametrize("seed,layer,p", [(0, 0, 0.5), (42, 1, 0.3), (2**64 - 1, 5, 0.9), (123456789, 0, 1e-7),
                                          (7, 2, 0.999999)])
def test_dropout_mask_equals_scalar_implementation(seed, layer, p):
    B, T, D = 3, 5, 7
    np.testing.assert_array_equal(R.dropout_mask(seed, layer, B, T, D, p), mask_int(seed, layer, B, T, D, p))


def test_dropout_mask_golden():
    """A fixed small mask, for cross-language checks (the Rust kernel must reproduce it)."""
    keep = R.dropout_mask(42, 0, 2, 3, 4, 0.5) > 0
    bits = "".join("1" if k else "0" for k in keep.reshape(-1))
    assert bits == GOLDEN_MASK_42_0_2x3x4_HALF
    assert set(np.unique(R.dropout_mask(42, 0, 2, 3, 4, 0.5))) <= {0.0, 2.0}


def test_dropout_mask_properties():
    B, T, D = 64, 32, 64
    for p in (0.1, 0.3, 0.5, 0.8):
        m = R.dropout_mask(2024, 0, B, T, D, p)
        assert set(np.unique(m)) == {0.0, 1.0 / (1.0 - p)}
        assert abs((m > 0).mean() - (1 - p)) < 0.005, p
        np.testing.assert_array_equal(m, R.dropout_mask(2024, 0, B, T, D, p))  # deterministic
        assert abs(m.mean() - 1.0) < 0.02  # inverted dropout keeps the expectation
    base = R.dropout_mask(1, 0, 8, 4, 8, 0.5)
    assert np.mean(base != R.dropout_mask(2, 0, 8, 4, 8, 0.5)) > 0.3  # seeds differ
    assert np.mean(base != R.dropout_mask(1, 1, 8, 4, 8, 0.5)) > 0.3  # layers differ
    # Entry (b, t, j) depends on (T, D) but not B: a smaller batch is a prefix.
    np.testing.assert_array_equal(R.dropout_mask(1, 0, 3, 4, 8, 0.5), base[:3])
    # Monotone in p: an entry dropped at p is dropped at every larger p.
    keeps = [R.dropout_mask(9, 0, 16, 16, 16, p) > 0 for p in (0.1, 0.4, 0.7)]
    assert np.all(keeps[1] <= keeps[0]) and np.all(keeps[2] <= keeps[1])
    np.testing.assert_array_equal(R.dropout_mask(1, 0, 2, 3, 4, 0.0), np.ones((2, 3, 4)))
    np.testing.assert_array_equal(R.dropout_mask(1, 0, 2, 3, 4, 1.0), np.zeros((2, 3, 4)))
    with pytest.raises(ValueError):
        R.dropout_mask(1, 0, 2, 3, 4, 1.5)
    with pytest.raises(ValueError):
        R.dropout_mask(1, 0, 2, 3, 4, -0.1)


# ---------------------------------------------------------------------------
# Helpers and errors
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("mode", R.MODES)
def test_init_weights_shapes_and_bounds(mode):
    proj = 2 if mode == "lstm" else 0
    W = R.init_weights(mode, 5, 4, 2, True, proj, np.random.default_rng(0))
    assert list(W) == R.weight_names(mode, 2, True, proj)
    G = R.gate_count(mode)
    H_out = proj or 4
    assert W["weight_ih_l0"].shape == (G * 4, 5)
    assert W["weight_ih_l1_reverse"].shape == (G * 4, 2 * H_out)
    assert W["weight_hh_l1"].shape == (G * 4, H_out)
    assert W["bias_hh_l0_reverse"].shape == (G * 4,)
    if proj:
        assert W["weight_hr_l1_reverse"].shape == (2, 4)
    for w in W.values():
        assert w.dtype == np.float64 and np.abs(w).max() <= 0.5
    assert R.sizes_from_weights(mode, W) == (5, 4, proj)


def test_errors():
    rng = np.random.default_rng(0)
    W = R.init_weights("gru", 2, 3, 2, False, rng=rng)
    x = rng.normal(size=(2, 4, 2))
    ok = dict(num_layers=2, bidirectional=False)
    R.forward("gru", x, W, **ok)
    R.forward("gru", x, W)  # num_layers inferred
    with pytest.raises(ValueError):
        R.forward("lstm_", x, W, **ok)
    with pytest.raises(ValueError):
        R.forward("gru", x, W, num_layers=1)
    with pytest.raises(ValueError):
        R.forward("gru", x, W, num_layers=2, bidirectional=True)
    with pytest.raises(ValueError):
        R.forward("gru", x, W, lengths=np.array([0, 4]), **ok)
    with pytest.raises(ValueError):
        R.forward("gru", x, W, lengths=np.array([5, 4]), **ok)
    with pytest.raises(ValueError):
        R.forward("gru", x, W, lengths=np.array([4]), **ok)
    with pytest.raises(ValueError):
        R.forward("gru", x, W, h0=np.zeros((2, 2, 4)), **ok)
    with pytest.raises(ValueError):
        R.forward("gru", x, W, c0=np.zeros((2, 2, 3)), **ok)
    with pytest.raises(ValueError):
        R.forward("gru", x, W, gru_variant="cho", **ok)
    with pytest.raises(ValueError):
        R.forward("gru", x[..., :1], W, **ok)
    with pytest.raises(ValueError):
        R.forward("gru", x[0], W, **ok)
    with pytest.raises(ValueError):
        R.forward("gru", x, W, dropout=1.5, **ok)
    with pytest.raises(ValueError):
        R.forward("lstm", x, W, **ok)  # gru weights are not lstm weights
    with pytest.raises(TypeError):
        R.forward("gru", x, {k: v.astype(np.float32) for k, v in W.items()}, **ok)
    with pytest.raises(ValueError):
        R.init_weights("gru", 2, 3, 1, False, proj_size=2)


# ---------------------------------------------------------------------------
# torch as an oracle (skipped when torch is missing)
# ---------------------------------------------------------------------------

# torch has no textbook GRU.
TORCH_CELLS = [c for c in CELLS_PROJ if c[:2] != ("gru", "textbook")]
TORCH_IDS = [i for c, i in zip(CELLS_PROJ, CELLS_PROJ_IDS) if c[:2] != ("gru", "textbook")]
TORCH_CONFIGS = {
    "plain": dict(L=1),
    "deep_bidir_unsorted_lengths": dict(L=2, bidirectional=True, lengths=np.array([2, 4, 1])),
    "deep_bidir_timemajor_lengths": dict(L=3, bidirectional=True, lengths=np.array([3, 3, 4]), batch_first=False),
    "deep_unidir": dict(L=2),
}


def torch_run(problem):
    """Outputs and autograd gradients of the same loss from torch.nn.RNN/LSTM/GRU in float64."""
    torch = pytest.importorskip("torch")
    mode, kw, inp = problem["mode"], problem["kw"], problem["inputs"]
    D, H, P = R.sizes_from_weights(mode, {k: inp[k] for k in problem["weight_names"]})
    common = dict(input_size=D, hidden_size=H, num_layers=kw["num_layers"], bidirectional=kw["bidirectional"],
                  batch_first=kw["batch_first"], dtype=torch.float64)
    if mode == "lstm":
        net = torch.nn.LSTM(proj_size=P, **common)
    elif mode == "gru":
        net = torch.nn.GRU(**common)
    else:
        net = torch.nn.RNN(nonlinearity=mode[4:], **common)
    net.load_state_dict({k: torch.tensor(inp[k]) for k in problem["weight_names"]})
    net.train()
    t = {k: torch.tensor(inp[k], requires_grad=True) for k in ("x", "h0", "c0") if k in inp}
    x = t["x"]
    T = x.shape[1] if kw["batch_first"] else x.shape[0]
    if kw["lengths"] is not None:
        x = torch.nn.utils.rnn.pack_padded_sequence(x, torch.tensor(kw["lengths"]), batch_first=kw["batch_first"],
                                                    enforce_sorted=False)
    if mode == "lstm":
        y, (h_n, c_n) = net(x, (t["h0"], t["c0"]))
    else:
        y, h_n = net(x, t["h0"])
        c_n = None
    if kw["lengths"] is not None:
        y, _ = torch.nn.utils.rnn.pad_packed_sequence(y, batch_first=kw["batch_first"], total_length=T)
    total = (y * torch.tensor(problem["Wy"])).sum() + (h_n * torch.tensor(problem["Wh"])).sum()
    if c_n is not None:
        total = total + (c_n * torch.tensor(problem["Wc"])).sum()
    total.backward()
    grads = {k: v.grad.numpy() for k, v in t.items()}
    params = dict(net.named_parameters())
    for k in problem["weight_names"]:
        grads[k] = params[k].grad.numpy()
    out = (y.detach().numpy(), h_n.detach().numpy(), None if c_n is None else c_n.detach().numpy())
    return out, grads


@pytest.mark.peer
@pytest.mark.parametrize("config", list(TORCH_CONFIGS))
@pytest.mark.parametrize("mode,variant,proj", TORCH_CELLS, ids=TORCH_IDS)
def test_matches_torch(mode, variant, proj, config):
    pytest.importorskip("torch")
    problem = make_problem(mode, variant, proj=proj, **TORCH_CONFIGS[config])
    (ty, th, tc), tgrads = torch_run(problem)
    y, h_n, c_n, _ = run(problem)
    np.testing.assert_allclose(y, ty, rtol=0, atol=1e-10)
    np.testing.assert_allclose(h_n, th, rtol=0, atol=1e-10)
    if c_n is not None:
        np.testing.assert_allclose(c_n, tc, rtol=0, atol=1e-10)
    grads = analytic_grads(problem)
    assert set(grads) == set(tgrads)
    for k in grads:
        np.testing.assert_allclose(grads[k], tgrads[k], rtol=0, atol=1e-10, err_msg=k)
