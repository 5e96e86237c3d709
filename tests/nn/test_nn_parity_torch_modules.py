"""seqfast.torch modules against torch.nn and torch.autograd.gradcheck.

* outputs and gradients (input, states, every parameter) equal torch.nn.LSTM / GRU / RNN /
  MultiheadAttention / F.scaled_dot_product_attention in float64 and float32, with the
  tolerances of tests/nn/test_nn_reference_rnn.py and tests/nn/test_nn_reference_attention.py;
* ``torch.autograd.gradcheck`` in float64 for every module and option (layers, directions,
  proj_size, dropout with a fixed seed, lengths, PackedSequence, masks, causal, textbook GRU,
  additive and Luong attention);
* autograd plumbing, thread counts and errors: test_nn_torch_api.py.

torch runs with one thread here (tests are small); skips when torch is missing.
"""

from __future__ import annotations


import numpy as np
import pytest

torch = pytest.importorskip("torch")

import seqfast  # noqa: E402

import seqfast.torch as st  # noqa: E402
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence  # noqa: E402

F = torch.nn.functional
from _torch_cases import TOL32, TOL64, _one_thread, close  # noqa: E402,F401  (_one_thread: an autouse fixture)


def pair(kind, *args, seed=0, **kw):
    """(seqfast module, torch module) with identical weights."""
    torch.manual_seed(seed)
    ref = getattr(torch.nn, kind)(*args, **kw)
    torch.manual_seed(seed)
    mine = getattr(st, kind)(*args, **kw)
    for (a, p), (b, q) in zip(ref.state_dict().items(), mine.state_dict().items()):
        assert a == b and torch.equal(p, q), "same arguments and seed must give the same initialisation"
    return mine, ref


# ------------------------------------------------------------------------------- recurrent
CELLS = {"lstm": ("LSTM", {}), "lstm_proj": ("LSTM", {"proj_size": 3}), "gru": ("GRU", {}),
         "rnn_tanh": ("RNN", {"nonlinearity": "tanh"}), "rnn_relu": ("RNN", {"nonlinearity": "relu"})}


def run_rnn(m, x, hx, packed_lengths, g, gh):
    """Forward, loss (y*g).sum() + (h_n*gh).sum(), backward; returns (y padded, h_n, c_n)."""
    inp = x
    if packed_lengths is not None:
        inp = pack_padded_sequence(x, packed_lengths, batch_first=m.batch_first, enforce_sorted=False)
    y, hid = m(inp, hx)
    if packed_lengths is not None:
        y, _ = pad_packed_sequence(y, batch_first=m.batch_first, total_length=x.shape[1 if m.batch_first else 0])
    h, c = hid if isinstance(hid, tuple) else (hid, None)
    loss = (y * g).sum() + (h * gh).sum() + (0 if c is None else c.sum())
    loss.backward()
    return y, h, c


@pytest.mark.parametrize("cell", list(CELLS))
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("layout", ["padded_bf", "packed_tm", "packed_bf_h0"])
def test_recurrent_matches_torch(cell, dtype, layout):
    kind, kw = CELLS[cell]
    bf = layout.endswith("bf") or layout == "packed_bf_h0"
    mine, ref = pair(kind, 5, 6, num_layers=2, bidirectional=True, batch_first=bf, **kw)
    mine.to(dtype), ref.to(dtype)
    B, T = 3, 7
    gen = torch.Generator().manual_seed(1)
    shape = (B, T, 5) if bf else (T, B, 5)
    x = torch.randn(shape, generator=gen, dtype=dtype)
    lengths = torch.tensor([5, 7, 2]) if layout.startswith("packed") else None
    hout = kw.get("proj_size", 6)
    hx = None
    if layout.endswith("h0"):
        h0 = torch.randn(4, B, hout, generator=gen, dtype=dtype)
        hx = (h0, torch.randn(4, B, 6, generator=gen, dtype=dtype)) if kind == "LSTM" else h0
    ys = (B, T, 2 * hout) if bf else (T, B, 2 * hout)
    g, gh = torch.randn(ys, generator=gen, dtype=dtype), torch.randn(4, B, hout, generator=gen, dtype=dtype)
    outs = []
    for m in (mine, ref):
        xx = x.clone().requires_grad_()
        hh = None if hx is None else (tuple(t.clone().requires_grad_() for t in hx) if kind == "LSTM" else hx.clone().requires_grad_())
        outs.append((run_rnn(m, xx, hh, lengths, g, gh), xx, hh))
    tol = TOL64 if dtype == torch.float64 else TOL32
    (y1, h1, c1), x1, hh1 = outs[0]
    (y2, h2, c2), x2, hh2 = outs[1]
    close("y", y1, y2, tol)
    close("h_n", h1, h2, tol)
    if c1 is not None:
        close("c_n", c1, c2, tol)
    close("dx", x1.grad, x2.grad, tol)
    if hh1 is not None:
        for a, b in zip(hh1 if isinstance(hh1, tuple) else (hh1,), hh2 if isinstance(hh2, tuple) else (hh2,)):
            close("dh0", a.grad, b.grad, tol)
    for (n, p), (_, q) in zip(mine.named_parameters(), ref.named_parameters()):
        close(n, p.grad, q.grad, tol * 10)


@pytest.mark.parametrize("kind", ["LSTM", "GRU", "RNN"])
def test_unbatched_and_no_bias(kind):
    mine, ref = pair(kind, 4, 5, bias=False)
    x = torch.randn(6, 4)
    (y1, h1), (y2, h2) = mine(x), ref(x)
    close("y", y1, y2, TOL32)
    close("h", h1[0] if kind == "LSTM" else h1, h2[0] if kind == "LSTM" else h2, TOL32)
    assert y1.shape == (6, 5)


def test_lengths_on_padded_input_equals_packed():
    m = st.LSTM(3, 4, batch_first=True)
    x = torch.randn(3, 5, 3)
    lens = torch.tensor([2, 5, 3])
    y, (h, c) = m(x, lengths=lens)
    yp, (hp, cp) = m(pack_padded_sequence(x, lens, batch_first=True, enforce_sorted=False))
    yp, _ = pad_packed_sequence(yp, batch_first=True)
    close("y", y, yp, 0)
    close("h", h, hp, 0)
    assert float(y[0, 2:].abs().max()) == 0.0  # zero past a row's length


def test_textbook_gru_is_the_kernel():
    m = st.GRU(3, 4, batch_first=True, variant="textbook").double()
    x = torch.randn(2, 5, 3, dtype=torch.float64)
    y, h = m(x)
    w = {k: v.numpy() for k, v in m.state_dict().items()}
    yk, hk, _ = seqfast.nn.gru_forward(x.numpy(), w, variant="textbook", requires_grad=False)
    np.testing.assert_array_equal(y.detach().numpy(), yk)
    assert "variant='textbook'" in repr(m)


# gradcheck: small shapes, float64, every option
GC = {"B": 2, "T": 3, "D": 3, "H": 2}


def _gradcheck_module(m, x, hx=None, lengths=None, packed=False, seed=None):
    params = dict(m.named_parameters())
    names = list(params)
    hx_list = [] if hx is None else (list(hx) if isinstance(hx, tuple) else [hx])

    def f(x, *rest):
        hs, ps = rest[:len(hx_list)], rest[len(hx_list):]
        h = None if not hs else (tuple(hs) if isinstance(hx, tuple) else hs[0])
        if seed is not None:
            torch.manual_seed(seed)
        inp = pack_padded_sequence(x, lengths, batch_first=m.batch_first, enforce_sorted=False) if packed else x
        y, hid = torch.func.functional_call(m, dict(zip(names, ps)), (inp,), {"hx": h, **({} if packed else {"lengths": lengths})})
        if packed:
            y = y.data
        return (y,) + (hid if isinstance(hid, tuple) else (hid,))

    inputs = [x.requires_grad_()] + [t.requires_grad_() for t in hx_list] + [p.detach().clone().requires_grad_() for p in params.values()]
    assert torch.autograd.gradcheck(f, inputs, eps=1e-6, atol=1e-5, rtol=1e-4)


GC_CASES = {
    "lstm_1l": ("LSTM", {}), "lstm_2l_bi": ("LSTM", {"num_layers": 2, "bidirectional": True}),
    "lstm_proj": ("LSTM", {"proj_size": 1, "hidden_size": 3, "bidirectional": True}),
    "lstm_dropout": ("LSTM", {"num_layers": 2, "dropout": 0.4}), "lstm_nobias": ("LSTM", {"bias": False}),
    "gru_2l_bi": ("GRU", {"num_layers": 2, "bidirectional": True}), "gru_textbook": ("GRU", {"num_layers": 2, "variant": "textbook"}),
    "gru_dropout": ("GRU", {"num_layers": 2, "dropout": 0.5}),
    "rnn_tanh_bi": ("RNN", {"bidirectional": True, "num_layers": 2}), "rnn_relu": ("RNN", {"nonlinearity": "relu"}),
}


@pytest.mark.parametrize("case", list(GC_CASES))
@pytest.mark.parametrize("inputs", ["plain", "h0_lengths", "packed"])
def test_recurrent_gradcheck(case, inputs):
    kind, kw = GC_CASES[case]
    kw = dict(kw)
    hidden = kw.pop("hidden_size", GC["H"])
    torch.manual_seed(3)
    m = getattr(st, kind)(GC["D"], hidden, batch_first=True, **kw).double()
    B, T = GC["B"], GC["T"]
    x = torch.randn(B, T, GC["D"], dtype=torch.float64)
    if kind == "RNN" and kw.get("nonlinearity") == "relu":
        x = x + 1.0  # keep pre-activations away from relu's kink
    layers, dirs = kw.get("num_layers", 1), 2 if kw.get("bidirectional") else 1
    hx, lengths = None, None
    if inputs != "plain":
        lengths = torch.tensor([2, 3])
    if inputs == "h0_lengths":
        h0 = torch.randn(layers * dirs, B, kw.get("proj_size") or hidden, dtype=torch.float64)
        hx = (h0, torch.randn(layers * dirs, B, hidden, dtype=torch.float64)) if kind == "LSTM" else h0
    m.train()
    _gradcheck_module(m, x, hx, lengths, packed=inputs == "packed", seed=5 if kw.get("dropout") else None)


def test_dropout_repeats_under_manual_seed_and_is_off_in_eval():
    m = st.LSTM(3, 4, num_layers=2, dropout=0.5)
    x = torch.randn(5, 2, 3)
    torch.manual_seed(1)
    a, _ = m(x)
    torch.manual_seed(1)
    b, _ = m(x)
    c, _ = m(x)
    close("same seed", a, b, 0)
    assert not torch.equal(a, c)
    m.eval()
    d, _ = m(x)
    e, _ = m(x)
    close("eval", d, e, 0)


# ------------------------------------------------------------------------------- attention
def _sdpa_pair(dtype, shape=(2, 3, 6, 4), **kw):
    gen = torch.Generator().manual_seed(2)
    q, k, v = (torch.randn(shape, generator=gen, dtype=dtype) for _ in range(3))
    g = torch.randn(shape, generator=gen, dtype=dtype)
    res = []
    for fn in (st.scaled_dot_product_attention, F.scaled_dot_product_attention):
        qq, kk, vv = (t.clone().requires_grad_() for t in (q, k, v))
        out = fn(qq, kk, vv, **kw)
        (out * g).sum().backward()
        res.append((out, qq.grad, kk.grad, vv.grad))
    return res


def _masks(L=6, S=6):
    m = torch.rand(L, S, generator=torch.Generator().manual_seed(4)) > 0.4
    m[:, 0] = True  # no fully masked row (torch gives NaN there, seqfast 0)
    return m


SDPA_OPTS = {
    "plain": {}, "causal": {"is_causal": True}, "scale": {"scale": 0.37},
    "bool_mask": {"attn_mask": _masks()}, "bool_mask_bcast": {"attn_mask": _masks()[None, None].expand(2, 1, 6, 6).contiguous()},
    "float_mask": {"attn_mask": torch.zeros(6, 6).masked_fill(~_masks(), float("-inf"))},
}


@pytest.mark.parametrize("opt", list(SDPA_OPTS))
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("shape", [(2, 3, 6, 4), (2, 6, 4), (2, 2, 2, 6, 4)], ids=["4d", "3d", "5d"])
def test_sdpa_matches_torch(opt, dtype, shape):
    kw = dict(SDPA_OPTS[opt])
    if "attn_mask" in kw:
        m = kw["attn_mask"]
        kw["attn_mask"] = (m if m.dim() <= len(shape) else m[0]).to(dtype if m.is_floating_point() else torch.bool)
    (a, *ga), (b, *gb) = _sdpa_pair(dtype, shape, **kw)
    tol = 1e-12 if dtype == torch.float64 else 1e-5  # tests/_nn_cases.py TOL (attention)
    for name, x, y in zip(("out", "dq", "dk", "dv"), [a, *ga], [b, *gb]):
        close(name, x, y, tol)


@pytest.mark.parametrize("opt", ["plain", "causal", "bool_mask", "dropout", "cross"])
def test_sdpa_gradcheck(opt):
    gen = torch.Generator().manual_seed(6)
    L, S = 4, (5 if opt == "cross" else 4)
    q = torch.randn(2, 2, L, 3, generator=gen, dtype=torch.float64, requires_grad=True)
    k = torch.randn(2, 2, S, 3, generator=gen, dtype=torch.float64, requires_grad=True)
    v = torch.randn(2, 2, S, 2, generator=gen, dtype=torch.float64, requires_grad=True)
    kw = {"plain": {}, "cross": {}, "causal": {"is_causal": True}, "bool_mask": {"attn_mask": _masks(4, 4)},
          "dropout": {"dropout_p": 0.3, "seed": 11}}[opt]
    assert torch.autograd.gradcheck(lambda q, k, v: st.scaled_dot_product_attention(q, k, v, **kw), (q, k, v))


MHA_OPTS = {
    "plain": {}, "kpm_suffix": {"key_padding_mask": torch.tensor([[False] * 5, [False, False, False, True, True]])},
    "kpm_holes": {"key_padding_mask": torch.tensor([[False] * 5, [True, False, False, True, False]])},
    "attn_bool": {"attn_mask": ~_masks(5, 5)},
    "attn_float_3d": {"attn_mask": torch.zeros(4, 5, 5).masked_fill(~_masks(5, 5), float("-inf"))},
    "causal": {"is_causal": True, "attn_mask": torch.nn.Transformer.generate_square_subsequent_mask(5)},
    "both": {"attn_mask": ~_masks(5, 5), "key_padding_mask": torch.tensor([[False] * 5, [True, False, False, True, False]])},
}


@pytest.mark.parametrize("opt", list(MHA_OPTS))
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("batch_first", [False, True], ids=["tm", "bf"])
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
@pytest.mark.parametrize("inputs", ["self", "cross"])
def test_mha_matches_torch(opt, dtype, batch_first, bias, inputs):
    mine, ref = pair("MultiheadAttention", 8, 2, bias=bias, batch_first=batch_first)
    mine.to(dtype), ref.to(dtype)
    kw = {k: (v.to(dtype) if v.is_floating_point() else v) for k, v in MHA_OPTS[opt].items() if k != "is_causal"}
    kw.update({k: v for k, v in MHA_OPTS[opt].items() if k == "is_causal"})
    gen = torch.Generator().manual_seed(7)
    shape = (2, 5, 8) if batch_first else (5, 2, 8)
    x, mem = torch.randn(shape, generator=gen, dtype=dtype), torch.randn(shape, generator=gen, dtype=dtype)
    g = torch.randn(shape, generator=gen, dtype=dtype)
    res = []
    for m in (mine, ref):
        xx, mm = x.clone().requires_grad_(), mem.clone().requires_grad_()
        if inputs == "self":  # one packed projection; the memory's gradient then stays None
            mm = xx
        out, w = m(xx, mm, mm, need_weights=False, **kw)
        assert w is None
        (out * g).sum().backward()
        res.append((out, xx.grad, mm.grad, [p.grad for p in m.parameters()]))
    tol = 1e-12 if dtype == torch.float64 else 1e-5
    close("out", res[0][0], res[1][0], tol)
    close("dquery", res[0][1], res[1][1], tol)
    if inputs == "cross":
        close("dkey+dvalue", res[0][2], res[1][2], tol)
    for (n, _), a, b in zip(mine.named_parameters(), res[0][3], res[1][3]):
        close(n, a, b, tol * 10)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
def test_mha_kdim_vdim_matches_torch(dtype):
    mine, ref = pair("MultiheadAttention", 8, 2, kdim=3, vdim=5, batch_first=True)
    mine.to(dtype), ref.to(dtype)
    assert list(mine.state_dict()) == list(ref.state_dict())
    gen = torch.Generator().manual_seed(12)
    q, k, v = torch.randn(2, 4, 8, generator=gen, dtype=dtype), torch.randn(2, 6, 3, generator=gen, dtype=dtype), torch.randn(2, 6, 5, generator=gen, dtype=dtype)
    kpm = torch.tensor([[False] * 6, [False] * 4 + [True] * 2])
    res = []
    for m in (mine, ref):
        ins = [t.clone().requires_grad_() for t in (q, k, v)]
        out, _ = m(*ins, need_weights=False, key_padding_mask=kpm)
        out.square().sum().backward()
        res.append([out] + [t.grad for t in ins] + [p.grad for p in m.parameters()])
    tol = 1e-12 if dtype == torch.float64 else 1e-5
    for i, (a, b) in enumerate(zip(*res)):
        close(f"tensor {i}", a, b, tol * (10 if i > 3 else 1))


@pytest.mark.parametrize("opt", ["plain", "kpm_holes", "causal", "dropout", "unbatched"])
def test_mha_gradcheck(opt):
    torch.manual_seed(0)
    m = st.MultiheadAttention(4, 2, dropout=0.3 if opt == "dropout" else 0.0, batch_first=True).double()
    names = [n for n, _ in m.named_parameters()]
    gen = torch.Generator().manual_seed(8)
    x = torch.randn(*((3, 4) if opt == "unbatched" else (2, 3, 4)), generator=gen, dtype=torch.float64, requires_grad=True)
    kw = {"kpm_holes": {"key_padding_mask": torch.tensor([[False, True, False], [False, False, True]])},
          "causal": {"is_causal": True, "attn_mask": torch.nn.Transformer.generate_square_subsequent_mask(3)}}.get(opt, {})

    def f(x, *ps):
        torch.manual_seed(1)
        return torch.func.functional_call(m, dict(zip(names, ps)), (x, x, x), {"need_weights": False, **kw})[0]

    ps = [p.detach().clone().requires_grad_() for p in m.parameters()]
    assert torch.autograd.gradcheck(f, [x] + ps)


def _additive_torch(q, k, v, w_q, w_k, vv, bias, mask):
    s = torch.tanh((q @ w_q.T)[:, :, None] + (k @ w_k.T)[:, None] + bias) @ vv
    return torch.softmax(s.masked_fill(~mask, float("-inf")), -1) @ v


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
def test_additive_matches_formula(dtype):
    torch.manual_seed(0)
    m = st.AdditiveAttention(3, 4, 5).to(dtype)
    q, k, v = torch.randn(2, 3, 3, dtype=dtype), torch.randn(2, 6, 4, dtype=dtype), torch.randn(2, 6, 2, dtype=dtype)
    lengths = torch.tensor([4, 6])
    mask = (torch.arange(6) < lengths[:, None])[:, None, :].expand(2, 3, 6)
    ctx = m(q, k, v, lengths=lengths)
    want = _additive_torch(q, k, v, m.w_q, m.w_k, m.v, m.bias, mask)
    close("context", ctx, want, 1e-12 if dtype == torch.float64 else 1e-5)


@pytest.mark.parametrize("case", ["additive", "additive_step_keys", "additive_nobias_mask", "luong_dot", "luong_general", "luong_general_step"])
def test_rnn_attention_gradcheck(case):
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(9)
    if case.startswith("additive"):
        m = st.AdditiveAttention(3, 4, 5, bias=case != "additive_nobias_mask").double()
        dq = 3
    else:
        m = st.LuongAttention(4, kind="dot" if case == "luong_dot" else "general", scale=0.5).double()
        dq = 4
    step = case.endswith("step") or case == "additive_step_keys"
    q = torch.randn(*((2, dq) if step else (2, 3, dq)), generator=gen, dtype=torch.float64, requires_grad=True)
    k = torch.randn(2, 5, 4, generator=gen, dtype=torch.float64, requires_grad=True)
    v = None if case == "additive_step_keys" else torch.randn(2, 5, 3, generator=gen, dtype=torch.float64, requires_grad=True)
    kw = {"lengths": torch.tensor([3, 5])}
    if case == "additive_nobias_mask":
        kw = {"mask": _masks(3, 5)}
    names = [n for n, _ in m.named_parameters()]
    ps = [p.detach().clone().requires_grad_() for p in m.parameters()]

    def f(q, k, *rest):
        vv, pp = (None, rest) if v is None else (rest[0], rest[1:])
        return torch.func.functional_call(m, dict(zip(names, pp)), (q, k, vv), kw)

    assert torch.autograd.gradcheck(f, [q, k] + ([] if v is None else [v]) + ps)
