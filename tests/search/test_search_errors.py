"""Bad input to seqfast.search: bad scorers (wrong shape, dtype, NaN/inf, not callable), bad options
(beam_width, eos/bos outside the vocabulary, min_len > max_len, n_best, temperature, top_p, length
penalty, banned tokens) and bad native-decoder weights or states raise ShapeError /
ArgumentTypeError / SeqfastError naming the argument; a scorer's own exception propagates
unchanged."""

from __future__ import annotations

import numpy as np
import pytest

import seqfast
from seqfast import search

from _search_cases import decoder_weights


def test_bad_input():
    ok = lambda t, p: np.zeros((len(t), 3), np.float32) - 1.0  # noqa: E731
    kw = dict(bos=0, eos=1, vocab_size=3)
    with pytest.raises(seqfast.SeqfastError, match="beam_width=0"):
        search.beam_search(ok, beam_width=0, **kw)
    with pytest.raises(seqfast.SeqfastError, match="eos=3 is outside the vocabulary of 3"):
        search.beam_search(ok, bos=0, eos=3, vocab_size=3)
    with pytest.raises(seqfast.SeqfastError, match="needs vocab_size"):
        search.beam_search(ok, bos=0, eos=1)
    with pytest.raises(seqfast.ShapeError, match=r"shape \(1, 4\) at step 1; expected \(1, 3\)"):
        search.beam_search(lambda t, p: np.zeros((len(t), 4), np.float32), **kw)
    with pytest.raises(TypeError, match="dtype float64"):
        search.beam_search(lambda t, p: np.zeros((len(t), 3)), **kw)
    with pytest.raises(seqfast.SeqfastError, match="returned NaN at step 1"):
        search.beam_search(lambda t, p: np.full((len(t), 3), np.nan, np.float32), **kw)
    calls = []

    def inf_at_2(t, p):
        calls.append(1)
        return np.full((len(t), 3), np.inf if len(calls) == 2 else -1.0, np.float32)

    with pytest.raises(seqfast.SeqfastError, match="returned inf at step 2"):
        search.greedy(inf_at_2, bos=0, eos=1, vocab_size=3)

    def boom(t, p):
        raise KeyError("from the scorer")

    with pytest.raises(KeyError, match="from the scorer") as e:
        search.beam_search(boom, **kw)
    assert any("boom" in str(tb.name) for tb in e.traceback)
    with pytest.raises(seqfast.SeqfastError, match="min_len=5 is larger than max_len=2"):
        search.beam_search(ok, min_len=5, max_len=2, **kw)
    with pytest.raises(seqfast.SeqfastError, match="n_best=3 must be between 1 and beam_width=2"):
        search.beam_search(ok, beam_width=2, n_best=3, **kw)
    with pytest.raises(seqfast.SeqfastError, match="temperature=0 must be finite and > 0"):
        search.sample(ok, temperature=0.0, **kw)
    with pytest.raises(seqfast.SeqfastError, match="top_p=1.5"):
        search.sample(ok, top_p=1.5, **kw)
    with pytest.raises(seqfast.SeqfastError, match='length_penalty="cubic" is not one of'):
        search.beam_search(ok, length_penalty="cubic", **kw)
    with pytest.raises(seqfast.SeqfastError, match="banned token 7"):
        search.beam_search(ok, banned=[7], **kw)
    with pytest.raises(seqfast.ArgumentTypeError, match="scorer must be callable"):
        search.beam_search(42, **kw)


def test_lstm_decoder_bad_input():
    emb, w, ow, ob = decoder_weights(L=1)
    with pytest.raises(seqfast.ShapeError, match="weight_hh_l0"):
        search.LSTMDecoder(emb, dict(w, weight_hh_l0=w["weight_hh_l0"][:40]), ow, ob)
    with pytest.raises(seqfast.SeqfastError, match="lacks 'weight_ih_l0'|one-direction"):
        search.LSTMDecoder(emb, {k: v for k, v in w.items() if k != "weight_ih_l0"}, ow, ob)
    dec = search.LSTMDecoder(emb, w, ow, ob)
    with pytest.raises(seqfast.ShapeError, match=r"h0 has shape \(1, 2, 16\), expected \(1, 3, 16\)"):
        search.beam_search(dec.with_state(np.zeros((1, 2, 16))), batch_size=3, bos=0, eos=1)
    with pytest.raises(seqfast.SeqfastError, match="bos=60 is outside the vocabulary of 50"):
        search.beam_search(dec, bos=60, eos=1)
