"""seqfast.search (beam search, greedy, sampling) against tests/reference/search.py.

* beam search equals the reference for random scorers and every option combination
  (hypothesis), and equals exhaustive search when the beam is wide enough;
* sampling is reproducible, respects top-k / top-p, matches the reference draw for draw and the
  scorer's distribution (chi-square); greedy picks the mode;
* the native n-gram scorer equals a Python scorer built from the same LM;
* the native LSTM / GRU / attention decoders equal NumPy decoders written as Python scorers.

The API (scorer protocol, batch independence) is in test_search_api.py, the torch peer in
test_search_parity_torch.py, the CLI in tests/cli/test_cli_generate.py, bad input in
test_search_errors.py.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import seqfast
from seqfast import search
from seqfast.ngram import NgramLM

from _search_cases import as_tuples, decoder_weights, ref_tuples, same
from reference import search as R


OPTS = st.fixed_dictionaries({
    "beam_width": st.integers(1, 5),
    "max_len": st.integers(1, 6),
    "min_len": st.integers(0, 3),
    "length_penalty": st.sampled_from(["none", "length", "gnmt"]),
    "alpha": st.sampled_from([0.0, 0.6, 1.0, 2.0]),
    "stopping": st.sampled_from(["exact", "early"]),
    "no_repeat_ngram_size": st.integers(0, 3),
    "banned": st.lists(st.integers(2, 5), max_size=2),
})


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(opts=OPTS, V=st.integers(3, 6), batch=st.integers(1, 4), seed=st.integers(0, 10**6), p_inf=st.sampled_from([0.0, 0.3]))
def test_beam_matches_reference(opts, V, batch, seed, p_inf):
    opts = dict(opts, min_len=min(opts["min_len"], opts["max_len"]), banned=[b for b in opts["banned"] if b < V])
    kw = dict(batch_size=batch, bos=0, eos=1, vocab_size=V, **opts)
    want = R.beam_search(R.random_scorer(V, seed, p_inf=p_inf), **kw)
    got = search.beam_search(R.random_scorer(V, seed, p_inf=p_inf), **kw)
    same(as_tuples(got), ref_tuples(want))
    for hs in got:
        scores = [h.score for h in hs]
        assert scores == sorted(scores, reverse=True)


@pytest.mark.parametrize("penalty", ["none", "length", "gnmt"])
@pytest.mark.parametrize("V,T", [(2, 3), (3, 3), (3, 2)])
def test_wide_beam_is_exhaustive_search(penalty, V, T):
    """beam_width >= V**T: the n-best list is every sequence, ranked exactly."""
    fn = R.random_table(V, 11)
    bw = V ** T
    got = search.beam_search(R.TableScorer(fn), beam_width=bw, max_len=T, bos=0, eos=1, vocab_size=V,
                             length_penalty=penalty, alpha=0.8)[0]
    seqs = []
    for L in range(1, T + 1):
        for body in itertools.product([v for v in range(V) if v != 1], repeat=L - 1):
            for last in range(V):
                if last != 1 and L < T:
                    continue  # unfinished sequences only at max_len
                toks = body + (last,)
                lp, prefix = 0.0, (0,)
                for tok in toks:
                    lp += float(fn(prefix)[tok])
                    prefix += (tok,)
                div = {"none": 1.0, "length": L ** 0.8, "gnmt": ((5 + L) / 6) ** 0.8}[penalty]
                seqs.append((toks, lp / div, last == 1))
    best = sorted(seqs, key=lambda s: -s[1])[:bw]
    got_t = [(tuple(int(t) for t in h.tokens), h.score, h.finished) for h in got]
    # The beam is at least as wide as the number of sequences, so every sequence comes back:
    # the same set, each with its own score and finished flag.
    assert len(seqs) <= bw
    assert {s[0]: (s[2]) for s in got_t} == {s[0]: s[2] for s in seqs}
    want = {s[0]: s[1] for s in seqs}
    for toks, score, _ in got_t:
        assert score == pytest.approx(want[toks], abs=1e-9), toks
    assert got[0].score == pytest.approx(best[0][1], abs=1e-9)
    np.testing.assert_allclose([h.score for h in got], [s[1] for s in best], atol=1e-9)


@settings(max_examples=60, deadline=None)
@given(V=st.integers(2, 8), batch=st.integers(1, 5), seed=st.integers(0, 2**40), temperature=st.sampled_from([0.5, 1.0, 1.7]),
       top_k=st.integers(0, 4), top_p=st.sampled_from([1.0, 0.9, 0.5, 0.1]), min_len=st.integers(0, 2))
def test_sampling_matches_reference(V, batch, seed, temperature, top_k, top_p, min_len):
    kw = dict(batch_size=batch, max_len=6, bos=0, eos=1, vocab_size=V, seed=seed, temperature=temperature, top_k=top_k,
              top_p=top_p, min_len=min_len)
    want = R.sample(R.random_scorer(V, seed % 1000, p_inf=0.2), **kw)
    got = search.sample(R.random_scorer(V, seed % 1000, p_inf=0.2), **kw)
    assert [tuple(int(t) for t in h.tokens) for h in got] == [tuple(h.tokens) for h in want]
    np.testing.assert_allclose([h.logprob for h in got], [h.logprob for h in want], rtol=1e-12)
    again = search.sample(R.random_scorer(V, seed % 1000, p_inf=0.2), **kw)
    assert [h.tokens.tolist() for h in again] == [h.tokens.tolist() for h in got]


@settings(max_examples=40, deadline=None)
@given(V=st.integers(2, 8), batch=st.integers(1, 5), seed=st.integers(0, 1000), min_len=st.integers(0, 3))
def test_greedy_matches_reference(V, batch, seed, min_len):
    kw = dict(batch_size=batch, max_len=6, bos=0, eos=1, vocab_size=V, min_len=min_len)
    want = R.greedy(R.random_scorer(V, seed), **kw)
    got = search.greedy(R.random_scorer(V, seed), **kw)
    assert [tuple(int(t) for t in h.tokens) for h in got] == [tuple(h.tokens) for h in want]


def test_top_k_top_p_never_emit_excluded_tokens_and_chi_square():
    V = 6
    logits = np.log(np.array([0.4, 0.25, 0.15, 0.1, 0.06, 0.04]))

    def sc(tokens, parents):
        return np.tile(logits.astype(np.float32), (len(tokens), 1))

    n = 4000
    first = lambda **kw: np.array([h.tokens[0] for h in search.sample(sc, batch_size=n, max_len=1, bos=0, eos=5, vocab_size=V, **kw)])  # noqa: E731
    assert set(first(seed=1, top_k=2).tolist()) <= {0, 1}
    assert set(first(seed=2, top_p=0.6).tolist()) <= {0, 1}
    assert set(first(seed=3, top_p=0.1).tolist()) == {0}
    draws = first(seed=4)
    counts = np.bincount(draws, minlength=V)
    expected = n * np.exp(logits)
    chi2 = float(((counts - expected) ** 2 / expected).sum())
    assert chi2 < 20.5, (counts, expected)  # 5 degrees of freedom, p = 0.001
    g = search.greedy(sc, batch_size=3, max_len=1, bos=0, eos=5, vocab_size=V)
    assert [h.tokens.tolist() for h in g] == [[0]] * 3


def test_ngram_scorer_equals_python_scorer():
    text = "the cat sat on the mat\nthe dog sat on the log\na cat and a dog\nthe cat and the dog sat\n"
    lm = NgramLM.fit(text, order=3, discount_fallback=(0.5, 1.0, 1.5))
    V = len(lm.vocab)

    class PyNgram:
        def __init__(self):
            self.ctx = None

        def __call__(self, tokens, parents):
            if self.ctx is None:
                self.ctx = [[] for _ in parents]
            else:
                self.ctx = [self.ctx[p] + [int(t)] for t, p in zip(tokens, parents)]
            out = np.stack([lm._m.distribution(np.array(c, np.uint32), True) for c in self.ctx]) * np.float32(math.log(10))
            out[:, lm.unk] = -np.inf
            return out.astype(np.float32)

    kw = dict(beam_width=4, max_len=8, length_penalty="length", alpha=0.5, batch_size=2)
    nat = search.beam_search(search.NgramScorer(lm), **kw)
    py = search.beam_search(PyNgram(), bos=lm.bos, eos=lm.eos, vocab_size=V, **kw)
    same(as_tuples(nat), as_tuples(py))
    fused = search.beam_search(search.Weighted([(search.NgramScorer(lm), 0.5), (PyNgram(), 0.5)]), **kw)
    assert [h.tokens.tolist() for h in fused[0]] == [h.tokens.tolist() for h in nat[0]]
    prompted = search.greedy(search.NgramScorer(lm, ["the cat", "a"]), batch_size=2, max_len=5)
    assert len(prompted) == 2 and all(h.tokens.size for h in prompted)


class NumpyLSTMDecoder:
    """The same decoder written with NumPy (float64 inside), as a Python scorer."""

    def __init__(self, emb, w, ow, ob, h0=None, c0=None):
        self.emb, self.w, self.ow, self.ob = emb, w, ow, ob
        self.L = sum(k.startswith("weight_ih") for k in w)
        self.h0, self.c0 = h0, c0
        self.h = None

    def __call__(self, tokens, parents):
        n, H = len(tokens), self.ow.shape[1]
        if self.h is None:
            z = np.zeros((self.L, n, H))
            h = z.copy() if self.h0 is None else self.h0[:, parents].astype(np.float64)
            c = z.copy() if self.c0 is None else self.c0[:, parents].astype(np.float64)
        else:
            h, c = self.h[:, parents], self.c[:, parents]
        x = self.emb[tokens].astype(np.float64)
        hs, cs = [], []
        sig = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
        for l in range(self.L):
            g = x @ self.w[f"weight_ih_l{l}"].T + h[l] @ self.w[f"weight_hh_l{l}"].T + self.w[f"bias_ih_l{l}"] + self.w[f"bias_hh_l{l}"]
            i, f, gg, o = np.split(g, 4, axis=1)
            cn = sig(f) * c[l] + sig(i) * np.tanh(gg)
            x = sig(o) * np.tanh(cn)
            hs.append(x)
            cs.append(cn)
        self.h, self.c = np.stack(hs), np.stack(cs)
        lg = x @ self.ow.T + self.ob
        lg -= lg.max(1, keepdims=True)
        return (lg - np.log(np.exp(lg).sum(1, keepdims=True))).astype(np.float32)


@pytest.mark.parametrize("with_state", [False, True])
def test_native_lstm_decoder_equals_numpy_decoder(with_state):
    emb, w, ow, ob = decoder_weights()
    B = 3
    rng = np.random.default_rng(1)
    h0 = rng.standard_normal((2, B, 16)).astype(np.float32) if with_state else None
    c0 = rng.standard_normal((2, B, 16)).astype(np.float32) if with_state else None
    dec = search.LSTMDecoder(emb, w, ow, ob)
    if with_state:
        dec = dec.with_state(h0, c0)
    kw = dict(batch_size=B, beam_width=4, max_len=12, bos=0, eos=1, length_penalty="gnmt", alpha=0.6)
    nat = search.beam_search(dec, **kw)
    ref = search.beam_search(NumpyLSTMDecoder(emb, w, ow, ob, h0, c0), vocab_size=50, **kw)
    for a, b in zip(nat, ref):
        assert [h.tokens.tolist() for h in a] == [h.tokens.tolist() for h in b]
        np.testing.assert_allclose([h.score for h in a], [h.score for h in b], atol=2e-4)
    one = [search.beam_search(dec if not with_state else search.LSTMDecoder(emb, w, ow, ob).with_state(h0[:, i:i + 1], c0[:, i:i + 1]),
                              **dict(kw, batch_size=1))[0] for i in range(B)]
    for a, b in zip(nat, one):
        assert [h.tokens.tolist() for h in a] == [h.tokens.tolist() for h in b]
    for t in (1, 2):
        again = search.beam_search(dec, num_threads=t, **kw)
        assert [[(h.tokens.tolist(), h.score) for h in x] for x in again] == [[(h.tokens.tolist(), h.score) for h in x] for x in nat]
    s1 = search.sample(dec, batch_size=B, max_len=8, bos=0, eos=1, seed=5)
    s2 = search.sample(NumpyLSTMDecoder(emb, w, ow, ob, h0, c0), batch_size=B, max_len=8, bos=0, eos=1, seed=5, vocab_size=50)
    assert [h.tokens.tolist() for h in s1] == [h.tokens.tolist() for h in s2]


class NumpyAttentionDecoder(NumpyLSTMDecoder):
    """NumpyLSTMDecoder followed by Luong global attention over per-item memory."""

    def __init__(self, emb, w, ow, ob, att, memory, lengths, h0=None, c0=None):
        super().__init__(emb, w, ow, ob, h0, c0)
        self.att, self.memory, self.lengths = att, memory.astype(np.float64), lengths
        self.items = None

    def __call__(self, tokens, parents):
        self.items = parents.copy() if self.items is None else self.items[parents]
        ow, ob = self.ow, self.ob
        self.ow, self.ob = np.eye(self.w["weight_hh_l0"].shape[1], dtype=np.float64), 0.0
        super().__call__(tokens, parents)  # updates self.h; its output is discarded
        self.ow, self.ob = ow, ob
        h = self.h[-1]
        rows = []
        for r, b in enumerate(self.items):
            m = self.memory[b, : self.lengths[b]]
            keys = m @ self.att["weight_a"].T.astype(np.float64) if self.att["kind"] == "general" else m
            s = keys @ h[r]
            a = np.exp(s - s.max())
            a /= a.sum()
            ctx = a @ m
            rows.append(np.tanh(self.att["weight_c"] @ np.concatenate([ctx, h[r]]) + self.att["bias_c"]))
        lg = np.stack(rows) @ ow.T + ob
        lg -= lg.max(1, keepdims=True)
        return (lg - np.log(np.exp(lg).sum(1, keepdims=True))).astype(np.float32)


@pytest.mark.parametrize("kind", ["general", "dot"])
def test_native_attention_decoder_equals_numpy(kind):
    emb, w, _, _ = decoder_weights(V=50, E=12, H=16, L=2, seed=4)
    rng = np.random.default_rng(5)
    B, S, He, Hc = 3, 7, (10 if kind == "general" else 16), 14
    att = {"kind": kind, "weight_c": rng.standard_normal((Hc, He + 16)).astype(np.float32) * 0.3,
           "bias_c": rng.standard_normal(Hc).astype(np.float32) * 0.1}
    if kind == "general":
        att["weight_a"] = rng.standard_normal((16, He)).astype(np.float32) * 0.3
    ow = (rng.standard_normal((50, Hc)) * 2).astype(np.float32)
    ob = rng.standard_normal(50).astype(np.float32)
    memory = rng.standard_normal((B, S, He)).astype(np.float32)
    lengths = np.array([7, 3, 5])
    dec = search.LSTMDecoder(emb, w, ow, ob, attention=att).with_state(memory=memory, memory_lengths=lengths)
    kw = dict(batch_size=B, beam_width=4, max_len=10, bos=0, eos=1)
    nat = search.beam_search(dec, **kw)
    ref = search.beam_search(NumpyAttentionDecoder(emb, w, ow, ob, att, memory, lengths), vocab_size=50, **kw)
    for a, b in zip(nat, ref):
        assert [h.tokens.tolist() for h in a] == [h.tokens.tolist() for h in b]
        np.testing.assert_allclose([h.score for h in a], [h.score for h in b], atol=2e-4)
    # memory past an item's length is ignored
    memory2 = memory.copy()
    memory2[1, 3:] = 100.0
    again = search.beam_search(search.LSTMDecoder(emb, w, ow, ob, attention=att).with_state(memory=memory2, memory_lengths=lengths), **kw)
    assert [h.tokens.tolist() for h in again[1]] == [h.tokens.tolist() for h in nat[1]]
    with pytest.raises(seqfast.SeqfastError, match="memory= is needed"):
        search.LSTMDecoder(emb, w, ow, ob, attention=att).with_state()
    with pytest.raises(seqfast.SeqfastError, match="give the encoder outputs"):
        search.beam_search(search.LSTMDecoder(emb, w, ow, ob, attention=att), **kw)
    with pytest.raises(seqfast.SeqfastError, match=r"memory_lengths\[1\] = 9 is outside 1..=7"):
        search.beam_search(search.LSTMDecoder(emb, w, ow, ob, attention=att).with_state(memory=memory, memory_lengths=[7, 9, 1]), **kw)


class NumpyGRUDecoder(NumpyLSTMDecoder):
    def __call__(self, tokens, parents):
        n, H = len(tokens), self.ow.shape[1]
        h = np.zeros((self.L, n, H)) if self.h is None else self.h[:, parents]
        x = self.emb[tokens].astype(np.float64)
        sig = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
        hs = []
        for l in range(self.L):
            gi = x @ self.w[f"weight_ih_l{l}"].T + self.w[f"bias_ih_l{l}"]
            gh = h[l] @ self.w[f"weight_hh_l{l}"].T + self.w[f"bias_hh_l{l}"]
            r = sig(gi[:, :H] + gh[:, :H])
            z = sig(gi[:, H:2 * H] + gh[:, H:2 * H])
            nn_ = np.tanh(gi[:, 2 * H:] + r * gh[:, 2 * H:])
            x = (1 - z) * nn_ + z * h[l]
            hs.append(x)
        self.h = np.stack(hs)
        lg = x @ self.ow.T + self.ob
        lg -= lg.max(1, keepdims=True)
        return (lg - np.log(np.exp(lg).sum(1, keepdims=True))).astype(np.float32)


def test_native_gru_decoder_equals_numpy_decoder():
    V = 40
    emb, w, ow, ob = decoder_weights(V=V, E=10, H=12, L=2, seed=3, gates=3)
    kw = dict(batch_size=3, beam_width=4, max_len=10, bos=0, eos=1)
    nat = search.beam_search(search.GRUDecoder(emb, w, ow, ob), **kw)
    ref = search.beam_search(NumpyGRUDecoder(emb, w, ow, ob), vocab_size=V, **kw)
    for a, b in zip(nat, ref):
        assert [h.tokens.tolist() for h in a] == [h.tokens.tolist() for h in b]
        np.testing.assert_allclose([h.score for h in a], [h.score for h in b], atol=2e-4)
    with pytest.raises(seqfast.SeqfastError, match="c0 is only used by an LSTM"):
        search.GRUDecoder(emb, w, ow, ob).with_state(None, np.zeros((2, 3, 12)))


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("coarse", [False, True])
def test_beam_matches_reference_large_vocabulary(seed, coarse):
    """V = 300 spans several scan chunks; coarse (rounded) log-probs make many exact ties at
    the selection bar."""
    V = 300
    base = R.random_table(V, seed, scale=3.0, p_inf=0.2)
    fn = (lambda p: (np.round(base(p) * 2) / 2).astype(np.float32)) if coarse else base
    kw = dict(batch_size=3, beam_width=4, max_len=5, bos=0, eos=1, vocab_size=V, length_penalty="gnmt", alpha=0.5)
    want = R.beam_search(R.TableScorer(fn, [(0,), (1,), (2,)]), **kw)
    got = search.beam_search(R.TableScorer(fn, [(0,), (1,), (2,)]), **kw)
    same(as_tuples(got), ref_tuples(want))
