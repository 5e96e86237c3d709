"""seqfast's recurrent and attention kernels as PyTorch modules with autograd.

Change one import to train with seqfast's CPU kernels::

    from seqfast.torch import LSTM          # instead of torch.nn.LSTM
    lstm = LSTM(512, 512, num_layers=2)     # same arguments, parameters and state_dict

- :class:`LSTM`, :class:`GRU` (``variant="pytorch" | "textbook"``), :class:`RNN`: subclasses of
  the ``torch.nn`` modules (constructor, defaults, parameter names, ``state_dict`` and
  initialisation are torch's); ``forward`` also takes ``lengths=`` for padded batches, and a
  ``PackedSequence`` input gives a ``PackedSequence`` output.
- :class:`MultiheadAttention` (``need_weights=False``) and :func:`scaled_dot_product_attention`
  with torch's argument conventions.
- :class:`AdditiveAttention` (Bahdanau) and :class:`LuongAttention`, which torch does not have.

Every forward/backward is a ``torch.autograd.Function`` calling seqfast's kernels on NumPy views
of the tensors (no copies); gradients are returned only where ``ctx.needs_input_grad`` asks, no
cache is kept under ``torch.no_grad()`` / ``torch.inference_mode()``, and double backward raises.
CPU float32 / float64 tensors only (anything else raises ``seqfast.ArgumentTypeError`` naming the
tensor). Threads: ``num_threads`` if given, else ``torch.get_num_threads()`` at each call.

Importing ``seqfast`` never imports torch; this subpackage needs it (``pip install seqfast[torch]``).
"""

from __future__ import annotations

try:
    import torch  # noqa: F401  (absolute: the real torch, not this package)
except ImportError as e:  # pragma: no cover - exercised in a subprocess by the tests
    raise ImportError("seqfast.torch needs PyTorch, which is not installed: pip install 'seqfast[torch]' (or pip install 'torch>=2.0')") from e

from seqfast.torch._attention import AdditiveAttention, LuongAttention, MultiheadAttention, scaled_dot_product_attention
from seqfast.torch._recurrent import GRU, LSTM, RNN

__all__ = ["LSTM", "GRU", "RNN", "MultiheadAttention", "scaled_dot_product_attention", "AdditiveAttention", "LuongAttention"]
