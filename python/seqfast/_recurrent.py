"""Functional recurrent API (RNN, LSTM, GRU): argument checking and reshaping around the core.

Weights are dicts in PyTorch ``state_dict`` naming (``weight_ih_l0``, ``weight_hh_l0_reverse``,
``bias_ih_l1``, ``weight_hr_l0`` ...). The network's sizes are read off the weights; every array
is checked against them and errors name the argument and the expected shape. Arrays that are not
C-contiguous are copied. All arrays of one call share one dtype, float32 (fast path) or float64.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Literal, Optional

import numpy as np
import numpy.typing as npt

from seqfast import _args, _core
from seqfast._errors import ArgumentTypeError, SeqfastError, ShapeError

_GATES = {"rnn_tanh": 1, "rnn_relu": 1, "lstm": 4, "gru": 3, "gru_textbook": 3}
_KEY = re.compile(r"^(weight_ih|weight_hh|bias_ih|bias_hh|weight_hr)_l(\d+)(_reverse)?$")


def _array(a: object, name: str, dtype: np.dtype, shape: tuple) -> np.ndarray:
    return _args.float_array(a, name, dtype, shape, like="x is")


def _matrix(weights: Mapping[str, object], name: str) -> np.ndarray:
    a = weights.get(name)
    if not isinstance(a, np.ndarray) or a.ndim != 2:
        raise ShapeError(f"{name} must be a 2-D array")
    return a


class _Net:
    """Sizes of a network, read off its weights."""

    def __init__(self, cell: str, weights: dict, dtype: np.dtype):
        _args.state_dict(weights, None, "a dict of arrays in PyTorch state_dict naming")
        layers: set[int] = set()
        kinds: set[str] = set()
        reverse = False
        for k in weights:
            m = _KEY.match(str(k))
            if not m:
                raise SeqfastError(f"weights has an unexpected key {k!r} (expected names like 'weight_ih_l0', 'bias_hh_l1_reverse')")
            kinds.add(m.group(1))
            layers.add(int(m.group(2)))
            reverse |= m.group(3) is not None
        if "weight_ih" not in kinds or "weight_hh" not in kinds:
            raise SeqfastError("weights must contain 'weight_ih_l0' and 'weight_hh_l0'")
        self.cell, self.dtype = cell, dtype
        self.layers = max(layers) + 1
        self.dirs = 2 if reverse else 1
        self.bias = "bias_ih" in kinds or "bias_hh" in kinds
        g = _GATES[cell]
        if "weight_hr" in kinds and cell != "lstm":
            raise SeqfastError(f"weight_hr_* (proj_size) is only valid for an LSTM, not {cell}")
        whh = _matrix(weights, "weight_hh_l0")
        wih = _matrix(weights, "weight_ih_l0")
        if whh.shape[0] % g:
            raise ShapeError(f"weight_hh_l0 has {whh.shape[0]} rows, not a multiple of the {g} gates of {cell}")
        self.hidden = whh.shape[0] // g
        self.proj = weights["weight_hr_l0"].shape[0] if "weight_hr" in kinds and np.ndim(weights["weight_hr_l0"]) == 2 else 0
        self.hout = self.proj or self.hidden
        self.input_size = wih.shape[1]
        self.names: list[str] = []
        self.tuples: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
        gh = g * self.hidden
        for l in range(self.layers):
            din = self.input_size if l == 0 else self.dirs * self.hout
            for d in range(self.dirs):
                sfx = f"_l{l}" + ("_reverse" if d else "")
                want: dict[str, tuple[int, ...]] = {"weight_ih": (gh, din), "weight_hh": (gh, self.hout)}
                if self.bias:
                    want.update({"bias_ih": (gh,), "bias_hh": (gh,)})
                if self.proj:
                    want["weight_hr"] = (self.proj, self.hidden)
                arrs = {}
                for kind, shape in want.items():
                    arrs[kind] = _args.weight(weights, kind + sfx, shape, dtype, like="x is")
                    self.names.append(kind + sfx)
                zero = np.zeros(gh, dtype)
                empty = np.zeros(0, dtype)
                self.tuples.append(
                    (
                        arrs["weight_ih"],
                        arrs["weight_hh"],
                        arrs["bias_ih"] if self.bias else zero,
                        arrs["bias_hh"] if self.bias else zero,
                        arrs["weight_hr"] if self.proj else empty,
                    )
                )
        extra = set(weights) - set(self.names)
        if extra:
            raise SeqfastError(f"weights has keys that do not fit a {self.layers}-layer network: {sorted(extra)}")


class RecurrentCache:
    """Opaque result of a forward pass, consumed by the matching ``*_backward``.

    It keeps the (contiguous) weights of the forward pass: do not modify them in place before
    the backward.

    >>> rng = np.random.default_rng(0)
    >>> x = rng.standard_normal((2, 5, 3)).astype(np.float32)  # (B, T, D)
    >>> w = seqfast.nn.LSTM(3, 4).parameters()
    >>> y, h_n, c_n, cache = lstm_forward(x, w)
    >>> cache
    RecurrentCache(cell='lstm', batch=2, steps=5, layers=1, dirs=1)
    """

    def __init__(self, core: _core.RnnCache, net: _Net, dims: tuple[int, int], batch_first: bool):
        self._core, self._net, self._dims, self._batch_first = core, net, dims, batch_first
        self.num_threads: Optional[int] = None  # the backward's default: the forward's thread count

    @property
    def cell(self) -> str:
        return self._net.cell

    def __repr__(self) -> str:
        b, t = self._dims[:2]
        return f"RecurrentCache(cell={self.cell!r}, batch={b}, steps={t}, layers={self._net.layers}, dirs={self._net.dirs})"


def _forward(cell, x, weights, h0, c0, lengths, batch_first, dropout, seed, requires_grad, num_threads):
    dtype = _args.float_dtype({"x": x})
    net = _Net(cell, weights, dtype)
    if x.ndim != 3:
        raise ShapeError(f"x has shape {x.shape}; expected 3 dimensions {'(B, T, input_size)' if batch_first else '(T, B, input_size)'}")
    b, t = (x.shape[0], x.shape[1]) if batch_first else (x.shape[1], x.shape[0])
    x = _array(x, "x", dtype, ((b, t) if batch_first else (t, b)) + (net.input_size,))
    ld = net.layers * net.dirs
    h0 = None if h0 is None else _array(h0, "h0", dtype, (ld, b, net.hout))
    if cell == "lstm":
        c0 = None if c0 is None else _array(c0, "c0", dtype, (ld, b, net.hidden))
    lengths = _args.lengths(lengths, b)  # the core checks 1..T
    dropout, seed, threads = _args.real("dropout", dropout, 0.0, 1.0, hi_open=True), _args.integer("seed", seed, 0) & (2**64 - 1), _args.threads(num_threads)
    # The core reads the sizes from x's and the weights' shapes, and returns y, h_n, c_n shaped.
    y, h_n, c_out, core = _core.rnn_forward(
        cell, x, net.tuples, net.dirs == 2, h0, c0, lengths, bool(batch_first), dropout, seed, bool(requires_grad), threads,
    )
    c_n = c_out if cell == "lstm" else None
    cache = None
    if requires_grad:
        assert core is not None  # the core keeps a cache when asked to (keep_cache=True)
        cache = RecurrentCache(core, net, (b, t), bool(batch_first))
        cache.num_threads = threads  # the backward's default
    return y, h_n, c_n, cache


def _backward(cell, cache, dy, dh_n, dc_n, num_threads):
    if not isinstance(cache, RecurrentCache):
        raise ArgumentTypeError(f"cache must be the cache returned by {cell}_forward, not {type(cache).__name__}")
    net = cache._net
    if cache.cell != cell:
        raise SeqfastError(f"this cache comes from a {cache.cell} forward pass, not {cell}")
    b, t = cache._dims
    ld = net.layers * net.dirs
    ybox = ((b, t) if cache._batch_first else (t, b)) + (net.dirs * net.hout,)
    dy = None if dy is None else _array(dy, "dy", net.dtype, ybox)
    dh_n = None if dh_n is None else _array(dh_n, "dh_n", net.dtype, (ld, b, net.hout))
    if cell == "lstm":
        dc_n = None if dc_n is None else _array(dc_n, "dc_n", net.dtype, (ld, b, net.hidden))
    # Shaped like x, h0, c0 (None unless an LSTM) and the weight tuples.
    dx, dh0, dc0, dws = _core.rnn_backward(cache._core, net.tuples, dy, dh_n, dc_n, _args.backward_threads(num_threads, cache))
    grads = {}
    for i, (wih, whh, bih, bhh, whr) in enumerate(dws):
        l, d = divmod(i, net.dirs)
        sfx = f"_l{l}" + ("_reverse" if d else "")
        grads["weight_ih" + sfx] = wih
        grads["weight_hh" + sfx] = whh
        if net.bias:
            grads["bias_ih" + sfx] = bih
            grads["bias_hh" + sfx] = bhh
        if net.proj:
            grads["weight_hr" + sfx] = whr
    return dx, dh0, dc0, grads


def lstm_forward(x: np.ndarray, weights: Mapping[str, np.ndarray], h0: Optional[np.ndarray] = None, c0: Optional[np.ndarray] = None,
                 lengths: Optional[npt.ArrayLike] = None, *, batch_first: bool = True, dropout: float = 0.0, seed: int = 0,
                 requires_grad: bool = True, num_threads: Optional[int] = None
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, Optional[RecurrentCache]]:
    """LSTM forward pass (PyTorch ``nn.LSTM`` semantics, gates i, f, g, o; ``weight_hr_l*`` for proj_size).

    ``x``: (B, T, input_size) (or (T, B, ...) with ``batch_first=False``); ``h0``:
    (layers*dirs, B, H_out); ``c0``: (layers*dirs, B, H); ``lengths``: (B,) ints in 1..T, any
    order — outputs past a row's length are 0 and its final state is taken at its own last step.
    ``dropout`` applies to every layer's output but the last, with a mask drawn from ``seed``.
    NaN or inf in the input propagate to the outputs. Returns ``(y, h_n, c_n, cache)``; ``cache``
    is None when ``requires_grad=False`` (then nothing is kept for the backward).

    >>> rng = np.random.default_rng(0)
    >>> x = rng.standard_normal((2, 5, 3)).astype(np.float32)  # (B, T, D)
    >>> w = seqfast.nn.LSTM(3, 4).parameters()  # PyTorch state_dict naming: weight_ih_l0, ...
    >>> y, h_n, c_n, cache = lstm_forward(x, w, lengths=[5, 3])
    >>> y.shape, h_n.shape, c_n.shape
    ((2, 5, 4), (1, 2, 4), (1, 2, 4))
    """
    return _forward("lstm", x, weights, h0, c0, lengths, batch_first, dropout, seed, requires_grad, num_threads)


def lstm_backward(cache: RecurrentCache, dy: Optional[np.ndarray] = None, dh_n: Optional[np.ndarray] = None,
                  dc_n: Optional[np.ndarray] = None, *, num_threads: Optional[int] = None
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """Gradients ``(dx, dh0, dc0, dweights)`` of an LSTM forward pass, given the gradients of
    ``y``, ``h_n`` and ``c_n`` (None = zero). ``dweights`` has the keys of the weights dict.
    Gradients in ``dy`` at padding positions are ignored.

    >>> rng = np.random.default_rng(0)
    >>> x = rng.standard_normal((2, 5, 3)).astype(np.float32)  # (B, T, D)
    >>> y, h_n, c_n, cache = lstm_forward(x, seqfast.nn.LSTM(3, 4).parameters())
    >>> dx, dh0, dc0, dw = lstm_backward(cache, np.ones_like(y))
    >>> dx.shape, sorted(dw)
    ((2, 5, 3), ['bias_hh_l0', 'bias_ih_l0', 'weight_hh_l0', 'weight_ih_l0'])
    """
    return _backward("lstm", cache, dy, dh_n, dc_n, num_threads)


def gru_forward(x: np.ndarray, weights: Mapping[str, np.ndarray], h0: Optional[np.ndarray] = None, lengths: Optional[npt.ArrayLike] = None,
                *, variant: _args.GRUVariant = "pytorch", batch_first: bool = True, dropout: float = 0.0, seed: int = 0,
                requires_grad: bool = True, num_threads: Optional[int] = None) -> tuple[np.ndarray, np.ndarray, Optional[RecurrentCache]]:
    """GRU forward pass, gates r, z, n. ``variant="pytorch"`` applies the reset gate after the
    recurrent product (``nn.GRU``, cuDNN); ``"textbook"`` before it (Cho et al. 2014):
    n = tanh(W_in x + b_in + W_hn (r * h) + b_hn). Other arguments as :func:`lstm_forward`.
    Returns ``(y, h_n, cache)``.

    >>> rng = np.random.default_rng(0)
    >>> x = rng.standard_normal((2, 5, 3)).astype(np.float32)  # (B, T, D)
    >>> y, h_n, cache = gru_forward(x, seqfast.nn.GRU(3, 4).parameters(), variant="textbook")
    >>> y.shape, h_n.shape
    ((2, 5, 4), (1, 2, 4))
    """
    cell = _gru_cell(variant)
    y, h_n, _, cache = _forward(cell, x, weights, h0, None, lengths, batch_first, dropout, seed, requires_grad, num_threads)
    return y, h_n, cache


def _gru_cell(variant: str) -> str:
    if variant not in ("pytorch", "textbook"):
        raise SeqfastError(f"variant={variant!r} must be 'pytorch' or 'textbook'")
    return "gru" if variant == "pytorch" else "gru_textbook"


def gru_backward(cache: RecurrentCache, dy: Optional[np.ndarray] = None, dh_n: Optional[np.ndarray] = None, *,
                 num_threads: Optional[int] = None) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """Gradients ``(dx, dh0, dweights)`` of a GRU forward pass.

    >>> rng = np.random.default_rng(0)
    >>> x = rng.standard_normal((2, 5, 3)).astype(np.float32)  # (B, T, D)
    >>> y, h_n, cache = gru_forward(x, seqfast.nn.GRU(3, 4).parameters())
    >>> dx, dh0, dw = gru_backward(cache, np.ones_like(y))
    >>> dx.shape, dh0.shape
    ((2, 5, 3), (1, 2, 4))
    """
    cell = cache.cell if isinstance(cache, RecurrentCache) and cache.cell.startswith("gru") else "gru"
    dx, dh0, _, g = _backward(cell, cache, dy, dh_n, None, num_threads)
    return dx, dh0, g


def rnn_forward(x: np.ndarray, weights: Mapping[str, np.ndarray], h0: Optional[np.ndarray] = None, lengths: Optional[npt.ArrayLike] = None,
                *, nonlinearity: _args.Nonlinearity = "tanh", batch_first: bool = True, dropout: float = 0.0, seed: int = 0,
                requires_grad: bool = True, num_threads: Optional[int] = None) -> tuple[np.ndarray, np.ndarray, Optional[RecurrentCache]]:
    """Elman RNN forward pass, h' = act(W_ih x + b_ih + W_hh h + b_hh) with ``nonlinearity``
    "tanh" or "relu". Other arguments as :func:`lstm_forward`. Returns ``(y, h_n, cache)``.

    >>> rng = np.random.default_rng(0)
    >>> x = rng.standard_normal((2, 5, 3)).astype(np.float32)  # (B, T, D)
    >>> y, h_n, cache = rnn_forward(x, seqfast.nn.RNN(3, 4).parameters(), nonlinearity="relu")
    >>> bool((y >= 0).all()), h_n.shape
    (True, (1, 2, 4))
    """
    if nonlinearity not in ("tanh", "relu"):
        raise SeqfastError(f"nonlinearity={nonlinearity!r} must be 'tanh' or 'relu'")
    y, h_n, _, cache = _forward("rnn_" + nonlinearity, x, weights, h0, None, lengths, batch_first, dropout, seed, requires_grad, num_threads)
    return y, h_n, cache


def rnn_backward(cache: RecurrentCache, dy: Optional[np.ndarray] = None, dh_n: Optional[np.ndarray] = None, *,
                 num_threads: Optional[int] = None) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """Gradients ``(dx, dh0, dweights)`` of an RNN forward pass.

    >>> rng = np.random.default_rng(0)
    >>> x = rng.standard_normal((2, 5, 3)).astype(np.float32)  # (B, T, D)
    >>> y, h_n, cache = rnn_forward(x, seqfast.nn.RNN(3, 4).parameters())
    >>> dx, dh0, dw = rnn_backward(cache, dh_n=np.ones_like(h_n))
    >>> dx.shape, dw["weight_hh_l0"].shape
    ((2, 5, 3), (4, 4))
    """
    cell = cache.cell if isinstance(cache, RecurrentCache) and cache.cell.startswith("rnn") else "rnn_tanh"
    dx, dh0, _, g = _backward(cell, cache, dy, dh_n, None, num_threads)
    return dx, dh0, g


def simd_level(force: Optional[Literal["scalar", "avx2", "avx512"]] = None) -> str:
    """The SIMD level of the nn kernels ("avx512", "avx2" or "scalar"); ``force`` sets it (for
    tests; a level the CPU lacks falls back to the best it has). The environment variable
    ``SEQFAST_SIMD=scalar|avx2|avx512`` forces a level at start-up.

    >>> simd_level() in ("scalar", "avx2", "avx512")
    True
    """
    return _core.simd_level(force)
