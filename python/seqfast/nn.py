"""Recurrent and attention kernels from NumPy, forward and backward.

Functional API (weights as dicts in PyTorch ``state_dict`` naming, see ``_recurrent.py``)::

    y, h_n, c_n, cache = lstm_forward(x, weights, h0=None, c0=None, lengths=None)
    dx, dh0, dc0, dweights = lstm_backward(cache, dy, dh_n=None, dc_n=None)
    y, h_n, cache = gru_forward(x, weights, h0=None, lengths=None, variant="pytorch")
    dx, dh0, dweights = gru_backward(cache, dy, dh_n=None)
    y, h_n, cache = rnn_forward(x, weights, h0=None, lengths=None, nonlinearity="tanh")
    dx, dh0, dweights = rnn_backward(cache, dy, dh_n=None)

Attention (see ``_attention.py`` and ``_attention_rnn.py``)::

    out, cache = attention_forward(q, k, v, causal=False, lengths=None, mask=None, dropout=0.0)
    dq, dk, dv = attention_backward(cache, dout)
    out, cache = mha_forward(query, key, value, weights, num_heads)   # nn.MultiheadAttention layout
    dquery, dkey, dvalue, dweights = mha_backward(cache, dout)
    context, cache = additive_attention_forward(query, keys, weights, values=None)
    context, cache = luong_attention_forward(query, keys, values=None, kind="dot")

and small classes (:class:`RNN`, :class:`LSTM`, :class:`GRU`) that hold NumPy weights, like
PyTorch's modules without autograd: ``forward`` keeps the cache, ``backward`` returns the
input gradient and leaves the weight gradients in ``.grads``.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from seqfast._attention import AttentionCache, MHACache, attention_backward, attention_forward, mha_backward, mha_forward
from seqfast._attention_rnn import (
    RNNAttentionCache,
    additive_attention_backward,
    additive_attention_forward,
    luong_attention_backward,
    luong_attention_forward,
)
from seqfast import _args
from seqfast._errors import ArgumentTypeError, SeqfastError, ShapeError
from seqfast._recurrent import (
    RecurrentCache,
    gru_backward,
    gru_forward,
    lstm_backward,
    lstm_forward,
    rnn_backward,
    rnn_forward,
    simd_level,
)

__all__ = [
    "lstm_forward", "lstm_backward", "gru_forward", "gru_backward", "rnn_forward", "rnn_backward",
    "RNN", "LSTM", "GRU", "RecurrentCache", "simd_level",
    "attention_forward", "attention_backward", "AttentionCache", "mha_forward", "mha_backward", "MHACache",
    "additive_attention_forward", "additive_attention_backward", "luong_attention_forward", "luong_attention_backward",
    "RNNAttentionCache",
]


class _Recurrent:
    _gates = 1

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True, batch_first: bool = True,
                 dropout: float = 0.0, bidirectional: bool = False, proj_size: int = 0, dtype=np.float32, seed: int = 0):
        input_size, hidden_size = _args.integer("input_size", input_size, 1), _args.integer("hidden_size", hidden_size, 1)
        num_layers, proj_size = _args.integer("num_layers", num_layers, 1), _args.integer("proj_size", proj_size, 0)
        if proj_size and (self._gates != 4 or not 0 < proj_size < hidden_size):
            raise SeqfastError(f"proj_size={proj_size} needs an LSTM and 0 < proj_size < hidden_size={hidden_size}")
        if np.dtype(dtype) not in (np.float32, np.float64):
            raise ArgumentTypeError(f"dtype={dtype!r} must be float32 or float64")
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.batch_first = bool(bias), bool(batch_first)
        self.dropout = _args.real("dropout", dropout, 0.0, 1.0, hi_open=True)
        self.bidirectional, self.proj_size, self.dtype = bool(bidirectional), proj_size, np.dtype(dtype)
        self.seed, self.training = _args.integer("seed", seed), True
        self._calls = 0
        self._cache: Optional[RecurrentCache] = None
        self.grads: dict = {}
        rng = np.random.default_rng(seed)
        k = 1.0 / np.sqrt(hidden_size)
        self._params: dict = {}
        gh, hout, dirs = self._gates * hidden_size, proj_size or hidden_size, 2 if bidirectional else 1
        for l in range(num_layers):
            din = input_size if l == 0 else dirs * hout
            for d in range(dirs):
                sfx = f"_l{l}" + ("_reverse" if d else "")
                shapes: dict[str, tuple[int, ...]] = {"weight_ih": (gh, din), "weight_hh": (gh, hout)}
                if bias:
                    shapes.update({"bias_ih": (gh,), "bias_hh": (gh,)})
                if proj_size:
                    shapes["weight_hr"] = (proj_size, hidden_size)
                for kind, shape in shapes.items():
                    self._params[kind + sfx] = rng.uniform(-k, k, shape).astype(self.dtype)

    def parameters(self) -> dict:
        """The live weight arrays by PyTorch name (modify them in place to train)."""
        return self._params

    def to_state_dict(self) -> dict:
        """Copies of the weights, loadable by ``torch.nn.<Module>.load_state_dict`` after
        ``torch.from_numpy``."""
        return {k: v.copy() for k, v in self._params.items()}

    @classmethod
    def from_torch_state_dict(cls, state_dict: dict, **kwargs):
        """Build from a PyTorch ``state_dict`` (tensors or arrays); sizes are read off the
        weights, the other options (``batch_first``, ``dropout``, ``dtype`` ...) come from kwargs."""
        arrs = {k: np.asarray(v.detach().cpu().numpy() if hasattr(v, "detach") else v) for k, v in state_dict.items()}
        dtype = np.dtype(kwargs.pop("dtype", arrs["weight_ih_l0"].dtype))
        layers = 1 + max(int(k.split("_l")[1].split("_")[0]) for k in arrs)
        whh = arrs["weight_hh_l0"]
        hidden = whh.shape[0] // cls._gates
        proj = arrs["weight_hr_l0"].shape[0] if "weight_hr_l0" in arrs else 0
        m = cls(arrs["weight_ih_l0"].shape[1], hidden, num_layers=layers, bias="bias_ih_l0" in arrs,
                bidirectional=any(k.endswith("_reverse") for k in arrs), proj_size=proj, dtype=dtype, **kwargs)
        m.load_state_dict(arrs)
        return m

    def load_state_dict(self, state_dict: dict) -> None:
        """Copy weights in (same names and shapes as :meth:`parameters`)."""
        _args.state_dict(state_dict, name="state_dict")
        if set(state_dict) != set(self._params):
            raise SeqfastError(f"state_dict keys {sorted(state_dict)} differ from {sorted(self._params)}")
        for k, v in state_dict.items():
            v = np.asarray(v.detach().cpu().numpy() if hasattr(v, "detach") else v)
            if v.shape != self._params[k].shape:
                raise ShapeError(f"state_dict[{k!r}] has shape {v.shape}, expected {self._params[k].shape}")
            self._params[k][...] = v

    def __getstate__(self) -> dict:
        # The forward cache is transient (like an autograd graph) and holds native buffers:
        # a copy keeps weights, options, gradients and the dropout counter, not the cache.
        state = dict(self.__dict__)
        state["_cache"] = None
        return state

    def __setstate__(self, state: dict) -> None:
        if not isinstance(state, dict) or not isinstance(state.get("_params"), dict):
            raise SeqfastError(f"{type(self).__name__} pickle: expected a state dict with '_params'")
        self.__dict__.update(state)

    def __repr__(self) -> str:
        extra = []
        nonlinearity, variant = getattr(self, "nonlinearity", "tanh"), getattr(self, "variant", "pytorch")  # RNN's, GRU's
        if nonlinearity != "tanh":
            extra.append(f"nonlinearity={nonlinearity!r}")
        if variant != "pytorch":
            extra.append(f"variant={variant!r}")
        for name, default in (("bias", True), ("batch_first", True), ("dropout", 0.0), ("bidirectional", False), ("proj_size", 0)):
            if getattr(self, name) != default:
                extra.append(f"{name}={getattr(self, name)!r}")
        if self.dtype != np.float32:
            extra.append(f"dtype={self.dtype.name}")
        return f"{type(self).__name__}({self.input_size}, {self.hidden_size}, num_layers={self.num_layers}" + "".join(f", {e}" for e in extra) + ")"

    def _need_cache(self) -> RecurrentCache:
        if self._cache is None:
            raise SeqfastError("backward needs a forward pass in training mode first")
        return self._cache

    def train(self, mode: bool = True):
        self.training = bool(mode)
        return self

    def eval(self):
        return self.train(False)

    def _dropout_seed(self) -> tuple:
        if not (self.training and self.dropout > 0):
            return 0.0, 0
        self._calls += 1
        return self.dropout, (self.seed * 1_000_003 + self._calls) % 2**63


class RNN(_Recurrent):
    """Elman RNN (``torch.nn.RNN`` layout and semantics); ``nonlinearity`` "tanh" or "relu".

    >>> m = RNN(3, 4, nonlinearity="relu")
    >>> y, h_n = m(np.zeros((2, 5, 3), np.float32))
    >>> dx = m.backward(np.ones_like(y))
    >>> y.shape, dx.shape, sorted(m.grads)[:2]
    ((2, 5, 4), (2, 5, 3), ['bias_hh_l0', 'bias_ih_l0'])
    """

    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity: _args.Nonlinearity = "tanh", **kw):
        self.nonlinearity = nonlinearity
        super().__init__(input_size, hidden_size, num_layers, **kw)

    def forward(self, x, h0=None, lengths=None, *, num_threads=None):
        """Returns ``(y, h_n)`` and keeps the cache for :meth:`backward`."""
        p, seed = self._dropout_seed()
        y, h_n, self._cache = rnn_forward(x, self._params, h0, lengths, nonlinearity=self.nonlinearity, batch_first=self.batch_first,
                                          dropout=p, seed=seed, requires_grad=self.training, num_threads=num_threads)
        return y, h_n

    __call__ = forward

    def backward(self, dy=None, dh_n=None, *, num_threads=None):
        """Gradient of the input; weight gradients go to ``.grads``, dh0 to ``.grad_h0``."""
        dx, self.grad_h0, self.grads = rnn_backward(self._need_cache(), dy, dh_n, num_threads=num_threads)
        return dx



class GRU(_Recurrent):
    """GRU (``torch.nn.GRU`` layout; ``variant="textbook"`` applies the reset gate before the
    recurrent product, as Cho et al. 2014).

    >>> m = GRU(3, 4, variant="textbook", dtype=np.float64)
    >>> y, h_n = m(np.zeros((1, 2, 3)))
    >>> m.eval().dtype, y.dtype
    (dtype('float64'), dtype('float64'))
    """

    _gates = 3

    def __init__(self, input_size, hidden_size, num_layers=1, variant: _args.GRUVariant = "pytorch", **kw):
        self.variant = variant
        super().__init__(input_size, hidden_size, num_layers, **kw)

    def forward(self, x, h0=None, lengths=None, *, num_threads=None):
        p, seed = self._dropout_seed()
        y, h_n, self._cache = gru_forward(x, self._params, h0, lengths, variant=self.variant, batch_first=self.batch_first,
                                          dropout=p, seed=seed, requires_grad=self.training, num_threads=num_threads)
        return y, h_n

    __call__ = forward

    def backward(self, dy=None, dh_n=None, *, num_threads=None):
        dx, self.grad_h0, self.grads = gru_backward(self._need_cache(), dy, dh_n, num_threads=num_threads)
        return dx


class LSTM(_Recurrent):
    """LSTM (``torch.nn.LSTM`` layout, gates i, f, g, o, optional ``proj_size``).

    >>> m = LSTM(3, 4, num_layers=2, bidirectional=True)
    >>> y, (h_n, c_n) = m(np.zeros((2, 5, 3), np.float32))
    >>> y.shape, h_n.shape
    ((2, 5, 8), (4, 2, 4))
    """

    _gates = 4

    def forward(self, x, hx=None, lengths=None, *, num_threads=None):
        """Returns ``(y, (h_n, c_n))`` like PyTorch; ``hx`` is None or ``(h0, c0)``."""
        h0, c0 = (None, None) if hx is None else hx
        p, seed = self._dropout_seed()
        y, h_n, c_n, self._cache = lstm_forward(x, self._params, h0, c0, lengths, batch_first=self.batch_first,
                                                dropout=p, seed=seed, requires_grad=self.training, num_threads=num_threads)
        return y, (h_n, c_n)

    __call__ = forward

    def backward(self, dy=None, dh_n=None, dc_n=None, *, num_threads=None):
        dx, self.grad_h0, self.grad_c0, self.grads = lstm_backward(self._need_cache(), dy, dh_n, dc_n, num_threads=num_threads)
        return dx
