"""seqfast.nn against PyTorch (the peer) directly, outputs and every gradient: RNN/LSTM/GRU against
torch.nn.RNN/LSTM/GRU on packed variable-length batches, scaled dot-product attention against
F.scaled_dot_product_attention, multi-head attention against nn.MultiheadAttention. Skips without
torch. (The seqfast.torch modules against torch.nn are in test_nn_parity_torch_modules.py.)"""

from __future__ import annotations

import numpy as np
import pytest

import seqfast.nn as snn

from _nn_cases import CELLS, IDS, close, rand, run_seqfast


def _torch_case(torch, mode, variant_ok, dtype, proj=0, lengths=None):
    B, T, D, H = 3, 6, 5, 7
    kind = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU}.get(mode, torch.nn.RNN)
    kw = {"nonlinearity": mode[4:]} if mode.startswith("rnn") else {}
    if proj:
        kw["proj_size"] = proj
    torch.manual_seed(0)
    m = kind(D, H, num_layers=2, bidirectional=True, batch_first=True, **kw).to(dtype)
    return m, B, T, D


@pytest.mark.peer
@pytest.mark.parametrize("mode,variant,proj", [c for c in CELLS if c[1] == "pytorch"], ids=[i for i, c in zip(IDS, CELLS) if c[1] == "pytorch"])
@pytest.mark.parametrize("dtype_name", ["float32", "float64"])
def test_recurrent_matches_torch(mode, variant, proj, dtype_name):
    torch = pytest.importorskip("torch")
    tdtype = getattr(torch, dtype_name)
    m, B, T, D = _torch_case(torch, mode, True, tdtype, proj)
    lengths = np.array([4, 6, 2])
    rng = np.random.default_rng(1)
    x = rng.standard_normal((B, T, D)).astype(dtype_name)
    xt = torch.from_numpy(x).requires_grad_()
    packed = torch.nn.utils.rnn.pack_padded_sequence(xt, torch.from_numpy(lengths), batch_first=True, enforce_sorted=False)
    out, hid = m(packed)
    yt, _ = torch.nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=T)
    ht = hid[0] if mode == "lstm" else hid
    gy = torch.from_numpy(rng.standard_normal(yt.shape).astype(dtype_name))
    gh = torch.from_numpy(rng.standard_normal(ht.shape).astype(dtype_name))
    ((yt * gy).sum() + (ht * gh).sum()).backward()
    w = {k: v.detach().numpy() for k, v in m.state_dict().items()}
    y, hn, cn, g = run_seqfast(mode, variant, x, w, None, None, lengths, gy.numpy(), gh.numpy(), None)
    tol = 1e-10 if dtype_name == "float64" else 2e-5
    np.testing.assert_allclose(y, yt.detach().numpy(), atol=tol, rtol=tol)
    np.testing.assert_allclose(hn, ht.detach().numpy(), atol=tol, rtol=tol)
    np.testing.assert_allclose(g["x"], xt.grad.numpy(), atol=tol, rtol=tol)
    for k, p in m.named_parameters():
        np.testing.assert_allclose(g[k], p.grad.numpy(), atol=tol * 10, rtol=tol * 10, err_msg=k)


@pytest.mark.peer
@pytest.mark.parametrize("causal", [False, True])
def test_sdpa_matches_torch(causal):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(10)
    q, k, v = rand(rng, (2, 3, 70, 16), np.float32), rand(rng, (2, 3, 70, 16), np.float32), rand(rng, (2, 3, 70, 8), np.float32)
    dout = rand(rng, (2, 3, 70, 8), np.float32)
    out, cache = snn.attention_forward(q, k, v, causal=causal)
    dq, dk, dv = snn.attention_backward(cache, dout)
    tq, tk, tv = (torch.tensor(x, requires_grad=True) for x in (q, k, v))
    to = torch.nn.functional.scaled_dot_product_attention(tq, tk, tv, is_causal=causal)
    to.backward(torch.tensor(dout))
    for name, a, b in (("out", out, to), ("dq", dq, tq.grad), ("dk", dk, tk.grad), ("dv", dv, tv.grad)):
        close(name, a, b.detach().numpy(), np.float32)


@pytest.mark.peer
def test_mha_matches_torch():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    m = torch.nn.MultiheadAttention(16, 4, batch_first=True).double()
    w = {n: p.detach().numpy().copy() for n, p in m.state_dict().items()}
    x = torch.randn(2, 9, 16, dtype=torch.float64, requires_grad=True)
    y, _ = m(x, x, x, need_weights=False)
    g = torch.randn_like(y)
    y.backward(g)
    xn = x.detach().numpy()
    out, cache = snn.mha_forward(xn, xn, xn, w, 4)
    dq, dk, dv, dw = snn.mha_backward(cache, g.numpy())
    close("out", out, y.detach().numpy(), np.float64)
    close("dx", dq + dk + dv, x.grad.numpy(), np.float64)
    for n, p in m.named_parameters():
        close(n, dw[n], p.grad.numpy(), np.float64)
