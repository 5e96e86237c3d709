"""Random native-decoder weights shared by the tests/search/ files."""

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
