"""What every seqfast.torch autograd Function shares: tensor checks, NumPy views, the forward
cache's lifetime, thread counts, dropout seeds and the double-backward guard.

Tensors reach the kernels as ``t.detach().numpy()`` views (no copy; the kernels copy only an
array that is not C-contiguous) and kernel results come back through ``torch.from_numpy``.

The kernel's forward cache (native buffers, possibly large) must live exactly as long as torch
would keep the saved tensors: freed by a backward without ``retain_graph``, kept by one with it.
torch frees saved tensors, not attributes of ``ctx``, so the cache rides on a saved marker
tensor: :func:`apply` installs ``saved_tensors_hooks`` whose pack hook stores the marker's
:class:`_Saved` record in the graph in place of the marker, and ``ctx`` keeps only a weak
reference to it. When torch releases the graph's saved variables the record (and the cache) goes;
a second backward then gets torch's own "backward through the graph a second time" error.
"""

from __future__ import annotations

import functools
import weakref

import torch

from seqfast import _args
from seqfast._errors import ArgumentTypeError

FLOATS = (torch.float32, torch.float64)


def check_tensor(t, name: str, dtype=None, ref: str = "input"):
    """`t` itself if it is a dense CPU float32/float64 tensor (of `dtype` when given)."""
    if not isinstance(t, torch.Tensor):
        raise ArgumentTypeError(f"{name} must be a torch.Tensor, not {type(t).__name__}")
    if t.device.type != "cpu":
        raise ArgumentTypeError(f"{name} is on device '{t.device}'; seqfast.torch runs on the CPU only (move it with .cpu())")
    if t.layout != torch.strided:
        raise ArgumentTypeError(f"{name} has layout {t.layout}; seqfast.torch takes dense (strided) tensors")
    if t.dtype not in FLOATS:
        raise ArgumentTypeError(f"{name} has dtype {t.dtype}; seqfast.torch supports torch.float32 and torch.float64")
    if dtype is not None and t.dtype != dtype:
        raise ArgumentTypeError(f"{name} has dtype {t.dtype} but {ref} is {dtype}; convert one of them (module.to(dtype) or tensor.to(dtype))")
    return t


def np_view(t):
    """A NumPy view of `t` (None stays None)."""
    return None if t is None else t.detach().numpy()


def from_np(a):
    return None if a is None else torch.from_numpy(a)


def threads(num_threads):
    """The kernel's thread count: as given, else torch's (``torch.get_num_threads()``)."""
    return torch.get_num_threads() if num_threads is None else _args.threads(num_threads)


def draw_seed() -> int:
    """A dropout seed from torch's global generator, so ``torch.manual_seed`` makes runs repeat."""
    return int(torch.randint(0, 2**62, (), dtype=torch.int64).item())


def needs_graph(*tensors) -> bool:
    """Whether autograd will record this call (grad mode on and some input requires grad):
    otherwise the kernel runs without keeping a cache."""
    return torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors)


class _Saved:
    """The forward cache and the tensors it depends on, with their versions at forward time."""

    __slots__ = ("cache", "tensors", "versions", "__weakref__")

    def __init__(self, cache, tensors):
        self.cache = cache
        self.tensors = [t for t in tensors if t is not None]
        self.versions = [t._version for t in self.tensors]


def _pack(t):
    saved = getattr(t, "_seqfast_saved", None)
    return t if saved is None else saved


def _unpack(p):
    return torch.empty(0) if isinstance(p, _Saved) else p


def apply(fn, *args):
    """``fn.apply(*args)`` with the hooks that let the graph own the forward cache."""
    with torch.autograd.graph.saved_tensors_hooks(_pack, _unpack):
        return fn.apply(*args)


def stash(ctx, cache, tensors) -> None:
    """Keep `cache` for the backward (call from a Function's forward run through :func:`apply`)."""
    saved = _Saved(cache, tensors)
    marker = torch.empty(0)
    setattr(marker, "_seqfast_saved", saved)  # a Python attribute on a Tensor (torch's stub declares none); _pack reads it
    ctx.save_for_backward(marker)
    ctx.seqfast_saved = weakref.ref(saved)
    ctx.set_materialize_grads(False)


def unstash(ctx, what: str):
    """The cache kept by :func:`stash`; errors if the graph was freed or an input changed."""
    ctx.saved_tensors  # torch's own error after a backward without retain_graph
    saved = ctx.seqfast_saved()
    if saved is None:
        raise RuntimeError(f"{what}: the forward cache was freed; call backward with retain_graph=True to backward twice")
    for t, v in zip(saved.tensors, saved.versions):
        if t._version != v:
            raise RuntimeError(f"{what}: a tensor of shape {tuple(t.shape)} used by the forward was modified in place before the backward "
                               f"(version {v} -> {t._version}); seqfast's cache refers to it, so the gradient would be wrong")
    return saved.cache


def once_differentiable(what: str):
    """Like ``torch.autograd.function.once_differentiable`` with a message naming `what`: the
    backward runs without building a graph, and differentiating its results raises."""

    def deco(fn):
        @functools.wraps(fn)
        def wrapper(ctx, *grads):
            with torch.no_grad():
                out = fn(ctx, *grads)
            if not torch.is_grad_enabled() or not any(isinstance(g, torch.Tensor) and g.requires_grad for g in grads):
                return out
            msg = (f"{what}: double backward (a gradient of a gradient, create_graph=True) is not supported; "
                   "seqfast's kernels have first-order backward passes only").encode()
            err = torch._C._functions.DelayedError(msg, len(out))

            def fake(v):
                if v is None:
                    return v
                v = v.detach()
                v.requires_grad = True
                return v

            return err(*[fake(v) for v in out])

        return wrapper

    return deco
