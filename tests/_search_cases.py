"""Random native-decoder weights and hypothesis comparisons shared by the tests/search/ files."""

from __future__ import annotations

import numpy as np


def decoder_weights(V=50, E=12, H=16, L=2, seed=0, gates=4):
    """Random decoder weights: embedding, LSTM (gates=4) or GRU (gates=3) layers, output layer."""
    rng = np.random.default_rng(seed)
    k = 1 / np.sqrt(H)
    G = gates
    w = {}
    for l in range(L):
        din = E if l == 0 else H
        w.update({f"weight_ih_l{l}": rng.uniform(-k, k, (G * H, din)), f"weight_hh_l{l}": rng.uniform(-k, k, (G * H, H)),
                  f"bias_ih_l{l}": rng.uniform(-k, k, G * H), f"bias_hh_l{l}": rng.uniform(-k, k, G * H)})
    w = {a: b.astype(np.float32) for a, b in w.items()}
    emb = rng.standard_normal((V, E)).astype(np.float32)
    ow = (rng.standard_normal((V, H)) * 2).astype(np.float32)
    ob = rng.standard_normal(V).astype(np.float32)
    return emb, w, ow, ob


def as_tuples(items):
    """seqfast's hypotheses as (tokens, score, logprob, finished) tuples, per item."""
    return [[(tuple(int(t) for t in h.tokens), h.score, h.logprob, h.finished) for h in hs] for hs in items]


def ref_tuples(items):
    """The reference's hypotheses likewise."""
    return [[(tuple(h.tokens), h.score, h.logprob, h.finished) for h in hs] for hs in items]


def same(a, b):
    """Equal tokens and finished flags, scores and log-probs to 1e-12."""
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert [h[0] for h in x] == [h[0] for h in y]
        assert [h[3] for h in x] == [h[3] for h in y]
        np.testing.assert_allclose([h[1] for h in x], [h[1] for h in y], rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose([h[2] for h in x], [h[2] for h in y], rtol=1e-12, atol=1e-12)
