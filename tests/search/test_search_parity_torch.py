"""seqfast.search against its peer: the plain batched PyTorch beam search that
benches/bench_search.py times (``torch_beam_search``: nn.Embedding, nn.LSTM one step at a time,
nn.Linear, log_softmax, topk, index_select), on the same LSTM decoder weights.

For every item the best hypothesis (tokens, score, finished) is the same, with exact and early
stopping, beam widths 1 to 5, batch 1 and larger batches, hypotheses that finish and ones that
run to max_len. This also keeps the benchmark's peer honest: it is the code the speed ratios are
measured against. Skips when torch is missing.
"""

from __future__ import annotations

import importlib.util
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from seqfast import search  # noqa: E402

from _paths import ROOT  # noqa: E402

BOS, EOS = 0, 1


def bench_module():
    spec = importlib.util.spec_from_file_location("bench_search_peer", ROOT / "benches" / "bench_search.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod


BENCH = bench_module()


def models(V: int, B: int, seed: int, eos_bias: float, E: int = 16, H: int = 32):
    """(seqfast LSTMDecoder with states, torch peer model) with the same weights and states."""
    torch.manual_seed(seed)
    emb, lstm, lin = torch.nn.Embedding(V, E), torch.nn.LSTM(E, H), torch.nn.Linear(H, V)
    with torch.no_grad():
        lin.weight.mul_(3.0)  # peaked distributions, so beams differ from greedy
        lin.bias[EOS] += eos_bias
    for m in (emb, lstm, lin):
        m.eval()
    rng = np.random.default_rng(seed)
    h0 = (0.5 * rng.standard_normal((1, B, H))).astype(np.float32)
    c0 = (0.5 * rng.standard_normal((1, B, H))).astype(np.float32)
    np_ = lambda t: t.detach().numpy().copy()  # noqa: E731
    dec = search.LSTMDecoder(np_(emb.weight), {k: np_(v) for k, v in lstm.state_dict().items()}, np_(lin.weight), np_(lin.bias))
    peer = BENCH.TorchLSTM(torch, emb, lstm, lin, torch.from_numpy(h0.copy()), torch.from_numpy(c0.copy()))
    return dec.with_state(h0, c0), peer


@pytest.mark.parametrize("beam, stopping, B, eos_bias, seed", [
    (5, "exact", 6, 1.5, 0),
    (3, "early", 6, 1.5, 1),
    (4, "exact", 1, 1.0, 2),
    (2, "exact", 5, -4.0, 3),  # eos rarely competitive: most items run to max_len unfinished
    (1, "exact", 4, 1.5, 4),
])
def test_beam_search_equals_the_torch_peer(beam, stopping, B, eos_bias, seed):
    V, max_len = 40, 12
    dec, peer = models(V, B, seed, eos_bias)
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.no_grad():
            ref, _ = BENCH.torch_beam_search(torch, peer, B, beam, max_len, BOS, EOS, V, stopping)
    finally:
        torch.set_num_threads(old)
    got = search.beam_search(dec, batch_size=B, beam_width=beam, max_len=max_len, bos=BOS, eos=EOS, stopping=stopping,
                             num_threads=1)
    # float32 LSTMs in two libraries round differently: scores agree to ~1e-6, far inside 1e-4
    ok, same_best, worst, same_lists, bad = BENCH.compare_beams(ref, got, atol=1e-4)
    assert ok, bad
    assert same_best == B and worst < 1e-4
    assert same_lists >= B - 1, f"only {same_lists} of {B} n-best lists agree"
    finished = [h.finished for hs in got for h in hs]
    if eos_bias > 0:
        assert any(finished), "the case should exercise finished hypotheses"
    else:
        assert not all(finished), "the case should exercise hypotheses that run to max_len"
