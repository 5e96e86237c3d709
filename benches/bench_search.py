#!/usr/bin/env python3
"""Decoding: seqfast.search (beam search, greedy, sampling) against a plain batched PyTorch beam
search on the same weights, in the same process, after checking that both find the same best
hypothesis; plus seqfast's per-hypothesis bookkeeping cost and n-gram generation throughput.

Cases (one item of the issue each; sizes for the full run):
    lstm_b16     LSTM decoder, embedding 256, one LSTM layer of 256, vocabulary 1000, beam 5,
                 max length 50, batch 16: search.LSTMDecoder (native) against a batched torch
                 beam search (below)                                   target torch/seqfast >= 1.8
    lstm_b1      the same at batch 1                                   target >= 5
    book_v1000   bookkeeping per hypothesis-step with a Python scorer that returns a view of
                 precomputed float32 log-probs (near-zero cost), V=1000, batch 16, beam 5, 50 steps
                 (eos never competitive, so every step after the first has 80 live hypotheses):
                 (search time - the scorer's own time) / (sum over steps of live hypotheses). The
                 torch peer runs the same search on the same log-probs (shown, no target).
                                                                       target <= 5 us
    book_v32000  the same with V=32000                                 target <= 5 us
    ngram_greedy, ngram_sample, ngram_beam
                 generation from an order-3 NgramLM (Kneser-Ney) fitted on bench-data/en.txt
                 (else on Python's stdlib sources), 64 prompts (3 words each), max length 50,
                 search.NgramScorer: greedy, sample (seed 0, temperature 1), beam_search
                 (beam 5); generated tokens per second (no peer, no target; NgramScorer
                 before/after its children index, with the >= 100x target: bench_ngram_scorer.py)
and for lstm_b16 and lstm_b1: seqfast at 2 threads >= 1.7x seqfast at 1 thread.

The torch peer (torch_beam_search below) is what one writes in plain batched torch: nn.Embedding,
nn.LSTM called one step at a time on the (items x beam) rows, nn.Linear, log_softmax; float64
running scores (as seqfast: float64 sums of float32 log-probs), topk(2 x beam) over beam x V per
item, the eos candidates among the first `beam` go to the item's finished pool, the first `beam`
other candidates become the new beam, index_select reorders the LSTM states and the token
history, and items that are done are dropped from the batch (fairseq-style). It implements
seqfast's semantics exactly (tests/reference/search.py) for length_penalty="none" and
stopping="exact" (default; --stopping early also works): an item is done once its pool holds
`beam` hypotheses and no live hypothesis scores above the beam-th best of them; items still
live after max_len add their live hypotheses to the pool, unfinished. Everything runs under
torch.no_grad() (--inference-mode: torch.inference_mode()) with torch.set_num_threads(t);
seqfast gets num_threads=t. The issue quotes torch at 124 ms (batch 16) and 29 ms (batch 1) at
one thread on this machine type.

Weights: torch's default init (seeded) for nn.Embedding(1000, 256), nn.LSTM(256, 256) and
nn.Linear(256, 1000), then the output weight x --out-scale (32) so that next-token distributions
are peaked, and --eos-bias (+2) on eos's output bias so that most items finish before max_len;
each batch item starts from its own random (h0, c0) (0.5 x N(0, 1), as an encoder's final state
would give; LSTMDecoder.with_state). lstm_b1 decodes the batch-16 item whose search runs the most
steps (so a batch-1 search is not over after 2 steps). How many items finished and the lengths
are printed.

Agreement, checked at every thread count before timing: for every item, the best hypothesis'
tokens must be equal and its scores within --atol (1e-3; fp32 log-probs summed in float64).
The n-best lists are compared too (shown, not required: a near-tie further down may differ). For
the n-gram cases: every result's logprob must equal the LM's own score of the generated tokens
(NgramLM.token_scores, in natural log; within 1e-3 + 1e-5 x |logprob|), greedy's every token must
be the argmax of NgramLM.distribution after the prompt and its prefix (first 8 items), and the
results must not depend on num_threads. A failed check marks the row MISMATCH and the exit code
is 1.

Timing: median of --reps runs after --warmup runs, torch and seqfast alternating within each
round (the order flipped every round) with a 10 ms pause before each run. The n-gram cases run
--ngram-reps times (default 3) after the checking run. Each row also shows how many CPUs other
processes took meanwhile (/proc/stat; '!' above 0.15); on a shared machine use --wait-quiet.

    python benches/bench_search.py                              # all cases, 1 and 2 threads
    python benches/bench_search.py --cases lstm_b16,lstm_b1 --threads 1 --reps 9
    python benches/bench_search.py --cases book_v1000,book_v32000
    python benches/bench_search.py --quick                      # tiny sizes, a smoke run (< 1 min)
    python benches/bench_search.py --wait-quiet 120             # shared machine: wait for idle CPUs

Needs torch and numpy, and seqfast: run it from a virtualenv holding all three (pip install
torch numpy /path/to/seqfast). Without torch it exits with status 2 (it never drops the
comparison), unless only ngram_* cases were asked for. Exit status 1 when a check failed or a
seqfast call raised.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import random
import sys
import sysconfig
import time
import traceback
from dataclasses import dataclass, field

if "numpy" not in sys.modules:  # numpy only builds inputs and checks results here
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from _timing import NOISY, cpu_name, fmt, print_table, timed_pair, wait_quiet, json_option, json_start  # noqa: E402
SCALING_TARGET = 1.7
BOS, EOS = 0, 1  # token ids of the LSTM and bookkeeping cases


@dataclass
class Case:
    name: str
    kind: str  # lstm | book | ngram
    target: float | None = None  # lstm: torch/seqfast ratio; book: max us per hypothesis-step
    batch1: bool = False  # lstm: batch 1
    vocab: int = 0  # book: V
    mode: str = ""  # ngram: greedy | sample | beam
    desc: str = ""


CASES = {c.name: c for c in [
    Case("lstm_b16", "lstm", 1.8, desc="LSTM decoder beam search, batch 16"),
    Case("lstm_b1", "lstm", 5.0, batch1=True, desc="LSTM decoder beam search, batch 1"),
    Case("book_v1000", "book", 5.0, vocab=1000, desc="bookkeeping, Python table scorer, V=1000"),
    Case("book_v32000", "book", 5.0, vocab=32000, desc="bookkeeping, Python table scorer, V=32000"),
    Case("ngram_greedy", "ngram", mode="greedy", desc="NgramScorer greedy"),
    Case("ngram_sample", "ngram", mode="sample", desc="NgramScorer sample"),
    Case("ngram_beam", "ngram", mode="beam", desc="NgramScorer beam search"),
]}


@dataclass
class Row:
    case: Case
    threads: int
    B: int
    torch_ms: float | None = None
    sf_ms: float | None = None
    status: str = ""  # "", "MISMATCH", "ERROR"
    spread: float | None = None
    other: float | None = None
    extra: dict = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------
# the torch peer: a plain batched beam search


def torch_beam_search(torch, model, B: int, K: int, max_len: int, bos: int, eos: int, V: int,
                      stopping: str = "exact"):
    """Batched beam search in plain torch with seqfast's semantics (length_penalty="none").

    `model.start(K)` sets up B*K state rows (item-major), `model.step(tokens)` returns the
    (rows, V) float32 log-probs of the next token and advances the state, `model.reorder(idx)`
    keeps (and orders) the state rows `idx`. Returns (per item: up to K (tokens, score, finished)
    best first, per item: the step at which it was done (max_len if it never was))."""
    neg = float("-inf")
    scores = torch.full((B, K), neg, dtype=torch.float64)
    scores[:, 0] = 0.0  # one initial hypothesis per item
    tokens = torch.full((B * K,), bos, dtype=torch.long)
    seqs = torch.empty((B * K, 0), dtype=torch.long)
    model.start(K)
    pools: list[list] = [[] for _ in range(B)]
    count = torch.zeros(B, dtype=torch.long)  # pool sizes
    kth = torch.full((B,), neg, dtype=torch.float64)  # K-th best pool score (-inf: fewer than K)
    items = list(range(B))  # active items, in order
    items_t = torch.arange(B)
    base = torch.arange(B).mul_(K).unsqueeze(1)  # first row of each active item
    steps = [max_len] * B
    for t in range(1, max_len + 1):
        nb = len(items)
        logp = model.step(tokens)  # (nb*K, V) float32
        cand = (logp.double() + scores.reshape(-1, 1)).view(nb, K * V)
        top_s, top_i = torch.topk(cand, 2 * K, dim=1)  # at most K eos candidates (one per hypothesis)
        top_tok = torch.remainder(top_i, V)
        top_rank = torch.div(top_i, V, rounding_mode="floor")
        is_eos = top_tok == eos
        fin = is_eos[:, :K]  # eos candidates of rank < K: finished
        if bool(fin.any()):
            for j, r in fin.nonzero().tolist():
                b = items[j]
                pools[b].append((seqs[j * K + int(top_rank[j, r])].tolist() + [eos], float(top_s[j, r]), True))
                count[b] += 1
                if len(pools[b]) >= K:
                    kth[b] = sorted((p[1] for p in pools[b]), reverse=True)[K - 1]
        order = torch.argsort(is_eos.to(torch.uint8), dim=1, stable=True)[:, :K]  # first K non-eos
        new_s = top_s.gather(1, order)  # still best first
        new_tok = top_tok.gather(1, order)
        rows = top_rank.gather(1, order) + base[:nb]  # parent rows
        full = count.index_select(0, items_t) >= K
        done = full if stopping == "early" else full & (new_s[:, 0] <= kth.index_select(0, items_t))
        if bool(done.any()):
            for j in done.nonzero().flatten().tolist():
                steps[items[j]] = t
            keep = (~done).nonzero().flatten()
            if keep.numel() == 0:
                items = []
                break
            items = [items[j] for j in keep.tolist()]
            items_t = items_t.index_select(0, keep)
            rows, new_s, new_tok = rows.index_select(0, keep), new_s.index_select(0, keep), new_tok.index_select(0, keep)
        flat = rows.reshape(-1)
        model.reorder(flat)
        seqs = torch.cat([seqs.index_select(0, flat), new_tok.reshape(-1, 1)], dim=1)
        scores, tokens = new_s, new_tok.reshape(-1)
    for j, b in enumerate(items):  # live at max_len: unfinished
        sj = scores[j].tolist()
        for r in range(K):
            pools[b].append((seqs[j * K + r].tolist(), sj[r], False))
    return [sorted(p, key=lambda h: -h[1])[:K] for p in pools], steps


def grad_off(torch, args):
    return torch.inference_mode() if args.inference_mode else torch.no_grad()


class TorchLSTM:
    """nn.Embedding -> nn.LSTM (one step) -> nn.Linear -> log_softmax, on (items x beam) rows."""

    def __init__(self, torch, emb, lstm, lin, h0, c0):
        self.torch, self.emb, self.lstm, self.lin = torch, emb, lstm, lin
        self.h0, self.c0 = h0, c0  # (1, B, H) tensors

    def start(self, K):
        self.h = self.h0.repeat_interleave(K, dim=1)
        self.c = self.c0.repeat_interleave(K, dim=1)

    def step(self, tokens):
        out, (self.h, self.c) = self.lstm(self.emb(tokens).unsqueeze(0), (self.h, self.c))
        return self.torch.log_softmax(self.lin(out[0]), dim=-1)

    def reorder(self, idx):
        self.h = self.h.index_select(1, idx)
        self.c = self.c.index_select(1, idx)


class TorchTable:
    """A near-zero-cost 'model': step t's log-probs are a (rows, V) view of a precomputed array."""

    def __init__(self, torch, flat, offsets, V):
        self.flat, self.offsets, self.V = torch.from_numpy(flat), offsets, V

    def start(self, K):
        self.t = 0

    def step(self, tokens):
        n, off = tokens.shape[0], self.offsets[self.t]
        self.t += 1
        return self.flat[off:off + n * self.V].view(n, self.V)

    def reorder(self, idx):
        pass


class TableScorer:
    """A near-zero-cost Python scorer for seqfast: at the first call `first` (B, V), at call t
    the (n_live, V) view of `flat` starting at offsets[t] (row item*K + rank, as in the torch
    peer's layout, while every item has K live hypotheses)."""

    def __init__(self, first, flat, offsets, V, sizes: list | None = None):
        self.first, self.flat, self.offsets, self.V, self.sizes, self.t = first, flat, offsets, V, sizes, 0

    def __call__(self, tokens, parents):
        n, t = tokens.shape[0], self.t
        self.t += 1
        if self.sizes is not None:
            self.sizes.append(n)
        if t == 0:
            return self.first
        off = self.offsets[t]
        return self.flat[off:off + n * self.V].reshape(n, self.V)


# ---------------------------------------------------------------------------------------------
# agreement


def compare_beams(ref, got, atol: float) -> tuple[bool, int, float, int, list[str]]:
    """ref: torch results (tokens list, score, finished); got: seqfast Hypothesis lists.
    (best hypotheses all agree, items whose best agrees, max |score diff| of the best, items
    whose whole n-best list agrees, problems (the first 5))."""
    ok, same_best, worst, same_lists, bad = True, 0, 0.0, 0, []
    for b, (r, g) in enumerate(zip(ref, got)):
        if not r or not g:
            ok = False
            bad.append(f"item {b}: torch {len(r)} hypotheses, seqfast {len(g)}")
            continue
        rt, gt = list(r[0][0]), g[0].tokens.tolist()
        d = abs(r[0][1] - g[0].score)
        worst = max(worst, d)
        if rt == gt and d <= atol and r[0][2] == g[0].finished:
            same_best += 1
        else:
            ok = False
            if len(bad) < 5:
                bad.append(f"item {b}: torch {rt[:12]}{'...' if len(rt) > 12 else ''} score {r[0][1]:.5f} "
                           f"finished {r[0][2]}; seqfast {gt[:12]}{'...' if len(gt) > 12 else ''} score "
                           f"{g[0].score:.5f} finished {g[0].finished}")
        if len(r) == len(g) and all(list(x[0]) == y.tokens.tolist() and abs(x[1] - y.score) <= atol
                                    for x, y in zip(r, g)):
            same_lists += 1
    return ok, same_best, worst, same_lists, bad


# ---------------------------------------------------------------------------------------------
# case setups


class LstmSetup:
    def __init__(self, args, torch, search):
        self.torch, self.search, self.args = torch, search, args
        nn = torch.nn
        V, E, H, B = args.vocab, args.embed, args.hidden, args.batch
        torch.manual_seed(args.seed)
        self.emb, self.lstm, self.lin = nn.Embedding(V, E), nn.LSTM(E, H), nn.Linear(H, V)
        with torch.no_grad():
            self.lin.weight.mul_(args.out_scale)
            self.lin.bias[EOS] += args.eos_bias
        for m in (self.emb, self.lstm, self.lin):
            m.eval()
        rng = np.random.default_rng(args.seed)
        self.h0 = (0.5 * rng.standard_normal((1, B, H))).astype(np.float32)
        self.c0 = (0.5 * rng.standard_normal((1, B, H))).astype(np.float32)
        self.dec = search.LSTMDecoder(self.emb.weight.detach().numpy().copy(),
                                      {k: v.detach().numpy().copy() for k, v in self.lstm.state_dict().items()},
                                      self.lin.weight.detach().numpy().copy(), self.lin.bias.detach().numpy().copy())
        self.b1_item = 0

    def items(self, batch1: bool) -> list[int]:
        return [self.b1_item] if batch1 else list(range(self.args.batch))

    def torch_fn(self, batch1: bool):
        torch, a = self.torch, self.args
        sel = self.items(batch1)
        model = TorchLSTM(torch, self.emb, self.lstm, self.lin, torch.from_numpy(self.h0[:, sel].copy()),
                          torch.from_numpy(self.c0[:, sel].copy()))

        def run():
            with grad_off(torch, a):
                return torch_beam_search(torch, model, len(sel), a.beam, a.max_len, BOS, EOS, a.vocab, a.stopping)
        return run

    def sf_fn(self, batch1: bool, threads: int):
        a = self.args
        sel = self.items(batch1)
        dec = self.dec.with_state(self.h0[:, sel].copy(), self.c0[:, sel].copy())
        return lambda: self.search.beam_search(dec, batch_size=len(sel), beam_width=a.beam, max_len=a.max_len, bos=BOS,
                                               eos=EOS, stopping=a.stopping, num_threads=threads)


class BookSetup:
    """Precomputed log-probs for the bookkeeping cases. Step t reads the B*K x V window of one
    flat random array that starts at t*(K*V + 7): an item's rows at different steps never share
    a value, so no two paths of a search can tie exactly (with one table for every step, paths
    taking the same values in another order tie, and the tie-break of torch.topk is unspecified)."""

    def __init__(self, args, torch, search, V: int):
        self.torch, self.search, self.args, self.V = torch, search, args, V
        B, K, T = args.batch, args.beam, args.max_len
        rng = np.random.default_rng(args.seed + V)
        stride = K * V + 7
        self.offsets = [t * stride for t in range(T)]
        n = self.offsets[-1] + B * K * V
        # log-prob-like values, all distinct (no clipping: equal values tie), all < 0
        self.flat = -np.abs(3.0 * rng.standard_normal(n, dtype=np.float32) - 12.0)
        for off in self.offsets:  # eos far below: nothing finishes, every step after the first has B*K live
            self.flat[off + EOS:off + B * K * V:V] = -60.0
        self.first = np.ascontiguousarray(self.flat[:B * K * V].reshape(B, K, V)[:, 0])
        self.sizes: list[int] = []

    def torch_fn(self):
        torch, a = self.torch, self.args
        model = TorchTable(torch, self.flat, self.offsets, self.V)

        def run():
            with grad_off(torch, a):
                return torch_beam_search(torch, model, a.batch, a.beam, a.max_len, BOS, EOS, self.V, a.stopping)
        return run

    def sf_fn(self, threads: int, sizes: list | None = None):
        a = self.args
        return lambda: self.search.beam_search(TableScorer(self.first, self.flat, self.offsets, self.V, sizes),
                                               batch_size=a.batch, beam_width=a.beam, max_len=a.max_len, bos=BOS,
                                               eos=EOS, vocab_size=self.V, stopping=a.stopping, num_threads=threads)

    def scorer_ms(self, reps: int) -> tuple[float, float]:
        """The scorers' own time for one search (ms): seqfast's TableScorer over the recorded
        n_live sequence, and the torch peer's TorchTable.step over max_len steps of B*K rows."""
        n_max = max(self.sizes)
        tok, par = np.zeros(n_max, np.uint32), np.zeros(n_max, np.int64)
        ttok = self.torch.zeros(self.args.batch * self.args.beam, dtype=self.torch.long)
        model = TorchTable(self.torch, self.flat, self.offsets, self.V)

        def sf():
            sc = TableScorer(self.first, self.flat, self.offsets, self.V)
            for n in self.sizes:
                sc(tok[:n], par[:n])

        def tt():
            model.start(self.args.beam)
            for _ in range(self.args.max_len):
                model.step(ttok)
        med, _, _ = timed_pair({"sf": sf, "torch": tt}, reps, 1)
        return med["sf"], med["torch"]


def load_corpus(args) -> tuple[list[str], str]:
    """Lines of text (one sentence per line, whitespace-separated words) and where from."""
    path = args.corpus or os.path.join(os.path.dirname(HERE), "bench-data", "en.txt")
    lines: list[str] = []
    if os.path.exists(path):
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.strip():
                    lines.append(" ".join(line.split()))
                    if args.ngram_lines and len(lines) >= args.ngram_lines:
                        break
        return lines, path
    if args.corpus:
        sys.exit(f"bench_search: --corpus {args.corpus} does not exist")
    root = sysconfig.get_paths()["stdlib"]
    for dirpath, dirnames, files in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in ("site-packages", "test", "tests", "__pycache__"))
        for fn in sorted(files):
            if fn.endswith(".py"):
                try:
                    with open(os.path.join(dirpath, fn), encoding="utf-8", errors="replace") as f:
                        for line in f:
                            if line.strip():
                                lines.append(" ".join(line.split()))
                except OSError:
                    continue
            if args.ngram_lines and len(lines) >= args.ngram_lines:
                return lines[:args.ngram_lines], f"Python stdlib sources under {root}"
    return lines, f"Python stdlib sources under {root} (bench-data/en.txt not found)"


class NgramSetup:
    def __init__(self, args, search, NgramLM):
        self.search, self.args = search, args
        lines, self.source = load_corpus(args)
        self.n_lines, self.n_words = len(lines), sum(line.count(" ") + 1 for line in lines)
        t0 = time.perf_counter()
        self.lm = NgramLM.fit("\n".join(lines) + "\n", order=args.ngram_order)
        self.fit_s = time.perf_counter() - t0
        rnd = random.Random(args.seed)
        long_lines = [line.split() for line in lines if line.count(" ") >= 3]
        self.prompts = [" ".join(w[:3]) for w in rnd.sample(long_lines, min(args.prompts, len(long_lines)))]
        self.prompt_ids = [self.lm.ids(p) for p in self.prompts]
        self.results: dict[str, list] = {}  # mode -> first results (to check thread-independence)

    def fn(self, mode: str, threads: int):
        s, a, P = self.search, self.args, len(self.prompts)

        def run():
            sc = s.NgramScorer(self.lm, self.prompts)
            if mode == "greedy":
                r = s.greedy(sc, batch_size=P, max_len=a.max_len, num_threads=threads)
            elif mode == "sample":
                r = s.sample(sc, batch_size=P, max_len=a.max_len, seed=a.seed, num_threads=threads)
            else:
                r = [h[0] for h in s.beam_search(sc, batch_size=P, beam_width=a.beam, max_len=a.max_len,
                                                 stopping=a.stopping, num_threads=threads)]
            return r
        return run

    def check(self, mode: str, res) -> list[str]:
        """Problems found in `res` (one Hypothesis per prompt)."""
        lm, bad, ln10 = self.lm, [], math.log(10.0)
        for i, h in enumerate(res):
            toks = h.tokens.tolist()
            if h.finished != (bool(toks) and toks[-1] == lm.eos):
                bad.append(f"item {i}: finished={h.finished} but tokens end with {toks[-1:]}")
                continue
            gen = toks[:-1] if h.finished else toks
            if any(t in (lm.bos, lm.unk, lm.eos) for t in gen):
                bad.append(f"item {i}: <s>, <unk> or </s> inside the generated tokens {toks}")
            ids = np.concatenate([self.prompt_ids[i], np.array(gen, np.uint32)]).astype(np.uint32)
            ts = lm.token_scores(ids, bos=True, eos=h.finished)
            want = ln10 * float(np.sum(ts[len(self.prompt_ids[i]):], dtype=np.float64))
            if not abs(want - h.logprob) <= 1e-3 + 1e-5 * abs(want):
                bad.append(f"item {i}: logprob {h.logprob:.6f} but the LM scores the tokens {want:.6f}")
            if mode == "greedy" and i < 8:  # every token the argmax of the LM's distribution
                ctx = list(self.prompt_ids[i])
                for t in toks:
                    d = lm.distribution(np.array(ctx, np.uint32)).astype(np.float64) * ln10
                    d[lm.unk] = -np.inf
                    if not d[t] >= d.max() - 1e-5:
                        bad.append(f"item {i}: greedy took {t} ({d[t]:.5f}) but {int(np.argmax(d))} has {d.max():.5f}")
                        break
                    ctx.append(t)
        return bad


# ---------------------------------------------------------------------------------------------
# output


def target_text(row: Row, quick: bool) -> tuple[str, str]:
    c = row.case
    if c.target is None:
        return "", ""
    if c.kind == "lstm":
        tgt = f">= {c.target:g}x"
        met = None if row.sf_ms is None or row.torch_ms is None else row.torch_ms / row.sf_ms >= c.target
    else:
        tgt = f"<= {c.target:g} us/hyp-step"
        us = row.extra.get("sf_us")
        met = None if us is None else us <= c.target
    if row.status:
        return tgt, row.status
    if quick and met is not None:
        return tgt, "(quick)"
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
    ap.add_argument("--ngram-reps", type=int, default=3, help="timed runs of the n-gram cases (default 3; "
                    "1 with --quick); they run once untimed for the checks first")
    ap.add_argument("--quick", "--smoke", action="store_true",
                    help="tiny sizes (V=200, E=H=64, B=4, max_len 20; book V=500,4000; n-gram on 20k lines, "
                         "8 prompts): a smoke run; targets don't apply")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--beam", type=int, default=5)
    ap.add_argument("--max-len", type=int, default=50)
    ap.add_argument("--vocab", type=int, default=1000, help="LSTM cases' vocabulary (default 1000)")
    ap.add_argument("--embed", type=int, default=256)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--out-scale", type=float, default=32.0, help="factor on the default-init output weight (32)")
    ap.add_argument("--eos-bias", type=float, default=2.0, help="added to eos's output bias (2)")
    ap.add_argument("--book-vocabs", default="1000,32000", help="V of book_v1000 and book_v32000 (default 1000,32000)")
    ap.add_argument("--stopping", choices=("exact", "early"), default="exact")
    ap.add_argument("--inference-mode", action="store_true", help="run the torch peer under torch.inference_mode() "
                    "instead of torch.no_grad()")
    ap.add_argument("--atol", type=float, default=1e-3, help="max |score difference| of the best hypotheses (1e-3)")
    ap.add_argument("--corpus", default=None, help="n-gram training text (default bench-data/en.txt, else Python's "
                    "stdlib sources)")
    ap.add_argument("--ngram-lines", type=int, default=0, help="use the first N lines of the corpus (0: all)")
    ap.add_argument("--ngram-order", type=int, default=3)
    ap.add_argument("--prompts", type=int, default=64)
    ap.add_argument("--wait-quiet", type=float, default=0, metavar="SECONDS",
                    help="before each measurement wait up to SECONDS for a 1 s window in which other processes "
                         f"use < {NOISY} CPUs (default 0: don't wait)")
    ap.add_argument("--seed", type=int, default=0)
    json_option(ap)
    args = ap.parse_args()
    json_start(args.json)
    if args.quick:
        args.vocab, args.embed, args.hidden, args.batch, args.max_len = 200, 64, 64, 4, 20
        args.book_vocabs = "500,4000"
        args.ngram_lines = args.ngram_lines or 20000
        args.prompts = min(args.prompts, 8)
        args.ngram_reps = 1
    if args.reps is None:
        args.reps = 3 if args.quick else 7
    if args.warmup is None:
        args.warmup = 1 if args.quick else 2
    if args.reps < 1 or args.warmup < 0 or args.ngram_reps < 1:
        ap.error("--reps and --ngram-reps must be >= 1 and --warmup >= 0")
    cases = [s.strip() for s in args.cases.split(",") if s.strip()]
    unknown = [c for c in cases if c not in CASES]
    if unknown:
        ap.error(f"unknown case(s) {unknown}; known: {','.join(CASES)}")
    threads = [int(t) for t in args.threads.split(",")]
    book_v = [int(v) for v in args.book_vocabs.split(",")]
    if len(book_v) != 2:
        ap.error("--book-vocabs takes two sizes")
    CASES["book_v1000"].vocab, CASES["book_v32000"].vocab = book_v

    torch = None
    try:
        import torch
    except ImportError as e:
        if any(CASES[c].kind != "ngram" for c in cases):
            print(f"bench_search: PyTorch is not importable from {sys.executable} ({e}).\n"
                  "This benchmark compares seqfast with torch and does not run without it: run it from an "
                  "environment with both, e.g.\n"
                  "    python3 -m venv ~/torch-venv && ~/torch-venv/bin/pip install torch numpy /path/to/seqfast\n"
                  "    ~/torch-venv/bin/python benches/bench_search.py\n"
                  "(only the ngram_* cases run without torch: --cases ngram_greedy,ngram_sample,ngram_beam)",
                  file=sys.stderr)
            return 2
    try:
        import seqfast
        from seqfast import search
        from seqfast.ngram import NgramLM
    except ImportError as e:
        print(f"bench_search: seqfast.search is not importable from {sys.executable} ({e}).\n"
              "Install seqfast into this environment (pip install /path/to/seqfast).", file=sys.stderr)
        return 2

    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    print(f"machine: {cpu_name()}, {os.cpu_count()} cpus, {mem:.0f} GiB; python {platform.python_version()}; "
          + (f"torch {torch.__version__}; " if torch is not None else "")
          + f"numpy {np.__version__}; seqfast {getattr(seqfast, '__version__', '?')} ({os.path.dirname(seqfast.__file__)})")
    print(f"beam {args.beam}, max_len {args.max_len}, stopping={args.stopping}, length_penalty=none; "
          f"median of {args.reps} runs after {args.warmup} warm-up (n-gram: {args.ngram_reps} runs after the "
          f"checking run); threads {threads}")
    load = os.getloadavg()[0]
    print(f"load average at the start {load:.2f}"
          + ("  (warning: other processes are using the CPUs; timings, at 2 threads above all, will be noisy)"
             if load > 0.5 else ""))
    if args.quick:
        print("quick mode: tiny sizes, for a smoke run; the targets do not apply")
    print()

    rows: list[Row] = []
    failed = False
    lstm = None
    kinds = {CASES[c].kind for c in cases}
    if "lstm" in kinds:
        lstm = LstmSetup(args, torch, search)
        print(f"LSTM decoder: embedding {args.vocab}x{args.embed}, nn.LSTM({args.embed}, {args.hidden}), "
              f"nn.Linear({args.hidden}, {args.vocab}) x {args.out_scale:g}, eos bias +{args.eos_bias:g}; "
              f"batch {args.batch}, per-item random (h0, c0); bos {BOS}, eos {EOS}; torch under "
              f"{'inference_mode' if args.inference_mode else 'no_grad'} (the issue's torch numbers at 1 thread: "
              f"124 ms at batch 16, 29 ms at batch 1)")
        torch.set_num_threads(threads[0])
        res, steps = lstm.torch_fn(False)()
        fin = sum(r[0][2] for r in res)
        lens = [len(r[0][0]) for r in res]
        lstm.b1_item = max(range(args.batch), key=lambda b: (steps[b], -b))
        print(f"  torch search at batch {args.batch}: best hypothesis finished (ended with eos) for {fin}/{args.batch} "
              f"items; best lengths {sorted(lens)}; steps per item {sorted(steps)}; finished hypotheses among the "
              f"{args.beam}-best: {sum(h[2] for r in res for h in r)}/{sum(len(r) for r in res)}")
        print(f"  lstm_b1 decodes item {lstm.b1_item} ({steps[lstm.b1_item]} steps, best "
              f"{'finished' if res[lstm.b1_item][0][2] else 'unfinished'}, length {lens[lstm.b1_item]})")
    book = {}
    ngram = None

    for name in cases:
        case = CASES[name]
        for t in threads:
            if torch is not None:
                torch.set_num_threads(t)
            row = Row(case, t, 1 if case.batch1 else args.batch)
            fns: dict = {}
            # -- agreement first
            try:
                if case.kind == "lstm":
                    fns = {"torch": lstm.torch_fn(case.batch1), "seqfast": lstm.sf_fn(case.batch1, t)}
                    ref, _ = fns["torch"]()
                    got = fns["seqfast"]()
                    ok, same_best, worst, same, bad = compare_beams(ref, got, args.atol)
                    print(f"check {name} t={t}: {'OK' if ok else 'MISMATCH'}: best hypothesis equal for "
                          f"{same_best}/{len(ref)} items, max |score diff| {worst:.2e} "
                          f"(limit {args.atol:g}); whole {args.beam}-best lists equal for {same}/{len(ref)}")
                elif case.kind == "book":
                    if case.vocab not in book:
                        book[case.vocab] = BookSetup(args, torch, search, case.vocab)
                    bs = book[case.vocab]
                    sizes: list[int] = []
                    fns = {"torch": bs.torch_fn(), "seqfast": bs.sf_fn(t)}
                    ref, _ = fns["torch"]()
                    got = bs.sf_fn(t, sizes)()
                    bs.sizes = sizes
                    ok, same_best, worst, same, bad = compare_beams(ref, got, args.atol)
                    print(f"check {name} t={t}: {'OK' if ok else 'MISMATCH'}: best hypothesis equal for "
                          f"{same_best}/{len(ref)} items, max |score diff| {worst:.2e}; "
                          f"whole lists equal for {same}/{len(ref)}; {len(sizes)} scorer calls, "
                          f"{sum(sizes)} hypothesis-steps")
                else:
                    if ngram is None:
                        ngram = NgramSetup(args, search, NgramLM)
                        print(f"n-gram LM: order {args.ngram_order} Kneser-Ney fitted in {ngram.fit_s:.1f} s on "
                              f"{ngram.n_lines:,} lines / {ngram.n_words:,} words of {ngram.source}; vocabulary "
                              f"{len(ngram.lm.vocab):,}, n-grams {ngram.lm.num_ngrams()}; {len(ngram.prompts)} "
                              f"prompts, e.g. {ngram.prompts[:3]}")
                    row.B = len(ngram.prompts)
                    fns = {"seqfast": ngram.fn(case.mode, t)}
                    t0 = time.perf_counter()
                    got = fns["seqfast"]()
                    first_s = time.perf_counter() - t0
                    bad = ngram.check(case.mode, got)
                    key = case.mode
                    if key in ngram.results:
                        prev = ngram.results[key]
                        if [h.tokens.tolist() for h in prev] != [h.tokens.tolist() for h in got]:
                            bad.append(f"results differ from those at num_threads={threads[0]}")
                    else:
                        ngram.results[key] = got
                    ok = not bad
                    row.extra["tokens"] = sum(len(h.tokens) for h in got)
                    row.extra["finished"] = sum(h.finished for h in got)
                    print(f"check {name} t={t}: {'OK' if ok else 'MISMATCH'}: {len(got)} results, "
                          f"{row.extra['tokens']} tokens, {row.extra['finished']} ended with </s>; logprobs = LM "
                          f"scores" + (", greedy = argmax (8 items)" if case.mode == "greedy" else "")
                          + (", same as at the first thread count" if t != threads[0] else "")
                          + f" (checking run {first_s:.1f} s)")
                for b in ([] if ok else bad):
                    print(f"    {b}")
                if not ok:
                    row.status, failed = "MISMATCH", True
            except Exception:  # noqa: BLE001
                print(f"check {name} t={t}: raised:")
                traceback.print_exc(file=sys.stdout)
                row.status, failed = "ERROR", True
                fns = {k: v for k, v in fns.items() if k == "torch"}
            if not fns:
                rows.append(row)
                continue
            # -- timing
            if args.wait_quiet > 0:
                wait_quiet(args.wait_quiet)
            try:
                if case.kind == "ngram":
                    med, spread, other = timed_pair(fns, args.ngram_reps, 0)
                else:
                    med, spread, other = timed_pair(fns, args.reps, args.warmup)
            except Exception:  # noqa: BLE001
                print(f"timing {name} t={t}: raised:")
                traceback.print_exc(file=sys.stdout)
                row.status, failed = "ERROR", True
                med, spread, other = {}, None, None
            row.torch_ms, row.sf_ms, row.spread, row.other = med.get("torch"), med.get("seqfast"), spread, other
            extra = ""
            if case.kind == "book" and row.sf_ms is not None:
                bs = book[case.vocab]
                sf_sc, t_sc = bs.scorer_ms(args.reps)
                hs = sum(bs.sizes)
                row.extra.update(hyp_steps=hs, sf_scorer_ms=sf_sc, torch_scorer_ms=t_sc,
                                 sf_us=(row.sf_ms - sf_sc) * 1e3 / hs,
                                 torch_us=None if row.torch_ms is None else (row.torch_ms - t_sc) * 1e3 / hs)
                extra = (f"; scorer alone {sf_sc:.3f} ms (torch model {t_sc:.3f} ms); per hypothesis-step: seqfast "
                         f"{row.extra['sf_us']:.2f} us, torch {fmt(row.extra['torch_us'], '.2f')} us")
            if case.kind == "ngram" and row.sf_ms is not None:
                row.extra["tok_s"] = row.extra["tokens"] / (row.sf_ms * 1e-3)
                extra = f"; {row.extra['tokens']} tokens -> {row.extra['tok_s']:,.1f} tokens/s"
            rows.append(row)
            ratio = "" if row.sf_ms is None or row.torch_ms is None else f", torch/seqfast {row.torch_ms / row.sf_ms:.2f}x"
            print(f"  {name:<12} t={t} torch {fmt(row.torch_ms, '9.2f', '        -')} ms  seqfast "
                  f"{fmt(row.sf_ms, '9.2f', '        -')} ms{ratio}{extra}  (IQR/median {fmt(spread, '.0%')}, other "
                  f"processes {fmt(other, '.2f', '?')} CPUs)", flush=True)

    # -- the table
    print()
    hdr = ["case", "B", "thr", "torch ms", "seqfast ms", "torch/seqfast", "target", "met", "detail", "IQR/med",
           "other CPUs"]
    out = []
    for r in rows:
        tgt, met = target_text(r, args.quick)
        if r.case.kind == "book":
            detail = (f"us/hyp-step: seqfast {fmt(r.extra.get('sf_us'), '.2f')}, torch {fmt(r.extra.get('torch_us'), '.2f')}"
                      f" ({r.extra.get('hyp_steps', '?')} hyp-steps, V={r.case.vocab})")
        elif r.case.kind == "ngram":
            detail = (f"{fmt(r.extra.get('tok_s'), ',.1f')} tokens/s ({r.extra.get('tokens', '?')} tokens, "
                      f"{r.extra.get('finished', '?')} ended with </s>)")
        else:
            detail = ""
        out.append([r.case.name, str(r.B), str(r.threads), fmt(r.torch_ms, ".2f"), fmt(r.sf_ms, ".2f"),
                    "-" if r.sf_ms is None or r.torch_ms is None else f"{r.torch_ms / r.sf_ms:.2f}x", tgt, met, detail,
                    fmt(r.spread, ".0%"),
                    fmt(r.other, ".2f", "?") + (" !" if r.other is not None and r.other > NOISY else "")])
    print_table(hdr, out, right_from=1, label=[0, 2], title="decoding vs a PyTorch beam search", ratios={"torch/seqfast": "PyTorch"})

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
            tt = None if r.torch_ms is None or r2.torch_ms is None else r.torch_ms / r2.torch_ms
            scored = r.case.kind == "lstm"
            met = "-" if sf is None or not scored else ("(quick)" if args.quick else ("yes" if sf >= SCALING_TARGET else "NO"))
            if r.status or r2.status:
                met = r.status or r2.status
            sc.append([r.case.name, fmt(tt, ".2f") + ("x" if tt else ""), fmt(r.sf_ms, ".2f"), fmt(r2.sf_ms, ".2f"),
                       "-" if sf is None else f"{sf:.2f}x", f">= {SCALING_TARGET:g}x" if scored else "",
                       met if scored else "",
                       fmt(None if r.other is None or r2.other is None else max(r.other, r2.other), ".2f", "?")])
        print()
        print(f"thread scaling, {t1} -> {t2} threads:")
        print_table(["case", "torch speed-up", f"seqfast {t1}t ms", f"seqfast {t2}t ms", "seqfast speed-up", "target",
                     "met", "other CPUs"], sc, right_from=1,
                    title=f"decoding thread scaling, {t1} -> {t2} threads")
    print()
    print("lstm rows: the whole search (torch: torch_beam_search in this file on nn.Embedding/nn.LSTM/nn.Linear; "
          "seqfast: search.beam_search(LSTMDecoder)); the same best hypotheses were checked first")
    print("book rows: us/hyp-step = (search ms - the scorer's own ms) / (sum over steps of live hypotheses, counted in "
          "seqfast's calls; the torch peer scores B*beam rows at step 1 too); the scorer returns precomputed log-probs")
    print("ngram rows: tokens = generated tokens of the returned (best) hypothesis of each prompt, </s> included")
    print(f"other CPUs: CPU time other processes (and VM steal) took while the row was timed, from /proc/stat; "
          f"'!' above {NOISY}: that row is not trustworthy, 2-thread rows least of all")
    print(f"load average at the end {os.getloadavg()[0]:.2f}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
