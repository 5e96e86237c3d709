#!/usr/bin/env python3
"""seqfast.torch against pure torch: one full training step (forward, loss, backward, Adam step)
of four small models, the same model built twice (torch.nn layers vs seqfast.torch layers, the
same initial weights), in the same process, on the same input, after checking that both give the
same loss and gradients.

Cases (float32, batch_first):
    lm         char LSTM LM: Embedding(V, E) -> 2-layer LSTM(E, H) -> Linear(H, V), cross-entropy;
               B=32, T=100, E=H=512, V=10k
    lm_varlen  the same with lengths uniform in T/2..T (seeded): torch and seqfast both get the
               same code, pack_padded_sequence(enforce_sorted=False) -> LSTM -> pad_packed_sequence,
               loss over the real tokens only
    lm_lengths (extra) seqfast's own variable-length path: padded input with lengths= (no packing);
               torch column: the packed torch model of lm_varlen
    gru_tagger Embedding(V, E) -> bidirectional GRU(E, H/2) -> Linear(H, 50 tags), cross-entropy
    encoder    a Transformer encoder block, nn.TransformerEncoderLayer(d_model=512, nhead=8,
               dim_feedforward=2048, dropout=0, batch_first=True) whose self_attn is
               torch.nn.MultiheadAttention or seqfast.torch.MultiheadAttention; B=8, T=512; MSE loss
    encoder_dropout  the same block with dropout=0.1 everywhere (attention probabilities and the
               layer's own dropouts); checked with dropout 0 (the masks differ), timed with 0.1

Only the recurrent / attention layers differ: embeddings, linears, losses and Adam are torch's
in both, so the ratio is that of the whole step (what a user sees), not of the layer alone.

Agreement, checked at every thread count before timing: the loss and the gradient of every
parameter, max|seqfast - torch| <= rtol * max|torch| (rtol 1e-4, --rtol); MISMATCH otherwise
(exit status 1).

Then the autograd wrapper's cost: seqfast.torch.LSTM forward + backward (y.backward(g), the
module's parameter grads set to None before each run) against seqfast.nn.lstm_forward +
lstm_backward on the same NumPy arrays; likewise MultiheadAttention against mha_forward +
mha_backward at the encoder's size.

Timing: median of --reps runs after --warmup runs, torch and seqfast alternating (order flipped
every round) with a short pause before each (benches/_timing.py); torch.set_num_threads(t), which
seqfast.torch follows. "other" is how many CPUs other processes took meanwhile (/proc/stat; '!'
above 0.15 marks a row disturbed by a neighbour).

    python benches/bench_torch.py                     # all cases, 1 and 2 threads
    python benches/bench_torch.py --quick             # tiny sizes, a smoke run (seconds)
    python benches/bench_torch.py --cases lm,encoder --threads 1 --reps 7
    python benches/bench_torch.py --wait-quiet 60     # shared machine: wait for idle CPUs

Needs torch and seqfast; without torch it exits with status 2.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import traceback

if "numpy" not in sys.modules:  # numpy only builds inputs here: no idle OpenBLAS threads
    os.environ["OPENBLAS_NUM_THREADS"] = "1"

import numpy as np  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from _timing import NOISY, cpu_name, fmt, print_table, timed_pair, wait_quiet, json_option, json_start  # noqa: E402


def _import_seqfast_torch():
    import seqfast

    src = os.path.normpath(os.path.join(HERE, os.pardir, "python", "seqfast"))
    if os.path.isdir(os.path.join(src, "torch")) and not any(os.path.isdir(os.path.join(p, "torch")) for p in seqfast.__path__):
        seqfast.__path__.append(src)  # an installed seqfast built before seqfast.torch existed
    import seqfast.torch as st

    return seqfast, st


# ------------------------------------------------------------------------------------ models
class Sizes:
    def __init__(self, quick: bool):
        if quick:
            self.B, self.T, self.E, self.H, self.V, self.tags = 4, 20, 64, 64, 500, 10
            self.eB, self.eT, self.eE, self.eheads, self.eff = 2, 64, 64, 4, 128
        else:
            self.B, self.T, self.E, self.H, self.V, self.tags = 32, 100, 512, 512, 10_000, 50
            self.eB, self.eT, self.eE, self.eheads, self.eff = 8, 512, 512, 8, 2048


def build(case: str, sz: Sizes, torch, st, seqfast_side: bool):
    """(model, step inputs, loss function) for one side of one case."""
    nn = torch.nn
    torch.manual_seed(0)
    if case in ("lm", "lm_varlen", "lm_lengths"):
        lstm = st.LSTM if seqfast_side else nn.LSTM

        class LM(nn.Module):
            def __init__(self):
                super().__init__()
                self.emb = nn.Embedding(sz.V, sz.E)
                self.rnn = lstm(sz.E, sz.H, num_layers=2, batch_first=True)
                self.out = nn.Linear(sz.H, sz.V)

            def forward(self, ids, lengths=None, packed=False):
                e = self.emb(ids)
                if packed:
                    p = nn.utils.rnn.pack_padded_sequence(e, lengths, batch_first=True, enforce_sorted=False)
                    y, _ = self.rnn(p)
                    y, _ = nn.utils.rnn.pad_packed_sequence(y, batch_first=True, total_length=ids.shape[1])
                elif lengths is not None:
                    y, _ = self.rnn(e, lengths=lengths)
                else:
                    y, _ = self.rnn(e)
                return self.out(y)

        return LM()
    if case == "gru_tagger":
        gru = st.GRU if seqfast_side else nn.GRU

        class Tagger(nn.Module):
            def __init__(self):
                super().__init__()
                self.emb = nn.Embedding(sz.V, sz.E)
                self.rnn = gru(sz.E, sz.H // 2, batch_first=True, bidirectional=True)
                self.out = nn.Linear(sz.H, sz.tags)

            def forward(self, ids, lengths=None, packed=False):
                return self.out(self.rnn(self.emb(ids))[0])

        return Tagger()
    if case in ("encoder", "encoder_dropout"):
        layer = nn.TransformerEncoderLayer(sz.eE, sz.eheads, dim_feedforward=sz.eff, dropout=0.0, batch_first=True)
        if seqfast_side:
            mha = st.MultiheadAttention(sz.eE, sz.eheads, batch_first=True)
            mha.load_state_dict(layer.self_attn.state_dict())
            layer.self_attn = mha
        return layer
    raise ValueError(case)


class Pair:
    """Both models of a case, their optimisers, the batch and the step functions."""

    def __init__(self, case: str, sz: Sizes, torch, st, seed: int):
        self.case, self.torch = case, torch
        self.models = {side: build(case, sz, torch, st, side == "seqfast") for side in ("torch", "seqfast")}
        self.models["seqfast"].load_state_dict(self.models["torch"].state_dict())
        gen = torch.Generator().manual_seed(seed)
        self.kw = {}
        if case.startswith("encoder"):
            self.x = torch.randn(sz.eB, sz.eT, sz.eE, generator=gen)
            self.target = torch.randn(sz.eB, sz.eT, sz.eE, generator=gen)
        else:
            self.x = torch.randint(0, sz.V, (sz.B, sz.T), generator=gen)
            ncls = sz.V if case != "gru_tagger" else sz.tags
            self.target = torch.randint(0, ncls, (sz.B, sz.T), generator=gen)
            if case in ("lm_varlen", "lm_lengths"):
                lens = torch.randint(sz.T // 2, sz.T + 1, (sz.B,), generator=gen)
                self.target = self.target.masked_fill(torch.arange(sz.T) >= lens[:, None], -100)  # ignore_index
                self.kw = {"lengths": lens, "packed": case == "lm_varlen"}
        self.opts = {s: torch.optim.Adam(m.parameters(), lr=1e-4) for s, m in self.models.items()}

    def loss(self, side: str, kw=None):
        torch = self.torch
        m = self.models[side]
        if self.case.startswith("encoder"):
            return torch.nn.functional.mse_loss(m(self.x), self.target)
        kw = self.kw if kw is None else kw
        out = m(self.x, **kw)
        return torch.nn.functional.cross_entropy(out.reshape(-1, out.shape[-1]), self.target.reshape(-1), ignore_index=-100)

    def step(self, side: str, kw=None):
        opt = self.opts[side]
        opt.zero_grad(set_to_none=True)
        self.loss(side, kw).backward()
        opt.step()

    def check(self, rtol: float, seqfast_kw=None) -> tuple[bool, float]:
        """Loss and every parameter gradient agree (from the same weights); largest relative error."""
        self.models["seqfast"].load_state_dict(self.models["torch"].state_dict())
        res = {}
        for side in ("torch", "seqfast"):
            m = self.models[side]
            m.zero_grad(set_to_none=True)
            loss = self.loss(side, seqfast_kw if side == "seqfast" else None)
            loss.backward()
            res[side] = [loss.detach().reshape(1)] + [p.grad.clone() for p in m.parameters()]
        if self.case == "encoder_dropout":  # timed with dropout on, once outputs were checked without
            for m in self.models.values():
                m.dropout.p = m.dropout1.p = m.dropout2.p = m.self_attn.dropout = 0.1
        worst = 0.0
        for a, b in zip(res["seqfast"], res["torch"]):
            scale = max(float(b.abs().max()), 1e-30)
            worst = max(worst, float((a - b).abs().max()) / scale)
        return worst <= rtol, worst


# ------------------------------------------------------------------------- wrapper overhead
def overhead_rows(sz: Sizes, torch, seqfast, st, t: int, reps: int, warmup: int):
    """(label, wrapper ms, kernel ms, other) for the LSTM of `lm` and the MHA of `encoder`."""
    rows = []
    gen = torch.Generator().manual_seed(3)
    torch.manual_seed(0)
    lstm = st.LSTM(sz.E, sz.H, num_layers=2, batch_first=True)
    x = torch.randn(sz.B, sz.T, sz.E, generator=gen).requires_grad_()
    g = torch.randn(sz.B, sz.T, sz.H, generator=gen)
    w = {n: p.detach().numpy() for n, p in lstm.named_parameters()}
    xn, gn = x.detach().numpy(), g.numpy()

    def wrapped():
        lstm.zero_grad(set_to_none=True)
        x.grad = None
        y, _ = lstm(x)
        y.backward(g)

    def kernels():
        y, _, _, cache = seqfast.nn.lstm_forward(xn, w, batch_first=True, num_threads=t)
        seqfast.nn.lstm_backward(cache, gn)

    med, _, other = timed_pair({"wrapped": wrapped, "kernels": kernels}, reps, warmup)
    rows.append((f"LSTM 2 layers B={sz.B} T={sz.T} {sz.E}->{sz.H}", med["wrapped"], med["kernels"], other))

    torch.manual_seed(0)
    mha = st.MultiheadAttention(sz.eE, sz.eheads, batch_first=True)
    xa = torch.randn(sz.eB, sz.eT, sz.eE, generator=gen).requires_grad_()
    ga = torch.randn(sz.eB, sz.eT, sz.eE, generator=gen)
    wa = {n: p.detach().numpy() for n, p in mha.state_dict().items()}
    xan, gan = xa.detach().numpy(), ga.numpy()

    def wrapped_mha():
        mha.zero_grad(set_to_none=True)
        xa.grad = None
        out, _ = mha(xa, xa, xa, need_weights=False)
        out.backward(ga)

    def kernels_mha():
        _, cache = seqfast.nn.mha_forward(xan, xan, xan, wa, sz.eheads, batch_first=True, num_threads=t)
        dq, dk, dv, _ = seqfast.nn.mha_backward(cache, gan)
        dq + dk + dv  # the wrapper's autograd sums the three input gradients too

    med, _, other = timed_pair({"wrapped": wrapped_mha, "kernels": kernels_mha}, reps, warmup)
    rows.append((f"MHA (torch projections) vs seqfast.nn.mha B={sz.eB} T={sz.eT} E={sz.eE} h={sz.eheads}", med["wrapped"], med["kernels"], other))
    return rows


CASES = ["lm", "lm_varlen", "lm_lengths", "gru_tagger", "encoder", "encoder_dropout"]
DESC = {"lm": "char LSTM LM", "lm_varlen": "LSTM LM, packed, lengths T/2..T", "lm_lengths": "LSTM LM, seqfast lengths= (vs torch packed)",
        "gru_tagger": "bi-GRU tagger", "encoder": "Transformer encoder block", "encoder_dropout": "encoder block, dropout 0.1"}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", default=",".join(CASES), help=f"comma-separated subset of {','.join(CASES)}")
    ap.add_argument("--threads", default="1,2", help="comma-separated thread counts (default 1,2)")
    ap.add_argument("--reps", type=int, default=None, help="timed runs per row, the median is shown (default 5; 3 with --quick)")
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--quick", "--smoke", action="store_true", help="tiny sizes: a smoke run of a few seconds")
    ap.add_argument("--no-overhead", action="store_true", help="skip the wrapper-overhead rows")
    ap.add_argument("--wait-quiet", type=float, default=0, metavar="SECONDS", help="before each row, wait up to SECONDS for idle CPUs")
    ap.add_argument("--rtol", type=float, default=1e-4)
    ap.add_argument("--seed", type=int, default=0)
    json_option(ap)
    args = ap.parse_args()
    json_start(args.json)
    cases = [c for c in args.cases.split(",") if c]
    bad = [c for c in cases if c not in CASES]
    if bad:
        ap.error(f"unknown cases {bad}; choose from {CASES}")
    thread_counts = [int(t) for t in args.threads.split(",")]
    reps = args.reps or (3 if args.quick else 5)
    try:
        import torch
    except ImportError as e:
        print(f"bench_torch: PyTorch is not importable from {sys.executable} ({e}); pip install torch", file=sys.stderr)
        return 2
    seqfast, st = _import_seqfast_torch()
    sz = Sizes(args.quick)
    print(f"machine: {cpu_name()}, {os.cpu_count()} cpus; python {platform.python_version()}; torch {torch.__version__}; "
          f"seqfast {seqfast.__version__} ({seqfast.nn.simd_level()})")
    print(f"sizes: B={sz.B} T={sz.T} E={sz.E} H={sz.H} V={sz.V} tags={sz.tags}; encoder B={sz.eB} T={sz.eT} E={sz.eE} "
          f"heads={sz.eheads} ffn={sz.eff}; float32; Adam; median of {reps} after {args.warmup} warm-up"
          + (" (QUICK: tiny sizes, a smoke run)" if args.quick else ""))
    print(f"load average at the start {os.getloadavg()[0]:.2f}")
    print()
    rows, failed = [], False
    old_threads = torch.get_num_threads()
    for t in thread_counts:
        torch.set_num_threads(t)
        for case in cases:
            try:
                pair = Pair("lm_varlen" if case == "lm_lengths" else case, sz, torch, st, args.seed)
                sf_kw = {"lengths": pair.kw["lengths"]} if case == "lm_lengths" else None
                ok, err = pair.check(args.rtol, sf_kw)
                failed |= not ok
                if args.wait_quiet > 0:
                    wait_quiet(args.wait_quiet)
                med, spread, other = timed_pair({"torch": lambda: pair.step("torch"), "seqfast": lambda: pair.step("seqfast", sf_kw)},
                                                reps, args.warmup)
            except Exception:  # noqa: BLE001 - report and go on with the other rows
                traceback.print_exc()
                failed = True
                rows.append([case, DESC[case], str(t), "-", "-", "-", "ERROR", "-"])
                continue
            ratio = med["torch"] / med["seqfast"]
            oth = fmt(other, ".2f") + ("!" if other is not None and other > NOISY else "")
            rows.append([case, DESC[case], str(t), f"{med['torch']:.1f}", f"{med['seqfast']:.1f}", f"{ratio:.2f}",
                         ("ok" if ok else "MISMATCH") + f" {err:.0e}", oth])
            print(f"  {case:<11} t={t} torch {med['torch']:9.1f} ms  seqfast {med['seqfast']:9.1f} ms  x{ratio:.2f}  "
                  f"{'ok' if ok else 'MISMATCH'} ({err:.1e})  other {oth}", flush=True)
    print()
    print_table(["case", "model", "threads", "torch ms", "seqfast ms", "torch/seqfast", "check (rel err)", "other CPUs"], rows, right_from=2,
                label=[0, 1, 2], title="seqfast.torch training steps vs torch.nn", ratios={"torch/seqfast": "PyTorch"})
    if not args.no_overhead:
        orows = []
        for t in thread_counts:
            torch.set_num_threads(t)
            for label, wrapped, kern, other in overhead_rows(sz, torch, seqfast, st, t, reps, args.warmup):
                orows.append([label, str(t), f"{wrapped:.1f}", f"{kern:.1f}", f"{100 * (wrapped / kern - 1):+.1f}%",
                              fmt(other, ".2f") + ("!" if other is not None and other > NOISY else "")])
        print()
        print("autograd wrapper cost: seqfast.torch module forward + backward vs seqfast.nn kernels on the same arrays")
        print_table(["layer", "threads", "seqfast.torch ms", "seqfast.nn ms", "overhead", "other CPUs"], orows, right_from=1,
                    label=[0, 1], title="seqfast.torch wrapper overhead over seqfast.nn")
    torch.set_num_threads(old_threads)
    print()
    print(f"load average at the end {os.getloadavg()[0]:.2f}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
