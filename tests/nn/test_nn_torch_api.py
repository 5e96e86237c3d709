"""seqfast.torch's autograd plumbing and API: needs_input_grad and frozen weights, no cache under
no_grad / inference_mode, double backward, retain_graph, in-place changes before the backward,
thread counts (torch's by default, results independent of them), state_dict both ways, and
errors that name the tensor. Numerical parity with torch is in test_nn_parity_torch_modules.py.
torch runs with one thread here; skips when torch is missing.
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
import seqfast  # noqa: E402
import seqfast.torch as st  # noqa: E402
from torch.nn.utils.rnn import pack_padded_sequence  # noqa: E402

from _torch_cases import TOL32, _one_thread, close  # noqa: E402,F401  (_one_thread: an autouse fixture)


def test_needs_input_grad_and_frozen_weights():
    m = st.LSTM(3, 4)
    m.weight_ih_l0.requires_grad_(False)
    x = torch.randn(5, 2, 3)  # no grad wanted for the input
    y, _ = m(x)
    y.sum().backward()
    assert x.grad is None and m.weight_ih_l0.grad is None
    assert m.weight_hh_l0.grad is not None


def test_no_cache_under_no_grad_and_inference_mode():
    for mod, args in ((st.LSTM(3, 4), (torch.randn(5, 2, 3),)), (st.MultiheadAttention(4, 2), (torch.randn(3, 2, 4),) * 3)):
        kw = {"need_weights": False} if isinstance(mod, torch.nn.MultiheadAttention) else {}
        with torch.no_grad():
            out = mod(*args, **kw)[0]
        assert out.grad_fn is None and not out.requires_grad
        with torch.inference_mode():
            out = mod(*args, **kw)[0]
        assert out.grad_fn is None
    q = torch.randn(1, 4, 2, requires_grad=True)
    with torch.no_grad():
        assert st.scaled_dot_product_attention(q, q, q).grad_fn is None


def test_double_backward_raises_clearly():
    m = st.GRU(3, 4).double()
    x = torch.randn(5, 2, 3, dtype=torch.float64, requires_grad=True)
    y, _ = m(x)
    (gx,) = torch.autograd.grad(y.pow(2).sum(), x, create_graph=True)  # first order still works
    with pytest.raises(RuntimeError, match="double backward"):
        gx.sum().backward()
    q = torch.randn(1, 3, 2, dtype=torch.float64, requires_grad=True)
    (gq,) = torch.autograd.grad(st.scaled_dot_product_attention(q, q, q).pow(2).sum(), q, create_graph=True)
    with pytest.raises(RuntimeError, match="double backward"):
        gq.sum().backward()


def test_retain_graph_and_second_backward():
    m = st.LSTM(3, 4)
    x = torch.randn(5, 2, 3, requires_grad=True)
    y, _ = m(x)
    y.sum().backward(retain_graph=True)
    g1 = x.grad.clone()
    y.sum().backward()
    close("twice", x.grad, 2 * g1, 1e-6)
    with pytest.raises(RuntimeError, match="second time"):
        y.sum().backward()


def test_inplace_change_before_backward_raises():
    m = st.RNN(3, 4)
    y, _ = m(torch.randn(5, 2, 3))
    with torch.no_grad():
        m.weight_hh_l0.add_(1.0)
    with pytest.raises(RuntimeError, match="modified in place"):
        y.sum().backward()


def test_thread_count_does_not_change_results():
    torch.manual_seed(0)
    x = torch.randn(7, 5, 16, requires_grad=True)
    res = []
    for nt in (1, 2):
        m = st.LSTM(16, 32, num_layers=2, num_threads=nt)
        torch.manual_seed(1)
        m.load_state_dict(st.LSTM(16, 32, num_layers=2).state_dict())
        x.grad = None
        y, _ = m(x)
        y.square().sum().backward()
        res.append((y.detach(), x.grad.clone(), m.weight_hh_l1.grad.clone()))
    for a, b in zip(*res):
        assert torch.equal(a, b)


def test_torch_threads_are_used(monkeypatch):
    seen = []
    orig = seqfast._recurrent._forward

    def spy(*a):
        seen.append(a[-1])
        return orig(*a)

    monkeypatch.setattr(seqfast._recurrent, "_forward", spy)
    torch.set_num_threads(2)
    st.RNN(2, 3)(torch.randn(2, 1, 2))
    st.RNN(2, 3, num_threads=1)(torch.randn(2, 1, 2))
    assert seen == [2, 1]


def test_state_dict_both_ways():
    ours = st.LSTM(3, 4, num_layers=2, proj_size=2, bidirectional=True)
    theirs = torch.nn.LSTM(3, 4, num_layers=2, proj_size=2, bidirectional=True)
    theirs.load_state_dict(ours.state_dict())
    ours2 = st.LSTM(3, 4, num_layers=2, proj_size=2, bidirectional=True)
    ours2.load_state_dict(theirs.state_dict())
    x = torch.randn(4, 2, 3)
    close("ours<-theirs", ours2(x)[0], theirs(x)[0], TOL32)
    mha = st.MultiheadAttention(8, 2)
    assert list(mha.state_dict()) == list(torch.nn.MultiheadAttention(8, 2).state_dict())
    torch.nn.MultiheadAttention(8, 2).load_state_dict(mha.state_dict())


def test_cache_freed_by_backward_kept_by_retain_graph(monkeypatch):
    m = st.GRU(3, 4)
    y, _ = m(torch.randn(5, 2, 3))
    node = y.grad_fn  # the autograd.Function's ctx
    assert node.seqfast_saved() is not None
    y.sum().backward(retain_graph=True)
    assert node.seqfast_saved() is not None
    y.sum().backward()
    assert node.seqfast_saved() is None  # released with torch's saved tensors


def test_no_grad_asks_the_kernel_for_no_cache(monkeypatch):
    flags = []
    orig = seqfast._recurrent._forward

    def spy(*a):
        flags.append(a[9])  # requires_grad
        return orig(*a)

    monkeypatch.setattr(seqfast._recurrent, "_forward", spy)
    m = st.LSTM(3, 4)
    x = torch.randn(5, 2, 3)
    with torch.no_grad():
        m(x)
    with torch.inference_mode():
        m(x)
    m.requires_grad_(False)
    m(x)  # nothing requires grad: no graph, no cache
    m.requires_grad_(True)
    m(x)
    assert flags == [False, False, False, True]


# ----------------------------------------------------------------------------------- errors
def test_errors_name_the_tensor():
    m = st.LSTM(3, 4)
    with pytest.raises(seqfast.ArgumentTypeError, match="input has dtype torch.float16"):
        m(torch.randn(2, 1, 3, dtype=torch.float16))
    with pytest.raises(seqfast.ArgumentTypeError, match="input is on device 'meta'"):
        m(torch.randn(2, 1, 3, device="meta"))
    with pytest.raises(seqfast.ArgumentTypeError, match="weight_ih_l0 has dtype torch.float32 but input is torch.float64"):
        m(torch.randn(2, 1, 3, dtype=torch.float64))
    with pytest.raises(seqfast.ArgumentTypeError, match=r"hx\[1\] has dtype"):
        m(torch.randn(2, 1, 3), (torch.zeros(1, 1, 4), torch.zeros(1, 1, 4, dtype=torch.float64)))
    with pytest.raises(seqfast.ShapeError, match="input has 5 features"):
        m(torch.randn(2, 1, 5))
    with pytest.raises(seqfast.ShapeError, match="lengths has shape"):
        m(torch.randn(2, 3, 3), lengths=[1, 2])
    with pytest.raises(seqfast.SeqfastError, match="outside 1..2"):
        m(torch.randn(2, 1, 3), lengths=[3])
    with pytest.raises(seqfast.SeqfastError, match="variant"):
        st.GRU(3, 4, variant="cho")
    q = torch.randn(1, 2, 3)
    with pytest.raises(seqfast.ArgumentTypeError, match="key has dtype torch.float64 but query is torch.float32"):
        st.scaled_dot_product_attention(q, q.double(), q)
    with pytest.raises(seqfast.SeqfastError, match="0 and -inf"):
        st.scaled_dot_product_attention(q, q, q, attn_mask=torch.randn(2, 2))
    with pytest.raises(seqfast.ArgumentTypeError, match="query has dtype torch.int64"):
        st.scaled_dot_product_attention(q.long(), q, q)
    with pytest.raises(seqfast.SeqfastError, match="need_weights=False"):
        st.MultiheadAttention(4, 2)(torch.randn(2, 1, 4), torch.randn(2, 1, 4), torch.randn(2, 1, 4))
    with pytest.raises(seqfast.SeqfastError, match="add_bias_kv"):
        st.MultiheadAttention(4, 2, add_bias_kv=True)
    with pytest.raises(seqfast.SeqfastError, match="kind"):
        st.LuongAttention(4, kind="concat")


def test_more_argument_errors():
    m = st.LSTM(3, 4)
    x = torch.randn(5, 2, 3)
    packed = pack_padded_sequence(x, torch.tensor([5, 3]))
    with pytest.raises(seqfast.SeqfastError, match="lengths must be None for a PackedSequence"):
        m(packed, lengths=[5, 3])
    with pytest.raises(seqfast.ShapeError, match="expected 3 dimensions"):
        m(torch.randn(5, 2, 3, 1))
    with pytest.raises(seqfast.ArgumentTypeError, match="hx must be a tuple"):
        m(x, torch.zeros(1, 2, 4))
    mha = st.MultiheadAttention(4, 2)
    q = torch.randn(3, 2, 4)
    with pytest.raises(seqfast.ShapeError, match="key_padding_mask has shape"):
        mha(q, q, q, need_weights=False, key_padding_mask=torch.zeros(2, 4, dtype=torch.bool))
    with pytest.raises(seqfast.ShapeError, match="attn_mask has shape"):
        mha(q, q, q, need_weights=False, attn_mask=torch.zeros(2, 2, dtype=torch.bool))
    with pytest.raises(seqfast.SeqfastError, match="enable_gqa"):
        st.scaled_dot_product_attention(q, q, q, enable_gqa=True)
    with pytest.raises(seqfast.SeqfastError, match="not both"):
        st.scaled_dot_product_attention(q, q, q, attn_mask=torch.ones(2, 2, dtype=torch.bool), is_causal=True)
    with pytest.raises(seqfast.ShapeError, match="does not broadcast"):
        st.scaled_dot_product_attention(q, q, q, attn_mask=torch.ones(4, 2, 2, dtype=torch.bool))
