#!/usr/bin/env python3
"""Recurrent layers: seqfast.nn (lstm/gru/rnn forward + backward) against PyTorch's nn.LSTM,
nn.GRU and nn.RNN on the CPU, on the same weights and input, in the same process, after checking
that both give the same outputs and gradients.

Cases (one layer, unidirectional, batch_first, input = hidden = 512 unless changed):
    lstm         nn.LSTM fp32, B=32, T=100, forward + backward        target torch/seqfast >= 1.05
    gru          nn.GRU fp32, same                                     target >= 1.25
    rnn_tanh     nn.RNN(nonlinearity="tanh") fp32, same                target >= 1.25
    lstm_fp64    nn.LSTM float64, same                                 target >= 1.5
    lstm_varlen  nn.LSTM fp32, lengths uniform in T/2..T (seeded); torch runs
                 pack_padded_sequence(enforce_sorted=False) -> LSTM -> pad_packed_sequence,
                 seqfast gets `lengths=`                               target >= 2.5
    lstm_b1      nn.LSTM fp32, B=1, T=100, forward only (torch under no_grad): latency
                                                                       target seqfast < 8 ms
and for every case: seqfast at 2 threads >= 1.7x seqfast at 1 thread (the lstm_b1 speed-up is
shown but has no target).

"Forward + backward" is what a training step does: torch runs the forward with autograd and
`(y * g).sum().backward()` for a fixed random g (x, h0, c0 and all parameters require grad);
seqfast runs `*_forward` then `*_backward(cache, dy=g)`. Random h0 (and c0) are passed to both.
Forward-only rows (torch under torch.no_grad(), seqfast's forward with requires_grad=False) are
shown for information; --no-fwd drops them. lstm_b1 is timed the same way.

Agreement, checked at every thread count before timing: y, h_n (c_n) and every gradient (dx, dh0,
dc0, d<every parameter>) against torch autograd, for loss (y*g).sum() (dh_n=None, the timed
path) and for loss (y*g).sum() + (h_n*gh).sum() [+ (c_n*gc).sum()] (dh_n, dc_n given). An array
passes when max|seqfast - torch| <= rtol * max|torch| (rtol 1e-4 for fp32, 1e-10 for fp64;
--rtol32/--rtol64). A failed check marks the rows MISMATCH and the exit code is 1.

Timing: median of --reps runs after --warmup runs, torch and seqfast alternating within each
round (the order flipped every round) with a 10 ms pause before each run, so a burst of other
load hits both alike. torch.set_num_threads(t) and num_threads=t. Each row also shows how many
CPUs other processes took meanwhile (/proc/stat; '!' above 0.15): on a 2-core machine a busy
neighbour ruins 2-thread rows (torch's OpenMP team then waits for a core at every barrier), so
on a shared machine use --wait-quiet.

GFLOP/s count the matrix products only: forward 2*N*G*H*(I + H) with N = B*T (sum of lengths for
lstm_varlen) and G = 4 (LSTM), 3 (GRU), 1 (RNN); backward = 2x forward. "%peak" divides by
threads x the 1-thread BLAS GEMM rate of numpy (3200x512 @ 512x2048, sgemm for fp32 rows, dgemm
for fp64 rows), measured at the start; torch.mm's rate on the same shapes is printed beside it.

    python benches/bench_rnn.py                              # all cases, 1 and 2 threads
    python benches/bench_rnn.py --cases lstm,gru --threads 1 --reps 9
    python benches/bench_rnn.py --torch-only                 # the torch baselines only
    python benches/bench_rnn.py --quick                      # tiny sizes, a smoke run (< 1 min)
    python benches/bench_rnn.py --wait-quiet 120             # shared machine: wait for idle CPUs

Needs torch and numpy, and seqfast unless --torch-only: run it from a virtualenv holding both
(pip install torch numpy /path/to/seqfast). Without torch it exits with status 2: it never
drops the comparison. Exit status 1 when a check failed or a seqfast call raised.
"""

from __future__ import annotations

import argparse
import inspect
import os
import platform
import sys
import traceback
from dataclasses import dataclass, field

# numpy's GEMM peak is measured at 1 thread. OPENBLAS_NUM_THREADS=1 before numpy's first import
# does it (numpy only builds inputs and checks results here, and no idle OpenBLAS worker then
# spins on a core while torch or seqfast is timed); threadpoolctl, when installed, also limits
# the peak measurement and names the BLAS (_timing.gemm_peaks).
if "numpy" not in sys.modules:
    os.environ["OPENBLAS_NUM_THREADS"] = "1"

import numpy as np  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from _timing import NOISY, PEAK_SHAPE, cpu_name, fmt, gemm_peaks, numpy_blas, print_table, timed_pair, wait_quiet, json_option, json_start  # noqa: E402

GATES = {"lstm": 4, "gru": 3, "rnn": 1}


@dataclass
class Case:
    name: str
    kind: str  # lstm | gru | rnn
    dtype: str = "float32"
    varlen: bool = False
    b1: bool = False  # B=1 forward latency
    target: float = 0.0  # torch/seqfast ratio; for b1: max seqfast ms
    desc: str = ""


CASES = {c.name: c for c in [
    Case("lstm", "lstm", target=1.05, desc="nn.LSTM fp32"),
    Case("gru", "gru", target=1.25, desc="nn.GRU fp32"),
    Case("rnn_tanh", "rnn", target=1.25, desc="nn.RNN tanh fp32"),
    Case("lstm_fp64", "lstm", dtype="float64", target=1.5, desc="nn.LSTM fp64"),
    Case("lstm_varlen", "lstm", varlen=True, target=2.5, desc="nn.LSTM fp32 packed, lengths T/2..T"),
    Case("lstm_b1", "lstm", b1=True, target=8.0, desc="nn.LSTM fp32 B=1 forward latency"),
]}
SCALING_TARGET = 1.7


@dataclass
class Row:
    case: Case
    threads: int
    mode: str  # "fwd+bwd" | "fwd"
    B: int
    T: int
    flops: float
    torch_ms: float
    sf_ms: float | None = None
    status: str = ""  # "", "MISMATCH", "ERROR"
    spread: float | None = None  # max over both of (p75 - p25) / median (None: < 4 runs)
    other: float | None = None  # CPUs used by other processes (and steal) while timing
    extra: dict = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------
# one case: inputs, torch, seqfast


class Setup:
    """Weights, inputs and the torch / seqfast callables of one case."""

    def __init__(self, case: Case, args, torch, snn):
        self.case, self.torch, self.snn = case, torch, snn
        nn = torch.nn
        k = case.kind
        B = 1 if case.b1 else args.batch
        T, I, H = args.seq, args.input, args.hidden
        self.B, self.T, self.I, self.H = B, T, I, H
        dt = np.dtype(case.dtype)
        tdt = torch.float64 if dt == np.float64 else torch.float32
        torch.manual_seed(args.seed)
        if k == "lstm":
            mod = nn.LSTM(I, H, batch_first=True)
        elif k == "gru":
            mod = nn.GRU(I, H, batch_first=True)
        else:
            mod = nn.RNN(I, H, nonlinearity="tanh", batch_first=True)
        self.mod = mod.to(tdt)
        self.weights = {n: v.detach().numpy().copy() for n, v in self.mod.state_dict().items()}
        rng = np.random.default_rng(args.seed)
        self.nstates = 2 if k == "lstm" else 1
        self.x = rng.standard_normal((B, T, I)).astype(dt)
        self.g = rng.standard_normal((B, T, H)).astype(dt)
        if case.b1:  # latency: zero initial state, like a plain mod(x)
            self.states = None
        else:
            self.states = [(0.5 * rng.standard_normal((1, B, H))).astype(dt) for _ in range(self.nstates)]
        self.gfin = [rng.standard_normal((1, B, H)).astype(dt) for _ in range(self.nstates)]
        self.lens = rng.integers(T // 2, T + 1, size=B).astype(np.int64) if case.varlen else None
        n_steps = int(self.lens.sum()) if case.varlen else B * T
        self.fwd_flops = 2.0 * n_steps * GATES[k] * H * (I + H)

        self.xt = torch.from_numpy(self.x).requires_grad_()
        self.st = None if self.states is None else [torch.from_numpy(s).requires_grad_() for s in self.states]
        self.gt = torch.from_numpy(self.g)
        self.gfint = [torch.from_numpy(a) for a in self.gfin]
        self.lens_t = None if self.lens is None else torch.from_numpy(self.lens)
        self.rnn_bf, self.infer_kw = {}, {}
        if snn is not None:
            params = inspect.signature(getattr(snn, f"{k}_forward")).parameters
            if k == "rnn" and "batch_first" in params:
                self.rnn_bf = {"batch_first": True}
            if "requires_grad" in params:  # inference: no cache for a backward
                self.infer_kw = {"requires_grad": False}

    # -- torch
    def t_forward(self):
        torch = self.torch
        inp = self.xt
        if self.lens is not None:
            inp = torch.nn.utils.rnn.pack_padded_sequence(self.xt, self.lens_t, batch_first=True,
                                                          enforce_sorted=False)
        hx = None
        if self.st is not None:
            hx = tuple(self.st) if self.case.kind == "lstm" else self.st[0]
        out, hn = self.mod(inp, hx)
        if self.lens is not None:
            out, _ = torch.nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=self.T)
        return out, (list(hn) if self.case.kind == "lstm" else [hn])

    def _zero_grad(self):
        self.mod.zero_grad(set_to_none=True)
        self.xt.grad = None
        for s in self.st or []:
            s.grad = None

    def t_train(self):
        self._zero_grad()
        y, _ = self.t_forward()
        (y * self.gt).sum().backward()

    def t_infer(self):
        with self.torch.no_grad():
            self.t_forward()

    def t_reference(self, with_final: bool, grads: bool = True) -> dict:
        if not grads:
            with self.torch.no_grad():
                y, fin = self.t_forward()
            return self._named(y.numpy(), [f.numpy() for f in fin])
        self._zero_grad()
        y, fin = self.t_forward()
        loss = (y * self.gt).sum()
        if with_final:
            for f, gf in zip(fin, self.gfint):
                loss = loss + (f * gf).sum()
        loss.backward()
        out = self._named(y.detach().numpy(), [f.detach().numpy() for f in fin])
        out["dx"] = self.xt.grad.numpy()
        for i, s in enumerate(self.st or []):
            out[("dh0", "dc0")[i]] = s.grad.numpy()
        for n, p in self.mod.named_parameters():
            out["d" + n] = p.grad.numpy()
        return {k: v.copy() for k, v in out.items()}

    @staticmethod
    def _named(y, fin) -> dict:
        out = {"y": y, "h_n": fin[0]}
        if len(fin) > 1:
            out["c_n"] = fin[1]
        return out

    # -- seqfast
    def s_forward(self, t: int, infer: bool = False):
        snn, k, s = self.snn, self.case.kind, self.states or [None, None]
        kw = self.infer_kw if infer else {}
        if k == "lstm":
            y, hn, cn, cache = snn.lstm_forward(self.x, self.weights, h0=s[0], c0=s[1], lengths=self.lens,
                                                batch_first=True, num_threads=t, **kw)
            return y, [hn, cn], cache
        if k == "gru":
            y, hn, cache = snn.gru_forward(self.x, self.weights, h0=s[0], lengths=self.lens, batch_first=True,
                                           num_threads=t, **kw)
        else:
            y, hn, cache = snn.rnn_forward(self.x, self.weights, h0=s[0], lengths=self.lens, nonlinearity="tanh",
                                           num_threads=t, **self.rnn_bf, **kw)
        return y, [hn], cache

    def s_backward(self, cache, t: int, dfin=None):
        snn, k = self.snn, self.case.kind
        d = dfin or [None, None]
        if k == "lstm":
            dx, dh0, dc0, dw = snn.lstm_backward(cache, self.g, dh_n=d[0], dc_n=d[1], num_threads=t)
            return dx, [dh0, dc0], dw
        if k == "gru":
            dx, dh0, dw = snn.gru_backward(cache, self.g, dh_n=d[0], num_threads=t)
        else:
            dx, dh0, dw = snn.rnn_backward(cache, self.g, dh_n=d[0], num_threads=t)
        return dx, [dh0], dw

    def s_train(self, t: int):
        _, _, cache = self.s_forward(t)
        self.s_backward(cache, t)

    def s_infer(self, t: int):
        self.s_forward(t, infer=True)

    def s_results(self, t: int, with_final: bool, grads: bool = True) -> dict:
        y, fin, cache = self.s_forward(t, infer=not grads)
        out = self._named(np.asarray(y), [np.asarray(f) for f in fin])
        if not grads:
            return out
        dx, dst, dw = self.s_backward(cache, t, self.gfin if with_final else None)
        out["dx"] = np.asarray(dx)
        for i in range(len(self.st or [])):
            out[("dh0", "dc0")[i]] = np.asarray(dst[i])
        for n, v in dw.items():
            out["d" + n] = np.asarray(v)
        return out


def compare(ref: dict, got: dict, rtol: float) -> tuple[bool, float, str, float, str, list[str]]:
    """(all pass, max abs error, its array, max error / max|torch|, its array, problems)."""
    ok, worst, worst_name, bad = True, 0.0, "-", []
    worst_rel, worst_rel_name = 0.0, "-"
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
    if row.mode == "fwd" and not c.b1:
        return "", ""
    if c.b1:
        tgt = f"< {c.target:g} ms"
        met = None if row.sf_ms is None else row.sf_ms < c.target
    else:
        tgt = f">= {c.target:g}x"
        met = None if row.sf_ms is None else row.torch_ms / row.sf_ms >= c.target
    if row.status:
        return tgt, row.status
    return tgt, "-" if met is None else ("yes" if met else "NO")


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
                    help="tiny sizes (B=4, T=12, I=H=64), 3 runs: a smoke run; targets don't apply")
    ap.add_argument("--torch-only", action="store_true", help="time torch alone (no seqfast, no checks)")
    ap.add_argument("--no-fwd", action="store_true", help="skip the forward-only rows of the training cases")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--seq", type=int, default=100)
    ap.add_argument("--hidden", type=int, default=512)
    ap.add_argument("--input", type=int, default=None, help="input size (default: = hidden)")
    ap.add_argument("--wait-quiet", type=float, default=0, metavar="SECONDS",
                    help="before each measurement wait up to SECONDS for a 1 s window in which other processes "
                         f"use < {NOISY} CPUs (default 0: don't wait)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--rtol32", type=float, default=1e-4)
    ap.add_argument("--rtol64", type=float, default=1e-10)
    json_option(ap)
    args = ap.parse_args()
    json_start(args.json)
    if args.quick:
        args.batch, args.seq, args.hidden = 4, 12, 64
        args.input = None
    if args.reps is None:
        args.reps = 3 if args.quick else 7
    if args.warmup is None:
        args.warmup = 1 if args.quick else 2
    if args.reps < 1 or args.warmup < 0:
        ap.error("--reps must be >= 1 and --warmup >= 0")
    if args.input is None:
        args.input = args.hidden
    cases = [s.strip() for s in args.cases.split(",") if s.strip()]
    unknown = [c for c in cases if c not in CASES]
    if unknown:
        ap.error(f"unknown case(s) {unknown}; known: {','.join(CASES)}")
    threads = [int(t) for t in args.threads.split(",")]

    try:
        import torch
    except ImportError as e:
        print(f"bench_rnn: PyTorch is not importable from {sys.executable} ({e}).\n"
              "This benchmark compares seqfast with torch and does not run without it: run it from an "
              "environment with both, e.g.\n"
              "    python3 -m venv ~/torch-venv && ~/torch-venv/bin/pip install torch numpy /path/to/seqfast\n"
              "    ~/torch-venv/bin/python benches/bench_rnn.py", file=sys.stderr)
        return 2
    snn = None
    if not args.torch_only:
        try:
            import seqfast
            import seqfast.nn as snn
        except ImportError as e:
            print(f"bench_rnn: seqfast.nn is not importable from {sys.executable} ({e}).\n"
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
    print(f"sizes: B={args.batch} (lstm_b1: B=1), T={args.seq}, input={args.input}, hidden={args.hidden}, "
          f"one layer, batch_first; median of {args.reps} runs after {args.warmup} warm-up; threads {threads}")
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
    peaks = gemm_peaks(torch, 5 if args.quick else 9)
    M, K, N = PEAK_SHAPE
    print(f"GEMM peak, 1 thread, {M}x{K} @ {K}x{N}: numpy sgemm {peaks['numpy_float32']:.1f} GFLOP/s, "
          f"dgemm {peaks['numpy_float64']:.1f}; torch.mm fp32 {peaks['torch_float32']:.1f}, "
          f"fp64 {peaks['torch_float64']:.1f}  [numpy BLAS: {numpy_blas()}; other processes up to "
          f"{peaks['other']:.2f} CPUs{' !' if peaks['other'] > NOISY else ''}]")
    print()

    rows: list[Row] = []
    failed = False
    for name in cases:
        case = CASES[name]
        S = Setup(case, args, torch, snn)
        rtol = args.rtol64 if case.dtype == "float64" else args.rtol32
        for t in threads:
            torch.set_num_threads(t)
            status = ""
            if snn is not None:
                try:
                    checks = [("dh_n=None", False), ("dh_n given", True)] if not case.b1 else [("forward", False)]
                    for label, with_final in checks:
                        ref = S.t_reference(with_final, grads=not case.b1)
                        got = S.s_results(t, with_final, grads=not case.b1)
                        ok, err, where, rel, rwhere, bad = compare(ref, got, rtol)
                        print(f"check {name} t={t} ({label}): {'OK' if ok else 'MISMATCH'} ({len(ref)} arrays), max abs "
                              f"err {err:.2e} ({where}), max err/max|torch| {rel:.1e} ({rwhere}; limit {rtol:g})")
                        for b in bad:
                            print(f"    {b}")
                        if not ok:
                            status = "MISMATCH"
                            failed = True
                except Exception:  # noqa: BLE001
                    print(f"check {name} t={t}: seqfast raised:")
                    traceback.print_exc(file=sys.stdout)
                    status, failed = "ERROR", True
            modes = ["fwd"] if case.b1 else (["fwd+bwd"] if args.no_fwd else ["fwd+bwd", "fwd"])
            for mode in modes:
                fns = {"torch": S.t_infer if mode == "fwd" else S.t_train}
                if snn is not None and status != "ERROR":
                    fns["seqfast"] = (lambda: S.s_infer(t)) if mode == "fwd" else (lambda: S.s_train(t))
                flops = S.fwd_flops * (1 if mode == "fwd" else 3)
                if args.wait_quiet > 0:
                    wait_quiet(args.wait_quiet)
                try:
                    med, spread, other = timed_pair(fns, args.reps, args.warmup)
                except Exception:  # noqa: BLE001
                    print(f"timing {name} t={t} {mode}: seqfast raised:")
                    traceback.print_exc(file=sys.stdout)
                    status, failed = "ERROR", True
                    med, spread, other = timed_pair({"torch": fns["torch"]}, args.reps, args.warmup)
                row = Row(case, t, mode, S.B, S.T, flops, med["torch"], med.get("seqfast"), status, spread, other)
                rows.append(row)
                ratio = "" if row.sf_ms is None else f", torch/seqfast {row.torch_ms / row.sf_ms:.2f}x"
                print(f"  {name:<12} t={t} {mode:<7} torch {row.torch_ms:9.2f} ms  seqfast "
                      f"{fmt(row.sf_ms, '9.2f', '        -')} ms{ratio}  (IQR/median {fmt(spread, '.0%')}, other "
                      f"processes {fmt(other, '.2f', '?')} CPUs)", flush=True)

    # -- the table
    print()
    hdr = ["case", "dtype", "BxT", "thr", "mode", "torch ms", "seqfast ms", "torch/seqfast", "torch GF/s",
           "seqfast GF/s", "seqfast %peak", "target", "met", "IQR/med", "other CPUs"]
    out = []
    for r in rows:
        peak = peaks[f"numpy_{r.case.dtype}"] * r.threads
        sf_gf = None if r.sf_ms is None else r.flops / (r.sf_ms * 1e-3) / 1e9
        tgt, met = target_text(r)
        bt = f"{r.B}x{r.T}" + (" var" if r.case.varlen else "")
        out.append([r.case.name, r.case.dtype.replace("float", "fp"), bt, str(r.threads), r.mode,
                    f"{r.torch_ms:.2f}", fmt(r.sf_ms, ".2f"),
                    "-" if r.sf_ms is None else f"{r.torch_ms / r.sf_ms:.2f}x",
                    f"{r.flops / (r.torch_ms * 1e-3) / 1e9:.1f}", fmt(sf_gf, ".1f"),
                    "-" if sf_gf is None else f"{100 * sf_gf / peak:.0f}%", tgt, met, fmt(r.spread, ".0%"),
                    fmt(r.other, ".2f", "?") + (" !" if r.other is not None and r.other > NOISY else "")])
    print_table(hdr, out, right_from=3, label=[0, 1, 3, 4], title="RNN/LSTM/GRU vs PyTorch", ratios={"torch/seqfast": "PyTorch"})

    # -- thread scaling
    by = {(r.case.name, r.mode, r.threads): r for r in rows}
    if len(threads) > 1:
        t1, t2 = min(threads), max(threads)
        sc = []
        for r in rows:
            if r.threads != t1 or (r.case.name, r.mode, t2) not in by:
                continue
            r2 = by[(r.case.name, r.mode, t2)]
            sf = None if r.sf_ms is None or r2.sf_ms is None else r.sf_ms / r2.sf_ms
            scored = r.mode == "fwd+bwd"
            met = "-" if sf is None or not scored else ("yes" if sf >= SCALING_TARGET else "NO")
            if r.status or r2.status:
                met = r.status or r2.status
            sc.append([r.case.name, r.mode, f"{r.torch_ms / r2.torch_ms:.2f}x",
                       fmt(r.sf_ms, ".2f"), fmt(r2.sf_ms, ".2f"), "-" if sf is None else f"{sf:.2f}x",
                       f">= {SCALING_TARGET:g}x" if scored else "", met if scored else "",
                       fmt(None if r.other is None or r2.other is None else max(r.other, r2.other), ".2f", "?")])
        print()
        print(f"thread scaling, {t1} -> {t2} threads:")
        print_table(["case", "mode", "torch speed-up", f"seqfast {t1}t ms", f"seqfast {t2}t ms", "seqfast speed-up",
                     "target", "met", "other CPUs"], sc, title=f"RNN/LSTM/GRU thread scaling, {t1} -> {t2} threads", right_from=2)
    print()
    print("GF/s: matrix-product FLOPs only (forward 2*N*G*H*(I+H), backward twice that; N = sum of lengths for "
          "varlen); %peak: of threads x numpy's 1-thread GEMM rate (sgemm or dgemm as the row's dtype)")
    print("fwd rows: torch under no_grad; seqfast's forward with requires_grad=False (when it has that flag: "
          "else it also builds the cache for a backward)")
    print(f"other CPUs: CPU time other processes (and VM steal) took while the row was timed, from /proc/stat; "
          f"'!' above {NOISY}: that row is not trustworthy, 2-thread rows least of all (an OpenMP or rayon "
          f"team on 2 cores then waits for a core at every barrier: torch has been seen 100x slower)")
    print(f"load average at the end {os.getloadavg()[0]:.2f}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
