#!/usr/bin/env python3
"""Attention: seqfast.nn (scaled dot-product, multi-head and additive attention, forward +
backward) against PyTorch on the CPU, on the same inputs and weights, in the same process, after
checking that both give the same outputs and gradients.

Cases (fp32; SDPA sizes B=4, H=8, T=Tq=Tk=1024, d=dv=64 unless changed with --sdpa):
    sdpa_fwd      F.scaled_dot_product_attention, forward only (torch under no_grad, seqfast's
                  attention_forward with requires_grad=False)           no ratio target
    sdpa          the same, forward + backward                          target torch/seqfast >= 1.1
    sdpa_causal   is_causal=True / causal=True, forward + backward      target seqfast causal
                  <= 0.55 x seqfast non-causal (its own `sdpa` time)
    sdpa_dropout  dropout 0.1 on the probabilities, forward + backward  target seqfast dropout
                  <= 1.15 x seqfast without dropout (its own `sdpa` time); torch/seqfast shown
    mha           nn.MultiheadAttention(E=512, num_heads=8, batch_first=True) self-attention on
                  x (B=4, T=1024, E=512), need_weights=False, forward + backward (--mha)
                                                                        no ratio target
    additive      Bahdanau attention, B=32, Tq=Tk=100, dq=dk=512, da=256, values = keys, forward
                  + backward, against the straightforward PyTorch formulation (--additive)
                                                                        target torch/seqfast >= 5
and for every case seqfast's speed-up from 1 to 2 threads; target >= 1.85 for the four sdpa cases
(shown without a target for mha and additive).

"Forward + backward" is a training step: torch runs the forward with autograd and
`(out * g).sum().backward()` for a fixed random g (every input and weight requires grad); seqfast
runs `*_forward` then `*_backward(cache, g)`. The self-relative targets of sdpa_causal and
sdpa_dropout divide by seqfast's plain (non-causal, no-dropout) forward + backward on the same
inputs at the same thread count, timed again inside the same alternation as the row (so a burst
of load hits numerator and denominator alike); the `sdpa` row is the same measurement, taken
separately.

The PyTorch peers:
  * sdpa*: torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=..., dropout_p=...)
    on (B, H, T, d) tensors; torch's dropout uses its own RNG, so sdpa_dropout compares timing
    only with it.
  * mha: the module itself, mod(x, x, x, need_weights=False); seqfast gets mha_forward(x, x, x,
    mod.state_dict() as numpy, 8) and mha_backward, dx = dquery + dkey + dvalue (its projections
    run on seqfast's own threads, like the attention).
  * additive: e = tanh((q @ Wq.T)[:, :, None, :] + (k @ Wk.T + b)[:, None, :, :]) @ v -> (B, Tq, Tk),
    a = softmax(e, -1), context = bmm(a, k), with autograd (it materialises B*Tq*Tk*da floats,
    330 MB at full size); seqfast gets additive_attention_forward(q, k, {w_q, w_k, v, bias})
    (values=None: the keys are the values, their gradient is folded into dkeys).

Agreement, checked at every thread count before timing: the output and every gradient (sdpa: dq,
dk, dv; mha: dx and the four weight gradients; additive: dquery, dkeys, dw_q, dw_k, dv, dbias)
against torch autograd. sdpa_dropout is checked against torch computing the same dropped
attention explicitly, at full size: P = softmax(scale q k^T), A = P * keep / (1 - p), out = A v,
with keep = dropout_keep(seed, B*H, T, T, p) from tests/reference/attention.py (seqfast's exact
mask; generating it and the explicit torch pass take a few seconds and ~1 GB at full size). An
array passes when max|seqfast - torch| <= rtol * max|torch| (rtol 1e-4, --rtol). A failed check
marks the rows MISMATCH and the exit code is 1.

Timing: median of --reps runs after --warmup runs, torch and seqfast alternating within each
round (the order flipped every round) with a 10 ms pause before each run, so a burst of other
load hits both alike. torch.set_num_threads(t) and num_threads=t. Each row also shows how many
CPUs other processes took meanwhile (/proc/stat; '!' above 0.15): on a 2-core machine a busy
neighbour ruins 2-thread rows, so on a shared machine use --wait-quiet.

GFLOP/s: SDPA forward = 4*B*H*Tq*Tk*d (the two matrix products q k^T and P v), backward = 2.5x
forward (five products: dV, dP, recomputed S, dQ, dK); both halved for causal; dropout counts as
sdpa. mha: the same attention FLOPs with H heads of E/H plus the projections, forward
8*B*T*E^2 (q, k, v, out), backward 2x that. additive: not shown (the cost is B*Tq*Tk*da tanh, not
multiply-adds). "%peak" divides by threads x the 1-thread numpy sgemm rate on 3200x512 @ 512x2048,
measured at the start; torch.mm's rate on the same shapes is printed beside it.

    python benches/bench_attention.py                              # all cases, 1 and 2 threads
    python benches/bench_attention.py --cases sdpa,sdpa_causal --threads 1 --reps 9
    python benches/bench_attention.py --torch-only                 # the torch baselines only
    python benches/bench_attention.py --quick                      # tiny sizes, a smoke run (< 1 min)
    python benches/bench_attention.py --wait-quiet 120             # shared machine: wait for idle CPUs
    python benches/bench_attention.py --sdpa 2,8,2048,64 --mha 2,512,256,4 --additive 16,50,256,128

Needs torch and numpy, and seqfast unless --torch-only: run it from a virtualenv holding both
(pip install torch numpy /path/to/seqfast). Without torch it exits with status 2: it never
drops the comparison. Exit status 1 when a check failed or a seqfast call raised.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import sys
import time
import traceback
from dataclasses import dataclass

# numpy's GEMM peak is measured at 1 thread, and numpy only builds inputs and checks results here:
# OPENBLAS_NUM_THREADS=1 before numpy's first import keeps idle OpenBLAS workers from spinning on
# a core while torch or seqfast is timed.
if "numpy" not in sys.modules:
    os.environ["OPENBLAS_NUM_THREADS"] = "1"

import numpy as np  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.append(os.path.join(os.path.dirname(HERE), "tests"))  # reference.attention.dropout_keep
from _timing import NOISY, PEAK_SHAPE, cpu_name, fmt, gemm_peaks, numpy_blas, print_table, timed_pair, wait_quiet, json_option, json_start  # noqa: E402

SDPA_SIZES = (4, 8, 1024, 64)  # B, H, T, d
MHA_SIZES = (4, 1024, 512, 8)  # B, T, E, heads
ADDITIVE_SIZES = (32, 100, 512, 256)  # B, T (= Tq = Tk), D (= dq = dk), da
QUICK = {"sdpa": (1, 2, 128, 32), "mha": (2, 64, 64, 4), "additive": (4, 20, 32, 16)}
SDPA_SCALING_TARGET = 1.85


@dataclass
class Case:
    name: str
    kind: str  # sdpa | mha | additive
    fwd_only: bool = False
    causal: bool = False
    dropout: float = 0.0
    target: float | None = None  # torch/seqfast >= target
    self_target: float | None = None  # seqfast / seqfast plain sdpa <= self_target
    scaling_target: float | None = None  # seqfast 1 -> 2 threads speed-up >= scaling_target
    desc: str = ""


CASES = {c.name: c for c in [
    Case("sdpa_fwd", "sdpa", fwd_only=True, scaling_target=SDPA_SCALING_TARGET, desc="F.sdpa forward"),
    Case("sdpa", "sdpa", target=1.1, scaling_target=SDPA_SCALING_TARGET, desc="F.sdpa fwd+bwd"),
    Case("sdpa_causal", "sdpa", causal=True, self_target=0.55, scaling_target=SDPA_SCALING_TARGET,
         desc="F.sdpa is_causal fwd+bwd"),
    Case("sdpa_dropout", "sdpa", dropout=0.1, self_target=1.15, scaling_target=SDPA_SCALING_TARGET,
         desc="F.sdpa dropout 0.1 fwd+bwd"),
    Case("mha", "mha", desc="nn.MultiheadAttention self-attn fwd+bwd"),
    Case("additive", "additive", target=5.0, desc="additive (Bahdanau) fwd+bwd"),
]}


@dataclass
class Row:
    case: Case
    threads: int
    shape: str
    flops: float | None
    torch_ms: float
    sf_ms: float | None = None
    base_ms: float | None = None  # seqfast plain sdpa fwd+bwd, timed alongside (causal, dropout)
    status: str = ""  # "", "MISMATCH", "ERROR"
    spread: float | None = None
    other: float | None = None

    @property
    def mode(self) -> str:
        return "fwd" if self.case.fwd_only else "fwd+bwd"


# ---------------------------------------------------------------------------------------------
# the cases: inputs, torch, seqfast


def sdpa_flops(B, H, Tq, Tk, d, causal, fwd_only) -> float:
    f = 4.0 * B * H * Tq * Tk * d * (1.0 if fwd_only else 3.5)
    return f / 2 if causal else f


class SdpaSetup:
    def __init__(self, case: Case, args, torch, snn):
        self.case, self.torch, self.snn = case, torch, snn
        B, H, T, d = args.sdpa
        self.B, self.H, self.T, self.d = B, H, T, d
        self.seed = args.seed
        rng = np.random.default_rng(args.seed)
        self.q, self.k, self.v, self.g = (rng.standard_normal((B, H, T, d), dtype=np.float32) for _ in range(4))
        self.qt, self.kt, self.vt = (torch.from_numpy(a).requires_grad_() for a in (self.q, self.k, self.v))
        self.gt = torch.from_numpy(self.g)
        self.shape = f"{B}x{H}x{T}x{d}"
        self.flops = sdpa_flops(B, H, T, T, d, case.causal, case.fwd_only)
        self._keep = None

    # -- torch
    def _t_out(self, q, k, v):
        c = self.case
        return self.torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=c.causal, dropout_p=c.dropout)

    def t_run(self):
        if self.case.fwd_only:
            with self.torch.no_grad():
                self._t_out(self.qt, self.kt, self.vt)
            return
        for x in (self.qt, self.kt, self.vt):
            x.grad = None
        (self._t_out(self.qt, self.kt, self.vt) * self.gt).sum().backward()

    def keep(self):
        if self._keep is None:
            from reference.attention import dropout_keep
            t0 = time.perf_counter()
            self._keep = dropout_keep(self.seed, self.B * self.H, self.T, self.T, self.case.dropout)
            self.keep_s = time.perf_counter() - t0
        return self._keep

    def t_reference(self) -> dict:
        torch, c = self.torch, self.case
        if c.fwd_only:
            with torch.no_grad():
                return {"out": self._t_out(self.qt, self.kt, self.vt).numpy().copy()}
        q, k, v = (torch.from_numpy(a).requires_grad_() for a in (self.q, self.k, self.v))
        if c.dropout:  # seqfast's own mask, applied explicitly
            z = torch.from_numpy(self.keep().reshape(self.B, self.H, self.T, self.T)).to(torch.float32) / (1.0 - c.dropout)
            s = (q @ k.transpose(-1, -2)) * (1.0 / math.sqrt(self.d))
            if c.causal:
                s = s.masked_fill(~torch.ones(self.T, self.T, dtype=torch.bool).tril(), float("-inf"))
            out = (torch.softmax(s, dim=-1) * z) @ v
        else:
            out = self._t_out(q, k, v)
        (out * self.gt).sum().backward()
        return {"out": out.detach().numpy().copy(), "dq": q.grad.numpy().copy(), "dk": k.grad.numpy().copy(),
                "dv": v.grad.numpy().copy()}

    # -- seqfast
    def _s_fwd(self, t, causal, dropout, requires_grad):
        return self.snn.attention_forward(self.q, self.k, self.v, causal=causal, dropout=dropout, seed=self.seed,
                                          requires_grad=requires_grad, num_threads=t)

    def s_run(self, t: int):
        c = self.case
        out, cache = self._s_fwd(t, c.causal, c.dropout, not c.fwd_only)
        if not c.fwd_only:
            self.snn.attention_backward(cache, self.g, num_threads=t)

    def s_base(self, t: int):
        """seqfast's plain (non-causal, no dropout) forward + backward: the `sdpa` case."""
        _, cache = self._s_fwd(t, False, 0.0, True)
        self.snn.attention_backward(cache, self.g, num_threads=t)

    def s_results(self, t: int) -> dict:
        c = self.case
        out, cache = self._s_fwd(t, c.causal, c.dropout, not c.fwd_only)
        if c.fwd_only:
            return {"out": np.asarray(out)}
        dq, dk, dv = self.snn.attention_backward(cache, self.g, num_threads=t)
        return {"out": np.asarray(out), "dq": np.asarray(dq), "dk": np.asarray(dk), "dv": np.asarray(dv)}


class MhaSetup:
    def __init__(self, case: Case, args, torch, snn):
        self.case, self.torch, self.snn = case, torch, snn
        B, T, E, H = args.mha
        if E % H:
            raise SystemExit(f"--mha: E={E} is not divisible by heads={H}")
        self.B, self.T, self.E, self.H = B, T, E, H
        torch.manual_seed(args.seed)
        self.mod = torch.nn.MultiheadAttention(E, H, batch_first=True)  # dropout 0, with biases
        self.weights = {n: w.detach().numpy().copy() for n, w in self.mod.state_dict().items()}
        rng = np.random.default_rng(args.seed)
        self.x = rng.standard_normal((B, T, E), dtype=np.float32)
        self.g = rng.standard_normal((B, T, E), dtype=np.float32)
        self.xt = torch.from_numpy(self.x).requires_grad_()
        self.gt = torch.from_numpy(self.g)
        self.shape = f"{B}x{T}x{E} h{H}"
        attn = 4.0 * B * T * T * E
        proj = 8.0 * B * T * E * E
        self.flops = 3.5 * attn + 3.0 * proj

    def t_run(self):
        self.mod.zero_grad(set_to_none=True)
        self.xt.grad = None
        out, _ = self.mod(self.xt, self.xt, self.xt, need_weights=False)
        (out * self.gt).sum().backward()

    def t_reference(self) -> dict:
        self.mod.zero_grad(set_to_none=True)
        self.xt.grad = None
        out, _ = self.mod(self.xt, self.xt, self.xt, need_weights=False)
        (out * self.gt).sum().backward()
        ref = {"out": out.detach().numpy().copy(), "dx": self.xt.grad.numpy().copy()}
        for n, p in self.mod.named_parameters():
            ref["d" + n] = p.grad.numpy().copy()
        return ref

    def s_run(self, t: int):
        out, cache = self.snn.mha_forward(self.x, self.x, self.x, self.weights, self.H, num_threads=t)
        self.snn.mha_backward(cache, self.g, num_threads=t)

    def s_results(self, t: int) -> dict:
        out, cache = self.snn.mha_forward(self.x, self.x, self.x, self.weights, self.H, num_threads=t)
        dq, dk, dv, dw = self.snn.mha_backward(cache, self.g, num_threads=t)
        got = {"out": np.asarray(out), "dx": np.asarray(dq) + np.asarray(dk) + np.asarray(dv)}
        for n, w in dw.items():
            got["d" + n] = np.asarray(w)
        return got


class AdditiveSetup:
    def __init__(self, case: Case, args, torch, snn):
        self.case, self.torch, self.snn = case, torch, snn
        B, T, D, da = args.additive
        self.B, self.T, self.D, self.da = B, T, D, da
        rng = np.random.default_rng(args.seed)
        f32 = np.float32
        self.q = rng.standard_normal((B, T, D), dtype=f32)
        self.k = rng.standard_normal((B, T, D), dtype=f32)
        self.g = rng.standard_normal((B, T, D), dtype=f32)  # the context is (B, Tq, dk)
        self.weights = {"w_q": (rng.standard_normal((da, D)) / math.sqrt(D)).astype(f32),
                        "w_k": (rng.standard_normal((da, D)) / math.sqrt(D)).astype(f32),
                        "v": (rng.standard_normal(da) / math.sqrt(da)).astype(f32),
                        "bias": (0.1 * rng.standard_normal(da)).astype(f32)}
        self.leaves = {"query": self.q, "keys": self.k, **self.weights}
        self.lt = {n: torch.from_numpy(a).requires_grad_() for n, a in self.leaves.items()}
        self.gt = torch.from_numpy(self.g)
        self.shape = f"{B}x{T}x{T} {D}/{da}"
        self.flops = None

    def t_forward(self):
        L, torch = self.lt, self.torch
        e = torch.tanh((L["query"] @ L["w_q"].T)[:, :, None, :] + (L["keys"] @ L["w_k"].T + L["bias"])[:, None, :, :]) @ L["v"]
        a = torch.softmax(e, dim=-1)
        return torch.bmm(a, L["keys"])

    def t_run(self):
        for x in self.lt.values():
            x.grad = None
        (self.t_forward() * self.gt).sum().backward()

    def t_reference(self) -> dict:
        for x in self.lt.values():
            x.grad = None
        ctx = self.t_forward()
        (ctx * self.gt).sum().backward()
        ref = {"context": ctx.detach().numpy().copy()}
        for n, x in self.lt.items():
            ref["d" + n] = x.grad.numpy().copy()
        return ref

    def s_run(self, t: int):
        _, cache = self.snn.additive_attention_forward(self.q, self.k, self.weights, num_threads=t)
        self.snn.additive_attention_backward(cache, self.g, num_threads=t)

    def s_results(self, t: int) -> dict:
        ctx, cache = self.snn.additive_attention_forward(self.q, self.k, self.weights, num_threads=t)
        dq, dk, dv, dw = self.snn.additive_attention_backward(cache, self.g, num_threads=t)
        got = {"context": np.asarray(ctx), "dquery": np.asarray(dq), "dkeys": np.asarray(dk)}
        if dv is not None:  # values=None: documented to fold dvalues into dkeys
            got["dvalues (expected None)"] = np.asarray(dv)
        for n, w in dw.items():
            got["d" + n] = np.asarray(w)
        return got


SETUPS = {"sdpa": SdpaSetup, "mha": MhaSetup, "additive": AdditiveSetup}


def compare(ref: dict, got: dict, rtol: float) -> tuple[bool, float, str, float, str, list[str]]:
    """(all pass, max abs error, its array, max error / max|torch|, its array, problems)."""
    ok, worst, worst_name, bad = True, 0.0, "-", []
    worst_rel, worst_rel_name = 0.0, "-"
    for name in got:
        if name not in ref:
            ok = False
            bad.append(f"{name}: returned by seqfast but torch has no such array")
    for name, r in ref.items():
        if name not in got:
            ok = False
            bad.append(f"{name}: missing from seqfast's results")
            continue
        a = got[name]
        if a.shape != r.shape or a.dtype != r.dtype:
            ok = False
            bad.append(f"{name}: seqfast {a.dtype}{list(a.shape)} vs torch {r.dtype}{list(r.shape)}")
            continue
        err = float(np.max(np.abs(a.astype(np.float64) - r))) if r.size else 0.0
        scale = float(np.max(np.abs(r))) if r.size else 0.0
        if not np.isfinite(err) or err > rtol * scale:
            ok = False
            bad.append(f"{name}: max abs err {err:.3g} > {rtol:g} x max|torch| {scale:.3g}")
        if not np.isfinite(err) or err >= worst:
            worst, worst_name = err, name
        rel = err / scale if scale > 0 else (0.0 if err == 0 else float("inf"))
        if not np.isfinite(rel) or rel >= worst_rel:
            worst_rel, worst_rel_name = rel, name
    return ok, worst, worst_name, worst_rel, worst_rel_name, bad


# ---------------------------------------------------------------------------------------------
# output


def target_text(row: Row) -> tuple[str, str]:
    """(target, met) for a row."""
    c = row.case
    tgt, met = "", None
    if c.target is not None:
        tgt = f"torch/sf >= {c.target:g}x"
        met = None if row.sf_ms is None else row.torch_ms / row.sf_ms >= c.target
    elif c.self_target is not None:
        tgt = f"sf/sf-sdpa <= {c.self_target:g}"
        met = None if row.sf_ms is None or row.base_ms is None else row.sf_ms / row.base_ms <= c.self_target
    if not tgt:
        return "", row.status
    if row.status:
        return tgt, row.status
    return tgt, "-" if met is None else ("yes" if met else "NO")


def sizes(text: str, n: int, flag: str) -> tuple[int, ...]:
    try:
        v = tuple(int(x) for x in text.split(","))
    except ValueError:
        v = ()
    if len(v) != n or min(v) < 1:
        raise SystemExit(f"{flag} takes {n} positive comma-separated ints, got {text!r}")
    return v


# ---------------------------------------------------------------------------------------------


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", default=",".join(CASES), help=f"comma-separated subset of {','.join(CASES)}")
    ap.add_argument("--threads", default="1,2", help="comma-separated thread counts (default 1,2)")
    ap.add_argument("--reps", type=int, default=None, help="timed runs per measurement, the median is shown "
                    "(default 7; 3 with --quick)")
    ap.add_argument("--warmup", type=int, default=None, help="untimed runs first (default 2; 1 with --quick)")
    ap.add_argument("--quick", "--smoke", action="store_true",
                    help=f"tiny sizes (sdpa B,H,T,d = {','.join(map(str, QUICK['sdpa']))}; mha B,T,E,heads = "
                         f"{','.join(map(str, QUICK['mha']))}; additive B,T,D,da = {','.join(map(str, QUICK['additive']))}), "
                         "3 runs: a smoke run; targets don't apply")
    ap.add_argument("--torch-only", action="store_true", help="time torch alone (no seqfast, no checks)")
    ap.add_argument("--sdpa", default=",".join(map(str, SDPA_SIZES)), metavar="B,H,T,d",
                    help="sizes of the sdpa cases (default %(default)s)")
    ap.add_argument("--mha", default=",".join(map(str, MHA_SIZES)), metavar="B,T,E,HEADS",
                    help="sizes of the mha case (default %(default)s)")
    ap.add_argument("--additive", default=",".join(map(str, ADDITIVE_SIZES)), metavar="B,T,D,DA",
                    help="sizes of the additive case: Tq = Tk = T, dq = dk = D (default %(default)s)")
    ap.add_argument("--wait-quiet", type=float, default=0, metavar="SECONDS",
                    help="before each measurement wait up to SECONDS for a 1 s window in which other processes "
                         f"use < {NOISY} CPUs (default 0: don't wait)")
    ap.add_argument("--seed", type=int, default=0, help="inputs, weights and seqfast's dropout seed (default 0)")
    ap.add_argument("--rtol", type=float, default=1e-4)
    json_option(ap)
    args = ap.parse_args()
    json_start(args.json)
    args.sdpa = sizes(args.sdpa, 4, "--sdpa")
    args.mha = sizes(args.mha, 4, "--mha")
    args.additive = sizes(args.additive, 4, "--additive")
    if args.quick:
        args.sdpa, args.mha, args.additive = QUICK["sdpa"], QUICK["mha"], QUICK["additive"]
    if args.reps is None:
        args.reps = 3 if args.quick else 7
    if args.warmup is None:
        args.warmup = 1 if args.quick else 2
    if args.reps < 1 or args.warmup < 0:
        ap.error("--reps must be >= 1 and --warmup >= 0")
    cases = [s.strip() for s in args.cases.split(",") if s.strip()]
    unknown = [c for c in cases if c not in CASES]
    if unknown:
        ap.error(f"unknown case(s) {unknown}; known: {','.join(CASES)}")
    try:
        threads = [int(t) for t in args.threads.split(",")]
    except ValueError:
        ap.error(f"--threads takes comma-separated ints, got {args.threads!r}")
    if min(threads) < 1:
        ap.error("--threads must be >= 1")

    try:
        import torch
    except ImportError as e:
        print(f"bench_attention: PyTorch is not importable from {sys.executable} ({e}).\n"
              "This benchmark compares seqfast with torch and does not run without it: run it from an "
              "environment with both, e.g.\n"
              "    python3 -m venv ~/torch-venv && ~/torch-venv/bin/pip install torch numpy /path/to/seqfast\n"
              "    ~/torch-venv/bin/python benches/bench_attention.py", file=sys.stderr)
        return 2
    snn = None
    if not args.torch_only:
        try:
            import seqfast
            import seqfast.nn as snn
            for fn in ("attention_forward", "attention_backward", "mha_forward", "mha_backward",
                       "additive_attention_forward", "additive_attention_backward"):
                if not hasattr(snn, fn):
                    raise ImportError(f"seqfast.nn has no {fn}")
        except ImportError as e:
            print(f"bench_attention: seqfast.nn's attention is not importable from {sys.executable} ({e}).\n"
                  "Install seqfast into this environment (pip install /path/to/seqfast), or pass --torch-only "
                  "to time torch alone.", file=sys.stderr)
            return 2

    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    print(f"machine: {cpu_name()}, {os.cpu_count()} cpus, {mem:.0f} GiB; python {platform.python_version()}; "
          f"torch {torch.__version__} (MKL {torch.backends.mkl.is_available()}, oneDNN "
          f"{torch.backends.mkldnn.is_available()}); numpy {np.__version__}"
          + ("" if snn is None
             else f"; seqfast {getattr(seqfast, '__version__', '?')} ({os.path.dirname(seqfast.__file__)}"
             + (f", SIMD {snn.simd_level()}" if hasattr(snn, "simd_level") else "") + ")"))
    B, H, T, d = args.sdpa
    mB, mT, mE, mH = args.mha
    aB, aT, aD, ada = args.additive
    print(f"sizes: sdpa B={B} H={H} T={T} d=dv={d}; mha B={mB} T={mT} E={mE} heads={mH}; additive B={aB} "
          f"Tq=Tk={aT} dq=dk={aD} da={ada}; fp32; median of {args.reps} runs after {args.warmup} warm-up; "
          f"threads {threads}")
    load = os.getloadavg()[0]
    print(f"load average at the start {load:.2f}"
          + ("  (warning: other processes are using the CPUs; timings, at 2 threads above all, will be noisy)"
             if load > 0.5 else ""))
    if args.quick:
        print("quick mode: tiny sizes, for a smoke run; the targets do not apply")
    if args.torch_only:
        print("torch only: no seqfast, no agreement checks")

    if args.wait_quiet > 0:
        wait_quiet(args.wait_quiet)
    peaks = gemm_peaks(torch, 5 if args.quick else 9, dtypes=("float32",))
    M, K, N = PEAK_SHAPE
    print(f"GEMM peak, 1 thread, fp32 {M}x{K} @ {K}x{N}: numpy sgemm {peaks['numpy_float32']:.1f} GFLOP/s, torch.mm "
          f"{peaks['torch_float32']:.1f}  [numpy BLAS: {numpy_blas()}; other processes up to {peaks['other']:.2f} "
          f"CPUs{' !' if peaks['other'] > NOISY else ''}]")
    print()

    rows: list[Row] = []
    failed = False
    for name in cases:
        case = CASES[name]
        S = SETUPS[case.kind](case, args, torch, snn)
        for t in threads:
            torch.set_num_threads(t)
            status = ""
            if snn is not None:
                try:
                    t0 = time.perf_counter()
                    ref = S.t_reference()
                    got = S.s_results(t)
                    ok, err, where, rel, rwhere, bad = compare(ref, got, args.rtol)
                    label = "explicit keep mask" if case.dropout else ("forward" if case.fwd_only else "fwd+bwd")
                    extra = f", mask {S.keep_s:.1f} s" if case.dropout and hasattr(S, "keep_s") else ""
                    print(f"check {name} t={t} ({label}): {'OK' if ok else 'MISMATCH'} ({len(ref)} arrays), max abs "
                          f"err {err:.2e} ({where}), max err/max|torch| {rel:.1e} ({rwhere}; limit {args.rtol:g}) "
                          f"[{time.perf_counter() - t0:.1f} s{extra}]")
                    for b in bad:
                        print(f"    {b}")
                    if not ok:
                        status, failed = "MISMATCH", True
                    del ref, got
                except Exception:  # noqa: BLE001
                    print(f"check {name} t={t}: seqfast raised:")
                    traceback.print_exc(file=sys.stdout)
                    status, failed = "ERROR", True
            fns = {"torch": S.t_run}
            if snn is not None and status != "ERROR":
                fns["seqfast"] = lambda: S.s_run(t)
                if case.self_target is not None:
                    fns["seqfast_base"] = lambda: S.s_base(t)
            if args.wait_quiet > 0:
                wait_quiet(args.wait_quiet)
            try:
                med, spread, other = timed_pair(fns, args.reps, args.warmup)
            except Exception:  # noqa: BLE001
                print(f"timing {name} t={t}: seqfast raised:")
                traceback.print_exc(file=sys.stdout)
                status, failed = "ERROR", True
                med, spread, other = timed_pair({"torch": fns["torch"]}, args.reps, args.warmup)
            row = Row(case, t, S.shape, S.flops, med["torch"], med.get("seqfast"), med.get("seqfast_base"), status,
                      spread, other)
            rows.append(row)
            ratio = "" if row.sf_ms is None else f", torch/seqfast {row.torch_ms / row.sf_ms:.2f}x"
            if row.base_ms is not None and row.sf_ms is not None:
                ratio += f", seqfast/seqfast-sdpa {row.sf_ms / row.base_ms:.2f} (sdpa {row.base_ms:.2f} ms)"
            one = next((r for r in rows if r.case is case and r.threads == 1), None)
            if t > 1 and one is not None and one.sf_ms is not None and row.sf_ms is not None:
                ratio += f", seqfast speed-up over 1 thread {one.sf_ms / row.sf_ms:.2f}x"
            print(f"  {name:<12} t={t} {row.mode:<7} torch {row.torch_ms:9.2f} ms  seqfast "
                  f"{fmt(row.sf_ms, '9.2f', '        -')} ms{ratio}  (IQR/median {fmt(spread, '.0%')}, other "
                  f"processes {fmt(other, '.2f', '?')} CPUs)", flush=True)
        del S

    # -- the table
    print()
    hdr = ["case", "shape", "thr", "mode", "torch ms", "seqfast ms", "torch/seqfast", "sf/sf-sdpa", "torch GF/s",
           "seqfast GF/s", "seqfast %peak", "target", "met", "IQR/med", "other CPUs"]
    out = []
    for r in rows:
        peak = peaks["numpy_float32"] * r.threads
        sf_gf = None if r.sf_ms is None or r.flops is None else r.flops / (r.sf_ms * 1e-3) / 1e9
        t_gf = None if r.flops is None else r.flops / (r.torch_ms * 1e-3) / 1e9
        tgt, met = target_text(r)
        out.append([r.case.name, r.shape, str(r.threads), r.mode, f"{r.torch_ms:.2f}", fmt(r.sf_ms, ".2f"),
                    "-" if r.sf_ms is None else f"{r.torch_ms / r.sf_ms:.2f}x",
                    "-" if r.sf_ms is None or r.base_ms is None else f"{r.sf_ms / r.base_ms:.2f}",
                    fmt(t_gf, ".1f"), fmt(sf_gf, ".1f"), "-" if sf_gf is None else f"{100 * sf_gf / peak:.0f}%",
                    tgt, met, fmt(r.spread, ".0%"),
                    fmt(r.other, ".2f", "?") + (" !" if r.other is not None and r.other > NOISY else "")])
    print_table(hdr, out, right_from=2, label=[0, 2, 3], title="attention vs PyTorch", ratios={"torch/seqfast": "PyTorch"})

    # -- thread scaling
    by = {(r.case.name, r.threads): r for r in rows}
    if len(threads) > 1:
        t1, t2 = min(threads), max(threads)
        sc = []
        for r in rows:
            if r.threads != t1 or (r.case.name, t2) not in by:
                continue
            r2 = by[(r.case.name, t2)]
            sf = None if r.sf_ms is None or r2.sf_ms is None else r.sf_ms / r2.sf_ms
            st = r.case.scaling_target
            met = "" if st is None else ("-" if sf is None else ("yes" if sf >= st else "NO"))
            if r.status or r2.status:
                met = r.status or r2.status
            sc.append([r.case.name, r.mode, f"{r.torch_ms / r2.torch_ms:.2f}x", fmt(r.sf_ms, ".2f"),
                       fmt(r2.sf_ms, ".2f"), "-" if sf is None else f"{sf:.2f}x",
                       "" if st is None else f">= {st:g}x", met,
                       fmt(None if r.other is None or r2.other is None else max(r.other, r2.other), ".2f", "?")])
        print()
        print(f"thread scaling, {t1} -> {t2} threads:")
        print_table(["case", "mode", "torch speed-up", f"seqfast {t1}t ms", f"seqfast {t2}t ms", "seqfast speed-up",
                     "target", "met", "other CPUs"], sc, title=f"attention thread scaling, {t1} -> {t2} threads", right_from=2)
    print()
    print("shape: sdpa BxHxTxd; mha BxTxE and heads; additive BxTqxTk dq=dk/da")
    print("GF/s: sdpa forward 4*B*H*Tq*Tk*d, backward 2.5x forward, both halved for causal; mha adds the "
          "projections (forward 8*B*T*E^2, backward 2x); additive not counted; %peak: of threads x numpy's "
          "1-thread sgemm rate")
    print("sf/sf-sdpa: seqfast's time over its own plain sdpa fwd+bwd on the same inputs, timed in the same "
          "alternation (sdpa_causal, sdpa_dropout)")
    print(f"other CPUs: CPU time other processes (and VM steal) took while the row was timed, from /proc/stat; "
          f"'!' above {NOISY}: that row is not trustworthy, 2-thread rows least of all")
    print(f"load average at the end {os.getloadavg()[0]:.2f}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
