"""LSTM, GRU and RNN as torch modules whose forward and backward are seqfast's kernels.

Each class subclasses its ``torch.nn`` counterpart, so constructor arguments, defaults
(``batch_first=False``), initialisation (same draws from torch's generator), parameter names,
``state_dict`` keys and shapes are torch's own; only ``forward`` differs. It runs
``seqfast.nn``'s kernel through :class:`_RecurrentFn`, whose backward is seqfast's backward.

Inputs: a padded tensor ((T, B, D), (B, T, D) with ``batch_first``, or unbatched (T, D)), with
optional ``lengths`` (B,) (outputs past a row's length are 0 and its final state is taken at its
own last step), or a ``PackedSequence`` (the output is then one too, with the input's
``sorted_indices``). The kernel takes padded input with lengths in any order, so a packed input
is padded once and the output packed once (two copies that torch's packed path does not make).

Dropout between layers (training mode only) uses a mask from seqfast's counter-based generator,
seeded by a draw from torch's global generator: ``torch.manual_seed`` makes it repeat, but the
mask differs from ``torch.nn.LSTM``'s.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from seqfast import _args
from seqfast import _recurrent as K
from seqfast._errors import ArgumentTypeError, SeqfastError, ShapeError
from seqfast.torch import _autograd as G


class _Spec:
    """The non-tensor arguments of one recurrent call."""

    __slots__ = ("cell", "names", "lengths", "batch_first", "dropout", "seed", "num_threads", "what")

    def __init__(self, cell, names, lengths, batch_first, dropout, seed, num_threads, what):
        self.cell, self.names, self.lengths, self.batch_first = cell, names, lengths, batch_first
        self.dropout, self.seed, self.num_threads, self.what = dropout, seed, num_threads, what


def _run(spec: _Spec, x, h0, c0, weights, requires_grad: bool):
    wd = {n: G.np_view(w) for n, w in zip(spec.names, weights)}
    return K._forward(spec.cell, G.np_view(x), wd, G.np_view(h0), G.np_view(c0), spec.lengths, spec.batch_first, spec.dropout, spec.seed,
                      requires_grad, spec.num_threads)


class _RecurrentFn(torch.autograd.Function):
    """(spec, x, h0, c0, *weights) -> (y, h_n) or (y, h_n, c_n) for an LSTM."""

    @staticmethod
    def forward(ctx, spec, x, h0, c0, *weights):
        y, h_n, c_n, cache = _run(spec, x, h0, c0, weights, True)
        ctx.spec = spec
        G.stash(ctx, cache, [x, h0, c0, *weights])
        outs = (G.from_np(y), G.from_np(h_n))
        return outs + (G.from_np(c_n),) if spec.cell == "lstm" else outs

    @staticmethod
    @G.once_differentiable("seqfast.torch recurrent layer")
    def backward(ctx, dy, dh_n, dc_n=None):
        spec = ctx.spec
        cache = G.unstash(ctx, spec.what)
        need = ctx.needs_input_grad
        if dy is None and dh_n is None and dc_n is None:
            return (None,) * len(need)
        dx, dh0, dc0, dw = K._backward(spec.cell, cache, G.np_view(dy), G.np_view(dh_n), G.np_view(dc_n), spec.num_threads)
        grads = [None, dx, dh0, dc0] + [dw[n] for n in spec.names]
        return tuple(G.from_np(g) if want and g is not None else None for g, want in zip(grads, need))


def _lengths(lengths, b: int, t: int):
    if lengths is None:
        return None
    if isinstance(lengths, torch.Tensor):
        if lengths.is_floating_point() or lengths.is_complex() or lengths.dtype == torch.bool:
            raise ArgumentTypeError(f"lengths must hold integers, not {lengths.dtype}")
        lengths = lengths.detach().cpu().numpy()
    return _args.lengths(lengths, b, t, lo=1)  # 1..T, the number of time steps


if TYPE_CHECKING:
    from torch.nn import RNNBase as _MixinBase  # what the mixin is always combined with (its attributes, extra_repr)
else:
    _MixinBase = object


class _SeqfastRecurrent(_MixinBase):
    """The forward shared by LSTM, GRU and RNN (mixed in before the torch class)."""

    _cell = "lstm"

    def _cell_name(self) -> str:
        """The core's cell name (each subclass defines it)."""
        raise NotImplementedError

    def _sf_init(self, num_threads):
        self.num_threads = _args.threads(num_threads)

    def _sf_forward(self, input, hx, lengths):
        name = type(self).__name__
        cell = self._cell_name()
        lstm = cell == "lstm"
        packed = isinstance(input, PackedSequence)
        bf = self.batch_first
        if packed:
            if lengths is not None:
                raise SeqfastError("lengths must be None for a PackedSequence input (it carries its own)")
            G.check_tensor(input.data, "input.data")
            x, lens = pad_packed_sequence(input, batch_first=bf)
            unbatched = False
        else:
            x = G.check_tensor(input, "input")
            if x.dim() not in (2, 3):
                raise ShapeError(f"{name}: input has shape {tuple(x.shape)}; expected 3 dimensions "
                                 f"{'(B, T, input_size)' if bf else '(T, B, input_size)'} or 2 (T, input_size) for an unbatched sequence")
            unbatched = x.dim() == 2
            if unbatched:
                x = x.unsqueeze(0 if bf else 1)
            lens = lengths
        dtype = x.dtype
        b, t = (x.shape[0], x.shape[1]) if bf else (x.shape[1], x.shape[0])
        lens = _lengths(lens, b, t)
        if x.shape[2] != self.input_size:
            raise ShapeError(f"{name}: input has {x.shape[2]} features, expected input_size={self.input_size}")
        h0 = c0 = None
        if hx is not None:
            if lstm:
                if not isinstance(hx, (tuple, list)) or len(hx) != 2:
                    raise ArgumentTypeError(f"{name}: hx must be a tuple (h_0, c_0), not {type(hx).__name__}")
                h0, c0 = hx
            else:
                h0 = hx
            fix = (lambda h: h.unsqueeze(1)) if unbatched else (lambda h: h)
            h0 = fix(G.check_tensor(h0, "hx[0]" if lstm else "hx", dtype))
            if lstm:
                c0 = fix(G.check_tensor(c0, "hx[1]", dtype))
        names = list(self._flat_weights_names)
        weights = [G.check_tensor(getattr(self, n), n, dtype) for n in names]
        dropout = float(self.dropout) if self.training and self.num_layers > 1 else 0.0
        seed = G.draw_seed() if dropout > 0 else 0
        spec = _Spec(cell, names, lens, bf, dropout, seed, G.threads(self.num_threads), f"seqfast.torch.{name}")
        if G.needs_graph(x, h0, c0, *weights):
            outs = G.apply(_RecurrentFn, spec, x, h0, c0, *weights)
        else:
            y, h_n, c_n, _ = _run(spec, x, h0, c0, weights, False)
            outs = (G.from_np(y), G.from_np(h_n)) + ((G.from_np(c_n),) if lstm else ())
        y, hid = outs[0], outs[1:]
        if packed:
            y = _pack_like(y, input, torch.from_numpy(lens), bf)
        elif unbatched:
            y = y.squeeze(0 if bf else 1)
            hid = tuple(h.squeeze(1) for h in hid)
        return y, (hid if lstm else hid[0])

    def extra_repr(self) -> str:
        s = super().extra_repr()
        if getattr(self, "num_threads", None) is not None:
            s += f", num_threads={self.num_threads}"
        return s


def _pack_like(y, packed: PackedSequence, lens, batch_first: bool) -> PackedSequence:
    """Padded `y` (original batch order) packed with the batch order of `packed`."""
    si = packed.sorted_indices
    if si is not None:
        y = y.index_select(0 if batch_first else 1, si)
        lens = lens.index_select(0, si)
    p = pack_padded_sequence(y, lens, batch_first=batch_first, enforce_sorted=True)
    return PackedSequence(p.data, p.batch_sizes, packed.sorted_indices, packed.unsorted_indices)


class LSTM(_SeqfastRecurrent, torch.nn.LSTM):
    """``torch.nn.LSTM`` (same arguments, parameters and state_dict; ``proj_size`` supported)
    computed by seqfast. Extra: ``num_threads`` (default: ``torch.get_num_threads()`` at each
    call) and ``forward(input, hx=None, lengths=None)`` with per-row lengths for padded input.

    >>> import torch
    >>> m = LSTM(3, 4, batch_first=True)  # a torch.nn.LSTM: same parameters, same state_dict
    >>> y, (h_n, c_n) = m(torch.zeros(2, 5, 3), lengths=torch.tensor([5, 2]))
    >>> y.shape, bool(y[1, 2:].eq(0).all())  # outputs past a row's length are 0
    (torch.Size([2, 5, 4]), True)
    >>> y.sum().backward()
    """

    def __init__(self, *args, num_threads=None, **kwargs):
        super().__init__(*args, **kwargs)
        self._sf_init(num_threads)

    def _cell_name(self):
        return "lstm"

    def forward(self, input, hx=None, lengths=None):
        """Returns ``(output, (h_n, c_n))`` like ``torch.nn.LSTM``."""
        return self._sf_forward(input, hx, lengths)


class GRU(_SeqfastRecurrent, torch.nn.GRU):
    """``torch.nn.GRU`` computed by seqfast. ``variant="textbook"`` applies the reset gate before
    the recurrent product (Cho et al. 2014: n = tanh(W_in x + b_in + W_hn (r * h) + b_hn)) with
    the same parameters; the default ``"pytorch"`` is torch's (and cuDNN's) form.

    >>> import torch
    >>> m = GRU(3, 4, num_layers=2, variant="textbook")
    >>> y, h_n = m(torch.zeros(5, 2, 3))  # (T, B, D): batch_first=False, as torch
    >>> y.shape, h_n.shape
    (torch.Size([5, 2, 4]), torch.Size([2, 2, 4]))
    """

    def __init__(self, *args, variant: _args.GRUVariant = "pytorch", num_threads=None, **kwargs):
        K._gru_cell(variant)
        super().__init__(*args, **kwargs)
        self.variant = variant
        self._sf_init(num_threads)

    def _cell_name(self):
        return K._gru_cell(self.variant)

    def forward(self, input, hx=None, lengths=None):
        """Returns ``(output, h_n)`` like ``torch.nn.GRU``."""
        return self._sf_forward(input, hx, lengths)

    def extra_repr(self) -> str:
        s = super().extra_repr()
        return s + (f", variant={self.variant!r}" if self.variant != "pytorch" else "")


class RNN(_SeqfastRecurrent, torch.nn.RNN):
    """``torch.nn.RNN`` (``nonlinearity="tanh"`` or ``"relu"``) computed by seqfast.

    >>> import torch
    >>> ref = torch.nn.RNN(3, 4, nonlinearity="relu", batch_first=True)
    >>> m = RNN(3, 4, nonlinearity="relu", batch_first=True)
    >>> _ = m.load_state_dict(ref.state_dict())
    >>> x = torch.randn(2, 5, 3)
    >>> torch.allclose(m(x)[0], ref(x)[0], atol=1e-5)
    True
    """

    def __init__(self, *args, num_threads=None, **kwargs):
        super().__init__(*args, **kwargs)
        self._sf_init(num_threads)

    def _cell_name(self):
        return "rnn_" + self.nonlinearity

    def forward(self, input, hx=None, lengths=None):
        """Returns ``(output, h_n)`` like ``torch.nn.RNN``."""
        return self._sf_forward(input, hx, lengths)
